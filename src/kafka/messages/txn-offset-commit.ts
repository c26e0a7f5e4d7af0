import { arrayOf, field, struct, type ValueOf } from '../schema.js'

/**
 * TxnOffsetCommit (API key 28), versions 0-2: TxnOffsetCommitRequest.json /
 * TxnOffsetCommitResponse.json. v1 is v0; v2 adds the committed leader epoch. v3 (flexible)
 * adds the member id, generation and group instance id, so these versions commit without
 * a member (no KIP-447 fencing of a member that lost its partitions).
 */
export const TxnOffsetCommitRequestSchema = struct([
  field('transactionalId', 'string'),
  field('groupId', 'string'),
  field('producerId', 'int64'),
  field('producerEpoch', 'int16'),
  field(
    'topics',
    arrayOf(
      struct([
        field('name', 'string'),
        field(
          'partitions',
          arrayOf(
            struct([
              field('partitionIndex', 'int32'),
              field('committedOffset', 'int64'),
              field('committedLeaderEpoch', 'int32', '2+', { default: -1 }),
              field('committedMetadata', 'string', '0+', { nullableVersions: '0+' }),
            ]),
          ),
        ),
      ]),
    ),
  ),
])

export const TxnOffsetCommitResponseSchema = struct([
  field('throttleTimeMs', 'int32'),
  field('topics', arrayOf(struct([field('name', 'string'), field('partitions', arrayOf(struct([field('partitionIndex', 'int32'), field('errorCode', 'int16')])))]))),
])

export type TxnOffsetCommitRequest = ValueOf<typeof TxnOffsetCommitRequestSchema>
export type TxnOffsetCommitResponse = ValueOf<typeof TxnOffsetCommitResponseSchema>
