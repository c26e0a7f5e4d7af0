import { arrayOf, field, struct, type ValueOf } from '../schema.js'

/**
 * OffsetCommit (API key 8), versions 0-7: OffsetCommitRequest.json / OffsetCommitResponse.json.
 * librdkafka needs 1 or 2 in range. generationId -1 with an empty memberId is a commit from a
 * client outside any group (assign()-only consumers).
 */
export const OffsetCommitRequestSchema = struct([
  field('groupId', 'string'),
  field('generationId', 'int32', '1+', { default: -1 }),
  field('memberId', 'string', '1+'),
  field('groupInstanceId', 'string', '7+', { nullableVersions: '7+', default: null }),
  field('retentionTimeMs', 'int64', '2-4', { default: -1 }),
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
              field('committedLeaderEpoch', 'int32', '6+', { default: -1 }),
              field('commitTimestamp', 'int64', '1', { default: -1 }),
              field('committedMetadata', 'string', '0+', { nullableVersions: '0+' }),
            ]),
          ),
        ),
      ]),
    ),
  ),
])

export const OffsetCommitResponseSchema = struct([
  field('throttleTimeMs', 'int32', '3+'),
  field(
    'topics',
    arrayOf(struct([field('name', 'string'), field('partitions', arrayOf(struct([field('partitionIndex', 'int32'), field('errorCode', 'int16')])))])),
  ),
])

export type OffsetCommitRequest = ValueOf<typeof OffsetCommitRequestSchema>
export type OffsetCommitResponse = ValueOf<typeof OffsetCommitResponseSchema>
