/**
 * Kafka gateway benchmark: `npm run bench:kafka`.
 *
 * Node processes (`skein start --kafka-port ephemeral`) on loopback; each node's Kafka port is
 * read from its 'node started' line. This process is the application twice over: kafkajs
 * (`new Kafka({ brokers })`, `producer.send`, `consumer.run({ eachBatch })`) through the
 * nodes' Kafka listeners, and, for context, the native SDK (`new Client(...)`) on the same
 * workload. Records are keyless with 100-byte values; every send() carries 1,000 of them, with
 * `--concurrency` sends in flight (kafkajs and native alike), no compression.
 *
 *   1 node,  6 partitions, RF1, acks=1 and acks=-1   kafkajs producer vs native producer
 *   3 nodes, 6 partitions, RF3, acks=-1              kafkajs producer vs native producer
 *   1 node,  the kafkajs RF1 topic, from the start   kafkajs consumer (eachBatch) vs native consumer
 *
 * Produce cases warm up, then count the records acknowledged inside a fixed window (as
 * bench:produce). The consume cases read every record the kafkajs producers wrote to the RF1
 * topic (topped up to `--records` first), from the first record delivered to the last, and check
 * that exactly the acknowledged records arrive with offsets rising in each partition (a record
 * lost or repeated by the gateway fails the bench). Topics keep the default flush=always.
 *
 * There is no target: the issue asks for kafkajs figures; the native SDK column is context.
 *
 * Options: `-- --seconds 5 --warmup 1 --concurrency 8 --records 1000000 --partitions-concurrently 1
 * --only <label text> --sweep` (concurrency: sends in flight; partitions-concurrently: the
 * kafkajs consumer's partitionsConsumedConcurrently; only: produce cases whose label contains
 * the text; sweep: first measure kafkajs acks=1 at 1, 2, 4, 8, 16 and 32 sends in flight).
 * BENCH_CPU_PROF=<dir> runs the first node of each cluster with --cpu-prof, its profile written
 * to <dir> when it stops; profile the client side with `node --cpu-prof dist/bench/kafka.js`.
 */
import { readFileSync, rmSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Kafka, logLevel, Partitioners } from 'kafkajs'
import { Client } from '../src/index.js'
import { argNumber, clientCpuSeconds, cpuSecondsOf, percentile, runBench, spawnNode, type SpawnedNode, waitForBalancedLeaders } from './harness.js'
import { kafkajsConsume, nativeConsume } from './kafka-consume.js'
import { type ConsumeResult, describeError, formatRate, type ProduceResult, type ProduceSpec, type Sdk, writeResults } from './kafka-results.js'

const CLUSTER = { clusterId: 'bench-kafka', clusterSecret: 'bench-kafka-secret-0123456789abc' }
const recordValueBytes = 100
const partitions = 6
/** Records per send() call, kafkajs and native. */
const recordsPerSend = 1000

const measureMs = argNumber('seconds', 5) * 1000
const warmupMs = argNumber('warmup', 1) * 1000
/** Sends in flight; 8 gave kafkajs its best on a 2-CPU machine (see --sweep). */
const concurrency = Math.round(argNumber('concurrency', 8))
const consumeRecordsMin = Math.round(argNumber('records', 1_000_000))
const partitionsConcurrently = Math.round(argNumber('partitions-concurrently', 1))
const only = process.argv.includes('--only') ? (process.argv[process.argv.indexOf('--only') + 1] as string) : undefined
const sweep = process.argv.includes('--sweep')
const cpuProfDir = process.env['BENCH_CPU_PROF']
/** Bounds a consume that never completes (records lost): fails the bench instead of hanging. */
const consumeTimeoutMs = 120_000

// ---------------------------------------------------------------------------------------------
// Cluster

/** Data directories not yet removed; removed at exit too (Ctrl-C: the harness kills the nodes and exits). */
const liveDirs = new Set<string>()
process.once('exit', () => {
  for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true })
})

/**
 * What kafkajs logged at warn or error level, counted by message and error: its retries
 * (NOT_LEADER_OR_FOLLOWER, a closed connection) are otherwise invisible.
 */
const kafkajsLog = new Map<string, number>()

function kafkajsLogged(): number {
  let count = 0
  for (const n of kafkajsLog.values()) count += n
  return count
}

function kafkajsLogSummary(): string {
  return [...kafkajsLog].map(([text, n]) => `${n} x ${text}`).join('; ')
}

interface Cluster {
  readonly nodes: SpawnedNode[]
  readonly dirs: string[]
  client: Client | undefined
  kafka: Kafka | undefined
}

async function startCluster(ids: string[]): Promise<Cluster> {
  const cluster: Cluster = { nodes: [], dirs: [], client: undefined, kafka: undefined }
  try {
    let seed: string | undefined
    for (const [index, id] of ids.entries()) {
      const dir = await mkdtemp(join(tmpdir(), `skein-bench-kafka-${id}-`))
      cluster.dirs.push(dir)
      liveDirs.add(dir)
      const args = ['--data', dir, '--cluster-id', CLUSTER.clusterId, '--controllers', ids.join(','), '--kafka-port', 'ephemeral']
      if (seed !== undefined) args.push('--seeds', seed)
      const nodeFlags = cpuProfDir !== undefined && index === 0 ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`] : []
      const node = await spawnNode(id, args, { SKEIN_CLUSTER_SECRET: CLUSTER.clusterSecret }, nodeFlags)
      if (node.kafkaPort === undefined) throw new Error(`node ${id} logged no kafkaPort in its 'node started' line`)
      seed ??= node.address
      cluster.nodes.push(node)
    }
    cluster.client = new Client({ seeds: [seed as string], ...CLUSTER, clientId: 'bench-kafka-native' })
    cluster.kafka = new Kafka({
      clientId: 'bench-kafka',
      brokers: cluster.nodes.map((node) => `127.0.0.1:${node.kafkaPort}`),
      logLevel: logLevel.WARN,
      retry: { retries: 10, initialRetryTime: 100, maxRetryTime: 1_000 },
      logCreator: () => (entry) => {
        const { message, error } = entry.log as { message?: string; error?: string }
        const text = `${entry.namespace} ${message ?? ''}${error === undefined ? '' : `: ${error}`}`
        kafkajsLog.set(text, (kafkajsLog.get(text) ?? 0) + 1)
      },
    })
    return cluster
  } catch (error) {
    await stopCluster(cluster)
    throw error
  }
}

async function stopCluster(cluster: Cluster): Promise<void> {
  await cluster.client?.close().catch(() => undefined)
  await Promise.all(cluster.nodes.splice(0).map((node) => node.stop()))
  await Promise.all(cluster.dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true }).then(() => liveDirs.delete(dir))))
}

/** How long a new cluster may take to answer kafkajs's Metadata and CreateTopics (gossip, metadata quorum). */
const clusterReadyMs = 30_000

/**
 * Creates the topic through kafkajs's admin (CreateTopics on the gateway), waiting for its
 * leaders. A node answers Metadata only once its metadata is current (it closes the connection
 * before that), so the first attempts on a new cluster are retried until `clusterReadyMs`.
 */
async function createTopic(cluster: Cluster, topic: string, replicationFactor: number): Promise<void> {
  const deadline = performance.now() + clusterReadyMs
  for (let attempt = 1; ; attempt++) {
    const admin = (cluster.kafka as Kafka).admin()
    try {
      await admin.connect()
      await admin.createTopics({ topics: [{ topic, numPartitions: partitions, replicationFactor }], waitForLeaders: true })
      break
    } catch (error) {
      if (performance.now() > deadline) throw new Error(`creating ${topic} through kafkajs failed ${attempt} times, last: ${describeError(error)}`)
      await new Promise((resolve) => setTimeout(resolve, 250))
    } finally {
      await admin.disconnect().catch(() => undefined)
    }
  }
  const described = await (cluster.client as Client).admin().describeTopic(topic)
  if (described.partitions.length !== partitions) throw new Error(`topic ${topic} has ${described.partitions.length} partitions, not ${partitions}`)
  await waitForBalancedLeaders(cluster.client as Client, topic, cluster.nodes.length)
}


// ---------------------------------------------------------------------------------------------
// Produce

/** One send's messages: keyless records with 100-byte values, distinct per lane. */
function messagesOf(seed: number): { value: Buffer }[] {
  return Array.from({ length: recordsPerSend }, (_, i) => {
    const value = Buffer.allocUnsafe(recordValueBytes)
    for (let b = 0; b < value.length; b++) value[b] = (seed * 31 + i + b) & 0xff
    return { value }
  })
}

/** A connected producer of either SDK: `send` writes one lane's 1,000 records to the spec's topic. */
async function openSender(cluster: Cluster, spec: ProduceSpec): Promise<{ send: (messages: { value: Buffer }[]) => Promise<unknown>; close: () => Promise<void> }> {
  if (spec.sdk === 'kafkajs') {
    // Keyless records go round-robin, one per partition in turn: a 1,000-record send is one Produce request of 6 batches.
    const producer = (cluster.kafka as Kafka).producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner })
    await producer.connect()
    return { send: (messages) => producer.send({ topic: spec.topic, acks: spec.acks, messages }), close: () => producer.disconnect() }
  }
  const producer = (cluster.client as Client).producer({ acks: spec.acks === -1 ? 'all' : 1 })
  return { send: (messages) => producer.send({ topic: spec.topic, messages }), close: () => producer.close() }
}

/**
 * Runs `spec.concurrency` send loops, each keeping one send() of 1,000 records outstanding;
 * counts the records acknowledged inside the measured window. `recordsMax` (top-up) instead
 * stops after that many records are acknowledged, without a window.
 */
async function runProduce(cluster: Cluster, spec: ProduceSpec, recordsMax?: number): Promise<ProduceResult> {
  const sender = await openSender(cluster, spec)
  const messagesOfLane = Array.from({ length: spec.concurrency }, (_, lane) => messagesOf(lane))
  let phase: 'warmup' | 'measure' | 'stop' = recordsMax === undefined ? 'warmup' : 'measure'
  let records = 0
  let recordsAcked = 0
  let recordsQueued = 0
  let errors = 0
  let firstError: string | undefined
  const latencies: number[] = []
  async function lane(index: number): Promise<void> {
    const messages = messagesOfLane[index] as { value: Buffer }[]
    while (phase !== 'stop' && (recordsMax === undefined || recordsQueued < recordsMax)) {
      recordsQueued += messages.length
      const startedAt = performance.now()
      try {
        await sender.send(messages)
        recordsAcked += messages.length
        if (phase === 'measure') {
          records += messages.length
          latencies.push(performance.now() - startedAt)
        }
      } catch (error) {
        errors++
        firstError ??= describeError(error)
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    }
  }
  const running = Array.from({ length: spec.concurrency }, (_, i) => lane(i))
  if (recordsMax === undefined) await new Promise((resolve) => setTimeout(resolve, warmupMs))
  const pids = cluster.nodes.map((node) => node.process.pid)
  const nodeCpuBefore = pids.map(cpuSecondsOf)
  const clientCpuBefore = clientCpuSeconds()
  phase = 'measure'
  const startedAt = performance.now()
  if (recordsMax === undefined) {
    await new Promise((resolve) => setTimeout(resolve, measureMs))
    phase = 'stop'
  } else {
    await Promise.all(running)
  }
  const seconds = (performance.now() - startedAt) / 1000
  const nodeCpuAfter = pids.map(cpuSecondsOf)
  const clientCpuAfter = clientCpuSeconds()
  await Promise.all(running)
  await sender.close()
  const sorted = Float64Array.from(latencies).sort()
  return {
    spec,
    recordsPerSec: records / seconds,
    mbPerSec: (records * recordValueBytes) / seconds / 1e6,
    records,
    recordsAcked,
    errors,
    firstError,
    seconds,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    nodeCpu: cluster.nodes.map((node, i) => ({ id: node.id, cpuPercent: (((nodeCpuAfter[i] as number) - (nodeCpuBefore[i] as number)) / seconds) * 100 })),
    clientCpuPercent: ((clientCpuAfter - clientCpuBefore) / seconds) * 100,
  }
}

function printProduce(result: ProduceResult): void {
  const { spec } = result
  process.stdout.write(
    `${spec.label}: ${formatRate(result.recordsPerSec)} rec/s (target: none), ${result.mbPerSec.toFixed(1)} MB/s; ` +
      `send() of ${recordsPerSend} records p50 ${result.p50.toFixed(1)} ms, p99 ${result.p99.toFixed(1)} ms\n`,
  )
  const cpu = result.nodeCpu.map((n) => `${n.id} ${n.cpuPercent.toFixed(0)}%`).join(', ')
  process.stdout.write(`  ${formatRate(result.records)} records in ${result.seconds.toFixed(1)} s, ${spec.concurrency} sends in flight; CPU: ${cpu}, client ${result.clientCpuPercent.toFixed(0)}%\n`)
  if (result.errors > 0) process.stdout.write(`  ${result.errors} send errors, first: ${result.firstError}\n`)
}

// ---------------------------------------------------------------------------------------------
// The run

interface Topic {
  readonly name: string
  /** Records acknowledged to the kafkajs producers, all cases together. */
  acked: number
  /** Sends that failed: then the topic may hold more than `acked` (a failed send may have been written). */
  errors: number
}

async function produceCases(cluster: Cluster, specs: ProduceSpec[], topics: Map<string, Topic>): Promise<ProduceResult[]> {
  const results: ProduceResult[] = []
  for (const spec of specs.filter((s) => only === undefined || s.label.includes(only))) {
    const loggedBefore = kafkajsLogged()
    const result = await runProduce(cluster, spec)
    printProduce(result)
    if (kafkajsLogged() > loggedBefore) process.stdout.write(`  kafkajs logged ${kafkajsLogged() - loggedBefore} warnings/errors during this case (counts by kind at the end)\n`)
    results.push(result)
    const topic = topics.get(spec.topic)
    if (topic !== undefined) {
      topic.acked += result.recordsAcked
      topic.errors += result.errors
    }
  }
  return results
}

async function singleNode(produce: ProduceResult[], consume: ConsumeResult[]): Promise<void> {
  const cluster = await startCluster(['s1'])
  try {
    const kafkajsTopic: Topic = { name: 'kafkajs-rf1', acked: 0, errors: 0 }
    await createTopic(cluster, kafkajsTopic.name, 1)
    await createTopic(cluster, 'native-rf1', 1)
    if (sweep) await sweepConcurrency(cluster, kafkajsTopic)
    const spec = (sdk: Sdk, acks: 1 | -1): ProduceSpec => ({ label: `1 node RF1 acks=${acks} ${sdk}`, sdk, topic: `${sdk}-rf1`, acks, concurrency })
    const specs = [spec('kafkajs', 1), spec('native', 1), spec('kafkajs', -1), spec('native', -1)]
    produce.push(...(await produceCases(cluster, specs, new Map([[kafkajsTopic.name, kafkajsTopic]]))))
    if (kafkajsTopic.acked < consumeRecordsMin) {
      const topUp = await runProduce(cluster, { label: 'top-up', sdk: 'kafkajs', topic: kafkajsTopic.name, acks: 1, concurrency }, consumeRecordsMin - kafkajsTopic.acked)
      kafkajsTopic.acked += topUp.recordsAcked
      kafkajsTopic.errors += topUp.errors
    }
    if (kafkajsTopic.errors > 0) process.stdout.write(`  ${kafkajsTopic.errors} sends to ${kafkajsTopic.name} failed: the consumers may read more than the ${formatRate(kafkajsTopic.acked)} acknowledged records\n`)
    const pid = cluster.nodes[0]?.process.pid
    const expected = { topic: kafkajsTopic.name, partitions, records: kafkajsTopic.acked, exact: kafkajsTopic.errors === 0, timeoutMs: consumeTimeoutMs }
    consume.push(await kafkajsConsume(cluster.kafka as Kafka, expected, partitionsConcurrently, pid))
    consume.push(await nativeConsume(cluster.client as Client, expected, pid))
  } finally {
    await stopCluster(cluster)
  }
}

async function sweepConcurrency(cluster: Cluster, topic: Topic): Promise<void> {
  process.stdout.write('sweep: kafkajs acks=1, 1 node RF1, sends in flight:\n')
  for (const inFlight of [1, 2, 4, 8, 16, 32]) {
    const result = await runProduce(cluster, { label: `  sweep concurrency=${inFlight} kafkajs`, sdk: 'kafkajs', topic: topic.name, acks: 1, concurrency: inFlight })
    printProduce(result)
    topic.acked += result.recordsAcked
    topic.errors += result.errors
  }
}

async function threeNodes(produce: ProduceResult[]): Promise<void> {
  const ids = ['n1', 'n2', 'n3']
  const cluster = await startCluster(ids)
  try {
    await createTopic(cluster, 'kafkajs-rf3', 3)
    await createTopic(cluster, 'native-rf3', 3)
    const spec = (sdk: Sdk): ProduceSpec => ({ label: `3 nodes RF3 acks=-1 ${sdk}`, sdk, topic: `${sdk}-rf3`, acks: -1, concurrency })
    produce.push(...(await produceCases(cluster, [spec('kafkajs'), spec('native')], new Map())))
  } finally {
    await stopCluster(cluster)
  }
}

function cpuCount(): number {
  try {
    return readFileSync('/proc/cpuinfo', 'utf8').split('\n').filter((line) => line.startsWith('processor')).length
  } catch {
    return Number.NaN
  }
}

/** Busy share of all CPUs over one second (/proc/stat), to warn when the machine is not quiet. */
async function machineBusyPercent(): Promise<number> {
  const sample = (): number[] => (readFileSync('/proc/stat', 'utf8').split('\n')[0] as string).trim().split(/\s+/).slice(1, 9).map(Number)
  try {
    const before = sample()
    await new Promise((resolve) => setTimeout(resolve, 1_000))
    const after = sample()
    const delta = after.map((v, i) => v - (before[i] as number))
    const idle = (delta[3] as number) + (delta[4] as number)
    const total = delta.reduce((sum, v) => sum + v, 0)
    return ((total - idle) / total) * 100
  } catch {
    return Number.NaN
  }
}

async function main(): Promise<void> {
  const busy = await machineBusyPercent()
  if (busy > 10) process.stdout.write(`WARNING: the machine was ${busy.toFixed(0)}% busy (of all CPUs) before the bench started; figures below share the CPUs with that load\n`)
  process.stdout.write(
    `bench:kafka on ${process.platform}/${process.arch}, node ${process.version}, ${cpuCount()} CPUs; kafkajs 2.2.4 via each node's Kafka listener vs the native SDK; ` +
      `${warmupMs / 1000} s warm-up + ${measureMs / 1000} s per produce case, ${recordValueBytes}-byte records, ${recordsPerSend} per send, ${concurrency} sends in flight, ${partitions} partitions, no compression\n`,
  )
  const startedAt = performance.now()
  const produce: ProduceResult[] = []
  const consume: ConsumeResult[] = []
  await singleNode(produce, consume)
  await threeNodes(produce)
  if (kafkajsLog.size > 0) process.stdout.write(`kafkajs logged ${kafkajsLogged()} warnings/errors in the whole run: ${kafkajsLogSummary()}\n`)
  writeResults(produce, consume, {
    node: process.version,
    measureMs,
    warmupMs,
    recordValueBytes,
    recordsPerSend,
    concurrency,
    partitions,
    partitionsConcurrently,
    kafkajsLog: Object.fromEntries(kafkajsLog),
    totalSeconds: (performance.now() - startedAt) / 1000,
  })
}

runBench('kafka', main)
