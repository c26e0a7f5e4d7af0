import { afterEach, describe, expect, it } from 'vitest'
import { AddressBook, Cleanup, startNode } from './helpers.js'

const cleanup = new Cleanup()
afterEach(() => cleanup.run())

describe('Transport HTTP on the link port', () => {
  it('getHealth_returns200WithIdentity', async () => {
    const node = await startNode(cleanup, 'n1', new AddressBook())

    const response = await fetch(`http://127.0.0.1:${node.port}/health`)

    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toBe('application/json')
    expect(await response.json()).toEqual({ status: 'ok', nodeId: 'n1', clusterId: 'test-cluster' })
  })

  it('getOtherPath_goesToOnHttpElse404', async () => {
    const node = await startNode(cleanup, 'n1', new AddressBook(), {
      handlers: {
        onHttp: (request) =>
          request.path === '/metrics' ? { status: 200, contentType: 'text/plain', body: 'frames 0\n' } : undefined,
      },
    })

    const metrics = await fetch(`http://127.0.0.1:${node.port}/metrics`)
    const missing = await fetch(`http://127.0.0.1:${node.port}/nope`)

    expect(metrics.status).toBe(200)
    expect(await metrics.text()).toBe('frames 0\n')
    expect(missing.status).toBe(404)
    expect(await missing.json()).toEqual({ error: 'not found' })
  })
})
