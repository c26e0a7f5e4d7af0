import { arrayOf, field, struct, type ValueOf } from '../schema.js'

/**
 * JoinGroup (API key 11), versions 0-5: JoinGroupRequest.json / JoinGroupResponse.json.
 * Must include v0. Without RebalanceTimeoutMs (v0) the session timeout stands in for it.
 * Protocol metadata and member metadata are opaque bytes (the consumer protocol's own
 * encoding), passed through.
 */
export const JoinGroupRequestSchema = struct([
  field('groupId', 'string'),
  field('sessionTimeoutMs', 'int32'),
  field('rebalanceTimeoutMs', 'int32', '1+', { default: -1 }),
  field('memberId', 'string'),
  field('groupInstanceId', 'string', '5+', { nullableVersions: '5+', default: null }),
  field('protocolType', 'string'),
  field('protocols', arrayOf(struct([field('name', 'string'), field('metadata', 'bytes')]))),
])

export const JoinGroupResponseSchema = struct([
  field('throttleTimeMs', 'int32', '2+'),
  field('errorCode', 'int16'),
  field('generationId', 'int32', '0+', { default: -1 }),
  field('protocolName', 'string'),
  field('leader', 'string'),
  field('memberId', 'string'),
  field(
    'members',
    arrayOf(
      struct([
        field('memberId', 'string'),
        field('groupInstanceId', 'string', '5+', { nullableVersions: '5+', default: null }),
        field('metadata', 'bytes'),
      ]),
    ),
  ),
])

export type JoinGroupRequest = ValueOf<typeof JoinGroupRequestSchema>
export type JoinGroupResponse = ValueOf<typeof JoinGroupResponseSchema>
