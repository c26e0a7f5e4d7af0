import { describe, expect, it } from 'vitest'
import type { Env } from '../../src/env/index.js'
import { LinkCloseCode, sleep } from '../../src/env/index.js'
import { World } from '../../sim/world.js'

const noHttp = () => ({ status: 404, contentType: 'text/plain', body: '' })

describe('World', () => {
  it('addNode_givesEachNodeItsOwnStreamsClockAndDisk', () => {
    const world = new World({ seed: 1 })
    const n1 = world.addNode('n1')
    const n2 = world.addNode('n2')
    expect(n1.random.float()).not.toBe(n2.random.float())
    expect(n1.clock.nowMs()).not.toBe(n2.clock.nowMs()) // different monotonic origins
    expect(n1.disk).not.toBe(n2.disk)
    expect(world.nodeIds()).toEqual(['n1', 'n2'])
    expect(() => world.addNode('n1')).toThrow(/already exists/)
  })

  it('sameSeed_sameRandomNumbers_differentSeed_different', () => {
    const draws = (seed: number): number[] => {
      const env = new World({ seed }).addNode('n1')
      return Array.from({ length: 10 }, () => env.random.int(1_000_000))
    }
    expect(draws(11)).toEqual(draws(11))
    expect(draws(11)).not.toEqual(draws(12))
  })

  it('crash_killsTimers_andRestartKeepsOnlyDurableData', async () => {
    const world = new World({ seed: 2 })
    const env = world.addNode('n1')
    const fired: string[] = []
    env.clock.setTimer(100, () => fired.push('old incarnation'))
    await world.runFor(1)
    const synced = (async () => {
      const file = await env.disk.open('f', { create: true })
      await file.append(new Uint8Array([1]))
      await file.sync()
      await env.disk.syncDir('')
      await file.append(new Uint8Array([2]))
      return file
    })()
    await world.runFor(50)
    await synced
    world.crash('n1')
    expect(world.process('n1').alive).toBe(false)
    const restarted = world.restart('n1')
    restarted.clock.setTimer(10, () => fired.push('new incarnation'))
    await world.runFor(500)
    expect(fired).toEqual(['new incarnation'])
    expect(world.process('n1').incarnation).toBe(2)
    expect(restarted.disk).toBe(env.disk)
    expect(world.disk('n1').peekBytes('f')).toEqual(new Uint8Array([1]))
  })

  it('crash_closesPeersLinksAtOnce_andRestartCanListenAgain', async () => {
    const world = new World({ seed: 3 })
    const n1 = world.addNode('n1')
    const n2 = world.addNode('n2')
    const listenOn = (env: Env) =>
      env.net.listen({ host: '127.0.0.1', port: 7071, messageBytesMax: 100, onLink: () => ({ onMessage() {}, onClose() {} }), onHttp: noHttp })
    await listenOn(n2)
    let closedWith: { atMs: number; code: number } | undefined
    let opened = false
    n1.net.connect('n2:7071', { messageBytesMax: 100 }, {
      onOpen: () => (opened = true),
      onMessage() {},
      onClose: (code) => (closedWith = { atMs: world.nowMs(), code }),
    })
    await world.runUntil(() => opened)
    const crashAtMs = world.nowMs()
    world.crash('n2')
    await world.runFor(10)
    expect(closedWith).toEqual({ atMs: crashAtMs, code: LinkCloseCode.abnormal })
    const restarted = world.restart('n2')
    await expect(listenOn(restarted)).resolves.toMatchObject({ host: 'n2', port: 7071 })
  })

  it('logs_areStampedAndCounted_andDeadProcessesAreSilent', async () => {
    const world = new World({ seed: 4, log: { echoLevel: undefined } })
    const env = world.addNode('n1')
    await world.runFor(7)
    env.log.child({ component: 'raft' }).warn({ term: 3 }, 'stepping down')
    env.log.error({}, 'boom')
    env.log.info({}, 'hello')
    world.crash('n1')
    env.log.error({}, 'from beyond the grave')
    expect(world.logs.count('warn')).toBe(1)
    expect(world.logs.count('error')).toBe(1)
    expect(world.logs.entries()[0]).toEqual({
      timeMs: 7,
      nodeId: 'n1',
      level: 'warn',
      fields: { incarnation: 1, component: 'raft', term: 3 },
      message: 'stepping down',
    })
  })

  it('logs_ringBuffer_keepsTheNewestEntries', () => {
    const world = new World({ seed: 4, log: { entriesMax: 3, echoLevel: undefined } })
    const env = world.addNode('n1')
    for (let i = 0; i < 10; i++) env.log.info({ i }, 'tick')
    expect(world.logs.entries().map((entry) => entry.fields['i'])).toEqual([7, 8, 9])
    expect(world.logs.count('info')).toBe(10)
  })

  it('asyncChain_timerAwaitingDiskOps_completesDeterministically', async () => {
    const runOnce = async (): Promise<{ steps: string[]; trace: string }> => {
      const world = new World({ seed: 5 })
      const env = world.addNode('n1')
      const steps: string[] = []
      const at = (what: string) => steps.push(`${what}@${world.nowMs()}`)
      env.clock.setTimer(10, async () => {
        at('timer')
        const file = await env.disk.open('wal', { create: true })
        at('opened')
        await file.append(new Uint8Array(4096))
        at('appended')
        await file.sync()
        at('synced')
        await sleep(env.clock, 5)
        at('slept')
      })
      await world.runFor(100)
      return { steps, trace: world.traceHex() }
    }
    const first = await runOnce()
    const second = await runOnce()
    expect(first.steps.map((step) => step.split('@')[0])).toEqual(['timer', 'opened', 'appended', 'synced', 'slept'])
    expect(first.steps[0]).toBe('timer@10')
    expect(first).toEqual(second)
  })
})
