import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { type Crc32c, crc32c, crc32cImplementation, crc32cPortable } from '../../src/log/crc32c.js'

const ascii = (text: string): Uint8Array => new TextEncoder().encode(text)
const fromHex = (hex: string): Uint8Array => Uint8Array.from(Buffer.from(hex, 'hex'))

/** RFC 3720 (iSCSI) appendix B.4 vectors, plus the CRC catalogue's check value. */
const checkValues: ReadonlyArray<{ name: string; bytes: Uint8Array; crc: number }> = [
  { name: 'empty input', bytes: new Uint8Array(0), crc: 0x0000_0000 },
  { name: '"123456789" (catalogue check value)', bytes: ascii('123456789'), crc: 0xe306_9283 },
  { name: '32 zero bytes (RFC 3720)', bytes: new Uint8Array(32), crc: 0x8a91_36aa },
  { name: '32 0xFF bytes (RFC 3720)', bytes: new Uint8Array(32).fill(0xff), crc: 0x62a8_ab43 },
  { name: '32 ascending bytes 0..31 (RFC 3720)', bytes: Uint8Array.from({ length: 32 }, (_, index) => index), crc: 0x46dd_794e },
  { name: '32 descending bytes 31..0 (RFC 3720)', bytes: Uint8Array.from({ length: 32 }, (_, index) => 31 - index), crc: 0x113f_db5c },
  {
    name: 'iSCSI read command PDU (RFC 3720)',
    bytes: fromHex('01c000000000000000000000000000001400000000000400000000140000001828000000000000000200000000000000'),
    crc: 0xd996_3a56,
  },
]

const implementations: ReadonlyArray<[string, Crc32c]> = [
  ['crc32c (in use)', crc32c],
  ['crc32cPortable', crc32cPortable],
]

describe.each(implementations)('%s', (_name, crc) => {
  it.each(checkValues)('check value: $name', ({ bytes, crc: expected }) => {
    expect(crc(bytes)).toBe(expected)
  })

  it('continuing from a running CRC (initial) equals the one-shot CRC, for any split (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), (bytes, cut) => {
        const split = bytes.length === 0 ? 0 : cut % (bytes.length + 1)
        const running = crc(bytes.subarray(0, split))
        expect(crc(bytes.subarray(split), running)).toBe(crc(bytes))
      }),
    )
  })

  it('returns an unsigned 32-bit integer', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const value = crc(bytes)
        expect(Number.isInteger(value) && value >= 0 && value <= 0xffff_ffff).toBe(true)
      }),
    )
  })
})

describe('native and portable', () => {
  it('the implementation in use is named', () => {
    expect(['@node-rs/crc32', 'portable (slicing-by-8)']).toContain(crc32cImplementation)
  })

  // Vacuous when the native binary did not load: then crc32c is the portable function itself.
  it.skipIf(crc32c === crc32cPortable)('agree on random inputs, lengths and byte offsets (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), fc.nat(7), fc.nat(), (bytes, skip, initial) => {
        // A subarray starting off an 8-byte boundary exercises the portable tail and head paths.
        const view = bytes.subarray(Math.min(skip, bytes.length))
        expect(crc32cPortable(view, initial)).toBe(crc32c(view, initial))
      }),
      { numRuns: 500 },
    )
  })

  it.skipIf(crc32c === crc32cPortable)('agree on a 1 MiB buffer', () => {
    const bytes = Uint8Array.from({ length: 1 << 20 }, (_, index) => (index * 2654435761) >>> 24)
    expect(crc32cPortable(bytes)).toBe(crc32c(bytes))
  })
})
