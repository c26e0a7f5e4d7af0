import type { Logger } from '../env/logger.js'
import { BATCH_LOG_OVERHEAD_BYTES, readInt32, readInt64 } from './batch-header.js'
import type { FileCache } from './file-cache.js'
import { scanBatches } from './scan.js'
import { NO_TIMESTAMP, Segment } from './segment.js'
import { OFFSET_INDEX_ENTRY_BYTES, SegmentIndex, TIME_INDEX_ENTRY_BYTES } from './segment-index.js'

/** What recovering the active segment found, for the log's open message. */
export interface ActiveRecoveryReport {
  /** Bytes scanned (from the last trusted index entry to the end). */
  readonly scannedBytes: number
  /** Torn or corrupt bytes cut off the end, 0 after a clean shutdown. */
  readonly truncatedBytes: number
  readonly truncateReason: string | undefined
  readonly indexRebuilt: boolean
  /**
   * When whole valid batches follow the damage (so it was not a torn last write but bytes
   * rotting inside what was written, likely fsynced and acknowledged): one past the last
   * offset they hold. The log's owner must treat the records up to there as lost, not as
   * never written. Undefined for a clean open or a torn tail.
   */
  readonly damagedEndOffset: number | undefined
}

/**
 * Recovers the last segment of a log on open: its bytes may end in a torn or corrupt batch
 * (a crash mid-write), and its index files may be behind, ahead of, or disagree with it.
 * Trust the index up to its last entry that lies inside the file, scan every batch after it
 * with its CRC, cut the file at the first bad byte, and rebuild the index entries for what
 * was scanned. If the index points at something that is not a batch, rebuild it from byte 0.
 */
export async function recoverActiveSegment(files: FileCache, segment: Segment, indexIntervalBytes: number, log: Logger): Promise<ActiveRecoveryReport> {
  const fileBytes = await files.use(segment.logPath, true, async (file) => file.size())
  const loaded = (await readIndexFiles(files, segment, fileBytes))?.index
  let outcome = await replayFrom(files, segment, loaded ?? new SegmentIndex(), fileBytes, indexIntervalBytes)
  let indexRebuilt = loaded === undefined && fileBytes > 0
  if (outcome.stop !== undefined && outcome.stop.position === outcome.startPosition && outcome.startPosition > 0) {
    // The index's last entry points at bytes that are not a valid batch: the index and the
    // segment disagree. Believe the segment.
    outcome = await replayFrom(files, segment, new SegmentIndex(), fileBytes, indexIntervalBytes)
    indexRebuilt = true
  }
  const truncatedBytes = fileBytes - segment.sizeBytes
  const damagedEndOffset = truncatedBytes > 0 ? await endOfValidBatchesAfter(files, segment, segment.sizeBytes, fileBytes) : undefined
  if (damagedEndOffset !== undefined) {
    log.error({ segment: segment.logPath, position: segment.sizeBytes, damagedEndOffset }, 'valid batches follow the damage: records inside the segment rotted, not a torn write')
  }
  if (truncatedBytes > 0) {
    log.warn(
      { segment: segment.logPath, position: segment.sizeBytes, truncatedBytes, reason: outcome.stop?.reason },
      'truncating a torn or corrupt tail found on open',
    )
    await files.use(segment.logPath, false, async (file) => {
      await file.truncate(segment.sizeBytes)
      await file.sync()
    })
  }
  if (indexRebuilt) log.warn({ segment: segment.logPath }, 'index disagreed with its segment; rebuilt it from the segment')
  // Cut the index files back to the entries kept (dropping any closing entry: the segment is
  // active again), then write the entries the scan added.
  // A cut is synced: entries that came back after a crash could point into bytes new appends
  // reuse for other offsets, and only the last entry is checked on open.
  const kept = segment.persistedIndexEntries
  await cutIndexFile(files, segment.offsetIndexPath, kept * OFFSET_INDEX_ENTRY_BYTES)
  await cutIndexFile(files, segment.timeIndexPath, kept * TIME_INDEX_ENTRY_BYTES)
  await segment.persistIndex(files)
  return { scannedBytes: fileBytes - outcome.startPosition, truncatedBytes, truncateReason: outcome.stop?.reason, indexRebuilt, damagedEndOffset }
}

/**
 * Tells rot from a torn write: if the damaged batch at `position` still has a believable
 * length and whole batches with valid CRCs follow it, the damage sits inside written bytes.
 * Returns one past the last offset of those batches, or undefined (nothing valid follows:
 * taken for a torn tail; rot in the very last batch looks the same and cannot be told apart).
 */
async function endOfValidBatchesAfter(files: FileCache, segment: Segment, position: number, fileBytes: number): Promise<number | undefined> {
  if (fileBytes - position < BATCH_LOG_OVERHEAD_BYTES) return undefined
  const header = await files.use(segment.logPath, false, (file) => file.read(position, BATCH_LOG_OVERHEAD_BYTES))
  const next = position + BATCH_LOG_OVERHEAD_BYTES + readInt32(header, BATCH_LOG_OVERHEAD_BYTES - 4)
  if (header.length < BATCH_LOG_OVERHEAD_BYTES || next <= position + BATCH_LOG_OVERHEAD_BYTES || next >= fileBytes) return undefined
  let end: number | undefined
  await files.use(segment.logPath, false, (file) =>
    scanBatches(file, next, fileBytes, { verifyCrc: true }, (batch) => {
      end = batch.baseOffset + batch.lastOffsetDelta + 1
      return true
    }),
  )
  return end
}

/**
 * Loads a closed segment's index (on first use, not on open: a log may have thousands of
 * segments). Checks it against the segment: sizes, ordering, the last entry pointing at a
 * batch with the offset it claims, and the closing entry. Rebuilds both files if they disagree.
 */
export async function loadClosedSegmentIndex(files: FileCache, segment: Segment, indexIntervalBytes: number, log: Logger): Promise<void> {
  const fileBytes = await files.use(segment.logPath, false, async (file) => file.size())
  segment.sizeBytes = fileBytes
  segment.writtenBytes = fileBytes
  const loaded = await readIndexFiles(files, segment, fileBytes)
  if (
    loaded?.closing !== undefined &&
    loaded.closing.endOffset === segment.nextOffset &&
    loaded.index.count === loaded.entriesInFile &&
    (await lastEntryMatches(files, segment, loaded.index))
  ) {
    segment.index = loaded.index
    segment.persistedIndexEntries = loaded.index.count
    segment.maxTimestamp = loaded.closing.maxTimestamp
    return
  }
  // Rebuild from the bytes (headers only: a closed segment was synced whole when sealed).
  const expectedNextOffset = segment.nextOffset
  const outcome = await replayFrom(files, segment, new SegmentIndex(), fileBytes, indexIntervalBytes, false)
  if (outcome.stop !== undefined || segment.nextOffset !== expectedNextOffset) {
    log.error(
      { segment: segment.logPath, position: outcome.stop?.position, reason: outcome.stop?.reason, nextOffset: segment.nextOffset, expectedNextOffset },
      'closed segment is corrupt; reads past the damage will fail',
    )
  }
  log.warn({ segment: segment.logPath, entries: segment.index?.count }, 'index of a closed segment disagreed with it; rebuilt it')
  segment.closed = false
  segment.persistedIndexEntries = 0
  await files.use(segment.offsetIndexPath, true, (file) => file.truncate(0))
  await files.use(segment.timeIndexPath, true, (file) => file.truncate(0))
  await segment.seal(files)
}

/**
 * Reads a segment's two index files. Returns undefined when they cannot be trusted at all
 * (missing, odd sizes, entries out of order); drops entries that point past the file's end,
 * which a crash can leave when index bytes reached the disk before segment bytes.
 */
async function readIndexFiles(files: FileCache, segment: Segment, fileBytes: number): Promise<LoadedIndex | undefined> {
  const offsetBytes = await readWholeFile(files, segment.offsetIndexPath)
  const timeBytes = await readWholeFile(files, segment.timeIndexPath)
  if (offsetBytes === undefined || timeBytes === undefined) return undefined
  const decoded = SegmentIndex.decode(offsetBytes, timeBytes, Number.MAX_SAFE_INTEGER)
  if ('problem' in decoded) return undefined
  const index = decoded.index
  const entriesInFile = index.count
  let kept = entriesInFile
  while (kept > 0 && index.position(kept - 1) >= fileBytes) kept--
  index.truncate(kept)
  const closing =
    decoded.closing === undefined
      ? undefined
      : { maxTimestamp: decoded.closing.maxTimestamp, endOffset: segment.baseOffset + decoded.closing.endRelativeOffset }
  return { index, entriesInFile, closing }
}

interface LoadedIndex {
  readonly index: SegmentIndex
  /** Entries the files held before those pointing past the segment's end were dropped. */
  readonly entriesInFile: number
  /** The closing entry of a sealed segment, if the time index has one. */
  readonly closing: { readonly maxTimestamp: number; readonly endOffset: number } | undefined
}

/** Truncates an index file to `sizeBytes` if it is longer, durably. */
export async function cutIndexFile(files: FileCache, path: string, sizeBytes: number): Promise<void> {
  await files.use(path, true, async (file) => {
    if (file.size() <= sizeBytes) return
    await file.truncate(sizeBytes)
    await file.sync()
  })
}

async function readWholeFile(files: FileCache, path: string): Promise<Uint8Array | undefined> {
  try {
    return await files.use(path, false, (file) => file.read(0, file.size()))
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ENOENT') return undefined
    throw error
  }
}

/** True when the index's last entry points at a batch whose base offset is the one it claims. */
async function lastEntryMatches(files: FileCache, segment: Segment, index: SegmentIndex): Promise<boolean> {
  if (index.count === 0) return true
  const last = index.count - 1
  const header = await files.use(segment.logPath, false, (file) => file.read(index.position(last), BATCH_LOG_OVERHEAD_BYTES))
  return header.length === BATCH_LOG_OVERHEAD_BYTES && readInt64(header, 0) === segment.baseOffset + index.relativeOffset(last)
}

interface ReplayOutcome {
  readonly startPosition: number
  readonly stop: { readonly position: number; readonly reason: string } | undefined
}

/**
 * Resets the segment to the state at the index's last entry (or empty), then replays every
 * batch from there to `fileBytes` through the same bookkeeping appends use, so the rebuilt
 * index is exactly the one appends would have written.
 */
async function replayFrom(
  files: FileCache,
  segment: Segment,
  index: SegmentIndex,
  fileBytes: number,
  indexIntervalBytes: number,
  verifyCrc = true,
): Promise<ReplayOutcome> {
  const last = index.count - 1
  const startPosition = last < 0 ? 0 : index.position(last)
  segment.index = index
  segment.persistedIndexEntries = index.count
  segment.sizeBytes = startPosition
  segment.nextOffset = segment.baseOffset + (last < 0 ? 0 : index.relativeOffset(last))
  segment.maxTimestamp = last < 0 ? NO_TIMESTAMP : index.timestampBefore(last)
  // The batch at the entry's own position must not get a second entry.
  segment.bytesSinceIndexEntry = 0
  segment.firstBatchTimestamp = NO_TIMESTAMP
  segment.writtenBytes = fileBytes
  let gap: { position: number; reason: string } | undefined
  const outcome = await segment.scan(files, startPosition, { verifyCrc }, (batch) => {
    if (batch.baseOffset !== segment.nextOffset) {
      gap = { position: batch.position, reason: `batch has base offset ${batch.baseOffset}, expected ${segment.nextOffset}` }
      return false
    }
    segment.indexBatch(batch, indexIntervalBytes)
    return true
  })
  const stop = gap ?? outcome.stop
  segment.sizeBytes = stop?.position ?? outcome.endPosition
  segment.writtenBytes = segment.sizeBytes
  if (startPosition > 0) segment.firstBatchTimestamp = await firstBatchMaxTimestamp(files, segment)
  return { startPosition, stop }
}

/** The maxTimestamp of the segment's first batch. */
export async function firstBatchMaxTimestamp(files: FileCache, segment: Segment): Promise<number> {
  let timestamp = NO_TIMESTAMP
  await segment.scan(files, 0, { verifyCrc: false, headersOnly: true }, (batch) => {
    timestamp = batch.maxTimestamp
    return false
  })
  return timestamp
}
