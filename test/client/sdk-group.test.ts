import { afterEach, describe, expect, it } from 'vitest'
import { Client, type Consumer, type ConsumerConfig, type ConsumerMessage } from '../../src/index.js'
import { InProcessNodes } from '../helpers/in-process-nodes.js'

/**
 * Consumer groups through the SDK against a real three-node cluster in this process: the
 * coordinator, the membership loop, the assignors and commits together.
 */

const CLUSTER = { clusterId: 'sdk-group-test', clusterSecret: 'sdk-group-test-secret-0123456789' }
const nodes = new InProcessNodes(CLUSTER, 'skein-sdk-group')
/** Few offsets partitions (faster to create), and no initial rebalance delay (consumers start one by one here). */
const BROKER = { offsetsTopicPartitions: 3, groupLimits: { sessionTimeoutMsMin: 500, sessionTimeoutMsMax: 60_000, membersMax: 100, initialRebalanceDelayMs: 0 } }
const GROUP_TIMINGS: ConsumerConfig = { sessionTimeoutMs: 6_000, heartbeatIntervalMs: 300, rebalanceTimeoutMs: 10_000, autoCommitIntervalMs: 500 }
const TOPIC = 'events'
const PARTITIONS = 6
const PER_PARTITION = 10
const WAIT_MS = 60_000
const POLL_MS = 50

const clients: Client[] = []
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()))
  await nodes.cleanup()
})

async function startCluster(): Promise<Client> {
  const started = await nodes.startCluster(['g1', 'g2', 'g3'], { broker: BROKER })
  const client = new Client({ seeds: started.map((node) => node.address), clientId: 'sdk-group-test', ...CLUSTER })
  clients.push(client)
  await client.admin().createTopic({ name: TOPIC, partitions: PARTITIONS, replicationFactor: 3 })
  const producer = client.producer({ acks: 'all' })
  const sends = []
  for (let partition = 0; partition < PARTITIONS; partition++) {
    for (let i = 0; i < PER_PARTITION; i++) sends.push(producer.send({ topic: TOPIC, messages: [{ value: `${partition}:${i}`, partition }] }))
  }
  await Promise.all(sends)
  await producer.close()
  return client
}

async function waitFor(what: string, condition: () => boolean, timeoutMs = WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, POLL_MS))
  }
}

/**
 * A group consumer reading with run(), every message it processed (and the run's end) kept.
 * With `processedMax`, the handler of the next message blocks until `release()`: that message
 * is never processed.
 */
function groupReader(client: Client, groupId: string, processedMax = Infinity) {
  const consumer = client.consumer({ groupId, fromBeginning: true, ...GROUP_TIMINGS })
  const seen: ConsumerMessage[] = []
  let release!: () => void
  const gate = new Promise<void>((resolve) => (release = resolve))
  consumer.subscribe(TOPIC)
  const running = consumer.run({
    eachMessage: async ({ message }) => {
      if (seen.length >= processedMax) await gate
      else seen.push(message)
    },
  })
  return { consumer, seen, running, release }
}

const idOf = (m: ConsumerMessage): string => `${m.partition}@${m.offset}`
const keysOf = (consumer: Consumer): string[] => consumer.assignment().map((tp) => `${tp.topic}/${tp.partition}`)

describe('consumer groups through the SDK', () => {
  it('threeMembers_shareSixPartitionsTwoEach_andReadEveryRecordOnce', async () => {
    const client = await startCluster()
    const readers = [groupReader(client, 'sharing'), groupReader(client, 'sharing'), groupReader(client, 'sharing')]
    await waitFor('two partitions each', () => readers.every((r) => r.consumer.assignment().length === 2))
    const owned = readers.flatMap((r) => keysOf(r.consumer))
    expect(new Set(owned).size).toBe(PARTITIONS)
    await waitFor('every record', () => readers.reduce((sum, r) => sum + r.seen.length, 0) >= PARTITIONS * PER_PARTITION)
    const all = readers.flatMap((r) => r.seen.map(idOf))
    expect(new Set(all).size).toBe(PARTITIONS * PER_PARTITION)
    const generations = readers.map((r) => r.consumer.groupMetadata()?.generation)
    expect(new Set(generations).size).toBe(1)
    for (const r of readers) await r.consumer.close()
    await Promise.all(readers.map((r) => r.running))
  }, 120_000)

  it('commitsSurviveClose_aNewMemberResumesWhereTheLastStopped', async () => {
    const client = await startCluster()
    const half = (PARTITIONS * PER_PARTITION) / 2
    const first = groupReader(client, 'resume', half)
    await waitFor('half the records', () => first.seen.length >= half)
    await first.consumer.close() // commits what was processed (not the message its handler is stuck on), then leaves
    first.release()
    await first.running
    const committed = await client.consumer({ groupId: 'resume' }).committed(Array.from({ length: PARTITIONS }, (_, partition) => ({ topic: TOPIC, partition })))
    const nextOffsets = new Map<number, number>()
    for (const m of first.seen) nextOffsets.set(m.partition, Math.max(nextOffsets.get(m.partition) ?? 0, m.offset + 1))
    // Partitions it read from: the offset after the last processed record. (The others hold the
    // position their reset resolved to, or nothing; the second reader proves nothing is skipped.)
    for (const entry of committed) if (nextOffsets.has(entry.partition)) expect(entry.offset, `partition ${entry.partition}`).toBe(nextOffsets.get(entry.partition))

    const second = groupReader(client, 'resume')
    await waitFor('the rest of the records', () => first.seen.length + second.seen.length >= PARTITIONS * PER_PARTITION)
    await second.consumer.close()
    await second.running
    // Nothing read twice, nothing skipped.
    const firstIds = new Set(first.seen.map(idOf))
    expect(second.seen.filter((m) => firstIds.has(idOf(m)))).toEqual([])
    expect(new Set([...firstIds, ...second.seen.map(idOf)]).size).toBe(PARTITIONS * PER_PARTITION)

    // assign() with the groupId and no offset starts at the group's committed offset too.
    const commits = client.consumer({ groupId: 'resume', autoCommit: false })
    commits.assign([{ topic: TOPIC, partition: 0 }])
    await waitFor('the partition position', () => commits.position({ topic: TOPIC, partition: 0 }) !== undefined)
    const lastOfPartition0 = Math.max(...first.seen.concat(second.seen).filter((m) => m.partition === 0).map((m) => m.offset))
    expect(commits.position({ topic: TOPIC, partition: 0 })).toBe(lastOfPartition0 + 1)
    await commits.close()
  }, 120_000)

  it('staticMemberRestartsWithinItsSession_keepsItsPartitions_noRebalance', async () => {
    const client = await startCluster()
    const revokedFromB: string[] = []
    const member = (instanceId: string, onRevoked?: (tps: { topic: string; partition: number }[]) => void) => {
      const consumer = client.consumer({ groupId: 'static', groupInstanceId: instanceId, fromBeginning: true, ...GROUP_TIMINGS })
      consumer.subscribe(TOPIC, onRevoked === undefined ? {} : { onRevoked })
      void consumer.run({ eachMessage: () => undefined }).catch(() => undefined)
      return consumer
    }
    const a = member('a')
    const b = member('b', (tps) => revokedFromB.push(...tps.map((tp) => `${tp.topic}/${tp.partition}`)))
    await waitFor('three partitions each', () => a.assignment().length === 3 && b.assignment().length === 3)
    // Whoever joined first gave half away when the other joined: only later revokes count.
    revokedFromB.length = 0
    const before = await client.admin().describeGroup('static')
    const ownedByA = keysOf(a).sort()
    // A static member's close does not leave the group: its place waits for it a session long.
    await a.close()
    const restarted = member('a')
    await waitFor('the restarted member owning its partitions', () => keysOf(restarted).length === 3)
    expect(keysOf(restarted).sort()).toEqual(ownedByA)
    const after = await client.admin().describeGroup('static')
    expect(after.generation).toBe(before.generation)
    expect(after.members.map((m) => m.groupInstanceId).sort()).toEqual(['a', 'b'])
    expect(revokedFromB).toEqual([])
    await restarted.close()
    await b.close()
  }, 120_000)
})

