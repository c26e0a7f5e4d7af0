import { performance } from 'node:perf_hooks'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { diagActorId, diagNodeOf } from '../../actors/diag.js'
import type { Directory } from '../../src/actor/index.js'
import { MembershipDirectory, type PlacementMember, rendezvousNode, replicaSet } from '../../src/placement/index.js'

function untagged(ids: readonly string[]): PlacementMember[] {
  return ids.map((id) => ({ id, zone: '' }))
}

const memberIds = fc.uniqueArray(fc.string({ unit: 'binary', minLength: 1, maxLength: 10 }), { minLength: 1, maxLength: 12 })

describe('MembershipDirectory', () => {
  it('isAnActorDirectory', () => {
    // Compile-time check: placement does not import the actor layer, so conformance is structural.
    const directory: Directory = new MembershipDirectory('n1')
    expect(directory.nodeFor('x/1')).toBe('n1')
  })

  it('nodeFor_withNoMembers_isThisNode', () => {
    const directory = new MembershipDirectory('n1')
    expect(directory.nodeFor('partition/orders/0')).toBe('n1')
    expect(directory.replicasFor('partition/orders/0', 3)).toEqual(['n1'])
    directory.setMembers(untagged(['n2', 'n3']))
    directory.setMembers([])
    expect(directory.nodeFor('partition/orders/0')).toBe('n1')
  })

  it('nodeFor_afterAnySequenceOfMemberLists_isTheFirstReplicaOfTheLatest', () => {
    fc.assert(
      fc.property(fc.array(memberIds, { minLength: 1, maxLength: 5 }), fc.array(fc.string(), { minLength: 1, maxLength: 20 }), (lists, actorIds) => {
        const directory = new MembershipDirectory('self')
        for (const ids of lists) {
          directory.setMembers(untagged(ids))
          // Ask twice: once to fill the cache, once to read it.
          for (const actorId of [...actorIds, ...actorIds]) {
            expect(directory.nodeFor(actorId)).toBe(replicaSet(actorId, untagged(ids), 1)[0])
          }
        }
      }),
    )
  })

  it('replicasFor_isTheReplicaSetOverTheMembers', () => {
    const members: PlacementMember[] = [
      { id: 'n1', zone: 'a' },
      { id: 'n2', zone: 'b' },
      { id: 'n3', zone: 'a' },
      { id: 'n4', zone: 'b' },
    ]
    const directory = new MembershipDirectory('n1')
    directory.setMembers(members)
    for (let i = 0; i < 50; i++) {
      expect(directory.replicasFor(`partition/t/${i}`, 3)).toEqual(replicaSet(`partition/t/${i}`, members, 3))
    }
  })

  it('nodeFor_ofAPinnedActor_isItsPinnedNode_evenWhenThatNodeIsNotAMember', () => {
    const directory = new MembershipDirectory('n1', { pinned: diagNodeOf })
    directory.setMembers(untagged(['n1', 'n2']))
    expect(directory.nodeFor(diagActorId('n2'))).toBe('n2')
    expect(directory.nodeFor(diagActorId('n9', 'echo'))).toBe('n9')
    expect(directory.nodeFor('partition/orders/0')).toBe(replicaSet('partition/orders/0', untagged(['n1', 'n2']), 1)[0])
  })

  it('setMembers_withTheSameSetInAnotherOrder_keepsTheCache', () => {
    const directory = new MembershipDirectory('n1')
    expect(directory.setMembers(untagged(['n1', 'n2', 'n3']))).toBe(true)
    directory.nodeFor('a/1')
    expect(directory.cacheEntryCount).toBe(1)
    expect(directory.setMembers(untagged(['n3', 'n1', 'n2']))).toBe(false)
    expect(directory.cacheEntryCount).toBe(1)
    expect(directory.setMembers([{ id: 'n1', zone: 'z' }, ...untagged(['n2', 'n3'])])).toBe(true)
    expect(directory.cacheEntryCount).toBe(0)
    expect(directory.setMembers([{ id: 'n1', zone: 'y' }, ...untagged(['n2', 'n3'])])).toBe(true)
  })

  it('setMembers_withABadList_throwsAndKeepsThePreviousMembers', () => {
    const directory = new MembershipDirectory('n1')
    directory.setMembers(untagged(['n1', 'n2']))
    expect(() => directory.setMembers(untagged(['n3', 'n3']))).toThrow(RangeError)
    expect(directory.memberIds()).toEqual(['n1', 'n2'])
  })

  it('constructor_withBadArguments_throwsRangeError', () => {
    expect(() => new MembershipDirectory('')).toThrow(RangeError)
    expect(() => new MembershipDirectory('n1', { cacheEntriesMax: -1 })).toThrow(RangeError)
    expect(() => new MembershipDirectory('n1', { cacheEntriesMax: 1.5 })).toThrow(RangeError)
  })

  it('cache_isBoundedByCacheEntriesMax_andAnswersStayRight', () => {
    const members = untagged(['n1', 'n2', 'n3', 'n4'])
    const directory = new MembershipDirectory('n1', { cacheEntriesMax: 100 })
    directory.setMembers(members)
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 1_000; i++) {
        expect(directory.nodeFor(`a/${i}`)).toBe(replicaSet(`a/${i}`, members, 1)[0])
        expect(directory.cacheEntryCount).toBeLessThanOrEqual(100)
      }
    }
    const uncached = new MembershipDirectory('n1', { cacheEntriesMax: 0 })
    uncached.setMembers(members)
    uncached.nodeFor('a/1')
    expect(uncached.cacheEntryCount).toBe(0)
  })
})

describe('MembershipDirectory: cost of nodeFor (printed, not asserted)', () => {
  const actorIdCount = 10_000
  const actorIds = Array.from({ length: actorIdCount }, (_, index) => `partition/orders-${index % 97}/${index}`)

  /** Nanoseconds per nodeFor call over `passCount` passes of all actor ids. */
  function nsPerLookup(directory: MembershipDirectory, passCount: number): number {
    let sink = 0
    const startedMs = performance.now()
    for (let pass = 0; pass < passCount; pass++) {
      for (const actorId of actorIds) sink += directory.nodeFor(actorId).length
    }
    const elapsedMs = performance.now() - startedMs
    expect(sink).toBeGreaterThan(0)
    return (elapsedMs * 1e6) / (passCount * actorIdCount)
  }

  it('nodeFor_hitsAndMisses', () => {
    const lines: string[] = []
    for (const memberCount of [3, 10, 100, 1_000]) {
      const ids = Array.from({ length: memberCount }, (_, index) => `node-${index}`)
      const hitNs = hitCostNs(ids, diagNodeOf)
      const hitUnpinnedNs = hitCostNs(ids, undefined)
      const uncached = new MembershipDirectory('node-0', { pinned: diagNodeOf, cacheEntriesMax: 0 })
      uncached.setMembers(untagged(ids))
      nsPerLookup(uncached, 1) // warm the JIT
      const missNs = nsPerLookup(uncached, memberCount >= 1_000 ? 1 : 5)
      const legacyNs = nsPerCall(() => rendezvousNode('partition/orders/1', ids), memberCount >= 1_000 ? 200 : 20_000)
      lines.push(
        `${memberCount} members: hit ${hitNs.toFixed(0)} ns (${hitUnpinnedNs.toFixed(0)} ns without the pinning hook), ` +
          `miss ${missNs.toFixed(0)} ns; rendezvousNode(key, ids) ${legacyNs.toFixed(0)} ns`,
      )
    }
    console.log(`[placement] nodeFor over ${actorIdCount} actor ids:\n  ${lines.join('\n  ')}`)
  })

  function hitCostNs(ids: readonly string[], pinned: ((actorId: string) => string | undefined) | undefined): number {
    const directory = new MembershipDirectory('node-0', { pinned })
    directory.setMembers(untagged(ids))
    nsPerLookup(directory, 1) // fill the cache and warm the JIT
    return nsPerLookup(directory, 20)
  }

  function nsPerCall(call: () => string, callCount: number): number {
    let sink = 0
    for (let i = 0; i < callCount; i++) sink += call().length // warm up
    const startedMs = performance.now()
    for (let i = 0; i < callCount; i++) sink += call().length
    expect(sink).toBeGreaterThan(0)
    return ((performance.now() - startedMs) * 1e6) / callCount
  }
})
