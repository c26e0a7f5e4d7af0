/**
 * A message-level simulator for a group of pure RaftCores (src/raft/): N replicas, one
 * virtual clock, one event queue, a network that delays, loses, duplicates and reorders
 * messages and can be partitioned (also one way), crashes that lose every unsynced write,
 * process pauses (a stalled leader waking up), and a client that proposes batches to whoever
 * believes it leads. Everything random is drawn from one seed (sim/prng.ts), so a seed
 * replays a run exactly. Like sim/swim/harness.ts the loop is synchronous.
 *
 * The harness is the shell the core's contract asks for (src/raft/raft.ts, RaftEffect):
 * - `persist`: the hard state is durable at once (so it is before any later effect);
 * - `send`: into the network; a leader's 'records' fetch response carries copies of the
 *   batches from `fetchOffset` (at most `fetchBatchesMax`), as the bytes would;
 * - `appendFetched`: appends the batches that came with the fetch response being received
 *   (they must start at the log end), fsyncs after a drawn delay, then `fetchCompleted`;
 * - `truncate`: cuts the log (durably) and, after a drawn delay, `fetchCompleted`;
 * - `becomeLeader`: appends the epoch's control batch, `appended()` and `written()` (the log
 *   is in memory, readable at once), fsync, `persisted()`;
 * - a client proposal to a leader: append a batch stamped with its epoch, `appended()`,
 *   `written()`, fsync, `persisted()`.
 * An fsync makes durable everything written before it started (one file, in order). A crash
 * keeps the durable prefix and the hard state; the restarted core is built from them.
 *
 * Every append, truncation, crash, election and high watermark goes to the HistoryChecker
 * (sim/raft/checker.ts) as it happens. Shell-contract breaches (the core asking for something
 * the log cannot do) and core assertion failures are violations too; the run stops at the
 * first violation, since state after it proves nothing.
 */
import { strict as assert } from 'node:assert'
import { EventHeap } from '../event-heap.js'
import { Prng } from '../prng.js'
import { RAFT_SETTINGS_DEFAULT, RAFT_TICK_MS_DEFAULT, RaftCore, type EpochEntry, type HardState, type RaftEffect, type RaftMessage, type RaftSettings } from '../../src/raft/index.js'
import { HistoryChecker, formatViolation, logEnd, type Batch, type HistoryEvent, type Violation } from './checker.js'

/** The network's behaviour; every field may change during a run (`setNet`). */
export interface RaftNetSettings {
  /** Fixed part of every message's one-way latency. */
  readonly latencyMsMin: number
  /** Mean of the exponentially distributed part added to it. */
  readonly latencyMsJitterMean: number
  /** Probability that a message takes a slow path (a retransmission, a long queue): reorders across round trips. */
  readonly slowProbability: number
  /** Mean extra latency of the slow path. */
  readonly slowMsMean: number
  /** Probability that a message is lost. */
  readonly lossProbability: number
  /** Probability that a message is delivered twice (each copy with its own latency). */
  readonly duplicateProbability: number
}

/** A LAN with no faults: what the liveness phase heals to. */
export const RAFT_NET_CLEAN: RaftNetSettings = {
  latencyMsMin: 0.5,
  latencyMsJitterMean: 2,
  slowProbability: 0,
  slowMsMean: 0,
  lossProbability: 0,
  duplicateProbability: 0,
}

export interface RaftHarnessOptions {
  readonly seed: number
  readonly replicaCount: number
  readonly settings?: Partial<RaftSettings>
  readonly net?: RaftNetSettings
  /** fsync latency is drawn uniformly from [min, max]. */
  readonly fsyncMsMin?: number
  readonly fsyncMsMax?: number
  /** At most this many batches ride on one fetch response. */
  readonly fetchBatchesMax?: number
  /** Mean time between client proposals (exponential); 0 turns the client off. */
  readonly proposalIntervalMsMean?: number
  /** Offsets per proposed batch are drawn from [1, max]. */
  readonly batchOffsetsMax?: number
  /** Lines of trace kept for failure reports. */
  readonly traceLinesMax?: number
  /** Trace every core input (every message delivered): slower, for replaying one seed. */
  readonly traceInputs?: boolean
  /**
   * Only to prove the checker (test/raft/safety.test.ts): a disk that lies. 'vote': a vote
   * for another replica is never durable, and the replica restarts right after casting it
   * (so it can vote again in the same epoch); 'log': a crash loses the later half of what
   * fsync said was durable.
   */
  readonly diskLies?: 'vote' | 'log'
  /** Keep every checker event in `history` (for re-checking offline). */
  readonly keepHistory?: boolean
  /** Stop at the first violation (default). Scenario tests may run on to show its consequence. */
  readonly haltOnViolation?: boolean
}

interface PendingSync {
  /** How many batches of the log this fsync covers (lowered if the log is cut meanwhile). */
  count: number
}

interface SimReplica {
  readonly id: string
  generation: number
  core: RaftCore
  crashed: boolean
  log: Batch[]
  /** The first `durableCount` batches of `log` survive a crash. */
  durableCount: number
  pendingSyncs: PendingSync[]
  /** Completion time of the last fsync queued: fsyncs complete in order. */
  lastSyncAtMs: number
  /** The hard state on disk. */
  hardState: HardState
  /** Between an appendFetched/truncate and the fetchCompleted the shell owes the core. */
  fetchOutcomePending: boolean
  /** The log's epochs changed (an election, a truncation, fetched epochs): compare the core's epoch cache. */
  epochsChanged: boolean
  /** Where each epoch of `log` starts, kept as the log changes. */
  epochs: EpochEntry[]
  /** Paused (not crashed) until then: its events wait. */
  pausedUntilMs: number
}

type ThenAction =
  | { readonly kind: 'persisted' }
  | { readonly kind: 'fetchCompleted'; readonly newEpochs: readonly EpochEntry[] }

type HarnessEvent =
  | { readonly atMs: number; readonly sequence: number; readonly kind: 'tick'; readonly replica: SimReplica; readonly generation: number }
  | { readonly atMs: number; readonly sequence: number; readonly kind: 'deliver'; readonly message: RaftMessage; readonly records: readonly Batch[] | undefined }
  | {
      readonly atMs: number
      readonly sequence: number
      readonly kind: 'sync'
      readonly replica: SimReplica
      readonly generation: number
      readonly sync: PendingSync
      readonly then: ThenAction
    }
  | { readonly atMs: number; readonly sequence: number; readonly kind: 'propose' }
  | { readonly atMs: number; readonly sequence: number; readonly kind: 'amnesia'; readonly replica: SimReplica; readonly generation: number }

/** What the shell learned from the effects of one core call, in the order they came. */
interface EffectContext {
  role: 'leader' | 'follower'
  epoch: number
  /** The batches riding on the fetch response being received, if that is the call. */
  readonly records: readonly Batch[] | undefined
}

/** A cap on events in one run call (a scenario runs a few seconds per call): a livelock becomes a violation. */
const RUN_EVENTS_MAX = 1_000_000
/**
 * A cap on messages in flight. A healthy group has a few per replica pair (a fetch, a vote,
 * their answers, duplicates); thousands mean messages breed messages: a storm.
 */
const MESSAGES_IN_FLIGHT_MAX = 5_000

export class RaftHarness {
  readonly ids: readonly string[]
  readonly settings: RaftSettings
  readonly checker = new HistoryChecker()
  /** Shell-contract and core-assertion violations, then the checker's. */
  readonly violations: Violation[] = []
  /** The last trace lines (bounded), for failure reports. */
  readonly trace: string[] = []
  private readonly root: Prng
  private readonly netRandom: Prng
  private readonly diskRandom: Prng
  private readonly clientRandom: Prng
  private readonly replicas = new Map<string, SimReplica>()
  private readonly heap = new EventHeap<HarnessEvent>()
  private readonly fsyncMsMin: number
  private readonly fsyncMsMax: number
  private readonly fetchBatchesMax: number
  private readonly batchOffsetsMax: number
  private readonly traceLinesMax: number
  private readonly traceInputs: boolean
  private readonly diskLies: 'vote' | 'log' | undefined
  private readonly keepHistory: boolean
  private readonly haltOnViolation: boolean
  /** Every event given to the checker, in order (only with keepHistory). */
  readonly history: HistoryEvent[] = []
  private proposalIntervalMsMean: number
  private proposeQueued = false
  private net: RaftNetSettings
  private groupOf: Map<string, number> | undefined
  /** Directed links cut one way ("from>to"), on top of the partition. */
  private readonly cutLinks = new Set<string>()
  /** Scripted reordering: the next delivery matching this is held back (see holdNextDelivery). */
  private holdPredicate: ((message: RaftMessage) => boolean) | undefined
  private readonly held: { readonly message: RaftMessage; readonly records: readonly Batch[] | undefined }[] = []
  private nowMsValue = 0
  private sequenceNext = 0
  private eventsValue = 0
  private batchesCreated = 0
  private messagesSentValue = 0
  private messagesInFlight = 0
  private proposalsValue = 0

  constructor(options: RaftHarnessOptions) {
    assert.ok(Number.isSafeInteger(options.replicaCount) && options.replicaCount >= 1, 'replicaCount must be a positive integer')
    this.root = Prng.fromSeed(options.seed)
    this.netRandom = this.root.fork('net')
    this.diskRandom = this.root.fork('disk')
    this.clientRandom = this.root.fork('client')
    this.settings = { ...RAFT_SETTINGS_DEFAULT, ...options.settings }
    this.net = options.net ?? RAFT_NET_CLEAN
    this.fsyncMsMin = options.fsyncMsMin ?? 0.5
    this.fsyncMsMax = options.fsyncMsMax ?? 8
    this.fetchBatchesMax = options.fetchBatchesMax ?? 4
    this.batchOffsetsMax = options.batchOffsetsMax ?? 3
    this.traceLinesMax = options.traceLinesMax ?? 400
    this.traceInputs = options.traceInputs ?? false
    this.diskLies = options.diskLies
    this.keepHistory = options.keepHistory ?? false
    this.haltOnViolation = options.haltOnViolation ?? true
    this.proposalIntervalMsMean = options.proposalIntervalMsMean ?? 0
    assert.ok(this.fsyncMsMin >= 0 && this.fsyncMsMin <= this.fsyncMsMax, 'fsyncMsMin must be in [0, fsyncMsMax]')
    assert.ok(this.fetchBatchesMax >= 1 && this.batchOffsetsMax >= 1)
    this.setNet(this.net)
    this.ids = Array.from({ length: options.replicaCount }, (_, i) => `r${i + 1}`)
    const phases = this.root.fork('tick-phase')
    for (const id of this.ids) {
      const hardState: HardState = { epoch: 0, votedFor: undefined }
      const replica: SimReplica = { id, generation: 0, core: this.newCore(id, 0, hardState, []), crashed: false, log: [], durableCount: 0, pendingSyncs: [], lastSyncAtMs: 0, hardState, fetchOutcomePending: false, epochsChanged: false, epochs: [], pausedUntilMs: 0 }
      this.replicas.set(id, replica)
      this.scheduleTick(replica, phases.between(0, RAFT_TICK_MS_DEFAULT))
    }
    this.setProposalInterval(this.proposalIntervalMsMean)
  }

  get nowMs(): number {
    return this.nowMsValue
  }
  get eventsProcessed(): number {
    return this.eventsValue
  }
  get messagesSent(): number {
    return this.messagesSentValue
  }
  get proposals(): number {
    return this.proposalsValue
  }
  /** A violation happened and the run halts there (unless haltOnViolation is off). */
  get failed(): boolean {
    return this.haltOnViolation && this.violations.length > 0
  }

  setNet(net: RaftNetSettings): void {
    for (const p of [net.slowProbability, net.lossProbability, net.duplicateProbability]) assert.ok(p >= 0 && p <= 1, `probabilities must be in [0, 1], got ${p}`)
    assert.ok(net.latencyMsMin >= 0 && net.latencyMsJitterMean >= 0 && net.slowMsMean >= 0, 'latencies must be >= 0')
    this.net = net
  }

  /** Mean time between client proposals; 0 stops the client. */
  setProposalInterval(intervalMsMean: number): void {
    assert.ok(intervalMsMean >= 0, 'proposal interval must be >= 0')
    this.proposalIntervalMsMean = intervalMsMean
    if (intervalMsMean > 0 && !this.proposeQueued) this.scheduleProposal()
  }

  /** One client proposal now, to `id` or else any replica that believes it leads (if any). */
  proposeOnce(id?: string): void {
    this.propose(id)
  }

  /** Messages cross only within a group; replicas not listed form one more group together. */
  partition(groups: readonly (readonly string[])[]): void {
    const groupOf = new Map<string, number>()
    groups.forEach((group, index) => group.forEach((id) => groupOf.set(id, index)))
    for (const id of this.ids) if (!groupOf.has(id)) groupOf.set(id, groups.length)
    this.groupOf = groupOf
    this.note(`partition ${groups.map((g) => `[${g.join(',')}]`).join(' ')}`)
  }

  /** Messages from `from` to `to` are lost (the other way still works) until heal(). */
  cutOneWay(from: string, to: string): void {
    this.cutLinks.add(`${from}>${to}`)
    this.note(`cut ${from} -> ${to}`)
  }

  /**
   * Scripted reordering, for scenario tests: the next message that would be delivered and
   * matches `predicate` is held back until releaseHeld(), as a network path could delay it.
   */
  holdNextDelivery(predicate: (message: RaftMessage) => boolean): void {
    this.holdPredicate = predicate
  }

  /** Delivers the held messages now, in the order they were held; returns how many. */
  releaseHeld(): number {
    const held = this.held.splice(0)
    for (const { message, records } of held) this.onDeliver(message, records)
    return held.length
  }

  /** Heals partitions and one-way cuts. */
  heal(): void {
    this.groupOf = undefined
    this.cutLinks.clear()
    this.note('heal')
  }

  /**
   * The process stops for `durationMs` (a GC pause, a stalled disk) without losing anything:
   * messages to it, its ticks and fsync completions wait and then all arrive, in order.
   */
  pause(id: string, durationMs: number): void {
    const replica = this.replica(id)
    assert.ok(durationMs >= 0, 'durationMs must be >= 0')
    replica.pausedUntilMs = Math.max(replica.pausedUntilMs, this.nowMsValue + durationMs)
    this.note(`${id} pause until ${replica.pausedUntilMs.toFixed(1)}`)
  }

  /** The process stops and loses every write not yet fsynced; messages in flight to it are lost. */
  crash(id: string): void {
    const replica = this.replica(id)
    assert.ok(!replica.crashed, `${id} already crashed`)
    replica.crashed = true
    replica.generation++
    replica.pausedUntilMs = 0
    if (this.diskLies === 'vote') replica.hardState = { epoch: replica.hardState.epoch, votedFor: undefined }
    if (this.diskLies === 'log') replica.durableCount = Math.floor(replica.durableCount / 2)
    this.cutLog(replica, replica.durableCount)
    replica.pendingSyncs = []
    replica.fetchOutcomePending = false
    this.note(`${id} crash: log keeps ${logEnd(replica.log)} (${replica.durableCount} batches), hard state e${replica.hardState.epoch} vote ${replica.hardState.votedFor ?? '-'}`)
    this.record({ kind: 'crash', atMs: this.nowMsValue, replica: id, durableEnd: logEnd(replica.log) })
  }

  /** A new process recovers the durable log and hard state and starts ticking. */
  restart(id: string): void {
    const replica = this.replica(id)
    assert.ok(replica.crashed, `${id} must be crashed to restart`)
    replica.crashed = false
    replica.lastSyncAtMs = this.nowMsValue
    replica.core = this.newCore(id, replica.generation, replica.hardState, replica.log)
    replica.epochsChanged = true
    this.note(`${id} restart: e${replica.hardState.epoch} log end ${logEnd(replica.log)}`)
    this.scheduleTick(replica, this.diskRandom.between(0, RAFT_TICK_MS_DEFAULT))
  }

  /** Asks `id`, if it leads, to hand leadership to `target`; the core's refusal reason, if any. */
  transferLeadership(id: string, target: string): string | undefined {
    const replica = this.replica(id)
    if (replica.crashed) return 'crashed'
    if (replica.pausedUntilMs > this.nowMsValue) return 'paused'
    let refusal: string | undefined
    this.call(replica, `transferLeadership(${target})`, (core) => {
      refusal = core.transferLeadership(target)
    })
    if (refusal === undefined) this.note(`${id} transfers leadership to ${target}`)
    return refusal
  }

  isCrashed(id: string): boolean {
    return this.replica(id).crashed
  }

  /** The running core of `id` (read-only use: tests inspect role, epoch, leader). */
  core(id: string): RaftCore {
    return this.replica(id).core
  }

  /** A copy of `id`'s log as the shell holds it. */
  logOf(id: string): Batch[] {
    return [...this.replica(id).log]
  }

  /** Running replicas whose core believes it leads. */
  leaders(): string[] {
    return this.ids.filter((id) => !this.replica(id).crashed && this.replica(id).core.role === 'leader')
  }

  /**
   * Converged: every replica runs; exactly one leads and the others follow it in its epoch;
   * every log is the leader's, batch for batch; every high watermark is at the log end.
   */
  converged(): boolean {
    const leaders = this.leaders()
    if (leaders.length !== 1 || this.ids.some((id) => this.replica(id).crashed)) return false
    const leader = this.replica(leaders[0] as string)
    const end = logEnd(leader.log)
    for (const replica of this.replicas.values()) {
      const core = replica.core
      if (replica !== leader && (core.role !== 'follower' || core.leader !== leader.id || core.epoch !== leader.core.epoch)) return false
      if (core.highWatermark !== end || logEnd(replica.log) !== end || replica.log.length !== leader.log.length) return false
    }
    const ids = leader.log.map((batch) => batch.id).join(',')
    return [...this.replicas.values()].every((replica) => replica.log.map((batch) => batch.id).join(',') === ids)
  }

  /** One line per replica: role, epoch, leader, log end, durable end, high watermark. */
  describeState(): string[] {
    return this.ids.map((id) => {
      const replica = this.replica(id)
      const core = replica.core
      const state = replica.crashed ? 'crashed' : `${core.role} e${core.epoch} leader=${core.leader ?? '-'} coreEnd=${core.logEndOffset} hw=${core.highWatermark}`
      return `${id}: ${state} logEnd=${logEnd(replica.log)} durable=${logEnd(replica.log.slice(0, replica.durableCount))} batches=${replica.log.length} lastEpoch=${replica.log[replica.log.length - 1]?.epoch ?? 0}`
    })
  }

  /** Runs every event up to `nowMs + durationMs` (or to the first violation), then rests there. */
  runFor(durationMs: number): void {
    assert.ok(durationMs >= 0, `durationMs must be >= 0, got ${durationMs}`)
    this.runTo(this.nowMsValue + durationMs)
  }

  /** Runs until `condition` holds (checked every `checkEveryMs`); the time it held, or undefined. */
  runUntil(condition: () => boolean, options: { timeoutMs: number; checkEveryMs?: number }): number | undefined {
    const checkEveryMs = options.checkEveryMs ?? 100
    const deadlineMs = this.nowMsValue + options.timeoutMs
    for (;;) {
      if (this.failed) return undefined
      if (condition()) return this.nowMsValue
      if (this.nowMsValue >= deadlineMs) return undefined
      this.runTo(Math.min(deadlineMs, this.nowMsValue + checkEveryMs))
    }
  }

  /** A violation found outside the harness (the scenario's liveness check). */
  fail(rule: string, detail: string): void {
    this.violations.push({ atMs: this.nowMsValue, rule, detail })
    this.note(`VIOLATION ${rule}: ${detail}`)
  }

  private runTo(targetMs: number): void {
    let events = 0
    while (!this.failed) {
      const next = this.heap.peek()
      if (next === undefined || next.atMs > targetMs) break
      this.heap.pop()
      this.nowMsValue = next.atMs
      this.eventsValue++
      if (++events > RUN_EVENTS_MAX) {
        this.fail('livelock', `more than ${RUN_EVENTS_MAX} events in one run call, before ${targetMs.toFixed(1)} ms`)
        return
      }
      this.dispatch(next)
    }
    if (!this.failed) this.nowMsValue = Math.max(this.nowMsValue, targetMs)
  }

  private dispatch(event: HarnessEvent): void {
    const target = event.kind === 'deliver' ? this.replicas.get(event.message.to) : event.kind === 'propose' ? undefined : event.replica
    if (target !== undefined && target.pausedUntilMs > this.nowMsValue) {
      // A paused process: the event waits (in its order, behind those already waiting).
      this.heap.push({ ...event, atMs: target.pausedUntilMs, sequence: this.sequenceNext++ })
      return
    }
    switch (event.kind) {
      case 'tick':
        if (event.replica.crashed || event.generation !== event.replica.generation) return
        this.scheduleTick(event.replica, RAFT_TICK_MS_DEFAULT)
        this.call(event.replica, 'tick', (core) => core.tick())
        return
      case 'deliver':
        this.messagesInFlight--
        this.onDeliver(event.message, event.records)
        return
      case 'sync':
        this.onSync(event.replica, event.generation, event.sync, event.then)
        return
      case 'amnesia':
        if (event.replica.crashed || event.generation !== event.replica.generation) return
        this.crash(event.replica.id)
        this.restart(event.replica.id)
        return
      case 'propose':
        this.proposeQueued = false
        this.propose()
        if (this.proposalIntervalMsMean > 0) this.scheduleProposal()
        return
    }
  }

  private onDeliver(message: RaftMessage, records: readonly Batch[] | undefined): void {
    const replica = this.replicas.get(message.to)
    if (replica === undefined || replica.crashed) return
    if (this.groupOf !== undefined && this.groupOf.get(message.from) !== this.groupOf.get(message.to)) return
    if (this.cutLinks.size > 0 && this.cutLinks.has(`${message.from}>${message.to}`)) return
    if (this.holdPredicate?.(message) === true) {
      this.holdPredicate = undefined
      this.held.push({ message, records })
      this.note(`held ${describeMessage(message, records)}`)
      return
    }
    this.call(replica, () => describeMessage(message, records), (core) => core.receive(message), records)
  }

  /**
   * Calls the core, then carries out its effects in order (persist first, as they come).
   * A core assertion is a violation: the run stops there.
   */
  private call(replica: SimReplica, what: string | (() => string), input: (core: RaftCore) => void, records?: readonly Batch[]): void {
    const core = replica.core
    const context: EffectContext = { role: core.role === 'leader' ? 'leader' : 'follower', epoch: core.epoch, records }
    if (this.traceInputs && what !== 'tick') this.note(`${replica.id} <- ${typeof what === 'string' ? what : what()}`)
    try {
      input(core)
      for (let effects = core.takeEffects(); effects.length > 0 && !this.failed; effects = core.takeEffects()) {
        for (const effect of effects) {
          if (this.failed) return
          this.execute(replica, effect, context, what)
        }
      }
    } catch (err) {
      if (!(err instanceof assert.AssertionError)) throw err
      const input = typeof what === 'string' ? what : what()
      this.fail('core assertion', `${replica.id} on ${input}: ${err.message}`)
      return
    }
    this.checkCoreMatchesShell(replica)
  }

  private execute(replica: SimReplica, effect: RaftEffect, context: EffectContext, what: string | (() => string)): void {
    switch (effect.type) {
      case 'persist':
        assert.ok(effect.state.epoch >= replica.hardState.epoch, 'persisted epochs never go back')
        replica.hardState = effect.state
        context.epoch = effect.state.epoch
        if (this.diskLies === 'vote' && effect.state.votedFor !== undefined && effect.state.votedFor !== replica.id) {
          this.heap.push({ atMs: this.nowMsValue, sequence: this.sequenceNext++, kind: 'amnesia', replica, generation: replica.generation })
        }
        return
      case 'send':
        this.send(replica, effect.message)
        return
      case 'appendFetched':
        this.appendFetched(replica, effect.fetchOffset, context.records, what)
        return
      case 'truncate':
        this.truncate(replica, effect.offset)
        return
      case 'becomeLeader':
        context.role = 'leader'
        context.epoch = effect.epoch
        this.becomeLeader(replica, effect.epoch, effect.startOffset)
        return
      case 'becomeFollower':
        context.role = 'follower'
        context.epoch = effect.epoch
        this.note(`${replica.id} follows ${effect.leader ?? '?'} in e${effect.epoch}`)
        return
      case 'highWatermark':
        this.record({ kind: 'highWatermark', atMs: this.nowMsValue, replica: replica.id, role: context.role, epoch: context.epoch, offset: effect.offset })
        return
      case 'appendMembership':
        this.fail('shell contract', `${replica.id} asked to append a membership change, but the simulator proposes none`)
        return
    }
  }

  private send(replica: SimReplica, message: RaftMessage): void {
    this.messagesSentValue++
    const records = message.type === 'fetchResponse' && message.outcome === 'records' ? this.recordsFrom(replica, message.fetchOffset) : undefined
    if (this.failed) return
    // Always draw the same numbers, so a fault setting change does not shift later draws.
    const lost = this.netRandom.chance(this.net.lossProbability)
    const duplicated = this.netRandom.chance(this.net.duplicateProbability)
    if (lost) return
    this.deliverLater(message, records)
    if (duplicated) this.deliverLater(message, records)
  }

  private deliverLater(message: RaftMessage, records: readonly Batch[] | undefined): void {
    if (++this.messagesInFlight > MESSAGES_IN_FLIGHT_MAX) {
      this.fail('livelock', `more than ${MESSAGES_IN_FLIGHT_MAX} messages in flight (a message storm); the latest: ${describeMessage(message, records)}`)
      return
    }
    this.heap.push({ atMs: this.nowMsValue + this.latencyMs(), sequence: this.sequenceNext++, kind: 'deliver', message, records })
  }

  private latencyMs(): number {
    const slow = this.netRandom.chance(this.net.slowProbability)
    const base = this.net.latencyMsMin + this.netRandom.exponential(this.net.latencyMsJitterMean)
    return slow ? base + this.netRandom.exponential(this.net.slowMsMean) : base
  }

  /** Copies of the leader's batches from `fetchOffset`, which must start a batch (or be the log end). */
  private recordsFrom(replica: SimReplica, fetchOffset: number): Batch[] {
    const end = logEnd(replica.log)
    if (fetchOffset === end) return []
    const index = batchIndexStarting(replica.log, fetchOffset)
    if (index < 0) {
      this.fail('shell contract', `${replica.id} (${replica.core.role} e${replica.core.epoch}) must serve records from ${fetchOffset}, which does not start a batch of its log (end ${end})`)
      return []
    }
    return replica.log.slice(index, index + this.fetchBatchesMax).map((batch) => ({ ...batch }))
  }

  private appendFetched(replica: SimReplica, fetchOffset: number, records: readonly Batch[] | undefined, what: string | (() => string)): void {
    const end = logEnd(replica.log)
    if (records === undefined) {
      this.fail('shell contract', `${replica.id} asked to appendFetched(${fetchOffset}) outside a fetch response with records (on ${typeof what === 'string' ? what : what()})`)
      return
    }
    if (fetchOffset !== end || (records[0] !== undefined && records[0].baseOffset !== end)) {
      this.fail('shell contract', `${replica.id} asked to append fetched records from ${fetchOffset} (batches from ${records[0]?.baseOffset ?? '-'}) but its log ends at ${end} (core thinks ${replica.core.logEndOffset})`)
      return
    }
    const newEpochs: EpochEntry[] = []
    let lastEpoch = replica.log[replica.log.length - 1]?.epoch ?? 0
    for (const batch of records) {
      if (batch.epoch !== lastEpoch) newEpochs.push({ epoch: batch.epoch, startOffset: batch.baseOffset })
      lastEpoch = batch.epoch
      this.appendBatch(replica, { ...batch })
    }
    replica.fetchOutcomePending = true
    this.scheduleSync(replica, { kind: 'fetchCompleted', newEpochs })
  }

  private truncate(replica: SimReplica, offset: number): void {
    const end = logEnd(replica.log)
    if (offset > end) {
      this.fail('shell contract', `${replica.id} asked to truncate to ${offset} beyond its log end ${end}`)
      return
    }
    // As src/log's truncateTo: a batch straddling the cut is dropped whole; fetchCompleted
    // then reports the real end.
    let kept = replica.log.length
    while (kept > 0 && (replica.log[kept - 1] as Batch).lastOffset >= offset) kept--
    const cut = logEnd(replica.log.slice(0, kept))
    this.note(`${replica.id} truncate to ${offset}${cut === offset ? '' : ` (inside a batch: cut at ${cut})`} (log end ${end})`)
    this.record({ kind: 'truncate', atMs: this.nowMsValue, replica: replica.id, offset: cut })
    this.cutLog(replica, kept)
    for (const sync of replica.pendingSyncs) sync.count = Math.min(sync.count, kept)
    replica.fetchOutcomePending = true
    this.scheduleSync(replica, { kind: 'fetchCompleted', newEpochs: [] })
  }

  private becomeLeader(replica: SimReplica, epoch: number, startOffset: number): void {
    this.note(`${replica.id} LEADER e${epoch} from ${startOffset}`)
    replica.epochsChanged = true
    this.record({ kind: 'leader', atMs: this.nowMsValue, replica: replica.id, epoch, startOffset })
    const end = logEnd(replica.log)
    if (startOffset !== end) {
      this.fail('shell contract', `${replica.id} leads e${epoch} from ${startOffset} but its log ends at ${end}`)
      return
    }
    this.appendBatch(replica, { baseOffset: end, lastOffset: end, epoch, id: `c${++this.batchesCreated}` })
    replica.core.appended(end + 1, [{ epoch, startOffset: end }])
    // This log is in memory: written (readable) at once; fsynced later.
    replica.core.written(end + 1)
    this.scheduleSync(replica, { kind: 'persisted' })
  }

  /** The client: a batch to one of the replicas that believe they lead (a deposed one too). */
  private propose(to?: string): void {
    const leaders = this.leaders().filter((id) => (to === undefined || id === to) && !this.replica(id).core.transferring && this.replica(id).pausedUntilMs <= this.nowMsValue)
    if (leaders.length === 0) return
    const replica = this.replica(leaders[this.clientRandom.int(leaders.length)] as string)
    const end = logEnd(replica.log)
    if (end !== replica.core.logEndOffset) {
      this.fail('shell contract', `leader ${replica.id} core log end ${replica.core.logEndOffset} but its log ends at ${end}`)
      return
    }
    const offsets = 1 + this.clientRandom.int(this.batchOffsetsMax)
    const batch: Batch = { baseOffset: end, lastOffset: end + offsets - 1, epoch: replica.core.epoch, id: `p${++this.batchesCreated}` }
    this.proposalsValue++
    this.appendBatch(replica, batch)
    this.call(replica, `append ${batch.id}`, (core) => {
      core.appended(batch.lastOffset + 1)
      core.written(batch.lastOffset + 1)
    })
    this.scheduleSync(replica, { kind: 'persisted' })
  }

  /** Keeps the first `count` batches. */
  private cutLog(replica: SimReplica, count: number): void {
    replica.log.length = count
    replica.durableCount = Math.min(replica.durableCount, count)
    const end = logEnd(replica.log)
    while (replica.epochs.length > 0 && (replica.epochs[replica.epochs.length - 1] as EpochEntry).startOffset >= end) replica.epochs.pop()
  }

  private appendBatch(replica: SimReplica, batch: Batch): void {
    if (batch.epoch !== (replica.log[replica.log.length - 1]?.epoch ?? 0) || replica.log.length === 0) replica.epochs.push({ epoch: batch.epoch, startOffset: batch.baseOffset })
    replica.log.push(batch)
    this.record({ kind: 'append', atMs: this.nowMsValue, replica: replica.id, batch })
  }

  private scheduleSync(replica: SimReplica, then: ThenAction): void {
    const sync: PendingSync = { count: replica.log.length }
    replica.pendingSyncs.push(sync)
    const atMs = Math.max(this.nowMsValue + this.diskRandom.between(this.fsyncMsMin, this.fsyncMsMax), replica.lastSyncAtMs)
    replica.lastSyncAtMs = atMs
    this.heap.push({ atMs, sequence: this.sequenceNext++, kind: 'sync', replica, generation: replica.generation, sync, then })
  }

  private onSync(replica: SimReplica, generation: number, sync: PendingSync, then: ThenAction): void {
    if (replica.crashed || generation !== replica.generation) return
    replica.pendingSyncs = replica.pendingSyncs.filter((s) => s !== sync)
    replica.durableCount = Math.max(replica.durableCount, Math.min(sync.count, replica.log.length))
    const durableEnd = logEnd(replica.log.slice(0, replica.durableCount))
    if (then.kind === 'persisted') {
      this.call(replica, `persisted(${durableEnd})`, (core) => core.persisted(durableEnd))
      return
    }
    replica.fetchOutcomePending = false
    replica.epochsChanged = true
    const end = logEnd(replica.log)
    this.call(replica, `fetchCompleted(${end})`, (core) => core.fetchCompleted(end, then.newEpochs))
  }

  /** Outside an append the shell still owes the core, the core's log end is the log's. */
  private checkCoreMatchesShell(replica: SimReplica): void {
    if (this.failed || replica.crashed || replica.fetchOutcomePending) return
    const end = logEnd(replica.log)
    if (replica.core.logEndOffset !== end) {
      this.fail('shell contract', `${replica.id} (${replica.core.role} e${replica.core.epoch}): the core's log end is ${replica.core.logEndOffset} but the log ends at ${end}`)
      return
    }
    if (!replica.epochsChanged) return
    replica.epochsChanged = false
    const coreEpochs = formatEpochs(replica.core.epochCache())
    const logEpochs = formatEpochs(replica.epochs)
    if (coreEpochs !== logEpochs) {
      this.fail('shell contract', `${replica.id} (${replica.core.role} e${replica.core.epoch}): the core's epoch cache is ${coreEpochs} but the log's epochs start ${logEpochs}`)
    }
  }

  private record(event: HistoryEvent): void {
    if (this.keepHistory) this.history.push(event)
    for (const violation of this.checker.record(event)) {
      this.violations.push(violation)
      this.note(`VIOLATION ${formatViolation(violation)}`)
    }
  }

  private scheduleTick(replica: SimReplica, delayMs: number): void {
    this.heap.push({ atMs: this.nowMsValue + delayMs, sequence: this.sequenceNext++, kind: 'tick', replica, generation: replica.generation })
  }

  private scheduleProposal(): void {
    this.proposeQueued = true
    this.heap.push({ atMs: this.nowMsValue + this.clientRandom.exponential(this.proposalIntervalMsMean), sequence: this.sequenceNext++, kind: 'propose' })
  }

  private newCore(id: string, generation: number, hardState: HardState, log: readonly Batch[]): RaftCore {
    const random = this.root.fork(`core:${id}#${generation}`)
    return new RaftCore({
      id,
      voters: this.ids,
      hardState,
      epochs: epochStarts(log),
      logEndOffset: logEnd(log),
      settings: this.settings,
      random: () => random.float(),
    })
  }

  private note(line: string): void {
    this.trace.push(`${this.nowMsValue.toFixed(1).padStart(9)} ${line}`)
    if (this.trace.length > this.traceLinesMax) this.trace.splice(0, this.trace.length - this.traceLinesMax)
  }

  private replica(id: string): SimReplica {
    const replica = this.replicas.get(id)
    assert.ok(replica !== undefined, `no replica ${id}`)
    return replica
  }
}

/** The index of the batch of `log` starting at `offset`, or -1 (binary search: logs are contiguous). */
function batchIndexStarting(log: readonly Batch[], offset: number): number {
  let low = 0
  let high = log.length
  while (low < high) {
    const middle = (low + high) >> 1
    if ((log[middle] as Batch).baseOffset < offset) low = middle + 1
    else high = middle
  }
  return log[low]?.baseOffset === offset ? low : -1
}

/** The epoch cache of a log: where each epoch's first batch starts. */
export function epochStarts(log: readonly Batch[]): EpochEntry[] {
  const entries: EpochEntry[] = []
  for (const batch of log) {
    const last = entries[entries.length - 1]
    if (last === undefined || last.epoch !== batch.epoch) entries.push({ epoch: batch.epoch, startOffset: batch.baseOffset })
  }
  return entries
}

function formatEpochs(entries: readonly EpochEntry[]): string {
  return entries.map((entry) => `e${entry.epoch}@${entry.startOffset}`).join(',') || '(none)'
}

function describeMessage(message: RaftMessage, records: readonly Batch[] | undefined): string {
  const head = `${message.type} ${message.from}->${message.to} e${message.epoch}`
  switch (message.type) {
    case 'vote':
      return `${head}${message.preVote ? ' pre' : ''} last=e${message.lastEpoch}@${message.logEndOffset}`
    case 'voteResponse':
      return `${head}${message.preVote ? ' pre' : ''} ${message.granted ? 'granted' : 'refused'}`
    case 'beginEpoch':
    case 'timeoutNow':
      return head
    case 'fetch':
      return `${head} from ${message.fetchOffset} lastEpoch=${message.lastFetchedEpoch}`
    case 'fetchResponse':
      return `${head} ${message.outcome} at ${message.fetchOffset} hw=${message.highWatermark}${message.outcome === 'diverging' ? ` div=e${message.divergingEpoch}@${message.divergingEndOffset}` : ''}${records === undefined ? '' : ` +${records.length} batches`}`
  }
}
