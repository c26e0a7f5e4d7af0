import { field, struct, type ValueOf } from '../schema.js'
import { TXN_PRODUCER_FIELDS } from './txn-producer.js'

/**
 * EndTxn (API key 26), versions 0-2: EndTxnRequest.json / EndTxnResponse.json. `committed`
 * true commits, false aborts. v1 is v0; v2 only allows the PRODUCER_FENCED error code. v3+
 * are flexible.
 */
export const EndTxnRequestSchema = struct([
  ...TXN_PRODUCER_FIELDS,
  field('committed', 'bool'),
])

export const EndTxnResponseSchema = struct([field('throttleTimeMs', 'int32'), field('errorCode', 'int16')])

export type EndTxnRequest = ValueOf<typeof EndTxnRequestSchema>
export type EndTxnResponse = ValueOf<typeof EndTxnResponseSchema>
