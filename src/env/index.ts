import type { Clock } from './clock.js'
import type { Disk } from './disk.js'
import type { Logger } from './logger.js'
import type { Net } from './net.js'
import type { Random } from './random.js'

export type { Clock, TimerHandle } from './clock.js'
export { sleep } from './clock.js'
export type { Random } from './random.js'
export { shuffle, jittered } from './random.js'
export type { Disk, FileHandle, OpenOptions } from './disk.js'
export { DiskError, DiskErrorCode } from './disk.js'
export type {
  Net,
  Link,
  LinkHandlers,
  Listener,
  ListenOptions,
  ConnectOptions,
  HttpRequest,
  HttpResponse,
  StreamConnection,
  StreamHandlers,
  StreamListenOptions,
} from './net.js'
export { CLOSE_REASON_BYTES_MAX, LinkCloseCode, truncateCloseReason } from './net.js'
export type { Logger } from './logger.js'
export { silentLogger } from './logger.js'

/**
 * The only door to the outside world. Every node is built from one; the real one is
 * `createRealEnv` (src/env/real/), the simulator's is built per node in sim/.
 */
export interface Env {
  readonly clock: Clock
  readonly random: Random
  readonly disk: Disk
  readonly net: Net
  readonly log: Logger
}
