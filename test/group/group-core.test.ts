import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { type AssignorName, type TopicPartition, assign } from '../../src/client/assignors.js'
import { type GroupEffect, GroupCore, type JoinAnswer, type JoinRequest } from '../../actors/group/group-core.js'
import { ErrorCode, type SkeinError } from '../../src/wire/errors.js'

const SESSION_MS = 10_000
const REBALANCE_MS = 30_000
const TOPICS = new Map([['orders', 6]])

/** Feeds a GroupCore and files its answers by request id, as the coordinator actor would send them. */
class Harness {
  readonly core: GroupCore<number>
  private nextRequest = 1
  private nextMember = 1
  readonly answers = new Map<number, GroupEffect<number>>()
  nowMs = 0

  constructor() {
    this.core = new GroupCore<number>('g', (instanceId) => `${instanceId ?? 'member'}-${this.nextMember++}`)
  }

  private record(effects: GroupEffect<number>[]): void {
    for (const effect of effects) {
      expect(this.answers.has(effect.requestId), `request ${effect.requestId} answered twice`).toBe(false)
      this.answers.set(effect.requestId, effect)
    }
  }

  join(memberId: string, extra: Partial<JoinRequest> = {}): number {
    const requestId = this.nextRequest++
    this.record(this.core.join(requestId, { memberId, sessionTimeoutMs: SESSION_MS, rebalanceTimeoutMs: REBALANCE_MS, assignors: ['range'], topics: ['orders'], owned: [], ...extra }, this.nowMs))
    return requestId
  }

  sync(memberId: string, generation: number, assignments?: Map<string, TopicPartition[]>): number {
    const requestId = this.nextRequest++
    this.record(this.core.sync(requestId, { memberId, generation, ...(assignments === undefined ? {} : { assignments }) }, this.nowMs))
    return requestId
  }

  tick(toMs: number): void {
    this.nowMs = toMs
    this.record(this.core.tick(toMs))
  }

  leave(memberId: string): SkeinError | undefined {
    const { error, effects } = this.core.leave(memberId, this.nowMs)
    this.record(effects)
    return error
  }

  joined(requestId: number): JoinAnswer {
    const effect = this.answers.get(requestId)
    expect(effect?.kind, `join ${requestId}: ${JSON.stringify(effect)}`).toBe('joined')
    return (effect as Extract<GroupEffect<number>, { kind: 'joined' }>).answer
  }

  synced(requestId: number): TopicPartition[] {
    const effect = this.answers.get(requestId)
    expect(effect?.kind, `sync ${requestId}: ${JSON.stringify(effect)}`).toBe('synced')
    return [...(effect as Extract<GroupEffect<number>, { kind: 'synced' }>).assignment]
  }

  failedWith(requestId: number): number {
    const effect = this.answers.get(requestId)
    expect(effect?.kind, `request ${requestId}: ${JSON.stringify(effect)}`).toBe('failed')
    return (effect as Extract<GroupEffect<number>, { kind: 'failed' }>).error.code
  }

  /** Joins `count` new members and completes the rebalance with the leader running the assignor; member id -> partitions. */
  formGroup(count: number): Map<string, TopicPartition[]> {
    const requests = Array.from({ length: count }, () => this.join(''))
    // An empty group's first rebalance waits out the initial delay for more joiners.
    expect(requests.filter((r) => this.answers.has(r))).toEqual([])
    this.tick(this.nowMs + 3_000)
    return this.completeRebalance(requests)
  }

  /** Given answered joins of one generation: the leader assigns, everyone syncs. */
  completeRebalance(joinRequests: number[]): Map<string, TopicPartition[]> {
    const answers = joinRequests.map((r) => this.joined(r))
    const generation = answers[0]!.generation
    const leader = answers.find((a) => a.memberId === a.leaderId)!
    const assignment = assign(leader.assignor as AssignorName, leader.members, TOPICS)
    const syncs = answers.filter((a) => a !== leader).map((a) => ({ id: a.memberId, request: this.sync(a.memberId, generation) }))
    syncs.push({ id: leader.memberId, request: this.sync(leader.memberId, generation, assignment) })
    return new Map(syncs.map(({ id, request }) => [id, this.synced(request)]))
  }
}

describe('group membership (pure core)', () => {
  it('firstMember_joinsAlone_becomesLeader_getsEverything', () => {
    const h = new Harness()
    const owned = h.formGroup(1)
    expect([...owned.values()][0]).toHaveLength(6)
    expect(h.core.describe()).toMatchObject({ state: 'stable', generation: 1 })
  })

  it('memberJoinsStableGroup_othersHearRebalance_rejoin_newGenerationSplitsPartitions', () => {
    const h = new Harness()
    const first = h.formGroup(1)
    const firstId = [...first.keys()][0]!
    const newcomer = h.join('')
    expect(h.answers.has(newcomer)).toBe(false) // waits for the first member to rejoin
    expect(h.core.heartbeat(firstId, 1, h.nowMs)?.code).toBe(ErrorCode.REBALANCE_IN_PROGRESS.code)
    const rejoin = h.join(firstId)
    const owned = h.completeRebalance([newcomer, rejoin])
    expect(h.core.describe().generation).toBe(2)
    expect([...owned.values()].map((p) => p.length).sort()).toEqual([3, 3])
    expect(h.joined(rejoin).leaderId).toBe(firstId) // the leader stays while it is a member
  })

  it('staleGenerationOrUnknownMember_refused_stateUnchanged', () => {
    const h = new Harness()
    const owned = h.formGroup(2)
    const [a] = [...owned.keys()]
    const before = JSON.stringify(h.core.describe())
    expect(h.core.heartbeat(a!, 0, h.nowMs)?.code).toBe(ErrorCode.ILLEGAL_GENERATION.code)
    expect(h.core.heartbeat('nobody', 1, h.nowMs)?.code).toBe(ErrorCode.UNKNOWN_MEMBER_ID.code)
    expect(h.failedWith(h.sync(a!, 7))).toBe(ErrorCode.ILLEGAL_GENERATION.code)
    expect(h.failedWith(h.join('nobody'))).toBe(ErrorCode.UNKNOWN_MEMBER_ID.code)
    expect(h.failedWith(h.join('', { sessionTimeoutMs: 5 }))).toBe(ErrorCode.INVALID_SESSION_TIMEOUT.code)
    expect(h.failedWith(h.join('', { assignors: ['roundrobin'] }))).toBe(ErrorCode.INCONSISTENT_GROUP_PROTOCOL.code)
    expect(h.leave('nobody')?.code).toBe(ErrorCode.UNKNOWN_MEMBER_ID.code)
    expect(JSON.stringify(h.core.describe())).toBe(before)
  })

  it('memberStopsHeartbeating_removedAfterSessionTimeout_restRebalanceAndTakeItsPartitions', () => {
    const h = new Harness()
    const owned = h.formGroup(3)
    const [a, b, c] = [...owned.keys()] as [string, string, string]
    const formedAt = h.nowMs
    h.tick(formedAt + SESSION_MS / 2)
    expect(h.core.heartbeat(a, 1, h.nowMs)).toBeUndefined()
    expect(h.core.heartbeat(b, 1, h.nowMs)).toBeUndefined()
    h.tick(formedAt + SESSION_MS + 1) // c silent since the group formed
    expect(h.core.describe().members.map((m) => m.memberId)).not.toContain(c)
    expect(h.core.describe().state).toBe('preparingRebalance')
    const rejoins = [h.join(a), h.join(b)]
    const after = h.completeRebalance(rejoins)
    expect([...after.values()].flat()).toHaveLength(6)
  })

  it('memberNeverRejoins_droppedAtTheRebalanceTimeout_joinCompletesWithTheRest', () => {
    const h = new Harness()
    const owned = h.formGroup(2)
    const [a, b] = [...owned.keys()] as [string, string]
    const newcomer = h.join('')
    const rejoinA = h.join(a)
    // b keeps heartbeating (told to rejoin) but never does; its session is not what ends it.
    const startedAt = h.nowMs
    for (let t = startedAt + 5_000; t < startedAt + REBALANCE_MS; t += 5_000) {
      h.nowMs = t
      h.core.heartbeat(b, 1, t)
      h.tick(t)
    }
    expect(h.answers.has(newcomer)).toBe(false)
    h.tick(startedAt + REBALANCE_MS)
    const after = h.completeRebalance([newcomer, rejoinA])
    expect([...after.keys()].sort()).toEqual([a, h.joined(newcomer).memberId].sort())
    expect(h.core.heartbeat(b, 2, h.nowMs)?.code).toBe(ErrorCode.UNKNOWN_MEMBER_ID.code)
  })

  it('leave_lastMember_groupEmpty_generationKept', () => {
    const h = new Harness()
    const owned = h.formGroup(1)
    expect(h.leave([...owned.keys()][0]!)).toBeUndefined()
    expect(h.core.describe()).toMatchObject({ state: 'empty', generation: 1, members: [] })
  })

  it('staticMemberRestarts_withinSession_sameAssignmentNoRebalance_oldIdFenced', () => {
    const h = new Harness()
    const a = h.join('', { groupInstanceId: 'pod-a' })
    const b = h.join('', { groupInstanceId: 'pod-b' })
    h.tick(3_000)
    const owned = h.completeRebalance([a, b])
    const oldB = h.joined(b).memberId
    const restarted = h.join('', { groupInstanceId: 'pod-b' })
    const answer = h.joined(restarted)
    expect(answer.generation).toBe(1)
    expect(answer.memberId).not.toBe(oldB)
    expect(h.core.describe().state).toBe('stable')
    expect(h.synced(h.sync(answer.memberId, 1))).toEqual(owned.get(oldB))
    expect(h.core.heartbeat(oldB, 1, h.nowMs)?.code).toBe(ErrorCode.FENCED_INSTANCE_ID.code)
    expect(h.core.heartbeat(h.joined(a).memberId, 1, h.nowMs)).toBeUndefined()
  })

  it('leaderSendsABadAssignment_refused_groupWaitsForAGoodOne', () => {
    const h = new Harness()
    const joins = [h.join(''), h.join('')]
    h.tick(3_000)
    const answers = joins.map((r) => h.joined(r))
    const leader = answers.find((x) => x.memberId === x.leaderId)!
    const follower = answers.find((x) => x !== leader)!
    const waiting = h.sync(follower.memberId, 1)
    const twice = new Map([[leader.memberId, [{ topic: 'orders', partition: 0 }]], [follower.memberId, [{ topic: 'orders', partition: 0 }]]])
    expect(h.failedWith(h.sync(leader.memberId, 1, twice))).toBe(ErrorCode.INVALID_REQUEST.code)
    expect(h.answers.has(waiting)).toBe(false)
    expect(h.failedWith(h.sync(leader.memberId, 1, new Map([['stranger', []]])))).toBe(ErrorCode.INVALID_REQUEST.code)
    h.sync(leader.memberId, 1, new Map([[leader.memberId, [{ topic: 'orders', partition: 0 }]], [follower.memberId, [{ topic: 'orders', partition: 1 }]]]))
    expect(h.synced(waiting)).toEqual([{ topic: 'orders', partition: 1 }])
  })

  it('randomJoinsLeavesAndSilences_generationsRise_noPartitionOwnedTwiceInAGeneration_everyRequestAnsweredOnce', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ op: fc.constantFrom('join', 'rejoinAll', 'leave', 'silence', 'tick'), pick: fc.nat() }), { maxLength: 40 }), (ops) => {
        const h = new Harness()
        let lastGeneration = 0
        for (const { op, pick } of ops) {
          const members = h.core.describe().members.map((m) => m.memberId)
          if (op === 'join') h.join('')
          if (op === 'rejoinAll') for (const id of members) h.join(id)
          if (op === 'leave' && members.length > 0) h.leave(members[pick % members.length]!)
          if (op === 'silence') h.tick(h.nowMs + SESSION_MS + 1)
          if (op === 'tick') h.tick(h.nowMs + REBALANCE_MS)
          // Whenever a generation's joins are answered, its leader assigns and everyone syncs.
          const described = h.core.describe()
          if (described.state === 'completingRebalance') {
            const leader = described.leaderId!
            const assignment = assign('range', described.members.map((m) => ({ memberId: m.memberId, topics: m.topics, owned: [] })), TOPICS)
            for (const m of described.members) if (m.memberId !== leader) h.sync(m.memberId, described.generation)
            h.sync(leader, described.generation, assignment)
          }
          const now = h.core.describe()
          expect(now.generation).toBeGreaterThanOrEqual(lastGeneration)
          lastGeneration = now.generation
          if (now.state === 'stable') {
            const all = now.members.flatMap((m) => m.assignment.map((p) => `${p.topic}/${p.partition}`))
            expect(new Set(all).size).toBe(all.length)
          }
        }
      }),
      { numRuns: 300 },
    )
  })

  it('cooperativeMemberRejoinsOwningLess_startsTheHandoverRebalance_andMayCommitWhatItGivesUp', () => {
    const h = new Harness()
    const sticky = { assignors: ['cooperative-sticky' as const] }
    const first = [h.join('', sticky), h.join('', sticky)]
    h.tick(3_000)
    const answers = first.map((r) => h.joined(r))
    const leader = answers.find((a) => a.memberId === a.leaderId)!
    const follower = answers.find((a) => a !== leader)!
    const gen1 = new Map([[leader.memberId, [0, 1, 2, 3].map((partition) => ({ topic: 'orders', partition }))], [follower.memberId, [4, 5].map((partition) => ({ topic: 'orders', partition }))]])
    h.sync(follower.memberId, 1)
    h.sync(leader.memberId, 1, gen1)
    expect(h.core.describe()).toMatchObject({ state: 'stable', generation: 1 })
    // Generation 2 took orders/4 from the follower (say); it still owns it until it rejoins.
    h.join(follower.memberId, { ...sticky, owned: gen1.get(follower.memberId) })
    h.join(leader.memberId, { ...sticky, owned: gen1.get(leader.memberId) })
    const gen2 = new Map([[leader.memberId, gen1.get(leader.memberId)!], [follower.memberId, [{ topic: 'orders', partition: 5 }]]])
    h.sync(follower.memberId, 2)
    h.sync(leader.memberId, 2, gen2)
    expect(h.core.describe()).toMatchObject({ state: 'stable', generation: 2 })
    expect(h.core.checkCommit(follower.memberId, 2, [{ topic: 'orders', partition: 4 }])).toBeUndefined()
    expect(h.core.checkCommit(follower.memberId, 2, [{ topic: 'orders', partition: 0 }])?.code).toBe(ErrorCode.PARTITION_NOT_ASSIGNED.code)
    // Its rejoin owning less is a change: a new rebalance hands orders/4 over.
    h.join(follower.memberId, { ...sticky, owned: [{ topic: 'orders', partition: 5 }] })
    expect(h.core.describe().state).toBe('preparingRebalance')
  })

  it('eagerGroup_refusesCommitsForPartitionsOnlyDeclaredOwned', () => {
    const h = new Harness()
    const owned = h.formGroup(2)
    const [a, b] = [...owned.keys()] as [string, string]
    const theirs = owned.get(b)![0]!
    h.join(a, { owned: [theirs] })
    expect(h.core.checkCommit(a, 1, [theirs])?.code).toBe(ErrorCode.PARTITION_NOT_ASSIGNED.code)
  })
})

