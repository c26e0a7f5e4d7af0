import { strict as assert } from 'node:assert'
import { createHash, type Hash } from 'node:crypto'

/**
 * How many recent trace entries are kept in memory by default, to show where two runs of one
 * seed diverged. Small: the digest, not this window, is what proves two runs equal.
 */
export const TRACE_RECENT_ENTRIES_MAX_DEFAULT = 256

export interface TraceEntry {
  readonly timeMs: number
  readonly label: string
}

/**
 * A running SHA-256 over every executed event's (time, label): two runs are event-for-event
 * identical iff their digests match. The run's last line prints `trace=<digestHex()>`.
 */
export class Trace {
  private readonly hash: Hash = createHash('sha256')
  private readonly recent: TraceEntry[] = []
  private recentNextIndex = 0
  private entryCountValue = 0

  constructor(readonly recentEntriesMax: number = TRACE_RECENT_ENTRIES_MAX_DEFAULT) {
    assert.ok(Number.isSafeInteger(recentEntriesMax) && recentEntriesMax >= 0, 'recentEntriesMax must be an integer >= 0')
  }

  record(timeMs: number, label: string): void {
    // A newline cannot occur in a label (asserted), so entries cannot run into each other.
    assert.ok(!label.includes('\n'), 'trace labels must not contain newlines')
    this.hash.update(`${timeMs} ${label}\n`)
    this.entryCountValue++
    if (this.recentEntriesMax === 0) return
    const entry = { timeMs, label }
    if (this.recent.length < this.recentEntriesMax) this.recent.push(entry)
    else this.recent[this.recentNextIndex] = entry
    this.recentNextIndex = (this.recentNextIndex + 1) % this.recentEntriesMax
  }

  get entryCount(): number {
    return this.entryCountValue
  }

  /** Hex digest of everything recorded so far; recording may continue afterwards. */
  digestHex(): string {
    return this.hash.copy().digest('hex')
  }

  /** The last `recentEntriesMax` entries, oldest first. */
  recentEntries(): TraceEntry[] {
    if (this.recent.length < this.recentEntriesMax) return [...this.recent]
    return [...this.recent.slice(this.recentNextIndex), ...this.recent.slice(0, this.recentNextIndex)]
  }
}
