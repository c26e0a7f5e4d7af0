/**
 * The fault menu of the full-system simulator, drawn per seed ("swarm testing": each seed
 * enables a different subset of fault kinds, each with its own rate and duration, so seeds
 * differ in kind and not only in timing). A run's faults come from the classes chosen with
 * `--faults net,process,disk,clock` (default all); within them the seed picks the kinds.
 *
 * Kinds, by class (what each does is in faults.ts):
 * - net: partition (both ways), one-way partition, bridge (two sides, one node seeing both),
 *   isolate-clients (a node the clients cannot reach, its peers can), clog (a link stalls,
 *   then floods), flaky (links that break every few dozen messages: loss), slow-link (delay
 *   spikes); plus per-seed background link jitter, spikes and breaks;
 * - process: crash (losing unsynced writes, or keeping a prefix of them) and restart, graceful
 *   restart, pause (a long GC-like stall), lose-node (a node and its disk gone for good, a
 *   new node added in its place), add-node, client-churn (producers, consumers and group
 *   members crash, leave, restart and join);
 * - disk: torn-write (a crash tears the last unsynced append), bit-flip (one bit of a stored
 *   batch), disk-full (writes fail with ENOSPC for a while), slow-fsync;
 * - clock: skew (a node's wall clock set off true time), jump (a wall clock stepped back or
 *   forth), rate (a node's clock and timers run fast or slow for a while).
 */
import type { Prng } from '../prng.js'

export const FaultClass = { net: 'net', process: 'process', disk: 'disk', clock: 'clock' } as const
export type FaultClass = (typeof FaultClass)[keyof typeof FaultClass]
export const FAULT_CLASSES: readonly FaultClass[] = Object.values(FaultClass)

export const FaultKind = {
  partition: 'partition',
  oneWay: 'one-way',
  bridge: 'bridge',
  isolateClients: 'isolate-clients',
  clog: 'clog',
  flaky: 'flaky',
  slowLink: 'slow-link',
  crash: 'crash',
  gracefulRestart: 'graceful-restart',
  pause: 'pause',
  loseNode: 'lose-node',
  addNode: 'add-node',
  clientChurn: 'client-churn',
  tornWrite: 'torn-write',
  bitFlip: 'bit-flip',
  diskFull: 'disk-full',
  slowFsync: 'slow-fsync',
  skew: 'skew',
  jump: 'jump',
  rate: 'rate',
} as const
export type FaultKind = (typeof FaultKind)[keyof typeof FaultKind]

/** Each kind's class, and the range its duration is drawn from per seed (ms; 0 for instantaneous kinds). */
const KINDS: Readonly<Record<FaultKind, { readonly cls: FaultClass; readonly durationMs: readonly [number, number] }>> = {
  partition: { cls: 'net', durationMs: [500, 8_000] },
  'one-way': { cls: 'net', durationMs: [500, 6_000] },
  bridge: { cls: 'net', durationMs: [1_000, 8_000] },
  'isolate-clients': { cls: 'net', durationMs: [1_000, 6_000] },
  clog: { cls: 'net', durationMs: [200, 4_000] },
  flaky: { cls: 'net', durationMs: [500, 5_000] },
  'slow-link': { cls: 'net', durationMs: [500, 5_000] },
  crash: { cls: 'process', durationMs: [300, 6_000] },
  'graceful-restart': { cls: 'process', durationMs: [100, 3_000] },
  pause: { cls: 'process', durationMs: [200, 6_000] },
  'lose-node': { cls: 'process', durationMs: [500, 4_000] },
  'add-node': { cls: 'process', durationMs: [0, 0] },
  'client-churn': { cls: 'process', durationMs: [0, 0] },
  'torn-write': { cls: 'disk', durationMs: [300, 5_000] },
  'bit-flip': { cls: 'disk', durationMs: [0, 0] },
  'disk-full': { cls: 'disk', durationMs: [200, 4_000] },
  'slow-fsync': { cls: 'disk', durationMs: [500, 5_000] },
  skew: { cls: 'clock', durationMs: [0, 0] },
  jump: { cls: 'clock', durationMs: [0, 0] },
  rate: { cls: 'clock', durationMs: [1_000, 8_000] },
}
export const FAULT_KINDS: readonly FaultKind[] = Object.keys(KINDS) as FaultKind[]

/** Chance that a seed enables a kind of an enabled class (at least one kind per class is enabled). */
const KIND_ENABLED_PROBABILITY = 0.5
/** Bounds of a kind's chance, per fault tick, of being injected. */
const TICK_PROBABILITY_MIN = 0.05
const TICK_PROBABILITY_MAX = 0.45

export interface FaultPlan {
  readonly kind: FaultKind
  readonly cls: FaultClass
  /** Chance per fault tick (every tickMsMin..tickMsMax) that one is injected. */
  readonly probability: number
  /** Durations are drawn uniformly from [min, max] each time. */
  readonly durationMsMin: number
  readonly durationMsMax: number
}

export interface FaultMenu {
  readonly classes: readonly FaultClass[]
  /**
   * 'minority': faults that take nodes out (crash, pause, partition, full disk...) spare a
   * majority of every Raft group at all times, so the cluster keeps making progress;
   * 'majority': they may take out more (safety must still hold; progress may stop).
   */
  readonly mode: 'minority' | 'majority'
  readonly tickMsMin: number
  readonly tickMsMax: number
  /** Enabled kinds, in FAULT_KINDS order (the order they are rolled in each tick). */
  readonly plans: readonly FaultPlan[]
  /** Background link behaviour for the whole run (net class only). */
  readonly link: { readonly latencyJitterMsMean: number; readonly spikeProbability: number; readonly breakProbability: number }
}

/** `--faults net,process`: the classes named, checked. */
export function parseFaultClasses(text: string): FaultClass[] | string {
  const names = text.split(',').map((name) => name.trim()).filter((name) => name.length > 0)
  if (names.length === 0) return 'name at least one fault class'
  const bad = names.filter((name) => !FAULT_CLASSES.includes(name as FaultClass))
  if (bad.length > 0) return `unknown fault class ${bad.map((name) => `'${name}'`).join(', ')} (classes: ${FAULT_CLASSES.join(', ')})`
  return FAULT_CLASSES.filter((cls) => names.includes(cls))
}

/** Draws one seed's menu over `classes`. */
export function drawMenu(random: Prng, classes: readonly FaultClass[]): FaultMenu {
  const plans: FaultPlan[] = []
  for (const cls of FAULT_CLASSES) {
    const kinds = FAULT_KINDS.filter((kind) => KINDS[kind].cls === cls)
    // Drawn for every class, enabled or not, so --faults does not shift the other draws.
    const enabled = kinds.filter(() => random.chance(KIND_ENABLED_PROBABILITY))
    const forced = kinds[random.int(kinds.length)] as FaultKind
    const probabilities = kinds.map(() => random.between(TICK_PROBABILITY_MIN, TICK_PROBABILITY_MAX))
    const scales = kinds.map(() => random.between(0.2, 1))
    if (!classes.includes(cls)) continue
    if (enabled.length === 0) enabled.push(forced)
    kinds.forEach((kind, i) => {
      if (!enabled.includes(kind)) return
      const [min, max] = KINDS[kind].durationMs
      // Each seed's durations span part of the kind's range: some seeds short faults, some long.
      const durationMsMax = Math.round(min + (max - min) * (scales[i] as number))
      plans.push({ kind, cls, probability: probabilities[i] as number, durationMsMin: min, durationMsMax })
    })
  }
  const mode = random.chance(0.2) ? 'majority' : 'minority'
  const tickMsMin = 100 + random.int(300)
  const tickMsMax = tickMsMin + 200 + random.int(1_000)
  const net = classes.includes(FaultClass.net)
  const link = {
    latencyJitterMsMean: 0.1 + random.float() * 2,
    spikeProbability: net && random.chance(0.5) ? random.float() * 0.02 : 0,
    breakProbability: net && random.chance(0.5) ? random.float() * 0.0005 : 0,
  }
  plans.sort((a, b) => FAULT_KINDS.indexOf(a.kind) - FAULT_KINDS.indexOf(b.kind))
  return { classes: [...classes], mode, tickMsMin, tickMsMax, plans, link }
}

export function hasKind(menu: FaultMenu, kind: FaultKind): boolean {
  return menu.plans.some((plan) => plan.kind === kind)
}

export function describeMenu(menu: FaultMenu): string {
  const plans = menu.plans.map((plan) => `${plan.kind}(p=${plan.probability.toFixed(2)},${plan.durationMsMax > 0 ? `<=${plan.durationMsMax}ms` : 'instant'})`)
  const link = `jitterMean=${menu.link.latencyJitterMsMean.toFixed(2)}ms spikes=${menu.link.spikeProbability.toFixed(3)} breaks=${menu.link.breakProbability.toExponential(2)}/msg`
  return `mode=${menu.mode} tick=${menu.tickMsMin}..${menu.tickMsMax}ms faults: ${plans.join(' ') || 'none'} links: ${link}`
}
