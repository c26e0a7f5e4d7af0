import { ErrorCode, SkeinError } from '../wire/errors.js'
import type { ApiKeyValue } from './api-keys.js'
import { type RequestBody, apiSpecFor, isSupportedVersion, supportedApiSpec } from './apis.js'
import { readStruct, writeStruct } from './codec.js'
import { encodeFrame } from './frame.js'
import { type RequestHeader, readRequestHeader, writeRequestHeader } from './header.js'
import { KafkaReader } from './reader.js'

/** A decoded request, discriminated by `apiKey`: `switch (request.apiKey)` types the body. */
export type KafkaRequest = {
  [K in ApiKeyValue]: {
    readonly apiKey: K
    readonly apiVersion: number
    readonly header: RequestHeader
    readonly body: RequestBody<K>
  }
}[ApiKeyValue]

/**
 * The outcome of decoding one request frame. On failure `error.code` says what to do:
 *
 *   UNSUPPORTED_VERSION (35)  a known API at a version outside its range; `header` is set.
 *                             Kafka answers ApiVersions so (apiVersionsUnsupportedBody, in the
 *                             v0 layout) and closes the connection for other APIs.
 *   INVALID_REQUEST (42)      an unknown API key (`header` set), or bytes that do not parse:
 *                             truncated, a negative or overlong length or count, trailing bytes
 *                             (`header` set if the header itself parsed). Close the connection.
 */
export type DecodeRequestResult =
  | { readonly ok: true; readonly request: KafkaRequest }
  | { readonly ok: false; readonly error: SkeinError; readonly header: RequestHeader | null }

/**
 * Decodes one request from a frame without its 4-byte size prefix. Never throws for bad
 * bytes; byte fields in the result (records, metadata) are views of `frame`, so leave the
 * frame's buffer alone while the request is in use.
 */
export function decodeRequest(frame: Uint8Array): DecodeRequestResult {
  const reader = new KafkaReader(frame, ErrorCode.INVALID_REQUEST)
  let header: RequestHeader | null = null
  try {
    header = readRequestHeader(reader)
    const spec = apiSpecFor(header.apiKey)
    if (spec === undefined) throw new SkeinError(ErrorCode.INVALID_REQUEST, `unknown API key ${header.apiKey}`)
    if (!isSupportedVersion(spec, header.apiVersion)) {
      const message = `${spec.name} version ${header.apiVersion} is not supported (${spec.minVersion} to ${spec.maxVersion})`
      throw new SkeinError(ErrorCode.UNSUPPORTED_VERSION, message)
    }
    const body = readStruct(reader, spec.request, header.apiVersion)
    reader.expectEnd()
    const request = { apiKey: spec.apiKey, apiVersion: header.apiVersion, header, body } as KafkaRequest
    return { ok: true, request }
  } catch (err) {
    // Anything but a SkeinError is a bug in the codec, not bad input: let it fail loudly.
    if (!(err instanceof SkeinError)) throw err
    return { ok: false, error: err, header }
  }
}

/**
 * Encodes a request as a whole frame, size prefix included: what a Kafka client sends. The
 * broker never sends requests; this serves tests and tools that play the client.
 */
export function encodeRequest<K extends ApiKeyValue>(header: RequestHeader & { readonly apiKey: K }, body: RequestBody<K>): Uint8Array {
  const spec = supportedApiSpec(header.apiKey, header.apiVersion)
  return encodeFrame((sink) => {
    writeRequestHeader(sink, header)
    writeStruct(sink, spec.request, header.apiVersion, body, ErrorCode.INVALID_REQUEST)
  }, ErrorCode.INVALID_REQUEST)
}
