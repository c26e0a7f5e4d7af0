import { arrayOf, field, struct, type ValueOf } from '../schema.js'

/**
 * OffsetFetch (API key 9), versions 0-5: OffsetFetchRequest.json / OffsetFetchResponse.json.
 * From v2 a null `topics` asks for every partition the group has an offset for, and the
 * response gains a top-level error code. v6+ are flexible; v8's batched groups are left out.
 */
export const OffsetFetchRequestSchema = struct([
  field('groupId', 'string', '0-7'),
  field('topics', arrayOf(struct([field('name', 'string', '0-7'), field('partitionIndexes', arrayOf('int32'), '0-7')])), '0-7', {
    nullableVersions: '2-7',
  }),
])

export const OffsetFetchResponseSchema = struct([
  field('throttleTimeMs', 'int32', '3+'),
  field(
    'topics',
    arrayOf(
      struct([
        field('name', 'string', '0-7'),
        field(
          'partitions',
          arrayOf(
            struct([
              field('partitionIndex', 'int32', '0-7'),
              field('committedOffset', 'int64', '0-7'),
              field('committedLeaderEpoch', 'int32', '5-7', { default: -1 }),
              field('metadata', 'string', '0-7', { nullableVersions: '0-7' }),
              field('errorCode', 'int16', '0-7'),
            ]),
          ),
          '0-7',
        ),
      ]),
    ),
    '0-7',
  ),
  field('errorCode', 'int16', '2-7'),
])

export type OffsetFetchRequest = ValueOf<typeof OffsetFetchRequestSchema>
export type OffsetFetchResponse = ValueOf<typeof OffsetFetchResponseSchema>
