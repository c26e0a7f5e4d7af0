import type { TopicDescription } from '../wire/index.js'
import { usageError } from './args.js'
import { CLIENT_FLAGS, clientFromFlags, positionalsAndFlags, positiveIntegerFlag } from './client-flags.js'
import { describeFlags, type FlagSpec, readFlags } from './flags.js'
import { formatTable } from './table.js'

const CREATE_FLAGS: readonly FlagSpec[] = [
  ...CLIENT_FLAGS,
  { name: 'partitions', env: 'SKEIN_TOPIC_PARTITIONS', placeholder: 'N', defaultValue: '1', help: 'number of partitions' },
  { name: 'replication-factor', env: 'SKEIN_TOPIC_REPLICATION_FACTOR', placeholder: 'N', defaultValue: '1', help: 'replicas of each partition' },
  { name: 'config', env: 'SKEIN_TOPIC_CONFIG', placeholder: 'k=v,...', help: 'topic configs (retention.ms, retention.bytes, max.message.bytes, flush, ...)' },
]

export const TOPIC_USAGE = `Usage: skein topic <create|list|describe|delete> [NAME] [options]

  skein topic create NAME [--partitions N] [--replication-factor N] [--config k=v,...]
  skein topic list
  skein topic describe NAME      partitions: leader, replicas, in-sync replicas, offsets
  skein topic delete NAME

${describeFlags(CREATE_FLAGS)}
`

export async function runTopic(argv: string[]): Promise<void> {
  const { positionals, flags } = positionalsAndFlags(argv)
  const [action, name, ...extra] = positionals
  if (extra.length > 0) throw usageError(`unexpected argument '${extra[0]}'\n\n${TOPIC_USAGE}`)
  const needsName = action === 'create' || action === 'describe' || action === 'delete'
  if (needsName && name === undefined) throw usageError(`skein topic ${action} needs a topic name\n\n${TOPIC_USAGE}`)
  if (action === 'list' && name !== undefined) throw usageError(`skein topic list takes no name, got '${name}'`)
  const { values, sources } = readFlags(flags, action === 'create' ? CREATE_FLAGS : CLIENT_FLAGS)
  if (!needsName && action !== 'list') throw usageError(`unknown topic command '${action ?? ''}'\n\n${TOPIC_USAGE}`)
  const client = clientFromFlags(values, sources, 'skein-cli')
  try {
    const admin = client.admin()
    switch (action) {
      case 'create': {
        const created = await admin.createTopic({
          name: name as string,
          partitions: positiveIntegerFlag('--partitions', values['partitions'], 1),
          replicationFactor: positiveIntegerFlag('--replication-factor', values['replication-factor'], 1),
          configs: parseConfigs(values['config']),
        })
        process.stdout.write(`created topic ${created.name} with ${created.partitions.length} partitions\n`)
        return
      }
      case 'list':
        for (const topic of (await admin.listTopics()).sort()) process.stdout.write(`${topic}\n`)
        return
      case 'describe':
        process.stdout.write(formatTopic(await admin.describeTopic(name as string)))
        return
      case 'delete':
        await admin.deleteTopic(name as string)
        process.stdout.write(`deleted topic ${name}\n`)
        return
    }
  } finally {
    await client.close()
  }
}

function parseConfigs(text: string | undefined): Record<string, string> {
  const configs: Record<string, string> = {}
  for (const item of (text ?? '').split(',').filter((part) => part !== '')) {
    const eq = item.indexOf('=')
    if (eq <= 0) throw usageError(`--config expects name=value items, got '${item}'`)
    configs[item.slice(0, eq)] = item.slice(eq + 1)
  }
  return configs
}

function formatTopic(topic: TopicDescription): string {
  const rows = [['PARTITION', 'LEADER', 'EPOCH', 'REPLICAS', 'ISR', 'LOG START', 'HIGH WATERMARK']]
  for (const p of topic.partitions) {
    rows.push([String(p.partition), p.leader ?? '-', String(p.leaderEpoch), p.replicas.join(','), (p.isr ?? []).join(','), String(p.logStartOffset ?? '-'), String(p.highWatermark ?? '-')])
  }
  const table = formatTable(rows)
  const configs = Object.entries(topic.configs ?? {}).map(([k, v]) => `${k}=${v}`).join(', ')
  const replicationFactor = Math.max(0, ...topic.partitions.map((p) => p.replicas.length))
  return `topic ${topic.name} (id ${topic.topicId}), ${topic.partitions.length} partitions, replication factor ${replicationFactor}${configs === '' ? '' : `\nconfigs: ${configs}`}\n${table}\n`
}
