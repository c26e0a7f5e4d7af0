import { describe, expect, it } from 'vitest'
import { ApiKey, type ApiKeyValue, KAFKA_APIS, decodeRequest, encodeRequest } from '../../src/kafka/index.js'
import { kafkajsRequestFrame, sharedVersions } from './kafkajs-bridge.js'

/**
 * kafkajs encodes each request at every version both it and skein speak; the codec must
 * decode it to the right values and re-encode it to the same bytes.
 */
interface RequestCase {
  readonly dir: string
  readonly apiKey: ApiKeyValue
  readonly options: object
  readonly expected: (version: number) => object
}

const metadata = Buffer.from('000100000001000174ffffffff', 'hex')
const assignment = Buffer.from('0001000000010001740000000100000000ffffffff', 'hex')

const cases: RequestCase[] = [
  {
    dir: 'produce',
    apiKey: ApiKey.Produce,
    options: {
      acks: -1,
      timeout: 30_000,
      topicData: [{ topic: 't', partitions: [{ partition: 1, firstSequence: 0, messages: [{ key: 'k', value: 'v', timestamp: 1_700_000_000_000 }] }] }],
    },
    expected: () => ({ transactionalId: null, acks: -1, timeoutMs: 30_000, topics: [{ name: 't', partitions: [{ partitionIndex: 1 }] }] }),
  },
  {
    dir: 'fetch',
    apiKey: ApiKey.Fetch,
    options: {
      replicaId: -1,
      maxWaitTime: 500,
      minBytes: 1,
      maxBytes: 10_485_760,
      isolationLevel: 1,
      topics: [{ topic: 't', partitions: [{ partition: 0, fetchOffset: '42', maxBytes: 1_048_576 }] }],
    },
    expected: () => ({
      replicaId: -1,
      maxWaitMs: 500,
      minBytes: 1,
      maxBytes: 10_485_760,
      isolationLevel: 1,
      sessionId: 0,
      sessionEpoch: -1,
      topics: [{ topic: 't', partitions: [{ partition: 0, currentLeaderEpoch: -1, fetchOffset: 42n, logStartOffset: -1n, partitionMaxBytes: 1_048_576 }] }],
      forgottenTopicsData: [],
      rackId: '',
    }),
  },
  {
    dir: 'listOffsets',
    apiKey: ApiKey.ListOffsets,
    options: { replicaId: -1, isolationLevel: 1, topics: [{ topic: 't', partitions: [{ partition: 2, timestamp: -1 }] }] },
    expected: (v) => ({
      replicaId: -1,
      isolationLevel: v >= 2 ? 1 : 0,
      topics: [{ name: 't', partitions: [{ partitionIndex: 2, currentLeaderEpoch: -1, timestamp: -1n }] }],
    }),
  },
  {
    dir: 'metadata',
    apiKey: ApiKey.Metadata,
    options: { topics: ['a', 'b'], allowAutoTopicCreation: false },
    expected: (v) => ({
      topics: [{ name: 'a' }, { name: 'b' }],
      allowAutoTopicCreation: v < 4,
      includeClusterAuthorizedOperations: false,
      includeTopicAuthorizedOperations: false,
    }),
  },
  {
    dir: 'offsetCommit',
    apiKey: ApiKey.OffsetCommit,
    options: {
      groupId: 'g',
      groupGenerationId: 5,
      memberId: 'm',
      retentionTime: 1000,
      topics: [{ topic: 't', partitions: [{ partition: 0, offset: '99', metadata: null }] }],
    },
    expected: (v) => ({
      groupId: 'g',
      generationId: v >= 1 ? 5 : -1,
      memberId: v >= 1 ? 'm' : '',
      groupInstanceId: null,
      retentionTimeMs: v >= 2 && v <= 4 ? 1000n : -1n,
      topics: [
        {
          name: 't',
          // kafkajs stamps v1 commits with its clock.
          partitions: [{ partitionIndex: 0, committedOffset: 99n, committedLeaderEpoch: -1, commitTimestamp: v === 1 ? expect.any(BigInt) : -1n, committedMetadata: null }],
        },
      ],
    }),
  },
  {
    dir: 'offsetFetch',
    apiKey: ApiKey.OffsetFetch,
    options: { groupId: 'g', topics: [{ topic: 't', partitions: [{ partition: 0 }, { partition: 3 }] }] },
    expected: () => ({ groupId: 'g', topics: [{ name: 't', partitionIndexes: [0, 3] }] }),
  },
  {
    dir: 'findCoordinator',
    apiKey: ApiKey.FindCoordinator,
    options: { groupId: 'g', coordinatorType: 0 },
    expected: () => ({ key: 'g', keyType: 0 }),
  },
  {
    dir: 'joinGroup',
    apiKey: ApiKey.JoinGroup,
    options: {
      groupId: 'g',
      sessionTimeout: 30_000,
      rebalanceTimeout: 60_000,
      memberId: '',
      protocolType: 'consumer',
      groupProtocols: [{ name: 'RoundRobinAssigner', metadata }],
    },
    expected: (v) => ({
      groupId: 'g',
      sessionTimeoutMs: 30_000,
      rebalanceTimeoutMs: v >= 1 ? 60_000 : -1,
      memberId: '',
      groupInstanceId: null,
      protocolType: 'consumer',
      protocols: [{ name: 'RoundRobinAssigner', metadata }],
    }),
  },
  {
    dir: 'heartbeat',
    apiKey: ApiKey.Heartbeat,
    options: { groupId: 'g', groupGenerationId: 3, memberId: 'm' },
    expected: () => ({ groupId: 'g', generationId: 3, memberId: 'm', groupInstanceId: null }),
  },
  {
    dir: 'leaveGroup',
    apiKey: ApiKey.LeaveGroup,
    options: { groupId: 'g', memberId: 'm' },
    expected: (v) => (v >= 3 ? { groupId: 'g', memberId: '', members: [{ memberId: 'm', groupInstanceId: null }] } : { groupId: 'g', memberId: 'm', members: [] }),
  },
  {
    dir: 'syncGroup',
    apiKey: ApiKey.SyncGroup,
    options: { groupId: 'g', generationId: 3, memberId: 'm', groupAssignment: [{ memberId: 'm', memberAssignment: assignment }] },
    expected: () => ({ groupId: 'g', generationId: 3, memberId: 'm', groupInstanceId: null, assignments: [{ memberId: 'm', assignment }] }),
  },
  { dir: 'apiVersions', apiKey: ApiKey.ApiVersions, options: {}, expected: () => ({}) },
  {
    dir: 'createTopics',
    apiKey: ApiKey.CreateTopics,
    options: {
      topics: [{ topic: 't', numPartitions: 3, replicationFactor: 2, configEntries: [{ name: 'cleanup.policy', value: 'delete' }] }],
      validateOnly: true,
      timeout: 5000,
    },
    expected: (v) => ({
      topics: [{ name: 't', numPartitions: 3, replicationFactor: 2, assignments: [], configs: [{ name: 'cleanup.policy', value: 'delete' }] }],
      timeoutMs: 5000,
      validateOnly: v >= 1,
    }),
  },
  {
    dir: 'deleteTopics',
    apiKey: ApiKey.DeleteTopics,
    options: { topics: ['a', 'b'], timeout: 5000 },
    expected: () => ({ topicNames: ['a', 'b'], timeoutMs: 5000 }),
  },
  {
    dir: 'initProducerId',
    apiKey: ApiKey.InitProducerId,
    options: { transactionalId: null, transactionTimeout: 30_000 },
    expected: () => ({ transactionalId: null, transactionTimeoutMs: 30_000 }),
  },
  {
    dir: 'initProducerId',
    apiKey: ApiKey.InitProducerId,
    options: { transactionalId: 'tx-1', transactionTimeout: 60_000 },
    expected: () => ({ transactionalId: 'tx-1', transactionTimeoutMs: 60_000 }),
  },
  {
    dir: 'addPartitionsToTxn',
    apiKey: ApiKey.AddPartitionsToTxn,
    options: { transactionalId: 'tx-1', producerId: '4000', producerEpoch: 2, topics: [{ topic: 't', partitions: [0, 3] }] },
    expected: () => ({ transactionalId: 'tx-1', producerId: 4000n, producerEpoch: 2, topics: [{ name: 't', partitions: [0, 3] }] }),
  },
  {
    dir: 'addOffsetsToTxn',
    apiKey: ApiKey.AddOffsetsToTxn,
    options: { transactionalId: 'tx-1', producerId: '4000', producerEpoch: 2, groupId: 'g' },
    expected: () => ({ transactionalId: 'tx-1', producerId: 4000n, producerEpoch: 2, groupId: 'g' }),
  },
  {
    dir: 'endTxn',
    apiKey: ApiKey.EndTxn,
    options: { transactionalId: 'tx-1', producerId: '4000', producerEpoch: 2, transactionResult: true },
    expected: () => ({ transactionalId: 'tx-1', producerId: 4000n, producerEpoch: 2, committed: true }),
  },
  {
    dir: 'txnOffsetCommit',
    apiKey: ApiKey.TxnOffsetCommit,
    options: { transactionalId: 'tx-1', groupId: 'g', producerId: '4000', producerEpoch: 2, topics: [{ topic: 't', partitions: [{ partition: 1, offset: '42', metadata: null }] }] },
    expected: () => ({
      transactionalId: 'tx-1',
      groupId: 'g',
      producerId: 4000n,
      producerEpoch: 2,
      topics: [{ name: 't', partitions: [{ partitionIndex: 1, committedOffset: 42n, committedLeaderEpoch: -1, committedMetadata: null }] }],
    }),
  },
  {
    dir: 'describeConfigs',
    apiKey: ApiKey.DescribeConfigs,
    options: { resources: [{ type: 2, name: 't', configNames: ['retention.ms'] }], includeSynonyms: true },
    expected: (v) => ({ resources: [{ resourceType: 2, resourceName: 't', configurationKeys: ['retention.ms'] }], includeSynonyms: v >= 1 }),
  },
  { dir: 'listGroups', apiKey: ApiKey.ListGroups, options: {}, expected: () => ({}) },
  {
    dir: 'describeGroups',
    apiKey: ApiKey.DescribeGroups,
    options: { groupIds: ['g1', 'g2'] },
    expected: () => ({ groups: ['g1', 'g2'], includeAuthorizedOperations: false }),
  },
]

describe('kafkajs requests decode', () => {
  it('covers every API', () => {
    expect(new Set(cases.map((c) => c.apiKey)).size).toBe(Object.keys(KAFKA_APIS).length)
  })

  for (const c of cases) {
    const versions = sharedVersions(c.dir, c.apiKey)
    it(`${KAFKA_APIS[c.apiKey].name} v${versions.join(',')}`, async () => {
      expect(versions.length).toBeGreaterThan(0)
      for (const version of versions) {
        const frame = await kafkajsRequestFrame(c.dir, version, c.options, 1234, 'kafkajs-client')
        const result = decodeRequest(frame.subarray(4))
        if (!result.ok) throw new Error(`v${version}: ${result.error.message}`)
        const { header, body } = result.request
        expect(header).toEqual({ apiKey: c.apiKey, apiVersion: version, correlationId: 1234, clientId: 'kafkajs-client' })
        expect(body, `v${version}`).toMatchObject(c.expected(version))
        expect(Buffer.from(encodeRequest(header as never, body as never)).equals(frame), `v${version} re-encodes to the same bytes`).toBe(true)
      }
    })
  }

  it('carries a kafkajs record batch as the bytes kafkajs wrote', async () => {
    const frame = await kafkajsRequestFrame('produce', 7, cases[0]?.options, 1, 'c')
    const result = decodeRequest(frame.subarray(4))
    if (!result.ok || result.request.apiKey !== ApiKey.Produce) throw new Error('not a produce request')
    const records = result.request.body.topics[0]?.partitions[0]?.records
    if (!records) throw new Error('no records')
    const batch = Buffer.from(records)
    expect(batch.readInt32BE(8) + 12).toBe(batch.length) // batchLength covers what follows it
    expect(batch.readInt8(16)).toBe(2) // magic: RecordBatch v2
    expect(frame.includes(batch)).toBe(true)
  })
})
