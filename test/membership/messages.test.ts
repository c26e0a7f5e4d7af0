import { describe, expect, it } from 'vitest'
import { MEMBER_ID_LENGTH_MAX, parseSwimMessage, type SwimMessage } from '../../src/membership/index.js'

const gossip = [
  { state: 'alive', id: 'a', incarnation: 1, address: 'a:1', zone: 'z1' },
  { state: 'suspect', id: 'b', incarnation: 2, from: 'a' },
  { state: 'dead', id: 'c', incarnation: 3, from: 'a' },
  { state: 'left', id: 'd', incarnation: 4 },
] as const

const valid: SwimMessage[] = [
  { type: 'ping', seq: 1, targetId: 'b', fromAddress: 'a:1', fromIncarnation: 2, gossip: [...gossip] },
  { type: 'ping-req', seq: 2, targetId: 'c', targetAddress: 'c:1', fromAddress: 'a:1', gossip: [] },
  { type: 'ack', seq: 3, incarnation: 4, gossip: [] },
  { type: 'nack', seq: 4, gossip: [] },
  { type: 'push-pull', isResponse: false, isJoin: true, fromAddress: 'a:1', members: [{ id: 'a', address: 'a:1', zone: '', incarnation: 0, state: 'alive' }], gossip: [] },
  { type: 'gossip', gossip: [...gossip] },
]

describe('parseSwimMessage', () => {
  it.each(valid)('parse_valid_$type_roundTrips', (message) => {
    expect(parseSwimMessage(structuredClone(message))).toEqual(message)
  })

  it('parse_dropsUnknownFields', () => {
    const parsed = parseSwimMessage({ type: 'nack', seq: 1, gossip: [], extra: 'x', __proto__: { polluted: true } })
    expect(parsed).toEqual({ type: 'nack', seq: 1, gossip: [] })
  })

  const garbage: [string, unknown][] = [
    ['null', null],
    ['a number', 42],
    ['a string', 'ping'],
    ['an array', ['ping', 1]],
    ['an unknown type', { type: 'hello', gossip: [] }],
    ['no gossip', { type: 'nack', seq: 1 }],
    ['gossip not an array', { type: 'nack', seq: 1, gossip: {} }],
    ['negative seq', { type: 'nack', seq: -1, gossip: [] }],
    ['fractional seq', { type: 'nack', seq: 1.5, gossip: [] }],
    ['NaN seq', { type: 'nack', seq: Number.NaN, gossip: [] }],
    ['seq as string', { type: 'nack', seq: '1', gossip: [] }],
    ['ping without target', { type: 'ping', seq: 1, fromAddress: 'a', fromIncarnation: 0, gossip: [] }],
    ['ping without fromIncarnation', { type: 'ping', seq: 1, targetId: 'b', fromAddress: 'a', gossip: [] }],
    ['empty target id', { type: 'ping', seq: 1, targetId: '', fromAddress: 'a', fromIncarnation: 0, gossip: [] }],
    ['over-long target id', { type: 'ping', seq: 1, targetId: 'x'.repeat(MEMBER_ID_LENGTH_MAX + 1), fromAddress: 'a', fromIncarnation: 0, gossip: [] }],
    ['ack with a huge incarnation', { type: 'ack', seq: 1, incarnation: Number.MAX_SAFE_INTEGER, gossip: [] }],
    ['update with unknown state', { type: 'gossip', gossip: [{ state: 'zombie', id: 'a', incarnation: 0 }] }],
    ['alive update without address', { type: 'gossip', gossip: [{ state: 'alive', id: 'a', incarnation: 0, zone: '' }] }],
    ['suspect update without from', { type: 'gossip', gossip: [{ state: 'suspect', id: 'a', incarnation: 0 }] }],
    ['too many updates', { type: 'gossip', gossip: Array.from({ length: 257 }, () => gossip[3]) }],
    ['push-pull member with bad state', { type: 'push-pull', isResponse: true, isJoin: false, fromAddress: 'a', members: [{ id: 'a', address: 'a', zone: '', incarnation: 0, state: 'x' }], gossip: [] }],
    ['push-pull flags not boolean', { type: 'push-pull', isResponse: 1, isJoin: false, fromAddress: 'a', members: [], gossip: [] }],
  ]

  it.each(garbage)('parse_garbage_%s_returnsUndefined', (_name, value) => {
    expect(parseSwimMessage(value)).toBeUndefined()
  })
})
