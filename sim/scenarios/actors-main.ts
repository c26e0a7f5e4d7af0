/**
 * The actor-level scenario's runner (sim/scenarios/actor-asks.ts): `npm run sim:actors -- --seed 42`.
 * Runs the scenario on a world built from the seed and ends with one line,
 * `seed=N events=N trace=<hash>`, identical for identical seeds. Exits 1 (after printing the
 * replay command) if the checker found a violation. (`npm run sim` runs the full system: sim/main.ts.)
 */
import { parseArgs } from 'node:util'
import { ACTOR_ASKS_DEFAULTS, runActorAsksScenario } from './actor-asks.js'

/** Seeds are unsigned 32-bit integers, so every one of them can be typed on a command line. */
const SEED_MAX = 2 ** 32 - 1

function parseSeed(text: string | undefined): number {
  if (text === undefined) return Date.now() % SEED_MAX
  const seed = Number(text)
  if (!/^\d+$/.test(text) || seed > SEED_MAX) {
    process.stderr.write(`sim: error[INVALID_REQUEST]: --seed must be an integer from 0 to ${SEED_MAX}, got '${text}'\n`)
    process.exit(2)
  }
  return seed
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { seed: { type: 'string' }, quiet: { type: 'boolean', default: false } },
    strict: true,
  })
  const seed = parseSeed(values.seed)
  const result = await runActorAsksScenario({ seed, ...ACTOR_ASKS_DEFAULTS })
  if (!values.quiet) {
    for (const fault of result.faults) process.stdout.write(`fault: ${fault}\n`)
    process.stdout.write(`asks: ok=${result.asksOk} unknown=${result.asksUnknown} failed=${result.asksFailed} handshakes=${result.handshakesCompleted} virtualMs=${Math.round(result.virtualMs)}\n`)
  }
  for (const violation of result.violations) process.stdout.write(`VIOLATION ${violation}\n`)
  process.stdout.write(`seed=${result.seed} events=${result.events} trace=${result.trace}\n`)
  if (result.violations.length > 0) {
    process.stdout.write(`replay: npm run sim:actors -- --seed ${seed}\n`)
    process.exit(1)
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`sim: ${err instanceof Error ? err.stack : String(err)}\n`)
  process.exit(1)
})
