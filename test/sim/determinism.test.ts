import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Env, Link } from '../../src/env/index.js'
import { World } from '../../sim/world.js'

const NODE_IDS = ['n1', 'n2', 'n3'] as const
const PORT = 7071

/** Each node listens, links to the others, and on randomized timers sends, appends and syncs. */
function startWorkload(world: World, env: Env, nodeId: string, observed: string[]): void {
  const links: Link[] = []
  const observe = (what: string) => observed.push(`${world.nowMs()} ${nodeId} ${what}`)
  void env.net.listen({
    host: '127.0.0.1',
    port: PORT,
    messageBytesMax: 4096,
    onLink: () => ({ onMessage: (data) => observe(`got ${data.byteLength}`), onClose: (code) => observe(`in-close ${code}`) }),
    onHttp: () => ({ status: 200, contentType: 'text/plain', body: 'ok' }),
  })
  for (const peer of NODE_IDS) {
    if (peer === nodeId) continue
    const link = env.net.connect(`${peer}:${PORT}`, { messageBytesMax: 4096 }, {
      onOpen: () => observe(`open ${peer}`),
      onMessage: () => {},
      onClose: (code) => observe(`out-close ${peer} ${code}`),
    })
    links.push(link)
  }
  void (async () => {
    const file = await env.disk.open(`${nodeId}.log`, { create: true })
    const tick = async (): Promise<void> => {
      const link = links[env.random.int(links.length)]
      link?.send(env.random.bytes(1 + env.random.int(200)), () => observe('written'))
      await file.append(env.random.bytes(1 + env.random.int(100)))
      if (env.random.float() < 0.3) await file.sync()
      env.clock.setTimer(env.random.int(20), () => void tick())
    }
    await tick()
  })()
}

async function runWorkload(seed: number): Promise<{ trace: string; observed: string[] }> {
  const net = { latencyJitterMsMean: 2, spikeProbability: 0.05, breakProbability: 0.01, partitionCloseAfterMs: 50 }
  const world = new World({ seed, net })
  const observed: string[] = []
  for (const nodeId of NODE_IDS) startWorkload(world, world.addNode(nodeId), nodeId, observed)
  await world.runFor(100)
  world.net.partition(['n1'], ['n2', 'n3'])
  await world.runFor(100)
  world.net.heal()
  world.crash('n2', { disk: { mode: 'tearLastWrite' } })
  await world.runFor(50)
  startWorkload(world, world.restart('n2'), 'n2', observed)
  await world.runFor(100)
  return { trace: world.traceHex(), observed }
}

describe('determinism', () => {
  it('sameSeed_twice_givesEqualTraces (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 2 ** 31 - 1 }), async (seed) => {
        const first = await runWorkload(seed)
        const second = await runWorkload(seed)
        expect(second.trace).toBe(first.trace)
        expect(second.observed).toEqual(first.observed)
        expect(first.observed.length).toBeGreaterThan(10)
      }),
      { numRuns: 8 },
    )
  })

  it('differentSeeds_giveDifferentTraces', async () => {
    const first = await runWorkload(1)
    const second = await runWorkload(2)
    expect(first.trace).not.toBe(second.trace)
  })
})
