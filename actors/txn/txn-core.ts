import { strict as assert } from 'node:assert'
import { ErrorCode, type ErrorSpec, SkeinError } from '../../src/wire/errors.js'
import { GROUP_ID_CHARS_MAX } from '../../src/wire/broker-protocol.js'
import type { TopicPartition } from '../../src/client/assignors.js'
import { TOPIC_NAME_LENGTH_MAX } from '../metadata/topic-name.js'
import {
  PRODUCER_EPOCH_MAX, TRANSACTIONAL_ID_CHARS_MAX, TXN_GROUPS_MAX, TXN_PARTITIONS_MAX, type TxnMetadata, type TxnRecord,
  compareTopicPartitions, txnRecord, txnTombstone,
} from './txn-log.js'

/**
 * The transaction coordinator of one partition of the transaction-state topic, as a pure state
 * machine over every transactional id that partition holds (Kafka's TransactionCoordinator and
 * TransactionStateManager, KIP-98). Fed client requests, the outcomes of its own writes and
 * marker requests, and clock ticks, it returns effects for the shell to run; no I/O, no timers.
 *
 *   Empty/Complete* --addPartitions/addOffsets--> Ongoing --endTxn--> PrepareCommit|PrepareAbort
 *   Prepare* --every marker acknowledged--> CompleteCommit|CompleteAbort --initProducerId--> Empty
 *   Ongoing --initProducerId, or the transaction timed out--> PrepareAbort under epoch + 1
 *   Empty/Complete* --idle transactionalIdExpirationMs--> Dead (a tombstone; the id is forgotten)
 *
 * The state it acts on is the committed one: a transition is a `persist` effect, and the core
 * adopts it, answers the request and sends markers only when the shell reports the record
 * committed (`persisted`). So nothing a client or a partition hears is ahead of the log, and a
 * coordinator taking over (`load`) finds every decided outcome and finishes it.
 *
 * Effect ordering rule: effects may run in the order given. Nothing in a batch depends on a
 * write in that batch: what follows a write arrives in the batch `persisted` returns.
 *
 * Shell contract:
 * - Append each `persist` record (acks=all, under the coordinator epoch) and call `persisted`
 *   once it is committed, or `persistFailed` once it is certain never to commit. A write whose
 *   fate is unknown (a timeout) must not be reported: drop the core and reload the partition.
 * - Answer each `allocateProducerId` with `producerIdAllocated` or `producerIdAllocationFailed`.
 * - For each `writeMarkers`, report exactly one `markerOutcome` per partition and per group
 *   (no answer before a deadline is `retriable`).
 * - Call `tick` regularly (a few times a second) with the time.
 * Request ids must be distinct among a core's unanswered requests; each gets exactly one reply.
 */

export interface TxnLimits {
  /** Longest transaction timeout a producer may ask for (Kafka's transaction.max.timeout.ms, 15 minutes). */
  readonly transactionTimeoutMsMax: number
  /** An id idle (Empty or Complete*) this long is expired and tombstoned (Kafka's transactional.id.expiration.ms, 7 days). */
  readonly transactionalIdExpirationMs: number
  /**
   * Transactional ids one coordinator partition holds, counting ids whose first write is pending:
   * its memory. A new id beyond it gets OVERLOADED (retriable: ids expire). 100,000 ids of a few
   * hundred bytes each is tens of MiB, and a cluster has many partitions to spread ids over.
   */
  readonly transactionalIdsMax: number
  /** How often a tick looks for timed-out transactions and expired ids (Kafka: every 10 s and every hour). */
  readonly scanIntervalMs: number
  /** Most writes (timeout aborts and expiries) one scan starts; the rest wait for the next scan. Bounds a tick's output. */
  readonly scanWritesMax: number
  /** A marker that failed retriably is sent again no sooner than this (Kafka's retry.backoff.ms, 100 ms). */
  readonly markerRetryBackoffMs: number
}

export const TXN_LIMITS_DEFAULT: TxnLimits = {
  transactionTimeoutMsMax: 15 * 60_000,
  transactionalIdExpirationMs: 7 * 24 * 3_600_000,
  transactionalIdsMax: 100_000,
  // Timeouts are tens of seconds or more; a second's lateness in aborting one is harmless.
  scanIntervalMs: 1_000,
  scanWritesMax: 1_000,
  markerRetryBackoffMs: 100,
}

/**
 * A producer gets epochs up to PRODUCER_EPOCH_MAX - 1 only, so the coordinator can always fence
 * it with one more (Kafka's isEpochExhausted); at this epoch initProducerId hands out a new producer id.
 */
export const PRODUCER_EPOCH_EXHAUSTED = PRODUCER_EPOCH_MAX - 1

export interface ProducerIdAndEpoch {
  readonly producerId: number
  readonly producerEpoch: number
}

export interface InitProducerIdRequest {
  readonly transactionalId: string
  readonly transactionTimeoutMs: number
}

interface ProducerRequest extends ProducerIdAndEpoch {
  readonly transactionalId: string
}

export interface AddPartitionsRequest extends ProducerRequest {
  readonly partitions: readonly TopicPartition[]
}

export interface AddOffsetsRequest extends ProducerRequest {
  readonly groupId: string
}

export interface EndTxnRequest extends ProducerRequest {
  /** True to commit, false to abort. */
  readonly commit: boolean
}

/** Where one marker goes: a partition of the transaction, or a group whose offsets it commits (via its group coordinator). */
export type MarkerTarget =
  | { readonly kind: 'partition'; readonly topic: string; readonly partition: number }
  | { readonly kind: 'group'; readonly groupId: string }

/**
 * - written: the marker is committed on the partition (or the group applied it).
 * - retriable: not written (no leader, timeout, ...); sent again after markerRetryBackoffMs.
 * - gone: can never be written (the topic was deleted); counts as done, as in Kafka.
 * - fenced: the partition knows a newer coordinator epoch; this core stops sending the
 *   transaction's markers (the newer coordinator finishes it). The shell should drop the core.
 */
export type MarkerOutcome = 'written' | 'retriable' | 'gone' | 'fenced'

export interface MarkerReport {
  readonly transactionalId: string
  /** The `round` of the writeMarkers effect answered. */
  readonly round: number
  readonly target: MarkerTarget
  readonly outcome: MarkerOutcome
}

/** What the core does once a persisted record is committed (informational: the core keeps the continuation). */
export type PersistThen =
  | 'replyProducer' // answer initProducerId with the producer id and epoch
  | 'reply' // answer addPartitions/addOffsets
  | 'replyAndWriteMarkers' // answer endTxn, then write the markers
  | 'replyRetryAndWriteMarkers' // answer initProducerId CONCURRENT_TRANSACTIONS, then write the abort's markers
  | 'writeMarkers' // a timed-out transaction's abort: write its markers
  | 'complete' // the transaction is over
  | 'forget' // the id expired: drop it

export type TxnEffect<RequestId> =
  | {
    readonly type: 'persist'
    readonly persistId: number
    readonly transactionalId: string
    readonly record: TxnRecord
    /** What `record` holds (null: a tombstone). */
    readonly metadata: TxnMetadata | null
    readonly then: PersistThen
  }
  | {
    readonly type: 'writeMarkers'
    readonly transactionalId: string
    /** Names this transaction's marker round; echoed in each MarkerReport. */
    readonly round: number
    readonly producerId: number
    readonly producerEpoch: number
    readonly commit: boolean
    readonly coordinatorEpoch: number
    readonly partitions: readonly TopicPartition[]
    readonly groups: readonly string[]
  }
  | {
    readonly type: 'reply'
    readonly requestId: RequestId
    /** Set when the request failed. */
    readonly error?: SkeinError
    /** initProducerId's answer. */
    readonly producer?: ProducerIdAndEpoch
  }
  | { readonly type: 'allocateProducerId'; readonly requestId: RequestId }

export interface TxnDescription extends TxnMetadata {
  readonly transactionalId: string
  /** A write or a producer id allocation is under way; requests for the id get CONCURRENT_TRANSACTIONS. */
  readonly busy: boolean
  /** Markers not yet acknowledged (in flight or waiting to be retried). */
  readonly markersPending: number
}

type Op<RequestId> =
  | { readonly kind: 'allocate'; readonly requestId: RequestId; readonly timeoutMs: number }
  | { readonly kind: 'persist'; readonly persistId: number; readonly next: TxnMetadata | null; readonly requestId: RequestId | undefined; readonly then: PersistThen }

interface MarkerRound {
  readonly round: number
  /** Sent and not yet answered, by target key. */
  readonly inFlight: Map<string, MarkerTarget>
  /** Failed retriably, to be sent again at retryAtMs. */
  readonly retry: Map<string, MarkerTarget>
  retryAtMs: number
  /** A partition reported a newer coordinator: send nothing more. */
  fenced: boolean
}

interface Entry<RequestId> {
  /** The committed state; undefined while a new id's first write is pending. */
  meta: TxnMetadata | undefined
  /** At most one operation at a time per id (Kafka's pendingState). */
  op: Op<RequestId> | undefined
  /** Set exactly while the committed state is Prepare*. */
  markers: MarkerRound | undefined
}

type Effects<RequestId> = TxnEffect<RequestId>[]

export class TxnCore<RequestId> {
  private readonly entries = new Map<string, Entry<RequestId>>()
  /** persistId -> transactional id, for writes not yet reported. */
  private readonly persists = new Map<number, string>()
  /** requestId -> transactional id, for producer id allocations not yet answered. */
  private readonly allocations = new Map<RequestId, string>()
  /** Ids with markers to retry or a Complete record to write again: what a tick looks at besides the scan. */
  private readonly attention = new Set<string>()
  private nextPersistId = 1
  private nextRound = 1
  private nextScanMs = 0

  constructor(
    /** The transaction-state partition's leader epoch this core was loaded under; goes into every marker. */
    readonly coordinatorEpoch: number,
    private readonly limits: TxnLimits = TXN_LIMITS_DEFAULT,
  ) {
    assert.ok(Number.isInteger(coordinatorEpoch) && coordinatorEpoch >= 0 && coordinatorEpoch <= 0x7fff_ffff, `coordinatorEpoch ${coordinatorEpoch}`)
    assert.ok(limits.transactionTimeoutMsMax > 0 && limits.transactionalIdExpirationMs > 0, 'limits must be positive')
    assert.ok(limits.transactionalIdsMax > 0 && limits.scanWritesMax > 0 && limits.scanIntervalMs > 0, 'limits must be positive')
    assert.ok(limits.markerRetryBackoffMs >= 0, 'markerRetryBackoffMs must not be negative')
  }

  /**
   * Takes over the partition from its replayed table (replayTxnLog), once, before any request.
   * Every transaction found in Prepare* had its outcome decided by a previous coordinator:
   * its markers are written again, under this core's epoch (Kafka's loadTransactionsForTxnTopicPartition).
   */
  load(table: ReadonlyMap<string, TxnMetadata>, nowMs: number): Effects<RequestId> {
    assert.ok(this.entries.size === 0 && this.nextPersistId === 1, 'load on a core already in use')
    const effects: Effects<RequestId> = []
    for (const [id, meta] of table) {
      const entry: Entry<RequestId> = { meta, op: undefined, markers: undefined }
      this.entries.set(id, entry)
      if (isPrepare(meta.state)) effects.push(...this.startMarkers(id, entry, nowMs))
      this.checkInvariants(id, entry)
    }
    return effects
  }

  initProducerId(requestId: RequestId, request: InitProducerIdRequest, nowMs: number): Effects<RequestId> {
    const { transactionalId: id, transactionTimeoutMs } = request
    const bad = transactionalIdProblem(id) ?? this.timeoutProblem(transactionTimeoutMs)
    if (bad !== undefined) return [fail(requestId, bad)]
    let entry = this.entries.get(id)
    if (entry === undefined) {
      if (this.entries.size >= this.limits.transactionalIdsMax) {
        return [fail(requestId, error(ErrorCode.OVERLOADED, `this transaction coordinator partition holds ${this.entries.size} transactional ids, its limit (transactionalIdsMax); retry later or use another id`))]
      }
      entry = { meta: undefined, op: undefined, markers: undefined }
      this.entries.set(id, entry)
      return this.allocate(id, entry, requestId, transactionTimeoutMs)
    }
    if (entry.op !== undefined) return [fail(requestId, concurrent(id))]
    const meta = defined(entry.meta, id)
    switch (meta.state) {
      case 'PrepareCommit':
      case 'PrepareAbort':
        return [fail(requestId, concurrent(id))]
      case 'Ongoing':
        // Fence the producer and abort its open transaction; the client retries and gets the epoch after (Kafka's PrepareEpochFence).
        return this.fenceAndAbort(id, entry, nowMs, requestId)
      default:
        if (meta.producerEpoch >= PRODUCER_EPOCH_EXHAUSTED) return this.allocate(id, entry, requestId, transactionTimeoutMs)
        return this.persist(id, entry, idle(meta.producerId, meta.producerEpoch + 1, transactionTimeoutMs, nowMs), 'replyProducer', requestId)
    }
  }

  /** The shell's answer to `allocateProducerId`: a producer id never handed out before. */
  producerIdAllocated(requestId: RequestId, producerId: number, nowMs: number): Effects<RequestId> {
    const { id, entry, op } = this.takeAllocation(requestId)
    assert.ok(Number.isSafeInteger(producerId) && producerId >= 0, `allocated producer id ${producerId}`)
    assert.notEqual(producerId, entry.meta?.producerId, `producer id ${producerId} allocated twice`)
    return this.persist(id, entry, idle(producerId, 0, op.timeoutMs, nowMs), 'replyProducer', requestId)
  }

  producerIdAllocationFailed(requestId: RequestId, cause: SkeinError): Effects<RequestId> {
    const { id, entry } = this.takeAllocation(requestId)
    if (entry.meta === undefined) this.entries.delete(id)
    return [fail(requestId, cause)]
  }

  addPartitions(requestId: RequestId, request: AddPartitionsRequest, nowMs: number): Effects<RequestId> {
    const bad = producerRequestProblem(request) ?? partitionsProblem(request.partitions)
    if (bad !== undefined) return [fail(requestId, bad)]
    const refused = this.openableBy(request)
    if (refused !== undefined) return [fail(requestId, refused)]
    const entry = this.entries.get(request.transactionalId) as Entry<RequestId>
    const meta = entry.meta as TxnMetadata
    const partitions = mergePartitions(meta.partitions, request.partitions)
    if (meta.state === 'Ongoing' && partitions.length === meta.partitions.length) return [ok(requestId)]
    if (partitions.length > TXN_PARTITIONS_MAX) {
      return [fail(requestId, error(ErrorCode.INVALID_REQUEST, `the transaction would span ${partitions.length} partitions; at most ${TXN_PARTITIONS_MAX} (TXN_PARTITIONS_MAX)`))]
    }
    return this.persist(request.transactionalId, entry, ongoing(meta, partitions, meta.groups, nowMs), 'reply', requestId)
  }

  addOffsets(requestId: RequestId, request: AddOffsetsRequest, nowMs: number): Effects<RequestId> {
    const bad = producerRequestProblem(request) ?? groupIdProblem(request.groupId)
    if (bad !== undefined) return [fail(requestId, bad)]
    const refused = this.openableBy(request)
    if (refused !== undefined) return [fail(requestId, refused)]
    const entry = this.entries.get(request.transactionalId) as Entry<RequestId>
    const meta = entry.meta as TxnMetadata
    if (meta.groups.includes(request.groupId)) return [ok(requestId)]
    if (meta.groups.length >= TXN_GROUPS_MAX) {
      return [fail(requestId, error(ErrorCode.INVALID_REQUEST, `the transaction already commits offsets of ${meta.groups.length} groups; at most ${TXN_GROUPS_MAX} (TXN_GROUPS_MAX)`))]
    }
    const groups = [...meta.groups, request.groupId].sort()
    return this.persist(request.transactionalId, entry, ongoing(meta, meta.partitions, groups, nowMs), 'reply', requestId)
  }

  /** Kafka's endTransaction from a client, with its rules for retries and mismatches. */
  endTxn(requestId: RequestId, request: EndTxnRequest, nowMs: number): Effects<RequestId> {
    const bad = producerRequestProblem(request) ?? (typeof request.commit === 'boolean' ? undefined : error(ErrorCode.INVALID_REQUEST, 'commit must be a boolean'))
    if (bad !== undefined) return [fail(requestId, bad)]
    const refused = this.producerCheck(request)
    if (refused !== undefined) return [fail(requestId, refused)]
    const id = request.transactionalId
    const entry = this.entries.get(id) as Entry<RequestId>
    const meta = entry.meta as TxnMetadata
    const wanted = request.commit ? 'commit' : 'abort'
    switch (meta.state) {
      case 'Ongoing':
        return this.persist(id, entry, { ...meta, state: request.commit ? 'PrepareCommit' : 'PrepareAbort', updatedMs: nowMs }, 'replyAndWriteMarkers', requestId)
      case 'CompleteCommit':
      case 'CompleteAbort':
        // A retry whose answer was lost: the same outcome is done.
        if ((meta.state === 'CompleteCommit') === request.commit) return [ok(requestId)]
        return [fail(requestId, badState(id, meta.state, wanted))]
      case 'PrepareCommit':
      case 'PrepareAbort':
        // The same outcome is being written: retry until it completes (Kafka answers CONCURRENT_TRANSACTIONS here).
        if ((meta.state === 'PrepareCommit') === request.commit) return [fail(requestId, concurrent(id))]
        return [fail(requestId, badState(id, meta.state, wanted))]
      case 'Empty':
        return [fail(requestId, badState(id, meta.state, wanted))]
    }
  }

  /** Reports a `persist` record committed: the core adopts it and carries on. */
  persisted(persistId: number, nowMs: number): Effects<RequestId> {
    const { id, entry, op } = this.takePersist(persistId)
    if (op.next === null) {
      this.entries.delete(id)
      this.attention.delete(id)
      return []
    }
    entry.meta = op.next
    const effects = this.afterCommit(id, entry, op, nowMs)
    this.checkInvariants(id, entry)
    return effects
  }

  /**
   * Reports a `persist` record that will never commit (refused: say, leadership lost). Nothing
   * changes; a waiting request gets `cause` (the shell picks it: NOT_COORDINATOR, ...).
   */
  persistFailed(persistId: number, cause: SkeinError): Effects<RequestId> {
    const { id, entry, op } = this.takePersist(persistId)
    if (entry.meta === undefined) this.entries.delete(id)
    // An unwritten Complete is written again on the next tick; an unwritten timeout abort or expiry, at the next scan.
    if (op.then === 'complete') this.attention.add(id)
    return op.requestId === undefined ? [] : [fail(op.requestId, cause)]
  }

  markerOutcome(report: MarkerReport, nowMs: number): Effects<RequestId> {
    const entry = this.entries.get(report.transactionalId)
    const markers = entry?.markers
    // A stale report (an earlier round, or a target already answered) changes nothing.
    if (entry === undefined || markers === undefined || markers.round !== report.round || markers.fenced) return []
    const key = targetKey(report.target)
    if (!markers.inFlight.delete(key)) return []
    if (report.outcome === 'fenced') {
      markers.fenced = true
      return []
    }
    if (report.outcome === 'retriable') {
      if (markers.retry.size === 0) markers.retryAtMs = nowMs + this.limits.markerRetryBackoffMs
      markers.retry.set(key, report.target)
      this.attention.add(report.transactionalId)
      return []
    }
    if (markers.inFlight.size > 0 || markers.retry.size > 0 || entry.op !== undefined) return []
    return this.complete(report.transactionalId, entry, nowMs)
  }

  /** Sends due marker retries; every scanIntervalMs also aborts timed-out transactions and expires idle ids. */
  tick(nowMs: number): Effects<RequestId> {
    const effects: Effects<RequestId> = []
    for (const id of [...this.attention]) effects.push(...this.attend(id, nowMs))
    if (nowMs >= this.nextScanMs) {
      this.nextScanMs = nowMs + this.limits.scanIntervalMs
      effects.push(...this.scan(nowMs))
    }
    return effects
  }

  describe(transactionalId: string): TxnDescription | undefined {
    const entry = this.entries.get(transactionalId)
    if (entry?.meta === undefined) return undefined
    const markersPending = entry.markers === undefined ? 0 : entry.markers.inFlight.size + entry.markers.retry.size
    return { transactionalId, ...entry.meta, busy: entry.op !== undefined, markersPending }
  }

  transactionalIds(): string[] {
    return [...this.entries.keys()].filter((id) => this.entries.get(id)?.meta !== undefined).sort()
  }

  private timeoutProblem(timeoutMs: number): SkeinError | undefined {
    if (Number.isSafeInteger(timeoutMs) && timeoutMs > 0 && timeoutMs <= this.limits.transactionTimeoutMsMax) return undefined
    return error(ErrorCode.INVALID_TRANSACTION_TIMEOUT, `transaction timeout must be 1 to ${this.limits.transactionTimeoutMsMax} ms, got ${String(timeoutMs)}`)
  }

  /** Kafka's checks for a client request naming a producer: id mapping, then epoch, then one operation at a time. */
  private producerCheck(request: ProducerRequest): SkeinError | undefined {
    const entry = this.entries.get(request.transactionalId)
    if (entry?.meta === undefined) return error(ErrorCode.INVALID_PRODUCER_ID_MAPPING, `transactional id ${request.transactionalId} has no producer id; call initProducerId`)
    if (entry.meta.producerId !== request.producerId) {
      return error(ErrorCode.INVALID_PRODUCER_ID_MAPPING, `transactional id ${request.transactionalId} belongs to producer id ${entry.meta.producerId}, not ${request.producerId}`)
    }
    if (entry.meta.producerEpoch !== request.producerEpoch) {
      return error(ErrorCode.PRODUCER_FENCED, `producer ${request.producerId} epoch ${request.producerEpoch} is fenced: transactional id ${request.transactionalId} is at epoch ${entry.meta.producerEpoch}`)
    }
    if (entry.op !== undefined) return concurrent(request.transactionalId)
    return undefined
  }

  /** producerCheck, and no commit or abort in progress (addPartitions and addOffsets). */
  private openableBy(request: ProducerRequest): SkeinError | undefined {
    const refused = this.producerCheck(request)
    if (refused !== undefined) return refused
    const state = this.entries.get(request.transactionalId)?.meta?.state
    return state !== undefined && isPrepare(state) ? concurrent(request.transactionalId) : undefined
  }

  private allocate(id: string, entry: Entry<RequestId>, requestId: RequestId, timeoutMs: number): Effects<RequestId> {
    assert.equal(entry.op, undefined)
    assert.ok(!this.allocations.has(requestId), 'request ids must be distinct among unanswered requests')
    entry.op = { kind: 'allocate', requestId, timeoutMs }
    this.allocations.set(requestId, id)
    return [{ type: 'allocateProducerId', requestId }]
  }

  private fenceAndAbort(id: string, entry: Entry<RequestId>, nowMs: number, requestId: RequestId | undefined): Effects<RequestId> {
    const meta = defined(entry.meta, id)
    assert.equal(meta.state, 'Ongoing')
    // Producers get epochs up to PRODUCER_EPOCH_EXHAUSTED only, so one more always fits.
    assert.ok(meta.producerEpoch < PRODUCER_EPOCH_MAX, `transaction ${id} is open at epoch ${meta.producerEpoch}`)
    const next: TxnMetadata = { ...meta, producerEpoch: meta.producerEpoch + 1, state: 'PrepareAbort', updatedMs: nowMs }
    return this.persist(id, entry, next, requestId === undefined ? 'writeMarkers' : 'replyRetryAndWriteMarkers', requestId)
  }

  private persist(id: string, entry: Entry<RequestId>, next: TxnMetadata | null, then: PersistThen, requestId: RequestId | undefined): Effects<RequestId> {
    assert.equal(entry.op, undefined, `transaction ${id}: a second operation while one is pending`)
    const persistId = this.nextPersistId++
    entry.op = { kind: 'persist', persistId, next, requestId, then }
    this.persists.set(persistId, id)
    const record = next === null ? txnTombstone(id) : txnRecord(id, next)
    return [{ type: 'persist', persistId, transactionalId: id, record, metadata: next, then }]
  }

  private afterCommit(id: string, entry: Entry<RequestId>, op: Extract<Op<RequestId>, { kind: 'persist' }>, nowMs: number): Effects<RequestId> {
    const meta = entry.meta as TxnMetadata
    const requestId = op.requestId as RequestId
    switch (op.then) {
      case 'replyProducer':
        return [{ type: 'reply', requestId, producer: { producerId: meta.producerId, producerEpoch: meta.producerEpoch } }]
      case 'reply':
        return [ok(requestId)]
      case 'replyAndWriteMarkers':
        return [ok(requestId), ...this.startMarkers(id, entry, nowMs)]
      case 'replyRetryAndWriteMarkers':
        return [fail(requestId, concurrent(id)), ...this.startMarkers(id, entry, nowMs)]
      case 'writeMarkers':
        return this.startMarkers(id, entry, nowMs)
      case 'complete':
        entry.markers = undefined
        this.attention.delete(id)
        return []
      case 'forget':
        assert.fail('a tombstone has no metadata')
    }
  }

  /** Opens a marker round for the committed Prepare* state: every partition and group of the transaction. */
  private startMarkers(id: string, entry: Entry<RequestId>, nowMs: number): Effects<RequestId> {
    const meta = defined(entry.meta, id)
    assert.ok(isPrepare(meta.state), `markers for ${id} in state ${meta.state}`)
    const inFlight = new Map<string, MarkerTarget>()
    for (const tp of meta.partitions) inFlight.set(targetKey({ kind: 'partition', ...tp }), { kind: 'partition', topic: tp.topic, partition: tp.partition })
    for (const groupId of meta.groups) inFlight.set(targetKey({ kind: 'group', groupId }), { kind: 'group', groupId })
    entry.markers = { round: this.nextRound++, inFlight, retry: new Map(), retryAtMs: 0, fenced: false }
    if (inFlight.size === 0) return this.complete(id, entry, nowMs)
    return [this.writeMarkers(id, entry, [...inFlight.values()])]
  }

  private writeMarkers(id: string, entry: Entry<RequestId>, targets: readonly MarkerTarget[]): TxnEffect<RequestId> {
    const meta = defined(entry.meta, id)
    const markers = entry.markers as MarkerRound
    assert.ok(isPrepare(meta.state), `markers for ${id} in state ${meta.state}`)
    const partitions: TopicPartition[] = []
    const groups: string[] = []
    for (const target of targets) {
      if (target.kind === 'partition') partitions.push({ topic: target.topic, partition: target.partition })
      else groups.push(target.groupId)
    }
    return {
      type: 'writeMarkers',
      transactionalId: id,
      round: markers.round,
      producerId: meta.producerId,
      producerEpoch: meta.producerEpoch,
      commit: meta.state === 'PrepareCommit',
      coordinatorEpoch: this.coordinatorEpoch,
      partitions,
      groups,
    }
  }

  /** Every marker is acknowledged: write CompleteCommit/CompleteAbort (Kafka's prepareComplete). */
  private complete(id: string, entry: Entry<RequestId>, nowMs: number): Effects<RequestId> {
    const meta = defined(entry.meta, id)
    assert.ok(entry.markers !== undefined && entry.markers.inFlight.size === 0 && entry.markers.retry.size === 0, `complete ${id} with markers pending`)
    const next: TxnMetadata = { ...meta, state: meta.state === 'PrepareCommit' ? 'CompleteCommit' : 'CompleteAbort', partitions: [], groups: [], updatedMs: nowMs }
    return this.persist(id, entry, next, 'complete', undefined)
  }

  /** A tick's work for an id on the attention list: due marker retries, or a Complete record to write again. */
  private attend(id: string, nowMs: number): Effects<RequestId> {
    const entry = this.entries.get(id)
    const markers = entry?.markers
    if (entry === undefined || markers === undefined || markers.fenced) {
      this.attention.delete(id)
      return []
    }
    if (entry.op !== undefined) return []
    if (markers.retry.size === 0) {
      this.attention.delete(id)
      return markers.inFlight.size === 0 ? this.complete(id, entry, nowMs) : []
    }
    if (nowMs < markers.retryAtMs) return []
    const targets = [...markers.retry.values()]
    for (const [key, target] of markers.retry) markers.inFlight.set(key, target)
    markers.retry.clear()
    this.attention.delete(id)
    return [this.writeMarkers(id, entry, targets)]
  }

  /** Aborts timed-out transactions, fencing their producer (Kafka's abortTimedOutTransactions), and expires idle ids. */
  private scan(nowMs: number): Effects<RequestId> {
    const effects: Effects<RequestId> = []
    let writes = 0
    for (const [id, entry] of this.entries) {
      if (writes >= this.limits.scanWritesMax) break
      const meta = entry.meta
      if (meta === undefined || entry.op !== undefined) continue
      if (meta.state === 'Ongoing' && meta.txnStartMs + meta.timeoutMs < nowMs) {
        effects.push(...this.fenceAndAbort(id, entry, nowMs, undefined))
        writes++
      } else if (isIdle(meta.state) && meta.updatedMs + this.limits.transactionalIdExpirationMs <= nowMs) {
        effects.push(...this.persist(id, entry, null, 'forget', undefined))
        writes++
      }
    }
    return effects
  }

  private takePersist(persistId: number): { id: string; entry: Entry<RequestId>; op: Extract<Op<RequestId>, { kind: 'persist' }> } {
    const id = this.persists.get(persistId)
    assert.ok(id !== undefined, `persist ${persistId} is not pending`)
    this.persists.delete(persistId)
    const entry = this.entries.get(id)
    const op = entry?.op
    assert.ok(entry !== undefined && op?.kind === 'persist' && op.persistId === persistId, `persist ${persistId} lost its entry`)
    entry.op = undefined
    return { id, entry, op }
  }

  private takeAllocation(requestId: RequestId): { id: string; entry: Entry<RequestId>; op: Extract<Op<RequestId>, { kind: 'allocate' }> } {
    const id = this.allocations.get(requestId)
    assert.ok(id !== undefined, `no producer id allocation pending for request ${String(requestId)}`)
    this.allocations.delete(requestId)
    const entry = this.entries.get(id)
    const op = entry?.op
    assert.ok(entry !== undefined && op?.kind === 'allocate' && op.requestId === requestId, `allocation for ${id} lost its entry`)
    entry.op = undefined
    return { id, entry, op }
  }

  private checkInvariants(id: string, entry: Entry<RequestId>): void {
    const meta = defined(entry.meta, id)
    assert.ok(meta.producerEpoch >= 0 && meta.producerEpoch <= PRODUCER_EPOCH_MAX, `${id}: epoch ${meta.producerEpoch}`)
    assert.equal(entry.markers !== undefined, isPrepare(meta.state), `${id}: marker round without Prepare* or the other way round (${meta.state})`)
    if (meta.state === 'Ongoing') assert.ok(meta.partitions.length + meta.groups.length > 0, `${id}: Ongoing with nothing in it`)
    if (meta.state === 'Ongoing') assert.ok(meta.txnStartMs >= 0, `${id}: Ongoing without a start`)
    if (isIdle(meta.state)) assert.equal(meta.partitions.length + meta.groups.length, 0, `${id}: ${meta.state} with partitions or groups`)
  }
}

function isPrepare(state: string): state is 'PrepareCommit' | 'PrepareAbort' {
  return state === 'PrepareCommit' || state === 'PrepareAbort'
}

function isIdle(state: string): boolean {
  return state === 'Empty' || state === 'CompleteCommit' || state === 'CompleteAbort'
}

/** The state after initProducerId: no transaction, a fresh epoch (Kafka's prepareIncrementProducerEpoch / prepareProducerIdRotation). */
function idle(producerId: number, producerEpoch: number, timeoutMs: number, nowMs: number): TxnMetadata {
  return { producerId, producerEpoch, timeoutMs, state: 'Empty', partitions: [], groups: [], txnStartMs: -1, updatedMs: nowMs }
}

/** The state after adding to the transaction; it starts now if none was open (Kafka's prepareAddPartitions). */
function ongoing(meta: TxnMetadata, partitions: readonly TopicPartition[], groups: readonly string[], nowMs: number): TxnMetadata {
  const txnStartMs = meta.state === 'Ongoing' ? meta.txnStartMs : nowMs
  return { ...meta, state: 'Ongoing', partitions, groups, txnStartMs, updatedMs: nowMs }
}

/** `have` and `add`, sorted and each once. `have` is sorted and unique already. */
function mergePartitions(have: readonly TopicPartition[], add: readonly TopicPartition[]): TopicPartition[] {
  const all = [...have, ...add.map((tp) => ({ topic: tp.topic, partition: tp.partition }))].sort(compareTopicPartitions)
  return all.filter((tp, i) => i === 0 || compareTopicPartitions(all[i - 1] as TopicPartition, tp) !== 0)
}

function targetKey(target: MarkerTarget): string {
  return target.kind === 'partition' ? `p\u0000${target.topic}\u0000${target.partition}` : `g\u0000${target.groupId}`
}

function transactionalIdProblem(id: unknown): SkeinError | undefined {
  if (typeof id === 'string' && id.length > 0 && id.length <= TRANSACTIONAL_ID_CHARS_MAX) return undefined
  return error(ErrorCode.INVALID_REQUEST, `transactional id must be 1 to ${TRANSACTIONAL_ID_CHARS_MAX} characters, got ${JSON.stringify(id)?.slice(0, 80)}`)
}

function producerRequestProblem(request: ProducerRequest): SkeinError | undefined {
  const bad = transactionalIdProblem(request.transactionalId)
  if (bad !== undefined) return bad
  if (!Number.isSafeInteger(request.producerId) || request.producerId < 0) return error(ErrorCode.INVALID_REQUEST, `producer id must be a non-negative integer, got ${String(request.producerId)}`)
  if (!Number.isInteger(request.producerEpoch) || request.producerEpoch < 0 || request.producerEpoch > PRODUCER_EPOCH_MAX) {
    return error(ErrorCode.INVALID_REQUEST, `producer epoch must be 0 to ${PRODUCER_EPOCH_MAX}, got ${String(request.producerEpoch)}`)
  }
  return undefined
}

function partitionsProblem(partitions: readonly TopicPartition[]): SkeinError | undefined {
  if (!Array.isArray(partitions) || partitions.length === 0 || partitions.length > TXN_PARTITIONS_MAX) {
    return error(ErrorCode.INVALID_REQUEST, `a request adds 1 to ${TXN_PARTITIONS_MAX} partitions`)
  }
  for (const tp of partitions) {
    const valid = typeof tp === 'object' && tp !== null && typeof tp.topic === 'string' && tp.topic.length > 0 && tp.topic.length <= TOPIC_NAME_LENGTH_MAX &&
      Number.isSafeInteger(tp.partition) && tp.partition >= 0
    if (!valid) return error(ErrorCode.INVALID_REQUEST, `not a topic partition: ${JSON.stringify(tp)?.slice(0, 80)}`)
  }
  return undefined
}

function groupIdProblem(groupId: unknown): SkeinError | undefined {
  // eslint-disable-next-line no-control-regex
  if (typeof groupId === 'string' && groupId.length > 0 && groupId.length <= GROUP_ID_CHARS_MAX && !/[\u0000-\u001f\u007f]/.test(groupId)) return undefined
  return error(ErrorCode.INVALID_GROUP_ID, `group id must be 1 to ${GROUP_ID_CHARS_MAX} characters without control characters, got ${JSON.stringify(groupId)?.slice(0, 80)}`)
}

function defined(meta: TxnMetadata | undefined, id: string): TxnMetadata {
  assert.ok(meta !== undefined, `transaction ${id} has no committed state`)
  return meta
}

function concurrent(id: string): SkeinError {
  return error(ErrorCode.CONCURRENT_TRANSACTIONS, `transactional id ${id} has a write or a commit/abort in progress; retry shortly`)
}

function badState(id: string, state: string, wanted: string): SkeinError {
  return error(ErrorCode.INVALID_TXN_STATE, `cannot ${wanted} transactional id ${id} in state ${state}`)
}

function error(spec: ErrorSpec, message: string): SkeinError {
  return new SkeinError(spec, message)
}

function ok<RequestId>(requestId: RequestId): TxnEffect<RequestId> {
  return { type: 'reply', requestId }
}

function fail<RequestId>(requestId: RequestId, cause: SkeinError): TxnEffect<RequestId> {
  return { type: 'reply', requestId, error: cause }
}
