import type { Clock, Listener, Logger, Net } from '../env/index.js'
import { KafkaConnection, type KafkaConnectionLimits } from './connection.js'
import { type KafkaGateways, dispatchKafkaRequest, kafkaGateways } from './dispatch.js'
import type { KafkaEndpoint } from './endpoint-actor.js'
import type { GatewayNode } from './handlers/gateway.js'

/** Where a node's Kafka listener binds and what it tells clients. */
export interface KafkaListenerConfig {
  /** Interface to bind. */
  readonly host: string
  /** Port to bind; 0 picks an ephemeral one (tests), read back from `Listener.port`. */
  readonly port: number
  /** Host put in Metadata and FindCoordinator answers; default `host`. */
  readonly advertisedHost?: string
  /**
   * Whether a Metadata request naming a topic that does not exist creates it (1 partition,
   * replication factor min(3, nodes)), as Kafka's auto.create.topics.enable. Default false:
   * in production a typo in a topic name should fail, not create a topic.
   */
  readonly autoCreateTopics?: boolean
  readonly limits?: KafkaConnectionLimits
}

/** What the listener needs of its node: id, clock, log and asks to the node's actors. */
export interface KafkaListenerNode {
  readonly nodeId: string
  readonly clock: Clock
  readonly log: Logger
  ask<T>(actorId: string, kind: string, payload: unknown, options: { timeoutMs: number }): Promise<T>
}

export interface KafkaListener {
  readonly endpoint: KafkaEndpoint
  close(): Promise<void>
}

/**
 * Starts a node's Kafka protocol listener: one KafkaConnection per TCP connection, each
 * request answered by asking this node's actors (dispatchKafkaRequest). A connection with
 * bad input is closed alone; the listener and every other connection go on.
 */
export async function startKafkaListener(net: Net, node: KafkaListenerNode, config: KafkaListenerConfig): Promise<KafkaListener> {
  if (net.listenStream === undefined) throw new Error('this Env has no stream listener: the Kafka gateway needs the real Net')
  const log = node.log.child({ component: 'kafka' })
  let gateway: GatewayNode | undefined
  let gateways: KafkaGateways | undefined
  const listener: Listener = await net.listenStream({
    host: config.host,
    port: config.port,
    onConnection: (socket) => {
      const connectionLog = log.child({ remote: socket.remoteAddress })
      const connection = new KafkaConnection(
        socket,
        (request) => {
          if (gateway === undefined || gateways === undefined) return Promise.reject(new Error('kafka listener not started yet'))
          return dispatchKafkaRequest(gateway, gateways, request)
        },
        connectionLog,
        config.limits,
      )
      return { onData: (chunk) => connection.onData(chunk), onClose: () => connection.onClose() }
    },
  })
  const endpoint: KafkaEndpoint = { host: config.advertisedHost ?? config.host, port: listener.port }
  gateway = { nodeId: node.nodeId, clock: node.clock, log, selfEndpoint: endpoint, autoCreateTopics: config.autoCreateTopics ?? false, ask: (actorId, kind, payload, options) => node.ask(actorId, kind, payload, options) }
  gateways = kafkaGateways(gateway)
  log.info({ host: listener.host, port: listener.port, advertisedHost: endpoint.host }, 'kafka listener started')
  return { endpoint, close: () => listener.close() }
}
