/**
 * `npm run sim:txn -- [--seed N | --seeds A..B] [--fault-ms MS] [--live-generation] [--verbose] [--twice]`:
 * runs the exactly-once pipeline simulator (sim/txn/scenario.ts) once per seed and prints one line
 * per seed, `seed=N ... events=N trace=<hash> ok` or the first violation, followed by the
 * command that replays it. The same seed replays the same run event for event: the trace hash
 * says so, and `--twice` runs each seed a second time and fails it if the trace differs.
 * `--verbose` prints the drawn faults and processor events. A single seed prints every violation
 * as a `VIOLATION ...` line. `--live-generation` has the processors pass their live consumer to
 * sendOffsets (see TxnSimOptions.liveGeneration). Exits 1 if any seed failed.
 */
import { SimArgs } from '../cli-args.js'
import { runSeeds } from '../seed-runner.js'
import { formatViolation } from './checker.js'
import { replayCommand, runTxnSim, summarize } from './scenario.js'

const args = new SimArgs('sim:txn')

async function main(): Promise<void> {
  const run = args.seedRun({ 'live-generation': { type: 'boolean', default: false } })
  const liveGeneration = run.values['live-generation'] === true
  const options = { ...(run.faultPhaseMs === undefined ? {} : { faultPhaseMs: run.faultPhaseMs }), ...(liveGeneration ? { liveGeneration } : {}) }
  const failures = await runSeeds({
    seeds: run.seeds,
    twice: run.twice,
    verbose: run.verbose,
    run: (seed) => runTxnSim({ seed, ...options }),
    summarize,
    formatViolation,
    replayCommand: (seed) => replayCommand(seed, options),
  })
  if (failures > 0) process.exit(1)
}

main().catch((error: unknown) => {
  process.stderr.write(`sim:txn: ${error instanceof Error ? error.stack : String(error)}\n`)
  process.exit(1)
})
