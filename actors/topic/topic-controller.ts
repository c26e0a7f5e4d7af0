import type { Actor, ActorContext, Message } from '../../src/actor/index.js'
import {
  type AddPartitionsRequest,
  BrokerRequest,
  type CreateTopicRequest,
  type DeleteTopicRequest,
  INTERNAL_TOPICS,
  type ReplicaStatus,
  replicaActorId,
  TOPIC_KIND,
} from '../../src/wire/broker-protocol.js'
import { ErrorCode, SkeinError, errorSpecFor } from '../../src/wire/index.js'
import { ControllerClient } from '../metadata/controller-client.js'
import { type ApplyOutcome, type ClusterMetadata, type MetadataCommand, PARTITIONS_PER_TOPIC_MAX, metadataFromJson } from '../metadata/state.js'
import { parseTopicConfigs } from '../metadata/topic-configs.js'
import { validateTopicName } from '../metadata/topic-name.js'
import type { NodeServices } from '../services.js'
import { ReplicaControl } from '../partition/replica-actor.js'
import { assignPartitions } from './assignment.js'
import { type LeaderView, type MoveStep, nextMoveStep } from './reassignment.js'

export const TopicControl = {
  /** ask RebalanceRequest: take one step, per partition, of moving replicas off long-dead nodes or back to preferred leaders. */
  rebalance: 'rebalance',
  /**
   * ask CreateTopicRequest: create the offsets topic, the one internal topic brokers create
   * (on the first findCoordinator). Any other name is refused as createTopic refuses it.
   */
  createInternal: 'createInternal',
} as const

export interface RebalanceRequest {
  /** Nodes not alive for longer than replica.reassign.after.ms, as the asking broker has watched them. */
  readonly deadLong: readonly string[]
}

/** How long one partition's replicas may take to answer a status ask during a rebalance. */
const REBALANCE_STATUS_TIMEOUT_MS = 1_000

/** Compare-and-set retries when another change landed between our read and our proposal. */
export const TOPIC_CHANGE_ATTEMPTS_MAX = 5

export interface TopicChangeResult {
  readonly name: string
  readonly topicId: string
  /** Replica sets of every partition after the change. */
  readonly partitions: readonly (readonly string[])[]
  readonly version: number
}

/**
 * The controller of one topic (`topic/<name>`), placed by consistent hashing: it turns admin
 * requests into compare-and-set commands on the cluster metadata, choosing replica sets over
 * the live members. Its mailbox serializes the changes to one topic; the version check
 * serializes them against everything else. It holds no state of its own, so it may move
 * between nodes freely.
 */
export class TopicControllerActor implements Actor {
  private readonly topic: string
  private readonly controller: ControllerClient

  constructor(
    private readonly context: ActorContext,
    private readonly services: NodeServices,
  ) {
    this.topic = context.self.slice(TOPIC_KIND.length + 1)
    this.controller = new ControllerClient(context, services)
  }

  receive(message: Message): unknown {
    switch (message.kind) {
      case BrokerRequest.createTopic:
        return this.create(message.payload as CreateTopicRequest)
      case TopicControl.createInternal:
        return this.create(message.payload as CreateTopicRequest, INTERNAL_TOPICS.has(String((message.payload as CreateTopicRequest | null)?.name)))
      case BrokerRequest.deleteTopic:
        return this.delete(message.payload as DeleteTopicRequest)
      case BrokerRequest.addPartitions:
        return this.addPartitions(message.payload as AddPartitionsRequest)
      case TopicControl.rebalance:
        return this.rebalance(message.payload as RebalanceRequest)
      default:
        throw new SkeinError(ErrorCode.INVALID_REQUEST, `a topic controller does not handle '${message.kind}'`)
    }
  }

  private async create(request: CreateTopicRequest, internal = false): Promise<TopicChangeResult> {
    const name = validateTopicName(request?.name, { internal })
    this.checkName(name)
    const partitions = request.partitions
    if (!Number.isSafeInteger(partitions) || partitions < 1 || partitions > PARTITIONS_PER_TOPIC_MAX) {
      throw new SkeinError(ErrorCode.INVALID_PARTITIONS, `partitions must be 1..${PARTITIONS_PER_TOPIC_MAX}, got ${String(partitions)}`)
    }
    const configs = parseTopicConfigs(request.configs ?? {})
    const topicId = hex(this.context.env.random.bytes(16))
    return this.change((metadata) => {
      if (metadata.topics.has(name)) throw new SkeinError(ErrorCode.TOPIC_ALREADY_EXISTS, `topic '${name}' already exists`)
      const assignment = assignPartitions(topicId, 0, partitions, request.replicationFactor, this.services.liveMembers(), metadata)
      return { op: 'createTopic', expectedVersion: metadata.version, name, topicId, configs, partitions: assignment }
    })
  }

  private async delete(request: DeleteTopicRequest): Promise<TopicChangeResult> {
    const name = validateTopicName(request?.name)
    this.checkName(name)
    return this.change((metadata) => {
      if (!metadata.topics.has(name)) throw new SkeinError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `topic '${name}' does not exist`)
      return { op: 'deleteTopic', expectedVersion: metadata.version, name }
    })
  }

  private async addPartitions(request: AddPartitionsRequest): Promise<TopicChangeResult> {
    const name = validateTopicName(request?.name)
    this.checkName(name)
    return this.change((metadata) => {
      const topic = metadata.topics.get(name)
      if (topic === undefined) throw new SkeinError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `topic '${name}' does not exist`)
      const total = request.totalCount
      const current = topic.partitions.length
      if (!Number.isSafeInteger(total) || total <= current || total > PARTITIONS_PER_TOPIC_MAX) {
        throw new SkeinError(ErrorCode.INVALID_PARTITIONS, `topic '${name}' has ${current} partitions; the new count must be ${current + 1}..${PARTITIONS_PER_TOPIC_MAX}, got ${String(total)}`)
      }
      const replicationFactor = topic.replicationFactor
      const added = assignPartitions(topic.topicId, current, total - current, replicationFactor, this.services.liveMembers(), metadata)
      return { op: 'addPartitions', expectedVersion: metadata.version, name, partitions: added }
    })
  }

  /** One step per partition (see nextMoveStep); answers the steps taken, for logs and tests. */
  private async rebalance(request: RebalanceRequest): Promise<string[]> {
    const deadLong = new Set(Array.isArray(request?.deadLong) ? request.deadLong : [])
    const snapshot = await this.controller.read(-1, 0)
    const topic = metadataFromJson(snapshot.metadata).topics.get(this.topic)
    if (topic === undefined) return []
    const live = this.services.liveMembers()
    const taken: string[] = []
    for (const [partition, replicas] of topic.partitions.entries()) {
      const view = await this.leaderView(partition, replicas)
      if (view === undefined) continue
      const step = nextMoveStep({ partitionKey: `${topic.topicId}/${partition}`, replicas, replicationFactor: topic.replicationFactor, live, deadLong, view })
      if (step === undefined) continue
      try {
        await this.apply(partition, replicas, view.leader, step)
        taken.push(`${partition}:${step.kind}`)
        this.context.log.info({ partition, step }, 'rebalance step')
      } catch (error) {
        this.context.log.info({ partition, step: step.kind, error: String(error) }, 'rebalance step not taken; retried next round')
      }
    }
    return taken
  }

  private async leaderView(partition: number, replicas: readonly string[]): Promise<LeaderView | undefined> {
    const statusOf = (nodeId: string): Promise<ReplicaStatus | undefined> =>
      this.context.ask<ReplicaStatus>(replicaActorId(this.topic, partition, nodeId), BrokerRequest.replicaStatus, null, { timeoutMs: REBALANCE_STATUS_TIMEOUT_MS }).catch(() => undefined)
    const statuses = await Promise.all(replicas.map(statusOf))
    // The leader may be a member the list no longer names (a move being undone): the listed
    // replicas name it, and it is asked too, so the stray can still be removed.
    const named = new Set(statuses.map((status) => status?.leader).filter((id): id is string => id !== undefined && !replicas.includes(id)))
    statuses.push(...(await Promise.all([...named].map(statusOf))))
    let leader: ReplicaStatus | undefined
    for (const status of statuses) if (status?.role === 'leader' && (leader === undefined || status.epoch > leader.epoch)) leader = status
    if (leader === undefined) return undefined
    return { leader: leader.nodeId, voters: leader.voters, learners: leader.learners, ends: leader.replicaEnds ?? {}, highWatermark: leader.highWatermark }
  }

  private async apply(partition: number, decidedOn: readonly string[], leader: string, step: MoveStep): Promise<void> {
    const leaderReplica = replicaActorId(this.topic, partition, leader)
    switch (step.kind) {
      case 'addReplica':
      case 'dropReplica':
        await this.change((metadata) => {
          const current = metadata.topics.get(this.topic)?.partitions[partition]
          if (current === undefined) throw new SkeinError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `${this.topic}/${partition} is gone`)
          // Decided on a list that has changed since: decide again next round.
          if (current.join(',') !== decidedOn.join(',')) throw new SkeinError(ErrorCode.METADATA_VERSION_MISMATCH, `${this.topic}/${partition} replicas changed`)
          return { op: 'setReplicas', expectedVersion: metadata.version, name: this.topic, partition, replicas: [...step.replicas] }
        })
        return
      case 'addLearner':
      case 'promote':
      case 'removeVoter':
      case 'removeLearner':
        await this.context.ask(leaderReplica, ReplicaControl.changeMembership, { voters: step.voters, learners: step.learners }, { timeoutMs: REBALANCE_STATUS_TIMEOUT_MS * 2 })
        return
      case 'preferLeader':
        await this.context.ask(leaderReplica, ReplicaControl.transferLeadership, { target: step.target }, { timeoutMs: REBALANCE_STATUS_TIMEOUT_MS * 2 })
        return
    }
  }

  private checkName(name: string): void {
    if (name !== this.topic) throw new SkeinError(ErrorCode.INVALID_REQUEST, `topic controller ${this.context.self} was asked about '${name}'`)
  }

  /** Read, decide, compare-and-set; again on a version mismatch. */
  private async change(decide: (metadata: ClusterMetadata) => MetadataCommand): Promise<TopicChangeResult> {
    let lastOutcome: ApplyOutcome | undefined
    for (let attempt = 0; attempt < TOPIC_CHANGE_ATTEMPTS_MAX; attempt++) {
      const snapshot = await this.controller.read(-1, 0)
      const command = decide(metadataFromJson(snapshot.metadata))
      const outcome = await this.controller.propose(command)
      lastOutcome = outcome
      if (outcome.ok) {
        const after = await this.controller.read(outcome.version - 1, 0)
        const topic = metadataFromJson(after.metadata).topics.get(this.topic)
        this.context.log.info({ op: command.op, version: outcome.version }, 'topic changed')
        return { name: this.topic, topicId: topic?.topicId ?? '', partitions: topic?.partitions ?? [], version: outcome.version }
      }
      if (outcome.code !== ErrorCode.METADATA_VERSION_MISMATCH.code) throw new SkeinError(errorSpecFor(outcome.code), outcome.message)
    }
    throw new SkeinError(ErrorCode.METADATA_VERSION_MISMATCH, `the metadata kept changing under ${TOPIC_CHANGE_ATTEMPTS_MAX} attempts: ${lastOutcome?.ok === false ? lastOutcome.message : ''}`)
  }
}

function hex(bytes: Uint8Array): string {
  let text = ''
  for (const byte of bytes) text += byte.toString(16).padStart(2, '0')
  return text
}

