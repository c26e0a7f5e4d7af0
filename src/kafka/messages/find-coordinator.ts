import { field, struct, type ValueOf } from '../schema.js'

/**
 * FindCoordinator (API key 10), versions 0-2: FindCoordinatorRequest.json /
 * FindCoordinatorResponse.json. keyType 0 = group, 1 = transaction. Must include v0.
 */
export const FindCoordinatorRequestSchema = struct([field('key', 'string', '0-3'), field('keyType', 'int8', '1+')])

export const FindCoordinatorResponseSchema = struct([
  field('throttleTimeMs', 'int32', '1+'),
  field('errorCode', 'int16'),
  field('errorMessage', 'string', '1+', { nullableVersions: '1+' }),
  field('nodeId', 'int32'),
  field('host', 'string'),
  field('port', 'int32'),
])

export type FindCoordinatorRequest = ValueOf<typeof FindCoordinatorRequestSchema>
export type FindCoordinatorResponse = ValueOf<typeof FindCoordinatorResponseSchema>
