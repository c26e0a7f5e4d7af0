import { ACTOR_ID_LENGTH_MAX, MESSAGE_KIND_LENGTH_MAX } from './limits.js'

/**
 * The unit of actor messaging: who sent it, to whom, what kind, and how to answer it.
 * On the wire an envelope is a msgpack array (a tuple), not a map: field names would be
 * most of the bytes of a small message.
 */
export interface Envelope {
  /** Sender actor id, or '' when the sender is not an actor (a client session, a test). */
  from: string
  /** Node that originated the message; a reply goes straight back to it, not via placement. */
  origin: string
  /** Recipient actor id. */
  to: string
  /** Message kind; reply kinds start with '$' (see ReplyKind). */
  kind: string
  /** Correlation id: positive and unique per origin node for an ask or its reply; 0 for a tell. */
  corr: number
  /**
   * Time left to answer, in ms, as of sending; 0 means no deadline. Relative rather than
   * absolute so it survives clocks that differ between nodes; each hop re-bases it on its
   * own monotonic clock.
   */
  ttlMs: number
  /** How many times a node has forwarded this envelope because the actor is elsewhere. */
  hops: number
  payload: unknown
  /**
   * Local only, never encoded: set by the node that originated an ask once the ask has failed
   * (its peer went down, or its deadline passed), so an envelope still queued for a link is
   * not sent when the link comes back. The asker may have retried elsewhere; a late copy of a
   * request that is not idempotent (a transaction's commit) must not arrive after the retry
   * (txn-sim seed 521: a commit queued for a crashed node, sent once it was back, committed
   * the producer's next transaction).
   */
  abandoned?: boolean
}

/** Reserved kinds for replies to an ask. */
export const ReplyKind = {
  /** payload: the handler's return value. */
  ok: '$ok',
  /** payload: a WireError. */
  error: '$err',
} as const

export type EnvelopeTuple = [string, string, string, string, number, number, number, unknown]

export function envelopeToTuple(e: Envelope): EnvelopeTuple {
  return [e.from, e.origin, e.to, e.kind, e.corr, e.ttlMs, e.hops, e.payload]
}

/** Validates the shape of a decoded tuple; returns undefined when it is not an envelope. */
export function envelopeFromTuple(t: unknown): Envelope | undefined {
  if (!Array.isArray(t) || t.length !== 8) return undefined
  const [from, origin, to, kind, corr, ttlMs, hops, payload] = t as unknown[]
  if (typeof from !== 'string' || typeof origin !== 'string' || typeof to !== 'string' || typeof kind !== 'string') {
    return undefined
  }
  // `to` may be empty: a reply to an asker that is not an actor goes back to ''.
  if (to.length > ACTOR_ID_LENGTH_MAX || from.length > ACTOR_ID_LENGTH_MAX) return undefined
  if (origin.length === 0 || origin.length > ACTOR_ID_LENGTH_MAX) return undefined
  if (kind.length === 0 || kind.length > MESSAGE_KIND_LENGTH_MAX) return undefined
  if (!isNonNegativeInteger(corr) || !isNonNegativeInteger(hops)) return undefined
  if (typeof ttlMs !== 'number' || !(ttlMs >= 0)) return undefined
  return { from, origin, to, kind, corr, ttlMs, hops, payload }
}

function isNonNegativeInteger(x: unknown): x is number {
  return typeof x === 'number' && Number.isInteger(x) && x >= 0
}
