import { strict as assert } from 'node:assert'
import { ControlType } from '../../src/log/control-record.js'
import { ErrorCode, SkeinError } from '../../src/wire/errors.js'

/**
 * Transactions (KIP-98), per partition, as Kafka's ProducerStateManager (ongoing and unreplicated
 * transactions) and TransactionIndex (aborted transactions) keep them. Pure: the replica feeds it
 * the header facts of every batch the log takes (leader or follower, and all of the log when it
 * opens), exactly as it feeds producer-state.ts, plus the type of each control batch's marker.
 *
 * What it answers:
 * - the last stable offset (LSO): a read_committed fetch reads below it, so it never sees a
 *   transaction whose outcome is not committed yet;
 * - the aborted transactions a read_committed fetch of a range must carry (Kafka's FetchResponse
 *   AbortedTransactions), so the reader can drop their batches (src/log/read-committed.ts).
 *
 * The rules:
 * - a transactional, non-control batch with a producer id opens a transaction at its base offset
 *   if that producer has none open, else belongs to the open one;
 * - a COMMIT or ABORT marker (a control batch with a producer id) ends the producer's open
 *   transaction; an ABORT adds { producerId, firstOffset, lastOffset: the marker's offset } to the
 *   aborted index. A marker for a producer with no open transaction is legal (the coordinator
 *   writes markers to partitions that got no data, and aborts after a timeout) and changes
 *   nothing, as in Kafka. Control batches of other types (LeaderChange, Voters) are ignored;
 * - producer epochs are not looked at: fencing is producer-state.ts's job before the append, and
 *   what the log holds is read the same epoch-blind way by a read_committed consumer. A batch of
 *   an older or newer epoch joins the open transaction; any marker of the producer ends it.
 *
 * A transaction whose marker is below the high watermark is settled: its outcome is committed
 * and can no longer be cut. One whose marker is not yet settled still holds the LSO back (a
 * truncation could undo its marker and reopen it).
 */

/**
 * Aborted transactions kept in the index. Beyond it the one with the oldest marker is forgotten,
 * and a read_committed fetch from below the forgotten marker is refused (see
 * `abortedTransactions`): showing aborted records as if committed is the one thing a
 * read_committed reader must never get. About 50 bytes each, so ~5 MiB per partition at most;
 * Kafka keeps its index on disk, per segment, without a bound.
 */
export const ABORTED_TRANSACTIONS_MAX = 100_000

/**
 * Ended transactions whose marker is not yet known to be below the high watermark. Normally
 * few (the uncommitted tail); at open, before the high watermark is learned, the whole log's.
 * Beyond it the oldest are summarised (the LSO stays at or below their first offsets until the
 * high watermark passes their markers: conservative) and a truncation below their markers
 * asks the caller to rebuild the index from the log.
 */
export const UNSETTLED_TRANSACTIONS_MAX = 100_000

/** The facts of one batch the log took (header only, plus the marker type of a control batch). */
export interface TxnBatchFacts {
  readonly baseOffset: number
  readonly lastOffset: number
  /** -1 (or below) for a batch without a producer: ignored. */
  readonly producerId: number
  readonly producerEpoch: number
  readonly isTransactional: boolean
  readonly isControl: boolean
  /** For a control batch, the type its record's key names (controlTypeOf); undefined if unreadable. */
  readonly controlType?: number | undefined
}

/** An aborted transaction (Kafka's AbortedTxn): its first offset and its ABORT marker's offset. */
export interface AbortedTxn {
  readonly producerId: number
  readonly firstOffset: number
  readonly lastOffset: number
}

export interface OngoingTxn {
  readonly producerId: number
  readonly firstOffset: number
}

interface UnsettledTxn {
  readonly producerId: number
  readonly firstOffset: number
  readonly markerOffset: number
}

interface AbortedEntry extends AbortedTxn {
  /** The smallest firstOffset of this entry and every later one: a range scan stops where it passes the range. */
  firstOffsetMinFromHere: number
}

/** Unsettled transactions forgotten past UNSETTLED_TRANSACTIONS_MAX, summarised. */
interface UnsettledOverflow {
  firstOffsetMin: number
  markerOffsetMax: number
}

export class TransactionIndex {
  /** Open transactions: producer id to first offset, in first-offset order (insertion order). */
  private ongoing = new Map<number, number>()
  /** Ended transactions whose marker is at or above `settledBelowOffset`, in marker order. */
  private unsettled: UnsettledTxn[] = []
  private overflow: UnsettledOverflow | undefined
  /** In marker (lastOffset) order, strictly increasing. */
  private aborted: AbortedEntry[] = []
  /** The highest high watermark heard: markers below it are settled. */
  private settledBelowOffset = 0
  private logStartOffset = 0
  /** The offset after the last batch applied. */
  private nextOffset = 0
  /** Aborted transactions whose marker is at or past it are all indexed. */
  private completeFromOffset = 0

  constructor(
    private readonly abortedMax = ABORTED_TRANSACTIONS_MAX,
    private readonly unsettledMax = UNSETTLED_TRANSACTIONS_MAX,
  ) {
    assert.ok(Number.isSafeInteger(abortedMax) && abortedMax >= 1)
    assert.ok(Number.isSafeInteger(unsettledMax) && unsettledMax >= 1)
  }

  /**
   * The lowest offset from which `abortedTransactions` is complete: 0 unless the index dropped
   * entries past ABORTED_TRANSACTIONS_MAX. A read_committed reader's earliest offset is the
   * larger of this and the log start.
   */
  get indexedFromOffset(): number {
    return this.completeFromOffset
  }

  get abortedCount(): number {
    return this.aborted.length
  }

  /** The open transactions, oldest first (status, tests). */
  ongoingTransactions(): OngoingTxn[] {
    return [...this.ongoing].map(([producerId, firstOffset]) => ({ producerId, firstOffset }))
  }

  /** Records a batch the log took, in log order. */
  apply(batch: TxnBatchFacts): void {
    assert.ok(Number.isSafeInteger(batch.baseOffset) && batch.baseOffset >= 0, `base offset ${batch.baseOffset}`)
    assert.ok(Number.isSafeInteger(batch.lastOffset) && batch.lastOffset >= batch.baseOffset, `last offset ${batch.lastOffset}`)
    assert.ok(batch.baseOffset >= this.nextOffset, `batch at ${batch.baseOffset} applied after the log reached ${this.nextOffset}`)
    this.nextOffset = batch.lastOffset + 1
    if (!(batch.producerId >= 0)) return
    if (batch.isControl) {
      if (batch.controlType === ControlType.ABORT || batch.controlType === ControlType.COMMIT) {
        this.endTransaction(batch.producerId, batch.baseOffset, batch.controlType === ControlType.ABORT)
      }
      return
    }
    if (batch.isTransactional && !this.ongoing.has(batch.producerId)) this.ongoing.set(batch.producerId, batch.baseOffset)
  }

  /**
   * Kafka's LSO: the high watermark, or the first offset of the oldest transaction that is
   * open or whose marker is at or above `highWatermark`, whichever is lower; never below the
   * log start. `highWatermark` must not be below one already given to onHighWatermark.
   */
  lastStableOffset(highWatermark: number): number {
    assert.ok(Number.isSafeInteger(highWatermark) && highWatermark >= 0, `high watermark ${highWatermark}`)
    assert.ok(highWatermark >= this.settledBelowOffset, `high watermark ${highWatermark} is below one heard before (${this.settledBelowOffset})`)
    let firstUnstable = Number.POSITIVE_INFINITY
    // Map order is first-offset order: the first open transaction is the oldest.
    for (const firstOffset of this.ongoing.values()) {
      firstUnstable = firstOffset
      break
    }
    for (let i = this.unsettled.length - 1; i >= 0; i--) {
      const txn = this.unsettled[i] as UnsettledTxn
      if (txn.markerOffset < highWatermark) break
      firstUnstable = Math.min(firstUnstable, txn.firstOffset)
    }
    if (this.overflow !== undefined && this.overflow.markerOffsetMax >= highWatermark) firstUnstable = Math.min(firstUnstable, this.overflow.firstOffsetMin)
    return Math.min(highWatermark, Math.max(this.logStartOffset, firstUnstable))
  }

  /** The high watermark moved: transactions whose marker is below it are settled. A lower value than before is ignored. */
  onHighWatermark(highWatermark: number): void {
    assert.ok(Number.isSafeInteger(highWatermark) && highWatermark >= 0, `high watermark ${highWatermark}`)
    if (highWatermark <= this.settledBelowOffset) return
    this.settledBelowOffset = highWatermark
    let settled = 0
    while (settled < this.unsettled.length && (this.unsettled[settled] as UnsettledTxn).markerOffset < highWatermark) settled++
    if (settled > 0) this.unsettled.splice(0, settled)
    if (this.overflow !== undefined && this.overflow.markerOffsetMax < highWatermark) this.overflow = undefined
  }

  /**
   * The aborted transactions that overlap [fromOffset, toOffsetExclusive) (marker at or after
   * fromOffset, first offset before toOffsetExclusive), in first-offset order: what a
   * read_committed fetch of that range carries. Throws SkeinError OFFSET_OUT_OF_RANGE when
   * fromOffset is below `indexedFromOffset` (entries there were dropped past the bound: the
   * answer could miss an aborted transaction, and its records would read as committed).
   */
  abortedTransactions(fromOffset: number, toOffsetExclusive: number): AbortedTxn[] {
    assert.ok(Number.isSafeInteger(fromOffset) && fromOffset >= 0, `from offset ${fromOffset}`)
    assert.ok(toOffsetExclusive >= fromOffset, `range [${fromOffset}, ${toOffsetExclusive})`)
    if (fromOffset < this.completeFromOffset) {
      throw new SkeinError(
        ErrorCode.OFFSET_OUT_OF_RANGE,
        `a read_committed fetch from offset ${fromOffset} cannot be served: the aborted-transaction index keeps the last ${this.abortedMax} and is complete only from offset ${this.completeFromOffset}; read from there`,
      )
    }
    const found: AbortedTxn[] = []
    for (let i = this.firstEndingAtOrAfter(fromOffset); i < this.aborted.length; i++) {
      const entry = this.aborted[i] as AbortedEntry
      if (entry.firstOffsetMinFromHere >= toOffsetExclusive) break
      if (entry.firstOffset < toOffsetExclusive) found.push({ producerId: entry.producerId, firstOffset: entry.firstOffset, lastOffset: entry.lastOffset })
    }
    return found.sort((a, b) => a.firstOffset - b.firstOffset || a.producerId - b.producerId)
  }

  /**
   * The log was cut at `offset` (a follower dropping its uncommitted tail): transactions opened
   * at or after it disappear, markers at or after it are undone (their transaction is open
   * again), aborted entries whose marker is at or after it are removed. `offset` must not be
   * below a high watermark heard (the committed prefix is never cut). Returns false when the
   * cut reaches markers summarised past UNSETTLED_TRANSACTIONS_MAX: the caller must clear() and
   * feed the log again.
   */
  truncateTo(offset: number): boolean {
    assert.ok(Number.isSafeInteger(offset) && offset >= 0, `truncation offset ${offset}`)
    assert.ok(offset >= this.settledBelowOffset, `truncation at ${offset} cuts below the high watermark ${this.settledBelowOffset}`)
    if (offset >= this.nextOffset) return true
    this.nextOffset = offset
    for (const [producerId, firstOffset] of [...this.ongoing]) {
      if (firstOffset >= offset) this.ongoing.delete(producerId)
    }
    let reopened = false
    while (this.unsettled.length > 0 && (this.unsettled.at(-1) as UnsettledTxn).markerOffset >= offset) {
      const txn = this.unsettled.pop() as UnsettledTxn
      if (txn.firstOffset >= offset) continue
      assert.ok(!this.ongoing.has(txn.producerId), `producer ${txn.producerId} has an open transaction before its undone marker at ${txn.markerOffset}`)
      this.ongoing.set(txn.producerId, txn.firstOffset)
      reopened = true
    }
    if (reopened) this.ongoing = new Map([...this.ongoing].sort((a, b) => a[1] - b[1]))
    this.truncateAborted(offset)
    return this.overflow === undefined || offset > this.overflow.markerOffsetMax
  }

  /** Retention (or DeleteRecords) moved the log start: aborted entries wholly below it are dropped. */
  advanceLogStart(offset: number): void {
    assert.ok(Number.isSafeInteger(offset) && offset >= 0, `log start ${offset}`)
    if (offset <= this.logStartOffset) return
    this.logStartOffset = offset
    const dropped = this.firstEndingAtOrAfter(offset)
    if (dropped > 0) this.aborted.splice(0, dropped)
  }

  /**
   * Forgets every transaction, before the log is fed again from its start. Keeps the high
   * watermark and log start heard, which a rebuild does not change (so markers below the high
   * watermark are settled as they are fed, and the rebuild stays within the bounds).
   */
  clear(): void {
    this.ongoing.clear()
    this.unsettled = []
    this.overflow = undefined
    this.aborted = []
    this.nextOffset = 0
    this.completeFromOffset = 0
  }

  private endTransaction(producerId: number, markerOffset: number, aborted: boolean): void {
    const firstOffset = this.ongoing.get(producerId)
    if (firstOffset === undefined) return
    assert.ok(firstOffset < markerOffset, `producer ${producerId}'s transaction opens at ${firstOffset}, not before its marker at ${markerOffset}`)
    this.ongoing.delete(producerId)
    if (aborted) this.addAborted({ producerId, firstOffset, lastOffset: markerOffset })
    if (markerOffset >= this.settledBelowOffset) this.addUnsettled({ producerId, firstOffset, markerOffset })
  }

  private addUnsettled(txn: UnsettledTxn): void {
    const last = this.unsettled.at(-1)
    assert.ok(last === undefined || last.markerOffset < txn.markerOffset, 'unsettled transactions out of marker order')
    this.unsettled.push(txn)
    if (this.unsettled.length <= this.unsettledMax) return
    const oldest = this.unsettled.shift() as UnsettledTxn
    const overflow = this.overflow ?? { firstOffsetMin: oldest.firstOffset, markerOffsetMax: oldest.markerOffset }
    overflow.firstOffsetMin = Math.min(overflow.firstOffsetMin, oldest.firstOffset)
    overflow.markerOffsetMax = Math.max(overflow.markerOffsetMax, oldest.markerOffset)
    this.overflow = overflow
  }

  private addAborted(txn: AbortedTxn): void {
    const last = this.aborted.at(-1)
    assert.ok(last === undefined || last.lastOffset < txn.lastOffset, 'aborted transactions out of marker order')
    this.aborted.push({ ...txn, firstOffsetMinFromHere: txn.firstOffset })
    // Earlier entries' minimum now covers this one too; stop at the first already at or below it.
    for (let i = this.aborted.length - 2; i >= 0; i--) {
      const entry = this.aborted[i] as AbortedEntry
      if (entry.firstOffsetMinFromHere <= txn.firstOffset) break
      entry.firstOffsetMinFromHere = txn.firstOffset
    }
    if (this.aborted.length > this.abortedMax) {
      const dropped = this.aborted.shift() as AbortedEntry
      this.completeFromOffset = Math.max(this.completeFromOffset, dropped.lastOffset + 1)
    }
    assert.ok(this.aborted.length <= this.abortedMax)
  }

  private truncateAborted(offset: number): void {
    const kept = this.firstEndingAtOrAfter(offset)
    if (kept === this.aborted.length) return
    this.aborted.length = kept
    // Recompute the minimum from the new end until an entry's is unchanged (all before it are then too).
    let laterMin = Number.POSITIVE_INFINITY
    for (let i = kept - 1; i >= 0; i--) {
      const entry = this.aborted[i] as AbortedEntry
      const min = Math.min(entry.firstOffset, laterMin)
      if (min === entry.firstOffsetMinFromHere) break
      entry.firstOffsetMinFromHere = min
      laterMin = min
    }
  }

  /** The index of the first aborted entry whose marker is at or after `offset` (binary search). */
  private firstEndingAtOrAfter(offset: number): number {
    let low = 0
    let high = this.aborted.length
    while (low < high) {
      const middle = (low + high) >>> 1
      if ((this.aborted[middle] as AbortedEntry).lastOffset < offset) low = middle + 1
      else high = middle
    }
    return low
  }
}
