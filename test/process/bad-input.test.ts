import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { diagActorId } from '../../actors/index.js'
import { LinkCloseCode, silentLogger } from '../../src/env/index.js'
import { createRealEnv } from '../../src/env/real/index.js'
import { type SkeinNode, startNode } from '../../src/node.js'
import { NONCE_BYTES, initiatorProof } from '../../src/transport/index.js'
import { FRAME_BYTES_MAX, FrameType, PROTOCOL_VERSION, type WelcomeFrame, decodeFrame, encodeFrame } from '../../src/wire/index.js'
import { type LogLine, type NodeProcess, PinoLevel, Processes } from '../helpers/processes.js'
import { Cleanup, RawClient } from '../transport/helpers.js'

/**
 * One `skein start` child takes every kind of bad input on raw WebSocket connections; each
 * is refused with its close code and a logged warning, and the child keeps serving.
 */

const CLUSTER_ID = 'bad-input-test'
const CLUSTER_SECRET = 'bad-input-test-secret-0123456789'
const WRONG_SECRET = 'not-the-cluster-secret-9876543210'

const procs = new Processes()
const sockets = new Cleanup()
let server: NodeProcess

beforeAll(async () => {
  server = await procs.start('s', { clusterId: CLUSTER_ID, secret: CLUSTER_SECRET })
})

afterAll(async () => {
  await sockets.run()
  await procs.cleanup()
})

function helloBytes(protocolVersion = PROTOCOL_VERSION): Uint8Array {
  return encodeFrame({ type: FrameType.hello, protocolVersion, clusterId: CLUSTER_ID, nodeId: 'intruder', nonce: randomBytes(NONCE_BYTES) })
}

/** Opens a raw link to the child, lets `act` misbehave on it, and returns how the child closed it. */
async function refusal(act: (raw: RawClient) => Promise<void>): Promise<{ code: number; reason: string; warning: LogLine }> {
  const linesBefore = server.lines.length
  const raw = new RawClient(sockets, server.port)
  await raw.opened
  await act(raw)
  const closed = await raw.closed
  const warning = await server.waitForLine(
    (l) => l.level === PinoLevel.warn && l['code'] === closed.code,
    `a warning with close code ${closed.code}`,
    linesBefore,
  )
  return { ...closed, warning }
}

describe('a real child process refusing bad input', () => {
  it('garbageBytes_closedMalformedFrame_andWarned', async () => {
    const { code, warning } = await refusal(async (raw) => raw.send(Buffer.from([0xc1, 0xc1, 0xc1, 0x00])))
    expect(code).toBe(LinkCloseCode.malformedFrame)
    expect(warning.msg).toBe('closing link: bad input from the other end')
    expect(String(warning['reason'])).toContain('malformed')
  })

  it('frameOverFrameBytesMax_closedMessageTooBig_andWarned', async () => {
    const { code, warning } = await refusal(async (raw) => raw.send(Buffer.alloc(FRAME_BYTES_MAX + 1)))
    expect(code).toBe(LinkCloseCode.messageTooBig)
    expect(warning.msg).toBe('link closed: refused')
  })

  it('helloThenWrongSecretProof_closedAuthenticationFailed_andWarned', async () => {
    const { code, warning } = await refusal(async (raw) => {
      raw.send(helloBytes())
      const welcome = decodeFrame(await raw.nextMessage()) as WelcomeFrame
      expect(welcome.type).toBe(FrameType.welcome)
      expect(welcome.nodeId).toBe('s')
      raw.send(encodeFrame({ type: FrameType.proof, proof: initiatorProof(WRONG_SECRET, welcome.nonce, 'intruder', welcome.nodeId) }))
    })
    expect(code).toBe(LinkCloseCode.authenticationFailed)
    expect(warning.msg).toBe('closing link: bad input from the other end')
    expect(String(warning['reason'])).toContain('proof does not match')
  })

  it('helloWithWrongProtocolVersion_closedVersionMismatch_andWarned', async () => {
    const { code, warning } = await refusal(async (raw) => raw.send(helloBytes(PROTOCOL_VERSION + 1)))
    expect(code).toBe(LinkCloseCode.versionMismatch)
    expect(String(warning['reason'])).toContain('protocol version')
  })

  it('batchBeforeHandshake_closedUnexpectedFrame_andWarned', async () => {
    const envelope = { from: '', origin: 'intruder', to: diagActorId('s', 'intrusion'), kind: 'count', corr: 0, ttlMs: 0, hops: 0, payload: null }
    const { code, warning } = await refusal(async (raw) => raw.send(encodeFrame({ type: FrameType.batch, envelopes: [envelope] })))
    expect(code).toBe(LinkCloseCode.unexpectedFrame)
    expect(String(warning['reason'])).toContain('batch frame')
  })

  it('afterAllBadInput_childStillServesHealthAndPings', async () => {
    const response = await fetch(`http://${server.address}/health`)
    expect(response.status).toBe(200)
    expect(await response.json()).toMatchObject({ status: 'ok', nodeId: 's', clusterId: CLUSTER_ID })

    const dataDir = await procs.tempDir('t')
    const t: SkeinNode = await startNode(createRealEnv({ dataDir, nodeId: 't', log: silentLogger }), {
      nodeId: 't',
      clusterId: CLUSTER_ID,
      clusterSecret: CLUSTER_SECRET,
      host: '127.0.0.1',
      port: 0,
      peers: { s: server.address },
      seeds: [],
    })
    try {
      // s pings t back over the link t dialed: both directions through the child.
      const reply = await t.actors.ask<{ nodeId: string; rttMs: number }>(diagActorId('s'), 'ping', { nodeId: 't' }, { timeoutMs: 5_000 })
      expect(reply.nodeId).toBe('t')
      expect(reply.rttMs).toBeGreaterThanOrEqual(0)
      // The batch sent before any handshake was never delivered.
      const stats = await t.actors.ask<{ count: number }>(diagActorId('s', 'intrusion'), 'stats', null, { timeoutMs: 5_000 })
      expect(stats.count).toBe(0)
    } finally {
      await t.stop()
    }
    expect(server.running).toBe(true)
    expect(server.linesAtLevel(PinoLevel.error)).toEqual([])
  })
})

describe('the skein CLI on bad arguments', () => {
  it('startWithPortNotANumber_exits2WithInvalidRequest', async () => {
    const bare = await procs.runCli(['start', '--port', 'notaport'])
    expect(bare.status).toBe(2)
    expect(bare.stderr).toContain('error[INVALID_REQUEST]')

    // With --id given, it is the port that is refused.
    const withId = await procs.runCli(['start', '--id', 'x', '--port', 'notaport'])
    expect(withId.status).toBe(2)
    expect(withId.stderr).toContain('error[INVALID_REQUEST]')
    expect(withId.stderr).toContain('--port')
  })

  it('unknownCommand_exits2WithInvalidRequest', async () => {
    const result = await procs.runCli(['frobnicate'])
    expect(result.status).toBe(2)
    expect(result.stderr).toContain('error[INVALID_REQUEST]')
    expect(result.stderr).toContain('frobnicate')
  })

  it('help_exits0WithUsage', async () => {
    const result = await procs.runCli(['--help'])
    expect(result.status).toBe(0)
    expect(result.stdout).toContain('Usage: skein')
    expect(result.stderr).toBe('')
  })
})
