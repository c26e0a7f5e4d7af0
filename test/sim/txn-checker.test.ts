/**
 * The exactly-once pipeline's checker (sim/txn/checker.ts), fed fabricated histories: a clean
 * one passes, and each rule fails on a history that breaks it.
 */
import { describe, expect, it } from 'vitest'
import { type FinalTxnState, type InstanceObservation, type LogRecord, type TxnObservation, TxnChecker, encodeOutput, parseOutput } from '../../sim/txn/checker.js'

const INPUTS: LogRecord[] = [
  { partition: 0, offset: 0, value: 'a' },
  { partition: 0, offset: 1, value: 'b' },
  { partition: 1, offset: 0, value: 'c' },
]

function out(input: LogRecord, instance: string, txn: number): string {
  return encodeOutput({ inPartition: input.partition, inOffset: input.offset, inValue: input.value, instance, txn })
}

function instance(name: string, seq: number, initIssuedAtMs: number, initCompletedAtMs: number, transactionalId = 'eos-1'): InstanceObservation {
  return { transactionalId, instance: name, seq, initIssuedAtMs, initCompletedAtMs }
}

function txn(name: string, number: number, outputs: string[], outcome: { commitAtMs?: number; committedAtMs?: number; abortedAtMs?: number }): TxnObservation {
  return { instance: name, txn: number, beganAtMs: 0, outputs, commitInvokedAtMs: outcome.commitAtMs, committedAtMs: outcome.committedAtMs, abortedAtMs: outcome.abortedAtMs }
}

function final(outputs: Map<number, LogRecord[] | undefined>, inputs: LogRecord[] | undefined = INPUTS): FinalTxnState {
  return { atMs: 100_000, inputs, outputs, settled: true }
}

/** i1 commits a and b in one transaction, c in a second; out/0 gets a and b, out/1 gets c. */
function cleanHistory(): { checker: TxnChecker; outputs: Map<number, LogRecord[] | undefined> } {
  const checker = new TxnChecker()
  checker.observeInstance(instance('i1', 1, 10, 20))
  const [a, b, c] = INPUTS as [LogRecord, LogRecord, LogRecord]
  checker.observeTxn(txn('i1', 1, [out(a, 'i1', 1), out(b, 'i1', 1)], { commitAtMs: 50, committedAtMs: 60 }))
  checker.observeTxn(txn('i1', 2, [out(c, 'i1', 2)], { commitAtMs: 70, committedAtMs: 80 }))
  const outputs = new Map<number, LogRecord[] | undefined>([
    [0, [{ partition: 0, offset: 0, value: out(a, 'i1', 1) }, { partition: 0, offset: 1, value: out(b, 'i1', 1) }]],
    [1, [{ partition: 1, offset: 0, value: out(c, 'i1', 2) }]],
  ])
  checker.observeRead({ atMs: 65, partition: 0, records: [{ partition: 0, offset: 0, value: out(a, 'i1', 1) }] })
  return { checker, outputs }
}

function rules(checker: TxnChecker): string[] {
  return [...new Set(checker.violations.map((violation) => violation.rule))].sort()
}

describe('TxnChecker', () => {
  it('encodeOutput_parseOutput_roundTrip', () => {
    const origin = { inPartition: 2, inOffset: 17, inValue: 's1-3', instance: 'eos-0#2@p1', txn: 4 }
    expect(parseOutput(encodeOutput(origin))).toEqual(origin)
    expect(parseOutput('not-an-output')).toBeUndefined()
    expect(() => encodeOutput({ ...origin, inValue: 'a|b' })).toThrow()
  })

  it('check_cleanHistory_noViolation', () => {
    const { checker, outputs } = cleanHistory()
    checker.check(final(outputs))
    expect(checker.violations).toEqual([])
    expect(checker.committedTxns).toBe(2)
  })

  it('check_inputWithoutOutput_missing', () => {
    const { checker, outputs } = cleanHistory()
    checker.check(final(outputs, [...INPUTS, { partition: 1, offset: 1, value: 'd' }]))
    expect(rules(checker)).toEqual(['missing'])
  })

  it('check_inputOutputTwice_duplicate', () => {
    const { checker, outputs } = cleanHistory()
    const c = INPUTS[2] as LogRecord
    checker.observeInstance(instance('i2', 2, 200, 210))
    checker.observeTxn(txn('i2', 1, [out(c, 'i2', 1)], { commitAtMs: 220, committedAtMs: 230 }))
    outputs.get(1)?.push({ partition: 1, offset: 2, value: out(c, 'i2', 1) })
    checker.check(final(outputs))
    expect(rules(checker)).toEqual(['duplicate'])
  })

  it('check_abortedTransactionVisibleDuringRun_abortedVisible', () => {
    const { checker, outputs } = cleanHistory()
    const a = INPUTS[0] as LogRecord
    checker.observeTxn(txn('i1', 3, [out(a, 'i1', 3)], { abortedAtMs: 90 }))
    // A reader saw it (past the LSO, say), and it is gone by the end: both are caught.
    const prefix = outputs.get(0) ?? []
    checker.observeRead({ atMs: 95, partition: 0, records: [...prefix, { partition: 0, offset: 3, value: out(a, 'i1', 3) }] })
    checker.check(final(outputs))
    expect(rules(checker)).toEqual(['aborted visible', 'committed record lost'])
  })

  it('check_abortedTransactionVisibleAtEnd_abortedVisibleAndDuplicate', () => {
    const { checker, outputs } = cleanHistory()
    const a = INPUTS[0] as LogRecord
    checker.observeTxn(txn('i1', 3, [out(a, 'i1', 3)], { abortedAtMs: 90 }))
    outputs.get(0)?.push({ partition: 0, offset: 3, value: out(a, 'i1', 3) })
    checker.check(final(outputs))
    expect(rules(checker)).toEqual(['aborted visible', 'duplicate'])
  })

  it('check_transactionNeverCommittedVisible_uncommittedVisible', () => {
    const { checker, outputs } = cleanHistory()
    const c = INPUTS[2] as LogRecord
    // i1's second transaction never called commit (its process died), yet c's output is visible.
    checker.txns.pop()
    checker.observeTxn(txn('i1', 2, [out(c, 'i1', 2)], {}))
    checker.check(final(outputs))
    expect(rules(checker)).toEqual(['uncommitted visible'])
  })

  it('check_zombieCommitAfterNewerInit_zombieWriteVisible', () => {
    const { checker, outputs } = cleanHistory()
    const c = INPUTS[2] as LogRecord
    // i1 is cut off; i2 (same transactional id) completes its init at 300; i1 then commits c's output, and it shows.
    checker.observeInstance(instance('i2', 2, 250, 300))
    checker.observeTxn(txn('i1', 3, [out(c, 'i1', 3)], { commitAtMs: 310, committedAtMs: 320 }))
    outputs.set(1, [{ partition: 1, offset: 0, value: out(c, 'i1', 3) }])
    // i1's earlier transaction for c is then a committed one gone missing; that is reported too.
    checker.check(final(outputs))
    expect(rules(checker)).toContain('zombie write visible')
    expect(checker.zombieCommits).toBe(1)
  })

  it('check_zombieCommitBeforeNewerInit_allowed', () => {
    const { checker, outputs } = cleanHistory()
    // i2 of the same id started later, but i1's commits were invoked before i2's init completed.
    checker.observeInstance(instance('i2', 2, 75, 500))
    checker.check(final(outputs))
    expect(checker.violations).toEqual([])
    expect(checker.zombieCommits).toBe(0)
  })

  it('check_newerInitOverlappingOlderInit_notJudged', () => {
    const { checker, outputs } = cleanHistory()
    // i2's init was issued before i1's completed: the coordinator may have ordered them either way.
    checker.observeInstance(instance('i2', 2, 15, 40))
    checker.check(final(outputs))
    expect(checker.violations).toEqual([])
  })

  it('check_otherTransactionalId_notAFence', () => {
    const { checker, outputs } = cleanHistory()
    checker.observeInstance(instance('j1', 2, 25, 30, 'eos-2'))
    checker.check(final(outputs))
    expect(checker.violations).toEqual([])
  })

  it('check_committedTransactionPartlyVisible_committedNotVisible', () => {
    const { checker, outputs } = cleanHistory()
    outputs.set(0, [{ partition: 0, offset: 0, value: out(INPUTS[0] as LogRecord, 'i1', 1) }])
    checker.check(final(outputs))
    expect(rules(checker)).toEqual(['committed not visible', 'missing'])
  })

  it('check_unknownOutcomePartlyVisible_partlyVisible', () => {
    const { checker, outputs } = cleanHistory()
    const [a, b] = INPUTS as [LogRecord, LogRecord]
    // The commit was invoked, its answer never came: either outcome is fine, half of it is not.
    checker.txns.shift()
    checker.observeTxn(txn('i1', 1, [out(a, 'i1', 1), out(b, 'i1', 1)], { commitAtMs: 50 }))
    outputs.set(0, [{ partition: 0, offset: 0, value: out(a, 'i1', 1) }])
    checker.check(final(outputs))
    expect(rules(checker)).toEqual(['missing', 'partly visible'])
  })

  it('check_outputOfUnknownInputOrTransaction_invented', () => {
    const { checker, outputs } = cleanHistory()
    outputs.get(1)?.push({ partition: 1, offset: 1, value: 'garbage' })
    outputs.get(1)?.push({ partition: 1, offset: 2, value: encodeOutput({ inPartition: 5, inOffset: 0, inValue: 'zz', instance: 'i1', txn: 2 }) })
    outputs.get(1)?.push({ partition: 1, offset: 3, value: encodeOutput({ inPartition: 0, inOffset: 0, inValue: 'a', instance: 'i9', txn: 1 }) })
    checker.check(final(outputs))
    const invented = checker.violations.filter((violation) => violation.rule === 'invented')
    // garbage; unknown input (and never sent in i1/tx2); unknown transaction.
    expect(invented.length).toBe(4)
    expect(rules(checker)).toEqual(['duplicate', 'invented'])
  })

  it('check_inputValueMismatch_invented', () => {
    const { checker, outputs } = cleanHistory()
    checker.check(final(outputs, [{ partition: 0, offset: 0, value: 'A' }, ...INPUTS.slice(1)]))
    expect(rules(checker)).toEqual(['invented'])
  })

  it('check_readDuringRunChangedLater_committedRecordLost', () => {
    const { checker, outputs } = cleanHistory()
    checker.observeRead({ atMs: 66, partition: 1, records: [{ partition: 1, offset: 0, value: out(INPUTS[0] as LogRecord, 'i1', 1) }] })
    checker.check(final(outputs))
    expect(rules(checker)).toEqual(['committed record lost'])
  })

  it('check_recordAppearsBelowWhatAReaderReadPast_notAPrefix', () => {
    const { checker, outputs } = cleanHistory()
    // A reader saw offset 1 but not offset 0, which the final read has.
    checker.observeRead({ atMs: 66, partition: 0, records: [{ partition: 0, offset: 1, value: out(INPUTS[1] as LogRecord, 'i1', 1) }] })
    checker.check(final(outputs))
    expect(rules(checker)).toEqual(['not a prefix'])
  })

  it('check_finalReadFailed_reported', () => {
    const { checker, outputs } = cleanHistory()
    outputs.set(1, undefined)
    checker.check(final(outputs))
    expect(rules(checker)).toEqual(['final read'])
  })
})
