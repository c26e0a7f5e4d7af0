import { ActorSystem, StaticDirectory } from '../actor/index.js'
import { type Env, jittered } from '../env/index.js'
import { DEFAULT_TRANSPORT_LIMITS, Transport } from '../transport/index.js'
import {
  type AddPartitionsRequest,
  BrokerRequest,
  type CommitOffsetsRequest,
  type CreateTopicRequest,
  type DescribeGroupResponse,
  type DescribeTxnResponse,
  type EndTxnRequest,
  ErrorCode,
  type FetchOffsetsRequest,
  type FetchOffsetsResponse,
  type FetchIsolation,
  type FetchResponse,
  type FindCoordinatorResponse,
  GroupRequest,
  type HeartbeatRequest,
  type JoinGroupRequest,
  type JoinGroupResponse,
  type LeaveGroupRequest,
  type ListGroupsResponse,
  type InitProducerIdResponse,
  type ListOffsetsRequest,
  type ListOffsetsResponse,
  type MetadataResponse,
  OFFSETS_TOPIC,
  type ProduceAcks,
  type ProduceResponse,
  SkeinError,
  type SyncGroupRequest,
  type SyncGroupResponse,
  type TopicDescription,
  type TxnAddOffsetsRequest,
  type TxnAddPartitionsRequest,
  type TxnInitProducerIdRequest,
  type TxnOffsetCommitRequest,
  TxnRequest,
  brokerActorId,
  coordinatorActorId,
  pinnedNodeOf,
  replicaActorId,
  txnCoordinatorActorId,
} from '../wire/index.js'

export interface BrokerClientConfig {
  /** "host:port" of any nodes of the cluster; the first that answers is used to learn the rest. */
  seeds: readonly string[]
  clusterId: string
  clusterSecret: string
  /** Names this client in the nodes' logs; a random suffix keeps two clients apart. */
  clientId?: string
  /** Deadline of one request to one node (one attempt). */
  requestTimeoutMs?: number
  /**
   * Deadline of one call, every retry included: metadata refreshes, redirects, elections,
   * failing over to another node; each attempt's own timeout is cut to what is left of it.
   * Past it the call fails with REQUEST_TIMED_OUT (retriable; its `cause` is the last error
   * seen). A long-polling fetch gets its maxWaitMs on top.
   */
  requestDeadlineMs?: number
  /**
   * Retries of a retriable error (not leader, election in progress) before it is thrown.
   * Default 1,000: in practice the call deadline ends a call first, as Kafka's producer
   * retries until delivery.timeout.ms (a count of 20 ran out within 5 to 11 s of a failover
   * that a 30 s deadline was meant to ride out).
   */
  retriesMax?: number
  /** Pause before the first retry; doubled each time up to RETRY_BACKOFF_MS_MAX, then jittered. */
  retryBackoffMs?: number
}

const REQUEST_TIMEOUT_MS_DEFAULT = 10_000
/**
 * Kafka's producer gives a record 120 s (delivery.timeout.ms) and one request 30 s. A skein
 * leader election takes one to two seconds, so 30 s rides out several failovers in a row and
 * still tells the application about a real outage within half a minute.
 */
const REQUEST_DEADLINE_MS_DEFAULT = 30_000
const RETRIES_MAX_DEFAULT = 1_000
/** Retries of UNKNOWN_TOPIC_OR_PARTITION from a node (its metadata may lag a new topic); then it is the answer. */
const UNKNOWN_TOPIC_RETRIES_MAX = 3
const RETRY_BACKOFF_MS_DEFAULT = 50
/** Cap of the retry backoff: a second, like Kafka's retry.backoff.max.ms, so a healed cluster is found quickly. */
const RETRY_BACKOFF_MS_MAX = 1_000
/**
 * Cap of the backoff while a partition has no usable leader (an election is under way): each
 * retry is one small metadata request to a live node, and an election takes one to two
 * seconds, so polling at least every 200 ms finds the new leader within a fifth of a second
 * of it, where the full 1 s cap could add most of a second to every failover.
 */
const LEADER_POLL_BACKOFF_MS_MAX = 200
/** Backoff doubling stops here; 2^20 times any sane first pause is far past the cap. */
const RETRY_ATTEMPTS_COUNTED_MAX = 20
/**
 * Share of each backoff that is random ("equal jitter"): clients that failed at the same
 * moment (a leader died under all of them) do not come back in lockstep.
 */
const RETRY_JITTER_RATIO = 0.5
/**
 * How long a node that failed as a node (its link closed, it could not be dialed, it did not
 * answer in time, it is shutting down) is passed over when choosing whom to ask, and not
 * trusted as a partition's leader: about one leader election, after which a live node's
 * metadata names the new leader.
 */
const FAILED_NODE_AVOID_MS = 2_000
/**
 * Per-attempt timeout of topic administration, which waits for the metadata quorum to commit
 * (and may wait out its election); cut, like every attempt, to what is left of the call deadline.
 */
const ADMIN_REQUEST_TIMEOUT_MS = 30_000
/** waitForLeaders: how long by default, and how often it re-reads metadata meanwhile. */
const WAIT_FOR_LEADERS_MS_DEFAULT = 30_000
const WAIT_FOR_LEADERS_POLL_MS = 100
/**
 * Groups whose coordinator this client remembers; past it the oldest entry is dropped (and
 * found again on its next call). A client is in a handful of groups; a tool listing or
 * describing many stays bounded.
 */
const COORDINATOR_CACHE_ENTRIES_MAX = 1_000
/**
 * Cap of the backoff while a transaction coordinator answers CONCURRENT_TRANSACTIONS: the id's
 * previous commit or abort is being written (one marker round on each of its partitions, tens
 * of ms), so polling at least every 100 ms starts the next transaction soon after it is done,
 * where the full 1 s cap would add most of a second to back-to-back transactions.
 */
const CONCURRENT_TXN_BACKOFF_MS_MAX = 100

/**
 * Which coordinator a request goes to: a group's (`coordinator/<p>/<node>`) or a transactional
 * id's (`txn/<p>/<node>`). Both are found with findCoordinator and live on the leader of their
 * internal topic's partition, so one lookup-and-retry path serves both.
 */
type CoordinatorKey = { readonly type: 'group'; readonly id: string } | { readonly type: 'txn'; readonly id: string }

/** Errors that say something about the node asked, not the request: ask another node next. */
const NODE_FAILURE_CODES: ReadonlySet<number> = new Set([
  ErrorCode.NODE_UNREACHABLE.code,
  ErrorCode.NETWORK_EXCEPTION.code,
  ErrorCode.REQUEST_TIMED_OUT.code,
  ErrorCode.SHUTTING_DOWN.code,
])

interface PartitionRoute {
  leader: string | undefined
  leaderEpoch: number
}

/**
 * A connection to a skein cluster over the node protocol: the request layer the SDK and the
 * CLI build on. It learns the nodes and partition leaders from metadata, sends each request
 * to the node that can answer it, and follows NOT_LEADER redirects, elections and node
 * failures with retries bounded in count and in time (one deadline per call). It joins the
 * cluster's links as a peer that hosts no actors and never gossips.
 */
export class BrokerClient {
  private readonly routes = new Map<string, PartitionRoute>()
  private readonly timeoutMs: number
  private readonly deadlineMs: number
  /** Set by close(): calls still retrying stop at their next pause. */
  private closed = false
  private readonly retriesMax: number
  private readonly backoffMs: number
  private contactNode: string | undefined
  /** Node id -> time (Env clock) until which it is passed over: it just failed as a node. */
  private readonly avoidUntilMs = new Map<string, number>()
  /** `group:<id>` or `txn:<id>` -> its coordinator as last found (findCoordinator); dropped when it fails or moves. */
  private readonly coordinators = new Map<string, { partition: number; nodeId: string }>()

  private constructor(
    private readonly env: Env,
    config: BrokerClientConfig,
    private readonly actors: ActorSystem,
    private readonly transport: Transport,
    /** node id -> "host:port"; also the transport's address book. */
    private readonly addresses: Map<string, string>,
  ) {
    this.timeoutMs = config.requestTimeoutMs ?? REQUEST_TIMEOUT_MS_DEFAULT
    this.deadlineMs = config.requestDeadlineMs ?? REQUEST_DEADLINE_MS_DEFAULT
    this.retriesMax = config.retriesMax ?? RETRIES_MAX_DEFAULT
    this.backoffMs = config.retryBackoffMs ?? RETRY_BACKOFF_MS_DEFAULT
  }

  static async connect(env: Env, config: BrokerClientConfig): Promise<BrokerClient> {
    validateBrokerClientConfig(config)
    const suffix = Array.from(env.random.bytes(6), (byte) => byte.toString(16).padStart(2, '0')).join('')
    const clientId = `client-${config.clientId ?? 'skein'}-${suffix}`
    const addresses = new Map<string, string>()
    const directory = new StaticDirectory((actorId) => pinnedNodeOf(actorId) ?? clientId)
    const actors = new ActorSystem(env, { nodeId: clientId, directory })
    const transport = new Transport(
      env,
      { nodeId: clientId, clusterId: config.clusterId, clusterSecret: config.clusterSecret, listenHost: '127.0.0.1', listenPort: 0, limits: DEFAULT_TRANSPORT_LIMITS },
      { addressOf: (nodeId) => addresses.get(nodeId) },
      {
        onEnvelopes: (from, envelopes) => actors.receiveFromPeer(from, envelopes),
        onUndeliverable: (to, envelopes, error) => actors.undeliverable(to, envelopes, error),
        onPeerDown: (nodeId) => actors.peerDown(nodeId),
        onPeerUnreachable: (nodeId) => actors.peerUnreachable(nodeId),
      },
    )
    actors.attachSender(transport)
    const client = new BrokerClient(env, config, actors, transport, addresses)
    client.contactNode = await client.discoverSeeds(config.seeds)
    return client
  }

  /**
   * Dials every seed at once and resolves with the first node that answers. The others keep
   * going and join the address book as they answer: nodes to fail over to even before the
   * first metadata arrives. Rejects (and closes the client) if no seed answers.
   */
  private async discoverSeeds(seeds: readonly string[]): Promise<string> {
    if (seeds.length === 0) {
      await this.close()
      throw new SkeinError(ErrorCode.NODE_UNREACHABLE, 'no seeds given')
    }
    const discoveries = seeds.map(async (seed) => {
      const nodeId = await this.transport.discover(seed)
      if (!this.addresses.has(nodeId)) this.addresses.set(nodeId, seed)
      return nodeId
    })
    try {
      return await Promise.any(discoveries)
    } catch (error) {
      await this.close()
      const errors = error instanceof AggregateError ? error.errors : [error]
      throw errors[errors.length - 1]
    }
  }

  async close(): Promise<void> {
    this.closed = true
    await this.actors.stop()
    await this.transport.stop()
  }

  /** Cluster metadata from any node; refreshes the client's view of nodes and leaders. */
  metadata(topics?: readonly string[]): Promise<MetadataResponse> {
    return this.refreshMetadata(topics, this.deadlineFor())
  }

  createTopic(request: CreateTopicRequest): Promise<{ name: string; topicId: string; partitions: string[][]; version: number }> {
    return this.askAnyNode(BrokerRequest.createTopic, request, ADMIN_REQUEST_TIMEOUT_MS)
  }

  deleteTopic(name: string): Promise<unknown> {
    return this.askAnyNode(BrokerRequest.deleteTopic, { name }, ADMIN_REQUEST_TIMEOUT_MS)
  }

  addPartitions(request: AddPartitionsRequest): Promise<unknown> {
    return this.askAnyNode(BrokerRequest.addPartitions, request, ADMIN_REQUEST_TIMEOUT_MS)
  }

  listTopics(): Promise<string[]> {
    return this.askAnyNode(BrokerRequest.listTopics, null)
  }

  describeTopic(name: string): Promise<TopicDescription> {
    return this.askAnyNode(BrokerRequest.describeTopic, { name })
  }

  /** Waits until every partition of `topic` has a leader (after createTopic), up to `timeoutMs`. */
  async waitForLeaders(topic: string, timeoutMs = WAIT_FOR_LEADERS_MS_DEFAULT): Promise<TopicDescription> {
    const deadline = this.env.clock.nowMs() + timeoutMs
    for (;;) {
      const response = await this.refreshMetadata([topic], deadline).catch(() => undefined)
      const described = response?.topics.find((t) => t.name === topic)
      if (described !== undefined && described.partitions.every((p) => p.leader !== undefined)) return described
      if (this.env.clock.nowMs() >= deadline) throw new SkeinError(ErrorCode.LEADER_NOT_AVAILABLE, `topic '${topic}' has partitions without a leader after ${timeoutMs} ms`)
      await this.sleep(Math.min(WAIT_FOR_LEADERS_POLL_MS, Math.max(1, deadline - this.env.clock.nowMs())))
    }
  }

  /**
   * A producer id unique in the cluster, with its epoch (0), from any node: an idempotent
   * producer stamps them into each batch header with a per-partition sequence starting at 0,
   * and the partition leader then appends each batch at most once however often it is retried
   * (Kafka's InitProducerId). May wait for a metadata commit when the node's id block is used up.
   */
  initProducerId(): Promise<InitProducerIdResponse> {
    return this.askAnyNode(BrokerRequest.initProducerId, {}, ADMIN_REQUEST_TIMEOUT_MS)
  }

  /**
   * Appends record batches (RecordBatch v2 bytes) to a partition, on its leader. Retriable
   * errors are retried within the call's deadline; for an idempotent producer's batches a
   * retry of a batch the leader (or a former leader) already appended is answered with its
   * original offsets. The producer errors come back as SkeinErrors, none of them retriable:
   * OUT_OF_ORDER_SEQUENCE_NUMBER (a sequence gap, or a new epoch not starting at 0),
   * INVALID_PRODUCER_EPOCH (a newer producer with the same id has written).
   */
  produce(topic: string, partition: number, records: Uint8Array, acks: ProduceAcks = -1, options: { leaderEpoch?: number } = {}): Promise<ProduceResponse> {
    const request = options.leaderEpoch === undefined ? { records, acks } : { records, acks, leaderEpoch: options.leaderEpoch }
    return this.askLeader<ProduceResponse>(topic, partition, BrokerRequest.produce, request)
  }

  /**
   * Committed batches from `offset`, waiting up to `maxWaitMs` until there are `minBytes` of
   * them; read_committed stops at the last stable offset and lists the aborted transactions.
   */
  fetch(topic: string, partition: number, offset: number, maxBytes = 1024 * 1024, maxWaitMs = 0, minBytes = 1, isolation: FetchIsolation = 'read_uncommitted'): Promise<FetchResponse> {
    const base = minBytes > 1 ? { offset, maxBytes, maxWaitMs, minBytes } : { offset, maxBytes, maxWaitMs }
    const request = isolation === 'read_committed' ? { ...base, isolation } : base
    return this.askLeader<FetchResponse>(topic, partition, BrokerRequest.fetch, request, maxWaitMs)
  }

  /** read_committed: 'latest' is the last stable offset, and a time lookup finds only records below it. */
  listOffsets(topic: string, partition: number, timestamp: number, isolation: FetchIsolation = 'read_uncommitted'): Promise<ListOffsetsResponse> {
    const request: ListOffsetsRequest = isolation === 'read_uncommitted' ? { timestamp } : { timestamp, isolation }
    return this.askLeader<ListOffsetsResponse>(topic, partition, BrokerRequest.listOffsets, request)
  }

  /** The leader this client currently routes a partition's requests to. */
  leaderOf(topic: string, partition: number): string | undefined {
    return this.routes.get(`${topic}/${partition}`)?.leader
  }

  // ---- consumer groups ----
  //
  // Every group request goes to the group's coordinator (askCoordinator): found once with
  // findCoordinator and remembered per group; found again after NOT_COORDINATOR,
  // COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE or a node failure, within the
  // call's deadline. The group errors (REBALANCE_IN_PROGRESS, ILLEGAL_GENERATION,
  // UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID, ...) are not retriable: they go to the caller.

  /** The coordinator of `groupId` (any node answers; the first call creates the offsets topic). */
  findCoordinator(groupId: string): Promise<FindCoordinatorResponse> {
    return this.locateCoordinator(groupKey(groupId), this.deadlineFor())
  }

  /** Joins (or rejoins) a group. The coordinator may hold the answer until the rebalance completes, up to the request's rebalance timeout. */
  joinGroup(request: JoinGroupRequest): Promise<JoinGroupResponse> {
    return this.askCoordinator<JoinGroupResponse>(groupKey(request.groupId), GroupRequest.joinGroup, request, request.rebalanceTimeoutMs)
  }

  /** This member's assignment in a generation; a member waits (up to `rebalanceTimeoutMs`) for the leader's. */
  syncGroup(request: SyncGroupRequest, rebalanceTimeoutMs: number): Promise<SyncGroupResponse> {
    return this.askCoordinator<SyncGroupResponse>(groupKey(request.groupId), GroupRequest.syncGroup, request, rebalanceTimeoutMs)
  }

  /** Keeps the member's session; held up to `waitMs` by the coordinator, answered early with REBALANCE_IN_PROGRESS when a rebalance starts. */
  async heartbeat(request: HeartbeatRequest): Promise<void> {
    await this.askCoordinator<unknown>(groupKey(request.groupId), GroupRequest.heartbeat, request, request.waitMs ?? 0)
  }

  async leaveGroup(request: LeaveGroupRequest): Promise<void> {
    await this.askCoordinator<unknown>(groupKey(request.groupId), GroupRequest.leaveGroup, request)
  }

  async commitOffsets(request: CommitOffsetsRequest): Promise<void> {
    await this.askCoordinator<unknown>(groupKey(request.groupId), GroupRequest.commitOffsets, request)
  }

  fetchOffsets(request: FetchOffsetsRequest): Promise<FetchOffsetsResponse> {
    return this.askCoordinator<FetchOffsetsResponse>(groupKey(request.groupId), GroupRequest.fetchOffsets, request)
  }

  describeGroup(groupId: string): Promise<DescribeGroupResponse> {
    return this.askCoordinator<DescribeGroupResponse>(groupKey(groupId), GroupRequest.describeGroup, { groupId })
  }

  /**
   * Every group of the cluster: asks the coordinator on each offsets-topic partition's leader
   * and merges the answers. No offsets topic means no group yet. Partitions without a leader
   * (an election) are left out; a coordinator that keeps failing with a retriable error is
   * asked again (the partition's leader re-read) within the call deadline.
   */
  async listGroups(): Promise<ListGroupsResponse['groups'][number][]> {
    const deadlineAtMs = this.deadlineFor()
    const metadata = await this.refreshMetadata([OFFSETS_TOPIC], deadlineAtMs)
    const offsets = metadata.topics.find((topic) => topic.name === OFFSETS_TOPIC)
    if (offsets === undefined) return []
    const led = offsets.partitions.filter((p) => p.leader !== undefined)
    const answers = await Promise.all(led.map((p) => this.listGroupsOf(p.partition, deadlineAtMs)))
    const merged = new Map<string, ListGroupsResponse['groups'][number]>()
    for (const answer of answers) for (const group of answer.groups) if (!merged.has(group.groupId)) merged.set(group.groupId, group)
    return [...merged.values()].sort((a, b) => (a.groupId < b.groupId ? -1 : a.groupId > b.groupId ? 1 : 0))
  }

  /** The groups of one offsets-topic partition, from the coordinator on its leader. */
  private async listGroupsOf(partition: number, deadlineAtMs: number): Promise<ListGroupsResponse> {
    const kind = GroupRequest.listGroups
    let lastError: unknown
    for (let attempt = 0; attempt <= this.retriesMax; attempt++) {
      const leader = await this.leaderFor(OFFSETS_TOPIC, partition, deadlineAtMs).catch((error: unknown) => {
        if (error instanceof CallDeadlineError) throw this.deadlineExceeded(kind, lastError ?? error.cause)
        lastError = error
        return undefined
      })
      if (leader === undefined) {
        lastError ??= new SkeinError(ErrorCode.COORDINATOR_NOT_AVAILABLE, `${OFFSETS_TOPIC}/${partition} has no known leader`)
        await this.pause(attempt, deadlineAtMs, kind, lastError, LEADER_POLL_BACKOFF_MS_MAX)
        continue
      }
      const options = { timeoutMs: this.attemptTimeoutMs(this.timeoutMs, deadlineAtMs, kind, lastError) }
      try {
        return await this.actors.ask<ListGroupsResponse>(coordinatorActorId(partition, leader), kind, {}, options)
      } catch (error) {
        lastError = error
        if (!(error instanceof SkeinError) || !error.retriable) throw error
        this.nodeFailed(leader, error)
        this.routes.set(`${OFFSETS_TOPIC}/${partition}`, { leader: undefined, leaderEpoch: -1 })
        await this.pause(attempt, deadlineAtMs, kind, lastError)
      }
    }
    throw lastError
  }

  // ---- transactions ----
  //
  // Every transaction request goes to the transactional id's coordinator, by the same path as
  // group requests (askCoordinator): found with findCoordinator { transactionalId }, found
  // again after NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE or a
  // node failure; CONCURRENT_TRANSACTIONS (the previous commit or abort is still being written)
  // is asked again after a short pause; all within the call's deadline. The producer errors
  // (PRODUCER_FENCED, INVALID_PRODUCER_EPOCH, INVALID_PRODUCER_ID_MAPPING, INVALID_TXN_STATE,
  // ...) are not retriable: they go to the caller. txnOffsetCommit goes to the group's
  // coordinator, like a commitOffsets.

  /** The transaction coordinator of `transactionalId` (any node answers; the first call creates the transaction-state topic). */
  findTxnCoordinator(transactionalId: string): Promise<FindCoordinatorResponse> {
    return this.locateCoordinator(txnKey(transactionalId), this.deadlineFor())
  }

  /**
   * The transactional id's producer id with a new epoch: fences every older instance with the
   * same id and aborts the transaction it left open. Like initProducerId, may wait for the
   * coordinator to write, so each attempt has the administration timeout.
   */
  txnInitProducerId(request: TxnInitProducerIdRequest): Promise<InitProducerIdResponse> {
    return this.askCoordinator<InitProducerIdResponse>(txnKey(request.transactionalId), TxnRequest.initProducerId, request, 0, ADMIN_REQUEST_TIMEOUT_MS)
  }

  /** Makes partitions part of the producer's open transaction (opening it): needed before the first batch to each. */
  async txnAddPartitions(request: TxnAddPartitionsRequest): Promise<void> {
    await this.askCoordinator<unknown>(txnKey(request.transactionalId), TxnRequest.addPartitions, request)
  }

  /** Makes a group's offsets part of the open transaction: needed before txnOffsetCommit for that group. */
  async txnAddOffsets(request: TxnAddOffsetsRequest): Promise<void> {
    await this.askCoordinator<unknown>(txnKey(request.transactionalId), TxnRequest.addOffsets, request)
  }

  /** Commits or aborts the open transaction: the coordinator then writes the markers. */
  async txnEndTxn(request: EndTxnRequest): Promise<void> {
    await this.askCoordinator<unknown>(txnKey(request.transactionalId), TxnRequest.endTxn, request)
  }

  /** The transaction state the coordinator has committed for `transactionalId`. */
  txnDescribe(transactionalId: string): Promise<DescribeTxnResponse> {
    return this.askCoordinator<DescribeTxnResponse>(txnKey(transactionalId), TxnRequest.describeTxn, { transactionalId })
  }

  /** Offsets committed in the producer's transaction, to the group's coordinator (after txnAddOffsets for the group). */
  async txnOffsetCommit(request: TxnOffsetCommitRequest): Promise<void> {
    await this.askCoordinator<unknown>(groupKey(request.groupId), GroupRequest.txnOffsetCommit, request)
  }

  /**
   * Sends a request to a group's or a transactional id's coordinator, finding it first if this
   * client does not know it. A retriable failure (not the coordinator any more, still loading,
   * node down) drops what the client knew, pauses (backoff) and finds the coordinator again;
   * CONCURRENT_TRANSACTIONS says nothing of where the coordinator is, so it only pauses
   * (briefly: CONCURRENT_TXN_BACKOFF_MS_MAX) and asks the same one again. `extraWaitMs` is
   * time the coordinator may hold the request (a join, sync or heartbeat), added to each
   * attempt's timeout and to the call's deadline.
   */
  private async askCoordinator<T>(key: CoordinatorKey, kind: string, payload: object, extraWaitMs = 0, attemptTimeoutMs = this.timeoutMs): Promise<T> {
    const timeoutMs = attemptTimeoutMs + extraWaitMs
    const deadlineAtMs = this.deadlineFor(extraWaitMs)
    const cacheKey = coordinatorCacheKey(key)
    let lastError: unknown
    for (let attempt = 0; attempt <= this.retriesMax; attempt++) {
      let coordinator = this.coordinators.get(cacheKey)
      if (coordinator === undefined) {
        try {
          coordinator = await this.locateCoordinator(key, deadlineAtMs)
        } catch (error) {
          if (error instanceof CallDeadlineError) throw this.deadlineExceeded(kind, lastError ?? error.cause)
          throw error // askAnyNode retried what was retriable already
        }
      }
      const options = { timeoutMs: this.attemptTimeoutMs(timeoutMs, deadlineAtMs, kind, lastError) }
      try {
        return await this.actors.ask<T>(coordinatorActorIdOf(key, coordinator), kind, payload, options)
      } catch (error) {
        lastError = error
        if (!(error instanceof SkeinError) || !error.retriable) throw error
        if (error.code === ErrorCode.CONCURRENT_TRANSACTIONS.code) {
          await this.pause(attempt, deadlineAtMs, kind, lastError, CONCURRENT_TXN_BACKOFF_MS_MAX)
          continue
        }
        this.nodeFailed(coordinator.nodeId, error)
        if (this.coordinators.get(cacheKey) === coordinator) this.coordinators.delete(cacheKey)
        await this.pause(attempt, deadlineAtMs, kind, lastError)
      }
    }
    throw lastError
  }

  /** findCoordinator on any node; remembers the answer (and the node's address). */
  private async locateCoordinator(key: CoordinatorKey, deadlineAtMs: number): Promise<FindCoordinatorResponse> {
    const request = key.type === 'group' ? { groupId: key.id } : { transactionalId: key.id }
    const found = await this.askAnyNode<FindCoordinatorResponse>(BrokerRequest.findCoordinator, request, ADMIN_REQUEST_TIMEOUT_MS, deadlineAtMs)
    if (found.address !== '') this.addresses.set(found.nodeId, found.address)
    const cacheKey = coordinatorCacheKey(key)
    this.coordinators.delete(cacheKey) // re-inserted last: the map's order is oldest first
    this.coordinators.set(cacheKey, { partition: found.partition, nodeId: found.nodeId })
    if (this.coordinators.size > COORDINATOR_CACHE_ENTRIES_MAX) this.coordinators.delete(this.coordinators.keys().next().value as string)
    return found
  }

  private async refreshMetadata(topics: readonly string[] | undefined, deadlineAtMs: number): Promise<MetadataResponse> {
    const response = await this.askAnyNode<MetadataResponse>(BrokerRequest.metadata, topics === undefined ? {} : { topics }, this.timeoutMs, deadlineAtMs)
    for (const node of response.nodes) this.addresses.set(node.id, node.address)
    for (const topic of response.topics) {
      for (const partition of topic.partitions) this.routes.set(`${topic.name}/${partition.partition}`, { leader: partition.leader, leaderEpoch: partition.leaderEpoch })
    }
    return response
  }

  private async askAnyNode<T>(kind: string, payload: unknown, timeoutMs = this.timeoutMs, deadlineAtMs = this.deadlineFor()): Promise<T> {
    let lastError: unknown
    const tried = new Set<string>()
    for (let attempt = 0; attempt <= this.retriesMax; attempt++) {
      const nodeId = this.pickNode(tried)
      const options = { timeoutMs: this.attemptTimeoutMs(timeoutMs, deadlineAtMs, kind, lastError) }
      try {
        const answer = await this.actors.ask<T>(brokerActorId(nodeId), kind, payload, options)
        this.nodeAnswered(nodeId)
        return answer
      } catch (error) {
        lastError = error
        if (!(error instanceof SkeinError) || !error.retriable) throw error
        // A node's metadata may lag a topic just created, so an unknown topic is asked again a
        // few times, not until the deadline: a typo must fail fast.
        if (error.code === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION.code && attempt >= UNKNOWN_TOPIC_RETRIES_MAX) throw error
        tried.add(nodeId)
        this.nodeFailed(nodeId, error)
        await this.pause(attempt, deadlineAtMs, kind, lastError)
      }
    }
    throw lastError
  }

  private async askLeader<T>(topic: string, partition: number, kind: string, payload: object, extraWaitMs = 0): Promise<T> {
    const key = `${topic}/${partition}`
    const timeoutMs = this.timeoutMs + extraWaitMs
    const deadlineAtMs = this.deadlineFor(extraWaitMs)
    let lastError: unknown
    for (let attempt = 0; attempt <= this.retriesMax; attempt++) {
      const leader = await this.leaderFor(topic, partition, deadlineAtMs).catch((error: unknown) => {
        // The deadline passed during a metadata refresh: the call is over; tell why it kept failing.
        if (error instanceof CallDeadlineError) throw this.deadlineExceeded(kind, lastError ?? error.cause)
        lastError = error
        return undefined
      })
      if (leader === undefined) {
        lastError ??= new SkeinError(ErrorCode.LEADER_NOT_AVAILABLE, `${key} has no known leader`)
        if (!this.routes.has(key) && attempt > 2) throw new SkeinError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `${key} does not exist`)
        await this.pause(attempt, deadlineAtMs, kind, lastError, LEADER_POLL_BACKOFF_MS_MAX)
        continue
      }
      const options = { timeoutMs: this.attemptTimeoutMs(timeoutMs, deadlineAtMs, kind, lastError) }
      try {
        return await this.actors.ask<T>(replicaActorId(topic, partition, leader), kind, payload, options)
      } catch (error) {
        lastError = error
        if (!(error instanceof SkeinError) || !error.retriable || !this.worthRetrying(error, payload)) throw error
        this.nodeFailed(leader, error)
        if (this.followRedirect(key, leader, error)) continue // go there at once
        this.routes.set(key, { leader: undefined, leaderEpoch: -1 })
        await this.pause(attempt, deadlineAtMs, kind, lastError)
      }
    }
    throw lastError
  }

  /**
   * The leader to send a partition's request to: the known one, else what fresh metadata
   * (from a node that has not just failed) names. Undefined while there is none, or while
   * the one named has just failed as a node: it is probably dead and not yet replaced.
   */
  private async leaderFor(topic: string, partition: number, deadlineAtMs: number): Promise<string | undefined> {
    const key = `${topic}/${partition}`
    const usable = (route: PartitionRoute | undefined): route is PartitionRoute & { leader: string } =>
      route?.leader !== undefined && !this.isAvoided(route.leader)
    const known = this.routes.get(key)
    if (usable(known)) return known.leader
    await this.refreshMetadata([topic], deadlineAtMs)
    const fresh = this.routes.get(key)
    return usable(fresh) ? fresh.leader : undefined
  }

  /** A NOT_LEADER with a hint naming another node: route there. False when there is nothing to follow. */
  private followRedirect(key: string, leader: string, error: SkeinError): boolean {
    const hint = error.leader
    if (hint === undefined || hint.nodeId === leader) return false
    if (hint.address !== undefined) this.addresses.set(hint.nodeId, hint.address)
    this.routes.set(key, { leader: hint.nodeId, leaderEpoch: hint.epoch ?? -1 })
    return true
  }

  /**
   * Resending the same bytes cannot cure a CRC failure, and a request that named a leader
   * epoch was fenced on purpose: both go back to the caller rather than round again.
   */
  private worthRetrying(error: SkeinError, payload: object): boolean {
    if (error.code === ErrorCode.CORRUPT_MESSAGE.code) return false
    if ('leaderEpoch' in payload && (error.code === ErrorCode.FENCED_LEADER_EPOCH.code || error.code === ErrorCode.UNKNOWN_LEADER_EPOCH.code)) return false
    return true
  }

  /**
   * The last node that answered, else a node not tried this call, else one tried already;
   * among each, nodes that have not just failed first. Seeds and metadata both feed the list.
   */
  private pickNode(tried: ReadonlySet<string>): string {
    const candidates = new Set<string>()
    if (this.contactNode !== undefined) candidates.add(this.contactNode)
    for (const nodeId of this.addresses.keys()) candidates.add(nodeId)
    const all = [...candidates]
    if (all.length === 0) throw new Error('no node known: connect() learns at least one')
    const live = all.filter((nodeId) => !this.isAvoided(nodeId))
    const untriedLive = live.find((nodeId) => !tried.has(nodeId))
    if (untriedLive !== undefined) return untriedLive
    if (live.length > 0) return live[tried.size % live.length] as string
    // Every node known has just failed: the one not yet tried this call is still the best bet.
    return all.find((nodeId) => !tried.has(nodeId)) ?? (all[tried.size % all.length] as string)
  }

  private nodeAnswered(nodeId: string): void {
    this.contactNode = nodeId
    this.avoidUntilMs.delete(nodeId)
  }

  /** Notes a failure; one that speaks of the node itself makes it avoided for a while. */
  private nodeFailed(nodeId: string, error: SkeinError): void {
    if (!NODE_FAILURE_CODES.has(error.code)) return
    this.avoidUntilMs.set(nodeId, this.env.clock.nowMs() + FAILED_NODE_AVOID_MS)
    if (this.contactNode === nodeId) this.contactNode = undefined
  }

  private isAvoided(nodeId: string): boolean {
    const untilMs = this.avoidUntilMs.get(nodeId)
    if (untilMs === undefined) return false
    if (untilMs > this.env.clock.nowMs()) return true
    this.avoidUntilMs.delete(nodeId)
    return false
  }

  /** When a call that starts now must be over; `extraWaitMs` is time the caller asked the server to wait. */
  private deadlineFor(extraWaitMs = 0): number {
    return this.env.clock.nowMs() + this.deadlineMs + extraWaitMs
  }

  /** One attempt's deadline: its own, cut to what is left of the call's. Throws if nothing is left. */
  private attemptTimeoutMs(timeoutMs: number, deadlineAtMs: number, kind: string, lastError: unknown): number {
    const leftMs = deadlineAtMs - this.env.clock.nowMs()
    if (leftMs <= 0) throw this.deadlineExceeded(kind, lastError)
    return Math.min(timeoutMs, leftMs)
  }

  /** Capped exponential backoff with equal jitter, never past the call's deadline (throws if that has passed). */
  private async pause(attempt: number, deadlineAtMs: number, kind: string, lastError: unknown, capMs = RETRY_BACKOFF_MS_MAX): Promise<void> {
    // Closed under a call: its attempts fail as SHUTTING_DOWN (retriable), but nothing will
    // ever answer; end the call instead of retrying until its deadline.
    if (this.closed) throw new SkeinError(ErrorCode.INVALID_REQUEST, `'${kind}' abandoned: the client was closed`, { cause: lastError })
    const leftMs = deadlineAtMs - this.env.clock.nowMs()
    if (leftMs <= 0) throw this.deadlineExceeded(kind, lastError)
    const baseMs = Math.min(capMs, this.backoffMs * 2 ** Math.min(attempt, RETRY_ATTEMPTS_COUNTED_MAX))
    await this.sleep(Math.min(leftMs, jittered(this.env.random, baseMs, RETRY_JITTER_RATIO)))
  }

  private deadlineExceeded(kind: string, lastError: unknown): SkeinError {
    const last = lastError instanceof Error ? lastError.message : String(lastError)
    return new CallDeadlineError(ErrorCode.REQUEST_TIMED_OUT, `'${kind}' did not complete within its ${this.deadlineMs} ms call deadline; last error: ${last}`, { cause: lastError })
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.env.clock.setTimer(ms, resolve))
  }
}

function groupKey(groupId: string): CoordinatorKey {
  return { type: 'group', id: groupId }
}

function txnKey(transactionalId: string): CoordinatorKey {
  return { type: 'txn', id: transactionalId }
}

/** Group and transactional ids share the cache; the prefix keeps a group and an id of the same name apart. */
function coordinatorCacheKey(key: CoordinatorKey): string {
  return `${key.type}:${key.id}`
}

function coordinatorActorIdOf(key: CoordinatorKey, coordinator: { partition: number; nodeId: string }): string {
  return key.type === 'group' ? coordinatorActorId(coordinator.partition, coordinator.nodeId) : txnCoordinatorActorId(coordinator.partition, coordinator.nodeId)
}

/**
 * The call deadline passed (code REQUEST_TIMED_OUT, like any timeout). Its own class only so
 * that a deadline hit inside a metadata refresh ends the whole call instead of being retried.
 */
class CallDeadlineError extends SkeinError {}

/** Throws a RangeError naming the first setting out of range. */
function validateBrokerClientConfig(config: BrokerClientConfig): void {
  if (config.requestTimeoutMs !== undefined) requirePositiveInteger('requestTimeoutMs', config.requestTimeoutMs)
  if (config.requestDeadlineMs !== undefined) requirePositiveInteger('requestDeadlineMs', config.requestDeadlineMs)
  if (config.retryBackoffMs !== undefined) requirePositiveInteger('retryBackoffMs', config.retryBackoffMs)
  const retriesMax = config.retriesMax
  if (retriesMax !== undefined && (!Number.isInteger(retriesMax) || retriesMax < 0)) throw new RangeError(`retriesMax must be a non-negative integer, got ${retriesMax}`)
}

function requirePositiveInteger(name: string, value: number): void {
  if (!Number.isInteger(value) || value <= 0) throw new RangeError(`${name} must be a positive integer, got ${value}`)
}
