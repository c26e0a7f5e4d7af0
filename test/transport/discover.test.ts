import { afterEach, describe, expect, it } from 'vitest'
import { AddressBook, Cleanup, envelope, startNode, waitFor } from './helpers.js'

const cleanup = new Cleanup()
afterEach(() => cleanup.run())

describe('Transport.discover (dialing a seed by address)', () => {
  it('discover_liveNode_resolvesItsId_closesTheProbe_andSendsByIdDialOnce', async () => {
    const seed = await startNode(cleanup, 'seed', new AddressBook())
    // The joiner's book knows nothing: it only has the seed's address.
    const joinerBook = new AddressBook()
    const joiner = await startNode(cleanup, 'joiner', joinerBook)
    const seedAddress = `127.0.0.1:${seed.port}`

    const id = await joiner.transport.discover(seedAddress)

    expect(id).toBe('seed')
    await waitFor(() => joiner.transport.stats().connectionCount === 0, 'probe link closed')
    expect(joiner.transport.connectedPeers()).toEqual([])
    // What a membership shell does next: record the address, send by id.
    joinerBook.addresses.set('seed', seedAddress)
    expect(joiner.transport.send('seed', envelope(1, 'hello'))).toBe('queued')
    await waitFor(() => seed.receivedFrom('joiner').length === 1, 'envelope over the by-id link')
    // The seed answers over the same link even though it has no address for the joiner.
    expect(seed.transport.send('joiner', envelope(2, 'welcome'))).toBe('queued')
    await waitFor(() => joiner.receivedFrom('seed').length === 1, 'reply over the same link')
    expect(joiner.transport.stats().linksDialed).toBe(2)
    expect(seed.log.warnings()).toEqual([])
  })

  it('discover_ownAddress_resolvesOwnId_andKeepsNoLink', async () => {
    const self = await startNode(cleanup, 'self', new AddressBook())
    expect(await self.transport.discover(`127.0.0.1:${self.port}`)).toBe('self')
    await waitFor(() => self.transport.stats().connectionCount === 0, 'self-links closed')
    expect(self.transport.connectedPeers()).toEqual([])
  })

  it('discover_nothingListening_rejectsWithNodeUnreachable', async () => {
    const lonely = await startNode(cleanup, 'lonely', new AddressBook())
    const other = await startNode(cleanup, 'other', new AddressBook())
    const deadPort = other.port
    await other.transport.stop()
    const err = (await lonely.transport.discover(`127.0.0.1:${deadPort}`).catch((e: unknown) => e)) as { errorName?: string; retriable?: boolean }
    expect(err.errorName).toBe('NODE_UNREACHABLE')
    expect(err.retriable).toBe(true)
  })

  it('discover_nodeWithAnotherSecret_rejects_andTheRefusalIsLogged', async () => {
    const guarded = await startNode(cleanup, 'guarded', new AddressBook(), { secret: 'another-secret-entirely' })
    const stranger = await startNode(cleanup, 'stranger', new AddressBook())
    const err = (await stranger.transport.discover(`127.0.0.1:${guarded.port}`).catch((e: unknown) => e)) as { errorName?: string }
    expect(err.errorName).toBe('NODE_UNREACHABLE')
    await waitFor(() => stranger.log.warnings().length + guarded.log.warnings().length > 0, 'a logged refusal')
    expect(stranger.transport.connectedPeers()).toEqual([])
  })

  it('discover_whenAlreadyLinked_leavesTheExistingLinkAlone', async () => {
    const book = new AddressBook()
    const a = await startNode(cleanup, 'a', book)
    const b = await startNode(cleanup, 'b', book)
    a.transport.send('b', envelope(1))
    await waitFor(() => b.receivedFrom('a').length === 1, 'first link')
    expect(await a.transport.discover(`127.0.0.1:${b.port}`)).toBe('b')
    await waitFor(() => a.transport.stats().connectionCount === 1, 'probe link closed')
    expect(a.transport.stats().linksReplaced).toBe(0)
    expect(a.transport.connectedPeers()).toEqual(['b'])
  })
})
