import { describe, expect, it } from 'vitest'
import { ErrorCode, SkeinError, allErrorSpecs, errorSpecFor, toWireError } from '../../src/wire/index.js'

describe('error table', () => {
  it('has unique codes and names, each name matching its key', () => {
    const specs = allErrorSpecs()
    expect(new Set(specs.map((s) => s.code)).size).toBe(Object.keys(ErrorCode).length)
    for (const [key, spec] of Object.entries(ErrorCode)) expect(spec.name).toBe(key)
  })

  it('keeps Kafka numbers below 1000 and maps skein codes to a Kafka code', () => {
    expect(ErrorCode.NOT_LEADER_OR_FOLLOWER.code).toBe(6)
    expect(ErrorCode.REQUEST_TIMED_OUT.code).toBe(7)
    for (const spec of allErrorSpecs()) {
      if (spec.code < 1000) expect(spec.kafkaCode).toBe(spec.code)
      else expect(spec.kafkaCode).toBeLessThan(1000)
    }
  })

  it('reads an unknown code from a newer peer as UNKNOWN_SERVER_ERROR', () => {
    expect(errorSpecFor(65_000)).toBe(ErrorCode.UNKNOWN_SERVER_ERROR)
  })

  it('carries code and retriable through the wire form', () => {
    const wire = toWireError(new SkeinError(ErrorCode.MAILBOX_FULL, 'full'))
    const back = SkeinError.fromWire(wire.code, wire.message)
    expect(back.errorName).toBe('MAILBOX_FULL')
    expect(back.retriable).toBe(true)
    expect(toWireError(new TypeError('boom'))).toEqual({ code: -1, message: 'boom' })
  })
})
