import { type ChildProcess, spawn } from 'node:child_process'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { repoRoot } from '../helpers/processes.js'

/**
 * `npm run chaos`, short: the chaos main (compiled by `tsc -p tsconfig.json`, as `npm test`
 * does first) with 20 s of faults must exit 0 and print its verdict. It runs in a process
 * group of its own, so a hung run is killed together with the node processes it started.
 */

const CHAOS_MAIN = join(repoRoot, 'dist', 'test', 'chaos', 'main.js')
/** 20 s of faults plus start, heal, drain and read-back: about 35 s here; the rest is headroom. */
const RUN_TIMEOUT_MS = 150_000

let running: ChildProcess | undefined

afterEach(() => {
  const pid = running?.pid
  if (pid !== undefined && running?.exitCode === null && running.signalCode === null) {
    try {
      process.kill(-pid, 'SIGKILL')
    } catch {
      // The group is gone already.
    }
  }
  running = undefined
})

describe('npm run chaos (short)', () => {
  it('chaos_20SecondsOfFaults_exitsZeroAndPrintsAPassingVerdict', async () => {
    const child = spawn(process.execPath, [CHAOS_MAIN, '--duration-s', '20', '--seed', '42'], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
    running = child
    let output = ''
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk))
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk))
    const timer = setTimeout(() => child.pid !== undefined && process.kill(-child.pid, 'SIGKILL'), RUN_TIMEOUT_MS)
    const code = await new Promise<number | null>((resolve) => child.once('close', (exitCode) => resolve(exitCode)))
    clearTimeout(timer)

    expect(output).toContain('fault phase: 20 s')
    expect(output).toMatch(/what the chaos did: kill -9 x\d+, SIGSTOP x\d+, link cut x\d+, graceful restart x\d+/)
    expect(output).toMatch(/acknowledged writes survive at their offsets\s+PASS/)
    expect(output, output).toContain('verdict: PASS')
    expect(code, output).toBe(0)
  }, RUN_TIMEOUT_MS + 10_000)
})
