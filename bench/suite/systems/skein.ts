/**
 * skein in the comparison suite: `skein start` processes (dist/src/cli/main.js) on 127.0.0.1,
 * ephemeral ports, one temp data dir per node (prefix `skein-bench-suite-`), driven through the
 * native SDK (`Client`), as an application would use it.
 *
 * Durability (for the suite's table): topics keep skein's defaults, `flush=always` (each append
 * is fsynced before it counts, with group commit; with replication 3 a majority has fsynced
 * before acks=all answers). acks 'leader' is the SDK's `acks: 1` (the leader has fsynced it);
 * acks 'all' is `acks: 'all'` with `idempotent: true` (a Raft majority has fsynced it; retries
 * never duplicate).
 *
 * Producer settings: `batchBytes` 256 KiB (a batch per request, sized for throughput) and
 * `lingerMs` 0: a batch closes when the send() that filled it returns, so nothing waits on a
 * timer (the peers' clients send at once too); batches still grow while a partition has its 5
 * requests in flight. Consumers `assign()` every partition from the start, no group, and read
 * with `eachBatch`; a fetch returns at most `maxBytes` (1 MiB) per partition.
 *
 * Nodes start one, then the rest at once seeded by it; they stop with SIGKILL (their data is
 * thrown away, so a graceful leave would only cost a second a node), and their dirs are removed,
 * at exit too.
 *
 * BENCH_CPU_PROF=<dir> runs every node with `--cpu-prof` into <dir> (one .cpuprofile per node
 * and deployment) and stops them with SIGTERM instead, since a killed process writes no profile.
 */
import { existsSync, rmSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Client, type Consumer, type Producer, SkeinError } from '../../../src/index.js'
import { cliPath, spawnNode, type SpawnedNode, waitForBalancedLeaders } from '../../harness.js'
import type { BenchConsumer, BenchProducer, BenchSystem, ConsumerOptions, DeployOptions, Deployment, ProducerOptions, StreamOptions } from '../system.js'

/** Shared secret of every suite cluster (loopback only, thrown away with the cluster). */
const CLUSTER_SECRET = 'bench-suite-secret-0123456789abcdef'
/** Producer batch size: bench:produce found 256 KiB the fastest with flush=always. */
const BATCH_BYTES = 256 * 1024
/** Batches close when the send() that filled them returns: nothing waits on a timer. */
const LINGER_MS = 0
/** Most bytes one fetch of one partition returns (the SDK's default). */
const FETCH_BYTES_MAX = 1024 * 1024
/** How long a new cluster may take until a topic of replication `nodes` can be created. */
const CLUSTER_READY_MS = 30_000
/** Prefix of every node's data dir: how `ps` tells this suite's nodes from others. */
export const SKEIN_DATA_DIR_PREFIX = 'skein-bench-suite-'

/** Where nodes write CPU profiles (BENCH_CPU_PROF); undefined: no profiling. */
const cpuProfDir = process.env['BENCH_CPU_PROF']

/** Data dirs not yet removed: removed at exit too (on Ctrl-C the harness kills the nodes and exits). */
const liveDirs = new Set<string>()
process.once('exit', () => {
  for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true })
})

/** For the suite's durability table. */
export const skeinDurability =
  'topic flush=always (default): every append fsynced before it counts, group commit; acks leader = acks 1 (the leader has fsynced); acks all = acks all, idempotent (a Raft majority of the 3 replicas has fsynced)'

export const skeinSystem: BenchSystem = {
  name: 'skein',
  unavailable: async () => (existsSync(cliPath) ? undefined : `${cliPath} missing: npm run build`),
  deploy: (options) => SkeinDeployment.start(options),
}

class SkeinDeployment implements Deployment {
  private readonly nodes: SpawnedNode[] = []
  private readonly dirs: string[] = []
  private readonly clients = new Set<Client>()
  private readonly partitionsOf = new Map<string, number>()
  private admin: Client | undefined
  private stopping: Promise<void> | undefined

  private constructor(private readonly clusterId: string) {}

  static async start(options: DeployOptions): Promise<SkeinDeployment> {
    if (options.nodes < 1) throw new Error(`nodes must be at least 1, got ${options.nodes}`)
    const deployment = new SkeinDeployment(`bench-suite-${options.label}`.replace(/[^A-Za-z0-9._-]/g, '-'))
    try {
      await deployment.spawnAll(options)
      return deployment
    } catch (error) {
      await deployment.stop()
      throw error
    }
  }

  /** The first node, then the others at once with it as their seed. */
  private async spawnAll(options: DeployOptions): Promise<void> {
    const ids = Array.from({ length: options.nodes }, (_, i) => `n${i + 1}`)
    const [first, ...rest] = ids as [string, ...string[]]
    const seed = await this.spawnOne(first, ids, options.label, undefined)
    await Promise.all(rest.map((id) => this.spawnOne(id, ids, options.label, seed.address)))
    this.admin = this.newClient('bench-suite-admin')
  }

  private async spawnOne(id: string, ids: readonly string[], label: string, seed: string | undefined): Promise<SpawnedNode> {
    const dir = await mkdtemp(join(tmpdir(), `${SKEIN_DATA_DIR_PREFIX}${label}-${id}-`))
    this.dirs.push(dir)
    liveDirs.add(dir)
    const args = ['--data', dir, '--cluster-id', this.clusterId, '--controllers', ids.join(',')]
    if (seed !== undefined) args.push('--seeds', seed)
    const nodeFlags = cpuProfDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`]
    const node = await spawnNode(id, args, { SKEIN_CLUSTER_SECRET: CLUSTER_SECRET }, nodeFlags)
    this.nodes.push(node)
    return node
  }

  pids(): number[] {
    return this.nodes.flatMap((node) => (node.process.pid === undefined ? [] : [node.process.pid]))
  }

  async createStream(name: string, options: StreamOptions): Promise<void> {
    if (options.replication > this.nodes.length) throw new Error(`replication ${options.replication} needs ${options.replication} nodes, have ${this.nodes.length}`)
    const admin = this.adminClient()
    await this.createTopic(admin, name, options)
    this.partitionsOf.set(name, options.partitions)
    await waitForBalancedLeaders(admin, name, this.nodes.length)
  }

  /**
   * Creates the topic, trying again while the controller does not yet see every node live (a
   * new cluster's gossip takes a moment): INVALID_REPLICATION_FACTOR until then.
   */
  private async createTopic(admin: Client, name: string, options: StreamOptions): Promise<void> {
    const deadline = performance.now() + CLUSTER_READY_MS
    for (;;) {
      try {
        await admin.admin().createTopic({ name, partitions: options.partitions, replicationFactor: options.replication })
        return
      } catch (error) {
        if (error instanceof SkeinError && error.errorName === 'TOPIC_ALREADY_EXISTS') return // an earlier attempt got through after all
        if (performance.now() > deadline) throw error
        await new Promise((resolve) => setTimeout(resolve, 250))
      }
    }
  }

  async producer(stream: string, options: ProducerOptions): Promise<BenchProducer> {
    const client = this.newClient('bench-suite-producer')
    const producer = client.producer(options.acks === 'all' ? { acks: 'all', idempotent: true, lingerMs: LINGER_MS, batchBytes: BATCH_BYTES } : { acks: 1, lingerMs: LINGER_MS, batchBytes: BATCH_BYTES })
    return new SkeinProducer(stream, producer, () => this.closeClient(client))
  }

  async consumer(stream: string, options: ConsumerOptions): Promise<BenchConsumer> {
    const partitions = this.partitionsOf.get(stream)
    if (partitions === undefined) throw new Error(`stream ${stream} was not created by this deployment`)
    if (options.batchRecordsMax < 1) throw new Error(`batchRecordsMax must be at least 1, got ${options.batchRecordsMax}`)
    const client = this.newClient('bench-suite-consumer')
    const consumer = client.consumer({ fromBeginning: true, maxBytes: FETCH_BYTES_MAX, autoCommit: false })
    consumer.assign(Array.from({ length: partitions }, (_, partition) => ({ topic: stream, partition })))
    return new SkeinConsumer(consumer, () => this.closeClient(client))
  }

  stop(): Promise<void> {
    this.stopping ??= this.stopOnce()
    return this.stopping
  }

  private async stopOnce(): Promise<void> {
    await Promise.all([...this.clients].map((client) => client.close().catch(() => undefined)))
    this.clients.clear()
    // The data is thrown away: no need for a graceful leave (SIGTERM takes a second a node),
    // unless the node must write its CPU profile on the way out.
    await Promise.all(this.nodes.splice(0).map((node) => (cpuProfDir === undefined ? kill(node) : node.stop())))
    await Promise.all(this.dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true }).then(() => liveDirs.delete(dir))))
  }

  private adminClient(): Client {
    if (this.admin === undefined) throw new Error('deployment not started')
    return this.admin
  }

  private newClient(clientId: string): Client {
    const seed = this.nodes[0]
    if (seed === undefined) throw new Error('deployment has no nodes')
    const client = new Client({ seeds: [seed.address], clusterId: this.clusterId, clusterSecret: CLUSTER_SECRET, clientId })
    this.clients.add(client)
    return client
  }

  private async closeClient(client: Client): Promise<void> {
    this.clients.delete(client)
    await client.close()
  }
}

class SkeinProducer implements BenchProducer {
  constructor(
    private readonly topic: string,
    private readonly producer: Producer,
    private readonly release: () => Promise<void>,
  ) {}

  async send(values: readonly Uint8Array[]): Promise<void> {
    const messages = new Array<{ value: Uint8Array }>(values.length)
    for (let i = 0; i < values.length; i++) messages[i] = { value: values[i] as Uint8Array }
    await this.producer.send({ topic: this.topic, messages })
  }

  async close(): Promise<void> {
    await this.producer.close()
    await this.release()
  }
}

class SkeinConsumer implements BenchConsumer {
  private closing: Promise<void> | undefined

  constructor(
    private readonly consumer: Consumer,
    private readonly release: () => Promise<void>,
  ) {}

  async run(onRecords: (values: readonly Uint8Array[]) => boolean): Promise<void> {
    await this.consumer.run({
      eachBatch: async ({ batch }) => {
        if (this.closing !== undefined) return
        const values = new Array<Uint8Array>(batch.messages.length)
        for (let i = 0; i < batch.messages.length; i++) values[i] = batch.messages[i]?.value ?? EMPTY
        if (!onRecords(values)) await this.close()
      },
    })
  }

  close(): Promise<void> {
    this.closing ??= this.consumer.close().then(this.release)
    return this.closing
  }
}

const EMPTY = new Uint8Array(0)

/** SIGKILL, resolved once the process has exited. */
function kill(node: SpawnedNode): Promise<void> {
  const child = node.process
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    child.once('exit', () => resolve())
    child.kill('SIGKILL')
  })
}
