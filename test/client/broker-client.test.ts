import { describe, expect, it } from 'vitest'
import { type Actor, type ActorContext, type ActorSystem, type Message } from '../../src/actor/index.js'
import { BrokerClient, type BrokerClientConfig } from '../../src/client/index.js'
import { BROKER_KIND, BrokerRequest, ErrorCode, type FindCoordinatorResponse, type MetadataResponse, REPLICA_KIND, SkeinError, TXN_COORDINATOR_KIND, TxnRequest } from '../../src/wire/index.js'
import { SIM_CLUSTER_ID, SIM_CLUSTER_SECRET, SIM_NODE_PORT, SimCluster, settle } from '../../sim/index.js'

/**
 * BrokerClient against fake brokers: three simulated nodes (real transport and actor runtime,
 * simulated network and time) whose broker and replica actors are scripted by `FakeState`,
 * so a test decides who leads, what fails and how.
 */

const NODE_IDS = ['n1', 'n2', 'n3'] as const
const TOPIC = 't'

interface FakeState {
  /** The node whose replica accepts produces; the others redirect to it. */
  leader: string
  leaderEpoch: number
  /** When set, every produce on the leader fails with this error. */
  produceError: SkeinError | undefined
  /** When true, a produce on the leader never answers. */
  produceHangs: boolean
  /** Produce requests each node's replica received. */
  produceSeen: Map<string, number>
  /** Metadata and admin requests each node's broker received. */
  brokerSeen: Map<string, number>
  /** The node whose transaction coordinator owns every transactional id; the others answer NOT_COORDINATOR. */
  txnCoordinator: string
  /** The next this many transaction requests on the coordinator answer CONCURRENT_TRANSACTIONS. */
  concurrentTxnAnswers: number
  /** findCoordinator requests received, and every transaction request as "node kind". */
  findCoordinatorSeen: number
  txnSeen: string[]
}

/** A scripted actor: its node (from the context) and the test's shared state. */
abstract class FakeActor implements Actor {
  constructor(
    protected readonly context: ActorContext,
    protected readonly state: FakeState,
  ) {}
  abstract receive(message: Message): unknown
}

class FakeBroker extends FakeActor {
  receive(message: Message): unknown {
    this.state.brokerSeen.set(this.context.nodeId, (this.state.brokerSeen.get(this.context.nodeId) ?? 0) + 1)
    if (message.kind === BrokerRequest.listTopics) return [`answered-by-${this.context.nodeId}`]
    if (message.kind === BrokerRequest.findCoordinator) {
      this.state.findCoordinatorSeen++
      const { transactionalId } = message.payload as { transactionalId: string }
      const found: FindCoordinatorResponse = { transactionalId, partition: 0, nodeId: this.state.txnCoordinator, address: `${this.state.txnCoordinator}:${SIM_NODE_PORT}` }
      return found
    }
    if (message.kind !== BrokerRequest.metadata) throw new SkeinError(ErrorCode.INVALID_REQUEST, `fake broker: no ${message.kind}`)
    const response: MetadataResponse = {
      version: 1,
      nodes: NODE_IDS.map((id) => ({ id, address: `${id}:${SIM_NODE_PORT}`, zone: '' })),
      topics: [{ name: TOPIC, topicId: 'fake', configs: {}, partitions: [{ partition: 0, replicas: [...NODE_IDS], leader: this.state.leader, leaderEpoch: this.state.leaderEpoch }] }],
    }
    return response
  }
}

class FakeReplica extends FakeActor {
  receive(message: Message): unknown {
    const nodeId = this.context.nodeId
    this.state.produceSeen.set(nodeId, (this.state.produceSeen.get(nodeId) ?? 0) + 1)
    if (nodeId !== this.state.leader) {
      throw new SkeinError(ErrorCode.NOT_LEADER_OR_FOLLOWER, `${nodeId} is not the leader`, { leader: { nodeId: this.state.leader, epoch: this.state.leaderEpoch } })
    }
    if (this.state.produceHangs) return new Promise(() => {})
    if (this.state.produceError !== undefined) throw this.state.produceError
    const payload = message.payload as { leaderEpoch?: number }
    if (payload.leaderEpoch !== undefined && payload.leaderEpoch < this.state.leaderEpoch) throw new SkeinError(ErrorCode.FENCED_LEADER_EPOCH)
    return { baseOffset: 0, lastOffset: 0, logAppendTimeMs: -1, logStartOffset: 0, leader: nodeId }
  }
}

class FakeTxnCoordinator extends FakeActor {
  receive(message: Message): unknown {
    const nodeId = this.context.nodeId
    this.state.txnSeen.push(`${nodeId} ${message.kind}`)
    if (nodeId !== this.state.txnCoordinator) throw new SkeinError(ErrorCode.NOT_COORDINATOR, `${nodeId} does not coordinate this id`)
    if (this.state.concurrentTxnAnswers > 0) {
      this.state.concurrentTxnAnswers--
      throw new SkeinError(ErrorCode.CONCURRENT_TRANSACTIONS)
    }
    return message.kind === TxnRequest.initProducerId ? { producerId: 7, producerEpoch: 3 } : {}
  }
}

async function fakeCluster(clientConfig: Partial<BrokerClientConfig> = {}) {
  const state: FakeState = { leader: 'n1', leaderEpoch: 1, produceError: undefined, produceHangs: false, produceSeen: new Map(), brokerSeen: new Map(), txnCoordinator: 'n2', concurrentTxnAnswers: 0, findCoordinatorSeen: 0, txnSeen: [] }
  const register = (system: ActorSystem): void => {
    system.registerKind(BROKER_KIND, (context) => new FakeBroker(context, state), { passivateAfterIdleMs: 0 })
    system.registerKind(REPLICA_KIND, (context) => new FakeReplica(context, state), { passivateAfterIdleMs: 0 })
    system.registerKind(TXN_COORDINATOR_KIND, (context) => new FakeTxnCoordinator(context, state), { passivateAfterIdleMs: 0 })
  }
  const cluster = await SimCluster.start(NODE_IDS, { seed: 3, configFor: () => ({ brokerDisabled: true }), hooksFor: () => ({ registerActors: register }) })
  const world = cluster.world
  const client = await settle(world, BrokerClient.connect(world.addNode('client'), {
    seeds: NODE_IDS.map((id) => `${id}:${SIM_NODE_PORT}`),
    clusterId: SIM_CLUSTER_ID,
    clusterSecret: SIM_CLUSTER_SECRET,
    ...clientConfig,
  }))
  /** Runs `promise` in the world; returns its outcome and the virtual time it took. */
  const timed = async <T>(promise: Promise<T>): Promise<{ value?: T; error?: SkeinError; tookMs: number }> => {
    const startMs = world.nowMs()
    try {
      const value = await settle(world, promise)
      return { value, tookMs: world.nowMs() - startMs }
    } catch (error) {
      return { error: error as SkeinError, tookMs: world.nowMs() - startMs }
    }
  }
  return { cluster, world, client, state, timed }
}

const batch = (): Uint8Array => new Uint8Array(61)

describe('BrokerClient: choosing a node', () => {
  it('onContactNodeCrashed_beforeAnyMetadata_movesToAnotherSeed', async () => {
    const { cluster, client, timed } = await fakeCluster({ requestTimeoutMs: 5_000 })
    const first = await timed(client.listTopics())
    const contact = (first.value as string[])[0]!.replace('answered-by-', '')
    cluster.crash(contact)
    const after = await timed(client.listTopics())
    expect(after.error).toBeUndefined()
    expect(after.value).not.toEqual([`answered-by-${contact}`])
    expect(after.tookMs).toBeLessThan(2_000)
  })

  it('onContactNodeSilent_afterOneTimeout_nextCallsGoStraightToALiveNode', async () => {
    const { world, client, state, timed } = await fakeCluster({ requestTimeoutMs: 1_000 })
    const contact = ((await timed(client.listTopics())).value as string[])[0]!.replace('answered-by-', '')
    // Cut off, not dead: no RST, asks to it just get no answer.
    world.net.partition(['client'], [contact])
    const failover = await timed(client.metadata())
    expect(failover.error).toBeUndefined()
    expect(failover.tookMs).toBeGreaterThanOrEqual(1_000) // one attempt timed out at the silent node
    const seenBefore = state.brokerSeen.get(contact) ?? 0
    const next = await timed(client.listTopics())
    expect(next.value).not.toEqual([`answered-by-${contact}`])
    expect(next.tookMs).toBeLessThan(500)
    expect(state.brokerSeen.get(contact) ?? 0).toBe(seenBefore)
  })

  it('onLeaderCrashedWithAProduceInFlight_failsOverAsSoonAsANewLeaderIsKnown_notAfterTheRequestTimeout', async () => {
    const { cluster, world, client, state, timed } = await fakeCluster({ requestTimeoutMs: 10_000 })
    expect((await timed(client.produce(TOPIC, 0, batch()))).value).toMatchObject({ leader: 'n1' })
    state.produceHangs = true
    const produce = client.produce(TOPIC, 0, batch())
    await world.runFor(50)
    cluster.crash('n1')
    // The "election" takes 500 ms; meanwhile metadata still names the dead leader.
    world.scheduler.scheduleAfter(500, 'test:elect-n2', () => {
      state.leader = 'n2'
      state.leaderEpoch = 2
      state.produceHangs = false
    })
    const outcome = await timed(produce)
    expect(outcome.error).toBeUndefined()
    expect(outcome.value).toMatchObject({ leader: 'n2' })
    expect(outcome.tookMs).toBeLessThan(3_000)
  })
})

describe('BrokerClient: retries are bounded by a per-call deadline', () => {
  it('onRetriableErrorsForever_rejectsWithRequestTimedOut_atTheCallDeadline_withTheLastErrorAsCause', async () => {
    const { client, state, timed } = await fakeCluster({ requestDeadlineMs: 3_000, retriesMax: 1_000, retryBackoffMs: 20 })
    await timed(client.metadata())
    state.produceError = new SkeinError(ErrorCode.LEADER_NOT_AVAILABLE, 'election in progress')
    const outcome = await timed(client.produce(TOPIC, 0, batch()))
    expect(outcome.error).toBeInstanceOf(SkeinError)
    expect(outcome.error?.code).toBe(ErrorCode.REQUEST_TIMED_OUT.code)
    expect(outcome.error?.retriable).toBe(true)
    expect((outcome.error?.cause as SkeinError).code).toBe(ErrorCode.LEADER_NOT_AVAILABLE.code)
    expect(outcome.tookMs).toBeGreaterThanOrEqual(3_000)
    expect(outcome.tookMs).toBeLessThan(3_100)
    // Backoff doubles up to 1 s: a handful of attempts in 3 s, not a busy loop.
    const attempts = state.produceSeen.get('n1') ?? 0
    expect(attempts).toBeGreaterThan(3)
    expect(attempts).toBeLessThan(15)
  })

  it('closedWhileACallRetries_theCallEndsAtItsNextPause_notAtItsDeadline', async () => {
    const { client, state, timed } = await fakeCluster({ requestDeadlineMs: 30_000, retryBackoffMs: 20 })
    await timed(client.metadata())
    state.produceError = new SkeinError(ErrorCode.LEADER_NOT_AVAILABLE, 'election in progress')
    const call = client.produce(TOPIC, 0, batch())
    const closing = client.close()
    const outcome = await timed(call)
    await timed(closing)
    expect(outcome.error?.code).toBe(ErrorCode.INVALID_REQUEST.code)
    expect(outcome.error?.message).toContain('the client was closed')
    expect(outcome.tookMs).toBeLessThan(2_000)
  })

  it('onSilentLeader_theLastAttemptIsCutToWhatIsLeftOfTheDeadline', async () => {
    const { client, state, timed } = await fakeCluster({ requestTimeoutMs: 10_000, requestDeadlineMs: 2_000 })
    await timed(client.metadata())
    state.produceHangs = true
    const outcome = await timed(client.produce(TOPIC, 0, batch()))
    expect(outcome.error?.code).toBe(ErrorCode.REQUEST_TIMED_OUT.code)
    expect(outcome.tookMs).toBeGreaterThanOrEqual(2_000)
    expect(outcome.tookMs).toBeLessThan(2_100)
  })

  it('onCorruptMessage_failsAtOnce_withoutRetrying', async () => {
    const { client, state, timed } = await fakeCluster()
    await timed(client.metadata())
    state.produceError = new SkeinError(ErrorCode.CORRUPT_MESSAGE)
    const outcome = await timed(client.produce(TOPIC, 0, batch()))
    expect(outcome.error?.code).toBe(ErrorCode.CORRUPT_MESSAGE.code)
    expect(state.produceSeen.get('n1')).toBe(1)
  })

  it('onFencedEpochTheCallerNamed_failsAtOnce_butAFenceTheCallerDidNotAskForIsRetried', async () => {
    const { world, client, state, timed } = await fakeCluster({ retryBackoffMs: 10 })
    await timed(client.metadata())
    state.leaderEpoch = 5
    const named = await timed(client.produce(TOPIC, 0, batch(), -1, { leaderEpoch: 4 }))
    expect(named.error?.code).toBe(ErrorCode.FENCED_LEADER_EPOCH.code)
    expect(state.produceSeen.get('n1')).toBe(1)
    state.produceError = new SkeinError(ErrorCode.FENCED_LEADER_EPOCH)
    const unnamed = client.produce(TOPIC, 0, batch())
    world.scheduler.scheduleAfter(100, 'test:unfence', () => (state.produceError = undefined))
    expect((await timed(unnamed)).error).toBeUndefined()
    expect(state.produceSeen.get('n1')).toBeGreaterThan(2)
  })

  it('config_outOfRange_isRefused', async () => {
    await expect(fakeCluster({ requestDeadlineMs: 0 })).rejects.toThrow(RangeError)
  })
})

describe('BrokerClient: transaction coordinator requests', () => {
  const ref = { transactionalId: 'tx-1', producerId: 7, producerEpoch: 3 }

  it('txnRequests_findTheCoordinatorOnce_andGoToItsTxnActor', async () => {
    const { client, state, timed } = await fakeCluster()
    expect((await timed(client.txnInitProducerId({ transactionalId: 'tx-1', transactionTimeoutMs: 60_000 }))).value).toEqual({ producerId: 7, producerEpoch: 3 })
    expect((await timed(client.txnAddPartitions({ ...ref, partitions: [{ topic: TOPIC, partition: 0 }] }))).error).toBeUndefined()
    expect((await timed(client.txnEndTxn({ ...ref, commit: true }))).error).toBeUndefined()
    expect(state.findCoordinatorSeen).toBe(1)
    expect(state.txnSeen).toEqual([`n2 ${TxnRequest.initProducerId}`, `n2 ${TxnRequest.addPartitions}`, `n2 ${TxnRequest.endTxn}`])
  })

  it('onNotCoordinator_findsTheCoordinatorAgain_andGoesToTheNewOne', async () => {
    const { client, state, timed } = await fakeCluster({ retryBackoffMs: 10 })
    await timed(client.txnAddOffsets({ ...ref, groupId: 'g' }))
    state.txnCoordinator = 'n3'
    const outcome = await timed(client.txnEndTxn({ ...ref, commit: false }))
    expect(outcome.error).toBeUndefined()
    expect(state.findCoordinatorSeen).toBe(2)
    expect(state.txnSeen.slice(1)).toEqual([`n2 ${TxnRequest.endTxn}`, `n3 ${TxnRequest.endTxn}`])
  })

  it('onConcurrentTransactions_asksTheSameCoordinatorAgainSoon_withoutFindingItAgain', async () => {
    const { client, state, timed } = await fakeCluster({ retryBackoffMs: 50 })
    await timed(client.findTxnCoordinator('tx-1'))
    state.concurrentTxnAnswers = 4
    const outcome = await timed(client.txnAddPartitions({ ...ref, partitions: [{ topic: TOPIC, partition: 0 }] }))
    expect(outcome.error).toBeUndefined()
    expect(state.findCoordinatorSeen).toBe(1)
    expect(state.txnSeen).toHaveLength(5)
    // Four pauses capped at CONCURRENT_TXN_BACKOFF_MS_MAX (100 ms), not the 1 s retry cap.
    expect(outcome.tookMs).toBeLessThan(600)
  })

  it('onConcurrentTransactionsForever_endsAtTheCallDeadline', async () => {
    const { client, state, timed } = await fakeCluster({ requestDeadlineMs: 2_000, retryBackoffMs: 20 })
    state.concurrentTxnAnswers = Number.MAX_SAFE_INTEGER
    const outcome = await timed(client.txnEndTxn({ ...ref, commit: true }))
    expect(outcome.error?.code).toBe(ErrorCode.REQUEST_TIMED_OUT.code)
    expect((outcome.error?.cause as SkeinError).code).toBe(ErrorCode.CONCURRENT_TRANSACTIONS.code)
    expect(outcome.tookMs).toBeLessThan(2_100)
  })
})
