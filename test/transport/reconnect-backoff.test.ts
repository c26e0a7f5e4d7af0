import { describe, expect, it } from 'vitest'
import type { Random } from '../../src/env/index.js'
import { DEFAULT_TRANSPORT_LIMITS } from '../../src/transport/index.js'
import { Peer } from '../../src/transport/peer.js'

/** The top of the jitter range every time: the longest delay the backoff can pick. */
const noJitter: Random = { float: () => 0, int: () => 0, bytes: (n) => new Uint8Array(n) }

describe('reconnect backoff', () => {
  it('defaults_doubleFrom100Ms_andCapAt1s_likeKafkasReconnectBackoffMax', () => {
    expect(DEFAULT_TRANSPORT_LIMITS.reconnectDelayMsMin).toBe(100)
    expect(DEFAULT_TRANSPORT_LIMITS.reconnectDelayMsMax).toBe(1_000)
    const peer = new Peer('b', 1)
    const delays = Array.from({ length: 30 }, () => peer.nextReconnectDelayMs(noJitter, DEFAULT_TRANSPORT_LIMITS))
    expect(delays.slice(0, 5)).toEqual([100, 200, 400, 800, 1_000])
    expect(Math.max(...delays)).toBe(1_000)
  })

  it('jitter_onlyShortensTheDelay_toNoLessThanHalf', () => {
    const peer = new Peer('b', 1)
    const almostOne: Random = { ...noJitter, float: () => 0.999_999 }
    for (let i = 0; i < 30; i++) peer.nextReconnectDelayMs(noJitter, DEFAULT_TRANSPORT_LIMITS)
    const delayMs = peer.nextReconnectDelayMs(almostOne, DEFAULT_TRANSPORT_LIMITS)
    expect(delayMs).toBeGreaterThanOrEqual(500)
    expect(delayMs).toBeLessThan(1_000)
  })
})
