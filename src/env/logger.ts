/**
 * The logging surface skein code uses: the subset of pino's API we need, so the real Env can
 * hand out a pino logger and the simulator one that stamps virtual time.
 */
export interface Logger {
  debug(fields: object, message: string): void
  info(fields: object, message: string): void
  warn(fields: object, message: string): void
  error(fields: object, message: string): void
  child(bindings: Record<string, unknown>): Logger
}

/** A logger that drops everything (benchmarks, quiet tests). */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return silentLogger
  },
}
