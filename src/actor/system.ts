import type { Env, Logger, TimerHandle } from '../env/index.js'
import { ErrorCode, type ErrorSpec, ReplyKind, SkeinError, type Envelope, type WireError, toWireError } from '../wire/index.js'
import {
  type ActorContext,
  type ActorFactory,
  type ActorKindOptions,
  type AskOptions,
  DEFAULT_ACTOR_KIND_OPTIONS,
} from './actor.js'
import { ActorCell, type CellCounters, type CellHost, type LocalEnvelope } from './cell.js'
import type { Directory } from './directory.js'
import { actorKindOf } from './ids.js'

/** The transport as the actor runtime needs it (src/transport's Transport satisfies it). */
export interface EnvelopeSender {
  send(toNodeId: string, envelope: Envelope): 'queued' | 'overloaded'
  whenWritable(toNodeId: string): Promise<void>
}

export interface ActorSystemLimits {
  /** Deadline of an ask that names none. */
  askTimeoutMsDefault: number
  /** Longest deadline an ask may name; longer requests are clamped. */
  askTimeoutMsMax: number
  /** Asks this node may have waiting for replies; beyond it new asks fail with OVERLOADED. */
  pendingAsksMax: number
  /** Times one message may be forwarded between nodes that disagree about placement. */
  forwardHopsMax: number
  /** How often idle actors are looked for and passivated. */
  passivationSweepIntervalMs: number
}

export const DEFAULT_ACTOR_SYSTEM_LIMITS: Readonly<ActorSystemLimits> = {
  askTimeoutMsDefault: 5_000,
  askTimeoutMsMax: 5 * 60_000,
  // Each waiting ask holds a timer and two closures (~200 B): 100k is ~20 MB at worst.
  pendingAsksMax: 100_000,
  // Directories converge within a gossip round or two; more than a few hops means they
  // have not yet, and the sender should back off and retry rather than loop.
  forwardHopsMax: 3,
  passivationSweepIntervalMs: 1_000,
}

export interface ActorSystemConfig {
  nodeId: string
  directory: Directory
  limits?: Partial<ActorSystemLimits>
}

export interface ActorSystemStats extends CellCounters {
  actorsHosted: number
  asksPending: number
  asksTimedOut: number
  /** Asks failed early because the link to the node their request went to closed or could not be dialed. */
  asksFailedPeerDown: number
  forwarded: number
  dropped: number
  passivated: number
}

interface PendingAsk {
  resolve(value: unknown): void
  reject(error: SkeinError): void
  timer: TimerHandle
  /**
   * The peer the request was last handed to (undefined while it is local): when that link
   * dies or cannot be dialed, the reply cannot come, so the ask fails then, not at its deadline.
   */
  sentToNodeId: string | undefined
  /** The request as handed to the transport: marked abandoned when the ask fails, so a copy still queued is not sent. */
  envelope: LocalEnvelope | undefined
}

interface KindSpec {
  factory: ActorFactory
  options: ActorKindOptions
}

/**
 * The actor runtime of one node: hosts the actors the directory places here, routes every
 * other message to the node that should host its actor (forwarding, with a hop limit, when
 * the sender's directory was stale), and matches replies to asks by correlation id.
 */
export class ActorSystem {
  readonly nodeId: string
  private readonly log: Logger
  private readonly limits: ActorSystemLimits
  private readonly kinds = new Map<string, KindSpec>()
  private readonly cells = new Map<string, ActorCell>()
  private readonly pending = new Map<number, PendingAsk>()
  private sender: EnvelopeSender | undefined
  private nextCorr: number
  private sweepTimer: TimerHandle | undefined
  private stopping = false
  private readonly cellHost: CellHost
  private readonly counters = { processed: 0, restarts: 0, expiredAsksSkipped: 0, asksTimedOut: 0, asksFailedPeerDown: 0, forwarded: 0, dropped: 0, passivated: 0 }

  constructor(
    private readonly env: Env,
    private readonly config: ActorSystemConfig,
  ) {
    this.nodeId = config.nodeId
    this.log = env.log.child({ component: 'actors' })
    this.limits = { ...DEFAULT_ACTOR_SYSTEM_LIMITS, ...config.limits }
    // A random start keeps a restarted node from matching replies meant for its predecessor.
    this.nextCorr = 1 + env.random.int(2 ** 40)
    this.cellHost = {
      clock: env.clock,
      log: this.log,
      counters: this.counters,
      reply: (request, value) => this.reply(request, ReplyKind.ok, value),
      replyError: (request, error) => this.reply(request, ReplyKind.error, error),
    }
  }

  /** Connects the runtime to the transport; until then every actor must be local. */
  attachSender(sender: EnvelopeSender): void {
    this.sender = sender
  }

  registerKind(kind: string, factory: ActorFactory, options: Partial<ActorKindOptions> = {}): void {
    if (kind.length === 0 || kind.includes('/')) throw new RangeError(`actor kind '${kind}' must be non-empty without '/'`)
    if (this.kinds.has(kind)) throw new Error(`actor kind '${kind}' is already registered`)
    this.kinds.set(kind, { factory, options: { ...DEFAULT_ACTOR_KIND_OPTIONS, ...options } })
  }

  /** Fire-and-forget to any actor in the cluster. False when refused here (full, overloaded, stopping). */
  tell(to: string, kind: string, payload: unknown, from = ''): boolean {
    if (this.stopping) return false
    const envelope: LocalEnvelope = { from, origin: this.nodeId, to, kind, corr: 0, ttlMs: 0, hops: 0, payload }
    return this.route(envelope)
  }

  /** Request-reply to any actor in the cluster, failing with REQUEST_TIMED_OUT after the deadline. */
  ask<T = unknown>(to: string, kind: string, payload: unknown, options: AskOptions = {}, from = ''): Promise<T> {
    if (this.stopping) return Promise.reject(new SkeinError(ErrorCode.SHUTTING_DOWN))
    if (this.pending.size >= this.limits.pendingAsksMax) {
      return Promise.reject(new SkeinError(ErrorCode.OVERLOADED, `${this.pending.size} asks already waiting on ${this.nodeId}`))
    }
    const timeoutMs = Math.min(this.limits.askTimeoutMsMax, Math.max(1, options.timeoutMs ?? this.limits.askTimeoutMsDefault))
    const corr = this.nextCorr++
    return new Promise<T>((resolve, reject) => {
      const timer = this.env.clock.setTimer(timeoutMs, () => {
        const ask = this.pending.get(corr)
        if (ask === undefined) return
        this.pending.delete(corr)
        if (ask.envelope !== undefined) ask.envelope.abandoned = true
        this.counters.asksTimedOut++
        reject(new SkeinError(ErrorCode.REQUEST_TIMED_OUT, `ask '${kind}' to ${to} got no reply within ${timeoutMs} ms`))
      })
      this.pending.set(corr, { resolve: resolve as (value: unknown) => void, reject, timer, sentToNodeId: undefined, envelope: undefined })
      const deadlineAtMs = this.env.clock.nowMs() + timeoutMs
      this.route({ from, origin: this.nodeId, to, kind, corr, ttlMs: timeoutMs, hops: 0, payload, deadlineAtMs })
    })
  }

  /** Resolves when a message to `actorId` would be accepted on the first hop. */
  async whenWritable(actorId: string): Promise<void> {
    const nodeId = this.config.directory.nodeFor(actorId)
    if (nodeId !== this.nodeId) return this.sender?.whenWritable(nodeId)
    const kind = this.kinds.get(actorKindOf(actorId))
    const depthMax = kind?.options.mailboxDepthMax ?? 1
    while ((this.cells.get(actorId)?.mailboxDepth ?? 0) > depthMax / 2) {
      await new Promise<void>((resolve) => this.env.clock.defer(resolve))
    }
  }

  /** Inbound envelopes from a peer, in the order it sent them (the transport's onEnvelopes). */
  receiveFromPeer(fromNodeId: string, envelopes: readonly Envelope[]): void {
    const nowMs = this.env.clock.nowMs()
    for (const envelope of envelopes as LocalEnvelope[]) {
      if (envelope.kind.charCodeAt(0) === 36 /* '$' */) {
        this.settle(envelope, fromNodeId)
        continue
      }
      if (this.stopping) {
        this.refuse(envelope, new SkeinError(ErrorCode.SHUTTING_DOWN))
        continue
      }
      envelope.deadlineAtMs = envelope.ttlMs > 0 ? nowMs + envelope.ttlMs : 0
      this.route(envelope)
    }
  }

  /** Envelopes the transport could not send (its onUndeliverable): their asks fail now. */
  undeliverable(toNodeId: string, envelopes: readonly Envelope[], error: SkeinError): void {
    for (const envelope of envelopes) {
      if (envelope.kind.charCodeAt(0) === 36 /* '$' */) continue // a lost reply: its ask times out
      this.refuse(envelope, error)
    }
    this.log.debug({ toNodeId, count: envelopes.length, code: error.errorName }, 'envelopes undeliverable')
  }

  /**
   * The transport's onPeerDown: the link to `nodeId` closed. Asks whose request went there
   * fail now with NETWORK_EXCEPTION (retriable): their request, or its reply, was on that link
   * and delivery is at most once. As after a timeout, the request may have run there (or run
   * later: if it was still queued, it goes out on the next link, and its reply is ignored).
   */
  peerDown(nodeId: string): void {
    this.failAsksSentTo(nodeId, ErrorCode.NETWORK_EXCEPTION, `the link to ${nodeId} closed before the reply arrived`)
  }

  /**
   * The transport's onPeerUnreachable: a dial to `nodeId` failed. Asks waiting on it fail now
   * with NODE_UNREACHABLE (retriable) instead of waiting out their deadlines.
   */
  peerUnreachable(nodeId: string): void {
    this.failAsksSentTo(nodeId, ErrorCode.NODE_UNREACHABLE, `node ${nodeId} cannot be reached`)
  }

  stats(): ActorSystemStats {
    return {
      ...this.counters,
      actorsHosted: this.cells.size,
      asksPending: this.pending.size,
    }
  }

  /** Ids of the actors currently running on this node, sorted. */
  localActorIds(): string[] {
    return [...this.cells.keys()].sort()
  }

  /** Fails waiting asks with SHUTTING_DOWN and stops every local actor. */
  async stop(): Promise<void> {
    if (this.stopping) return
    this.stopping = true
    this.sweepTimer?.cancel()
    const shuttingDown = new SkeinError(ErrorCode.SHUTTING_DOWN, `node ${this.nodeId} is shutting down`)
    for (const [corr, ask] of this.pending) {
      this.pending.delete(corr)
      ask.timer.cancel()
      ask.reject(shuttingDown)
    }
    const cells = [...this.cells.values()]
    this.cells.clear()
    await Promise.all(cells.map((cell) => cell.stop(shuttingDown)))
  }

  /** Delivers locally or sends towards the hosting node. False when refused on this hop. */
  private route(envelope: LocalEnvelope): boolean {
    const target = this.config.directory.nodeFor(envelope.to)
    if (target === this.nodeId) return this.deliverLocal(envelope)
    if (envelope.origin !== this.nodeId || envelope.hops > 0) {
      if (envelope.hops >= this.limits.forwardHopsMax) {
        return this.refuse(envelope, new SkeinError(ErrorCode.FORWARD_LIMIT_EXCEEDED, `${envelope.to} forwarded ${envelope.hops} times`))
      }
      envelope.hops++
      this.counters.forwarded++
    }
    return this.sendRemote(target, envelope)
  }

  private sendRemote(target: string, envelope: LocalEnvelope): boolean {
    if (this.sender === undefined) {
      return this.refuse(envelope, new SkeinError(ErrorCode.NODE_UNREACHABLE, `no transport to reach ${target}`))
    }
    const deadline = envelope.deadlineAtMs ?? 0
    if (deadline > 0) envelope.ttlMs = Math.max(1, deadline - this.env.clock.nowMs())
    if (envelope.corr > 0 && envelope.origin === this.nodeId) {
      const ask = this.pending.get(envelope.corr)
      if (ask !== undefined) {
        ask.sentToNodeId = target
        ask.envelope = envelope
      }
    }
    if (this.sender.send(target, envelope) === 'queued') return true
    return this.refuse(envelope, new SkeinError(ErrorCode.OVERLOADED, `queue to ${target} is full`))
  }

  /**
   * A scan of every waiting ask: peers go down rarely (a dial fails at most once per
   * reconnect backoff), so a per-peer index would cost more on every ask than it saves here.
   * Settled asks are no longer in `pending`, so a reply that beat the close is never undone.
   */
  private failAsksSentTo(nodeId: string, spec: ErrorSpec, message: string): void {
    let failed = 0
    for (const [corr, ask] of this.pending) {
      if (ask.sentToNodeId !== nodeId) continue
      this.pending.delete(corr)
      ask.timer.cancel()
      if (ask.envelope !== undefined) ask.envelope.abandoned = true
      ask.reject(new SkeinError(spec, message))
      failed++
    }
    this.counters.asksFailedPeerDown += failed
    if (failed > 0) this.log.debug({ peer: nodeId, count: failed, code: spec.name }, 'asks failed: peer down')
  }

  private deliverLocal(envelope: LocalEnvelope): boolean {
    const cell = this.cells.get(envelope.to) ?? this.createCell(envelope.to)
    if (cell === undefined) {
      return this.refuse(envelope, new SkeinError(ErrorCode.ACTOR_NOT_FOUND, `no actor kind '${actorKindOf(envelope.to)}' on ${this.nodeId}`))
    }
    if (cell.enqueue(envelope)) return true
    return this.refuse(envelope, new SkeinError(ErrorCode.MAILBOX_FULL, `mailbox of ${envelope.to} is full (${cell.mailboxDepth})`))
  }

  private createCell(actorId: string): ActorCell | undefined {
    const spec = this.kinds.get(actorKindOf(actorId))
    if (spec === undefined) return undefined
    const context = this.contextFor(actorId)
    const cell = new ActorCell(actorId, spec.options, this.cellHost, () => spec.factory(context))
    this.cells.set(actorId, cell)
    if (spec.options.passivateAfterIdleMs > 0) this.ensureSweep()
    return cell
  }

  private contextFor(actorId: string): ActorContext {
    return {
      self: actorId,
      nodeId: this.nodeId,
      env: this.env,
      log: this.env.log.child({ actor: actorId }),
      tell: (to, kind, payload) => this.tell(to, kind, payload, actorId),
      ask: (to, kind, payload, options) => this.ask(to, kind, payload, options, actorId),
    }
  }

  /** Answers an ask with `error`, or counts a dropped tell. Always returns false (refused). */
  private refuse(envelope: LocalEnvelope, error: SkeinError): false {
    if (envelope.corr > 0) {
      this.reply(envelope, ReplyKind.error, toWireError(error))
    } else {
      this.counters.dropped++
      // Tells are fire-and-forget; log the first drop and then one in 10k, not every one.
      if (this.counters.dropped % 10_000 === 1) {
        this.log.warn({ to: envelope.to, kind: envelope.kind, code: error.errorName, droppedTotal: this.counters.dropped }, 'tell dropped')
      }
    }
    return false
  }

  private reply(request: LocalEnvelope, kind: string, payload: unknown): void {
    if (request.origin === this.nodeId) {
      this.settleLocal(request.corr, kind, payload)
      return
    }
    const reply: Envelope = { from: request.to, origin: this.nodeId, to: request.from, kind, corr: request.corr, ttlMs: 0, hops: 0, payload }
    // A reply that cannot be queued is lost; its ask times out at the origin.
    this.sender?.send(request.origin, reply)
  }

  private settle(reply: Envelope, fromNodeId: string): void {
    if (reply.kind !== ReplyKind.ok && reply.kind !== ReplyKind.error) {
      this.log.warn({ fromNodeId, kind: reply.kind }, 'unknown reserved message kind; dropped')
      return
    }
    this.settleLocal(reply.corr, reply.kind, reply.payload)
  }

  private settleLocal(corr: number, kind: string, payload: unknown): void {
    const ask = this.pending.get(corr)
    if (ask === undefined) return // timed out already, or a duplicate
    this.pending.delete(corr)
    ask.timer.cancel()
    if (kind === ReplyKind.ok) {
      ask.resolve(payload)
      return
    }
    const error = payload as Partial<WireError> | undefined
    const code = typeof error?.code === 'number' ? error.code : ErrorCode.UNKNOWN_SERVER_ERROR.code
    ask.reject(SkeinError.fromWire(code, typeof error?.message === 'string' ? error.message : 'malformed error reply', error?.leader))
  }

  private ensureSweep(): void {
    if (this.sweepTimer !== undefined || this.stopping) return
    this.sweepTimer = this.env.clock.setTimer(this.limits.passivationSweepIntervalMs, () => {
      this.sweepTimer = undefined
      this.passivateIdle()
      if (this.cells.size > 0) this.ensureSweep()
    })
  }

  private passivateIdle(): void {
    const nowMs = this.env.clock.nowMs()
    for (const [id, cell] of this.cells) {
      const idleAfterMs = this.kinds.get(actorKindOf(id))?.options.passivateAfterIdleMs ?? 0
      if (idleAfterMs === 0 || !cell.isIdle() || nowMs - cell.lastActiveMs < idleAfterMs) continue
      this.cells.delete(id)
      this.counters.passivated++
      void cell.stop(new SkeinError(ErrorCode.SHUTTING_DOWN, `${id} passivated`))
    }
  }
}
