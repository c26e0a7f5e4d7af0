import type { Env, HttpRequest, HttpResponse } from '../env/index.js'
import type { Envelope, SkeinError } from '../wire/index.js'

/** Where each node listens. Static for now; membership feeds it later. */
export interface PeerAddressBook {
  addressOf(nodeId: string): string | undefined
}

export interface TransportHandlers {
  /** An inbound batch from one peer, in the order it was sent. */
  onEnvelopes(fromNodeId: string, envelopes: Envelope[]): void
  /** Envelopes dropped before being written: too large, unknown peer, expired, shutdown. */
  onUndeliverable(toNodeId: string, envelopes: Envelope[], error: SkeinError): void
  /** The peer's first authenticated link is up (not called when a newer link replaces one). */
  onPeerUp?(nodeId: string): void
  /**
   * The peer's one authenticated link closed with no newer one to replace it. What was written
   * to it and not yet answered is lost (delivery is at most once); what is still queued stays
   * queued for the next link. The layer above fails the asks it sent there now, not at their
   * deadlines.
   */
  onPeerDown?(nodeId: string): void
  /**
   * A dial to a peer we have no link with failed before its handshake finished (refused,
   * reset, timed out, not authenticated). Redials go on with backoff and what is queued stays
   * queued, but the peer cannot be reached right now: the layer above fails the asks it is
   * waiting on there rather than leaving them to their deadlines.
   */
  onPeerUnreachable?(nodeId: string): void
  /** Routes beyond /health; undefined means 404. */
  onHttp?(request: HttpRequest): HttpResponse | undefined
}

export type SendResult = 'queued' | 'overloaded'

/** The parts of the Env the transport uses; any full Env fits. */
export type TransportEnv = Pick<Env, 'clock' | 'random' | 'net' | 'log'>

/** Counters since start, for tests, benchmarks and metrics. */
export interface TransportStats {
  framesSent: number
  envelopesSent: number
  bytesSent: number
  framesReceived: number
  envelopesReceived: number
  bytesReceived: number
  linksDialed: number
  linksAccepted: number
  linksAuthenticated: number
  /** Links this node closed because of what the other end sent (or failed to send in time). */
  linksRefused: number
  /** Authenticated links closed because a newer one to the same peer took over. */
  linksReplaced: number
  envelopesUndeliverable: number
  /** Queued envelopes not sent because their asker had already given up (Envelope.abandoned). */
  envelopesAbandoned: number
  /** Links not yet closed, in any phase. */
  connectionCount: number
}

/** One link, as seen from this node, for diagnostics and tests. */
export interface LinkInfo {
  id: number
  peerNodeId: string | undefined
  role: string
  phase: string
  remoteAddress: string
}
