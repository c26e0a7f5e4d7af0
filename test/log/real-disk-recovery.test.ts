/**
 * Recovery of the partition log on the real disk: bytes that are not whole, valid batches at
 * the end of the last segment (garbage, a torn batch) are cut off on open, and the log goes on
 * from the last good batch. Files are edited behind the log's back with node:fs.
 */
import { appendFile, mkdtemp, rm, stat, truncate } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import fc from 'fast-check'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { Logger } from '../../src/env/logger.js'
import { RealClock } from '../../src/env/real/clock.js'
import { RealDisk } from '../../src/env/real/disk.js'
import { BatchField } from '../../src/log/batch-header.js'
import type { LogConfig } from '../../src/log/config.js'
import { type LogEnv, PartitionLog } from '../../src/log/log.js'
import { decodeRecordBatches, encodeRecordBatch } from '../../src/log/record-batch.js'

const LOG_DIR = 'topic-0'
const utf8 = new TextEncoder()
const utf8Decoder = new TextDecoder()
const TAIL_TRUNCATED = 'truncating a torn or corrupt tail found on open'

interface LogLine {
  readonly level: string
  readonly message: string
  readonly fields: Readonly<Record<string, unknown>>
}

function recordingLogger(lines: LogLine[], bindings: Record<string, unknown> = {}): Logger {
  const write = (level: string) => (fields: object, message: string) => {
    lines.push({ level, message, fields: { ...bindings, ...fields } })
  }
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error'), child: (more) => recordingLogger(lines, { ...bindings, ...more }) }
}

let rootDir = ''
let lines: LogLine[] = []

beforeEach(async () => {
  rootDir = await mkdtemp(path.join(tmpdir(), 'skein-log-recovery-'))
  lines = []
})

afterEach(async () => {
  await rm(rootDir, { recursive: true, force: true })
})

/** A fresh process's Env on the same directory (a new RealDisk: nothing cached survives). */
function newEnv(): LogEnv {
  return { disk: new RealDisk(rootDir), clock: new RealClock(), log: recordingLogger(lines) }
}

function encodeBatch(ids: readonly string[], fillerBytes = 30): Uint8Array {
  return encodeRecordBatch({
    producerId: 3,
    records: ids.map((id, i) => ({ key: null, value: utf8.encode(`${id}|${'x'.repeat(fillerBytes)}`), timestamp: 1_700_000_000_000 + i })),
  })
}

function idsFrom(prefix: string, first: number, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}${first + i}`)
}

/** Every record id in the log, read in steps of `maxBytes`, with contiguity checked. */
async function readAllIds(log: PartitionLog, maxBytes = 4096): Promise<string[]> {
  const ids: string[] = []
  let offset = log.logStartOffset
  while (offset < log.logEndOffset) {
    const result = await log.read(offset, maxBytes)
    expect(result.batchCount).toBeGreaterThan(0)
    for (const batch of decodeRecordBatches(result.bytes)) {
      expect(batch.baseOffset).toBe(offset)
      for (const record of batch.records) {
        const text = utf8Decoder.decode(record.value ?? new Uint8Array(0))
        ids.push(text.slice(0, text.indexOf('|')))
        offset++
      }
    }
    expect(result.nextOffset).toBe(offset)
  }
  return ids
}

/** Writes `ids` in batches of up to `perBatch` records and closes the log; returns the last segment's absolute path. */
async function writeAndClose(config: Partial<LogConfig>, ids: readonly string[], perBatch: number): Promise<string> {
  const log = await PartitionLog.open(newEnv(), LOG_DIR, config)
  const appends: Promise<unknown>[] = []
  for (let i = 0; i < ids.length; i += perBatch) appends.push(log.append(encodeBatch(ids.slice(i, i + perBatch)), 1))
  await Promise.all(appends)
  await log.close()
  return lastSegmentPath()
}

async function lastSegmentPath(): Promise<string> {
  const names = (await new RealDisk(rootDir).list(LOG_DIR)).filter((name) => name.endsWith('.log'))
  return path.join(rootDir, LOG_DIR, names.at(-1) as string)
}

async function sizeOf(file: string): Promise<number> {
  return (await stat(file)).size
}

/** Reopens, checks that the tail was cut back to `goodBytes` and `ids` remain, then appends and reads on. */
async function expectRecoveredAndWritable(config: Partial<LogConfig>, segmentFile: string, goodBytes: number, ids: readonly string[]): Promise<void> {
  const log = await PartitionLog.open(newEnv(), LOG_DIR, config)
  expect(await sizeOf(segmentFile), 'the garbage is cut off').toBe(goodBytes)
  expect(log.logEndOffset).toBe(ids.length)
  expect(lines.filter((line) => line.level === 'warn' && line.message === TAIL_TRUNCATED)).toHaveLength(1)
  expect(await readAllIds(log)).toEqual(ids)
  const more = idsFrom('m', 0, 3)
  const appended = await log.append(encodeBatch(more), 1)
  expect(appended.baseOffset).toBe(ids.length)
  expect(appended.lastOffset).toBe(ids.length + 2)
  expect(await readAllIds(log, 100)).toEqual([...ids, ...more])
  await log.close()
  const reopened = await PartitionLog.open(newEnv(), LOG_DIR, config)
  expect(reopened.logEndOffset).toBe(ids.length + 3)
  expect(await readAllIds(reopened)).toEqual([...ids, ...more])
  await reopened.close()
}

const configArb: fc.Arbitrary<Partial<LogConfig>> = fc.record({
  segmentBytesMax: fc.constantFrom(1024, 4096, 1024 * 1024),
  indexIntervalBytes: fc.integer({ min: 1, max: 2048 }),
  flush: fc.constantFrom({ mode: 'always' as const }, { mode: 'never' as const }),
}).map((config) => ({ ...config, batchBytesMax: Math.min(config.segmentBytesMax, 1024 * 1024) }))

describe('PartitionLog recovery on the real disk', () => {
  it('randomGarbageAtTheEndOfTheLastSegment_isCutOff_andAppendsContinueFromTheLastGoodBatch', async () => {
    await fc.assert(
      fc.asyncProperty(
        configArb,
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 5 }),
        fc.uint8Array({ minLength: 1, maxLength: 400 }),
        async (config, recordCount, perBatch, garbage) => {
          await rm(path.join(rootDir, LOG_DIR), { recursive: true, force: true })
          lines = []
          const ids = idsFrom('r', 0, recordCount)
          const segmentFile = await writeAndClose(config, ids, perBatch)
          const goodBytes = await sizeOf(segmentFile)
          await appendFile(segmentFile, garbage)
          await expectRecoveredAndWritable(config, segmentFile, goodBytes, ids)
        },
      ),
      { seed: 4_242, numRuns: 25 },
    )
  })

  it('aTornBatchAtTheEnd_plausibleHeaderAndAll_isCutOff_andAppendsContinue', async () => {
    await fc.assert(
      fc.asyncProperty(
        configArb,
        fc.integer({ min: 1, max: 30 }),
        fc.integer({ min: 1, max: 4 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        async (config, recordCount, perBatch, keptFraction) => {
          await rm(path.join(rootDir, LOG_DIR), { recursive: true, force: true })
          lines = []
          const ids = idsFrom('r', 0, recordCount)
          const segmentFile = await writeAndClose(config, ids, perBatch)
          const goodBytes = await sizeOf(segmentFile)
          // The next batch as the log would have written it (offset stamped), torn anywhere:
          // inside the header, or with the whole header and part of the records.
          const next = encodeBatch(idsFrom('torn', 0, 3), 60)
          new DataView(next.buffer).setBigInt64(BatchField.baseOffset, BigInt(recordCount))
          const keptBytes = Math.min(next.length - 1, 1 + Math.floor(keptFraction * (next.length - 1)))
          await appendFile(segmentFile, next.subarray(0, keptBytes))
          await expectRecoveredAndWritable(config, segmentFile, goodBytes, ids)
        },
      ),
      { seed: 4_243, numRuns: 25 },
    )
  })

  it('aWholeBatchWithAFlippedByteAtTheEnd_isCutOff', async () => {
    const config: Partial<LogConfig> = { flush: { mode: 'never' }, indexIntervalBytes: 4096 }
    const ids = idsFrom('r', 0, 12)
    const segmentFile = await writeAndClose(config, ids, 3)
    const goodBytes = await sizeOf(segmentFile)
    const next = encodeBatch(idsFrom('bad', 0, 2))
    new DataView(next.buffer).setBigInt64(BatchField.baseOffset, BigInt(ids.length))
    next[next.length - 1] = (next[next.length - 1] as number) ^ 0x10
    await appendFile(segmentFile, next)
    await expectRecoveredAndWritable(config, segmentFile, goodBytes, ids)
    expect(lines.find((line) => line.message === TAIL_TRUNCATED)?.fields['reason']).toMatch(/CRC/)
  })

  it('appendsWithoutClose_underFlushNever_areAllThereOnReopen_andAppendsContinue', async () => {
    const config: Partial<LogConfig> = { flush: { mode: 'never' }, segmentBytesMax: 2048, batchBytesMax: 2048, indexIntervalBytes: 64 }
    const ids = idsFrom('r', 0, 60)
    const log = await PartitionLog.open(newEnv(), LOG_DIR, config)
    await Promise.all(ids.map((id) => log.append(encodeBatch([id]), 1)))
    // The process "dies" here: no close, no flush. The OS has every byte written.
    const reopened = await PartitionLog.open(newEnv(), LOG_DIR, config)
    expect(reopened.segmentCount).toBeGreaterThan(1)
    expect(reopened.logEndOffset).toBe(ids.length)
    expect(await readAllIds(reopened)).toEqual(ids)
    for (let offset = 0; offset < ids.length; offset += 7) {
      const [first] = decodeRecordBatches((await reopened.read(offset, 1)).bytes)
      expect(first?.baseOffset, `read(${offset})`).toBe(offset)
    }
    const appended = await reopened.append(encodeBatch(['after']), 1)
    expect(appended.baseOffset).toBe(ids.length)
    expect(await readAllIds(reopened, 300)).toEqual([...ids, 'after'])
    await reopened.close()
  })

  it('appendsWithoutClose_thenATornTail_isCutToTheLastWholeBatch', async () => {
    const config: Partial<LogConfig> = { flush: { mode: 'never' }, indexIntervalBytes: 100 }
    const ids = idsFrom('r', 0, 20)
    const log = await PartitionLog.open(newEnv(), LOG_DIR, config)
    for (const id of ids) await log.append(encodeBatch([id]), 1)
    const segmentFile = await lastSegmentPath()
    const lastBatchBytes = encodeBatch(['r19']).length
    const fullBytes = await sizeOf(segmentFile)
    // The power went out mid-write of the last batch: part of it reached the disk.
    await truncate(segmentFile, fullBytes - 5)
    const reopened = await PartitionLog.open(newEnv(), LOG_DIR, config)
    expect(await sizeOf(segmentFile)).toBe(fullBytes - lastBatchBytes)
    expect(reopened.logEndOffset).toBe(19)
    expect(await readAllIds(reopened)).toEqual(ids.slice(0, 19))
    const appended = await reopened.append(encodeBatch(['again']), 1)
    expect(appended.baseOffset).toBe(19)
    expect(await readAllIds(reopened)).toEqual([...ids.slice(0, 19), 'again'])
    await reopened.close()
  })
})
