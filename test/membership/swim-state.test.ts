import { describe, expect, it } from 'vitest'
import { LAN_SWIM_SETTINGS, retransmitLimit, type GossipUpdate, type SwimMessage } from '../../src/membership/index.js'
import { Prng } from '../../sim/prng.js'
import { addressOf, alive, changes, gossipMessage, introduce, makeSwim, only, probeAt, pushPullResponse, sends, tickAt } from './swim-fixtures.js'

const ping = (seq: number, targetId: string, fromId: string, gossip: GossipUpdate[] = [], fromIncarnation = 0): SwimMessage => ({
  type: 'ping',
  seq,
  targetId,
  fromAddress: addressOf(fromId),
  fromIncarnation,
  gossip,
})

describe('refuting rumours about oneself (SWIM §4.2)', () => {
  it('onPing_whenSuspected_refutesWithHigherIncarnation', () => {
    const e = makeSwim('e')
    introduce(e, [alive('a')], 0)
    const ack = only(e.receive('a', ping(9, 'e', 'a', [{ state: 'suspect', id: 'e', incarnation: 0, from: 'a' }]), 10), 'ack')
    expect(ack).toMatchObject({ toId: 'a', toAddress: 'a:7946', message: { seq: 9, incarnation: 1 } })
    expect(ack.message.gossip).toContainEqual({ state: 'alive', id: 'e', incarnation: 1, address: 'e:7946', zone: 'z1' })
    expect(e.member('e')).toMatchObject({ state: 'alive', incarnation: 1 })
  })

  it.each([
    ['dead', { state: 'dead', id: 'e', incarnation: 3, from: 'x' }],
    ['left', { state: 'left', id: 'e', incarnation: 3 }],
    ['suspect', { state: 'suspect', id: 'e', incarnation: 3, from: 'x' }],
  ] as const)('onForged%sAboutSelf_refutedAboveIt_neverSticks', (_name, rumour) => {
    const e = makeSwim('e', { incarnation: 2 })
    introduce(e, [alive('a')], 0)
    expect(changes(e.receive('a', gossipMessage(rumour), 10))).toEqual([])
    expect(e.member('e')).toMatchObject({ state: 'alive', incarnation: 4 })
    const ack = only(e.receive('a', ping(1, 'e', 'a'), 11), 'ack')
    expect(ack.message.incarnation).toBe(4)
    expect(ack.message.gossip).toContainEqual({ state: 'alive', id: 'e', incarnation: 4, address: 'e:7946', zone: 'z1' })
  })

  it('onStaleAccusationAboutSelf_keepsIncarnation_butSendsOurAliveAgain', () => {
    const e = makeSwim('e', { incarnation: 5 })
    introduce(e, [alive('a')], 0)
    // Drain the queue (our alive is not in it: nothing was refuted yet).
    for (let i = 0; i < 10; i++) e.receive('a', ping(i, 'e', 'a'), 1)
    e.receive('a', gossipMessage({ state: 'suspect', id: 'e', incarnation: 4, from: 'x' }), 2)
    expect(e.stats().incarnation).toBe(5)
    const ack = only(e.receive('a', ping(99, 'e', 'a'), 3), 'ack')
    expect(ack.message.gossip).toContainEqual({ state: 'alive', id: 'e', incarnation: 5, address: 'e:7946', zone: 'z1' })
  })

  it('onPing_fromASuspectAtAHigherIncarnation_refutesOurSuspicion', () => {
    const a = makeSwim('a')
    introduce(a, [alive('b'), alive('e')], 0)
    a.receive('b', gossipMessage({ state: 'suspect', id: 'e', incarnation: 0, from: 'b' }), 1)
    expect(changes(a.receive('e', ping(3, 'a', 'e', [], 0), 2))).toEqual([])
    expect(changes(a.receive('e', ping(4, 'a', 'e', [], 1), 3))).toMatchObject([{ member: { id: 'e', state: 'alive', incarnation: 1 }, reason: 'refuted' }])
  })

  it('onRelayedAck_relayLearnsTheTargetsIncarnationToo', () => {
    const a = makeSwim('a')
    introduce(a, [alive('b'), alive('e')], 0)
    a.receive('b', gossipMessage({ state: 'suspect', id: 'e', incarnation: 0, from: 'b' }), 1)
    const relayPing = only(a.receive('b', { type: 'ping-req', seq: 5, targetId: 'e', targetAddress: 'e:7946', fromAddress: 'b:7946', gossip: [] }, 2), 'ping')
    const effects = a.receive('e', { type: 'ack', seq: relayPing.message.seq, incarnation: 1, gossip: [] }, 3)
    expect(only(effects, 'ack').message).toMatchObject({ seq: 5, incarnation: 1 })
    expect(a.member('e')).toMatchObject({ state: 'alive', incarnation: 1 })
  })

  it('onAliveAboutSelf_sameIncarnationOtherAddress_refutes', () => {
    // A previous process with our id announced another address at our incarnation.
    const e = makeSwim('e')
    e.receive('a', gossipMessage({ state: 'alive', id: 'e', incarnation: 0, address: 'old:1', zone: 'z1' }), 1)
    expect(e.stats().incarnation).toBe(1)
    e.receive('a', gossipMessage({ state: 'alive', id: 'e', incarnation: 1, address: 'e:7946', zone: 'z1' }), 2)
    expect(e.stats().incarnation).toBe(1)
  })
})

describe('member changes', () => {
  it('memberChanged_reportsEveryTransitionWithAReason', () => {
    const a = makeSwim('a')
    const joined = changes(introduce(a, [alive('b'), alive('c')], 0))
    expect(joined).toMatchObject([
      { member: { id: 'b', state: 'alive' }, previousState: undefined, reason: 'joined via push-pull' },
      { member: { id: 'c', state: 'alive' }, previousState: undefined, reason: 'joined via push-pull' },
    ])
    const steps: [GossipUpdate, string, string][] = [
      [{ state: 'alive', id: 'd', incarnation: 0, address: 'd:1', zone: 'z2' }, 'alive', 'joined via gossip'],
      [{ state: 'suspect', id: 'd', incarnation: 0, from: 'b' }, 'suspect', 'suspected by b'],
      [{ state: 'alive', id: 'd', incarnation: 1, address: 'd:1', zone: 'z2' }, 'alive', 'refuted'],
      [{ state: 'alive', id: 'd', incarnation: 2, address: 'd:2', zone: 'z2' }, 'alive', 'address or zone changed'],
      [{ state: 'dead', id: 'd', incarnation: 2, from: 'c' }, 'dead', 'declared dead by c'],
      [{ state: 'alive', id: 'd', incarnation: 3, address: 'd:2', zone: 'z2' }, 'alive', 'rejoined'],
      [{ state: 'left', id: 'd', incarnation: 3 }, 'left', 'left'],
    ]
    let t = 1
    for (const [update, state, reason] of steps) {
      expect(changes(a.receive('b', gossipMessage(update), t++))).toMatchObject([{ member: { id: 'd', state }, reason }])
    }
    // Redundant news changes nothing.
    expect(a.receive('b', gossipMessage({ state: 'left', id: 'd', incarnation: 3 }), t)).toEqual([])
    expect(a.member('d')).toEqual({ id: 'd', address: 'd:2', zone: 'z2', incarnation: 3, state: 'left' })
  })

  it('members_sortedById_selfIncluded', () => {
    const a = makeSwim('m')
    introduce(a, [alive('z'), alive('b')], 0)
    expect(a.members().map((m) => m.id)).toEqual(['b', 'm', 'z'])
  })

  it('membersMax_newMembersBeyondItIgnored', () => {
    const a = makeSwim('a', { settings: { membersMax: 3 } })
    introduce(a, [alive('b'), alive('c'), alive('d'), alive('e')], 0)
    expect(a.members().map((m) => m.id)).toEqual(['a', 'b', 'c'])
    expect(a.stats().membersRefused).toBe(2)
  })
})

describe('dissemination (SWIM §4.1)', () => {
  it('retransmitLimit_boundsHowOftenAnUpdateIsPiggybacked', () => {
    const a = makeSwim('a')
    introduce(a, [alive('b'), alive('c'), alive('d')], 0)
    // n = 4 live members: limit 4 * ceil(log10 5) = 4.
    expect(retransmitLimit(LAN_SWIM_SETTINGS, 4)).toBe(4)
    a.receive('b', gossipMessage({ state: 'alive', id: 'f', incarnation: 0, address: 'f:1', zone: '' }), 1)
    let carried = 0
    for (let i = 0; i < 20; i++) {
      const ack = only(a.receive('b', ping(i, 'a', 'b'), 2), 'ack')
      if (ack.message.gossip.some((u) => u.id === 'f')) carried++
    }
    // n became 5 with f: still 4.
    expect(carried).toBe(4)
  })

  it('gossipPerMessage_boundedByGossipUpdatesPerMessageMax_leastSentFirst', () => {
    const a = makeSwim('a', { settings: { gossipUpdatesPerMessageMax: 5 } })
    introduce(a, Array.from({ length: 12 }, (_, i) => alive(`m${i}`)), 0)
    const first = only(a.receive('m0', ping(1, 'a', 'm0'), 1), 'ack').message.gossip
    const second = only(a.receive('m0', ping(2, 'a', 'm0'), 1), 'ack').message.gossip
    expect(first).toHaveLength(5)
    expect(second).toHaveLength(5)
    expect(new Set([...first, ...second].map((u) => u.id)).size).toBe(10)
  })

  it('buddySystem_pingToASuspect_carriesTheSuspicionFirst_lifeguardOnly', () => {
    for (const lifeguard of [true, false]) {
      const a = makeSwim('a', { settings: { lifeguard } })
      introduce(a, [alive('b'), alive('e')], 0)
      a.receive('b', gossipMessage({ state: 'suspect', id: 'e', incarnation: 0, from: 'b' }), 0)
      const toE = probeAt(a, 0)
      expect(toE.toId).toBe('e')
      const fromSelf = toE.message.gossip.filter((u) => u.id === 'e' && u.state === 'suspect' && u.from === 'a')
      expect(fromSelf).toHaveLength(lifeguard ? 1 : 0)
      if (lifeguard) expect(toE.message.gossip[0]).toEqual({ state: 'suspect', id: 'e', incarnation: 0, from: 'a' })
    }
  })
})

describe('push-pull anti-entropy', () => {
  it('onPushPullRequest_mergesTheirState_answersWithOurs', () => {
    const a = makeSwim('a')
    introduce(a, [alive('b'), alive('d')], 0)
    const request: SwimMessage = {
      type: 'push-pull',
      isResponse: false,
      isJoin: false,
      fromAddress: 'b:7946',
      members: [alive('b'), alive('c', 2), { ...alive('d'), state: 'dead' }, { ...alive('x'), state: 'dead' }],
      gossip: [],
    }
    const effects = a.receive('b', request, 5)
    expect(changes(effects)).toMatchObject([
      { member: { id: 'c', state: 'alive', incarnation: 2 }, reason: 'joined via push-pull' },
      // A remote 'dead' becomes a suspicion here: d may yet refute.
      { member: { id: 'd', state: 'suspect' }, reason: 'suspected by b' },
    ])
    // An unknown member reported dead is not added (no tombstone from hearsay).
    expect(a.member('x')).toBeUndefined()
    const response = only(effects, 'push-pull')
    expect(response).toMatchObject({ toId: 'b', toAddress: 'b:7946', message: { isResponse: true, isJoin: false, fromAddress: 'a:7946' } })
    expect(response.message.members.map((m) => `${m.id}:${m.state}:${m.incarnation}`).sort()).toEqual(['a:alive:0', 'b:alive:0', 'c:alive:2', 'd:suspect:0'])
  })

  it('onPushPull_remoteSuspect_startsALocalSuspicion_butIsNotGossipedAsAConfirmation', () => {
    const a = makeSwim('a')
    introduce(a, [alive('b'), alive('c'), alive('d'), alive('e')], 0)
    for (let i = 0; i < 10; i++) a.receive('b', ping(i, 'a', 'b'), 1)
    const effects = a.receive('b', pushPullResponse('b', [{ ...alive('e'), state: 'suspect' }]), 2)
    expect(changes(effects)).toMatchObject([{ member: { id: 'e', state: 'suspect' }, reason: 'suspected by b (push-pull)' }])
    const ack = only(a.receive('c', ping(50, 'a', 'c'), 3), 'ack')
    expect(ack.message.gossip.filter((u) => u.id === 'e')).toEqual([])
  })

  it('periodicPushPull_goesToOneRandomMember_deadOnesIncluded', () => {
    const a = makeSwim('a', { random: Prng.fromSeed(3) })
    introduce(a, [alive('b'), alive('c')], 0)
    a.receive('b', gossipMessage({ state: 'dead', id: 'c', incarnation: 0, from: 'b' }), 0)
    const targets = new Set<string>()
    for (let t = 0; t <= 40 * 30_000; t += 500) for (const send of sends(a.tick(t), 'push-pull')) targets.add(send.toId)
    expect(targets).toEqual(new Set(['b', 'c']))
  })

  it('tombstones_forgottenAfterDeadMemberRetention', () => {
    const a = makeSwim('a', { settings: { deadMemberRetentionMs: 60_000 } })
    introduce(a, [alive('b'), alive('c')], 0)
    a.receive('b', gossipMessage({ state: 'dead', id: 'c', incarnation: 0, from: 'b' }), 1_000)
    tickAt(a, 30_000)
    expect(a.member('c')?.state).toBe('dead')
    tickAt(a, 60_000)
    expect(a.member('c')?.state).toBe('dead')
    tickAt(a, 90_000)
    expect(a.member('c')).toBeUndefined()
  })
})

describe('join', () => {
  it('join_asksEverySeedButItself_withPushPull', () => {
    const a = makeSwim('a')
    const effects = a.join(['a:7946', 'b:7946', 'c:7946', 'b:7946'], 0)
    expect(effects.map((e) => (e.kind === 'sendToAddress' ? e.address : e.kind))).toEqual(['b:7946', 'c:7946'])
    expect(effects[0]).toMatchObject({ message: { type: 'push-pull', isResponse: false, isJoin: true, fromAddress: 'a:7946', members: [alive('a')] } })
    expect(a.joined).toBe(false)
  })

  it('join_selfOnlyOrEmpty_isTheFirstMember', () => {
    for (const seeds of [[], ['a:7946']]) {
      const a = makeSwim('a')
      expect(a.join(seeds, 0)).toEqual([])
      expect(a.joined).toBe(true)
    }
  })

  it('join_noSeedAnswers_retriesWithDoublingBackoffCappedAtMax', () => {
    const a = makeSwim('a')
    a.join(['b:7946'], 0)
    const retriesAtMs: number[] = []
    for (let i = 0; i < 200 && retriesAtMs.length < 8; i++) {
      const t = a.nextTickAtMs()
      if (a.tick(t).some((e) => e.kind === 'sendToAddress')) retriesAtMs.push(t)
    }
    // 1, 2, 4, 8, 16 s, then the 30 s cap.
    expect(retriesAtMs).toEqual([1_000, 3_000, 7_000, 15_000, 31_000, 61_000, 91_000, 121_000])
    expect(a.stats().joinAttempts).toBe(9)
  })

  it('join_seedAnswers_stopsRetrying', () => {
    const a = makeSwim('a')
    a.join(['b:7946'], 0)
    a.receive('b', pushPullResponse('b', [alive('b')]), 200)
    expect(a.joined).toBe(true)
    let retries = 0
    for (let t = 500; t < 100_000; t += 500) retries += a.tick(t).filter((e) => e.kind === 'sendToAddress').length
    expect(retries).toBe(0)
  })

  it('restart_sameIdAtIncarnation0_refutesItsTombstone_andComesBack', () => {
    const seed = makeSwim('s')
    introduce(seed, [alive('n', 5), alive('o')], 0)
    seed.receive('o', gossipMessage({ state: 'dead', id: 'n', incarnation: 5, from: 'o' }), 1)
    const restarted = makeSwim('n', { nowMs: 10 })
    const request = restarted.join(['s:7946'], 10)[0]
    if (request?.kind !== 'sendToAddress') throw new Error('expected a join request')
    // The seed keeps its tombstone (alive@0 is older than dead@5) and answers with it.
    const answer = only(seed.receive('n', request.message, 11), 'push-pull')
    expect(seed.member('n')).toMatchObject({ state: 'dead', incarnation: 5 })
    restarted.receive('s', answer.message, 12)
    expect(restarted.stats().incarnation).toBe(6)
    // Its next message carries alive@6, which beats dead@5.
    const toSeed = sends(restarted.tick(1_000)).find((s) => s.toId === 's')
    if (toSeed === undefined) throw new Error('expected a message to the seed')
    const effects = seed.receive('n', toSeed.message, 1_001)
    expect(changes(effects)).toMatchObject([{ member: { id: 'n', state: 'alive', incarnation: 6 }, previousState: 'dead', reason: 'rejoined' }])
  })
})

describe('leave', () => {
  it('leave_announcesLeftToEveryLiveMember_stopsProbing_stillAnswers', () => {
    const a = makeSwim('a')
    introduce(a, ['b', 'c', 'd', 'e', 'f'].map((id) => alive(id)), 0)
    const effects = a.leave(100)
    expect(changes(effects)).toMatchObject([{ member: { id: 'a', state: 'left' }, previousState: 'alive', reason: 'left' }])
    const notices = sends(effects, 'gossip')
    // Every live member hears it directly, even beyond the retransmit limit's worth.
    expect(retransmitLimit(LAN_SWIM_SETTINGS, 6)).toBeLessThan(5)
    expect(notices.map((n) => n.toId).sort()).toEqual(['b', 'c', 'd', 'e', 'f'])
    for (const notice of notices) expect(notice.message.gossip).toContainEqual({ state: 'left', id: 'a', incarnation: 0 })
    expect(sends(tickAt(a, 1_000, 2_000, 40_000))).toEqual([])
    expect(only(a.receive('b', ping(1, 'a', 'b'), 40_001), 'ack')).toBeDefined()
    expect(a.leave(40_002)).toEqual([])
    expect(a.nextTickAtMs()).toBe(Infinity)
  })

  it('left_isTerminal_untilAHigherIncarnationAlive', () => {
    const b = makeSwim('b')
    introduce(b, [alive('a', 2)], 0)
    expect(changes(b.receive('a', gossipMessage({ state: 'left', id: 'a', incarnation: 2 }), 1))).toMatchObject([{ member: { state: 'left' } }])
    expect(b.receive('c', gossipMessage({ state: 'alive', id: 'a', incarnation: 2, address: 'a:7946', zone: 'z1' }), 2)).toEqual([])
    expect(b.receive('c', gossipMessage({ state: 'suspect', id: 'a', incarnation: 9, from: 'c' }), 3)).toEqual([])
    expect(changes(b.receive('a', gossipMessage({ state: 'alive', id: 'a', incarnation: 3, address: 'a:7946', zone: 'z1' }), 4))).toMatchObject([
      { member: { state: 'alive', incarnation: 3 }, previousState: 'left', reason: 'rejoined' },
    ])
  })

  it('join_afterLeave_throws', () => {
    const a = makeSwim('a')
    a.leave(0)
    expect(() => a.join([], 1)).toThrow(/join after leave/)
  })
})

describe('bad input', () => {
  const garbage: unknown[] = [
    null,
    undefined,
    0,
    'ping',
    [],
    {},
    { type: 'ping' },
    { type: 'ping', seq: 1, targetId: 'a', fromAddress: 'b:1', fromIncarnation: 0, gossip: [{ state: 'dead', id: 'a' }] },
    { type: 'ack', seq: 1, incarnation: -1, gossip: [] },
    { type: 'push-pull', isResponse: true, isJoin: false, fromAddress: 'b', members: 'all', gossip: [] },
    { type: 'gossip', gossip: new Array(100_000).fill({ state: 'left', id: 'x', incarnation: 0 }) },
  ]

  it('receive_garbage_returnsNothing_countsIt_neverThrows', () => {
    const a = makeSwim('a')
    introduce(a, [alive('b')], 0)
    for (const value of garbage) expect(a.receive('b', value, 1)).toEqual([])
    expect(a.receive('', ping(1, 'a', 'b'), 1)).toEqual([])
    expect(a.receive(42 as unknown as string, ping(1, 'a', 'b'), 1)).toEqual([])
    expect(a.stats().messagesInvalid).toBe(garbage.length + 2)
    expect(a.member('a')).toMatchObject({ state: 'alive', incarnation: 0 })
  })

  it('receive_pingForAnotherId_orFromSelf_ignored', () => {
    const a = makeSwim('a')
    expect(a.receive('b', ping(1, 'someone-else', 'b'), 1)).toEqual([])
    expect(a.receive('a', ping(1, 'a', 'a'), 1)).toEqual([])
    expect(a.stats().messagesIgnored).toBe(2)
  })

  it('time_goingBackwards_throws', () => {
    const a = makeSwim('a')
    a.tick(100)
    expect(() => a.tick(99)).toThrow(/backwards/)
    expect(() => a.tick(Number.NaN)).toThrow(RangeError)
  })

  it('constructor_badSelfOrSettings_throws', () => {
    expect(() => makeSwim('')).toThrow(RangeError)
    expect(() => makeSwim('a', { settings: { probeTimeoutMs: 2_000 } })).toThrow(/probeTimeoutMs/)
    expect(() => makeSwim('a', { incarnation: -1 })).toThrow(/incarnation/)
  })
})
