import { afterEach, describe, expect, it } from 'vitest'
import { BrokerClient } from '../../src/client/broker-client.js'
import { silentLogger } from '../../src/env/index.js'
import { createRealEnv } from '../../src/env/real/index.js'
import type { SkeinNode } from '../../src/node.js'
import { BrokerRequest, type ListOffsetsRequest, type ListOffsetsResponse, replicaActorId } from '../../src/wire/index.js'
import { hostedReplica, valuesBatch } from '../helpers/hosted-txn.js'
import { InProcessNodes } from '../helpers/in-process-nodes.js'

/**
 * The replica actor's listOffsets under each isolation, on a real one-node cluster: with a
 * transaction open, read_committed's latest offset is the last stable offset (Kafka's
 * ListOffsets with isolation_level 1), read_uncommitted's the high watermark.
 */

const CLUSTER = { clusterId: 'list-offsets-isolation', clusterSecret: 'list-offsets-isolation-secret-0123' }
const TOPIC = 'lo'
const nodes = new InProcessNodes(CLUSTER, 'skein-list-offsets')
const closers: Array<() => Promise<void>> = []

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close()
  await nodes.cleanup()
})

/** Later than any batch the leader writes itself (its epoch's first batch is stamped now), so a lookup by it finds only ours. */
const TIMESTAMP_MS = 4_000_000_000_000

/** One node with TOPIC/0 led there, a client, a producer id, and listOffsets asked of the replica actor. */
async function started() {
  const [first] = await nodes.startCluster(['n1'])
  const node = first as SkeinNode
  const broker = await BrokerClient.connect(createRealEnv({ dataDir: '/nonexistent', nodeId: 'client', log: silentLogger }), { seeds: [node.address], ...CLUSTER, retryBackoffMs: 20 })
  closers.push(() => broker.close())
  await broker.createTopic({ name: TOPIC, partitions: 1, replicationFactor: 1 })
  await broker.waitForLeaders(TOPIC)
  const producerId = (await broker.initProducerId()).producerId
  const list = (request: ListOffsetsRequest) =>
    node.actors.ask<ListOffsetsResponse>(replicaActorId(TOPIC, 0, 'n1'), BrokerRequest.listOffsets, request, { timeoutMs: 5_000 })
  return { node, broker, producerId, list }
}

const batch = (values: string[], txn?: { producerId: number; sequence: number }): Uint8Array => valuesBatch(values, TIMESTAMP_MS, txn)

describe('replica listOffsets isolation', () => {
  it('listOffsets_latestReadCommitted_isTheLastStableOffset_untilTheMarkerCommits', async () => {
    const { node, broker, producerId, list } = await started()

    const first = await broker.produce(TOPIC, 0, batch(['p0']), -1)
    const open = await broker.produce(TOPIC, 0, batch(['t0'], { producerId, sequence: 0 }), -1)
    const after = await broker.produce(TOPIC, 0, batch(['p1']), -1)
    const highWatermark = after.lastOffset + 1

    expect(await list({ timestamp: -1 })).toEqual({ offset: highWatermark, timestamp: -1 })
    expect(await list({ timestamp: -1, isolation: 'read_uncommitted' })).toEqual({ offset: highWatermark, timestamp: -1 })
    expect(await list({ timestamp: -1, isolation: 'read_committed' })).toEqual({ offset: open.baseOffset, timestamp: -1 })
    // By time: the first record at or after it (p0, below the LSO); earliest is unchanged.
    expect(await list({ timestamp: TIMESTAMP_MS, isolation: 'read_committed' })).toEqual({ offset: first.baseOffset, timestamp: TIMESTAMP_MS })
    expect((await list({ timestamp: -2, isolation: 'read_committed' })).offset).toBe(0)
    await expect(list({ timestamp: -1, isolation: 'serializable' as never })).rejects.toThrow(/isolation must be/)

    await hostedReplica(node, TOPIC, 0).writeTxnMarker({ producerId, producerEpoch: 0, commit: true, coordinatorEpoch: 0 })
    const committed = await list({ timestamp: -1, isolation: 'read_committed' })
    expect(committed.offset).toBe(hostedReplica(node, TOPIC, 0).highWatermark)
    expect(committed.offset).toBeGreaterThan(after.lastOffset)
  }, 60_000)

  it('listOffsets_byTimestampReadCommitted_findsNothingAtOrPastTheLastStableOffset', async () => {
    const { broker, producerId, list } = await started()

    const open = await broker.produce(TOPIC, 0, batch(['t0'], { producerId, sequence: 0 }), -1)
    expect(await list({ timestamp: TIMESTAMP_MS, isolation: 'read_committed' })).toEqual({ offset: -1, timestamp: -1 })
    expect((await list({ timestamp: TIMESTAMP_MS })).offset).toBe(open.baseOffset)
  }, 60_000)
})
