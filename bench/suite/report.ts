/**
 * The suite's results and their tables: what a run stores (SuiteResult, written as JSON), the
 * targets and peer ratios the issue sets and their verdicts, and Markdown tables of them. Pure:
 * no I/O here, so tests can hold every judgement and every table to account.
 */
import type { SystemName } from './system.js'
import type { Profile, WorkloadFigures, WorkloadId, WorkloadSpec } from './workloads.js'

/** One system on one workload. */
export interface CellResult {
  readonly system: SystemName
  readonly workload: WorkloadId
  readonly outcome: 'ok' | 'error'
  readonly figures?: WorkloadFigures
  readonly error?: string
  readonly durationMs: number
}

export interface SystemStatus {
  readonly name: SystemName
  /** Why the system was skipped; undefined when it ran. */
  readonly skipped?: string
  /** How the adapter made durability comparable (from the adapter module's `durability` export). */
  readonly durability?: string
}

export interface SuiteResult {
  readonly suite: 'suite'
  readonly startedAt: string
  readonly profile: Profile
  readonly machine: { readonly platform: string; readonly node: string; readonly cpus: number; readonly memoryMB: number }
  readonly systems: readonly SystemStatus[]
  readonly workloads: readonly WorkloadSpec[]
  readonly cells: readonly CellResult[]
}

// ---------------------------------------------------------------------------------------------
// Targets and ratios

export type Verdict = 'met' | 'missed' | 'n/a'

export interface Target {
  readonly workload: WorkloadId
  readonly metric: 'recordsPerSec' | 'p99Ms'
  /** recordsPerSec: at least this; p99Ms: at most this. */
  readonly bound: number
  readonly text: string
}

/** The issue's targets for skein (100-byte records, a 2-core machine). */
export const TARGETS: readonly Target[] = [
  { workload: 'a', metric: 'recordsPerSec', bound: 1_000_000, text: '(a) 1 producer, 1 node: >= 1,000,000 rec/s' },
  { workload: 'b', metric: 'recordsPerSec', bound: 300_000, text: '(b) 1 producer, 3 nodes RF3 acks=all: >= 300,000 rec/s' },
  { workload: 'd', metric: 'recordsPerSec', bound: 1_500_000, text: '(d) 1 consumer: >= 1,500,000 rec/s' },
  { workload: 'f10k', metric: 'p99Ms', bound: 5, text: '(f) end-to-end p99 at 10k/s, RF3: <= 5 ms' },
]

/** skein's throughput must be at least this many times each peer's, on every throughput workload. */
export const PEER_THROUGHPUT_RATIO_MIN: Readonly<Partial<Record<SystemName, number>>> = { redis: 3, rabbitmq: 10 }

export interface TargetVerdict {
  readonly target: Target
  readonly measured: number
  readonly verdict: Verdict
}

export interface PeerVerdict {
  readonly workload: WorkloadId
  readonly peer: SystemName
  /** 'throughput': skein rec/s ÷ peer rec/s (higher is better); 'latency': skein p99 ÷ peer p99 (lower is better). */
  readonly kind: 'throughput' | 'latency'
  readonly skein: number
  readonly other: number
  readonly ratio: number
  /** The requirement, as printed: "≥ 3×", "no worse" (latency: ratio ≤ 1), or "" (none). */
  readonly requirement: string
  readonly verdict: Verdict
}

export function cellOf(cells: readonly CellResult[], system: SystemName, workload: WorkloadId): CellResult | undefined {
  return cells.find((cell) => cell.system === system && cell.workload === workload)
}

function metricOf(cell: CellResult | undefined, metric: Target['metric']): number {
  const figures = cell?.outcome === 'ok' ? cell.figures : undefined
  if (figures === undefined) return Number.NaN
  return metric === 'recordsPerSec' ? figures.recordsPerSec : (figures.latency?.p99Ms ?? Number.NaN)
}

export function judgeTargets(cells: readonly CellResult[]): TargetVerdict[] {
  return TARGETS.map((target) => {
    const measured = metricOf(cellOf(cells, 'skein', target.workload), target.metric)
    if (!Number.isFinite(measured)) return { target, measured, verdict: 'n/a' }
    const met = target.metric === 'recordsPerSec' ? measured >= target.bound : measured <= target.bound
    return { target, measured, verdict: met ? 'met' : 'missed' }
  })
}

/** skein against each peer on every workload both have a figure for (or either tried). */
export function judgePeers(cells: readonly CellResult[], workloads: readonly WorkloadSpec[], peers: readonly SystemName[]): PeerVerdict[] {
  const verdicts: PeerVerdict[] = []
  for (const spec of workloads) {
    for (const peer of peers) {
      if (peer === 'skein' || cellOf(cells, peer, spec.id) === undefined) continue
      const kind = spec.kind === 'latency' ? 'latency' : 'throughput'
      const metric = kind === 'latency' ? 'p99Ms' : 'recordsPerSec'
      const skein = metricOf(cellOf(cells, 'skein', spec.id), metric)
      const other = metricOf(cellOf(cells, peer, spec.id), metric)
      const ratio = skein / other
      const minimum = kind === 'throughput' ? PEER_THROUGHPUT_RATIO_MIN[peer] : 1
      const requirement = minimum === undefined ? '' : kind === 'latency' ? 'no worse' : `≥ ${minimum}×`
      let verdict: Verdict = 'n/a'
      if (minimum !== undefined && Number.isFinite(ratio)) verdict = (kind === 'latency' ? ratio <= minimum : ratio >= minimum) ? 'met' : 'missed'
      verdicts.push({ workload: spec.id, peer, kind, skein, other, ratio, requirement, verdict })
    }
  }
  return verdicts
}

// ---------------------------------------------------------------------------------------------
// Formatting

export function formatRate(value: number): string {
  return Number.isFinite(value) ? Math.round(value).toLocaleString('en-US') : 'n/a'
}

export function formatMs(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return ''
  return value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2)
}

function formatFixed(value: number | undefined, digits: number): string {
  return value === undefined || !Number.isFinite(value) ? 'n/a' : value.toFixed(digits)
}

function formatRatio(value: number): string {
  if (!Number.isFinite(value)) return 'n/a'
  return value >= 10 ? `${value.toFixed(0)}×` : `${value.toFixed(2)}×`
}

/** A Markdown table; `align` per column, 'l' or 'r'. Pipes in cells are escaped. */
export function markdownTable(header: readonly string[], align: readonly ('l' | 'r')[], rows: readonly (readonly string[])[]): string {
  if (align.length !== header.length) throw new Error(`align has ${align.length} columns, header ${header.length}`)
  const escape = (text: string): string => text.replace(/\|/g, '\\|').replace(/\n/g, ' ')
  const line = (cells: readonly string[]): string => `| ${cells.map(escape).join(' | ')} |`
  const lines = [line(header), `| ${align.map((a) => (a === 'r' ? '---:' : '---')).join(' | ')} |`]
  for (const row of rows) {
    if (row.length !== header.length) throw new Error(`row has ${row.length} cells, header ${header.length}: ${row.join(', ')}`)
    lines.push(line(row))
  }
  return lines.join('\n')
}

/** What a workload's latency columns measure, as a column value. */
function latencyKind(figures: WorkloadFigures): string {
  if (figures.latency === undefined) return ''
  return figures.latency.what === 'send' ? 'send() ack' : 'end-to-end'
}

/** One row of the results table (also printed alone as each workload finishes). */
export function resultRow(spec: WorkloadSpec, cell: CellResult): string[] {
  if (cell.outcome !== 'ok' || cell.figures === undefined) return [spec.title, cell.system, `error: ${cell.error ?? 'unknown'}`, ...RESULT_HEADER.slice(3).map(() => '')]
  const f = cell.figures
  let rate = f.produced !== undefined && f.consumed !== undefined ? `${formatRate(f.produced.recordsPerSec)} in / ${formatRate(f.consumed.recordsPerSec)} out` : formatRate(f.recordsPerSec)
  if (f.sendErrors > 0) rate += ` (${f.sendErrors} sends failed)`
  return [
    spec.title,
    cell.system,
    rate,
    formatFixed(f.mbPerSec, 1),
    latencyKind(f),
    formatMs(f.latency?.p50Ms),
    formatMs(f.latency?.p99Ms),
    formatMs(f.latency?.p999Ms),
    formatMs(f.latency?.maxMs),
    formatFixed(f.resources.serverRssMBPeak, 0),
    formatFixed(f.resources.serverCpuPercent, 0),
    formatFixed(f.resources.clientCpuPercent, 0),
    formatFixed(f.resources.otherCpuPercent, 0),
  ]
}

export const RESULT_HEADER = ['workload', 'system', 'records/s', 'MB/s', 'latency of', 'p50 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'server peak RSS MB', 'server CPU %', 'client CPU %', 'other CPU %'] as const
const RESULT_ALIGN = ['l', 'l', 'r', 'r', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'] as const

export function resultsTable(result: SuiteResult): string {
  const rows: string[][] = []
  for (const spec of result.workloads) {
    for (const system of result.systems) {
      const cell = cellOf(result.cells, system.name, spec.id)
      if (cell !== undefined) rows.push(resultRow(spec, cell))
    }
  }
  return markdownTable(RESULT_HEADER, RESULT_ALIGN, rows)
}

export function targetsTable(verdicts: readonly TargetVerdict[]): string {
  const show = (target: Target, measured: number): string => {
    if (!Number.isFinite(measured)) return 'n/a'
    return target.metric === 'recordsPerSec' ? `${formatRate(measured)} rec/s` : `p99 ${formatMs(measured)} ms`
  }
  const rows = verdicts.map(({ target, measured, verdict }) => [target.text, show(target, measured), verdict])
  return markdownTable(['target (skein)', 'measured', 'verdict'], ['l', 'r', 'l'], rows)
}

/** Rows: workloads; per peer, its figure and skein ÷ peer with the requirement's verdict. */
export function ratioTable(verdicts: readonly PeerVerdict[], workloads: readonly WorkloadSpec[], peers: readonly SystemName[]): string {
  const header = ['workload', 'skein']
  const align: ('l' | 'r')[] = ['l', 'r']
  for (const peer of peers) {
    header.push(peer, `skein/${peer}`)
    align.push('r', 'l')
  }
  const rows: string[][] = []
  for (const spec of workloads) {
    const mine = verdicts.filter((v) => v.workload === spec.id)
    if (mine.length === 0) continue
    const show = (v: PeerVerdict | undefined, value: number): string => (v === undefined ? '' : v.kind === 'latency' ? `p99 ${formatMs(value) || 'n/a'} ms` : formatRate(value))
    const row = [spec.title, show(mine[0], (mine[0] as PeerVerdict).skein)]
    for (const peer of peers) {
      const v = mine.find((m) => m.peer === peer)
      row.push(show(v, v?.other ?? Number.NaN), v === undefined ? '' : `${formatRatio(v.ratio)}${v.requirement === '' ? '' : ` ${v.verdict} (${v.requirement})`}`)
    }
    rows.push(row)
  }
  return markdownTable(header, align, rows)
}

export function durabilityTable(systems: readonly SystemStatus[]): string {
  return markdownTable(['system', 'durability settings in this run'], ['l', 'l'], systems.map((s) => [s.name, s.skipped === undefined ? (s.durability ?? 'see the adapter (bench/suite/systems/)') : `skipped: ${s.skipped}`]))
}

/** Every table of a finished run, as printed at the end. */
export function finalReport(result: SuiteResult): string {
  const ran = result.systems.filter((s) => s.skipped === undefined).map((s) => s.name)
  const peers = ran.filter((name) => name !== 'skein')
  const parts = [
    `## Results (${result.profile.name} profile; ${result.machine.cpus} CPUs, node ${result.machine.node})`,
    resultsTable(result),
    '',
    'Latency columns: "send() ack" is one send() of the workload\'s records until acknowledged (closed loop); "end-to-end" is from when a record was due (open loop, fixed rate) to when the consumer had it. Server peak RSS: the largest sum of the servers\' VmRSS sampled every 200 ms in the window. CPU in % of one core over the window: the servers (with their child processes), this client (producers and consumers), and everything else on the machine (other load sharing the CPUs).',
    '',
    '## Targets',
    targetsTable(judgeTargets(result.cells)),
  ]
  if (peers.length > 0) {
    parts.push('', '## skein / peer (same machine, same run)', ratioTable(judgePeers(result.cells, result.workloads, peers), result.workloads, peers))
    parts.push('', 'Throughput: skein records/s ÷ the peer\'s (higher is better; skein must be ≥ 3× Redis and ≥ 10× RabbitMQ). Latency: skein p99 ÷ the peer\'s (lower is better; skein must be no worse than any peer).')
  }
  const skipped = result.systems.filter((s) => s.skipped !== undefined)
  for (const s of skipped) parts.push('', `(${s.name} skipped: ${s.skipped})`)
  parts.push('', '## Durability', durabilityTable(result.systems))
  const notes = result.cells.flatMap((cell) => (cell.figures?.notes ?? []).map((note) => `- ${cell.system} ${cell.workload}: ${note}`))
  if (notes.length > 0) parts.push('', '## Notes', ...notes)
  return `${parts.join('\n')}\n`
}
