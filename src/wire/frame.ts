import { Packr } from 'msgpackr'
import { type Envelope, type EnvelopeTuple, envelopeFromTuple, envelopeToTuple } from './envelope.js'
import { ErrorCode, SkeinError } from './errors.js'
import { FRAME_BYTES_MAX } from './limits.js'

/**
 * Frames are what links carry: one msgpack array per link message, its first element the
 * frame type. The handshake (hello, welcome, proof) authenticates both ends with a shared
 * cluster secret before any envelope may flow; envelopes then travel many to a frame.
 *
 *   hello    [1, protocolVersion, clusterId, nodeId, nonce]             initiator -> acceptor
 *   welcome  [2, protocolVersion, clusterId, nodeId, nonce, proof]      acceptor -> initiator
 *   proof    [3, proof]                                                 initiator -> acceptor
 *   batch    [4, [envelopeTuple, ...]]                                  either way, after proof
 */
export const FrameType = {
  hello: 1,
  welcome: 2,
  proof: 3,
  batch: 4,
} as const

export interface HelloFrame {
  type: typeof FrameType.hello
  protocolVersion: number
  clusterId: string
  nodeId: string
  nonce: Uint8Array
}

export interface WelcomeFrame {
  type: typeof FrameType.welcome
  protocolVersion: number
  clusterId: string
  nodeId: string
  nonce: Uint8Array
  proof: Uint8Array
}

export interface ProofFrame {
  type: typeof FrameType.proof
  proof: Uint8Array
}

export interface BatchFrame {
  type: typeof FrameType.batch
  envelopes: Envelope[]
}

export type Frame = HelloFrame | WelcomeFrame | ProofFrame | BatchFrame

// Tuples, not records: plain msgpack any peer (or a debugging tool) can read.
const packr = new Packr({ useRecords: false, mapsAsObjects: true })

export function encodeFrame(frame: Frame): Uint8Array {
  switch (frame.type) {
    case FrameType.hello:
      return packr.pack([frame.type, frame.protocolVersion, frame.clusterId, frame.nodeId, frame.nonce])
    case FrameType.welcome:
      return packr.pack([frame.type, frame.protocolVersion, frame.clusterId, frame.nodeId, frame.nonce, frame.proof])
    case FrameType.proof:
      return packr.pack([frame.type, frame.proof])
    case FrameType.batch:
      return encodeBatch(frame.envelopes)
  }
}

/** Encodes many envelopes as one batch frame: the coalescing that keeps small messages cheap. */
export function encodeBatch(envelopes: readonly Envelope[]): Uint8Array {
  const tuples: EnvelopeTuple[] = new Array(envelopes.length)
  for (let i = 0; i < envelopes.length; i++) tuples[i] = envelopeToTuple(envelopes[i] as Envelope)
  return packr.pack([FrameType.batch, tuples])
}

function malformed(reason: string): SkeinError {
  return new SkeinError(ErrorCode.MALFORMED_FRAME, `malformed frame: ${reason}`)
}

/**
 * Decodes and validates one frame. Throws a SkeinError (MALFORMED_FRAME or MESSAGE_TOO_LARGE)
 * for anything else; never returns a partially checked value.
 */
export function decodeFrame(bytes: Uint8Array): Frame {
  if (bytes.byteLength > FRAME_BYTES_MAX) {
    throw new SkeinError(ErrorCode.MESSAGE_TOO_LARGE, `frame of ${bytes.byteLength} bytes exceeds ${FRAME_BYTES_MAX}`)
  }
  let raw: unknown
  try {
    raw = packr.unpack(bytes)
  } catch (err) {
    throw new SkeinError(ErrorCode.MALFORMED_FRAME, 'malformed frame: not msgpack', { cause: err })
  }
  if (!Array.isArray(raw) || raw.length === 0) throw malformed('not a non-empty array')
  switch (raw[0]) {
    case FrameType.hello:
      return decodeHello(raw)
    case FrameType.welcome:
      return decodeWelcome(raw)
    case FrameType.proof:
      if (raw.length !== 2 || !isBytes(raw[1])) throw malformed('proof')
      return { type: FrameType.proof, proof: raw[1] }
    case FrameType.batch:
      return decodeBatch(raw)
    default:
      throw malformed(`unknown frame type ${String(raw[0])}`)
  }
}

function decodeHello(raw: unknown[]): HelloFrame {
  const [, protocolVersion, clusterId, nodeId, nonce] = raw
  if (raw.length !== 5 || !Number.isInteger(protocolVersion) || typeof clusterId !== 'string') throw malformed('hello')
  if (typeof nodeId !== 'string' || nodeId.length === 0 || !isBytes(nonce)) throw malformed('hello')
  return { type: FrameType.hello, protocolVersion: protocolVersion as number, clusterId, nodeId, nonce }
}

function decodeWelcome(raw: unknown[]): WelcomeFrame {
  const [, protocolVersion, clusterId, nodeId, nonce, proof] = raw
  if (raw.length !== 6 || !Number.isInteger(protocolVersion) || typeof clusterId !== 'string') throw malformed('welcome')
  if (typeof nodeId !== 'string' || nodeId.length === 0 || !isBytes(nonce) || !isBytes(proof)) throw malformed('welcome')
  return { type: FrameType.welcome, protocolVersion: protocolVersion as number, clusterId, nodeId, nonce, proof }
}

function decodeBatch(raw: unknown[]): BatchFrame {
  const tuples = raw[1]
  if (raw.length !== 2 || !Array.isArray(tuples)) throw malformed('batch')
  const envelopes: Envelope[] = new Array(tuples.length)
  for (let i = 0; i < tuples.length; i++) {
    const e = envelopeFromTuple(tuples[i])
    if (e === undefined) throw malformed(`batch: envelope ${i} has the wrong shape`)
    envelopes[i] = e
  }
  return { type: FrameType.batch, envelopes }
}

function isBytes(x: unknown): x is Uint8Array {
  return x instanceof Uint8Array
}
