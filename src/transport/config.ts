import { FRAME_BYTES_MAX } from '../wire/index.js'

/** Limits of the node-to-node link layer. Every queue and wait here is bounded by one of these. */
export interface TransportLimits {
  /** A link must finish hello/welcome/proof within this, counted from dial or accept. */
  handshakeTimeoutMs: number
  /** First delay before redialing a peer whose link failed. */
  reconnectDelayMsMin: number
  /** Cap of the exponential reconnect backoff (before jitter, which only shortens it). */
  reconnectDelayMsMax: number
  /** Envelopes waiting for a link, per peer; `send` answers 'overloaded' at this depth. */
  outboundQueueDepthMax: number
  /** Bytes handed to a link and not yet confirmed written (`onWritten`), per link. */
  inflightBytesMax: number
  /** Envelopes coalesced into one batch frame at most. */
  batchEnvelopesMax: number
  /** Largest frame sent or accepted, in bytes; at most the wire's FRAME_BYTES_MAX. */
  frameBytesMax: number
}

export const DEFAULT_TRANSPORT_LIMITS: Readonly<TransportLimits> = Object.freeze({
  // Covers a TCP connect plus three frames across a slow WAN link with room to spare, yet
  // frees the slot of a peer that connects and then says nothing within a few seconds.
  handshakeTimeoutMs: 5_000,
  // Quick enough that a restarted peer is reached again within about a tenth of a second.
  reconnectDelayMsMin: 100,
  // Kafka's reconnect.backoff.max.ms. A restarted peer is redialed at most ~1 s after it is
  // back (a larger cap showed up directly as failover time), while a dead peer still costs
  // only one failed dial (a refused or timed-out connect) per second per node that wants it.
  reconnectDelayMsMax: 1_000,
  // ~10 MB of small envelopes at worst; beyond this the sender must slow down (whenWritable).
  outboundQueueDepthMax: 100_000,
  // Enough to keep a 10 Gbit/s link busy across a 5 ms round trip, small enough that a
  // stalled peer pins only 8 MiB of this process's memory per link.
  inflightBytesMax: 8 * 1024 * 1024,
  // Amortizes the per-frame cost (syscall, WebSocket header, msgpack array) to near nothing
  // for small envelopes, while keeping one frame's encode time well under a millisecond.
  batchEnvelopesMax: 4_096,
  // The wire's own ceiling: a frame any peer decodes.
  frameBytesMax: FRAME_BYTES_MAX,
})

/**
 * Accepted links allowed in their handshake at once; one more is closed at once. Far above
 * any cluster's honest dial rate (a handshake takes a round trip or two), and it caps what
 * a flood of unauthenticated connections can pin: a socket, a timer and a few buffers each.
 */
export const ACCEPTED_HANDSHAKES_MAX = 1_024

export interface TransportConfig {
  nodeId: string
  clusterId: string
  /** Shared secret of the cluster; both ends prove knowledge of it with HMAC-SHA256. */
  clusterSecret: string
  /** Interface to listen on, e.g. '127.0.0.1'. */
  listenHost: string
  /** Port to listen on; 0 picks an ephemeral one (read it back from `start()`). */
  listenPort: number
  limits: TransportLimits
}

/** Throws a RangeError naming the first setting that is out of range. */
export function validateTransportConfig(config: TransportConfig): void {
  if (config.nodeId.length === 0) throw new RangeError('nodeId must not be empty')
  if (config.clusterSecret.length === 0) throw new RangeError('clusterSecret must not be empty')
  if (!Number.isInteger(config.listenPort) || config.listenPort < 0 || config.listenPort > 65_535) {
    throw new RangeError(`listenPort must be an integer in [0, 65535], got ${config.listenPort}`)
  }
  const limits = config.limits
  requirePositiveInteger('handshakeTimeoutMs', limits.handshakeTimeoutMs)
  requirePositiveInteger('reconnectDelayMsMin', limits.reconnectDelayMsMin)
  requirePositiveInteger('reconnectDelayMsMax', limits.reconnectDelayMsMax)
  if (limits.reconnectDelayMsMax < limits.reconnectDelayMsMin) {
    throw new RangeError('reconnectDelayMsMax must be >= reconnectDelayMsMin')
  }
  requirePositiveInteger('outboundQueueDepthMax', limits.outboundQueueDepthMax)
  requirePositiveInteger('inflightBytesMax', limits.inflightBytesMax)
  requirePositiveInteger('batchEnvelopesMax', limits.batchEnvelopesMax)
  requirePositiveInteger('frameBytesMax', limits.frameBytesMax)
  if (limits.frameBytesMax > FRAME_BYTES_MAX) {
    throw new RangeError(`frameBytesMax must be <= FRAME_BYTES_MAX (${FRAME_BYTES_MAX}), got ${limits.frameBytesMax}`)
  }
}

function requirePositiveInteger(name: string, value: number): void {
  if (!Number.isInteger(value) || value <= 0) throw new RangeError(`${name} must be a positive integer, got ${value}`)
}
