import { MemberTable, type PlacementMember, firstReplica, rankReplicas } from './replica-set.js'

/**
 * Default cap on cached placements: about the number of actors a busy node talks to, at
 * roughly 100 bytes an entry (the Map slot and the value; the key is the caller's id string),
 * so about 10 MB at worst. A miss costs a key hash plus a few multiplications per member.
 */
export const CACHE_ENTRIES_MAX_DEFAULT = 100_000

export interface MembershipDirectoryOptions {
  /**
   * Consulted before hashing: the node an actor is pinned to (diagnostics actors name theirs
   * in their id), or undefined to place it by hashing. A pinned actor stays on its node even
   * while membership says that node is gone: it has nowhere else to be.
   */
  pinned?: (actorId: string) => string | undefined
  /** Most placements kept in the cache; 0 turns the cache off. */
  cacheEntriesMax?: number
}

/**
 * The actor directory over live membership: an actor lives on the first replica of its id
 * over the members the membership layer last reported (`setMembers`). Nodes whose views
 * differ for a while disagree about some actors; the actor runtime forwards such messages,
 * and no safety property depends on the answer (DESIGN.md, "Placement is a hint; terms
 * decide").
 *
 * It satisfies the actor layer's `Directory` interface structurally: placement sits below
 * the actor runtime, so it does not import it.
 */
export class MembershipDirectory {
  private table: MemberTable = MemberTable.of([])
  /** actor id -> node id, oldest first; emptied whenever the member set changes. */
  private readonly cache = new Map<string, string>()
  private readonly pinned: ((actorId: string) => string | undefined) | undefined
  private readonly cacheEntriesMax: number

  /** `nodeId` is this node: with no members known, it hosts everything. */
  constructor(
    readonly nodeId: string,
    options: MembershipDirectoryOptions = {},
  ) {
    if (typeof nodeId !== 'string' || nodeId.length === 0) throw new RangeError('nodeId must be a non-empty string')
    const cacheEntriesMax = options.cacheEntriesMax ?? CACHE_ENTRIES_MAX_DEFAULT
    if (!Number.isInteger(cacheEntriesMax) || cacheEntriesMax < 0) {
      throw new RangeError(`cacheEntriesMax must be a non-negative integer, got ${cacheEntriesMax}`)
    }
    this.cacheEntriesMax = cacheEntriesMax
    this.pinned = options.pinned
  }

  /**
   * Replaces the live member list (this node included, while it is a member). Throws
   * RangeError on a bad list and then keeps the previous one. Returns whether the set of ids
   * or zones changed; an unchanged set (a refuted suspicion, a new incarnation) keeps the cache.
   */
  setMembers(members: readonly PlacementMember[]): boolean {
    const next = MemberTable.of(members)
    if (next.sameAs(this.table)) return false
    this.table = next
    this.cache.clear()
    return true
  }

  /** The node that should host `actorId`: pinned, else the first replica, else this node. */
  nodeFor(actorId: string): string {
    const pinnedNode = this.pinned?.(actorId)
    if (pinnedNode !== undefined) return pinnedNode
    const cached = this.cache.get(actorId)
    if (cached !== undefined) return cached
    const nodeId = firstReplica(actorId, this.table) ?? this.nodeId
    this.remember(actorId, nodeId)
    return nodeId
  }

  /**
   * The ordered replica set of `key` over the current members (uncached: replica sets are
   * asked for when a group is created or moved, not per message); [this node] when none are known.
   */
  replicasFor(key: string, replicaCount: number): string[] {
    if (this.table.size === 0) return rankReplicas(key, MemberTable.of([{ id: this.nodeId, zone: '' }]), replicaCount)
    return rankReplicas(key, this.table, replicaCount)
  }

  /** Ids of the current members, sorted. */
  memberIds(): string[] {
    return this.table.members.map((member) => member.id)
  }

  /** Placements currently cached (at most `cacheEntriesMax`). */
  get cacheEntryCount(): number {
    return this.cache.size
  }

  /**
   * Caches a placement, evicting the oldest entry when full. Oldest-first rather than least
   * recently used: LRU would re-insert on every hit, doubling the cost of the common case to
   * save a miss that costs about a microsecond.
   */
  private remember(actorId: string, nodeId: string): void {
    if (this.cacheEntriesMax === 0) return
    if (this.cache.size >= this.cacheEntriesMax) {
      const oldest = this.cache.keys().next()
      if (oldest.done !== true) this.cache.delete(oldest.value)
    }
    this.cache.set(actorId, nodeId)
  }
}
