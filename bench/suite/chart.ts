/**
 * The suite's chart: one self-contained SVG (hand-written, no dependencies) that any browser
 * opens. Top panel: throughput (records/s, log scale) of each throughput workload, one bar per
 * system. Bottom panel: end-to-end latency of the latency workloads, three bars per system
 * (p50, p99, p99.9; ms, log scale). skein's targets are dashed lines across their workloads.
 * A system × workload without a figure shows "error" or
 * nothing (not run). Every bar carries a <title> (its figure, shown on hover) and data-system /
 * data-workload attributes.
 */
import { cellOf, formatMs, formatRate, type SuiteResult, TARGETS } from './report.js'
import type { SystemName } from './system.js'
import type { WorkloadSpec } from './workloads.js'

const WIDTH = 1100
const MARGIN_LEFT = 80
const MARGIN_RIGHT = 30
const TITLE_HEIGHT = 60
const PANEL_HEIGHT = 300
const AXIS_LABEL_HEIGHT = 60
const PANEL_GAP = 50
const LEGEND_HEIGHT = 40

export const SYSTEM_COLORS: Readonly<Record<SystemName, string>> = { skein: '#2b8a3e', redis: '#c92a2a', nats: '#1971c2', rabbitmq: '#e67700' }
/** The axis reaches this factor past the tallest bar, so the rotated label above it fits in the panel. */
const LABEL_HEADROOM = 4
/** A white outline under text, so labels stay readable over bars and lines. */
const HALO = 'stroke="#ffffff" stroke-width="3" stroke-opacity="0.85" paint-order="stroke"'
/** Opacity of the p50, p99 and p99.9 bars of one system. */
const PERCENTILE_OPACITY = [0.45, 0.75, 1] as const
const PERCENTILES = [
  ['p50', 'p50Ms'],
  ['p99', 'p99Ms'],
  ['p99.9', 'p999Ms'],
] as const

export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}

/** 1234567 → "1.23M", 45600 → "45.6k". */
export function shortNumber(value: number): string {
  if (!Number.isFinite(value)) return 'n/a'
  if (value >= 1e6) return `${(value / 1e6).toPrecision(3)}M`
  if (value >= 1e3) return `${(value / 1e3).toPrecision(3)}k`
  return value.toPrecision(3)
}

/** A log10 axis from the decade at or below `min` to the decade at or above `max`. */
export function logAxis(min: number, max: number): { low: number; high: number; decades: number[] } {
  const low = Math.floor(Math.log10(Math.max(min, 1e-9)))
  const high = Math.max(low + 1, Math.ceil(Math.log10(Math.max(max, 1e-9))))
  return { low, high, decades: Array.from({ length: high - low + 1 }, (_, i) => low + i) }
}

interface Panel {
  readonly top: number
  readonly axis: ReturnType<typeof logAxis>
}

function yOf(panel: Panel, value: number): number {
  const fraction = (Math.log10(value) - panel.axis.low) / (panel.axis.high - panel.axis.low)
  return panel.top + PANEL_HEIGHT - Math.max(0, Math.min(1, fraction)) * PANEL_HEIGHT
}

function gridAndAxis(panel: Panel, format: (value: number) => string, label: string): string[] {
  const parts: string[] = []
  const right = WIDTH - MARGIN_RIGHT
  for (const decade of panel.axis.decades) {
    const y = yOf(panel, 10 ** decade)
    parts.push(`<line x1="${MARGIN_LEFT}" y1="${y.toFixed(1)}" x2="${right}" y2="${y.toFixed(1)}" stroke="#dee2e6" stroke-width="1"/>`)
    parts.push(`<text x="${MARGIN_LEFT - 8}" y="${(y + 4).toFixed(1)}" text-anchor="end" font-size="12" fill="#495057">${escapeXml(format(10 ** decade))}</text>`)
  }
  const bottom = panel.top + PANEL_HEIGHT
  parts.push(`<line x1="${MARGIN_LEFT}" y1="${bottom}" x2="${right}" y2="${bottom}" stroke="#495057" stroke-width="1"/>`)
  const middle = panel.top + PANEL_HEIGHT / 2
  parts.push(`<text x="18" y="${middle}" transform="rotate(-90 18 ${middle})" text-anchor="middle" font-size="13" fill="#212529">${escapeXml(label)}</text>`)
  return parts
}

function barWithLabel(x: number, width: number, panel: Panel, value: number, color: string, opacity: number, cls: string, data: string, title: string, label: string): string[] {
  const y = yOf(panel, value)
  const bottom = panel.top + PANEL_HEIGHT
  const parts = [
    `<rect class="${cls}" ${data} x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${width.toFixed(1)}" height="${Math.max(0.5, bottom - y).toFixed(1)}" fill="${color}" fill-opacity="${opacity}"><title>${escapeXml(title)}</title></rect>`,
  ]
  if (label !== '') {
    const cx = x + width / 2
    const ly = y - 4
    parts.push(`<text x="${cx.toFixed(1)}" y="${ly.toFixed(1)}" transform="rotate(-90 ${cx.toFixed(1)} ${ly.toFixed(1)})" font-size="10" fill="#212529" ${HALO}>${escapeXml(label)}</text>`)
  }
  return parts
}

function missingMark(x: number, width: number, panel: Panel, text: string, title: string): string {
  const cx = x + width / 2
  const y = panel.top + PANEL_HEIGHT - 6
  return `<text class="missing" x="${cx.toFixed(1)}" y="${y}" transform="rotate(-90 ${cx.toFixed(1)} ${y})" font-size="10" fill="#868e96">${escapeXml(text)}<title>${escapeXml(title)}</title></text>`
}

/** Splits `text` at spaces into lines of at most `width` characters (a longer word stays whole). */
export function wrapWords(text: string, width: number): string[] {
  const lines: string[] = []
  let line = ''
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line)
      line = word
    } else {
      line = line === '' ? word : `${line} ${word}`
    }
  }
  if (line !== '') lines.push(line)
  return lines
}

/** The workload's id in bold, and its title (less the "x: " head) in small lines under it. */
function groupLabel(x: number, width: number, panel: Panel, spec: WorkloadSpec): string {
  const cx = x + width / 2
  const y = panel.top + PANEL_HEIGHT + 16
  const tail = spec.title.includes(': ') ? spec.title.slice(spec.title.indexOf(': ') + 2) : spec.title
  const lines = wrapWords(tail, Math.max(8, Math.floor(width / 6.2)))
  const tspans = lines.map((line) => `<tspan x="${cx.toFixed(1)}" dy="13" font-size="10">${escapeXml(line)}</tspan>`).join('')
  return `<text x="${cx.toFixed(1)}" y="${y}" text-anchor="middle" font-size="12" fill="#212529"><tspan font-weight="bold">${escapeXml(spec.id)}</tspan>${tspans}</text>`
}

/** A decade as an axis label: 1k, 10k, 100k, 1M. */
function decadeLabel(value: number): string {
  if (value >= 1e6) return `${value / 1e6}M`
  if (value >= 1e3) return `${value / 1e3}k`
  return `${value}`
}

/** The workload's target for skein, if any, as a dashed line across its group. */
function targetLine(x: number, width: number, panel: Panel, spec: WorkloadSpec, metric: 'recordsPerSec' | 'p99Ms'): string[] {
  const target = TARGETS.find((t) => t.workload === spec.id && t.metric === metric)
  if (target === undefined) return []
  const y = yOf(panel, target.bound).toFixed(1)
  const label = metric === 'recordsPerSec' ? `target ${shortNumber(target.bound)}` : `target p99 ${target.bound} ms`
  return [
    `<line class="target" data-workload="${spec.id}" x1="${(x + 4).toFixed(1)}" y1="${y}" x2="${(x + width - 4).toFixed(1)}" y2="${y}" stroke="#212529" stroke-width="1.5" stroke-dasharray="5 3"/>`,
    `<text x="${(x + width - 4).toFixed(1)}" y="${(Number(y) - 3).toFixed(1)}" text-anchor="end" font-size="9" fill="#212529" ${HALO}>${escapeXml(label)}</text>`,
  ]
}

/** A decade of milliseconds as an axis label: 0.1 ms, 1 ms, 10 ms, 100 ms, 1 s, 10 s. */
function msDecadeLabel(ms: number): string {
  if (ms >= 1000) return `${ms / 1000} s`
  return ms >= 1 ? `${ms} ms` : `${ms.toPrecision(1)} ms`
}

function throughputPanel(result: SuiteResult, systems: readonly SystemName[], top: number): string[] {
  const specs = result.workloads.filter((spec) => spec.kind !== 'latency')
  const values = result.cells.filter((c) => c.outcome === 'ok' && c.figures !== undefined && specs.some((s) => s.id === c.workload)).map((c) => c.figures?.recordsPerSec as number)
  const panel: Panel = { top, axis: logAxis(Math.min(...values, 1e4), Math.max(...values, 1e5) * LABEL_HEADROOM) }
  const parts = gridAndAxis(panel, decadeLabel, 'records/s (log scale)')
  const groupWidth = (WIDTH - MARGIN_LEFT - MARGIN_RIGHT) / Math.max(1, specs.length)
  const barWidth = Math.min(36, (groupWidth * 0.8) / Math.max(1, systems.length))
  for (const [g, spec] of specs.entries()) {
    const x0 = MARGIN_LEFT + g * groupWidth + (groupWidth - barWidth * systems.length) / 2
    for (const [i, system] of systems.entries()) {
      const cell = cellOf(result.cells, system, spec.id)
      const x = x0 + i * barWidth
      const data = `data-system="${system}" data-workload="${spec.id}"`
      if (cell?.outcome === 'ok' && cell.figures !== undefined) {
        const rate = cell.figures.recordsPerSec
        parts.push(...barWithLabel(x + 1, barWidth - 2, panel, rate, SYSTEM_COLORS[system], 1, 'bar throughput', data, `${system}, ${spec.title}: ${formatRate(rate)} records/s`, shortNumber(rate)))
      } else if (cell !== undefined) {
        parts.push(missingMark(x, barWidth, panel, 'error', `${system}, ${spec.title}: ${cell.error ?? 'error'}`))
      }
    }
    parts.push(groupLabel(MARGIN_LEFT + g * groupWidth, groupWidth, panel, spec))
    parts.push(...targetLine(MARGIN_LEFT + g * groupWidth, groupWidth, panel, spec, 'recordsPerSec'))
  }
  return parts
}

function latencyPanel(result: SuiteResult, systems: readonly SystemName[], top: number): string[] {
  const specs = result.workloads.filter((spec) => spec.kind === 'latency')
  const values: number[] = []
  for (const cell of result.cells) {
    const latency = cell.outcome === 'ok' && specs.some((s) => s.id === cell.workload) ? cell.figures?.latency : undefined
    if (latency !== undefined) values.push(...PERCENTILES.map(([, key]) => latency[key]).filter((v) => Number.isFinite(v) && v > 0))
  }
  const panel: Panel = { top, axis: logAxis(Math.min(...values, 1), Math.max(...values, 10) * LABEL_HEADROOM) }
  const parts = gridAndAxis(panel, msDecadeLabel, 'end-to-end latency (log scale)')
  const groupWidth = (WIDTH - MARGIN_LEFT - MARGIN_RIGHT) / Math.max(1, specs.length)
  const barWidth = Math.min(28, (groupWidth * 0.85) / Math.max(1, systems.length * PERCENTILES.length + systems.length - 1))
  const systemWidth = barWidth * (PERCENTILES.length + 1)
  for (const [g, spec] of specs.entries()) {
    const x0 = MARGIN_LEFT + g * groupWidth + (groupWidth - systemWidth * systems.length + barWidth) / 2
    for (const [i, system] of systems.entries()) {
      const cell = cellOf(result.cells, system, spec.id)
      const latency = cell?.outcome === 'ok' ? cell.figures?.latency : undefined
      const xs = x0 + i * systemWidth
      if (latency === undefined) {
        if (cell !== undefined) parts.push(missingMark(xs + barWidth, barWidth, panel, 'error', `${system}, ${spec.title}: ${cell.error ?? 'no latency'}`))
        continue
      }
      for (const [p, [name, key]] of PERCENTILES.entries()) {
        const value = Math.max(latency[key], 10 ** panel.axis.low)
        const data = `data-system="${system}" data-workload="${spec.id}" data-percentile="${name}"`
        parts.push(...barWithLabel(xs + p * barWidth + 1, barWidth - 2, panel, value, SYSTEM_COLORS[system], PERCENTILE_OPACITY[p] as number, 'bar latency', data, `${system}, ${spec.title}: ${name} ${formatMs(latency[key])} ms`, `${name} ${formatMs(latency[key])}`))
      }
    }
    parts.push(groupLabel(MARGIN_LEFT + g * groupWidth, groupWidth, panel, spec))
    parts.push(...targetLine(MARGIN_LEFT + g * groupWidth, groupWidth, panel, spec, 'p99Ms'))
  }
  return parts
}

function legend(systems: readonly SystemName[], y: number): string[] {
  const parts: string[] = []
  let x = MARGIN_LEFT
  for (const system of systems) {
    parts.push(`<rect x="${x}" y="${y - 11}" width="14" height="14" fill="${SYSTEM_COLORS[system]}"/>`)
    parts.push(`<text x="${x + 20}" y="${y}" font-size="13" fill="#212529">${escapeXml(system)}</text>`)
    x += 110
  }
  parts.push(`<text x="${x + 20}" y="${y}" font-size="12" fill="#495057">latency bars, light to dark: p50, p99, p99.9; dashed: skein's targets</text>`)
  return parts
}

/** The chart of a finished run, as SVG text. */
export function renderChart(result: SuiteResult): string {
  const systems = result.systems.filter((s) => s.skipped === undefined).map((s) => s.name)
  const hasLatency = result.workloads.some((spec) => spec.kind === 'latency')
  const hasThroughput = result.workloads.some((spec) => spec.kind !== 'latency')
  const panels = (hasThroughput ? 1 : 0) + (hasLatency ? 1 : 0)
  const height = TITLE_HEIGHT + LEGEND_HEIGHT + panels * (PANEL_HEIGHT + AXIS_LABEL_HEIGHT) + Math.max(0, panels - 1) * PANEL_GAP
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="Helvetica, Arial, sans-serif">`,
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    `<text x="${MARGIN_LEFT}" y="26" font-size="18" font-weight="bold" fill="#212529">skein and peers: ${escapeXml(result.profile.name)} benchmark suite</text>`,
    `<text x="${MARGIN_LEFT}" y="46" font-size="12" fill="#495057">${escapeXml(`${result.startedAt}; ${result.machine.platform}, ${result.machine.cpus} CPUs, node ${result.machine.node}; 100-byte records unless stated`)}</text>`,
    ...legend(systems, TITLE_HEIGHT + 14),
  ]
  let top = TITLE_HEIGHT + LEGEND_HEIGHT
  if (hasThroughput) {
    parts.push(...throughputPanel(result, systems, top))
    top += PANEL_HEIGHT + AXIS_LABEL_HEIGHT + PANEL_GAP
  }
  if (hasLatency) parts.push(...latencyPanel(result, systems, top))
  parts.push('</svg>')
  return `${parts.join('\n')}\n`
}
