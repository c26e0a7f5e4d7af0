import { performance } from 'node:perf_hooks'
import type { Clock, TimerHandle } from '../clock.js'

/**
 * Node's setTimeout turns delays above 2^31 - 1 ms (~24.8 days) into 1 ms; longer timers
 * are armed in steps of at most this much.
 */
const timerStepMsMax = 2 ** 31 - 1

/**
 * The Node clock. `nowMs` comes from `performance.now()` because it is monotonic (Date.now()
 * jumps with NTP and operators); `wallMs` is `Date.now()` and is for timestamps only.
 *
 * Timers are not unref'd: a pending protocol timer is a reason to keep the process alive,
 * and shutdown cancels them explicitly.
 */
export class RealClock implements Clock {
  nowMs(): number {
    return performance.now()
  }

  wallMs(): number {
    return Date.now()
  }

  setTimer(delayMs: number, fn: () => void): TimerHandle {
    assertDelayMs(delayMs)
    const deadlineMs = this.nowMs() + delayMs
    // Node measures timers against a loop time cached at the start of the event-loop turn,
    // so a timeout can fire before `delayMs` has passed on nowMs(). The contract is "no
    // sooner than", so an early wake-up re-arms for the remainder.
    const fire = (): void => {
      const remainingMs = deadlineMs - this.nowMs()
      if (remainingMs > 0) timeout = setTimeout(fire, Math.min(Math.ceil(remainingMs), timerStepMsMax))
      else fn()
    }
    let timeout = setTimeout(fire, Math.min(delayMs, timerStepMsMax))
    return {
      cancel(): void {
        // clearTimeout is idempotent and harmless after the timer fired.
        clearTimeout(timeout)
      },
    }
  }

  defer(fn: () => void): void {
    // setImmediate runs after pending I/O callbacks, unlike queueMicrotask/process.nextTick,
    // so a long mailbox drain cannot starve sockets.
    setImmediate(fn)
  }
}

function assertDelayMs(delayMs: number): void {
  if (!(delayMs >= 0) || !Number.isFinite(delayMs)) {
    throw new RangeError(`delayMs must be a finite number >= 0, got ${delayMs}`)
  }
}
