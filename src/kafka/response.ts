import { ErrorCode } from '../wire/errors.js'
import type { ApiKeyValue } from './api-keys.js'
import { type ResponseBody, supportedApiSpec } from './apis.js'
import { readStruct, writeStruct } from './codec.js'
import { encodeFrame } from './frame.js'
import { readResponseHeader, writeResponseHeader } from './header.js'
import { KafkaReader } from './reader.js'

/**
 * Encodes a response as a whole frame, size prefix included, ready for one socket write:
 * size int32 | correlationId int32 (response header v0) | body at `apiVersion`.
 *
 * Answer at the version the request came with; the one exception is ApiVersions at an
 * unsupported version, answered at version 0. Record batches in the body are copied once, as
 * they are. A body that does not fit the schema (a wrong type, an integer out of range, null
 * where the version allows none, a string over 32767 UTF-8 bytes) throws a SkeinError with
 * code UNKNOWN_SERVER_ERROR: a bug in the caller, not in the client.
 */
export function encodeResponse<K extends ApiKeyValue>(apiKey: K, apiVersion: number, correlationId: number, body: ResponseBody<K>): Uint8Array {
  const spec = supportedApiSpec(apiKey, apiVersion)
  return encodeFrame((sink) => {
    writeResponseHeader(sink, correlationId)
    writeStruct(sink, spec.response, apiVersion, body, ErrorCode.UNKNOWN_SERVER_ERROR)
  }, ErrorCode.UNKNOWN_SERVER_ERROR)
}

export interface DecodedResponse<K extends ApiKeyValue> {
  readonly correlationId: number
  readonly body: ResponseBody<K>
}

/**
 * Decodes a response frame (without its size prefix) of a request sent as `apiKey` at
 * `apiVersion`: what a Kafka client does, for tests and tools. Bad bytes throw a SkeinError
 * with code CORRUPT_MESSAGE.
 */
export function decodeResponse<K extends ApiKeyValue>(apiKey: K, apiVersion: number, frame: Uint8Array): DecodedResponse<K> {
  const spec = supportedApiSpec(apiKey, apiVersion)
  const reader = new KafkaReader(frame, ErrorCode.CORRUPT_MESSAGE)
  const correlationId = readResponseHeader(reader)
  const body = readStruct(reader, spec.response, apiVersion) as ResponseBody<K>
  reader.expectEnd()
  return { correlationId, body }
}

