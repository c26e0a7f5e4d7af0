import { createRequire } from 'node:module'
import { type ApiKeyValue, KAFKA_APIS } from '../../src/kafka/index.js'

/**
 * kafkajs 2.2.4 (a devDependency) as a second, independent implementation of the protocol:
 * its per-version request encoders and response decoders under src/protocol/requests/. It is
 * CommonJS without types for these internals, so everything here is `any` at the edge.
 */
const require = createRequire(import.meta.url)
type Any = any

const createRequest = require('kafkajs/src/protocol/request.js') as (args: Any) => Promise<{ buffer: Buffer }>

function definitions(dir: string): { versions: string[]; protocol: (args: { version: number }) => (options: Any) => { request: Any; response: Any } } {
  return require(`kafkajs/src/protocol/requests/${dir}/index.js`)
}

/** The versions kafkajs implements for an API, as numbers. */
export function kafkajsVersions(dir: string): number[] {
  return definitions(dir).versions.map(Number)
}

/** The versions of an API both kafkajs and the codec speak. */
export function sharedVersions(dir: string, apiKey: ApiKeyValue): number[] {
  const { minVersion, maxVersion } = KAFKA_APIS[apiKey]
  return kafkajsVersions(dir).filter((v) => v >= minVersion && v <= maxVersion)
}

/** A whole request frame (size prefix included) as kafkajs sends it. */
export async function kafkajsRequestFrame(dir: string, version: number, options: Any, correlationId: number, clientId: string): Promise<Buffer> {
  const { request } = definitions(dir).protocol({ version })(options)
  return (await createRequest({ correlationId, clientId, request })).buffer
}

/** kafkajs's decode of a response body (the bytes after the correlation id). */
export async function kafkajsDecodeResponse(dir: string, version: number, body: Buffer, options: Any = {}): Promise<Any> {
  const { response } = definitions(dir).protocol({ version })(options)
  return response.decode(body)
}
