import { describe, expect, it } from 'vitest'
import { silentLogger } from '../../src/env/logger.js'
import { ApiKey, type ApiKeyValue, KAFKA_APIS, KafkaConnection, decodeResponse, encodeRequest } from '../../src/kafka/index.js'
import { kafkaBrokerId } from '../../src/kafka/broker-ids.js'
import { WIRED_API_VERSIONS, dispatchKafkaRequest, kafkaGateways } from '../../src/kafka/dispatch.js'
import { BrokerRequest, ErrorCode, GroupRequest, SkeinError, TxnRequest } from '../../src/wire/index.js'
import { FakeActors, SELF, asClientReads, dispatchAsClient } from './fake-actors.js'

/**
 * The transaction APIs through dispatch, against a fake node whose broker finds transaction
 * coordinators (`txn/<p>/<node>`) and group coordinators, each answering the native requests
 * of broker-protocol.ts's transactions section. Requests are encoded as a client of each
 * version would, and answers decoded as it would read them.
 */

const TXN_ACTOR = 'txn/2/n2'
const GROUP_ACTOR = 'coordinator/5/n3'
const PRODUCER = { transactionalId: 'tx-1', producerId: 4000n, producerEpoch: 2 }
const NATIVE_PRODUCER = { transactionalId: 'tx-1', producerId: 4000, producerEpoch: 2 }

/** A broker that finds tx-1's coordinator on n2 (partition 2) and group g's on n3 (partition 5); n2 listens at h2:9093. */
function txnActors(): FakeActors {
  return new FakeActors()
    .on(`broker/${SELF}`, BrokerRequest.findCoordinator, (payload: unknown) => {
      const key = payload as { groupId?: string; transactionalId?: string }
      if (key.transactionalId !== undefined) return { transactionalId: key.transactionalId, partition: 2, nodeId: 'n2', address: 'n2:1' }
      return { groupId: key.groupId, partition: 5, nodeId: 'n3', address: 'n3:1' }
    })
    .on('kafka/n2', 'endpoint', { host: 'h2', port: 9093 })
}

const addPartitions = { ...PRODUCER, topics: [{ name: 't', partitions: [0, 3] }, { name: 'u', partitions: [1] }] }
const addOffsets = { ...PRODUCER, groupId: 'g' }
const endTxn = { ...PRODUCER, committed: true }
const txnOffsetCommit = {
  ...PRODUCER,
  groupId: 'g',
  topics: [{ name: 't', partitions: [{ partitionIndex: 1, committedOffset: 42n, committedLeaderEpoch: -1, committedMetadata: null }, { partitionIndex: 2, committedOffset: 7n, committedLeaderEpoch: -1, committedMetadata: 'm' }] }],
}

/** Each transaction API's request, the actor and kind it reaches, and the error codes of its answer (one per partition, or one). */
interface TxnApiCase {
  readonly apiKey: ApiKeyValue
  readonly body: object
  readonly actorId: string
  readonly kind: string
  readonly codes: (body: never) => number[]
}

const CASES: TxnApiCase[] = [
  {
    apiKey: ApiKey.InitProducerId,
    body: { transactionalId: 'tx-1', transactionTimeoutMs: 60_000 },
    actorId: TXN_ACTOR,
    kind: TxnRequest.initProducerId,
    codes: (body: { errorCode: number }) => [body.errorCode],
  },
  {
    apiKey: ApiKey.AddPartitionsToTxn,
    body: addPartitions,
    actorId: TXN_ACTOR,
    kind: TxnRequest.addPartitions,
    codes: (body: { resultsByTopic: { resultsByPartition: { partitionErrorCode: number }[] }[] }) => body.resultsByTopic.flatMap((t) => t.resultsByPartition.map((p) => p.partitionErrorCode)),
  },
  { apiKey: ApiKey.AddOffsetsToTxn, body: addOffsets, actorId: TXN_ACTOR, kind: TxnRequest.addOffsets, codes: (body: { errorCode: number }) => [body.errorCode] },
  { apiKey: ApiKey.EndTxn, body: endTxn, actorId: TXN_ACTOR, kind: TxnRequest.endTxn, codes: (body: { errorCode: number }) => [body.errorCode] },
  {
    apiKey: ApiKey.TxnOffsetCommit,
    body: txnOffsetCommit,
    actorId: GROUP_ACTOR,
    kind: GroupRequest.txnOffsetCommit,
    codes: (body: { topics: { partitions: { errorCode: number }[] }[] }) => body.topics.flatMap((t) => t.partitions.map((p) => p.errorCode)),
  },
]

/** The versions of an API the gateway advertises. */
function advertised(apiKey: ApiKeyValue): number[] {
  const range = WIRED_API_VERSIONS.find((r) => r.apiKey === apiKey)
  if (range === undefined) throw new Error(`API ${apiKey} is not advertised`)
  return Array.from({ length: range.maxVersion - range.minVersion + 1 }, (_, i) => range.minVersion + i)
}

async function codesOf(actors: FakeActors, c: TxnApiCase, apiVersion: number): Promise<number[]> {
  const body = asClientReads(c.apiKey, apiVersion, await dispatchAsClient(actors.node(), c.apiKey, apiVersion, c.body))
  return c.codes(body as never)
}

describe('FindCoordinator', () => {
  it('findCoordinator_transactionKey_asksTheBrokerForTheTransactionalIdAndNamesItsNode', async () => {
    const actors = txnActors()
    const body = asClientReads(ApiKey.FindCoordinator, 1, await dispatchAsClient(actors.node(), ApiKey.FindCoordinator, 1, { key: 'tx-1', keyType: 1 }))
    expect(actors.payloadsOf(BrokerRequest.findCoordinator)).toEqual([{ transactionalId: 'tx-1' }])
    expect(body).toEqual({ throttleTimeMs: 0, errorCode: 0, errorMessage: null, nodeId: kafkaBrokerId('n2'), host: 'h2', port: 9093 })
  })

  it('findCoordinator_groupKey_stillAsksForTheGroup', async () => {
    const actors = txnActors().on('kafka/n3', 'endpoint', { host: 'h3', port: 9094 })
    const body = asClientReads(ApiKey.FindCoordinator, 0, await dispatchAsClient(actors.node(), ApiKey.FindCoordinator, 0, { key: 'g', keyType: 0 }))
    expect(actors.payloadsOf(BrokerRequest.findCoordinator)).toEqual([{ groupId: 'g' }])
    expect(body).toMatchObject({ errorCode: 0, nodeId: kafkaBrokerId('n3'), host: 'h3', port: 9094 })
  })

  it('findCoordinator_unknownKeyType_isInvalidRequestWithoutAsking', async () => {
    const actors = txnActors()
    const body = asClientReads(ApiKey.FindCoordinator, 2, await dispatchAsClient(actors.node(), ApiKey.FindCoordinator, 2, { key: 'x', keyType: 7 }))
    expect(body).toMatchObject({ errorCode: ErrorCode.INVALID_REQUEST.kafkaCode, nodeId: -1 })
    expect(actors.asked).toEqual([])
  })

  it('findCoordinator_brokerFails_answersItsKafkaCode', async () => {
    const actors = new FakeActors().on(`broker/${SELF}`, BrokerRequest.findCoordinator, new SkeinError(ErrorCode.COORDINATOR_NOT_AVAILABLE))
    const body = asClientReads(ApiKey.FindCoordinator, 1, await dispatchAsClient(actors.node(), ApiKey.FindCoordinator, 1, { key: 'tx-1', keyType: 1 }))
    expect(body.errorCode).toBe(ErrorCode.COORDINATOR_NOT_AVAILABLE.kafkaCode)
  })
})

describe('requests reach the native coordinators', () => {
  it('initProducerId_withTransactionalId_asksTheTxnCoordinator_andAnswersItsIdAndEpoch', async () => {
    const actors = txnActors().on(TXN_ACTOR, TxnRequest.initProducerId, { producerId: 4000, producerEpoch: 3 })
    for (const apiVersion of advertised(ApiKey.InitProducerId)) {
      const body = asClientReads(ApiKey.InitProducerId, apiVersion, await dispatchAsClient(actors.node(), ApiKey.InitProducerId, apiVersion, { transactionalId: 'tx-1', transactionTimeoutMs: 60_000 }))
      expect(body).toEqual({ throttleTimeMs: 0, errorCode: 0, producerId: 4000n, producerEpoch: 3 })
    }
    expect(actors.payloadsOf(TxnRequest.initProducerId)).toEqual([
      { transactionalId: 'tx-1', transactionTimeoutMs: 60_000 },
      { transactionalId: 'tx-1', transactionTimeoutMs: 60_000 },
    ])
  })

  it('initProducerId_withoutTransactionalId_staysWithTheBroker', async () => {
    const actors = txnActors().on(`broker/${SELF}`, BrokerRequest.initProducerId, { producerId: 9, producerEpoch: 0 })
    const body = asClientReads(ApiKey.InitProducerId, 1, await dispatchAsClient(actors.node(), ApiKey.InitProducerId, 1, { transactionalId: null, transactionTimeoutMs: 0 }))
    expect(body).toMatchObject({ errorCode: 0, producerId: 9n, producerEpoch: 0 })
    expect(actors.askedOf(BrokerRequest.findCoordinator)).toEqual([])
  })

  it('initProducerId_emptyTransactionalId_isInvalidRequest', async () => {
    const actors = txnActors()
    const body = asClientReads(ApiKey.InitProducerId, 0, await dispatchAsClient(actors.node(), ApiKey.InitProducerId, 0, { transactionalId: '', transactionTimeoutMs: 1000 }))
    expect(body).toEqual({ throttleTimeMs: 0, errorCode: ErrorCode.INVALID_REQUEST.kafkaCode, producerId: -1n, producerEpoch: -1 })
    expect(actors.asked).toEqual([])
  })

  it('addPartitions_flattensTopicsIntoPartitions_andAnswersEveryPartition', async () => {
    const actors = txnActors().on(TXN_ACTOR, TxnRequest.addPartitions, {})
    for (const apiVersion of advertised(ApiKey.AddPartitionsToTxn)) {
      const body = asClientReads(ApiKey.AddPartitionsToTxn, apiVersion, await dispatchAsClient(actors.node(), ApiKey.AddPartitionsToTxn, apiVersion, addPartitions))
      expect(body.resultsByTopic).toEqual([
        { name: 't', resultsByPartition: [{ partitionIndex: 0, partitionErrorCode: 0 }, { partitionIndex: 3, partitionErrorCode: 0 }] },
        { name: 'u', resultsByPartition: [{ partitionIndex: 1, partitionErrorCode: 0 }] },
      ])
    }
    expect(actors.payloadsOf(TxnRequest.addPartitions)[0]).toEqual({
      ...NATIVE_PRODUCER,
      partitions: [{ topic: 't', partition: 0 }, { topic: 't', partition: 3 }, { topic: 'u', partition: 1 }],
    })
  })

  it('addOffsets_namesTheGroup', async () => {
    const actors = txnActors().on(TXN_ACTOR, TxnRequest.addOffsets, {})
    expect(await codesOf(actors, CASES[2] as TxnApiCase, 1)).toEqual([0])
    expect(actors.payloadsOf(TxnRequest.addOffsets)).toEqual([{ ...NATIVE_PRODUCER, groupId: 'g' }])
  })

  it('endTxn_committedTrueCommits_falseAborts', async () => {
    const actors = txnActors().on(TXN_ACTOR, TxnRequest.endTxn, {})
    await dispatchAsClient(actors.node(), ApiKey.EndTxn, 1, endTxn)
    await dispatchAsClient(actors.node(), ApiKey.EndTxn, 0, { ...endTxn, committed: false })
    expect(actors.payloadsOf(TxnRequest.endTxn)).toEqual([
      { ...NATIVE_PRODUCER, commit: true },
      { ...NATIVE_PRODUCER, commit: false },
    ])
  })

  it('txnOffsetCommit_goesToTheGroupsCoordinator_withoutMemberOrGeneration', async () => {
    const actors = txnActors().on(GROUP_ACTOR, GroupRequest.txnOffsetCommit, {})
    for (const apiVersion of advertised(ApiKey.TxnOffsetCommit)) expect(await codesOf(actors, CASES[4] as TxnApiCase, apiVersion)).toEqual([0, 0])
    expect(actors.payloadsOf(BrokerRequest.findCoordinator)[0]).toEqual({ groupId: 'g' })
    expect(actors.payloadsOf(GroupRequest.txnOffsetCommit)[0]).toEqual({
      ...NATIVE_PRODUCER,
      groupId: 'g',
      offsets: [
        { topic: 't', partition: 1, offset: 42 },
        { topic: 't', partition: 2, offset: 7, metadata: 'm' },
      ],
    })
  })

  it('coordinator_foundOnce_isRemembered_untilItAnswersNotCoordinator', async () => {
    let moved = false
    const actors = txnActors().on(TXN_ACTOR, TxnRequest.endTxn, () => (moved ? new SkeinError(ErrorCode.NOT_COORDINATOR) : {}))
    const gateways = kafkaGateways(actors.node())
    const codes = async (): Promise<number> => asClientReads(ApiKey.EndTxn, 1, await dispatchAsClient(actors.node(), ApiKey.EndTxn, 1, endTxn, gateways)).errorCode
    expect([await codes(), await codes()]).toEqual([0, 0])
    expect(actors.askedOf(BrokerRequest.findCoordinator)).toHaveLength(1)
    moved = true
    expect(await codes()).toBe(ErrorCode.NOT_COORDINATOR.kafkaCode)
    moved = false
    expect(await codes()).toBe(0)
    expect(actors.askedOf(BrokerRequest.findCoordinator)).toHaveLength(2)
  })
})

describe('error codes', () => {
  const PASSED_THROUGH = [
    ErrorCode.NOT_COORDINATOR,
    ErrorCode.COORDINATOR_LOAD_IN_PROGRESS,
    ErrorCode.INVALID_PRODUCER_EPOCH,
    ErrorCode.INVALID_TXN_STATE,
    ErrorCode.INVALID_PRODUCER_ID_MAPPING,
    ErrorCode.INVALID_TRANSACTION_TIMEOUT,
    ErrorCode.CONCURRENT_TRANSACTIONS,
    ErrorCode.TRANSACTION_COORDINATOR_FENCED,
    ErrorCode.UNSTABLE_OFFSET_COMMIT,
  ]

  for (const c of CASES) {
    it(`${KAFKA_APIS[c.apiKey].name}_coordinatorErrors_reachTheClientUnchanged_onEveryPartition`, async () => {
      for (const spec of PASSED_THROUGH) {
        const actors = txnActors().on(c.actorId, c.kind, new SkeinError(spec))
        for (const apiVersion of advertised(c.apiKey)) {
          const codes = await codesOf(actors, c, apiVersion)
          expect(codes.length).toBeGreaterThan(0)
          expect(new Set(codes), `${spec.name} v${apiVersion}`).toEqual(new Set([spec.code]))
        }
      }
    })
  }

  it('skeinOnlyErrors_becomeTheirKafkaCode_andNonSkeinErrorsUnknownServerError', async () => {
    const overloaded = txnActors().on(TXN_ACTOR, TxnRequest.endTxn, new SkeinError(ErrorCode.NODE_UNREACHABLE))
    expect(await codesOf(overloaded, CASES[3] as TxnApiCase, 1)).toEqual([ErrorCode.NODE_UNREACHABLE.kafkaCode])
    const broken = txnActors().on(TXN_ACTOR, TxnRequest.endTxn, new Error('boom'))
    expect(await codesOf(broken, CASES[3] as TxnApiCase, 1)).toEqual([ErrorCode.UNKNOWN_SERVER_ERROR.kafkaCode])
  })

  // Kafka answers PRODUCER_FENCED only from the version each API's JSON says added it (InitProducerId
  // v4, the others v2), INVALID_PRODUCER_EPOCH below; TxnOffsetCommit 0-2 always get 47 (see transactions.ts).
  const FENCED_SINCE: [ApiKeyValue, number][] = [
    [ApiKey.InitProducerId, 4],
    [ApiKey.AddPartitionsToTxn, 2],
    [ApiKey.AddOffsetsToTxn, 2],
    [ApiKey.EndTxn, 2],
    [ApiKey.TxnOffsetCommit, Infinity],
  ]
  for (const [apiKey, since] of FENCED_SINCE) {
    it(`${KAFKA_APIS[apiKey].name}_producerFenced_isInvalidProducerEpochBeforeV${since}`, async () => {
      const c = CASES.find((x) => x.apiKey === apiKey) as TxnApiCase
      const actors = txnActors().on(c.actorId, c.kind, new SkeinError(ErrorCode.PRODUCER_FENCED))
      for (const apiVersion of advertised(apiKey)) {
        const expected = apiVersion >= since ? ErrorCode.PRODUCER_FENCED.code : ErrorCode.INVALID_PRODUCER_EPOCH.code
        expect(new Set(await codesOf(actors, c, apiVersion)), `v${apiVersion}`).toEqual(new Set([expected]))
      }
    })
  }

  it('producerIdBeyondSafeIntegers_isInvalidRequest_withoutAskingAnyone', async () => {
    const actors = txnActors()
    for (const c of CASES.filter((x) => x.apiKey !== ApiKey.InitProducerId)) {
      const codes = await codesOf(actors, { ...c, body: { ...c.body, producerId: 2n ** 60n } }, 1)
      expect(new Set(codes), `${c.apiKey}`).toEqual(new Set([ErrorCode.INVALID_REQUEST.kafkaCode]))
    }
    expect(actors.asked).toEqual([])
  })
})

describe('bad input', () => {
  /** A KafkaConnection dispatching to `actors` as the listener does; what it writes and whether it closed. */
  function connection(actors: FakeActors) {
    const written: Uint8Array[] = []
    const state = { closed: false }
    const gateways = kafkaGateways(actors.node())
    const conn = new KafkaConnection({ write: (frame) => written.push(frame), close: () => (state.closed = true) }, (request) => dispatchKafkaRequest(actors.node(), gateways, request), silentLogger)
    return { conn, written, state }
  }

  const endTxnFrame = (correlationId: number): Buffer => Buffer.from(encodeRequest({ apiKey: ApiKey.EndTxn, apiVersion: 1, correlationId, clientId: 'c' }, endTxn))

  it('truncatedTransactionRequest_closesThatConnection_andTheGatewayKeepsServing', async () => {
    const actors = txnActors().on(TXN_ACTOR, TxnRequest.endTxn, {}).on(TXN_ACTOR, TxnRequest.addPartitions, {})
    const bad = connection(actors)
    const frame = Buffer.from(encodeRequest({ apiKey: ApiKey.AddPartitionsToTxn, apiVersion: 1, correlationId: 1, clientId: 'c' }, addPartitions))
    const cut = frame.subarray(0, frame.length - 5)
    cut.writeInt32BE(cut.length - 4, 0)
    bad.conn.onData(cut)
    expect(bad.state.closed).toBe(true)
    expect(bad.written).toEqual([])
    expect(actors.askedOf(TxnRequest.addPartitions)).toEqual([])

    const good = connection(actors)
    good.conn.onData(endTxnFrame(2))
    await new Promise((resolve) => setImmediate(resolve))
    expect(good.state.closed).toBe(false)
    const response = decodeResponse(ApiKey.EndTxn, 1, (good.written[0] as Uint8Array).subarray(4))
    expect(response).toEqual({ correlationId: 2, body: { throttleTimeMs: 0, errorCode: 0 } })
  })

  it('flexibleVersionOfATransactionApi_closesAsUnsupported', () => {
    const bad = connection(txnActors())
    const frame = endTxnFrame(3)
    frame.writeInt16BE(3, 6) // EndTxn v3 is flexible: not spoken
    bad.conn.onData(frame)
    expect(bad.state.closed).toBe(true)
  })
})
