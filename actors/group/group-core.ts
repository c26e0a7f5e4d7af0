import { ErrorCode, SkeinError } from '../../src/wire/errors.js'
import { type AssignorName, type MemberSubscription, type TopicPartition } from '../../src/client/assignors.js'

/**
 * One consumer group's membership, as a pure state machine (Kafka's classic group protocol):
 * fed join, sync, heartbeat and leave requests and clock ticks, it returns the answers to send
 * (a join or sync answer may wait for other members). The coordinator actor runs it and does
 * the I/O; tests feed it directly.
 *
 *   empty --join--> preparingRebalance --all known members joined, or rebalance timeout-->
 *   completingRebalance --leader's sync (the assignment)--> stable
 *   stable --a join that changes anything, a leave, a session expiry--> preparingRebalance
 *
 * A rebalance bumps the generation; every sync and heartbeat names the generation it belongs
 * to and a stale one is refused (ILLEGAL_GENERATION), so a member that missed a rebalance
 * cannot act on an old assignment. The leader member (kept across generations while it stays)
 * gets every member's subscription and runs the assignor; the others get their share at sync.
 * The coordinator checks the leader's assignment: known members only, no partition twice.
 *
 * Static members (`groupInstanceId`) come back after a restart under a new member id without a
 * rebalance, as long as their session has not expired and their subscription is unchanged: the
 * old id is fenced (FENCED_INSTANCE_ID) and the new one takes over its assignment.
 */

export type GroupState = 'empty' | 'preparingRebalance' | 'completingRebalance' | 'stable'

export interface GroupLimits {
  /** Shortest and longest session timeout a member may ask for (Kafka's group.min/max.session.timeout.ms). */
  readonly sessionTimeoutMsMin: number
  readonly sessionTimeoutMsMax: number
  /** Members per group, at most (Kafka's group.max.size). */
  readonly membersMax: number
  /**
   * An empty group's first rebalance waits this long for more members (each joiner restarts the
   * wait, up to the rebalance timeout), so members starting together form one generation instead
   * of one rebalance each (Kafka's group.initial.rebalance.delay.ms).
   */
  readonly initialRebalanceDelayMs: number
}

export const GROUP_LIMITS_DEFAULT: GroupLimits = { sessionTimeoutMsMin: 1_000, sessionTimeoutMsMax: 300_000, membersMax: 1_000, initialRebalanceDelayMs: 3_000 }

export interface JoinRequest {
  /** '' for a member joining for the first time (the coordinator gives it an id). */
  readonly memberId: string
  readonly groupInstanceId?: string
  /** No heartbeat for this long and the member is removed. */
  readonly sessionTimeoutMs: number
  /** How long a rebalance waits for this member to rejoin (Kafka's max.poll.interval.ms). */
  readonly rebalanceTimeoutMs: number
  /** Assignors this member can run, preferred first. */
  readonly assignors: readonly AssignorName[]
  readonly topics: readonly string[]
  /** Partitions it owns now (cooperative rebalancing keeps them where it can). */
  readonly owned: readonly TopicPartition[]
}

export interface JoinAnswer {
  readonly memberId: string
  readonly generation: number
  readonly leaderId: string
  readonly assignor: AssignorName
  /** Every member's subscription, for the leader only (empty for the others). */
  readonly members: readonly MemberSubscription[]
}

export interface SyncRequest {
  readonly memberId: string
  readonly generation: number
  /** From the leader: member id -> partitions. Others send none. */
  readonly assignments?: ReadonlyMap<string, readonly TopicPartition[]>
}

export type GroupEffect<RequestId> =
  | { readonly kind: 'joined'; readonly requestId: RequestId; readonly answer: JoinAnswer }
  | { readonly kind: 'synced'; readonly requestId: RequestId; readonly assignment: readonly TopicPartition[] }
  | { readonly kind: 'failed'; readonly requestId: RequestId; readonly error: SkeinError }

interface Member<RequestId> {
  readonly memberId: string
  readonly instanceId: string | undefined
  sessionTimeoutMs: number
  rebalanceTimeoutMs: number
  assignors: readonly AssignorName[]
  topics: readonly string[]
  owned: readonly TopicPartition[]
  assignment: readonly TopicPartition[]
  lastHeardMs: number
  pendingJoin: RequestId | undefined
  pendingSync: RequestId | undefined
}

export interface GroupDescription {
  readonly state: GroupState
  readonly generation: number
  readonly leaderId: string | undefined
  readonly assignor: AssignorName | undefined
  readonly members: readonly { memberId: string; instanceId: string | undefined; topics: readonly string[]; assignment: readonly TopicPartition[] }[]
}

/** What a group record keeps of a settled generation: enough for another coordinator to resume it. */
export interface GroupSnapshot {
  readonly generation: number
  readonly leaderId: string | undefined
  readonly assignor: AssignorName | undefined
  readonly members: readonly {
    readonly memberId: string
    readonly instanceId: string | undefined
    readonly sessionTimeoutMs: number
    readonly rebalanceTimeoutMs: number
    readonly assignors: readonly AssignorName[]
    readonly topics: readonly string[]
    readonly assignment: readonly TopicPartition[]
  }[]
}

export class GroupCore<RequestId> {
  private state: GroupState = 'empty'
  private generation = 0
  private leaderId: string | undefined
  private assignor: AssignorName | undefined
  private readonly members = new Map<string, Member<RequestId>>()
  /** Member ids a static member's restart replaced -> its instance id (the latest membersMax), so the old process learns it is fenced. */
  private readonly fencedIds = new Map<string, string>()
  /** When a rebalance stops waiting for members that have not rejoined (preparing) or for the leader's sync (completing). */
  private deadlineMs = 0
  /** An empty group's first rebalance completes no earlier than this (initialRebalanceDelayMs). */
  private joinNotBeforeMs = 0

  constructor(
    readonly groupId: string,
    /** A fresh member id, never handed out before in this group (the shell makes it unique). */
    private readonly newMemberId: (groupInstanceId: string | undefined) => string,
    private readonly limits: GroupLimits = GROUP_LIMITS_DEFAULT,
  ) {}

  describe(): GroupDescription {
    return {
      state: this.state,
      generation: this.generation,
      leaderId: this.leaderId,
      assignor: this.assignor,
      members: [...this.members.values()].map((m) => ({ memberId: m.memberId, instanceId: m.instanceId, topics: m.topics, assignment: m.assignment })),
    }
  }

  get currentState(): GroupState {
    return this.state
  }

  get currentGeneration(): number {
    return this.generation
  }

  get memberCount(): number {
    return this.members.size
  }

  /** The settled generation, for the group record; only meaningful while stable. */
  snapshot(): GroupSnapshot {
    return {
      generation: this.generation,
      leaderId: this.leaderId,
      assignor: this.assignor,
      members: [...this.members.values()].map((m) => ({
        memberId: m.memberId,
        instanceId: m.instanceId,
        sessionTimeoutMs: m.sessionTimeoutMs,
        rebalanceTimeoutMs: m.rebalanceTimeoutMs,
        assignors: m.assignors,
        topics: m.topics,
        assignment: m.assignment,
      })),
    }
  }

  /**
   * Resumes a generation from its group record, on a fresh core (a coordinator taking over):
   * stable with those members and assignments, every session starting now, so members that
   * kept heartbeating go on without a rebalance and dead ones expire.
   */
  restore(snapshot: GroupSnapshot, nowMs: number): void {
    if (this.generation !== 0 || this.members.size > 0) throw new Error(`invariant: group ${this.groupId} restored over live state`)
    this.generation = snapshot.generation
    for (const m of snapshot.members) {
      this.members.set(m.memberId, {
        memberId: m.memberId,
        instanceId: m.instanceId ?? undefined,
        sessionTimeoutMs: m.sessionTimeoutMs,
        rebalanceTimeoutMs: m.rebalanceTimeoutMs,
        assignors: m.assignors,
        topics: m.topics,
        owned: m.assignment,
        assignment: m.assignment,
        lastHeardMs: nowMs,
        pendingJoin: undefined,
        pendingSync: undefined,
      })
    }
    if (this.members.size === 0) return this.toEmpty()
    this.state = 'stable'
    this.leaderId = snapshot.leaderId !== undefined && this.members.has(snapshot.leaderId) ? snapshot.leaderId : [...this.members.keys()].sort()[0]
    this.assignor = snapshot.assignor
  }

  join(requestId: RequestId, request: JoinRequest, nowMs: number): GroupEffect<RequestId>[] {
    const effects: GroupEffect<RequestId>[] = []
    const refused = this.checkJoin(request)
    if (refused !== undefined) return [{ kind: 'failed', requestId, error: refused }]
    let member = request.memberId === '' ? undefined : this.members.get(request.memberId)
    if (request.memberId !== '' && member === undefined) {
      return [{ kind: 'failed', requestId, error: new SkeinError(ErrorCode.UNKNOWN_MEMBER_ID, `group '${this.groupId}' has no member ${request.memberId}`) }]
    }
    if (member === undefined && request.groupInstanceId !== undefined) {
      const previous = [...this.members.values()].find((m) => m.instanceId === request.groupInstanceId)
      if (previous !== undefined) return this.rejoinStatic(requestId, previous, request, nowMs)
    }
    const isNew = member === undefined
    if (member === undefined) {
      if (this.members.size >= this.limits.membersMax) {
        return [{ kind: 'failed', requestId, error: new SkeinError(ErrorCode.GROUP_MAX_SIZE_REACHED, `group '${this.groupId}' has ${this.members.size} members, the most it takes`) }]
      }
      member = this.addMember(this.newMemberId(request.groupInstanceId), request, nowMs)
    } else if (member.pendingJoin !== undefined && member.pendingJoin !== requestId) {
      // A newer join from the same member replaces the one waiting: the old request is over.
      effects.push({ kind: 'failed', requestId: member.pendingJoin, error: new SkeinError(ErrorCode.REBALANCE_IN_PROGRESS, 'replaced by a newer join of the same member') })
    }
    const changed = this.update(member, request, nowMs) || isNew
    member.pendingJoin = requestId
    if (this.state === 'stable' && !changed && member.memberId !== this.leaderId) {
      // Nothing new: the member rejoins the current generation and syncs for its assignment.
      member.pendingJoin = undefined
      effects.push({ kind: 'joined', requestId, answer: this.joinAnswer(member) })
      return effects
    }
    if (this.state === 'empty') this.joinNotBeforeMs = nowMs + this.limits.initialRebalanceDelayMs
    else if (isNew && this.joinNotBeforeMs > nowMs) this.joinNotBeforeMs = Math.min(nowMs + this.limits.initialRebalanceDelayMs, nowMs + request.rebalanceTimeoutMs)
    if (this.state !== 'preparingRebalance') effects.push(...this.prepareRebalance(nowMs))
    effects.push(...this.maybeCompleteJoin(nowMs))
    return effects
  }

  sync(requestId: RequestId, request: SyncRequest, nowMs: number): GroupEffect<RequestId>[] {
    const member = this.members.get(request.memberId)
    const refused = this.checkGeneration(member, request.memberId, request.generation)
    if (refused !== undefined) return [{ kind: 'failed', requestId, error: refused }]
    const known = member as Member<RequestId>
    known.lastHeardMs = nowMs
    if (this.state === 'preparingRebalance') return [{ kind: 'failed', requestId, error: this.rebalancing() }]
    if (this.state === 'stable') return [{ kind: 'synced', requestId, assignment: known.assignment }]
    // completingRebalance: wait for the leader's assignment, or apply it.
    const effects: GroupEffect<RequestId>[] = []
    if (known.pendingSync !== undefined) effects.push({ kind: 'failed', requestId: known.pendingSync, error: new SkeinError(ErrorCode.REBALANCE_IN_PROGRESS, 'replaced by a newer sync of the same member') })
    known.pendingSync = requestId
    if (known.memberId !== this.leaderId) return effects
    const invalid = this.checkAssignments(request.assignments)
    if (invalid !== undefined) {
      known.pendingSync = undefined
      effects.push({ kind: 'failed', requestId, error: invalid })
      return effects
    }
    for (const m of this.members.values()) m.assignment = [...(request.assignments?.get(m.memberId) ?? [])]
    this.state = 'stable'
    for (const m of this.members.values()) {
      m.lastHeardMs = nowMs
      if (m.pendingSync === undefined) continue
      effects.push({ kind: 'synced', requestId: m.pendingSync, assignment: m.assignment })
      m.pendingSync = undefined
    }
    return effects
  }

  /** A heartbeat: undefined when all is well, else the error to answer (the member then rejoins). */
  heartbeat(memberId: string, generation: number, nowMs: number): SkeinError | undefined {
    const member = this.members.get(memberId)
    const refused = this.checkGeneration(member, memberId, generation)
    if (refused !== undefined) return refused
    ;(member as Member<RequestId>).lastHeardMs = nowMs
    return this.state === 'preparingRebalance' ? this.rebalancing() : undefined
  }

  /**
   * May this commit be written? A member commits under its current generation, for partitions
   * its assignment gives it (cooperative: or that it declared owned in its join); also while the group prepares a rebalance (so a member can commit
   * what it processed before rejoining), not while it waits for the leader's assignment. A
   * commit outside membership (`memberId` '' and generation -1, an assign()-only consumer) is
   * taken only while the group has no members. Nothing changes either way.
   */
  checkCommit(memberId: string, generation: number, partitions: readonly TopicPartition[]): SkeinError | undefined {
    if (memberId === '' && generation === -1) {
      return this.members.size === 0 ? undefined : new SkeinError(ErrorCode.UNKNOWN_MEMBER_ID, `group '${this.groupId}' has members: only they commit its offsets`)
    }
    const member = this.members.get(memberId)
    const refused = this.checkGeneration(member, memberId, generation)
    if (refused !== undefined) return refused
    if (this.state === 'completingRebalance') return this.rebalancing()
    // Its assignment; under the cooperative protocol also what it still owned when it last
    // joined: it commits the partitions it gives up after the sync that took them, and the
    // cooperative assignment gives nobody a partition another member still owns.
    const known = member as Member<RequestId>
    const mayCommit = this.assignor === 'cooperative-sticky' ? [...known.assignment, ...known.owned] : known.assignment
    const owned = new Set(mayCommit.map((tp) => `${tp.topic}/${tp.partition}`))
    const foreign = partitions.find((tp) => !owned.has(`${tp.topic}/${tp.partition}`))
    if (foreign !== undefined) return new SkeinError(ErrorCode.PARTITION_NOT_ASSIGNED, `generation ${generation} of group '${this.groupId}' does not assign ${foreign.topic}/${foreign.partition} to ${memberId}`)
    return undefined
  }

  leave(memberId: string, nowMs: number): { error: SkeinError | undefined; effects: GroupEffect<RequestId>[] } {
    const member = this.members.get(memberId)
    if (member === undefined) return { error: this.unknownMember(memberId), effects: [] }
    return { error: undefined, effects: this.remove([member], nowMs) }
  }

  /** Expires sessions and rebalance deadlines. */
  tick(nowMs: number): GroupEffect<RequestId>[] {
    const effects: GroupEffect<RequestId>[] = []
    // A member waiting in a join has its session paused: the rebalance timeout bounds it instead.
    const expired = [...this.members.values()].filter((m) => m.pendingJoin === undefined && nowMs - m.lastHeardMs > m.sessionTimeoutMs)
    if (expired.length > 0) effects.push(...this.remove(expired, nowMs))
    if (this.state === 'preparingRebalance' && nowMs < this.deadlineMs) {
      effects.push(...this.maybeCompleteJoin(nowMs)) // the initial delay may have run out
    } else if (this.state === 'preparingRebalance') {
      const late = [...this.members.values()].filter((m) => m.pendingJoin === undefined)
      for (const m of late) this.members.delete(m.memberId)
      effects.push(...this.maybeCompleteJoin(nowMs))
    } else if (this.state === 'completingRebalance' && nowMs >= this.deadlineMs) {
      // The leader never sent the assignment: start over without it.
      const leader = this.leaderId === undefined ? undefined : this.members.get(this.leaderId)
      effects.push(...(leader === undefined ? this.prepareRebalance(nowMs) : this.remove([leader], nowMs)))
    }
    return effects
  }

  // ---- transitions ----

  private prepareRebalance(nowMs: number): GroupEffect<RequestId>[] {
    const effects: GroupEffect<RequestId>[] = []
    for (const m of this.members.values()) {
      if (m.pendingSync === undefined) continue
      effects.push({ kind: 'failed', requestId: m.pendingSync, error: this.rebalancing() })
      m.pendingSync = undefined
    }
    if (this.members.size === 0) {
      this.toEmpty()
      return effects
    }
    this.state = 'preparingRebalance'
    this.deadlineMs = nowMs + Math.max(...[...this.members.values()].map((m) => m.rebalanceTimeoutMs))
    return effects
  }

  /** Once every member has rejoined: a new generation, the leader chosen, join answers out. */
  private maybeCompleteJoin(nowMs: number): GroupEffect<RequestId>[] {
    if (this.state !== 'preparingRebalance' || nowMs < this.joinNotBeforeMs) return []
    const members = [...this.members.values()]
    if (members.some((m) => m.pendingJoin === undefined)) return []
    if (members.length === 0) {
      this.toEmpty()
      return []
    }
    this.generation++
    this.state = 'completingRebalance'
    this.deadlineMs = nowMs + Math.max(...members.map((m) => m.rebalanceTimeoutMs))
    if (this.leaderId === undefined || !this.members.has(this.leaderId)) this.leaderId = [...this.members.keys()].sort()[0]
    this.assignor = this.commonAssignor()
    const effects: GroupEffect<RequestId>[] = []
    for (const m of members) {
      effects.push({ kind: 'joined', requestId: m.pendingJoin as RequestId, answer: this.joinAnswer(m) })
      m.pendingJoin = undefined
      m.lastHeardMs = nowMs
    }
    return effects
  }

  private remove(leaving: readonly Member<RequestId>[], nowMs: number): GroupEffect<RequestId>[] {
    const effects: GroupEffect<RequestId>[] = []
    for (const m of leaving) {
      this.members.delete(m.memberId)
      if (m.pendingJoin !== undefined) effects.push({ kind: 'failed', requestId: m.pendingJoin, error: this.unknownMember(m.memberId) })
      if (m.pendingSync !== undefined) effects.push({ kind: 'failed', requestId: m.pendingSync, error: this.unknownMember(m.memberId) })
    }
    if (this.state === 'preparingRebalance') effects.push(...this.maybeCompleteJoin(nowMs))
    else if (this.state !== 'empty') effects.push(...this.prepareRebalance(nowMs))
    return effects
  }

  private rejoinStatic(requestId: RequestId, previous: Member<RequestId>, request: JoinRequest, nowMs: number): GroupEffect<RequestId>[] {
    // The restarted instance takes over under a new id; the old id is fenced from now on.
    this.members.delete(previous.memberId)
    this.fencedIds.set(previous.memberId, request.groupInstanceId as string)
    if (this.fencedIds.size > this.limits.membersMax) this.fencedIds.delete(this.fencedIds.keys().next().value as string)
    const member = this.addMember(this.newMemberId(request.groupInstanceId), request, nowMs)
    member.assignment = previous.assignment
    if (this.leaderId === previous.memberId) this.leaderId = member.memberId
    const effects: GroupEffect<RequestId>[] = []
    if (previous.pendingJoin !== undefined) effects.push({ kind: 'failed', requestId: previous.pendingJoin, error: this.fenced(request.groupInstanceId as string) })
    if (previous.pendingSync !== undefined) effects.push({ kind: 'failed', requestId: previous.pendingSync, error: this.fenced(request.groupInstanceId as string) })
    const sameSubscription = sameStrings(previous.topics, request.topics) && sameStrings(previous.assignors, request.assignors)
    if (this.state === 'stable' && sameSubscription) {
      effects.push({ kind: 'joined', requestId, answer: this.joinAnswer(member) })
      return effects
    }
    member.pendingJoin = requestId
    if (this.state !== 'preparingRebalance') effects.push(...this.prepareRebalance(nowMs))
    effects.push(...this.maybeCompleteJoin(nowMs))
    return effects
  }

  private toEmpty(): void {
    this.state = 'empty'
    this.leaderId = undefined
    this.assignor = undefined
  }

  // ---- members ----

  private addMember(memberId: string, request: JoinRequest, nowMs: number): Member<RequestId> {
    if (this.members.has(memberId)) throw new Error(`invariant: member id ${memberId} handed out twice in group ${this.groupId}`)
    const member: Member<RequestId> = {
      memberId,
      instanceId: request.groupInstanceId,
      sessionTimeoutMs: request.sessionTimeoutMs,
      rebalanceTimeoutMs: request.rebalanceTimeoutMs,
      assignors: request.assignors,
      topics: request.topics,
      owned: request.owned,
      assignment: [],
      lastHeardMs: nowMs,
      pendingJoin: undefined,
      pendingSync: undefined,
    }
    this.members.set(memberId, member)
    return member
  }

  /**
   * Takes the join's settings; true if anything the assignment depends on changed. What the
   * member owns counts (as in Kafka, where it is part of the member's metadata): a cooperative
   * member that gave partitions up rejoins with less, and that rejoin must start the second
   * rebalance that hands them over, or they would stay unread.
   */
  private update(member: Member<RequestId>, request: JoinRequest, nowMs: number): boolean {
    const changed = !sameStrings(member.topics, request.topics) || !sameStrings(member.assignors, request.assignors) || !samePartitions(member.owned, request.owned)
    member.sessionTimeoutMs = request.sessionTimeoutMs
    member.rebalanceTimeoutMs = request.rebalanceTimeoutMs
    member.assignors = request.assignors
    member.topics = request.topics
    member.owned = request.owned
    member.lastHeardMs = nowMs
    return changed
  }

  private joinAnswer(member: Member<RequestId>): JoinAnswer {
    const isLeader = member.memberId === this.leaderId
    const members = isLeader ? [...this.members.values()].map((m) => ({ memberId: m.memberId, topics: m.topics, owned: m.owned })) : []
    return { memberId: member.memberId, generation: this.generation, leaderId: this.leaderId as string, assignor: this.assignor as AssignorName, members }
  }

  /** The leader's most preferred assignor that every member supports (a join checked one exists). */
  private commonAssignor(): AssignorName {
    const leader = this.members.get(this.leaderId as string) as Member<RequestId>
    const all = [...this.members.values()]
    const common = leader.assignors.find((name) => all.every((m) => m.assignors.includes(name)))
    if (common === undefined) throw new Error(`invariant: group ${this.groupId} has members with no assignor in common`)
    return common
  }

  // ---- checks ----

  private checkJoin(request: JoinRequest): SkeinError | undefined {
    const { sessionTimeoutMsMin, sessionTimeoutMsMax } = this.limits
    if (!Number.isInteger(request.sessionTimeoutMs) || request.sessionTimeoutMs < sessionTimeoutMsMin || request.sessionTimeoutMs > sessionTimeoutMsMax) {
      return new SkeinError(ErrorCode.INVALID_SESSION_TIMEOUT, `session timeout ${request.sessionTimeoutMs} ms is outside ${sessionTimeoutMsMin}..${sessionTimeoutMsMax}`)
    }
    if (!Number.isInteger(request.rebalanceTimeoutMs) || request.rebalanceTimeoutMs < 1) return new SkeinError(ErrorCode.INVALID_REQUEST, `rebalance timeout must be a positive integer of ms, got ${request.rebalanceTimeoutMs}`)
    if (request.assignors.length === 0) return new SkeinError(ErrorCode.INCONSISTENT_GROUP_PROTOCOL, 'a member must name at least one assignor')
    const others = [...this.members.values()].filter((m) => m.memberId !== request.memberId && (request.groupInstanceId === undefined || m.instanceId !== request.groupInstanceId))
    if (others.length > 0 && !request.assignors.some((name) => others.every((m) => m.assignors.includes(name)))) {
      return new SkeinError(ErrorCode.INCONSISTENT_GROUP_PROTOCOL, `group '${this.groupId}' members support none of ${request.assignors.join(', ')}`)
    }
    return undefined
  }

  private checkGeneration(member: Member<RequestId> | undefined, memberId: string, generation: number): SkeinError | undefined {
    if (member === undefined) return this.unknownMember(memberId)
    if (generation !== this.generation) return new SkeinError(ErrorCode.ILLEGAL_GENERATION, `generation ${generation} is not group '${this.groupId}''s current ${this.generation}`)
    return undefined
  }

  private checkAssignments(assignments: ReadonlyMap<string, readonly TopicPartition[]> | undefined): SkeinError | undefined {
    if (assignments === undefined) return new SkeinError(ErrorCode.INVALID_REQUEST, 'the leader must send the assignment')
    const seen = new Set<string>()
    for (const [memberId, partitions] of assignments) {
      if (!this.members.has(memberId)) return new SkeinError(ErrorCode.INVALID_REQUEST, `the assignment names ${memberId}, not a member of generation ${this.generation}`)
      for (const tp of partitions) {
        const key = `${tp.topic}/${tp.partition}`
        if (seen.has(key)) return new SkeinError(ErrorCode.INVALID_REQUEST, `the assignment gives ${key} to two members`)
        seen.add(key)
      }
    }
    return undefined
  }

  private unknownMember(memberId: string): SkeinError {
    const fencedBy = this.fencedIds.get(memberId)
    if (fencedBy !== undefined) return this.fenced(fencedBy)
    return new SkeinError(ErrorCode.UNKNOWN_MEMBER_ID, `group '${this.groupId}' has no member ${memberId}`)
  }

  private fenced(instanceId: string): SkeinError {
    return new SkeinError(ErrorCode.FENCED_INSTANCE_ID, `a newer member with instance id '${instanceId}' joined group '${this.groupId}'`)
  }

  private rebalancing(): SkeinError {
    return new SkeinError(ErrorCode.REBALANCE_IN_PROGRESS, `group '${this.groupId}' is rebalancing (generation ${this.generation} is ending); rejoin`)
  }
}

function samePartitions(a: readonly TopicPartition[], b: readonly TopicPartition[]): boolean {
  return sameStrings(a.map((tp) => `${tp.topic}/${tp.partition}`), b.map((tp) => `${tp.topic}/${tp.partition}`))
}

function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false
  const sortedB = [...b].sort()
  return [...a].sort().every((value, i) => value === sortedB[i])
}
