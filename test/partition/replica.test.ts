import { describe, expect, it } from 'vitest'
import { type Acks, PartitionReplica } from '../../actors/partition/replica.js'
import { Prng } from '../../sim/prng.js'
import { Scheduler } from '../../sim/scheduler.js'
import { settle } from '../../sim/settle.js'
import { SimClock } from '../../sim/sim-clock.js'
import { DISK_CONFIG_DEFAULT, type DiskConfig, DiskCrashMode, SimDisk } from '../../sim/sim-disk.js'
import { type Logger, silentLogger } from '../../src/env/logger.js'
import type { LogConfig } from '../../src/log/config.js'
import { decodeRecordBatches, encodeRecordBatch } from '../../src/log/record-batch.js'
import type { RaftMessage } from '../../src/raft/index.js'

const VOTERS = ['r1', 'r2', 'r3']
/** One-way message latency between replicas, in virtual ms. */
const LINK_LATENCY_MS = 2

/**
 * Three replicas of one partition on one virtual timeline: each with its own disk and clock,
 * messages delivered after LINK_LATENCY_MS unless the receiver is down.
 */
class Group {
  readonly scheduler = new Scheduler()
  readonly disks = new Map<string, SimDisk>()
  readonly replicas = new Map<string, PartitionReplica>()
  private readonly clocks = new Map<string, SimClock>()
  private readonly prng: Prng
  /** Each replica's logger (tests that read the logs). */
  loggerFor: (id: string) => Logger = () => silentLogger
  /** Log settings of every replica started from now on. */
  logConfig: Partial<LogConfig> = {}
  /** Sees every Raft message as it is sent, with its records (tests that count traffic). */
  onSend: ((message: RaftMessage, records: Uint8Array | undefined) => void) | undefined

  constructor(
    seed: number,
    private readonly diskConfig: DiskConfig = DISK_CONFIG_DEFAULT,
  ) {
    this.prng = Prng.fromSeed(seed)
    for (const id of VOTERS) this.disks.set(id, new SimDisk(this.scheduler, this.prng.fork(`disk-${id}`), id, diskConfig))
  }

  async start(id: string): Promise<void> {
    if (!this.disks.has(id)) this.disks.set(id, new SimDisk(this.scheduler, this.prng.fork(`disk-${id}`), id, this.diskConfig))
    const clock = new SimClock(this.scheduler, { nodeId: id, monotonicStartMs: this.scheduler.nowMs() })
    this.clocks.set(id, clock)
    const random = this.prng.fork(`raft-${id}-${this.scheduler.nowMs()}`)
    const replica = await this.run(() =>
      PartitionReplica.open(
        { disk: this.disks.get(id) as SimDisk, clock, log: this.loggerFor(id), random: () => random.float() },
        { id, voters: VOTERS, dir: 'topic-0', log: this.logConfig, send: (message, records) => this.deliver(message, records) },
      ),
    )
    this.replicas.set(id, replica)
  }

  /** Power loss: the process and its timers die, the disk keeps only what was synced. */
  crash(id: string): void {
    this.clocks.get(id)?.kill()
    this.replicas.delete(id)
    this.disks.get(id)?.crash({ mode: DiskCrashMode.dropUnsynced })
  }

  leader(): PartitionReplica | undefined {
    const leaders = [...this.replicas.values()].filter((replica) => replica.acceptsWrites)
    return leaders.sort((a, b) => b.epoch - a.epoch)[0]
  }

  async waitForLeader(timeoutMs = 10_000): Promise<PartitionReplica> {
    await this.scheduler.runUntil(() => this.leader() !== undefined, { timeoutMs })
    const leader = this.leader()
    if (leader === undefined) throw new Error('no leader elected')
    return leader
  }

  async produce(values: string[], acks: Acks): Promise<{ baseOffset: number; lastOffset: number }> {
    const leader = await this.waitForLeader()
    const batch = encodeRecordBatch({ records: values.map((value) => ({ key: null, value: new TextEncoder().encode(value), timestamp: 1 })) })
    return this.run(() => leader.produce(batch, acks))
  }

  /** Every data record's value in `replica`'s committed log, control batches skipped. */
  async committedValues(replica: PartitionReplica): Promise<string[]> {
    const values: string[] = []
    let offset = 0
    while (offset < replica.highWatermark) {
      const read = await this.run(() => replica.read(offset, 1 << 20))
      if (read.batchCount === 0) break
      for (const batch of decodeRecordBatches(read.bytes)) {
        if (!batch.isControl) for (const record of batch.records) values.push(new TextDecoder().decode(record.value as Uint8Array))
      }
      offset = read.nextOffset
    }
    return values
  }

  /** Runs virtual time until `body`'s promise settles (sim/settle.ts). */
  run<T>(body: () => Promise<T>, timeoutMs = 30_000): Promise<T> {
    return settle(this.scheduler, body(), timeoutMs)
  }

  async settle(ms: number): Promise<void> {
    await this.scheduler.runFor(ms)
  }

  private deliver(message: RaftMessage, records: Uint8Array | undefined): void {
    this.onSend?.(message, records)
    const copy = records?.slice()
    this.scheduler.scheduleAfter(LINK_LATENCY_MS, `raft ${message.type} ${message.from}->${message.to}`, () => this.replicas.get(message.to)?.receive(message, copy))
  }
}

describe('PartitionReplica (3 replicas, simulated disks)', () => {
  it('elects_a_leader_and_acksAll_produces_are_committed_on_every_replica', async () => {
    const group = new Group(1)
    for (const id of VOTERS) await group.start(id)
    const leader = await group.waitForLeader()
    expect(leader.epoch).toBeGreaterThan(0)
    const acknowledged: string[] = []
    for (let i = 0; i < 20; i++) {
      const values = [`a${i}`, `b${i}`]
      await group.produce(values, 'all')
      acknowledged.push(...values)
    }
    await group.settle(2000)
    for (const replica of group.replicas.values()) {
      expect(await group.committedValues(replica)).toEqual(acknowledged)
    }
  })

  it('survives_the_leaders_crash_without_losing_an_acknowledged_record_and_the_old_leader_catches_up', async () => {
    const group = new Group(2)
    for (const id of VOTERS) await group.start(id)
    const acknowledged: string[] = []
    for (let i = 0; i < 10; i++) {
      await group.produce([`before${i}`], 'all')
      acknowledged.push(`before${i}`)
    }
    const first = await group.waitForLeader()
    const firstId = [...group.replicas.entries()].find(([, replica]) => replica === first)?.[0] as string
    group.crash(firstId)
    const crashedAtMs = group.scheduler.nowMs()
    const second = await group.waitForLeader(10_000)
    expect(second.epoch).toBeGreaterThan(first.epoch)
    // Default timeouts: a new leader within the 3 s the issue asks for (virtual time here).
    expect(group.scheduler.nowMs() - crashedAtMs).toBeLessThan(3_000)
    for (let i = 0; i < 10; i++) {
      await group.produce([`after${i}`], 'all')
      acknowledged.push(`after${i}`)
    }
    await group.start(firstId)
    await group.settle(3000)
    for (const replica of group.replicas.values()) {
      expect(await group.committedValues(replica)).toEqual(acknowledged)
    }
  })

  it('refuses_produce_on_a_follower_with_NOT_LEADER_OR_FOLLOWER', async () => {
    const group = new Group(3)
    for (const id of VOTERS) await group.start(id)
    await group.waitForLeader()
    const follower = [...group.replicas.values()].find((replica) => replica.role !== 'leader') as PartitionReplica
    const batch = encodeRecordBatch({ records: [{ key: null, value: null, timestamp: 1 }] })
    await expect(group.run(() => follower.produce(batch, 'all'))).rejects.toMatchObject({ errorName: 'NOT_LEADER_OR_FOLLOWER', retriable: true })
  })

  it('adds_a_learner_promotes_it_and_removes_the_leader_one_voter_at_a_time_without_losing_records', async () => {
    const group = new Group(4)
    for (const id of VOTERS) await group.start(id)
    const acknowledged: string[] = []
    for (let i = 0; i < 5; i++) {
      await group.produce([`m${i}`], 'all')
      acknowledged.push(`m${i}`)
    }
    await group.start('r4')
    const leader = await group.waitForLeader()
    // Two voters at once is refused: single-server changes only.
    expect(() => leader.changeMembership({ voters: ['r1', 'r2', 'r3', 'r4', 'r5'], learners: [] })).toThrow(/one voter at a time/)
    leader.changeMembership({ voters: VOTERS, learners: ['r4'] })
    await group.scheduler.runUntil(() => leader.replicaEnds().get('r4') === leader.logEndOffset && leader.membership.learners.includes('r4'), { timeoutMs: 10_000 })
    leader.changeMembership({ voters: [...VOTERS, 'r4'], learners: [] })
    await group.settle(1000)
    const leaderId = [...group.replicas.entries()].find(([, replica]) => replica === leader)?.[0] as string
    const survivors = [...VOTERS, 'r4'].filter((id) => id !== leaderId)
    leader.changeMembership({ voters: survivors, learners: [] })
    // The removed leader steps down once the change commits; the others elect one of themselves.
    await group.scheduler.runUntil(() => leader.role !== 'leader', { timeoutMs: 10_000 })
    group.crash(leaderId)
    for (let i = 0; i < 5; i++) {
      await group.produce([`n${i}`], 'all')
      acknowledged.push(`n${i}`)
    }
    await group.settle(2000)
    for (const id of survivors) {
      const replica = group.replicas.get(id) as PartitionReplica
      expect(replica.membership.voters, id).toEqual(survivors)
      expect(await group.committedValues(replica), id).toEqual(acknowledged)
    }
  })

  it('transfers_leadership_to_a_caught_up_voter_in_a_new_epoch', async () => {
    const group = new Group(5)
    for (const id of VOTERS) await group.start(id)
    await group.produce(['x'], 'all')
    const leader = await group.waitForLeader()
    const target = [...group.replicas.entries()].find(([, replica]) => replica !== leader)?.[0] as string
    const epochBefore = leader.epoch
    leader.transferLeadership(target)
    // While handing over, the old leader takes no writes.
    await expect(leader.produce(encodeRecordBatch({ records: [{ key: null, value: null, timestamp: 1 }] }), 'all')).rejects.toMatchObject({ errorName: 'NOT_LEADER_OR_FOLLOWER' })
    await group.scheduler.runUntil(() => group.replicas.get(target)?.role === 'leader', { timeoutMs: 5_000 })
    expect(group.replicas.get(target)?.epoch).toBe(epochBefore + 1)
    expect(leader.role).not.toBe('leader')
    await group.produce(['y'], 'all')
    await group.settle(1000)
    for (const replica of group.replicas.values()) expect(await group.committedValues(replica)).toEqual(['x', 'y'])
  })
})

describe('PartitionReplica replication traffic', () => {
  it('produceStream_leaderNeverAnswersABehindFollowerWithAnEmptyFetchResponse', async () => {
    // The leader's core learns of an append when its offsets are assigned; the bytes reach the
    // file a little later. A fetch answered in between read nothing: the follower got an empty
    // response, fetched again at once, got another, and so on until the write landed.
    // Writes of 1-3 ms (a busy disk): each a window in which appended offsets are not readable.
    const group = new Group(6, { ...DISK_CONFIG_DEFAULT, opLatencyMsMin: 1, opLatencyMsMax: 3 })
    for (const id of VOTERS) await group.start(id)
    const leader = await group.waitForLeader()
    await group.produce(['warm-up'], 'all')
    let emptyWhileBehind = 0
    let fetches = 0
    group.onSend = (message, records) => {
      if (message.type === 'fetch') fetches++
      if (message.type !== 'fetchResponse' || message.outcome !== 'records') return
      if ((records?.length ?? 0) === 0 && message.fetchOffset < leader.logEndOffset) emptyWhileBehind++
    }
    const produceCount = 300
    const produced: Promise<unknown>[] = []
    for (let i = 0; i < produceCount; i++) {
      // One small batch every half millisecond: the log is nearly always writing.
      group.scheduler.scheduleAfter(i * 0.5, 'produce', () => {
        const batch = encodeRecordBatch({ records: [{ key: null, value: new TextEncoder().encode(`v${i}`), timestamp: 1 }] })
        produced.push(leader.produce(batch, 1))
      })
    }
    await group.settle(produceCount * 0.5 + 500)
    await group.run(() => Promise.all(produced))
    console.log(`${produceCount} produces: ${fetches} follower fetches, ${emptyWhileBehind} empty answers to a follower behind the leader`)
    expect(emptyWhileBehind).toBe(0)
    // Each fetch brings what the leader wrote meanwhile: far fewer fetches than batches.
    expect(fetches).toBeLessThan(produceCount)
    await group.settle(1000)
    for (const replica of group.replicas.values()) expect(replica.logEndOffset).toBe(leader.logEndOffset)
  })
})

describe('PartitionReplica membership views', () => {
  it('replicaThatMissedAMembershipChange_followsTheNewLeaderItDoesNotKnow_andCatchesUp', async () => {
    // r3 is down while r4 joins (learner, then voter) and takes over the leadership. Back, r3's
    // view is still {r1, r2, r3}: the leader r4 is a stranger to it. It dropped every message
    // from a non-member, r4's beginEpoch and fetch answers too, and never caught up (broker sim
    // seeds 400494 and 700256 with --fault-ms 40000).
    const group = new Group(7)
    for (const id of VOTERS) await group.start(id)
    for (let i = 0; i < 5; i++) await group.produce([`before${i}`], 'all')
    group.crash('r3')
    await group.produce(['while-r3-is-down'], 'all') // a new leader's epoch must commit before a membership change
    await group.start('r4')
    const first = await group.waitForLeader()
    first.changeMembership({ voters: VOTERS, learners: ['r4'] })
    await group.scheduler.runUntil(() => first.replicaEnds().get('r4') === first.logEndOffset && first.membership.learners.includes('r4'), { timeoutMs: 10_000 })
    first.changeMembership({ voters: [...VOTERS, 'r4'], learners: [] })
    await group.scheduler.runUntil(() => first.highWatermark === first.logEndOffset, { timeoutMs: 10_000 })
    first.transferLeadership('r4')
    const r4 = group.replicas.get('r4') as PartitionReplica
    await group.scheduler.runUntil(() => r4.role === 'leader', { timeoutMs: 10_000 })
    expect(r4.role).toBe('leader')
    for (let i = 0; i < 5; i++) await group.produce([`after${i}`], 'all')
    await group.start('r3')
    const r3 = group.replicas.get('r3') as PartitionReplica
    expect(r3.membership.voters).toEqual(VOTERS) // its stale view
    await group.scheduler.runUntil(() => r3.logEndOffset === r4.logEndOffset && r3.highWatermark === r4.highWatermark, { timeoutMs: 10_000 })
    expect(r3.leader).toBe('r4')
    expect(r3.membership.voters).toEqual([...VOTERS, 'r4'])
    expect(await group.committedValues(r3)).toEqual([...[0, 1, 2, 3, 4].map((i) => `before${i}`), 'while-r3-is-down', ...[0, 1, 2, 3, 4].map((i) => `after${i}`)])
  })
})

describe('PartitionReplica logs', () => {
  it('roleChanges_areLoggedAtInfoOncePerChange_notPerTick', async () => {
    const lines: Array<{ id: string; fields: Record<string, unknown>; message: string }> = []
    const group = new Group(8)
    group.loggerFor = (id) => ({
      ...silentLogger,
      info: (fields: object, message: string) => {
        if (message.startsWith('raft:')) lines.push({ id, fields: fields as Record<string, unknown>, message })
      },
    })
    for (const id of VOTERS) await group.start(id)
    const first = await group.waitForLeader()
    await group.settle(10_000) // 100 ticks of a stable group: no new lines
    const firstId = VOTERS.find((id) => group.replicas.get(id) === first) as string
    const leaderLines = lines.filter((line) => line.fields.role === 'leader')
    expect(leaderLines.map((line) => line.id)).toEqual([firstId])
    expect(leaderLines[0]?.message).toBe(`raft: leader in epoch ${first.epoch}, leader ${firstId}`)
    for (const id of VOTERS.filter((v) => v !== firstId)) {
      expect(lines.filter((line) => line.id === id).at(-1)?.fields).toEqual({ replica: id, role: 'follower', epoch: first.epoch, leader: firstId })
    }
    // Each line says something new for its replica: no line repeats the one before it.
    for (const id of VOTERS) {
      const own = lines.filter((line) => line.id === id).map((line) => line.message)
      expect(own.length, id).toBeLessThan(8)
      own.forEach((message, i) => expect(message, id).not.toBe(own[i - 1]))
    }
  })
})

describe('PartitionReplica after a disk error', () => {
  const SEGMENT = 'topic-0/log/00000000000000000000.log'

  /** A group with records 'a'..'e' committed everywhere; returns it and a follower. */
  async function committedGroup(seed: number): Promise<{ group: Group; followerId: string }> {
    const group = new Group(seed)
    // These tests damage bytes at rest and expect the next read to meet the damage: no copy of
    // the newest writes in memory (it would serve them, as the page cache would).
    group.logConfig = { tailCacheBytesMax: 0 }
    for (const id of VOTERS) await group.start(id)
    for (const value of ['a', 'b', 'c', 'd', 'e']) await group.produce([value], 'all')
    await group.settle(500)
    const leader = await group.waitForLeader()
    const followerId = VOTERS.find((id) => group.replicas.get(id) !== leader) as string
    return { group, followerId }
  }

  it('corruptBatchOnAFollower_stopsIt_cutsTheBatch_andItCatchesUpBeforeItVotesAgain', async () => {
    const { group, followerId } = await committedGroup(11)
    const follower = group.replicas.get(followerId) as PartitionReplica
    const disk = group.disks.get(followerId) as SimDisk
    // A bit deep in the third record's batch: the next read through it fails its CRC.
    const firstBatchBytes = encodeRecordBatch({ records: [{ key: null, value: new TextEncoder().encode('x'), timestamp: 1 }] }).length
    disk.corruptByte(SEGMENT, 2 * firstBatchBytes + firstBatchBytes - 2, 0x04)
    await expect(group.run(() => follower.read(0, 1 << 20))).rejects.toMatchObject({ code: 56 })
    expect(follower.isStopped).toBe(true)
    expect(follower.role).toBe('stopped')
    expect(follower.leader).toBeUndefined()
    // It reopens by itself, cut at the damage, and fetches the rest from its leader.
    await group.scheduler.runUntil(() => !follower.isStopped, { timeoutMs: 10_000 })
    expect(follower.repairs).toBe(1)
    expect(follower.catchUpEnd).toBeGreaterThan(follower.logEndOffset) // no votes until it has caught up
    await group.produce(['f'], 'all')
    await group.scheduler.runUntil(() => follower.catchUpEnd === undefined && follower.highWatermark >= (group.leader()?.highWatermark ?? 0), { timeoutMs: 10_000 })
    expect(await group.committedValues(follower)).toEqual(['a', 'b', 'c', 'd', 'e', 'f'])
  }, 60_000)

  it('restartOnARottenLog_theDamageIsFoundAndCut_andTheReplicaVotesOnlyOnceItHasCaughtUp', async () => {
    const { group, followerId } = await committedGroup(13)
    const disk = group.disks.get(followerId) as SimDisk
    group.crash(followerId)
    const firstBatchBytes = encodeRecordBatch({ records: [{ key: null, value: new TextEncoder().encode('x'), timestamp: 1 }] }).length
    disk.corruptByte(SEGMENT, 2 * firstBatchBytes + firstBatchBytes - 2, 0x04) // valid batches follow: rot, not a torn write
    await group.start(followerId)
    const restarted = group.replicas.get(followerId) as PartitionReplica
    // Found when opening (past the last index entry) or by the first read through it.
    let withheld = restarted.catchUpEnd !== undefined
    if (!withheld) {
      await group.scheduler.runUntil(() => restarted.highWatermark >= 4, { timeoutMs: 10_000 }) // reads stop at the high watermark
      await group.run(() => restarted.read(0, 1 << 20)).catch(() => undefined)
      await group.scheduler.runUntil(() => restarted.repairs > 0, { timeoutMs: 10_000 })
      withheld = restarted.catchUpEnd !== undefined
    }
    expect(withheld).toBe(true)
    await group.scheduler.runUntil(() => restarted.catchUpEnd === undefined, { timeoutMs: 10_000 })
    await group.produce(['f'], 'all')
    await group.scheduler.runUntil(() => restarted.highWatermark >= (group.leader()?.highWatermark ?? Infinity), { timeoutMs: 10_000 })
    expect(await group.committedValues(restarted)).toEqual(['a', 'b', 'c', 'd', 'e', 'f'])
  }, 60_000)

  it('fullDiskOnAFollower_stopsIt_andItReopensAndCatchesUpOnceThereIsSpace', async () => {
    const { group, followerId } = await committedGroup(12)
    const follower = group.replicas.get(followerId) as PartitionReplica
    const disk = group.disks.get(followerId) as SimDisk
    disk.failWritesWith('ENOSPC')
    await group.produce(['f'], 'all') // the other two commit it
    await group.scheduler.runUntil(() => follower.isStopped, { timeoutMs: 10_000 })
    await group.settle(3_000) // reopening fails while the disk is full: it stays stopped, retrying
    expect(follower.isStopped || follower.role !== 'leader').toBe(true)
    disk.failWritesWith(undefined)
    await group.scheduler.runUntil(() => !follower.isStopped && follower.highWatermark >= (group.leader()?.highWatermark ?? Infinity), { timeoutMs: 30_000 })
    expect(follower.repairs).toBe(0)
    expect(await group.committedValues(follower)).toEqual(['a', 'b', 'c', 'd', 'e', 'f'])
  }, 60_000)
})

describe('PartitionReplica.confirmLeadership', () => {
  it('leaderInTouchWithAMajority_isConfirmed_leaderCutOff_isRefused', async () => {
    const group = new Group(21)
    for (const id of VOTERS) await group.start(id)
    const leader = await group.waitForLeader()
    await group.produce(['a'], 'all')
    await group.run(() => leader.confirmLeadership())
    // Cut the leader off: its followers no longer get its messages (nor it theirs).
    const followers = VOTERS.filter((id) => group.replicas.get(id) !== leader)
    const saved = followers.map((id) => [id, group.replicas.get(id) as PartitionReplica] as const)
    for (const id of followers) group.replicas.delete(id)
    const started = group.scheduler.nowMs()
    await expect(group.run(() => leader.confirmLeadership())).rejects.toMatchObject({ code: 6 })
    expect(group.scheduler.nowMs() - started).toBeLessThanOrEqual(3_100)
    for (const [id, replica] of saved) group.replicas.set(id, replica)
  }, 60_000)
})
