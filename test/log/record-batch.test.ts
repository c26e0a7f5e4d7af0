import { createRequire } from 'node:module'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { BATCH_CRC_START, BATCH_HEADER_BYTES, BATCH_LOG_OVERHEAD_BYTES, BatchField, CompressionCodec, checkBatch, stampLogAppendTime, writeInt32 } from '../../src/log/batch-header.js'
import { supportedCompressions } from '../../src/log/compression.js'
import { crc32c } from '../../src/log/crc32c.js'
import {
  type DecodedBatch,
  type DecodedRecord,
  type RecordBatchSpec,
  type RecordHeader,
  type RecordSpec,
  RecordBatchBuilder,
  decodeRecordBatch,
  decodeRecordBatches,
  encodeRecordBatch,
} from '../../src/log/record-batch.js'
import { ErrorCode, SkeinError } from '../../src/wire/errors.js'
import { goldenBatches, pattern, utf8 } from './fixtures/record-batch-golden.js'

const CORRUPT = ErrorCode.CORRUPT_MESSAGE.code
/** snappy and lz4 always; zstd where node:zlib lacks it (before Node 22.15). */
const unsupportedCodecs = (['snappy', 'lz4', 'zstd'] as const).filter((name) => !supportedCompressions().includes(name))
const LIMITS = { batchBytesMax: 1024 * 1024 }
const fromHex = (hex: string): Uint8Array => Uint8Array.from(Buffer.from(hex, 'hex'))
const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex')

/** The code of the SkeinError `action` throws; anything else thrown (or nothing) fails the test. */
function codeOf(action: () => unknown): number {
  try {
    action()
  } catch (err) {
    if (err instanceof SkeinError) return err.code
    throw err
  }
  throw new Error('expected a SkeinError, nothing was thrown')
}

/** Runs `action`; it may succeed, or throw a SkeinError, nothing else. */
function onlySkeinErrors(action: () => unknown): void {
  try {
    action()
  } catch (err) {
    if (!(err instanceof SkeinError)) throw err
  }
}

/** Recomputes the CRC after a test edited bytes inside the CRC region on purpose. */
function refreshCrc(batch: Uint8Array): Uint8Array {
  writeInt32(batch, BatchField.crc, crc32c(batch.subarray(BATCH_CRC_START)))
  return batch
}

/** `batch`'s header around a different records section and count, with length and CRC made consistent. */
function withRecordsSection(batch: Uint8Array, records: Uint8Array, recordsCount: number): Uint8Array {
  const out = new Uint8Array(BATCH_HEADER_BYTES + records.length)
  out.set(batch.subarray(0, BATCH_HEADER_BYTES))
  out.set(records, BATCH_HEADER_BYTES)
  writeInt32(out, BatchField.batchLength, out.length - BATCH_LOG_OVERHEAD_BYTES)
  writeInt32(out, BatchField.lastOffsetDelta, recordsCount - 1)
  writeInt32(out, BatchField.recordsCount, recordsCount)
  return refreshCrc(out)
}

/** What decoding an encoded `spec` must give back. */
function expectedRecords(spec: RecordBatchSpec): DecodedRecord[] {
  const maxTimestamp = Math.max(...spec.records.map((record) => record.timestamp))
  return spec.records.map((record, index) => ({
    offset: (spec.baseOffset ?? 0) + index,
    timestamp: spec.timestampType === 'logAppend' ? maxTimestamp : record.timestamp,
    key: record.key,
    value: record.value,
    headers: [...(record.headers ?? [])],
  }))
}

function expectHeaderOf(decoded: DecodedBatch, spec: RecordBatchSpec, bytes: Uint8Array): void {
  const timestamps = spec.records.map((record) => record.timestamp)
  expect(decoded).toMatchObject({
    baseOffset: spec.baseOffset ?? 0,
    batchLength: bytes.length - BATCH_LOG_OVERHEAD_BYTES,
    partitionLeaderEpoch: spec.partitionLeaderEpoch ?? -1,
    magic: 2,
    crc: crc32c(bytes.subarray(BATCH_CRC_START)),
    compression: spec.compression ?? 'none',
    timestampType: spec.timestampType ?? 'create',
    isTransactional: spec.isTransactional ?? false,
    isControl: spec.isControl ?? false,
    lastOffsetDelta: spec.records.length - 1,
    baseTimestamp: timestamps[0],
    maxTimestamp: Math.max(...timestamps),
    producerId: spec.producerId ?? -1,
    producerEpoch: spec.producerEpoch ?? -1,
    baseSequence: spec.baseSequence ?? -1,
    recordsCount: spec.records.length,
    sizeBytes: bytes.length,
  })
}

// ---- arbitraries ----

const bytesOrNull = fc.option(fc.oneof(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ minLength: 100, maxLength: 400 })), { nil: null })
const timestamp = fc.bigInt({ min: -(2n ** 45n), max: 2n ** 45n }).map(Number)
const header: fc.Arbitrary<RecordHeader> = fc.record({ key: fc.string({ unit: 'binary', maxLength: 12 }), value: bytesOrNull })
const record: fc.Arbitrary<RecordSpec> = fc.record({ key: bytesOrNull, value: bytesOrNull, headers: fc.array(header, { maxLength: 4 }), timestamp })
const batchSpec: fc.Arbitrary<RecordBatchSpec> = fc.record({
  baseOffset: fc.maxSafeNat(),
  partitionLeaderEpoch: fc.integer(),
  compression: fc.constantFrom(...supportedCompressions()),
  timestampType: fc.constantFrom('create', 'logAppend'),
  isTransactional: fc.boolean(),
  isControl: fc.boolean(),
  producerId: fc.oneof(fc.constant(-1), fc.maxSafeNat()),
  producerEpoch: fc.integer({ min: -0x8000, max: 0x7fff }),
  baseSequence: fc.integer(),
  records: fc.array(record, { minLength: 1, maxLength: 6 }),
})
/** Small uncompressed batches, for exhaustive and per-bit tests. */
const smallBatch = fc
  .array(fc.record({ key: fc.option(fc.uint8Array({ maxLength: 8 }), { nil: null }), value: fc.uint8Array({ maxLength: 16 }), timestamp }), { minLength: 1, maxLength: 3 })
  .map((records) => encodeRecordBatch({ records }))

describe('golden vectors from kafkajs 2.2.4', () => {
  const byteExact = goldenBatches.filter((golden) => golden.byteExact)

  it.each(byteExact.map((golden) => [golden.name, golden] as const))('encode_%s_givesKafkajsBytes', (_name, golden) => {
    expect(toHex(encodeRecordBatch(golden.spec))).toBe(golden.hex)
  })

  it.each(goldenBatches.map((golden) => [golden.name, golden] as const))('decode_%s_givesTheInputsBack', (_name, golden) => {
    const bytes = fromHex(golden.hex)
    const decoded = decodeRecordBatch(bytes)
    expectHeaderOf(decoded, golden.spec, bytes)
    expect(decoded.records).toEqual(expectedRecords(golden.spec))
    // The CRC kafkajs wrote is the CRC-32C of attributes..end, and checkBatch agrees.
    expect(decoded.crc).toBe(crc32c(bytes.subarray(BATCH_CRC_START)))
    expect(checkBatch(bytes, 0, LIMITS).sizeBytes).toBe(bytes.length)
  })

  it('gzip: our own encoding of the same inputs round-trips (bytes may differ from kafkajs by zlib version)', () => {
    const golden = goldenBatches.find((candidate) => candidate.spec.compression === 'gzip')
    if (golden === undefined) throw new Error('no gzip golden vector')
    const bytes = encodeRecordBatch(golden.spec)
    expect(decodeRecordBatch(bytes).records).toEqual(expectedRecords(golden.spec))
  })
})

// ---- kafkajs's encoder, live ----

interface KafkajsEncoder {
  readonly buffer: Buffer
}
type KafkajsRecord = (record: { offsetDelta: number; timestampDelta: number; key: Buffer | null; value: Buffer | null; headers: Record<string, Buffer> }) => KafkajsEncoder
interface KafkajsLong {
  fromValue(value: number): unknown
}
const requireFromHere = createRequire(import.meta.url)
const kafkajsRecordBatch = (requireFromHere('kafkajs/src/protocol/recordBatch/v0') as { RecordBatch: (batch: Record<string, unknown>) => Promise<KafkajsEncoder> }).RecordBatch
const kafkajsRecord = requireFromHere('kafkajs/src/protocol/recordBatch/record/v0') as KafkajsRecord
const kafkajsLong = requireFromHere('kafkajs/src/utils/long') as KafkajsLong

/** kafkajs takes headers as an object, so keys are unique; a prefix keeps integer-like keys in insertion order. */
const kafkajsHeaders = fc.uniqueArray(
  fc.record({ key: fc.string({ unit: 'binary', maxLength: 10 }).map((key) => `h${key}`), value: fc.uint8Array({ maxLength: 200 }) }),
  { selector: (entry) => entry.key, maxLength: 3 },
)
const kafkajsCompatibleSpec = fc.record({
  baseOffset: fc.maxSafeNat(),
  partitionLeaderEpoch: fc.integer(),
  isTransactional: fc.boolean(),
  producerId: fc.oneof(fc.constant(-1), fc.maxSafeNat()),
  producerEpoch: fc.integer({ min: -0x8000, max: 0x7fff }),
  baseSequence: fc.integer(),
  records: fc.array(fc.record({ key: bytesOrNull, value: bytesOrNull, headers: kafkajsHeaders, timestamp }), { minLength: 1, maxLength: 6 }),
})

type KafkajsCompatibleSpec = typeof kafkajsCompatibleSpec extends fc.Arbitrary<infer Spec> ? Spec : never

async function encodeWithKafkajs(spec: KafkajsCompatibleSpec): Promise<Uint8Array> {
  const firstTimestamp = (spec.records[0] as RecordSpec).timestamp
  const asBuffer = (bytes: Uint8Array | null): Buffer | null => (bytes === null ? null : Buffer.from(bytes))
  const records = spec.records.map((entry, index) =>
    kafkajsRecord({
      offsetDelta: index,
      timestampDelta: entry.timestamp - firstTimestamp,
      key: asBuffer(entry.key),
      value: asBuffer(entry.value),
      headers: Object.fromEntries(entry.headers.map((h) => [h.key, Buffer.from(h.value)])),
    }),
  )
  const batch = await kafkajsRecordBatch({
    firstOffset: kafkajsLong.fromValue(spec.baseOffset),
    firstTimestamp,
    maxTimestamp: Math.max(...spec.records.map((entry) => entry.timestamp)),
    partitionLeaderEpoch: spec.partitionLeaderEpoch,
    lastOffsetDelta: records.length - 1,
    transactional: spec.isTransactional,
    producerId: kafkajsLong.fromValue(spec.producerId),
    producerEpoch: spec.producerEpoch,
    firstSequence: spec.baseSequence,
    records,
  })
  return batch.buffer
}

describe('against kafkajs 2.2.4 live', () => {
  it('our encoder writes the same bytes as kafkajs for random uncompressed batches (property)', async () => {
    await fc.assert(
      fc.asyncProperty(kafkajsCompatibleSpec, async (spec) => {
        expect(toHex(encodeRecordBatch(spec))).toBe(toHex(await encodeWithKafkajs(spec)))
      }),
      { numRuns: 50 },
    )
  })
})

describe('round trip', () => {
  it('decode(encode(spec)) gives back every header field and record (property)', () => {
    fc.assert(
      fc.property(batchSpec, (spec) => {
        const bytes = encodeRecordBatch(spec)
        const decoded = decodeRecordBatch(bytes)
        expectHeaderOf(decoded, spec, bytes)
        expect(decoded.records).toEqual(expectedRecords(spec))
      }),
      { numRuns: 300 },
    )
  })

  it('decodes a batch at a position inside a larger buffer, and back-to-back batches', () => {
    const first = fromHex((goldenBatches[0] as { hex: string }).hex)
    const second = encodeRecordBatch({ compression: 'gzip', records: [{ key: null, value: pattern(300, 9), timestamp: 5 }] })
    const both = Buffer.concat([first, second])
    expect(decodeRecordBatch(both, first.length).records[0]?.value).toEqual(pattern(300, 9))
    expect(decodeRecordBatches(both).map((batch) => batch.sizeBytes)).toEqual([first.length, second.length])
    expect(decodeRecordBatches(new Uint8Array(0))).toEqual([])
    expect(codeOf(() => decodeRecordBatches(both.subarray(0, both.length - 1)))).toBe(CORRUPT)
  })

  it('stampLogAppendTime_thenDecode_givesEveryRecordTheAppendTime', () => {
    const bytes = encodeRecordBatch({ records: [0, 1, 2].map((index) => ({ key: null, value: utf8(`v${index}`), timestamp: 1000 + index })) })
    stampLogAppendTime(bytes, 0, bytes.length, 1_800_000_000_000)
    const decoded = decodeRecordBatch(bytes)
    expect(decoded.timestampType).toBe('logAppend')
    expect(decoded.records.map((entry) => entry.timestamp)).toEqual([1_800_000_000_000, 1_800_000_000_000, 1_800_000_000_000])
  })
})

describe('corruption is caught', () => {
  const mixed = fromHex((goldenBatches[1] as { hex: string }).hex)

  it('every single-bit flip in bytes 17..end (CRC and CRC-covered region) fails checkBatch and decode, exhaustively', () => {
    for (let bit = BatchField.crc * 8; bit < mixed.length * 8; bit++) {
      const flipped = Uint8Array.from(mixed)
      flipped[bit >> 3] = (flipped[bit >> 3] as number) ^ (1 << (bit & 7))
      expect(codeOf(() => checkBatch(flipped, 0, LIMITS))).toBe(CORRUPT)
      expect(codeOf(() => decodeRecordBatch(flipped))).toBe(CORRUPT)
    }
  })

  it('a single-bit flip in bytes 17..end of a random batch never passes checkBatch (property)', () => {
    fc.assert(
      fc.property(smallBatch, fc.nat(), (batch, choice) => {
        const bit = BatchField.crc * 8 + (choice % ((batch.length - BatchField.crc) * 8))
        batch[bit >> 3] = (batch[bit >> 3] as number) ^ (1 << (bit & 7))
        expect(codeOf(() => checkBatch(batch, 0, LIMITS))).toBe(CORRUPT)
      }),
      { numRuns: 500 },
    )
  })

  it('flips in baseOffset and partitionLeaderEpoch are NOT caught by the CRC: both sit outside it, for the leader to stamp', () => {
    const undetected: number[] = []
    for (const byte of [...range(BatchField.baseOffset, 8), ...range(BatchField.partitionLeaderEpoch, 4)]) {
      for (let bit = 0; bit < 8; bit++) {
        const flipped = Uint8Array.from(mixed)
        flipped[byte] = (flipped[byte] as number) ^ (1 << bit)
        try {
          checkBatch(flipped, 0, LIMITS)
          undetected.push(byte)
        } catch (err) {
          // Only the range check on baseOffset (sign bit, bits past 2^53) can notice; never the CRC.
          expect(err).toMatchObject({ code: ErrorCode.INVALID_RECORD.code })
          expect(byte).toBeLessThan(BatchField.batchLength)
        }
      }
    }
    // All 32 epoch bits, and the 53 low bits of baseOffset (42 here) that keep it in 0..2^53-1.
    expect(undetected.filter((byte) => byte >= BatchField.partitionLeaderEpoch)).toHaveLength(32)
    expect(undetected.filter((byte) => byte < BatchField.batchLength)).toHaveLength(53)
  })

  it('every truncation of a batch is refused with CORRUPT_MESSAGE', () => {
    for (let length = 0; length < mixed.length; length++) {
      const truncated = mixed.subarray(0, length)
      expect(codeOf(() => checkBatch(truncated, 0, LIMITS))).toBe(CORRUPT)
      expect(codeOf(() => decodeRecordBatch(truncated))).toBe(CORRUPT)
    }
  })

  it('random bytes throw nothing but SkeinError (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        onlySkeinErrors(() => checkBatch(bytes, 0, LIMITS))
        onlySkeinErrors(() => decodeRecordBatches(bytes))
      }),
    )
  })

  it('garbled records under a valid header and CRC throw nothing but SkeinError (property)', () => {
    const garble = fc.record({ position: fc.nat(), byte: fc.nat(255), cut: fc.nat(), count: fc.integer({ min: 1, max: 8 }), extra: fc.uint8Array({ maxLength: 4 }) })
    fc.assert(
      fc.property(batchSpec, fc.array(garble, { minLength: 1, maxLength: 4 }), (spec, garbles) => {
        const batch = encodeRecordBatch({ ...spec, compression: 'none' })
        let records = batch.slice(BATCH_HEADER_BYTES)
        let count = spec.records.length
        for (const { position, byte, cut, count: newCount, extra } of garbles) {
          if (records.length > 0) records[position % records.length] = byte
          if (cut % 3 === 0) records = Buffer.concat([records.subarray(0, cut % (records.length + 1)), extra])
          if (cut % 5 === 0) count = newCount
        }
        onlySkeinErrors(() => decodeRecordBatch(withRecordsSection(batch, records, count)))
      }),
      { numRuns: 500 },
    )
  })
})

function range(start: number, count: number): number[] {
  return Array.from({ length: count }, (_, index) => start + index)
}

describe('checkBatch refusals', () => {
  const batch = (): Uint8Array => encodeRecordBatch({ records: [{ key: utf8('k'), value: utf8('v'), timestamp: 1 }, { key: null, value: null, timestamp: 2 }] })

  it('wrongCrc_givesCorruptMessage', () => {
    const bytes = batch()
    bytes[BatchField.crc + 3] = (bytes[BatchField.crc + 3] as number) ^ 0x01
    expect(codeOf(() => checkBatch(bytes, 0, LIMITS))).toBe(2)
  })

  it('magic1_givesUnsupportedForMessageFormat', () => {
    const bytes = batch()
    bytes[BatchField.magic] = 1
    expect(codeOf(() => checkBatch(bytes, 0, LIMITS))).toBe(43)
  })

  it('lengthLongerThanTheBytes_givesCorruptMessage', () => {
    const bytes = batch()
    writeInt32(bytes, BatchField.batchLength, bytes.length - BATCH_LOG_OVERHEAD_BYTES + 1)
    expect(codeOf(() => checkBatch(bytes, 0, LIMITS))).toBe(2)
    // Even with a spare byte in the buffer: the CRC then covers a byte that is not the batch's.
    expect(codeOf(() => checkBatch(Buffer.concat([bytes, new Uint8Array(1)]), 0, LIMITS))).toBe(2)
  })

  it('lengthShorterThanTheBytes_givesCorruptMessage', () => {
    const bytes = batch()
    writeInt32(bytes, BatchField.batchLength, bytes.length - BATCH_LOG_OVERHEAD_BYTES - 1)
    expect(codeOf(() => checkBatch(bytes, 0, LIMITS))).toBe(2)
    writeInt32(bytes, BatchField.batchLength, BATCH_HEADER_BYTES - BATCH_LOG_OVERHEAD_BYTES - 1)
    expect(codeOf(() => checkBatch(bytes, 0, LIMITS))).toBe(2)
  })

  it('overBatchBytesMax_givesMessageTooLarge', () => {
    const bytes = batch()
    expect(codeOf(() => checkBatch(bytes, 0, { batchBytesMax: bytes.length - 1 }))).toBe(10)
    expect(checkBatch(bytes, 0, { batchBytesMax: bytes.length }).sizeBytes).toBe(bytes.length)
  })

  it('lastOffsetDeltaNotCountMinusOne_givesInvalidRecord', () => {
    const gap = encodeRecordBatch({ records: [{ key: null, value: null, timestamp: 1 }, { key: null, value: null, timestamp: 1, offsetDelta: 2 }] })
    expect(codeOf(() => checkBatch(gap, 0, LIMITS))).toBe(87)
    expect(codeOf(() => decodeRecordBatch(gap))).toBe(87)
  })
})

describe('decoder refusals', () => {
  const one = encodeRecordBatch({ records: [{ key: utf8('k'), value: utf8('v'), timestamp: 1 }] })
  const records = one.slice(BATCH_HEADER_BYTES)

  it('recordOffsetDeltaNotItsIndex_givesInvalidRecord', () => {
    const swapped = encodeRecordBatch({ records: [{ key: null, value: null, timestamp: 1, offsetDelta: 1 }, { key: null, value: null, timestamp: 1, offsetDelta: 1 }] })
    expect(checkBatch(swapped, 0, LIMITS).recordsCount).toBe(2)
    expect(codeOf(() => decodeRecordBatch(swapped))).toBe(ErrorCode.INVALID_RECORD.code)
  })

  it('moreRecordsClaimedThanPresent_givesCorruptMessage', () => {
    expect(codeOf(() => decodeRecordBatch(withRecordsSection(one, records, 2)))).toBe(CORRUPT)
  })

  it('bytesLeftAfterTheRecords_givesCorruptMessage', () => {
    expect(codeOf(() => decodeRecordBatch(withRecordsSection(one, Buffer.concat([records, records]), 1)))).toBe(CORRUPT)
    expect(codeOf(() => decodeRecordBatch(withRecordsSection(one, Buffer.concat([records, Uint8Array.of(0)]), 1)))).toBe(CORRUPT)
  })

  it('headerKeyNotUtf8_givesCorruptMessage', () => {
    const withHeader = encodeRecordBatch({ records: [{ key: null, value: null, timestamp: 1, headers: [{ key: 'é', value: null }] }] })
    const keyAt = withHeader.indexOf(0xc3)
    withHeader[keyAt] = 0xff
    expect(codeOf(() => decodeRecordBatch(refreshCrc(withHeader)))).toBe(CORRUPT)
  })

  it('headerKeyLeadingByteOrderMark_isKept', () => {
    const spec = { records: [{ key: null, value: null, timestamp: 1, headers: [{ key: '\ufeffk', value: null }] }] }
    expect(decodeRecordBatch(encodeRecordBatch(spec)).records[0]?.headers).toEqual([{ key: '\ufeffk', value: null }])
  })

  it('unsupportedCodec_givesUnsupportedCompressionType, as does an unknown codec', () => {
    for (const codec of [...unsupportedCodecs.map((name) => CompressionCodec[name]), 7]) {
      const bytes = Uint8Array.from(one)
      bytes[BatchField.attributes + 1] = codec
      expect(codeOf(() => decodeRecordBatch(refreshCrc(bytes)))).toBe(ErrorCode.UNSUPPORTED_COMPRESSION_TYPE.code)
    }
  })

  it('gzipRecordsThatDoNotInflate_giveCorruptMessage', () => {
    const gzip = encodeRecordBatch({ compression: 'gzip', records: [{ key: null, value: utf8('v'), timestamp: 1 }] })
    expect(codeOf(() => decodeRecordBatch(withRecordsSection(gzip, utf8('not gzip at all'), 1)))).toBe(CORRUPT)
  })

  it('gzipRecordsInflatingPastDecompressedBytesMax_giveMessageTooLarge', () => {
    const gzip = encodeRecordBatch({ compression: 'gzip', records: [{ key: null, value: new Uint8Array(100_000), timestamp: 1 }] })
    expect(gzip.length).toBeLessThan(1000)
    const limits = { batchBytesMax: LIMITS.batchBytesMax, decompressedBytesMax: 10_000 }
    expect(codeOf(() => decodeRecordBatch(gzip, 0, limits))).toBe(ErrorCode.MESSAGE_TOO_LARGE.code)
  })
})

describe('encoder refusals', () => {
  const record = { key: null, value: null, timestamp: 1 }

  it.each(unsupportedCodecs)('compression %s gives UnsupportedCompressionType', (compression) => {
    expect(codeOf(() => encodeRecordBatch({ compression, records: [record] }))).toBe(ErrorCode.UNSUPPORTED_COMPRESSION_TYPE.code)
  })

  it.each([
    ['no records', { records: [] }],
    ['a negative offsetDelta', { records: [{ ...record, offsetDelta: -1 }] }],
    ['a timestamp past 2^53', { records: [{ ...record, timestamp: 2 ** 53 }] }],
    ['a timestamp delta past 2^53', { records: [record, { ...record, timestamp: Number.MIN_SAFE_INTEGER }] }],
    ['a negative baseOffset', { baseOffset: -1, records: [record] }],
    ['a producerEpoch past int16', { producerEpoch: 0x8000, records: [record] }],
    ['a fractional baseSequence', { baseSequence: 0.5, records: [record] }],
  ] satisfies Array<[string, RecordBatchSpec]>)('%s gives InvalidRecord', (_name, spec) => {
    expect(codeOf(() => encodeRecordBatch(spec))).toBe(ErrorCode.INVALID_RECORD.code)
  })
})

describe('RecordBatchBuilder', () => {
  const recordOf = (i: number, valueBytes: number): RecordSpec => ({
    key: i % 3 === 0 ? null : utf8(`key-${i}`),
    value: i % 5 === 0 ? null : pattern(valueBytes, i),
    headers: i % 4 === 0 ? [{ key: `h${i}`, value: utf8('v') }, { key: 'n', value: null }] : [],
    timestamp: 1_700_000_000_000 + i * 7,
  })

  it('built_recordByRecord_isByteForByteTheWholeBatchEncoding_acrossBufferGrowth', () => {
    // A 1-byte size hint forces the buffer to double many times while records come.
    const records = Array.from({ length: 300 }, (_, i) => recordOf(i, (i * 37) % 500))
    const builder = new RecordBatchBuilder(1)
    for (const record of records) builder.append(record)
    const header = { producerId: 42, producerEpoch: 3, baseSequence: 100 }
    const built = builder.build(header)
    expect(builder.count).toBe(300)
    expect(built).toEqual(encodeRecordBatch({ ...header, records }))
    expect(decodeRecordBatch(built).records.map((r) => r.timestamp)).toEqual(records.map((r) => r.timestamp))
  })

  it.each(supportedCompressions())('built_withCompression_%s_decodesToTheRecords', (compression) => {
    const records = Array.from({ length: 50 }, (_, i) => recordOf(i, 64))
    const builder = new RecordBatchBuilder(64)
    for (const record of records) builder.append(record)
    const decoded = decodeRecordBatch(builder.build({ compression }))
    expect(decoded.compression).toBe(compression)
    expect(decoded.records.map((r) => r.value === null ? null : Buffer.from(r.value).toString('hex'))).toEqual(records.map((r) => r.value === null ? null : Buffer.from(r.value).toString('hex')))
  })

  it('build_withoutRecords_isInvalidRecord_andASecondBuildOrAppendThrows', () => {
    expect(codeOf(() => new RecordBatchBuilder(10).build({}))).toBe(ErrorCode.INVALID_RECORD.code)
    const builder = new RecordBatchBuilder(10)
    builder.append(recordOf(1, 10))
    builder.build({})
    expect(() => builder.build({})).toThrow(/built twice/)
    expect(() => builder.append(recordOf(2, 10))).toThrow(/append after build/)
  })

  it('append_unsafeTimestamp_isInvalidRecord_andLeavesTheBatchAsItWas', () => {
    const builder = new RecordBatchBuilder(10)
    builder.append(recordOf(1, 10))
    const before = builder.sizeBytes
    expect(codeOf(() => builder.append({ key: null, value: null, timestamp: 2 ** 60 }))).toBe(ErrorCode.INVALID_RECORD.code)
    expect(builder.sizeBytes).toBe(before)
    expect(decodeRecordBatch(builder.build({})).records).toHaveLength(1)
  })
})
