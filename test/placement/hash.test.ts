import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { fmix32, fnv1a32, hash64, rendezvousNode, rendezvousScore, replicaSet } from '../../src/placement/index.js'
import { KEY_SEEDS, NODE_SEEDS } from '../../src/placement/hash.js'

/** Formats a Hash64 the way the golden table spells it. */
function hex(hash: { hi: number; lo: number }): string {
  return `${hash.hi.toString(16).padStart(8, '0')}:${hash.lo.toString(16).padStart(8, '0')}`
}

// Golden vectors: placement is part of the cluster protocol. If one of these changes, nodes of
// the old and the new version place actors differently; make such a change on purpose only.
describe('golden vectors', () => {
  it('hash64_ofFixedStrings_matchesRecordedValues', () => {
    const golden: Array<[string, string]> = [
      ['', '1a48d8c6:bb8341af'],
      ['a', '399d220d:002740a0'],
      ['ab', '698a9fe3:5ac7cd0e'],
      ['abc', '57da5142:8e271309'],
      ['partition/orders/0', '36a9d050:4f69ce6e'],
      ['group/payments', '8f5880a1:6bed9910'],
      ['é€😀', '734b270d:11331853'],
    ]
    for (const [text, expected] of golden) expect(hex(hash64(text)), JSON.stringify(text)).toBe(expected)
  })

  it('fnv1a32_ofFixedStrings_matchesRecordedValues', () => {
    expect(fnv1a32('')).toBe(0x811c9dc5)
    expect(fnv1a32('a')).toBe(0xe40c292c)
    expect(fnv1a32('partition/orders/0')).toBe(0x54359184)
  })

  it('replicaSet_ofFixedKeys_matchesRecordedPlacements', () => {
    const ids = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6']
    const untagged = ids.map((id) => ({ id, zone: '' }))
    const zoned = ids.map((id, index) => ({ id, zone: ['a', 'b', 'c'][index % 3] as string }))
    const golden: Array<[string, string[], string[]]> = [
      ['partition/orders/0', ['n1', 'n5', 'n4'], ['n1', 'n5', 'n6']],
      ['partition/orders/1', ['n6', 'n4', 'n3'], ['n6', 'n4', 'n5']],
      ['partition/orders/2', ['n1', 'n3', 'n5'], ['n1', 'n3', 'n5']],
      ['group/payments', ['n2', 'n1', 'n4'], ['n2', 'n1', 'n6']],
      ['topic/orders', ['n3', 'n1', 'n5'], ['n3', 'n1', 'n5']],
    ]
    for (const [key, plain, spread] of golden) {
      expect(replicaSet(key, untagged, 3), key).toEqual(plain)
      expect(replicaSet(key, zoned, 3), key).toEqual(spread)
    }
  })

  it('rendezvousNode_ofFixedKeys_matchesRecordedPlacements', () => {
    expect(rendezvousNode('partition/orders/0', ['n1', 'n2', 'n3'])).toBe('n1')
    expect(rendezvousNode('partition/orders/1', ['n1', 'n2', 'n3'])).toBe('n3')
    expect(rendezvousNode('group/payments', ['n1', 'n2', 'n3'])).toBe('n2')
  })
})

describe('hash64', () => {
  it('hash64_withKeyAndNodeSeeds_differs', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => {
        expect(hex(hash64(text, KEY_SEEDS))).not.toBe(hex(hash64(text, NODE_SEEDS)))
      }),
    )
  })

  it('hash64_ofStringsDifferingInOneCodeUnit_flipsAboutHalfTheBits', () => {
    // Avalanche over realistic, nearly identical actor ids: each of the 64 output bits should
    // flip for about half of the one-character changes.
    const trialCount = 4_000
    let flippedBitCount = 0
    for (let i = 0; i < trialCount; i++) {
      const a = hash64(`partition/orders/${i}`)
      const b = hash64(`partition/orders/${i + 1}`)
      flippedBitCount += popcount32(a.hi ^ b.hi) + popcount32(a.lo ^ b.lo)
    }
    const flippedFraction = flippedBitCount / (trialCount * 64)
    expect(flippedFraction).toBeGreaterThan(0.48)
    expect(flippedFraction).toBeLessThan(0.52)
  })

  it('hash64_ofAnyString_givesUnsigned32BitHalves', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => {
        const { hi, lo } = hash64(text)
        expect(Number.isInteger(hi) && hi >= 0 && hi <= 0xffffffff).toBe(true)
        expect(Number.isInteger(lo) && lo >= 0 && lo <= 0xffffffff).toBe(true)
      }),
    )
  })
})

describe('rendezvousScore', () => {
  // Halves may arrive signed (from an Int32Array) or unsigned (from hash64): both must work.
  const half = fc.integer({ min: -0x80000000, max: 0xffffffff })
  const hash = fc.record({ hi: half, lo: half })

  it('rendezvousScore_ofAnyHashes_isAnIntegerBelow2To53', () => {
    fc.assert(
      fc.property(hash, hash, (key, node) => {
        const score = rendezvousScore(key.hi, key.lo, node.hi, node.lo)
        expect(Number.isSafeInteger(score)).toBe(true)
        expect(score).toBeGreaterThanOrEqual(0)
        expect(rendezvousScore(key.hi | 0, key.lo | 0, node.hi >>> 0, node.lo >>> 0)).toBe(score)
      }),
    )
  })

  it('fmix32_ofAnyInput_staysUnsigned32Bit', () => {
    fc.assert(
      fc.property(fc.integer({ min: -0x80000000, max: 0xffffffff }), (value) => {
        const mixed = fmix32(value)
        expect(mixed >= 0 && mixed <= 0xffffffff).toBe(true)
      }),
    )
  })
})

function popcount32(value: number): number {
  let v = value >>> 0
  let count = 0
  while (v !== 0) {
    v &= v - 1
    count++
  }
  return count
}
