import { field, struct, type ValueOf } from '../schema.js'

/** Heartbeat (API key 12), versions 0-3: HeartbeatRequest.json / HeartbeatResponse.json. Must include v0. */
export const HeartbeatRequestSchema = struct([
  field('groupId', 'string'),
  field('generationId', 'int32'),
  field('memberId', 'string'),
  field('groupInstanceId', 'string', '3+', { nullableVersions: '3+', default: null }),
])

export const HeartbeatResponseSchema = struct([field('throttleTimeMs', 'int32', '1+'), field('errorCode', 'int16')])

export type HeartbeatRequest = ValueOf<typeof HeartbeatRequestSchema>
export type HeartbeatResponse = ValueOf<typeof HeartbeatResponseSchema>
