import fc from 'fast-check'
import { KAFKA_APIS, type ApiSpec } from '../../src/kafka/index.js'
import { type Field, type Kind, type StructKind, isArrayKind } from '../../src/kafka/schema.js'
import { inVersions } from '../../src/kafka/versions.js'

/**
 * fast-check arbitraries derived from the schemas: a value of a message at a version, with
 * every field the version has drawn at random (nulls included where the version allows them)
 * and every field it lacks holding its default, which is what decoding yields. Strings are
 * whole code points (UTF-8 round-trips them exactly); bytes are Buffers, as decoding a
 * Buffer frame yields.
 */
const ARRAY_LENGTH_MAX = 3

export function structArbitrary(kind: StructKind, version: number): fc.Arbitrary<Record<string, unknown>> {
  const fields: Record<string, fc.Arbitrary<unknown>> = {}
  for (const f of kind.fields) fields[f.name] = fieldArbitrary(f, version)
  return fc.record(fields)
}

function fieldArbitrary(f: Field, version: number): fc.Arbitrary<unknown> {
  if (!inVersions(f.versions, version)) return fc.constant(f.defaultValue)
  const value = kindArbitrary(f.kind, version)
  const nullable = f.nullableVersions !== null && inVersions(f.nullableVersions, version)
  return nullable ? fc.option(value, { nil: null, freq: 4 }) : value
}

function kindArbitrary(kind: Kind, version: number): fc.Arbitrary<unknown> {
  switch (kind) {
    case 'int8':
      return fc.integer({ min: -0x80, max: 0x7f })
    case 'int16':
      return fc.integer({ min: -0x8000, max: 0x7fff })
    case 'int32':
      return fc.integer({ min: -0x8000_0000, max: 0x7fff_ffff })
    case 'int64':
      return fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })
    case 'bool':
      return fc.boolean()
    case 'string':
      return fc.string({ unit: 'binary', maxLength: 12 })
    case 'bytes':
    case 'records':
      return fc.uint8Array({ maxLength: 48 }).map((bytes) => Buffer.from(bytes))
  }
  if (isArrayKind(kind)) return fc.array(kindArbitrary(kind.array, version), { maxLength: ARRAY_LENGTH_MAX })
  return structArbitrary(kind, version)
}

export interface MessageCase {
  readonly spec: ApiSpec
  readonly version: number
}

/** Every (API, version) the codec speaks. */
export function everyApiVersion(): MessageCase[] {
  const cases: MessageCase[] = []
  for (const spec of Object.values(KAFKA_APIS) as ApiSpec[]) {
    for (let version = spec.minVersion; version <= spec.maxVersion; version++) cases.push({ spec, version })
  }
  return cases
}
