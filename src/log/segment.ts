import { strict as assert } from 'node:assert'
import type { FileHandle } from '../env/disk.js'
import { type BatchInfo, batchLastOffset } from './batch-header.js'
import type { FileCache } from './file-cache.js'
import { scanBatches, type ScanOptions, type ScanOutcome } from './scan.js'
import { OFFSET_INDEX_ENTRY_BYTES, SegmentIndex, TIME_INDEX_ENTRY_BYTES } from './segment-index.js'

/** Digits of a segment file's base offset, zero-padded as in Kafka, so names sort by offset. */
const FILE_NAME_DIGITS = 20
export const SEGMENT_SUFFIX = '.log'
export const OFFSET_INDEX_SUFFIX = '.index'
export const TIME_INDEX_SUFFIX = '.timeindex'
/** Largest offset distance inside a segment: index entries store it in 31 bits, as in Kafka. */
export const RELATIVE_OFFSET_MAX = 0x7fff_ffff
/** Timestamp of "no record yet". */
export const NO_TIMESTAMP = -1

export function segmentFileName(baseOffset: number, suffix: string): string {
  return `${String(baseOffset).padStart(FILE_NAME_DIGITS, '0')}${suffix}`
}

/** The base offset a segment file name encodes, or undefined for any other name. */
export function parseSegmentFileName(name: string, suffix: string): number | undefined {
  if (!name.endsWith(suffix)) return undefined
  const digits = name.slice(0, -suffix.length)
  if (digits.length !== FILE_NAME_DIGITS || !/^[0-9]+$/.test(digits)) return undefined
  const baseOffset = Number(digits)
  return Number.isSafeInteger(baseOffset) ? baseOffset : undefined
}

/**
 * One segment: a file of whole batches holding offsets [baseOffset, nextOffset), with its
 * sparse index. Only the last segment of a log (the active one) grows.
 *
 * Three sizes, because writes are asynchronous: `sizeBytes` counts every batch accepted
 * (offsets assigned), `writtenBytes` those the OS has, and readers only ever see the latter.
 */
export class Segment {
  readonly logPath: string
  readonly offsetIndexPath: string
  readonly timeIndexPath: string
  nextOffset: number
  sizeBytes: number
  writtenBytes: number
  /** Largest batch maxTimestamp in the segment, NO_TIMESTAMP if empty or not known yet. */
  maxTimestamp: number
  /** maxTimestamp of the first batch: segment.ms ages a segment from it, as Kafka does. */
  firstBatchTimestamp: number
  /** The sparse index; undefined for a closed segment until first needed. */
  index: SegmentIndex | undefined
  /** Index entries already appended to the index files. */
  persistedIndexEntries: number
  /** Batch bytes appended since the last index entry. */
  bytesSinceIndexEntry: number
  /** Closed segments never grow again; their time index carries a closing entry. */
  closed: boolean
  /**
   * Wall time segment.ms ages the segment from: when its first batch was appended (by the
   * clock, not by producers' timestamps, which may be years old), or see ageFromFirstRecord.
   */
  createdWallMs = 0

  constructor(
    readonly dir: string,
    readonly baseOffset: number,
    state: { nextOffset: number; sizeBytes: number; closed: boolean; index: SegmentIndex | undefined },
  ) {
    this.logPath = `${dir}/${segmentFileName(baseOffset, SEGMENT_SUFFIX)}`
    this.offsetIndexPath = `${dir}/${segmentFileName(baseOffset, OFFSET_INDEX_SUFFIX)}`
    this.timeIndexPath = `${dir}/${segmentFileName(baseOffset, TIME_INDEX_SUFFIX)}`
    this.nextOffset = state.nextOffset
    this.sizeBytes = state.sizeBytes
    this.writtenBytes = state.sizeBytes
    this.maxTimestamp = NO_TIMESTAMP
    this.firstBatchTimestamp = NO_TIMESTAMP
    this.index = state.index
    this.persistedIndexEntries = state.index?.count ?? 0
    this.bytesSinceIndexEntry = 0
    this.closed = state.closed
  }

  /**
   * Sets the time segment.ms ages the segment from when it was not seen being created (after
   * a reopen, or a truncation back into it): its first record's time, so the age survives a
   * restart, but never later than now, so a segment of old records (a replay of history)
   * rolls once rather than on every append.
   */
  ageFromFirstRecord(nowWallMs: number): void {
    this.createdWallMs = this.firstBatchTimestamp === NO_TIMESTAMP ? nowWallMs : Math.min(nowWallMs, this.firstBatchTimestamp)
  }

  get paths(): readonly string[] {
    return [this.logPath, this.offsetIndexPath, this.timeIndexPath]
  }

  isEmpty(): boolean {
    return this.sizeBytes === 0
  }

  /**
   * Accounts for a batch placed at `sizeBytes` (its base offset already stamped): offsets,
   * timestamps and, every `indexIntervalBytes`, a sparse index entry pointing at it.
   */
  recordBatch(batch: BatchInfo, indexIntervalBytes: number): void {
    assert.ok(!this.closed, 'a closed segment does not grow')
    this.indexBatch(batch, indexIntervalBytes)
  }

  /** recordBatch without the growth check: recovery replays a closed segment's batches through it. */
  indexBatch(batch: BatchInfo, indexIntervalBytes: number): void {
    assert.equal(batch.baseOffset, this.nextOffset, 'batches are contiguous')
    const index = this.index
    assert.ok(index !== undefined, 'the active segment has its index loaded')
    if (this.sizeBytes > 0 && this.bytesSinceIndexEntry >= indexIntervalBytes) {
      index.add(batch.baseOffset - this.baseOffset, this.sizeBytes, this.maxTimestamp)
      this.bytesSinceIndexEntry = 0
    }
    if (this.sizeBytes === 0) this.firstBatchTimestamp = batch.maxTimestamp
    this.sizeBytes += batch.sizeBytes
    this.bytesSinceIndexEntry += batch.sizeBytes
    this.nextOffset = batchLastOffset(batch) + 1
    if (batch.maxTimestamp > this.maxTimestamp) this.maxTimestamp = batch.maxTimestamp
  }

  unpersistedIndexEntries(): number {
    return (this.index?.count ?? 0) - this.persistedIndexEntries
  }

  /** Appends the index entries that point into bytes already written; the writer calls it after each write. */
  async persistIndex(files: FileCache): Promise<void> {
    const index = this.index
    if (index === undefined) return
    let upTo = this.persistedIndexEntries
    while (upTo < index.count && index.position(upTo) < this.writtenBytes) upTo++
    if (upTo === this.persistedIndexEntries) return
    const from = this.persistedIndexEntries
    this.persistedIndexEntries = upTo
    await files.use(this.offsetIndexPath, true, (file) => file.append(index.encodeOffsetEntries(from, upTo)))
    await files.use(this.timeIndexPath, true, (file) => file.append(index.encodeTimeEntries(from, upTo)))
  }

  /**
   * Closes the segment for good: the closing time-index entry (largest timestamp, end offset)
   * goes on, and all three files are synced, so a later crash can only tear the segment after it.
   */
  async seal(files: FileCache): Promise<void> {
    assert.equal(this.writtenBytes, this.sizeBytes, 'a segment is sealed after its writes')
    await this.persistIndex(files)
    if (!this.isEmpty()) {
      const closing = new SegmentIndex()
      closing.add(this.nextOffset - this.baseOffset, 0, this.maxTimestamp)
      await files.use(this.timeIndexPath, true, (file) => file.append(closing.encodeTimeEntries(0, 1)))
    }
    await Promise.all(this.paths.map((path) => files.use(path, true, (file) => file.sync())))
    // Only now: retention deletes closed segments, and must not delete one mid-seal.
    this.closed = true
  }

  /** Visits the written batches from `fromPosition`; see scanBatches. */
  scan(
    files: FileCache,
    fromPosition: number,
    options: ScanOptions,
    visit: (batch: BatchInfo, chunk: Uint8Array, chunkStart: number) => boolean,
  ): Promise<ScanOutcome> {
    return files.use(this.logPath, false, (file: FileHandle) => scanBatches(file, fromPosition, this.writtenBytes, options, visit))
  }

  /** Offset-index and time-index file sizes matching `entryCount` entries (no closing entry). */
  static indexFileSizes(entryCount: number): { offsetIndexBytes: number; timeIndexBytes: number } {
    return { offsetIndexBytes: entryCount * OFFSET_INDEX_ENTRY_BYTES, timeIndexBytes: entryCount * TIME_INDEX_ENTRY_BYTES }
  }
}
