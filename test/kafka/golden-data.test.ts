import { describe } from 'vitest'
import { ApiKey } from '../../src/kafka/index.js'
import { requestGolden, responseGolden } from './golden.js'
import { arr, bool, bytes, cat, fakeBatch, i16, i32, i64, i8, str } from './wire-builder.js'

const OPS_OMITTED = -2147483648
const batchA = fakeBatch(70, 1)
const batchB = fakeBatch(90, 2)

describe('golden: Produce', () => {
  requestGolden(
    ApiKey.Produce,
    3,
    { transactionalId: null, acks: -1, timeoutMs: 30_000, topics: [{ name: 'orders', partitions: [{ partitionIndex: 2, records: batchA }] }] },
    cat(str(null), i16(-1), i32(30_000), arr([cat(str('orders'), arr([cat(i32(2), bytes(batchA))]))])),
  )
  requestGolden(
    ApiKey.Produce,
    8,
    {
      transactionalId: 'tx-1',
      acks: 1,
      timeoutMs: 5000,
      topics: [
        { name: 'a', partitions: [{ partitionIndex: 0, records: batchA }, { partitionIndex: 1, records: null }] },
        { name: 'b', partitions: [] },
      ],
    },
    cat(str('tx-1'), i16(1), i32(5000), arr([cat(str('a'), arr([cat(i32(0), bytes(batchA)), cat(i32(1), bytes(null))])), cat(str('b'), arr([]))])),
  )
  responseGolden(
    ApiKey.Produce,
    3,
    {
      responses: [
        {
          name: 'orders',
          partitions: [
            { partitionIndex: 2, errorCode: 0, baseOffset: 1234567890123n, logAppendTimeMs: -1n, logStartOffset: -1n, recordErrors: [], errorMessage: null },
          ],
        },
      ],
      throttleTimeMs: 0,
    },
    cat(arr([cat(str('orders'), arr([cat(i32(2), i16(0), i64(1234567890123n), i64(-1))]))]), i32(0)),
  )
  responseGolden(
    ApiKey.Produce,
    8,
    {
      responses: [
        {
          name: 'orders',
          partitions: [
            {
              partitionIndex: 0,
              errorCode: 87,
              baseOffset: -1n,
              logAppendTimeMs: 1_700_000_000_000n,
              logStartOffset: 10n,
              recordErrors: [{ batchIndex: 3, batchIndexErrorMessage: 'bad' }, { batchIndex: 4, batchIndexErrorMessage: null }],
              errorMessage: 'invalid record',
            },
          ],
        },
      ],
      throttleTimeMs: 25,
    },
    cat(
      arr([
        cat(
          str('orders'),
          arr([
            cat(i32(0), i16(87), i64(-1), i64(1_700_000_000_000n), i64(10), arr([cat(i32(3), str('bad')), cat(i32(4), str(null))]), str('invalid record')),
          ]),
        ),
      ]),
      i32(25),
    ),
  )
})

describe('golden: Fetch', () => {
  requestGolden(
    ApiKey.Fetch,
    4,
    {
      replicaId: -1,
      maxWaitMs: 500,
      minBytes: 1,
      maxBytes: 52_428_800,
      isolationLevel: 1,
      sessionId: 0,
      sessionEpoch: -1,
      topics: [{ topic: 't', partitions: [{ partition: 0, currentLeaderEpoch: -1, fetchOffset: 42n, logStartOffset: -1n, partitionMaxBytes: 1_048_576 }] }],
      forgottenTopicsData: [],
      rackId: '',
    },
    cat(i32(-1), i32(500), i32(1), i32(52_428_800), i8(1), arr([cat(str('t'), arr([cat(i32(0), i64(42), i32(1_048_576))]))])),
  )
  requestGolden(
    ApiKey.Fetch,
    11,
    {
      replicaId: -1,
      maxWaitMs: 100,
      minBytes: 0,
      maxBytes: 1000,
      isolationLevel: 0,
      sessionId: 77,
      sessionEpoch: 3,
      topics: [{ topic: 't', partitions: [{ partition: 5, currentLeaderEpoch: 9, fetchOffset: 100n, logStartOffset: -1n, partitionMaxBytes: 4096 }] }],
      forgottenTopicsData: [{ topic: 'old', partitions: [1, 2] }],
      rackId: 'rack-a',
    },
    cat(
      i32(-1),
      i32(100),
      i32(0),
      i32(1000),
      i8(0),
      i32(77),
      i32(3),
      arr([cat(str('t'), arr([cat(i32(5), i32(9), i64(100), i64(-1), i32(4096))]))]),
      arr([cat(str('old'), arr([i32(1), i32(2)]))]),
      str('rack-a'),
    ),
  )
  responseGolden(
    ApiKey.Fetch,
    4,
    {
      throttleTimeMs: 0,
      errorCode: 0,
      sessionId: 0,
      responses: [
        {
          topic: 't',
          partitions: [
            {
              partitionIndex: 0,
              errorCode: 0,
              highWatermark: 200n,
              lastStableOffset: 200n,
              logStartOffset: -1n,
              abortedTransactions: null,
              preferredReadReplica: -1,
              records: batchB,
            },
            {
              partitionIndex: 1,
              errorCode: 1,
              highWatermark: -1n,
              lastStableOffset: -1n,
              logStartOffset: -1n,
              abortedTransactions: [],
              preferredReadReplica: -1,
              records: null,
            },
          ],
        },
      ],
    },
    cat(
      i32(0),
      arr([
        cat(
          str('t'),
          arr([cat(i32(0), i16(0), i64(200), i64(200), arr(null), bytes(batchB)), cat(i32(1), i16(1), i64(-1), i64(-1), arr([]), bytes(null))]),
        ),
      ]),
    ),
  )
  responseGolden(
    ApiKey.Fetch,
    11,
    {
      throttleTimeMs: 3,
      errorCode: 0,
      sessionId: 77,
      responses: [
        {
          topic: 't',
          partitions: [
            {
              partitionIndex: 5,
              errorCode: 0,
              highWatermark: 300n,
              lastStableOffset: 290n,
              logStartOffset: 7n,
              abortedTransactions: [{ producerId: 9n, firstOffset: 280n }],
              preferredReadReplica: -1,
              records: batchA,
            },
          ],
        },
      ],
    },
    cat(
      i32(3),
      i16(0),
      i32(77),
      arr([cat(str('t'), arr([cat(i32(5), i16(0), i64(300), i64(290), i64(7), arr([cat(i64(9), i64(280))]), i32(-1), bytes(batchA))]))]),
    ),
  )
})

describe('golden: ListOffsets', () => {
  requestGolden(
    ApiKey.ListOffsets,
    1,
    { replicaId: -1, isolationLevel: 0, topics: [{ name: 't', partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp: -2n }] }] },
    cat(i32(-1), arr([cat(str('t'), arr([cat(i32(0), i64(-2))]))])),
  )
  requestGolden(
    ApiKey.ListOffsets,
    5,
    { replicaId: -1, isolationLevel: 1, topics: [{ name: 't', partitions: [{ partitionIndex: 3, currentLeaderEpoch: 4, timestamp: 1_600_000_000_000n }] }] },
    cat(i32(-1), i8(1), arr([cat(str('t'), arr([cat(i32(3), i32(4), i64(1_600_000_000_000n))]))])),
  )
  responseGolden(
    ApiKey.ListOffsets,
    1,
    { throttleTimeMs: 0, topics: [{ name: 't', partitions: [{ partitionIndex: 0, errorCode: 0, timestamp: -1n, offset: 17n, leaderEpoch: -1 }] }] },
    cat(arr([cat(str('t'), arr([cat(i32(0), i16(0), i64(-1), i64(17))]))])),
  )
  responseGolden(
    ApiKey.ListOffsets,
    5,
    { throttleTimeMs: 1, topics: [{ name: 't', partitions: [{ partitionIndex: 3, errorCode: 0, timestamp: 5n, offset: 6n, leaderEpoch: 7 }] }] },
    cat(i32(1), arr([cat(str('t'), arr([cat(i32(3), i16(0), i64(5), i64(6), i32(7))]))])),
  )
})

describe('golden: Metadata', () => {
  const v0Defaults = { allowAutoTopicCreation: true, includeClusterAuthorizedOperations: false, includeTopicAuthorizedOperations: false }
  requestGolden(ApiKey.Metadata, 0, { topics: [], ...v0Defaults }, cat(arr([])))
  requestGolden(ApiKey.Metadata, 1, { topics: null, ...v0Defaults }, cat(arr(null)))
  requestGolden(
    ApiKey.Metadata,
    8,
    { topics: [{ name: 'a' }, { name: 'b' }], allowAutoTopicCreation: false, includeClusterAuthorizedOperations: true, includeTopicAuthorizedOperations: false },
    cat(arr([str('a'), str('b')]), bool(false), bool(true), bool(false)),
  )
  responseGolden(
    ApiKey.Metadata,
    0,
    {
      throttleTimeMs: 0,
      brokers: [{ nodeId: 1, host: 'h1', port: 9092, rack: null }],
      clusterId: null,
      controllerId: -1,
      topics: [
        {
          errorCode: 0,
          name: 't',
          isInternal: false,
          partitions: [{ errorCode: 0, partitionIndex: 0, leaderId: 1, leaderEpoch: -1, replicaNodes: [1, 2], isrNodes: [1], offlineReplicas: [] }],
          topicAuthorizedOperations: OPS_OMITTED,
        },
      ],
      clusterAuthorizedOperations: OPS_OMITTED,
    },
    cat(arr([cat(i32(1), str('h1'), i32(9092))]), arr([cat(i16(0), str('t'), arr([cat(i16(0), i32(0), i32(1), arr([i32(1), i32(2)]), arr([i32(1)]))]))])),
  )
  responseGolden(
    ApiKey.Metadata,
    8,
    {
      throttleTimeMs: 0,
      brokers: [
        { nodeId: 1, host: 'h1', port: 9092, rack: 'r1' },
        { nodeId: 2, host: 'h2', port: 9093, rack: null },
      ],
      clusterId: 'skein-cluster',
      controllerId: 2,
      topics: [
        {
          errorCode: 0,
          name: 't',
          isInternal: true,
          partitions: [{ errorCode: 0, partitionIndex: 0, leaderId: 2, leaderEpoch: 5, replicaNodes: [1, 2], isrNodes: [2], offlineReplicas: [1] }],
          topicAuthorizedOperations: OPS_OMITTED,
        },
      ],
      clusterAuthorizedOperations: 0,
    },
    cat(
      i32(0),
      arr([cat(i32(1), str('h1'), i32(9092), str('r1')), cat(i32(2), str('h2'), i32(9093), str(null))]),
      str('skein-cluster'),
      i32(2),
      arr([
        cat(i16(0), str('t'), bool(true), arr([cat(i16(0), i32(0), i32(2), i32(5), arr([i32(1), i32(2)]), arr([i32(2)]), arr([i32(1)]))]), i32(OPS_OMITTED)),
      ]),
      i32(0),
    ),
  )
})
