/**
 * The deterministic simulator's kernel: virtual time, seeded randomness, and a simulated Env
 * (clock, disk, network, logger) per node. The scenario runner is built on `World`.
 */
export { Prng } from './prng.js'
export { Trace, TRACE_RECENT_ENTRIES_MAX_DEFAULT, type TraceEntry } from './trace.js'
export {
  Scheduler,
  StopReason,
  RUN_EVENTS_MAX_DEFAULT,
  type EventHandle,
  type RunOptions,
  type RunResult,
} from './scheduler.js'
export { SimClock, WALL_EPOCH_BASE_MS, CLOCK_RATE_MIN, CLOCK_RATE_MAX, type SimClockOptions } from './sim-clock.js'
export {
  SimDisk,
  DiskCrashMode,
  DISK_CONFIG_DEFAULT,
  checkDiskConfig,
  normalizePath,
  type DiskConfig,
  type DiskCrashOptions,
  type SimFileInfo,
} from './sim-disk.js'
export {
  SimNet,
  SimNetView,
  NET_CONFIG_DEFAULT,
  EPHEMERAL_PORT_MIN,
  EPHEMERAL_PORT_MAX,
  SIM_HTTP_CLIENT_HOST,
  checkNetConfig,
  type LinkConfig,
  type NetConfig,
} from './sim-net.js'
export { LogSink, SimLogger, LogLevel, LOG_ENTRIES_MAX_DEFAULT, type LogEntry, type LogSinkOptions } from './sim-logger.js'
export { World, MONOTONIC_START_MS_MAX_DEFAULT, type WorldOptions, type SimProcess } from './world.js'
export { settle, settleError } from './settle.js'
export { SimCluster, fixedDirectory, SIM_NODE_PORT, SIM_CLUSTER_ID, SIM_CLUSTER_SECRET } from './cluster.js'
