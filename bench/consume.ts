/**
 * Consume throughput benchmark: `npm run bench:consume`.
 *
 * One node (`skein start`) on a loopback ephemeral port, a topic of 6 partitions (replication
 * factor 1) preloaded with 100-byte records through the SDK producer. Then, each round, a new
 * SDK consumer (`client.consumer({ fromBeginning: true })`, `assign` all six partitions,
 * `run({ eachBatch })`) reads every record, exactly as an application would: records are
 * decoded into messages (offset, key, value, headers, timestamp) and handed over in batches.
 * The figure is records delivered to the handler per second, from the first fetch to the last
 * record; the median of the rounds is checked against the target.
 *
 *   single node, 6 partitions      target >= 1,500,000 rec/s
 *
 * Options: `-- --records 3000000 --rounds 3 --max-bytes 1048576` (records: how many to preload;
 * max-bytes: the consumer's maxBytes per partition fetch). Checks on every round that each
 * partition's offsets rise strictly and that exactly the preloaded number of records arrives (a
 * fast consumer that skips or repeats records is no figure).
 */
import { rmSync } from 'node:fs'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Client } from '../src/index.js'
import { argNumber, type BenchRow, clientCpuSeconds, cpuSecondsOf, report, runBench, spawnNode } from './harness.js'

const CLUSTER = { clusterId: 'bench-consume', clusterSecret: 'bench-consume-secret-0123456789' }
const recordValueBytes = 100
const partitions = 6
const targetRecordsPerSec = 1_500_000
const recordsPerSend = 1000

const recordsTotal = Math.round(argNumber('records', 3_000_000))
const rounds = Math.round(argNumber('rounds', 3))
const maxBytes = Math.round(argNumber('max-bytes', 1024 * 1024))

/** Writes `recordsTotal` keyless 100-byte records through the SDK producer (acks=1). */
async function preload(client: Client, topic: string): Promise<void> {
  const producer = client.producer({ acks: 1, lingerMs: 5, batchBytes: 256 * 1024 })
  const value = Buffer.alloc(recordValueBytes, 0x5a)
  const messages = Array.from({ length: recordsPerSend }, () => ({ value }))
  let queued = 0
  const loop = async (): Promise<void> => {
    while (queued < recordsTotal) {
      const count = Math.min(recordsPerSend, recordsTotal - queued)
      queued += count
      await producer.send({ topic, messages: count === recordsPerSend ? messages : messages.slice(0, count) })
    }
  }
  await Promise.all(Array.from({ length: 24 }, loop))
  await producer.close()
}

interface RoundResult {
  readonly recordsPerSec: number
  readonly mbPerSec: number
  readonly seconds: number
  readonly nodeCpuPercent: number
  readonly clientCpuPercent: number
}

/** One consumer reads every partition from the beginning to the end; offsets are checked as they come. */
async function consumeAll(client: Client, topic: string, nodePid: number | undefined): Promise<RoundResult> {
  const consumer = client.consumer({ fromBeginning: true, maxBytes })
  consumer.assign(Array.from({ length: partitions }, (_, partition) => ({ topic, partition })))
  // Offsets rise strictly; gaps are control records (a leader's first batch), never data.
  const nextOffset = new Array<number>(partitions).fill(0)
  let delivered = 0
  let payloadBytes = 0
  const nodeCpuBefore = cpuSecondsOf(nodePid)
  const clientCpuBefore = clientCpuSeconds()
  const startedAt = performance.now()
  await consumer.run({
    eachBatch: async ({ batch }) => {
      for (const message of batch.messages) {
        if (message.offset < (nextOffset[batch.partition] as number)) throw new Error(`partition ${batch.partition}: offset ${message.offset} arrived after ${(nextOffset[batch.partition] as number) - 1}`)
        nextOffset[batch.partition] = message.offset + 1
        payloadBytes += message.value?.length ?? 0
      }
      delivered += batch.messages.length
      if (delivered >= recordsTotal) await consumer.close()
    },
  })
  const seconds = (performance.now() - startedAt) / 1000
  if (delivered !== recordsTotal) throw new Error(`delivered ${delivered} records, expected ${recordsTotal}`)
  return {
    recordsPerSec: delivered / seconds,
    mbPerSec: payloadBytes / seconds / 1e6,
    seconds,
    nodeCpuPercent: ((cpuSecondsOf(nodePid) - nodeCpuBefore) / seconds) * 100,
    clientCpuPercent: ((clientCpuSeconds() - clientCpuBefore) / seconds) * 100,
  }
}

function formatRate(value: number): string {
  return Math.round(value).toLocaleString('en-US')
}

async function main(): Promise<void> {
  process.stdout.write(`bench:consume on ${process.platform}/${process.arch}, node ${process.version}; ${formatRate(recordsTotal)} ${recordValueBytes}-byte records in ${partitions} partitions, ${rounds} rounds, maxBytes ${maxBytes}\n`)
  const dir = await mkdtemp(join(tmpdir(), 'skein-bench-consume-'))
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }))
  const node = await spawnNode('c1', ['--data', dir, '--cluster-id', CLUSTER.clusterId, '--controllers', 'c1'], { SKEIN_CLUSTER_SECRET: CLUSTER.clusterSecret })
  const client = new Client({ seeds: [node.address], ...CLUSTER, clientId: 'bench-consume' })
  const results: RoundResult[] = []
  try {
    const topic = 'bench-consume'
    await client.admin().createTopic({ name: topic, partitions, replicationFactor: 1, configs: { flush: 'never' } })
    const preloadStartedAt = performance.now()
    await preload(client, topic)
    process.stdout.write(`preloaded in ${((performance.now() - preloadStartedAt) / 1000).toFixed(1)} s\n`)
    for (let round = 1; round <= rounds; round++) {
      const result = await consumeAll(client, topic, node.process.pid)
      results.push(result)
      process.stdout.write(
        `round ${round}: ${formatRate(result.recordsPerSec)} rec/s, ${result.mbPerSec.toFixed(1)} MB/s of values in ${result.seconds.toFixed(2)} s; ` +
          `CPU: node ${result.nodeCpuPercent.toFixed(0)}%, client ${result.clientCpuPercent.toFixed(0)}%\n`,
      )
    }
  } finally {
    await client.close().catch(() => undefined)
    await node.stop()
  }
  const sorted = [...results].sort((a, b) => a.recordsPerSec - b.recordsPerSec)
  const median = sorted[Math.floor(sorted.length / 2)] as RoundResult
  const met = median.recordsPerSec >= targetRecordsPerSec
  process.stdout.write(`median: ${formatRate(median.recordsPerSec)} rec/s (target >= ${formatRate(targetRecordsPerSec)}) ${met ? 'MET' : 'MISSED'}, ${median.mbPerSec.toFixed(1)} MB/s\n`)
  const rows: BenchRow[] = [
    { name: 'single node consume, 6 partitions (median)', value: median.recordsPerSec, unit: 'rec/s', target: `>= ${formatRate(targetRecordsPerSec)} rec/s`, met },
    { name: '  MB/s of values', value: median.mbPerSec, unit: 'MB/s', target: '(informational)', met: true },
  ]
  report('consume', rows, { node: process.version, recordsTotal, recordValueBytes, partitions, maxBytes, rounds: results })
}

runBench('consume', main)
