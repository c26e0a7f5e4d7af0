import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { RealRandom } from '../../src/env/real/random.js'
import { shuffle } from '../../src/env/random.js'

const random = new RealRandom()

describe('RealRandom', () => {
  it('float_staysInUnitInterval', () => {
    // More draws than one 4 KiB pool holds (512 floats), so refills are exercised too.
    let minValue = Number.POSITIVE_INFINITY
    let maxValue = Number.NEGATIVE_INFINITY
    for (let i = 0; i < 20_000; i++) {
      const value = random.float()
      minValue = Math.min(minValue, value)
      maxValue = Math.max(maxValue, value)
    }
    expect(minValue).toBeGreaterThanOrEqual(0)
    expect(maxValue).toBeLessThan(1)
  })

  it('int_staysInRangeForAnyBound', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), (maxExclusive) => {
        const value = random.int(maxExclusive)
        return Number.isSafeInteger(value) && value >= 0 && value < maxExclusive
      }),
      { numRuns: 2000 },
    )
  })

  it('int_atTheEdgesOfEachDrawWidth_staysInRange', () => {
    for (const maxExclusive of [1, 2, 3, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 2 ** 52 + 1, Number.MAX_SAFE_INTEGER]) {
      const values = Array.from({ length: 500 }, () => random.int(maxExclusive))
      const outOfRange = values.filter((value) => !Number.isInteger(value) || value < 0 || value >= maxExclusive)
      expect(outOfRange).toEqual([])
    }
    expect(random.int(1)).toBe(0)
  })

  it('int_invalidBound_throws', () => {
    for (const maxExclusive of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53]) {
      expect(() => random.int(maxExclusive)).toThrow(RangeError)
    }
  })

  it('int_coversEveryValue', () => {
    // 10 buckets x 10,000 draws: each expected 1,000 (sd ~30); 700..1300 is a 10-sigma band.
    const counts = new Array<number>(10).fill(0)
    for (let i = 0; i < 10_000; i++) counts[random.int(10)]! += 1
    for (const count of counts) {
      expect(count).toBeGreaterThan(700)
      expect(count).toBeLessThan(1300)
    }
  })

  it('bytes_returnsFreshBuffersOfTheRequestedLength', () => {
    expect(random.bytes(0).byteLength).toBe(0)
    const a = random.bytes(32)
    const b = random.bytes(32)
    expect(a.byteLength).toBe(32)
    expect(b.byteLength).toBe(32)
    // 2^-256 chance of a false failure.
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(false)
    expect(random.bytes(10_000).byteLength).toBe(10_000)
    expect(() => random.bytes(-1)).toThrow(RangeError)
  })

  it('shuffle_withRealRandom_isAPermutation', () => {
    const items = Array.from({ length: 100 }, (_, i) => i)
    const shuffled = shuffle(random, [...items])
    expect([...shuffled].sort((x, y) => x - y)).toEqual(items)
  })
})
