import { field, struct, type ValueOf } from '../schema.js'
import { TXN_PRODUCER_FIELDS } from './txn-producer.js'

/**
 * AddOffsetsToTxn (API key 25), versions 0-2: AddOffsetsToTxnRequest.json /
 * AddOffsetsToTxnResponse.json. v1 is v0; v2 only allows the PRODUCER_FENCED error code.
 * v3+ are flexible.
 */
export const AddOffsetsToTxnRequestSchema = struct([
  ...TXN_PRODUCER_FIELDS,
  field('groupId', 'string'),
])

export const AddOffsetsToTxnResponseSchema = struct([field('throttleTimeMs', 'int32'), field('errorCode', 'int16')])

export type AddOffsetsToTxnRequest = ValueOf<typeof AddOffsetsToTxnRequestSchema>
export type AddOffsetsToTxnResponse = ValueOf<typeof AddOffsetsToTxnResponseSchema>
