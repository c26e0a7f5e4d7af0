import { createInterface } from 'node:readline'
import type { Producer, ProducerMessage } from '../client/index.js'
import { usageError } from './args.js'
import { CLIENT_FLAGS, clientFromFlags, positionalsAndFlags } from './client-flags.js'
import { describeFlags, type FlagSpec, readFlags } from './flags.js'

const PRODUCE_FLAGS: readonly FlagSpec[] = [
  ...CLIENT_FLAGS,
  { name: 'acks', env: 'SKEIN_ACKS', placeholder: 'all|1|0', defaultValue: 'all', help: 'all: a majority of replicas has each record; 1: the leader; 0: nobody waits' },
  { name: 'key-separator', env: 'SKEIN_KEY_SEPARATOR', placeholder: 'text', help: 'split each line at the first separator into key and value (no separator in a line: no key)' },
  { name: 'partition', env: 'SKEIN_PARTITION', placeholder: 'N', help: 'send every record to this partition (default: by key, keyless records sticky)' },
  { name: 'compression', env: 'SKEIN_COMPRESSION', placeholder: 'none|gzip', defaultValue: 'none', help: 'codec of each batch' },
]

export const PRODUCE_USAGE = `Usage: skein produce TOPIC [options] < lines

Sends one record per line of standard input (the newline is not part of the value) and
exits once every record is acknowledged. On a terminal, a long run shows its progress.

${describeFlags(PRODUCE_FLAGS)}
`

/** Records in flight before reading more lines waits: bounds memory on a large input. */
const PENDING_RECORDS_MAX = 10_000
/** How often progress is redrawn on a terminal. */
const PROGRESS_INTERVAL_MS = 500

export async function runProduce(argv: string[]): Promise<void> {
  const { positionals, flags } = positionalsAndFlags(argv)
  const [topic, ...extra] = positionals
  if (topic === undefined) throw usageError(`skein produce needs a topic\n\n${PRODUCE_USAGE}`)
  if (extra.length > 0) throw usageError(`unexpected argument '${extra[0]}'`)
  const { values, sources } = readFlags(flags, PRODUCE_FLAGS)
  const acks = parseAcks(values['acks'] as string)
  const separator = values['key-separator']
  if (separator === '') throw usageError('--key-separator must not be empty')
  const partitionText = values['partition']
  if (partitionText !== undefined && !/^\d+$/.test(partitionText)) throw usageError(`--partition must be a partition number, got '${partitionText}'`)
  const partition = partitionText === undefined ? undefined : Number(partitionText)
  const compression = values['compression']
  if (compression !== 'none' && compression !== 'gzip') throw usageError(`--compression must be none or gzip, got '${compression}'`)

  const client = clientFromFlags(values, sources, 'skein-cli-produce')
  // Lines of one key keep their input order: with acks=all the producer is idempotent (the
  // broker refuses a batch that overtook a retried one, and it is sent again in order);
  // otherwise one batch is in flight per partition, so a retry cannot be overtaken.
  const producer = client.producer(acks === 'all' ? { acks, compression, idempotent: true } : { acks, compression, maxInFlightRequests: 1 })
  const progress = new Progress(process.stderr.isTTY === true)
  try {
    // Fail fast on an unknown topic or unreachable cluster, before reading any input.
    await client.admin().describeTopic(topic)
    await sendLines(producer, topic, separator, partition, progress)
    await producer.flush()
  } finally {
    progress.done()
    await client.close()
  }
  process.stderr.write(`produced ${progress.acked} records to ${topic}\n`)
}

async function sendLines(producer: Producer, topic: string, separator: string | undefined, partition: number | undefined, progress: Progress): Promise<void> {
  const pending = new Set<Promise<void>>()
  let failure: unknown
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity })
  for await (const line of lines) {
    if (failure !== undefined) break
    const message = toMessage(line, separator, partition)
    const sent = producer.send({ topic, messages: [message] }).then(
      () => progress.ack(),
      (error: unknown) => {
        failure ??= error
      },
    )
    const tracked = sent.finally(() => pending.delete(tracked))
    pending.add(tracked)
    if (pending.size >= PENDING_RECORDS_MAX) await Promise.race(pending)
  }
  await Promise.all(pending)
  if (failure !== undefined) throw failure
}

function toMessage(line: string, separator: string | undefined, partition: number | undefined): ProducerMessage {
  const at = separator === undefined ? -1 : line.indexOf(separator)
  const base: ProducerMessage = at === -1 ? { value: line } : { key: line.slice(0, at), value: line.slice(at + (separator as string).length) }
  return partition === undefined ? base : { ...base, partition }
}

function parseAcks(text: string): 'all' | 1 | 0 {
  if (text === 'all' || text === '-1') return 'all'
  if (text === '1') return 1
  if (text === '0') return 0
  throw usageError(`--acks must be all, 1 or 0, got '${text}'`)
}

/** A one-line counter on a terminal; silent when stderr is a file or pipe. */
class Progress {
  acked = 0
  private lastDrawMs = 0

  constructor(private readonly enabled: boolean) {}

  ack(): void {
    this.acked++
    if (!this.enabled) return
    const nowMs = performance.now()
    if (nowMs - this.lastDrawMs < PROGRESS_INTERVAL_MS) return
    this.lastDrawMs = nowMs
    process.stderr.write(`\r${this.acked} records acknowledged`)
  }

  done(): void {
    if (this.enabled && this.lastDrawMs > 0) process.stderr.write('\n')
  }
}
