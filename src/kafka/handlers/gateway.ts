import type { Clock, Logger } from '../../env/index.js'
import { ErrorCode, SkeinError, errorSpecFor } from '../../wire/errors.js'
import { BrokerRequest, type FindCoordinatorRequest, type FindCoordinatorResponse, brokerActorId } from '../../wire/broker-protocol.js'
import { kafkaBrokerId } from '../broker-ids.js'
import { type KafkaEndpoint, KafkaEndpointRequest, kafkaEndpointActorId } from '../endpoint-actor.js'

/** What the handlers need of a node: its id, and asks to its actors (the node's ActorSystem). */
export interface GatewayNode {
  readonly nodeId: string
  readonly clock: Clock
  readonly log: Logger
  /** This node's own Kafka endpoint (host as advertised). */
  readonly selfEndpoint: KafkaEndpoint
  /** Metadata for a topic that does not exist creates it (KafkaListenerConfig.autoCreateTopics). */
  readonly autoCreateTopics: boolean
  ask<T>(actorId: string, kind: string, payload: unknown, options: { timeoutMs: number }): Promise<T>
}

/** Deadline of an ask to another actor that does not wait by design (metadata, admin, offsets). */
export const GATEWAY_ASK_TIMEOUT_MS = 10_000
/** Topic admin waits for the metadata quorum to commit (and may wait out its election). */
export const GATEWAY_ADMIN_TIMEOUT_MS = 30_000
/** How long another node's Kafka endpoint is trusted before it is asked again (a restart may move it). */
const ENDPOINT_CACHE_MS = 10_000
/**
 * How long "no endpoint" (no answer, or a node without a listener) is remembered: long enough
 * that a dead node does not cost every Metadata request an ask timeout, short enough that a
 * node that comes back is listed within a client's retry.
 */
const ENDPOINT_MISS_CACHE_MS = 1_000
/** Deadline of asking a node for its endpoint: a dead node must not hold a Metadata answer long. */
const ENDPOINT_ASK_TIMEOUT_MS = 1_000
/** Nodes whose endpoints are cached; a cluster has far fewer. */
const ENDPOINT_CACHE_ENTRIES_MAX = 10_000
/** Keys (groups, transactional ids) whose coordinator a router remembers; past it the map is cleared and refilled on use. */
const COORDINATOR_CACHE_ENTRIES_MAX = 10_000

/** The Kafka error code for anything a handler caught; non-skein errors are UNKNOWN_SERVER_ERROR (-1). */
export function kafkaErrorCode(err: unknown): number {
  if (err instanceof SkeinError) return errorSpecFor(err.code).kafkaCode
  return ErrorCode.UNKNOWN_SERVER_ERROR.kafkaCode
}

/**
 * The Kafka endpoints of other nodes, asked of their `kafka/<node>` actors and cached for a
 * few seconds. A node that does not answer (down, or without a listener) is left out.
 */
export class KafkaEndpoints {
  private readonly cache = new Map<string, { endpoint: KafkaEndpoint | null; untilMs: number }>()

  constructor(private readonly node: GatewayNode) {}

  async resolve(nodeIds: readonly string[]): Promise<Map<string, KafkaEndpoint>> {
    const found = new Map<string, KafkaEndpoint>()
    await Promise.all(
      nodeIds.map(async (nodeId) => {
        const endpoint = await this.endpointOf(nodeId)
        if (endpoint !== undefined) found.set(nodeId, endpoint)
      }),
    )
    return found
  }

  async endpointOf(nodeId: string): Promise<KafkaEndpoint | undefined> {
    if (nodeId === this.node.nodeId) return this.node.selfEndpoint
    const nowMs = this.node.clock.nowMs()
    const cached = this.cache.get(nodeId)
    if (cached !== undefined && cached.untilMs > nowMs) return cached.endpoint ?? undefined
    let endpoint: KafkaEndpoint | null
    try {
      endpoint = await this.node.ask<KafkaEndpoint | null>(kafkaEndpointActorId(nodeId), KafkaEndpointRequest.endpoint, null, { timeoutMs: ENDPOINT_ASK_TIMEOUT_MS })
    } catch (err) {
      this.node.log.debug({ err, nodeId }, 'no kafka endpoint from node')
      endpoint = null
    }
    if (this.cache.size >= ENDPOINT_CACHE_ENTRIES_MAX) this.cache.clear()
    this.cache.set(nodeId, { endpoint, untilMs: nowMs + (endpoint === null ? ENDPOINT_MISS_CACHE_MS : ENDPOINT_CACHE_MS) })
    return endpoint ?? undefined
  }

  /** Broker id, host and port of a node, for FindCoordinator; undefined when it has no endpoint. */
  async brokerOf(nodeId: string): Promise<{ nodeId: number; host: string; port: number } | undefined> {
    const endpoint = await this.endpointOf(nodeId)
    return endpoint === undefined ? undefined : { nodeId: kafkaBrokerId(nodeId), host: endpoint.host, port: endpoint.port }
  }
}

/** How a router finds the coordinator of a key: the broker's findCoordinator request for it, and the actor id its answer names. */
export interface CoordinatorKind {
  readonly findRequest: (key: string) => FindCoordinatorRequest
  readonly actorIdOf: (found: FindCoordinatorResponse) => string
}

/**
 * Asks the coordinator actor of a key (a group's, a transactional id's), wherever it runs:
 * found once with this node's broker (findCoordinator) and remembered; a retriable failure
 * (NOT_COORDINATOR, a timeout, ...) forgets it, so the client's retry finds it again.
 */
export class CoordinatorRouter {
  private readonly actorIds = new Map<string, string>()

  constructor(
    private readonly node: GatewayNode,
    private readonly kind: CoordinatorKind,
  ) {}

  async ask<T>(key: string, messageKind: string, payload: unknown, timeoutMs: number): Promise<T> {
    let actorId = this.actorIds.get(key)
    if (actorId === undefined) {
      const found = await this.node.ask<FindCoordinatorResponse>(brokerActorId(this.node.nodeId), BrokerRequest.findCoordinator, this.kind.findRequest(key), { timeoutMs: GATEWAY_ADMIN_TIMEOUT_MS })
      actorId = this.kind.actorIdOf(found)
      if (this.actorIds.size >= COORDINATOR_CACHE_ENTRIES_MAX) this.actorIds.clear()
      this.actorIds.set(key, actorId)
    }
    try {
      return await this.node.ask<T>(actorId, messageKind, payload, { timeoutMs })
    } catch (err) {
      if (err instanceof SkeinError && err.retriable) this.actorIds.delete(key)
      throw err
    }
  }
}
