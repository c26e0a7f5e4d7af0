import { arrayOf, field, struct, type ValueOf } from '../schema.js'
import { TXN_PRODUCER_FIELDS } from './txn-producer.js'

/**
 * AddPartitionsToTxn (API key 24), versions 0-2: AddPartitionsToTxnRequest.json /
 * AddPartitionsToTxnResponse.json. v1 is v0; v2 only allows the PRODUCER_FENCED error code
 * (older versions answer INVALID_PRODUCER_EPOCH in its place). v3+ are flexible, and v4+
 * (brokers only) batch transactions; the fields here are Kafka's "V3AndBelow" ones.
 */
export const AddPartitionsToTxnRequestSchema = struct([
  ...TXN_PRODUCER_FIELDS,
  field('topics', arrayOf(struct([field('name', 'string'), field('partitions', arrayOf('int32'))]))),
])

export const AddPartitionsToTxnResponseSchema = struct([
  field('throttleTimeMs', 'int32'),
  field(
    'resultsByTopic',
    arrayOf(struct([field('name', 'string'), field('resultsByPartition', arrayOf(struct([field('partitionIndex', 'int32'), field('partitionErrorCode', 'int16')])))])),
  ),
])

export type AddPartitionsToTxnRequest = ValueOf<typeof AddPartitionsToTxnRequestSchema>
export type AddPartitionsToTxnResponse = ValueOf<typeof AddPartitionsToTxnResponseSchema>
