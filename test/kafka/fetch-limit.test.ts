import { describe, expect, it } from 'vitest'
import { limitResponseBytes } from '../../src/kafka/handlers/partitions.js'
import { encodeRecordBatch } from '../../src/log/record-batch.js'

/** Fetch's request-wide maxBytes, applied to the partitions' answers in request order. */

function batch(baseOffset: number, valueBytes: number): Uint8Array {
  return encodeRecordBatch({ baseOffset, records: [{ timestamp: 1, key: null, value: new Uint8Array(valueBytes), headers: [] }] })
}

function answer(partitionIndex: number, ...batches: Uint8Array[]) {
  const records = Buffer.concat(batches)
  return { partitionIndex, errorCode: 0, highWatermark: 100n, lastStableOffset: 100n, logStartOffset: 0n, abortedTransactions: null, preferredReadReplica: -1, records }
}

const sizes = (answers: ReturnType<typeof limitResponseBytes>) => answers.map((a) => a.records?.byteLength ?? 0)

describe('limitResponseBytes', () => {
  const a = batch(0, 100)
  const b = batch(1, 100)
  const big = batch(0, 1_000)

  it('withinTheBudget_leavesEveryAnswerAsItIs', () => {
    const answers = [answer(0, a, b), answer(1, a)]
    expect(limitResponseBytes(answers, 10_000)).toEqual(answers)
  })

  it('overTheBudget_keepsWholeBatchesInRequestOrder_andLaterPartitionsGetNone', () => {
    const answers = [answer(0, a, b), answer(1, a)]
    const limited = limitResponseBytes(answers, a.byteLength + 10)
    expect(sizes(limited)).toEqual([a.byteLength, 0])
    expect(Buffer.from(limited[0]?.records ?? [])).toEqual(Buffer.from(a))
    expect(limited[1]?.errorCode).toBe(0)
  })

  it('aFirstBatchLargerThanTheBudget_stillGoes_soTheConsumerMakesProgress', () => {
    const answers = [answer(0), answer(1, big, a), answer(2, a)]
    expect(sizes(limitResponseBytes(answers, 10))).toEqual([0, big.byteLength, 0])
  })

  it('aLaterSmallerBatchThatFits_isStillTaken', () => {
    const answers = [answer(0, a), answer(1, big), answer(2, b)]
    expect(sizes(limitResponseBytes(answers, a.byteLength + b.byteLength))).toEqual([a.byteLength, 0, b.byteLength])
  })
})
