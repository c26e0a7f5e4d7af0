import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { BrokerClient } from '../../src/client/index.js'
import { silentLogger } from '../../src/env/index.js'
import { createRealEnv } from '../../src/env/real/index.js'
import { decodeRecordBatches, encodeRecordBatch } from '../../src/log/record-batch.js'
import { FAST_SWIM_SETTINGS } from '../../src/membership/index.js'
import { type SkeinNode, startNode } from '../../src/node.js'
import { ErrorCode, SkeinError } from '../../src/wire/index.js'

const CLUSTER = { clusterId: 'broker-test', clusterSecret: 'broker-test-secret-0123456789' }
const nodes: SkeinNode[] = []
const dirs: string[] = []
let client: BrokerClient | undefined

afterEach(async () => {
  await client?.close()
  client = undefined
  await Promise.all(nodes.splice(0).map((node) => node.stop()))
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })))
})

async function startCluster(ids: string[]): Promise<SkeinNode[]> {
  let seed: string | undefined
  for (const id of ids) {
    const dataDir = await mkdtemp(join(tmpdir(), `skein-broker-${id}-`))
    dirs.push(dataDir)
    const node = await startNode(createRealEnv({ dataDir, nodeId: id, log: silentLogger }), {
      nodeId: id,
      ...CLUSTER,
      host: '127.0.0.1',
      port: 0,
      seeds: seed === undefined ? [] : [seed],
      peers: {},
      swimSettings: FAST_SWIM_SETTINGS,
      controllers: ids,
    })
    seed ??= node.address
    nodes.push(node)
  }
  return nodes
}

function batchOf(values: string[]): Uint8Array {
  return encodeRecordBatch({ records: values.map((value, i) => ({ key: null, value: new TextEncoder().encode(value), timestamp: 1_700_000_000_000 + i })) })
}

describe('a three-node broker in one process', () => {
  it('createTopic_produceAcksAll_fetchReadsBackInOrder', async () => {
    const [first] = await startCluster(['n1', 'n2', 'n3'])
    client = await BrokerClient.connect(createRealEnv({ dataDir: '/nonexistent', nodeId: 'client', log: silentLogger }), { seeds: [first!.address], ...CLUSTER })
    const created = await client.createTopic({ name: 'orders', partitions: 3, replicationFactor: 3 })
    expect(created.partitions).toHaveLength(3)
    for (const replicas of created.partitions) expect(new Set(replicas).size).toBe(3)
    await client.waitForLeaders('orders')
    for (let partition = 0; partition < 3; partition++) {
      const first = await client.produce('orders', partition, batchOf(['a', 'b']), -1)
      const second = await client.produce('orders', partition, batchOf(['c']), -1)
      expect(second.baseOffset).toBe(first.lastOffset + 1)
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
    const [first] = await startCluster(['n1', 'n2', 'n3'])
    client = await BrokerClient.connect(createRealEnv({ dataDir: '/nonexistent', nodeId: 'client', log: silentLogger }), { seeds: [first!.address], ...CLUSTER, retryBackoffMs: 10 })
    await client.createTopic({ name: 'strict', partitions: 1, replicationFactor: 3, configs: { 'max.message.bytes': 1024 } })
    await client.waitForLeaders('strict')
    const good = await client.produce('strict', 0, batchOf(['first']))
    const endBefore = good.lastOffset + 1

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

    // Nothing was written: the next good batch lands right after the first, and the log holds only those two.
    const next = await client.produce('strict', 0, batchOf(['second']), -1, { leaderEpoch })
    expect(next.baseOffset).toBe(endBefore)
    const fetched = await client.fetch('strict', 0, 0)
    const values = decodeRecordBatches(fetched.records).flatMap((batch) => batch.isControl ? [] : batch.records.map((r) => new TextDecoder().decode(r.value!)))
    expect(values).toEqual(['first', 'second'])
  }, 60_000)
})
