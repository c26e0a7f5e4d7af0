import { arrayOf, field, struct, type ValueOf } from '../schema.js'

/** DeleteTopics (API key 20), versions 0-3: DeleteTopicsRequest.json / DeleteTopicsResponse.json. */
export const DeleteTopicsRequestSchema = struct([field('topicNames', arrayOf('string'), '0-5'), field('timeoutMs', 'int32')])

export const DeleteTopicsResponseSchema = struct([
  field('throttleTimeMs', 'int32', '1+'),
  field('responses', arrayOf(struct([field('name', 'string'), field('errorCode', 'int16')]))),
])

export type DeleteTopicsRequest = ValueOf<typeof DeleteTopicsRequestSchema>
export type DeleteTopicsResponse = ValueOf<typeof DeleteTopicsResponseSchema>
