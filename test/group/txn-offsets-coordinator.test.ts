import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { GroupCoordinatorActor } from '../../actors/group/coordinator.js'
import type { NodeServices } from '../../actors/services.js'
import type { ActorContext } from '../../src/actor/index.js'
import { type Env, silentLogger } from '../../src/env/index.js'
import type { SkeinNode } from '../../src/node.js'
import { BrokerRequest, TxnRequest, type DescribeGroupResponse, type FetchOffsetsResponse, type FindCoordinatorResponse, GroupRequest, type JoinGroupResponse, type ListGroupsResponse, type VerifyGroupRequest, coordinatorActorId } from '../../src/wire/broker-protocol.js'
import { ErrorCode, SkeinError } from '../../src/wire/index.js'
import { ASK_TIMEOUT_MS, BROKER, TestMember, codeOf, coordinatorNodes, joinRequest } from './coordinator-harness.js'

// Transactional offset commits at the group coordinator, in a real in-process cluster: held
// pending (reads of their partitions refused as unstable) until the transaction coordinator's
// marker commits or aborts them, kept across a coordinator failover. The transaction
// coordinator is stood in for by replacing the coordinator's verifyTxnGroup.

const nodes = coordinatorNodes('skein-txn-group')
const UNSTABLE = ErrorCode.UNSTABLE_OFFSET_COMMIT.code
const PRODUCER = { transactionalId: 'tx-orders', producerId: 7, producerEpoch: 0 }
let verified: VerifyGroupRequest[]

beforeEach(() => {
  verified = []
  vi.spyOn(GroupCoordinatorActor.prototype, 'verifyTxnGroup').mockImplementation(async (request) => {
    verified.push(request)
  })
})

afterEach(async () => {
  vi.restoreAllMocks()
  await nodes.cleanup()
})

function offsets(...entries: [number, number][]) {
  return entries.map(([partition, offset]) => ({ topic: 'orders', partition, offset }))
}

async function fetched(member: TestMember, partitions?: { topic: string; partition: number }[]): Promise<unknown[]> {
  const answer = await member.ask<FetchOffsetsResponse>(GroupRequest.fetchOffsets, partitions === undefined ? {} : { partitions }, UNSTABLE)
  return answer.offsets.map(({ topic, partition, offset }) => ({ topic, partition, offset })).sort((a, b) => a.partition - b.partition)
}

async function singleNode(groupId: string): Promise<TestMember> {
  const [node] = await nodes.startCluster(['t1'], { broker: BROKER })
  const member = new TestMember(() => node as SkeinNode, groupId)
  await member.ask(GroupRequest.commitOffsets, { memberId: '', generation: -1, offsets: offsets([0, 5]) })
  return member
}

describe('transactional offsets at the group coordinator', () => {
  it('txnOffsetCommit_isUnstableUntilTheCommitMarker_thenTakesEffect', async () => {
    const member = await singleNode('txn-commit')
    await member.ask(GroupRequest.txnOffsetCommit, { ...PRODUCER, offsets: offsets([0, 10], [1, 3]) })
    expect(verified).toEqual([{ ...PRODUCER, groupId: 'txn-commit' }])
    expect(await codeOf(fetched(member))).toBe(UNSTABLE)
    expect(await codeOf(fetched(member, [{ topic: 'orders', partition: 1 }]))).toBe(UNSTABLE)
    expect(await fetched(member, [{ topic: 'orders', partition: 2 }])).toEqual([])
    // A later commit in the same transaction overwrites its partition.
    await member.ask(GroupRequest.txnOffsetCommit, { ...PRODUCER, offsets: offsets([0, 12]) })
    // describeGroup shows what is committed, pending offsets not.
    expect((await member.ask<DescribeGroupResponse>(GroupRequest.describeGroup, {})).offsets).toMatchObject(offsets([0, 5]))

    await member.ask(GroupRequest.txnMarker, { groupId: 'txn-commit', producerId: 7, producerEpoch: 0, commit: true, coordinatorEpoch: 1 })
    expect(await fetched(member)).toEqual(offsets([0, 12], [1, 3]))
    // A marker re-sent (say, after the transaction coordinator failed over) changes nothing.
    await member.ask(GroupRequest.txnMarker, { groupId: 'txn-commit', producerId: 7, producerEpoch: 0, commit: false, coordinatorEpoch: 1 })
    expect(await fetched(member)).toEqual(offsets([0, 12], [1, 3]))
  }, 60_000)

  it('abortMarker_dropsThePendingOffsets_earlierCommitsRemain', async () => {
    const member = await singleNode('txn-abort')
    await member.ask(GroupRequest.txnOffsetCommit, { ...PRODUCER, offsets: offsets([0, 10], [1, 3]) })
    await member.ask(GroupRequest.txnMarker, { groupId: 'txn-abort', producerId: 7, producerEpoch: 0, commit: false, coordinatorEpoch: 1 })
    expect(await fetched(member)).toEqual(offsets([0, 5]))
  }, 60_000)

  it('verifierRefusal_isPassedThroughWithItsCode_andNothingIsPending', async () => {
    const member = await singleNode('txn-refused')
    vi.mocked(GroupCoordinatorActor.prototype.verifyTxnGroup).mockRejectedValueOnce(new SkeinError(ErrorCode.INVALID_TXN_STATE, 'group txn-refused is not in the transaction'))
    expect(await codeOf(member.ask(GroupRequest.txnOffsetCommit, { ...PRODUCER, offsets: offsets([0, 10]) }))).toBe(ErrorCode.INVALID_TXN_STATE.code)
    expect(await fetched(member)).toEqual(offsets([0, 5]))
  }, 60_000)

  it('higherPendingEpoch_fencesOlderCommits_andIgnoresStaleMarkers', async () => {
    const member = await singleNode('txn-fenced')
    await member.ask(GroupRequest.txnOffsetCommit, { ...PRODUCER, producerEpoch: 3, offsets: offsets([0, 10]) })
    expect(await codeOf(member.ask(GroupRequest.txnOffsetCommit, { ...PRODUCER, producerEpoch: 2, offsets: offsets([0, 11]) }))).toBe(ErrorCode.PRODUCER_FENCED.code)
    // A marker of the older epoch is stale: answered, and the epoch-3 offsets stay pending.
    await member.ask(GroupRequest.txnMarker, { groupId: 'txn-fenced', producerId: 7, producerEpoch: 2, commit: true, coordinatorEpoch: 1 })
    expect(await codeOf(fetched(member))).toBe(UNSTABLE)
    await member.ask(GroupRequest.txnMarker, { groupId: 'txn-fenced', producerId: 7, producerEpoch: 3, commit: true, coordinatorEpoch: 1 })
    expect(await fetched(member)).toEqual(offsets([0, 10]))
  }, 60_000)

  it('pendingOffsets_surviveCoordinatorFailover_andCommitThere', async () => {
    const started = await nodes.startCluster(['f1', 'f2', 'f3'], { broker: BROKER })
    let via = started[0] as SkeinNode
    const member = new TestMember(() => via, 'txn-failover')
    await member.ask(GroupRequest.commitOffsets, { memberId: '', generation: -1, offsets: offsets([0, 5]) })
    await member.ask(GroupRequest.txnOffsetCommit, { ...PRODUCER, offsets: offsets([0, 10], [1, 3]) })
    const coordinatorNode = (member.coordinator as FindCoordinatorResponse).nodeId
    const victim = started.find((node) => node.config.nodeId === coordinatorNode) as SkeinNode
    via = started.find((node) => node !== victim) as SkeinNode
    await victim.stop()
    member.coordinator = undefined

    // The new coordinator replayed the txnoffset record: still unstable, and listed.
    expect(await codeOf(fetched(member))).toBe(UNSTABLE)
    expect((member.coordinator as FindCoordinatorResponse | undefined)?.nodeId).not.toBe(coordinatorNode)
    const coordinator = member.coordinator as unknown as FindCoordinatorResponse
    const listed = await via.actors.ask<ListGroupsResponse>(coordinatorActorId(coordinator.partition, coordinator.nodeId), GroupRequest.listGroups, {}, { timeoutMs: ASK_TIMEOUT_MS })
    expect(listed.groups.map((group) => group.groupId)).toContain('txn-failover')
    await member.ask(GroupRequest.txnMarker, { groupId: 'txn-failover', producerId: 7, producerEpoch: 0, commit: true, coordinatorEpoch: 1 })
    expect(await fetched(member)).toEqual(offsets([0, 10], [1, 3]))
  }, 120_000)

  it('markerArrivingWhileACommitIsVerified_waitsForIt_andSettlesItsOffsets', async () => {
    const member = await singleNode('txn-race')
    let release: () => void = () => undefined
    vi.mocked(GroupCoordinatorActor.prototype.verifyTxnGroup).mockImplementationOnce(async (request) => {
      verified.push(request)
      await new Promise<void>((resolve) => (release = resolve))
    })
    const committing = member.ask(GroupRequest.txnOffsetCommit, { ...PRODUCER, offsets: offsets([0, 10]) })
    while (verified.length === 0) await new Promise((resolve) => setTimeout(resolve, 10))
    // The transaction coordinator ends the transaction (say, it timed out) while the commit is being verified.
    const marking = member.ask(GroupRequest.txnMarker, { producerId: 7, producerEpoch: 0, commit: false, coordinatorEpoch: 1 })
    await new Promise((resolve) => setTimeout(resolve, 100))
    release()
    await committing
    await marking
    // Had the marker not waited, it would have found nothing pending and the commit's offsets
    // would stay pending (unstable) for good.
    expect(await fetched(member)).toEqual(offsets([0, 5]))
  }, 60_000)

  it('badInput_getsStableCodes_andTheCoordinatorKeepsServing', async () => {
    const member = await singleNode('txn-strict')
    const bad = async (payload: object): Promise<number | undefined> => codeOf(member.ask(GroupRequest.txnOffsetCommit, { ...PRODUCER, offsets: offsets([0, 10]), ...payload }))
    const INVALID = ErrorCode.INVALID_REQUEST.code
    expect(await bad({ producerId: -1 })).toBe(INVALID)
    expect(await bad({ producerId: 'seven' })).toBe(INVALID)
    expect(await bad({ producerId: 2 ** 60 })).toBe(INVALID)
    expect(await bad({ producerEpoch: 40_000 })).toBe(INVALID)
    expect(await bad({ producerEpoch: 1.5 })).toBe(INVALID)
    expect(await bad({ transactionalId: '' })).toBe(INVALID)
    expect(await bad({ transactionalId: 'x'.repeat(1025) })).toBe(INVALID)
    expect(await bad({ offsets: [] })).toBe(INVALID)
    expect(await bad({ offsets: 'all of them' })).toBe(INVALID)
    expect(await bad({ offsets: offsets([0, -1]) })).toBe(INVALID)
    expect(await bad({ offsets: offsets([0, 1], [0, 2]) })).toBe(INVALID)
    expect(await bad({ offsets: [{ topic: '', partition: 0, offset: 1 }] })).toBe(INVALID)
    expect(await bad({ groupId: '' })).toBe(ErrorCode.INVALID_GROUP_ID.code)
    const marker = async (payload: object): Promise<number | undefined> => codeOf(member.ask(GroupRequest.txnMarker, { producerId: 7, producerEpoch: 0, commit: true, coordinatorEpoch: 1, ...payload }))
    expect(await marker({ producerId: -2 })).toBe(INVALID)
    expect(await marker({ producerEpoch: 'new' })).toBe(INVALID)
    expect(await marker({ commit: 'yes' })).toBe(INVALID)
    expect(verified).toEqual([])

    // A member naming itself is fenced by its generation and assignment (KIP-447).
    const joined = await member.ask<JoinGroupResponse>(GroupRequest.joinGroup, joinRequest(''))
    await member.ask(GroupRequest.syncGroup, { memberId: joined.memberId, generation: 1, assignments: [{ memberId: joined.memberId, partitions: [{ topic: 'orders', partition: 0 }] }] })
    expect(await bad({ memberId: joined.memberId, generation: 0 })).toBe(ErrorCode.ILLEGAL_GENERATION.code)
    expect(await bad({ memberId: 'member-impostor', generation: 1 })).toBe(ErrorCode.UNKNOWN_MEMBER_ID.code)
    expect(await bad({ memberId: joined.memberId, generation: 1, offsets: offsets([1, 10]) })).toBe(ErrorCode.PARTITION_NOT_ASSIGNED.code)
    expect(await fetched(member)).toEqual(offsets([0, 5]))

    await member.ask(GroupRequest.txnOffsetCommit, { ...PRODUCER, memberId: joined.memberId, generation: 1, offsets: offsets([0, 10]) })
    await member.ask(GroupRequest.txnMarker, { producerId: 7, producerEpoch: 0, commit: true, coordinatorEpoch: 1 })
    expect(await fetched(member)).toEqual(offsets([0, 10]))
  }, 60_000)
})

describe('verifyTxnGroup, the check with the transaction coordinator', () => {
  function actorAsking(answer: (to: string, kind: string, payload: unknown) => unknown): { actor: GroupCoordinatorActor; asks: unknown[][] } {
    const asks: unknown[][] = []
    const context = {
      self: 'coordinator/0/n1',
      nodeId: 'n1',
      env: { clock: { nowMs: () => 0 } } as unknown as Env,
      log: silentLogger,
      tell: () => true,
      ask: async (to: string, kind: string, payload: unknown, options?: { timeoutMs?: number }) => {
        asks.push([to, kind, payload, options?.timeoutMs])
        return answer(to, kind, payload)
      },
    } as ActorContext
    return { actor: new GroupCoordinatorActor(context, {} as NodeServices), asks }
  }
  const request = { ...PRODUCER, groupId: 'g' }

  it('findsTheTransactionCoordinatorThroughTheBroker_thenAsksIt', async () => {
    vi.restoreAllMocks()
    const { actor, asks } = actorAsking((to) => (to === 'broker/n1' ? { transactionalId: 'tx-orders', partition: 4, nodeId: 'n2', address: '' } : {}))
    await actor.verifyTxnGroup(request)
    expect(asks).toEqual([
      ['broker/n1', BrokerRequest.findCoordinator, { transactionalId: 'tx-orders' }, 5_000],
      ['txn/4/n2', TxnRequest.verifyGroup, request, 5_000],
    ])
  })

  it('passesTheTransactionCoordinatorsErrorThroughUnchanged', async () => {
    vi.restoreAllMocks()
    const fenced = new SkeinError(ErrorCode.PRODUCER_FENCED, 'epoch 1 is fenced')
    const { actor } = actorAsking((to) => {
      if (to === 'broker/n1') return { partition: 0, nodeId: 'n1', address: '' }
      throw fenced
    })
    await expect(actor.verifyTxnGroup(request)).rejects.toBe(fenced)
  })
})
