import { afterEach, describe, expect, it } from 'vitest'
import type { GroupDescription } from '../../src/client/admin.js'
import { Client } from '../../src/index.js'
import { type CliProcess, Processes, retry } from '../helpers/processes.js'

/**
 * Consumer groups across real processes: three node processes, and group members that are
 * `skein consume --group` processes (the CLI on the SDK), one of them killed with SIGKILL and
 * a new one started while a producer keeps writing. At least once, end to end: every
 * acknowledged record is printed by some member, and the group's committed offsets, sampled
 * all along, never go backwards.
 */

const CLUSTER = { clusterId: 'group-test', clusterSecret: 'group-test-secret-0123456789abcdef' }
const TOPIC = 'work'
const GROUP = 'workers'
const PARTITIONS = 6
const SESSION_TIMEOUT_MS = 6_000
/** Gossip shows new members within a few seconds; RF 3 waits for all three. */
const MEMBERSHIP_DEADLINE_MS = 30_000
/** Far above a rebalance (initial delay 3 s, then a few round trips) and a session expiry. */
const GROUP_SETTLE_DEADLINE_MS = 60_000
const COMMIT_SAMPLE_EVERY_MS = 200
const PRODUCE_EVERY_MS = 50
const RECORDS_PER_SEND = 10

const procs = new Processes()
const clients: Client[] = []

afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close().catch(() => undefined)))
  await procs.cleanup()
})

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Members' ids -> their partitions, for a group that is stable with `members` members owning every partition. */
async function waitForStableGroup(client: Client, members: number): Promise<Map<string, string[]>> {
  let last: GroupDescription | undefined
  const deadline = Date.now() + GROUP_SETTLE_DEADLINE_MS
  while (Date.now() < deadline) {
    last = await client.admin().describeGroup(GROUP).catch(() => undefined)
    const owned = last?.members.flatMap((m) => m.assignment.map((tp) => `${tp.topic}/${tp.partition}`)) ?? []
    if (last?.state === 'stable' && last.members.length === members && new Set(owned).size === PARTITIONS && owned.length === PARTITIONS) {
      return new Map(last.members.map((m) => [m.memberId, m.assignment.map((tp) => `${tp.topic}/${tp.partition}`).sort()]))
    }
    await sleep(100)
  }
  throw new Error(`group not stable with ${members} members owning all ${PARTITIONS} partitions; last: ${JSON.stringify(last)}`)
}

describe('consumer groups on real processes', () => {
  it('threeMembersShareSixPartitions_aKilledMembersPartitionsMove_aJoinerTakesOnlyWhatMustMove_everyAckedRecordProcessed', async () => {
    const controllers = ['n1', 'n2', 'n3']
    const n1 = await procs.start('n1', { secret: CLUSTER.clusterSecret, clusterId: CLUSTER.clusterId, controllers })
    await Promise.all(['n2', 'n3'].map((id) => procs.start(id, { secret: CLUSTER.clusterSecret, clusterId: CLUSTER.clusterId, controllers, seeds: [n1.address] })))
    const client = new Client({ seeds: [n1.address], ...CLUSTER, clientId: 'group-test' })
    clients.push(client)
    await retry(() => client.admin().createTopic({ name: TOPIC, partitions: PARTITIONS, replicationFactor: 3 }), MEMBERSHIP_DEADLINE_MS, 500)

    // A producer writing all along; what it was told is acknowledged must be processed.
    const acknowledged = new Set<string>()
    let producing = true
    const producer = client.producer({ acks: 'all', lingerMs: 5 })
    const production = (async () => {
      for (let round = 0; producing; round++) {
        const values = Array.from({ length: RECORDS_PER_SEND }, (_, i) => `r${round}-${i}`)
        await producer.send({ topic: TOPIC, messages: values.map((value) => ({ key: value, value })) })
        for (const value of values) acknowledged.add(value)
        await sleep(PRODUCE_EVERY_MS)
      }
    })()

    const env = { SKEIN_SEEDS: n1.address, SKEIN_CLUSTER_ID: CLUSTER.clusterId, SKEIN_CLUSTER_SECRET: CLUSTER.clusterSecret }
    const member = (): Promise<CliProcess> =>
      procs.spawnCli(['consume', TOPIC, '--group', GROUP, '--from-beginning', '--session-timeout-ms', String(SESSION_TIMEOUT_MS), '--heartbeat-interval-ms', '1000', '--auto-commit-interval-ms', '300', '--format', '%p %o %v\\n'], env)
    const members = [await member(), await member(), await member()]

    // Committed offsets sampled all along: never backwards.
    const highest = new Map<string, number>()
    const regressions: string[] = []
    let sampling = true
    const sampler = (async () => {
      while (sampling) {
        const described = await client.admin().describeGroup(GROUP).catch(() => undefined)
        for (const p of described?.partitions ?? []) {
          if (p.committedOffset === undefined) continue
          const key = `${p.topic}/${p.partition}`
          const before = highest.get(key) ?? -1
          if (p.committedOffset < before) regressions.push(`${key}: ${before} -> ${p.committedOffset}`)
          highest.set(key, Math.max(before, p.committedOffset))
        }
        await sleep(COMMIT_SAMPLE_EVERY_MS)
      }
    })()

    const three = await waitForStableGroup(client, 3)
    expect([...three.values()].map((owned) => owned.length)).toEqual([2, 2, 2])

    // SIGKILL: no leave, no commit. Its partitions move once its session expires.
    await members[2]!.killGroup()
    const killedAtMs = Date.now()
    const two = await waitForStableGroup(client, 2)
    process.stdout.write(`partitions of the killed member owned again after ${Date.now() - killedAtMs} ms (session timeout ${SESSION_TIMEOUT_MS} ms)\n`)
    expect([...two.values()].map((owned) => owned.length).sort()).toEqual([3, 3])
    for (const [memberId, owned] of two) {
      // The survivors kept what they had (cooperative-sticky) and took the killed member's.
      const before = three.get(memberId)
      expect(before, `survivor ${memberId} was in the first generation`).toBeDefined()
      expect(owned).toEqual(expect.arrayContaining(before as string[]))
    }

    // A joiner: each survivor gives up exactly one partition; nothing moves between them.
    members.push(await member())
    const again = await waitForStableGroup(client, 3)
    let moved = 0
    for (const [memberId, owned] of again) {
      const before = two.get(memberId)
      if (before === undefined) {
        expect(owned).toHaveLength(2)
        continue
      }
      expect(owned).toHaveLength(2)
      expect(before).toEqual(expect.arrayContaining(owned))
      moved += before.length - owned.length
    }
    expect(moved).toBe(2)

    producing = false
    await production
    await producer.close()
    // Every member reads to the end and commits it; then every acknowledged record was printed by someone.
    const ends = await Promise.all(Array.from({ length: PARTITIONS }, (_, partition) => client.admin().describeTopic(TOPIC).then((t) => t.partitions[partition]?.highWatermark ?? 0)))
    await retry(async () => {
      const described = await client.admin().describeGroup(GROUP)
      const behind = described.partitions.filter((p) => (p.committedOffset ?? 0) < (ends[p.partition] ?? 0))
      if (behind.length > 0) throw new Error(`behind: ${JSON.stringify(behind)}`)
    }, GROUP_SETTLE_DEADLINE_MS, 200)
    sampling = false
    await sampler

    const printed = new Set(members.flatMap((m) => m.stdout.split('\n').filter((line) => line !== '').map((line) => line.split(' ')[2] as string)))
    const missing = [...acknowledged].filter((value) => !printed.has(value))
    expect(missing, `acknowledged but never processed (of ${acknowledged.size})`).toEqual([])
    expect(regressions).toEqual([])
    expect(highest.size).toBe(PARTITIONS)
  }, 240_000)

  it('consumersResumeFromTheStoredOffset_throughTheSdkAndSkeinConsumeGroup', async () => {
    const n1 = await procs.start('n1', { secret: CLUSTER.clusterSecret, clusterId: CLUSTER.clusterId, controllers: ['n1'] })
    const client = new Client({ seeds: [n1.address], ...CLUSTER, clientId: 'resume-test' })
    clients.push(client)
    await client.admin().createTopic({ name: 'ledger', partitions: 1, replicationFactor: 1 })
    const producer = client.producer({ acks: 'all' })
    await producer.send({ topic: 'ledger', messages: Array.from({ length: 20 }, (_, i) => ({ value: `entry-${i}` })) })
    await producer.close()

    // SDK, assign() with a group id: the first consumer reads 5 and commits; the next starts after them.
    const readFive = async (): Promise<string[]> => {
      const consumer = client.consumer({ groupId: 'auditors', fromBeginning: true, autoCommit: false })
      consumer.assign([{ topic: 'ledger', partition: 0 }])
      const values: string[] = []
      for await (const message of consumer) {
        values.push(message.value?.toString() ?? '')
        if (values.length === 5) {
          await consumer.commit([{ topic: 'ledger', partition: 0, offset: message.offset + 1 }])
          break
        }
      }
      await consumer.close()
      return values
    }
    expect(await readFive()).toEqual(['entry-0', 'entry-1', 'entry-2', 'entry-3', 'entry-4'])
    expect(await readFive()).toEqual(['entry-5', 'entry-6', 'entry-7', 'entry-8', 'entry-9'])

    // The CLI in a group: each run prints the next records, and the group shows where it is.
    const cli = ['consume', 'ledger', '--group', 'printers', '--from-beginning', '--max-messages', '4', '--seeds', n1.address, '--cluster-id', CLUSTER.clusterId, '--cluster-secret', CLUSTER.clusterSecret]
    const first = await procs.runCli(cli, 60_000)
    expect(first.status, first.stderr).toBe(0)
    expect(first.stdout).toBe('entry-0\nentry-1\nentry-2\nentry-3\n')
    const second = await procs.runCli(cli, 60_000)
    expect(second.status, second.stderr).toBe(0)
    expect(second.stdout).toBe('entry-4\nentry-5\nentry-6\nentry-7\n')
    const flags = ['--seeds', n1.address, '--cluster-id', CLUSTER.clusterId, '--cluster-secret', CLUSTER.clusterSecret]
    const described = await procs.runCli(['group', 'describe', 'printers', ...flags], 30_000)
    expect(described.status, described.stderr).toBe(0)
    expect(described.stdout).toMatch(/ledger\s+0\s+9\s+21\s+12\s+-/)
    const listed = await procs.runCli(['group', 'list', ...flags], 30_000)
    expect(listed.stdout).toMatch(/auditors\s+empty\s+0/)
    expect(listed.stdout).toMatch(/printers\s+empty\s+0/)
    const reset = await procs.runCli(['group', 'reset-offsets', 'printers', '--topic', 'ledger', '--to-earliest', ...flags], 30_000)
    expect(reset.status, reset.stderr).toBe(0)
    const third = await procs.runCli(cli, 60_000)
    expect(third.stdout).toBe('entry-0\nentry-1\nentry-2\nentry-3\n')
    const unknown = await procs.runCli(['group', 'describe', 'nobody', ...flags], 30_000)
    expect(unknown.status).toBe(1)
    expect(unknown.stderr).toContain('error[GROUP_ID_NOT_FOUND]')
  }, 180_000)
})
