import { strict as assert } from 'node:assert'
import type { Clock, TimerHandle } from '../../src/env/clock.js'
import type { Disk } from '../../src/env/disk.js'
import type { Logger } from '../../src/env/logger.js'
import { BatchAttribute, BatchField, type BatchInfo, checkBatches, readInt16, readInt32, readInt64 } from '../../src/log/batch-header.js'
import { controlBatchFacts, encodeTxnMarkerBatch } from '../../src/log/control-record.js'
import { FileCache } from '../../src/log/file-cache.js'
import { type AppendResult, CorruptLogError, type LogConfig, PartitionLog, type ReadResult, isStorageError } from '../../src/log/index.js'
import type { FetchAbortedTxn } from '../../src/log/read-committed.js'
import { decodeRecordBatch, encodeRecordBatch } from '../../src/log/record-batch.js'
import {
  type EpochEntry,
  type MembershipEntry,
  RAFT_TICK_MS_DEFAULT,
  RaftCore,
  type RaftEffect,
  type RaftMembership,
  type RaftMessage,
  type RaftSettings,
  RaftStateFile,
} from '../../src/raft/index.js'
import { ErrorCode, SkeinError } from '../../src/wire/errors.js'
import type { WriteTxnMarkerRequest } from '../../src/wire/broker-protocol.js'
import { type BatchOffsets, type ProducerBatchHeader, ProducerStateTable, type RequestBatch, carriesProducerId, producerBatchHeader, producerBatchesIn } from './producer-state.js'
import { type AbortedTxn, type OngoingTxn, TransactionIndex } from './transaction-index.js'

/** How many bytes of records a leader returns per follower fetch. */
export const REPLICA_FETCH_BYTES_MAX = 1024 * 1024
/** Kafka's control record types (the key's second int16): KRaft's LeaderChange and Voters. */
const CONTROL_TYPE_LEADER_CHANGE = 2
const CONTROL_TYPE_VOTERS = 6

/** Produce requests waiting for the high watermark (acks=all), per replica. */
export const PRODUCE_WAITERS_MAX = 10_000
/** First wait before a replica stopped by a disk error reopens its files; doubled per failed reopen. */
export const REOPEN_BACKOFF_MS = 500
/** Longest wait between reopen attempts (a disk that stays full is retried this often). */
export const REOPEN_BACKOFF_MS_MAX = 8_000
/** A replica that ran this long since its last reopen starts its backoff afresh at its next stop. */
export const REOPEN_STABLE_MS = 60_000
/** Longest a leader waits for a majority to confirm it still leads (confirmLeadership) before giving up. */
export const CONFIRM_LEADERSHIP_TIMEOUT_MS = 3_000
/** Leadership confirmations waiting at once, per replica; more are refused (OVERLOADED). */
export const CONFIRM_LEADERSHIP_WAITERS_MAX = 10_000

export type Acks = 0 | 1 | 'all'

/** What a produce appended, or, for an idempotent producer's retry, where the batches already are. */
export interface ProduceResult extends AppendResult {
  /** True when every batch was a duplicate of one already in the log: nothing was appended. */
  readonly duplicate: boolean
}

/** A transaction marker to append (the transaction coordinator's WriteTxnMarkers, for one partition). */
export type TxnMarkerRequest = WriteTxnMarkerRequest

/** A read_committed read: committed batches below the last stable offset, and the aborted transactions among them. */
export interface ReadCommittedResult extends ReadResult {
  readonly lastStableOffset: number
  readonly abortedTransactions: FetchAbortedTxn[]
}

export interface ReplicaEnv {
  readonly disk: Disk
  readonly clock: Clock
  readonly log: Logger
  /** Uniform in [0, 1). */
  readonly random: () => number
}

export interface ReplicaOptions {
  /** This replica's id in the group (a node id or replica id), one of `voters`. */
  readonly id: string
  /** The group's bootstrap membership; later changes live in the log and the state file. */
  readonly voters: readonly string[]
  readonly learners?: readonly string[]
  /** Directory for the log and the Raft state file. */
  readonly dir: string
  readonly log?: Partial<LogConfig>
  readonly raft?: Partial<RaftSettings>
  readonly tickMs?: number
  readonly files?: FileCache
  /** Delivers a message (and, for a leader's fetch response, the records) to another replica. */
  readonly send: (message: RaftMessage, records: Uint8Array | undefined) => void
}

interface LeadershipWaiter {
  readonly seq: number
  readonly epoch: number
  readonly timer: TimerHandle
  readonly resolve: () => void
  readonly reject: (error: unknown) => void
}

interface ProduceWaiter {
  readonly endOffset: number
  readonly epoch: number
  readonly resolve: () => void
  readonly reject: (error: unknown) => void
}

/**
 * What a stopped replica had: the log end before the stop (what it may have acknowledged),
 * and where a corrupt batch was found, if one was (cut when it reopens).
 */
interface Repair {
  readonly corruptFrom: number | undefined
  readonly logEndBefore: number
}

/** What a replica reads from disk when it opens (or reopens after a disk error). */
interface OpenedParts {
  readonly stateFile: RaftStateFile
  readonly log: PartitionLog
  readonly producers: ProducerStateTable
  readonly txns: TransactionIndex
  readonly init: { hardState: { epoch: number; votedFor: string | undefined }; epochs: readonly EpochEntry[]; memberships: readonly MembershipEntry[]; catchUpEnd: number | undefined }
}

/**
 * One replica of one partition: the Raft core, the partition log and the Raft state file,
 * glued together. Effects run strictly in order on one chain, so a vote is on disk before it
 * is sent and a truncation finishes before the next fetch.
 *
 * A disk error (a failed write or fsync, a full disk, a corrupt batch met on a read) stops
 * the replica: memory and disk may disagree, so it drops its in-memory state, takes no part
 * in its group, and after a backoff reopens from disk as a restarted process would. A corrupt
 * batch is cut from the log with all after it, and the replica fetches the rest from its
 * leader again, voting in no election until it has caught up (RaftInit.catchUpEnd).
 */
export class PartitionReplica {
  private core: RaftCore
  private partitionLog: PartitionLog
  private stateFile: RaftStateFile
  /** Idempotent producers' epochs and last batches, kept in step with every batch the log takes. */
  private producers: ProducerStateTable
  /** Transactions (open, not yet settled, aborted), kept in step with the log exactly as `producers` is. */
  private txns: TransactionIndex
  /** The highest high watermark given to `txns` (its truncations may not go below it). */
  private txnHighWatermark = 0
  private chain: Promise<void> = Promise.resolve()
  private timer: TimerHandle | undefined
  /** Closed for good (close()). */
  private closed = false
  /** Stopped by a disk error, until it reopens. */
  private stopped: { readonly repair: Repair } | undefined
  private reopenTimer: TimerHandle | undefined
  /** Stops since the replica last ran REOPEN_STABLE_MS: the backoff's exponent. */
  private stopsInRow = 0
  private reopenedAtMs = Number.NEGATIVE_INFINITY
  private repairsValue = 0
  /** The records that came with the fetch response each appendFetched effect acts on. */
  private readonly fetchedRecords = new Map<RaftEffect, Uint8Array>()
  private waiters: ProduceWaiter[] = []
  private leadershipWaiters: LeadershipWaiter[] = []
  /** Called whenever the high watermark moves (long-polling fetches, state machines on top). */
  private readonly commitListeners = new Set<(highWatermark: number) => void>()
  private stopWrittenListener: () => void
  /** The role, epoch and leader last logged: a change is logged once, not on every tick. */
  private logged: { role: string; epoch: number; leader: string | undefined } | undefined
  /** False while the producer state is rebuilt from the log (after a truncation it could not follow): writes wait. */
  private producerStateReady = true
  /** The leader epoch whose first batch (LeaderChange) is in the log; client produces wait for it. */
  private openedEpoch: number | undefined

  private constructor(
    private readonly env: ReplicaEnv,
    private readonly options: ReplicaOptions,
    parts: OpenedParts,
  ) {
    this.partitionLog = parts.log
    this.stateFile = parts.stateFile
    this.producers = parts.producers
    this.txns = parts.txns
    this.core = this.newCore(parts)
    this.stopWrittenListener = this.listenForWrites()
  }

  static async open(env: ReplicaEnv, options: ReplicaOptions): Promise<PartitionReplica> {
    const replica = new PartitionReplica(env, options, await openParts(env, options, undefined))
    replica.scheduleTick()
    return replica
  }

  /** `highWatermark`: what the replica knew committed before a reopen (0 at open). */
  private newCore(parts: OpenedParts, highWatermark = 0): RaftCore {
    return new RaftCore({
      highWatermark,
      id: this.options.id,
      voters: this.options.voters,
      learners: this.options.learners ?? [],
      memberships: parts.init.memberships,
      hardState: parts.init.hardState,
      epochs: parts.init.epochs,
      logEndOffset: parts.log.logEndOffset,
      catchUpEnd: parts.init.catchUpEnd,
      settings: this.options.raft,
      preferredLeader: this.options.voters[0],
      random: this.env.random,
    })
  }

  /**
   * A leader answers a waiting follower fetch once the records are in the file: answered
   * when only their offsets were assigned, the fetch read nothing and came straight back.
   */
  private listenForWrites(): () => void {
    const log = this.partitionLog
    return log.onWritten((writtenEndOffset) => {
      if (this.isClosed || log !== this.partitionLog) return
      this.core.written(writtenEndOffset)
      this.drain()
    })
  }

  /** 'stopped' while a disk error has it stopped (until it reopens), else the Raft role. */
  get role(): string {
    return this.stopped !== undefined ? 'stopped' : this.core.role
  }
  get epoch(): number {
    return this.core.epoch
  }
  get leader(): string | undefined {
    return this.stopped !== undefined ? undefined : this.core.leader
  }
  get highWatermark(): number {
    return this.core.highWatermark
  }
  get logEndOffset(): number {
    return this.partitionLog.logEndOffset
  }
  get logStartOffset(): number {
    return this.partitionLog.logStartOffset
  }
  /**
   * Kafka's last stable offset: the high watermark, or the first offset of the oldest
   * transaction still open or whose marker is not committed yet, whichever is lower. A
   * read_committed fetch reads below it.
   */
  get lastStableOffset(): number {
    const highWatermark = this.core.highWatermark
    return Math.min(highWatermark, this.txns.lastStableOffset(Math.max(highWatermark, this.txnHighWatermark)))
  }
  /** The open transactions, oldest first (status, tests). */
  ongoingTransactions(): OngoingTxn[] {
    return this.txns.ongoingTransactions()
  }
  /** The aborted transactions overlapping [fromOffset, toOffsetExclusive) (tests; fetches use readCommitted). */
  abortedTransactions(fromOffset: number, toOffsetExclusive: number): AbortedTxn[] {
    return this.txns.abortedTransactions(fromOffset, toOffsetExclusive)
  }
  /** A producer's epoch and the coordinator epoch of its last marker here (tests, status). */
  producerMarkerState(producerId: number): { epoch: number; coordinatorEpoch: number } | undefined {
    return this.producers.markerState(producerId)
  }
  /** Closed for good, or stopped by a disk error (see isStopped): either way it serves nothing now. */
  get isClosed(): boolean {
    return this.closed || this.stopped !== undefined
  }
  /** Stopped by a disk error; it reopens by itself. */
  get isStopped(): boolean {
    return !this.closed && this.stopped !== undefined
  }
  /** Times this replica reopened with fewer records than it had (a corrupt batch cut): its high watermark may go back then, to the cut. */
  get repairs(): number {
    return this.repairsValue
  }
  /** While this replica catches up on records a corrupt batch cost it: the log end it had. */
  get catchUpEnd(): number | undefined {
    return this.core.catchUpEnd
  }
  /** A leader that is not handing over and has its epoch's first batch in the log: the one replica that may take writes. */
  get acceptsWrites(): boolean {
    return this.core.role === 'leader' && !this.core.transferring && this.openedEpoch === this.core.epoch
  }

  /** Calls `listener` with each new high watermark until the returned function is called. */
  onCommit(listener: (highWatermark: number) => void): () => void {
    this.commitListeners.add(listener)
    return () => this.commitListeners.delete(listener)
  }

  /** The first committed record at or after `timestampMs` (Kafka's ListOffsets). */
  async offsetForTimestamp(timestampMs: number): Promise<{ offset: number; timestamp: number } | undefined> {
    const found = await this.partitionLog.offsetForTimestamp(timestampMs)
    return found === undefined || found.offset >= this.core.highWatermark ? undefined : found
  }

  /** Deletes closed segments past the topic's retention (time or size). */
  async enforceRetention(): Promise<void> {
    if (this.closed) return
    await this.partitionLog.enforceRetention()
    this.producers.onLogStartOffset(this.partitionLog.logStartOffset)
    this.txns.advanceLogStart(this.partitionLog.logStartOffset)
  }
  get membership(): RaftMembership {
    return this.core.membership
  }
  /** Leader: each other replica's log end (a learner is caught up when it reaches logEndOffset). */
  replicaEnds(): Map<string, number> {
    return this.core.replicaEnds()
  }

  /** Leader: one voter added or removed (learners free). Throws INVALID_REQUEST with the reason if refused. */
  changeMembership(next: RaftMembership): void {
    const refusal = this.core.proposeMembership(next)
    if (refusal !== undefined) throw new SkeinError(refusal === 'not the leader' ? ErrorCode.NOT_LEADER_OR_FOLLOWER : ErrorCode.INVALID_REQUEST, `membership change refused: ${refusal}`)
    this.drain()
  }

  /** Leader: hands leadership to `target` once it is caught up; writes are refused meanwhile. */
  transferLeadership(target: string): void {
    const refusal = this.core.transferLeadership(target)
    if (refusal !== undefined) throw new SkeinError(refusal === 'not the leader' ? ErrorCode.NOT_LEADER_OR_FOLLOWER : ErrorCode.INVALID_REQUEST, `leadership transfer refused: ${refusal}`)
    this.drain()
  }

  /** A message from another replica of this partition. */
  receive(message: RaftMessage, records?: Uint8Array): void {
    if (this.isClosed) return
    this.core.receive(message)
    const effects = this.core.takeEffects()
    // Bind the records to the effect the core produced for this very response: a stale or
    // duplicate response arriving before that effect runs must not swap them.
    for (const effect of effects) if (effect.type === 'appendFetched' && records !== undefined) this.fetchedRecords.set(effect, records)
    this.enqueue(effects)
  }

  /**
   * Appends a producer's batches as leader. acks=0 and 1 resolve once the leader has them (per
   * its flush policy); 'all' once the high watermark passes them. Elsewhere than on the leader:
   * NOT_LEADER_OR_FOLLOWER (retriable), naming the leader if known. Idempotent batches (with a
   * producer id) are judged first, the whole request before any of it is appended: a retry of
   * batches already in the log (committed or not) is answered with their offsets and not
   * appended again; a sequence gap or a fenced epoch refuses the request (producer-state.ts).
   */
  async produce(batch: Uint8Array, acks: Acks, expectedEpoch?: number): Promise<ProduceResult> {
    this.requireLeader()
    if (expectedEpoch !== undefined && expectedEpoch >= 0 && expectedEpoch !== this.core.epoch) {
      throw expectedEpoch < this.core.epoch
        ? new SkeinError(ErrorCode.FENCED_LEADER_EPOCH, `leader epoch ${expectedEpoch} is older than the current ${this.core.epoch}`)
        : new SkeinError(ErrorCode.UNKNOWN_LEADER_EPOCH, `leader epoch ${expectedEpoch} is newer than the current ${this.core.epoch}`)
    }
    if (this.openedEpoch !== this.core.epoch) {
      // Between winning and appending the epoch's first batch the state file is being written:
      // a client record must not reach the log before it (nor before the LeaderChange record).
      throw new SkeinError(ErrorCode.LEADER_NOT_AVAILABLE, `replica ${this.options.id} is starting leader epoch ${this.core.epoch}`)
    }
    this.requireProducerState()
    if (acks === 'all' && this.waiters.length >= PRODUCE_WAITERS_MAX) throw new SkeinError(ErrorCode.OVERLOADED, 'too many produce requests waiting for replication')
    const requestBatches = carriesProducerId(batch) ? producerBatchesIn(batch) : undefined
    const duplicates = requestBatches !== undefined ? this.judgeProducers(requestBatches) : []
    if (requestBatches !== undefined && duplicates.length === requestBatches.length) return this.answerDuplicate(batch, duplicates, acks)
    const epoch = this.core.epoch
    const fresh = duplicates.length === 0 ? batch : batch.subarray((requestBatches as RequestBatch[])[duplicates.length]?.position)
    const endBefore = this.partitionLog.logEndOffset
    const appended = this.partitionLog.append(fresh, epoch, 'client')
    // Offsets are assigned synchronously by append; tell the core now so fetches see them, and
    // the producer state, so a retry pipelined behind this request is judged against it.
    if (requestBatches !== undefined && this.partitionLog.logEndOffset > endBefore) this.applyProducerBatches(batch, requestBatches.slice(duplicates.length))
    this.core.appended(this.partitionLog.logEndOffset)
    this.drain()
    const appendResult = await appended.catch((error: unknown) => this.storageFailed(error))
    this.core.persisted(this.partitionLog.storedEndOffset)
    this.drain()
    const result: ProduceResult = { ...appendResult, baseOffset: duplicates[0]?.baseOffset ?? appendResult.baseOffset, duplicate: false }
    if (acks !== 'all') return result
    await this.whenCommitted(result.lastOffset + 1, epoch)
    return result
  }

  /** NOT_LEADER_OR_FOLLOWER unless this replica is open and leads without handing over. */
  private requireLeader(): void {
    if (this.isClosed) throw new SkeinError(ErrorCode.NOT_LEADER_OR_FOLLOWER, `replica ${this.options.id} is ${this.closed ? 'closed' : 'stopped after a disk error'}`)
    if (this.core.role !== 'leader' || this.core.transferring) {
      throw new SkeinError(ErrorCode.NOT_LEADER_OR_FOLLOWER, `replica ${this.options.id} is not the leader (leader: ${this.core.leader ?? 'unknown'}${this.core.transferring ? ', handing over' : ''})`)
    }
  }

  /** LEADER_NOT_AVAILABLE (retriable) while the producer and transaction state are rebuilt after a truncation. */
  private requireProducerState(): void {
    if (!this.producerStateReady) throw new SkeinError(ErrorCode.LEADER_NOT_AVAILABLE, `replica ${this.options.id} is rebuilding its producer state after a truncation`)
  }

  /**
   * Leader: appends a transaction marker (COMMIT or ABORT) for `producerId`, as Kafka's
   * WriteTxnMarkers, and resolves with its offset once committed (acks=all). Refused with
   * NOT_LEADER_OR_FOLLOWER elsewhere; INVALID_PRODUCER_EPOCH for an epoch older than the
   * producer's here; TRANSACTION_COORDINATOR_FENCED for a coordinator epoch older than that of
   * the producer's last marker here; INVALID_RECORD for fields out of range.
   */
  async writeTxnMarker(marker: TxnMarkerRequest): Promise<{ offset: number }> {
    this.requireLeader()
    if (this.openedEpoch !== this.core.epoch) throw new SkeinError(ErrorCode.LEADER_NOT_AVAILABLE, `replica ${this.options.id} is starting leader epoch ${this.core.epoch}`)
    this.requireProducerState()
    if (this.waiters.length >= PRODUCE_WAITERS_MAX) throw new SkeinError(ErrorCode.OVERLOADED, 'too many produce requests waiting for replication')
    const batch = encodeTxnMarkerBatch({ ...marker, timestampMs: Math.floor(this.env.clock.wallMs()) })
    const refusal = this.producers.checkMarker(marker)
    if (refusal !== undefined) throw refusal
    const epoch = this.core.epoch
    const endBefore = this.partitionLog.logEndOffset
    const appended = this.partitionLog.append(batch, epoch, 'internal')
    // Offsets are assigned by append itself (unless it refused): the state learns the marker now.
    if (this.partitionLog.logEndOffset > endBefore) this.applyProducerBatches(batch, [{ position: 0, header: producerBatchHeader(batch, 0) }])
    this.core.appended(this.partitionLog.logEndOffset)
    this.drain()
    const result = await appended.catch((error: unknown) => this.storageFailed(error))
    this.core.persisted(this.partitionLog.storedEndOffset)
    this.drain()
    await this.whenCommitted(result.lastOffset + 1, epoch)
    return { offset: result.baseOffset }
  }

  /** The duplicates leading the request (a retry), or throws the producer-state refusal. */
  private judgeProducers(requestBatches: readonly RequestBatch[]): readonly BatchOffsets[] {
    const verdict = this.producers.validate(requestBatches.map((entry) => entry.header))
    if (verdict.kind === 'error') throw verdict.error
    return verdict.duplicates
  }

  /**
   * A retry whose batches are all in the log already: answered with their original offsets
   * once they are as safe as `acks` asks (they may still be in flight from the first attempt).
   * The bytes are still checked, so a corrupt retry is refused as corrupt, not acknowledged.
   */
  private async answerDuplicate(batch: Uint8Array, duplicates: readonly BatchOffsets[], acks: Acks): Promise<ProduceResult> {
    checkBatches(batch, { batchBytesMax: Number.MAX_SAFE_INTEGER })
    const first = duplicates[0] as BatchOffsets
    const last = duplicates[duplicates.length - 1] as BatchOffsets
    const result: ProduceResult = { baseOffset: first.baseOffset, lastOffset: last.lastOffset, logAppendTimeMs: -1, duplicate: true }
    this.env.log.debug({ replica: this.options.id, baseOffset: result.baseOffset, lastOffset: result.lastOffset }, 'duplicate produce answered with the original offsets')
    // Offsets unknown (appended before every retained batch): safe once all appended so far is.
    const safeEnd = last.lastOffset < 0 ? this.partitionLog.logEndOffset : last.lastOffset + 1
    if (acks === 'all') await this.whenCommitted(safeEnd, this.core.epoch)
    else if (acks === 1) await this.whenWritten(safeEnd)
    return result
  }

  /** Records appended batches (stamped in `bytes` in place) in the producer state and the transaction index. */
  private applyProducerBatches(bytes: Uint8Array, batches: readonly RequestBatch[]): void {
    for (const { position, header } of batches) {
      const baseOffset = readInt64(bytes, position + BatchField.baseOffset)
      const lastOffset = baseOffset + readInt32(bytes, position + BatchField.lastOffsetDelta)
      applyBatchFacts(this.producers, this.txns, bytes, position, header, baseOffset, lastOffset)
    }
  }

  /** Resolves once every offset below `endOffset` is in the file (or at once if it is). */
  private whenWritten(endOffset: number): Promise<void> {
    if (this.partitionLog.writtenEndOffset >= endOffset || this.closed) return Promise.resolve()
    return new Promise((resolve) => {
      const stop = this.partitionLog.onWritten((writtenEndOffset) => {
        if (writtenEndOffset < endOffset) return
        stop()
        resolve()
      })
    })
  }

  /**
   * Leader: resolves once a majority has confirmed this replica still leads its epoch after
   * the call (Raft's ReadIndex confirmation, RaftCore.requestReadBarrier), so state it serves
   * from memory (a group coordinator's committed offsets) is not older than a write another
   * leader acknowledged meanwhile. Rejects NOT_LEADER_OR_FOLLOWER if leadership is lost or
   * not confirmed within CONFIRM_LEADERSHIP_TIMEOUT_MS.
   */
  confirmLeadership(): Promise<void> {
    const notLeader = (why: string): SkeinError => new SkeinError(ErrorCode.NOT_LEADER_OR_FOLLOWER, `replica ${this.options.id} ${why}`)
    if (this.isClosed) return Promise.reject(notLeader('is not open'))
    if (this.leadershipWaiters.length >= CONFIRM_LEADERSHIP_WAITERS_MAX) return Promise.reject(new SkeinError(ErrorCode.OVERLOADED, 'too many leadership confirmations waiting'))
    const seq = this.core.requestReadBarrier()
    if (seq === undefined) return Promise.reject(notLeader(`is not the leader (leader: ${this.core.leader ?? 'unknown'})`))
    const epoch = this.core.epoch
    const confirmed = new Promise<void>((resolve, reject) => {
      const timer = this.env.clock.setTimer(CONFIRM_LEADERSHIP_TIMEOUT_MS, () => {
        this.leadershipWaiters = this.leadershipWaiters.filter((waiter) => waiter.timer !== timer)
        reject(notLeader(`could not confirm its leadership of epoch ${epoch} within ${CONFIRM_LEADERSHIP_TIMEOUT_MS} ms`))
      })
      this.leadershipWaiters.push({ seq, epoch, timer, resolve, reject })
    })
    this.drain()
    return confirmed
  }

  /** Settles leadership confirmations: confirmed ones resolve; all of them reject once the epoch or the role changed. */
  private settleLeadershipWaiters(): void {
    if (this.leadershipWaiters.length === 0) return
    const leading = !this.isClosed && this.core.role === 'leader'
    const still: LeadershipWaiter[] = []
    for (const waiter of this.leadershipWaiters) {
      if (!leading || this.core.epoch !== waiter.epoch) {
        waiter.timer.cancel()
        waiter.reject(new SkeinError(ErrorCode.NOT_LEADER_OR_FOLLOWER, `replica ${this.options.id} lost leadership of epoch ${waiter.epoch}`))
      } else if (this.core.confirmedReadSeq >= waiter.seq) {
        waiter.timer.cancel()
        waiter.resolve()
      } else {
        still.push(waiter)
      }
    }
    this.leadershipWaiters = still
  }

  /**
   * read_committed (KIP-98): committed records below the last stable offset, with the last
   * stable offset and the aborted transactions overlapping what was read (the reader drops
   * their batches, src/log/read-committed.ts). OFFSET_OUT_OF_RANGE below the transaction
   * index's complete range (TransactionIndex.indexedFromOffset).
   */
  async readCommitted(fromOffset: number, maxBytes: number): Promise<ReadCommittedResult> {
    if (this.isClosed) throw new SkeinError(ErrorCode.NOT_LEADER_OR_FOLLOWER, `replica ${this.options.id} is ${this.closed ? 'closed' : 'stopped after a disk error'}`)
    this.requireProducerState()
    const txns = this.txns
    if (fromOffset < txns.indexedFromOffset) txns.abortedTransactions(fromOffset, fromOffset) // throws OFFSET_OUT_OF_RANGE
    const lastStableOffset = this.lastStableOffset
    const core = this.core
    const read = await this.partitionLog
      .read(fromOffset, maxBytes, { maxOffsetExclusive: lastStableOffset, epochOf: (offset) => core.epochAt(offset) })
      .catch((error: unknown) => this.storageFailed(error))
    // Transactions aborted after the read end at or past the LSO it read below: none overlaps.
    const aborted = read.nextOffset > fromOffset && txns === this.txns ? txns.abortedTransactions(fromOffset, read.nextOffset) : []
    return { ...read, lastStableOffset, abortedTransactions: aborted.map(({ producerId, firstOffset }) => ({ producerId, firstOffset })) }
  }

  /** Committed records only (below the high watermark), for consumers. */
  read(fromOffset: number, maxBytes: number) {
    if (this.isClosed) return Promise.reject(new SkeinError(ErrorCode.NOT_LEADER_OR_FOLLOWER, `replica ${this.options.id} is ${this.closed ? 'closed' : 'stopped after a disk error'}`))
    const core = this.core
    return this.partitionLog.read(fromOffset, maxBytes, { maxOffsetExclusive: core.highWatermark, epochOf: (offset) => core.epochAt(offset) }).catch((error: unknown) => this.storageFailed(error))
  }

  /**
   * Rethrows `error`; a storage error (the log went offline, or a read met a corrupt batch)
   * first stops the replica, to reopen it from disk (and repair it) after a backoff.
   */
  private storageFailed(error: unknown): never {
    if (isStorageError(error)) this.stop(error)
    throw error
  }

  /**
   * Stops the replica after a disk error and schedules its reopening. A replica already
   * stopped only takes note (a corrupt batch found meanwhile is cut too when it reopens).
   */
  private stop(error: unknown): void {
    if (this.closed) return
    const repairFrom = error instanceof CorruptLogError ? error.offset : undefined
    const earlier = this.stopped?.repair
    const corruptFrom = repairFrom === undefined ? earlier?.corruptFrom : Math.min(repairFrom, earlier?.corruptFrom ?? repairFrom)
    // What it had is what reached the file: offsets assigned to appends never written were never acknowledged.
    this.stopped = { repair: { corruptFrom, logEndBefore: earlier?.logEndBefore ?? this.partitionLog.writtenEndOffset } }
    if (earlier !== undefined) return
    this.timer?.cancel()
    this.timer = undefined
    this.rejectWaiters(new SkeinError(ErrorCode.KAFKA_STORAGE_ERROR, `replica ${this.options.id} stopped after a disk error`))
    this.settleLeadershipWaiters()
    this.logRoleChange()
    if (this.env.clock.nowMs() - this.reopenedAtMs >= REOPEN_STABLE_MS) this.stopsInRow = 0
    this.scheduleReopen(error)
  }

  private scheduleReopen(error: unknown): void {
    const backoffMs = Math.min(REOPEN_BACKOFF_MS_MAX, REOPEN_BACKOFF_MS * 2 ** Math.min(this.stopsInRow, 16))
    this.stopsInRow++
    this.env.log.error(
      { replica: this.options.id, dir: this.options.dir, error: (error as Error).message, corruptFrom: this.stopped?.repair.corruptFrom, reopenInMs: backoffMs },
      'replica stopped after a disk error; it reopens from disk',
    )
    this.reopenTimer = this.env.clock.setTimer(backoffMs, () => {
      this.reopenTimer = undefined
      void this.reopen()
    })
  }

  /**
   * Reopens a stopped replica from disk, as a restart would (the log recovered from its files,
   * the Raft state from its file), cutting a corrupt batch and all after it first. On failure
   * (the disk is still full, say) it stays stopped and tries again after a longer backoff.
   */
  private async reopen(): Promise<void> {
    if (this.closed || this.stopped === undefined) return
    await this.chain
    this.stopWrittenListener()
    await this.partitionLog.close().catch(() => undefined)
    // Read after the waits: a corrupt batch found meanwhile is part of the repair.
    const repair = (this.stopped as { readonly repair: Repair }).repair
    let parts: OpenedParts
    try {
      parts = await openParts(this.env, this.options, repair)
    } catch (error) {
      if (!this.closed) this.scheduleReopen(error)
      return
    }
    if (this.closed) {
      await parts.log.close().catch(() => undefined)
      return
    }
    this.partitionLog = parts.log
    this.stateFile = parts.stateFile
    this.producers = parts.producers
    this.txns = parts.txns
    this.txnHighWatermark = 0
    this.core = this.newCore(parts, this.core.highWatermark)
    this.stopWrittenListener = this.listenForWrites()
    this.fetchedRecords.clear()
    this.producerStateReady = true
    this.openedEpoch = undefined
    this.chain = Promise.resolve()
    this.stopped = undefined
    if (parts.log.logEndOffset < repair.logEndBefore) this.repairsValue++
    this.reopenedAtMs = this.env.clock.nowMs()
    this.env.log.warn({ replica: this.options.id, logEndOffset: parts.log.logEndOffset, catchUpEnd: parts.init.catchUpEnd }, 'replica reopened after a disk error')
    this.logRoleChange()
    this.scheduleTick()
  }

  async close(): Promise<void> {
    this.closed = true
    this.reopenTimer?.cancel()
    this.timer?.cancel()
    this.stopWrittenListener()
    this.rejectWaiters(new SkeinError(ErrorCode.SHUTTING_DOWN, 'replica closed'))
    this.settleLeadershipWaiters()
    await this.chain.catch(() => undefined)
    await this.partitionLog.close()
  }

  private whenCommitted(endOffset: number, epoch: number): Promise<void> {
    if (this.core.highWatermark >= endOffset) return Promise.resolve()
    return new Promise((resolve, reject) => this.waiters.push({ endOffset, epoch, resolve, reject }))
  }

  private scheduleTick(): void {
    this.timer = this.env.clock.setTimer(this.options.tickMs ?? RAFT_TICK_MS_DEFAULT, () => {
      if (this.isClosed) return
      this.core.tick()
      this.drain()
      this.scheduleTick()
    })
  }

  /** Runs the core's new effects after those already queued, one at a time. */
  private drain(): void {
    this.enqueue(this.core.takeEffects())
  }

  private enqueue(effects: readonly RaftEffect[]): void {
    this.logRoleChange()
    this.settleLeadershipWaiters()
    if (effects.length === 0 || this.isClosed) return
    this.chain = this.chain.then(async () => {
      for (const effect of effects) {
        if (this.isClosed) return
        await this.execute(effect)
      }
    }).catch((error: unknown) => {
      // A failed effect (a disk error) leaves memory and disk disagreeing: stop this replica
      // (its peers carry on) and reopen it from disk.
      this.stop(error)
    })
  }

  private async execute(effect: RaftEffect): Promise<void> {
    switch (effect.type) {
      case 'persist':
        // The core may have moved on since; epochs past the state being saved wait for their own persist.
        await this.stateFile.save({
          hardState: effect.state,
          epochs: this.core.epochCache().filter((entry) => entry.epoch <= effect.state.epoch),
          memberships: this.core.membershipEntries(),
          catchUpEnd: this.core.catchUpEnd,
        })
        return
      case 'send':
        await this.sendMessage(effect.message)
        return
      case 'appendFetched': {
        const records = this.fetchedRecords.get(effect)
        this.fetchedRecords.delete(effect)
        const newEpochs = records === undefined || records.length === 0 ? [] : this.newEpochsIn(records)
        const newMemberships = records === undefined || records.length === 0 ? [] : membershipsIn(records)
        // Epochs and memberships first, as for a new leader: a crash between the two must not
        // leave fsynced records of an epoch the state file does not name. Open drops entries past the log end.
        if (newEpochs.length > 0 || newMemberships.length > 0) await this.saveState(newEpochs, newMemberships)
        if (records !== undefined && records.length > 0) {
          const endBefore = this.partitionLog.logEndOffset
          const appended = this.partitionLog.appendReplicated(records)
          if (this.partitionLog.logEndOffset > endBefore && carriesProducerId(records)) this.applyProducerBatches(records, producerBatchesIn(records) ?? [])
          await appended
        }
        this.core.fetchCompleted(this.partitionLog.logEndOffset, newEpochs, newMemberships)
        this.drain()
        return
      }
      case 'truncate': {
        // The producer state first: from now on it must not vouch for batches being cut.
        const producersIntact = this.producers.truncateTo(effect.offset)
        const txnsIntact = this.truncateTransactions(effect.offset)
        if (!producersIntact || !txnsIntact) this.producerStateReady = false
        await this.partitionLog.truncateTo(effect.offset)
        if (!producersIntact || !txnsIntact) {
          if (!producersIntact) this.producers.clear()
          await rebuildProducerState(this.env, this.options, this.partitionLog, { producers: producersIntact ? undefined : this.producers, txns: txnsIntact ? undefined : this.txns })
          this.txns.advanceLogStart(this.partitionLog.logStartOffset)
          this.producerStateReady = true
        }
        await this.saveState()
        this.core.fetchCompleted(this.partitionLog.logEndOffset)
        this.drain()
        return
      }
      case 'becomeLeader':
        // The new epoch goes into the state file before any record of it reaches the log: a
        // restart must not find epoch-E batches its epoch cache does not know (it would vote
        // for shorter logs and truncate committed records). Open drops entries past the log end.
        await this.saveState([{ epoch: effect.epoch, startOffset: effect.startOffset }])
        await this.appendLeaderChange(effect.epoch)
        return
      case 'becomeFollower':
        this.rejectWaiters(new SkeinError(ErrorCode.NOT_LEADER_OR_FOLLOWER, `replica ${this.options.id} lost leadership in epoch ${effect.epoch}`))
        return
      case 'highWatermark':
        this.txns.onHighWatermark(effect.offset)
        this.txnHighWatermark = Math.max(this.txnHighWatermark, effect.offset)
        this.resolveWaiters(effect.offset)
        for (const listener of this.commitListeners) listener(effect.offset)
        return
      case 'appendMembership':
        await this.appendMembership(effect.membership)
        return
    }
  }

  /**
   * Cuts the transaction index at `offset`; false when it must be rebuilt from the log (it is
   * then empty). A cut below a high watermark it heard (never expected: the committed prefix
   * is not cut) starts a new index rather than trip its assertion.
   */
  private truncateTransactions(offset: number): boolean {
    if (offset < this.txnHighWatermark) {
      this.txns = new TransactionIndex()
      this.txnHighWatermark = 0
      return false
    }
    if (this.txns.truncateTo(offset)) return true
    this.txns.clear()
    return false
  }

  /** Logs the core's role, epoch and leader when any of them changed since last logged (called after every core input). */
  private logRoleChange(): void {
    const role = this.core.role
    const epoch = this.core.epoch
    const leader = this.core.leader
    const last = this.logged
    if (last !== undefined && last.role === role && last.epoch === epoch && last.leader === leader) return
    this.logged = { role, epoch, leader }
    this.env.log.info({ replica: this.options.id, role, epoch, leader: leader ?? null }, `raft: ${role} in epoch ${epoch}${leader === undefined ? ', no leader known' : `, leader ${leader}`}`)
  }

  private async sendMessage(message: RaftMessage): Promise<void> {
    if (message.type !== 'fetchResponse' || message.outcome !== 'records') {
      this.options.send(message, undefined)
      return
    }
    const core = this.core
    const read = await this.partitionLog.read(message.fetchOffset, REPLICA_FETCH_BYTES_MAX, { epochOf: (offset) => core.epochAt(offset) })
    this.options.send(message, read.bytes)
  }

  /** The first batch of a leader's epoch: a control record (Kafka's LeaderChange), stamped with the epoch. */
  private async appendLeaderChange(epoch: number): Promise<void> {
    const value = new TextEncoder().encode(JSON.stringify({ leader: this.options.id, epoch, voters: this.options.voters }))
    const appended = this.partitionLog.append(this.controlBatch(CONTROL_TYPE_LEADER_CHANGE, value), epoch)
    this.openedEpoch = epoch // offsets are assigned by append itself: client batches now go after it
    this.core.appended(this.partitionLog.logEndOffset)
    this.drain()
    await appended
    this.core.persisted(this.partitionLog.storedEndOffset)
    this.drain()
  }

  /** A membership change as the log holds it: a control record (KRaft's Voters) in the leader's epoch. */
  private async appendMembership(membership: RaftMembership): Promise<void> {
    const value = new TextEncoder().encode(JSON.stringify({ voters: membership.voters, learners: membership.learners }))
    const offset = this.partitionLog.logEndOffset
    const appended = this.partitionLog.append(this.controlBatch(CONTROL_TYPE_VOTERS, value), this.core.epoch)
    this.core.membershipAppended(offset, membership, this.partitionLog.logEndOffset)
    this.drain()
    // Both awaited together: if saving the state fails, the append's failure is still handled.
    await Promise.all([this.saveState(), appended])
    this.core.persisted(this.partitionLog.storedEndOffset)
    this.drain()
  }

  private controlBatch(type: number, value: Uint8Array): Uint8Array {
    const key = Uint8Array.of(0, 0, type >>> 8, type & 0xff) // version 0, then the type
    return encodeRecordBatch({ isControl: true, records: [{ key, value, timestamp: Math.floor(this.env.clock.wallMs()) }] })
  }

  /** Epochs that start in `records` (fetched from the leader) beyond what the core knows. */
  private newEpochsIn(records: Uint8Array): EpochEntry[] {
    const epochs: EpochEntry[] = []
    let latest = this.core.epochCache().at(-1)?.epoch ?? 0
    const batches: BatchInfo[] = checkBatches(records, { batchBytesMax: Number.MAX_SAFE_INTEGER })
    for (const batch of batches) {
      const epoch = readInt32(records, batch.position + BatchField.partitionLeaderEpoch)
      if (epoch > latest) {
        epochs.push({ epoch, startOffset: batch.baseOffset })
        latest = epoch
      }
    }
    return epochs
  }

  private async saveState(extraEpochs: readonly EpochEntry[] = [], extraMemberships: readonly MembershipEntry[] = []): Promise<void> {
    const epochs = [...this.core.epochCache()]
    for (const entry of extraEpochs) if (!epochs.some((e) => e.epoch === entry.epoch)) epochs.push(entry)
    const memberships = [...this.core.membershipEntries()]
    for (const entry of extraMemberships) if (!memberships.some((m) => m.offset === entry.offset)) memberships.push(entry)
    await this.stateFile.save({ hardState: this.core.hardState, epochs, memberships, catchUpEnd: this.core.catchUpEnd })
  }

  private resolveWaiters(highWatermark: number): void {
    const still: ProduceWaiter[] = []
    for (const waiter of this.waiters) {
      if (waiter.endOffset <= highWatermark) waiter.resolve()
      else still.push(waiter)
    }
    this.waiters = still
  }

  private rejectWaiters(error: unknown): void {
    const waiters = this.waiters
    this.waiters = []
    for (const waiter of waiters) waiter.reject(error)
  }
}

/**
 * Reads a replica's state from disk: the Raft state file, the log (recovered from its files)
 * and the producer state rebuilt from the log. When reopening after a stop (`repair`), a
 * corrupt batch found is cut with all after it; and if the log now ends before it did (that
 * cut, or opening cut a corrupt batch it took for a torn write), the log end it had is
 * recorded in the state file first (`catchUpEnd`): the replica votes in no election until
 * it has fetched again what it lost.
 */
async function openParts(env: ReplicaEnv, options: ReplicaOptions, repair: Repair | undefined): Promise<OpenedParts> {
  const stateFile = new RaftStateFile(env.disk, options.dir)
  const state = await stateFile.load()
  const log = await PartitionLog.open(env, `${options.dir}/log`, options.log, options.files)
  let catchUpEnd = state.catchUpEnd
  try {
    const corruptFrom = repair?.corruptFrom
    const cutsRecords = corruptFrom !== undefined && corruptFrom < log.logEndOffset
    // What the log held before, as far as is known: the end before the stop, or what opening
    // found past rot it had to cut (after a restart nothing else tells).
    const endBefore = Math.max(repair?.logEndBefore ?? 0, log.damagedEndOffset ?? 0)
    if (cutsRecords || log.logEndOffset < endBefore) {
      catchUpEnd = Math.max(catchUpEnd ?? 0, endBefore)
      // Recorded before the cut: a crash in between must not forget that records were lost.
      await stateFile.save({ ...state, catchUpEnd })
      const newEnd = cutsRecords ? await log.truncateTo(Math.max(corruptFrom, log.logStartOffset)) : log.logEndOffset
      env.log.warn({ replica: options.id, dir: options.dir, corruptAt: corruptFrom, logEndOffset: newEnd, catchUpEnd }, 'reopened with fewer records than it had; fetching them again from the leader before it votes')
    }
    // The epoch cache may name epochs past the log's end if a crash took the tail with them.
    const epochs = state.epochs.filter((entry) => entry.startOffset < log.logEndOffset)
    const memberships = (state.memberships ?? []).filter((entry) => entry.offset < log.logEndOffset)
    const producers = new ProducerStateTable()
    const txns = new TransactionIndex()
    await rebuildProducerState(env, options, log, { producers, txns })
    txns.advanceLogStart(log.logStartOffset)
    return { stateFile, log, producers, txns, init: { hardState: state.hardState, epochs, memberships, catchUpEnd } }
  } catch (error) {
    await log.close().catch(() => undefined)
    throw error
  }
}

/**
 * Feeds one batch the log took to the producer state and the transaction index (either may be
 * left out): a transaction marker (a control batch with a producer id, whole in `bytes`) is
 * decoded for its type and coordinator epoch; any other batch is read by its header alone.
 * Batches without a producer id change neither, and are not fed.
 */
function applyBatchFacts(
  producers: ProducerStateTable | undefined,
  txns: TransactionIndex | undefined,
  bytes: Uint8Array,
  position: number,
  header: ProducerBatchHeader,
  baseOffset: number,
  lastOffset: number,
): void {
  if (!(header.producerId >= 0)) return
  const attributes = readInt16(bytes, position + BatchField.attributes)
  const isControl = (attributes & BatchAttribute.control) !== 0
  const isTransactional = (attributes & BatchAttribute.transactional) !== 0
  if (!isControl) {
    producers?.apply({ ...header, baseOffset, lastOffset })
    txns?.apply({ baseOffset, lastOffset, producerId: header.producerId, producerEpoch: header.producerEpoch, isTransactional, isControl })
    return
  }
  const marker = controlBatchFacts(bytes, position)
  producers?.applyMarker({ producerId: header.producerId, producerEpoch: header.producerEpoch, coordinatorEpoch: marker.coordinatorEpoch })
  txns?.apply({ baseOffset, lastOffset, producerId: header.producerId, producerEpoch: header.producerEpoch, isTransactional, isControl, controlType: marker.type })
}

/**
 * Fills `producers` and `txns` (either may be left out) from the batch headers of the whole
 * log (PartitionLog.scanHeaders: no record bytes read but those of control batches, which are
 * small), so a restarted replica, or one that becomes leader later, dedupes retries of
 * batches any earlier leader appended and knows the transactions the log holds.
 */
async function rebuildProducerState(
  env: ReplicaEnv,
  options: ReplicaOptions,
  log: PartitionLog,
  targets: { readonly producers?: ProducerStateTable | undefined; readonly txns?: TransactionIndex | undefined },
): Promise<void> {
  const { producers, txns } = targets
  let batches = 0
  const stoppedAt = await log.scanHeaders(
    (batch, bytes, at) => {
      applyBatchFacts(producers, txns, bytes, at, producerBatchHeader(bytes, at), batch.baseOffset, batch.baseOffset + batch.lastOffsetDelta)
      batches++
    },
    { wholeControlBatches: true },
  )
  producers?.onLogStartOffset(log.logStartOffset)
  if (stoppedAt !== undefined) {
    producers?.markIncomplete()
    env.log.warn({ replica: options.id, ...stoppedAt }, 'producer state scan met bytes that are not a batch; state past them is unknown')
  }
  if ((producers?.size ?? 0) > 0) env.log.info({ replica: options.id, producers: producers?.size, batches }, 'producer state rebuilt from the log')
  if ((txns?.ongoingTransactions().length ?? 0) > 0 || (txns?.abortedCount ?? 0) > 0) {
    env.log.info({ replica: options.id, ongoing: txns?.ongoingTransactions().length, aborted: txns?.abortedCount }, 'transaction index rebuilt from the log')
  }
}

/** Membership changes carried in fetched records: control batches of type Voters. */
function membershipsIn(records: Uint8Array): MembershipEntry[] {
  const found: MembershipEntry[] = []
  for (const batch of checkBatches(records, { batchBytesMax: Number.MAX_SAFE_INTEGER })) {
    if ((batch.attributes & BatchAttribute.control) === 0) continue
    const record = decodeRecordBatch(records, batch.position).records[0]
    const parsed = record === undefined ? undefined : membershipOfControlRecord(record.key, record.value)
    if (record !== undefined && parsed !== undefined) found.push({ offset: record.offset, voters: parsed.voters, learners: parsed.learners })
  }
  return found
}

/**
 * The membership a control record carries if it is a Voters record (KRaft's control type,
 * as appendMembership writes it), else undefined. Throws on a Voters record whose value is
 * not the JSON membership (a log this code did not write).
 */
export function membershipOfControlRecord(key: Uint8Array | null, value: Uint8Array | null): RaftMembership | undefined {
  if (key === null || key.length < 4 || (((key[2] as number) << 8) | (key[3] as number)) !== CONTROL_TYPE_VOTERS) return undefined
  return JSON.parse(new TextDecoder().decode(value ?? new Uint8Array(0))) as RaftMembership
}

assert.ok(REPLICA_FETCH_BYTES_MAX > 0)
