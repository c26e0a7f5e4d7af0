import { describe, expect, it } from 'vitest'
import type { PartitionReplica } from '../../actors/partition/replica.js'
import { encodeRecordBatch } from '../../src/log/record-batch.js'
import { PID, ReplicaGroup, VOTERS } from '../helpers/replica-group.js'


function idempotentBatch(sequence: number, values: string[], epoch = 0, producerId = PID): Uint8Array {
  return encodeRecordBatch({
    producerId,
    producerEpoch: epoch,
    baseSequence: sequence,
    records: values.map((value) => ({ key: null, value: new TextEncoder().encode(value), timestamp: 1 })),
  })
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0))
  let at = 0
  for (const part of parts) {
    out.set(part, at)
    at += part.length
  }
  return out
}

async function startedGroup(seed: number): Promise<ReplicaGroup> {
  const group = new ReplicaGroup(seed)
  for (const id of VOTERS) await group.start(id)
  await group.waitForLeader()
  return group
}

describe('PartitionReplica idempotent produce', () => {
  it('retryOfAnAppendedBatch_answersTheOriginalOffsets_andAppendsNothing', async () => {
    const group = await startedGroup(11)
    const first = await group.produce(idempotentBatch(0, ['a', 'b']))
    expect(first.duplicate).toBe(false)
    const endBefore = (await group.waitForLeader()).logEndOffset
    const retry = await group.produce(idempotentBatch(0, ['a', 'b']))
    expect(retry).toMatchObject({ baseOffset: first.baseOffset, lastOffset: first.lastOffset, duplicate: true })
    expect((await group.waitForLeader()).logEndOffset).toBe(endBefore)
    const next = await group.produce(idempotentBatch(2, ['c']))
    expect(next.baseOffset).toBe(endBefore)
    const leader = await group.waitForLeader()
    expect((await group.batches(leader)).map((b) => b.values)).toEqual([['a', 'b'], ['c']])
  })

  it('sequenceGap_isRefusedOutOfOrder_andNothingIsAppended', async () => {
    const group = await startedGroup(12)
    await group.produce(idempotentBatch(0, ['a']))
    const leader = await group.waitForLeader()
    const endBefore = leader.logEndOffset
    await expect(group.produce(idempotentBatch(2, ['gap']))).rejects.toMatchObject({ errorName: 'OUT_OF_ORDER_SEQUENCE_NUMBER', code: 45, retriable: false })
    // A multi-batch request with one bad batch: none of it is appended.
    await expect(group.produce(concat(idempotentBatch(1, ['ok']), idempotentBatch(5, ['bad'])))).rejects.toMatchObject({ errorName: 'OUT_OF_ORDER_SEQUENCE_NUMBER' })
    expect(leader.logEndOffset).toBe(endBefore)
    await group.produce(idempotentBatch(1, ['b']))
    expect((await group.batches(leader)).map((b) => b.values)).toEqual([['a'], ['b']])
  })

  it('olderProducerEpoch_isRefusedInvalidProducerEpoch', async () => {
    const group = await startedGroup(13)
    await group.produce(idempotentBatch(0, ['new'], 2))
    await expect(group.produce(idempotentBatch(1, ['zombie'], 1))).rejects.toMatchObject({ errorName: 'INVALID_PRODUCER_EPOCH', code: 47, retriable: false })
    await expect(group.produce(idempotentBatch(3, ['bumped'], 3))).rejects.toMatchObject({ errorName: 'OUT_OF_ORDER_SEQUENCE_NUMBER' })
    await group.produce(idempotentBatch(0, ['bumped'], 3))
  })

  it('pipelinedBatches_aRetryOfOneStillPendingCommit_isADuplicate', async () => {
    const group = await startedGroup(14)
    const leader = await group.waitForLeader()
    // Three in flight at once from one producer, then a retry of the first before any commits.
    const inFlight = [0, 1, 2].map((sequence) => leader.produce(idempotentBatch(sequence, [`p${sequence}`]), 'all'))
    const retried = leader.produce(idempotentBatch(0, ['p0']), 'all')
    const [originals, retry] = await group.run(() => Promise.all([Promise.all(inFlight), retried]))
    expect(retry).toMatchObject({ baseOffset: originals[0]?.baseOffset, lastOffset: originals[0]?.lastOffset, duplicate: true })
    expect((await group.batches(leader)).map((b) => b.values)).toEqual([['p0'], ['p1'], ['p2']])
  })

  it('duplicatePrefixOfARequest_isNotAppendedAgain_theNewBatchesAre', async () => {
    const group = await startedGroup(15)
    const first = await group.produce(idempotentBatch(0, ['a']))
    const both = await group.produce(concat(idempotentBatch(0, ['a']), idempotentBatch(1, ['b'])))
    expect(both.baseOffset).toBe(first.baseOffset)
    expect(both.duplicate).toBe(false)
    const leader = await group.waitForLeader()
    expect((await group.batches(leader)).map((b) => b.values)).toEqual([['a'], ['b']])
  })
})

describe('PartitionReplica producer state across failover and restart', () => {
  it('leaderCrash_theNewLeaderDedupesARetryOfABatchTheOldLeaderCommitted', async () => {
    const group = await startedGroup(21)
    await group.produce(idempotentBatch(0, ['x0']))
    const original = await group.produce(idempotentBatch(1, ['x1', 'x2']))
    const old = await group.waitForLeader()
    group.crash(group.idOf(old))
    const retry = await group.produce(idempotentBatch(1, ['x1', 'x2']))
    expect(retry).toMatchObject({ baseOffset: original.baseOffset, lastOffset: original.lastOffset, duplicate: true })
    await group.produce(idempotentBatch(3, ['x3']))
    const leader = await group.waitForLeader()
    expect((await group.batches(leader)).map((b) => b.values)).toEqual([['x0'], ['x1', 'x2'], ['x3']])
  })

  it('everyReplicaRestarts_theStateIsRebuiltFromTheLogHeaders', async () => {
    const group = await startedGroup(22)
    for (let sequence = 0; sequence < 8; sequence++) await group.produce(idempotentBatch(sequence, [`v${sequence}`]))
    const original = await group.produce(idempotentBatch(8, ['v8']))
    await group.settle(500)
    for (const id of VOTERS) group.crash(id)
    for (const id of VOTERS) await group.start(id)
    const retry = await group.produce(idempotentBatch(8, ['v8']))
    expect(retry).toMatchObject({ baseOffset: original.baseOffset, duplicate: true })
    await expect(group.produce(idempotentBatch(10, ['gap']))).rejects.toMatchObject({ errorName: 'OUT_OF_ORDER_SEQUENCE_NUMBER' })
    // Older than the retained batches of its epoch: appended long ago, offsets no longer known.
    expect(await group.produce(idempotentBatch(0, ['too-old']))).toMatchObject({ baseOffset: -1, lastOffset: -1, duplicate: true })
    const next = await group.produce(idempotentBatch(9, ['v9']))
    expect(next.duplicate).toBe(false)
  })

  it('uncommittedBatchTruncatedFromTheOldLeader_theRetryIsNew_andTheOldLeaderFollowsTheNewState', async () => {
    const group = await startedGroup(23)
    await group.produce(idempotentBatch(0, ['y0']))
    const old = await group.waitForLeader()
    const oldId = group.idOf(old)
    group.isolated.add(oldId)
    // acks=1: on the old leader's disk only; no majority will ever have them. The plain batch
    // of two first puts y1 at another offset than the one the successor gives it (after its
    // one-record LeaderChange batch).
    await group.run(() => old.produce(encodeRecordBatch({ records: [{ key: null, value: null, timestamp: 1 }, { key: null, value: null, timestamp: 2 }] }), 1))
    const lost = await group.run(() => old.produce(idempotentBatch(1, ['y1']), 1))
    const others = [...group.replicas.values()].filter((r) => r !== old)
    await group.scheduler.runUntil(() => others.some((r) => r.role === 'leader' && r.acceptsWrites), { timeoutMs: 10_000 })
    const successor = others.find((r) => r.role === 'leader') as PartitionReplica
    const retried = await group.run(() => successor.produce(idempotentBatch(1, ['y1']), 'all'))
    expect(retried.duplicate).toBe(false)
    group.isolated.delete(oldId)
    await group.scheduler.runUntil(() => old.logEndOffset === successor.logEndOffset && old.role === 'follower', { timeoutMs: 10_000 })
    expect(retried.baseOffset).not.toBe(lost.baseOffset)
    // The old leader truncated y1 at its old offset and took it at the new one: led by it
    // again, it dedupes the retry with the new offsets.
    successor.transferLeadership(oldId)
    await group.scheduler.runUntil(() => old.role === 'leader' && old.acceptsWrites, { timeoutMs: 10_000 })
    const again = await group.run(() => old.produce(idempotentBatch(1, ['y1']), 'all'))
    expect(again).toMatchObject({ baseOffset: retried.baseOffset, duplicate: true })
    expect((await group.batches(old)).map((b) => b.values)).toEqual([['y0'], ['y1']])
  })
})
