import { describe } from 'vitest'
import { ApiKey } from '../../src/kafka/index.js'
import { requestGolden, responseGolden } from './golden.js'
import { arr, bool, cat, i16, i32, i64, str } from './wire-builder.js'

/**
 * The transaction APIs at every version skein speaks (0-2 each, the non-flexible ones), bytes
 * written from Kafka's message JSON: v1 repeats v0 everywhere, and v2 changes the layout only
 * of TxnOffsetCommit's request (the committed leader epoch).
 */
const VERSIONS = [0, 1, 2]
const producer = cat(str('tx-1'), i64(4000), i16(2))

describe('golden: AddPartitionsToTxn', () => {
  for (const version of VERSIONS) {
    requestGolden(
      ApiKey.AddPartitionsToTxn,
      version,
      { transactionalId: 'tx-1', producerId: 4000n, producerEpoch: 2, topics: [{ name: 't', partitions: [0, 3] }, { name: 'u', partitions: [] }] },
      cat(producer, arr([cat(str('t'), arr([i32(0), i32(3)])), cat(str('u'), arr([]))])),
    )
    responseGolden(
      ApiKey.AddPartitionsToTxn,
      version,
      { throttleTimeMs: 5, resultsByTopic: [{ name: 't', resultsByPartition: [{ partitionIndex: 0, partitionErrorCode: 0 }, { partitionIndex: 3, partitionErrorCode: 51 }] }] },
      cat(i32(5), arr([cat(str('t'), arr([cat(i32(0), i16(0)), cat(i32(3), i16(51))]))])),
    )
  }
})

describe('golden: AddOffsetsToTxn', () => {
  for (const version of VERSIONS) {
    requestGolden(ApiKey.AddOffsetsToTxn, version, { transactionalId: 'tx-1', producerId: 4000n, producerEpoch: 2, groupId: 'g' }, cat(producer, str('g')))
    responseGolden(ApiKey.AddOffsetsToTxn, version, { throttleTimeMs: 0, errorCode: 49 }, cat(i32(0), i16(49)))
  }
})

describe('golden: EndTxn', () => {
  for (const version of VERSIONS) {
    requestGolden(ApiKey.EndTxn, version, { transactionalId: 'tx-1', producerId: 4000n, producerEpoch: 2, committed: version !== 1 }, cat(producer, bool(version !== 1)))
    responseGolden(ApiKey.EndTxn, version, { throttleTimeMs: 1, errorCode: 48 }, cat(i32(1), i16(48)))
  }
})

describe('golden: TxnOffsetCommit', () => {
  const head = cat(str('tx-1'), str('g'), i64(4000), i16(2))
  for (const version of [0, 1]) {
    requestGolden(
      ApiKey.TxnOffsetCommit,
      version,
      {
        transactionalId: 'tx-1',
        groupId: 'g',
        producerId: 4000n,
        producerEpoch: 2,
        topics: [{ name: 't', partitions: [{ partitionIndex: 1, committedOffset: 42n, committedLeaderEpoch: -1, committedMetadata: null }] }],
      },
      cat(head, arr([cat(str('t'), arr([cat(i32(1), i64(42), str(null))]))])),
    )
  }
  requestGolden(
    ApiKey.TxnOffsetCommit,
    2,
    {
      transactionalId: 'tx-1',
      groupId: 'g',
      producerId: 4000n,
      producerEpoch: 2,
      topics: [{ name: 't', partitions: [{ partitionIndex: 1, committedOffset: 42n, committedLeaderEpoch: 7, committedMetadata: 'm' }] }],
    },
    cat(head, arr([cat(str('t'), arr([cat(i32(1), i64(42), i32(7), str('m'))]))])),
  )
  for (const version of VERSIONS) {
    responseGolden(
      ApiKey.TxnOffsetCommit,
      version,
      { throttleTimeMs: 0, topics: [{ name: 't', partitions: [{ partitionIndex: 1, errorCode: 0 }, { partitionIndex: 2, errorCode: 47 }] }] },
      cat(i32(0), arr([cat(str('t'), arr([cat(i32(1), i16(0)), cat(i32(2), i16(47))]))])),
    )
  }
})
