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

export interface EventHandle {
  /** Stops the event from firing. Harmless after it fired or was cancelled. */
  cancel(): void
}

interface ScheduledEvent {
  readonly atMs: number
  readonly sequence: number
  readonly label: string
  fn: (() => void) | undefined
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
 */
export class Scheduler {
  readonly trace: Trace
  private readonly heap = new EventHeap<ScheduledEvent>()
  private nowMsValue = 0
  private sequenceNext = 0
  private cancelledCount = 0
  private eventsProcessedValue = 0
  private stepping = false

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
    return this.heap.size - this.cancelledCount
  }

  /** Runs `fn` at virtual time `atMs` (>= now). `label` goes into the trace: keep it deterministic. */
  schedule(atMs: number, label: string, fn: () => void): EventHandle {
    // Hot path: test first, build the message only on failure.
    if (!Number.isFinite(atMs)) throw new RangeError(`atMs must be finite, got ${atMs}`)
    if (atMs < this.nowMsValue) throw new RangeError(`cannot schedule in the past: ${atMs} < ${this.nowMsValue}`)
    const event: ScheduledEvent = { atMs, sequence: this.sequenceNext++, label, fn }
    this.heap.push(event)
    return { cancel: () => this.cancel(event) }
  }

  /** Runs `fn` `delayMs` (>= 0) from now. */
  scheduleAfter(delayMs: number, label: string, fn: () => void): EventHandle {
    if (!(delayMs >= 0)) throw new RangeError(`delayMs must be >= 0, got ${delayMs}`)
    let atMs = this.nowMsValue + delayMs
    // A positive delay below the resolution of `now` (a clock's rounding residue, 1e-12 ms)
    // still moves time on, by the smallest step: else code that re-arms a timer until its
    // clock reads the deadline spins forever at one instant.
    if (delayMs > 0 && atMs === this.nowMsValue) atMs = this.nowMsValue + Number.EPSILON * Math.max(1, Math.abs(this.nowMsValue))
    return this.schedule(atMs, label, fn)
  }

  /** Time of the next live event, or undefined when idle. */
  peekTimeMs(): number | undefined {
    this.dropCancelledHead()
    return this.heap.peek()?.atMs
  }

  /**
   * Runs the next event and lets its promise chains settle. Returns false when idle. A callback
   * that throws is a bug in the code under test: the error propagates (the event is consumed).
   */
  async step(): Promise<boolean> {
    assert.ok(!this.stepping, 'Scheduler.step is not re-entrant (an event callback, or a second concurrent run, called it)')
    this.dropCancelledHead()
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
    this.cancelledCount++
    this.maybeCompact()
  }

  private dropCancelledHead(): void {
    while (this.heap.size > 0 && (this.heap.peek() as ScheduledEvent).fn === undefined) {
      this.heap.pop()
      this.cancelledCount--
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
