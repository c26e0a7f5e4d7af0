import {
  type FetchOffsetsResponse,
  GroupRequest,
  type JoinGroupResponse as NativeJoinGroupResponse,
  type SyncGroupResponse as NativeSyncGroupResponse,
  coordinatorActorId,
} from '../../wire/index.js'
import { decodeAssignment, decodeSubscriptionTopics, encodeAssignment, encodeSubscription } from '../consumer-protocol.js'
import type { HeartbeatRequest, HeartbeatResponse } from '../messages/heartbeat.js'
import type { JoinGroupRequest, JoinGroupResponse } from '../messages/join-group.js'
import type { LeaveGroupRequest, LeaveGroupResponse } from '../messages/leave-group.js'
import type { OffsetCommitRequest, OffsetCommitResponse } from '../messages/offset-commit.js'
import type { OffsetFetchRequest, OffsetFetchResponse } from '../messages/offset-fetch.js'
import type { SyncGroupRequest, SyncGroupResponse } from '../messages/sync-group.js'
import { type CoordinatorKind, CoordinatorRouter, GATEWAY_ADMIN_TIMEOUT_MS, GATEWAY_ASK_TIMEOUT_MS, type GatewayNode, kafkaErrorCode } from './gateway.js'

/**
 * The Kafka group APIs on skein's group coordinator actors (`coordinator/<p>/<node>`), the
 * ones the native SDK's groups use: same members, generations and committed offsets, so a
 * group can move between the two. The coordinator keeps subscriptions and assignments as
 * topic lists; the consumer-protocol bytes are translated at this edge (consumer-protocol.ts).
 * Every member is joined with the native 'roundrobin' assignor name: the Kafka group leader
 * runs its own assignor client-side and the coordinator only carries the result.
 */

const GROUP_COORDINATORS: CoordinatorKind = { findRequest: (groupId) => ({ groupId }), actorIdOf: (found) => coordinatorActorId(found.partition, found.nodeId) }

export class GroupGateway {
  private readonly coordinators: CoordinatorRouter

  constructor(node: GatewayNode) {
    this.coordinators = new CoordinatorRouter(node, GROUP_COORDINATORS)
  }

  async join(request: JoinGroupRequest): Promise<JoinGroupResponse> {
    const failed = (errorCode: number): JoinGroupResponse => ({ throttleTimeMs: 0, errorCode, generationId: -1, protocolName: '', leader: '', memberId: request.memberId, members: [] })
    const protocol = request.protocols[0]
    if (request.protocolType !== 'consumer' || protocol === undefined) return failed(23) // INCONSISTENT_GROUP_PROTOCOL
    try {
      const topics = decodeSubscriptionTopics(protocol.metadata)
      const rebalanceTimeoutMs = request.rebalanceTimeoutMs > 0 ? request.rebalanceTimeoutMs : request.sessionTimeoutMs
      const payload = {
        groupId: request.groupId,
        memberId: request.memberId,
        ...(request.groupInstanceId === null ? {} : { groupInstanceId: request.groupInstanceId }),
        sessionTimeoutMs: request.sessionTimeoutMs,
        rebalanceTimeoutMs,
        assignors: ['roundrobin'],
        topics,
        owned: [],
      }
      const answer = await this.askCoordinator<NativeJoinGroupResponse>(request.groupId, GroupRequest.joinGroup, payload, rebalanceTimeoutMs + GATEWAY_ASK_TIMEOUT_MS)
      const members = answer.members.map((m) => ({ memberId: m.memberId, groupInstanceId: null, metadata: encodeSubscription(m.topics) }))
      return { throttleTimeMs: 0, errorCode: 0, generationId: answer.generation, protocolName: protocol.name, leader: answer.leaderId, memberId: answer.memberId, members }
    } catch (err) {
      return failed(kafkaErrorCode(err))
    }
  }

  async sync(request: SyncGroupRequest): Promise<SyncGroupResponse> {
    try {
      const assignments = request.assignments.map((a) => ({ memberId: a.memberId, partitions: decodeAssignment(a.assignment) }))
      const payload = { groupId: request.groupId, memberId: request.memberId, generation: request.generationId, ...(assignments.length > 0 ? { assignments } : {}) }
      const answer = await this.askCoordinator<NativeSyncGroupResponse>(request.groupId, GroupRequest.syncGroup, payload, GATEWAY_ADMIN_TIMEOUT_MS * 2)
      return { throttleTimeMs: 0, errorCode: 0, assignment: encodeAssignment(answer.assignment) }
    } catch (err) {
      return { throttleTimeMs: 0, errorCode: kafkaErrorCode(err), assignment: new Uint8Array(0) }
    }
  }

  async heartbeat(request: HeartbeatRequest): Promise<HeartbeatResponse> {
    try {
      await this.askCoordinator(request.groupId, GroupRequest.heartbeat, { groupId: request.groupId, memberId: request.memberId, generation: request.generationId }, GATEWAY_ASK_TIMEOUT_MS)
      return { throttleTimeMs: 0, errorCode: 0 }
    } catch (err) {
      return { throttleTimeMs: 0, errorCode: kafkaErrorCode(err) }
    }
  }

  async leave(request: LeaveGroupRequest, apiVersion: number): Promise<LeaveGroupResponse> {
    const memberIds = apiVersion >= 3 ? request.members.map((m) => m.memberId) : [request.memberId]
    const results = await Promise.all(
      memberIds.map(async (memberId) => {
        try {
          await this.askCoordinator(request.groupId, GroupRequest.leaveGroup, { groupId: request.groupId, memberId }, GATEWAY_ASK_TIMEOUT_MS)
          return { memberId, groupInstanceId: null, errorCode: 0 }
        } catch (err) {
          return { memberId, groupInstanceId: null, errorCode: kafkaErrorCode(err) }
        }
      }),
    )
    const errorCode = apiVersion >= 3 ? 0 : (results[0]?.errorCode ?? 0)
    return { throttleTimeMs: 0, errorCode, members: results }
  }

  async commit(request: OffsetCommitRequest): Promise<OffsetCommitResponse> {
    const offsets = request.topics.flatMap((t) =>
      t.partitions.map((p) => ({ topic: t.name, partition: p.partitionIndex, offset: Number(p.committedOffset), ...(p.committedMetadata === null ? {} : { metadata: p.committedMetadata }) })),
    )
    let errorCode = 0
    try {
      await this.askCoordinator(request.groupId, GroupRequest.commitOffsets, { groupId: request.groupId, memberId: request.memberId, generation: request.generationId, offsets }, GATEWAY_ASK_TIMEOUT_MS)
    } catch (err) {
      errorCode = kafkaErrorCode(err)
    }
    const topics = request.topics.map((t) => ({ name: t.name, partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode })) }))
    return { throttleTimeMs: 0, topics }
  }

  async fetchOffsets(request: OffsetFetchRequest): Promise<OffsetFetchResponse> {
    const partitions = request.topics === null ? undefined : request.topics.flatMap((t) => t.partitionIndexes.map((partition) => ({ topic: t.name, partition })))
    try {
      const answer = await this.askCoordinator<FetchOffsetsResponse>(request.groupId, GroupRequest.fetchOffsets, { groupId: request.groupId, ...(partitions === undefined ? {} : { partitions }) }, GATEWAY_ASK_TIMEOUT_MS)
      const committed = new Map(answer.offsets.map((o) => [`${o.topic}/${o.partition}`, o]))
      const wanted = partitions ?? answer.offsets.map((o) => ({ topic: o.topic, partition: o.partition }))
      const byTopic = new Map<string, OffsetFetchResponse['topics'][number]['partitions'][number][]>()
      for (const { topic, partition } of wanted) {
        const entry = committed.get(`${topic}/${partition}`)
        const list = byTopic.get(topic) ?? []
        list.push({ partitionIndex: partition, committedOffset: BigInt(entry?.offset ?? -1), committedLeaderEpoch: -1, metadata: entry?.metadata ?? '', errorCode: 0 })
        byTopic.set(topic, list)
      }
      return { throttleTimeMs: 0, topics: [...byTopic].map(([name, list]) => ({ name, partitions: list })), errorCode: 0 }
    } catch (err) {
      return { throttleTimeMs: 0, topics: [], errorCode: kafkaErrorCode(err) }
    }
  }

  /** Asks the group's coordinator (the member APIs here, DescribeGroups in admin.ts, TxnOffsetCommit in transactions.ts). */
  askCoordinator<T>(groupId: string, kind: string, payload: unknown, timeoutMs: number): Promise<T> {
    return this.coordinators.ask<T>(groupId, kind, payload, timeoutMs)
  }
}
