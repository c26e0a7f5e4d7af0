/**
 * `npm run sim:raft -- [--seed N | --seeds A..B] [--replicas 3|5] [--safety-ms MS] [--default-settings] [--verbose]`:
 * runs the Raft group simulator (sim/raft/scenario.ts) once per seed and prints one line per
 * seed, `seed=N ... ok` or the first violation followed by the command that replays it.
 * Without `--default-settings` the seed also draws pre-vote and check-quorum (mostly on).
 * `--verbose` traces every core input and prints the faults and the trace before a violation.
 * Exits 1 if any seed found a violation.
 */
import { parseArgs } from 'node:util'
import { SimArgs } from '../cli-args.js'
import { formatViolation } from './checker.js'
import { runRaftSim, summarize } from './scenario.js'

const args = new SimArgs('sim:raft')

function main(): void {
  const { values } = parseArgs({
    options: {
      seed: { type: 'string' },
      seeds: { type: 'string' },
      replicas: { type: 'string' },
      'safety-ms': { type: 'string' },
      'default-settings': { type: 'boolean', default: false },
      verbose: { type: 'boolean', default: false },
    },
    strict: true,
  })
  const seeds = args.seeds(values.seed, values.seeds)
  const replicaCount = values.replicas === undefined ? undefined : args.integer('replicas', values.replicas, 1, 9)
  const safetyMs = values['safety-ms'] === undefined ? undefined : args.integer('safety-ms', values['safety-ms'], 0, 3_600_000)
  let failures = 0
  for (const seed of seeds) {
    const settings = values['default-settings'] ? {} : undefined
    const result = runRaftSim({ seed, replicaCount, safetyMs, settings, traceInputs: values.verbose })
    if (values.verbose && result.violations.length > 0) {
      for (const fault of result.faults) process.stdout.write(`fault: ${fault}\n`)
      for (const line of result.trace) process.stdout.write(`trace: ${line}\n`)
      for (const line of result.finalState) process.stdout.write(`state: ${line}\n`)
      for (const violation of result.violations) process.stdout.write(`VIOLATION ${formatViolation(violation)}\n`)
    }
    process.stdout.write(`${summarize(result)}\n`)
    if (result.violations.length === 0) continue
    failures++
    const flags = [
      values.replicas === undefined ? '' : ` --replicas ${values.replicas}`,
      safetyMs === undefined ? '' : ` --safety-ms ${safetyMs}`,
      values['default-settings'] ? ' --default-settings' : '',
    ].join('')
    process.stdout.write(`replay: npm run sim:raft -- --seed ${seed}${flags} --verbose\n`)
  }
  if (seeds.length > 1) process.stdout.write(`${seeds.length - failures}/${seeds.length} seeds ok\n`)
  if (failures > 0) process.exit(1)
}

main()
