import { strict as assert } from 'node:assert'
import { createHash } from 'node:crypto'
import type { Random } from '../src/env/random.js'

const UINT32_RANGE = 2 ** 32
const FLOAT_RANGE = 2 ** 53

/**
 * The simulator's randomness: xoshiro128** (fast, 128-bit state, passes BigCrush), keyed by
 * a SHA-256 digest so seeds that differ by one bit give unrelated streams.
 *
 * `fork(label)` derives a child from this stream's *key* and the label, not from its current
 * state, so a child's numbers do not depend on how many numbers the parent (or any sibling)
 * has drawn. Each node's Env, the network, each link and the fault injector get their own
 * fork: adding a draw in one place never perturbs another.
 */
export class Prng implements Random {
  /** Human-readable derivation, e.g. "seed:42/net/link:3", for logs and failure reports. */
  readonly path: string
  private readonly key: Buffer
  private readonly forkedLabels = new Set<string>()
  private s0 = 0
  private s1 = 0
  private s2 = 0
  private s3 = 0

  /** A root stream for `seed`, any safe integer (the number printed by `npm run sim -- --seed N`). */
  static fromSeed(seed: number): Prng {
    assert.ok(Number.isSafeInteger(seed), `seed must be a safe integer, got ${seed}`)
    return new Prng(digest(Buffer.from('skein-sim-seed'), `${seed}`), `seed:${seed}`)
  }

  private constructor(key: Buffer, path: string) {
    assert.equal(key.byteLength, 32)
    this.key = key
    this.path = path
    this.s0 = key.readUInt32LE(0)
    this.s1 = key.readUInt32LE(4)
    this.s2 = key.readUInt32LE(8)
    this.s3 = key.readUInt32LE(12)
    // The all-zero state is xoshiro's one fixed point; a SHA-256 prefix of zeros will not
    // happen, but if it did the stream would be all zeros, so refuse it loudly.
    assert.ok((this.s0 | this.s1 | this.s2 | this.s3) !== 0, 'degenerate all-zero PRNG state')
  }

  /**
   * An independent child stream named `label`. Deterministic in (this stream's key, label);
   * each label may be forked once per parent, because two consumers sharing a stream would
   * draw identical numbers (a restart must fork "n1#2", not "n1" again).
   */
  fork(label: string): Prng {
    assert.ok(!this.forkedLabels.has(label), `label ${JSON.stringify(label)} already forked from ${this.path}`)
    this.forkedLabels.add(label)
    return this.forkUnchecked(label)
  }

  /**
   * `fork` without remembering the label, for callers whose labels are unique by construction
   * (a counter in them) and too many to remember: one per network connection, say.
   */
  forkUnchecked(label: string): Prng {
    assert.ok(label.length > 0, 'fork label must not be empty')
    return new Prng(digest(this.key, label), `${this.path}/${label}`)
  }

  /** The next 32 random bits as an unsigned integer (xoshiro128**). */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0
    const t = this.s1 << 9
    this.s2 ^= this.s0
    this.s3 ^= this.s1
    this.s1 ^= this.s2
    this.s0 ^= this.s3
    this.s2 ^= t
    this.s3 = rotl(this.s3, 11)
    return result
  }

  /** Uniform in [0, 1) with 53 bits of precision. */
  float(): number {
    return this.nextUint53() / FLOAT_RANGE
  }

  /** Uniform integer in [0, maxExclusive), by rejection sampling: no modulo bias at all. */
  int(maxExclusive: number): number {
    // Hot path: test first, build the message only on failure.
    if (!Number.isSafeInteger(maxExclusive)) throw new RangeError(`maxExclusive must be a safe integer, got ${maxExclusive}`)
    if (!(maxExclusive > 0)) throw new RangeError(`maxExclusive must be positive, got ${maxExclusive}`)
    if (maxExclusive <= UINT32_RANGE) {
      // Largest multiple of maxExclusive that fits; draws at or above it are redrawn.
      const limit = UINT32_RANGE - (UINT32_RANGE % maxExclusive)
      for (;;) {
        const x = this.nextUint32()
        if (x < limit) return x % maxExclusive
      }
    }
    const limit = FLOAT_RANGE - (FLOAT_RANGE % maxExclusive)
    for (;;) {
      const x = this.nextUint53()
      if (x < limit) return x % maxExclusive
    }
  }

  bytes(byteCount: number): Uint8Array {
    if (!Number.isSafeInteger(byteCount)) throw new RangeError(`byteCount must be a safe integer, got ${byteCount}`)
    if (byteCount < 0) throw new RangeError(`byteCount must be >= 0, got ${byteCount}`)
    const out = new Uint8Array(byteCount)
    for (let i = 0; i < byteCount; i += 4) {
      let word = this.nextUint32()
      for (let j = i; j < Math.min(i + 4, byteCount); j++) {
        out[j] = word & 0xff
        word >>>= 8
      }
    }
    return out
  }

  /**
   * True with probability `probability` (in [0, 1]). Always draws, even for 0 and 1, so a
   * config change from 0 to 0.01 does not shift every later draw of this stream.
   */
  chance(probability: number): boolean {
    if (!(probability >= 0 && probability <= 1)) throw new RangeError(`probability must be in [0, 1], got ${probability}`)
    return this.float() < probability
  }

  /** Uniform float in [min, max). */
  between(min: number, max: number): number {
    if (!Number.isFinite(min)) throw new RangeError(`min must be finite, got ${min}`)
    if (!Number.isFinite(max)) throw new RangeError(`max must be finite, got ${max}`)
    if (!(min <= max)) throw new RangeError(`min ${min} must be <= max ${max}`)
    return min + (max - min) * this.float()
  }

  /** Exponentially distributed with the given mean (>= 0): memoryless jitter. */
  exponential(mean: number): number {
    if (!(mean >= 0 && Number.isFinite(mean))) throw new RangeError(`mean must be finite and >= 0, got ${mean}`)
    return -mean * Math.log(1 - this.float())
  }

  private nextUint53(): number {
    // 21 high bits from one draw and 32 from the next: every value in [0, 2^53) equally likely.
    return (this.nextUint32() >>> 11) * UINT32_RANGE + this.nextUint32()
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k))
}

function digest(key: Buffer, label: string): Buffer {
  return createHash('sha256').update(key).update('\0').update(label, 'utf8').digest()
}
