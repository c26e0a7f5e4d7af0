import { ErrorCode, SkeinError } from '../wire/errors.js'

/**
 * The record keys and values of skein's internal topics (`__consumer_offsets`,
 * `__transaction_state`): one version byte, then UTF-8 JSON. A reader refuses any version but
 * the one it knows, so a record written by a newer node is reported, not misread.
 */

const utf8 = new TextEncoder()
const utf8Decoder = new TextDecoder('utf-8', { fatal: true })

/** `json` behind the version byte `version` (0..255). */
export function versioned(version: number, json: string): Uint8Array {
  const body = utf8.encode(json)
  const bytes = new Uint8Array(1 + body.length)
  bytes[0] = version
  bytes.set(body, 1)
  return bytes
}

/**
 * The JSON behind the version byte. Throws CORRUPT_MESSAGE, naming `what` (e.g. "offset record
 * key"), for another version, no body, or bytes that are not UTF-8 JSON.
 */
export function parseVersioned(bytes: Uint8Array, version: number, what: string): unknown {
  if (bytes.length < 2 || bytes[0] !== version) throw new SkeinError(ErrorCode.CORRUPT_MESSAGE, `${what} has version ${bytes[0] ?? 'none'}, expected ${version}`)
  try {
    return JSON.parse(utf8Decoder.decode(bytes.subarray(1)))
  } catch (error) {
    throw new SkeinError(ErrorCode.CORRUPT_MESSAGE, `${what} is not UTF-8 JSON`, { cause: error })
  }
}
