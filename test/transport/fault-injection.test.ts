import { afterEach, describe, expect, it } from 'vitest'
import { HTTP_BODY_BYTES_MAX, type HttpRequest, type HttpResponse } from '../../src/env/net.js'
import { FAULT_LINKS_PATH, faultInjectionRoute, faultInjectionToken, parseBlockRequest } from '../../src/transport/index.js'
import { ErrorCode } from '../../src/wire/index.js'
import { AddressBook, CLUSTER_SECRET, Cleanup, type TestNode, envelope, startNode, waitFor } from './helpers.js'

/**
 * Fault injection in the transport: `blockPeers` cuts a node's links to chosen peers (both
 * directions, dials and handshakes included) and heals them; the /fault/links route drives it
 * over HTTP, behind a token derived from the cluster secret.
 */

const cleanup = new Cleanup()
afterEach(() => cleanup.run())

/** A node whose HTTP port serves the fault route (as node.ts wires it with faultInjection on). */
async function startFaultNode(nodeId: string, book: AddressBook): Promise<TestNode> {
  let route: ((request: HttpRequest) => HttpResponse | undefined) | undefined
  const node = await startNode(cleanup, nodeId, book, { handlers: { onHttp: (request) => route?.(request) } })
  route = faultInjectionRoute(node.transport, { nodeId, clusterSecret: CLUSTER_SECRET }, node.log.child({ component: 'fault-injection' }))
  return node
}

function faultRequest(node: TestNode, init: { method?: string; body?: string; token?: string | null; path?: string } = {}): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  const token = init.token === undefined ? faultInjectionToken(CLUSTER_SECRET) : init.token
  if (token !== null) headers['authorization'] = `Bearer ${token}`
  return fetch(`http://127.0.0.1:${node.port}${init.path ?? FAULT_LINKS_PATH}`, { method: init.method ?? 'POST', headers, body: init.body })
}

describe('Transport.blockPeers', () => {
  it('blockPeers_onLiveLink_closesItBothWays_refusesRedials_otherPeersUnaffected_healDeliversWhatWasQueued', async () => {
    const book = new AddressBook()
    const a = await startNode(cleanup, 'a', book)
    const b = await startNode(cleanup, 'b', book)
    const c = await startNode(cleanup, 'c', book)
    a.transport.send('b', envelope(1))
    a.transport.send('c', envelope(2))
    await waitFor(() => b.receivedFrom('a').length === 1 && c.receivedFrom('a').length === 1, 'links a-b and a-c up')

    a.transport.blockPeers(['b'])
    await waitFor(() => a.peerEvents.includes('down:b') && b.peerEvents.includes('down:a'), 'both ends see the link down')
    a.transport.send('b', envelope(3))
    b.transport.send('a', envelope(4))
    a.transport.send('c', envelope(5))
    await waitFor(() => a.unreachable.includes('b') && b.unreachable.includes('a'), 'dials both ways fail')
    await waitFor(() => c.receivedFrom('a').length === 2, 'a still reaches c')
    // Several redials go by (test backoff is 10-200 ms): none gets through.
    await new Promise((resolve) => setTimeout(resolve, 400))
    expect(b.receivedFrom('a').map((e) => e.corr)).toEqual([1])
    expect(a.receivedFrom('b')).toEqual([])
    expect(a.transport.connectedPeers()).toEqual(['c'])
    expect(a.transport.blockedPeers()).toEqual(['b'])

    a.transport.blockPeers([])
    await waitFor(() => b.receivedFrom('a').length === 2 && a.receivedFrom('b').length === 1, 'queued envelopes delivered after the heal')
    expect(b.receivedFrom('a').map((e) => e.corr)).toEqual([1, 3])
    expect(a.receivedFrom('b').map((e) => e.corr)).toEqual([4])
    expect(a.transport.blockedPeers()).toEqual([])
    // A block is not bad input: nothing was logged as a refusal on the other end, nothing counted as refused.
    expect(b.log.warnings()).toEqual([])
    expect(a.transport.stats().linksRefused + b.transport.stats().linksRefused).toBe(0)
    expect(a.log.warnings().map((w) => w.message)).toEqual(['fault injection: blocked links changed', 'fault injection: blocked links changed'])
  })

  it('blockPeers_beforeAnyLink_refusesTheBlockedPeersHello_andNeverDialsIt', async () => {
    const book = new AddressBook()
    const a = await startNode(cleanup, 'a', book)
    const b = await startNode(cleanup, 'b', book)
    a.transport.blockPeers(['b'])

    b.transport.send('a', envelope(1))
    a.transport.send('b', envelope(2))
    await waitFor(() => b.unreachable.includes('a') && a.unreachable.includes('b'), 'both sides see the other unreachable')

    expect(a.receivedFrom('b')).toEqual([])
    expect(b.receivedFrom('a')).toEqual([])
    expect(b.transport.stats().linksAuthenticated).toBe(0)
    expect(a.transport.stats().linksAuthenticated).toBe(0)
  })

  it('discover_acrossABlock_rejectsNodeUnreachableFromEitherSide', async () => {
    const book = new AddressBook()
    const a = await startNode(cleanup, 'a', book)
    const b = await startNode(cleanup, 'b', book)
    a.transport.blockPeers(['b'])

    await expect(a.transport.discover(`127.0.0.1:${b.port}`)).rejects.toMatchObject({ code: ErrorCode.NODE_UNREACHABLE.code })
    await expect(b.transport.discover(`127.0.0.1:${a.port}`)).rejects.toMatchObject({ code: ErrorCode.NODE_UNREACHABLE.code })
    a.transport.blockPeers([])
    await expect(b.transport.discover(`127.0.0.1:${a.port}`)).resolves.toBe('a')
  })

  it('blockPeers_ownIdOrEmptyId_throws_andChangesNothing', async () => {
    const a = await startNode(cleanup, 'a', new AddressBook())
    a.transport.blockPeers(['x'])

    expect(() => a.transport.blockPeers(['b', 'a'])).toThrow(RangeError)
    expect(() => a.transport.blockPeers([''])).toThrow(RangeError)
    expect(a.transport.blockedPeers()).toEqual(['x'])
  })
})

describe('parseBlockRequest', () => {
  it.each([
    ['not json', 'not valid JSON'],
    ['[]', 'JSON object'],
    ['null', 'JSON object'],
    ['{}', '"block" must be a list'],
    ['{"block": "n2"}', '"block" must be a list'],
    ['{"block": [], "extra": 1}', 'unknown field'],
    ['{"block": [7]}', 'invalid node id'],
    ['{"block": ["has space"]}', 'invalid node id'],
    ['{"block": ["n1"]}', 'own id'],
  ])('parseBlockRequest_%s_isRefusedWithAReason', (body, reason) => {
    expect(parseBlockRequest(body, 'n1')).toContain(reason)
  })

  it('parseBlockRequest_validList_returnsDistinctIds', () => {
    expect(parseBlockRequest('{"block": ["n2", "n3", "n2"]}', 'n1')).toEqual(['n2', 'n3'])
    expect(parseBlockRequest('{"block": []}', 'n1')).toEqual([])
  })
})

describe('the /fault/links route over HTTP', () => {
  it('post_withToken_blocksAndHeals_getReportsTheSet', async () => {
    const book = new AddressBook()
    const a = await startFaultNode('a', book)

    const blocked = await faultRequest(a, { body: JSON.stringify({ block: ['n3', 'n2'] }) })
    expect(blocked.status).toBe(200)
    expect(await blocked.json()).toEqual({ blocked: ['n2', 'n3'] })
    expect(a.transport.blockedPeers()).toEqual(['n2', 'n3'])
    const read = await faultRequest(a, { method: 'GET' })
    expect(await read.json()).toEqual({ blocked: ['n2', 'n3'] })

    const healed = await faultRequest(a, { body: '{"block":[]}' })
    expect(await healed.json()).toEqual({ blocked: [] })
    expect(a.transport.blockedPeers()).toEqual([])
  })

  it.each([
    ['no header', null],
    ['the secret itself', CLUSTER_SECRET],
    ['another secret', faultInjectionToken('some-other-cluster-secret')],
    ['an empty token', ''],
  ])('post_with%s_is401AuthenticationFailed_andChangesNothing', async (_what, token) => {
    const a = await startFaultNode('a', new AddressBook())

    const response = await faultRequest(a, { body: '{"block":["b"]}', token })

    expect(response.status).toBe(401)
    expect(await response.json()).toMatchObject({ error: { code: ErrorCode.AUTHENTICATION_FAILED.code, name: 'AUTHENTICATION_FAILED' } })
    expect(a.transport.blockedPeers()).toEqual([])
    expect(a.log.warnings().map((w) => w.message)).toContain('fault injection: request refused, bad or missing token')
  })

  it('post_withBadBody_is400InvalidRequest_andChangesNothing', async () => {
    const a = await startFaultNode('a', new AddressBook())
    a.transport.blockPeers(['x'])

    for (const body of ['{', '{"block":["b"],"heal":true}', '{"block":[1]}', '{"block":["a"]}', '']) {
      const response = await faultRequest(a, { body })
      expect(response.status, body).toBe(400)
      expect(await response.json()).toMatchObject({ error: { code: ErrorCode.INVALID_REQUEST.code, name: 'INVALID_REQUEST' } })
    }
    expect(a.transport.blockedPeers()).toEqual(['x'])
  })

  it('otherMethod_is405_queryStringIgnored_otherPathsFallThrough', async () => {
    const a = await startFaultNode('a', new AddressBook())

    const put = await faultRequest(a, { method: 'PUT', body: '{"block":[]}' })
    expect(put.status).toBe(405)
    expect(await put.json()).toMatchObject({ error: { code: ErrorCode.INVALID_REQUEST.code } })
    expect((await faultRequest(a, { method: 'GET', path: `${FAULT_LINKS_PATH}?x=1` })).status).toBe(200)
    expect((await faultRequest(a, { method: 'GET', path: '/fault/other' })).status).toBe(404)
    expect((await faultRequest(a, { method: 'GET', path: '/health', token: null })).status).toBe(200)
  })

  it('post_withBodyOverTheLimit_is413_andChangesNothing', async () => {
    const a = await startFaultNode('a', new AddressBook())

    const response = await faultRequest(a, { body: JSON.stringify({ block: ['b'], pad: 'x'.repeat(HTTP_BODY_BYTES_MAX) }) })

    expect(response.status).toBe(413)
    expect(a.transport.blockedPeers()).toEqual([])
  })
})
