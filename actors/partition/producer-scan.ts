import type { Disk, FileHandle } from '../../src/env/disk.js'
import { BATCH_HEADER_BYTES, BATCH_LOG_OVERHEAD_BYTES, BATCH_MAGIC_V2, BatchField, readInt32, readInt64 } from '../../src/log/batch-header.js'
import type { FileCache } from '../../src/log/file-cache.js'
import { SEGMENT_SUFFIX, parseSegmentFileName } from '../../src/log/segment.js'
import { type AppendedProducerBatch, producerBatchHeader } from './producer-state.js'

/**
 * Bytes read at a time while scanning headers: small batches come many to a read, and a batch
 * larger than this costs one read of its header alone, whatever its size.
 */
export const PRODUCER_SCAN_CHUNK_BYTES = 64 * 1024

/** Where a header scan stopped early, if it did. */
export interface ProducerScanOutcome {
  readonly batches: number
  /** Set when bytes that are not a batch header were met (the log's own recovery should have cut them). */
  readonly stoppedAt?: { readonly segment: string; readonly position: number }
}

/**
 * Visits the producer facts of every batch in the log directory `logDir`, oldest first,
 * reading headers only (a read per PRODUCER_SCAN_CHUNK_BYTES or per large batch), never
 * records or CRCs: the log checked them when it opened. Runs on a log no one is appending to
 * (at open, or while the replica refuses writes). `files` is the node's handle cache, if any.
 */
export async function scanProducerBatches(
  disk: Disk,
  files: FileCache | undefined,
  logDir: string,
  visit: (batch: AppendedProducerBatch) => void,
): Promise<ProducerScanOutcome> {
  const names = (await disk.list(logDir)).filter((name) => parseSegmentFileName(name, SEGMENT_SUFFIX) !== undefined).sort()
  let batches = 0
  for (const name of names) {
    const path = `${logDir}/${name}`
    const stoppedAt = await withFile(disk, files, path, async (file) => {
      const size = file.size()
      let chunk: Uint8Array = new Uint8Array(0)
      let chunkStart = 0
      let position = 0
      while (position < size) {
        if (size - position < BATCH_HEADER_BYTES) return position
        if (position + BATCH_HEADER_BYTES > chunkStart + chunk.length) {
          chunkStart = position
          chunk = await file.read(position, Math.min(size - position, PRODUCER_SCAN_CHUNK_BYTES))
          if (chunk.length < BATCH_HEADER_BYTES) return position
        }
        const at = position - chunkStart
        const sizeBytes = readInt32(chunk, at + BatchField.batchLength) + BATCH_LOG_OVERHEAD_BYTES
        const baseOffset = readInt64(chunk, at + BatchField.baseOffset)
        if (chunk[at + BatchField.magic] !== BATCH_MAGIC_V2 || sizeBytes < BATCH_HEADER_BYTES || sizeBytes > size - position || !(baseOffset >= 0)) return position
        const header = producerBatchHeader(chunk, at)
        visit({ ...header, baseOffset, lastOffset: baseOffset + readInt32(chunk, at + BatchField.lastOffsetDelta) })
        batches++
        position += sizeBytes
      }
      return undefined
    })
    if (stoppedAt !== undefined) return { batches, stoppedAt: { segment: name, position: stoppedAt } }
  }
  return { batches }
}

async function withFile<T>(disk: Disk, files: FileCache | undefined, path: string, action: (file: FileHandle) => Promise<T>): Promise<T> {
  if (files !== undefined) return files.use(path, false, action)
  const file = await disk.open(path, { create: false })
  try {
    return await action(file)
  } finally {
    await file.close()
  }
}
