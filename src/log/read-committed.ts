import { BatchAttribute, checkBatchHeader } from './batch-header.js'
import { ControlType, controlTypeOfBatch } from './control-record.js'

/**
 * What a read_committed reader sees of fetched batches (KIP-98), as Kafka's consumer decides it
 * (Fetcher / CompletedFetch.nextFetchedRecord): pure, headers only for data batches.
 *
 * The fetch answer carries the aborted transactions overlapping the fetched range (producer id
 * and first offset). Walking the batches in order, every aborted transaction whose first offset
 * is at or below the batch's last offset marks its producer as aborted; a transactional data
 * batch of an aborted producer is skipped; that producer's ABORT marker clears the mark, so its
 * later transactions read normally. Batches without a producer id, and non-transactional ones,
 * are always read. Control batches (markers, LeaderChange, Voters) are never returned.
 *
 * The fetch must stop at the last stable offset (a transaction below it has its outcome in the
 * log), and the aborted list must be complete for the range: the broker's
 * TransactionIndex.abortedTransactions gives both.
 */

/** One entry of a fetch answer's aborted transactions (Kafka's FetchResponse AbortedTransaction). */
export interface FetchAbortedTxn {
  readonly producerId: number
  readonly firstOffset: number
}

export interface ReadCommittedResult {
  /**
   * The batches to deliver, whole, in order: views into the fetched bytes, one per run of
   * consecutive kept batches (a single view when nothing was skipped between them), none when
   * nothing is kept. Decode each with decodeRecordBatches.
   */
  readonly views: Uint8Array[]
  /** Batches left out: data batches of aborted transactions, and control batches. */
  readonly skippedBatches: number
  /** Of those, the data batches of aborted transactions. */
  readonly abortedBatches: number
}

/** The fetched bytes were framed by the log; the size limit is the broker's business. */
const NO_SIZE_LIMIT = { batchBytesMax: Number.MAX_SAFE_INTEGER }

/**
 * The batches of `bytes` (whole batches, back to back, as fetched) that a read_committed reader
 * must see, given the fetch's aborted transactions (any order). Throws the SkeinError of
 * checkBatchHeader for bytes that do not frame as batches, and of decodeRecordBatch for a
 * control batch whose type must be read (one of an aborted producer) and does not decode.
 */
export function readCommitted(bytes: Uint8Array, abortedTransactions: readonly FetchAbortedTxn[]): ReadCommittedResult {
  const pending = [...abortedTransactions].sort((a, b) => a.firstOffset - b.firstOffset)
  let nextPending = 0
  const abortedProducers = new Set<number>()
  const views: Uint8Array[] = []
  let skippedBatches = 0
  let abortedBatches = 0
  let runStart = -1
  for (let position = 0; position < bytes.length; ) {
    const batch = checkBatchHeader(bytes, position, NO_SIZE_LIMIT)
    const isControl = (batch.attributes & BatchAttribute.control) !== 0
    let keep = !isControl
    if (batch.producerId >= 0) {
      const lastOffset = batch.baseOffset + batch.lastOffsetDelta
      for (; nextPending < pending.length && (pending[nextPending] as FetchAbortedTxn).firstOffset <= lastOffset; nextPending++) {
        abortedProducers.add((pending[nextPending] as FetchAbortedTxn).producerId)
      }
      if (abortedProducers.has(batch.producerId)) {
        if (isControl) {
          if (controlTypeOfBatch(bytes, position) === ControlType.ABORT) abortedProducers.delete(batch.producerId)
        } else if ((batch.attributes & BatchAttribute.transactional) !== 0) {
          keep = false
          abortedBatches++
        }
      }
    }
    if (keep && runStart < 0) runStart = position
    if (!keep) {
      skippedBatches++
      if (runStart >= 0) views.push(bytes.subarray(runStart, position))
      runStart = -1
    }
    position += batch.sizeBytes
  }
  if (runStart >= 0) views.push(bytes.subarray(runStart))
  return { views, skippedBatches, abortedBatches }
}
