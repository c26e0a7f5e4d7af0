/**
 * What the full-system runner prints (sim/main.ts): a seed's result line, its counts, and the
 * command that replays it.
 */
import { summarizeAnomalies } from './checker.js'
import { FAULT_CLASSES, type FaultClass } from './menu.js'
import { FULL_SIM_DURATION_MS_DEFAULT, FULL_SIM_NODES_DEFAULT, type FullSimResult } from './scenario.js'

export interface ReplayOptions {
  readonly faults?: readonly FaultClass[]
  readonly nodes?: number
  readonly durationMs?: number
}

/** The command that replays one seed with the same options (defaults left out). */
export function replayCommand(seed: number, options: ReplayOptions = {}): string {
  const flags: string[] = []
  if (options.faults !== undefined && options.faults.length !== FAULT_CLASSES.length) flags.push(`--faults ${options.faults.join(',')}`)
  if (options.nodes !== undefined && options.nodes !== FULL_SIM_NODES_DEFAULT) flags.push(`--nodes ${options.nodes}`)
  if (options.durationMs !== undefined && options.durationMs !== FULL_SIM_DURATION_MS_DEFAULT) flags.push(`--duration ${options.durationMs}`)
  return ['npm run sim -- --seed', String(seed), ...flags].join(' ')
}

/** `seed=S events=N trace=<hash> result=ok|<anomalies>`: the same for the same seed and options. */
export function resultLine(result: FullSimResult): string {
  return `seed=${result.seed} events=${result.events} trace=${result.trace} result=${summarizeAnomalies(result.anomalies)}`
}

/** What the run did, in counts. */
export function statsLine(result: FullSimResult): string {
  const faults = [...result.faultCounts].map(([kind, count]) => `${kind}=${count}`).join(',') || 'none'
  const converged = result.convergedAfterMs === undefined ? 'no' : `${Math.round(result.convergedAfterMs)}ms`
  const settled = result.settledAfterMs === undefined ? 'no' : `${Math.round(result.settledAfterMs)}ms`
  return (
    `partitions=${result.partitions} produces=${result.produces} ok=${result.acked} (acks=all records ${result.ackedAllRecords}) unknown=${result.unknown} failed=${result.failed} ` +
    `polls=${result.polls} processed=${result.processed} dupsAllowed=${result.duplicatesAllowed} faults: ${faults} converged=${converged} settled=${settled} virtualMs=${Math.round(result.virtualMs)}`
  )
}
