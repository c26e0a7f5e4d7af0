/**
 * What the simulated clients of the full-system run share: the world, the history they write
 * to, the checker they report client errors to, and how to build an SDK client on a host.
 */
import { Client, type ClientConfig } from '../../src/client/index.js'
import { ErrorCode, SkeinError } from '../../src/wire/index.js'
import { SIM_CLUSTER_ID, SIM_CLUSTER_SECRET, SIM_NODE_PORT, type SimCluster } from '../cluster.js'
import type { World } from '../world.js'
import { AnomalyKind, type FullChecker } from './checker.js'
import { type History, Outcome } from './history.js'

export interface ClientsContext {
  readonly world: World
  readonly cluster: SimCluster
  readonly history: History
  readonly checker: FullChecker
  readonly topic: string
  readonly partitionCount: number
  /** A workload event worth a line in the run's log (a client started, crashed, failed...). */
  log(line: string): void
}

/** One attempt of one request; short, so timeouts (unknown outcomes) happen under faults. */
export const CLIENT_REQUEST_TIMEOUT_MS = 2_000
/** One call, retries included. */
export const CLIENT_REQUEST_DEADLINE_MS = 8_000

/** Errors after which an operation may or may not have taken effect. */
const UNKNOWN_OUTCOME_CODES: ReadonlySet<number> = new Set([ErrorCode.REQUEST_TIMED_OUT.code, ErrorCode.NETWORK_EXCEPTION.code, ErrorCode.NODE_UNREACHABLE.code])

export function outcomeOf(error: unknown): Outcome {
  return error instanceof SkeinError && !UNKNOWN_OUTCOME_CODES.has(error.code) ? Outcome.failed : Outcome.unknown
}

/** An SDK client on `host`'s current process, seeded with the cluster's current members. */
export function clientOn(context: ClientsContext, host: string, clientId: string, overrides: Partial<ClientConfig> = {}): Client {
  return new Client({
    seeds: context.cluster.nodeIds.map((id) => `${id}:${SIM_NODE_PORT}`),
    clusterId: SIM_CLUSTER_ID,
    clusterSecret: SIM_CLUSTER_SECRET,
    clientId,
    env: context.world.process(host).env,
    requestTimeoutMs: CLIENT_REQUEST_TIMEOUT_MS,
    requestDeadlineMs: CLIENT_REQUEST_DEADLINE_MS,
    ...overrides,
  })
}

/** Reports anything a client threw that is not one of the protocol's errors: a bug in the SDK. */
export function reportUnexpected(context: ClientsContext, what: string, error: unknown): void {
  if (error instanceof SkeinError) return
  context.checker.note(AnomalyKind.clientError, context.world.nowMs(), `${what} threw ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`)
}

/**
 * A consumer's run() ended with an error. Applications close such a consumer (and start
 * another); the run logs it. One error is an anomaly whatever its cause: UNKNOWN_TOPIC for
 * the workload topic, which exists from set-up to the end.
 */
export function reportConsumerFailure(context: ClientsContext, who: string, error: unknown): void {
  const message = error instanceof Error ? error.message : String(error)
  context.log(`${who} stopped: ${message}`)
  if (error instanceof SkeinError && error.code === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION.code) {
    context.checker.note(AnomalyKind.clientError, context.world.nowMs(), `${who} stopped for good: ${message} (the topic exists)`)
  }
  reportUnexpected(context, who, error)
}

/** A process incarnation of a host: code running for an older one must stop acting. */
export interface Incarnation {
  readonly host: string
  readonly incarnation: number
}

export function incarnationOf(world: World, host: string): Incarnation {
  return { host, incarnation: world.process(host).incarnation }
}

export function isAlive(world: World, who: Incarnation): boolean {
  const process = world.process(who.host)
  return process.alive && process.incarnation === who.incarnation
}

/** Never resolves once `who` is dead: promise chains of a dead process must not act for it. */
export function unlessDead(world: World, who: Incarnation): Promise<void> {
  return isAlive(world, who) ? Promise.resolve() : new Promise(() => undefined)
}

/** Starts a crashed host's next process (or uses the running one). */
export function ensureRunning(world: World, host: string): void {
  if (!world.process(host).alive) world.restart(host)
}

export function sleep(world: World, host: string, ms: number): Promise<void> {
  return new Promise((resolve) => world.process(host).clock.setTimer(ms, resolve))
}

const utf8 = new TextDecoder()

export function valueText(value: Uint8Array | null): string {
  return value === null ? '<null>' : utf8.decode(value)
}
