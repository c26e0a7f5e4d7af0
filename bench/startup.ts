/**
 * Startup benchmark: `npm run bench:startup`.
 *
 *   --version     `node dist/src/cli/main.js --version`, spawn to exit, median of 10   target < 1000 ms
 *   skein start   spawn to the 'node started' log line (port 0, temp data dir),
 *                 median of 5; each node is stopped before the next starts            target < 1000 ms
 *
 * Figures come from one run on this machine; they are printed beside their targets.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type BenchRow, cliPath, killAllSpawned, report, spawnNode } from './harness.js'

const versionRuns = 10
const startRuns = 5
const targetMs = 1_000
const secret = 'bench-secret-0123456789abcdef'

/** Wall time of one `--version` run, from spawn to exit. */
function timeVersion(): Promise<number> {
  return new Promise((resolve, reject) => {
    const startedAt = performance.now()
    const child = spawn(process.execPath, [cliPath, '--version'], { stdio: 'ignore' })
    child.once('error', reject)
    child.once('exit', (code) => {
      const elapsedMs = performance.now() - startedAt
      if (code === 0) resolve(elapsedMs)
      else reject(new Error(`--version exited with ${code}`))
    })
  })
}

/** Wall time from spawning `skein start` to its 'node started' line; the node is stopped after. */
async function timeStart(run: number): Promise<number> {
  const dataDir = await mkdtemp(join(tmpdir(), 'skein-bench-startup-'))
  try {
    const startedAt = performance.now()
    const node = await spawnNode(`startup${run}`, ['--data', dataDir], { SKEIN_CLUSTER_SECRET: secret })
    const elapsedMs = performance.now() - startedAt
    await node.stop()
    return elapsedMs
  } finally {
    await rm(dataDir, { recursive: true, force: true })
  }
}

async function sample(runs: number, measure: (run: number) => Promise<number>): Promise<number[]> {
  const samples: number[] = []
  for (let run = 0; run < runs; run++) samples.push(await measure(run))
  return samples
}

function median(samples: number[]): number {
  const sorted = [...samples].sort((x, y) => x - y)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2
}

async function main(): Promise<void> {
  const versionMs = await sample(versionRuns, timeVersion)
  const startMs = await sample(startRuns, timeStart)
  const row = (name: string, samples: number[]): BenchRow => {
    const value = median(samples)
    return { name, value, unit: 'ms', target: `< ${targetMs} ms`, met: value < targetMs }
  }
  const rows = [row(`--version (median of ${versionRuns})`, versionMs), row(`skein start to 'node started' (median of ${startRuns})`, startMs)]
  report('startup', rows, { node: process.version, samplesMs: { version: versionMs, start: startMs } })
}

main().catch((err: unknown) => {
  killAllSpawned()
  process.stderr.write(`bench:startup failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
  process.exit(1)
})
