import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { writeInt32, writeInt64 } from '../../src/log/batch-header.js'
import { type DecodedIndex, OFFSET_INDEX_ENTRY_BYTES, SegmentIndex, TIME_INDEX_ENTRY_BYTES } from '../../src/log/segment-index.js'

interface Entry {
  readonly relativeOffset: number
  readonly position: number
  readonly timestampBefore: number
}

/** Strictly growing offsets and positions, non-decreasing timestamps (the first may be -1: "none yet"). */
const entriesArbitrary = (maxLength = 300): fc.Arbitrary<Entry[]> =>
  fc
    .tuple(
      fc.integer({ min: 0, max: 1000 }),
      fc.integer({ min: 1, max: 100_000 }),
      fc.integer({ min: -1, max: 2_000_000_000_000 }),
      fc.array(fc.tuple(fc.integer({ min: 1, max: 5_000 }), fc.integer({ min: 1, max: 1_000_000 }), fc.integer({ min: 0, max: 10_000 })), { maxLength }),
    )
    .map(([offset0, position0, timestamp0, steps]) => {
      const entries: Entry[] = []
      let entry: Entry = { relativeOffset: offset0, position: position0, timestampBefore: timestamp0 }
      for (const [offsetStep, positionStep, timestampStep] of steps) {
        entries.push(entry)
        entry = { relativeOffset: entry.relativeOffset + offsetStep, position: entry.position + positionStep, timestampBefore: entry.timestampBefore + timestampStep }
      }
      return entries
    })

function build(entries: readonly Entry[]): SegmentIndex {
  const index = new SegmentIndex()
  for (const entry of entries) index.add(entry.relativeOffset, entry.position, entry.timestampBefore)
  return index
}

function entriesOf(index: SegmentIndex): Entry[] {
  return Array.from({ length: index.count }, (_, i) => ({ relativeOffset: index.relativeOffset(i), position: index.position(i), timestampBefore: index.timestampBefore(i) }))
}

function files(index: SegmentIndex): { offsetBytes: Uint8Array; timeBytes: Uint8Array } {
  return { offsetBytes: index.encodeOffsetEntries(0, index.count), timeBytes: index.encodeTimeEntries(0, index.count) }
}

/** The 12-byte closing time-index entry of a sealed segment. */
function closingEntry(maxTimestamp: number, endRelativeOffset: number): Uint8Array {
  const bytes = new Uint8Array(TIME_INDEX_ENTRY_BYTES)
  writeInt64(bytes, 0, maxTimestamp)
  writeInt32(bytes, 8, endRelativeOffset)
  return bytes
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length)
  out.set(a, 0)
  out.set(b, a.length)
  return out
}

function decoded(result: DecodedIndex | { problem: string }): DecodedIndex {
  if ('problem' in result) throw new Error(`unexpected problem: ${result.problem}`)
  return result
}

function problemOf(result: DecodedIndex | { problem: string }): string {
  if (!('problem' in result)) throw new Error('expected the index to be refused')
  return result.problem
}

/** Linear models of the three floor lookups: index of the last entry satisfying the predicate, or -1. */
function lastIndexWhere(entries: readonly Entry[], predicate: (entry: Entry) => boolean): number {
  let found = -1
  entries.forEach((entry, i) => {
    if (predicate(entry)) found = i
  })
  return found
}

/** Query points around every entry value, so boundaries are always probed. */
function probes(values: readonly number[], extra: readonly number[]): number[] {
  return [...new Set([...values.flatMap((value) => [value - 1, value, value + 1]), ...extra])]
}

describe('SegmentIndex encode/decode', () => {
  it('roundTrip_encodeThenDecode_givesTheSameEntries_andNoClosingEntry', () => {
    fc.assert(
      fc.property(entriesArbitrary(), (entries) => {
        const index = build(entries)
        const { offsetBytes, timeBytes } = files(index)
        expect(offsetBytes.length).toBe(entries.length * OFFSET_INDEX_ENTRY_BYTES)
        expect(timeBytes.length).toBe(entries.length * TIME_INDEX_ENTRY_BYTES)
        const segmentBytes = (entries.at(-1)?.position ?? 0) + 1
        const result = decoded(SegmentIndex.decode(offsetBytes, timeBytes, segmentBytes))
        expect(entriesOf(result.index)).toEqual(entries)
        expect(result.closing).toBeUndefined()
      }),
      { numRuns: 200 },
    )
  })

  it('roundTrip_withAClosingEntry_decodesIt', () => {
    fc.assert(
      fc.property(entriesArbitrary(), fc.integer({ min: 0, max: 1_000 }), fc.integer({ min: 1, max: 1_000 }), (entries, timestampStep, offsetStep) => {
        const index = build(entries)
        const last = entries.at(-1)
        const maxTimestamp = (last?.timestampBefore ?? -1) + timestampStep
        const endRelativeOffset = (last?.relativeOffset ?? 0) + offsetStep
        const { offsetBytes, timeBytes } = files(index)
        const result = decoded(SegmentIndex.decode(offsetBytes, concat(timeBytes, closingEntry(maxTimestamp, endRelativeOffset)), (last?.position ?? 0) + 1))
        expect(entriesOf(result.index)).toEqual(entries)
        expect(result.closing).toEqual({ maxTimestamp, endRelativeOffset })
      }),
      { numRuns: 200 },
    )
  })

  it('encode_ofConsecutiveRanges_concatenatesToTheWholeEncoding', () => {
    fc.assert(
      fc.property(entriesArbitrary(100), fc.nat(), (entries, cutSeed) => {
        const index = build(entries)
        const cut = entries.length === 0 ? 0 : cutSeed % (entries.length + 1)
        expect(concat(index.encodeOffsetEntries(0, cut), index.encodeOffsetEntries(cut, index.count))).toEqual(index.encodeOffsetEntries(0, index.count))
        expect(concat(index.encodeTimeEntries(0, cut), index.encodeTimeEntries(cut, index.count))).toEqual(index.encodeTimeEntries(0, index.count))
      }),
    )
  })

  it('encode_usesKafkasLayout_bigEndianOffsetPositionAndTimestampOffset', () => {
    const index = build([{ relativeOffset: 0x01020304, position: 0xa0b0c0d0, timestampBefore: 0x0102_0304_0506 }])
    expect([...index.encodeOffsetEntries(0, 1)]).toEqual([0x01, 0x02, 0x03, 0x04, 0xa0, 0xb0, 0xc0, 0xd0])
    expect([...index.encodeTimeEntries(0, 1)]).toEqual([0, 0, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x01, 0x02, 0x03, 0x04])
    const none = build([{ relativeOffset: 7, position: 9, timestampBefore: -1 }])
    expect([...none.encodeTimeEntries(0, 1).subarray(0, 8)]).toEqual([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])
    expect(entriesOf(decoded(SegmentIndex.decode(none.encodeOffsetEntries(0, 1), none.encodeTimeEntries(0, 1), 10)).index)).toEqual([
      { relativeOffset: 7, position: 9, timestampBefore: -1 },
    ])
  })

  it('decode_emptyFiles_isAnEmptyIndex_orAClosingEntryAlone', () => {
    const empty = decoded(SegmentIndex.decode(new Uint8Array(0), new Uint8Array(0), 0))
    expect(empty.index.count).toBe(0)
    expect(empty.closing).toBeUndefined()
    const closedSmall = decoded(SegmentIndex.decode(new Uint8Array(0), closingEntry(1234, 3), 100))
    expect(closedSmall.index.count).toBe(0)
    expect(closedSmall.closing).toEqual({ maxTimestamp: 1234, endRelativeOffset: 3 })
  })
})

describe('SegmentIndex decode refusals', () => {
  const three = build([
    { relativeOffset: 10, position: 1000, timestampBefore: 50 },
    { relativeOffset: 20, position: 2000, timestampBefore: 60 },
    { relativeOffset: 30, position: 3000, timestampBefore: 60 },
  ])
  const good = files(three)
  const SEGMENT_BYTES = 5000

  it('decode_goodFiles_areAccepted', () => {
    expect(decoded(SegmentIndex.decode(good.offsetBytes, good.timeBytes, SEGMENT_BYTES)).index.count).toBe(3)
  })

  it.each([
    ['an offset index one byte short', good.offsetBytes.subarray(0, 23), good.timeBytes],
    ['an offset index one byte long', concat(good.offsetBytes, Uint8Array.of(0)), good.timeBytes],
    ['a time index one byte short', good.offsetBytes, good.timeBytes.subarray(0, 35)],
    ['a time index of 13 bytes', good.offsetBytes.subarray(0, 8), concat(good.timeBytes.subarray(0, 12), Uint8Array.of(1))],
  ])('decode_%s_isRefusedForItsSize', (_name, offsetBytes, timeBytes) => {
    expect(problemOf(SegmentIndex.decode(offsetBytes, timeBytes, SEGMENT_BYTES))).toMatch(/not a multiple/)
  })

  it.each([
    ['a time index with one entry fewer', good.offsetBytes, good.timeBytes.subarray(0, 24)],
    ['a time index with two entries more', good.offsetBytes, concat(good.timeBytes, concat(closingEntry(70, 40), closingEntry(80, 50)))],
    ['an empty time index', good.offsetBytes, new Uint8Array(0)],
    ['an empty offset index and two time entries', new Uint8Array(0), concat(closingEntry(1, 1), closingEntry(2, 2))],
  ])('decode_%s_isRefusedForTheMismatchedCounts', (_name, offsetBytes, timeBytes) => {
    expect(problemOf(SegmentIndex.decode(offsetBytes, timeBytes, SEGMENT_BYTES))).toMatch(/entries/)
  })

  /** The good files with entry `i`'s fields in both files replaced by `mutate`. */
  function withEntry(i: number, mutate: (entry: { relativeOffset: number; position: number; timestamp: number; timeRelativeOffset: number }) => void): { offsetBytes: Uint8Array; timeBytes: Uint8Array } {
    const offsetBytes = good.offsetBytes.slice()
    const timeBytes = good.timeBytes.slice()
    const entry = { relativeOffset: three.relativeOffset(i), position: three.position(i), timestamp: three.timestampBefore(i), timeRelativeOffset: three.relativeOffset(i) }
    mutate(entry)
    writeInt32(offsetBytes, i * OFFSET_INDEX_ENTRY_BYTES, entry.relativeOffset)
    writeInt32(offsetBytes, i * OFFSET_INDEX_ENTRY_BYTES + 4, entry.position)
    writeInt64(timeBytes, i * TIME_INDEX_ENTRY_BYTES, entry.timestamp)
    writeInt32(timeBytes, i * TIME_INDEX_ENTRY_BYTES + 8, entry.timeRelativeOffset)
    return { offsetBytes, timeBytes }
  }

  const growthCases: Array<[string, number, (entry: { relativeOffset: number; position: number; timestamp: number; timeRelativeOffset: number }) => void]> = [
    ['a repeated relative offset', 1, (e) => void (e.relativeOffset = e.timeRelativeOffset = 10)],
    ['a decreasing relative offset', 2, (e) => void (e.relativeOffset = e.timeRelativeOffset = 15)],
    ['a repeated position', 1, (e) => void (e.position = 1000)],
    ['a decreasing position', 2, (e) => void (e.position = 1500)],
    ['a decreasing timestamp', 2, (e) => void (e.timestamp = 59)],
  ]

  it.each(growthCases)('decode_%s_isRefusedAsNotGrowing', (_name, i, mutate) => {
    const { offsetBytes, timeBytes } = withEntry(i, mutate)
    expect(problemOf(SegmentIndex.decode(offsetBytes, timeBytes, SEGMENT_BYTES))).toMatch(/does not grow/)
  })

  it('decode_timeAndOffsetIndexNamingDifferentOffsets_isRefused', () => {
    for (const i of [0, 1, 2]) {
      const { offsetBytes, timeBytes } = withEntry(i, (e) => void (e.timeRelativeOffset = e.relativeOffset + 1))
      expect(problemOf(SegmentIndex.decode(offsetBytes, timeBytes, SEGMENT_BYTES))).toMatch(new RegExp(`entry ${i}: offset index says`))
    }
  })

  it('decode_anEntryPointingAtOrPastTheSegmentEnd_isRefused', () => {
    expect(problemOf(SegmentIndex.decode(good.offsetBytes, good.timeBytes, 3000))).toMatch(/past the segment/)
    expect(decoded(SegmentIndex.decode(good.offsetBytes, good.timeBytes, 3001)).index.count).toBe(3)
  })

  it('decode_aTimestampOutsideTheSafeRange_isRefused', () => {
    const timeBytes = good.timeBytes.slice()
    timeBytes.set([0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], TIME_INDEX_ENTRY_BYTES)
    expect(problemOf(SegmentIndex.decode(good.offsetBytes, timeBytes, SEGMENT_BYTES))).toMatch(/does not grow/)
  })

  it.each([
    ['an end offset equal to the last entry', 60, 30],
    ['an end offset below the last entry', 60, 29],
    ['a max timestamp below the last entry', 59, 31],
  ])('decode_aClosingEntryWith_%s_isRefused', (_name, maxTimestamp, endRelativeOffset) => {
    expect(problemOf(SegmentIndex.decode(good.offsetBytes, concat(good.timeBytes, closingEntry(maxTimestamp, endRelativeOffset)), SEGMENT_BYTES))).toMatch(/closing/)
  })

  it('decode_refusesEveryRandomSwapOfTwoDistinctEntries', () => {
    fc.assert(
      fc.property(
        entriesArbitrary(40).filter((entries) => entries.length >= 2),
        fc.nat(),
        fc.nat(),
        (entries, a, b) => {
          const i = a % entries.length
          const j = b % entries.length
          fc.pre(i !== j)
          const swapped = [...entries]
          ;[swapped[i], swapped[j]] = [swapped[j] as Entry, swapped[i] as Entry]
          const offsetBytes = new Uint8Array(entries.length * OFFSET_INDEX_ENTRY_BYTES)
          const timeBytes = new Uint8Array(entries.length * TIME_INDEX_ENTRY_BYTES)
          swapped.forEach((entry, k) => {
            writeInt32(offsetBytes, k * 8, entry.relativeOffset)
            writeInt32(offsetBytes, k * 8 + 4, entry.position)
            writeInt64(timeBytes, k * 12, entry.timestampBefore)
            writeInt32(timeBytes, k * 12 + 8, entry.relativeOffset)
          })
          expect(problemOf(SegmentIndex.decode(offsetBytes, timeBytes, Number.MAX_SAFE_INTEGER))).toMatch(/does not grow/)
        },
      ),
    )
  })
})

describe('SegmentIndex lookups', () => {
  it('floorLookups_matchALinearScan', () => {
    fc.assert(
      fc.property(entriesArbitrary(), fc.array(fc.integer({ min: -10, max: 3_000_000_000 }), { maxLength: 20 }), (entries, randomQueries) => {
        const index = build(entries)
        for (const q of probes(
          entries.map((entry) => entry.relativeOffset),
          randomQueries,
        )) {
          expect(index.floorByOffset(q), `floorByOffset(${q})`).toBe(lastIndexWhere(entries, (entry) => entry.relativeOffset <= q))
        }
        for (const q of probes(
          entries.map((entry) => entry.position),
          randomQueries,
        )) {
          expect(index.floorByPositionBelow(q), `floorByPositionBelow(${q})`).toBe(lastIndexWhere(entries, (entry) => entry.position < q))
        }
        for (const q of probes(
          entries.map((entry) => entry.timestampBefore),
          randomQueries,
        )) {
          expect(index.floorByTimestampBelow(q), `floorByTimestampBelow(${q})`).toBe(lastIndexWhere(entries, (entry) => entry.timestampBefore < q))
        }
      }),
      { numRuns: 300 },
    )
  })

  it('floorLookups_afterTruncateAndRegrow_matchALinearScan', () => {
    fc.assert(
      fc.property(entriesArbitrary(150), fc.nat(), entriesArbitrary(150), (entries, cutSeed, more) => {
        const index = build(entries)
        const kept = entries.length === 0 ? 0 : cutSeed % (entries.length + 1)
        index.truncate(kept)
        const last = entries[kept - 1]
        // Regrow past the cut with entries that continue from the kept ones.
        const shift = { offset: (last?.relativeOffset ?? 0) + 1, position: (last?.position ?? 0) + 1, timestamp: Math.max(last?.timestampBefore ?? -1, 0) }
        const regrown = more.map((entry) => ({ relativeOffset: entry.relativeOffset + shift.offset, position: entry.position + shift.position, timestampBefore: entry.timestampBefore + 1 + shift.timestamp }))
        for (const entry of regrown) index.add(entry.relativeOffset, entry.position, entry.timestampBefore)
        const model = [...entries.slice(0, kept), ...regrown]
        expect(entriesOf(index)).toEqual(model)
        for (const q of probes(
          model.map((entry) => entry.relativeOffset),
          [],
        ))
          expect(index.floorByOffset(q)).toBe(lastIndexWhere(model, (entry) => entry.relativeOffset <= q))
        for (const q of probes(
          model.map((entry) => entry.position),
          [],
        ))
          expect(index.floorByPositionBelow(q)).toBe(lastIndexWhere(model, (entry) => entry.position < q))
      }),
      { numRuns: 100 },
    )
  })

  it('floorLookups_onAnEmptyIndex_areMinusOne', () => {
    const index = new SegmentIndex()
    expect(index.floorByOffset(0)).toBe(-1)
    expect(index.floorByPositionBelow(1_000)).toBe(-1)
    expect(index.floorByTimestampBelow(Number.MAX_SAFE_INTEGER)).toBe(-1)
  })

  it('add_refusesEntriesThatDoNotGrow', () => {
    const index = build([{ relativeOffset: 5, position: 100, timestampBefore: 10 }])
    expect(() => index.add(5, 200, 10)).toThrow(/must grow/)
    expect(() => index.add(6, 100, 10)).toThrow(/must grow/)
    expect(() => index.add(6, 200, 9)).toThrow(/must grow/)
    index.add(6, 200, 10) // an equal timestamp is fine
    expect(index.count).toBe(2)
  })

  it('truncate_refusesGrowing', () => {
    const index = build([{ relativeOffset: 1, position: 1, timestampBefore: 1 }])
    expect(() => index.truncate(2)).toThrow()
    expect(() => index.truncate(-1)).toThrow()
    index.truncate(0)
    expect(index.count).toBe(0)
  })
})
