/**
 * Crash recovery of the partition log on the simulated disk: the Must-show properties.
 *
 * - Random appends, flushes, truncations and crashes (at random points, in-flight operations
 *   included, with every crash mode): the recovered log is exactly a prefix of what was
 *   appended, ends on a batch boundary, and holds everything that was reported durable.
 * - A flipped byte inside a batch is detected (never returned as if it were good).
 * - Disk errors take the log offline (KAFKA_STORAGE_ERROR) without losing anything resolved.
 * - Index files that disagree with their segment are rebuilt.
 * - Directed regressions: durability of a new log's first segment, group commit around
 *   flush(), a flush racing a truncation (with fsyncs that return out of order), stale index
 *   entries after a truncation and a crash.
 *
 * The world is one Scheduler and one SimDisk that outlives the log's "processes"; each process
 * gets its own SimClock, killed at the crash. Nothing here runs on real time.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Disk, FileHandle, OpenOptions } from '../../src/env/disk.js'
import type { Logger } from '../../src/env/logger.js'
import { BatchField, readInt32, readInt64 } from '../../src/log/batch-header.js'
import type { FlushPolicy, LogConfig } from '../../src/log/config.js'
import { type AppendResult, type LogEnv, PartitionLog } from '../../src/log/log.js'
import { decodeRecordBatches, encodeRecordBatch } from '../../src/log/record-batch.js'
import { ErrorCode, SkeinError } from '../../src/wire/errors.js'
import { Prng } from '../../sim/prng.js'
import { Scheduler, StopReason } from '../../sim/scheduler.js'
import { SimClock, WALL_EPOCH_BASE_MS } from '../../sim/sim-clock.js'
import { DiskCrashMode, SimDisk } from '../../sim/sim-disk.js'
import { concatBytes } from './helpers.js'

const LOG_DIR = 'data/topic-0'
const NODE_ID = 'n1'
/** Virtual time any single awaited step may take before the test calls it hung. */
const STEP_TIMEOUT_MS = 60_000
/** Offsets read one by one after each recovery (spread evenly over the log). */
const SEEKS_CHECKED_MAX = 16
const utf8 = new TextEncoder()
const utf8Decoder = new TextDecoder()

// ---- the world ----

interface LogLine {
  readonly level: 'debug' | 'info' | 'warn' | 'error'
  readonly message: string
  readonly fields: Readonly<Record<string, unknown>>
}

/** A Logger that keeps every line, for asserting on warnings. */
function recordingLogger(lines: LogLine[], bindings: Record<string, unknown> = {}): Logger {
  const write = (level: LogLine['level']) => (fields: object, message: string) => {
    lines.push({ level, message, fields: { ...bindings, ...fields } })
  }
  return {
    debug: write('debug'),
    info: write('info'),
    warn: write('warn'),
    error: write('error'),
    child: (more) => recordingLogger(lines, { ...bindings, ...more }),
  }
}

/** `target` with some methods replaced; every other property reads through (so interface growth needs no change here). */
function delegate<T extends object>(target: T, overrides: Partial<T>): T {
  return new Proxy(target, {
    get(object, property) {
      if (Object.hasOwn(overrides, property)) return (overrides as Record<string | symbol, unknown>)[property]
      const value: unknown = Reflect.get(object, property)
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(object) : value
    },
  })
}

class World {
  readonly scheduler = new Scheduler()
  readonly disk: SimDisk
  readonly lines: LogLine[] = []
  private clock: SimClock | undefined

  constructor(seed: number) {
    this.disk = new SimDisk(this.scheduler, Prng.fromSeed(seed).fork('disk'), NODE_ID)
  }

  /** A fresh process's Env: a new clock on the same disk. */
  newEnv(): LogEnv {
    this.clock?.kill()
    this.clock = new SimClock(this.scheduler, { nodeId: NODE_ID, monotonicStartMs: this.scheduler.nowMs() })
    return { disk: this.disk, clock: this.clock, log: recordingLogger(this.lines) }
  }

  /** The machine loses power: the process's timers die with it, the disk keeps what it keeps. */
  crash(mode: DiskCrashMode): void {
    this.clock?.kill()
    this.disk.crash({ mode })
  }

  /** Runs the scheduler until `promise` settles; fails if it does not within STEP_TIMEOUT_MS. */
  async settle<T>(promise: Promise<T>): Promise<T> {
    let outcome: { value: T } | { error: unknown } | undefined
    promise.then(
      (value) => (outcome = { value }),
      (error: unknown) => (outcome = { error }),
    )
    await macrotask()
    await this.scheduler.runUntil(() => outcome !== undefined, { timeoutMs: STEP_TIMEOUT_MS })
    if (outcome === undefined) throw new Error(`did not settle within ${STEP_TIMEOUT_MS} ms of virtual time`)
    if ('error' in outcome) throw outcome.error
    return outcome.value
  }

  /** Runs `body` on the scheduler; shorthand for settle(body()). */
  run<T>(body: () => Promise<T>): Promise<T> {
    return this.settle(body())
  }

  warnings(message: string): LogLine[] {
    return this.lines.filter((line) => line.level === 'warn' && line.message === message)
  }

  segmentPaths(): string[] {
    return this.disk.filePaths().filter((path) => path.startsWith(`${LOG_DIR}/`) && path.endsWith('.log'))
  }
}

function macrotask(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

// ---- records ----

/** A record's value: its unique id, a separator, then filler. */
function recordValue(id: string, fillerBytes: number): Uint8Array {
  return utf8.encode(`${id}|${'x'.repeat(fillerBytes)}`)
}

function idOf(value: Uint8Array | null): string {
  if (value === null) return '<null>'
  const text = utf8Decoder.decode(value)
  return text.slice(0, text.indexOf('|'))
}

function encodeBatch(ids: readonly string[], fillerBytes: readonly number[]): Uint8Array {
  return encodeRecordBatch({
    producerId: 7,
    records: ids.map((id, i) => ({ key: null, value: recordValue(id, fillerBytes[i] ?? 0), timestamp: WALL_EPOCH_BASE_MS + i })),
  })
}

/** The filler that makes a one-record batch `sizeBytes` long, or as close below as the varints allow. */
function fillerForBatchBytes(id: string, sizeBytes: number): number {
  let filler = Math.max(0, sizeBytes - encodeBatch([id], [0]).length)
  while (filler > 0 && encodeBatch([id], [filler]).length > sizeBytes) filler--
  return filler
}

interface ReadBack {
  readonly ids: string[]
  /** End offset of every batch read, ascending. */
  readonly batchEnds: number[]
}

/**
 * Reads the whole log back with `read()` in steps of `maxBytes`, decoding every batch (which
 * checks each CRC) and checking that offsets run contiguously from logStartOffset.
 */
async function readAll(log: PartitionLog, maxBytes: number): Promise<ReadBack> {
  const ids: string[] = []
  const batchEnds: number[] = []
  let offset = log.logStartOffset
  while (offset < log.writtenEndOffset) {
    const result = await log.read(offset, maxBytes)
    expect(result.batchCount, `read(${offset}) returned no batch below the written end ${log.writtenEndOffset}`).toBeGreaterThan(0)
    const batches = decodeRecordBatches(result.bytes)
    expect(batches.length).toBe(result.batchCount)
    for (const batch of batches) {
      expect(batch.baseOffset, 'batches are contiguous').toBe(offset)
      for (const record of batch.records) {
        expect(record.offset, 'records are contiguous').toBe(offset)
        ids.push(idOf(record.value))
        offset++
      }
      batchEnds.push(offset)
    }
    expect(result.nextOffset).toBe(offset)
  }
  return { ids, batchEnds }
}

type Settled<T = unknown> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: unknown }

/** Runs `action` (which may throw at once or reject later) and reports how it ended. */
function settledOf<T>(action: () => Promise<T>): Promise<Settled<T>> {
  try {
    return action().then(
      (value) => ({ ok: true, value }) as const,
      (error: unknown) => ({ ok: false, error }) as const,
    )
  } catch (error) {
    return Promise.resolve({ ok: false, error } as const)
  }
}

// ---- the random-crash property ----

interface BatchShape {
  readonly fillerBytes: readonly number[]
  /** Set for a one-record batch sized against batchBytesMax: this many bytes below it (negative: above, refused). */
  readonly belowLimitBytes?: number
}

type Op =
  | { readonly kind: 'append'; readonly calls: readonly (readonly BatchShape[])[]; readonly awaitEach: boolean }
  | { readonly kind: 'flush'; readonly appendsDuring: readonly BatchShape[] }
  | { readonly kind: 'truncate'; readonly fraction: number }
  | { readonly kind: 'wait'; readonly ms: number }

interface Cycle {
  readonly ops: readonly Op[]
  /** Crash after this many scheduler events, or once every op is done (undefined). */
  readonly crashAfterEvents: number | undefined
  readonly crashMode: DiskCrashMode
  readonly readMaxBytes: number
}

interface Scenario {
  readonly diskSeed: number
  readonly config: Partial<LogConfig>
  readonly cycles: readonly Cycle[]
}

const flushArb: fc.Arbitrary<FlushPolicy> = fc.oneof(
  fc.constant<FlushPolicy>({ mode: 'always' }),
  fc.record({ mode: fc.constant('interval' as const), intervalMs: fc.integer({ min: 1, max: 20 }), intervalBytes: fc.integer({ min: 256, max: 8192 }) }),
  fc.constant<FlushPolicy>({ mode: 'never' }),
)

const configArb: fc.Arbitrary<Partial<LogConfig>> = fc
  .record({
    segmentBytesMax: fc.integer({ min: 2048, max: 20_480 }),
    batchBytesMax: fc.integer({ min: 512, max: 4096 }),
    indexIntervalBytes: fc.integer({ min: 1, max: 1024 }),
    writeBytesMax: fc.integer({ min: 256, max: 8192 }),
    flush: flushArb,
  })
  .map((config) => ({ ...config, batchBytesMax: Math.min(config.batchBytesMax, config.segmentBytesMax) }))

const batchShapeArb: fc.Arbitrary<BatchShape> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ fillerBytes: fc.array(fc.integer({ min: 0, max: 120 }), { minLength: 1, maxLength: 6 }) }) },
  { weight: 2, arbitrary: fc.record({ fillerBytes: fc.array(fc.integer({ min: 100, max: 700 }), { minLength: 1, maxLength: 2 }) }) },
  { weight: 1, arbitrary: fc.record({ fillerBytes: fc.constant([0]), belowLimitBytes: fc.integer({ min: -3, max: 8 }) }) },
)

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant('append' as const),
      calls: fc.array(fc.array(batchShapeArb, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 8 }),
      awaitEach: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('flush' as const), appendsDuring: fc.array(batchShapeArb, { maxLength: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), fraction: fc.double({ min: 0, max: 1, noNaN: true }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 30 }) }) },
)

const cycleArb: fc.Arbitrary<Cycle> = fc.record({
  ops: fc.array(opArb, { minLength: 1, maxLength: 8 }),
  crashAfterEvents: fc.oneof(
    { weight: 3, arbitrary: fc.integer({ min: 0, max: 80 }) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 400 }) },
    { weight: 1, arbitrary: fc.constant(undefined) },
  ),
  crashMode: fc.constantFrom(DiskCrashMode.dropUnsynced, DiskCrashMode.tearLastWrite, DiskCrashMode.keepUnsyncedPrefix),
  readMaxBytes: fc.integer({ min: 1, max: 16_384 }),
})

const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  diskSeed: fc.integer({ min: 0, max: 1_000_000 }),
  config: configArb,
  cycles: fc.array(cycleArb, { minLength: 1, maxLength: 4 }),
})

/**
 * What the log must hold, by offset: the ids appended (truncations applied), where batches
 * end, and the end below which everything was reported durable.
 */
class Model {
  ids: string[] = []
  batchEnds: number[] = []
  durableEnd = 0
  /** Set while a truncation runs: the state before it, and where it will cut. */
  truncating: { readonly ids: string[]; readonly batchEnds: number[]; readonly expectedEnd: number } | undefined
  private nextId = 0

  newId(): string {
    return `r${this.nextId++}`
  }

  /** The batch-aligned end a truncation to `offset` leaves: straddling batches go whole. */
  endAfterTruncation(offset: number): number {
    let end = 0
    for (const batchEnd of this.batchEnds) if (batchEnd <= offset) end = batchEnd
    return end
  }

  /** The recovered log may be any prefix of these ids, ending on one of these batch ends, at least this long. */
  crashBounds(): { ids: readonly string[]; batchEnds: readonly number[]; minimumEnd: number } {
    const truncating = this.truncating
    if (truncating === undefined) return { ids: this.ids, batchEnds: this.batchEnds, minimumEnd: this.durableEnd }
    return { ids: truncating.ids, batchEnds: truncating.batchEnds, minimumEnd: Math.min(this.durableEnd, truncating.expectedEnd) }
  }

  /** After a reopen: the log is what was recovered, and all of it is on disk. */
  recovered(readBack: ReadBack): void {
    this.ids = [...readBack.ids]
    this.batchEnds = [...readBack.batchEnds]
    this.durableEnd = readBack.ids.length
    this.truncating = undefined
  }
}

/** Runs one process lifetime's ops against `log`, keeping `model` in step. */
class Driver {
  private readonly pending: Promise<unknown>[] = []
  /** Set at the crash: the process is gone, and nothing it was doing may touch the model again. */
  private dead = false

  constructor(
    private readonly env: LogEnv,
    private readonly log: PartitionLog,
    private readonly model: Model,
    private readonly config: LogConfig,
  ) {}

  kill(): void {
    this.dead = true
  }

  async runOps(cycle: Cycle): Promise<void> {
    for (const op of cycle.ops) {
      await this.runOp(op)
      await this.stopIfDead()
    }
    await Promise.all(this.pending.splice(0))
    await this.stopIfDead()
    // Every append resolved: a read sees all of them.
    const readBack = await readAll(this.log, cycle.readMaxBytes)
    expect(readBack.ids).toEqual(this.model.ids)
  }

  private async runOp(op: Op): Promise<void> {
    switch (op.kind) {
      case 'append':
        for (const call of op.calls) {
          const appended = this.append(call)
          if (op.awaitEach) await appended
        }
        return
      case 'flush': {
        const endAtCall = this.log.logEndOffset
        const flushed = this.log.flush()
        for (const shape of op.appendsDuring) this.append([shape])
        await flushed
        await this.stopIfDead()
        this.model.durableEnd = Math.max(this.model.durableEnd, endAtCall)
        return
      }
      case 'truncate':
        return this.truncate(op.fraction)
      case 'wait':
        await new Promise<void>((resolve) => this.env.clock.setTimer(op.ms, resolve))
        return
    }
  }

  /** One append call of one or more batches; the model learns the ids at once (offsets are assigned at once). */
  private append(shapes: readonly BatchShape[]): Promise<unknown> {
    const model = this.model
    const baseOffset = this.log.logEndOffset
    expect(baseOffset, 'offsets continue at the end of the model').toBe(model.ids.length)
    const ids: string[] = []
    const sizes: number[] = []
    const parts = shapes.map((shape) => {
      const batchIds = shape.fillerBytes.map(() => model.newId())
      ids.push(...batchIds)
      sizes.push(batchIds.length)
      if (shape.belowLimitBytes !== undefined) {
        const target = this.config.batchBytesMax - shape.belowLimitBytes
        const first = batchIds[0] as string
        return encodeBatch([first], [fillerForBatchBytes(first, target)])
      }
      return encodeBatch(batchIds, shape.fillerBytes)
    })
    const bytes = concatBytes(parts)
    const tooLarge = parts.some((part) => part.length > this.config.batchBytesMax)
    const appending = settledOf(() => this.log.append(bytes, 3))
    if (this.log.logEndOffset === baseOffset) {
      // Refused, changing nothing: only an oversized batch may be.
      const refused = appending.then((outcome) => {
        expect(outcome.ok, 'an append that assigned no offsets rejects').toBe(false)
        const error = (outcome as { error: unknown }).error
        expect(tooLarge, `append refused: ${String(error)}`).toBe(true)
        expect((error as SkeinError).code).toBe(ErrorCode.MESSAGE_TOO_LARGE.code)
      })
      this.pending.push(refused)
      return refused
    }
    expect(tooLarge, 'an oversized batch was accepted').toBe(false)
    let end = baseOffset
    for (const size of sizes) {
      end += size
      model.batchEnds.push(end)
    }
    model.ids.push(...ids)
    const alwaysDurable = this.config.flush.mode === 'always'
    const done = appending.then((outcome) => {
      if (this.dead) return
      if (outcome.ok) {
        expect(outcome.value.baseOffset).toBe(baseOffset)
        expect(outcome.value.lastOffset).toBe(end - 1)
        expect(this.log.writtenEndOffset, 'a resolved append is readable').toBeGreaterThanOrEqual(end)
        if (alwaysDurable) model.durableEnd = Math.max(model.durableEnd, end)
        return
      }
      // Only a truncation cutting this append may fail it.
      expect((outcome.error as SkeinError).code, String(outcome.error)).toBe(ErrorCode.LOG_TRUNCATED.code)
      expect(model.truncating, 'an append failed outside a truncation').toBeDefined()
      expect(model.truncating?.expectedEnd, 'a failed append was cut off').toBeLessThan(end)
    })
    this.pending.push(done)
    return done
  }

  private async truncate(fraction: number): Promise<void> {
    const model = this.model
    const target = Math.floor(fraction * model.ids.length)
    const expectedEnd = model.endAfterTruncation(target)
    model.truncating = { ids: [...model.ids], batchEnds: [...model.batchEnds], expectedEnd }
    const newEnd = await this.log.truncateTo(target)
    await this.stopIfDead()
    expect(newEnd).toBe(target >= model.ids.length ? model.ids.length : expectedEnd)
    model.ids.length = Math.min(model.ids.length, newEnd)
    model.batchEnds = model.batchEnds.filter((end) => end <= newEnd)
    model.durableEnd = Math.min(model.durableEnd, newEnd)
    model.truncating = undefined
  }

  /** Never settles once the process is dead: its remaining steps never run. */
  private stopIfDead(): Promise<void> {
    return this.dead ? new Promise<void>(() => undefined) : Promise.resolve()
  }
}


/** One scenario: cycles of (open, ops, crash somewhere), then a clean close and reopen. */
async function runScenario(scenario: Scenario): Promise<void> {
  const world = new World(scenario.diskSeed)
  const model = new Model()
  for (const [cycleIndex, cycle] of scenario.cycles.entries()) {
    const env = world.newEnv()
    const log = await world.run(() => PartitionLog.open(env, LOG_DIR, scenario.config))
    await checkRecovered(world, log, model, cycle.readMaxBytes, `cycle ${cycleIndex}`)
    const driver = new Driver(env, log, model, log.config)
    let outcome: { error?: unknown } | undefined
    driver.runOps(cycle).then(
      () => (outcome = {}),
      (error: unknown) => (outcome = { error }),
    )
    await macrotask()
    const run = await world.scheduler.runUntil(() => outcome !== undefined, {
      timeoutMs: STEP_TIMEOUT_MS,
      ...(cycle.crashAfterEvents === undefined ? {} : { eventsMax: cycle.crashAfterEvents }),
    })
    if (outcome?.error !== undefined) throw outcome.error
    if (outcome === undefined && run.stopReason !== StopReason.eventsMax) {
      throw new Error(`cycle ${cycleIndex}: the ops hung (${run.stopReason}; stats ${JSON.stringify(log.stats())})`)
    }
    driver.kill()
    world.crash(cycle.crashMode)
  }
  const log = await world.run(() => PartitionLog.open(world.newEnv(), LOG_DIR, scenario.config))
  const readMaxBytes = scenario.cycles[0]?.readMaxBytes ?? 4096
  await checkRecovered(world, log, model, readMaxBytes, 'final open')
  // Appends continue at logEndOffset and read back, through a clean close and reopen.
  const id = model.newId()
  const result = await world.run(() => log.append(encodeBatch([id], [10]), 4))
  expect(result.baseOffset).toBe(model.ids.length)
  model.ids.push(id)
  model.batchEnds.push(model.ids.length)
  await world.run(() => log.close())
  const reopened = await world.run(() => PartitionLog.open(world.newEnv(), LOG_DIR, scenario.config))
  const readBack = await world.run(() => readAll(reopened, readMaxBytes))
  expect(readBack.ids).toEqual(model.ids)
  await world.run(() => reopened.close())
}

/** After an open: the log is a batch-aligned prefix of what was appended, holding everything durable. */
async function checkRecovered(world: World, log: PartitionLog, model: Model, readMaxBytes: number, where: string): Promise<void> {
  const bounds = model.crashBounds()
  const readBack = await world.run(() => readAll(log, readMaxBytes))
  expect(log.logStartOffset, where).toBe(0)
  expect(log.logEndOffset, `${where}: logEndOffset is what reads find`).toBe(readBack.ids.length)
  expect(readBack.ids, `${where}: the recovered log is a prefix of what was appended`).toEqual(bounds.ids.slice(0, readBack.ids.length))
  expect(readBack.ids.length, `${where}: everything reported durable survived`).toBeGreaterThanOrEqual(bounds.minimumEnd)
  if (readBack.ids.length > 0) expect(bounds.batchEnds, `${where}: the log ends on a batch boundary`).toContain(readBack.ids.length)
  // Seeks through the (recovered) index: a read at any offset starts with the batch holding it.
  const stride = Math.max(1, Math.floor(readBack.ids.length / SEEKS_CHECKED_MAX))
  for (let offset = readBack.ids.length - 1; offset >= 0; offset -= stride) {
    const result = await world.run(() => log.read(offset, 1))
    const first = decodeRecordBatches(result.bytes)[0]
    expect(first?.baseOffset, `${where}: read(${offset}) starts at or before it`).toBeLessThanOrEqual(offset)
    expect((first?.baseOffset ?? 0) + (first?.records.length ?? 0), `${where}: read(${offset}) holds it`).toBeGreaterThan(offset)
  }
  model.recovered(readBack)
}

describe('PartitionLog crash recovery (simulated disk)', () => {
  it('recovers_aPrefixIncludingEverythingDurable_underRandomCrashes', async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, async (scenario) => {
        await runScenario(scenario)
      }),
      { seed: 20_240_611, numRuns: 150 },
    )
  }, 120_000)
})

// ---- directed tests: durability of the first segment, and flush racing a truncation ----

/** Appends one one-record batch per id, all at once, and waits for every one. */
async function appendEach(world: World, log: PartitionLog, ids: readonly string[], fillerBytes = 40): Promise<AppendResult[]> {
  return world.run(() => Promise.all(ids.map((id) => log.append(encodeBatch([id], [fillerBytes]), 1))))
}

function idsFrom(first: number, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `r${first + i}`)
}

/**
 * A Disk whose next file sync can be held back after it ran: the fsync returns late, as a
 * real one may (RealDisk runs fsyncs on the thread pool; nothing orders their completions).
 */
function syncHoldingDisk(inner: SimDisk): { disk: Disk; holdNextFileSync: () => () => void } {
  let hold: Promise<void> | undefined
  const disk = delegate<Disk>(inner, {
    open: async (path: string, options: OpenOptions) => {
      const file = await inner.open(path, options)
      return delegate<FileHandle>(file, {
        sync: async () => {
          const held = hold
          hold = undefined
          await file.sync()
          if (held !== undefined) await held
        },
      })
    },
  })
  return {
    disk,
    holdNextFileSync: () => {
      let release: () => void = () => undefined
      hold = new Promise((resolve) => (release = resolve))
      return release
    },
  }
}

describe('PartitionLog durability (simulated disk)', () => {
  it('append_underFlushAlways_survivesACrash_beforeTheFirstRoll', async () => {
    const world = new World(11)
    const log = await world.run(() => PartitionLog.open(world.newEnv(), LOG_DIR, { flush: { mode: 'always' } }))
    await appendEach(world, log, idsFrom(0, 3))
    expect(log.durableEndOffset).toBe(3)
    world.crash(DiskCrashMode.dropUnsynced)
    const reopened = await world.run(() => PartitionLog.open(world.newEnv(), LOG_DIR, { flush: { mode: 'always' } }))
    // Three appends were reported fsynced; the segment file they are in was created but its
    // directory entry never synced, so the crash took the whole file.
    expect(reopened.logEndOffset, 'every append reported durable survives').toBe(3)
    expect((await world.run(() => readAll(reopened, 4096))).ids).toEqual(idsFrom(0, 3))
  })

  it('close_thenCrash_keepsEverything_evenWithoutARoll', async () => {
    const world = new World(12)
    const log = await world.run(() => PartitionLog.open(world.newEnv(), LOG_DIR, { flush: { mode: 'never' } }))
    await appendEach(world, log, idsFrom(0, 3))
    await world.run(() => log.close())
    world.crash(DiskCrashMode.dropUnsynced)
    const reopened = await world.run(() => PartitionLog.open(world.newEnv(), LOG_DIR, { flush: { mode: 'never' } }))
    expect(reopened.logEndOffset, 'a cleanly closed log survives a crash').toBe(3)
  })

  it('append_writtenWhileAFlushFsyncs_stillResolves_underFlushAlways', async () => {
    const world = new World(14)
    const log = await world.run(() => PartitionLog.open(world.newEnv(), LOG_DIR, { flush: { mode: 'always' } }))
    await appendEach(world, log, idsFrom(0, 1))
    // The append is written while the flush's fsync runs; that fsync does not cover it, so
    // group commit must start another one.
    const flushed = log.flush()
    await macrotask() // the flush's fsync is in flight now
    const appended = log.append(encodeBatch(['r1'], [40]), 1)
    await world.settle(Promise.all([flushed, appended]))
    expect(log.durableEndOffset).toBe(2)
  })

  it('flush_racingATruncation_neverMarksTheNewTailDurable', async () => {
    const world = new World(13)
    const { disk, holdNextFileSync } = syncHoldingDisk(world.disk)
    const env: LogEnv = { ...world.newEnv(), disk }
    const log = await world.run(() => PartitionLog.open(env, LOG_DIR, { flush: { mode: 'always' } }))
    await appendEach(world, log, idsFrom(0, 4))
    // A truncation starts; a flush arrives while it runs; the next fsync returns late (whoever
    // issued it: the flush, if it runs beside the truncation, else the truncation itself).
    const truncated = log.truncateTo(2)
    await macrotask()
    const release = holdNextFileSync()
    const flushed = log.flush()
    await world.scheduler.runFor(100)
    release()
    await world.settle(Promise.all([truncated, flushed]))
    expect(await truncated).toBe(2)
    expect(log.logEndOffset).toBe(2)
    expect(log.durableEndOffset, 'an fsync from before the cut marks nothing past it durable').toBeLessThanOrEqual(log.logEndOffset)
    // The next append must wait for its own write and fsync.
    let resolvedAtWrittenEnd: number | undefined
    const appended = log.append(encodeBatch(['x2'], [40]), 1).then(() => (resolvedAtWrittenEnd = log.writtenEndOffset))
    await macrotask()
    expect(resolvedAtWrittenEnd, 'an append resolved before it was even written').toBeUndefined()
    await world.settle(appended)
    world.crash(DiskCrashMode.dropUnsynced)
    const reopened = await world.run(() => PartitionLog.open({ ...world.newEnv(), disk }, LOG_DIR, { flush: { mode: 'always' } }))
    expect((await world.run(() => readAll(reopened, 4096))).ids).toEqual([...idsFrom(0, 2), 'x2'])
  })
})

// ---- corruption ----

interface StoredBatch {
  readonly segmentPath: string
  readonly position: number
  readonly sizeBytes: number
  readonly baseOffset: number
  readonly lastOffset: number
}

/** The batches of a segment file, parsed from its bytes (headers only). */
function storedBatches(disk: SimDisk, segmentPath: string): StoredBatch[] {
  const bytes = disk.peekBytes(segmentPath) as Uint8Array
  const batches: StoredBatch[] = []
  for (let position = 0; position < bytes.length; ) {
    const sizeBytes = readInt32(bytes, position + BatchField.batchLength) + 12
    const baseOffset = readInt64(bytes, position + BatchField.baseOffset)
    const lastOffset = baseOffset + readInt32(bytes, position + BatchField.lastOffsetDelta)
    batches.push({ segmentPath, position, sizeBytes, baseOffset, lastOffset })
    position += sizeBytes
  }
  return batches
}

/** A closed log of `count` one-record batches r0..r(count-1) with random filler; returns the ids. */
async function writeClosedLog(world: World, config: Partial<LogConfig>, count: number, fillerBytes: (i: number) => number): Promise<string[]> {
  const log = await world.run(() => PartitionLog.open(world.newEnv(), LOG_DIR, config))
  const ids = idsFrom(0, count)
  await world.run(() => Promise.all(ids.map((id, i) => log.append(encodeBatch([id], [fillerBytes(i)]), 1))))
  await world.run(() => log.close())
  return ids
}

/** Where to flip a byte in `batch`: anywhere from its CRC field to its end (what the CRC protects, and the CRC). */
function crcProtectedByte(batch: StoredBatch, pick: number): number {
  const start = batch.position + BatchField.crc
  return start + (pick % (batch.position + batch.sizeBytes - start))
}

type ReadOutcome = { readonly ok: true; readonly ids: string[]; readonly baseOffset: number } | { readonly ok: false; readonly error: unknown }

/** read(offset, 1) and decode what it returns; a decode failure is reported as `silentlyCorrupt`. */
async function readOne(world: World, log: PartitionLog, offset: number): Promise<ReadOutcome | { readonly ok: 'silentlyCorrupt'; readonly error: unknown }> {
  let bytes: Uint8Array
  try {
    bytes = (await world.run(() => log.read(offset, 1))).bytes
  } catch (error) {
    return { ok: false, error }
  }
  try {
    const batches = decodeRecordBatches(bytes)
    const first = batches[0]
    return { ok: true, ids: first?.records.map((record) => idOf(record.value)) ?? [], baseOffset: first?.baseOffset ?? -1 }
  } catch (error) {
    return { ok: 'silentlyCorrupt', error }
  }
}

const corruptionArb = fc.record({
  seed: fc.integer({ min: 0, max: 1_000_000 }),
  batchCount: fc.integer({ min: 2, max: 30 }),
  indexIntervalBytes: fc.integer({ min: 1, max: 4096 }),
  fillers: fc.array(fc.integer({ min: 0, max: 300 }), { minLength: 30, maxLength: 30 }),
  batchPick: fc.nat(),
  bytePick: fc.nat(),
  xorMask: fc.integer({ min: 1, max: 255 }),
})

describe('PartitionLog corruption (simulated disk)', () => {
  // Open scans the active segment from its last index entry (the design; Kafka does
  // no scan at all after a clean shutdown), so a flip there is cut on open; a flip earlier is
  // caught on read instead (the next test).
  it('flippedByteInTheActiveSegment_afterItsLastIndexEntry_cutsTheLogBeforeThatBatch_onOpen', async () => {
    await fc.assert(
      fc.asyncProperty(corruptionArb, async (c) => {
        const world = new World(c.seed)
        const config: Partial<LogConfig> = { indexIntervalBytes: c.indexIntervalBytes, flush: { mode: 'never' } }
        const ids = await writeClosedLog(world, config, c.batchCount, (i) => c.fillers[i] ?? 0)
        const segmentPath = world.segmentPaths().at(-1) as string
        const indexBytes = world.disk.peekBytes(segmentPath.replace(/\.log$/, '.index')) ?? new Uint8Array(0)
        const lastIndexedPosition = indexBytes.length >= 8 ? readInt32(indexBytes, indexBytes.length - 4) : 0
        const batches = storedBatches(world.disk, segmentPath).filter((batch) => batch.position >= lastIndexedPosition)
        const victim = batches[c.batchPick % batches.length] as StoredBatch
        world.disk.corruptByte(segmentPath, crcProtectedByte(victim, c.bytePick), c.xorMask)
        const log = await world.run(() => PartitionLog.open(world.newEnv(), LOG_DIR, config))
        expect(log.logEndOffset, `the log ends before the corrupted batch at byte ${victim.position}`).toBe(victim.baseOffset)
        expect(world.disk.fileInfo(segmentPath)?.sizeBytes, 'the file is cut at the corrupted batch').toBe(victim.position)
        expect(world.warnings('truncating a torn or corrupt tail found on open')).toHaveLength(1)
        expect((await world.run(() => readAll(log, 1000))).ids).toEqual(ids.slice(0, victim.baseOffset))
      }),
      { seed: 7_001, numRuns: 60 },
    )
  })

  it('flippedByteInTheActiveSegment_isNeverServed_andEverythingElseStaysReadable', async () => {
    await fc.assert(
      fc.asyncProperty(corruptionArb, async (c) => {
        const world = new World(c.seed)
        const config: Partial<LogConfig> = { indexIntervalBytes: c.indexIntervalBytes, flush: { mode: 'never' } }
        const ids = await writeClosedLog(world, config, c.batchCount, (i) => c.fillers[i] ?? 0)
        const segmentPath = world.segmentPaths().at(-1) as string
        const batches = storedBatches(world.disk, segmentPath)
        const victim = batches[c.batchPick % batches.length] as StoredBatch
        world.disk.corruptByte(segmentPath, crcProtectedByte(victim, c.bytePick), c.xorMask)
        const log = await world.run(() => PartitionLog.open(world.newEnv(), LOG_DIR, config))
        // Either recovery cut the log at the damaged batch, or the log kept it and reads of it fail.
        expect([victim.baseOffset, ids.length]).toContain(log.logEndOffset)
        await expectDamageNeverServed(world, log, ids.slice(0, log.logEndOffset), batches, victim)
      }),
      { seed: 7_004, numRuns: 60 },
    )
  })

  it('flippedByteInAClosedSegment_failsTheReadsThatHitIt_neverReturnsItSilently', async () => {
    await fc.assert(
      fc.asyncProperty(corruptionArb, async (c) => {
        const world = new World(c.seed)
        const config: Partial<LogConfig> = { indexIntervalBytes: c.indexIntervalBytes, segmentBytesMax: 1024, batchBytesMax: 1024, flush: { mode: 'never' } }
        const ids = await writeClosedLog(world, config, c.batchCount + 20, (i) => 40 + (c.fillers[i % 30] ?? 0))
        const closedSegments = world.segmentPaths().slice(0, -1)
        expect(closedSegments.length).toBeGreaterThan(0)
        const segmentPath = closedSegments[c.batchPick % closedSegments.length] as string
        const batches = storedBatches(world.disk, segmentPath)
        const victim = batches[c.bytePick % batches.length] as StoredBatch
        world.disk.corruptByte(segmentPath, crcProtectedByte(victim, c.bytePick), c.xorMask)
        const log = await world.run(() => PartitionLog.open(world.newEnv(), LOG_DIR, config))
        expect(log.logEndOffset).toBe(ids.length)
        await expectDamageNeverServed(world, log, ids, batches, victim)
      }),
      { seed: 7_002, numRuns: 60 },
    )
  })
})

/**
 * Reads every offset on its own: a read either returns exactly the right records, or fails with
 * KAFKA_STORAGE_ERROR / CORRUPT_MESSAGE, and only inside the damaged segment. The damaged batch,
 * if still in the log, is never returned.
 */
async function expectDamageNeverServed(world: World, log: PartitionLog, ids: readonly string[], segmentBatches: readonly StoredBatch[], victim: StoredBatch): Promise<void> {
  const segmentFirst = segmentBatches[0]?.baseOffset ?? 0
  const segmentLast = segmentBatches.at(-1)?.lastOffset ?? 0
  for (let offset = 0; offset < ids.length; offset++) {
    const outcome = await readOne(world, log, offset)
    if (outcome.ok === 'silentlyCorrupt') {
      throw new Error(`read(${offset}) returned a batch that fails its CRC, without an error (flipped byte in the batch at byte ${victim.position} of ${victim.segmentPath}): ${String(outcome.error)}`)
    }
    if (outcome.ok) {
      expect(outcome.baseOffset, `read(${offset})`).toBeLessThanOrEqual(offset)
      expect(outcome.ids, `read(${offset}) returned the right records`).toEqual(ids.slice(outcome.baseOffset, outcome.baseOffset + outcome.ids.length))
      continue
    }
    expect(outcome.error).toBeInstanceOf(SkeinError)
    expect([ErrorCode.KAFKA_STORAGE_ERROR.code, ErrorCode.CORRUPT_MESSAGE.code]).toContain((outcome.error as SkeinError).code)
    expect(offset, 'only reads inside the damaged segment fail').toBeGreaterThanOrEqual(segmentFirst)
    expect(offset, 'only reads inside the damaged segment fail').toBeLessThanOrEqual(segmentLast)
  }
}

// ---- disk errors ----

function expectStorageError(outcome: Settled, what: string): void {
  expect(outcome.ok, `${what} failed`).toBe(false)
  const error = (outcome as { error: unknown }).error
  expect(error, what).toBeInstanceOf(SkeinError)
  expect((error as SkeinError).code, `${what}: ${String(error)}`).toBe(ErrorCode.KAFKA_STORAGE_ERROR.code)
}

const flushPolicies: readonly FlushPolicy[] = [{ mode: 'always' }, { mode: 'interval', intervalMs: 5, intervalBytes: 1000 }, { mode: 'never' }]
const diskFaults = ['write', 'sync'] as const

describe('PartitionLog disk errors (simulated disk)', () => {
  for (const flush of flushPolicies) {
    for (const fault of diskFaults) {
      it(`${fault}Error_takesTheLogOffline_withStorageError_andLosesNothingResolved (flush=${flush.mode})`, async () => {
        const world = new World(21)
        const config: Partial<LogConfig> = { flush, segmentBytesMax: 2048, batchBytesMax: 2048, indexIntervalBytes: 100 }
        const log = await world.run(() => PartitionLog.open(world.newEnv(), LOG_DIR, config))
        await appendEach(world, log, idsFrom(0, 20), 80)
        await world.run(() => log.flush())
        const durable = 20
        await appendEach(world, log, idsFrom(20, 5), 80)
        const resolved = 25

        if (fault === 'write') world.disk.failWritesWith('EIO')
        else world.disk.failSyncsWith('EIO')
        const pending = idsFrom(25, 5).map((id) => settledOf(() => log.append(encodeBatch([id], [80]), 1)))
        const flushed = settledOf(() => log.flush())
        const outcomes = await world.run(() => Promise.all(pending))
        const flushOutcome = await world.run(() => flushed)
        // Under interval and never an append is done once written, so with only fsyncs failing the
        // appends themselves succeed; the flush cannot, and takes the log offline.
        const appendsMayResolve = fault === 'sync' && flush.mode !== 'always'
        outcomes.forEach((outcome, i) => {
          if (!appendsMayResolve) expectStorageError(outcome, `pending append ${i}`)
        })
        expectStorageError(flushOutcome, 'flush')
        expectStorageError(await world.run(() => settledOf(() => log.append(encodeBatch(['later'], [80]), 1))), 'a later append')
        expectStorageError(await world.run(() => settledOf(() => log.read(0, 1000))), 'a read')
        expect(world.lines.some((line) => line.level === 'error' && line.message === 'log taken offline by a disk error')).toBe(true)

        world.disk.failWritesWith(undefined)
        world.disk.failSyncsWith(undefined)
        const resolvedCount = resolved + (appendsMayResolve ? outcomes.filter((outcome) => outcome.ok).length : 0)
        const appended = idsFrom(0, 30)
        // A new process, no crash: everything resolved is there (and nothing out of order).
        const reopened = await world.run(() => PartitionLog.open(world.newEnv(), LOG_DIR, config))
        const afterRestart = await world.run(() => readAll(reopened, 4096))
        expect(afterRestart.ids).toEqual(appended.slice(0, afterRestart.ids.length))
        expect(afterRestart.ids.length).toBeGreaterThanOrEqual(resolvedCount)
        // And a crash keeps at least what was flushed (or fsynced under always).
        world.crash(DiskCrashMode.dropUnsynced)
        const recovered = await world.run(() => PartitionLog.open(world.newEnv(), LOG_DIR, config))
        const afterCrash = await world.run(() => readAll(recovered, 4096))
        expect(afterCrash.ids).toEqual(appended.slice(0, afterCrash.ids.length))
        expect(afterCrash.ids.length).toBeGreaterThanOrEqual(flush.mode === 'always' ? resolved : durable)
        const next = await world.run(() => recovered.append(encodeBatch(['next'], [10]), 1))
        expect(next.baseOffset).toBe(afterCrash.ids.length)
      })
    }
  }
})

// ---- index files that disagree with their segment ----

const indexDamages = ['delete', 'cutMidEntry', 'randomBytes'] as const
type IndexDamage = (typeof indexDamages)[number]

async function damageFile(world: World, path: string, damage: IndexDamage | { flipAt: number; xorMask: number }, random: Prng): Promise<void> {
  const disk = world.disk
  if (typeof damage === 'object') {
    disk.corruptByte(path, damage.flipAt, damage.xorMask)
    return
  }
  await world.run(async () => {
    if (damage === 'delete') {
      await disk.delete(path)
      await disk.syncDir(LOG_DIR)
      return
    }
    const file = await disk.open(path, { create: false })
    const size = file.size()
    expect(size, `${path} has entries to damage`).toBeGreaterThan(8)
    if (damage === 'cutMidEntry') {
      await file.truncate(size - 3)
    } else {
      await file.truncate(0)
      await file.append(Uint8Array.from({ length: size }, () => random.int(256)))
    }
    await file.sync()
    await file.close()
  })
}

/** Every offset read on its own returns the batch holding it, with the right records; then the whole log reads back. */
async function expectReadsCorrect(world: World, log: PartitionLog, ids: readonly string[]): Promise<void> {
  for (let offset = 0; offset < ids.length; offset++) {
    const outcome = await readOne(world, log, offset)
    if (outcome.ok !== true) throw new Error(`read(${offset}) failed: ${String(outcome.error)}`)
    expect(outcome.baseOffset, `read(${offset})`).toBeLessThanOrEqual(offset)
    expect(outcome.baseOffset + outcome.ids.length, `read(${offset}) returned the batch holding it`).toBeGreaterThan(offset)
    expect(outcome.ids).toEqual(ids.slice(outcome.baseOffset, outcome.baseOffset + outcome.ids.length))
  }
  expect((await world.run(() => readAll(log, 700))).ids).toEqual(ids)
}

const INDEX_TEST_CONFIG: Partial<LogConfig> = { indexIntervalBytes: 150, segmentBytesMax: 3000, batchBytesMax: 3000, flush: { mode: 'never' } }

describe('PartitionLog index recovery (simulated disk)', () => {
  for (const target of ['closed', 'active'] as const) {
    for (const suffix of ['.index', '.timeindex'] as const) {
      for (const damage of indexDamages) {
        it(`${damage}_${suffix.slice(1)}_ofThe${target === 'closed' ? 'Closed' : 'Active'}Segment_isRebuilt_andReadsStayCorrect`, async () => {
          const world = new World(31)
          const ids = await writeClosedLog(world, INDEX_TEST_CONFIG, 50, (i) => 30 + ((i * 37) % 90))
          const segments = world.segmentPaths()
          expect(segments.length).toBeGreaterThanOrEqual(2)
          const segmentPath = (target === 'closed' ? segments[0] : segments.at(-1)) as string
          await damageFile(world, segmentPath.replace(/\.log$/, suffix), damage, Prng.fromSeed(5))
          const log = await world.run(() => PartitionLog.open(world.newEnv(), LOG_DIR, INDEX_TEST_CONFIG))
          expect(log.logEndOffset).toBe(ids.length)
          await expectReadsCorrect(world, log, ids)
          const warning =
            target === 'closed' ? 'index of a closed segment disagreed with it; rebuilt it' : 'index disagreed with its segment; rebuilt it from the segment'
          expect(world.warnings(warning).map((line) => line.fields['segment'])).toEqual([segmentPath])
          // The rebuilt index serves a second life too.
          await world.run(() => log.close())
          const reopened = await world.run(() => PartitionLog.open(world.newEnv(), LOG_DIR, INDEX_TEST_CONFIG))
          await expectReadsCorrect(world, reopened, ids)
        })
      }
    }
  }

  it('flippedByteInAnOffsetIndexEntry_isDetected_andReadsStayCorrect', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({ closed: fc.boolean(), entryPick: fc.nat(), bytePick: fc.integer({ min: 0, max: 7 }), xorMask: fc.integer({ min: 1, max: 255 }) }),
        async (c) => {
          const world = new World(32)
          const ids = await writeClosedLog(world, INDEX_TEST_CONFIG, 50, (i) => 30 + ((i * 37) % 90))
          const segments = world.segmentPaths()
          const indexPath = (c.closed ? segments[0] : segments.at(-1))!.replace(/\.log$/, '.index')
          const entries = (world.disk.fileInfo(indexPath)?.sizeBytes ?? 0) / 8
          expect(entries).toBeGreaterThan(1)
          await damageFile(world, indexPath, { flipAt: (c.entryPick % entries) * 8 + c.bytePick, xorMask: c.xorMask }, Prng.fromSeed(6))
          const log = await world.run(() => PartitionLog.open(world.newEnv(), LOG_DIR, INDEX_TEST_CONFIG))
          expect(log.logEndOffset).toBe(ids.length)
          await expectReadsCorrect(world, log, ids)
        },
      ),
      { seed: 7_003, numRuns: 60 },
    )
  })
})

/** A batch of `ids` (filler on the last record) of exactly `sizeBytes`. */
function batchOfExactly(ids: readonly string[], sizeBytes: number): Uint8Array {
  const fillers = ids.map(() => 0)
  for (let filler = Math.max(0, sizeBytes - encodeBatch(ids, fillers).length); filler >= 0; filler--) {
    fillers[fillers.length - 1] = filler
    const batch = encodeBatch(ids, fillers)
    if (batch.length === sizeBytes) return batch
  }
  throw new Error(`no batch of ${ids.length} records is exactly ${sizeBytes} bytes`)
}

describe('PartitionLog index entries pointing at the wrong batch (simulated disk)', () => {
  for (const target of ['closed', 'active'] as const) {
    it(`indexEntryFlippedToALaterBatch_ofThe${target === 'closed' ? 'Closed' : 'Active'}Segment_isDetected_andReadsStayCorrect`, async () => {
      const world = new World(42)
      // 128-byte batches; an entry every 256 bytes: (2, 256), (4, 512), ... in each segment.
      const config: Partial<LogConfig> = { indexIntervalBytes: 256, segmentBytesMax: 2048, batchBytesMax: 2048, flush: { mode: 'never' } }
      const log = await world.run(() => PartitionLog.open(world.newEnv(), LOG_DIR, config))
      const ids = idsFrom(0, 24)
      await world.run(() => Promise.all(ids.map((id) => log.append(batchOfExactly([id], 128), 1))))
      await world.run(() => log.close())
      const segments = world.segmentPaths()
      expect(segments.length).toBeGreaterThanOrEqual(2)
      const indexPath = (target === 'closed' ? segments[0] : segments.at(-1))!.replace(/\.log$/, '.index')
      const firstEntry = (world.disk.peekBytes(indexPath) as Uint8Array).subarray(0, 8)
      expect([readInt32(firstEntry, 0), readInt32(firstEntry, 4)], 'the first entry is (2, 256)').toEqual([2, 256])
      // One flipped bit in the position's low byte: 256 becomes 384, where the batch of the
      // next offset starts. The entries still grow, and the last one is untouched.
      world.disk.corruptByte(indexPath, 7, 0x80)
      const reopened = await world.run(() => PartitionLog.open(world.newEnv(), LOG_DIR, config))
      await expectReadsCorrect(world, reopened, ids)
    })
  }
})

describe('PartitionLog stale index after truncation (simulated disk)', () => {
  it('truncateThenCrash_leavesNoStaleIndexEntry_thatMakesAReadSkipRecords', async () => {
    const world = new World(41)
    const config: Partial<LogConfig> = { indexIntervalBytes: 1, flush: { mode: 'never' } }
    // Ten one-record batches of 100 bytes: index entries (offset k at byte 100k) for k = 1..9,
    // synced by close.
    const log = await world.run(() => PartitionLog.open(world.newEnv(), LOG_DIR, config))
    await world.run(() => Promise.all(idsFrom(0, 10).map((id) => log.append(batchOfExactly([`old-${id}`], 100), 1))))
    await world.run(() => log.close())
    // A new process truncates (a follower following a new leader) and appends different
    // batches at the same offsets, then flushes. The index files' truncation is never synced.
    const follower = await world.run(() => PartitionLog.open(world.newEnv(), LOG_DIR, config))
    expect(await world.run(() => follower.truncateTo(1))).toBe(1)
    const newBatches = [
      batchOfExactly(['n1', 'n2'], 100), // offsets 1-2 at byte 100
      batchOfExactly(['n3'], 100), // offset 3 at byte 200
      batchOfExactly(['n4', 'n5', 'n6', 'n7', 'n8'], 600), // offsets 4-8 at byte 300
      batchOfExactly(['n9'], 100), // offset 9 at byte 900: the stale last entry still matches
    ]
    for (const batch of newBatches) await world.run(() => follower.append(batch, 2))
    await world.run(() => follower.flush())
    world.crash(DiskCrashMode.dropUnsynced)
    const recovered = await world.run(() => PartitionLog.open(world.newEnv(), LOG_DIR, config))
    const ids = ['old-r0', 'n1', 'n2', 'n3', 'n4', 'n5', 'n6', 'n7', 'n8', 'n9']
    expect(recovered.logEndOffset).toBe(10)
    expect((await world.run(() => readAll(recovered, 100_000))).ids).toEqual(ids)
    // A consumer seeking to offset 2 must get the batch holding offset 2, not the one after it.
    await expectReadsCorrect(world, recovered, ids)
  })
})

describe('SimDisk, as these tests rely on it', () => {
  it('simDisk_syncAfterTruncate_keepsTheCut_acrossACrash', async () => {
    const world = new World(51)
    const disk = world.disk
    await world.run(async () => {
      await disk.mkdirs('d')
      const file = await disk.open('d/f', { create: true })
      await disk.syncDir('d')
      await file.append(new Uint8Array(10).fill(1))
      await file.sync()
      await file.truncate(4)
      await file.sync()
    })
    expect(disk.fileInfo('d/f')).toEqual({ sizeBytes: 4, durableSizeBytes: 4 })
    disk.crash({ mode: DiskCrashMode.dropUnsynced })
    // A synced truncation is durable: the six bytes cut off must not come back.
    expect(disk.fileInfo('d/f')?.sizeBytes).toBe(4)
  })
})
