import { strict as assert } from 'node:assert'
import { EventHeap } from './event-heap.js'
import { Trace } from './trace.js'

/**
 * Default cap on events processed by one `runUntil`/`runFor` call. A run that hits it is
 * livelocked (an event storm at one instant) or far longer than any scenario we write; the
 * caller sees `stopReason: 'eventsMax'` instead of a hung test.
 */
export const RUN_EVENTS_MAX_DEFAULT = 10_000_000

/**
 * Cancelled events stay in the heap until popped (cancel is O(1)); once they are more than
 * this fraction of it, the heap is rebuilt, so timers that are reset over and over (election
 * timeouts, deadlines) cannot grow it without bound.
 */
const CANCELLED_FRACTION_COMPACT = 0.5
/** Below this many entries a compaction is not worth the rebuild. */
const COMPACT_HEAP_SIZE_MIN = 1024
/**
 * Cap on the events one held owner may accumulate (a paused node's due timers, disk
 * completions and one pump per inbound link). A pause that piles up more is a storm
 * aimed at a stalled node: fail loudly rather than grow without bound.
 */
export const HELD_EVENTS_MAX = 1_000_000

export interface EventHandle {
  /** Stops the event from firing. Harmless after it fired or was cancelled. */
  cancel(): void
}

interface ScheduledEvent {
  atMs: number
  sequence: number
  readonly label: string
  /** The node whose code the event runs (its timers, disk completions, inbound deliveries); held while that node is. */
  readonly owner: string | undefined
  fn: (() => void) | undefined
  /** Taken out of the heap into its owner's hold, waiting for `release`. */
  held: boolean
}

export const StopReason = {
  /** The predicate became true. */
  condition: 'condition',
  /** Virtual time reached the target (runFor, runUntil a time, or a timeout). */
  time: 'time',
  /** No events are left. */
  idle: 'idle',
  /** The events budget ran out. */
  eventsMax: 'eventsMax',
} as const
export type StopReason = (typeof StopReason)[keyof typeof StopReason]

export interface RunResult {
  readonly stopReason: StopReason
  readonly eventsProcessed: number
  readonly nowMs: number
}

export interface RunOptions {
  /** Stop (with stopReason 'time') once this much virtual time has passed. */
  timeoutMs?: number
  /** Stop after this many events (default RUN_EVENTS_MAX_DEFAULT). */
  eventsMax?: number
}

/**
 * Virtual time and the one event queue of a simulated world. Events run in (time, insertion
 * sequence) order, so ties break by insertion order and a run is fully determined by its
 * inputs.
 *
 * The code under test is async. After each event's callback the scheduler waits for a
 * macrotask boundary (setImmediate), by which point every promise chain the event started has
 * run as far as it can: the chain settles at the event's virtual time, before the next event.
 * Nothing else does real I/O during a simulation, so this is deterministic.
 *
 * Events may name an owner (a node id). `hold(owner)` stops that owner's events from running
 * (a paused process): each one is set aside, in order, when it comes due; `release(owner)`
 * puts them back at the current time, in the same order, behind what is already queued for it.
 */
export class Scheduler {
  readonly trace: Trace
  private readonly heap = new EventHeap<ScheduledEvent>()
  private nowMsValue = 0
  private sequenceNext = 0
  private cancelledCount = 0
  private eventsProcessedValue = 0
  private stepping = false
  /** Owners whose events are held, and what is held for each, in due order. */
  private readonly holds = new Map<string, ScheduledEvent[]>()
  /** Held events not cancelled. */
  private heldLiveCount = 0

  constructor(options: { traceRecentEntriesMax?: number } = {}) {
    this.trace = new Trace(options.traceRecentEntriesMax)
  }

  nowMs(): number {
    return this.nowMsValue
  }

  /** Events executed so far (cancelled ones are not counted). */
  get eventsProcessed(): number {
    return this.eventsProcessedValue
  }

  /** Events scheduled and not yet run or cancelled. */
  get pendingCount(): number {
    return this.heap.size - this.cancelledCount + this.heldLiveCount
  }

  /**
   * Runs `fn` at virtual time `atMs` (>= now). `label` goes into the trace: keep it
   * deterministic. `owner` (a node id) makes the event wait while that owner is held.
   */
  schedule(atMs: number, label: string, fn: () => void, owner?: string): EventHandle {
    // Hot path: test first, build the message only on failure.
    if (!Number.isFinite(atMs)) throw new RangeError(`atMs must be finite, got ${atMs}`)
    if (atMs < this.nowMsValue) throw new RangeError(`cannot schedule in the past: ${atMs} < ${this.nowMsValue}`)
    const event: ScheduledEvent = { atMs, sequence: this.sequenceNext++, label, owner, fn, held: false }
    this.heap.push(event)
    return { cancel: () => this.cancel(event) }
  }

  /** Runs `fn` `delayMs` (>= 0) from now (see `schedule` for `owner`). */
  scheduleAfter(delayMs: number, label: string, fn: () => void, owner?: string): EventHandle {
    if (!(delayMs >= 0)) throw new RangeError(`delayMs must be >= 0, got ${delayMs}`)
    let atMs = this.nowMsValue + delayMs
    // A positive delay below the resolution of `now` (a clock's rounding residue, 1e-12 ms)
    // still moves time on, by the smallest step: else code that re-arms a timer until its
    // clock reads the deadline spins forever at one instant.
    if (delayMs > 0 && atMs === this.nowMsValue) atMs = this.nowMsValue + Number.EPSILON * Math.max(1, Math.abs(this.nowMsValue))
    return this.schedule(atMs, label, fn, owner)
  }

  /**
   * From now on `owner`'s events do not run: each is set aside when it comes due (in the
   * order it would have run) until `release(owner)`. Events not yet due stay where they are.
   */
  hold(owner: string): void {
    assert.ok(!this.holds.has(owner), `${owner} is already held`)
    this.holds.set(owner, [])
  }

  /**
   * Ends `hold(owner)`: what was set aside and is due runs now, in its original order, after
   * every event already queued for this instant; what was set aside before it was due keeps
   * its place.
   */
  release(owner: string): void {
    const held = this.holds.get(owner)
    assert.ok(held !== undefined, `${owner} is not held`)
    this.holds.delete(owner)
    for (const event of held) {
      if (event.fn === undefined) continue // cancelled while held
      event.held = false
      // One a run only looked at (not due yet) goes back exactly where it was.
      if (event.atMs <= this.nowMsValue) {
        event.atMs = this.nowMsValue
        event.sequence = this.sequenceNext++
      }
      this.heldLiveCount--
      this.heap.push(event)
    }
  }

  isHeld(owner: string): boolean {
    return this.holds.has(owner)
  }

  /**
   * Events of `owner` set aside by its hold and not cancelled (0 when not held): those that
   * came due, and possibly the next ones a run looked at to find where to stop (which keep
   * their own time on release).
   */
  heldEventCount(owner: string): number {
    let count = 0
    for (const event of this.holds.get(owner) ?? []) if (event.fn !== undefined) count++
    return count
  }

  /** Time of the next live event, or undefined when idle. */
  peekTimeMs(): number | undefined {
    this.skipUnrunnableHead()
    return this.heap.peek()?.atMs
  }

  /**
   * Runs the next event and lets its promise chains settle. Returns false when idle. A callback
   * that throws is a bug in the code under test: the error propagates (the event is consumed).
   */
  async step(): Promise<boolean> {
    assert.ok(!this.stepping, 'Scheduler.step is not re-entrant (an event callback, or a second concurrent run, called it)')
    this.skipUnrunnableHead()
    const event = this.heap.pop()
    if (event === undefined) return false
    const fn = event.fn
    assert.ok(fn !== undefined)
    event.fn = undefined
    this.nowMsValue = event.atMs
    this.eventsProcessedValue++
    this.trace.record(event.atMs, event.label)
    // Held through the settle too, so two runs started concurrently fail loudly.
    this.stepping = true
    try {
      fn()
    } finally {
      await settle()
      this.stepping = false
    }
    return true
  }

  /**
   * Runs events until `condition` holds (checked before the first event and after each one),
   * or, given a number, until that virtual time (events at exactly that time run too, and the
   * clock then rests there).
   */
  async runUntil(condition: (() => boolean) | number, options: RunOptions = {}): Promise<RunResult> {
    const eventsMax = options.eventsMax ?? RUN_EVENTS_MAX_DEFAULT
    assert.ok(Number.isSafeInteger(eventsMax) && eventsMax >= 0, `eventsMax must be an integer >= 0, got ${eventsMax}`)
    const deadlineMs = this.deadlineMs(condition, options.timeoutMs)
    const predicate = typeof condition === 'number' ? undefined : condition
    const eventsAtStart = this.eventsProcessedValue
    const result = (stopReason: StopReason): RunResult => ({
      stopReason,
      eventsProcessed: this.eventsProcessedValue - eventsAtStart,
      nowMs: this.nowMsValue,
    })
    for (;;) {
      if (predicate?.() === true) return result(StopReason.condition)
      if (this.eventsProcessedValue - eventsAtStart >= eventsMax) return result(StopReason.eventsMax)
      const nextMs = this.peekTimeMs()
      if (nextMs === undefined && deadlineMs === Infinity) return result(StopReason.idle)
      if (nextMs === undefined || nextMs > deadlineMs) {
        this.nowMsValue = Math.max(this.nowMsValue, deadlineMs)
        return result(StopReason.time)
      }
      await this.step()
    }
  }

  /** Runs every event in the next `durationMs` of virtual time, then rests at its end. */
  runFor(durationMs: number, options: { eventsMax?: number } = {}): Promise<RunResult> {
    assert.ok(durationMs >= 0 && Number.isFinite(durationMs), `durationMs must be finite and >= 0, got ${durationMs}`)
    return this.runUntil(this.nowMsValue + durationMs, options)
  }

  private deadlineMs(condition: (() => boolean) | number, timeoutMs: number | undefined): number {
    if (timeoutMs !== undefined) assert.ok(timeoutMs >= 0, `timeoutMs must be >= 0, got ${timeoutMs}`)
    const timeoutDeadlineMs = timeoutMs === undefined ? Infinity : this.nowMsValue + timeoutMs
    if (typeof condition !== 'number') return timeoutDeadlineMs
    assert.ok(condition >= this.nowMsValue, `target time ${condition} is in the past (now ${this.nowMsValue})`)
    return Math.min(condition, timeoutDeadlineMs)
  }

  private cancel(event: ScheduledEvent): void {
    if (event.fn === undefined) return
    event.fn = undefined
    if (event.held) {
      // Not in the heap: release() skips it.
      this.heldLiveCount--
      return
    }
    this.cancelledCount++
    this.maybeCompact()
  }

  /** Pops cancelled events off the head, and sets aside those of held owners, until a runnable one (or none) is on top. */
  private skipUnrunnableHead(): void {
    while (this.heap.size > 0) {
      const head = this.heap.peek() as ScheduledEvent
      if (head.fn === undefined) {
        this.heap.pop()
        this.cancelledCount--
        continue
      }
      // Hot path: no lookup at all unless some owner is held.
      const held = this.holds.size === 0 || head.owner === undefined ? undefined : this.holds.get(head.owner)
      if (held === undefined) return
      assert.ok(held.length < HELD_EVENTS_MAX, `more than ${HELD_EVENTS_MAX} events held for ${head.owner}`)
      this.heap.pop()
      head.held = true
      held.push(head)
      this.heldLiveCount++
    }
  }

  private maybeCompact(): void {
    if (this.heap.size < COMPACT_HEAP_SIZE_MIN) return
    if (this.cancelledCount < this.heap.size * CANCELLED_FRACTION_COMPACT) return
    this.heap.retain((event) => event.fn !== undefined)
    this.cancelledCount = 0
  }
}

/** Resolves on the next macrotask turn, after every microtask queued so far (and their offspring). */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}
