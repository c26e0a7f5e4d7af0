/**
 * bench:kafka's consume cases: a kafkajs consumer (group, `subscribe({ fromBeginning })`,
 * `run({ eachBatch })`) through the gateway, and the native SDK consumer (`assign`, `run({
 * eachBatch })`, as bench:consume) on the same topic. Both are timed from the first record
 * delivered to the last, and both are checked: offsets rise strictly in each partition, and
 * exactly the acknowledged records arrive (at least them when some sends failed).
 */
import type { Kafka } from 'kafkajs'
import type { Client } from '../src/index.js'
import { clientCpuSeconds, cpuSecondsOf } from './harness.js'
import type { ConsumeResult, Sdk } from './kafka-results.js'

export interface ConsumeExpectation {
  readonly topic: string
  readonly partitions: number
  /** Records acknowledged to the producers. */
  readonly records: number
  /** True when no send failed: then exactly `records` must arrive, not merely at least. */
  readonly exact: boolean
  /** The consume fails (records lost, or a stall) if not done by then. */
  readonly timeoutMs: number
}

/** Counts and checks what a consumer delivers; settles `done` once every expected record arrived. */
class Tracker {
  readonly done: Promise<void>
  private resolveDone!: () => void
  private rejectDone!: (error: Error) => void
  private readonly nextOffset: number[]
  delivered = 0
  private payloadBytes = 0
  private firstAt = Number.NaN
  private lastAt = Number.NaN
  private nodeCpuAtFirst = Number.NaN
  private clientCpuAtFirst = Number.NaN
  private nodeCpuAtLast = Number.NaN
  private clientCpuAtLast = Number.NaN
  private settled = false

  constructor(
    private readonly expected: ConsumeExpectation,
    private readonly nodePid: number | undefined,
  ) {
    this.nextOffset = new Array<number>(expected.partitions).fill(0)
    this.done = new Promise((resolve, reject) => {
      this.resolveDone = resolve
      this.rejectDone = reject
    })
  }

  /** One batch of one partition: `offsets` and `valueBytes` of its records, in order. */
  batch(partition: number, offsets: readonly number[], valueBytes: number): void {
    if (this.settled || offsets.length === 0) return
    if (Number.isNaN(this.firstAt)) {
      this.firstAt = performance.now()
      this.nodeCpuAtFirst = cpuSecondsOf(this.nodePid)
      this.clientCpuAtFirst = clientCpuSeconds()
    }
    for (const offset of offsets) {
      const next = this.nextOffset[partition] as number
      if (offset < next) return this.fail(`partition ${partition}: offset ${offset} arrived after ${next - 1} (a repeated record)`)
      this.nextOffset[partition] = offset + 1
    }
    this.delivered += offsets.length
    this.payloadBytes += valueBytes
    if (this.delivered < this.expected.records) return
    this.lastAt = performance.now()
    this.nodeCpuAtLast = cpuSecondsOf(this.nodePid)
    this.clientCpuAtLast = clientCpuSeconds()
    if (this.expected.exact && this.delivered > this.expected.records) return this.fail(`${this.delivered} records arrived, ${this.expected.records} were acknowledged and no send failed`)
    this.settled = true
    this.resolveDone()
  }

  fail(message: string): void {
    if (this.settled) return
    this.settled = true
    this.rejectDone(new Error(message))
  }

  /** Where each partition got to, for a consume that timed out. */
  progress(): string {
    return `${this.delivered} of ${this.expected.records} acknowledged records arrived; next offset per partition: ${this.nextOffset.join(', ')}`
  }

  result(sdk: Sdk, runAt: number): ConsumeResult {
    const seconds = (this.lastAt - this.firstAt) / 1000
    return {
      sdk,
      label: `1 node RF1, ${this.expected.records.toLocaleString('en-US')} records`,
      recordsPerSec: this.delivered / seconds,
      mbPerSec: this.payloadBytes / seconds / 1e6,
      records: this.delivered,
      seconds,
      firstRecordMs: this.firstAt - runAt,
      nodeCpuPercent: ((this.nodeCpuAtLast - this.nodeCpuAtFirst) / seconds) * 100,
      clientCpuPercent: ((this.clientCpuAtLast - this.clientCpuAtFirst) / seconds) * 100,
    }
  }
}

/** Rejects with `describe()` when `promise` has not settled within `timeoutMs`. */
async function within<T>(promise: Promise<T>, timeoutMs: number, describe: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not done within ${timeoutMs / 1000} s: ${describe()}`)), timeoutMs)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** kafkajs: a new consumer group reads the topic from the beginning. */
export async function kafkajsConsume(kafka: Kafka, expected: ConsumeExpectation, partitionsConsumedConcurrently: number, nodePid: number | undefined): Promise<ConsumeResult> {
  const tracker = new Tracker(expected, nodePid)
  const consumer = kafka.consumer({ groupId: `bench-kafka-${process.pid}-${Math.round(performance.now())}`, maxWaitTimeInMs: 100 })
  consumer.on(consumer.events.CRASH, (event) => tracker.fail(`kafkajs consumer crashed: ${String(event.payload.error)}`))
  const runAt = performance.now()
  try {
    await consumer.connect()
    await consumer.subscribe({ topic: expected.topic, fromBeginning: true })
    await consumer.run({
      partitionsConsumedConcurrently,
      eachBatch: async ({ batch }) => {
        let valueBytes = 0
        const offsets = batch.messages.map((message) => {
          valueBytes += message.value?.length ?? 0
          return Number(message.offset)
        })
        tracker.batch(batch.partition, offsets, valueBytes)
      },
    })
    await within(tracker.done, expected.timeoutMs, () => `kafkajs consumer: ${tracker.progress()}`)
  } finally {
    await consumer.disconnect().catch(() => undefined)
  }
  return printed(tracker.result('kafkajs', runAt), `kafkajs consumer (eachBatch, partitionsConsumedConcurrently ${partitionsConsumedConcurrently})`)
}

/** The native SDK: one consumer assigned every partition from the beginning (as bench:consume). */
export async function nativeConsume(client: Client, expected: ConsumeExpectation, nodePid: number | undefined): Promise<ConsumeResult> {
  const tracker = new Tracker(expected, nodePid)
  const consumer = client.consumer({ fromBeginning: true })
  consumer.assign(Array.from({ length: expected.partitions }, (_, partition) => ({ topic: expected.topic, partition })))
  const runAt = performance.now()
  const running = consumer.run({
    eachBatch: async ({ batch }) => {
      let valueBytes = 0
      const offsets = batch.messages.map((message) => {
        valueBytes += message.value?.length ?? 0
        return message.offset
      })
      tracker.batch(batch.partition, offsets, valueBytes)
      if (tracker.delivered >= expected.records) await consumer.close()
    },
  })
  running.catch((error: unknown) => tracker.fail(`native consumer failed: ${String(error)}`))
  try {
    await within(tracker.done, expected.timeoutMs, () => `native consumer: ${tracker.progress()}`)
  } finally {
    await consumer.close().catch(() => undefined)
  }
  return printed(tracker.result('native', runAt), 'native consumer (assign, eachBatch)')
}

function printed(result: ConsumeResult, how: string): ConsumeResult {
  process.stdout.write(
    `consume ${result.label} ${result.sdk}: ${Math.round(result.recordsPerSec).toLocaleString('en-US')} rec/s (target: none), ${result.mbPerSec.toFixed(1)} MB/s of values; ` +
      `${result.records.toLocaleString('en-US')} records in ${result.seconds.toFixed(2)} s, first record ${result.firstRecordMs.toFixed(0)} ms after start\n`,
  )
  process.stdout.write(`  ${how}; CPU: node ${result.nodeCpuPercent.toFixed(0)}%, client ${result.clientCpuPercent.toFixed(0)}%\n`)
  return result
}
