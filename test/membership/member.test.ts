import { describe, expect, it } from 'vitest'
import { MemberState, precedence, Precedence, type MemberState as State } from '../../src/membership/index.js'

const { alive, suspect, dead, left } = MemberState
const { apply, confirm, ignore } = Precedence

// [current state, current incarnation, incoming state, incoming incarnation, expected]
const table: [State | undefined, number, State, number, Precedence][] = [
  // unknown member: only alive introduces it (the others carry no address)
  [undefined, 0, alive, 0, apply],
  [undefined, 0, suspect, 3, ignore],
  [undefined, 0, dead, 3, ignore],
  [undefined, 0, left, 3, ignore],
  // alive(j) overrides anything with a lower incarnation, nothing at the same one
  [alive, 2, alive, 3, apply],
  [alive, 2, alive, 2, ignore],
  [alive, 2, alive, 1, ignore],
  [suspect, 2, alive, 3, apply],
  [suspect, 2, alive, 2, ignore],
  [dead, 2, alive, 3, apply],
  [dead, 2, alive, 2, ignore],
  [left, 2, alive, 3, apply],
  [left, 2, alive, 2, ignore],
  // suspect(j) overrides alive(i <= j); on suspect(i) it confirms at i, restarts above i
  [alive, 2, suspect, 2, apply],
  [alive, 2, suspect, 3, apply],
  [alive, 2, suspect, 1, ignore],
  [suspect, 2, suspect, 2, confirm],
  [suspect, 2, suspect, 3, apply],
  [suspect, 2, suspect, 1, ignore],
  [dead, 2, suspect, 5, ignore],
  [left, 2, suspect, 5, ignore],
  // dead(j) overrides alive or suspect with i <= j; dead is not overridden by dead or by old news
  [alive, 2, dead, 2, apply],
  [alive, 2, dead, 3, apply],
  [alive, 2, dead, 1, ignore],
  [suspect, 2, dead, 2, apply],
  [suspect, 2, dead, 1, ignore],
  [dead, 2, dead, 5, ignore],
  [left, 2, dead, 5, ignore],
  // left(j) overrides alive, suspect, dead with i <= j; left is terminal
  [alive, 2, left, 2, apply],
  [alive, 2, left, 1, ignore],
  [suspect, 2, left, 2, apply],
  [dead, 2, left, 2, apply],
  [dead, 2, left, 1, ignore],
  [left, 2, left, 5, ignore],
]

describe('precedence (SWIM §4.2 with left)', () => {
  it.each(table)('current %s@%i, incoming %s@%i -> %s', (state, incarnation, incomingState, incomingIncarnation, expected) => {
    const current = state === undefined ? undefined : { state, incarnation }
    expect(precedence(current, { state: incomingState, incarnation: incomingIncarnation })).toBe(expected)
  })

  it('precedence_restartedProcess_aliveAboveDeadOrLeft_wins', () => {
    // A restarted process refutes with max + 1, which beats the tombstone it finds.
    expect(precedence({ state: dead, incarnation: 7 }, { state: alive, incarnation: 8 })).toBe(apply)
    expect(precedence({ state: left, incarnation: 7 }, { state: alive, incarnation: 8 })).toBe(apply)
  })
})
