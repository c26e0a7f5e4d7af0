import { ActorSystem, StaticDirectory } from '../actor/index.js'
import type { Env } from '../env/index.js'
import { DEFAULT_TRANSPORT_LIMITS, Transport } from '../transport/index.js'
import {
  type AddPartitionsRequest,
  BrokerRequest,
  type CreateTopicRequest,
  ErrorCode,
  type FetchResponse,
  type ListOffsetsResponse,
  type MetadataResponse,
  type ProduceAcks,
  type ProduceResponse,
  SkeinError,
  type TopicDescription,
  brokerActorId,
  pinnedNodeOf,
  replicaActorId,
} from '../wire/index.js'

export interface BrokerClientConfig {
  /** "host:port" of any nodes of the cluster; the first that answers is used to learn the rest. */
  seeds: readonly string[]
  clusterId: string
  clusterSecret: string
  /** Names this client in the nodes' logs; a random suffix keeps two clients apart. */
  clientId?: string
  /** Deadline of one request to one node. */
  requestTimeoutMs?: number
  /** Retries of a retriable error (not leader, election in progress) before it is thrown. */
  retriesMax?: number
  /** Pause before a retry, doubled each time up to 1 s. */
  retryBackoffMs?: number
}

const REQUEST_TIMEOUT_MS_DEFAULT = 10_000
const RETRIES_MAX_DEFAULT = 20
const RETRY_BACKOFF_MS_DEFAULT = 50
const RETRY_BACKOFF_MS_MAX = 1_000

interface PartitionRoute {
  leader: string | undefined
  leaderEpoch: number
}

/**
 * A connection to a skein cluster over the node protocol: the request layer the SDK and the
 * CLI build on. It learns the nodes and partition leaders from metadata, sends each request
 * to the node that can answer it, and follows NOT_LEADER redirects and elections with bounded
 * retries. It joins the cluster's links as a peer that hosts no actors and never gossips.
 */
export class BrokerClient {
  private readonly routes = new Map<string, PartitionRoute>()
  private readonly timeoutMs: number
  private readonly retriesMax: number
  private readonly backoffMs: number
  private contactNode: string | undefined

  private constructor(
    private readonly env: Env,
    private readonly config: BrokerClientConfig,
    private readonly actors: ActorSystem,
    private readonly transport: Transport,
    /** node id -> "host:port"; also the transport's address book. */
    private readonly addresses: Map<string, string>,
  ) {
    this.timeoutMs = config.requestTimeoutMs ?? REQUEST_TIMEOUT_MS_DEFAULT
    this.retriesMax = config.retriesMax ?? RETRIES_MAX_DEFAULT
    this.backoffMs = config.retryBackoffMs ?? RETRY_BACKOFF_MS_DEFAULT
  }

  static async connect(env: Env, config: BrokerClientConfig): Promise<BrokerClient> {
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
      },
    )
    actors.attachSender(transport)
    const client = new BrokerClient(env, config, actors, transport, addresses)
    let lastError: unknown = new SkeinError(ErrorCode.NODE_UNREACHABLE, 'no seeds given')
    for (const seed of config.seeds) {
      try {
        const nodeId = await transport.discover(seed)
        addresses.set(nodeId, seed)
        client.contactNode = nodeId
        break
      } catch (error) {
        lastError = error
      }
    }
    if (client.contactNode === undefined) {
      await client.close()
      throw lastError
    }
    return client
  }

  async close(): Promise<void> {
    await this.actors.stop()
    await this.transport.stop()
  }

  /** Cluster metadata from any node; refreshes the client's view of nodes and leaders. */
  async metadata(topics?: readonly string[]): Promise<MetadataResponse> {
    const response = await this.askAnyNode<MetadataResponse>(BrokerRequest.metadata, topics === undefined ? {} : { topics })
    for (const node of response.nodes) this.addresses.set(node.id, node.address)
    for (const topic of response.topics) {
      for (const partition of topic.partitions) this.routes.set(`${topic.name}/${partition.partition}`, { leader: partition.leader, leaderEpoch: partition.leaderEpoch })
    }
    return response
  }

  createTopic(request: CreateTopicRequest): Promise<{ name: string; topicId: string; partitions: string[][]; version: number }> {
    return this.askAnyNode(BrokerRequest.createTopic, request, 30_000)
  }

  deleteTopic(name: string): Promise<unknown> {
    return this.askAnyNode(BrokerRequest.deleteTopic, { name }, 30_000)
  }

  addPartitions(request: AddPartitionsRequest): Promise<unknown> {
    return this.askAnyNode(BrokerRequest.addPartitions, request, 30_000)
  }

  listTopics(): Promise<string[]> {
    return this.askAnyNode(BrokerRequest.listTopics, null)
  }

  describeTopic(name: string): Promise<TopicDescription> {
    return this.askAnyNode(BrokerRequest.describeTopic, { name })
  }

  /** Waits until every partition of `topic` has a leader (after createTopic), up to `timeoutMs`. */
  async waitForLeaders(topic: string, timeoutMs = 30_000): Promise<TopicDescription> {
    const deadline = this.env.clock.nowMs() + timeoutMs
    for (;;) {
      const response = await this.metadata([topic]).catch(() => undefined)
      const described = response?.topics.find((t) => t.name === topic)
      if (described !== undefined && described.partitions.every((p) => p.leader !== undefined)) return described
      if (this.env.clock.nowMs() > deadline) throw new SkeinError(ErrorCode.LEADER_NOT_AVAILABLE, `topic '${topic}' has partitions without a leader after ${timeoutMs} ms`)
      await this.sleep(100)
    }
  }

  /** Appends record batches (RecordBatch v2 bytes) to a partition, on its leader. */
  produce(topic: string, partition: number, records: Uint8Array, acks: ProduceAcks = -1, options: { leaderEpoch?: number } = {}): Promise<ProduceResponse> {
    const request = options.leaderEpoch === undefined ? { records, acks } : { records, acks, leaderEpoch: options.leaderEpoch }
    return this.askLeader<ProduceResponse>(topic, partition, BrokerRequest.produce, request)
  }

  /** Committed batches from `offset`, waiting up to `maxWaitMs` for some when there are none yet. */
  fetch(topic: string, partition: number, offset: number, maxBytes = 1024 * 1024, maxWaitMs = 0): Promise<FetchResponse> {
    return this.askLeader<FetchResponse>(topic, partition, BrokerRequest.fetch, { offset, maxBytes, maxWaitMs }, maxWaitMs)
  }

  listOffsets(topic: string, partition: number, timestamp: number): Promise<ListOffsetsResponse> {
    return this.askLeader<ListOffsetsResponse>(topic, partition, BrokerRequest.listOffsets, { timestamp })
  }

  /** The leader this client currently routes a partition's requests to. */
  leaderOf(topic: string, partition: number): string | undefined {
    return this.routes.get(`${topic}/${partition}`)?.leader
  }

  private async askAnyNode<T>(kind: string, payload: unknown, timeoutMs = this.timeoutMs): Promise<T> {
    let lastError: unknown
    const tried = new Set<string>()
    for (let attempt = 0; attempt <= this.retriesMax; attempt++) {
      const nodeId = this.pickNode(tried)
      try {
        const answer = await this.actors.ask<T>(brokerActorId(nodeId), kind, payload, { timeoutMs })
        this.contactNode = nodeId
        return answer
      } catch (error) {
        lastError = error
        if (!(error instanceof SkeinError) || !error.retriable) throw error
        tried.add(nodeId)
        await this.sleep(this.backoff(attempt))
      }
    }
    throw lastError
  }

  private async askLeader<T>(topic: string, partition: number, kind: string, payload: object, extraWaitMs = 0): Promise<T> {
    const key = `${topic}/${partition}`
    let lastError: unknown
    for (let attempt = 0; attempt <= this.retriesMax; attempt++) {
      let route = this.routes.get(key)
      if (route?.leader === undefined) {
        await this.metadata([topic]).catch((error: unknown) => { lastError = error })
        route = this.routes.get(key)
      }
      if (route?.leader === undefined) {
        lastError ??= new SkeinError(ErrorCode.LEADER_NOT_AVAILABLE, `${key} has no known leader`)
        if (!this.routes.has(key) && attempt > 2) throw new SkeinError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `${key} does not exist`)
        await this.sleep(this.backoff(attempt))
        continue
      }
      try {
        return await this.actors.ask<T>(replicaActorId(topic, partition, route.leader), kind, payload, { timeoutMs: this.timeoutMs + extraWaitMs })
      } catch (error) {
        lastError = error
        if (!(error instanceof SkeinError) || !error.retriable || !this.worthRetrying(error, payload)) throw error
        const hint = error.leader
        if (hint !== undefined && hint.nodeId !== route.leader) {
          if (hint.address !== undefined) this.addresses.set(hint.nodeId, hint.address)
          this.routes.set(key, { leader: hint.nodeId, leaderEpoch: hint.epoch ?? -1 })
          continue // a redirect: go there at once
        }
        this.routes.set(key, { leader: undefined, leaderEpoch: -1 })
        await this.sleep(this.backoff(attempt))
      }
    }
    throw lastError
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

  /** The last node that answered, else one not yet tried this round, else any. */
  private pickNode(tried: ReadonlySet<string>): string {
    if (this.contactNode !== undefined && !tried.has(this.contactNode)) return this.contactNode
    for (const nodeId of this.addresses.keys()) if (!tried.has(nodeId)) return nodeId
    const all = [...this.addresses.keys()]
    return all[tried.size % all.length] as string
  }

  private backoff(attempt: number): number {
    return Math.min(RETRY_BACKOFF_MS_MAX, this.backoffMs * 2 ** attempt)
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.env.clock.setTimer(ms, resolve))
  }
}
