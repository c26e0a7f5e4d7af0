import { strict as assert } from 'node:assert'
import { readInt32, readInt64, readUint32, writeInt32, writeInt64 } from './batch-header.js'

/** One offset-index entry on disk: relative offset (u32), position (u32), as in Kafka's .index. */
export const OFFSET_INDEX_ENTRY_BYTES = 8
/** One time-index entry on disk: timestamp (i64), relative offset (u32), as in Kafka's .timeindex. */
export const TIME_INDEX_ENTRY_BYTES = 12
/** Entries the arrays start with; they double as needed. */
const INITIAL_CAPACITY_ENTRIES = 64

/**
 * The sparse index of one segment, in memory: entry i says that the batch with base offset
 * `baseOffset + relativeOffset(i)` starts at byte `position(i)` of the segment file, and that
 * every record before it has a timestamp <= `timestampBefore(i)` (the largest timestamp seen
 * in the segment before that batch, or -1 if none).
 *
 * On disk the same entries are two files, as in Kafka: `.index` (offset → position) and
 * `.timeindex` (timestamp → offset), written side by side, so recovery can check one against
 * the other. A closed segment's `.timeindex` ends with one extra entry: its largest timestamp
 * and its end offset, which retention reads without touching the segment.
 */
export class SegmentIndex {
  private relativeOffsets = new Uint32Array(INITIAL_CAPACITY_ENTRIES)
  private positions = new Uint32Array(INITIAL_CAPACITY_ENTRIES)
  private timestampsBefore = new Float64Array(INITIAL_CAPACITY_ENTRIES)
  private entryCount = 0

  get count(): number {
    return this.entryCount
  }

  relativeOffset(i: number): number {
    return this.relativeOffsets[i] as number
  }

  position(i: number): number {
    return this.positions[i] as number
  }

  timestampBefore(i: number): number {
    return this.timestampsBefore[i] as number
  }

  /** Adds an entry; offsets and positions must grow strictly, timestamps must not shrink. */
  add(relativeOffset: number, position: number, timestampBefore: number): void {
    const last = this.entryCount - 1
    assert.ok(
      last < 0 ||
        (relativeOffset > this.relativeOffset(last) && position > this.position(last) && timestampBefore >= this.timestampBefore(last)),
      `index entries must grow: (${relativeOffset}, ${position}, ${timestampBefore}) after entry ${last}`,
    )
    if (this.entryCount === this.positions.length) this.grow()
    this.relativeOffsets[this.entryCount] = relativeOffset
    this.positions[this.entryCount] = position
    this.timestampsBefore[this.entryCount] = timestampBefore
    this.entryCount++
  }

  /** Keeps the first `count` entries. */
  truncate(count: number): void {
    assert.ok(count >= 0 && count <= this.entryCount)
    this.entryCount = count
  }

  /** Index of the last entry with relative offset <= `relativeOffset`, or -1 if none. */
  floorByOffset(relativeOffset: number): number {
    return this.floor((i) => this.relativeOffset(i) <= relativeOffset)
  }

  /** Index of the last entry whose position is < `position`, or -1 if none. */
  floorByPositionBelow(position: number): number {
    return this.floor((i) => this.position(i) < position)
  }

  /** Index of the last entry before which every timestamp is < `timestamp`, or -1 if none. */
  floorByTimestampBelow(timestamp: number): number {
    return this.floor((i) => this.timestampBefore(i) < timestamp)
  }

  /** Serializes entries [from, to) of the offset index. */
  encodeOffsetEntries(from: number, to: number): Uint8Array {
    const bytes = new Uint8Array((to - from) * OFFSET_INDEX_ENTRY_BYTES)
    for (let i = from; i < to; i++) {
      const at = (i - from) * OFFSET_INDEX_ENTRY_BYTES
      writeInt32(bytes, at, this.relativeOffset(i))
      writeInt32(bytes, at + 4, this.position(i))
    }
    return bytes
  }

  /** Serializes entries [from, to) of the time index. */
  encodeTimeEntries(from: number, to: number): Uint8Array {
    const bytes = new Uint8Array((to - from) * TIME_INDEX_ENTRY_BYTES)
    for (let i = from; i < to; i++) {
      const at = (i - from) * TIME_INDEX_ENTRY_BYTES
      writeInt64(bytes, at, this.timestampBefore(i))
      writeInt32(bytes, at + 8, this.relativeOffset(i))
    }
    return bytes
  }

  /**
   * Rebuilds an index from its two files, or says why they cannot be trusted. `segmentBytes`
   * is the size of the segment the entries point into. The caller still checks that the last
   * entry points at a batch with the right offset, which needs the segment's bytes.
   */
  static decode(offsetBytes: Uint8Array, timeBytes: Uint8Array, segmentBytes: number): DecodedIndex | { problem: string } {
    if (offsetBytes.length % OFFSET_INDEX_ENTRY_BYTES !== 0) return { problem: `offset index size ${offsetBytes.length} is not a multiple of ${OFFSET_INDEX_ENTRY_BYTES}` }
    if (timeBytes.length % TIME_INDEX_ENTRY_BYTES !== 0) return { problem: `time index size ${timeBytes.length} is not a multiple of ${TIME_INDEX_ENTRY_BYTES}` }
    const count = offsetBytes.length / OFFSET_INDEX_ENTRY_BYTES
    const timeCount = timeBytes.length / TIME_INDEX_ENTRY_BYTES
    if (timeCount !== count && timeCount !== count + 1) return { problem: `offset index has ${count} entries, time index ${timeCount}` }
    const index = new SegmentIndex()
    for (let i = 0; i < count; i++) {
      const relativeOffset = readUint32(offsetBytes, i * OFFSET_INDEX_ENTRY_BYTES)
      const position = readUint32(offsetBytes, i * OFFSET_INDEX_ENTRY_BYTES + 4)
      const timestamp = readInt64(timeBytes, i * TIME_INDEX_ENTRY_BYTES)
      const timeRelativeOffset = readUint32(timeBytes, i * TIME_INDEX_ENTRY_BYTES + 8)
      if (timeRelativeOffset !== relativeOffset) return { problem: `entry ${i}: offset index says ${relativeOffset}, time index ${timeRelativeOffset}` }
      if (position >= segmentBytes) return { problem: `entry ${i} points at byte ${position}, past the segment's ${segmentBytes} bytes` }
      const last = index.count - 1
      if (Number.isNaN(timestamp) || (last >= 0 && (relativeOffset <= index.relativeOffset(last) || position <= index.position(last) || timestamp < index.timestampBefore(last)))) {
        return { problem: `entry ${i} does not grow from the one before it` }
      }
      index.add(relativeOffset, position, timestamp)
    }
    let closing: { maxTimestamp: number; endRelativeOffset: number } | undefined
    if (timeCount === count + 1) {
      const at = count * TIME_INDEX_ENTRY_BYTES
      closing = { maxTimestamp: readInt64(timeBytes, at), endRelativeOffset: readInt32(timeBytes, at + 8) >>> 0 }
      const lastTimestamp = count > 0 ? index.timestampBefore(count - 1) : -1
      const lastRelativeOffset = count > 0 ? index.relativeOffset(count - 1) : 0
      if (Number.isNaN(closing.maxTimestamp) || closing.maxTimestamp < lastTimestamp || closing.endRelativeOffset <= lastRelativeOffset) {
        return { problem: 'the closing time index entry does not grow from the one before it' }
      }
    }
    return { index, closing }
  }

  private floor(isAtOrBelow: (i: number) => boolean): number {
    let low = 0
    let high = this.entryCount - 1
    let found = -1
    while (low <= high) {
      const middle = (low + high) >>> 1
      if (isAtOrBelow(middle)) {
        found = middle
        low = middle + 1
      } else {
        high = middle - 1
      }
    }
    return found
  }

  private grow(): void {
    const capacity = this.positions.length * 2
    const relativeOffsets = new Uint32Array(capacity)
    relativeOffsets.set(this.relativeOffsets)
    const positions = new Uint32Array(capacity)
    positions.set(this.positions)
    const timestamps = new Float64Array(capacity)
    timestamps.set(this.timestampsBefore)
    this.relativeOffsets = relativeOffsets
    this.positions = positions
    this.timestampsBefore = timestamps
  }
}

export interface DecodedIndex {
  readonly index: SegmentIndex
  /** The closing entry of a closed segment's time index, when present. */
  readonly closing: { readonly maxTimestamp: number; readonly endRelativeOffset: number } | undefined
}
