import type { KafkaReader } from './reader.js'
import type { ByteSink } from './writer.js'

/**
 * Request header v1, what every non-flexible request starts with:
 *
 *   apiKey int16 | apiVersion int16 | correlationId int32 | clientId nullable string
 *
 * Header v2 (flexible requests, such as the ApiVersions v3 librdkafka opens with) has the same
 * four fields, the client id still with an int16 length, then tagged fields. Reading those
 * four is enough to answer any request with UNSUPPORTED_VERSION, so v2 is never read further.
 *
 * Response header v0 is the correlation id alone; every response here uses it (ApiVersions
 * uses v0 at every version).
 */
export interface RequestHeader {
  readonly apiKey: number
  readonly apiVersion: number
  readonly correlationId: number
  readonly clientId: string | null
}

export function readRequestHeader(reader: KafkaReader): RequestHeader {
  const apiKey = reader.readInt16()
  const apiVersion = reader.readInt16()
  const correlationId = reader.readInt32()
  const clientId = reader.readNullableString()
  return { apiKey, apiVersion, correlationId, clientId }
}

export function writeRequestHeader(sink: ByteSink, header: RequestHeader): void {
  sink.int16(header.apiKey)
  sink.int16(header.apiVersion)
  sink.int32(header.correlationId)
  sink.string(header.clientId)
}

export function readResponseHeader(reader: KafkaReader): number {
  return reader.readInt32()
}

export function writeResponseHeader(sink: ByteSink, correlationId: number): void {
  sink.int32(correlationId)
}
