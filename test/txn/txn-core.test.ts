import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  type EndTxnRequest, type MarkerOutcome, type MarkerTarget, PRODUCER_EPOCH_EXHAUSTED, type ProducerIdAndEpoch, TXN_LIMITS_DEFAULT,
  TxnCore, type TxnEffect, type TxnLimits,
} from '../../actors/txn/txn-core.js'
import { PRODUCER_EPOCH_MAX, TXN_PARTITIONS_MAX, type TxnMetadata, type TxnRecord, decodeTxnRecord, replayTxnLog } from '../../actors/txn/txn-log.js'
import { ErrorCode, SkeinError } from '../../src/wire/errors.js'

type Effect = TxnEffect<number>
type Persist = Extract<Effect, { type: 'persist' }>
type Markers = Extract<Effect, { type: 'writeMarkers' }>
type Reply = Extract<Effect, { type: 'reply' }>

interface Outstanding {
  readonly id: string
  readonly round: number
  readonly target: MarkerTarget
}

const TIMEOUT_MS = 60_000
const START_MS = 1_000_000

function targetKey(target: MarkerTarget): string {
  return target.kind === 'partition' ? `${target.topic}/${target.partition}` : `group:${target.groupId}`
}

function isIdle(state: string): boolean {
  return state === 'Empty' || state === 'CompleteCommit' || state === 'CompleteAbort'
}

/**
 * Runs a TxnCore as the coordinator actor would, over an in-memory log, and checks on every
 * step what the core promises: every committed record is a legal transition from the id's
 * previous one, markers go out only for the committed Prepare* state of their transaction (its
 * producer id and epoch, under the current coordinator epoch), answers never run ahead of the
 * log, and the last marker acknowledged leads to Complete*.
 */
class Harness {
  core: TxnCore<number>
  coordinatorEpoch = 1
  nowMs = START_MS
  /** The committed records of the transaction-state partition, in order. */
  readonly log: TxnRecord[] = []
  /** Each id's latest committed metadata (the log replayed as it grows). */
  readonly latest = new Map<string, TxnMetadata>()
  /** Appended, not yet committed, oldest first. */
  pending: Persist[] = []
  /** Markers sent and not yet answered. */
  outstanding: Outstanding[] = []
  /** `${id}/${round}` -> targets not yet written (or gone). */
  owed = new Map<string, Set<string>>()
  readonly replies = new Map<number, Reply>()
  readonly sentMarkers: Markers[] = []
  allocations: number[] = []
  autoAllocate = true
  private readonly ends = new Map<number, EndTxnRequest>()
  private readonly inits = new Set<number>()
  private nextRequest = 1
  nextProducerId = 100

  constructor(readonly limits: TxnLimits = TXN_LIMITS_DEFAULT) {
    this.core = new TxnCore<number>(this.coordinatorEpoch, limits)
  }

  apply(effects: Effect[]): Effect[] {
    for (const effect of effects) {
      switch (effect.type) {
        case 'persist':
          if (effect.then === 'complete') {
            // Complete* only once every marker of the transaction is written (or its topic is gone).
            const owed = [...this.owed].filter(([key, targets]) => key.startsWith(`${effect.transactionalId}/`) && targets.size > 0)
            expect(owed, `${effect.transactionalId} completed with markers owed`).toEqual([])
          }
          this.pending.push(effect)
          break
        case 'writeMarkers':
          this.onMarkers(effect)
          break
        case 'reply':
          this.onReply(effect)
          break
        case 'allocateProducerId':
          if (this.autoAllocate) this.apply(this.core.producerIdAllocated(effect.requestId, this.nextProducerId++, this.nowMs))
          else this.allocations.push(effect.requestId)
          break
      }
    }
    return effects
  }

  private onMarkers(effect: Markers): void {
    const owner = this.latest.get(effect.transactionalId)
    expect(owner?.state, `markers for ${effect.transactionalId} not in a committed Prepare*`).toMatch(/^Prepare/)
    expect(effect).toMatchObject({ producerId: owner!.producerId, producerEpoch: owner!.producerEpoch, commit: owner!.state === 'PrepareCommit', coordinatorEpoch: this.coordinatorEpoch })
    this.sentMarkers.push(effect)
    const key = `${effect.transactionalId}/${effect.round}`
    const owed = this.owed.get(key) ?? new Set<string>()
    this.owed.set(key, owed)
    const targets: MarkerTarget[] = [...effect.partitions.map((tp) => ({ kind: 'partition' as const, ...tp })), ...effect.groups.map((groupId) => ({ kind: 'group' as const, groupId }))]
    for (const target of targets) {
      owed.add(targetKey(target))
      this.outstanding.push({ id: effect.transactionalId, round: effect.round, target })
    }
  }

  private onReply(effect: Reply): void {
    expect(this.replies.has(effect.requestId), `request ${effect.requestId} answered twice`).toBe(false)
    this.replies.set(effect.requestId, effect)
    const end = this.ends.get(effect.requestId)
    if (end !== undefined && effect.error === undefined) {
      // An answered commit (or abort) is decided on the log, under the producer's epoch.
      const meta = this.latest.get(end.transactionalId)
      expect(meta?.state).toBe(end.commit ? (meta?.state === 'CompleteCommit' ? 'CompleteCommit' : 'PrepareCommit') : (meta?.state === 'CompleteAbort' ? 'CompleteAbort' : 'PrepareAbort'))
      expect(meta).toMatchObject({ producerId: end.producerId, producerEpoch: end.producerEpoch })
    }
    if (this.inits.has(effect.requestId) && effect.producer !== undefined) {
      const meta = [...this.latest].find(([, m]) => m.producerId === effect.producer!.producerId)?.[1]
      expect(meta).toMatchObject({ ...effect.producer, state: 'Empty' })
    }
  }

  /** Commits the oldest pending write (the log commits in order) and tells the core. */
  commit(): Effect[] {
    const write = this.pending.shift()
    expect(write, 'nothing to commit').toBeDefined()
    this.append(write!.record)
    const effects = this.apply(this.core.persisted(write!.persistId, this.nowMs))
    if (write!.then === 'complete') expect(this.core.describe(write!.transactionalId)?.state).toMatch(/^Complete/)
    return effects
  }

  /** The newest pending write is refused. */
  failWrite(cause = new SkeinError(ErrorCode.NOT_COORDINATOR)): Effect[] {
    const write = this.pending.pop()
    expect(write, 'nothing to fail').toBeDefined()
    return this.apply(this.core.persistFailed(write!.persistId, cause))
  }

  private append(record: TxnRecord): void {
    const decoded = decodeTxnRecord(record)
    if (decoded.kind !== 'txn') return
    checkTransition(decoded.transactionalId, this.latest.get(decoded.transactionalId), decoded.metadata)
    this.log.push(record)
    if (decoded.metadata === null) this.latest.delete(decoded.transactionalId)
    else this.latest.set(decoded.transactionalId, decoded.metadata)
  }

  report(index: number, outcome: MarkerOutcome): Effect[] {
    const [sent] = this.outstanding.splice(index, 1)
    expect(sent).toBeDefined()
    const { id, round, target } = sent!
    const owed = this.owed.get(`${id}/${round}`)!
    if (outcome === 'written' || outcome === 'gone') owed.delete(targetKey(target))
    const effects = this.apply(this.core.markerOutcome({ transactionalId: id, round, target, outcome }, this.nowMs))
    if (owed.size === 0 && outcome !== 'retriable' && outcome !== 'fenced') {
      // The last acknowledgement: the core writes Complete* at once.
      expect(effects.filter((e) => e.type === 'persist').map((e) => (e as Persist).metadata?.state)).toEqual([this.latest.get(id)?.state === 'PrepareCommit' ? 'CompleteCommit' : 'CompleteAbort'])
    }
    return effects
  }

  tick(advanceMs: number): Effect[] {
    this.nowMs += advanceMs
    return this.apply(this.core.tick(this.nowMs))
  }

  /** Commits, acknowledges and allocates until nothing is left to do. */
  settle(): void {
    for (let steps = 0; steps < 10_000; steps++) {
      if (this.pending.length > 0) this.commit()
      else if (this.outstanding.length > 0) this.report(0, 'written')
      else if (this.allocations.length > 0) this.allocate()
      else return
    }
    throw new Error('did not settle')
  }

  allocate(index = 0): Effect[] {
    const [requestId] = this.allocations.splice(index, 1)
    return this.apply(this.core.producerIdAllocated(requestId!, this.nextProducerId++, this.nowMs))
  }

  /** The coordinator moves: writes in flight commit (the first `survivors`) or are lost; a new core loads the log. */
  failover(survivors = 0): Effect[] {
    for (const write of this.pending.slice(0, survivors)) this.append(write.record)
    this.pending = []
    this.outstanding = []
    this.owed.clear()
    this.allocations = []
    this.coordinatorEpoch++
    this.core = new TxnCore<number>(this.coordinatorEpoch, this.limits)
    const table = replayTxnLog(this.log)
    expect(table).toEqual(this.latest)
    return this.apply(this.core.load(table, this.nowMs))
  }

  init(id: string, transactionTimeoutMs = TIMEOUT_MS): number {
    const requestId = this.nextRequest++
    this.inits.add(requestId)
    this.apply(this.core.initProducerId(requestId, { transactionalId: id, transactionTimeoutMs }, this.nowMs))
    return requestId
  }

  add(id: string, producer: ProducerIdAndEpoch, partitions: [string, number][]): number {
    const requestId = this.nextRequest++
    this.apply(this.core.addPartitions(requestId, { transactionalId: id, ...producer, partitions: partitions.map(([topic, partition]) => ({ topic, partition })) }, this.nowMs))
    return requestId
  }

  offsets(id: string, producer: ProducerIdAndEpoch, groupId: string): number {
    const requestId = this.nextRequest++
    this.apply(this.core.addOffsets(requestId, { transactionalId: id, ...producer, groupId }, this.nowMs))
    return requestId
  }

  end(id: string, producer: ProducerIdAndEpoch, commit: boolean): number {
    const requestId = this.nextRequest++
    const request = { transactionalId: id, ...producer, commit }
    this.ends.set(requestId, request)
    this.apply(this.core.endTxn(requestId, request, this.nowMs))
    return requestId
  }

  /** initProducerId, settled: the producer id and epoch it answers. */
  open(id: string, transactionTimeoutMs = TIMEOUT_MS): ProducerIdAndEpoch {
    const requestId = this.init(id, transactionTimeoutMs)
    this.settle()
    return this.producerOf(requestId)
  }

  producerOf(requestId: number): ProducerIdAndEpoch {
    const reply = this.replies.get(requestId)
    expect(reply?.error, `request ${requestId}: ${reply?.error?.message}`).toBeUndefined()
    expect(reply?.producer).toBeDefined()
    return reply!.producer!
  }

  answered(requestId: number): boolean {
    return this.replies.has(requestId)
  }

  /** 'ok', the error's name, or 'none' while unanswered. */
  outcome(requestId: number): string {
    const reply = this.replies.get(requestId)
    if (reply === undefined) return 'none'
    return reply.error === undefined ? 'ok' : reply.error.errorName
  }

  /** The states the log went through for `id`, in order ('tombstone' for a deletion). */
  history(id: string): string[] {
    return this.log.map((r) => decodeTxnRecord(r)).filter((d) => d.kind === 'txn' && d.transactionalId === id)
      .map((d) => (d.kind === 'txn' && d.metadata !== null ? d.metadata.state : 'tombstone'))
  }

  state(id: string): string | undefined {
    return this.core.describe(id)?.state
  }
}

/** The transitions a transaction's records may make (Kafka's validPreviousStates, plus the epoch rules). */
function checkTransition(id: string, prev: TxnMetadata | undefined, next: TxnMetadata | null): void {
  const where = `${id}: ${prev?.state ?? 'nothing'} -> ${next?.state ?? 'tombstone'}`
  if (next === null) {
    expect(prev !== undefined && isIdle(prev.state), where).toBe(true)
    return
  }
  if (prev === undefined) {
    expect(next.state === 'Empty' && next.producerEpoch === 0, where).toBe(true)
    return
  }
  const sameProducer = next.producerId === prev.producerId && next.producerEpoch === prev.producerEpoch
  switch (prev.state) {
    case 'PrepareCommit':
    case 'PrepareAbort':
      // A decided outcome never changes: only its Complete record may follow.
      expect(sameProducer && next.state === (prev.state === 'PrepareCommit' ? 'CompleteCommit' : 'CompleteAbort'), where).toBe(true)
      break
    case 'Ongoing': {
      const fenced = next.state === 'PrepareAbort' && next.producerId === prev.producerId && next.producerEpoch === prev.producerEpoch + 1
      expect((sameProducer && ['Ongoing', 'PrepareCommit', 'PrepareAbort'].includes(next.state)) || fenced, where).toBe(true)
      break
    }
    default: {
      const bumped = next.state === 'Empty' && next.producerId === prev.producerId && next.producerEpoch === prev.producerEpoch + 1 && next.producerEpoch <= PRODUCER_EPOCH_EXHAUSTED
      const rotated = next.state === 'Empty' && next.producerId !== prev.producerId && next.producerEpoch === 0 && prev.producerEpoch >= PRODUCER_EPOCH_EXHAUSTED
      expect(bumped || rotated || (sameProducer && next.state === 'Ongoing'), where).toBe(true)
    }
  }
}

function effectsOf<T extends Effect['type']>(effects: Effect[], type: T): Extract<Effect, { type: T }>[] {
  return effects.filter((e): e is Extract<Effect, { type: T }> => e.type === type)
}

function errorCodeOf(h: Harness, requestId: number): number | undefined {
  return h.replies.get(requestId)?.error?.code
}

describe('transaction coordinator: the happy paths', () => {
  it('initProducerId_newId_allocatesProducerId_answersEpoch0_onlyAfterCommit', () => {
    const h = new Harness()
    h.autoAllocate = false
    const init = h.init('t')
    expect(h.allocations).toEqual([init])
    expect(h.pending).toEqual([])
    h.allocate()
    expect(h.pending.map((p) => p.metadata)).toEqual([{ producerId: 100, producerEpoch: 0, timeoutMs: TIMEOUT_MS, state: 'Empty', partitions: [], groups: [], txnStartMs: -1, updatedMs: START_MS }])
    expect(h.answered(init)).toBe(false)
    h.commit()
    expect(h.producerOf(init)).toEqual({ producerId: 100, producerEpoch: 0 })
  })

  it('commit_ongoingTransaction_answersAfterPrepareCommit_writesCommitMarkers_thenCompleteCommit', () => {
    const h = new Harness()
    const p = h.open('t')
    const add = h.add('t', p, [['b', 1], ['a', 0], ['a', 0]])
    expect(h.answered(add)).toBe(false)
    h.commit()
    expect(h.outcome(add)).toBe('ok')
    expect(h.core.describe('t')).toMatchObject({ state: 'Ongoing', partitions: [{ topic: 'a', partition: 0 }, { topic: 'b', partition: 1 }], txnStartMs: START_MS })
    const offsets = h.offsets('t', p, 'g1')
    h.commit()
    expect(h.outcome(offsets)).toBe('ok')
    const end = h.end('t', p, true)
    expect(h.answered(end)).toBe(false)
    expect(h.sentMarkers).toEqual([])
    h.commit()
    expect(h.outcome(end)).toBe('ok')
    expect(h.sentMarkers).toEqual([{
      type: 'writeMarkers', transactionalId: 't', round: 1, producerId: p.producerId, producerEpoch: 0, commit: true, coordinatorEpoch: 1,
      partitions: [{ topic: 'a', partition: 0 }, { topic: 'b', partition: 1 }], groups: ['g1'],
    }])
    h.report(0, 'written')
    h.report(0, 'written')
    expect(h.pending).toEqual([])
    h.report(0, 'written')
    h.commit()
    expect(h.core.describe('t')).toMatchObject({ state: 'CompleteCommit', partitions: [], groups: [], markersPending: 0, busy: false })
    expect(h.history('t')).toEqual(['Empty', 'Ongoing', 'Ongoing', 'PrepareCommit', 'CompleteCommit'])
  })

  it('abort_ongoingTransaction_writesAbortMarkers_thenCompleteAbort_andANewTransactionMayFollow', () => {
    const h = new Harness()
    const p = h.open('t')
    h.add('t', p, [['a', 0]])
    h.settle()
    const end = h.end('t', p, false)
    h.settle()
    expect(h.outcome(end)).toBe('ok')
    expect(h.sentMarkers.map((m) => [m.commit, m.producerEpoch])).toEqual([[false, 0]])
    expect(h.state('t')).toBe('CompleteAbort')
    h.nowMs += 5_000
    const again = h.add('t', p, [['c', 2]])
    h.settle()
    expect(h.outcome(again)).toBe('ok')
    expect(h.core.describe('t')).toMatchObject({ state: 'Ongoing', partitions: [{ topic: 'c', partition: 2 }], txnStartMs: START_MS + 5_000 })
  })

  it('addPartitions_alreadyInTheTransaction_answersAtOnce_withoutAWrite', () => {
    const h = new Harness()
    const p = h.open('t')
    h.add('t', p, [['a', 0], ['a', 1]])
    h.settle()
    h.offsets('t', p, 'g')
    h.settle()
    const logLength = h.log.length
    const again = h.add('t', p, [['a', 1]])
    const group = h.offsets('t', p, 'g')
    expect([h.outcome(again), h.outcome(group)]).toEqual(['ok', 'ok'])
    expect(h.pending).toEqual([])
    expect(h.log.length).toBe(logLength)
  })
})

describe('transaction coordinator: fencing', () => {
  it('initProducerId_again_bumpsTheEpoch_oldEpochIsProducerFenced', () => {
    const h = new Harness()
    const old = h.open('t')
    const current = h.open('t')
    expect(current).toEqual({ producerId: old.producerId, producerEpoch: 1 })
    const requests = [h.add('t', old, [['a', 0]]), h.offsets('t', old, 'g'), h.end('t', old, true)]
    expect(requests.map((r) => h.outcome(r))).toEqual(['PRODUCER_FENCED', 'PRODUCER_FENCED', 'PRODUCER_FENCED'])
    expect(h.pending).toEqual([])
    expect(h.outcome(h.add('t', current, [['a', 0]]))).toBe('none') // the current epoch goes on
  })

  it('initProducerId_whileOngoing_abortsUnderABumpedEpoch_answersConcurrentTransactions_thenTheEpochAfter', () => {
    const h = new Harness()
    const zombie = h.open('t')
    h.add('t', zombie, [['a', 0]])
    h.settle()
    const init = h.init('t')
    expect(h.pending.map((p) => [p.metadata?.state, p.metadata?.producerEpoch, p.then])).toEqual([['PrepareAbort', 1, 'replyRetryAndWriteMarkers']])
    h.commit()
    expect(h.outcome(init)).toBe('CONCURRENT_TRANSACTIONS')
    expect(h.sentMarkers.map((m) => [m.commit, m.producerEpoch])).toEqual([[false, 1]])
    expect(h.outcome(h.init('t'))).toBe('CONCURRENT_TRANSACTIONS') // the abort's markers are still out
    expect(h.outcome(h.end('t', zombie, true))).toBe('PRODUCER_FENCED')
    h.settle()
    expect(h.state('t')).toBe('CompleteAbort')
    expect(h.open('t')).toEqual({ producerId: zombie.producerId, producerEpoch: 2 })
    expect(h.history('t')).toEqual(['Empty', 'Ongoing', 'PrepareAbort', 'CompleteAbort', 'Empty'])
  })

  it('tick_transactionPastItsTimeout_abortedWithEpochBump_zombieFenced', () => {
    const h = new Harness()
    const zombie = h.open('t', 10_000)
    h.add('t', zombie, [['a', 0]])
    h.settle()
    expect(h.tick(10_000)).toEqual([]) // start + timeout is not yet past it
    h.tick(1_000)
    expect(h.pending.map((p) => [p.metadata?.state, p.metadata?.producerEpoch, p.then])).toEqual([['PrepareAbort', 1, 'writeMarkers']])
    h.settle()
    expect(h.sentMarkers.map((m) => [m.commit, m.producerEpoch])).toEqual([[false, 1]])
    expect(h.state('t')).toBe('CompleteAbort')
    expect(h.outcome(h.end('t', zombie, true))).toBe('PRODUCER_FENCED')
    expect(h.outcome(h.add('t', zombie, [['a', 1]]))).toBe('PRODUCER_FENCED')
  })

  it('tick_timeoutAbortWriteRefused_triedAgainAtTheNextScan', () => {
    const h = new Harness()
    const p = h.open('t', 10_000)
    h.add('t', p, [['a', 0]])
    h.settle()
    h.tick(20_000)
    h.failWrite()
    expect(h.state('t')).toBe('Ongoing')
    expect(h.tick(TXN_LIMITS_DEFAULT.scanIntervalMs - 1)).toEqual([])
    expect(effectsOf(h.tick(1), 'persist').map((p) => [p.metadata?.state, p.metadata?.producerEpoch])).toEqual([['PrepareAbort', 1]])
  })
})

describe('transaction coordinator: retries and concurrency', () => {
  it('endTxn_retriedWhilePrepareOrComplete_sameOutcomeRetriesOrSucceeds_otherOutcomeInvalidTxnState', () => {
    for (const commit of [true, false]) {
      const h = new Harness()
      const p = h.open('t')
      h.add('t', p, [['a', 0]])
      h.settle()
      h.end('t', p, commit)
      h.commit() // Prepare* committed, markers out
      expect(h.outcome(h.end('t', p, commit))).toBe('CONCURRENT_TRANSACTIONS')
      expect(h.outcome(h.end('t', p, !commit))).toBe('INVALID_TXN_STATE')
      h.settle()
      const logLength = h.log.length
      expect(h.outcome(h.end('t', p, commit))).toBe('ok')
      expect(h.outcome(h.end('t', p, !commit))).toBe('INVALID_TXN_STATE')
      expect(h.log.length).toBe(logLength)
      expect(h.pending).toEqual([])
    }
  })

  it('endTxn_noTransactionSinceInit_invalidTxnState', () => {
    const h = new Harness()
    const p = h.open('t')
    expect([h.outcome(h.end('t', p, true)), h.outcome(h.end('t', p, false))]).toEqual(['INVALID_TXN_STATE', 'INVALID_TXN_STATE'])
  })

  it('anyRequest_whileAWriteIsPending_concurrentTransactions_andTheWriteStillCompletes', () => {
    const h = new Harness()
    const p = h.open('t')
    const first = h.add('t', p, [['a', 0]])
    const during = [h.add('t', p, [['a', 1]]), h.offsets('t', p, 'g'), h.end('t', p, true), h.init('t')]
    expect(during.map((r) => h.outcome(r))).toEqual(Array(4).fill('CONCURRENT_TRANSACTIONS'))
    expect(h.pending).toHaveLength(1)
    h.commit()
    expect(h.outcome(first)).toBe('ok')
    expect(h.core.describe('t')?.partitions).toEqual([{ topic: 'a', partition: 0 }])
  })

  it('anyRequest_whilePrepareCommitMarkersAreOut_concurrentTransactions', () => {
    const h = new Harness()
    const p = h.open('t')
    h.add('t', p, [['a', 0]])
    h.settle()
    h.end('t', p, true)
    h.commit()
    const during = [h.add('t', p, [['b', 0]]), h.offsets('t', p, 'g'), h.init('t')]
    expect(during.map((r) => h.outcome(r))).toEqual(Array(3).fill('CONCURRENT_TRANSACTIONS'))
  })

  it('initProducerId_whileTheNewIdsAllocationIsPending_concurrent_otherRequestsUnknownMapping', () => {
    const h = new Harness()
    h.autoAllocate = false
    h.init('t')
    expect(h.outcome(h.init('t'))).toBe('CONCURRENT_TRANSACTIONS')
    expect(h.outcome(h.add('t', { producerId: 100, producerEpoch: 0 }, [['a', 0]]))).toBe('INVALID_PRODUCER_ID_MAPPING')
    expect(h.core.describe('t')).toBeUndefined()
    expect(h.core.transactionalIds()).toEqual([])
  })
})

describe('transaction coordinator: markers and failover', () => {
  it('markerOutcome_retriable_keepsPrepareCommit_resendsOnlyThatTargetAfterTheBackoff', () => {
    const h = new Harness()
    const p = h.open('t')
    h.add('t', p, [['a', 0], ['b', 0]])
    h.settle()
    h.end('t', p, true)
    h.commit()
    h.report(0, 'retriable')
    h.report(0, 'written')
    expect(h.pending).toEqual([])
    expect(h.state('t')).toBe('PrepareCommit')
    expect(h.tick(TXN_LIMITS_DEFAULT.markerRetryBackoffMs - 1)).toEqual([])
    const resent = effectsOf(h.tick(1), 'writeMarkers')
    expect(resent.map((m) => [m.round, m.partitions, m.groups, m.commit])).toEqual([[1, [{ topic: 'a', partition: 0 }], [], true]])
    h.report(0, 'written')
    h.commit()
    expect(h.state('t')).toBe('CompleteCommit')
  })

  it('markerOutcome_goneTopicCountsAsDone_staleRoundIgnored_fencedStopsTheRound', () => {
    const h = new Harness()
    const p = h.open('t')
    h.add('t', p, [['a', 0], ['b', 0]])
    h.settle()
    h.end('t', p, false)
    h.commit()
    const stale = h.core.markerOutcome({ transactionalId: 't', round: 99, target: { kind: 'partition', topic: 'a', partition: 0 }, outcome: 'written' }, h.nowMs)
    expect(stale).toEqual([])
    expect(h.core.describe('t')?.markersPending).toBe(2)
    h.report(0, 'gone')
    h.report(0, 'written')
    h.commit()
    expect(h.state('t')).toBe('CompleteAbort')

    const fenced = new Harness()
    const q = fenced.open('u')
    fenced.add('u', q, [['a', 0], ['b', 0]])
    fenced.settle()
    fenced.end('u', q, true)
    fenced.commit()
    fenced.report(0, 'fenced')
    expect(fenced.apply(fenced.core.markerOutcome({ transactionalId: 'u', round: 1, target: { kind: 'partition', topic: 'b', partition: 0 }, outcome: 'written' }, fenced.nowMs))).toEqual([])
    expect(fenced.tick(60_000)).toEqual([])
    expect(fenced.state('u')).toBe('PrepareCommit')
  })

  it('failover_inPrepareCommit_newCoordinatorResendsEveryMarkerUnderItsEpoch_thenCompletes', () => {
    const h = new Harness()
    const p = h.open('t')
    h.add('t', p, [['a', 0], ['b', 0]])
    h.settle()
    h.offsets('t', p, 'g')
    h.settle()
    const end = h.end('t', p, true)
    h.commit()
    expect(h.outcome(end)).toBe('ok')
    h.report(0, 'written') // one partition had it; the coordinator dies before the rest
    const resumed = h.failover()
    expect(effectsOf(resumed, 'writeMarkers')).toEqual([{
      type: 'writeMarkers', transactionalId: 't', round: 1, producerId: p.producerId, producerEpoch: 0, commit: true, coordinatorEpoch: 2,
      partitions: [{ topic: 'a', partition: 0 }, { topic: 'b', partition: 0 }], groups: ['g'],
    }])
    expect(h.outcome(h.end('t', p, true))).toBe('CONCURRENT_TRANSACTIONS')
    h.settle()
    expect(h.state('t')).toBe('CompleteCommit')
    expect(h.outcome(h.end('t', p, true))).toBe('ok')
  })

  it('failover_prepareCommitWrittenButNeverAnswered_newCoordinatorStillCommits', () => {
    const h = new Harness()
    const p = h.open('t')
    h.add('t', p, [['a', 0]])
    h.settle()
    const end = h.end('t', p, true)
    const resumed = h.failover(1) // the PrepareCommit record committed as the old coordinator died
    expect(h.answered(end)).toBe(false)
    expect(effectsOf(resumed, 'writeMarkers').map((m) => m.commit)).toEqual([true])
  })

  it('failover_ongoingTransaction_noMarkers_timeoutStillCountsFromItsStart', () => {
    const h = new Harness()
    const p = h.open('t', 10_000)
    h.add('t', p, [['a', 0]])
    h.settle()
    h.nowMs += 5_000
    expect(h.failover()).toEqual([])
    expect(h.tick(5_000)).toEqual([]) // start + timeout is not past it yet
    expect(effectsOf(h.tick(TXN_LIMITS_DEFAULT.scanIntervalMs), 'persist').map((w) => [w.metadata?.state, w.metadata?.producerEpoch])).toEqual([['PrepareAbort', 1]])
  })

  it('persistFailed_prepareCommit_requestGetsTheError_transactionStaysOngoing_noMarkers', () => {
    const h = new Harness()
    const p = h.open('t')
    h.add('t', p, [['a', 0]])
    h.settle()
    const end = h.end('t', p, true)
    h.failWrite(new SkeinError(ErrorCode.NOT_COORDINATOR))
    expect(h.outcome(end)).toBe('NOT_COORDINATOR')
    expect(h.state('t')).toBe('Ongoing')
    expect(h.sentMarkers).toEqual([])
    const retry = h.end('t', p, true)
    h.settle()
    expect(h.outcome(retry)).toBe('ok')
  })

  it('persistFailed_completeRecord_writtenAgainOnTheNextTick', () => {
    const h = new Harness()
    const p = h.open('t')
    h.add('t', p, [['a', 0]])
    h.settle()
    h.end('t', p, true)
    h.commit()
    h.report(0, 'written')
    h.failWrite()
    expect(h.state('t')).toBe('PrepareCommit')
    expect(effectsOf(h.tick(1), 'persist').map((w) => w.metadata?.state)).toEqual(['CompleteCommit'])
    h.commit()
    expect(h.state('t')).toBe('CompleteCommit')
  })

  it('persistFailed_newIdsFirstRecord_idForgotten', () => {
    const h = new Harness()
    const init = h.init('t')
    h.failWrite(new SkeinError(ErrorCode.NOT_COORDINATOR))
    expect(h.outcome(init)).toBe('NOT_COORDINATOR')
    expect(h.core.transactionalIds()).toEqual([])
    expect(h.open('t')).toEqual({ producerId: 101, producerEpoch: 0 })
  })

  it('producerIdAllocationFailed_requestGetsTheError_idNotCreated', () => {
    const h = new Harness()
    h.autoAllocate = false
    const init = h.init('t')
    h.apply(h.core.producerIdAllocationFailed(init, new SkeinError(ErrorCode.NOT_CONTROLLER)))
    expect(h.outcome(init)).toBe('NOT_CONTROLLER')
    expect(h.core.transactionalIds()).toEqual([])
  })
})

describe('transaction coordinator: epochs and expiry', () => {
  function loadedAt(meta: Partial<TxnMetadata>): Harness {
    const h = new Harness()
    const base: TxnMetadata = { producerId: 7, producerEpoch: 0, timeoutMs: TIMEOUT_MS, state: 'Empty', partitions: [], groups: [], txnStartMs: -1, updatedMs: START_MS }
    const metadata = { ...base, ...meta }
    h.latest.set('t', metadata)
    h.apply(h.core.load(new Map([['t', metadata]]), h.nowMs))
    return h
  }

  it('initProducerId_epochExhausted_newProducerIdAtEpoch0', () => {
    const h = loadedAt({ producerEpoch: PRODUCER_EPOCH_EXHAUSTED - 1, state: 'CompleteCommit' })
    expect(h.open('t')).toEqual({ producerId: 7, producerEpoch: PRODUCER_EPOCH_EXHAUSTED })
    h.autoAllocate = false
    const init = h.init('t')
    expect(h.allocations).toEqual([init])
    h.allocate()
    h.settle()
    expect(h.producerOf(init)).toEqual({ producerId: 100, producerEpoch: 0 })
    expect(h.outcome(h.add('t', { producerId: 7, producerEpoch: PRODUCER_EPOCH_EXHAUSTED }, [['a', 0]]))).toBe('INVALID_PRODUCER_ID_MAPPING')
  })

  it('initProducerId_ongoingAtTheLastClientEpoch_fencesWithTheMaxEpoch_thenRotatesTheProducerId', () => {
    const h = loadedAt({ producerEpoch: PRODUCER_EPOCH_EXHAUSTED, state: 'Ongoing', partitions: [{ topic: 'a', partition: 0 }], txnStartMs: START_MS })
    expect(h.outcome(h.init('t'))).toBe('none')
    h.settle()
    expect(h.sentMarkers.map((m) => [m.commit, m.producerEpoch])).toEqual([[false, PRODUCER_EPOCH_MAX]])
    expect(h.open('t')).toEqual({ producerId: 100, producerEpoch: 0 })
  })

  it('tick_idleIdPastExpiration_tombstoned_thenUnknown', () => {
    const h = new Harness()
    const p = h.open('t')
    const expiry = TXN_LIMITS_DEFAULT.transactionalIdExpirationMs
    expect(h.tick(expiry - 1)).toEqual([])
    expect(effectsOf(h.tick(TXN_LIMITS_DEFAULT.scanIntervalMs), 'persist').map((w) => [w.metadata, w.then])).toEqual([[null, 'forget']])
    expect(h.outcome(h.init('t'))).toBe('CONCURRENT_TRANSACTIONS') // while the tombstone is being written
    h.commit()
    expect(h.history('t')).toEqual(['Empty', 'tombstone'])
    expect(h.core.describe('t')).toBeUndefined()
    expect(h.outcome(h.add('t', p, [['a', 0]]))).toBe('INVALID_PRODUCER_ID_MAPPING')
    expect(h.open('t').producerId).not.toBe(p.producerId)
  })

  it('tick_ongoingTransaction_neverExpiresTheId_itTimesOutInstead', () => {
    const h = new Harness()
    const p = h.open('t', 10_000)
    h.add('t', p, [['a', 0]])
    h.settle()
    const written = effectsOf(h.tick(TXN_LIMITS_DEFAULT.transactionalIdExpirationMs + 1), 'persist')
    expect(written.map((w) => w.metadata?.state)).toEqual(['PrepareAbort'])
  })
})

describe('transaction coordinator: bad input', () => {
  it('everyBadRequest_getsItsStableError_andChangesNothing', () => {
    const h = new Harness({ ...TXN_LIMITS_DEFAULT, transactionalIdsMax: 2 })
    const p = h.open('t')
    h.open('u')
    const logLength = h.log.length
    const before = JSON.stringify(h.core.describe('t'))
    const tooMany = Array.from({ length: TXN_PARTITIONS_MAX + 1 }, (_, i): [string, number] => ['a', i])
    const cases: [string, () => number][] = [
      ['INVALID_REQUEST', () => h.init('')],
      ['INVALID_REQUEST', () => h.init('x'.repeat(1_025))],
      ['INVALID_TRANSACTION_TIMEOUT', () => h.init('t', 0)],
      ['INVALID_TRANSACTION_TIMEOUT', () => h.init('t', -5)],
      ['INVALID_TRANSACTION_TIMEOUT', () => h.init('t', 1.5)],
      ['INVALID_TRANSACTION_TIMEOUT', () => h.init('t', TXN_LIMITS_DEFAULT.transactionTimeoutMsMax + 1)],
      ['OVERLOADED', () => h.init('v')],
      ['INVALID_PRODUCER_ID_MAPPING', () => h.add('nobody', p, [['a', 0]])],
      ['INVALID_PRODUCER_ID_MAPPING', () => h.add('t', { ...p, producerId: p.producerId + 1 }, [['a', 0]])],
      ['INVALID_PRODUCER_ID_MAPPING', () => h.end('t', { ...p, producerId: 999 }, true)],
      ['INVALID_PRODUCER_ID_MAPPING', () => h.offsets('nobody', p, 'g')],
      ['PRODUCER_FENCED', () => h.add('t', { ...p, producerEpoch: 1 }, [['a', 0]])],
      ['INVALID_REQUEST', () => h.add('t', { ...p, producerEpoch: -1 }, [['a', 0]])],
      ['INVALID_REQUEST', () => h.add('t', { ...p, producerEpoch: PRODUCER_EPOCH_MAX + 1 }, [['a', 0]])],
      ['INVALID_REQUEST', () => h.add('t', { ...p, producerId: -1 }, [['a', 0]])],
      ['INVALID_REQUEST', () => h.add('t', p, [])],
      ['INVALID_REQUEST', () => h.add('t', p, [['', 0]])],
      ['INVALID_REQUEST', () => h.add('t', p, [['a', -1]])],
      ['INVALID_REQUEST', () => h.add('t', p, [['a', 0.5]])],
      ['INVALID_REQUEST', () => h.add('t', p, [['x'.repeat(250), 0]])],
      ['INVALID_REQUEST', () => h.add('t', p, tooMany)],
      ['INVALID_GROUP_ID', () => h.offsets('t', p, '')],
      ['INVALID_GROUP_ID', () => h.offsets('t', p, 'bad\u0007group')],
      ['INVALID_GROUP_ID', () => h.offsets('t', p, 'g'.repeat(256))],
    ]
    for (const [expected, send] of cases) {
      const requestId = send()
      expect(h.outcome(requestId), `${expected}: ${h.replies.get(requestId)?.error?.message}`).toBe(expected)
    }
    expect(h.pending).toEqual([])
    expect(h.log.length).toBe(logLength)
    expect(JSON.stringify(h.core.describe('t'))).toBe(before)
    expect(h.core.transactionalIds()).toEqual(['t', 'u'])
  })

  it('addPartitions_transactionWouldOutgrowItsLimit_invalidRequest_transactionUnchanged', () => {
    const h = new Harness()
    const p = h.open('t')
    h.add('t', p, Array.from({ length: TXN_PARTITIONS_MAX }, (_, i): [string, number] => ['a', i]))
    h.settle()
    const over = h.add('t', p, [['b', 0]])
    expect(errorCodeOf(h, over)).toBe(ErrorCode.INVALID_REQUEST.code)
    expect(h.core.describe('t')?.partitions).toHaveLength(TXN_PARTITIONS_MAX)
    expect(h.outcome(h.add('t', p, [['a', 5]]))).toBe('ok') // already in: still fine
  })

  it('reportsTheShellNeverOwed_assertionError', () => {
    const h = new Harness()
    expect(() => h.core.persisted(42, h.nowMs)).toThrow(/persist 42 is not pending/)
    expect(() => h.core.producerIdAllocated(7, 1, h.nowMs)).toThrow(/no producer id allocation pending/)
    h.open('t')
    expect(() => h.core.load(new Map(), h.nowMs)).toThrow(/load on a core already in use/)
  })
})

type Op =
  | { kind: 'init'; id: string }
  | { kind: 'add'; id: string; stale: boolean; topic: string; partition: number }
  | { kind: 'offsets'; id: string; stale: boolean; group: string }
  | { kind: 'end'; id: string; stale: boolean; commit: boolean }
  | { kind: 'commit'; count: number }
  | { kind: 'fail' }
  | { kind: 'marker'; pick: number; outcome: MarkerOutcome }
  | { kind: 'allocate'; pick: number }
  | { kind: 'tick'; advanceMs: number }
  | { kind: 'failover'; survivors: number }

const ID = fc.constantFrom('t1', 't2', 't3')
/** Mostly the producer's current epoch; one time in five an older one (a zombie). */
const STALE = fc.integer({ min: 0, max: 4 }).map((n) => n === 0)
const OP: fc.Arbitrary<Op> = fc.oneof(
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('init' as const), id: ID }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('add' as const), id: ID, stale: STALE, topic: fc.constantFrom('a', 'b'), partition: fc.nat(2) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('offsets' as const), id: ID, stale: STALE, group: fc.constantFrom('g1', 'g2') }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('end' as const), id: ID, stale: STALE, commit: fc.boolean() }) },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('commit' as const), count: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('fail' as const) }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('marker' as const), pick: fc.nat(), outcome: fc.constantFrom<MarkerOutcome>('written', 'written', 'retriable', 'gone') }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('allocate' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('tick' as const), advanceMs: fc.constantFrom(0, 50, 150, 2_000, 2_000, 25_000) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('failover' as const), survivors: fc.nat(3) }) },
)

/** Runs ops against a harness (which checks every step), then heals and checks everything completes. */
function runOps(ops: readonly Op[]): void {
  const h = new Harness({ ...TXN_LIMITS_DEFAULT, transactionTimeoutMsMax: 30_000 })
  h.autoAllocate = false
  // What each id's clients know: every producer id and epoch an init answered, newest last.
  const known = new Map<string, ProducerIdAndEpoch[]>()
  const inits = new Map<number, string>()
  const producer = (id: string, stale: boolean): ProducerIdAndEpoch | undefined => {
    const list = known.get(id)
    return list === undefined ? undefined : (stale ? list[0] : list[list.length - 1])
  }
  /** A client op: with the producer its client knows, or (none known yet) an initProducerId instead. */
  const asClient = (id: string, stale: boolean, send: (p: ProducerIdAndEpoch) => number): void => {
    const p = producer(id, stale)
    if (p === undefined) inits.set(h.init(id, 20_000), id)
    else send(p)
  }
  const learn = (): void => {
    for (const [requestId, id] of inits) {
      const reply = h.replies.get(requestId)
      if (reply?.producer !== undefined) known.set(id, [...(known.get(id) ?? []), reply.producer])
      if (reply !== undefined) inits.delete(requestId)
    }
  }
  for (const op of ops) {
    switch (op.kind) {
      case 'init': inits.set(h.init(op.id, 20_000), op.id); break
      case 'add': asClient(op.id, op.stale, (p) => h.add(op.id, p, [[op.topic, op.partition]])); break
      case 'offsets': asClient(op.id, op.stale, (p) => h.offsets(op.id, p, op.group)); break
      case 'end': asClient(op.id, op.stale, (p) => h.end(op.id, p, op.commit)); break
      case 'commit': for (let i = 0; i < op.count && h.pending.length > 0; i++) h.commit(); break
      case 'fail': if (h.pending.length > 0) h.failWrite(); break
      case 'marker': if (h.outstanding.length > 0) h.report(op.pick % h.outstanding.length, op.outcome); break
      case 'allocate': if (h.allocations.length > 0) h.allocate(op.pick % h.allocations.length); break
      case 'tick': h.tick(op.advanceMs); break
      case 'failover': h.failover(Math.min(op.survivors, h.pending.length)); inits.clear(); break
    }
    learn()
  }
  // Heal: everything in flight completes, retries go out, timeouts fire; then nothing is left half-done.
  for (let round = 0; round < 5; round++) {
    h.settle()
    h.tick(31_000)
  }
  h.settle()
  for (const [id, meta] of h.latest) {
    expect(isIdle(meta.state), `${id} left in ${meta.state}`).toBe(true)
    expect(h.state(id)).toBe(meta.state)
  }
}

describe('transaction coordinator: random histories', () => {
  it('anyOpsWithFailovers_decidedOutcomesNeverChange_markersOnlyForTheOwningEpoch_allComplete', () => {
    fc.assert(fc.property(fc.array(OP, { minLength: 1, maxLength: 150, size: 'max' }), (ops) => runOps(ops)), { numRuns: 300 })
  })

  it('harness_catchesAnAbortAfterAnAnsweredCommit', () => {
    // The property's checks can fail: a log where a decided commit turns into an abort is refused.
    const prepared: TxnMetadata = { producerId: 1, producerEpoch: 0, timeoutMs: 1, state: 'PrepareCommit', partitions: [{ topic: 'a', partition: 0 }], groups: [], txnStartMs: 0, updatedMs: 0 }
    expect(() => checkTransition('t', prepared, { ...prepared, state: 'PrepareAbort' })).toThrow()
    expect(() => checkTransition('t', prepared, { ...prepared, state: 'CompleteAbort', partitions: [] })).toThrow()
    expect(() => checkTransition('t', prepared, { ...prepared, state: 'CompleteCommit', producerEpoch: 1, partitions: [] })).toThrow()
    checkTransition('t', prepared, { ...prepared, state: 'CompleteCommit', partitions: [] })
  })
})
