import { describe, expect, it } from 'vitest'
import { sleep } from '../../src/env/clock.js'
import { RealClock } from '../../src/env/real/clock.js'

const clock = new RealClock()

describe('RealClock', () => {
  it('nowMs_neverDecreases', () => {
    let previousMs = clock.nowMs()
    let decreaseCount = 0
    for (let i = 0; i < 10_000; i++) {
      const currentMs = clock.nowMs()
      if (currentMs < previousMs) decreaseCount++
      previousMs = currentMs
    }
    expect(decreaseCount).toBe(0)
  })

  it('wallMs_isCalendarTime', () => {
    const beforeMs = Date.now()
    const wallMs = clock.wallMs()
    const afterMs = Date.now()
    expect(wallMs).toBeGreaterThanOrEqual(beforeMs)
    expect(wallMs).toBeLessThanOrEqual(afterMs)
  })

  it('setTimer_firesOnceNoSoonerThanTheDelay', async () => {
    const startMs = clock.nowMs()
    let firedAtMs = -1
    let fireCount = 0
    await new Promise<void>((resolve) => {
      clock.setTimer(5, () => {
        firedAtMs = clock.nowMs()
        fireCount++
        resolve()
      })
    })
    await sleep(clock, 10)
    expect(fireCount).toBe(1)
    // Exact, not a timing guess: RealClock re-arms when Node wakes it early.
    expect(firedAtMs - startMs).toBeGreaterThanOrEqual(5)
  })

  it('setTimer_cancelled_neverFires', async () => {
    let cancelledFired = false
    const handle = clock.setTimer(0, () => {
      cancelledFired = true
    })
    handle.cancel()
    handle.cancel() // harmless twice
    await sleep(clock, 20)
    expect(cancelledFired).toBe(false)
  })

  it('setTimer_cancelAfterFiring_isHarmless', async () => {
    let fired = false
    const handle = clock.setTimer(0, () => {
      fired = true
    })
    await sleep(clock, 5)
    expect(fired).toBe(true)
    handle.cancel()
  })

  it('setTimer_beyondNodeTimeoutMax_doesNotFireEarly', async () => {
    // Node would turn this delay into 1 ms; RealClock must not.
    let fired = false
    const handle = clock.setTimer(2 ** 40, () => {
      fired = true
    })
    await sleep(clock, 20)
    handle.cancel()
    expect(fired).toBe(false)
  })

  it('setTimer_invalidDelay_throws', () => {
    expect(() => clock.setTimer(-1, () => {})).toThrow(RangeError)
    expect(() => clock.setTimer(Number.NaN, () => {})).toThrow(RangeError)
  })

  it('defer_runsAfterCurrentCodeInCallOrder', async () => {
    const order: string[] = []
    await new Promise<void>((resolve) => {
      clock.defer(() => order.push('first'))
      clock.defer(() => {
        order.push('second')
        resolve()
      })
      order.push('sync')
    })
    expect(order).toEqual(['sync', 'first', 'second'])
  })
})
