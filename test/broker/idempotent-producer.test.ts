import { afterEach, describe, expect, it } from 'vitest'
import { BrokerClient } from '../../src/client/broker-client.js'
import { silentLogger } from '../../src/env/index.js'
import { createRealEnv } from '../../src/env/real/index.js'
import { decodeRecordBatches, encodeRecordBatch } from '../../src/log/record-batch.js'
import { ErrorCode, SkeinError } from '../../src/wire/index.js'
import { InProcessNodes } from '../helpers/in-process-nodes.js'

const CLUSTER = { clusterId: 'idempotence-test', clusterSecret: 'idempotence-test-secret-0123456789' }
const nodes = new InProcessNodes(CLUSTER, 'skein-idem')
let client: BrokerClient | undefined

afterEach(async () => {
  await client?.close()
  client = undefined
  await nodes.cleanup()
})

function idempotentBatch(producerId: number, producerEpoch: number, baseSequence: number, values: string[]): Uint8Array {
  return encodeRecordBatch({
    producerId,
    producerEpoch,
    baseSequence,
    records: values.map((value, i) => ({ key: null, value: new TextEncoder().encode(value), timestamp: 1_700_000_000_000 + i })),
  })
}

describe('idempotent producers on a three-node broker in one process', () => {
  it('initProducerId_givesIdsUniqueAcrossNodes_andARetryAfterLeaderFailoverIsAnsweredAsADuplicate', async () => {
    const cluster = await nodes.startCluster(['n1', 'n2', 'n3'])
    const connect = (seed: string): Promise<BrokerClient> =>
      BrokerClient.connect(createRealEnv({ dataDir: '/nonexistent', nodeId: 'client', log: silentLogger }), { seeds: [seed], ...CLUSTER, retryBackoffMs: 20 })
    // Ids from every node's broker (each takes its own block through the metadata controller).
    const ids: number[] = []
    for (const node of cluster) {
      const perNode = await connect(node.address)
      for (let i = 0; i < 3; i++) {
        const answer = await perNode.initProducerId()
        expect(answer.producerEpoch).toBe(0)
        ids.push(answer.producerId)
      }
      await perNode.close()
    }
    expect(new Set(ids).size).toBe(ids.length)

    client = await connect(cluster[0]!.address)
    await client.createTopic({ name: 'payments', partitions: 1, replicationFactor: 3 })
    await client.waitForLeaders('payments')
    const { producerId, producerEpoch } = await client.initProducerId()
    expect(ids).not.toContain(producerId)
    const batch = idempotentBatch(producerId, producerEpoch, 0, ['p0', 'p1'])
    const original = await client.produce('payments', 0, batch.slice(), -1)

    const leaderId = client.leaderOf('payments', 0)
    expect(leaderId === undefined ? undefined : nodes.running.get(leaderId)).toBeDefined()
    await nodes.stop(leaderId as string)

    // The producer did not hear the answer, say, and retries: the new leader has the batch
    // (committed on a majority) and answers with the original offsets instead of appending.
    const retry = await client.produce('payments', 0, batch.slice(), -1)
    expect(retry.baseOffset).toBe(original.baseOffset)
    expect(retry.lastOffset).toBe(original.lastOffset)
    expect(client.leaderOf('payments', 0)).not.toBe(leaderId)
    const next = await client.produce('payments', 0, idempotentBatch(producerId, producerEpoch, 2, ['p2']), -1)
    expect(next.baseOffset).toBeGreaterThan(original.lastOffset)

    const gap = await client.produce('payments', 0, idempotentBatch(producerId, producerEpoch, 9, ['gap']), -1).catch((e: unknown) => e)
    expect(gap).toBeInstanceOf(SkeinError)
    expect(gap).toMatchObject({ code: ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER.code, retriable: false })

    const fetched = await client.fetch('payments', 0, 0)
    const values = decodeRecordBatches(fetched.records).flatMap((b) => (b.isControl ? [] : b.records.map((r) => new TextDecoder().decode(r.value!))))
    expect(values).toEqual(['p0', 'p1', 'p2'])

    // Ids stay unique after a node (maybe the metadata leader) is gone.
    const later = await client.initProducerId()
    expect([...ids, producerId]).not.toContain(later.producerId)
  }, 90_000)
})
