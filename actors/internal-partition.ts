import { decodeRecordBatches, encodeRecordBatch } from '../src/log/record-batch.js'
import { type Clock, type TimerHandle, sleep } from '../src/env/index.js'
import { ErrorCode, SkeinError } from '../src/wire/index.js'
import type { PartitionReplica } from './partition/replica.js'

/**
 * What the coordinators over an internal topic (group coordinators over the offsets topic,
 * transaction coordinators over the transaction-state topic) share: they serve while this
 * node's replica of their partition leads it, write every record through that replica under
 * the leader epoch they loaded in (so a coordinator deposed without knowing it can commit
 * nothing), and load by appending a marker and replaying the partition up to it.
 */

/** Bytes read from an internal partition at a time while replaying it. */
export const LOAD_READ_BYTES_MAX = 1024 * 1024
/** How long a coordinator waits for its replica to open its leader epoch before it gives up the load. */
export const LOAD_WAIT_MS_MAX = 5_000
/** Pause between tries at appending the load marker while the leader epoch is still opening. */
export const LOAD_RETRY_MS = 50

/** Errors of the partition that mean this node no longer coordinates it: drop the state, clients find the new coordinator. */
export const LEADERSHIP_LOST_CODES: ReadonlySet<number> = new Set([
  ErrorCode.NOT_LEADER_OR_FOLLOWER.code,
  ErrorCode.FENCED_LEADER_EPOCH.code,
  ErrorCode.UNKNOWN_LEADER_EPOCH.code,
  ErrorCode.LEADER_NOT_AVAILABLE.code,
  ErrorCode.LOG_TRUNCATED.code,
])

export function isLeadershipLost(error: unknown): error is SkeinError {
  return error instanceof SkeinError && LEADERSHIP_LOST_CODES.has(error.code)
}

export interface InternalRecord {
  readonly key: Uint8Array
  readonly value: Uint8Array | null
}

/** Appends records as one batch under `epoch` and resolves once a majority has it (acks=all): all of them or none. */
export async function appendInternal(replica: PartitionReplica, epoch: number, records: readonly InternalRecord[], wallMs: number): Promise<void> {
  const timestamp = Math.floor(wallMs)
  const batch = encodeRecordBatch({ records: records.map((record) => ({ key: record.key, value: record.value, timestamp })) })
  await replica.produce(batch, 'all', epoch)
}

/**
 * Appends the load marker under the replica's current epoch, retrying while the epoch is still
 * opening (LEADER_NOT_AVAILABLE), and returns its offset: once it is committed, every record
 * before it is, so the replay below it sees all the state earlier coordinators acknowledged.
 * Throws the last error when the epoch is gone or LOAD_WAIT_MS_MAX passes.
 */
export async function appendLoadMarker(replica: PartitionReplica, epoch: number, marker: InternalRecord, clock: Clock): Promise<number> {
  const startedMs = clock.nowMs()
  for (;;) {
    try {
      const batch = encodeRecordBatch({ records: [{ key: marker.key, value: marker.value, timestamp: Math.floor(clock.wallMs()) }] })
      return (await replica.produce(batch, 'all', epoch)).baseOffset
    } catch (error) {
      const opening = error instanceof SkeinError && error.code === ErrorCode.LEADER_NOT_AVAILABLE.code && replica.role === 'leader' && replica.epoch === epoch
      if (!opening || clock.nowMs() - startedMs > LOAD_WAIT_MS_MAX) throw error
      await sleep(clock, LOAD_RETRY_MS)
    }
  }
}

/** Feeds `onRecord` every data record of the partition from its log start up to (not including) `endOffset`, in log order. */
export async function replayInternal(replica: PartitionReplica, endOffset: number, onRecord: (record: InternalRecord, offset: number) => void): Promise<void> {
  for (let offset = replica.logStartOffset; offset < endOffset; ) {
    const read = await replica.read(offset, LOAD_READ_BYTES_MAX)
    if (read.bytes.length === 0) throw new SkeinError(ErrorCode.NOT_COORDINATOR, `the partition ended at ${offset} before the load marker at ${endOffset}`)
    for (const batch of decodeRecordBatches(read.bytes)) {
      offset = Math.max(offset, batch.baseOffset + batch.lastOffsetDelta + 1)
      if (batch.isControl) continue
      for (const record of batch.records) {
        if (record.offset >= endOffset) break
        onRecord({ key: record.key ?? new Uint8Array(0), value: record.value }, record.offset)
      }
    }
  }
}

/** What a coordinator keeps per leader epoch of its partition. */
export interface LoadedPartition {
  readonly epoch: number
  readonly replica: PartitionReplica
}

export interface PartitionLeaseOptions<L extends LoadedPartition> {
  /** "<topic>/<partition>", for messages. */
  readonly name: string
  readonly clock: Clock
  /** How often `onTick` runs while the state is current (and leadership is re-read). */
  readonly tickMs: number
  /** Sessions, timeouts, retries: the coordinator's periodic work, on the current state only. */
  onTick(loaded: L): void
  /** This node's replica of the partition, if it hosts one. */
  replica(): PartitionReplica | undefined
  /** Rebuilds the state from the replica (appendLoadMarker, replayInternal); throws NOT_COORDINATOR when it cannot. */
  load(replica: PartitionReplica): Promise<L>
  /** Runs once the loaded state is current (effects of the load may be started here). */
  onLoaded?(loaded: L): void
  /** Cleans up state no longer current: waiting requests are told to find the coordinator again. */
  onUnloaded(loaded: L, reason: string): void
  notCoordinator(reason: string): SkeinError
}

/**
 * The state a coordinator has loaded for the current leader epoch of its internal partition:
 * loaded on the first request of an epoch (one load at a time, shared by the requests waiting
 * for it), dropped when the replica stops leading or moves to another epoch.
 */
export class PartitionLease<L extends LoadedPartition> {
  private current: L | undefined
  private loading: Promise<L> | undefined
  private tick: TimerHandle | undefined

  constructor(private readonly options: PartitionLeaseOptions<L>) {}

  get loaded(): L | undefined {
    return this.current
  }

  /** True while `loaded` is the current state and its replica still leads in its epoch. */
  isCurrent(loaded: L): boolean {
    return this.current === loaded && !loaded.replica.isClosed && loaded.replica.role === 'leader' && loaded.replica.epoch === loaded.epoch
  }

  /** Runs `handle` on the state of the current leader epoch, loading it first if needed. */
  async withLoaded<T>(handle: (loaded: L) => T | Promise<T>): Promise<T> {
    const replica = this.options.replica()
    if (replica === undefined || replica.isClosed || replica.role !== 'leader') {
      this.unload('the partition is not led here')
      throw this.options.notCoordinator(`this node does not lead ${this.options.name}`)
    }
    let loaded = this.current
    if (loaded === undefined || loaded.epoch !== replica.epoch || loaded.replica !== replica) {
      if (loaded !== undefined) this.unload(`leader epoch ${replica.epoch} replaced ${loaded.epoch}`)
      this.loading ??= this.load(replica).finally(() => {
        this.loading = undefined
      })
      loaded = await this.loading
    }
    return handle(loaded)
  }

  /**
   * For reads answered from memory: runs `read` only once a majority has confirmed the
   * partition is still led here, in the epoch the state was loaded in. A leader cut off from
   * its followers still believes it leads until check-quorum deposes it; meanwhile another may
   * have been elected and acknowledged newer writes, which this one would not show (full-sim
   * seed 868: committed offsets read back older than acknowledged).
   */
  async withConfirmed<T>(read: (loaded: L) => T): Promise<T> {
    return this.withLoaded(async (loaded) => {
      try {
        await loaded.replica.confirmLeadership()
      } catch (error) {
        if (!isLeadershipLost(error)) throw error
        if (this.current === loaded) this.unload(`leadership not confirmed: ${error.message}`)
        throw this.options.notCoordinator(error.message)
      }
      if (this.current !== loaded || loaded.replica.epoch !== loaded.epoch) throw this.options.notCoordinator(`${this.options.name} changed leader while the read waited`)
      return read(loaded)
    })
  }

  /**
   * Appends records under the loaded epoch (acks=all). Losing leadership unloads the state and
   * throws NOT_COORDINATOR (the client finds the new coordinator); other errors pass through.
   */
  async append(loaded: L, records: readonly InternalRecord[], wallMs: number): Promise<void> {
    try {
      await appendInternal(loaded.replica, loaded.epoch, records, wallMs)
    } catch (error) {
      if (isLeadershipLost(error)) {
        if (this.current === loaded) this.unload(`writing to ${this.options.name} failed: ${error.message}`)
        throw this.options.notCoordinator(error.message)
      }
      throw error
    }
  }

  /** Drops the loaded state, if any. */
  unload(reason: string): void {
    const loaded = this.current
    if (loaded === undefined) return
    this.current = undefined
    this.tick?.cancel()
    this.tick = undefined
    this.options.onUnloaded(loaded, reason)
  }

  private async load(replica: PartitionReplica): Promise<L> {
    const loaded = await this.options.load(replica)
    if (replica.role !== 'leader' || replica.epoch !== loaded.epoch) throw this.options.notCoordinator(`leadership of ${this.options.name} moved while loading`)
    this.current = loaded
    this.scheduleTick(loaded)
    this.options.onLoaded?.(loaded)
    return loaded
  }

  private scheduleTick(loaded: L): void {
    this.tick = this.options.clock.setTimer(this.options.tickMs, () => {
      this.tick = undefined
      if (this.current !== loaded) return
      if (!this.isCurrent(loaded)) {
        this.unload(`${this.options.name} is no longer led here in the loaded epoch`)
        return
      }
      this.scheduleTick(loaded)
      this.options.onTick(loaded)
    })
  }
}

/**
 * The partition of a coordinator actor id `<kind>/<partition>/<node>` naming this node, or -1
 * for any other id (a client's typo): such an actor refuses every message.
 */
export function coordinatorPartitionOf(actorId: string, nodeId: string): number {
  const parts = actorId.split('/')
  const partition = Number(parts[1])
  return parts.length === 3 && Number.isSafeInteger(partition) && partition >= 0 && parts[2] === nodeId ? partition : -1
}
