/**
 * A throwaway copy of the repository's source for `npm run sim:mutants`: what is needed to
 * compile and run the simulator (src/, actors/, sim/, the tsconfigs, package.json), with
 * node_modules symlinked from the repository. A mutant is patched into a copy, never into the
 * real files, so a crash of the runner can leave nothing broken behind but a temp directory.
 */
import { spawnSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import * as path from 'node:path'
import { type Mutant, applyMutant } from './mutants.js'

/** The directories copied: all the simulator's code imports (it never imports test/ or bench/). */
const SOURCE_DIRS = ['src', 'actors', 'sim'] as const
const ROOT_FILES = ['package.json', 'tsconfig.json'] as const
/** The config the copy compiles with: only what the simulator needs, and no declarations or maps (faster). */
const COPY_TSCONFIG = 'tsconfig.mutants.json'
/** A full compile takes ~10 s on this project; far longer means tsc is stuck. */
const COMPILE_TIMEOUT_MS = 300_000
/** Compiler output kept for an error message. */
const COMPILE_OUTPUT_CHARS_MAX = 4_000

/**
 * Copies the source of `from` (the repository, or an earlier copy: its dist/ is left out)
 * into `dir` (created; must not exist yet), with node_modules linked to the repository's.
 */
export function copySource(from: string, dir: string, repoRoot: string): void {
  mkdirSync(dir, { recursive: true })
  for (const name of SOURCE_DIRS) cpSync(path.join(from, name), path.join(dir, name), { recursive: true })
  for (const name of ROOT_FILES) cpSync(path.join(from, name), path.join(dir, name))
  symlinkSync(path.join(repoRoot, 'node_modules'), path.join(dir, 'node_modules'), 'dir')
  const tsconfig = { extends: './tsconfig.json', include: [...SOURCE_DIRS], compilerOptions: { declaration: false, sourceMap: false } }
  writeFileSync(path.join(dir, COPY_TSCONFIG), `${JSON.stringify(tsconfig, null, 2)}\n`)
}

/** Applies `mutant` to its file in the copy at `dir` (throws MutantAnchorError if its anchor moved). */
export function plant(dir: string, mutant: Mutant): void {
  const file = path.join(dir, mutant.file)
  writeFileSync(file, applyMutant(readFileSync(file, 'utf8'), mutant))
}

/** Compiles the copy at `dir` into `dir/dist` with the repository's own tsc; throws with the compiler's output on failure. */
export function compile(repoRoot: string, dir: string): void {
  const tsc = path.join(repoRoot, 'node_modules', '.bin', 'tsc')
  if (!existsSync(tsc)) throw new Error(`no TypeScript compiler at ${tsc}: run npm install`)
  const run = spawnSync(tsc, ['-p', COPY_TSCONFIG], { cwd: dir, encoding: 'utf8', timeout: COMPILE_TIMEOUT_MS })
  if (run.status === 0) return
  const output = `${run.stdout ?? ''}${run.stderr ?? ''}`.slice(0, COMPILE_OUTPUT_CHARS_MAX)
  throw new Error(`tsc failed in ${dir} (status ${run.status ?? run.signal}):\n${output}`)
}

/** The compiled simulator entry of a copy. */
export function simEntry(dir: string): string {
  return path.join(dir, 'dist', 'sim', 'main.js')
}

/** Removes a copy (or the temp root holding them); never throws. */
export function remove(dir: string): void {
  try {
    rmSync(dir, { recursive: true, force: true })
  } catch {
    // Best effort: a temp directory left behind is harmless, and the OS cleans tmp.
  }
}
