/**
 * The full-system history checker: it reads the clients' history (history.ts) and what the
 * replicas showed when sampled, and names every anomaly with the records involved. It never
 * looks inside a node.
 *
 * What is checked where:
 * - replica-level safety, from status samples and committed-log reads (sim/broker/checker.ts,
 *   reused as is): divergent committed prefixes, two leaders in one term, offsets not
 *   contiguous in a committed log, high watermarks going back or past the log, and after
 *   healing one leader per partition that every replica follows, caught up;
 * - the consumer group, from its members' sync answers, commits, reads of the committed
 *   offsets and processed records (sim/group/checker.ts, reused as is): a partition owned by
 *   two members in one generation, committed offsets moving backwards or lost, commits by
 *   non-owners, records never processed, the group not settling after healing;
 * - here, over the produce, assign and poll history and the partitions' final logs (read
 *   through a client after healing):
 *   - `lost-write`: a value acknowledged with acks=all is not at its offset at the end. A value
 *     acknowledged with acks=1 may be lost by design when its leader fails before a majority
 *     has it: never an anomaly;
 *   - `duplicate`: a value of an idempotent producer at two offsets (a non-idempotent
 *     producer's retries may duplicate: counted, not an anomaly);
 *   - `inconsistent-offsets`: one offset, two values, between acks=all acknowledgements, polls
 *     and the final log (an acks=1 acknowledgement's offset may be reused after its loss);
 *   - `nonmonotonic-poll`: a consumer by assignment handed an offset at or below one it was
 *     handed before for that partition in the same session;
 *   - `poll-skip`: between two records it was handed in a row (or its start and its first
 *     record) a consumer by assignment passed over a record the final log has;
 *   - `unseen`: an acknowledged record (acks=all, or acks=1 that survived) no consumer ever
 *     read by the end, after the consumers were given time to read to the end of every log;
 *   - `phantom`: a record in a final log that no client wrote.
 *
 * Outcomes `failed` and `unknown` are both treated as "may have happened": a failed send may
 * still have landed (the SDK retries, and the attempt that failed last may not be the one
 * that wrote), so neither its presence nor its absence is an anomaly.
 */
import { type BatchView, BrokerChecker, type CommittedRead, type FinalState, type ReplicaRef, type StatusSample, type Violation, partitionKey } from '../broker/checker.js'
import { GroupChecker, type OffsetsRead, type PartitionRef, dataValues } from '../group/checker.js'
import { type History, type Op, Outcome, type ProduceOp } from './history.js'

export const AnomalyKind = {
  lostWrite: 'lost-write',
  duplicate: 'duplicate',
  inconsistentOffsets: 'inconsistent-offsets',
  offsetsNotContiguous: 'offsets-not-contiguous',
  divergentPrefix: 'divergent-prefix',
  twoLeaders: 'two-leaders',
  nonMonotonicPoll: 'nonmonotonic-poll',
  pollSkip: 'poll-skip',
  twoOwners: 'two-owners',
  commitBackwards: 'commit-backwards',
  unseen: 'unseen',
  phantom: 'phantom',
  commitLost: 'commit-lost',
  commitByNonOwner: 'commit-by-non-owner',
  twoAssignments: 'two-assignments',
  notProcessed: 'not-processed',
  highWatermark: 'high-watermark',
  epochsBackwards: 'epochs-backwards',
  unreadableLog: 'unreadable-log',
  clientError: 'client-error',
  /** A promise rejected with nobody to handle it: it would kill the node (or client) process. */
  unhandledRejection: 'unhandled-rejection',
  liveness: 'liveness',
} as const
export type AnomalyKind = (typeof AnomalyKind)[keyof typeof AnomalyKind]

/** The order kinds are listed in a result line (safety first, liveness last). */
const KIND_ORDER: readonly AnomalyKind[] = Object.values(AnomalyKind)

export interface Anomaly {
  readonly kind: AnomalyKind
  readonly atMs: number
  readonly detail: string
  /** The records involved, as `topic/partition@offset=value` (or just a value when its offset is unknown). */
  readonly records: readonly string[]
}

/** The broker and group checkers' rules, by name, as anomaly kinds. */
const RULE_KINDS: Readonly<Record<string, AnomalyKind>> = {
  'acknowledged write lost': AnomalyKind.lostWrite,
  'acknowledged write readable': AnomalyKind.lostWrite,
  'offsets never reused': AnomalyKind.inconsistentOffsets,
  'committed prefixes identical': AnomalyKind.divergentPrefix,
  'contiguous offsets': AnomalyKind.offsetsNotContiguous,
  'committed prefix complete': AnomalyKind.offsetsNotContiguous,
  'epochs grow along a log': AnomalyKind.epochsBackwards,
  'election safety': AnomalyKind.twoLeaders,
  'high watermark never decreases': AnomalyKind.highWatermark,
  'high watermark within the log': AnomalyKind.highWatermark,
  'committed log readable': AnomalyKind.unreadableLog,
  'one owner per partition per generation': AnomalyKind.twoOwners,
  'one assignment per member per generation': AnomalyKind.twoAssignments,
  'commits only by owners': AnomalyKind.commitByNonOwner,
  'committed offsets never move backwards': AnomalyKind.commitBackwards,
  'committed offsets durable': AnomalyKind.commitLost,
  'members read only committed records': AnomalyKind.inconsistentOffsets,
  'at-least-once: every record processed': AnomalyKind.notProcessed,
  'at-least-once: commit after processing': AnomalyKind.notProcessed,
  'client error': AnomalyKind.clientError,
  'member failed': AnomalyKind.clientError,
  liveness: AnomalyKind.liveness,
}

/** What the end of a run looked like, after healing. */
export interface FullFinalState {
  readonly atMs: number
  /** Replica statuses and committed reads, and `clientReads`: each workload partition's whole log read through a client (the final log). */
  readonly broker: FinalState
  /** The consumer group's end, if the run had one. */
  readonly group?: {
    readonly partitions: readonly PartitionRef[]
    readonly committed: OffsetsRead | undefined
    readonly settled: boolean
  }
}

/** Records listed per anomaly, at most (the count is in the detail). */
const RECORDS_LISTED_MAX = 8

export class FullChecker {
  readonly broker = new BrokerChecker()
  readonly group: GroupChecker
  /** Found by the run itself (client errors, liveness), in the order noted. */
  private readonly noted: Anomaly[] = []
  /** Values written by non-idempotent producers that the final logs hold more than once. */
  duplicatesAllowed = 0

  constructor(
    readonly history: History,
    options: { cooperative: boolean } = { cooperative: false },
  ) {
    this.group = new GroupChecker(options)
  }

  observeStatus(atMs: number, replica: ReplicaRef, status: StatusSample): void {
    this.broker.observeStatus(atMs, replica, status)
  }

  observeCommitted(read: CommittedRead): void {
    this.broker.observeCommitted(read)
  }

  note(kind: AnomalyKind, atMs: number, detail: string, records: readonly string[] = []): void {
    this.noted.push({ kind, atMs, detail, records })
  }

  /** Judges the whole run; the anomalies, sorted by time. */
  check(final: FullFinalState): Anomaly[] {
    // Acknowledgements are judged here (acks=1 ones may be lost), so the broker checker gets none.
    this.broker.checkConverged([], final.broker)
    const anomalies: Anomaly[] = [...this.noted, ...this.broker.violations.map(fromViolation)]
    if (final.group !== undefined) {
      this.feedGroup(this.history.ops)
      const logs = final.broker.clientReads
      anomalies.push(...this.group.check({ atMs: final.atMs, partitions: final.group.partitions, logs, committed: final.group.committed, settled: final.group.settled }).map(fromViolation))
    }
    const logs = finalLogs(final.broker.clientReads)
    const own = new HistoryJudge(this.history.ops, logs, final.atMs)
    anomalies.push(...own.judge())
    this.duplicatesAllowed = own.duplicatesAllowed
    return dedupe(anomalies).sort((a, b) => a.atMs - b.atMs)
  }

  private feedGroup(ops: readonly Op[]): void {
    for (const op of ops) {
      if (op.type === 'sync') this.group.observeSync(op)
      else if (op.type === 'commit') this.group.observeCommit(op.commit)
      else if (op.type === 'offsets') this.group.observeRead(op.read)
      else if (op.type === 'process') this.group.observeProcessed(op)
    }
  }
}

/** `result=` of a run's line: `ok`, or each kind found with its count (`lost-write:2,unseen:1`). */
export function summarizeAnomalies(anomalies: readonly Anomaly[]): string {
  if (anomalies.length === 0) return 'ok'
  const counts = new Map<AnomalyKind, number>()
  for (const anomaly of anomalies) counts.set(anomaly.kind, (counts.get(anomaly.kind) ?? 0) + 1)
  return KIND_ORDER.filter((kind) => counts.has(kind)).map((kind) => `${kind}:${counts.get(kind)}`).join(',')
}

export function formatAnomaly(anomaly: Anomaly): string {
  const records = anomaly.records.length === 0 ? '' : ` records: ${anomaly.records.join(' ')}`
  return `${anomaly.kind} at ${anomaly.atMs.toFixed(1)} ms: ${anomaly.detail}${records}`
}

function fromViolation(violation: Violation): Anomaly {
  const kind = RULE_KINDS[violation.rule] ?? AnomalyKind.clientError
  const detail = RULE_KINDS[violation.rule] === undefined ? `${violation.rule}: ${violation.detail}` : violation.detail
  return { kind, atMs: violation.atMs, detail, records: [] }
}

function dedupe(anomalies: readonly Anomaly[]): Anomaly[] {
  const seen = new Set<string>()
  return anomalies.filter((anomaly) => {
    const key = `${anomaly.kind}|${anomaly.detail}`
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
}

/** One partition's final log: offset -> value of each data record, and the data offsets sorted. */
interface FinalLog {
  readonly values: ReadonlyMap<number, string>
  readonly offsets: readonly number[]
}

function finalLogs(reads: ReadonlyMap<string, readonly BatchView[] | undefined>): Map<string, FinalLog> {
  const out = new Map<string, FinalLog>()
  for (const [key, batches] of reads) {
    if (batches === undefined) continue
    const values = dataValues(batches)
    out.set(key, { values, offsets: [...values.keys()].sort((a, b) => a - b) })
  }
  return out
}

/** Data offsets of `log` strictly between `after` and `before`. */
function offsetsBetween(log: FinalLog, after: number, before: number): number[] {
  const out: number[] = []
  let low = 0
  let high = log.offsets.length
  while (low < high) {
    const middle = (low + high) >> 1
    if ((log.offsets[middle] as number) <= after) low = middle + 1
    else high = middle
  }
  for (let i = low; i < log.offsets.length && (log.offsets[i] as number) < before; i++) out.push(log.offsets[i] as number)
  return out
}

function listed(items: readonly string[]): string[] {
  return items.length <= RECORDS_LISTED_MAX ? [...items] : [...items.slice(0, RECORDS_LISTED_MAX), `...(${items.length - RECORDS_LISTED_MAX} more)`]
}

/** Where each offset's value was seen first, for `inconsistent-offsets`. */
interface Claim {
  readonly value: string
  readonly source: string
}

/** The checks over the produce, assign and poll history and the final logs. */
class HistoryJudge {
  readonly anomalies: Anomaly[] = []
  duplicatesAllowed = 0
  private readonly claims = new Map<string, Claim>()
  /** Values some consumer was handed (polled, or processed by a group member). */
  private readonly seen = new Set<string>()
  /** value -> the produce that sent it. */
  private readonly writers = new Map<string, ProduceOp>()
  /** Partition key -> the values of its final log (built on first use). */
  private readonly logValues = new Map<string, Set<string>>()

  constructor(
    private readonly ops: readonly Op[],
    private readonly logs: ReadonlyMap<string, FinalLog>,
    private readonly endMs: number,
  ) {}

  judge(): Anomaly[] {
    for (const op of this.ops) if (op.type === 'produce') for (const value of op.values) this.writers.set(value, op)
    for (const [key, log] of this.logs) for (const [offset, value] of log.values) this.claim(key, offset, value, 'the final log', this.endMs)
    this.checkAcknowledged()
    this.checkFinalLogs()
    this.checkPolls()
    this.checkUnseen()
    return this.anomalies
  }

  private fail(kind: AnomalyKind, atMs: number, detail: string, records: readonly string[]): void {
    this.anomalies.push({ kind, atMs, detail, records: listed(records) })
  }

  /** Records `value` at `key@offset` from `source`; a different value there already is an inconsistency. */
  private claim(key: string, offset: number, value: string, source: string, atMs: number): void {
    const at = `${key}@${offset}`
    const existing = this.claims.get(at)
    if (existing === undefined) {
      this.claims.set(at, { value, source })
      return
    }
    if (existing.value === value) return
    this.fail(AnomalyKind.inconsistentOffsets, atMs, `${at} is ${value} in ${source} but ${existing.value} in ${existing.source}`, [`${at}=${existing.value}`, `${at}=${value}`])
  }

  /** acks=all acknowledgements: at their offsets at the end, and no offset acknowledged for two values. */
  private checkAcknowledged(): void {
    const acknowledgedAt = new Map<string, { value: string; op: ProduceOp }>()
    for (const op of this.ops) {
      if (op.type !== 'produce' || op.outcome !== Outcome.ok || op.acks !== 'all') continue
      const key = partitionKey(op.topic, op.partition)
      const offsets = op.offsets ?? []
      const atMs = op.completedAtMs ?? this.endMs
      if (offsets.length !== op.values.length) {
        this.fail(AnomalyKind.clientError, atMs, `${op.client}'s send of ${op.values.length} values to ${key} was acknowledged with ${offsets.length} offsets`, [...op.values])
        continue
      }
      const log = this.logs.get(key)
      const lost: string[] = []
      op.values.forEach((value, i) => {
        const offset = offsets[i] as number
        if (offset < 0) {
          // Acknowledged with its offset unknown (an idempotent retry answered as a duplicate
          // after its batch left the broker's window, as Kafka's DUPLICATE_SEQUENCE_NUMBER): it
          // must be in the log somewhere.
          if (log !== undefined && !this.inLog(key, value)) lost.push(`${key}@?=${value} (not in the final log)`)
          return
        }
        const at = `${key}@${offset}`
        const other = acknowledgedAt.get(at)
        if (other !== undefined && other.value !== value) {
          this.fail(AnomalyKind.inconsistentOffsets, atMs, `${at} was acknowledged to ${other.op.client} for ${other.value} at ${(other.op.completedAtMs ?? 0).toFixed(1)} ms and to ${op.client} for ${value}`, [`${at}=${other.value}`, `${at}=${value}`])
        }
        acknowledgedAt.set(at, { value, op })
        // Unreadable logs are a liveness failure the broker checker reports.
        if (log === undefined) return
        const found = log.values.get(offset)
        if (found === undefined) this.claim(key, offset, value, `the acknowledgement to ${op.client}`, atMs)
        if (found !== value) lost.push(`${at}=${value} (final log: ${found ?? 'nothing'})`)
      })
      if (lost.length > 0) {
        this.fail(AnomalyKind.lostWrite, atMs, `${op.client} had [${op.values.join(',')}] acknowledged (acks=all${op.idempotent ? ', idempotent' : ''}) at ${key} [${offsets.join(',')}]; the final log does not have them there`, lost)
      }
    }
  }

  /** Whether the final log of partition `key` holds `value` at any offset. */
  private inLog(key: string, value: string): boolean {
    let values = this.logValues.get(key)
    if (values === undefined) {
      values = new Set(this.logs.get(key)?.values.values() ?? [])
      this.logValues.set(key, values)
    }
    return values.has(value)
  }

  /** Each final log: a value at two offsets (duplicate), a value nobody wrote (phantom). */
  private checkFinalLogs(): void {
    for (const [key, log] of this.logs) {
      const offsetsOf = new Map<string, number[]>()
      for (const offset of log.offsets) {
        const value = log.values.get(offset) as string
        const list = offsetsOf.get(value) ?? []
        list.push(offset)
        offsetsOf.set(value, list)
      }
      const phantoms: string[] = []
      for (const [value, offsets] of offsetsOf) {
        const writer = this.writers.get(value)
        if (writer === undefined) {
          phantoms.push(...offsets.map((offset) => `${key}@${offset}=${value}`))
          continue
        }
        if (offsets.length < 2) continue
        if (!writer.idempotent) {
          this.duplicatesAllowed += offsets.length - 1
          continue
        }
        this.fail(AnomalyKind.duplicate, this.endMs, `${key}: ${writer.client} (idempotent) sent ${value} once, the final log has it ${offsets.length} times`, offsets.map((offset) => `${key}@${offset}=${value}`))
      }
      if (phantoms.length > 0) this.fail(AnomalyKind.phantom, this.endMs, `${key}: ${phantoms.length} records of the final log were written by no client`, phantoms)
    }
  }

  /** Per consumer session and partition: handed offsets grow, and skip no record of the final log. */
  private checkPolls(): void {
    /** session -> partition key -> offset of the last record handed over (start - 1 before the first). */
    const positions = new Map<string, Map<string, number>>()
    for (const op of this.ops) {
      if (op.type === 'process') this.seen.add(op.value)
      if (op.type === 'assign') {
        const byKey = new Map<string, number>()
        for (const p of op.partitions) byKey.set(partitionKey(p.topic, p.partition), p.offset - 1)
        positions.set(op.session, byKey)
        continue
      }
      if (op.type !== 'poll') continue
      const key = partitionKey(op.topic, op.partition)
      const byKey = positions.get(op.session) ?? new Map<string, number>()
      positions.set(op.session, byKey)
      let previous = byKey.get(key)
      const log = this.logs.get(key)
      for (const record of op.records) {
        this.seen.add(record.value)
        this.claim(key, record.offset, record.value, `a poll by ${op.session} at ${op.atMs.toFixed(1)} ms`, op.atMs)
        if (previous !== undefined && record.offset <= previous) {
          this.fail(AnomalyKind.nonMonotonicPoll, op.atMs, `${op.session} was handed ${key}@${record.offset} after ${key}@${previous}`, [`${key}@${previous}`, `${key}@${record.offset}=${record.value}`])
        } else if (log !== undefined && previous !== undefined) {
          const skipped = offsetsBetween(log, previous, record.offset)
          if (skipped.length > 0) {
            this.fail(AnomalyKind.pollSkip, op.atMs, `${op.session} was handed ${key}@${record.offset} right after ${key}@${previous}, skipping ${skipped.length} records of the final log`, skipped.map((offset) => `${key}@${offset}=${log.values.get(offset)}`))
          }
        }
        previous = Math.max(previous ?? record.offset, record.offset)
      }
      if (previous !== undefined) byKey.set(key, previous)
    }
  }

  /** Acknowledged records no consumer was handed by the end, per partition. */
  private checkUnseen(): void {
    const unseen = new Map<string, string[]>()
    for (const op of this.ops) {
      if (op.type !== 'produce' || op.outcome !== Outcome.ok) continue
      const key = partitionKey(op.topic, op.partition)
      const log = this.logs.get(key)
      op.values.forEach((value, i) => {
        if (this.seen.has(value)) return
        // An acks=1 record lost with its leader is not owed to anyone.
        if (op.acks !== 'all' && (log === undefined || !this.inLog(key, value))) return
        const list = unseen.get(key) ?? []
        list.push(`${key}@${(op.offsets ?? [])[i] ?? '?'}=${value}`)
        unseen.set(key, list)
      })
    }
    for (const [key, records] of unseen) {
      this.fail(AnomalyKind.unseen, this.endMs, `${key}: ${records.length} acknowledged records were never handed to any consumer`, records)
    }
  }
}
