import { appendFileSync } from 'node:fs'
import { connect } from 'node:net'
import { CompressionTypes, Kafka, logLevel } from 'kafkajs'
import { afterEach, describe, expect, it } from 'vitest'
import { Client } from '../../src/index.js'
import { ApiKey, encodeRequest } from '../../src/kafka/index.js'
import { consumeAll } from '../helpers/consume-all.js'
import { startKafkaCluster } from '../helpers/kafka-cluster.js'
import { Processes, retry } from '../helpers/processes.js'

/**
 * kafkajs against a real three-process skein cluster through each node's Kafka listener.
 * Nodes start with `--kafka-port ephemeral` and the test reads each port from 'node started'.
 * KAFKA_DEBUG_LOG=<file> writes kafkajs's debug log there as JSON lines, for a failure's
 * investigation (every request and response, with error codes).
 */

const CLUSTER = { clusterId: 'kafka-compat', secret: 'kafka-compat-secret-0123456789abcdef' }
const NODE_IDS = ['n1', 'n2', 'n3'] as const
/** Gossip and the metadata quorum settle within a few seconds; bounds a hung test. */
const CLUSTER_READY_MS = 30_000

const procs = new Processes()
const cleanups: (() => Promise<unknown>)[] = []

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined)
  await procs.cleanup()
})

function startCluster(): Promise<{ kafkaPorts: number[]; seed: string }> {
  return startKafkaCluster(procs, CLUSTER, NODE_IDS)
}

function kafkaClient(kafkaPorts: number[]): Kafka {
  return new Kafka({
    clientId: 'kafka-compat-test',
    brokers: [`127.0.0.1:${kafkaPorts[0]}`],
    logLevel: process.env['KAFKA_DEBUG_LOG'] === undefined ? logLevel.NOTHING : logLevel.DEBUG,
    ...(process.env['KAFKA_DEBUG_LOG'] === undefined ? {} : { logCreator: () => (entry: { namespace: string; level: number; log: Record<string, unknown> }) => appendFileSync(process.env['KAFKA_DEBUG_LOG'] as string, `${JSON.stringify({ ns: entry.namespace, lvl: entry.level, ...entry.log })}\n`) }),
    retry: { retries: 10, initialRetryTime: 100, maxRetryTime: 1_000 },
  })
}

describe('kafkajs against skein', () => {
  it('creates a topic, produces keyed gzip messages, reads them back, deletes the topic', async () => {
    const { kafkaPorts, seed } = await startCluster()
    const kafka = kafkaClient(kafkaPorts)
    const admin = kafka.admin()
    await admin.connect()
    cleanups.push(() => admin.disconnect())

    // Every node in Metadata, each with its own Kafka port.
    await retry(async () => {
      const cluster = await admin.describeCluster()
      expect(cluster.brokers.map((b) => b.port).sort()).toEqual([...kafkaPorts].sort())
    }, CLUSTER_READY_MS, 200)

    const topic = 'kafkajs-topic'
    await retry(() => admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 3 }], waitForLeaders: true }), CLUSTER_READY_MS, 500)
    expect(await admin.listTopics()).toContain(topic)

    const producer = kafka.producer({ allowAutoTopicCreation: false })
    await producer.connect()
    cleanups.push(() => producer.disconnect())
    const messages = Array.from({ length: 30 }, (_, i) => ({ key: `key-${i % 7}`, value: `value-${i}`, headers: { n: String(i) } }))
    const beforeSendMs = Date.now()
    const sent = await producer.send({ topic, acks: -1, compression: CompressionTypes.GZIP, messages })
    expect(sent.every((r) => r.errorCode === 0)).toBe(true)
    // ListOffsets: latest is past every record (a partition's log also holds the control batch
    // each new leader writes, so offsets exceed the record count); by the time just before the send, each partition's first record.
    const offsets = await admin.fetchTopicOffsets(topic)
    expect(offsets.map((p) => Number(p.low))).toEqual([0, 0, 0])
    expect(offsets.reduce((sum, p) => sum + Number(p.high), 0)).toBeGreaterThanOrEqual(30)
    const byTimestamp = await admin.fetchTopicOffsetsByTimestamp(topic, beforeSendMs)
    for (const p of byTimestamp) {
      const baseOffset = sent.find((r) => r.partition === p.partition)?.baseOffset
      expect(p.offset).toBe(baseOffset ?? '-1')
    }

    // The native SDK reads the same records kafkajs wrote (gzip batches, stored as sent).
    const client = new Client({ seeds: [seed], clusterId: CLUSTER.clusterId, clusterSecret: CLUSTER.secret, clientId: 'native-reader' })
    cleanups.push(() => client.close())
    const read = await consumeAll(client, topic, 3, 30)
    expect(read.map((m) => Buffer.from(m.value ?? []).toString()).sort()).toEqual(messages.map((m) => m.value).sort())

    // A kafkajs consumer group (FindCoordinator, JoinGroup, SyncGroup, Heartbeat, Fetch,
    // OffsetCommit) reads every record from the beginning, keys and headers intact.
    const consumer = kafka.consumer({ groupId: 'kafkajs-group', sessionTimeout: 10_000, heartbeatInterval: 500, maxWaitTimeInMs: 200 })
    await consumer.connect()
    cleanups.push(() => consumer.disconnect())
    await consumer.subscribe({ topic, fromBeginning: true })
    const consumed: { key: string; value: string; n: string }[] = []
    const allConsumed = new Promise<void>((resolve) => {
      void consumer.run({
        eachMessage: async ({ message }) => {
          consumed.push({ key: String(message.key), value: String(message.value), n: String(message.headers?.['n']) })
          if (consumed.length >= messages.length) resolve()
        },
      })
    })
    await Promise.race([allConsumed, new Promise((_, reject) => setTimeout(() => reject(new Error(`consumed ${consumed.length} of ${messages.length}`)), 60_000))])
    expect(consumed.map((m) => m.value).sort()).toEqual(messages.map((m) => m.value).sort())
    for (const m of consumed) expect(m.key).toBe(`key-${Number(m.n) % 7}`)
    await consumer.disconnect()
    const committed = await admin.fetchOffsets({ groupId: 'kafkajs-group', topics: [topic] })
    expect(committed[0]?.partitions.every((p) => Number(p.offset) > 0)).toBe(true)

    await admin.deleteTopics({ topics: [topic] })
    await retry(async () => expect(await admin.listTopics()).not.toContain(topic), CLUSTER_READY_MS, 200)
  }, 120_000)
})

describe('kafkajs consumer groups on skein', () => {
  it('three consumers share a topic, rebalance when one leaves, and a restarted member resumes from committed offsets', async () => {
    const { kafkaPorts } = await startCluster()
    const kafka = kafkaClient(kafkaPorts)
    const admin = kafka.admin()
    await retry(() => admin.connect(), CLUSTER_READY_MS, 200)
    cleanups.push(() => admin.disconnect())
    const topic = 'group-topic'
    await retry(() => admin.createTopics({ topics: [{ topic, numPartitions: 6, replicationFactor: 3 }], waitForLeaders: true }), CLUSTER_READY_MS, 500)

    // An idempotent producer (InitProducerId, sequence numbers in the batch headers).
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false })
    await producer.connect()
    cleanups.push(() => producer.disconnect())
    // One send per partition: kafkajs 2.2 loses a send's records for a partition whose leader
    // moved to a broker that already answered the same send (tulios/kafkajs#1798), and a
    // leader can move on this loaded machine (an election after a missed heartbeat).
    const send = async (from: number, count: number) => {
      const values = Array.from({ length: count }, (_, i) => from + i)
      for (let partition = 0; partition < 6; partition++) {
        const messages = values.filter((n) => n % 6 === partition).map((n) => ({ partition, key: `k${n}`, value: `v${n}` }))
        await producer.send({ topic, acks: -1, messages })
      }
    }
    await send(0, 60)

    const seen = new Set<string>()
    const assignments = new Map<number, number[]>()
    const consumers = [0, 1, 2].map((index) => {
      const consumer = kafka.consumer({ groupId: 'g3', sessionTimeout: 10_000, heartbeatInterval: 300, maxWaitTimeInMs: 200 })
      consumer.on(consumer.events.GROUP_JOIN, (event) => assignments.set(index, [...(event.payload.memberAssignment[topic] ?? [])]))
      cleanups.push(() => consumer.disconnect())
      return consumer
    })
    for (const consumer of consumers) {
      await consumer.connect()
      await consumer.subscribe({ topic, fromBeginning: true })
      await consumer.run({ eachMessage: async ({ message }) => void seen.add(String(message.value)) })
    }
    const covered = (members: number[]) => members.flatMap((m) => assignments.get(m) ?? []).sort((a, b) => a - b)
    await retry(async () => {
      expect(covered([0, 1, 2])).toEqual([0, 1, 2, 3, 4, 5])
      for (const m of [0, 1, 2]) expect(assignments.get(m)?.length).toBe(2)
      expect(seen.size).toBe(60)
    }, 60_000, 200)

    // One member leaves: the other two take over its partitions and read what comes next.
    await consumers[2]?.disconnect()
    assignments.delete(2)
    await retry(async () => expect(covered([0, 1])).toEqual([0, 1, 2, 3, 4, 5]), 60_000, 200)
    await send(60, 30)
    await retry(async () => {
      const missing = Array.from({ length: 90 }, (_, i) => `v${i}`).filter((v) => !seen.has(v))
      expect(missing, `missing after the rebalance; assignments ${JSON.stringify([...assignments])}`).toEqual([])
    }, 60_000, 200)
    await Promise.all([consumers[0]?.disconnect(), consumers[1]?.disconnect()])

    // Committed offsets survive: a new member of the group starts where the group stopped.
    const committed = await admin.fetchOffsets({ groupId: 'g3', topics: [topic] })
    expect(committed[0]?.partitions.every((p) => Number(p.offset) > 0)).toBe(true)
    const restarted = kafka.consumer({ groupId: 'g3', sessionTimeout: 10_000, heartbeatInterval: 300, maxWaitTimeInMs: 200 })
    cleanups.push(() => restarted.disconnect())
    const after: string[] = []
    await restarted.connect()
    await restarted.subscribe({ topic, fromBeginning: true })
    await restarted.run({ eachMessage: async ({ message }) => void after.push(String(message.value)) })
    await send(90, 10)
    await retry(async () => expect(after.length).toBeGreaterThanOrEqual(10), 60_000, 200)
    expect(after.sort()).toEqual(Array.from({ length: 10 }, (_, i) => `v${90 + i}`).sort())
  }, 180_000)
})

describe('records between kafkajs and the native SDK', () => {
  it('a record kafkajs wrote reads the same in the native SDK, byte for byte, and the other way round', async () => {
    const n1 = await procs.start('n1', { ...CLUSTER, controllers: ['n1'], kafkaPort: 'ephemeral' })
    const kafka = kafkaClient([n1.kafkaPort as number])
    const admin = kafka.admin()
    await retry(() => admin.connect(), CLUSTER_READY_MS, 200)
    cleanups.push(() => admin.disconnect())
    await retry(() => admin.createTopics({ topics: [{ topic: 'from-kafkajs', numPartitions: 1, replicationFactor: 1 }, { topic: 'from-native', numPartitions: 1, replicationFactor: 1 }], waitForLeaders: true }), CLUSTER_READY_MS, 500)
    const client = new Client({ seeds: [n1.address], clusterId: CLUSTER.clusterId, clusterSecret: CLUSTER.secret, clientId: 'native' })
    cleanups.push(() => client.close())

    // Binary keys and values (not UTF-8), a null key, a tombstone, binary and text headers, set timestamps.
    const records: { key: Buffer | null; value: Buffer | null; headers: Record<string, Buffer>; timestamp: number }[] = [
      { key: Buffer.from([0, 255, 1, 128]), value: Buffer.from([0xc3, 0x28, 0, 7]), headers: { bin: Buffer.from([255, 0]), text: Buffer.from('zwölf') }, timestamp: 1_700_000_000_123 },
      { key: null, value: Buffer.from('no key'), headers: {}, timestamp: 1_700_000_000_124 },
      { key: Buffer.from('tombstone'), value: null, headers: { empty: Buffer.alloc(0) }, timestamp: 1_700_000_000_125 },
    ]
    const expected = records.map((r) => ({ key: r.key?.toString('hex') ?? null, value: r.value?.toString('hex') ?? null, headers: hexHeaders(r.headers), timestamp: r.timestamp }))

    const producer = kafka.producer({ allowAutoTopicCreation: false })
    await producer.connect()
    cleanups.push(() => producer.disconnect())
    await producer.send({ topic: 'from-kafkajs', acks: -1, messages: records.map((r) => ({ partition: 0, key: r.key, value: r.value, headers: r.headers, timestamp: String(r.timestamp) })) })
    const nativeRead = await consumeAll(client, 'from-kafkajs', 1, records.length)
    expect(nativeRead.map((m) => ({ key: m.key?.toString('hex') ?? null, value: m.value?.toString('hex') ?? null, headers: hexHeaders(m.headers), timestamp: m.timestamp }))).toEqual(expected)

    await client.producer().send({ topic: 'from-native', messages: records.map((r) => ({ partition: 0, key: r.key ?? undefined, value: r.value, headers: r.headers, timestamp: r.timestamp })) })
    const consumer = kafka.consumer({ groupId: 'byte-for-byte', sessionTimeout: 10_000, heartbeatInterval: 500, maxWaitTimeInMs: 200 })
    await consumer.connect()
    cleanups.push(() => consumer.disconnect())
    await consumer.subscribe({ topic: 'from-native', fromBeginning: true })
    const kafkajsRead: { key: string | null; value: string | null; headers: Record<string, string | null>; timestamp: number }[] = []
    await consumer.run({
      eachMessage: async ({ message }) => {
        const headers = Object.fromEntries(Object.entries(message.headers ?? {}).map(([name, value]) => [name, value === undefined ? null : Buffer.from(value as Buffer)]))
        kafkajsRead.push({ key: message.key?.toString('hex') ?? null, value: message.value?.toString('hex') ?? null, headers: hexHeaders(headers), timestamp: Number(message.timestamp) })
      },
    })
    await retry(async () => expect(kafkajsRead.length).toBeGreaterThanOrEqual(records.length), 60_000, 200)
    expect(kafkajsRead).toEqual(expected)
  }, 90_000)
})

function hexHeaders(headers: Readonly<Record<string, Buffer | null>>): Record<string, string | null> {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, value === null ? null : value.toString('hex')]))
}

/** Sends `bytes` on a fresh connection; resolves with what came back once the node closed it. */
function sendRaw(port: number, bytes: Uint8Array): Promise<{ closed: boolean; received: Buffer }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    const socket = connect(port, '127.0.0.1', () => socket.write(bytes))
    const timer = setTimeout(() => {
      socket.destroy()
      resolve({ closed: false, received: Buffer.concat(chunks) })
    }, 3_000)
    socket.on('data', (chunk) => chunks.push(chunk))
    socket.on('error', reject)
    socket.on('close', () => {
      clearTimeout(timer)
      resolve({ closed: true, received: Buffer.concat(chunks) })
    })
  })
}

describe('bad input on the Kafka port', () => {
  it('closes the offending connection and keeps serving the others', async () => {
    const n1 = await procs.start('n1', { ...CLUSTER, controllers: ['n1'], kafkaPort: 'ephemeral' })
    const port = n1.kafkaPort as number
    const kafka = kafkaClient([port])
    const admin = kafka.admin()
    await retry(() => admin.connect(), CLUSTER_READY_MS, 200)
    cleanups.push(() => admin.disconnect())

    const sizeTooLarge = Buffer.alloc(8)
    sizeTooLarge.writeInt32BE(200 * 1024 * 1024, 0)
    const truncated = Buffer.from(encodeRequest({ apiKey: ApiKey.Metadata, apiVersion: 1, correlationId: 1, clientId: 'x' }, { topics: [{ name: 'abc' }] } as never))
    truncated.writeInt32BE(truncated.length - 4 - 3, 0)
    const unknownKey = Buffer.from(encodeRequest({ apiKey: ApiKey.ApiVersions, apiVersion: 0, correlationId: 2, clientId: 'x' }, {} as never))
    unknownKey.writeInt16BE(999, 4)
    const unknownVersion = Buffer.from(encodeRequest({ apiKey: ApiKey.Metadata, apiVersion: 1, correlationId: 3, clientId: 'x' }, { topics: [{ name: 'abc' }] } as never))
    unknownVersion.writeInt16BE(99, 6)
    for (const bytes of [Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), sizeTooLarge, truncated.subarray(0, truncated.length - 3), unknownKey, unknownVersion]) {
      const outcome = await sendRaw(port, bytes)
      expect(outcome.closed).toBe(true)
      expect(outcome.received.length).toBe(0)
    }
    // Each close is logged with a stable code (the log line may trail the socket's close: stdout is another pipe).
    // 'GET ' read as a size is 1.2 GB: garbage usually shows as a size over the limit.
    await retry(async () => {
      const closes = n1.lines.filter((line) => line.msg === 'closing kafka connection').map((line) => line['code'])
      expect(closes).toEqual(['MESSAGE_TOO_LARGE', 'MESSAGE_TOO_LARGE', 'INVALID_REQUEST', 'INVALID_REQUEST', 'UNSUPPORTED_VERSION'])
    }, 5_000, 50)
    // ApiVersions v3 (librdkafka's opener): UNSUPPORTED_VERSION in the v0 layout, connection kept.
    const v3 = Buffer.from(unknownKey)
    v3.writeInt16BE(ApiKey.ApiVersions, 4)
    v3.writeInt16BE(3, 6)
    const answer = await sendRaw(port, v3)
    expect(answer.closed).toBe(false)
    expect(answer.received.readInt32BE(4)).toBe(2) // correlation id
    expect(answer.received.readInt16BE(8)).toBe(35) // UNSUPPORTED_VERSION

    // The admin connection opened before all this still works.
    const cluster = await admin.describeCluster()
    expect(cluster.brokers.map((b) => b.port)).toEqual([port])
  }, 60_000)
})


describe('kafkajs transactions on skein', () => {
  it('a transactional producer commits records and offsets together, aborts others, and a read_committed consumer sees only the commits', async () => {
    const { kafkaPorts } = await startCluster()
    const kafka = kafkaClient(kafkaPorts)
    const admin = kafka.admin()
    await retry(() => admin.connect(), CLUSTER_READY_MS, 200)
    cleanups.push(() => admin.disconnect())
    await retry(() => admin.createTopics({ topics: [{ topic: 'tx-in', numPartitions: 1, replicationFactor: 3 }, { topic: 'tx-out', numPartitions: 2, replicationFactor: 3 }], waitForLeaders: true }), CLUSTER_READY_MS, 500)

    // InitProducerId with a transactional id, AddPartitionsToTxn, Produce, AddOffsetsToTxn, TxnOffsetCommit, EndTxn.
    const producer = kafka.producer({ transactionalId: 'kafkajs-tx', idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false })
    await retry(() => producer.connect(), CLUSTER_READY_MS, 500)
    cleanups.push(() => producer.disconnect())
    const committed = await producer.transaction()
    await committed.send({ topic: 'tx-out', acks: -1, messages: [{ key: 'a', value: 'c1' }, { key: 'b', value: 'c2' }, { key: 'c', value: 'c3' }] })
    await committed.sendOffsets({ consumerGroupId: 'tx-group', topics: [{ topic: 'tx-in', partitions: [{ partition: 0, offset: '7' }] }] })
    await committed.commit()
    const aborted = await producer.transaction()
    await aborted.send({ topic: 'tx-out', acks: -1, messages: [{ key: 'a', value: 'x1' }, { key: 'b', value: 'x2' }] })
    await aborted.sendOffsets({ consumerGroupId: 'tx-group', topics: [{ topic: 'tx-in', partitions: [{ partition: 0, offset: '9' }] }] })
    await aborted.abort()
    const last = await producer.transaction()
    await last.send({ topic: 'tx-out', acks: -1, messages: [{ key: 'd', value: 'c4' }] })
    await last.commit()

    // kafkajs consumers read committed by default: the aborted records never show.
    const consumer = kafka.consumer({ groupId: 'tx-reader', maxWaitTimeInMs: 200 })
    await consumer.connect()
    cleanups.push(() => consumer.disconnect())
    await consumer.subscribe({ topic: 'tx-out', fromBeginning: true })
    const seen: string[] = []
    await consumer.run({ eachMessage: async ({ message }) => void seen.push(String(message.value)) })
    await retry(async () => expect([...seen].sort()).toEqual(['c1', 'c2', 'c3', 'c4']), 60_000, 200)
    // The offsets committed in the first transaction took effect; the aborted one's did not.
    await retry(async () => {
      const offsets = await admin.fetchOffsets({ groupId: 'tx-group', topics: ['tx-in'] })
      expect(offsets[0]?.partitions).toEqual([{ partition: 0, offset: '7', metadata: null }])
    }, 30_000, 200)
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect([...seen].sort()).toEqual(['c1', 'c2', 'c3', 'c4'])

    // A second producer with the same transactional id fences the first (kafkajs sends the
    // transactional InitProducerId at its first transaction, not at connect).
    const successor = kafka.producer({ transactionalId: 'kafkajs-tx', idempotent: true, maxInFlightRequests: 1 })
    await successor.connect()
    cleanups.push(() => successor.disconnect())
    const successorTx = await successor.transaction()
    const zombie = await producer.transaction()
    await expect(zombie.send({ topic: 'tx-out', acks: -1, messages: [{ value: 'zombie' }] }).then(() => zombie.commit())).rejects.toThrow(/epoch|fenced/i)
    await successorTx.send({ topic: 'tx-out', acks: -1, messages: [{ key: 'e', value: 'c5' }] })
    await successorTx.commit()
    await retry(async () => expect([...seen].sort()).toEqual(['c1', 'c2', 'c3', 'c4', 'c5']), 60_000, 200)
  }, 180_000)
})
