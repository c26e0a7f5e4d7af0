import { describe, expect, it } from 'vitest'
import { Prng } from '../../sim/prng.js'

function draws(prng: Prng, count: number): number[] {
  return Array.from({ length: count }, () => prng.nextUint32())
}

describe('Prng', () => {
  it('fromSeed_sameSeed_givesSameSequence', () => {
    expect(draws(Prng.fromSeed(42), 100)).toEqual(draws(Prng.fromSeed(42), 100))
  })

  it('fromSeed_differentSeeds_giveDifferentSequences', () => {
    expect(draws(Prng.fromSeed(42), 10)).not.toEqual(draws(Prng.fromSeed(43), 10))
  })

  it('fork_isIndependentOfParentDraws', () => {
    const untouched = Prng.fromSeed(7)
    const drawnFrom = Prng.fromSeed(7)
    draws(drawnFrom, 1000)
    expect(draws(untouched.fork('net'), 20)).toEqual(draws(drawnFrom.fork('net'), 20))
  })

  it('fork_differentLabels_giveDifferentStreams', () => {
    const root = Prng.fromSeed(7)
    expect(draws(root.fork('a'), 10)).not.toEqual(draws(root.fork('b'), 10))
    expect(root.fork('c').path).toBe('seed:7/c')
  })

  it('fork_sameLabelTwice_throws', () => {
    const root = Prng.fromSeed(7)
    root.fork('n1')
    expect(() => root.fork('n1')).toThrow(/already forked/)
  })

  it('float_staysInUnitInterval', () => {
    const prng = Prng.fromSeed(1)
    for (let i = 0; i < 10_000; i++) {
      const x = prng.float()
      expect(x).toBeGreaterThanOrEqual(0)
      expect(x).toBeLessThan(1)
    }
  })

  it('int_staysInRange_andIsRoughlyUniform', () => {
    const prng = Prng.fromSeed(2)
    const buckets = new Array<number>(10).fill(0)
    const sampleCount = 100_000
    let outOfRangeCount = 0
    for (let i = 0; i < sampleCount; i++) {
      const x = prng.int(10)
      if (!(Number.isInteger(x) && x >= 0 && x < 10)) outOfRangeCount++
      else buckets[x] = (buckets[x] as number) + 1
    }
    expect(outOfRangeCount).toBe(0)
    for (const count of buckets) expect(Math.abs(count - sampleCount / 10)).toBeLessThan(600)
  })

  it('int_handlesMaxAbove32Bits', () => {
    const prng = Prng.fromSeed(3)
    const max = 2 ** 40 + 3
    for (let i = 0; i < 1000; i++) {
      const x = prng.int(max)
      expect(Number.isSafeInteger(x) && x >= 0 && x < max).toBe(true)
    }
    expect(prng.int(1)).toBe(0)
  })

  it('int_rejectsBadBounds', () => {
    const prng = Prng.fromSeed(3)
    expect(() => prng.int(0)).toThrow()
    expect(() => prng.int(1.5)).toThrow()
  })

  it('bytes_givesRequestedLength_deterministically', () => {
    expect(Prng.fromSeed(9).bytes(7)).toEqual(Prng.fromSeed(9).bytes(7))
    expect(Prng.fromSeed(9).bytes(0).byteLength).toBe(0)
    expect(Prng.fromSeed(9).bytes(33).byteLength).toBe(33)
  })
})
