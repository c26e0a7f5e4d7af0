import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  ByteReader,
  VARLONG_BYTES_MAX,
  unsignedVarintSizeBytes,
  varintSizeBytes,
  varlongSizeBytes,
  writeUnsignedVarint,
  writeVarint,
  writeVarlong,
} from '../../src/log/varint.js'
import { ErrorCode, SkeinError } from '../../src/wire/errors.js'

const CORRUPT = ErrorCode.CORRUPT_MESSAGE.code
const INVALID = ErrorCode.INVALID_RECORD.code
const fromHex = (hex: string): Uint8Array => Uint8Array.from(Buffer.from(hex, 'hex'))
const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex')
const readerOf = (hex: string): ByteReader => {
  const bytes = fromHex(hex)
  return new ByteReader(bytes, 0, bytes.length)
}

/** Writes with `write` into a buffer of exactly `size` bytes; fails if the two disagree. */
function encode(write: (bytes: Uint8Array, at: number, value: number) => number, size: (value: number) => number, value: number): string {
  const bytes = new Uint8Array(size(value))
  expect(write(bytes, 0, value)).toBe(bytes.length)
  return toHex(bytes)
}
const varintHex = (value: number): string => encode(writeVarint, varintSizeBytes, value)
const varlongHex = (value: number): string => encode(writeVarlong, varlongSizeBytes, value)

/** Reference encoding in BigInt arithmetic: zigzag over 64 bits, then LEB128, as Kafka's ByteUtils does. */
function referenceHex(value: bigint, bits: 32 | 64): string {
  let zigzag = BigInt.asUintN(bits, (value << 1n) ^ (value >> BigInt(bits - 1)))
  const out: number[] = []
  do {
    const group = Number(zigzag & 0x7fn)
    zigzag >>= 7n
    out.push(zigzag === 0n ? group : group | 0x80)
  } while (zigzag !== 0n)
  return toHex(Uint8Array.from(out))
}

/** Matches a thrown SkeinError with this code (toThrow compares the error's fields). */
const skeinError = (code: number): unknown => expect.objectContaining({ name: 'SkeinError', code })

describe('varint (zigzag int32)', () => {
  it.each([
    [0, '00'],
    [-1, '01'],
    [1, '02'],
    [63, '7e'],
    [-64, '7f'],
    [64, '8001'],
    [0x7fff_ffff, 'feffffff0f'],
    [-0x8000_0000, 'ffffffff0f'],
  ])('writes %i as %s and reads it back', (value, hex) => {
    expect(varintHex(value)).toBe(hex)
    expect(readerOf(hex).readVarint()).toBe(value)
  })

  it('matches the BigInt reference on every int32 (property)', () => {
    fc.assert(
      fc.property(fc.integer(), (value) => {
        const hex = varintHex(value)
        expect(hex).toBe(referenceHex(BigInt(value), 32))
        expect(readerOf(hex).readVarint()).toBe(value)
      }),
    )
  })

  it('refuses to write a value outside int32 or not an integer', () => {
    for (const value of [0x8000_0000, -0x8000_0001, 1.5, Number.NaN]) expect(() => writeVarint(new Uint8Array(5), 0, value)).toThrow(skeinError(INVALID))
  })

  it('reads a non-minimal encoding, as Kafka does', () => {
    expect(readerOf('8000').readVarint()).toBe(0)
  })

  it('refuses an encoding longer than 5 bytes', () => {
    expect(() => readerOf('ffffffffff01').readVarint()).toThrow(skeinError(CORRUPT))
  })

  it('refuses a fifth byte that overflows 32 bits', () => {
    expect(() => readerOf('ffffffff10').readVarint()).toThrow(skeinError(CORRUPT))
  })
})

describe('unsigned varint', () => {
  it('writes 300 as ac02 and 2^32-1 in 5 bytes', () => {
    expect(encode(writeUnsignedVarint, unsignedVarintSizeBytes, 300)).toBe('ac02')
    expect(encode(writeUnsignedVarint, unsignedVarintSizeBytes, 0xffff_ffff)).toBe('ffffffff0f')
    expect(readerOf('ffffffff0f').readUnsignedVarint()).toBe(0xffff_ffff)
  })

  it('refuses to write a negative value or one past 2^32-1', () => {
    expect(() => writeUnsignedVarint(new Uint8Array(5), 0, -1)).toThrow(skeinError(INVALID))
    expect(() => writeUnsignedVarint(new Uint8Array(6), 0, 2 ** 32)).toThrow(skeinError(INVALID))
  })
})

describe('varlong (zigzag int64, safe-integer range)', () => {
  const safeInteger = fc.oneof(fc.maxSafeInteger(), fc.integer(), fc.constantFrom(Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, 0, -1, 2 ** 32, -(2 ** 32)))

  it.each([
    [0, '00'],
    [-1, '01'],
    [63, '7e'],
    [-64, '7f'],
    [64, '8001'],
    [1_000_000, '80897a'],
  ])('writes %i as %s', (value, hex) => {
    expect(varlongHex(value)).toBe(hex)
  })

  it('matches the BigInt reference and reads back on every safe integer (property)', () => {
    fc.assert(
      fc.property(safeInteger, (value) => {
        const hex = varlongHex(value)
        expect(hex).toBe(referenceHex(BigInt(value), 64))
        expect(readerOf(hex).readVarlong()).toBe(value)
      }),
      { numRuns: 1000 },
    )
  })

  it('refuses to write a value outside the safe-integer range', () => {
    for (const value of [2 ** 53, -(2 ** 53), 0.5, Number.POSITIVE_INFINITY]) {
      expect(() => writeVarlong(new Uint8Array(VARLONG_BYTES_MAX), 0, value)).toThrow(skeinError(INVALID))
    }
  })

  it('refuses to read a value outside the safe-integer range: 2^53, -2^53, -2^63', () => {
    for (const value of [2n ** 53n, -(2n ** 53n), -(2n ** 63n)]) expect(() => readerOf(referenceHex(value, 64)).readVarlong()).toThrow(skeinError(CORRUPT))
  })

  it('refuses an encoding longer than 10 bytes', () => {
    expect(() => readerOf('8080808080808080808000').readVarlong()).toThrow(skeinError(CORRUPT))
  })
})

describe('ByteReader', () => {
  it('refuses to read past its end, even when the buffer goes on', () => {
    const bytes = fromHex('80808080')
    expect(() => new ByteReader(bytes, 0, 2).readVarint()).toThrow(skeinError(CORRUPT))
    expect(() => new ByteReader(bytes, 0, 2).readBytes(3)).toThrow(skeinError(CORRUPT))
    expect(() => new ByteReader(bytes, 0, 2).takeInto(new ByteReader(bytes, 0, 0), -1)).toThrow(skeinError(CORRUPT))
  })

  it('throws only SkeinError on random bytes (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 12 }), fc.constantFrom('readVarint', 'readVarlong', 'readUnsignedVarint', 'readInt8') satisfies fc.Arbitrary<keyof ByteReader>, (bytes, method) => {
        try {
          new ByteReader(bytes, 0, bytes.length)[method]()
        } catch (err) {
          expect(err).toBeInstanceOf(SkeinError)
        }
      }),
    )
  })
})
