import { field } from '../schema.js'

/**
 * The fields that open AddPartitionsToTxn, AddOffsetsToTxn and EndTxn requests at every
 * non-flexible version: which transactional id, and the producer id and epoch the
 * coordinator gave it (InitProducerId).
 */
export const TXN_PRODUCER_FIELDS = [field('transactionalId', 'string'), field('producerId', 'int64'), field('producerEpoch', 'int16')] as const
