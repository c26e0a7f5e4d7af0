import type { DescribeGroupResponse, NodeDescription, TopicDescription } from '../wire/index.js'
import { GROUP_ID_CHARS_MAX } from '../wire/broker-protocol.js'
import { type ClientContext, requireNonNegativeInteger, requirePositiveInteger } from './client.js'
import { invalidArgument } from './errors.js'

export interface CreateTopicOptions {
  name: string
  partitions: number
  replicationFactor: number
  /** Kafka config names: retention.ms, retention.bytes, max.message.bytes, segment.bytes, flush, ... */
  configs?: Readonly<Record<string, string | number>>
  /** Resolve only once every partition has a leader (so produce works at once). Default true. */
  waitForLeaders?: boolean
}

export interface ClusterPartition {
  readonly topic: string
  readonly partition: number
  /** Undefined while the partition elects a leader. */
  readonly leader: string | undefined
  readonly leaderEpoch: number
  readonly replicas: readonly string[]
}

export interface ClusterDescription {
  /** The nodes the answering node's metadata lists. */
  readonly nodes: readonly NodeDescription[]
  /** The node leading the metadata quorum, if known. */
  readonly controller: string | undefined
  /** Every partition of every topic, with its leader as last known. */
  readonly partitions: readonly ClusterPartition[]
  /** Version of the metadata the answer reflects. */
  readonly metadataVersion: number
}

export interface GroupListing {
  readonly groupId: string
  readonly state: DescribeGroupResponse['state']
  readonly members: number
}

/** One partition a group reads or has read: where it is, where the log ends, and who owns it now. */
export interface GroupPartitionLag {
  readonly topic: string
  readonly partition: number
  /** The committed offset (the next record the group reads); undefined if none was committed. */
  readonly committedOffset: number | undefined
  /** The partition's high watermark: the offset the next record will get. */
  readonly endOffset: number
  /** Records between the committed offset and the end (the whole log when nothing is committed). */
  readonly lag: number
  /** The member assigned the partition in the current generation, if any. */
  readonly memberId: string | undefined
}

export interface GroupDescription extends DescribeGroupResponse {
  /** Every partition assigned or with a committed offset, in (topic, partition) order. */
  readonly partitions: readonly GroupPartitionLag[]
}

/** Where reset-offsets moves a group: an offset, the first record at or after a timestamp (ms), or either end. */
export type OffsetResetTarget = number | 'earliest' | 'latest' | { timestamp: number }

export interface ResetOffsetsOptions {
  groupId: string
  topic: string
  to: OffsetResetTarget
  /** Only these partitions; default every partition of the topic. */
  partitions?: readonly number[]
}

/** listOffsets timestamps with special meaning, as in Kafka. */
const LATEST_TIMESTAMP = -1
const EARLIEST_TIMESTAMP = -2

/** Topic names the cluster accepts (the broker checks too; this fails early with a clearer message). */
const TOPIC_NAME_PATTERN = /^[a-zA-Z0-9._-]{1,249}$/

/**
 * Topic and cluster administration. Each method is one BrokerClient call (retried by it until
 * its deadline) under the Client's timeout guard; admin keeps no state of its own.
 */
export class Admin {
  constructor(private readonly context: ClientContext) {}

  async createTopic(options: CreateTopicOptions): Promise<TopicDescription> {
    validateCreateTopic(options)
    const { name, partitions, replicationFactor, configs } = options
    const request = configs === undefined ? { name, partitions, replicationFactor } : { name, partitions, replicationFactor, configs }
    await this.context.call(`createTopic '${name}'`, (broker) => broker.createTopic(request))
    if (options.waitForLeaders === false) return this.describeTopic(name)
    return this.context.call(`waiting for leaders of '${name}'`, (broker) => broker.waitForLeaders(name))
  }

  async deleteTopic(name: string): Promise<void> {
    validateTopicName(name)
    await this.context.call(`deleteTopic '${name}'`, (broker) => broker.deleteTopic(name))
  }

  listTopics(): Promise<string[]> {
    return this.context.call('listTopics', (broker) => broker.listTopics())
  }

  describeTopic(name: string): Promise<TopicDescription> {
    validateTopicName(name)
    return this.context.call(`describeTopic '${name}'`, (broker) => broker.describeTopic(name))
  }

  /** Grows `topic` to `totalCount` partitions (more than now; partitions are never removed). */
  async addPartitions(options: { topic: string; totalCount: number }): Promise<void> {
    validateTopicName(options?.topic)
    requirePositiveInteger('totalCount', options.totalCount)
    await this.context.call(`addPartitions '${options.topic}'`, (broker) => broker.addPartitions({ name: options.topic, totalCount: options.totalCount }))
  }

  /** Members, metadata leader and partition leaders, from one metadata answer. */
  async describeCluster(): Promise<ClusterDescription> {
    const metadata = await this.context.call('describeCluster', (broker) => broker.metadata())
    const partitions = metadata.topics.flatMap((topic) =>
      topic.partitions.map((p) => ({ topic: topic.name, partition: p.partition, leader: p.leader, leaderEpoch: p.leaderEpoch, replicas: p.replicas })),
    )
    return { nodes: metadata.nodes, controller: metadata.controller, partitions, metadataVersion: metadata.version }
  }

  /** Every consumer group with members or committed offsets, by id. */
  listGroups(): Promise<GroupListing[]> {
    return this.context.call('listGroups', (broker) => broker.listGroups())
  }

  /**
   * A group's state, members and assignments, and per partition its committed offset, the
   * log's end and the lag between them. GROUP_ID_NOT_FOUND for a group with neither members
   * nor offsets.
   */
  async describeGroup(groupId: string): Promise<GroupDescription> {
    validateGroupId(groupId)
    const described = await this.context.call(`describeGroup '${groupId}'`, (broker) => broker.describeGroup(groupId))
    const owners = new Map<string, string>()
    for (const member of described.members) for (const tp of member.assignment) owners.set(`${tp.topic}/${tp.partition}`, member.memberId)
    const committed = new Map(described.offsets.map((entry) => [`${entry.topic}/${entry.partition}`, entry.offset]))
    const keys = [...new Set([...owners.keys(), ...committed.keys()])]
    const partitions = await Promise.all(keys.map(async (key) => {
      const slash = key.lastIndexOf('/')
      const topic = key.slice(0, slash)
      const partition = Number(key.slice(slash + 1))
      const end = await this.context.call(`listOffsets ${key}`, (broker) => broker.listOffsets(topic, partition, LATEST_TIMESTAMP))
      const committedOffset = committed.get(key)
      const start = committedOffset ?? (await this.context.call(`listOffsets ${key}`, (broker) => broker.listOffsets(topic, partition, EARLIEST_TIMESTAMP))).offset
      return { topic, partition, committedOffset, endOffset: end.offset, lag: Math.max(0, end.offset - start), memberId: owners.get(key) }
    }))
    partitions.sort((a, b) => (a.topic === b.topic ? a.partition - b.partition : a.topic < b.topic ? -1 : 1))
    return { ...described, partitions }
  }

  /**
   * Moves a group's committed offsets on `topic` (all partitions, or those named) to an
   * offset, a time, or either end of each log. The group must have no members (NON_EMPTY_GROUP
   * otherwise): its consumers would overwrite the reset with their next commit. Returns the
   * offsets committed.
   */
  async resetOffsets(options: ResetOffsetsOptions): Promise<{ topic: string; partition: number; offset: number }[]> {
    if (typeof options !== 'object' || options === null) throw invalidArgument('resetOffsets needs { groupId, topic, to }')
    validateGroupId(options.groupId)
    validateTopicName(options.topic)
    const { groupId, topic, to } = options
    const timestamp = to === 'earliest' ? EARLIEST_TIMESTAMP : to === 'latest' ? LATEST_TIMESTAMP : typeof to === 'object' && to !== null ? to.timestamp : undefined
    if (typeof to === 'number') requireNonNegativeInteger('to', to)
    else if (timestamp === undefined || !Number.isSafeInteger(timestamp) || timestamp < EARLIEST_TIMESTAMP) throw invalidArgument(`to must be an offset, 'earliest', 'latest' or { timestamp }, got ${JSON.stringify(to)}`)
    const count = await this.context.partitionCount(topic)
    const partitions = options.partitions ?? Array.from({ length: count }, (_, partition) => partition)
    for (const partition of partitions) {
      requireNonNegativeInteger('partition', partition)
      if (partition >= count) throw invalidArgument(`topic '${topic}' has ${count} partitions; partition ${partition} does not exist`)
    }
    const offsets = await Promise.all(partitions.map(async (partition) => {
      if (typeof to === 'number') return { topic, partition, offset: to }
      const found = await this.context.call(`listOffsets ${topic}/${partition}`, (broker) => broker.listOffsets(topic, partition, timestamp as number))
      // A timestamp past every record: the end of the log, as Kafka resets.
      const offset = found.offset >= 0 ? found.offset : (await this.context.call(`listOffsets ${topic}/${partition}`, (broker) => broker.listOffsets(topic, partition, LATEST_TIMESTAMP))).offset
      return { topic, partition, offset }
    }))
    await this.context.call(`commitOffsets '${groupId}'`, (broker) => broker.commitOffsets({ groupId, memberId: '', generation: -1, offsets }))
    return offsets
  }
}

/** Group ids as the coordinator takes them: 1 to 255 characters, none a control character. */
export function validateGroupId(groupId: unknown): asserts groupId is string {
  // eslint-disable-next-line no-control-regex
  if (typeof groupId !== 'string' || groupId.length === 0 || groupId.length > GROUP_ID_CHARS_MAX || /[\u0000-\u001f\u007f]/.test(groupId)) {
    throw invalidArgument(`group id must be 1 to ${GROUP_ID_CHARS_MAX} characters without control characters, got ${JSON.stringify(groupId)}`)
  }
}

function validateTopicName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || !TOPIC_NAME_PATTERN.test(name) || name === '.' || name === '..') {
    throw invalidArgument(`topic name must be 1 to 249 of [a-zA-Z0-9._-] (not "." or ".."), got ${JSON.stringify(name)}`)
  }
}

function validateCreateTopic(options: CreateTopicOptions): void {
  if (typeof options !== 'object' || options === null) throw invalidArgument('createTopic needs { name, partitions, replicationFactor }')
  validateTopicName(options.name)
  requirePositiveInteger('partitions', options.partitions)
  requirePositiveInteger('replicationFactor', options.replicationFactor)
  if (options.configs !== undefined && (typeof options.configs !== 'object' || options.configs === null)) throw invalidArgument('configs must be an object of name -> value')
}

export { validateTopicName }
