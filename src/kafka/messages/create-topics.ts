import { arrayOf, field, struct, type ValueOf } from '../schema.js'

/**
 * CreateTopics (API key 19), versions 0-4: CreateTopicsRequest.json / CreateTopicsResponse.json.
 * numPartitions and replicationFactor may be -1 (the broker's defaults, or a manual
 * assignment in `assignments`).
 */
export const CreateTopicsRequestSchema = struct([
  field(
    'topics',
    arrayOf(
      struct([
        field('name', 'string'),
        field('numPartitions', 'int32'),
        field('replicationFactor', 'int16'),
        field('assignments', arrayOf(struct([field('partitionIndex', 'int32'), field('brokerIds', arrayOf('int32'))]))),
        field('configs', arrayOf(struct([field('name', 'string'), field('value', 'string', '0+', { nullableVersions: '0+' })]))),
      ]),
    ),
  ),
  field('timeoutMs', 'int32', '0+', { default: 60_000 }),
  field('validateOnly', 'bool', '1+'),
])

export const CreateTopicsResponseSchema = struct([
  field('throttleTimeMs', 'int32', '2+'),
  field(
    'topics',
    arrayOf(struct([field('name', 'string'), field('errorCode', 'int16'), field('errorMessage', 'string', '1+', { nullableVersions: '0+' })])),
  ),
])

export type CreateTopicsRequest = ValueOf<typeof CreateTopicsRequestSchema>
export type CreateTopicsResponse = ValueOf<typeof CreateTopicsResponseSchema>
