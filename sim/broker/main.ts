/**
 * `npm run sim:broker -- [--seed N | --seeds A..B] [--fault-ms MS] [--raft-tick-ms MS] [--verbose] [--twice]`:
 * runs the broker simulator (sim/broker/scenario.ts) once per seed and prints one line per
 * seed, `seed=N ... trace=<hash> ok` or the first violation, followed by the command that
 * replays it. The same seed replays the same run event for event: the trace hash says so, and
 * `--twice` runs each seed a second time and fails it if the trace differs. `--verbose`
 * prints the drawn faults and every violation. Exits 1 if any seed failed.
 */
import { SimArgs } from '../cli-args.js'
import { runSeeds } from '../seed-runner.js'
import { formatViolation } from './checker.js'
import { replayCommand, runBrokerSim, summarize } from './scenario.js'

const args = new SimArgs('sim:broker')

async function main(): Promise<void> {
  const run = args.seedRun({ 'raft-tick-ms': { type: 'string' } })
  const options = { faultPhaseMs: run.faultPhaseMs, raftTickMs: args.optionalInteger('raft-tick-ms', run.values['raft-tick-ms'], 1, 10_000) }
  const failures = await runSeeds({
    seeds: run.seeds,
    twice: run.twice,
    verbose: run.verbose,
    run: (seed) => runBrokerSim({ seed, ...options }),
    summarize,
    formatViolation,
    replayCommand: (seed) => replayCommand(seed, options),
  })
  if (failures > 0) process.exit(1)
}

main().catch((error: unknown) => {
  process.stderr.write(`sim:broker: ${error instanceof Error ? error.stack : String(error)}\n`)
  process.exit(1)
})
