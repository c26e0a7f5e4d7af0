import { describe, expect, it } from 'vitest'
import {
  ApiKey,
  KAFKA_APIS,
  SUPPORTED_API_VERSIONS,
  apiVersionsResponseBody,
  decodeRequest,
  encodeResponse,
  type ApiSpec,
} from '../../src/kafka/index.js'
import { type Field, type Kind, isArrayKind, isStructKind } from '../../src/kafka/schema.js'
import { arr, cat, i16, i32, sized } from './wire-builder.js'

describe('the advertised API table', () => {
  it('is the table in kafka-compat.md, plus DescribeGroups, ListGroups, DescribeConfigs and the transaction APIs', () => {
    expect(SUPPORTED_API_VERSIONS.map(({ apiKey, minVersion, maxVersion }) => [apiKey, minVersion, maxVersion])).toEqual([
      [0, 3, 8], // Produce
      [1, 4, 11], // Fetch
      [2, 1, 5], // ListOffsets
      [3, 0, 8], // Metadata
      [8, 0, 7], // OffsetCommit
      [9, 0, 5], // OffsetFetch
      [10, 0, 2], // FindCoordinator
      [11, 0, 5], // JoinGroup
      [12, 0, 3], // Heartbeat
      [13, 0, 3], // LeaveGroup
      [14, 0, 3], // SyncGroup
      [15, 0, 4], // DescribeGroups
      [16, 0, 2], // ListGroups
      [18, 0, 2], // ApiVersions
      [19, 0, 4], // CreateTopics
      [20, 0, 3], // DeleteTopics
      [22, 0, 1], // InitProducerId
      [24, 0, 2], // AddPartitionsToTxn
      [25, 0, 2], // AddOffsetsToTxn
      [26, 0, 2], // EndTxn
      [28, 0, 2], // TxnOffsetCommit
      [32, 0, 2], // DescribeConfigs
    ])
  })

  it('keeps the versions clients need in range', () => {
    const range = (apiKey: number): [number, number] => {
      const spec = KAFKA_APIS[apiKey as keyof typeof KAFKA_APIS]
      return [spec.minVersion, spec.maxVersion]
    }
    // librdkafka: consumer groups only if these include v0.
    for (const apiKey of [ApiKey.FindCoordinator, ApiKey.JoinGroup, ApiKey.SyncGroup, ApiKey.Heartbeat, ApiKey.LeaveGroup]) expect(range(apiKey)[0]).toBe(0)
    expect(range(ApiKey.Metadata)[0]).toBe(0) // kafka-python probes with v0
    expect(range(ApiKey.ListOffsets)[0]).toBeLessThanOrEqual(1)
    expect(range(ApiKey.Fetch)[0]).toBeLessThanOrEqual(4)
    expect(range(ApiKey.OffsetFetch)[0]).toBeLessThanOrEqual(1)
    // kafkajs 2.x's transactional producer sends v1 of each (it implements v0-1 only).
    for (const apiKey of [ApiKey.InitProducerId, ApiKey.AddPartitionsToTxn, ApiKey.AddOffsetsToTxn, ApiKey.EndTxn, ApiKey.TxnOffsetCommit]) {
      const [min, max] = range(apiKey)
      expect(min <= 1 && max >= 1, `${apiKey}`).toBe(true)
    }
  })

  it('lists every API in the ApiVersions response, at every version of it', () => {
    const body = apiVersionsResponseBody()
    expect(body.apiKeys).toHaveLength(Object.keys(KAFKA_APIS).length)
    const expected = sized(cat(i32(3), i16(0), arr(SUPPORTED_API_VERSIONS.map((a) => cat(i16(a.apiKey), i16(a.minVersion), i16(a.maxVersion)))), i32(0)))
    expect(Buffer.from(encodeResponse(ApiKey.ApiVersions, 2, 3, body)).equals(expected)).toBe(true)
    // v0 has no throttle time.
    expect(Buffer.from(encodeResponse(ApiKey.ApiVersions, 0, 3, body)).equals(sized(expected.subarray(4, expected.length - 4)))).toBe(true)
  })

  it('advertises fewer APIs when the listener says so', () => {
    const only = SUPPORTED_API_VERSIONS.filter((a) => a.apiKey === ApiKey.ApiVersions || a.apiKey === ApiKey.Metadata)
    expect(apiVersionsResponseBody(only).apiKeys.map((a) => a.apiKey)).toEqual([ApiKey.Metadata, ApiKey.ApiVersions])
  })
})

describe('schemas', () => {
  /** Every field with the struct path it sits at. */
  function* fieldsOf(kind: Kind, path: string): Generator<[string, Field]> {
    if (isArrayKind(kind)) yield* fieldsOf(kind.array, path)
    else if (isStructKind(kind)) {
      for (const f of kind.fields) {
        yield [`${path}.${f.name}`, f]
        yield* fieldsOf(f.kind, `${path}.${f.name}`)
      }
    }
  }

  it('have no field that exists in none of the versions the codec speaks', () => {
    for (const spec of Object.values(KAFKA_APIS) as ApiSpec[]) {
      for (const [direction, kind] of [['request', spec.request], ['response', spec.response]] as const) {
        for (const [path, f] of fieldsOf(kind, `${spec.name}${direction}`)) {
          const live = f.versions.min <= spec.maxVersion && f.versions.max >= spec.minVersion
          expect(live, `${path} (versions ${f.versions.min}-${f.versions.max})`).toBe(true)
        }
      }
    }
  })

  it('make only strings, bytes and arrays nullable', () => {
    for (const spec of Object.values(KAFKA_APIS) as ApiSpec[]) {
      for (const kind of [spec.request, spec.response]) {
        for (const [path, f] of fieldsOf(kind, spec.name)) {
          if (f.nullable) expect(f.kind === 'string' || f.kind === 'bytes' || f.kind === 'records' || isArrayKind(f.kind), path).toBe(true)
        }
      }
    }
  })

  it('decode Fetch v4 with the defaults Kafka documents for the fields it lacks', () => {
    const frame = cat(i16(ApiKey.Fetch), i16(4), i32(1), i16(-1), i32(-1), i32(100), i32(1), i32(1000), Buffer.from([0]), arr([]))
    const result = decodeRequest(frame)
    if (!result.ok) throw result.error
    expect(result.request.body).toMatchObject({ sessionId: 0, sessionEpoch: -1, forgottenTopicsData: [], rackId: '' })
  })
})
