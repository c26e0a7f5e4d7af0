import { MemberTable, type PlacementMember, rankReplicas } from './replica-set.js'

/**
 * How far above the mean any member's load may go in `assignBalanced`: 1.25 keeps every
 * member within 25% of its fair share while each key still lands on one of its top choices.
 */
export const LOAD_FACTOR_DEFAULT = 1.25

/**
 * Places a known set of keys (a cluster's partitions, say) with bounded loads: consistent
 * hashing with bounded loads (Mirrokni, Thorup, Zadimoghaddam). Each member may hold at most
 * ceil(loadFactor * keys * replicas / members) replicas; keys are placed in a fixed order
 * (sorted), each replica going to the highest-ranked member of the key's rendezvous order
 * (zones respected as in `replicaSet`) that is below that cap.
 *
 * Per-key hashing alone (`replicaSet`) cannot promise a cap: with 1,000 keys over 10 nodes the
 * busiest node exceeds 1.25x the mean for ~4.5% of member namings, as any uniform hash would.
 * This function can, because it sees every key. The result depends only on the key set and
 * the members, not on their order. Returns key -> ordered replica ids.
 */
export function assignBalanced(
  keys: readonly string[],
  members: readonly PlacementMember[],
  replicaCount: number,
  loadFactor = LOAD_FACTOR_DEFAULT,
): Map<string, string[]> {
  if (!(loadFactor >= 1)) throw new RangeError(`loadFactor must be >= 1, got ${loadFactor}`)
  const table = MemberTable.of(members)
  const assignment = new Map<string, string[]>()
  if (table.size === 0) return assignment
  const replicasPerKey = Math.min(replicaCount, table.size)
  const sortedKeys = [...new Set(keys)].sort()
  const capacity = Math.ceil((loadFactor * sortedKeys.length * replicasPerKey) / table.size)
  const load = new Map<string, number>()
  for (const key of sortedKeys) {
    const chosen: string[] = []
    for (const nodeId of rankReplicas(key, table, table.size)) {
      if ((load.get(nodeId) ?? 0) >= capacity) continue
      chosen.push(nodeId)
      load.set(nodeId, (load.get(nodeId) ?? 0) + 1)
      if (chosen.length === replicasPerKey) break
    }
    // Total capacity >= loadFactor * demand >= demand, so some member always has room.
    if (chosen.length !== replicasPerKey) throw new Error(`invariant: no capacity left for ${key}`)
    assignment.set(key, chosen)
  }
  return assignment
}
