import { readdirSync, readFileSync, readlinkSync } from 'node:fs'
import { dirname } from 'node:path'
import { describe, expect, it } from 'vitest'
import { isAlive, processTree } from '../../bench/suite/systems/peer-process.js'
import { natsSystem } from '../../bench/suite/systems/nats.js'
import { rabbitmqSystem } from '../../bench/suite/systems/rabbitmq.js'
import { redisSystem } from '../../bench/suite/systems/redis.js'
import type { BenchSystem, Deployment } from '../../bench/suite/system.js'

/**
 * The peer adapters of the comparison suite (bench/suite/systems/) against the real servers:
 * for each of redis-server, nats-server and rabbitmq-server that is installed, a 1-node
 * deployment takes 10,000 100-byte records through producer().send and gives them back, in
 * order, through consumer().run; a 3-node deployment with replication 3 does the same with
 * 1,000; and after stop() no process the deployment started is left. A peer that is not
 * installed (CI) is skipped, never failed. RabbitMQ's 3-node cluster is the slow one (about
 * 20-30 s to boot and join on 2 cores).
 */

const RECORD_BYTES = 100
const STREAM = 'peers-test'
const ONE_NODE_TIMEOUT_MS = 90_000
const THREE_NODE_TIMEOUT_MS = 240_000
/** Bounds a read-back that never completes (records lost) so the test fails instead of hanging. */
const CONSUME_TIMEOUT_MS = 60_000

interface Case {
  readonly label: string
  readonly system: BenchSystem
  /** Only the 1-node round trip (a variant that differs from another case in the producer only). */
  readonly oneNodeOnly: boolean
}

const CASES: Case[] = [
  { label: 'redis', system: redisSystem(), oneNodeOnly: false },
  { label: 'nats', system: natsSystem(), oneNodeOnly: false },
  { label: 'nats (js.publish)', system: natsSystem({ publish: 'js.publish' }), oneNodeOnly: true },
  { label: 'rabbitmq', system: rabbitmqSystem(), oneNodeOnly: false },
]
const missing = new Map<BenchSystem, string | undefined>(await Promise.all(CASES.map(async ({ system }) => [system, await system.unavailable()] as const)))

/** Record `index`: its index in the first 4 bytes, then bytes that depend on it. */
function record(index: number): Uint8Array {
  const value = Buffer.alloc(RECORD_BYTES)
  value.writeUInt32BE(index, 0)
  for (let i = 4; i < RECORD_BYTES; i++) value[i] = (index + i) & 0xff
  return value
}

function indexOf(value: Uint8Array): number {
  const buffer = Buffer.from(value.buffer, value.byteOffset, value.byteLength)
  expect(buffer.length).toBe(RECORD_BYTES)
  const index = buffer.readUInt32BE(0)
  for (let i = 4; i < RECORD_BYTES; i++) if (buffer[i] !== ((index + i) & 0xff)) throw new Error(`record ${index}: byte ${i} corrupted`)
  return index
}

/**
 * Every process of a deployment, by pid: its servers' trees, and whatever runs with a working
 * directory inside the deployment's temp dir (the parent of a server's own dir), which catches
 * helpers outside the servers' trees (RabbitMQ's epmd, started beside the nodes).
 */
function deploymentProcesses(serverPids: readonly number[]): Map<number, string> {
  const found = new Map<number, string>()
  const roots = new Set<string>()
  for (const pid of serverPids) {
    for (const member of processTree(pid)) found.set(member, commOf(member))
    const cwd = cwdOf(pid)
    if (cwd !== undefined) roots.add(dirname(cwd))
  }
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const cwd = cwdOf(Number(entry))
    if (cwd !== undefined && [...roots].some((root) => cwd === root || cwd.startsWith(`${root}/`))) found.set(Number(entry), commOf(Number(entry)))
  }
  return found
}

function cwdOf(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/cwd`)
  } catch {
    return undefined // gone meanwhile
  }
}

function commOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim()
  } catch {
    return '?'
  }
}

interface RoundTrip {
  readonly nodes: number
  readonly records: number
  readonly recordsPerSend: number
  readonly sendsInFlight: number
  readonly partitions: number
}

/** Produces `records` records, `sendsInFlight` sends at a time, and resolves once all are acknowledged. */
async function produce(deployment: Deployment, trip: RoundTrip): Promise<void> {
  const producer = await deployment.producer(STREAM, { acks: trip.nodes > 1 ? 'all' : 'leader' })
  let next = 0
  const lane = async (): Promise<void> => {
    while (next < trip.records) {
      const first = next
      next = Math.min(trip.records, next + trip.recordsPerSend)
      const values: Uint8Array[] = []
      for (let i = first; i < next; i++) values.push(record(i))
      await producer.send(values)
    }
  }
  await Promise.all(Array.from({ length: trip.sendsInFlight }, lane))
  await producer.close()
}

/** Reads until `records` records have come; resolves with their indexes in arrival order. */
async function consume(deployment: Deployment, records: number): Promise<number[]> {
  const consumer = await deployment.consumer(STREAM, { batchRecordsMax: 256 })
  const indexes: number[] = []
  const timer = setTimeout(() => void consumer.close(), CONSUME_TIMEOUT_MS)
  try {
    await consumer.run((values) => {
      for (const value of values) indexes.push(indexOf(value))
      return indexes.length < records
    })
  } finally {
    clearTimeout(timer)
    await consumer.close()
  }
  return indexes
}

/** Deploys, produces, reads back, stops; resolves with what came back and the processes seen. */
async function roundTrip(system: BenchSystem, trip: RoundTrip): Promise<{ indexes: number[]; started: Map<number, string>; serverPids: number[] }> {
  const deployment = await system.deploy({ nodes: trip.nodes, label: `test-${system.name}-${trip.nodes}` })
  const serverPids = deployment.pids()
  const started = deploymentProcesses(serverPids)
  try {
    await deployment.createStream(STREAM, { partitions: trip.partitions, replication: trip.nodes })
    await produce(deployment, trip)
    const indexes = await consume(deployment, trip.records)
    for (const [pid, comm] of deploymentProcesses(serverPids)) started.set(pid, comm)
    return { indexes, started, serverPids }
  } finally {
    await deployment.stop()
  }
}

function expectNothingLeft(started: Map<number, string>, serverPids: number[], comms: readonly string[]): void {
  for (const comm of comms) expect([...started.values()], `a ${comm} process among the deployment's`).toContain(comm)
  const alive = [...started].filter(([pid]) => isAlive(pid)).map(([pid, comm]) => `${pid} ${comm}`)
  expect(alive).toEqual([])
  for (const pid of serverPids) expect(isAlive(pid)).toBe(false)
}

/** Processes each deployment must have had (so the leftover check looked at the right ones). */
const EXPECTED_COMMS: Record<string, readonly string[]> = { redis: ['redis-server'], nats: ['nats-server'], rabbitmq: ['beam.smp', 'epmd'] }

describe.each(CASES)('$label adapter', ({ system, oneNodeOnly }) => {
  // The leftover-process checks read /proc.
  const why = process.platform === 'linux' ? missing.get(system) : 'these tests read /proc (Linux only)'
  const skip = why !== undefined
  if (skip) it.skip(`skipped: ${why}`, () => undefined)

  it.skipIf(skip)(
    '1 node: 10,000 records sent 4 sends at a time come back complete, intact and in order; nothing is left running',
    async () => {
      const trip = { nodes: 1, records: 10_000, recordsPerSend: 500, sendsInFlight: 4, partitions: 1 }
      const { indexes, started, serverPids } = await roundTrip(system, trip)
      expect(serverPids.length).toBe(1)
      expect(indexes.length).toBe(trip.records)
      expect(indexes).toEqual(Array.from({ length: trip.records }, (_, i) => i))
      expectNothingLeft(started, serverPids, EXPECTED_COMMS[system.name] ?? [])
    },
    ONE_NODE_TIMEOUT_MS,
  )

  if (oneNodeOnly) return

  it.skipIf(skip)(
    '3 nodes, replication 3, acks all: 1,000 records over 3 partitions come back complete, each send in order; nothing is left running',
    async () => {
      const trip = { nodes: 3, records: 1_000, recordsPerSend: 100, sendsInFlight: 2, partitions: 3 }
      const { indexes, started, serverPids } = await roundTrip(system, trip)
      expect(serverPids.length).toBe(3)
      expect([...indexes].sort((a, b) => a - b)).toEqual(Array.from({ length: trip.records }, (_, i) => i))
      // A send goes to one partition: its records arrive in the order sent.
      const lastOfSend = new Map<number, number>()
      for (const index of indexes) {
        const send = Math.floor(index / trip.recordsPerSend)
        expect(index, `record ${index} after ${lastOfSend.get(send)} of the same send`).toBeGreaterThan(lastOfSend.get(send) ?? -1)
        lastOfSend.set(send, index)
      }
      expectNothingLeft(started, serverPids, EXPECTED_COMMS[system.name] ?? [])
    },
    THREE_NODE_TIMEOUT_MS,
  )
})
