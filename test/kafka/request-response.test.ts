import { describe, expect, expectTypeOf, it } from 'vitest'
import {
  ApiKey,
  SIZE_PREFIX_BYTES,
  STRING_BYTES_MAX,
  apiVersionsUnsupportedBody,
  decodeRequest,
  encodeRequest,
  encodeResponse,
  int64ToSafeNumber,
  type FetchResponse,
  type JoinGroupRequest,
  type KafkaRequest,
  type MetadataRequest,
  type ProduceRequest,
} from '../../src/kafka/index.js'
import { ErrorCode, SkeinError } from '../../src/wire/errors.js'
import { onePartitionFetchResponse } from './fetch-body.js'
import { arr, bytes, cat, fakeBatch, i16, i32, requestHeader, sized, str } from './wire-builder.js'

function decodeOk(frame: Uint8Array): KafkaRequest {
  const result = decodeRequest(frame)
  if (!result.ok) throw result.error
  return result.request
}

function encodeError(encode: () => unknown): SkeinError {
  try {
    encode()
  } catch (err) {
    if (err instanceof SkeinError) return err
    throw err
  }
  throw new Error('encoded a bad value')
}

describe('types derived from the schemas', () => {
  it('follow kinds and nullability', () => {
    expectTypeOf<ProduceRequest['topics'][number]['partitions'][number]['records']>().toEqualTypeOf<Uint8Array | null>()
    expectTypeOf<ProduceRequest['transactionalId']>().toEqualTypeOf<string | null>()
    expectTypeOf<ProduceRequest['acks']>().toEqualTypeOf<number>()
    expectTypeOf<FetchResponse['responses'][number]['partitions'][number]['highWatermark']>().toEqualTypeOf<bigint>()
    expectTypeOf<MetadataRequest['topics']>().toEqualTypeOf<readonly { readonly name: string }[] | null>()
    expectTypeOf<JoinGroupRequest['protocols'][number]['metadata']>().toEqualTypeOf<Uint8Array>()
    // @ts-expect-error an int64 is a bigint, never a number
    const highWatermark: FetchResponse['responses'][number]['partitions'][number]['highWatermark'] = 1
    expect(highWatermark).toBe(1)
  })
})

describe('request header v1', () => {
  it('reads a null client id', () => {
    const request = decodeOk(requestHeader(ApiKey.ApiVersions, 0, -5, null))
    expect(request.header).toEqual({ apiKey: 18, apiVersion: 0, correlationId: -5, clientId: null })
  })

  it('reads a UTF-8 client id', () => {
    expect(decodeOk(requestHeader(ApiKey.ListGroups, 1, 1, 'clíent-ü')).header.clientId).toBe('clíent-ü')
  })

  it('discriminates the body type by apiKey', () => {
    const request = decodeOk(cat(requestHeader(ApiKey.Heartbeat, 0, 1, 'c'), str('g'), i32(1), str('m')))
    if (request.apiKey !== ApiKey.Heartbeat) throw new Error('wrong api')
    const generationId: number = request.body.generationId
    expect(generationId).toBe(1)
  })
})

describe('ApiVersions at an unsupported version (librdkafka opens with v3)', () => {
  // Header v2: the v1 fields, then tagged fields; the body uses compact strings.
  const librdkafkaV3 = cat(
    requestHeader(ApiKey.ApiVersions, 3, 0x11, 'rdkafka'),
    Buffer.from([0]), // header tagged fields: none
    Buffer.from([11]),
    Buffer.from('librdkafka'), // compact string: length + 1, as an unsigned varint
    Buffer.from([6]),
    Buffer.from('2.3.0'),
    Buffer.from([0]), // body tagged fields: none
  )

  it('parses the header and names it UNSUPPORTED_VERSION', () => {
    const result = decodeRequest(librdkafkaV3)
    if (result.ok) throw new Error('decoded ApiVersions v3')
    expect(result.error.code).toBe(ErrorCode.UNSUPPORTED_VERSION.code)
    expect(result.header).toEqual({ apiKey: 18, apiVersion: 3, correlationId: 0x11, clientId: 'rdkafka' })
  })

  it('answers with error 35 and ApiVersions own range, in the v0 layout', () => {
    const answer = encodeResponse(ApiKey.ApiVersions, 0, 0x11, apiVersionsUnsupportedBody())
    expect(Buffer.from(answer).equals(sized(cat(i32(0x11), i16(35), arr([cat(i16(18), i16(0), i16(2))]))))).toBe(true)
  })
})

describe('encodeResponse', () => {
  it('writes the size prefix, then the correlation id (response header v0), then the body', () => {
    const frame = Buffer.from(encodeResponse(ApiKey.Heartbeat, 1, 77, { throttleTimeMs: 5, errorCode: 27 }))
    expect(SIZE_PREFIX_BYTES).toBe(4)
    expect(frame.equals(sized(cat(i32(77), i32(5), i16(27))))).toBe(true)
  })

  it('skips fields the version lacks, whatever they hold', () => {
    const frame = Buffer.from(encodeResponse(ApiKey.Heartbeat, 0, 1, { throttleTimeMs: 5, errorCode: 0 }))
    expect(frame.equals(sized(cat(i32(1), i16(0))))).toBe(true)
  })

  it('copies record batches as they are', () => {
    const batch = fakeBatch(300, 9)
    const body = onePartitionFetchResponse(batch, 1n)
    const frame = Buffer.from(encodeResponse(ApiKey.Fetch, 11, 1, body))
    expect(frame.subarray(frame.length - batch.length).equals(batch)).toBe(true)
    expect(frame.readInt32BE(frame.length - batch.length - 4)).toBe(batch.length)
  })

  it('refuses a version outside the range', () => {
    expect(encodeError(() => encodeResponse(ApiKey.Produce, 2, 1, {} as never)).code).toBe(ErrorCode.UNSUPPORTED_VERSION.code)
    expect(encodeError(() => encodeResponse(99 as never, 0, 1, {} as never)).code).toBe(ErrorCode.UNSUPPORTED_VERSION.code)
  })

  it('refuses values that do not fit the schema, as UNKNOWN_SERVER_ERROR', () => {
    const ok = { throttleTimeMs: 0, errorCode: 0, producerId: 1n, producerEpoch: 0 }
    const bad: object[] = [
      { ...ok, errorCode: 0x8000 },
      { ...ok, errorCode: 1.5 },
      { ...ok, throttleTimeMs: 2 ** 31 },
      { ...ok, producerId: 1 },
      { ...ok, producerId: 2n ** 63n },
      { ...ok, producerEpoch: undefined },
      { ...ok, errorCode: null },
    ]
    for (const body of bad) {
      const err = encodeError(() => encodeResponse(ApiKey.InitProducerId, 0, 1, body as never))
      expect(err.code, JSON.stringify(body, (_, v) => (typeof v === 'bigint' ? `${v}n` : v))).toBe(ErrorCode.UNKNOWN_SERVER_ERROR.code)
    }
  })

  it('refuses null where the version allows none, and accepts it where it does', () => {
    const metadata = { throttleTimeMs: 0, brokers: [], clusterId: null, controllerId: 1, topics: [], clusterAuthorizedOperations: 0 }
    expect(encodeResponse(ApiKey.Metadata, 2, 1, metadata).length).toBeGreaterThan(0) // nullable from v2
    expect(encodeResponse(ApiKey.Metadata, 1, 1, metadata).length).toBeGreaterThan(0) // absent before v2: skipped
    const host = null as unknown as string
    const err = encodeError(() => encodeResponse(ApiKey.FindCoordinator, 0, 1, { throttleTimeMs: 0, errorCode: 0, errorMessage: null, nodeId: 1, host, port: 1 }))
    expect(err.message).toMatch(/"host" may not be null in version 0/)
  })

  it('refuses strings longer than an int16 length can describe', () => {
    const long = 'é'.repeat(STRING_BYTES_MAX / 2 + 1) // two UTF-8 bytes each
    const err = encodeError(() => encodeResponse(ApiKey.FindCoordinator, 1, 1, { throttleTimeMs: 0, errorCode: 0, errorMessage: long, nodeId: 1, host: 'h', port: 1 }))
    expect(err.message).toMatch(/32768 UTF-8 bytes/)
    const fits = 'a'.repeat(STRING_BYTES_MAX)
    expect(encodeResponse(ApiKey.FindCoordinator, 1, 1, { throttleTimeMs: 0, errorCode: 0, errorMessage: fits, nodeId: 1, host: 'h', port: 1 }).length).toBeGreaterThan(STRING_BYTES_MAX)
  })
})

describe('encodeRequest', () => {
  it('writes the size prefix and header v1', () => {
    const frame = Buffer.from(encodeRequest({ apiKey: ApiKey.ListGroups, apiVersion: 0, correlationId: 3, clientId: 'c' }, {}))
    expect(frame.equals(sized(requestHeader(16, 0, 3, 'c')))).toBe(true)
  })

  it('names bad values INVALID_REQUEST', () => {
    const err = encodeError(() => encodeRequest({ apiKey: ApiKey.DeleteTopics, apiVersion: 0, correlationId: 1, clientId: null }, { topicNames: [1 as never], timeoutMs: 0 }))
    expect(err.code).toBe(ErrorCode.INVALID_REQUEST.code)
    expect(err.message).toMatch(/"topicNames"/)
  })
})

describe('decoded byte fields', () => {
  it('are views of the frame, not copies', () => {
    const batch = fakeBatch(64)
    const frame = cat(requestHeader(ApiKey.Produce, 3, 1, 'c'), str(null), i16(1), i32(10), arr([cat(str('t'), arr([cat(i32(0), bytes(batch))]))]))
    const request = decodeOk(frame)
    if (request.apiKey !== ApiKey.Produce) throw new Error('wrong api')
    const records = request.body.topics[0]?.partitions[0]?.records
    expect(records?.buffer).toBe(frame.buffer)
    expect(Buffer.from(records ?? []).equals(batch)).toBe(true)
  })
})

describe('int64ToSafeNumber', () => {
  it('converts safe values and refuses the rest as INVALID_REQUEST', () => {
    expect(int64ToSafeNumber(-1n)).toBe(-1)
    expect(int64ToSafeNumber(BigInt(Number.MAX_SAFE_INTEGER))).toBe(Number.MAX_SAFE_INTEGER)
    expect(int64ToSafeNumber(BigInt(Number.MIN_SAFE_INTEGER))).toBe(Number.MIN_SAFE_INTEGER)
    expect(() => int64ToSafeNumber(2n ** 53n, 'fetchOffset')).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_REQUEST.code }))
    expect(() => int64ToSafeNumber(-(2n ** 63n))).toThrow(/outside the safe integer range/)
  })
})
