import { type ChildProcess, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { Client } from '../src/index.js'

/** Repository root (bench files run from dist/bench/). */
export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

/** The compiled CLI every spawned node runs. */
export const cliPath = join(repoRoot, 'dist', 'src', 'cli', 'main.js')

/** How long a spawned node may take to print its 'node started' line. */
const nodeStartTimeoutMs = 15_000

export interface SpawnedNode {
  readonly id: string
  readonly address: string
  /** Port of the node's Kafka listener ('node started' kafkaPort); undefined without one. */
  readonly kafkaPort: number | undefined
  readonly process: ChildProcess
  stop(): Promise<void>
}

const running = new Set<ChildProcess>()

/** Kills every node this process spawned; registered for exit and signals. */
export function killAllSpawned(): void {
  for (const child of running) child.kill('SIGKILL')
  running.clear()
}
process.once('exit', killAllSpawned)
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    killAllSpawned()
    process.exit(130)
  })
}

/**
 * Starts `skein start` as a child process on an ephemeral loopback port and resolves with its
 * address once it logs 'node started'. `nodeFlags` go to node itself, before the script (e.g.
 * `--cpu-prof`, which NODE_OPTIONS does not accept).
 */
export function spawnNode(id: string, extraArgs: string[], envVars: Record<string, string>, nodeFlags: string[] = []): Promise<SpawnedNode> {
  const args = [...nodeFlags, cliPath, 'start', '--id', id, '--host', '127.0.0.1', '--port', '0', '--log-level', 'info']
  // No Kafka listener unless asked for: several nodes on one host cannot all have 9092.
  if (!extraArgs.includes('--kafka-port')) args.push('--kafka-port', '0')
  args.push(...extraArgs)
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...envVars } })
  running.add(child)
  child.once('exit', () => running.delete(child))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node ${id} did not start within ${nodeStartTimeoutMs} ms`)), nodeStartTimeoutMs)
    child.once('exit', (code) => reject(new Error(`node ${id} exited with ${code} before starting`)))
    const lines = createInterface({ input: child.stdout! })
    lines.on('line', (line) => {
      let entry: { msg?: string; address?: string; kafkaPort?: number | null }
      try {
        entry = JSON.parse(line) as typeof entry
      } catch {
        return
      }
      if (entry.msg !== 'node started' || entry.address === undefined) return
      clearTimeout(timer)
      const address = entry.address
      const kafkaPort = typeof entry.kafkaPort === 'number' && entry.kafkaPort > 0 ? entry.kafkaPort : undefined
      resolve({ id, address, kafkaPort, process: child, stop: () => stopChild(child) })
    })
  })
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 5_000)
    child.once('exit', () => {
      clearTimeout(force)
      resolve()
    })
    child.kill('SIGTERM')
  })
}

/** Percentile (0-100) of an ascending-sorted sample. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)
  return sorted[Math.max(0, index)] as number
}

export interface BenchRow {
  name: string
  value: number
  unit: string
  target: string
  met: boolean
}

/** Prints a Markdown table of figures beside their targets and saves the raw rows as JSON. */
export function report(suite: string, rows: BenchRow[], extra: Record<string, unknown>): void {
  const lines = ['', `| ${suite} | measured | target | |`, '| --- | ---: | --- | --- |']
  for (const row of rows) {
    const value = row.value >= 1000 ? Math.round(row.value).toLocaleString('en-US') : row.value.toFixed(3)
    lines.push(`| ${row.name} | ${value} ${row.unit} | ${row.target} | ${row.met ? 'met' : 'MISSED'} |`)
  }
  process.stdout.write(`${lines.join('\n')}\n\n`)
  const dir = join(repoRoot, 'bench', 'results')
  mkdirSync(dir, { recursive: true })
  const file = join(dir, `${suite}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`)
  writeFileSync(file, JSON.stringify({ suite, rows, ...extra }, null, 2))
  process.stdout.write(`raw figures: ${file}\n`)
}

/** `--name N` from the command line, a positive number, or `fallback`. */
export function argNumber(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`)
  const value = at >= 0 ? Number(process.argv[at + 1]) : fallback
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number`)
  return value
}

/** Clock ticks per second in /proc/<pid>/stat (USER_HZ on Linux). */
const clockTicksPerSecond = 100

/** utime + stime of a process in seconds, from /proc (Linux); NaN when unknown. */
export function cpuSecondsOf(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / clockTicksPerSecond
  } catch {
    return Number.NaN
  }
}

/** CPU seconds this process (the bench's client side) has used, all threads. */
export function clientCpuSeconds(): number {
  const usage = process.cpuUsage()
  return (usage.user + usage.system) / 1e6
}

/**
 * Runs a bench's `main` and exits: 0 when it finishes, 1 (after killing every node it spawned)
 * when it throws, with the error on stderr.
 */
export function runBench(name: string, main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`bench:${name} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
      killAllSpawned()
      process.exit(1)
    },
  )
}

/**
 * Waits until every node leads its share of the topic's partitions (within one), so that no
 * leadership change (a new topic's elections, or a hand-over to a preferred replica) falls
 * into a measured window. Gives up after 15 s and measures anyway, saying so.
 */
export async function waitForBalancedLeaders(client: Client, topic: string, nodes: number): Promise<void> {
  const deadline = performance.now() + 15_000
  let counts = new Map<string, number>()
  while (performance.now() < deadline) {
    const described = await client.admin().describeTopic(topic).catch(() => undefined)
    counts = new Map<string, number>()
    for (const p of described?.partitions ?? []) if (p.leader !== undefined) counts.set(p.leader, (counts.get(p.leader) ?? 0) + 1)
    if (counts.size === nodes && Math.max(...counts.values()) - Math.min(...counts.values()) <= 1) return
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
  process.stdout.write(`  (leaders of ${topic} still uneven after 15 s: ${JSON.stringify(Object.fromEntries(counts))}; measuring anyway)\n`)
}

/** A cluster of `skein start` processes (every node a metadata voter), each in a fresh temp data dir. */
export interface SpawnedCluster {
  readonly nodes: readonly SpawnedNode[]
  /** The first node's address: a seed for clients. */
  readonly seed: string
  /** Stops every node and removes the data dirs. */
  stop(): Promise<void>
}

/** Starts `ids` one after the other, the later ones joining through the first. */
export async function spawnCluster(name: string, ids: readonly string[], cluster: { clusterId: string; clusterSecret: string }): Promise<SpawnedCluster> {
  const nodes: SpawnedNode[] = []
  const dirs: string[] = []
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map((node) => node.stop()))
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
  }
  process.once('exit', () => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
  })
  try {
    for (const id of ids) {
      const dir = mkdtempSync(join(tmpdir(), `skein-bench-${name}-${id}-`))
      dirs.push(dir)
      const args = ['--data', dir, '--cluster-id', cluster.clusterId, '--controllers', ids.join(',')]
      if (nodes[0] !== undefined) args.push('--seeds', nodes[0].address)
      nodes.push(await spawnNode(id, args, { SKEIN_CLUSTER_SECRET: cluster.clusterSecret }))
    }
  } catch (error) {
    await stop()
    throw error
  }
  return { nodes, seed: (nodes[0] as SpawnedNode).address, stop }
}

/** Creates a topic, retrying for up to 30 s while the cluster forms (replication factor 3 needs three live nodes in gossip). */
export async function createTopicWhenReady(client: Client, name: string, partitions: number, replicationFactor: number): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await client.admin().createTopic({ name, partitions, replicationFactor })
      return
    } catch (error) {
      if (attempt >= 60) throw error
      await new Promise((resolve) => setTimeout(resolve, 500))
    }
  }
}
