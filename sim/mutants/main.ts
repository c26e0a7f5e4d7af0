/**
 * `npm run sim:mutants [-- --only NAME,NAME] [--seeds-max N]`: shows the full-system
 * simulator has teeth. For each deliberate bug in sim/mutants/mutants.ts: copy the source
 * into a temp directory, plant the bug there (never in the real files), compile the copy,
 * and run its simulator over seeds 1, 2, ... until one fails. A failure counts only if the
 * unmutated code passes that same seed with the same faults (so a node bug not yet fixed is
 * never taken for a catch); otherwise that seed is skipped and the hunt goes on. Prints, per mutant, the seed that caught it, the seeds and time it took and the
 * anomalies, or that it was not caught; exits 1 if any mutant was not caught, 2 on bad
 * arguments. The temp directory is removed at the end, also on failure.
 *
 * Mutants run one after another: each compile and each simulator process takes a core.
 */
import { mkdtempSync, readFileSync } from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { SimArgs } from '../cli-args.js'
import { type Failure, hunt, stopHunts } from './hunt.js'
import { MUTANTS, type Mutant, applyMutant } from './mutants.js'
import { compile, copySource, plant, remove, simEntry } from './workspace.js'

const args = new SimArgs('sim:mutants')
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url))
/** A seed takes about a second (a few when it waits out a liveness bound); this much silence is a hung run. */
const SEED_SILENCE_MS_MAX = 120_000
/** Bound on --seeds-max: a mutant worth having is caught in far fewer. */
const SEEDS_MAX_LIMIT = 10_000
/** Anomalies printed per caught mutant (the rest are counted in its result). */
const ANOMALIES_PRINTED_MAX = 3

type Verdict =
  | { readonly kind: 'caught'; readonly failure: Failure; readonly seedsRun: number }
  | { readonly kind: 'not caught'; readonly seedsRun: number }
  | { readonly kind: 'hung'; readonly seed: number; readonly seedsRun: number }

interface MutantReport {
  readonly mutant: Mutant
  readonly verdict: Verdict
  /** Seeds the unmutated code fails too, with its result there: no evidence either way. */
  readonly skipped: readonly { readonly seed: number; readonly result: string }[]
  readonly compileS: number
  readonly huntS: number
}

function seconds(sinceMs: number): number {
  return (Date.now() - sinceMs) / 1000
}

/** Hunts seeds 1..seedsMax of a compiled mutant; a failing seed is checked against the unmutated build. */
async function huntMutant(mutant: Mutant, seedsMax: number, mutantEntry: string, pristineEntry: string): Promise<Pick<MutantReport, 'verdict' | 'skipped'>> {
  const skipped: { seed: number; result: string }[] = []
  let seedsRun = 0
  let next = 1
  while (next <= seedsMax) {
    const outcome = await hunt({ entry: mutantEntry, firstSeed: next, lastSeed: seedsMax, faults: mutant.faults, seedSilenceMsMax: SEED_SILENCE_MS_MAX })
    seedsRun += outcome.seedsRun
    if (outcome.kind === 'clean') break
    if (outcome.kind === 'hung') return { verdict: { kind: 'hung', seed: outcome.seed, seedsRun }, skipped }
    const { failure } = outcome
    const baseline = await hunt({ entry: pristineEntry, firstSeed: failure.seed, lastSeed: failure.seed, faults: mutant.faults, seedSilenceMsMax: SEED_SILENCE_MS_MAX })
    if (baseline.kind === 'clean') return { verdict: { kind: 'caught', failure, seedsRun }, skipped }
    const result = baseline.kind === 'failed' ? baseline.failure.result : 'hung'
    process.stdout.write(`  seed ${failure.seed} skipped: the unmutated code fails it too (${result})\n`)
    skipped.push({ seed: failure.seed, result })
    next = failure.seed + 1
  }
  return { verdict: { kind: 'not caught', seedsRun }, skipped }
}

async function runMutant(mutant: Mutant, seedsMax: number, root: string, pristine: string): Promise<MutantReport> {
  process.stdout.write(`mutant ${mutant.name} (${mutant.file}): ${mutant.why}\n`)
  const dir = path.join(root, mutant.name)
  try {
    const compileStartedMs = Date.now()
    copySource(pristine, dir, repoRoot)
    plant(dir, mutant)
    compile(repoRoot, dir)
    const compileS = seconds(compileStartedMs)
    process.stdout.write(`  compiled in ${compileS.toFixed(1)} s; hunting seeds 1..${seedsMax} with --faults ${mutant.faults.join(',')}\n`)
    const huntStartedMs = Date.now()
    const found = await huntMutant(mutant, seedsMax, simEntry(dir), simEntry(pristine))
    const report = { mutant, ...found, compileS, huntS: seconds(huntStartedMs) }
    process.stdout.write(`${verdictLine(report)}\n`)
    if (found.verdict.kind === 'caught') for (const anomaly of found.verdict.failure.anomalies.slice(0, ANOMALIES_PRINTED_MAX)) process.stdout.write(`    ANOMALY ${anomaly}\n`)
    return report
  } finally {
    remove(dir)
  }
}

function verdictLine(report: MutantReport): string {
  const { verdict, huntS } = report
  const skipped = report.skipped.length === 0 ? '' : `; ${report.skipped.length} seed(s) skipped as failing unmutated too: ${report.skipped.map((s) => s.seed).join(',')}`
  switch (verdict.kind) {
    case 'caught':
      return `  CAUGHT at seed ${verdict.failure.seed} after ${verdict.seedsRun} seed(s), ${huntS.toFixed(1)} s: ${verdict.failure.result} (unmutated code: ok on that seed)${skipped}`
    case 'not caught':
      return `  NOT CAUGHT within ${verdict.seedsRun} seed(s), ${huntS.toFixed(1)} s${skipped}`
    case 'hung':
      return `  HUNG on seed ${verdict.seed} (no output for ${SEED_SILENCE_MS_MAX / 1000} s) after ${verdict.seedsRun} seed(s): counted as not caught${skipped}`
  }
}

function summaryLine(report: MutantReport): string {
  const { verdict } = report
  const what = verdict.kind === 'caught' ? `caught at seed ${verdict.failure.seed} (${verdict.failure.result})` : verdict.kind === 'hung' ? `HUNG on seed ${verdict.seed}` : 'NOT CAUGHT'
  return `  ${report.mutant.name.padEnd(28)} ${what}; ${verdict.seedsRun} seed(s), ${report.huntS.toFixed(1)} s (+ compile ${report.compileS.toFixed(1)} s)`
}

function selectMutants(only: string | undefined): readonly Mutant[] {
  if (only === undefined) return MUTANTS
  const names = only.split(',')
  const unknown = names.filter((name) => !MUTANTS.some((mutant) => mutant.name === name))
  if (unknown.length > 0) args.fail(`--only: no mutant named ${unknown.join(', ')} (there are: ${MUTANTS.map((m) => m.name).join(', ')})`)
  return MUTANTS.filter((mutant) => names.includes(mutant.name))
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { only: { type: 'string' }, 'seeds-max': { type: 'string' } }, strict: true })
  const mutants = selectMutants(values.only)
  const seedsMaxOverride = values['seeds-max'] === undefined ? undefined : args.integer('seeds-max', values['seeds-max'], 1, SEEDS_MAX_LIMIT)
  const startedMs = Date.now()
  const root = mkdtempSync(path.join(os.tmpdir(), 'skein-mutants-'))
  const removeRoot = (): void => remove(root)
  const interrupted = (exitCode: number) => (): void => {
    stopHunts()
    removeRoot()
    process.exit(exitCode)
  }
  process.once('SIGINT', interrupted(130))
  process.once('SIGTERM', interrupted(143))
  const reports: MutantReport[] = []
  try {
    // One snapshot of the source for the unmutated build and every mutant: edits made in the
    // repository meanwhile cannot make a mutant's run and its baseline differ.
    const pristine = path.join(root, 'pristine')
    copySource(repoRoot, pristine, repoRoot)
    for (const mutant of mutants) applyMutant(readFileSync(path.join(pristine, mutant.file), 'utf8'), mutant) // every anchor, before any slow work
    const compileStartedMs = Date.now()
    compile(repoRoot, pristine)
    process.stdout.write(`unmutated copy compiled in ${seconds(compileStartedMs).toFixed(1)} s (${root})\n`)
    for (const mutant of mutants) reports.push(await runMutant(mutant, seedsMaxOverride ?? mutant.seedsMax, root, pristine))
  } finally {
    removeRoot()
  }
  const caught = reports.filter((report) => report.verdict.kind === 'caught').length
  process.stdout.write(`\n${caught}/${reports.length} mutants caught in ${seconds(startedMs).toFixed(1)} s:\n`)
  for (const report of reports) process.stdout.write(`${summaryLine(report)}\n`)
  if (caught < reports.length) process.exit(1)
}

main().catch((error: unknown) => {
  process.stderr.write(`sim:mutants: ${error instanceof Error ? error.message : String(error)}\n`)
  process.exit(1)
})
