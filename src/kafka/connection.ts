import type { Logger } from '../env/index.js'
import { ErrorCode, type ErrorSpec, errorSpecFor } from '../wire/errors.js'
import { ApiKey } from './api-keys.js'
import { apiVersionsUnsupportedBody } from './apis.js'
import { SIZE_PREFIX_BYTES } from './frame.js'
import { type KafkaRequest, decodeRequest } from './request.js'
import { encodeResponse } from './response.js'

/**
 * One Kafka client connection, sans-I/O: bytes in (`onData`), response frames out (`write`),
 * and `close` when the input is beyond repair. The listener owns the socket; this class owns
 * the framing and the ordering rules:
 *
 * - a request is a 4-byte big-endian size, then that many bytes; a size above
 *   `requestBytesMax` or below the smallest header closes the connection (nothing is answered:
 *   the correlation id is unknown);
 * - responses leave strictly in request order (clients pipeline; kafka-python fails on an
 *   out-of-order correlation id), however the handlers' promises settle;
 * - a handler resolving `undefined` sends nothing (Produce with acks=0) but still keeps its
 *   place in the order;
 * - ApiVersions at a version the codec does not speak is answered UNSUPPORTED_VERSION in the
 *   v0 layout (librdkafka opens with v3); any other bad request (unknown API key, unsupported
 *   version, bytes that do not parse) is logged and closes this connection only.
 */

/**
 * Largest request accepted, in bytes: Kafka's socket.request.max.bytes default (100 MiB). A
 * produce carries at most a few MiB in practice; the limit only bounds a hostile size prefix.
 */
export const KAFKA_REQUEST_BYTES_MAX = 100 * 1024 * 1024

/**
 * Requests read but not yet answered on one connection; past it the connection is closed.
 * Kafka clients keep a handful in flight (kafkajs and librdkafka default to 5 or fewer).
 */
export const KAFKA_PIPELINED_REQUESTS_MAX = 1_000

/** request_api_key i16 + request_api_version i16 + correlation_id i32 + client_id length i16. */
const REQUEST_HEADER_BYTES_MIN = 10

export interface KafkaConnectionIo {
  write(frame: Uint8Array): void
  close(): void
}

/** Answers one request: a whole response frame (size prefix included), or undefined for none. */
export type KafkaRequestHandler = (request: KafkaRequest) => Promise<Uint8Array | undefined>

export interface KafkaConnectionLimits {
  requestBytesMax: number
  pipelinedRequestsMax: number
}

interface Slot {
  settled: boolean
  frame: Uint8Array | undefined
}

export class KafkaConnection {
  private chunks: Buffer[] = []
  private bufferedBytes = 0
  private readonly slots: Slot[] = []
  private closed = false

  constructor(
    private readonly io: KafkaConnectionIo,
    private readonly handle: KafkaRequestHandler,
    private readonly log: Logger,
    private readonly limits: KafkaConnectionLimits = { requestBytesMax: KAFKA_REQUEST_BYTES_MAX, pipelinedRequestsMax: KAFKA_PIPELINED_REQUESTS_MAX },
  ) {
    if (!(limits.requestBytesMax >= REQUEST_HEADER_BYTES_MIN)) throw new RangeError(`requestBytesMax too small: ${limits.requestBytesMax}`)
    if (!(limits.pipelinedRequestsMax >= 1)) throw new RangeError(`pipelinedRequestsMax must be at least 1: ${limits.pipelinedRequestsMax}`)
  }

  get isClosed(): boolean {
    return this.closed
  }

  /** Requests read and not yet answered (or skipped). */
  get pendingCount(): number {
    return this.slots.length
  }

  onData(chunk: Uint8Array): void {
    if (this.closed) return
    this.chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength))
    this.bufferedBytes += chunk.byteLength
    while (!this.closed) {
      const frame = this.nextFrame()
      if (frame === undefined) return
      this.onFrame(frame)
    }
  }

  /** The socket closed: responses still pending are dropped when they settle. */
  onClose(): void {
    this.closed = true
    this.chunks = []
    this.bufferedBytes = 0
  }

  /** Takes one whole frame (without its size) off the buffer, or undefined if none is complete. */
  private nextFrame(): Buffer | undefined {
    if (this.bufferedBytes < SIZE_PREFIX_BYTES) return undefined
    if ((this.chunks[0] as Buffer).length < SIZE_PREFIX_BYTES) this.chunks = [Buffer.concat(this.chunks)]
    const sizeBytes = (this.chunks[0] as Buffer).readInt32BE(0)
    if (sizeBytes < REQUEST_HEADER_BYTES_MIN || sizeBytes > this.limits.requestBytesMax) {
      const spec = sizeBytes > this.limits.requestBytesMax ? ErrorCode.MESSAGE_TOO_LARGE : ErrorCode.INVALID_REQUEST
      this.fail(spec, `request size ${sizeBytes} bytes is outside ${REQUEST_HEADER_BYTES_MIN} to ${this.limits.requestBytesMax}`)
      return undefined
    }
    // Chunks are joined once the whole frame is there, not on every chunk of a large one.
    if (this.bufferedBytes < SIZE_PREFIX_BYTES + sizeBytes) return undefined
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)]
    const buffer = this.chunks[0] as Buffer
    // A copy: the decoded request keeps views of its frame while handlers run.
    const frame = Buffer.from(buffer.subarray(SIZE_PREFIX_BYTES, SIZE_PREFIX_BYTES + sizeBytes))
    const rest = buffer.subarray(SIZE_PREFIX_BYTES + sizeBytes)
    this.chunks = rest.length > 0 ? [rest] : []
    this.bufferedBytes = rest.length
    return frame
  }

  private onFrame(frame: Buffer): void {
    if (this.slots.length >= this.limits.pipelinedRequestsMax) {
      this.fail(ErrorCode.INVALID_REQUEST, `more than ${this.limits.pipelinedRequestsMax} requests pipelined without reading responses`)
      return
    }
    const decoded = decodeRequest(frame)
    if (decoded.ok) {
      this.track(this.handle(decoded.request), decoded.request)
      return
    }
    const { error, header } = decoded
    if (header !== null && header.apiKey === ApiKey.ApiVersions && error.code === ErrorCode.UNSUPPORTED_VERSION.code) {
      const answer = encodeResponse(ApiKey.ApiVersions, 0, header.correlationId, apiVersionsUnsupportedBody())
      this.track(Promise.resolve(answer), undefined)
      return
    }
    const api = header === null ? 'unparsed header' : `api ${header.apiKey} v${header.apiVersion} correlation ${header.correlationId}`
    this.fail(errorSpecFor(error.code), `bad request (${api}): ${error.message}`)
  }

  /** Reserves the request's place in the response order and fills it when `answer` settles. */
  private track(answer: Promise<Uint8Array | undefined>, request: KafkaRequest | undefined): void {
    const slot: Slot = { settled: false, frame: undefined }
    this.slots.push(slot)
    answer.then(
      (frame) => {
        slot.settled = true
        slot.frame = frame
        this.flush()
      },
      (err: unknown) => {
        // Handlers answer errors in the protocol; a rejection is a bug, and the order is lost.
        this.log.error({ err, apiKey: request?.apiKey, apiVersion: request?.apiVersion }, 'kafka request handler failed')
        this.fail(ErrorCode.UNKNOWN_SERVER_ERROR, 'request handler failed')
      },
    )
  }

  /** Writes every settled response at the head of the order. */
  private flush(): void {
    while (!this.closed && this.slots.length > 0 && (this.slots[0] as Slot).settled) {
      const slot = this.slots.shift() as Slot
      if (slot.frame !== undefined) this.io.write(slot.frame)
    }
  }

  /** Closes the connection, logging why with a stable error code (the client is told nothing: Kafka's framing has no way to). */
  private fail(spec: ErrorSpec, reason: string): void {
    if (this.closed) return
    this.log.warn({ code: spec.name, reason }, 'closing kafka connection')
    this.closed = true
    this.chunks = []
    this.bufferedBytes = 0
    this.io.close()
  }
}
