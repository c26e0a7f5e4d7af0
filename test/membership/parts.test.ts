import { describe, expect, it } from 'vitest'
import { Awareness } from '../../src/membership/awareness.js'
import { BroadcastQueue } from '../../src/membership/broadcast-queue.js'
import { ProbeOrder } from '../../src/membership/probe-order.js'
import { Suspicion, suspicionTimeoutMs } from '../../src/membership/suspicion.js'
import { Prng } from '../../sim/prng.js'

describe('Suspicion (Lifeguard §IV-B)', () => {
  const base = { fromId: 'a', startedAtMs: 1_000, minMs: 4_000, maxMs: 24_000, confirmationsExpected: 2, dynamic: true }

  it('timeout_startsAtMax_shrinksLogarithmicallyToMinAtK', () => {
    const suspicion = new Suspicion(base)
    expect(suspicion.deadlineMs).toBe(1_000 + 24_000)
    expect(suspicion.confirm('b')).toBe(true)
    // 24000 - 20000 * log(2) / log(3) = 11381.0...
    expect(suspicion.deadlineMs).toBe(1_000 + 11_381)
    expect(suspicion.confirm('c')).toBe(true)
    expect(suspicion.deadlineMs).toBe(1_000 + 4_000)
    expect(suspicion.confirm('d')).toBe(false)
    expect(suspicion.deadlineMs).toBe(1_000 + 4_000)
  })

  it('confirm_sameMemberOrStarter_countsOnce', () => {
    const suspicion = new Suspicion(base)
    expect(suspicion.confirm('a')).toBe(false)
    expect(suspicion.confirm('b')).toBe(true)
    expect(suspicion.confirm('b')).toBe(false)
    expect(suspicion.confirmations).toBe(1)
  })

  it('lifeguardOff_timeoutIsMin_confirmationsIgnored', () => {
    const suspicion = new Suspicion({ ...base, dynamic: false })
    expect(suspicion.deadlineMs).toBe(5_000)
    expect(suspicion.confirm('b')).toBe(false)
    expect(suspicion.deadlineMs).toBe(5_000)
  })

  it('noConfirmationsExpected_timeoutIsMin', () => {
    expect(new Suspicion({ ...base, confirmationsExpected: 0 }).deadlineMs).toBe(5_000)
    expect(suspicionTimeoutMs(5, 0, 4_000, 24_000)).toBe(4_000)
  })
})

describe('Awareness (Lifeguard §IV-A)', () => {
  it('score_clampedTo0AndLimitMinus1_scalesByScorePlus1', () => {
    const awareness = new Awareness(8)
    expect(awareness.applyDelta(-1)).toBe(0)
    expect(awareness.applyDelta(3)).toBe(3)
    expect(awareness.scale(500)).toBe(2_000)
    expect(awareness.applyDelta(100)).toBe(7)
    expect(awareness.scale(1_000)).toBe(8_000)
  })
})

describe('BroadcastQueue (SWIM §4.1)', () => {
  const left = (id: string, incarnation = 0) => ({ state: 'left' as const, id, incarnation })

  it('take_leastTransmittedFirst_thenNewestFirst', () => {
    const queue = new BroadcastQueue()
    queue.enqueue(left('a'))
    queue.enqueue(left('b'))
    expect(queue.take(1, 10).map((u) => u.id)).toEqual(['b'])
    queue.enqueue(left('c'))
    expect(queue.take(3, 10).map((u) => u.id)).toEqual(['c', 'a', 'b'])
  })

  it('enqueue_sameMember_invalidatesOlderUpdate', () => {
    const queue = new BroadcastQueue()
    queue.enqueue(left('a', 1))
    queue.take(1, 10)
    queue.enqueue({ state: 'alive', id: 'a', incarnation: 2, address: 'a:1', zone: '' })
    expect(queue.size).toBe(1)
    expect(queue.snapshot()).toEqual([{ update: { state: 'alive', id: 'a', incarnation: 2, address: 'a:1', zone: '' }, transmits: 0 }])
  })

  it('take_updateSentTransmitLimitTimes_leavesQueue', () => {
    const queue = new BroadcastQueue()
    queue.enqueue(left('a'))
    const sent = Array.from({ length: 10 }, () => queue.take(5, 4).length)
    expect(sent).toEqual([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    expect(queue.size).toBe(0)
  })

  it('take_boundedByCountMax_skipsGivenMembers', () => {
    const queue = new BroadcastQueue()
    for (const id of ['a', 'b', 'c', 'd']) queue.enqueue(left(id))
    expect(queue.take(2, 10)).toHaveLength(2)
    expect(queue.take(10, 10, new Set(['a'])).map((u) => u.id).sort()).toEqual(['b', 'c', 'd'])
  })
})

describe('ProbeOrder (SWIM §4.3)', () => {
  it('next_visitsEveryProbeableMemberOncePerRound_thenReshuffles', () => {
    const order = new ProbeOrder(Prng.fromSeed(1))
    const members = ['a', 'b', 'c', 'd', 'e']
    const rounds: string[][] = []
    for (let round = 0; round < 3; round++) {
      const seen: string[] = []
      for (let i = 0; i < members.length; i++) seen.push(order.next(() => true, () => [...members]) as string)
      rounds.push(seen)
      expect([...seen].sort()).toEqual(members)
    }
    expect(rounds[0]).not.toEqual(rounds[1])
  })

  it('insert_midRound_isProbedThisOrNextRound_andUnprobeableAreSkipped', () => {
    const order = new ProbeOrder(Prng.fromSeed(2))
    let members = ['a', 'b']
    expect(order.next((id) => id !== 'a', () => [...members])).toBe('b')
    members = ['a', 'b', 'c']
    order.insert('c')
    const next = [order.next(() => true, () => [...members]), order.next(() => true, () => [...members]), order.next(() => true, () => [...members])]
    expect(next).toContain('c')
    expect(order.next(() => false, () => [...members])).toBeUndefined()
  })
})
