/**
 * One seeded run of the whole broker (`npm run sim:broker -- --seed N`): five complete nodes
 * built by the real composition root on a simulated world (sim/cluster.ts), the first three
 * voting in the metadata quorum. A client on a host of its own creates one or two topics of
 * replication factor 3 and produces unique values with acks=all to random partitions while a
 * fault schedule drawn from the seed crashes nodes (their disks losing unsynced writes, or
 * keeping a torn or partial tail of them), restarts them, partitions the network (both ways
 * or one way, sometimes with the client on the small side) and makes links flaky. In some
 * seeds replicas of a node down for a few seconds move elsewhere (Raft membership changes
 * under faults). Then everything heals, every node runs again, and the cluster must converge.
 *
 * Most seeds keep a majority of every Raft group (each partition's voters and the metadata
 * voters) up and connected at all times; some ("majority" faults) take down or cut off more.
 * Safety is checked on every seed all the time; liveness (one leader per partition that
 * every replica follows, replicas caught up, a new write accepted, every acknowledged record
 * readable through the client) after healing, when every seed must converge.
 *
 * The checker (sim/broker/checker.ts) sees the client's acknowledgements and samples of the
 * replicas: their role, epoch, leader and high watermark often (a synchronous look at every
 * hosted replica), their committed logs (read back through the replica) every so often and
 * at the end.
 */
import { BrokerClient } from '../../src/client/index.js'
import { type Clock, shuffle } from '../../src/env/index.js'
import { encodeRecordBatch } from '../../src/log/record-batch.js'
import { FAST_SWIM_SETTINGS } from '../../src/membership/index.js'
import type { NodeConfig } from '../../src/node.js'
import { SkeinError } from '../../src/wire/index.js'
import type { PartitionReplica } from '../../actors/partition/replica.js'
import { SIM_CLUSTER_ID, SIM_CLUSTER_SECRET, SIM_NODE_PORT, SimCluster } from '../cluster.js'
import { Prng } from '../prng.js'
import { settle } from '../settle.js'
import { DiskCrashMode } from '../sim-disk.js'
import type { NetConfig } from '../sim-net.js'
import {
  type AckedWrite,
  type BatchView,
  BrokerChecker,
  type CommittedRead,
  type FinalState,
  type ReplicaRef,
  type Violation,
  batchViews,
  formatViolation,
  partitionKey,
} from './checker.js'

export const NODE_IDS = ['n1', 'n2', 'n3', 'n4', 'n5'] as const
export const CONTROLLER_IDS = ['n1', 'n2', 'n3'] as const
export const CLIENT_HOST = 'client'
const REPLICATION_FACTOR = 3

export interface BrokerSimOptions {
  readonly seed: number
  /** Virtual time the workload runs under faults. */
  readonly faultPhaseMs?: number
  /** After healing, how long the cluster has to converge before liveness fails. */
  readonly convergeMsMax?: number
  /** The brokers' Raft tick (default: BrokerSettings' 100 ms); elections take 10-20 ticks of silence. */
  readonly raftTickMs?: number
}

export const BROKER_SIM_FAULT_PHASE_MS_DEFAULT = 12_000
export const BROKER_SIM_CONVERGE_MS_MAX_DEFAULT = 30_000
/** How often every hosted replica's role, epoch, leader and high watermark are looked at. */
const STATUS_SAMPLE_EVERY_MS = 50
/** How often every hosted replica's committed log is read back and checked. */
const LOG_SAMPLE_EVERY_MS = 2_000
/** The client's deadline per request, and retries of retriable errors (each may duplicate a write). */
const REQUEST_TIMEOUT_MS = 2_000
const RETRIES_MAX = 3
/** Far more than a request with all its retries and backoffs may take. */
const PRODUCER_STOP_MS_MAX = 60_000
/** Longer than any run: replicas never move. */
const REASSIGN_NEVER_MS = 3_600_000
/** How long the cluster must stay converged before the final snapshot: above the default rebalance interval (2 s), so a pending preferred-leader transfer has run. */
const STABLE_FOR_MS = 3_000
/** Converge-then-hold rounds before the final snapshot is taken anyway (and judged). */
const STABLE_ATTEMPTS_MAX = 4
/** How long after converging a write to each partition may take to be acknowledged. */
const FINAL_WRITE_MS_MAX = 30_000
/** Bytes per read of a replica's committed log (the loop reads on to its high watermark). */
const READ_BYTES_MAX = 4 * 1024 * 1024

export interface BrokerSimResult {
  readonly seed: number
  /** 'minority': a majority of every Raft group is always up and connected; 'majority': not always. */
  readonly faultMode: 'minority' | 'majority'
  readonly topics: readonly { readonly name: string; readonly partitions: readonly (readonly string[])[] }[]
  readonly produces: number
  /** Batches the consumer was served during the fault phase (each checked as committed). */
  readonly consumedBatches: number
  readonly acked: number
  readonly ackedRecords: number
  readonly failed: number
  readonly crashes: number
  readonly partitions: number
  /** Partitions whose replica set changed (replicas moved off nodes down too long). */
  readonly moved: number
  /** Largest epoch a partition reached (elections the faults caused). */
  readonly epochMax: number
  readonly committedOffsets: number
  readonly statusSamples: number
  readonly committedReads: number
  readonly faults: readonly string[]
  readonly violations: readonly Violation[]
  /** From healing until converged, if it did. */
  readonly convergedAfterMs: number | undefined
  readonly events: number
  readonly virtualMs: number
  readonly trace: string
}

interface FaultState {
  /** Crashed nodes and when each is due back. */
  readonly down: Map<string, number>
  /** The current network split, if any: the cut-off side (impaired) and the rest. */
  split: { readonly cut: readonly string[]; readonly rest: readonly string[]; readonly oneWay: boolean; readonly untilMs: number } | undefined
}

/** Draws the workload and faults of one seed, runs them, and checks the history. */
export async function runBrokerSim(options: BrokerSimOptions): Promise<BrokerSimResult> {
  const seed = options.seed
  const faultPhaseMs = options.faultPhaseMs ?? BROKER_SIM_FAULT_PHASE_MS_DEFAULT
  const convergeMsMax = options.convergeMsMax ?? BROKER_SIM_CONVERGE_MS_MAX_DEFAULT
  const draws = Prng.fromSeed(seed).fork('scenario:broker')
  const faults: string[] = []
  const net: Partial<NetConfig> = {
    latencyJitterMsMean: 0.1 + draws.float() * 2,
    spikeProbability: draws.chance(0.5) ? draws.float() * 0.02 : 0,
    breakProbability: draws.chance(0.5) ? draws.float() * 0.0005 : 0,
  }
  const faultMode = draws.chance(0.2) ? 'majority' : 'minority'
  // Some seeds move replicas off nodes that stay down a few seconds (Raft membership changes
  // under faults); the others keep every replica where it was created.
  const reassignAfterMs = draws.chance(0.3) ? 2_000 + draws.int(3_000) : undefined
  faults.push(`mode=${faultMode} reassign=${reassignAfterMs === undefined ? 'off' : `${reassignAfterMs}ms`} links: jitterMean=${net.latencyJitterMsMean?.toFixed(2)}ms spikes=${net.spikeProbability?.toFixed(3)} breaks=${net.breakProbability?.toExponential(2)}/msg`)
  const configFor = (): Partial<NodeConfig> => ({
    controllers: [...CONTROLLER_IDS],
    swimSettings: FAST_SWIM_SETTINGS,
    broker: {
      ...(options.raftTickMs === undefined ? {} : { raftTickMs: options.raftTickMs }),
      // Reassign seeds also replace metadata voters that stay down as long.
      ...(reassignAfterMs === undefined
        ? { replicaReassignAfterMs: REASSIGN_NEVER_MS, controllerReplaceAfterMs: REASSIGN_NEVER_MS }
        : { replicaReassignAfterMs: reassignAfterMs, controllerReplaceAfterMs: reassignAfterMs, rebalanceIntervalMs: 500 }),
    },
  })
  const cluster = await SimCluster.start(NODE_IDS, { seed, net, configFor })
  const world = cluster.world
  const clientEnv = world.addNode(CLIENT_HOST)
  const checker = new BrokerChecker()
  const violations = (): readonly Violation[] => checker.violations

  // ---- topics
  const client = await settle(world, BrokerClient.connect(clientEnv, {
    seeds: NODE_IDS.map((id) => `${id}:${SIM_NODE_PORT}`),
    clusterId: SIM_CLUSTER_ID,
    clusterSecret: SIM_CLUSTER_SECRET,
    clientId: 'sim',
    requestTimeoutMs: REQUEST_TIMEOUT_MS,
    retriesMax: RETRIES_MAX,
    retryBackoffMs: 50,
  }))
  const topicCount = 1 + draws.int(2)
  const topics: { name: string; partitions: string[][] }[] = []
  for (let t = 0; t < topicCount; t++) {
    const name = `topic${t}`
    const partitionCount = 1 + draws.int(topicCount === 1 ? 4 : 2)
    const created = await settle(world, createTopicWithRetries(client, name, partitionCount))
    topics.push({ name, partitions: created.partitions.map((replicas) => [...replicas]) })
    faults.push(`topic ${name}: ${created.partitions.map((replicas, p) => `${p}=[${replicas.join(',')}]`).join(' ')}`)
  }
  for (const topic of topics) await settle(world, client.waitForLeaders(topic.name, 60_000))
  const allPartitions = topics.flatMap((topic) => topic.partitions.map((replicas, partition) => ({ topic: topic.name, partition, replicas })))
  /**
   * The Raft groups whose majority minority-mode faults must spare: the metadata voters and
   * every voter set any replica of a partition has had (replicas move in reassign seeds).
   */
  const groups = new Map<string, readonly string[]>()
  const addGroup = (voters: readonly string[]): void => {
    const sorted = [...voters].sort()
    groups.set(sorted.join(','), sorted)
  }
  addGroup(CONTROLLER_IDS)
  for (const { replicas } of allPartitions) addGroup(replicas)

  // ---- sampling
  /** Which opening of a replica within its process each PartitionReplica object is. */
  const instances = new WeakMap<PartitionReplica, number>()
  const instanceCounts = new Map<string, number>()
  const refOf = (nodeId: string, hosted: { topic: string; partition: number; replica: PartitionReplica }): ReplicaRef => {
    const incarnation = world.process(nodeId).incarnation
    let instance = instances.get(hosted.replica)
    if (instance === undefined) {
      const key = `${hosted.topic}/${hosted.partition}@${nodeId}#${incarnation}`
      instance = (instanceCounts.get(key) ?? 0) + 1
      instanceCounts.set(key, instance)
      instances.set(hosted.replica, instance)
    }
    return { topic: hosted.topic, partition: hosted.partition, node: nodeId, incarnation, instance }
  }
  const sampleStatuses = (): void => {
    const atMs = world.nowMs()
    for (const nodeId of NODE_IDS) {
      if (!world.process(nodeId).alive) continue
      const node = cluster.nodes.get(nodeId)
      if (node?.services === undefined) continue
      const metadataGroup = node.services.controllerMembership()
      if (metadataGroup !== undefined) addGroup(metadataGroup.voters)
      for (const hosted of node.services.hostedReplicas.values()) {
        const replica = hosted.replica
        if (replica.isClosed) continue
        checker.observeStatus(atMs, refOf(nodeId, hosted), statusOf(replica))
        addGroup(replica.membership.voters)
      }
    }
  }
  /** Starts reading every live replica's committed log; each result is checked when it arrives. */
  const sampleLogs = (): Promise<void>[] => {
    const reads: Promise<void>[] = []
    for (const nodeId of NODE_IDS) {
      if (!world.process(nodeId).alive) continue
      const node = cluster.nodes.get(nodeId)
      if (node?.services === undefined) continue
      for (const hosted of node.services.hostedReplicas.values()) {
        const ref = refOf(nodeId, hosted)
        const incarnation = ref.incarnation
        reads.push(readCommitted(hosted.replica, ref, () => world.nowMs(), false).then(
          (read) => {
            if (read !== undefined && world.process(nodeId).incarnation === incarnation) checker.observeCommitted(read)
          },
          (error: unknown) => {
            // A replica closed under the read (removed after a move, or its node crashed) is no finding.
            if (hosted.replica.isClosed || world.process(nodeId).incarnation !== incarnation) return
            checker.violations.push({ atMs: world.nowMs(), rule: 'committed log readable', detail: `${partitionKey(ref.topic, ref.partition)}@${nodeId}: ${String(error)}` })
          },
        ))
      }
    }
    return reads
  }
  let sampling = true
  const statusTimer = (): void => {
    if (!sampling) return
    sampleStatuses()
    world.scheduler.schedule(world.nowMs() + STATUS_SAMPLE_EVERY_MS, 'check:status', statusTimer)
  }
  const logTimer = (): void => {
    if (!sampling) return
    void sampleLogs()
    world.scheduler.schedule(world.nowMs() + LOG_SAMPLE_EVERY_MS, 'check:logs', logTimer)
  }
  statusTimer()
  world.scheduler.schedule(world.nowMs() + LOG_SAMPLE_EVERY_MS, 'check:logs', logTimer)

  // ---- workload
  const acked: AckedWrite[] = []
  let produces = 0
  let failed = 0
  let consumed = 0
  let workloadRunning = true
  const producerCount = 1 + draws.int(3)
  const pauseMsMax = 20 + draws.int(100)
  const workloadDraws = draws.fork('workload')
  const producerDone: Promise<void>[] = []
  /** Each producer's request in flight: what, and since when (a stuck one is reported by name). */
  const inFlight = new Map<number, string>()
  for (let k = 0; k < producerCount; k++) {
    producerDone.push((async () => {
      let sequence = 0
      while (workloadRunning) {
        const target = allPartitions[workloadDraws.int(allPartitions.length)] as (typeof allPartitions)[number]
        const count = 1 + workloadDraws.int(3)
        const values = Array.from({ length: count }, (_, i) => `s${seed}-p${k}-${sequence}-${i}`)
        sequence++
        produces++
        const batch = encodeRecordBatch({ records: values.map((value, i) => ({ key: null, value: new TextEncoder().encode(value), timestamp: 1_700_000_000_000 + i })) })
        inFlight.set(k, `${target.topic}/${target.partition} [${values.join(',')}] since ${fmt(world.nowMs())}`)
        try {
          const response = await client.produce(target.topic, target.partition, batch, -1)
          acked.push({ topic: target.topic, partition: target.partition, baseOffset: response.baseOffset, lastOffset: response.lastOffset, values, atMs: world.nowMs() })
          if (response.lastOffset - response.baseOffset !== count - 1) {
            checker.violations.push({ atMs: world.nowMs(), rule: 'contiguous offsets', detail: `${target.topic}/${target.partition}: a batch of ${count} records was acknowledged at [${response.baseOffset}..${response.lastOffset}]` })
          }
        } catch (error) {
          failed++
          // The protocol's errors are expected under faults; anything else is a client bug.
          if (!(error instanceof SkeinError)) checker.violations.push({ atMs: world.nowMs(), rule: 'client error', detail: `produce to ${target.topic}/${target.partition} threw ${error instanceof Error ? error.stack : String(error)}` })
        }
        inFlight.delete(k)
        await sleep(clientEnv.clock, workloadDraws.int(pauseMsMax))
      }
    })())
  }

  // A consumer reads each partition from where it got to, all through the faults: whatever
  // it is served must be committed, so every batch goes to the checker as seen committed.
  const consumerDraws = draws.fork('consumer')
  const consumerDone = (async () => {
    const positions = allPartitions.map(() => 0)
    while (workloadRunning) {
      const i = consumerDraws.int(allPartitions.length)
      const target = allPartitions[i] as (typeof allPartitions)[number]
      const fromOffset = positions[i] as number
      try {
        const response = await client.fetch(target.topic, target.partition, fromOffset, READ_BYTES_MAX)
        const batches = batchViews(response.records, { withValues: false })
        const ref: ReplicaRef = { topic: target.topic, partition: target.partition, node: CLIENT_HOST, incarnation: 1 }
        checker.observeCommitted({ replica: ref, atMs: world.nowMs(), fromOffset, highWatermark: fromOffset, batches })
        positions[i] = (batches.at(-1)?.lastOffset ?? fromOffset - 1) + 1
        consumed += batches.length
      } catch (error) {
        if (!(error instanceof SkeinError)) checker.violations.push({ atMs: world.nowMs(), rule: 'client error', detail: `fetch from ${target.topic}/${target.partition} threw ${error instanceof Error ? error.stack : String(error)}` })
      }
      await sleep(clientEnv.clock, 20 + consumerDraws.int(200))
    }
  })()
  producerDone.push(consumerDone)

  // ---- faults
  const state: FaultState = { down: new Map(), split: undefined }
  let crashes = 0
  let splits = 0
  const faultDraws = draws.fork('faults')
  const phaseEndMs = world.nowMs() + faultPhaseMs
  let flakyUntilMs = Number.POSITIVE_INFINITY
  const impaired = (extra: readonly string[] = [], split = state.split): Set<string> => {
    const out = new Set<string>([...state.down.keys(), ...extra])
    if (split !== undefined) for (const nodeId of split.cut) out.add(nodeId)
    return out
  }
  /** In minority mode: would every group still have a majority up and connected? */
  const allowed = (set: Set<string>): boolean => faultMode === 'majority' || [...groups.values()].every((group) => group.filter((id) => set.has(id)).length <= Math.floor((group.length - 1) / 2))
  while (world.nowMs() < phaseEndMs) {
    await world.runFor(Math.min(phaseEndMs - world.nowMs(), 200 + faultDraws.int(1_000)))
    const now = world.nowMs()
    if (now >= phaseEndMs) break
    // Due restarts and heals first.
    for (const [nodeId, dueMs] of [...state.down]) {
      if (dueMs > now) continue
      state.down.delete(nodeId)
      faults.push(`${fmt(now)} restart ${nodeId}`)
      await cluster.boot(nodeId)
    }
    if (state.split !== undefined && state.split.untilMs <= now) {
      faults.push(`${fmt(now)} heal`)
      world.net.heal()
      state.split = undefined
    }
    if (flakyUntilMs <= now) {
      if (flakyUntilMs > 0) faults.push(`${fmt(now)} links steady`)
      world.net.clearLinkConfigs()
      flakyUntilMs = Number.POSITIVE_INFINITY
    }
    const roll = faultDraws.float()
    if (roll < 0.4) {
      const up = NODE_IDS.filter((id) => !state.down.has(id))
      const victim = up[faultDraws.int(up.length)] as string
      if (state.down.size < 3 && allowed(impaired([victim]))) {
        const modes = [DiskCrashMode.dropUnsynced, DiskCrashMode.tearLastWrite, DiskCrashMode.keepUnsyncedPrefix]
        const mode = modes[faultDraws.int(modes.length)] as DiskCrashMode
        // Long enough, in reassign seeds, for the node's replicas to move elsewhere now and then.
        const downMs = 500 + faultDraws.int(reassignAfterMs === undefined ? 6_000 : 9_000)
        faults.push(`${fmt(now)} crash ${victim} (${mode}) for ${downMs}ms`)
        world.crash(victim, { disk: { mode } })
        cluster.nodes.delete(victim)
        state.down.set(victim, now + downMs)
        crashes++
      }
    } else if (roll < 0.5 && flakyUntilMs === Number.POSITIVE_INFINITY) {
      // Links between two nodes break every few dozen messages for a while (and redial).
      const [a, b] = shuffle(faultDraws, [...NODE_IDS, CLIENT_HOST]) as [string, string]
      const breakProbability = 0.005 + faultDraws.float() * 0.05
      const durationMs = 500 + faultDraws.int(4_000)
      faults.push(`${fmt(now)} flaky ${a}<->${b} breaks=${breakProbability.toFixed(3)}/msg for ${durationMs}ms`)
      world.net.setLinkConfig(a, b, { breakProbability })
      world.net.setLinkConfig(b, a, { breakProbability })
      flakyUntilMs = now + durationMs
    } else if (roll < 0.75 && state.split === undefined) {
      const shuffled = shuffle(faultDraws, [...NODE_IDS])
      const cutSize = faultMode === 'majority' ? 1 + faultDraws.int(3) : 1 + faultDraws.int(2)
      const cut = shuffled.slice(0, cutSize).sort()
      const rest = shuffled.slice(cutSize).sort()
      const oneWay = faultDraws.chance(0.25)
      const durationMs = 1_000 + faultDraws.int(8_000)
      // Mostly the client stays with the majority; sometimes it is cut off with the minority.
      const clientCut = faultDraws.chance(0.2)
      const split = { cut: clientCut ? [...cut, CLIENT_HOST] : cut, rest: clientCut ? rest : [...rest, CLIENT_HOST], oneWay, untilMs: now + durationMs }
      if (allowed(impaired([], split))) {
        faults.push(`${fmt(now)} partition [${split.cut.join(',')}] ${oneWay ? '-/->' : '|'} [${split.rest.join(',')}] for ${durationMs}ms`)
        if (oneWay) world.net.partitionOneWay(split.cut, split.rest)
        else world.net.partition(split.cut, split.rest)
        state.split = split
        splits++
      }
    }
  }

  // ---- heal
  workloadRunning = false
  const healedAtMs = world.nowMs()
  faults.push(`${fmt(healedAtMs)} heal all`)
  world.net.heal()
  world.net.clearLinkConfigs()
  state.split = undefined
  for (const nodeId of [...state.down.keys()].sort()) {
    state.down.delete(nodeId)
    faults.push(`${fmt(world.nowMs())} restart ${nodeId}`)
    await cluster.boot(nodeId)
  }
  let producersDone = false
  void Promise.all(producerDone).then(() => (producersDone = true))
  await world.runUntil(() => producersDone, { timeoutMs: PRODUCER_STOP_MS_MAX })
  if (!producersDone) {
    for (const [k, what] of inFlight) {
      checker.violations.push({ atMs: world.nowMs(), rule: 'liveness', detail: `producer ${k}'s request ${what} got no answer within ${PRODUCER_STOP_MS_MAX} ms of healing (request timeout ${REQUEST_TIMEOUT_MS} ms, ${RETRIES_MAX} retries)` })
    }
  }

  // ---- converge
  /** Replica sets as the cluster metadata has them now (they change in reassign seeds). */
  let current = allPartitions
  const refreshPartitions = async (): Promise<void> => {
    const answer = await settle(world, client.metadata(topics.map((topic) => topic.name)).catch(() => undefined), 30_000)
    if (answer === undefined) return
    const next = answer.topics.flatMap((topic) => topic.partitions.map((p) => ({ topic: topic.name, partition: p.partition, replicas: [...p.replicas] })))
    if (next.length === allPartitions.length) current = next
  }
  let convergedAfterMs: number | undefined
  const convergeDeadlineMs = world.nowMs() + convergeMsMax
  while (world.nowMs() < convergeDeadlineMs) {
    await world.runFor(250)
    await refreshPartitions()
    if (converged(cluster, current)) {
      convergedAfterMs = world.nowMs() - healedAtMs
      break
    }
  }
  // A last round of writes after healing: every partition takes one more acknowledged record.
  // The client may need a while to reach a leader it lost (its links redial with backoff up
  // to the transport's reconnectDelayMsMax), so each write has FINAL_WRITE_MS_MAX to succeed.
  const finalWrites = allPartitions.map(async (target, i) => {
    const values = [`s${seed}-final-${i}`]
    const deadlineMs = world.nowMs() + FINAL_WRITE_MS_MAX
    let lastError: unknown
    while (world.nowMs() < deadlineMs) {
      const batch = encodeRecordBatch({ records: values.map((value) => ({ key: null, value: new TextEncoder().encode(value), timestamp: 1_700_000_000_000 })) })
      try {
        const response = await client.produce(target.topic, target.partition, batch, -1)
        acked.push({ topic: target.topic, partition: target.partition, baseOffset: response.baseOffset, lastOffset: response.lastOffset, values, atMs: world.nowMs() })
        return
      } catch (error) {
        lastError = error
        await sleep(clientEnv.clock, 500)
      }
    }
    checker.violations.push({ atMs: world.nowMs(), rule: 'liveness', detail: `${partitionKey(target.topic, target.partition)} refused writes for ${FINAL_WRITE_MS_MAX} ms after converging: ${String(lastError)}` })
  })
  await settle(world, Promise.all(finalWrites), FINAL_WRITE_MS_MAX * 2)
  await refreshPartitions()
  // Converged and staying so: a rebalance round may still hand leadership to a preferred
  // replica (or finish undoing a move) just after one converged look, and the final
  // snapshot must not catch a transfer mid-election.
  for (let attempt = 0; attempt < STABLE_ATTEMPTS_MAX; attempt++) {
    await world.runUntil(() => converged(cluster, current), { timeoutMs: 5_000 })
    await world.runFor(STABLE_FOR_MS)
    await refreshPartitions()
    if (converged(cluster, current)) break
  }
  sampling = false
  sampleStatuses()

  // ---- final state
  const finalReads: CommittedRead[] = []
  const statuses: FinalState['statuses'][number][] = []
  for (const nodeId of NODE_IDS) {
    const node = cluster.node(nodeId)
    for (const hosted of [...(node.services?.hostedReplicas.values() ?? [])]) {
      const ref = refOf(nodeId, hosted)
      statuses.push({ replica: ref, status: statusOf(hosted.replica) })
      const read = await settle(world, readCommitted(hosted.replica, ref, () => world.nowMs(), true).catch((error: unknown) => {
        if (hosted.replica.isClosed) return undefined
        checker.violations.push({ atMs: world.nowMs(), rule: 'committed log readable', detail: `${partitionKey(ref.topic, ref.partition)}@${nodeId}: ${String(error)}` })
        return undefined
      }))
      if (read !== undefined) finalReads.push(read)
    }
  }
  const clientReads = new Map<string, BatchView[] | undefined>()
  for (const { topic, partition } of allPartitions) {
    clientReads.set(partitionKey(topic, partition), await settle(world, fetchAllWithRetries(client, clientEnv.clock, topic, partition), FINAL_WRITE_MS_MAX * 2))
  }
  const moved = current.filter((p, i) => [...p.replicas].sort().join(',') !== [...(allPartitions[i]?.replicas ?? [])].sort().join(','))
  for (const p of moved) faults.push(`moved ${partitionKey(p.topic, p.partition)} to [${p.replicas.join(',')}]`)
  const finalState: FinalState = { atMs: world.nowMs(), partitions: current, statuses, reads: finalReads, clientReads }
  if (convergedAfterMs === undefined) checker.violations.push({ atMs: world.nowMs(), rule: 'liveness', detail: `not converged within ${convergeMsMax} ms of healing` })
  checker.checkConverged(acked, finalState)

  let epochMax = 0
  let committedOffsets = 0
  for (const { status } of statuses) epochMax = Math.max(epochMax, status.epoch)
  for (const { topic, partition } of allPartitions) committedOffsets += checker.committedEnd(topic, partition)
  const result: BrokerSimResult = {
    seed,
    faultMode,
    topics,
    produces,
    consumedBatches: consumed,
    acked: acked.length,
    ackedRecords: acked.reduce((sum, write) => sum + write.values.length, 0),
    failed,
    crashes,
    partitions: splits,
    moved: moved.length,
    epochMax,
    committedOffsets,
    statusSamples: checker.statusSamples,
    committedReads: checker.committedReads,
    faults,
    violations: [...violations()].sort((a, b) => a.atMs - b.atMs),
    convergedAfterMs,
    events: world.scheduler.eventsProcessed,
    virtualMs: world.nowMs(),
    trace: world.traceHex(),
  }
  return result
}

export function statusOf(replica: PartitionReplica): { role: string; epoch: number; leader: string | undefined; highWatermark: number; logEndOffset: number; logStartOffset: number } {
  return {
    role: replica.role,
    epoch: replica.epoch,
    leader: replica.leader,
    highWatermark: replica.highWatermark,
    logEndOffset: replica.logEndOffset,
    logStartOffset: replica.logStartOffset,
  }
}

/** Reads a replica's whole committed log (log start to its high watermark when the read began). */
export async function readCommitted(replica: PartitionReplica, ref: ReplicaRef, nowMs: () => number, withValues: boolean): Promise<CommittedRead | undefined> {
  if (replica.isClosed) return undefined
  const atMs = nowMs()
  const fromOffset = replica.logStartOffset
  const highWatermark = replica.highWatermark
  const batches: BatchView[] = []
  let next = fromOffset
  while (next < highWatermark) {
    if (replica.isClosed) return undefined
    const read = await replica.read(next, READ_BYTES_MAX)
    if (read.batchCount === 0) break
    batches.push(...batchViews(read.bytes, { withValues }))
    next = read.nextOffset
  }
  return { replica: ref, atMs, fromOffset, highWatermark, batches }
}

/** Everything committed in a partition, through the client (the leader serves it), from offset 0. */
async function fetchAll(client: BrokerClient, topic: string, partition: number): Promise<BatchView[]> {
  const batches: BatchView[] = []
  let next = 0
  for (;;) {
    const response = await client.fetch(topic, partition, next, READ_BYTES_MAX)
    const views = batchViews(response.records)
    batches.push(...views)
    const last = views.at(-1)
    if (last === undefined || last.lastOffset + 1 >= response.highWatermark) return batches
    next = last.lastOffset + 1
  }
}

export async function fetchAllWithRetries(client: BrokerClient, clock: Clock, topic: string, partition: number): Promise<BatchView[] | undefined> {
  const deadlineMs = clock.nowMs() + FINAL_WRITE_MS_MAX
  while (clock.nowMs() < deadlineMs) {
    try {
      return await fetchAll(client, topic, partition)
    } catch {
      await sleep(clock, 500)
    }
  }
  return undefined
}

/** Every partition has one leader that all its replicas follow, and every replica has its whole log committed. */
export function converged(cluster: SimCluster, partitions: readonly { topic: string; partition: number; replicas: readonly string[] }[]): boolean {
  for (const { topic, partition, replicas } of partitions) {
    const hosted = replicas.map((nodeId) => cluster.nodes.get(nodeId)?.services?.hostedReplicas.get(`replica/${topic}/${partition}/${nodeId}`)?.replica)
    const leaders = hosted.filter((replica) => replica?.role === 'leader')
    if (leaders.length !== 1) return false
    const leader = leaders[0] as PartitionReplica
    for (const replica of hosted) {
      if (replica === undefined || replica.isClosed) return false
      if (replica.epoch !== leader.epoch || replica.leader !== leader.leader || replica.highWatermark !== leader.logEndOffset) return false
    }
    // No replica move half done (nor one being undone, which passes through four voters
    // listed): the Raft group is exactly the metadata's replica set, of the factor's size.
    const { voters, learners } = leader.membership
    if (replicas.length !== REPLICATION_FACTOR) return false
    if (learners.length > 0 || [...voters].sort().join(',') !== [...replicas].sort().join(',')) return false
  }
  return true
}

/**
 * After healing: runs the world until the workload's loops (`workload`, named `who` in the
 * complaint) have ended, then until the cluster has converged on `partitions` (looking every
 * 250 ms); returns a liveness complaint for each that did not happen within its bound.
 */
export async function awaitStopAndConvergence(
  cluster: SimCluster,
  partitions: readonly { topic: string; partition: number; replicas: readonly string[] }[],
  workload: readonly Promise<void>[],
  bounds: { readonly who: string; readonly stopMsMax: number; readonly convergeMsMax: number },
): Promise<string[]> {
  const world = cluster.world
  const complaints: string[] = []
  let stopped = false
  void Promise.all(workload).then(() => (stopped = true))
  await world.runUntil(() => stopped, { timeoutMs: bounds.stopMsMax })
  if (!stopped) complaints.push(`${bounds.who} got no answer within ${bounds.stopMsMax} ms of healing`)
  const deadlineMs = world.nowMs() + bounds.convergeMsMax
  while (world.nowMs() < deadlineMs && !converged(cluster, partitions)) await world.runFor(250)
  if (!converged(cluster, partitions)) complaints.push(`the cluster did not converge within ${bounds.convergeMsMax} ms of healing`)
  return complaints
}

export async function createTopicWithRetries(client: BrokerClient, name: string, partitions: number): Promise<{ partitions: string[][] }> {
  let lastError: unknown
  for (let attempt = 0; attempt < 10; attempt++) {
    try {
      return await client.createTopic({ name, partitions, replicationFactor: REPLICATION_FACTOR })
    } catch (error) {
      lastError = error
      // A retry may find that an earlier attempt made it.
      const described = await client.describeTopic(name).catch(() => undefined)
      if (described !== undefined) return { partitions: described.partitions.map((p) => [...p.replicas]) }
    }
  }
  throw new Error(`could not create topic ${name}: ${String(lastError)}`)
}

export function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimer(ms, resolve))
}

export function fmt(ms: number): string {
  return `t=${(ms / 1000).toFixed(3)}s`
}

/** The command that replays one seed. */
export function replayCommand(seed: number, options: { faultPhaseMs?: number; raftTickMs?: number } = {}): string {
  const { faultPhaseMs, raftTickMs } = options
  const flags = [
    faultPhaseMs === undefined || faultPhaseMs === BROKER_SIM_FAULT_PHASE_MS_DEFAULT ? '' : ` --fault-ms ${faultPhaseMs}`,
    raftTickMs === undefined ? '' : ` --raft-tick-ms ${raftTickMs}`,
  ].join('')
  return `npm run sim:broker -- --seed ${seed}${flags}`
}

/** One line per seed: what ran, and ok or the first violation. */
export function summarize(result: BrokerSimResult): string {
  const topics = result.topics.map((topic) => `${topic.name}x${topic.partitions.length}`).join(',')
  const head = `seed=${result.seed} mode=${result.faultMode} topics=${topics} produces=${result.produces} consumed=${result.consumedBatches} acked=${result.acked} failed=${result.failed} crashes=${result.crashes} partitions=${result.partitions} moved=${result.moved} epochMax=${result.epochMax} committed=${result.committedOffsets} converged=${result.convergedAfterMs === undefined ? 'no' : `${Math.round(result.convergedAfterMs)}ms`} virtualMs=${Math.round(result.virtualMs)} events=${result.events} trace=${result.trace}`
  const first = result.violations[0]
  return first === undefined ? `${head} ok` : `${head} VIOLATIONS=${result.violations.length} first: ${formatViolation(first)}`
}
