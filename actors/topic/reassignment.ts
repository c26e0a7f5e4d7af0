import { MemberTable, type PlacementMember, rankReplicas } from '../../src/placement/index.js'

/** What the partition's leader says of its Raft group (from its replicaStatus). */
export interface LeaderView {
  readonly leader: string
  readonly voters: readonly string[]
  readonly learners: readonly string[]
  /** Each other replica's log end offset. */
  readonly ends: Readonly<Record<string, number>>
  readonly highWatermark: number
}

export interface MoveInput {
  /** Topic id and partition, hashed to choose a replacement node. */
  readonly partitionKey: string
  /** The partition's replica list in the metadata, preferred leader first. */
  readonly replicas: readonly string[]
  readonly replicationFactor: number
  /** Members gossip shows alive now. */
  readonly live: readonly PlacementMember[]
  /** Nodes not alive for longer than replica.reassign.after.ms. */
  readonly deadLong: ReadonlySet<string>
  readonly view: LeaderView
}

export type MoveStep =
  /** Metadata: list a replacement node, whose broker then opens an (empty) replica. */
  | { readonly kind: 'addReplica'; readonly replicas: readonly string[] }
  /** Leader: add the new replica to the Raft group as a learner, to catch up without voting. */
  | { readonly kind: 'addLearner'; readonly voters: readonly string[]; readonly learners: readonly string[] }
  /** Leader: the learner caught up to the high watermark; it becomes a voter. */
  | { readonly kind: 'promote'; readonly voters: readonly string[]; readonly learners: readonly string[] }
  /** Leader: the dead replica leaves the Raft group, now that its replacement votes (or a voter the list no longer names leaves). */
  | { readonly kind: 'removeVoter'; readonly voters: readonly string[]; readonly learners: readonly string[] }
  /** Leader: a learner the list no longer names (its move was undone or superseded) leaves the Raft group. */
  | { readonly kind: 'removeLearner'; readonly voters: readonly string[]; readonly learners: readonly string[] }
  /** Metadata: the dead replica, no longer in the Raft group, leaves the list (or a surplus one, see nextMoveStep). */
  | { readonly kind: 'dropReplica'; readonly replicas: readonly string[] }
  /** Leader: hand leadership to the preferred (first) replica, which is caught up. */
  | { readonly kind: 'preferLeader'; readonly target: string }

/**
 * The next step of moving a partition off long-dead nodes, or of returning its leadership to
 * its preferred replica; undefined when there is nothing to do. A move goes: list a
 * replacement, add it as a learner, promote it once caught up, remove the dead voter, drop it
 * from the list, so the group never has fewer voters than before and a new replica votes only
 * once it holds everything committed. One step per call: each must commit (the Raft group
 * refuses a second membership change while one is pending; the metadata refuses a stale
 * version) before the next is decided from fresh state. Pure.
 */
export function nextMoveStep(input: MoveInput): MoveStep | undefined {
  const { replicas, view, live, deadLong } = input
  const liveIds = new Set(live.map((member) => member.id))
  const members = new Set([...view.voters, ...view.learners])
  const caughtUp = (nodeId: string): boolean => (view.ends[nodeId] ?? -1) >= view.highWatermark
  const healthy = (nodeId: string): boolean => liveIds.has(nodeId) && !deadLong.has(nodeId)
  if (replicas.length > input.replicationFactor) {
    // A move whose dead node came back before it was removed: undo it, dropping the newest
    // listed replica (moves append it). First from the group, once every listed replica votes
    // and holds the committed log; then from the list, once the others are enough voters.
    // In that order because a broker deletes a replica's data when the list drops it.
    const others = (nodeId: string): string[] => replicas.filter((id) => id !== nodeId)
    const idle = replicas.find((nodeId) => !members.has(nodeId) && others(nodeId).every((id) => view.voters.includes(id) && healthy(id)))
    if (idle !== undefined && others(idle).length >= input.replicationFactor) return { kind: 'dropReplica', replicas: others(idle) }
    if (replicas.every((nodeId) => view.voters.includes(nodeId) && healthy(nodeId) && (nodeId === view.leader || caughtUp(nodeId)))) {
      const surplus = [...replicas].reverse().find((nodeId) => nodeId !== view.leader)
      if (surplus !== undefined) return { kind: 'removeVoter', voters: view.voters.filter((id) => id !== surplus), learners: view.learners }
    }
  }
  for (const nodeId of replicas) {
    if (!members.has(nodeId) && liveIds.has(nodeId)) return { kind: 'addLearner', voters: view.voters, learners: [...view.learners, nodeId] }
  }
  for (const nodeId of view.learners) {
    if (replicas.includes(nodeId) && caughtUp(nodeId)) {
      return { kind: 'promote', voters: [...view.voters, nodeId], learners: view.learners.filter((id) => id !== nodeId) }
    }
  }
  if (view.voters.length > input.replicationFactor) {
    const dead = view.voters.find((nodeId) => nodeId !== view.leader && deadLong.has(nodeId))
    if (dead !== undefined) return { kind: 'removeVoter', voters: view.voters.filter((id) => id !== dead), learners: view.learners }
  }
  for (const nodeId of replicas) {
    if (!members.has(nodeId) && deadLong.has(nodeId)) return { kind: 'dropReplica', replicas: replicas.filter((id) => id !== nodeId) }
  }
  // Members the list does not name: left behind when the list changed under a move decided
  // on a stale view. No broker hosts them, so they leave.
  const strayLearner = view.learners.find((nodeId) => !replicas.includes(nodeId))
  if (strayLearner !== undefined) return { kind: 'removeLearner', voters: view.voters, learners: view.learners.filter((id) => id !== strayLearner) }
  const strayVoter = view.voters.find((nodeId) => !replicas.includes(nodeId) && nodeId !== view.leader)
  if (strayVoter !== undefined && view.voters.length > input.replicationFactor) {
    return { kind: 'removeVoter', voters: view.voters.filter((id) => id !== strayVoter), learners: view.learners }
  }
  if (replicas.filter((nodeId) => !deadLong.has(nodeId)).length < input.replicationFactor) {
    const candidates = live.filter((member) => !replicas.includes(member.id))
    const chosen = rankReplicas(input.partitionKey, MemberTable.of(candidates), 1)[0]
    if (chosen !== undefined) return { kind: 'addReplica', replicas: [...replicas, chosen] }
  }
  const preferred = replicas[0]
  if (preferred !== undefined && preferred !== view.leader && view.voters.includes(preferred) && liveIds.has(preferred) && caughtUp(preferred)) {
    return { kind: 'preferLeader', target: preferred }
  }
  return undefined
}
