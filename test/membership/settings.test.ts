import { describe, expect, it } from 'vitest'
import {
  FAST_SWIM_SETTINGS,
  LAN_SWIM_SETTINGS,
  retransmitLimit,
  suspicionConfirmationsExpected,
  suspicionTimeoutMaxMs,
  suspicionTimeoutMinMs,
  validateSwimSettings,
  type SwimSettings,
} from '../../src/membership/index.js'

describe('settings', () => {
  it('presets_areValid_andMatchTheIssue', () => {
    validateSwimSettings(LAN_SWIM_SETTINGS)
    validateSwimSettings(FAST_SWIM_SETTINGS)
    expect(LAN_SWIM_SETTINGS).toMatchObject({
      probeIntervalMs: 1_000,
      probeTimeoutMs: 500,
      indirectChecks: 3,
      suspicionMultiplier: 4,
      suspicionMaxTimeoutMultiplier: 6,
      retransmitMultiplier: 4,
      pushPullIntervalMs: 30_000,
      awarenessMaxMultiplier: 8,
      lifeguard: true,
    })
    expect(FAST_SWIM_SETTINGS.probeIntervalMs * 10).toBe(LAN_SWIM_SETTINGS.probeIntervalMs)
  })

  const bad: [string, Partial<SwimSettings>][] = [
    ['probeIntervalMs', { probeIntervalMs: 0 }],
    ['probeTimeoutMs', { probeTimeoutMs: 1_000 }],
    ['probeTimeoutMs', { probeTimeoutMs: 1.5 }],
    ['indirectChecks', { indirectChecks: -1 }],
    ['indirectNackTimeoutRatio', { indirectNackTimeoutRatio: 0 }],
    ['suspicionMultiplier', { suspicionMultiplier: 0 }],
    ['gossipUpdatesPerMessageMax', { gossipUpdatesPerMessageMax: 1_000 }],
    ['joinRetryDelayMsMax', { joinRetryDelayMsMax: 10 }],
    ['joinRetryJitterRatio', { joinRetryJitterRatio: 2 }],
    ['membersMax', { membersMax: 1 }],
    ['lifeguard', { lifeguard: 'yes' as unknown as boolean }],
  ]
  it.each(bad)('validate_bad_%s_throwsNamingIt', (name, patch) => {
    expect(() => validateSwimSettings({ ...LAN_SWIM_SETTINGS, ...patch })).toThrow(new RegExp(name))
  })

  it('suspicionTimeoutMin_isAlphaTimesLog10nTimesInterval_atLeastAlphaIntervals', () => {
    expect(suspicionTimeoutMinMs(LAN_SWIM_SETTINGS, 1)).toBe(4_000)
    expect(suspicionTimeoutMinMs(LAN_SWIM_SETTINGS, 5)).toBe(4_000)
    expect(suspicionTimeoutMinMs(LAN_SWIM_SETTINGS, 10)).toBe(4_000)
    expect(suspicionTimeoutMinMs(LAN_SWIM_SETTINGS, 50)).toBe(6_795)
    expect(suspicionTimeoutMinMs(LAN_SWIM_SETTINGS, 200)).toBe(9_204)
    expect(suspicionTimeoutMaxMs(LAN_SWIM_SETTINGS, 50)).toBe(6 * 6_795)
  })

  it('confirmationsExpected_isAlphaMinus2_orZeroInTinyClusters', () => {
    expect(suspicionConfirmationsExpected(LAN_SWIM_SETTINGS, 50)).toBe(2)
    expect(suspicionConfirmationsExpected(LAN_SWIM_SETTINGS, 4)).toBe(2)
    expect(suspicionConfirmationsExpected(LAN_SWIM_SETTINGS, 3)).toBe(0)
    expect(suspicionConfirmationsExpected({ ...LAN_SWIM_SETTINGS, suspicionMultiplier: 2 }, 50)).toBe(0)
  })

  it('retransmitLimit_isLambdaTimesCeilLog10nPlus1', () => {
    expect(retransmitLimit(LAN_SWIM_SETTINGS, 1)).toBe(4)
    expect(retransmitLimit(LAN_SWIM_SETTINGS, 9)).toBe(4)
    expect(retransmitLimit(LAN_SWIM_SETTINGS, 10)).toBe(8)
    expect(retransmitLimit(LAN_SWIM_SETTINGS, 50)).toBe(8)
    expect(retransmitLimit(LAN_SWIM_SETTINGS, 200)).toBe(12)
  })
})
