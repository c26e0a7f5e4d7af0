import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { TailCache } from '../../src/log/tail-cache.js'

const segmentA = {}
const segmentB = {}

function bytes(from: number, count: number): Uint8Array {
  return Uint8Array.from({ length: count }, (_, i) => (from + i) & 0xff)
}

describe('TailCache', () => {
  it('read_insideTheWrittenBytes_returnsThemAcrossChunks', () => {
    const cache = new TailCache(1024)
    cache.wrote(segmentA, 100, [bytes(100, 10)], 10)
    cache.wrote(segmentA, 110, [bytes(110, 5), bytes(115, 5)], 10)
    expect(cache.read(segmentA, 100, 20)).toEqual(bytes(100, 20))
    expect(cache.read(segmentA, 105, 10)).toEqual(bytes(105, 10))
    expect(cache.read(segmentA, 119, 1)).toEqual(bytes(119, 1))
  })

  it('read_anyByteNotCached_missesSoTheCallerReadsTheFile', () => {
    const cache = new TailCache(1024)
    cache.wrote(segmentA, 100, [bytes(100, 10)], 10)
    expect(cache.read(segmentA, 99, 2)).toBeUndefined() // starts before
    expect(cache.read(segmentA, 105, 6)).toBeUndefined() // runs past the written end
    expect(cache.read(segmentB, 100, 1)).toBeUndefined() // another file
  })

  it('read_returnsACopy_soCallersMayChangeIt', () => {
    const cache = new TailCache(1024)
    const written = bytes(0, 8)
    cache.wrote(segmentA, 0, [written], 8)
    written.fill(0) // the writer reuses its buffer
    const first = cache.read(segmentA, 0, 8) as Uint8Array
    first.fill(9)
    expect(cache.read(segmentA, 0, 8)).toEqual(bytes(0, 8))
  })

  it('wrote_overCapacity_dropsTheOldestChunksWhole', () => {
    const cache = new TailCache(25)
    for (let i = 0; i < 5; i++) cache.wrote(segmentA, i * 10, [bytes(i * 10, 10)], 10)
    expect(cache.sizeBytes).toBe(20)
    expect(cache.read(segmentA, 29, 2)).toBeUndefined()
    expect(cache.read(segmentA, 30, 20)).toEqual(bytes(30, 20))
  })

  it('wrote_aChunkLargerThanTheCache_keepsNothing_andLaterWritesCacheAgain', () => {
    const cache = new TailCache(16)
    cache.wrote(segmentA, 0, [bytes(0, 8)], 8)
    cache.wrote(segmentA, 8, [bytes(8, 32)], 32)
    expect(cache.sizeBytes).toBe(0)
    expect(cache.read(segmentA, 0, 8)).toBeUndefined()
    cache.wrote(segmentA, 40, [bytes(40, 8)], 8)
    expect(cache.read(segmentA, 40, 8)).toEqual(bytes(40, 8))
  })

  it('wrote_notRightAfterTheCachedBytes_startsAfresh', () => {
    const cache = new TailCache(1024)
    cache.wrote(segmentA, 0, [bytes(0, 10)], 10)
    cache.wrote(segmentA, 4, [bytes(4, 3)], 3) // after a truncation nobody told the cache of
    expect(cache.read(segmentA, 0, 4)).toBeUndefined()
    expect(cache.read(segmentA, 4, 3)).toEqual(bytes(4, 3))
    cache.wrote(segmentB, 0, [bytes(50, 4)], 4) // a new segment
    expect(cache.read(segmentA, 4, 3)).toBeUndefined()
    expect(cache.read(segmentB, 0, 4)).toEqual(bytes(50, 4))
  })

  it('clear_andCapacityZero_cacheNothing', () => {
    const off = new TailCache(0)
    off.wrote(segmentA, 0, [bytes(0, 4)], 4)
    expect(off.read(segmentA, 0, 4)).toBeUndefined()
    const cache = new TailCache(64)
    cache.wrote(segmentA, 0, [bytes(0, 4)], 4)
    cache.clear()
    expect(cache.read(segmentA, 0, 4)).toBeUndefined()
    expect(() => new TailCache(-1)).toThrow(RangeError)
  })

  it('wrote_chunksNotAddingUpToTheCount_throws', () => {
    expect(() => new TailCache(64).wrote(segmentA, 0, [bytes(0, 4)], 5)).toThrow(RangeError)
  })

  it('anyWritesAndReads_agreeWithAFileModel', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 200 }),
        fc.array(fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 20 }),
        fc.array(fc.tuple(fc.nat(), fc.nat()), { maxLength: 20 }),
        (capacity, writes, reads) => {
          const cache = new TailCache(capacity)
          let end = 0
          for (const chunkSizes of writes) {
            const chunks = chunkSizes.map((size, i) => bytes(end + chunkSizes.slice(0, i).reduce((a, b) => a + b, 0), size))
            const total = chunkSizes.reduce((a, b) => a + b, 0)
            cache.wrote(segmentA, end, chunks, total)
            end += total
          }
          expect(cache.sizeBytes).toBeLessThanOrEqual(capacity)
          for (const [at, count] of reads) {
            const position = at % (end + 1)
            const byteCount = count % (end - position + 1)
            const got = cache.read(segmentA, position, byteCount)
            // Whatever it serves is what the file holds there.
            if (got !== undefined) expect(got).toEqual(bytes(position, byteCount))
          }
          // The newest write is served whenever it fits.
          const last = (writes[writes.length - 1] as number[]).reduce((a, b) => a + b, 0)
          if (last <= capacity) expect(cache.read(segmentA, end - last, last)).toEqual(bytes(end - last, last))
        },
      ),
    )
  })
})
