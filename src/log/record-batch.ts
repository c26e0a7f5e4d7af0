import { ErrorCode, SkeinError } from '../wire/errors.js'
import {
  BATCH_CRC_START,
  BATCH_HEADER_BYTES,
  BATCH_LOG_OVERHEAD_BYTES,
  BATCH_MAGIC_V2,
  BatchAttribute,
  BatchField,
  type BatchLimits,
  CompressionCodec,
  checkBatch,
  readInt16,
  readInt32,
  readInt64,
  readUint32,
  writeInt32,
  writeInt64,
} from './batch-header.js'
import { type CompressionName, DECOMPRESSED_BYTES_MAX_DEFAULT, codecByName, decompressRecords } from './compression.js'
import { crc32c } from './crc32c.js'
import { ByteReader, varintSizeBytes, varlongSizeBytes, writeVarint, writeVarlong } from './varint.js'

/**
 * The whole RecordBatch v2, records included: the producer and consumer side and the tests use
 * it; the broker's hot path only looks at the header (batch-header.ts). Each record is
 *
 *   length          varint   (bytes after this field)
 *   attributes      int8     (unused, 0)
 *   timestampDelta  varlong  (from baseTimestamp)
 *   offsetDelta     varint   (from baseOffset)
 *   keyLength       varint   (-1 = null key)      key    bytes
 *   valueLength     varint   (-1 = null value)    value  bytes
 *   headersCount    varint
 *     headerKeyLength    varint   headerKey    UTF-8
 *     headerValueLength  varint   (-1 = null)  headerValue bytes
 *
 * With compression (compression.ts), everything after recordsCount is the compressed
 * concatenation of records; recordsCount stays plain, and the CRC covers the compressed bytes.
 */

export type { CompressionName } from './compression.js'
export type TimestampType = 'create' | 'logAppend'

export interface RecordHeader {
  readonly key: string
  readonly value: Uint8Array | null
}

export interface RecordSpec {
  readonly key: Uint8Array | null
  readonly value: Uint8Array | null
  readonly headers?: readonly RecordHeader[]
  readonly timestamp: number
  /**
   * Defaults to the record's index in the batch. Any other value makes a batch skein refuses
   * (offsets are contiguous); it exists so tests can build such batches.
   */
  readonly offsetDelta?: number
}

export interface RecordBatchSpec {
  readonly baseOffset?: number
  readonly partitionLeaderEpoch?: number
  /** Defaults to 'none'. A codec this process lacks (see supportedCompressions) is refused. */
  readonly compression?: CompressionName
  /** 'logAppend' is normally set by the broker; readers then report maxTimestamp for every record. */
  readonly timestampType?: TimestampType
  readonly isTransactional?: boolean
  readonly isControl?: boolean
  /** Defaults to the first record's timestamp. */
  readonly baseTimestamp?: number
  readonly producerId?: number
  readonly producerEpoch?: number
  readonly baseSequence?: number
  readonly records: readonly RecordSpec[]
}

export interface DecodedRecord {
  readonly offset: number
  /** With LogAppendTime, the batch's maxTimestamp (the append time), as Kafka reports it. */
  readonly timestamp: number
  /** Views into the decoded bytes (or the decompressed records): copy them to keep them. */
  readonly key: Uint8Array | null
  readonly value: Uint8Array | null
  readonly headers: readonly RecordHeader[]
}

export interface DecodedBatch {
  readonly baseOffset: number
  readonly batchLength: number
  readonly partitionLeaderEpoch: number
  readonly magic: number
  readonly crc: number
  readonly attributes: number
  readonly compression: CompressionName
  readonly timestampType: TimestampType
  readonly isTransactional: boolean
  readonly isControl: boolean
  readonly lastOffsetDelta: number
  readonly baseTimestamp: number
  readonly maxTimestamp: number
  readonly producerId: number
  readonly producerEpoch: number
  readonly baseSequence: number
  readonly recordsCount: number
  /** Whole batch, header included. */
  readonly sizeBytes: number
  readonly records: DecodedRecord[]
}

export interface DecodeLimits extends BatchLimits {
  /**
   * Largest records section a compressed batch may inflate to, in bytes: past it decoding fails
   * with MESSAGE_TOO_LARGE (not retriable: the same bytes inflate the same way every time)
   * instead of allocating what a zip bomb asks for.
   */
  readonly decompressedBytesMax: number
}

/**
 * The decoder takes any batch that fits in the buffer it is given (the size limit is the
 * broker's business, checked on produce) and inflates at most DECOMPRESSION_RATIO_MAX (64)
 * times the default batchBytesMax, ~64 MiB: far above a 1 MiB batch of ordinary data, far
 * below what would hurt a consumer process.
 */
export const DECODE_LIMITS_DEFAULT: DecodeLimits = {
  batchBytesMax: Number.MAX_SAFE_INTEGER,
  decompressedBytesMax: DECOMPRESSED_BYTES_MAX_DEFAULT,
}

const INT16_MIN = -0x8000
const INT16_MAX = 0x7fff
const INT32_MIN = -0x8000_0000
const INT32_MAX = 0x7fff_ffff
const NULL_LENGTH = -1
/** Smallest record: length, attributes, timestampDelta, offsetDelta, keyLength, valueLength, headersCount. */
const RECORD_BYTES_MIN = 7
/** Smallest header: key length and value length, both one byte. */
const HEADER_BYTES_MIN = 2
const codecNameById = new Map<number, CompressionName>(
  Object.entries(CompressionCodec).map(([name, value]) => [value, name as CompressionName]),
)
const utf8Encoder = new TextEncoder()
// fatal: a header key that is not UTF-8 is corrupt, not silently replaced;
// ignoreBOM: a key starting with U+FEFF keeps it.
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

// ---- encoder ----

/** Encodes a whole batch. Throws SkeinError INVALID_RECORD for a spec that cannot be encoded. */
export function encodeRecordBatch(spec: RecordBatchSpec): Uint8Array {
  const first = spec.records[0]
  if (first === undefined) throw invalid('a record batch needs at least one record')
  let sizeHintBytes = 0
  for (const record of spec.records) sizeHintBytes += (record.key?.length ?? 0) + (record.value?.length ?? 0) + RECORD_SIZE_HINT_OVERHEAD_BYTES
  const builder = new RecordBatchBuilder(sizeHintBytes, spec.baseTimestamp)
  for (const record of spec.records) builder.append(record)
  return builder.build(spec)
}

/** What a batch's header needs beyond its records (RecordBatchSpec without them). */
export type RecordBatchHeaderSpec = Omit<RecordBatchSpec, 'records' | 'baseTimestamp'>

/** Guess of a record's bytes beyond key and value (varints, attributes), for sizing buffers only. */
const RECORD_SIZE_HINT_OVERHEAD_BYTES = 12
/** A builder's first buffer holds at least this many record bytes; it doubles as needed. */
const BUILDER_CAPACITY_BYTES_MIN = 256

/**
 * Builds one batch record by record, each written into place as it is appended (Kafka's
 * MemoryRecordsBuilder): a producer keeps no object per record while its batch fills. The
 * buffer starts at the caller's size hint and doubles when a record does not fit; `build`
 * writes the header (and compresses) and returns the batch. One build per builder.
 */
export class RecordBatchBuilder {
  private buffer: Uint8Array
  private position = BATCH_HEADER_BYTES
  private recordCount = 0
  private baseTimestamp: number
  private maxTimestamp = 0
  private lastOffsetDelta = 0
  private built = false

  /** `baseTimestamp` defaults to the first record's timestamp. */
  constructor(sizeHintBytes: number, private readonly fixedBaseTimestamp?: number) {
    this.buffer = allocateBatch(Math.max(BUILDER_CAPACITY_BYTES_MIN, Math.ceil(sizeHintBytes)))
    this.baseTimestamp = fixedBaseTimestamp ?? 0
  }

  /** Records appended so far. */
  get count(): number {
    return this.recordCount
  }

  /** Bytes of the batch so far, header included, before compression. */
  get sizeBytes(): number {
    return this.position
  }

  /** Writes `record` at the end of the batch. Throws SkeinError INVALID_RECORD for a record that cannot be encoded. */
  append(record: RecordSpec): void {
    if (this.built) throw new Error('RecordBatchBuilder: append after build')
    const index = this.recordCount
    requireSafe('timestamp', record.timestamp)
    if (index === 0 && this.fixedBaseTimestamp === undefined) this.baseTimestamp = record.timestamp
    const offsetDelta = record.offsetDelta ?? index
    requireInteger('offsetDelta', offsetDelta, 0, INT32_MAX)
    const timestampDelta = record.timestamp - this.baseTimestamp
    requireSafe('timestamp - baseTimestamp', timestampDelta)
    const headers = record.headers ?? NO_HEADERS
    const headerKeys = headers.length === 0 ? NO_HEADER_KEYS : headers.map((header) => utf8Encoder.encode(header.key))
    let bodyBytes = 1 + varlongSizeBytes(timestampDelta) + varintSizeBytes(offsetDelta) + nullableBytesSize(record.key) + nullableBytesSize(record.value)
    bodyBytes += varintSizeBytes(headers.length)
    for (let h = 0; h < headers.length; h++) bodyBytes += nullableBytesSize(headerKeys[h] as Uint8Array) + nullableBytesSize((headers[h] as RecordHeader).value)
    if (bodyBytes > INT32_MAX) throw invalid(`record ${index} is ${bodyBytes} bytes, past the int32 length field`)
    const recordBytes = varintSizeBytes(bodyBytes) + bodyBytes
    this.ensureRoom(recordBytes)
    const out = this.buffer
    let at = writeVarint(out, this.position, bodyBytes)
    out[at++] = 0 // record attributes: unused
    at = writeVarlong(out, at, timestampDelta)
    at = writeVarint(out, at, offsetDelta)
    at = writeNullableBytes(out, at, record.key)
    at = writeNullableBytes(out, at, record.value)
    at = writeVarint(out, at, headers.length)
    for (let h = 0; h < headers.length; h++) {
      at = writeNullableBytes(out, at, headerKeys[h] as Uint8Array)
      at = writeNullableBytes(out, at, (headers[h] as RecordHeader).value)
    }
    // A sizing mistake would otherwise leave stale bytes or drop some silently.
    if (at !== this.position + recordBytes) throw new Error(`record sizing bug: planned ${recordBytes} bytes, wrote ${at - this.position}`)
    this.position = at
    // A running max, not Math.max(...timestamps): spreading a large batch overflows the stack.
    if (index === 0 || record.timestamp > this.maxTimestamp) this.maxTimestamp = record.timestamp
    this.lastOffsetDelta = offsetDelta
    this.recordCount++
  }

  /** The finished batch: header written, records compressed with `spec.compression` (default 'none'). */
  build(spec: RecordBatchHeaderSpec): Uint8Array {
    if (this.recordCount === 0) throw invalid('a record batch needs at least one record')
    if (this.built) throw new Error('RecordBatchBuilder: built twice')
    this.built = true
    const compression = spec.compression ?? 'none'
    const codec = codecByName(compression)
    let batch: Uint8Array
    if (compression === 'none') {
      batch = this.buffer.subarray(0, this.position)
    } else {
      const records = codec.compress(this.buffer.subarray(BATCH_HEADER_BYTES, this.position))
      batch = allocateBatch(records.length)
      batch.set(records, BATCH_HEADER_BYTES)
    }
    const derived = { attributes: attributesOf(spec, compression), baseTimestamp: this.baseTimestamp, maxTimestamp: this.maxTimestamp, lastOffsetDelta: this.lastOffsetDelta, recordsCount: this.recordCount }
    writeHeader(batch, spec, derived)
    return batch
  }

  private ensureRoom(recordBytes: number): void {
    const needed = this.position + recordBytes
    if (needed <= this.buffer.length) return
    const grown = allocateBatch(Math.max(needed, this.buffer.length * 2) - BATCH_HEADER_BYTES)
    grown.set(this.buffer.subarray(0, this.position))
    this.buffer = grown
  }
}

/** A batch buffer with room for the header and `recordsBytes` of (possibly compressed) records. */
function allocateBatch(recordsBytes: number): Uint8Array {
  const sizeBytes = BATCH_HEADER_BYTES + recordsBytes
  if (sizeBytes - BATCH_LOG_OVERHEAD_BYTES > INT32_MAX) throw invalid(`a batch of ${sizeBytes} bytes exceeds the int32 length field`)
  // Not zero-filled: the header and the records are written in full before anyone reads them.
  const memory = Buffer.allocUnsafeSlow(sizeBytes)
  return new Uint8Array(memory.buffer, memory.byteOffset, sizeBytes)
}

function nullableBytesSize(bytes: Uint8Array | null): number {
  return bytes === null ? varintSizeBytes(NULL_LENGTH) : varintSizeBytes(bytes.length) + bytes.length
}

function writeNullableBytes(out: Uint8Array, at: number, bytes: Uint8Array | null): number {
  if (bytes === null) return writeVarint(out, at, NULL_LENGTH)
  const next = writeVarint(out, at, bytes.length)
  out.set(bytes, next)
  return next + bytes.length
}

function attributesOf(spec: RecordBatchHeaderSpec, compression: CompressionName): number {
  let attributes: number = CompressionCodec[compression]
  if (spec.timestampType === 'logAppend') attributes |= BatchAttribute.timestampTypeLogAppend
  if (spec.isTransactional === true) attributes |= BatchAttribute.transactional
  if (spec.isControl === true) attributes |= BatchAttribute.control
  return attributes
}

interface DerivedHeader {
  readonly attributes: number
  readonly baseTimestamp: number
  readonly maxTimestamp: number
  readonly lastOffsetDelta: number
  readonly recordsCount: number
}

/** Writes the 61-byte header, CRC last (it covers attributes to the end). */
function writeHeader(batch: Uint8Array, spec: RecordBatchHeaderSpec, derived: DerivedHeader): void {
  const baseOffset = spec.baseOffset ?? 0
  const producerId = spec.producerId ?? -1
  requireInteger('baseOffset', baseOffset, 0, Number.MAX_SAFE_INTEGER)
  requireSafe('baseTimestamp', derived.baseTimestamp)
  requireSafe('producerId', producerId)
  writeInt64(batch, BatchField.baseOffset, baseOffset)
  writeInt32(batch, BatchField.batchLength, batch.length - BATCH_LOG_OVERHEAD_BYTES)
  writeInt32(batch, BatchField.partitionLeaderEpoch, int32Field('partitionLeaderEpoch', spec.partitionLeaderEpoch))
  batch[BatchField.magic] = BATCH_MAGIC_V2
  writeInt16(batch, BatchField.attributes, derived.attributes)
  writeInt32(batch, BatchField.lastOffsetDelta, derived.lastOffsetDelta)
  writeInt64(batch, BatchField.baseTimestamp, derived.baseTimestamp)
  writeInt64(batch, BatchField.maxTimestamp, derived.maxTimestamp)
  writeInt64(batch, BatchField.producerId, producerId)
  writeInt16(batch, BatchField.producerEpoch, int16Field('producerEpoch', spec.producerEpoch))
  writeInt32(batch, BatchField.baseSequence, int32Field('baseSequence', spec.baseSequence))
  writeInt32(batch, BatchField.recordsCount, derived.recordsCount)
  writeInt32(batch, BatchField.crc, crc32c(batch.subarray(BATCH_CRC_START)))
}

/** batch-header.ts has no int16 writer: the log never writes a whole header. */
function writeInt16(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = value >>> 8
  bytes[at + 1] = value
}

/** An optional int32 header field; absent means -1 (Kafka's "none"). */
function int32Field(name: string, value: number | undefined): number {
  return requireInteger(name, value ?? -1, INT32_MIN, INT32_MAX)
}

function int16Field(name: string, value: number | undefined): number {
  return requireInteger(name, value ?? -1, INT16_MIN, INT16_MAX)
}

function requireInteger(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) throw invalid(`${name} ${value} is outside ${min}..${max}`)
  return value
}

function requireSafe(name: string, value: number): void {
  if (!Number.isSafeInteger(value)) throw invalid(`${name} ${value} is not a safe integer`)
}

// ---- decoder ----

/**
 * Decodes the batch at `position`: header checks and CRC through checkBatch (so the codes match
 * the broker's), then every record, each length checked against what is left. Throws only
 * SkeinError: CORRUPT_MESSAGE for malformed bytes (a compressed section that does not inflate
 * included), UNSUPPORTED_COMPRESSION_TYPE for a codec this process lacks, MESSAGE_TOO_LARGE for
 * records inflating past `limits.decompressedBytesMax`, and checkBatch's codes for a header that
 * disagrees with itself. An uncompressed batch's records are read in place, never copied.
 */
export function decodeRecordBatch(bytes: Uint8Array, position = 0, limits: DecodeLimits = DECODE_LIMITS_DEFAULT): DecodedBatch {
  const info = checkBatch(bytes, position, limits)
  const header = decodeHeader(bytes, position)
  const section = bytes.subarray(position + BATCH_HEADER_BYTES, position + info.sizeBytes)
  const records = decompressRecords(header.attributes & BatchAttribute.compressionMask, section, limits.decompressedBytesMax)
  return { ...header, sizeBytes: info.sizeBytes, records: decodeRecords(records, header) }
}

/** Decodes back-to-back batches filling `bytes` exactly; an empty buffer holds no batch. */
export function decodeRecordBatches(bytes: Uint8Array, limits: DecodeLimits = DECODE_LIMITS_DEFAULT): DecodedBatch[] {
  const batches: DecodedBatch[] = []
  for (let position = 0; position < bytes.length; ) {
    const batch = decodeRecordBatch(bytes, position, limits)
    batches.push(batch)
    position += batch.sizeBytes
  }
  return batches
}

type DecodedHeader = Omit<DecodedBatch, 'records' | 'sizeBytes'>

/** The header fields; checkBatch has already vouched for length, magic, CRC and the counts. */
function decodeHeader(bytes: Uint8Array, position: number): DecodedHeader {
  const attributes = readInt16(bytes, position + BatchField.attributes)
  const producerId = readInt64(bytes, position + BatchField.producerId)
  if (Number.isNaN(producerId)) throw invalid(`batch at byte ${position} has a producer id outside the safe integer range`)
  return {
    baseOffset: readInt64(bytes, position + BatchField.baseOffset),
    batchLength: readInt32(bytes, position + BatchField.batchLength),
    partitionLeaderEpoch: readInt32(bytes, position + BatchField.partitionLeaderEpoch),
    magic: bytes[position + BatchField.magic] as number,
    crc: readUint32(bytes, position + BatchField.crc),
    attributes,
    compression: codecNameById.get(attributes & BatchAttribute.compressionMask) as CompressionName,
    timestampType: attributes & BatchAttribute.timestampTypeLogAppend ? 'logAppend' : 'create',
    isTransactional: (attributes & BatchAttribute.transactional) !== 0,
    isControl: (attributes & BatchAttribute.control) !== 0,
    lastOffsetDelta: readInt32(bytes, position + BatchField.lastOffsetDelta),
    baseTimestamp: readInt64(bytes, position + BatchField.baseTimestamp),
    maxTimestamp: readInt64(bytes, position + BatchField.maxTimestamp),
    producerId,
    producerEpoch: readInt16(bytes, position + BatchField.producerEpoch),
    baseSequence: readInt32(bytes, position + BatchField.baseSequence),
    recordsCount: readInt32(bytes, position + BatchField.recordsCount),
  }
}

function decodeRecords(records: Uint8Array, header: DecodedHeader): DecodedRecord[] {
  const reader = new ByteReader(records, 0, records.length)
  // Bound the count by the bytes before trusting it for a loop.
  if (header.recordsCount > reader.remainingBytes / RECORD_BYTES_MIN) {
    throw corrupt(`batch claims ${header.recordsCount} records in ${reader.remainingBytes} bytes`)
  }
  const decoded: DecodedRecord[] = []
  const recordReader = new ByteReader(records, 0, 0)
  for (let index = 0; index < header.recordsCount; index++) decoded.push(decodeRecord(reader.takeInto(recordReader, reader.readVarint()), index, header))
  if (reader.remainingBytes !== 0) throw corrupt(`${reader.remainingBytes} bytes left after the batch's ${header.recordsCount} records`)
  return decoded
}

/** One record from `reader`, which spans exactly its bytes after the length. */
function decodeRecord(reader: ByteReader, index: number, header: DecodedHeader): DecodedRecord {
  reader.readInt8() // record attributes: unused
  const timestampDelta = reader.readVarlong()
  const offsetDelta = reader.readVarint()
  // Skein batches are contiguous (checkBatch: lastOffsetDelta = count - 1), so record i is at i.
  if (offsetDelta !== index) throw invalid(`record ${index} has offsetDelta ${offsetDelta}`)
  const key = readNullableBytes(reader)
  const value = readNullableBytes(reader)
  const headers = readHeaders(reader)
  if (reader.remainingBytes !== 0) throw corrupt(`record ${index} has ${reader.remainingBytes} bytes past its headers`)
  const timestamp = header.timestampType === 'logAppend' ? header.maxTimestamp : header.baseTimestamp + timestampDelta
  if (!Number.isSafeInteger(timestamp)) throw new SkeinError(ErrorCode.INVALID_TIMESTAMP, `record ${index} has a timestamp outside the safe integer range`)
  return { offset: header.baseOffset + offsetDelta, timestamp, key, value, headers }
}

/** Shared by every record without headers, encoded or decoded: no allocation per record. */
export const NO_HEADERS: readonly RecordHeader[] = Object.freeze([])
const NO_HEADER_KEYS: readonly Uint8Array[] = Object.freeze([])

function readHeaders(reader: ByteReader): readonly RecordHeader[] {
  const count = reader.readVarint()
  if (count === 0) return NO_HEADERS
  if (count < 0 || count > reader.remainingBytes / HEADER_BYTES_MIN) throw corrupt(`header count ${count} with ${reader.remainingBytes} bytes left`)
  const headers: RecordHeader[] = []
  for (let index = 0; index < count; index++) {
    const keyBytes = reader.readBytes(reader.readVarint())
    headers.push({ key: decodeUtf8(keyBytes), value: readNullableBytes(reader) })
  }
  return headers
}

function readNullableBytes(reader: ByteReader): Uint8Array | null {
  const lengthBytes = reader.readVarint()
  return lengthBytes === NULL_LENGTH ? null : reader.readBytes(lengthBytes)
}

function decodeUtf8(bytes: Uint8Array): string {
  try {
    return utf8Decoder.decode(bytes)
  } catch (err) {
    throw corrupt('a header key is not valid UTF-8', err)
  }
}

function corrupt(message: string, cause?: unknown): SkeinError {
  return new SkeinError(ErrorCode.CORRUPT_MESSAGE, message, cause === undefined ? undefined : { cause })
}

function invalid(message: string): SkeinError {
  return new SkeinError(ErrorCode.INVALID_RECORD, message)
}
