import { describe, expect, it } from 'vitest'
import type { Actor, ActorContext, ActorSystem, Message } from '../../src/actor/index.js'
import { diagActorId } from '../../actors/index.js'
import { SimCluster, fixedDirectory, settle, settleError } from '../../sim/index.js'

/** Answers with the node it runs on, so tests can see where a message was handled. */
class WhereAmI implements Actor {
  constructor(private readonly context: ActorContext) {}
  receive(message: Message): unknown {
    return { nodeId: this.context.nodeId, payload: message.payload, from: message.from }
  }
}

const registerWhere = (system: ActorSystem): void => system.registerKind('where', (ctx) => new WhereAmI(ctx))

describe('actor runtime across simulated nodes (real transport, simulated network)', () => {
  it('onAskToActorOnAnotherNode_repliesFromThatNode', async () => {
    const cluster = await SimCluster.start(['n1', 'n2', 'n3'], {
      hooksFor: () => ({ directory: fixedDirectory({ 'where/x': 'n2' }, 'n3'), registerActors: registerWhere }),
    })
    const reply = await settle(cluster.world, cluster.node('n1').actors.ask('where/x', 'hi', 42))
    expect(reply).toEqual({ nodeId: 'n2', payload: 42, from: '' })
    expect(cluster.node('n2').actors.localActorIds()).toEqual(['where/x'])
    expect(cluster.node('n1').actors.localActorIds()).toEqual([])
  })

  it('onTellsToRemoteActor_arriveInSendOrder', async () => {
    const cluster = await SimCluster.start(['n1', 'n2'])
    const n1 = cluster.node('n1').actors
    const counter = diagActorId('n2', 'counter')
    for (let i = 0; i < 5_000; i++) expect(n1.tell(counter, 'count', null)).toBe(true)
    const stats = await settle(cluster.world, n1.ask<{ count: number; nodeId: string }>(counter, 'stats', null))
    // The stats ask travels behind the tells on the same link, so it sees all of them.
    expect(stats).toEqual({ count: 5_000, nodeId: 'n2' })
  })

  it('onMessageAtNodeThatDoesNotHostTheActor_forwardsIt_andTheReplyGoesStraightBack', async () => {
    // n1 believes where/x is on n2; n2 believes it moved to n3; n3 hosts it.
    const directories: Record<string, Record<string, string>> = {
      n1: { 'where/x': 'n2' },
      n2: { 'where/x': 'n3' },
      n3: { 'where/x': 'n3' },
    }
    const cluster = await SimCluster.start(['n1', 'n2', 'n3'], {
      hooksFor: (nodeId) => ({ directory: fixedDirectory(directories[nodeId] ?? {}, nodeId), registerActors: registerWhere }),
    })
    const reply = await settle(cluster.world, cluster.node('n1').actors.ask<{ nodeId: string }>('where/x', 'hi', 1))
    expect(reply.nodeId).toBe('n3')
    expect(cluster.node('n2').actors.stats().forwarded).toBe(1)
    // n2 hosts its own broker (every node does) but not where/x.
    expect(cluster.node('n2').actors.localActorIds().filter((id) => id.startsWith('where/'))).toEqual([])
    expect(cluster.node('n3').actors.stats().forwarded).toBe(0)
  })

  it('onDirectoriesThatLoop_failsWithForwardLimitExceeded_insteadOfLoopingForever', async () => {
    const directories: Record<string, Record<string, string>> = { n1: { 'where/x': 'n2' }, n2: { 'where/x': 'n1' } }
    const cluster = await SimCluster.start(['n1', 'n2'], {
      hooksFor: (nodeId) => ({ directory: fixedDirectory(directories[nodeId] ?? {}, nodeId), registerActors: registerWhere }),
    })
    const err = await settleError(cluster.world, cluster.node('n1').actors.ask('where/x', 'hi', 1))
    expect(err.errorName).toBe('FORWARD_LIMIT_EXCEEDED')
    expect(err.retriable).toBe(true)
    const forwards = cluster.node('n1').actors.stats().forwarded + cluster.node('n2').actors.stats().forwarded
    expect(forwards).toBe(3)
  })

  it('onPeerCrash_asksTimeOut_andAfterRestartTheSameAskSucceeds', async () => {
    const cluster = await SimCluster.start(['n1', 'n2'])
    const n1 = cluster.node('n1').actors
    const echo = diagActorId('n2', 'echo')
    expect(await settle(cluster.world, n1.ask(echo, 'echo', 'before'))).toBe('before')
    cluster.crash('n2')
    const err = await settleError(cluster.world, n1.ask(echo, 'echo', 'during', { timeoutMs: 1_000 }))
    expect(err.retriable).toBe(true)
    // Written to the dying link (NETWORK_EXCEPTION), or queued and the redial refused (NODE_UNREACHABLE).
    expect(['REQUEST_TIMED_OUT', 'NODE_UNREACHABLE', 'NETWORK_EXCEPTION']).toContain(err.errorName)
    await cluster.boot('n2')
    // The transport redials with backoff; a retried ask gets through once it has.
    let answer: unknown
    for (let attempt = 0; attempt < 30 && answer === undefined; attempt++) {
      answer = await settle(cluster.world, n1.ask(echo, 'echo', 'after', { timeoutMs: 1_000 })).catch(() => undefined)
    }
    expect(answer).toBe('after')
  })

  it('onPeerCrashWhileAnAskWaitsThere_theAskFailsAtOnceWithRetriableNetworkException_othersKeepWaiting', async () => {
    const registerSink = (system: ActorSystem): void => system.registerKind('sink', () => ({ receive: () => new Promise(() => {}) }))
    const cluster = await SimCluster.start(['n1', 'n2', 'n3'], {
      hooksFor: () => ({ directory: fixedDirectory({ 'sink/a': 'n2', 'sink/b': 'n3' }, 'n1'), registerActors: registerSink }),
    })
    const n1 = cluster.node('n1').actors
    const toN2 = n1.ask('sink/a', 'wait', null, { timeoutMs: 60_000 })
    let toN3Settled = false
    n1.ask('sink/b', 'wait', null, { timeoutMs: 60_000 }).then(
      () => (toN3Settled = true),
      () => (toN3Settled = true),
    )
    await cluster.world.runUntil(() => cluster.node('n2').actors.localActorIds().includes('sink/a') && cluster.node('n3').actors.localActorIds().includes('sink/b'))
    const crashedAtMs = cluster.world.nowMs()
    cluster.crash('n2')
    const err = await settleError(cluster.world, toN2)
    expect(err.errorName).toBe('NETWORK_EXCEPTION')
    expect(err.retriable).toBe(true)
    // The RST arrives within a network delay; the ask's own deadline was a minute away.
    expect(cluster.world.nowMs() - crashedAtMs).toBeLessThan(1_000)
    expect(n1.stats().asksFailedPeerDown).toBe(1)
    await cluster.world.runFor(1_000)
    expect(toN3Settled).toBe(false)
  })

  it('onAskToANodeThatCannotBeDialed_failsWithNodeUnreachable_longBeforeItsDeadline', async () => {
    const cluster = await SimCluster.start(['n1', 'n2'])
    const n1 = cluster.node('n1').actors
    const echo = diagActorId('n2', 'echo')
    expect(await settle(cluster.world, n1.ask(echo, 'echo', 'up'))).toBe('up')
    cluster.crash('n2')
    await cluster.world.runFor(100)
    const askedAtMs = cluster.world.nowMs()
    const err = await settleError(cluster.world, n1.ask(echo, 'echo', 'down', { timeoutMs: 60_000 }))
    expect(err.errorName).toBe('NODE_UNREACHABLE')
    expect(err.retriable).toBe(true)
    // At most one reconnect backoff (capped at 1 s) plus a refused connect.
    expect(cluster.world.nowMs() - askedAtMs).toBeLessThan(2_000)
  })

  it('onPartition_asksFail_andAfterHealTheyFlowAgain', async () => {
    const cluster = await SimCluster.start(['n1', 'n2', 'n3'])
    const n1 = cluster.node('n1').actors
    cluster.world.net.partition(['n1'], ['n2', 'n3'])
    const err = await settleError(cluster.world, n1.ask(diagActorId('n3', 'echo'), 'echo', 1, { timeoutMs: 500 }))
    expect(err.errorName).toBe('REQUEST_TIMED_OUT')
    // Same-side traffic is unaffected.
    expect(await settle(cluster.world, cluster.node('n2').actors.ask(diagActorId('n3', 'echo'), 'echo', 2))).toBe(2)
    cluster.world.net.heal()
    let answer: unknown
    for (let attempt = 0; attempt < 30 && answer === undefined; attempt++) {
      answer = await settle(cluster.world, n1.ask(diagActorId('n3', 'echo'), 'echo', 3, { timeoutMs: 1_000 })).catch(() => undefined)
    }
    expect(answer).toBe(3)
  })

  it('onPingBetweenNodes_diagActorReportsTheRoundTrip', async () => {
    const cluster = await SimCluster.start(['n1', 'n2'])
    const reply = await settle(cluster.world, cluster.node('n1').actors.ask<{ nodeId: string; rttMs: number }>(diagActorId('n1'), 'ping', { nodeId: 'n2' }))
    expect(reply.nodeId).toBe('n2')
    expect(reply.rttMs).toBeGreaterThan(0)
  })
})
