import type { ProcessedLog, SendEntry } from './workload.js'

/**
 * The chaos run's checker: reads the clients' history and the log as read back after the heal,
 * and names each anomaly with the records involved. Pure: no I/O, so it is unit-tested with
 * made-up histories (checker.test.ts).
 */

/** One partition read back from its log start to its high watermark, in order, every record. */
export interface PartitionLog {
  offsets: number[]
  /** Each record's value; null for the records of control batches (leader changes, voter changes). */
  values: (string | null)[]
  /** The high watermark the read aimed for. */
  highWatermark: number
  logStartOffset: number
}

/** A liveness or convergence fact established by the run itself (it has no history to check). */
export interface Observation {
  ok: boolean
  detail: string
}

export interface CheckInput {
  sends: readonly SendEntry[]
  /** Partition number -> its log; every partition of the topic. */
  logs: ReadonlyMap<number, PartitionLog>
  processed: ProcessedLog
  commits: { samples: number; regressions: readonly string[] }
  /** Name -> observation, in the order to print them. */
  observations: ReadonlyMap<string, Observation>
}

export interface CheckRow {
  name: string
  /** Informational rows report what the history shows without judging it (they never fail the run). */
  info?: boolean
  ok: boolean
  detail: string
  /** Up to EXAMPLES_MAX records or facts behind a failure. */
  examples: string[]
}

const EXAMPLES_MAX = 10

/** Every check, in a fixed order. */
export function check(input: CheckInput): CheckRow[] {
  const index = indexLogs(input.logs)
  const acked = ackedRecords(input.sends)
  return [
    checkAckedWrites(acked, index),
    checkDuplicates(index),
    checkContiguous(input.logs),
    checkUnknownValues(input.sends, index),
    reportUnacknowledged(input.sends, index),
    checkGroupReads(input.processed, index),
    checkGroupCoverage(acked, input.processed),
    checkCommits(input.commits),
    ...[...input.observations].map(([name, o]) => row(name, o.ok, o.detail, [])),
  ]
}

/** Where each value sits in the final logs, and what sits at each place. */
interface LogIndex {
  /** value -> every "partition/offset" it was read at. */
  placesOf: Map<string, string[]>
  /** "partition/offset" -> value. */
  valueAt: Map<string, string>
  recordCount: number
}

interface AckedRecord {
  value: string
  partition: number
  offset: number
}

function indexLogs(logs: ReadonlyMap<number, PartitionLog>): LogIndex {
  const placesOf = new Map<string, string[]>()
  const valueAt = new Map<string, string>()
  let recordCount = 0
  for (const [partition, log] of logs) {
    for (let i = 0; i < log.values.length; i++) {
      const value = log.values[i]
      if (value === null || value === undefined) continue
      const place = `${partition}/${log.offsets[i]}`
      valueAt.set(place, value)
      const places = placesOf.get(value)
      if (places === undefined) placesOf.set(value, [place])
      else places.push(place)
      recordCount++
    }
  }
  return { placesOf, valueAt, recordCount }
}

function ackedRecords(sends: readonly SendEntry[]): AckedRecord[] {
  const acked: AckedRecord[] = []
  for (const send of sends) {
    if (send.outcome?.kind !== 'ok') continue
    const { partitions, offsets } = send.outcome
    send.values.forEach((value, i) => acked.push({ value, partition: partitions[i] as number, offset: offsets[i] as number }))
  }
  return acked
}

/** Every acknowledged record is in the log, at the offset its acknowledgement named. */
function checkAckedWrites(acked: readonly AckedRecord[], index: LogIndex): CheckRow {
  const lost: string[] = []
  const moved: string[] = []
  for (const record of acked) {
    const place = `${record.partition}/${record.offset}`
    if (index.valueAt.get(place) === record.value) continue
    const places = index.placesOf.get(record.value)
    if (places === undefined) lost.push(`${record.value} acked at ${place}, not in the log (${place} holds ${index.valueAt.get(place) ?? 'nothing'})`)
    else moved.push(`${record.value} acked at ${place}, found at ${places.join(', ')} (${place} holds ${index.valueAt.get(place) ?? 'nothing'})`)
  }
  const ok = lost.length === 0 && moved.length === 0
  return row('acknowledged writes survive at their offsets', ok, `${acked.length} acked records, ${lost.length} lost, ${moved.length} at another offset`, [...lost, ...moved])
}

/** Every value is sent once, so a value twice in the log is a duplicate the idempotent producer let through. */
function checkDuplicates(index: LogIndex): CheckRow {
  const duplicates: string[] = []
  for (const [value, places] of index.placesOf) if (places.length > 1) duplicates.push(`${value} at ${places.join(', ')}`)
  return row('no duplicates (idempotent producers)', duplicates.length === 0, `${index.recordCount} records read back, ${duplicates.length} values more than once`, duplicates)
}

/**
 * Each partition's offsets, control records included, run from its log start to its high
 * watermark with no gap and none twice (offsets are never reused, the log has no holes).
 */
function checkContiguous(logs: ReadonlyMap<number, PartitionLog>): CheckRow {
  const problems: string[] = []
  let controlRecords = 0
  for (const [partition, log] of [...logs].sort((a, b) => a[0] - b[0])) {
    for (let i = 0; i < log.offsets.length; i++) {
      if (log.offsets[i] !== log.logStartOffset + i) {
        problems.push(`partition ${partition}: record ${i} after log start ${log.logStartOffset} has offset ${log.offsets[i]}`)
        break
      }
    }
    if (log.logStartOffset + log.offsets.length !== log.highWatermark) {
      problems.push(`partition ${partition}: ${log.offsets.length} records from log start ${log.logStartOffset}, high watermark ${log.highWatermark}`)
    }
    controlRecords += log.values.filter((value) => value === null).length
  }
  return row('offsets contiguous, log start to high watermark', problems.length === 0, `${logs.size} partitions, ${controlRecords} control records among them`, problems)
}

/** Nothing in the log that no producer sent (a corrupted or invented record). */
function checkUnknownValues(sends: readonly SendEntry[], index: LogIndex): CheckRow {
  const sent = new Set<string>()
  for (const send of sends) for (const value of send.values) sent.add(value)
  const unknown: string[] = []
  for (const [value, places] of index.placesOf) if (!sent.has(value)) unknown.push(`${JSON.stringify(value)} at ${places.join(', ')}`)
  return row('every record in the log was sent', unknown.length === 0, `${unknown.length} records nobody sent`, unknown)
}

/**
 * The sends that were not acknowledged, with when they ran, how they ended and how many of
 * their records are in the log anyway. Informational: a failed or timed-out send may or may
 * not have been written (Kafka promises nothing either way), and one send spans partitions,
 * so its batches to other partitions may have succeeded. An application that resends after
 * such an error would duplicate what was written.
 */
function reportUnacknowledged(sends: readonly SendEntry[], index: LogIndex): CheckRow {
  const lines: string[] = []
  let records = 0
  let written = 0
  for (const send of sends) {
    if (send.outcome === undefined || send.outcome.kind === 'ok') continue
    const places = send.values.map((value) => index.placesOf.get(value)?.join('+')).filter((p) => p !== undefined)
    records += send.values.length
    written += places.length
    const when = `${(send.startedAtMs / 1_000).toFixed(1)}..${((send.endedAtMs ?? NaN) / 1_000).toFixed(1)} s`
    lines.push(`${send.producer} ${send.outcome.kind} ${when}, ${places.length}/${send.values.length} in the log${places.length > 0 ? ` (${places.join(', ')})` : ''}: ${send.outcome.error}`)
  }
  return { ...row('unacknowledged sends (may or may not be written)', true, `${lines.length} sends, ${written} of their ${records} records in the log`, lines), info: true }
}

/** What a group member processed at an offset is what the log holds there: one value per offset. */
function checkGroupReads(processed: ProcessedLog, index: LogIndex): CheckRow {
  const mismatches: string[] = []
  for (let i = 0; i < processed.length; i++) {
    const place = `${processed.partitions[i]}/${processed.offsets[i]}`
    const inLog = index.valueAt.get(place)
    if (inLog !== processed.values[i]) mismatches.push(`${processed.members[i]} processed ${processed.values[i]} at ${place}; the log holds ${inLog ?? 'nothing'} there`)
  }
  return row('group reads match the log (one value per offset)', mismatches.length === 0, `${processed.length} records processed`, mismatches)
}

/** At least once: every acknowledged record was processed by some member. */
function checkGroupCoverage(acked: readonly AckedRecord[], processed: ProcessedLog): CheckRow {
  const seen = new Set(processed.values)
  const missing = acked.filter((record) => !seen.has(record.value)).map((r) => `${r.value} (${r.partition}/${r.offset})`)
  const redelivered = processed.length - seen.size
  return row('group processed every acked record', missing.length === 0, `${acked.length - missing.length} of ${acked.length}; ${redelivered} redeliveries`, missing)
}

function checkCommits(commits: CheckInput['commits']): CheckRow {
  const ok = commits.regressions.length === 0 && commits.samples > 0
  return row('committed offsets never move backwards', ok, `${commits.samples} samples, ${commits.regressions.length} regressions`, [...commits.regressions])
}

function row(name: string, ok: boolean, detail: string, examples: readonly string[]): CheckRow {
  return { name, ok, detail, examples: examples.slice(0, EXAMPLES_MAX) }
}
