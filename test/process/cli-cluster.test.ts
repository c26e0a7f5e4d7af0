import { Kafka, logLevel } from 'kafkajs'
import { afterEach, describe, expect, it } from 'vitest'
import { type CliResult, fetchJson, freeConsecutivePorts, freePorts, PinoLevel, Processes, processExists, retry } from '../helpers/processes.js'

/**
 * The operator's commands as real processes: `skein cluster up` starts node processes and
 * stops them all on Ctrl-C, `skein status` shows a node's view as a table or JSON and fails
 * cleanly when nobody answers, and `skein start` takes its whole configuration from SKEIN_*
 * environment variables.
 */

const CLUSTER_SECRET = 'cli-cluster-test-secret-0123456789'
/** Membership normally converges in a few seconds; push-pull (30 s) is the slow repair path. */
const CONVERGE_DEADLINE_MS = 45_000
const TEST_TIMEOUT_MS = CONVERGE_DEADLINE_MS + 20_000

interface StatusJson {
  node: string
  members: { id: string; address: string; state: string; incarnation: number; zone: string }[]
}

const procs = new Processes()

afterEach(async () => {
  await procs.cleanup()
})

/** The member rows of `skein status`'s table: [id, address, state, incarnation] per member. */
/** The member rows: from under the header to the first blank line (the broker's sections follow). */
function tableRows(stdout: string): string[][] {
  const lines = stdout.trimEnd().split('\n')
  expect(lines[1]?.split(/\s+/)).toEqual(['ID', 'ADDRESS', 'STATE', 'INCARNATION', 'ZONE'])
  const end = lines.indexOf('', 2)
  return lines.slice(2, end < 0 ? undefined : end).map((line) => line.trim().split(/\s+/))
}

/** Runs `skein status` until it prints `count` alive rows (bounded); returns that run. */
function statusUntilAlive(seed: string, count: number): Promise<CliResult> {
  return retry(
    async () => {
      const result = await procs.runCli(['status', '--seeds', seed])
      if (result.status !== 0) throw new Error(`skein status exited ${result.status}: ${result.stderr}`)
      const alive = tableRows(result.stdout).filter((row) => row[2] === 'alive')
      if (alive.length !== count) throw new Error(`${alive.length} of ${count} alive:\n${result.stdout}`)
      return result
    },
    CONVERGE_DEADLINE_MS,
    250,
  )
}

async function healthAnswers(address: string): Promise<boolean> {
  try {
    await fetchJson(address, '/health', 1_000)
    return true
  } catch {
    return false
  }
}

describe('skein cluster up, status and SKEIN_* variables', () => {
  it('clusterUp_threeNodes_statusShowsThreeAlive_andSigintStopsThemAll', async () => {
    // Six consecutive free ports: three for node links, the next three for the Kafka listeners
    // (cluster up gives node i kafka-base-port + i - 1; the default 9092 may be taken here).
    const basePort = await freeConsecutivePorts(6)
    const kafkaBasePort = basePort + 3
    const addresses = [0, 1, 2].map((i) => `127.0.0.1:${basePort + i}`)
    const dataDir = await procs.tempDir('cluster')
    // An operator's exported secret must not reach the nodes beside the --secret-file cluster up
    // gives them (that is a usage error for `skein start`: every node exited 2 before the fix).
    const cli = await procs.spawnCli(['cluster', 'up', '--nodes', '3', '--base-port', String(basePort), '--kafka-base-port', String(kafkaBasePort), '--data', dataDir], {
      SKEIN_CLUSTER_SECRET: CLUSTER_SECRET,
    })

    // The nodes inherit its stdout: their 'node started' lines say who listens where, with what pid.
    const started = await cli.waitForLines((l) => l.msg === 'node started', 3, "three 'node started' lines")
    expect(started.map((l) => [l['nodeId'], l['address']]).sort()).toEqual([
      ['n1', addresses[0]],
      ['n2', addresses[1]],
      ['n3', addresses[2]],
    ])
    expect(started.map((l) => [l['nodeId'], l['kafkaPort']]).sort()).toEqual([
      ['n1', kafkaBasePort],
      ['n2', kafkaBasePort + 1],
      ['n3', kafkaBasePort + 2],
    ])
    const nodePids = started.map((l) => l['pid'] as number)
    expect(new Set(nodePids).size).toBe(3)
    expect(nodePids).not.toContain(cli.pid)

    const table = await statusUntilAlive(addresses[0] as string, 3)
    expect(table.stdout.split('\n')[0]).toBe(`node n1 at ${addresses[0]}: 3 alive`)
    expect(tableRows(table.stdout).map((row) => row.slice(0, 3))).toEqual([
      ['n1', addresses[0], 'alive'],
      ['n2', addresses[1], 'alive'],
      ['n3', addresses[2], 'alive'],
    ])

    const json = await procs.runCli(['status', '--seeds', addresses[0] as string, '--json'])
    expect(json.status).toBe(0)
    const view = JSON.parse(json.stdout) as StatusJson
    expect(view.node).toBe('n1')
    expect(view.members.map((m) => [m.id, m.address, m.state])).toEqual([
      ['n1', addresses[0], 'alive'],
      ['n2', addresses[1], 'alive'],
      ['n3', addresses[2], 'alive'],
    ])

    // cluster up turns topic auto-creation on: kafkajs produces to a topic nobody created.
    const kafka = new Kafka({ clientId: 'cli-cluster-test', brokers: [`127.0.0.1:${kafkaBasePort}`], logLevel: logLevel.NOTHING, retry: { retries: 10, initialRetryTime: 100, maxRetryTime: 1_000 } })
    const producer = kafka.producer({ allowAutoTopicCreation: true })
    const admin = kafka.admin()
    try {
      await producer.connect()
      const [sent] = await producer.send({ topic: 'auto-created', acks: -1, messages: [{ value: 'first' }] })
      expect(sent?.errorCode).toBe(0)
      await admin.connect()
      const { topics } = await admin.fetchTopicMetadata({ topics: ['auto-created'] })
      expect(topics[0]?.partitions.map((p) => p.replicas.length)).toEqual([3])
    } finally {
      await producer.disconnect()
      await admin.disconnect()
    }

    cli.signal('SIGINT')
    const exit = await cli.exited
    expect(exit).toEqual({ code: 0, signal: null })
    expect(cli.lines.filter((l) => l.msg === 'stopping').map((l) => l['nodeId']).sort()).toEqual(['n1', 'n2', 'n3'])
    expect(cli.lines.filter((l) => l.level >= PinoLevel.error)).toEqual([])
    for (const address of addresses) expect(await healthAnswers(address), `${address} still answers /health`).toBe(false)
    for (const pid of nodePids) expect(processExists(pid), `node process ${pid} still exists`).toBe(false)
    expect(cli.groupAlive(), 'a process of the cluster up group is still there').toBe(false)
  }, TEST_TIMEOUT_MS)

  it('status_noNodeAnswers_exits1WithNodeUnreachable', async () => {
    const [deadPort] = await freePorts(1)
    const result = await procs.runCli(['status', '--seeds', `127.0.0.1:${deadPort}`])
    expect(result.status).toBe(1)
    expect(result.stdout).toBe('')
    expect(result.stderr).toMatch(new RegExp(`^skein: error\\[NODE_UNREACHABLE\\]: no node answered: 127\\.0\\.0\\.1:${deadPort}: `))
  })

  it('start_configuredOnlyByEnvironment_joinsThroughItsSeed', async () => {
    const seed = await procs.start('e1', { secret: CLUSTER_SECRET })
    const [port] = await freePorts(1)
    const dataDir = await procs.tempDir('e2-data')
    const node = await procs.startFromEnv('e2', {
      SKEIN_ID: 'e2',
      SKEIN_PORT: String(port),
      SKEIN_KAFKA_PORT: '0',
      SKEIN_SEEDS: seed.address,
      SKEIN_CLUSTER_SECRET: CLUSTER_SECRET,
      SKEIN_DATA: dataDir,
    })
    expect(node.address).toBe(`127.0.0.1:${port}`)
    // The secret came from SKEIN_CLUSTER_SECRET: no fallback to the development secret.
    expect(node.lines.filter((l) => l.level === PinoLevel.warn && String(l.msg).includes('secret'))).toEqual([])

    // e1 knows no seeds: it can only learn of e2 because e2 joined through SKEIN_SEEDS, proving SKEIN_CLUSTER_SECRET.
    const views = await retry(
      async () => {
        const both = await Promise.all([fetchJson<StatusJson>(seed.address, '/status'), fetchJson<StatusJson>(node.address, '/status')])
        for (const view of both) {
          const alive = view.members.filter((m) => m.state === 'alive').map((m) => m.id)
          if (alive.join() !== 'e1,e2') throw new Error(`${view.node} sees ${alive.join(', ')} alive`)
        }
        return both
      },
      CONVERGE_DEADLINE_MS,
      100,
    )
    expect(views[1].node).toBe('e2')
    expect(views[0].members.find((m) => m.id === 'e2')).toMatchObject({ state: 'alive', address: `127.0.0.1:${port}` })
  }, TEST_TIMEOUT_MS)
})
