/**
 * One seeded run of an exactly-once pipeline under faults (`npm run sim:txn -- --seed N`):
 * five complete nodes on a simulated world (sim/cluster.ts), topics `in` and `out` of 2 or 3
 * partitions each (replication factor 3), the offsets and transaction-state topics of
 * INTERNAL_PARTITIONS partitions. A source host writes unique values to `in` (acks=all, not
 * transactional) and reads `out` read_committed every so often. Two or three processor slots,
 * each a transactional id `eos-<slot>` on a host of its own, run consume-transform-produce
 * through the SDK: a group consumer of `in` (read_committed, no automatic commits) and a
 * transactional producer; per batch the consumer hands over, a transaction sends one output
 * per input to `out` (its value names the input, the instance and the transaction:
 * checker.ts's encodeOutput), commits the batch's offsets in the transaction (sendOffsets
 * with the consumer, fencing by generation), and commits. Any error aborts (best effort) and
 * replaces the instance: both closed, new ones made, which re-read the committed offsets and
 * fence their predecessor by initialising the same transactional id.
 *
 * Faults: the full simulator's injector (sim/full/faults.ts) with a menu of this scenario's
 * kinds (partitions both ways and one way, flaky links, crashes losing unsynced writes or
 * tearing the last one, client churn) and rates drawn per seed, crashes and partitions aimed
 * at a coordinator's node (a slot's transaction coordinator or the group's) more often than
 * not. Client churn here is the processors': a host crashes (its instance dies mid-transaction,
 * to be restarted there), an instance restarts, or a zombie is made: the slot's host is cut
 * off from everything and a new instance of the slot starts on a spare host with the same
 * transactional id, while the old one runs on, cut off, then healed: whatever it commits after
 * the new one's init must stay invisible.
 *
 * Transactions time out after a few seconds and the coordinators scan for them every
 * TXN_SCAN_INTERVAL_MS, so what a dead or cut-off instance left open is aborted within the
 * run. Then everything heals, every node runs again, the cluster converges, every slot has a
 * running instance, and the pipeline has settleMsMax to commit the group's offsets to the end
 * of `in` with `out` stable (its last stable offset at its high watermark). The checker
 * (sim/txn/checker.ts) judges the history against the final read of `in` and the read_committed
 * read of `out`.
 */
import { BrokerClient, type BrokerClientConfig, Client, type Consumer, type ConsumerBatch, type Producer } from '../../src/client/index.js'
import type { Clock } from '../../src/env/index.js'
import { readCommitted } from '../../src/log/read-committed.js'
import { encodeRecordBatch } from '../../src/log/record-batch.js'
import { FAST_SWIM_SETTINGS } from '../../src/membership/index.js'
import type { NodeConfig } from '../../src/node.js'
import { OFFSETS_TOPIC, TXN_STATE_TOPIC, offsetsPartitionFor, replicaActorId } from '../../src/wire/broker-protocol.js'
import { ErrorCode, SkeinError } from '../../src/wire/index.js'
import { TXN_LIMITS_DEFAULT } from '../../actors/txn/txn-core.js'
import { SIM_CLUSTER_ID, SIM_CLUSTER_SECRET, SIM_NODE_PORT, type SimCluster } from '../cluster.js'
import { Prng } from '../prng.js'
import { settle } from '../settle.js'
import type { World } from '../world.js'
import { batchViews } from '../broker/checker.js'
import { CONTROLLER_IDS, NODE_IDS, awaitStopAndConvergence, createTopicWithRetries, fetchAllWithRetries, fmt, sleep } from '../broker/scenario.js'
import { dataValues } from '../group/checker.js'
import { GROUP_LIMITS, REASSIGN_NEVER_MS, startCluster } from '../group/scenario.js'
import { FaultInjector, type FaultTarget } from '../full/faults.js'
import { type FaultMenu, type FaultPlan, FaultKind, describeMenu } from '../full/menu.js'
import { type FinalTxnState, type InstanceObservation, type LogRecord, type TxnObservation, TxnChecker, type Violation, encodeOutput, formatViolation } from './checker.js'

export const GROUP_ID = 'eos-pipeline'
export const IN_TOPIC = 'in'
export const OUT_TOPIC = 'out'
/** Writes `in`, reads `out` during the run, and reads everything at the end; never faulted but by partitions and links. */
export const SOURCE_HOST = 'source'
/** Hosts processors run on: one per slot at a time, the rest spare (a zombie's slot moves to one). */
export const PROCESSOR_HOSTS = ['h1', 'h2', 'h3', 'h4', 'h5'] as const
/** Offsets and transaction-state topics: few partitions, so a few coordinators carry everything. */
const INTERNAL_PARTITIONS = 3

export const TXN_SIM_FAULT_PHASE_MS_DEFAULT = 10_000
/**
 * After converging, how long the pipeline has to commit to the end of `in`. A transaction per
 * batch costs several coordinator round trips, each a Raft write: a seed whose source wrote a
 * thousand records faster than two processors keep up needs over a minute for its backlog
 * (seeds 435 and 489 settled after 62 and 78 s).
 */
export const TXN_SIM_SETTLE_MS_MAX_DEFAULT = 150_000
const CONVERGE_MS_MAX = 30_000
/** The source's deadline per request, and its retries (each may duplicate a write: harmless, inputs are judged by position). */
const REQUEST_TIMEOUT_MS = 2_000
const RETRIES_MAX = 3
/** A processor's call deadline (retries included): shorter than the longer zombie cuts, longer than the shorter ones. */
const PROCESSOR_DEADLINE_MS = 5_000
/** Transaction timeouts are drawn per seed from this range: a few seconds, so abandoned ones abort within the run. */
const TXN_TIMEOUT_MS_MIN = 2_000
const TXN_TIMEOUT_MS_SPREAD = 3_000
/** How often the coordinators look for timed-out transactions (the default is 1 s). */
const TXN_SCAN_INTERVAL_MS = 200
/** The fault phase runs in chunks of this much; between chunks processors due are restarted and zombie cuts healed. */
const FAULT_CHUNK_MS = 500
/** How long a zombie's host stays cut off. */
const ZOMBIE_CUT_MS_MIN = 1_000
const ZOMBIE_CUT_MS_SPREAD = 6_000
/** Longest pause between a transaction's writes and its commit (a third of the transactions pause). */
const WORK_MS_MAX = 1_000
/** Far more than a request with all its retries and backoffs may take. */
const SOURCE_STOP_MS_MAX = 60_000
const READ_EVERY_MS_MAX = 1_500
const READ_BYTES_MAX = 1024 * 1024
const SETTLE_POLL_MS = 1_000

export interface TxnSimOptions {
  readonly seed: number
  /** Virtual time the workload runs under faults. */
  readonly faultPhaseMs?: number
  /** After converging, how long the pipeline has to settle before liveness fails. */
  readonly settleMsMax?: number
  /**
   * Processors pass their live consumer to sendOffsets (the generation when the offsets are
   * sent), not the generation the batch was read under: shows the SDK's KIP-447 gap.
   */
  readonly liveGeneration?: boolean
}

export interface TxnSimResult {
  readonly seed: number
  readonly faultMode: 'minority' | 'majority'
  readonly slots: number
  readonly inPartitions: number
  readonly outPartitions: number
  readonly inputs: number
  readonly outputs: number
  readonly txnsBegun: number
  readonly txnsCommitted: number
  readonly txnsAborted: number
  readonly instances: number
  readonly processorCrashes: number
  readonly processorRestarts: number
  readonly zombieCuts: number
  /** Zombie transactions the checker judged: commit invoked after a newer instance's init. */
  readonly zombieCommits: number
  /** Processor errors saying the producer was fenced. */
  readonly fencedErrors: number
  readonly crashes: number
  /** Crashes and partitions aimed at a coordinator's node (each lands if the envelope allows it). */
  readonly coordinatorAims: number
  readonly partitions: number
  readonly txnCoordinatorMoves: number
  readonly groupCoordinatorMoves: number
  readonly reads: number
  readonly faults: readonly string[]
  readonly violations: readonly Violation[]
  readonly settledAfterMs: number | undefined
  readonly events: number
  readonly virtualMs: number
  readonly trace: string
}

type Transaction = Awaited<ReturnType<Producer['transaction']>>

interface Slot {
  readonly index: number
  readonly transactionalId: string
  host: string
  current: Processor | undefined
  /** Restart the slot's instance on its host at this time (after its host crashed). */
  restartAtMs: number | undefined
}

interface Processor {
  readonly name: string
  readonly slot: Slot
  readonly host: string
  /** The host's process incarnation it runs in. */
  readonly incarnation: number
  readonly client: Client
  readonly producer: Producer
  readonly draws: Prng
  consumer: Consumer | undefined
  state: 'running' | 'stopping' | 'stopped' | 'crashed'
  /** Between its transaction's writes and its commit: where a zombie cut is aimed. */
  working: boolean
  txns: number
}

/** A zombie's host, cut off until untilMs. */
interface ZombieCut {
  readonly host: string
  readonly others: readonly string[]
  readonly untilMs: number
}

const utf8 = new TextDecoder()

/** Draws the workload and faults of one seed, runs them, and checks the history. */
export async function runTxnSim(options: TxnSimOptions): Promise<TxnSimResult> {
  const sim = await TxnSim.start(options)
  return sim.run()
}

/** The seed's fault menu: this scenario's kinds, rates and durations drawn per seed. */
function drawTxnMenu(draws: Prng): FaultMenu {
  const plan = (kind: FaultKind, cls: FaultPlan['cls'], probability: number, durationMsMin: number, durationMsMax: number): FaultPlan => ({ kind, cls, probability, durationMsMin, durationMsMax })
  const plans: FaultPlan[] = [
    plan(FaultKind.partition, 'net', draws.between(0.05, 0.3), 500, 1_000 + draws.int(7_000)),
    plan(FaultKind.oneWay, 'net', draws.between(0.02, 0.15), 500, 1_000 + draws.int(5_000)),
    plan(FaultKind.flaky, 'net', draws.between(0.05, 0.3), 500, 1_000 + draws.int(4_000)),
    plan(FaultKind.crash, 'process', draws.between(0.1, 0.4), 300, 1_000 + draws.int(5_000)),
    plan(FaultKind.clientChurn, 'process', draws.between(0.1, 0.4), 0, 0),
    plan(FaultKind.tornWrite, 'disk', draws.between(0, 0.15), 300, 1_000 + draws.int(4_000)),
  ]
  const tickMsMin = 100 + draws.int(300)
  return {
    classes: ['net', 'process', 'disk'],
    mode: draws.chance(0.2) ? 'majority' : 'minority',
    tickMsMin,
    tickMsMax: tickMsMin + 200 + draws.int(1_000),
    plans,
    link: { latencyJitterMsMean: 0.1 + draws.float() * 2, spikeProbability: draws.chance(0.5) ? draws.float() * 0.02 : 0, breakProbability: draws.chance(0.5) ? draws.float() * 0.0005 : 0 },
  }
}

class TxnSim {
  readonly checker = new TxnChecker()
  readonly faults: string[] = []
  private readonly world: World
  private readonly workloadDraws: Prng
  private readonly injector: FaultInjector
  private source!: BrokerClient
  private inPartitions = 0
  private outPartitions = 0
  private readonly slots: Slot[] = []
  private readonly processors: Processor[] = []
  private readonly instanceSeq = new Map<string, number>()
  private readonly groups = new Map<string, readonly string[]>()
  private readonly watched: { topic: string; partition: number; replicas: readonly string[] }[] = []
  private zombieCut: ZombieCut | undefined
  private workloadRunning = true
  private readonly lastCoordinator = new Map<string, string>()
  private readonly livenessViolations: Violation[] = []
  readonly stats = { txnsBegun: 0, processorCrashes: 0, processorRestarts: 0, zombieCuts: 0, fencedErrors: 0, coordinatorAims: 0, txnCoordinatorMoves: 0, groupCoordinatorMoves: 0 }

  private constructor(
    private readonly options: Required<TxnSimOptions>,
    private readonly cluster: SimCluster,
    private readonly draws: Prng,
    private readonly menu: FaultMenu,
    private readonly txnTimeoutMs: number,
  ) {
    this.world = cluster.world
    this.workloadDraws = draws.fork('workload')
    this.injector = new FaultInjector(this.faultTarget(), menu, draws.fork('faults'), (line) => this.faults.push(line))
  }

  static async start(options: TxnSimOptions): Promise<TxnSim> {
    const full = { faultPhaseMs: TXN_SIM_FAULT_PHASE_MS_DEFAULT, settleMsMax: TXN_SIM_SETTLE_MS_MAX_DEFAULT, liveGeneration: false, ...options }
    const draws = Prng.fromSeed(full.seed).fork('scenario:txn')
    const menu = drawTxnMenu(draws.fork('menu'))
    const txnTimeoutMs = TXN_TIMEOUT_MS_MIN + draws.int(TXN_TIMEOUT_MS_SPREAD)
    const configFor = (): Partial<NodeConfig> => ({
      controllers: [...CONTROLLER_IDS],
      swimSettings: FAST_SWIM_SETTINGS,
      broker: {
        replicaReassignAfterMs: REASSIGN_NEVER_MS,
        controllerReplaceAfterMs: REASSIGN_NEVER_MS,
        offsetsTopicPartitions: INTERNAL_PARTITIONS,
        txnStateTopicPartitions: INTERNAL_PARTITIONS,
        txnLimits: { ...TXN_LIMITS_DEFAULT, scanIntervalMs: TXN_SCAN_INTERVAL_MS },
        groupLimits: GROUP_LIMITS,
      },
    })
    const cluster = await startCluster(full, menu.link, configFor)
    const sim = new TxnSim(full, cluster, draws, menu, txnTimeoutMs)
    sim.faults.push(`${describeMenu(menu)} txnTimeout=${txnTimeoutMs}ms`)
    return sim
  }

  async run(): Promise<TxnSimResult> {
    await this.setUp()
    const workload = [this.produceLoop(), this.readLoop()]
    for (const slot of this.slots) this.startProcessor(slot)
    await this.faultPhase()
    const convergedAtMs = await this.healAndConverge(workload)
    const final = await this.settlePipeline(convergedAtMs)
    this.checker.violations.push(...this.livenessViolations)
    this.checker.check(final.state)
    return this.result(final)
  }

  private liveness(detail: string): void {
    this.livenessViolations.push({ atMs: this.world.nowMs(), rule: 'liveness', detail })
  }

  private clientError(what: string, error: unknown): void {
    if (error instanceof SkeinError) return
    this.checker.violations.push({ atMs: this.world.nowMs(), rule: 'client error', detail: `${what} threw ${error instanceof Error ? error.stack : String(error)}` })
  }

  // ---- set-up

  private async setUp(): Promise<void> {
    const world = this.world
    this.source = await settle(world, BrokerClient.connect(world.addNode(SOURCE_HOST), this.clientConfig('source')))
    for (const host of PROCESSOR_HOSTS) world.addNode(host)
    this.inPartitions = 2 + this.draws.int(2)
    this.outPartitions = 2 + this.draws.int(2)
    const slotCount = 2 + this.draws.int(2)
    for (const [topic, count] of [[IN_TOPIC, this.inPartitions], [OUT_TOPIC, this.outPartitions]] as const) {
      const created = await settle(world, createTopicWithRetries(this.source, topic, count))
      this.faults.push(`topic ${topic}: ${created.partitions.map((replicas, p) => `${p}=[${replicas.join(',')}]`).join(' ')}`)
      await settle(world, this.source.waitForLeaders(topic, 60_000))
    }
    for (let index = 0; index < slotCount; index++) this.slots.push({ index, transactionalId: `eos-${index}`, host: PROCESSOR_HOSTS[index] as string, current: undefined, restartAtMs: undefined })
    // The first lookups create the internal topics while every node is up: all their partitions get three replicas.
    await settle(world, this.retried(() => this.source.findCoordinator(GROUP_ID)))
    for (const slot of this.slots) await settle(world, this.retried(() => this.source.findTxnCoordinator(slot.transactionalId)))
    for (const topic of [OFFSETS_TOPIC, TXN_STATE_TOPIC]) await settle(world, this.source.waitForLeaders(topic, 60_000))
    const metadata = await settle(world, this.source.metadata([IN_TOPIC, OUT_TOPIC, OFFSETS_TOPIC, TXN_STATE_TOPIC]))
    for (const topic of metadata.topics) for (const p of topic.partitions) this.watched.push({ topic: topic.name, partition: p.partition, replicas: [...p.replicas] })
    for (const voters of [CONTROLLER_IDS, ...this.watched.map((p) => p.replicas)]) this.groups.set([...voters].sort().join(','), [...voters].sort())
    this.noteCoordinators()
  }

  private async retried<T>(call: () => Promise<T>): Promise<T> {
    let lastError: unknown
    for (let attempt = 0; attempt < 10; attempt++) {
      try {
        return await call()
      } catch (error) {
        lastError = error
        await sleep(this.world.process(SOURCE_HOST).env.clock, 500)
      }
    }
    throw new Error(`set-up call failed ten times: ${String(lastError)}`)
  }

  private clientConfig(clientId: string): BrokerClientConfig {
    return {
      seeds: NODE_IDS.map((id) => `${id}:${SIM_NODE_PORT}`),
      clusterId: SIM_CLUSTER_ID,
      clusterSecret: SIM_CLUSTER_SECRET,
      clientId,
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
      retriesMax: RETRIES_MAX,
      retryBackoffMs: 50,
    }
  }

  // ---- the source and the reader of `out`

  private async produceLoop(): Promise<void> {
    const clock = this.world.process(SOURCE_HOST).env.clock
    const draws = this.workloadDraws.fork('source')
    const pauseMsMax = 20 + draws.int(150)
    for (let sequence = 0; this.workloadRunning; sequence++) {
      const partition = draws.int(this.inPartitions)
      const values = Array.from({ length: 1 + draws.int(3) }, (_, i) => `s${this.options.seed}-${sequence}-${i}`)
      const batch = encodeRecordBatch({ records: values.map((value, i) => ({ key: null, value: new TextEncoder().encode(value), timestamp: 1_700_000_000_000 + i })) })
      try {
        await this.source.produce(IN_TOPIC, partition, batch, -1)
      } catch (error) {
        this.clientError(`produce to ${IN_TOPIC}/${partition}`, error)
      }
      await sleep(clock, draws.int(pauseMsMax))
    }
  }

  private async readLoop(): Promise<void> {
    const clock = this.world.process(SOURCE_HOST).env.clock
    const draws = this.workloadDraws.fork('reader')
    while (this.workloadRunning) {
      await sleep(clock, 200 + draws.int(READ_EVERY_MS_MAX))
      if (!this.workloadRunning) return
      const partition = draws.int(this.outPartitions)
      try {
        const read = await readCommittedLog(this.source, OUT_TOPIC, partition)
        this.checker.observeRead({ atMs: this.world.nowMs(), partition, records: read.records })
      } catch (error) {
        this.clientError(`read_committed of ${OUT_TOPIC}/${partition}`, error)
      }
    }
  }

  // ---- processors

  private startProcessor(slot: Slot): void {
    const world = this.world
    const host = slot.host
    const env = world.process(host).alive ? world.process(host).env : world.restart(host)
    const seq = (this.instanceSeq.get(slot.transactionalId) ?? 0) + 1
    this.instanceSeq.set(slot.transactionalId, seq)
    const name = `${slot.transactionalId}#${seq}@${host}`
    const client = new Client({
      seeds: NODE_IDS.map((id) => `${id}:${SIM_NODE_PORT}`),
      clusterId: SIM_CLUSTER_ID,
      clusterSecret: SIM_CLUSTER_SECRET,
      clientId: `${slot.transactionalId}-${seq}`,
      env,
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
      requestDeadlineMs: PROCESSOR_DEADLINE_MS,
      connect: (connectEnv, config) => BrokerClient.connect(connectEnv, { ...config, retryBackoffMs: 50 }),
    })
    const producer = client.producer({ transactionalId: slot.transactionalId, transactionTimeoutMs: this.txnTimeoutMs })
    const processor: Processor = { name, slot, host, incarnation: world.process(host).incarnation, client, producer, draws: this.workloadDraws.fork(`processor:${name}`), consumer: undefined, state: 'running', working: false, txns: 0 }
    slot.current = processor
    slot.restartAtMs = undefined
    this.processors.push(processor)
    this.faults.push(`${fmt(world.nowMs())} processor ${name} starts`)
    const instance: InstanceObservation = { transactionalId: slot.transactionalId, instance: name, seq, initIssuedAtMs: world.nowMs(), initCompletedAtMs: undefined }
    this.checker.observeInstance(instance)
    void this.runProcessor(processor, instance)
  }

  /** Init (fencing the predecessors), then consume-transform-produce until an error, then close and (if still the slot's) start anew. */
  private async runProcessor(processor: Processor, instance: InstanceObservation): Promise<void> {
    let failure: unknown
    try {
      await processor.producer.initTransactions()
      await this.unlessDead(processor)
      instance.initCompletedAtMs = this.world.nowMs()
      const draws = processor.draws
      const sessionTimeoutMs = 1_000 + draws.int(2_000)
      const consumer = processor.client.consumer({
        groupId: GROUP_ID,
        isolation: 'read_committed',
        autoCommit: false,
        resetPolicy: 'earliest',
        sessionTimeoutMs,
        heartbeatIntervalMs: Math.floor(sessionTimeoutMs / 3),
        rebalanceTimeoutMs: 3_000 + draws.int(3_000),
        assignors: ['range'],
        maxWaitMs: 300,
        topicRefreshMs: REASSIGN_NEVER_MS,
      })
      processor.consumer = consumer
      consumer.subscribe([IN_TOPIC])
      await consumer.run({ eachBatch: ({ batch }) => this.processBatch(processor, batch) })
    } catch (error) {
      failure = error
    }
    await this.unlessDead(processor)
    if (failure !== undefined) this.noteFailure(processor, failure)
    await this.stopProcessor(processor)
  }

  private noteFailure(processor: Processor, error: unknown): void {
    this.clientError(`processor ${processor.name}`, error)
    const code = error instanceof SkeinError ? error.errorName : String(error)
    if (error instanceof SkeinError && (error.code === ErrorCode.PRODUCER_FENCED.code || error.code === ErrorCode.INVALID_PRODUCER_EPOCH.code)) this.stats.fencedErrors++
    this.faults.push(`${fmt(this.world.nowMs())} processor ${processor.name} failed: ${code}`)
  }

  /** One transaction for one batch: an output per input, the batch's offsets, commit; on error abort (best effort) and throw. */
  private async processBatch(processor: Processor, batch: ConsumerBatch): Promise<void> {
    // The generation the batch was read under, taken before anything else can run. The live
    // consumer instead (its generation when sendOffsets runs) lets a member whose partition was
    // revoked and given back meanwhile commit the old batch's offsets under the new
    // generation, over the position the new assignment restarted from: outputs twice (seeds 13
    // and 14 with --live-generation).
    const readUnder = processor.consumer?.groupMetadata()
    const consumer = this.options.liveGeneration ? processor.consumer : { groupMetadata: () => readUnder }
    await this.unlessDead(processor)
    if (processor.state !== 'running') throw new SkeinError(ErrorCode.INVALID_REQUEST, `${processor.name} is stopping`)
    const last = batch.messages[batch.messages.length - 1]
    if (last === undefined) return
    const observation: TxnObservation = { instance: processor.name, txn: ++processor.txns, beganAtMs: this.world.nowMs(), outputs: [], commitInvokedAtMs: undefined, committedAtMs: undefined, abortedAtMs: undefined }
    let tx: Transaction | undefined
    try {
      tx = await processor.producer.transaction()
      await this.unlessDead(processor)
      this.stats.txnsBegun++
      this.checker.observeTxn(observation)
      const messages = batch.messages.map((message) => {
        const inValue = message.value === null ? '<null>' : utf8.decode(message.value)
        const value = encodeOutput({ inPartition: batch.partition, inOffset: message.offset, inValue, instance: processor.name, txn: observation.txn })
        observation.outputs.push(value)
        return { key: inValue, value }
      })
      await tx.send({ topic: OUT_TOPIC, messages })
      await this.unlessDead(processor)
      await tx.sendOffsets({ consumerGroupId: GROUP_ID, offsets: [{ topic: IN_TOPIC, partition: batch.partition, offset: last.offset + 1 }], consumer })
      await this.unlessDead(processor)
      // Work between the writes and the commit: the window a zombie cut or a crash lands in.
      const workMs = processor.draws.int(3) === 0 ? processor.draws.int(WORK_MS_MAX) : 0
      if (workMs > 0) {
        processor.working = true
        await sleep(this.world.process(processor.host).env.clock, workMs)
        await this.unlessDead(processor)
        processor.working = false
      }
      observation.commitInvokedAtMs = this.world.nowMs()
      await tx.commit()
      await this.unlessDead(processor)
      observation.committedAtMs = this.world.nowMs()
    } catch (error) {
      await this.unlessDead(processor)
      if (tx !== undefined) await this.abortQuietly(processor, tx, observation)
      throw error
    }
  }

  private async abortQuietly(processor: Processor, tx: Transaction, observation: TxnObservation): Promise<void> {
    try {
      await tx.abort()
      await this.unlessDead(processor)
      observation.abortedAtMs = this.world.nowMs()
    } catch {
      await this.unlessDead(processor) // fenced, or the commit's outcome is unknown: the coordinator decides
    }
  }

  /** Closes the instance's consumer, producer and client; starts the slot's next instance if this was its current one. */
  private async stopProcessor(processor: Processor): Promise<void> {
    if (processor.state === 'stopping' || processor.state === 'stopped') return
    processor.state = 'stopping'
    await processor.consumer?.close().catch(() => undefined)
    await processor.producer.close().catch(() => undefined)
    await processor.client.close().catch(() => undefined)
    await this.unlessDead(processor)
    processor.state = 'stopped'
    const slot = processor.slot
    if (slot.current !== processor) return
    slot.current = undefined
    this.startProcessor(slot)
  }

  private isDead(processor: Processor): boolean {
    const process = this.world.process(processor.host)
    return processor.state === 'crashed' || !process.alive || process.incarnation !== processor.incarnation
  }

  /** Never resolves for a processor whose process died: promise chains still pending in it must not act for it. */
  private unlessDead(processor: Processor): Promise<void> {
    return this.isDead(processor) ? new Promise(() => undefined) : Promise.resolve()
  }

  // ---- faults

  private faultTarget(): FaultTarget {
    return {
      cluster: this.cluster,
      clientHosts: [SOURCE_HOST, ...PROCESSOR_HOSTS],
      groups: () => this.groups.values(),
      churnClients: (random) => this.churnProcessors(random),
      aim: (random) => this.aim(random),
    }
  }

  /** A coordinator's node more often than not: a slot's transaction coordinator, or the group's. */
  private aim(random: Prng): string | undefined {
    if (!random.chance(0.6)) return undefined
    const slot = this.slots[random.int(this.slots.length)] as Slot
    const node = random.chance(0.5) ? this.leaderOf(TXN_STATE_TOPIC, offsetsPartitionFor(slot.transactionalId, INTERNAL_PARTITIONS)) : this.leaderOf(OFFSETS_TOPIC, offsetsPartitionFor(GROUP_ID, INTERNAL_PARTITIONS))
    if (node !== undefined) this.stats.coordinatorAims++
    return node
  }

  private churnProcessors(random: Prng): string | undefined {
    const roll = random.float()
    const running = this.slots.filter((slot) => slot.current !== undefined && slot.current.state === 'running' && !this.isDead(slot.current))
    // Zombies are made of processors about to commit more often than not.
    const working = running.filter((slot) => slot.current?.working === true)
    const candidates = roll >= 0.35 && roll < 0.7 && working.length > 0 ? working : running
    const slot = candidates[random.int(Math.max(1, candidates.length))]
    if (slot === undefined) return undefined
    const processor = slot.current as Processor
    if (roll < 0.35) {
      processor.state = 'crashed'
      this.world.crash(slot.host)
      slot.current = undefined
      slot.restartAtMs = this.world.nowMs() + 200 + random.int(2_000)
      this.stats.processorCrashes++
      return `processor host ${slot.host} crashes (${processor.name} dies)`
    }
    if (roll < 0.7) return this.makeZombie(slot, random)
    this.stats.processorRestarts++
    void this.stopProcessor(processor)
    return `processor ${processor.name} restarts`
  }

  /** Cuts the slot's host off from everything and starts the slot anew on a spare host: the old instance is a zombie. */
  private makeZombie(slot: Slot, random: Prng): string | undefined {
    if (this.zombieCut !== undefined) return undefined
    const busy = new Set(this.processors.filter((processor) => processor.state !== 'stopped' && !this.isDead(processor)).map((processor) => processor.host))
    for (const other of this.slots) busy.add(other.host)
    const spare = PROCESSOR_HOSTS.filter((host) => !busy.has(host))
    if (spare.length === 0) return undefined
    const zombie = slot.current as Processor
    const others = [...NODE_IDS, SOURCE_HOST, ...PROCESSOR_HOSTS].filter((host) => host !== slot.host)
    const durationMs = ZOMBIE_CUT_MS_MIN + random.int(ZOMBIE_CUT_MS_SPREAD)
    this.world.net.partition([slot.host], others)
    this.zombieCut = { host: slot.host, others, untilMs: this.world.nowMs() + durationMs }
    slot.host = spare[random.int(spare.length)] as string
    this.stats.zombieCuts++
    this.startProcessor(slot)
    return `zombie: ${zombie.host} cut off for ${durationMs}ms, ${zombie.name} runs on; ${slot.transactionalId} moves to ${slot.host}`
  }

  private async faultPhase(): Promise<void> {
    const world = this.world
    const phaseEndMs = world.nowMs() + this.options.faultPhaseMs
    while (world.nowMs() < phaseEndMs) {
      await this.injector.run(Math.min(FAULT_CHUNK_MS, phaseEndMs - world.nowMs()))
      this.noteCoordinators()
      this.restoreDue()
    }
  }

  /** Zombie cuts due to heal, processors due to restart. */
  private restoreDue(): void {
    const now = this.world.nowMs()
    if (this.zombieCut !== undefined && this.zombieCut.untilMs <= now) {
      const cut = this.zombieCut
      this.world.net.unblock([cut.host], cut.others)
      this.world.net.unblock(cut.others, [cut.host])
      this.faults.push(`${fmt(now)} zombie host ${cut.host} reconnected`)
      this.zombieCut = undefined
    }
    for (const slot of this.slots) {
      if (slot.current === undefined && slot.restartAtMs !== undefined && slot.restartAtMs <= now) this.startProcessor(slot)
    }
  }

  /** The node whose replica leads a partition now, if any. */
  private leaderOf(topic: string, partition: number): string | undefined {
    let best: { node: string; epoch: number } | undefined
    for (const nodeId of NODE_IDS) {
      const replica = this.cluster.nodes.get(nodeId)?.services?.hostedReplicas.get(replicaActorId(topic, partition, nodeId))?.replica
      if (replica === undefined || replica.isClosed || replica.role !== 'leader') continue
      if (best === undefined || replica.epoch > best.epoch) best = { node: nodeId, epoch: replica.epoch }
    }
    return best?.node
  }

  private noteCoordinators(): void {
    const watched = [{ key: `group ${GROUP_ID}`, topic: OFFSETS_TOPIC, id: GROUP_ID }, ...this.slots.map((slot) => ({ key: `txn ${slot.transactionalId}`, topic: TXN_STATE_TOPIC, id: slot.transactionalId }))]
    for (const { key, topic, id } of watched) {
      const node = this.leaderOf(topic, offsetsPartitionFor(id, INTERNAL_PARTITIONS))
      const last = this.lastCoordinator.get(key)
      if (node === undefined || node === last) continue
      if (last !== undefined && topic === TXN_STATE_TOPIC) this.stats.txnCoordinatorMoves++
      if (last !== undefined && topic === OFFSETS_TOPIC) this.stats.groupCoordinatorMoves++
      this.faults.push(`${fmt(this.world.nowMs())} coordinator of ${key} on ${node}`)
      this.lastCoordinator.set(key, node)
    }
  }

  // ---- heal, converge, settle

  private async healAndConverge(workload: readonly Promise<void>[]): Promise<number> {
    const world = this.world
    this.workloadRunning = false
    await this.injector.healAll()
    this.zombieCut = undefined
    for (const slot of this.slots) if (slot.current === undefined && slot.restartAtMs !== undefined) this.startProcessor(slot)
    const bounds = { who: 'the source or the reader', stopMsMax: SOURCE_STOP_MS_MAX, convergeMsMax: CONVERGE_MS_MAX }
    for (const complaint of await awaitStopAndConvergence(this.cluster, this.watched, workload, bounds)) this.liveness(complaint)
    this.noteCoordinators()
    return world.nowMs()
  }

  /** Reads `in`, waits until the group committed to its end and `out` is stable, then reads `out` read_committed. */
  private async settlePipeline(convergedAtMs: number): Promise<{ state: FinalTxnState; settledAfterMs: number | undefined }> {
    const world = this.world
    const clock = world.process(SOURCE_HOST).env.clock
    const inputs: LogRecord[] | undefined = []
    let inputsRead = true
    for (let partition = 0; partition < this.inPartitions; partition++) {
      const log = await settle(world, fetchAllWithRetries(this.source, clock, IN_TOPIC, partition), 120_000)
      if (log === undefined) inputsRead = false
      else for (const [offset, value] of dataValues(log)) inputs.push({ partition, offset, value })
    }
    const ends = new Map<number, number>()
    for (const record of inputs) ends.set(record.partition, Math.max(ends.get(record.partition) ?? 0, record.offset + 1))
    let behind: string[] = ['not looked at']
    let settledAfterMs: number | undefined
    const deadlineMs = convergedAtMs + this.options.settleMsMax
    while (world.nowMs() < deadlineMs) {
      await world.runFor(SETTLE_POLL_MS)
      behind = await settle(world, this.behind(ends), 60_000)
      if (behind.length === 0) {
        settledAfterMs = world.nowMs() - convergedAtMs
        break
      }
    }
    if (settledAfterMs === undefined) {
      this.liveness(`the pipeline did not settle within ${this.options.settleMsMax} ms of converging: ${behind.join(' ')}; processors ${this.processors.filter((p) => p.state !== 'stopped').map((p) => `${p.name}:${p.state}`).join(' ')}`)
    }
    const outputs = new Map<number, LogRecord[] | undefined>()
    for (let partition = 0; partition < this.outPartitions; partition++) {
      const read = await settle(world, this.readWithRetries(clock, partition), 120_000)
      outputs.set(partition, read)
    }
    return { state: { atMs: world.nowMs(), inputs: inputsRead ? inputs : undefined, outputs, settled: settledAfterMs !== undefined }, settledAfterMs }
  }

  /** What keeps the pipeline from being settled: partitions of `in` not committed to their end, partitions of `out` not stable. */
  private async behind(ends: ReadonlyMap<number, number>): Promise<string[]> {
    const out: string[] = []
    try {
      const answer = await this.source.fetchOffsets({ groupId: GROUP_ID })
      const committed = new Map(answer.offsets.filter((entry) => entry.topic === IN_TOPIC).map((entry) => [entry.partition, entry.offset]))
      for (const [partition, end] of ends) if ((committed.get(partition) ?? -1) < end) out.push(`${IN_TOPIC}/${partition}:${committed.get(partition) ?? 'none'}<${end}`)
    } catch (error) {
      out.push(`fetchOffsets: ${error instanceof SkeinError ? error.errorName : String(error)}`)
    }
    for (let partition = 0; partition < this.outPartitions; partition++) {
      try {
        const answer = await this.source.fetch(OUT_TOPIC, partition, 0, 1, 0, 1, 'read_committed')
        if (answer.lastStableOffset < answer.highWatermark) out.push(`${OUT_TOPIC}/${partition}:lso ${answer.lastStableOffset}<hw ${answer.highWatermark}`)
      } catch (error) {
        out.push(`${OUT_TOPIC}/${partition}: ${error instanceof SkeinError ? error.errorName : String(error)}`)
      }
    }
    return out
  }

  private async readWithRetries(clock: Clock, partition: number): Promise<LogRecord[] | undefined> {
    for (let attempt = 0; attempt < 20; attempt++) {
      try {
        return (await readCommittedLog(this.source, OUT_TOPIC, partition)).records
      } catch {
        await sleep(clock, 500)
      }
    }
    return undefined
  }

  private result({ state, settledAfterMs }: { state: FinalTxnState; settledAfterMs: number | undefined }): TxnSimResult {
    const checker = this.checker
    const counts = this.injector.counts
    return {
      seed: this.options.seed,
      faultMode: this.menu.mode,
      slots: this.slots.length,
      inPartitions: this.inPartitions,
      outPartitions: this.outPartitions,
      inputs: state.inputs?.length ?? 0,
      outputs: [...state.outputs.values()].reduce((sum, records) => sum + (records?.length ?? 0), 0),
      txnsBegun: this.stats.txnsBegun,
      txnsCommitted: checker.committedTxns,
      txnsAborted: checker.abortedTxns,
      instances: checker.instances.length,
      processorCrashes: this.stats.processorCrashes,
      processorRestarts: this.stats.processorRestarts,
      zombieCuts: this.stats.zombieCuts,
      zombieCommits: checker.zombieCommits,
      fencedErrors: this.stats.fencedErrors,
      crashes: (counts.get(FaultKind.crash) ?? 0) + (counts.get(FaultKind.tornWrite) ?? 0),
      coordinatorAims: this.stats.coordinatorAims,
      partitions: (counts.get(FaultKind.partition) ?? 0) + (counts.get(FaultKind.oneWay) ?? 0),
      txnCoordinatorMoves: this.stats.txnCoordinatorMoves,
      groupCoordinatorMoves: this.stats.groupCoordinatorMoves,
      reads: checker.reads.length,
      faults: this.faults,
      violations: [...checker.violations].sort((a, b) => a.atMs - b.atMs),
      settledAfterMs,
      events: this.world.scheduler.eventsProcessed,
      virtualMs: this.world.nowMs(),
      trace: this.world.traceHex(),
    }
  }
}

/** Every record of a partition a read_committed reader sees, from offset 0 to the last stable offset. */
export async function readCommittedLog(client: BrokerClient, topic: string, partition: number): Promise<{ records: LogRecord[]; lastStableOffset: number; highWatermark: number }> {
  const records: LogRecord[] = []
  let next = 0
  for (;;) {
    const response = await client.fetch(topic, partition, next, READ_BYTES_MAX, 0, 1, 'read_committed')
    const fetched = batchViews(response.records, { withValues: false })
    for (const view of readCommitted(response.records, response.abortedTransactions ?? []).views) {
      for (const batch of batchViews(view)) {
        batch.values.forEach((value, i) => {
          if (batch.baseOffset + i >= next) records.push({ partition, offset: batch.baseOffset + i, value })
        })
      }
    }
    const last = fetched.at(-1)
    if (last === undefined || last.lastOffset + 1 >= response.lastStableOffset) return { records, lastStableOffset: response.lastStableOffset, highWatermark: response.highWatermark }
    next = last.lastOffset + 1
  }
}

/** The command that replays one seed. */
export function replayCommand(seed: number, options: { faultPhaseMs?: number; liveGeneration?: boolean } = {}): string {
  const { faultPhaseMs, liveGeneration } = options
  const flags = [faultPhaseMs === undefined || faultPhaseMs === TXN_SIM_FAULT_PHASE_MS_DEFAULT ? '' : ` --fault-ms ${faultPhaseMs}`, liveGeneration === true ? ' --live-generation' : ''].join('')
  return `npm run sim:txn -- --seed ${seed}${flags}`
}

/** One line per seed: what ran, and ok or the first violation. */
export function summarize(result: TxnSimResult): string {
  const head =
    `seed=${result.seed} mode=${result.faultMode} slots=${result.slots} in=${result.inputs}/${result.inPartitions}p out=${result.outputs}/${result.outPartitions}p ` +
    `txns=${result.txnsCommitted}/${result.txnsBegun}(aborted=${result.txnsAborted}) instances=${result.instances}(crashed=${result.processorCrashes},restarted=${result.processorRestarts}) ` +
    `zombies=${result.zombieCuts}(commits=${result.zombieCommits},fenced=${result.fencedErrors}) crashes=${result.crashes} aimedAtCoord=${result.coordinatorAims} splits=${result.partitions} ` +
    `coordMoves=txn:${result.txnCoordinatorMoves},group:${result.groupCoordinatorMoves} reads=${result.reads} settled=${result.settledAfterMs === undefined ? 'no' : `${Math.round(result.settledAfterMs)}ms`} ` +
    `virtualMs=${Math.round(result.virtualMs)} events=${result.events} trace=${result.trace}`
  const first = result.violations[0]
  return first === undefined ? `${head} ok` : `${head} VIOLATIONS=${result.violations.length} first: ${formatViolation(first)}`
}
