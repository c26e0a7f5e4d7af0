import type { ConsumerConfig, ConsumerMessage } from '../client/index.js'
import { usageError } from './args.js'
import { CLIENT_FLAGS, clientFromFlags, nonNegativeIntegerFlag, positionalsAndFlags, positiveIntegerFlag } from './client-flags.js'
import { describeFlags, type FlagSpec, type SwitchSpec, readFlags } from './flags.js'

const CONSUME_FLAGS: readonly FlagSpec[] = [
  ...CLIENT_FLAGS,
  { name: 'partition', env: 'SKEIN_PARTITION', placeholder: 'N', help: 'read only this partition (default: all)' },
  { name: 'offset', env: 'SKEIN_OFFSET', placeholder: 'N', help: 'start at this offset (with --partition)' },
  { name: 'max-messages', env: 'SKEIN_MAX_MESSAGES', placeholder: 'N', help: 'exit after this many records' },
  { name: 'timeout-ms', env: 'SKEIN_TIMEOUT_MS', placeholder: 'ms', help: 'exit once no record arrived for this long (default: wait forever)' },
  { name: 'group', env: 'SKEIN_GROUP', placeholder: 'id', help: 'read as a member of this consumer group: partitions shared with its other members, offsets committed (at least once)' },
  { name: 'session-timeout-ms', env: 'SKEIN_SESSION_TIMEOUT_MS', placeholder: 'ms', help: 'with --group: silent this long, the member is dropped (default 30000)' },
  { name: 'heartbeat-interval-ms', env: 'SKEIN_HEARTBEAT_INTERVAL_MS', placeholder: 'ms', help: 'with --group: heartbeat period (default 3000)' },
  { name: 'assignors', env: 'SKEIN_ASSIGNORS', placeholder: 'names', help: 'with --group: cooperative-sticky, range, roundrobin; preferred first (default cooperative-sticky,range)' },
  { name: 'auto-commit-interval-ms', env: 'SKEIN_AUTO_COMMIT_INTERVAL_MS', placeholder: 'ms', help: 'with --group: commit what was printed this often (default 5000)' },
  { name: 'instance-id', env: 'SKEIN_INSTANCE_ID', placeholder: 'id', help: 'with --group: static membership; a restart within the session keeps the partitions' },
  { name: 'format', env: 'SKEIN_FORMAT', placeholder: 'text', defaultValue: '%v\\n', help: 'kcat-style: %t topic, %p partition, %o offset, %k key, %v value, %T timestamp, %h headers, \\n, \\t' },
]
const CONSUME_SWITCHES: readonly SwitchSpec[] = [{ name: 'from-beginning', help: 'start at the earliest record (default: only new records)' }]

export const CONSUME_USAGE = `Usage: skein consume TOPIC [options]

Prints the topic's records, in order per partition, one --format per record, until
--max-messages, --timeout-ms or Ctrl-C. With --group it reads as a member of a consumer
group: it starts where the group committed (else per --from-beginning), commits what it
printed (at least once), and reports each rebalance on stderr ("assigned: t/0,t/1",
"revoked: ..."). \`skein group\` lists and describes groups.

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
  const onlyPartition = values['partition'] === undefined ? undefined : nonNegativeIntegerFlag('--partition', values['partition'])
  const startOffset = values['offset'] === undefined ? undefined : nonNegativeIntegerFlag('--offset', values['offset'])
  if (startOffset !== undefined && onlyPartition === undefined) throw usageError('--offset needs --partition')
  const format = compileFormat(values['format'] as string)
  const groupId = values['group']
  if (groupId !== undefined && onlyPartition !== undefined) throw usageError('--partition and --group exclude each other: the group assigns the partitions')
  const groupConfig = groupId === undefined ? {} : groupSettings(groupId, values)

  const client = clientFromFlags(values, sources, 'skein-cli-consume')
  const consumer = client.consumer({ fromBeginning: switches['from-beginning'] === true, ...groupConfig })
  const lastPrinted = new Map<number, number>()
  let idleTimer: NodeJS.Timeout | undefined
  const stopOnSignal = (): void => void consumer.close()
  process.once('SIGINT', stopOnSignal)
  try {
    const described = await client.admin().describeTopic(topic)
    if (groupId !== undefined) {
      const show = (what: string) => (partitions: { topic: string; partition: number }[]): void => {
        process.stderr.write(`${what}: ${partitions.map((tp) => `${tp.topic}/${tp.partition}`).join(',')}\n`)
      }
      consumer.subscribe([described.name], { onAssigned: show('assigned'), onRevoked: show('revoked'), onLost: show('lost') })
    } else {
      const partitions = described.partitions.map((p) => p.partition).filter((p) => onlyPartition === undefined || p === onlyPartition)
      if (partitions.length === 0) throw usageError(`topic ${topic} has no partition ${onlyPartition}`)
      consumer.assign(partitions.map((partition) => (startOffset === undefined ? { topic, partition } : { topic, partition, offset: startOffset })))
    }
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
      lastPrinted.set(message.partition, message.offset)
      if (printed >= maxMessages) break
      armIdle()
    }
    // The record the loop broke on counts as processed only once the iterator resumes, which it
    // will not: commit it here, so the group does not print it again.
    if (groupId !== undefined && printed >= maxMessages) await consumer.commit([...lastPrinted].map(([partition, offset]) => ({ topic, partition, offset: offset + 1 })))
    process.stderr.write(`consumed ${printed} records\n`)
  } finally {
    clearTimeout(idleTimer)
    process.removeListener('SIGINT', stopOnSignal)
    await consumer.close()
    await client.close()
  }
}

function groupSettings(groupId: string, values: Record<string, string | undefined>): Partial<ConsumerConfig> {
  const assignors = values['assignors']?.split(',').filter((name) => name !== '')
  const known = ['cooperative-sticky', 'range', 'roundrobin']
  const unknown = assignors?.find((name) => !known.includes(name))
  if (unknown !== undefined) throw usageError(`--assignors: unknown assignor '${unknown}' (known: ${known.join(', ')})`)
  const optional = (flag: string): number | undefined => (values[flag] === undefined ? undefined : positiveIntegerFlag(`--${flag}`, values[flag], 1))
  const settings: Partial<ConsumerConfig> = { groupId }
  const sessionTimeoutMs = optional('session-timeout-ms')
  const heartbeatIntervalMs = optional('heartbeat-interval-ms')
  const autoCommitIntervalMs = optional('auto-commit-interval-ms')
  if (sessionTimeoutMs !== undefined) settings.sessionTimeoutMs = sessionTimeoutMs
  if (heartbeatIntervalMs !== undefined) settings.heartbeatIntervalMs = heartbeatIntervalMs
  if (autoCommitIntervalMs !== undefined) settings.autoCommitIntervalMs = autoCommitIntervalMs
  if (assignors !== undefined && assignors.length > 0) settings.assignors = assignors as ConsumerConfig['assignors']
  if (values['instance-id'] !== undefined) settings.groupInstanceId = values['instance-id']
  return settings
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
