import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { type AbortedTxn, ABORTED_TRANSACTIONS_MAX, TransactionIndex, type TxnBatchFacts } from '../../actors/partition/transaction-index.js'
import { ControlType } from '../../src/log/control-record.js'
import { ErrorCode, SkeinError } from '../../src/wire/errors.js'
import { type TxnOp, txnOpArbitrary, skeinErrorOf } from '../helpers/txn-ops.js'

const LEADER_CHANGE = 2

function data(baseOffset: number, producerId: number, count = 1, isTransactional = true, producerEpoch = 0): TxnBatchFacts {
  return { baseOffset, lastOffset: baseOffset + count - 1, producerId, producerEpoch, isTransactional, isControl: false }
}

function marker(offset: number, producerId: number, commit: boolean, producerEpoch = 0): TxnBatchFacts {
  return { baseOffset: offset, lastOffset: offset, producerId, producerEpoch, isTransactional: true, isControl: true, controlType: commit ? ControlType.COMMIT : ControlType.ABORT }
}

function feed(index: TransactionIndex, batches: readonly TxnBatchFacts[]): TransactionIndex {
  for (const batch of batches) index.apply(batch)
  return index
}


describe('TransactionIndex.apply and lastStableOffset', () => {
  it('lastStableOffset_noTransactions_isTheHighWatermark', () => {
    const index = feed(new TransactionIndex(), [data(0, -1, 5, false), data(5, 3, 2, false)])
    expect(index.lastStableOffset(7)).toBe(7)
  })

  it('apply_transactionalBatch_opensATransactionAtItsBaseOffset', () => {
    const index = feed(new TransactionIndex(), [data(0, -1, 3, false), data(3, 9, 2), data(5, 9, 1)])
    expect(index.ongoingTransactions()).toEqual([{ producerId: 9, firstOffset: 3 }])
    expect(index.lastStableOffset(6)).toBe(3)
  })

  it('apply_commitMarker_endsTheTransactionButHoldsTheLsoUntilTheMarkerIsBelowTheHighWatermark', () => {
    const index = feed(new TransactionIndex(), [data(0, 9, 2), data(2, -1, 1, false), marker(3, 9, true)])
    expect(index.ongoingTransactions()).toEqual([])
    expect(index.lastStableOffset(3)).toBe(0)
    expect(index.lastStableOffset(4)).toBe(4)
    expect(index.abortedTransactions(0, 4)).toEqual([])
  })

  it('apply_abortMarker_addsTheTransactionToTheAbortedIndex', () => {
    const index = feed(new TransactionIndex(), [data(0, 9, 2), data(2, 8, 1), marker(3, 9, false)])
    expect(index.abortedTransactions(0, 4)).toEqual([{ producerId: 9, firstOffset: 0, lastOffset: 3 }])
    expect(index.lastStableOffset(4)).toBe(2) // producer 8's transaction is still open
  })

  it('apply_markerWithoutAnOpenTransaction_changesNothing', () => {
    const index = feed(new TransactionIndex(), [data(0, -1, 1, false), marker(1, 9, false), marker(2, 9, true)])
    expect(index.ongoingTransactions()).toEqual([])
    expect(index.abortedTransactions(0, 3)).toEqual([])
    expect(index.lastStableOffset(3)).toBe(3)
  })

  it('apply_otherControlTypesAndUnreadableOnes_areIgnored', () => {
    const index = feed(new TransactionIndex(), [data(0, 9, 1)])
    index.apply({ ...marker(1, 9, false), controlType: LEADER_CHANGE })
    index.apply({ ...marker(2, 9, false), controlType: undefined })
    expect(index.ongoingTransactions()).toEqual([{ producerId: 9, firstOffset: 0 }])
  })

  it('apply_nonTransactionalBatchOfAProducer_neitherOpensNorEndsATransaction', () => {
    const index = feed(new TransactionIndex(), [data(0, 9, 1, false), data(1, 8, 1), data(2, 8, 1, false)])
    expect(index.ongoingTransactions()).toEqual([{ producerId: 8, firstOffset: 1 }])
  })

  it('apply_batchesOfAnotherEpoch_joinTheOpenTransactionAndAnyMarkerEndsIt', () => {
    const index = feed(new TransactionIndex(), [data(0, 9, 1, true, 4), data(1, 9, 1, true, 3), data(2, 9, 1, true, 5), marker(3, 9, false, 6)])
    expect(index.abortedTransactions(0, 4)).toEqual([{ producerId: 9, firstOffset: 0, lastOffset: 3 }])
  })

  it('apply_outOfOrderBatch_failsLoudly', () => {
    const index = feed(new TransactionIndex(), [data(0, 9, 5)])
    expect(() => index.apply(data(3, 9, 1))).toThrow(/applied after the log reached 5/)
  })

  it('lastStableOffset_highWatermarkBelowOneHeard_failsLoudly', () => {
    const index = new TransactionIndex()
    index.onHighWatermark(10)
    expect(() => index.lastStableOffset(9)).toThrow(/below one heard before/)
  })

  it('lastStableOffset_openTransactionBelowTheLogStart_isTheLogStart', () => {
    const index = feed(new TransactionIndex(), [data(0, 9, 1), data(1, -1, 9, false)])
    index.advanceLogStart(5)
    expect(index.lastStableOffset(10)).toBe(5)
  })
})

describe('TransactionIndex.onHighWatermark', () => {
  it('onHighWatermark_pastAMarker_settlesItsTransaction', () => {
    const index = feed(new TransactionIndex(), [data(0, 9, 2), marker(2, 9, true), data(3, 8, 1), marker(4, 8, false)])
    index.onHighWatermark(3)
    expect(index.lastStableOffset(3)).toBe(3)
    expect(index.lastStableOffset(4)).toBe(3) // producer 8's marker at 4 is not below 4
    expect(index.lastStableOffset(5)).toBe(5)
    // A settled transaction's marker cannot be cut any more.
    expect(() => index.truncateTo(2)).toThrow(/below the high watermark/)
  })

  it('apply_markerBelowTheHighWatermarkHeard_isSettledAtOnce', () => {
    const index = new TransactionIndex(ABORTED_TRANSACTIONS_MAX, 1)
    index.onHighWatermark(100) // a follower that heard the leader's high watermark before catching up
    feed(index, [data(0, 1, 1), marker(1, 1, true), data(2, 2, 1), marker(3, 2, true), data(4, 3, 1), marker(5, 3, true)])
    // None was kept as unsettled, so the tiny bound was never reached.
    expect(index.truncateTo(100)).toBe(true)
    expect(index.lastStableOffset(100)).toBe(100)
  })
})

describe('TransactionIndex.abortedTransactions', () => {
  // Producer 1 aborts [0, 6], producer 2 aborts [2, 4], producer 3 commits [3, 5], producer 4 aborts [7, 8].
  const log = [data(0, 1), data(1, 1), data(2, 2), data(3, 3), marker(4, 2, false), marker(5, 3, true), marker(6, 1, false), data(7, 4), marker(8, 4, false)]

  it('abortedTransactions_range_returnsOverlappingOnesInFirstOffsetOrder', () => {
    const index = feed(new TransactionIndex(), log)
    expect(index.abortedTransactions(0, 9)).toEqual([
      { producerId: 1, firstOffset: 0, lastOffset: 6 },
      { producerId: 2, firstOffset: 2, lastOffset: 4 },
      { producerId: 4, firstOffset: 7, lastOffset: 8 },
    ])
    expect(index.abortedTransactions(5, 7).map((txn) => txn.producerId)).toEqual([1])
    expect(index.abortedTransactions(0, 2).map((txn) => txn.producerId)).toEqual([1])
    expect(index.abortedTransactions(4, 5).map((txn) => txn.producerId)).toEqual([1, 2])
    expect(index.abortedTransactions(9, 20)).toEqual([])
  })

  it('abortedTransactions_longTransactionSpanningLaterAborts_isFoundFromAnyRangeInside', () => {
    // Producer 1's transaction opens first and ends last: every range inside must see it.
    const batches: TxnBatchFacts[] = [data(0, 1)]
    let offset = 1
    for (let producerId = 2; producerId < 12; producerId++) batches.push(data(offset++, producerId), marker(offset++, producerId, false))
    batches.push(marker(offset, 1, false))
    const index = feed(new TransactionIndex(), batches)
    for (let from = 0; from < offset; from++) expect(index.abortedTransactions(from, from + 1).map((txn) => txn.producerId)).toContain(1)
  })

  it('abortedTransactions_pastTheBound_dropsTheOldestAndRefusesReadsFromBelowIt', () => {
    const index = feed(new TransactionIndex(2), log)
    expect(index.abortedCount).toBe(2)
    expect(index.indexedFromOffset).toBe(5) // producer 2's marker at 4 was dropped
    const error = skeinErrorOf(() => index.abortedTransactions(4, 9))
    expect(error.code).toBe(ErrorCode.OFFSET_OUT_OF_RANGE.code)
    expect(error.message).toMatch(/complete only from offset 5/)
    expect(index.abortedTransactions(5, 9).map((txn) => txn.producerId)).toEqual([1, 4])
  })

  it('advanceLogStart_pastMarkers_dropsEntriesWhollyBelowIt', () => {
    const index = feed(new TransactionIndex(), log)
    index.advanceLogStart(5)
    expect(index.abortedCount).toBe(2)
    expect(index.abortedTransactions(5, 9).map((txn) => txn.producerId)).toEqual([1, 4])
    index.advanceLogStart(7)
    expect(index.abortedTransactions(7, 9).map((txn) => txn.producerId)).toEqual([4])
  })
})

describe('TransactionIndex.truncateTo', () => {
  it('truncateTo_beforeAMarker_reopensTheTransaction', () => {
    const index = feed(new TransactionIndex(), [data(0, 9, 2), data(2, 9, 1), marker(3, 9, false)])
    expect(index.truncateTo(3)).toBe(true)
    expect(index.ongoingTransactions()).toEqual([{ producerId: 9, firstOffset: 0 }])
    expect(index.abortedTransactions(0, 10)).toEqual([])
    expect(index.lastStableOffset(3)).toBe(0)
  })

  it('truncateTo_beforeATransactionOpened_forgetsIt', () => {
    const index = feed(new TransactionIndex(), [data(0, -1, 2, false), data(2, 9, 2), marker(4, 9, true), data(5, 8, 1)])
    expect(index.truncateTo(2)).toBe(true)
    expect(index.ongoingTransactions()).toEqual([])
    expect(index.lastStableOffset(2)).toBe(2)
    index.apply(data(2, 7, 1))
    expect(index.ongoingTransactions()).toEqual([{ producerId: 7, firstOffset: 2 }])
  })

  it('truncateTo_reopening_keepsOngoingTransactionsInFirstOffsetOrder', () => {
    const index = feed(new TransactionIndex(), [data(0, 1), data(1, 2), marker(2, 1, true), data(3, 3), data(4, 2)])
    expect(index.truncateTo(2)).toBe(true)
    expect(index.ongoingTransactions()).toEqual([{ producerId: 1, firstOffset: 0 }, { producerId: 2, firstOffset: 1 }])
  })

  it('truncateTo_pastUnsettledOverflow_asksForARebuild_andTheLsoStaysConservative', () => {
    const index = feed(new TransactionIndex(ABORTED_TRANSACTIONS_MAX, 1), [data(0, 1), marker(1, 1, true), data(2, 2), marker(3, 2, true)])
    // Producer 1's marker was summarised: the LSO still waits for it.
    expect(index.lastStableOffset(1)).toBe(0)
    expect(index.lastStableOffset(3)).toBe(2)
    expect(index.lastStableOffset(4)).toBe(4)
    expect(index.truncateTo(3)).toBe(true)
    expect(index.truncateTo(1)).toBe(false)
    index.clear()
    feed(index, [data(0, 1)])
    expect(index.ongoingTransactions()).toEqual([{ producerId: 1, firstOffset: 0 }])
  })
})

// ---- the model: every transaction of the log, recomputed from scratch ----

interface ModelTxn {
  readonly producerId: number
  readonly firstOffset: number
  markerOffset: number | undefined
  aborted: boolean
}

function modelOf(batches: readonly TxnBatchFacts[]): ModelTxn[] {
  const txns: ModelTxn[] = []
  const open = new Map<number, ModelTxn>()
  for (const batch of batches) {
    if (batch.producerId < 0) continue
    const current = open.get(batch.producerId)
    if (batch.isControl && (batch.controlType === ControlType.ABORT || batch.controlType === ControlType.COMMIT)) {
      if (current === undefined) continue
      current.markerOffset = batch.baseOffset
      current.aborted = batch.controlType === ControlType.ABORT
      open.delete(batch.producerId)
    } else if (!batch.isControl && batch.isTransactional && current === undefined) {
      const txn: ModelTxn = { producerId: batch.producerId, firstOffset: batch.baseOffset, markerOffset: undefined, aborted: false }
      txns.push(txn)
      open.set(batch.producerId, txn)
    }
  }
  return txns
}

function modelLso(txns: readonly ModelTxn[], highWatermark: number): number {
  let lso = highWatermark
  for (const txn of txns) if (txn.markerOffset === undefined || txn.markerOffset >= highWatermark) lso = Math.min(lso, txn.firstOffset)
  return lso
}

function modelAborted(txns: readonly ModelTxn[], fromOffset: number, toOffsetExclusive: number): AbortedTxn[] {
  return txns
    .filter((txn) => txn.aborted && (txn.markerOffset as number) >= fromOffset && txn.firstOffset < toOffsetExclusive)
    .map((txn) => ({ producerId: txn.producerId, firstOffset: txn.firstOffset, lastOffset: txn.markerOffset as number }))
    .sort((a, b) => a.firstOffset - b.firstOffset || a.producerId - b.producerId)
}


function batchesOf(ops: readonly TxnOp[], startOffset: number): TxnBatchFacts[] {
  let offset = startOffset
  return ops.map((op) => {
    const baseOffset = offset
    if (op.kind === 'data') {
      offset += op.count
      return data(baseOffset, op.producerId, op.count, op.transactional && op.producerId >= 0)
    }
    offset++
    if (op.kind === 'marker') return marker(baseOffset, op.producerId, op.commit)
    return { baseOffset, lastOffset: baseOffset, producerId: -1, producerEpoch: -1, isTransactional: false, isControl: true, controlType: LEADER_CHANGE }
  })
}

function endOf(batches: readonly TxnBatchFacts[], startOffset = 0): number {
  return (batches.at(-1)?.lastOffset ?? startOffset - 1) + 1
}

/** The index agrees with the model on every LSO from `highWatermark` up and every aborted range. */
function expectAgrees(index: TransactionIndex, batches: readonly TxnBatchFacts[], highWatermark: number): void {
  const txns = modelOf(batches)
  const end = endOf(batches)
  for (let hw = highWatermark; hw <= end + 1; hw++) expect(index.lastStableOffset(hw)).toBe(modelLso(txns, hw))
  for (let from = index.indexedFromOffset; from <= end; from++) {
    for (let to = from; to <= end + 1; to++) expect(index.abortedTransactions(from, to)).toEqual(modelAborted(txns, from, to))
  }
  const open = txns.filter((txn) => txn.markerOffset === undefined).map(({ producerId, firstOffset }) => ({ producerId, firstOffset }))
  expect(index.ongoingTransactions()).toEqual(open)
}

describe('TransactionIndex against a model', () => {
  it('apply_anyInterleavingOfProducers_agreesWithTheModelAtEveryHighWatermark', () => {
    fc.assert(
      fc.property(fc.array(txnOpArbitrary, { maxLength: 40, size: 'max' }), fc.nat(), (ops, hwSeed) => {
        const batches = batchesOf(ops, 0)
        const index = feed(new TransactionIndex(), batches)
        const highWatermark = hwSeed % (endOf(batches) + 1)
        expectAgrees(index, batches, 0)
        index.onHighWatermark(highWatermark)
        expectAgrees(index, batches, highWatermark)
      }),
    )
  })

  it('truncateTo_anyBatchBoundary_equalsRebuildingFromThePrefix_andStaysEqualAfterMoreBatches', () => {
    fc.assert(
      fc.property(fc.array(txnOpArbitrary, { maxLength: 30, size: 'max' }), fc.nat(), fc.nat(), fc.array(txnOpArbitrary, { maxLength: 15, size: 'max' }), (ops, cutSeed, hwSeed, moreOps) => {
        const batches = batchesOf(ops, 0)
        const kept = cutSeed % (batches.length + 1)
        const cut = kept < batches.length ? (batches[kept] as TxnBatchFacts).baseOffset : endOf(batches)
        const highWatermark = hwSeed % (cut + 1)
        const truncated = feed(new TransactionIndex(), batches)
        truncated.onHighWatermark(highWatermark)
        expect(truncated.truncateTo(cut)).toBe(true)
        const rebuilt = new TransactionIndex()
        rebuilt.onHighWatermark(highWatermark)
        const prefix = batches.slice(0, kept)
        feed(rebuilt, prefix)
        expectAgrees(truncated, prefix, highWatermark)
        expectAgrees(rebuilt, prefix, highWatermark)
        const more = batchesOf(moreOps, cut)
        feed(truncated, more)
        expectAgrees(truncated, [...prefix, ...more], highWatermark)
      }),
    )
  })

  it('abortedTransactions_smallBound_refusesExactlyBelowTheOldestKeptMarkerAndAgreesAbove', () => {
    fc.assert(
      fc.property(fc.array(txnOpArbitrary, { maxLength: 40, size: 'max' }), fc.integer({ min: 1, max: 4 }), (ops, abortedMax) => {
        const batches = batchesOf(ops, 0)
        const index = feed(new TransactionIndex(abortedMax), batches)
        const aborted = modelOf(batches).filter((txn) => txn.aborted).sort((a, b) => (a.markerOffset as number) - (b.markerOffset as number))
        const droppedCount = Math.max(0, aborted.length - abortedMax)
        const expectedFrom = droppedCount === 0 ? 0 : (aborted[droppedCount - 1]?.markerOffset as number) + 1
        expect(index.indexedFromOffset).toBe(expectedFrom)
        expect(index.abortedCount).toBe(aborted.length - droppedCount)
        if (expectedFrom > 0) expect(() => index.abortedTransactions(expectedFrom - 1, expectedFrom)).toThrow(SkeinError)
        expectAgrees(index, batches, 0)
      }),
    )
  })

  it('lastStableOffset_smallUnsettledBound_neverPassesTheModelAndCatchesUpOnceSettled', () => {
    fc.assert(
      fc.property(fc.array(txnOpArbitrary, { maxLength: 40, size: 'max' }), fc.integer({ min: 1, max: 3 }), (ops, unsettledMax) => {
        const batches = batchesOf(ops, 0)
        const index = feed(new TransactionIndex(ABORTED_TRANSACTIONS_MAX, unsettledMax), batches)
        const txns = modelOf(batches)
        const end = endOf(batches)
        for (let hw = 0; hw <= end; hw++) expect(index.lastStableOffset(hw)).toBeLessThanOrEqual(modelLso(txns, hw))
        index.onHighWatermark(end)
        expect(index.lastStableOffset(end)).toBe(modelLso(txns, end))
      }),
    )
  })
})
