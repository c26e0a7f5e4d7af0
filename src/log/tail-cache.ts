/**
 * The bytes a log wrote last, kept in memory so that readers at the tail (followers fetching
 * what the leader just appended, consumers waiting at the high watermark) are served without
 * a file read. On a busy node each file read is a trip through libuv's thread pool, and a
 * produce request with replication 3 and a consumer used to cost three of them at the leader:
 * the follower fetches and the consumer fetch all read the batch that was written a moment
 * before (issue 10, workload f).
 *
 * Only bytes whose write has completed are added, and a truncation clears the cache, so a read
 * served from it returns what a file read at that moment would (the file may rot later; the
 * reader's CRC check runs on the returned bytes either way).
 */
export class TailCache {
  /** Which file the cached bytes belong to (the log's segment object); undefined when empty. */
  private owner: object | undefined
  /** File position of the first cached byte. */
  private startPosition = 0
  /** Copies of written chunks, in file order, back to back from startPosition. */
  private readonly chunks: Uint8Array[] = []
  private cachedBytes = 0

  /** @param capacityBytes most bytes kept; older chunks are dropped whole. 0 disables the cache. */
  constructor(private readonly capacityBytes: number) {
    if (!Number.isSafeInteger(capacityBytes) || capacityBytes < 0) throw new RangeError(`capacityBytes must be an integer >= 0, got ${capacityBytes}`)
  }

  /** Bytes in memory now (for stats and tests). */
  get sizeBytes(): number {
    return this.cachedBytes
  }

  /**
   * Records that `chunks` (`byteCount` bytes in all) were just written at `position` of
   * `owner`'s file. A write anywhere but right after the cached bytes starts the cache afresh.
   * The chunks are copied: callers may reuse their buffers.
   */
  wrote(owner: object, position: number, chunks: readonly Uint8Array[], byteCount: number): void {
    if (byteCount === 0) return
    if (owner !== this.owner || position !== this.startPosition + this.cachedBytes) {
      this.clear()
      this.owner = owner
      this.startPosition = position
    }
    if (byteCount > this.capacityBytes) {
      // Too big to keep (or the cache is off): not worth a copy. Start afresh after it.
      this.chunks.length = 0
      this.cachedBytes = 0
      this.startPosition = position + byteCount
      return
    }
    const copy = new Uint8Array(byteCount)
    let filled = 0
    for (const chunk of chunks) {
      copy.set(chunk, filled)
      filled += chunk.byteLength
    }
    if (filled !== byteCount) throw new RangeError(`chunks hold ${filled} bytes, not the ${byteCount} written`)
    this.chunks.push(copy)
    this.cachedBytes += byteCount
    while (this.cachedBytes > this.capacityBytes) {
      const dropped = this.chunks.shift() as Uint8Array
      this.cachedBytes -= dropped.byteLength
      this.startPosition += dropped.byteLength
    }
  }

  /**
   * A copy of `byteCount` bytes at `position` of `owner`'s file if every one of them is cached,
   * else undefined (the caller reads the file). A copy, as a file read would give: the caller
   * owns what it gets.
   */
  read(owner: object, position: number, byteCount: number): Uint8Array | undefined {
    if (owner !== this.owner || position < this.startPosition || position + byteCount > this.startPosition + this.cachedBytes) return undefined
    const result = new Uint8Array(byteCount)
    let chunkStart = this.startPosition
    let filled = 0
    for (const chunk of this.chunks) {
      const chunkEnd = chunkStart + chunk.byteLength
      if (chunkEnd > position + filled) {
        const from = position + filled - chunkStart
        const take = Math.min(chunk.byteLength - from, byteCount - filled)
        result.set(chunk.subarray(from, from + take), filled)
        filled += take
        if (filled === byteCount) break
      }
      chunkStart = chunkEnd
    }
    return result
  }

  /** Forgets everything (a truncation, a close, a failed write). */
  clear(): void {
    this.owner = undefined
    this.chunks.length = 0
    this.cachedBytes = 0
    this.startPosition = 0
  }
}
