import { randomFillSync } from 'node:crypto'
import type { Random } from '../random.js'

/** Bytes drawn from the OS per refill: one syscall serves ~500 float() calls. */
const randomPoolBytes = 4096

/** 2^32 and 2^53, the spans of a 32-bit draw and a float's mantissa-sized draw. */
const twoPow32 = 0x1_0000_0000
const twoPow53 = 2 ** 53

/**
 * Cryptographically strong randomness from node:crypto, buffered: float() and int() are on hot
 * paths (jitter, probe target choice), and a syscall per call would dominate them.
 */
export class RealRandom implements Random {
  private readonly pool: Buffer = Buffer.alloc(randomPoolBytes)
  /** Index of the next unused byte in `pool`; == pool.length means empty. */
  private poolIndex = randomPoolBytes

  float(): number {
    return this.uint53() / twoPow53
  }

  int(maxExclusive: number): number {
    assertMaxExclusive(maxExclusive)
    // Rejection sampling keeps the result exactly uniform: draws in the last partial
    // block of `maxExclusive` values are thrown away.
    if (maxExclusive <= twoPow32) return rejectionSample(maxExclusive, twoPow32, () => this.uint32())
    return rejectionSample(maxExclusive, twoPow53, () => this.uint53())
  }

  bytes(byteCount: number): Uint8Array {
    if (!Number.isSafeInteger(byteCount) || byteCount < 0) {
      throw new RangeError(`byteCount must be a safe integer >= 0, got ${byteCount}`)
    }
    // A fresh copy, so callers may keep or mutate it without aliasing the pool.
    const out = new Uint8Array(byteCount)
    randomFillSync(out)
    return out
  }

  private uint32(): number {
    this.ensurePoolBytes(4)
    const value = this.pool.readUInt32LE(this.poolIndex)
    this.poolIndex += 4
    return value
  }

  /** An integer uniform in [0, 2^53): 21 high bits and 32 low bits. */
  private uint53(): number {
    this.ensurePoolBytes(8)
    const low = this.pool.readUInt32LE(this.poolIndex)
    const high = this.pool.readUInt32LE(this.poolIndex + 4) >>> 11
    this.poolIndex += 8
    return high * twoPow32 + low
  }

  private ensurePoolBytes(byteCount: number): void {
    if (this.poolIndex + byteCount <= this.pool.length) return
    randomFillSync(this.pool)
    this.poolIndex = 0
  }
}

function rejectionSample(maxExclusive: number, span: number, draw: () => number): number {
  const limit = span - (span % maxExclusive)
  for (;;) {
    const value = draw()
    if (value < limit) return value % maxExclusive
  }
}

function assertMaxExclusive(maxExclusive: number): void {
  if (!Number.isSafeInteger(maxExclusive) || maxExclusive <= 0) {
    throw new RangeError(`maxExclusive must be a positive safe integer, got ${maxExclusive}`)
  }
}
