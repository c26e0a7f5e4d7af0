import { arrayOf, field, struct, type ValueOf } from '../schema.js'

/**
 * Fetch (API key 1), versions 4-11: FetchRequest.json / FetchResponse.json. v4 is the first
 * version that carries RecordBatch v2, which librdkafka needs in range. Flexible-only fields
 * (v12+: topic ids, diverging epochs, tagged fields) are left out.
 */
export const FetchRequestSchema = struct([
  field('replicaId', 'int32'),
  field('maxWaitMs', 'int32'),
  field('minBytes', 'int32'),
  field('maxBytes', 'int32', '3+', { default: 0x7fff_ffff }),
  field('isolationLevel', 'int8', '4+'),
  field('sessionId', 'int32', '7+'),
  field('sessionEpoch', 'int32', '7+', { default: -1 }),
  field(
    'topics',
    arrayOf(
      struct([
        field('topic', 'string'),
        field(
          'partitions',
          arrayOf(
            struct([
              field('partition', 'int32'),
              field('currentLeaderEpoch', 'int32', '9+', { default: -1 }),
              field('fetchOffset', 'int64'),
              field('logStartOffset', 'int64', '5+', { default: -1 }),
              field('partitionMaxBytes', 'int32'),
            ]),
          ),
        ),
      ]),
    ),
  ),
  field('forgottenTopicsData', arrayOf(struct([field('topic', 'string', '7+'), field('partitions', arrayOf('int32'), '7+')])), '7+'),
  field('rackId', 'string', '11+'),
])

export const FetchResponseSchema = struct([
  field('throttleTimeMs', 'int32', '1+'),
  field('errorCode', 'int16', '7+'),
  field('sessionId', 'int32', '7+'),
  field(
    'responses',
    arrayOf(
      struct([
        field('topic', 'string'),
        field(
          'partitions',
          arrayOf(
            struct([
              field('partitionIndex', 'int32'),
              field('errorCode', 'int16'),
              field('highWatermark', 'int64'),
              field('lastStableOffset', 'int64', '4+', { default: -1 }),
              field('logStartOffset', 'int64', '5+', { default: -1 }),
              field('abortedTransactions', arrayOf(struct([field('producerId', 'int64', '4+'), field('firstOffset', 'int64', '4+')])), '4+', {
                nullableVersions: '4+',
              }),
              field('preferredReadReplica', 'int32', '11+', { default: -1 }),
              field('records', 'records', '0+', { nullableVersions: '0+' }),
            ]),
          ),
        ),
      ]),
    ),
  ),
])

export type FetchRequest = ValueOf<typeof FetchRequestSchema>
export type FetchResponse = ValueOf<typeof FetchResponseSchema>
