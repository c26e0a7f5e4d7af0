import { assignBalanced, type PlacementMember } from '../../src/placement/index.js'
import { ErrorCode, SkeinError } from '../../src/wire/index.js'
import type { ClusterMetadata } from '../metadata/state.js'

/**
 * Replica sets for `count` new partitions of a topic, numbered from `firstPartition`:
 * consistent hashing with bounded loads over the live members (zones spread), then each
 * partition's preferred leader (its first replica) chosen among its replicas to even out the
 * preferred leaders per node across the whole cluster, existing topics included. Pure: the
 * same inputs give the same assignment.
 */
export function assignPartitions(
  topicId: string,
  firstPartition: number,
  count: number,
  replicationFactor: number,
  members: readonly PlacementMember[],
  metadata: ClusterMetadata,
): string[][] {
  if (!Number.isSafeInteger(replicationFactor) || replicationFactor < 1 || replicationFactor > members.length) {
    throw new SkeinError(ErrorCode.INVALID_REPLICATION_FACTOR, `replication factor ${replicationFactor} needs 1..${members.length} (live nodes)`)
  }
  const keys: string[] = []
  for (let p = firstPartition; p < firstPartition + count; p++) keys.push(`${topicId}/${p}`)
  const placed = assignBalanced(keys, members, replicationFactor)
  const leaderLoad = new Map<string, number>()
  for (const topic of metadata.topics.values()) {
    for (const replicas of topic.partitions) {
      const preferred = replicas[0]
      if (preferred !== undefined) leaderLoad.set(preferred, (leaderLoad.get(preferred) ?? 0) + 1)
    }
  }
  return keys.map((key) => {
    const replicas = placed.get(key)
    if (replicas === undefined || replicas.length !== replicationFactor) throw new Error(`invariant: ${key} placed on ${String(replicas)}`)
    let best = 0
    for (let i = 1; i < replicas.length; i++) {
      if ((leaderLoad.get(replicas[i] as string) ?? 0) < (leaderLoad.get(replicas[best] as string) ?? 0)) best = i
    }
    const leader = replicas[best] as string
    leaderLoad.set(leader, (leaderLoad.get(leader) ?? 0) + 1)
    return [leader, ...replicas.filter((_, i) => i !== best)]
  })
}
