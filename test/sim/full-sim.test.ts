/**
 * The full-system simulator (sim/full/, `npm run sim`): the whole cluster, producers of every
 * kind, consumers by assignment and a consumer group, under a fault menu drawn per seed.
 * - a sweep of seeds 1..100 of the full menu, each checked for every anomaly the history
 *   checker names, then healed and required to converge with every acknowledged record
 *   readable; a seed passes only with no anomaly at all;
 * - the same seed replays event for event (trace hash);
 * - the history checker, given fabricated histories with each anomaly, names it.
 *
 * A failing seed replays with the command printed beside it: `npm run sim -- --seed N`.
 */
import { describe, expect, it } from 'vitest'
import { type BatchView, type CommittedRead, type FinalState, type ReplicaRef, type StatusSample, batchViews } from '../../sim/broker/checker.js'
import { type Anomaly, AnomalyKind, FullChecker, type FullFinalState, summarizeAnomalies } from '../../sim/full/checker.js'
import { History, Outcome, type ProduceOp } from '../../sim/full/history.js'
import { FAULT_CLASSES, FAULT_KINDS, drawMenu, parseFaultClasses } from '../../sim/full/menu.js'
import { replayCommand, resultLine } from '../../sim/full/report.js'
import { type FullSimResult, runFullSim } from '../../sim/full/scenario.js'
import { Prng } from '../../sim/prng.js'
import { encodeRecordBatch } from '../../src/log/record-batch.js'

// ------------------------------------------------------------------ the sweep

const SEED_FIRST = 1
const SEED_COUNT = 100
/** Seeds per `it`, so a slow machine sees progress and each block keeps its own timeout. */
const SEEDS_PER_BLOCK = 25
/** Generous: a seed takes about a second of wall time on one core (a few seconds when it waits out a liveness bound). */
const BLOCK_TIMEOUT_MS = 300_000

function describeFailure(result: FullSimResult): string {
  const anomalies = result.anomalies.slice(0, 5).map((anomaly) => `    ${anomaly.kind}: ${anomaly.detail}`)
  return [resultLine(result), ...anomalies, `  replay: ${replayCommand(result.seed)}`].join('\n')
}

describe(`full-system simulator: seeds ${SEED_FIRST}..${SEED_FIRST + SEED_COUNT - 1} of the full fault menu`, () => {
  const results: FullSimResult[] = []

  for (let first = SEED_FIRST; first < SEED_FIRST + SEED_COUNT; first += SEEDS_PER_BLOCK) {
    const last = Math.min(first + SEEDS_PER_BLOCK, SEED_FIRST + SEED_COUNT) - 1
    it(`runSeeds_${first}to${last}_noAnomaly`, async () => {
      const failed: string[] = []
      for (let seed = first; seed <= last; seed++) {
        let result: FullSimResult
        try {
          result = await runFullSim({ seed })
        } catch (error) {
          failed.push(`seed=${seed} crashed: ${error instanceof Error ? error.stack : String(error)}\n  replay: ${replayCommand(seed)}`)
          continue
        }
        results.push(result)
        if (result.anomalies.length > 0) failed.push(describeFailure(result))
      }
      expect(failed, 'seeds with an anomaly (each replays with the command shown)').toEqual([])
    }, BLOCK_TIMEOUT_MS)
  }

  it('runSeeds_exerciseTheMenu_everyClassAndTheWorkload', () => {
    // Guards the guard: a run that injected nothing or wrote nothing would pass every check.
    expect(results.length).toBe(SEED_COUNT)
    const kinds = new Map<string, number>()
    for (const result of results) for (const [kind, count] of result.faultCounts) kinds.set(kind, (kinds.get(kind) ?? 0) + count)
    const sum = (pick: (result: FullSimResult) => number): number => results.reduce((total, result) => total + pick(result), 0)
    console.log(
      `full sim: ${results.length} seeds, ${sum((r) => r.events)} events; ${sum((r) => r.produces)} sends (${sum((r) => r.acked)} ok, ${sum((r) => r.unknown)} unknown, ${sum((r) => r.failed)} failed), ` +
        `${sum((r) => r.polls)} polls, ${sum((r) => r.processed)} records processed by the group; faults: ${[...kinds].map(([kind, count]) => `${kind}=${count}`).join(' ')}`,
    )
    for (const kind of FAULT_KINDS) expect(kinds.get(kind) ?? 0, `fault kind ${kind} injected`).toBeGreaterThan(0)
    expect(results.every((result) => result.ackedAllRecords > 0 && result.polls > 0 && result.processed > 0)).toBe(true)
    expect(results.filter((result) => result.unknown > 0).length, 'some sends ended unknown').toBeGreaterThan(0)
    expect(results.filter((result) => result.menu.mode === 'majority').length).toBeGreaterThan(SEED_COUNT / 20)
  })
})

/** Seeds that found a node bug, each kept once the bug was fixed: each must stay clean. */
describe('full-system simulator: regressions', () => {
  it.each([
    [58, 'a consumer\'s only node (n3, just restarted) had not read the metadata yet and said the topic does not exist; the consumer stopped for good'],
    [11, 'n5 fills its disk: its replicas stopped on ENOSPC and were never reopened'],
    [68, 'a flipped bit in events/0 on n2: the replica stopped and stayed stopped; the partition had no leader after healing'],
    [4, 'a flipped bit on the leader of events/1 (n4): it kept leading and no client could read past the batch'],
    [82, 'a flipped bit in the leader epoch of a stored batch on n3 (outside the CRC) was served as committed'],
    [226, 'n2 fills its disk: an append to its metadata log rejected with nobody waiting (an unhandled rejection)'],
    [27, 'a corrupt batch in the active segment, cut on reopen, cost n5 acknowledged records but it voted at once: lost writes'],
    [850, 'a consumer fetch held on n5 across its stop and repair was answered from the cut log: OFFSET_OUT_OF_RANGE, reset to earliest'],
    [119, 'n6 could not open its replica of events/0 while its disk was full, and nothing asked it again'],
    [187, 'n5 stopped on ENOSPC; reopening cut a rotten batch as if torn (records it had acknowledged) and it voted at once'],
    [868, 'a coordinator cut off from its followers still answered offset fetches from memory: commits another leader acknowledged read back older'],
    [995, 'the metadata controller retried applying from a stopped replica at once, forever: a microtask loop that hung the run'],
  ])('seed %i: %s', async (seed) => {
    const result = await runFullSim({ seed })
    expect(result.anomalies.map((anomaly) => `${anomaly.kind}: ${anomaly.detail}`)).toEqual([])
  }, 120_000)
})

describe('full-system simulator: determinism and the menu', () => {
  it('sameSeed_twice_sameRunEventForEvent', async () => {
    const a = await runFullSim({ seed: 7 })
    const b = await runFullSim({ seed: 7 })
    expect(b.trace).toBe(a.trace)
    expect(b.events).toBe(a.events)
    expect(b.faults).toEqual(a.faults)
    expect(resultLine(b)).toBe(resultLine(a))
  }, 60_000)

  it('sameSeed_withTraceRecorded_sameTraceAndAReadableLog', async () => {
    const plain = await runFullSim({ seed: 8, durationMs: 2_000 })
    const traced = await runFullSim({ seed: 8, durationMs: 2_000, recordTrace: true })
    expect(traced.trace).toBe(plain.trace)
    const lines = traced.traceLines ?? []
    expect(lines.length).toBeGreaterThan(traced.events)
    expect(lines.some((line) => / op +ok \S+ produce /.test(line))).toBe(true)
    expect(lines.some((line) => / event net:/.test(line))).toBe(true)
  }, 60_000)

  it('drawMenu_differentSeeds_differInKind', () => {
    const menus = Array.from({ length: 20 }, (_, seed) => drawMenu(Prng.fromSeed(seed).fork('menu'), FAULT_CLASSES))
    const shapes = new Set(menus.map((menu) => menu.plans.map((plan) => plan.kind).join(',')))
    expect(shapes.size).toBeGreaterThan(15)
    for (const menu of menus) for (const cls of FAULT_CLASSES) expect(menu.plans.some((plan) => plan.cls === cls)).toBe(true)
  })

  it('drawMenu_someClasses_onlyTheirKinds_andTheSameDrawsForThem', () => {
    const all = drawMenu(Prng.fromSeed(3).fork('menu'), FAULT_CLASSES)
    const net = drawMenu(Prng.fromSeed(3).fork('menu'), ['net'])
    expect(net.plans.every((plan) => plan.cls === 'net')).toBe(true)
    expect(net.plans).toEqual(all.plans.filter((plan) => plan.cls === 'net'))
  })

  it('parseFaultClasses_badName_explains', () => {
    expect(parseFaultClasses('net,disk')).toEqual(['net', 'disk'])
    expect(parseFaultClasses('net,cpu')).toMatch(/unknown fault class 'cpu'/)
  })

  it('replayCommand_nonDefaultOptions_named', () => {
    expect(replayCommand(5)).toBe('npm run sim -- --seed 5')
    expect(replayCommand(5, { faults: ['net', 'clock'], nodes: 3, durationMs: 4_000 })).toBe('npm run sim -- --seed 5 --faults net,clock --nodes 3 --duration 4000')
  })
})

// ------------------------------------------------------------------ the checker, on fabricated histories

const encoder = new TextEncoder()
const TOPIC = 't'
const KEY = 't/0'

function dataBatch(baseOffset: number, values: string[], epoch = 1): BatchView {
  const bytes = encodeRecordBatch({ baseOffset, partitionLeaderEpoch: epoch, records: values.map((value, i) => ({ key: null, value: encoder.encode(value), timestamp: 1_700_000_000_000 + i })) })
  return batchViews(bytes)[0] as BatchView
}

/** n1 led epoch 1 and wrote a, b at 0..1 and c at 2. */
function cleanLog(): BatchView[] {
  return [dataBatch(0, ['a', 'b']), dataBatch(2, ['c'])]
}

const ref = (node: string): ReplicaRef => ({ topic: TOPIC, partition: 0, node, incarnation: 1 })
const status = (role: string, highWatermark: number, epoch = 1, leader = 'n1'): StatusSample => ({ role, epoch, leader, highWatermark, logEndOffset: highWatermark, logStartOffset: 0 })
const read = (node: string, batches: BatchView[], atMs = 1_000): CommittedRead => {
  const end = (batches.at(-1)?.lastOffset ?? -1) + 1
  return { replica: ref(node), atMs, fromOffset: 0, highWatermark: end, batches }
}

/** After healing: n1 leads, n2 and n3 follow with the same log, and the client read `clientLog`. */
function finalState(log: BatchView[], options: { clientLog?: BatchView[]; leaders?: string[]; group?: FullFinalState['group'] } = {}): FullFinalState {
  const end = (log.at(-1)?.lastOffset ?? -1) + 1
  const leaders = options.leaders ?? ['n1']
  const broker: FinalState = {
    atMs: 1_000,
    partitions: [{ topic: TOPIC, partition: 0, replicas: ['n1', 'n2', 'n3'] }],
    statuses: ['n1', 'n2', 'n3'].map((node) => ({ replica: ref(node), status: status(leaders.includes(node) ? 'leader' : 'follower', end) })),
    reads: ['n1', 'n2', 'n3'].map((node) => read(node, log)),
    clientReads: new Map([[KEY, options.clientLog ?? log]]),
  }
  return { atMs: 1_000, broker, ...(options.group === undefined ? {} : { group: options.group }) }
}

function produce(history: History, values: string[], offsets: number[] | undefined, options: { idempotent?: boolean; acks?: 'all' | 1; outcome?: Outcome; client?: string; atMs?: number } = {}): ProduceOp {
  const op = history.add<ProduceOp>({
    type: 'produce',
    client: options.client ?? 'p1#1',
    idempotent: options.idempotent ?? false,
    acks: options.acks ?? 'all',
    topic: TOPIC,
    partition: 0,
    values,
    invokedAtMs: options.atMs ?? 10,
    completedAtMs: undefined,
    outcome: undefined,
    offsets: undefined,
    error: undefined,
  })
  const outcome = options.outcome ?? Outcome.ok
  history.complete(op, (options.atMs ?? 10) + 5, outcome, outcome === Outcome.ok ? { offsets: offsets ?? [] } : { error: 'timed out' })
  return op
}

function poll(history: History, session: string, records: [number, string][], atMs = 100): void {
  history.add({ type: 'poll', session, atMs, topic: TOPIC, partition: 0, records: records.map(([offset, value]) => ({ offset, value })) })
}

function assign(history: History, session: string, offset = 0, atMs = 50): void {
  history.add({ type: 'assign', session, atMs, partitions: [{ topic: TOPIC, partition: 0, offset }] })
}

/** The clean history behind cleanLog(): a, b and c acknowledged, all read by one consumer. */
function cleanHistory(): History {
  const history = new History()
  produce(history, ['a', 'b'], [0, 1])
  produce(history, ['c'], [2], { idempotent: true })
  assign(history, 'a1#1')
  poll(history, 'a1#1', [[0, 'a'], [1, 'b']])
  poll(history, 'a1#1', [[2, 'c']], 120)
  return history
}

function kinds(anomalies: readonly Anomaly[]): string[] {
  return [...new Set(anomalies.map((anomaly) => anomaly.kind))].sort()
}

function check(history: History, final: FullFinalState, observe: (checker: FullChecker) => void = () => undefined): Anomaly[] {
  const checker = new FullChecker(history)
  observe(checker)
  return checker.check(final)
}

describe('FullChecker', () => {
  it('check_cleanHistory_noAnomaly', () => {
    const anomalies = check(cleanHistory(), finalState(cleanLog()))
    expect(anomalies).toEqual([])
    expect(summarizeAnomalies(anomalies)).toBe('ok')
  })

  it('check_acksAllValueMissingAtTheEnd_lostWriteNamingTheRecord', () => {
    const history = cleanHistory()
    // A consumer read c before it was lost: a lost write, not an unseen one.
    const anomalies = check(history, finalState([dataBatch(0, ['a', 'b'])]))
    expect(kinds(anomalies)).toEqual([AnomalyKind.lostWrite])
    expect(anomalies[0]?.records).toEqual(['t/0@2=c (final log: nothing)'])
    expect(summarizeAnomalies(anomalies)).toBe('lost-write:1')
  })

  it('check_acksAllOffsetHoldsAnotherValue_lostWrite', () => {
    const history = cleanHistory()
    produce(history, ['d'], [3])
    poll(history, 'a1#1', [[3, 'x']], 130)
    produce(history, ['x'], undefined, { outcome: Outcome.unknown })
    const log = [...cleanLog(), dataBatch(3, ['x'])]
    const anomalies = check(history, finalState(log))
    expect(kinds(anomalies)).toEqual([AnomalyKind.lostWrite, AnomalyKind.unseen].sort())
    expect(anomalies.find((anomaly) => anomaly.kind === AnomalyKind.lostWrite)?.records).toEqual(['t/0@3=d (final log: x)'])
  })

  it('check_acknowledgedWithOffsetUnknown_inTheLogAnywhere', () => {
    // An idempotent retry answered as a duplicate after its batch left the broker's window: offset -1.
    const history = cleanHistory()
    produce(history, ['d'], [-1], { idempotent: true })
    poll(history, 'a1#1', [[3, 'd']], 130)
    expect(check(history, finalState([...cleanLog(), dataBatch(3, ['d'])]))).toEqual([])
    produce(history, ['e'], [-1], { idempotent: true })
    const anomalies = check(history, finalState([...cleanLog(), dataBatch(3, ['d'])]))
    expect(kinds(anomalies)).toEqual([AnomalyKind.lostWrite, AnomalyKind.unseen].sort())
    expect(anomalies.find((anomaly) => anomaly.kind === AnomalyKind.lostWrite)?.records).toEqual(['t/0@?=e (not in the final log)'])
  })

  it('check_acksOneValueLostWithItsLeader_noAnomaly', () => {
    const history = cleanHistory()
    produce(history, ['e'], [3], { acks: 1 })
    expect(check(history, finalState(cleanLog()))).toEqual([])
  })

  it('check_failedOrUnknownSendsPresentOrNot_noAnomaly', () => {
    const history = cleanHistory()
    produce(history, ['f'], undefined, { outcome: Outcome.failed })
    produce(history, ['g'], undefined, { outcome: Outcome.unknown })
    const log = [...cleanLog(), dataBatch(3, ['g'])]
    poll(history, 'a1#1', [[3, 'g']], 130)
    expect(check(history, finalState(log))).toEqual([])
  })

  it('check_idempotentValueTwiceInTheLog_duplicate', () => {
    const history = cleanHistory()
    produce(history, ['d'], [3], { idempotent: true })
    poll(history, 'a1#1', [[3, 'd'], [4, 'd']], 130)
    const anomalies = check(history, finalState([...cleanLog(), dataBatch(3, ['d', 'd'])]))
    expect(kinds(anomalies)).toEqual([AnomalyKind.duplicate])
    expect(anomalies[0]?.records).toEqual(['t/0@3=d', 't/0@4=d'])
  })

  it('check_nonIdempotentValueTwice_allowedAndCounted', () => {
    const history = cleanHistory()
    produce(history, ['d'], [4])
    poll(history, 'a1#1', [[3, 'd'], [4, 'd']], 130)
    const checker = new FullChecker(history)
    expect(checker.check(finalState([...cleanLog(), dataBatch(3, ['d', 'd'])]))).toEqual([])
    expect(checker.duplicatesAllowed).toBe(1)
  })

  it('check_twoReadsOfOneOffsetDisagree_inconsistentOffsets', () => {
    const history = cleanHistory()
    assign(history, 'a2#1', 0, 60)
    poll(history, 'a2#1', [[0, 'a'], [1, 'z'], [2, 'c']], 140)
    const anomalies = check(history, finalState(cleanLog()))
    expect(kinds(anomalies)).toEqual([AnomalyKind.inconsistentOffsets])
    expect(anomalies[0]?.records).toEqual(['t/0@1=b', 't/0@1=z'])
  })

  it('check_oneOffsetAcknowledgedForTwoValues_inconsistentOffsets', () => {
    const history = cleanHistory()
    produce(history, ['d'], [2], { client: 'p2#1' })
    const anomalies = check(history, finalState(cleanLog()))
    expect(kinds(anomalies)).toContain(AnomalyKind.inconsistentOffsets)
    expect(anomalies.find((anomaly) => anomaly.kind === AnomalyKind.inconsistentOffsets)?.records).toEqual(['t/0@2=c', 't/0@2=d'])
  })

  it('check_finalLogWithAGap_offsetsNotContiguous', () => {
    const history = new History()
    produce(history, ['a', 'b'], [0, 1])
    produce(history, ['d'], [3])
    assign(history, 'a1#1')
    poll(history, 'a1#1', [[0, 'a'], [1, 'b'], [3, 'd']])
    const gap = [dataBatch(0, ['a', 'b']), dataBatch(3, ['d'])]
    expect(kinds(check(history, finalState(gap)))).toEqual([AnomalyKind.offsetsNotContiguous])
  })

  it('check_replicasCommittedDifferentBatches_divergentPrefix', () => {
    const anomalies = check(cleanHistory(), finalState(cleanLog()), (checker) => {
      checker.observeCommitted(read('n2', [dataBatch(0, ['a', 'b']), dataBatch(2, ['y'])], 500))
    })
    expect(kinds(anomalies)).toEqual([AnomalyKind.divergentPrefix])
  })

  it('check_twoLeadersSampledInOneEpoch_twoLeaders', () => {
    const anomalies = check(cleanHistory(), finalState(cleanLog()), (checker) => {
      checker.observeStatus(200, ref('n1'), status('leader', 3))
      checker.observeStatus(210, ref('n2'), status('leader', 3, 1, 'n2'))
    })
    expect(kinds(anomalies)).toEqual([AnomalyKind.twoLeaders])
  })

  it('check_pollGoesBack_nonMonotonicPoll', () => {
    const history = cleanHistory()
    poll(history, 'a1#1', [[1, 'b']], 150)
    const anomalies = check(history, finalState(cleanLog()))
    expect(kinds(anomalies)).toEqual([AnomalyKind.nonMonotonicPoll])
    expect(anomalies[0]?.records).toEqual(['t/0@2', 't/0@1=b'])
  })

  it('check_newSessionStartingOver_notNonMonotonic', () => {
    const history = cleanHistory()
    assign(history, 'a1#2', 0, 150)
    poll(history, 'a1#2', [[0, 'a'], [1, 'b'], [2, 'c']], 160)
    expect(check(history, finalState(cleanLog()))).toEqual([])
  })

  it('check_pollPassesOverARecord_pollSkip', () => {
    const history = new History()
    produce(history, ['a', 'b'], [0, 1])
    produce(history, ['c'], [2])
    assign(history, 'a1#1')
    assign(history, 'a2#1')
    poll(history, 'a1#1', [[0, 'a']])
    poll(history, 'a1#1', [[2, 'c']], 110)
    poll(history, 'a2#1', [[0, 'a'], [1, 'b'], [2, 'c']])
    const anomalies = check(history, finalState(cleanLog()))
    expect(kinds(anomalies)).toEqual([AnomalyKind.pollSkip])
    expect(anomalies[0]?.records).toEqual(['t/0@1=b'])
  })

  it('check_firstPollPastTheStart_pollSkip', () => {
    const history = cleanHistory()
    assign(history, 'a2#1', 0, 60)
    poll(history, 'a2#1', [[1, 'b'], [2, 'c']], 140)
    expect(kinds(check(history, finalState(cleanLog())))).toEqual([AnomalyKind.pollSkip])
  })

  it('check_acknowledgedRecordNobodyRead_unseen', () => {
    const history = new History()
    produce(history, ['a', 'b'], [0, 1])
    produce(history, ['c'], [2], { acks: 1 })
    assign(history, 'a1#1')
    poll(history, 'a1#1', [[0, 'a']])
    const anomalies = check(history, finalState(cleanLog()))
    expect(kinds(anomalies)).toEqual([AnomalyKind.unseen])
    expect(anomalies[0]?.records).toEqual(['t/0@1=b', 't/0@2=c'])
  })

  it('check_recordNoClientWrote_phantom', () => {
    const history = cleanHistory()
    poll(history, 'a1#1', [[3, 'ghost']], 150)
    expect(kinds(check(history, finalState([...cleanLog(), dataBatch(3, ['ghost'])])))).toEqual([AnomalyKind.phantom])
  })

  it('check_noLeaderAfterHealing_liveness', () => {
    expect(kinds(check(cleanHistory(), finalState(cleanLog(), { leaders: [] })))).toEqual([AnomalyKind.liveness])
  })

  describe('the consumer group', () => {
    const groupFinal = (committed: Map<string, number> | undefined): FullFinalState['group'] => ({
      partitions: [{ topic: TOPIC, partition: 0 }],
      committed: committed === undefined ? undefined : { issuedAtMs: 900, answeredAtMs: 905, offsets: committed },
      settled: false,
    })

    /** cleanHistory, plus member m1 given t/0 in generation 1, processing a, b, c and committing 3. */
    function groupHistory(): History {
      const history = cleanHistory()
      history.add({ type: 'sync', atMs: 200, member: 'g1#1', memberId: 'm1', generation: 1, assignment: [{ topic: TOPIC, partition: 0 }] })
      for (const [offset, value] of [[0, 'a'], [1, 'b'], [2, 'c']] as const) history.add({ type: 'process', atMs: 210 + offset, member: 'g1#1', topic: TOPIC, partition: 0, offset, value })
      history.add({ type: 'commit', commit: { member: 'g1#1', memberId: 'm1', generation: 1, offsets: [{ topic: TOPIC, partition: 0, offset: 3 }], issuedAtMs: 220, ackedAtMs: 225 } })
      return history
    }

    it('check_cleanGroup_noAnomaly', () => {
      expect(check(groupHistory(), finalState(cleanLog(), { group: groupFinal(new Map([[KEY, 3]])) }))).toEqual([])
    })

    it('check_twoMembersOwnAPartitionInOneGeneration_twoOwners', () => {
      const history = groupHistory()
      history.add({ type: 'sync', atMs: 230, member: 'g2#1', memberId: 'm2', generation: 1, assignment: [{ topic: TOPIC, partition: 0 }] })
      expect(kinds(check(history, finalState(cleanLog(), { group: groupFinal(new Map([[KEY, 3]])) })))).toEqual([AnomalyKind.twoOwners])
    })

    it('check_lowerCommitAcknowledgedAfterAHigherOne_commitBackwards', () => {
      const history = groupHistory()
      history.add({ type: 'commit', commit: { member: 'g1#1', memberId: 'm1', generation: 1, offsets: [{ topic: TOPIC, partition: 0, offset: 1 }], issuedAtMs: 300, ackedAtMs: 305 } })
      expect(kinds(check(history, finalState(cleanLog(), { group: groupFinal(new Map([[KEY, 1]])) })))).toEqual([AnomalyKind.commitBackwards])
    })

    it('check_committedOffsetReadLowerThanAcknowledged_commitLost', () => {
      const history = groupHistory()
      history.add({ type: 'offsets', read: { issuedAtMs: 400, answeredAtMs: 405, offsets: new Map() } })
      expect(kinds(check(history, finalState(cleanLog(), { group: groupFinal(new Map([[KEY, 3]])) })))).toEqual([AnomalyKind.commitLost])
    })
  })
})
