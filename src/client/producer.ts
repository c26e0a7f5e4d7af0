import type { TimerHandle } from '../env/index.js'
import { type CompressionName, NO_HEADERS, type RecordHeader, RecordBatchBuilder, type RecordSpec, encodeRecordBatch } from '../log/record-batch.js'
import { ErrorCode, type ErrorSpec, type ProduceAcks, type ProduceResponse, errorSpecFor } from '../wire/index.js'
import { BrokerClient } from './broker-client.js'
import { type Deferred, deferred } from './call-timeout.js'
import { type ClientContext, requireNonNegativeInteger, requirePositiveInteger } from './client.js'
import { ClientErrorReason, SkeinClientError, asSkeinError, invalidArgument } from './errors.js'
import { DefaultPartitioner } from './partitioner.js'
import { type MessageBytes, type MessageHeaders, toBytes, toRecordHeaders } from './records.js'
import { validateTopicName } from './admin.js'
import { TRANSACTIONAL_ID_CHARS_MAX } from '../wire/broker-protocol.js'
import { type Transaction, TransactionManager, type TransactionalProducerPort, type TransactionalSettings } from './transaction.js'

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
 * Ordering: sends queue their records in the order `send` was called (a send waiting for
 * metadata or buffer space holds back the ones after it), so records of one partition are
 * batched in call order; batches of a partition are sent in order, at most `maxInFlightRequests` at once.
 * With more than one in flight, a batch retried by BrokerClient can land after the one behind
 * it (as with Kafka's producer without idempotence). With `idempotent: true` every batch
 * carries the producer id, epoch and a per-partition base sequence, so the broker refuses
 * duplicates and gaps (the batch bytes, sequence included, are the same on every retry), and
 * order holds: a batch the broker refuses as out of order while an earlier batch of its
 * partition is still in flight waits for that batch and is sent again, same bytes, up to
 * `OUT_OF_ORDER_RESENDS_MAX` times (Kafka's producer does the same). After a failed batch an idempotent producer fails the
 * batches queued behind it on that partition (SEQUENCE_ABORTED, with the failure's code), asks
 * for a new producer id, and starts that partition's sequence again at 0.
 *
 * With a `transactionalId` the producer is transactional (transaction.ts): idempotent with
 * acks 'all' always, its producer id and epoch from the id's transaction coordinator, and it
 * sends only inside a transaction (`producer.transaction()`, then `tx.send`).
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
  /**
   * Makes the producer transactional (Kafka's transactional.id): it sends only inside
   * transactions (`transaction()`), and a newer producer with the same id fences this one.
   * Keep it stable across restarts of the same logical producer (say, one per input
   * partition set) so a restart fences its predecessor. Implies idempotent and acks 'all';
   * contradicting either is refused. 1 to 1,024 characters.
   */
  transactionalId?: string
  /**
   * How long a transaction may stay open before the coordinator aborts it (and fences this
   * epoch). Only with transactionalId. Default 60 s (Kafka's transaction.timeout.ms).
   */
  transactionTimeoutMs?: number
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
/** A new batch's buffer starts at most this large (64 KiB) and doubles as records come. */
const BUILDER_START_BYTES_MAX = 64 * 1024
/** Per-record overhead counted against the buffer beyond key, value and headers: varints, attributes, deltas. */
const RECORD_OVERHEAD_BYTES = 24
/** Sequences wrap to 0 after int32 max, as Kafka's do. */
const SEQUENCE_MAX = 0x7fff_ffff
/** Kafka's transaction.timeout.ms default: long enough for a consume-transform-produce round with slow steps, short enough that a dead producer's open transaction does not hold read_committed readers for long. */
const TRANSACTION_TIMEOUT_MS_DEFAULT = 60_000

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
  /** Set for a transactional producer. */
  readonly transactional: TransactionalSettings | undefined
}

/** A checked record as the batch encoder takes it, plus what the producer needs: one object per record. */
interface QueuedRecord extends RecordSpec {
  /** Bytes it holds of the buffer (key, value, headers and RECORD_OVERHEAD_BYTES). */
  readonly sizeBytes: number
  /** The application's explicit partition, if it gave one. */
  readonly partition: number | undefined
}

/**
 * One batch: records gathered for one partition, sent as one produce request. Records carry no
 * promise of their own (one per record would cost more than encoding it): a send() learns its
 * records' offsets from their batches' outcomes and their places in them.
 * `sizeBytes` is the buffer-memory estimate (RECORD_OVERHEAD_BYTES per record), the builder's
 * sizeBytes the exact encoded size.
 */
interface Batch {
  readonly queue: PartitionQueue
  /** The records, encoded as they are appended: nothing per record stays on the heap. */
  readonly builder: RecordBatchBuilder
  /** Each record's create time, for its RecordMetadata (a packed number array, no objects). */
  readonly timestamps: number[]
  sizeBytes: number
  lingerTimer: TimerHandle | undefined
  /** Settles once the batch is answered (resolve) or failed (reject); flush() and send() wait on it. */
  readonly outcome: Deferred<ProduceResponse>
  /** The broker's answer, once it came. */
  response?: ProduceResponse
  /** Set once the batch's records were failed. */
  failed?: boolean
}

/** Where send() put its records: record i went to batches[i] at indexes[i] (parallel arrays, no object per record). */
interface Placements {
  readonly batches: Batch[]
  readonly indexes: number[]
  /** Each batch once, in first-use order. */
  readonly distinct: Batch[]
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
  /** Per topic, the queues by partition number (an array: looked up for every record). */
  private readonly queues = new Map<string, PartitionQueue[]>()
  /** Batches closed and not yet answered (or failed), for flush(). */
  private readonly unfinished = new Set<Batch>()
  /** The last send's queueing (never rejects): the next send queues after it, flush() waits for it. */
  private appendTail: Promise<unknown> = Promise.resolve()
  private bufferedBytes = 0
  private readonly bufferWaiters: BufferWaiter[] = []
  private state: 'open' | 'closing' | 'closed' = 'open'
  private closing: Promise<void> | undefined
  private identity: ProducerIdentity | undefined
  private identityGeneration = 0
  private identityRequest: Promise<void> | undefined
  /** Transactional producers only. */
  private readonly txn: TransactionManager | undefined

  constructor(private readonly context: ClientContext, config: ProducerConfig) {
    this.config = resolveProducerConfig(config)
    this.partitioner = new DefaultPartitioner(context.env.random)
    const transactional = this.config.transactional
    this.txn = transactional === undefined ? undefined : new TransactionManager(context, transactional, this.transactionalPort())
    if (this.config.idempotent && transactional === undefined && !canInitProducerId(context.connected())) {
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
    if (this.txn !== undefined) {
      this.txn.assertUsable()
      throw new SkeinClientError(ClientErrorReason.INVALID_TXN_STATE, 'a transactional producer sends inside a transaction: const tx = await producer.transaction(), then tx.send()')
    }
    return this.sendRecords(record)
  }

  /**
   * Starts a transaction (transactional producers only; one open at a time). The first one
   * takes the producer id and a new epoch from the coordinator first, fencing older
   * producers with the same transactionalId.
   */
  async transaction(): Promise<Transaction> {
    return this.transactions().begin()
  }

  /**
   * Takes the transactional id's producer id and a new epoch now, fencing older producers with
   * the same id and aborting what they left open; transaction() does it when not done yet.
   */
  async initTransactions(): Promise<void> {
    return this.transactions().initTransactions()
  }

  private transactions(): TransactionManager {
    this.assertOpen()
    if (this.txn === undefined) throw invalidArgument('transactions need a transactionalId in the producer config')
    return this.txn
  }

  private async sendRecords(record: ProducerRecord): Promise<RecordMetadata[]> {
    this.assertOpen()
    const { topic, messages } = validateProducerRecord(record)
    // Record timestamps are whole ms; an injected clock (the simulator's) may give fractions.
    const now = Math.floor(this.context.env.clock.wallMs())
    const prepared = messages.map((message, index) => this.prepare(message, index, now))
    // Sends queue their records in call order, one after the other: a send waiting for topic
    // metadata or buffer space holds back the sends after it, so records of one partition are
    // batched (and sequenced) in the order send() was called, as with Kafka's blocking send.
    const placing = this.appendTail.then(() => this.appendAll(topic, prepared))
    this.appendTail = placing.catch(() => undefined)
    const { batches, indexes, distinct } = await placing
    await Promise.all(distinct.map((batch) => batch.outcome.promise))
    const results: RecordMetadata[] = new Array<RecordMetadata>(batches.length)
    for (let i = 0; i < batches.length; i++) results[i] = this.metadataOf(batches[i] as Batch, indexes[i] as number)
    return results
  }

  /**
   * Partitions and queues each record, taking buffer space for the whole send at once when it
   * is free, record by record (waiting) when it is not.
   */
  private async appendAll(topic: string, prepared: readonly QueuedRecord[]): Promise<Placements> {
    let highest = 0
    let totalBytes = 0
    for (const { partition, sizeBytes } of prepared) {
      if (partition !== undefined && partition > highest) highest = partition
      totalBytes += sizeBytes
    }
    const partitionCount = await this.context.partitionCount(topic, highest)
    for (const { partition } of prepared) {
      if (partition !== undefined && partition >= partitionCount) {
        throw new SkeinClientError(ClientErrorReason.UNKNOWN_TOPIC, `topic '${topic}' has ${partitionCount} partitions; partition ${partition} does not exist`)
      }
    }
    const reservedUpFront = this.tryReserve(totalBytes)
    const placements: Placements = { batches: [], indexes: [], distinct: [] }
    let lastBatch: Batch | undefined
    for (const record of prepared) {
      if (!reservedUpFront) await this.reserve(record.sizeBytes)
      const partition = record.partition ?? this.partitioner.partition(topic, record.key, partitionCount)
      const queue = this.queueOf(topic, partition, partitionCount)
      const batch = this.append(queue, record)
      placements.batches.push(batch)
      placements.indexes.push(batch.builder.count - 1)
      if (batch !== lastBatch && !placements.distinct.includes(batch)) placements.distinct.push(batch)
      lastBatch = batch
    }
    return placements
  }

  /** Where record `index` of an answered batch was written. */
  private metadataOf(batch: Batch, index: number): RecordMetadata {
    const { queue, response } = batch
    if (response === undefined) throw new Error('invariant: metadata of a batch that has no answer')
    const known = this.config.acks !== 0 && Number.isSafeInteger(response.baseOffset) && response.baseOffset >= 0
    const timestamp = response.logAppendTimeMs >= 0 ? response.logAppendTimeMs : (batch.timestamps[index] as number)
    return { topic: queue.topic, partition: queue.partition, offset: known ? response.baseOffset + index : -1, timestamp }
  }

  /** Sends every buffered record now and resolves when each is answered (failures are reported to their sends, not here). */
  async flush(): Promise<void> {
    // Sends called before flush() may still be on their way into the buffer (metadata, buffer space).
    await this.appendTail
    for (const queue of this.allQueues()) this.closeOpenBatch(queue)
    await Promise.allSettled([...this.unfinished].map((batch) => batch.outcome.promise))
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
    await this.txn?.close()
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

  private prepare(message: ProducerMessage, index: number, now: number): QueuedRecord {
    if (typeof message !== 'object' || message === null) throw invalidArgument(`message ${index} must be an object { key?, value, headers? }`)
    const key = toBytes(message.key, 'key', index)
    const value = toBytes(message.value, 'value', index)
    const headers = message.headers === undefined ? NO_HEADERS : toRecordHeaders(message.headers)
    const timestamp = message.timestamp ?? now
    if (!Number.isSafeInteger(timestamp) || timestamp < 0) throw invalidArgument(`message ${index}'s timestamp must be ms since the epoch, got ${String(timestamp)}`)
    if (message.partition !== undefined) requireNonNegativeInteger(`message ${index}'s partition`, message.partition)
    let sizeBytes = RECORD_OVERHEAD_BYTES + (key?.length ?? 0) + (value?.length ?? 0)
    for (let h = 0; h < headers.length; h++) {
      const header = headers[h] as RecordHeader
      sizeBytes += Buffer.byteLength(header.key) + (header.value?.length ?? 0) + 2
    }
    const limit = Math.min(this.config.recordBytesMax, this.config.bufferBytesMax)
    if (sizeBytes > limit) throw new SkeinClientError(ClientErrorReason.RECORD_TOO_LARGE, `message ${index} is ${sizeBytes} bytes; the limit is ${limit} (recordBytesMax, bufferBytesMax)`)
    return { key, value, headers, timestamp, sizeBytes, partition: message.partition }
  }

  // ---- buffer memory ----

  /** Waits (first come, first served) until `bytes` more fit in the buffer, then takes them. */
  private async reserve(bytes: number): Promise<void> {
    if (this.tryReserve(bytes)) return
    const grant = deferred<void>()
    const timer = this.context.env.clock.setTimer(this.config.bufferWaitMsMax, () => {
      const at = this.bufferWaiters.findIndex((waiter) => waiter.grant === grant)
      if (at >= 0) this.bufferWaiters.splice(at, 1)
      grant.reject(new SkeinClientError(ClientErrorReason.TIMED_OUT, `no buffer space for ${bytes} bytes within ${this.config.bufferWaitMsMax} ms (bufferBytesMax ${this.config.bufferBytesMax})`))
      this.grantWaiters()
    })
    this.bufferWaiters.push({ bytes, grant, timer })
    // The records holding the buffer may sit in open batches waiting out their linger: send them now.
    for (const queue of this.allQueues()) this.closeOpenBatch(queue)
    await grant.promise
    try {
      this.assertOpen()
    } catch (error) {
      this.release(bytes)
      throw error
    }
  }

  /** Takes `bytes` of buffer if they are free now and nobody is waiting ahead. */
  private tryReserve(bytes: number): boolean {
    if (this.bufferWaiters.length > 0 || this.bufferedBytes + bytes > this.config.bufferBytesMax) return false
    this.bufferedBytes += bytes
    return true
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

  /** Adds `record` to the queue's open batch (opening one, closing it when full); returns that batch. */
  private append(queue: PartitionQueue, record: QueuedRecord): Batch {
    const open = queue.open
    if (open !== undefined && open.sizeBytes + record.sizeBytes > this.config.batchBytes) this.closeOpenBatch(queue)
    const batch = queue.open ?? this.openBatch(queue)
    batch.builder.append(record)
    batch.timestamps.push(record.timestamp)
    batch.sizeBytes += record.sizeBytes
    if (batch.sizeBytes >= this.config.batchBytes) this.closeOpenBatch(queue)
    return batch
  }

  private queueOf(topic: string, partition: number, partitionCount: number): PartitionQueue {
    let byPartition = this.queues.get(topic)
    if (byPartition === undefined) {
      byPartition = []
      this.queues.set(topic, byPartition)
    }
    let queue = byPartition[partition]
    if (queue === undefined) {
      queue = { topic, partition, partitionCount, open: undefined, ready: [], inFlight: 0, inFlightOrder: [], nextSequence: 0, identityGeneration: this.identityGeneration, resetPending: false }
      byPartition[partition] = queue
    }
    queue.partitionCount = partitionCount
    return queue
  }

  /** Batches of a partition waiting for a slot or in flight: how far behind its leader is. */
  private queuedBatches(topic: string, partition: number): number {
    const queue = this.queues.get(topic)?.[partition]
    return queue === undefined ? 0 : queue.ready.length + queue.inFlight
  }

  /** Every partition queue, of every topic. */
  private *allQueues(): Generator<PartitionQueue> {
    for (const byPartition of this.queues.values()) for (const queue of byPartition) if (queue !== undefined) yield queue
  }

  private openBatch(queue: PartitionQueue): Batch {
    // Sized for a full batch up to BUILDER_START_BYTES_MAX; a linger-closed small batch grows from there only as needed.
    const builder = new RecordBatchBuilder(Math.min(this.config.batchBytes, BUILDER_START_BYTES_MAX))
    const batch: Batch = { queue, builder, timestamps: [], sizeBytes: 0, lingerTimer: undefined, outcome: deferred() }
    // A failed batch whose sends already gave up (or a flush) must not leave an unhandled rejection.
    batch.outcome.promise.catch(() => undefined)
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
    this.partitioner.batchClosed(queue.topic, queue.partition, queue.partitionCount, (partition) => this.queuedBatches(queue.topic, partition))
    this.unfinished.add(batch)
    this.drain(queue)
  }

  /** Sends ready batches of `queue`, oldest first, while it has in-flight slots. */
  private drain(queue: PartitionQueue): void {
    while (queue.ready.length > 0 && queue.inFlight < this.config.maxInFlightRequests) {
      // A transaction's partition is added to it before its first batch goes (drained again once added).
      if (this.txn !== undefined && !this.txn.partitionReady(queue.topic, queue.partition)) return
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
    // A transactional producer's id and epoch are the transaction manager's to take (a new
    // epoch before the transaction after a failed one); its partitionReady keeps batches of a
    // failed transaction from getting here.
    if (this.txn !== undefined) return
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
        for (const queue of this.allQueues()) this.failQueued(queue, asSkeinError(error))
      })
      .finally(() => {
        this.identityRequest = undefined
        if (this.identity !== undefined) for (const queue of this.allQueues()) this.drain(queue)
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
    const settled = (): void => {
      queue.inFlight--
      const at = queue.inFlightOrder.indexOf(batch)
      if (at >= 0) queue.inFlightOrder.splice(at, 1)
    }
    this.produceInOrder(queue, batch, bytes, 0).then(
      (response) => {
        settled()
        this.finishSent(batch, response)
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
      await earlier.outcome.promise.catch(() => undefined)
      if (earlier.failed === true) throw error
      return this.produceInOrder(queue, batch, bytes, resends + 1)
    }
  }

  private encode(queue: PartitionQueue, batch: Batch): Uint8Array {
    const identity = this.config.idempotent ? this.identity : undefined
    if (identity === undefined) return batch.builder.build({ compression: this.config.compression })
    const baseSequence = queue.nextSequence
    queue.nextSequence = (baseSequence + batch.builder.count) % (SEQUENCE_MAX + 1)
    const isTransactional = this.txn !== undefined
    return batch.builder.build({ compression: this.config.compression, producerId: identity.producerId, producerEpoch: identity.producerEpoch, baseSequence, isTransactional })
  }

  private finishSent(batch: Batch, response: ProduceResponse): void {
    batch.response = response
    this.finish(batch)
    batch.outcome.resolve(response)
  }

  private finishFailed(queue: PartitionQueue, batch: Batch, error: Error): void {
    this.failBatch(batch, error)
    this.txn?.batchFailed(error)
    if (!this.config.idempotent) return
    // The batches behind this one carry sequences that now have a gap: fail them, restart the sequence.
    queue.resetPending = true
    this.failQueued(queue, new SkeinClientError(ClientErrorReason.SEQUENCE_ABORTED, `an earlier batch to ${queue.topic}/${queue.partition} failed: ${error.message}`, { cause: error, spec: specOf(error) }))
  }

  // ---- transactions ----

  /** What the transaction manager may do to this producer. */
  private transactionalPort(): TransactionalProducerPort {
    return {
      assertOpen: () => this.assertOpen(),
      sendRecords: (record) => this.sendRecords(record),
      flush: () => this.flush(),
      discardUnsent: (error) => this.discardUnsent(error),
      drainPartitions: (partitions) => {
        for (const { topic, partition } of partitions) {
          const queue = this.queues.get(topic)?.[partition]
          if (queue !== undefined) this.drain(queue)
        }
      },
      identity: () => this.identity,
      setIdentity: (identity) => {
        validateIdentity(identity)
        this.identity = identity
        this.identityGeneration++ // every partition's sequence restarts at 0 under the new epoch
      },
    }
  }

  /** Fails every batch not yet sent, once the sends queueing now have queued their records; in-flight ones are left to finish. */
  private async discardUnsent(error: Error): Promise<void> {
    await this.appendTail
    for (const queue of this.allQueues()) {
      const open = queue.open
      if (open !== undefined) {
        open.lingerTimer?.cancel()
        queue.open = undefined
        this.failBatch(open, error)
      }
      this.failQueued(queue, error)
    }
  }

  private failQueued(queue: PartitionQueue, error: Error): void {
    for (const batch of queue.ready.splice(0)) this.failBatch(batch, error)
  }

  private failBatch(batch: Batch, error: Error): void {
    batch.failed = true
    this.finish(batch)
    batch.outcome.reject(error)
  }

  private finish(batch: Batch): void {
    this.unfinished.delete(batch)
    this.release(batch.sizeBytes)
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
  const transactional = resolveTransactional(config, acks)
  const idempotent = config.idempotent ?? transactional !== undefined
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
    transactional,
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

/** The transactional settings, or undefined; refuses settings that contradict a transactionalId (idempotent false, acks other than 'all'). */
function resolveTransactional(config: ProducerConfig, acks: ProduceAcks): TransactionalSettings | undefined {
  const { transactionalId, transactionTimeoutMs } = config
  if (transactionalId === undefined) {
    if (transactionTimeoutMs !== undefined) throw invalidArgument('transactionTimeoutMs needs a transactionalId')
    return undefined
  }
  if (typeof transactionalId !== 'string' || transactionalId.length === 0 || transactionalId.length > TRANSACTIONAL_ID_CHARS_MAX) {
    throw invalidArgument(`transactionalId must be a string of 1 to ${TRANSACTIONAL_ID_CHARS_MAX} characters, got ${JSON.stringify(transactionalId)?.slice(0, 80)}`)
  }
  if (config.idempotent === false) throw invalidArgument('transactionalId needs idempotence: leave idempotent unset or true')
  if (acks !== -1) throw invalidArgument("transactionalId needs acks 'all': a transaction commits only what a majority holds")
  const timeoutMs = transactionTimeoutMs ?? TRANSACTION_TIMEOUT_MS_DEFAULT
  requirePositiveInteger('transactionTimeoutMs', timeoutMs)
  return { transactionalId, transactionTimeoutMs: timeoutMs }
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
