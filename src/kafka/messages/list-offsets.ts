import { arrayOf, field, struct, type ValueOf } from '../schema.js'

/**
 * ListOffsets (API key 2), versions 1-5: ListOffsetsRequest.json / ListOffsetsResponse.json.
 * Timestamp -1 asks for the latest offset, -2 for the earliest. The v0-only fields
 * (MaxNumOffsets, OldStyleOffsets) are left out: v0 is not supported.
 */
export const ListOffsetsRequestSchema = struct([
  field('replicaId', 'int32'),
  field('isolationLevel', 'int8', '2+'),
  field(
    'topics',
    arrayOf(
      struct([
        field('name', 'string'),
        field(
          'partitions',
          arrayOf(struct([field('partitionIndex', 'int32'), field('currentLeaderEpoch', 'int32', '4+', { default: -1 }), field('timestamp', 'int64')])),
        ),
      ]),
    ),
  ),
])

export const ListOffsetsResponseSchema = struct([
  field('throttleTimeMs', 'int32', '2+'),
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
              field('errorCode', 'int16'),
              field('timestamp', 'int64', '1+', { default: -1 }),
              field('offset', 'int64', '1+', { default: -1 }),
              field('leaderEpoch', 'int32', '4+', { default: -1 }),
            ]),
          ),
        ),
      ]),
    ),
  ),
])

export type ListOffsetsRequest = ValueOf<typeof ListOffsetsRequestSchema>
export type ListOffsetsResponse = ValueOf<typeof ListOffsetsResponseSchema>
