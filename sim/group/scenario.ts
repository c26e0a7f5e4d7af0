/**
 * One seeded run of a consumer group under faults (`npm run sim:group -- --seed N`): five
 * complete nodes on a simulated world (sim/cluster.ts), the first three voting in the metadata
 * quorum, `__consumer_offsets` of OFFSETS_TOPIC_PARTITIONS partitions. A producer on a host of
 * its own writes unique values with acks=all to a topic of 4 to 6 partitions (replication
 * factor 3), and 2 to 4 members of one group, each on a host of its own, consume it through
 * the SDK (`Client.consumer({ groupId })`, `subscribe`, `run`), at least once: each record is
 * processed, then its offset committed (automatically, every so often, and in some members by
 * hand every few records).
 *
 * The fault schedule, drawn from the seed, is the broker simulator's (node crashes losing
 * unsynced writes or keeping a torn or partial tail, restarts, partitions both ways or one
 * way, flaky links; "majority" seeds may take out more than a minority of a Raft group), aimed
 * at the group coordinator's node (the leader of the group's offsets partition) half the time,
 * so the coordinator fails over again and again; hosts of members and of the producer are cut
 * off with the nodes now and then. Members come and go meanwhile: some leave, some crash
 * (their process dies, so the coordinator finds out by their session expiring), new ones join.
 *
 * Then everything heals, every node runs again, the cluster converges, at least two members
 * run, and the group has SETTLE_MS_MAX_DEFAULT to process every record and commit to the end
 * of every log. The checker (sim/group/checker.ts) judges the history: sync answers, commits,
 * reads of the committed offsets (every so often during the run, and at the end), processed
 * records, acknowledged writes, and the committed logs read back at the end.
 */
import { BrokerClient, type BrokerClientConfig, Client, type Consumer, type ConsumerConfig } from '../../src/client/index.js'
import { shuffle } from '../../src/env/index.js'
import { encodeRecordBatch } from '../../src/log/record-batch.js'
import { FAST_SWIM_SETTINGS } from '../../src/membership/index.js'
import type { NodeConfig } from '../../src/node.js'
import { type GroupAssignorName, OFFSETS_TOPIC, offsetsPartitionFor, replicaActorId } from '../../src/wire/broker-protocol.js'
import { SkeinError } from '../../src/wire/index.js'
import { SIM_CLUSTER_ID, SIM_CLUSTER_SECRET, SIM_NODE_PORT, SimCluster } from '../cluster.js'
import { Prng } from '../prng.js'
import { settle } from '../settle.js'
import { DiskCrashMode } from '../sim-disk.js'
import type { NetConfig } from '../sim-net.js'
import { World } from '../world.js'
import { partitionKey } from '../broker/checker.js'
import { CONTROLLER_IDS, NODE_IDS, awaitStopAndConvergence, createTopicWithRetries, fetchAllWithRetries, fmt, sleep } from '../broker/scenario.js'
import { connectObserved } from './observed-client.js'
import { type BatchView, type FinalGroupState, GroupChecker, type OffsetsRead, type Violation, dataValues, formatViolation } from './checker.js'

export const GROUP_ID = 'sim-group'
export const TOPIC = 'events'
/** The producer's host, which also reads the committed offsets now and then. */
export const PRODUCER_HOST = 'client'
/** Hosts the members run on, one member at a time each: at most this many members at once. */
export const MEMBER_SLOTS = ['m1', 'm2', 'm3', 'm4'] as const
const OFFSETS_TOPIC_PARTITIONS = 3

export const GROUP_SIM_FAULT_PHASE_MS_DEFAULT = 10_000
/** After converging, how long the group has to process every record and commit to the end. */
export const GROUP_SIM_SETTLE_MS_MAX_DEFAULT = 60_000
const CONVERGE_MS_MAX = 30_000
/** The producer's deadline per request, and retries of retriable errors (each may duplicate a write). */
const REQUEST_TIMEOUT_MS = 2_000
const RETRIES_MAX = 3
/** The members' call deadline (every retry included): a few failovers long. */
const MEMBER_REQUEST_DEADLINE_MS = 10_000
/** Far more than a request with all its retries and backoffs may take. */
const PRODUCER_STOP_MS_MAX = 60_000
/** Longer than any run: replicas never move. */
export const REASSIGN_NEVER_MS = 3_600_000
/** How often (at most) the producer's host reads the group's committed offsets during the run. */
const READ_EVERY_MS_MAX = 1_500
/** Members running once the faults heal, at least. */
const MEMBERS_AFTER_HEAL_MIN = 2
/** How often the settle loop looks at what was processed and committed. */
const SETTLE_POLL_MS = 1_000
/** What the broker allows of sessions: low enough for the members' short sessions, and a short first-rebalance wait. */
export const GROUP_LIMITS = { sessionTimeoutMsMin: 500, sessionTimeoutMsMax: 60_000, membersMax: 100, initialRebalanceDelayMs: 200 }

/** Assignor lists a seed's members share (all members of a group must have one assignor in common). */
const ASSIGNOR_CHOICES: readonly (readonly GroupAssignorName[])[] = [['range'], ['roundrobin'], ['cooperative-sticky'], ['cooperative-sticky', 'range']]

export interface GroupSimOptions {
  readonly seed: number
  /** Virtual time the workload runs under faults. */
  readonly faultPhaseMs?: number
  /** After converging, how long the group has to settle before liveness fails. */
  readonly settleMsMax?: number
}

export interface GroupSimResult {
  readonly seed: number
  readonly faultMode: 'minority' | 'majority'
  readonly partitionCount: number
  readonly assignors: readonly string[]
  readonly produces: number
  readonly acked: number
  readonly ackedRecords: number
  readonly failedProduces: number
  readonly processed: number
  readonly duplicates: number
  readonly memberStarts: number
  readonly memberLeaves: number
  readonly memberCrashes: number
  readonly syncs: number
  readonly generationMax: number
  readonly commits: number
  readonly commitsAcked: number
  readonly reads: number
  readonly crashes: number
  /** Crashes of the node leading the group's offsets partition (the coordinator) at the time. */
  readonly coordinatorCrashes: number
  /** Partitions that cut the coordinator's node off. */
  readonly coordinatorCuts: number
  readonly partitions: number
  /** How often a different node was seen leading the group's offsets partition. */
  readonly coordinatorMoves: number
  readonly faults: readonly string[]
  readonly violations: readonly Violation[]
  /** From converging until the group settled, if it did. */
  readonly settledAfterMs: number | undefined
  readonly events: number
  readonly virtualMs: number
  readonly trace: string
}

interface Member {
  readonly name: string
  readonly slot: string
  readonly incarnation: number
  readonly client: Client
  readonly consumer: Consumer
  state: 'running' | 'leaving' | 'left' | 'crashed' | 'failed'
}

interface Split {
  readonly cut: readonly string[]
  readonly rest: readonly string[]
  readonly oneWay: boolean
  readonly untilMs: number
}

const utf8 = new TextDecoder()

/** Draws the workload and faults of one seed, runs them, and checks the history. */
export async function runGroupSim(options: GroupSimOptions): Promise<GroupSimResult> {
  const sim = await GroupSim.start(options)
  return sim.run()
}

class GroupSim {
  readonly checker: GroupChecker
  readonly faults: string[] = []
  private readonly world: World
  private readonly draws: Prng
  private readonly workloadDraws: Prng
  private readonly faultDraws: Prng
  private producer!: BrokerClient
  private partitionCount = 0
  /** Raft groups (sorted voter lists) whose majority minority-mode faults must spare. */
  private readonly groups = new Map<string, readonly string[]>()
  private readonly groupPartitions: { topic: string; partition: number; replicas: readonly string[] }[] = []
  private readonly members = new Map<string, Member>()
  private readonly memberStartsBySlot = new Map<string, number>()
  private readonly down = new Map<string, number>()
  private split: Split | undefined
  private flakyUntilMs = Number.POSITIVE_INFINITY
  private workloadRunning = true
  private lastCoordinator: string | undefined
  /** Found by the run itself (not the checker): a cluster that did not converge, a group that did not settle. */
  private readonly livenessViolations: Violation[] = []
  readonly stats = { produces: 0, failedProduces: 0, memberStarts: 0, memberLeaves: 0, memberCrashes: 0, crashes: 0, coordinatorCrashes: 0, coordinatorCuts: 0, partitions: 0, coordinatorMoves: 0 }

  private constructor(
    private readonly options: Required<GroupSimOptions>,
    private readonly cluster: SimCluster,
    draws: Prng,
    private readonly faultMode: 'minority' | 'majority',
    private readonly assignors: readonly GroupAssignorName[],
  ) {
    this.world = cluster.world
    this.checker = new GroupChecker({ cooperative: assignors[0] === 'cooperative-sticky' })
    this.draws = draws
    this.workloadDraws = draws.fork('workload')
    this.faultDraws = draws.fork('faults')
  }

  static async start(options: GroupSimOptions): Promise<GroupSim> {
    const full = { faultPhaseMs: GROUP_SIM_FAULT_PHASE_MS_DEFAULT, settleMsMax: GROUP_SIM_SETTLE_MS_MAX_DEFAULT, ...options }
    const draws = Prng.fromSeed(full.seed).fork('scenario:group')
    const net: Partial<NetConfig> = {
      latencyJitterMsMean: 0.1 + draws.float() * 2,
      spikeProbability: draws.chance(0.5) ? draws.float() * 0.02 : 0,
      breakProbability: draws.chance(0.5) ? draws.float() * 0.0005 : 0,
    }
    const faultMode = draws.chance(0.2) ? 'majority' : 'minority'
    const assignors = ASSIGNOR_CHOICES[draws.int(ASSIGNOR_CHOICES.length)] as readonly GroupAssignorName[]
    const configFor = (): Partial<NodeConfig> => ({
      controllers: [...CONTROLLER_IDS],
      swimSettings: FAST_SWIM_SETTINGS,
      broker: { replicaReassignAfterMs: REASSIGN_NEVER_MS, controllerReplaceAfterMs: REASSIGN_NEVER_MS, offsetsTopicPartitions: OFFSETS_TOPIC_PARTITIONS, groupLimits: GROUP_LIMITS },
    })
    const cluster = await startCluster(full, net, configFor)
    const sim = new GroupSim(full, cluster, draws, faultMode, assignors)
    sim.faults.push(`mode=${faultMode} assignors=${assignors.join(',')} links: jitterMean=${net.latencyJitterMsMean?.toFixed(2)}ms spikes=${net.spikeProbability?.toFixed(3)} breaks=${net.breakProbability?.toExponential(2)}/msg`)
    return sim
  }

  async run(): Promise<GroupSimResult> {
    await this.setUp()
    const producers = this.startProducers()
    const reader = this.readCommittedDuringRun()
    const initialMembers = 2 + this.workloadDraws.int(3)
    for (const slot of MEMBER_SLOTS.slice(0, initialMembers)) this.startMember(slot)
    await this.faultPhase()
    const convergedAtMs = await this.healAndConverge([...producers, reader])
    const final = await this.settleGroup(convergedAtMs)
    this.checker.violations.push(...this.livenessViolations)
    this.checker.check(final.state)
    return this.result(final.settledAfterMs)
  }

  private liveness(detail: string): void {
    this.livenessViolations.push({ atMs: this.world.nowMs(), rule: 'liveness', detail })
  }

  // ---- set-up

  private async setUp(): Promise<void> {
    const world = this.world
    this.producer = await settle(world, BrokerClient.connect(world.addNode(PRODUCER_HOST), this.clientConfig('producer')))
    for (const slot of MEMBER_SLOTS) world.addNode(slot)
    this.partitionCount = 4 + this.draws.int(3)
    const created = await settle(world, createTopicWithRetries(this.producer, TOPIC, this.partitionCount))
    this.faults.push(`topic ${TOPIC}: ${created.partitions.map((replicas, p) => `${p}=[${replicas.join(',')}]`).join(' ')}`)
    await settle(world, this.producer.waitForLeaders(TOPIC, 60_000))
    // The first findCoordinator creates the offsets topic (while every node is up: all its partitions get three replicas).
    const coordinator = await settle(world, this.findCoordinatorWithRetries())
    await settle(world, this.producer.waitForLeaders(OFFSETS_TOPIC, 60_000))
    const metadata = await settle(world, this.producer.metadata([TOPIC, OFFSETS_TOPIC]))
    for (const topic of metadata.topics) {
      for (const p of topic.partitions) this.groupPartitions.push({ topic: topic.name, partition: p.partition, replicas: [...p.replicas] })
    }
    this.addGroup(CONTROLLER_IDS)
    for (const { replicas } of this.groupPartitions) this.addGroup(replicas)
    const offsets = this.groupPartitions.find((p) => p.topic === OFFSETS_TOPIC && p.partition === coordinator.partition)
    this.faults.push(`group ${GROUP_ID}: ${OFFSETS_TOPIC}/${coordinator.partition}=[${offsets?.replicas.join(',') ?? '?'}], coordinator ${coordinator.nodeId}`)
    this.lastCoordinator = coordinator.nodeId
  }

  private async findCoordinatorWithRetries(): Promise<{ partition: number; nodeId: string }> {
    let lastError: unknown
    for (let attempt = 0; attempt < 10; attempt++) {
      try {
        return await this.producer.findCoordinator(GROUP_ID)
      } catch (error) {
        lastError = error
        await sleep(this.world.process(PRODUCER_HOST).env.clock, 500)
      }
    }
    throw new Error(`could not find the coordinator of ${GROUP_ID}: ${String(lastError)}`)
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

  private addGroup(voters: readonly string[]): void {
    const sorted = [...voters].sort()
    this.groups.set(sorted.join(','), sorted)
  }

  // ---- the producer and the reader of committed offsets

  private startProducers(): Promise<void>[] {
    const count = 1 + this.workloadDraws.int(2)
    const pauseMsMax = 20 + this.workloadDraws.int(100)
    return Array.from({ length: count }, (_, k) => this.produceLoop(k, this.workloadDraws.fork(`producer${k}`), pauseMsMax))
  }

  private async produceLoop(k: number, draws: Prng, pauseMsMax: number): Promise<void> {
    const clock = this.world.process(PRODUCER_HOST).env.clock
    for (let sequence = 0; this.workloadRunning; sequence++) {
      const partition = draws.int(this.partitionCount)
      const values = Array.from({ length: 1 + draws.int(3) }, (_, i) => `s${this.options.seed}-p${k}-${sequence}-${i}`)
      const batch = encodeRecordBatch({ records: values.map((value, i) => ({ key: null, value: new TextEncoder().encode(value), timestamp: 1_700_000_000_000 + i })) })
      this.stats.produces++
      try {
        const response = await this.producer.produce(TOPIC, partition, batch, -1)
        this.checker.observeAcked({ topic: TOPIC, partition, baseOffset: response.baseOffset, lastOffset: response.lastOffset, values, atMs: this.world.nowMs() })
      } catch (error) {
        this.stats.failedProduces++
        if (!(error instanceof SkeinError)) this.checker.violations.push({ atMs: this.world.nowMs(), rule: 'client error', detail: `produce to ${TOPIC}/${partition} threw ${error instanceof Error ? error.stack : String(error)}` })
      }
      await sleep(clock, draws.int(pauseMsMax))
    }
  }

  private async readCommittedDuringRun(): Promise<void> {
    const clock = this.world.process(PRODUCER_HOST).env.clock
    const draws = this.workloadDraws.fork('reader')
    while (this.workloadRunning) {
      await sleep(clock, 200 + draws.int(READ_EVERY_MS_MAX))
      if (this.workloadRunning) await this.readCommitted()
    }
  }

  /** One fetchOffsets from the producer's host, observed; undefined if it failed. */
  private async readCommitted(): Promise<OffsetsRead | undefined> {
    const issuedAtMs = this.world.nowMs()
    try {
      const answer = await this.producer.fetchOffsets({ groupId: GROUP_ID })
      const read: OffsetsRead = { issuedAtMs, answeredAtMs: this.world.nowMs(), offsets: new Map(answer.offsets.map((entry) => [partitionKey(entry.topic, entry.partition), entry.offset])) }
      this.checker.observeRead(read)
      return read
    } catch (error) {
      if (!(error instanceof SkeinError)) this.checker.violations.push({ atMs: this.world.nowMs(), rule: 'client error', detail: `fetchOffsets threw ${error instanceof Error ? error.stack : String(error)}` })
      return undefined
    }
  }

  // ---- members

  private startMember(slot: string): void {
    const world = this.world
    const process = world.process(slot)
    const env = process.alive ? process.env : world.restart(slot)
    const incarnation = world.process(slot).incarnation
    const count = (this.memberStartsBySlot.get(slot) ?? 0) + 1
    this.memberStartsBySlot.set(slot, count)
    this.stats.memberStarts++
    const name = `${slot}#${count}`
    const draws = this.workloadDraws.fork(`member:${name}`)
    const sessionTimeoutMs = 1_000 + draws.int(2_000)
    const client = new Client({
      seeds: NODE_IDS.map((id) => `${id}:${SIM_NODE_PORT}`),
      clusterId: SIM_CLUSTER_ID,
      clusterSecret: SIM_CLUSTER_SECRET,
      clientId: `member-${slot}-${count}`,
      env,
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
      requestDeadlineMs: MEMBER_REQUEST_DEADLINE_MS,
      connect: (connectEnv, config) => {
        const alive = (): boolean => this.world.process(slot).alive && this.world.process(slot).incarnation === incarnation
        return connectObserved(connectEnv, config, name, {
          nowMs: () => this.world.nowMs(),
          untilAlive: () => (alive() ? Promise.resolve() : new Promise(() => undefined)),
          synced: (memberId, generation, assignment) => {
            this.checker.observeSync({ atMs: this.world.nowMs(), member: name, memberId, generation, assignment })
            this.faults.push(`${fmt(this.world.nowMs())} member ${name} synced generation ${generation}: [${assignment.map((tp) => tp.partition).join(',')}]`)
          },
          commitIssued: (commit) => {
            this.checker.observeCommit(commit)
            return undefined
          },
        })
      },
    })
    const consumer = client.consumer(simMemberConfig(draws, GROUP_ID, sessionTimeoutMs, this.assignors, REASSIGN_NEVER_MS))
    const member: Member = { name, slot, incarnation, client, consumer, state: 'running' }
    this.members.set(slot, member)
    consumer.subscribe([TOPIC])
    this.faults.push(`${fmt(world.nowMs())} member ${name} starts (session ${sessionTimeoutMs}ms)`)
    const processMsMax = draws.int(20)
    const commitEvery = draws.chance(0.4) ? 1 + draws.int(10) : 0
    let sinceCommit = 0
    consumer
      .run({
        eachMessage: async ({ topic, partition, message }) => {
          await this.unlessDead(member)
          this.checker.observeProcessed({ atMs: world.nowMs(), member: name, topic, partition, offset: message.offset, value: message.value === null ? '<null>' : utf8.decode(message.value) })
          if (processMsMax > 0) await sleep(env.clock, draws.int(processMsMax))
          if (commitEvery > 0 && ++sinceCommit >= commitEvery) {
            sinceCommit = 0
            await consumer.commit().catch(() => undefined)
          }
        },
      })
      .then(
        () => undefined,
        (error: unknown) => {
          if (this.isDead(member) || member.state !== 'running') return
          member.state = 'failed'
          this.checker.violations.push({ atMs: world.nowMs(), rule: 'member failed', detail: `${name}'s consumer stopped with ${error instanceof Error ? (error.stack ?? error.message) : String(error)}` })
        },
      )
  }

  /** The process the member ran in has crashed (or been replaced). */
  private isDead(member: Member): boolean {
    const process = this.world.process(member.slot)
    return !process.alive || process.incarnation !== member.incarnation
  }

  /** Never resolves for a member whose process died: promise chains still pending in it must not act for it. */
  private unlessDead(member: Member): Promise<void> {
    return this.isDead(member) ? new Promise(() => undefined) : Promise.resolve()
  }


  private leaveMember(member: Member): void {
    member.state = 'leaving'
    this.stats.memberLeaves++
    this.faults.push(`${fmt(this.world.nowMs())} member ${member.name} leaves`)
    void (async () => {
      await member.consumer.close().catch(() => undefined)
      await member.client.close().catch(() => undefined)
      if (member.state === 'leaving') member.state = 'left'
    })()
  }

  private crashMember(member: Member): void {
    member.state = 'crashed'
    this.stats.memberCrashes++
    this.faults.push(`${fmt(this.world.nowMs())} member ${member.name} crashes`)
    this.world.crash(member.slot)
  }

  private runningMembers(): Member[] {
    return [...this.members.values()].filter((member) => member.state === 'running')
  }

  private freeSlots(): string[] {
    return MEMBER_SLOTS.filter((slot) => {
      const member = this.members.get(slot)
      return member === undefined || member.state === 'left' || member.state === 'crashed' || member.state === 'failed'
    })
  }

  // ---- faults

  /** The node whose replica leads the group's offsets partition now (the coordinator), if any. */
  private coordinatorNode(): string | undefined {
    const partition = offsetsPartitionFor(GROUP_ID, OFFSETS_TOPIC_PARTITIONS)
    let best: { node: string; epoch: number } | undefined
    for (const nodeId of NODE_IDS) {
      const replica = this.cluster.nodes.get(nodeId)?.services?.hostedReplicas.get(replicaActorId(OFFSETS_TOPIC, partition, nodeId))?.replica
      if (replica === undefined || replica.isClosed || replica.role !== 'leader') continue
      if (best === undefined || replica.epoch > best.epoch) best = { node: nodeId, epoch: replica.epoch }
    }
    return best?.node
  }

  private impaired(extra: readonly string[] = [], split = this.split): Set<string> {
    const out = new Set<string>([...this.down.keys(), ...extra])
    if (split !== undefined) for (const nodeId of split.cut) out.add(nodeId)
    return out
  }

  /** In minority mode: would every Raft group still have a majority up and connected? */
  private allowed(impaired: Set<string>): boolean {
    if (this.faultMode === 'majority') return true
    return [...this.groups.values()].every((group) => group.filter((id) => impaired.has(id)).length <= Math.floor((group.length - 1) / 2))
  }

  private async faultPhase(): Promise<void> {
    const world = this.world
    const phaseEndMs = world.nowMs() + this.options.faultPhaseMs
    while (world.nowMs() < phaseEndMs) {
      await world.runFor(Math.min(phaseEndMs - world.nowMs(), 200 + this.faultDraws.int(1_000)))
      if (world.nowMs() >= phaseEndMs) break
      this.noteCoordinator()
      await this.restoreDue()
      const roll = this.faultDraws.float()
      if (roll < 0.3) this.crashNode()
      else if (roll < 0.4) this.flakyLink()
      else if (roll < 0.6) this.partitionNetwork()
      else if (roll < 0.7) this.memberFault('crash')
      else if (roll < 0.8) this.memberFault('leave')
      else this.memberFault('join')
    }
  }

  private noteCoordinator(): void {
    const coordinator = this.coordinatorNode()
    if (coordinator === undefined || coordinator === this.lastCoordinator) return
    if (this.lastCoordinator !== undefined) this.stats.coordinatorMoves++
    this.faults.push(`${fmt(this.world.nowMs())} coordinator on ${coordinator}`)
    this.lastCoordinator = coordinator
  }

  /** Due restarts and heals. */
  private async restoreDue(): Promise<void> {
    const now = this.world.nowMs()
    for (const [nodeId, dueMs] of [...this.down]) {
      if (dueMs > now) continue
      this.down.delete(nodeId)
      this.faults.push(`${fmt(now)} restart ${nodeId}`)
      await restartNode(this.cluster, nodeId)
    }
    if (this.split !== undefined && this.split.untilMs <= now) {
      this.faults.push(`${fmt(now)} heal`)
      this.world.net.heal()
      this.split = undefined
    }
    if (this.flakyUntilMs <= now) {
      this.faults.push(`${fmt(now)} links steady`)
      this.world.net.clearLinkConfigs()
      this.flakyUntilMs = Number.POSITIVE_INFINITY
    }
  }

  private crashNode(): void {
    const draws = this.faultDraws
    const up: string[] = NODE_IDS.filter((id) => !this.down.has(id))
    const coordinator = this.coordinatorNode()
    const aimed = draws.chance(0.5) && coordinator !== undefined && up.includes(coordinator)
    const victim = aimed ? (coordinator as string) : (up[draws.int(up.length)] as string)
    const modes = [DiskCrashMode.dropUnsynced, DiskCrashMode.tearLastWrite, DiskCrashMode.keepUnsyncedPrefix]
    const mode = modes[draws.int(modes.length)] as DiskCrashMode
    const downMs = 500 + draws.int(6_000)
    if (this.down.size >= 3 || !this.allowed(this.impaired([victim]))) return
    const isCoordinator = victim === coordinator
    this.faults.push(`${fmt(this.world.nowMs())} crash ${victim}${isCoordinator ? ' (the coordinator)' : ''} (${mode}) for ${downMs}ms`)
    this.world.crash(victim, { disk: { mode } })
    this.cluster.nodes.delete(victim)
    this.down.set(victim, this.world.nowMs() + downMs)
    this.stats.crashes++
    if (isCoordinator) this.stats.coordinatorCrashes++
  }

  private flakyLink(): void {
    if (this.flakyUntilMs !== Number.POSITIVE_INFINITY) return
    const draws = this.faultDraws
    const [a, b] = shuffle(draws, [...NODE_IDS, PRODUCER_HOST, ...MEMBER_SLOTS]) as [string, string]
    const breakProbability = 0.005 + draws.float() * 0.05
    const durationMs = 500 + draws.int(4_000)
    this.faults.push(`${fmt(this.world.nowMs())} flaky ${a}<->${b} breaks=${breakProbability.toFixed(3)}/msg for ${durationMs}ms`)
    this.world.net.setLinkConfig(a, b, { breakProbability })
    this.world.net.setLinkConfig(b, a, { breakProbability })
    this.flakyUntilMs = this.world.nowMs() + durationMs
  }

  private partitionNetwork(): void {
    if (this.split !== undefined) return
    const draws = this.faultDraws
    const coordinator = this.coordinatorNode()
    const shuffled = shuffle(draws, [...NODE_IDS])
    const aimed = draws.chance(0.4) && coordinator !== undefined
    const cutSize = this.faultMode === 'majority' ? 1 + draws.int(3) : 1 + draws.int(2)
    const cutNodes: string[] = aimed ? [coordinator as string, ...shuffled.filter((id) => id !== coordinator).slice(0, cutSize - 1)] : shuffled.slice(0, cutSize)
    const restNodes: string[] = NODE_IDS.filter((id) => !cutNodes.includes(id))
    // Client hosts mostly stay with the majority; each is cut off with the minority now and then.
    const clientHosts = [PRODUCER_HOST, ...MEMBER_SLOTS]
    const cutClients = clientHosts.filter(() => draws.chance(0.2))
    const oneWay = draws.chance(0.25)
    const durationMs = 1_000 + draws.int(8_000)
    const cut = [...cutNodes.sort(), ...cutClients]
    const rest = [...restNodes, ...clientHosts.filter((host) => !cutClients.includes(host))]
    const split: Split = { cut, rest, oneWay, untilMs: this.world.nowMs() + durationMs }
    if (!this.allowed(this.impaired([], split))) return
    const isCoordinator = coordinator !== undefined && cutNodes.includes(coordinator)
    this.faults.push(`${fmt(this.world.nowMs())} partition [${cut.join(',')}] ${oneWay ? '-/->' : '|'} [${rest.join(',')}]${isCoordinator ? ' (coordinator cut off)' : ''} for ${durationMs}ms`)
    if (oneWay) this.world.net.partitionOneWay(cut, rest)
    else this.world.net.partition(cut, rest)
    this.split = split
    this.stats.partitions++
    if (isCoordinator) this.stats.coordinatorCuts++
  }

  private memberFault(kind: 'crash' | 'leave' | 'join'): void {
    const draws = this.faultDraws
    if (kind === 'join') {
      const free = this.freeSlots()
      if (free.length > 0) this.startMember(free[draws.int(free.length)] as string)
      return
    }
    const running = this.runningMembers()
    if (running.length === 0) return
    const member = running[draws.int(running.length)] as Member
    if (kind === 'crash') this.crashMember(member)
    else this.leaveMember(member)
  }

  // ---- heal, converge, settle

  /** Heals everything, restarts every node, stops the producers and readers; the time the cluster converged. */
  private async healAndConverge(workload: readonly Promise<void>[]): Promise<number> {
    const world = this.world
    this.workloadRunning = false
    this.faults.push(`${fmt(world.nowMs())} heal all`)
    world.net.heal()
    world.net.clearLinkConfigs()
    this.split = undefined
    for (const nodeId of [...this.down.keys()].sort()) {
      this.down.delete(nodeId)
      this.faults.push(`${fmt(world.nowMs())} restart ${nodeId}`)
      await restartNode(this.cluster, nodeId)
    }
    const bounds = { who: 'the producer or the reader', stopMsMax: PRODUCER_STOP_MS_MAX, convergeMsMax: CONVERGE_MS_MAX }
    for (const complaint of await awaitStopAndConvergence(this.cluster, this.groupPartitions, workload, bounds)) this.liveness(complaint)
    this.noteCoordinator()
    return world.nowMs()
  }

  /** Starts members up to MEMBERS_AFTER_HEAL_MIN, reads the final logs, and waits until the group processed and committed everything. */
  private async settleGroup(convergedAtMs: number): Promise<{ state: FinalGroupState; settledAfterMs: number | undefined }> {
    const world = this.world
    const free = this.freeSlots()
    while (this.runningMembers().length < MEMBERS_AFTER_HEAL_MIN && free.length > 0) this.startMember(free.shift() as string)
    const clock = world.process(PRODUCER_HOST).env.clock
    const logs = new Map<string, BatchView[] | undefined>()
    const partitions = Array.from({ length: this.partitionCount }, (_, partition) => ({ topic: TOPIC, partition }))
    for (const { topic, partition } of partitions) logs.set(partitionKey(topic, partition), await settle(world, fetchAllWithRetries(this.producer, clock, topic, partition), 120_000))
    let committed: OffsetsRead | undefined
    let settledAfterMs: number | undefined
    const deadlineMs = convergedAtMs + this.options.settleMsMax
    while (world.nowMs() < deadlineMs) {
      await world.runFor(SETTLE_POLL_MS)
      if (this.unprocessed(logs).length > 0) continue
      committed = await settle(world, this.readCommitted(), 60_000)
      if (committed !== undefined && this.uncommitted(logs, committed).length === 0) {
        settledAfterMs = world.nowMs() - convergedAtMs
        break
      }
    }
    if (settledAfterMs === undefined) {
      const behind = committed === undefined ? ['no read of the committed offsets'] : this.uncommitted(logs, committed)
      this.liveness(`the group did not settle within ${this.options.settleMsMax} ms of converging: unprocessed ${this.unprocessed(logs).join(' ') || 'none'}; not committed to the end: ${behind.join(' ') || 'none'}; members ${[...this.members.values()].map((m) => this.describeMember(m)).join(' ')}`)
    }
    return { state: { atMs: world.nowMs(), partitions, logs, committed, settled: settledAfterMs !== undefined }, settledAfterMs }
  }

  private describeMember(member: Member): string {
    if (member.state !== 'running') return `${member.name}:${member.state}`
    const metadata = member.consumer.groupMetadata()
    const owned = member.consumer.assignment().map((tp) => `${tp.partition}@${member.consumer.position(tp) ?? '?'}`)
    return `${member.name}:generation ${metadata?.generation ?? '?'} owns [${owned.join(',')}]`
  }

  /** Partitions with records no member processed, as `key:count`. */
  private unprocessed(logs: ReadonlyMap<string, readonly BatchView[] | undefined>): string[] {
    const out: string[] = []
    for (const [key, log] of logs) {
      if (log === undefined) continue
      const missing = [...dataValues(log).keys()].filter((offset) => !this.checker.wasProcessed(key, offset)).length
      if (missing > 0) out.push(`${key}:${missing}`)
    }
    return out
  }

  /** Partitions whose committed offset does not reach past their last record, as `key:committed<end`. */
  private uncommitted(logs: ReadonlyMap<string, readonly BatchView[] | undefined>, read: OffsetsRead): string[] {
    const out: string[] = []
    for (const [key, log] of logs) {
      if (log === undefined) continue
      const end = Math.max(-1, ...dataValues(log).keys()) + 1
      const committed = read.offsets.get(key)
      if (end > 0 && (committed === undefined || committed < end)) out.push(`${key}:${committed ?? 'none'}<${end}`)
    }
    return out
  }

  private result(settledAfterMs: number | undefined): GroupSimResult {
    const checker = this.checker
    const acked = checker.acked
    return {
      seed: this.options.seed,
      faultMode: this.faultMode,
      partitionCount: this.partitionCount,
      assignors: this.assignors,
      produces: this.stats.produces,
      acked: acked.length,
      ackedRecords: acked.reduce((sum, write) => sum + write.values.length, 0),
      failedProduces: this.stats.failedProduces,
      processed: checker.processedRecords,
      duplicates: checker.duplicates,
      memberStarts: this.stats.memberStarts,
      memberLeaves: this.stats.memberLeaves,
      memberCrashes: this.stats.memberCrashes,
      syncs: checker.syncs.length,
      generationMax: Math.max(0, ...checker.syncs.map((sync) => sync.generation)),
      commits: checker.commits.length,
      commitsAcked: checker.commits.filter((commit) => commit.ackedAtMs !== undefined).length,
      reads: checker.reads.length,
      crashes: this.stats.crashes,
      coordinatorCrashes: this.stats.coordinatorCrashes,
      coordinatorCuts: this.stats.coordinatorCuts,
      partitions: this.stats.partitions,
      coordinatorMoves: this.stats.coordinatorMoves,
      faults: this.faults,
      violations: [...checker.violations].sort((a, b) => a.atMs - b.atMs),
      settledAfterMs,
      events: this.world.scheduler.eventsProcessed,
      virtualMs: this.world.nowMs(),
      trace: this.world.traceHex(),
    }
  }
}

/** SimCluster.start (the simulated wall clocks keep their fractions: the nodes must cope). */
export async function startCluster(options: { readonly seed: number }, net: Partial<NetConfig>, configFor: () => Partial<NodeConfig>): Promise<SimCluster> {
  const world = new World({ seed: options.seed, net })
  const cluster = new SimCluster(world, NODE_IDS, () => ({}), configFor)
  for (const nodeId of NODE_IDS) world.addNode(nodeId)
  for (const nodeId of NODE_IDS) await cluster.boot(nodeId)
  return cluster
}

/** Starts a crashed node's new process. */
async function restartNode(cluster: SimCluster, nodeId: string): Promise<void> {
  cluster.world.restart(nodeId)
  await cluster.boot(nodeId)
}

/** The command that replays one seed. */
export function replayCommand(seed: number, options: { faultPhaseMs?: number } = {}): string {
  const { faultPhaseMs } = options
  const flags = faultPhaseMs === undefined || faultPhaseMs === GROUP_SIM_FAULT_PHASE_MS_DEFAULT ? '' : ` --fault-ms ${faultPhaseMs}`
  return `npm run sim:group -- --seed ${seed}${flags}`
}

/** One line per seed: what ran, and ok or the first violation. */
export function summarize(result: GroupSimResult): string {
  const head =
    `seed=${result.seed} mode=${result.faultMode} partitions=${result.partitionCount} assignors=${result.assignors.join(',')} ` +
    `acked=${result.acked} processed=${result.processed} dups=${result.duplicates} members=${result.memberStarts}(left=${result.memberLeaves},crashed=${result.memberCrashes}) ` +
    `generations=${result.generationMax} commits=${result.commitsAcked}/${result.commits} reads=${result.reads} crashes=${result.crashes}(coord=${result.coordinatorCrashes}) ` +
    `splits=${result.partitions}(coord=${result.coordinatorCuts}) coordMoves=${result.coordinatorMoves} settled=${result.settledAfterMs === undefined ? 'no' : `${Math.round(result.settledAfterMs)}ms`} ` +
    `virtualMs=${Math.round(result.virtualMs)} events=${result.events} trace=${result.trace}`
  const first = result.violations[0]
  return first === undefined ? `${head} ok` : `${head} VIOLATIONS=${result.violations.length} first: ${formatViolation(first)}`
}

/**
 * The consumer settings of a simulated group member: timings drawn per member (so seeds differ
 * in them), from `draws` in a fixed order; shared by the group and full-system simulators.
 */
export function simMemberConfig(draws: Prng, groupId: string, sessionTimeoutMs: number, assignors: readonly GroupAssignorName[], topicRefreshMs: number): ConsumerConfig {
  return {
    groupId,
    resetPolicy: 'earliest',
    sessionTimeoutMs,
    heartbeatIntervalMs: Math.floor(sessionTimeoutMs / 3),
    rebalanceTimeoutMs: 3_000 + draws.int(3_000),
    assignors,
    autoCommitIntervalMs: 200 + draws.int(1_500),
    maxWaitMs: 300,
    topicRefreshMs,
  }
}
