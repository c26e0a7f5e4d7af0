import { afterEach, describe, expect, it } from 'vitest'
import { BrokerClient } from '../../src/client/broker-client.js'
import { silentLogger } from '../../src/env/index.js'
import { createRealEnv } from '../../src/env/real/index.js'
import { ErrorCode, SkeinError } from '../../src/wire/errors.js'
import { InProcessNodes } from '../helpers/in-process-nodes.js'

// A node only says "no such topic" when its cluster metadata is current: a node that just
// restarted (or is cut off from the metadata quorum) would otherwise stop a consumer for good
// on a topic that exists (found by the full-system simulator, seed 58).

const CLUSTER = { clusterId: 'metadata-current-test', clusterSecret: 'metadata-current-test-secret-0123' }
const nodes = new InProcessNodes(CLUSTER, 'skein-mdcurrent')
let client: BrokerClient | undefined

afterEach(async () => {
  await client?.close()
  client = undefined
  await nodes.cleanup()
})

const connect = async (address: string, requestDeadlineMs?: number): Promise<BrokerClient> =>
  BrokerClient.connect(createRealEnv({ dataDir: '/nonexistent', nodeId: 'client', log: silentLogger }), { seeds: [address], ...CLUSTER, requestDeadlineMs })

describe('metadata answers from a node whose metadata is not current', () => {
  it('nodeThatNeverReadMetadata_answersBrokerNotAvailable_notUnknownTopic', async () => {
    // m9 never starts: the metadata group has no quorum, so m1 never reads the metadata.
    const node = await nodes.start('m1', { controllers: ['m1', 'm9'] })
    client = await connect(node.address, 1_500)
    const error = await client.metadata(['events']).then(() => undefined, (caught: unknown) => caught)
    expect(error).toBeInstanceOf(SkeinError)
    const last = (error as SkeinError).cause
    expect(last).toBeInstanceOf(SkeinError)
    expect((last as SkeinError).code).toBe(ErrorCode.BROKER_NOT_AVAILABLE.code)
    expect((last as SkeinError).message).toMatch(/not read since this node started/)
  }, 30_000)

  it('nodeWithCurrentMetadata_answersThatAnAbsentTopicDoesNotExist', async () => {
    const [node] = await nodes.startCluster(['m2'])
    client = await connect(node!.address)
    await client.createTopic({ name: 'present', partitions: 1, replicationFactor: 1 })
    const described = await client.metadata(['present', 'absent'])
    expect(described.topics.map((topic) => topic.name)).toEqual(['present'])
    const error = await client.describeTopic('absent').then(() => undefined, (caught: unknown) => caught)
    expect((error as SkeinError).code).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION.code)
  }, 30_000)
})
