import type { GroupAssignorName } from '../wire/broker-protocol.js'

/**
 * Partition assignors for consumer groups: who in a group reads which partitions. Pure
 * functions of the members' subscriptions (and, for the sticky assignor, what each member owns
 * now) and the partition count of each topic: the group's leader member runs one, the
 * coordinator stores and hands out the result. Deterministic: members and partitions are
 * taken in sorted order, so every run on the same input gives the same assignment.
 *
 * - `range` (Kafka's RangeAssignor): per topic, the subscribed members in id order each take a
 *   contiguous range; the first `partitions % members` take one more.
 * - `roundrobin` (Kafka's RoundRobinAssignor): all partitions in (topic, partition) order dealt
 *   to the members in id order, skipping members not subscribed to the partition's topic.
 * - `cooperative-sticky` (Kafka's CooperativeStickyAssignor, KIP-429): balanced (member counts
 *   differ by at most one among members with the same subscriptions) while keeping every
 *   partition where it is unless balance needs it moved. With the cooperative protocol a
 *   partition never goes straight from one member to another: `cooperativeAssignment` holds a
 *   moving partition back from its new owner until the old owner has revoked it (the next
 *   rebalance hands it over), so no partition is ever read by two members at once.
 */

export interface TopicPartition {
  readonly topic: string
  readonly partition: number
}

export interface MemberSubscription {
  readonly memberId: string
  readonly topics: readonly string[]
  /** What the member owns now (cooperative-sticky keeps it where it can); empty for a new member. */
  readonly owned: readonly TopicPartition[]
}

/** Member id -> the partitions it is to own, in (topic, partition) order. */
export type Assignment = Map<string, TopicPartition[]>

/** The protocol's names (JoinGroupRequest.assignors). */
export type AssignorName = GroupAssignorName

export const ASSIGNOR_NAMES: readonly AssignorName[] = ['range', 'roundrobin', 'cooperative-sticky']

/**
 * Assigns every partition of every subscribed topic to exactly one member subscribed to that
 * topic. Topics missing from `partitionsPerTopic` (deleted, or not created yet) are left out.
 */
export function assign(name: AssignorName, members: readonly MemberSubscription[], partitionsPerTopic: ReadonlyMap<string, number>): Assignment {
  const sorted = [...members].sort((a, b) => compareIds(a.memberId, b.memberId))
  switch (name) {
    case 'range':
      return rangeAssign(sorted, partitionsPerTopic)
    case 'roundrobin':
      return roundRobinAssign(sorted, partitionsPerTopic)
    case 'cooperative-sticky':
      return stickyAssign(sorted, partitionsPerTopic)
  }
}

/**
 * The cooperative protocol's step on top of a target assignment: each member gets its target
 * minus partitions another member still owns (those are revoked from the owner now and handed
 * over in the next rebalance). `revoking` lists, per owner, what it must give up;
 * `rebalanceAgain` is true when anything was held back.
 */
export function cooperativeAssignment(target: Assignment, members: readonly MemberSubscription[]): { assignment: Assignment; revoking: Map<string, TopicPartition[]>; rebalanceAgain: boolean } {
  const ownerOf = new Map<string, string>()
  for (const member of members) for (const tp of member.owned) ownerOf.set(keyOf(tp), member.memberId)
  const assignment: Assignment = new Map()
  const revoking = new Map<string, TopicPartition[]>()
  let rebalanceAgain = false
  for (const [memberId, partitions] of target) {
    const granted: TopicPartition[] = []
    for (const tp of partitions) {
      const owner = ownerOf.get(keyOf(tp))
      if (owner === undefined || owner === memberId) {
        granted.push(tp)
        continue
      }
      rebalanceAgain = true
      const list = revoking.get(owner) ?? []
      list.push(tp)
      revoking.set(owner, list)
    }
    assignment.set(memberId, granted)
  }
  // A partition an owner keeps no longer in the target (its topic deleted, say) is revoked too.
  const targetOwner = new Map<string, string>()
  for (const [memberId, partitions] of target) for (const tp of partitions) targetOwner.set(keyOf(tp), memberId)
  for (const member of members) {
    for (const tp of member.owned) {
      if (targetOwner.has(keyOf(tp))) continue
      const list = revoking.get(member.memberId) ?? []
      if (!list.some((other) => keyOf(other) === keyOf(tp))) list.push(tp)
      revoking.set(member.memberId, list)
    }
  }
  for (const list of revoking.values()) list.sort(comparePartitions)
  return { assignment, revoking, rebalanceAgain }
}

// ---- range ----

function rangeAssign(members: readonly MemberSubscription[], partitionsPerTopic: ReadonlyMap<string, number>): Assignment {
  const assignment = emptyAssignment(members)
  for (const topic of subscribedTopics(members, partitionsPerTopic)) {
    const subscribers = members.filter((member) => member.topics.includes(topic))
    const count = partitionsPerTopic.get(topic) as number
    const perMember = Math.floor(count / subscribers.length)
    const withExtra = count % subscribers.length
    let next = 0
    subscribers.forEach((member, index) => {
      const take = perMember + (index < withExtra ? 1 : 0)
      const list = assignment.get(member.memberId) as TopicPartition[]
      for (let i = 0; i < take; i++) list.push({ topic, partition: next++ })
    })
  }
  return sortAll(assignment)
}

// ---- round robin ----

function roundRobinAssign(members: readonly MemberSubscription[], partitionsPerTopic: ReadonlyMap<string, number>): Assignment {
  const assignment = emptyAssignment(members)
  let cursor = 0
  for (const tp of allPartitions(subscribedTopics(members, partitionsPerTopic), partitionsPerTopic)) {
    // Deal to the next member (circularly) subscribed to this topic; one exists, or the topic would not be listed.
    for (let step = 0; step < members.length; step++) {
      const member = members[(cursor + step) % members.length] as MemberSubscription
      if (!member.topics.includes(tp.topic)) continue
      ;(assignment.get(member.memberId) as TopicPartition[]).push(tp)
      cursor = (cursor + step + 1) % members.length
      break
    }
  }
  return sortAll(assignment)
}

// ---- cooperative sticky ----

function stickyAssign(members: readonly MemberSubscription[], partitionsPerTopic: ReadonlyMap<string, number>): Assignment {
  const subscribed = new Map(members.map((member) => [member.memberId, new Set(member.topics)]))
  const owner = new Map<string, string>()
  const owned = new Map<string, TopicPartition[]>(members.map((member) => [member.memberId, []]))
  const exists = (tp: TopicPartition): boolean => {
    const count = partitionsPerTopic.get(tp.topic)
    return count !== undefined && Number.isInteger(tp.partition) && tp.partition >= 0 && tp.partition < count
  }
  // 1. Keep what members own, where still valid: subscribed, existing, claimed by no one before (ids in order).
  for (const member of members) {
    for (const tp of [...member.owned].sort(comparePartitions)) {
      const key = keyOf(tp)
      if (owner.has(key) || !exists(tp) || !subscribed.get(member.memberId)?.has(tp.topic)) continue
      owner.set(key, member.memberId)
      ;(owned.get(member.memberId) as TopicPartition[]).push({ topic: tp.topic, partition: tp.partition })
    }
  }
  const eligible = (memberId: string, tp: TopicPartition): boolean => subscribed.get(memberId)?.has(tp.topic) === true
  const countOf = (memberId: string): number => (owned.get(memberId) as TopicPartition[]).length
  /** The eligible member with the fewest partitions (first by id on a tie), or undefined. */
  const leastLoaded = (tp: TopicPartition, except?: string): string | undefined => {
    let best: string | undefined
    for (const member of members) {
      if (member.memberId === except || !eligible(member.memberId, tp)) continue
      if (best === undefined || countOf(member.memberId) < countOf(best)) best = member.memberId
    }
    return best
  }
  // 2. Every unowned partition to the least loaded eligible member.
  for (const tp of allPartitions(subscribedTopics(members, partitionsPerTopic), partitionsPerTopic)) {
    if (owner.has(keyOf(tp))) continue
    const to = leastLoaded(tp)
    if (to === undefined) continue
    owner.set(keyOf(tp), to)
    ;(owned.get(to) as TopicPartition[]).push(tp)
  }
  // 3. Balance: while some partition can move from a member to an eligible one with at least
  //    two fewer, move one (from the most loaded member first, its last partitions first).
  //    Each move lowers the sum of squared counts, so this ends.
  for (;;) {
    let moved = false
    const byLoad = [...members].sort((a, b) => countOf(b.memberId) - countOf(a.memberId) || compareIds(a.memberId, b.memberId))
    for (const from of byLoad) {
      const list = (owned.get(from.memberId) as TopicPartition[]).sort(comparePartitions)
      for (let i = list.length - 1; i >= 0 && !moved; i--) {
        const tp = list[i] as TopicPartition
        const to = leastLoaded(tp, from.memberId)
        if (to === undefined || countOf(to) + 1 >= countOf(from.memberId)) continue
        list.splice(i, 1)
        ;(owned.get(to) as TopicPartition[]).push(tp)
        owner.set(keyOf(tp), to)
        moved = true
      }
      if (moved) break
    }
    if (!moved) break
  }
  return sortAll(owned)
}

// ---- shared ----

function emptyAssignment(members: readonly MemberSubscription[]): Assignment {
  return new Map(members.map((member) => [member.memberId, []]))
}

/** Topics some member subscribes to and that exist, sorted. */
function subscribedTopics(members: readonly MemberSubscription[], partitionsPerTopic: ReadonlyMap<string, number>): string[] {
  const topics = new Set<string>()
  for (const member of members) for (const topic of member.topics) if ((partitionsPerTopic.get(topic) ?? 0) > 0) topics.add(topic)
  return [...topics].sort(compareIds)
}

function allPartitions(topics: readonly string[], partitionsPerTopic: ReadonlyMap<string, number>): TopicPartition[] {
  return topics.flatMap((topic) => Array.from({ length: partitionsPerTopic.get(topic) as number }, (_, partition) => ({ topic, partition })))
}

function sortAll(assignment: Assignment): Assignment {
  for (const list of assignment.values()) list.sort(comparePartitions)
  return assignment
}

function comparePartitions(a: TopicPartition, b: TopicPartition): number {
  return compareIds(a.topic, b.topic) || a.partition - b.partition
}

/** Plain code-unit order, the same on every node (no locale). */
function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

function keyOf(tp: TopicPartition): string {
  return `${tp.topic}/${tp.partition}`
}
