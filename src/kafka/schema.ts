import { type VersionRange, parseVersions } from './versions.js'

/**
 * The schema language for Kafka messages: a message is a struct, a struct is an ordered list
 * of fields, and each field has a kind and the versions it exists in, exactly as in Kafka's
 * message JSON (`clients/src/main/resources/common/message/*.json`). One engine (codec.ts)
 * reads and writes every message from these descriptions.
 *
 * Only what non-flexible versions need is here: no tagged fields, no compact encodings, no
 * uuid or float64. Values are typed from the schema itself (`ValueOf`), so a schema and the
 * TypeScript type of its values cannot drift apart.
 *
 * Kinds and their values:
 *
 *   int8, int16, int32   number
 *   int64                bigint: exact over the whole range (clients do send Long.MAX_VALUE
 *                        sentinels); convert with int64ToSafeNumber where a number is wanted
 *   bool                 boolean (one byte; any non-zero byte reads as true, as in Java)
 *   string               string (int16 byte length, UTF-8; -1 = null)
 *   bytes                Uint8Array (int32 length; -1 = null)
 *   records              Uint8Array: record batches carried as raw bytes, never re-encoded
 *   arrayOf(kind)        readonly array (int32 count; -1 = null)
 *   struct(fields)       object with one property per field
 *
 * A field absent from a version decodes as its default and is skipped when encoding (Kafka's
 * "ignorable"), so a decoded message has the same shape at every version.
 */
export type PrimitiveKind = 'int8' | 'int16' | 'int32' | 'int64' | 'bool' | 'string' | 'bytes' | 'records'

export interface ArrayKind<E extends Kind = Kind> {
  readonly array: E
}

export interface StructKind<F extends readonly Field[] = readonly Field[]> {
  readonly fields: F
}

export type Kind = PrimitiveKind | ArrayKind | StructKind

export interface Field<N extends string = string, K extends Kind = Kind, Nullable extends boolean = boolean> {
  readonly name: N
  readonly kind: K
  readonly versions: VersionRange
  /** The versions in which the field may be null; `nullable` is true iff this is non-empty. */
  readonly nullableVersions: VersionRange | null
  readonly nullable: Nullable
  /** What a decoder yields for the field in a version that lacks it. */
  readonly defaultValue: unknown
}

export interface FieldOptions {
  /** Kafka's "nullableVersions". */
  readonly nullableVersions?: string
  /** Kafka's "default"; int64 defaults may be given as numbers. */
  readonly default?: number | bigint | boolean | string | null
}

/** The TypeScript type of a value of kind K. */
export type ValueOf<K> = K extends 'int8' | 'int16' | 'int32'
  ? number
  : K extends 'int64'
    ? bigint
    : K extends 'bool'
      ? boolean
      : K extends 'string'
        ? string
        : K extends 'bytes' | 'records'
          ? Uint8Array
          : K extends ArrayKind<infer E>
            ? readonly ValueOf<E>[]
            : K extends StructKind<infer F>
              ? StructValue<F>
              : never

export type StructValue<F extends readonly Field[]> = {
  readonly [S in F[number] as S['name']]: S extends Field<string, infer K, infer Nullable>
    ? Nullable extends true
      ? ValueOf<K> | null
      : ValueOf<K>
    : never
}

export function field<const N extends string, const K extends Kind, const O extends FieldOptions = Record<never, never>>(
  name: N,
  kind: K,
  versions = '0+',
  options?: O,
): Field<N, K, O extends { nullableVersions: string } ? true : false> {
  const nullableVersions = options?.nullableVersions === undefined ? null : parseVersions(options.nullableVersions)
  const nullable = nullableVersions !== null
  const defaultValue = defaultFor(kind, nullable, options?.default)
  return Object.freeze({
    name,
    kind,
    versions: parseVersions(versions),
    nullableVersions,
    nullable: nullable as O extends { nullableVersions: string } ? true : false,
    defaultValue,
  })
}

export function arrayOf<const E extends Kind>(element: E): ArrayKind<E> {
  return Object.freeze({ array: element })
}

export function struct<const F extends readonly Field[]>(fields: F): StructKind<F> {
  const names = new Set<string>()
  for (const f of fields) {
    if (names.has(f.name)) throw new Error(`struct has two fields named "${f.name}"`)
    names.add(f.name)
  }
  return Object.freeze({ fields })
}

export function isArrayKind(kind: Kind): kind is ArrayKind {
  return typeof kind === 'object' && 'array' in kind
}

export function isStructKind(kind: Kind): kind is StructKind {
  return typeof kind === 'object' && 'fields' in kind
}

const EMPTY_ARRAY: readonly never[] = Object.freeze([])
const EMPTY_BYTES = new Uint8Array(0)

function defaultFor(kind: Kind, nullable: boolean, given: FieldOptions['default']): unknown {
  if (given === null && !nullable) throw new Error('a null default needs nullableVersions')
  if (given !== undefined) return kind === 'int64' && typeof given === 'number' ? BigInt(given) : given
  if (nullable) return null
  if (kind === 'int64') return 0n
  if (kind === 'bool') return false
  if (kind === 'string') return ''
  if (kind === 'bytes' || kind === 'records') return EMPTY_BYTES
  if (isArrayKind(kind)) return EMPTY_ARRAY
  if (isStructKind(kind)) throw new Error('struct-typed fields (flexible versions only) are not supported')
  return 0
}
