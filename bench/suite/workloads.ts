/**
 * The suite's workloads, modelled on the classic Kafka benchmark ("Benchmarking Apache Kafka:
 * 2 million writes per second", 2014), written only against `BenchSystem`/`Deployment`
 * (system.ts) so every system runs the very same code. Records are keyless with 100-byte
 * values unless stated; every workload gets a stream of 6 partitions of its own, a warm-up, and
 * a fixed window or count; in full runs a fresh deployment too (so no workload inherits
 * another's data or memory).
 *
 *   a     1 producer, 1 node, replication 1, acks leader
 *   b     1 producer, 3 nodes, replication 3, acks all
 *   c     3 producers (own connections), as b
 *   d     1 consumer reading a preloaded stream (1 node, replication 1) from start to end
 *   e     1 producer (as b but acks leader, Kafka's async-replication case) and 1 consumer at once
 *   f10k  end-to-end latency at an offered 10,000 records/s, 3 nodes, replication 3, acks all
 *   f50k  the same at 50,000 records/s
 *   g-a   a with 1 KB values
 *   g-b   b with 1 KB values
 *
 * Producers keep `sendsInFlight` send() calls of `recordsPerSend` records outstanding each and
 * send again as each is acknowledged (closed loop: throughput). The latency workloads are open
 * loop: records are due at fixed times (rate), sent in 1 ms ticks without waiting for acks, and
 * each value carries its due time (process.hrtime, ns), so a stalled system or client is charged
 * for the whole delay (no coordinated omission); the consumer records now − due time in an HDR
 * histogram (µs).
 */
import { build as buildHistogram, type Histogram } from 'hdr-histogram-js'
import { type ResourceFigures, ResourceSampler } from './sampling.js'
import type { BenchConsumer, BenchProducer, BenchSystem, Deployment, SystemName } from './system.js'

export type WorkloadId = 'a' | 'b' | 'c' | 'd' | 'e' | 'f10k' | 'f50k' | 'g-a' | 'g-b'
export type WorkloadKind = 'produce' | 'consume' | 'produce-consume' | 'latency'

export interface WorkloadSpec {
  readonly id: WorkloadId
  /** Short, for table headers and the chart. */
  readonly title: string
  readonly kind: WorkloadKind
  readonly nodes: number
  readonly replication: number
  readonly partitions: number
  readonly acks: 'leader' | 'all'
  readonly producers: number
  readonly valueBytes: number
  /** Offered records/s (latency workloads only). */
  readonly ratePerSec?: number
}

const PARTITIONS = 6
const SMALL = 100
const KB = 1024

export const WORKLOADS: readonly WorkloadSpec[] = [
  { id: 'a', title: 'a: produce, 1 node', kind: 'produce', nodes: 1, replication: 1, partitions: PARTITIONS, acks: 'leader', producers: 1, valueBytes: SMALL },
  { id: 'b', title: 'b: produce, 3 nodes RF3 acks=all', kind: 'produce', nodes: 3, replication: 3, partitions: PARTITIONS, acks: 'all', producers: 1, valueBytes: SMALL },
  { id: 'c', title: 'c: 3 producers, RF3 acks=all', kind: 'produce', nodes: 3, replication: 3, partitions: PARTITIONS, acks: 'all', producers: 3, valueBytes: SMALL },
  { id: 'd', title: 'd: consume, 1 node', kind: 'consume', nodes: 1, replication: 1, partitions: PARTITIONS, acks: 'leader', producers: 1, valueBytes: SMALL },
  { id: 'e', title: 'e: produce + consume, RF3', kind: 'produce-consume', nodes: 3, replication: 3, partitions: PARTITIONS, acks: 'leader', producers: 1, valueBytes: SMALL },
  { id: 'f10k', title: 'f: latency at 10k/s, RF3', kind: 'latency', nodes: 3, replication: 3, partitions: PARTITIONS, acks: 'all', producers: 1, valueBytes: SMALL, ratePerSec: 10_000 },
  { id: 'f50k', title: 'f: latency at 50k/s, RF3', kind: 'latency', nodes: 3, replication: 3, partitions: PARTITIONS, acks: 'all', producers: 1, valueBytes: SMALL, ratePerSec: 50_000 },
  { id: 'g-a', title: 'g: a with 1 KB records', kind: 'produce', nodes: 1, replication: 1, partitions: PARTITIONS, acks: 'leader', producers: 1, valueBytes: KB },
  { id: 'g-b', title: 'g: b with 1 KB records', kind: 'produce', nodes: 3, replication: 3, partitions: PARTITIONS, acks: 'all', producers: 1, valueBytes: KB },
]

export interface Profile {
  readonly name: 'full' | 'quick'
  /** Throughput workloads: warm-up before the window, then the window. */
  readonly warmupMs: number
  readonly measureMs: number
  /** send() calls each producer keeps outstanding, and records per call. */
  readonly sendsInFlight: number
  readonly recordsPerSend: number
  /** d: records preloaded then read; a first, untimed read of `consumeWarmupRecords` warms up. */
  readonly consumeRecords: number
  readonly consumeWarmupRecords: number
  /** d: a preload still short of `consumeRecords` after this long stops there (noted). */
  readonly preloadMsMax: number
  /** f: records due during the warm-up are sent and received but not recorded. */
  readonly latencyWarmupMs: number
  readonly latencyMeasureMs: number
  /** How long stragglers (unanswered sends, records not yet consumed) may take after a window. */
  readonly drainMsMax: number
  /**
   * true: every workload gets a new deployment (nothing carried over; full runs). false: one
   * deployment per system and node count serves its workloads in turn (saves the start-ups;
   * quick runs), with a new one after a workload fails.
   */
  readonly freshDeployments: boolean
}

export const PROFILES: Readonly<Record<Profile['name'], Profile>> = {
  full: {
    name: 'full',
    warmupMs: 3_000,
    measureMs: 10_000,
    sendsInFlight: 16,
    recordsPerSend: 1_000,
    consumeRecords: 5_000_000,
    consumeWarmupRecords: 500_000,
    preloadMsMax: 120_000,
    latencyWarmupMs: 2_000,
    latencyMeasureMs: 10_000,
    drainMsMax: 30_000,
    freshDeployments: true,
  },
  quick: {
    name: 'quick',
    warmupMs: 1_000,
    measureMs: 2_000,
    sendsInFlight: 16,
    recordsPerSend: 1_000,
    consumeRecords: 500_000,
    consumeWarmupRecords: 50_000,
    preloadMsMax: 20_000,
    latencyWarmupMs: 1_000,
    latencyMeasureMs: 2_000,
    drainMsMax: 10_000,
    freshDeployments: false,
  },
}

export interface LatencyFigures {
  /**
   * 'send': one send() call until acknowledged (closed loop); 'end-to-end': due time to consumed
   * (open loop); 'ack': due time of a send's first record to its acknowledgement (open loop).
   */
  readonly what: 'send' | 'end-to-end' | 'ack'
  readonly p50Ms: number
  readonly p99Ms: number
  readonly p999Ms: number
  readonly maxMs: number
  readonly count: number
}

export interface RateFigures {
  readonly records: number
  readonly recordsPerSec: number
  readonly mbPerSec: number
}

export interface WorkloadFigures {
  /** The workload's figure: produced (a, b, c, g), consumed (d), the lower of both (e), delivered (f). */
  readonly recordsPerSec: number
  readonly mbPerSec: number
  readonly records: number
  readonly seconds: number
  readonly produced?: RateFigures
  readonly consumed?: RateFigures
  readonly latency?: LatencyFigures
  /** Latency workloads: from when records were due to when their send() was acknowledged. */
  readonly ackLatency?: LatencyFigures
  readonly resources: ResourceFigures
  readonly sendErrors: number
  readonly notes: string[]
}

// ---------------------------------------------------------------------------------------------
// Pure helpers

/** An HDR histogram of microseconds, 1 µs to 10 minutes, 3 significant digits. */
export function newLatencyHistogram(): Histogram {
  return buildHistogram({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: 3 })
}

/** Percentiles (ms) of a histogram of microseconds; NaN when it is empty. */
export function latencyFigures(histogram: Histogram, what: LatencyFigures['what']): LatencyFigures {
  const count = histogram.totalCount
  const at = (p: number): number => (count === 0 ? Number.NaN : histogram.getValueAtPercentile(p) / 1000)
  return { what, p50Ms: at(50), p99Ms: at(99), p999Ms: at(99.9), maxMs: count === 0 ? Number.NaN : histogram.maxValue / 1000, count }
}

/** Records one latency, clamped into the histogram's range (≥ 1 µs). */
export function recordMicros(histogram: Histogram, micros: number): void {
  histogram.recordValue(Math.max(1, Math.min(600_000_000, Math.round(micros))))
}

export function rateOf(records: number, seconds: number, valueBytes: number): RateFigures {
  return { records, recordsPerSec: records / seconds, mbPerSec: (records * valueBytes) / seconds / 1e6 }
}

/**
 * `count` values of `valueBytes` bytes, views into one buffer, with `stamp(view, i)` writing
 * each one's first bytes; the rest is a pattern that differs per record (no compressible runs).
 */
export function makeValues(count: number, valueBytes: number, seed: number, stamp?: (view: Buffer, i: number) => void): Buffer[] {
  const block = Buffer.allocUnsafe(count * valueBytes)
  for (let b = 0; b < block.length; b++) block[b] = (seed * 131 + b * 7 + (b >>> 8)) & 0xff
  const values = new Array<Buffer>(count)
  for (let i = 0; i < count; i++) {
    const view = block.subarray(i * valueBytes, (i + 1) * valueBytes)
    stamp?.(view, i)
    values[i] = view
  }
  return values
}

/** Which record numbers arrived, to count the missing and the repeated. */
export class ArrivalSet {
  private readonly bits: Uint8Array
  distinct = 0
  repeated = 0
  outOfRange = 0

  constructor(readonly expected: number) {
    this.bits = new Uint8Array(Math.ceil(expected / 8))
  }

  add(index: number): void {
    if (!(index >= 0 && index < this.expected)) {
      this.outOfRange++
      return
    }
    const mask = 1 << (index & 7)
    const at = index >>> 3
    if (((this.bits[at] as number) & mask) !== 0) {
      this.repeated++
      return
    }
    this.bits[at] = (this.bits[at] as number) | mask
    this.distinct++
  }

  /** Undefined when every record arrived exactly once; otherwise what went wrong. */
  problem(): string | undefined {
    const missing = this.expected - this.distinct
    if (missing === 0 && this.repeated === 0 && this.outOfRange === 0) return undefined
    return `${missing} of ${this.expected} records missing, ${this.repeated} repeated, ${this.outOfRange} unknown`
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Rejects after `ms` with `what` (a function: told as things stand then) unless `promise` settles first. */
async function within<T>(promise: Promise<T>, ms: number, what: string | (() => string)): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${typeof what === 'function' ? what() : what}: not done within ${Math.round(ms / 1000)} s`)), ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

// ---------------------------------------------------------------------------------------------
// Running one workload on one system

export interface WorkloadContext {
  readonly system: BenchSystem
  readonly spec: WorkloadSpec
  readonly profile: Profile
  /** Progress lines (indented under the workload's row). */
  readonly log: (line: string) => void
}

/** Runs the workload on `deployment` (which has `spec.nodes` nodes; the caller starts and stops it). */
export async function runWorkload(context: WorkloadContext, deployment: Deployment): Promise<WorkloadFigures> {
  const { spec } = context
  const stream = `bench-${spec.id}`
  await deployment.createStream(stream, { partitions: spec.partitions, replication: spec.replication })
  switch (spec.kind) {
    case 'produce':
      return await measureProduce(context, deployment, stream)
    case 'consume':
      return await measureConsume(context, deployment, stream)
    case 'produce-consume':
      return await measureProduceConsume(context, deployment, stream)
    case 'latency':
      return await measureLatency(context, deployment, stream)
  }
}

/** The system names a workload result belongs to (re-exported for the runner's records). */
export type { SystemName }

// ---------------------------------------------------------------------------------------------
// Closed-loop producers (a, b, c, e, g)

interface ProducerLoad {
  /** 'warmup': sends are not counted; 'measure': acknowledged records count; 'stop': no new sends. */
  phase: 'warmup' | 'measure' | 'stop'
  /** Acknowledged in the window. */
  records: number
  /** Acknowledged in every phase. */
  ackedAll: number
  errors: number
  firstError: string | undefined
  readonly sendLatency: Histogram
  readonly lanes: Promise<void>[]
  readonly producers: BenchProducer[]
}

/** Opens the spec's producers and starts `sendsInFlight` send loops on each. */
async function startProducers(context: WorkloadContext, deployment: Deployment, stream: string): Promise<ProducerLoad> {
  const { spec, profile } = context
  const producers: BenchProducer[] = []
  for (let i = 0; i < spec.producers; i++) producers.push(await deployment.producer(stream, { acks: spec.acks }))
  const load: ProducerLoad = { phase: 'warmup', records: 0, ackedAll: 0, errors: 0, firstError: undefined, sendLatency: newLatencyHistogram(), lanes: [], producers }
  for (const [p, producer] of producers.entries()) {
    for (let lane = 0; lane < profile.sendsInFlight; lane++) {
      const values = makeValues(profile.recordsPerSend, spec.valueBytes, p * 1000 + lane)
      load.lanes.push(sendLoop(load, producer, values))
    }
  }
  return load
}

async function sendLoop(load: ProducerLoad, producer: BenchProducer, values: readonly Buffer[]): Promise<void> {
  while (load.phase !== 'stop') {
    const startedAt = performance.now()
    try {
      await producer.send(values)
      load.ackedAll += values.length
      // Steady state: every send acknowledged inside the window counts, whenever it began.
      if (load.phase === 'measure') {
        load.records += values.length
        recordMicros(load.sendLatency, (performance.now() - startedAt) * 1000)
      }
    } catch (error) {
      load.errors++
      load.firstError ??= describe(error)
      await sleep(50)
    }
  }
}

/** Stops the send loops (waiting for the sends in flight) and closes the producers. */
async function stopProducers(load: ProducerLoad, drainMsMax: number): Promise<void> {
  load.phase = 'stop'
  await within(Promise.all(load.lanes), drainMsMax, 'sends in flight at the end of the window')
  await Promise.all(load.producers.map((producer) => producer.close()))
}

function errorNotes(load: ProducerLoad): string[] {
  return load.errors === 0 ? [] : [`${load.errors} send() calls failed, first: ${load.firstError}`]
}

async function measureProduce(context: WorkloadContext, deployment: Deployment, stream: string): Promise<WorkloadFigures> {
  const { spec, profile } = context
  const load = await startProducers(context, deployment, stream)
  await sleep(profile.warmupMs)
  const sampler = new ResourceSampler(deployment.pids())
  load.phase = 'measure'
  const startedAt = performance.now()
  await sleep(profile.measureMs)
  const records = load.records
  const seconds = (performance.now() - startedAt) / 1000
  const resources = sampler.stop()
  await stopProducers(load, profile.drainMsMax)
  if (records === 0) throw new Error(`no send() was acknowledged in the window${load.firstError === undefined ? '' : `; first error: ${load.firstError}`}`)
  const produced = rateOf(records, seconds, spec.valueBytes)
  return { ...produced, seconds, produced, latency: latencyFigures(load.sendLatency, 'send'), resources, sendErrors: load.errors, notes: errorNotes(load) }
}

// ---------------------------------------------------------------------------------------------
// d: one consumer reads a preloaded stream

/** Values whose first 4 bytes are their record number (from `first`), to check what arrives. */
function numberedValues(first: number, count: number, valueBytes: number): Buffer[] {
  return makeValues(count, valueBytes, first, (view, i) => view.writeUInt32BE(first + i, 0))
}

/**
 * Writes records numbered 0..count-1 with `sendsInFlight` sends outstanding; stops early (and
 * says how many) after `msMax`. Every send must be acknowledged: the reader checks them all.
 */
async function preload(context: WorkloadContext, deployment: Deployment, stream: string, count: number, msMax: number): Promise<number> {
  const { spec, profile } = context
  const producer = await deployment.producer(stream, { acks: 'leader' })
  const deadline = performance.now() + msMax
  let queued = 0
  let acked = 0
  const lane = async (): Promise<void> => {
    while (queued < count && performance.now() < deadline) {
      const n = Math.min(profile.recordsPerSend, count - queued)
      const first = queued
      queued += n
      await producer.send(numberedValues(first, n, spec.valueBytes))
      acked += n
    }
  }
  try {
    await Promise.all(Array.from({ length: profile.sendsInFlight }, lane))
  } finally {
    await producer.close()
  }
  if (acked !== queued) throw new Error(`preload: ${acked} of ${queued} records acknowledged`)
  return queued
}

/** Reads `expected` numbered records from the start; resolves with the seconds from run() to the last. */
async function readAll(consumer: BenchConsumer, expected: number, timeoutMs: number): Promise<{ seconds: number; arrivals: ArrivalSet; payloadBytes: number }> {
  const arrivals = new ArrivalSet(expected)
  let received = 0
  let payloadBytes = 0
  const startedAt = performance.now()
  let lastAt = Number.NaN
  const done = consumer.run((values) => {
    for (let i = 0; i < values.length; i++) {
      const value = values[i] as Uint8Array
      payloadBytes += value.length
      arrivals.add(value.length >= 4 ? ((value[0] as number) * 0x1000000 + ((value[1] as number) << 16) + ((value[2] as number) << 8) + (value[3] as number)) : -1)
    }
    received += values.length
    if (received < expected) return true
    lastAt = performance.now()
    return false
  })
  try {
    await within(done, timeoutMs, () => `reading ${expected} records (${received} arrived)`)
  } finally {
    await consumer.close()
  }
  // Until the last record arrived: closing the consumer is not part of reading.
  return { seconds: (lastAt - startedAt) / 1000, arrivals, payloadBytes }
}

async function measureConsume(context: WorkloadContext, deployment: Deployment, stream: string): Promise<WorkloadFigures> {
  const { spec, profile, log } = context
  const notes: string[] = []
  // Warm-up: a smaller stream written and read the same way, untimed.
  const warmupStream = `${stream}-warmup`
  await deployment.createStream(warmupStream, { partitions: spec.partitions, replication: spec.replication })
  const warmupRecords = await preload(context, deployment, warmupStream, profile.consumeWarmupRecords, profile.preloadMsMax)
  await readAll(await deployment.consumer(warmupStream, { batchRecordsMax: 10_000 }), warmupRecords, profile.preloadMsMax)
  const preloadStartedAt = performance.now()
  const loaded = await preload(context, deployment, stream, profile.consumeRecords, profile.preloadMsMax)
  const preloadSeconds = (performance.now() - preloadStartedAt) / 1000
  log(`preloaded ${loaded.toLocaleString('en-US')} records in ${preloadSeconds.toFixed(1)} s`)
  if (loaded < profile.consumeRecords) notes.push(`preload stopped after ${Math.round(preloadSeconds)} s at ${loaded} of ${profile.consumeRecords} records`)
  const consumer = await deployment.consumer(stream, { batchRecordsMax: 10_000 })
  const sampler = new ResourceSampler(deployment.pids())
  const read = await readAll(consumer, loaded, Math.max(profile.drainMsMax, profile.preloadMsMax))
  const resources = sampler.stop()
  const problem = read.arrivals.problem()
  if (problem !== undefined) throw new Error(`consumer: ${problem}`)
  const consumed = rateOf(loaded, read.seconds, spec.valueBytes)
  return { ...consumed, seconds: read.seconds, consumed, resources, sendErrors: 0, notes }
}

// ---------------------------------------------------------------------------------------------
// e: a producer at full speed and a consumer at once

/** Polls `done` every 10 ms until it holds or `ms` pass; resolves with whether it held. */
async function waitFor(done: () => boolean, ms: number): Promise<boolean> {
  const deadline = performance.now() + ms
  while (!done()) {
    if (performance.now() >= deadline) return false
    await sleep(10)
  }
  return true
}

async function measureProduceConsume(context: WorkloadContext, deployment: Deployment, stream: string): Promise<WorkloadFigures> {
  const { spec, profile } = context
  const consumer = await deployment.consumer(stream, { batchRecordsMax: 10_000 })
  let consumedTotal = 0
  let consumedInWindow = 0
  let measuring = false
  const reading = consumer.run((values) => {
    consumedTotal += values.length
    if (measuring) consumedInWindow += values.length
    return true
  })
  reading.catch(() => undefined) // its error, if any, is awaited below
  const load = await startProducers(context, deployment, stream)
  await sleep(profile.warmupMs)
  const sampler = new ResourceSampler(deployment.pids())
  load.phase = 'measure'
  measuring = true
  const startedAt = performance.now()
  await sleep(profile.measureMs)
  const [produced, consumed] = [load.records, consumedInWindow]
  measuring = false
  const seconds = (performance.now() - startedAt) / 1000
  const resources = sampler.stop()
  await stopProducers(load, profile.drainMsMax)
  const notes = errorNotes(load)
  // Every acknowledged record must reach the consumer (with failed sends, more may: written, unanswered).
  const caughtUp = await waitFor(() => consumedTotal >= load.ackedAll, profile.drainMsMax)
  if (!caughtUp) notes.push(`consumer had ${consumedTotal} of ${load.ackedAll} acknowledged records ${profile.drainMsMax / 1000} s after the producer stopped`)
  await consumer.close()
  await within(reading, profile.drainMsMax, 'consumer closing')
  if (produced === 0) throw new Error(`no send() was acknowledged in the window${load.firstError === undefined ? '' : `; first error: ${load.firstError}`}`)
  const producedRate = rateOf(produced, seconds, spec.valueBytes)
  const consumedRate = rateOf(consumed, seconds, spec.valueBytes)
  const lower = producedRate.recordsPerSec <= consumedRate.recordsPerSec ? producedRate : consumedRate
  return { ...lower, seconds, produced: producedRate, consumed: consumedRate, latency: latencyFigures(load.sendLatency, 'send'), resources, sendErrors: load.errors, notes }
}

// ---------------------------------------------------------------------------------------------
// f: end-to-end latency at a fixed offered rate (open loop)

/** Interval of the sending ticks: each sends every record due since the last. */
const LATENCY_TICK_MS = 1
/** Bytes at the start of a latency value: due time (u64 ns, process.hrtime) and record number (u32). */
const LATENCY_STAMP_BYTES = 12

/** Writes a latency value's stamp: when it was due (ns) and its number. */
export function stampLatencyValue(view: Buffer, dueNs: bigint, index: number): void {
  view.writeBigUInt64BE(dueNs, 0)
  view.writeUInt32BE(index, 8)
}

/** Reads a latency value's stamp; undefined when the value is too short to hold one. */
export function readLatencyStamp(value: Uint8Array): { dueNs: bigint; index: number } | undefined {
  if (value.length < LATENCY_STAMP_BYTES) return undefined
  const view = Buffer.from(value.buffer, value.byteOffset, value.byteLength)
  return { dueNs: view.readBigUInt64BE(0), index: view.readUInt32BE(8) }
}

interface OpenLoop {
  /** Due time of each send's first record to its acknowledgement, µs. */
  readonly ackLatency: Histogram
  /** Sends whose first record is at or past this number are recorded. */
  readonly recordFrom: number
  sent: number
  unanswered: number
  unansweredMax: number
  errors: number
  firstError: string | undefined
  failed: string | undefined
}

/**
 * Sends `total` records, record i due at startNs + i/rate, in ticks of LATENCY_TICK_MS without
 * waiting for acknowledgements; gives up (loop.failed) when more than `backlogMax` records are
 * unanswered (the system cannot take the rate). Resolves once every record is sent.
 */
async function sendOpenLoop(producer: BenchProducer, spec: WorkloadSpec, total: number, startNs: bigint, loop: OpenLoop, backlogMax: number): Promise<void> {
  const rate = spec.ratePerSec as number
  const intervalNs = 1e9 / rate
  while (loop.sent < total && loop.failed === undefined) {
    const elapsedNs = Number(process.hrtime.bigint() - startNs)
    const due = Math.min(total, Math.floor(elapsedNs / intervalNs) + 1)
    if (due > loop.sent) {
      const first = loop.sent
      const values = makeValues(due - first, spec.valueBytes, first, (view, i) => stampLatencyValue(view, startNs + BigInt(Math.round((first + i) * intervalNs)), first + i))
      loop.sent = due
      loop.unanswered += values.length
      loop.unansweredMax = Math.max(loop.unansweredMax, loop.unanswered)
      if (loop.unanswered > backlogMax) loop.failed = `more than ${backlogMax} records unanswered: the system does not keep up with ${rate} records/s`
      const firstDueNs = startNs + BigInt(Math.round(first * intervalNs))
      producer.send(values).then(
        () => {
          loop.unanswered -= values.length
          if (first >= loop.recordFrom) recordMicros(loop.ackLatency, Number(process.hrtime.bigint() - firstDueNs) / 1000)
        },
        (error: unknown) => {
          loop.unanswered -= values.length
          loop.errors++
          loop.firstError ??= describe(error)
        },
      )
    }
    await sleep(LATENCY_TICK_MS)
  }
}

async function measureLatency(context: WorkloadContext, deployment: Deployment, stream: string): Promise<WorkloadFigures> {
  const { spec, profile } = context
  const rate = spec.ratePerSec as number
  const warmupRecords = Math.round((rate * profile.latencyWarmupMs) / 1000)
  const total = warmupRecords + Math.round((rate * profile.latencyMeasureMs) / 1000)
  const histogram = newLatencyHistogram()
  const arrivals = new ArrivalSet(total)
  const consumer = await deployment.consumer(stream, { batchRecordsMax: 10_000 })
  const reading = consumer.run((values) => {
    const nowNs = process.hrtime.bigint()
    for (const value of values) {
      const stamp = readLatencyStamp(value)
      arrivals.add(stamp?.index ?? -1)
      if (stamp !== undefined && stamp.index >= warmupRecords) recordMicros(histogram, Number(nowNs - stamp.dueNs) / 1000)
    }
    return true
  })
  reading.catch(() => undefined) // awaited below
  const producer = await deployment.producer(stream, { acks: spec.acks })
  const loop: OpenLoop = { ackLatency: newLatencyHistogram(), recordFrom: warmupRecords, sent: 0, unanswered: 0, unansweredMax: 0, errors: 0, firstError: undefined, failed: undefined }
  const startNs = process.hrtime.bigint()
  let sampler: ResourceSampler | undefined
  const samplerTimer = setTimeout(() => {
    sampler = new ResourceSampler(deployment.pids())
  }, profile.latencyWarmupMs)
  await sendOpenLoop(producer, spec, total, startNs, loop, rate * 10)
  const seconds = Number(process.hrtime.bigint() - startNs) / 1e9 - profile.latencyWarmupMs / 1000
  clearTimeout(samplerTimer)
  const resources = (sampler ?? new ResourceSampler(deployment.pids())).stop()
  if (loop.failed !== undefined) throw new Error(loop.failed)
  await waitFor(() => loop.unanswered === 0 && arrivals.distinct >= total - loop.errors, profile.drainMsMax)
  await consumer.close()
  await within(reading, profile.drainMsMax, 'consumer closing')
  await producer.close()
  const notes = loop.errors === 0 ? [] : [`${loop.errors} send() calls failed, first: ${loop.firstError}`]
  const problem = arrivals.problem()
  if (problem !== undefined && loop.errors === 0) throw new Error(`consumer: ${problem}`)
  if (problem !== undefined) notes.push(`consumer: ${problem}`)
  const delivered = rateOf(total - warmupRecords, seconds, spec.valueBytes)
  const ack = latencyFigures(loop.ackLatency, 'ack')
  notes.push(`send() acknowledged p50 ${ack.p50Ms.toFixed(2)} ms, p99 ${ack.p99Ms.toFixed(2)} ms after due; at most ${loop.unansweredMax} records unanswered at once`)
  return { ...delivered, seconds, latency: latencyFigures(histogram, 'end-to-end'), ackLatency: latencyFigures(loop.ackLatency, 'ack'), resources, sendErrors: loop.errors, notes }
}
