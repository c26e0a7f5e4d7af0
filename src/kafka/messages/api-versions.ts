import { arrayOf, field, struct, type ValueOf } from '../schema.js'

/**
 * ApiVersions (API key 18), versions 0-2: ApiVersionsRequest.json / ApiVersionsResponse.json.
 * v0-2 requests have no fields. v3 (flexible, sent first by librdkafka) is not supported: it
 * is answered with UNSUPPORTED_VERSION in the v0 layout (see apis.ts), and the client retries
 * with v0.
 */
export const ApiVersionsRequestSchema = struct([])

export const ApiVersionsResponseSchema = struct([
  field('errorCode', 'int16'),
  field('apiKeys', arrayOf(struct([field('apiKey', 'int16'), field('minVersion', 'int16'), field('maxVersion', 'int16')]))),
  field('throttleTimeMs', 'int32', '1+'),
])

export type ApiVersionsRequest = ValueOf<typeof ApiVersionsRequestSchema>
export type ApiVersionsResponse = ValueOf<typeof ApiVersionsResponseSchema>
