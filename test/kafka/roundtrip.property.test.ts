import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { decodeRequest, decodeResponse, encodeRequest, encodeResponse } from '../../src/kafka/index.js'
import { everyApiVersion, structArbitrary } from './arbitrary.js'

/**
 * For every API and every version: any value encodes and decodes back to itself, and the
 * bytes re-encode to the same bytes. Values come from the schemas (arbitrary.ts).
 */
const RUNS_PER_VERSION = 40

describe('round trip, every API and version', () => {
  for (const { spec, version } of everyApiVersion()) {
    it(`${spec.name} v${version} request`, () => {
      const header = fc.record({
        correlationId: fc.integer({ min: -0x8000_0000, max: 0x7fff_ffff }),
        clientId: fc.option(fc.string({ unit: 'binary', maxLength: 8 }), { nil: null }),
      })
      fc.assert(
        fc.property(header, structArbitrary(spec.request, version), ({ correlationId, clientId }, body) => {
          const fullHeader = { apiKey: spec.apiKey, apiVersion: version, correlationId, clientId }
          const frame = Buffer.from(encodeRequest(fullHeader, body as never))
          expect(frame.readInt32BE(0)).toBe(frame.length - 4)
          const result = decodeRequest(frame.subarray(4))
          if (!result.ok) throw result.error
          expect(result.request.header).toEqual(fullHeader)
          expect(result.request.body).toEqual(body)
          expect(Buffer.from(encodeRequest(fullHeader, result.request.body as never)).equals(frame)).toBe(true)
        }),
        { numRuns: RUNS_PER_VERSION },
      )
    })

    it(`${spec.name} v${version} response`, () => {
      fc.assert(
        fc.property(fc.integer({ min: -0x8000_0000, max: 0x7fff_ffff }), structArbitrary(spec.response, version), (correlationId, body) => {
          const frame = Buffer.from(encodeResponse(spec.apiKey, version, correlationId, body as never))
          const decoded = decodeResponse(spec.apiKey, version, frame.subarray(4))
          expect(decoded.correlationId).toBe(correlationId)
          expect(decoded.body).toEqual(body)
          expect(Buffer.from(encodeResponse(spec.apiKey, version, correlationId, decoded.body as never)).equals(frame)).toBe(true)
        }),
        { numRuns: RUNS_PER_VERSION },
      )
    })
  }
})
