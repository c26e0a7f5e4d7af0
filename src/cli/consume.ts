import type { ConsumerMessage } from '../client/index.js'
import { usageError } from './args.js'
import { CLIENT_FLAGS, clientFromFlags, positionalsAndFlags, positiveIntegerFlag } from './client-flags.js'
import { describeFlags, type FlagSpec, type SwitchSpec, readFlags } from './flags.js'

const CONSUME_FLAGS: readonly FlagSpec[] = [
  ...CLIENT_FLAGS,
  { name: 'partition', env: 'SKEIN_PARTITION', placeholder: 'N', help: 'read only this partition (default: all)' },
  { name: 'offset', env: 'SKEIN_OFFSET', placeholder: 'N', help: 'start at this offset (with --partition)' },
  { name: 'max-messages', env: 'SKEIN_MAX_MESSAGES', placeholder: 'N', help: 'exit after this many records' },
  { name: 'timeout-ms', env: 'SKEIN_TIMEOUT_MS', placeholder: 'ms', help: 'exit once no record arrived for this long (default: wait forever)' },
  { name: 'format', env: 'SKEIN_FORMAT', placeholder: 'text', defaultValue: '%v\\n', help: 'kcat-style: %t topic, %p partition, %o offset, %k key, %v value, %T timestamp, %h headers, \\n, \\t' },
]
const CONSUME_SWITCHES: readonly SwitchSpec[] = [{ name: 'from-beginning', help: 'start at the earliest record (default: only new records)' }]

export const CONSUME_USAGE = `Usage: skein consume TOPIC [options]

Prints the topic's records, in order per partition, one --format per record, until
--max-messages, --timeout-ms or Ctrl-C. Consumer groups come with \`skein group\`.

${describeFlags(CONSUME_FLAGS, CONSUME_SWITCHES)}
`

export async function runConsume(argv: string[]): Promise<void> {
  const { positionals, flags } = positionalsAndFlags(argv)
  const [topic, ...extra] = positionals
  if (topic === undefined) throw usageError(`skein consume needs a topic\n\n${CONSUME_USAGE}`)
  if (extra.length > 0) throw usageError(`unexpected argument '${extra[0]}'`)
  const { values, sources, switches } = readFlags(flags, CONSUME_FLAGS, CONSUME_SWITCHES)
  const maxMessages = values['max-messages'] === undefined ? Infinity : positiveIntegerFlag('--max-messages', values['max-messages'], 1)
  const idleMs = values['timeout-ms'] === undefined ? undefined : positiveIntegerFlag('--timeout-ms', values['timeout-ms'], 1)
  const onlyPartition = values['partition'] === undefined ? undefined : nonNegativeInteger('--partition', values['partition'])
  const startOffset = values['offset'] === undefined ? undefined : nonNegativeInteger('--offset', values['offset'])
  if (startOffset !== undefined && onlyPartition === undefined) throw usageError('--offset needs --partition')
  const format = compileFormat(values['format'] as string)

  const client = clientFromFlags(values, sources, 'skein-cli-consume')
  const consumer = client.consumer({ fromBeginning: switches['from-beginning'] === true })
  let idleTimer: NodeJS.Timeout | undefined
  const stopOnSignal = (): void => void consumer.close()
  process.once('SIGINT', stopOnSignal)
  try {
    const described = await client.admin().describeTopic(topic)
    const partitions = described.partitions.map((p) => p.partition).filter((p) => onlyPartition === undefined || p === onlyPartition)
    if (partitions.length === 0) throw usageError(`topic ${topic} has no partition ${onlyPartition}`)
    consumer.assign(partitions.map((partition) => (startOffset === undefined ? { topic, partition } : { topic, partition, offset: startOffset })))
    const armIdle = (): void => {
      if (idleMs === undefined) return
      clearTimeout(idleTimer)
      idleTimer = setTimeout(() => void consumer.close(), idleMs)
    }
    armIdle()
    let printed = 0
    for await (const message of consumer) {
      process.stdout.write(format(message))
      printed++
      if (printed >= maxMessages) break
      armIdle()
    }
    process.stderr.write(`consumed ${printed} records\n`)
  } finally {
    clearTimeout(idleTimer)
    process.removeListener('SIGINT', stopOnSignal)
    await consumer.close()
    await client.close()
  }
}

function nonNegativeInteger(flag: string, text: string): number {
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text))) throw usageError(`${flag} must be a non-negative integer, got '${text}'`)
  return Number(text)
}

/** Turns a kcat-style format into a function of a record, checked once up front. */
export function compileFormat(format: string): (message: ConsumerMessage) => string {
  const parts: ((message: ConsumerMessage) => string)[] = []
  for (let i = 0; i < format.length; i++) {
    const char = format[i] as string
    const next = format[i + 1]
    if ((char === '%' || char === '\\') && next !== undefined) {
      const piece = char === '%' ? PLACEHOLDERS[next] : ESCAPES[next]
      if (piece === undefined) throw usageError(`--format: unknown ${char}${next} (use %t %p %o %k %v %T %h, \\n \\t \\\\, %%)`)
      parts.push(piece)
      i++
    } else {
      parts.push(() => char)
    }
  }
  return (message) => parts.map((part) => part(message)).join('')
}

const text = (bytes: Buffer | null): string => (bytes === null ? '' : bytes.toString('utf8'))

const PLACEHOLDERS: Record<string, (message: ConsumerMessage) => string> = {
  t: (m) => m.topic,
  p: (m) => String(m.partition),
  o: (m) => String(m.offset),
  k: (m) => text(m.key),
  v: (m) => text(m.value),
  T: (m) => String(m.timestamp),
  h: (m) => Object.entries(m.headers).map(([name, value]) => `${name}=${text(value)}`).join(','),
  '%': () => '%',
}
const ESCAPES: Record<string, () => string> = { n: () => '\n', t: () => '\t', '\\': () => '\\' }
