import { arrayOf, field, struct, type ValueOf } from '../schema.js'

/**
 * LeaveGroup (API key 13), versions 0-3: LeaveGroupRequest.json / LeaveGroupResponse.json.
 * Must include v0. v3 leaves in batches: `members` replaces the single `memberId`.
 */
export const LeaveGroupRequestSchema = struct([
  field('groupId', 'string'),
  field('memberId', 'string', '0-2'),
  field('members', arrayOf(struct([field('memberId', 'string', '3+'), field('groupInstanceId', 'string', '3+', { nullableVersions: '3+', default: null })])), '3+'),
])

export const LeaveGroupResponseSchema = struct([
  field('throttleTimeMs', 'int32', '1+'),
  field('errorCode', 'int16'),
  field(
    'members',
    arrayOf(
      struct([
        field('memberId', 'string', '3+'),
        field('groupInstanceId', 'string', '3+', { nullableVersions: '3+' }),
        field('errorCode', 'int16', '3+'),
      ]),
    ),
    '3+',
  ),
])

export type LeaveGroupRequest = ValueOf<typeof LeaveGroupRequestSchema>
export type LeaveGroupResponse = ValueOf<typeof LeaveGroupResponseSchema>
