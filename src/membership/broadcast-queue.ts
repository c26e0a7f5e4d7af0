import type { GossipUpdate } from './messages.js'

interface Entry {
  readonly update: GossipUpdate
  transmits: number
  /** Insertion order: among updates sent equally often, the newest goes first. */
  readonly order: number
}

/**
 * The updates waiting to be piggybacked (SWIM §4.1; memberlist's TransmitLimitedQueue).
 * At most one update per member: a newer one about the same member replaces (invalidates)
 * the old, so superseded news is never sent. Each `take` picks the least-transmitted updates,
 * newest first, counts one transmission for each, and drops those that reached the limit.
 * Its size is bounded by the number of members.
 */
export class BroadcastQueue {
  private readonly entries = new Map<string, Entry>()
  private orderNext = 0

  get size(): number {
    return this.entries.size
  }

  has(memberId: string): boolean {
    return this.entries.has(memberId)
  }

  /** Queues `update` with no transmissions yet, replacing anything queued about the same member. */
  enqueue(update: GossipUpdate): void {
    this.entries.set(update.id, { update, transmits: 0, order: this.orderNext++ })
  }

  /** Forgets anything queued about `memberId`. */
  remove(memberId: string): void {
    this.entries.delete(memberId)
  }

  /**
   * Up to `countMax` updates for one outgoing message, leaving out those about `skipIds`
   * members (the caller sends its own version of those). Each one taken counts as sent once;
   * an update sent `transmitLimit` times leaves the queue.
   */
  take(countMax: number, transmitLimit: number, skipIds?: ReadonlySet<string>): GossipUpdate[] {
    if (!(countMax >= 0)) throw new RangeError(`countMax must be >= 0, got ${countMax}`)
    if (!(transmitLimit >= 1)) throw new RangeError(`transmitLimit must be >= 1, got ${transmitLimit}`)
    if (this.entries.size === 0 || countMax === 0) return []
    const candidates: Entry[] = []
    for (const entry of this.entries.values()) {
      if (skipIds === undefined || !skipIds.has(entry.update.id)) candidates.push(entry)
    }
    candidates.sort((a, b) => a.transmits - b.transmits || b.order - a.order)
    const chosen = candidates.length > countMax ? candidates.slice(0, countMax) : candidates
    const updates: GossipUpdate[] = []
    for (const entry of chosen) {
      updates.push(entry.update)
      entry.transmits++
      if (entry.transmits >= transmitLimit) this.entries.delete(entry.update.id)
    }
    return updates
  }

  /** Queued updates with their transmission counts, for tests and stats. */
  snapshot(): { update: GossipUpdate; transmits: number }[] {
    return [...this.entries.values()].map((entry) => ({ update: entry.update, transmits: entry.transmits }))
  }
}
