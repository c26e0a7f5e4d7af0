import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  CONTROL_KEY_BYTES,
  ControlType,
  TXN_MARKER_VALUE_BYTES,
  controlTypeOf,
  controlTypeOfBatch,
  decodeTxnMarker,
  encodeControlKey,
  encodeTxnMarkerBatch,
  encodeTxnMarkerValue,
  isControlBatch,
} from '../../src/log/control-record.js'
import { decodeRecordBatch, encodeRecordBatch } from '../../src/log/record-batch.js'
import { ErrorCode } from '../../src/wire/errors.js'
import { skeinErrorOf } from '../helpers/txn-ops.js'

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex')
}

function fromHex(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'hex'))
}


/**
 * A COMMIT marker of producer 1234567890123, epoch 7, coordinator epoch 5, at 1700000000000,
 * laid out by hand from Kafka's EndTransactionMarker and RecordBatch v2, with its CRC-32C
 * computed by an independent bitwise implementation (poly 0x82F63B78):
 *   baseOffset 0 | batchLength 66 | partitionLeaderEpoch -1 | magic 2 | crc b7eba449
 *   attributes 0x0030 (control, transactional) | lastOffsetDelta 0 | base/maxTimestamp
 *   producerId 0x11f71fb04cb | producerEpoch 7 | baseSequence -1 | recordsCount 1
 *   record: length 16, attributes 0, timestampDelta 0, offsetDelta 0,
 *           key (4) 0000 0001, value (6) 0000 00000005, headers 0
 */
const GOLDEN_COMMIT =
  '000000000000000000000042ffffffff02b7eba449' +
  '0030' + '00000000' + '0000018bcfe56800' + '0000018bcfe56800' +
  '0000011f71fb04cb' + '0007' + 'ffffffff' + '00000001' +
  '20' + '00' + '00' + '00' + '08' + '00000001' + '0c' + '000000000005' + '00'

describe('encodeTxnMarkerBatch', () => {
  it('encodeTxnMarkerBatch_commit_matchesGoldenBytes', () => {
    const batch = encodeTxnMarkerBatch({ producerId: 1234567890123, producerEpoch: 7, commit: true, coordinatorEpoch: 5, timestampMs: 1700000000000 })
    expect(hex(batch)).toBe(GOLDEN_COMMIT)
  })

  it('encodeTxnMarkerBatch_abort_writesTypeZeroAndItsOwnCrc', () => {
    const batch = encodeTxnMarkerBatch({ producerId: 1234567890123, producerEpoch: 7, commit: false, coordinatorEpoch: -2, timestampMs: 1700000000000 })
    const golden = GOLDEN_COMMIT.replace('b7eba449', 'b7d29a17').replace('000000010c000000000005', '000000000c0000fffffffe')
    expect(hex(batch)).toBe(golden)
  })

  it('encodeTxnMarkerBatch_decoded_isAControlTransactionalBatchOfOneRecord', () => {
    const batch = decodeRecordBatch(encodeTxnMarkerBatch({ producerId: 42, producerEpoch: 3, commit: false, coordinatorEpoch: 9, timestampMs: 1000 }))
    expect(batch.isControl).toBe(true)
    expect(batch.isTransactional).toBe(true)
    expect(batch.producerId).toBe(42)
    expect(batch.producerEpoch).toBe(3)
    expect(batch.baseSequence).toBe(-1)
    expect(batch.records).toHaveLength(1)
    const record = batch.records[0]
    expect(controlTypeOf(record?.key ?? null)).toBe(ControlType.ABORT)
    expect(decodeTxnMarker(record?.value ?? null)).toEqual({ coordinatorEpoch: 9 })
  })

  it('encodeTxnMarkerBatch_noProducerId_isRefusedAsInvalidRecord', () => {
    const error = skeinErrorOf(() => encodeTxnMarkerBatch({ producerId: -1, producerEpoch: 0, commit: true, coordinatorEpoch: 0, timestampMs: 0 }))
    expect(error.code).toBe(ErrorCode.INVALID_RECORD.code)
  })

  it('encodeTxnMarkerBatch_coordinatorEpochBeyondInt32_isRefusedAsInvalidRecord', () => {
    const error = skeinErrorOf(() => encodeTxnMarkerBatch({ producerId: 1, producerEpoch: 0, commit: true, coordinatorEpoch: 2 ** 31, timestampMs: 0 }))
    expect(error.code).toBe(ErrorCode.INVALID_RECORD.code)
  })

  it('encodeTxnMarkerBatch_anyFields_roundTrip', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        fc.integer({ min: 0, max: 0x7fff }),
        fc.boolean(),
        fc.integer({ min: -0x8000_0000, max: 0x7fff_ffff }),
        fc.integer({ min: 0, max: 2 ** 45 }),
        (producerId, producerEpoch, commit, coordinatorEpoch, timestampMs) => {
          const bytes = encodeTxnMarkerBatch({ producerId, producerEpoch, commit, coordinatorEpoch, timestampMs })
          const batch = decodeRecordBatch(bytes)
          expect([batch.producerId, batch.producerEpoch, batch.maxTimestamp]).toEqual([producerId, producerEpoch, timestampMs])
          expect(controlTypeOfBatch(bytes)).toBe(commit ? ControlType.COMMIT : ControlType.ABORT)
          expect(decodeTxnMarker(batch.records[0]?.value ?? null).coordinatorEpoch).toBe(coordinatorEpoch)
        },
      ),
    )
  })
})

describe('controlTypeOf', () => {
  it('controlTypeOf_keysOfEachType_returnTheType', () => {
    expect(controlTypeOf(fromHex('00000000'))).toBe(ControlType.ABORT)
    expect(controlTypeOf(fromHex('00000001'))).toBe(ControlType.COMMIT)
    expect(controlTypeOf(fromHex('00000002'))).toBe(2) // LeaderChange: returned, the caller ignores it
    expect(controlTypeOf(encodeControlKey(6))).toBe(6)
  })

  it('controlTypeOf_nullOrShortKey_isUndefined', () => {
    expect(controlTypeOf(null)).toBeUndefined()
    expect(controlTypeOf(new Uint8Array(0))).toBeUndefined()
    expect(controlTypeOf(fromHex('000000'))).toBeUndefined()
    expect(CONTROL_KEY_BYTES).toBe(4)
  })

  it('controlTypeOf_negativeVersion_isUndefined', () => {
    expect(controlTypeOf(fromHex('ffff0001'))).toBeUndefined()
  })

  it('controlTypeOf_newerVersionWithMoreFields_readsAsVersionZero', () => {
    expect(controlTypeOf(fromHex('00010001deadbeef'))).toBe(ControlType.COMMIT)
  })
})

describe('decodeTxnMarker', () => {
  it('decodeTxnMarker_encodedValue_returnsTheCoordinatorEpoch', () => {
    expect(hex(encodeTxnMarkerValue(0x01020304))).toBe('000001020304')
    expect(decodeTxnMarker(fromHex('000001020304'))).toEqual({ coordinatorEpoch: 0x01020304 })
    expect(decodeTxnMarker(fromHex('0000ffffffff'))).toEqual({ coordinatorEpoch: -1 })
  })

  it('decodeTxnMarker_newerVersionWithMoreFields_readsAsVersionZero', () => {
    expect(decodeTxnMarker(fromHex('000300000007ffff'))).toEqual({ coordinatorEpoch: 7 })
  })

  it('decodeTxnMarker_nullValue_isInvalidRecord', () => {
    const error = skeinErrorOf(() => decodeTxnMarker(null))
    expect(error.code).toBe(ErrorCode.INVALID_RECORD.code)
    expect(error.message).toMatch(/null value/)
  })

  it('decodeTxnMarker_shortValue_isInvalidRecordNamingTheSizes', () => {
    const error = skeinErrorOf(() => decodeTxnMarker(fromHex('0000000000')))
    expect(error.code).toBe(ErrorCode.INVALID_RECORD.code)
    expect(error.message).toContain(`5 bytes; it needs at least ${TXN_MARKER_VALUE_BYTES}`)
  })

  it('decodeTxnMarker_negativeVersion_isInvalidRecord', () => {
    const error = skeinErrorOf(() => decodeTxnMarker(fromHex('ffff00000001')))
    expect(error.code).toBe(ErrorCode.INVALID_RECORD.code)
    expect(error.message).toMatch(/version -1/)
  })
})

describe('controlTypeOfBatch', () => {
  it('controlTypeOfBatch_dataBatch_isRefused', () => {
    const data = encodeRecordBatch({ records: [{ key: null, value: fromHex('01'), timestamp: 0 }] })
    expect(isControlBatch(data)).toBe(false)
    expect(skeinErrorOf(() => controlTypeOfBatch(data)).code).toBe(ErrorCode.INVALID_RECORD.code)
  })

  it('controlTypeOfBatch_atAPosition_readsThatBatch', () => {
    const data = encodeRecordBatch({ records: [{ key: null, value: fromHex('01'), timestamp: 0 }] })
    const marker = encodeTxnMarkerBatch({ producerId: 1, producerEpoch: 0, commit: true, coordinatorEpoch: 0, timestampMs: 0 })
    const both = new Uint8Array([...data, ...marker])
    expect(isControlBatch(both, data.length)).toBe(true)
    expect(controlTypeOfBatch(both, data.length)).toBe(ControlType.COMMIT)
  })

  it('controlTypeOfBatch_controlBatchWithShortKey_isUndefined', () => {
    const odd = encodeRecordBatch({ isControl: true, records: [{ key: fromHex('00'), value: null, timestamp: 0 }] })
    expect(controlTypeOfBatch(odd)).toBeUndefined()
  })

  it('controlTypeOfBatch_flippedBit_failsItsCrcAsCorrupt', () => {
    const marker = encodeTxnMarkerBatch({ producerId: 1, producerEpoch: 0, commit: true, coordinatorEpoch: 0, timestampMs: 0 })
    marker[marker.length - 2] = (marker[marker.length - 2] as number) ^ 1
    expect(skeinErrorOf(() => controlTypeOfBatch(marker)).code).toBe(ErrorCode.CORRUPT_MESSAGE.code)
  })
})
