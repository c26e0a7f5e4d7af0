import { type MemberSubscription, assign, cooperativeAssignment } from './assignors.js'
import {
  ErrorCode,
  type GroupAssignorName,
  HEARTBEAT_WAIT_MS_MAX,
  type JoinGroupResponse,
  type SkeinError,
  type SyncGroupRequest,
  type TopicPartitionRef,
} from '../wire/index.js'
import { withTimeout } from './call-timeout.js'
import type { ClientContext } from './client.js'
import { ClientErrorReason, SkeinClientError, asSkeinError } from './errors.js'

/**
 * One consumer's membership in a consumer group, client side of Kafka's classic group
 * protocol: join, sync (the leader member computes everyone's assignment), then heartbeat
 * until the coordinator says the group rebalances; then prepare and join again.
 *
 * It talks to its consumer only through `GroupMemberHooks`: what the consumer owns now, and
 * calls when partitions are assigned, revoked (given up in order: the consumer commits them
 * first) or lost (taken away without a chance to commit). Everything else (positions, fetching,
 * commits) is the consumer's.
 *
 * Rebalance protocols, chosen by the assignor of the generation:
 * - eager (range, roundrobin): before every rejoin the member revokes everything it owns, so
 *   no partition is ever owned by two members;
 * - cooperative (cooperative-sticky, KIP-429): the member commits, rejoins keeping its
 *   partitions (it sends them as `owned`), and after the sync revokes only what it lost; if it
 *   revoked anything it rejoins at once, and that second rebalance hands those partitions to
 *   their new owners (the leader held them back from them in the first).
 *
 * Errors: REBALANCE_IN_PROGRESS (heartbeat, sync or a commit) rejoins as above;
 * UNKNOWN_MEMBER_ID (the session expired) and ILLEGAL_GENERATION lose every partition and
 * rejoin (the first with a new member id); a retriable error that outlived BrokerClient's
 * retries backs off and tries again, and a member that has not heard from its coordinator for
 * a whole session timeout counts its partitions as lost (the coordinator has given them away
 * by then). Anything else (FENCED_INSTANCE_ID, INVALID_SESSION_TIMEOUT,
 * INCONSISTENT_GROUP_PROTOCOL, GROUP_MAX_SIZE_REACHED, ...) is fatal: the member stops and
 * hands the error to `failed`.
 *
 * Time comes from the context's Env clock only.
 */
export interface GroupMemberConfig {
  readonly groupId: string
  /** Static membership: the same id across restarts keeps the member's place without a rebalance. */
  readonly groupInstanceId?: string
  readonly sessionTimeoutMs: number
  /** How long the coordinator may hold each heartbeat (it answers at once when a rebalance starts); also the least time between two heartbeats. */
  readonly heartbeatIntervalMs: number
  /** How long a rebalance may take for this member: its join and sync may be held this long. */
  readonly rebalanceTimeoutMs: number
  /** Assignors this member can run, preferred first. */
  readonly assignors: readonly GroupAssignorName[]
  /** How often a pattern subscription is matched against the topics again, and the leader checks the group's topics for new partitions. */
  readonly topicRefreshMs: number
}

/** Topic names, or a pattern matched against every topic whose name does not start with '__'. */
export type GroupSubscription = readonly string[] | RegExp

/** How the member acts on its consumer. Hooks must not throw: one that does ends the membership as a fatal failure. */
export interface GroupMemberHooks {
  /** The partitions the consumer reads now. */
  owned(): TopicPartitionRef[]
  /** After every completed rebalance: the partitions this generation adds (possibly none). */
  assigned(partitions: readonly TopicPartitionRef[]): Promise<void>
  /** Partitions to give up in order: commit what was processed, then stop reading them. */
  revoked(partitions: readonly TopicPartitionRef[]): Promise<void>
  /** Partitions already taken away (session expired, generation gone): stop reading them, commit nothing. */
  lost(partitions: readonly TopicPartitionRef[]): Promise<void>
  /** Before a cooperative rejoin, while this generation may still commit: commit what was processed. */
  commit(): Promise<void>
  /** The membership failed for good (fenced, refused); the member has stopped. */
  failed(error: SkeinError): void
  /** How long the application has been processing the message or batch it holds now (0 when it holds none). */
  busyForMs(): number
}

export const TOPIC_REFRESH_MS_DEFAULT = 30_000
/** Pause after a retriable failure that outlived BrokerClient's own retries; doubles up to the cap. */
const GROUP_RETRY_BACKOFF_MS = 200
const GROUP_RETRY_BACKOFF_MS_MAX = 2_000
/** Doubling of the backoff stops here; far past the cap already. */
const GROUP_RETRY_DOUBLINGS_MAX = 10
/** leave(): how long a best-effort leaveGroup (and the loop's last step) may take before the member stops anyway. */
const LEAVE_TIMEOUT_MS = 5_000

const COOPERATIVE_ASSIGNORS: ReadonlySet<GroupAssignorName> = new Set(['cooperative-sticky'])

export interface GroupMetadata {
  readonly groupId: string
  readonly memberId: string
  readonly generation: number
}

export class GroupMember {
  private memberIdValue = ''
  private generationValue = -1
  private assignor: GroupAssignorName | undefined
  private isLeader = false
  /** The subscription as topic names (a pattern resolved); sorted. */
  private topics: readonly string[] = []
  private topicsResolved = false
  private needsJoin = true
  private stopped = false
  private left = false
  private running: Promise<void> | undefined
  /** Ends the wait in progress (a sleep, or a call the loop waits on). */
  private waiter: (() => void) | undefined
  /** A group error a commit met, for the loop to act on. */
  private pendingError: SkeinError | undefined
  private failuresInRow = 0
  private lastHeardMs = 0
  private nextTopicCheckMs = 0
  /** Leader: the partition count of each of the group's topics it assigned with (absent topics left out). */
  private assignedCounts = new Map<string, number>()
  /** Leader: partition counts seen by the last check, so the next assignment re-reads stale cached metadata. */
  private readonly observedCounts = new Map<string, number>()
  private groupTopics: readonly string[] = []

  constructor(
    private readonly context: ClientContext,
    private readonly config: GroupMemberConfig,
    private readonly subscription: GroupSubscription,
    private readonly hooks: GroupMemberHooks,
  ) {
    if (config.heartbeatIntervalMs >= config.sessionTimeoutMs) {
      throw new SkeinClientError(ClientErrorReason.INVALID_ARGUMENT, `heartbeatIntervalMs (${config.heartbeatIntervalMs}) must be below sessionTimeoutMs (${config.sessionTimeoutMs})`)
    }
    if (config.assignors.length === 0) throw new SkeinClientError(ClientErrorReason.INVALID_ARGUMENT, 'a group member needs at least one assignor')
    if (!(subscription instanceof RegExp)) {
      this.topics = [...new Set(subscription)].sort()
      this.topicsResolved = true
    }
  }

  /** Starts the membership loop (once). */
  start(): void {
    if (this.running !== undefined) return
    this.running = this.loop().catch((error: unknown) => this.fail(asSkeinError(error)))
  }

  metadata(): GroupMetadata {
    return { groupId: this.config.groupId, memberId: this.memberIdValue, generation: this.generationValue }
  }

  /** True once the member has stopped (left, or failed). */
  get isStopped(): boolean {
    return this.stopped
  }

  /**
   * A commit made under `generation` failed: a group error (REBALANCE_IN_PROGRESS,
   * ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID) makes the member act on it as if a heartbeat had
   * met it, unless the generation has moved on meanwhile. Other errors are the committer's.
   */
  commitFailed(error: SkeinError, generation: number): void {
    if (this.stopped || generation !== this.generationValue || this.needsJoin) return
    const codes: number[] = [ErrorCode.REBALANCE_IN_PROGRESS.code, ErrorCode.ILLEGAL_GENERATION.code, ErrorCode.UNKNOWN_MEMBER_ID.code]
    if (!codes.includes(error.code)) return
    this.pendingError = error
    this.wake()
  }

  /**
   * Stops the membership loop without leaving: no hook is called after it resolves (a hook in
   * progress is waited for, up to LEAVE_TIMEOUT_MS). The member id and generation stay, so the
   * consumer can still commit under them before it leaves.
   */
  async stop(): Promise<void> {
    this.stopped = true
    this.wake()
    if (this.running !== undefined) await withTimeout(this.context.env.clock, this.running, LEAVE_TIMEOUT_MS, 'the group member stopping').catch(() => undefined)
  }

  /**
   * Stops (as stop()) and leaves the group with leaveGroup, best effort and bounded, so it
   * rebalances at once instead of after a session timeout. The consumer commits and gives up
   * its partitions itself, before. A static member (groupInstanceId) does not send
   * leaveGroup: its place is kept for its restart, as Kafka does.
   */
  async leave(): Promise<void> {
    if (this.left) return
    this.left = true
    await this.stop()
    if (this.memberIdValue !== '' && this.config.groupInstanceId === undefined) await this.sendLeave(this.memberIdValue)
  }

  // ---- the loop ----

  private async loop(): Promise<void> {
    while (!this.stopped) {
      try {
        const pending = this.pendingError
        this.pendingError = undefined
        if (pending !== undefined) throw pending
        if (this.needsJoin) await this.joinGeneration()
        else await this.heartbeatRound()
      } catch (error) {
        await this.onError(asSkeinError(error))
      }
    }
  }

  private async onError(error: SkeinError): Promise<void> {
    if (this.stopped) return
    if (error.code === ErrorCode.REBALANCE_IN_PROGRESS.code) return this.prepareRejoin()
    if (error.code === ErrorCode.UNKNOWN_MEMBER_ID.code || error.code === ErrorCode.ILLEGAL_GENERATION.code) {
      this.log('warn', { error: error.message }, 'group membership lost; rejoining')
      await this.loseAll()
      if (error.code === ErrorCode.UNKNOWN_MEMBER_ID.code) this.memberIdValue = ''
      this.generationValue = -1
      this.needsJoin = true
      return
    }
    if (error.retriable) return this.backOff(error)
    await this.loseAll()
    this.fail(error)
  }

  /** One generation: join, (leader) assign, sync, then take the assignment. */
  private async joinGeneration(): Promise<void> {
    if (!this.topicsResolved) await this.refreshSubscription()
    const answer = await this.joinGroup()
    if (answer === undefined) return
    this.memberIdValue = answer.memberId
    this.generationValue = answer.generation
    this.assignor = answer.assignor
    this.isLeader = answer.leaderId === answer.memberId
    // Moving from a cooperative generation to an eager one: what is still owned goes first.
    if (!this.cooperative()) await this.revokeAll()
    const assignments = this.isLeader ? await this.computeAssignments(answer) : undefined
    const request: SyncGroupRequest = { groupId: this.config.groupId, memberId: answer.memberId, generation: answer.generation, ...(assignments === undefined ? {} : { assignments }) }
    const rebalanceTimeoutMs = this.config.rebalanceTimeoutMs
    const synced = await this.unlessStopped(this.context.call(`syncGroup '${this.config.groupId}'`, (broker) => broker.syncGroup(request, rebalanceTimeoutMs), rebalanceTimeoutMs))
    if (synced === undefined) return
    this.needsJoin = false
    this.failuresInRow = 0
    this.lastHeardMs = this.context.env.clock.nowMs()
    if (this.nextTopicCheckMs === 0) this.nextTopicCheckMs = this.lastHeardMs + this.config.topicRefreshMs
    await this.applyAssignment(synced.value.assignment)
  }

  private async joinGroup(): Promise<JoinGroupResponse | undefined> {
    const { groupId, groupInstanceId, sessionTimeoutMs, rebalanceTimeoutMs, assignors } = this.config
    const request = {
      groupId,
      memberId: this.memberIdValue,
      ...(groupInstanceId === undefined ? {} : { groupInstanceId }),
      sessionTimeoutMs,
      rebalanceTimeoutMs,
      assignors,
      topics: this.topics,
      owned: this.hooks.owned().map(({ topic, partition }) => ({ topic, partition })),
    }
    const joining = this.context.call(`joinGroup '${groupId}'`, (broker) => broker.joinGroup(request), rebalanceTimeoutMs)
    // Stopped while the join was held: a member id handed out meanwhile leaves at once, not after its session.
    joining.then((answer) => {
      if (this.stopped && answer.memberId !== this.memberIdValue && groupInstanceId === undefined) void this.sendLeave(answer.memberId)
    }, () => undefined)
    return (await this.unlessStopped(joining))?.value
  }

  /** The leader's assignment of every member, by the generation's assignor. */
  private async computeAssignments(answer: JoinGroupResponse): Promise<NonNullable<SyncGroupRequest['assignments']>> {
    const members: MemberSubscription[] = answer.members.map((m) => ({ memberId: m.memberId, topics: m.topics, owned: m.owned }))
    const topics = [...new Set(members.flatMap((m) => m.topics))].sort()
    const counts = new Map<string, number>()
    const found = await Promise.all(topics.map((topic) => this.partitionCountOf(topic)))
    topics.forEach((topic, i) => {
      const count = found[i]
      if (count !== undefined) counts.set(topic, count)
    })
    this.groupTopics = topics
    this.assignedCounts = counts
    const target = assign(answer.assignor, members, counts)
    const assignment = COOPERATIVE_ASSIGNORS.has(answer.assignor) ? cooperativeAssignment(target, members).assignment : target
    return [...assignment].map(([memberId, partitions]) => ({ memberId, partitions }))
  }

  /** Partitions of `topic`, undefined if it does not exist (it is left out of the assignment). */
  private async partitionCountOf(topic: string): Promise<number | undefined> {
    const observed = this.observedCounts.get(topic) ?? 0
    try {
      return await this.context.partitionCount(topic, Math.max(0, observed - 1))
    } catch (error) {
      if (error instanceof SkeinClientError && error.reason === ClientErrorReason.UNKNOWN_TOPIC) return undefined
      throw error
    }
  }

  /** Revokes what is owned and no longer assigned, then hands over what is new; a cooperative member that revoked anything rejoins. */
  private async applyAssignment(assignment: readonly TopicPartitionRef[]): Promise<void> {
    const owned = this.hooks.owned()
    const assignedKeys = new Set(assignment.map(keyOf))
    const ownedKeys = new Set(owned.map(keyOf))
    const revoked = owned.filter((tp) => !assignedKeys.has(keyOf(tp)))
    const added = assignment.filter((tp) => !ownedKeys.has(keyOf(tp))).map(({ topic, partition }) => ({ topic, partition }))
    if (revoked.length > 0) await this.hooks.revoked(revoked)
    if (this.stopped) return
    await this.hooks.assigned(added)
    if (revoked.length > 0 && this.cooperative()) this.needsJoin = true
  }

  /** One heartbeat (held by the coordinator up to the interval), then the rest of the interval; first the periodic topic check. */
  private async heartbeatRound(): Promise<void> {
    const clock = this.context.env.clock
    if (this.hooks.busyForMs() > this.config.rebalanceTimeoutMs) return this.leaveWhileBusy()
    if (clock.nowMs() >= this.nextTopicCheckMs && (await this.topicsChanged())) {
      if (!this.stopped) await this.prepareRejoin()
      return
    }
    const sentAtMs = clock.nowMs()
    const waitMs = Math.min(this.config.heartbeatIntervalMs, HEARTBEAT_WAIT_MS_MAX)
    const request = { groupId: this.config.groupId, memberId: this.memberIdValue, generation: this.generationValue, waitMs }
    const answered = await this.unlessStopped(this.context.call(`heartbeat '${this.config.groupId}'`, (broker) => broker.heartbeat(request), waitMs))
    if (answered === undefined) return
    this.lastHeardMs = clock.nowMs()
    this.failuresInRow = 0
    const leftMs = this.config.heartbeatIntervalMs - (clock.nowMs() - sentAtMs)
    if (leftMs > 0) await this.sleep(leftMs)
  }

  /**
   * The application has held one message (or batch) longer than rebalanceTimeoutMs (Kafka's
   * max.poll.interval.ms): it is stuck or far too slow, and its partitions would stall with it.
   * As Kafka's consumer does, the member leaves (a static member only stops heartbeating: its
   * session expires), its partitions are lost (their commits would be refused now), and it
   * joins again once the application is done with what it holds.
   */
  private async leaveWhileBusy(): Promise<void> {
    this.log('warn', { busyMs: this.hooks.busyForMs(), rebalanceTimeoutMs: this.config.rebalanceTimeoutMs }, 'processing one message took longer than rebalanceTimeoutMs (max poll interval): leaving the group until it is done')
    if (this.config.groupInstanceId === undefined) {
      await this.sendLeave(this.memberIdValue)
      this.memberIdValue = ''
    }
    this.generationValue = -1
    await this.loseAll()
    this.needsJoin = true
    while (!this.stopped && this.hooks.busyForMs() > 0) await this.sleep(this.config.heartbeatIntervalMs)
  }

  /**
   * Every topicRefreshMs: a pattern subscription matched again, and (leader) the group's
   * topics' partition counts compared with those it assigned. True if the member must rejoin.
   * A failed check is logged and tried again at the next interval.
   */
  private async topicsChanged(): Promise<boolean> {
    this.nextTopicCheckMs = this.context.env.clock.nowMs() + this.config.topicRefreshMs
    try {
      const subscriptionChanged = this.subscription instanceof RegExp && (await this.refreshSubscription())
      const partitionsChanged = this.isLeader && (await this.partitionCountsChanged())
      return subscriptionChanged || partitionsChanged
    } catch (error) {
      this.log('warn', { error: asSkeinError(error).message }, 'topic check failed; trying again later')
      return false
    }
  }

  /** Matches the pattern against the cluster's topics; true if the matching set changed. */
  private async refreshSubscription(): Promise<boolean> {
    const pattern = this.subscription as RegExp
    const names = await this.context.call('listTopics', (broker) => broker.listTopics())
    const matched = names.filter((name) => !name.startsWith('__') && matches(pattern, name)).sort()
    const changed = !this.topicsResolved || matched.length !== this.topics.length || matched.some((name, i) => name !== this.topics[i])
    this.topics = matched
    this.topicsResolved = true
    return changed
  }

  private async partitionCountsChanged(): Promise<boolean> {
    if (this.groupTopics.length === 0) return false
    const metadata = await this.context.call('metadata', (broker) => broker.metadata(this.groupTopics))
    let changed = false
    for (const topic of this.groupTopics) {
      const count = metadata.topics.find((t) => t.name === topic)?.partitions.length ?? 0
      this.observedCounts.set(topic, count)
      if (count !== (this.assignedCounts.get(topic) ?? 0)) changed = true
    }
    return changed
  }

  // ---- rejoining ----

  /** Before rejoining: eager members revoke everything (committing first), cooperative ones only commit. */
  private async prepareRejoin(): Promise<void> {
    if (this.cooperative()) await this.hooks.commit()
    else await this.revokeAll()
    this.needsJoin = true
  }

  private cooperative(): boolean {
    const assignor = this.assignor ?? this.config.assignors[0]
    return assignor !== undefined && COOPERATIVE_ASSIGNORS.has(assignor)
  }

  private async revokeAll(): Promise<void> {
    const owned = this.hooks.owned()
    if (owned.length > 0) await this.hooks.revoked(owned)
  }

  private async loseAll(): Promise<void> {
    const owned = this.hooks.owned()
    if (owned.length > 0) await this.hooks.lost(owned)
  }

  /** After a retriable failure: a pause (growing); silent for longer than a session means the coordinator gave the partitions away. */
  private async backOff(error: SkeinError): Promise<void> {
    this.failuresInRow++
    const silentMs = this.context.env.clock.nowMs() - this.lastHeardMs
    if (!this.needsJoin && silentMs > this.config.sessionTimeoutMs) {
      this.log('warn', { error: error.message, silentMs }, 'no word from the group coordinator for a session timeout; partitions lost, rejoining')
      await this.loseAll()
      this.needsJoin = true
    }
    const delayMs = Math.min(GROUP_RETRY_BACKOFF_MS_MAX, GROUP_RETRY_BACKOFF_MS * 2 ** Math.min(this.failuresInRow - 1, GROUP_RETRY_DOUBLINGS_MAX))
    await this.sleep(delayMs)
  }

  private fail(error: SkeinError): void {
    if (this.stopped) return
    this.stopped = true
    this.log('error', { error: error.message, code: error.code }, 'group membership failed; the member stopped')
    this.hooks.failed(error)
  }

  private async sendLeave(memberId: string): Promise<void> {
    const { groupId } = this.config
    const leaving = this.context.call(`leaveGroup '${groupId}'`, (broker) => broker.leaveGroup({ groupId, memberId }))
    await withTimeout(this.context.env.clock, leaving, LEAVE_TIMEOUT_MS, `leaveGroup '${groupId}'`).catch((error: unknown) => {
      this.log('debug', { error: asSkeinError(error).message }, 'leaveGroup failed; the session will expire instead')
    })
  }

  // ---- waiting ----

  /** `work`'s value, or undefined if the member stopped or a commit reported a group error first (a late outcome is dropped). */
  private unlessStopped<T>(work: Promise<T>): Promise<{ value: T } | undefined> {
    work.catch(() => undefined)
    if (this.interrupted()) return Promise.resolve(undefined)
    return new Promise((resolve, reject) => {
      const waiter = (): void => resolve(undefined)
      this.waiter = waiter
      const done = (): void => {
        if (this.waiter === waiter) this.waiter = undefined
      }
      work.then(
        (value) => {
          done()
          resolve({ value })
        },
        (error: unknown) => {
          done()
          reject(error)
        },
      )
    })
  }

  /** Waits `delayMs`, or less if woken. */
  private sleep(delayMs: number): Promise<void> {
    if (this.interrupted()) return Promise.resolve()
    return new Promise((resolve) => {
      const waiter = (): void => {
        timer.cancel()
        resolve()
      }
      const timer = this.context.env.clock.setTimer(delayMs, () => {
        if (this.waiter === waiter) this.waiter = undefined
        resolve()
      })
      this.waiter = waiter
    })
  }

  private interrupted(): boolean {
    return this.stopped || this.pendingError !== undefined
  }

  private wake(): void {
    const waiter = this.waiter
    this.waiter = undefined
    waiter?.()
  }

  private log(level: 'debug' | 'warn' | 'error', fields: object, message: string): void {
    this.context.env.log[level]({ groupId: this.config.groupId, memberId: this.memberIdValue, generation: this.generationValue, ...fields }, message)
  }
}

function keyOf(tp: TopicPartitionRef): string {
  return `${tp.topic}/${tp.partition}`
}

/** A pattern test that does not depend on a global or sticky pattern's lastIndex. */
function matches(pattern: RegExp, name: string): boolean {
  pattern.lastIndex = 0
  return pattern.test(name)
}
