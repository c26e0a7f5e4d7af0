import type { Clock, Logger, TimerHandle } from '../env/index.js'
import { ErrorCode, SkeinError, type Envelope, type WireError, toWireError } from '../wire/index.js'
import { type Actor, type ActorKindOptions, LaterReply } from './actor.js'
import { Mailbox } from './mailbox.js'

/** An envelope as held on this node: its deadline re-based on the local monotonic clock. */
export interface LocalEnvelope extends Envelope {
  /** Local monotonic time after which nobody waits for the reply; 0 = none. */
  deadlineAtMs?: number
}

/** What a cell needs from the system that hosts it. */
export interface CellHost {
  readonly clock: Clock
  readonly log: Logger
  reply(request: LocalEnvelope, value: unknown): void
  replyError(request: LocalEnvelope, error: WireError): void
  readonly counters: CellCounters
}

export interface CellCounters {
  processed: number
  /** Instances replaced after a handler bug (each failure restarts the actor). */
  restarts: number
  expiredAsksSkipped: number
}

/**
 * Messages one cell handles synchronously before yielding to I/O, so a busy actor cannot
 * starve the node's links and timers. Equal to the transport's coalescing batch: a slice
 * smaller than what one inbound frame can bring lets a fast sender outrun the drain.
 */
const DRAIN_BATCH_MAX = 4096

type CellState = 'starting' | 'idle' | 'scheduled' | 'running' | 'backoff' | 'stopped'

/**
 * One actor's home on this node: its mailbox, its current instance and its supervision.
 * Exactly one message is in `receive` at a time; a failing instance is replaced after a
 * capped exponential backoff while its mailbox keeps (boundedly) filling.
 */
export class ActorCell {
  private readonly mailbox: Mailbox<LocalEnvelope>
  private instance: Actor | undefined
  private state: CellState = 'starting'
  private consecutiveFailures = 0
  private restartTimer: TimerHandle | undefined
  /** Local monotonic time of the last message handled (or of creation). */
  lastActiveMs: number

  constructor(
    readonly id: string,
    private readonly options: ActorKindOptions,
    private readonly host: CellHost,
    private readonly createInstance: () => Actor,
  ) {
    this.mailbox = new Mailbox(options.mailboxDepthMax)
    this.lastActiveMs = host.clock.nowMs()
    this.startInstance()
  }

  get mailboxDepth(): number {
    return this.mailbox.depth
  }

  /** True when the cell could be stopped without losing or interrupting anything. */
  isIdle(): boolean {
    return this.state === 'idle' && this.mailbox.depth === 0
  }

  /** Queues a message; false when the mailbox is full or the cell stopped. */
  enqueue(envelope: LocalEnvelope): boolean {
    if (this.state === 'stopped' || !this.mailbox.push(envelope)) return false
    if (this.state === 'idle') {
      this.state = 'scheduled'
      queueMicrotask(() => this.drain())
    }
    return true
  }

  /** Stops the cell: waiting asks fail with `reason`, and the instance's stop hook runs. */
  async stop(reason: SkeinError): Promise<void> {
    if (this.state === 'stopped') return
    this.state = 'stopped'
    this.restartTimer?.cancel()
    for (const waiting of this.mailbox.drainAll()) this.host.replyError(waiting, toWireError(reason))
    const instance = this.instance
    this.instance = undefined
    await this.runStopHook(instance)
  }

  private startInstance(): void {
    let started: void | Promise<void>
    try {
      this.instance = this.createInstance()
      started = this.instance.start?.()
    } catch (err) {
      this.fail(undefined, err)
      return
    }
    if (started instanceof Promise) {
      this.state = 'starting'
      started.then(
        () => this.resumeAfterStart(),
        (err: unknown) => this.fail(undefined, err),
      )
    } else {
      this.resumeAfterStart()
    }
  }

  private resumeAfterStart(): void {
    if (this.state === 'stopped') return
    this.state = 'scheduled'
    this.drain()
  }

  private drain(): void {
    if (this.state !== 'scheduled') return
    const instance = this.instance
    if (instance === undefined) throw new Error(`invariant: cell ${this.id} scheduled without an instance`)
    for (let handled = 0; handled < DRAIN_BATCH_MAX; handled++) {
      const envelope = this.mailbox.shift()
      if (envelope === undefined) {
        this.state = 'idle'
        return
      }
      if (this.isExpiredAsk(envelope)) continue
      this.lastActiveMs = this.host.clock.nowMs()
      let result: unknown
      try {
        result = instance.receive(envelope)
      } catch (err) {
        if (this.answerWithError(envelope, err)) continue
        this.fail(envelope, err)
        return
      }
      if (result instanceof Promise) {
        this.awaitResult(envelope, result)
        return
      }
      if (result instanceof LaterReply) {
        this.replyWhenSettled(envelope, result.promise)
        continue
      }
      this.onHandled(envelope, result)
    }
    this.host.clock.defer(() => this.drain())
  }

  private awaitResult(envelope: LocalEnvelope, result: Promise<unknown>): void {
    this.state = 'running'
    result.then(
      (value) => {
        if (this.state !== 'running') return
        this.onHandled(envelope, value)
        this.state = 'scheduled'
        this.drain()
      },
      (err: unknown) => {
        if (this.state !== 'running') return
        if (!this.answerWithError(envelope, err)) return this.fail(envelope, err)
        this.state = 'scheduled'
        this.drain()
      },
    )
  }

  private replyWhenSettled(envelope: LocalEnvelope, promise: Promise<unknown>): void {
    this.consecutiveFailures = 0
    this.host.counters.processed++
    promise.then(
      (value) => {
        if (envelope.corr > 0) this.host.reply(envelope, value)
      },
      (err: unknown) => {
        if (err instanceof SkeinError) {
          if (envelope.corr > 0) this.host.replyError(envelope, toWireError(err))
          return
        }
        const message = err instanceof Error ? err.message : String(err)
        this.host.log.error({ actor: this.id, kind: envelope.kind, err }, 'deferred reply failed')
        if (envelope.corr > 0) this.host.replyError(envelope, { code: ErrorCode.ACTOR_FAILED.code, message: `actor ${this.id} failed: ${message}` })
      },
    )
  }

  private onHandled(envelope: LocalEnvelope, value: unknown): void {
    this.consecutiveFailures = 0
    this.host.counters.processed++
    if (envelope.corr > 0) this.host.reply(envelope, value)
  }

  private isExpiredAsk(envelope: LocalEnvelope): boolean {
    const deadline = envelope.deadlineAtMs ?? 0
    if (envelope.corr === 0 || deadline === 0 || this.host.clock.nowMs() <= deadline) return false
    this.host.counters.expiredAsksSkipped++
    return true
  }

  /** A SkeinError is an answer (true); anything else is a bug that costs the instance its life (false). */
  private answerWithError(envelope: LocalEnvelope, err: unknown): boolean {
    if (!(err instanceof SkeinError)) return false
    this.consecutiveFailures = 0
    this.host.counters.processed++
    if (envelope.corr > 0) this.host.replyError(envelope, toWireError(err))
    return true
  }

  private fail(envelope: LocalEnvelope | undefined, err: unknown): void {
    if (this.state === 'stopped') return
    this.host.counters.restarts++
    this.consecutiveFailures++
    const delayMs = Math.min(
      this.options.restartDelayMsMax,
      this.options.restartDelayMsMin * 2 ** Math.min(30, this.consecutiveFailures - 1),
    )
    this.host.log.error(
      { actor: this.id, kind: envelope?.kind, err, consecutiveFailures: this.consecutiveFailures, restartInMs: delayMs },
      'actor failed; restarting after backoff',
    )
    if (envelope !== undefined && envelope.corr > 0) {
      const message = err instanceof Error ? err.message : String(err)
      this.host.replyError(envelope, { code: ErrorCode.ACTOR_FAILED.code, message: `actor ${this.id} failed: ${message}` })
    }
    const failed = this.instance
    this.instance = undefined
    this.state = 'backoff'
    void this.runStopHook(failed)
    this.restartTimer = this.host.clock.setTimer(delayMs, () => {
      this.restartTimer = undefined
      if (this.state === 'backoff') this.startInstance()
    })
  }

  private async runStopHook(instance: Actor | undefined): Promise<void> {
    try {
      await instance?.stop?.()
    } catch (err) {
      this.host.log.warn({ actor: this.id, err }, 'actor stop hook threw')
    }
  }
}
