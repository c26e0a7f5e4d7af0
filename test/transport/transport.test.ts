import { afterEach, describe, expect, it } from 'vitest'
import { LinkCloseCode } from '../../src/env/index.js'
import { ErrorCode } from '../../src/wire/index.js'
import { AddressBook, Cleanup, TestNode, envelope, startNode, waitFor } from './helpers.js'

const cleanup = new Cleanup()
afterEach(() => cleanup.run())

describe('Transport between two nodes', () => {
  it('send_bothWays_handshakesAndDeliversInEachDirection', async () => {
    const book = new AddressBook()
    const a = await startNode(cleanup, 'a', book)
    const b = await startNode(cleanup, 'b', book)

    expect(a.transport.send('b', envelope(1, 'from a'))).toBe('queued')
    expect(b.transport.send('a', envelope(2, 'from b'))).toBe('queued')
    await waitFor(() => b.receivedFrom('a').length === 1 && a.receivedFrom('b').length === 1, 'both envelopes')

    expect(b.receivedFrom('a')[0]).toMatchObject({ corr: 1, payload: 'from a' })
    expect(a.receivedFrom('b')[0]).toMatchObject({ corr: 2, payload: 'from b' })
    expect(a.transport.connectedPeers()).toEqual(['b'])
    expect(b.transport.connectedPeers()).toEqual(['a'])
    expect(a.peerEvents).toEqual(['up:b'])
    expect(b.peerEvents).toEqual(['up:a'])
    expect(a.log.warnings()).toEqual([])
    expect(b.log.warnings()).toEqual([])
  })

  it('send_100kEnvelopes_arriveInOrderInFewFrames', async () => {
    const book = new AddressBook()
    const a = await startNode(cleanup, 'a', book)
    const b = await startNode(cleanup, 'b', book)
    const count = 100_000

    for (let i = 1; i <= count; i++) expect(a.transport.send('b', envelope(i, i))).toBe('queued')
    await waitFor(() => b.receivedFrom('a').length === count, `${count} envelopes`)

    const corrs = b.receivedFrom('a').map((e) => e.corr)
    for (let i = 0; i < count; i++) if (corrs[i] !== i + 1) throw new Error(`envelope ${i} has corr ${corrs[i]}`)
    const sent = a.transport.stats()
    expect(sent.envelopesSent).toBe(count)
    expect(sent.framesSent).toBeLessThan(count / 100)
    expect(b.transport.stats().envelopesReceived).toBe(count)
    expect(a.transport.queueDepth('b')).toBe(0)
  })

  it('send_manySmallInOneRun_shareFrames', async () => {
    const book = new AddressBook()
    const a = await startNode(cleanup, 'a', book)
    const b = await startNode(cleanup, 'b', book)
    a.transport.send('b', envelope(0))
    await waitFor(() => b.receivedFrom('a').length === 1, 'link up')
    const framesBefore = a.transport.stats().framesSent

    for (let i = 1; i <= 100; i++) a.transport.send('b', envelope(i))
    await waitFor(() => b.receivedFrom('a').length === 101, '100 more envelopes')

    expect(a.transport.stats().framesSent - framesBefore).toBe(1)
  })

  it('send_batchLargerThanFrameLimit_isSplitAndOversizedEnvelopeIsUndeliverable', async () => {
    const book = new AddressBook()
    const limits = { frameBytesMax: 16 * 1024 }
    const a = await startNode(cleanup, 'a', book, { limits })
    const b = await startNode(cleanup, 'b', book, { limits })
    const kilobyte = 'x'.repeat(1024)

    for (let i = 1; i <= 50; i++) a.transport.send('b', envelope(i, i === 25 ? 'y'.repeat(20 * 1024) : kilobyte))
    await waitFor(() => b.receivedFrom('a').length === 49 && a.undeliverable.length === 1, 'all but the big one')

    expect(b.receivedFrom('a').map((e) => e.corr)).toEqual([...Array(50).keys()].map((i) => i + 1).filter((c) => c !== 25))
    expect(a.undeliverable[0]?.envelopes.map((e) => e.corr)).toEqual([25])
    expect(a.undeliverable[0]?.error.code).toBe(ErrorCode.MESSAGE_TOO_LARGE.code)
    expect(a.transport.stats().framesSent).toBeGreaterThan(2)
  })

  it('send_toUnknownPeer_isUndeliverableAsNodeUnreachable', async () => {
    const a = await startNode(cleanup, 'a', new AddressBook())

    expect(a.transport.send('nowhere', envelope(7))).toBe('queued')
    await waitFor(() => a.undeliverable.length === 1, 'undeliverable report')

    expect(a.undeliverable[0]?.to).toBe('nowhere')
    expect(a.undeliverable[0]?.error.code).toBe(ErrorCode.NODE_UNREACHABLE.code)
    expect(a.transport.queueDepth('nowhere')).toBe(0)
  })

  it('send_toSelf_isUndeliverableAfterSendReturns', async () => {
    const a = await startNode(cleanup, 'a', new AddressBook())

    a.transport.send('a', envelope(1))
    expect(a.undeliverable).toEqual([])
    await waitFor(() => a.undeliverable.length === 1, 'undeliverable report')

    expect(a.undeliverable[0]?.error.code).toBe(ErrorCode.INVALID_REQUEST.code)
  })

  it('send_withDeadline_isStillDeliveredWhenFresh', async () => {
    const book = new AddressBook()
    const a = await startNode(cleanup, 'a', book)
    const b = await startNode(cleanup, 'b', book)

    a.transport.send('b', envelope(1, null, { ttlMs: 60_000 }))
    await waitFor(() => b.receivedFrom('a').length === 1, 'envelope')

    const ttlMs = b.receivedFrom('a')[0]?.ttlMs ?? 0
    expect(ttlMs).toBeGreaterThan(0)
    expect(ttlMs).toBeLessThanOrEqual(60_000)
  })

  it('send_whenQueueFull_isOverloadedUntilWritable', async () => {
    const book = new AddressBook()
    book.addresses.set('b', '127.0.0.1:1') // refused until b starts and the book learns its port
    const a = await startNode(cleanup, 'a', book, { limits: { outboundQueueDepthMax: 10 } })

    for (let i = 1; i <= 10; i++) expect(a.transport.send('b', envelope(i))).toBe('queued')
    expect(a.transport.send('b', envelope(11))).toBe('overloaded')
    expect(a.transport.queueDepth('b')).toBe(10)
    let writable = false
    const waiting = a.transport.whenWritable('b').then(() => (writable = true))
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(writable).toBe(false)

    const b = await startNode(cleanup, 'b', book)
    await waiting
    await waitFor(() => b.receivedFrom('a').length === 10, 'the queued ten')

    expect(b.receivedFrom('a').map((e) => e.corr)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
  })

  it('stop_withQueuedEnvelopes_failsThemAsShuttingDown', async () => {
    const book = new AddressBook()
    book.addresses.set('b', '127.0.0.1:1')
    const a = new TestNode('a', book)
    cleanup.add(() => a.transport.stop())
    await a.transport.start()
    a.transport.send('b', envelope(1))
    a.transport.send('b', envelope(2))

    await a.transport.stop()
    a.transport.send('b', envelope(3))
    await waitFor(() => a.undeliverable.length === 2, 'two reports')

    expect(a.undeliverable.map((u) => u.envelopes.map((e) => e.corr))).toEqual([[1, 2], [3]])
    expect(a.undeliverable.every((u) => u.error.code === ErrorCode.SHUTTING_DOWN.code)).toBe(true)
    expect(a.transport.stats().connectionCount).toBe(0)
  })

  it('peerRestart_onSamePort_reconnectsAndDeliversWhatWasQueued', async () => {
    const book = new AddressBook()
    const a = await startNode(cleanup, 'a', book)
    const b1 = await startNode(cleanup, 'b', book)
    a.transport.send('b', envelope(1))
    await waitFor(() => b1.receivedFrom('a').length === 1, 'first envelope')

    await b1.transport.stop()
    await waitFor(() => a.transport.connectedPeers().length === 0, 'a to notice b is gone')
    for (let i = 2; i <= 5; i++) a.transport.send('b', envelope(i))
    const b2 = await startNode(cleanup, 'b', book, { port: b1.port })
    await waitFor(() => b2.receivedFrom('a').length === 4, 'queued envelopes at the new b')

    expect(b2.port).toBe(b1.port)
    expect(b2.receivedFrom('a').map((e) => e.corr)).toEqual([2, 3, 4, 5])
    expect(a.peerEvents).toEqual(['up:b', 'down:b', 'up:b'])
  })

  it('simultaneousDial_bothSides_leavesExactlyOneLinkDialedBySmallerId', async () => {
    const book = new AddressBook()
    const a = await startNode(cleanup, 'a', book)
    const b = await startNode(cleanup, 'b', book)

    for (let i = 1; i <= 3; i++) {
      a.transport.send('b', envelope(i))
      b.transport.send('a', envelope(i))
    }
    await waitFor(() => a.receivedFrom('b').length === 3 && b.receivedFrom('a').length === 3, 'envelopes both ways')
    await waitFor(
      () => a.transport.stats().connectionCount === 1 && b.transport.stats().connectionCount === 1,
      'the losing link to close',
    )

    // Both really dialed; the link b dialed lost the tie-break (a < b) and was closed.
    expect(a.transport.stats().linksDialed).toBe(1)
    expect(b.transport.stats().linksDialed).toBe(1)
    expect(a.transport.links()).toMatchObject([{ peerNodeId: 'b', role: 'initiator', phase: 'open' }])
    expect(b.transport.links()).toMatchObject([{ peerNodeId: 'a', role: 'acceptor', phase: 'open' }])
    expect(a.receivedFrom('b').map((e) => e.corr)).toEqual([1, 2, 3])
    expect(b.receivedFrom('a').map((e) => e.corr)).toEqual([1, 2, 3])
    expect(a.peerEvents).toEqual(['up:b'])
    expect(b.peerEvents).toEqual(['up:a'])
    // Losing a crossed-dial race says nothing about the peer being unreachable.
    expect(a.unreachable).toEqual([])
    expect(b.unreachable).toEqual([])
  })

  it('dial_toAPeerNobodyListensFor_reportsItUnreachable_keepsTheQueue_andDeliversOnceItIsUp', async () => {
    const book = new AddressBook()
    const a = await startNode(cleanup, 'a', book)
    const gone = await startNode(cleanup, 'b', book)
    await gone.transport.stop() // b's address is now a port nobody listens on

    a.transport.send('b', envelope(1))
    await waitFor(() => a.unreachable.length > 0, 'the refused dial to be reported')

    expect(a.unreachable.every((nodeId) => nodeId === 'b')).toBe(true)
    expect(a.peerEvents).toEqual([]) // never up, so never down either
    expect(a.undeliverable).toEqual([])
    expect(a.transport.queueDepth('b')).toBe(1)
    const b = await startNode(cleanup, 'b', book, { port: gone.port })
    await waitFor(() => b.receivedFrom('a').length === 1, 'the queued envelope at b')
    expect(a.peerEvents).toEqual(['up:b'])
  })

  it('abandonedEnvelope_stillQueuedWhenThePeerComesBack_isNotSent', async () => {
    const book = new AddressBook()
    const a = await startNode(cleanup, 'a', book)
    const gone = await startNode(cleanup, 'b', book)
    await gone.transport.stop()

    const abandoned = envelope(1)
    a.transport.send('b', abandoned)
    a.transport.send('b', envelope(2))
    await waitFor(() => a.unreachable.length > 0, 'the refused dial to be reported')
    // The asker gave up on the first (its ask failed as the peer was unreachable) and may have retried elsewhere.
    abandoned.abandoned = true
    const b = await startNode(cleanup, 'b', book, { port: gone.port })
    await waitFor(() => b.receivedFrom('a').length === 1, 'the envelope still wanted at b')
    expect(b.receivedFrom('a').map((e) => e.corr)).toEqual([2])
    expect(a.transport.stats().envelopesAbandoned).toBe(1)
  })

  it('dial_withWrongClusterSecret_isRefusedOnBothSides', async () => {
    const book = new AddressBook()
    const a = await startNode(cleanup, 'a', book, { secret: 'not the secret' })
    const b = await startNode(cleanup, 'b', book)

    a.transport.send('b', envelope(1))
    await waitFor(() => a.log.warnings().length > 0 && b.log.warnings().length > 0, 'warnings on both nodes')

    expect(a.log.warnings()[0]?.fields).toMatchObject({ peer: 'b', code: LinkCloseCode.authenticationFailed })
    expect(b.log.warnings()[0]?.fields).toMatchObject({ code: LinkCloseCode.authenticationFailed })
    expect(a.transport.connectedPeers()).toEqual([])
    expect(b.receivedFrom('a')).toEqual([])
  })

  it('onEnvelopesThrows_isLoggedAndLaterBatchesStillArrive', async () => {
    const book = new AddressBook()
    const a = await startNode(cleanup, 'a', book)
    const seen: number[] = []
    const b = await startNode(cleanup, 'b', book, {
      handlers: {
        onEnvelopes: (_from, envelopes) => {
          for (const e of envelopes) seen.push(e.corr)
          if (seen.length === 1) throw new Error('bug in the layer above')
        },
      },
    })

    a.transport.send('b', envelope(1))
    await waitFor(() => seen.length === 1, 'first batch')
    a.transport.send('b', envelope(2))
    await waitFor(() => seen.length === 2, 'second batch')

    expect(b.log.errors()).toMatchObject([{ fields: { handler: 'onEnvelopes', peer: 'a' } }])
    expect(b.transport.connectedPeers()).toEqual(['a'])
  })
})
