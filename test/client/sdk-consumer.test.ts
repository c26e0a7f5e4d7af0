import { afterEach, describe, expect, it } from 'vitest'
import { type BrokerClient, Client, type ConsumerMessage } from '../../src/client/index.js'
import { silentLogger } from '../../src/env/index.js'
import { createRealEnv } from '../../src/env/real/index.js'
import { BatchField } from '../../src/log/batch-header.js'
import { encodeRecordBatch } from '../../src/log/record-batch.js'
import { ErrorCode, type FetchResponse, type MetadataResponse, SkeinError } from '../../src/wire/index.js'

/** The consumer against a scripted connection (no cluster): what it does with answers a real broker rarely gives. */

const batchAt = (baseOffset: number, values: string[]): Uint8Array =>
  encodeRecordBatch({ baseOffset, records: values.map((value) => ({ key: null, value: new TextEncoder().encode(value), timestamp: 1_700_000_000_000 })) })

class ScriptedBroker {
  constructor(private readonly chunks: Map<number, Uint8Array>, private readonly highWatermark: number) {}

  async metadata(): Promise<MetadataResponse> {
    return { version: 1, nodes: [], controller: 'n1', topics: [{ name: 't', topicId: 't', configs: {}, partitions: [{ partition: 0, replicas: ['n1'], leader: 'n1', leaderEpoch: 1 }] }] }
  }

  async listOffsets(): Promise<{ offset: number; timestamp: number }> {
    return { offset: 0, timestamp: -1 }
  }

  async fetch(_topic: string, _partition: number, offset: number): Promise<FetchResponse> {
    // The answer after the corrupt batch arrives late: it is still in flight when the corrupt one is decoded.
    if (offset === 4) await new Promise((resolve) => setTimeout(resolve, 50))
    return { records: this.chunks.get(offset) ?? new Uint8Array(0), highWatermark: this.highWatermark, lastStableOffset: this.highWatermark, logStartOffset: 0 }
  }

  async close(): Promise<void> {}
}

const clients: Client[] = []
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()))
})

describe('consumer on answers that do not decode', () => {
  it('corruptBatch_readerGetsCorruptMessage_andNothingPastItUntilASeek', async () => {
    const corrupt = batchAt(2, ['c', 'd'])
    corrupt[BatchField.crc] = (corrupt[BatchField.crc] as number) ^ 0xff
    const broker = new ScriptedBroker(new Map([[0, batchAt(0, ['a', 'b'])], [2, corrupt], [4, batchAt(4, ['e', 'f'])]]), 6)
    const client = new Client({ seeds: ['127.0.0.1:1'], env: createRealEnv({ dataDir: '/nonexistent', nodeId: 'test', log: silentLogger }), connect: async () => broker as unknown as BrokerClient })
    clients.push(client)
    const consumer = client.consumer({ fromBeginning: true, maxWaitMs: 0 })
    consumer.assign([{ topic: 't', partition: 0 }])
    const seen: string[] = []
    const error = await (async () => {
      for await (const message of consumer) {
        seen.push(Buffer.from(message.value!).toString())
        await new Promise((resolve) => setTimeout(resolve, 20)) // a slow reader: the fetches run ahead of it
      }
    })().catch((e: unknown) => e)
    expect(seen).toEqual(['a', 'b'])
    expect(error).toBeInstanceOf(SkeinError)
    expect((error as SkeinError).code).toBe(ErrorCode.CORRUPT_MESSAGE.code)
    // The records after the corrupt batch were fetched meanwhile; they must not come out of order.
    const after: ConsumerMessage[] = []
    const timer = setTimeout(() => void consumer.close(), 300)
    for await (const message of consumer) after.push(message)
    clearTimeout(timer)
    expect(after).toEqual([])
  })
})
