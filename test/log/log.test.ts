import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { Prng } from '../../sim/prng.js'
import { Scheduler } from '../../sim/scheduler.js'
import { SimClock } from '../../sim/sim-clock.js'
import { DISK_CONFIG_DEFAULT, type DiskConfig, SimDisk } from '../../sim/sim-disk.js'
import { type Clock, sleep } from '../../src/env/clock.js'
import type { Disk, FileHandle, OpenOptions } from '../../src/env/disk.js'
import type { Logger } from '../../src/env/logger.js'
import { RealClock } from '../../src/env/real/clock.js'
import { RealDisk } from '../../src/env/real/disk.js'
import { BATCH_HEADER_BYTES, BatchField, readInt32, writeInt32 } from '../../src/log/batch-header.js'
import type { LogConfig } from '../../src/log/config.js'
import { ControlType, controlBatchFacts, encodeTxnMarkerBatch } from '../../src/log/control-record.js'
import { FileCache } from '../../src/log/file-cache.js'
import { HEADERS_SCAN_CHUNK_BYTES } from '../../src/log/scan.js'
import { CorruptLogError, type LogEnv, PartitionLog, isStorageError } from '../../src/log/log.js'
import { type DecodedBatch, decodeRecordBatches, encodeRecordBatch, type RecordBatchSpec } from '../../src/log/record-batch.js'
import { ErrorCode, SkeinError } from '../../src/wire/errors.js'
import { concatBytes, PassThroughDisk } from './helpers.js'

// ---------------------------------------------------------------- harness

interface LogLine {
  readonly level: 'debug' | 'info' | 'warn' | 'error'
  readonly fields: Readonly<Record<string, unknown>>
  readonly message: string
}

/** A Logger that keeps every line (children share the list), so tests can ask "was a warning logged". */
class RecordingLogger implements Logger {
  constructor(
    readonly lines: LogLine[] = [],
    private readonly bindings: Readonly<Record<string, unknown>> = {},
  ) {}

  debug(fields: object, message: string): void {
    this.push('debug', fields, message)
  }
  info(fields: object, message: string): void {
    this.push('info', fields, message)
  }
  warn(fields: object, message: string): void {
    this.push('warn', fields, message)
  }
  error(fields: object, message: string): void {
    this.push('error', fields, message)
  }
  child(bindings: Record<string, unknown>): Logger {
    return new RecordingLogger(this.lines, { ...this.bindings, ...bindings })
  }

  at(level: LogLine['level']): LogLine[] {
    return this.lines.filter((line) => line.level === level)
  }

  private push(level: LogLine['level'], fields: object, message: string): void {
    this.lines.push({ level, fields: { ...this.bindings, ...(fields as Record<string, unknown>) }, message })
  }
}

/**
 * A Disk wrapper that can hold the completion of one chosen file sync until the test releases
 * it (the fsync is issued at once, only its promise waits).
 */
class HookedDisk extends PassThroughDisk {
  /** The next file sync whose path matches is held; one-shot. */
  holdNextSyncOf: ((path: string) => boolean) | undefined
  readonly held: Array<() => void> = []


  override async open(path: string, options: OpenOptions): Promise<FileHandle> {
    return hookHandle(this, await this.inner.open(path, options))
  }

  releaseHeld(): void {
    for (const release of this.held.splice(0)) release()
  }

  /** @internal */
  gateFor(path: string): Promise<void> | undefined {
    const hold = this.holdNextSyncOf
    if (hold === undefined || !hold(path)) return undefined
    this.holdNextSyncOf = undefined
    return new Promise((resolve) => this.held.push(resolve))
  }
}

/** `inner` with its sync() gated by `disk`; every other member forwarded as is (whatever FileHandle grows). */
function hookHandle(disk: HookedDisk, inner: FileHandle): FileHandle {
  const sync = async (): Promise<void> => {
    const gate = disk.gateFor(inner.path)
    const synced = inner.sync()
    if (gate !== undefined) await gate
    await synced
  }
  return new Proxy(inner, {
    get(target, property) {
      if (property === 'sync') return sync
      const value: unknown = Reflect.get(target, property, target)
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value
    },
  })
}

interface Sim {
  readonly scheduler: Scheduler
  readonly simDisk: SimDisk
  readonly disk: Disk
  readonly clock: SimClock
  readonly logger: RecordingLogger
  readonly env: LogEnv
}

function makeSim(options: { seed?: number; diskConfig?: DiskConfig; wrap?: (disk: SimDisk) => Disk } = {}): Sim {
  const scheduler = new Scheduler()
  const simDisk = new SimDisk(scheduler, Prng.fromSeed(options.seed ?? 1).fork('disk'), 'n1', options.diskConfig ?? DISK_CONFIG_DEFAULT)
  const disk = options.wrap?.(simDisk) ?? simDisk
  const clock = new SimClock(scheduler, { nodeId: 'n1', monotonicStartMs: 0 })
  const logger = new RecordingLogger()
  return { scheduler, simDisk, disk, clock, logger, env: { disk, clock, log: logger } }
}

/** Runs `body` to completion on the scheduler (disk and timer promises only settle while it runs). */
async function run<T>(sim: Sim, body: () => Promise<T>): Promise<T> {
  let outcome: { value: T } | { error: unknown } | undefined
  body().then(
    (value) => (outcome = { value }),
    (error: unknown) => (outcome = { error }),
  )
  // A body may finish on microtasks alone (no event left to run): give those a turn too.
  for (let idleTurns = 0; outcome === undefined && idleTurns < 3; idleTurns++) {
    await sim.scheduler.runUntil(() => outcome !== undefined, { timeoutMs: 3_600_000 })
    if (sim.scheduler.pendingCount > 0) break
    await new Promise((resolve) => setImmediate(resolve))
  }
  if (outcome === undefined) throw new Error('the test body did not complete (the simulation went idle or timed out)')
  if ('error' in outcome) throw outcome.error
  return outcome.value
}

/** Waits (in virtual time) until `condition` holds. */
async function until(clock: Clock, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  for (let waitedMs = 0; !condition(); waitedMs += 0.05) {
    if (waitedMs > timeoutMs) throw new Error('condition not reached')
    await sleep(clock, 0.05)
  }
}

/** The code of the SkeinError `action` throws or rejects with; anything else fails the test. */
async function codeOf(action: () => unknown): Promise<number> {
  try {
    await action()
  } catch (error) {
    if (error instanceof SkeinError) return error.code
    throw error
  }
  throw new Error('expected a SkeinError, nothing was thrown')
}

async function errorOf(action: () => unknown): Promise<SkeinError> {
  try {
    await action()
  } catch (error) {
    if (error instanceof SkeinError) return error
    throw error
  }
  throw new Error('expected a SkeinError, nothing was thrown')
}

/** Outcome of a promise without awaiting it: pending, or how it settled. */
function track<T>(promise: Promise<T>): { state: 'pending' | 'resolved' | 'rejected'; value?: T; error?: unknown } {
  const tracked: { state: 'pending' | 'resolved' | 'rejected'; value?: T; error?: unknown } = { state: 'pending' }
  promise.then(
    (value) => Object.assign(tracked, { state: 'resolved', value }),
    (error: unknown) => Object.assign(tracked, { state: 'rejected', error }),
  )
  return tracked
}

const DIR = 'data/topic-0'
const WALL_START_MS = 1_700_000_000_000
const utf8 = new TextEncoder()
const fromUtf8 = new TextDecoder()

const segmentPath = (baseOffset: number, suffix = '.log'): string => `${DIR}/${String(baseOffset).padStart(20, '0')}${suffix}`

/**
 * A batch of `recordCount` records whose values are `${tag}/${i}` padded to `valueBytes`, so
 * batches of the same record count are the same size.
 */
function makeBatch(tag: string, recordCount = 1, options: { timestamp?: number; valueBytes?: number; spec?: Partial<RecordBatchSpec> } = {}): Uint8Array {
  // The simulated wall clock reads fractional milliseconds; record timestamps are whole.
  const timestamp = Math.floor(options.timestamp ?? WALL_START_MS)
  const records = Array.from({ length: recordCount }, (_, i) => ({
    key: null,
    value: utf8.encode(`${tag}/${i}`.padEnd(options.valueBytes ?? 24, '.')),
    timestamp,
  }))
  return encodeRecordBatch({ records, ...options.spec })
}


interface ReadRecord {
  readonly offset: number
  readonly value: string
}

/** Reads the log from `from` to its written end by looping on nextOffset; every batch decoded (CRC checked). */
async function readAll(log: PartitionLog, from = log.logStartOffset, maxBytes = 1000): Promise<{ records: ReadRecord[]; batches: DecodedBatch[]; bytes: Uint8Array[] }> {
  const records: ReadRecord[] = []
  const batches: DecodedBatch[] = []
  const bytes: Uint8Array[] = []
  let next = from
  for (let reads = 0; next < log.writtenEndOffset; reads++) {
    if (reads > 100_000) throw new Error('readAll does not progress')
    const result = await log.read(next, maxBytes)
    expect(result.batchCount).toBeGreaterThan(0)
    const decoded = decodeRecordBatches(result.bytes)
    expect(decoded.length).toBe(result.batchCount)
    for (const batch of decoded) {
      batches.push(batch)
      for (const record of batch.records) records.push({ offset: record.offset, value: fromUtf8.decode(record.value ?? new Uint8Array()) })
    }
    bytes.push(result.bytes.slice())
    next = result.nextOffset
  }
  return { records, batches, bytes }
}

function valuesOf(records: readonly ReadRecord[]): string[] {
  return records.map((record) => record.value.replace(/\.+$/, ''))
}

/** Appends `count` one-record batches tagged `${prefix}${i}`, one at a time; returns their sizes. */
async function appendSequential(log: PartitionLog, prefix: string, count: number, options: { timestamp?: () => number; recordCount?: number } = {}): Promise<number[]> {
  const sizes: number[] = []
  for (let i = 0; i < count; i++) {
    const batch = makeBatch(`${prefix}${i}`, options.recordCount ?? 1, { timestamp: options.timestamp?.() ?? WALL_START_MS })
    sizes.push(batch.length)
    await log.append(batch, 0)
  }
  return sizes
}

const ONE_BATCH_BYTES = makeBatch('x0').length

/** Opens the log in DIR; batchBytesMax follows a small segmentBytesMax down (the config requires it). */
function openLog(env: LogEnv, overrides: Partial<LogConfig> = {}): Promise<PartitionLog> {
  const segmentBytesMax = overrides.segmentBytesMax
  const batchBytesMax = overrides.batchBytesMax ?? (segmentBytesMax !== undefined && segmentBytesMax < 1 << 20 ? segmentBytesMax : undefined)
  return PartitionLog.open(env, DIR, batchBytesMax === undefined ? overrides : { ...overrides, batchBytesMax })
}

// ---------------------------------------------------------------- append

describe('PartitionLog.append', () => {
  it('append_concurrentCalls_getContiguousOffsetsInCallOrder', async () => {
    const sim = makeSim()
    await run(sim, async () => {
      const log = await openLog(sim.env)
      const counts = [1, 3, 2, 5, 1, 1, 4, 2, 7, 1, 3, 2]
      const results = await Promise.all(counts.map((count, i) => log.append(makeBatch(`b${i}`, count), 1)))
      let expected = 0
      for (const [i, result] of results.entries()) {
        expect(result).toEqual({ baseOffset: expected, lastOffset: expected + (counts[i] as number) - 1, logAppendTimeMs: -1 })
        expected += counts[i] as number
      }
      expect(log.logEndOffset).toBe(expected)
      const { records } = await readAll(log)
      expect(records.map((record) => record.offset)).toEqual(Array.from({ length: expected }, (_, i) => i))
      expect(valuesOf(records)).toEqual(counts.flatMap((count, i) => Array.from({ length: count }, (_, j) => `b${i}/${j}`)))
      await log.close()
    })
  })

  it('append_stampsBaseOffsetAndLeaderEpoch_leavesEveryByteInsideTheCrcAlone', async () => {
    const sim = makeSim()
    await run(sim, async () => {
      const log = await openLog(sim.env)
      await log.append(makeBatch('first', 4), 3)
      const spec: RecordBatchSpec = {
        producerId: 77,
        producerEpoch: 2,
        baseSequence: 10,
        records: [
          { key: utf8.encode('k1'), value: utf8.encode('v1'), headers: [{ key: 'h', value: utf8.encode('hv') }], timestamp: WALL_START_MS + 5 },
          { key: null, value: null, timestamp: WALL_START_MS + 9 },
          { key: utf8.encode('k3'), value: new Uint8Array(300).fill(7), timestamp: WALL_START_MS + 1 },
        ],
      }
      const batch = encodeRecordBatch(spec)
      const original = batch.slice()
      const result = await log.append(batch, 9)
      expect(result.baseOffset).toBe(4)
      expect(result.lastOffset).toBe(6)
      const read = await log.read(4, 10_000)
      expect(read.batchCount).toBe(1)
      expect(read.nextOffset).toBe(7)
      // Only baseOffset (bytes 0..7) and partitionLeaderEpoch (12..15) changed.
      expect(read.bytes.length).toBe(original.length)
      for (let i = 0; i < original.length; i++) {
        const stamped = (i >= BatchField.baseOffset && i < BatchField.batchLength) || (i >= BatchField.partitionLeaderEpoch && i < BatchField.magic)
        if (!stamped) expect(read.bytes[i], `byte ${i}`).toBe(original[i])
      }
      const [stored] = decodeRecordBatches(read.bytes) // checks the CRC
      const [before] = decodeRecordBatches(original)
      expect(stored?.baseOffset).toBe(4)
      expect(stored?.partitionLeaderEpoch).toBe(9)
      expect(stored?.crc).toBe(before?.crc)
      expect(stored?.producerId).toBe(77)
      expect(stored?.records.map((record) => ({ ...record, offset: record.offset - 4 }))).toEqual(before?.records)
      await log.close()
    })
  })

  it('append_severalBatchesInOneBuffer_eachGetsItsOwnOffsets', async () => {
    const sim = makeSim()
    await run(sim, async () => {
      const log = await openLog(sim.env)
      await log.append(makeBatch('a', 2), 0)
      const result = await log.append(concatBytes([makeBatch('b', 3), makeBatch('c', 1), makeBatch('d', 2)]), 5)
      expect(result).toEqual({ baseOffset: 2, lastOffset: 7, logAppendTimeMs: -1 })
      const read = await log.read(2, 10_000)
      const batches = decodeRecordBatches(read.bytes)
      expect(batches.map((batch) => [batch.baseOffset, batch.recordsCount, batch.partitionLeaderEpoch])).toEqual([
        [2, 3, 5],
        [5, 1, 5],
        [6, 2, 5],
      ])
      expect(read.nextOffset).toBe(8)
      await log.close()
    })
  })

  it('append_logAppendTime_stampsTheAppendTimeAndAValidCrc', async () => {
    const sim = makeSim()
    await run(sim, async () => {
      const log = await openLog(sim.env, { logAppendTime: true })
      await sleep(sim.clock, 1234)
      const wallMs = sim.clock.wallMs()
      const result = await log.append(makeBatch('t', 2, { timestamp: 5 }), 0)
      expect(result.logAppendTimeMs).toBeGreaterThanOrEqual(Math.floor(wallMs))
      expect(result.logAppendTimeMs).toBeLessThanOrEqual(wallMs)
      const [batch] = decodeRecordBatches((await log.read(0, 10_000)).bytes) // checks the recomputed CRC
      expect(batch?.timestampType).toBe('logAppend')
      expect(batch?.maxTimestamp).toBe(Math.floor(wallMs))
      expect(batch?.records.map((record) => record.timestamp)).toEqual([Math.floor(wallMs), Math.floor(wallMs)])
      expect(await log.offsetForTimestamp(Math.floor(wallMs))).toEqual({ offset: 0, timestamp: Math.floor(wallMs) })
      await log.close()
    })
  })

  // Regression: append used to stamp clock.wallMs() unrounded (SimClock's is fractional), so
  // AppendResult.logAppendTimeMs and the in-memory timestamps disagreed with the stored int64.
  it('append_logAppendTime_reportsTheWholeMillisecondItStored', async () => {
    const sim = makeSim()
    await run(sim, async () => {
      const log = await openLog(sim.env, { logAppendTime: true })
      await sleep(sim.clock, 0.25)
      expect(Number.isInteger(sim.clock.wallMs())).toBe(false)
      const result = await log.append(makeBatch('t', 1), 0)
      const [batch] = decodeRecordBatches((await log.read(0, 10_000)).bytes)
      expect(result.logAppendTimeMs).toBe(batch?.maxTimestamp)
      await log.close()
    })
  })

  it('appendReplicated_keepsTheLeadersOffsetsAndEpoch', async () => {
    const sim = makeSim()
    await run(sim, async () => {
      const log = await openLog(sim.env)
      const first = makeBatch('r0', 3, { spec: { baseOffset: 0, partitionLeaderEpoch: 4 } })
      const second = concatBytes([makeBatch('r1', 2, { spec: { baseOffset: 3, partitionLeaderEpoch: 5 } }), makeBatch('r2', 1, { spec: { baseOffset: 5, partitionLeaderEpoch: 5 } })])
      expect(await log.appendReplicated(first)).toEqual({ baseOffset: 0, lastOffset: 2, logAppendTimeMs: -1 })
      expect(await log.appendReplicated(second)).toEqual({ baseOffset: 3, lastOffset: 5, logAppendTimeMs: -1 })
      const { batches, bytes } = await readAll(log, 0, 100_000)
      expect(batches.map((batch) => [batch.baseOffset, batch.partitionLeaderEpoch])).toEqual([
        [0, 4],
        [3, 5],
        [5, 5],
      ])
      expect(concatBytes(bytes)).toEqual(concatBytes([first, second]))
      await log.close()
    })
  })

  it('appendReplicated_gapOrOverlap_refusedWithOffsetMismatch_changesNothing', async () => {
    const sim = makeSim()
    await run(sim, async () => {
      const log = await openLog(sim.env)
      await log.appendReplicated(makeBatch('r0', 3, { spec: { baseOffset: 0 } }))
      await sleep(sim.clock, 10)
      const fileBefore = sim.simDisk.peekBytes(segmentPath(0))
      const cases: Array<[string, Uint8Array]> = [
        ['gap', makeBatch('gap', 1, { spec: { baseOffset: 4 } })],
        ['overlap', makeBatch('overlap', 2, { spec: { baseOffset: 2 } })],
        ['restart from zero', makeBatch('zero', 1, { spec: { baseOffset: 0 } })],
        ['gap between two batches', concatBytes([makeBatch('ok', 1, { spec: { baseOffset: 3 } }), makeBatch('skip', 1, { spec: { baseOffset: 5 } })])],
        ['overlap between two batches', concatBytes([makeBatch('ok', 2, { spec: { baseOffset: 3 } }), makeBatch('back', 1, { spec: { baseOffset: 4 } })])],
      ]
      for (const [name, bytes] of cases) {
        const warningsBefore = sim.logger.at('warn').length
        expect(await codeOf(() => log.appendReplicated(bytes)), name).toBe(ErrorCode.OFFSET_MISMATCH.code)
        expect(log.logEndOffset, name).toBe(3)
        expect(sim.logger.at('warn').length, name).toBe(warningsBefore + 1)
        expect(sim.logger.at('warn').at(-1)?.fields.code, name).toBe(ErrorCode.OFFSET_MISMATCH.code)
      }
      await sleep(sim.clock, 10)
      expect(sim.simDisk.peekBytes(segmentPath(0))).toEqual(fileBefore)
      expect(log.stats().pendingWriteBytes).toBe(0)
      expect(await log.appendReplicated(makeBatch('r1', 1, { spec: { baseOffset: 3 } }))).toMatchObject({ baseOffset: 3, lastOffset: 3 })
      await log.close()
    })
  })
})

// ---------------------------------------------------------------- read

describe('PartitionLog.read', () => {
  it('read_returnsWholeBatchesExactlyAsStored', async () => {
    const sim = makeSim()
    await run(sim, async () => {
      const log = await openLog(sim.env)
      const appended: Uint8Array[] = []
      for (let i = 0; i < 10; i++) {
        const batch = makeBatch(`b${i}`, 1 + (i % 3))
        await log.append(batch, 2)
        appended.push(batch) // stamped in place by append
      }
      const read = await log.read(0, 1_000_000)
      expect(read.batchCount).toBe(10)
      expect(read.nextOffset).toBe(log.logEndOffset)
      expect(read.bytes).toEqual(concatBytes(appended))
      expect(sim.simDisk.peekBytes(segmentPath(0))).toEqual(concatBytes(appended))
      await log.close()
    })
  })

  it('read_fromAnOffsetInsideABatch_returnsThatWholeBatch', async () => {
    const sim = makeSim()
    await run(sim, async () => {
      const log = await openLog(sim.env)
      await log.append(makeBatch('a', 10), 0)
      await log.append(makeBatch('b', 5), 0)
      await log.append(makeBatch('c', 5), 0)
      for (const from of [10, 11, 12, 14]) {
        const read = await log.read(from, 1)
        const batches = decodeRecordBatches(read.bytes)
        expect(batches.map((batch) => batch.baseOffset)).toEqual([10])
        expect(read.nextOffset).toBe(15)
      }
      await log.close()
    })
  })

  it('read_maxBytes_returnsWholeBatchesThatFit_andOneOversizedBatchOnlyWithMinOneBatch', async () => {
    const sim = makeSim()
    await run(sim, async () => {
      const log = await openLog(sim.env)
      await appendSequential(log, 'b', 6)
      const size = ONE_BATCH_BYTES
      const two = await log.read(0, Math.floor(2.5 * size))
      expect(two.batchCount).toBe(2)
      expect(two.bytes.length).toBe(2 * size)
      expect(two.nextOffset).toBe(2)
      const exact = await log.read(1, 3 * size)
      expect(exact.batchCount).toBe(3)
      expect(exact.nextOffset).toBe(4)
      const oversized = await log.read(2, 10)
      expect(oversized.batchCount).toBe(1)
      expect(oversized.bytes.length).toBe(size)
      expect(oversized.nextOffset).toBe(3)
      const none = await log.read(2, size - 1, { minOneBatch: false })
      expect(none).toEqual({ bytes: new Uint8Array(0), batchCount: 0, nextOffset: 2 })
      const fits = await log.read(2, size, { minOneBatch: false })
      expect(fits.batchCount).toBe(1)
      await log.close()
    })
  })

  it('read_maxOffsetExclusive_stopsBeforeTheBatchWhoseLastOffsetReachesIt', async () => {
    const sim = makeSim()
    await run(sim, async () => {
      const log = await openLog(sim.env)
      for (const tag of ['a', 'b', 'c']) await log.append(makeBatch(tag, 5), 0) // [0..4] [5..9] [10..14]
      const cases: Array<[from: number, hw: number, batches: number[], next: number]> = [
        [0, 10, [0, 5], 10],
        [0, 12, [0, 5], 10],
        [0, 15, [0, 5, 10], 15],
        [0, 9, [0], 5],
        [0, 4, [], 0],
        [0, 5, [0], 5],
        [6, 12, [5], 10],
        [10, 12, [], 10],
        [12, 12, [], 12],
      ]
      for (const [from, hw, batches, next] of cases) {
        const read = await log.read(from, 1_000_000, { maxOffsetExclusive: hw })
        expect(decodeRecordBatches(read.bytes).map((batch) => batch.baseOffset), `from ${from} hw ${hw}`).toEqual(batches)
        expect(read.nextOffset, `from ${from} hw ${hw}`).toBe(next)
      }
      await log.close()
    })
  })

  it('read_atLogEndOffset_returnsEmpty', async () => {
    const sim = makeSim()
    await run(sim, async () => {
      const log = await openLog(sim.env)
      expect(await log.read(0, 100)).toEqual({ bytes: new Uint8Array(0), batchCount: 0, nextOffset: 0 })
      await log.append(makeBatch('a', 3), 0)
      expect(await log.read(3, 100)).toEqual({ bytes: new Uint8Array(0), batchCount: 0, nextOffset: 3 })
      await log.close()
    })
  })

  it('read_belowLogStartOrAboveLogEnd_offsetOutOfRange', async () => {
    const sim = makeSim()
    await run(sim, async () => {
      const log = await openLog(sim.env, { segmentBytesMax: 2 * ONE_BATCH_BYTES, retentionBytes: 2 * ONE_BATCH_BYTES })
      await appendSequential(log, 'b', 7) // segments at 0, 2, 4, 6
      await log.enforceRetention()
      expect(log.logStartOffset).toBe(4)
      const outOfRange = ErrorCode.OFFSET_OUT_OF_RANGE.code
      for (const offset of [-1, 0, 3, 8, 100]) expect(await codeOf(() => log.read(offset, 1000)), `offset ${offset}`).toBe(outOfRange)
      expect((await log.read(4, 1000)).batchCount).toBeGreaterThan(0)
      log.advanceLogStartOffset(5)
      expect(await codeOf(() => log.read(4, 1000))).toBe(outOfRange)
      expect((await log.read(5, 1000)).nextOffset).toBe(6)
      expect(await codeOf(() => log.read(1.5, 1000))).toBe(ErrorCode.INVALID_REQUEST.code)
      expect(await codeOf(() => log.read(5, 0))).toBe(ErrorCode.INVALID_REQUEST.code)
      await log.close()
    })
  })

  it('read_unwrittenAppends_areNotVisibleUntilWritten', async () => {
    const sim = makeSim()
    await run(sim, async () => {
      const log = await openLog(sim.env, { flush: { mode: 'never' } })
      const pending = log.append(makeBatch('a', 2), 0)
      expect(log.logEndOffset).toBe(2)
      expect(await log.read(0, 1000)).toMatchObject({ batchCount: 0, nextOffset: 0 })
      await pending
      expect((await log.read(0, 1000)).batchCount).toBe(1)
      await log.close()
    })
  })

  it('read_acrossManySegments_loopingOnNextOffset_returnsEveryRecordExactlyOnce', async () => {
    const sim = makeSim()
    await run(sim, async () => {
      const log = await openLog(sim.env, { segmentBytesMax: 1000, indexIntervalBytes: 150 })
      const counts: number[] = []
      const appends: Promise<unknown>[] = []
      for (let i = 0; i < 120; i++) {
        const count = 1 + (i % 4)
        counts.push(count)
        appends.push(log.append(makeBatch(`b${i}`, count), 0))
      }
      await Promise.all(appends)
      expect(log.segmentCount).toBeGreaterThan(15)
      const expected = counts.flatMap((count, i) => Array.from({ length: count }, (_, j) => `b${i}/${j}`))
      for (const maxBytes of [1, 200, 777, 100_000]) {
        const { records } = await readAll(log, 0, maxBytes)
        expect(records.map((record) => record.offset)).toEqual(Array.from({ length: expected.length }, (_, i) => i))
        expect(valuesOf(records)).toEqual(expected)
      }
      await log.close()
    })
  })
})

// ---------------------------------------------------------------- rolls and files

describe('PartitionLog segments', () => {
  it('roll_bySize_startsANewSegmentBeforeTheBatchThatWouldOverflow', async () => {
    const sim = makeSim()
    await run(sim, async () => {
      const log = await openLog(sim.env, { segmentBytesMax: 3 * ONE_BATCH_BYTES })
      await appendSequential(log, 'b', 10)
      expect(log.segmentCount).toBe(4) // [0,1,2] [3,4,5] [6,7,8] [9]
      const logs = sim.simDisk.filePaths().filter((path) => path.endsWith('.log'))
      expect(logs).toEqual([segmentPath(0), segmentPath(3), segmentPath(6), segmentPath(9)])
      for (const base of [0, 3, 6]) expect(sim.simDisk.fileInfo(segmentPath(base))?.sizeBytes).toBe(3 * ONE_BATCH_BYTES)
      // Several batches in one append stay together, in one segment.
      await log.append(concatBytes([makeBatch('m0'), makeBatch('m1'), makeBatch('m2')]), 0)
      expect(log.segmentCount).toBe(5)
      expect(sim.simDisk.fileInfo(segmentPath(10))?.sizeBytes).toBe(3 * ONE_BATCH_BYTES)
      await log.close()
    })
  })

  it('roll_byAge_afterSegmentAgeMsMaxOfSimulatedTime', async () => {
    const sim = makeSim()
    await run(sim, async () => {
      const log = await openLog(sim.env, { segmentAgeMsMax: 60_000 })
      await log.append(makeBatch('a', 1, { timestamp: sim.clock.wallMs() }), 0)
      await sleep(sim.clock, 59_000)
      await log.append(makeBatch('b', 1, { timestamp: sim.clock.wallMs() }), 0)
      expect(log.segmentCount).toBe(1)
      await sleep(sim.clock, 1_000)
      await log.append(makeBatch('c', 1, { timestamp: sim.clock.wallMs() }), 0)
      expect(log.segmentCount).toBe(2)
      expect(sim.simDisk.filePaths().filter((path) => path.endsWith('.log'))).toEqual([segmentPath(0), segmentPath(2)])
      await log.close()
    })
  })

  // Regression: rolls by age used to count from createdWallMs, reset by every open(), so a log
  // reopened more often than segmentAgeMsMax never rolled (and time retention never deleted it).
  // Documented (config.ts) as "by record time", as Kafka's segment.ms.
  it('roll_byAge_countsFromTheFirstRecordTime_soItSurvivesAReopen', async () => {
    const sim = makeSim()
    await run(sim, async () => {
      const config = { segmentAgeMsMax: 60_000 }
      const first = await openLog(sim.env, config)
      await first.append(makeBatch('a', 1, { timestamp: sim.clock.wallMs() }), 0)
      await first.close()
      await sleep(sim.clock, 61_000)
      const reopened = await openLog(sim.env, config)
      await reopened.append(makeBatch('b', 1, { timestamp: sim.clock.wallMs() }), 0)
      expect(reopened.segmentCount).toBe(2)
      await reopened.close()
    })
  })

  // Bug (low severity): truncateNow (log.ts) makes a closed segment active again. For a closed
  // segment known only from disk (after a reopen) firstBatchTimestamp was never read --
  // loadClosedSegmentIndex does not set it -- so Segment.rollingBaseTimestamp() falls back to
  // createdWallMs, which truncateNow sets to "now": the segment's age restarts from the
  // truncation instead of its first record, as it would not without the reopen. Suggested fix:
  // read the first batch's maxTimestamp when a truncation reactivates a closed segment (recovery
  // has firstBatchMaxTimestamp for this).
  it('roll_byAge_afterATruncationReactivatesAClosedSegment_stillCountsFromItsFirstRecord', async () => {
    const sim = makeSim()
    await run(sim, async () => {
      const config = { segmentAgeMsMax: 60_000 }
      const log = await openLog(sim.env, config)
      await log.append(makeBatch('a', 1, { timestamp: sim.clock.wallMs() }), 0)
      await sleep(sim.clock, 61_000)
      await log.append(makeBatch('b', 1, { timestamp: sim.clock.wallMs() }), 0) // rolls: segment 1
      expect(log.segmentCount).toBe(2)
      await log.close()
      const reopened = await openLog(sim.env, config)
      expect(await reopened.truncateTo(1)).toBe(1) // segment 0, 61 s old, is active again
      await reopened.append(makeBatch('c', 1, { timestamp: sim.clock.wallMs() }), 0)
      expect(reopened.segmentCount).toBe(2)
      await reopened.close()
    })
  })

  it('segmentFiles_areNamedByTheir20DigitBaseOffset_withLogIndexAndTimeindex', async () => {
    const sim = makeSim()
    await run(sim, async () => {
      const log = await openLog(sim.env, { segmentBytesMax: 2 * makeBatch('x', 3).length })
      for (let i = 0; i < 5; i++) await log.append(makeBatch(`b${i}`, 3), 0)
      await log.close()
      const names = sim.simDisk.filePaths().map((path) => path.slice(DIR.length + 1))
      expect(names).toEqual([
        '00000000000000000000.index',
        '00000000000000000000.log',
        '00000000000000000000.timeindex',
        '00000000000000000006.index',
        '00000000000000000006.log',
        '00000000000000000006.timeindex',
        '00000000000000000012.index',
        '00000000000000000012.log',
        '00000000000000000012.timeindex',
      ])
    })
  })

  it('index_isSparse_oneEntryPerIndexIntervalBytes', async () => {
    const sim = makeSim()
    await run(sim, async () => {
      const batchCount = 301
      const interval = 10 * ONE_BATCH_BYTES
      const log = await openLog(sim.env, { indexIntervalBytes: interval, segmentBytesMax: 151 * ONE_BATCH_BYTES })
      await appendSequential(log, 'b', batchCount)
      await log.close()
      // An entry goes on the first batch after each full interval: batches 10, 20, ... of a segment.
      const closedEntries = Math.floor((151 - 1) / 10)
      const activeEntries = Math.floor((150 - 1) / 10)
      expect(sim.simDisk.fileInfo(segmentPath(0, '.index'))?.sizeBytes).toBe(8 * closedEntries)
      expect(sim.simDisk.fileInfo(segmentPath(0, '.timeindex'))?.sizeBytes).toBe(12 * (closedEntries + 1)) // + the closing entry
      expect(sim.simDisk.fileInfo(segmentPath(151, '.index'))?.sizeBytes).toBe(8 * activeEntries)
      expect(sim.simDisk.fileInfo(segmentPath(151, '.timeindex'))?.sizeBytes).toBe(12 * activeEntries)
      // Every entry points at a batch boundary holding the offset it names.
      const index = sim.simDisk.peekBytes(segmentPath(0, '.index')) as Uint8Array
      const segment = sim.simDisk.peekBytes(segmentPath(0)) as Uint8Array
      for (let i = 0; i < closedEntries; i++) {
        const relativeOffset = readInt32(index, 8 * i)
        const position = readInt32(index, 8 * i + 4)
        expect(position).toBe(relativeOffset * ONE_BATCH_BYTES)
        expect(readInt32(segment, position + 4)).toBe(relativeOffset) // low word of baseOffset
      }
    })
  })
})

// ---------------------------------------------------------------- offsetForTimestamp

/** First batch (in offset order) with maxTimestamp >= t: the linear model. */
function firstAtOrAfter(batches: ReadonlyArray<{ baseOffset: number; maxTimestamp: number }>, t: number): { offset: number; timestamp: number } | undefined {
  const found = batches.find((batch) => batch.maxTimestamp >= t)
  return found === undefined ? undefined : { offset: found.baseOffset, timestamp: found.maxTimestamp }
}

/** Counts the bytes read from segment (.log) files; everything else forwarded. */
class ReadCountingDisk extends PassThroughDisk {
  segmentBytesRead = 0

  override async open(path: string, options: OpenOptions): Promise<FileHandle> {
    const inner = await this.inner.open(path, options)
    if (!path.endsWith('.log')) return inner
    const counting = Object.create(inner) as FileHandle
    counting.read = async (position: number, length: number) => {
      const bytes = await inner.read(position, length)
      this.segmentBytesRead += bytes.length
      return bytes
    }
    return counting
  }
}

describe('PartitionLog.read at the tail', () => {
  it('read_ofTheNewestWrites_isServedFromMemory_olderOnesFromTheFile', async () => {
    let counting: ReadCountingDisk | undefined
    const sim = makeSim({ wrap: (disk) => (counting = new ReadCountingDisk(disk)) })
    await run(sim, async () => {
      // An index entry per batch, so a read starts at its batch (with the default 4 KiB
      // interval it starts up to 4 KiB earlier, which the default 256 KiB cache covers).
      const log = await openLog(sim.env, { tailCacheBytesMax: 4 * makeBatch('b0').length, indexIntervalBytes: 1 })
      for (let i = 0; i < 10; i++) await log.append(makeBatch(`b${i}`), 1)
      const disk = counting as ReadCountingDisk
      // A follower or consumer at the tail: the last batches, no file read.
      expect(valuesOf((await readAll(log, 8)).records)).toEqual(['b8/0', 'b9/0'])
      expect(disk.segmentBytesRead).toBe(0)
      // Further back than the cache holds: the file.
      expect(valuesOf((await readAll(log, 0)).records)).toHaveLength(10)
      expect(disk.segmentBytesRead).toBeGreaterThan(0)
      await log.close()
    })
  })

  it('truncateTo_dropsTheCachedBytes_soReadsSeeTheNewTail', async () => {
    const sim = makeSim()
    await run(sim, async () => {
      const log = await openLog(sim.env)
      for (let i = 0; i < 5; i++) await log.append(makeBatch(`old${i}`), 1)
      expect(await log.truncateTo(3)).toBe(3)
      for (let i = 3; i < 5; i++) await log.append(makeBatch(`new${i}`), 2)
      expect(valuesOf((await readAll(log, 0)).records)).toEqual(['old0/0', 'old1/0', 'old2/0', 'new3/0', 'new4/0'])
      await log.close()
    })
  })

  it('bitRotAtRestInTheNewestWrites_isServedAsWritten_thenCaughtOnceTheFileIsRead', async () => {
    const sim = makeSim()
    await run(sim, async () => {
      const log = await openLog(sim.env)
      for (let i = 0; i < 3; i++) await log.append(makeBatch(`b${i}`), 1)
      sim.simDisk.corruptByte(segmentPath(0), makeBatch('b0').length + 30, 0x10)
      // As with the page cache: what was written is what a tail reader gets.
      expect(valuesOf((await readAll(log, 0)).records)).toEqual(['b0/0', 'b1/0', 'b2/0'])
      await log.close()
      // Reopening reads the file: the rotten batch is found and the log cut before it.
      const reopened = await openLog(sim.env)
      expect(reopened.damagedEndOffset).toBe(3)
      expect(valuesOf((await readAll(reopened, 0)).records)).toEqual(['b0/0'])
      await reopened.close()
    })
  })
})

describe('PartitionLog.scanHeaders', () => {
  it('scanHeaders_visitsEveryBatchOldestFirst_readingHeadersNotBodies', async () => {
    let counting: ReadCountingDisk | undefined
    const sim = makeSim({ wrap: (disk) => (counting = new ReadCountingDisk(disk)) })
    await run(sim, async () => {
      const log = await openLog(sim.env, { segmentBytesMax: 600_000 })
      // Large batches (~100 KB each) across several segments, with small ones between.
      const expected: number[] = []
      for (let i = 0; i < 12; i++) {
        const result = await log.append(makeBatch(`big${i}`, 4, { valueBytes: 25_000 }), 1)
        expected.push(result.baseOffset)
        const small = await log.append(makeBatch(`small${i}`, 2), 1)
        expected.push(small.baseOffset)
      }
      const storedBytes = log.sizeBytes
      const before = (counting as ReadCountingDisk).segmentBytesRead
      const visited: number[] = []
      const stopped = await log.scanHeaders((batch, bytes, at) => {
        expect(readInt32(bytes, at + BatchField.lastOffsetDelta)).toBe(batch.lastOffsetDelta)
        visited.push(batch.baseOffset)
      })
      expect(stopped).toBeUndefined()
      expect(visited).toEqual(expected)
      const read = (counting as ReadCountingDisk).segmentBytesRead - before
      // Bodies are skipped: far less than the stored bytes is read.
      expect(read).toBeLessThan(storedBytes / 4)
      await log.close()
    })
  })
})

describe('PartitionLog.scanHeaders with wholeControlBatches', () => {
  it('scanHeaders_wholeControlBatches_handsEveryMarkerOverWhole_evenAcrossAHeadersChunk', async () => {
    const sim = makeSim()
    await run(sim, async () => {
      const log = await openLog(sim.env)
      // A data batch sized so that the first marker's header ends inside the first 16 KiB
      // headers-scan chunk and its record does not; then more pairs.
      const firstSizeBytes = HEADERS_SCAN_CHUNK_BYTES - BATCH_HEADER_BYTES - 5
      let valueBytes = 1
      while (makeBatch('d0', 1, { valueBytes }).length < firstSizeBytes) valueBytes++
      expect(makeBatch('d0', 1, { valueBytes }).length).toBe(firstSizeBytes)
      for (let i = 0; i < 60; i++) {
        await log.append(makeBatch(`d${i}`, 1, { valueBytes: i === 0 ? valueBytes : 700 + 13 * i }), 1)
        await log.append(encodeTxnMarkerBatch({ producerId: 9, producerEpoch: 0, commit: true, coordinatorEpoch: i, timestampMs: 1 }), 1)
      }
      const epochs: number[] = []
      await log.scanHeaders(
        (batch, bytes, at) => {
          if (batch.producerId < 0) return
          const facts = controlBatchFacts(bytes, at)
          expect(facts.type).toBe(ControlType.COMMIT)
          epochs.push(facts.coordinatorEpoch as number)
        },
        { wholeControlBatches: true },
      )
      expect(epochs).toEqual(Array.from({ length: 60 }, (_, i) => i))
      await log.close()
    })
  })
})

describe('PartitionLog.offsetForTimestamp', () => {
  it('offsetForTimestamp_findsTheFirstBatchAtOrAfter_acrossSegments', async () => {
    const sim = makeSim()
    await run(sim, async () => {
      const log = await openLog(sim.env, { segmentBytesMax: 4 * makeBatch('x', 2).length, indexIntervalBytes: 100 })
      const batches: Array<{ baseOffset: number; maxTimestamp: number }> = []
      for (let i = 0; i < 30; i++) {
        const timestamp = 1000 + 10 * i
        const result = await log.append(makeBatch(`b${i}`, 2, { timestamp }), 0)
        batches.push({ baseOffset: result.baseOffset, maxTimestamp: timestamp })
      }
      expect(log.segmentCount).toBeGreaterThan(5)
      for (const t of [0, 999, 1000, 1001, 1010, 1055, 1100, 1200, 1289, 1290]) {
        expect(await log.offsetForTimestamp(t), `t=${t}`).toEqual(firstAtOrAfter(batches, t))
      }
      expect(await log.offsetForTimestamp(1291)).toBeUndefined()
      expect(await log.offsetForTimestamp(Number.MAX_SAFE_INTEGER)).toBeUndefined()
      await log.close()
    })
  })

  // Regression: the first batch with maxTimestamp >= t below an advanced logStartOffset was
  // answered as { logStartOffset, <that deleted batch's timestamp> }.
  it('offsetForTimestamp_afterAdvanceLogStartOffset_onlyConsidersBatchesFromTheStart', async () => {
    const sim = makeSim()
    await run(sim, async () => {
      const log = await openLog(sim.env)
      for (const [i, timestamp] of [100, 50, 200].entries()) await log.append(makeBatch(`b${i}`, 1, { timestamp }), 0)
      log.advanceLogStartOffset(1)
      expect(await log.offsetForTimestamp(40)).toEqual({ offset: 1, timestamp: 50 })
      expect(await log.offsetForTimestamp(100)).toEqual({ offset: 2, timestamp: 200 })
      await log.close()
    })
  })

  it('offsetForTimestamp_findsTheFirstRecordInsideABatch_notJustTheBatch', async () => {
    const sim = makeSim()
    await run(sim, async () => {
      const log = await openLog(sim.env)
      const records = [10, 30, 20, 40].map((timestamp, i) => ({ key: null, value: new TextEncoder().encode(`r${i}`), timestamp }))
      await log.append(encodeRecordBatch({ records }), 0)
      expect(await log.offsetForTimestamp(5)).toEqual({ offset: 0, timestamp: 10 })
      expect(await log.offsetForTimestamp(25)).toEqual({ offset: 1, timestamp: 30 })
      expect(await log.offsetForTimestamp(35)).toEqual({ offset: 3, timestamp: 40 })
      log.advanceLogStartOffset(2)
      expect(await log.offsetForTimestamp(15)).toEqual({ offset: 2, timestamp: 20 })
      await log.close()
    })
  })

  it('offsetForTimestamp_matchesALinearScan_forArbitraryTimestamps', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 200 }), { minLength: 1, maxLength: 40 }),
        fc.array(fc.integer({ min: -5, max: 210 }), { minLength: 1, maxLength: 10 }),
        fc.integer({ min: 1, max: 6 }),
        async (timestamps, queries, batchesPerSegment) => {
          const sim = makeSim()
          await run(sim, async () => {
            const log = await openLog(sim.env, { segmentBytesMax: batchesPerSegment * ONE_BATCH_BYTES, indexIntervalBytes: 2 * ONE_BATCH_BYTES })
            const batches: Array<{ baseOffset: number; maxTimestamp: number }> = []
            for (const [i, timestamp] of timestamps.entries()) {
              const result = await log.append(makeBatch(`b${i}`, 1, { timestamp }), 0)
              batches.push({ baseOffset: result.baseOffset, maxTimestamp: timestamp })
            }
            for (const t of queries) expect(await log.offsetForTimestamp(t), `t=${t}`).toEqual(firstAtOrAfter(batches, t))
            await log.close()
          })
        },
      ),
      { numRuns: 40, seed: 42 },
    )
  })
})

// ---------------------------------------------------------------- truncateTo

describe('PartitionLog.truncateTo', () => {
  /** A log of ten 2-record batches (offsets 0..19) in segments of 3 batches: bases 0, 6, 12, 18. */
  async function tenBatches(sim: Sim, overrides: Partial<LogConfig> = {}): Promise<PartitionLog> {
    const log = await openLog(sim.env, { segmentBytesMax: 3 * makeBatch('x', 2).length, indexIntervalBytes: 1, ...overrides })
    for (let i = 0; i < 10; i++) await log.append(makeBatch(`b${i}`, 2), 0)
    expect(log.segmentCount).toBe(4)
    return log
  }

  async function expectContent(log: PartitionLog, values: string[]): Promise<void> {
    const { records } = await readAll(log, 0)
    expect(valuesOf(records)).toEqual(values)
    expect(records.map((record) => record.offset)).toEqual(values.map((_, i) => i))
  }

  const firstBatches = (count: number): string[] => Array.from({ length: count }, (_, i) => [`b${i}/0`, `b${i}/1`]).flat()

  it('truncateTo_aBatchBoundaryInsideASegment_keepsEverythingBefore', async () => {
    const sim = makeSim()
    await run(sim, async () => {
      const log = await tenBatches(sim)
      expect(await log.truncateTo(8)).toBe(8)
      expect(log.logEndOffset).toBe(8)
      expect(log.segmentCount).toBe(2)
      await expectContent(log, firstBatches(4))
      expect(sim.simDisk.fileInfo(segmentPath(6))?.sizeBytes).toBe(makeBatch('x', 2).length)
      await log.close()
    })
  })

  it('truncateTo_insideABatch_dropsTheWholeBatch_andReturnsTheNewEnd', async () => {
    const sim = makeSim()
    await run(sim, async () => {
      const log = await tenBatches(sim)
      expect(await log.truncateTo(9)).toBe(8)
      expect(log.logEndOffset).toBe(8)
      await expectContent(log, firstBatches(4))
      expect(await log.truncateTo(1)).toBe(0)
      expect(log.logEndOffset).toBe(0)
      expect(log.segmentCount).toBe(1)
      expect(sim.simDisk.fileInfo(segmentPath(0))?.sizeBytes).toBe(0)
      await log.close()
    })
  })

  it('truncateTo_aSegmentBoundary_removesThatSegmentWhole', async () => {
    const sim = makeSim()
    await run(sim, async () => {
      const log = await tenBatches(sim)
      expect(await log.truncateTo(12)).toBe(12)
      expect(log.segmentCount).toBe(2)
      expect(sim.simDisk.filePaths().filter((path) => path.endsWith('.log'))).toEqual([segmentPath(0), segmentPath(6)])
      await expectContent(log, firstBatches(6))
      await log.close()
    })
  })

  it('truncateTo_acrossSeveralSegments_deletesTheirFiles', async () => {
    const sim = makeSim()
    await run(sim, async () => {
      const log = await tenBatches(sim)
      expect(await log.truncateTo(3)).toBe(2)
      expect(log.segmentCount).toBe(1)
      expect(sim.simDisk.filePaths()).toEqual([segmentPath(0, '.index'), segmentPath(0), segmentPath(0, '.timeindex')])
      await expectContent(log, firstBatches(1))
      await log.close()
    })
  })

  it('truncateTo_atOrPastTheEnd_changesNothing', async () => {
    const sim = makeSim()
    await run(sim, async () => {
      const log = await tenBatches(sim)
      expect(await log.truncateTo(20)).toBe(20)
      expect(await log.truncateTo(25)).toBe(20)
      await expectContent(log, firstBatches(10))
      await log.close()
    })
  })

  it('truncateTo_thenAppend_continuesFromTheNewEnd_readsAndReopenSeeTheNewData', async () => {
    const sim = makeSim()
    await run(sim, async () => {
      const log = await tenBatches(sim)
      expect(await log.truncateTo(7)).toBe(6)
      const results = await Promise.all([0, 1, 2, 3, 4].map((i) => log.append(makeBatch(`n${i}`, 2), 1)))
      expect(results.map((result) => result.baseOffset)).toEqual([6, 8, 10, 12, 14])
      const expected = [...firstBatches(3), ...[0, 1, 2, 3, 4].flatMap((i) => [`n${i}/0`, `n${i}/1`])]
      await expectContent(log, expected)
      expect(await log.offsetForTimestamp(WALL_START_MS)).toEqual({ offset: 0, timestamp: WALL_START_MS })
      await log.close()
      const reopened = await openLog(sim.env, { segmentBytesMax: 3 * makeBatch('x', 2).length, indexIntervalBytes: 1 })
      expect(reopened.logEndOffset).toBe(16)
      await expectContent(reopened, expected)
      await reopened.close()
    })
  })

  it('truncateTo_belowLogStartOffset_invalidRequest', async () => {
    const sim = makeSim()
    await run(sim, async () => {
      const log = await tenBatches(sim, { retentionBytes: 1 })
      await log.enforceRetention()
      expect(log.logStartOffset).toBe(18)
      expect(await codeOf(() => log.truncateTo(17))).toBe(ErrorCode.INVALID_REQUEST.code)
      expect(await codeOf(() => log.truncateTo(-1))).toBe(ErrorCode.INVALID_REQUEST.code)
      expect(await codeOf(() => log.truncateTo(18.5))).toBe(ErrorCode.INVALID_REQUEST.code)
      expect(log.logEndOffset).toBe(20)
      expect(await log.truncateTo(18)).toBe(18)
      await log.close()
    })
  })

  it('truncateTo_refusesAppendsWhileItRuns_withLogTruncated', async () => {
    const sim = makeSim()
    await run(sim, async () => {
      const log = await tenBatches(sim)
      const truncation = log.truncateTo(4)
      await until(sim.clock, () => log.stats().segments < 4)
      const error = await errorOf(() => log.append(makeBatch('late'), 0))
      expect(error.code).toBe(ErrorCode.LOG_TRUNCATED.code)
      expect(error.retriable).toBe(true)
      expect(await truncation).toBe(4)
      expect((await log.append(makeBatch('after'), 0)).baseOffset).toBe(4)
      await log.close()
    })
  })

  it('truncateTo_rejectsAppendsStillWaitingForTheirSyncPastTheCut_withLogTruncated', async () => {
    let hooked: HookedDisk | undefined
    const sim = makeSim({ wrap: (disk) => (hooked = new HookedDisk(disk)) })
    const disk = hooked as HookedDisk
    await run(sim, async () => {
      const log = await tenBatches(sim)
      disk.holdNextSyncOf = (path) => path === segmentPath(18)
      const synced = track(log.append(makeBatch('synced', 2), 0)) // 20..21: its fsync is held
      await until(sim.clock, () => disk.held.length === 1)
      const cut = track(log.append(makeBatch('cut', 2), 0)) // 22..23: written, waits for the next fsync
      await until(sim.clock, () => log.writtenEndOffset === 24)
      const truncation = track(log.truncateTo(22))
      await sleep(sim.clock, 10)
      disk.releaseHeld()
      await until(sim.clock, () => truncation.state !== 'pending')
      expect(truncation).toMatchObject({ state: 'resolved', value: 22 })
      expect(synced.state).toBe('resolved')
      expect(cut.state).toBe('rejected')
      expect((cut.error as SkeinError).code).toBe(ErrorCode.LOG_TRUNCATED.code)
      expect(log.logEndOffset).toBe(22)
      expect(log.durableEndOffset).toBeLessThanOrEqual(22)
      await log.close()
    })
  })

  // Bug: a read racing a truncation of the segment it reads is told the partition is offline.
  // read() (log.ts) takes `endPosition = segment.writtenBytes` and the index entry before its
  // disk reads; truncateNow cuts the file (file.truncate) several awaits before it lowers
  // segment.writtenBytes / nextOffset. A read landing in between gets fewer bytes than it asked
  // for, and readSegmentBytes throws corruptSegment: KAFKA_STORAGE_ERROR, "segment ... is
  // corrupt" ("the partition is offline on this replica until it is reopened"), though nothing
  // is wrong and the log stays online. Followers and consumers fetch while a replica truncates.
  // Suggested fix: check the range against a snapshot taken under the truncation (e.g. refuse or
  // retry reads while `truncating`, or lower writtenBytes/writtenEnd before cutting the file),
  // and map a short read of a segment being cut to OFFSET_OUT_OF_RANGE, as ENOENT already is.
  it('read_racingATruncation_neverReportsTheLogAsCorruptOrOffline', async () => {
    const sim = makeSim()
    await run(sim, async () => {
      const log = await openLog(sim.env, { indexIntervalBytes: 4 * ONE_BATCH_BYTES })
      await appendSequential(log, 'b', 40)
      const truncation = track(log.truncateTo(2))
      const codes = new Map<number, number>()
      const reads: Array<Promise<void>> = []
      for (let i = 0; truncation.state === 'pending'; i++) {
        reads.push(
          log.read((i * 7) % 40, 2 * ONE_BATCH_BYTES).then(
            () => undefined,
            (error: unknown) => {
              const code = error instanceof SkeinError ? error.code : -1
              codes.set(code, (codes.get(code) ?? 0) + 1)
            },
          ),
        )
        await sleep(sim.clock, 0.01)
      }
      await Promise.all(reads)
      expect(truncation.value).toBe(2)
      expect([...codes.keys()].filter((code) => code !== ErrorCode.OFFSET_OUT_OF_RANGE.code)).toEqual([])
      await log.close()
    })
  })

  // Regression: flush() used not to be serialized with truncateTo; called while truncateNow ran, its
  // syncNow synced lastWrittenSegment -- already deleted -- through files.use(create=true),
  // re-creating an empty .log past the new end (found as a segment by the next open).
  it('flush_duringATruncation_neitherRecreatesDeletedSegmentsNorOverstatesDurability', async () => {
    const sim = makeSim()
    await run(sim, async () => {
      const log = await tenBatches(sim)
      const truncation = track(log.truncateTo(3))
      await until(sim.clock, () => !sim.simDisk.filePaths().includes(segmentPath(18)))
      const flushed = track(log.flush())
      await until(sim.clock, () => truncation.state !== 'pending' && flushed.state !== 'pending')
      expect(truncation.value).toBe(2)
      expect(log.durableEndOffset).toBeLessThanOrEqual(log.logEndOffset)
      expect(sim.simDisk.filePaths().filter((path) => path.endsWith('.log'))).toEqual([segmentPath(0)])
      await log.close()
      const reopened = await openLog(sim.env, { segmentBytesMax: 3 * makeBatch('x', 2).length })
      expect(reopened.logEndOffset).toBe(2)
      expect(reopened.segmentCount).toBe(1)
      await reopened.close()
    })
  })

  // Regression: truncateTo used to drain the writes but not the group-commit fsync in flight; its
  // late completion set durableEndOffset (and the tracker's completed end) past the new log end, so
  // the next appends up to there "resolved" before being written.
  it('truncateTo_withAGroupCommitFsyncInFlight_neverLeavesDurableEndPastTheLogEnd', async () => {
    let hooked: HookedDisk | undefined
    const sim = makeSim({ wrap: (disk) => (hooked = new HookedDisk(disk)) })
    const disk = hooked as HookedDisk
    await run(sim, async () => {
      const log = await tenBatches(sim)
      disk.holdNextSyncOf = (path) => path === segmentPath(18)
      const waiting = track(log.append(makeBatch('unsynced', 4), 0)) // offsets 20..23, fsync held
      await until(sim.clock, () => disk.held.length === 1)
      const truncation = track(log.truncateTo(20))
      await sleep(sim.clock, 10)
      disk.releaseHeld() // the old fsync returns now
      await until(sim.clock, () => truncation.state !== 'pending')
      expect(truncation.value).toBe(20)
      expect(waiting.state).not.toBe('pending')
      expect(log.durableEndOffset).toBeLessThanOrEqual(log.logEndOffset)
      // flush=always: an append resolves only once written and synced.
      const result = await log.append(makeBatch('next', 2), 0)
      expect(result.baseOffset).toBe(20)
      expect(log.writtenEndOffset).toBe(22)
      expect(log.durableEndOffset).toBe(22)
      expect((await log.read(20, 1000)).batchCount).toBe(1)
      await log.close()
    })
  })

  // Regression, same root cause: the fsync in flight on the newest segment returned after
  // truncateNow deleted it, and startSync chained another fsync through files.use(create=true),
  // re-creating the deleted .log. Plain SimDisk latencies, no fault injection.
  it('truncateTo_deletingTheSegmentAGroupCommitIsSyncing_leavesNoFileBehind', async () => {
    const sim = makeSim()
    await run(sim, async () => {
      const config = { segmentBytesMax: 3 * ONE_BATCH_BYTES }
      const log = await openLog(sim.env, config)
      await appendSequential(log, 'b', 7) // [0,1,2] [3,4,5] [6]
      const a = track(log.append(makeBatch('a'), 0)) // 7, synced by fsync S1
      const b = track(log.append(makeBatch('b'), 0)) // 8, written while S1 runs
      expect(await log.truncateTo(4)).toBe(4)
      await sleep(sim.clock, 50)
      expect(a.state).not.toBe('pending')
      expect(b.state).not.toBe('pending')
      expect(log.durableEndOffset).toBeLessThanOrEqual(log.logEndOffset)
      expect(sim.simDisk.filePaths().filter((path) => path.endsWith('.log'))).toEqual([segmentPath(0), segmentPath(3)])
      await log.close()
      const reopened = await openLog(sim.env, config)
      expect(reopened.logEndOffset).toBe(4)
      expect(reopened.segmentCount).toBe(2)
      await reopened.close()
    })
  })
})

// ---------------------------------------------------------------- retention

describe('PartitionLog.enforceRetention', () => {
  it('retention_byTime_deletesOldSegmentsOldestFirst_movesLogStart_removesFiles', async () => {
    const sim = makeSim()
    await run(sim, async () => {
      const log = await openLog(sim.env, { segmentBytesMax: 2 * ONE_BATCH_BYTES, retentionMs: 10_000 })
      const now = (): number => sim.clock.wallMs()
      await appendSequential(log, 'old', 6, { timestamp: now }) // segments 0, 2, 4, written at ~t=0
      await sleep(sim.clock, 20_000)
      await appendSequential(log, 'new', 3, { timestamp: now }) // segments 6, 8
      expect(log.segmentCount).toBe(5)
      await sleep(sim.clock, 5_000)
      const result = await log.enforceRetention()
      expect(result).toEqual({ deletedSegments: 3, deletedBytes: 6 * ONE_BATCH_BYTES, logStartOffset: 6 })
      expect(log.logStartOffset).toBe(6)
      expect(log.segmentCount).toBe(2)
      expect(sim.simDisk.filePaths().filter((path) => path.endsWith('.log'))).toEqual([segmentPath(6), segmentPath(8)])
      expect(sim.simDisk.filePaths().some((path) => /0000000000000000000[024]\./.test(path))).toBe(false)
      for (const offset of [0, 3, 5]) expect(await codeOf(() => log.read(offset, 1000))).toBe(ErrorCode.OFFSET_OUT_OF_RANGE.code)
      const { records } = await readAll(log)
      expect(valuesOf(records)).toEqual(['new0/0', 'new1/0', 'new2/0'])
      expect(records[0]?.offset).toBe(6)
      expect(await log.enforceRetention()).toEqual({ deletedSegments: 0, deletedBytes: 0, logStartOffset: 6 })
      await log.close()
      const reopened = await openLog(sim.env, { segmentBytesMax: 2 * ONE_BATCH_BYTES })
      expect(reopened.logStartOffset).toBe(6)
      await reopened.close()
    })
  })

  it('retention_byTime_neverDeletesTheActiveSegment', async () => {
    const sim = makeSim()
    await run(sim, async () => {
      const log = await openLog(sim.env, { segmentBytesMax: 2 * ONE_BATCH_BYTES, retentionMs: 1_000 })
      await appendSequential(log, 'b', 5, { timestamp: () => sim.clock.wallMs() }) // 0, 2, 4 (active)
      await sleep(sim.clock, 100_000)
      expect(await log.enforceRetention()).toMatchObject({ deletedSegments: 2, logStartOffset: 4 })
      expect(log.segmentCount).toBe(1)
      expect(valuesOf((await readAll(log)).records)).toEqual(['b4/0'])
      expect((await log.append(makeBatch('more'), 0)).baseOffset).toBe(5)
      await log.close()
    })
  })

  it('retention_bySize_deletesOldestWhileTheRestStillHoldsRetentionBytes', async () => {
    const sim = makeSim()
    await run(sim, async () => {
      const log = await openLog(sim.env, { segmentBytesMax: 2 * ONE_BATCH_BYTES, retentionBytes: 5 * ONE_BATCH_BYTES, retentionMs: undefined })
      await appendSequential(log, 'b', 12) // six full segments: 0, 2, ..., 10 (active)
      expect(log.segmentCount).toBe(6)
      const result = await log.enforceRetention()
      expect(result).toEqual({ deletedSegments: 3, deletedBytes: 6 * ONE_BATCH_BYTES, logStartOffset: 6 })
      expect(log.sizeBytes).toBe(6 * ONE_BATCH_BYTES)
      expect(sim.simDisk.filePaths().filter((path) => path.endsWith('.log'))).toEqual([segmentPath(6), segmentPath(8), segmentPath(10)])
      expect(await codeOf(() => log.read(5, 1000))).toBe(ErrorCode.OFFSET_OUT_OF_RANGE.code)
      expect(valuesOf((await readAll(log)).records)).toEqual(['b6/0', 'b7/0', 'b8/0', 'b9/0', 'b10/0', 'b11/0'])
      await log.close()
    })
  })

  it('retention_racingReaders_seeTheirBatchesOrOffsetOutOfRange_never_anotherError', async () => {
    const sim = makeSim()
    await run(sim, async () => {
      const log = await openLog(sim.env, { segmentBytesMax: 2 * ONE_BATCH_BYTES, retentionBytes: 2 * ONE_BATCH_BYTES })
      await appendSequential(log, 'b', 21) // ten closed segments and an active one
      const retention = track(log.enforceRetention())
      const outcomes: Array<ReturnType<typeof track<unknown>>> = []
      for (let i = 0; retention.state === 'pending'; i++) {
        const offset = i % 20
        outcomes.push(
          track(
            log.read(offset, ONE_BATCH_BYTES).then((read) => {
              expect(valuesOf(decodeRecordBatches(read.bytes).flatMap((batch) => batch.records.map((record) => ({ offset: record.offset, value: fromUtf8.decode(record.value ?? new Uint8Array()) }))))).toEqual([`b${offset}/0`])
              return read
            }),
          ),
        )
        await sleep(sim.clock, 0.01)
      }
      await until(sim.clock, () => outcomes.every((outcome) => outcome.state !== 'pending'))
      expect(retention.value).toMatchObject({ deletedSegments: 9, logStartOffset: 18 })
      const failures = outcomes.filter((outcome) => outcome.state === 'rejected').map((outcome) => (outcome.error as SkeinError).code)
      expect(failures.filter((code) => code !== ErrorCode.OFFSET_OUT_OF_RANGE.code)).toEqual([])
      expect(outcomes.length).toBeGreaterThan(10)
      await log.close()
    })
  })

  it('retention_afterReopen_usesTheTimestampsOfClosedSegments', async () => {
    const sim = makeSim()
    await run(sim, async () => {
      const config = { segmentBytesMax: 2 * ONE_BATCH_BYTES, retentionMs: 10_000 }
      const log = await openLog(sim.env, config)
      await appendSequential(log, 'old', 4, { timestamp: () => sim.clock.wallMs() })
      await sleep(sim.clock, 20_000)
      await appendSequential(log, 'new', 3, { timestamp: () => sim.clock.wallMs() }) // 4, 6
      await log.close()
      const reopened = await openLog(sim.env, config)
      expect(await reopened.enforceRetention()).toMatchObject({ deletedSegments: 2, logStartOffset: 4 })
      await reopened.close()
    })
  })
})

// ---------------------------------------------------------------- flush policies

/** A disk whose fsyncs all take exactly `syncMs`: makes "a sync is in flight" a matter of arithmetic. */
const slowSyncDisk = (syncMs: number): DiskConfig => ({ ...DISK_CONFIG_DEFAULT, syncLatencyMsMin: syncMs, syncLatencyMsMax: syncMs })

describe('PartitionLog flush policies', () => {
  it('flushAlways_anAppendResolvesOnlyAfterAnFsyncCoveringIt', async () => {
    const sim = makeSim()
    await run(sim, async () => {
      const log = await openLog(sim.env, { flush: { mode: 'always' } })
      const append = track(log.append(makeBatch('a', 3), 0))
      await until(sim.clock, () => log.writtenEndOffset === 3)
      expect(append.state).toBe('pending')
      expect(log.durableEndOffset).toBe(0)
      await until(sim.clock, () => append.state !== 'pending')
      expect(append.state).toBe('resolved')
      expect(log.stats().syncs).toBe(1)
      expect(log.durableEndOffset).toBe(3)
      expect(sim.simDisk.fileInfo(segmentPath(0))?.durableSizeBytes).toBe(makeBatch('a', 3).length)
      await log.close()
    })
  })

  // Regression: open() used to sync the directory only after recovery truncated or rebuilt
  // something, so a new log's segment-0 names were not durable until the first roll: a crash lost
  // appends that flush=always had acknowledged as fsynced.
  it('flushAlways_acknowledgedAppendsToANewLog_surviveACrash', async () => {
    const sim = makeSim()
    await run(sim, async () => {
      const log = await openLog(sim.env, { flush: { mode: 'always' } })
      await appendSequential(log, 'a', 3)
      expect(log.durableEndOffset).toBe(3)
      sim.simDisk.crash()
      const reopened = await openLog(sim.env)
      expect(reopened.logEndOffset).toBe(3)
      await reopened.close()
    })
  })

  // Bug: open() (log.ts) syncs the directory for a new log only when `names.length === 0`. A
  // directory that holds anything but a segment (an orphan index that deleteOrphanIndexes just
  // removed, or any other file kept beside the log) still gets a brand-new segment 0 whose file
  // names are never made durable until the first roll: a crash loses every acknowledged append.
  // Suggested fix: decide on "no segment file was found" (baseOffsets empty before the push of
  // 0), not on "the directory was empty".
  it.each([
    ['an unrelated file', 'leader-epoch-checkpoint'],
    ['an orphan index', '00000000000000000007.index'],
  ])('flushAlways_newLogInADirHolding_%s_acknowledgedAppendsSurviveACrash', async (_name, fileName) => {
    const sim = makeSim()
    await run(sim, async () => {
      await sim.disk.mkdirs(DIR)
      const other = await sim.disk.open(`${DIR}/${fileName}`, { create: true })
      await other.append(Uint8Array.of(1, 2, 3))
      await other.sync()
      await other.close()
      for (let depth = 2; depth >= 0; depth--) await sim.disk.syncDir(DIR.split('/').slice(0, depth).join('/'))
      const log = await openLog(sim.env, { flush: { mode: 'always' } })
      await appendSequential(log, 'a', 3)
      expect(log.durableEndOffset).toBe(3)
      sim.simDisk.crash()
      const reopened = await openLog(sim.env)
      expect(reopened.logEndOffset).toBe(3)
      await reopened.close()
    })
  })

  it('flushAlways_64ConcurrentAppends_shareFarFewerFsyncs', async () => {
    const sim = makeSim()
    await run(sim, async () => {
      const log = await openLog(sim.env, { flush: { mode: 'always' } })
      const results = await Promise.all(Array.from({ length: 64 }, (_, i) => log.append(makeBatch(`c${i}`), 0)))
      expect(results.map((result) => result.baseOffset)).toEqual(Array.from({ length: 64 }, (_, i) => i))
      expect(log.durableEndOffset).toBe(64)
      const { syncs, writes } = log.stats()
      expect(syncs).toBeGreaterThanOrEqual(1)
      expect(syncs).toBeLessThanOrEqual(10)
      expect(writes).toBeLessThan(64)
      await log.close()
    })
  })

  it('flushAlways_appendsArrivingDuringAnFsync_rideOnTheNextOne', async () => {
    const sim = makeSim({ diskConfig: slowSyncDisk(5) })
    await run(sim, async () => {
      const log = await openLog(sim.env, { flush: { mode: 'always' } })
      const appends: Array<Promise<unknown>> = []
      for (let i = 0; i < 40; i++) {
        appends.push(log.append(makeBatch(`s${i}`), 0))
        await sleep(sim.clock, 0.5)
      }
      await Promise.all(appends)
      expect(log.stats().syncs).toBeLessThanOrEqual(6) // 20 ms of appends, one 5 ms fsync at a time
      expect(log.durableEndOffset).toBe(40)
      await log.close()
    })
  })

  it('flushInterval_resolvesOnceWritten_thenSyncsAfterIntervalMs', async () => {
    const sim = makeSim()
    await run(sim, async () => {
      const log = await openLog(sim.env, { flush: { mode: 'interval', intervalMs: 100, intervalBytes: 1 << 20 } })
      await log.append(makeBatch('a', 2), 0)
      await log.append(makeBatch('b', 2), 0)
      expect(log.writtenEndOffset).toBe(4)
      expect(log.durableEndOffset).toBe(0)
      expect(log.stats().syncs).toBe(0)
      await sleep(sim.clock, 50)
      expect(log.durableEndOffset).toBe(0)
      await sleep(sim.clock, 60)
      expect(log.stats().syncs).toBe(1)
      expect(log.durableEndOffset).toBe(4)
      expect(sim.simDisk.fileInfo(segmentPath(0))?.durableSizeBytes).toBe(sim.simDisk.fileInfo(segmentPath(0))?.sizeBytes)
      await log.close()
    })
  })

  it('flushInterval_syncsOnceIntervalBytesAreWritten', async () => {
    const sim = makeSim()
    await run(sim, async () => {
      const log = await openLog(sim.env, { flush: { mode: 'interval', intervalMs: 3_600_000, intervalBytes: 3 * ONE_BATCH_BYTES } })
      await appendSequential(log, 'b', 2)
      await sleep(sim.clock, 20)
      expect(log.stats().syncs).toBe(0)
      expect(log.durableEndOffset).toBe(0)
      await appendSequential(log, 'c', 1)
      await sleep(sim.clock, 20)
      expect(log.stats().syncs).toBe(1)
      expect(log.durableEndOffset).toBe(3)
      await log.close()
    })
  })

  // Regression: startSync returned at once when an fsync was in flight and, under flush=interval,
  // nothing re-armed afterwards (the timer callback had cleared flushTimer): bytes written during
  // an fsync whose interval timer fired before it returned stayed unsynced until the next append.
  it('flushInterval_timerFiringDuringAnFsync_stillSyncsWithinAboutAnInterval', async () => {
    const sim = makeSim({ diskConfig: slowSyncDisk(5) })
    await run(sim, async () => {
      const log = await openLog(sim.env, { flush: { mode: 'interval', intervalMs: 1, intervalBytes: 1 << 20 } })
      await log.append(makeBatch('a'), 0) // its timer fires at ~1 ms, the fsync returns at ~6 ms
      await sleep(sim.clock, 2)
      await log.append(makeBatch('b'), 0) // its timer fires at ~3 ms, while the first fsync runs
      await sleep(sim.clock, 1_000)
      expect(log.durableEndOffset).toBe(2)
      await log.close()
    })
  })

  // Regression, same root cause via intervalBytes: past intervalBytes, afterWrite called startSync
  // (a no-op during an fsync) and armed no timer, so those bytes were never synced.
  it('flushInterval_intervalBytesReachedDuringAnFsync_syncsLaterStill', async () => {
    const sim = makeSim({ diskConfig: slowSyncDisk(5) })
    await run(sim, async () => {
      const log = await openLog(sim.env, { flush: { mode: 'interval', intervalMs: 100, intervalBytes: 1 } })
      await log.append(makeBatch('a'), 0) // reaches intervalBytes: fsync until ~5 ms
      await sleep(sim.clock, 1)
      await log.append(makeBatch('b'), 0) // reaches intervalBytes again while it runs
      await sleep(sim.clock, 1_000) // ten intervals
      expect(log.durableEndOffset).toBe(2)
      await log.close()
    })
  })

  it('flushNever_noFsyncUntilFlushOrClose', async () => {
    const sim = makeSim()
    await run(sim, async () => {
      const log = await openLog(sim.env, { flush: { mode: 'never' } })
      await appendSequential(log, 'b', 5)
      await sleep(sim.clock, 60_000)
      expect(log.stats().syncs).toBe(0)
      expect(log.durableEndOffset).toBe(0)
      expect(sim.simDisk.fileInfo(segmentPath(0))?.durableSizeBytes).toBe(0)
      await log.flush()
      expect(log.stats().syncs).toBe(1)
      expect(log.durableEndOffset).toBe(5)
      expect(sim.simDisk.fileInfo(segmentPath(0))?.durableSizeBytes).toBe(5 * ONE_BATCH_BYTES)
      await appendSequential(log, 'c', 2)
      await sleep(sim.clock, 60_000)
      expect(sim.simDisk.fileInfo(segmentPath(0))?.durableSizeBytes).toBe(5 * ONE_BATCH_BYTES)
      await log.close()
      expect(sim.simDisk.fileInfo(segmentPath(0))?.durableSizeBytes).toBe(7 * ONE_BATCH_BYTES)
      const reopened = await openLog(sim.env)
      expect(reopened.logEndOffset).toBe(7)
      await reopened.close()
    })
  })
})

// ---------------------------------------------------------------- bad input and backpressure

describe('PartitionLog bad input', () => {
  function corrupted(mutate: (batch: Uint8Array) => Uint8Array | void): Uint8Array {
    const batch = makeBatch('bad', 2)
    return mutate(batch) ?? batch
  }

  const cases: Array<[name: string, bytes: () => Uint8Array, code: number]> = [
    ['a flipped bit in a record', () => corrupted((b) => void (b[b.length - 3] = (b[b.length - 3] as number) ^ 0x10)), ErrorCode.CORRUPT_MESSAGE.code],
    ['a flipped bit in the CRC', () => corrupted((b) => void (b[BatchField.crc] = (b[BatchField.crc] as number) ^ 1)), ErrorCode.CORRUPT_MESSAGE.code],
    ['a flipped bit in maxTimestamp (inside the CRC)', () => corrupted((b) => void (b[BatchField.maxTimestamp + 7] = (b[BatchField.maxTimestamp + 7] as number) ^ 1)), ErrorCode.CORRUPT_MESSAGE.code],
    ['magic 1', () => corrupted((b) => void (b[BatchField.magic] = 1)), ErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT.code],
    ['magic 0', () => corrupted((b) => void (b[BatchField.magic] = 0)), ErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT.code],
    ['magic 3', () => corrupted((b) => void (b[BatchField.magic] = 3)), ErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT.code],
    ['batchLength too long', () => corrupted((b) => writeInt32(b, BatchField.batchLength, readInt32(b, BatchField.batchLength) + 10)), ErrorCode.CORRUPT_MESSAGE.code],
    ['batchLength too short', () => corrupted((b) => writeInt32(b, BatchField.batchLength, readInt32(b, BatchField.batchLength) - 10)), ErrorCode.CORRUPT_MESSAGE.code],
    ['batchLength shorter than a header', () => corrupted((b) => writeInt32(b, BatchField.batchLength, 10)), ErrorCode.CORRUPT_MESSAGE.code],
    ['batchLength negative', () => corrupted((b) => writeInt32(b, BatchField.batchLength, -1)), ErrorCode.CORRUPT_MESSAGE.code],
    ['trailing garbage after a good batch', () => concatBytes([makeBatch('ok'), new Uint8Array(7)]), ErrorCode.CORRUPT_MESSAGE.code],
    ['a truncated batch', () => makeBatch('cut', 2).subarray(0, 70), ErrorCode.CORRUPT_MESSAGE.code],
    ['over batchBytesMax', () => makeBatch('huge', 1, { valueBytes: 2000 }), ErrorCode.MESSAGE_TOO_LARGE.code],
    ['an empty buffer', () => new Uint8Array(0), ErrorCode.INVALID_RECORD.code],
    ['a good batch then a corrupt one', () => concatBytes([makeBatch('ok'), corrupted((b) => void (b[70] = (b[70] as number) ^ 4))]), ErrorCode.CORRUPT_MESSAGE.code],
  ]

  it.each(cases)('append_%s_isRefusedWithItsCode_logUnchanged_warningLogged', async (name, bytes, code) => {
    const sim = makeSim()
    await run(sim, async () => {
      const log = await openLog(sim.env, { batchBytesMax: 1024 })
      await log.append(makeBatch('good', 3), 0)
      await sleep(sim.clock, 5)
      const files = sim.simDisk.filePaths().map((path) => [path, sim.simDisk.peekBytes(path)])
      const warnings = sim.logger.at('warn').length
      for (const appendBad of [() => log.append(bytes(), 0), () => log.appendReplicated(bytes())]) {
        expect(await codeOf(appendBad), name).toBe(code)
        expect(log.logEndOffset).toBe(3)
        expect(log.stats().pendingWriteBytes).toBe(0)
      }
      await sleep(sim.clock, 5)
      expect(sim.simDisk.filePaths().map((path) => [path, sim.simDisk.peekBytes(path)])).toEqual(files)
      const newWarnings = sim.logger.at('warn').slice(warnings)
      expect(newWarnings.map((line) => line.fields.code)).toEqual([code, code])
      expect(newWarnings.every((line) => line.fields.log === DIR)).toBe(true)
      expect((await log.append(makeBatch('next', 2), 0)).baseOffset).toBe(3)
      expect(valuesOf((await readAll(log)).records)).toEqual(['good/0', 'good/1', 'good/2', 'next/0', 'next/1'])
      await log.close()
    })
  })

  it('append_pastPendingWriteBytesMax_isOverloaded_retriable_andLaterSucceeds', async () => {
    const sim = makeSim()
    await run(sim, async () => {
      const batchBytes = makeBatch('x', 1, { valueBytes: 400 }).length
      const log = await openLog(sim.env, { batchBytesMax: 1024, pendingWriteBytesMax: 3 * batchBytes, flush: { mode: 'never' } })
      const accepted = [0, 1, 2].map((i) => log.append(makeBatch(`p${i}`, 1, { valueBytes: 400 }), 0))
      expect(log.stats().pendingWriteBytes).toBeGreaterThan(0)
      const error = await errorOf(() => log.append(makeBatch('p3', 1, { valueBytes: 400 }), 0))
      expect(error.code).toBe(ErrorCode.OVERLOADED.code)
      expect(error.retriable).toBe(true)
      expect(log.logEndOffset).toBe(3)
      await Promise.all(accepted)
      expect(log.stats().pendingWriteBytes).toBe(0)
      expect((await log.append(makeBatch('p3', 1, { valueBytes: 400 }), 0)).baseOffset).toBe(3)
      await log.close()
    })
  })
})

// ---------------------------------------------------------------- config

describe('PartitionLog config', () => {
  const nonsense: Array<[field: string, overrides: Partial<LogConfig>]> = [
    ['segmentBytesMax', { segmentBytesMax: 0 }],
    ['segmentBytesMax', { segmentBytesMax: -1 }],
    ['segmentBytesMax', { segmentBytesMax: 1.5 }],
    ['segmentBytesMax', { segmentBytesMax: Number.NaN }],
    ['segmentBytesMax', { segmentBytesMax: 2 ** 32 }],
    ['segmentAgeMsMax', { segmentAgeMsMax: 0 }],
    ['segmentAgeMsMax', { segmentAgeMsMax: Number.POSITIVE_INFINITY }],
    ['indexIntervalBytes', { indexIntervalBytes: 0 }],
    ['indexBytesMax', { indexBytesMax: -8 }],
    ['batchBytesMax', { batchBytesMax: 0 }],
    ['batchBytesMax', { segmentBytesMax: 1000, batchBytesMax: 2000 }],
    ['writeBytesMax', { writeBytesMax: 0 }],
    ['pendingWriteBytesMax', { pendingWriteBytesMax: 0 }],
    ['pendingWriteBytesMax', { batchBytesMax: 2000, pendingWriteBytesMax: 1000 }],
    ['flush.intervalMs', { flush: { mode: 'interval', intervalMs: 0, intervalBytes: 1 } }],
    ['flush.intervalBytes', { flush: { mode: 'interval', intervalMs: 1, intervalBytes: -1 } }],
    ['flush.intervalMs', { flush: { mode: 'interval' } as never }],
    ['flush.mode', { flush: { mode: 'sometimes' } as never }],
    ['retentionMs', { retentionMs: 0 }],
    ['retentionMs', { retentionMs: -1 }],
    ['retentionBytes', { retentionBytes: 0.5 }],
  ]

  it.each(nonsense)('open_with_%s_nonsense_isInvalidRequestNamingTheField (%j)', async (field, overrides) => {
    const sim = makeSim()
    await run(sim, async () => {
      const error = await errorOf(() => PartitionLog.open(sim.env, DIR, overrides))
      expect(error.code).toBe(ErrorCode.INVALID_REQUEST.code)
      expect(error.message).toContain(field)
    })
    expect(sim.simDisk.filePaths()).toEqual([])
  })

  // Regression: resolveLogConfig spreads overrides over the defaults, so an explicit
  // `flush: undefined` (legal for Partial<LogConfig>) threw a TypeError, not INVALID_REQUEST.
  it('open_withAMissingFlushPolicy_isInvalidRequestNamingFlush', async () => {
    const sim = makeSim()
    await run(sim, async () => {
      const error = await errorOf(() => PartitionLog.open(sim.env, DIR, { flush: undefined as never }))
      expect(error.code).toBe(ErrorCode.INVALID_REQUEST.code)
      expect(error.message).toContain('flush')
    })
  })
})

// ---------------------------------------------------------------- close and reopen

describe('PartitionLog.close', () => {
  it('close_laterCallsFailWithShuttingDown', async () => {
    const sim = makeSim()
    await run(sim, async () => {
      const log = await openLog(sim.env)
      await log.append(makeBatch('a'), 0)
      await log.close()
      const shuttingDown = ErrorCode.SHUTTING_DOWN.code
      expect(await codeOf(() => log.append(makeBatch('b'), 0))).toBe(shuttingDown)
      expect(await codeOf(() => log.appendReplicated(makeBatch('b', 1, { spec: { baseOffset: 1 } })))).toBe(shuttingDown)
      expect(await codeOf(() => log.read(0, 100))).toBe(shuttingDown)
      expect(await codeOf(() => log.offsetForTimestamp(0))).toBe(shuttingDown)
      expect(await codeOf(() => log.truncateTo(0))).toBe(shuttingDown)
      expect(await codeOf(() => log.enforceRetention())).toBe(shuttingDown)
      expect(await codeOf(() => log.flush())).toBe(shuttingDown)
      await log.close() // a second close is harmless
    })
  })

  // Regression: appends were accepted during close() and the writer kept going after it: an append
  // arriving during close's fsync was rejected with SHUTTING_DOWN yet written after close()
  // resolved, through a re-opened handle left in the (node-wide) FileCache; on reopen the log held a
  // record whose append had failed (a retrying producer writes it twice).
  it('close_anAppendArrivingWhileItRuns_isEitherRefusedOrStored_andNothingHappensAfterClose', async () => {
    const sim = makeSim({ diskConfig: slowSyncDisk(5) })
    await run(sim, async () => {
      const files = new FileCache(sim.disk, 16)
      const config = { segmentBytesMax: 2 * ONE_BATCH_BYTES, batchBytesMax: 2 * ONE_BATCH_BYTES }
      const log = await PartitionLog.open(sim.env, DIR, config, files)
      await appendSequential(log, 'b', 3) // segments 0 and 2
      const closing = track(log.close())
      await sleep(sim.clock, 1) // close is waiting for its fsync
      const late = ['late0', 'late1'].map((tag) => {
        try {
          return track(log.append(makeBatch(tag), 0)) // late1 rolls to segment 4
        } catch (error) {
          return { state: 'rejected' as const, error }
        }
      })
      await until(sim.clock, () => closing.state !== 'pending')
      const filesAtClose = sim.simDisk.filePaths().map((path) => [path, sim.simDisk.fileInfo(path)?.sizeBytes])
      await sleep(sim.clock, 50)
      expect(late.map((append) => append.state)).not.toContain('pending')
      expect(sim.simDisk.filePaths().map((path) => [path, sim.simDisk.fileInfo(path)?.sizeBytes])).toEqual(filesAtClose)
      expect(files.stats().openFiles).toBe(0)
      const reopened = await openLog(sim.env, config)
      const stored = valuesOf((await readAll(reopened, 0)).records)
      for (const [i, append] of late.entries()) {
        if (append.state === 'resolved') expect(stored).toContain(`late${i}/0`)
        else expect(stored).not.toContain(`late${i}/0`)
      }
      await reopened.close()
    })
  })

  it('close_withAppendsInFlight_writesThemAll_andReopenSeesEverything', async () => {
    const sim = makeSim()
    await run(sim, async () => {
      const config = { segmentBytesMax: 2000, indexIntervalBytes: 300, flush: { mode: 'interval' as const, intervalMs: 10_000, intervalBytes: 1 << 20 } }
      const log = await openLog(sim.env, config)
      const appends = Array.from({ length: 60 }, (_, i) => log.append(makeBatch(`c${i}`, 1 + (i % 3)), 2))
      await log.close()
      await Promise.all(appends)
      const expected = Array.from({ length: 60 }, (_, i) => Array.from({ length: 1 + (i % 3) }, (_, j) => `c${i}/${j}`)).flat()
      sim.simDisk.crash() // close made everything durable
      const reopened = await openLog(sim.env, config)
      expect(reopened.logEndOffset).toBe(expected.length)
      expect(reopened.segmentCount).toBeGreaterThan(3)
      expect(sim.logger.at('warn')).toEqual([])
      const { records } = await readAll(reopened, 0)
      expect(valuesOf(records)).toEqual(expected)
      expect((await reopened.append(makeBatch('after'), 0)).baseOffset).toBe(expected.length)
      await reopened.close()
    })
  })

  it('realDisk_appendRollTruncateCloseReopen_seesEverything', async () => {
    const root = await mkdtemp(join(tmpdir(), 'skein-log-test-'))
    try {
      const env: LogEnv = { disk: new RealDisk(root), clock: new RealClock(), log: new RecordingLogger() }
      const config = { segmentBytesMax: 4 * ONE_BATCH_BYTES, indexIntervalBytes: 2 * ONE_BATCH_BYTES }
      const log = await openLog(env, config)
      // Record times near the real clock: segments roll by age from their first record's time.
      const startMs = Date.now()
      const results = await Promise.all(Array.from({ length: 30 }, (_, i) => log.append(makeBatch(`r${i}`, 1, { timestamp: startMs + i }), 0)))
      expect(results.map((result) => result.baseOffset)).toEqual(Array.from({ length: 30 }, (_, i) => i))
      expect(log.segmentCount).toBe(8)
      expect(await log.truncateTo(25)).toBe(25)
      await log.append(makeBatch('after', 1, { timestamp: Date.now() }), 0)
      await log.close()
      const reopened = await openLog(env, config)
      expect(reopened.logEndOffset).toBe(26)
      const { records } = await readAll(reopened, 0)
      expect(valuesOf(records)).toEqual([...Array.from({ length: 25 }, (_, i) => `r${i}/0`), 'after/0'])
      expect(await reopened.offsetForTimestamp(startMs + 10)).toEqual({ offset: 10, timestamp: startMs + 10 })
      await reopened.close()
    } finally {
      await rm(root, { recursive: true, force: true })
    }
  })
})

// ---------------------------------------------------------------- header fields outside the CRC

describe('PartitionLog.read: header fields the CRC leaves out', () => {
  // Kafka's batch CRC starts at the attributes: base offset, length and partition leader epoch
  // lie outside it. A flipped bit there must fail the read as corrupt, naming the first offset
  // that cannot be trusted, and truncateTo there must cut the damage away.
  const segmentPath = `${DIR}/00000000000000000000.log`

  async function fiveBatches(sim: Sim): Promise<PartitionLog> {
    // The damage is made at rest after the writes: reads must go to the file, not to the
    // in-memory copy of the newest writes.
    const log = await openLog(sim.env, { tailCacheBytesMax: 0 })
    for (let i = 0; i < 5; i++) await log.append(makeBatch(`b${i}`), 7)
    return log
  }

  it('read_flippedBitInABaseOffset_failsAsCorruptAtThatBatch_andTruncateCutsItAway', async () => {
    const sim = makeSim()
    await run(sim, async () => {
      const log = await fiveBatches(sim)
      sim.simDisk.corruptByte(segmentPath, 2 * ONE_BATCH_BYTES + BatchField.baseOffset + 7, 0x01) // base offset 2 reads as 3
      const error = await errorOf(() => log.read(0, 100_000))
      expect(error).toBeInstanceOf(CorruptLogError)
      expect((error as CorruptLogError).offset).toBe(2)
      expect(error.code).toBe(ErrorCode.KAFKA_STORAGE_ERROR.code)
      expect(await log.truncateTo(2)).toBe(2)
      expect(valuesOf((await readAll(log, 0)).records)).toEqual(['b0/0', 'b1/0'])
      await log.close()
    })
  })

  it('read_flippedBitInALeaderEpoch_failsAsCorruptWhenTheEpochCacheDisagrees', async () => {
    const sim = makeSim()
    await run(sim, async () => {
      const log = await fiveBatches(sim)
      sim.simDisk.corruptByte(segmentPath, 3 * ONE_BATCH_BYTES + BatchField.partitionLeaderEpoch + 3, 0x02) // epoch 7 reads as 5
      // Without the epoch cache the flip goes unseen (nothing else covers it).
      expect((await log.read(3, 100_000)).batchCount).toBe(2)
      const error = await errorOf(() => log.read(0, 100_000, { epochOf: () => 7 }))
      expect((error as CorruptLogError).offset).toBe(3)
      await log.close()
    })
  })

  it('truncateTo_atABatchWhoseBaseOffsetRotted_cutsThereNotPastIt', async () => {
    const sim = makeSim()
    await run(sim, async () => {
      const log = await fiveBatches(sim)
      // base offset 3 reads as 1: a scan trusting it would keep the batch (it "ends before 3").
      sim.simDisk.corruptByte(segmentPath, 3 * ONE_BATCH_BYTES + BatchField.baseOffset + 7, 0x02)
      expect(await log.truncateTo(3)).toBe(3)
      expect(valuesOf((await readAll(log, 0)).records)).toEqual(['b0/0', 'b1/0', 'b2/0'])
      await log.close()
    })
  })
})

describe('PartitionLog.open: rot inside the last segment versus a torn write', () => {
  const segmentPath = `${DIR}/00000000000000000000.log`

  async function closedWithFiveBatches(sim: Sim): Promise<void> {
    const log = await openLog(sim.env)
    for (let i = 0; i < 5; i++) await log.append(makeBatch(`b${i}`), 1)
    await log.close()
  }

  it('open_corruptBatchFollowedByValidOnes_cutsThereAndReportsWhatTheLogHeld', async () => {
    const sim = makeSim()
    await run(sim, async () => {
      await closedWithFiveBatches(sim)
      sim.simDisk.corruptByte(segmentPath, 2 * ONE_BATCH_BYTES + ONE_BATCH_BYTES - 2, 0x08) // inside batch 2's records
      const log = await openLog(sim.env)
      expect(log.logEndOffset).toBe(2)
      expect(log.damagedEndOffset).toBe(5)
      await log.close()
    })
  })

  it('open_damagedLastBatch_isTakenForATornWrite_nothingReportedLost', async () => {
    const sim = makeSim()
    await run(sim, async () => {
      await closedWithFiveBatches(sim)
      sim.simDisk.corruptByte(segmentPath, 4 * ONE_BATCH_BYTES + ONE_BATCH_BYTES - 2, 0x08)
      const log = await openLog(sim.env)
      expect(log.logEndOffset).toBe(4)
      expect(log.damagedEndOffset).toBeUndefined()
      await log.close()
    })
  })
})

describe('isStorageError', () => {
  it('isTheDisksFault_forStorageErrorsCorruptionAndRawFileSystemErrors_notForRequestErrors', () => {
    expect(isStorageError(new SkeinError(ErrorCode.KAFKA_STORAGE_ERROR))).toBe(true)
    expect(isStorageError(new CorruptLogError('bad crc', 3))).toBe(true)
    expect(isStorageError(Object.assign(new Error('no space'), { code: 'ENOSPC' }))).toBe(true)
    expect(isStorageError(new SkeinError(ErrorCode.NOT_LEADER_OR_FOLLOWER))).toBe(false)
    expect(isStorageError(new Error('plain'))).toBe(false)
    expect(isStorageError(undefined)).toBe(false)
  })
})
