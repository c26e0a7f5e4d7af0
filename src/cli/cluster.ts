import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parsePort, usageError } from './args.js'
import { describeFlags, type FlagSpec, readFlags } from './flags.js'

const CLUSTER_FLAGS: readonly FlagSpec[] = [
  { name: 'nodes', env: 'SKEIN_CLUSTER_NODES', placeholder: 'count', defaultValue: '3', help: 'how many node processes to start' },
  { name: 'kafka-base-port', env: 'SKEIN_KAFKA_BASE_PORT', placeholder: 'port', defaultValue: '9092', help: "node i's Kafka listener is on kafka-base-port + i - 1; 0 = none" },
  { name: 'base-port', env: 'SKEIN_BASE_PORT', placeholder: 'port', defaultValue: '7071', help: 'node i listens on base-port + i - 1' },
  { name: 'data', env: 'SKEIN_DATA', placeholder: 'dir', defaultValue: './data', help: 'node i keeps its data in <dir>/n<i>' },
  { name: 'log-level', env: 'SKEIN_LOG_LEVEL', placeholder: 'level', defaultValue: 'info', help: 'passed to every node' },
]

export const CLUSTER_USAGE = `Usage: skein cluster up [--nodes 3] [--base-port 7071] [--kafka-base-port 9092] [--data ./data]

Starts a local development cluster of separate node processes (n1, n2, ...) on 127.0.0.1,
each seeded with every other's address, sharing a cluster secret kept in <data>/cluster-secret.
Each also serves Kafka clients (node i on kafka-base-port + i - 1) and, like a local Kafka,
creates a topic the first time a Kafka client asks for it. Their logs go to stdout; Ctrl-C
stops them all.

${describeFlags(CLUSTER_FLAGS)}
`

/** Largest local cluster: more processes than this on one machine is a mistake, not a test. */
const CLUSTER_NODES_MAX = 64
/** How long nodes get to stop after SIGTERM before they are killed. */
const STOP_GRACE_MS = 5_000

export async function runCluster(argv: string[]): Promise<void> {
  const [subcommand, ...rest] = argv
  if (subcommand !== 'up') throw usageError(`unknown cluster subcommand '${subcommand ?? ''}'\n\n${CLUSTER_USAGE}`)
  const { values } = readFlags(rest, CLUSTER_FLAGS)
  const count = Number(values['nodes'])
  if (!Number.isInteger(count) || count < 1 || count > CLUSTER_NODES_MAX) throw usageError(`--nodes must be an integer from 1 to ${CLUSTER_NODES_MAX}`)
  const basePort = parsePort('--base-port', values['base-port'] as string)
  const kafkaBasePort = parsePort('--kafka-base-port', values['kafka-base-port'] as string)
  if (kafkaBasePort + count - 1 > 65_535) throw usageError('--kafka-base-port leaves no room for that many nodes')
  if (basePort === 0 || basePort + count - 1 > 65_535) throw usageError('--base-port leaves no room for that many nodes')
  const dataDir = values['data'] as string
  const secretFile = ensureSecretFile(dataDir)
  const seeds = Array.from({ length: count }, (_, i) => `127.0.0.1:${basePort + i}`).join(',')
  const cliPath = fileURLToPath(new URL('./main.js', import.meta.url))
  const children: ChildProcess[] = []
  for (let i = 1; i <= count; i++) {
    const args = [cliPath, 'start', '--id', `n${i}`, '--port', String(basePort + i - 1), '--seeds', seeds]
    // A development cluster creates topics on first use, as a local Kafka does.
    args.push('--kafka-port', String(kafkaBasePort === 0 ? 0 : kafkaBasePort + i - 1), '--auto-create-topics', 'true')
    args.push('--data', join(dataDir, `n${i}`), '--secret-file', secretFile, '--log-level', values['log-level'] as string)
    children.push(spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'], env: nodeEnv() }))
  }
  process.stderr.write(`skein cluster up: ${count} nodes on 127.0.0.1:${basePort}-${basePort + count - 1}; status: skein status --seeds 127.0.0.1:${basePort}\n`)
  await superviseUntilStopped(children)
}

/**
 * The nodes' environment: ours without SKEIN_* variables. The flags above configure each node
 * fully; a variable meant for `skein start` would clash with them (SKEIN_CLUSTER_SECRET beside
 * --secret-file is a usage error, SKEIN_ADVERTISE would give every node one address).
 */
function nodeEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('SKEIN_')))
}

/** A per-cluster random secret, created once, readable only by its owner. */
function ensureSecretFile(dataDir: string): string {
  mkdirSync(dataDir, { recursive: true })
  const path = join(dataDir, 'cluster-secret')
  if (!existsSync(path)) writeFileSync(path, randomBytes(32).toString('hex'), { mode: 0o600 })
  return path
}

/** Waits for Ctrl-C/SIGTERM (stop all, exit 0) or a node dying on its own (stop the rest, exit 1). */
function superviseUntilStopped(children: ChildProcess[]): Promise<void> {
  return new Promise((resolve) => {
    let stopping = false
    const stopAll = (exitCode: number): void => {
      if (stopping) return
      stopping = true
      const alive = children.filter((c) => c.exitCode === null && c.signalCode === null)
      for (const child of alive) child.kill('SIGTERM')
      const force = setTimeout(() => alive.forEach((c) => c.kill('SIGKILL')), STOP_GRACE_MS)
      Promise.all(alive.map((c) => new Promise((r) => c.once('exit', r)))).then(() => {
        clearTimeout(force)
        process.exitCode = exitCode
        resolve()
      })
    }
    for (const child of children) {
      child.once('exit', (code, signal) => {
        if (stopping) return
        process.stderr.write(`skein cluster: node process ${child.pid} exited (code ${code}, signal ${signal}); stopping the others\n`)
        stopAll(1)
      })
    }
    process.once('SIGINT', () => stopAll(0))
    process.once('SIGTERM', () => stopAll(0))
  })
}
