/**
 * One seeded run of a Raft group (TigerBeetle's VOPR shape): every option is drawn from the
 * seed; a safety phase under faults (crashes losing unsynced writes, partitions, loss,
 * duplication, slow paths that reorder, leadership transfers) with a client proposing all the
 * while; then everything heals and the group must converge (one leader, identical logs, all of
 * it committed, every acknowledged batch still there) and accept a new write. Used by
 * `npm run sim:raft` and test/raft/safety.test.ts.
 */
import { Prng } from '../prng.js'
import { RAFT_SETTINGS_DEFAULT, type RaftSettings } from '../../src/raft/index.js'
import { formatViolation, logEnd, type HistoryEvent, type Violation } from './checker.js'
import { RAFT_NET_CLEAN, RaftHarness, type RaftNetSettings } from './harness.js'

export interface RaftSimOptions {
  readonly seed: number
  /** Replicas in the group; drawn from {3, 5} when absent. */
  readonly replicaCount?: number
  /** Virtual time under faults. */
  readonly safetyMs?: number
  /** After healing, how long the group has to converge and commit a new write. */
  readonly livenessMsMax?: number
  /** Core settings; drawn from the seed when absent (mostly the defaults). */
  readonly settings?: Partial<RaftSettings>
  /** Trace every core input (slower; for `--verbose` replays). */
  readonly traceInputs?: boolean
  /** Trace lines kept (the last ones); default 400, or a million with traceInputs. */
  readonly traceLinesMax?: number
  /** Only to prove the checker: a disk that lies (see RaftHarnessOptions.diskLies). */
  readonly diskLies?: 'vote' | 'log'
  /** Keep the checker's whole history in the result. */
  readonly keepHistory?: boolean
}

export interface RaftSimResult {
  readonly seed: number
  readonly replicaCount: number
  readonly settings: RaftSettings
  readonly net: RaftNetSettings
  /** What the fault injector did, in order. */
  readonly faults: string[]
  readonly violations: Violation[]
  readonly events: number
  readonly virtualMs: number
  readonly proposals: number
  /** Batches and offsets committed (below a high watermark some leader reported). */
  readonly committedBatches: number
  readonly committedEnd: number
  /** The highest epoch any replica reached. */
  readonly epochMax: number
  /** From healing until converged, if it did. */
  readonly convergedAfterMs: number | undefined
  /** The harness's last trace lines (the failure's neighbourhood). */
  readonly trace: string[]
  /** Each replica's state at the end. */
  readonly finalState: string[]
  /** Every event the checker saw (only with keepHistory). */
  readonly history: HistoryEvent[]
}

export const RAFT_SIM_SAFETY_MS_DEFAULT = 30_000
export const RAFT_SIM_LIVENESS_MS_DEFAULT = 60_000
/** A write proposed after convergence must commit within this long. */
const WRITE_AFTER_HEAL_MS_MAX = 5_000

function pick<T>(random: Prng, values: readonly T[]): T {
  return values[random.int(values.length)] as T
}

function drawNet(random: Prng): RaftNetSettings {
  return {
    latencyMsMin: 0.5,
    latencyMsJitterMean: pick(random, [1, 5, 20]),
    slowProbability: pick(random, [0, 0.01, 0.05]),
    slowMsMean: pick(random, [50, 300, 1_500]),
    lossProbability: pick(random, [0, 0.01, 0.05, 0.15]),
    duplicateProbability: pick(random, [0, 0.02, 0.1]),
  }
}

function drawSettings(random: Prng): RaftSettings {
  // Safety must hold whatever the settings; most runs use the defaults.
  const preVote = random.chance(0.5)
  const checkQuorum = random.chance(0.5)
  return random.chance(0.7) ? RAFT_SETTINGS_DEFAULT : { ...RAFT_SETTINGS_DEFAULT, preVote, checkQuorum }
}

/** The fault injector: drawn actions at drawn intervals; crashed replicas restart after drawn downtimes. */
class FaultInjector {
  readonly log: string[] = []
  private readonly restarts = new Map<string, number>()
  private readonly gapMsMean: number

  constructor(
    private readonly harness: RaftHarness,
    private readonly random: Prng,
    private net: RaftNetSettings,
  ) {
    this.gapMsMean = pick(random, [300, 1_000, 3_000])
  }

  run(untilMs: number): void {
    const harness = this.harness
    while (!harness.failed && harness.nowMs < untilMs) {
      harness.runFor(Math.min(untilMs - harness.nowMs, this.random.exponential(this.gapMsMean)))
      if (harness.failed || harness.nowMs >= untilMs) return
      this.restartDue()
      this.act()
    }
  }

  /** Heals everything: network, partitions, crashed replicas. */
  healAll(): void {
    this.harness.heal()
    this.harness.setNet(RAFT_NET_CLEAN)
    for (const id of this.harness.ids) if (this.harness.isCrashed(id)) this.harness.restart(id)
    this.restarts.clear()
    this.note('heal all')
  }

  private act(): void {
    const harness = this.harness
    const random = this.random
    const running = harness.ids.filter((id) => !harness.isCrashed(id))
    const roll = random.float()
    if (roll < 0.3 && running.length > 0) {
      // Leaders are the interesting victims: crash one half the time.
      const leaders = harness.leaders()
      const victim = leaders.length > 0 && random.chance(0.5) ? pick(random, leaders) : pick(random, running)
      harness.crash(victim)
      this.restarts.set(victim, harness.nowMs + random.between(100, 6_000))
      this.note(`crash ${victim}`)
    } else if (roll < 0.45) {
      const groups: string[][] = [[], [], []]
      const groupCount = random.chance(0.7) ? 2 : 3
      for (const id of harness.ids) (groups[random.int(groupCount)] as string[]).push(id)
      harness.partition(groups.filter((g) => g.length > 0))
      this.note(`partition ${groups.map((g) => `[${g.join(',')}]`).join(' ')}`)
    } else if (roll < 0.55) {
      const loner = pick(random, harness.ids)
      harness.partition([[loner]])
      this.note(`isolate ${loner}`)
    } else if (roll < 0.75) {
      harness.heal()
      this.note('heal partitions')
    } else if (roll < 0.8) {
      this.net = { ...this.net, lossProbability: pick(random, [0, 0.01, 0.05, 0.15, 0.4]) }
      harness.setNet(this.net)
      this.note(`loss ${this.net.lossProbability}`)
    } else if (roll < 0.85) {
      const from = pick(random, harness.ids)
      const to = pick(random, harness.ids.filter((id) => id !== from))
      if (to === undefined) return
      harness.cutOneWay(from, to)
      this.note(`cut ${from} -> ${to}`)
    } else if (roll < 0.9 && running.length > 0) {
      // A stalled process; leaders are the interesting ones (a deposed leader waking up).
      const leaders = harness.leaders()
      const victim = leaders.length > 0 && random.chance(0.5) ? pick(random, leaders) : pick(random, running)
      const durationMs = random.between(100, 4_000)
      harness.pause(victim, durationMs)
      this.note(`pause ${victim} ${Math.round(durationMs)} ms`)
    } else if (roll < 0.95) {
      const leaders = harness.leaders()
      if (leaders.length === 0) return
      const from = pick(random, leaders)
      const target = pick(random, harness.ids.filter((id) => id !== from))
      const refusal = harness.transferLeadership(from, target)
      this.note(`transfer ${from} -> ${target}${refusal === undefined ? '' : ` refused: ${refusal}`}`)
    }
  }

  private restartDue(): void {
    for (const [id, atMs] of this.restarts) {
      if (atMs > this.harness.nowMs) continue
      this.restarts.delete(id)
      this.harness.restart(id)
      this.note(`restart ${id}`)
    }
  }

  private note(what: string): void {
    this.log.push(`${this.harness.nowMs.toFixed(0)} ms: ${what}`)
  }
}

export function runRaftSim(options: RaftSimOptions): RaftSimResult {
  const plan = Prng.fromSeed(options.seed).fork('raft-plan')
  // Always drawn, so an override does not shift the draws after it.
  const drawnReplicaCount = plan.chance(0.5) ? 3 : 5
  const replicaCount = options.replicaCount ?? drawnReplicaCount
  const drawnSettings = drawSettings(plan)
  const settings = options.settings === undefined ? drawnSettings : { ...RAFT_SETTINGS_DEFAULT, ...options.settings }
  const net = drawNet(plan)
  const harness = new RaftHarness({
    seed: options.seed,
    replicaCount,
    settings,
    net,
    fsyncMsMin: 0.2,
    fsyncMsMax: pick(plan, [1, 5, 30]),
    fetchBatchesMax: pick(plan, [1, 4]),
    proposalIntervalMsMean: pick(plan, [20, 100, 300]),
    batchOffsetsMax: pick(plan, [1, 3, 8]),
    traceInputs: options.traceInputs ?? false,
    traceLinesMax: options.traceLinesMax ?? (options.traceInputs === true ? 1_000_000 : 400),
    diskLies: options.diskLies,
    keepHistory: options.keepHistory ?? false,
  })
  const faults = new FaultInjector(harness, plan.fork('faults'), net)
  faults.run(options.safetyMs ?? RAFT_SIM_SAFETY_MS_DEFAULT)
  let convergedAfterMs: number | undefined
  if (!harness.failed) {
    faults.healAll()
    harness.setProposalInterval(0)
    convergedAfterMs = checkLiveness(harness, options.livenessMsMax ?? RAFT_SIM_LIVENESS_MS_DEFAULT)
  }
  let epochMax = 0
  for (const id of harness.ids) epochMax = Math.max(epochMax, harness.core(id).epoch)
  return {
    seed: options.seed,
    replicaCount,
    settings,
    net,
    faults: faults.log,
    violations: harness.violations,
    events: harness.eventsProcessed,
    virtualMs: harness.nowMs,
    proposals: harness.proposals,
    committedBatches: harness.checker.committedBatches().length,
    committedEnd: harness.checker.committedEnd,
    epochMax,
    convergedAfterMs,
    trace: harness.trace,
    finalState: harness.describeState(),
    history: harness.history,
  }
}

/**
 * After healing: one leader, identical logs, all committed, every batch ever committed still
 * in place; then one more write commits everywhere. Returns the time to converge.
 */
function checkLiveness(harness: RaftHarness, timeoutMs: number): number | undefined {
  const healedAtMs = harness.nowMs
  const at = harness.runUntil(() => harness.converged(), { timeoutMs, checkEveryMs: 50 })
  if (harness.failed) return undefined
  if (at === undefined) {
    harness.fail('liveness', `no convergence within ${timeoutMs} ms of healing: ${harness.describeState().join('; ')}`)
    return undefined
  }
  const leader = harness.leaders()[0] as string
  const log = harness.logOf(leader)
  const committed = harness.checker.committedBatches()
  const lost = committed.find((batch, i) => log[i]?.id !== batch.id)
  if (lost !== undefined) harness.fail('acknowledged writes survive', `committed batch ${lost.id} at ${lost.baseOffset} is not in the converged log`)
  harness.proposeOnce()
  const target = logEnd(harness.logOf(leader))
  const wrote = harness.runUntil(() => harness.ids.every((id) => harness.core(id).highWatermark >= target), { timeoutMs: WRITE_AFTER_HEAL_MS_MAX, checkEveryMs: 10 })
  if (wrote === undefined && !harness.failed) harness.fail('liveness', `a write to ${leader} after healing (up to ${target}) did not commit everywhere within ${WRITE_AFTER_HEAL_MS_MAX} ms: ${harness.describeState().join('; ')}`)
  return at - healedAtMs
}

/** One line: the seed, what it drew, what happened, `ok` or the first violation. */
export function summarize(result: RaftSimResult): string {
  const settings = `preVote=${result.settings.preVote} checkQuorum=${result.settings.checkQuorum}`
  const net = `loss=${result.net.lossProbability} dup=${result.net.duplicateProbability} slow=${result.net.slowProbability}`
  const figures = `events=${result.events} proposals=${result.proposals} committed=${result.committedBatches}/${result.committedEnd} epochs=${result.epochMax} converged=${result.convergedAfterMs === undefined ? '-' : `${Math.round(result.convergedAfterMs)}ms`}`
  const first = result.violations[0]
  const verdict = first === undefined ? 'ok' : `VIOLATION ${formatViolation(first)}`
  return `seed=${result.seed} replicas=${result.replicaCount} ${settings} ${net} ${figures} ${verdict}`
}
