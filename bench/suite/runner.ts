/**
 * Runs the suite: every selected workload on every selected system, one after the other (they
 * share the machine's CPUs, so never two at once), printing each row as it finishes.
 *
 * Systems come from bench/suite/systems/<name>.js. An adapter module exports `<name>System`
 * (a BenchSystem, or a function returning one when called without arguments) and may export
 * `<name>Durability` (a string, or a function giving one or a promise of one) for the
 * durability table. A system whose module is missing, or whose
 * `unavailable()` gives a reason, is skipped with that note, never a failure; a workload that
 * throws is recorded as that cell's error and the suite goes on. Every workload is bounded by
 * a watchdog that stops its deployment if it hangs.
 */
import { cpus, totalmem } from 'node:os'
import { type CellResult, RESULT_HEADER, resultRow, type SuiteResult, type SystemStatus } from './report.js'
import type { BenchSystem, Deployment, SystemName } from './system.js'
import { type Profile, runWorkload, type WorkloadSpec } from './workloads.js'

export const SYSTEM_NAMES: readonly SystemName[] = ['skein', 'redis', 'nats', 'rabbitmq']

export interface SuiteOptions {
  readonly systems: readonly SystemName[]
  readonly workloads: readonly WorkloadSpec[]
  readonly profile: Profile
  readonly out: (text: string) => void
}

interface LoadedSystem {
  readonly system: BenchSystem | undefined
  readonly status: SystemStatus
}

function isBenchSystem(value: unknown, name: SystemName): value is BenchSystem {
  if (typeof value !== 'object' || value === null) return false
  const candidate = value as Partial<BenchSystem>
  return candidate.name === name && typeof candidate.deploy === 'function' && typeof candidate.unavailable === 'function'
}

/**
 * The adapter of `name` among a module's exports: `<name>System`, a BenchSystem or a function
 * returning one when called without arguments (its defaults).
 */
export function findSystemExport(exports: Readonly<Record<string, unknown>>, name: SystemName): BenchSystem | undefined {
  const value = exports[`${name}System`]
  const system: unknown = typeof value === 'function' ? (value as () => unknown)() : value
  return isBenchSystem(system, name) ? system : undefined
}

/** The adapter's durability line: `<name>Durability` (or `durability`), a string or a function giving one (or a promise of one). */
export async function findDurability(exports: Readonly<Record<string, unknown>>, name: SystemName): Promise<string | undefined> {
  const value = exports[`${name}Durability`] ?? exports['durability']
  const text: unknown = typeof value === 'function' ? await (value as () => unknown)() : value
  return typeof text === 'string' ? text : undefined
}

async function loadSystem(name: SystemName): Promise<LoadedSystem> {
  let exports: Record<string, unknown>
  try {
    exports = (await import(`./systems/${name}.js`)) as Record<string, unknown>
  } catch (error) {
    return { system: undefined, status: { name, skipped: `no adapter (bench/suite/systems/${name}.ts): ${error instanceof Error ? error.message.split('\n')[0] : String(error)}` } }
  }
  const system = findSystemExport(exports, name)
  if (system === undefined) return { system: undefined, status: { name, skipped: `bench/suite/systems/${name}.js exports no ${name}System` } }
  const reason = await system.unavailable().catch((error: unknown) => `unavailable() failed: ${String(error)}`)
  if (reason !== undefined) return { system: undefined, status: { name, skipped: reason } }
  const durability = await findDurability(exports, name).catch((error: unknown) => `(durability unknown: ${String(error)})`)
  return { system, status: { name, durability } }
}

/** A generous bound on one workload (deploy, preload, warm-up, window, drains, stop). */
export function workloadBudgetMs(profile: Profile): number {
  return 120_000 + 2 * profile.preloadMsMax + 3 * profile.drainMsMax + profile.warmupMs + profile.measureMs + profile.latencyWarmupMs + profile.latencyMeasureMs
}

/**
 * Hands out deployments: a new one per workload (fresh), or one per node count kept for the
 * next workload of the same system (shared; at most one alive at a time).
 */
class Deployments {
  private kept: { nodes: number; deployment: Deployment } | undefined

  constructor(
    private readonly system: BenchSystem,
    private readonly fresh: boolean,
  ) {}

  async get(spec: WorkloadSpec): Promise<Deployment> {
    if (this.fresh) return this.system.deploy({ nodes: spec.nodes, label: spec.id })
    if (this.kept?.nodes === spec.nodes) return this.kept.deployment
    await this.stopKept()
    const deployment = await this.system.deploy({ nodes: spec.nodes, label: `${spec.nodes}n` })
    this.kept = { nodes: spec.nodes, deployment }
    return deployment
  }

  /** After a workload: a fresh deployment stops; a shared one stays unless the workload failed. */
  async done(deployment: Deployment, failed: boolean): Promise<void> {
    if (this.fresh || failed || this.kept?.deployment !== deployment) await deployment.stop()
    if (this.kept?.deployment === deployment && failed) this.kept = undefined
  }

  async stopKept(): Promise<void> {
    const kept = this.kept
    this.kept = undefined
    await kept?.deployment.stop()
  }
}

async function runCell(deployments: Deployments, system: BenchSystem, spec: WorkloadSpec, profile: Profile, out: (text: string) => void): Promise<CellResult> {
  const startedAt = performance.now()
  const budgetMs = workloadBudgetMs(profile)
  let watchdog: NodeJS.Timeout | undefined
  const hung = new Promise<never>((_, reject) => {
    watchdog = setTimeout(() => reject(new Error(`did not finish within ${Math.round(budgetMs / 1000)} s`)), budgetMs)
  })
  let deployment: Deployment | undefined
  let failed = false
  try {
    const run = async (): Promise<CellResult['figures']> => {
      deployment = await deployments.get(spec)
      return runWorkload({ system, spec, profile, log: (line) => out(`    ${system.name} ${spec.id}: ${line}\n`) }, deployment)
    }
    const figures = await Promise.race([run(), hung])
    return { system: system.name, workload: spec.id, outcome: 'ok', figures, durationMs: performance.now() - startedAt }
  } catch (error) {
    failed = true
    return { system: system.name, workload: spec.id, outcome: 'error', error: error instanceof Error ? error.message : String(error), durationMs: performance.now() - startedAt }
  } finally {
    clearTimeout(watchdog)
    if (deployment !== undefined) await deployments.done(deployment, failed).catch(() => undefined)
  }
}

/**
 * The order cells run in: fresh deployments go workload by workload (each workload's systems
 * back to back, under the same machine conditions); shared ones system by system, grouped by
 * node count, so one deployment serves several workloads.
 */
export function runOrder(systems: readonly SystemName[], workloads: readonly WorkloadSpec[], fresh: boolean): { system: SystemName; spec: WorkloadSpec }[] {
  if (fresh) return workloads.flatMap((spec) => systems.map((system) => ({ system, spec })))
  const byNodes = [...workloads].sort((x, y) => x.nodes - y.nodes)
  return systems.flatMap((system) => byNodes.map((spec) => ({ system, spec })))
}

export async function runSuite(options: SuiteOptions): Promise<SuiteResult> {
  const { profile, out } = options
  const startedAt = new Date().toISOString()
  const statuses: SystemStatus[] = []
  const cells: CellResult[] = []
  const loaded: { system: BenchSystem; status: SystemStatus }[] = []
  for (const name of options.systems) {
    const { system, status } = await loadSystem(name)
    statuses.push(status)
    if (system === undefined) out(`${name}: skipped (${status.skipped})\n`)
    else loaded.push({ system, status })
  }
  out(`| ${RESULT_HEADER.join(' | ')} |\n`)
  const bySystem = new Map(loaded.map(({ system }) => [system.name, { system, deployments: new Deployments(system, profile.freshDeployments) }]))
  try {
    for (const { system: name, spec } of runOrder([...bySystem.keys()], options.workloads, profile.freshDeployments)) {
      const { system, deployments } = bySystem.get(name) as { system: BenchSystem; deployments: Deployments }
      const cell = await runCell(deployments, system, spec, profile, out)
      cells.push(cell)
      out(`| ${resultRow(spec, cell).join(' | ')} |   (${(cell.durationMs / 1000).toFixed(0)} s)\n`)
      for (const note of cell.figures?.notes ?? []) out(`    note: ${note}\n`)
      if (!profile.freshDeployments && spec === options.workloads.filter((w) => w.nodes === spec.nodes).at(-1)) await deployments.stopKept()
    }
  } finally {
    await Promise.all([...bySystem.values()].map(({ deployments }) => deployments.stopKept().catch(() => undefined)))
  }
  return {
    suite: 'suite',
    startedAt,
    profile,
    machine: { platform: `${process.platform}/${process.arch}`, node: process.execArgv.length > 0 ? `${process.version} ${process.execArgv.join(' ')}` : process.version, cpus: cpus().length, memoryMB: Math.round(totalmem() / 1e6) },
    systems: statuses,
    workloads: options.workloads,
    cells,
  }
}
