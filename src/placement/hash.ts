/**
 * Hashes for placement. Every node must compute the same placement from the same member list,
 * so these functions are part of the cluster protocol: they work on a string's UTF-16 code
 * units (no encoder, no platform byte order), use only 32-bit integer arithmetic
 * (`Math.imul`, shifts), which JavaScript defines exactly, and are pinned by golden vectors in
 * `test/placement/`. Changing any constant here moves actors between nodes in a running
 * cluster whose nodes run different versions, so treat a change like a wire-format change.
 */

/** 32-bit FNV-1a over a string's UTF-16 code units: fast, stable across processes and versions. */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193)
  }
  return hash >>> 0
}

/** A 64-bit hash as two unsigned 32-bit halves (JavaScript has no fast 64-bit integers). */
export interface Hash64 {
  readonly hi: number
  readonly lo: number
}

/** MurmurHash3's 32-bit finalizer: every input bit flips each output bit with probability ~1/2. */
export function fmix32(value: number): number {
  let h = value
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

// MurmurHash3 x86_32 block constants.
const MURMUR_C1 = 0xcc9e2d51
const MURMUR_C2 = 0x1b873593

/** Seeds of the two lanes for keys and for node ids: different, so a key never hashes like a node. */
export const KEY_SEEDS = { hi: 0x9747b28c, lo: 0x2f6b5c1d } as const
export const NODE_SEEDS = { hi: 0x5bd1e995, lo: 0x68e31da4 } as const

/** One MurmurHash3 block step: folds the 32-bit block `k` into the running hash `h`. */
function murmurStep(h: number, k: number): number {
  let block = Math.imul(k, MURMUR_C1)
  block = (block << 15) | (block >>> 17)
  block = Math.imul(block, MURMUR_C2)
  let next = h ^ block
  next = (next << 13) | (next >>> 19)
  return (Math.imul(next, 5) + 0xe6546b64) | 0
}

/** The tail step of MurmurHash3 (a last, partial block: no rotation of `h`). */
function murmurTail(h: number, k: number): number {
  let block = Math.imul(k, MURMUR_C1)
  block = (block << 15) | (block >>> 17)
  return h ^ Math.imul(block, MURMUR_C2)
}

/**
 * A 64-bit hash of `text`: two MurmurHash3 x86_32 lanes over the string's UTF-16 code units
 * (two code units to a 32-bit block), started from different seeds and cross-mixed at the
 * end the way MurmurHash3 x86_128 finalizes its lanes. 64 bits, not 32, so that two keys
 * collide (and so always share a placement) with probability 2^-64 rather than 2^-32.
 */
export function hash64(text: string, seeds: Hash64 = KEY_SEEDS): Hash64 {
  let h1 = seeds.hi | 0
  let h2 = seeds.lo | 0
  const pairEnd = text.length & ~1
  for (let i = 0; i < pairEnd; i += 2) {
    const block = text.charCodeAt(i) | (text.charCodeAt(i + 1) << 16)
    h1 = murmurStep(h1, block)
    h2 = murmurStep(h2, block)
  }
  if (pairEnd < text.length) {
    const last = text.charCodeAt(pairEnd)
    h1 = murmurTail(h1, last)
    h2 = murmurTail(h2, last)
  }
  // Length in bytes of the UTF-16 form, as MurmurHash3 folds in its byte length.
  const lengthBytes = text.length * 2
  h1 ^= lengthBytes
  h2 ^= lengthBytes
  h1 = (h1 + h2) | 0
  h2 = (h2 + h1) | 0
  h1 = fmix32(h1)
  h2 = fmix32(h2)
  h1 = (h1 + h2) | 0
  h2 = (h2 + h1) | 0
  return { hi: h1 >>> 0, lo: h2 >>> 0 }
}

// Odd multipliers for the score's two Feistel rounds (2^32 / golden ratio, and MurmurHash's).
const SCORE_ROUND1 = 0x9e3779b9
const SCORE_ROUND2 = 0x85ebca6b
/** 2^21: the score keeps the 32 bits of one half above the top 21 bits of the other. */
const SCORE_LOW_SCALE = 0x200000

/**
 * The rendezvous weight of a node for a key, from their hashes' halves: an integer below
 * 2^53, so it compares exactly as a double. Hashing the key once and each node once (when
 * the member list changes) makes a lookup cost one key hash plus a few multiplications per
 * node, instead of a hash of `node + key` per node. Halves come as plain numbers, not
 * Hash64 objects, because this runs once per member on every placement miss.
 *
 * XOR joins the two hashes; two Feistel rounds of `fmix32` then mix the 64 bits. Each round is
 * a bijection of one half given the other, so the whole map is a bijection of 64-bit values:
 * it adds no collisions of its own, and each output half depends on every input bit.
 */
export function rendezvousScore(keyHi: number, keyLo: number, nodeHi: number, nodeLo: number): number {
  const left = (keyHi ^ nodeHi) | 0
  const right = (keyLo ^ nodeLo) | 0
  const mixedHi = fmix32((left + Math.imul(right ^ (right >>> 16), SCORE_ROUND1)) | 0)
  const mixedLo = fmix32(right ^ Math.imul(mixedHi ^ (mixedHi >>> 15), SCORE_ROUND2))
  return mixedHi * SCORE_LOW_SCALE + (mixedLo >>> 11)
}
