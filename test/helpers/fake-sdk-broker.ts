import { afterEach, expect } from 'vitest'
import { type BrokerClient, Client } from '../../src/client/index.js'
import { silentLogger } from '../../src/env/index.js'
import { createRealEnv } from '../../src/env/real/index.js'
import { decodeRecordBatches } from '../../src/log/record-batch.js'
import { type MetadataResponse, type ProduceResponse, SkeinError } from '../../src/wire/index.js'

/**
 * A scripted connection for SDK tests (no cluster): the Client gets it through its `connect`
 * seam, and the test decides what each produce answers and when.
 */

export interface SentBatch {
  topic: string
  partition: number
  bytes: Uint8Array
  acks: number
  answer: (response?: Partial<ProduceResponse>) => void
  fail: (error: Error) => void
}

export class FakeBroker {
  readonly sent: SentBatch[] = []
  /** Answer produces at once (true) or leave them to the test. */
  autoAnswer = true
  private nextOffset = new Map<string, number>()
  producerIds = 0
  closed = false

  constructor(private readonly topics: Record<string, number>) {}

  async metadata(topics?: readonly string[]): Promise<MetadataResponse> {
    const names = topics ?? Object.keys(this.topics)
    return {
      version: 1,
      nodes: [{ id: 'n1', address: '127.0.0.1:1', zone: '' }],
      controller: 'n1',
      topics: names.filter((name) => this.topics[name] !== undefined).map((name) => ({
        name,
        topicId: name,
        configs: {},
        partitions: Array.from({ length: this.topics[name] as number }, (_, partition) => ({ partition, replicas: ['n1'], leader: 'n1', leaderEpoch: 1 })),
      })),
    }
  }

  produce(topic: string, partition: number, bytes: Uint8Array, acks: number): Promise<ProduceResponse> {
    return new Promise((resolve, reject) => {
      const key = `${topic}/${partition}`
      const answer = (response: Partial<ProduceResponse> = {}): void => {
        const count = decodeRecordBatches(bytes).reduce((sum, batch) => sum + batch.recordsCount, 0)
        const base = this.nextOffset.get(key) ?? 0
        this.nextOffset.set(key, base + count)
        resolve({ baseOffset: base, lastOffset: base + count - 1, logAppendTimeMs: -1, logStartOffset: 0, ...response })
      }
      this.sent.push({ topic, partition, bytes, acks, answer, fail: reject })
      if (this.autoAnswer) answer()
    })
  }

  async close(): Promise<void> {
    this.closed = true
  }
}

export class FakeIdempotentBroker extends FakeBroker {
  async initProducerId(): Promise<{ producerId: number; producerEpoch: number }> {
    this.producerIds++
    return { producerId: 1000 + this.producerIds, producerEpoch: 0 }
  }
}

const clients: Client[] = []
/** Every client clientOver made is closed after each test of a file importing this. */
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()))
})

/** Closes `client` after the test, as clientOver's clients are. */
export function closedAfterTest(client: Client): Client {
  clients.push(client)
  return client
}

export function clientOver(broker: FakeBroker): Client {
  const client = new Client({
    seeds: ['127.0.0.1:7071'],
    env: createRealEnv({ dataDir: '/nonexistent', nodeId: 'test', log: silentLogger }),
    connect: async () => broker as unknown as BrokerClient,
  })
  clients.push(client)
  return client
}

export const tick = (ms = 0): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

export async function errorOf(attempt: Promise<unknown> | (() => unknown)): Promise<SkeinError> {
  try {
    await (typeof attempt === 'function' ? attempt() : attempt)
  } catch (error) {
    expect(error).toBeInstanceOf(SkeinError)
    return error as SkeinError
  }
  throw new Error('expected a SkeinError')
}
