import type { GroupDescription, OffsetResetTarget } from '../client/admin.js'
import { usageError } from './args.js'
import { CLIENT_FLAGS, clientFromFlags, nonNegativeIntegerFlag, positionalsAndFlags } from './client-flags.js'
import { type FlagSpec, type SwitchSpec, describeFlags, readFlags } from './flags.js'
import { formatTable } from './table.js'

const RESET_FLAGS: readonly FlagSpec[] = [
  ...CLIENT_FLAGS,
  { name: 'topic', env: 'SKEIN_TOPIC', placeholder: 'name', help: 'the topic whose offsets to move (reset-offsets)' },
  { name: 'partition', env: 'SKEIN_PARTITION', placeholder: 'N', help: 'only this partition (default: all of the topic)' },
  { name: 'to-offset', env: 'SKEIN_TO_OFFSET', placeholder: 'N', help: 'move to this offset' },
  { name: 'to-timestamp', env: 'SKEIN_TO_TIMESTAMP', placeholder: 'ms', help: 'move to the first record at or after this time (ms since 1970)' },
]
const RESET_SWITCHES: readonly SwitchSpec[] = [
  { name: 'to-earliest', help: 'move to the start of each log' },
  { name: 'to-latest', help: 'move to the end of each log (skip everything not yet read)' },
]

export const GROUP_USAGE = `Usage: skein group <list|describe|reset-offsets> [GROUP] [options]

  skein group list                       every group with members or committed offsets
  skein group describe GROUP             state, members, and per partition: committed offset, end, lag, owner
  skein group reset-offsets GROUP --topic T (--to-earliest | --to-latest | --to-offset N | --to-timestamp MS) [--partition N]
                                         the group must have no members (stop its consumers first)

${describeFlags(RESET_FLAGS, RESET_SWITCHES)}
`

export async function runGroup(argv: string[]): Promise<void> {
  const { positionals, flags } = positionalsAndFlags(argv)
  const [action, groupId, ...extra] = positionals
  if (extra.length > 0) throw usageError(`unexpected argument '${extra[0]}'\n\n${GROUP_USAGE}`)
  if (action !== 'list' && action !== 'describe' && action !== 'reset-offsets') throw usageError(`unknown group command '${action ?? ''}'\n\n${GROUP_USAGE}`)
  if (action === 'list' && groupId !== undefined) throw usageError(`skein group list takes no group, got '${groupId}'`)
  if (action !== 'list' && groupId === undefined) throw usageError(`skein group ${action} needs a group id\n\n${GROUP_USAGE}`)
  const resetting = action === 'reset-offsets'
  const { values, sources, switches } = readFlags(flags, resetting ? RESET_FLAGS : CLIENT_FLAGS, resetting ? RESET_SWITCHES : [])
  const reset = resetting ? resetRequest(values, switches) : undefined
  const client = clientFromFlags(values, sources, 'skein-cli')
  try {
    const admin = client.admin()
    if (action === 'list') {
      const groups = await admin.listGroups()
      const rows = [['GROUP', 'STATE', 'MEMBERS'], ...groups.map((g) => [g.groupId, g.state, String(g.members)])]
      process.stdout.write(groups.length === 0 ? 'no groups\n' : `${formatTable(rows)}\n`)
      return
    }
    if (action === 'describe') {
      process.stdout.write(formatGroup(await admin.describeGroup(groupId as string)))
      return
    }
    const { topic, to, partitions } = reset as NonNullable<typeof reset>
    const moved = await admin.resetOffsets({ groupId: groupId as string, topic, to, ...(partitions === undefined ? {} : { partitions }) })
    const rows = [['TOPIC', 'PARTITION', 'NEW OFFSET'], ...moved.map((m) => [m.topic, String(m.partition), String(m.offset)])]
    process.stdout.write(`${formatTable(rows)}\n`)
  } finally {
    await client.close()
  }
}

function resetRequest(values: Record<string, string | undefined>, switches: Record<string, boolean>): { topic: string; to: OffsetResetTarget; partitions: number[] | undefined } {
  const topic = values['topic']
  if (topic === undefined) throw usageError('skein group reset-offsets needs --topic')
  const targets: OffsetResetTarget[] = []
  if (switches['to-earliest'] === true) targets.push('earliest')
  if (switches['to-latest'] === true) targets.push('latest')
  if (values['to-offset'] !== undefined) targets.push(nonNegativeIntegerFlag('--to-offset', values['to-offset']))
  if (values['to-timestamp'] !== undefined) targets.push({ timestamp: nonNegativeIntegerFlag('--to-timestamp', values['to-timestamp']) })
  if (targets.length !== 1) throw usageError('skein group reset-offsets needs exactly one of --to-earliest, --to-latest, --to-offset, --to-timestamp')
  const partition = values['partition']
  return { topic, to: targets[0] as OffsetResetTarget, partitions: partition === undefined ? undefined : [nonNegativeIntegerFlag('--partition', partition)] }
}


function formatGroup(group: GroupDescription): string {
  const header = `group ${group.groupId}: ${group.state}, generation ${group.generation}, ${group.members.length} members${group.assignor === undefined ? '' : `, assignor ${group.assignor}`}${group.leaderId === undefined ? '' : `, leader ${group.leaderId}`}`
  const members = group.members.map((m) => `  ${m.memberId}${m.groupInstanceId === undefined ? '' : ` (instance ${m.groupInstanceId})`}: ${m.assignment.map((tp) => `${tp.topic}/${tp.partition}`).join(', ') || 'nothing assigned'}`)
  const rows = [['TOPIC', 'PARTITION', 'COMMITTED', 'END', 'LAG', 'MEMBER']]
  for (const p of group.partitions) rows.push([p.topic, String(p.partition), p.committedOffset === undefined ? '-' : String(p.committedOffset), String(p.endOffset), String(p.lag), p.memberId ?? '-'])
  return `${header}\n${members.length === 0 ? '' : `members:\n${members.join('\n')}\n`}${formatTable(rows)}\n`
}
