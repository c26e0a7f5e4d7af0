import type { RunOptions } from './scheduler.js'

/** What runs virtual time: a World, or a bare Scheduler (tests of one component on a timeline). */
export interface VirtualTimeline {
  runUntil(condition: () => boolean, options: RunOptions): Promise<unknown>
}

/** Virtual time a test waits for a promise before declaring it stuck. */
const settleTimeoutMsDefault = 120_000

/**
 * Runs the simulated world until `promise` settles, then returns its value (or throws its
 * error). Fails the test if it has not settled within `timeoutMs` of virtual time.
 */
export async function settle<T>(world: VirtualTimeline, promise: Promise<T>, timeoutMs = settleTimeoutMsDefault): Promise<T> {
  let done = false
  promise.then(
    () => (done = true),
    () => (done = true),
  )
  // Promise chains that need no event (a local ask) finish at the next macrotask boundary.
  await new Promise((resolve) => setImmediate(resolve))
  await world.runUntil(() => done, { timeoutMs })
  if (!done) throw new Error(`promise did not settle within ${timeoutMs} ms of virtual time`)
  return promise
}

/** Runs `promise` to completion in the world and returns the error it rejected with. */
export async function settleError(world: VirtualTimeline, promise: Promise<unknown>, timeoutMs?: number): Promise<Error & { errorName?: string; code?: number; retriable?: boolean }> {
  try {
    await settle(world, promise, timeoutMs)
  } catch (err) {
    return err as Error
  }
  throw new Error('expected the promise to reject, but it resolved')
}
