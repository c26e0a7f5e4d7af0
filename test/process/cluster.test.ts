import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { diagActorId } from '../../actors/index.js'
import { silentLogger } from '../../src/env/index.js'
import { createRealEnv } from '../../src/env/real/index.js'
import { type SkeinNode, startNode } from '../../src/node.js'
import { type NodeProcess, PinoLevel, Processes, retry } from '../helpers/processes.js'

/**
 * Two `skein start` child processes, a and b, and this test process as a third node t.
 * b is started with `--peers a=<addr>`; a knows no address for b, so a reaches b only over the
 * link b dialed (links carry traffic both ways).
 */

const CLUSTER_ID = 'process-test'
const CLUSTER_SECRET = 'process-test-secret-0123456789'
const TELL_COUNT = 10_000

interface PingReply {
  nodeId: string
  rttMs: number
}

const procs = new Processes()
let a: NodeProcess
let b: NodeProcess
let t: SkeinNode | undefined

beforeEach(async () => {
  const options = { clusterId: CLUSTER_ID, secret: CLUSTER_SECRET }
  a = await procs.start('a', options)
  b = await procs.start('b', { ...options, peers: { a: a.address } })
  t = await startTestNode()
})

afterEach(async () => {
  await t?.stop()
  t = undefined
  await procs.cleanup()
})

async function startTestNode(): Promise<SkeinNode> {
  const dataDir = await procs.tempDir('t')
  return startNode(createRealEnv({ dataDir, nodeId: 't', log: silentLogger }), {
    nodeId: 't',
    clusterId: CLUSTER_ID,
    clusterSecret: CLUSTER_SECRET,
    host: '127.0.0.1',
    port: 0,
    peers: { a: a.address, b: b.address },
    seeds: [],
  })
}

/** Asks node `from`'s diagnostics actor to ping node `to`'s: a round trip between those two. */
function ping(from: string, to: string, pingTimeoutMs = 2_000): Promise<PingReply> {
  const node = t
  if (node === undefined) throw new Error('no test node')
  return node.actors.ask<PingReply>(diagActorId(from), 'ping', { nodeId: to, timeoutMs: pingTimeoutMs }, { timeoutMs: pingTimeoutMs + 1_000 })
}

async function health(node: NodeProcess): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`http://${node.address}/health`)
  return { status: response.status, body: (await response.json()) as Record<string, unknown> }
}

function expectNoErrors(...nodes: NodeProcess[]): void {
  for (const node of nodes) expect(node.linesAtLevel(PinoLevel.error), `errors logged by ${node.id}`).toEqual([])
}

describe('transport with two real processes', () => {
  it('pingBothWays_betweenTheTwoChildren_overOneLink', async () => {
    // b -> a first: b dials a (it has a's address), and a answers b over that link.
    const toA = await ping('b', 'a')
    expect(toA.nodeId).toBe('a')
    expect(toA.rttMs).toBeGreaterThanOrEqual(0)

    const toB = await ping('a', 'b')
    expect(toB.nodeId).toBe('b')
    expect(toB.rttMs).toBeGreaterThanOrEqual(0)

    await b.waitForLine((l) => l.msg === 'link up' && l['peer'] === 'a', 'b: link up to a')
    await a.waitForLine((l) => l.msg === 'link up' && l['peer'] === 'b', 'a: link up to b')
    expectNoErrors(a, b)
  })

  it('tenThousandTells_fromTestNode_allCountedByChild', async () => {
    const node = t as SkeinNode
    const counter = diagActorId('b', 'counter')
    for (let sent = 0; sent < TELL_COUNT; sent++) {
      while (!node.actors.tell(counter, 'count', null)) await node.actors.whenWritable(counter)
    }

    const counted = await retry(
      async () => {
        const stats = await node.actors.ask<{ count: number; nodeId: string }>(counter, 'stats', null, { timeoutMs: 5_000 })
        if (stats.count < TELL_COUNT) throw new Error(`counted ${stats.count} of ${TELL_COUNT} tells`)
        return stats
      },
      10_000,
      50,
    )
    expect(counted).toEqual({ count: TELL_COUNT, nodeId: 'b' })
    expectNoErrors(a, b)
  })

  it('health_onEachChild_answers200WithItsNodeId', async () => {
    for (const node of [a, b]) {
      const { status, body } = await health(node)
      expect(status).toBe(200)
      expect(body).toMatchObject({ status: 'ok', nodeId: node.id, clusterId: CLUSTER_ID })
    }
  })

  it('childKilledAndRestartedOnSamePort_isReachedAgainByTheOther', async () => {
    await ping('b', 'a')
    const port = a.port

    await a.kill()
    // While a is down, b's ping cannot succeed: the test below really needs the restart.
    await expect(ping('b', 'a', 300)).rejects.toThrow()

    a = await procs.restart(a)
    expect(a.port).toBe(port)
    // b redials a with backoff: retry for up to ~15 s.
    const reply = await retry(() => ping('b', 'a', 1_000), 15_000, 50)
    expect(reply.nodeId).toBe('a')
    // The restarted a reaches b over the link b dialed again.
    expect((await ping('a', 'b')).nodeId).toBe('b')
    expect((await health(a)).body['nodeId']).toBe('a')
    expectNoErrors(a, b)
  })
})
