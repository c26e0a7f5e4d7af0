import { MemberTable, type PlacementMember, firstReplica } from '../../src/placement/index.js'
import type { ControllerMembership } from './voters.js'

/** Key hashed to rank candidate nodes for the metadata quorum: every leader picks the same one. */
export const METADATA_PLACEMENT_KEY = '__metadata'

/** What the metadata group's leader knows of the group (its own replica's view). */
export interface VoterGroupView {
  readonly leader: string
  /** The membership in force, committed (no change may be pending when a step is asked for). */
  readonly voters: readonly string[]
  readonly learners: readonly string[]
  /** Each other member's log end offset, as of its last fetch. */
  readonly ends: Readonly<Record<string, number>>
  readonly highWatermark: number
}

export interface VoterReplacementInput {
  readonly view: VoterGroupView
  /** How many voters the group should have: as many as it was founded with. */
  readonly voterCount: number
  /** Members gossip shows alive now (the leader among them), with their zones. */
  readonly live: readonly PlacementMember[]
  /** Members of the group not alive for longer than controllerReplaceAfterMs. */
  readonly deadLong: ReadonlySet<string>
}

/** One single-server membership change of the metadata group; `voters`/`learners` is the membership to propose. */
export type VoterStep = {
  readonly kind: VoterStepKind
  /** The node added, promoted or removed. */
  readonly node: string
  readonly voters: readonly string[]
  readonly learners: readonly string[]
}

export const VoterStepKind = {
  /** A live non-member joins as a learner: it opens the metadata replica and catches up without voting. */
  addLearner: 'addLearner',
  /** A learner that reached the high watermark becomes a voter. */
  promote: 'promote',
  /** A voter dead past the grace period leaves, now that its replacement votes. */
  removeVoter: 'removeVoter',
  /** A learner no longer needed (the dead voter came back) or itself dead past the grace period leaves. */
  removeLearner: 'removeLearner',
} as const
export type VoterStepKind = (typeof VoterStepKind)[keyof typeof VoterStepKind]

/**
 * The next membership change replacing metadata voters that stay dead, or undefined. A
 * replacement goes: add a live non-member as a learner, promote it once it holds everything
 * committed, then remove the dead voter; so the group never has fewer voters than before and
 * never removes a voter before its replacement votes. Nothing is done while gossip shows no
 * majority of the voters alive (the group could not commit the change anyway, and a leader
 * that cannot reach a quorum must not act on its view). One step per call: each must commit
 * before the next is decided from the new membership. Pure.
 */
export function nextVoterStep(input: VoterReplacementInput): VoterStep | undefined {
  const { view, deadLong } = input
  const liveIds = new Set(input.live.map((member) => member.id))
  const liveVoters = view.voters.filter((id) => liveIds.has(id))
  if (liveVoters.length * 2 <= view.voters.length) return undefined
  const healthyCount = view.voters.filter((id) => !deadLong.has(id)).length
  if (healthyCount < input.voterCount) {
    const ready = view.learners.find((id) => liveIds.has(id) && (view.ends[id] ?? -1) >= view.highWatermark)
    if (ready !== undefined) return step('promote', ready, [...view.voters, ready], view.learners.filter((id) => id !== ready))
  }
  if (view.voters.length > input.voterCount) {
    const dead = view.voters.find((id) => id !== view.leader && deadLong.has(id))
    if (dead !== undefined) return step('removeVoter', dead, view.voters.filter((id) => id !== dead), view.learners)
  }
  const unneeded = view.learners.find((id) => deadLong.has(id) || healthyCount >= input.voterCount)
  if (unneeded !== undefined) return step('removeLearner', unneeded, view.voters, view.learners.filter((id) => id !== unneeded))
  if (healthyCount >= input.voterCount || view.learners.length > 0) return undefined
  const chosen = chooseReplacement(input.live, view, deadLong)
  return chosen === undefined ? undefined : step('addLearner', chosen, view.voters, [...view.learners, chosen])
}

/**
 * A live node outside the group to join it: one in a zone no healthy voter is in if there is
 * such a node, else any; among those, the first by rendezvous hashing of a fixed key, so the
 * choice is the same on every leader for the same members.
 */
export function chooseReplacement(live: readonly PlacementMember[], view: VoterGroupView, deadLong: ReadonlySet<string>): string | undefined {
  const members = new Set([...view.voters, ...view.learners])
  const candidates = live.filter((member) => !members.has(member.id) && !deadLong.has(member.id))
  const usedZones = new Set(live.filter((member) => view.voters.includes(member.id) && !deadLong.has(member.id)).map((member) => member.zone))
  const elsewhere = candidates.filter((member) => !usedZones.has(member.zone))
  const pool = elsewhere.length > 0 ? elsewhere : candidates
  return firstReplica(METADATA_PLACEMENT_KEY, MemberTable.of(pool))
}

function step(kind: VoterStepKind, node: string, voters: readonly string[], learners: readonly string[]): VoterStep {
  return { kind, node, voters: [...voters].sort(), learners: [...learners].sort() }
}

/**
 * The Raft bootstrap membership a node opens its metadata replica with, or undefined when the
 * node is not in the group (it must not host the replica). The voters are the founding ones,
 * true of the log before its first membership record; every other current member is added as a
 * learner, which changes no vote but lets this replica hear a leader outside the founding set
 * before it has read the records naming it. A founding node that starts a fresh log after the
 * group changed (it was removed and its data dropped, or its disk was lost) comes back as a
 * learner: an empty log must never vote until a promotion in the log says so.
 */
export function metadataReplicaBootstrap(self: string, membership: ControllerMembership, logExists: boolean): { voters: string[]; learners: string[] } | undefined {
  const current = new Set([...membership.voters, ...membership.learners])
  if (!current.has(self)) return undefined
  const founding = [...new Set(membership.founding)].sort()
  const demote = !logExists && membership.offset >= 0 && founding.includes(self) && founding.length > 1
  const voters = demote ? founding.filter((id) => id !== self) : founding
  const learners = [...current].filter((id) => !voters.includes(id)).sort()
  return { voters, learners }
}
