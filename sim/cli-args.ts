import { type ParseArgsConfig, parseArgs } from 'node:util'

/**
 * Argument parsing shared by the simulator runners (`npm run sim:*`): seeds and bounded
 * integers, with a stable error code and exit status 2 on bad input.
 */

/** Seeds are unsigned 32-bit integers, so every one of them can be typed on a command line. */
export const SEED_MAX = 2 ** 32 - 1

/** Longest fault phase a seed runner takes (`--fault-ms`). */
const FAULT_PHASE_MS_MAX = 3_600_000

/** What every seed runner (broker, group, txn) is told, and its own options as parsed. */
export interface SeedRunArgs {
  readonly seeds: number[]
  readonly faultPhaseMs: number | undefined
  readonly verbose: boolean
  readonly twice: boolean
  readonly values: Readonly<Record<string, string | boolean | undefined>>
}

/** A runner's argument parser, naming the runner in its error lines. */
export class SimArgs {
  constructor(private readonly program: string) {}

  fail(message: string): never {
    process.stderr.write(`${this.program}: error[INVALID_REQUEST]: ${message}\n`)
    process.exit(2)
  }

  /**
   * `--seed N | --seeds A..B`, `--fault-ms MS`, `--verbose`, `--twice`, and the runner's own
   * `extra` options. An unknown or malformed argument is INVALID_REQUEST with exit status 2,
   * like every other bad value here, not a stack trace.
   */
  seedRun(extra: NonNullable<ParseArgsConfig['options']> = {}): SeedRunArgs {
    let values: Record<string, string | boolean | undefined>
    try {
      values = parseArgs({
        options: {
          seed: { type: 'string' },
          seeds: { type: 'string' },
          'fault-ms': { type: 'string' },
          verbose: { type: 'boolean', default: false },
          twice: { type: 'boolean', default: false },
          ...extra,
        },
        strict: true,
      }).values as Record<string, string | boolean | undefined>
    } catch (error) {
      this.fail(error instanceof Error ? error.message : String(error))
    }
    return {
      seeds: this.seeds(values['seed'] as string | undefined, values['seeds'] as string | undefined),
      faultPhaseMs: this.optionalInteger('fault-ms', values['fault-ms'], 0, FAULT_PHASE_MS_MAX),
      verbose: values['verbose'] === true,
      twice: values['twice'] === true,
      values,
    }
  }

  /** An integer option that may be absent. */
  optionalInteger(name: string, text: string | boolean | undefined, min: number, max: number): number | undefined {
    return typeof text === 'string' ? this.integer(name, text, min, max) : undefined
  }

  integer(name: string, text: string, min: number, max: number): number {
    const value = Number(text)
    if (!/^\d+$/.test(text) || value < min || value > max) this.fail(`--${name} must be an integer from ${min} to ${max}, got '${text}'`)
    return value
  }

  /** `--seed N` or `--seeds A..B` (inclusive); seed 1 when neither is given. */
  seeds(seed: string | undefined, seeds: string | undefined): number[] {
    if (seed !== undefined && seeds !== undefined) this.fail('give --seed or --seeds, not both')
    if (seeds !== undefined) {
      const match = /^(\d+)\.\.(\d+)$/.exec(seeds)
      if (match === null) this.fail(`--seeds must look like A..B, got '${seeds}'`)
      const first = this.integer('seeds', match[1] as string, 0, SEED_MAX)
      const last = this.integer('seeds', match[2] as string, first, SEED_MAX)
      return Array.from({ length: last - first + 1 }, (_, i) => first + i)
    }
    return [seed === undefined ? 1 : this.integer('seed', seed, 0, SEED_MAX)]
  }
}
