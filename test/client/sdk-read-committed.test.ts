import { afterEach, describe, expect, it } from 'vitest'
import { BrokerClient } from '../../src/client/broker-client.js'
import { silentLogger } from '../../src/env/index.js'
import { createRealEnv } from '../../src/env/real/index.js'
import { Client, type Consumer, type ConsumerMessage } from '../../src/index.js'
import type { SkeinNode } from '../../src/node.js'
import { hostedReplica, valuesBatch } from '../helpers/hosted-txn.js'
import { InProcessNodes } from '../helpers/in-process-nodes.js'

/**
 * read_committed end to end: the SDK consumer against a real node in this process, with
 * transaction markers written on the partition leader as the transaction coordinator will.
 */

const CLUSTER = { clusterId: 'txn-read-test', clusterSecret: 'txn-read-test-secret-0123456789' }
const TOPIC = 'tx'
const nodes = new InProcessNodes(CLUSTER, 'skein-txn-read')
const closers: Array<() => Promise<void>> = []

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close()
  await nodes.cleanup()
})

const batch = (values: string[], txn?: { producerId: number; sequence: number }): Uint8Array => valuesBatch(values, 1_700_000_000_000, txn)

/** Collects what `consumer` reads, in the background, until it is closed. */
function collect(consumer: Consumer): string[] {
  const values: string[] = []
  void (async () => {
    for await (const message of consumer as AsyncIterable<ConsumerMessage>) values.push(String(message.value))
  })().catch(() => undefined)
  return values
}

async function until(condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** One node with TOPIC (one partition) led, and a BrokerClient to it. */
async function nodeWithTopic(): Promise<{ node: SkeinNode; broker: BrokerClient }> {
  const [node] = (await nodes.startCluster(['n1'])) as [SkeinNode]
  const broker = await BrokerClient.connect(createRealEnv({ dataDir: '/nonexistent', nodeId: 'client', log: silentLogger }), { seeds: [node.address], ...CLUSTER, retryBackoffMs: 20 })
  closers.push(() => broker.close())
  await broker.createTopic({ name: TOPIC, partitions: 1, replicationFactor: 1 })
  await broker.waitForLeaders(TOPIC)
  return { node: node, broker }
}

describe('SDK consumer isolation', () => {
  it('readCommitted_seesCommittedTransactionsOnly_waitsBehindAnOpenOne; readUncommitted_seesAll', async () => {
    const { node, broker } = await nodeWithTopic()
    const a = (await broker.initProducerId()).producerId
    const b = (await broker.initProducerId()).producerId
    const replica = hostedReplica(node, TOPIC, 0)
    const marker = (producerId: number, commit: boolean) => replica.writeTxnMarker({ producerId, producerEpoch: 0, commit, coordinatorEpoch: 0 })

    await broker.produce(TOPIC, 0, batch(['p0']), -1)
    await broker.produce(TOPIC, 0, batch(['a0', 'a1'], { producerId: a, sequence: 0 }), -1)
    const b0 = await broker.produce(TOPIC, 0, batch(['b0'], { producerId: b, sequence: 0 }), -1)
    await broker.produce(TOPIC, 0, batch(['p1']), -1)
    await marker(a, true)
    await marker(b, false)
    await broker.produce(TOPIC, 0, batch(['a2'], { producerId: a, sequence: 2 }), -1)
    await marker(a, true)
    await broker.produce(TOPIC, 0, batch(['p2']), -1)

    const client = new Client({ seeds: [node.address], clientId: 'txn-read', ...CLUSTER })
    closers.push(() => client.close())
    expect(() => client.consumer({ isolation: 'serializable' as never })).toThrow(/isolation must be/)
    const committed = client.consumer({ fromBeginning: true, maxWaitMs: 100, isolation: 'read_committed' })
    const uncommitted = client.consumer({ fromBeginning: true, maxWaitMs: 100 })
    closers.push(() => committed.close(), () => uncommitted.close())
    committed.assign([{ topic: TOPIC, partition: 0 }])
    uncommitted.assign([{ topic: TOPIC, partition: 0 }])
    const seenCommitted = collect(committed)
    const seenAll = collect(uncommitted)
    await until(() => seenCommitted.length >= 6 && seenAll.length >= 7)
    expect(seenCommitted).toEqual(['p0', 'a0', 'a1', 'p1', 'a2', 'p2'])
    expect(seenAll).toEqual(['p0', 'a0', 'a1', 'b0', 'p1', 'a2', 'p2'])

    // An open transaction holds read_committed back (p3 too, behind it) until its marker commits.
    const b1 = await broker.produce(TOPIC, 0, batch(['b1'], { producerId: b, sequence: 1 }), -1)
    await broker.produce(TOPIC, 0, batch(['p3']), -1)
    // The fetch answers: both carry the LSO; read_committed stops there and lists the aborted transaction.
    const plain = await broker.fetch(TOPIC, 0, 0)
    expect(plain).toMatchObject({ lastStableOffset: b1.baseOffset })
    expect(plain.abortedTransactions).toBeUndefined()
    expect(plain.highWatermark).toBeGreaterThan(b1.baseOffset)
    const isolated = await broker.fetch(TOPIC, 0, 0, 1024 * 1024, 0, 1, 'read_committed')
    expect(isolated).toMatchObject({ lastStableOffset: b1.baseOffset, abortedTransactions: [{ producerId: b, firstOffset: b0.baseOffset }] })
    expect(isolated.records.length).toBeLessThan(plain.records.length)
    await until(() => seenAll.length >= 9)
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(seenCommitted).toHaveLength(6)
    await marker(b, true)
    await until(() => seenCommitted.length >= 8)
    expect(seenCommitted.slice(6)).toEqual(['b1', 'p3'])
  }, 60_000)

  it('latest_isTheLastStableOffset_underReadCommitted_andTheHighWatermarkOtherwise', async () => {
    const { node, broker } = await nodeWithTopic()
    const a = (await broker.initProducerId()).producerId
    await broker.produce(TOPIC, 0, batch(['p0']), -1)
    const open = await broker.produce(TOPIC, 0, batch(['a0'], { producerId: a, sequence: 0 }), -1)
    await broker.produce(TOPIC, 0, batch(['p1']), -1)

    const client = new Client({ seeds: [node.address], clientId: 'txn-latest', ...CLUSTER })
    closers.push(() => client.close())
    const startAtLatest = async (isolation: 'read_committed' | 'read_uncommitted'): Promise<Consumer> => {
      const consumer = client.consumer({ fromBeginning: false, maxWaitMs: 100, isolation })
      closers.push(() => consumer.close())
      consumer.assign([{ topic: TOPIC, partition: 0 }])
      return consumer
    }
    const committedReader = await startAtLatest('read_committed')
    const uncommittedReader = await startAtLatest('read_uncommitted')
    const committed = collect(committedReader)
    const uncommitted = collect(uncommittedReader)
    await until(() => committedReader.position({ topic: TOPIC, partition: 0 }) !== undefined && uncommittedReader.position({ topic: TOPIC, partition: 0 }) !== undefined)
    // 'latest' is where each reader's view of the log ends: the open transaction's first offset, or the high watermark.
    expect(committedReader.position({ topic: TOPIC, partition: 0 })).toBe(open.baseOffset)
    expect(uncommittedReader.position({ topic: TOPIC, partition: 0 })).toBe(open.baseOffset + 2)

    await hostedReplica(node, TOPIC, 0).writeTxnMarker({ producerId: a, producerEpoch: 0, commit: true, coordinatorEpoch: 0 })
    await broker.produce(TOPIC, 0, batch(['p2']), -1)
    // The committed transaction is not lost to a read_committed reader that started while it was open.
    await until(() => committed.length >= 3 && uncommitted.length >= 1)
    expect(committed).toEqual(['a0', 'p1', 'p2'])
    expect(uncommitted).toEqual(['p2'])
  }, 60_000)
})
