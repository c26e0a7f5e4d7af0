import { Prng } from '../../sim/prng.js'
import { Scheduler } from '../../sim/scheduler.js'
import { SimDisk } from '../../sim/sim-disk.js'

/** A simulated disk on its own scheduler, seeded. */
export function makeSimDisk(seed = 1): { scheduler: Scheduler; disk: SimDisk } {
  const scheduler = new Scheduler()
  return { scheduler, disk: new SimDisk(scheduler, Prng.fromSeed(seed).fork('disk'), 'n1') }
}

/** Runs `body` to completion on the scheduler (simulated I/O only settles while it runs). */
export async function runOnScheduler<T>(scheduler: Scheduler, body: () => Promise<T>): Promise<T> {
  let outcome: { value: T } | { error: unknown } | undefined
  body().then(
    (value) => (outcome = { value }),
    (error: unknown) => (outcome = { error }),
  )
  await scheduler.runUntil(() => outcome !== undefined, { timeoutMs: 60_000 })
  if (outcome === undefined) throw new Error('did not complete')
  if ('error' in outcome) throw outcome.error
  return outcome.value
}
