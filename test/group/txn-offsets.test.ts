import { describe, expect, it } from 'vitest'
import { decodeOffsetsRecord, txnEndRecord, txnOffsetRecord } from '../../actors/group/offsets.js'
import { TXN_PENDING_OFFSETS_PER_PRODUCER_MAX, TXN_PENDING_PRODUCERS_MAX, TxnPendingOffsets, checkTxnProducer } from '../../actors/group/txn-offsets.js'
import { versioned } from '../../src/log/versioned-json.js'
import { ErrorCode } from '../../src/wire/errors.js'

const orders = (partition: number, offset: number) => ({ topic: 'orders', partition, offset })

describe('transactional offset records and the pending table', () => {
  it('txnRecords_decodeToWhatWasWritten', () => {
    expect(decodeOffsetsRecord(txnOffsetRecord('g', 7, 2, [orders(0, 10), { ...orders(1, 3), metadata: 'm' }]))).toEqual({
      kind: 'txnOffset', group: 'g', producerId: 7, producerEpoch: 2, offsets: [{ ...orders(0, 10), metadata: '' }, { ...orders(1, 3), metadata: 'm' }],
    })
    expect(decodeOffsetsRecord(txnEndRecord('g', 7, 2, false))).toEqual({ kind: 'txnEnd', group: 'g', producerId: 7, producerEpoch: 2, commit: false })
  })

  it('malformedTxnRecords_areCorrupt', () => {
    const key = (parts: unknown[]) => versioned(0, JSON.stringify(parts))
    const value = (body: unknown) => versioned(0, JSON.stringify(body))
    const corrupt = [
      { key: key(['txnoffset', 'g', -1]), value: value({ producerEpoch: 0, offsets: [orders(0, 1)] }) },
      { key: key(['txnoffset', 'g', 7]), value: null },
      { key: key(['txnoffset', 'g', 7]), value: value({ producerEpoch: 0, offsets: [] }) },
      { key: key(['txnoffset', 'g', 7]), value: value({ producerEpoch: 0, offsets: [orders(0, -1)] }) },
      { key: key(['txnend', 'g', 7]), value: value({ producerEpoch: 0 }) },
      { key: key(['txnend', 'g', 7]), value: value({ commit: true }) },
    ]
    for (const record of corrupt) expect(() => decodeOffsetsRecord(record), JSON.stringify(record.key)).toThrow(expect.objectContaining({ code: ErrorCode.CORRUPT_MESSAGE.code }))
  })

  it('add_mergesPerPartitionAndKeepsTheHigherEpoch_endDrops', () => {
    const table = new TxnPendingOffsets()
    table.add('g', 7, 1, [orders(0, 10), orders(1, 3)])
    table.add('g', 7, 2, [orders(0, 12)])
    table.add('h', 7, 0, [orders(5, 1)])
    expect(table.size).toBe(2)
    expect(table.get('g', 7)?.producerEpoch).toBe(2)
    expect([...(table.get('g', 7)?.offsets.values() ?? [])]).toEqual([orders(0, 12), orders(1, 3)])
    expect(table.unstable('g', undefined)).toEqual(['orders/0', 'orders/1'])
    expect(table.unstable('g', [{ topic: 'orders', partition: 1 }, { topic: 'orders', partition: 9 }])).toEqual(['orders/1'])
    expect(table.unstable('other', undefined)).toEqual([])
    table.end('g', 7)
    table.end('g', 7)
    expect(table.size).toBe(1)
    expect(table.groupIds()).toEqual(['h'])
    expect(table.hasGroup('g')).toBe(false)
  })

  it('refusal_fencesLowerEpochs_boundsProducersAndPartitions', () => {
    const table = new TxnPendingOffsets()
    table.add('g', 7, 3, [orders(0, 10)])
    expect(table.refusal('g', 7, 2, [orders(0, 11)])?.code).toBe(ErrorCode.PRODUCER_FENCED.code)
    expect(table.refusal('g', 7, 3, [orders(0, 11)])).toBeUndefined()
    expect(table.refusal('g', 7, 4, [orders(0, 11)])).toBeUndefined()
    const many = Array.from({ length: TXN_PENDING_OFFSETS_PER_PRODUCER_MAX }, (_, partition) => orders(partition + 1, 0))
    expect(table.refusal('g', 7, 3, many)?.code).toBe(ErrorCode.INVALID_REQUEST.code)
    expect(table.refusal('g', 8, 0, [...many, orders(0, 0)])?.code).toBe(ErrorCode.INVALID_REQUEST.code)
    for (let producerId = 100; table.size < TXN_PENDING_PRODUCERS_MAX; producerId++) table.add('g', producerId, 0, [orders(0, 1)])
    expect(table.refusal('g', 8, 0, [orders(0, 1)])?.code).toBe(ErrorCode.OVERLOADED.code)
    // A producer already pending may still add to its transaction.
    expect(table.refusal('g', 7, 3, [orders(2, 1)])).toBeUndefined()
  })

  it('checkTxnProducer_refusesBadIdsAndEpochs', () => {
    const ok = { transactionalId: 't', producerId: 0, producerEpoch: 32_767 }
    expect(checkTxnProducer(ok)).toBeUndefined()
    for (const bad of [{ transactionalId: '' }, { transactionalId: 'x'.repeat(1025) }, { transactionalId: 5 }, { producerId: -1 }, { producerId: 1.5 }, { producerId: 2 ** 53 }, { producerEpoch: 32_768 }, { producerEpoch: -1 }, { producerEpoch: undefined }]) {
      expect(checkTxnProducer({ ...ok, ...bad })?.code, JSON.stringify(bad)).toBe(ErrorCode.INVALID_REQUEST.code)
    }
  })
})
