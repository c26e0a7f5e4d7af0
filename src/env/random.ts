/**
 * Randomness, as the rest of skein is allowed to see it. The real one is cryptographically
 * strong; the simulator's is a seeded PRNG, so a seed replays a run exactly.
 */
export interface Random {
  /** A uniformly distributed float in [0, 1). */
  float(): number
  /** A uniformly distributed integer in [0, maxExclusive). `maxExclusive` is a positive safe integer. */
  int(maxExclusive: number): number
  /** `byteCount` uniformly random bytes (nonces, ids). */
  bytes(byteCount: number): Uint8Array
}

/** Fisher-Yates shuffle in place, driven by the given Random. Returns the same array. */
export function shuffle<T>(random: Random, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = random.int(i + 1)
    const tmp = items[i] as T
    items[i] = items[j] as T
    items[j] = tmp
  }
  return items
}

/** A delay drawn uniformly from [delayMs * (1 - jitterRatio), delayMs]: "equal jitter" backoff. */
export function jittered(random: Random, delayMs: number, jitterRatio: number): number {
  if (!(jitterRatio >= 0 && jitterRatio <= 1)) throw new RangeError(`jitterRatio must be in [0, 1], got ${jitterRatio}`)
  return delayMs * (1 - jitterRatio * random.float())
}
