import { describe, expect, it } from 'vitest'
import type { Actor, Message } from '../../src/actor/index.js'
import { runActorAsksScenario } from '../../sim/scenarios/actor-asks.js'

// Shorter phases than `npm run sim`, same shape: faults, then heal and check.
const phases = { faultPhaseMs: 10_000, healPhaseMs: 6_000 }

describe('actor-asks scenario (npm run sim)', () => {
  it('replays exactly: the same seed gives the same events and trace', async () => {
    const first = await runActorAsksScenario({ seed: 42, ...phases })
    const second = await runActorAsksScenario({ seed: 42, ...phases })
    expect(second.trace).toBe(first.trace)
    expect(second.events).toBe(first.events)
    expect(second.asksOk).toBe(first.asksOk)
  })

  it('differs in kind across seeds: another seed gives another trace', async () => {
    const a = await runActorAsksScenario({ seed: 1, ...phases })
    const b = await runActorAsksScenario({ seed: 2, ...phases })
    expect(b.trace).not.toBe(a.trace)
    expect(b.faults).not.toEqual(a.faults)
  })

  it('passes its checker on a handful of seeds, with faults that actually bite', async () => {
    let handshakes = 0
    for (const seed of [3, 4, 5]) {
      const result = await runActorAsksScenario({ seed, ...phases })
      expect(result.violations, `seed ${seed}`).toEqual([])
      expect(result.asksOk).toBeGreaterThan(1_000)
      // The partition makes some asks time out: the checker sees unknown outcomes.
      expect(result.asksUnknown).toBeGreaterThan(0)
      handshakes += result.handshakesCompleted
    }
    // Links broke and were dialled again (three runs of five nodes need at most 60 otherwise).
    expect(handshakes).toBeGreaterThan(60)
  })

  it('catches a counter that applies an add twice (phantom writes)', async () => {
    class DoubleCounter implements Actor {
      private total = 0
      receive(message: Message): unknown {
        return message.kind === 'add' ? (this.total += 2) : this.total
      }
    }
    const result = await runActorAsksScenario({ seed: 7, ...phases, counterFactory: () => new DoubleCounter() })
    expect(result.violations.some((v) => v.startsWith('safety:') && v.includes('only'))).toBe(true)
  })

  it('catches a counter that forgets acknowledged adds (lost writes)', async () => {
    class ForgetfulCounter implements Actor {
      private total = 0
      receive(message: Message): unknown {
        if (message.kind !== 'add') return this.total
        this.total = (this.total + 1) % 50
        return this.total
      }
    }
    const result = await runActorAsksScenario({ seed: 7, ...phases, counterFactory: () => new ForgetfulCounter() })
    expect(result.violations.some((v) => v.includes('lost writes'))).toBe(true)
  })
})
