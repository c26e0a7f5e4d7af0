import { ErrorCode, SkeinError } from '../wire/errors.js'
import { BatchAttribute, BatchField, readInt16, readInt32 } from './batch-header.js'
import { decodeRecordBatch, encodeRecordBatch } from './record-batch.js'

/**
 * Transaction markers (KIP-98): the control batch a transaction coordinator has written to every
 * partition of a transaction to end it, as Kafka's EndTransactionMarker and ControlRecordType
 * lay it out. Pure encode and decode.
 *
 * A marker is a batch with the control (0x20) and transactional (0x10) attributes set, the
 * transaction producer's id and epoch, baseSequence -1, and exactly one record:
 *
 *   key    version          int16  (0)
 *          type             int16  (ControlType: 0 ABORT, 1 COMMIT)
 *   value  version          int16  (0)
 *          coordinatorEpoch int32
 *
 * Big-endian, no headers. Every control record's key has that shape; skein's Raft log also
 * writes control types 2 (LeaderChange) and 6 (Voters), in actors/partition/replica.ts.
 */

/** Kafka's control record types that end a transaction (ControlRecordType). */
export const ControlType = {
  ABORT: 0,
  COMMIT: 1,
} as const
export type ControlType = (typeof ControlType)[keyof typeof ControlType]

/** The key schema version written; a newer one is read as this one (Kafka's schemas only grow). */
const CONTROL_KEY_VERSION = 0
/** version int16 + type int16. */
export const CONTROL_KEY_BYTES = 4
/** The marker value schema version written; a newer one is read as this one, as Kafka does. */
const TXN_MARKER_VALUE_VERSION = 0
/** version int16 + coordinatorEpoch int32. */
export const TXN_MARKER_VALUE_BYTES = 6
/** A marker carries no sequence (Kafka's RecordBatch.NO_SEQUENCE). */
const NO_SEQUENCE = -1
const INT16_MAX = 0x7fff
const INT32_MIN = -0x8000_0000
const INT32_MAX = 0x7fff_ffff

export interface TxnMarkerSpec {
  readonly producerId: number
  readonly producerEpoch: number
  /** True for COMMIT, false for ABORT. */
  readonly commit: boolean
  /** The epoch of the transaction coordinator that decided the outcome (fences a stale coordinator). */
  readonly coordinatorEpoch: number
  readonly timestampMs: number
}

export interface TxnMarker {
  readonly coordinatorEpoch: number
}

/** The key of a control record of `type`. */
export function encodeControlKey(type: number): Uint8Array {
  requireInteger('control type', type, 0, INT16_MAX)
  const key = new Uint8Array(CONTROL_KEY_BYTES)
  writeInt16(key, 0, CONTROL_KEY_VERSION)
  writeInt16(key, 2, type)
  return key
}

/** The value of a transaction marker record. */
export function encodeTxnMarkerValue(coordinatorEpoch: number): Uint8Array {
  requireInteger('coordinatorEpoch', coordinatorEpoch, INT32_MIN, INT32_MAX)
  const value = new Uint8Array(TXN_MARKER_VALUE_BYTES)
  writeInt16(value, 0, TXN_MARKER_VALUE_VERSION)
  value[2] = coordinatorEpoch >>> 24
  value[3] = coordinatorEpoch >>> 16
  value[4] = coordinatorEpoch >>> 8
  value[5] = coordinatorEpoch
  return value
}

/**
 * The whole marker batch, base offset 0 (the leader stamps it on append). Throws SkeinError
 * INVALID_RECORD for a field out of range (a producer id below 0 included: a marker names one).
 */
export function encodeTxnMarkerBatch(spec: TxnMarkerSpec): Uint8Array {
  requireInteger('producerId', spec.producerId, 0, Number.MAX_SAFE_INTEGER)
  requireInteger('producerEpoch', spec.producerEpoch, 0, INT16_MAX)
  const type = spec.commit ? ControlType.COMMIT : ControlType.ABORT
  return encodeRecordBatch({
    isControl: true,
    isTransactional: true,
    producerId: spec.producerId,
    producerEpoch: spec.producerEpoch,
    baseSequence: NO_SEQUENCE,
    records: [{ key: encodeControlKey(type), value: encodeTxnMarkerValue(spec.coordinatorEpoch), timestamp: spec.timestampMs }],
  })
}

/**
 * The type of a control record from its key, or undefined when the key cannot name one (null,
 * shorter than 4 bytes, or a negative version, which Kafka reads as corruption). A version above
 * 0 is read as version 0, as Kafka does: a newer key schema only adds fields after these.
 * Any type is returned, including ones skein does not know: callers ignore those.
 */
export function controlTypeOf(key: Uint8Array | null): number | undefined {
  if (key === null || key.length < CONTROL_KEY_BYTES) return undefined
  if (readInt16(key, 0) < CONTROL_KEY_VERSION) return undefined
  return readInt16(key, 2)
}

/**
 * The coordinator epoch of a transaction marker record's value. Throws SkeinError INVALID_RECORD
 * (not retriable: the same bytes fail the same way) for a null or short value or a negative
 * version, as Kafka's EndTransactionMarker.deserializeValue refuses them.
 */
export function decodeTxnMarker(value: Uint8Array | null): TxnMarker {
  if (value === null) throw invalid('a transaction marker record has a null value; it needs version and coordinator epoch')
  if (value.length < TXN_MARKER_VALUE_BYTES) {
    throw invalid(`a transaction marker value is ${value.length} bytes; it needs at least ${TXN_MARKER_VALUE_BYTES} (version int16, coordinatorEpoch int32)`)
  }
  const version = readInt16(value, 0)
  if (version < TXN_MARKER_VALUE_VERSION) throw invalid(`a transaction marker value has version ${version}; versions start at 0`)
  return { coordinatorEpoch: readInt32(value, 2) }
}

/** Whether the batch whose header starts at `position` is a control batch (header only). */
export function isControlBatch(bytes: Uint8Array, position = 0): boolean {
  return (readInt16(bytes, position + BatchField.attributes) & BatchAttribute.control) !== 0
}

/**
 * The control type of the control batch at `position` (whole in `bytes`), read from its first
 * record's key; undefined when it has no readable type. Decodes the batch (CRC checked, throws
 * its SkeinError): markers are one small record, and rare.
 */
export function controlTypeOfBatch(bytes: Uint8Array, position = 0): number | undefined {
  const batch = decodeRecordBatch(bytes, position)
  if (!batch.isControl) throw invalid(`the batch at byte ${position} is not a control batch`)
  const record = batch.records[0]
  return record === undefined ? undefined : controlTypeOf(record.key)
}

/** What the control batch of a transaction marker says: its type, and for ABORT or COMMIT its coordinator epoch. */
export interface ControlBatchFacts {
  /** undefined when the key names no type. */
  readonly type: number | undefined
  /** Of an ABORT or COMMIT marker whose value decodes; else undefined. */
  readonly coordinatorEpoch: number | undefined
}

/**
 * As controlTypeOfBatch, and the coordinator epoch of a marker (one decode of the batch). A
 * marker value that does not decode gives an undefined epoch rather than throwing: the type
 * alone decides what a reader skips.
 */
export function controlBatchFacts(bytes: Uint8Array, position = 0): ControlBatchFacts {
  const batch = decodeRecordBatch(bytes, position)
  if (!batch.isControl) throw invalid(`the batch at byte ${position} is not a control batch`)
  const record = batch.records[0]
  const type = record === undefined ? undefined : controlTypeOf(record.key)
  if (record === undefined || (type !== ControlType.ABORT && type !== ControlType.COMMIT)) return { type, coordinatorEpoch: undefined }
  try {
    return { type, coordinatorEpoch: decodeTxnMarker(record.value).coordinatorEpoch }
  } catch (error) {
    if (error instanceof SkeinError) return { type, coordinatorEpoch: undefined }
    throw error
  }
}

function writeInt16(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = value >>> 8
  bytes[at + 1] = value
}

function requireInteger(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) throw invalid(`${name} ${value} is outside ${min}..${max}`)
}

function invalid(message: string): SkeinError {
  return new SkeinError(ErrorCode.INVALID_RECORD, message)
}
