/**
 * The seed loop shared by the whole-system simulator runners (`npm run sim:broker`,
 * `sim:group`): one line per seed, `seed=N ... trace=<hash> ok` or the first violation and
 * the command that replays it; `--twice` reruns each seed and fails it if the trace differs;
 * `--verbose` prints the drawn faults and every violation (a single seed always prints its
 * violations). Resolves with the number of seeds that failed.
 */

export interface SeedResult<V> {
  readonly trace: string
  readonly events: number
  readonly faults: readonly string[]
  readonly violations: readonly V[]
}

export interface SeedRunnerOptions<V, R extends SeedResult<V>> {
  readonly seeds: readonly number[]
  readonly twice: boolean
  readonly verbose: boolean
  run(seed: number): Promise<R>
  summarize(result: R): string
  formatViolation(violation: V): string
  replayCommand(seed: number): string
}

export async function runSeeds<V, R extends SeedResult<V>>(options: SeedRunnerOptions<V, R>): Promise<number> {
  const { seeds, twice, verbose } = options
  let failures = 0
  const startedMs = Date.now()
  for (const seed of seeds) {
    const seedStartMs = Date.now()
    let result: R
    try {
      result = await options.run(seed)
    } catch (error) {
      failures++
      process.stdout.write(`seed=${seed} CRASHED: ${error instanceof Error ? error.stack : String(error)}\n`)
      process.stdout.write(`replay: ${options.replayCommand(seed)} --verbose\n`)
      continue
    }
    if (twice) {
      const again = await options.run(seed)
      if (again.trace !== result.trace) {
        failures++
        process.stdout.write(`seed=${seed} NOT DETERMINISTIC: trace ${result.trace} then ${again.trace} (events ${result.events} then ${again.events})\n`)
        continue
      }
    }
    if (verbose) for (const fault of result.faults) process.stdout.write(`fault: ${fault}\n`)
    if (verbose || seeds.length === 1) for (const violation of result.violations) process.stdout.write(`VIOLATION ${options.formatViolation(violation)}\n`)
    process.stdout.write(`${options.summarize(result)} wallMs=${Date.now() - seedStartMs}\n`)
    if (result.violations.length === 0) continue
    failures++
    process.stdout.write(`replay: ${options.replayCommand(seed)}\n`)
  }
  if (seeds.length > 1) process.stdout.write(`${seeds.length - failures}/${seeds.length} seeds ok in ${((Date.now() - startedMs) / 1000).toFixed(1)} s\n`)
  return failures
}
