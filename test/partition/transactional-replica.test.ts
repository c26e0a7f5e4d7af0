import { describe, expect, it } from 'vitest'
import type { PartitionReplica } from '../../actors/partition/replica.js'
import { encodeTxnMarkerBatch } from '../../src/log/control-record.js'
import { readCommitted } from '../../src/log/read-committed.js'
import { decodeRecordBatches, encodeRecordBatch } from '../../src/log/record-batch.js'
import { PID, ReplicaGroup, VOTERS } from '../helpers/replica-group.js'


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

async function startedGroup(seed: number): Promise<ReplicaGroup> {
  const group = new ReplicaGroup(seed)
  for (const id of VOTERS) await group.start(id)
  await group.waitForLeader()
  return group
}

async function marker(group: ReplicaGroup, producerId: number, commit: boolean, coordinatorEpoch = 0, producerEpoch = 0): Promise<{ offset: number }> {
  const leader = await group.waitForLeader()
  return group.run(() => leader.writeTxnMarker({ producerId, producerEpoch, commit, coordinatorEpoch }))
}

/** What a read_committed reader sees from `from` on the replica: values, in order (one fetch per loop, filtered as the SDK does). */
async function committedValues(group: ReplicaGroup, replica: PartitionReplica, from = 0): Promise<string[]> {
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
