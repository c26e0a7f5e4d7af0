/**
 * The SWIM simulator scenarios behind test/sim/swim-*.test.ts and `npm run sim:swim`. Each
 * builds a cluster on a SwimHarness from one seed, runs it, and returns figures; the tests
 * and the CLI decide what to assert or print.
 */
import { strict as assert } from 'node:assert'
import { LAN_SWIM_SETTINGS, MemberState, suspicionTimeoutMinMs, type SwimSettings } from '../../src/membership/index.js'
import { Prng } from '../prng.js'
import { SwimHarness } from './harness.js'

/** Member ids n00, n01, ...: sortable, so logs read in order. */
export function memberIds(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `n${String(i).padStart(count > 100 ? 3 : 2, '0')}`)
}

/**
 * Builds a cluster of `count` members on a loss-free network: the first starts it, the others
 * join through it, one every `joinSpacingMs`; then runs until every member sees every member
 * alive. Throws if that takes longer than `convergeTimeoutMs`.
 */
export function formCluster(harness: SwimHarness, count: number, options: { joinSpacingMs?: number; convergeTimeoutMs?: number } = {}): string[] {
  const ids = memberIds(count)
  const [first] = ids
  assert.ok(first !== undefined, 'a cluster needs a member')
  harness.addNode(first)
  for (const id of ids.slice(1)) {
    harness.runFor(options.joinSpacingMs ?? 10)
    harness.addNode(id, { seedIds: [first] })
  }
  const timeoutMs = options.convergeTimeoutMs ?? 120_000
  const at = harness.runUntil(() => harness.converged(ids), { timeoutMs, checkEveryMs: 500 })
  if (at === undefined) throw new Error(`cluster of ${count} did not converge within ${timeoutMs} ms`)
  return ids
}

export interface FalsePositiveOptions {
  seed: number
  memberCount: number
  lossProbability: number
  durationMs: number
  lifeguard: boolean
  settings?: SwimSettings
}

export interface FalsePositiveResult {
  /** 'dead' verdicts (observer, member) about members that never crashed: all of them are false. */
  falseDeadVerdicts: number
  /** Members that at least one observer declared dead. */
  falselyDeadMembers: number
  /** alive -> suspect transitions (observer, member). */
  suspicions: number
  refutations: number
  probesFailed: number
  messagesPerMemberPerSecond: number
  events: number
}

/**
 * No member ever crashes; the network loses `lossProbability` of all messages. Every 'dead'
 * verdict is therefore a false positive. The cluster forms loss-free first.
 */
export function runFalsePositiveScenario(options: FalsePositiveOptions): FalsePositiveResult {
  const settings = { ...(options.settings ?? LAN_SWIM_SETTINGS), lifeguard: options.lifeguard }
  const harness = new SwimHarness({ seed: options.seed, settings })
  const ids = formCluster(harness, options.memberCount)
  const changesBefore = harness.changes.length
  const sentBefore = totalSent(harness)
  const statsBefore = sumStats(harness, ids)
  harness.setLoss(options.lossProbability)
  harness.runFor(options.durationMs)
  const changes = harness.changes.slice(changesBefore)
  const dead = changes.filter((change) => change.state === MemberState.dead)
  const statsAfter = sumStats(harness, ids)
  return {
    falseDeadVerdicts: dead.length,
    falselyDeadMembers: new Set(dead.map((change) => change.memberId)).size,
    suspicions: changes.filter((change) => change.state === MemberState.suspect && change.previousState === MemberState.alive).length,
    refutations: statsAfter.refutations - statsBefore.refutations,
    probesFailed: statsAfter.probesFailed - statsBefore.probesFailed,
    messagesPerMemberPerSecond: (totalSent(harness) - sentBefore) / ids.length / (options.durationMs / 1_000),
    events: harness.eventsProcessed,
  }
}

/**
 * How long after a crash every live member holds the crashed one dead, on a loss-free LAN,
 * derived from the settings (I = probeIntervalMs, n = members before the crash):
 *
 *   (n - 1) * I      one probe round: each live member probes every other once per round, so
 *                    the K + 1 = alpha - 1 members whose failed probes make a fully confirmed
 *                    suspicion have each probed the crashed member within about one round
 * + I                that probe's period: a probe fails at the end of its period
 * + alpha * max(1, log10 n) * I
 *                    the suspicion floor, reached once K = alpha - 2 members confirmed
 *                    (Lifeguard; without Lifeguard it is the whole timeout)
 * + I                the first 'dead' verdict reaching the others: it rides on the declaring
 *                    member's next messages, and the others' own timers run out about then too
 *
 * With LAN settings and n = 5: 4 + 1 + 4 + 1 = 10 s. The round-robin order is reshuffled each
 * round (SWIM §4.3), so one member's gap between two probes of the same target can reach
 * 2(n - 1) - 1 periods; were K + 1 members all that unlucky at once, detection could take up
 * to (2(n - 1) - 1) * I + I + floor + I = 13 s. The tests check the bound over many drawn
 * crashes.
 */
export function crashDetectionBoundMs(settings: SwimSettings, memberCount: number): number {
  const intervalMs = settings.probeIntervalMs
  return (memberCount - 1) * intervalMs + intervalMs + suspicionTimeoutMinMs(settings, memberCount) + intervalMs
}

export interface CrashDetectionOptions {
  seed: number
  memberCount: number
  trials: number
  settings?: SwimSettings
}

export interface CrashDetectionResult {
  /** Per trial: from the crash until the last running member saw the crashed one dead. */
  detectionMs: number[]
  /** Per trial: from the crash until the first member saw it dead. */
  firstDetectionMs: number[]
}

/**
 * Per trial (each on its own harness, seeded from `seed` and the trial number): form a
 * cluster, let it run a drawn while, crash a drawn member at a drawn instant, and measure
 * until every other member holds it dead.
 */
export function runCrashDetection(options: CrashDetectionOptions): CrashDetectionResult {
  const settings = options.settings ?? LAN_SWIM_SETTINGS
  const draws = Prng.fromSeed(options.seed).fork('crash-detection')
  const result: CrashDetectionResult = { detectionMs: [], firstDetectionMs: [] }
  for (let trial = 0; trial < options.trials; trial++) {
    const harness = new SwimHarness({ seed: options.seed * 1_000 + trial, settings })
    const ids = formCluster(harness, options.memberCount)
    harness.runFor(draws.between(5_000, 35_000))
    const victim = ids[draws.int(ids.length)] as string
    const crashedAtMs = harness.nowMs
    let firstAtMs: number | undefined
    harness.onChange((record) => {
      if (record.memberId === victim && record.state === MemberState.dead) firstAtMs ??= record.atMs
    })
    harness.crash(victim)
    const others = ids.filter((id) => id !== victim)
    const allSeeDead = (): boolean => others.every((id) => harness.view(id, victim)?.state === MemberState.dead)
    const at = harness.runUntil(allSeeDead, { timeoutMs: 10 * 60_000, checkEveryMs: 10 })
    if (at === undefined || firstAtMs === undefined) throw new Error(`trial ${trial}: ${victim} was not detected dead`)
    result.detectionMs.push(at - crashedAtMs)
    result.firstDetectionMs.push(firstAtMs - crashedAtMs)
  }
  return result
}

export interface PartitionHealOptions {
  seed: number
  memberCount: number
  partitionMs: number
  settings?: SwimSettings
}

export interface PartitionHealResult {
  /** Whether, when the partition healed, each side held every member of the other not alive. */
  sidesSplit: boolean
  /** From heal until every member saw every member alive; undefined if not within 10 minutes. */
  healMs: number | undefined
}

/** Two halves that cannot reach each other for `partitionMs`, then one network again. */
export function runPartitionHeal(options: PartitionHealOptions): PartitionHealResult {
  const settings = options.settings ?? LAN_SWIM_SETTINGS
  const harness = new SwimHarness({ seed: options.seed, settings })
  const ids = formCluster(harness, options.memberCount)
  const half = Math.floor(ids.length / 2)
  const sideA = ids.slice(0, half)
  const sideB = ids.slice(half)
  harness.partition([sideA, sideB])
  harness.runFor(options.partitionMs)
  const sidesSplit = sideA.every((a) => sideB.every((b) => harness.view(a, b)?.state !== MemberState.alive && harness.view(b, a)?.state !== MemberState.alive))
  harness.heal()
  const healedAtMs = harness.nowMs
  const at = harness.runUntil(() => harness.converged(ids), { timeoutMs: 10 * 60_000, checkEveryMs: 100 })
  return { sidesSplit, healMs: at === undefined ? undefined : at - healedAtMs }
}

export interface LoadRow {
  memberCount: number
  /** Messages sent per member per second, over the measurement window. */
  messagesPerMemberPerSecond: number
  /** Piggybacked updates per message sent, over the measurement window. */
  gossipUpdatesPerMessage: number
}

/** Steady-state message load per member at each cluster size (after forming and settling). */
export function runLoad(options: { seed: number; memberCounts: readonly number[]; settleMs: number; measureMs: number; settings?: SwimSettings }): LoadRow[] {
  const settings = options.settings ?? LAN_SWIM_SETTINGS
  return options.memberCounts.map((memberCount) => {
    const harness = new SwimHarness({ seed: options.seed + memberCount, settings })
    const ids = formCluster(harness, memberCount, { joinSpacingMs: 5 })
    harness.runFor(options.settleMs)
    const sentBefore = totalSent(harness)
    const updatesBefore = sumStats(harness, ids).gossipUpdatesSent
    harness.runFor(options.measureMs)
    const sent = totalSent(harness) - sentBefore
    const updates = sumStats(harness, ids).gossipUpdatesSent - updatesBefore
    return {
      memberCount,
      messagesPerMemberPerSecond: sent / memberCount / (options.measureMs / 1_000),
      gossipUpdatesPerMessage: sent === 0 ? 0 : updates / sent,
    }
  })
}

function totalSent(harness: SwimHarness): number {
  let sum = 0
  for (const count of harness.sentById.values()) sum += count
  return sum
}

function sumStats(harness: SwimHarness, ids: readonly string[]): { refutations: number; probesFailed: number; gossipUpdatesSent: number } {
  const sum = { refutations: 0, probesFailed: 0, gossipUpdatesSent: 0 }
  for (const id of ids) {
    const stats = harness.swim(id).stats()
    sum.refutations += stats.refutations
    sum.probesFailed += stats.probesFailed
    sum.gossipUpdatesSent += stats.gossipUpdatesSent
  }
  return sum
}
