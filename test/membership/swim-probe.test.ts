import { describe, expect, it } from 'vitest'
import type { Swim, SwimEffect } from '../../src/membership/index.js'
import { alive, changes, gossipMessage, introduce, makeSwim, only, probeAt, sends, tickAt } from './swim-fixtures.js'

interface Timed {
  atMs: number
  effect: SwimEffect
}

/**
 * Runs `swim` on its own deadlines up to `untilMs`. Every ping to a member not in `silent` is
 * acked at once; relays asked about a silent member nack `nackAfterMs` later when given.
 */
function drive(swim: Swim, untilMs: number, options: { silent?: readonly string[]; nackAfterMs?: number } = {}): Timed[] {
  const silent = new Set(options.silent ?? [])
  const timeline: Timed[] = []
  const pendingNacks: { atMs: number; fromId: string; seq: number }[] = []
  for (;;) {
    const nextNackMs = pendingNacks[0]?.atMs ?? Infinity
    const atMs = Math.min(swim.nextTickAtMs(), nextNackMs)
    if (atMs > untilMs) return timeline
    const effects = nextNackMs <= atMs ? receiveNack(swim, pendingNacks.shift()!) : swim.tick(atMs)
    for (const effect of effects) {
      timeline.push({ atMs, effect })
      if (effect.kind !== 'send') continue
      const message = effect.message
      if (message.type === 'ping' && !silent.has(effect.toId)) {
        const acked = swim.receive(effect.toId, { type: 'ack', seq: message.seq, incarnation: swim.member(effect.toId)?.incarnation ?? 0, gossip: [] }, atMs)
        timeline.push(...acked.map((e) => ({ atMs, effect: e })))
      }
      if (message.type === 'ping-req' && options.nackAfterMs !== undefined) {
        pendingNacks.push({ atMs: atMs + options.nackAfterMs, fromId: effect.toId, seq: message.seq })
      }
    }
  }
  function receiveNack(target: Swim, nack: { atMs: number; fromId: string; seq: number }): SwimEffect[] {
    return target.receive(nack.fromId, { type: 'nack', seq: nack.seq, gossip: [] }, nack.atMs)
  }
}

function clusterOf(id: string, others: readonly string[], settings: Parameters<typeof makeSwim>[1] = {}): Swim {
  const swim = makeSwim(id, settings)
  introduce(swim, others.map((other) => alive(other)), 0)
  return swim
}

const PEERS = ['b', 'c', 'd', 'e'] as const

describe('probing (SWIM §3.1)', () => {
  it('probe_ackInTime_noIndirectProbe_noSuspicion', () => {
    const a = clusterOf('a', PEERS)
    const ping = probeAt(a, 0)
    expect(ping.toId).toBe('e')
    expect(ping.message).toMatchObject({ targetId: 'e', fromAddress: 'a:7946', fromIncarnation: 0 })
    expect(a.receive('e', { type: 'ack', seq: ping.message.seq, incarnation: 0, gossip: [] }, 3)).toEqual([])
    expect(sends(a.tick(500), 'ping-req')).toEqual([])
    const next = tickAt(a, 1_000)
    expect(changes(next)).toEqual([])
    expect(only(next, 'ping').toId).toBe('d')
    expect(a.stats()).toMatchObject({ probesStarted: 2, probesSucceeded: 1, probesFailed: 0 })
  })

  it('probe_silentTarget_pingReqAtTimeout_suspectAtPeriodEnd_deadAtSuspicionTimeout', () => {
    // Classic SWIM timing (Lifeguard off): fixed suspicion timeout = 4 * max(1, log10 5) * 1 s.
    const a = clusterOf('a', PEERS, { settings: { lifeguard: false } })
    const timeline = drive(a, 6_000, { silent: ['e'] })
    const pingReqs = timeline.filter((t) => t.effect.kind === 'send' && t.effect.message.type === 'ping-req')
    expect(pingReqs.map((t) => [t.atMs, (t.effect as { toId: string }).toId])).toEqual([
      [500, 'b'],
      [500, 'c'],
      [500, 'd'],
    ])
    for (const t of pingReqs) expect(t.effect).toMatchObject({ message: { targetId: 'e', targetAddress: 'e:7946', fromAddress: 'a:7946' } })
    const changed = timeline.filter((t) => t.effect.kind === 'memberChanged' && t.effect.member.id === 'e')
    expect(changed.map((t) => [t.atMs, t.effect.kind === 'memberChanged' && t.effect.member.state, t.effect.kind === 'memberChanged' && t.effect.reason])).toEqual([
      [1_000, 'suspect', 'probe failed, indirect probes failed'],
      [5_000, 'dead', 'suspicion timeout with 0 confirmations'],
    ])
    expect(a.member('e')).toMatchObject({ state: 'dead', incarnation: 0 })
  })

  it('probe_ackRelayedByIndirectProber_succeeds', () => {
    const a = clusterOf('a', PEERS)
    const ping = probeAt(a, 0)
    const requests = sends(a.tick(500), 'ping-req')
    expect(requests).toHaveLength(3)
    a.receive('c', { type: 'ack', seq: ping.message.seq, incarnation: 0, gossip: [] }, 700)
    expect(changes(a.tick(1_000))).toEqual([])
    expect(a.member('e')?.state).toBe('alive')
    expect(a.stats().awarenessScore).toBe(0)
  })

  it('probe_ackFromAMemberNotAsked_isIgnored', () => {
    const a = clusterOf('a', PEERS)
    const ping = probeAt(a, 0)
    a.receive('b', { type: 'ack', seq: ping.message.seq, incarnation: 0, gossip: [] }, 100)
    a.tick(500)
    expect(changes(a.tick(1_000)).map((c) => c.member.state)).toEqual(['suspect'])
  })

  it('probe_roundRobin_everyMemberOncePerRound', () => {
    const a = clusterOf('a', PEERS)
    const targets = drive(a, 7_999)
      .filter((t) => t.effect.kind === 'send' && t.effect.message.type === 'ping')
      .map((t) => (t.effect as { toId: string }).toId)
    expect(targets).toHaveLength(8)
    expect(targets.slice(0, 4).sort()).toEqual([...PEERS])
    expect(targets.slice(4).sort()).toEqual([...PEERS])
  })

  it('nextTickAtMs_isTheEarliestDeadline', () => {
    const a = clusterOf('a', PEERS)
    expect(a.nextTickAtMs()).toBe(0)
    a.tick(0)
    expect(a.nextTickAtMs()).toBe(500)
    a.tick(500)
    expect(a.nextTickAtMs()).toBe(1_000)
  })
})

describe('relaying for others (SWIM §3.1, Lifeguard nack)', () => {
  it('onPingReq_pingsTarget_andForwardsItsAckWithItsIncarnation', () => {
    const a = clusterOf('a', PEERS)
    const effects = a.receive('b', { type: 'ping-req', seq: 77, targetId: 'e', targetAddress: 'e:7946', fromAddress: 'b:7946', gossip: [] }, 10)
    const ping = only(effects, 'ping')
    expect(ping).toMatchObject({ toId: 'e', toAddress: 'e:7946', message: { targetId: 'e', fromAddress: 'a:7946' } })
    const forwarded = only(a.receive('e', { type: 'ack', seq: ping.message.seq, incarnation: 3, gossip: [] }, 12), 'ack')
    expect(forwarded).toMatchObject({ toId: 'b', toAddress: 'b:7946', message: { seq: 77, incarnation: 3 } })
  })

  it('onPingReq_targetSilent_nacksAt80PercentOfProbeTimeout', () => {
    const a = clusterOf('a', PEERS)
    const ping = probeAt(a, 0)
    a.receive(ping.toId, { type: 'ack', seq: ping.message.seq, incarnation: 0, gossip: [] }, 1)
    a.receive('b', { type: 'ping-req', seq: 77, targetId: 'e', targetAddress: 'e:7946', fromAddress: 'b:7946', gossip: [] }, 100)
    expect(a.nextTickAtMs()).toBe(500)
    expect(sends(a.tick(499), 'nack')).toEqual([])
    expect(only(a.tick(500), 'nack')).toMatchObject({ toId: 'b', toAddress: 'b:7946', message: { seq: 77 } })
  })

  it('onPingReq_lifeguardOff_sendsNoNack', () => {
    const a = clusterOf('a', PEERS, { settings: { lifeguard: false } })
    a.receive('b', { type: 'ping-req', seq: 77, targetId: 'e', targetAddress: 'e:7946', fromAddress: 'b:7946', gossip: [] }, 1_100)
    expect(sends(tickAt(a, 1_500, 2_000), 'nack')).toEqual([])
  })

  it('onPingReq_relayTableFull_ignored', () => {
    const a = clusterOf('a', PEERS, { settings: { relaysInFlightMax: 1 } })
    const request = { type: 'ping-req', seq: 1, targetId: 'e', targetAddress: 'e:7946', fromAddress: 'b:7946', gossip: [] } as const
    expect(sends(a.receive('b', request, 10), 'ping')).toHaveLength(1)
    expect(a.receive('c', { ...request, seq: 2 }, 11)).toEqual([])
    expect(a.stats().messagesIgnored).toBe(1)
  })
})

describe('suspicion (SWIM §4.2, Lifeguard §IV-B)', () => {
  it('suspicionTimeout_shrinksWithIndependentConfirmations', () => {
    const a = clusterOf('a', PEERS)
    const timeline = drive(a, 1_000, { silent: ['e'], nackAfterMs: 400 })
    expect(timeline.some((t) => t.effect.kind === 'memberChanged' && t.effect.member.state === 'suspect')).toBe(true)
    // n = 5: min 4 s, max 24 s, K = 2; started at 1 s.
    expect(a.suspicionDeadlineMs('e')).toBe(25_000)
    a.receive('b', gossipMessage({ state: 'suspect', id: 'e', incarnation: 0, from: 'b' }), 1_500)
    expect(a.suspicionDeadlineMs('e')).toBe(1_000 + 11_381)
    a.receive('d', gossipMessage({ state: 'suspect', id: 'e', incarnation: 0, from: 'b' }), 1_600)
    expect(a.suspicionDeadlineMs('e')).toBe(1_000 + 11_381)
    a.receive('c', gossipMessage({ state: 'suspect', id: 'e', incarnation: 0, from: 'c' }), 1_700)
    expect(a.suspicionDeadlineMs('e')).toBe(5_000)
    const dead = drive(a, 5_000, { silent: ['e'] }).filter((t) => t.effect.kind === 'memberChanged' && t.effect.member.id === 'e')
    expect(dead).toMatchObject([{ atMs: 5_000, effect: { member: { state: 'dead' }, previousState: 'suspect', reason: 'suspicion timeout with 2 confirmations' } }])
  })

  it('confirmation_isGossipedOn_soOthersCountItToo', () => {
    const a = clusterOf('a', PEERS)
    a.receive('b', gossipMessage({ state: 'suspect', id: 'e', incarnation: 0, from: 'b' }), 0)
    a.receive('c', gossipMessage({ state: 'suspect', id: 'e', incarnation: 0, from: 'c' }), 0)
    const ack = only(a.receive('b', { type: 'ping', seq: 1, targetId: 'a', fromAddress: 'b:7946', fromIncarnation: 0, gossip: [] }, 0), 'ack')
    expect(ack.message.gossip).toContainEqual({ state: 'suspect', id: 'e', incarnation: 0, from: 'c' })
  })

  it('suspectAtHigherIncarnation_onSuspect_startsAFreshTimer', () => {
    const a = clusterOf('a', PEERS)
    a.receive('b', gossipMessage({ state: 'suspect', id: 'e', incarnation: 0, from: 'b' }), 0)
    expect(a.suspicionDeadlineMs('e')).toBe(24_000)
    // e refuted (incarnation 1) and we missed it; a new suspicion at 1 is not a confirmation of the old one.
    a.receive('c', gossipMessage({ state: 'suspect', id: 'e', incarnation: 1, from: 'c' }), 20_000)
    expect(a.member('e')).toMatchObject({ state: 'suspect', incarnation: 1 })
    expect(a.suspicionDeadlineMs('e')).toBe(44_000)
  })

  it('aliveAtHigherIncarnation_refutesSuspicion', () => {
    const a = clusterOf('a', PEERS)
    a.receive('b', gossipMessage({ state: 'suspect', id: 'e', incarnation: 0, from: 'b' }), 0)
    const effects = a.receive('c', gossipMessage({ state: 'alive', id: 'e', incarnation: 1, address: 'e:7946', zone: 'z1' }), 10)
    expect(changes(effects)).toMatchObject([{ member: { id: 'e', state: 'alive', incarnation: 1 }, previousState: 'suspect', reason: 'refuted' }])
    expect(a.suspicionDeadlineMs('e')).toBeUndefined()
  })

  it('onAck_withHigherIncarnation_fromSuspect_refutesSuspicion', () => {
    const a = clusterOf('a', PEERS)
    a.receive('b', gossipMessage({ state: 'suspect', id: 'e', incarnation: 0, from: 'b' }), 0)
    const ping = probeAt(a, 0)
    const effects = a.receive('e', { type: 'ack', seq: ping.message.seq, incarnation: 1, gossip: [] }, 5)
    expect(changes(effects)).toMatchObject([{ member: { id: 'e', state: 'alive', incarnation: 1 }, reason: 'refuted' }])
  })

  it('onSuspicionNearExpiry_probesTheSuspectOutOfTurn_lifeguardOnly', () => {
    const others = ['e', ...Array.from({ length: 29 }, (_, i) => `m${String(i).padStart(2, '0')}`)]
    for (const lifeguard of [true, false]) {
      // Inserted at the front one by one: e is probed last in the first round.
      const a = clusterOf('a', others, { settings: { lifeguard } })
      a.receive('m00', gossipMessage({ state: 'suspect', id: 'e', incarnation: 0, from: 'm00' }), 0)
      a.receive('m01', gossipMessage({ state: 'suspect', id: 'e', incarnation: 0, from: 'm01' }), 0)
      a.receive('m02', gossipMessage({ state: 'suspect', id: 'e', incarnation: 0, from: 'm02' }), 0)
      const deadlineMs = a.suspicionDeadlineMs('e') as number
      // n = 31: floor 4 * log10(31) s = 5965 ms, reached with K = 2 confirmations (lifeguard off: always).
      expect(deadlineMs).toBe(5_965)
      const pings = drive(a, 5_000).filter((t) => t.effect.kind === 'send' && t.effect.message.type === 'ping')
      const targets = pings.map((t) => (t.effect as { toId: string }).toId)
      if (lifeguard) {
        expect(targets.slice(0, 4)).toEqual(['m28', 'm27', 'm26', 'm25'])
        // At 4 s the deadline is within two periods: e takes the slot; then the round resumes.
        expect(targets.slice(4)).toEqual(['e', 'm24'])
        const verification = pings[4]?.effect as { message: { gossip: unknown[] } }
        expect(verification.message.gossip[0]).toEqual({ state: 'suspect', id: 'e', incarnation: 0, from: 'a' })
        // drive() acked e with its incarnation 0 (no refutation): still suspect, dies on time.
        expect(a.member('e')?.state).toBe('suspect')
      } else {
        expect(targets).toEqual(['m28', 'm27', 'm26', 'm25', 'm24', 'm23'])
      }
    }
  })
})

describe('own probe before a dead verdict (Lifeguard mode)', () => {
  it('lateConfirmations_movingTheDeadlineIntoThePast_waitForOurOwnProbe', () => {
    for (const silent of [false, true]) {
      const a = clusterOf('a', PEERS)
      a.receive('b', gossipMessage({ state: 'suspect', id: 'e', incarnation: 0, from: 'b' }), 0)
      a.receive('b', gossipMessage({ state: 'suspect', id: 'e', incarnation: 0, from: 'c' }), 20_000)
      a.receive('d', gossipMessage({ state: 'suspect', id: 'e', incarnation: 0, from: 'd' }), 20_000)
      expect(a.suspicionDeadlineMs('e')).toBe(4_000)
      const atNow = a.tick(20_000)
      expect(changes(atNow)).toEqual([])
      const verification = only(atNow, 'ping')
      expect(verification.toId).toBe('e')
      if (!silent) {
        // e refuted long ago; its ack says so, and no dead verdict is ever given.
        const effects = a.receive('e', { type: 'ack', seq: verification.message.seq, incarnation: 1, gossip: [] }, 20_001)
        expect(changes(effects)).toMatchObject([{ member: { id: 'e', state: 'alive', incarnation: 1 }, reason: 'refuted' }])
        continue
      }
      expect(a.nextTickAtMs()).toBe(20_500)
      a.tick(20_500)
      expect(changes(a.tick(21_000))).toMatchObject([{ member: { id: 'e', state: 'dead' }, reason: 'suspicion timeout with 2 confirmations' }])
    }
  })

  it('earlyOwnProbe_doesNotCount_aLastMinuteProbeIsMadeBeforeTheVerdict', () => {
    const a = clusterOf('a', PEERS)
    a.receive('b', gossipMessage({ state: 'suspect', id: 'e', incarnation: 0, from: 'b' }), 0)
    const timeline = drive(a, 30_000, { silent: ['e'], nackAfterMs: 400 })
    // Our probe at 0 s fails at 1 s: a confirmation, 0 + 11381 ms is the new deadline.
    const deadlineMs = 11_381
    const pingsToE = timeline.filter((t) => t.effect.kind === 'send' && t.effect.message.type === 'ping' && t.effect.toId === 'e').map((t) => t.atMs)
    expect(pingsToE[0]).toBe(0)
    expect(pingsToE.some((atMs) => atMs >= deadlineMs - 2_000 && atMs < deadlineMs)).toBe(true)
    const dead = timeline.filter((t) => t.effect.kind === 'memberChanged' && t.effect.member.state === 'dead')
    expect(dead).toHaveLength(1)
    // On the deadline, or when a probe of e still in flight then has failed.
    expect(dead[0]?.atMs).toBeGreaterThanOrEqual(deadlineMs)
    expect(dead[0]?.atMs).toBeLessThanOrEqual(deadlineMs + 1_000)
  })

  it('lifeguardOff_expiresOnTheDeadline_withoutOwnProbe', () => {
    const a = clusterOf('a', PEERS, { settings: { lifeguard: false } })
    a.receive('b', gossipMessage({ state: 'suspect', id: 'e', incarnation: 0, from: 'b' }), 0)
    expect(a.nextTickAtMs()).toBe(0)
    expect(changes(a.tick(4_000))).toMatchObject([{ member: { id: 'e', state: 'dead' }, reason: 'suspicion timeout with 0 confirmations' }])
  })
})

describe('local health awareness (Lifeguard §IV-A)', () => {
  it('failedProbe_withoutNacks_raisesScore_andStretchesIntervalAndTimeout', () => {
    const a = clusterOf('a', PEERS)
    drive(a, 999, { silent: ['e'] })
    expect(a.stats().awarenessScore).toBe(0)
    // e's probe fails at 1 s; three relays were asked and none nacked: +3.
    const atOne = a.tick(1_000)
    expect(a.stats().awarenessScore).toBe(3)
    const ping = only(atOne, 'ping')
    // The probe started at 1 s runs with timeout 500 ms x 4 and period 1 s x 4.
    expect(a.nextTickAtMs()).toBe(3_000)
    // e is suspect now, so only b and c qualify as relays for d.
    expect(sends(a.tick(3_000), 'ping-req').map((s) => s.toId)).toEqual(['b', 'c'])
    expect(a.nextTickAtMs()).toBe(5_000)
    // A late ack still counts: a successful probe lowers the score by one.
    a.receive(ping.toId, { type: 'ack', seq: ping.message.seq, incarnation: 0, gossip: [] }, 3_100)
    expect(a.stats().awarenessScore).toBe(2)
  })

  it('failedProbe_withAllNacks_doesNotRaiseScore', () => {
    const a = clusterOf('a', PEERS)
    drive(a, 1_000, { silent: ['e'], nackAfterMs: 400 })
    expect(a.stats().awarenessScore).toBe(0)
    expect(a.nextTickAtMs()).toBe(2_000)
  })

  it('repeatedFailures_scoreCappedAtMaxMinus1_periodAtMost8x', () => {
    const a = clusterOf('a', PEERS)
    const pingTimes = drive(a, 30_000, { silent: [...PEERS] })
      .filter((t) => t.effect.kind === 'send' && t.effect.message.type === 'ping')
      .map((t) => t.atMs)
    // Each failure adds the relays that did not nack (fewer as members turn suspect), at least 1:
    // scores 0, 3, 5, 6, 7 give periods of 1, 4, 6, 7, 8 s.
    expect(pingTimes).toEqual([0, 1_000, 5_000, 11_000, 18_000, 26_000])
    expect(a.stats().awarenessScore).toBe(7)
  })

  it('lifeguardOff_scoreStaysZero_intervalFixed', () => {
    const a = clusterOf('a', PEERS, { settings: { lifeguard: false } })
    drive(a, 1_000, { silent: ['e'] })
    expect(a.stats().awarenessScore).toBe(0)
    expect(a.nextTickAtMs()).toBe(2_000)
  })

  it('refutingASuspicionAboutSelf_raisesScore', () => {
    const e = clusterOf('e', ['a', 'b'])
    e.receive('a', gossipMessage({ state: 'suspect', id: 'e', incarnation: 0, from: 'a' }), 5)
    expect(e.stats()).toMatchObject({ awarenessScore: 1, incarnation: 1, refutations: 1 })
  })
})
