import { describe, expect, it } from 'vitest'
import { Scheduler, StopReason } from '../../sim/scheduler.js'

describe('Scheduler', () => {
  it('step_runsEventsByTime_tiesByInsertionOrder', async () => {
    const scheduler = new Scheduler()
    const order: string[] = []
    scheduler.schedule(5, 'b', () => order.push('b@5'))
    scheduler.schedule(1, 'a', () => order.push('a@1'))
    scheduler.schedule(5, 'c', () => order.push('c@5'))
    scheduler.schedule(3, 'd', () => order.push('d@3'))
    const result = await scheduler.runUntil(() => false)
    expect(order).toEqual(['a@1', 'd@3', 'b@5', 'c@5'])
    expect(result.stopReason).toBe(StopReason.idle)
    expect(scheduler.eventsProcessed).toBe(4)
    expect(scheduler.nowMs()).toBe(5)
  })

  it('cancel_preventsFiring_andIsNotCounted', async () => {
    const scheduler = new Scheduler()
    const fired: string[] = []
    const handle = scheduler.schedule(1, 'x', () => fired.push('x'))
    scheduler.schedule(2, 'y', () => fired.push('y'))
    handle.cancel()
    handle.cancel()
    expect(scheduler.pendingCount).toBe(1)
    await scheduler.runFor(10)
    expect(fired).toEqual(['y'])
    expect(scheduler.eventsProcessed).toBe(1)
  })

  it('cancel_manyEvents_compactsAndKeepsOrder', async () => {
    const scheduler = new Scheduler()
    const fired: number[] = []
    const handles = Array.from({ length: 5000 }, (_, i) => scheduler.schedule(i, `e${i}`, () => fired.push(i)))
    handles.forEach((handle, i) => {
      if (i % 10 !== 0) handle.cancel()
    })
    expect(scheduler.pendingCount).toBe(500)
    await scheduler.runFor(10_000)
    expect(fired).toEqual(Array.from({ length: 500 }, (_, i) => i * 10))
  })

  it('runFor_advancesTimeToTheEnd_evenWhenIdle', async () => {
    const scheduler = new Scheduler()
    scheduler.schedule(10, 'a', () => {})
    scheduler.schedule(30, 'b', () => {})
    const result = await scheduler.runFor(20)
    expect(result).toMatchObject({ stopReason: StopReason.time, eventsProcessed: 1, nowMs: 20 })
    expect(scheduler.pendingCount).toBe(1)
  })

  it('runUntil_predicate_stopsWhenTrue_orAtTimeout', async () => {
    const scheduler = new Scheduler()
    let count = 0
    const tick = (): void => {
      count++
      scheduler.scheduleAfter(10, 'tick', tick)
    }
    scheduler.schedule(0, 'tick', tick)
    const met = await scheduler.runUntil(() => count === 5)
    expect(met.stopReason).toBe(StopReason.condition)
    expect(scheduler.nowMs()).toBe(40)
    const timedOut = await scheduler.runUntil(() => count === 1000, { timeoutMs: 25 })
    expect(timedOut.stopReason).toBe(StopReason.time)
    expect(scheduler.nowMs()).toBe(65)
  })

  it('runUntil_eventsMax_stopsALivelock', async () => {
    const scheduler = new Scheduler()
    const storm = (): void => {
      scheduler.scheduleAfter(0, 'storm', storm)
    }
    scheduler.schedule(0, 'storm', storm)
    const result = await scheduler.runUntil(() => false, { eventsMax: 100 })
    expect(result).toMatchObject({ stopReason: StopReason.eventsMax, eventsProcessed: 100, nowMs: 0 })
  })

  it('step_letsPromiseChainsSettleBeforeTheNextEvent', async () => {
    const scheduler = new Scheduler()
    const seen: string[] = []
    scheduler.schedule(1, 'start', () => {
      void (async () => {
        for (let i = 0; i < 50; i++) await Promise.resolve()
        seen.push('chain done')
      })()
    })
    scheduler.schedule(1, 'next', () => seen.push('next event'))
    await scheduler.runFor(5)
    expect(seen).toEqual(['chain done', 'next event'])
  })

  it('schedule_inThePast_throws', async () => {
    const scheduler = new Scheduler()
    await scheduler.runFor(10)
    expect(() => scheduler.schedule(5, 'late', () => {})).toThrow(/past/)
  })

  it('trace_sameEvents_sameDigest_differentLabel_differentDigest', async () => {
    const run = async (label: string): Promise<string> => {
      const scheduler = new Scheduler()
      scheduler.schedule(1, 'a', () => {})
      scheduler.schedule(2, label, () => {})
      await scheduler.runFor(5)
      return scheduler.trace.digestHex()
    }
    expect(await run('b')).toBe(await run('b'))
    expect(await run('b')).not.toBe(await run('c'))
  })

  it('trace_keepsRecentEntries', async () => {
    const scheduler = new Scheduler({ traceRecentEntriesMax: 2 })
    for (let i = 0; i < 5; i++) scheduler.schedule(i, `e${i}`, () => {})
    await scheduler.runFor(10)
    expect(scheduler.trace.recentEntries()).toEqual([
      { timeMs: 3, label: 'e3' },
      { timeMs: 4, label: 'e4' },
    ])
    expect(scheduler.trace.entryCount).toBe(5)
  })

  it('hold_setsAsideTheOwnersDueEvents_releaseRunsThemNowInOrder', async () => {
    const scheduler = new Scheduler()
    const fired: string[] = []
    const at = (what: string) => () => fired.push(`${what}@${scheduler.nowMs()}`)
    scheduler.schedule(10, 'a', at('n1:a'), 'n1')
    scheduler.schedule(20, 'b', at('n2:b'), 'n2')
    scheduler.schedule(30, 'c', at('n1:c'), 'n1')
    scheduler.schedule(30, 'd', at('unowned:d'))
    scheduler.schedule(40, 'e', at('n1:e'), 'n1')
    scheduler.schedule(100, 'f', at('n1:f'), 'n1')
    scheduler.hold('n1')
    await scheduler.runFor(50)
    expect(fired).toEqual(['n2:b@20', 'unowned:d@30'])
    expect(scheduler.isHeld('n1')).toBe(true)
    // f (due at 100) was set aside too: the run looked past 50 for its next event.
    expect(scheduler.heldEventCount('n1')).toBe(4)
    expect(scheduler.pendingCount).toBe(4)
    scheduler.schedule(50, 'g', at('n2:g'), 'n2')
    scheduler.release('n1')
    await scheduler.runFor(100)
    // Held ones at the release instant, in their order, behind what was queued for it; later ones on time.
    expect(fired).toEqual(['n2:b@20', 'unowned:d@30', 'n2:g@50', 'n1:a@50', 'n1:c@50', 'n1:e@50', 'n1:f@100'])
    expect(scheduler.isHeld('n1')).toBe(false)
  })

  it('cancel_ofAHeldEvent_isNotRunOnRelease_andNotCountedAsPending', async () => {
    const scheduler = new Scheduler()
    const fired: string[] = []
    const kept = scheduler.schedule(1, 'kept', () => fired.push('kept'), 'n1')
    const dropped = scheduler.schedule(2, 'dropped', () => fired.push('dropped'), 'n1')
    scheduler.hold('n1')
    await scheduler.runFor(10)
    dropped.cancel()
    dropped.cancel()
    expect(scheduler.heldEventCount('n1')).toBe(1)
    expect(scheduler.pendingCount).toBe(1)
    scheduler.release('n1')
    await scheduler.runFor(10)
    kept.cancel()
    expect(fired).toEqual(['kept'])
    expect(scheduler.pendingCount).toBe(0)
  })

  it('release_outsideAnEvent_putsAHeldEventThatWasNotDueYetBackInItsPlace', async () => {
    const scheduler = new Scheduler()
    const fired: string[] = []
    scheduler.schedule(10, 'later', () => fired.push(`n1@${scheduler.nowMs()}`), 'n1')
    scheduler.schedule(10, 'same instant', () => fired.push(`unowned@${scheduler.nowMs()}`))
    scheduler.hold('n1')
    // Looking for the next event within the run sets this one aside, though it is not due before 8.
    await scheduler.runUntil(8)
    expect(scheduler.heldEventCount('n1')).toBe(1)
    scheduler.release('n1')
    await scheduler.runFor(10)
    expect(fired).toEqual(['n1@10', 'unowned@10'])
  })

  it('hold_twice_orReleaseWithoutHold_throws', () => {
    const scheduler = new Scheduler()
    scheduler.hold('n1')
    expect(() => scheduler.hold('n1')).toThrow(/already held/)
    expect(() => scheduler.release('n2')).toThrow(/not held/)
  })
})
