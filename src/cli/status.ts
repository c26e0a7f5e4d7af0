import { ErrorCode, SkeinError } from '../wire/index.js'
import { parseSeeds, usageError } from './args.js'
import { describeFlags, type FlagSpec, type SwitchSpec, readFlags } from './flags.js'

const STATUS_FLAGS: readonly FlagSpec[] = [
  { name: 'seeds', env: 'SKEIN_SEEDS', placeholder: 'host:port,...', defaultValue: '127.0.0.1:7071', help: 'nodes to ask; the first that answers is used' },
]
const STATUS_SWITCHES: readonly SwitchSpec[] = [{ name: 'json', help: 'print the JSON the node returned' }]

export const STATUS_USAGE = `Usage: skein status [--seeds host:port,...] [--json]

Prints one node's view of the cluster: its members, their state and incarnation.

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

export interface NodeStatus {
  node: string
  members: StatusMember[]
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

/** A fixed-width table, widest cell per column. */
export function formatStatus(address: string, status: NodeStatus): string {
  const header = ['ID', 'ADDRESS', 'STATE', 'INCARNATION', 'ZONE']
  const rows = (status.members ?? []).map((m) => [m.id, m.address, m.state, String(m.incarnation), m.zone ?? ''])
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd()
  const counts = new Map<string, number>()
  for (const m of status.members ?? []) counts.set(m.state, (counts.get(m.state) ?? 0) + 1)
  const summary = [...counts].map(([state, n]) => `${n} ${state}`).join(', ')
  return [`node ${status.node} at ${address}: ${summary || 'no members'}`, line(header), ...rows.map(line), ''].join('\n')
}
