import { pino, type DestinationStream } from 'pino'
import type { Logger } from '../logger.js'

export interface PinoLoggerOptions {
  /** pino level name: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent'. Default 'info'. */
  level?: string
  /** Bound on every line, so the merged logs of a cluster say which node spoke. */
  nodeId?: string
  /** Where lines go; default stdout. Tests pass a capturing stream. */
  destination?: DestinationStream
}

const logLevelDefault = 'info'

/**
 * A Logger backed by pino, writing one JSON object per line. pino's `(fields, message)` call
 * order is the one our Logger uses, so the pino instance serves as the Logger unwrapped
 * (no extra call per log line); `child` returns a pino child, which is a Logger too.
 */
export function createPinoLogger(options: PinoLoggerOptions = {}): Logger {
  const level = options.level ?? logLevelDefault
  const root = options.destination === undefined ? pino({ level }) : pino({ level }, options.destination)
  const logger: Logger = options.nodeId === undefined ? root : root.child({ nodeId: options.nodeId })
  return logger
}
