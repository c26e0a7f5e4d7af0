import { describe, expect, it } from 'vitest'
import type { BrokerClient } from '../../src/client/index.js'
import type { ClientContext } from '../../src/client/client.js'
import { ClientErrorReason, SkeinClientError } from '../../src/client/errors.js'
import { GroupMember, type GroupMemberConfig, type GroupMemberHooks, type GroupSubscription } from '../../src/client/group-member.js'
import { type Env, type Random, silentLogger } from '../../src/env/index.js'
import {
  ErrorCode,
  type HeartbeatRequest,
  type JoinGroupRequest,
  type JoinGroupResponse,
  type LeaveGroupRequest,
  type MetadataResponse,
  SkeinError,
  type SyncGroupRequest,
  type SyncGroupResponse,
  type TopicPartitionRef,
} from '../../src/wire/index.js'
import { Scheduler } from '../../sim/scheduler.js'
import { SimClock } from '../../sim/sim-clock.js'

/**
 * GroupMember against a scripted coordinator: every answer a test wants is queued in advance
 * (an empty queue holds the request forever), the member's hooks and requests are written
 * into one trace, and time is the simulator's (no sockets, no real timers).
 */

const HEARTBEAT_MS = 1_000
const CONFIG: GroupMemberConfig = { groupId: 'g', sessionTimeoutMs: 10_000, heartbeatIntervalMs: HEARTBEAT_MS, rebalanceTimeoutMs: 30_000, assignors: ['range'], topicRefreshMs: 60_000 }

type Reply<Req, Res> = Res | SkeinError | ((request: Req) => Res | SkeinError)

const tp = (topic: string, partition: number): TopicPartitionRef => ({ topic, partition })
const keys = (partitions: readonly TopicPartitionRef[]): string[] => partitions.map((p) => `${p.topic}/${p.partition}`)
const rebalancing = (): SkeinError => new SkeinError(ErrorCode.REBALANCE_IN_PROGRESS)

class ScriptedCoordinator {
  readonly trace: unknown[][] = []
  readonly joins: Reply<JoinGroupRequest, JoinGroupResponse>[] = []
  readonly syncs: Reply<SyncGroupRequest, SyncGroupResponse>[] = []
  /** Answers given at once, in order; when empty a heartbeat is held for its waitMs, then answered OK. */
  readonly heartbeats: (SkeinError | 'ok')[] = []
  readonly heartbeatsSeen: HeartbeatRequest[] = []
  readonly syncRequests: SyncGroupRequest[] = []
  topicNames: string[] = []
  readonly partitionCounts = new Map<string, number>()
  private readonly held = new Set<{ answer(error?: SkeinError): void }>()

  constructor(private readonly clock: SimClock) {}

  async joinGroup(request: JoinGroupRequest): Promise<JoinGroupResponse> {
    this.trace.push(['join', request.memberId, keys(request.owned), [...request.topics]])
    return this.reply(this.joins.shift(), request)
  }

  async syncGroup(request: SyncGroupRequest): Promise<SyncGroupResponse> {
    this.trace.push(['sync', request.memberId, request.generation])
    this.syncRequests.push(request)
    return this.reply(this.syncs.shift(), request)
  }

  async heartbeat(request: HeartbeatRequest): Promise<void> {
    this.heartbeatsSeen.push(request)
    const next = this.heartbeats.shift()
    if (next instanceof SkeinError) {
      this.trace.push(['heartbeat', next.errorName])
      throw next
    }
    if (next === 'ok') return
    await new Promise<void>((resolve, reject) => {
      const entry = {
        answer: (error?: SkeinError): void => {
          this.held.delete(entry)
          timer.cancel()
          if (error === undefined) resolve()
          else reject(error)
        },
      }
      const timer = this.clock.setTimer(request.waitMs ?? 0, () => entry.answer())
      this.held.add(entry)
    })
  }

  /** A rebalance starts: every held heartbeat is answered at once with REBALANCE_IN_PROGRESS. */
  startRebalance(): void {
    this.trace.push(['rebalance starts'])
    for (const entry of [...this.held]) entry.answer(rebalancing())
  }

  async leaveGroup(request: LeaveGroupRequest): Promise<void> {
    this.trace.push(['leave', request.memberId])
  }

  async listTopics(): Promise<string[]> {
    return [...this.topicNames]
  }

  async metadata(topics: readonly string[]): Promise<MetadataResponse> {
    const described = topics.filter((name) => this.partitionCounts.has(name)).map((name) => ({
      name,
      topicId: name,
      configs: {},
      partitions: Array.from({ length: this.partitionCounts.get(name) as number }, (_, partition) => ({ partition, replicas: ['n1'], leader: 'n1', leaderEpoch: 1 })),
    }))
    return { version: 1, nodes: [], topics: described }
  }

  private reply<Req, Res>(reply: Reply<Req, Res> | undefined, request: Req): Promise<Res> {
    if (reply === undefined) return new Promise(() => {}) // nothing scripted: held for good
    const answer = typeof reply === 'function' ? (reply as (request: Req) => Res | SkeinError)(request) : reply
    return answer instanceof SkeinError ? Promise.reject(answer) : Promise.resolve(answer)
  }
}

/** The consumer side: what it owns, and every hook call written into the coordinator's trace. */
class FakeConsumer implements GroupMemberHooks {
  readonly owns = new Map<string, TopicPartitionRef>()
  failure: SkeinError | undefined
  /** When the application took the message it processes now; undefined: it holds none. */
  busySinceMs: number | undefined
  nowMs: () => number = () => 0

  constructor(private readonly trace: unknown[][]) {}

  owned(): TopicPartitionRef[] {
    return [...this.owns.values()]
  }

  async assigned(partitions: readonly TopicPartitionRef[]): Promise<void> {
    this.trace.push(['assigned', keys(partitions)])
    for (const p of partitions) this.owns.set(`${p.topic}/${p.partition}`, p)
  }

  async revoked(partitions: readonly TopicPartitionRef[]): Promise<void> {
    this.trace.push(['revoked', keys(partitions)])
    for (const p of partitions) this.owns.delete(`${p.topic}/${p.partition}`)
  }

  async lost(partitions: readonly TopicPartitionRef[]): Promise<void> {
    this.trace.push(['lost', keys(partitions)])
    for (const p of partitions) this.owns.delete(`${p.topic}/${p.partition}`)
  }

  async commit(): Promise<void> {
    this.trace.push(['commit'])
  }

  failed(error: SkeinError): void {
    this.trace.push(['failed', error.errorName])
    this.failure = error
  }

  busyForMs(): number {
    return this.busySinceMs === undefined ? 0 : this.nowMs() - this.busySinceMs
  }
}

const fixedRandom: Random = { float: () => 0.5, int: () => 0, bytes: (count) => new Uint8Array(count) }

function setup(options: { config?: Partial<GroupMemberConfig>; subscription?: GroupSubscription } = {}) {
  const scheduler = new Scheduler()
  const clock = new SimClock(scheduler, { nodeId: 'client', monotonicStartMs: 0 })
  const coordinator = new ScriptedCoordinator(clock)
  coordinator.partitionCounts.set('t', 4)
  const env = { clock, random: fixedRandom, log: silentLogger } as unknown as Env
  const context: ClientContext = {
    env,
    call: (_what, run) => run(coordinator as unknown as BrokerClient),
    partitionCount: async (topic) => {
      const count = coordinator.partitionCounts.get(topic)
      if (count === undefined) throw new SkeinClientError(ClientErrorReason.UNKNOWN_TOPIC, `no topic ${topic}`)
      return count
    },
    connected: () => undefined,
    assertOpen: () => undefined,
    forget: () => undefined,
  }
  const consumer = new FakeConsumer(coordinator.trace)
  consumer.nowMs = () => clock.nowMs()
  const member = new GroupMember(context, { ...CONFIG, ...options.config }, options.subscription ?? ['t'], consumer)
  /** Runs simulated time until `condition` holds (fails the test if it does not within `timeoutMs`). */
  const until = async (condition: () => boolean, timeoutMs = 60_000): Promise<void> => {
    await new Promise((resolve) => setImmediate(resolve))
    await scheduler.runUntil(condition, { timeoutMs })
    expect(condition(), `condition not met within ${timeoutMs} ms; trace: ${JSON.stringify(coordinator.trace)}`).toBe(true)
  }
  const runFor = async (durationMs: number): Promise<void> => {
    await new Promise((resolve) => setImmediate(resolve))
    await scheduler.runFor(durationMs)
  }
  const traced = (name: string): number => coordinator.trace.filter((entry) => entry[0] === name).length
  return { scheduler, clock, coordinator, consumer, member, until, runFor, traced }
}

const joined = (memberId: string, generation: number, extra: Partial<JoinGroupResponse> = {}): JoinGroupResponse => ({
  memberId,
  generation,
  leaderId: 'someone-else',
  assignor: 'range',
  members: [],
  ...extra,
})

describe('GroupMember', () => {
  it('onJoin_asLeader_computesTheAssignmentForEveryMemberAndSyncsIt', async () => {
    const { coordinator, member, until } = setup()
    coordinator.joins.push(
      joined('m1', 1, {
        leaderId: 'm1',
        members: [
          { memberId: 'm1', topics: ['t'], owned: [] },
          { memberId: 'm2', topics: ['t'], owned: [] },
        ],
      }),
    )
    coordinator.syncs.push((request) => ({ assignment: request.assignments?.find((a) => a.memberId === 'm1')?.partitions ?? [] }))
    member.start()
    await until(() => coordinator.heartbeatsSeen.length > 0)
    expect(coordinator.syncRequests[0]?.assignments).toEqual([
      { memberId: 'm1', partitions: [tp('t', 0), tp('t', 1)] },
      { memberId: 'm2', partitions: [tp('t', 2), tp('t', 3)] },
    ])
    expect(coordinator.trace).toEqual([
      ['join', '', [], ['t']],
      ['sync', 'm1', 1],
      ['assigned', ['t/0', 't/1']],
    ])
    expect(coordinator.heartbeatsSeen[0]).toEqual({ groupId: 'g', memberId: 'm1', generation: 1, waitMs: HEARTBEAT_MS })
    expect(member.metadata()).toEqual({ groupId: 'g', memberId: 'm1', generation: 1 })
  })

  it('onJoin_asFollower_sendsNoAssignment', async () => {
    const { coordinator, member, until } = setup()
    coordinator.joins.push(joined('m2', 1))
    coordinator.syncs.push({ assignment: [tp('t', 2)] })
    member.start()
    await until(() => coordinator.heartbeatsSeen.length > 0)
    expect(coordinator.syncRequests[0]).toEqual({ groupId: 'g', memberId: 'm2', generation: 1 })
  })

  it('onJoin_asCooperativeLeader_holdsBackAPartitionAnotherMemberStillOwns', async () => {
    const { coordinator, member, until } = setup({ config: { assignors: ['cooperative-sticky'] } })
    coordinator.joins.push(
      joined('m1', 2, {
        leaderId: 'm1',
        assignor: 'cooperative-sticky',
        members: [
          { memberId: 'm1', topics: ['t'], owned: [] },
          { memberId: 'm2', topics: ['t'], owned: [tp('t', 0), tp('t', 1), tp('t', 2), tp('t', 3)] },
        ],
      }),
    )
    coordinator.syncs.push({ assignment: [] })
    member.start()
    await until(() => coordinator.syncRequests.length > 0)
    // Balance wants two partitions moved to m1, but m2 owns them: this generation gives them to nobody.
    expect(coordinator.syncRequests[0]?.assignments).toEqual([
      { memberId: 'm1', partitions: [] },
      { memberId: 'm2', partitions: [tp('t', 0), tp('t', 1)] },
    ])
  })

  it('onHeartbeatRebalanceInProgress_eager_revokesEverythingBeforeRejoining', async () => {
    const { coordinator, member, until } = setup()
    coordinator.joins.push(joined('m1', 1), joined('m1', 2))
    coordinator.syncs.push({ assignment: [tp('t', 0), tp('t', 1)] }, { assignment: [tp('t', 1), tp('t', 2)] })
    coordinator.heartbeats.push(rebalancing())
    member.start()
    await until(() => coordinator.trace.filter((e) => e[0] === 'sync').length === 2 && coordinator.heartbeatsSeen.length > 1)
    expect(coordinator.trace).toEqual([
      ['join', '', [], ['t']],
      ['sync', 'm1', 1],
      ['assigned', ['t/0', 't/1']],
      ['heartbeat', 'REBALANCE_IN_PROGRESS'],
      ['revoked', ['t/0', 't/1']],
      ['join', 'm1', [], ['t']],
      ['sync', 'm1', 2],
      ['assigned', ['t/1', 't/2']],
    ])
  })

  it('onHeartbeatRebalanceInProgress_cooperative_keepsOwned_revokesOnlyWhatItLost_thenRejoinsAtOnce', async () => {
    const { coordinator, member, until } = setup({ config: { assignors: ['cooperative-sticky'] } })
    const cooperative = { assignor: 'cooperative-sticky' } as const
    coordinator.joins.push(joined('m1', 1, cooperative), joined('m1', 2, cooperative), joined('m1', 3, cooperative))
    coordinator.syncs.push({ assignment: [tp('t', 0), tp('t', 1), tp('t', 2)] }, { assignment: [tp('t', 0), tp('t', 1)] }, { assignment: [tp('t', 0), tp('t', 1)] })
    coordinator.heartbeats.push(rebalancing())
    member.start()
    await until(() => coordinator.trace.filter((e) => e[0] === 'sync').length === 3 && coordinator.heartbeatsSeen.length > 1)
    expect(coordinator.trace).toEqual([
      ['join', '', [], ['t']],
      ['sync', 'm1', 1],
      ['assigned', ['t/0', 't/1', 't/2']],
      ['heartbeat', 'REBALANCE_IN_PROGRESS'],
      ['commit'],
      ['join', 'm1', ['t/0', 't/1', 't/2'], ['t']],
      ['sync', 'm1', 2],
      ['revoked', ['t/2']],
      ['assigned', []],
      // The second rebalance of the cooperative protocol: t/2 is free now for its new owner.
      ['join', 'm1', ['t/0', 't/1'], ['t']],
      ['sync', 'm1', 3],
      ['assigned', []],
    ])
  })

  it('onHeldHeartbeat_rebalanceStarts_rejoinsWithinTheRoundTrip', async () => {
    const { coordinator, member, until, runFor, clock } = setup()
    coordinator.joins.push(joined('m1', 1), joined('m1', 2))
    coordinator.syncs.push({ assignment: [tp('t', 0)] })
    member.start()
    await until(() => coordinator.heartbeatsSeen.length > 0)
    await runFor(HEARTBEAT_MS / 4) // the heartbeat is held at the coordinator
    const startedAtMs = clock.nowMs()
    coordinator.startRebalance()
    await until(() => coordinator.trace.filter((e) => e[0] === 'join').length === 2)
    expect(clock.nowMs()).toBe(startedAtMs)
    const from = coordinator.trace.findIndex((e) => e[0] === 'rebalance starts')
    expect(coordinator.trace.slice(from, from + 3)).toEqual([['rebalance starts'], ['revoked', ['t/0']], ['join', 'm1', [], ['t']]])
  })

  it('heartbeats_whenNothingHappens_oneHeldPerInterval', async () => {
    const { coordinator, member, until, runFor } = setup()
    coordinator.joins.push(joined('m1', 1))
    coordinator.syncs.push({ assignment: [tp('t', 0)] })
    coordinator.heartbeats.push('ok', 'ok') // answered at once: the member still waits out the interval
    member.start()
    await until(() => coordinator.heartbeatsSeen.length > 0)
    await runFor(10 * HEARTBEAT_MS - 1)
    expect(coordinator.heartbeatsSeen.length).toBe(10)
  })

  it('onUnknownMemberId_losesItsPartitionsWithoutCommitting_andRejoinsWithNoId', async () => {
    const { coordinator, member, until } = setup()
    coordinator.joins.push(joined('m1', 1), joined('m7', 1))
    coordinator.syncs.push({ assignment: [tp('t', 0)] }, { assignment: [tp('t', 3)] })
    coordinator.heartbeats.push(new SkeinError(ErrorCode.UNKNOWN_MEMBER_ID))
    member.start()
    await until(() => coordinator.trace.some((e) => e[0] === 'assigned' && (e[1] as string[])[0] === 't/3'))
    expect(coordinator.trace).toEqual([
      ['join', '', [], ['t']],
      ['sync', 'm1', 1],
      ['assigned', ['t/0']],
      ['heartbeat', 'UNKNOWN_MEMBER_ID'],
      ['lost', ['t/0']],
      ['join', '', [], ['t']],
      ['sync', 'm7', 1],
      ['assigned', ['t/3']],
    ])
  })

  it('onIllegalGeneration_losesItsPartitions_andRejoinsUnderTheSameId', async () => {
    const { coordinator, member, until } = setup()
    coordinator.joins.push(joined('m1', 1), joined('m1', 2))
    coordinator.syncs.push({ assignment: [tp('t', 0)] })
    coordinator.heartbeats.push(new SkeinError(ErrorCode.ILLEGAL_GENERATION))
    member.start()
    await until(() => coordinator.trace.filter((e) => e[0] === 'join').length === 2)
    expect(coordinator.trace.slice(3, 6)).toEqual([['heartbeat', 'ILLEGAL_GENERATION'], ['lost', ['t/0']], ['join', 'm1', [], ['t']]])
  })

  it('onSyncRebalanceInProgress_rejoins', async () => {
    const { coordinator, member, until } = setup()
    coordinator.joins.push(joined('m1', 1), joined('m1', 2))
    coordinator.syncs.push(rebalancing(), { assignment: [tp('t', 1)] })
    member.start()
    await until(() => coordinator.heartbeatsSeen.length > 0)
    expect(coordinator.trace).toEqual([
      ['join', '', [], ['t']],
      ['sync', 'm1', 1],
      ['join', 'm1', [], ['t']],
      ['sync', 'm1', 2],
      ['assigned', ['t/1']],
    ])
  })

  it('onFencedInstanceId_stopsAndReportsTheFailure', async () => {
    const { coordinator, consumer, member, until, runFor, traced } = setup({ config: { groupInstanceId: 'i1' } })
    coordinator.joins.push(joined('m1', 1), joined('m1', 2))
    coordinator.syncs.push({ assignment: [tp('t', 0)] })
    coordinator.heartbeats.push(new SkeinError(ErrorCode.FENCED_INSTANCE_ID))
    member.start()
    await until(() => consumer.failure !== undefined)
    await runFor(5 * HEARTBEAT_MS)
    expect(consumer.failure?.code).toBe(ErrorCode.FENCED_INSTANCE_ID.code)
    expect(member.isStopped).toBe(true)
    expect(traced('join')).toBe(1)
  })

  it('onCommitRebalanceInProgress_rejoinsWithoutWaitingForTheHeldHeartbeat', async () => {
    const { coordinator, member, until, clock } = setup()
    coordinator.joins.push(joined('m1', 1), joined('m1', 2))
    coordinator.syncs.push({ assignment: [tp('t', 0)] })
    member.start()
    await until(() => coordinator.heartbeatsSeen.length > 0)
    const atMs = clock.nowMs()
    member.commitFailed(rebalancing(), 1)
    await until(() => coordinator.trace.filter((e) => e[0] === 'join').length === 2)
    expect(clock.nowMs()).toBe(atMs)
    // A commit failure of an older generation is old news: ignored.
    member.commitFailed(rebalancing(), 0)
  })

  it('patternSubscription_matchesTopicsButInternalOnes_andRejoinsWhenTheMatchChanges', async () => {
    const { coordinator, member, until } = setup({ subscription: /^orders/, config: { topicRefreshMs: 5_000 } })
    coordinator.topicNames = ['orders-eu', '__consumer_offsets', 'payments']
    coordinator.joins.push(joined('m1', 1), joined('m1', 2))
    coordinator.syncs.push({ assignment: [] }, { assignment: [] })
    member.start()
    await until(() => coordinator.heartbeatsSeen.length > 0)
    coordinator.topicNames.push('orders-us')
    await until(() => coordinator.trace.filter((e) => e[0] === 'join').length === 2)
    expect(coordinator.trace.filter((e) => e[0] === 'join')).toEqual([
      ['join', '', [], ['orders-eu']],
      ['join', 'm1', [], ['orders-eu', 'orders-us']],
    ])
  })

  it('leader_whenASubscribedTopicGrows_rejoins', async () => {
    const { coordinator, member, until } = setup({ config: { topicRefreshMs: 5_000 } })
    coordinator.joins.push(joined('m1', 1, { leaderId: 'm1', members: [{ memberId: 'm1', topics: ['t'], owned: [] }] }), joined('m1', 2, { leaderId: 'm1', members: [{ memberId: 'm1', topics: ['t'], owned: [] }] }))
    coordinator.syncs.push((request) => ({ assignment: request.assignments?.[0]?.partitions ?? [] }), (request) => ({ assignment: request.assignments?.[0]?.partitions ?? [] }))
    member.start()
    await until(() => coordinator.heartbeatsSeen.length > 0)
    coordinator.partitionCounts.set('t', 6)
    await until(() => coordinator.syncRequests.length === 2)
    expect(keys(coordinator.syncRequests[1]?.assignments?.[0]?.partitions ?? [])).toEqual(['t/0', 't/1', 't/2', 't/3', 't/4', 't/5'])
  })

  it('leave_stopsTheLoopAndSendsLeaveGroup', async () => {
    const { coordinator, member, until, runFor, traced } = setup()
    coordinator.joins.push(joined('m1', 1))
    coordinator.syncs.push({ assignment: [tp('t', 0)] })
    member.start()
    await until(() => coordinator.heartbeatsSeen.length > 0)
    const leaving = member.leave()
    await until(() => traced('leave') === 1)
    await leaving
    const heartbeats = coordinator.heartbeatsSeen.length
    await runFor(10 * HEARTBEAT_MS)
    expect(coordinator.heartbeatsSeen.length).toBe(heartbeats)
    expect(coordinator.trace.at(-1)).toEqual(['leave', 'm1'])
  })

  it('leave_whileTheFirstJoinIsHeld_theIdHandedOutLaterLeavesToo', async () => {
    const { coordinator, member, until, traced } = setup()
    let answerJoin!: (answer: JoinGroupResponse) => void
    const heldJoin = new Promise<JoinGroupResponse>((resolve) => (answerJoin = resolve))
    coordinator.joinGroup = async (request) => {
      coordinator.trace.push(['join', request.memberId])
      return heldJoin
    }
    member.start()
    await until(() => traced('join') === 1)
    await member.leave()
    expect(traced('leave')).toBe(0) // no id yet
    answerJoin(joined('m9', 1))
    await until(() => traced('leave') === 1)
    expect(coordinator.trace.at(-1)).toEqual(['leave', 'm9'])
    expect(traced('sync')).toBe(0)
  })

  it('onCoordinatorSilentForASession_losesItsPartitionsAndRejoins', async () => {
    const { coordinator, member, until } = setup()
    coordinator.joins.push(joined('m1', 1), joined('m1', 2))
    coordinator.syncs.push({ assignment: [tp('t', 0)] })
    // BrokerClient gave up on each heartbeat (its deadline passed) for longer than the session.
    for (let i = 0; i < 100; i++) coordinator.heartbeats.push(new SkeinError(ErrorCode.REQUEST_TIMED_OUT))
    member.start()
    await until(() => coordinator.trace.some((e) => e[0] === 'lost'))
    await until(() => coordinator.trace.filter((e) => e[0] === 'join').length === 2)
    expect(coordinator.trace.filter((e) => e[0] !== 'heartbeat').slice(0, 5)).toEqual([
      ['join', '', [], ['t']],
      ['sync', 'm1', 1],
      ['assigned', ['t/0']],
      ['lost', ['t/0']],
      ['join', 'm1', [], ['t']],
    ])
  })

  it('applicationBusyPastRebalanceTimeout_leavesTheGroupLosingItsPartitions_rejoinsOnceDone', async () => {
    const { coordinator, consumer, member, until, runFor, clock } = setup({ config: { rebalanceTimeoutMs: 5_000 } })
    coordinator.joins.push(joined('m1', 1), joined('m7', 2))
    coordinator.syncs.push({ assignment: [tp('t', 0)] }, { assignment: [tp('t', 1)] })
    member.start()
    await until(() => coordinator.heartbeatsSeen.length > 0)
    consumer.busySinceMs = clock.nowMs()
    await runFor(4_000)
    expect(coordinator.trace.filter((e) => e[0] === 'leave')).toEqual([]) // under the limit: still a member
    await until(() => coordinator.trace.some((e) => e[0] === 'lost'))
    await runFor(10_000)
    // Still busy: out of the group, not rejoining.
    expect(coordinator.trace.filter((e) => e[0] === 'join')).toHaveLength(1)
    consumer.busySinceMs = undefined
    await until(() => coordinator.trace.filter((e) => e[0] === 'assigned').length === 2)
    expect(coordinator.trace).toEqual([
      ['join', '', [], ['t']],
      ['sync', 'm1', 1],
      ['assigned', ['t/0']],
      ['leave', 'm1'],
      ['lost', ['t/0']],
      ['join', '', [], ['t']],
      ['sync', 'm7', 2],
      ['assigned', ['t/1']],
    ])
  })
})

