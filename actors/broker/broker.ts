import type { Actor, ActorContext, Message } from '../../src/actor/index.js'
import { replyLater } from '../../src/actor/index.js'
import {
  BrokerRequest,
  type ConfigEntryDescription,
  type DescribeConfigsResponse,
  type DescribeTopicRequest,
  type FindCoordinatorResponse,
  GROUP_ID_CHARS_MAX,
  OFFSETS_TOPIC,
  TRANSACTIONAL_ID_CHARS_MAX,
  TXN_STATE_TOPIC,
  TxnRequest,
  type InitProducerIdResponse,
  type MetadataRequest,
  type MetadataResponse,
  type PartitionDescription,
  type ReplicaStatus,
  type TopicDescription,
  brokerActorId,
  controllerActorId,
  offsetsPartitionFor,
  replicaActorId,
  topicActorId,
  txnCoordinatorActorId,
} from '../../src/wire/broker-protocol.js'
import { ErrorCode, SkeinError } from '../../src/wire/index.js'
import { ControllerRequest, type MetadataSnapshot } from '../metadata/controller.js'
import { ControllerClient } from '../metadata/controller-client.js'
import { type ObservedMembership, parseObserved } from '../metadata/voters.js'
import { type ClusterMetadata, EMPTY_METADATA, type TopicMetadata, metadataFromJson, sortedTopics } from '../metadata/state.js'
import { TOPIC_CONFIGS_DEFAULT, topicConfigEntries } from '../metadata/topic-configs.js'
import { validateTopicName } from '../metadata/topic-name.js'
import { ReplicaControl, type ReplicaOpenRequest, listStoredReplicas } from '../partition/replica-actor.js'
import { TopicControl } from '../topic/topic-controller.js'
import { BROKER_SETTINGS_DEFAULT, type BrokerSettings, type NodeServices } from '../services.js'
import { DownSince } from '../down-since.js'

/** Broker-internal message kinds. */
export const BrokerControl = {
  /** tell: open the replicas found on disk, the metadata voter if this node is one, and start following metadata. */
  start: 'start',
  /** tell MetadataSnapshot: a newer cluster metadata from the controller. */
  metadataUpdate: 'metadataUpdate',
  /** ask: the metadata group as this node knows it, a ControllerMembership or null (a joining or lagging node learns it so). */
  controllers: 'controllers',
} as const

/** How long an admin request may take end to end (read, propose, commit, apply). */
export const ADMIN_TIMEOUT_MS = 15_000
/** Replica status asks answering describe and metadata; a dead replica costs this much. */
export const REPLICA_STATUS_TIMEOUT_MS = 1_000
/** How long a leader learned from another node's replica is trusted before it is asked again. */
export const LEADER_HINT_TTL_MS = 1_000
/** Pause after a failed metadata read before the next one. */
export const METADATA_RETRY_MS = 250
/**
 * Metadata reads failing this long make the broker ask the live members for the metadata
 * group they know: the voters it knows may all have been replaced while it was away.
 */
export const VOTER_REFRESH_AFTER_MS = 2_000
/**
 * How long past the long-poll period (settings.metadataPollMs) a node's last answer from the
 * metadata controller still counts as current. A node whose metadata is older than that (it
 * just restarted, or is cut off from the metadata quorum) does not tell a client that a topic
 * does not exist: it may just not have heard of it, and a client would stop on that answer.
 */
export const METADATA_CURRENT_GRACE_MS = 2_000
/**
 * Producer ids a broker takes from the metadata controller at a time, as Kafka's brokers do
 * (its block is 1000 too): one metadata commit per thousand producers, and a restarted broker
 * wastes at most the rest of one block.
 */
export const PRODUCER_ID_BLOCK_SIZE = 1_000
/** Tries at taking a block when other metadata changes win the compare-and-set in between. */
export const PRODUCER_ID_ALLOCATE_ATTEMPTS_MAX = 10

interface LeaderHintEntry {
  readonly nodeId: string | undefined
  readonly epoch: number
  readonly atMs: number
}

/**
 * The broker side of one node (`broker/<node>`, pinned): it follows the cluster metadata
 * (long-polling the metadata controller), opens and removes the replicas assigned to this
 * node, and answers the requests any node can answer: metadata (who leads what), topic
 * listing and description, and topic admin, which it hands to the topic's controller.
 */
export class BrokerActor implements Actor {
  private metadata: ClusterMetadata = EMPTY_METADATA
  private readonly controller: ControllerClient
  private readonly leaderHints = new Map<string, LeaderHintEntry>()
  /** Replica actor ids this broker opened (or found on disk), with the topic id they were opened for. */
  private readonly opened = new Map<string, string>()
  private started = false
  private stopped = false
  /** Whether this node's metadata replica was last told to open (true) or go (false); undefined at start. */
  private controllerHosted: boolean | undefined
  /** Producer ids this broker owns and has not handed out: [next, end). Memory only: a restart takes a new block. */
  private producerIds: { next: number; end: number } | undefined
  /** The block allocation under way, shared by every initProducerId waiting for it. */
  private producerIdAllocation: Promise<void> | undefined
  /** Internal topics being created, by name, each shared by every findCoordinator waiting for it. */
  private readonly internalTopicCreations = new Map<string, Promise<void>>()
  /** When the metadata controller last answered this node's read (undefined: not since start). */
  private metadataReadAtMs: number | undefined

  constructor(
    private readonly context: ActorContext,
    private readonly services: NodeServices,
  ) {
    this.controller = new ControllerClient(context, services)
  }

  receive(message: Message): unknown {
    switch (message.kind) {
      case BrokerControl.start:
        return this.startFollowing()
      case BrokerControl.metadataUpdate:
        return this.onMetadata(message.payload as MetadataSnapshot)
      case BrokerControl.controllers:
        return this.services.controllerMembership() ?? null
      case BrokerRequest.metadata:
        return replyLater(this.answerMetadata(message.payload as MetadataRequest | null))
      case BrokerRequest.listTopics:
        if (this.metadataReadAtMs === undefined) this.assertMetadataCurrent()
        return sortedTopics(this.metadata).map((topic) => topic.name)
      case BrokerRequest.describeTopic:
        return replyLater(this.describe((message.payload as DescribeTopicRequest | null)?.name))
      case BrokerRequest.createTopic:
      case BrokerRequest.deleteTopic:
      case BrokerRequest.addPartitions:
        return replyLater(this.admin(message.kind, message.payload))
      case BrokerRequest.initProducerId:
        return replyLater(this.initProducerId())
      case BrokerRequest.findCoordinator:
        return replyLater(this.findCoordinator(message.payload as { groupId?: unknown; transactionalId?: unknown } | null))
      case BrokerRequest.describeConfigs:
        return { topicDefaults: topicConfigEntries(TOPIC_CONFIGS_DEFAULT), broker: brokerConfigEntries(this.services.settings) } satisfies DescribeConfigsResponse
      default:
        throw new SkeinError(ErrorCode.INVALID_REQUEST, `a broker does not handle '${message.kind}'`)
    }
  }

  stop(): void {
    this.stopped = true
  }

  private async startFollowing(): Promise<void> {
    if (this.started) return
    this.started = true
    for (const stored of await listStoredReplicas(this.context.env.disk, this.context.log)) {
      this.openReplica(stored.topic, stored.partition, stored)
    }
    void this.followMetadata()
    void this.driveRebalance()
  }

  /**
   * On the node leading the metadata quorum only (others skip their rounds): watches which
   * assigned nodes are down and for how long, and each round asks every topic controller for
   * one step of moving replicas off nodes down past replica.reassign.after.ms, or of returning
   * leadership to preferred replicas. Two brokers driving at once (a stale leader hint) is safe:
   * every step is a compare-and-set or a Raft membership change.
   */
  private async driveRebalance(): Promise<void> {
    const downSince = new DownSince()
    const settings = this.services.settings
    while (!this.stopped) {
      await this.sleep(settings.rebalanceIntervalMs)
      if (this.stopped || this.controller.knownLeader !== this.context.nodeId) {
        downSince.clear()
        continue
      }
      const nowMs = this.context.env.clock.nowMs()
      const live = new Set(this.services.liveMembers().map((member) => member.id))
      const assigned = new Set<string>()
      for (const topic of this.metadata.topics.values()) for (const replicas of topic.partitions) for (const nodeId of replicas) assigned.add(nodeId)
      const deadLong = [...downSince.observe(assigned, live, nowMs, settings.replicaReassignAfterMs)]
      for (const topic of sortedTopics(this.metadata)) {
        if (this.stopped) return
        await this.context.ask<string[]>(topicActorId(topic.name), TopicControl.rebalance, { deadLong }, { timeoutMs: ADMIN_TIMEOUT_MS }).catch((error: unknown) => {
          this.context.log.debug({ topic: topic.name, error: String(error) }, 'rebalance round failed')
        })
      }
    }
  }

  /** Long-polls the controller for each newer metadata version, for as long as the node runs. */
  private async followMetadata(): Promise<void> {
    let failingSinceMs: number | undefined
    while (!this.stopped) {
      if (this.services.controllerMembership() === undefined) {
        await this.settleVoters()
        if (this.services.controllerMembership() === undefined) await this.sleep(METADATA_RETRY_MS)
        continue
      }
      this.hostController()
      this.loadTxnCoordinators()
      try {
        const snapshot = await this.controller.read(this.metadata.version, this.services.settings.metadataPollMs)
        failingSinceMs = undefined
        await this.observeMembership(parseObserved({ voters: snapshot.voters, learners: snapshot.learners, offset: snapshot.membershipOffset }))
        if (snapshot.version > this.metadata.version) this.context.tell(this.context.self, BrokerControl.metadataUpdate, snapshot)
        // Let the update be handled before asking past it.
        await this.sleep(0)
        this.metadataReadAtMs = this.context.env.clock.nowMs()
      } catch (error) {
        if (this.stopped) return
        this.context.log.debug({ error: String(error) }, 'metadata read failed; retrying')
        const nowMs = this.context.env.clock.nowMs()
        failingSinceMs ??= nowMs
        if (nowMs - failingSinceMs >= VOTER_REFRESH_AFTER_MS) {
          failingSinceMs = nowMs
          await this.settleVoters()
        }
        await this.sleep(METADATA_RETRY_MS)
      }
    }
  }

  /**
   * Hosts this node's metadata replica while the metadata group (as last committed and learned)
   * counts the node as a voter or learner; drops it, data included, once a committed change
   * removed the node. A node removed while it was down first reopens its old replica, which
   * the group ignores (its members only hear members), and drops it at the first metadata read.
   */
  private hostController(): void {
    const membership = this.services.controllerMembership()
    if (membership === undefined) return
    const member = membership.voters.includes(this.context.nodeId) || membership.learners.includes(this.context.nodeId)
    const controller = controllerActorId(this.context.nodeId)
    if (member) {
      // Told on every metadata poll: `open` is a no-op once the replica is open, and an open
      // that failed (a full disk) is tried again this way.
      this.controllerHosted = true
      this.context.tell(controller, ControllerRequest.open, { membership })
      return
    }
    if (member === this.controllerHosted) return
    this.controllerHosted = member
    this.context.ask(controller, ControllerRequest.remove, null, { timeoutMs: ADMIN_TIMEOUT_MS }).catch((error: unknown) => {
      this.context.log.warn({ error: String(error) }, 'removing the metadata replica failed')
      this.controllerHosted = undefined
    })
  }

  /**
   * Tells the transaction coordinator of every transaction-state partition led here to load
   * (once per metadata poll; a loaded one ignores it). A coordinator otherwise loads at its
   * first producer request, and after a failover none may come: a commit decided before it,
   * whose group marker was refused, then stays unfinished and the group's offsets pending
   * (UNSTABLE_OFFSET_COMMIT) for good, keeping away the very member whose reading would bring
   * the request (txn-sim seed 268). Kafka's coordinator loads on election in the same way.
   */
  private loadTxnCoordinators(): void {
    for (const { topic, partition, replica } of this.services.hostedReplicas.values()) {
      if (topic !== TXN_STATE_TOPIC || replica.isClosed || replica.role !== 'leader') continue
      this.context.tell(txnCoordinatorActorId(partition, this.context.nodeId), TxnRequest.ensureLoaded, null)
    }
  }

  /** Keeps a committed membership of the metadata group if newer than the one known, and acts on it. */
  private async observeMembership(observed: ObservedMembership | undefined): Promise<void> {
    if (observed === undefined) return
    if (await this.services.observeControllerMembership(observed)) this.hostController()
  }

  /**
   * Learns the metadata group from the live members that know it (the latest committed
   * membership any of them knows), else applies the bootstrap rule for a new cluster.
   */
  private async settleVoters(): Promise<void> {
    const others = this.services.liveMembers().filter((member) => member.id !== this.context.nodeId)
    const answers = await Promise.all(others.map((member) =>
      this.context.ask<unknown>(brokerActorId(member.id), BrokerControl.controllers, null, { timeoutMs: REPLICA_STATUS_TIMEOUT_MS }).catch(() => null),
    ))
    let latest: ObservedMembership | undefined
    for (const answer of answers) {
      const founding = Array.isArray(answer) ? answer : (answer as { founding?: unknown } | null)?.founding
      if (!Array.isArray(founding) || founding.length === 0 || !founding.every((id) => typeof id === 'string')) continue
      await this.services.adoptControllerVoters(founding as string[], 'learned from a member')
      const observed = Array.isArray(answer) ? undefined : parseObserved(answer)
      if (observed !== undefined && (latest === undefined || observed.offset > latest.offset)) latest = observed
    }
    await this.observeMembership(latest)
    if (this.services.controllerMembership() !== undefined) return
    const derived = this.services.deriveControllerVoters()
    if (derived !== undefined) await this.services.adoptControllerVoters(derived, 'bootstrap from the seed list')
  }

  private onMetadata(snapshot: MetadataSnapshot): void {
    if (snapshot.version <= this.metadata.version) return
    let next: ClusterMetadata
    try {
      next = metadataFromJson(snapshot.metadata)
    } catch (error) {
      this.context.log.error({ error: String(error), version: snapshot.version }, 'metadata snapshot refused')
      return
    }
    this.metadata = next
    this.reconcile()
  }

  /** Opens the replicas the metadata assigns here; removes those of deleted topics. */
  private reconcile(): void {
    const self = this.context.nodeId
    const wanted = new Map<string, { topic: TopicMetadata; partition: number }>()
    for (const topic of this.metadata.topics.values()) {
      topic.partitions.forEach((replicas, partition) => {
        if (replicas.includes(self)) wanted.set(replicaActorId(topic.name, partition, self), { topic, partition })
      })
    }
    for (const [actorId, { topic, partition }] of wanted) {
      if (this.opened.get(actorId) === topic.topicId) continue
      this.openReplica(topic.name, partition, { topicId: topic.topicId, voters: topic.partitions[partition] as string[], configs: topic.configs })
    }
    for (const [actorId, topicId] of [...this.opened]) {
      const want = wanted.get(actorId)
      if (want !== undefined && want.topic.topicId === topicId) continue
      // The topic was deleted, or this replica was moved away (the metadata drops a replica
      // only once the Raft group no longer counts it): its data goes.
      this.opened.delete(actorId)
      this.context.ask(actorId, ReplicaControl.remove, null, { timeoutMs: ADMIN_TIMEOUT_MS }).catch((error: unknown) => {
        this.context.log.warn({ replica: actorId, error: String(error) }, 'removing a replica failed')
      })
    }
  }

  private openReplica(topic: string, partition: number, request: ReplicaOpenRequest): void {
    const actorId = replicaActorId(topic, partition, this.context.nodeId)
    this.opened.set(actorId, request.topicId)
    this.context.tell(actorId, ReplicaControl.open, request)
  }

  /**
   * A producer id unique in the cluster, epoch 0 (Kafka's InitProducerId without a
   * transactional id): the next of this broker's block, taking a new block through the
   * metadata controller when it is used up. Blocks are committed metadata, so no id is
   * handed out twice, whichever controller leads and however often brokers restart.
   */
  private async initProducerId(): Promise<InitProducerIdResponse> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const block = this.producerIds
      if (block !== undefined && block.next < block.end) {
        const producerId = block.next
        block.next++
        return { producerId, producerEpoch: 0 }
      }
      this.producerIdAllocation ??= this.allocateProducerIds().finally(() => {
        this.producerIdAllocation = undefined
      })
      await this.producerIdAllocation
    }
    throw new SkeinError(ErrorCode.COORDINATOR_NOT_AVAILABLE, 'producer ids were allocated but taken by other requests meanwhile; retry')
  }

  /** Takes the next PRODUCER_ID_BLOCK_SIZE producer ids: compare-and-set on the metadata version and on the counter. */
  private async allocateProducerIds(): Promise<void> {
    let lastRefusal = ''
    for (let attempt = 0; attempt < PRODUCER_ID_ALLOCATE_ATTEMPTS_MAX; attempt++) {
      const snapshot = await this.controller.read(-1, 0)
      const { nextProducerId } = metadataFromJson(snapshot.metadata)
      const command = { op: 'allocateProducerIds', expectedVersion: snapshot.version, firstProducerId: nextProducerId, count: PRODUCER_ID_BLOCK_SIZE }
      const outcome = await this.controller.propose(command)
      if (outcome.ok) {
        this.producerIds = { next: nextProducerId, end: nextProducerId + PRODUCER_ID_BLOCK_SIZE }
        this.context.log.info({ firstProducerId: nextProducerId, count: PRODUCER_ID_BLOCK_SIZE, version: outcome.version }, 'producer id block allocated')
        return
      }
      if (outcome.code !== ErrorCode.METADATA_VERSION_MISMATCH.code) throw SkeinError.fromWire(outcome.code, outcome.message)
      lastRefusal = outcome.message
    }
    throw new SkeinError(ErrorCode.METADATA_VERSION_MISMATCH, `no producer id block after ${PRODUCER_ID_ALLOCATE_ATTEMPTS_MAX} tries; last refusal: ${lastRefusal}`)
  }

  /**
   * The node coordinating a group (the leader of its offsets-topic partition) or a
   * transactional id (the leader of its transaction-state partition). The first call for
   * either kind in a cluster creates the internal topic and answers COORDINATOR_NOT_AVAILABLE
   * (retriable) until the topic's metadata arrives here and its partition has a leader.
   */
  private async findCoordinator(request: { groupId?: unknown; transactionalId?: unknown } | null): Promise<FindCoordinatorResponse> {
    const transactional = request?.transactionalId !== undefined && request.transactionalId !== null
    const key = transactional ? request?.transactionalId : request?.groupId
    const keyCharsMax = transactional ? TRANSACTIONAL_ID_CHARS_MAX : GROUP_ID_CHARS_MAX
    if (typeof key !== 'string' || key.length === 0 || key.length > keyCharsMax) {
      const what = transactional ? 'transactional id' : 'group id'
      throw new SkeinError(transactional ? ErrorCode.INVALID_REQUEST : ErrorCode.INVALID_GROUP_ID, `${what} must be 1 to ${keyCharsMax} characters, got ${JSON.stringify(key)?.slice(0, 80)}`)
    }
    const topicName = transactional ? TXN_STATE_TOPIC : OFFSETS_TOPIC
    const topic = this.metadata.topics.get(topicName)
    if (topic === undefined) {
      let creation = this.internalTopicCreations.get(topicName)
      if (creation === undefined) {
        creation = this.createInternalTopic(topicName).finally(() => this.internalTopicCreations.delete(topicName))
        this.internalTopicCreations.set(topicName, creation)
      }
      await creation
      throw new SkeinError(ErrorCode.COORDINATOR_NOT_AVAILABLE, `${topicName} is being created; retry`)
    }
    const partition = offsetsPartitionFor(key, topic.partitions.length)
    const { leader } = await this.describePartition(topicName, partition, topic.partitions[partition] as string[], false)
    const address = leader === undefined ? undefined : this.services.addressOf(leader)
    if (leader === undefined || address === undefined) throw new SkeinError(ErrorCode.COORDINATOR_NOT_AVAILABLE, `${topicName}/${partition} has no leader right now`)
    return { ...(transactional ? { transactionalId: key } : { groupId: key }), partition, nodeId: leader, address }
  }

  /** Creates an internal topic (offsets or transaction state) with the settings' partitions and replication, kept forever. */
  private async createInternalTopic(name: string): Promise<void> {
    const settings = this.services.settings
    const [partitions, wanted] = name === TXN_STATE_TOPIC
      ? [settings.txnStateTopicPartitions, settings.txnStateTopicReplicationFactor]
      : [settings.offsetsTopicPartitions, settings.offsetsTopicReplicationFactor]
    const replicationFactor = Math.max(1, Math.min(wanted, this.services.liveMembers().length))
    if (replicationFactor < wanted) {
      this.context.log.warn({ topic: name, replicationFactor, wanted }, 'fewer live nodes than the internal topic replication factor: creating it with fewer replicas')
    }
    const request = { name, partitions, replicationFactor, configs: { 'retention.ms': -1 } }
    try {
      await this.context.ask(topicActorId(name), TopicControl.createInternal, request, { timeoutMs: ADMIN_TIMEOUT_MS })
      this.context.log.info({ topic: name, partitions, replicationFactor }, 'internal topic created')
    } catch (error) {
      if (!(error instanceof SkeinError && error.code === ErrorCode.TOPIC_ALREADY_EXISTS.code)) throw error
    }
  }

  private async admin(kind: string, payload: unknown): Promise<unknown> {
    const name = validateTopicName((payload as { name?: unknown } | null)?.name)
    return this.context.ask(topicActorId(name), kind, payload, { timeoutMs: ADMIN_TIMEOUT_MS })
  }

  private async answerMetadata(request: MetadataRequest | null): Promise<MetadataResponse> {
    const names = request?.topics
    const topics = names === undefined ? sortedTopics(this.metadata) : names.flatMap((name) => {
      const topic = this.metadata.topics.get(name)
      return topic === undefined ? [] : [topic]
    })
    if (names === undefined ? this.metadataReadAtMs === undefined : topics.length < names.length) this.assertMetadataCurrent()
    const described = await Promise.all(topics.map((topic) => this.describeTopic(topic, false)))
    return {
      version: this.metadata.version,
      nodes: this.services.liveMembers(),
      controller: this.controller.knownLeader,
      topics: described,
    }
  }

  private async describe(name: unknown): Promise<TopicDescription> {
    const topicName = validateTopicName(name)
    const topic = this.metadata.topics.get(topicName)
    if (topic === undefined) {
      this.assertMetadataCurrent()
      throw new SkeinError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `topic '${topicName}' does not exist`)
    }
    return this.describeTopic(topic, true)
  }

  /**
   * Throws BROKER_NOT_AVAILABLE (retriable: the client asks another node) unless this node's
   * metadata is current, before it answers that a topic does not exist (or lists all topics
   * with none read yet): a stale node's "no such topic" would stop a client for good.
   */
  private assertMetadataCurrent(): void {
    const readAtMs = this.metadataReadAtMs
    const currentForMs = this.services.settings.metadataPollMs + METADATA_CURRENT_GRACE_MS
    if (readAtMs !== undefined && this.context.env.clock.nowMs() - readAtMs <= currentForMs) return
    const since = readAtMs === undefined ? 'not read since this node started' : `last read ${Math.round(this.context.env.clock.nowMs() - readAtMs)} ms ago`
    throw new SkeinError(ErrorCode.BROKER_NOT_AVAILABLE, `node ${this.context.nodeId} cannot vouch for the topic list: its cluster metadata is ${since}; ask another node`)
  }

  private async describeTopic(topic: TopicMetadata, full: boolean): Promise<TopicDescription> {
    const partitions = await Promise.all(topic.partitions.map((replicas, partition) => this.describePartition(topic.name, partition, replicas, full)))
    return { name: topic.name, topicId: topic.topicId, configs: topicConfigEntries(topic.configs), partitions }
  }

  /**
   * A partition's leader: from this node's own replica when it hosts one, else from a recent
   * answer, else by asking the replicas. `full` (describe) always asks, for ISR and offsets.
   */
  private async describePartition(topic: string, partition: number, replicas: readonly string[], full: boolean): Promise<PartitionDescription> {
    const key = `${topic}/${partition}`
    if (!full) {
      const local = this.services.hostedReplicas.get(replicaActorId(topic, partition, this.context.nodeId))?.replica
      if (local !== undefined && local.leader !== undefined) return { partition, replicas, leader: local.leader, leaderEpoch: local.epoch }
      const hint = this.leaderHints.get(key)
      if (hint !== undefined && this.context.env.clock.nowMs() - hint.atMs < LEADER_HINT_TTL_MS) {
        return { partition, replicas, leader: hint.nodeId, leaderEpoch: hint.epoch }
      }
    }
    const statuses = await Promise.all(replicas.map((nodeId) =>
      this.context.ask<ReplicaStatus>(replicaActorId(topic, partition, nodeId), BrokerRequest.replicaStatus, null, { timeoutMs: REPLICA_STATUS_TIMEOUT_MS }).catch(() => undefined),
    ))
    let best: ReplicaStatus | undefined
    for (const status of statuses) {
      if (status === undefined || status.leader === undefined) continue
      if (best === undefined || status.epoch > best.epoch || (status.epoch === best.epoch && status.role === 'leader')) best = status
    }
    const leaderStatus = statuses.find((status) => status !== undefined && status.role === 'leader' && status.epoch === best?.epoch)
    this.leaderHints.set(key, { nodeId: best?.leader, epoch: best?.epoch ?? -1, atMs: this.context.env.clock.nowMs() })
    if (this.leaderHints.size > this.metadataPartitionCount() * 2 + 1024) this.leaderHints.clear()
    const description: PartitionDescription = { partition, replicas, leader: best?.leader, leaderEpoch: best?.epoch ?? -1 }
    if (!full || leaderStatus === undefined) return description
    const ends = leaderStatus.replicaEnds ?? {}
    const isr = replicas.filter((nodeId) => nodeId === leaderStatus.nodeId || (ends[nodeId] ?? -1) >= leaderStatus.highWatermark)
    return { ...description, isr, highWatermark: leaderStatus.highWatermark, logStartOffset: leaderStatus.logStartOffset }
  }

  private metadataPartitionCount(): number {
    let count = 0
    for (const topic of this.metadata.topics.values()) count += topic.partitions.length
    return count
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.context.env.clock.setTimer(ms, resolve))
  }
}

/**
 * The node's settings that Kafka names as broker configs, with Kafka's meaning (for Kafka's
 * DescribeConfigs on a broker resource). A setting equal to BROKER_SETTINGS_DEFAULT counts as
 * the default: the node's config does not say which fields it set, only their values.
 */
export function brokerConfigEntries(settings: BrokerSettings): ConfigEntryDescription[] {
  const defaults = BROKER_SETTINGS_DEFAULT
  const entry = (name: string, value: number, defaultValue: number): ConfigEntryDescription => ({ name, value: String(value), isDefault: value === defaultValue })
  return [
    entry('offsets.topic.num.partitions', settings.offsetsTopicPartitions, defaults.offsetsTopicPartitions),
    // Kafka refuses to create the offsets topic with fewer live brokers; skein creates it with fewer replicas (createInternalTopic).
    entry('offsets.topic.replication.factor', settings.offsetsTopicReplicationFactor, defaults.offsetsTopicReplicationFactor),
    entry('group.min.session.timeout.ms', settings.groupLimits.sessionTimeoutMsMin, defaults.groupLimits.sessionTimeoutMsMin),
    entry('group.max.session.timeout.ms', settings.groupLimits.sessionTimeoutMsMax, defaults.groupLimits.sessionTimeoutMsMax),
    entry('group.max.size', settings.groupLimits.membersMax, defaults.groupLimits.membersMax),
    entry('group.initial.rebalance.delay.ms', settings.groupLimits.initialRebalanceDelayMs, defaults.groupLimits.initialRebalanceDelayMs),
    entry('log.retention.check.interval.ms', settings.retentionCheckIntervalMs, defaults.retentionCheckIntervalMs),
    entry('transaction.state.log.num.partitions', settings.txnStateTopicPartitions, defaults.txnStateTopicPartitions),
    entry('transaction.state.log.replication.factor', settings.txnStateTopicReplicationFactor, defaults.txnStateTopicReplicationFactor),
    entry('transaction.max.timeout.ms', settings.txnLimits.transactionTimeoutMsMax, defaults.txnLimits.transactionTimeoutMsMax),
    entry('transactional.id.expiration.ms', settings.txnLimits.transactionalIdExpirationMs, defaults.txnLimits.transactionalIdExpirationMs),
  ]
}
