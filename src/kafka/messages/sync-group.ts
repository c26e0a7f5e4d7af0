import { arrayOf, field, struct, type ValueOf } from '../schema.js'

/**
 * SyncGroup (API key 14), versions 0-3: SyncGroupRequest.json / SyncGroupResponse.json. Must
 * include v0. Assignments are opaque bytes (the consumer protocol's encoding), passed through.
 */
export const SyncGroupRequestSchema = struct([
  field('groupId', 'string'),
  field('generationId', 'int32'),
  field('memberId', 'string'),
  field('groupInstanceId', 'string', '3+', { nullableVersions: '3+', default: null }),
  field('assignments', arrayOf(struct([field('memberId', 'string'), field('assignment', 'bytes')]))),
])

export const SyncGroupResponseSchema = struct([field('throttleTimeMs', 'int32', '1+'), field('errorCode', 'int16'), field('assignment', 'bytes')])

export type SyncGroupRequest = ValueOf<typeof SyncGroupRequestSchema>
export type SyncGroupResponse = ValueOf<typeof SyncGroupResponseSchema>
