import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { TransactionIndex } from '../../actors/partition/transaction-index.js'
import { controlTypeOf, encodeControlKey, encodeTxnMarkerBatch } from '../../src/log/control-record.js'
import { readCommitted } from '../../src/log/read-committed.js'
import { decodeRecordBatch, decodeRecordBatches, encodeRecordBatch } from '../../src/log/record-batch.js'
import { ErrorCode, SkeinError } from '../../src/wire/errors.js'
import { TXN_OP_PRODUCERS, type TxnOp, txnOpArbitrary } from '../helpers/txn-ops.js'
import { concatBytes } from './helpers.js'

const LEADER_CHANGE = 2

interface Built {
  readonly bytes: Uint8Array
  readonly baseOffset: number
  readonly lastOffset: number
}

/** A data batch of `count` records at `baseOffset`, values naming the offsets. */
function dataBatch(baseOffset: number, producerId: number, transactional: boolean, count = 1): Uint8Array {
  const records = Array.from({ length: count }, (_, i) => ({ key: null, value: new TextEncoder().encode(`v${baseOffset + i}`), timestamp: 1000 }))
  return encodeRecordBatch({ baseOffset, producerId, producerEpoch: producerId >= 0 ? 0 : -1, baseSequence: producerId >= 0 ? 0 : -1, isTransactional: transactional, records })
}

function markerBatch(baseOffset: number, producerId: number, commit: boolean): Uint8Array {
  const bytes = encodeTxnMarkerBatch({ producerId, producerEpoch: 0, commit, coordinatorEpoch: 0, timestampMs: 1000 })
  // The leader stamps the base offset (outside the CRC).
  new DataView(bytes.buffer, bytes.byteOffset).setBigInt64(0, BigInt(baseOffset))
  return bytes
}

function leaderChangeBatch(baseOffset: number): Uint8Array {
  return encodeRecordBatch({ baseOffset, isControl: true, records: [{ key: encodeControlKey(LEADER_CHANGE), value: new Uint8Array([1]), timestamp: 1000 }] })
}

/** The offsets of the data records the views hold, in order. */
function offsetsIn(views: readonly Uint8Array[]): number[] {
  return views.flatMap((view) => decodeRecordBatches(view).flatMap((batch) => batch.records.map((record) => record.offset)))
}

describe('readCommitted', () => {
  it('readCommitted_noAbortedTransactions_dropsOnlyControlBatches', () => {
    const bytes = concatBytes([dataBatch(0, -1, false, 2), dataBatch(2, 5, true), markerBatch(3, 5, true), leaderChangeBatch(4), dataBatch(5, 6, false)])
    const result = readCommitted(bytes, [])
    expect(offsetsIn(result.views)).toEqual([0, 1, 2, 5])
    expect(result.views).toHaveLength(2)
    expect([result.skippedBatches, result.abortedBatches]).toEqual([2, 0])
  })

  it('readCommitted_nothingSkipped_returnsOneViewOfTheSameBytes', () => {
    const bytes = concatBytes([dataBatch(0, -1, false, 2), dataBatch(2, 5, true), dataBatch(3, 5, true)])
    const result = readCommitted(bytes, [])
    expect(result.views).toHaveLength(1)
    const view = result.views[0] as Uint8Array
    expect(view.buffer).toBe(bytes.buffer)
    expect(view.byteOffset).toBe(bytes.byteOffset)
    expect(view.length).toBe(bytes.length)
  })

  it('readCommitted_abortedTransaction_skipsItsBatchesUntilItsAbortMarker', () => {
    const bytes = concatBytes([
      dataBatch(0, 7, true, 2),
      dataBatch(2, 8, true),
      dataBatch(3, 7, true),
      markerBatch(4, 7, false),
      markerBatch(5, 8, true),
      dataBatch(6, 7, true), // producer 7's next transaction, committed
      markerBatch(7, 7, true),
    ])
    const result = readCommitted(bytes, [{ producerId: 7, firstOffset: 0 }])
    expect(offsetsIn(result.views)).toEqual([2, 6])
    expect([result.skippedBatches, result.abortedBatches]).toEqual([5, 2])
  })

  it('readCommitted_nonTransactionalBatchOfAnAbortedProducer_isRead', () => {
    const bytes = concatBytes([dataBatch(0, 7, true), dataBatch(1, 7, false), markerBatch(2, 7, false)])
    expect(offsetsIn(readCommitted(bytes, [{ producerId: 7, firstOffset: 0 }]).views)).toEqual([1])
  })

  it('readCommitted_abortedTransactionStartingLater_doesNotSkipEarlierBatches', () => {
    const bytes = concatBytes([dataBatch(0, 7, true), markerBatch(1, 7, true), dataBatch(2, 7, true), markerBatch(3, 7, false)])
    expect(offsetsIn(readCommitted(bytes, [{ producerId: 7, firstOffset: 2 }]).views)).toEqual([0])
  })

  it('readCommitted_abortedListInAnyOrder_isSortedFirst', () => {
    const bytes = concatBytes([dataBatch(0, 1, true), dataBatch(1, 2, true), markerBatch(2, 1, false), dataBatch(3, 1, true), markerBatch(4, 2, false), markerBatch(5, 1, false)])
    const result = readCommitted(bytes, [{ producerId: 1, firstOffset: 3 }, { producerId: 2, firstOffset: 1 }, { producerId: 1, firstOffset: 0 }])
    expect(offsetsIn(result.views)).toEqual([])
    expect(result.abortedBatches).toBe(3)
  })

  it('readCommitted_emptyFetch_returnsNoView', () => {
    expect(readCommitted(new Uint8Array(0), [{ producerId: 1, firstOffset: 0 }])).toEqual({ views: [], skippedBatches: 0, abortedBatches: 0 })
  })

  it('readCommitted_bytesThatDoNotFrame_throwTheHeaderError', () => {
    const bytes = dataBatch(0, 7, true).subarray(0, 40)
    let error: unknown
    try {
      readCommitted(bytes, [])
    } catch (err) {
      error = err
    }
    expect(error).toBeInstanceOf(SkeinError)
    expect((error as SkeinError).code).toBe(ErrorCode.CORRUPT_MESSAGE.code)
  })
})

// ---- property: a random log, filtered, is exactly its committed and non-transactional data ----


interface Log {
  readonly batches: Built[]
  /** Per batch: whether a read_committed reader must see it. */
  readonly visible: boolean[]
}

/** Builds the log, closes every transaction left open with `closeCommits`, and decides by hand what is visible. */
function buildLog(ops: readonly TxnOp[], closeCommits: readonly boolean[]): Log {
  const batches: Built[] = []
  const visible: boolean[] = []
  // Per producer, the indexes of the batches of its open transaction (they become visible on commit).
  const open = new Map<number, number[]>()
  let offset = 0
  const push = (bytes: Uint8Array, count: number, isVisible: boolean): number => {
    batches.push({ bytes, baseOffset: offset, lastOffset: offset + count - 1 })
    visible.push(isVisible)
    offset += count
    return batches.length - 1
  }
  const end = (producerId: number, commit: boolean): void => {
    const members = open.get(producerId)
    push(markerBatch(offset, producerId, commit), 1, false)
    if (members === undefined) return
    for (const at of members) visible[at] = commit
    open.delete(producerId)
  }
  for (const op of ops) {
    if (op.kind === 'leaderChange') push(leaderChangeBatch(offset), 1, false)
    else if (op.kind === 'marker') end(op.producerId, op.commit)
    else {
      const transactional = op.transactional && op.producerId >= 0
      const at = push(dataBatch(offset, op.producerId, transactional, op.count), op.count, !transactional)
      if (transactional) open.set(op.producerId, [...(open.get(op.producerId) ?? []), at])
    }
  }
  for (const [i, producerId] of [...open.keys()].entries()) end(producerId, closeCommits[i] ?? true)
  return { batches, visible }
}

function indexOf(log: Log): TransactionIndex {
  const index = new TransactionIndex()
  for (const batch of log.batches) {
    const decoded = decodeRecordBatch(batch.bytes)
    index.apply({
      baseOffset: batch.baseOffset,
      lastOffset: batch.lastOffset,
      producerId: decoded.producerId,
      producerEpoch: decoded.producerEpoch,
      isTransactional: decoded.isTransactional,
      isControl: decoded.isControl,
      controlType: decoded.isControl ? controlTypeOf(decoded.records[0]?.key ?? null) : undefined,
    })
  }
  return index
}

describe('readCommitted against a hand-built log', () => {
  it('readCommitted_anyFetchRangeOfARandomLog_returnsExactlyTheCommittedAndNonTransactionalDataBatches', () => {
    fc.assert(
      fc.property(fc.array(txnOpArbitrary, { maxLength: 40, size: 'max' }), fc.array(fc.boolean(), { minLength: TXN_OP_PRODUCERS, maxLength: TXN_OP_PRODUCERS }), fc.nat(), fc.nat(), (ops, closeCommits, fromSeed, toSeed) => {
        const log = buildLog(ops, closeCommits)
        const index = indexOf(log)
        const count = log.batches.length
        const from = count === 0 ? 0 : fromSeed % count
        const to = from + (toSeed % (count - from + 1))
        const fetched = log.batches.slice(from, to)
        const fromOffset = fetched[0]?.baseOffset ?? 0
        const toOffset = (fetched.at(-1)?.lastOffset ?? fromOffset - 1) + 1
        const bytes = concatBytes(fetched.map((batch) => batch.bytes))
        const result = readCommitted(bytes, index.abortedTransactions(fromOffset, toOffset))

        const expected = fetched.filter((_, i) => log.visible[from + i])
        expect(concatBytes(result.views)).toEqual(concatBytes(expected.map((batch) => batch.bytes)))
        expect(result.skippedBatches).toBe(fetched.length - expected.length)
        // One view per run of consecutive visible batches, each a view of the fetched bytes.
        let runs = 0
        for (let i = from; i < to; i++) if (log.visible[i] && (i === from || !log.visible[i - 1])) runs++
        expect(result.views).toHaveLength(runs)
        for (const view of result.views) expect(view.buffer).toBe(bytes.buffer)
      }),
    )
  })
})
