/**
 * `npm run sim:group -- [--seed N | --seeds A..B] [--fault-ms MS] [--verbose] [--twice]`:
 * runs the consumer-group simulator (sim/group/scenario.ts) once per seed and prints one line
 * per seed, `seed=N ... events=N trace=<hash> ok` or the first violation, followed by the
 * command that replays it. The same seed replays the same run event for event: the trace hash
 * says so, and `--twice` runs each seed a second time and fails it if the trace differs.
 * `--verbose` prints the drawn faults and member events. A single seed prints every violation
 * as a `VIOLATION ...` line. Exits 1 if any seed failed.
 */
import { SimArgs } from '../cli-args.js'
import { runSeeds } from '../seed-runner.js'
import { formatViolation } from './checker.js'
import { replayCommand, runGroupSim, summarize } from './scenario.js'

const args = new SimArgs('sim:group')

async function main(): Promise<void> {
  const run = args.seedRun()
  const options = { ...(run.faultPhaseMs === undefined ? {} : { faultPhaseMs: run.faultPhaseMs }) }
  const failures = await runSeeds({
    seeds: run.seeds,
    twice: run.twice,
    verbose: run.verbose,
    run: (seed) => runGroupSim({ seed, ...options }),
    summarize,
    formatViolation,
    replayCommand: (seed) => replayCommand(seed, options),
  })
  if (failures > 0) process.exit(1)
}

main().catch((error: unknown) => {
  process.stderr.write(`sim:group: ${error instanceof Error ? error.stack : String(error)}\n`)
  process.exit(1)
})
