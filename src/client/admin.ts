import type { NodeDescription, TopicDescription } from '../wire/index.js'
import { type ClientContext, requirePositiveInteger } from './client.js'
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
