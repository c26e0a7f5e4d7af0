import { afterEach, describe, expect, it } from 'vitest'
import { BrokerClient } from '../../src/client/broker-client.js'
import { silentLogger } from '../../src/env/index.js'
import { createRealEnv } from '../../src/env/real/index.js'
import { decodeRecordBatches, encodeRecordBatch } from '../../src/log/record-batch.js'
import { InProcessNodes } from '../helpers/in-process-nodes.js'

const CLUSTER = { clusterId: 'flush-policy-test', clusterSecret: 'flush-policy-test-secret-0123456789' }
const nodes = new InProcessNodes(CLUSTER, 'skein-flush')
let client: BrokerClient | undefined

afterEach(async () => {
  await client?.close()
  client = undefined
  await nodes.cleanup()
})

const utf8 = new TextEncoder()

describe('flush policy and the high watermark', () => {
  // A topic that opts out of fsync still commits what the replicas have written: before the
  // fix, a single-replica 'never' topic acknowledged acks=1 writes that no consumer ever saw.
  it.each(['always', 'interval', 'never'] as const)('flush=%s_acknowledgedRecordsBecomeReadable_withAcks1AndAll', async (flush) => {
    const [node] = await nodes.startCluster(['f1'])
    client = await BrokerClient.connect(createRealEnv({ dataDir: '/nonexistent', nodeId: 'client', log: silentLogger }), { seeds: [node!.address], ...CLUSTER })
    const configs: Record<string, string | number> = flush === 'interval' ? { flush, 'flush.ms': 60_000 } : { flush }
    await client.createTopic({ name: 'events', partitions: 1, replicationFactor: 1, configs })
    await client.waitForLeaders('events')
    const batch = (value: string): Uint8Array => encodeRecordBatch({ records: [{ key: null, value: utf8.encode(value), timestamp: 1_700_000_000_000 }] })
    const first = await client.produce('events', 0, batch('one'), 1)
    const second = await client.produce('events', 0, batch('two'), -1)
    expect(second.baseOffset).toBe(first.baseOffset + 1)
    const fetched = await client.fetch('events', 0, first.baseOffset, 1024 * 1024, 5_000)
    expect(fetched.highWatermark).toBe(second.baseOffset + 1)
    const values = decodeRecordBatches(fetched.records).flatMap((b) => (b.isControl ? [] : b.records.map((r) => new TextDecoder().decode(r.value!))))
    expect(values).toEqual(['one', 'two'])
  }, 60_000)
})
