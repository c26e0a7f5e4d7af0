import { createServer, type Server, type Socket, connect } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { partitionForKey } from '../../src/client/partitioner.js'
import { Client, type RecordMetadata } from '../../src/index.js'
import { consumeAll } from '../helpers/consume-all.js'
import { Processes, freePorts, retry } from '../helpers/processes.js'

/**
 * The SDK against real node processes: what an application sees through `Client`, `Producer`
 * and `Consumer`, with the network between them real (and, for the idempotence test, cut).
 */

const CLUSTER = { clusterId: 'sdk-test', clusterSecret: 'sdk-test-secret-0123456789abcdef' }
/** Gossip normally shows new members within a few seconds. */
const MEMBERSHIP_DEADLINE_MS = 30_000

/** murmur2 hashes from Kafka's UtilsTest.testMurmur2: the partition is toPositive(hash) % count, computed here from Kafka's numbers, not ours. */
const KAFKA_HASHES: Record<string, number> = { '21': -973932308, foobar: -790332482, 'a-little-bit-long-string': -985981536, abc: 479470107 }

const procs = new Processes()
const clients: Client[] = []
let proxy: CuttableProxy | undefined

afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close().catch(() => undefined)))
  await proxy?.close()
  proxy = undefined
  await procs.cleanup()
})

function newClient(seed: string, clientId: string): Client {
  const client = new Client({ seeds: [seed], ...CLUSTER, clientId })
  clients.push(client)
  return client
}

/** A TCP relay on loopback whose open connections the test can cut at any moment (the client then reconnects through it). */
class CuttableProxy {
  private readonly sockets = new Set<Socket>()
  /** Sockets each cut destroyed: a cut of no live connection would test nothing. */
  readonly socketsCut: number[] = []
  private constructor(private readonly server: Server) {}

  static async start(listenPort: number, targetPort: number): Promise<CuttableProxy> {
    const server = createServer()
    const relay = new CuttableProxy(server)
    server.on('connection', (inbound) => {
      const outbound = connect(targetPort, '127.0.0.1')
      for (const socket of [inbound, outbound]) {
        relay.sockets.add(socket)
        socket.on('close', () => relay.sockets.delete(socket))
        socket.on('error', () => undefined)
      }
      inbound.pipe(outbound).pipe(inbound)
      inbound.on('close', () => outbound.destroy())
      outbound.on('close', () => inbound.destroy())
    })
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(listenPort, '127.0.0.1', resolve))
    return relay
  }

  /** Destroys every relayed connection in both directions: bytes in flight are lost. */
  cut(): void {
    this.socketsCut.push(this.sockets.size)
    for (const socket of this.sockets) socket.destroy()
  }

  /** Waits (bounded) until the client is connected through the relay again, then cuts. */
  async cutWhenConnected(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (this.sockets.size === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5))
    this.cut()
  }

  async close(): Promise<void> {
    this.cut()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }
}

describe('the SDK on real node processes', () => {
  it('keyedRecordsWithHeadersNullsAndEmpties_landWhereKafkaWould_andRoundTripInOrderPerKey', async () => {
    const controllers = ['n1', 'n2', 'n3']
    const n1 = await procs.start('n1', { secret: CLUSTER.clusterSecret, clusterId: CLUSTER.clusterId, controllers })
    await Promise.all(['n2', 'n3'].map((id) => procs.start(id, { secret: CLUSTER.clusterSecret, clusterId: CLUSTER.clusterId, controllers, seeds: [n1.address] })))
    const client = newClient(n1.address, 'sdk-roundtrip')
    // Until gossip shows all three nodes alive, RF 3 is refused.
    await retry(() => client.admin().createTopic({ name: 'mixed', partitions: 6, replicationFactor: 3 }), MEMBERSHIP_DEADLINE_MS, 500)

    const producer = client.producer({ acks: 'all', idempotent: true, lingerMs: 2 })
    const golden = await producer.send({ topic: 'mixed', messages: Object.keys(KAFKA_HASHES).map((key) => ({ key, value: `golden ${key}` })) })
    expect(golden.map((ack) => ack.partition)).toEqual(Object.values(KAFKA_HASHES).map((hash) => (hash & 0x7fffffff) % 6))

    const keys = Array.from({ length: 12 }, (_, i) => `user-${i}`)
    const binary = Buffer.from([0, 255, 1, 254, 0, 0, 10, 13])
    const sent: { key: string; value: Buffer | string | null; headers?: Record<string, string | Buffer> }[] = []
    for (let i = 0; i < 600; i++) {
      const key = keys[i % keys.length] as string
      const value = i % 50 === 7 ? null : i % 50 === 8 ? '' : i % 50 === 9 ? binary : `value ${i} \u00e9\u263a`
      sent.push(i % 3 === 0 ? { key, value, headers: { source: 'web', trace: Buffer.from([i & 0xff, 0]), empty: '' } } : { key, value })
    }
    // In several sends, some concurrent: per-key order must still hold (one partition per key, batches in order).
    const acks: RecordMetadata[] = []
    for (let at = 0; at < sent.length; at += 200) {
      const chunk = sent.slice(at, at + 200)
      const halves = await Promise.all([producer.send({ topic: 'mixed', messages: chunk.slice(0, 100) }), producer.send({ topic: 'mixed', messages: chunk.slice(100) })])
      acks.push(...halves.flat())
    }
    await producer.close()
    acks.forEach((ack, i) => expect(ack.partition).toBe(partitionForKey(Buffer.from(sent[i]!.key), 6)))

    const messages = await consumeAll(client, 'mixed', 6, golden.length + sent.length)
    expect(messages).toHaveLength(golden.length + sent.length)
    const byPlace = new Map(messages.map((m) => [`${m.partition}@${m.offset}`, m]))
    sent.forEach((record, i) => {
      const ack = acks[i]!
      const message = byPlace.get(`${ack.partition}@${ack.offset}`)
      expect(message, `record ${i}`).toBeDefined()
      expect(message!.key?.toString()).toBe(record.key)
      if (record.value === null) expect(message!.value).toBeNull()
      else expect(Buffer.compare(message!.value!, Buffer.from(record.value))).toBe(0)
      const expectedHeaders = Object.fromEntries(Object.entries(record.headers ?? {}).map(([name, value]) => [name, Buffer.from(value).toString('hex')]))
      expect(Object.fromEntries(Object.entries(message!.headers).map(([name, value]) => [name, value?.toString('hex')]))).toEqual(expectedHeaders)
    })
    for (const key of keys) {
      const ofKey = messages.filter((m) => m.key?.toString() === key)
      expect(new Set(ofKey.map((m) => m.partition)).size).toBe(1)
      expect(ofKey.map((m) => m.value?.toString('hex') ?? null)).toEqual(
        sent.filter((record) => record.key === key).map((record) => (record.value === null ? null : Buffer.from(record.value).toString('hex'))),
      )
    }
  }, 120_000)

  it('idempotentProducer_connectionCutMidSendThreeTimes_everyRecordOnceInSendOrder', async () => {
    const [nodePort, proxyPort] = await freePorts(2)
    // The node advertises the proxy, so the client reaches it only through the cuttable relay.
    await procs.start('i1', { port: nodePort, secret: CLUSTER.clusterSecret, clusterId: CLUSTER.clusterId, controllers: ['i1'], env: { SKEIN_ADVERTISE: `127.0.0.1:${proxyPort}` } })
    proxy = await CuttableProxy.start(proxyPort as number, nodePort as number)
    const client = newClient(`127.0.0.1:${proxyPort}`, 'sdk-idempotent')
    await client.admin().createTopic({ name: 'ledger', partitions: 3, replicationFactor: 1 })

    const producer = client.producer({ acks: 'all', idempotent: true, lingerMs: 1, batchBytes: 2048, maxInFlightRequests: 5 })
    const total = 6000
    const perSend = 50
    const sends: Promise<RecordMetadata[]>[] = []
    for (let at = 0; at < total; at += perSend) {
      sends.push(producer.send({ topic: 'ledger', messages: Array.from({ length: perSend }, (_, i) => ({ key: `k${(at + i) % 9}`, value: `v${at + i}` })) }))
      // Cut the connection three times while batches are in flight.
      if (at === 1500 || at === 3000 || at === 4500) {
        await new Promise((resolve) => setTimeout(resolve, 5))
        await proxy.cutWhenConnected()
      }
      if (sends.length % 10 === 0) await new Promise((resolve) => setImmediate(resolve))
    }
    const acks = (await Promise.all(sends)).flat()
    await producer.close()
    // Three cuts during the sends (close() cuts once more, later), each of a live connection.
    expect(proxy.socketsCut).toHaveLength(3)
    for (const cut of proxy.socketsCut) expect(cut).toBeGreaterThan(0)
    expect(acks).toHaveLength(total)

    const messages = await consumeAll(client, 'ledger', 3, total)
    const values = messages.map((m) => m.value!.toString())
    // Exactly once: no value twice, none missing.
    expect(new Set(values).size).toBe(values.length)
    expect(values.length).toBe(total)
    // In send order per key (each key has one partition). This once failed: sends waiting for
    // the topic's first metadata queued their records in the order the answers came.
    for (let key = 0; key < 9; key++) {
      const ofKey = messages.filter((m) => m.key!.toString() === `k${key}`).map((m) => Number(m.value!.toString().slice(1)))
      expect(ofKey).toEqual([...ofKey].sort((a, b) => a - b))
    }
    // Every ack names the place the record really is.
    const byPlace = new Map(messages.map((m) => [`${m.partition}@${m.offset}`, m.value!.toString()]))
    acks.forEach((ack, i) => expect(byPlace.get(`${ack.partition}@${ack.offset}`)).toBe(`v${i}`))
  }, 120_000)
})
