/**
 * A bounded FIFO on a growable ring buffer: O(1) push and shift with no per-message
 * allocation beyond the item itself. The bound is the mailbox's backpressure: `push`
 * refuses once `depthMax` items wait.
 */
export class Mailbox<T> {
  private items: (T | undefined)[]
  private head = 0
  private count = 0

  constructor(readonly depthMax: number) {
    if (!(Number.isInteger(depthMax) && depthMax > 0)) throw new RangeError(`depthMax must be a positive integer, got ${depthMax}`)
    this.items = new Array(Math.min(depthMax, 16))
  }

  get depth(): number {
    return this.count
  }

  /** Adds `item` at the tail; false (and nothing added) when the mailbox is full. */
  push(item: T): boolean {
    if (this.count >= this.depthMax) return false
    if (this.count === this.items.length) this.grow()
    this.items[(this.head + this.count) % this.items.length] = item
    this.count++
    return true
  }

  /** Removes and returns the head, or undefined when empty. */
  shift(): T | undefined {
    if (this.count === 0) return undefined
    const item = this.items[this.head]
    this.items[this.head] = undefined
    this.head = (this.head + 1) % this.items.length
    this.count--
    return item
  }

  /** Removes and returns everything waiting, oldest first. */
  drainAll(): T[] {
    const out: T[] = []
    for (let item = this.shift(); item !== undefined; item = this.shift()) out.push(item)
    return out
  }

  private grow(): void {
    const capacity = Math.min(this.depthMax, this.items.length * 2)
    const next: (T | undefined)[] = new Array(capacity)
    for (let i = 0; i < this.count; i++) next[i] = this.items[(this.head + i) % this.items.length]
    this.items = next
    this.head = 0
  }
}
