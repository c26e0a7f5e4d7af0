import type { Actor, ActorSystem, Message } from '../../src/actor/index.js'
import { ErrorCode, SkeinError } from '../../src/wire/index.js'
import { shuffle } from '../../src/env/index.js'
import { staticDirectory } from '../../src/node.js'
import { SimCluster } from '../cluster.js'
import { Prng } from '../prng.js'
import { settle } from '../settle.js'
import type { NetConfig } from '../sim-net.js'

/**
 * The foundation scenario: five complete nodes whose clients ask counter actors spread over
 * the cluster to add 1, while links break at random and a partition cuts the cluster in two
 * for a while. Every option is drawn from the seed, so seeds differ in kind, not only timing.
 *
 * Safety (checked over the whole run): a counter's final value is at least the number of
 * adds acknowledged to clients and at most acknowledged plus unknown-outcome ones (timeouts, links lost mid-ask),
 * so no acknowledged add is lost and none is applied twice or from nowhere.
 * Liveness (after healing): every node can reach every counter again.
 */
export interface ScenarioOptions {
  seed: number
  /** Virtual time the workload and faults run for (the safety phase). */
  faultPhaseMs: number
  /** Virtual time after healing before liveness is checked. */
  healPhaseMs: number
  /** The counter actor under test; tests inject broken ones to prove the checker catches them. */
  counterFactory?: () => Actor
}

export const ACTOR_ASKS_DEFAULTS = { faultPhaseMs: 30_000, healPhaseMs: 10_000 } as const

export interface ScenarioResult {
  seed: number
  events: number
  trace: string
  virtualMs: number
  asksOk: number
  asksUnknown: number
  asksFailed: number
  /**
   * Handshakes completed over the run, summed over nodes (a link normally completes one at
   * each end): at most 20 for five nodes that never lost a link, more for every link that
   * broke and was dialled again. It shows how much loss a seed actually dealt.
   */
  handshakesCompleted: number
  faults: string[]
  violations: string[]
}

const NODE_IDS = ['n1', 'n2', 'n3', 'n4', 'n5'] as const
/** Counter actors the workload spreads over; enough that every node hosts a few. */
const COUNTER_COUNT = 20
/** Errors after which an add may or may not have been applied. */
const OUTCOME_UNKNOWN_CODES: ReadonlySet<number> = new Set([ErrorCode.REQUEST_TIMED_OUT.code, ErrorCode.NETWORK_EXCEPTION.code, ErrorCode.NODE_UNREACHABLE.code])

/** Deadline of a workload ask; short, so timeouts (unknown outcomes) happen under faults. */
const ASK_TIMEOUT_MS = 1_000
/** Attempts per (node, counter) pair in the liveness check before it counts as unreachable. */
const LIVENESS_ATTEMPTS_MAX = 10

/** Adds to a running total; `get` reads it. State lives in memory: no crashes in this scenario. */
export class Counter implements Actor {
  private total = 0
  receive(message: Message): unknown {
    if (message.kind === 'add') return (this.total += 1)
    if (message.kind === 'get') return this.total
    throw new SkeinError(ErrorCode.INVALID_REQUEST, `counter does not handle ${message.kind}`)
  }
}

interface Tally {
  ok: number
  unknown: number
  failed: number
}

function drawNetConfig(random: Prng): Partial<NetConfig> {
  return {
    latencyJitterMsMean: 0.1 + random.float() * 3,
    spikeProbability: random.float() * 0.05,
    breakProbability: random.float() * 0.005,
  }
}

export async function runActorAsksScenario(options: ScenarioOptions): Promise<ScenarioResult> {
  const draws = Prng.fromSeed(options.seed).fork('scenario:actor-asks')
  const faults: string[] = []
  const net = drawNetConfig(draws)
  faults.push(`links: jitterMean=${net.latencyJitterMsMean?.toFixed(2)}ms spikes=${net.spikeProbability?.toFixed(3)} breaks=${net.breakProbability?.toExponential(2)}/msg`)
  const counterFactory = options.counterFactory ?? (() => new Counter())
  const registerCounter = (system: ActorSystem): void => system.registerKind('counter', counterFactory)
  // Counters keep their state in memory, so placement must not move them: a fixed directory.
  // (Actors that must survive placement changes commit through Raft; see DESIGN.md.)
  const directory = staticDirectory(NODE_IDS)
  const cluster = await SimCluster.start(NODE_IDS, { seed: options.seed, net, hooksFor: () => ({ directory, registerActors: registerCounter }) })
  const world = cluster.world
  const tallies = new Map<string, Tally>()
  for (let k = 0; k < COUNTER_COUNT; k++) tallies.set(`counter/${k}`, { ok: 0, unknown: 0, failed: 0 })

  let workloadRunning = true
  const startClient = (nodeId: string, intervalMs: number): void => {
    const actors = cluster.node(nodeId).actors
    const clock = world.process(nodeId).env.clock
    const tick = (): void => {
      if (!workloadRunning) return
      const target = `counter/${draws.int(COUNTER_COUNT)}`
      const tally = tallies.get(target) as Tally
      actors.ask(target, 'add', null, { timeoutMs: ASK_TIMEOUT_MS }).then(
        () => void tally.ok++,
        (err: unknown) => {
          // A timeout, or a link that closed or could not be dialed while the ask waited (the
          // request may have run, or may still go out on the next link), leaves the outcome
          // unknown; any other refusal happened before the actor ran.
          if (err instanceof SkeinError && OUTCOME_UNKNOWN_CODES.has(err.code)) tally.unknown++
          else tally.failed++
        },
      )
      clock.setTimer(intervalMs, tick)
    }
    clock.setTimer(intervalMs, tick)
  }
  for (const nodeId of NODE_IDS) startClient(nodeId, 5 + draws.int(16))

  schedulePartition(cluster, draws, options.faultPhaseMs, faults)
  await world.runFor(options.faultPhaseMs)
  workloadRunning = false
  world.net.heal()
  await world.runFor(options.healPhaseMs)

  const violations = await checkCounters(cluster, tallies)
  let asksOk = 0
  let asksUnknown = 0
  let asksFailed = 0
  for (const tally of tallies.values()) {
    asksOk += tally.ok
    asksUnknown += tally.unknown
    asksFailed += tally.failed
  }
  return {
    seed: options.seed,
    events: world.scheduler.eventsProcessed,
    trace: world.traceHex(),
    virtualMs: world.nowMs(),
    asksOk,
    asksUnknown,
    asksFailed,
    handshakesCompleted: NODE_IDS.reduce((sum, id) => sum + cluster.node(id).transport.stats().linksAuthenticated, 0),
    faults,
    violations,
  }
}

/** Splits the nodes into two sides for a drawn window inside the fault phase. */
function schedulePartition(cluster: SimCluster, draws: Prng, faultPhaseMs: number, faults: string[]): void {
  const minority = shuffle(draws, [...NODE_IDS]).slice(0, 1 + draws.int(2)).sort()
  const majority = NODE_IDS.filter((id) => !minority.includes(id))
  const startMs = Math.floor(faultPhaseMs * (0.1 + 0.4 * draws.float()))
  const durationMs = Math.floor(faultPhaseMs * (0.1 + 0.3 * draws.float()))
  faults.push(`partition: [${minority.join(',')}] | [${majority.join(',')}] from ${startMs}ms for ${durationMs}ms`)
  const scheduler = cluster.world.scheduler
  scheduler.schedule(scheduler.nowMs() + startMs, 'fault:partition', () => cluster.world.net.partition(minority, majority))
  scheduler.schedule(scheduler.nowMs() + startMs + durationMs, 'fault:heal', () => cluster.world.net.heal())
}

/** Liveness: every node reaches every counter; safety: each final value is within the tallies. */
async function checkCounters(cluster: SimCluster, tallies: Map<string, Tally>): Promise<string[]> {
  const violations: string[] = []
  for (const [counterId, tally] of tallies) {
    for (const nodeId of NODE_IDS) {
      const value = await askWithRetries(cluster, nodeId, counterId)
      if (value === undefined) {
        violations.push(`liveness: ${nodeId} cannot reach ${counterId} after healing`)
        continue
      }
      if (value < tally.ok) violations.push(`safety: ${counterId} = ${value} but ${tally.ok} adds were acknowledged (lost writes)`)
      if (value > tally.ok + tally.unknown) {
        violations.push(`safety: ${counterId} = ${value} but only ${tally.ok} acknowledged + ${tally.unknown} unknown adds were sent`)
      }
    }
  }
  return violations
}

async function askWithRetries(cluster: SimCluster, nodeId: string, counterId: string): Promise<number | undefined> {
  for (let attempt = 0; attempt < LIVENESS_ATTEMPTS_MAX; attempt++) {
    try {
      return await settle(cluster.world, cluster.node(nodeId).actors.ask<number>(counterId, 'get', null, { timeoutMs: ASK_TIMEOUT_MS }))
    } catch {
      await cluster.world.runFor(ASK_TIMEOUT_MS)
    }
  }
  return undefined
}
