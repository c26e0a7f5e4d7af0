/**
 * The whole broker under the seeded simulator (sim/broker/): five complete nodes, topics of
 * replication factor 3, a client producing with acks=all while nodes crash (losing unsynced
 * writes), restart and are partitioned; then heal and converge.
 * - 200 seeds (1..200), each checked for lost acknowledged writes, divergent committed
 *   prefixes, gaps or reused offsets, two leaders in one epoch, and convergence after healing;
 * - the same seed replays event for event (trace hash);
 * - the checker fails on fabricated histories of each kind, and end to end on a broker that
 *   acknowledges acks=all writes before they commit and on one that serves uncommitted reads.
 *
 * A failing seed replays with the command printed beside it: `npm run sim:broker -- --seed N`.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { PartitionReplica } from '../../actors/partition/replica.js'
import { type AckedWrite, type BatchView, BrokerChecker, type CommittedRead, type FinalState, type ReplicaRef, type StatusSample, batchViews } from '../../sim/broker/checker.js'
import { type BrokerSimResult, replayCommand, runBrokerSim, summarize } from '../../sim/broker/scenario.js'
import { SIM_CLUSTER_ID, SIM_CLUSTER_SECRET, SIM_NODE_PORT, SimCluster } from '../../sim/cluster.js'
import { Scheduler } from '../../sim/scheduler.js'
import { settle } from '../../sim/settle.js'
import { BrokerClient } from '../../src/client/index.js'
import { PartitionLog } from '../../src/log/index.js'
import { encodeRecordBatch } from '../../src/log/record-batch.js'
import { BatchField, readInt32 } from '../../src/log/batch-header.js'
import { FAST_SWIM_SETTINGS } from '../../src/membership/index.js'
import { RaftStateFile } from '../../src/raft/index.js'

const SEED_FIRST = 1
const SEED_COUNT = 200
/** Seeds per `it`, so a slow machine sees progress and each block keeps its own timeout. */
const SEEDS_PER_BLOCK = 50
/** Generous: a seed takes about half a second of wall time on one core. */
const BLOCK_TIMEOUT_MS = 240_000

function replay(result: BrokerSimResult): string {
  return `${summarize(result)}\n  replay: ${replayCommand(result.seed)}`
}

describe(`broker simulator: seeds ${SEED_FIRST}..${SEED_FIRST + SEED_COUNT - 1}, five nodes, RF 3, acks=all under crashes and partitions`, () => {
  const results: BrokerSimResult[] = []

  for (let first = SEED_FIRST; first < SEED_FIRST + SEED_COUNT; first += SEEDS_PER_BLOCK) {
    const last = Math.min(first + SEEDS_PER_BLOCK, SEED_FIRST + SEED_COUNT) - 1
    it(`runSeeds_${first}to${last}_noViolation`, async () => {
      const failed: string[] = []
      for (let seed = first; seed <= last; seed++) {
        let result: BrokerSimResult
        try {
          result = await runBrokerSim({ seed })
        } catch (error) {
          failed.push(`seed=${seed} crashed: ${error instanceof Error ? error.stack : String(error)}\n  replay: ${replayCommand(seed)}`)
          continue
        }
        results.push(result)
        if (result.violations.length > 0) failed.push(replay(result))
      }
      expect(failed, 'seeds with a violation (each line replays one)').toEqual([])
    }, BLOCK_TIMEOUT_MS)
  }

  it('runSeeds_exerciseTheFaults_crashesElectionsCommitsAndBothModes', () => {
    // Guards the guard: a simulator that never crashed, elected or committed would pass every check.
    expect(results.length).toBe(SEED_COUNT)
    const sum = (pick: (result: BrokerSimResult) => number): number => results.reduce((total, result) => total + pick(result), 0)
    console.log(
      `broker sim: ${results.length} seeds; ${sum((r) => r.acked)} acknowledged produces (${sum((r) => r.ackedRecords)} records), ` +
        `${sum((r) => r.crashes)} crashes, ${sum((r) => r.partitions)} partitions, ${results.filter((r) => r.faultMode === 'majority').length} seeds with majority faults, ` +
        `${sum((r) => r.moved)} partitions moved, ${sum((r) => r.consumedBatches)} batches consumed, ` +
        `${sum((r) => r.statusSamples)} status samples, ${sum((r) => r.committedReads)} committed-log reads`,
    )
    expect(results.every((result) => result.acked > 0 && result.committedOffsets > 0)).toBe(true)
    expect(sum((r) => r.crashes)).toBeGreaterThan(SEED_COUNT * 2)
    expect(sum((r) => r.partitions)).toBeGreaterThan(SEED_COUNT / 2)
    expect(results.filter((result) => result.epochMax >= 3).length).toBeGreaterThan(SEED_COUNT / 2)
    expect(results.filter((result) => result.faultMode === 'majority').length).toBeGreaterThan(SEED_COUNT / 10)
    expect(results.filter((result) => result.failed > 0).length, 'some produces failed under the faults').toBeGreaterThan(SEED_COUNT / 10)
    expect(results.filter((result) => result.moved > 0).length, 'some seeds moved replicas (membership changes)').toBeGreaterThan(0)
    expect(sum((r) => r.consumedBatches), 'the consumer read under the faults').toBeGreaterThan(SEED_COUNT * 50)
  })
})

describe('broker simulator: determinism', () => {
  it('scheduler_delayBelowTheResolutionOfNow_stillMovesTimeOn', async () => {
    // A restarted node's clock reads origin + (now - start): its rounding residue once made the
    // membership shell re-arm a 1.8e-12 ms timer that the scheduler put at `now` itself, over
    // and over (ten million events at one instant in seed 32 of an early scenario version).
    const scheduler = new Scheduler()
    await scheduler.runUntil(16_000.123)
    const startMs = scheduler.nowMs()
    expect(startMs + 3e-13).toBe(startMs)
    let rearms = 0
    const rearm = (): void => {
      if (scheduler.nowMs() > startMs) return
      rearms++
      scheduler.scheduleAfter(3e-13, 'test:rearm', rearm)
    }
    rearm()
    const result = await scheduler.runUntil(() => scheduler.nowMs() > startMs, { eventsMax: 10 })
    expect(result.stopReason).toBe('condition')
    expect(rearms).toBe(1)
  })

  it('sameSeed_twice_sameRunEventForEvent', async () => {
    const a = await runBrokerSim({ seed: 7 })
    const b = await runBrokerSim({ seed: 7 })
    expect(b.trace).toBe(a.trace)
    expect(b.events).toBe(a.events)
    expect(b.faults).toEqual(a.faults)
    expect(summarize(b)).toBe(summarize(a))
  }, 60_000)
})

// ------------------------------------------------------------------ the checker, on fabricated histories

const encoder = new TextEncoder()

/** A data batch of `values` stamped at `baseOffset` in `epoch`, as the leader would store it. */
function dataBatch(baseOffset: number, epoch: number, values: string[]): BatchView {
  const bytes = encodeRecordBatch({ baseOffset, partitionLeaderEpoch: epoch, records: values.map((value, i) => ({ key: null, value: encoder.encode(value), timestamp: 1_700_000_000_000 + i })) })
  return batchViews(bytes)[0] as BatchView
}

/** The LeaderChange control batch `leader` writes first in `epoch`. */
function leaderChange(baseOffset: number, epoch: number, leader: string): BatchView {
  const bytes = encodeRecordBatch({
    baseOffset,
    partitionLeaderEpoch: epoch,
    isControl: true,
    records: [{ key: Uint8Array.of(0, 0, 0, 2), value: encoder.encode(JSON.stringify({ leader, epoch, voters: ['n1', 'n2', 'n3'] })), timestamp: 1_700_000_000_000 }],
  })
  return batchViews(bytes)[0] as BatchView
}

const ref = (node: string, incarnation = 1): ReplicaRef => ({ topic: 't', partition: 0, node, incarnation })
const status = (role: string, epoch: number, leader: string | undefined, highWatermark: number, logEndOffset = highWatermark): StatusSample => ({ role, epoch, leader, highWatermark, logEndOffset, logStartOffset: 0 })
const read = (node: string, batches: BatchView[], highWatermark: number, atMs = 0, incarnation = 1): CommittedRead => ({ replica: ref(node, incarnation), atMs, fromOffset: 0, highWatermark, batches })

/** n1 leads epoch 1: LeaderChange at 0, [a,b] at 1..2, [c] at 3. */
function epochOneLog(): BatchView[] {
  return [leaderChange(0, 1, 'n1'), dataBatch(1, 1, ['a', 'b']), dataBatch(3, 1, ['c'])]
}

const ackedAB: AckedWrite = { topic: 't', partition: 0, baseOffset: 1, lastOffset: 2, values: ['a', 'b'], atMs: 10 }
const ackedC: AckedWrite = { topic: 't', partition: 0, baseOffset: 3, lastOffset: 3, values: ['c'], atMs: 11 }

/** After healing: every replica follows `leader` at `epoch` with the given logs, and the client read `clientLog`. */
function finalState(logs: Record<string, BatchView[]>, leader: string, epoch: number, clientLog: BatchView[] | undefined = logs[leader]): FinalState {
  const end = (log: BatchView[]): number => (log.at(-1)?.lastOffset ?? -1) + 1
  const leaderEnd = end(logs[leader] as BatchView[])
  return {
    atMs: 1_000,
    partitions: [{ topic: 't', partition: 0, replicas: ['n1', 'n2', 'n3'] }],
    statuses: Object.entries(logs).map(([node, log]) => ({ replica: ref(node), status: status(node === leader ? 'leader' : 'follower', epoch, leader, end(log), node === leader ? leaderEnd : end(log)) })),
    reads: Object.entries(logs).map(([node, log]) => read(node, log, end(log), 1_000)),
    clientReads: new Map([['t/0', clientLog]]),
  }
}

function rules(checker: BrokerChecker): string[] {
  return [...new Set(checker.violations.map((violation) => violation.rule))].sort()
}

describe('BrokerChecker', () => {
  it('check_cleanHistoryWithFailover_noViolation', () => {
    const checker = new BrokerChecker()
    checker.observeStatus(0, ref('n1'), status('leader', 1, 'n1', 4))
    checker.observeStatus(0, ref('n2'), status('follower', 1, 'n1', 4))
    checker.observeCommitted(read('n2', epochOneLog(), 4))
    // n1 crashes; n2 leads epoch 2 and appends after the committed prefix; n1 comes back (HW from 0 again).
    const log = [...epochOneLog(), leaderChange(4, 2, 'n2'), dataBatch(5, 2, ['d'])]
    checker.observeStatus(5, ref('n2'), status('leader', 2, 'n2', 6))
    checker.observeStatus(6, ref('n1', 2), status('follower', 2, 'n2', 0, 4))
    checker.checkConverged([ackedAB, ackedC, { topic: 't', partition: 0, baseOffset: 5, lastOffset: 5, values: ['d'], atMs: 7 }], finalState({ n1: log, n2: log, n3: log }, 'n2', 2))
    expect(checker.violations).toEqual([])
  })

  it('check_acknowledgedWriteMissingAtTheEnd_lost', () => {
    const checker = new BrokerChecker()
    const log = epochOneLog().slice(0, 2) // [c] at 3 is gone everywhere
    checker.checkConverged([ackedAB, ackedC], finalState({ n1: log, n2: log, n3: log }, 'n1', 1))
    expect(rules(checker)).toEqual(['acknowledged write lost', 'acknowledged write readable'])
  })

  it('check_acknowledgedOffsetHoldsAnotherValue_lost', () => {
    const checker = new BrokerChecker()
    const log = [leaderChange(0, 1, 'n1'), dataBatch(1, 1, ['a', 'x']), dataBatch(3, 1, ['c'])]
    checker.checkConverged([ackedAB, ackedC], finalState({ n1: log, n2: log, n3: log }, 'n1', 1))
    expect(rules(checker)).toEqual(['acknowledged write lost', 'acknowledged write readable'])
  })

  it('check_twoAcknowledgementsForOneOffset_offsetsNeverReused', () => {
    const checker = new BrokerChecker()
    const log = epochOneLog()
    checker.checkConverged([ackedAB, ackedC, { topic: 't', partition: 0, baseOffset: 2, lastOffset: 3, values: ['y', 'c'], atMs: 12 }], finalState({ n1: log, n2: log, n3: log }, 'n1', 1))
    expect(rules(checker)).toContain('offsets never reused')
  })

  it('check_consumerSawARecordThatLaterVanished_prefixesIdentical', () => {
    // A consumer read [x] at 3 from a leader that was deposed; the committed log has [c] there.
    const checker = new BrokerChecker()
    checker.observeCommitted({ replica: { topic: 't', partition: 0, node: 'consumer', incarnation: 1 }, atMs: 5, fromOffset: 3, highWatermark: 3, batches: [dataBatch(3, 1, ['x'])] })
    checker.observeCommitted(read('n2', epochOneLog(), 4, 9))
    expect(rules(checker)).toEqual(['committed prefixes identical'])
  })

  it('check_twoLeadersInOneEpoch_electionSafety', () => {
    const checker = new BrokerChecker()
    checker.observeStatus(100, ref('n1'), status('leader', 3, 'n1', 0))
    checker.observeStatus(150, ref('n2'), status('leader', 3, 'n2', 0))
    expect(rules(checker)).toEqual(['election safety'])
    expect(checker.violations[0]?.atMs).toBe(150)
  })

  it('check_leaderChangeRecordNamesAnotherLeader_electionSafety', () => {
    const checker = new BrokerChecker()
    checker.observeStatus(0, ref('n2'), status('leader', 1, 'n2', 0))
    checker.observeCommitted(read('n3', epochOneLog(), 4)) // the log says n1 led epoch 1
    expect(rules(checker)).toEqual(['election safety'])
  })

  it('check_replicasDisagreeOnACommittedBatch_prefixesIdentical', () => {
    const checker = new BrokerChecker()
    checker.observeCommitted(read('n1', epochOneLog(), 4))
    checker.observeCommitted(read('n2', [leaderChange(0, 1, 'n1'), dataBatch(1, 1, ['a', 'z']), dataBatch(3, 1, ['c'])], 4))
    expect(rules(checker)).toEqual(['committed prefixes identical'])
  })

  it('check_committedOffsetReusedLaterOnTheSameReplica_prefixesIdentical', () => {
    // Seen committed at 1 s; at 5 s the same replica (restarted) has another batch there.
    const checker = new BrokerChecker()
    checker.observeCommitted(read('n1', epochOneLog(), 4, 1_000))
    checker.observeCommitted(read('n1', [leaderChange(0, 1, 'n1'), dataBatch(1, 1, ['a', 'b']), leaderChange(3, 2, 'n2')], 4, 5_000, 2))
    expect(rules(checker)).toEqual(['committed prefixes identical'])
  })

  it('check_batchesOverlapAtDifferentBoundaries_prefixesIdentical', () => {
    const checker = new BrokerChecker()
    checker.observeCommitted(read('n1', epochOneLog(), 4))
    checker.observeCommitted(read('n2', [leaderChange(0, 1, 'n1'), dataBatch(1, 1, ['a']), dataBatch(2, 1, ['b', 'c'])], 4))
    expect(rules(checker)).toEqual(['committed prefixes identical'])
  })

  it('check_gapInACommittedLog_contiguousOffsets', () => {
    const checker = new BrokerChecker()
    checker.observeCommitted(read('n1', [leaderChange(0, 1, 'n1'), dataBatch(2, 1, ['c'])], 3))
    expect(rules(checker)).toEqual(['contiguous offsets'])
  })

  it('check_committedLogShorterThanHighWatermark_incomplete', () => {
    const checker = new BrokerChecker()
    checker.observeCommitted(read('n1', epochOneLog().slice(0, 2), 4))
    expect(rules(checker)).toEqual(['committed prefix complete'])
  })

  it('check_epochGoesBackAlongALog_violation', () => {
    const checker = new BrokerChecker()
    checker.observeCommitted(read('n1', [leaderChange(0, 2, 'n1'), dataBatch(1, 1, ['a'])], 2))
    expect(rules(checker)).toEqual(['epochs grow along a log'])
  })

  it('check_highWatermarkGoesBackWithinAProcess_violation_butNotAcrossARestart', () => {
    const checker = new BrokerChecker()
    checker.observeStatus(0, ref('n1'), status('follower', 1, 'n2', 4))
    checker.observeStatus(1, ref('n1', 2), status('follower', 1, 'n2', 0, 4))
    expect(checker.violations).toEqual([])
    checker.observeStatus(2, ref('n1', 2), status('follower', 1, 'n2', 3, 4))
    checker.observeStatus(3, ref('n1', 2), status('follower', 1, 'n2', 2, 4))
    expect(rules(checker)).toEqual(['high watermark never decreases'])
  })

  it('check_noLeaderAfterHealing_liveness', () => {
    const checker = new BrokerChecker()
    const log = epochOneLog()
    const state = finalState({ n1: log, n2: log, n3: log }, 'n1', 1)
    const leaderless: FinalState = { ...state, statuses: state.statuses.map((entry) => ({ ...entry, status: { ...entry.status, role: 'follower', leader: undefined } })) }
    checker.checkConverged([ackedAB], leaderless)
    expect(rules(checker)).toEqual(['liveness'])
  })

  it('check_followerNotCaughtUpAfterHealing_liveness', () => {
    const checker = new BrokerChecker()
    const log = epochOneLog()
    checker.checkConverged([ackedAB, ackedC], finalState({ n1: log, n2: log, n3: log.slice(0, 2) }, 'n1', 1))
    expect(rules(checker)).toEqual(['liveness'])
  })
})

// ------------------------------------------------------------------ end to end: a broker that acks too early

describe('broker simulator, end to end: a broken broker is caught', () => {
  const originals = new Map(['whenCommitted', 'read'].map((name) => [name, Object.getOwnPropertyDescriptor(PartitionReplica.prototype, name)]))
  afterEach(() => {
    for (const [name, descriptor] of originals) if (descriptor !== undefined) Object.defineProperty(PartitionReplica.prototype, name, descriptor)
  })

  /** The first seed from 1 whose run breaks one of `rules`, searching at most `seedsMax`. */
  async function firstSeedBreaking(rules: readonly string[], seedsMax: number): Promise<BrokerSimResult | undefined> {
    for (let seed = 1; seed <= seedsMax; seed++) {
      const result = await runBrokerSim({ seed })
      if (result.violations.some((violation) => rules.includes(violation.rule))) return result
    }
    return undefined
  }

  it('acksBeforeCommit_someSeedLosesAnAcknowledgedWrite', async () => {
    // The leader answers acks=all once its own copy is on disk, without waiting for a
    // majority: a leader cut off or crashed before replicating takes those writes with it.
    expect(originals.get('whenCommitted'), 'PartitionReplica.whenCommitted exists (the sabotage needs it)').toBeDefined()
    Object.defineProperty(PartitionReplica.prototype, 'whenCommitted', { value: () => Promise.resolve(), configurable: true, writable: true })
    const caught = await firstSeedBreaking(['acknowledged write lost'], 20)
    expect(caught, 'some seed loses an acknowledged write').toBeDefined()
    console.log(`early acks caught: ${summarize(caught as BrokerSimResult)}`)
  }, 120_000)

  it('readsPastTheHighWatermark_someSeedServesARecordThatIsLaterReplaced', async () => {
    // Replicas serve their whole log, committed or not (a dirty read): a consumer or a sample
    // sees a deposed leader's tail that the next leader overwrites.
    expect(originals.get('read'), 'PartitionReplica.read exists (the sabotage needs it)').toBeDefined()
    const dirtyRead = function (this: { partitionLog: { read(from: number, maxBytes: number): unknown } }, fromOffset: number, maxBytes: number): unknown {
      return this.partitionLog.read(fromOffset, maxBytes)
    }
    Object.defineProperty(PartitionReplica.prototype, 'read', { value: dirtyRead, configurable: true, writable: true })
    const caught = await firstSeedBreaking(['committed prefixes identical', 'contiguous offsets'], 20)
    expect(caught, 'some seed serves an uncommitted record').toBeDefined()
    console.log(`dirty reads caught: ${summarize(caught as BrokerSimResult)}`)
  }, 120_000)
})

// ------------------------------------------------------------------ directed: a crash between a new epoch's records and its state file

describe('a follower that crashes right after appending the first records of a new epoch', () => {
  const original = Object.getOwnPropertyDescriptor(PartitionLog.prototype, 'appendReplicated')
  afterEach(() => {
    if (original !== undefined) Object.defineProperty(PartitionLog.prototype, 'appendReplicated', original)
  })

  it.each([11, 12, 13])('restartsWithAnEpochCacheThatNamesThatEpoch (seed %i)', async (seed) => {
    // Random crashes almost never land in the few milliseconds between a follower's fsync of
    // fetched records and the save of its Raft state file, so this one is placed there: after
    // restart, epoch-E records without epoch E in the state file make the replica look less
    // up to date than it is (it votes for shorter logs, which may then cut committed records).
    const ids = ['n1', 'n2', 'n3']
    const cluster = await SimCluster.start(ids, { seed, configFor: () => ({ controllers: ids, swimSettings: FAST_SWIM_SETTINGS }) })
    const world = cluster.world
    const client = await settle(world, BrokerClient.connect(world.addNode('client'), { seeds: ids.map((id) => `${id}:${SIM_NODE_PORT}`), clusterId: SIM_CLUSTER_ID, clusterSecret: SIM_CLUSTER_SECRET }))
    await settle(world, client.createTopic({ name: 't', partitions: 1, replicationFactor: 3 }))
    await settle(world, client.waitForLeaders('t'))
    const records = encodeRecordBatch({ records: [{ key: null, value: encoder.encode('v'), timestamp: 1_700_000_000_000 }] })
    for (let i = 0; i < 3; i++) await settle(world, client.produce('t', 0, records.slice(), -1))
    const replicaOn = (id: string): PartitionReplica | undefined => cluster.nodes.get(id)?.services?.hostedReplicas.get(`replica/t/0/${id}`)?.replica
    const leader = ids.find((id) => replicaOn(id)?.role === 'leader') as string
    const oldEpoch = (replicaOn(leader) as PartitionReplica).epoch
    // Followers append fetched records through appendReplicated: the first append of a batch
    // from a later epoch crashes its node as soon as the append is durable.
    let crashed: { node: string; epoch: number } | undefined
    const appendReplicated = original?.value as (this: PartitionLog, batches: Uint8Array) => Promise<unknown>
    Object.defineProperty(PartitionLog.prototype, 'appendReplicated', {
      configurable: true,
      writable: true,
      value: function (this: PartitionLog, batches: Uint8Array): Promise<unknown> {
        const epoch = readInt32(batches, BatchField.partitionLeaderEpoch)
        const disk = (this as unknown as { env: { disk: unknown } }).env.disk
        const node = ids.find((id) => world.disk(id) === disk) as string
        const appended = appendReplicated.call(this, batches)
        // Topic t's log only: the metadata quorum's replicas append through here too.
        if (crashed !== undefined || epoch <= oldEpoch || !this.dir.includes('partitions/t-0')) return appended
        crashed = { node, epoch }
        return appended.then((result) => {
          // At this instant, before the next disk operation can complete.
          world.scheduler.schedule(world.nowMs(), 'test:crash', () => cluster.crash(node))
          return result
        })
      },
    })
    cluster.crash(leader)
    await world.runUntil(() => crashed !== undefined && !world.process(crashed.node).alive, { timeoutMs: 30_000 })
    expect(crashed, 'a follower appended records of a new epoch').toBeDefined()
    const { node, epoch } = crashed as { node: string; epoch: number }
    const state = await settle(world, new RaftStateFile(world.disk(node), 'partitions/t-0').load())
    expect(state.epochs.map((entry) => entry.epoch), `${node}'s state file after crashing with epoch-${epoch} records on disk`).toContain(epoch)
  }, 60_000)
})

describe('broker simulator regressions: a replica that missed a membership change (40 s fault phase)', () => {
  // A replica cut off or down while the partition moved (a new replica added, then leading)
  // came back with a membership view that did not name the new leader, dropped its
  // beginEpoch and fetch answers as coming from a non-member, and never caught up:
  // "replicas not caught up with leader n3 after healing". Fixed in src/raft/raft.ts
  // (leader-originated messages are taken from non-members). The runs these seeds make
  // depend on the whole broker, so test/partition/replica.test.ts keeps a scripted repro too.
  for (const seed of [400494, 700256]) {
    it(`seed${seed}_faultMs40000_staleMembershipReplicaCatchesUp`, async () => {
      const result = await runBrokerSim({ seed, faultPhaseMs: 40_000 })
      expect(result.violations, `${summarize(result)}\n  replay: ${replayCommand(seed, { faultPhaseMs: 40_000 })}`).toEqual([])
    }, 120_000)
  }
})

describe('broker simulator regressions: convergence after healing (40 s fault phase)', () => {
  // 400220: a move left a learner no broker hosted, and a move whose dead node came back
  // stayed at four replicas (fixed in actors/topic/reassignment.ts: undo, drop strays).
  // 400017: the final snapshot caught a preferred-leader transfer mid-election (the run now
  // waits until the cluster stays converged).
  for (const seed of [400220, 400017]) {
    it(`seed${seed}_faultMs40000_convergesAndStaysConverged`, async () => {
      const result = await runBrokerSim({ seed, faultPhaseMs: 40_000 })
      expect(result.violations, `${summarize(result)}\n  replay: ${replayCommand(seed, { faultPhaseMs: 40_000 })}`).toEqual([])
    }, 120_000)
  }
})
