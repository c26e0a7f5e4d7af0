import { strict as assert } from 'node:assert'
import type { Clock, TimerHandle } from '../src/env/clock.js'
import type { EventHandle, Scheduler } from './scheduler.js'

/**
 * Wall-clock time at virtual time 0: 2023-11-14T22:13:20Z. Fixed, so record timestamps are
 * the same in every run of a seed, and recent, so nothing mistakes it for "unset".
 */
export const WALL_EPOCH_BASE_MS = 1_700_000_000_000

/**
 * Bounds on a clock's rate relative to virtual time. Real oscillators drift by parts per
 * million; the simulator may exaggerate that a lot, but a clock running at half or double
 * speed is already far past anything a protocol must survive.
 */
export const CLOCK_RATE_MIN = 0.5
export const CLOCK_RATE_MAX = 2

const noopHandle: TimerHandle = { cancel() {} }

export interface SimClockOptions {
  /** Labels this clock's events in the trace. */
  nodeId: string
  /** Monotonic time this clock reads at the current virtual time (a process's own origin). */
  monotonicStartMs: number
  /** Initial wall-clock skew (ms added to the true wall time). */
  wallSkewMs?: number
}

/**
 * One node's clock over the shared scheduler.
 *
 * `nowMs` = the node's own monotonic origin + elapsed virtual time × rate (rate 1 unless a
 * fault changes it), so code that compares monotonic readings across nodes breaks here as
 * it would in production. `wallMs` = WALL_EPOCH_BASE_MS + virtual time + skew; skew can be
 * set or jumped (the fault injector's NTP step).
 *
 * `kill()` is the process dying: every pending timer is cancelled and new ones are ignored.
 */
export class SimClock implements Clock {
  readonly nodeId: string
  private readonly scheduler: Scheduler
  private readonly pending = new Set<EventHandle>()
  private killed = false
  private wallSkewMsValue: number
  private rate = 1
  /** The rate applies from this (virtual time, monotonic reading) pair on. */
  private rateOriginVirtualMs: number
  private rateOriginLocalMs: number

  constructor(scheduler: Scheduler, options: SimClockOptions) {
    assert.ok(Number.isFinite(options.monotonicStartMs) && options.monotonicStartMs >= 0, 'monotonicStartMs must be finite and >= 0')
    this.scheduler = scheduler
    this.nodeId = options.nodeId
    this.wallSkewMsValue = options.wallSkewMs ?? 0
    this.rateOriginVirtualMs = scheduler.nowMs()
    this.rateOriginLocalMs = options.monotonicStartMs
  }

  nowMs(): number {
    return this.rateOriginLocalMs + (this.scheduler.nowMs() - this.rateOriginVirtualMs) * this.rate
  }

  wallMs(): number {
    return WALL_EPOCH_BASE_MS + this.scheduler.nowMs() + this.wallSkewMsValue
  }

  setTimer(delayMs: number, fn: () => void): TimerHandle {
    if (!(delayMs >= 0 && Number.isFinite(delayMs))) throw new RangeError(`delayMs must be a finite number >= 0, got ${delayMs}`)
    return this.scheduleOwned(delayMs / this.rate, `${this.nodeId}:timer`, fn)
  }

  defer(fn: () => void): void {
    // At the current time but behind every event already queued for it: the I/O that is due
    // now gets its turn first, as with setImmediate.
    this.scheduleOwned(0, `${this.nodeId}:defer`, fn)
  }

  /** The process died: cancel every pending timer and ignore new ones, forever. */
  kill(): void {
    this.killed = true
    for (const handle of this.pending) handle.cancel()
    this.pending.clear()
  }

  get isKilled(): boolean {
    return this.killed
  }

  /** Timers and defers not yet fired or cancelled. */
  get pendingTimerCount(): number {
    return this.pending.size
  }

  get wallSkewMs(): number {
    return this.wallSkewMsValue
  }

  /** Sets the wall clock's offset from true time (may be negative). */
  setWallSkewMs(skewMs: number): void {
    assert.ok(Number.isFinite(skewMs), `skewMs must be finite, got ${skewMs}`)
    this.wallSkewMsValue = skewMs
  }

  /** Steps the wall clock by `deltaMs` (negative goes backwards), as an NTP step or an operator would. */
  jumpWallMs(deltaMs: number): void {
    this.setWallSkewMs(this.wallSkewMsValue + deltaMs)
  }

  /**
   * Makes the monotonic clock (and so every timer set from now on) run at `rate` × real
   * speed. Continuous: nowMs() does not jump when the rate changes.
   */
  setRate(rate: number): void {
    assert.ok(rate >= CLOCK_RATE_MIN && rate <= CLOCK_RATE_MAX, `rate must be in [${CLOCK_RATE_MIN}, ${CLOCK_RATE_MAX}], got ${rate}`)
    this.rateOriginLocalMs = this.nowMs()
    this.rateOriginVirtualMs = this.scheduler.nowMs()
    this.rate = rate
  }

  private scheduleOwned(delayMs: number, label: string, fn: () => void): TimerHandle {
    if (this.killed) return noopHandle
    // Owned by the node: a paused process's timers wait for it (World.pause).
    const handle = this.scheduler.scheduleAfter(
      delayMs,
      label,
      () => {
        this.pending.delete(handle)
        fn()
      },
      this.nodeId,
    )
    this.pending.add(handle)
    return {
      cancel: () => {
        if (!this.pending.delete(handle)) return
        handle.cancel()
      },
    }
  }
}
