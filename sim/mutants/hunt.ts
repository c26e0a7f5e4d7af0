/**
 * Runs a compiled full-system simulator (a copy's dist/sim/main.js) over a range of seeds and
 * stops at the first seed it fails, reading its output as it comes: one result line per seed
 * (`seed=S events=N trace=<hash> result=ok|<anomalies>`), then for a failing seed its
 * `  ANOMALY ...` lines and a `replay: ...` line (sim/main.ts). A seed that throws prints
 * `seed=S CRASHED: <stack>` and its replay line.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import type { FaultClass } from '../full/menu.js'

/** A seed the simulator failed. */
export interface Failure {
  readonly seed: number
  /** The anomaly counts by kind (`lost-write:2,unseen:1`), or `crashed`. */
  readonly result: string
  /** The anomalies as printed (for a crash, its first line). */
  readonly anomalies: readonly string[]
}

export type HuntOutcome =
  /** Every seed of the range passed. */
  | { readonly kind: 'clean'; readonly seedsRun: number }
  | { readonly kind: 'failed'; readonly seedsRun: number; readonly failure: Failure }
  /** The simulator printed nothing for too long on `seed` (a mutant can make a run spin): stopped. */
  | { readonly kind: 'hung'; readonly seedsRun: number; readonly seed: number }

export interface HuntOptions {
  /** The compiled simulator entry. */
  readonly entry: string
  readonly firstSeed: number
  readonly lastSeed: number
  readonly faults: readonly FaultClass[]
  /** A seed takes about a second; one that is silent this long is hung. */
  readonly seedSilenceMsMax: number
}

const RESULT_LINE = /^seed=(\d+) events=\d+ trace=\S+ result=(\S+)$/
const CRASH_LINE = /^seed=(\d+) CRASHED: (.*)$/
const ANOMALY_LINE = /^\s+ANOMALY (.*)$/
const REPLAY_LINE = /^replay: /
/** Anomalies kept per failing seed (a broken run can print thousands). */
const ANOMALIES_KEPT_MAX = 50
/** Standard error kept for an error message. */
const STDERR_CHARS_MAX = 4_000

/** Simulator processes running now (at most one: hunts run one after another). */
const running = new Set<ChildProcess>()

/** Stops every simulator process a hunt started (the runner is being interrupted). */
export function stopHunts(): void {
  for (const child of running) child.kill('SIGKILL')
  running.clear()
}

/** Runs seeds firstSeed..lastSeed in one simulator process; resolves at the first failure (the process is then stopped). */
export function hunt(options: HuntOptions): Promise<HuntOutcome> {
  const args = [options.entry, '--seeds', `${options.firstSeed}..${options.lastSeed}`, '--faults', options.faults.join(',')]
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  running.add(child)
  let stderr = ''
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', (chunk: string) => {
    if (stderr.length < STDERR_CHARS_MAX) stderr += chunk
  })
  return new Promise((resolve, reject) => {
    let seedsRun = 0
    let failing: { seed: number; result: string; anomalies: string[] } | undefined
    let outcome: HuntOutcome | undefined
    const finish = (result: HuntOutcome): void => {
      if (outcome !== undefined) return
      outcome = result
      clearTimeout(silence)
      child.kill('SIGKILL')
      resolve(result)
    }
    const onSilence = (): void => finish({ kind: 'hung', seedsRun, seed: options.firstSeed + seedsRun })
    let silence = setTimeout(onSilence, options.seedSilenceMsMax)
    const lines = createInterface({ input: child.stdout })
    lines.on('line', (line) => {
      clearTimeout(silence)
      silence = setTimeout(onSilence, options.seedSilenceMsMax)
      const result = RESULT_LINE.exec(line)
      if (result !== null && result[2] === 'ok') seedsRun++
      else if (result !== null) failing = { seed: Number(result[1]), result: result[2] as string, anomalies: [] }
      const crash = CRASH_LINE.exec(line)
      if (crash !== null) failing = { seed: Number(crash[1]), result: 'crashed', anomalies: [crash[2] as string] }
      const anomaly = ANOMALY_LINE.exec(line)
      if (anomaly !== null && failing !== undefined && failing.anomalies.length < ANOMALIES_KEPT_MAX) failing.anomalies.push(anomaly[1] as string)
      if (REPLAY_LINE.test(line) && failing !== undefined) finish({ kind: 'failed', seedsRun: seedsRun + 1, failure: failing })
    })
    child.on('error', (error) => {
      clearTimeout(silence)
      if (outcome === undefined) reject(error)
    })
    child.on('close', (code) => {
      running.delete(child)
      clearTimeout(silence)
      if (outcome !== undefined) return
      // A failing seed always prints its replay line; exiting non-zero without one is the runner itself failing.
      if (code === 0) finish({ kind: 'clean', seedsRun })
      else reject(new Error(`simulator ${options.entry} exited with ${code} before reporting a failing seed:\n${stderr}`))
    })
  })
}
