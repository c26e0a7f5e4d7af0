import { NO_HEADERS, type RecordHeader } from '../log/record-batch.js'
import { invalidArgument } from './errors.js'

/** What an application passes as a key, a value or a header value. */
export type MessageBytes = Buffer | Uint8Array | string | null

/** Headers as the SDK takes and returns them: name -> value. */
export type MessageHeaders = Readonly<Record<string, Buffer | Uint8Array | string | null>>

const utf8 = new TextEncoder()

/**
 * Key or value bytes: strings as UTF-8, Buffers as they are, null or undefined as null. Anything
 * else is INVALID_ARGUMENT naming `what` (of message `index`, if given): the name is built only
 * on failure, as this runs for every record produced.
 */
export function toBytes(value: unknown, what: string, index?: number): Uint8Array | null {
  if (value === null || value === undefined) return null
  if (value instanceof Uint8Array) return value
  if (typeof value === 'string') return utf8.encode(value)
  const name = index === undefined ? what : `message ${index}'s ${what}`
  throw invalidArgument(`${name} must be a string, a Buffer or null, got ${describe(value)}`)
}

export function toRecordHeaders(headers: unknown): readonly RecordHeader[] {
  if (headers === undefined || headers === null) return NO_HEADERS
  if (typeof headers !== 'object' || Array.isArray(headers)) throw invalidArgument(`headers must be an object of name -> string | Buffer, got ${describe(headers)}`)
  return Object.entries(headers as Record<string, unknown>).map(([key, value]) => ({ key, value: toBytes(value, `header '${key}'`) }))
}

/** Shared by every consumed record without headers. */
const NO_MESSAGE_HEADERS: Readonly<Record<string, Buffer | null>> = Object.freeze({})

/**
 * Headers as a consumer returns them: each value a Buffer view (or null). A repeated name
 * keeps its last value. Records without headers share one frozen empty object.
 */
export function fromRecordHeaders(headers: readonly RecordHeader[]): Readonly<Record<string, Buffer | null>> {
  if (headers.length === 0) return NO_MESSAGE_HEADERS
  const result: Record<string, Buffer | null> = {}
  for (const header of headers) result[header.key] = asBuffer(header.value)
  return result
}

/**
 * The same bytes as a Buffer, without copying: a consumed key or value is a view into the
 * fetch answer it came in (holding on to one keeps that answer's memory alive, as a slice would).
 */
export function asBuffer(bytes: Uint8Array | null): Buffer | null {
  if (bytes === null) return null
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

function describe(value: unknown): string {
  if (typeof value === 'object') return value === null ? 'null' : (value.constructor?.name ?? 'object')
  return typeof value
}
