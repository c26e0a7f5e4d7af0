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
 *   coordinator/<p>/<node>          group coordinator of the groups whose id hashes to partition p
 *                                   of the offsets topic, pinned to that partition's leader node
 *   txn/<p>/<node>                  transaction coordinator of the transactional ids hashing to
 *                                   partition p of the transaction-state topic, on its leader node
 */

export const BROKER_KIND = 'broker'
export const REPLICA_KIND = 'replica'
export const CONTROLLER_KIND = 'controller'
export const TOPIC_KIND = 'topic'
export const COORDINATOR_KIND = 'coordinator'
export const TXN_COORDINATOR_KIND = 'txn'
export const DIAG_KIND_PREFIX = 'diag'
/** `kafka/<node>`: one per node, pinned; says where the node's Kafka listener is (src/kafka/endpoint-actor.ts). */
export const KAFKA_ENDPOINT_KIND = 'kafka'

/**
 * The internal topic holding consumer groups' state and committed offsets (Kafka's name, so
 * Kafka tools recognise it). The coordinator of a group is the leader of its partition.
 */
export const OFFSETS_TOPIC = '__consumer_offsets'

/**
 * The internal topic holding each transactional id's producer id, epoch and transaction state
 * (Kafka's name). The transaction coordinator of an id is the leader of its partition, found
 * with the same hash as a group's (offsetsPartitionFor).
 */
export const TXN_STATE_TOPIC = '__transaction_state'

/** The internal topics: created by the cluster on first use, shown as internal to Kafka clients. */
export const INTERNAL_TOPICS: ReadonlySet<string> = new Set([OFFSETS_TOPIC, TXN_STATE_TOPIC])

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

/** The coordinator actor for the groups of offsets-topic partition `partition`, on the node leading it. */
export function coordinatorActorId(partition: number, nodeId: string): string {
  return `${COORDINATOR_KIND}/${partition}/${nodeId}`
}

/** The transaction coordinator actor for the transactional ids of transaction-state partition `partition`, on the node leading it. */
export function txnCoordinatorActorId(partition: number, nodeId: string): string {
  return `${TXN_COORDINATOR_KIND}/${partition}/${nodeId}`
}

/**
 * The offsets-topic partition a group's state lives in: Java's String.hashCode of the group
 * id, made non-negative as Kafka's Utils.abs does, modulo the partition count. Kafka's rule,
 * so a group lands on the same partition number as it would in Kafka.
 */
export function offsetsPartitionFor(groupId: string, partitionCount: number): number {
  let hash = 0
  for (let i = 0; i < groupId.length; i++) hash = (Math.imul(hash, 31) + groupId.charCodeAt(i)) | 0
  const positive = hash === -2147483648 ? 0 : Math.abs(hash)
  return positive % partitionCount
}

/** Longest group id accepted; ids are 1 to this many characters, none of them control characters. */
export const GROUP_ID_CHARS_MAX = 255

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
  if (kind === BROKER_KIND || kind === CONTROLLER_KIND || kind === KAFKA_ENDPOINT_KIND) return actorId.slice(slash + 1)
  if (kind === DIAG_KIND_PREFIX) {
    const end = actorId.indexOf('/', slash + 1)
    return actorId.slice(slash + 1, end < 0 ? undefined : end)
  }
  if (kind === REPLICA_KIND || kind === COORDINATOR_KIND || kind === TXN_COORDINATOR_KIND) return actorId.slice(actorId.lastIndexOf('/') + 1)
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
  findCoordinator: 'findCoordinator',
  describeConfigs: 'describeConfigs',
  /** To the leader replica of a partition, from a transaction coordinator (WriteTxnMarkersRequest). */
  writeTxnMarker: 'writeTxnMarker',
} as const

/** Message kinds a group coordinator (`coordinator/<p>/<node>`) answers; every payload names its groupId. */
export const GroupRequest = {
  joinGroup: 'joinGroup',
  syncGroup: 'syncGroup',
  heartbeat: 'heartbeat',
  leaveGroup: 'leaveGroup',
  commitOffsets: 'commitOffsets',
  fetchOffsets: 'fetchOffsets',
  describeGroup: 'describeGroup',
  listGroups: 'listGroups',
  /** From a transactional producer: offsets that take effect when its transaction commits. */
  txnOffsetCommit: 'txnOffsetCommit',
  /** From a transaction coordinator: a transaction that committed offsets here is over (WriteTxnMarkersRequest for a group). */
  txnMarker: 'txnMarker',
} as const

/**
 * Message kinds a transaction coordinator (`txn/<p>/<node>`) answers; every payload names its
 * transactionalId. Found with findCoordinator { transactionalId }. Like a group coordinator, one
 * that no longer leads its partition answers NOT_COORDINATOR (find it again), and
 * CONCURRENT_TRANSACTIONS (retriable) while the id's previous commit or abort is being written.
 */
export const TxnRequest = {
  initProducerId: 'initProducerId',
  addPartitions: 'addPartitions',
  addOffsets: 'addOffsets',
  endTxn: 'endTxn',
  /** The transaction's state as the coordinator has committed it (DescribeTransactions). */
  describeTxn: 'describeTxn',
  /** From a group coordinator: is this group part of the producer's open transaction? (TxnOffsetCommit's check). */
  verifyGroup: 'verifyGroup',
  /**
   * From this node's broker, told while its replica leads the partition: load the partition's
   * state now (finishing the commits and aborts it has decided, timing out open transactions)
   * rather than at the first producer request, which may never come. No payload; no answer.
   */
  ensureLoaded: 'ensureLoaded',
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

/**
 * Kafka's isolation level. read_uncommitted (the default) reads up to the high watermark;
 * read_committed reads below the last stable offset, and its answer lists the aborted
 * transactions of the range, whose batches the reader drops (src/log/read-committed.ts).
 */
export type FetchIsolation = 'read_uncommitted' | 'read_committed'

/** An aborted transaction overlapping a read_committed fetch's range (Kafka's FetchResponse AbortedTransaction). */
export interface FetchAbortedTransaction {
  readonly producerId: number
  readonly firstOffset: number
}

/** To any replica; followers answer NOT_LEADER_OR_FOLLOWER naming the leader. */
export interface FetchRequest {
  readonly offset: number
  readonly maxBytes: number
  /** How long the leader may hold the fetch waiting for new committed records. */
  readonly maxWaitMs?: number
  /**
   * Kafka's fetch.min.bytes: the leader holds the fetch (up to maxWaitMs) until at least this
   * many bytes of committed batches are there. Default 1: answer as soon as anything is.
   */
  readonly minBytes?: number
  readonly leaderEpoch?: number
  /** Default read_uncommitted. */
  readonly isolation?: FetchIsolation
}

export interface FetchResponse {
  /** Whole batches, as stored; may be empty. */
  readonly records: Uint8Array
  readonly highWatermark: number
  /** Kafka's last stable offset: below it every transaction has its outcome committed (the high watermark when none is open). */
  readonly lastStableOffset: number
  readonly logStartOffset: number
  /** read_committed only: the aborted transactions overlapping the returned batches. */
  readonly abortedTransactions?: readonly FetchAbortedTransaction[]
}

/**
 * timestamp -1: the latest offset (the high watermark); -2: the earliest; else the first record
 * at or after it. Under read_committed the last stable offset stands in for the high watermark,
 * as in Kafka: -1 answers it, and a timestamp finds only records below it.
 */
export interface ListOffsetsRequest {
  readonly timestamp: number
  /** Default read_uncommitted. */
  readonly isolation?: FetchIsolation
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

/** One config as a node describes it (Kafka's DescribeConfigs), by its Kafka name. */
export interface ConfigEntryDescription {
  readonly name: string
  readonly value: string
  /** True when nothing configured it: the value is skein's built-in default. */
  readonly isDefault: boolean
}

/** To `broker/<node>`: the configs that node applies, as Kafka names them. */
export type DescribeConfigsRequest = Record<string, never>

export interface DescribeConfigsResponse {
  /**
   * Every topic config skein honours, with the value a topic created without it gets. The
   * metadata keeps a topic's configs with these filled in, so a topic config equal to its
   * default is told apart from one set at creation only by comparing with them.
   */
  readonly topicDefaults: Readonly<Record<string, string>>
  /** This node's settings that are Kafka broker configs (same name, same meaning). */
  readonly broker: readonly ConfigEntryDescription[]
}

// ---- consumer groups ----
//
// A consumer finds its group's coordinator (findCoordinator, any broker), then sends every
// group request to it. A coordinator that no longer leads its offsets partition answers
// NOT_COORDINATOR, one still reading its partition COORDINATOR_LOAD_IN_PROGRESS (both
// retriable: find it again). The membership protocol is Kafka's classic one (see
// actors/group/group-core.ts): join, then sync for the assignment, then heartbeat; the
// member the join answer names leader computes the assignment and sends it in its sync.

export interface TopicPartitionRef {
  readonly topic: string
  readonly partition: number
}

/**
 * To `broker/<any node>`: names either a group (its group coordinator) or a transactional id
 * (its transaction coordinator). Creates the internal topic on first use.
 */
export type FindCoordinatorRequest = { readonly groupId: string; readonly transactionalId?: undefined } | { readonly transactionalId: string; readonly groupId?: undefined }

export interface FindCoordinatorResponse {
  /** Echoed: whichever key the request named. */
  readonly groupId?: string
  readonly transactionalId?: string
  /** The partition of the offsets topic (a group) or the transaction-state topic (a transactional id) holding the key. */
  readonly partition: number
  readonly nodeId: string
  readonly address: string
}

export type GroupAssignorName = 'range' | 'roundrobin' | 'cooperative-sticky'

export interface JoinGroupRequest {
  readonly groupId: string
  /** '' for a member joining for the first time; the answer gives it its id. */
  readonly memberId: string
  /** Static membership: a restarted member with the same instance id takes its old place without a rebalance. */
  readonly groupInstanceId?: string
  readonly sessionTimeoutMs: number
  /** How long a rebalance waits for this member to rejoin (Kafka's max.poll.interval.ms). */
  readonly rebalanceTimeoutMs: number
  /** Assignors this member can run, preferred first. */
  readonly assignors: readonly GroupAssignorName[]
  readonly topics: readonly string[]
  /** Partitions it owns now (cooperative-sticky keeps them where it can). */
  readonly owned: readonly TopicPartitionRef[]
}

export interface GroupMemberSubscription {
  readonly memberId: string
  readonly topics: readonly string[]
  readonly owned: readonly TopicPartitionRef[]
}

export interface JoinGroupResponse {
  readonly memberId: string
  readonly generation: number
  readonly leaderId: string
  readonly assignor: GroupAssignorName
  /** Every member's subscription, for the leader only (empty for the others). */
  readonly members: readonly GroupMemberSubscription[]
}

export interface SyncGroupRequest {
  readonly groupId: string
  readonly memberId: string
  readonly generation: number
  /** From the leader: each member's partitions. Others send none. */
  readonly assignments?: readonly { readonly memberId: string; readonly partitions: readonly TopicPartitionRef[] }[]
}

export interface SyncGroupResponse {
  /** This member's partitions in the generation. */
  readonly assignment: readonly TopicPartitionRef[]
}

export interface HeartbeatRequest {
  readonly groupId: string
  readonly memberId: string
  readonly generation: number
  /**
   * The coordinator may hold the heartbeat this long (at most HEARTBEAT_WAIT_MS_MAX) and
   * answers it early, with REBALANCE_IN_PROGRESS, the moment a rebalance starts: members
   * learn of a rebalance within a round trip instead of at their next heartbeat.
   */
  readonly waitMs?: number
}

export const HEARTBEAT_WAIT_MS_MAX = 10_000

export interface LeaveGroupRequest {
  readonly groupId: string
  readonly memberId: string
}

export interface OffsetCommitEntry extends TopicPartitionRef {
  /** The next offset to read (last processed + 1). */
  readonly offset: number
  readonly metadata?: string
}

/**
 * A member commits under its generation for partitions it owns; memberId '' with generation
 * -1 commits for a group with no members (assign()-only consumers, offset resets).
 */
export interface CommitOffsetsRequest {
  readonly groupId: string
  readonly memberId: string
  readonly generation: number
  readonly offsets: readonly OffsetCommitEntry[]
}

export interface FetchOffsetsRequest {
  readonly groupId: string
  /** Undefined: every partition the group has an offset for. */
  readonly partitions?: readonly TopicPartitionRef[]
}

export interface CommittedOffsetEntry extends TopicPartitionRef {
  readonly offset: number
  readonly metadata: string
  readonly commitTimestampMs: number
}

export interface FetchOffsetsResponse {
  /** Partitions without a committed offset are left out. */
  readonly offsets: readonly CommittedOffsetEntry[]
}

export interface DescribeGroupRequest {
  readonly groupId: string
}

export interface GroupMemberDescription {
  readonly memberId: string
  readonly groupInstanceId?: string
  readonly topics: readonly string[]
  readonly assignment: readonly TopicPartitionRef[]
}

export interface DescribeGroupResponse {
  readonly groupId: string
  readonly state: 'empty' | 'preparingRebalance' | 'completingRebalance' | 'stable'
  readonly generation: number
  readonly leaderId?: string
  readonly assignor?: GroupAssignorName
  readonly members: readonly GroupMemberDescription[]
  readonly offsets: readonly CommittedOffsetEntry[]
}

/** To a coordinator: the groups it holds (members or committed offsets). */
export type ListGroupsRequest = Record<string, never>

export interface ListGroupsResponse {
  readonly groups: readonly { readonly groupId: string; readonly state: DescribeGroupResponse['state']; readonly members: number }[]
}

// ---- transactions ----
//
// A transactional producer finds its transaction coordinator (findCoordinator { transactionalId }),
// takes its producer id and epoch from it (initProducerId: a new epoch fences every older
// instance with the same id, and aborts the transaction it left open), then per transaction:
// addPartitions before its first batch to a partition, addOffsets (to the transaction
// coordinator) then txnOffsetCommit (to the group's coordinator) to commit consumed offsets in
// the transaction, and endTxn to commit or abort. Batches are produced as usual with the
// transactional attribute set. The coordinator's rules: actors/txn/txn-core.ts.

/** Largest producer epoch (Kafka's is an int16). */
export const PRODUCER_EPOCH_MAX = 0x7fff
/** Longest transactional id, in characters: room for Kafka Streams' `<application.id>-<uuid>-<n>` ids. */
export const TRANSACTIONAL_ID_CHARS_MAX = 1_024
/**
 * Most partitions one transaction may touch (Kafka has no limit). Bounds the coordinator's
 * memory per id and the record: 1,000 partitions of 249-character topics is ~260 KiB of JSON.
 */
export const TXN_PARTITIONS_MAX = 1_000
/** Most consumer groups whose offsets one transaction may commit (Kafka has no limit; one is usual). */
export const TXN_GROUPS_MAX = 100

/** To `txn/<p>/<node>`. */
export interface TxnInitProducerIdRequest {
  readonly transactionalId: string
  /** Aborted by the coordinator if open longer than this (at most its transaction.max.timeout.ms). */
  readonly transactionTimeoutMs: number
}

/** The producer id and epoch a transactional request names. */
export interface TxnProducerRef {
  readonly transactionalId: string
  readonly producerId: number
  readonly producerEpoch: number
}

export interface TxnAddPartitionsRequest extends TxnProducerRef {
  readonly partitions: readonly TopicPartitionRef[]
}

export interface TxnAddOffsetsRequest extends TxnProducerRef {
  readonly groupId: string
}

export interface EndTxnRequest extends TxnProducerRef {
  /** True commits, false aborts. */
  readonly commit: boolean
}

export interface DescribeTxnRequest {
  readonly transactionalId: string
}

export interface DescribeTxnResponse {
  readonly transactionalId: string
  readonly producerId: number
  readonly producerEpoch: number
  readonly timeoutMs: number
  /** Kafka's state names: Empty, Ongoing, PrepareCommit, PrepareAbort, CompleteCommit, CompleteAbort. */
  readonly state: string
  readonly partitions: readonly TopicPartitionRef[]
  readonly groups: readonly string[]
  /** When the open transaction began, or -1. */
  readonly txnStartMs: number
}

/** To `txn/<p>/<node>`, from a group coordinator; answers {} or INVALID_TXN_STATE / PRODUCER_FENCED / INVALID_PRODUCER_ID_MAPPING. */
export interface VerifyGroupRequest extends TxnProducerRef {
  readonly groupId: string
}

/**
 * To the group's coordinator: offsets committed in the producer's transaction. The group must
 * have been added to the transaction (addOffsets) first, else INVALID_TXN_STATE. They are
 * invisible (fetchOffsets answers UNSTABLE_OFFSET_COMMIT for their partitions) until the
 * transaction ends, then take effect on commit or vanish on abort. memberId/generation, when
 * given, fence a member that lost its partitions in a rebalance, as for commitOffsets (KIP-447).
 */
export interface TxnOffsetCommitRequest extends TxnProducerRef {
  readonly groupId: string
  readonly memberId?: string
  readonly generation?: number
  readonly offsets: readonly OffsetCommitEntry[]
}

/** To `coordinator/<p>/<node>` from a transaction coordinator: the producer's transaction ended. */
export interface TxnMarkerRequest {
  readonly groupId: string
  readonly producerId: number
  readonly producerEpoch: number
  readonly commit: boolean
  readonly coordinatorEpoch: number
}

/** To `replica/<topic>/<p>/<leader>` from a transaction coordinator: write the COMMIT or ABORT marker (acks=all). */
export interface WriteTxnMarkerRequest {
  readonly producerId: number
  readonly producerEpoch: number
  readonly commit: boolean
  readonly coordinatorEpoch: number
}
