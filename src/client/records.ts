import type { RecordHeader } from '../log/record-batch.js'
import { invalidArgument } from './errors.js'

/** What an application passes as a key, a value or a header value. */
export type MessageBytes = Buffer | Uint8Array | string | null

/** Headers as the SDK takes and returns them: name -> value. */
export type MessageHeaders = Readonly<Record<string, Buffer | Uint8Array | string | null>>

const utf8 = new TextEncoder()

/** Key or value bytes: strings as UTF-8, Buffers as they are, null or undefined as null. Anything else is INVALID_ARGUMENT. */
export function toBytes(what: string, value: unknown): Uint8Array | null {
  if (value === null || value === undefined) return null
  if (typeof value === 'string') return utf8.encode(value)
  if (value instanceof Uint8Array) return value
  throw invalidArgument(`${what} must be a string, a Buffer or null, got ${describe(value)}`)
}

export function toRecordHeaders(headers: unknown): RecordHeader[] {
  if (headers === undefined || headers === null) return []
  if (typeof headers !== 'object' || Array.isArray(headers)) throw invalidArgument(`headers must be an object of name -> string | Buffer, got ${describe(headers)}`)
  return Object.entries(headers as Record<string, unknown>).map(([key, value]) => ({ key, value: toBytes(`header '${key}'`, value) }))
}

/** Headers as a consumer returns them: each value a Buffer (or null). A repeated name keeps its last value. */
export function fromRecordHeaders(headers: readonly RecordHeader[]): Record<string, Buffer | null> {
  const result: Record<string, Buffer | null> = {}
  for (const header of headers) result[header.key] = header.value === null ? null : Buffer.from(header.value)
  return result
}

function describe(value: unknown): string {
  if (typeof value === 'object') return value === null ? 'null' : (value.constructor?.name ?? 'object')
  return typeof value
}
