import { describe, expect, it } from 'vitest'
import { DownSince } from '../../actors/down-since.js'

describe('DownSince', () => {
  it('nodeDownPastTheGrace_isReported_aliveAgainOrUnwatched_isForgotten', () => {
    const clock = new DownSince()
    const watched = ['a', 'b', 'c']
    expect(clock.observe(watched, new Set(['a', 'b']), 1_000, 500)).toEqual(new Set())
    expect(clock.observe(watched, new Set(['a']), 1_400, 500)).toEqual(new Set())
    expect(clock.observe(watched, new Set(['a']), 1_500, 500)).toEqual(new Set(['c']))
    expect(clock.observe(watched, new Set(['a']), 1_900, 500)).toEqual(new Set(['b', 'c']))
    // c came back: its clock starts again when it next goes down.
    expect(clock.observe(watched, new Set(['a', 'c']), 2_000, 500)).toEqual(new Set(['b']))
    expect(clock.observe(watched, new Set(['a']), 2_100, 500)).toEqual(new Set(['b']))
    // b is no longer watched (its replicas moved): forgotten.
    expect(clock.observe(['a', 'c'], new Set(['a']), 2_700, 500)).toEqual(new Set(['c']))
    clock.clear()
    expect(clock.observe(['a', 'c'], new Set(['a']), 2_800, 500)).toEqual(new Set())
  })
})
