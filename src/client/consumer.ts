import type { TimerHandle } from '../env/index.js'
import { batchLastOffset, checkBatchHeader } from '../log/batch-header.js'
import { readCommitted } from '../log/read-committed.js'
import { DECODE_LIMITS_DEFAULT, decodeRecordBatches } from '../log/record-batch.js'
import { ASSIGNOR_NAMES } from './assignors.js'
import { ErrorCode, type FetchIsolation, type FetchResponse, GROUP_ID_CHARS_MAX, type GroupAssignorName, type OffsetCommitEntry, SkeinError } from '../wire/index.js'
import { validateTopicName } from './admin.js'
import { type Deferred, deferred } from './call-timeout.js'
import { type ClientContext, requireNonNegativeInteger, requirePositiveInteger } from './client.js'
import { ClientErrorReason, SkeinClientError, asSkeinError, invalidArgument } from './errors.js'
import { GroupMember, type GroupMetadata, type GroupSubscription, TOPIC_REFRESH_MS_DEFAULT } from './group-member.js'
import { asBuffer, fromRecordHeaders } from './records.js'

/**
 * A consumer: either of partitions it is given (`assign`, `seek`), or, with a `groupId`, a
 * member of a consumer group that shares the partitions of the topics it subscribes to
 * (`subscribe`); then read with `for await (const m of consumer)` or
 * `run({ eachMessage | eachBatch })`.
 *
 * Groups (Kafka's classic group protocol; the membership itself is group-member.ts): the
 * group's coordinator hands each member its partitions; a member starts each new partition at
 * the group's committed offset, else where `resetPolicy` says. Delivery is at least once by
 * default: the offset committed for a partition is the one after the last message
 * *processed*, not the last delivered. With the iterator a message counts as processed when
 * the loop asks for the next one (so after a `break`, or a throw, the last message is not);
 * with run(), when eachMessage or eachBatch resolves. With `autoCommit` (default) the
 * processed positions are committed every `autoCommitIntervalMs`, before partitions are given
 * up in a rebalance, and on close(); `commit()` commits them now. A consumer with a groupId
 * that uses assign() may commit too (as no member of the group), and starts a partition
 * assigned without an offset at the group's committed offset when there is one.
 *
 * Fetching is pipelined per partition: one fetch in flight per partition, started again as
 * soon as its answer arrives, while the application works through earlier records, until
 * `prefetchBytesMax` of undelivered record bytes are buffered for it (then it waits for the
 * application). Answers are buffered as the bytes that came and decoded only when handed to
 * the application: messages are made just before they are used, so they die young (cheap for
 * the garbage collector) instead of ageing in the prefetch buffer. The broker holds a fetch up to `maxWaitMs` when there is nothing new, so an
 * idle consumer costs one request per partition per maxWaitMs. Only committed records (at or
 * below the high watermark) are ever returned; control batches are skipped; compressed batches
 * are inflated by the batch decoder. With `isolation: 'read_committed'` only records of
 * committed transactions (and non-transactional ones) are returned: fetches stop at the last
 * stable offset, and the batches of aborted transactions are dropped (never refetched).
 *
 * Retries: each fetch is one BrokerClient call, which retries retriable errors (leader moves,
 * elections) until its deadline; if it still fails with a retriable error the partition
 * backs off (up to 1 s) and fetches again, for as long as the consumer is open. An offset out
 * of range resets to the start or the end of the log (`fromBeginning`), as Kafka's
 * auto.offset.reset does. Any other error stops that partition and is thrown to the reader
 * (the iterator or run()); `seek` or `assign` restarts it.
 */
export interface ConsumerConfig {
  /** Where a partition assigned without an offset starts, and where an out-of-range offset resets to: true the earliest, false (default) the latest. */
  fromBeginning?: boolean
  /**
   * Where a partition starts that has no committed offset (or whose offset is out of range):
   * 'earliest', 'latest', or 'none' (the partition fails with OFFSET_OUT_OF_RANGE, thrown to
   * the reader). Default from `fromBeginning`. Kafka's auto.offset.reset.
   */
  resetPolicy?: 'earliest' | 'latest' | 'none'
  /** The consumer group: needed by subscribe() and commit(). 1 to 255 characters, no control characters. */
  groupId?: string
  /** Static membership (Kafka's group.instance.id): a restart with the same id within the session timeout keeps the member's partitions without a rebalance. */
  groupInstanceId?: string
  /** Without a heartbeat for this long the coordinator removes the member and gives its partitions away. Default 30 s (Kafka 3's default). */
  sessionTimeoutMs?: number
  /** Heartbeat period; below sessionTimeoutMs (a third or less is usual). Default 3 s. */
  heartbeatIntervalMs?: number
  /**
   * Kafka's max.poll.interval.ms: how long a rebalance waits for the members to rejoin, and the
   * longest the application may hold one message (or batch) before this member leaves the group
   * (its partitions go to the others; it joins again once the application is done). Default 60 s.
   */
  rebalanceTimeoutMs?: number
  /** Assignors, preferred first; the group uses the first every member supports. Default ['cooperative-sticky', 'range']. */
  assignors?: readonly GroupAssignorName[]
  /** Commit processed positions by itself (every autoCommitIntervalMs, before a rebalance takes partitions, on close). Default true. */
  autoCommit?: boolean
  /** Default 5 s (Kafka's auto.commit.interval.ms). */
  autoCommitIntervalMs?: number
  /** How often a pattern subscription looks for new topics, and the group leader for new partitions. Default 30 s. */
  topicRefreshMs?: number
  /** Most bytes one fetch of one partition returns (the broker may return one larger batch). Default 1 MiB. */
  maxBytes?: number
  /** How long the broker may hold a fetch while there is nothing new. Default 500 ms (Kafka's fetch.max.wait.ms). */
  maxWaitMs?: number
  /**
   * Kafka's fetch.min.bytes: the leader holds a fetch (up to maxWaitMs) until at least this many
   * bytes of records are there, trading latency for fewer, larger answers. Default 1.
   */
  minBytes?: number
  /** Undelivered bytes buffered per partition before its fetching waits for the application. Default 2 x maxBytes. */
  prefetchBytesMax?: number
  /**
   * Kafka's isolation.level. 'read_uncommitted' (default): every record below the high
   * watermark, transactional or not, whatever its transaction's outcome. 'read_committed':
   * fetches stop at the last stable offset (the first record of a transaction still open or
   * not yet committed), and records of aborted transactions are never returned; so a
   * partition's reading waits behind an open transaction.
   */
  isolation?: FetchIsolation
}

export interface TopicPartition {
  topic: string
  partition: number
}

export interface TopicPartitionOffset extends TopicPartition {
  /** Start here; without it, where `fromBeginning` says. */
  offset?: number
}

/** Where to move a partition: an offset, the first record at or after a timestamp (ms), or either end of the log. */
export type SeekTarget = number | 'earliest' | 'latest' | { timestamp: number }

export interface ConsumerMessage {
  readonly topic: string
  readonly partition: number
  readonly offset: number
  /** Create time, or the append time on a topic with message.timestamp.type=LogAppendTime. */
  readonly timestamp: number
  readonly key: Buffer | null
  readonly value: Buffer | null
  /** Name -> value. Keys, values and header values are views into the fetched bytes (no copy). */
  readonly headers: Readonly<Record<string, Buffer | null>>
}

export interface ConsumerBatch {
  readonly topic: string
  readonly partition: number
  readonly messages: readonly ConsumerMessage[]
  /** The partition's high watermark when the batch was fetched: the offset the next record will get. */
  readonly highWatermark: number
}

/** What subscribe() calls around a rebalance; a listener that throws is logged and its error thrown to the reader once. */
export interface RebalanceListener {
  /** After each rebalance, with the partitions it added (possibly none). */
  onAssigned?(partitions: TopicPartition[]): void | Promise<void>
  /** Before partitions are given up (after the automatic commit, if on): the place to commit by hand. */
  onRevoked?(partitions: TopicPartition[]): void | Promise<void>
  /** Partitions taken away without a chance to commit (the session expired). Default: onRevoked. */
  onLost?(partitions: TopicPartition[]): void | Promise<void>
}

export interface CommitOffset extends TopicPartition {
  /** The next offset to read: the last processed + 1. */
  offset: number
  metadata?: string
}

export interface CommittedOffset extends TopicPartition {
  /** Undefined when the group has no offset for the partition. */
  readonly offset: number | undefined
  readonly metadata: string
}

export interface RunOptions {
  eachMessage?: (payload: { topic: string; partition: number; message: ConsumerMessage }) => Promise<void> | void
  eachBatch?: (payload: { batch: ConsumerBatch }) => Promise<void> | void
}

const MAX_BYTES_DEFAULT = 1024 * 1024
const MAX_WAIT_MS_DEFAULT = 500
/** Backoff of a partition whose fetch failed with a retriable error after BrokerClient's own retries; doubles up to the cap. */
const FETCH_RETRY_BACKOFF_MS = 100
const FETCH_RETRY_BACKOFF_MS_MAX = 1_000
/** A fetch that returned nothing without waiting (maxWaitMs 0) waits this long before the next: no busy loop. */
const EMPTY_FETCH_PAUSE_MS = 100
const SESSION_TIMEOUT_MS_DEFAULT = 30_000
const HEARTBEAT_INTERVAL_MS_DEFAULT = 3_000
const REBALANCE_TIMEOUT_MS_DEFAULT = 60_000
const AUTO_COMMIT_INTERVAL_MS_DEFAULT = 5_000
const ASSIGNORS_DEFAULT: readonly GroupAssignorName[] = ['cooperative-sticky', 'range']
/** Group ids: as the coordinator takes them (1 to GROUP_ID_CHARS_MAX characters, no control characters). */
const GROUP_ID_FORBIDDEN = /[\u0000-\u001f\u007f]/
/** listOffsets timestamps with special meaning, as in Kafka. */
const LATEST_TIMESTAMP = -1
const EARLIEST_TIMESTAMP = -2

/** 'committed': the group's committed offset, else where resetPolicy says. */
type PendingSeek = 'earliest' | 'latest' | 'committed' | { timestamp: number }
type ResetPolicy = NonNullable<ConsumerConfig['resetPolicy']>

/** One fetch answer as it came: decoded when handed to the application. */
interface FetchedChunk {
  readonly records: Uint8Array
  /** Records below this offset (the batch began before the offset asked for) are skipped. */
  readonly fromOffset: number
  readonly highWatermark: number
  /** The partition epoch it was fetched under (see stillCurrent). */
  readonly epoch: number
}

interface PartitionState {
  readonly topic: string
  readonly partition: number
  /** Next offset to deliver; undefined until a pending seek is resolved. */
  position: number | undefined
  /**
   * The offset after the last record delivered since the partition was assigned or last
   * seeked; undefined when none has been. Unlike `position`, never set by a seek or by the
   * committed offset a (re)assigned partition starts from (see deliveredPosition).
   */
  delivered: number | undefined
  /** Next offset to fetch (ahead of `position` by what is buffered). */
  fetchOffset: number
  pendingSeek: PendingSeek | undefined
  /** Bumped by every seek: answers to fetches started before it are dropped. */
  epoch: number
  /** Fetched answers not yet handed over, oldest first. */
  readonly buffered: FetchedChunk[]
  bufferedBytes: number
  paused: boolean
  fetching: boolean
  retryTimer: TimerHandle | undefined
  failuresInRow: number
  /** A non-retriable failure: the partition stops until the next seek. */
  failed: SkeinError | undefined
  /** The failure is yet to be thrown to the reader. */
  failureUnreported: boolean
  validated: boolean
  /** Offset after the last message the application processed: what a commit stores. */
  processed: number | undefined
  /** The offset last committed (or read as committed) for it by this consumer. */
  committed: number | undefined
  /** A committed-offset lookup shared by partitions assigned together (one request for all). */
  committedLookup: Promise<Map<string, number>> | undefined
}

interface GroupSettings {
  readonly groupId: string
  readonly groupInstanceId: string | undefined
  readonly sessionTimeoutMs: number
  readonly heartbeatIntervalMs: number
  readonly rebalanceTimeoutMs: number
  readonly assignors: readonly GroupAssignorName[]
  readonly autoCommit: boolean
  readonly autoCommitIntervalMs: number
  readonly topicRefreshMs: number
}

export class Consumer implements AsyncIterable<ConsumerMessage> {
  private readonly resetPolicy: ResetPolicy
  private readonly group: GroupSettings | undefined
  /** assign() and subscribe() exclude each other. */
  private mode: 'none' | 'assign' | 'subscribe' = 'none'
  private member: GroupMember | undefined
  private listener: RebalanceListener = {}
  /** Commits run one after another, so a later commit never lands before an earlier one. */
  private commitTail: Promise<void> = Promise.resolve()
  /** A commit of the processed positions queued behind the running one: later ones join it. */
  private queuedProcessedCommit: Promise<void> | undefined
  private autoCommitTimer: TimerHandle | undefined
  /** The group membership failed for good: thrown to every read. */
  private groupFailure: SkeinError | undefined
  /** A rebalance listener's error, thrown to the reader once. */
  private listenerError: SkeinError | undefined
  private readonly maxBytes: number
  private readonly maxWaitMs: number
  private readonly minBytes: number
  private readonly prefetchBytesMax: number
  private readonly isolation: FetchIsolation
  private readonly partitions = new Map<string, PartitionState>()
  /** Round-robin cursor over partitions, so one busy partition does not starve the rest. */
  private nextPartitionIndex = 0
  /** The partition epoch each buffered batch was fetched under (see stillCurrent). */
  private readonly batchEpochs = new WeakMap<ConsumerBatch, number>()
  private wakeup: Deferred<void> | undefined
  private reading = false
  private closed = false
  private closing: Promise<void> | undefined
  /**
   * When the application was handed the message (or batch) it is processing now; undefined
   * between them. A group member processing longer than rebalanceTimeoutMs (Kafka's
   * max.poll.interval.ms) leaves its group, so its partitions do not stall with it.
   */
  private busySinceMs: number | undefined

  constructor(private readonly context: ClientContext, config: ConsumerConfig) {
    if (typeof config !== 'object' || config === null) throw invalidArgument('consumer config must be an object')
    this.resetPolicy = config.resetPolicy ?? (config.fromBeginning === true ? 'earliest' : 'latest')
    if (!['earliest', 'latest', 'none'].includes(this.resetPolicy)) throw invalidArgument(`resetPolicy must be 'earliest', 'latest' or 'none', got ${JSON.stringify(config.resetPolicy)}`)
    this.group = groupSettings(config)
    this.maxBytes = config.maxBytes ?? MAX_BYTES_DEFAULT
    this.maxWaitMs = config.maxWaitMs ?? MAX_WAIT_MS_DEFAULT
    this.prefetchBytesMax = config.prefetchBytesMax ?? 2 * this.maxBytes
    requirePositiveInteger('maxBytes', this.maxBytes)
    requireNonNegativeInteger('maxWaitMs', this.maxWaitMs)
    requirePositiveInteger('prefetchBytesMax', this.prefetchBytesMax)
    this.minBytes = config.minBytes ?? 1
    requirePositiveInteger('minBytes', this.minBytes)
    this.isolation = config.isolation ?? 'read_uncommitted'
    if (this.isolation !== 'read_uncommitted' && this.isolation !== 'read_committed') {
      throw invalidArgument(`isolation must be 'read_uncommitted' or 'read_committed', got ${JSON.stringify(config.isolation)}`)
    }
  }

  /**
   * Reads exactly these partitions from now on (replacing any earlier assignment). A
   * partition without an offset starts at the group's committed offset (with a groupId) if
   * there is one, else where `resetPolicy` says. Not with subscribe().
   */
  assign(partitions: readonly TopicPartitionOffset[]): void {
    this.assertOpen()
    if (this.mode === 'subscribe') throw invalidArgument('this consumer subscribed to topics: its group assigns its partitions (assign() and subscribe() exclude each other)')
    if (!Array.isArray(partitions)) throw invalidArgument('assign needs an array of { topic, partition, offset? }')
    const wanted = new Map<string, TopicPartitionOffset>()
    for (const tp of partitions) {
      validateTopicPartition(tp)
      if (tp.offset !== undefined) requireNonNegativeInteger('offset', tp.offset)
      wanted.set(keyOf(tp), tp)
    }
    this.mode = 'assign'
    this.removePartitions([...this.partitions.values()].filter((state) => !wanted.has(keyOf(state))))
    this.addPartitions([...wanted.values()].filter((tp) => tp.offset === undefined))
    for (const tp of wanted.values()) {
      if (tp.offset === undefined) continue
      if (!this.partitions.has(keyOf(tp))) this.partitions.set(keyOf(tp), this.newState(tp))
      this.seek(tp, tp.offset)
    }
    this.startAutoCommit()
    this.pump()
  }

  /**
   * Joins the consumer group (`groupId`) and reads the partitions it assigns this member, of
   * these topics or of every topic matching the pattern (names starting with '__' left out;
   * new matching topics are found every `topicRefreshMs`). The listener hears of each
   * rebalance. Once per consumer; not with assign().
   */
  subscribe(topics: string | readonly string[] | RegExp, listener: RebalanceListener = {}): void {
    this.assertOpen()
    const group = this.group
    if (group === undefined) throw invalidArgument('subscribe needs a groupId in the consumer config')
    if (this.mode === 'assign') throw invalidArgument('this consumer has assigned partitions: assign() and subscribe() exclude each other')
    if (this.mode === 'subscribe') throw invalidArgument('this consumer has subscribed already')
    if (typeof listener !== 'object' || listener === null) throw invalidArgument('the rebalance listener must be an object { onAssigned?, onRevoked?, onLost? }')
    const subscription = validateSubscription(topics)
    this.mode = 'subscribe'
    this.listener = listener
    this.member = new GroupMember(this.context, group, subscription, {
      owned: () => this.assignment(),
      assigned: (tps) => this.groupAssigned(tps),
      revoked: (tps) => this.groupRevoked(tps),
      lost: (tps) => this.groupLost(tps),
      commit: () => this.autoCommitNow('before rejoining the group'),
      failed: (error) => this.groupFailed(error),
      busyForMs: () => (this.busySinceMs === undefined ? 0 : this.context.env.clock.nowMs() - this.busySinceMs),
    })
    this.member.start()
    this.startAutoCommit()
  }

  /** The group membership: undefined without a groupId; memberId '' and generation -1 outside a generation (or with assign()). */
  groupMetadata(): GroupMetadata | undefined {
    if (this.group === undefined) return undefined
    return this.member?.metadata() ?? { groupId: this.group.groupId, memberId: '', generation: -1 }
  }

  /**
   * Commits offsets for the group: these, or (no argument) the processed position of every
   * partition read that moved since its last commit. Commits run in call order. In a group,
   * a commit names the member's generation: after a rebalance took a partition it fails
   * (REBALANCE_IN_PROGRESS, ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, PARTITION_NOT_ASSIGNED).
   */
  async commit(offsets?: readonly CommitOffset[]): Promise<void> {
    this.assertOpen()
    if (this.group === undefined) throw invalidArgument('commit needs a groupId in the consumer config')
    if (offsets === undefined) return this.commitProcessed(undefined, true)
    if (!Array.isArray(offsets)) throw invalidArgument('commit takes an array of { topic, partition, offset, metadata? }')
    const entries = offsets.map(validateCommitOffset)
    return this.enqueueCommit(() => entries, true)
  }

  /** commit() without waiting: a failure is logged. */
  commitAsync(offsets?: readonly CommitOffset[]): void {
    this.commit(offsets).catch((error: unknown) => {
      this.context.env.log.warn({ groupId: this.group?.groupId, error: asSkeinError(error).message }, 'commitAsync failed')
    })
  }

  /** The group's committed offsets of these partitions, in the order asked (offset undefined where there is none). */
  async committed(partitions: readonly TopicPartition[]): Promise<CommittedOffset[]> {
    this.assertOpen()
    const group = this.group
    if (group === undefined) throw invalidArgument('committed needs a groupId in the consumer config')
    if (!Array.isArray(partitions)) throw invalidArgument('committed takes an array of { topic, partition }')
    for (const tp of partitions) validateTopicPartition(tp)
    const request = { groupId: group.groupId, partitions: partitions.map(({ topic, partition }) => ({ topic, partition })) }
    const response = await this.context.call(`fetchOffsets '${group.groupId}'`, (broker) => broker.fetchOffsets(request))
    const found = new Map(response.offsets.map((entry) => [keyOf(entry), entry]))
    return partitions.map(({ topic, partition }) => {
      const entry = found.get(keyOf({ topic, partition }))
      return { topic, partition, offset: entry?.offset, metadata: entry?.metadata ?? '' }
    })
  }

  assignment(): TopicPartition[] {
    return [...this.partitions.values()].map(({ topic, partition }) => ({ topic, partition }))
  }

  /**
   * Moves an assigned partition: records before the new position that are buffered are
   * dropped, and the next record read is the one at it. Timestamps, 'earliest' and 'latest'
   * are resolved by the partition's leader (listOffsets) before the next fetch; a timestamp
   * past every record means the end of the log.
   */
  seek(tp: TopicPartition, target: SeekTarget): void {
    this.assertOpen()
    const state = this.stateOf(tp)
    state.epoch++
    state.buffered.length = 0
    state.bufferedBytes = 0
    state.failed = undefined
    state.failureUnreported = false
    state.failuresInRow = 0
    state.retryTimer?.cancel()
    state.retryTimer = undefined
    // A user's seek may move backwards on purpose: what is processed after it is committed even if lower.
    state.committed = undefined
    if (typeof target === 'number') {
      requireNonNegativeInteger('seek offset', target)
      state.pendingSeek = undefined
      state.position = target
      state.fetchOffset = target
      state.processed = target
    } else {
      state.pendingSeek = validateSeekTarget(target)
      state.position = undefined
      state.processed = undefined
    }
    state.delivered = undefined
    this.pump()
    this.wake()
  }

  /** The next offset this consumer returns for `tp`; undefined while a seek is being resolved. */
  position(tp: TopicPartition): number | undefined {
    return this.stateOf(tp).position
  }

  /**
   * The offset after the last record of `tp` this consumer delivered since the partition was
   * assigned to it or last seeked; undefined when it has delivered none since (or `tp` is not
   * assigned). What a transaction may commit for the partition: a batch read before a
   * rebalance took the partition away and handed it back is past none of it, even when the
   * new start (another member's commit) happens to equal the batch's end.
   */
  deliveredPosition(tp: TopicPartition): number | undefined {
    return this.partitions.get(keyOf(tp))?.delivered
  }

  pause(partitions: readonly TopicPartition[]): void {
    for (const tp of partitions) this.stateOf(tp).paused = true
  }

  resume(partitions: readonly TopicPartition[]): void {
    for (const tp of partitions) this.stateOf(tp).paused = false
    this.pump()
    this.wake()
  }

  paused(): TopicPartition[] {
    return [...this.partitions.values()].filter((state) => state.paused).map(({ topic, partition }) => ({ topic, partition }))
  }

  /**
   * Stops fetching; a reader waiting for records ends (the iterator finishes, run() resolves).
   * In a group: commits the processed positions (with autoCommit), tells the listener its
   * partitions are revoked, and leaves the group, so it rebalances at once. Every call returns
   * the same promise, so a Client closing meanwhile waits for the last commit.
   */
  close(): Promise<void> {
    this.closing ??= this.closeOnce()
    return this.closing
  }

  private async closeOnce(): Promise<void> {
    this.closed = true
    this.autoCommitTimer?.cancel()
    this.autoCommitTimer = undefined
    for (const state of this.partitions.values()) {
      state.retryTimer?.cancel()
      state.epoch++
    }
    this.wake()
    if (this.group !== undefined) await this.closeGroup()
    this.context.forget(this)
  }

  /** Calls the handler for each message (or batch) in turn, until the consumer is closed; rejects with a handler's or a partition's error. */
  async run(options: RunOptions): Promise<void> {
    const { eachMessage, eachBatch } = options ?? {}
    if (typeof eachMessage !== 'function' && typeof eachBatch !== 'function') throw invalidArgument('run needs eachMessage or eachBatch')
    this.startReading()
    try {
      for (;;) {
        const batch = await this.nextBatch()
        if (batch === undefined) return
        if (eachBatch !== undefined) {
          // The batch is delivered as the handler gets it: the position moves past it first, as
          // Kafka's does when poll() returns records (a transaction's sendOffsets checks against it).
          const last = batch.messages[batch.messages.length - 1]
          if (last !== undefined && !this.stillCurrent(batch, last)) continue
          this.busySinceMs = this.context.env.clock.nowMs()
          try {
            await eachBatch({ batch })
          } finally {
            this.busySinceMs = undefined
          }
          if (last !== undefined) this.markProcessed(batch, last)
          continue
        }
        for (const message of batch.messages) {
          if (!this.stillCurrent(batch, message)) break
          this.busySinceMs = this.context.env.clock.nowMs()
          try {
            await (eachMessage as NonNullable<RunOptions['eachMessage']>)({ topic: batch.topic, partition: batch.partition, message })
          } finally {
            this.busySinceMs = undefined
          }
          this.markProcessed(batch, message)
        }
      }
    } finally {
      this.reading = false
    }
  }

  /** Messages one at a time; ends when the consumer is closed. Breaking out does not close the consumer. */
  async *[Symbol.asyncIterator](): AsyncIterator<ConsumerMessage> {
    this.startReading()
    try {
      for (;;) {
        const batch = await this.nextBatch()
        if (batch === undefined) return
        for (const message of batch.messages) {
          if (!this.stillCurrent(batch, message)) break
          this.busySinceMs = this.context.env.clock.nowMs()
          yield message
          // Resumed: the application is done with the message.
          this.busySinceMs = undefined
          this.markProcessed(batch, message)
        }
      }
    } finally {
      this.busySinceMs = undefined
      this.reading = false
    }
  }

  // ---- delivery ----

  private startReading(): void {
    this.assertOpen()
    if (this.reading) throw invalidArgument('this consumer is already being read (one iterator or run() at a time)')
    this.reading = true
  }

  /**
   * True if `message` may still be delivered: no seek or reassignment moved its partition
   * since its batch was taken from the buffer. Moves the partition's position past it.
   */
  private stillCurrent(batch: ConsumerBatch, message: ConsumerMessage): boolean {
    const state = this.partitions.get(keyOf(batch))
    if (this.closed || state === undefined || state.epoch !== this.batchEpochs.get(batch)) return false
    state.position = message.offset + 1
    state.delivered = message.offset + 1
    return true
  }

  /** After the application processed `message`: a commit stores the offset after it (unless its partition moved meanwhile). */
  private markProcessed(batch: ConsumerBatch, message: ConsumerMessage): void {
    const state = this.partitions.get(keyOf(batch))
    if (state === undefined || state.epoch !== this.batchEpochs.get(batch)) return
    state.processed = message.offset + 1
  }

  /** The next buffered batch of an unpaused partition (round robin), waiting for one; undefined once closed. */
  private async nextBatch(): Promise<ConsumerBatch | undefined> {
    for (;;) {
      if (this.closed) return undefined
      if (this.groupFailure !== undefined) throw this.groupFailure
      const listenerError = this.listenerError
      this.listenerError = undefined
      if (listenerError !== undefined) throw listenerError
      const state = this.nextReadyPartition()
      if (state === undefined) {
        this.wakeup ??= deferred()
        await this.wakeup.promise
        continue
      }
      const batch = this.take(state)
      if (batch !== undefined) return batch
      // Control records only, or bytes that did not decode (the failure is thrown on the next pass).
    }
  }

  /** The next unpaused partition with an answer buffered, round robin; a partition's unreported failure is thrown first. */
  private nextReadyPartition(): PartitionState | undefined {
    const states = [...this.partitions.values()]
    for (let step = 0; step < states.length; step++) {
      const state = states[(this.nextPartitionIndex + step) % states.length] as PartitionState
      if (state.failureUnreported) {
        state.failureUnreported = false
        throw state.failed
      }
      if (state.paused || state.buffered.length === 0) continue
      this.nextPartitionIndex = (this.nextPartitionIndex + step + 1) % states.length
      return state
    }
    return undefined
  }

  /** Decodes the partition's oldest buffered answer; undefined if it held no message (control records only) or could not be decoded. */
  private take(state: PartitionState): ConsumerBatch | undefined {
    const chunk = state.buffered.shift() as FetchedChunk
    state.bufferedBytes -= chunk.records.length
    this.pump() // room in the buffer: fetching may go on
    let messages: ConsumerMessage[]
    try {
      messages = decodeMessages(state, chunk)
    } catch (error) {
      // Bytes that do not decode (corrupt, or a codec this process lacks) stop the partition
      // until a seek, as Kafka's consumer does: fetching again would only skip past them. What
      // was fetched behind them (buffered or in flight) is dropped, so nothing comes out of order.
      state.epoch++
      state.buffered.length = 0
      state.bufferedBytes = 0
      this.stopPartition(state, asSkeinError(error))
      return undefined
    }
    if (messages.length === 0) return undefined
    const batch: ConsumerBatch = { topic: state.topic, partition: state.partition, messages, highWatermark: chunk.highWatermark }
    this.batchEpochs.set(batch, chunk.epoch)
    return batch
  }

  private wake(): void {
    const wakeup = this.wakeup
    this.wakeup = undefined
    wakeup?.resolve()
  }

  // ---- fetching ----

  /** Starts a fetch (or offset lookup) for every partition that may have one and has none running. */
  private pump(): void {
    if (this.closed) return
    for (const state of this.partitions.values()) {
      if (state.fetching || state.paused || state.failed !== undefined || state.retryTimer !== undefined) continue
      if (state.bufferedBytes >= this.prefetchBytesMax) continue
      state.fetching = true
      const epoch = state.epoch
      this.fetchOnce(state).then(
        () => this.fetchSettled(state, epoch, undefined),
        (error: unknown) => this.fetchSettled(state, epoch, asSkeinError(error)),
      )
    }
  }

  private async fetchOnce(state: PartitionState): Promise<void> {
    const epoch = state.epoch
    if (!state.validated) await this.validatePartition(state)
    if (state.pendingSeek !== undefined) {
      const offset = await this.resolveSeek(state, state.pendingSeek)
      if (state.epoch !== epoch) return
      state.pendingSeek = undefined
      state.position = offset
      state.delivered = undefined
      state.fetchOffset = offset
      state.processed = offset
      return
    }
    const { topic, partition } = state
    const offset = state.fetchOffset
    const response = await this.context.call(`fetch ${topic}/${partition}@${offset}`, (broker) => broker.fetch(topic, partition, offset, this.maxBytes, this.maxWaitMs, this.minBytes, this.isolation), this.maxWaitMs)
    if (state.epoch !== epoch || this.closed) return
    const delivered = this.buffer(state, response)
    if (!delivered && this.maxWaitMs === 0) await new Promise<void>((resolve) => this.context.env.clock.setTimer(EMPTY_FETCH_PAUSE_MS, resolve))
  }

  /** Checks once that the topic and partition exist, so a typo fails fast with UNKNOWN_TOPIC instead of retrying. */
  private async validatePartition(state: PartitionState): Promise<void> {
    const count = await this.context.partitionCount(state.topic, state.partition)
    if (state.partition >= count) throw new SkeinClientError(ClientErrorReason.UNKNOWN_TOPIC, `topic '${state.topic}' has ${count} partitions; partition ${state.partition} does not exist`)
    state.validated = true
  }

  private async resolveSeek(state: PartitionState, target: PendingSeek): Promise<number> {
    if (target === 'committed') return this.resolveCommitted(state)
    const timestamp = target === 'earliest' ? EARLIEST_TIMESTAMP : target === 'latest' ? LATEST_TIMESTAMP : target.timestamp
    const { topic, partition } = state
    const found = await this.context.call(`listOffsets ${topic}/${partition}`, (broker) => broker.listOffsets(topic, partition, timestamp, this.isolation))
    if (found.offset >= 0) return found.offset
    // No record at or after the timestamp: the end of the log, as Kafka answers.
    const latest = await this.context.call(`listOffsets ${topic}/${partition}`, (broker) => broker.listOffsets(topic, partition, LATEST_TIMESTAMP, this.isolation))
    return latest.offset
  }

  /**
   * Buffers a fetch answer as it came and moves the fetch offset past it (from the batch
   * headers alone); true if it held any batch. read_committed keeps only the batches its
   * reader may see (readCommitted, headers only), but the fetch offset still moves past all
   * that came: aborted batches are skipped, not fetched again.
   */
  private buffer(state: PartitionState, response: FetchResponse): boolean {
    const records = response.records
    if (records.length === 0) return false
    const nextOffset = nextOffsetAfter(records, state.fetchOffset)
    const kept = this.isolation === 'read_committed' ? readCommitted(records, response.abortedTransactions ?? []).views : [records]
    for (const view of kept) {
      state.buffered.push({ records: view, fromOffset: state.fetchOffset, highWatermark: response.highWatermark, epoch: state.epoch })
      state.bufferedBytes += view.length
    }
    state.fetchOffset = nextOffset
    this.wake()
    return true
  }

  private fetchSettled(state: PartitionState, epoch: number, error: SkeinError | undefined): void {
    state.fetching = false
    if (this.closed || state.epoch !== epoch || this.partitions.get(keyOf(state)) !== state) {
      this.pump()
      return
    }
    if (error === undefined) state.failuresInRow = 0
    else this.fetchFailed(state, error)
    this.pump()
  }

  private fetchFailed(state: PartitionState, error: SkeinError): void {
    if (error.code === ErrorCode.OFFSET_OUT_OF_RANGE.code) {
      this.context.env.log.warn({ topic: state.topic, partition: state.partition, offset: state.fetchOffset, resetPolicy: this.resetPolicy, error: error.message }, 'fetch offset out of range; resetting the position by the reset policy')
      if (this.resetPolicy === 'none') {
        this.stopPartition(state, error)
        return
      }
      state.pendingSeek = this.resetPolicy
      state.position = undefined
      state.delivered = undefined
      return
    }
    if (error.retriable && !(error instanceof SkeinClientError && error.reason === ClientErrorReason.UNKNOWN_TOPIC)) {
      state.failuresInRow++
      const delayMs = Math.min(FETCH_RETRY_BACKOFF_MS_MAX, FETCH_RETRY_BACKOFF_MS * 2 ** Math.min(state.failuresInRow - 1, 10))
      state.retryTimer = this.context.env.clock.setTimer(delayMs, () => {
        state.retryTimer = undefined
        this.pump()
      })
      return
    }
    this.stopPartition(state, error)
  }

  /** A failure the partition does not get past by itself: thrown to the reader once; `seek` or `assign` restarts it. */
  private stopPartition(state: PartitionState, error: SkeinError): void {
    state.retryTimer?.cancel()
    state.retryTimer = undefined
    state.failed = error
    state.failureUnreported = true
    this.wake()
  }

  // ---- groups and commits ----

  /** A partition's start: the group's committed offset if it has one, else where resetPolicy says. */
  private async resolveCommitted(state: PartitionState): Promise<number> {
    const key = keyOf(state)
    if (this.group !== undefined) {
      const lookup = state.committedLookup ?? this.lookupCommitted([state])
      state.committedLookup = undefined // a retry asks again
      const committed = (await lookup).get(key)
      if (committed !== undefined) {
        state.committed = committed
        return committed
      }
    }
    if (this.resetPolicy === 'none') {
      const where = this.group === undefined ? 'no group (no groupId)' : `no committed offset in group '${this.group.groupId}'`
      throw new SkeinError(ErrorCode.OFFSET_OUT_OF_RANGE, `${key} has ${where} and resetPolicy is 'none': seek it, or choose 'earliest' or 'latest'`)
    }
    return this.resolveSeek(state, this.resetPolicy)
  }

  /** One fetchOffsets for these partitions: partition key -> committed offset (absent: none). */
  private lookupCommitted(partitions: readonly TopicPartition[]): Promise<Map<string, number>> {
    const groupId = (this.group as GroupSettings).groupId
    const request = { groupId, partitions: partitions.map(({ topic, partition }) => ({ topic, partition })) }
    const lookup = this.context
      .call(`fetchOffsets '${groupId}'`, (broker) => broker.fetchOffsets(request))
      .then((response) => new Map(response.offsets.map((entry) => [keyOf(entry), entry.offset])))
    lookup.catch(() => undefined) // each partition waiting on it sees the failure; none may be
    return lookup
  }

  /** New partitions (those not read already), each starting at the committed offset or per resetPolicy; one lookup for all. */
  private addPartitions(partitions: readonly TopicPartition[]): void {
    const fresh = partitions.filter((tp) => !this.partitions.has(keyOf(tp)))
    if (fresh.length === 0) return
    const lookup = this.group === undefined ? undefined : this.lookupCommitted(fresh)
    for (const tp of fresh) {
      const state = this.newState(tp)
      state.committedLookup = lookup
      this.partitions.set(keyOf(tp), state)
    }
  }

  private removePartitions(states: readonly TopicPartition[]): void {
    for (const tp of states) {
      const state = this.partitions.get(keyOf(tp))
      if (state === undefined) continue
      state.retryTimer?.cancel()
      state.epoch++
      this.partitions.delete(keyOf(tp))
    }
  }

  private async groupAssigned(partitions: readonly TopicPartition[]): Promise<void> {
    if (this.closed) return
    this.addPartitions(partitions)
    this.pump()
    await this.callListener('onAssigned', partitions)
  }

  /** Giving partitions up in order: commit them (autoCommit), tell the listener, stop reading them. */
  private async groupRevoked(partitions: readonly TopicPartition[]): Promise<void> {
    const group = this.group as GroupSettings
    if (group.autoCommit) {
      await this.commitProcessed(new Set(partitions.map(keyOf)), false).catch((error: unknown) => {
        this.context.env.log.warn({ groupId: group.groupId, error: asSkeinError(error).message }, 'commit of revoked partitions failed; their new owner starts at the previous commit')
      })
    }
    await this.callListener('onRevoked', partitions)
    this.removePartitions(partitions)
    this.wake()
  }

  /** Partitions the group took away already: nothing to commit. */
  private async groupLost(partitions: readonly TopicPartition[]): Promise<void> {
    await this.callListener('onLost', partitions)
    this.removePartitions(partitions)
    this.wake()
  }

  private groupFailed(error: SkeinError): void {
    this.groupFailure = error
    this.wake()
  }

  /** Calls a listener method with a copy of the partitions; its failure is logged and thrown to the reader once. */
  private async callListener(name: keyof RebalanceListener, partitions: readonly TopicPartition[]): Promise<void> {
    const listener = this.listener
    const method = name === 'onLost' ? (listener.onLost ?? listener.onRevoked) : listener[name]
    if (method === undefined) return
    try {
      await method.call(listener, partitions.map(({ topic, partition }) => ({ topic, partition })))
    } catch (error) {
      const failure = asSkeinError(error)
      this.context.env.log.error({ groupId: this.group?.groupId, listener: name, error: failure.message }, 'rebalance listener failed')
      this.listenerError ??= failure
      this.wake()
    }
  }

  private async closeGroup(): Promise<void> {
    const member = this.member
    await member?.stop() // no rebalance runs while the last commit is made
    await this.autoCommitNow('on close')
    const owned = this.assignment()
    if (member !== undefined && owned.length > 0) await this.callListener('onRevoked', owned)
    await member?.leave()
  }

  /** With autoCommit: commits the processed positions now; a failure is logged. */
  private async autoCommitNow(why: string): Promise<void> {
    const group = this.group as GroupSettings
    if (!group.autoCommit) return
    await this.commitProcessed(undefined, false).catch((error: unknown) => {
      this.context.env.log.warn({ groupId: group.groupId, error: asSkeinError(error).message }, `automatic commit ${why} failed`)
    })
  }

  private startAutoCommit(): void {
    const group = this.group
    if (group === undefined || !group.autoCommit || this.autoCommitTimer !== undefined || this.closed) return
    this.autoCommitTimer = this.context.env.clock.setTimer(group.autoCommitIntervalMs, () => {
      this.autoCommitTimer = undefined
      if (this.closed) return
      this.commitProcessed(undefined, true)
        .catch((error: unknown) => this.context.env.log.warn({ groupId: group.groupId, error: asSkeinError(error).message }, 'automatic commit failed'))
        .finally(() => this.startAutoCommit())
    })
  }

  /**
   * Commits the processed positions that moved since their last commit (of the partitions in
   * `only`, or all). A commit of all that is still queued is shared by later callers.
   */
  private commitProcessed(only: ReadonlySet<string> | undefined, notify: boolean): Promise<void> {
    if (only === undefined && this.queuedProcessedCommit !== undefined) return this.queuedProcessedCommit
    const entries = (): OffsetCommitEntry[] => {
      if (only === undefined) this.queuedProcessedCommit = undefined // running: later callers queue a new one
      const list: OffsetCommitEntry[] = []
      for (const state of this.partitions.values()) {
        if (only !== undefined && !only.has(keyOf(state))) continue
        // Never behind the last commit (an explicit commit may have gone further); a seek clears it.
        if (state.processed === undefined || (state.committed !== undefined && state.processed <= state.committed)) continue
        list.push({ topic: state.topic, partition: state.partition, offset: state.processed })
      }
      return list
    }
    const commit = this.enqueueCommit(entries, notify)
    if (only === undefined) this.queuedProcessedCommit = commit
    return commit
  }

  /** Runs a commit after those before it; `entries` is read when its turn comes. */
  private enqueueCommit(entries: () => OffsetCommitEntry[], notify: boolean): Promise<void> {
    const run = async (): Promise<void> => {
      const list = entries()
      if (list.length > 0) await this.sendCommit(list, notify)
    }
    const result = this.commitTail.then(run)
    this.commitTail = result.catch(() => undefined)
    return result
  }

  /** One commitOffsets under the member's generation; a group error is passed to the member when `notify`. */
  private async sendCommit(offsets: readonly OffsetCommitEntry[], notify: boolean): Promise<void> {
    const { groupId, memberId, generation } = this.groupMetadata() as GroupMetadata
    const request = { groupId, memberId, generation, offsets }
    try {
      await this.context.call(`commitOffsets '${groupId}'`, (broker) => broker.commitOffsets(request))
    } catch (error) {
      const failure = asSkeinError(error)
      if (notify) this.member?.commitFailed(failure, generation)
      throw failure
    }
    for (const entry of offsets) {
      const state = this.partitions.get(keyOf(entry))
      if (state !== undefined) state.committed = entry.offset
    }
  }

  // ---- state ----

  private newState(tp: TopicPartition): PartitionState {
    return {
      topic: tp.topic,
      partition: tp.partition,
      position: undefined,
      delivered: undefined,
      fetchOffset: 0,
      pendingSeek: 'committed',
      epoch: 0,
      buffered: [],
      bufferedBytes: 0,
      paused: false,
      fetching: false,
      retryTimer: undefined,
      failuresInRow: 0,
      failed: undefined,
      failureUnreported: false,
      validated: false,
      processed: undefined,
      committed: undefined,
      committedLookup: undefined,
    }
  }

  private stateOf(tp: TopicPartition): PartitionState {
    validateTopicPartition(tp)
    const state = this.partitions.get(keyOf(tp))
    if (state === undefined) throw invalidArgument(`${tp.topic}/${tp.partition} is not assigned to this consumer`)
    return state
  }

  private assertOpen(): void {
    if (this.closed) throw new SkeinClientError(ClientErrorReason.CONSUMER_CLOSED, 'the consumer is closed')
    this.context.assertOpen()
  }
}

/** The messages of a buffered answer: data records at or past its fromOffset, control batches skipped. */
function decodeMessages(state: PartitionState, chunk: FetchedChunk): ConsumerMessage[] {
  const messages: ConsumerMessage[] = []
  for (const batch of decodeRecordBatches(chunk.records)) {
    if (batch.isControl) continue
    for (const record of batch.records) {
      if (record.offset < chunk.fromOffset) continue // the batch began before the offset asked for
      messages.push({
        topic: state.topic,
        partition: state.partition,
        offset: record.offset,
        timestamp: record.timestamp,
        key: asBuffer(record.key),
        value: asBuffer(record.value),
        headers: fromRecordHeaders(record.headers),
      })
    }
  }
  return messages
}

/** The offset after the last batch in `records`, read from the batch headers (no CRC, no records: decoding waits for delivery). */
function nextOffsetAfter(records: Uint8Array, fetchOffset: number): number {
  let next = fetchOffset
  for (let position = 0; position < records.length; ) {
    const info = checkBatchHeader(records, position, DECODE_LIMITS_DEFAULT)
    next = Math.max(next, batchLastOffset(info) + 1)
    position += info.sizeBytes
  }
  return next
}

function keyOf(tp: TopicPartition): string {
  return `${tp.topic}/${tp.partition}`
}

function validateTopicPartition(tp: TopicPartition): void {
  if (typeof tp !== 'object' || tp === null) throw invalidArgument('expected { topic, partition }')
  validateTopicName(tp.topic)
  requireNonNegativeInteger('partition', tp.partition)
}

function groupSettings(config: ConsumerConfig): GroupSettings | undefined {
  const { groupId, groupInstanceId } = config
  if (groupId === undefined) {
    if (groupInstanceId !== undefined) throw invalidArgument('groupInstanceId needs a groupId')
    return undefined
  }
  validateGroupId('groupId', groupId)
  if (groupInstanceId !== undefined) validateGroupId('groupInstanceId', groupInstanceId)
  const settings: GroupSettings = {
    groupId,
    groupInstanceId,
    sessionTimeoutMs: config.sessionTimeoutMs ?? SESSION_TIMEOUT_MS_DEFAULT,
    heartbeatIntervalMs: config.heartbeatIntervalMs ?? HEARTBEAT_INTERVAL_MS_DEFAULT,
    rebalanceTimeoutMs: config.rebalanceTimeoutMs ?? REBALANCE_TIMEOUT_MS_DEFAULT,
    assignors: config.assignors ?? ASSIGNORS_DEFAULT,
    autoCommit: config.autoCommit ?? true,
    autoCommitIntervalMs: config.autoCommitIntervalMs ?? AUTO_COMMIT_INTERVAL_MS_DEFAULT,
    topicRefreshMs: config.topicRefreshMs ?? TOPIC_REFRESH_MS_DEFAULT,
  }
  for (const name of ['sessionTimeoutMs', 'heartbeatIntervalMs', 'rebalanceTimeoutMs', 'autoCommitIntervalMs', 'topicRefreshMs'] as const) requirePositiveInteger(name, settings[name])
  if (settings.heartbeatIntervalMs >= settings.sessionTimeoutMs) throw invalidArgument(`heartbeatIntervalMs (${settings.heartbeatIntervalMs}) must be below sessionTimeoutMs (${settings.sessionTimeoutMs})`)
  if (typeof settings.autoCommit !== 'boolean') throw invalidArgument('autoCommit must be true or false')
  const assignors = settings.assignors
  if (!Array.isArray(assignors) || assignors.length === 0 || !assignors.every((name) => ASSIGNOR_NAMES.includes(name))) {
    throw invalidArgument(`assignors must be a non-empty array of ${ASSIGNOR_NAMES.map((name) => `'${name}'`).join(', ')}, got ${JSON.stringify(assignors)}`)
  }
  return settings
}

export function validateGroupId(name: string, value: unknown): void {
  if (typeof value !== 'string' || value.length === 0 || value.length > GROUP_ID_CHARS_MAX || GROUP_ID_FORBIDDEN.test(value)) {
    throw invalidArgument(`${name} must be 1 to ${GROUP_ID_CHARS_MAX} characters without control characters, got ${JSON.stringify(value)}`)
  }
}

function validateSubscription(topics: unknown): GroupSubscription {
  if (topics instanceof RegExp) return topics
  const list = typeof topics === 'string' ? [topics] : topics
  if (!Array.isArray(list) || list.length === 0) throw invalidArgument('subscribe needs a topic name, a non-empty array of them, or a RegExp')
  for (const topic of list) validateTopicName(topic)
  return [...(list as string[])]
}

export function validateCommitOffset(entry: CommitOffset): OffsetCommitEntry {
  validateTopicPartition(entry)
  requireNonNegativeInteger('commit offset', entry.offset)
  if (entry.metadata !== undefined && typeof entry.metadata !== 'string') throw invalidArgument('commit metadata must be a string')
  const { topic, partition, offset, metadata } = entry
  return metadata === undefined ? { topic, partition, offset } : { topic, partition, offset, metadata }
}

function validateSeekTarget(target: unknown): PendingSeek {
  if (target === 'earliest' || target === 'latest') return target
  const timestamp = (target as { timestamp?: unknown } | null)?.timestamp
  if (typeof target === 'object' && target !== null && typeof timestamp === 'number' && Number.isSafeInteger(timestamp) && timestamp >= 0) return { timestamp }
  throw invalidArgument(`seek target must be an offset, 'earliest', 'latest' or { timestamp }, got ${JSON.stringify(target)}`)
}

