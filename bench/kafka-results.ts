/**
 * bench:kafka's result types and its report: the kafkajs-via-gateway vs native SDK table,
 * printed as Markdown, and the raw figures saved as JSON under bench/results/ (as
 * harness.ts's `report` does for the benches that have targets).
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { repoRoot } from './harness.js'

export type Sdk = 'kafkajs' | 'native'

export interface ProduceSpec {
  /** Ends with the SDK's name; the rest names the workload both SDKs share. */
  readonly label: string
  readonly sdk: Sdk
  readonly topic: string
  readonly acks: 1 | -1
  /** send() calls in flight. */
  readonly concurrency: number
}

export interface ProduceResult {
  readonly spec: ProduceSpec
  readonly recordsPerSec: number
  readonly mbPerSec: number
  /** Acknowledged inside the measured window. */
  readonly records: number
  /** Acknowledged in all, warm-up and the sends finishing after the window included. */
  readonly recordsAcked: number
  readonly errors: number
  readonly firstError: string | undefined
  readonly seconds: number
  readonly p50: number
  readonly p99: number
  readonly nodeCpu: { id: string; cpuPercent: number }[]
  readonly clientCpuPercent: number
}

export interface ConsumeResult {
  readonly sdk: Sdk
  readonly label: string
  readonly recordsPerSec: number
  readonly mbPerSec: number
  readonly records: number
  /** From the first record delivered to the last. */
  readonly seconds: number
  /** From run() (kafkajs: connect, subscribe, join) to the first record. */
  readonly firstRecordMs: number
  readonly nodeCpuPercent: number
  readonly clientCpuPercent: number
}

export function formatRate(value: number): string {
  return Math.round(value).toLocaleString('en-US')
}

/** A kafkajs or skein error with its type or code, retriable flag and cause chain. */
export function describeError(error: unknown): string {
  const parts: string[] = []
  let current: unknown = error
  for (let depth = 0; current !== undefined && current !== null && depth < 4; depth++) {
    const fields = current as { name?: string; type?: string; code?: string | number; message?: string; retriable?: boolean; cause?: unknown; originalError?: unknown }
    const code = fields.type ?? fields.code
    const retriable = fields.retriable === undefined ? '' : ` retriable=${fields.retriable}`
    parts.push(`${fields.name ?? 'Error'}${code === undefined ? '' : ` [${String(code)}]`}${retriable}: ${fields.message ?? String(current)}`)
    current = fields.cause ?? fields.originalError
  }
  return parts.join(' <- ')
}

interface Figure {
  readonly recordsPerSec: number
  readonly mbPerSec: number
}

interface Row {
  readonly workload: string
  readonly kafkajs: Figure | undefined
  readonly native: Figure | undefined
}

function cell(figure: Figure | undefined): string {
  return figure === undefined ? '-' : `${formatRate(figure.recordsPerSec)} rec/s, ${figure.mbPerSec.toFixed(1)} MB/s`
}

function ratio(row: Row): string {
  if (row.kafkajs === undefined || row.native === undefined || row.native.recordsPerSec === 0) return '-'
  return (row.kafkajs.recordsPerSec / row.native.recordsPerSec).toFixed(2)
}

/** One row per workload, kafkajs beside native, in the order the workloads ran. */
function rowsOf(produce: readonly ProduceResult[], consume: readonly ConsumeResult[]): Row[] {
  const rows = new Map<string, { kafkajs?: Figure; native?: Figure }>()
  const add = (workload: string, sdk: Sdk, figure: Figure): void => {
    const row = rows.get(workload) ?? {}
    row[sdk] = figure
    rows.set(workload, row)
  }
  for (const result of produce) add(`produce ${result.spec.label.slice(0, -result.spec.sdk.length - 1)}`, result.spec.sdk, result)
  for (const result of consume) add(`consume ${result.label}`, result.sdk, result)
  return [...rows].map(([workload, row]) => ({ workload, kafkajs: row.kafkajs, native: row.native }))
}

/** Prints the comparison table and saves every figure as JSON. */
export function writeResults(produce: readonly ProduceResult[], consume: readonly ConsumeResult[], extra: Record<string, unknown>): void {
  const lines = ['', '| bench:kafka | kafkajs via gateway | native SDK | kafkajs / native | target |', '| --- | ---: | ---: | ---: | --- |']
  for (const row of rowsOf(produce, consume)) lines.push(`| ${row.workload} | ${cell(row.kafkajs)} | ${cell(row.native)} | ${ratio(row)} | none |`)
  lines.push('', 'target: none (the issue sets no figure for kafkajs; the native SDK column is context)')
  process.stdout.write(`${lines.join('\n')}\n\n`)
  const dir = join(repoRoot, 'bench', 'results')
  mkdirSync(dir, { recursive: true })
  const file = join(dir, `kafka-${new Date().toISOString().replace(/[:.]/g, '-')}.json`)
  writeFileSync(file, JSON.stringify({ suite: 'kafka', produce, consume, ...extra }, null, 2))
  process.stdout.write(`raw figures: ${file}\n`)
}
