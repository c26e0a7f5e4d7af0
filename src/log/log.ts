import { strict as assert } from 'node:assert'
import type { Clock, TimerHandle } from '../env/clock.js'
import type { Disk } from '../env/disk.js'
import type { Logger } from '../env/logger.js'
import { ErrorCode, SkeinError } from '../wire/errors.js'
import {
  BATCH_HEADER_BYTES,
  BATCH_LOG_OVERHEAD_BYTES,
  BatchAttribute,
  BatchField,
  type BatchInfo,
  batchLastOffset,
  checkBatch,
  checkBatchHeader,
  checkBatches,
  readInt32,
  stampBatch,
  stampLogAppendTime,
} from './batch-header.js'
import { type LogConfig, resolveLogConfig } from './config.js'
import { FileCache } from './file-cache.js'
import { cutIndexFile, firstBatchMaxTimestamp, loadClosedSegmentIndex, recoverActiveSegment } from './recovery.js'
import { NO_TIMESTAMP, parseSegmentFileName, RELATIVE_OFFSET_MAX, SEGMENT_SUFFIX, Segment, OFFSET_INDEX_SUFFIX, TIME_INDEX_SUFFIX } from './segment.js'
import { DurabilityTracker } from './durability.js'
import { TailCache } from './tail-cache.js'
import { decodeRecordBatch } from './record-batch.js'
import { OFFSET_INDEX_ENTRY_BYTES, SegmentIndex } from './segment-index.js'

/** The slice of the Env a log uses. */
export interface LogEnv {
  readonly disk: Disk
  readonly clock: Clock
  readonly log: Logger
}

export interface AppendResult {
  readonly baseOffset: number
  readonly lastOffset: number
  /** The time stamped into the batches under LogAppendTime, else -1. */
  readonly logAppendTimeMs: number
}

/** Who wrote a batch: a client's batches may not be control batches (only the broker writes those). */
export type AppendSource = 'client' | 'internal'

export interface ReadOptions {
  /** Return no batch whose last offset is at or past this (the high watermark, say). */
  readonly maxOffsetExclusive?: number
  /** Return the first batch even when it alone exceeds maxBytes, so a reader always makes progress (Kafka's KIP-74). Default true. */
  readonly minOneBatch?: boolean
  /**
   * The leader epoch a batch starting at `baseOffset` must carry (the replica's epoch cache).
   * The partition leader epoch lies outside a batch's CRC, so a flipped bit there is caught
   * only by this check: a mismatch fails the read as corrupt (CorruptLogError).
   */
  readonly epochOf?: (baseOffset: number) => number
}

/**
 * Bytes in a segment that are not the batch the log expects there: a CRC mismatch, a header
 * that does not parse, a base offset breaking the offsets' contiguity, a wrong leader epoch,
 * a file shorter than written. `offset` is the first offset whose batch is damaged: the log
 * from there on cannot be trusted, and a replica repairs it by cutting it there
 * (truncateTo(offset)) and fetching the rest again from its leader.
 */
export class CorruptLogError extends SkeinError {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(ErrorCode.KAFKA_STORAGE_ERROR, message)
  }
}

/**
 * Whether `error` is the disk's fault, not the request's: KAFKA_STORAGE_ERROR (the log went
 * offline, a corrupt batch, a damaged state file) or a file system error that reached us
 * unwrapped (a string `code`: ENOSPC, EIO, ...), as opening a log's files can throw. A replica
 * stops on one and reopens from disk after a backoff; on any other error it just answers.
 */
export function isStorageError(error: unknown): boolean {
  if (error instanceof SkeinError) return error.code === ErrorCode.KAFKA_STORAGE_ERROR.code
  return typeof (error as { code?: unknown } | null)?.code === 'string'
}

export interface ReadResult {
  /** Whole batches, exactly as stored, back to back; empty if there is nothing to read. */
  readonly bytes: Uint8Array
  readonly batchCount: number
  /** The offset to read next: one past the last batch returned, or the requested offset if none. */
  readonly nextOffset: number
}

export interface RetentionResult {
  readonly deletedSegments: number
  readonly deletedBytes: number
  readonly logStartOffset: number
}

export interface LogStats {
  readonly logStartOffset: number
  readonly logEndOffset: number
  readonly writtenEndOffset: number
  readonly durableEndOffset: number
  readonly segments: number
  readonly sizeBytes: number
  readonly pendingWriteBytes: number
  readonly writes: number
  readonly syncs: number
}

type WriteOp =
  | { readonly kind: 'data'; readonly segment: Segment; readonly chunks: Uint8Array[]; bytes: number; endOffset: number }
  | { readonly kind: 'roll'; readonly sealed: Segment; readonly opened: Segment }

/** Index entries written to the index files together (and at seal and close). */
const INDEX_PERSIST_BATCH_ENTRIES = 64
/** For scans whose visitor reads header facts only: bodies are skipped, not read. */
const HEADERS_ONLY = { verifyCrc: false, headersOnly: true } as const
/** As HEADERS_ONLY, but control batches (small, rare) are read whole. */
const HEADERS_AND_CONTROL_BATCHES = { verifyCrc: false, headersOnly: true, wholeControlBatches: true } as const

/** Closed segments whose index stays in memory after use; older ones are reloaded on demand. */
const LOADED_CLOSED_INDEXES_MAX = 8

/**
 * One partition replica's log: an ordered list of segments in `dir`, the last one active.
 *
 * Appends assign offsets synchronously, in call order, and are written in the background:
 * concurrent appends are coalesced into large writes (one in flight at a time), and under
 * flush=always share fsyncs (group commit). An append's promise resolves when its bytes are
 * as durable as the flush policy promises. Reads see every append whose promise resolved
 * (written to the OS), never bytes still in memory.
 *
 * Truncation, retention and close are serialized among themselves; appends arriving while a
 * truncation runs are refused with LOG_TRUNCATED (the replica is changing leaders anyway).
 *
 * Any disk error while writing takes the log offline (KAFKA_STORAGE_ERROR for every pending
 * and later append): what is on disk no longer matches what was promised, and only reopening
 * (which recovers from the files) makes them agree again.
 */
export class PartitionLog {
  private readonly segments: Segment[]
  private readonly ops: WriteOp[] = []
  private pumping = false
  private pendingWriteBytes = 0
  private writtenEnd: number
  private readonly durability: DurabilityTracker
  private failure: SkeinError | undefined
  private truncating = false
  /** Truncations started so far: a read that fails across one is retried. */
  private truncations = 0
  /** Set when close() is called: from then on nothing new is accepted. */
  private closing = false
  private closed = false
  private maintenance: Promise<unknown> = Promise.resolve()
  private drainWaiters: Array<() => void> = []
  private readonly writtenListeners = new Set<(writtenEndOffset: number) => void>()
  private lastWrittenSegment: Segment
  private flushTimer: TimerHandle | undefined
  private unsyncedBytes = 0
  private advancedStartOffset = 0
  private readonly loadedClosedIndexes: Segment[] = []
  private readonly indexLoads = new Map<Segment, Promise<void>>()
  /** The newest written bytes, for reads at the tail without a file read. */
  private readonly tail: TailCache
  private writes = 0

  private constructor(
    private readonly env: LogEnv,
    readonly dir: string,
    readonly config: LogConfig,
    private readonly files: FileCache,
    segments: Segment[],
    /**
     * Set when opening found rot inside the last segment (valid batches after the damage, so
     * not a torn write) and cut the log there: one past the last offset it held. Records
     * below that may have been acknowledged; the owner treats them as lost.
     */
    readonly damagedEndOffset: number | undefined = undefined,
  ) {
    this.segments = segments
    const active = this.active
    this.writtenEnd = active.nextOffset
    this.lastWrittenSegment = active
    this.durability = new DurabilityTracker(active.nextOffset, config.flush.mode !== 'always')
    this.tail = new TailCache(config.tailCacheBytesMax)
  }

  /**
   * Opens (creating if needed) the log in `dir`: finds its segments, recovers the last one,
   * deletes leftovers of interrupted operations. `files` is the node's shared handle cache;
   * a private one is made when omitted.
   */
  static async open(env: LogEnv, dir: string, overrides: Partial<LogConfig> = {}, files?: FileCache): Promise<PartitionLog> {
    const config = resolveLogConfig(overrides)
    const cache = files ?? new FileCache(env.disk)
    const log = env.log.child({ log: dir })
    await env.disk.mkdirs(dir)
    const names = await env.disk.list(dir)
    const baseOffsets = names.map((name) => parseSegmentFileName(name, SEGMENT_SUFFIX)).filter((base): base is number => base !== undefined)
    baseOffsets.sort((a, b) => a - b)
    await deleteOrphanIndexes(env.disk, dir, names, new Set(baseOffsets), log)
    const isNewLog = baseOffsets.length === 0
    if (isNewLog) baseOffsets.push(0)
    const segments = baseOffsets.map((base, i) => {
      const isLast = i === baseOffsets.length - 1
      const nextOffset = isLast ? base : (baseOffsets[i + 1] as number)
      return new Segment(dir, base, { nextOffset, sizeBytes: 0, closed: !isLast, index: undefined })
    })
    for (const segment of segments.slice(0, -1)) {
      const sizeBytes = await cache.use(segment.logPath, false, async (file) => file.size())
      segment.sizeBytes = sizeBytes
      segment.writtenBytes = sizeBytes
    }
    const active = segments[segments.length - 1] as Segment
    const report = await recoverActiveSegment(cache, active, config.indexIntervalBytes, log)
    // A new log's files, and the directories holding them, exist for certain only once each
    // directory up to the root is synced; without it an fsynced append could vanish with them.
    if (isNewLog) await syncDirectoryChain(env.disk, dir)
    else if (report.truncatedBytes > 0 || report.indexRebuilt) await env.disk.syncDir(dir)
    active.ageFromFirstRecord(env.clock.wallMs())
    log.info(
      { segments: segments.length, logStartOffset: segments[0]?.baseOffset, logEndOffset: active.nextOffset, ...report },
      'log opened',
    )
    return new PartitionLog(env, dir, config, cache, segments, report.damagedEndOffset)
  }

  /** The first offset still held (raised by retention, or by advanceLogStartOffset). */
  get logStartOffset(): number {
    return Math.max(this.segments[0]?.baseOffset ?? 0, this.advancedStartOffset)
  }

  /** The offset the next append gets. */
  get logEndOffset(): number {
    return this.active.nextOffset
  }

  /** Every offset below this is written to the OS (and readable). */
  get writtenEndOffset(): number {
    return this.writtenEnd
  }

  /** Every offset below this has been fsynced: it survives a crash of this machine. */
  get durableEndOffset(): number {
    return this.durability.durableEnd
  }

  /**
   * Every offset below this is stored as far as the flush policy promises, the point where
   * appends resolve: fsynced with 'always', written to the OS with 'interval' and 'never' (a
   * topic that opts out of fsync accepts losing the tail on a machine crash, as Kafka's
   * default does). A replica counts its own copy from here when it acknowledges and commits.
   */
  get storedEndOffset(): number {
    return this.config.flush.mode === 'always' ? this.durability.durableEnd : this.writtenEnd
  }

  /**
   * Calls `listener` with the new writtenEndOffset each time appended bytes reach the file
   * (reads return them from then on), until the returned function is called. A partition
   * leader answers its followers' waiting fetches then: earlier they would read nothing,
   * later (at the fsync) costs replication a disk sync. Runs inside the writer: the listener
   * must be quick and must not throw.
   */
  onWritten(listener: (writtenEndOffset: number) => void): () => void {
    this.writtenListeners.add(listener)
    return () => this.writtenListeners.delete(listener)
  }

  /**
   * Appends one or more whole batches as the leader: checks each (header, size, CRC), stamps
   * base offsets and `leaderEpoch` into the caller's buffer in place (fields outside the CRC,
   * so no re-encoding), and queues the bytes for writing. Offsets are assigned now, in call
   * order. Refused batches (bad CRC, magic, length, size) throw a SkeinError and change nothing.
   */
  append(batches: Uint8Array, leaderEpoch: number, source: AppendSource = 'internal'): Promise<AppendResult> {
    try {
      return this.appendAsLeader(batches, leaderEpoch, source)
    } catch (error) {
      return Promise.reject(error)
    }
  }

  /**
   * Appends batches a leader already stamped (a follower copying its leader): they must start
   * exactly at logEndOffset and follow on without gaps, else OFFSET_MISMATCH.
   */
  appendReplicated(batches: Uint8Array): Promise<AppendResult> {
    try {
      return this.appendAsFollower(batches)
    } catch (error) {
      return Promise.reject(error)
    }
  }

  /** The synchronous part of append: offsets are assigned here, in call order. */
  private appendAsLeader(batches: Uint8Array, leaderEpoch: number, source: AppendSource): Promise<AppendResult> {
    assert.ok(Number.isSafeInteger(leaderEpoch) && leaderEpoch >= -1 && leaderEpoch <= 0x7fff_ffff, `leaderEpoch out of range: ${leaderEpoch}`)
    const infos = this.checkAppend(batches)
    if (source === 'client') {
      for (const info of infos) {
        if ((info.attributes & BatchAttribute.control) !== 0) {
          throw this.refuse(new SkeinError(ErrorCode.INVALID_RECORD, `batch at byte ${info.position} is a control batch; only the broker writes those`))
        }
        // A transaction is an idempotent producer's (KIP-98): without a producer id no marker can end it.
        if ((info.attributes & BatchAttribute.transactional) !== 0 && !(info.producerId >= 0)) {
          throw this.refuse(new SkeinError(ErrorCode.INVALID_RECORD, `batch at byte ${info.position} is transactional without a producer id; a transactional batch needs an idempotent producer`))
        }
      }
    }
    const appendTimeMs = this.config.logAppendTime ? Math.floor(this.env.clock.wallMs()) : -1
    let nextOffset = this.logEndOffset
    const stamped = infos.map((info) => {
      stampBatch(batches, info.position, nextOffset, leaderEpoch)
      if (appendTimeMs >= 0) stampLogAppendTime(batches, info.position, info.sizeBytes, appendTimeMs)
      const batch: BatchInfo = { ...info, baseOffset: nextOffset, maxTimestamp: appendTimeMs >= 0 ? appendTimeMs : info.maxTimestamp }
      nextOffset = batchLastOffset(batch) + 1
      return batch
    })
    return this.place(batches, stamped, appendTimeMs)
  }

  private appendAsFollower(batches: Uint8Array): Promise<AppendResult> {
    const infos = this.checkAppend(batches)
    let expected = this.logEndOffset
    for (const info of infos) {
      if (info.baseOffset !== expected) {
        throw this.refuse(new SkeinError(ErrorCode.OFFSET_MISMATCH, `replicated batch starts at offset ${info.baseOffset}; the log ends at ${expected}`))
      }
      expected = batchLastOffset(info) + 1
    }
    return this.place(batches, infos, -1)
  }

  /**
   * Reads whole batches from the segment holding `fromOffset`: the batch containing it and
   * those after, up to `maxBytes` (at least one batch unless minOneBatch is false). Stops at
   * the end of that segment; the next read continues in the next one.
   */
  async read(fromOffset: number, maxBytes: number, options: ReadOptions = {}): Promise<ReadResult> {
    if (!Number.isSafeInteger(fromOffset)) throw invalidRequest(`fromOffset must be an integer, got ${fromOffset}`)
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) throw invalidRequest(`maxBytes must be an integer >= 1, got ${maxBytes}`)
    const truncationsBefore = this.truncations
    try {
      return await this.readOnce(fromOffset, maxBytes, options)
    } catch (error) {
      // A truncation can cut the bytes from under a read: once it is over, read again
      // against the new end rather than report the log as corrupt.
      if (!this.truncating && this.truncations === truncationsBefore) throw error
      await this.maintenance
      return this.readOnce(fromOffset, maxBytes, options)
    }
  }

  private async readOnce(fromOffset: number, maxBytes: number, options: ReadOptions): Promise<ReadResult> {
    this.checkUsable()
    if (fromOffset < this.logStartOffset || fromOffset > this.logEndOffset) {
      throw new SkeinError(ErrorCode.OFFSET_OUT_OF_RANGE, `offset ${fromOffset} is outside [${this.logStartOffset}, ${this.logEndOffset}]`)
    }
    const limit = Math.min(options.maxOffsetExclusive ?? Number.MAX_SAFE_INTEGER, this.writtenEnd)
    if (fromOffset >= limit) return { bytes: new Uint8Array(0), batchCount: 0, nextOffset: fromOffset }
    const segment = this.segmentFor(fromOffset)
    const minOneBatch = options.minOneBatch ?? true
    try {
      const index = await this.indexOf(segment)
      try {
        return await this.readFromSegment(segment, index, fromOffset, maxBytes, limit, minOneBatch, options.epochOf)
      } catch (error) {
        if (!(error instanceof IndexMismatch)) throw error
        // A sealed segment's index file rotted or was damaged: rebuild it from the segment,
        // which the CRCs vouch for, and read again.
        this.env.log.warn({ log: this.dir, segment: segment.logPath, reason: error.message }, 'index disagrees with its segment on read; rebuilding it')
        // The active segment's index is live (appends extend it): seal the segment first,
        // by rolling, and rebuild it like any sealed one.
        if (segment === this.active) {
          if (this.truncating || this.closing) throw this.corruptSegment(segment, 0, fromOffset, error.message)
          this.roll()
        }
        await this.drainWrites()
        this.checkUsable()
        await this.dropClosedIndex(segment)
        return await this.readFromSegment(segment, await this.indexOf(segment), fromOffset, maxBytes, limit, minOneBatch, options.epochOf)
      }
    } catch (error) {
      // Retention may delete a segment under a slow reader: that offset is gone now.
      if ((error as { code?: unknown }).code === 'ENOENT') {
        throw new SkeinError(ErrorCode.OFFSET_OUT_OF_RANGE, `offset ${fromOffset} was deleted by retention while being read`)
      }
      throw error
    }
  }

  /**
   * The first record with timestamp >= `timestampMs` at or after the log start offset (Kafka's
   * ListOffsets by time): its offset and timestamp, or undefined if every record is older.
   */
  async offsetForTimestamp(timestampMs: number): Promise<{ offset: number; timestamp: number } | undefined> {
    this.checkUsable()
    try {
      return await this.offsetForTimestampOnce(timestampMs)
    } catch (error) {
      // Retention deleted a segment mid-search: search what is left.
      if ((error as { code?: unknown }).code !== 'ENOENT') throw error
      return this.offsetForTimestampOnce(timestampMs)
    }
  }

  /**
   * Visits every stored batch's header, oldest segment first, reading headers only (bodies
   * are skipped; CRCs were checked when the log opened). `visit` gets the header facts and
   * the bytes holding the header, at `at`. For state rebuilt from batch headers (a replica's
   * idempotent-producer table). Answers where it stopped if it met bytes that are not a batch.
   * With `wholeControlBatches`, `bytes` holds every control batch whole from `at` (they are
   * one small record each), so its record can be read (a transaction marker's type).
   */
  async scanHeaders(
    visit: (batch: BatchInfo, bytes: Uint8Array, at: number) => void,
    options: { readonly wholeControlBatches?: boolean } = {},
  ): Promise<{ segmentBaseOffset: number; position: number; reason: string } | undefined> {
    const scanOptions = options.wholeControlBatches === true ? HEADERS_AND_CONTROL_BATCHES : HEADERS_ONLY
    for (const segment of [...this.segments]) {
      const outcome = await segment.scan(this.files, 0, scanOptions, (batch, chunk, chunkStart) => {
        visit(batch, chunk, batch.position - chunkStart)
        return true
      })
      if (outcome.stop !== undefined) return { segmentBaseOffset: segment.baseOffset, ...outcome.stop }
    }
    return undefined
  }

  private async offsetForTimestampOnce(timestampMs: number): Promise<{ offset: number; timestamp: number } | undefined> {
    const startOffset = this.logStartOffset
    for (const segment of [...this.segments]) {
      if (segment.nextOffset <= startOffset && segment !== this.active) continue
      const index = await this.indexOf(segment)
      if (segment.maxTimestamp < timestampMs || segment.writtenBytes === 0) continue
      const entry = index.floorByTimestampBelow(timestampMs)
      let found: { offset: number; timestamp: number } | undefined
      await segment.scan(this.files, entry < 0 ? 0 : index.position(entry), { verifyCrc: false }, (batch, chunk, chunkStart) => {
        // Records below the log start offset are deleted as far as readers are concerned.
        if (batch.maxTimestamp < timestampMs || batchLastOffset(batch) < startOffset) return true
        found = firstRecordAtOrAfter(chunk, batch.position - chunkStart, timestampMs, startOffset) ?? {
          offset: Math.max(batch.baseOffset, startOffset),
          timestamp: batch.maxTimestamp,
        }
        return false
      })
      if (found !== undefined) return found
    }
    return undefined
  }

  /**
   * Drops every batch at or after `offset` (a replica discarding a tail its leader never
   * committed). A batch straddling `offset` is dropped whole, so the new end may be below
   * `offset`; returns the new logEndOffset. Appends still waiting for durability past the cut
   * are rejected with LOG_TRUNCATED.
   */
  truncateTo(offset: number): Promise<number> {
    return this.serialized(async () => {
      this.checkUsable()
      if (!Number.isSafeInteger(offset) || offset < this.logStartOffset) {
        throw invalidRequest(`cannot truncate to ${offset}: the log starts at ${this.logStartOffset}`)
      }
      if (offset >= this.logEndOffset) return this.logEndOffset
      this.truncating = true
      this.truncations++
      try {
        await this.drainWrites()
        // An fsync finishing after the cut would mark offsets past it durable.
        while (this.durability.syncing) await this.durability.nextSyncDone()
        this.checkUsable()
        return await this.truncateNow(offset)
      } catch (error) {
        throw this.fail(error)
      } finally {
        this.truncating = false
      }
    })
  }

  /**
   * Deletes the oldest whole segments past retention.ms (their newest record) or while the
   * log exceeds retention.bytes. Never the active segment. Returns what it did.
   */
  enforceRetention(): Promise<RetentionResult> {
    return this.serialized(async () => {
      this.checkUsable()
      const nowMs = this.env.clock.wallMs()
      const { retentionMs, retentionBytes } = this.config
      let totalBytes = this.sizeBytes
      let deletedSegments = 0
      let deletedBytes = 0
      while (this.segments.length > 1) {
        const oldest = this.segments[0] as Segment
        if (!oldest.closed) break // still being sealed by a roll
        await this.indexOf(oldest)
        // A segment with no timestamps at all (-1) never expires by time: better kept than lost.
        const expired = retentionMs !== undefined && oldest.maxTimestamp !== NO_TIMESTAMP && oldest.maxTimestamp < nowMs - retentionMs
        const oversized = retentionBytes !== undefined && totalBytes - oldest.sizeBytes >= retentionBytes
        if (!expired && !oversized) break
        // Readers must stop finding the segment before its files go.
        this.segments.shift()
        this.forgetLoadedIndex(oldest)
        await this.deleteSegmentFiles(oldest)
        totalBytes -= oldest.sizeBytes
        deletedBytes += oldest.sizeBytes
        deletedSegments++
        this.env.log.info({ log: this.dir, segment: oldest.logPath, expired, oversized, logStartOffset: this.logStartOffset }, 'retention deleted a segment')
      }
      if (deletedSegments > 0) await this.env.disk.syncDir(this.dir)
      return { deletedSegments, deletedBytes, logStartOffset: this.logStartOffset }
    })
  }

  /**
   * Raises the log start offset without deleting anything yet (Kafka's DeleteRecords); reads
   * below it fail with OFFSET_OUT_OF_RANGE. Not persisted here: the caller keeps it, as it
   * keeps the high watermark and the last stable offset.
   */
  advanceLogStartOffset(offset: number): void {
    if (!Number.isSafeInteger(offset) || offset > this.logEndOffset) throw invalidRequest(`log start offset ${offset} is past the log end ${this.logEndOffset}`)
    this.advancedStartOffset = Math.max(this.advancedStartOffset, offset)
  }

  /**
   * Writes and fsyncs everything appended so far, whatever the flush policy. Runs in turn
   * with truncation, retention and close, so it never syncs a tail a truncation is cutting.
   */
  flush(): Promise<void> {
    return this.serialized(async () => {
      this.checkUsable()
      await this.drainWrites()
      this.checkUsable()
      await this.syncNow()
    })
  }

  /** Flushes, then releases the files. Later calls fail with SHUTTING_DOWN. */
  close(): Promise<void> {
    this.closing = true
    return this.serialized(async () => {
      if (this.closed) return
      try {
        if (this.failure === undefined) {
          await this.drainWrites()
          if (this.failure === undefined) {
            await this.syncNow()
            await this.active.persistIndex(this.files)
            await Promise.all([this.active.offsetIndexPath, this.active.timeIndexPath].map((path) => this.files.use(path, true, (file) => file.sync())))
          }
        }
      } finally {
        this.closed = true
        this.flushTimer?.cancel()
        this.tail.clear()
        this.durability.rejectAll(new SkeinError(ErrorCode.SHUTTING_DOWN, `log ${this.dir} closed`))
        await this.files.forgetAll(`${this.dir}/`)
      }
    })
  }

  get sizeBytes(): number {
    return this.segments.reduce((total, segment) => total + segment.sizeBytes, 0)
  }

  get segmentCount(): number {
    return this.segments.length
  }

  stats(): LogStats {
    return {
      logStartOffset: this.logStartOffset,
      logEndOffset: this.logEndOffset,
      writtenEndOffset: this.writtenEnd,
      durableEndOffset: this.durableEndOffset,
      segments: this.segments.length,
      sizeBytes: this.sizeBytes,
      pendingWriteBytes: this.pendingWriteBytes,
      writes: this.writes,
      syncs: this.durability.syncCount,
    }
  }

  private get active(): Segment {
    return this.segments[this.segments.length - 1] as Segment
  }

  /** Validation shared by both appends: the log is usable, not overloaded, and the bytes are good batches. */
  private checkAppend(batches: Uint8Array): BatchInfo[] {
    this.checkUsable()
    if (this.closing) throw new SkeinError(ErrorCode.SHUTTING_DOWN, `log ${this.dir} is closing`)
    if (this.truncating) throw new SkeinError(ErrorCode.LOG_TRUNCATED, `log ${this.dir} is being truncated`)
    let infos: BatchInfo[]
    try {
      infos = checkBatches(batches, this.config)
    } catch (error) {
      throw this.refuse(error)
    }
    if (this.pendingWriteBytes + batches.length > this.config.pendingWriteBytesMax) {
      throw new SkeinError(ErrorCode.OVERLOADED, `log ${this.dir} has ${this.pendingWriteBytes} bytes waiting to be written (limit pendingWriteBytesMax ${this.config.pendingWriteBytesMax})`)
    }
    return infos
  }

  /** Logs a refused append (bad input from a client or peer) and returns the error to throw. */
  private refuse(error: unknown): unknown {
    if (error instanceof SkeinError) this.env.log.warn({ log: this.dir, code: error.code, error: error.errorName, reason: error.message }, 'append refused')
    return error
  }

  /** Places checked, stamped batches at the end of the active segment (rolling first if due) and queues their bytes. */
  private place(bytes: Uint8Array, batches: BatchInfo[], logAppendTimeMs: number): Promise<AppendResult> {
    const first = batches[0] as BatchInfo
    const lastOffset = batchLastOffset(batches[batches.length - 1] as BatchInfo)
    if (this.shouldRoll(bytes.length, lastOffset)) this.roll()
    const active = this.active
    if (active.isEmpty()) active.createdWallMs = this.env.clock.wallMs()
    for (const batch of batches) active.recordBatch(batch, this.config.indexIntervalBytes)
    this.enqueueData(active, bytes, lastOffset + 1)
    const result: AppendResult = { baseOffset: first.baseOffset, lastOffset, logAppendTimeMs }
    return this.durability.waitFor(lastOffset + 1).then(() => result)
  }

  private shouldRoll(incomingBytes: number, lastOffset: number): boolean {
    const active = this.active
    if (active.isEmpty()) return false
    const index = active.index as SegmentIndex
    return (
      active.sizeBytes + incomingBytes > this.config.segmentBytesMax ||
      this.env.clock.wallMs() - active.createdWallMs >= this.config.segmentAgeMsMax ||
      lastOffset - active.baseOffset > RELATIVE_OFFSET_MAX ||
      (index.count + 1) * OFFSET_INDEX_ENTRY_BYTES > this.config.indexBytesMax
    )
  }

  /** Starts a new active segment at logEndOffset; sealing the old one and creating the files happen in write order. */
  private roll(): void {
    const sealed = this.active
    const opened = new Segment(this.dir, sealed.nextOffset, { nextOffset: sealed.nextOffset, sizeBytes: 0, closed: false, index: new SegmentIndex() })
    opened.createdWallMs = this.env.clock.wallMs()
    this.segments.push(opened)
    this.ops.push({ kind: 'roll', sealed, opened })
    this.env.log.debug({ log: this.dir, baseOffset: opened.baseOffset }, 'rolled to a new segment')
    this.loadedClosedIndexes.push(sealed)
    this.trimLoadedIndexes()
    if (!this.pumping) void this.pump()
  }

  private enqueueData(segment: Segment, bytes: Uint8Array, endOffset: number): void {
    const last = this.ops[this.ops.length - 1]
    if (last !== undefined && last.kind === 'data' && last.segment === segment && last.bytes + bytes.length <= this.config.writeBytesMax) {
      last.chunks.push(bytes)
      last.bytes += bytes.length
      last.endOffset = endOffset
    } else {
      this.ops.push({ kind: 'data', segment, chunks: [bytes], bytes: bytes.length, endOffset })
    }
    this.pendingWriteBytes += bytes.length
    if (!this.pumping) void this.pump()
  }

  /** The single writer: runs queued operations in order, one at a time. */
  private async pump(): Promise<void> {
    this.pumping = true
    try {
      for (let op = this.ops.shift(); op !== undefined && this.failure === undefined; op = this.ops.shift()) {
        if (op.kind === 'data') await this.write(op)
        else await this.sealAndOpen(op.sealed, op.opened)
      }
    } catch (error) {
      this.fail(error)
    } finally {
      this.pumping = false
      for (const resolve of this.drainWaiters.splice(0)) resolve()
    }
  }

  private async write(op: Extract<WriteOp, { kind: 'data' }>): Promise<void> {
    const segment = op.segment
    const position = segment.writtenBytes
    await this.files.use(segment.logPath, true, (file) => {
      assert.equal(file.size(), position, `${segment.logPath}: file size and written bytes agree`)
      return op.chunks.length === 1 ? file.append(op.chunks[0] as Uint8Array) : file.appendAll(op.chunks)
    })
    this.tail.wrote(segment, position, op.chunks, op.bytes)
    segment.writtenBytes += op.bytes
    this.pendingWriteBytes -= op.bytes
    this.writes++
    this.writtenEnd = op.endOffset
    this.lastWrittenSegment = segment
    this.afterWrite(op.bytes)
    for (const listener of this.writtenListeners) listener(this.writtenEnd)
    // Index entries go out in batches, off the path between data writes: recovery never
    // trusts an entry without checking the batch it points at, and rebuilds the missing ones.
    if (segment.unpersistedIndexEntries() >= INDEX_PERSIST_BATCH_ENTRIES) await segment.persistIndex(this.files)
  }

  private async sealAndOpen(sealed: Segment, opened: Segment): Promise<void> {
    await sealed.seal(this.files)
    // Sealing synced everything up to the new segment's base.
    this.durability.markDurable(opened.baseOffset)
    for (const path of opened.paths) await this.files.use(path, true, async () => undefined)
    await this.env.disk.syncDir(this.dir)
  }

  /** Applies the flush policy after a write. */
  private afterWrite(writtenBytes: number): void {
    // interval and never: the append is done once the OS has it.
    if (this.config.flush.mode !== 'always') this.durability.markWritten(this.writtenEnd)
    this.unsyncedBytes += writtenBytes
    this.maybeSync()
  }

  /**
   * Starts an fsync if the policy wants one now: always, as soon as none is in flight (group
   * commit: when one completes, the next covers everything written meanwhile); interval,
   * once intervalBytes are unsynced, else when the interval timer fires.
   */
  private maybeSync(): void {
    const flush = this.config.flush
    if (flush.mode === 'never' || this.unsyncedBytes === 0) return
    if (flush.mode === 'always' || this.unsyncedBytes >= flush.intervalBytes) {
      this.startSync()
      return
    }
    this.flushTimer ??= this.env.clock.setTimer(flush.intervalMs, () => {
      this.flushTimer = undefined
      this.startSync()
    })
  }

  private startSync(): void {
    if (this.durability.syncing || this.truncating || this.failure !== undefined || this.closed) return
    const target = this.writtenEnd
    if (target <= this.durability.durableEnd) return
    const segment = this.lastWrittenSegment
    this.unsyncedBytes = 0
    this.flushTimer?.cancel()
    this.flushTimer = undefined
    const sync = this.durability.syncStarted()
    this.files.use(segment.logPath, true, (file) => file.sync()).then(
      () => {
        this.durability.syncFinished(sync, target)
        this.maybeSync()
      },
      (error: unknown) => this.fail(error),
    )
  }

  /** Syncs the last written segment now and waits (flush, close). */
  private async syncNow(): Promise<void> {
    while (this.durability.syncing) await this.durability.nextSyncDone()
    const target = this.writtenEnd
    this.unsyncedBytes = 0
    const sync = this.durability.syncStarted()
    try {
      await this.files.use(this.lastWrittenSegment.logPath, true, (file) => file.sync())
    } catch (error) {
      throw this.fail(error)
    }
    this.durability.syncFinished(sync, target)
    this.maybeSync()
  }

  /** Resolves when every queued write has been written. */
  private drainWrites(): Promise<void> {
    if (!this.pumping && this.ops.length === 0) return Promise.resolve()
    return new Promise((resolve) => this.drainWaiters.push(resolve))
  }

  private async truncateNow(offset: number): Promise<number> {
    this.tail.clear()
    // Delete whole segments above the cut first, newest first, so a crash part-way leaves
    // a contiguous prefix of segments (whose tail the next truncation cuts again).
    while (this.segments.length > 1 && this.active.baseOffset >= offset) {
      const dropped = this.segments.pop() as Segment
      await this.deleteSegmentFiles(dropped)
    }
    await this.env.disk.syncDir(this.dir)
    const segment = this.active
    const index = await this.indexOf(segment)
    let cutPosition = 0
    let newEnd = segment.baseOffset
    let maxTimestamp = NO_TIMESTAMP
    if (offset > segment.baseOffset) {
      const entry = index.floorByOffset(offset - segment.baseOffset)
      const from = entry < 0 ? 0 : index.position(entry)
      maxTimestamp = entry < 0 ? NO_TIMESTAMP : index.timestampBefore(entry)
      cutPosition = from
      newEnd = entry < 0 ? segment.baseOffset : segment.baseOffset + index.relativeOffset(entry)
      await segment.scan(this.files, from, HEADERS_ONLY, (batch) => {
        // A batch not starting where the last ended is damaged: cut there, whatever it claims.
        if (batchLastOffset(batch) >= offset || batch.baseOffset !== newEnd) return false
        cutPosition = batch.position + batch.sizeBytes
        newEnd = batchLastOffset(batch) + 1
        if (batch.maxTimestamp > maxTimestamp) maxTimestamp = batch.maxTimestamp
        return true
      })
    }
    // Readers must stop seeing the bytes before they go.
    segment.writtenBytes = Math.min(segment.writtenBytes, cutPosition)
    this.writtenEnd = Math.min(this.writtenEnd, newEnd)
    const keptEntries = index.floorByPositionBelow(cutPosition) + 1
    index.truncate(keptEntries)
    const sizes = Segment.indexFileSizes(keptEntries)
    await this.files.use(segment.logPath, true, async (file) => {
      await file.truncate(cutPosition)
      await file.sync()
    })
    // The index cuts are synced too: entries surviving a crash must never point into bytes
    // that later appends reuse for other offsets.
    await cutIndexFile(this.files, segment.offsetIndexPath, sizes.offsetIndexBytes)
    await cutIndexFile(this.files, segment.timeIndexPath, sizes.timeIndexBytes)
    this.forgetLoadedIndex(segment)
    segment.closed = false
    segment.sizeBytes = cutPosition
    segment.writtenBytes = cutPosition
    segment.nextOffset = newEnd
    segment.maxTimestamp = maxTimestamp
    segment.persistedIndexEntries = Math.min(segment.persistedIndexEntries, keptEntries)
    segment.bytesSinceIndexEntry = keptEntries === 0 ? cutPosition : cutPosition - index.position(keptEntries - 1)
    if (cutPosition === 0) segment.firstBatchTimestamp = NO_TIMESTAMP
    else if (segment.firstBatchTimestamp === NO_TIMESTAMP) segment.firstBatchTimestamp = await firstBatchMaxTimestamp(this.files, segment)
    segment.ageFromFirstRecord(this.env.clock.wallMs())
    this.writtenEnd = newEnd
    this.lastWrittenSegment = segment
    this.unsyncedBytes = 0
    this.durability.truncated(newEnd, new SkeinError(ErrorCode.LOG_TRUNCATED, `log ${this.dir} was truncated to offset ${newEnd}`))
    this.env.log.info({ log: this.dir, requestedOffset: offset, logEndOffset: newEnd }, 'log truncated')
    return newEnd
  }

  private async deleteSegmentFiles(segment: Segment): Promise<void> {
    for (const path of segment.paths) {
      await this.files.forget(path)
      await this.env.disk.delete(path)
    }
  }

  /** The segment holding `offset`: the last one whose base offset is at or below it. */
  private segmentFor(offset: number): Segment {
    let low = 0
    let high = this.segments.length - 1
    while (low < high) {
      const middle = (low + high + 1) >>> 1
      if ((this.segments[middle] as Segment).baseOffset <= offset) low = middle
      else high = middle - 1
    }
    return this.segments[low] as Segment
  }

  private async readFromSegment(
    segment: Segment,
    index: SegmentIndex,
    fromOffset: number,
    maxBytes: number,
    limit: number,
    minOneBatch: boolean,
    epochOf: ((baseOffset: number) => number) | undefined,
  ): Promise<ReadResult> {
    const entry = index.floorByOffset(fromOffset - segment.baseOffset)
    const endPosition = segment.writtenBytes
    // One read usually does: the wanted batch lies within about one index interval (plus a
    // batch) of its index entry, and the answer is at most maxBytes after it.
    const readAheadBytes = maxBytes + 2 * this.config.indexIntervalBytes
    const indexedPosition = entry < 0 ? 0 : index.position(entry)
    // Offsets are contiguous (no compaction yet: it would leave gaps between batches), so each
    // batch must start where the one before ended, the first where the index says. Base
    // offsets lie outside the CRC: this is what catches a flipped bit in one.
    let expectedOffset = entry < 0 ? segment.baseOffset : segment.baseOffset + index.relativeOffset(entry)
    let chunkStart = indexedPosition
    let chunk = await this.readSegmentBytes(segment, chunkStart, Math.min(endPosition - chunkStart, readAheadBytes), expectedOffset)
    let position = chunkStart
    let first = -1
    let batchCount = 0
    let nextOffset = fromOffset
    while (position < endPosition) {
      const relative = position - chunkStart
      const sizeBytes = relative + BATCH_LOG_OVERHEAD_BYTES <= chunk.length ? batchSizeAt(chunk, relative) : BATCH_HEADER_BYTES
      if (sizeBytes > endPosition - position) {
        if (position === indexedPosition && indexedPosition > 0) throw new IndexMismatch(`index points at byte ${position}, where no whole batch starts`)
        throw this.corruptSegment(segment, position, expectedOffset, `a batch of ${sizeBytes} bytes runs past the written end`)
      }
      if (relative + sizeBytes > chunk.length) {
        if (first >= 0) break // the rest waits for the next read
        chunkStart = position
        chunk = await this.readSegmentBytes(segment, position, Math.min(endPosition - position, Math.max(readAheadBytes, sizeBytes)), expectedOffset)
        continue
      }
      let batch: BatchInfo
      try {
        batch = checkBatchHeader(chunk, relative, NO_SIZE_LIMIT)
      } catch (error) {
        if (position === indexedPosition && indexedPosition > 0) throw new IndexMismatch(`index points at byte ${position}, which is not a batch`)
        throw this.corruptSegment(segment, position, expectedOffset, (error as Error).message)
      }
      if (batch.baseOffset !== expectedOffset) {
        if (position === indexedPosition && indexedPosition > 0) throw new IndexMismatch(`index entry for offset ${expectedOffset} points at a batch starting at ${batch.baseOffset}`)
        throw this.corruptSegment(segment, position, expectedOffset, `batch at byte ${position} starts at offset ${batch.baseOffset}, not ${expectedOffset}`)
      }
      const lastOffset = batchLastOffset(batch)
      if (lastOffset >= segment.nextOffset) throw this.corruptSegment(segment, position, expectedOffset, `batch at byte ${position} ends at offset ${lastOffset}, past the segment's end ${segment.nextOffset - 1}`)
      if (lastOffset < fromOffset) {
        position += batch.sizeBytes
        expectedOffset = lastOffset + 1
        continue
      }
      if (lastOffset >= limit) break
      if (first >= 0 ? position - first + batch.sizeBytes > maxBytes : batch.sizeBytes > maxBytes && !minOneBatch) break
      // Bytes at rest can rot: a batch going out is checked against its CRC (one pass per
      // batch, no record parsing), so a flipped bit fails the read instead of reaching a
      // follower or consumer as data.
      if (this.config.verifyReadCrc) {
        try {
          checkBatch(chunk, relative, NO_SIZE_LIMIT)
        } catch (error) {
          throw this.corruptSegment(segment, position, expectedOffset, (error as Error).message)
        }
      }
      if (epochOf !== undefined) {
        const epoch = readInt32(chunk, relative + BatchField.partitionLeaderEpoch)
        const expectedEpoch = epochOf(batch.baseOffset)
        if (epoch !== expectedEpoch) throw this.corruptSegment(segment, position, expectedOffset, `batch at offset ${batch.baseOffset} carries leader epoch ${epoch}; the epoch cache says ${expectedEpoch}`)
      }
      if (first < 0) first = position
      position += batch.sizeBytes
      batchCount++
      nextOffset = lastOffset + 1
      expectedOffset = nextOffset
    }
    if (first < 0) {
      // Nothing at or after fromOffset in bytes that should hold it.
      if (position >= endPosition && fromOffset < Math.min(segment.nextOffset, limit)) {
        throw this.corruptSegment(segment, position, expectedOffset, `no batch holds offset ${fromOffset}`)
      }
      return { bytes: new Uint8Array(0), batchCount: 0, nextOffset: fromOffset }
    }
    return { bytes: chunk.subarray(first - chunkStart, position - chunkStart), batchCount, nextOffset }
  }

  private async readSegmentBytes(segment: Segment, position: number, byteCount: number, expectedOffset: number): Promise<Uint8Array> {
    const cached = this.tail.read(segment, position, byteCount)
    if (cached !== undefined) return cached
    const bytes = await this.files.use(segment.logPath, false, (file) => file.read(position, byteCount))
    if (bytes.length < byteCount) throw this.corruptSegment(segment, position + bytes.length, expectedOffset, `the file is shorter than the ${segment.writtenBytes} bytes written`)
    return bytes
  }

  /** A segment's index, loading it first for a closed segment (lazily, one load at a time). */
  private async indexOf(segment: Segment): Promise<SegmentIndex> {
    if (segment.index !== undefined) return segment.index
    let loading = this.indexLoads.get(segment)
    if (loading === undefined) {
      loading = loadClosedSegmentIndex(this.files, segment, this.config.indexIntervalBytes, this.env.log).finally(() => this.indexLoads.delete(segment))
      this.indexLoads.set(segment, loading)
    }
    await loading
    const index = segment.index
    assert.ok(index !== undefined, 'loading an index sets it')
    this.loadedClosedIndexes.push(segment)
    this.trimLoadedIndexes()
    return index
  }

  /** Forgets a sealed segment's index and deletes its files, so the next use rebuilds them from the segment. */
  private async dropClosedIndex(segment: Segment): Promise<void> {
    assert.ok(segment.closed && segment !== this.active)
    segment.index = undefined
    this.forgetLoadedIndex(segment)
    for (const path of [segment.offsetIndexPath, segment.timeIndexPath]) {
      await this.files.forget(path)
      await this.env.disk.delete(path)
    }
  }

  /** Keeps at most LOADED_CLOSED_INDEXES_MAX closed-segment indexes in memory. */
  private trimLoadedIndexes(): void {
    while (this.loadedClosedIndexes.length > LOADED_CLOSED_INDEXES_MAX) {
      const evicted = this.loadedClosedIndexes.shift() as Segment
      if (evicted.closed && evicted !== this.active && !this.loadedClosedIndexes.includes(evicted)) evicted.index = undefined
    }
  }

  private forgetLoadedIndex(segment: Segment): void {
    for (let i = this.loadedClosedIndexes.indexOf(segment); i >= 0; i = this.loadedClosedIndexes.indexOf(segment)) this.loadedClosedIndexes.splice(i, 1)
  }

  /**
   * The error for stored bytes that are not what was written. Logged as an error: the replica
   * needs repair (from its peers, once replication exists), and an operator should know.
   */
  /** `offset`: the first offset whose batch is damaged (see CorruptLogError). */
  private corruptSegment(segment: Segment, position: number, offset: number, reason: string): CorruptLogError {
    this.env.log.error({ log: this.dir, segment: segment.logPath, position, offset, reason }, 'corrupt bytes in a segment')
    return new CorruptLogError(`segment ${segment.logPath} is corrupt at byte ${position} (offset ${offset}): ${reason}`, offset)
  }

  /** Runs maintenance operations (truncate, retention, close) one at a time. */
  private serialized<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.maintenance.then(operation)
    this.maintenance = result.catch(() => undefined)
    return result
  }

  private checkUsable(): void {
    if (this.closed) throw new SkeinError(ErrorCode.SHUTTING_DOWN, `log ${this.dir} is closed`)
    if (this.failure !== undefined) throw this.failure
  }

  /** Takes the log offline after a disk error; returns the error callers should see. */
  private fail(error: unknown): SkeinError {
    if (error instanceof SkeinError && error.code !== ErrorCode.KAFKA_STORAGE_ERROR.code) return error
    if (this.failure !== undefined) return this.failure
    const message = error instanceof Error ? error.message : String(error)
    const failure = new SkeinError(ErrorCode.KAFKA_STORAGE_ERROR, `log ${this.dir} is offline after a disk error: ${message}`, { cause: error })
    this.failure = failure
    this.flushTimer?.cancel()
    this.env.log.error({ log: this.dir, error: message, code: (error as { code?: unknown }).code }, 'log taken offline by a disk error')
    this.durability.rejectAll(failure)
    this.ops.length = 0
    this.tail.clear()
    return failure
  }
}

/** The whole size a batch header at `relative` declares (at least a header, so a scan always moves). */
function batchSizeAt(chunk: Uint8Array, relative: number): number {
  return Math.max(BATCH_HEADER_BYTES, readInt32(chunk, relative + BatchField.batchLength) + BATCH_LOG_OVERHEAD_BYTES)
}

/**
 * The first record of the batch at `position` with timestamp >= `timestampMs` and offset >=
 * `startOffset`, as Kafka's ListOffsets answers: an admin query, so decoding one batch's
 * records is fine here. Undefined if the batch cannot be decoded (a codec skein lacks).
 */
function firstRecordAtOrAfter(chunk: Uint8Array, position: number, timestampMs: number, startOffset: number): { offset: number; timestamp: number } | undefined {
  try {
    const record = decodeRecordBatch(chunk, position).records.find((r) => r.timestamp >= timestampMs && r.offset >= startOffset)
    return record === undefined ? undefined : { offset: record.offset, timestamp: record.timestamp }
  } catch {
    return undefined
  }
}

/** A read found a sealed segment's index pointing somewhere its batches say is wrong. */
class IndexMismatch extends Error {}

/** Stored batches are not refused for size on the way out: the limit may have been lowered since. */
const NO_SIZE_LIMIT = { batchBytesMax: Number.MAX_SAFE_INTEGER }

function invalidRequest(message: string): SkeinError {
  return new SkeinError(ErrorCode.INVALID_REQUEST, message)
}

/** Syncs `dir` and each of its ancestors up to the root (''), after creating them. */
async function syncDirectoryChain(disk: Disk, dir: string): Promise<void> {
  const parts = dir.split('/').filter((part) => part !== '' && part !== '.')
  for (let depth = parts.length; depth >= 0; depth--) await disk.syncDir(parts.slice(0, depth).join('/'))
}

/** Index files left behind by a segment whose .log is gone (a crash mid-delete). */
async function deleteOrphanIndexes(disk: Disk, dir: string, names: readonly string[], bases: ReadonlySet<number>, log: Logger): Promise<void> {
  for (const name of names) {
    const base = parseSegmentFileName(name, OFFSET_INDEX_SUFFIX) ?? parseSegmentFileName(name, TIME_INDEX_SUFFIX)
    if (base === undefined || bases.has(base)) continue
    log.warn({ file: `${dir}/${name}` }, 'deleting an index file whose segment is gone')
    await disk.delete(`${dir}/${name}`)
  }
}
