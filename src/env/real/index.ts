import type { Env } from '../index.js'
import type { Logger } from '../logger.js'
import { RealClock } from './clock.js'
import { RealDisk } from './disk.js'
import { createPinoLogger } from './logger.js'
import { RealNet } from './net.js'
import { RealRandom } from './random.js'

export { RealClock } from './clock.js'
export { RealRandom } from './random.js'
export { RealDisk, checkRelativePath } from './disk.js'
export { createPinoLogger, type PinoLoggerOptions } from './logger.js'
export { RealNet } from './net.js'

export interface RealEnvOptions {
  /** The node's data directory; every Disk path is relative to it. Not created here: call `disk.mkdirs('')`. */
  dataDir: string
  /** Bound on every log line. */
  nodeId: string
  /** pino level for the default logger; ignored when `log` is given. Default 'info'. */
  logLevel?: string
  /** A logger to use instead of a new pino one (tests, embedding). */
  log?: Logger
}

/** The Env a real node runs on: Node's clock, crypto randomness, the filesystem, WebSockets. */
export function createRealEnv(options: RealEnvOptions): Env {
  const log = options.log ?? createPinoLogger({ nodeId: options.nodeId, level: options.logLevel })
  return {
    clock: new RealClock(),
    random: new RealRandom(),
    disk: new RealDisk(options.dataDir),
    net: new RealNet(log),
    log,
  }
}
