/**
 * Log storage benchmark: `npm run bench:log` (options: `-- --gib 1`).
 *
 * All on the real disk, in one run, so the ratios compare like with like. This machine's disk
 * is shared and noisy (raw bandwidth swings 2x between runs), so the three write phases run
 * interleaved for several rounds (`--rounds 3`) and the medians are compared.
 *   raw write        a plain fs loop of 1 MiB writes, one fsync at the end         (the ceiling)
 *   flush=interval   16 KiB batches, 256 appends in flight, 1 s / 128 MiB fsyncs,
 *                    final flush() included                                          target >= 70% of raw
 *   flush=always     16 KiB batches, 64 appenders each awaiting its fsync'd append   target >= 35% of raw
 *   read-back        the interval log read back in 1 MiB fetches (page cache)         target >= 1 GB/s
 *   reopen           closing and reopening that log                                   target < 1 s
 */
import { open, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { RealClock } from '../src/env/real/clock.js'
import { RealDisk } from '../src/env/real/disk.js'
import { silentLogger } from '../src/env/logger.js'
import { crc32cImplementation } from '../src/log/crc32c.js'
import { type LogConfig, PartitionLog } from '../src/log/index.js'
import { encodeRecordBatch } from '../src/log/record-batch.js'
import { argNumber, type BenchRow, report } from './harness.js'

const MIB = 1024 * 1024
const GIB = 1024 * MIB
const batchTargetBytes = 16 * 1024
const rawWriteBytes = 1 * MIB
const intervalInFlightAppends = 256
const alwaysAppenders = 64
const readMaxBytes = 1 * MIB
const targets = { intervalRatio: 0.7, alwaysRatio: 0.35, readGBps: 1, reopenMs: 1000 }

const totalBytes = Math.round(argNumber('gib', 1) * GIB)
const rounds = Math.round(argNumber('rounds', 3))
const alwaysBytes = Math.round(totalBytes / 2)

/** A ~16 KiB batch of 16 records of ~1 KiB random-ish values (incompressible is irrelevant: no compression). */
function makeBatch(seed: number): Uint8Array {
  const records = Array.from({ length: 16 }, (_, i) => {
    const value = new Uint8Array(1000)
    for (let j = 0; j < value.length; j++) value[j] = (seed * 31 + i * 7 + j) & 0xff
    return { key: new TextEncoder().encode(`key-${seed}-${i}`), value, timestamp: 1_700_000_000_000 + seed }
  })
  const batch = encodeRecordBatch({ records })
  if (batch.length > batchTargetBytes + 1024 || batch.length < batchTargetBytes - 1024) throw new Error(`batch is ${batch.length} bytes`)
  return batch
}

const batchPool = Array.from({ length: 32 }, (_, i) => makeBatch(i))
const batchBytes = (batchPool[0] as Uint8Array).length

/**
 * Each lane (an in-flight append slot) owns one buffer and reuses it once its append resolved:
 * append stamps offsets into the buffer and holds it until written, as a broker holds a
 * request's bytes, so two in-flight appends must not share one. No per-append copy is timed.
 */
function laneBuffer(lane: number): Uint8Array {
  return (batchPool[lane % batchPool.length] as Uint8Array).slice()
}

async function rawWrite(dir: string): Promise<number> {
  const chunk = new Uint8Array(rawWriteBytes).map((_, i) => i & 0xff)
  const file = await open(join(dir, 'raw.bin'), 'w')
  const startedAt = performance.now()
  for (let written = 0; written < totalBytes; written += chunk.length) await file.write(chunk, 0, chunk.length, written)
  await file.datasync()
  const seconds = (performance.now() - startedAt) / 1000
  await file.close()
  return totalBytes / seconds
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] as number
}

function logEnv(root: string) {
  return { disk: new RealDisk(root), clock: new RealClock(), log: silentLogger }
}

async function appendInterval(root: string, dir: string, config: Partial<LogConfig>): Promise<number> {
  const log = await PartitionLog.open(logEnv(root), dir, config)
  const appends = Math.ceil(totalBytes / batchBytes)
  const startedAt = performance.now()
  let issued = 0
  // Keep a fixed number of appends in flight, as a busy producer connection would.
  async function lane(buffer: Uint8Array): Promise<void> {
    while (issued < appends) {
      issued++
      await log.append(buffer, 1)
    }
  }
  await Promise.all(Array.from({ length: intervalInFlightAppends }, (_, i) => lane(laneBuffer(i))))
  await log.flush()
  const seconds = (performance.now() - startedAt) / 1000
  const stats = log.stats()
  await log.close()
  console.log(`  interval: ${appends} appends, ${stats.writes} writes, ${stats.syncs} fsyncs`)
  return (appends * batchBytes) / seconds
}

async function appendAlways(root: string, dir: string, config: Partial<LogConfig>): Promise<number> {
  const log = await PartitionLog.open(logEnv(root), dir, config)
  const appends = Math.ceil(alwaysBytes / batchBytes)
  let issued = 0
  const startedAt = performance.now()
  async function appender(buffer: Uint8Array): Promise<void> {
    while (issued < appends) {
      issued++
      await log.append(buffer, 1)
    }
  }
  await Promise.all(Array.from({ length: alwaysAppenders }, (_, i) => appender(laneBuffer(i))))
  const seconds = (performance.now() - startedAt) / 1000
  const stats = log.stats()
  await log.close()
  console.log(`  always: ${appends} appends, ${stats.writes} writes, ${stats.syncs} fsyncs (${(appends / stats.syncs).toFixed(1)} appends per fsync)`)
  return (appends * batchBytes) / seconds
}

async function readBack(root: string, dir: string, config: Partial<LogConfig>): Promise<{ bytesPerSecond: number; reopenMs: number }> {
  const reopenStartedAt = performance.now()
  const log = await PartitionLog.open(logEnv(root), dir, config)
  const reopenMs = performance.now() - reopenStartedAt
  let offset = log.logStartOffset
  let bytesRead = 0
  const startedAt = performance.now()
  while (offset < log.logEndOffset) {
    const result = await log.read(offset, readMaxBytes)
    bytesRead += result.bytes.length
    offset = result.nextOffset
  }
  const seconds = (performance.now() - startedAt) / 1000
  await log.close()
  return { bytesPerSecond: bytesRead / seconds, reopenMs }
}

async function main(): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'skein-bench-log-'))
  try {
    console.log(`bench:log in ${root}: ${(totalBytes / GIB).toFixed(2)} GiB, ${batchBytes}-byte batches, crc32c: ${crc32cImplementation}`)
    const writeBytesMax = Math.round(argNumber('write-mib', 1) * MIB)
    const intervalConfig: Partial<LogConfig> = { writeBytesMax, flush: { mode: 'interval', intervalMs: 1000, intervalBytes: 128 * MIB } }
    const alwaysConfig: Partial<LogConfig> = { writeBytesMax, flush: { mode: 'always' } }
    const rawRuns: number[] = []
    const intervalRuns: number[] = []
    const alwaysRuns: number[] = []
    for (let round = 0; round < rounds; round++) {
      const last = round === rounds - 1
      rawRuns.push(await rawWrite(root))
      await rm(join(root, 'raw.bin'))
      intervalRuns.push(await appendInterval(root, `interval-${round}`, intervalConfig))
      // The last round's log stays for the read-back and reopen phases.
      if (!last) await rm(join(root, `interval-${round}`), { recursive: true })
      alwaysRuns.push(await appendAlways(root, `always-${round}`, alwaysConfig))
      await rm(join(root, `always-${round}`), { recursive: true })
      const mib = (bytesPerSecond: number) => (bytesPerSecond / MIB).toFixed(0)
      console.log(
        `round ${round + 1}: raw ${mib(rawRuns[round] as number)} MiB/s, interval ${mib(intervalRuns[round] as number)} MiB/s, always ${mib(alwaysRuns[round] as number)} MiB/s`,
      )
    }
    const raw = median(rawRuns)
    const interval = median(intervalRuns)
    const always = median(alwaysRuns)
    const { bytesPerSecond: read, reopenMs } = await readBack(root, `interval-${rounds - 1}`, intervalConfig)
    const rows: BenchRow[] = [
      { name: `raw sequential write (1 MiB writes, fsync at end), median of ${rounds}`, value: raw / MIB, unit: 'MiB/s', target: 'ceiling', met: true },
      { name: 'log append, flush=interval (16 KiB batches)', value: interval / MIB, unit: 'MiB/s', target: `>= ${targets.intervalRatio * 100}% of raw`, met: interval / raw >= targets.intervalRatio },
      { name: '  ratio interval / raw', value: (interval / raw) * 100, unit: '%', target: `>= ${targets.intervalRatio * 100}%`, met: interval / raw >= targets.intervalRatio },
      { name: `log append, flush=always (${alwaysAppenders} appenders)`, value: always / MIB, unit: 'MiB/s', target: `>= ${targets.alwaysRatio * 100}% of raw`, met: always / raw >= targets.alwaysRatio },
      { name: '  ratio always / raw', value: (always / raw) * 100, unit: '%', target: `>= ${targets.alwaysRatio * 100}%`, met: always / raw >= targets.alwaysRatio },
      { name: 'read-back (1 MiB reads, page cache)', value: read / 1e9, unit: 'GB/s', target: `>= ${targets.readGBps} GB/s`, met: read / 1e9 >= targets.readGBps },
      { name: `reopen a ${(totalBytes / GIB).toFixed(2)} GiB log`, value: reopenMs, unit: 'ms', target: `< ${targets.reopenMs} ms`, met: reopenMs < targets.reopenMs },
    ]
    report('log', rows, { totalBytes, batchBytes, crc32c: crc32cImplementation, rawRuns, intervalRuns, alwaysRuns })
  } finally {
    await rm(root, { recursive: true, force: true })
  }
}

await main()
