import { type Random, type TimerHandle, jittered } from '../env/index.js'
import type { TransportLimits } from './config.js'
import type { Connection } from './connection.js'
import { OutboundQueue } from './outbound-queue.js'

/**
 * Share of each backoff delay that is random ("equal jitter"): peers that lost each other at
 * the same moment do not redial in lockstep, and no delay falls below half its base.
 */
const RECONNECT_JITTER_RATIO = 0.5

/** Backoff doubling stops here; 2^20 times any sane minimum is far past any sane maximum. */
const RECONNECT_ATTEMPTS_COUNTED_MAX = 20

/**
 * Everything the transport knows about one other node. The outbound queue lives here, not on
 * a link, so replacing or losing a link never loses what has not been written yet.
 */
export class Peer {
  readonly queue: OutboundQueue
  /** The one authenticated link envelopes are written to. */
  active: Connection | undefined
  /** Links with this peer still in their handshake, in either direction. */
  readonly handshaking = new Set<Connection>()
  /** Something was sent to this peer: keep redialing it while the address book knows it. */
  wanted = false
  reconnectAttempts = 0
  reconnectTimer: TimerHandle | undefined
  /** Already on the transport's list of peers to flush in the next microtask. */
  flushQueued = false
  private writableWaiters: (() => void)[] = []

  constructor(
    readonly nodeId: string,
    outboundQueueDepthMax: number,
  ) {
    this.queue = new OutboundQueue(outboundQueueDepthMax)
  }

  /** Below half the limit: a producer that waited has room for a good run of sends again. */
  isWritable(): boolean {
    return this.queue.length < this.queue.depthMax / 2
  }

  waitWritable(): Promise<void> {
    if (this.isWritable()) return Promise.resolve()
    return new Promise((resolve) => this.writableWaiters.push(resolve))
  }

  /** Wakes every waiter once the queue is below half its limit. */
  notifyWritable(): void {
    if (this.writableWaiters.length === 0 || !this.isWritable()) return
    const waiters = this.writableWaiters
    this.writableWaiters = []
    for (const resolve of waiters) resolve()
  }

  /** Capped exponential backoff with equal jitter; each call counts one more failed attempt. */
  nextReconnectDelayMs(random: Random, limits: TransportLimits): number {
    const exponent = Math.min(this.reconnectAttempts, RECONNECT_ATTEMPTS_COUNTED_MAX)
    const baseMs = Math.min(limits.reconnectDelayMsMax, limits.reconnectDelayMsMin * 2 ** exponent)
    this.reconnectAttempts++
    return jittered(random, baseMs, RECONNECT_JITTER_RATIO)
  }

  cancelReconnect(): void {
    this.reconnectTimer?.cancel()
    this.reconnectTimer = undefined
  }
}
