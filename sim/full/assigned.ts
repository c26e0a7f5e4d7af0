/**
 * Consumers by assignment (no group): each on a host of its own reads every partition of the
 * topic with an SDK consumer (`assign`, `run({ eachBatch })`), and records each batch it is
 * handed as a `poll` in the history. One consumer instance is one session, which starts with
 * an `assign` (from offset 0, or from where the previous session got to); churn closes a
 * session and opens the next, or crashes the host and starts a new session there later.
 */
import type { Client, Consumer } from '../../src/client/index.js'
import type { Prng } from '../prng.js'
import { type ClientsContext, type Incarnation, clientOn, ensureRunning, incarnationOf, isAlive, reportConsumerFailure, unlessDead, valueText } from './clients.js'

/** A crashed consumer's host starts a new session after this long, at most. */
const RESTART_AFTER_MS_MAX = 3_000
/** After a session's consumer stopped with an error, the next one starts this much later. */
const FAILED_RESTART_MS = 500

interface Session {
  readonly name: string
  readonly who: Incarnation
  readonly client: Client
  readonly consumer: Consumer
  closed: boolean
}

export class AssignedConsumerHost {
  private session: Session | undefined
  private sessions = 0
  /** Per partition: the offset after the last record any session of this host was handed. */
  private readonly next: number[]

  constructor(
    private readonly context: ClientsContext,
    readonly host: string,
    private readonly maxWaitMs: number,
  ) {
    this.next = Array.from({ length: context.partitionCount }, () => 0)
  }

  get isRunning(): boolean {
    return this.session !== undefined && !this.session.closed && isAlive(this.context.world, this.session.who)
  }

  /** True if this host's sessions were handed every record below `ends[p]` of each partition, in order. */
  caughtUp(ends: readonly number[]): boolean {
    return ends.every((end, p) => (this.next[p] ?? 0) >= end)
  }

  /** Opens a session from offset 0 (`fromStart`) or from where the last one got to. */
  start(fromStart: boolean): void {
    const world = this.context.world
    if (this.isRunning) return
    ensureRunning(world, this.host)
    this.sessions++
    const name = `${this.host}#${this.sessions}`
    if (fromStart) this.next.fill(0)
    const client = clientOn(this.context, this.host, `consumer-${this.host}-${this.sessions}`)
    const consumer = client.consumer({ resetPolicy: 'earliest', maxWaitMs: this.maxWaitMs })
    const session: Session = { name, who: incarnationOf(world, this.host), client, consumer, closed: false }
    this.session = session
    const partitions = this.next.map((offset, partition) => ({ topic: this.context.topic, partition, offset }))
    this.context.history.add({ type: 'assign', session: name, atMs: world.nowMs(), partitions })
    consumer.assign(partitions)
    this.context.log(`consumer ${name} starts at ${partitions.map((p) => `${p.partition}@${p.offset}`).join(' ')}`)
    void consumer.run({ eachBatch: async ({ batch }) => this.handed(session, batch) }).then(
      () => undefined,
      (error: unknown) => this.failed(session, error),
    )
  }

  /** Churn: a clean restart (a new session, from the start or from where it was), or a crash of the host. */
  churn(random: Prng): string | undefined {
    const session = this.session
    if (session === undefined || !this.isRunning) return undefined
    const world = this.context.world
    if (random.chance(0.5)) {
      session.closed = true
      world.crash(this.host)
      const restartMs = 100 + random.int(RESTART_AFTER_MS_MAX)
      world.scheduler.scheduleAfter(restartMs, `workload:restart:${this.host}`, () => this.start(false))
      return `consumer ${session.name} crashes; a new session starts in ${restartMs}ms`
    }
    const fromStart = random.chance(0.5)
    this.close(session)
    this.start(fromStart)
    return `consumer ${session.name} closes; the next starts ${fromStart ? 'from offset 0' : 'where it was'}`
  }

  private close(session: Session): void {
    session.closed = true
    void session.consumer.close().catch(() => undefined)
    void session.client.close().catch(() => undefined)
  }

  private async handed(session: Session, batch: { partition: number; messages: readonly { offset: number; value: Uint8Array | null }[] }): Promise<void> {
    const world = this.context.world
    await unlessDead(world, session.who)
    if (session.closed) return new Promise(() => undefined)
    const records = batch.messages.map((message) => ({ offset: message.offset, value: valueText(message.value) }))
    this.context.history.add({ type: 'poll', session: session.name, atMs: world.nowMs(), topic: this.context.topic, partition: batch.partition, records })
    const last = records.at(-1)
    if (last !== undefined) this.next[batch.partition] = Math.max(this.next[batch.partition] ?? 0, last.offset + 1)
  }

  private failed(session: Session, error: unknown): void {
    const world = this.context.world
    if (session.closed || !isAlive(world, session.who)) return
    reportConsumerFailure(this.context, `consumer ${session.name}`, error)
    this.close(session)
    world.scheduler.scheduleAfter(FAILED_RESTART_MS, `workload:restart:${this.host}`, () => this.start(false))
  }
}
