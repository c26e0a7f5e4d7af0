import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ApiKey, type DecodeRequestResult, decodeRequest, decodeResponse, encodeRequest, encodeResponse } from '../../src/kafka/index.js'
import { ErrorCode, SkeinError } from '../../src/wire/errors.js'
import { everyApiVersion, structArbitrary } from './arbitrary.js'
import { arr, bytes, cat, fakeBatch, i16, i32, requestHeader, str } from './wire-builder.js'

const INVALID_REQUEST = ErrorCode.INVALID_REQUEST.code
const UNSUPPORTED_VERSION = ErrorCode.UNSUPPORTED_VERSION.code

function failure(result: DecodeRequestResult): Extract<DecodeRequestResult, { ok: false }> {
  if (result.ok) throw new Error(`decoded bad input as ${JSON.stringify(result.request.header)}`)
  expect(result.error).toBeInstanceOf(SkeinError)
  return result
}

/** One sample value per (API, version), non-trivial enough that truncation hits every field kind. */
function sampleFrames(direction: 'request' | 'response'): { name: string; apiKey: number; version: number; frame: Buffer }[] {
  return everyApiVersion().map(({ spec, version }) => {
    const kind = direction === 'request' ? spec.request : spec.response
    const [body] = fc.sample(structArbitrary(kind, version), { seed: spec.apiKey * 100 + version, numRuns: 1 })
    const frame =
      direction === 'request'
        ? encodeRequest({ apiKey: spec.apiKey, apiVersion: version, correlationId: 7, clientId: 'cut' }, body as never)
        : encodeResponse(spec.apiKey, version, 7, body as never)
    return { name: `${spec.name} v${version}`, apiKey: spec.apiKey, version, frame: Buffer.from(frame).subarray(4) }
  })
}

const produceHeader = requestHeader(ApiKey.Produce, 8, 11, 'c')
const produceBody = (topicCount: Buffer, partitionCount = i32(1), records = bytes(fakeBatch(10))): Buffer =>
  cat(str(null), i16(1), i32(100), topicCount, str('t'), partitionCount, i32(0), records)

describe('truncated at every byte', () => {
  for (const { name, frame } of sampleFrames('request')) {
    it(`${name} request`, () => {
      for (let cut = 0; cut < frame.length; cut++) {
        const result = failure(decodeRequest(frame.subarray(0, cut)))
        expect(result.error.code).toBe(INVALID_REQUEST)
        // The header is 10 bytes plus the client id ('cut'): 13.
        expect(result.header === null).toBe(cut < 13)
      }
    })
  }

  for (const { name, apiKey, version, frame } of sampleFrames('response')) {
    it(`${name} response`, () => {
      for (let cut = 0; cut < frame.length; cut++) {
        expect(() => decodeResponse(apiKey as never, version, frame.subarray(0, cut))).toThrow(
          expect.objectContaining({ code: ErrorCode.CORRUPT_MESSAGE.code }),
        )
      }
    })
  }
})

describe('forged lengths and counts', () => {
  it('accepts the unforged frame these tests start from', () => {
    expect(decodeRequest(cat(produceHeader, produceBody(i32(1)))).ok).toBe(true)
  })

  it('refuses an array count larger than the bytes left could hold, before allocating', () => {
    for (const count of [1000, 0x7fff_ffff]) {
      const result = failure(decodeRequest(cat(produceHeader, produceBody(i32(count)))))
      expect(result.error.code).toBe(INVALID_REQUEST)
      expect(result.error.message).toMatch(/array count/)
      expect(result.header).toMatchObject({ apiKey: ApiKey.Produce, apiVersion: 8, correlationId: 11 })
    }
    // Two topics could fit the bytes left (a topic is at least 6 bytes); the second is missing.
    expect(failure(decodeRequest(cat(produceHeader, produceBody(i32(2))))).error.message).toMatch(/needed at byte/)
    const nested = failure(decodeRequest(cat(produceHeader, produceBody(i32(1), i32(0x7fff_ffff)))))
    expect(nested.error.message).toMatch(/array count 2147483647/)
  })

  it('refuses negative counts, and -1 where the array is not nullable', () => {
    for (const count of [-2, -0x8000_0000, -1]) {
      expect(failure(decodeRequest(cat(produceHeader, produceBody(i32(count))))).error.code).toBe(INVALID_REQUEST)
    }
    // Metadata v0's topics are not nullable; from v1 they are.
    expect(failure(decodeRequest(cat(requestHeader(ApiKey.Metadata, 0, 1, 'c'), arr(null)))).error.message).toMatch(/negative/)
    expect(decodeRequest(cat(requestHeader(ApiKey.Metadata, 1, 1, 'c'), arr(null))).ok).toBe(true)
  })

  it('refuses byte and string lengths that run past the end or are negative', () => {
    const forgedBytes = cat(i32(0x7fff_fff0), fakeBatch(10))
    expect(failure(decodeRequest(cat(produceHeader, produceBody(i32(1), i32(1), forgedBytes)))).error.code).toBe(INVALID_REQUEST)
    expect(failure(decodeRequest(cat(produceHeader, produceBody(i32(1), i32(1), i32(-2))))).error.message).toMatch(/negative/)
    // A topic name of -1 (null) where names are not nullable, and of -5.
    for (const length of [-1, -5, 0x7fff]) {
      const body = cat(str(null), i16(1), i32(100), i32(1), i16(length), i32(0))
      expect(failure(decodeRequest(cat(produceHeader, body))).error.code).toBe(INVALID_REQUEST)
    }
  })

  it('refuses a forged client id length in the header, with no header to answer', () => {
    const header = cat(i16(ApiKey.Metadata), i16(0), i32(1), i16(0x7fff), Buffer.from('c'))
    const result = failure(decodeRequest(cat(header, arr([]))))
    expect(result.header).toBeNull()
  })
})

describe('unknown APIs, unsupported versions, trailing bytes', () => {
  it('names an unknown API key INVALID_REQUEST, keeping the header', () => {
    for (const apiKey of [4, 17, 27, 36, 99, -1, 0x7fff]) {
      const result = failure(decodeRequest(requestHeader(apiKey, 0, 5, 'c')))
      expect(result.error.code).toBe(INVALID_REQUEST)
      expect(result.error.message).toMatch(/unknown API key/)
      expect(result.header).toEqual({ apiKey, apiVersion: 0, correlationId: 5, clientId: 'c' })
    }
  })

  it('names a version outside the range UNSUPPORTED_VERSION, keeping the header', () => {
    const outside: [number, number][] = [
      [ApiKey.Produce, 2],
      [ApiKey.Produce, 9],
      [ApiKey.Fetch, 3],
      [ApiKey.Fetch, 12],
      [ApiKey.ListOffsets, 0],
      [ApiKey.OffsetFetch, 6],
      [ApiKey.InitProducerId, 2],
      // The transaction APIs' flexible versions.
      [ApiKey.AddPartitionsToTxn, 3],
      [ApiKey.AddOffsetsToTxn, 3],
      [ApiKey.EndTxn, 3],
      [ApiKey.TxnOffsetCommit, 3],
      [ApiKey.ApiVersions, 3],
      [ApiKey.Metadata, -1],
    ]
    for (const [apiKey, version] of outside) {
      const result = failure(decodeRequest(cat(requestHeader(apiKey, version, 9, null), Buffer.from('anything'))))
      expect(result.error.code).toBe(UNSUPPORTED_VERSION)
      expect(result.header).toEqual({ apiKey, apiVersion: version, correlationId: 9, clientId: null })
    }
  })

  it('refuses trailing bytes after a complete request', () => {
    const frame = cat(requestHeader(ApiKey.Heartbeat, 0, 3, 'c'), str('g'), i32(1), str('m'))
    expect(decodeRequest(frame).ok).toBe(true)
    const result = failure(decodeRequest(cat(frame, Buffer.from([0]))))
    expect(result.error.message).toMatch(/1 trailing bytes/)
    expect(result.header).toMatchObject({ apiKey: ApiKey.Heartbeat, correlationId: 3 })
  })

  it('refuses trailing bytes after a complete response', () => {
    const frame = Buffer.from(encodeResponse(ApiKey.Heartbeat, 0, 1, { throttleTimeMs: 0, errorCode: 0 })).subarray(4)
    expect(() => decodeResponse(ApiKey.Heartbeat, 0, cat(frame, Buffer.from([1, 2])))).toThrow(/2 trailing bytes/)
  })

  it('refuses an empty frame with no header', () => {
    expect(failure(decodeRequest(new Uint8Array(0))).header).toBeNull()
  })
})

/** An API and version the codec speaks, with random bytes for its body. */
const apiVersionAndGarbage = fc
  .tuple(fc.constantFrom(...everyApiVersion()), fc.uint8Array({ maxLength: 120 }))
  .map(([{ spec, version }, garbage]) => ({ spec, version, garbage }))

describe('garbage', () => {
  it('never throws on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (garbage) => {
        const result = decodeRequest(garbage)
        if (!result.ok) expect(result.error).toBeInstanceOf(SkeinError)
      }),
      { numRuns: 2000 },
    )
  })

  it('never throws on random bodies behind a valid header, and re-encodes whatever it accepts', () => {
    fc.assert(
      fc.property(apiVersionAndGarbage, ({ spec, version, garbage }) => {
        const frame = cat(requestHeader(spec.apiKey, version, 1, 'g'), Buffer.from(garbage))
        const result = decodeRequest(frame)
        if (!result.ok) {
          expect(result.error.code).toBe(INVALID_REQUEST)
          return
        }
        const again = Buffer.from(encodeRequest(result.request.header as never, result.request.body as never)).subarray(4)
        expect(again.equals(frame)).toBe(true)
      }),
      { numRuns: 3000 },
    )
  })

  it('never throws anything but a SkeinError on random response bytes', () => {
    fc.assert(
      fc.property(apiVersionAndGarbage, ({ spec, version, garbage }) => {
        try {
          decodeResponse(spec.apiKey, version, garbage)
        } catch (err) {
          expect(err).toBeInstanceOf(SkeinError)
          expect((err as SkeinError).code).toBe(ErrorCode.CORRUPT_MESSAGE.code)
        }
      }),
      { numRuns: 2000 },
    )
  })
})
