import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Client, type ConsumerMessage, type Consumer, SkeinClientError, partitionForKey } from '../../src/index.js'
import { silentLogger } from '../../src/env/index.js'
import { createRealEnv } from '../../src/env/real/index.js'
import { FAST_SWIM_SETTINGS } from '../../src/membership/index.js'
import { type SkeinNode, startNode } from '../../src/node.js'
import { ErrorCode } from '../../src/wire/index.js'

/**
 * The SDK end to end against a real node started in this process (one node, so topics have
 * replication factor 1; replication itself is covered by test/broker/).
 */

const CLUSTER = { clusterId: 'sdk-test', clusterSecret: 'sdk-test-secret-0123456789' }
let node: SkeinNode
let dataDir: string
let client: Client

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'skein-sdk-'))
  node = await startNode(createRealEnv({ dataDir, nodeId: 'n1', log: silentLogger }), {
    nodeId: 'n1',
    ...CLUSTER,
    host: '127.0.0.1',
    port: 0,
    seeds: [],
    peers: {},
    swimSettings: FAST_SWIM_SETTINGS,
    controllers: ['n1'],
  })
  client = new Client({ seeds: [node.address], clientId: 'sdk-test', ...CLUSTER })
}, 60_000)

afterAll(async () => {
  await client?.close()
  await node?.stop()
  await rm(dataDir, { recursive: true, force: true })
})

/** Reads `count` messages (or fails after `timeoutMs`). */
async function take(consumer: Consumer, count: number, timeoutMs = 15_000): Promise<ConsumerMessage[]> {
  const messages: ConsumerMessage[] = []
  if (count === 0) return messages
  const timer = setTimeout(() => void consumer.close(), timeoutMs)
  try {
    for await (const message of consumer) {
      messages.push(message)
      if (messages.length >= count) break
    }
  } finally {
    clearTimeout(timer)
  }
  expect(messages, 'consumer ended before reading every message').toHaveLength(count)
  return messages
}

describe('SDK against a node', () => {
  it('admin_createListDescribeAddPartitions_describeCluster', async () => {
    const admin = client.admin()
    const created = await admin.createTopic({ name: 'admin-topic', partitions: 2, replicationFactor: 1 })
    expect(created.partitions).toHaveLength(2)
    expect(await admin.listTopics()).toContain('admin-topic')
    await admin.addPartitions({ topic: 'admin-topic', totalCount: 3 })
    const described = await admin.describeTopic('admin-topic')
    expect(described.partitions).toHaveLength(3)
    const cluster = await admin.describeCluster()
    expect(cluster.nodes.map((n) => n.id)).toEqual(['n1'])
    expect(cluster.controller).toBe('n1')
    expect(cluster.partitions.filter((p) => p.topic === 'admin-topic' && p.leader === 'n1').length).toBeGreaterThanOrEqual(2)
    await admin.deleteTopic('admin-topic')
    expect(await admin.listTopics()).not.toContain('admin-topic')
    const error = await admin.createTopic({ name: 'x', partitions: 0, replicationFactor: 1 }).catch((e: unknown) => e)
    expect((error as SkeinClientError).reason).toBe('INVALID_ARGUMENT')
  }, 60_000)

  it('keyedRecords_keepPerKeyOrder_andLandOnMurmur2Partition', async () => {
    await client.admin().createTopic({ name: 'orders', partitions: 6, replicationFactor: 1 })
    const producer = client.producer({ acks: 'all', lingerMs: 5 })
    const keys = ['user-1', 'user-2', 'user-3', 'user-4', 'user-5']
    const sends = []
    for (let i = 0; i < 100; i++) {
      const key = keys[i % keys.length] as string
      sends.push(producer.send({ topic: 'orders', messages: [{ key, value: `${key}:${i}`, headers: { source: 'web' } }] }))
    }
    const acks = (await Promise.all(sends)).flat()
    await producer.close()
    acks.forEach((ack, i) => expect(ack.partition).toBe(partitionForKey(Buffer.from(keys[i % keys.length] as string), 6)))

    const consumer = client.consumer({ fromBeginning: true })
    consumer.assign(Array.from({ length: 6 }, (_, partition) => ({ topic: 'orders', partition })))
    const messages = await take(consumer, 100)
    await consumer.close()
    for (const key of keys) {
      const ofKey = messages.filter((m) => m.key?.toString() === key)
      expect(new Set(ofKey.map((m) => m.partition)).size).toBe(1)
      expect(ofKey[0]!.partition).toBe(partitionForKey(Buffer.from(key), 6))
      const sequence = ofKey.map((m) => Number(m.value!.toString().split(':')[1]))
      expect(sequence).toEqual([...sequence].sort((a, b) => a - b))
      expect(sequence).toHaveLength(20)
    }
    expect(messages.every((m) => m.headers['source']?.toString() === 'web')).toBe(true)
  }, 60_000)

  it('headersNullAndEmptyValues_roundTrip_compressedToo', async () => {
    await client.admin().createTopic({ name: 'shapes', partitions: 1, replicationFactor: 1 })
    const producer = client.producer({ lingerMs: 0, compression: 'gzip' })
    const acks = await producer.send({
      topic: 'shapes',
      messages: [
        { key: null, value: null },
        { key: '', value: '' },
        { key: Buffer.from([0, 255]), value: Buffer.from([1, 2, 3]), headers: { text: 'héllo', bytes: Buffer.from([9, 8]), empty: '' } },
        { key: 'k', value: 'x'.repeat(10_000), timestamp: 1_700_000_000_000 },
      ],
    })
    await producer.close()
    const consumer = client.consumer({ fromBeginning: true })
    consumer.assign([{ topic: 'shapes', partition: 0 }])
    const [nulls, empties, bytes, big] = await take(consumer, 4)
    await consumer.close()
    expect(nulls!.key).toBeNull()
    expect(nulls!.value).toBeNull()
    expect(empties!.key).toEqual(Buffer.alloc(0))
    expect(empties!.value).toEqual(Buffer.alloc(0))
    expect(bytes!.key).toEqual(Buffer.from([0, 255]))
    expect(bytes!.value).toEqual(Buffer.from([1, 2, 3]))
    expect(bytes!.headers['text']!.toString()).toBe('héllo')
    expect(bytes!.headers['bytes']).toEqual(Buffer.from([9, 8]))
    expect(bytes!.headers['empty']).toEqual(Buffer.alloc(0))
    expect(big!.value!.toString()).toBe('x'.repeat(10_000))
    expect(big!.timestamp).toBe(1_700_000_000_000)
    // Offsets as acknowledged (a new partition's log may start with its leader's control batch).
    expect([nulls, empties, bytes, big].map((m) => m!.offset)).toEqual(acks.map((ack) => ack.offset))
  }, 60_000)

  it('seek_byOffsetTimestampEarliestLatest', async () => {
    await client.admin().createTopic({ name: 'seeking', partitions: 1, replicationFactor: 1 })
    const producer = client.producer({ lingerMs: 0 })
    const base = 1_800_000_000_000
    const offsets: number[] = []
    for (let i = 0; i < 10; i++) offsets.push((await producer.send({ topic: 'seeking', messages: [{ value: `${i}`, timestamp: base + i * 1_000 }] }))[0]!.offset)
    const tp = { topic: 'seeking', partition: 0 }
    const consumer = client.consumer({ maxWaitMs: 100 })
    consumer.assign([{ ...tp, offset: offsets[7]! }])
    expect((await take(consumer, 1))[0]!.value!.toString()).toBe('7')
    consumer.seek(tp, { timestamp: base + 4_500 })
    expect((await take(consumer, 1))[0]!.value!.toString()).toBe('5')
    consumer.seek(tp, 'earliest')
    expect((await take(consumer, 2)).map((m) => m.value!.toString())).toEqual(['0', '1'])
    consumer.seek(tp, 'latest')
    const next = take(consumer, 1)
    await new Promise((resolve) => setTimeout(resolve, 300))
    await producer.send({ topic: 'seeking', messages: [{ value: 'after-latest' }] })
    const [after] = await next
    expect(after!.value!.toString()).toBe('after-latest')
    expect(after!.offset).toBeGreaterThan(offsets[9]!)
    consumer.seek(tp, { timestamp: base + 60_000_000 }) // past every record: the end of the log
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(consumer.position(tp)).toBe(after!.offset + 1)
    await consumer.close()
    await producer.close()
  }, 60_000)

  it('run_eachBatch_pauseResume', async () => {
    await client.admin().createTopic({ name: 'running', partitions: 2, replicationFactor: 1 })
    const producer = client.producer({ lingerMs: 0 })
    const acks = await producer.send({ topic: 'running', messages: [{ value: 'a', partition: 0 }, { value: 'b', partition: 1 }] })
    await producer.close()
    const consumer = client.consumer({ fromBeginning: true, maxWaitMs: 100 })
    consumer.assign([{ topic: 'running', partition: 0 }, { topic: 'running', partition: 1 }])
    consumer.pause([{ topic: 'running', partition: 1 }])
    const seen: string[] = []
    const running = consumer.run({
      eachBatch: ({ batch }) => {
        for (const m of batch.messages) seen.push(`${batch.partition}:${m.value}`)
      },
    })
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(seen).toEqual(['0:a'])
    consumer.resume([{ topic: 'running', partition: 1 }])
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(seen).toEqual(['0:a', '1:b'])
    expect(consumer.position({ topic: 'running', partition: 1 })).toBe(acks[1]!.offset + 1)
    await consumer.close()
    await running
  }, 60_000)

  it('idempotentProducer_sequencesAcceptedByTheBroker_acrossBatchesAndPartitions', async () => {
    await client.admin().createTopic({ name: 'exactly', partitions: 2, replicationFactor: 1 })
    await client.connect()
    const producer = client.producer({ idempotent: true, lingerMs: 0 })
    const acks = []
    for (let i = 0; i < 6; i++) acks.push(...(await producer.send({ topic: 'exactly', messages: [{ value: `a${i}`, partition: i % 2 }, { value: `b${i}`, partition: i % 2 }] })))
    await producer.close()
    // The broker refuses a sequence gap (OUT_OF_ORDER_SEQUENCE_NUMBER): every batch was accepted, in order.
    for (const partition of [0, 1]) {
      const offsets = acks.filter((ack) => ack.partition === partition).map((ack) => ack.offset)
      expect(offsets).toEqual([...offsets].sort((a, b) => a - b))
      expect(new Set(offsets).size).toBe(6)
    }
  }, 60_000)

  it('unknownTopic_producerAndConsumer_failWithTypedError_noHang', async () => {
    const producer = client.producer()
    const sendError = await producer.send({ topic: 'no-such-topic', messages: [{ value: 'v' }] }).catch((e: unknown) => e)
    expect((sendError as SkeinClientError).reason).toBe('UNKNOWN_TOPIC')
    await producer.close()
    const consumer = client.consumer()
    consumer.assign([{ topic: 'no-such-topic', partition: 0 }])
    const readError = await take(consumer, 1).catch((e: unknown) => e)
    expect((readError as SkeinClientError).code).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION.code)
    await consumer.close()
  }, 60_000)
})
