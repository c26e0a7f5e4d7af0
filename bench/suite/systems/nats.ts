/**
 * NATS JetStream through nats.js, as a NATS user would run a log.
 *
 * Servers: `nats-server -c <conf>` with JetStream on (`jetstream { store_dir }` in a temp dir),
 * client port on 127.0.0.1. 3 nodes = a JetStream cluster on loopback: `server_name`, a
 * `cluster { name, listen, routes }` block naming every node's route port; the deployment is
 * ready once the JetStream meta group answers (an account info request succeeds).
 *
 * Durability: file storage. A JetStream ack is sent once the message is stored by the stream
 * (R1: written by the server; R3: committed by the stream's Raft group, a majority of its 3
 * peers). Where the server accepts it (nats-server 2.10+), `sync_interval: always` makes it
 * fsync each write before the ack, which is skein's flush=always; the installed version is
 * probed with `nats-server -t`. nats-server 2.9 (Debian 12) has no such setting: its file store
 * fsyncs on a 2-minute timer, so there an ack means written to the page cache (of a majority,
 * for R3), not fsynced. `natsDurability()` says which, for the report.
 *
 * Acks: JetStream has one ack, after the stream's own replication rule, so 'leader' and 'all'
 * are the same: with R1 the server has it, with R3 a majority (2 of 3) has it, as skein's
 * acks=all (a Raft majority) does. There is no leader-only ack for a replicated stream.
 *
 * Partitions: one stream per partition (`<name>_<i>`, subject `<name>.<i>`), replicas =
 * `replication`. A JetStream stream is one Raft group with one leader server, and JetStream
 * scales a workload by spreading it over several streams (subject partitioning), whose leaders
 * the cluster places on different servers. A producer's send() goes to one partition, the next
 * send to the next (round-robin, like Kafka's sticky partitioner for keyless records).
 *
 * Producer: one connection (nats.js picks one of the servers at random); a send() publishes
 * every record at once (async publish) and resolves once every record's PubAck is in. By
 * default the records go out as core publishes whose PubAcks come back to one inbox
 * subscription ('reply-inbox'); `natsSystem({ publish: 'js.publish' })` uses one `js.publish()`
 * promise per record instead, which costs the client about 5 times as much CPU (see
 * NatsPublishMode). Consumer: one ordered consumer per partition stream (deliver all, from
 * sequence 1, no acks: the client re-creates it at the right sequence on a gap), pulling
 * `batchRecordsMax` messages at a time; the messages that arrive in one event-loop turn are
 * handed over as one batch.
 */
import { writeFileSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { connect, type ConsumerMessages, createInbox, type NatsConnection, StorageType } from 'nats'
import type { BenchConsumer, BenchProducer, BenchSystem, ConsumerOptions, DeployOptions, Deployment, ProducerOptions, StreamOptions } from '../system.js'
import { findBinary, freePorts, makeTempDir, type PeerProcess, removeTempDir, retryUntil, runCommand, spawnPeer, stopAll, TurnBatcher, waitForPort, requireReplicationFits } from './peer-process.js'

/** How long a nats-server may take to accept client connections. */
const startTimeoutMs = 15_000
/** How long the JetStream meta group (and a new stream's group) may take to elect a leader. */
const clusterReadyTimeoutMs = 30_000
/** How long one publish may wait for its PubAck (many are in flight at once). */
const publishTimeoutMs = 60_000
/** How long a JetStream API request (stream create, consumer create) may take. */
const apiTimeoutMs = 20_000
/** One readiness probe's wait for an answer. */
const readyProbeTimeoutMs = 1_000
const clusterName = 'skein-bench'

export interface NatsSystemOptions {
  /** How producers publish; see NatsPublishMode. */
  readonly publish?: NatsPublishMode
}

export function natsSystem(systemOptions: NatsSystemOptions = {}): BenchSystem {
  const mode = systemOptions.publish ?? 'reply-inbox'
  return {
    name: 'nats',
    async unavailable() {
      return findBinary('nats-server') === undefined ? 'nats-server not installed (apt-get install -y nats-server)' : undefined
    },
    deploy: (options) => deployNats(options, mode),
  }
}

let syncAlwaysProbe: Promise<boolean> | undefined

/** Does the installed nats-server accept `jetstream { sync_interval: always }`? (2.10+) */
export function natsSyncAlwaysSupported(): Promise<boolean> {
  syncAlwaysProbe ??= (async () => {
    const binary = findBinary('nats-server')
    if (binary === undefined) return false
    const dir = await makeTempDir('nats-probe')
    try {
      const configFile = join(dir, 'probe.conf')
      writeFileSync(configFile, `listen: 127.0.0.1:4222\njetstream {\n  store_dir: "${join(dir, 'js')}"\n  sync_interval: always\n}\n`)
      await runCommand(binary, ['-t', '-c', configFile], {}, 10_000)
      return true
    } catch {
      return false
    } finally {
      removeTempDir(dir)
    }
  })()
  return syncAlwaysProbe
}

/** One line for the report: what a JetStream ack means with the installed server. */
export async function natsDurability(): Promise<string> {
  return (await natsSyncAlwaysSupported())
    ? 'sync_interval: always (fsync before ack)'
    : 'acked without fsync: this nats-server (< 2.10) has no sync_interval, its file store fsyncs every 2 min'
}

interface NodePorts {
  readonly client: number
  readonly route: number
}

function serverConfig(index: number, nodes: readonly NodePorts[], storeDir: string, syncAlways: boolean): string {
  const self = nodes[index] as NodePorts
  const lines = [`server_name: n${index + 1}`, `listen: 127.0.0.1:${self.client}`, 'jetstream {', `  store_dir: "${storeDir}"`]
  if (syncAlways) lines.push('  sync_interval: always')
  lines.push('}')
  if (nodes.length > 1) {
    const routes = nodes.map((node) => `nats-route://127.0.0.1:${node.route}`).join(', ')
    lines.push('cluster {', `  name: ${clusterName}`, `  listen: 127.0.0.1:${self.route}`, `  routes: [${routes}]`, '}')
  }
  return `${lines.join('\n')}\n`
}

async function deployNats(options: DeployOptions, mode: NatsPublishMode): Promise<Deployment> {
  const binary = findBinary('nats-server')
  if (binary === undefined) throw new Error('nats-server not installed')
  const syncAlways = await natsSyncAlwaysSupported()
  const dir = await makeTempDir(`nats-${options.label}`)
  const portList = await freePorts(options.nodes * 2)
  const nodes: NodePorts[] = Array.from({ length: options.nodes }, (_, i) => ({ client: portList[2 * i] as number, route: portList[2 * i + 1] as number }))
  const servers: PeerProcess[] = []
  const connections = new Set<NatsConnection>()
  const clientUrls = nodes.map((node) => `127.0.0.1:${node.client}`)
  /** Partitions per stream, as created (a producer round-robins over them). */
  const partitionsOf = new Map<string, number>()
  const partitionCount = (stream: string): number => {
    const count = partitionsOf.get(stream)
    if (count === undefined) throw new Error(`stream ${stream} was not created by this deployment`)
    return count
  }
  let stopped: Promise<void> | undefined
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      await Promise.allSettled([...connections].map((nc) => nc.close()))
      await stopAll(servers, dir)
    })())
  try {
    const started = await Promise.allSettled(
      nodes.map(async (node, index) => {
        const nodeDir = join(dir, `n${index + 1}`)
        await mkdir(nodeDir)
        const configFile = join(nodeDir, 'nats.conf')
        writeFileSync(configFile, serverConfig(index, nodes, join(nodeDir, 'jetstream'), syncAlways))
        const server = await spawnPeer({ name: `nats-server n${index + 1}`, command: binary, args: ['-c', configFile], cwd: nodeDir, logFile: join(dir, `n${index + 1}.log`) })
        servers.push(server)
        await waitForPort(server, node.client, startTimeoutMs)
      }),
    )
    for (const result of started) if (result.status === 'rejected') throw result.reason
    const admin = await connectNats(clientUrls, connections)
    // Until the meta group has a leader, JetStream API requests go unanswered: short attempts.
    await retryUntil('JetStream ready', clusterReadyTimeoutMs, 100, async () => {
      const jsm = await admin.jetstreamManager({ timeout: readyProbeTimeoutMs })
      await jsm.getAccountInfo()
    })
    await closeConnection(admin, connections)
  } catch (err) {
    await stop()
    throw err
  }
  return {
    pids: () => servers.map((server) => server.pid),
    async createStream(name: string, stream: StreamOptions) {
      requireReplicationFits(stream.replication, options.nodes)
      const admin = await connectNats(clientUrls, connections)
      try {
        const jsm = await admin.jetstreamManager({ timeout: apiTimeoutMs })
        for (let partition = 0; partition < stream.partitions; partition++) {
          const config = { name: streamName(name, partition), subjects: [subjectOf(name, partition)], storage: StorageType.File, num_replicas: stream.replication }
          // Right after the cluster forms, a create can fail while peers catch up: retried.
          await retryUntil(`create stream ${config.name}`, clusterReadyTimeoutMs, 250, () => jsm.streams.add(config))
        }
      } finally {
        await closeConnection(admin, connections)
      }
      partitionsOf.set(name, stream.partitions)
    },
    async producer(stream: string, _producer: ProducerOptions) {
      return natsProducer(await connectNats(clientUrls, connections), stream, partitionCount(stream), mode, connections)
    },
    async consumer(stream: string, consumerOptions: ConsumerOptions) {
      return natsConsumer(await connectNats(clientUrls, connections), stream, partitionCount(stream), consumerOptions.batchRecordsMax, connections)
    },
    stop,
  }
}

function streamName(name: string, partition: number): string {
  return `${name}_${partition}`
}

function subjectOf(name: string, partition: number): string {
  return `${name}.${partition}`
}

async function connectNats(servers: readonly string[], connections: Set<NatsConnection>): Promise<NatsConnection> {
  // Reconnects are off: a server gone mid-run is a failed run, not something to wait out.
  const nc = await connect({ servers: [...servers], reconnect: false, timeout: apiTimeoutMs, noAsyncTraces: true })
  connections.add(nc)
  return nc
}

async function closeConnection(nc: NatsConnection, connections: Set<NatsConnection>): Promise<void> {
  connections.delete(nc)
  await nc.close()
}

/**
 * How a producer publishes (both are JetStream async publish: every record of a send() goes out
 * at once, each gets its own PubAck after the stream stored it, the send() resolves once every
 * PubAck is in and fails on any error or missing ack):
 *
 * - 'reply-inbox' (default): core `nc.publish()` per record with one reply subject per send(),
 *   the PubAcks counted on one wildcard subscription: what Go's PublishAsync does on the wire.
 *   Measured here (1 node, 8 sends of 1,000 in flight): about 110k records/s with the server
 *   the bottleneck.
 * - 'js.publish': nats.js's `js.publish()` per record, all awaited: the documented client API,
 *   but each call costs a request object, a timer and an Error (stack captured) even when it
 *   succeeds, about 40 us of client CPU: the client saturates near 20-25k records/s on one
 *   core, and the figure measures nats.js, not the server.
 */
export type NatsPublishMode = 'js.publish' | 'reply-inbox'

function natsProducer(nc: NatsConnection, stream: string, partitions: number, mode: NatsPublishMode, connections: Set<NatsConnection>): BenchProducer {
  const publisher = mode === 'js.publish' ? jsPublisher(nc) : inboxPublisher(nc)
  let next = 0
  return {
    send(values) {
      const subject = subjectOf(stream, next)
      next = (next + 1) % partitions
      return publisher.send(subject, values)
    },
    async close() {
      publisher.close()
      await closeConnection(nc, connections)
    },
  }
}

interface Publisher {
  send(subject: string, values: readonly Uint8Array[]): Promise<void>
  /** Fails the sends still waiting for PubAcks. */
  close(): void
}

function jsPublisher(nc: NatsConnection): Publisher {
  const js = nc.jetstream({ timeout: publishTimeoutMs })
  return {
    async send(subject, values) {
      await Promise.all(values.map((value) => js.publish(subject, value, { timeout: publishTimeoutMs })))
    },
    close() {
      // nats.js fails the requests in flight when the connection closes.
    },
  }
}

interface PendingSend {
  left: number
  readonly resolve: () => void
  readonly reject: (err: Error) => void
  readonly timer: NodeJS.Timeout
}

function inboxPublisher(nc: NatsConnection): Publisher {
  const prefix = createInbox()
  const pending = new Map<string, PendingSend>()
  let sendSeq = 0
  const fail = (token: string, err: Error): void => {
    const entry = pending.get(token)
    if (entry === undefined) return
    pending.delete(token)
    clearTimeout(entry.timer)
    entry.reject(err)
  }
  nc.subscribe(`${prefix}.*`, {
    callback: (err, message) => {
      if (err) {
        for (const token of [...pending.keys()]) fail(token, err)
        return
      }
      const token = message.subject.slice(prefix.length + 1)
      const entry = pending.get(token)
      if (entry === undefined) return // a send that already failed
      // A PubAck is {"stream":..,"seq":..}; an error a JSON {"error":..}, or a status message
      // without a body (503: no stream listens on the subject).
      if (message.headers?.hasError || message.data.length === 0) return fail(token, new Error(`JetStream publish failed: ${message.headers?.code ?? ''} ${message.headers?.description ?? 'empty reply'}`))
      const text = textDecoder.decode(message.data)
      if (text.includes('"error"')) return fail(token, new Error(`JetStream publish failed: ${text}`))
      if (--entry.left === 0) {
        pending.delete(token)
        clearTimeout(entry.timer)
        entry.resolve()
      }
    },
  })
  return {
    send(subject, values) {
      if (values.length === 0) return Promise.resolve()
      const token = String(sendSeq++)
      const reply = `${prefix}.${token}`
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => fail(token, new Error(`JetStream publish: no PubAck within ${publishTimeoutMs} ms`)), publishTimeoutMs)
        pending.set(token, { left: values.length, resolve, reject, timer })
        for (const value of values) nc.publish(subject, value, { reply })
      })
    },
    close() {
      for (const token of [...pending.keys()]) fail(token, new Error('producer closed'))
    },
  }
}

const textDecoder = new TextDecoder()

function natsConsumer(nc: NatsConnection, stream: string, partitions: number, batchRecordsMax: number, connections: Set<NatsConnection>): BenchConsumer {
  const js = nc.jetstream({ timeout: apiTimeoutMs })
  const running: ConsumerMessages[] = []
  let finish: (() => void) | undefined
  let closed = false
  return {
    async run(onRecords) {
      if (closed) return
      const done = new Promise<void>((resolve) => (finish = resolve))
      const batcher = new TurnBatcher<Uint8Array>(batchRecordsMax, onRecords, () => finish?.())
      for (let partition = 0; partition < partitions && !closed; partition++) {
        const consumer = await js.consumers.get(streamName(stream, partition))
        const messages = await consumer.consume({
          max_messages: batchRecordsMax,
          callback: (message) => batcher.push(message.data),
        })
        running.push(messages)
      }
      await done
      batcher.stop()
      await Promise.allSettled(running.map((messages) => messages.close()))
    },
    async close() {
      closed = true
      finish?.()
      await Promise.allSettled(running.map((messages) => messages.close()))
      await closeConnection(nc, connections).catch(() => undefined)
    },
  }
}
