/**
 * Argument parsing shared by the simulator runners (`npm run sim:*`): seeds and bounded
 * integers, with a stable error code and exit status 2 on bad input.
 */

/** Seeds are unsigned 32-bit integers, so every one of them can be typed on a command line. */
export const SEED_MAX = 2 ** 32 - 1

/** A runner's argument parser, naming the runner in its error lines. */
export class SimArgs {
  constructor(private readonly program: string) {}

  fail(message: string): never {
    process.stderr.write(`${this.program}: error[INVALID_REQUEST]: ${message}\n`)
    process.exit(2)
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
