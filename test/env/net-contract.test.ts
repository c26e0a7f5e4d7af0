import { describe, expect, it } from 'vitest'
import { CLOSE_REASON_BYTES_MAX, truncateCloseReason } from '../../src/env/index.js'

describe('truncateCloseReason', () => {
  it('keeps a reason that fits unchanged', () => {
    expect(truncateCloseReason('bad frame')).toBe('bad frame')
  })

  it('cuts a long reason to the limit, never inside a multi-byte character', () => {
    const reason = 'é'.repeat(100) // 200 bytes of UTF-8
    const cut = truncateCloseReason(reason)
    expect(Buffer.byteLength(cut)).toBeLessThanOrEqual(CLOSE_REASON_BYTES_MAX)
    expect(Buffer.byteLength(cut)).toBeGreaterThan(CLOSE_REASON_BYTES_MAX - 2)
    expect(cut).toBe('é'.repeat(cut.length))
  })
})
