import type { TimerHandle } from '../env/index.js'
import { batchLastOffset, checkBatchHeader } from '../log/batch-header.js'
import { DECODE_LIMITS_DEFAULT, decodeRecordBatches } from '../log/record-batch.js'
import { ErrorCode, type FetchResponse, type SkeinError } from '../wire/index.js'
import { validateTopicName } from './admin.js'
import { type Deferred, deferred } from './call-timeout.js'
import { type ClientContext, requireNonNegativeInteger, requirePositiveInteger } from './client.js'
import { ClientErrorReason, SkeinClientError, asSkeinError, invalidArgument } from './errors.js'
import { asBuffer, fromRecordHeaders } from './records.js'

/**
 * A consumer of assigned partitions (no consumer group yet): `assign`, `seek`, then read with
 * `for await (const m of consumer)` or `run({ eachMessage | eachBatch })`.
 *
 * Fetching is pipelined per partition: one fetch in flight per partition, started again as
 * soon as its answer arrives, while the application works through earlier records, until
 * `prefetchBytesMax` of undelivered record bytes are buffered for it (then it waits for the
 * application). Answers are buffered as the bytes that came and decoded only when handed to
 * the application: messages are made just before they are used, so they die young (cheap for
 * the garbage collector) instead of ageing in the prefetch buffer. The broker holds a fetch up to `maxWaitMs` when there is nothing new, so an
 * idle consumer costs one request per partition per maxWaitMs. Only committed records (at or
 * below the high watermark) are ever returned; control batches are skipped; compressed batches
 * are inflated by the batch decoder.
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
  /** Most bytes one fetch of one partition returns (the broker may return one larger batch). Default 1 MiB. */
  maxBytes?: number
  /** How long the broker may hold a fetch while there is nothing new. Default 500 ms (Kafka's fetch.max.wait.ms). */
  maxWaitMs?: number
  /**
   * Kafka's fetch.min.bytes. The node protocol has no such field yet: the broker answers as
   * soon as any committed record is there, as with 1, the only value taken for now.
   */
  minBytes?: number
  /** Undelivered bytes buffered per partition before its fetching waits for the application. Default 2 x maxBytes. */
  prefetchBytesMax?: number
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
/** listOffsets timestamps with special meaning, as in Kafka. */
const LATEST_TIMESTAMP = -1
const EARLIEST_TIMESTAMP = -2

type PendingSeek = 'earliest' | 'latest' | { timestamp: number }

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
}

export class Consumer implements AsyncIterable<ConsumerMessage> {
  private readonly fromBeginning: boolean
  private readonly maxBytes: number
  private readonly maxWaitMs: number
  private readonly prefetchBytesMax: number
  private readonly partitions = new Map<string, PartitionState>()
  /** Round-robin cursor over partitions, so one busy partition does not starve the rest. */
  private nextPartitionIndex = 0
  /** The partition epoch each buffered batch was fetched under (see stillCurrent). */
  private readonly batchEpochs = new WeakMap<ConsumerBatch, number>()
  private wakeup: Deferred<void> | undefined
  private reading = false
  private closed = false

  constructor(private readonly context: ClientContext, config: ConsumerConfig) {
    if (typeof config !== 'object' || config === null) throw invalidArgument('consumer config must be an object')
    this.fromBeginning = config.fromBeginning ?? false
    this.maxBytes = config.maxBytes ?? MAX_BYTES_DEFAULT
    this.maxWaitMs = config.maxWaitMs ?? MAX_WAIT_MS_DEFAULT
    this.prefetchBytesMax = config.prefetchBytesMax ?? 2 * this.maxBytes
    requirePositiveInteger('maxBytes', this.maxBytes)
    requireNonNegativeInteger('maxWaitMs', this.maxWaitMs)
    requirePositiveInteger('prefetchBytesMax', this.prefetchBytesMax)
    if (config.minBytes !== undefined && config.minBytes !== 1) throw invalidArgument(`minBytes: only 1 is supported for now (the node protocol has no fetch.min.bytes), got ${String(config.minBytes)}`)
  }

  /** Reads exactly these partitions from now on (replacing any earlier assignment). */
  assign(partitions: readonly TopicPartitionOffset[]): void {
    this.assertOpen()
    if (!Array.isArray(partitions)) throw invalidArgument('assign needs an array of { topic, partition, offset? }')
    const wanted = new Map<string, TopicPartitionOffset>()
    for (const tp of partitions) {
      validateTopicPartition(tp)
      if (tp.offset !== undefined) requireNonNegativeInteger('offset', tp.offset)
      wanted.set(keyOf(tp), tp)
    }
    for (const [key, state] of this.partitions) {
      if (wanted.has(key)) continue
      state.retryTimer?.cancel()
      state.epoch++
      this.partitions.delete(key)
    }
    for (const [key, tp] of wanted) {
      const existing = this.partitions.get(key)
      if (existing === undefined) this.partitions.set(key, this.newState(tp))
      if (tp.offset !== undefined) this.seek(tp, tp.offset)
    }
    this.pump()
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
    if (typeof target === 'number') {
      requireNonNegativeInteger('seek offset', target)
      state.pendingSeek = undefined
      state.position = target
      state.fetchOffset = target
    } else {
      state.pendingSeek = validateSeekTarget(target)
      state.position = undefined
    }
    this.pump()
    this.wake()
  }

  /** The next offset this consumer returns for `tp`; undefined while a seek is being resolved. */
  position(tp: TopicPartition): number | undefined {
    return this.stateOf(tp).position
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

  /** Stops fetching; a reader waiting for records ends (the iterator finishes, run() resolves). */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    for (const state of this.partitions.values()) {
      state.retryTimer?.cancel()
      state.epoch++
    }
    this.wake()
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
          await eachBatch({ batch })
          const last = batch.messages[batch.messages.length - 1]
          if (last !== undefined) this.stillCurrent(batch, last)
          continue
        }
        for (const message of batch.messages) {
          if (!this.stillCurrent(batch, message)) break
          await (eachMessage as NonNullable<RunOptions['eachMessage']>)({ topic: batch.topic, partition: batch.partition, message })
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
          yield message
        }
      }
    } finally {
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
    return true
  }

  /** The next buffered batch of an unpaused partition (round robin), waiting for one; undefined once closed. */
  private async nextBatch(): Promise<ConsumerBatch | undefined> {
    for (;;) {
      if (this.closed) return undefined
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
      state.fetchOffset = offset
      return
    }
    const { topic, partition } = state
    const offset = state.fetchOffset
    const response = await this.context.call(`fetch ${topic}/${partition}@${offset}`, (broker) => broker.fetch(topic, partition, offset, this.maxBytes, this.maxWaitMs), this.maxWaitMs)
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
    const timestamp = target === 'earliest' ? EARLIEST_TIMESTAMP : target === 'latest' ? LATEST_TIMESTAMP : target.timestamp
    const { topic, partition } = state
    const found = await this.context.call(`listOffsets ${topic}/${partition}`, (broker) => broker.listOffsets(topic, partition, timestamp))
    if (found.offset >= 0) return found.offset
    // No record at or after the timestamp: the end of the log, as Kafka answers.
    const latest = await this.context.call(`listOffsets ${topic}/${partition}`, (broker) => broker.listOffsets(topic, partition, LATEST_TIMESTAMP))
    return latest.offset
  }

  /**
   * Buffers a fetch answer as it came and moves the fetch offset past it (from the batch
   * headers alone); true if it held any batch.
   */
  private buffer(state: PartitionState, response: FetchResponse): boolean {
    const records = response.records
    if (records.length === 0) return false
    const nextOffset = nextOffsetAfter(records, state.fetchOffset)
    state.buffered.push({ records, fromOffset: state.fetchOffset, highWatermark: response.highWatermark, epoch: state.epoch })
    state.bufferedBytes += records.length
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
      state.pendingSeek = this.fromBeginning ? 'earliest' : 'latest'
      state.position = undefined
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

  // ---- state ----

  private newState(tp: TopicPartition): PartitionState {
    return {
      topic: tp.topic,
      partition: tp.partition,
      position: undefined,
      fetchOffset: 0,
      pendingSeek: this.fromBeginning ? 'earliest' : 'latest',
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

function validateSeekTarget(target: unknown): PendingSeek {
  if (target === 'earliest' || target === 'latest') return target
  const timestamp = (target as { timestamp?: unknown } | null)?.timestamp
  if (typeof target === 'object' && target !== null && typeof timestamp === 'number' && Number.isSafeInteger(timestamp) && timestamp >= 0) return { timestamp }
  throw invalidArgument(`seek target must be an offset, 'earliest', 'latest' or { timestamp }, got ${JSON.stringify(target)}`)
}

