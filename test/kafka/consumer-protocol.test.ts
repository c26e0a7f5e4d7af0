import { describe, expect, it } from 'vitest'
import { kafkaBrokerId } from '../../src/kafka/broker-ids.js'
import { decodeAssignment, decodeSubscriptionTopics, encodeAssignment, encodeSubscription } from '../../src/kafka/consumer-protocol.js'

describe('consumer protocol bytes', () => {
  it('encodeSubscription_v0_matchesTheSpecLayout', () => {
    // version 0 | 1 topic | "ab" | userData null
    expect(Buffer.from(encodeSubscription(['ab'])).toString('hex')).toBe('0000' + '00000001' + '0002' + '6162' + 'ffffffff')
  })

  it('decodeSubscriptionTopics_whenV1WithOwnedPartitions_readsTheTopics', () => {
    const v1 = Buffer.concat([Buffer.from(encodeSubscription(['t1', 't2'])), Buffer.from('00000000', 'hex')])
    v1.writeInt16BE(1, 0)
    expect(decodeSubscriptionTopics(v1)).toEqual(['t1', 't2'])
  })

  it('assignment_roundTrips_groupedByTopic', () => {
    const refs = [
      { topic: 'a', partition: 0 },
      { topic: 'a', partition: 2 },
      { topic: 'b', partition: 1 },
    ]
    expect(decodeAssignment(encodeAssignment(refs))).toEqual(refs)
    expect(decodeAssignment(new Uint8Array(0))).toEqual([])
  })

  it('decode_whenTruncated_throwsInvalidRequest', () => {
    const bytes = encodeAssignment([{ topic: 'a', partition: 0 }]).subarray(0, 9)
    expect(() => decodeAssignment(bytes)).toThrow(/truncated/)
    expect(() => decodeSubscriptionTopics(Buffer.from('0000ffffffff', 'hex'))).toThrow(/count -1/)
  })
})

describe('kafkaBrokerId', () => {
  it('isStableNonNegativeAndDistinctForTypicalIds', () => {
    const ids = Array.from({ length: 1000 }, (_, i) => `n${i}`)
    const brokerIds = ids.map(kafkaBrokerId)
    expect(new Set(brokerIds).size).toBe(ids.length)
    for (const id of brokerIds) expect(id >= 0 && id <= 0x7fffffff && Number.isInteger(id)).toBe(true)
    expect(kafkaBrokerId('n1')).toBe(kafkaBrokerId('n1'))
  })
})
