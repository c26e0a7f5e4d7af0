import type { Envelope } from '../wire/index.js'

/** Smallest ring allocated for a peer; most peers carry a few messages at a time. */
const CAPACITY_MIN = 16

/**
 * A bounded FIFO of envelopes waiting for a link, each with the monotonic time it was queued
 * (so a deadline keeps counting down while the envelope waits). A growable ring buffer: no
 * allocation per push or shift, and shifting is O(1), unlike `Array.prototype.shift`.
 */
export class OutboundQueue {
  private envelopes: (Envelope | undefined)[]
  private queuedAtMs: Float64Array
  private head = 0
  private count = 0

  constructor(readonly depthMax: number) {
    if (!(Number.isInteger(depthMax) && depthMax > 0)) throw new RangeError(`depthMax must be a positive integer, got ${depthMax}`)
    this.envelopes = new Array<Envelope | undefined>(CAPACITY_MIN)
    this.queuedAtMs = new Float64Array(CAPACITY_MIN)
  }

  get length(): number {
    return this.count
  }

  isFull(): boolean {
    return this.count >= this.depthMax
  }

  /** Appends; the caller checks `isFull()` first. */
  push(envelope: Envelope, nowMs: number): void {
    if (this.count >= this.depthMax) throw new Error(`outbound queue is at its depth limit ${this.depthMax}`)
    if (this.count === this.envelopes.length) this.grow()
    const index = (this.head + this.count) & (this.envelopes.length - 1)
    this.envelopes[index] = envelope
    this.queuedAtMs[index] = nowMs
    this.count++
  }

  /** The oldest envelope's queue time; only valid when not empty. */
  peekQueuedAtMs(): number {
    if (this.count === 0) throw new Error('peek on an empty outbound queue')
    return this.queuedAtMs[this.head] as number
  }

  /** Removes and returns the oldest envelope. */
  shift(): Envelope {
    if (this.count === 0) throw new Error('shift on an empty outbound queue')
    const envelope = this.envelopes[this.head] as Envelope
    this.envelopes[this.head] = undefined
    this.head = (this.head + 1) & (this.envelopes.length - 1)
    this.count--
    return envelope
  }

  /** Empties the queue, returning what was in it, oldest first. */
  drain(): Envelope[] {
    const drained: Envelope[] = new Array(this.count)
    for (let i = 0; i < drained.length; i++) drained[i] = this.shift()
    if (this.envelopes.length > CAPACITY_MIN) {
      // Give back the memory of a burst.
      this.envelopes = new Array<Envelope | undefined>(CAPACITY_MIN)
      this.queuedAtMs = new Float64Array(CAPACITY_MIN)
      this.head = 0
    }
    return drained
  }

  /** Doubles the ring (capacity stays a power of two so indexes wrap with a mask). */
  private grow(): void {
    const capacity = this.envelopes.length
    const envelopes = new Array<Envelope | undefined>(capacity * 2)
    const queuedAtMs = new Float64Array(capacity * 2)
    for (let i = 0; i < this.count; i++) {
      const from = (this.head + i) & (capacity - 1)
      envelopes[i] = this.envelopes[from]
      queuedAtMs[i] = this.queuedAtMs[from] as number
    }
    this.envelopes = envelopes
    this.queuedAtMs = queuedAtMs
    this.head = 0
  }
}
