import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
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
 *
 * Also: nodes configured by SKEIN_* variables alone (`startFromEnv`), long-running CLI commands
 * such as `skein cluster up` in a process group of their own (`spawnCli`; cleanup kills the
 * group, grandchildren included), and free ports chosen before a start (`freePorts`,
 * `freeConsecutivePorts`) for seed lists and base ports.
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

/** Attempts at finding `count` consecutive free ports before giving up. */
const consecutivePortAttemptsMax = 50

/** Every child any Processes of this test process started and that has not exited yet. */
const liveChildren = new Set<ChildProcess>()
/** Process groups (by leader pid) of CLI children that start processes of their own (`skein cluster up`). */
const liveGroups = new Set<number>()
process.once('exit', () => {
  for (const child of liveChildren) child.kill('SIGKILL')
  for (const pgid of liveGroups) killGroup(pgid)
})

export interface StartOptions {
  /** 0 (the default) picks an ephemeral port. */
  port?: number
  peers?: Record<string, string>
  /** Passed as --seeds host:port,... */
  seeds?: string[]
  /** Passed as --controllers id,id,...: the metadata quorum of a new cluster. */
  controllers?: string[]
  clusterId?: string
  /** Passed as SKEIN_CLUSTER_SECRET; without one the node warns and uses its dev secret. */
  secret?: string
  /** More environment variables for the child. */
  env?: Record<string, string>
  logLevel?: 'debug' | 'info' | 'warn' | 'error'
  /**
   * Passed as --kafka-port. Default 0: no Kafka listener, so that nodes of parallel tests do
   * not all reach for 9092. Kafka tests pass 'ephemeral' and read the port from the node's
   * 'node started' line (`NodeProcess.kafkaPort`): a port chosen free and released before the
   * start can be taken by a parallel test's node in between.
   */
  kafkaPort?: number | 'ephemeral'
}

/** One running (or exited) `skein start` child. */
export class NodeProcess {
  /** Every JSON line the child printed on stdout, in order. */
  readonly lines: LogLine[] = []
  stderr = ''
  /** Set once the child logged 'node started'. */
  address = ''
  /** The Kafka listener's port from 'node started'; undefined when the node runs none. */
  kafkaPort: number | undefined = undefined
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

/**
 * A long-running CLI child (`skein cluster up`), started in a process group of its own so that
 * cleanup can stop it together with every node process it started, even if it cannot stop them
 * itself. Its stdout is kept whole and as JSON lines (children that inherit its stdout log there).
 */
export class CliProcess {
  stdout = ''
  stderr = ''
  /** Every JSON line on stdout, in order (the node processes' pino lines, for `cluster up`). */
  readonly lines: LogLine[] = []
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>

  constructor(readonly child: ChildProcess) {
    liveChildren.add(child)
    liveGroups.add(this.pid)
    child.once('exit', () => liveChildren.delete(child))
    this.exited = new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal })))
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (this.stdout += chunk))
    createInterface({ input: child.stdout! }).on('line', (text) => {
      const line = parseLogLine(text)
      if (line !== undefined) this.lines.push(line)
    })
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk))
  }

  /** Also the id of its process group. */
  get pid(): number {
    const pid = this.child.pid
    if (pid === undefined) throw new Error('CLI child has no pid (spawn failed)')
    return pid
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null
  }

  /** Sends `signal` to the CLI process only (not its group), as an operator's kill would. */
  signal(signal: NodeJS.Signals): void {
    if (this.running) this.child.kill(signal)
  }

  /** Whether any process of its group (itself or a node it started) is still there. */
  groupAlive(): boolean {
    return processExists(-this.pid)
  }

  /** Waits (bounded) for `count` distinct lines matching `predicate`. */
  async waitForLines(predicate: (line: LogLine) => boolean, count: number, what: string, timeoutMs = 15_000): Promise<LogLine[]> {
    const deadline = performance.now() + timeoutMs
    for (;;) {
      const found = this.lines.filter(predicate)
      if (found.length >= count) return found
      if (!this.running) throw new Error(`CLI exited while waiting for ${what}; stderr: ${this.stderr}`)
      if (performance.now() > deadline) throw new Error(`no ${count} log lines for ${what} (found ${found.length}); stderr: ${this.stderr}`)
      await delay(10)
    }
  }

  /** SIGKILL to the whole group: the CLI and every node it started. Resolves once the CLI is gone. */
  async killGroup(): Promise<void> {
    killGroup(this.pid)
    liveGroups.delete(this.pid)
    await this.exited
  }
}

export interface CliResult {
  status: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/** A client program a test runs (Processes.spawnScript): its stdout lines as printed, its stderr, its exit. */
export class ScriptProcess {
  readonly lines: string[] = []
  stderr = ''
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>

  constructor(readonly child: ChildProcess) {
    this.exited = new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal })))
    createInterface({ input: child.stdout! }).on('line', (text) => this.lines.push(text))
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk))
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null
  }

  /** SIGKILL, no chance to clean up; resolves once the process is gone. */
  async kill(): Promise<void> {
    if (this.running) this.child.kill('SIGKILL')
    await this.exited
  }
}

/** The child processes and temp dirs of one test (or one file); `cleanup()` in afterEach/afterAll. */
export class Processes {
  /** The temp root, made once even when several starts race for it (a second mkdtemp would leak). */
  private rootDir: Promise<string> | undefined
  private readonly nodes: NodeProcess[] = []
  private readonly others = new Set<ChildProcess>()
  private readonly longRunning: CliProcess[] = []

  /** A fresh directory under this instance's temp root (one mkdtemp, removed by cleanup). */
  async tempDir(name: string): Promise<string> {
    this.rootDir ??= mkdtemp(join(tmpdir(), 'skein-proc-'))
    return mkdtemp(join(await this.rootDir, `${name}-`))
  }

  /** Starts `skein start --id <id>` on 127.0.0.1 and resolves once it logged 'node started'. */
  async start(id: string, options: StartOptions = {}): Promise<NodeProcess> {
    const node = this.spawnNode(id, await this.tempDir(id), options)
    await this.awaitStarted(node)
    return node
  }

  /**
   * Starts `skein start` with no command-line flags at all: everything comes from `env`
   * (SKEIN_ID, SKEIN_PORT, ...; SKEIN_* variables of this test process are not passed on).
   * Runs in a fresh temp dir; resolves once it logged 'node started'.
   */
  async startFromEnv(id: string, env: Record<string, string>): Promise<NodeProcess> {
    const cwd = await this.tempDir(id)
    const child = spawn(process.execPath, [cliPath, 'start'], { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...envWithoutSkein(), ...env } })
    const node = new NodeProcess(id, child, env['SKEIN_DATA'] ?? cwd, { env })
    this.nodes.push(node)
    await this.awaitStarted(node)
    return node
  }

  /**
   * Starts a long-running CLI command (`cluster up ...`) in its own process group, in a temp
   * working dir. cleanup() kills the whole group, so nothing it started outlives the test.
   */
  async spawnCli(args: string[], env: Record<string, string> = {}): Promise<CliProcess> {
    const cwd = await this.tempDir('cli')
    const child = spawn(process.execPath, [cliPath, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...envWithoutSkein(), ...env }, detached: true })
    const cli = new CliProcess(child)
    this.longRunning.push(cli)
    return cli
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

  /**
   * Runs `node <script> ...args` from the repository root (so it imports 'skein' as a user
   * would), tracked like a node: cleanup() kills it. For client programs a test starts,
   * kills with SIGKILL and restarts (test/fixtures/).
   */
  spawnScript(script: string, args: string[]): ScriptProcess {
    const child = spawn(process.execPath, [join(repoRoot, script), ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], env: envWithoutSkein() })
    liveChildren.add(child)
    this.others.add(child)
    child.once('exit', () => {
      liveChildren.delete(child)
      this.others.delete(child)
    })
    return new ScriptProcess(child)
  }

  /** Runs the CLI to completion (bounded) in a temp working dir and returns what it printed; `input` is its stdin. */
  async runCli(args: string[], timeoutMs = 10_000, input?: string): Promise<CliResult> {
    const cwd = await this.tempDir('cli')
    const child = spawn(process.execPath, [cliPath, ...args], { cwd, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], env: { ...process.env } })
    if (input !== undefined) child.stdin?.end(input)
    liveChildren.add(child)
    this.others.add(child)
    let stdout = ''
    let stderr = ''
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
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
    await Promise.all(this.longRunning.splice(0).map((cli) => cli.killGroup()))
    await Promise.all(nodes.map((node) => node.stop()))
    if (this.rootDir !== undefined) {
      await rm(await this.rootDir, { recursive: true, force: true })
      this.rootDir = undefined
    }
  }

  private spawnNode(id: string, dataDir: string, options: StartOptions): NodeProcess {
    const args = [cliPath, 'start', '--id', id, '--host', '127.0.0.1', '--port', String(options.port ?? 0), '--data', dataDir]
    args.push('--log-level', options.logLevel ?? 'info', '--kafka-port', String(options.kafkaPort ?? 0))
    if (options.clusterId !== undefined) args.push('--cluster-id', options.clusterId)
    const peers = Object.entries(options.peers ?? {}).map(([peerId, address]) => `${peerId}=${address}`)
    if (peers.length > 0) args.push('--peers', peers.join(','))
    if (options.seeds !== undefined && options.seeds.length > 0) args.push('--seeds', options.seeds.join(','))
    if (options.controllers !== undefined && options.controllers.length > 0) args.push('--controllers', options.controllers.join(','))
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
      node.kafkaPort = typeof line['kafkaPort'] === 'number' ? line['kafkaPort'] : undefined
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

/**
 * Ports that were free a moment ago on 127.0.0.1, for nodes whose addresses must be known
 * before they start (seed lists): all are bound to port 0 at once (so they are distinct), read
 * and released. Another process could take one in between; on a test machine that is rare.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = []
  try {
    for (let i = 0; i < count; i++) servers.push(await listen(0))
    return servers.map((server) => (server.address() as { port: number }).port)
  } finally {
    await Promise.all(servers.map(closeServer))
  }
}

/** `count` consecutive ports, all free a moment ago on 127.0.0.1 (for `skein cluster up --base-port`). */
export async function freeConsecutivePorts(count: number): Promise<number> {
  for (let attempt = 1; attempt <= consecutivePortAttemptsMax; attempt++) {
    const servers: Server[] = []
    try {
      servers.push(await listen(0))
      const base = (servers[0]!.address() as { port: number }).port
      if (base + count - 1 > 65_535) continue
      for (let i = 1; i < count; i++) servers.push(await listen(base + i))
      return base
    } catch {
      // One of the following ports is taken: try another base.
    } finally {
      await Promise.all(servers.map(closeServer))
    }
  }
  throw new Error(`no ${count} consecutive free ports found in ${consecutivePortAttemptsMax} attempts`)
}

/** GET http://<address><path> as JSON, bounded; throws on a network error or a non-2xx status. */
export async function fetchJson<T>(address: string, path: string, timeoutMs = 2_000): Promise<T> {
  const response = await fetch(`http://${address}${path}`, { signal: AbortSignal.timeout(timeoutMs) })
  if (!response.ok) throw new Error(`GET ${path} on ${address}: HTTP ${response.status}`)
  return (await response.json()) as T
}

/** Whether a process (pid > 0) or any process of a group (-pgid) exists; signal 0 only checks. */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => resolve(server))
  })
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()))
}

/** SIGKILL to every process of the group led by `pgid`; nothing if it is already empty. */
function killGroup(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGKILL')
  } catch {
    // ESRCH: the group is empty already.
  }
}

/** This process's environment without SKEIN_* variables, so children see only what a test sets. */
function envWithoutSkein(): Record<string, string | undefined> {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('SKEIN_')))
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
