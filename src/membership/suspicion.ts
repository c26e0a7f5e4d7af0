/**
 * One suspicion timer, as data (the core owns no timers: it compares `deadlineMs` with the
 * time it is given). Lifeguard §IV-B: the timeout starts at `maxMs` and shrinks towards
 * `minMs` as distinct members confirm the suspicion:
 *
 *   timeout(C) = max(minMs, maxMs - (maxMs - minMs) * log(C + 1) / log(K + 1))
 *
 * with C the confirmations so far and K those expected. With K = 0 (small cluster), or with
 * Lifeguard off (`dynamic` false), the timeout is `minMs` from the start and confirmations
 * change nothing.
 */
export class Suspicion {
  readonly startedAtMs: number
  readonly minMs: number
  readonly maxMs: number
  readonly confirmationsExpected: number
  private readonly dynamic: boolean
  /** Who started it, and every member that confirmed it since: each counts once. */
  private readonly suspecters = new Set<string>()
  private deadlineMsValue: number
  private lastProbeStartedAtMs = -Infinity

  constructor(options: {
    fromId: string
    startedAtMs: number
    minMs: number
    maxMs: number
    confirmationsExpected: number
    dynamic: boolean
  }) {
    if (!(options.minMs > 0)) throw new RangeError(`minMs must be > 0, got ${options.minMs}`)
    if (!(options.maxMs >= options.minMs)) throw new RangeError(`maxMs (${options.maxMs}) must be >= minMs (${options.minMs})`)
    if (!Number.isSafeInteger(options.confirmationsExpected) || options.confirmationsExpected < 0) {
      throw new RangeError(`confirmationsExpected must be an integer >= 0, got ${options.confirmationsExpected}`)
    }
    this.startedAtMs = options.startedAtMs
    this.minMs = options.minMs
    this.maxMs = options.maxMs
    this.confirmationsExpected = options.confirmationsExpected
    this.dynamic = options.dynamic
    this.suspecters.add(options.fromId)
    this.deadlineMsValue = this.startedAtMs + this.timeoutMs()
  }

  /** Records that this member started a probe of the suspect at `nowMs`. */
  markProbed(nowMs: number): void {
    this.lastProbeStartedAtMs = Math.max(this.lastProbeStartedAtMs, nowMs)
  }

  /**
   * Whether this member's latest probe of the suspect started no earlier than `windowMs`
   * before the (current) deadline: a last-minute check, made when any refutation has had
   * time to happen. A probe from before the suspicion, or early in it, does not count.
   */
  verifiedWithin(windowMs: number): boolean {
    return this.lastProbeStartedAtMs >= this.deadlineMsValue - windowMs
  }

  /** Distinct members that confirmed, not counting the one that started the suspicion. */
  get confirmations(): number {
    return this.suspecters.size - 1
  }

  get deadlineMs(): number {
    return this.deadlineMsValue
  }

  /**
   * Records that `fromId` suspects the member too. True when this was news that moves the
   * deadline (a new member, before K was reached): worth gossiping on so others count it.
   */
  confirm(fromId: string): boolean {
    if (!this.dynamic || this.confirmations >= this.confirmationsExpected) return false
    if (this.suspecters.has(fromId)) return false
    this.suspecters.add(fromId)
    this.deadlineMsValue = this.startedAtMs + this.timeoutMs()
    return true
  }

  /** The whole timeout for the current confirmation count, counted from the start. */
  timeoutMs(): number {
    if (!this.dynamic || this.confirmationsExpected === 0) return this.minMs
    return suspicionTimeoutMs(this.confirmations, this.confirmationsExpected, this.minMs, this.maxMs)
  }
}

/** Lifeguard's formula, floored to whole milliseconds, never below `minMs`. */
export function suspicionTimeoutMs(confirmations: number, confirmationsExpected: number, minMs: number, maxMs: number): number {
  if (confirmationsExpected <= 0) return minMs
  const fraction = Math.log(confirmations + 1) / Math.log(confirmationsExpected + 1)
  return Math.max(minMs, Math.floor(maxMs - fraction * (maxMs - minMs)))
}
