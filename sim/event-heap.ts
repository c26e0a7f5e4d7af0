/** What an event queue orders by: time first, then insertion sequence (ties break by insertion). */
export interface TimedEvent {
  readonly atMs: number
  readonly sequence: number
}

/**
 * A binary min-heap of timed events in (atMs, sequence) order: the one event queue every
 * simulator loop uses, so ordering (and so determinism) is defined in one place.
 */
export class EventHeap<T extends TimedEvent> {
  private readonly items: T[] = []

  get size(): number {
    return this.items.length
  }

  /** The earliest event, without removing it. */
  peek(): T | undefined {
    return this.items[0]
  }

  push(event: T): void {
    const items = this.items
    items.push(event)
    let index = items.length - 1
    while (index > 0) {
      const parentIndex = (index - 1) >> 1
      const parent = items[parentIndex] as T
      if (!before(event, parent)) break
      items[index] = parent
      index = parentIndex
    }
    items[index] = event
  }

  /** Removes and returns the earliest event. */
  pop(): T | undefined {
    const items = this.items
    const top = items[0]
    const last = items.pop()
    if (top === undefined || last === undefined || items.length === 0) return top
    let index = 0
    for (;;) {
      const leftIndex = 2 * index + 1
      if (leftIndex >= items.length) break
      const rightIndex = leftIndex + 1
      const left = items[leftIndex] as T
      const right = items[rightIndex]
      const childIndex = right !== undefined && before(right, left) ? rightIndex : leftIndex
      const child = items[childIndex] as T
      if (!before(child, last)) break
      items[index] = child
      index = childIndex
    }
    items[index] = last
    return top
  }

  /** Keeps only the events `keep` accepts (e.g. drops cancelled ones), rebuilding the heap. */
  retain(keep: (event: T) => boolean): void {
    const kept = this.items.filter(keep)
    this.items.length = 0
    for (const event of kept) this.push(event)
  }
}

function before(a: TimedEvent, b: TimedEvent): boolean {
  return a.atMs < b.atMs || (a.atMs === b.atMs && a.sequence < b.sequence)
}
