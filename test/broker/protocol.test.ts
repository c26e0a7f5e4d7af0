import { describe, expect, it } from 'vitest'
import { ControllerVoters } from '../../actors/metadata/voters.js'
import { silentLogger } from '../../src/env/index.js'
import { brokerActorId, controllerActorId, parseReplicaActorId, pinnedNodeOf, replicaActorId, topicActorId } from '../../src/wire/index.js'
import { World } from '../../sim/index.js'

describe('broker protocol ids', () => {
  it('pinnedNodeOf_brokerControllerReplicaDiag_namesTheirNode_topicIsHashed', () => {
    expect(pinnedNodeOf(brokerActorId('n1'))).toBe('n1')
    expect(pinnedNodeOf(controllerActorId('n-2.x'))).toBe('n-2.x')
    expect(pinnedNodeOf(replicaActorId('orders.v1', 12, 'n3'))).toBe('n3')
    expect(pinnedNodeOf('diag/n4/echo')).toBe('n4')
    expect(pinnedNodeOf(topicActorId('orders'))).toBeUndefined()
    expect(pinnedNodeOf('noslash')).toBeUndefined()
  })

  it('parseReplicaActorId_roundTrips_andRefusesOtherShapes', () => {
    expect(parseReplicaActorId(replicaActorId('a_b-c.d', 0, 'n1'))).toEqual({ topic: 'a_b-c.d', partition: 0, nodeId: 'n1' })
    for (const bad of ['replica/t/x/n1', 'replica/t/-1/n1', 'replica/t/1.5/n1', 'replica/t/1', 'broker/t/1/n1', 'replica/t/1/n1/extra']) {
      expect(parseReplicaActorId(bad), bad).toBeUndefined()
    }
  })
})

describe('ControllerVoters', () => {
  function voters(seeds: string[], peerIds: string[], configured?: string[]) {
    const world = new World({ seed: 3 })
    const env = world.addNode('n1')
    return { world, env, voters: new ControllerVoters(env.disk, silentLogger, { id: 'n1', address: 'h1:1' }, seeds, peerIds, configured, 3) }
  }
  const live = [
    { id: 'n1', address: 'h1:1', zone: '' },
    { id: 'n2', address: 'h2:1', zone: '' },
    { id: 'n3', address: 'h3:1', zone: '' },
    { id: 'n4', address: 'h4:1', zone: '' },
  ]

  it('derive_firstThreeSeeds_onceAllAreSeenAlive', () => {
    const { voters: v } = voters(['h3:1', 'h1:1', 'h4:1', 'h2:1'], [])
    expect(v.derive(live.slice(0, 2))).toBeUndefined() // h3 and h4 not seen yet
    expect(v.derive(live)).toEqual(['n3', 'n1', 'n4'])
  })

  it('derive_noSeeds_usesSortedIdsOfSelfAndPeers_orSelfAlone', () => {
    expect(voters([], ['n9', 'n0', 'n5']).voters.derive([])).toEqual(['n0', 'n1', 'n5'])
    expect(voters([], []).voters.derive([])).toEqual(['n1'])
  })

  it('adopt_isSavedAndWins_overConfigAndLaterAdoptions_afterARestart', async () => {
    const { world, env, voters: v } = voters([], [], ['n1', 'n2', 'n3'])
    const { settle } = await import('../../sim/index.js')
    await settle(world, v.load())
    expect(v.get()).toEqual(['n1', 'n2', 'n3'])
    await settle(world, v.adopt(['n7'], 'late'))
    expect(v.get()).toEqual(['n1', 'n2', 'n3'])
    const reloaded = new ControllerVoters(env.disk, silentLogger, { id: 'n1', address: 'h1:1' }, [], [], ['x'], 3)
    await settle(world, reloaded.load())
    expect(reloaded.get()).toEqual(['n1', 'n2', 'n3'])
  })

  it('observe_newerCommittedMembershipWins_isSaved_andARestartAsksTheCurrentVoters', async () => {
    const { world, env, voters: v } = voters([], [], ['n1', 'n2', 'n3'])
    const { settle } = await import('../../sim/index.js')
    await settle(world, v.load())
    expect(v.membership()).toEqual({ founding: ['n1', 'n2', 'n3'], voters: ['n1', 'n2', 'n3'], learners: [], offset: -1 })
    expect(await settle(world, v.observe({ voters: ['n1', 'n2', 'n3'], learners: ['n4'], offset: 7 }))).toBe(true)
    expect(await settle(world, v.observe({ voters: ['n4', 'n1', 'n3'], learners: [], offset: 9 }))).toBe(true)
    // An older record (a stale leader's snapshot) never takes the membership back.
    expect(await settle(world, v.observe({ voters: ['n1', 'n2', 'n3'], learners: ['n4'], offset: 7 }))).toBe(false)
    expect(await settle(world, v.observe({ voters: [], learners: [], offset: 20 }))).toBe(false)
    expect(v.get()).toEqual(['n1', 'n3', 'n4'])
    const reloaded = new ControllerVoters(env.disk, silentLogger, { id: 'n1', address: 'h1:1' }, [], [], ['x'], 3)
    await settle(world, reloaded.load())
    expect(reloaded.membership()).toEqual({ founding: ['n1', 'n2', 'n3'], voters: ['n1', 'n3', 'n4'], learners: [], offset: 9 })
  })

  it('observe_beforeTheFoundingVotersAreKnown_isIgnored', async () => {
    const { world, voters: v } = voters([], [])
    const { settle } = await import('../../sim/index.js')
    await settle(world, v.load())
    expect(await settle(world, v.observe({ voters: ['n1'], learners: [], offset: 3 }))).toBe(false)
    expect(v.membership()).toBeUndefined()
  })
})
