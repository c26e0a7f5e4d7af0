/**
 * The headline check: a 50-member cluster on a network that loses 10% of all messages
 * runs one virtual hour with LAN defaults. Nobody crashes, so every 'dead' verdict is false.
 * With Lifeguard there must be none; the same run without Lifeguard must show some, or this
 * test would prove nothing.
 */
import { describe, expect, it } from 'vitest'
import { runFalsePositiveScenario } from '../../sim/swim/scenarios.js'

const SCENARIO = { seed: 1, memberCount: 50, lossProbability: 0.1, durationMs: 60 * 60_000 } as const

describe('false positives under 10% message loss (50 members, 1 virtual hour, LAN defaults)', () => {
  it('lifeguardOn_noFalseDeadVerdicts', () => {
    const result = runFalsePositiveScenario({ ...SCENARIO, lifeguard: true })
    console.log(`lifeguard on:  ${JSON.stringify(result)}`)
    expect(result.suspicions).toBeGreaterThan(0)
    expect(result.falseDeadVerdicts).toBe(0)
  }, 120_000)

  it('lifeguardOff_sameRun_hasFalseDeadVerdicts', () => {
    const result = runFalsePositiveScenario({ ...SCENARIO, lifeguard: false })
    console.log(`lifeguard off: ${JSON.stringify(result)}`)
    expect(result.falseDeadVerdicts).toBeGreaterThan(0)
  }, 120_000)
})
