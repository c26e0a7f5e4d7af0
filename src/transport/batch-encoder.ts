import { type Envelope, ErrorCode, SkeinError, encodeBatch } from '../wire/index.js'

/**
 * Encodes `envelopes` as batch frames of at most `frameBytesMax` bytes each, handing them to
 * `emit` in order. A batch that encodes too large (or fails to encode) is split in halves,
 * recursively, so the common case encodes once; an envelope that is too large on its own, or
 * whose payload msgpack cannot encode, goes to `reject` and the rest still go out, in order.
 */
export function encodeBatchFrames(
  envelopes: readonly Envelope[],
  frameBytesMax: number,
  emit: (frame: Uint8Array, envelopeCount: number) => void,
  reject: (envelope: Envelope, error: SkeinError) => void,
): void {
  if (envelopes.length === 0) return
  let frame: Uint8Array | undefined
  let encodeError: unknown
  try {
    frame = encodeBatch(envelopes)
  } catch (err) {
    encodeError = err
  }
  if (frame !== undefined && frame.byteLength <= frameBytesMax) {
    emit(frame, envelopes.length)
    return
  }
  if (envelopes.length === 1) {
    reject(envelopes[0] as Envelope, singleEnvelopeError(frame, frameBytesMax, encodeError))
    return
  }
  const middle = envelopes.length >>> 1
  encodeBatchFrames(envelopes.slice(0, middle), frameBytesMax, emit, reject)
  encodeBatchFrames(envelopes.slice(middle), frameBytesMax, emit, reject)
}

function singleEnvelopeError(frame: Uint8Array | undefined, frameBytesMax: number, encodeError: unknown): SkeinError {
  if (frame !== undefined) {
    return new SkeinError(
      ErrorCode.MESSAGE_TOO_LARGE,
      `envelope encodes to a ${frame.byteLength}-byte frame; the limit is ${frameBytesMax}`,
    )
  }
  const message = encodeError instanceof Error ? encodeError.message : String(encodeError)
  return new SkeinError(ErrorCode.INVALID_REQUEST, `envelope payload cannot be encoded: ${message}`, { cause: encodeError })
}
