import { arrayOf, field, struct, type ValueOf } from '../schema.js'

/**
 * Produce (API key 0), versions 3-8: ProduceRequest.json / ProduceResponse.json.
 * v3+ carry RecordBatch v2 only; `records` is the batches as the client sent them. A request
 * with acks = 0 gets no response at all (the listener's rule, not the codec's).
 */
export const ProduceRequestSchema = struct([
  field('transactionalId', 'string', '3+', { nullableVersions: '0+' }),
  field('acks', 'int16'),
  field('timeoutMs', 'int32'),
  field(
    'topics',
    arrayOf(
      struct([
        field('name', 'string'),
        field('partitions', arrayOf(struct([field('partitionIndex', 'int32'), field('records', 'records', '0+', { nullableVersions: '0+' })]))),
      ]),
    ),
  ),
])

export const ProduceResponseSchema = struct([
  field(
    'responses',
    arrayOf(
      struct([
        field('name', 'string'),
        field(
          'partitions',
          arrayOf(
            struct([
              field('partitionIndex', 'int32'),
              field('errorCode', 'int16'),
              field('baseOffset', 'int64'),
              field('logAppendTimeMs', 'int64', '2+', { default: -1 }),
              field('logStartOffset', 'int64', '5+', { default: -1 }),
              field(
                'recordErrors',
                arrayOf(struct([field('batchIndex', 'int32', '8+'), field('batchIndexErrorMessage', 'string', '8+', { nullableVersions: '8+', default: null })])),
                '8+',
              ),
              field('errorMessage', 'string', '8+', { nullableVersions: '8+', default: null }),
            ]),
          ),
        ),
      ]),
    ),
  ),
  field('throttleTimeMs', 'int32', '1+'),
])

export type ProduceRequest = ValueOf<typeof ProduceRequestSchema>
export type ProduceResponse = ValueOf<typeof ProduceResponseSchema>
