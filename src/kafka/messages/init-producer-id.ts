import { field, struct, type ValueOf } from '../schema.js'

/**
 * InitProducerId (API key 22), versions 0-1: InitProducerIdRequest.json /
 * InitProducerIdResponse.json. v2+ are flexible. A null transactionalId asks for an
 * idempotent (non-transactional) producer id.
 */
export const InitProducerIdRequestSchema = struct([
  field('transactionalId', 'string', '0+', { nullableVersions: '0+' }),
  field('transactionTimeoutMs', 'int32'),
])

export const InitProducerIdResponseSchema = struct([
  field('throttleTimeMs', 'int32'),
  field('errorCode', 'int16'),
  field('producerId', 'int64', '0+', { default: -1 }),
  field('producerEpoch', 'int16'),
])

export type InitProducerIdRequest = ValueOf<typeof InitProducerIdRequestSchema>
export type InitProducerIdResponse = ValueOf<typeof InitProducerIdResponseSchema>
