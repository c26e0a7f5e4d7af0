import { describe, expect, it } from 'vitest'
import { type LeaderView, type MoveInput, nextMoveStep } from '../../actors/topic/reassignment.js'

const member = (id: string) => ({ id, zone: '' })
const live4 = ['a', 'b', 'c', 'n'].map(member)

function input(replicas: readonly string[], view: Partial<LeaderView>, overrides: Partial<MoveInput> = {}): MoveInput {
  return {
    partitionKey: 'topic-id/0',
    replicas,
    replicationFactor: 3,
    live: live4,
    deadLong: new Set(['d']),
    view: { leader: 'a', voters: ['a', 'b', 'd'], learners: [], ends: { b: 10, d: 4 }, highWatermark: 10, ...view },
    ...overrides,
  }
}

describe('nextMoveStep: replacing a long-dead replica, one committed step at a time', () => {
  it('walksAddReplica_addLearner_promote_removeVoter_dropReplica_inOrder', () => {
    const step1 = nextMoveStep(input(['a', 'b', 'd'], {}))
    expect(step1?.kind).toBe('addReplica')
    const added = step1?.kind === 'addReplica' ? step1.replicas : []
    expect(added.slice(0, 3)).toEqual(['a', 'b', 'd'])
    const newNode = added[3] as string
    expect(['c', 'n']).toContain(newNode)

    expect(nextMoveStep(input(added, {}))).toEqual({ kind: 'addLearner', voters: ['a', 'b', 'd'], learners: [newNode] })
    // Not caught up: nothing yet (the learner keeps fetching).
    expect(nextMoveStep(input(added, { learners: [newNode], ends: { b: 10, d: 4, [newNode]: 3 } }))).toBeUndefined()
    expect(nextMoveStep(input(added, { learners: [newNode], ends: { b: 10, [newNode]: 10 } }))).toEqual({ kind: 'promote', voters: ['a', 'b', 'd', newNode], learners: [] })
    expect(nextMoveStep(input(added, { voters: ['a', 'b', 'd', newNode], ends: { b: 10, [newNode]: 10 } }))).toEqual({ kind: 'removeVoter', voters: ['a', 'b', newNode], learners: [] })
    expect(nextMoveStep(input(added, { voters: ['a', 'b', newNode], ends: { b: 10, [newNode]: 10 } }))).toEqual({ kind: 'dropReplica', replicas: ['a', 'b', newNode] })
    expect(nextMoveStep(input(['a', 'b', newNode], { voters: ['a', 'b', newNode], ends: { b: 10, [newNode]: 10 } }))).toBeUndefined()
  })

  it('neverRemovesAVoter_beforeItsReplacementVotes', () => {
    expect(nextMoveStep(input(['a', 'b', 'd'], {}))?.kind).not.toBe('removeVoter')
    expect(nextMoveStep(input(['a', 'b', 'd', 'c'], { learners: ['c'], ends: { b: 10, c: 2 } }))).toBeUndefined()
  })

  it('nodeDownButNotLongEnough_noMove', () => {
    expect(nextMoveStep(input(['a', 'b', 'd'], {}, { deadLong: new Set() }))).toBeUndefined()
  })

  it('noLiveCandidate_noMove', () => {
    expect(nextMoveStep(input(['a', 'b', 'd'], {}, { live: ['a', 'b'].map(member) }))).toBeUndefined()
  })

  it('preferredReplicaCaughtUp_butNotLeading_transfersToIt', () => {
    const view = { leader: 'b', voters: ['a', 'b', 'c'], ends: { a: 10, c: 10 } }
    expect(nextMoveStep(input(['a', 'b', 'c'], view, { deadLong: new Set() }))).toEqual({ kind: 'preferLeader', target: 'a' })
    // Behind: it must catch up first.
    expect(nextMoveStep(input(['a', 'b', 'c'], { ...view, ends: { a: 9, c: 10 } }, { deadLong: new Set() }))).toBeUndefined()
  })

  it('deadNodeBackBeforeItsRemoval_undoesTheMove_groupFirstThenList', () => {
    const back = { deadLong: new Set<string>(), live: ['a', 'b', 'c', 'd'].map(member) }
    // c was added for d and promoted; d came back before it was removed: four voters, all caught up.
    const fourVoters = { voters: ['a', 'b', 'c', 'd'], ends: { b: 10, c: 10, d: 10 } }
    expect(nextMoveStep(input(['a', 'b', 'd', 'c'], fourVoters, back))).toEqual({ kind: 'removeVoter', voters: ['a', 'b', 'd'], learners: [] })
    // d still behind: wait, remove nobody.
    expect(nextMoveStep(input(['a', 'b', 'd', 'c'], { ...fourVoters, ends: { b: 10, c: 10, d: 7 } }, back))).toBeUndefined()
    // c left the group: only now does the list drop it (its broker deletes its data then).
    expect(nextMoveStep(input(['a', 'b', 'd', 'c'], { voters: ['a', 'b', 'd'], ends: { b: 10, d: 10 } }, back))).toEqual({ kind: 'dropReplica', replicas: ['a', 'b', 'd'] })
    expect(nextMoveStep(input(['a', 'b', 'd'], { voters: ['a', 'b', 'd'], ends: { b: 10, d: 10 } }, back))).toBeUndefined()
  })

  it('undoneMove_neverDropsTheLeader', () => {
    const back = { deadLong: new Set<string>(), live: ['a', 'b', 'c', 'd'].map(member) }
    const step = nextMoveStep(input(['a', 'b', 'd', 'c'], { leader: 'c', voters: ['a', 'b', 'c', 'd'], ends: { a: 10, b: 10, d: 10 } }, back))
    expect(step).toEqual({ kind: 'removeVoter', voters: ['a', 'b', 'c'], learners: [] })
  })

  it('learnerTheListNoLongerNames_leavesTheGroup', () => {
    expect(nextMoveStep(input(['a', 'b', 'c'], { voters: ['a', 'b', 'c'], learners: ['n'], ends: { b: 10, c: 10, n: 3 } }, { deadLong: new Set() }))).toEqual({
      kind: 'removeLearner',
      voters: ['a', 'b', 'c'],
      learners: [],
    })
  })

  it('voterTheListNoLongerNames_leavesOnlyWhileTheGroupIsOverTheFactor', () => {
    const view = { voters: ['a', 'b', 'c', 'n'], ends: { b: 10, c: 10, n: 10 } }
    expect(nextMoveStep(input(['a', 'b', 'c'], view, { deadLong: new Set() }))).toEqual({ kind: 'removeVoter', voters: ['a', 'b', 'c'], learners: [] })
    // At the factor with a listed replica missing: add that one first.
    expect(nextMoveStep(input(['a', 'b', 'c'], { voters: ['a', 'b', 'n'], ends: { b: 10, n: 10 } }, { deadLong: new Set() }))?.kind).toBe('addLearner')
  })
})
