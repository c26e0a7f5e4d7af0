import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { readFaultInjectionEnv } from '../../src/cli/start.js'
import { createRealEnv } from '../../src/env/real/index.js'
import { type SkeinNode, startNode } from '../../src/node.js'
import { FAULT_LINKS_PATH, faultInjectionToken } from '../../src/transport/index.js'
import { CapturingLogger } from '../transport/helpers.js'

/** The fault-injection endpoint as the composition root wires it: present only when asked for. */

const SECRET = 'node-fault-test-secret-0123456789'
const running: SkeinNode[] = []
const dirs: string[] = []

afterEach(async () => {
  await Promise.all(running.splice(0).map((node) => node.stop()))
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })))
})

async function start(nodeId: string, faultInjection: boolean): Promise<{ node: SkeinNode; log: CapturingLogger }> {
  const dataDir = await mkdtemp(join(tmpdir(), `skein-fault-${nodeId}-`))
  dirs.push(dataDir)
  const log = new CapturingLogger()
  const env = createRealEnv({ dataDir, nodeId, log })
  const node = await startNode(env, {
    nodeId,
    clusterId: 'fault-test',
    clusterSecret: SECRET,
    host: '127.0.0.1',
    port: 0,
    seeds: [],
    peers: {},
    brokerDisabled: true,
    leaveLingerMs: 0,
    faultInjection,
  })
  running.push(node)
  return { node, log }
}

function post(address: string, body: unknown, token = faultInjectionToken(SECRET)): Promise<Response> {
  return fetch(`http://${address}${FAULT_LINKS_PATH}`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: JSON.stringify(body) })
}

describe('fault injection on a node', () => {
  it('faultInjectionOff_theRouteDoesNotExist_evenWithTheRightToken', async () => {
    const { node } = await start('n1', false)

    const response = await post(node.address, { block: ['n2'] })

    expect(response.status).toBe(404)
    expect(node.transport.blockedPeers()).toEqual([])
  })

  it('faultInjectionOn_postBlocksThroughTheTransport_statusStillServed_andItIsLogged', async () => {
    const { node, log } = await start('n1', true)

    const response = await post(node.address, { block: ['n2'] })
    const status = await fetch(`http://${node.address}/status`)

    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({ blocked: ['n2'] })
    expect(node.transport.blockedPeers()).toEqual(['n2'])
    expect(status.status).toBe(200)
    const warnings = log.warnings().map((w) => w.message)
    expect(warnings.some((m) => m.startsWith('fault injection enabled'))).toBe(true)
    expect(warnings).toContain('fault injection: blocked links changed')
  })

  it('faultInjectionOn_wrongToken_is401', async () => {
    const { node } = await start('n1', true)

    const response = await post(node.address, { block: ['n2'] }, faultInjectionToken('not-the-cluster-secret-at-all'))

    expect(response.status).toBe(401)
    expect(node.transport.blockedPeers()).toEqual([])
  })
})

describe('SKEIN_ENABLE_FAULT_INJECTION', () => {
  it.each([
    [undefined, false],
    ['', false],
    ['0', false],
    ['false', false],
    ['1', true],
    ['true', true],
  ])('readFaultInjectionEnv_%s_is%s', (value, enabled) => {
    expect(readFaultInjectionEnv(value)).toBe(enabled)
  })

  it('readFaultInjectionEnv_otherValue_isAUsageError', () => {
    expect(() => readFaultInjectionEnv('yes')).toThrow(/SKEIN_ENABLE_FAULT_INJECTION/)
  })
})
