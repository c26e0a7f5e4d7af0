import type { TimerHandle } from '../env/index.js'
import { type CompressionName, type RecordSpec, encodeRecordBatch } from '../log/record-batch.js'
import { ErrorCode, type ErrorSpec, type ProduceAcks, type ProduceResponse, errorSpecFor } from '../wire/index.js'
import { BrokerClient } from './broker-client.js'
import { type Deferred, deferred } from './call-timeout.js'
import { type ClientContext, requireNonNegativeInteger, requirePositiveInteger } from './client.js'
import { ClientErrorReason, SkeinClientError, asSkeinError, invalidArgument } from './errors.js'
import { DefaultPartitioner } from './partitioner.js'
import { type MessageBytes, type MessageHeaders, toBytes, toRecordHeaders } from './records.js'
import { validateTopicName } from './admin.js'

/**
 * The producer: per-partition batching, Kafka's default partitioner, bounded memory and
 * in-flight requests, optional idempotence.
 *
 * Layering of retries: the producer never resends a batch itself. Each batch is one
 * BrokerClient.produce call, and BrokerClient retries every retriable error (not leader,
 * election, node down, overload) with backoff, following the leader, resending the same
 * bytes, until its call deadline (`requestDeadlineMs`, 30 s): that deadline is the producer's
 * delivery timeout. A batch that still fails fails its records' sends with the error.
 *
 * Ordering: batches of a partition are sent in order, at most `maxInFlightRequests` at once.
 * With more than one in flight, a batch retried by BrokerClient can land after the one behind
 * it (as with Kafka's producer without idempotence). With `idempotent: true` every batch
 * carries the producer id, epoch and a per-partition base sequence, so the broker refuses
 * duplicates and gaps (the batch bytes, sequence included, are the same on every retry), and
 * order holds: a batch the broker refuses as out of order while an earlier batch of its
 * partition is still in flight waits for that batch and is sent again, same bytes, up to
 * `OUT_OF_ORDER_RESENDS_MAX` times (Kafka's producer does the same). After a failed batch an idempotent producer fails the
 * batches queued behind it on that partition (SEQUENCE_ABORTED, with the failure's code), asks
 * for a new producer id, and starts that partition's sequence again at 0.
 */
export interface ProducerConfig {
  /** 'all' (or -1): a Raft majority has the batch; 1: the leader has it; 0: not waited for. Default 'all'. */
  acks?: 'all' | -1 | 1 | 0
  /** Stamp producer id, epoch and sequences so retries never duplicate. Needs acks 'all'. Default false. */
  idempotent?: boolean
  /** How long a partition's batch waits for more records before it is sent. Default 5 ms (Kafka 4's linger.ms). */
  lingerMs?: number
  /** A partition's batch is sent once its records reach this size. Default 64 KiB. */
  batchBytes?: number
  /** Codec of each batch's records ('none', 'gzip', 'zstd' where the runtime has it). Default 'none'. */
  compression?: CompressionName
  /** Batches of one partition sent and not yet answered, at most. Default 5 (at most 5 when idempotent, as Kafka). */
  maxInFlightRequests?: number
  /** Bytes of records buffered (not yet acknowledged), at most; `send` waits past it. Default 32 MiB (Kafka's buffer.memory). */
  bufferBytesMax?: number
  /** How long `send` waits for buffer space before failing with REQUEST_TIMED_OUT. Default 60 s (Kafka's max.block.ms). */
  bufferWaitMsMax?: number
  /** Largest record (key, value and headers); larger ones fail with MESSAGE_TOO_LARGE. Default 1 MiB (Kafka's max.request.size). */
  recordBytesMax?: number
}

export interface ProducerMessage {
  key?: MessageBytes
  value: MessageBytes
  headers?: MessageHeaders
  /** Send to this partition instead of the partitioner's choice. */
  partition?: number
  /** Create time in ms since the epoch; default now (the Env's wall clock). */
  timestamp?: number
}

export interface ProducerRecord {
  topic: string
  messages: readonly ProducerMessage[]
}

/** Where a record was written. `offset` is -1 for acks 0 (nobody waited to learn it). */
export interface RecordMetadata {
  readonly topic: string
  readonly partition: number
  readonly offset: number
  readonly timestamp: number
}

/**
 * Times one idempotent batch is sent again after the broker refused it as out of order while
 * an earlier batch of its partition was in flight: at most one per batch ahead of it.
 */
const OUT_OF_ORDER_RESENDS_MAX = 5
const LINGER_MS_DEFAULT = 5
/** Larger than Kafka's 16 KiB: one batch is one request here, and skein's throughput grows with batch size. */
const BATCH_BYTES_DEFAULT = 64 * 1024
const MAX_IN_FLIGHT_DEFAULT = 5
/** Kafka's limit for idempotent producers: the broker keeps the last 5 batches' sequences per producer. */
const MAX_IN_FLIGHT_IDEMPOTENT_MAX = 5
const BUFFER_BYTES_MAX_DEFAULT = 32 * 1024 * 1024
const BUFFER_WAIT_MS_MAX_DEFAULT = 60_000
const RECORD_BYTES_MAX_DEFAULT = 1024 * 1024
/** Per-record overhead counted against the buffer beyond key, value and headers: varints, attributes, deltas. */
const RECORD_OVERHEAD_BYTES = 24
/** Sequences wrap to 0 after int32 max, as Kafka's do. */
const SEQUENCE_MAX = 0x7fff_ffff

interface ResolvedConfig {
  readonly acks: ProduceAcks
  readonly idempotent: boolean
  readonly lingerMs: number
  readonly batchBytes: number
  readonly compression: CompressionName
  readonly maxInFlightRequests: number
  readonly bufferBytesMax: number
  readonly bufferWaitMsMax: number
  readonly recordBytesMax: number
}

interface PreparedRecord {
  readonly spec: RecordSpec
  readonly sizeBytes: number
  readonly partition: number | undefined
}

interface PendingRecord {
  readonly spec: RecordSpec
  readonly sizeBytes: number
  readonly result: Deferred<RecordMetadata>
}

interface Batch {
  readonly records: PendingRecord[]
  sizeBytes: number
  lingerTimer: TimerHandle | undefined
  readonly done: Deferred<void>
  /** Set once the batch's records were failed (done resolves either way). */
  failed?: boolean
}

interface PartitionQueue {
  readonly topic: string
  readonly partition: number
  partitionCount: number
  open: Batch | undefined
  /** Closed batches, oldest first, waiting for an in-flight slot. */
  readonly ready: Batch[]
  inFlight: number
  /** Batches sent and not yet answered, in send (so sequence) order. */
  readonly inFlightOrder: Batch[]
  nextSequence: number
  /** The producer-id generation `nextSequence` counts under. */
  identityGeneration: number
  /** Idempotent: a batch failed; send nothing until in-flight batches are answered and a new id is in hand. */
  resetPending: boolean
}

interface ProducerIdentity {
  readonly producerId: number
  readonly producerEpoch: number
}

interface BufferWaiter {
  readonly bytes: number
  readonly grant: Deferred<void>
  readonly timer: TimerHandle
}

/** What idempotence needs from the connection; BrokerClient gains it in issue 6 (feature-detected). */
interface ProducerIdSource {
  initProducerId(): Promise<ProducerIdentity>
}

export class Producer {
  private readonly config: ResolvedConfig
  private readonly partitioner: DefaultPartitioner
  private readonly queues = new Map<string, PartitionQueue>()
  /** Batches closed and not yet answered (or failed), for flush(). */
  private readonly unfinished = new Set<Batch>()
  /** send() calls still queueing their records, for flush() and close(). */
  private readonly sendsAppending = new Set<Promise<void>>()
  private bufferedBytes = 0
  private readonly bufferWaiters: BufferWaiter[] = []
  private state: 'open' | 'closing' | 'closed' = 'open'
  private closing: Promise<void> | undefined
  private identity: ProducerIdentity | undefined
  private identityGeneration = 0
  private identityRequest: Promise<void> | undefined

  constructor(private readonly context: ClientContext, config: ProducerConfig) {
    this.config = resolveProducerConfig(config)
    this.partitioner = new DefaultPartitioner(context.env.random)
    if (this.config.idempotent && !canInitProducerId(context.connected())) {
      throw new SkeinClientError(
        ClientErrorReason.IDEMPOTENCE_UNAVAILABLE,
        'idempotent: true needs producer ids from the cluster (BrokerClient.initProducerId), which this build does not have; create the producer with idempotent: false',
      )
    }
  }

  /**
   * Queues the messages and resolves, in message order, with where each was written, once
   * every one is acknowledged (per `acks`). Waits while the buffer is full (up to
   * bufferWaitMsMax). Every message is checked before any is queued; a later failure (buffer
   * timeout, a failed batch) rejects the call, while messages already queued are still sent.
   */
  async send(record: ProducerRecord): Promise<RecordMetadata[]> {
    this.assertOpen()
    const { topic, messages } = validateProducerRecord(record)
    const prepared = messages.map((message, index) => this.prepare(message, index))
    const appended = deferred<void>()
    this.sendsAppending.add(appended.promise)
    try {
      const results = await this.appendAll(topic, prepared)
      appended.resolve()
      return await Promise.all(results)
    } finally {
      appended.resolve()
      this.sendsAppending.delete(appended.promise)
    }
  }

  /** Partitions and queues each record, waiting for buffer space as needed; the results settle as batches are answered. */
  private async appendAll(topic: string, prepared: readonly PreparedRecord[]): Promise<Promise<RecordMetadata>[]> {
    const highest = prepared.reduce((max, { partition }) => Math.max(max, partition ?? 0), 0)
    const partitionCount = await this.context.partitionCount(topic, highest)
    for (const { partition } of prepared) {
      if (partition !== undefined && partition >= partitionCount) {
        throw new SkeinClientError(ClientErrorReason.UNKNOWN_TOPIC, `topic '${topic}' has ${partitionCount} partitions; partition ${partition} does not exist`)
      }
    }
    const results: Promise<RecordMetadata>[] = []
    for (const { spec, sizeBytes, partition: explicit } of prepared) {
      await this.reserve(sizeBytes)
      const partition = explicit ?? this.partitioner.partition(topic, spec.key, partitionCount)
      const result = this.append(topic, partition, partitionCount, { spec, sizeBytes, result: deferred() })
      // If a later record of this send fails to queue, nobody awaits this one: keep its failure handled.
      result.catch(() => undefined)
      results.push(result)
    }
    return results
  }

  /** Sends every buffered record now and resolves when each is answered (failures are reported to their sends, not here). */
  async flush(): Promise<void> {
    // Sends called before flush() may still be on their way into the buffer (metadata, buffer space).
    await Promise.allSettled([...this.sendsAppending])
    for (const queue of this.queues.values()) this.closeOpenBatch(queue)
    await Promise.allSettled([...this.unfinished].map((batch) => batch.done.promise))
  }

  /**
   * Sends what is buffered and waits for the answers, then refuses sends with PRODUCER_CLOSED
   * (sends still waiting for buffer space are refused at once). Calling it again waits for the
   * same close.
   */
  close(): Promise<void> {
    this.closing ??= this.closeOnce()
    return this.closing
  }

  private async closeOnce(): Promise<void> {
    this.state = 'closing'
    for (const waiter of this.bufferWaiters.splice(0)) {
      waiter.timer.cancel()
      waiter.grant.reject(this.closedError())
    }
    await this.flush()
    this.state = 'closed'
    this.context.forget(this)
  }

  private assertOpen(): void {
    if (this.state !== 'open') throw this.closedError()
    this.context.assertOpen()
  }

  private closedError(): SkeinClientError {
    return new SkeinClientError(ClientErrorReason.PRODUCER_CLOSED, 'the producer is closed')
  }

  private prepare(message: ProducerMessage, index: number): PreparedRecord {
    if (typeof message !== 'object' || message === null) throw invalidArgument(`message ${index} must be an object { key?, value, headers? }`)
    const key = toBytes(`message ${index}'s key`, message.key)
    const value = toBytes(`message ${index}'s value`, message.value)
    const headers = toRecordHeaders(message.headers)
    const timestamp = message.timestamp ?? this.context.env.clock.wallMs()
    if (!Number.isSafeInteger(timestamp) || timestamp < 0) throw invalidArgument(`message ${index}'s timestamp must be ms since the epoch, got ${String(timestamp)}`)
    if (message.partition !== undefined) requireNonNegativeInteger(`message ${index}'s partition`, message.partition)
    let sizeBytes = RECORD_OVERHEAD_BYTES + (key?.length ?? 0) + (value?.length ?? 0)
    for (const header of headers) sizeBytes += Buffer.byteLength(header.key) + (header.value?.length ?? 0) + 2
    const limit = Math.min(this.config.recordBytesMax, this.config.bufferBytesMax)
    if (sizeBytes > limit) throw new SkeinClientError(ClientErrorReason.RECORD_TOO_LARGE, `message ${index} is ${sizeBytes} bytes; the limit is ${limit} (recordBytesMax, bufferBytesMax)`)
    return { spec: { key, value, headers, timestamp }, sizeBytes, partition: message.partition }
  }

  // ---- buffer memory ----

  /** Waits (first come, first served) until `bytes` more fit in the buffer, then takes them. */
  private async reserve(bytes: number): Promise<void> {
    if (this.bufferWaiters.length === 0 && this.bufferedBytes + bytes <= this.config.bufferBytesMax) {
      this.bufferedBytes += bytes
      return
    }
    const grant = deferred<void>()
    const timer = this.context.env.clock.setTimer(this.config.bufferWaitMsMax, () => {
      const at = this.bufferWaiters.findIndex((waiter) => waiter.grant === grant)
      if (at >= 0) this.bufferWaiters.splice(at, 1)
      grant.reject(new SkeinClientError(ClientErrorReason.TIMED_OUT, `no buffer space for ${bytes} bytes within ${this.config.bufferWaitMsMax} ms (bufferBytesMax ${this.config.bufferBytesMax})`))
      this.grantWaiters()
    })
    this.bufferWaiters.push({ bytes, grant, timer })
    // The records holding the buffer may sit in open batches waiting out their linger: send them now.
    for (const queue of this.queues.values()) this.closeOpenBatch(queue)
    await grant.promise
    try {
      this.assertOpen()
    } catch (error) {
      this.release(bytes)
      throw error
    }
  }

  private release(bytes: number): void {
    this.bufferedBytes -= bytes
    this.grantWaiters()
  }

  private grantWaiters(): void {
    for (;;) {
      const first = this.bufferWaiters[0]
      if (first === undefined || this.bufferedBytes + first.bytes > this.config.bufferBytesMax) return
      this.bufferWaiters.shift()
      first.timer.cancel()
      this.bufferedBytes += first.bytes
      first.grant.resolve()
    }
  }

  // ---- batching ----

  private append(topic: string, partition: number, partitionCount: number, record: PendingRecord): Promise<RecordMetadata> {
    const queue = this.queueOf(topic, partition, partitionCount)
    const open = queue.open
    if (open !== undefined && open.sizeBytes + record.sizeBytes > this.config.batchBytes) this.closeOpenBatch(queue)
    const batch = queue.open ?? this.openBatch(queue)
    batch.records.push(record)
    batch.sizeBytes += record.sizeBytes
    if (batch.sizeBytes >= this.config.batchBytes) this.closeOpenBatch(queue)
    return record.result.promise
  }

  private queueOf(topic: string, partition: number, partitionCount: number): PartitionQueue {
    const key = `${topic}/${partition}`
    let queue = this.queues.get(key)
    if (queue === undefined) {
      queue = { topic, partition, partitionCount, open: undefined, ready: [], inFlight: 0, inFlightOrder: [], nextSequence: 0, identityGeneration: this.identityGeneration, resetPending: false }
      this.queues.set(key, queue)
    }
    queue.partitionCount = partitionCount
    return queue
  }

  private openBatch(queue: PartitionQueue): Batch {
    const batch: Batch = { records: [], sizeBytes: 0, lingerTimer: undefined, done: deferred() }
    const close = (): void => {
      if (queue.open === batch) this.closeOpenBatch(queue)
    }
    // lingerMs 0 still gathers the records of one send() call: the batch closes after this turn.
    if (this.config.lingerMs === 0) this.context.env.clock.defer(close)
    else batch.lingerTimer = this.context.env.clock.setTimer(this.config.lingerMs, close)
    queue.open = batch
    return batch
  }

  private closeOpenBatch(queue: PartitionQueue): void {
    const batch = queue.open
    if (batch === undefined) return
    batch.lingerTimer?.cancel()
    queue.open = undefined
    queue.ready.push(batch)
    this.unfinished.add(batch)
    this.drain(queue)
  }

  /** Sends ready batches of `queue`, oldest first, while it has in-flight slots. */
  private drain(queue: PartitionQueue): void {
    while (queue.ready.length > 0 && queue.inFlight < this.config.maxInFlightRequests) {
      if (this.config.idempotent && !this.identityReady(queue)) return
      const batch = queue.ready.shift() as Batch
      this.sendBatch(queue, batch)
    }
  }

  // ---- idempotence ----

  /**
   * True when `queue` may stamp its next batch: a producer id is in hand and, after a failure,
   * the partition's in-flight batches are answered and its sequence restarted under a new id.
   * Otherwise starts what is missing and drains again when it arrives.
   */
  private identityReady(queue: PartitionQueue): boolean {
    if (queue.resetPending) {
      if (queue.inFlight > 0) return false // drained again when the last one answers
      if (queue.identityGeneration === this.identityGeneration) this.requestIdentity(true)
    }
    if (this.identity === undefined) {
      this.requestIdentity(false)
      return false
    }
    if (queue.identityGeneration !== this.identityGeneration) {
      queue.identityGeneration = this.identityGeneration
      queue.nextSequence = 0
      queue.resetPending = false
    }
    return !queue.resetPending
  }

  /** Asks for a producer id (a new one when `renew`), once at a time; drains every queue when it arrives. */
  private requestIdentity(renew: boolean): void {
    if (this.identityRequest !== undefined) return
    if (renew) this.identity = undefined
    this.identityRequest = this.context
      .call('initProducerId', (broker) => producerIdSource(broker).initProducerId())
      .then((identity) => {
        validateIdentity(identity)
        this.identity = identity
        this.identityGeneration++
      })
      .catch((error: unknown) => {
        // No id: every batch waiting for one fails; the next batch asks again.
        for (const queue of this.queues.values()) this.failQueued(queue, asSkeinError(error))
      })
      .finally(() => {
        this.identityRequest = undefined
        if (this.identity !== undefined) for (const queue of this.queues.values()) this.drain(queue)
      })
  }

  // ---- sending ----

  private sendBatch(queue: PartitionQueue, batch: Batch): void {
    let bytes: Uint8Array
    try {
      bytes = this.encode(queue, batch)
    } catch (error) {
      this.finishFailed(queue, batch, asSkeinError(error))
      return
    }
    queue.inFlight++
    queue.inFlightOrder.push(batch)
    this.partitioner.batchSent(queue.topic, queue.partition, queue.partitionCount)
    const settled = (): void => {
      queue.inFlight--
      const at = queue.inFlightOrder.indexOf(batch)
      if (at >= 0) queue.inFlightOrder.splice(at, 1)
    }
    this.produceInOrder(queue, batch, bytes, 0).then(
      (response) => {
        settled()
        this.finishSent(queue, batch, response)
        this.drain(queue)
      },
      (error: unknown) => {
        settled()
        this.finishFailed(queue, batch, asSkeinError(error))
        this.drain(queue)
      },
    )
  }

  /**
   * One batch's produce call. Idempotent: refused as out of order while an earlier batch of
   * the partition is still in flight (that one is being retried after a leader change, and
   * this one overtook it), it waits for the earlier one and goes again, same bytes; if the
   * earlier one failed, so does this one.
   */
  private async produceInOrder(queue: PartitionQueue, batch: Batch, bytes: Uint8Array, resends: number): Promise<ProduceResponse> {
    const produce = (broker: BrokerClient): Promise<ProduceResponse> => broker.produce(queue.topic, queue.partition, bytes, this.config.acks)
    try {
      return await this.context.call(`produce to ${queue.topic}/${queue.partition}`, produce)
    } catch (error) {
      const at = queue.inFlightOrder.indexOf(batch)
      const earlier = at > 0 ? queue.inFlightOrder[at - 1] : undefined
      const outOfOrder = asSkeinError(error).code === ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER.code
      if (!this.config.idempotent || !outOfOrder || earlier === undefined || resends >= OUT_OF_ORDER_RESENDS_MAX) throw error
      await earlier.done.promise
      if (earlier.failed === true) throw error
      return this.produceInOrder(queue, batch, bytes, resends + 1)
    }
  }

  private encode(queue: PartitionQueue, batch: Batch): Uint8Array {
    const records = batch.records.map((record) => record.spec)
    const identity = this.config.idempotent ? this.identity : undefined
    if (identity === undefined) return encodeRecordBatch({ records, compression: this.config.compression })
    const baseSequence = queue.nextSequence
    queue.nextSequence = (baseSequence + records.length) % (SEQUENCE_MAX + 1)
    return encodeRecordBatch({ records, compression: this.config.compression, producerId: identity.producerId, producerEpoch: identity.producerEpoch, baseSequence })
  }

  private finishSent(queue: PartitionQueue, batch: Batch, response: ProduceResponse): void {
    const known = this.config.acks !== 0 && Number.isSafeInteger(response.baseOffset) && response.baseOffset >= 0
    batch.records.forEach((record, index) => {
      const timestamp = response.logAppendTimeMs >= 0 ? response.logAppendTimeMs : record.spec.timestamp
      record.result.resolve({ topic: queue.topic, partition: queue.partition, offset: known ? response.baseOffset + index : -1, timestamp })
    })
    this.finish(batch)
  }

  private finishFailed(queue: PartitionQueue, batch: Batch, error: Error): void {
    batch.failed = true
    for (const record of batch.records) record.result.reject(error)
    this.finish(batch)
    if (!this.config.idempotent) return
    // The batches behind this one carry sequences that now have a gap: fail them, restart the sequence.
    queue.resetPending = true
    this.failQueued(queue, new SkeinClientError(ClientErrorReason.SEQUENCE_ABORTED, `an earlier batch to ${queue.topic}/${queue.partition} failed: ${error.message}`, { cause: error, spec: specOf(error) }))
  }

  private failQueued(queue: PartitionQueue, error: Error): void {
    for (const batch of queue.ready.splice(0)) {
      batch.failed = true
      for (const record of batch.records) record.result.reject(error)
      this.finish(batch)
    }
  }

  private finish(batch: Batch): void {
    this.unfinished.delete(batch)
    this.release(batch.sizeBytes)
    batch.done.resolve()
  }
}

function specOf(error: Error): ErrorSpec {
  return errorSpecFor(asSkeinError(error).code)
}

/** True if `broker` (or, before connecting, the BrokerClient class) can hand out producer ids. */
function canInitProducerId(broker: BrokerClient | undefined): boolean {
  const target: unknown = broker ?? BrokerClient.prototype
  return typeof (target as Partial<ProducerIdSource> | undefined)?.initProducerId === 'function'
}

function producerIdSource(broker: BrokerClient): ProducerIdSource {
  const source = broker as unknown as Partial<ProducerIdSource>
  if (typeof source.initProducerId !== 'function') {
    throw new SkeinClientError(ClientErrorReason.IDEMPOTENCE_UNAVAILABLE, 'the cluster connection cannot hand out producer ids (no BrokerClient.initProducerId)')
  }
  return source as ProducerIdSource
}

function validateIdentity(identity: unknown): asserts identity is ProducerIdentity {
  const candidate = identity as Partial<ProducerIdentity> | null
  if (typeof candidate !== 'object' || candidate === null || !Number.isSafeInteger(candidate.producerId) || !Number.isInteger(candidate.producerEpoch)) {
    throw new SkeinClientError(ClientErrorReason.IDEMPOTENCE_UNAVAILABLE, `initProducerId answered ${JSON.stringify(identity)}, not { producerId, producerEpoch }`)
  }
}

function resolveProducerConfig(config: ProducerConfig): ResolvedConfig {
  if (typeof config !== 'object' || config === null) throw invalidArgument('producer config must be an object')
  const acks = toWireAcks(config.acks ?? 'all')
  const idempotent = config.idempotent ?? false
  if (typeof idempotent !== 'boolean') throw invalidArgument(`idempotent must be a boolean, got ${String(idempotent)}`)
  const resolved: ResolvedConfig = {
    acks,
    idempotent,
    lingerMs: config.lingerMs ?? LINGER_MS_DEFAULT,
    batchBytes: config.batchBytes ?? BATCH_BYTES_DEFAULT,
    compression: config.compression ?? 'none',
    maxInFlightRequests: config.maxInFlightRequests ?? MAX_IN_FLIGHT_DEFAULT,
    bufferBytesMax: config.bufferBytesMax ?? BUFFER_BYTES_MAX_DEFAULT,
    bufferWaitMsMax: config.bufferWaitMsMax ?? BUFFER_WAIT_MS_MAX_DEFAULT,
    recordBytesMax: config.recordBytesMax ?? RECORD_BYTES_MAX_DEFAULT,
  }
  requireNonNegativeInteger('lingerMs', resolved.lingerMs)
  for (const name of ['batchBytes', 'maxInFlightRequests', 'bufferBytesMax', 'bufferWaitMsMax', 'recordBytesMax'] as const) requirePositiveInteger(name, resolved[name])
  if (idempotent && acks !== -1) throw invalidArgument("idempotent: true needs acks 'all' (the broker can only deduplicate what it acknowledges durably)")
  if (idempotent && resolved.maxInFlightRequests > MAX_IN_FLIGHT_IDEMPOTENT_MAX) {
    throw invalidArgument(`idempotent: true allows at most ${MAX_IN_FLIGHT_IDEMPOTENT_MAX} maxInFlightRequests, got ${resolved.maxInFlightRequests}`)
  }
  checkCompression(resolved.compression)
  return resolved
}

function toWireAcks(acks: unknown): ProduceAcks {
  if (acks === 'all' || acks === -1) return -1
  if (acks === 1 || acks === 0) return acks
  throw invalidArgument(`acks must be 'all', -1, 1 or 0, got ${JSON.stringify(acks)}`)
}

/** Refuses at creation a codec the batch encoder lacks, rather than failing every batch later. */
function checkCompression(compression: CompressionName): void {
  try {
    encodeRecordBatch({ compression, records: [{ key: null, value: null, timestamp: 0 }] })
  } catch (error) {
    const skein = asSkeinError(error)
    throw new SkeinClientError(ClientErrorReason.INVALID_ARGUMENT, `compression ${JSON.stringify(compression)} cannot be used: ${skein.message}`, { cause: error, spec: errorSpecFor(skein.code) })
  }
}

function validateProducerRecord(record: ProducerRecord): ProducerRecord {
  if (typeof record !== 'object' || record === null) throw invalidArgument('send needs { topic, messages: [...] }')
  validateTopicName(record.topic)
  if (!Array.isArray(record.messages) || record.messages.length === 0) throw invalidArgument('messages must be a non-empty array')
  return record
}
