import { describe, expect, it } from 'vitest'
import { LAN_SWIM_SETTINGS, MemberState } from '../../src/membership/index.js'
import { SwimHarness } from '../../sim/swim/harness.js'
import { crashDetectionBoundMs, formCluster, runCrashDetection } from '../../sim/swim/scenarios.js'

describe('crash detection', () => {
  it('crashedMember_detectedDeadByAll_withinTheDocumentedBound', () => {
    const boundMs = crashDetectionBoundMs(LAN_SWIM_SETTINGS, 5)
    expect(boundMs).toBe(10_000)
    const result = runCrashDetection({ seed: 7, memberCount: 5, trials: 30 })
    const sorted = [...result.detectionMs].sort((a, b) => a - b)
    console.log(`crash detection, 5 members, 30 crashes: min ${Math.round(sorted[0] ?? 0)} ms, median ${Math.round(sorted[15] ?? 0)} ms, max ${Math.round(sorted[29] ?? 0)} ms (bound ${boundMs} ms)`)
    for (const detectionMs of result.detectionMs) expect(detectionMs).toBeLessThanOrEqual(boundMs)
  }, 60_000)

  it('restartedWithSameId_isAliveEverywhereAgain_atAHigherIncarnation', () => {
    const harness = new SwimHarness({ seed: 3, settings: LAN_SWIM_SETTINGS })
    const ids = formCluster(harness, 5)
    harness.crash('n02')
    const dead = harness.runUntil(() => ids.filter((id) => id !== 'n02').every((id) => harness.view(id, 'n02')?.state === MemberState.dead), { timeoutMs: 60_000 })
    expect(dead).toBeDefined()
    const deadIncarnation = harness.view('n00', 'n02')?.incarnation ?? -1
    harness.restart('n02', { seedIds: ['n00'] })
    const back = harness.runUntil(() => harness.converged(ids), { timeoutMs: 30_000 })
    expect(back).toBeDefined()
    expect(harness.view('n00', 'n02')?.incarnation).toBeGreaterThan(deadIncarnation)
  }, 60_000)

  it('gracefulLeave_isLeftEverywhere_quickly', () => {
    const harness = new SwimHarness({ seed: 4, settings: LAN_SWIM_SETTINGS })
    const ids = formCluster(harness, 10)
    harness.leave('n03')
    const at = harness.runUntil(() => ids.filter((id) => id !== 'n03').every((id) => harness.view(id, 'n03')?.state === MemberState.left), { timeoutMs: 10_000, checkEveryMs: 10 })
    expect(at).toBeDefined()
    expect(harness.changes.filter((c) => c.memberId === 'n03' && c.state === MemberState.dead)).toEqual([])
  })

  it('sameSeed_sameRun', () => {
    const trace = (): string => {
      const harness = new SwimHarness({ seed: 11, settings: LAN_SWIM_SETTINGS, lossProbability: 0.05 })
      formCluster(harness, 8)
      harness.crash('n05')
      harness.runFor(30_000)
      return JSON.stringify(harness.changes) + harness.eventsProcessed
    }
    expect(trace()).toBe(trace())
  })
})
