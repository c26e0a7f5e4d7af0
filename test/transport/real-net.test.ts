import { afterEach, describe, expect, it } from 'vitest'
import { type Link, LinkCloseCode, type LinkHandlers, type Listener } from '../../src/env/index.js'
import { RealNet } from '../../src/env/real/index.js'
import { CapturingLogger, Cleanup, RawClient, waitFor } from './helpers.js'

const cleanup = new Cleanup()
afterEach(() => cleanup.run())

const MESSAGE_BYTES_MAX = 1024

/** Everything one link's handlers saw. */
class Recorded {
  opened = 0
  readonly messages: Uint8Array[] = []
  readonly closes: { code: number; reason: string }[] = []
  readonly handlers: LinkHandlers = {
    onOpen: () => this.opened++,
    onMessage: (data) => this.messages.push(data),
    onClose: (code, reason) => this.closes.push({ code, reason }),
  }
}

async function listen(net: RealNet, accepted: Recorded[] = []): Promise<Listener> {
  const listener = await net.listen({
    host: '127.0.0.1',
    port: 0,
    messageBytesMax: MESSAGE_BYTES_MAX,
    onLink: (link) => {
      const rec = new Recorded()
      accepted.push(rec)
      return {
        ...rec.handlers,
        onMessage: (data) => {
          rec.handlers.onMessage(data)
          link.send(data) // echo, so the test sees a round trip
        },
      }
    },
    onHttp: () => ({ status: 200, contentType: 'text/plain', body: 'ok' }),
  })
  cleanup.add(() => listener.close())
  return listener
}

function connect(net: RealNet, address: string): { link: Link; rec: Recorded } {
  const rec = new Recorded()
  const link = net.connect(address, { messageBytesMax: MESSAGE_BYTES_MAX }, rec.handlers)
  cleanup.add(async () => {
    link.close(LinkCloseCode.normal, 'test over')
    await waitFor(() => rec.closes.length > 0, 'link closed')
  })
  return { link, rec }
}

describe('RealNet', () => {
  it('connect_sendAndEcho_callsOnWrittenOnceAndDeliversBinary', async () => {
    const net = new RealNet(new CapturingLogger())
    const listener = await listen(net)
    const { link, rec } = connect(net, `127.0.0.1:${listener.port}`)
    await waitFor(() => rec.opened === 1, 'open')
    let written = 0

    link.send(new Uint8Array([1, 2, 3]), () => written++)
    await waitFor(() => rec.messages.length === 1, 'echo')

    expect(written).toBe(1)
    expect([...(rec.messages[0] ?? [])]).toEqual([1, 2, 3])
    expect(rec.messages[0]).toBeInstanceOf(Uint8Array)
  })

  it('connect_toClosedPort_closesAbnormallyExactlyOnce', async () => {
    const net = new RealNet(new CapturingLogger())
    const { rec } = connect(net, '127.0.0.1:1')

    await waitFor(() => rec.closes.length > 0, 'close')
    await new Promise((resolve) => setTimeout(resolve, 20))

    expect(rec.closes).toEqual([{ code: LinkCloseCode.abnormal, reason: '' }])
    expect(rec.opened).toBe(0)
  })

  it('connect_toUnparseableAddress_closesAbnormallyInsteadOfThrowing', async () => {
    const net = new RealNet(new CapturingLogger())
    const { rec } = connect(net, 'not an address at all')

    await waitFor(() => rec.closes.length > 0, 'close')

    expect(rec.closes[0]?.code).toBe(LinkCloseCode.abnormal)
  })

  it('close_byEitherSide_reportsTheSameCodeOnBothEnds', async () => {
    const net = new RealNet(new CapturingLogger())
    const accepted: Recorded[] = []
    const listener = await listen(net, accepted)
    const { link, rec } = connect(net, `127.0.0.1:${listener.port}`)
    await waitFor(() => rec.opened === 1 && accepted.length === 1, 'open')

    link.close(LinkCloseCode.replaced, 'r'.repeat(300))
    await waitFor(() => rec.closes.length === 1 && accepted[0]?.closes.length === 1, 'both closes')

    expect(rec.closes[0]?.code).toBe(LinkCloseCode.replaced)
    expect(accepted[0]?.closes[0]?.code).toBe(LinkCloseCode.replaced)
    expect(Buffer.byteLength(rec.closes[0]?.reason ?? '')).toBeLessThanOrEqual(123)
  })

  it('oversizedMessage_closes1009WithoutCrashing', async () => {
    const net = new RealNet(new CapturingLogger())
    const accepted: Recorded[] = []
    const listener = await listen(net, accepted)
    const { link, rec } = connect(net, `127.0.0.1:${listener.port}`)
    await waitFor(() => rec.opened === 1, 'open')

    link.send(new Uint8Array(MESSAGE_BYTES_MAX + 1))
    await waitFor(() => rec.closes.length === 1 && accepted[0]?.closes.length === 1, 'both closes')

    expect(accepted[0]?.closes[0]?.code).toBe(LinkCloseCode.messageTooBig)
    expect(rec.closes[0]?.code).toBe(LinkCloseCode.messageTooBig)
    expect(accepted[0]?.messages).toEqual([])
  })

  it('textMessage_closesMalformedFrameAndIsNotDelivered', async () => {
    const log = new CapturingLogger()
    const net = new RealNet(log)
    const accepted: Recorded[] = []
    const listener = await listen(net, accepted)
    const raw = new RawClient(cleanup, listener.port)
    await raw.opened

    raw.send('text')
    const closed = await raw.closed

    expect(closed.code).toBe(LinkCloseCode.malformedFrame)
    expect(accepted[0]?.messages).toEqual([])
    expect(log.warnings().length).toBe(1)
  })

  it('listenerClose_closesAcceptedLinksGoingAway', async () => {
    const net = new RealNet(new CapturingLogger())
    const accepted: Recorded[] = []
    const listener = await listen(net, accepted)
    const { rec } = connect(net, `127.0.0.1:${listener.port}`)
    await waitFor(() => rec.opened === 1 && accepted.length === 1, 'open')

    await listener.close()
    await waitFor(() => rec.closes.length === 1, 'client close')

    expect(accepted[0]?.closes).toEqual([{ code: LinkCloseCode.goingAway, reason: 'listener closing' }])
    expect(rec.closes[0]?.code).toBe(LinkCloseCode.goingAway)
  })

  it('listen_onBusyPort_rejects', async () => {
    const net = new RealNet(new CapturingLogger())
    const first = await listen(net)

    await expect(
      net.listen({
        host: '127.0.0.1',
        port: first.port,
        messageBytesMax: MESSAGE_BYTES_MAX,
        onLink: () => ({ onMessage() {}, onClose() {} }),
        onHttp: () => ({ status: 404, contentType: 'text/plain', body: '' }),
      }),
    ).rejects.toThrow(/EADDRINUSE/)
  })
})
