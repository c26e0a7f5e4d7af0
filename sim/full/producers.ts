/**
 * The producers of the full-system run: each on a host of its own, each an SDK producer drawn
 * per seed as idempotent (acks=all), plain acks=all, or acks=1, with one to three sends in
 * flight. Every send is 1 to 3 unique values to one partition, recorded in the history as
 * invoked, then completed ok (with offsets), failed or unknown. Churn crashes a producer's
 * host (its sends in flight stay unknown for good) and starts a new producer there later.
 */
import type { Producer } from '../../src/client/index.js'
import type { Prng } from '../prng.js'
import { type ClientsContext, type Incarnation, clientOn, ensureRunning, incarnationOf, isAlive, outcomeOf, reportUnexpected, sleep } from './clients.js'
import { type Acks, Outcome, type ProduceOp } from './history.js'

export interface ProducerKind {
  readonly idempotent: boolean
  readonly acks: Acks
  /** Sends in flight at once (1 to 3). */
  readonly concurrency: number
  /** Each worker pauses up to this long between sends. */
  readonly pauseMsMax: number
}

/** A crashed producer's host starts a new producer after this long, at most. */
const RESTART_AFTER_MS_MAX = 3_000

/** Draws a producer's kind: idempotent, plain acks=all and acks=1 about equally often. */
export function drawProducerKind(random: Prng): ProducerKind {
  const roll = random.int(3)
  return {
    idempotent: roll === 0,
    acks: roll === 2 ? 1 : 'all',
    concurrency: 1 + random.int(3),
    pauseMsMax: 10 + random.int(150),
  }
}

interface Running {
  readonly name: string
  readonly who: Incarnation
  readonly producer: Producer
  readonly done: Promise<void>[]
}

export class ProducerHost {
  private running: Running | undefined
  private starts = 0
  private sequence = 0
  private producing = true
  private readonly draws: Prng

  constructor(
    private readonly context: ClientsContext,
    readonly host: string,
    readonly kind: ProducerKind,
    random: Prng,
  ) {
    this.draws = random
  }

  get isRunning(): boolean {
    return this.running !== undefined && isAlive(this.context.world, this.running.who)
  }

  start(): void {
    const world = this.context.world
    if (!this.producing || this.isRunning) return
    ensureRunning(world, this.host)
    this.starts++
    const name = `${this.host}#${this.starts}`
    const who = incarnationOf(world, this.host)
    const client = clientOn(this.context, this.host, `producer-${this.host}-${this.starts}`)
    const producer = client.producer({ idempotent: this.kind.idempotent, acks: this.kind.acks, maxInFlightRequests: this.kind.idempotent ? 5 : 3 })
    const done = Array.from({ length: this.kind.concurrency }, (_, worker) => this.loop(name, who, producer, this.draws.fork(`${name}/w${worker}`)))
    this.running = { name, who, producer, done }
    this.context.log(`producer ${name} starts (${this.kind.idempotent ? 'idempotent' : 'not idempotent'}, acks=${this.kind.acks}, ${this.kind.concurrency} in flight)`)
  }

  /** Churn: the host crashes; a new producer starts there a while later. */
  crash(random: Prng): string | undefined {
    const running = this.running
    if (running === undefined || !isAlive(this.context.world, running.who)) return undefined
    const world = this.context.world
    world.crash(this.host)
    this.running = undefined
    const restartMs = 100 + random.int(RESTART_AFTER_MS_MAX)
    world.scheduler.scheduleAfter(restartMs, `workload:restart:${this.host}`, () => this.start())
    return `producer ${running.name} crashes; restarts in ${restartMs}ms`
  }

  /** Stops sending; resolves once every send in flight completed (or its host died). */
  stop(): Promise<void> {
    this.producing = false
    return Promise.all(this.running?.done ?? []).then(() => undefined)
  }

  private async loop(name: string, who: Incarnation, producer: Producer, random: Prng): Promise<void> {
    const { world, history, topic, partitionCount } = this.context
    while (this.producing && isAlive(world, who)) {
      const partition = random.int(partitionCount)
      const values = Array.from({ length: 1 + random.int(3) }, (_, i) => `${world.seed}-${this.host}-${this.sequence}-${i}`)
      this.sequence++
      const op: ProduceOp = history.add({
        type: 'produce',
        client: name,
        idempotent: this.kind.idempotent,
        acks: this.kind.acks,
        topic,
        partition,
        values,
        invokedAtMs: world.nowMs(),
        completedAtMs: undefined,
        outcome: undefined,
        offsets: undefined,
        error: undefined,
      })
      try {
        // An explicit whole-ms timestamp: the simulated wall clock reads fractions of a ms,
        // which the producer's default (the clock's wallMs as is) refuses.
        const timestamp = Math.floor(world.process(this.host).clock.wallMs())
        const written = await producer.send({ topic, messages: values.map((value) => ({ value, partition, timestamp })) })
        if (!isAlive(world, who)) return
        history.complete(op, world.nowMs(), Outcome.ok, { offsets: written.map((record) => record.offset) })
      } catch (error) {
        if (!isAlive(world, who)) return
        history.complete(op, world.nowMs(), outcomeOf(error), { error: error instanceof Error ? error.message : String(error) })
        reportUnexpected(this.context, `${name}'s send to ${topic}/${partition}`, error)
      }
      await sleep(world, this.host, random.int(this.kind.pauseMsMax))
    }
  }
}
