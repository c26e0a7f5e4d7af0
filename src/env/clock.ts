/** A scheduled callback that can be cancelled before it fires. Cancelling twice is harmless. */
export interface TimerHandle {
  cancel(): void
}

/**
 * Time, as the rest of skein is allowed to see it.
 *
 * Two clocks, on purpose: `nowMs` is monotonic and drives every timeout, deadline and
 * protocol tick; `wallMs` is calendar time and is used only where a human or a record
 * timestamp needs it, because it can jump (NTP, operators, the simulator's clock faults).
 */
export interface Clock {
  /** Monotonic milliseconds since an arbitrary origin. Never decreases. May be fractional. */
  nowMs(): number
  /** Wall-clock milliseconds since the Unix epoch. May jump backwards or forwards. */
  wallMs(): number
  /** Calls `fn` once, no sooner than `delayMs` (>= 0) from now. */
  setTimer(delayMs: number, fn: () => void): TimerHandle
  /**
   * Calls `fn` once, at the current time but after pending I/O callbacks have had a turn.
   * This is how long-running work (a mailbox drain) yields without adding latency.
   */
  defer(fn: () => void): void
}

/** Resolves after `delayMs` on the given clock. */
export function sleep(clock: Clock, delayMs: number): Promise<void> {
  return new Promise((resolve) => {
    clock.setTimer(delayMs, resolve)
  })
}
