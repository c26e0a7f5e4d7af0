import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  PRODUCER_EPOCH_MAX, TRANSACTIONAL_ID_CHARS_MAX, TXN_GROUPS_MAX, TXN_PARTITIONS_MAX, type TxnMetadata, type TxnRecord,
  compareTopicPartitions, decodeTxnRecord, replayTxnLog, txnLoadMarkerRecord, txnRecord, txnTombstone,
} from '../../actors/txn/txn-log.js'
import { LOG_CONFIG_DEFAULT } from '../../src/log/config.js'
import { ErrorCode, SkeinError } from '../../src/wire/errors.js'

const ONGOING: TxnMetadata = {
  producerId: 4_000_000_000_123,
  producerEpoch: 7,
  timeoutMs: 60_000,
  state: 'Ongoing',
  partitions: [{ topic: 'a', partition: 0 }, { topic: 'a', partition: 3 }, { topic: 'b.c', partition: 1 }],
  groups: ['g1', 'g2'],
  txnStartMs: 1_700_000_000_000,
  updatedMs: 1_700_000_000_500,
}
const EMPTY: TxnMetadata = { ...ONGOING, state: 'Empty', partitions: [], groups: [], txnStartMs: -1 }

const utf8 = new TextEncoder()
function bytes(version: number, json: string): Uint8Array {
  return new Uint8Array([version, ...utf8.encode(json)])
}

function corruptionOf(record: TxnRecord): string {
  try {
    decodeTxnRecord(record)
  } catch (error) {
    expect(error).toBeInstanceOf(SkeinError)
    expect((error as SkeinError).code).toBe(ErrorCode.CORRUPT_MESSAGE.code)
    return (error as SkeinError).message
  }
  throw new Error('decoded without complaint')
}

describe('transaction-state records', () => {
  it('txnRecord_everyStoredState_roundTripsThroughDecode', () => {
    const all: TxnMetadata[] = [
      EMPTY, ONGOING, { ...ONGOING, state: 'PrepareCommit' }, { ...ONGOING, state: 'PrepareAbort', producerEpoch: PRODUCER_EPOCH_MAX },
      { ...EMPTY, state: 'CompleteCommit', txnStartMs: 5 }, { ...EMPTY, state: 'CompleteAbort' },
    ]
    for (const metadata of all) {
      const decoded = decodeTxnRecord(txnRecord('payments-0', metadata))
      expect(decoded).toEqual({ kind: 'txn', transactionalId: 'payments-0', metadata })
    }
  })

  it('txnRecord_partitionsStoredGroupedByTopic', () => {
    const value = new TextDecoder().decode(txnRecord('t', ONGOING).value!.subarray(1))
    expect(JSON.parse(value).partitions).toEqual([['a', [0, 3]], ['b.c', [1]]])
  })

  it('replayTxnLog_latestRecordPerIdWins_tombstoneForgets_loadMarkersIgnored', () => {
    const table = replayTxnLog([
      txnRecord('x', EMPTY),
      txnLoadMarkerRecord('n1'),
      txnRecord('y', EMPTY),
      txnRecord('x', ONGOING),
      txnRecord('y', { ...EMPTY, producerEpoch: 8 }),
      txnTombstone('y'),
      txnRecord('z', { ...EMPTY, producerId: 9 }),
    ])
    expect([...table.keys()].sort()).toEqual(['x', 'z'])
    expect(table.get('x')).toEqual(ONGOING)
    expect(table.get('z')?.producerId).toBe(9)
  })

  it('decodeTxnRecord_unknownKeyOrValueVersion_corruptMessage', () => {
    const good = txnRecord('t', EMPTY)
    const newerKey = Uint8Array.from(good.key)
    newerKey[0] = 1
    const newerValue = Uint8Array.from(good.value!)
    newerValue[0] = 1
    expect(corruptionOf({ key: newerKey, value: good.value })).toMatch(/key has version 1/)
    expect(corruptionOf({ key: good.key, value: newerValue })).toMatch(/value has version 1/)
    expect(corruptionOf({ key: new Uint8Array(0), value: null })).toMatch(/version none/)
  })

  it('decodeTxnRecord_garbage_corruptMessage', () => {
    const key = txnRecord('t', EMPTY).key
    const value = (patch: Record<string, unknown>): Uint8Array => {
      const json = JSON.parse(new TextDecoder().decode(txnRecord('t', ONGOING).value!.subarray(1)))
      return bytes(0, JSON.stringify({ ...json, ...patch }))
    }
    const cases: [TxnRecord, RegExp][] = [
      [{ key: bytes(0, '{not json'), value: null }, /not UTF-8 JSON/],
      [{ key: new Uint8Array([0, 0xff, 0xfe]), value: null }, /not UTF-8 JSON/],
      [{ key: bytes(0, '["offset","g"]'), value: null }, /no known kind/],
      [{ key: bytes(0, '["txn"]'), value: null }, /not \[kind, string\]/],
      [{ key: bytes(0, '["txn",""]'), value: null }, /transactional id of 0/],
      [{ key, value: bytes(0, '[]') }, /not an object/],
      [{ key, value: bytes(0, 'null') }, /not an object/],
      [{ key, value: value({ state: 'Dead' }) }, /not a stored transaction state/],
      [{ key, value: value({ producerEpoch: PRODUCER_EPOCH_MAX + 1 }) }, /producerEpoch/],
      [{ key, value: value({ producerId: -1 }) }, /producerId/],
      [{ key, value: value({ timeoutMs: 0 }) }, /timeoutMs/],
      [{ key, value: value({ partitions: [['a', [3, 0]]] }) }, /sorted/],
      [{ key, value: value({ partitions: [['a', [-1]]] }) }, /not a topic partition/],
      [{ key, value: value({ partitions: [['a', 0]] }) }, /pairs/],
      [{ key, value: value({ groups: ['g2', 'g1'] }) }, /groups are not sorted/],
      [{ key, value: value({ groups: undefined }) }, /lacks partitions or groups/],
      [{ key, value: value({ state: 'Empty' }) }, /Empty with partitions/],
      [{ key, value: value({ txnStartMs: -1 }) }, /Ongoing without txnStartMs/],
    ]
    for (const [record, message] of cases) expect(corruptionOf(record)).toMatch(message)
  })

  it('txnRecord_nonCanonicalMetadata_refusedByAssertion', () => {
    expect(() => txnRecord('t', { ...ONGOING, partitions: [...ONGOING.partitions].reverse() })).toThrow(/not storable/)
    expect(() => txnRecord('t', { ...EMPTY, groups: ['g'] })).toThrow(/not storable/)
    expect(() => txnRecord('', EMPTY)).toThrow(/transactional id of 0/)
  })

  it('largestTransaction_recordFitsInOneBatch', () => {
    const topic = (i: number): string => `${String(i).padStart(4, '0')}${'t'.repeat(245)}`
    const metadata: TxnMetadata = {
      ...ONGOING,
      partitions: Array.from({ length: TXN_PARTITIONS_MAX }, (_, i) => ({ topic: topic(i), partition: 2_147_483_647 })),
      groups: Array.from({ length: TXN_GROUPS_MAX }, (_, i) => `${String(i).padStart(3, '0')}${'g'.repeat(252)}`),
    }
    const record = txnRecord('i'.repeat(TRANSACTIONAL_ID_CHARS_MAX), metadata)
    expect(record.key.length + record.value!.length).toBeGreaterThan(250_000)
    expect(record.key.length + record.value!.length).toBeLessThan(LOG_CONFIG_DEFAULT.batchBytesMax / 2)
    expect(decodeTxnRecord(record)).toMatchObject({ metadata })
  })

  it('anyStorableMetadata_roundTrips', () => {
    const partitions = fc.uniqueArray(fc.record({ topic: fc.constantFrom('a', 'b', 'orders', '__x'), partition: fc.nat(50) }), {
      selector: (tp) => `${tp.topic}/${tp.partition}`, maxLength: 8,
    }).map((list) => list.sort(compareTopicPartitions))
    const groups = fc.uniqueArray(fc.string({ minLength: 1, maxLength: 6 }), { maxLength: 4 }).map((list) => list.sort())
    const open = fc.record({
      producerId: fc.maxSafeNat(), producerEpoch: fc.integer({ min: 0, max: PRODUCER_EPOCH_MAX }), timeoutMs: fc.integer({ min: 1, max: 900_000 }),
      state: fc.constantFrom('Ongoing' as const, 'PrepareCommit' as const, 'PrepareAbort' as const), partitions, groups,
      txnStartMs: fc.nat(), updatedMs: fc.integer(),
    }).filter((m) => m.partitions.length + m.groups.length > 0)
    const closed = fc.record({
      producerId: fc.maxSafeNat(), producerEpoch: fc.integer({ min: 0, max: PRODUCER_EPOCH_MAX }), timeoutMs: fc.integer({ min: 1, max: 900_000 }),
      state: fc.constantFrom('Empty' as const, 'CompleteCommit' as const, 'CompleteAbort' as const), partitions: fc.constant([]), groups: fc.constant([]),
      txnStartMs: fc.integer({ min: -1, max: 1e12 }), updatedMs: fc.integer(),
    })
    fc.assert(fc.property(fc.string({ minLength: 1, maxLength: 30 }), fc.oneof(open, closed), (id, metadata) => {
      expect(decodeTxnRecord(txnRecord(id, metadata))).toEqual({ kind: 'txn', transactionalId: id, metadata })
    }))
  })
})
