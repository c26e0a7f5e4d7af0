/**
 * `npm run sim:raft -- [--seed N | --seeds A..B] [--replicas 3|5] [--safety-ms MS] [--default-settings] [--verbose]`:
 * runs the Raft group simulator (sim/raft/scenario.ts) once per seed and prints one line per
 * seed, `seed=N ... ok` or the first violation followed by the command that replays it.
 * Without `--default-settings` the seed also draws pre-vote and check-quorum (mostly on).
 * `--verbose` traces every core input and prints the faults and the trace before a violation.
 * Exits 1 if any seed found a violation.
 */
import { parseArgs } from 'node:util'
import { formatViolation } from './checker.js'
import { runRaftSim, summarize } from './scenario.js'

/** Seeds are unsigned 32-bit integers, so every one of them can be typed on a command line. */
const SEED_MAX = 2 ** 32 - 1

function fail(message: string): never {
  process.stderr.write(`sim:raft: error[INVALID_REQUEST]: ${message}\n`)
  process.exit(2)
}

function parseInteger(name: string, text: string, min: number, max: number): number {
  const value = Number(text)
  if (!/^\d+$/.test(text) || value < min || value > max) fail(`--${name} must be an integer from ${min} to ${max}, got '${text}'`)
  return value
}

function parseSeeds(seed: string | undefined, seeds: string | undefined): number[] {
  if (seed !== undefined && seeds !== undefined) fail('give --seed or --seeds, not both')
  if (seeds !== undefined) {
    const match = /^(\d+)\.\.(\d+)$/.exec(seeds)
    if (match === null) fail(`--seeds must look like A..B, got '${seeds}'`)
    const first = parseInteger('seeds', match[1] as string, 0, SEED_MAX)
    const last = parseInteger('seeds', match[2] as string, first, SEED_MAX)
    return Array.from({ length: last - first + 1 }, (_, i) => first + i)
  }
  return [seed === undefined ? 1 : parseInteger('seed', seed, 0, SEED_MAX)]
}

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
  const seeds = parseSeeds(values.seed, values.seeds)
  const replicaCount = values.replicas === undefined ? undefined : parseInteger('replicas', values.replicas, 1, 9)
  const safetyMs = values['safety-ms'] === undefined ? undefined : parseInteger('safety-ms', values['safety-ms'], 0, 3_600_000)
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
