import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  MEMBER_COUNT_MAX,
  MemberTable,
  type PlacementMember,
  firstReplica,
  rankReplicas,
  rendezvousNode,
  replicaSet,
} from '../../src/placement/index.js'

// Statistical tests run on a fixed fast-check seed, so they are reproducible and their
// thresholds, set from the binomial figures quoted beside them, cannot flake.
const STATISTICS_SEED = 20_240_601

/** Distinct node ids, including awkward ones (any UTF-16 code units). */
function nodeIds(minLength: number, maxLength: number): fc.Arbitrary<string[]> {
  return fc.uniqueArray(fc.string({ unit: 'binary', minLength: 1, maxLength: 12 }), { minLength, maxLength })
}

/** Node names as operators write them: a random prefix and a counter (n0..n9 of a cluster). */
const clusterPrefix = fc.noBias(fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 8 }))

function untagged(ids: readonly string[]): PlacementMember[] {
  return ids.map((id) => ({ id, zone: '' }))
}

/** Actor ids shaped like the real ones: `partition/<topic>/<n>`. */
function keys(count: number, topic = 'orders'): string[] {
  return Array.from({ length: count }, (_, index) => `partition/${topic}/${index}`)
}

/** Fraction of keys whose first replica differs between two member lists. */
function firstReplicaMovedFraction(keyList: readonly string[], before: MemberTable, after: MemberTable): number {
  let moved = 0
  for (const key of keyList) if (firstReplica(key, before) !== firstReplica(key, after)) moved++
  return moved / keyList.length
}

/** For replica sets of `replicaCount`: the fraction of keys whose set changed, and of replica slots that did. */
function replicaSetMovement(keyList: readonly string[], before: MemberTable, after: MemberTable, replicaCount: number) {
  let keysChanged = 0
  let slotsChanged = 0
  for (const key of keyList) {
    const old = new Set(rankReplicas(key, before, replicaCount))
    const changed = rankReplicas(key, after, replicaCount).filter((id) => !old.has(id)).length
    slotsChanged += changed
    if (changed > 0) keysChanged++
  }
  return { keysFraction: keysChanged / keyList.length, slotsFraction: slotsChanged / (keyList.length * replicaCount) }
}

/** Keys per node (first replica), every member listed even when it got none. */
function loadOf(keyList: readonly string[], table: MemberTable): number[] {
  const counts = new Map(table.members.map((member) => [member.id, 0]))
  for (const key of keyList) {
    const owner = firstReplica(key, table) as string
    counts.set(owner, (counts.get(owner) as number) + 1)
  }
  return [...counts.values()]
}

function percent(fraction: number): string {
  return `${(fraction * 100).toFixed(2)}%`
}

describe('replicaSet: shape', () => {
  it('replicaSet_ofAnyMembers_hasMinOfCountAndMembersDistinctMembers', () => {
    fc.assert(
      fc.property(nodeIds(1, 20), fc.string(), fc.integer({ min: 1, max: 25 }), (ids, key, replicaCount) => {
        const replicas = replicaSet(key, untagged(ids), replicaCount)
        expect(replicas.length).toBe(Math.min(replicaCount, ids.length))
        expect(new Set(replicas).size).toBe(replicas.length)
        for (const id of replicas) expect(ids).toContain(id)
      }),
    )
  })

  it('replicaSet_ofShuffledMembers_isTheSame', () => {
    const zone = fc.constantFrom('', 'a', 'b', 'c')
    const members = nodeIds(1, 15).chain((ids) =>
      fc.tuple(...ids.map((id) => zone.map((z): PlacementMember => ({ id, zone: z })))),
    )
    fc.assert(
      fc.property(members, fc.string(), fc.integer({ min: 1, max: 16 }), fc.integer(), (list, key, replicaCount, shuffleSeed) => {
        const shuffled = shuffle(list, shuffleSeed)
        expect(replicaSet(key, shuffled, replicaCount)).toEqual(replicaSet(key, list, replicaCount))
      }),
    )
  })

  it('replicaSet_ofMoreReplicasThanMembers_returnsAllMembersOrdered', () => {
    const members = untagged(['n1', 'n2', 'n3'])
    const all = replicaSet('partition/orders/7', members, 10)
    expect([...all].sort()).toEqual(['n1', 'n2', 'n3'])
    expect(replicaSet('partition/orders/7', members, 3)).toEqual(all)
  })

  it('replicaSet_ofSmallerCount_isAPrefixOfTheLargerOne', () => {
    const zone = fc.constantFrom('', 'a', 'b')
    const members = nodeIds(1, 12).chain((ids) =>
      fc.tuple(...ids.map((id) => zone.map((z): PlacementMember => ({ id, zone: z })))),
    )
    fc.assert(
      fc.property(members, fc.string(), fc.integer({ min: 1, max: 12 }), (list, key, replicaCount) => {
        const full = replicaSet(key, list, list.length)
        expect(replicaSet(key, list, replicaCount)).toEqual(full.slice(0, replicaCount))
      }),
    )
  })

  it('replicaSet_ofNoMembers_isEmpty', () => {
    expect(replicaSet('k', [], 3)).toEqual([])
  })

  it('replicaSet_withBadArguments_throwsRangeError', () => {
    const members = untagged(['n1', 'n2'])
    for (const replicaCount of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => replicaSet('k', members, replicaCount), String(replicaCount)).toThrow(RangeError)
    }
    expect(() => replicaSet('k', untagged(['n1', 'n2', 'n1']), 1)).toThrow(RangeError)
    expect(() => replicaSet('k', untagged(['n1', '']), 1)).toThrow(RangeError)
    const tooMany = untagged(Array.from({ length: MEMBER_COUNT_MAX + 1 }, (_, index) => `n${index}`))
    expect(() => replicaSet('k', tooMany, 1)).toThrow(RangeError)
  })

  it('rendezvousNode_ofIdList_isTheFirstReplicaAndIgnoresDuplicates', () => {
    fc.assert(
      fc.property(nodeIds(1, 10), fc.string(), (ids, key) => {
        const expected = replicaSet(key, untagged(ids), 1)[0]
        expect(rendezvousNode(key, ids)).toBe(expected)
        expect(rendezvousNode(key, [...ids, ...ids])).toBe(expected)
      }),
    )
    expect(() => rendezvousNode('k', [])).toThrow(RangeError)
  })
})

describe('replicaSet: movement', () => {
  const keyList = keys(10_000)

  it('addingOneNodeToTen_movesBetween5And15PercentOfKeys_allToTheNewNode', () => {
    const moved: number[] = []
    fc.assert(
      fc.property(clusterPrefix, (prefix) => {
        const ids = Array.from({ length: 10 }, (_, index) => `${prefix}-n${index}`)
        const before = MemberTable.of(untagged(ids))
        const after = MemberTable.of(untagged([...ids, `${prefix}-n10`]))
        for (const key of keyList.slice(0, 500)) {
          const owner = firstReplica(key, after)
          if (owner !== firstReplica(key, before)) expect(owner).toBe(`${prefix}-n10`)
        }
        const fraction = firstReplicaMovedFraction(keyList, before, after)
        moved.push(fraction)
        // Ideal: 1/11 = 9.09%, standard deviation 0.29% over 10,000 keys.
        expect(fraction).toBeGreaterThanOrEqual(0.05)
        expect(fraction).toBeLessThanOrEqual(0.15)
      }),
      { seed: STATISTICS_SEED, numRuns: 20 },
    )
    console.log(`[placement] add 1 node to 10, first replica, 10,000 keys, ${moved.length} name sets: moved ` +
      `min ${percent(Math.min(...moved))} mean ${percent(mean(moved))} max ${percent(Math.max(...moved))} (ideal 9.09%)`)
  })

  it('addingOneNodeToTen_replicaSetsOf3_moveAboutAnEleventhOfSlots', () => {
    const ids = Array.from({ length: 10 }, (_, index) => `node-${index}`)
    const plain = replicaSetMovement(keyList, MemberTable.of(untagged(ids)), MemberTable.of(untagged([...ids, 'node-10'])), 3)
    // Ideal: the newcomer enters 3/11 = 27.3% of the sets, replacing one member: 9.09% of slots.
    expect(plain.keysFraction).toBeGreaterThan(0.22)
    expect(plain.keysFraction).toBeLessThan(0.33)
    expect(plain.slotsFraction).toBeGreaterThan(0.05)
    expect(plain.slotsFraction).toBeLessThan(0.15)
    const zoned = ids.map((id, index): PlacementMember => ({ id, zone: `z${index % 3}` }))
    const spread = replicaSetMovement(keyList, MemberTable.of(zoned), MemberTable.of([...zoned, { id: 'node-10', zone: 'z1' }]), 3)
    console.log(`[placement] add 1 node to 10, replica sets of 3, 10,000 keys: untagged sets changed ${percent(plain.keysFraction)}, ` +
      `slots ${percent(plain.slotsFraction)} (ideal 27.27%, 9.09%); 3 zones (4/3/3 -> 4/4/3): sets changed ` +
      `${percent(spread.keysFraction)}, slots ${percent(spread.slotsFraction)}`)
  })

  it('removingANode_movesOnlyTheKeysItOwned', () => {
    fc.assert(
      fc.property(nodeIds(2, 12), fc.nat(), (ids, pick) => {
        const removed = ids[pick % ids.length] as string
        const before = MemberTable.of(untagged(ids))
        const after = MemberTable.of(untagged(ids.filter((id) => id !== removed)))
        for (const key of keyList.slice(0, 300)) {
          const owner = firstReplica(key, before)
          if (owner !== removed) expect(firstReplica(key, after)).toBe(owner)
        }
      }),
    )
  })

  it('removingANode_leavesReplicaSetsWithoutItUnchanged_withOrWithoutZones', () => {
    const zone = fc.constantFrom('', 'a', 'b', 'c')
    const members = nodeIds(2, 12).chain((ids) =>
      fc.tuple(...ids.map((id) => zone.map((z): PlacementMember => ({ id, zone: z })))),
    )
    fc.assert(
      fc.property(members, fc.nat(), fc.integer({ min: 1, max: 5 }), (list, pick, replicaCount) => {
        const removed = (list[pick % list.length] as PlacementMember).id
        const before = MemberTable.of(list)
        const after = MemberTable.of(list.filter((member) => member.id !== removed))
        for (const key of keyList.slice(0, 200)) {
          const old = rankReplicas(key, before, replicaCount)
          if (!old.includes(removed)) expect(rankReplicas(key, after, replicaCount)).toEqual(old)
        }
      }),
    )
  })
})

describe('replicaSet: load', () => {
  // Theory: with ideal hashing the counts are Multinomial(1000, 1/10 each); the exact chance
  // that the fullest of 10 nodes holds more than 125 (1.25x the mean of 100) is 4.50%, more
  // than 130: 0.97%, more than 150: 2.8e-6. No stateless hash can make the 1.25x bound hold
  // for every member naming; see the report printed below.
  it('thousandKeysOverTenNodes_maxOverMeanStaysWithinBinomialSpread', () => {
    const ratios: number[] = []
    fc.assert(
      fc.property(clusterPrefix, fc.noBias(fc.string({ unit: 'grapheme-ascii', maxLength: 6 })), (prefix, topic) => {
        const table = MemberTable.of(untagged(Array.from({ length: 10 }, (_, index) => `${prefix}-n${index}`)))
        const loads = loadOf(keys(1_000, topic), table)
        ratios.push(Math.max(...loads) / 100)
      }),
      { seed: STATISTICS_SEED, numRuns: 1_000 },
    )
    const over125 = ratios.filter((ratio) => ratio > 1.25).length / ratios.length
    const over130 = ratios.filter((ratio) => ratio > 1.3).length / ratios.length
    const sorted = [...ratios].sort((a, b) => a - b)
    console.log(`[placement] 1,000 keys over 10 nodes, ${ratios.length} name sets: max/mean p50 ${quantile(sorted, 0.5)} ` +
      `p90 ${quantile(sorted, 0.9)} p99 ${quantile(sorted, 0.99)} max ${sorted.at(-1)}; > 1.25x in ${percent(over125)} ` +
      `(ideal 4.50%), > 1.30x in ${percent(over130)} (ideal 0.97%)`)
    // Twice the ideal rates: a hash worse than random fails; the luck of one seed cannot.
    expect(over125).toBeLessThan(0.09)
    expect(over130).toBeLessThan(0.02)
    expect(Math.max(...ratios)).toBeLessThanOrEqual(1.5)
  })

  it('tenThousandKeysOverTenNodes_maxOverMeanIsAtMost1_25', () => {
    // 10,000 keys: a 1.25x excess is 8 standard deviations, so the bound holds for every naming.
    fc.assert(
      fc.property(clusterPrefix, (prefix) => {
        const table = MemberTable.of(untagged(Array.from({ length: 10 }, (_, index) => `${prefix}-n${index}`)))
        expect(Math.max(...loadOf(keys(10_000), table)) / 1_000).toBeLessThanOrEqual(1.25)
      }),
      { seed: STATISTICS_SEED, numRuns: 20 },
    )
  })
})

describe('replicaSet: zones', () => {
  /** Members spread over `zoneCount` zones, every zone non-empty, zone sizes arbitrary. */
  function zonedMembers(zoneCount: number): fc.Arbitrary<PlacementMember[]> {
    return nodeIds(zoneCount, 15).chain((ids) =>
      fc.tuple(...ids.map((_, index) => (index < zoneCount ? fc.constant(index) : fc.nat(zoneCount - 1)))).map((zones) =>
        ids.map((id, index): PlacementMember => ({ id, zone: `zone-${zones[index]}` })),
      ),
    )
  }

  function zonesOf(replicas: readonly string[], members: readonly PlacementMember[]): string[] {
    return replicas.map((id) => (members.find((member) => member.id === id) as PlacementMember).zone)
  }

  it('threeZones_threeReplicas_landInThreeZones', () => {
    fc.assert(
      fc.property(zonedMembers(3), fc.string(), (members, key) => {
        expect(new Set(zonesOf(replicaSet(key, members, 3), members)).size).toBe(3)
      }),
    )
  })

  it('twoZones_threeReplicas_useBothZones', () => {
    fc.assert(
      fc.property(zonedMembers(2), fc.string(), (members, key) => {
        fc.pre(members.length >= 3)
        expect(new Set(zonesOf(replicaSet(key, members, 3), members)).size).toBe(2)
      }),
    )
  })

  it('anyZones_firstReplicasAreInDistinctZones_andSharesDifferByAtMostOneUntilAZoneRunsOut', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }).chain(zonedMembers), fc.string(), fc.integer({ min: 1, max: 15 }), (members, key, replicaCount) => {
        const zones = zonesOf(replicaSet(key, members, replicaCount), members)
        const zoneCount = new Set(members.map((member) => member.zone)).size
        const head = zones.slice(0, Math.min(replicaCount, zoneCount))
        expect(new Set(head).size).toBe(head.length)
        const sizeOf = (zone: string) => members.filter((member) => member.zone === zone).length
        const share = (zone: string) => zones.filter((z) => z === zone).length
        const shares = [...new Set(members.map((member) => member.zone))].map((zone) => ({ zone, share: share(zone), size: sizeOf(zone) }))
        const most = Math.max(...shares.map((s) => s.share))
        for (const s of shares) if (s.share < s.size) expect(most - s.share).toBeLessThanOrEqual(1)
      }),
    )
  })

  it('zoneTags_doNotChangeTheFirstReplica', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }).chain(zonedMembers), fc.string(), (members, key) => {
        const plain = members.map((member) => ({ id: member.id, zone: '' }))
        expect(replicaSet(key, members, 3)[0]).toBe(replicaSet(key, plain, 1)[0])
      }),
    )
  })
})

function shuffle<T>(items: readonly T[], seed: number): T[] {
  const result = [...items]
  let state = seed | 0
  for (let i = result.length - 1; i > 0; i--) {
    state = (Math.imul(state, 1103515245) + 12345) | 0
    const j = (state >>> 8) % (i + 1)
    ;[result[i], result[j]] = [result[j] as T, result[i] as T]
  }
  return result
}

function mean(values: readonly number[]): number {
  return values.reduce((sum, value) => sum + value, 0) / values.length
}

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number
}
