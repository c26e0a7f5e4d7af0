import { describe, expect, it } from 'vitest'
import { type Actor, type ActorContext, ActorSystem, type Message, StaticDirectory, replyLater } from '../../src/actor/index.js'
import { ErrorCode, SkeinError } from '../../src/wire/index.js'
import { World, settle } from '../../sim/index.js'

/** Starts each 'work' at once and answers it after its delay: later messages need not wait. */
class Pipelined implements Actor {
  readonly started: number[] = []
  constructor(readonly context: ActorContext) {}
  receive(message: Message): unknown {
    const { id, delayMs, fail } = message.payload as { id: number; delayMs: number; fail?: 'skein' | 'bug' }
    this.started.push(id)
    return replyLater(new Promise((resolve, reject) => {
      this.context.env.clock.setTimer(delayMs, () => {
        if (fail === 'skein') reject(new SkeinError(ErrorCode.INVALID_REQUEST, `refused ${id}`))
        else if (fail === 'bug') reject(new TypeError(`bug ${id}`))
        else resolve({ id, started: [...this.started] })
      })
    }))
  }
}

function node() {
  const world = new World({ seed: 7 })
  const env = world.addNode('n1')
  const system = new ActorSystem(env, { nodeId: 'n1', directory: new StaticDirectory(() => 'n1') })
  let instances = 0
  system.registerKind('p', (context) => {
    instances++
    return new Pipelined(context)
  })
  return { world, system, instances: () => instances }
}

describe('replyLater', () => {
  it('replyLater_slowFirstAsk_laterAsksStartAndAnswerWithoutWaiting', async () => {
    const { world, system } = node()
    const slow = system.ask<{ id: number; started: number[] }>('p/a', 'work', { id: 1, delayMs: 500 })
    const fast = system.ask<{ id: number; started: number[] }>('p/a', 'work', { id: 2, delayMs: 10 })
    const fastAnswer = await settle(world, fast)
    // The second started while the first was still pending, and finished first.
    expect(fastAnswer.started).toEqual([1, 2])
    expect((await settle(world, slow)).id).toBe(1)
  })

  it('replyLater_rejectedWithSkeinError_answersThatError_actorKeepsItsState', async () => {
    const { world, system, instances } = node()
    const refused = system.ask('p/a', 'work', { id: 1, delayMs: 5, fail: 'skein' }).catch((e: unknown) => e)
    expect(await settle(world, refused)).toMatchObject({ code: ErrorCode.INVALID_REQUEST.code })
    const bug = system.ask('p/a', 'work', { id: 2, delayMs: 5, fail: 'bug' }).catch((e: unknown) => e)
    expect(await settle(world, bug)).toMatchObject({ code: ErrorCode.ACTOR_FAILED.code })
    const ok = await settle(world, system.ask<{ started: number[] }>('p/a', 'work', { id: 3, delayMs: 1 }))
    // Not restarted: a deferred failure happens after the actor has moved on.
    expect(ok.started).toEqual([1, 2, 3])
    expect(instances()).toBe(1)
  })
})
