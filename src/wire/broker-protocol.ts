/**
 * The broker's request protocol over actor messages: which actor answers what, and the shape
 * of each request and reply. Clients (the SDK, the CLI, tests, benchmarks) and the domain
 * actors both build on this file, so the two sides cannot drift apart.
 *
 *   broker/<node>                   one per node, pinned: metadata, topic admin, status
 *   replica/<topic>/<p>/<node>      one per partition replica, pinned: produce, fetch, offsets
 *   controller/<node>               one per metadata voter, pinned: the metadata Raft group
 *   topic/<topic>                   one per topic, placed by consistent hashing: creates and
 *                                   changes the topic through the metadata controller
 */

export const BROKER_KIND = 'broker'
export const REPLICA_KIND = 'replica'
export const CONTROLLER_KIND = 'controller'
export const TOPIC_KIND = 'topic'
export const DIAG_KIND_PREFIX = 'diag'

export function brokerActorId(nodeId: string): string {
  return `${BROKER_KIND}/${nodeId}`
}

export function controllerActorId(nodeId: string): string {
  return `${CONTROLLER_KIND}/${nodeId}`
}

export function topicActorId(topic: string): string {
  return `${TOPIC_KIND}/${topic}`
}

export function replicaActorId(topic: string, partition: number, nodeId: string): string {
  return `${REPLICA_KIND}/${topic}/${partition}/${nodeId}`
}

export interface ReplicaAddress {
  readonly topic: string
  readonly partition: number
  readonly nodeId: string
}

/** The parts of a replica actor id, or undefined when `actorId` is not one. */
export function parseReplicaActorId(actorId: string): ReplicaAddress | undefined {
  const parts = actorId.split('/')
  if (parts.length !== 4 || parts[0] !== REPLICA_KIND) return undefined
  const partition = Number(parts[2])
  if (!Number.isSafeInteger(partition) || partition < 0) return undefined
  return { topic: parts[1] as string, partition, nodeId: parts[3] as string }
}

/**
 * The node an actor is pinned to by its id (broker, controller, replica and diagnostics
 * actors name their node), or undefined for actors placed by consistent hashing.
 */
export function pinnedNodeOf(actorId: string): string | undefined {
  const slash = actorId.indexOf('/')
  if (slash < 0) return undefined
  const kind = actorId.slice(0, slash)
  if (kind === BROKER_KIND || kind === CONTROLLER_KIND) return actorId.slice(slash + 1)
  if (kind === DIAG_KIND_PREFIX) {
    const end = actorId.indexOf('/', slash + 1)
    return actorId.slice(slash + 1, end < 0 ? undefined : end)
  }
  if (kind === REPLICA_KIND) return actorId.slice(actorId.lastIndexOf('/') + 1)
  return undefined
}

/** Message kinds, one per request. */
export const BrokerRequest = {
  produce: 'produce',
  fetch: 'fetch',
  listOffsets: 'listOffsets',
  metadata: 'metadata',
  createTopic: 'createTopic',
  deleteTopic: 'deleteTopic',
  addPartitions: 'addPartitions',
  listTopics: 'listTopics',
  describeTopic: 'describeTopic',
  replicaStatus: 'replicaStatus',
  initProducerId: 'initProducerId',
} as const

/** acks as Kafka numbers them: 0 none, 1 the leader, -1 all in-sync (here: a Raft majority). */
export type ProduceAcks = 0 | 1 | -1

/** To `replica/<topic>/<p>/<leader>`. */
export interface ProduceRequest {
  /** One or more RecordBatch v2 batches, back to back, as a Kafka producer builds them. */
  readonly records: Uint8Array
  readonly acks: ProduceAcks
  /** The leader epoch the client's metadata names; an older one is refused with FENCED_LEADER_EPOCH. */
  readonly leaderEpoch?: number
}

export interface ProduceResponse {
  readonly baseOffset: number
  readonly lastOffset: number
  /** Append time stamped by the broker for LogAppendTime topics, else -1. */
  readonly logAppendTimeMs: number
  readonly logStartOffset: number
}

/**
 * To `broker/<any node>` (Kafka's InitProducerId for an idempotent producer without a
 * transactional id): a producer id no other producer in the cluster has had or will have,
 * with epoch 0. The producer then numbers its batches per partition from sequence 0
 * (baseSequence in the batch header), and retries of a batch are appended at most once.
 */
export type InitProducerIdRequest = Record<string, never>

export interface InitProducerIdResponse {
  readonly producerId: number
  readonly producerEpoch: number
}

/** To any replica; followers answer NOT_LEADER_OR_FOLLOWER naming the leader. */
export interface FetchRequest {
  readonly offset: number
  readonly maxBytes: number
  /** How long the leader may hold the fetch waiting for new committed records. */
  readonly maxWaitMs?: number
  readonly leaderEpoch?: number
}

export interface FetchResponse {
  /** Whole batches, as stored; may be empty. */
  readonly records: Uint8Array
  readonly highWatermark: number
  readonly logStartOffset: number
}

/** timestamp -1: the latest offset (the high watermark); -2: the earliest; else the first record at or after it. */
export interface ListOffsetsRequest {
  readonly timestamp: number
}

export interface ListOffsetsResponse {
  /** -1 when no record is at or after the timestamp. */
  readonly offset: number
  readonly timestamp: number
}

export interface NodeDescription {
  readonly id: string
  readonly address: string
  readonly zone: string
}

export interface PartitionDescription {
  readonly partition: number
  /** Assigned replicas, preferred leader first. */
  readonly replicas: readonly string[]
  /** The node leading the partition as far as this broker knows; undefined during an election. */
  readonly leader?: string
  readonly leaderEpoch: number
  /** Replicas caught up to the leader's high watermark (describe only). */
  readonly isr?: readonly string[]
  readonly highWatermark?: number
  readonly logStartOffset?: number
}

export interface TopicDescription {
  readonly name: string
  readonly topicId: string
  readonly configs: Readonly<Record<string, string>>
  readonly partitions: readonly PartitionDescription[]
}

/** To `broker/<any node>`. */
export interface MetadataRequest {
  /** Topics to describe; undefined = all. Unknown names are left out of `topics`. */
  readonly topics?: readonly string[]
}

export interface MetadataResponse {
  /** The metadata version the answer reflects (0 before the first change is known). */
  readonly version: number
  readonly nodes: readonly NodeDescription[]
  /** The node leading the metadata quorum, if known. */
  readonly controller?: string
  readonly topics: readonly TopicDescription[]
}

export interface CreateTopicRequest {
  readonly name: string
  readonly partitions: number
  readonly replicationFactor: number
  /** Kafka config names: retention.ms, retention.bytes, flush, flush.ms, max.message.bytes, segment.bytes, message.timestamp.type. */
  readonly configs?: Readonly<Record<string, string | number>>
}

export interface DeleteTopicRequest {
  readonly name: string
}

export interface AddPartitionsRequest {
  readonly name: string
  /** The new total number of partitions (more than now), as Kafka's CreatePartitions takes it. */
  readonly totalCount: number
}

export interface DescribeTopicRequest {
  readonly name: string
}

/** What a replica says of itself (`replicaStatus`), for describe and /status. */
export interface ReplicaStatus {
  readonly topic: string
  readonly partition: number
  readonly nodeId: string
  readonly role: string
  readonly epoch: number
  readonly leader?: string
  readonly highWatermark: number
  readonly logEndOffset: number
  readonly logStartOffset: number
  /** Leader only: each other replica's log end offset. */
  readonly replicaEnds?: Readonly<Record<string, number>>
  /** The Raft group's membership as this replica knows it. */
  readonly voters: readonly string[]
  readonly learners: readonly string[]
}
