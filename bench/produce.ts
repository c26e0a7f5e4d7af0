/**
 * Produce throughput benchmark: `npm run bench:produce`.
 *
 * Node processes (`skein start`) on loopback ephemeral ports; this process is the application,
 * writing through the SDK exactly as a user would: `new Client(...)`, `client.producer({...})`,
 * `await producer.send({ topic, messages })`. Each producer (one Client each) has several send
 * loops, each sending 1,000 keyless 100-byte records per call and sending again once they are
 * acknowledged; the producer batches them per partition (sticky partitioner, `batchBytes`,
 * `lingerMs`), with at most 5 requests in flight per partition. Each case warms up, then counts
 * the records acknowledged inside a fixed window.
 *
 *   RF3 acks=all idempotent      3 nodes, 6 partitions, replication factor 3   target >= 300,000 rec/s
 *   single node acks=1           1 node, 6 partitions, replication factor 1    target >= 1,000,000 rec/s
 *   (rows marked "comparison" use flush=never and have no target)
 *
 * Options: `-- --seconds 10 --warmup 2 --loops 24 --producers 2 --quick --only <label text>`
 * (loops: send loops per producer; quick: one batch size per case; only: cases whose label
 * contains the text). BENCH_CPU_PROF=<dir> runs the first node of each cluster with --cpu-prof,
 * its profile written to <dir> when it stops; profile the client with
 * `node --cpu-prof dist/bench/produce.js`.
 *
 * When a target is missed it prints where the time went: CPU of each node, of the client and of
 * everything else on the machine (/proc), iowait and disk traffic, CPU per record and the
 * throughput that CPU cost allows on this machine's CPUs, and the nodes' actor counters from
 * GET /status. Everything shares the machine's CPUs; a warning is printed when the machine is
 * already busy before the bench starts.
 */
import { readFileSync, rmSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Client, type Producer, type ProducerConfig } from '../src/index.js'
import { argNumber, type BenchRow, clientCpuSeconds, cpuSecondsOf, percentile, report, runBench, spawnNode, type SpawnedNode, waitForBalancedLeaders } from './harness.js'

const CLUSTER = { clusterId: 'bench-produce', clusterSecret: 'bench-produce-secret-0123456789' }
const recordValueBytes = 100
const partitions = 6

const measureMs = argNumber('seconds', 10) * 1000
const warmupMs = argNumber('warmup', 2) * 1000
const quick = process.argv.includes('--quick')
const loopsPerProducer = Math.round(argNumber('loops', 24))
const producers = Math.round(argNumber('producers', 2))
/** Records per send() call. */
const recordsPerSend = 1000
/** Runs only the cases whose label contains this text (diagnostics). */
const only = process.argv.includes('--only') ? (process.argv[process.argv.indexOf('--only') + 1] as string) : undefined
const cpuProfDir = process.env['BENCH_CPU_PROF']

// ---------------------------------------------------------------------------------------------
// Cluster

/** Data directories not yet removed; removed at exit too (Ctrl-C: the harness kills the nodes and exits). */
const liveDirs = new Set<string>()
process.once('exit', () => {
  for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true })
})

interface Cluster {
  readonly nodes: SpawnedNode[]
  readonly dirs: string[]
  readonly clients: Client[]
}

async function startCluster(ids: string[], producers: number): Promise<Cluster> {
  const cluster: Cluster = { nodes: [], dirs: [], clients: [] }
  try {
    let seed: string | undefined
    for (const [index, id] of ids.entries()) {
      const dir = await mkdtemp(join(tmpdir(), `skein-bench-produce-${id}-`))
      cluster.dirs.push(dir)
      liveDirs.add(dir)
      const args = ['--data', dir, '--cluster-id', CLUSTER.clusterId, '--controllers', ids.join(',')]
      if (seed !== undefined) args.push('--seeds', seed)
      const envVars: Record<string, string> = { SKEIN_CLUSTER_SECRET: CLUSTER.clusterSecret }
      const nodeFlags = cpuProfDir !== undefined && index === 0 ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`] : []
      const node = await spawnNode(id, args, envVars, nodeFlags)
      seed ??= node.address
      cluster.nodes.push(node)
    }
    for (let i = 0; i < producers; i++) cluster.clients.push(new Client({ seeds: [seed as string], ...CLUSTER, clientId: `bench${i}` }))
    return cluster
  } catch (error) {
    await stopCluster(cluster)
    throw error
  }
}

async function stopCluster(cluster: Cluster): Promise<void> {
  await Promise.all(cluster.clients.splice(0).map((client) => client.close().catch(() => undefined)))
  await Promise.all(cluster.nodes.splice(0).map((node) => node.stop()))
  await Promise.all(cluster.dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true }).then(() => liveDirs.delete(dir))))
}

// ---------------------------------------------------------------------------------------------
// Measurements

/** Machine-wide CPU time by state from /proc/stat's first line, in clock ticks. */
function machineCpu(): { busy: number; iowait: number; steal: number; total: number } {
  try {
    const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] as string).trim().split(/\s+/).slice(1).map(Number)
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = fields
    return { busy: user + nice + system + irq + softirq, iowait, steal, total: user + nice + system + idle + iowait + irq + softirq + steal }
  } catch {
    return { busy: Number.NaN, iowait: Number.NaN, steal: Number.NaN, total: Number.NaN }
  }
}

/** Sectors written and milliseconds spent doing I/O, summed over whole disks (/proc/diskstats). */
function diskStats(): { writtenBytes: number; ioMs: number; writes: number } {
  try {
    let writtenBytes = 0
    let ioMs = 0
    let writes = 0
    for (const line of readFileSync('/proc/diskstats', 'utf8').split('\n')) {
      const fields = line.trim().split(/\s+/)
      if (!/^(sd[a-z]+|vd[a-z]+|xvd[a-z]+|nvme\d+n\d+)$/.test(fields[2] ?? '')) continue
      writes += Number(fields[7])
      writtenBytes += Number(fields[9]) * 512
      ioMs += Number(fields[12])
    }
    return { writtenBytes, ioMs, writes }
  } catch {
    return { writtenBytes: Number.NaN, ioMs: Number.NaN, writes: Number.NaN }
  }
}

async function statusOf(node: SpawnedNode): Promise<unknown> {
  try {
    const response = await fetch(`http://${node.address}/status`, { signal: AbortSignal.timeout(2_000) })
    return await response.json()
  } catch (error) {
    return { error: String(error) }
  }
}

/** One send's messages: keyless records with 100-byte values, distinct per lane. */
function messagesOf(seed: number): { value: Buffer }[] {
  return Array.from({ length: recordsPerSend }, (_, i) => {
    const value = Buffer.allocUnsafe(recordValueBytes)
    for (let b = 0; b < value.length; b++) value[b] = (seed * 31 + i + b) & 0xff
    return { value }
  })
}

interface CaseSpec {
  readonly label: string
  readonly nodeIds: string[]
  readonly replicationFactor: number
  readonly producer: ProducerConfig
  readonly flush: 'always' | 'never'
  /** send() loops per producer. */
  readonly loopsPerProducer: number
  readonly producers: number
  readonly target: number | undefined
}

interface CaseResult {
  readonly spec: CaseSpec
  readonly recordsPerSec: number
  readonly mbPerSec: number
  readonly records: number
  readonly errors: number
  readonly p50: number
  readonly p99: number
  readonly seconds: number
  readonly nodeCpu: { id: string; cpuPercent: number }[]
  readonly clientCpuPercent: number
  /** Whole machine, in % of all CPUs: busy (user+system+irq), iowait, steal (other VMs). */
  readonly machine: { busyPercent: number; iowaitPercent: number; stealPercent: number }
  readonly disk: { writeMBps: number; writesPerSec: number; utilPercent: number }
  readonly status: unknown[]
}

/**
 * Runs send loops on every producer, each keeping one send() of 1,000 records outstanding;
 * counts the records acknowledged inside the measured window.
 */
async function runCase(cluster: Cluster, spec: CaseSpec, topic: string): Promise<CaseResult> {
  const producersOfCase: Producer[] = cluster.clients.slice(0, spec.producers).map((client) => client.producer(spec.producer))
  const lanes = spec.producers * spec.loopsPerProducer
  const messagesOfLane = Array.from({ length: lanes }, (_, lane) => messagesOf(lane))
  let phase: 'warmup' | 'measure' | 'stop' = 'warmup'
  let records = 0
  let errors = 0
  let firstError: unknown
  const latencies: number[] = []
  async function lane(index: number): Promise<void> {
    const producer = producersOfCase[index % producersOfCase.length] as Producer
    const messages = messagesOfLane[index] as { value: Buffer }[]
    while (phase !== 'stop') {
      const startedAt = performance.now()
      try {
        await producer.send({ topic, messages })
        // Steady state: every send acknowledged inside the window counts, whenever it began.
        if (phase === 'measure') {
          records += messages.length
          latencies.push(performance.now() - startedAt)
        }
      } catch (error) {
        errors++
        firstError ??= error
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    }
  }
  const running = Array.from({ length: lanes }, (_, i) => lane(i))
  await new Promise((resolve) => setTimeout(resolve, warmupMs))
  const pids = cluster.nodes.map((node) => node.process.pid)
  const nodeCpuBefore = pids.map(cpuSecondsOf)
  const clientCpuBefore = clientCpuSeconds()
  const machineBefore = machineCpu()
  const diskBefore = diskStats()
  phase = 'measure'
  const startedAt = performance.now()
  await new Promise((resolve) => setTimeout(resolve, measureMs))
  phase = 'stop'
  const seconds = (performance.now() - startedAt) / 1000
  const nodeCpuAfter = pids.map(cpuSecondsOf)
  const clientCpuAfter = clientCpuSeconds()
  const machineAfter = machineCpu()
  const diskAfter = diskStats()
  await Promise.all(running)
  await Promise.all(producersOfCase.map((producer) => producer.close()))
  const machineTicks = machineAfter.total - machineBefore.total
  const status = await Promise.all(cluster.nodes.map(statusOf))
  if (errors > 0) process.stdout.write(`  ${errors} send errors, first: ${String(firstError)}\n`)
  const sorted = Float64Array.from(latencies).sort()
  return {
    spec,
    recordsPerSec: records / seconds,
    // Record payload only (values), as the target is stated in 100-byte records.
    mbPerSec: (records * recordValueBytes) / seconds / 1e6,
    records,
    errors,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    seconds,
    nodeCpu: cluster.nodes.map((node, i) => ({ id: node.id, cpuPercent: (((nodeCpuAfter[i] as number) - (nodeCpuBefore[i] as number)) / seconds) * 100 })),
    clientCpuPercent: ((clientCpuAfter - clientCpuBefore) / seconds) * 100,
    machine: {
      busyPercent: ((machineAfter.busy - machineBefore.busy) / machineTicks) * 100,
      iowaitPercent: ((machineAfter.iowait - machineBefore.iowait) / machineTicks) * 100,
      stealPercent: ((machineAfter.steal - machineBefore.steal) / machineTicks) * 100,
    },
    disk: {
      writeMBps: (diskAfter.writtenBytes - diskBefore.writtenBytes) / seconds / 1e6,
      writesPerSec: (diskAfter.writes - diskBefore.writes) / seconds,
      utilPercent: ((diskAfter.ioMs - diskBefore.ioMs) / (seconds * 1000)) * 100,
    },
    status,
  }
}

function formatRate(value: number): string {
  return Math.round(value).toLocaleString('en-US')
}

function printResult(result: CaseResult): void {
  const { spec } = result
  const target = spec.target === undefined ? '(comparison, no target)' : `(target >= ${formatRate(spec.target)}) ${result.recordsPerSec >= spec.target ? 'MET' : 'MISSED'}`
  process.stdout.write(
    `${spec.label}: ${formatRate(result.recordsPerSec)} rec/s ${target}, ${result.mbPerSec.toFixed(1)} MB/s; ` +
      `send() of ${recordsPerSend} records p50 ${result.p50.toFixed(1)} ms, p99 ${result.p99.toFixed(1)} ms\n`,
  )
  const cpu = result.nodeCpu.map((n) => `${n.id} ${n.cpuPercent.toFixed(0)}%`).join(', ')
  process.stdout.write(
    `  ${formatRate(result.records)} records in ${result.seconds.toFixed(1)} s, batchBytes ${spec.producer.batchBytes}, ${spec.producers} producers x ${spec.loopsPerProducer} send loops; ` +
      `CPU: ${cpu}, client ${result.clientCpuPercent.toFixed(0)}%\n`,
  )
  if (spec.target !== undefined && result.recordsPerSec < spec.target) printBreakdown(result)
}

/** Where the time went, from the nodes' /status: actor counters and each partition's offsets. */
function printBreakdown(result: CaseResult): void {
  const { machine, disk } = result
  process.stdout.write(`  target missed; breakdown (machine has ${navigatorCpus()} CPUs, shared by the nodes, this client and anything else running):\n`)
  process.stdout.write(
    `    machine: busy ${machine.busyPercent.toFixed(0)}%, iowait ${machine.iowaitPercent.toFixed(0)}%, steal ${machine.stealPercent.toFixed(0)}% of all CPUs; ` +
      `disk: ${disk.writeMBps.toFixed(0)} MB/s written in ${formatRate(disk.writesPerSec)} writes/s, busy ${disk.utilPercent.toFixed(0)}% of the time\n`,
  )
  const nodeCpuTotal = result.nodeCpu.reduce((sum, n) => sum + n.cpuPercent, 0)
  const othersPercent = (machine.busyPercent * navigatorCpus()) - nodeCpuTotal - result.clientCpuPercent
  process.stdout.write(`    CPU in % of one core: nodes ${nodeCpuTotal.toFixed(0)}%, this client ${result.clientCpuPercent.toFixed(0)}%, everything else on the machine ${Math.max(0, othersPercent).toFixed(0)}% (other processes, kernel threads)\n`)
  process.stdout.write(
    `    per record: ${((nodeCpuTotal / 100) * 1e9 * result.seconds / Math.max(1, result.records)).toFixed(0)} ns of node CPU, ` +
      `${((result.clientCpuPercent / 100) * 1e9 * result.seconds / Math.max(1, result.records)).toFixed(0)} ns of client CPU\n`,
  )
  // If the bench had every CPU to itself, the CPU it spends per record would allow at most this.
  const cpuSecondsPerRecord = ((nodeCpuTotal + result.clientCpuPercent) / 100) * result.seconds / Math.max(1, result.records)
  process.stdout.write(`    CPU ceiling: at ${(cpuSecondsPerRecord * 1e9).toFixed(0)} ns of CPU (nodes + client) per record, ${navigatorCpus()} CPUs give at most ${formatRate(navigatorCpus() / cpuSecondsPerRecord)} rec/s\n`)
  for (const [i, raw] of result.status.entries()) {
    const status = raw as { node?: string; actors?: Record<string, unknown>; partitions?: { topic: string; partition: number; role: string; highWatermark: number; logEndOffset: number }[]; error?: string }
    if (status.error !== undefined) {
      process.stdout.write(`    ${result.nodeCpu[i]?.id}: /status failed: ${status.error}\n`)
      continue
    }
    const led = (status.partitions ?? []).filter((p) => p.role === 'leader' && !p.topic.startsWith('__'))
    process.stdout.write(`    ${status.node}: leads ${led.map((p) => p.partition).join(',') || 'none'}; actors ${JSON.stringify(status.actors)}\n`)
  }
}

function navigatorCpus(): number {
  try {
    return readFileSync('/proc/cpuinfo', 'utf8').split('\n').filter((line) => line.startsWith('processor')).length
  } catch {
    return Number.NaN
  }
}


async function runCases(nodeIds: string[], specs: CaseSpec[]): Promise<CaseResult[]> {
  const producers = Math.max(...specs.map((s) => s.producers))
  const cluster = await startCluster(nodeIds, producers)
  const results: CaseResult[] = []
  try {
    const first = cluster.clients[0] as Client
    const admin = first.admin()
    for (const [index, spec] of specs.entries()) {
      const topic = `bench-${index}-rf${spec.replicationFactor}-${spec.flush}`
      await admin.createTopic({ name: topic, partitions, replicationFactor: spec.replicationFactor, configs: { flush: spec.flush } })
      await waitForBalancedLeaders(first, topic, nodeIds.length)
      const result = await runCase(cluster, spec, topic)
      printResult(result)
      results.push(result)
      await admin.deleteTopic(topic).catch(() => undefined)
    }
  } finally {
    await stopCluster(cluster)
  }
  return results
}

/** Warns when something else is already using the CPUs: every figure here shares them. */
async function checkQuietMachine(): Promise<void> {
  const before = machineCpu()
  await new Promise((resolve) => setTimeout(resolve, 1_000))
  const after = machineCpu()
  const busyPercent = ((after.busy - before.busy) / (after.total - before.total)) * 100
  if (busyPercent > 10) process.stdout.write(`WARNING: the machine was ${busyPercent.toFixed(0)}% busy (of all CPUs) before the bench started; figures below share the CPUs with that load\n`)
}

async function main(): Promise<void> {
  await checkQuietMachine()
  process.stdout.write(`bench:produce on ${process.platform}/${process.arch}, node ${process.version}, ${navigatorCpus()} CPUs; ${warmupMs / 1000} s warm-up + ${measureMs / 1000} s per case, ${recordValueBytes}-byte records, ${partitions} partitions\n`)
  const rf3Ids = ['n1', 'n2', 'n3']
  const kib = (n: number): string => `${n / 1024}KiB`
  const rf3 = (batchBytes: number, flush: 'always' | 'never', target: number | undefined): CaseSpec => ({
    label: `RF3 acks=all idempotent flush=${flush} batchBytes=${kib(batchBytes)}${target === undefined ? ' [comparison]' : ''}`,
    nodeIds: rf3Ids,
    replicationFactor: 3,
    producer: { acks: 'all', idempotent: true, lingerMs: 5, batchBytes },
    flush,
    loopsPerProducer,
    producers,
    target,
  })
  const single = (batchBytes: number, flush: 'always' | 'never', target: number | undefined): CaseSpec => ({
    label: `single node acks=1 flush=${flush} batchBytes=${kib(batchBytes)}${target === undefined ? ' [comparison]' : ''}`,
    nodeIds: ['s1'],
    replicationFactor: 1,
    producer: { acks: 1, lingerMs: 5, batchBytes },
    flush,
    loopsPerProducer,
    producers,
    target,
  })
  const rf3Specs = quick ? [rf3(256 * 1024, 'always', 300_000)] : [rf3(64 * 1024, 'always', 300_000), rf3(256 * 1024, 'always', 300_000), rf3(256 * 1024, 'never', undefined)]
  const singleSpecs = quick ? [single(256 * 1024, 'always', 1_000_000)] : [single(64 * 1024, 'always', 1_000_000), single(256 * 1024, 'always', 1_000_000), single(256 * 1024, 'never', undefined)]
  const selected = (specs: CaseSpec[]) => specs.filter((spec) => only === undefined || spec.label.includes(only))
  const results: CaseResult[] = []
  if (selected(rf3Specs).length > 0) results.push(...(await runCases(rf3Ids, selected(rf3Specs))))
  if (selected(singleSpecs).length > 0) results.push(...(await runCases(['s1'], selected(singleSpecs))))
  const rows: BenchRow[] = []
  for (const result of results) {
    const { spec } = result
    rows.push({ name: spec.label, value: result.recordsPerSec, unit: 'rec/s', target: spec.target === undefined ? '(comparison)' : `>= ${formatRate(spec.target)} rec/s`, met: spec.target === undefined || result.recordsPerSec >= spec.target })
    rows.push({ name: `  MB/s`, value: result.mbPerSec, unit: 'MB/s', target: '(informational)', met: true })
    rows.push({ name: `  latency p50`, value: result.p50, unit: 'ms', target: '(informational)', met: true })
    rows.push({ name: `  latency p99`, value: result.p99, unit: 'ms', target: '(informational)', met: true })
  }
  report('produce', rows, {
    node: process.version,
    measureMs,
    warmupMs,
    recordValueBytes,
    partitions,
    cases: results.map(({ status: _status, ...rest }) => rest),
  })
}

runBench('produce', main)
