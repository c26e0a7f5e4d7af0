import type { Actor, ActorContext, Message } from '../../src/actor/index.js'
import {
  type AddPartitionsRequest,
  BrokerRequest,
  type CreateTopicRequest,
  type DeleteTopicRequest,
  TOPIC_KIND,
} from '../../src/wire/broker-protocol.js'
import { ErrorCode, SkeinError, errorSpecFor } from '../../src/wire/index.js'
import { ControllerClient } from '../metadata/controller-client.js'
import { type ApplyOutcome, type ClusterMetadata, type MetadataCommand, PARTITIONS_PER_TOPIC_MAX, metadataFromJson } from '../metadata/state.js'
import { parseTopicConfigs } from '../metadata/topic-configs.js'
import { validateTopicName } from '../metadata/topic-name.js'
import type { NodeServices } from '../services.js'
import { assignPartitions } from './assignment.js'

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
      case BrokerRequest.deleteTopic:
        return this.delete(message.payload as DeleteTopicRequest)
      case BrokerRequest.addPartitions:
        return this.addPartitions(message.payload as AddPartitionsRequest)
      default:
        throw new SkeinError(ErrorCode.INVALID_REQUEST, `a topic controller does not handle '${message.kind}'`)
    }
  }

  private async create(request: CreateTopicRequest): Promise<TopicChangeResult> {
    const name = validateTopicName(request?.name)
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
      const replicationFactor = topic.partitions[0]?.length ?? 1
      const added = assignPartitions(topic.topicId, current, total - current, replicationFactor, this.services.liveMembers(), metadata)
      return { op: 'addPartitions', expectedVersion: metadata.version, name, partitions: added }
    })
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

