import { createRequire } from 'node:module'
import * as zlib from 'node:zlib'
import { gunzipSync, gzipSync } from 'node:zlib'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { BATCH_CRC_START, BATCH_HEADER_BYTES, BATCH_LOG_OVERHEAD_BYTES, BatchAttribute, BatchField, checkBatch, readInt32, writeInt32 } from '../../src/log/batch-header.js'
import {
  type CompressionName,
  DECOMPRESSED_BYTES_MAX_DEFAULT,
  codecById,
  codecByName,
  decompressRecords,
  supportedCompressions,
} from '../../src/log/compression.js'
import { crc32c } from '../../src/log/crc32c.js'
import { DECODE_LIMITS_DEFAULT, type RecordBatchSpec, type RecordSpec, decodeRecordBatch, decodeRecordBatches, encodeRecordBatch } from '../../src/log/record-batch.js'
import { ErrorCode, SkeinError } from '../../src/wire/errors.js'
import { pattern, utf8 } from './fixtures/record-batch-golden.js'

const CORRUPT = ErrorCode.CORRUPT_MESSAGE.code
const TOO_LARGE = ErrorCode.MESSAGE_TOO_LARGE.code
const UNSUPPORTED = ErrorCode.UNSUPPORTED_COMPRESSION_TYPE.code
const LIMITS = { batchBytesMax: 1024 * 1024 }
const MIB = 1024 * 1024
const ALL_CODECS: readonly CompressionName[] = ['none', 'gzip', 'snappy', 'lz4', 'zstd']
const supported = supportedCompressions()
const unsupported = ALL_CODECS.filter((name) => !supported.includes(name))
const zstdAvailable = supported.includes('zstd')

/** The SkeinError `action` throws; anything else thrown (or nothing) fails the test. */
function skeinErrorOf(action: () => unknown): SkeinError {
  try {
    action()
  } catch (err) {
    if (err instanceof SkeinError) return err
    throw err
  }
  throw new Error('expected a SkeinError, nothing was thrown')
}

const codeOf = (action: () => unknown): number => skeinErrorOf(action).code

/** `batch`'s header around another records section, with length and CRC made consistent. */
function withRecordsSection(batch: Uint8Array, records: Uint8Array): Uint8Array {
  const out = new Uint8Array(BATCH_HEADER_BYTES + records.length)
  out.set(batch.subarray(0, BATCH_HEADER_BYTES))
  out.set(records, BATCH_HEADER_BYTES)
  writeInt32(out, BatchField.batchLength, out.length - BATCH_LOG_OVERHEAD_BYTES)
  writeInt32(out, BatchField.crc, crc32c(out.subarray(BATCH_CRC_START)))
  return out
}

/** `batch` with its codec bits set to `id` and the CRC recomputed. */
function withCodec(batch: Uint8Array, id: number): Uint8Array {
  const out = Uint8Array.from(batch)
  out[BatchField.attributes + 1] = ((out[BatchField.attributes + 1] as number) & ~BatchAttribute.compressionMask) | id
  writeInt32(out, BatchField.crc, crc32c(out.subarray(BATCH_CRC_START)))
  return out
}

const records: RecordSpec[] = [
  { key: utf8('k0'), value: pattern(2000, 1), timestamp: 1_700_000_000_000, headers: [{ key: 'h', value: utf8('x') }] },
  { key: null, value: null, timestamp: 1_700_000_000_005 },
  { key: utf8('k2'), value: utf8('v2'.repeat(300)), timestamp: 1_699_999_999_999 },
]
const spec: RecordBatchSpec = { baseOffset: 42, partitionLeaderEpoch: 3, producerId: 7, producerEpoch: 1, baseSequence: 9, records }

describe('the codec table', () => {
  it('always has none and gzip; zstd exactly when node:zlib has it', () => {
    expect(supported.slice(0, 2)).toEqual(['none', 'gzip'])
    expect(zstdAvailable).toBe(typeof (zlib as unknown as { zstdCompressSync?: unknown }).zstdCompressSync === 'function')
    for (const name of supported) {
      expect(codecByName(name)).toMatchObject({ name, id: ALL_CODECS.indexOf(name) })
      expect(codecById(ALL_CODECS.indexOf(name)).name).toBe(name)
    }
  })

  it.each(unsupported.map((name) => [name]))('codecByName_%s_givesUnsupportedCompressionType naming it', (name) => {
    const error = skeinErrorOf(() => codecByName(name))
    expect(error.code).toBe(UNSUPPORTED)
    expect(error.retriable).toBe(false)
    expect(error.message).toContain(name)
  })

  it('codecById_outsideKafkasCodecs_givesUnsupportedCompressionType', () => {
    for (const id of [5, 6, 7, -1]) expect(codeOf(() => codecById(id))).toBe(UNSUPPORTED)
  })
})

describe('round trip per codec', () => {
  it.each(supported.map((name) => [name]))('encode_%s_thenDecode_givesTheRecordsBack', (compression) => {
    const bytes = encodeRecordBatch({ ...spec, compression })
    const decoded = decodeRecordBatch(bytes)
    expect(decoded.compression).toBe(compression)
    expect(decoded.recordsCount).toBe(records.length)
    expect(decoded.records.map((record) => [record.offset, record.timestamp, record.key, record.value, record.headers])).toEqual(
      records.map((record, index) => [42 + index, record.timestamp, record.key, record.value, record.headers ?? []]),
    )
  })

  it.each(supported.map((name) => [name]))('encode_%s_writesTheCodecBits_andKeepsTheOtherFlags', (compression) => {
    const bytes = encodeRecordBatch({ ...spec, compression, isTransactional: true, timestampType: 'logAppend' })
    const attributes = (bytes[BatchField.attributes] as number) * 256 + (bytes[BatchField.attributes + 1] as number)
    expect(attributes & BatchAttribute.compressionMask).toBe(ALL_CODECS.indexOf(compression))
    expect(attributes & ~BatchAttribute.compressionMask).toBe(BatchAttribute.transactional | BatchAttribute.timestampTypeLogAppend)
    expect(decodeRecordBatch(bytes)).toMatchObject({ compression, isTransactional: true, timestampType: 'logAppend', isControl: false })
  })

  it.each(supported.map((name) => [name]))('encode_%s_givesAValidCrcOverTheCompressedBytes', (compression) => {
    const bytes = encodeRecordBatch({ ...spec, compression })
    expect(readInt32(bytes, BatchField.crc) >>> 0).toBe(crc32c(bytes.subarray(BATCH_CRC_START)))
    expect(checkBatch(bytes, 0, LIMITS)).toMatchObject({ sizeBytes: bytes.length, recordsCount: records.length, lastOffsetDelta: records.length - 1 })
  })

  it.each(supported.filter((name) => name !== 'none').map((name) => [name]))(
    'encode_%s_compressesExactlyTheRecordsSection: header as uncompressed (recordsCount plain), records inflate to the plain bytes',
    (compression) => {
      const plain = encodeRecordBatch(spec)
      const compressed = encodeRecordBatch({ ...spec, compression })
      expect(compressed.length).toBeLessThan(plain.length)
      // Everything in the header but batchLength, crc and the codec bits is the same.
      const masked = (bytes: Uint8Array): Uint8Array => {
        const header = Uint8Array.from(bytes.subarray(0, BATCH_HEADER_BYTES))
        header.fill(0, BatchField.batchLength, BatchField.batchLength + 4)
        header.fill(0, BatchField.crc, BatchField.crc + 6)
        return header
      }
      expect(masked(compressed)).toEqual(masked(plain))
      const inflated = codecByName(compression).decompress(compressed.subarray(BATCH_HEADER_BYTES), MIB)
      expect(inflated).toEqual(plain.subarray(BATCH_HEADER_BYTES))
    },
  )

  it('random batches round-trip under every supported codec (property)', () => {
    const bytesOrNull = fc.option(fc.uint8Array({ maxLength: 300 }), { nil: null })
    const record = fc.record({ key: bytesOrNull, value: bytesOrNull, timestamp: fc.integer({ min: 0, max: 2 ** 40 }) })
    fc.assert(
      fc.property(fc.array(record, { minLength: 1, maxLength: 8 }), fc.constantFrom(...supported), (recordSpecs, compression) => {
        const decoded = decodeRecordBatch(encodeRecordBatch({ compression, records: recordSpecs }))
        expect(decoded.records.map((entry) => [entry.key, entry.value, entry.timestamp])).toEqual(recordSpecs.map((entry) => [entry.key, entry.value, entry.timestamp]))
      }),
      { numRuns: 100 },
    )
  })

  it('none_decodesInPlace: record values are views into the input, no copy', () => {
    const bytes = encodeRecordBatch(spec)
    const value = decodeRecordBatch(bytes).records[0]?.value
    expect(value?.buffer).toBe(bytes.buffer)
    expect(decompressRecords(0, bytes, 1)).toBe(bytes)
  })

  it('gzip_decodesMultiMemberStreams: concatenated gzip members inflate as one records section', () => {
    const plain = encodeRecordBatch(spec)
    const section = plain.subarray(BATCH_HEADER_BYTES)
    const cut = 1000
    const twoMembers = Buffer.concat([gzipSync(section.subarray(0, cut)), gzipSync(section.subarray(cut))])
    const batch = withRecordsSection(withCodec(plain, 1), twoMembers)
    expect(decodeRecordBatch(batch).records.map((record) => record.value)).toEqual(records.map((record) => record.value))
  })
})

describe('corrupt compressed payloads', () => {
  const gzipBatch = encodeRecordBatch({ ...spec, compression: 'gzip' })
  const gzipSection = gzipBatch.subarray(BATCH_HEADER_BYTES)

  it.each([
    ['not gzip at all', utf8('definitely not a gzip stream')],
    ['an empty section', new Uint8Array(0)],
    ['a truncated stream', gzipSection.subarray(0, gzipSection.length - 10)],
    ['only the gzip header', gzipSection.subarray(0, 10)],
  ])('gzip with %s, under a valid CRC, gives CorruptMessage', (_name, section) => {
    const error = skeinErrorOf(() => decodeRecordBatch(withRecordsSection(gzipBatch, section)))
    expect(error.code).toBe(CORRUPT)
    expect(error.message).toContain('gzip')
  })

  it('a flipped byte in the deflate data, CRC recomputed, gives CorruptMessage (gzip trailer CRC-32 or the record parser)', () => {
    for (let at = 10; at < gzipSection.length; at += 7) {
      const section = Uint8Array.from(gzipSection)
      section[at] = (section[at] as number) ^ 0x5a
      expect(codeOf(() => decodeRecordBatch(withRecordsSection(gzipBatch, section)))).toBe(CORRUPT)
    }
  })

  it('a flipped byte without recomputing the CRC is caught by the batch CRC first', () => {
    const flipped = Uint8Array.from(gzipBatch)
    flipped[BATCH_HEADER_BYTES + 20] = (flipped[BATCH_HEADER_BYTES + 20] as number) ^ 1
    expect(skeinErrorOf(() => decodeRecordBatch(flipped)).message).toContain('CRC')
  })

  it('gzip that inflates to the wrong records (count in the header disagrees) gives CorruptMessage', () => {
    const oneRecord = encodeRecordBatch({ records: [{ key: null, value: utf8('v'), timestamp: 1 }] }).subarray(BATCH_HEADER_BYTES)
    expect(codeOf(() => decodeRecordBatch(withRecordsSection(gzipBatch, gzipSync(oneRecord))))).toBe(CORRUPT)
  })

  it('random bytes as a gzip section throw nothing but SkeinError (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (section) => {
        skeinErrorOf(() => decodeRecordBatch(withRecordsSection(gzipBatch, section)))
      }),
    )
  })
})

describe('decompression is bounded (decompressedBytesMax)', () => {
  /** A records section of `lengthBytes` zeros, gzipped: ~1000x smaller than what it inflates to. */
  const bomb = (lengthBytes: number): Uint8Array => gzipSync(new Uint8Array(lengthBytes), { level: 9 })
  const gzipBatch = encodeRecordBatch({ ...spec, compression: 'gzip' })

  it('the default bound is tied to the batch size limit (64 x batchBytesMax)', () => {
    expect(DECODE_LIMITS_DEFAULT.decompressedBytesMax).toBe(DECOMPRESSED_BYTES_MAX_DEFAULT)
    expect(DECOMPRESSED_BYTES_MAX_DEFAULT).toBe(64 * (MIB + 12))
  })

  it('a 10 MB bomb against a 1 MB bound gives MessageTooLarge, not retriable', () => {
    const batch = withRecordsSection(gzipBatch, bomb(10 * MIB))
    expect(batch.length).toBeLessThan(20_000)
    const error = skeinErrorOf(() => decodeRecordBatch(batch, 0, { batchBytesMax: LIMITS.batchBytesMax, decompressedBytesMax: MIB }))
    expect(error.code).toBe(TOO_LARGE)
    expect(error.retriable).toBe(false)
    expect(error.message).toContain('decompressedBytesMax')
  })

  it('the bound is exact: records inflating to exactly decompressedBytesMax decode, one byte less refuses', () => {
    const plain = encodeRecordBatch(spec)
    const inflatedBytes = plain.length - BATCH_HEADER_BYTES
    const batch = encodeRecordBatch({ ...spec, compression: 'gzip' })
    expect(decodeRecordBatch(batch, 0, { batchBytesMax: LIMITS.batchBytesMax, decompressedBytesMax: inflatedBytes }).recordsCount).toBe(records.length)
    expect(codeOf(() => decodeRecordBatch(batch, 0, { batchBytesMax: LIMITS.batchBytesMax, decompressedBytesMax: inflatedBytes - 1 }))).toBe(TOO_LARGE)
  })

  it('a bomb past the default bound (five 16 MiB gzip members, 80 MiB inflated) is refused with the default limits', () => {
    const member = bomb(16 * MIB)
    const section = Buffer.concat([member, member, member, member, member])
    expect(section.length).toBeLessThan(200_000)
    const batches = Buffer.concat([encodeRecordBatch(spec), withRecordsSection(gzipBatch, section)])
    expect(codeOf(() => decodeRecordBatches(batches))).toBe(TOO_LARGE)
  })
})

describe('unsupported codecs', () => {
  const plain = encodeRecordBatch(spec)

  it.each(unsupported.map((name) => [name]))('encode_%s_givesUnsupportedCompressionType', (compression) => {
    expect(codeOf(() => encodeRecordBatch({ ...spec, compression }))).toBe(UNSUPPORTED)
  })

  it.each(unsupported.map((name) => [name]))('decode_%s_givesUnsupportedCompressionType naming the codec', (compression) => {
    const error = skeinErrorOf(() => decodeRecordBatch(withCodec(plain, ALL_CODECS.indexOf(compression))))
    expect(error.code).toBe(UNSUPPORTED)
    expect(error.retriable).toBe(false)
    expect(error.message).toContain(compression)
  })

  it('decode_codecIdsFiveToSeven_giveUnsupportedCompressionType', () => {
    for (const id of [5, 6, 7]) expect(codeOf(() => decodeRecordBatch(withCodec(plain, id)))).toBe(UNSUPPORTED)
  })
})

describe.runIf(zstdAvailable)('zstd (this Node has it in node:zlib)', () => {
  it('a zstd bomb is bounded too', () => {
    const zstd = codecByName('zstd')
    const batch = withRecordsSection(withCodec(plain(), 4), zstd.compress(new Uint8Array(10 * MIB)))
    expect(codeOf(() => decodeRecordBatch(batch, 0, { batchBytesMax: LIMITS.batchBytesMax, decompressedBytesMax: MIB }))).toBe(TOO_LARGE)
  })

  it('garbage as a zstd section gives CorruptMessage', () => {
    expect(codeOf(() => decodeRecordBatch(withRecordsSection(withCodec(plain(), 4), utf8('not zstd'))))).toBe(CORRUPT)
  })

  function plain(): Uint8Array {
    return encodeRecordBatch(spec)
  }
})

// ---- interop with kafkajs 2.2.4, live (its own encoder and decoder, no broker) ----

interface KafkajsEncoder {
  readonly buffer: Buffer
}
interface KafkajsDecodedRecord {
  readonly key: Buffer | null
  readonly value: Buffer | null
  readonly offset: string
  readonly timestamp: string
}
const requireFromHere = createRequire(import.meta.url)
const kafkajsRecordBatch = (requireFromHere('kafkajs/src/protocol/recordBatch/v0') as { RecordBatch: (batch: Record<string, unknown>) => Promise<KafkajsEncoder> }).RecordBatch
const kafkajsRecord = requireFromHere('kafkajs/src/protocol/recordBatch/record/v0') as (record: Record<string, unknown>) => KafkajsEncoder
const kafkajsDecodeBatch = requireFromHere('kafkajs/src/protocol/recordBatch/v0/decoder') as (decoder: unknown) => Promise<{ records: KafkajsDecodedRecord[] }>
const KafkajsDecoder = requireFromHere('kafkajs/src/protocol/decoder') as new (buffer: Buffer) => unknown
const kafkajsLong = requireFromHere('kafkajs/src/utils/long') as { fromValue(value: number): unknown }
const KAFKAJS_GZIP = 1

const interopRecord = fc.record({
  key: fc.option(fc.uint8Array({ maxLength: 40 }), { nil: null }),
  value: fc.oneof(fc.uint8Array({ maxLength: 40 }), fc.constant(pattern(3000, 5))),
  timestamp: fc.integer({ min: 1_600_000_000_000, max: 1_800_000_000_000 }),
})

async function kafkajsGzipBatch(baseOffset: number, recordSpecs: readonly { key: Uint8Array | null; value: Uint8Array; timestamp: number }[]): Promise<Uint8Array> {
  const first = (recordSpecs[0] as { timestamp: number }).timestamp
  const encoded = recordSpecs.map((entry, index) =>
    kafkajsRecord({
      offsetDelta: index,
      timestampDelta: entry.timestamp - first,
      key: entry.key === null ? null : Buffer.from(entry.key),
      value: Buffer.from(entry.value),
      headers: {},
    }),
  )
  const batch = await kafkajsRecordBatch({
    compression: KAFKAJS_GZIP,
    firstOffset: kafkajsLong.fromValue(baseOffset),
    firstTimestamp: first,
    maxTimestamp: Math.max(...recordSpecs.map((entry) => entry.timestamp)),
    lastOffsetDelta: encoded.length - 1,
    records: encoded,
  })
  return batch.buffer
}

describe('gzip interop with kafkajs 2.2.4', () => {
  it('a gzip batch kafkajs encodes decodes here, CRC and all (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: 2 ** 40 }), fc.array(interopRecord, { minLength: 1, maxLength: 6 }), async (baseOffset, recordSpecs) => {
        const bytes = await kafkajsGzipBatch(baseOffset, recordSpecs)
        expect(checkBatch(bytes, 0, LIMITS).sizeBytes).toBe(bytes.length)
        const decoded = decodeRecordBatch(bytes)
        expect(decoded.compression).toBe('gzip')
        expect(decoded.records.map((entry) => [entry.offset, entry.timestamp, entry.key, entry.value])).toEqual(
          recordSpecs.map((entry, index) => [baseOffset + index, entry.timestamp, entry.key, entry.value]),
        )
        // The same layout: kafkajs compressed exactly the records section we would write plain.
        const ours = encodeRecordBatch({ baseOffset, partitionLeaderEpoch: 0, producerEpoch: 0, baseSequence: 0, records: recordSpecs })
        expect(gunzipSync(bytes.subarray(BATCH_HEADER_BYTES))).toEqual(Buffer.from(ours.subarray(BATCH_HEADER_BYTES)))
      }),
      { numRuns: 30 },
    )
  })

  it('a gzip batch encoded here decodes in kafkajs', async () => {
    const bytes = encodeRecordBatch({ ...spec, compression: 'gzip' })
    const decoded = await kafkajsDecodeBatch(new KafkajsDecoder(Buffer.from(bytes)))
    expect(decoded.records.map((entry) => [entry.offset, entry.timestamp, entry.key, entry.value])).toEqual(
      records.map((entry, index) => [String(42 + index), String(entry.timestamp), entry.key === null ? null : Buffer.from(entry.key), entry.value === null ? null : Buffer.from(entry.value)]),
    )
  })
})
