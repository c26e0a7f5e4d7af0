import { describe, expect, it } from 'vitest'
import { ApiKey, type ApiKeyValue, KAFKA_APIS, decodeRequest, encodeResponse } from '../../src/kafka/index.js'
import { onePartitionFetchResponse } from './fetch-body.js'
import { kafkajsDecodeResponse, kafkajsRequestFrame, sharedVersions } from './kafkajs-bridge.js'

/**
 * The codec encodes each response at every version both it and kafkajs speak; kafkajs's
 * decoder for that version must read the values back.
 */
interface ResponseCase {
  readonly dir: string
  readonly apiKey: ApiKeyValue
  readonly body: object
  readonly expected: (version: number) => object
  readonly kafkajsOptions?: object
}

const memberMetadata = Buffer.from('0001000000010001740000000000', 'hex')
const assignment = Buffer.from('0001000000010001740000000100000000ffffffff', 'hex')

const cases: ResponseCase[] = [
  {
    dir: 'produce',
    apiKey: ApiKey.Produce,
    body: {
      responses: [
        {
          name: 't',
          partitions: [{ partitionIndex: 1, errorCode: 0, baseOffset: 41n, logAppendTimeMs: -1n, logStartOffset: 3n, recordErrors: [], errorMessage: null }],
        },
      ],
      throttleTimeMs: 0,
    },
    expected: (v) => ({
      topics: [{ topicName: 't', partitions: [{ partition: 1, errorCode: 0, baseOffset: '41', logAppendTime: '-1', ...(v >= 5 ? { logStartOffset: '3' } : {}) }] }],
    }),
  },
  {
    dir: 'listOffsets',
    apiKey: ApiKey.ListOffsets,
    body: { throttleTimeMs: 0, topics: [{ name: 't', partitions: [{ partitionIndex: 2, errorCode: 0, timestamp: -1n, offset: 77n, leaderEpoch: 4 }] }] },
    expected: () => ({ responses: [{ topic: 't', partitions: [{ partition: 2, errorCode: 0, offset: '77' }] }] }),
  },
  {
    dir: 'metadata',
    apiKey: ApiKey.Metadata,
    body: {
      throttleTimeMs: 0,
      brokers: [{ nodeId: 1, host: 'h1', port: 9092, rack: 'r' }],
      clusterId: 'c',
      controllerId: 1,
      topics: [
        {
          errorCode: 0,
          name: 't',
          isInternal: false,
          partitions: [{ errorCode: 0, partitionIndex: 0, leaderId: 1, leaderEpoch: 2, replicaNodes: [1], isrNodes: [1], offlineReplicas: [] }],
          topicAuthorizedOperations: 0,
        },
      ],
      clusterAuthorizedOperations: 0,
    },
    expected: (v) => ({
      brokers: [{ nodeId: 1, host: 'h1', port: 9092, ...(v >= 1 ? { rack: 'r' } : {}) }],
      ...(v >= 1 ? { controllerId: 1 } : {}),
      ...(v >= 2 ? { clusterId: 'c' } : {}),
      topicMetadata: [
        {
          topicErrorCode: 0,
          topic: 't',
          partitionMetadata: [{ partitionErrorCode: 0, partitionId: 0, leader: 1, replicas: [1], isr: [1], ...(v >= 5 ? { offlineReplicas: [] } : {}) }],
        },
      ],
    }),
  },
  {
    dir: 'offsetCommit',
    apiKey: ApiKey.OffsetCommit,
    body: { throttleTimeMs: 0, topics: [{ name: 't', partitions: [{ partitionIndex: 0, errorCode: 0 }] }] },
    expected: () => ({ responses: [{ topic: 't', partitions: [{ partition: 0, errorCode: 0 }] }] }),
  },
  {
    dir: 'offsetFetch',
    apiKey: ApiKey.OffsetFetch,
    body: {
      throttleTimeMs: 0,
      topics: [{ name: 't', partitions: [{ partitionIndex: 0, committedOffset: 12n, committedLeaderEpoch: -1, metadata: null, errorCode: 0 }] }],
      errorCode: 0,
    },
    expected: () => ({ responses: [{ topic: 't', partitions: [{ partition: 0, offset: '12', metadata: null, errorCode: 0 }] }] }),
  },
  {
    dir: 'findCoordinator',
    apiKey: ApiKey.FindCoordinator,
    body: { throttleTimeMs: 0, errorCode: 0, errorMessage: null, nodeId: 2, host: 'h2', port: 9093 },
    expected: () => ({ errorCode: 0, coordinator: { nodeId: 2, host: 'h2', port: 9093 } }),
  },
  {
    dir: 'joinGroup',
    apiKey: ApiKey.JoinGroup,
    body: {
      throttleTimeMs: 0,
      errorCode: 0,
      generationId: 4,
      protocolName: 'RoundRobinAssigner',
      leader: 'm1',
      memberId: 'm1',
      members: [{ memberId: 'm1', groupInstanceId: null, metadata: memberMetadata }],
    },
    expected: () => ({
      errorCode: 0,
      generationId: 4,
      groupProtocol: 'RoundRobinAssigner',
      leaderId: 'm1',
      memberId: 'm1',
      members: [{ memberId: 'm1', memberMetadata }],
    }),
  },
  {
    dir: 'heartbeat',
    apiKey: ApiKey.Heartbeat,
    body: { throttleTimeMs: 0, errorCode: 0 },
    expected: () => ({ errorCode: 0 }),
  },
  {
    dir: 'leaveGroup',
    apiKey: ApiKey.LeaveGroup,
    body: { throttleTimeMs: 0, errorCode: 0, members: [{ memberId: 'm1', groupInstanceId: null, errorCode: 0 }] },
    expected: (v) => ({ errorCode: 0, ...(v >= 3 ? { members: [{ memberId: 'm1', groupInstanceId: null, errorCode: 0 }] } : {}) }),
  },
  {
    dir: 'syncGroup',
    apiKey: ApiKey.SyncGroup,
    body: { throttleTimeMs: 0, errorCode: 0, assignment },
    expected: () => ({ errorCode: 0, memberAssignment: assignment }),
  },
  {
    dir: 'apiVersions',
    apiKey: ApiKey.ApiVersions,
    body: { errorCode: 0, apiKeys: [{ apiKey: 0, minVersion: 3, maxVersion: 8 }], throttleTimeMs: 0 },
    expected: () => ({ errorCode: 0, apiVersions: [{ apiKey: 0, minVersion: 3, maxVersion: 8 }] }),
  },
  {
    dir: 'createTopics',
    apiKey: ApiKey.CreateTopics,
    body: { throttleTimeMs: 0, topics: [{ name: 't', errorCode: 0, errorMessage: null }] },
    expected: () => ({ topicErrors: [{ topic: 't', errorCode: 0 }] }),
  },
  {
    dir: 'deleteTopics',
    apiKey: ApiKey.DeleteTopics,
    body: { throttleTimeMs: 0, responses: [{ name: 't', errorCode: 0 }] },
    expected: () => ({ topicErrors: [{ topic: 't', errorCode: 0 }] }),
  },
  {
    dir: 'initProducerId',
    apiKey: ApiKey.InitProducerId,
    body: { throttleTimeMs: 0, errorCode: 0, producerId: 9_007_199_254_740_993n, producerEpoch: 3 },
    expected: () => ({ errorCode: 0, producerId: '9007199254740993', producerEpoch: 3 }),
  },
  {
    dir: 'addPartitionsToTxn',
    apiKey: ApiKey.AddPartitionsToTxn,
    body: { throttleTimeMs: 0, resultsByTopic: [{ name: 't', resultsByPartition: [{ partitionIndex: 0, partitionErrorCode: 0 }, { partitionIndex: 3, partitionErrorCode: 47 }] }] },
    expected: () => ({ errors: [{ topic: 't', partitionErrors: [{ partition: 0, errorCode: 0 }, { partition: 3, errorCode: 47 }] }] }),
  },
  {
    dir: 'addOffsetsToTxn',
    apiKey: ApiKey.AddOffsetsToTxn,
    body: { throttleTimeMs: 0, errorCode: 51 },
    expected: () => ({ errorCode: 51 }),
  },
  {
    dir: 'endTxn',
    apiKey: ApiKey.EndTxn,
    body: { throttleTimeMs: 0, errorCode: 48 },
    expected: () => ({ errorCode: 48 }),
  },
  {
    dir: 'txnOffsetCommit',
    apiKey: ApiKey.TxnOffsetCommit,
    body: { throttleTimeMs: 0, topics: [{ name: 't', partitions: [{ partitionIndex: 1, errorCode: 0 }] }] },
    expected: () => ({ topics: [{ topic: 't', partitions: [{ partition: 1, errorCode: 0 }] }] }),
  },
  {
    dir: 'describeConfigs',
    apiKey: ApiKey.DescribeConfigs,
    body: {
      throttleTimeMs: 0,
      results: [
        {
          errorCode: 0,
          errorMessage: null,
          resourceType: 2,
          resourceName: 't',
          configs: [{ name: 'retention.ms', value: '1000', readOnly: false, isDefault: false, configSource: 1, isSensitive: false, synonyms: [] }],
        },
      ],
    },
    expected: () => ({
      resources: [{ errorCode: 0, resourceType: 2, resourceName: 't', configEntries: [{ configName: 'retention.ms', configValue: '1000', readOnly: false }] }],
    }),
  },
  {
    dir: 'listGroups',
    apiKey: ApiKey.ListGroups,
    body: { throttleTimeMs: 0, errorCode: 0, groups: [{ groupId: 'g', protocolType: 'consumer' }] },
    expected: () => ({ errorCode: 0, groups: [{ groupId: 'g', protocolType: 'consumer' }] }),
  },
  {
    dir: 'describeGroups',
    apiKey: ApiKey.DescribeGroups,
    body: {
      throttleTimeMs: 0,
      groups: [
        {
          errorCode: 0,
          groupId: 'g',
          groupState: 'Stable',
          protocolType: 'consumer',
          protocolData: 'RoundRobinAssigner',
          members: [{ memberId: 'm', groupInstanceId: null, clientId: 'c', clientHost: '/h', memberMetadata, memberAssignment: assignment }],
          authorizedOperations: 0,
        },
      ],
    },
    expected: () => ({
      groups: [
        {
          errorCode: 0,
          groupId: 'g',
          state: 'Stable',
          protocolType: 'consumer',
          protocol: 'RoundRobinAssigner',
          members: [{ memberId: 'm', clientId: 'c', clientHost: '/h', memberMetadata, memberAssignment: assignment }],
        },
      ],
    }),
  },
]

/** The body kafkajs's decoder sees: the frame past its size and correlation id. */
const bodyOf = (frame: Uint8Array): Buffer => Buffer.from(frame).subarray(8)

describe('kafkajs decodes responses', () => {
  it('covers every API but Fetch (below, with real record batches)', () => {
    expect(new Set(cases.map((c) => c.apiKey)).size).toBe(Object.keys(KAFKA_APIS).length - 1)
  })

  for (const c of cases) {
    const versions = sharedVersions(c.dir, c.apiKey)
    it(`${KAFKA_APIS[c.apiKey].name} v${versions.join(',')}`, async () => {
      expect(versions.length).toBeGreaterThan(0)
      for (const version of versions) {
        const frame = encodeResponse(c.apiKey, version, 99, c.body as never)
        expect(Buffer.from(frame).readInt32BE(0)).toBe(frame.length - 4)
        expect(Buffer.from(frame).readInt32BE(4)).toBe(99)
        const decoded = await kafkajsDecodeResponse(c.dir, version, bodyOf(frame), c.kafkajsOptions)
        expect(decoded, `v${version}`).toMatchObject(c.expected(version))
      }
    })
  }

  it('Fetch: records kafkajs produced, carried through produce and fetch, read back by kafkajs', async () => {
    const messages = [
      { key: 'k1', value: 'v1', timestamp: 1_700_000_000_000 },
      { key: 'k2', value: 'v2', timestamp: 1_700_000_000_001 },
    ]
    const options = { acks: -1, timeout: 1000, topicData: [{ topic: 't', partitions: [{ partition: 0, firstSequence: 0, messages }] }] }
    const produced = decodeRequest((await kafkajsRequestFrame('produce', 7, options, 1, 'c')).subarray(4))
    if (!produced.ok || produced.request.apiKey !== ApiKey.Produce) throw new Error('not a produce request')
    const records = produced.request.body.topics[0]?.partitions[0]?.records ?? null
    for (const version of sharedVersions('fetch', ApiKey.Fetch)) {
      const body = onePartitionFetchResponse(records, 2n)
      const frame = encodeResponse(ApiKey.Fetch, version, 5, body)
      const decoded = await kafkajsDecodeResponse('fetch', version, bodyOf(frame))
      expect(decoded.responses[0].topicName, `v${version}`).toBe('t')
      const partition = decoded.responses[0].partitions[0]
      expect(partition).toMatchObject({ partition: 0, errorCode: 0, highWatermark: '2' })
      expect(partition.messages.map((m: { key: Buffer; value: Buffer; offset: string }) => [m.key.toString(), m.value.toString(), m.offset])).toEqual([
        ['k1', 'v1', '0'],
        ['k2', 'v2', '1'],
      ])
    }
  })
})
