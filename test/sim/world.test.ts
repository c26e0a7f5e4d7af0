import { describe, expect, it } from 'vitest'
import type { Env } from '../../src/env/index.js'
import { LinkCloseCode, sleep } from '../../src/env/index.js'
import { Prng } from '../../sim/prng.js'
import { WALL_EPOCH_BASE_MS } from '../../sim/sim-clock.js'
import { WALL_SKEW_MS_MAX, World } from '../../sim/world.js'

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

  it('pause_holdsTimersDiskAndMessages_thenRunsThemInOrderAtWake_andPeersSeeNoClose', async () => {
    const world = new World({ seed: 6, net: { partitionCloseAfterMs: 100 } })
    const n1 = world.addNode('n1')
    const n2 = world.addNode('n2')
    const seen: string[] = []
    const decode = (data: Uint8Array): string => new TextDecoder().decode(data)
    await n2.net.listen({
      host: '127.0.0.1',
      port: 7071,
      messageBytesMax: 100,
      onLink: () => ({ onMessage: (data) => seen.push(`msg ${decode(data)}@${world.nowMs()}`), onClose: () => seen.push('server closed') }),
      onHttp: noHttp,
    })
    let opened = false
    let clientClosed = false
    const link = n1.net.connect('n2:7071', { messageBytesMax: 100 }, { onOpen: () => (opened = true), onMessage() {}, onClose: () => (clientClosed = true) })
    await world.runUntil(() => opened)
    n2.clock.setTimer(50, () => seen.push(`timer@${world.nowMs()}`))
    void n2.disk.open('f', { create: true }).then(() => seen.push(`disk@${world.nowMs()}`))
    const pausedAtMs = world.nowMs()
    const monotonicAtPauseMs = n2.clock.nowMs()
    world.pause('n2', 1000)
    let peerTimerAtMs: number | undefined
    n1.clock.setTimer(300, () => (peerTimerAtMs = world.nowMs()))
    link.send(new TextEncoder().encode('a'))
    await world.runFor(200)
    link.send(new TextEncoder().encode('b'))
    await world.runUntil(pausedAtMs + 999)
    expect(seen).toEqual([])
    expect(world.isPaused('n2')).toBe(true)
    expect(peerTimerAtMs).toBe(pausedAtMs + 300) // the others run on time
    await world.runFor(2)
    const wakeMs = pausedAtMs + 1000
    expect(seen).toEqual([`disk@${wakeMs}`, `msg a@${wakeMs}`, `timer@${wakeMs}`, `msg b@${wakeMs}`])
    expect(world.isPaused('n2')).toBe(false)
    expect(n2.clock.nowMs()).toBeGreaterThanOrEqual(monotonicAtPauseMs + 1000) // it sees the jump
    expect(clientClosed).toBe(false)
  })

  it('pause_extendsNeverShortens_resumeEndsItEarly', async () => {
    const world = new World({ seed: 7 })
    const env = world.addNode('n1')
    const fired: number[] = []
    env.clock.setTimer(10, () => fired.push(world.nowMs()))
    world.pause('n1', 500)
    world.pause('n1', 100) // shorter: ignored
    await world.runFor(300)
    world.pause('n1', 1000) // now ends at 1300
    await world.runFor(900)
    expect(fired).toEqual([])
    world.resume('n1')
    await world.runFor(1)
    expect(fired).toEqual([1200])
    world.resume('n1') // not paused: nothing
    expect(() => world.pause('n1', 0)).toThrow(/durationMs/)
  })

  it('crash_duringAPause_endsIt_andTheRestartedProcessRunsNormally', async () => {
    const world = new World({ seed: 8 })
    const env = world.addNode('n1')
    const fired: string[] = []
    env.clock.setTimer(10, () => fired.push('old process'))
    world.pause('n1', 1000)
    await world.runFor(100)
    world.crash('n1')
    expect(world.isPaused('n1')).toBe(false)
    expect(() => world.pause('n1', 100)).toThrow(/not running/)
    const restarted = world.restart('n1')
    restarted.clock.setTimer(10, () => fired.push(`new process@${world.nowMs()}`))
    await world.runFor(2000)
    expect(fired).toEqual(['new process@110'])
  })

  it('destroy_crashesAndErasesTheDisk_forGood_andNewNodesMayStillBeAdded', async () => {
    const world = new World({ seed: 9 })
    const env = world.addNode('n1')
    const written = (async () => {
      const file = await env.disk.open('f', { create: true })
      await file.append(new Uint8Array([1, 2, 3]))
      await file.sync()
      await env.disk.syncDir('')
    })()
    await world.runFor(50)
    await written
    world.destroy('n1')
    expect(world.isDestroyed('n1')).toBe(true)
    expect(world.process('n1').alive).toBe(false)
    expect(world.disk('n1').filePaths()).toEqual([])
    expect(() => world.restart('n1')).toThrow(/destroyed/)
    expect(() => world.destroy('n1')).toThrow(/already destroyed/)
    expect(() => world.addNode('n1')).toThrow(/already exists/)
    const n2 = world.addNode('n2')
    let firedAtMs: number | undefined
    n2.clock.setTimer(5, () => (firedAtMs = world.nowMs()))
    await world.runFor(10)
    expect(firedAtMs).toBe(55)
  })

  it('skewWallClock_andJumpWallClock_moveOnlyTheWallClock_andSurviveARestart', async () => {
    const world = new World({ seed: 10, monotonicStartMsMax: 0 })
    const env = world.addNode('n1')
    await world.runFor(100)
    world.skewWallClock('n1', 5_000)
    expect(env.clock.wallMs()).toBe(WALL_EPOCH_BASE_MS + 5_100)
    world.jumpWallClock('n1', -60_000)
    expect(env.clock.wallMs()).toBe(WALL_EPOCH_BASE_MS - 54_900)
    expect(env.clock.nowMs()).toBe(100)
    expect(() => world.jumpWallClock('n1', -WALL_SKEW_MS_MAX)).toThrow(/skewMs/)
    world.crash('n1')
    const restarted = world.restart('n1')
    expect(restarted.clock.wallMs()).toBe(WALL_EPOCH_BASE_MS - 54_900)
    const monotonicBeforeMs = restarted.clock.nowMs()
    world.setClockRate('n1', 2)
    await world.runFor(100)
    expect(restarted.clock.nowMs() - monotonicBeforeMs).toBe(200)
    expect(restarted.clock.wallMs()).toBe(WALL_EPOCH_BASE_MS - 54_800)
  })

  it('diskFull_failsWritesWithENOSPC_untilTurnedOff', async () => {
    const world = new World({ seed: 11 })
    const env = world.addNode('n1')
    const file = await settleIn(world, env.disk.open('f', { create: true }))
    world.diskFull('n1', true)
    await expect(settleIn(world, file.append(new Uint8Array(8)))).rejects.toMatchObject({ code: 'ENOSPC' })
    expect(file.size()).toBe(0)
    world.diskFull('n1', false)
    await settleIn(world, file.append(new Uint8Array(8)))
    expect(file.size()).toBe(8)
  })

  it('slowFsync_multipliesSyncLatency_andUndefinedRestoresIt', async () => {
    const world = new World({ seed: 12, disk: { syncLatencyMsMin: 2, syncLatencyMsMax: 2 } })
    const env = world.addNode('n1')
    const file = await settleIn(world, env.disk.open('f', { create: true }))
    const syncMs = async (): Promise<number> => {
      const startMs = world.nowMs()
      await settleIn(world, file.sync())
      return world.nowMs() - startMs
    }
    expect(await syncMs()).toBe(2)
    world.slowFsync('n1', 1000)
    expect(await syncMs()).toBe(2000)
    world.slowFsync('n1', undefined)
    expect(await syncMs()).toBe(2)
    expect(() => world.slowFsync('n1', 0.5)).toThrow(/factor/)
  })

  it('flipStoredBit_hitsADurableByteOfALogSegmentOnly', async () => {
    const world = new World({ seed: 13 })
    const env = world.addNode('n1')
    const segment = 'partitions/t-0/log/00000000000000000000.log'
    expect(world.flipStoredBit('n1', Prng.fromSeed(1))).toBeUndefined()
    await settleIn(world, (async () => {
      await env.disk.mkdirs('partitions/t-0/log')
      for (const path of [segment, 'partitions/t-0/log/00000000000000000000.index', 'cluster.json']) {
        const file = await env.disk.open(path, { create: true })
        await file.append(new Uint8Array(32))
        await file.sync()
      }
      await env.disk.syncDir('partitions/t-0/log')
    })())
    const flip = world.flipStoredBit('n1', Prng.fromSeed(1))
    expect(flip?.path).toBe(segment)
    const stored = world.disk('n1').peekBytes(segment) as Uint8Array
    expect(stored[flip?.offset as number]).toBe(1 << (flip?.bitIndex as number))
    expect(world.disk('n1').peekBytes('cluster.json')).toEqual(new Uint8Array(32))
    expect(world.disk('n1').peekBytes('partitions/t-0/log/00000000000000000000.index')).toEqual(new Uint8Array(32))
  })
})

/** Runs the world until `promise` settles; returns (or rethrows) its outcome. */
async function settleIn<T>(world: World, promise: Promise<T>): Promise<T> {
  let done = false
  promise.then(
    () => (done = true),
    () => (done = true),
  )
  await world.runUntil(() => done, { timeoutMs: 60_000 })
  return promise
}
