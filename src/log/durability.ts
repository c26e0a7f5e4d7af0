import { strict as assert } from 'node:assert'

interface Waiter {
  readonly endOffset: number
  readonly resolve: () => void
  readonly reject: (error: unknown) => void
}

/** Waiters kept before the consumed head of the queue is compacted away. */
const CONSUMED_WAITERS_COMPACT_AT = 1024

/**
 * Which appends are done, by offset. An append is a waiter on the offset just past its last
 * record; it resolves once the log has reached the promised state for that offset: written
 * (flush=interval/never, `resolveOnWrite`) or fsynced (flush=always). Also tracks the one
 * fsync allowed in flight, which is what makes group commit: every append written while an
 * fsync runs rides on the next one.
 */
export class DurabilityTracker {
  /** Every offset below this is fsynced. */
  durableEnd: number
  syncing = false
  syncCount = 0
  /** Truncations so far: tickets of fsyncs started before the latest one are stale. */
  private truncations = 0
  private completedEnd: number
  private readonly waiters: Waiter[] = []
  private head = 0
  private syncDoneWaiters: Array<() => void> = []

  constructor(
    initialEnd: number,
    private readonly resolveOnWrite: boolean,
  ) {
    this.durableEnd = initialEnd
    this.completedEnd = initialEnd
  }

  /** Resolves when the append ending before `endOffset` is done; offsets must not decrease. */
  waitFor(endOffset: number): Promise<void> {
    const last = this.waiters[this.waiters.length - 1]
    assert.ok(this.head === this.waiters.length || last === undefined || last.endOffset <= endOffset, 'appends complete in offset order')
    if (endOffset <= this.completedEnd) return Promise.resolve()
    return new Promise((resolve, reject) => this.waiters.push({ endOffset, resolve, reject }))
  }

  /** Bytes below `endOffset` reached the OS. */
  markWritten(endOffset: number): void {
    if (this.resolveOnWrite) this.complete(endOffset)
  }

  /** Bytes below `endOffset` are fsynced (by a sync, or by sealing a segment). */
  markDurable(endOffset: number): void {
    this.durableEnd = Math.max(this.durableEnd, endOffset)
    this.complete(endOffset)
  }

  /** Marks an fsync in flight; returns its ticket for syncFinished. */
  syncStarted(): number {
    assert.ok(!this.syncing, 'one fsync in flight at a time')
    this.syncing = true
    return this.truncations
  }

  /**
   * The fsync started (with ticket `sync`) when the log had written up to `endOffset` has
   * returned. One that straddled a truncation proves nothing about the new tail: ignored.
   */
  syncFinished(sync: number, endOffset: number): void {
    this.syncing = false
    this.syncCount++
    if (sync === this.truncations) this.markDurable(endOffset)
    for (const resolve of this.syncDoneWaiters.splice(0)) resolve()
  }

  /** Resolves when the fsync in flight (if any) returns. */
  nextSyncDone(): Promise<void> {
    if (!this.syncing) return Promise.resolve()
    return new Promise((resolve) => this.syncDoneWaiters.push(resolve))
  }

  /** The log was cut to `newEnd` and synced: appends past it are gone, those before are durable. */
  truncated(newEnd: number, error: unknown): void {
    this.truncations++
    const kept: Waiter[] = []
    for (let i = this.head; i < this.waiters.length; i++) {
      const waiter = this.waiters[i] as Waiter
      if (waiter.endOffset <= newEnd) kept.push(waiter)
      else waiter.reject(error)
    }
    this.waiters.length = 0
    this.head = 0
    this.waiters.push(...kept)
    this.durableEnd = newEnd
    this.completedEnd = Math.min(this.completedEnd, newEnd)
    this.complete(newEnd)
  }

  /** Fails every waiting append (the log went offline or closed). */
  rejectAll(error: unknown): void {
    for (let i = this.head; i < this.waiters.length; i++) (this.waiters[i] as Waiter).reject(error)
    this.waiters.length = 0
    this.head = 0
    for (const resolve of this.syncDoneWaiters.splice(0)) resolve()
  }

  private complete(endOffset: number): void {
    if (endOffset > this.completedEnd) this.completedEnd = endOffset
    while (this.head < this.waiters.length) {
      const waiter = this.waiters[this.head] as Waiter
      if (waiter.endOffset > this.completedEnd) break
      this.head++
      waiter.resolve()
    }
    if (this.head === this.waiters.length) {
      this.waiters.length = 0
      this.head = 0
    } else if (this.head >= CONSUMED_WAITERS_COMPACT_AT) {
      this.waiters.splice(0, this.head)
      this.head = 0
    }
  }
}
