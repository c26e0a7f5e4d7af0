import { ErrorCode, SkeinError } from '../wire/index.js'
import { parseSeeds, usageError } from './args.js'
import { describeFlags, type FlagSpec, type SwitchSpec, readFlags } from './flags.js'

const STATUS_FLAGS: readonly FlagSpec[] = [
  { name: 'seeds', env: 'SKEIN_SEEDS', placeholder: 'host:port,...', defaultValue: '127.0.0.1:7071', help: 'nodes to ask; the first that answers is used' },
]
const STATUS_SWITCHES: readonly SwitchSpec[] = [{ name: 'json', help: 'print the JSON the node returned' }]

export const STATUS_USAGE = `Usage: skein status [--seeds host:port,...] [--json]

Prints one node's view of the cluster: its members, their state and incarnation, the
metadata quorum's voters, and the partition replicas the node hosts (role, term, offsets).

${describeFlags(STATUS_FLAGS, STATUS_SWITCHES)}
`

/** How long one node may take to answer GET /status. */
const STATUS_REQUEST_TIMEOUT_MS = 3_000

export interface StatusMember {
  id: string
  address: string
  state: string
  incarnation: number
  zone?: string
}

export interface StatusPartition {
  topic: string
  partition: number
  role: string
  term: number
  leader: string | null
  highWatermark: number
  logEndOffset: number
  logStartOffset: number
}

export interface NodeStatus {
  node: string
  members: StatusMember[]
  controllers?: string[] | null
  partitions?: StatusPartition[]
}

export async function runStatus(argv: string[]): Promise<void> {
  const { values, switches } = readFlags(argv, STATUS_FLAGS, STATUS_SWITCHES)
  const seeds = parseSeeds('--seeds', values['seeds'])
  if (seeds.length === 0) throw usageError('--seeds needs at least one host:port')
  const { address, status } = await fetchStatus(seeds)
  process.stdout.write(switches['json'] === true ? `${JSON.stringify(status, null, 2)}\n` : formatStatus(address, status))
}

async function fetchStatus(seeds: readonly string[]): Promise<{ address: string; status: NodeStatus }> {
  const failures: string[] = []
  for (const address of seeds) {
    try {
      const response = await fetch(`http://${address}/status`, { signal: AbortSignal.timeout(STATUS_REQUEST_TIMEOUT_MS) })
      if (!response.ok) throw new Error(`HTTP ${response.status}`)
      return { address, status: (await response.json()) as NodeStatus }
    } catch (err) {
      failures.push(`${address}: ${err instanceof Error ? err.message : String(err)}`)
    }
  }
  throw new SkeinError(ErrorCode.NODE_UNREACHABLE, `no node answered: ${failures.join('; ')}`)
}

/** Members, then (when the node runs a broker) its hosted partitions, as fixed-width tables. */
export function formatStatus(address: string, status: NodeStatus): string {
  const counts = new Map<string, number>()
  for (const m of status.members ?? []) counts.set(m.state, (counts.get(m.state) ?? 0) + 1)
  const summary = [...counts].map(([state, n]) => `${n} ${state}`).join(', ')
  const lines = [`node ${status.node} at ${address}: ${summary || 'no members'}`]
  lines.push(...table(['ID', 'ADDRESS', 'STATE', 'INCARNATION', 'ZONE'], (status.members ?? []).map((m) => [m.id, m.address, m.state, String(m.incarnation), m.zone ?? ''])))
  if (status.controllers !== undefined) lines.push('', `metadata quorum: ${status.controllers === null ? 'not known yet' : status.controllers.join(', ')}`)
  if (status.partitions !== undefined) {
    lines.push('', `partitions hosted: ${status.partitions.length}`)
    if (status.partitions.length > 0) {
      const rows = status.partitions.map((p) => [p.topic, String(p.partition), p.role, String(p.term), p.leader ?? '-', String(p.highWatermark), String(p.logEndOffset), String(p.logStartOffset)])
      lines.push(...table(['TOPIC', 'PARTITION', 'ROLE', 'TERM', 'LEADER', 'HIGH-WATERMARK', 'LOG-END', 'LOG-START'], rows))
    }
  }
  return [...lines, ''].join('\n')
}

/** A fixed-width table, widest cell per column. */
function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd()
  return [line(header), ...rows.map(line)]
}
