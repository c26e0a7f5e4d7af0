/**
 * The Raft core (src/raft/raft.ts) under the seeded group simulator (sim/raft/):
 * - 200 seeds of 3- and 5-replica groups with crashes that lose unsynced writes, partitions
 *   (also one way), pauses, loss, duplication and reordering, then heal and require
 *   convergence; and random seeds through fast-check;
 * - proof that the history checker catches what it claims to: fabricated bad histories, and
 *   whole runs on a simulated disk that lies;
 * - scripted scenarios: a late answer to an earlier fetch; a follower cut off and back, where
 *   pre-vote with check-quorum must keep the leader, and without them the epoch moves.
 *
 * A failing seed replays with `npm run sim:raft -- --seed N --replicas R --verbose`.
 */
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { checkHistory, logEnd, type Batch, type HistoryEvent } from '../../sim/raft/checker.js'
import { RaftHarness } from '../../sim/raft/harness.js'
import { RAFT_SIM_SAFETY_MS_DEFAULT, runRaftSim, summarize, type RaftSimResult } from '../../sim/raft/scenario.js'

const SEED_COUNT = 200
const SAFETY_MS = 30_000

function replay(result: RaftSimResult, flags = ''): string {
  return `${summarize(result)}\n  replay: npm run sim:raft -- --seed ${result.seed} --replicas ${result.replicaCount}${flags} --verbose`
}

describe('raft group simulator: seeds 1..200, 3 and 5 replicas, 30 s of faults then heal', () => {
  const results: RaftSimResult[] = []

  beforeAll(() => {
    for (let seed = 1; seed <= SEED_COUNT; seed++) results.push(runRaftSim({ seed, replicaCount: seed % 2 === 0 ? 5 : 3, safetyMs: SAFETY_MS }))
    // The replay lines assume the CLI's default safety phase.
    expect(SAFETY_MS).toBe(RAFT_SIM_SAFETY_MS_DEFAULT)
  }, 60_000)

  it('runSeeds_underCrashesPartitionsLossDuplication_noSafetyViolation', () => {
    const failed = results.filter((result) => result.violations.some((violation) => violation.rule !== 'liveness'))
    console.log(`raft sim: ${SEED_COUNT - failed.length}/${SEED_COUNT} seeds without a safety violation; ${results.reduce((sum, r) => sum + r.committedBatches, 0)} batches committed in all`)
    expect(failed.map((result) => replay(result)), 'seeds with a safety violation').toEqual([])
  })

  it('runSeeds_afterHealing_oneLeaderIdenticalLogsAllCommittedAndWritable', () => {
    const stuck = results.filter((result) => result.violations.some((violation) => violation.rule === 'liveness'))
    expect(stuck.map((result) => replay(result)), 'seeds that did not converge after healing').toEqual([])
  })

  it('runSeeds_exerciseTheFaults_electionsCommitsAndProposals', () => {
    // Guards the guard: a simulator that never elects or commits would pass every check.
    const clean = results.filter((result) => result.violations.length === 0)
    expect(clean.length).toBeGreaterThan(0)
    expect(clean.every((result) => result.committedBatches > 0)).toBe(true)
    expect(results.filter((result) => result.epochMax >= 3).length).toBeGreaterThan(SEED_COUNT / 2)
    expect(results.reduce((sum, result) => sum + result.proposals, 0)).toBeGreaterThan(SEED_COUNT * 50)
  })
})

describe('raft group simulator: random seeds (fast-check)', () => {
  it('anySeed_defaultSettings_noViolation', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1_000_000, max: 2 ** 32 - 1 }), fc.constantFrom(3, 5), (seed, replicaCount) => {
        const result = runRaftSim({ seed, replicaCount, settings: {}, safetyMs: 20_000 })
        if (result.violations.length > 0) throw new Error(replay(result, ' --safety-ms 20000 --default-settings'))
      }),
      { numRuns: 60, seed: 20_260_101 },
    )
  }, 30_000)
})

describe('raft group simulator: determinism', () => {
  it('sameSeed_twice_sameRunEventForEvent', () => {
    const a = runRaftSim({ seed: 7, safetyMs: 10_000 })
    const b = runRaftSim({ seed: 7, safetyMs: 10_000 })
    expect(summarize(a)).toEqual(summarize(b))
    expect(a.trace).toEqual(b.trace)
    expect(a.faults).toEqual(b.faults)
  })
})

// ------------------------------------------------------------------ the checker, on fabricated histories

function batch(id: string, baseOffset: number, lastOffset: number, epoch: number): Batch {
  return { id, baseOffset, lastOffset, epoch }
}
const leader = (replica: string, epoch: number, startOffset: number, atMs = 0): HistoryEvent => ({ kind: 'leader', atMs, replica, epoch, startOffset })
const append = (replica: string, b: Batch, atMs = 0): HistoryEvent => ({ kind: 'append', atMs, replica, batch: b })
const hw = (replica: string, role: 'leader' | 'follower', epoch: number, offset: number, atMs = 0): HistoryEvent => ({ kind: 'highWatermark', atMs, replica, role, epoch, offset })
const truncate = (replica: string, offset: number, atMs = 0): HistoryEvent => ({ kind: 'truncate', atMs, replica, offset })
const crash = (replica: string, durableEnd: number, atMs = 0): HistoryEvent => ({ kind: 'crash', atMs, replica, durableEnd })

/** r1 leads epoch 1, writes c1 and a, both replicate to r2 and commit; r2 learns the high watermark. */
function committedHistory(): HistoryEvent[] {
  const c1 = batch('c1', 0, 0, 1)
  const a = batch('a', 1, 3, 1)
  return [leader('r1', 1, 0), append('r1', c1), append('r1', a), append('r2', c1), append('r2', a), hw('r1', 'leader', 1, 4), hw('r2', 'follower', 1, 4)]
}

function rules(history: readonly HistoryEvent[]): string[] {
  return checkHistory(history).map((violation) => violation.rule)
}

describe('HistoryChecker', () => {
  it('check_cleanHistoryWithFailoverAndTruncation_noViolation', () => {
    const history = [
      ...committedHistory(),
      append('r1', batch('x', 4, 4, 1)), // uncommitted, only on r1
      leader('r2', 2, 4),
      append('r2', batch('c2', 4, 4, 2)),
      append('r3', batch('c1', 0, 0, 1)),
      append('r3', batch('a', 1, 3, 1)),
      append('r3', batch('c2', 4, 4, 2)),
      hw('r2', 'leader', 2, 5),
      truncate('r1', 4), // r1 drops its uncommitted x
      append('r1', batch('c2', 4, 4, 2)),
      hw('r1', 'follower', 2, 5),
      crash('r3', 5),
      hw('r3', 'follower', 2, 5),
    ]
    expect(checkHistory(history)).toEqual([])
  })

  it('check_twoLeadersInOneEpoch_electionSafety', () => {
    expect(rules([leader('r1', 3, 0), leader('r2', 3, 0)])).toEqual(['election safety'])
  })

  it('check_sameLeaderTwiceInOneEpochAcrossRestart_electionSafety', () => {
    expect(rules([leader('r1', 3, 0), crash('r1', 0), leader('r1', 3, 0)])).toEqual(['election safety'])
  })

  it('check_newLeaderMissingCommittedRecord_leaderCompleteness', () => {
    // r3 never got a (committed at 4) and still wins epoch 2: a lost acknowledged write.
    const history = [...committedHistory(), append('r3', batch('c1', 0, 0, 1)), leader('r3', 2, 1)]
    expect(rules(history)).toContain('leader completeness')
  })

  it('check_committedRecordLostInCrash_leaderCompleteness', () => {
    // r2 counted towards the commit but had not fsynced: after the crash it leads without a.
    const history = [...committedHistory(), crash('r2', 1), leader('r2', 2, 1)]
    expect(rules(history)).toContain('leader completeness')
  })

  it('check_divergentCommittedPrefixes_committedDurability', () => {
    // Epoch 2's leader holds b where a was committed and reports it committed too.
    const history = [
      ...committedHistory(),
      append('r3', batch('c1', 0, 0, 1)),
      append('r3', batch('b', 1, 3, 2)),
      hw('r3', 'leader', 2, 4),
    ]
    expect(rules(history)).toContain('committed durability')
  })

  it('check_followerHighWatermarkOverDifferentRecords_committedDurability', () => {
    const history = [...committedHistory(), append('r3', batch('c1', 0, 0, 1)), append('r3', batch('z', 1, 3, 1)), hw('r3', 'follower', 1, 4)]
    // z at (3, epoch 1) breaks log matching before the high watermark even comes.
    expect(rules(history)).toEqual(['log matching', 'committed durability'])
  })

  it('check_truncateCommittedBatch_committedDurability', () => {
    const history = [...committedHistory(), append('r3', batch('c1', 0, 0, 1)), append('r3', batch('a', 1, 3, 1)), truncate('r3', 1)]
    expect(rules(history)).toEqual(['committed durability'])
  })

  it('check_truncateBelowOwnHighWatermark_violation', () => {
    expect(rules([...committedHistory(), truncate('r2', 1)])).toEqual(['truncate above the high watermark', 'committed durability'])
  })

  it('check_highWatermarkGoesBack_violation', () => {
    expect(rules([...committedHistory(), hw('r2', 'follower', 1, 1)])).toEqual(['high watermark never decreases'])
  })

  it('check_highWatermarkBackAfterRestart_allowed', () => {
    expect(rules([...committedHistory(), crash('r2', 4), hw('r2', 'follower', 1, 1)])).toEqual([])
  })

  it('check_followerHighWatermarkBeyondCommitted_violation', () => {
    const history = [leader('r1', 1, 0), append('r1', batch('c1', 0, 0, 1)), append('r2', batch('c1', 0, 0, 1)), hw('r2', 'follower', 1, 1)]
    expect(rules(history)).toEqual(['follower high watermark committed'])
  })

  it('check_sameOffsetAndEpochDifferentBatch_logMatching', () => {
    const history = [append('r1', batch('p', 0, 1, 1)), append('r2', batch('s', 0, 1, 1))]
    expect(rules(history)).toEqual(['log matching'])
  })

  it('check_sameBatchAfterDifferentPrefix_logMatching', () => {
    const history = [append('r1', batch('p', 0, 1, 1)), append('r1', batch('q', 2, 2, 2)), append('r2', batch('w', 0, 1, 0)), append('r2', batch('q', 2, 2, 2))]
    expect(rules(history)).toEqual(['log matching'])
  })

  it('check_gapInOffsets_contiguity', () => {
    expect(rules([append('r1', batch('p', 0, 1, 1)), append('r1', batch('q', 3, 3, 1))])).toEqual(['contiguous offsets'])
  })

  it('check_epochGoesBackAlongLog_violation', () => {
    expect(rules([append('r1', batch('p', 0, 1, 2)), append('r1', batch('q', 2, 2, 1))])).toEqual(['epochs grow along a log'])
  })

  it('check_highWatermarkInsideBatch_violation', () => {
    const history = [leader('r1', 1, 0), append('r1', batch('c1', 0, 0, 1)), append('r1', batch('a', 1, 3, 1)), hw('r1', 'leader', 1, 2)]
    expect(rules(history)).toEqual(['high watermark at a batch boundary'])
  })
})

describe('HistoryChecker, end to end: a simulated disk that lies is caught', () => {
  /** The first seed (from 1) whose run breaks `rule`, searching at most `seedsMax` seeds. */
  function firstSeedBreaking(rules: readonly string[], diskLies: 'vote' | 'log', seedsMax: number, settings?: { preVote: boolean; checkQuorum: boolean }): RaftSimResult | undefined {
    for (let seed = 1; seed <= seedsMax; seed++) {
      const result = runRaftSim({ seed, diskLies, settings, safetyMs: 20_000, keepHistory: true })
      if (result.violations.some((violation) => rules.includes(violation.rule))) return result
    }
    return undefined
  }

  it('diskForgetsVotes_twoLeadersInOneEpoch_electionSafety', () => {
    const result = firstSeedBreaking(['election safety'], 'vote', 300, { preVote: false, checkQuorum: false })
    expect(result, 'some seed elects two leaders in one epoch').toBeDefined()
    console.log(`forgotten votes caught: ${summarize(result as RaftSimResult)}`)
  }, 30_000)

  it('diskLosesSyncedRecords_committedRecordsLost_leaderCompletenessOrDurability', () => {
    const result = firstSeedBreaking(['leader completeness', 'committed durability'], 'log', 100)
    expect(result, 'some seed loses a committed record').toBeDefined()
    console.log(`lost synced records caught: ${summarize(result as RaftSimResult)}`)
    // The recorded history, checked again offline, shows the same first violation.
    const offline = checkHistory((result as RaftSimResult).history)
    const online = (result as RaftSimResult).violations.filter((violation) => violation.rule !== 'shell contract' && violation.rule !== 'core assertion')
    expect(offline[0]).toEqual(online[0])
  }, 30_000)
})

// ------------------------------------------------------------------ a late answer to an earlier fetch

/**
 * A 3-replica group; its leader O is cut off and appends two batches nobody else gets. The
 * other two elect N (epoch 2); the third, F, is cut off at once, before it fetches anything of
 * epoch 2. N takes a write. O and N meet again (F still away): O fetches at its log end with
 * its epoch-1 tail and N answers 'diverging'; that answer is held back (a slow path) while
 * O's fetch times out, is re-sent, gets a second 'diverging', truncates, and refetches N's
 * epoch-2 batches, which puts O's log end right back where the held fetch was. N counts O and
 * commits them (N and O are a majority). Then the held answer arrives: it names the fetch
 * offset O is fetching at again, so nothing tells it apart from the answer to the current
 * fetch. Finally N is cut off and F and O elect a leader for epoch 3.
 */
function lateDivergingAnswer(seed: number): { harness: RaftHarness; released: number; committedEnd: number } {
  const harness = new RaftHarness({ seed, replicaCount: 3, batchOffsetsMax: 1, fetchBatchesMax: 2, haltOnViolation: false })
  const end = (id: string): number => logEnd(harness.logOf(id))
  expect(harness.runUntil(() => harness.leaders().length === 1 && harness.ids.every((id) => harness.core(id).highWatermark > 0), { timeoutMs: 10_000 })).toBeDefined()
  const old = harness.leaders()[0] as string
  const commonEnd = end(old)
  harness.partition([[old]])
  harness.proposeOnce(old)
  harness.proposeOnce(old)
  expect(harness.runUntil(() => harness.leaders().some((id) => id !== old), { timeoutMs: 10_000, checkEveryMs: 0.1 }), 'a leader for epoch 2').toBeDefined()
  const leader = harness.leaders().find((id) => id !== old) as string
  const other = harness.ids.find((id) => id !== old && id !== leader) as string
  harness.partition([[other], [old]])
  harness.proposeOnce(leader)
  expect(end(leader), 'epoch 2: a control batch and a write').toBe(commonEnd + 2)
  harness.holdNextDelivery((message) => message.type === 'fetchResponse' && message.to === old && message.outcome === 'diverging')
  harness.partition([[other]])
  const committed = harness.runUntil(() => harness.core(leader).highWatermark >= commonEnd + 2, { timeoutMs: 10_000, checkEveryMs: 0.1 })
  expect(committed, 'epoch 2 commits with the old leader').toBeDefined()
  const released = harness.releaseHeld()
  harness.partition([[leader]])
  harness.runUntil(() => harness.leaders().some((id) => id !== leader), { timeoutMs: 10_000 })
  harness.runFor(1_000)
  return { harness, released, committedEnd: commonEnd + 2 }
}

describe('a late answer to an earlier fetch', () => {
  it.each([1, 2, 3])('lateDivergingAnswer_afterRefetch_committedWritesSurvive (seed %i)', (seed) => {
    const { harness, released } = lateDivergingAnswer(seed)
    expect(released, 'the held diverging answer was delivered').toBe(1)
    expect(harness.violations.map((violation) => `${violation.rule}: ${violation.detail}`)).toEqual([])
  })
})

// ------------------------------------------------------------------ pre-vote and check-quorum

interface DisruptionOutcome {
  readonly leaderBefore: string
  readonly epochBefore: number
  readonly leaderAfter: string[]
  readonly epochAfter: number
  /** How often the isolated follower was seen campaigning while cut off (sampled every tick). */
  readonly campaignSamples: number
  /** The isolated follower's log matches the leader's again after healing. */
  readonly caughtUp: boolean
}

/**
 * A 5-replica group on a clean network elects a leader and takes writes; one follower is cut
 * off for 20 s (it times out again and again), then the network heals and the group runs on
 * for 10 s.
 */
function isolateOneFollower(settings: { preVote: boolean; checkQuorum: boolean }, seed: number): DisruptionOutcome {
  const harness = new RaftHarness({ seed, replicaCount: 5, settings, proposalIntervalMsMean: 200 })
  const elected = harness.runUntil(() => harness.leaders().length === 1 && harness.ids.every((id) => harness.core(id).highWatermark > 0), { timeoutMs: 10_000 })
  expect(elected, 'a leader within 10 s').toBeDefined()
  harness.runFor(2_000)
  const leaderBefore = harness.leaders()[0] as string
  const epochBefore = harness.core(leaderBefore).epoch
  const isolated = harness.ids.find((id) => id !== leaderBefore) as string
  harness.partition([[isolated]])
  let campaignSamples = 0
  for (let t = 0; t < 200; t++) {
    harness.runFor(100)
    if (harness.core(isolated).role !== 'follower') campaignSamples++
  }
  harness.heal()
  harness.runFor(10_000)
  harness.setProposalInterval(0)
  harness.runFor(2_000)
  const leaderAfter = harness.leaders()
  const leaderLog = harness.logOf(leaderAfter[0] ?? leaderBefore).map((b) => b.id)
  expect(harness.violations).toEqual([])
  return {
    leaderBefore,
    epochBefore,
    leaderAfter,
    epochAfter: harness.core(leaderAfter[0] ?? leaderBefore).epoch,
    campaignSamples,
    caughtUp: harness.logOf(isolated).map((b) => b.id).join() === leaderLog.join(),
  }
}

describe('pre-vote and check-quorum against a follower cut off and back', () => {
  it.each([1, 2, 3])('isolateFollower_withPreVoteAndCheckQuorum_leaderAndEpochUnchanged (seed %i)', (seed) => {
    const outcome = isolateOneFollower({ preVote: true, checkQuorum: true }, seed)
    expect(outcome.campaignSamples, 'the isolated follower timed out and campaigned').toBeGreaterThan(10)
    expect(outcome.leaderAfter).toEqual([outcome.leaderBefore])
    expect(outcome.epochAfter).toBe(outcome.epochBefore)
  })

  it.each([1, 2, 3])('isolateFollower_withPreVoteAndCheckQuorum_followerRejoinsAndCatchesUp (seed %i)', (seed) => {
    expect(isolateOneFollower({ preVote: true, checkQuorum: true }, seed).caughtUp).toBe(true)
  })

  it.each([1, 2, 3])('isolateFollower_withCheckQuorumWithoutPreVote_followerRejoinsAndCatchesUp (seed %i)', (seed) => {
    // Without pre-vote the cut-off follower bumps its epoch on every timeout; check-quorum
    // then has the group ignore its votes, so after healing it must learn the leader some
    // other way (etcd answers such a node so that the group moves past its epoch).
    const outcome = isolateOneFollower({ preVote: false, checkQuorum: true }, seed)
    expect(outcome.caughtUp, 'the follower rejoined the group after healing').toBe(true)
  })

  it.each([1, 2, 3])('epochAheadFollower_withPreVoteWithoutCheckQuorum_rejoinsAfterHealing (seed %i)', (seed) => {
    // A follower that stops hearing its leader (a one-way cut) wins a pre-vote, becomes a
    // candidate for epoch 2, and is cut off before its real vote lands. The group goes on in
    // epoch 1 and takes writes. After healing, its pre-votes are refused (its log is behind)
    // with epoch 1, below its own; the leader's beginEpoch is for epoch 1 too. It must still
    // find its way back: the group moving to an epoch past its own, as etcd does.
    const harness = new RaftHarness({ seed, replicaCount: 3, settings: { preVote: true, checkQuorum: false } })
    expect(harness.runUntil(() => harness.leaders().length === 1 && harness.ids.every((id) => harness.core(id).highWatermark > 0), { timeoutMs: 10_000 })).toBeDefined()
    const leader = harness.leaders()[0] as string
    const ahead = harness.ids.find((id) => id !== leader) as string
    harness.cutOneWay(leader, ahead)
    expect(harness.runUntil(() => harness.core(ahead).role === 'candidate', { timeoutMs: 10_000, checkEveryMs: 0.1 }), 'a candidacy').toBeDefined()
    harness.partition([[ahead]])
    for (let i = 0; i < 20; i++) {
      harness.proposeOnce(leader)
      harness.runFor(200)
    }
    expect(harness.core(ahead).epoch).toBeGreaterThan(harness.core(leader).epoch)
    harness.heal()
    const converged = harness.runUntil(() => harness.converged(), { timeoutMs: 20_000 })
    expect(harness.violations).toEqual([])
    expect(converged, `converged within 20 s of healing: ${harness.describeState().join('; ')}`).toBeDefined()
  })

  it.each([1, 2, 3])('isolateFollower_withoutPreVoteOrCheckQuorum_epochChanges (seed %i)', (seed) => {
    // The control: the same run without the two defences is disrupted, so the test above can fail.
    const outcome = isolateOneFollower({ preVote: false, checkQuorum: false }, seed)
    expect(outcome.campaignSamples).toBeGreaterThan(10)
    expect(outcome.epochAfter).toBeGreaterThan(outcome.epochBefore)
  })
})
