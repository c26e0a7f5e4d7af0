/**
 * The seed runner of the full-system simulator (sim/full/):
 *
 *     npm run sim -- --seed S | --seeds A..B  [--faults net,process,disk,clock] [--nodes N]
 *                   [--duration MS] [--trace FILE] [--verbose] [--twice]
 *
 * One line per seed, `seed=S events=N trace=<hash> result=ok|<anomalies>`: the same seed gives
 * the same line (the hash covers every event; `--twice` runs each seed again and fails it if
 * the trace differs). A failing seed prints each anomaly and the exact command that replays
 * it. A sweep ends with a summary: seeds ok, wall time, events and events per second.
 * `--faults` picks the fault classes (default all), `--nodes` the cluster size (default 5),
 * `--duration` the fault phase in virtual ms; `--trace FILE` (one seed) writes a readable
 * event log of the run; `--verbose` prints the drawn menu, the faults and the counts.
 * Exits 1 if any seed failed, 2 on bad arguments.
 *
 * `npm run sim:long` sweeps seeds 1..1000 (about 20 minutes on one core); CI's `npm test`
 * sweeps 1..100 (test/sim/full-sim.test.ts). `npm run sim:actors` runs the actor-level
 * scenario that was `npm run sim` before (sim/scenarios/actors-main.ts).
 */
import { writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { SimArgs } from './cli-args.js'
import { formatAnomaly } from './full/checker.js'
import { FAULT_CLASSES, parseFaultClasses } from './full/menu.js'
import { type ReplayOptions, replayCommand, resultLine, statsLine } from './full/report.js'
import { FULL_SIM_DURATION_MS_DEFAULT, FULL_SIM_NODES_DEFAULT, FULL_SIM_NODES_MAX, FULL_SIM_NODES_MIN, type FullSimOptions, type FullSimResult, runFullSim } from './full/scenario.js'

const args: SimArgs = new SimArgs('sim')
const DURATION_MS_MAX = 3_600_000

type RunOptions = Omit<FullSimOptions, 'seed'> & ReplayOptions & { readonly traceFile: string | undefined }

async function runOne(seed: number, options: RunOptions, verbose: boolean, twice: boolean): Promise<{ ok: boolean; events: number }> {
  let result: FullSimResult
  try {
    result = await runFullSim({ ...options, seed })
  } catch (error) {
    process.stdout.write(`seed=${seed} CRASHED: ${error instanceof Error ? error.stack : String(error)}\nreplay: ${replayCommand(seed, options)}\n`)
    return { ok: false, events: 0 }
  }
  if (result.traceLines !== undefined && options.traceFile !== undefined) {
    writeFileSync(options.traceFile, `${result.traceLines.join('\n')}\n`)
    process.stdout.write(`trace written to ${options.traceFile}\n`)
  }
  if (verbose) for (const line of result.faults) process.stdout.write(`  ${line}\n`)
  process.stdout.write(`${resultLine(result)}\n`)
  if (verbose) process.stdout.write(`  ${statsLine(result)}\n`)
  let ok = result.anomalies.length === 0
  let events = result.events
  if (twice) {
    const again = await runFullSim({ ...options, seed, recordTrace: false })
    events += again.events
    if (again.trace !== result.trace) {
      ok = false
      process.stdout.write(`seed=${seed} NOT DETERMINISTIC: trace ${result.trace} then ${again.trace} (events ${result.events} then ${again.events})\n`)
    }
  }
  for (const anomaly of result.anomalies) process.stdout.write(`  ANOMALY ${formatAnomaly(anomaly)}\n`)
  if (!ok) process.stdout.write(`replay: ${replayCommand(seed, options)}\n`)
  return { ok, events }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seed: { type: 'string' },
      seeds: { type: 'string' },
      faults: { type: 'string' },
      nodes: { type: 'string' },
      duration: { type: 'string' },
      trace: { type: 'string' },
      verbose: { type: 'boolean', default: false },
      twice: { type: 'boolean', default: false },
    },
    strict: true,
  })
  const seeds = args.seeds(values.seed, values.seeds)
  const faults = values.faults === undefined ? FAULT_CLASSES : parseFaultClasses(values.faults)
  if (typeof faults === 'string') args.fail(`--faults: ${faults}`)
  const nodes = values.nodes === undefined ? FULL_SIM_NODES_DEFAULT : args.integer('nodes', values.nodes, FULL_SIM_NODES_MIN, FULL_SIM_NODES_MAX)
  const durationMs = values.duration === undefined ? FULL_SIM_DURATION_MS_DEFAULT : args.integer('duration', values.duration, 0, DURATION_MS_MAX)
  if (values.trace !== undefined && seeds.length !== 1) args.fail('--trace writes the event log of one run: give it with --seed')
  const options: RunOptions = { faults, nodes, durationMs, recordTrace: values.trace !== undefined, traceFile: values.trace }
  const startedMs = Date.now()
  let events = 0
  const failed: number[] = []
  for (const seed of seeds) {
    const outcome = await runOne(seed, options, values.verbose === true, values.twice === true)
    events += outcome.events
    if (!outcome.ok) failed.push(seed)
  }
  if (seeds.length > 1) {
    const wallS = (Date.now() - startedMs) / 1000
    const failedList = failed.length === 0 ? '' : `; failed: ${failed.join(',')}`
    process.stdout.write(`${seeds.length - failed.length}/${seeds.length} seeds ok in ${wallS.toFixed(1)} s; ${events} events, ${Math.round(events / Math.max(wallS, 0.001))} events/s${failedList}\n`)
  }
  if (failed.length > 0) process.exit(1)
}

main().catch((error: unknown) => {
  process.stderr.write(`sim: ${error instanceof Error ? error.stack : String(error)}\n`)
  process.exit(1)
})
