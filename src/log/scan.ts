import type { FileHandle } from '../env/disk.js'
import { SkeinError } from '../wire/errors.js'
import { BATCH_HEADER_BYTES, BATCH_LOG_OVERHEAD_BYTES, BatchAttribute, BatchField, type BatchInfo, checkBatch, checkBatchHeader, checkBatchHeaderOnly, readInt16, readInt32 } from './batch-header.js'

/** Bytes read per disk read while scanning a segment: large enough that a scan runs at disk speed. */
export const SCAN_CHUNK_BYTES = 1024 * 1024
/**
 * Bytes read per disk read in a headers-only scan: small batches still come many to a read,
 * and a batch larger than this costs one read of this size, whatever its own size.
 */
export const HEADERS_SCAN_CHUNK_BYTES = 16 * 1024

/** Stored batches are never refused for size on the way out: the limit may have been lowered since. */
const NO_SIZE_LIMIT = { batchBytesMax: Number.MAX_SAFE_INTEGER }

export interface ScanOptions {
  /** Check each batch's CRC (recovery of bytes that may be torn) or only its header (trusted bytes). */
  readonly verifyCrc: boolean
  /**
   * The visitor uses header facts only: batch bodies are skipped, not read, and the chunk it
   * gets may end inside the batch. Only without verifyCrc (a CRC needs the body).
   */
  readonly headersOnly?: boolean
  /**
   * With headersOnly: control batches (markers, LeaderChange, Voters: one small record each)
   * are still handed over whole, so a visitor can read their record (a transaction marker's
   * type). Data batches stay unread.
   */
  readonly wholeControlBatches?: boolean
}

/** Why a scan stopped before `endPosition`. */
export interface ScanStop {
  readonly position: number
  readonly reason: string
}

export interface ScanOutcome {
  /** Position just after the last good batch visited. */
  readonly endPosition: number
  /** Set when the scan met bytes that are not a whole, valid batch. */
  readonly stop: ScanStop | undefined
}

/**
 * Visits the batches of `file` from `fromPosition` (which must be a batch boundary) up to
 * `endPosition`, reading in large chunks. `visit` gets each batch's header facts (position
 * absolute in the file) and the chunk holding its bytes; returning false stops the scan.
 * A torn or corrupt batch ends the scan with `stop` set rather than throwing, so recovery can
 * truncate there.
 */
export async function scanBatches(
  file: FileHandle,
  fromPosition: number,
  endPosition: number,
  options: ScanOptions,
  visit: (batch: BatchInfo, chunk: Uint8Array, chunkStart: number) => boolean,
): Promise<ScanOutcome> {
  if (options.verifyCrc && options.headersOnly === true) throw new RangeError('a CRC check needs batch bodies: verifyCrc and headersOnly exclude each other')
  const chunkBytes = options.headersOnly === true ? HEADERS_SCAN_CHUNK_BYTES : SCAN_CHUNK_BYTES
  let chunk: Uint8Array = new Uint8Array(0)
  let chunkStart = fromPosition
  let position = fromPosition
  while (position < endPosition) {
    const remaining = endPosition - position
    if (remaining < BATCH_HEADER_BYTES) return stopped(position, `${remaining} trailing bytes, fewer than a batch header`)
    if (position + BATCH_HEADER_BYTES > chunkStart + chunk.length) {
      chunkStart = position
      chunk = await file.read(position, Math.min(remaining, chunkBytes))
      if (chunk.length < BATCH_HEADER_BYTES) return stopped(position, 'the file ended inside a batch header')
    }
    const sizeBytes = readInt32(chunk, position - chunkStart + BatchField.batchLength) + BATCH_LOG_OVERHEAD_BYTES
    if (sizeBytes < BATCH_HEADER_BYTES) return stopped(position, `a batch header declares ${sizeBytes} bytes`)
    if (sizeBytes > remaining) return stopped(position, `a batch of ${sizeBytes} bytes runs past the end (${remaining} bytes left)`)
    const whole = options.headersOnly !== true || (options.wholeControlBatches === true && (readInt16(chunk, position - chunkStart + BatchField.attributes) & BatchAttribute.control) !== 0)
    if (whole && position + sizeBytes > chunkStart + chunk.length) {
      chunkStart = position
      chunk = await file.read(position, Math.min(remaining, Math.max(sizeBytes, SCAN_CHUNK_BYTES)))
      if (chunk.length < sizeBytes) return stopped(position, 'the file ended inside a batch')
    }
    let batch: BatchInfo
    try {
      const relative = position - chunkStart
      const local = options.verifyCrc
        ? checkBatch(chunk, relative, NO_SIZE_LIMIT)
        : options.headersOnly === true
          ? checkBatchHeaderOnly(chunk, relative, NO_SIZE_LIMIT)
          : checkBatchHeader(chunk, relative, NO_SIZE_LIMIT)
      batch = { ...local, position }
    } catch (error) {
      if (error instanceof SkeinError) return stopped(position, error.message)
      throw error
    }
    if (!visit(batch, chunk, chunkStart)) return { endPosition: position + sizeBytes, stop: undefined }
    position += sizeBytes
  }
  return { endPosition: position, stop: undefined }

  function stopped(at: number, reason: string): ScanOutcome {
    return { endPosition: at, stop: { position: at, reason } }
  }
}
