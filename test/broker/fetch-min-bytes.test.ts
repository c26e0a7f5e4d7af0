import { afterEach, describe, expect, it } from 'vitest'
import { BrokerClient } from '../../src/client/broker-client.js'
import { silentLogger } from '../../src/env/index.js'
import { createRealEnv } from '../../src/env/real/index.js'
import { decodeRecordBatches, encodeRecordBatch } from '../../src/log/record-batch.js'
import { InProcessNodes } from '../helpers/in-process-nodes.js'

// Kafka's fetch.min.bytes: the leader holds a fetch until enough committed bytes are there.

const CLUSTER = { clusterId: 'min-bytes-test', clusterSecret: 'min-bytes-test-secret-0123456789' }
const nodes = new InProcessNodes(CLUSTER, 'skein-minbytes')
let client: BrokerClient | undefined

afterEach(async () => {
  await client?.close()
  client = undefined
  await nodes.cleanup()
})

const utf8 = new TextEncoder()
const batch = (value: string): Uint8Array => encodeRecordBatch({ records: [{ key: null, value: utf8.encode(value), timestamp: 1_700_000_000_000 }] })
const values = (records: Uint8Array): string[] => decodeRecordBatches(records).flatMap((b) => (b.isControl ? [] : b.records.map((r) => new TextDecoder().decode(r.value!))))
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

describe('fetch minBytes', () => {
  it('heldFetch_answersOnlyOnceMinBytesAreCommitted_notAtTheFirstSmallCommit', async () => {
    const [node] = await nodes.startCluster(['m1'])
    client = await BrokerClient.connect(createRealEnv({ dataDir: '/nonexistent', nodeId: 'client', log: silentLogger }), { seeds: [node!.address], ...CLUSTER })
    await client.createTopic({ name: 'slow', partitions: 1, replicationFactor: 1 })
    await client.waitForLeaders('slow')
    const start = (await client.produce('slow', 0, batch('first'), -1)).lastOffset + 1
    const big = 'x'.repeat(2_000)
    // Held: nothing at `start` yet. With minBytes 1 it would answer with 'small' alone.
    const held = client.fetch('slow', 0, start, 1024 * 1024, 20_000, 1_000)
    const plain = client.fetch('slow', 0, start, 1024 * 1024, 20_000)
    await sleep(300)
    await client.produce('slow', 0, batch('small'), -1)
    expect(values((await plain).records)).toEqual(['small'])
    await sleep(300)
    await client.produce('slow', 0, batch(big), -1)
    const answer = await held
    expect(values(answer.records)).toEqual(['small', big])
    expect(answer.records.length).toBeGreaterThanOrEqual(1_000)
  }, 60_000)

  it('minBytesNeverReached_answersWithWhatIsThereAtMaxWait', async () => {
    const [node] = await nodes.startCluster(['m2'])
    client = await BrokerClient.connect(createRealEnv({ dataDir: '/nonexistent', nodeId: 'client', log: silentLogger }), { seeds: [node!.address], ...CLUSTER })
    await client.createTopic({ name: 'trickle', partitions: 1, replicationFactor: 1 })
    await client.waitForLeaders('trickle')
    const { baseOffset } = await client.produce('trickle', 0, batch('only'), -1)
    const answer = await client.fetch('trickle', 0, baseOffset, 1024 * 1024, 500, 1_000_000)
    expect(values(answer.records)).toEqual(['only'])
  }, 60_000)
})
