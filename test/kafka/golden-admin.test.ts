import { describe } from 'vitest'
import { ApiKey } from '../../src/kafka/index.js'
import { requestGolden, responseGolden } from './golden.js'
import { arr, bool, cat, i16, i32, i64, i8, str } from './wire-builder.js'

describe('golden: ApiVersions', () => {
  requestGolden(ApiKey.ApiVersions, 0, {}, Buffer.alloc(0))
  requestGolden(ApiKey.ApiVersions, 2, {}, Buffer.alloc(0))
  responseGolden(
    ApiKey.ApiVersions,
    0,
    { errorCode: 0, apiKeys: [{ apiKey: 0, minVersion: 3, maxVersion: 8 }], throttleTimeMs: 0 },
    cat(i16(0), arr([cat(i16(0), i16(3), i16(8))])),
  )
  responseGolden(
    ApiKey.ApiVersions,
    2,
    {
      errorCode: 0,
      apiKeys: [
        { apiKey: 0, minVersion: 3, maxVersion: 8 },
        { apiKey: 18, minVersion: 0, maxVersion: 2 },
      ],
      throttleTimeMs: 0,
    },
    cat(i16(0), arr([cat(i16(0), i16(3), i16(8)), cat(i16(18), i16(0), i16(2))]), i32(0)),
  )
})

describe('golden: CreateTopics', () => {
  requestGolden(
    ApiKey.CreateTopics,
    0,
    {
      topics: [
        {
          name: 't',
          numPartitions: 3,
          replicationFactor: 2,
          assignments: [],
          configs: [
            { name: 'retention.ms', value: '1000' },
            { name: 'cleanup.policy', value: null },
          ],
        },
      ],
      timeoutMs: 30_000,
      validateOnly: false,
    },
    cat(arr([cat(str('t'), i32(3), i16(2), arr([]), arr([cat(str('retention.ms'), str('1000')), cat(str('cleanup.policy'), str(null))]))]), i32(30_000)),
  )
  requestGolden(
    ApiKey.CreateTopics,
    4,
    {
      topics: [{ name: 't', numPartitions: -1, replicationFactor: -1, assignments: [{ partitionIndex: 0, brokerIds: [1, 2] }], configs: [] }],
      timeoutMs: 1000,
      validateOnly: true,
    },
    cat(arr([cat(str('t'), i32(-1), i16(-1), arr([cat(i32(0), arr([i32(1), i32(2)]))]), arr([]))]), i32(1000), bool(true)),
  )
  responseGolden(
    ApiKey.CreateTopics,
    0,
    { throttleTimeMs: 0, topics: [{ name: 't', errorCode: 36, errorMessage: null }] },
    cat(arr([cat(str('t'), i16(36))])),
  )
  responseGolden(
    ApiKey.CreateTopics,
    4,
    {
      throttleTimeMs: 0,
      topics: [
        { name: 't', errorCode: 36, errorMessage: 'exists' },
        { name: 'u', errorCode: 0, errorMessage: null },
      ],
    },
    cat(i32(0), arr([cat(str('t'), i16(36), str('exists')), cat(str('u'), i16(0), str(null))])),
  )
})

describe('golden: DeleteTopics', () => {
  requestGolden(ApiKey.DeleteTopics, 0, { topicNames: ['a', 'b'], timeoutMs: 5000 }, cat(arr([str('a'), str('b')]), i32(5000)))
  requestGolden(ApiKey.DeleteTopics, 3, { topicNames: [], timeoutMs: 0 }, cat(arr([]), i32(0)))
  responseGolden(ApiKey.DeleteTopics, 0, { throttleTimeMs: 0, responses: [{ name: 'a', errorCode: 3 }] }, arr([cat(str('a'), i16(3))]))
  responseGolden(ApiKey.DeleteTopics, 3, { throttleTimeMs: 8, responses: [{ name: 'a', errorCode: 0 }] }, cat(i32(8), arr([cat(str('a'), i16(0))])))
})

describe('golden: InitProducerId', () => {
  requestGolden(ApiKey.InitProducerId, 0, { transactionalId: null, transactionTimeoutMs: 60_000 }, cat(str(null), i32(60_000)))
  requestGolden(ApiKey.InitProducerId, 1, { transactionalId: 'tx', transactionTimeoutMs: 1000 }, cat(str('tx'), i32(1000)))
  responseGolden(
    ApiKey.InitProducerId,
    0,
    { throttleTimeMs: 0, errorCode: 0, producerId: 4000n, producerEpoch: 0 },
    cat(i32(0), i16(0), i64(4000), i16(0)),
  )
  responseGolden(
    ApiKey.InitProducerId,
    1,
    { throttleTimeMs: 0, errorCode: 0, producerId: 0x7fff_ffff_ffff_ffffn, producerEpoch: 32_767 },
    cat(i32(0), i16(0), i64(0x7fff_ffff_ffff_ffffn), i16(32_767)),
  )
})

describe('golden: DescribeConfigs', () => {
  requestGolden(
    ApiKey.DescribeConfigs,
    0,
    { resources: [{ resourceType: 2, resourceName: 't', configurationKeys: null }], includeSynonyms: false },
    arr([cat(i8(2), str('t'), arr(null))]),
  )
  requestGolden(
    ApiKey.DescribeConfigs,
    2,
    { resources: [{ resourceType: 4, resourceName: '1', configurationKeys: ['a', 'b'] }], includeSynonyms: true },
    cat(arr([cat(i8(4), str('1'), arr([str('a'), str('b')]))]), bool(true)),
  )
  responseGolden(
    ApiKey.DescribeConfigs,
    0,
    {
      throttleTimeMs: 0,
      results: [
        {
          errorCode: 0,
          errorMessage: null,
          resourceType: 2,
          resourceName: 't',
          configs: [{ name: 'retention.ms', value: '1000', readOnly: false, isDefault: true, configSource: -1, isSensitive: false, synonyms: [] }],
        },
      ],
    },
    cat(i32(0), arr([cat(i16(0), str(null), i8(2), str('t'), arr([cat(str('retention.ms'), str('1000'), bool(false), bool(true), bool(false))]))])),
  )
  responseGolden(
    ApiKey.DescribeConfigs,
    2,
    {
      throttleTimeMs: 0,
      results: [
        {
          errorCode: 0,
          errorMessage: null,
          resourceType: 2,
          resourceName: 't',
          configs: [
            {
              name: 'retention.ms',
              value: null,
              readOnly: true,
              isDefault: false,
              configSource: 5,
              isSensitive: true,
              synonyms: [{ name: 'log.retention.ms', value: '7', source: 4 }],
            },
          ],
        },
      ],
    },
    cat(
      i32(0),
      arr([
        cat(
          i16(0),
          str(null),
          i8(2),
          str('t'),
          arr([cat(str('retention.ms'), str(null), bool(true), i8(5), bool(true), arr([cat(str('log.retention.ms'), str('7'), i8(4))]))]),
        ),
      ]),
    ),
  )
})
