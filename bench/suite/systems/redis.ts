/**
 * Redis Streams through ioredis, as a Redis user would run a log.
 *
 * Servers: `redis-server <conf>` on 127.0.0.1, a free port and a temp dir each. 1 node = one
 * primary; 3 nodes = 1 primary + 2 replicas (`replicaof` the primary, diskless initial sync).
 * Clients talk to the primary only. There is no failover (no Sentinel, no Redis Cluster): a
 * replica here is a copy, not a vote.
 *
 * Durability: `appendonly yes` + `appendfsync always`: the primary writes and fsyncs the AOF
 * before it replies to the commands of one event-loop iteration (group commit, as skein's
 * flush=always fsyncs before acking). RDB snapshots are off (`save ""`): with the AOF on they
 * add nothing to durability and their fork would land in measured windows. Replicas run the same
 * AOF settings. AOF rewrites keep their defaults (auto, once the file has doubled past 64 MB):
 * housekeeping a Redis deployment runs, as skein rolls segments; on long runs a rewrite (a fork
 * writing the whole data set) can fall into a measured window.
 *
 * Acks: 'leader' = the primary has applied and fsynced the XADDs (their replies). 'all' with
 * replicas = the same pipeline ends with `WAIT <replicas> <timeout>`, which returns once every
 * replica has acknowledged the replication offset of those writes: received and applied; a
 * replica's own fsync is not part of WAIT's promise (WAITAOF, which waits for it, came in Redis
 * 7.2; Debian 12 ships 7.0), and a failover is not part of this deployment at all. A
 * producer has one connection, as a Redis application would: its sends are pipelined on it in
 * order; WAIT blocks that connection while it waits, so with acks 'all' the pipelines of the
 * sends in flight reach the server one after the other (several connections measured no faster
 * here, ioredis being the bottleneck, and would give up the order of the sends).
 *
 * Partitions: one stream key per stream, whatever `partitions` says. A Redis server executes
 * commands on one thread, so several keys on one primary do not add throughput; Redis scales
 * a stream by sharding keys over several primaries (Redis Cluster), which a 1-primary +
 * 2-replica deployment is not. One key also keeps a total order.
 *
 * Producer: one pipeline per send(), `XADD <key> * v <value>` per record (no MAXLEN: the
 * stream keeps everything). Consumer: `XREAD COUNT <batchRecordsMax> BLOCK 200 STREAMS <key>
 * <last id>` from 0, following the last id it got.
 */
import { writeFileSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import type { BenchConsumer, BenchProducer, BenchSystem, ConsumerOptions, DeployOptions, Deployment, ProducerOptions, StreamOptions } from '../system.js'
import { asBuffer, findBinary, freePorts, makeTempDir, type PeerProcess, retryUntil, spawnPeer, stopAll, waitForPort, requireReplicationFits } from './peer-process.js'

/** How long a redis-server may take to accept connections. */
const startTimeoutMs = 15_000
/** How long replicas may take to finish their initial sync with the primary. */
const replicaSyncTimeoutMs = 30_000
/** WAIT's own timeout: a send whose writes are not on every replica by then fails. */
const waitTimeoutMs = 30_000
/** XREAD's BLOCK: how long one read waits for new entries (bounds close() latency too). */
const readBlockMs = 200
/** The field name of each stream entry; the value is the record. */
const valueField = 'v'

/** For the suite's durability table. */
export const redisDurability =
  'appendonly yes, appendfsync always (the primary fsyncs the AOF before replying, group commit); acks leader = the primary replied; acks all = WAIT 2: both replicas received and applied it (not their fsync: WAITAOF needs 7.2); no failover'

export function redisSystem(): BenchSystem {
  return {
    name: 'redis',
    async unavailable() {
      return findBinary('redis-server') === undefined ? 'redis-server not installed (apt-get install -y redis-server)' : undefined
    },
    deploy: deployRedis,
  }
}

function serverConfig(port: number, dataDir: string, primaryPort: number | undefined): string {
  const lines = [
    'bind 127.0.0.1',
    `port ${port}`,
    'daemonize no',
    `dir ${dataDir}`,
    'logfile ""',
    // Durability comparable to skein's flush=always: fsync the AOF before replying.
    'appendonly yes',
    'appendfsync always',
    'save ""',
    'repl-diskless-sync yes',
    'repl-diskless-sync-delay 0',
  ]
  if (primaryPort !== undefined) lines.push(`replicaof 127.0.0.1 ${primaryPort}`)
  return `${lines.join('\n')}\n`
}

async function deployRedis(options: DeployOptions): Promise<Deployment> {
  const binary = findBinary('redis-server')
  if (binary === undefined) throw new Error('redis-server not installed')
  const dir = await makeTempDir(`redis-${options.label}`)
  const ports = await freePorts(options.nodes)
  const primaryPort = ports[0] as number
  const servers: PeerProcess[] = []
  const clients = new Set<Redis>()
  let stopped: Promise<void> | undefined
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      for (const client of clients) client.disconnect()
      await stopAll(servers, dir)
    })())
  try {
    const started = await Promise.allSettled(
      ports.map(async (port, index) => {
        const dataDir = join(dir, `node-${index + 1}`)
        await mkdir(dataDir)
        const configFile = join(dataDir, 'redis.conf')
        writeFileSync(configFile, serverConfig(port, dataDir, index === 0 ? undefined : primaryPort))
        const server = await spawnPeer({ name: `redis-server ${index + 1}`, command: binary, args: [configFile], cwd: dataDir, logFile: join(dir, `node-${index + 1}.log`) })
        servers.push(server)
        await waitForPort(server, port, startTimeoutMs)
      }),
    )
    for (const result of started) if (result.status === 'rejected') throw result.reason
    const admin = connectRedis(primaryPort, clients)
    await retryUntil('redis replicas in sync', replicaSyncTimeoutMs, 100, async () => {
      const online = ((await admin.info('replication')).match(/^slave\d+:.*state=online/gm) ?? []).length
      if (online !== options.nodes - 1) throw new Error(`${online} of ${options.nodes - 1} replicas online`)
    })
    admin.disconnect()
    clients.delete(admin)
  } catch (err) {
    await stop()
    throw err
  }
  return {
    pids: () => servers.map((server) => server.pid),
    async createStream(name: string, stream: StreamOptions) {
      requireReplicationFits(stream.replication, options.nodes)
      // Replication is per server in Redis: every key goes to every replica there is.
      const admin = connectRedis(primaryPort, clients)
      await admin.del(name)
      admin.disconnect()
      clients.delete(admin)
    },
    async producer(stream: string, producerOptions: ProducerOptions) {
      return redisProducer(primaryPort, stream, producerOptions.acks === 'all' ? options.nodes - 1 : 0, clients)
    },
    async consumer(stream: string, consumerOptions: ConsumerOptions) {
      return redisConsumer(primaryPort, stream, consumerOptions.batchRecordsMax, clients)
    },
    stop,
  }
}

function connectRedis(port: number, clients: Set<Redis>): Redis {
  // No retries: a server gone mid-run is a failed run, not something to wait out.
  const client = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: true })
  client.on('error', () => {
    // surfaced by the failing command
  })
  clients.add(client)
  return client
}

function redisProducer(port: number, key: string, replicasToWaitFor: number, clients: Set<Redis>): BenchProducer {
  // One connection, every send() one pipeline on it, in the order of the calls.
  const client = connectRedis(port, clients)
  return {
    async send(values) {
      const pipeline = client.pipeline()
      for (const value of values) pipeline.xadd(key, '*', valueField, asBuffer(value))
      if (replicasToWaitFor > 0) pipeline.wait(replicasToWaitFor, waitTimeoutMs)
      const results = (await pipeline.exec()) ?? []
      if (results.length !== values.length + (replicasToWaitFor > 0 ? 1 : 0)) throw new Error(`pipeline returned ${results.length} replies`)
      for (const [err] of results) if (err) throw err
      if (replicasToWaitFor > 0) {
        const acked = results[results.length - 1]?.[1] as number
        if (acked < replicasToWaitFor) throw new Error(`WAIT: ${acked} of ${replicasToWaitFor} replicas acknowledged within ${waitTimeoutMs} ms`)
      }
    },
    async close() {
      await client.quit().catch(() => undefined)
      clients.delete(client)
    },
  }
}

type XreadReply = [key: Buffer, entries: [id: Buffer, fields: Buffer[]][]][] | null

function redisConsumer(port: number, key: string, batchRecordsMax: number, clients: Set<Redis>): BenchConsumer {
  const client = connectRedis(port, clients)
  let closed = false
  return {
    async run(onRecords) {
      let lastId = '0'
      while (!closed) {
        let reply: XreadReply
        try {
          reply = (await client.xreadBuffer('COUNT', batchRecordsMax, 'BLOCK', readBlockMs, 'STREAMS', key, lastId)) as XreadReply
        } catch (err) {
          if (closed) return
          throw err
        }
        const entries = reply?.[0]?.[1]
        if (entries === undefined || entries.length === 0) continue
        const values = entries.map(([, fields]) => fields[1] as Buffer)
        lastId = (entries[entries.length - 1] as [Buffer, Buffer[]])[0].toString()
        if (!onRecords(values)) return
      }
    },
    async close() {
      closed = true
      client.disconnect()
      clients.delete(client)
    },
  }
}
