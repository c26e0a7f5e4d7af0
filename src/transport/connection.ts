import type { Link, TimerHandle } from '../env/index.js'

export const ConnectionRole = {
  /** We dialed: we send hello, check welcome, send proof. */
  initiator: 'initiator',
  /** They dialed: we check hello, send welcome, check proof. */
  acceptor: 'acceptor',
} as const
export type ConnectionRole = (typeof ConnectionRole)[keyof typeof ConnectionRole]

/**
 * Where a link stands. Initiator: connecting -> awaitingWelcome -> open.
 * Acceptor: awaitingHello -> awaitingProof -> open. Either may jump to closed at any time;
 * closed is final.
 */
export const ConnectionPhase = {
  connecting: 'connecting',
  awaitingHello: 'awaitingHello',
  awaitingWelcome: 'awaitingWelcome',
  awaitingProof: 'awaitingProof',
  open: 'open',
  closed: 'closed',
} as const
export type ConnectionPhase = (typeof ConnectionPhase)[keyof typeof ConnectionPhase]

/** One link and its handshake state. Owned by the Transport, which makes every transition. */
export class Connection {
  phase: ConnectionPhase
  /** Set right after `net.connect` / `onLink` returns; events cannot arrive before that. */
  link: Link | undefined
  /** The peer: known from the start when we dial, from hello when we accept. */
  peerNodeId: string | undefined
  /** The nonce we sent (hello or welcome); the other side's proof covers it. */
  localNonce: Uint8Array | undefined
  handshakeTimer: TimerHandle | undefined
  /** Bytes handed to this link and not yet confirmed written; never shared with another link. */
  inflightBytes = 0
  /**
   * Set when we dialed an address without knowing who listens there (a seed): the handshake
   * tells us, and `settle` reports it (or the failure) exactly once.
   */
  discovery: { readonly address: string; settle(nodeId: string | undefined, error?: Error): void } | undefined

  constructor(
    /** Sequence number, for logs and diagnostics. */
    readonly id: number,
    readonly role: ConnectionRole,
    readonly localNodeId: string,
    peerNodeId: string | undefined,
  ) {
    this.peerNodeId = peerNodeId
    this.phase = role === ConnectionRole.initiator ? ConnectionPhase.connecting : ConnectionPhase.awaitingHello
  }

  /** Node id of the side that dialed; only meaningful once the peer is known. */
  initiatorNodeId(): string {
    if (this.role === ConnectionRole.initiator) return this.localNodeId
    if (this.peerNodeId === undefined) throw new Error(`connection ${this.id}: initiator unknown before hello`)
    return this.peerNodeId
  }

  isHandshaking(): boolean {
    return this.phase !== ConnectionPhase.open && this.phase !== ConnectionPhase.closed
  }

  remoteAddress(): string {
    return this.link?.remoteAddress ?? '?'
  }
}
