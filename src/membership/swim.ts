/**
 * SWIM with Lifeguard as a pure state machine. Inputs: `join`, `leave`, `receive` (a message
 * off the network) and `tick` (time passed), each with the current time; output: a list of
 * effects for the shell to carry out (send a message, report a member change). The core
 * owns no clock, timer, socket or randomness source: time is an argument, randomness a
 * `Random` it is given, and `nextTickAtMs()` says when it next wants a `tick`.
 *
 * Effect ordering: none is required. Effects of one call may be executed in any order, and
 * sends may be lost, duplicated or reordered by the network (the protocol expects it).
 *
 * Protocol (see settings.ts for the papers and every tunable):
 * - Each probe period one member (round-robin over a shuffled list) gets a `ping`; no `ack`
 *   within probeTimeoutMs sends `ping-req` to k others; no ack by the end of the period makes
 *   the target suspect (SWIM §3.1, §4.2, §4.3).
 * - A suspect that nobody refutes becomes dead when its suspicion times out; the timeout
 *   shrinks with independent confirmations (Lifeguard §IV-B). A member refutes a rumour
 *   about itself by raising its incarnation above the rumour's.
 * - Updates ride on every message, each a bounded number of times (SWIM §4.1); every
 *   pushPullIntervalMs a full-state exchange with one random member repairs the rest.
 *
 * Beyond memberlist, two things keep a member that missed a refutation from declaring a live
 * member dead (both found necessary in the 10%-loss simulation, sim/swim/):
 * - a ping and an ack carry the sender's (for an ack: the pinged member's) own incarnation,
 *   which is that member's word on it and refutes a stale suspicion (swift-cluster-membership
 *   does the same for acks);
 * - with Lifeguard, a suspicion expires only after this member probed the suspect itself in
 *   the last two probe periods before the deadline (`suspectToVerify`, `mayExpire`).
 */
import { jittered, type Random } from '../env/random.js'
import { Awareness } from './awareness.js'
import { BroadcastQueue } from './broadcast-queue.js'
import { INCARNATION_MAX, isLive, MemberState, precedence, Precedence, type Member } from './member.js'
import {
  ADDRESS_LENGTH_MAX,
  MEMBER_ID_LENGTH_MAX,
  parseSwimMessage,
  SWIM_MESSAGE_TYPES,
  ZONE_LENGTH_MAX,
  type AckMessage,
  type AliveUpdate,
  type GossipUpdate,
  type NackMessage,
  type PingMessage,
  type PingReqMessage,
  type PushPullMessage,
  type SuspectUpdate,
  type SwimMessage,
  type SwimMessageType,
} from './messages.js'
import { ProbeOrder } from './probe-order.js'
import {
  retransmitLimit,
  suspicionConfirmationsExpected,
  suspicionTimeoutMaxMs,
  suspicionTimeoutMinMs,
  validateSwimSettings,
  type SwimSettings,
} from './settings.js'
import { Suspicion } from './suspicion.js'


export type SwimEffect =
  | { kind: 'send'; toId: string; toAddress: string; message: SwimMessage }
  /** To a seed, whose id is not known yet. */
  | { kind: 'sendToAddress'; address: string; message: SwimMessage }
  /**
   * A member's state changed (previousState undefined: newly known), or its address or zone
   * changed with a new incarnation. `reason` is for logs.
   */
  | { kind: 'memberChanged'; member: Member; previousState: MemberState | undefined; reason: string }

export interface SwimOptions {
  self: { id: string; address: string; zone: string }
  settings: SwimSettings
  random: Random
  nowMs: number
  /** Starting incarnation; a restarted process may start at 0 and refutes its way up. */
  incarnation?: number
}

export interface SwimStats {
  messagesSent: number
  messagesSentByType: Record<SwimMessageType, number>
  /** Updates piggybacked on sent messages, counted once per message. */
  gossipUpdatesSent: number
  messagesReceived: number
  /** Received values that failed validation (garbage, wrong shape, out of bounds). */
  messagesInvalid: number
  /** Valid messages with nothing to act on: a ping for another id, a late ack, a full relay table. */
  messagesIgnored: number
  probesStarted: number
  probesSucceeded: number
  probesFailed: number
  pingReqsSent: number
  relaysStarted: number
  nacksSent: number
  /** Members this node moved from alive to suspect (on its own probe or on a rumour). */
  suspicionsStarted: number
  /** Suspicions that timed out here: members this node itself declared dead. */
  suspicionTimeouts: number
  /** Times this node raised its incarnation to refute a rumour about itself. */
  refutations: number
  pushPullsStarted: number
  joinAttempts: number
  /** New members ignored because the table was at membersMax. */
  membersRefused: number
  awarenessScore: number
  incarnation: number
}

interface MemberEntry {
  readonly id: string
  address: string
  zone: string
  incarnation: number
  state: MemberState
  stateChangedAtMs: number
}

interface ProbeInFlight {
  readonly seq: number
  readonly targetId: string
  readonly indirectAtMs: number
  readonly endAtMs: number
  acked: boolean
  indirectSent: boolean
  relayIds: readonly string[]
  readonly nacksFrom: Set<string>
}

/** An indirect probe this node runs for another member. */
interface Relay {
  readonly originId: string
  readonly originAddress: string
  readonly originSeq: number
  readonly targetId: string
  readonly expiresAtMs: number
}

interface JoinState {
  readonly seeds: readonly string[]
  attempt: number
  nextAtMs: number
}

/** Join retry delays double per attempt up to the cap; the exponent stops here. */
const JOIN_BACKOFF_EXPONENT_MAX = 30
/**
 * With Lifeguard, a suspicion expires only after this member probed the suspect itself within
 * this many probe periods before the deadline (see `suspectToVerify`).
 */
const VERIFY_WINDOW_PERIODS = 2
/** Sequence numbers start at a random value below this, so a restarted process ignores acks meant for its predecessor. */
const SEQ_START_MAX = 2 ** 31

export class Swim {
  readonly selfId: string
  private readonly settings: SwimSettings
  private readonly random: Random
  private readonly self: MemberEntry
  private readonly table = new Map<string, MemberEntry>()
  private readonly suspicions = new Map<string, Suspicion>()
  private readonly relays = new Map<number, Relay>()
  private readonly queue = new BroadcastQueue()
  private readonly awareness: Awareness
  private readonly probeOrder: ProbeOrder
  private probe: ProbeInFlight | undefined
  private joinState: JoinState | undefined
  private nextProbeAtMs: number
  private nextPushPullAtMs: number
  private seqNext: number
  private lastNowMs: number
  private liveCount = 0
  private suspectCount = 0
  private effects: SwimEffect[] = []
  private readonly counters: Omit<SwimStats, 'awarenessScore' | 'incarnation'>

  constructor(options: SwimOptions) {
    validateSwimSettings(options.settings)
    requireText('self.id', options.self.id, 1, MEMBER_ID_LENGTH_MAX)
    requireText('self.address', options.self.address, 1, ADDRESS_LENGTH_MAX)
    requireText('self.zone', options.self.zone, 0, ZONE_LENGTH_MAX)
    requireTime(options.nowMs)
    const incarnation = options.incarnation ?? 0
    if (!Number.isSafeInteger(incarnation) || incarnation < 0 || incarnation > INCARNATION_MAX) {
      throw new RangeError(`incarnation must be an integer in [0, ${INCARNATION_MAX}], got ${incarnation}`)
    }
    this.settings = { ...options.settings }
    this.random = options.random
    this.selfId = options.self.id
    this.self = { ...options.self, incarnation, state: MemberState.alive, stateChangedAtMs: options.nowMs }
    this.table.set(this.selfId, this.self)
    this.liveCount = 1
    this.awareness = new Awareness(this.settings.awarenessMaxMultiplier)
    this.probeOrder = new ProbeOrder(this.random)
    this.seqNext = this.random.int(SEQ_START_MAX)
    this.lastNowMs = options.nowMs
    // Staggered starts, so members started together do not probe and sync in lockstep.
    this.nextProbeAtMs = options.nowMs + this.random.int(this.settings.probeIntervalMs)
    this.nextPushPullAtMs = options.nowMs + this.random.int(this.settings.pushPullIntervalMs)
    this.counters = emptyCounters()
  }

  // ---- inputs ---------------------------------------------------------------------------

  /**
   * Asks the seeds (addresses; our own is skipped) for their member lists with a push-pull,
   * again with capped, jittered backoff (via `tick`) until one answers. No seed but ourselves:
   * we are the first member of a new cluster.
   */
  join(seedAddresses: readonly string[], nowMs: number): SwimEffect[] {
    this.advanceTo(nowMs)
    if (this.hasLeft()) throw new Error(`swim ${this.selfId}: join after leave`)
    const seeds: string[] = []
    for (const seed of seedAddresses) {
      requireText('seed address', seed, 1, ADDRESS_LENGTH_MAX)
      if (seed !== this.self.address && !seeds.includes(seed)) seeds.push(seed)
    }
    this.joinState = seeds.length === 0 ? undefined : { seeds, attempt: 0, nextAtMs: nowMs + this.joinDelayMs(0) }
    // Announce ourselves on our own messages too, not only through the seed's gossip: with few
    // members the seed's few retransmissions can all land on members that already know.
    this.queue.enqueue(this.selfAlive())
    if (this.joinState !== undefined) this.sendJoinRequests()
    return this.flush()
  }

  /** Announces that this member leaves (a 'left' update to a few members at once), then stops probing. */
  leave(nowMs: number): SwimEffect[] {
    this.advanceTo(nowMs)
    if (this.hasLeft()) return []
    this.setState(this.self, MemberState.left, nowMs)
    this.probe = undefined
    this.joinState = undefined
    const left: GossipUpdate = { state: 'left', id: this.selfId, incarnation: this.self.incarnation }
    this.queue.enqueue(left)
    this.emitChanged(this.self, MemberState.alive, 'left')
    // A leave happens once per node: tell every live member directly (n messages), each
    // message carrying the 'left' itself. Drawing it from the retransmit-limited queue would
    // reach only a retransmit limit's worth of members, and piggybacking misses one now and
    // then until the next push-pull (30 s), which keeps routing work to a node that is gone.
    for (const target of this.pickRandom(this.liveCount + 1, (entry) => entry !== this.self && isLive(entry.state))) {
      const others = this.gossipFor(target.id).filter((update) => update.id !== this.selfId)
      this.sendTo(target.id, target.address, { type: 'gossip', gossip: [left, ...others] })
    }
    this.checkInvariants()
    return this.flush()
  }

  /**
   * A message from member `fromId` (as the transport authenticated it). `message` comes off
   * the network: anything that is not a valid SwimMessage is counted and ignored.
   */
  receive(fromId: string, message: unknown, nowMs: number): SwimEffect[] {
    this.advanceTo(nowMs)
    this.counters.messagesReceived++
    const parsed = parseSwimMessage(message)
    if (parsed === undefined || typeof fromId !== 'string' || fromId.length === 0 || fromId.length > MEMBER_ID_LENGTH_MAX) {
      this.counters.messagesInvalid++
      return []
    }
    if (fromId === this.selfId) {
      this.counters.messagesIgnored++
      return []
    }
    for (const update of parsed.gossip) this.applyUpdate(update, nowMs, 'gossip')
    this.dispatch(fromId, parsed, nowMs)
    this.checkInvariants()
    return this.flush()
  }

  /** Does whatever is due at `nowMs`: probe steps, suspicion timeouts, push-pull, join retry. */
  tick(nowMs: number): SwimEffect[] {
    this.advanceTo(nowMs)
    this.expireRelays(nowMs)
    if (!this.hasLeft()) {
      this.advanceProbe(nowMs)
      this.expireSuspicions(nowMs)
      if (nowMs >= this.nextProbeAtMs) this.startProbe(nowMs)
      if (nowMs >= this.nextPushPullAtMs) this.startPushPull(nowMs)
      if (this.joinState !== undefined && nowMs >= this.joinState.nextAtMs) this.retryJoin(nowMs)
    }
    this.checkInvariants()
    return this.flush()
  }

  /** The earliest time `tick` has work to do (Infinity: none until a message arrives). */
  nextTickAtMs(): number {
    let atMs = Infinity
    for (const relay of this.relays.values()) atMs = Math.min(atMs, relay.expiresAtMs)
    if (this.hasLeft()) return atMs
    atMs = Math.min(atMs, this.nextProbeAtMs, this.nextPushPullAtMs)
    const probe = this.probe
    if (probe !== undefined) {
      atMs = Math.min(atMs, probe.endAtMs)
      if (!probe.acked && !probe.indirectSent) atMs = Math.min(atMs, probe.indirectAtMs)
    }
    // A suspicion still waiting for our own probe of the suspect is due with that probe (above).
    for (const [id, suspicion] of this.suspicions) if (this.mayExpire(id, suspicion)) atMs = Math.min(atMs, suspicion.deadlineMs)
    if (this.joinState !== undefined) atMs = Math.min(atMs, this.joinState.nextAtMs)
    return atMs
  }

  // ---- queries --------------------------------------------------------------------------

  /** Every member known, self included, dead and left ones until forgotten; sorted by id. */
  members(): Member[] {
    return [...this.table.values()].map(toMember).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  }

  member(id: string): Member | undefined {
    const entry = this.table.get(id)
    return entry === undefined ? undefined : toMember(entry)
  }

  /** True once a seed answered, or when there was no seed to ask. */
  get joined(): boolean {
    return this.joinState === undefined
  }

  /** The suspicion deadline of a suspect member, for tests and diagnostics. */
  suspicionDeadlineMs(id: string): number | undefined {
    return this.suspicions.get(id)?.deadlineMs
  }

  stats(): SwimStats {
    return {
      ...this.counters,
      messagesSentByType: { ...this.counters.messagesSentByType },
      awarenessScore: this.awareness.score,
      incarnation: this.self.incarnation,
    }
  }

  // ---- receiving ------------------------------------------------------------------------

  private dispatch(fromId: string, message: SwimMessage, nowMs: number): void {
    switch (message.type) {
      case 'ping':
        return this.onPing(fromId, message, nowMs)
      case 'ping-req':
        return this.onPingReq(fromId, message, nowMs)
      case 'ack':
        return this.onAck(fromId, message, nowMs)
      case 'nack':
        return this.onNack(fromId, message)
      case 'push-pull':
        return this.onPushPull(fromId, message, nowMs)
      case 'gossip':
        return
    }
  }

  private onPing(fromId: string, ping: PingMessage, nowMs: number): void {
    if (ping.targetId !== this.selfId) {
      this.counters.messagesIgnored++
      return
    }
    this.learnIncarnation(fromId, ping.fromIncarnation, nowMs)
    const ack: AckMessage = { type: 'ack', seq: ping.seq, incarnation: this.self.incarnation, gossip: this.gossipFor(fromId) }
    this.sendTo(fromId, ping.fromAddress, ack)
  }

  private onPingReq(fromId: string, request: PingReqMessage, nowMs: number): void {
    const full = this.relays.size >= this.settings.relaysInFlightMax
    if (this.hasLeft() || full || request.targetId === this.selfId || request.targetId === fromId) {
      this.counters.messagesIgnored++
      return
    }
    const seq = this.nextSeq()
    const waitMs = Math.max(1, Math.floor(this.settings.probeTimeoutMs * this.settings.indirectNackTimeoutRatio))
    this.relays.set(seq, {
      originId: fromId,
      originAddress: request.fromAddress,
      originSeq: request.seq,
      targetId: request.targetId,
      expiresAtMs: nowMs + waitMs,
    })
    this.counters.relaysStarted++
    const ping: PingMessage = {
      type: 'ping',
      seq,
      targetId: request.targetId,
      fromAddress: this.self.address,
      fromIncarnation: this.self.incarnation,
      gossip: this.gossipFor(request.targetId),
    }
    this.sendTo(request.targetId, request.targetAddress, ping)
  }

  private onAck(fromId: string, ack: AckMessage, nowMs: number): void {
    const relay = this.relays.get(ack.seq)
    if (relay !== undefined && relay.targetId === fromId) {
      this.relays.delete(ack.seq)
      this.learnIncarnation(fromId, ack.incarnation, nowMs)
      const relayed: AckMessage = { type: 'ack', seq: relay.originSeq, incarnation: ack.incarnation, gossip: this.gossipFor(relay.originId) }
      this.sendTo(relay.originId, relay.originAddress, relayed)
      return
    }
    const probe = this.probe
    const expected = probe !== undefined && probe.seq === ack.seq && !probe.acked
    if (!expected || (fromId !== probe.targetId && !probe.relayIds.includes(fromId))) {
      this.counters.messagesIgnored++
      return
    }
    probe.acked = true
    this.counters.probesSucceeded++
    if (this.settings.lifeguard) this.awareness.applyDelta(-1)
    this.learnIncarnation(probe.targetId, ack.incarnation, nowMs)
  }

  /**
   * A member's own word on its incarnation (its ack, relayed or not, or its ping): it is the
   * one authority on it, so this is alive(incarnation) from the source, and may refute a
   * suspicion we hold about it, which the gossip of its refutation failed to bring us.
   * Unknown members are not added (we know no address for them).
   */
  private learnIncarnation(id: string, incarnation: number, nowMs: number): void {
    const entry = this.table.get(id)
    if (entry === undefined || entry === this.self) return
    if (precedence(entry, { state: MemberState.alive, incarnation }) !== Precedence.apply) return
    const alive: AliveUpdate = { state: 'alive', id, incarnation, address: entry.address, zone: entry.zone }
    this.adoptAlive(alive, nowMs, 'joined')
  }

  private onNack(fromId: string, nack: NackMessage): void {
    const probe = this.probe
    if (probe === undefined || probe.seq !== nack.seq || !probe.relayIds.includes(fromId)) {
      this.counters.messagesIgnored++
      return
    }
    probe.nacksFrom.add(fromId)
  }

  private onPushPull(fromId: string, message: PushPullMessage, nowMs: number): void {
    for (const record of message.members) this.mergeRecord(record, fromId, nowMs)
    if (!message.isResponse) {
      const response: PushPullMessage = {
        type: 'push-pull',
        isResponse: true,
        isJoin: message.isJoin,
        fromAddress: this.self.address,
        members: this.memberRecords(),
        gossip: this.gossipFor(fromId),
      }
      this.sendTo(fromId, message.fromAddress, response)
    } else if (this.joinState !== undefined) {
      this.joinState = undefined
    }
  }

  /**
   * One member record of a push-pull. A remote 'dead' is taken as a suspicion (memberlist's
   * rule): it lets a member that is in fact alive refute instead of dying on hearsay. A remote
   * 'suspect' does not say who suspects, so it is not a Lifeguard confirmation: it starts a
   * suspicion here (at the unconfirmed timeout) and is not gossiped on, or every push-pull
   * would launder one rumour into a fresh "independent" confirmation.
   */
  private mergeRecord(record: Member, fromId: string, nowMs: number): void {
    const { id, incarnation } = record
    switch (record.state) {
      case MemberState.alive:
        return this.applyUpdate({ state: 'alive', id, incarnation, address: record.address, zone: record.zone }, nowMs, 'push-pull')
      case MemberState.suspect: {
        const current = this.table.get(id)
        if (id === this.selfId) return this.onRumourAboutSelf({ state: 'suspect', id, incarnation, from: fromId })
        if (current === undefined || precedence(current, record) !== Precedence.apply) return
        return this.startSuspicion(current, { state: 'suspect', id, incarnation, from: fromId }, nowMs, `suspected by ${fromId} (push-pull)`, false)
      }
      case MemberState.dead: {
        const current = this.table.get(id)
        const asSuspect = id !== this.selfId && current !== undefined && isLive(current.state)
        return this.applyUpdate({ state: asSuspect ? 'suspect' : 'dead', id, incarnation, from: fromId }, nowMs, 'push-pull')
      }
      case MemberState.left:
        return this.applyUpdate({ state: 'left', id, incarnation }, nowMs, 'push-pull')
    }
  }

  // ---- applying updates -----------------------------------------------------------------

  private applyUpdate(update: GossipUpdate, nowMs: number, via: 'gossip' | 'push-pull'): void {
    if (update.id === this.selfId) return this.onRumourAboutSelf(update)
    const current = this.table.get(update.id)
    const decision = precedence(current, update)
    if (decision === Precedence.ignore) return
    if (update.state === MemberState.alive) return this.adoptAlive(update, nowMs, `joined via ${via}`)
    if (current === undefined) throw new Error(`swim ${this.selfId}: precedence applied ${update.state} to unknown member ${update.id}`)
    switch (update.state) {
      case MemberState.suspect:
        return this.onSuspect(current, update, nowMs, `suspected by ${update.from}`)
      case MemberState.dead:
        return this.adoptGone(current, update, nowMs, `declared dead by ${update.from}`)
      case MemberState.left:
        return this.adoptGone(current, update, nowMs, 'left')
    }
  }

  /** alive(j) won: a new member, a refuted suspicion, a comeback, or new metadata. */
  private adoptAlive(update: AliveUpdate, nowMs: number, joinReason: string): void {
    const current = this.table.get(update.id)
    if (current === undefined) {
      if (this.table.size >= this.settings.membersMax) {
        this.counters.membersRefused++
        return
      }
      const entry: MemberEntry = { ...update, state: MemberState.alive, stateChangedAtMs: nowMs }
      this.table.set(entry.id, entry)
      this.liveCount++
      this.probeOrder.insert(entry.id)
      this.queue.enqueue(update)
      this.emitChanged(entry, undefined, joinReason)
      return
    }
    const previous = current.state
    const metadataChanged = current.address !== update.address || current.zone !== update.zone
    current.incarnation = update.incarnation
    current.address = update.address
    current.zone = update.zone
    if (previous !== MemberState.alive) this.setState(current, MemberState.alive, nowMs)
    if (!isLive(previous)) this.probeOrder.insert(current.id)
    this.queue.enqueue(update)
    if (previous === MemberState.alive && !metadataChanged) return
    const reason = previous === MemberState.suspect ? 'refuted' : previous === MemberState.alive ? 'address or zone changed' : 'rejoined'
    this.emitChanged(current, previous, reason)
  }

  /**
   * suspect(j) that won over alive(i <= j) or suspect(i < j): a new suspicion; or suspect(i) on
   * suspect(i): a confirmation.
   */
  private onSuspect(current: MemberEntry, update: SuspectUpdate, nowMs: number, reason: string): void {
    if (current.state === MemberState.suspect && update.incarnation === current.incarnation) {
      const suspicion = this.suspicions.get(current.id)
      if (suspicion === undefined) throw new Error(`swim ${this.selfId}: suspect ${current.id} has no suspicion`)
      if (suspicion.confirm(update.from)) this.queue.enqueue(update)
      return
    }
    this.startSuspicion(current, update, nowMs, reason, true)
  }

  /**
   * A new suspicion, with a fresh timer: alive -> suspect, or suspect at a higher incarnation
   * (the old suspicion was refuted and we missed the refutation; its timer and confirmations
   * are about a claim nobody makes any more). `gossip`: whether it goes on to others.
   */
  private startSuspicion(current: MemberEntry, update: SuspectUpdate, nowMs: number, reason: string, gossip: boolean): void {
    const previous = current.state
    if (!isLive(previous)) throw new Error(`swim ${this.selfId}: suspecting ${current.id}, which is ${previous}`)
    if (update.incarnation < current.incarnation) throw new Error(`swim ${this.selfId}: suspecting ${current.id} at an older incarnation`)
    const n = this.liveCount
    current.incarnation = update.incarnation
    this.setState(current, MemberState.suspect, nowMs)
    this.suspicions.set(
      current.id,
      new Suspicion({
        fromId: update.from,
        startedAtMs: nowMs,
        minMs: suspicionTimeoutMinMs(this.settings, n),
        maxMs: this.settings.lifeguard ? suspicionTimeoutMaxMs(this.settings, n) : suspicionTimeoutMinMs(this.settings, n),
        confirmationsExpected: suspicionConfirmationsExpected(this.settings, n),
        dynamic: this.settings.lifeguard,
      }),
    )
    this.counters.suspicionsStarted++
    if (gossip) this.queue.enqueue(update)
    if (previous === MemberState.alive) this.emitChanged(current, previous, reason)
  }

  /** dead or left won over a live (or, for left, dead) member. */
  private adoptGone(current: MemberEntry, update: GossipUpdate, nowMs: number, reason: string): void {
    const previous = current.state
    const state = update.state === MemberState.left ? MemberState.left : MemberState.dead
    current.incarnation = update.incarnation
    this.setState(current, state, nowMs)
    this.queue.enqueue(update)
    this.emitChanged(current, previous, reason)
  }

  /**
   * A rumour about ourselves. suspect/dead/left at our incarnation or above, or alive above it
   * (or at it with other metadata: a previous process with our id), is refuted with a higher
   * incarnation. An older accusation is stale news still travelling: our alive goes out again.
   */
  private onRumourAboutSelf(update: GossipUpdate): void {
    if (this.hasLeft()) return
    const own = this.self.incarnation
    if (update.state === MemberState.alive) {
      const otherMetadata = update.address !== this.self.address || update.zone !== this.self.zone
      if (update.incarnation > own || (update.incarnation === own && otherMetadata)) this.refute(update.incarnation)
      return
    }
    if (update.incarnation >= own) {
      this.refute(update.incarnation)
      if (this.settings.lifeguard) this.awareness.applyDelta(1)
      return
    }
    if (!this.queue.has(this.selfId)) this.queue.enqueue(this.selfAlive())
  }

  private refute(rumourIncarnation: number): void {
    if (rumourIncarnation >= INCARNATION_MAX) throw new Error(`swim ${this.selfId}: incarnation ${rumourIncarnation} cannot be refuted`)
    this.self.incarnation = rumourIncarnation + 1
    this.counters.refutations++
    this.queue.enqueue(this.selfAlive())
  }

  // ---- probing --------------------------------------------------------------------------

  private startProbe(nowMs: number): void {
    if (this.probe !== undefined) throw new Error(`swim ${this.selfId}: probe ${this.probe.seq} still open at the next period`)
    const intervalMs = this.awareness.scale(this.settings.probeIntervalMs)
    this.nextProbeAtMs = nowMs + intervalMs
    const targetId =
      this.suspectToVerify(nowMs, intervalMs) ??
      this.probeOrder.next(
        (id) => id !== this.selfId && isLive(this.table.get(id)?.state ?? MemberState.dead),
        () => [...this.table.values()].filter((entry) => entry !== this.self && isLive(entry.state)).map((entry) => entry.id),
      )
    if (targetId === undefined) return
    const target = this.table.get(targetId) as MemberEntry
    this.suspicions.get(targetId)?.markProbed(nowMs)
    const seq = this.nextSeq()
    this.probe = {
      seq,
      targetId,
      indirectAtMs: nowMs + this.awareness.scale(this.settings.probeTimeoutMs),
      endAtMs: nowMs + intervalMs,
      acked: false,
      indirectSent: false,
      relayIds: [],
      nacksFrom: new Set(),
    }
    this.counters.probesStarted++
    const ping: PingMessage = { type: 'ping', seq, targetId, fromAddress: this.self.address, fromIncarnation: this.self.incarnation, gossip: this.gossipFor(targetId) }
    this.sendTo(targetId, target.address, ping)
  }

  /**
   * With Lifeguard, a suspicion does not expire here before this member has probed the
   * suspect itself in the last two probe periods before the deadline, and that probe is over
   * (see `mayExpire`). A suspicion due within that window (or overdue) and not checked in it
   * takes this probe slot; the round-robin resumes after. The ping carries the suspicion (buddy
   * system) and the ack, direct or relayed, carries the suspect's incarnation, so a member that
   * missed the refutation gossip learns it here instead of declaring a live member dead. No
   * extra message: a probe slot is reused. (Our addition in the spirit of Lifeguard §IV-C;
   * memberlist has no such step.)
   */
  private suspectToVerify(nowMs: number, intervalMs: number): string | undefined {
    if (!this.settings.lifeguard) return undefined
    const windowMs = VERIFY_WINDOW_PERIODS * intervalMs
    let chosen: string | undefined
    let chosenDeadlineMs = Infinity
    for (const [id, suspicion] of this.suspicions) {
      if (suspicion.verifiedWithin(windowMs) || suspicion.deadlineMs - nowMs > windowMs) continue
      if (suspicion.deadlineMs < chosenDeadlineMs) {
        chosen = id
        chosenDeadlineMs = suspicion.deadlineMs
      }
    }
    return chosen
  }

  private advanceProbe(nowMs: number): void {
    const probe = this.probe
    if (probe === undefined) return
    if (nowMs >= probe.endAtMs) {
      this.probe = undefined
      if (!probe.acked) this.onProbeFailed(probe, nowMs)
      return
    }
    if (!probe.acked && !probe.indirectSent && nowMs >= probe.indirectAtMs) this.sendPingReqs(probe)
  }

  private sendPingReqs(probe: ProbeInFlight): void {
    probe.indirectSent = true
    const target = this.table.get(probe.targetId)
    if (target === undefined || !isLive(target.state)) return
    const relays = this.pickRandom(this.settings.indirectChecks, (entry) => entry.state === MemberState.alive && entry !== this.self && entry !== target)
    probe.relayIds = relays.map((entry) => entry.id)
    for (const relay of relays) {
      const request: PingReqMessage = {
        type: 'ping-req',
        seq: probe.seq,
        targetId: target.id,
        targetAddress: target.address,
        fromAddress: this.self.address,
        gossip: this.gossipFor(relay.id),
      }
      this.counters.pingReqsSent++
      this.sendTo(relay.id, relay.address, request)
    }
  }

  private onProbeFailed(probe: ProbeInFlight, nowMs: number): void {
    this.counters.probesFailed++
    if (this.settings.lifeguard) {
      // Lifeguard: relays that did not even nack point at our own links, not at the target.
      const nacksExpected = probe.relayIds.length
      this.awareness.applyDelta(nacksExpected > 0 ? nacksExpected - probe.nacksFrom.size : 1)
    }
    const target = this.table.get(probe.targetId)
    if (target === undefined || !isLive(target.state)) return
    const reason = probe.relayIds.length > 0 ? 'probe failed, indirect probes failed' : 'probe failed, no member to probe indirectly'
    this.onSuspect(target, { state: 'suspect', id: target.id, incarnation: target.incarnation, from: this.selfId }, nowMs, reason)
  }

  private expireRelays(nowMs: number): void {
    for (const [seq, relay] of this.relays) {
      if (relay.expiresAtMs > nowMs) continue
      this.relays.delete(seq)
      if (!this.settings.lifeguard) continue
      const nack: NackMessage = { type: 'nack', seq: relay.originSeq, gossip: this.gossipFor(relay.originId) }
      this.counters.nacksSent++
      this.sendTo(relay.originId, relay.originAddress, nack)
    }
  }

  /**
   * Whether a suspicion may time out: always without Lifeguard; with it, only once this
   * member's own last-minute probe of the suspect is done (a failed one counted as a
   * confirmation; one answered with a higher incarnation ended the suspicion).
   */
  private mayExpire(id: string, suspicion: Suspicion): boolean {
    if (!this.settings.lifeguard) return true
    const windowMs = VERIFY_WINDOW_PERIODS * this.awareness.scale(this.settings.probeIntervalMs)
    return suspicion.verifiedWithin(windowMs) && this.probe?.targetId !== id
  }

  private expireSuspicions(nowMs: number): void {
    for (const [id, suspicion] of this.suspicions) {
      if (suspicion.deadlineMs > nowMs || !this.mayExpire(id, suspicion)) continue
      const entry = this.table.get(id) as MemberEntry
      this.counters.suspicionTimeouts++
      const count = suspicion.confirmations
      const reason = `suspicion timeout with ${count} confirmation${count === 1 ? '' : 's'}`
      this.adoptGone(entry, { state: 'dead', id, incarnation: entry.incarnation, from: this.selfId }, nowMs, reason)
    }
  }

  // ---- push-pull and join ---------------------------------------------------------------

  private startPushPull(nowMs: number): void {
    this.nextPushPullAtMs = nowMs + this.settings.pushPullIntervalMs
    this.forgetTombstones(nowMs)
    // Dead members are candidates too: the halves of a healed partition find each other so.
    const [target] = this.pickRandom(1, (entry) => entry !== this.self && entry.state !== MemberState.left)
    if (target === undefined) return
    this.counters.pushPullsStarted++
    this.sendTo(target.id, target.address, this.pushPullRequest(false, this.gossipFor(target.id)))
  }

  private retryJoin(nowMs: number): void {
    const join = this.joinState as JoinState
    join.attempt++
    join.nextAtMs = nowMs + this.joinDelayMs(join.attempt)
    this.sendJoinRequests()
  }

  private sendJoinRequests(): void {
    const join = this.joinState as JoinState
    this.counters.joinAttempts++
    for (const address of join.seeds) this.emitSend({ kind: 'sendToAddress', address, message: this.pushPullRequest(true, []) })
  }

  private joinDelayMs(attempt: number): number {
    const exponent = Math.min(attempt, JOIN_BACKOFF_EXPONENT_MAX)
    const delayMs = Math.min(this.settings.joinRetryDelayMsMax, this.settings.joinRetryDelayMsMin * 2 ** exponent)
    return Math.max(1, Math.round(jittered(this.random, delayMs, this.settings.joinRetryJitterRatio)))
  }

  private pushPullRequest(isJoin: boolean, gossip: GossipUpdate[]): PushPullMessage {
    return { type: 'push-pull', isResponse: false, isJoin, fromAddress: this.self.address, members: this.memberRecords(), gossip }
  }

  private forgetTombstones(nowMs: number): void {
    for (const [id, entry] of this.table) {
      if (isLive(entry.state) || entry === this.self) continue
      if (nowMs - entry.stateChangedAtMs < this.settings.deadMemberRetentionMs) continue
      this.table.delete(id)
      this.queue.remove(id)
    }
  }

  // ---- sending --------------------------------------------------------------------------

  /**
   * The updates to piggyback on a message to `toId`. With Lifeguard, a message to a member we
   * hold suspect or dead carries that rumour first (the buddy system, §IV-C), so it can refute
   * at once instead of waiting for gossip to reach it.
   */
  private gossipFor(toId: string): GossipUpdate[] {
    const limit = retransmitLimit(this.settings, this.liveCount)
    const countMax = this.settings.gossipUpdatesPerMessageMax
    const rumour = this.settings.lifeguard ? this.rumourAbout(toId) : undefined
    if (rumour === undefined) return this.queue.take(countMax, limit)
    return [rumour, ...this.queue.take(countMax - 1, limit, new Set([toId]))]
  }

  private rumourAbout(id: string): GossipUpdate | undefined {
    const entry = this.table.get(id)
    if (entry === undefined) return undefined
    if (entry.state === MemberState.suspect) return { state: 'suspect', id, incarnation: entry.incarnation, from: this.selfId }
    if (entry.state === MemberState.dead) return { state: 'dead', id, incarnation: entry.incarnation, from: this.selfId }
    return undefined
  }

  private sendTo(toId: string, toAddress: string, message: SwimMessage): void {
    if (toId === this.selfId) throw new Error(`swim ${this.selfId}: sending ${message.type} to itself`)
    this.emitSend({ kind: 'send', toId, toAddress, message })
  }

  private emitSend(effect: Extract<SwimEffect, { kind: 'send' | 'sendToAddress' }>): void {
    this.counters.messagesSent++
    this.counters.messagesSentByType[effect.message.type]++
    this.counters.gossipUpdatesSent += effect.message.gossip.length
    this.effects.push(effect)
  }

  private emitChanged(entry: MemberEntry, previousState: MemberState | undefined, reason: string): void {
    this.effects.push({ kind: 'memberChanged', member: toMember(entry), previousState, reason })
  }

  private flush(): SwimEffect[] {
    const effects = this.effects
    this.effects = []
    return effects
  }

  // ---- helpers --------------------------------------------------------------------------

  private setState(entry: MemberEntry, state: MemberState, nowMs: number): void {
    const previous = entry.state
    if (previous === state) return
    if (isLive(previous)) this.liveCount--
    if (isLive(state)) this.liveCount++
    if (previous === MemberState.suspect) {
      this.suspectCount--
      this.suspicions.delete(entry.id)
    }
    if (state === MemberState.suspect) this.suspectCount++
    entry.state = state
    entry.stateChangedAtMs = nowMs
  }

  /** Up to `count` distinct members passing `filter`, uniformly at random. */
  private pickRandom(count: number, filter: (entry: MemberEntry) => boolean): MemberEntry[] {
    const candidates = [...this.table.values()].filter(filter)
    const picked: MemberEntry[] = []
    for (let i = 0; i < count && i < candidates.length; i++) {
      const j = i + this.random.int(candidates.length - i)
      const chosen = candidates[j] as MemberEntry
      candidates[j] = candidates[i] as MemberEntry
      candidates[i] = chosen
      picked.push(chosen)
    }
    return picked
  }

  private memberRecords(): Member[] {
    return [...this.table.values()].map(toMember)
  }

  private selfAlive(): AliveUpdate {
    return { state: 'alive', id: this.selfId, incarnation: this.self.incarnation, address: this.self.address, zone: this.self.zone }
  }

  private hasLeft(): boolean {
    return this.self.state === MemberState.left
  }

  private nextSeq(): number {
    const seq = this.seqNext
    this.seqNext = seq >= Number.MAX_SAFE_INTEGER ? 0 : seq + 1
    return seq
  }

  private advanceTo(nowMs: number): void {
    requireTime(nowMs)
    if (nowMs < this.lastNowMs) throw new Error(`swim ${this.selfId}: time went backwards from ${this.lastNowMs} to ${nowMs}`)
    this.lastNowMs = nowMs
  }

  /** Cheap checks after every input; a failure is a bug in this file. */
  private checkInvariants(): void {
    const fail = (what: string): never => {
      throw new Error(`swim ${this.selfId}: invariant broken: ${what}`)
    }
    if (this.table.get(this.selfId) !== this.self) fail('self entry missing')
    if (this.self.state !== MemberState.alive && this.self.state !== MemberState.left) fail(`self is ${this.self.state}`)
    if (this.suspicions.size !== this.suspectCount) fail(`${this.suspicions.size} suspicions for ${this.suspectCount} suspects`)
    if (this.liveCount < (this.hasLeft() ? 0 : 1) || this.liveCount > this.table.size) fail(`live count ${this.liveCount}`)
    if (this.table.size > this.settings.membersMax) fail(`${this.table.size} members > membersMax`)
    if (this.relays.size > this.settings.relaysInFlightMax) fail(`${this.relays.size} relays > relaysInFlightMax`)
    if (this.probe !== undefined && this.probe.targetId === this.selfId) fail('probing self')
  }
}

function toMember(entry: MemberEntry): Member {
  return { id: entry.id, address: entry.address, zone: entry.zone, incarnation: entry.incarnation, state: entry.state }
}

function emptyCounters(): Omit<SwimStats, 'awarenessScore' | 'incarnation'> {
  const messagesSentByType = Object.fromEntries(SWIM_MESSAGE_TYPES.map((type) => [type, 0])) as Record<SwimMessageType, number>
  return {
    messagesSent: 0,
    messagesSentByType,
    gossipUpdatesSent: 0,
    messagesReceived: 0,
    messagesInvalid: 0,
    messagesIgnored: 0,
    probesStarted: 0,
    probesSucceeded: 0,
    probesFailed: 0,
    pingReqsSent: 0,
    relaysStarted: 0,
    nacksSent: 0,
    suspicionsStarted: 0,
    suspicionTimeouts: 0,
    refutations: 0,
    pushPullsStarted: 0,
    joinAttempts: 0,
    membersRefused: 0,
  }
}

function requireText(name: string, value: string, lengthMin: number, lengthMax: number): void {
  if (typeof value !== 'string' || value.length < lengthMin || value.length > lengthMax) {
    throw new RangeError(`${name} must be a string of ${lengthMin} to ${lengthMax} characters, got ${JSON.stringify(value)}`)
  }
}

function requireTime(nowMs: number): void {
  if (!Number.isFinite(nowMs)) throw new RangeError(`nowMs must be finite, got ${nowMs}`)
}
