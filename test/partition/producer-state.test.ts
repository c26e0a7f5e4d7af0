import { describe, expect, it } from 'vitest'
import {
  type AppendedProducerBatch,
  PRODUCER_BATCHES_RETAINED,
  type ProducerBatchHeader,
  UNKNOWN_OFFSETS,
  ProducerStateTable,
  type ProducerVerdict,
  incrementSequence,
  producerBatchHeader,
  producerBatchesIn,
  carriesProducerId,
} from '../../actors/partition/producer-state.js'
import { encodeRecordBatch } from '../../src/log/record-batch.js'
import { ErrorCode } from '../../src/wire/index.js'

const PID = 7

/** A batch of `count` records from producer `pid` starting at `sequence`. */
function header(sequence: number, count = 1, epoch = 0, pid = PID): ProducerBatchHeader {
  return { producerId: pid, producerEpoch: epoch, firstSequence: sequence, lastSequence: incrementSequence(sequence, count - 1) }
}

/** Appends `batch` at `baseOffset` to the table, as the replica does once the log assigned offsets. */
function appended(table: ProducerStateTable, batch: ProducerBatchHeader, baseOffset: number): AppendedProducerBatch {
  const count = batch.lastSequence - batch.firstSequence + 1
  const applied = { ...batch, baseOffset, lastOffset: baseOffset + count - 1 }
  table.apply(applied)
  return applied
}

function errorName(verdict: ProducerVerdict): string | undefined {
  return verdict.kind === 'error' ? verdict.error.errorName : undefined
}

describe('ProducerStateTable.validate', () => {
  it('validate_unknownProducerAtSequenceZero_accepts', () => {
    expect(new ProducerStateTable().validate([header(0, 3)])).toEqual({ kind: 'accept', duplicates: [] })
  })

  it('validate_nonIdempotentBatch_isNotChecked', () => {
    const table = new ProducerStateTable()
    expect(table.validate([{ producerId: -1, producerEpoch: -1, firstSequence: -1, lastSequence: -1 }])).toEqual({ kind: 'accept', duplicates: [] })
  })

  it('validate_nextSequence_accepts', () => {
    const table = new ProducerStateTable()
    appended(table, header(0, 3), 10)
    expect(table.validate([header(3, 2)])).toEqual({ kind: 'accept', duplicates: [] })
  })

  it('validate_retryOfAnyOfTheLastFiveBatches_isADuplicateWithTheOriginalOffsets', () => {
    const table = new ProducerStateTable()
    for (let i = 0; i < PRODUCER_BATCHES_RETAINED; i++) appended(table, header(i * 2, 2), 100 + i * 10)
    for (let i = 0; i < PRODUCER_BATCHES_RETAINED; i++) {
      expect(table.validate([header(i * 2, 2)])).toEqual({ kind: 'accept', duplicates: [{ baseOffset: 100 + i * 10, lastOffset: 101 + i * 10 }] })
    }
  })

  it('validate_retryOfABatchOlderThanTheLastFive_isADuplicateWithUnknownOffsets_aloneInItsRequest', () => {
    // Its answer was lost while five later batches got through: it was appended (each batch
    // is accepted only right after the one before), so refusing it would report a written
    // batch as failed. Kafka answers DUPLICATE_SEQUENCE_NUMBER, offsets unknown (-1).
    const table = new ProducerStateTable()
    for (let i = 0; i <= PRODUCER_BATCHES_RETAINED; i++) appended(table, header(i), i)
    expect(table.validate([header(0)])).toEqual({ kind: 'accept', duplicates: [UNKNOWN_OFFSETS] })
    expect(table.validate([header(1)])).toMatchObject({ kind: 'accept', duplicates: [{ baseOffset: 1 }] })
    // Not mixed with new batches: their offsets would be answered wrong.
    expect(errorName(table.validate([header(0), header(PRODUCER_BATCHES_RETAINED + 1)]))).toBe('OUT_OF_ORDER_SEQUENCE_NUMBER')
  })

  it('validate_oldSequenceOfAProducerWhoseWholeHistoryIsRetained_isOutOfOrder', () => {
    const table = new ProducerStateTable()
    appended(table, header(5), 0)
    expect(errorName(table.validate([header(2)]))).toBe('OUT_OF_ORDER_SEQUENCE_NUMBER')
  })

  it('validate_sequenceGap_isOutOfOrder_andNotRetriable', () => {
    const table = new ProducerStateTable()
    appended(table, header(0, 3), 0)
    const verdict = table.validate([header(4)])
    expect(errorName(verdict)).toBe('OUT_OF_ORDER_SEQUENCE_NUMBER')
    expect(verdict.kind === 'error' && verdict.error.code).toBe(45)
    expect(verdict.kind === 'error' && verdict.error.retriable).toBe(false)
  })

  it('validate_overlappingButUnequalRange_isOutOfOrder', () => {
    const table = new ProducerStateTable()
    appended(table, header(0, 3), 0)
    expect(errorName(table.validate([header(1, 2)]))).toBe('OUT_OF_ORDER_SEQUENCE_NUMBER')
  })

  it('validate_olderEpoch_isInvalidProducerEpoch', () => {
    const table = new ProducerStateTable()
    appended(table, header(0, 1, 3), 0)
    const verdict = table.validate([header(1, 1, 2)])
    expect(errorName(verdict)).toBe('INVALID_PRODUCER_EPOCH')
    expect(verdict.kind === 'error' && verdict.error.code).toBe(47)
  })

  it('validate_newerEpoch_mustStartAtSequenceZero', () => {
    const table = new ProducerStateTable()
    appended(table, header(0, 5, 0), 0)
    expect(table.validate([header(0, 1, 1)])).toEqual({ kind: 'accept', duplicates: [] })
    expect(errorName(table.validate([header(5, 1, 1)]))).toBe('OUT_OF_ORDER_SEQUENCE_NUMBER')
  })

  it('apply_newEpoch_forgetsTheOldEpochsBatches', () => {
    const table = new ProducerStateTable()
    appended(table, header(0, 1, 0), 0)
    appended(table, header(0, 1, 1), 1)
    expect(table.validate([header(0, 1, 0)]).kind).toBe('error') // fenced, not a duplicate
    expect(table.validate([header(0, 1, 1)])).toEqual({ kind: 'accept', duplicates: [{ baseOffset: 1, lastOffset: 1 }] })
  })

  it('validate_unknownProducerAtNonZeroSequence_isOutOfOrderWhileTheWholeHistoryIsKnown_acceptedOnceTheLogStartMoved', () => {
    const table = new ProducerStateTable()
    expect(errorName(table.validate([header(5)]))).toBe('OUT_OF_ORDER_SEQUENCE_NUMBER')
    table.onLogStartOffset(100)
    expect(table.validate([header(5)])).toEqual({ kind: 'accept', duplicates: [] })
  })

  it('onLogStartOffset_forgetsProducersWhoseLastBatchIsGone_keepsTheOthers', () => {
    const table = new ProducerStateTable()
    appended(table, header(0, 1, 0, 1), 0)
    appended(table, header(0, 1, 0, 2), 1)
    appended(table, header(1, 1, 0, 2), 5)
    table.onLogStartOffset(2)
    expect(table.describe(1)).toBeUndefined()
    expect(table.describe(2)).toMatchObject({ epoch: 0, lastSequence: 1 })
  })

  it('validate_sequenceWrapsToZeroAfterInt32Max', () => {
    const table = new ProducerStateTable()
    table.onLogStartOffset(1) // the producer's early batches are gone
    appended(table, header(0x7fff_fffe, 2), 10)
    expect(table.describe(PID)?.lastSequence).toBe(0x7fff_ffff)
    expect(table.validate([header(0)])).toEqual({ kind: 'accept', duplicates: [] })
    expect(incrementSequence(0x7fff_fffe, 3)).toBe(1)
  })

  it('validate_invalidShape_isInvalidRecord', () => {
    const table = new ProducerStateTable()
    expect(errorName(table.validate([{ producerId: PID, producerEpoch: -1, firstSequence: 0, lastSequence: 0 }]))).toBe('INVALID_RECORD')
    expect(errorName(table.validate([{ producerId: PID, producerEpoch: 0, firstSequence: -1, lastSequence: -1 }]))).toBe('INVALID_RECORD')
    expect(errorName(table.validate([{ producerId: Number.NaN, producerEpoch: 0, firstSequence: 0, lastSequence: 0 }]))).toBe('INVALID_RECORD')
  })
})

describe('ProducerStateTable multi-batch requests', () => {
  it('validate_batchesInOneRequest_areJudgedInOrder_asIfTheEarlierWereAppended', () => {
    const table = new ProducerStateTable()
    expect(table.validate([header(0, 2), header(2, 3), header(5)])).toEqual({ kind: 'accept', duplicates: [] })
    expect(errorName(table.validate([header(0, 2), header(3)]))).toBe('OUT_OF_ORDER_SEQUENCE_NUMBER')
  })

  it('validate_aBadBatchAnywhere_refusesTheWholeRequest', () => {
    const table = new ProducerStateTable()
    appended(table, header(0), 0)
    expect(table.validate([header(1), header(2), header(9)]).kind).toBe('error')
  })

  it('validate_duplicatePrefixThenNewBatches_reportsTheDuplicates', () => {
    const table = new ProducerStateTable()
    appended(table, header(0, 2), 0)
    appended(table, header(2, 2), 2)
    expect(table.validate([header(2, 2), header(4)])).toEqual({ kind: 'accept', duplicates: [{ baseOffset: 2, lastOffset: 3 }] })
  })

  it('validate_duplicateAfterANewBatch_isRefused', () => {
    const table = new ProducerStateTable()
    appended(table, header(0), 0)
    expect(errorName(table.validate([header(1), header(0)]))).toBe('OUT_OF_ORDER_SEQUENCE_NUMBER')
  })

  it('validate_twoProducersInOneRequest_eachCheckedAgainstItsOwnState', () => {
    const table = new ProducerStateTable()
    appended(table, header(0, 1, 0, 1), 0)
    expect(table.validate([header(1, 1, 0, 1), header(0, 1, 0, 2)])).toEqual({ kind: 'accept', duplicates: [] })
  })
})

describe('ProducerStateTable truncation and bounds', () => {
  it('truncateTo_dropsBatchesAtOrPastTheOffset_theRetryIsNewAgain', () => {
    const table = new ProducerStateTable()
    appended(table, header(0), 0)
    appended(table, header(1), 1)
    expect(table.truncateTo(1)).toBe(true)
    expect(table.validate([header(1)])).toEqual({ kind: 'accept', duplicates: [] })
    expect(table.describe(PID)?.lastSequence).toBe(0)
  })

  it('truncateTo_aProducerWhoseWholeHistoryIsCut_isForgottenWithoutARebuild', () => {
    const table = new ProducerStateTable()
    appended(table, header(0), 3)
    expect(table.truncateTo(3)).toBe(true)
    expect(table.size).toBe(0)
  })

  it('truncateTo_cuttingEveryRetainedBatchOfALongerHistory_asksForARebuild', () => {
    const table = new ProducerStateTable()
    for (let i = 0; i < PRODUCER_BATCHES_RETAINED + 2; i++) appended(table, header(i), i)
    expect(table.truncateTo(2)).toBe(false)
  })

  it('apply_pastTheProducerLimit_evictsTheLeastRecent_andUnknownProducersAreThenAccepted', () => {
    const table = new ProducerStateTable(2)
    appended(table, header(0, 1, 0, 1), 0)
    appended(table, header(0, 1, 0, 2), 1)
    appended(table, header(1, 1, 0, 1), 2) // producer 1 is now the most recent
    appended(table, header(0, 1, 0, 3), 3)
    expect(table.size).toBe(2)
    expect(table.describe(2)).toBeUndefined()
    expect(table.describe(1)).toBeDefined()
    expect(table.historyIncomplete).toBe(true)
    expect(table.validate([header(1, 1, 0, 2)])).toEqual({ kind: 'accept', duplicates: [] })
  })
})

describe('producer facts from batch bytes', () => {
  it('producerBatchesIn_readsEachBatchsHeader', () => {
    const first = encodeRecordBatch({ producerId: 42, producerEpoch: 3, baseSequence: 10, records: [1, 2, 3].map((i) => ({ key: null, value: Uint8Array.of(i), timestamp: 1 })) })
    const second = encodeRecordBatch({ records: [{ key: null, value: null, timestamp: 1 }] })
    const bytes = new Uint8Array(first.length + second.length)
    bytes.set(first, 0)
    bytes.set(second, first.length)
    const batches = producerBatchesIn(bytes)
    expect(batches?.map((b) => b.position)).toEqual([0, first.length])
    expect(batches?.[0]?.header).toEqual({ producerId: 42, producerEpoch: 3, firstSequence: 10, lastSequence: 12 })
    expect(producerBatchHeader(bytes, first.length).producerId).toBe(-1)
    expect(producerBatchesIn(bytes.subarray(0, bytes.length - 1))).toBeUndefined()
    expect(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER.kafkaCode).toBe(45)
  })

  it('carriesProducerId_trueOnlyWhenSomeBatchHasAProducerId', () => {
    const plain = encodeRecordBatch({ records: [{ key: null, value: null, timestamp: 1 }] })
    const idempotent = encodeRecordBatch({ producerId: 7, producerEpoch: 0, baseSequence: 0, records: [{ key: null, value: null, timestamp: 1 }] })
    // Producer id 2^32 - 1: the low half reads -1, the high half does not.
    const highHalf = encodeRecordBatch({ producerId: 2 ** 32 - 1, producerEpoch: 0, baseSequence: 0, records: [{ key: null, value: null, timestamp: 1 }] })
    const both = new Uint8Array(plain.length * 2 + idempotent.length)
    both.set(plain, 0)
    both.set(plain, plain.length)
    both.set(idempotent, plain.length * 2)
    expect(carriesProducerId(plain)).toBe(false)
    expect(carriesProducerId(both.subarray(0, plain.length * 2))).toBe(false)
    expect(carriesProducerId(both)).toBe(true)
    expect(carriesProducerId(highHalf)).toBe(true)
    expect(carriesProducerId(new Uint8Array(10))).toBe(false)
  })
})

describe('ProducerStateTable transaction markers', () => {
  it('checkMarker_olderCoordinatorEpochThanTheLastMarker_isCoordinatorFenced', () => {
    const table = new ProducerStateTable()
    appended(table, header(0), 0)
    expect(table.checkMarker({ producerId: PID, producerEpoch: 0, coordinatorEpoch: 0 })).toBeUndefined()
    table.applyMarker({ producerId: PID, producerEpoch: 0, coordinatorEpoch: 4 })
    expect(table.checkMarker({ producerId: PID, producerEpoch: 0, coordinatorEpoch: 3 })?.errorName).toBe('TRANSACTION_COORDINATOR_FENCED')
    expect(table.checkMarker({ producerId: PID, producerEpoch: 0, coordinatorEpoch: 4 })).toBeUndefined()
  })

  it('checkMarker_olderProducerEpoch_isInvalidProducerEpoch', () => {
    const table = new ProducerStateTable()
    appended(table, header(0, 1, 2), 0)
    expect(table.checkMarker({ producerId: PID, producerEpoch: 1, coordinatorEpoch: 0 })?.errorName).toBe('INVALID_PRODUCER_EPOCH')
  })

  it('applyMarker_keepsTheSequence_aNewerEpochRestartsIt_andFencesOlderBatches', () => {
    const table = new ProducerStateTable()
    appended(table, header(0), 0)
    table.applyMarker({ producerId: PID, producerEpoch: 0, coordinatorEpoch: 0 })
    // A marker carries no sequence: the next batch follows the last data batch.
    expect(table.validate([header(1)]).kind).toBe('accept')
    table.applyMarker({ producerId: PID, producerEpoch: 1, coordinatorEpoch: 0 })
    expect(errorName(table.validate([header(1, 1, 0)]))).toBe('INVALID_PRODUCER_EPOCH')
    expect(table.validate([header(0, 1, 1)]).kind).toBe('accept')
    expect(table.markerState(PID)).toEqual({ epoch: 1, coordinatorEpoch: 0 })
  })
})
