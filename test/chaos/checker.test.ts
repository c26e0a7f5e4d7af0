import { describe, expect, it } from 'vitest'
import { type CheckInput, type CheckRow, type PartitionLog, check } from './checker.js'
import { ProcessedLog, type SendEntry } from './workload.js'

/** The chaos checker has teeth: each anomaly, planted in a made-up history, is named. */

function ok(producer: string, values: string[], partitions: number[], offsets: number[]): SendEntry {
  return { producer, values, startedAtMs: 0, endedAtMs: 1, outcome: { kind: 'ok', partitions, offsets } }
}

function log(values: (string | null)[], logStartOffset = 0): PartitionLog {
  return { offsets: values.map((_, i) => logStartOffset + i), values, highWatermark: logStartOffset + values.length, logStartOffset }
}

function processedAll(logs: Map<number, PartitionLog>): ProcessedLog {
  const processed = new ProcessedLog()
  for (const [partition, l] of logs) l.values.forEach((value, i) => value !== null && processed.add('m1', partition, l.offsets[i] as number, value))
  return processed
}

/** CheckInput with mutable parts, for planting anomalies. */
interface History extends CheckInput {
  sends: SendEntry[]
  logs: Map<number, PartitionLog>
  processed: ProcessedLog
  commits: { samples: number; regressions: string[] }
  observations: Map<string, { ok: boolean; detail: string }>
}

/** A clean history: two partitions, a control record at the start of each, everything acked, read and processed. */
function clean(): History {
  const logs = new Map([
    [0, log([null, 'a', 'b'])],
    [1, log([null, 'c'])],
  ])
  return {
    sends: [ok('p1', ['a', 'c'], [0, 1], [1, 1]), ok('p1', ['b'], [0], [2])],
    logs,
    processed: processedAll(logs),
    commits: { samples: 3, regressions: [] },
    observations: new Map([['converged', { ok: true, detail: 'yes' }]]),
  }
}

function failing(rows: CheckRow[]): Record<string, string[]> {
  return Object.fromEntries(rows.filter((r) => !r.ok).map((r) => [r.name, r.examples]))
}

describe('chaos checker', () => {
  it('check_cleanHistory_passesEveryCheck', () => {
    const rows = check(clean())
    expect(failing(rows)).toEqual({})
    expect(rows.map((r) => r.name)).toContain('converged')
  })

  it('check_ackedRecordMissingFromTheLog_isALostWrite', () => {
    const input = clean()
    input.logs = new Map([[0, log([null, 'a', 'x'])], [1, log([null, 'c'])]])
    input.sends.push({ producer: 'p2', values: ['x'], startedAtMs: 0 })
    input.processed = processedAll(input.logs)

    const failures = failing(check(input))

    expect(failures['acknowledged writes survive at their offsets']).toEqual(['b acked at 0/2, not in the log (0/2 holds x)'])
  })

  it('check_ackedRecordAtAnotherOffset_isNamedWithBothPlaces', () => {
    const input = clean()
    input.logs = new Map([[0, log([null, 'b', 'a'])], [1, log([null, 'c'])]])
    input.processed = processedAll(input.logs)

    const failures = failing(check(input))

    expect(failures['acknowledged writes survive at their offsets']).toEqual([
      'a acked at 0/1, found at 0/2 (0/1 holds b)',
      'b acked at 0/2, found at 0/1 (0/2 holds a)',
    ])
  })

  it('check_valueTwiceInTheLog_isADuplicate', () => {
    const input = clean()
    input.logs = new Map([[0, log([null, 'a', 'b', 'b'])], [1, log([null, 'c'])]])
    input.processed = processedAll(input.logs)

    expect(failing(check(input))['no duplicates (idempotent producers)']).toEqual(['b at 0/2, 0/3'])
  })

  it('check_gapOrShortRead_isNamedPerPartition', () => {
    const input = clean()
    input.logs = new Map([
      [0, { offsets: [0, 1, 3], values: [null, 'a', 'b'], highWatermark: 4, logStartOffset: 0 }],
      [1, { offsets: [0, 1], values: [null, 'c'], highWatermark: 3, logStartOffset: 0 }],
    ])

    expect(failing(check(input))['offsets contiguous, log start to high watermark']).toEqual([
      'partition 0: record 2 after log start 0 has offset 3',
      'partition 0: 3 records from log start 0, high watermark 4',
      'partition 1: 2 records from log start 0, high watermark 3',
    ])
  })

  it('check_recordNobodySent_isNamed', () => {
    const input = clean()
    input.logs = new Map([[0, log([null, 'a', 'b'])], [1, log([null, 'c', 'zzz'])]])
    input.processed = processedAll(input.logs)

    expect(failing(check(input))['every record in the log was sent']).toEqual(['"zzz" at 1/2'])
  })

  it('check_memberProcessedAnotherValueAtAnOffset_isNamed', () => {
    const input = clean()
    input.processed.add('m2', 0, 1, 'b')

    expect(failing(check(input))['group reads match the log (one value per offset)']).toEqual(['m2 processed b at 0/1; the log holds a there'])
  })

  it('check_ackedRecordNoMemberProcessed_isNamed', () => {
    const input = clean()
    const processed = new ProcessedLog()
    processed.add('m1', 0, 1, 'a')
    processed.add('m1', 1, 1, 'c')
    input.processed = processed

    expect(failing(check(input))['group processed every acked record']).toEqual(['b (0/2)'])
  })

  it('check_commitRegressionOrNoSample_fails', () => {
    const regressed = clean()
    regressed.commits = { samples: 9, regressions: ['chaos/0: 7 -> 5'] }
    const unsampled = clean()
    unsampled.commits = { samples: 0, regressions: [] }

    expect(failing(check(regressed))['committed offsets never move backwards']).toEqual(['chaos/0: 7 -> 5'])
    expect(Object.keys(failing(check(unsampled)))).toEqual(['committed offsets never move backwards'])
  })

  it('check_failedObservation_fails', () => {
    const input = clean()
    input.observations = new Map([['converged', { ok: false, detail: 'p3 has no leader' }]])

    expect(check(input).find((r) => r.name === 'converged')).toMatchObject({ ok: false, detail: 'p3 has no leader' })
  })

  it('check_unacknowledgedSends_areReportedAsInfoOnly_withWhatOfThemIsInTheLog', () => {
    const input = clean()
    input.logs = new Map([[0, log([null, 'a', 'b', 'f'])], [1, log([null, 'c'])]])
    input.processed = processedAll(input.logs)
    input.sends.push({ producer: 'p2', values: ['f', 'g'], startedAtMs: 1_000, endedAtMs: 2_000, outcome: { kind: 'failed', error: 'OUT_OF_ORDER_SEQUENCE_NUMBER: x' } })
    input.sends.push({ producer: 'p2', values: ['h'], startedAtMs: 1_500, endedAtMs: 3_000, outcome: { kind: 'unknown', error: 'REQUEST_TIMED_OUT: y' } })

    const rows = check(input)

    expect(failing(rows)).toEqual({})
    expect(rows.find((r) => r.name === 'unacknowledged sends (may or may not be written)')).toMatchObject({
      info: true,
      detail: '2 sends, 1 of their 3 records in the log',
      examples: ['p2 failed 1.0..2.0 s, 1/2 in the log (0/3): OUT_OF_ORDER_SEQUENCE_NUMBER: x', 'p2 unknown 1.5..3.0 s, 0/1 in the log: REQUEST_TIMED_OUT: y'],
    })
  })
})
