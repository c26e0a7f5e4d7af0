/**
 * RabbitMQ quorum queues through amqplib, as a RabbitMQ user would run a replicated queue.
 *
 * Servers: the `rabbitmq-server` script of the installed package (the real one, not Debian's
 * /usr/sbin wrapper that switches to the rabbitmq user), everything under a temp dir: HOME (the
 * Erlang cookie), RABBITMQ_MNESIA_BASE, RABBITMQ_LOG_BASE, RABBITMQ_CONFIG_FILE,
 * RABBITMQ_ENABLED_PLUGINS_FILE (no plugins), an empty RABBITMQ_CONF_ENV_FILE (so
 * /etc/rabbitmq is not read); node names r<i>@localhost; AMQP and distribution ports free on
 * 127.0.0.1 (RABBITMQ_NODE_PORT, RABBITMQ_DIST_PORT, `inet_dist_use_interface`). Each deployment
 * runs its own epmd on a free port (ERL_EPMD_PORT, the nodes started with `-start_epmd false`),
 * so nothing meets a system RabbitMQ or another deployment. 3 nodes boot in parallel, then
 * r2 and r3 `rabbitmqctl join_cluster r1@localhost` (stop_app, join, start_app). Booting takes
 * 5-30 s a node on 2 cores. Stopping: SIGTERM to each rabbitmq-server script, which stops its
 * beam.smp cleanly; SIGKILL to whatever of the tree is left after the grace period; then epmd.
 * pids() are the beam.smp processes.
 *
 * Durability: quorum queues are Raft (the `ra` library) logs; their write-ahead log is written
 * and fsynced (`wal_sync_method` datasync, the default) in batches before a publisher confirm
 * is sent (group commit, as skein's flush=always). Messages are published persistent.
 *
 * Acks: publisher confirms on a ConfirmChannel: a message is confirmed once the queue's Raft
 * group has committed it, a majority of its members (R1: the one node; R3: 2 of 3), as skein's
 * acks=all. There is no leader-only confirm, so 'leader' and 'all' are the same.
 *
 * Partitions: one quorum queue per partition (`<name>_<i>`, x-quorum-initial-group-size =
 * replication, leaders spread over the nodes by x-queue-leader-locator=balanced): a quorum queue
 * is one Raft group with one leader, and RabbitMQ scales by using several queues. A producer's
 * send() goes to one queue, the next send to the next (round-robin).
 *
 * Producer: one connection and ConfirmChannel; a send() publishes its records (sendToQueue,
 * waiting for 'drain' when the socket buffer is full) and resolves when each record's confirm
 * has come (a nack fails it). Consumer: one connection and channel, basic.consume on every
 * partition queue with prefetch batchRecordsMax per consumer and manual acks, one multiple-ack
 * per batch handed over. A queue is consumed destructively: records acked are gone, so a stream
 * is read back once (as the suite does), not replayed from the start by a second consumer.
 *
 * Producers and consumers connect to the nodes in turn (the first to r1, the next to r2, ...).
 */
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { writeFileSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { type Channel, type ConfirmChannel, connect, type ConsumeMessage, type ChannelModel } from 'amqplib'
import type { BenchConsumer, BenchProducer, BenchSystem, ConsumerOptions, DeployOptions, Deployment, ProducerOptions, StreamOptions } from '../system.js'
import { asBuffer, findBinary, findBinaryReal, findInTree, freePorts, makeTempDir, type PeerProcess, retryUntil, runCommand, spawnPeer, stopAll, TurnBatcher, waitForLogLine, waitForPort, requireReplicationFits } from './peer-process.js'

/** How long one node may take to boot (2 cores, 3 nodes booting at once, can take 30 s and more). */
const startTimeoutMs = 120_000
/** How long one rabbitmqctl command may take. */
const ctlTimeoutMs = 60_000
/** The line a node logs once it is ready for clients. */
const readyLine = /Server startup complete/
/** How long a producer waits for the confirms of one send(). */
const confirmTimeoutMs = 60_000

/** For the suite's durability table. */
export const rabbitmqDurability =
  'quorum queues, persistent messages, publisher confirms: confirmed once a Raft majority has fsynced it (WAL datasync, batched); leader and all are the same; reading a queue removes what is read'

export function rabbitmqSystem(): BenchSystem {
  return {
    name: 'rabbitmq',
    async unavailable() {
      if (findBinary('rabbitmq-server') === undefined) return 'rabbitmq-server not installed (apt-get install -y rabbitmq-server)'
      if (findBinary('epmd') === undefined) return 'epmd (Erlang) not found though rabbitmq-server is installed'
      return undefined
    },
    deploy: deployRabbitmq,
  }
}

interface Scripts {
  readonly server: string
  readonly ctl: string
  readonly epmd: string
}

/** The real rabbitmq-server and rabbitmqctl scripts (Debian links /usr/sbin/* to a su wrapper). */
function findScripts(): Scripts {
  const server = findBinaryReal('rabbitmq-server')
  const epmd = findBinary('epmd')
  if (server === undefined || epmd === undefined) throw new Error('rabbitmq-server not installed')
  const dir = dirname(server)
  return { server: join(dir, 'rabbitmq-server'), ctl: join(dir, 'rabbitmqctl'), epmd }
}

interface RabbitNode {
  readonly name: string
  readonly amqpPort: number
  readonly distPort: number
  readonly dir: string
}

async function deployRabbitmq(options: DeployOptions): Promise<Deployment> {
  const scripts = findScripts()
  const dir = await makeTempDir(`rabbitmq-${options.label}`)
  const home = join(dir, 'home')
  const processes: PeerProcess[] = []
  /** The rabbitmq-server scripts, each the parent of its node's beam.smp. */
  const beams: PeerProcess[] = []
  const beamPids: number[] = []
  const connections = new Set<ChannelModel>()
  let stopped: Promise<void> | undefined
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      await Promise.allSettled([...connections].map((connection) => connection.close()))
      await stopAll(beams, undefined)
      await stopAll(processes, dir)
    })())
  let nodes: RabbitNode[]
  let env: Record<string, string>
  try {
    const ports = await freePorts(1 + 2 * options.nodes)
    const epmdPort = ports[0] as number
    nodes = Array.from({ length: options.nodes }, (_, i) => ({ name: `r${i + 1}@localhost`, amqpPort: ports[1 + 2 * i] as number, distPort: ports[2 + 2 * i] as number, dir: join(dir, `r${i + 1}`) }))
    await mkdir(home)
    // One cookie for the nodes and rabbitmqctl; written before any node starts, so none races to create it.
    writeFileSync(join(home, '.erlang.cookie'), randomBytes(16).toString('hex').toUpperCase(), { mode: 0o400 })
    writeFileSync(join(dir, 'enabled_plugins'), '[].\n')
    writeFileSync(join(dir, 'rabbitmq-env.conf'), '')
    env = { HOME: home, ERL_EPMD_PORT: String(epmdPort), RABBITMQ_CONF_ENV_FILE: join(dir, 'rabbitmq-env.conf'), RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, 'enabled_plugins') }
    const epmd = await spawnPeer({ name: 'epmd', command: scripts.epmd, args: ['-port', String(epmdPort), '-address', '127.0.0.1'], cwd: dir, logFile: join(dir, 'epmd.log') })
    processes.push(epmd)
    await waitForPort(epmd, epmdPort, startTimeoutMs)
    const started = await Promise.allSettled(nodes.map((node) => startNode(scripts, node, env, beams)))
    for (const result of started) {
      if (result.status === 'rejected') throw result.reason
      beamPids.push(result.value)
    }
    if (nodes.length > 1) await formCluster(scripts, nodes, env)
  } catch (err) {
    await stop()
    throw err
  }
  /** Partitions per stream, as created (a producer round-robins over them). */
  const partitionsOf = new Map<string, number>()
  const partitionCount = (stream: string): number => {
    const count = partitionsOf.get(stream)
    if (count === undefined) throw new Error(`stream ${stream} was not created by this deployment`)
    return count
  }
  let nextNode = 0
  const connectNext = (): Promise<ChannelModel> => connectAmqp((nodes[nextNode++ % nodes.length] as RabbitNode).amqpPort, connections)
  return {
    pids: () => [...beamPids],
    async createStream(name: string, stream: StreamOptions) {
      requireReplicationFits(stream.replication, options.nodes)
      const connection = await connectAmqp((nodes[0] as RabbitNode).amqpPort, connections)
      try {
        const channel = await connection.createChannel()
        for (let partition = 0; partition < stream.partitions; partition++) {
          await channel.assertQueue(queueName(name, partition), {
            durable: true,
            arguments: { 'x-queue-type': 'quorum', 'x-quorum-initial-group-size': stream.replication, 'x-queue-leader-locator': 'balanced' },
          })
        }
        await channel.close()
      } finally {
        await closeConnection(connection, connections)
      }
      partitionsOf.set(name, stream.partitions)
    },
    async producer(stream: string, _producer: ProducerOptions) {
      return rabbitProducer(await connectNext(), stream, partitionCount(stream), connections)
    },
    async consumer(stream: string, consumerOptions: ConsumerOptions) {
      return rabbitConsumer(await connectNext(), stream, partitionCount(stream), consumerOptions.batchRecordsMax, connections)
    },
    stop,
  }
}

function queueName(name: string, partition: number): string {
  return `${name}_${partition}`
}

/** Starts a node and resolves with its beam.smp pid once it is ready. */
async function startNode(scripts: Scripts, node: RabbitNode, env: Record<string, string>, beams: PeerProcess[]): Promise<number> {
  await mkdir(node.dir)
  const configFile = join(node.dir, 'rabbitmq.conf')
  writeFileSync(configFile, ['loopback_users.guest = true', `listeners.tcp.default = 127.0.0.1:${node.amqpPort}`, ''].join('\n'))
  const nodeEnv = {
    ...env,
    RABBITMQ_NODENAME: node.name,
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_NODE_PORT: String(node.amqpPort),
    RABBITMQ_DIST_PORT: String(node.distPort),
    RABBITMQ_MNESIA_BASE: join(node.dir, 'mnesia'),
    RABBITMQ_LOG_BASE: join(node.dir, 'log'),
    RABBITMQ_LOGS: '-',
    RABBITMQ_CONFIG_FILE: configFile,
    RABBITMQ_ADVANCED_CONFIG_FILE: join(node.dir, 'advanced.config'),
    RABBITMQ_PID_FILE: join(node.dir, 'rabbitmq.pid'),
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-start_epmd false -kernel inet_dist_use_interface {127,0,0,1}',
  }
  // The script runs erl (which execs beam.smp) as its child and turns SIGTERM into a clean stop.
  const beam = await spawnPeer({ name: `rabbit ${node.name}`, command: scripts.server, args: [], env: nodeEnv, cwd: node.dir, logFile: join(node.dir, '..', `${node.name.split('@')[0]}.log`) })
  beams.push(beam)
  await waitForLogLine(beam, readyLine, startTimeoutMs)
  return findInTree(beam.pid, 'beam.smp') ?? beam.pid
}

/** rabbitmqctl -n <node> <args>, with a free port of its own for its distribution listener. */
async function ctl(scripts: Scripts, node: RabbitNode, env: Record<string, string>, args: readonly string[]): Promise<string> {
  const [port] = await freePorts(1)
  const ctlEnv = { ...env, RABBITMQ_CTL_DIST_PORT_MIN: String(port), RABBITMQ_CTL_DIST_PORT_MAX: String(port) }
  return runCommand(scripts.ctl, ['-n', node.name, ...args], ctlEnv, ctlTimeoutMs)
}

/** r2.. join r1 (in parallel: it measured safe and saves a node's worth of boot), then all are checked running. */
async function formCluster(scripts: Scripts, nodes: readonly RabbitNode[], env: Record<string, string>): Promise<void> {
  const seed = nodes[0] as RabbitNode
  await Promise.all(nodes.slice(1).map((node) => joinCluster(scripts, node, seed, env)))
  const status = JSON.parse(await ctl(scripts, seed, env, ['cluster_status', '--formatter', 'json'])) as { running_nodes?: string[] }
  const running = status.running_nodes ?? []
  if (running.length !== nodes.length) throw new Error(`RabbitMQ cluster formed with ${running.length} of ${nodes.length} nodes running: ${running.join(', ')}`)
}

async function joinCluster(scripts: Scripts, node: RabbitNode, seed: RabbitNode, env: Record<string, string>): Promise<void> {
  await ctl(scripts, node, env, ['stop_app'])
  await retryUntil(`${node.name} join_cluster ${seed.name}`, ctlTimeoutMs, 1_000, () => ctl(scripts, node, env, ['join_cluster', seed.name]))
  await ctl(scripts, node, env, ['start_app'])
}

async function connectAmqp(port: number, connections: Set<ChannelModel>): Promise<ChannelModel> {
  const connection = await connect({ protocol: 'amqp', hostname: '127.0.0.1', port, username: 'guest', password: 'guest' })
  connection.on('error', () => {
    // surfaced by the failing operation
  })
  connections.add(connection)
  return connection
}

async function closeConnection(connection: ChannelModel, connections: Set<ChannelModel>): Promise<void> {
  connections.delete(connection)
  await connection.close().catch(() => undefined)
}

async function rabbitProducer(connection: ChannelModel, stream: string, partitions: number, connections: Set<ChannelModel>): Promise<BenchProducer> {
  const channel: ConfirmChannel = await connection.createConfirmChannel()
  let channelError: Error | undefined
  channel.on('error', (err: Error) => (channelError = err))
  let next = 0
  let publishing: Promise<void> = Promise.resolve()
  return {
    async send(values) {
      if (channelError) throw channelError
      const queue = queueName(stream, next)
      next = (next + 1) % partitions
      let left = values.length
      let settle!: (err?: Error) => void
      const confirmed = new Promise<void>((resolve, reject) => (settle = (err) => (err ? reject(err) : resolve())))
      confirmed.catch(() => undefined) // awaited below; not unhandled if publishing fails first
      const onConfirm = (err: unknown): void => {
        if (err) settle(new Error(`publish nacked by ${queue}`))
        else if (--left === 0) settle()
      }
      // Sends publish one after the other (a send waiting for 'drain' must not let the next
      // one's records in between), so records reach each queue in the order of the calls.
      const published = publishing.then(async () => {
        for (const value of values) {
          if (!channel.sendToQueue(queue, asBuffer(value), { persistent: true }, onConfirm)) await once(channel, 'drain')
        }
      })
      publishing = published.catch(() => undefined)
      const timer = setTimeout(() => settle(new Error(`no confirm within ${confirmTimeoutMs} ms`)), confirmTimeoutMs)
      try {
        await published
        if (values.length === 0) settle()
        await confirmed
      } finally {
        clearTimeout(timer)
      }
    },
    async close() {
      await channel.close().catch(() => undefined)
      await closeConnection(connection, connections)
    },
  }
}

async function rabbitConsumer(connection: ChannelModel, stream: string, partitions: number, batchRecordsMax: number, connections: Set<ChannelModel>): Promise<BenchConsumer> {
  const channel: Channel = await connection.createChannel()
  channel.on('error', () => {
    // surfaced by the failing operation
  })
  await channel.prefetch(batchRecordsMax, false)
  let finish: (() => void) | undefined
  let closed = false
  return {
    async run(onRecords) {
      if (closed) return
      const done = new Promise<void>((resolve) => (finish = resolve))
      // One multiple-ack per batch, after the workload has taken it.
      const deliver = (messages: ConsumeMessage[]): boolean => {
        const more = onRecords(messages.map((message) => message.content))
        channel.ack(messages[messages.length - 1] as ConsumeMessage, true)
        return more
      }
      const batcher = new TurnBatcher<ConsumeMessage>(batchRecordsMax, deliver, () => finish?.())
      // null: the consumer was cancelled by the server.
      const onMessage = (message: ConsumeMessage | null): void => {
        if (message !== null) batcher.push(message)
      }
      const tags: string[] = []
      for (let partition = 0; partition < partitions && !closed; partition++) {
        tags.push((await channel.consume(queueName(stream, partition), onMessage, { noAck: false })).consumerTag)
      }
      if (closed) finish?.()
      await done
      batcher.stop()
      if (!closed) await Promise.allSettled(tags.map((tag) => channel.cancel(tag)))
    },
    async close() {
      closed = true
      finish?.()
      await channel.close().catch(() => undefined)
      await closeConnection(connection, connections)
    },
  }
}
