import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { GroupCore } from '../../actors/group/group-core.js'
import { OFFSET_METADATA_CHARS_MAX, type OffsetRecord, OffsetTable, checkOffsetCommits, decodeOffsetsRecord, groupRecord, loadMarkerRecord, offsetRecord, offsetTombstone } from '../../actors/group/offsets.js'
import { ErrorCode, SkeinError } from '../../src/wire/errors.js'

const codeOf = (action: () => unknown): number | undefined => {
  try {
    action()
  } catch (error) {
    expect(error).toBeInstanceOf(SkeinError)
    return (error as SkeinError).code
  }
  return undefined
}

describe('offset records and the table rebuilt from them', () => {
  it('replayingTheRecords_givesTheLatestCommitPerPartition_tombstonesDelete', () => {
    const records: OffsetRecord[] = [
      offsetRecord('g1', { topic: 'orders', partition: 0, offset: 10 }, 1000),
      offsetRecord('g1', { topic: 'orders', partition: 1, offset: 5, metadata: 'batch-7' }, 1001),
      offsetRecord('g2', { topic: 'orders', partition: 0, offset: 99 }, 1002),
      offsetRecord('g1', { topic: 'orders', partition: 0, offset: 12 }, 1003),
      offsetRecord('g1', { topic: 'a/b', partition: 3, offset: 1 }, 1004),
    ]
    const table = new OffsetTable()
    for (const record of records) table.apply(record)
    expect([...table.fetch('g1').values()].sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition)).toEqual([
      { topic: 'a/b', partition: 3, offset: 1, metadata: '', commitTimestampMs: 1004 },
      { topic: 'orders', partition: 0, offset: 12, metadata: '', commitTimestampMs: 1003 },
      { topic: 'orders', partition: 1, offset: 5, metadata: 'batch-7', commitTimestampMs: 1001 },
    ])
    expect([...table.fetch('g1', [{ topic: 'orders', partition: 1 }, { topic: 'orders', partition: 9 }]).keys()]).toEqual(['orders/1'])
    for (const tombstone of table.tombstonesForTopic('orders')) table.apply(tombstone)
    expect([...table.fetch('g1').keys()]).toEqual(['a/b/3'])
    expect(table.groupIds()).toEqual(['g1'])
    table.apply(offsetTombstone('g1', { topic: 'a/b', partition: 3 }))
    expect(table.groupIds()).toEqual([])
  })

  it('anyCommitHistory_replayedInAnotherTable_givesTheSameOffsets', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ group: fc.constantFrom('g1', 'g2'), partition: fc.nat({ max: 3 }), offset: fc.nat(), tombstone: fc.boolean() }), { maxLength: 60 }), (history) => {
        const records = history.map((h, i) => (h.tombstone ? offsetTombstone(h.group, { topic: 't', partition: h.partition }) : offsetRecord(h.group, { topic: 't', partition: h.partition, offset: h.offset }, i)))
        const expected = new Map<string, number>()
        for (const h of history) {
          if (h.tombstone) expected.delete(`${h.group}:${h.partition}`)
          else expected.set(`${h.group}:${h.partition}`, h.offset)
        }
        const table = new OffsetTable()
        for (const record of records) table.apply(record)
        const actual = new Map<string, number>()
        for (const group of ['g1', 'g2']) for (const committed of table.fetch(group).values()) actual.set(`${group}:${committed.partition}`, committed.offset)
        expect(actual).toEqual(expected)
      }),
      { numRuns: 200 },
    )
  })

  it('corruptRecord_isCorruptMessage_tableUnchanged', () => {
    const table = new OffsetTable()
    table.apply(offsetRecord('g', { topic: 't', partition: 0, offset: 3 }, 1))
    const good = offsetRecord('g', { topic: 't', partition: 0, offset: 4 }, 2)
    const cases: OffsetRecord[] = [
      { key: new Uint8Array([9, 0x5b, 0x5d]), value: good.value },
      { key: good.key, value: new Uint8Array([0, 0xff, 0xfe]) },
      { key: good.key, value: new TextEncoder().encode('\u0000{"offset":-1,"metadata":"","commitTimestampMs":1}') },
      { key: new TextEncoder().encode('\u0000["offset","g","t"]'), value: good.value },
      { key: new Uint8Array(0), value: good.value },
    ]
    for (const record of cases) expect(codeOf(() => table.apply(record))).toBe(ErrorCode.CORRUPT_MESSAGE.code)
    expect(table.fetch('g').get('t/0')?.offset).toBe(3)
  })

  it('checkOffsetCommits_badInput_invalidRequest', () => {
    expect(checkOffsetCommits([{ topic: 't', partition: 0, offset: 0 }, { topic: 't', partition: 1, offset: 7, metadata: 'x' }])).toBeUndefined()
    for (const bad of [
      [{ topic: 't', partition: 0, offset: -1 }],
      [{ topic: 't', partition: -1, offset: 0 }],
      [{ topic: '', partition: 0, offset: 0 }],
      [{ topic: 't', partition: 0, offset: 1.5 }],
      [{ topic: 't', partition: 0, offset: 0, metadata: 'x'.repeat(OFFSET_METADATA_CHARS_MAX + 1) }],
      [{ topic: 't', partition: 0, offset: 0 }, { topic: 't', partition: 0, offset: 1 }],
    ]) {
      expect(checkOffsetCommits(bad)?.code, JSON.stringify(bad).slice(0, 80)).toBe(ErrorCode.INVALID_REQUEST.code)
    }
  })
})

describe('who may commit (GroupCore.checkCommit)', () => {
  function stableGroupOfTwo(): { core: GroupCore<number>; a: string; b: string } {
    let next = 1
    const core = new GroupCore<number>('g', () => `m${next++}`)
    const join = { sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 30_000, assignors: ['range' as const], topics: ['t'], owned: [] }
    core.join(1, { memberId: '', ...join }, 0)
    core.join(2, { memberId: '', ...join }, 0)
    core.tick(3_000)
    core.sync(3, { memberId: 'm2', generation: 1 }, 3_000)
    core.sync(4, { memberId: 'm1', generation: 1, assignments: new Map([['m1', [{ topic: 't', partition: 0 }]], ['m2', [{ topic: 't', partition: 1 }]]]) }, 3_000)
    expect(core.describe().state).toBe('stable')
    return { core, a: 'm1', b: 'm2' }
  }

  it('memberCommitsItsOwnPartitionsInItsGeneration_accepted_elseStableCodes', () => {
    const { core, a, b } = stableGroupOfTwo()
    const before = JSON.stringify(core.describe())
    expect(core.checkCommit(a, 1, [{ topic: 't', partition: 0 }])).toBeUndefined()
    expect(core.checkCommit(a, 1, [{ topic: 't', partition: 1 }])?.code).toBe(ErrorCode.PARTITION_NOT_ASSIGNED.code)
    expect(core.checkCommit(b, 0, [{ topic: 't', partition: 1 }])?.code).toBe(ErrorCode.ILLEGAL_GENERATION.code)
    expect(core.checkCommit('stranger', 1, [{ topic: 't', partition: 1 }])?.code).toBe(ErrorCode.UNKNOWN_MEMBER_ID.code)
    expect(core.checkCommit('', -1, [{ topic: 't', partition: 1 }])?.code).toBe(ErrorCode.UNKNOWN_MEMBER_ID.code)
    expect(JSON.stringify(core.describe())).toBe(before)
  })

  it('duringPreparingRebalance_membersMayStillCommitWhatTheyOwned', () => {
    const { core, a } = stableGroupOfTwo()
    core.join(5, { memberId: '', sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 30_000, assignors: ['range'], topics: ['t'], owned: [] }, 4_000)
    expect(core.describe().state).toBe('preparingRebalance')
    expect(core.checkCommit(a, 1, [{ topic: 't', partition: 0 }])).toBeUndefined()
  })

  it('emptyGroup_takesCommitsOutsideMembership', () => {
    const core = new GroupCore<number>('solo', () => 'x')
    expect(core.checkCommit('', -1, [{ topic: 't', partition: 0 }])).toBeUndefined()
  })
})

describe('group records', () => {
  it('settledGeneration_roundTripsThroughItsRecord_andRestoresAStableGroup', () => {
    let next = 1
    const core = new GroupCore<number>('g', () => `m${next++}`)
    const join = { sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 30_000, assignors: ['range' as const], topics: ['t'], owned: [] }
    core.join(1, { memberId: '', ...join }, 0)
    core.join(2, { memberId: '', groupInstanceId: 'static-1', ...join }, 0)
    core.tick(3_000)
    core.sync(3, { memberId: 'm1', generation: 1, assignments: new Map([['m1', [{ topic: 't', partition: 0 }]], ['m2', [{ topic: 't', partition: 1 }]]]) }, 3_000)
    const [a, b] = ['m1', 'm2']
    expect(core.currentState).toBe('stable')
    const decoded = decodeOffsetsRecord(groupRecord('g', core.snapshot()))
    expect(decoded.kind).toBe('group')
    const restored = new GroupCore<number>('g', () => 'fresh')
    restored.restore((decoded as { snapshot: ReturnType<GroupCore<number>['snapshot']> }).snapshot, 50_000)
    expect(restored.describe()).toEqual(core.describe())
    // Members carry on in the generation: heartbeats and commits of their own partitions are taken.
    expect(restored.heartbeat(a, 1, 50_001)).toBeUndefined()
    expect(restored.checkCommit(b, 1, [{ topic: 't', partition: 1 }])).toBeUndefined()
    // Sessions restart at the restore: a member silent for its whole session after it expires.
    expect(restored.heartbeat(a, 1, 55_000)).toBeUndefined()
    restored.tick(60_002)
    expect(restored.describe().members.map((m) => m.memberId)).toEqual([a])
  })

  it('loadMarkersAndOffsets_sortByKind_andForeignKeysAreCorrupt', () => {
    expect(decodeOffsetsRecord(loadMarkerRecord('n1')).kind).toBe('load')
    expect(decodeOffsetsRecord(offsetRecord('g', { topic: 't', partition: 0, offset: 1 }, 1)).kind).toBe('offset')
    const foreign = { key: new Uint8Array([0, ...new TextEncoder().encode('["tx","x"]')]), value: null }
    expect(codeOf(() => decodeOffsetsRecord(foreign))).toBe(ErrorCode.CORRUPT_MESSAGE.code)
  })
})

