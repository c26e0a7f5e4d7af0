/**
 * Consumer group rebalance benchmark: `npm run bench:rebalance` (options: `-- --rounds 5
 * --members 10 --partitions 60`).
 *
 * Three `skein start` processes on loopback ephemeral ports; a topic of 60 partitions,
 * replication factor 3; a group of 10 SDK consumers (each its own Client, as separate
 * applications would be), default settings (cooperative-sticky, 3 s heartbeats held by the
 * coordinator, 30 s sessions). Each round one member leaves gracefully (`close()`: it commits
 * and sends LeaveGroup) and the clock runs until the others' rebalance listeners show every
 * partition owned again, by exactly one member; then a new member joins to make ten again and
 * the round waits until that rebalance is over too (timed as well, for reference).
 *
 *   graceful leave of 1 of 10 members -> all 60 partitions owned again, median   target <= 1000 ms
 */
import { Client, type Consumer } from '../src/client/index.js'
import { argNumber, type BenchRow, createTopicWhenReady, percentile, report, runBench, spawnCluster } from './harness.js'

const CLUSTER = { clusterId: 'bench-rebalance', clusterSecret: 'bench-rebalance-secret-0123456789' }
const topic = 'rebalance'
const group = 'bench-rebalance'
const targetMs = 1_000
const rounds = Math.round(argNumber('rounds', 5))
const memberCount = Math.round(argNumber('members', 10))
const partitions = Math.round(argNumber('partitions', 60))
/** Far above any rebalance: a round that takes this long has failed. */
const settleTimeoutMs = 60_000
const ids = ['n1', 'n2', 'n3']


/** One group member: its client, consumer, and the partitions its listeners say it owns. */
interface Member {
  readonly name: string
  readonly client: Client
  readonly consumer: Consumer
  readonly owned: Set<string>
  readonly running: Promise<void>
}

/** Ownership as the members' rebalance listeners report it; a change wakes the waiter. */
class Ownership {
  readonly members = new Set<Member>()
  private waiter: (() => void) | undefined

  changed(): void {
    this.waiter?.()
  }

  /** True when every partition is owned by exactly one live member. */
  complete(): boolean {
    const seen = new Set<string>()
    for (const member of this.members) {
      for (const key of member.owned) {
        if (seen.has(key)) return false
        seen.add(key)
      }
    }
    return seen.size === partitions
  }

  async waitComplete(what: string): Promise<void> {
    const deadline = performance.now() + settleTimeoutMs
    while (!this.complete()) {
      const leftMs = deadline - performance.now()
      if (leftMs <= 0) throw new Error(`${what}: partitions not all owned after ${settleTimeoutMs} ms`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(leftMs, 100))
        this.waiter = () => {
          clearTimeout(timer)
          resolve()
        }
      })
      this.waiter = undefined
    }
  }
}

function newMember(seed: string, name: string, ownership: Ownership): Member {
  const client = new Client({ seeds: [seed], ...CLUSTER, clientId: name })
  const consumer = client.consumer({ groupId: group, fromBeginning: true })
  const owned = new Set<string>()
  const drop = (tps: { topic: string; partition: number }[]): void => {
    for (const tp of tps) owned.delete(`${tp.topic}/${tp.partition}`)
    ownership.changed()
  }
  consumer.subscribe([topic], {
    onAssigned: (tps) => {
      for (const tp of tps) owned.add(`${tp.topic}/${tp.partition}`)
      ownership.changed()
    },
    onRevoked: drop,
    onLost: drop,
  })
  const running = consumer.run({ eachMessage: () => undefined })
  const member: Member = { name, client, consumer, owned, running }
  ownership.members.add(member)
  return member
}

async function main(): Promise<void> {
  const cluster = await spawnCluster('rebalance', ids, CLUSTER)
  const seed = cluster.seed
  const members: Member[] = []
  try {
    const admin = new Client({ seeds: [seed], ...CLUSTER, clientId: 'bench-admin' })
    await createTopicWhenReady(admin, topic, partitions, 3)
    await admin.close()

    const ownership = new Ownership()
    for (let i = 0; i < memberCount; i++) members.push(newMember(seed, `member-${i}`, ownership))
    const formedAtMs = performance.now()
    await ownership.waitComplete('forming the group')
    process.stdout.write(`group of ${memberCount} formed over ${partitions} partitions in ${Math.round(performance.now() - formedAtMs)} ms (includes the 3 s initial rebalance delay)\n`)

    const leaveMs: number[] = []
    const joinMs: number[] = []
    for (let round = 0; round < rounds; round++) {
      const leaver = members.shift() as Member
      const startedMs = performance.now()
      const closing = leaver.consumer.close()
      ownership.members.delete(leaver)
      ownership.changed()
      await ownership.waitComplete(`round ${round}: after ${leaver.name} left`)
      leaveMs.push(performance.now() - startedMs)
      await closing
      await leaver.running.catch(() => undefined)
      await leaver.client.close()

      const joinedAtMs = performance.now()
      const joiner = newMember(seed, `member-${memberCount + round}`, ownership)
      members.push(joiner)
      // Complete again only once the joiner owns its share (cooperative: two rebalances).
      const share = Math.floor(partitions / memberCount)
      while (joiner.owned.size < share) {
        await ownership.waitComplete(`round ${round}: after ${joiner.name} joined`)
        if (joiner.owned.size < share) await new Promise((resolve) => setTimeout(resolve, 20))
      }
      await ownership.waitComplete(`round ${round}: after ${joiner.name} joined`)
      joinMs.push(performance.now() - joinedAtMs)
      process.stdout.write(`round ${round}: leave -> all owned ${leaveMs[round]!.toFixed(0)} ms; join -> joiner owns ${joiner.owned.size} ${joinMs[round]!.toFixed(0)} ms\n`)
    }

    const sortedLeave = Float64Array.from(leaveMs).sort()
    const sortedJoin = Float64Array.from(joinMs).sort()
    const rows: BenchRow[] = [
      { name: `graceful leave of 1 of ${memberCount} -> all ${partitions} partitions owned, median`, value: percentile(sortedLeave, 50), unit: 'ms', target: `<= ${targetMs} ms`, met: percentile(sortedLeave, 50) <= targetMs },
      { name: 'graceful leave -> all owned, worst round', value: percentile(sortedLeave, 100), unit: 'ms', target: 'reference', met: true },
      { name: `a member joins -> it owns its ${Math.floor(partitions / memberCount)} (two cooperative rebalances), median`, value: percentile(sortedJoin, 50), unit: 'ms', target: 'reference', met: true },
    ]
    report('rebalance', rows, { rounds, members: memberCount, partitions, leaveMs, joinMs })
  } finally {
    await Promise.all(members.map(async (member) => {
      await member.consumer.close().catch(() => undefined)
      await member.client.close().catch(() => undefined)
    }))
    await cluster.stop()
  }
}

runBench('rebalance', main)
