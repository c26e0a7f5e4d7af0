import { createHmac, timingSafeEqual } from 'node:crypto'
import { LinkCloseCode } from '../env/index.js'
import { type HelloFrame, PROTOCOL_VERSION, type WelcomeFrame } from '../wire/index.js'

/**
 * The link handshake, as pure functions: what each side checks and the proofs it computes.
 *
 *   initiator                                   acceptor
 *   hello(version, clusterId, nodeIdI, nonceI)  ->
 *                                               <- welcome(version, clusterId, nodeIdA, nonceA,
 *                                                          HMAC(secret, 'welcome' | nonceI | nodeIdA | nodeIdI))
 *   proof(HMAC(secret, 'proof' | nonceA | nodeIdI | nodeIdA)) ->
 *
 * Each side proves knowledge of the secret over a nonce the other side just drew, so a
 * recorded handshake cannot be replayed; the labels differ, so a proof cannot be reflected
 * back at its sender. This authenticates the ends, not the bytes that follow: links carry no
 * encryption or MAC, so they belong on a private network (or behind TLS).
 */

/** Nonce length: 256 bits, drawn from env.random for every handshake. */
export const NONCE_BYTES = 32

/** Length of an HMAC-SHA256 proof. */
export const PROOF_BYTES = 32

/** What a check decided: go on, or close the link with this code and reason. */
export type HandshakeVerdict = { ok: true } | { ok: false; code: number; reason: string }

const OK: HandshakeVerdict = { ok: true }

function refuse(code: number, reason: string): HandshakeVerdict {
  return { ok: false, code, reason }
}

/** The acceptor's proof, carried in welcome. */
export function welcomeProof(secret: string, initiatorNonce: Uint8Array, acceptorNodeId: string, initiatorNodeId: string): Uint8Array {
  return hmac(secret, 'welcome', initiatorNonce, acceptorNodeId, initiatorNodeId)
}

/** The initiator's proof, carried in the proof frame. */
export function initiatorProof(secret: string, acceptorNonce: Uint8Array, initiatorNodeId: string, acceptorNodeId: string): Uint8Array {
  return hmac(secret, 'proof', acceptorNonce, initiatorNodeId, acceptorNodeId)
}

/**
 * HMAC-SHA256 over length-prefixed fields: with plain concatenation, node ids "ab"+"c" and
 * "a"+"bc" would share a proof.
 */
function hmac(secret: string, label: string, nonce: Uint8Array, firstNodeId: string, secondNodeId: string): Uint8Array {
  const mac = createHmac('sha256', secret)
  for (const field of [Buffer.from(label), nonce, Buffer.from(firstNodeId), Buffer.from(secondNodeId)]) {
    const length = Buffer.allocUnsafe(4)
    length.writeUInt32BE(field.byteLength, 0)
    mac.update(length)
    mac.update(field)
  }
  return mac.digest()
}

/** Constant-time comparison of a received proof with the expected one. */
export function proofMatches(expected: Uint8Array, received: Uint8Array): boolean {
  if (received.byteLength !== expected.byteLength) return false
  return timingSafeEqual(expected, received)
}

/** Acceptor: may this hello go on to a welcome? */
export function checkHello(hello: HelloFrame, local: { clusterId: string; nodeId: string }): HandshakeVerdict {
  if (hello.protocolVersion !== PROTOCOL_VERSION) {
    return refuse(LinkCloseCode.versionMismatch, versionReason(hello.protocolVersion))
  }
  if (hello.clusterId !== local.clusterId) {
    return refuse(LinkCloseCode.authenticationFailed, `wrong cluster id ${JSON.stringify(hello.clusterId)}`)
  }
  if (hello.nonce.byteLength !== NONCE_BYTES) {
    return refuse(LinkCloseCode.malformedFrame, `hello nonce must be ${NONCE_BYTES} bytes, got ${hello.nonce.byteLength}`)
  }
  if (hello.nodeId === local.nodeId) {
    return refuse(LinkCloseCode.selfDial, `hello from this node's own id ${JSON.stringify(hello.nodeId)}`)
  }
  return OK
}

/** Initiator: is this welcome from the node we dialed, in our cluster, knowing the secret? */
export function checkWelcome(
  welcome: WelcomeFrame,
  expected: { clusterId: string; peerNodeId: string; localNodeId: string; secret: string; localNonce: Uint8Array },
): HandshakeVerdict {
  if (welcome.protocolVersion !== PROTOCOL_VERSION) {
    return refuse(LinkCloseCode.versionMismatch, versionReason(welcome.protocolVersion))
  }
  if (welcome.clusterId !== expected.clusterId) {
    return refuse(LinkCloseCode.authenticationFailed, `wrong cluster id ${JSON.stringify(welcome.clusterId)}`)
  }
  if (welcome.nodeId !== expected.peerNodeId) {
    // The address book points at another node (stale address, or a reused port).
    return refuse(
      LinkCloseCode.authenticationFailed,
      `dialed ${JSON.stringify(expected.peerNodeId)} but ${JSON.stringify(welcome.nodeId)} answered`,
    )
  }
  if (welcome.nonce.byteLength !== NONCE_BYTES) {
    return refuse(LinkCloseCode.malformedFrame, `welcome nonce must be ${NONCE_BYTES} bytes, got ${welcome.nonce.byteLength}`)
  }
  const proof = welcomeProof(expected.secret, expected.localNonce, welcome.nodeId, expected.localNodeId)
  if (!proofMatches(proof, welcome.proof)) return refuse(LinkCloseCode.authenticationFailed, 'welcome proof does not match the cluster secret')
  return OK
}

/** Acceptor: does the initiator's proof match the nonce we sent in welcome? */
export function checkProof(
  received: Uint8Array,
  expected: { secret: string; localNonce: Uint8Array; initiatorNodeId: string; localNodeId: string },
): HandshakeVerdict {
  const proof = initiatorProof(expected.secret, expected.localNonce, expected.initiatorNodeId, expected.localNodeId)
  if (!proofMatches(proof, received)) return refuse(LinkCloseCode.authenticationFailed, 'proof does not match the cluster secret')
  return OK
}

function versionReason(remoteVersion: number): string {
  return `protocol version ${remoteVersion} not supported; this node speaks ${PROTOCOL_VERSION}`
}
