import { strict as assert } from 'node:assert'
import { BATCH_HEADER_BYTES, BATCH_LOG_OVERHEAD_BYTES, BatchField, readInt16, readInt32, readInt64 } from '../../src/log/batch-header.js'
import { ErrorCode, SkeinError } from '../../src/wire/errors.js'

/**
 * Idempotent producers, per partition, as Kafka's ProducerStateManager keeps them: for each
 * producer id its epoch and its last few appended batches (sequence range and offsets). Pure:
 * the replica feeds it every batch header it appends (leader or follower, and all of the log
 * when it opens), and asks it to judge a produce request before appending any of it.
 *
 * The rules (Kafka 2.5+, `ProducerAppendInfo.checkSequence` and `findDuplicateBatch`):
 * - a batch without a producer id (-1) is not checked;
 * - an epoch older than the known one is fenced: INVALID_PRODUCER_EPOCH;
 * - a batch whose epoch and sequence range equal one of the last PRODUCER_BATCHES_RETAINED
 *   appended batches is a duplicate (a retry): answered with the original offsets, not appended;
 * - a newer epoch must start at sequence 0, and within an epoch each batch must start at the
 *   last sequence + 1 (wrapping after 2^31 - 1): else OUT_OF_ORDER_SEQUENCE_NUMBER;
 * - a producer this partition holds no state for may start at sequence 0; at another sequence
 *   it is accepted only if its state may have been forgotten (the log start moved past 0, or
 *   the table evicted producers), and is OUT_OF_ORDER_SEQUENCE_NUMBER while the whole history
 *   is known (it never wrote here). Kafka 2.5+ accepts it in both cases; refusing what cannot
 *   be a retry catches a client that lost its sequence numbers.
 *
 * Batches are the unit: only headers are read, never records.
 */

/**
 * Batches remembered per producer for duplicate detection: Kafka's 5, the most a producer may
 * have in flight to one partition with idempotence on (max.in.flight.requests.per.connection).
 */
export const PRODUCER_BATCHES_RETAINED = 5

/**
 * Producers remembered per partition. Beyond it the one that appended least recently is
 * forgotten (its next batch is then judged as an unknown producer's). About 300 bytes each,
 * so a partition's table stays under 3 MiB; Kafka bounds it in time instead
 * (producer.id.expiration.ms, a day).
 */
export const PRODUCERS_PER_PARTITION_MAX = 10_000

/** Kafka's sequences are int32 and wrap to 0 after this. */
const SEQUENCE_MAX = 0x7fff_ffff

/** The producer facts of one batch header. */
export interface ProducerBatchHeader {
  /** -1: not an idempotent batch; NaN: an id beyond 2^53 (refused). */
  readonly producerId: number
  readonly producerEpoch: number
  readonly firstSequence: number
  readonly lastSequence: number
}

export interface BatchOffsets {
  readonly baseOffset: number
  readonly lastOffset: number
}

export interface AppendedProducerBatch extends ProducerBatchHeader, BatchOffsets {}

/** A duplicate appended too long ago for its offsets to be retained: -1, as Kafka answers. */
export const UNKNOWN_OFFSETS: BatchOffsets = { baseOffset: -1, lastOffset: -1 }

/**
 * The verdict on a produce request: `duplicates` of its first batches were appended before
 * (their original offsets, in order) and the batches from `duplicates.length` on are new;
 * or the error the whole request is refused with.
 */
export type ProducerVerdict =
  | { readonly kind: 'accept'; readonly duplicates: readonly BatchOffsets[] }
  | { readonly kind: 'error'; readonly error: SkeinError }

interface RetainedBatch extends BatchOffsets {
  readonly epoch: number
  readonly firstSequence: number
  readonly lastSequence: number
}

interface ProducerEntry {
  epoch: number
  /** Oldest first, at most PRODUCER_BATCHES_RETAINED, all of `epoch`. */
  batches: RetainedBatch[]
  /** True while `batches` is every batch of this producer in the log: forgetting them forgets nothing more. */
  complete: boolean
  /** The coordinator epoch of the last transaction marker seen for this producer (-1: none); Kafka's ProducerStateEntry.coordinatorEpoch. */
  coordinatorEpoch: number
}

/** A transaction marker's producer facts (its batch carries no sequence). */
export interface ProducerMarker {
  readonly producerId: number
  readonly producerEpoch: number
  /** undefined when the marker's value could not be read. */
  readonly coordinatorEpoch: number | undefined
}

/**
 * The producer facts of the batch whose header starts at `position` of `bytes` (the header
 * alone is enough: the records are never read).
 */
export function producerBatchHeader(bytes: Uint8Array, position: number): ProducerBatchHeader {
  const producerId = readInt64(bytes, position + BatchField.producerId)
  const firstSequence = readInt32(bytes, position + BatchField.baseSequence)
  return {
    // NaN (beyond 2^53, never allocated here) is kept so that validate refuses it.
    producerId: producerId < 0 ? -1 : producerId,
    producerEpoch: readInt16(bytes, position + BatchField.producerEpoch),
    firstSequence,
    lastSequence: incrementSequence(firstSequence, readInt32(bytes, position + BatchField.lastOffsetDelta)),
  }
}

/** `sequence + increment`, wrapping past 2^31 - 1 to 0 as Kafka's DefaultRecordBatch.incrementSequence. */
export function incrementSequence(sequence: number, increment: number): number {
  if (sequence < 0) return sequence
  return sequence > SEQUENCE_MAX - increment ? increment - (SEQUENCE_MAX - sequence) - 1 : sequence + increment
}

function inSequence(lastSequence: number, nextSequence: number): boolean {
  return nextSequence === lastSequence + 1 || (nextSequence === 0 && lastSequence === SEQUENCE_MAX)
}

/** What the judge of one request remembers of a producer it has seen earlier in the same request. */
interface Pending {
  readonly epoch: number
  readonly lastSequence: number
}

export class ProducerStateTable {
  /** Insertion order is recency order: an appending producer moves to the end. */
  private readonly producers = new Map<number, ProducerEntry>()
  /** Set once any producer's state may have been forgotten: retention moved the log start, or eviction. */
  private forgotten = false

  constructor(private readonly producersMax = PRODUCERS_PER_PARTITION_MAX) {
    assert.ok(Number.isSafeInteger(producersMax) && producersMax >= 1)
  }

  get size(): number {
    return this.producers.size
  }

  /** Whether some producer's earlier batches may be unknown here (unknown producers are then accepted at any sequence). */
  get historyIncomplete(): boolean {
    return this.forgotten
  }

  /** The known epoch and last sequence of a producer (tests, status). */
  describe(producerId: number): { epoch: number; lastSequence: number; batches: readonly BatchOffsets[] } | undefined {
    const entry = this.producers.get(producerId)
    const last = entry?.batches.at(-1)
    if (entry === undefined || last === undefined) return undefined
    return { epoch: entry.epoch, lastSequence: last.lastSequence, batches: entry.batches.map(({ baseOffset, lastOffset }) => ({ baseOffset, lastOffset })) }
  }

  /**
   * Judges a whole request before any of it is appended. Later batches are judged as if the
   * earlier ones were appended; duplicates may only lead the request (a retry of a request
   * whose tail a truncation cut off), never follow a new batch.
   */
  validate(batches: readonly ProducerBatchHeader[]): ProducerVerdict {
    const duplicates: BatchOffsets[] = []
    const pending = new Map<number, Pending>()
    for (const [index, batch] of batches.entries()) {
      if (batch.producerId < 0) {
        pending.set(-1, { epoch: -1, lastSequence: -1 })
        continue
      }
      const shape = checkShape(batch, index)
      if (shape !== undefined) return { kind: 'error', error: shape }
      const found = pending.size === 0 ? this.findDuplicate(batch) : undefined
      // Unknown offsets only answer a request of that one batch: offsets of a mixed answer would be wrong.
      const duplicate = found === UNKNOWN_OFFSETS && batches.length > 1 ? undefined : found
      if (duplicate !== undefined) {
        duplicates.push(duplicate)
        continue
      }
      const refusal = this.checkSequence(batch, pending.get(batch.producerId), index)
      if (refusal !== undefined) return { kind: 'error', error: refusal }
      pending.set(batch.producerId, { epoch: batch.producerEpoch, lastSequence: batch.lastSequence })
    }
    return { kind: 'accept', duplicates }
  }

  /** Records a batch appended to the log (by this leader, copied from the leader, or found at open). */
  apply(batch: AppendedProducerBatch): void {
    if (!(batch.producerId >= 0)) return
    let entry = this.producers.get(batch.producerId)
    if (entry === undefined) {
      entry = { epoch: batch.producerEpoch, batches: [], complete: true, coordinatorEpoch: -1 }
      this.evictIfFull()
    } else {
      this.producers.delete(batch.producerId)
    }
    this.producers.set(batch.producerId, entry)
    if (batch.producerEpoch !== entry.epoch) {
      // A new epoch starts a new sequence; what came before can no longer be a duplicate.
      if (entry.batches.length > 0) entry.complete = false
      entry.epoch = batch.producerEpoch
      entry.batches = []
    }
    const { baseOffset, lastOffset, firstSequence, lastSequence } = batch
    entry.batches.push({ epoch: batch.producerEpoch, baseOffset, lastOffset, firstSequence, lastSequence })
    if (entry.batches.length > PRODUCER_BATCHES_RETAINED) {
      entry.batches.shift()
      entry.complete = false
    }
  }

  /**
   * Judges a transaction marker before it is appended (Kafka's ProducerAppendInfo.appendEndTxnMarker):
   * an epoch older than the producer's is INVALID_PRODUCER_EPOCH; a coordinator epoch older
   * than the last marker's for this producer is TRANSACTION_COORDINATOR_FENCED.
   */
  checkMarker(marker: ProducerMarker): SkeinError | undefined {
    const entry = this.producers.get(marker.producerId)
    if (entry === undefined) return undefined
    if (marker.producerEpoch < entry.epoch) {
      return new SkeinError(ErrorCode.INVALID_PRODUCER_EPOCH, `a marker for producer ${marker.producerId} names epoch ${marker.producerEpoch}, older than its current epoch ${entry.epoch}`)
    }
    if (marker.coordinatorEpoch !== undefined && marker.coordinatorEpoch < entry.coordinatorEpoch) {
      return new SkeinError(
        ErrorCode.TRANSACTION_COORDINATOR_FENCED,
        `a marker for producer ${marker.producerId} comes from coordinator epoch ${marker.coordinatorEpoch}, older than the ${entry.coordinatorEpoch} of its last marker here`,
      )
    }
    return undefined
  }

  /**
   * Records a transaction marker the log took: a newer producer epoch starts a new sequence (as
   * a batch of that epoch would), and the coordinator epoch is remembered. No batch is retained:
   * a marker has no sequence.
   */
  applyMarker(marker: ProducerMarker): void {
    if (!(marker.producerId >= 0)) return
    let entry = this.producers.get(marker.producerId)
    if (entry === undefined) {
      entry = { epoch: marker.producerEpoch, batches: [], complete: true, coordinatorEpoch: -1 }
      this.evictIfFull()
    } else {
      this.producers.delete(marker.producerId)
    }
    this.producers.set(marker.producerId, entry)
    if (marker.producerEpoch > entry.epoch) {
      if (entry.batches.length > 0) entry.complete = false
      entry.epoch = marker.producerEpoch
      entry.batches = []
    }
    if (marker.coordinatorEpoch !== undefined) entry.coordinatorEpoch = Math.max(entry.coordinatorEpoch, marker.coordinatorEpoch)
  }

  /** A producer's epoch and last marker's coordinator epoch (tests, status). */
  markerState(producerId: number): { epoch: number; coordinatorEpoch: number } | undefined {
    const entry = this.producers.get(producerId)
    return entry === undefined ? undefined : { epoch: entry.epoch, coordinatorEpoch: entry.coordinatorEpoch }
  }

  /**
   * Forgets batches at or past `offset` (the log was truncated there). Returns false when some
   * producer's state cannot be rebuilt from what is kept (every batch it had retained is gone
   * but it wrote earlier ones): the caller must rebuild the table from the log.
   */
  truncateTo(offset: number): boolean {
    let intact = true
    for (const [producerId, entry] of [...this.producers]) {
      const kept = entry.batches.filter((batch) => batch.lastOffset < offset)
      if (kept.length === entry.batches.length) continue
      if (kept.length > 0) {
        entry.batches = kept
        continue
      }
      this.producers.delete(producerId)
      if (!entry.complete) intact = false
    }
    return intact
  }

  /** Retention moved the log start: producers whose last batch is gone are forgotten (Kafka does the same). */
  onLogStartOffset(logStartOffset: number): void {
    if (logStartOffset <= 0) return
    this.forgotten = true
    for (const [producerId, entry] of [...this.producers]) {
      const last = entry.batches.at(-1)
      if (last === undefined || last.lastOffset < logStartOffset) this.producers.delete(producerId)
    }
  }

  /** Some of the log's history could not be read: producers it held are unknown here. */
  markIncomplete(): void {
    this.forgotten = true
  }

  /** Forgets everything (before a rebuild from the log). */
  clear(): void {
    this.producers.clear()
    this.forgotten = false
  }

  private findDuplicate(batch: ProducerBatchHeader): BatchOffsets | undefined {
    const entry = this.producers.get(batch.producerId)
    if (entry === undefined || entry.epoch !== batch.producerEpoch) return undefined
    const found = entry.batches.find((retained) => retained.firstSequence === batch.firstSequence && retained.lastSequence === batch.lastSequence)
    if (found !== undefined) return { baseOffset: found.baseOffset, lastOffset: found.lastOffset }
    // Older than every batch still retained, in the same epoch: within an epoch each batch was
    // accepted only right after the one before it, so this one was appended, and its offsets
    // are no longer known (a retry that outlived the window, e.g. its answer was lost while
    // later batches got through). Kafka's broker answers DUPLICATE_SEQUENCE_NUMBER, which its
    // producer takes as success with unknown offsets; refusing it as out of order would tell
    // the application a written batch failed. Not across a sequence wrap (2^31 records).
    const oldest = entry.batches[0]
    const newest = entry.batches.at(-1)
    if (oldest === undefined || newest === undefined || entry.complete || oldest.firstSequence > newest.lastSequence) return undefined
    if (batch.firstSequence >= 0 && batch.firstSequence <= batch.lastSequence && batch.lastSequence < oldest.firstSequence) return UNKNOWN_OFFSETS
    return undefined
  }

  private checkSequence(batch: ProducerBatchHeader, pending: Pending | undefined, index: number): SkeinError | undefined {
    const entry = this.producers.get(batch.producerId)
    const known = pending ?? (entry === undefined || entry.batches.length === 0 ? undefined : { epoch: entry.epoch, lastSequence: (entry.batches.at(-1) as RetainedBatch).lastSequence })
    const where = `batch ${index} of producer ${batch.producerId} (epoch ${batch.producerEpoch}, sequences ${batch.firstSequence}..${batch.lastSequence})`
    if (known === undefined) {
      // Known only from a marker (no batch retained): its epoch still fences older ones.
      if (entry !== undefined && batch.producerEpoch < entry.epoch) {
        return new SkeinError(ErrorCode.INVALID_PRODUCER_EPOCH, `${where}: epoch ${batch.producerEpoch} is older than the producer's current epoch ${entry.epoch}`)
      }
      if (batch.firstSequence === 0 || this.forgotten) return undefined
      return new SkeinError(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER, `${where}: this partition has no batch of that producer, so its first batch must have sequence 0`)
    }
    if (batch.producerEpoch < known.epoch) {
      return new SkeinError(ErrorCode.INVALID_PRODUCER_EPOCH, `${where}: epoch ${batch.producerEpoch} is older than the producer's current epoch ${known.epoch}`)
    }
    if (batch.producerEpoch > known.epoch) {
      if (batch.firstSequence === 0) return undefined
      return new SkeinError(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER, `${where}: a new epoch (the last was ${known.epoch}) must start at sequence 0`)
    }
    if (inSequence(known.lastSequence, batch.firstSequence)) return undefined
    return new SkeinError(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER, `${where}: expected sequence ${incrementSequence(known.lastSequence, 1)} after ${known.lastSequence}`)
  }

  private evictIfFull(): void {
    while (this.producers.size >= this.producersMax) {
      const oldest = this.producers.keys().next().value as number
      this.producers.delete(oldest)
      this.forgotten = true
    }
  }
}

/** An idempotent batch needs a non-negative epoch and sequence; Kafka refuses it as an invalid record otherwise. */
function checkShape(batch: ProducerBatchHeader, index: number): SkeinError | undefined {
  if (!Number.isSafeInteger(batch.producerId)) return new SkeinError(ErrorCode.INVALID_RECORD, `batch ${index} names a producer id beyond 2^53; skein never allocates one`)
  if (batch.producerEpoch < 0) return new SkeinError(ErrorCode.INVALID_RECORD, `batch ${index} names producer ${batch.producerId} with epoch ${batch.producerEpoch}; an idempotent batch needs an epoch >= 0`)
  if (batch.firstSequence < 0) return new SkeinError(ErrorCode.INVALID_RECORD, `batch ${index} names producer ${batch.producerId} with sequence ${batch.firstSequence}; an idempotent batch needs a sequence >= 0`)
  return undefined
}

/** One batch of a produce request: where it starts in the request's bytes, and its producer facts. */
export interface RequestBatch {
  readonly position: number
  readonly header: ProducerBatchHeader
}

/**
 * The batches of `bytes` (back to back) by their length fields alone, or undefined when the
 * framing is broken: the log's own checks then refuse the request with the precise error.
 */
/**
 * True if any batch in `bytes` carries a producer id: the produce and replication paths call
 * it first, so requests without idempotent batches (most) cost one header read per batch and
 * no allocation. Stops at bytes that do not frame as batches (the log refuses those).
 */
export function carriesProducerId(bytes: Uint8Array): boolean {
  let position = 0
  while (bytes.length - position >= BATCH_HEADER_BYTES) {
    // A producer id of -1 is eight 0xff bytes: both halves read -1.
    if (readInt32(bytes, position + BatchField.producerId) !== -1 || readInt32(bytes, position + BatchField.producerId + 4) !== -1) return true
    const sizeBytes = readInt32(bytes, position + BatchField.batchLength) + BATCH_LOG_OVERHEAD_BYTES
    if (sizeBytes < BATCH_HEADER_BYTES) return false
    position += sizeBytes
  }
  return false
}

export function producerBatchesIn(bytes: Uint8Array): RequestBatch[] | undefined {
  const batches: RequestBatch[] = []
  let position = 0
  while (position < bytes.length) {
    if (bytes.length - position < BATCH_HEADER_BYTES) return undefined
    const sizeBytes = readInt32(bytes, position + BatchField.batchLength) + BATCH_LOG_OVERHEAD_BYTES
    if (sizeBytes < BATCH_HEADER_BYTES || sizeBytes > bytes.length - position) return undefined
    batches.push({ position, header: producerBatchHeader(bytes, position) })
    position += sizeBytes
  }
  return batches.length === 0 ? undefined : batches
}
