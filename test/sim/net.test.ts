import { describe, expect, it } from 'vitest'
import type { Link, LinkHandlers, Net } from '../../src/env/net.js'
import { LinkCloseCode } from '../../src/env/net.js'
import { Prng } from '../../sim/prng.js'
import { Scheduler } from '../../sim/scheduler.js'
import { NET_CONFIG_DEFAULT, SimNet, type NetConfig } from '../../sim/sim-net.js'

const MESSAGE_BYTES_MAX = 1024

/** What one end of a link saw, with virtual times. */
class Recorder implements LinkHandlers {
  opened: number | undefined
  messages: { atMs: number; text: string }[] = []
  closed: { atMs: number; code: number; reason: string } | undefined
  closeCount = 0
  link: Link | undefined

  constructor(private readonly scheduler: Scheduler) {}

  onOpen(): void {
    this.opened = this.scheduler.nowMs()
  }

  onMessage(data: Uint8Array): void {
    this.messages.push({ atMs: this.scheduler.nowMs(), text: new TextDecoder().decode(data) })
  }

  onClose(code: number, reason: string): void {
    this.closeCount++
    this.closed = { atMs: this.scheduler.nowMs(), code, reason }
  }

  texts(): string[] {
    return this.messages.map((message) => message.text)
  }
}

interface Fixture {
  scheduler: Scheduler
  net: SimNet
  n1: Net
  n2: Net
  /** Server-side recorders, in accept order. */
  accepted: Recorder[]
}

async function makeFixture(config: Partial<NetConfig> = {}, seed = 1): Promise<Fixture> {
  const scheduler = new Scheduler()
  const net = new SimNet(scheduler, Prng.fromSeed(seed).fork('net'), { ...NET_CONFIG_DEFAULT, ...config })
  const n1 = net.view('n1')
  const n2 = net.view('n2')
  const accepted: Recorder[] = []
  await n2.listen({
    host: '127.0.0.1',
    port: 7071,
    messageBytesMax: MESSAGE_BYTES_MAX,
    onLink: (link) => {
      const recorder = new Recorder(scheduler)
      recorder.link = link
      accepted.push(recorder)
      return recorder
    },
    onHttp: (request) => ({ status: 200, contentType: 'text/plain', body: `ok ${request.path}` }),
  })
  return { scheduler, net, n1, n2, accepted }
}

function connect(fixture: Fixture, address = 'n2:7071'): { client: Recorder; link: Link } {
  const client = new Recorder(fixture.scheduler)
  const link = fixture.n1.connect(address, { messageBytesMax: MESSAGE_BYTES_MAX }, client)
  client.link = link
  return { client, link }
}

const encode = (text: string): Uint8Array => new TextEncoder().encode(text)

describe('SimNet', () => {
  it('connect_opensTheLink_andDeliversInOrderWithLatency', async () => {
    const fixture = await makeFixture({ latencyMsMin: 1, latencyJitterMsMean: 5, latencyMsMax: 30 })
    const { client, link } = connect(fixture)
    await fixture.scheduler.runUntil(() => client.opened !== undefined)
    expect(client.opened).toBeGreaterThanOrEqual(2) // SYN one way, the open back
    const sentAtMs = fixture.scheduler.nowMs()
    const expected = Array.from({ length: 200 }, (_, i) => `m${i}`)
    for (const text of expected) link.send(encode(text))
    await fixture.scheduler.runFor(1000)
    const server = fixture.accepted[0] as Recorder
    expect(server.texts()).toEqual(expected)
    expect((server.messages[0] as { atMs: number }).atMs).toBeGreaterThanOrEqual(sentAtMs + 1)
    const times = server.messages.map((message) => message.atMs)
    expect(times).toEqual([...times].sort((a, b) => a - b))
    expect(new Set(times).size).toBeGreaterThan(1) // latency varies per message
  })

  it('listen_reportsTheNodeHost_andPortZeroAllocatesDeterministically', async () => {
    const fixture = await makeFixture()
    const options = {
      host: '0.0.0.0',
      port: 0,
      messageBytesMax: 10,
      onLink: () => new Recorder(fixture.scheduler),
      onHttp: () => ({ status: 200, contentType: 'text/plain', body: '' }),
    }
    const first = await fixture.n1.listen(options)
    const second = await fixture.n1.listen(options)
    expect(first.host).toBe('n1')
    expect([first.port, second.port]).toEqual([49152, 49153])
    await expect(fixture.n2.listen({ ...options, port: 7071 })).rejects.toMatchObject({ code: 'EADDRINUSE' })
  })

  it('send_serverToClient_arrivesAfterOnOpen', async () => {
    const fixture = await makeFixture()
    const scheduler = fixture.scheduler
    const order: string[] = []
    const handlers: LinkHandlers = {
      onOpen: () => order.push('open'),
      onMessage: (data) => order.push(new TextDecoder().decode(data)),
      onClose: () => order.push('close'),
    }
    await fixture.n2.listen({
      host: 'n2',
      port: 8000,
      messageBytesMax: 100,
      onLink: (link) => {
        link.send(encode('hello')) // before the client has even heard onOpen
        return { onMessage: () => {}, onClose: () => {} }
      },
      onHttp: () => ({ status: 404, contentType: 'text/plain', body: '' }),
    })
    fixture.n1.connect('n2:8000', { messageBytesMax: 100 }, handlers)
    await scheduler.runFor(100)
    expect(order).toEqual(['open', 'hello'])
  })

  it('send_copiesTheBytes_soTheSenderMayReuseItsBuffer', async () => {
    const fixture = await makeFixture()
    const { client, link } = connect(fixture)
    await fixture.scheduler.runUntil(() => client.opened !== undefined)
    const buffer = encode('aaaa')
    link.send(buffer)
    buffer.set(encode('bbbb'))
    link.send(buffer)
    await fixture.scheduler.runFor(100)
    expect((fixture.accepted[0] as Recorder).texts()).toEqual(['aaaa', 'bbbb'])
  })

  it('send_beforeOpen_isDropped', async () => {
    const fixture = await makeFixture()
    const { client, link } = connect(fixture)
    link.send(encode('too early'))
    await fixture.scheduler.runUntil(() => client.opened !== undefined)
    link.send(encode('ok'))
    await fixture.scheduler.runFor(100)
    expect((fixture.accepted[0] as Recorder).texts()).toEqual(['ok'])
  })

  it('onWritten_firesAfterAPerByteCost_soBackpressureExists', async () => {
    const fixture = await makeFixture({ writeBytesPerMs: 10 })
    const { client, link } = connect(fixture)
    await fixture.scheduler.runUntil(() => client.opened !== undefined)
    const startMs = fixture.scheduler.nowMs()
    const writtenAtMs: number[] = []
    for (let i = 0; i < 3; i++) link.send(new Uint8Array(100), () => writtenAtMs.push(fixture.scheduler.nowMs() - startMs))
    await fixture.scheduler.runFor(100)
    expect(writtenAtMs).toEqual([10, 20, 30])
  })

  it('connect_toNothing_closesWith1006AfterARoundTrip', async () => {
    const fixture = await makeFixture({ latencyMsMin: 2, latencyJitterMsMean: 0 })
    const { client } = connect(fixture, 'n2:9999')
    await fixture.scheduler.runFor(100)
    expect(client.opened).toBeUndefined()
    expect(client.closed).toMatchObject({ atMs: 4, code: LinkCloseCode.abnormal })
  })

  it('partition_stallsThenClosesBothEnds_connectFails_untilHeal', async () => {
    const fixture = await makeFixture({ partitionCloseAfterMs: 1000, connectTimeoutMs: 500 })
    const scheduler = fixture.scheduler
    const { client, link } = connect(fixture)
    await scheduler.runUntil(() => client.opened !== undefined)
    const server = fixture.accepted[0] as Recorder
    fixture.net.partition(['n1'], ['n2'])
    const partitionedAtMs = scheduler.nowMs()
    link.send(encode('stalled'))
    await scheduler.runFor(999)
    expect(server.messages).toEqual([])
    expect(client.closed).toBeUndefined()
    await scheduler.runFor(2)
    expect(client.closed).toMatchObject({ atMs: partitionedAtMs + 1000, code: LinkCloseCode.abnormal })
    expect(server.closed).toMatchObject({ atMs: partitionedAtMs + 1000, code: LinkCloseCode.abnormal })
    expect(server.messages).toEqual([])

    const retry = connect(fixture)
    const retryStartMs = scheduler.nowMs()
    await scheduler.runFor(1000)
    expect(retry.client.opened).toBeUndefined()
    expect(retry.client.closed).toMatchObject({ atMs: retryStartMs + 500, code: LinkCloseCode.abnormal })

    fixture.net.heal()
    const afterHeal = connect(fixture)
    await scheduler.runFor(100)
    expect(afterHeal.client.opened).toBeDefined()
    expect(client.closeCount).toBe(1)
    expect(server.closeCount).toBe(1)
  })

  it('partition_healedBeforeTimeout_resumesWithNothingLost', async () => {
    const fixture = await makeFixture({ partitionCloseAfterMs: 1000 })
    const scheduler = fixture.scheduler
    const { client, link } = connect(fixture)
    await scheduler.runUntil(() => client.opened !== undefined)
    const server = fixture.accepted[0] as Recorder
    link.send(encode('before'))
    fixture.net.partition(['n2'], ['n1'])
    link.send(encode('during'))
    await scheduler.runFor(500)
    expect(server.messages).toEqual([])
    fixture.net.heal()
    link.send(encode('after'))
    await scheduler.runFor(2000)
    expect(server.texts()).toEqual(['before', 'during', 'after'])
    expect(client.closed).toBeUndefined()
  })

  it('partitionOneWay_blocksOneDirection_andTheLinkTimesOut', async () => {
    const fixture = await makeFixture({ partitionCloseAfterMs: 1000 })
    const scheduler = fixture.scheduler
    const { client, link } = connect(fixture)
    await scheduler.runUntil(() => client.opened !== undefined)
    const server = fixture.accepted[0] as Recorder
    fixture.net.partitionOneWay(['n1'], ['n2'])
    link.send(encode('lost'))
    server.link?.send(encode('arrives'))
    await scheduler.runFor(500)
    expect(client.texts()).toEqual(['arrives'])
    expect(server.messages).toEqual([])
    await scheduler.runFor(1000)
    expect(client.closed?.code).toBe(LinkCloseCode.abnormal)
    expect(server.closed?.code).toBe(LinkCloseCode.abnormal)
  })

  it('send_oversized_closesBothEndsWith1009', async () => {
    const fixture = await makeFixture()
    const { client, link } = connect(fixture)
    await fixture.scheduler.runUntil(() => client.opened !== undefined)
    link.send(new Uint8Array(MESSAGE_BYTES_MAX))
    link.send(new Uint8Array(MESSAGE_BYTES_MAX + 1))
    link.send(encode('never'))
    await fixture.scheduler.runFor(100)
    const server = fixture.accepted[0] as Recorder
    expect(server.messages.length).toBe(1)
    expect(server.closed?.code).toBe(LinkCloseCode.messageTooBig)
    expect(client.closed?.code).toBe(LinkCloseCode.messageTooBig)
  })

  it('close_deliversAfterEarlierMessages_withTheSameCode_onceEachEnd', async () => {
    const fixture = await makeFixture()
    const { client, link } = connect(fixture)
    await fixture.scheduler.runUntil(() => client.opened !== undefined)
    link.send(encode('last words'))
    link.close(LinkCloseCode.normal, 'bye')
    link.close(LinkCloseCode.normal, 'again')
    link.send(encode('dropped'))
    await fixture.scheduler.runFor(100)
    const server = fixture.accepted[0] as Recorder
    expect(server.texts()).toEqual(['last words'])
    expect(server.closed).toMatchObject({ code: LinkCloseCode.normal, reason: 'bye' })
    expect(client.closed).toMatchObject({ code: LinkCloseCode.normal, reason: 'bye' })
    expect([client.closeCount, server.closeCount]).toEqual([1, 1])
    expect(fixture.net.connectionCount).toBe(0)
  })

  it('breakProbability_one_breaksTheLinkWith1006', async () => {
    const fixture = await makeFixture()
    const { client, link } = connect(fixture)
    await fixture.scheduler.runUntil(() => client.opened !== undefined)
    fixture.net.setLinkConfig('n1', 'n2', { breakProbability: 1 })
    link.send(encode('x'))
    await fixture.scheduler.runFor(100)
    const server = fixture.accepted[0] as Recorder
    expect(server.messages).toEqual([])
    expect(client.closed?.code).toBe(LinkCloseCode.abnormal)
    expect(server.closed?.code).toBe(LinkCloseCode.abnormal)
  })

  it('crashNode_closesPeersAtOnce_andRemovesItsListeners', async () => {
    const fixture = await makeFixture()
    const { client } = connect(fixture)
    await fixture.scheduler.runUntil(() => client.opened !== undefined)
    const server = fixture.accepted[0] as Recorder
    const crashedAtMs = fixture.scheduler.nowMs()
    fixture.net.crashNode('n2')
    await fixture.scheduler.runFor(100)
    expect(client.closed).toMatchObject({ atMs: crashedAtMs, code: LinkCloseCode.abnormal })
    expect(server.closed).toBeUndefined() // a dead process hears nothing
    expect(fixture.net.listenerAddresses()).toEqual([])
    const again = connect(fixture)
    await fixture.scheduler.runFor(100)
    expect(again.client.closed?.code).toBe(LinkCloseCode.abnormal)
  })

  it('crashNode_ofTheClient_closesTheServerEndAtOnce', async () => {
    const fixture = await makeFixture()
    const { client } = connect(fixture)
    await fixture.scheduler.runUntil(() => client.opened !== undefined)
    const crashedAtMs = fixture.scheduler.nowMs()
    fixture.net.crashNode('n1')
    await fixture.scheduler.runFor(100)
    expect((fixture.accepted[0] as Recorder).closed).toMatchObject({ atMs: crashedAtMs, code: LinkCloseCode.abnormal })
    expect(client.closed).toBeUndefined()
    expect(fixture.net.connectionCount).toBe(0)
  })

  it('close_byTheServer_reachesTheClientAfterItsMessages', async () => {
    const fixture = await makeFixture()
    const { client } = connect(fixture)
    await fixture.scheduler.runUntil(() => client.opened !== undefined)
    const serverLink = (fixture.accepted[0] as Recorder).link as Link
    serverLink.send(encode('one'))
    serverLink.send(encode('two'))
    serverLink.close(LinkCloseCode.replaced, 'newer link')
    await fixture.scheduler.runFor(100)
    expect(client.texts()).toEqual(['one', 'two'])
    expect(client.closed).toMatchObject({ code: LinkCloseCode.replaced, reason: 'newer link' })
    expect((client.closed as { atMs: number }).atMs).toBeGreaterThanOrEqual((client.messages[1] as { atMs: number }).atMs)
  })

  it('listenerClose_closesAcceptedLinksWithGoingAway', async () => {
    const scheduler = new Scheduler()
    const net = new SimNet(scheduler, Prng.fromSeed(1))
    const recorder = new Recorder(scheduler)
    const listener = await net.view('n2').listen({
      host: 'n2',
      port: 1,
      messageBytesMax: 10,
      onLink: () => new Recorder(scheduler),
      onHttp: () => ({ status: 200, contentType: '', body: '' }),
    })
    net.view('n1').connect('n2:1', { messageBytesMax: 10 }, recorder)
    await scheduler.runUntil(() => recorder.opened !== undefined)
    await listener.close()
    await scheduler.runFor(100)
    expect(recorder.closed?.code).toBe(LinkCloseCode.goingAway)
  })

  it('simHttpGet_answersThroughTheListener_orFails', async () => {
    const fixture = await makeFixture({ connectTimeoutMs: 300 })
    const ok = fixture.net.simHttpGet('n2:7071', '/health')
    const refused = fixture.net.simHttpGet('n2:1', '/health')
    void refused.catch(() => {})
    await fixture.scheduler.runFor(50)
    await expect(ok).resolves.toEqual({ status: 200, contentType: 'text/plain', body: 'ok /health' })
    await expect(refused).rejects.toMatchObject({ code: 'ECONNREFUSED' })
    fixture.net.partition(['client'], ['n2'])
    const timedOut = fixture.net.simHttpGet('n2:7071', '/health')
    void timedOut.catch(() => {})
    await fixture.scheduler.runFor(400)
    await expect(timedOut).rejects.toMatchObject({ code: 'ETIMEDOUT' })
  })

  it('sameSeed_sameTrace', async () => {
    const run = async (seed: number): Promise<string> => {
      const fixture = await makeFixture({ latencyJitterMsMean: 3, spikeProbability: 0.1 }, seed)
      const { client, link } = connect(fixture)
      await fixture.scheduler.runUntil(() => client.opened !== undefined)
      for (let i = 0; i < 50; i++) link.send(encode(`m${i}`), () => {})
      await fixture.scheduler.runFor(1000)
      return fixture.scheduler.trace.digestHex()
    }
    expect(await run(5)).toBe(await run(5))
    expect(await run(5)).not.toBe(await run(6))
  })

  it('block_oneWay_thenUnblock_resumesWithNothingLost', async () => {
    const fixture = await makeFixture({ partitionCloseAfterMs: 1000 })
    const scheduler = fixture.scheduler
    const { client, link } = connect(fixture)
    await scheduler.runUntil(() => client.opened !== undefined)
    const server = fixture.accepted[0] as Recorder
    fixture.net.block(['n1'], ['n2'])
    expect(fixture.net.blockedPairs()).toEqual([['n1', 'n2']])
    link.send(encode('held'))
    server.link?.send(encode('flows'))
    await scheduler.runFor(500)
    expect(server.messages).toEqual([])
    expect(client.texts()).toEqual(['flows'])
    fixture.net.unblock(['n1'], ['n2'])
    expect(fixture.net.blockedPairs()).toEqual([])
    await scheduler.runFor(2000)
    expect(server.texts()).toEqual(['held'])
    expect(client.closed).toBeUndefined()
    expect(() => fixture.net.block(['n1', 'n2'], ['n2'])).toThrow(/both sides/)
  })

  it('bridge_cutsTheSidesBothWays_butNotTheBridge', async () => {
    const fixture = await makeFixture()
    fixture.net.bridge(['n1', 'n4'], ['n2'], 'n3')
    expect(fixture.net.blockedPairs()).toEqual([
      ['n1', 'n2'],
      ['n2', 'n1'],
      ['n2', 'n4'],
      ['n4', 'n2'],
    ])
    for (const side of ['n1', 'n2', 'n4']) {
      expect(fixture.net.isBlocked('n3', side)).toBe(false)
      expect(fixture.net.isBlocked(side, 'n3')).toBe(false)
    }
    // The bridge really talks to the side the others cannot reach.
    const viaBridge = fixture.net.simHttpGet('n2:7071', '/x', { fromHost: 'n3' })
    await fixture.scheduler.runFor(50)
    await expect(viaBridge).resolves.toMatchObject({ status: 200 })
    expect(() => fixture.net.bridge(['n1'], ['n2', 'n3'], 'n3')).toThrow(/neither side/)
  })

  it('isolateFrom_cutsTheClientsOnly_peersStillReachTheNode', async () => {
    const fixture = await makeFixture({ connectTimeoutMs: 300 })
    fixture.net.isolateFrom(['n2'], ['client', 'client2'])
    const fromClient = fixture.net.simHttpGet('n2:7071', '/x')
    void fromClient.catch(() => {})
    const fromPeer = fixture.net.simHttpGet('n2:7071', '/x', { fromHost: 'n1' })
    await fixture.scheduler.runFor(400)
    await expect(fromClient).rejects.toMatchObject({ code: 'ETIMEDOUT' })
    await expect(fromPeer).resolves.toMatchObject({ status: 200 })
    expect(fixture.net.isBlocked('n2', 'client2')).toBe(true)
  })

  it('clog_stallsPastPartitionCloseAfterMs_closesNothing_thenFloodsInOrder', async () => {
    const fixture = await makeFixture({ partitionCloseAfterMs: 100 })
    const scheduler = fixture.scheduler
    const { client, link } = connect(fixture)
    await scheduler.runUntil(() => client.opened !== undefined)
    const server = fixture.accepted[0] as Recorder
    fixture.net.clog('n1', 'n2', 1000)
    const clearsAtMs = scheduler.nowMs() + 1000
    expect(fixture.net.isClogged('n1', 'n2')).toBe(true)
    for (let i = 0; i < 5; i++) {
      link.send(encode(`m${i}`))
      await scheduler.runFor(100)
    }
    server.link?.send(encode('other way'))
    await scheduler.runFor(400)
    expect(server.messages).toEqual([])
    expect(client.texts()).toEqual(['other way'])
    expect(client.closed).toBeUndefined()
    expect(server.closed).toBeUndefined()
    await scheduler.runFor(600)
    expect(fixture.net.isClogged('n1', 'n2')).toBe(false)
    expect(server.texts()).toEqual(['m0', 'm1', 'm2', 'm3', 'm4'])
    const arrivals = new Set(server.messages.map((message) => message.atMs))
    expect(arrivals.size).toBe(1) // all at once
    expect([...arrivals][0]).toBeGreaterThan(clearsAtMs)
    expect([...arrivals][0]).toBeLessThanOrEqual(clearsAtMs + NET_CONFIG_DEFAULT.latencyMsMax)
  })

  it('clog_extends_neverShortens_andHealClearsIt', async () => {
    const fixture = await makeFixture()
    const scheduler = fixture.scheduler
    const { client, link } = connect(fixture)
    await scheduler.runUntil(() => client.opened !== undefined)
    const server = fixture.accepted[0] as Recorder
    fixture.net.clog('n1', 'n2', 500)
    fixture.net.clog('n1', 'n2', 100) // shorter: ignored
    link.send(encode('a'))
    await scheduler.runFor(200)
    expect(server.messages).toEqual([])
    fixture.net.clog('n1', 'n2', 5000)
    await scheduler.runFor(1000)
    expect(server.messages).toEqual([])
    fixture.net.heal()
    await scheduler.runFor(10)
    expect(server.texts()).toEqual(['a'])
    expect(() => fixture.net.clog('n1', 'n2', 0)).toThrow(/durationMs/)
  })

  it('clog_aConnect_opensWhenItClears_orTimesOutIfItOutlastsTheConnectTimeout', async () => {
    const fixture = await makeFixture({ connectTimeoutMs: 1000 })
    const scheduler = fixture.scheduler
    fixture.net.clog('n1', 'n2', 300)
    const short = connect(fixture)
    await scheduler.runFor(299)
    expect(short.client.opened).toBeUndefined()
    await scheduler.runFor(100)
    expect(short.client.opened).toBeGreaterThan(300)
    expect(short.client.closed).toBeUndefined()

    fixture.net.clog('n1', 'n2', 5000)
    const startedAtMs = scheduler.nowMs()
    const long = connect(fixture)
    await scheduler.runFor(2000)
    expect(long.client.opened).toBeUndefined()
    expect(long.client.closed).toMatchObject({ atMs: startedAtMs + 1000, code: LinkCloseCode.abnormal })
    expect(short.client.closed).toBeUndefined() // the open link only stalls
  })
})
