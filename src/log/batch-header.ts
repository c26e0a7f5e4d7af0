import { ErrorCode, SkeinError } from '../wire/errors.js'
import { crc32c } from './crc32c.js'

/**
 * Kafka's RecordBatch v2 header, field by field, and the checks and stamps the log does on it.
 * The log never looks past the header except to check the CRC: records stay opaque bytes.
 *
 *   offset  size  field
 *        0     8  baseOffset            (stamped by the leader; outside the CRC)
 *        8     4  batchLength           (bytes after this field)
 *       12     4  partitionLeaderEpoch  (stamped by the leader; outside the CRC)
 *       16     1  magic                 (2)
 *       17     4  crc                   (CRC-32C of bytes 21..end)
 *       21     2  attributes
 *       23     4  lastOffsetDelta
 *       27     8  baseTimestamp
 *       35     8  maxTimestamp
 *       43     8  producerId
 *       51     2  producerEpoch
 *       53     4  baseSequence
 *       57     4  recordsCount
 *       61     -  records
 */
export const BatchField = {
  baseOffset: 0,
  batchLength: 8,
  partitionLeaderEpoch: 12,
  magic: 16,
  crc: 17,
  attributes: 21,
  lastOffsetDelta: 23,
  baseTimestamp: 27,
  maxTimestamp: 35,
  producerId: 43,
  producerEpoch: 51,
  baseSequence: 53,
  recordsCount: 57,
} as const

/** Bytes before `batchLength` counts: baseOffset and batchLength themselves. */
export const BATCH_LOG_OVERHEAD_BYTES = 12
/** Size of the fixed header; records start here. */
export const BATCH_HEADER_BYTES = 61
export const BATCH_MAGIC_V2 = 2
/** Where the CRC-covered region starts (attributes). */
export const BATCH_CRC_START = BatchField.attributes

/** The attribute bits of a v2 batch. */
export const BatchAttribute = {
  compressionMask: 0x07,
  timestampTypeLogAppend: 0x08,
  transactional: 0x10,
  control: 0x20,
  deleteHorizon: 0x40,
} as const

/** Compression codecs by their attribute value. */
export const CompressionCodec = { none: 0, gzip: 1, snappy: 2, lz4: 3, zstd: 4 } as const
export type CompressionCodec = (typeof CompressionCodec)[keyof typeof CompressionCodec]
const COMPRESSION_CODEC_MAX = CompressionCodec.zstd

/** Header facts the log keeps about a batch it holds (no records). */
export interface BatchInfo {
  /** Position of the batch in the buffer it was read from. */
  readonly position: number
  /** Whole batch size, header included. */
  readonly sizeBytes: number
  readonly baseOffset: number
  readonly lastOffsetDelta: number
  readonly maxTimestamp: number
  readonly attributes: number
  readonly producerId: number
  readonly recordsCount: number
}

export function readInt32(bytes: Uint8Array, at: number): number {
  return (((bytes[at] as number) << 24) | ((bytes[at + 1] as number) << 16) | ((bytes[at + 2] as number) << 8) | (bytes[at + 3] as number)) | 0
}

export function readUint32(bytes: Uint8Array, at: number): number {
  return readInt32(bytes, at) >>> 0
}

export function readInt16(bytes: Uint8Array, at: number): number {
  return ((((bytes[at] as number) << 8) | (bytes[at + 1] as number)) << 16) >> 16
}

/**
 * Reads a big-endian int64 as a number. Offsets and timestamps in skein stay below 2^53;
 * a larger value (or -1 style sentinels below -2^53) is reported as NaN so callers refuse it.
 */
export function readInt64(bytes: Uint8Array, at: number): number {
  const high = readInt32(bytes, at)
  const low = readUint32(bytes, at + 4)
  const value = high * 0x1_0000_0000 + low
  return Number.isSafeInteger(value) ? value : Number.NaN
}

export function writeInt32(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = value >>> 24
  bytes[at + 1] = value >>> 16
  bytes[at + 2] = value >>> 8
  bytes[at + 3] = value
}

export function writeInt64(bytes: Uint8Array, at: number, value: number): void {
  const high = Math.floor(value / 0x1_0000_0000)
  writeInt32(bytes, at, high | 0)
  writeInt32(bytes, at + 4, value - high * 0x1_0000_0000)
}

/** Limits a batch must respect to be accepted. */
export interface BatchLimits {
  /** Largest whole batch accepted, header included, in bytes. */
  readonly batchBytesMax: number
}

/**
 * Checks the batch starting at `position` of `bytes` (magic, length, size limit, CRC, header
 * sanity) and returns its header facts. Throws a SkeinError with a stable code when the batch
 * is not acceptable: the caller has changed nothing yet, so refusing loses nothing.
 */
export function checkBatch(bytes: Uint8Array, position: number, limits: BatchLimits): BatchInfo {
  const sizeBytes = checkBatchFrame(bytes, position, limits)
  // The CRC before the fields it covers: a flipped bit must read as corruption, not as a
  // strange-but-legal header.
  const storedCrc = readUint32(bytes, position + BatchField.crc)
  const actualCrc = crc32c(bytes.subarray(position + BATCH_CRC_START, position + sizeBytes))
  if (storedCrc !== actualCrc) {
    throw corrupt(`batch at byte ${position} fails its CRC: stored ${hex32(storedCrc)}, computed ${hex32(actualCrc)}`)
  }
  return checkBatchFields(bytes, position, sizeBytes)
}

/**
 * Everything `checkBatch` checks but the CRC: for scanning batches the log wrote itself and
 * already trusts (building an index, finding a read position).
 */
export function checkBatchHeader(bytes: Uint8Array, position: number, limits: BatchLimits): BatchInfo {
  return checkBatchFields(bytes, position, checkBatchFrame(bytes, position, limits))
}

/**
 * As checkBatchHeader, with only the header in `bytes`: for scans that read headers alone and
 * skip bodies (the caller checks the batch fits in its file).
 */
export function checkBatchHeaderOnly(bytes: Uint8Array, position: number, limits: BatchLimits): BatchInfo {
  return checkBatchFields(bytes, position, checkBatchFrame(bytes, position, limits, false))
}

/** Checks that a v2 batch within the size limit starts at `position` (whole in `bytes` unless `wholeBatch` is false); returns its size. */
function checkBatchFrame(bytes: Uint8Array, position: number, limits: BatchLimits, wholeBatch = true): number {
  const available = bytes.length - position
  if (available < BATCH_HEADER_BYTES) {
    throw corrupt(`batch at byte ${position} is truncated: ${available} bytes, a header needs ${BATCH_HEADER_BYTES}`)
  }
  const magic = bytes[position + BatchField.magic] as number
  if (magic !== BATCH_MAGIC_V2) {
    throw new SkeinError(ErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT, `batch at byte ${position} has magic ${magic}; only v2 batches (magic 2) are accepted`)
  }
  const batchLength = readInt32(bytes, position + BatchField.batchLength)
  const sizeBytes = batchLength + BATCH_LOG_OVERHEAD_BYTES
  if (batchLength < BATCH_HEADER_BYTES - BATCH_LOG_OVERHEAD_BYTES) {
    throw corrupt(`batch at byte ${position} declares length ${batchLength}, shorter than its header`)
  }
  if (sizeBytes > limits.batchBytesMax) {
    throw new SkeinError(ErrorCode.MESSAGE_TOO_LARGE, `batch at byte ${position} is ${sizeBytes} bytes; the limit (batchBytesMax) is ${limits.batchBytesMax}`)
  }
  if (wholeBatch && sizeBytes > available) {
    throw corrupt(`batch at byte ${position} declares ${sizeBytes} bytes but only ${available} are present`)
  }
  return sizeBytes
}

/** Checks the header fields the log relies on and returns them. */
function checkBatchFields(bytes: Uint8Array, position: number, sizeBytes: number): BatchInfo {
  const attributes = readInt16(bytes, position + BatchField.attributes)
  if ((attributes & BatchAttribute.compressionMask) > COMPRESSION_CODEC_MAX) {
    throw new SkeinError(ErrorCode.UNSUPPORTED_COMPRESSION_TYPE, `batch at byte ${position} names compression codec ${attributes & BatchAttribute.compressionMask}`)
  }
  const lastOffsetDelta = readInt32(bytes, position + BatchField.lastOffsetDelta)
  const recordsCount = readInt32(bytes, position + BatchField.recordsCount)
  // Producers send contiguous batches: one offset per record. (Compaction, which could leave
  // gaps, does not exist in skein.)
  if (recordsCount < 1 || lastOffsetDelta !== recordsCount - 1) {
    throw invalid(`batch at byte ${position} has ${recordsCount} records and lastOffsetDelta ${lastOffsetDelta}; expected at least one record and lastOffsetDelta = records - 1`)
  }
  const maxTimestamp = readInt64(bytes, position + BatchField.maxTimestamp)
  if (Number.isNaN(maxTimestamp) || Number.isNaN(readInt64(bytes, position + BatchField.baseTimestamp))) {
    throw new SkeinError(ErrorCode.INVALID_TIMESTAMP, `batch at byte ${position} has a timestamp outside the safe integer range`)
  }
  const baseOffset = readInt64(bytes, position + BatchField.baseOffset)
  if (Number.isNaN(baseOffset) || baseOffset < 0) {
    throw invalid(`batch at byte ${position} has a base offset outside 0..2^53-1`)
  }
  return {
    position,
    sizeBytes,
    baseOffset,
    lastOffsetDelta,
    maxTimestamp,
    attributes,
    producerId: readInt64(bytes, position + BatchField.producerId),
    recordsCount,
  }
}

/**
 * Checks every batch in `bytes` (one or more, back to back, nothing else) and returns them in
 * order. All or nothing: one bad batch refuses the whole buffer.
 */
export function checkBatches(bytes: Uint8Array, limits: BatchLimits): BatchInfo[] {
  if (bytes.length === 0) throw invalid('no record batch to append')
  const batches: BatchInfo[] = []
  let position = 0
  while (position < bytes.length) {
    const batch = checkBatch(bytes, position, limits)
    batches.push(batch)
    position += batch.sizeBytes
  }
  return batches
}

/** Writes the two leader-owned fields. Both sit outside the CRC, so the batch stays valid. */
export function stampBatch(bytes: Uint8Array, position: number, baseOffset: number, leaderEpoch: number): void {
  writeInt64(bytes, position + BatchField.baseOffset, baseOffset)
  writeInt32(bytes, position + BatchField.partitionLeaderEpoch, leaderEpoch)
}

/**
 * Sets maxTimestamp and the LogAppendTime attribute, then recomputes the CRC: the one header
 * change inside the CRC region, done only for topics with message.timestamp.type=LogAppendTime.
 */
export function stampLogAppendTime(bytes: Uint8Array, position: number, sizeBytes: number, appendTimeMs: number): void {
  const attributes = readInt16(bytes, position + BatchField.attributes) | BatchAttribute.timestampTypeLogAppend
  bytes[position + BatchField.attributes] = attributes >>> 8
  bytes[position + BatchField.attributes + 1] = attributes
  writeInt64(bytes, position + BatchField.maxTimestamp, appendTimeMs)
  writeInt32(bytes, position + BatchField.crc, crc32c(bytes.subarray(position + BATCH_CRC_START, position + sizeBytes)))
}

/** Last offset of a stored batch (base offset plus lastOffsetDelta). */
export function batchLastOffset(batch: BatchInfo): number {
  return batch.baseOffset + batch.lastOffsetDelta
}

function corrupt(message: string): SkeinError {
  return new SkeinError(ErrorCode.CORRUPT_MESSAGE, message)
}

function invalid(message: string): SkeinError {
  return new SkeinError(ErrorCode.INVALID_RECORD, message)
}

function hex32(value: number): string {
  return `0x${value.toString(16).padStart(8, '0')}`
}
