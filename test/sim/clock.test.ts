import { describe, expect, it } from 'vitest'
import { Scheduler } from '../../sim/scheduler.js'
import { SimClock, WALL_EPOCH_BASE_MS } from '../../sim/sim-clock.js'

function makeClock(monotonicStartMs = 0): { scheduler: Scheduler; clock: SimClock } {
  const scheduler = new Scheduler()
  return { scheduler, clock: new SimClock(scheduler, { nodeId: 'n1', monotonicStartMs }) }
}

describe('SimClock', () => {
  it('setTimer_firesInDelayOrder_tiesByInsertion', async () => {
    const { scheduler, clock } = makeClock()
    const fired: string[] = []
    clock.setTimer(20, () => fired.push(`a@${clock.nowMs()}`))
    clock.setTimer(10, () => fired.push(`b@${clock.nowMs()}`))
    clock.setTimer(20, () => fired.push(`c@${clock.nowMs()}`))
    clock.setTimer(0, () => fired.push(`d@${clock.nowMs()}`))
    await scheduler.runFor(100)
    expect(fired).toEqual(['d@0', 'b@10', 'a@20', 'c@20'])
  })

  it('cancel_preventsFiring', async () => {
    const { scheduler, clock } = makeClock()
    const fired: string[] = []
    const handle = clock.setTimer(10, () => fired.push('cancelled'))
    clock.setTimer(10, () => fired.push('kept'))
    handle.cancel()
    await scheduler.runFor(100)
    handle.cancel()
    expect(fired).toEqual(['kept'])
    expect(clock.pendingTimerCount).toBe(0)
  })

  it('kill_cancelsPendingTimers_andIgnoresNewOnes', async () => {
    const { scheduler, clock } = makeClock()
    const fired: string[] = []
    clock.setTimer(10, () => fired.push('before kill'))
    clock.defer(() => fired.push('deferred'))
    clock.kill()
    clock.setTimer(5, () => fired.push('after kill'))
    await scheduler.runFor(100)
    expect(fired).toEqual([])
    expect(scheduler.eventsProcessed).toBe(0)
  })

  it('defer_runsAfterEventsAlreadyQueuedForNow', async () => {
    const { scheduler, clock } = makeClock()
    const fired: string[] = []
    scheduler.schedule(5, 'io', () => fired.push('io'))
    clock.setTimer(5, () => {
      clock.defer(() => fired.push('deferred'))
      scheduler.schedule(5, 'io-late', () => fired.push('io queued after defer'))
    })
    await scheduler.runFor(10)
    expect(fired).toEqual(['io', 'deferred', 'io queued after defer'])
  })

  it('nowMs_startsAtItsOrigin_andFollowsVirtualTime', async () => {
    const { scheduler, clock } = makeClock(1234)
    expect(clock.nowMs()).toBe(1234)
    await scheduler.runFor(100)
    expect(clock.nowMs()).toBe(1334)
  })

  it('wallMs_followsBasePlusTimePlusSkew_andJumps', async () => {
    const { scheduler, clock } = makeClock()
    await scheduler.runFor(10)
    expect(clock.wallMs()).toBe(WALL_EPOCH_BASE_MS + 10)
    clock.setWallSkewMs(500)
    expect(clock.wallMs()).toBe(WALL_EPOCH_BASE_MS + 510)
    clock.jumpWallMs(-2000)
    expect(clock.wallMs()).toBe(WALL_EPOCH_BASE_MS - 1490)
    expect(clock.nowMs()).toBe(10) // the monotonic clock never jumps
  })

  it('setRate_scalesMonotonicTimeAndTimers_continuously', async () => {
    const { scheduler, clock } = makeClock()
    await scheduler.runFor(10)
    clock.setRate(2)
    expect(clock.nowMs()).toBe(10)
    let firedAtLocalMs = -1
    clock.setTimer(20, () => (firedAtLocalMs = clock.nowMs()))
    await scheduler.runFor(100)
    expect(firedAtLocalMs).toBe(30)
    expect(scheduler.nowMs()).toBe(110)
    expect(clock.nowMs()).toBe(210)
  })

  it('setTimer_negativeDelay_throws', () => {
    const { clock } = makeClock()
    expect(() => clock.setTimer(-1, () => {})).toThrow()
    expect(() => clock.setTimer(Number.NaN, () => {})).toThrow()
  })

  it('timers_areOwnedByTheNode_soAHoldDelaysThem_andTheClockKeepsGoing', async () => {
    const { scheduler, clock } = makeClock()
    const fired: number[] = []
    clock.setTimer(10, () => fired.push(clock.nowMs()))
    clock.defer(() => fired.push(clock.nowMs()))
    scheduler.hold('n1')
    await scheduler.runFor(50)
    expect(fired).toEqual([])
    expect(clock.nowMs()).toBe(50)
    scheduler.release('n1')
    await scheduler.runFor(1)
    expect(fired).toEqual([50, 50])
  })
})
