/**
 * The cost of transactions: `npm run bench:pipeline` (options: `-- --records 200000 --rounds 2`).
 *
 * Three `skein start` processes on loopback ephemeral ports; an input topic of 6 partitions
 * (replication factor 3) filled with `records` records of 100 bytes before the clock starts.
 * Then a consume-transform-produce pipeline reads all of it in a consumer group and writes one
 * output record per input to an output topic (6 partitions, replication factor 3), two ways:
 *
 *   at least once   idempotent producer (acks=all); per fetched batch: send the outputs,
 *                   wait for them, then commit the input offsets (consumer.commit)
 *   exactly once    transactional producer, read_committed consumer; per fetched batch: one
 *                   transaction holding the outputs and the input offsets (sendOffsets), committed
 *
 * A fetched batch is the unit of work (one transaction each), so its size decides how often the
 * fixed cost of a transaction is paid: each way runs with the consumer's default fetch size
 * (1 MiB: thousands of records per transaction) and with 16 KiB fetches (about 130 records).
 * Each (size, way) runs `rounds` times, the ways alternating, each with a fresh group and output
 * topic; the clock runs from the first fetch to the last batch's commit (the transactional
 * producer's id is taken before). The report is records/s per way (median of the rounds) and
 * the exactly-once / at-least-once ratio per size. There is no target: the issue asks for the
 * cost to be measured.
 */
import { Client, type Consumer, type Producer } from '../src/client/index.js'
import { argNumber, type BenchRow, createTopicWhenReady, percentile, report, runBench, spawnCluster } from './harness.js'

const CLUSTER = { clusterId: 'bench-pipeline', clusterSecret: 'bench-pipeline-secret-0123456789' }
const ids = ['n1', 'n2', 'n3']
const PARTITIONS = 6
const VALUE_BYTES = 100
const records = Math.round(argNumber('records', 200_000))
const rounds = Math.round(argNumber('rounds', 2))
/** The fetch sizes compared: the consumer's default, and small batches that pay a transaction's fixed cost far more often. */
const FETCH_SIZES = [{ name: '1 MiB fetches', maxBytes: 1024 * 1024 }, { name: '16 KiB fetches', maxBytes: 16 * 1024 }] as const
/** Records per send while filling the input. */
const FILL_BATCH_RECORDS = 5_000
/** Far above any round: a round that takes this long has failed. */
const ROUND_TIMEOUT_MS = 600_000

type Way = 'at-least-once' | 'exactly-once'

async function fillInput(client: Client): Promise<void> {
  const producer = client.producer({ acks: 'all', idempotent: true })
  const value = 'v'.repeat(VALUE_BYTES)
  for (let sent = 0; sent < records; sent += FILL_BATCH_RECORDS) {
    const count = Math.min(FILL_BATCH_RECORDS, records - sent)
    await producer.send({ topic: 'in', messages: Array.from({ length: count }, (_, i) => ({ key: `k${sent + i}`, value })) })
  }
  await producer.close()
}

/** One run of the pipeline over the whole input; resolves with its records/s. */
async function runPipeline(seed: string, way: Way, round: number, maxBytes: number): Promise<number> {
  const client = new Client({ seeds: [seed], ...CLUSTER, clientId: `bench-pipeline-${way}-${round}` })
  const output = `out-${way}-${maxBytes}-${round}`
  const groupId = `pipeline-${way}-${maxBytes}-${round}`
  let consumer: Consumer | undefined
  let producer: Producer | undefined
  try {
    await createTopicWhenReady(client, output, PARTITIONS, 3)
    const transactional = way === 'exactly-once'
    consumer = client.consumer({ groupId, fromBeginning: true, autoCommit: false, maxBytes, ...(transactional ? { isolation: 'read_committed' as const } : {}) })
    producer = transactional ? client.producer({ transactionalId: `${groupId}-0` }) : client.producer({ acks: 'all', idempotent: true })
    // The producer id and epoch are taken before the clock starts: a pipeline pays it once, at start-up.
    if (transactional) await producer.initTransactions()
    consumer.subscribe(['in'])
    let processed = 0
    let startedMs: number | undefined
    let transactions = 0
    const done = new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${way} round ${round}: ${processed} of ${records} after ${ROUND_TIMEOUT_MS} ms`)), ROUND_TIMEOUT_MS)
      const c = consumer as Consumer
      const p = producer as Producer
      c.run({
        eachBatch: async ({ batch }) => {
          if (batch.messages.length === 0) return
          startedMs ??= performance.now()
          const outputs = batch.messages.map((m) => ({ key: m.key, value: m.value }))
          const next = batch.messages[batch.messages.length - 1]!.offset + 1
          const offsets = [{ topic: batch.topic, partition: batch.partition, offset: next }]
          if (transactional) {
            const tx = await p.transaction()
            await tx.send({ topic: output, messages: outputs })
            await tx.sendOffsets({ consumerGroupId: groupId, offsets, consumer: c })
            await tx.commit()
            transactions++
          } else {
            await p.send({ topic: output, messages: outputs })
            await c.commit(offsets)
          }
          processed += batch.messages.length
          if (processed >= records) {
            clearTimeout(timer)
            resolve(records / ((performance.now() - (startedMs as number)) / 1_000))
          }
        },
      }).catch(reject)
    })
    const perSecond = await done
    process.stdout.write(`${way}, ${maxBytes} B fetches, round ${round}: ${Math.round(perSecond).toLocaleString('en-US')} records/s${transactional ? `, ${transactions} transactions (${Math.round(records / transactions)} records each)` : ''}\n`)
    return perSecond
  } finally {
    await consumer?.close().catch(() => undefined)
    await producer?.close().catch(() => undefined)
    await client.close().catch(() => undefined)
  }
}

async function main(): Promise<void> {
  const cluster = await spawnCluster('pipeline', ids, CLUSTER)
  const seed = cluster.seed
  try {
    const admin = new Client({ seeds: [seed], ...CLUSTER, clientId: 'bench-admin' })
    await createTopicWhenReady(admin, 'in', PARTITIONS, 3)
    const fillStartMs = performance.now()
    await fillInput(admin)
    process.stdout.write(`input: ${records.toLocaleString('en-US')} records of ${VALUE_BYTES} B in ${PARTITIONS} partitions, written in ${Math.round(performance.now() - fillStartMs)} ms\n`)
    await admin.close()

    const median = (values: number[]): number => percentile(Float64Array.from(values).sort(), 50)
    const rows: BenchRow[] = []
    const results: Record<string, Record<Way, number[]>> = {}
    for (const size of FETCH_SIZES) {
      const bySize: Record<Way, number[]> = { 'at-least-once': [], 'exactly-once': [] }
      results[size.name] = bySize
      for (let round = 0; round < rounds; round++) {
        for (const way of ['at-least-once', 'exactly-once'] as const) bySize[way].push(await runPipeline(seed, way, round, size.maxBytes))
      }
      const plain = median(bySize['at-least-once'])
      const exactlyOnce = median(bySize['exactly-once'])
      rows.push(
        { name: `${size.name}: without transactions (at least once), median`, value: Math.round(plain), unit: 'records/s', target: 'reference', met: true },
        { name: `${size.name}: with transactions (exactly once), median`, value: Math.round(exactlyOnce), unit: 'records/s', target: 'reference', met: true },
        { name: `${size.name}: exactly once / at least once`, value: Number((exactlyOnce / plain).toFixed(3)), unit: 'ratio', target: 'reference (the cost of transactions)', met: true },
      )
    }
    report('pipeline', rows, { records, rounds, partitions: PARTITIONS, valueBytes: VALUE_BYTES, results })
  } finally {
    await cluster.stop()
  }
}

runBench('pipeline', main)
