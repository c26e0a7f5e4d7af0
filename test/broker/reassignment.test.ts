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
})
