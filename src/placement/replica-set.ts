import { NODE_SEEDS, hash64, rendezvousScore } from './hash.js'

/**
 * Replica sets by rendezvous (highest-random-weight) hashing: every node that knows the same
 * member list computes the same ordered replica set for a key, whatever order it learned the
 * members in. Removing a member moves only the keys whose sets contained it; adding one
 * moves about replicaCount / memberCount of the replica slots, all of them to the newcomer.
 * A placement is a hint (DESIGN.md, "Placement is a hint; terms decide"): nothing here is
 * safe to rely on for correctness, only for where to look first.
 */

/** A live member as placement sees it. */
export interface PlacementMember {
  /** Node id, unique in the list. */
  readonly id: string
  /**
   * Failure domain (rack, availability zone); '' = untagged. Untagged members count as one
   * zone of their own, "unknown", so a partly tagged cluster still spreads over what it knows.
   */
  readonly zone: string
}

/**
 * Most members one placement accepts: far above the clusters SWIM gossip serves well (low
 * thousands), and low enough that a corrupted member list cannot make every lookup, which
 * scores every member, cost milliseconds.
 */
export const MEMBER_COUNT_MAX = 10_000

/** A member of a prepared table: its zone also numbered, in the order zones first appear by id. */
export interface TableMember {
  readonly id: string
  readonly zone: string
  readonly zoneIndex: number
}

/**
 * A validated member list, prepared for lookups: members sorted by id (so input order cannot
 * matter and ties break the same way everywhere), ids hashed, zones numbered.
 */
export class MemberTable {
  private constructor(
    readonly members: readonly TableMember[],
    readonly zoneCount: number,
    /** Halves of each member's id hash, by member index: flat arrays keep the scoring loop tight. */
    readonly hashesHi: Int32Array,
    readonly hashesLo: Int32Array,
  ) {}

  /** Validates `members` (throws RangeError on a bad list) and prepares them; empty is allowed. */
  static of(members: readonly PlacementMember[]): MemberTable {
    assertMembers(members)
    const sorted = [...members].sort((a, b) => compareIds(a.id, b.id))
    const zoneIndexes = new Map<string, number>()
    const hashesHi = new Int32Array(sorted.length)
    const hashesLo = new Int32Array(sorted.length)
    const tableMembers = sorted.map((member, index): TableMember => {
      let zoneIndex = zoneIndexes.get(member.zone)
      if (zoneIndex === undefined) {
        zoneIndex = zoneIndexes.size
        zoneIndexes.set(member.zone, zoneIndex)
      }
      const hash = hash64(member.id, NODE_SEEDS)
      hashesHi[index] = hash.hi
      hashesLo[index] = hash.lo
      return { id: member.id, zone: member.zone, zoneIndex }
    })
    return new MemberTable(tableMembers, zoneIndexes.size, hashesHi, hashesLo)
  }

  get size(): number {
    return this.members.length
  }

  /** True when both tables hold the same ids with the same zones (inputs' order never matters). */
  sameAs(other: MemberTable): boolean {
    if (other.members.length !== this.members.length) return false
    for (let i = 0; i < this.members.length; i++) {
      const mine = this.members[i] as TableMember
      const theirs = other.members[i] as TableMember
      if (mine.id !== theirs.id || mine.zone !== theirs.zone) return false
    }
    return true
  }
}

/**
 * The ordered replica set of `key`: min(replicaCount, members) distinct node ids, the first
 * being the preferred leader or host. With zone tags the first min(replicaCount, zoneCount)
 * replicas lie in distinct zones, and the rest are dealt round-robin over the zones, so no
 * zone holds more than its share. No members, no replicas: the result is empty. Throws
 * RangeError on replicaCount < 1 and on a member list with a duplicate or empty id or more
 * than MEMBER_COUNT_MAX members.
 */
export function replicaSet(key: string, members: readonly PlacementMember[], replicaCount: number): string[] {
  assertReplicaCount(replicaCount)
  return rankReplicas(key, MemberTable.of(members), replicaCount)
}

/** `replicaSet` over a prepared table: what hot paths call. */
export function rankReplicas(key: string, table: MemberTable, replicaCount: number): string[] {
  assertReplicaCount(replicaCount)
  if (table.size === 0) return []
  if (replicaCount === 1) return [firstReplica(key, table) as string]
  const order = orderByScore(key, table)
  const chosen = table.zoneCount === 1 ? order : dealOverZones(order, table)
  return chosen.slice(0, replicaCount).map((index) => (table.members[index] as TableMember).id)
}

/**
 * The first replica of `key` (undefined when there are no members): the member with the
 * highest score, ties to the smaller id. Zones do not change it (its zone is the one whose
 * best member scores highest), so it costs one pass and no sort.
 */
export function firstReplica(key: string, table: MemberTable): string | undefined {
  if (table.size === 0) return undefined
  const keyHash = hash64(key)
  const keyHi = keyHash.hi
  const keyLo = keyHash.lo
  const { hashesHi, hashesLo } = table
  let bestIndex = 0
  let bestScore = -1
  for (let i = 0; i < hashesHi.length; i++) {
    const score = rendezvousScore(keyHi, keyLo, hashesHi[i] as number, hashesLo[i] as number)
    // Members are sorted by id, so keeping the first of equal scores keeps the smaller id.
    if (score > bestScore) {
      bestScore = score
      bestIndex = i
    }
  }
  return (table.members[bestIndex] as TableMember).id
}

/** Member indexes by descending score for `key`; equal scores keep id order. */
function orderByScore(key: string, table: MemberTable): number[] {
  const keyHash = hash64(key)
  const scores = new Float64Array(table.size)
  for (let i = 0; i < scores.length; i++) {
    scores[i] = rendezvousScore(keyHash.hi, keyHash.lo, table.hashesHi[i] as number, table.hashesLo[i] as number)
  }
  const order = Array.from(scores, (_, index) => index)
  // Array.prototype.sort is stable (ES2019), and indexes follow id order: ties go to the smaller id.
  order.sort((a, b) => (scores[b] as number) - (scores[a] as number))
  return order
}

/**
 * Deals members round-robin over zones: round r takes the r-th best member of every zone,
 * zones ordered by their best member's score. The first round puts the first replicas in
 * distinct zones; later rounds keep the zones' shares within one of each other (until a
 * zone runs out of members), so losing any one zone loses as few replicas as it can.
 */
function dealOverZones(order: readonly number[], table: MemberTable): number[] {
  const zoneQueues: number[][] = [] // in the order each zone's best member appears
  const queueOfZone = new Map<number, number[]>()
  for (const index of order) {
    const zoneIndex = (table.members[index] as TableMember).zoneIndex
    let queue = queueOfZone.get(zoneIndex)
    if (queue === undefined) {
      queue = []
      queueOfZone.set(zoneIndex, queue)
      zoneQueues.push(queue)
    }
    queue.push(index)
  }
  const dealt: number[] = []
  for (let round = 0; dealt.length < order.length; round++) {
    for (const queue of zoneQueues) {
      const index = queue[round]
      if (index !== undefined) dealt.push(index)
    }
  }
  return dealt
}

/**
 * Compatibility with the static placement: the host of `key` over a plain list of node ids
 * (duplicates ignored, every node untagged). Throws RangeError on an empty list. Callers pass
 * the same list on every message, so the prepared table for the last list is kept: checking
 * that a list is unchanged costs a comparison per id, preparing it a hash per id and a sort.
 */
export function rendezvousNode(key: string, nodeIds: readonly string[]): string {
  if (nodeIds.length === 0) throw new RangeError('rendezvousNode needs at least one node')
  return firstReplica(key, tableOfIds(nodeIds)) as string
}

let lastIds: readonly string[] = []
let lastIdsTable: MemberTable = MemberTable.of([])

function tableOfIds(nodeIds: readonly string[]): MemberTable {
  if (!sameIds(nodeIds, lastIds)) {
    const members = [...new Set(nodeIds)].map((id): PlacementMember => ({ id, zone: '' }))
    lastIdsTable = MemberTable.of(members) // before lastIds: a bad list must not be remembered
    lastIds = [...nodeIds]
  }
  return lastIdsTable
}

function sameIds(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** Code-unit order, the same in every locale (unlike localeCompare). */
function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

function assertReplicaCount(replicaCount: number): void {
  if (!Number.isInteger(replicaCount)) throw new RangeError(`replicaCount must be an integer, got ${replicaCount}`)
  if (replicaCount < 1) throw new RangeError(`replicaCount must be at least 1, got ${replicaCount}`)
}

function assertMembers(members: readonly PlacementMember[]): void {
  if (members.length > MEMBER_COUNT_MAX) {
    throw new RangeError(`placement takes at most ${MEMBER_COUNT_MAX} members, got ${members.length}`)
  }
  const seen = new Set<string>()
  for (const member of members) {
    if (typeof member.id !== 'string' || member.id.length === 0) throw new RangeError('member id must be a non-empty string')
    if (typeof member.zone !== 'string') throw new RangeError(`member '${member.id}' zone must be a string`)
    if (seen.has(member.id)) throw new RangeError(`member '${member.id}' appears twice`)
    seen.add(member.id)
  }
}
