import { expect } from 'vitest'
import { silentLogger } from '../../src/env/logger.js'
import { type ApiKeyValue, type ResponseBody, SIZE_PREFIX_BYTES, decodeRequest, decodeResponse, encodeRequest } from '../../src/kafka/index.js'
import { dispatchKafkaRequest, kafkaGateways } from '../../src/kafka/dispatch.js'
import type { GatewayNode } from '../../src/kafka/handlers/gateway.js'

/**
 * A fake node for handler tests: its actors are canned native answers keyed by actor id and
 * message kind (a value, an Error to throw, or a function of the payload), and every ask is
 * recorded, so what the handlers ask and what Kafka clients get back are both checked
 * without sockets.
 */
export const SELF = 'n1'

export type Answer = unknown | ((payload: unknown) => unknown)

export class FakeActors {
  readonly answers = new Map<string, Answer>()
  readonly asked: { actorId: string; kind: string; payload: unknown }[] = []

  on(actorId: string, kind: string, answer: Answer): this {
    this.answers.set(`${actorId} ${kind}`, answer)
    return this
  }

  askedOf(kind: string): string[] {
    return this.asked.filter((a) => a.kind === kind).map((a) => a.actorId)
  }

  /** The payloads of every ask of `kind`, in order. */
  payloadsOf(kind: string): unknown[] {
    return this.asked.filter((a) => a.kind === kind).map((a) => a.payload)
  }

  node(): GatewayNode {
    return {
      nodeId: SELF,
      clock: { nowMs: () => 0, wallMs: () => 0, setTimer: () => ({ cancel: () => undefined }) } as unknown as GatewayNode['clock'],
      log: silentLogger,
      selfEndpoint: { host: '127.0.0.1', port: 9092 },
      autoCreateTopics: false,
      ask: async <T>(actorId: string, kind: string, payload: unknown): Promise<T> => {
        this.asked.push({ actorId, kind, payload })
        if (!this.answers.has(`${actorId} ${kind}`)) throw new Error(`unexpected ask ${kind} to ${actorId}`)
        const answer = this.answers.get(`${actorId} ${kind}`)
        const value = typeof answer === 'function' ? (answer as (payload: unknown) => unknown)(payload) : answer
        if (value instanceof Error) throw value
        return value as T
      },
    }
  }
}

/** A request as a client encodes it, decoded and dispatched as the listener does; the response frame. */
export async function dispatchAsClient(node: GatewayNode, apiKey: ApiKeyValue, apiVersion: number, body: unknown, gateways = kafkaGateways(node)): Promise<Uint8Array | undefined> {
  const frame = encodeRequest({ apiKey, apiVersion, correlationId: 7, clientId: 'test' }, body as never)
  const decoded = decodeRequest(frame.subarray(SIZE_PREFIX_BYTES))
  if (!decoded.ok) throw decoded.error
  return dispatchKafkaRequest(node, gateways, decoded.request)
}

/** Round trip through the codec at `apiVersion`: what a Kafka client of that version reads. */
export function asClientReads<K extends ApiKeyValue>(apiKey: K, apiVersion: number, frame: Uint8Array | undefined): ResponseBody<K> {
  expect(frame).toBeDefined()
  return decodeResponse(apiKey, apiVersion, (frame as Uint8Array).subarray(SIZE_PREFIX_BYTES)).body as ResponseBody<K>
}
