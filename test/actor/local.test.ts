import { describe, expect, it } from 'vitest'
import { ErrorCode, SkeinError } from '../../src/wire/index.js'
import { type Actor, type ActorContext, ActorSystem, type Message, StaticDirectory } from '../../src/actor/index.js'
import { World, settle, settleError } from '../../sim/index.js'

/** One node's actor system on a simulated world: no sockets, no real timers. */
function singleNode(seed = 1) {
  const world = new World({ seed })
  const env = world.addNode('n1')
  const system = new ActorSystem(env, { nodeId: 'n1', directory: new StaticDirectory(() => 'n1') })
  return { world, env, system }
}

/** Keeps a running total and a log of the order messages arrived in. */
class Counter implements Actor {
  static instances = 0
  total = 0
  readonly seen: unknown[] = []
  constructor(readonly context: ActorContext) {
    Counter.instances++
  }
  receive(message: Message): unknown {
    switch (message.kind) {
      case 'add':
        this.total += message.payload as number
        this.seen.push(message.payload)
        return this.total
      case 'get':
        return { total: this.total, seen: this.seen }
      case 'boom':
        throw new TypeError('a bug in the handler')
      case 'refuse':
        throw new SkeinError(ErrorCode.INVALID_REQUEST, 'no thanks')
      case 'slow':
        return new Promise((resolve) => this.context.env.clock.setTimer(message.payload as number, () => resolve('slow done')))
      case 'never':
        return new Promise(() => {})
      default:
        throw new SkeinError(ErrorCode.INVALID_REQUEST, `unknown ${message.kind}`)
    }
  }
}

describe('actor runtime on one node', () => {
  it('onTell_thenAsk_handlesMessagesInSendOrder', async () => {
    const { world, system } = singleNode()
    system.registerKind('counter', (ctx) => new Counter(ctx))
    for (let i = 1; i <= 100; i++) expect(system.tell('counter/a', 'add', i)).toBe(true)
    const state = await settle(world, system.ask<{ total: number; seen: number[] }>('counter/a', 'get', null))
    expect(state.total).toBe(5050)
    expect(state.seen).toEqual(Array.from({ length: 100 }, (_, i) => i + 1))
  })

  it('onAsk_toUnknownKind_failsWithActorNotFound', async () => {
    const { world, system } = singleNode()
    const err = await settleError(world, system.ask('nobody/x', 'get', null))
    expect(err.errorName).toBe('ACTOR_NOT_FOUND')
  })

  it('onAsk_whenActorNeverReplies_timesOutAtItsDeadline', async () => {
    const { world, system } = singleNode()
    system.registerKind('counter', (ctx) => new Counter(ctx))
    const started = world.nowMs()
    const err = await settleError(world, system.ask('counter/a', 'never', null, { timeoutMs: 250 }))
    expect(err.errorName).toBe('REQUEST_TIMED_OUT')
    expect(err.retriable).toBe(true)
    expect(world.nowMs() - started).toBe(250)
    expect(system.stats().asksTimedOut).toBe(1)
  })

  it('onAsyncHandler_nextMessageWaitsForIt', async () => {
    const { world, system } = singleNode()
    system.registerKind('counter', (ctx) => new Counter(ctx))
    const slow = system.ask('counter/a', 'slow', 100)
    const after = system.ask<number>('counter/a', 'add', 1)
    expect(await settle(world, slow)).toBe('slow done')
    expect(await settle(world, after)).toBe(1)
  })

  it('onSkeinErrorThrown_answersTheAskWithoutRestarting', async () => {
    const { world, system } = singleNode()
    system.registerKind('counter', (ctx) => new Counter(ctx))
    await settle(world, system.ask('counter/a', 'add', 5))
    const err = await settleError(world, system.ask('counter/a', 'refuse', null))
    expect(err.errorName).toBe('INVALID_REQUEST')
    expect(err.message).toBe('no thanks')
    expect(await settle(world, system.ask('counter/a', 'add', 1))).toBe(6)
    expect(system.stats().restarts).toBe(0)
  })

  it('onHandlerBug_failsTheAsk_logs_andRestartsAFreshInstanceAfterBackoff', async () => {
    const { world, system } = singleNode()
    Counter.instances = 0
    system.registerKind('counter', (ctx) => new Counter(ctx), { restartDelayMsMin: 50 })
    await settle(world, system.ask('counter/a', 'add', 5))
    const failed = system.ask('counter/a', 'boom', null)
    const queuedBehind = system.ask<number>('counter/a', 'add', 1)
    const err = await settleError(world, failed)
    expect(err.errorName).toBe('ACTOR_FAILED')
    expect(world.logs.count('error')).toBe(1)
    const failedAt = world.nowMs()
    // The message queued behind the failure is handled by the new instance, state reset.
    expect(await settle(world, queuedBehind)).toBe(1)
    expect(world.nowMs() - failedAt).toBeGreaterThanOrEqual(50)
    expect(Counter.instances).toBe(2)
    expect(system.stats().restarts).toBe(1)
  })

  it('onRepeatedFailures_backoffDoublesUpToTheCap', async () => {
    const { world, system } = singleNode()
    system.registerKind('counter', (ctx) => new Counter(ctx), { restartDelayMsMin: 10, restartDelayMsMax: 40 })
    const gaps: number[] = []
    let last = world.nowMs()
    for (let i = 0; i < 5; i++) {
      await settleError(world, system.ask('counter/a', 'boom', null))
      gaps.push(world.nowMs() - last)
      last = world.nowMs()
    }
    // The first failure happens at once; each later one waits out the previous restart delay.
    expect(gaps).toEqual([0, 10, 20, 40, 40])
  })

  it('onMailboxFull_asksFailWithMailboxFull_andTellsAreRefused', async () => {
    const { world, system } = singleNode()
    system.registerKind('counter', (ctx) => new Counter(ctx), { mailboxDepthMax: 3 })
    const blocker = system.ask('counter/a', 'slow', 1_000)
    await settle(world, Promise.resolve()) // let the actor start and take the slow message
    const accepted = [1, 2, 3].map((n) => system.ask('counter/a', 'add', n))
    const err = await settleError(world, system.ask('counter/a', 'add', 4))
    expect(err.errorName).toBe('MAILBOX_FULL')
    expect(err.retriable).toBe(true)
    expect(system.tell('counter/a', 'add', 5)).toBe(false)
    await settle(world, blocker)
    expect(await settle(world, Promise.all(accepted))).toEqual([1, 3, 6])
  })

  it('onIdle_passivates_andTheNextMessageStartsItAgain', async () => {
    const { world, system } = singleNode()
    let stops = 0
    system.registerKind(
      'counter',
      (ctx) => {
        const actor = new Counter(ctx)
        return Object.assign(actor, { stop: () => void stops++ })
      },
      { passivateAfterIdleMs: 10_000 },
    )
    await settle(world, system.ask('counter/a', 'add', 7))
    expect(system.localActorIds()).toEqual(['counter/a'])
    await world.runFor(20_000)
    expect(system.localActorIds()).toEqual([])
    expect(stops).toBe(1)
    expect(system.stats().passivated).toBe(1)
    // State was in memory only: a new instance starts from zero.
    expect(await settle(world, system.ask('counter/a', 'add', 1))).toBe(1)
  })

  it('onStop_failsWaitingAsksWithShuttingDown_andRefusesNewWork', async () => {
    const { world, system } = singleNode()
    system.registerKind('counter', (ctx) => new Counter(ctx))
    const waiting = system.ask('counter/a', 'never', null).then(
      () => undefined,
      (err: unknown) => err as SkeinError,
    )
    await settle(world, Promise.resolve())
    await settle(world, system.stop())
    expect((await waiting)?.errorName).toBe('SHUTTING_DOWN')
    expect((await settleError(world, system.ask('counter/a', 'add', 1))).errorName).toBe('SHUTTING_DOWN')
    expect(system.tell('counter/a', 'add', 1)).toBe(false)
  })

  it('onActorTellsAnother_senderIdIsTheActor', async () => {
    const { world, system } = singleNode()
    const froms: string[] = []
    system.registerKind('relay', (ctx) => ({ receive: (m: Message) => void ctx.tell('sink/1', 'got', m.payload) }))
    system.registerKind('sink', () => ({ receive: (m: Message) => void froms.push(m.from) }))
    system.tell('relay/1', 'go', 1)
    await settle(world, Promise.resolve())
    await world.runFor(1)
    expect(froms).toEqual(['relay/1'])
  })
})
