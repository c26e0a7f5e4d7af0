import { type ErrorSpec, SkeinError } from '../wire/errors.js'
import type { KafkaReader } from './reader.js'
import { type Field, type Kind, type StructKind, type StructValue, isArrayKind } from './schema.js'
import { inVersions } from './versions.js'
import type { ByteSink } from './writer.js'

/**
 * The one engine that reads and writes every Kafka message from its schema (schema.ts): a
 * struct is its fields in order, each present or not at the version in hand. There is no
 * per-API encoder or decoder anywhere; an API is only a schema.
 *
 * Reading yields plain objects whose absent fields hold their defaults. Writing checks each
 * value against its kind (integer ranges, nulls only where the version allows them) and
 * throws a SkeinError with the caller's error spec on a bad one; fields absent from the
 * version are not written, whatever they hold.
 */
export function readStruct<F extends readonly Field[]>(reader: KafkaReader, kind: StructKind<F>, version: number): StructValue<F> {
  const value: Record<string, unknown> = {}
  for (const f of kind.fields) {
    value[f.name] = inVersions(f.versions, version) ? readKind(reader, f.kind, version, nullableAt(f, version)) : f.defaultValue
  }
  return value as StructValue<F>
}

function readKind(reader: KafkaReader, kind: Kind, version: number, nullable: boolean): unknown {
  switch (kind) {
    case 'int8':
      return reader.readInt8()
    case 'int16':
      return reader.readInt16()
    case 'int32':
      return reader.readInt32()
    case 'int64':
      return reader.readInt64()
    case 'bool':
      return reader.readBool()
    case 'string':
      return nullable ? reader.readNullableString() : reader.readString()
    case 'bytes':
    case 'records':
      return nullable ? reader.readNullableBytes() : reader.readBytes()
  }
  if (isArrayKind(kind)) return readArray(reader, kind.array, version, nullable)
  return readStruct(reader, kind, version)
}

function readArray(reader: KafkaReader, element: Kind, version: number, nullable: boolean): unknown[] | null {
  const count = reader.readArrayCount(nullable, elementBytesMin(element, version))
  if (count === null) return null
  const items = new Array<unknown>(count)
  for (let index = 0; index < count; index++) items[index] = readKind(reader, element, version, false)
  return items
}

/** `value` is untyped here: callers hold it typed by the schema; this checks it field by field. */
export function writeStruct(sink: ByteSink, kind: StructKind, version: number, value: unknown, errorSpec: ErrorSpec): void {
  if (typeof value !== 'object' || value === null) throw new SkeinError(errorSpec, `expected a struct, got ${describe(value)}`)
  const record = value as Record<string, unknown>
  for (const f of kind.fields) {
    if (!inVersions(f.versions, version)) continue
    const fieldValue = record[f.name]
    if (fieldValue === null) {
      if (!nullableAt(f, version)) throw new SkeinError(errorSpec, `field "${f.name}" may not be null in version ${version}`)
      writeNull(sink, f.kind)
      continue
    }
    writeKind(sink, f, f.kind, version, fieldValue, errorSpec)
  }
}

function writeNull(sink: ByteSink, kind: Kind): void {
  if (kind === 'string') sink.string(null)
  else if (kind === 'bytes' || kind === 'records') sink.bytes(null)
  else sink.int32(-1) // an array: only strings, bytes and arrays are ever nullable
}

/** `owner` names the field in error messages; `kind` is its kind or, inside arrays, the element's. */
function writeKind(sink: ByteSink, owner: Field, kind: Kind, version: number, value: unknown, errorSpec: ErrorSpec): void {
  const bad = (): SkeinError => new SkeinError(errorSpec, `field "${owner.name}" (version ${version}) cannot hold ${describe(value)}`)
  switch (kind) {
    case 'int8':
    case 'int16':
    case 'int32': {
      const bits = INT_BITS[kind]
      if (!Number.isInteger(value) || (value as number) < -(2 ** (bits - 1)) || (value as number) >= 2 ** (bits - 1)) throw bad()
      if (kind === 'int8') sink.int8(value as number)
      else if (kind === 'int16') sink.int16(value as number)
      else sink.int32(value as number)
      return
    }
    case 'int64':
      if (typeof value !== 'bigint' || BigInt.asIntN(64, value) !== value) throw bad()
      sink.int64(value)
      return
    case 'bool':
      if (typeof value !== 'boolean') throw bad()
      sink.int8(value ? 1 : 0)
      return
    case 'string':
      if (typeof value !== 'string') throw bad()
      sink.string(value)
      return
    case 'bytes':
    case 'records':
      if (!(value instanceof Uint8Array)) throw bad()
      sink.bytes(value)
      return
  }
  if (isArrayKind(kind)) {
    if (!Array.isArray(value) || value.length > INT32_MAX) throw bad()
    sink.int32(value.length)
    for (const item of value) writeKind(sink, owner, kind.array, version, item, errorSpec)
    return
  }
  writeStruct(sink, kind, version, value, errorSpec)
}

const INT_BITS = { int8: 8, int16: 16, int32: 32 } as const
const INT32_MAX = 0x7fff_ffff

function nullableAt(f: Field, version: number): boolean {
  return f.nullableVersions !== null && inVersions(f.nullableVersions, version)
}

const FIXED_BYTES: Readonly<Record<string, number>> = { int8: 1, bool: 1, int16: 2, int32: 4, int64: 8, string: 2, bytes: 4, records: 4 }

const structBytesMinCache = new WeakMap<StructKind, Map<number, number>>()

/** The fewest bytes a value of `kind` can take at `version`: what bounds a forged array count. */
export function elementBytesMin(kind: Kind, version: number): number {
  if (typeof kind === 'string') return FIXED_BYTES[kind] as number
  if (isArrayKind(kind)) return 4
  let byVersion = structBytesMinCache.get(kind)
  if (byVersion === undefined) {
    byVersion = new Map()
    structBytesMinCache.set(kind, byVersion)
  }
  let sizeBytes = byVersion.get(version)
  if (sizeBytes === undefined) {
    sizeBytes = 0
    for (const f of kind.fields) if (inVersions(f.versions, version)) sizeBytes += elementBytesMin(f.kind, version)
    byVersion.set(version, sizeBytes)
  }
  return sizeBytes
}

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (value instanceof Uint8Array) return `a byte array of ${value.length}`
  if (Array.isArray(value)) return `an array of ${value.length}`
  if (typeof value === 'string') return `a string of ${value.length} characters`
  if (typeof value === 'object') return 'an object'
  return `${typeof value} ${String(value)}`
}
