import type { Actor, Message } from '../actor/index.js'
import { ErrorCode, SkeinError } from '../wire/errors.js'
import { KAFKA_ENDPOINT_KIND } from '../wire/broker-protocol.js'

/**
 * Where a node's Kafka listener is. Membership gossips only the node-link address, so a node
 * answering Metadata asks each other node's `kafka/<node>` actor for its Kafka host and port
 * (and caches the answer: see KafkaEndpoints). Answers null when the node runs no listener.
 */
export interface KafkaEndpoint {
  readonly host: string
  readonly port: number
}

export const KafkaEndpointRequest = { endpoint: 'endpoint' } as const

export function kafkaEndpointActorId(nodeId: string): string {
  return `${KAFKA_ENDPOINT_KIND}/${nodeId}`
}

export class KafkaEndpointActor implements Actor {
  constructor(private readonly endpoint: () => KafkaEndpoint | undefined) {}

  receive(message: Message): unknown {
    if (message.kind !== KafkaEndpointRequest.endpoint) throw new SkeinError(ErrorCode.INVALID_REQUEST, `kafka endpoint actor does not handle '${message.kind}'`)
    return this.endpoint() ?? null
  }
}
