import { describe, expect, it } from 'vitest'
import { silentLogger } from '../../src/env/index.js'
import { ApiKey, KafkaConnection, type KafkaRequest, decodeResponse, encodeRequest, encodeResponse } from '../../src/kafka/index.js'

/** KafkaConnection without sockets: frames in, frames out, closes counted. */
class Harness {
  readonly written: Uint8Array[] = []
  closes = 0
  readonly pending = new Map<number, (frame: Uint8Array | undefined) => void>()
  /** The `code` of every warning logged (each close logs one). */
  readonly warnedCodes: unknown[] = []
  readonly connection: KafkaConnection

  constructor(limits = { requestBytesMax: 1024, pipelinedRequestsMax: 10 }) {
    this.connection = new KafkaConnection(
      { write: (frame) => this.written.push(frame), close: () => this.closes++ },
      (request) => new Promise((resolve) => this.pending.set(request.header.correlationId, (frame) => resolve(frame ?? answerOf(request, false)))),
      { ...silentLogger, warn: (fields: object) => this.warnedCodes.push((fields as { code?: unknown }).code) },
      limits,
    )
  }

  /** Correlation ids of the responses written so far, in order. */
  correlationIds(): number[] {
    return this.written.map((frame) => Buffer.from(frame).readInt32BE(4))
  }
}

/** A Heartbeat response to `request` (any well-formed frame will do), or undefined when `none`. */
function answerOf(request: KafkaRequest, none: boolean): Uint8Array | undefined {
  if (none) return undefined
  return encodeResponse(ApiKey.Heartbeat, 0, request.header.correlationId, { throttleTimeMs: 0, errorCode: 0 })
}

function heartbeat(correlationId: number): Uint8Array {
  return encodeRequest({ apiKey: ApiKey.Heartbeat, apiVersion: 0, correlationId, clientId: 't' }, { groupId: 'g', generationId: 1, memberId: 'm', groupInstanceId: null })
}

describe('KafkaConnection', () => {
  it('onData_whenFrameArrivesByteByByte_decodesOneRequest', () => {
    const h = new Harness()
    for (const byte of heartbeat(1)) h.connection.onData(Uint8Array.of(byte))
    expect([...h.pending.keys()]).toEqual([1])
    expect(h.closes).toBe(0)
  })

  it('onData_whenTwoFramesInOneChunk_decodesBoth', () => {
    const h = new Harness()
    h.connection.onData(Buffer.concat([heartbeat(1), heartbeat(2)]))
    expect([...h.pending.keys()]).toEqual([1, 2])
  })

  it('responses_whenHandlersFinishOutOfOrder_leaveInRequestOrder', async () => {
    const h = new Harness()
    h.connection.onData(Buffer.concat([heartbeat(1), heartbeat(2), heartbeat(3)]))
    h.pending.get(3)?.(undefined)
    h.pending.get(2)?.(undefined)
    await Promise.resolve()
    await Promise.resolve()
    expect(h.written).toEqual([])
    h.pending.get(1)?.(undefined)
    await new Promise((resolve) => setImmediate(resolve))
    expect(h.correlationIds()).toEqual([1, 2, 3])
  })

  it('responses_whenHandlerAnswersNothing_keepsOrderAndWritesNothingForIt', async () => {
    const written: Uint8Array[] = []
    const connection = new KafkaConnection({ write: (f) => written.push(f), close: () => undefined }, async (request) => answerOf(request, request.header.correlationId === 2), silentLogger)
    connection.onData(Buffer.concat([heartbeat(1), heartbeat(2), heartbeat(3)]))
    await new Promise((resolve) => setImmediate(resolve))
    expect(written.map((f) => Buffer.from(f).readInt32BE(4))).toEqual([1, 3])
  })

  it('onData_whenSizePrefixAboveLimit_closes', () => {
    const h = new Harness()
    const frame = Buffer.alloc(8)
    frame.writeInt32BE(1025, 0)
    h.connection.onData(frame)
    expect(h.closes).toBe(1)
    expect(h.pending.size).toBe(0)
    expect(h.warnedCodes).toEqual(['MESSAGE_TOO_LARGE'])
  })

  it('onData_whenSizePrefixNegative_closes', () => {
    const h = new Harness()
    h.connection.onData(Buffer.from([0xff, 0xff, 0xff, 0xff, 0, 0]))
    expect(h.closes).toBe(1)
    expect(h.warnedCodes).toEqual(['INVALID_REQUEST'])
  })

  it('onData_whenTruncatedRequestBody_closes', () => {
    const h = new Harness()
    const frame = Buffer.from(heartbeat(1))
    const cut = frame.subarray(0, frame.length - 3)
    cut.writeInt32BE(cut.length - 4, 0)
    h.connection.onData(cut)
    expect(h.closes).toBe(1)
    expect(h.warnedCodes).toEqual(['INVALID_REQUEST'])
  })

  it('onData_whenUnknownApiKey_closes', () => {
    const h = new Harness()
    const frame = Buffer.from(heartbeat(1))
    frame.writeInt16BE(999, 4)
    h.connection.onData(frame)
    expect(h.closes).toBe(1)
    expect(h.warnedCodes).toEqual(['INVALID_REQUEST'])
  })

  it('onData_whenUnsupportedVersionOfAKnownApi_closesLoggingUnsupportedVersion', () => {
    const h = new Harness()
    const frame = Buffer.from(heartbeat(1))
    frame.writeInt16BE(99, 6)
    h.connection.onData(frame)
    expect(h.closes).toBe(1)
    expect(h.pending.size).toBe(0)
    expect(h.warnedCodes).toEqual(['UNSUPPORTED_VERSION'])
  })

  it('onData_whenGarbage_closesAndIgnoresLaterBytes', () => {
    const h = new Harness()
    h.connection.onData(Buffer.from('GET / HTTP/1.1\r\n\r\n'))
    h.connection.onData(heartbeat(1))
    expect(h.closes).toBe(1)
    expect(h.pending.size).toBe(0)
    expect(h.warnedCodes).toHaveLength(1)
  })

  it('onData_whenApiVersionsV3_answersUnsupportedVersionInV0Layout', async () => {
    const h = new Harness()
    const frame = Buffer.from(encodeRequest({ apiKey: ApiKey.ApiVersions, apiVersion: 0, correlationId: 42, clientId: 'rdkafka' }, {} as never))
    frame.writeInt16BE(3, 6) // ask for v3: the header parses, the version is not spoken
    h.connection.onData(frame)
    await new Promise((resolve) => setImmediate(resolve))
    expect(h.closes).toBe(0)
    const response = decodeResponse(ApiKey.ApiVersions, 0, (h.written[0] as Uint8Array).subarray(4))
    expect(response.correlationId).toBe(42)
    expect(response.body.errorCode).toBe(35)
    expect(response.body.apiKeys).toEqual([{ apiKey: 18, minVersion: 0, maxVersion: 2 }])
  })

  it('onData_whenTooManyPipelined_closes', () => {
    const h = new Harness({ requestBytesMax: 1024, pipelinedRequestsMax: 2 })
    h.connection.onData(Buffer.concat([heartbeat(1), heartbeat(2), heartbeat(3)]))
    expect(h.closes).toBe(1)
    expect(h.pending.size).toBe(2)
  })
})
