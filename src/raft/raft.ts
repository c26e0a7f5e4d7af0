import { strict as assert } from 'node:assert'
import { type EpochEntry, EpochCache } from './epoch-cache.js'
import type { BeginEpoch, FetchRequest, FetchResponse, RaftMessage, TimeoutNow, VoteRequest, VoteResponse } from './messages.js'

/** Timing, in ticks: the shell calls tick() every `tickMs` (RAFT_TICK_MS_DEFAULT). */
export interface RaftSettings {
  /** A follower that hears nothing from a leader for [T, 2T) ticks starts an election. */
  readonly electionTimeoutTicks: number
  /** A leader holds a fetch with nothing to return for at most this many ticks (long poll). */
  readonly fetchMaxWaitTicks: number
  /** A follower re-sends a fetch that got no answer in this many ticks. */
  readonly fetchTimeoutTicks: number
  /** Ask "would you vote for me?" before bumping the epoch, so a node cut off and back cannot disrupt a healthy leader. */
  readonly preVote: boolean
  /** A leader that has not heard from a majority within an election timeout steps down; followers with a live leader refuse votes. */
  readonly checkQuorum: boolean
}

/** 100 ms ticks: election after 1-2 s of silence, failover well inside 3 s. */
export const RAFT_TICK_MS_DEFAULT = 100
export const RAFT_SETTINGS_DEFAULT: RaftSettings = {
  electionTimeoutTicks: 10,
  fetchMaxWaitTicks: 3,
  fetchTimeoutTicks: 6,
  preVote: true,
  checkQuorum: true,
}

export type RaftRole = 'follower' | 'preCandidate' | 'candidate' | 'leader'

/** What must be on disk before anything that follows it is done (Raft's term and vote). */
export interface HardState {
  readonly epoch: number
  readonly votedFor: string | undefined
}

/**
 * What the core asks its shell to do, in order. A `persist` must be durable before the shell
 * carries out any effect after it: a vote is not sent before the vote is on disk.
 */
export type RaftEffect =
  | { readonly type: 'persist'; readonly state: HardState }
  | { readonly type: 'send'; readonly message: RaftMessage }
  /** Follower: append the records that came with the current fetch response, then call fetchCompleted. */
  | { readonly type: 'appendFetched'; readonly fetchOffset: number }
  /** Follower: cut the log at `offset` (diverging tail), then call fetchCompleted. */
  | { readonly type: 'truncate'; readonly offset: number }
  /** This replica leads `epoch` from `startOffset`: append the epoch's first batch (stamped with `epoch`). */
  | { readonly type: 'becomeLeader'; readonly epoch: number; readonly startOffset: number }
  | { readonly type: 'becomeFollower'; readonly epoch: number; readonly leader: string | undefined }
  | { readonly type: 'highWatermark'; readonly offset: number }
  /** Leader: append a membership batch (a control record) for `membership`, then call membershipAppended. */
  | { readonly type: 'appendMembership'; readonly membership: RaftMembership }

/** Who votes and who only replicates (learners catch up before they are promoted). */
export interface RaftMembership {
  readonly voters: readonly string[]
  readonly learners: readonly string[]
}

/** A membership as the log holds it: it takes effect at `offset`, as soon as it is appended (Raft's single-server rule). */
export interface MembershipEntry extends RaftMembership {
  readonly offset: number
}

export interface RaftInit {
  readonly id: string
  /** The membership before any membership entry in the log (the group's bootstrap). */
  readonly voters: readonly string[]
  readonly learners?: readonly string[]
  /** Membership entries in the log, oldest first. */
  readonly memberships?: readonly MembershipEntry[]
  readonly hardState: HardState
  /** The log as it is on disk: epoch starts, end offset (all of it durable after recovery). */
  readonly epochs: readonly EpochEntry[]
  readonly logEndOffset: number
  /**
   * Set when this replica lost records it once held (a corrupt batch cut from its log, with
   * everything after it): the log end it had before. Until it has caught up again (its log
   * reaches this, or a leader has nothing more to send it) it neither votes nor stands for
   * election: a record it lost may be committed with its help, and its vote must not elect a
   * log without it. Persisted by the shell, so a crash meanwhile does not forget it.
   */
  readonly catchUpEnd?: number
  /**
   * The high watermark this replica knew before its shell reopened it (after a disk error)
   * without a process restart: what was committed stays committed, so it is kept (up to the
   * log end) rather than starting again from 0. Default 0.
   */
  readonly highWatermark?: number
  readonly settings?: Partial<RaftSettings>
  /**
   * The voter placement wants as leader (a partition's first replica). In a group that has
   * never had a leader (epoch 0, empty log) it stands for election within
   * NEW_GROUP_PREFERRED_TIMEOUT_TICKS while the others wait their usual [T, 2T): a new topic's
   * leaders come up where placement spread them, rather than wherever a random timer fired
   * first, and no leadership transfer (a NOT_LEADER for every client) follows the creation.
   */
  readonly preferredLeader?: string
  /** Uniform in [0, 1): from the Env, so simulations replay. */
  readonly random: () => number
}

/**
 * Election timeout of a new group's preferred leader (RaftInit.preferredLeader): short, and
 * kept short while the group is new, so a campaign that failed because the other replicas
 * were not open yet is soon tried again.
 */
export const NEW_GROUP_PREFERRED_TIMEOUT_TICKS = 2

interface ReplicaProgress {
  /** The replica's durable log end, as its last valid fetch said. */
  endOffset: number
  /** Tick of its last valid fetch, for check-quorum. */
  lastFetchTick: number
  /** The highest read barrier it echoed in this epoch. */
  readSeq: number
}

interface ParkedFetch {
  readonly request: FetchRequest
  readonly sinceTick: number
}

/**
 * One replica of one partition's Raft group, as a pure state machine: messages and ticks in,
 * effects out (`takeEffects()`), no I/O and no clock. The log itself (records, offsets,
 * fsync) belongs to the shell; the core knows only offsets and the epoch cache.
 *
 * Safety rests on the usual Raft rules, in Kafka's offset-and-epoch form: at most one vote
 * per epoch, persisted before it is sent; a vote only for a log at least as up to date
 * (last epoch, then end offset); a follower's log cut where it diverges from its leader's;
 * the high watermark advanced only over offsets a majority has durably, and only once the
 * leader's own epoch has a committed record (so no earlier-epoch entry is committed by
 * counting replicas alone).
 */
export class RaftCore {
  readonly id: string
  readonly settings: RaftSettings
  private readonly bootstrap: RaftMembership
  private memberships: MembershipEntry[]
  private readonly random: () => number
  private readonly preferredLeader: string | undefined
  private readonly epochs: EpochCache
  private effects: RaftEffect[] = []

  private epochValue: number
  private votedFor: string | undefined
  private roleValue: RaftRole = 'follower'
  private leaderValue: string | undefined
  private logEnd: number
  /** Every offset below this is in the log file, readable by the shell (offsets appended may not be yet); a leader serves fetches from it. */
  private writtenEnd: number
  private durableEnd: number
  private highWatermarkValue = 0
  private now = 0

  /** Ticks since the last sign of a live leader (followers) or since the campaign began. */
  private electionElapsed = 0
  /**
   * Tick of the last message `leaderValue` itself sent us (a beginEpoch, a fetch answer):
   * the check-quorum lease runs from it. Undefined when we never heard from the leader we
   * name, as when we only learned its id from another voter's refusal: a hint says nothing
   * about whether that leader is still alive, so it must not start a lease.
   */
  private leaderHeardTick: number | undefined
  private electionTimeout: number
  private votes = new Set<string>()
  private rejections = new Set<string>()

  // Leader state.
  private epochStartOffset = 0
  private progress = new Map<string, ReplicaProgress>()
  private parked = new Map<string, ParkedFetch>()
  private quorumCheckElapsed = 0
  private leaderSinceTick = 0
  private transfer: { readonly target: string; readonly sinceTick: number; sent: boolean } | undefined

  // Follower state.
  private fetchInFlight: { readonly offset: number; readonly sinceTick: number; readonly to: string; readonly id: number } | undefined
  private fetchesSent = 0
  private fetchOutcomePending = false
  /** The shell is carrying out an appendFetched or truncate: the log end is in flux until fetchCompleted. */
  private shellBusy = false
  /** See RaftInit.catchUpEnd: while set, no votes and no campaigns. */
  private catchUpEndValue: number | undefined
  /** The fetch the shell is carrying out answered with records (possibly none), not a divergence. */
  private fetchedRecordsPending = false
  /** Follower: the highest read barrier its leader sent in this epoch, echoed in each fetch. */
  private leaderReadSeq = 0
  /** Leader: read barriers asked for so far (requestReadBarrier), and the highest a majority has echoed. */
  private readSeqRequested = 0
  private readSeqConfirmed = 0

  constructor(init: RaftInit) {
    this.id = init.id
    this.settings = { ...RAFT_SETTINGS_DEFAULT, ...init.settings }
    this.bootstrap = normalize({ voters: init.voters, learners: init.learners ?? [] })
    this.memberships = (init.memberships ?? []).map((entry) => ({ offset: entry.offset, ...normalize(entry) }))
    this.random = init.random
    this.preferredLeader = init.preferredLeader
    this.epochs = new EpochCache(init.epochs)
    this.epochValue = init.hardState.epoch
    this.votedFor = init.hardState.votedFor
    this.logEnd = init.logEndOffset
    this.writtenEnd = init.logEndOffset
    this.durableEnd = init.logEndOffset
    this.catchUpEndValue = init.catchUpEnd !== undefined && init.catchUpEnd > init.logEndOffset ? init.catchUpEnd : undefined
    this.highWatermarkValue = Math.max(0, Math.min(init.highWatermark ?? 0, init.logEndOffset))
    assert.ok(this.epochs.latestEpoch <= this.epochValue, 'the log holds no epoch beyond the persisted one')
    this.electionTimeout = this.randomElectionTimeout()
  }

  get epoch(): number {
    return this.epochValue
  }
  get role(): RaftRole {
    return this.roleValue
  }
  get leader(): string | undefined {
    return this.leaderValue
  }
  get highWatermark(): number {
    return this.highWatermarkValue
  }
  get logEndOffset(): number {
    return this.logEnd
  }
  get hardState(): HardState {
    return { epoch: this.epochValue, votedFor: this.votedFor }
  }
  /**
   * Leader: starts a read barrier (Raft's ReadIndex confirmation) and returns its number.
   * Parked fetches are answered at once carrying it; once a majority of voters (this one
   * included) has echoed it, `confirmedReadSeq` reaches it: this replica still led its epoch
   * after the barrier began, so no newer leader had been elected by then and what it serves
   * from its own state is current. Undefined when not the leader.
   */
  requestReadBarrier(): number | undefined {
    if (this.roleValue !== 'leader') return undefined
    const seq = ++this.readSeqRequested
    this.confirmReads()
    if (this.readSeqConfirmed < seq) this.answerParkedFetches(false, true)
    return seq
  }
  /** Leader: the highest read barrier a majority has confirmed (see requestReadBarrier). */
  get confirmedReadSeq(): number {
    return this.readSeqConfirmed
  }
  /** While this replica catches up on records it lost (RaftInit.catchUpEnd), the log end it must reach; else undefined. */
  get catchUpEnd(): number | undefined {
    return this.catchUpEndValue
  }
  /** The leader epoch of the record at `offset`, per the epoch cache (every batch in the log carries it). */
  epochAt(offset: number): number {
    return this.epochs.epochAt(offset)
  }
  epochCache(): EpochEntry[] {
    return this.epochs.snapshot()
  }
  /** The membership in force: the latest in the log, committed or not. */
  get membership(): RaftMembership {
    return this.memberships[this.memberships.length - 1] ?? this.bootstrap
  }
  membershipEntries(): MembershipEntry[] {
    return [...this.memberships]
  }
  /** A leader handing over to another voter accepts no new writes meanwhile. */
  get transferring(): boolean {
    return this.transfer !== undefined
  }
  /** Leader: each other replica's log end as of its last fetch (learners' catch-up, for promotion). */
  replicaEnds(): Map<string, number> {
    return new Map([...this.progress].map(([id, replica]) => [id, replica.endOffset]))
  }

  /**
   * Leader: starts a single-server membership change (one voter added or removed, learners
   * free). Refused while another change is uncommitted or the leader's epoch has committed
   * nothing yet (Raft's single-server rule and its known fix). Returns a reason if refused.
   */
  proposeMembership(next: RaftMembership): string | undefined {
    if (this.roleValue !== 'leader') return 'not the leader'
    const current = this.membership
    const wanted = normalize(next)
    const added = wanted.voters.filter((v) => !current.voters.includes(v))
    const removed = current.voters.filter((v) => !wanted.voters.includes(v))
    if (added.length + removed.length > 1) return 'change one voter at a time'
    if (wanted.voters.length === 0) return 'a group needs a voter'
    const last = this.memberships[this.memberships.length - 1]
    if (last !== undefined && last.offset >= this.highWatermarkValue) return 'a membership change is still uncommitted'
    if (this.highWatermarkValue <= this.epochStartOffset) return "the leader's epoch has committed nothing yet"
    this.effects.push({ type: 'appendMembership', membership: wanted })
    return undefined
  }

  /** Leader: the membership batch asked for is in the log at `offset` (its log now ends at `logEndOffset`). */
  membershipAppended(offset: number, membership: RaftMembership, logEndOffset: number): void {
    this.addMembership({ offset, ...normalize(membership) })
    this.appended(logEndOffset)
  }

  /**
   * Leader: hands leadership to `target` (a voter): once its log matches ours, it is told to
   * campaign at once, and voters waive their lease for it. Gives up after an election timeout.
   */
  transferLeadership(target: string): string | undefined {
    if (this.roleValue !== 'leader') return 'not the leader'
    if (target === this.id || !this.membership.voters.includes(target)) return `${target} is not another voter`
    this.transfer = { target, sinceTick: this.now, sent: false }
    this.maybeSendTimeoutNow()
    return undefined
  }

  /** Hands over the effects produced so far, in order. */
  takeEffects(): RaftEffect[] {
    const effects = this.effects
    this.effects = []
    return effects
  }

  tick(): void {
    this.now++
    if (this.roleValue === 'leader') {
      this.tickLeader()
      return
    }
    this.electionElapsed++
    if (this.fetchInFlight !== undefined && !this.fetchOutcomePending && this.now - this.fetchInFlight.sinceTick >= this.settings.fetchTimeoutTicks) {
      this.fetchInFlight = undefined
      this.maybeFetch()
    }
    if (this.electionElapsed >= this.electionTimeout && !this.shellBusy && this.catchUpEndValue === undefined && this.membership.voters.includes(this.id)) this.campaign()
  }

  receive(message: RaftMessage): void {
    if (message.to !== this.id) return
    if (!this.isMember(message.from) && !leaderOriginated(message)) return
    switch (message.type) {
      case 'timeoutNow':
        this.onTimeoutNow(message)
        return
      case 'vote':
        this.onVote(message)
        return
      case 'voteResponse':
        this.onVoteResponse(message)
        return
      case 'beginEpoch':
        this.onBeginEpoch(message)
        return
      case 'fetch':
        this.onFetch(message)
        return
      case 'fetchResponse':
        this.onFetchResponse(message)
        return
    }
  }

  /**
   * The local log grew to `logEndOffset` (the leader appended produced records or its epoch's
   * first batch), with `newEpochs` starting in it. The offsets are assigned but the bytes may
   * not be in the file yet: fetches for them wait for `written` (or `persisted`), else the
   * shell would read nothing and answer them empty, and the follower would fetch again at once.
   */
  appended(logEndOffset: number, newEpochs: readonly EpochEntry[] = []): void {
    assert.ok(logEndOffset >= this.logEnd, 'appends only grow the log')
    for (const entry of newEpochs) this.epochs.assign(entry.epoch, entry.startOffset)
    this.logEnd = logEndOffset
    if (this.roleValue === 'leader' && logEndOffset > this.epochStartOffset) this.epochs.assign(this.epochValue, this.epochStartOffset)
  }

  /**
   * Every offset below `writtenEndOffset` is in the log file, so a read returns its bytes: a
   * leader answers the fetches parked for them now. Taken only up to the log end the core
   * knows: a follower's moves with fetchCompleted, after the log has written its append, so
   * the log may report more meanwhile (and this input must never throw: shells call it from
   * inside their log's writer).
   */
  written(writtenEndOffset: number): void {
    const end = Math.min(writtenEndOffset, this.logEnd)
    if (end <= this.writtenEnd) return
    this.writtenEnd = end
    if (this.roleValue === 'leader') this.answerParkedFetches(false)
  }

  /** Everything below `durableEndOffset` is fsynced on this replica (and so written). */
  persisted(durableEndOffset: number): void {
    assert.ok(durableEndOffset <= this.logEnd, 'only appended offsets can be durable')
    this.durableEnd = Math.max(this.durableEnd, durableEndOffset)
    this.written(durableEndOffset)
    if (this.roleValue === 'leader') this.advanceHighWatermark()
  }

  /**
   * Follower: the shell finished what the last fetch response asked (appended its records,
   * as durably as the flush policy promises, or truncated); the log now ends at
   * `logEndOffset`. The next fetch names that offset, which is what tells the leader this
   * replica holds everything below it, so under flush=always call this only once the append
   * is fsynced.
   */
  fetchCompleted(logEndOffset: number, newEpochs: readonly EpochEntry[] = [], newMemberships: readonly MembershipEntry[] = []): void {
    if (!this.shellBusy) return
    this.shellBusy = false
    // Recorded even if the fetch was abandoned meanwhile (a new leader, an election): the
    // shell's log did change.
    for (const entry of newEpochs) this.epochs.assign(entry.epoch, entry.startOffset)
    for (const entry of newMemberships) this.addMembership(entry)
    const fetchedFrom = this.fetchInFlight?.offset
    const caughtUp = this.fetchedRecordsPending && logEndOffset === fetchedFrom
    this.fetchedRecordsPending = false
    this.logEnd = logEndOffset
    this.writtenEnd = logEndOffset
    this.durableEnd = logEndOffset
    // Caught up on lost records: the log is back to where it was, or a leader (which holds
    // every committed record) had nothing past our end to send.
    if (this.catchUpEndValue !== undefined && (logEndOffset >= this.catchUpEndValue || caughtUp)) this.catchUpEndValue = undefined
    if (this.fetchOutcomePending) {
      this.fetchOutcomePending = false
      this.fetchInFlight = undefined
    }
    this.maybeFetch()
  }

  // ---------------------------------------------------------------- elections

  private campaign(): void {
    if (this.settings.preVote) {
      this.roleValue = 'preCandidate'
      // We timed out on our leader: no lease for it any more (etcd's becomePreCandidate).
      this.leaderValue = undefined
      this.leaderHeardTick = undefined
      this.startVoting(true)
    } else {
      this.becomeCandidate()
    }
  }

  private becomeCandidate(transfer = false): void {
    this.roleValue = 'candidate'
    this.setHardState(this.epochValue + 1, this.id)
    this.leaderValue = undefined
    this.leaderHeardTick = undefined
    this.startVoting(false, transfer)
  }

  /** The leader hands over: campaign now, skipping pre-vote, with voters waiving their lease. */
  private onTimeoutNow(message: TimeoutNow): void {
    if (message.epoch !== this.epochValue || message.from !== this.leaderValue || !this.membership.voters.includes(this.id)) return
    if (this.catchUpEndValue !== undefined) return // still fetching records it lost: not a leader's log yet
    this.becomeCandidate(true)
  }

  private startVoting(preVote: boolean, transfer = false): void {
    this.electionElapsed = 0
    this.electionTimeout = this.randomElectionTimeout()
    this.fetchInFlight = undefined
    this.fetchOutcomePending = false
    this.votes = new Set([this.id])
    this.rejections = new Set()
    if (this.hasMajority(this.votes)) {
      if (preVote) this.becomeCandidate()
      else this.becomeLeader()
      return
    }
    const epoch = preVote ? this.epochValue + 1 : this.epochValue
    for (const voter of this.membership.voters) {
      if (voter === this.id) continue
      this.send({ type: 'vote', epoch, from: this.id, to: voter, preVote, lastEpoch: this.epochs.latestEpoch, logEndOffset: this.logEnd, transfer })
    }
  }

  private onVote(request: VoteRequest): void {
    const grant = (granted: boolean, epoch: number): void =>
      this.send({ type: 'voteResponse', epoch, from: this.id, to: request.from, preVote: request.preVote, granted })
    // Within a live leader's lease, a vote request is a node that lost touch; refusing it
    // (without even adopting its epoch) is what keeps it from disrupting the group. The
    // refusal names the leader, so the node can rejoin by fetching from it.
    if (!this.membership.voters.includes(request.from)) {
      grant(false, this.epochValue)
      return
    }
    if (this.catchUpEndValue !== undefined) {
      // Records this replica lost may be committed; its vote could elect a log without them.
      grant(false, this.epochValue)
      return
    }
    if (this.inLease() && request.from !== this.leaderValue && request.transfer !== true) {
      this.send({ type: 'voteResponse', epoch: this.epochValue, from: this.id, to: request.from, preVote: request.preVote, granted: false, leader: this.leaderValue })
      return
    }
    if (request.preVote) {
      // A refusal carries our own epoch, so a candidate behind on epochs catches up.
      const granted = request.epoch > this.epochValue && !this.shellBusy && this.logIsBehindOrEqual(request)
      grant(granted, granted ? request.epoch : this.epochValue)
      return
    }
    if (request.epoch < this.epochValue) {
      grant(false, this.epochValue)
      return
    }
    if (request.epoch > this.epochValue) this.becomeFollower(request.epoch, undefined)
    const canVote = this.votedFor === undefined || this.votedFor === request.from
    // While the shell is appending fetched records our log end is not known: no vote then.
    const granted = canVote && !this.shellBusy && this.logIsBehindOrEqual(request)
    if (granted) {
      this.setHardState(this.epochValue, request.from)
      this.electionElapsed = 0
    }
    grant(granted, this.epochValue)
  }

  private onVoteResponse(response: VoteResponse): void {
    if (response.leader !== undefined && response.leader !== this.id && this.roleValue !== 'leader' && response.epoch >= this.epochValue) {
      // A voter in its lease names its leader: follow it and fetch from it. This is hearsay,
      // not contact: it starts no lease of ours (becomeFollower forgets leaderHeardTick for a
      // new leader), so if that leader is dead we still grant the next pre-vote. A follower
      // that already follows that leader learns nothing and keeps its election timer running.
      const nothingNew = this.roleValue === 'follower' && this.leaderValue === response.leader && response.epoch === this.epochValue
      if (!nothingNew) this.becomeFollower(response.epoch, response.leader)
      return
    }
    const campaigning = response.preVote ? this.roleValue === 'preCandidate' : this.roleValue === 'candidate'
    // Granted pre-votes echo the epoch asked for; refusals (and real votes) carry the voter's.
    const expectedEpoch = response.preVote && response.granted ? this.epochValue + 1 : this.epochValue
    if (response.epoch > this.epochValue && !(response.preVote && response.granted)) {
      this.becomeFollower(response.epoch, undefined)
      return
    }
    if (!campaigning || response.epoch !== expectedEpoch) return
    if (response.granted) this.votes.add(response.from)
    else this.rejections.add(response.from)
    if (this.hasMajority(this.votes)) {
      if (response.preVote) this.becomeCandidate()
      else this.becomeLeader()
    } else if (this.hasMajority(this.rejections)) {
      this.becomeFollower(this.epochValue, undefined)
    }
  }

  /** Raft's up-to-date rule in offsets: compare last epochs, then log ends. */
  private logIsBehindOrEqual(request: VoteRequest): boolean {
    const ourLastEpoch = this.epochs.latestEpoch
    if (request.lastEpoch !== ourLastEpoch) return request.lastEpoch > ourLastEpoch
    return request.logEndOffset >= this.logEnd
  }

  /**
   * A follower that heard from its leader directly within the election timeout
   * (check-quorum's lease, as etcd's). Counted from the leader's own last message, not from
   * electionElapsed: that restarts on hearsay too (a refusal naming a leader), and a lease
   * restarted by hearsay kept a dead leader alive, voters refusing each other by turns.
   */
  private inLease(): boolean {
    if (!this.settings.checkQuorum) return false
    if (this.roleValue === 'leader') return true
    if (this.leaderValue === undefined || this.leaderHeardTick === undefined) return false
    return this.now - this.leaderHeardTick < this.settings.electionTimeoutTicks
  }

  /** A message from our leader itself: its lease (and our election timer) starts again. */
  private heardFromLeader(): void {
    this.leaderHeardTick = this.now
    this.electionElapsed = 0
  }

  private becomeLeader(): void {
    assert.ok(this.roleValue === 'candidate' && this.votedFor === this.id)
    this.roleValue = 'leader'
    this.leaderValue = this.id
    this.leaderHeardTick = undefined
    this.epochStartOffset = this.logEnd
    // The epoch enters the cache with its first batch (appended): a leader deposed before
    // writing it must not claim the epoch in later elections.
    this.progress = new Map()
    this.syncProgress()
    this.transfer = undefined
    this.parked = new Map()
    this.quorumCheckElapsed = 0
    this.leaderSinceTick = this.now
    this.fetchInFlight = undefined
    this.fetchOutcomePending = false
    this.effects.push({ type: 'becomeLeader', epoch: this.epochValue, startOffset: this.epochStartOffset })
    for (const member of this.progress.keys()) this.send({ type: 'beginEpoch', epoch: this.epochValue, from: this.id, to: member })
  }

  private becomeFollower(epoch: number, leader: string | undefined): void {
    const wasLeading = this.roleValue === 'leader'
    // Contact with one leader says nothing about another, nor about the same id in a later epoch.
    if (this.leaderValue !== leader || epoch > this.epochValue) {
      this.leaderHeardTick = undefined
      this.leaderReadSeq = 0
    }
    if (epoch > this.epochValue) this.setHardState(epoch, undefined)
    const changed = this.roleValue !== 'follower' || this.leaderValue !== leader || wasLeading
    this.roleValue = 'follower'
    this.leaderValue = leader
    this.parked = new Map()
    this.transfer = undefined
    this.electionElapsed = 0
    this.electionTimeout = this.randomElectionTimeout()
    if (this.fetchInFlight !== undefined && this.fetchInFlight.to !== leader) {
      this.fetchInFlight = undefined
      this.fetchOutcomePending = false
    }
    if (changed) this.effects.push({ type: 'becomeFollower', epoch: this.epochValue, leader })
    this.maybeFetch()
  }

  private onBeginEpoch(message: BeginEpoch): void {
    if (message.epoch < this.epochValue) {
      // We moved past the leader's epoch while cut off and cannot catch up by voting: under
      // check-quorum our votes are refused, under pre-vote nobody adopts our epoch. Tell the
      // leader our epoch so it steps down and the group elects at one we can join (etcd does
      // the same for both settings).
      if ((this.settings.checkQuorum || this.settings.preVote) && this.roleValue !== 'leader') {
        this.send({ type: 'fetch', epoch: this.epochValue, from: this.id, to: message.from, fetchOffset: this.logEnd, lastFetchedEpoch: this.epochs.epochAt(this.logEnd - 1) })
      }
      return
    }
    if (message.epoch === this.epochValue && this.roleValue === 'leader') return
    this.becomeFollower(message.epoch, message.from)
    this.heardFromLeader()
  }

  // ---------------------------------------------------------------- replication: leader

  private onFetch(request: FetchRequest): void {
    if (request.epoch > this.epochValue) {
      // The fetcher knows a newer epoch: an election happened without us.
      this.becomeFollower(request.epoch, undefined)
      return
    }
    if (this.roleValue !== 'leader' || request.epoch < this.epochValue) {
      this.respond(request, 'fenced', { epoch: 0, endOffset: 0 })
      return
    }
    const end = this.epochs.endOffsetFor(request.lastFetchedEpoch, this.logEnd)
    if (end.epoch !== request.lastFetchedEpoch || end.endOffset < request.fetchOffset) {
      this.respond(request, 'diverging', end)
      return
    }
    const replica = this.progress.get(request.from)
    if (replica === undefined) return
    replica.endOffset = request.fetchOffset
    replica.lastFetchTick = this.now
    if (request.readSeq !== undefined && request.readSeq > replica.readSeq) {
      replica.readSeq = Math.min(request.readSeq, this.readSeqRequested)
      this.confirmReads()
    }
    this.advanceHighWatermark()
    if (this.roleValue !== 'leader') return
    this.maybeSendTimeoutNow()
    if (request.fetchOffset >= this.writtenEnd) {
      // Nothing new yet, or nothing the shell can read yet (appended, not written): hold the
      // fetch until records are readable or the wait runs out. Answered now, it would carry
      // no bytes and the follower would fetch again at once, a busy loop under load.
      this.parked.set(request.from, { request, sinceTick: this.now })
      return
    }
    this.parked.delete(request.from)
    this.respond(request, 'records', { epoch: 0, endOffset: 0 })
  }

  private respond(request: FetchRequest, outcome: FetchResponse['outcome'], diverging: { epoch: number; endOffset: number }): void {
    this.send({
      type: 'fetchResponse',
      epoch: this.epochValue,
      from: this.id,
      to: request.from,
      outcome,
      leader: this.leaderValue,
      fetchOffset: request.fetchOffset,
      highWatermark: this.highWatermarkValue,
      divergingEpoch: diverging.epoch,
      divergingEndOffset: diverging.endOffset,
      ...(request.fetchId === undefined ? {} : { fetchId: request.fetchId }),
      ...(this.roleValue === 'leader' && this.readSeqRequested > 0 ? { readSeq: this.readSeqRequested } : {}),
    })
  }

  /** Leader: the read barrier a majority of voters (this one at the latest) has echoed. */
  private confirmReads(): void {
    const voters = this.membership.voters
    const seqs = voters.map((voter) => (voter === this.id ? this.readSeqRequested : (this.progress.get(voter)?.readSeq ?? 0)))
    seqs.sort((a, b) => b - a)
    const confirmed = seqs[Math.floor(voters.length / 2)] as number
    if (confirmed > this.readSeqConfirmed) this.readSeqConfirmed = confirmed
  }

  /** `all`: answer every parked fetch now (a read barrier goes out with the answers). */
  private answerParkedFetches(onlyExpired: boolean, all = false): void {
    for (const [from, parked] of this.parked) {
      const expired = this.now - parked.sinceTick >= this.settings.fetchMaxWaitTicks
      if (!all && (onlyExpired ? !expired : parked.request.fetchOffset >= this.writtenEnd)) continue
      this.parked.delete(from)
      this.respond(parked.request, 'records', { epoch: 0, endOffset: 0 })
    }
  }

  /** The largest offset a majority holds durably, once the leader's epoch has a committed record. */
  private advanceHighWatermark(): void {
    const voters = this.membership.voters
    const ends = voters.map((voter) => (voter === this.id ? this.durableEnd : (this.progress.get(voter)?.endOffset ?? 0)))
    ends.sort((a, b) => b - a)
    const majorityEnd = ends[Math.floor(voters.length / 2)] as number
    if (majorityEnd <= this.epochStartOffset || majorityEnd <= this.highWatermarkValue) return
    this.highWatermarkValue = majorityEnd
    this.effects.push({ type: 'highWatermark', offset: majorityEnd })
    // A leader that removed itself leads until that change commits, then steps down (Raft §4.2.2).
    const last = this.memberships[this.memberships.length - 1]
    if (last !== undefined && last.offset < majorityEnd && !last.voters.includes(this.id)) this.becomeFollower(this.epochValue, undefined)
  }

  private tickLeader(): void {
    this.answerParkedFetches(true)
    if (this.transfer !== undefined && this.now - this.transfer.sinceTick >= this.settings.electionTimeoutTicks) this.transfer = undefined
    // Voters that have not fetched lately may not know this leader (they restarted, or
    // missed beginEpoch): remind them, as KRaft's leader re-sends BeginQuorumEpoch.
    if ((this.now - this.leaderSinceTick) % this.settings.fetchTimeoutTicks === 0) {
      for (const [voter, replica] of this.progress) {
        if (this.now - replica.lastFetchTick >= this.settings.fetchTimeoutTicks) this.send({ type: 'beginEpoch', epoch: this.epochValue, from: this.id, to: voter })
      }
    }
    if (!this.settings.checkQuorum) return
    this.quorumCheckElapsed++
    if (this.quorumCheckElapsed < this.settings.electionTimeoutTicks) return
    this.quorumCheckElapsed = 0
    const heard = new Set([this.id])
    for (const [member, replica] of this.progress) {
      if (this.now - replica.lastFetchTick < this.settings.electionTimeoutTicks) heard.add(member)
    }
    // Cut off from a majority: another leader may be elected on the other side; stop
    // accepting writes that could never commit.
    if (!this.hasMajority(heard)) this.becomeFollower(this.epochValue, undefined)
  }

  // ---------------------------------------------------------------- replication: follower

  private maybeFetch(): void {
    if (this.roleValue !== 'follower' || this.leaderValue === undefined || this.fetchInFlight !== undefined || this.shellBusy) return
    const id = ++this.fetchesSent
    this.fetchInFlight = { offset: this.logEnd, sinceTick: this.now, to: this.leaderValue, id }
    this.send({
      fetchId: id,
      type: 'fetch',
      epoch: this.epochValue,
      from: this.id,
      to: this.leaderValue,
      fetchOffset: this.logEnd,
      lastFetchedEpoch: this.epochs.epochAt(this.logEnd - 1),
      ...(this.leaderReadSeq > 0 ? { readSeq: this.leaderReadSeq } : {}),
    })
  }

  private onFetchResponse(response: FetchResponse): void {
    if (response.epoch < this.epochValue) return
    if (response.outcome === 'fenced') {
      // Only a fence that teaches us something (a newer epoch, another leader) ends the fetch
      // early; otherwise it waits out its timeout, or two confused replicas would ping-pong.
      if (response.epoch > this.epochValue || (response.leader !== undefined && response.leader !== this.leaderValue)) {
        if (this.fetchInFlight?.to === response.from && !this.fetchOutcomePending) this.fetchInFlight = undefined
        this.becomeFollower(response.epoch, response.leader)
        this.maybeFetch()
      }
      return
    }
    // Two leaders of one epoch cannot exist; a response claiming so is a bug or a forgery.
    if (this.roleValue === 'leader' && response.epoch === this.epochValue) return
    if (response.epoch > this.epochValue || this.leaderValue !== response.from) this.becomeFollower(response.epoch, response.from)
    if (this.roleValue !== 'follower') return
    this.heardFromLeader()
    if (response.readSeq !== undefined && response.readSeq > this.leaderReadSeq) this.leaderReadSeq = response.readSeq
    const inFlight = this.fetchInFlight
    if (inFlight === undefined || this.fetchOutcomePending || inFlight.offset !== response.fetchOffset || inFlight.to !== response.from) return
    // A late answer to an earlier fetch at the same offset (sent before a truncation and a
    // refetch) describes a log we no longer have: only the current fetch's answer counts.
    if (response.fetchId !== undefined && response.fetchId !== inFlight.id) return
    this.fetchOutcomePending = true
    this.shellBusy = true
    if (response.outcome === 'records') {
      // Only with records: a diverging answer's high watermark may cover our doomed tail.
      const highWatermark = Math.min(response.highWatermark, this.logEnd)
      if (highWatermark > this.highWatermarkValue) {
        this.highWatermarkValue = highWatermark
        this.effects.push({ type: 'highWatermark', offset: highWatermark })
      }
      this.fetchedRecordsPending = true
      this.effects.push({ type: 'appendFetched', fetchOffset: response.fetchOffset })
      return
    }
    // Diverging: cut where the leader's copy of that epoch ends, or where ours does if earlier.
    const ours = this.epochs.endOffsetFor(response.divergingEpoch, this.logEnd)
    // If we never had that epoch, cut where our own epoch below it ends (a batch boundary of
    // ours); the next fetch narrows it further. The leader's offset could fall inside a batch.
    const cut = ours.epoch === response.divergingEpoch ? Math.min(response.divergingEndOffset, ours.endOffset, this.logEnd) : Math.min(ours.endOffset, this.logEnd)
    assert.ok(cut >= this.highWatermarkValue, `a divergence below the high watermark (${cut} < ${this.highWatermarkValue}) means committed records differ`)
    this.epochs.truncateFrom(cut)
    this.memberships = this.memberships.filter((entry) => entry.offset < cut)
    this.logEnd = cut
    this.writtenEnd = Math.min(this.writtenEnd, cut)
    this.durableEnd = Math.min(this.durableEnd, cut)
    this.effects.push({ type: 'truncate', offset: cut })
  }

  // ---------------------------------------------------------------- helpers

  private isMember(id: string): boolean {
    const { voters, learners } = this.membership
    return voters.includes(id) || learners.includes(id)
  }

  private addMembership(entry: MembershipEntry): void {
    const last = this.memberships[this.memberships.length - 1]
    assert.ok(last === undefined || entry.offset > last.offset, 'membership entries grow')
    this.memberships.push({ offset: entry.offset, ...normalize(entry) })
    if (this.roleValue === 'leader') {
      this.syncProgress()
      this.advanceHighWatermark()
    }
  }

  /** Leader: one progress entry per other member of the current membership. */
  private syncProgress(): void {
    const { voters, learners } = this.membership
    const members = new Set([...voters, ...learners].filter((id) => id !== this.id))
    for (const id of this.progress.keys()) if (!members.has(id)) this.progress.delete(id)
    for (const id of members) if (!this.progress.has(id)) this.progress.set(id, { endOffset: 0, lastFetchTick: this.now, readSeq: 0 })
  }

  private maybeSendTimeoutNow(): void {
    const transfer = this.transfer
    if (transfer === undefined || transfer.sent || this.progress.get(transfer.target)?.endOffset !== this.logEnd) return
    // Sent once; `transferring` stays set (no new writes) until leadership moves or the attempt times out.
    transfer.sent = true
    this.send({ type: 'timeoutNow', epoch: this.epochValue, from: this.id, to: transfer.target })
  }

  private setHardState(epoch: number, votedFor: string | undefined): void {
    assert.ok(epoch >= this.epochValue, 'epochs never go back')
    this.epochValue = epoch
    this.votedFor = votedFor
    this.effects.push({ type: 'persist', state: { epoch, votedFor } })
  }

  private send(message: RaftMessage): void {
    this.effects.push({ type: 'send', message })
  }

  private hasMajority(members: ReadonlySet<string>): boolean {
    const voters = this.membership.voters
    let count = 0
    for (const voter of voters) if (members.has(voter)) count++
    return count > voters.length / 2
  }

  private randomElectionTimeout(): number {
    if (this.preferredLeader === this.id && this.epochValue === 0 && this.logEnd === 0) return NEW_GROUP_PREFERRED_TIMEOUT_TICKS
    const base = this.settings.electionTimeoutTicks
    return base + Math.floor(this.random() * base)
  }
}

/**
 * Messages only a leader (or a replica answering our fetch) sends, taken even from a replica
 * outside our membership view: a replica that missed membership changes (re-added after a
 * move, or cut off while another was added) learns the current membership from the log, so
 * it must be able to follow a leader it does not know yet, as etcd's learners do. Votes from
 * non-members stay ignored: they could elect no one the current membership agrees to.
 */
function leaderOriginated(message: RaftMessage): boolean {
  return message.type === 'beginEpoch' || message.type === 'fetchResponse'
}

function normalize(membership: RaftMembership): RaftMembership {
  const voters = [...new Set(membership.voters)].sort()
  const learners = [...new Set(membership.learners)].filter((id) => !voters.includes(id)).sort()
  return { voters, learners }
}
