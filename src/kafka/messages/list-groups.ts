import { arrayOf, field, struct, type ValueOf } from '../schema.js'

/** ListGroups (API key 16), versions 0-2: ListGroupsRequest.json / ListGroupsResponse.json. */
export const ListGroupsRequestSchema = struct([])

export const ListGroupsResponseSchema = struct([
  field('throttleTimeMs', 'int32', '1+'),
  field('errorCode', 'int16'),
  field('groups', arrayOf(struct([field('groupId', 'string'), field('protocolType', 'string')]))),
])

export type ListGroupsRequest = ValueOf<typeof ListGroupsRequestSchema>
export type ListGroupsResponse = ValueOf<typeof ListGroupsResponseSchema>
