import { afterEach, describe, expect, it } from 'vitest'
import { BrokerClient } from '../../src/client/index.js'
import { silentLogger } from '../../src/env/index.js'
import { createRealEnv } from '../../src/env/real/index.js'
import { decodeRecordBatches, encodeRecordBatch } from '../../src/log/record-batch.js'
import { ErrorCode, SkeinError } from '../../src/wire/index.js'
import { InProcessNodes } from '../helpers/in-process-nodes.js'

const CLUSTER = { clusterId: 'broker-test', clusterSecret: 'broker-test-secret-0123456789' }
const nodes = new InProcessNodes(CLUSTER, 'skein-broker')
let client: BrokerClient | undefined

afterEach(async () => {
  await client?.close()
  client = undefined
  await nodes.cleanup()
})

function batchOf(values: string[]): Uint8Array {
  return encodeRecordBatch({ records: values.map((value, i) => ({ key: null, value: new TextEncoder().encode(value), timestamp: 1_700_000_000_000 + i })) })
}

describe('a three-node broker in one process', () => {
  it('createTopic_produceAcksAll_fetchReadsBackInOrder', async () => {
    const [first] = await nodes.startCluster(['n1', 'n2', 'n3'])
    client = await BrokerClient.connect(createRealEnv({ dataDir: '/nonexistent', nodeId: 'client', log: silentLogger }), { seeds: [first!.address], ...CLUSTER })
    const created = await client.createTopic({ name: 'orders', partitions: 3, replicationFactor: 3 })
    expect(created.partitions).toHaveLength(3)
    for (const replicas of created.partitions) expect(new Set(replicas).size).toBe(3)
    await client.waitForLeaders('orders')
    for (let partition = 0; partition < 3; partition++) {
      const first = await client.produce('orders', partition, batchOf(['a', 'b']), -1)
      const second = await client.produce('orders', partition, batchOf(['c']), -1)
      // Next to each other unless a leader change (the hand-over to the preferred replica) put its control batch between them.
      expect(second.baseOffset).toBeGreaterThan(first.lastOffset)
    }
    const fetched = await client.fetch('orders', 1, 0)
    const values = decodeRecordBatches(fetched.records).flatMap((batch) => batch.isControl ? [] : batch.records.map((r) => new TextDecoder().decode(r.value!)))
    expect(values).toEqual(['a', 'b', 'c'])
    const described = await client.describeTopic('orders')
    expect(described.partitions[1]?.isr).toHaveLength(3)
    expect(await client.listTopics()).toEqual(['orders'])
    await expect(client.createTopic({ name: 'orders', partitions: 1, replicationFactor: 1 })).rejects.toMatchObject({ code: ErrorCode.TOPIC_ALREADY_EXISTS.code })
    await expect(client.createTopic({ name: 'bad/name', partitions: 1, replicationFactor: 1 })).rejects.toMatchObject({ code: ErrorCode.INVALID_TOPIC_EXCEPTION.code })
    await expect(client.createTopic({ name: 'big', partitions: 1, replicationFactor: 4 })).rejects.toMatchObject({ code: ErrorCode.INVALID_REPLICATION_FACTOR.code })
    const error = await client.produce('nope', 0, batchOf(['x'])).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(SkeinError)
    expect((error as SkeinError).code).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION.code)
  }, 60_000)

  it('badInput_eachGetsItsStableCode_nothingIsWritten_andTheClusterKeepsServing', async () => {
    const [first] = await nodes.startCluster(['n1', 'n2', 'n3'])
    client = await BrokerClient.connect(createRealEnv({ dataDir: '/nonexistent', nodeId: 'client', log: silentLogger }), { seeds: [first!.address], ...CLUSTER, retryBackoffMs: 10 })
    await client.createTopic({ name: 'strict', partitions: 1, replicationFactor: 3, configs: { 'max.message.bytes': 1024 } })
    await client.waitForLeaders('strict')
    const good = await client.produce('strict', 0, batchOf(['first']))
    const endBefore = good.lastOffset + 1
    expect(endBefore).toBeGreaterThan(0)

    const codeOf = async (attempt: Promise<unknown>): Promise<string> => {
      const error = await attempt.then(() => undefined, (e: unknown) => e)
      expect(error, 'the request should have failed').toBeInstanceOf(SkeinError)
      return (error as SkeinError).errorName
    }
    expect(await codeOf(client.produce('missing-topic', 0, batchOf(['x'])))).toBe('UNKNOWN_TOPIC_OR_PARTITION')
    expect(await codeOf(client.produce('strict', 7, batchOf(['x'])))).toBe('UNKNOWN_TOPIC_OR_PARTITION')
    expect(await codeOf(client.produce('strict', 0, batchOf(['y'.repeat(2_000)])))).toBe('MESSAGE_TOO_LARGE')
    const corrupt = batchOf(['z', 'zz'])
    corrupt[corrupt.length - 1] = (corrupt[corrupt.length - 1] as number) ^ 0xff // a record byte, covered by the CRC
    expect(await codeOf(client.produce('strict', 0, corrupt))).toBe('CORRUPT_MESSAGE')
    const leaderEpoch = (await client.metadata(['strict'])).topics[0]!.partitions[0]!.leaderEpoch
    expect(leaderEpoch).toBeGreaterThan(0)
    expect(await codeOf(client.produce('strict', 0, batchOf(['stale']), -1, { leaderEpoch: leaderEpoch - 1 }))).toBe('FENCED_LEADER_EPOCH')
    expect(await codeOf(client.fetch('strict', 0, endBefore + 100))).toBe('OFFSET_OUT_OF_RANGE')
    const control = encodeRecordBatch({ isControl: true, records: [{ key: Uint8Array.of(0, 0, 0, 2), value: null, timestamp: 1 }] })
    expect(await codeOf(client.produce('strict', 0, control))).toBe('INVALID_RECORD')

    // Nothing was written: the log holds the two good batches and nothing else but the
    // leader-change control batches an election (on a loaded machine) may add.
    await client.produce('strict', 0, batchOf(['second']))
    const fetched = await client.fetch('strict', 0, 0)
    const values = decodeRecordBatches(fetched.records).flatMap((batch) => batch.isControl ? [] : batch.records.map((r) => new TextDecoder().decode(r.value!)))
    expect(values).toEqual(['first', 'second'])
  }, 60_000)

  it('replicaNodeDownPastReassignAfter_replicasMoveToALiveNode_dataIntact_leadersReturnToPreferred', async () => {
    const ids = ['n1', 'n2', 'n3', 'n4']
    const cluster = await nodes.startCluster(ids, { controllers: ['n1', 'n2', 'n3'], broker: { replicaReassignAfterMs: 1_000, rebalanceIntervalMs: 300 } })
    client = await BrokerClient.connect(createRealEnv({ dataDir: '/nonexistent', nodeId: 'client', log: silentLogger }), { seeds: [cluster[0]!.address], ...CLUSTER, retryBackoffMs: 20 })
    const created = await client.createTopic({ name: 'moving', partitions: 4, replicationFactor: 3 })
    await client.waitForLeaders('moving')
    const onN4 = created.partitions.map((replicas, p) => (replicas.includes('n4') ? p : -1)).filter((p) => p >= 0)
    expect(onN4.length).toBeGreaterThan(0)
    for (let p = 0; p < 4; p++) await client.produce('moving', p, batchOf([`before-${p}`]))

    await nodes.stop('n4') // n4 leaves; after 1 s its replicas move to the other nodes
    const deadline = Date.now() + 40_000
    let described = await client.describeTopic('moving')
    while (described.partitions.some((p) => p.replicas.includes('n4') || (p.isr?.length ?? 0) !== 3) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200))
      described = await client.describeTopic('moving').catch(() => described)
    }
    for (const partition of described.partitions) {
      expect(partition.replicas, `partition ${partition.partition}`).not.toContain('n4')
      expect(new Set(partition.replicas).size).toBe(3)
      expect(partition.isr).toHaveLength(3)
    }
    for (let p = 0; p < 4; p++) {
      await client.produce('moving', p, batchOf([`after-${p}`]))
      const fetched = await client.fetch('moving', p, 0)
      const values = decodeRecordBatches(fetched.records).flatMap((batch) => batch.isControl ? [] : batch.records.map((r) => new TextDecoder().decode(r.value!)))
      expect(values).toEqual([`before-${p}`, `after-${p}`])
    }
    // Preferred-leader balancing: every partition ends up led by its first replica.
    const balancedBy = Date.now() + 20_000
    let metadata = await client.metadata(['moving'])
    while (metadata.topics[0]!.partitions.some((p) => p.leader !== p.replicas[0]) && Date.now() < balancedBy) {
      await new Promise((resolve) => setTimeout(resolve, 200))
      metadata = await client.metadata(['moving'])
    }
    for (const partition of metadata.topics[0]!.partitions) expect(partition.leader).toBe(partition.replicas[0])
  }, 90_000)
})
