import { describe, expect, it } from 'vitest'
import { type Acks, PartitionReplica, type ProduceResult } from '../../actors/partition/replica.js'
import { Prng } from '../../sim/prng.js'
import { Scheduler } from '../../sim/scheduler.js'
import { SimClock } from '../../sim/sim-clock.js'
import { DISK_CONFIG_DEFAULT, DiskCrashMode, SimDisk } from '../../sim/sim-disk.js'
import { silentLogger } from '../../src/env/logger.js'
import { encodeTxnMarkerBatch } from '../../src/log/control-record.js'
import { readCommitted } from '../../src/log/read-committed.js'
import { decodeRecordBatches, encodeRecordBatch } from '../../src/log/record-batch.js'
import type { RaftMessage } from '../../src/raft/index.js'

const VOTERS = ['r1', 'r2', 'r3']
const LINK_LATENCY_MS = 2
const PID = 1_234

/** Three replicas of one partition on one virtual timeline (as in replica.test.ts). */
class Group {
  readonly scheduler = new Scheduler()
  readonly disks = new Map<string, SimDisk>()
  readonly replicas = new Map<string, PartitionReplica>()
  private readonly clocks = new Map<string, SimClock>()
  private readonly prng: Prng
  /** Replicas cut off from the others: their messages, both ways, are dropped. */
  readonly isolated = new Set<string>()

  constructor(seed: number) {
    this.prng = Prng.fromSeed(seed)
    for (const id of VOTERS) this.disks.set(id, new SimDisk(this.scheduler, this.prng.fork(`disk-${id}`), id, DISK_CONFIG_DEFAULT))
  }

  async start(id: string): Promise<void> {
    const clock = new SimClock(this.scheduler, { nodeId: id, monotonicStartMs: this.scheduler.nowMs() })
    this.clocks.set(id, clock)
    const random = this.prng.fork(`raft-${id}-${this.scheduler.nowMs()}`)
    const replica = await this.run(() =>
      PartitionReplica.open(
        { disk: this.disks.get(id) as SimDisk, clock, log: silentLogger, random: () => random.float() },
        { id, voters: VOTERS, dir: 'topic-0', send: (message, records) => this.deliver(message, records) },
      ),
    )
    this.replicas.set(id, replica)
  }

  crash(id: string): void {
    this.clocks.get(id)?.kill()
    this.replicas.delete(id)
    this.disks.get(id)?.crash({ mode: DiskCrashMode.dropUnsynced })
  }

  idOf(replica: PartitionReplica): string {
    return [...this.replicas.entries()].find(([, r]) => r === replica)?.[0] as string
  }

  async waitForLeader(timeoutMs = 10_000): Promise<PartitionReplica> {
    const leader = (): PartitionReplica | undefined => [...this.replicas.values()].filter((r) => r.role === 'leader' && r.acceptsWrites).sort((a, b) => b.epoch - a.epoch)[0]
    await this.scheduler.runUntil(() => leader() !== undefined, { timeoutMs })
    const found = leader()
    if (found === undefined) throw new Error('no leader elected')
    return found
  }

  /** Produces a copy of `batch` (the leader stamps its buffer) on the current leader. */
  async produce(batch: Uint8Array, acks: Acks = 'all'): Promise<ProduceResult> {
    const leader = await this.waitForLeader()
    return this.run(() => leader.produce(batch.slice(), acks))
  }

  /** Every data batch in the replica's log (committed or not): [producerId, baseSequence, baseOffset, values]. */
  async batches(replica: PartitionReplica): Promise<Array<{ sequence: number; baseOffset: number; values: string[] }>> {
    const found: Array<{ sequence: number; baseOffset: number; values: string[] }> = []
    let offset = replica.logStartOffset
    while (offset < replica.highWatermark) {
      const read = await this.run(() => replica.read(offset, 1 << 20))
      if (read.batchCount === 0) break
      for (const batch of decodeRecordBatches(read.bytes)) {
        if (!batch.isControl) found.push({ sequence: batch.baseSequence, baseOffset: batch.baseOffset, values: batch.records.map((r) => new TextDecoder().decode(r.value as Uint8Array)) })
      }
      offset = read.nextOffset
    }
    return found
  }

  async run<T>(body: () => Promise<T>, timeoutMs = 30_000): Promise<T> {
    let outcome: { value: T } | { error: unknown } | undefined
    body().then(
      (value) => (outcome = { value }),
      (error: unknown) => (outcome = { error }),
    )
    await this.scheduler.runUntil(() => outcome !== undefined, { timeoutMs })
    if (outcome === undefined) throw new Error(`did not settle within ${timeoutMs} ms of virtual time`)
    if ('error' in outcome) throw outcome.error
    return outcome.value
  }

  async settle(ms: number): Promise<void> {
    await this.scheduler.runFor(ms)
  }

  private deliver(message: RaftMessage, records: Uint8Array | undefined): void {
    if (this.isolated.has(message.from) || this.isolated.has(message.to)) return
    const copy = records?.slice()
    this.scheduler.scheduleAfter(LINK_LATENCY_MS, `raft ${message.type} ${message.from}->${message.to}`, () => this.replicas.get(message.to)?.receive(message, copy))
  }
}

function txnBatch(sequence: number, values: string[], producerId = PID, epoch = 0): Uint8Array {
  return encodeRecordBatch({
    producerId,
    producerEpoch: epoch,
    baseSequence: sequence,
    isTransactional: true,
    records: values.map((value) => ({ key: null, value: new TextEncoder().encode(value), timestamp: 1 })),
  })
}

function plainBatch(values: string[]): Uint8Array {
  return encodeRecordBatch({ records: values.map((value) => ({ key: null, value: new TextEncoder().encode(value), timestamp: 1 })) })
}

const OTHER = 5_678

async function startedGroup(seed: number): Promise<Group> {
  const group = new Group(seed)
  for (const id of VOTERS) await group.start(id)
  await group.waitForLeader()
  return group
}

async function marker(group: Group, producerId: number, commit: boolean, coordinatorEpoch = 0, producerEpoch = 0): Promise<{ offset: number }> {
  const leader = await group.waitForLeader()
  return group.run(() => leader.writeTxnMarker({ producerId, producerEpoch, commit, coordinatorEpoch }))
}

/** What a read_committed reader sees from `from` on the replica: values, in order (one fetch per loop, filtered as the SDK does). */
async function committedValues(group: Group, replica: PartitionReplica, from = 0): Promise<string[]> {
  const values: string[] = []
  let offset = Math.max(from, replica.logStartOffset)
  for (;;) {
    const read = await group.run(() => replica.readCommitted(offset, 1 << 20))
    if (read.batchCount === 0) break
    for (const view of readCommitted(read.bytes, read.abortedTransactions).views) {
      for (const batch of decodeRecordBatches(view)) values.push(...batch.records.map((r) => new TextDecoder().decode(r.value as Uint8Array)))
    }
    offset = read.nextOffset
  }
  return values
}

function txnState(replica: PartitionReplica): unknown {
  return { ongoing: replica.ongoingTransactions(), aborted: replica.abortedTransactions(0, replica.logEndOffset) }
}

describe('PartitionReplica transactions: last stable offset and read_committed', () => {
  it('openTransaction_holdsTheLso_commitMarker_releasesIt', async () => {
    const group = await startedGroup(31)
    await group.produce(plainBatch(['p0']))
    const first = await group.produce(txnBatch(0, ['t0', 't1']))
    await group.produce(plainBatch(['p1']))
    const leader = await group.waitForLeader()
    expect(leader.highWatermark).toBeGreaterThan(first.lastOffset)
    expect(leader.lastStableOffset).toBe(first.baseOffset)
    // read_committed stops at the LSO: only p0 so far, and the fetch answer says where the LSO is.
    const early = await group.run(() => leader.readCommitted(0, 1 << 20))
    expect(early.lastStableOffset).toBe(first.baseOffset)
    expect(early.nextOffset).toBeLessThanOrEqual(first.baseOffset)
    expect(await committedValues(group, leader)).toEqual(['p0'])
    const committed = await marker(group, PID, true)
    expect(committed.offset).toBeGreaterThan(first.lastOffset)
    expect(leader.lastStableOffset).toBe(leader.highWatermark)
    expect(leader.ongoingTransactions()).toEqual([])
    expect(await committedValues(group, leader)).toEqual(['p0', 't0', 't1', 'p1'])
  })

  it('abortMarker_readCommittedReturnsTheAbortedList_andTheReaderDropsTheData', async () => {
    const group = await startedGroup(32)
    const kept = await group.produce(txnBatch(0, ['keep']))
    const dropped = await group.produce(txnBatch(0, ['drop0', 'drop1'], OTHER))
    await group.produce(plainBatch(['plain']))
    await marker(group, PID, true)
    const abortAt = await marker(group, OTHER, false)
    const leader = await group.waitForLeader()
    expect(leader.lastStableOffset).toBe(leader.highWatermark)
    const read = await group.run(() => leader.readCommitted(kept.baseOffset, 1 << 20))
    expect(read.abortedTransactions).toEqual([{ producerId: OTHER, firstOffset: dropped.baseOffset }])
    expect(leader.abortedTransactions(0, leader.logEndOffset)).toEqual([{ producerId: OTHER, firstOffset: dropped.baseOffset, lastOffset: abortAt.offset }])
    expect(await committedValues(group, leader)).toEqual(['keep', 'plain'])
    // read_uncommitted still sees everything below the high watermark.
    expect((await group.batches(leader)).flatMap((b) => b.values)).toEqual(['keep', 'drop0', 'drop1', 'plain'])
  })

  it('followers_indexEqualsTheLeaders_afterReplication', async () => {
    const group = await startedGroup(33)
    await group.produce(txnBatch(0, ['a']))
    await group.produce(txnBatch(0, ['b'], OTHER))
    await marker(group, OTHER, false)
    await group.produce(txnBatch(1, ['c']))
    const leader = await group.waitForLeader()
    await group.scheduler.runUntil(() => [...group.replicas.values()].every((r) => r.logEndOffset === leader.logEndOffset && r.highWatermark === leader.highWatermark), { timeoutMs: 10_000 })
    const expected = txnState(leader)
    expect(expected).toMatchObject({ ongoing: [{ producerId: PID }], aborted: [{ producerId: OTHER }] })
    for (const replica of group.replicas.values()) {
      expect(txnState(replica)).toEqual(expected)
      expect(replica.lastStableOffset).toBe(leader.lastStableOffset)
    }
  })

  it('everyReplicaRestarts_theIndexIsRebuiltFromTheLog', async () => {
    const group = await startedGroup(34)
    await group.produce(txnBatch(0, ['a']))
    await group.produce(txnBatch(0, ['b'], OTHER))
    await marker(group, OTHER, false, 3)
    await group.produce(txnBatch(1, ['c']))
    await group.produce(plainBatch(['after']))
    await group.settle(500)
    const before = await group.waitForLeader()
    const state = txnState(before)
    const lso = before.lastStableOffset
    for (const id of VOTERS) group.crash(id)
    for (const id of VOTERS) await group.start(id)
    const leader = await group.waitForLeader()
    await group.scheduler.runUntil(() => leader.highWatermark === leader.logEndOffset, { timeoutMs: 10_000 })
    expect(txnState(leader)).toEqual(state)
    expect(leader.lastStableOffset).toBe(lso)
    // The coordinator epoch of the last marker is rebuilt too: an older coordinator is fenced.
    expect(leader.producerMarkerState(OTHER)).toEqual({ epoch: 0, coordinatorEpoch: 3 })
    await expect(marker(group, OTHER, true, 2)).rejects.toMatchObject({ errorName: 'TRANSACTION_COORDINATOR_FENCED' })
    await marker(group, PID, true, 3)
    expect(await committedValues(group, leader)).toEqual(['a', 'c', 'after'])
  })

  it('uncommittedMarkerTruncated_reopensTheTransaction', async () => {
    const group = await startedGroup(35)
    const first = await group.produce(txnBatch(0, ['t']))
    const old = await group.waitForLeader()
    const oldId = group.idOf(old)
    group.isolated.add(oldId)
    // The marker reaches only the old leader's log: never committed.
    const lost = old.writeTxnMarker({ producerId: PID, producerEpoch: 0, commit: true, coordinatorEpoch: 0 })
    lost.catch(() => undefined)
    expect(old.ongoingTransactions()).toEqual([])
    const others = [...group.replicas.values()].filter((r) => r !== old)
    await group.scheduler.runUntil(() => others.some((r) => r.role === 'leader' && r.acceptsWrites), { timeoutMs: 10_000 })
    const successor = others.find((r) => r.role === 'leader') as PartitionReplica
    group.isolated.delete(oldId)
    // Its marker and the successor's LeaderChange batch have the same size: wait for the old
    // leader's high watermark to pass the successor's log end, so it holds the successor's log.
    await group.run(() => successor.produce(plainBatch(['after']), 'all'))
    await group.scheduler.runUntil(() => old.role === 'follower' && old.highWatermark === successor.logEndOffset && old.logEndOffset === successor.logEndOffset, { timeoutMs: 10_000 })
    await expect(lost).rejects.toMatchObject({ errorName: 'NOT_LEADER_OR_FOLLOWER' })
    expect(old.ongoingTransactions()).toEqual([{ producerId: PID, firstOffset: first.baseOffset }])
    expect(txnState(old)).toEqual(txnState(successor))
    expect(successor.lastStableOffset).toBe(first.baseOffset)
  })
})

describe('PartitionReplica transactions: refusals', () => {
  it('markerFromAnOlderCoordinatorEpoch_isRefusedCoordinatorFenced', async () => {
    const group = await startedGroup(41)
    await group.produce(txnBatch(0, ['a']))
    await marker(group, PID, false, 5)
    await group.produce(txnBatch(1, ['b']))
    await expect(marker(group, PID, true, 4)).rejects.toMatchObject({ errorName: 'TRANSACTION_COORDINATOR_FENCED', code: 52, retriable: false })
    const leader = await group.waitForLeader()
    expect(leader.ongoingTransactions()).toHaveLength(1)
    await marker(group, PID, true, 5)
    expect(leader.ongoingTransactions()).toEqual([])
  })

  it('markerWithAnOlderProducerEpoch_isRefusedInvalidProducerEpoch', async () => {
    const group = await startedGroup(42)
    await group.produce(txnBatch(0, ['a'], PID, 2))
    await expect(marker(group, PID, true, 0, 1)).rejects.toMatchObject({ errorName: 'INVALID_PRODUCER_EPOCH', code: 47 })
    // An abort that bumps the epoch fences the old epoch's batches too; the new epoch starts at sequence 0.
    await marker(group, PID, false, 0, 3)
    await expect(group.produce(txnBatch(1, ['zombie'], PID, 2))).rejects.toMatchObject({ errorName: 'INVALID_PRODUCER_EPOCH' })
    await group.produce(txnBatch(0, ['fresh'], PID, 3))
  })

  it('transactionalBatchWithoutProducerId_isRefusedInvalidRecord', async () => {
    const group = await startedGroup(43)
    const leader = await group.waitForLeader()
    const endBefore = leader.logEndOffset
    const batch = encodeRecordBatch({ isTransactional: true, records: [{ key: null, value: null, timestamp: 1 }] })
    await expect(group.produce(batch)).rejects.toMatchObject({ errorName: 'INVALID_RECORD' })
    expect(leader.logEndOffset).toBe(endBefore)
  })

  it('markerSentByAClientAsAProduce_isStillRefused', async () => {
    const group = await startedGroup(44)
    await group.produce(txnBatch(0, ['a']))
    const forged = encodeTxnMarkerBatch({ producerId: PID, producerEpoch: 0, commit: true, coordinatorEpoch: 0, timestampMs: 1 })
    await expect(group.produce(forged)).rejects.toMatchObject({ errorName: 'INVALID_RECORD' })
    expect((await group.waitForLeader()).ongoingTransactions()).toHaveLength(1)
  })

  it('markerOnAFollower_isRefusedNotLeader', async () => {
    const group = await startedGroup(45)
    const leader = await group.waitForLeader()
    const follower = [...group.replicas.values()].find((r) => r !== leader) as PartitionReplica
    await expect(group.run(() => follower.writeTxnMarker({ producerId: PID, producerEpoch: 0, commit: true, coordinatorEpoch: 0 }))).rejects.toMatchObject({ errorName: 'NOT_LEADER_OR_FOLLOWER' })
  })
})
