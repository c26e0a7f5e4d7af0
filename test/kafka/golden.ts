import { expect, it } from 'vitest'
import { type ApiKeyValue, KAFKA_APIS, decodeRequest, decodeResponse, encodeRequest, encodeResponse } from '../../src/kafka/index.js'
import { cat, i32, requestHeader, sized } from './wire-builder.js'

/**
 * Golden cases: a message value and the bytes the spec says it is, written by hand with
 * wire-builder. Each case checks both ways: the codec encodes the value to exactly those
 * bytes (inside a correctly sized frame with the right header), and decodes those bytes back
 * to exactly that value (absent fields holding their defaults).
 */
const CORRELATION_ID = 0x01020304
const CLIENT_ID = 'golden'

export function requestGolden(apiKey: ApiKeyValue, apiVersion: number, body: object, wire: Buffer): void {
  it(`${KAFKA_APIS[apiKey].name} request v${apiVersion}`, () => {
    const header = { apiKey, apiVersion, correlationId: CORRELATION_ID, clientId: CLIENT_ID }
    const frame = sized(cat(requestHeader(apiKey, apiVersion, CORRELATION_ID, CLIENT_ID), wire))
    expect(Buffer.from(encodeRequest(header, body as never)).toString('hex')).toBe(frame.toString('hex'))
    const result = decodeRequest(frame.subarray(4))
    if (!result.ok) throw result.error
    expect(result.request.header).toEqual(header)
    expect(result.request.apiKey).toBe(apiKey)
    expect(result.request.body).toEqual(body)
  })
}

export function responseGolden(apiKey: ApiKeyValue, apiVersion: number, body: object, wire: Buffer): void {
  it(`${KAFKA_APIS[apiKey].name} response v${apiVersion}`, () => {
    const frame = sized(cat(i32(CORRELATION_ID), wire))
    expect(Buffer.from(encodeResponse(apiKey, apiVersion, CORRELATION_ID, body as never)).toString('hex')).toBe(frame.toString('hex'))
    const decoded = decodeResponse(apiKey, apiVersion, frame.subarray(4))
    expect(decoded.correlationId).toBe(CORRELATION_ID)
    expect(decoded.body).toEqual(body)
  })
}
