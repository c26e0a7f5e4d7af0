/**
 * Lifeguard §IV-A, local health awareness: a score of how much this member trusts its own
 * timeliness. Missed nacks, failed probes and having to refute a suspicion about oneself
 * raise it; successful probes lower it. Probe interval and probe timeout are stretched by
 * (score + 1), so a member that is itself slow (CPU starved, lossy NIC) probes less often
 * and waits longer before it accuses anyone.
 */
export class Awareness {
  /** The score stays in [0, scoreLimit - 1]. */
  readonly scoreLimit: number
  private scoreValue = 0

  constructor(scoreLimit: number) {
    if (!Number.isSafeInteger(scoreLimit) || scoreLimit < 1) throw new RangeError(`scoreLimit must be a positive integer, got ${scoreLimit}`)
    this.scoreLimit = scoreLimit
  }

  get score(): number {
    return this.scoreValue
  }

  /** Adds `delta` (any sign), clamped to [0, scoreLimit - 1]. Returns the new score. */
  applyDelta(delta: number): number {
    if (!Number.isSafeInteger(delta)) throw new RangeError(`delta must be an integer, got ${delta}`)
    this.scoreValue = Math.min(this.scoreLimit - 1, Math.max(0, this.scoreValue + delta))
    return this.scoreValue
  }

  /** `durationMs` stretched by (score + 1). */
  scale(durationMs: number): number {
    return durationMs * (this.scoreValue + 1)
  }
}
