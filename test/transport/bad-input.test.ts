import { createHmac } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import { LinkCloseCode } from '../../src/env/index.js'
import { NONCE_BYTES, welcomeProof } from '../../src/transport/index.js'
import { FrameType, PROTOCOL_VERSION, decodeFrame, encodeBatch, encodeFrame } from '../../src/wire/index.js'
import {
  AddressBook,
  CLUSTER_ID,
  CLUSTER_SECRET,
  Cleanup,
  RawClient,
  type TestNode,
  envelope,
  startNode,
  waitFor,
} from './helpers.js'

const cleanup = new Cleanup()
afterEach(() => cleanup.run())

const FRAME_BYTES_MAX = 64 * 1024

/** A node under attack and a good peer whose traffic must keep flowing through it. */
async function startPair(): Promise<{ server: TestNode; good: TestNode }> {
  const book = new AddressBook()
  const limits = { frameBytesMax: FRAME_BYTES_MAX, handshakeTimeoutMs: 1_000 }
  const server = await startNode(cleanup, 'server', book, { limits })
  const good = await startNode(cleanup, 'good', book, { limits })
  return { server, good }
}

/** The server still serves its good peer, both ways, after whatever the raw client did. */
async function expectStillServing(server: TestNode, good: TestNode): Promise<void> {
  const before = server.receivedFrom('good').length
  good.transport.send('server', envelope(1000))
  server.transport.send('good', envelope(2000))
  await waitFor(
    () => server.receivedFrom('good').length === before + 1 && good.receivedFrom('server').length > 0,
    'good traffic after bad input',
  )
  expect(server.log.errors()).toEqual([])
}

function warningWithCode(node: TestNode, code: number): Record<string, unknown> | undefined {
  return node.log.warnings().find((w) => w.fields.code === code)?.fields
}

function helloBytes(overrides: { protocolVersion?: number; clusterId?: string; nodeId?: string; nonce?: Uint8Array } = {}): Uint8Array {
  return encodeFrame({
    type: FrameType.hello,
    protocolVersion: overrides.protocolVersion ?? PROTOCOL_VERSION,
    clusterId: overrides.clusterId ?? CLUSTER_ID,
    nodeId: overrides.nodeId ?? 'raw',
    nonce: overrides.nonce ?? new Uint8Array(NONCE_BYTES).fill(7),
  })
}

describe('Transport refusing bad input on an accepted link', () => {
  it('garbageBytes_closesMalformedFrame', async () => {
    const { server, good } = await startPair()
    const raw = new RawClient(cleanup, server.port)
    await raw.opened

    raw.send(Buffer.from([0xc1, 0xc1, 0xc1, 0x00]))
    const closed = await raw.closed

    expect(closed.code).toBe(LinkCloseCode.malformedFrame)
    expect(closed.reason).toContain('malformed')
    await waitFor(() => warningWithCode(server, LinkCloseCode.malformedFrame) !== undefined, 'a warning')
    await expectStillServing(server, good)
  })

  it('textMessage_closesMalformedFrame', async () => {
    const { server, good } = await startPair()
    const raw = new RawClient(cleanup, server.port)
    await raw.opened

    raw.send('hello?')
    const closed = await raw.closed

    expect(closed.code).toBe(LinkCloseCode.malformedFrame)
    await waitFor(() => warningWithCode(server, LinkCloseCode.malformedFrame) !== undefined, 'a warning')
    await expectStillServing(server, good)
  })

  it('messageLargerThanFrameLimit_closesMessageTooBig', async () => {
    const { server, good } = await startPair()
    const raw = new RawClient(cleanup, server.port)
    await raw.opened

    raw.send(new Uint8Array(FRAME_BYTES_MAX + 1))
    const closed = await raw.closed

    expect(closed.code).toBe(LinkCloseCode.messageTooBig)
    await waitFor(() => warningWithCode(server, LinkCloseCode.messageTooBig) !== undefined, 'a warning')
    await expectStillServing(server, good)
  })

  it('proofWithWrongSecret_closesAuthenticationFailed', async () => {
    const { server, good } = await startPair()
    const raw = new RawClient(cleanup, server.port)
    await raw.opened
    const nonce = new Uint8Array(NONCE_BYTES).fill(3)

    raw.send(helloBytes({ nonce }))
    const welcome = decodeFrame(await raw.nextMessage())
    if (welcome.type !== FrameType.welcome) throw new Error(`expected welcome, got frame type ${welcome.type}`)
    // The server proved itself correctly; we answer with a proof made from the wrong secret.
    expect(Buffer.from(welcome.proof)).toEqual(Buffer.from(welcomeProof(CLUSTER_SECRET, nonce, 'server', 'raw')))
    const wrongProof = createHmac('sha256', 'wrong secret').update(welcome.nonce).digest()
    raw.send(encodeFrame({ type: FrameType.proof, proof: wrongProof }))
    const closed = await raw.closed

    expect(closed.code).toBe(LinkCloseCode.authenticationFailed)
    await waitFor(() => warningWithCode(server, LinkCloseCode.authenticationFailed) !== undefined, 'a warning')
    await expectStillServing(server, good)
    expect(server.transport.connectedPeers()).not.toContain('raw')
  })

  it('helloWithWrongClusterId_closesAuthenticationFailed', async () => {
    const { server, good } = await startPair()
    const raw = new RawClient(cleanup, server.port)
    await raw.opened

    raw.send(helloBytes({ clusterId: 'another-cluster' }))
    const closed = await raw.closed

    expect(closed.code).toBe(LinkCloseCode.authenticationFailed)
    await waitFor(() => warningWithCode(server, LinkCloseCode.authenticationFailed) !== undefined, 'a warning')
    await expectStillServing(server, good)
  })

  it('helloWithWrongProtocolVersion_closesVersionMismatchNamingBoth', async () => {
    const { server, good } = await startPair()
    const raw = new RawClient(cleanup, server.port)
    await raw.opened

    raw.send(helloBytes({ protocolVersion: 999 }))
    const closed = await raw.closed

    expect(closed.code).toBe(LinkCloseCode.versionMismatch)
    expect(closed.reason).toContain('999')
    expect(closed.reason).toContain(String(PROTOCOL_VERSION))
    await waitFor(() => warningWithCode(server, LinkCloseCode.versionMismatch) !== undefined, 'a warning')
    await expectStillServing(server, good)
  })

  it('batchBeforeHandshake_closesUnexpectedFrame', async () => {
    const { server, good } = await startPair()
    const raw = new RawClient(cleanup, server.port)
    await raw.opened

    raw.send(encodeBatch([envelope(1)]))
    const closed = await raw.closed

    expect(closed.code).toBe(LinkCloseCode.unexpectedFrame)
    await waitFor(() => warningWithCode(server, LinkCloseCode.unexpectedFrame) !== undefined, 'a warning')
    expect(server.receivedFrom('raw')).toEqual([])
    await expectStillServing(server, good)
  })

  it('batchAfterHelloBeforeProof_closesUnexpectedFrame', async () => {
    const { server, good } = await startPair()
    const raw = new RawClient(cleanup, server.port)
    await raw.opened

    raw.send(helloBytes())
    await raw.nextMessage()
    raw.send(encodeBatch([envelope(1)]))
    const closed = await raw.closed

    expect(closed.code).toBe(LinkCloseCode.unexpectedFrame)
    expect(server.receivedFrom('raw')).toEqual([])
    await expectStillServing(server, good)
  })

  it('silenceAfterConnect_closesHandshakeTimeout', async () => {
    const { server, good } = await startPair()
    const raw = new RawClient(cleanup, server.port)
    await raw.opened

    const closed = await raw.closed

    expect(closed.code).toBe(LinkCloseCode.handshakeTimeout)
    await waitFor(() => warningWithCode(server, LinkCloseCode.handshakeTimeout) !== undefined, 'a warning')
    await expectStillServing(server, good)
  })
})
