import { describe, expect, it } from 'vitest'
import { runPartitionHeal } from '../../sim/swim/scenarios.js'

/** The issue asks for one view within 30 virtual seconds after a 2-way partition of 20 heals. */
const HEAL_MS_MAX = 30_000

describe('partition heal (20 members, two halves)', () => {
  it.each([
    [1, 90_000],
    [2, 90_000],
    [3, 600_000],
  ])('seed %i, partitioned %i ms: halves declare each other dead, then merge into one view within 30 s', (seed, partitionMs) => {
    const result = runPartitionHeal({ seed, memberCount: 20, partitionMs })
    console.log(`partition heal seed=${seed} partitionMs=${partitionMs}: healed in ${result.healMs} ms`)
    expect(result.sidesSplit).toBe(true)
    expect(result.healMs).toBeDefined()
    expect(result.healMs).toBeLessThanOrEqual(HEAL_MS_MAX)
  }, 60_000)
})
