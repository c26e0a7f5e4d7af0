import { describe, expect, it } from 'vitest'
import { runLoad } from '../../sim/swim/scenarios.js'

describe('per-member message load', () => {
  it('staysFlat_from10To200Members', () => {
    const rows = runLoad({ seed: 1, memberCounts: [10, 50, 100, 200], settleMs: 60_000, measureMs: 60_000 })
    console.log(['members  msgs/member/s  updates/msg', ...rows.map((r) => `${String(r.memberCount).padStart(7)}  ${r.messagesPerMemberPerSecond.toFixed(3).padStart(13)}  ${r.gossipUpdatesPerMessage.toFixed(2).padStart(11)}`)].join('\n'))
    const loads = rows.map((r) => r.messagesPerMemberPerSecond)
    expect(Math.max(...loads) / Math.min(...loads)).toBeLessThan(1.5)
  }, 60_000)
})
