/**
 * One seeded run of the whole system under the full fault menu (`npm run sim -- --seed N`):
 * N complete nodes (default 5, the first three voting in the metadata quorum) on a simulated
 * world; one topic of 2 to 4 partitions, replication factor 3 (createTopicWithRetries); producers of every kind
 * (idempotent, acks=all, acks=1), consumers by assignment and a consumer group, each client on
 * a host of its own, writing a history of every operation (history.ts); and a fault menu drawn
 * from the seed (menu.ts, faults.ts) run for the fault phase.
 *
 * Then the liveness phase: every fault heals, every node that was not lost runs again, and
 * within bounded virtual time the cluster must converge (one leader per partition that every
 * replica follows, caught up), take a new write on every partition, and the consumers must
 * read every record to the end of every log (the group processing and committing it all).
 * The checker (checker.ts) then judges the history and the final state.
 */
import { BrokerClient } from '../../src/client/index.js'
import { FAST_SWIM_SETTINGS } from '../../src/membership/index.js'
import type { NodeConfig } from '../../src/node.js'
import { OFFSETS_TOPIC, replicaActorId } from '../../src/wire/broker-protocol.js'
import { encodeRecordBatch } from '../../src/log/record-batch.js'
import { type BatchView, partitionKey } from '../broker/checker.js'
import { converged, createTopicWithRetries, fetchAllWithRetries } from '../broker/scenario.js'
import { dataValues, type OffsetsRead } from '../group/checker.js'
import { SIM_CLUSTER_ID, SIM_CLUSTER_SECRET, SIM_NODE_PORT, SimCluster } from '../cluster.js'
import { Prng } from '../prng.js'
import { settle } from '../settle.js'
import { World } from '../world.js'
import { AssignedConsumerHost } from './assigned.js'
import { type Anomaly, AnomalyKind, FullChecker } from './checker.js'
import { type ClientsContext, sleep } from './clients.js'
import { FaultInjector, type FaultTarget, reassignAfterMs } from './faults.js'
import { History, Outcome, type ProduceOp } from './history.js'
import { GROUP_ID, GroupMembers, MEMBER_SLOTS, drawAssignors } from './members.js'
import { FAULT_CLASSES, type FaultClass, type FaultMenu, describeMenu, drawMenu } from './menu.js'
import { ReplicaObserver } from './observer.js'
import { ProducerHost, drawProducerKind } from './producers.js'
import { TraceRecorder } from './trace-log.js'

export const FULL_SIM_NODES_DEFAULT = 5
export const FULL_SIM_NODES_MIN = 3
export const FULL_SIM_NODES_MAX = 9
/** Virtual time of the fault phase by default. */
export const FULL_SIM_DURATION_MS_DEFAULT = 8_000
export const TOPIC = 'events'
const ADMIN_HOST = 'admin'
const CONTROLLER_COUNT = 3
/** Longer than any run: replicas never move (unless the menu loses nodes for good). */
const REASSIGN_NEVER_MS = 3_600_000
/** What the broker allows of sessions: low enough for the members' short sessions, and a short first-rebalance wait. */
const GROUP_LIMITS = { sessionTimeoutMsMin: 500, sessionTimeoutMsMax: 60_000, membersMax: 100, initialRebalanceDelayMs: 200 }

/** After healing: how long the producers have to finish what they had in flight. */
const PRODUCERS_STOP_MS_MAX = 60_000
/** After healing: how long the cluster has to converge. */
const CONVERGE_MS_MAX = 30_000
/** After converging: how long a write to each partition may take to be acknowledged. */
const FINAL_WRITE_MS_MAX = 30_000
/** After the final writes: how long the consumers have to read (and the group to process and commit) every record. */
const SETTLE_MS_MAX = 60_000
const SETTLE_POLL_MS = 500
/** How long the cluster must stay converged before the final snapshot (a pending leader transfer runs meanwhile). */
const STABLE_FOR_MS = 3_000
const STABLE_ATTEMPTS_MAX = 4
/** How a log that went offline after a disk error answers reads (src/log/log.ts). */
const DISK_ERROR_OFFLINE = /offline after a disk error/
/** Members running after healing, at least. */
const MEMBERS_AFTER_HEAL_MIN = 2

export interface FullSimOptions {
  readonly seed: number
  /** Fault classes to draw from (default all). */
  readonly faults?: readonly FaultClass[]
  /** Nodes at the start (default 5). */
  readonly nodes?: number
  /** Virtual time of the fault phase. */
  readonly durationMs?: number
  /** Keep every event, log entry and operation for a readable trace (`--trace FILE`). */
  readonly recordTrace?: boolean
}

export interface FullSimResult {
  readonly seed: number
  readonly menu: FaultMenu
  readonly partitions: number
  readonly produces: number
  readonly acked: number
  readonly ackedAllRecords: number
  readonly unknown: number
  readonly failed: number
  readonly polls: number
  readonly processed: number
  /** Duplicates from non-idempotent producers' retries (allowed). */
  readonly duplicatesAllowed: number
  readonly faultCounts: ReadonlyMap<string, number>
  readonly faults: readonly string[]
  readonly anomalies: readonly Anomaly[]
  readonly convergedAfterMs: number | undefined
  readonly settledAfterMs: number | undefined
  readonly events: number
  readonly virtualMs: number
  readonly trace: string
  /** The readable event log, when asked for. */
  readonly traceLines: readonly string[] | undefined
}

/** Draws one seed's run, runs it, and checks it. */
export async function runFullSim(options: FullSimOptions): Promise<FullSimResult> {
  const run = await FullSim.start(options)
  // A rejection nobody handles would kill a real node: an anomaly of this run (not the end of the sweep).
  const onRejection = (reason: unknown): void => {
    const detail = reason instanceof Error ? (reason.stack ?? reason.message).split('\n').slice(0, 6).join(' | ') : String(reason)
    run.checker.note(AnomalyKind.unhandledRejection, run.world.nowMs(), detail)
  }
  process.on('unhandledRejection', onRejection)
  try {
    return await run.run()
  } finally {
    process.off('unhandledRejection', onRejection)
  }
}

class FullSim implements ClientsContext {
  readonly history = new History()
  readonly checker: FullChecker
  readonly topic = TOPIC
  readonly world: World
  readonly faults: string[] = []
  private readonly observer: ReplicaObserver
  private readonly injector: FaultInjector
  private readonly producers: ProducerHost[] = []
  private readonly assigned: AssignedConsumerHost[] = []
  private readonly members: GroupMembers
  private admin!: BrokerClient
  private partitionCountValue = 0
  /** The workload topic's partitions and the group's offsets partitions, with their replicas (refreshed from metadata). */
  private partitionsOfInterest: { topic: string; partition: number; replicas: readonly string[] }[] = []
  /** Client hosts of each kind, drawn once (see clientHostNames). */
  private producerCount = 0
  private assignedCount = 0

  private constructor(
    private readonly options: Required<Omit<FullSimOptions, 'recordTrace'>> & { recordTrace: boolean },
    readonly cluster: SimCluster,
    private readonly menu: FaultMenu,
    private readonly draws: Prng,
    private readonly recorder: TraceRecorder | undefined,
  ) {
    this.world = cluster.world
    const assignors = drawAssignors(draws)
    this.members = new GroupMembers(this, assignors, draws.fork('members'))
    this.checker = new FullChecker(this.history, { cooperative: this.members.cooperative })
    this.injector = new FaultInjector(this.faultTarget(), menu, draws.fork('faults'), (line) => recorder?.line(this.world.nowMs(), `fault ${line}`))
    const corrupt = (detail: string): void => this.note(`after healing, the damaged replica ${detail}`)
    const excused = (nodeId: string, error: unknown): boolean =>
      nodeId === this.injector.damagedNode || (this.injector.diskFullNodes.has(nodeId) && DISK_ERROR_OFFLINE.test(String(error)))
    this.observer = new ReplicaObserver(cluster, this.checker, excused, () => this.injector.damagedNode, corrupt)
    recorder?.attach(this.world, this.history)
  }

  get partitionCount(): number {
    return this.partitionCountValue
  }

  static async start(options: FullSimOptions): Promise<FullSim> {
    const full = {
      seed: options.seed,
      faults: options.faults ?? FAULT_CLASSES,
      nodes: options.nodes ?? FULL_SIM_NODES_DEFAULT,
      durationMs: options.durationMs ?? FULL_SIM_DURATION_MS_DEFAULT,
      recordTrace: options.recordTrace ?? false,
    }
    if (full.nodes < FULL_SIM_NODES_MIN || full.nodes > FULL_SIM_NODES_MAX) throw new RangeError(`nodes must be in [${FULL_SIM_NODES_MIN}, ${FULL_SIM_NODES_MAX}], got ${full.nodes}`)
    const root = Prng.fromSeed(full.seed).fork('scenario:full')
    const menu = drawMenu(root.fork('menu'), full.faults)
    const draws = root.fork('run')
    const reassign = reassignAfterMs(menu, draws)
    const nodeIds = Array.from({ length: full.nodes }, (_, i) => `n${i + 1}`)
    const controllers = nodeIds.slice(0, CONTROLLER_COUNT)
    const offsetsTopicPartitions = 1 + draws.int(2)
    const configFor = (): Partial<NodeConfig> => ({
      controllers,
      swimSettings: FAST_SWIM_SETTINGS,
      broker: {
        offsetsTopicPartitions,
        groupLimits: GROUP_LIMITS,
        ...(reassign === undefined
          ? { replicaReassignAfterMs: REASSIGN_NEVER_MS, controllerReplaceAfterMs: REASSIGN_NEVER_MS }
          : { replicaReassignAfterMs: reassign, controllerReplaceAfterMs: reassign, rebalanceIntervalMs: 500 }),
      },
    })
    const recorder = full.recordTrace ? new TraceRecorder() : undefined
    const world = new World({ seed: full.seed, net: menu.link, ...(recorder === undefined ? {} : recorder.worldOptions()) })
    const cluster = new SimCluster(world, nodeIds, () => ({}), configFor)
    for (const nodeId of nodeIds) world.addNode(nodeId)
    for (const nodeId of nodeIds) await cluster.boot(nodeId)
    const sim = new FullSim(full, cluster, menu, draws, recorder)
    sim.note(`nodes=${nodeIds.join(',')} controllers=${controllers.join(',')} reassign=${reassign === undefined ? 'off' : `${reassign}ms`} assignors=${sim.members.assignors.join(',')}`)
    sim.note(describeMenu(menu))
    return sim
  }

  log(line: string): void {
    this.note(line)
  }

  private note(line: string): void {
    const stamped = `t=${(this.world.nowMs() / 1000).toFixed(3)}s ${line}`
    this.faults.push(stamped)
    this.recorder?.line(this.world.nowMs(), `run ${line}`)
  }

  async run(): Promise<FullSimResult> {
    await this.setUp()
    this.observer.start()
    this.startWorkload()
    const reader = this.members.readDuringRun(ADMIN_HOST, () => this.admin)
    await this.injector.run(this.options.durationMs)
    const healedAtMs = this.world.nowMs()
    await this.heal(reader)
    const convergedAfterMs = await this.converge(healedAtMs)
    await this.finalWrites()
    const settled = await this.settleConsumers()
    await this.holdConverged()
    const anomalies = await this.judge(settled.committed, settled.settledAfterMs !== undefined)
    return this.result(anomalies, convergedAfterMs, settled.settledAfterMs)
  }

  // ---- set-up

  private async setUp(): Promise<void> {
    const world = this.world
    const hosts = [ADMIN_HOST, ...this.clientHostNames()]
    for (const host of hosts) world.addNode(host)
    this.admin = await settle(world, BrokerClient.connect(world.process(ADMIN_HOST).env, {
      seeds: this.cluster.nodeIds.map((id) => `${id}:${SIM_NODE_PORT}`),
      clusterId: SIM_CLUSTER_ID,
      clusterSecret: SIM_CLUSTER_SECRET,
      clientId: 'admin',
      requestTimeoutMs: 2_000,
      retriesMax: 3,
      retryBackoffMs: 50,
    }))
    this.partitionCountValue = 2 + this.draws.int(3)
    const created = await settle(world, createTopicWithRetries(this.admin, TOPIC, this.partitionCountValue))
    this.note(`topic ${TOPIC}: ${created.partitions.map((replicas, p) => `${p}=[${replicas.join(',')}]`).join(' ')}`)
    await settle(world, this.admin.waitForLeaders(TOPIC, 60_000))
    // The first findCoordinator creates the offsets topic (while every node is up).
    const coordinator = await settle(world, this.findCoordinator())
    await settle(world, this.admin.waitForLeaders(OFFSETS_TOPIC, 60_000))
    await this.refreshPartitions()
    this.observer.addGroup(this.cluster.nodeIds.slice(0, CONTROLLER_COUNT))
    for (const { replicas } of this.partitionsOfInterest) this.observer.addGroup(replicas)
    this.note(`group ${GROUP_ID}: coordinator ${coordinator.nodeId} (${OFFSETS_TOPIC}/${coordinator.partition})`)
  }

  /** Client hosts: producers p1.., consumers by assignment a1.., group members g1..g3 (drawn once). */
  private clientHostNames(): string[] {
    if (this.producerCount === 0) {
      this.producerCount = 2 + this.draws.int(3)
      this.assignedCount = 1 + this.draws.int(2)
    }
    const producers = Array.from({ length: this.producerCount }, (_, i) => `p${i + 1}`)
    const assigned = Array.from({ length: this.assignedCount }, (_, i) => `a${i + 1}`)
    return [...producers, ...assigned, ...MEMBER_SLOTS]
  }

  private async findCoordinator(): Promise<{ partition: number; nodeId: string }> {
    let lastError: unknown
    for (let attempt = 0; attempt < 10; attempt++) {
      try {
        return await this.admin.findCoordinator(GROUP_ID)
      } catch (error) {
        lastError = error
        await sleep(this.world, ADMIN_HOST, 500)
      }
    }
    throw new Error(`could not find the coordinator of ${GROUP_ID}: ${String(lastError)}`)
  }

  /** The replica sets of the workload and offsets topics, as the metadata has them now. */
  private async refreshPartitions(): Promise<void> {
    const answer = await settle(this.world, this.admin.metadata([TOPIC, OFFSETS_TOPIC]).catch(() => undefined), 30_000)
    if (answer === undefined) return
    const next = answer.topics.flatMap((topic) => topic.partitions.map((p) => ({ topic: topic.name, partition: p.partition, replicas: [...p.replicas] })))
    if (next.length >= this.partitionCountValue) this.partitionsOfInterest = next
  }

  // ---- workload

  private startWorkload(): void {
    const draws = this.draws.fork('workload')
    for (let i = 0; i < this.producerCount; i++) {
      const host = `p${i + 1}`
      const producer = new ProducerHost(this, host, drawProducerKind(draws), draws.fork(host))
      this.producers.push(producer)
      producer.start()
    }
    for (let i = 0; i < this.assignedCount; i++) {
      const consumer = new AssignedConsumerHost(this, `a${i + 1}`, 200 + draws.int(400))
      this.assigned.push(consumer)
      consumer.start(true)
    }
    this.members.ensure(2 + draws.int(MEMBER_SLOTS.length - 1))
  }

  private faultTarget(): FaultTarget {
    return {
      cluster: this.cluster,
      clientHosts: this.clientHostNames(),
      groups: () => this.observer.groups.values(),
      churnClients: (random) => {
        const roll = random.int(3)
        if (roll === 0) return this.producers[random.int(this.producers.length)]?.crash(random)
        if (roll === 1) return this.assigned[random.int(this.assigned.length)]?.churn(random)
        return this.members.churn(random)
      },
    }
  }

  // ---- liveness phase

  private async heal(reader: Promise<void>): Promise<void> {
    const world = this.world
    const stopped = Promise.all([...this.producers.map((producer) => producer.stop()), reader])
    this.members.stopReading()
    await this.injector.healAll()
    let done = false
    void stopped.then(() => (done = true))
    await world.runUntil(() => done, { timeoutMs: PRODUCERS_STOP_MS_MAX })
    if (!done) {
      const pending = this.history.produces().filter((op) => op.outcome === undefined && world.process(op.client.split('#')[0] as string).alive)
      this.liveness(`the producers did not stop within ${PRODUCERS_STOP_MS_MAX} ms of healing; sends in flight: ${pending.map((op) => `${op.client} ${op.topic}/${op.partition} [${op.values.join(',')}] since ${op.invokedAtMs.toFixed(1)} ms`).join('; ')}`)
    }
  }

  private liveness(detail: string): void {
    this.checker.note(AnomalyKind.liveness, this.world.nowMs(), detail)
  }

  /** Waits for every partition (and the offsets topic's) to have one leader every replica follows; the time it took. */
  private async converge(healedAtMs: number): Promise<number | undefined> {
    const world = this.world
    const deadlineMs = world.nowMs() + CONVERGE_MS_MAX
    while (world.nowMs() < deadlineMs) {
      await world.runFor(250)
      await this.refreshPartitions()
      if (converged(this.cluster, this.partitionsOfInterest)) return world.nowMs() - healedAtMs
    }
    this.liveness(`the cluster did not converge within ${CONVERGE_MS_MAX} ms of healing: ${this.unconverged().join('; ')}`)
    return undefined
  }

  /** Each partition of interest that has not converged, with its replicas' states. */
  private unconverged(): string[] {
    const out: string[] = []
    for (const p of this.partitionsOfInterest) {
      if (converged(this.cluster, [p])) continue
      const states = p.replicas.map((nodeId) => {
        const replica = this.cluster.nodes.get(nodeId)?.services?.hostedReplicas.get(replicaActorId(p.topic, p.partition, nodeId))?.replica
        if (replica === undefined) return `${nodeId}:${this.world.process(nodeId).alive ? 'not hosted' : 'down'}`
        return `${nodeId}:${replica.isClosed ? 'stopped ' : ''}${replica.role}/e${replica.epoch}/hw${replica.highWatermark}/leo${replica.logEndOffset}`
      })
      out.push(`${partitionKey(p.topic, p.partition)} [${states.join(' ')}]`)
    }
    return out
  }

  /** One more acknowledged write on every partition, after healing. */
  private async finalWrites(): Promise<void> {
    const world = this.world
    const writes = Array.from({ length: this.partitionCountValue }, async (_, partition) => {
      const values = [`${this.options.seed}-final-${partition}`]
      const op: ProduceOp = this.history.add({ type: 'produce', client: 'final', idempotent: false, acks: 'all', topic: TOPIC, partition, values, invokedAtMs: world.nowMs(), completedAtMs: undefined, outcome: undefined, offsets: undefined, error: undefined })
      const deadlineMs = world.nowMs() + FINAL_WRITE_MS_MAX
      let lastError: unknown
      while (world.nowMs() < deadlineMs) {
        const batch = encodeRecordBatch({ records: values.map((value) => ({ key: null, value: new TextEncoder().encode(value), timestamp: Math.floor(world.process(ADMIN_HOST).clock.wallMs()) })) })
        try {
          const response = await this.admin.produce(TOPIC, partition, batch, -1)
          this.history.complete(op, world.nowMs(), Outcome.ok, { offsets: [response.baseOffset] })
          return
        } catch (error) {
          lastError = error
          await sleep(world, ADMIN_HOST, 500)
        }
      }
      this.history.complete(op, world.nowMs(), Outcome.unknown, { error: String(lastError) })
      this.liveness(`${TOPIC}/${partition} refused writes for ${FINAL_WRITE_MS_MAX} ms after healing: ${String(lastError)}`)
    })
    await settle(world, Promise.all(writes), FINAL_WRITE_MS_MAX * 2)
  }

  private async readLogs(): Promise<Map<string, BatchView[] | undefined>> {
    const logs = new Map<string, BatchView[] | undefined>()
    const clock = this.world.process(ADMIN_HOST).clock
    for (let partition = 0; partition < this.partitionCountValue; partition++) {
      logs.set(partitionKey(TOPIC, partition), await settle(this.world, fetchAllWithRetries(this.admin, clock, TOPIC, partition), FINAL_WRITE_MS_MAX * 2))
    }
    return logs
  }

  /**
   * Every consumer by assignment reads to the end of every log, and the group processes every
   * record and commits to the end; the last read of the committed offsets and when it settled.
   */
  private async settleConsumers(): Promise<{ committed: OffsetsRead | undefined; settledAfterMs: number | undefined }> {
    const world = this.world
    const startedAtMs = world.nowMs()
    for (const consumer of this.assigned) consumer.start(false)
    this.members.ensure(MEMBERS_AFTER_HEAL_MIN)
    const logs = await this.readLogs()
    const offsets = new Map<string, number[]>()
    for (const [key, log] of logs) offsets.set(key, log === undefined ? [] : [...dataValues(log).keys()])
    const ends = Array.from({ length: this.partitionCountValue }, (_, p) => Math.max(-1, ...(offsets.get(partitionKey(TOPIC, p)) ?? [])) + 1)
    let committed: OffsetsRead | undefined
    const deadlineMs = startedAtMs + SETTLE_MS_MAX
    while (world.nowMs() < deadlineMs) {
      await world.runFor(SETTLE_POLL_MS)
      if (!this.assigned.every((consumer) => consumer.caughtUp(ends)) || !this.members.processedAll(offsets)) continue
      committed = await settle(world, this.members.readCommitted(this.admin), 60_000)
      if (committed !== undefined && ends.every((end, p) => end === 0 || (committed?.offsets.get(partitionKey(TOPIC, p)) ?? -1) >= end)) {
        return { committed, settledAfterMs: world.nowMs() - startedAtMs }
      }
    }
    const behind = this.assigned.filter((consumer) => !consumer.caughtUp(ends)).map((consumer) => consumer.host)
    this.liveness(`the consumers did not read to the end within ${SETTLE_MS_MAX} ms (ends ${ends.join(',')}): behind by assignment [${behind.join(',')}]; group processed all: ${this.members.processedAll(offsets)}; committed ${committed === undefined ? 'unread' : [...committed.offsets].map(([key, offset]) => `${key}@${offset}`).join(' ')}; members ${this.members.describe()}`)
    return { committed, settledAfterMs: undefined }
  }

  /** Converged and staying so for a while, so the final snapshot does not catch a leader transfer mid-way. */
  private async holdConverged(): Promise<void> {
    for (let attempt = 0; attempt < STABLE_ATTEMPTS_MAX; attempt++) {
      await this.world.runUntil(() => converged(this.cluster, this.partitionsOfInterest), { timeoutMs: 5_000 })
      await this.world.runFor(STABLE_FOR_MS)
      await this.refreshPartitions()
      if (converged(this.cluster, this.partitionsOfInterest)) return
    }
  }

  private async judge(committed: OffsetsRead | undefined, settled: boolean): Promise<Anomaly[]> {
    this.observer.stop()
    const clientReads = await this.readLogs()
    const partitions = this.partitionsOfInterest.filter((p) => p.topic === TOPIC)
    const broker = await this.observer.final(partitions, clientReads)
    // Shown with the faults (--verbose): a replica still stopped after healing explains a read it could not serve.
    const stopped = this.observer.stoppedReplicas()
    if (stopped.length > 0) this.note(`after healing, replicas stopped after a disk error: ${stopped.join(', ')}`)
    const groupPartitions = partitions.map(({ topic, partition }) => ({ topic, partition }))
    return this.checker.check({ atMs: this.world.nowMs(), broker, group: { partitions: groupPartitions, committed, settled } })
  }

  private result(anomalies: Anomaly[], convergedAfterMs: number | undefined, settledAfterMs: number | undefined): FullSimResult {
    const produces = this.history.produces()
    const ok = produces.filter((op) => op.outcome === Outcome.ok)
    return {
      seed: this.options.seed,
      menu: this.menu,
      partitions: this.partitionCountValue,
      produces: produces.length,
      acked: ok.length,
      ackedAllRecords: ok.filter((op) => op.acks === 'all').reduce((sum, op) => sum + op.values.length, 0),
      unknown: produces.filter((op) => op.outcome === undefined || op.outcome === Outcome.unknown).length,
      failed: produces.filter((op) => op.outcome === Outcome.failed).length,
      polls: this.history.ops.filter((op) => op.type === 'poll').length,
      processed: this.history.ops.filter((op) => op.type === 'process').length,
      duplicatesAllowed: this.checker.duplicatesAllowed,
      faultCounts: this.injector.counts,
      faults: [...this.faults, ...this.injector.log].sort(compareStamped),
      anomalies,
      convergedAfterMs,
      settledAfterMs,
      events: this.world.scheduler.eventsProcessed,
      virtualMs: this.world.nowMs(),
      trace: this.world.traceHex(),
      traceLines: this.recorder?.lines(this.world),
    }
  }
}

/** Orders `t=1.234s ...` lines by their time, stably. */
function compareStamped(a: string, b: string): number {
  return Number(/^t=([\d.]+)s/.exec(a)?.[1] ?? 0) - Number(/^t=([\d.]+)s/.exec(b)?.[1] ?? 0)
}
