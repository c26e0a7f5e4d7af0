import { describe, expect, it } from 'vitest'
import {
  type VoterGroupView,
  type VoterReplacementInput,
  chooseReplacement,
  metadataReplicaBootstrap,
  nextVoterStep,
} from '../../actors/metadata/voter-replacement.js'
import type { ControllerMembership } from '../../actors/metadata/voters.js'

const member = (id: string, zone = '') => ({ id, zone })
const live4 = ['a', 'b', 'c', 'n'].map((id) => member(id))

function input(view: Partial<VoterGroupView>, overrides: Partial<VoterReplacementInput> = {}): VoterReplacementInput {
  return {
    view: { leader: 'a', voters: ['a', 'b', 'd'], learners: [], ends: { b: 10, d: 4 }, highWatermark: 10, ...view },
    voterCount: 3,
    live: live4,
    deadLong: new Set(['d']),
    ...overrides,
  }
}

describe('nextVoterStep: replacing a metadata voter dead past the grace period', () => {
  it('walksAddLearner_promote_removeVoter_inOrder_thenRests', () => {
    const add = nextVoterStep(input({}))
    expect(add?.kind).toBe('addLearner')
    const newNode = add!.node
    expect(['c', 'n']).toContain(newNode)
    expect(add).toEqual({ kind: 'addLearner', node: newNode, voters: ['a', 'b', 'd'], learners: [newNode] })
    // Not caught up: nothing yet (the learner keeps fetching).
    expect(nextVoterStep(input({ learners: [newNode], ends: { b: 10, d: 4, [newNode]: 3 } }))).toBeUndefined()
    expect(nextVoterStep(input({ learners: [newNode], ends: { b: 10, [newNode]: 10 } }))).toEqual({
      kind: 'promote', node: newNode, voters: ['a', 'b', 'd', newNode].sort(), learners: [],
    })
    const promoted = ['a', 'b', 'd', newNode].sort()
    expect(nextVoterStep(input({ voters: promoted, ends: { b: 10, [newNode]: 10 } }))).toEqual({
      kind: 'removeVoter', node: 'd', voters: ['a', 'b', newNode].sort(), learners: [],
    })
    expect(nextVoterStep(input({ voters: ['a', 'b', newNode].sort(), ends: { b: 10, [newNode]: 10 } }))).toBeUndefined()
  })

  it('neverRemovesAVoter_beforeItsReplacementVotes', () => {
    for (const view of [{}, { learners: ['c'], ends: { b: 10, c: 2 } }, { learners: ['c'], ends: { b: 10, c: 10 } }]) {
      expect(nextVoterStep(input(view))?.kind).not.toBe('removeVoter')
    }
  })

  it('voterDownButNotPastTheGrace_noChange', () => {
    expect(nextVoterStep(input({}, { deadLong: new Set() }))).toBeUndefined()
  })

  it('noMajorityOfVotersAlive_noChange_evenWithACaughtUpLearner', () => {
    const live = ['a', 'c', 'n'].map((id) => member(id)) // b and d down: 1 of 3 voters alive
    expect(nextVoterStep(input({}, { live, deadLong: new Set(['b', 'd']) }))).toBeUndefined()
    expect(nextVoterStep(input({ learners: ['c'], ends: { c: 10 } }, { live, deadLong: new Set(['b', 'd']) }))).toBeUndefined()
    // Four voters, two alive: no majority either.
    expect(nextVoterStep(input({ voters: ['a', 'b', 'c', 'd'] }, { live: ['a', 'c'].map((id) => member(id)), deadLong: new Set(['b', 'd']) }))).toBeUndefined()
  })

  it('noLiveCandidate_noChange', () => {
    expect(nextVoterStep(input({}, { live: ['a', 'b'].map((id) => member(id)) }))).toBeUndefined()
  })

  it('oneChangeAtATime_noSecondLearnerWhileOneCatchesUp', () => {
    const view = { learners: ['c'], ends: { b: 10, c: 1 } }
    expect(nextVoterStep(input(view))).toBeUndefined()
  })

  it('deadVoterBackBeforePromotion_learnerIsRemoved', () => {
    expect(nextVoterStep(input({ learners: ['c'], ends: { b: 10, c: 1, d: 10 } }, { deadLong: new Set(), live: [...live4, member('d')] }))).toEqual({
      kind: 'removeLearner', node: 'c', voters: ['a', 'b', 'd'], learners: [],
    })
  })

  it('learnerDeadPastTheGrace_isRemoved_thenAnotherIsTried', () => {
    const live = ['a', 'b', 'n'].map((id) => member(id))
    expect(nextVoterStep(input({ learners: ['c'], ends: { b: 10, c: 1 } }, { live, deadLong: new Set(['c', 'd']) }))).toEqual({
      kind: 'removeLearner', node: 'c', voters: ['a', 'b', 'd'], learners: [],
    })
    expect(nextVoterStep(input({}, { live, deadLong: new Set(['c', 'd']) }))).toEqual({ kind: 'addLearner', node: 'n', voters: ['a', 'b', 'd'], learners: ['n'] })
  })

  it('fourVotersAfterTheDeadOneCameBack_laterDeath_removesWithoutReplacing', () => {
    const view = { voters: ['a', 'b', 'c', 'd'], ends: { b: 10, c: 10, d: 3 } }
    expect(nextVoterStep(input(view, { deadLong: new Set() }))).toBeUndefined()
    expect(nextVoterStep(input(view))).toEqual({ kind: 'removeVoter', node: 'd', voters: ['a', 'b', 'c'], learners: [] })
  })

  it('neverRemovesTheLeader', () => {
    expect(nextVoterStep(input({ voters: ['a', 'b', 'c', 'd'], ends: { b: 10, c: 10 } }, { deadLong: new Set(['a']) }))).toBeUndefined()
  })
})

describe('chooseReplacement', () => {
  const view: VoterGroupView = { leader: 'a', voters: ['a', 'b', 'd'], learners: [], ends: {}, highWatermark: 0 }

  it('isDeterministic_whateverTheOrderOfTheLiveList', () => {
    const live = ['a', 'b', 'c', 'e', 'f', 'g'].map((id) => member(id))
    const chosen = chooseReplacement(live, view, new Set(['d']))
    expect(['c', 'e', 'f', 'g']).toContain(chosen)
    expect(chooseReplacement([...live].reverse(), view, new Set(['d']))).toBe(chosen)
  })

  it('prefersAZoneNoHealthyVoterIsIn', () => {
    const live = [member('a', 'z1'), member('b', 'z2'), member('c', 'z1'), member('e', 'z2'), member('f', 'z3')]
    expect(chooseReplacement(live, view, new Set(['d']))).toBe('f')
    // Without such a zone, any live non-member.
    expect(['c', 'e']).toContain(chooseReplacement(live.slice(0, 4), view, new Set(['d'])))
  })
})

describe('metadataReplicaBootstrap', () => {
  const founding = ['n1', 'n2', 'n3']
  const unchanged: ControllerMembership = { founding, voters: founding, learners: [], offset: -1 }
  const replaced: ControllerMembership = { founding, voters: ['n1', 'n2', 'n4'], learners: [], offset: 40 }

  it('foundingVoter_ofAnUnchangedGroup_opensWithTheFoundingVoters', () => {
    expect(metadataReplicaBootstrap('n1', unchanged, false)).toEqual({ voters: founding, learners: [] })
  })

  it('newMember_opensAsALearner_hearingEveryCurrentMember', () => {
    const learning: ControllerMembership = { founding, voters: founding, learners: ['n4'], offset: 30 }
    expect(metadataReplicaBootstrap('n4', learning, false)).toEqual({ voters: founding, learners: ['n4'] })
    expect(metadataReplicaBootstrap('n4', replaced, true)).toEqual({ voters: founding, learners: ['n4'] })
  })

  it('foundingVoter_afterAChange_keepsFoundingVoters_withTheNewMembersAsLearners', () => {
    expect(metadataReplicaBootstrap('n1', replaced, true)).toEqual({ voters: founding, learners: ['n4'] })
  })

  it('removedNode_doesNotHostIt', () => {
    expect(metadataReplicaBootstrap('n3', replaced, true)).toBeUndefined()
  })

  it('foundingNodeReAdded_withAFreshLog_comesBackAsALearner_neverAVoterWithAnEmptyLog', () => {
    const readded: ControllerMembership = { founding, voters: ['n1', 'n2', 'n4'], learners: ['n3'], offset: 90 }
    expect(metadataReplicaBootstrap('n3', readded, false)).toEqual({ voters: ['n1', 'n2'], learners: ['n3', 'n4'] })
  })
})
