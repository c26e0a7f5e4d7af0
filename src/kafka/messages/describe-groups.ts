import { arrayOf, field, struct, type ValueOf } from '../schema.js'
import { AUTHORIZED_OPERATIONS_OMITTED } from './metadata.js'

/** DescribeGroups (API key 15), versions 0-4: DescribeGroupsRequest.json / DescribeGroupsResponse.json. */
export const DescribeGroupsRequestSchema = struct([field('groups', arrayOf('string')), field('includeAuthorizedOperations', 'bool', '3+')])

export const DescribeGroupsResponseSchema = struct([
  field('throttleTimeMs', 'int32', '1+'),
  field(
    'groups',
    arrayOf(
      struct([
        field('errorCode', 'int16'),
        field('groupId', 'string'),
        field('groupState', 'string'),
        field('protocolType', 'string'),
        field('protocolData', 'string'),
        field(
          'members',
          arrayOf(
            struct([
              field('memberId', 'string'),
              field('groupInstanceId', 'string', '4+', { nullableVersions: '4+', default: null }),
              field('clientId', 'string'),
              field('clientHost', 'string'),
              field('memberMetadata', 'bytes'),
              field('memberAssignment', 'bytes'),
            ]),
          ),
        ),
        field('authorizedOperations', 'int32', '3+', { default: AUTHORIZED_OPERATIONS_OMITTED }),
      ]),
    ),
  ),
])

export type DescribeGroupsRequest = ValueOf<typeof DescribeGroupsRequestSchema>
export type DescribeGroupsResponse = ValueOf<typeof DescribeGroupsResponseSchema>
