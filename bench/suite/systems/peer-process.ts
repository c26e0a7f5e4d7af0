/**
 * What the peer adapters (Redis, NATS, RabbitMQ) share: finding a server binary, free loopback
 * ports, a temp dir, spawning a server with its output in a log file, waiting for it to be
 * ready, and stopping it so that nothing of it is left: the process, its process group and
 * every descendant it forked (Erlang's erl_child_setup and inet_gethost start their own
 * sessions, so the group alone is not enough).
 *
 * Every process spawned here is registered until it is stopped; if the bench exits early (an
 * error, Ctrl-C, SIGTERM), an exit hook SIGKILLs every registered process tree and removes the
 * temp dirs, as bench/harness.ts does for skein nodes (killAllSpawned). The hook is synchronous,
 * as an 'exit' listener must be.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { accessSync, closeSync, constants, existsSync, openSync, readdirSync, readFileSync, realpathSync, rmSync } from 'node:fs'
import { mkdtemp, readFile } from 'node:fs/promises'
import { connect, createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'

/** Where Debian and others put server binaries that a non-root PATH often lacks. */
const sbinDirs = ['/usr/local/sbin', '/usr/sbin', '/sbin']
/** How long stop() waits after SIGTERM before SIGKILL. */
const stopGraceMs = 10_000
/** How long stop() waits for every SIGKILLed process to be gone. */
const killWaitMs = 5_000
/** Poll period of the readiness and liveness waits. */
const pollMs = 100
/** Lines of a server's log quoted in an error. */
const logTailLines = 20

// ---------------------------------------------------------------------------------------------
// Finding binaries, ports, dirs

/** The absolute path of `name` on PATH (or in an sbin dir), as `which` would say; undefined when absent. */
export function findBinary(name: string): string | undefined {
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter), ...sbinDirs].filter((dir) => dir !== '')
  for (const dir of dirs) {
    const path = join(dir, name)
    try {
      accessSync(path, constants.X_OK)
      return path
    } catch {
      // not here
    }
  }
  return undefined
}

/** `findBinary` with symlinks resolved (Debian's /usr/sbin/rabbitmq-server is a link to a wrapper). */
export function findBinaryReal(name: string): string | undefined {
  const path = findBinary(name)
  return path === undefined ? undefined : realpathSync(path)
}

/**
 * `count` distinct TCP ports free on 127.0.0.1 right now (all held open at once, then released).
 * Another process could take one before the server binds it; the server then fails to start
 * and says so in its log.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () =>
      new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
        const server = createServer()
        server.once('error', reject)
        server.listen(0, '127.0.0.1', () => resolve(server))
      }),
    ),
  )
  const ports = servers.map((server) => (server.address() as AddressInfo).port)
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))))
  return ports
}

const liveDirs = new Set<string>()

/** A new temp dir `skein-bench-<label>-XXXXXX`, removed by removeTempDir or at exit. */
export async function makeTempDir(label: string): Promise<string> {
  const safe = label.replace(/[^A-Za-z0-9_.-]/g, '_')
  const dir = await mkdtemp(join(tmpdir(), `skein-bench-${safe}-`))
  liveDirs.add(dir)
  return dir
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true })
  liveDirs.delete(dir)
}

// ---------------------------------------------------------------------------------------------
// Process trees

/**
 * The parent pid and process group of every live (non-zombie) process, from /proc (Linux).
 * Empty without /proc: stopping then relies on the process group alone.
 */
function processTable(): Map<number, { ppid: number; pgid: number }> {
  const table = new Map<number, { ppid: number; pgid: number }>()
  if (!existsSync('/proc/self/stat')) return table
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    let stat: string
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
    } catch {
      continue // gone meanwhile
    }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    if (fields[0] === 'Z' || fields[0] === 'X') continue
    table.set(Number(entry), { ppid: Number(fields[1]), pgid: Number(fields[2]) })
  }
  return table
}

/** `pid`, its process group and all their descendants that are alive now. */
export function processTree(pid: number): number[] {
  const table = processTable()
  const found = new Set<number>()
  for (const [other, { pgid }] of table) if (other === pid || pgid === pid) found.add(other)
  let grew = true
  while (grew) {
    grew = false
    for (const [other, { ppid }] of table) {
      if (!found.has(other) && found.has(ppid)) {
        found.add(other)
        grew = true
      }
    }
  }
  return [...found]
}

/** True while `pid` exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  if (!existsSync('/proc/self/stat')) return processExists(pid)
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
    return state !== 'Z' && state !== 'X'
  } catch {
    return false
  }
}

/** The pid in `pid`'s tree whose command name (/proc/<pid>/comm) is `name`, if any. */
export function findInTree(pid: number, name: string): number | undefined {
  return processTree(pid).find((other) => {
    try {
      return readFileSync(`/proc/${other}/comm`, 'utf8').trim() === name
    } catch {
      return false
    }
  })
}

/** kill -0: exists (zombies included), for systems without /proc. */
function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal)
  } catch {
    // already gone
  }
}

// ---------------------------------------------------------------------------------------------
// Spawned servers

export interface PeerProcessSpec {
  /** For messages: 'redis-server 1', 'rabbit r2@localhost'. */
  readonly name: string
  readonly command: string
  readonly args: readonly string[]
  /** Added to process.env. */
  readonly env?: Readonly<Record<string, string>>
  readonly cwd?: string
  /** stdout and stderr go here. */
  readonly logFile: string
}

export interface PeerProcess {
  readonly name: string
  readonly pid: number
  readonly logFile: string
  readonly child: ChildProcess
  /** Has the spawned process itself exited? */
  exited(): boolean
  /** SIGTERM, SIGKILL after `graceMs`, then SIGKILL whatever of the tree is left. Idempotent. */
  stop(graceMs?: number): Promise<void>
}

const running = new Set<PeerProcess>()

/** SIGKILLs every registered process tree and removes the temp dirs; the exit hook. */
export function killAllPeers(): void {
  for (const peer of running) {
    for (const pid of processTree(peer.pid)) killQuietly(pid, 'SIGKILL')
  }
  running.clear()
  for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true })
  liveDirs.clear()
}
process.once('exit', killAllPeers)
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  // bench/harness.ts registers the same for skein nodes; whichever runs first exits, and both
  // 'exit' hooks then run.
  process.once(signal, () => process.exit(130))
}

/**
 * Spawns a server in its own process group (detached), stdout and stderr appended to its log
 * file, and registers it for the exit hook. Resolves once the process has been spawned.
 */
export async function spawnPeer(spec: PeerProcessSpec): Promise<PeerProcess> {
  const fd = openSync(spec.logFile, 'a')
  let child: ChildProcess
  try {
    child = spawn(spec.command, [...spec.args], {
      cwd: spec.cwd,
      env: { ...process.env, ...spec.env },
      stdio: ['ignore', fd, fd],
      detached: true,
    })
  } finally {
    closeSync(fd)
  }
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve)
    child.once('error', reject)
  })
  const pid = child.pid as number
  let stopping: Promise<void> | undefined
  const peer: PeerProcess = {
    name: spec.name,
    pid,
    logFile: spec.logFile,
    child,
    exited: () => child.exitCode !== null || child.signalCode !== null,
    stop: (graceMs = stopGraceMs) => (stopping ??= stopTree(peer, graceMs)),
  }
  running.add(peer)
  return peer
}

async function stopTree(peer: PeerProcess, graceMs: number): Promise<void> {
  // The tree as it is now: once the main process is gone, its helpers in other sessions
  // (reparented to init) can no longer be found from it.
  const tree = new Set(processTree(peer.pid))
  if (!peer.exited()) {
    const exited = new Promise<void>((resolve) => peer.child.once('exit', () => resolve()))
    killQuietly(peer.pid, 'SIGTERM')
    let timer: NodeJS.Timeout | undefined
    const graceOver = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), graceMs)))
    if ((await Promise.race([exited, graceOver])) === 'timeout') killQuietly(-peer.pid, 'SIGKILL')
    clearTimeout(timer)
    await exited
  }
  for (const pid of processTree(peer.pid)) tree.add(pid)
  for (const pid of tree) if (isAlive(pid)) killQuietly(pid, 'SIGKILL')
  const deadline = performance.now() + killWaitMs
  while ([...tree].some(isAlive)) {
    if (performance.now() > deadline) throw new Error(`${peer.name}: processes ${[...tree].filter(isAlive).join(', ')} survived SIGKILL`)
    await sleep(pollMs)
  }
  running.delete(peer)
}

// ---------------------------------------------------------------------------------------------
// Waiting

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** The last lines of a log file, for error messages. */
export function logTail(logFile: string): string {
  if (!existsSync(logFile)) return '(no log)'
  const lines = readFileSync(logFile, 'utf8').trimEnd().split('\n')
  return lines.slice(-logTailLines).join('\n')
}

/** Throws, quoting the log, if the peer has exited or the deadline has passed. */
function checkWaiting(peer: PeerProcess, what: string, deadline: number, timeoutMs: number): void {
  if (peer.exited()) throw new Error(`${peer.name} exited (${peer.child.exitCode ?? peer.child.signalCode}) before ${what}; log ${peer.logFile}:\n${logTail(peer.logFile)}`)
  if (performance.now() > deadline) throw new Error(`${peer.name}: no ${what} within ${timeoutMs} ms; log ${peer.logFile}:\n${logTail(peer.logFile)}`)
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port })
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => {
      socket.destroy()
      resolve(false)
    })
  })
}

/** Resolves once 127.0.0.1:`port` accepts a TCP connection; fails early if the peer exits. */
export async function waitForPort(peer: PeerProcess, port: number, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs
  for (;;) {
    checkWaiting(peer, `listener on port ${port}`, deadline, timeoutMs)
    if (await canConnect(port)) return
    await sleep(pollMs)
  }
}

/** Resolves once the peer's log matches `pattern`; fails early if the peer exits. */
export async function waitForLogLine(peer: PeerProcess, pattern: RegExp, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs
  for (;;) {
    checkWaiting(peer, `log line ${pattern}`, deadline, timeoutMs)
    const text = await readFile(peer.logFile, 'utf8').catch(() => '')
    if (pattern.test(text)) return
    await sleep(pollMs)
  }
}

/** Retries `attempt` every `intervalMs` until it resolves or `timeoutMs` passes (then rethrows its last error). */
export async function retryUntil<T>(what: string, timeoutMs: number, intervalMs: number, attempt: () => Promise<T>): Promise<T> {
  const deadline = performance.now() + timeoutMs
  for (;;) {
    try {
      return await attempt()
    } catch (err) {
      if (performance.now() > deadline) throw new Error(`${what}: still failing after ${timeoutMs} ms: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
    }
    await sleep(intervalMs)
  }
}

/** Runs a short-lived command to completion (output captured); rejects with its output on failure. */
export function runCommand(command: string, args: readonly string[], env: Readonly<Record<string, string>>, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, [...args], { env: { ...process.env, ...env }, timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${command} ${args.join(' ')} failed: ${err.message}\n${stdout}${stderr}`))
      else resolve(stdout)
    })
  })
}

/** Stops every peer (in parallel), then removes `dir`; collects and rethrows the first failure. */
export async function stopAll(peers: readonly PeerProcess[], dir: string | undefined): Promise<void> {
  const results = await Promise.allSettled(peers.map((peer) => peer.stop()))
  if (dir !== undefined) removeTempDir(dir)
  const failed = results.find((result): result is PromiseRejectedResult => result.status === 'rejected')
  if (failed) throw failed.reason
}

/** Converts a value to a Buffer without copying (clients want Buffers). */
export function asBuffer(value: Uint8Array): Buffer {
  return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength)
}

/**
 * Gathers the messages a peer's client delivers one at a time into batches: whatever arrived
 * in one event-loop turn, or `batchMax`, whichever comes first, handed to `deliver`. Once
 * `deliver` returns false (the workload has what it wanted) it delivers nothing more and calls
 * `onStop`. `push` after that is ignored.
 */
export class TurnBatcher<T> {
  private batch: T[] = []
  private flushScheduled = false
  private stoppedValue = false

  constructor(
    private readonly batchMax: number,
    private readonly deliver: (items: T[]) => boolean,
    private readonly onStop: () => void,
  ) {}

  get stopped(): boolean {
    return this.stoppedValue
  }

  push(item: T): void {
    if (this.stoppedValue) return
    this.batch.push(item)
    if (this.batch.length >= this.batchMax) this.flush()
    else if (!this.flushScheduled) {
      this.flushScheduled = true
      setImmediate(() => this.flush())
    }
  }

  /** No more deliveries (the consumer is being closed). */
  stop(): void {
    this.stoppedValue = true
  }

  private flush(): void {
    this.flushScheduled = false
    if (this.stoppedValue || this.batch.length === 0) return
    const items = this.batch
    this.batch = []
    if (!this.deliver(items)) {
      this.stoppedValue = true
      this.onStop()
    }
  }
}

/** A stream cannot have more replicas than the deployment has servers. */
export function requireReplicationFits(replication: number, nodes: number): void {
  if (replication > nodes) throw new Error(`replication ${replication} needs ${replication} nodes, have ${nodes}`)
}
