import { describe, expect, it } from 'vitest'
import { ActorSystem, type EnvelopeSender, StaticDirectory } from '../../src/actor/index.js'
import { type Envelope, ErrorCode, ReplyKind } from '../../src/wire/index.js'
import { World, settle, settleError } from '../../sim/index.js'

/** Records what the runtime hands to the transport; nothing is delivered unless a test says so. */
class FakeSender implements EnvelopeSender {
  readonly sent: { toNodeId: string; envelope: Envelope }[] = []
  send(toNodeId: string, envelope: Envelope): 'queued' {
    this.sent.push({ toNodeId, envelope })
    return 'queued'
  }
  whenWritable(): Promise<void> {
    return Promise.resolve()
  }
  corrSentTo(nodeId: string): number {
    const entry = this.sent.find((s) => s.toNodeId === nodeId)
    if (entry === undefined) throw new Error(`nothing was sent to ${nodeId}`)
    return entry.envelope.corr
  }
}

/** n1's runtime alone; actors named '<node>/...' live on that node (n2, n3 are remote). */
function node1() {
  const world = new World({ seed: 7 })
  const env = world.addNode('n1')
  const system = new ActorSystem(env, { nodeId: 'n1', directory: new StaticDirectory((actorId) => actorId.split('/')[1] ?? 'n1') })
  const sender = new FakeSender()
  system.attachSender(sender)
  return { world, system, sender }
}

const LONG_TIMEOUT_MS = 60_000

describe('ActorSystem: asks fail when the link they went out on goes down', () => {
  it('onPeerDown_failsAsksSentToThatPeer_withRetriableNetworkException_beforeTheirDeadline', async () => {
    const { world, system } = node1()
    const startMs = world.nowMs()
    const ask = system.ask('x/n2/a', 'get', null, { timeoutMs: LONG_TIMEOUT_MS })
    system.peerDown('n2')
    const error = await settleError(world, ask)
    expect(error.code).toBe(ErrorCode.NETWORK_EXCEPTION.code)
    expect(error.retriable).toBe(true)
    expect(world.nowMs() - startMs).toBeLessThan(LONG_TIMEOUT_MS)
    expect(system.stats()).toMatchObject({ asksPending: 0, asksFailedPeerDown: 1, asksTimedOut: 0 })
  })

  it('aFailedAsk_marksItsEnvelopeAbandoned_soACopyStillQueuedIsNotSentLater', async () => {
    const { world, system, sender } = node1()
    const downed = system.ask('x/n2/a', 'commit', null, { timeoutMs: LONG_TIMEOUT_MS })
    const timedOut = system.ask('x/n3/a', 'commit', null, { timeoutMs: 100 })
    const waiting = system.ask('x/n3/b', 'get', null, { timeoutMs: LONG_TIMEOUT_MS })
    system.peerDown('n2')
    await settleError(world, downed)
    await settleError(world, timedOut)
    const envelopeTo = (to: string) => sender.sent.find((s) => s.envelope.to === to)?.envelope
    expect(envelopeTo('x/n2/a')?.abandoned).toBe(true)
    expect(envelopeTo('x/n3/a')?.abandoned).toBe(true)
    expect(envelopeTo('x/n3/b')?.abandoned).toBeUndefined()
    void waiting.catch(() => undefined)
  })

  it('onPeerUnreachable_failsAsksWaitingOnThatPeer_withNodeUnreachable', async () => {
    const { world, system } = node1()
    const ask = system.ask('x/n2/a', 'get', null, { timeoutMs: LONG_TIMEOUT_MS })
    system.peerUnreachable('n2')
    const error = await settleError(world, ask)
    expect(error.code).toBe(ErrorCode.NODE_UNREACHABLE.code)
    expect(error.retriable).toBe(true)
  })

  it('onPeerDown_leavesAsksSentToOtherPeers_waiting', async () => {
    const { world, system, sender } = node1()
    const toN2 = system.ask('x/n2/a', 'get', null, { timeoutMs: LONG_TIMEOUT_MS })
    const toN3 = system.ask('x/n3/a', 'get', null, { timeoutMs: LONG_TIMEOUT_MS })
    system.peerDown('n2')
    expect((await settleError(world, toN2)).code).toBe(ErrorCode.NETWORK_EXCEPTION.code)
    expect(system.stats().asksPending).toBe(1)
    // n3's reply still settles its ask.
    const corr = sender.corrSentTo('n3')
    system.receiveFromPeer('n3', [{ from: 'x/n3/a', origin: 'n3', to: '', kind: ReplyKind.ok, corr, ttlMs: 0, hops: 0, payload: 'from n3' }])
    expect(await settle(world, toN3)).toBe('from n3')
  })

  it('onPeerDownAfterTheReplyArrived_doesNotSettleTheAskAgain', async () => {
    const { world, system, sender } = node1()
    const ask = system.ask('x/n2/a', 'get', null, { timeoutMs: LONG_TIMEOUT_MS })
    const corr = sender.corrSentTo('n2')
    system.receiveFromPeer('n2', [{ from: 'x/n2/a', origin: 'n2', to: '', kind: ReplyKind.ok, corr, ttlMs: 0, hops: 0, payload: 'answer' }])
    system.peerDown('n2')
    system.peerUnreachable('n2')
    expect(await settle(world, ask)).toBe('answer')
    expect(system.stats()).toMatchObject({ asksPending: 0, asksFailedPeerDown: 0 })
  })

  it('onReplyAfterThePeerWentDown_isIgnored', async () => {
    const { world, system, sender } = node1()
    const ask = system.ask('x/n2/a', 'get', null, { timeoutMs: LONG_TIMEOUT_MS })
    const corr = sender.corrSentTo('n2')
    system.peerDown('n2')
    // The request had been queued, not written: it went out on the next link and was answered.
    system.receiveFromPeer('n2', [{ from: 'x/n2/a', origin: 'n2', to: '', kind: ReplyKind.ok, corr, ttlMs: 0, hops: 0, payload: 'late' }])
    expect((await settleError(world, ask)).code).toBe(ErrorCode.NETWORK_EXCEPTION.code)
    expect(system.stats().asksPending).toBe(0)
  })

  it('onPeerDown_leavesLocalAsks_waiting', async () => {
    const { world, system } = node1()
    system.registerKind('x', () => ({ receive: () => new Promise(() => {}) }))
    const local = system.ask('x/n1/a', 'get', null, { timeoutMs: 1_000 })
    system.peerDown('n2')
    system.peerDown('n1')
    expect((await settleError(world, local)).code).toBe(ErrorCode.REQUEST_TIMED_OUT.code)
  })
})
