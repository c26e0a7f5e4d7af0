import type { Env, Logger } from '../env/index.js'

/** What an actor sees of one message. (It is the envelope itself: no copy on the hot path.) */
export interface Message {
  readonly kind: string
  readonly payload: unknown
  /** Sender actor id, or '' when the sender is not an actor. */
  readonly from: string
}

/**
 * An actor handles one message at a time, in mailbox order. Its return value (or the value
 * its promise resolves to) is the reply to an ask; while a returned promise is pending, the
 * next message waits. Throwing a SkeinError answers the ask with that error and is a normal
 * outcome; throwing anything else is a bug: the ask fails with ACTOR_FAILED, the error is
 * logged and the actor is restarted (a fresh instance from its factory) after a backoff.
 */
export interface Actor {
  receive(message: Message): unknown
  /** Runs before the first message of each instance (after creation or a restart). */
  start?(): void | Promise<void>
  /** Runs when the instance is passivated, restarted after a failure, or the node stops. */
  stop?(): void | Promise<void>
}

/**
 * Returned from `receive`, it answers the ask when `promise` settles while the actor goes on
 * to its next message at once: for work whose order is fixed when it starts (a produce gets
 * its offsets synchronously) but whose completion waits on others (replication, an fsync).
 * Rejecting with a SkeinError answers with that error; anything else answers ACTOR_FAILED and
 * is logged, without restarting the actor, which has moved on.
 */
export class LaterReply {
  constructor(readonly promise: Promise<unknown>) {}
}

export function replyLater(promise: Promise<unknown>): LaterReply {
  return new LaterReply(promise)
}

export interface AskOptions {
  /** How long to wait for the reply before failing with REQUEST_TIMED_OUT. */
  timeoutMs?: number
}

/** The runtime's services, as an actor (or anything else on the node) uses them. */
export interface ActorContext {
  /** This actor's id. */
  readonly self: string
  readonly nodeId: string
  readonly env: Env
  readonly log: Logger
  /** Fire-and-forget. Returns false when the message was refused (a full mailbox or queue). */
  tell(to: string, kind: string, payload: unknown): boolean
  /**
   * Request-reply with a deadline. Do not ask yourself and await it inside `receive`: the
   * reply could only be handled after the current message, so it would always time out.
   */
  ask<T = unknown>(to: string, kind: string, payload: unknown, options?: AskOptions): Promise<T>
}

export type ActorFactory = (context: ActorContext) => Actor

/** How one kind of actor is run. Every field has a default in DEFAULT_ACTOR_KIND_OPTIONS. */
export interface ActorKindOptions {
  /** Messages that may wait in one actor's mailbox; beyond it tells are dropped and asks fail with MAILBOX_FULL. */
  mailboxDepthMax: number
  /** An actor idle (empty mailbox, nothing running) this long is stopped; its next message starts it again. 0 = never. */
  passivateAfterIdleMs: number
  /** First restart delay after a failure; doubles per consecutive failure. */
  restartDelayMsMin: number
  /** Cap on the restart delay, so a persistently failing actor retries at a bounded rate. */
  restartDelayMsMax: number
}

export const DEFAULT_ACTOR_KIND_OPTIONS: Readonly<ActorKindOptions> = {
  // Deep enough to absorb a burst of a few coalesced frames (4096 envelopes each), shallow
  // enough that a stuck actor holds a few MB at most.
  mailboxDepthMax: 10_000,
  // Five minutes: long enough that a steadily used actor never pays a restart, short enough
  // that a node with millions of rarely used actors (groups, idle partitions) sheds them.
  passivateAfterIdleMs: 5 * 60_000,
  restartDelayMsMin: 10,
  restartDelayMsMax: 5_000,
}
