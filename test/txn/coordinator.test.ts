import { afterEach, describe, expect, it } from 'vitest'
import { BrokerClient } from '../../src/client/broker-client.js'
import { silentLogger } from '../../src/env/index.js'
import { createRealEnv } from '../../src/env/real/index.js'
import { readCommitted } from '../../src/log/read-committed.js'
import { decodeRecordBatches, encodeRecordBatch } from '../../src/log/record-batch.js'
import type { SkeinNode } from '../../src/node.js'
import {
  BrokerRequest,
  type DescribeTxnResponse,
  type FetchOffsetsResponse,
  type FindCoordinatorResponse,
  GroupRequest,
  type InitProducerIdResponse,
  TxnRequest,
  brokerActorId,
  coordinatorActorId,
  txnCoordinatorActorId,
} from '../../src/wire/broker-protocol.js'
import { ErrorCode, SkeinError } from '../../src/wire/index.js'
import { TXN_LIMITS_DEFAULT } from '../../actors/txn/txn-core.js'
import { InProcessNodes } from '../helpers/in-process-nodes.js'

/**
 * The transaction coordinator actor against real nodes in this process: placement on the
 * transaction-state partition's leader, the two-phase commit writing markers into the
 * partitions, fencing by epoch, and a new coordinator finishing a decided commit.
 */

const CLUSTER = { clusterId: 'txn-coordinator-test', clusterSecret: 'txn-coordinator-test-secret-0123' }
const BROKER = { txnStateTopicPartitions: 2, txnStateTopicReplicationFactor: 3, offsetsTopicPartitions: 2 }
const nodes = new InProcessNodes(CLUSTER, 'skein-txn-coordinator')
const closers: Array<() => Promise<void>> = []

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close()
  await nodes.cleanup()
})

const RETRIABLE = new Set([ErrorCode.NOT_CONTROLLER.code, ErrorCode.BROKER_NOT_AVAILABLE.code, ErrorCode.COORDINATOR_NOT_AVAILABLE.code, ErrorCode.NOT_COORDINATOR.code, ErrorCode.CONCURRENT_TRANSACTIONS.code, ErrorCode.NODE_UNREACHABLE.code, ErrorCode.REQUEST_TIMED_OUT.code, ErrorCode.LEADER_NOT_AVAILABLE.code])

/**
 * Asks the coordinator of a key (a group or a transactional id) through `via`: found with
 * findCoordinator, asked, found again and retried while the answer is retriable.
 */
async function askCoordinatorOf<T>(via: SkeinNode, key: { groupId: string } | { transactionalId: string }, kind: string, payload: object, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      const found = await via.actors.ask<FindCoordinatorResponse>(brokerActorId(via.config.nodeId), BrokerRequest.findCoordinator, key, { timeoutMs: 5_000 })
      const actorId = 'groupId' in key ? coordinatorActorId(found.partition, found.nodeId) : txnCoordinatorActorId(found.partition, found.nodeId)
      return await via.actors.ask<T>(actorId, kind, { ...key, ...payload }, { timeoutMs: 10_000 })
    } catch (error) {
      if (!(error instanceof SkeinError) || !RETRIABLE.has(error.code) || Date.now() > deadline) throw error
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }
}

function askTxn<T>(via: SkeinNode, transactionalId: string, kind: string, payload: object, timeoutMs?: number): Promise<T> {
  return askCoordinatorOf(via, { transactionalId }, kind, payload, timeoutMs)
}

function askGroup<T>(via: SkeinNode, groupId: string, kind: string, payload: object): Promise<T> {
  return askCoordinatorOf(via, { groupId }, kind, payload)
}

async function until(condition: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** The transaction's state once its markers are all acknowledged (the coordinator writes CompleteX after the last one). */
async function completed(via: SkeinNode, transactionalId: string): Promise<DescribeTxnResponse> {
  let described: DescribeTxnResponse | undefined
  await until(async () => {
    described = await askTxn<DescribeTxnResponse>(via, transactionalId, TxnRequest.describeTxn, {})
    return described.state.startsWith('Complete')
  })
  return described!
}

function txnBatch(producer: InitProducerIdResponse, sequence: number, values: string[]): Uint8Array {
  const records = values.map((value) => ({ key: null, value: new TextEncoder().encode(value), timestamp: 1_700_000_000_000 }))
  return encodeRecordBatch({ producerId: producer.producerId, producerEpoch: producer.producerEpoch, baseSequence: sequence, isTransactional: true, records })
}

async function connect(node: SkeinNode): Promise<BrokerClient> {
  const broker = await BrokerClient.connect(createRealEnv({ dataDir: '/nonexistent', nodeId: 'client', log: silentLogger }), { seeds: [node.address], ...CLUSTER, retryBackoffMs: 20 })
  closers.push(() => broker.close())
  return broker
}

/** The values a read_committed reader sees in `topic`/0 once the LSO has reached `until`. */
async function committedValues(broker: BrokerClient, topic: string, until: number): Promise<string[]> {
  const deadline = Date.now() + 20_000
  for (;;) {
    const answer = await broker.fetch(topic, 0, 0, 1024 * 1024, 0, 1, 'read_committed')
    if (answer.lastStableOffset >= until) {
      const { views } = readCommitted(answer.records, answer.abortedTransactions ?? [])
      return views.flatMap((view) => decodeRecordBatches(view).flatMap((batch) => batch.records.map((r) => new TextDecoder().decode(r.value ?? new Uint8Array()))))
    }
    if (Date.now() > deadline) throw new Error(`LSO stayed at ${answer.lastStableOffset}, below ${until}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

describe('transaction coordinator', () => {
  it('commitsAndAborts_markersReachThePartition_readCommittedSeesOnlyTheCommit', async () => {
    const [node] = await nodes.startCluster(['n1'], { broker: { ...BROKER, txnStateTopicReplicationFactor: 1 } })
    const broker = await connect(node!)
    await broker.createTopic({ name: 'out', partitions: 1, replicationFactor: 1 })
    await broker.waitForLeaders('out')

    const producer = await askTxn<InitProducerIdResponse>(node!, 'tx-a', TxnRequest.initProducerId, { transactionTimeoutMs: 60_000 })
    expect(producer.producerEpoch).toBe(0)
    const ref = { producerId: producer.producerId, producerEpoch: producer.producerEpoch }
    await askTxn(node!, 'tx-a', TxnRequest.addPartitions, { ...ref, partitions: [{ topic: 'out', partition: 0 }] })
    await broker.produce('out', 0, txnBatch(producer, 0, ['c1', 'c2']), -1)
    await askTxn(node!, 'tx-a', TxnRequest.endTxn, { ...ref, commit: true })

    await askTxn(node!, 'tx-a', TxnRequest.addPartitions, { ...ref, partitions: [{ topic: 'out', partition: 0 }] })
    const aborted = await broker.produce('out', 0, txnBatch(producer, 2, ['x1']), -1)
    await askTxn(node!, 'tx-a', TxnRequest.endTxn, { ...ref, commit: false })

    // Each transaction ends with a marker: the LSO passes the aborted batch and its marker.
    expect(await committedValues(broker, 'out', aborted.lastOffset + 2)).toEqual(['c1', 'c2'])
    const described = await completed(node!, 'tx-a')
    expect(described).toMatchObject({ producerId: producer.producerId, producerEpoch: 0, state: 'CompleteAbort', partitions: [] })
  })

  it('theNextTransactionsFirstRequest_whileTheLastCommitFinishes_isHeldAndAnswered_notRefused', async () => {
    const [node] = await nodes.startCluster(['n1'], { broker: { ...BROKER, txnStateTopicReplicationFactor: 1 } })
    const broker = await connect(node!)
    await broker.createTopic({ name: 'out', partitions: 1, replicationFactor: 1 })
    await broker.waitForLeaders('out')
    const producer = await askTxn<InitProducerIdResponse>(node!, 'tx-h', TxnRequest.initProducerId, { transactionTimeoutMs: 60_000 })
    const ref = { transactionalId: 'tx-h', producerId: producer.producerId, producerEpoch: producer.producerEpoch }
    const found = await node!.actors.ask<FindCoordinatorResponse>(brokerActorId('n1'), BrokerRequest.findCoordinator, { transactionalId: 'tx-h' }, { timeoutMs: 5_000 })
    // Straight to the coordinator, no retries: a CONCURRENT_TRANSACTIONS answer would fail the test.
    const once = <T>(kind: string, payload: object) => node!.actors.ask<T>(txnCoordinatorActorId(found.partition, found.nodeId), kind, { ...ref, ...payload }, { timeoutMs: 10_000 })
    let last = -1
    for (let round = 0; round < 5; round++) {
      await once(TxnRequest.addPartitions, { partitions: [{ topic: 'out', partition: 0 }] })
      last = (await broker.produce('out', 0, txnBatch(producer, round, [`r${round}`]), -1)).lastOffset
      await once(TxnRequest.endTxn, { commit: true })
    }
    expect(await committedValues(broker, 'out', last + 2)).toEqual(['r0', 'r1', 'r2', 'r3', 'r4'])
    expect((await completed(node!, 'tx-h')).state).toBe('CompleteCommit')
  })

  it('reInit_bumpsTheEpoch_fencesTheOldProducer_andAbortsItsOpenTransaction', async () => {
    const [node] = await nodes.startCluster(['n1'], { broker: { ...BROKER, txnStateTopicReplicationFactor: 1 } })
    const broker = await connect(node!)
    await broker.createTopic({ name: 'out', partitions: 1, replicationFactor: 1 })
    await broker.waitForLeaders('out')

    const zombie = await askTxn<InitProducerIdResponse>(node!, 'tx-z', TxnRequest.initProducerId, { transactionTimeoutMs: 60_000 })
    const zombieRef = { producerId: zombie.producerId, producerEpoch: zombie.producerEpoch }
    await askTxn(node!, 'tx-z', TxnRequest.addPartitions, { ...zombieRef, partitions: [{ topic: 'out', partition: 0 }] })
    const open = await broker.produce('out', 0, txnBatch(zombie, 0, ['zombie']), -1)

    const fresh = await askTxn<InitProducerIdResponse>(node!, 'tx-z', TxnRequest.initProducerId, { transactionTimeoutMs: 60_000 })
    expect(fresh.producerId).toBe(zombie.producerId)
    expect(fresh.producerEpoch).toBeGreaterThan(zombie.producerEpoch)

    // The zombie can neither end its transaction nor write into the partition.
    await expect(askTxn(node!, 'tx-z', TxnRequest.endTxn, { ...zombieRef, commit: true })).rejects.toMatchObject({ code: ErrorCode.PRODUCER_FENCED.code })
    await expect(broker.produce('out', 0, txnBatch(zombie, 1, ['late']), -1)).rejects.toMatchObject({ code: ErrorCode.INVALID_PRODUCER_EPOCH.code })
    expect(await committedValues(broker, 'out', open.lastOffset + 2)).toEqual([])
  })

  it('refusesBadInput_withStableCodes_andKeepsServing', async () => {
    const [node] = await nodes.startCluster(['n1'], { broker: { ...BROKER, txnStateTopicReplicationFactor: 1 } })
    await expect(askTxn(node!, 'tx-b', TxnRequest.initProducerId, { transactionTimeoutMs: -5 })).rejects.toMatchObject({ code: ErrorCode.INVALID_TRANSACTION_TIMEOUT.code })
    await expect(askTxn(node!, 'tx-b', TxnRequest.addPartitions, { producerId: 1, producerEpoch: 0, partitions: [{ topic: 'out', partition: 0 }] })).rejects.toMatchObject({ code: ErrorCode.INVALID_PRODUCER_ID_MAPPING.code })
    const producer = await askTxn<InitProducerIdResponse>(node!, 'tx-b', TxnRequest.initProducerId, { transactionTimeoutMs: 60_000 })
    const ref = { producerId: producer.producerId, producerEpoch: producer.producerEpoch }
    await expect(askTxn(node!, 'tx-b', TxnRequest.endTxn, { ...ref, commit: 'yes' })).rejects.toMatchObject({ code: ErrorCode.INVALID_REQUEST.code })
    await expect(askTxn(node!, 'tx-b', TxnRequest.addPartitions, { ...ref, partitions: 'all' })).rejects.toMatchObject({ code: ErrorCode.INVALID_REQUEST.code })
    await expect(askTxn(node!, 'tx-b', TxnRequest.verifyGroup, { ...ref, groupId: 'g' })).rejects.toMatchObject({ code: ErrorCode.INVALID_TXN_STATE.code })
    await askTxn(node!, 'tx-b', TxnRequest.addOffsets, { ...ref, groupId: 'g' })
    await askTxn(node!, 'tx-b', TxnRequest.verifyGroup, { ...ref, groupId: 'g' })
    await expect(askTxn(node!, 'tx-b', TxnRequest.verifyGroup, { ...ref, groupId: 'other' })).rejects.toMatchObject({ code: ErrorCode.INVALID_TXN_STATE.code })
  })

  it('aTransactionOverItsTimeout_isAborted_itsCommitRefused_itsRecordsNeverVisible', async () => {
    const txnLimits = { ...TXN_LIMITS_DEFAULT, scanIntervalMs: 50 }
    const [node] = await nodes.startCluster(['n1'], { broker: { ...BROKER, txnStateTopicReplicationFactor: 1, txnLimits } })
    const broker = await connect(node!)
    await broker.createTopic({ name: 'out', partitions: 1, replicationFactor: 1 })
    await broker.waitForLeaders('out')
    // Long enough that the produce below lands inside it on a loaded machine, short enough to see it expire.
    const producer = await askTxn<InitProducerIdResponse>(node!, 'tx-t', TxnRequest.initProducerId, { transactionTimeoutMs: 2_000 })
    const ref = { producerId: producer.producerId, producerEpoch: producer.producerEpoch }
    await askTxn(node!, 'tx-t', TxnRequest.addPartitions, { ...ref, partitions: [{ topic: 'out', partition: 0 }] })
    const written = await broker.produce('out', 0, txnBatch(producer, 0, ['slow']), -1)
    // The abort under a bumped epoch is written by the coordinator on its own, so the LSO moves past it.
    expect(await committedValues(broker, 'out', written.lastOffset + 2)).toEqual([])
    await expect(askTxn(node!, 'tx-t', TxnRequest.endTxn, { ...ref, commit: true })).rejects.toMatchObject({ code: ErrorCode.PRODUCER_FENCED.code })
    const described = await completed(node!, 'tx-t')
    expect(described).toMatchObject({ state: 'CompleteAbort', producerEpoch: producer.producerEpoch + 1 })
  })

  it('offsetsInTheTransaction_takeEffectOnCommit_vanishOnAbort_andAreRefusedForAGroupNotInIt', async () => {
    const [node] = await nodes.startCluster(['n1'], { broker: { ...BROKER, txnStateTopicReplicationFactor: 1 } })
    const broker = await connect(node!)
    await broker.createTopic({ name: 'in', partitions: 1, replicationFactor: 1 })
    await broker.waitForLeaders('in')
    const producer = await askTxn<InitProducerIdResponse>(node!, 'tx-o', TxnRequest.initProducerId, { transactionTimeoutMs: 60_000 })
    const ref = { transactionalId: 'tx-o', producerId: producer.producerId, producerEpoch: producer.producerEpoch }
    // Straight to the coordinator: BrokerClient would retry UNSTABLE_OFFSET_COMMIT, which is what is looked at here.
    const fetchOffsets = () => askGroup<FetchOffsetsResponse>(node!, 'g', GroupRequest.fetchOffsets, {})
    const commitOffset = (groupId: string, offset: number) => askGroup(node!, groupId, GroupRequest.txnOffsetCommit, { ...ref, groupId, offsets: [{ topic: 'in', partition: 0, offset }] })

    // Offsets for a group not added to the transaction are refused, and nothing becomes visible.
    await expect(commitOffset('g', 5)).rejects.toMatchObject({ code: ErrorCode.INVALID_TXN_STATE.code })
    expect((await fetchOffsets()).offsets).toEqual([])
    await askTxn(node!, 'tx-o', TxnRequest.addOffsets, { ...ref, groupId: 'g' })
    await commitOffset('g', 5)
    await expect(fetchOffsets()).rejects.toMatchObject({ code: ErrorCode.UNSTABLE_OFFSET_COMMIT.code })
    await askTxn(node!, 'tx-o', TxnRequest.endTxn, { ...ref, commit: true })
    await until(async () => (await fetchOffsets().catch(() => ({ offsets: [] }))).offsets.length === 1)
    expect((await fetchOffsets()).offsets).toMatchObject([{ topic: 'in', partition: 0, offset: 5 }])

    await askTxn(node!, 'tx-o', TxnRequest.addOffsets, { ...ref, groupId: 'g' })
    await commitOffset('g', 9)
    await askTxn(node!, 'tx-o', TxnRequest.endTxn, { ...ref, commit: false })
    await until(async () => (await fetchOffsets().then(() => true, () => false)))
    expect((await fetchOffsets()).offsets).toMatchObject([{ topic: 'in', partition: 0, offset: 5 }])
  })

  it('aNewLeaderWithNoRequests_loadsAnyway_andTimesOutTheTransactionItsPredecessorLeftOpen', async () => {
    // No producer asks the new coordinator anything: only the broker's nudge (every metadata
    // poll) loads it, after which the open transaction times out and its abort frees the LSO.
    // Without it the LSO stays behind the record for good (txn-sim seed 268's pending offsets).
    const broker = { ...BROKER, metadataPollMs: 200, txnLimits: { ...TXN_LIMITS_DEFAULT, scanIntervalMs: 50 } }
    const [n1, n2, n3] = await nodes.startCluster(['n1', 'n2', 'n3'], { broker })
    const client = await connect(n1!)
    await client.createTopic({ name: 'out', partitions: 1, replicationFactor: 3 })
    await client.waitForLeaders('out')
    const producer = await askTxn<InitProducerIdResponse>(n1!, 'tx-n', TxnRequest.initProducerId, { transactionTimeoutMs: 2_000 })
    const ref = { producerId: producer.producerId, producerEpoch: producer.producerEpoch }
    await askTxn(n1!, 'tx-n', TxnRequest.addPartitions, { ...ref, partitions: [{ topic: 'out', partition: 0 }] })
    const found = await n1!.actors.ask<FindCoordinatorResponse>(brokerActorId('n1'), BrokerRequest.findCoordinator, { transactionalId: 'tx-n' }, { timeoutMs: 5_000 })
    const via = [n1!, n2!, n3!].find((node) => node.config.nodeId !== found.nodeId)!
    const survivorClient = await connect(via)
    const written = await survivorClient.produce('out', 0, txnBatch(producer, 0, ['left open']), -1)
    await nodes.stop(found.nodeId)
    expect(await committedValues(survivorClient, 'out', written.lastOffset + 2)).toEqual([])
  })

  it('aNewCoordinator_finishesACommitItsPredecessorDecided', async () => {
    const [n1, n2, n3] = await nodes.startCluster(['n1', 'n2', 'n3'], { broker: BROKER })
    const broker = await connect(n1!)
    await broker.createTopic({ name: 'out', partitions: 1, replicationFactor: 3 })
    await broker.waitForLeaders('out')
    const producer = await askTxn<InitProducerIdResponse>(n1!, 'tx-f', TxnRequest.initProducerId, { transactionTimeoutMs: 60_000 })
    const ref = { producerId: producer.producerId, producerEpoch: producer.producerEpoch }
    await askTxn(n1!, 'tx-f', TxnRequest.addPartitions, { ...ref, partitions: [{ topic: 'out', partition: 0 }] })
    const written = await broker.produce('out', 0, txnBatch(producer, 0, ['f1']), -1)
    await askTxn(n1!, 'tx-f', TxnRequest.endTxn, { ...ref, commit: true })

    // Stop the coordinator's node right after the commit was decided; a new leader of its
    // partition takes over and, if the markers were not all written, writes them.
    const found = await n1!.actors.ask<FindCoordinatorResponse>(brokerActorId('n1'), BrokerRequest.findCoordinator, { transactionalId: 'tx-f' }, { timeoutMs: 5_000 })
    const survivors = [n1!, n2!, n3!].filter((node) => node.config.nodeId !== found.nodeId)
    await nodes.stop(found.nodeId)
    const via = survivors[0]!
    const described = await askTxn<DescribeTxnResponse>(via, 'tx-f', TxnRequest.describeTxn, {}, 60_000)
    expect(['PrepareCommit', 'CompleteCommit']).toContain(described.state)
    const survivorBroker = await connect(via)
    expect(await committedValues(survivorBroker, 'out', written.lastOffset + 2)).toEqual(['f1'])
    // The id carries on under its new coordinator.
    const again = await askTxn<InitProducerIdResponse>(via, 'tx-f', TxnRequest.initProducerId, { transactionTimeoutMs: 60_000 }, 60_000)
    expect(again).toMatchObject({ producerId: producer.producerId, producerEpoch: producer.producerEpoch + 1 })
  })
})
