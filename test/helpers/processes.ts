import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

/**
 * `skein start` as real child processes, for the multi-process tests (test/process/).
 *
 * Like bench/harness.ts's spawnNode (same command line, same 'node started' line), plus what
 * tests need and a benchmark does not: every stdout JSON line is kept for assertions on
 * warnings, a node can be restarted on the port it had, data dirs live under one temp root,
 * and `cleanup()` stops everything (SIGTERM, then SIGKILL after a grace period) and removes
 * the temp root. harness.ts's own paths are relative to dist/bench/, where vitest does not
 * run it from, so the CLI path is computed here.
 */

/** pino's numeric levels, as they appear in the JSON lines. */
export const PinoLevel = { debug: 20, info: 30, warn: 40, error: 50 } as const

/** One pino JSON line from a child's stdout. */
export interface LogLine {
  level: number
  msg: string
  [field: string]: unknown
}

/** Repository root: the nearest folder above this file with a package.json (from test/ or dist/test/). */
export const repoRoot = findRepoRoot(dirname(fileURLToPath(import.meta.url)))

/** The compiled CLI (`npx tsc -p tsconfig.json` emits it). */
export const cliPath = join(repoRoot, 'dist', 'src', 'cli', 'main.js')

/** How long a child may take to log 'node started'; only bounds a hung test. */
const startTimeoutMs = 15_000
/** How long SIGTERM has to stop a child before SIGKILL. */
const stopGraceMs = 3_000
/** Spawn attempts when restarting on a fixed port that may briefly still be taken. */
const restartAttemptsMax = 5
const restartRetryDelayMs = 200

/** Every child any Processes of this test process started and that has not exited yet. */
const liveChildren = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of liveChildren) child.kill('SIGKILL')
})

export interface StartOptions {
  /** 0 (the default) picks an ephemeral port. */
  port?: number
  peers?: Record<string, string>
  clusterId?: string
  /** Passed as SKEIN_CLUSTER_SECRET; without one the node warns and uses its dev secret. */
  secret?: string
  /** More environment variables for the child. */
  env?: Record<string, string>
  logLevel?: 'debug' | 'info' | 'warn' | 'error'
}

/** One running (or exited) `skein start` child. */
export class NodeProcess {
  /** Every JSON line the child printed on stdout, in order. */
  readonly lines: LogLine[] = []
  stderr = ''
  /** Set once the child logged 'node started'. */
  address = ''
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>

  constructor(
    readonly id: string,
    readonly child: ChildProcess,
    readonly dataDir: string,
    readonly options: StartOptions,
  ) {
    liveChildren.add(child)
    child.once('exit', () => liveChildren.delete(child))
    // 'close' comes after 'exit' and after stdout/stderr ended: by then every line is in.
    this.exited = new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal })))
    createInterface({ input: child.stdout! }).on('line', (text) => {
      const line = parseLogLine(text)
      if (line !== undefined) this.lines.push(line)
    })
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk))
  }

  get port(): number {
    return Number(this.address.slice(this.address.lastIndexOf(':') + 1))
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null
  }

  linesAtLevel(level: number): LogLine[] {
    return this.lines.filter((line) => line.level === level)
  }

  /** Waits (bounded) for a line matching `predicate`, at or after index `fromIndex`. */
  async waitForLine(predicate: (line: LogLine) => boolean, what: string, fromIndex = 0, timeoutMs = 10_000): Promise<LogLine> {
    const deadline = performance.now() + timeoutMs
    for (;;) {
      const found = this.lines.slice(fromIndex).find(predicate)
      if (found !== undefined) return found
      if (!this.running) throw new Error(`node ${this.id} exited while waiting for ${what}`)
      if (performance.now() > deadline) throw new Error(`node ${this.id}: no log line for ${what}; last lines:\n${this.tail()}`)
      await delay(10)
    }
  }

  /** SIGKILL, no chance to clean up; resolves once the process is gone. */
  async kill(): Promise<void> {
    if (this.running) this.child.kill('SIGKILL')
    await this.exited
  }

  /** SIGTERM, then SIGKILL if it has not exited within the grace period. */
  async stop(): Promise<void> {
    if (!this.running) return
    const force = setTimeout(() => this.child.kill('SIGKILL'), stopGraceMs)
    this.child.kill('SIGTERM')
    await this.exited
    clearTimeout(force)
  }

  tail(count = 10): string {
    return this.lines.slice(-count).map((line) => JSON.stringify(line)).join('\n') + (this.stderr === '' ? '' : `\nstderr: ${this.stderr}`)
  }
}

export interface CliResult {
  status: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/** The child processes and temp dirs of one test (or one file); `cleanup()` in afterEach/afterAll. */
export class Processes {
  private rootDir: string | undefined
  private readonly nodes: NodeProcess[] = []
  private readonly others = new Set<ChildProcess>()

  /** A fresh directory under this instance's temp root (one mkdtemp, removed by cleanup). */
  async tempDir(name: string): Promise<string> {
    this.rootDir ??= await mkdtemp(join(tmpdir(), 'skein-proc-'))
    return mkdtemp(join(this.rootDir, `${name}-`))
  }

  /** Starts `skein start --id <id>` on 127.0.0.1 and resolves once it logged 'node started'. */
  async start(id: string, options: StartOptions = {}): Promise<NodeProcess> {
    const node = this.spawnNode(id, await this.tempDir(id), options)
    await this.awaitStarted(node)
    return node
  }

  /**
   * Starts a stopped node again with the same id, data dir and options, on the port it had.
   * The port may briefly still be taken: a start that fails with EADDRINUSE is retried.
   */
  async restart(previous: NodeProcess): Promise<NodeProcess> {
    if (previous.running) throw new Error(`node ${previous.id} is still running`)
    const options = { ...previous.options, port: previous.port }
    for (let attempt = 1; ; attempt++) {
      const node = this.spawnNode(previous.id, previous.dataDir, options)
      try {
        await this.awaitStarted(node)
        return node
      } catch (err) {
        if (attempt >= restartAttemptsMax || !node.stderr.includes('EADDRINUSE')) throw err
        await delay(restartRetryDelayMs)
      }
    }
  }

  /** Runs the CLI to completion (bounded) in a temp working dir and returns what it printed. */
  async runCli(args: string[], timeoutMs = 10_000): Promise<CliResult> {
    const cwd = await this.tempDir('cli')
    const child = spawn(process.execPath, [cliPath, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env } })
    liveChildren.add(child)
    this.others.add(child)
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    const { status, signal } = await new Promise<{ status: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child.once('close', (code, sig) => resolve({ status: code, signal: sig }))
    })
    clearTimeout(timer)
    liveChildren.delete(child)
    this.others.delete(child)
    return { status, signal, stdout, stderr }
  }

  /** Stops every child this instance started (SIGTERM, then SIGKILL) and removes the temp root. */
  async cleanup(): Promise<void> {
    const nodes = this.nodes.splice(0)
    for (const child of this.others) child.kill('SIGKILL')
    this.others.clear()
    await Promise.all(nodes.map((node) => node.stop()))
    if (this.rootDir !== undefined) {
      await rm(this.rootDir, { recursive: true, force: true })
      this.rootDir = undefined
    }
  }

  private spawnNode(id: string, dataDir: string, options: StartOptions): NodeProcess {
    const args = [cliPath, 'start', '--id', id, '--host', '127.0.0.1', '--port', String(options.port ?? 0), '--data', dataDir]
    args.push('--log-level', options.logLevel ?? 'info')
    if (options.clusterId !== undefined) args.push('--cluster-id', options.clusterId)
    const peers = Object.entries(options.peers ?? {}).map(([peerId, address]) => `${peerId}=${address}`)
    if (peers.length > 0) args.push('--peers', peers.join(','))
    const env: Record<string, string | undefined> = { ...process.env, ...options.env }
    if (options.secret !== undefined) env['SKEIN_CLUSTER_SECRET'] = options.secret
    const child = spawn(process.execPath, args, { cwd: dataDir, stdio: ['ignore', 'pipe', 'pipe'], env })
    const node = new NodeProcess(id, child, dataDir, options)
    this.nodes.push(node)
    return node
  }

  private async awaitStarted(node: NodeProcess): Promise<void> {
    try {
      const line = await node.waitForLine((l) => l.msg === 'node started' && typeof l['address'] === 'string', "'node started'", 0, startTimeoutMs)
      node.address = line['address'] as string
    } catch (err) {
      await node.stop()
      throw new Error(`node ${node.id} did not start: ${(err as Error).message}\n${node.tail()}`)
    }
  }
}

/**
 * Calls `attempt` until it resolves, `delayMs` apart, while `deadlineMs` has not passed (one
 * attempt is always made); rethrows the last failure. The deadline only bounds the retries:
 * nothing asserts on how long they took.
 */
export async function retry<T>(attempt: () => Promise<T>, deadlineMs: number, delayMs: number): Promise<T> {
  const deadline = performance.now() + deadlineMs
  for (;;) {
    try {
      return await attempt()
    } catch (err) {
      if (performance.now() + delayMs > deadline) throw err
      await delay(delayMs)
    }
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

function parseLogLine(text: string): LogLine | undefined {
  try {
    const value = JSON.parse(text) as unknown
    if (typeof value !== 'object' || value === null || typeof (value as LogLine).level !== 'number') return undefined
    return value as LogLine
  } catch {
    return undefined
  }
}

function findRepoRoot(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir
    if (dirname(dir) === dir) throw new Error(`no package.json above ${start}`)
  }
}
