import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ASSIGNOR_NAMES, type Assignment, type AssignorName, type MemberSubscription, type TopicPartition, assign, cooperativeAssignment } from '../../src/client/assignors.js'

const tp = (topic: string, partition: number): TopicPartition => ({ topic, partition })
const member = (memberId: string, topics: string[], owned: TopicPartition[] = []): MemberSubscription => ({ memberId, topics, owned })
const keys = (list: readonly TopicPartition[] | undefined): string[] => (list ?? []).map((p) => `${p.topic}-${p.partition}`)
const asObject = (assignment: Assignment): Record<string, string[]> => Object.fromEntries([...assignment].map(([id, list]) => [id, keys(list)]))

/** Every partition of every subscribed, existing topic exactly once, each to a member subscribed to its topic. */
function expectComplete(assignment: Assignment, members: readonly MemberSubscription[], partitionsPerTopic: ReadonlyMap<string, number>): void {
  const seen = new Map<string, string>()
  for (const [memberId, list] of assignment) {
    const subscription = members.find((m) => m.memberId === memberId)
    expect(subscription, memberId).toBeDefined()
    for (const p of list) {
      expect(subscription!.topics, `${memberId} got ${p.topic}`).toContain(p.topic)
      expect(seen.has(`${p.topic}-${p.partition}`), `${p.topic}-${p.partition} twice`).toBe(false)
      seen.set(`${p.topic}-${p.partition}`, memberId)
    }
  }
  for (const [topic, count] of partitionsPerTopic) {
    if (!members.some((m) => m.topics.includes(topic))) continue
    for (let partition = 0; partition < count; partition++) expect(seen.has(`${topic}-${partition}`), `${topic}-${partition} unassigned`).toBe(true)
  }
}

function counts(assignment: Assignment): number[] {
  return [...assignment.values()].map((list) => list.length)
}

describe('range and round-robin (Kafka documentation examples)', () => {
  const two = [member('C0', ['t0', 't1']), member('C1', ['t0', 't1'])]
  const topics = new Map([['t0', 3], ['t1', 3]])

  it('range_twoMembersTwoTopicsOfThree_contiguousRangesFirstMemberTakesTheExtra', () => {
    expect(asObject(assign('range', two, topics))).toEqual({ C0: ['t0-0', 't0-1', 't1-0', 't1-1'], C1: ['t0-2', 't1-2'] })
  })

  it('roundrobin_twoMembersTwoTopicsOfThree_dealtInTurn', () => {
    expect(asObject(assign('roundrobin', two, topics))).toEqual({ C0: ['t0-0', 't0-2', 't1-1'], C1: ['t0-1', 't1-0', 't1-2'] })
  })

  it('roundrobin_differentSubscriptions_skipsMembersNotSubscribed', () => {
    const members = [member('C0', ['t0']), member('C1', ['t0', 't1']), member('C2', ['t0', 't1', 't2'])]
    const result = assign('roundrobin', members, new Map([['t0', 1], ['t1', 2], ['t2', 3]]))
    expect(asObject(result)).toEqual({ C0: ['t0-0'], C1: ['t1-0'], C2: ['t1-1', 't2-0', 't2-1', 't2-2'] })
  })

  it('anyAssignor_unknownOrDeletedTopic_isLeftOut_andMembersStillListed', () => {
    for (const name of ASSIGNOR_NAMES) {
      const result = assign(name, [member('a', ['gone']), member('b', ['gone', 't'])], new Map([['t', 2]]))
      expect(asObject(result), name).toEqual({ a: [], b: ['t-0', 't-1'] })
    }
  })
})

describe('cooperative-sticky', () => {
  const eight = new Map([['t0', 2], ['t1', 2], ['t2', 2], ['t3', 2]])
  const all = ['t0', 't1', 't2', 't3']

  it('sticky_threeMembersEightPartitions_balanced_thenAMemberLeaves_onlyItsPartitionsMove', () => {
    const first = assign('cooperative-sticky', [member('C0', all), member('C1', all), member('C2', all)], eight)
    expect(counts(first).sort()).toEqual([2, 3, 3])
    const survivors = [member('C0', all, first.get('C0')), member('C2', all, first.get('C2'))]
    const second = assign('cooperative-sticky', survivors, eight)
    expect(counts(second)).toEqual([4, 4])
    for (const id of ['C0', 'C2']) for (const kept of keys(first.get(id))) expect(keys(second.get(id))).toContain(kept)
  })

  it('sticky_memberJoins_movesOnlyWhatBalanceNeeds_fromTheMostLoaded', () => {
    const topics = new Map([['orders', 6]])
    const before = assign('cooperative-sticky', [member('a', ['orders']), member('b', ['orders'])], topics)
    expect(counts(before)).toEqual([3, 3])
    const after = assign('cooperative-sticky', [member('a', ['orders'], before.get('a')), member('b', ['orders'], before.get('b')), member('c', ['orders'])], topics)
    expect(counts(after)).toEqual([2, 2, 2])
    // Two partitions moved (one from each), the fewest that balance allows.
    const movedCount = ['a', 'b'].reduce((sum, id) => sum + keys(before.get(id)).filter((k) => !keys(after.get(id)).includes(k)).length, 0)
    expect(movedCount).toBe(2)
  })

  it('sticky_ownedPartitionClaimedTwiceOrInvalid_keptOnceAndDroppedWhereInvalid', () => {
    const members = [member('a', ['t'], [tp('t', 0), tp('t', 1), tp('t', 9), tp('u', 0)]), member('b', ['t'], [tp('t', 0)])]
    const result = assign('cooperative-sticky', members, new Map([['t', 4], ['u', 1]]))
    expectComplete(result, members, new Map([['t', 4]]))
    expect(keys(result.get('a'))).toContain('t-0') // the first claimant by id keeps it
    expect(counts(result)).toEqual([2, 2])
  })

  it('cooperative_movingPartition_isRevokedFirst_andGrantedInTheNextRound_neverOwnedTwice', () => {
    const topics = new Map([['orders', 6]])
    const a = assign('cooperative-sticky', [member('a', ['orders']), member('b', ['orders'])], topics)
    const joining = [member('a', ['orders'], a.get('a')), member('b', ['orders'], a.get('b')), member('c', ['orders'])]
    const round1 = cooperativeAssignment(assign('cooperative-sticky', joining, topics), joining)
    expect(round1.rebalanceAgain).toBe(true)
    expect(round1.assignment.get('c')).toEqual([]) // nothing yet: both partitions it will get are still owned
    expect([...round1.revoking.values()].flat()).toHaveLength(2)
    // Members revoke, then rejoin owning what round 1 granted.
    const rejoining = joining.map((m) => member(m.memberId, ['orders'], round1.assignment.get(m.memberId)))
    const round2 = cooperativeAssignment(assign('cooperative-sticky', rejoining, topics), rejoining)
    expect(round2.rebalanceAgain).toBe(false)
    expect(round2.revoking.size).toBe(0)
    expect(counts(round2.assignment)).toEqual([2, 2, 2])
  })

  it('cooperative_ownedPartitionOfADeletedTopic_isRevoked', () => {
    const members = [member('a', ['t', 'gone'], [tp('gone', 0), tp('t', 0)])]
    const { assignment, revoking } = cooperativeAssignment(assign('cooperative-sticky', members, new Map([['t', 1]])), members)
    expect(keys(assignment.get('a'))).toEqual(['t-0'])
    expect(keys(revoking.get('a'))).toEqual(['gone-0'])
  })
})

describe('every assignor (properties)', () => {
  const scenario = fc.record({
    topics: fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 4 }),
    members: fc.array(fc.record({ subscribed: fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }), ownedSeed: fc.nat() }), { minLength: 1, maxLength: 7 }),
  })
  const build = (input: { topics: number[]; members: { subscribed: boolean[]; ownedSeed: number }[] }): { members: MemberSubscription[]; partitionsPerTopic: Map<string, number> } => {
    const partitionsPerTopic = new Map(input.topics.map((count, i) => [`t${i}`, count]))
    const names = [...partitionsPerTopic.keys()]
    const members = input.members.map((m, i) => {
      const topics = names.filter((_, t) => m.subscribed[t])
      // Some owned partitions, possibly stale or claimed by others: sticky must cope.
      const owned = topics.flatMap((topic) => Array.from({ length: (m.ownedSeed + i) % 3 }, (_, k) => tp(topic, (m.ownedSeed + k) % 14)))
      return member(`m${String(i).padStart(2, '0')}`, topics, owned)
    })
    return { members, partitionsPerTopic }
  }

  for (const name of ASSIGNOR_NAMES as AssignorName[]) {
    it(`${name}_assignsEverySubscribedPartitionExactlyOnce_toASubscriber_deterministically`, () => {
      fc.assert(
        fc.property(scenario, (input) => {
          const { members, partitionsPerTopic } = build(input)
          const result = assign(name, members, partitionsPerTopic)
          expectComplete(result, members, partitionsPerTopic)
          expect(asObject(assign(name, [...members].reverse(), partitionsPerTopic))).toEqual(asObject(result))
        }),
        { numRuns: 300 },
      )
    })
  }

  it.each(['roundrobin', 'cooperative-sticky'] as const)('%s_sameSubscriptions_countsDifferByAtMostOne', (name) => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 20 }), { minLength: 1, maxLength: 3 }), fc.integer({ min: 1, max: 9 }), (topicSizes, memberCount) => {
        const partitionsPerTopic = new Map(topicSizes.map((count, i) => [`t${i}`, count]))
        const members = Array.from({ length: memberCount }, (_, i) => member(`m${i}`, [...partitionsPerTopic.keys()]))
        const result = counts(assign(name, members, partitionsPerTopic))
        expect(Math.max(...result) - Math.min(...result)).toBeLessThanOrEqual(1)
      }),
      { numRuns: 300 },
    )
  })

  it('cooperativeSticky_memberLeaves_survivorsKeepEverythingTheyOwned', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 2, max: 8 }), fc.nat(), (partitions, memberCount, leaverSeed) => {
        const topics = new Map([['t', partitions]])
        const ids = Array.from({ length: memberCount }, (_, i) => `m${i}`)
        const before = assign('cooperative-sticky', ids.map((id) => member(id, ['t'])), topics)
        const leaver = ids[leaverSeed % ids.length] as string
        const survivors = ids.filter((id) => id !== leaver).map((id) => member(id, ['t'], before.get(id)))
        const after = assign('cooperative-sticky', survivors, topics)
        for (const survivor of survivors) for (const kept of keys(survivor.owned)) expect(keys(after.get(survivor.memberId))).toContain(kept)
      }),
      { numRuns: 200 },
    )
  })
})
