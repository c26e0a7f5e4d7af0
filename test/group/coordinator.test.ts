import { afterEach, describe, expect, it } from 'vitest'
import type { SkeinNode } from '../../src/node.js'
import {
  BrokerRequest,
  type DescribeGroupResponse,
  type FetchOffsetsResponse,
  type FindCoordinatorResponse,
  GroupRequest,
  type JoinGroupResponse,
  type SyncGroupResponse,
  brokerActorId,
} from '../../src/wire/broker-protocol.js'
import { ErrorCode, SkeinError } from '../../src/wire/index.js'
import { ASK_TIMEOUT_MS, BROKER, RETRY_PAUSE_MS, TestMember, codeOf, coordinatorNodes, joinRequest } from './coordinator-harness.js'

// The group coordinator actor in a real in-process cluster: found through any broker, fenced
// by its offsets partition's leadership, rebuilt from the offsets topic after failover.

const nodes = coordinatorNodes('skein-coord')

afterEach(async () => {
  await nodes.cleanup()
})

describe('group coordinator', () => {
  it('joinSyncCommitFetch_thenCoordinatorFailover_restoresGenerationAndOffsets', async () => {
    const started = await nodes.startCluster(['c1', 'c2', 'c3'], { broker: BROKER })
    const member = new TestMember(() => survivor, 'orders-app')
    let survivor = started[0] as SkeinNode
    const joined = await member.ask<JoinGroupResponse>(GroupRequest.joinGroup, joinRequest(''))
    expect(joined).toMatchObject({ generation: 1, leaderId: joined.memberId, assignor: 'range' })
    const assignment = [{ topic: 'orders', partition: 0 }, { topic: 'orders', partition: 1 }]
    const synced = await member.ask<SyncGroupResponse>(GroupRequest.syncGroup, { memberId: joined.memberId, generation: 1, assignments: [{ memberId: joined.memberId, partitions: assignment }] })
    expect(synced.assignment).toEqual(assignment)
    await member.ask(GroupRequest.commitOffsets, { memberId: joined.memberId, generation: 1, offsets: [{ topic: 'orders', partition: 0, offset: 42, metadata: 'm' }] })
    const fetched = await member.ask<FetchOffsetsResponse>(GroupRequest.fetchOffsets, {})
    expect(fetched.offsets).toMatchObject([{ topic: 'orders', partition: 0, offset: 42, metadata: 'm' }])

    // The coordinator's node goes; another replica of the offsets partition takes over and replays it.
    const coordinatorNode = (member.coordinator as FindCoordinatorResponse | undefined)?.nodeId
    const victim = started.find((node) => node.config.nodeId === coordinatorNode) as SkeinNode
    survivor = started.find((node) => node !== victim) as SkeinNode
    await victim.stop()
    member.coordinator = undefined
    // The member carries on in its generation: heartbeats and commits are taken without a rejoin.
    await member.ask(GroupRequest.heartbeat, { memberId: joined.memberId, generation: 1 })
    expect((member.coordinator as FindCoordinatorResponse | undefined)?.nodeId).not.toBe(coordinatorNode)
    const described = await member.ask<DescribeGroupResponse>(GroupRequest.describeGroup, {})
    expect(described).toMatchObject({ state: 'stable', generation: 1, members: [{ memberId: joined.memberId, assignment }] })
    expect(described.offsets).toMatchObject([{ topic: 'orders', partition: 0, offset: 42 }])
    await member.ask(GroupRequest.commitOffsets, { memberId: joined.memberId, generation: 1, offsets: [{ topic: 'orders', partition: 1, offset: 7 }] })
    const after = await member.ask<FetchOffsetsResponse>(GroupRequest.fetchOffsets, { partitions: [{ topic: 'orders', partition: 1 }] })
    expect(after.offsets).toMatchObject([{ topic: 'orders', partition: 1, offset: 7 }])
  }, 120_000)

  it('badInput_getsStableCodes_andLeavesStateUnchanged', async () => {
    const [node] = await nodes.startCluster(['b1'], { broker: BROKER })
    const member = new TestMember(() => node as SkeinNode, 'strict')
    const joined = await member.ask<JoinGroupResponse>(GroupRequest.joinGroup, joinRequest(''))
    const mine = [{ topic: 'orders', partition: 0 }]
    await member.ask(GroupRequest.syncGroup, { memberId: joined.memberId, generation: 1, assignments: [{ memberId: joined.memberId, partitions: mine }] })
    await member.ask(GroupRequest.commitOffsets, { memberId: joined.memberId, generation: 1, offsets: [{ topic: 'orders', partition: 0, offset: 5 }] })
    const before = await member.ask<DescribeGroupResponse>(GroupRequest.describeGroup, {})

    expect(await codeOf(new TestMember(() => node as SkeinNode, 'nobody-here').ask(GroupRequest.describeGroup, {}))).toBe(ErrorCode.GROUP_ID_NOT_FOUND.code)
    expect(await codeOf(new TestMember(() => node as SkeinNode, 'nobody-here').ask(GroupRequest.heartbeat, { memberId: 'x', generation: 1 }))).toBe(ErrorCode.UNKNOWN_MEMBER_ID.code)
    expect(await codeOf(member.ask(GroupRequest.heartbeat, { memberId: joined.memberId, generation: 0 }))).toBe(ErrorCode.ILLEGAL_GENERATION.code)
    expect(await codeOf(member.ask(GroupRequest.commitOffsets, { memberId: joined.memberId, generation: 0, offsets: [{ topic: 'orders', partition: 0, offset: 9 }] }))).toBe(ErrorCode.ILLEGAL_GENERATION.code)
    expect(await codeOf(member.ask(GroupRequest.commitOffsets, { memberId: joined.memberId, generation: 1, offsets: [{ topic: 'orders', partition: 3, offset: 9 }] }))).toBe(ErrorCode.PARTITION_NOT_ASSIGNED.code)
    expect(await codeOf(member.ask(GroupRequest.commitOffsets, { memberId: 'member-impostor', generation: 1, offsets: [{ topic: 'orders', partition: 0, offset: 9 }] }))).toBe(ErrorCode.UNKNOWN_MEMBER_ID.code)
    expect(await codeOf(member.ask(GroupRequest.commitOffsets, { memberId: '', generation: -1, offsets: [{ topic: 'orders', partition: 0, offset: 9 }] }))).toBe(ErrorCode.NON_EMPTY_GROUP.code)
    expect(await codeOf(member.ask(GroupRequest.commitOffsets, { memberId: joined.memberId, generation: 1, offsets: [{ topic: 'orders', partition: 0, offset: -3 }] }))).toBe(ErrorCode.INVALID_REQUEST.code)
    expect(await codeOf(member.ask(GroupRequest.syncGroup, { memberId: 'member-impostor', generation: 1 }))).toBe(ErrorCode.UNKNOWN_MEMBER_ID.code)
    expect(await codeOf(member.ask(GroupRequest.joinGroup, { ...joinRequest(''), assignors: ['magic'] }))).toBe(ErrorCode.INCONSISTENT_GROUP_PROTOCOL.code)
    expect(await codeOf(member.ask(GroupRequest.joinGroup, { ...joinRequest(''), sessionTimeoutMs: 1 }))).toBe(ErrorCode.INVALID_SESSION_TIMEOUT.code)
    expect(await codeOf((node as SkeinNode).actors.ask(brokerActorId('b1'), BrokerRequest.findCoordinator, { groupId: '' }, { timeoutMs: ASK_TIMEOUT_MS }))).toBe(ErrorCode.INVALID_GROUP_ID.code)
    expect(await codeOf(member.ask('deleteEverything', {}))).toBe(ErrorCode.INVALID_REQUEST.code)

    expect(await member.ask<DescribeGroupResponse>(GroupRequest.describeGroup, {})).toEqual(before)
  }, 60_000)

  it('heartbeatHeldByTheCoordinator_isAnsweredAtOnce_whenARebalanceStarts', async () => {
    const [node] = await nodes.startCluster(['h1'], { broker: BROKER })
    const first = new TestMember(() => node as SkeinNode, 'held')
    const second = new TestMember(() => node as SkeinNode, 'held')
    const joined = await first.ask<JoinGroupResponse>(GroupRequest.joinGroup, joinRequest(''))
    await first.ask(GroupRequest.syncGroup, { memberId: joined.memberId, generation: 1, assignments: [{ memberId: joined.memberId, partitions: [] }] })
    const held = codeOf(first.ask(GroupRequest.heartbeat, { memberId: joined.memberId, generation: 1, waitMs: 8_000 }))
    // A second member joining starts a rebalance: the held heartbeat says so at once (held to
    // the end it would be answered with no error).
    void second.ask(GroupRequest.joinGroup, joinRequest('')).catch(() => undefined)
    expect(await held).toBe(ErrorCode.REBALANCE_IN_PROGRESS.code)
  }, 60_000)

  it('offsetsOfADeletedTopic_areRemoved_othersKept', async () => {
    const [node] = await nodes.startCluster(['d1'], { broker: { ...BROKER, offsetsCleanupIntervalMs: 300 } })
    const member = new TestMember(() => node as SkeinNode, 'cleaner')
    const broker = async (kind: string, payload: object): Promise<unknown> => {
      for (let attempt = 0; ; attempt++) {
        try {
          return await (node as SkeinNode).actors.ask(brokerActorId('d1'), kind, payload, { timeoutMs: ASK_TIMEOUT_MS })
        } catch (error) {
          // The metadata quorum elects its first leader just after start.
          if (!(error instanceof SkeinError) || !error.retriable || attempt > 100) throw error
          await new Promise((resolve) => setTimeout(resolve, RETRY_PAUSE_MS))
        }
      }
    }
    await broker(BrokerRequest.createTopic, { name: 'doomed', partitions: 1, replicationFactor: 1 })
    await broker(BrokerRequest.createTopic, { name: 'kept', partitions: 1, replicationFactor: 1 })
    await member.ask(GroupRequest.commitOffsets, { memberId: '', generation: -1, offsets: [{ topic: 'doomed', partition: 0, offset: 3 }, { topic: 'kept', partition: 0, offset: 4 }] })
    await broker(BrokerRequest.deleteTopic, { name: 'doomed' })
    const deadline = Date.now() + 30_000
    let offsets: FetchOffsetsResponse['offsets'] = []
    while (Date.now() < deadline) {
      offsets = (await member.ask<FetchOffsetsResponse>(GroupRequest.fetchOffsets, {})).offsets
      if (offsets.length === 1) break
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    expect(offsets).toMatchObject([{ topic: 'kept', partition: 0, offset: 4 }])
  }, 60_000)
})

