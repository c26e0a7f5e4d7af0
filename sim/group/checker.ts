/**
 * The consumer-group history checker: it sees what the group's members were told (every sync
 * answer: generation and assignment; every commit the coordinator acknowledged), what they
 * processed (each record handed to the application), what readers of the committed offsets
 * were answered (fetchOffsets, during the run and after healing), the producer's acknowledged
 * writes, and the partitions' committed logs read back after healing. It never looks inside
 * a coordinator. Everything is judged at the end (`check`) over the whole history, each
 * violation stamped with the virtual time it became visible at.
 *
 * What it holds a run to (DESIGN.md's contract for consumer groups, and at-least-once):
 * - one owner per partition per generation: no two members' sync answers for one generation
 *   name the same partition, and a member's answers for one generation agree;
 * - commits only by owners: an acknowledged commit names a generation whose sync answer gave
 *   the committing member each partition it commits;
 * - committed offsets never move backwards: no commit of a lower offset is acknowledged after
 *   (issued after the acknowledgement of) a higher one for the same partition;
 * - committed offsets are durable: every read of the committed offsets issued after a commit
 *   was acknowledged answers at least its offset (unless a lower commit acknowledged since
 *   explains it, which the rule above reports), and only offsets some member committed;
 * - acknowledged writes survive: each is in its partition's committed log at the end, at the
 *   offset it was acknowledged at, with its value;
 * - members read only committed records: what a member processed at an offset is what the
 *   committed log has there;
 * - at-least-once: every record of the committed logs (the acknowledged ones and any other)
 *   was processed by some member by the end, and an acknowledged commit of offset O was issued
 *   only after every record below O had been processed;
 * - after healing (`FinalGroupState.settled`), the group committed up to the end of every log.
 */
import { type AckedWrite, type BatchView, type Violation, formatViolation, partitionKey } from '../broker/checker.js'

export { formatViolation, type AckedWrite, type BatchView, type Violation }

export interface PartitionRef {
  readonly topic: string
  readonly partition: number
}

/** A sync answer a member got: its partitions in `generation`. */
export interface SyncObservation {
  readonly atMs: number
  /** The workload's name for the member (its host and start count), for reports. */
  readonly member: string
  readonly memberId: string
  readonly generation: number
  readonly assignment: readonly PartitionRef[]
}

/** One commitOffsets call a member made, and what became of it. */
export interface CommitObservation {
  readonly member: string
  readonly memberId: string
  readonly generation: number
  readonly offsets: readonly (PartitionRef & { readonly offset: number })[]
  readonly issuedAtMs: number
  /** When the coordinator's acknowledgement arrived; undefined while in flight, and for good if the call failed or never ended. */
  ackedAtMs: number | undefined
}

/** A fetchOffsets answer: partition key -> committed offset (absent: none). */
export interface OffsetsRead {
  readonly issuedAtMs: number
  readonly answeredAtMs: number
  readonly offsets: ReadonlyMap<string, number>
}

/** A record a member's application processed. */
export interface ProcessedRecord {
  readonly atMs: number
  readonly member: string
  readonly topic: string
  readonly partition: number
  readonly offset: number
  readonly value: string
}

/** After healing. */
export interface FinalGroupState {
  readonly atMs: number
  /** Every partition the group consumes. */
  readonly partitions: readonly PartitionRef[]
  /** Each partition's committed log read back through a client from offset 0; undefined if that failed. */
  readonly logs: ReadonlyMap<string, readonly BatchView[] | undefined>
  /** The committed offsets read last, after the group settled (also observed as a read); undefined if that read failed. */
  readonly committed: OffsetsRead | undefined
  /** True if the run reached a settled group (all processed, all committed) within its bound; false adds no violation here (the run reports liveness). */
  readonly settled: boolean
}

interface Owner {
  readonly member: string
  readonly memberId: string
  readonly atMs: number
}

export interface GroupCheckerOptions {
  /**
   * The group rebalances cooperatively (cooperative-sticky): a member may then also commit, in
   * generation G, the partitions its previous sync answer gave it and G's took away (it gives
   * them up after G's sync, committing first; G gives them to nobody meanwhile).
   */
  readonly cooperative: boolean
}

export class GroupChecker {
  readonly violations: Violation[] = []
  readonly syncs: SyncObservation[] = []
  readonly commits: CommitObservation[] = []
  readonly reads: OffsetsRead[] = []
  readonly acked: AckedWrite[] = []
  private readonly processed = new Map<string, Map<number, ProcessedRecord[]>>()
  private processedCount = 0
  private readonly violationKeys = new Set<string>()

  constructor(private readonly options: GroupCheckerOptions = { cooperative: false }) {}

  get processedRecords(): number {
    return this.processedCount
  }

  observeSync(sync: SyncObservation): void {
    this.syncs.push(sync)
  }

  observeCommit(commit: CommitObservation): void {
    this.commits.push(commit)
  }

  observeRead(read: OffsetsRead): void {
    this.reads.push(read)
  }

  observeAcked(write: AckedWrite): void {
    this.acked.push(write)
  }

  observeProcessed(record: ProcessedRecord): void {
    const key = partitionKey(record.topic, record.partition)
    let byOffset = this.processed.get(key)
    if (byOffset === undefined) {
      byOffset = new Map()
      this.processed.set(key, byOffset)
    }
    const seen = byOffset.get(record.offset)
    if (seen === undefined) byOffset.set(record.offset, [record])
    else seen.push(record)
    this.processedCount++
  }

  /** True if some member processed the record at `offset` of partition `key`. */
  wasProcessed(key: string, offset: number): boolean {
    return this.processed.get(key)?.has(offset) === true
  }

  /** Records processed more than once (at-least-once allows it; the count shows how much). */
  get duplicates(): number {
    let count = 0
    for (const byOffset of this.processed.values()) for (const seen of byOffset.values()) count += seen.length - 1
    return count
  }

  /** Judges the whole history; returns the violations, sorted by time. */
  check(final: FinalGroupState): Violation[] {
    this.checkOwnership()
    this.checkCommitsByOwners()
    this.checkCommitsMonotonic()
    this.checkReads()
    this.checkAckedWrites(final)
    this.checkProcessedCommitted(final)
    this.checkAtLeastOnce(final)
    this.violations.sort((a, b) => a.atMs - b.atMs)
    return this.violations
  }

  // ---- ownership ----

  private checkOwnership(): void {
    const owners = new Map<number, Map<string, Owner>>()
    const answers = new Map<string, SyncObservation>()
    for (const sync of [...this.syncs].sort((a, b) => a.atMs - b.atMs)) {
      const answerKey = `${sync.memberId}@${sync.generation}`
      const previous = answers.get(answerKey)
      if (previous !== undefined && describeAssignment(previous.assignment) !== describeAssignment(sync.assignment)) {
        this.fail(sync.atMs, 'one assignment per member per generation', `${sync.member} (${sync.memberId}) was given ${describeAssignment(previous.assignment)} in generation ${sync.generation} at ${fmtMs(previous.atMs)} and ${describeAssignment(sync.assignment)} at ${fmtMs(sync.atMs)}`)
      }
      answers.set(answerKey, sync)
      let byPartition = owners.get(sync.generation)
      if (byPartition === undefined) {
        byPartition = new Map()
        owners.set(sync.generation, byPartition)
      }
      for (const tp of sync.assignment) {
        const key = partitionKey(tp.topic, tp.partition)
        const owner = byPartition.get(key)
        if (owner !== undefined && owner.memberId !== sync.memberId) {
          const between = this.syncs.find((other) => other.generation > sync.generation && other.atMs > owner.atMs && other.atMs < sync.atMs)
          const reused = between === undefined ? '' : ` (the generation number was reused: ${between.member} was answered for generation ${between.generation} at ${fmtMs(between.atMs)}, in between)`
          this.fail(sync.atMs, 'one owner per partition per generation', `generation ${sync.generation} gave ${key} to ${sync.member} (${sync.memberId}) at ${fmtMs(sync.atMs)} and to ${owner.member} (${owner.memberId}) at ${fmtMs(owner.atMs)}${reused}`)
        }
        if (owner === undefined) byPartition.set(key, { member: sync.member, memberId: sync.memberId, atMs: sync.atMs })
      }
    }
  }

  private checkCommitsByOwners(): void {
    /** memberId -> generation -> the partitions its sync answer for that generation gave it. */
    const answers = new Map<string, Map<number, Set<string>>>()
    for (const sync of this.syncs) {
      const byGeneration = answers.get(sync.memberId) ?? new Map<number, Set<string>>()
      answers.set(sync.memberId, byGeneration)
      const set = byGeneration.get(sync.generation) ?? new Set<string>()
      for (const tp of sync.assignment) set.add(partitionKey(tp.topic, tp.partition))
      byGeneration.set(sync.generation, set)
    }
    for (const commit of this.commits) {
      if (commit.ackedAtMs === undefined) continue
      const byGeneration = answers.get(commit.memberId)
      const owned = new Set(byGeneration?.get(commit.generation) ?? [])
      if (this.options.cooperative && byGeneration !== undefined) {
        const previous = Math.max(-1, ...[...byGeneration.keys()].filter((generation) => generation < commit.generation))
        for (const key of byGeneration.get(previous) ?? []) owned.add(key)
      }
      for (const entry of commit.offsets) {
        const key = partitionKey(entry.topic, entry.partition)
        if (owned.has(key)) continue
        const what = byGeneration?.has(commit.generation) === true ? `it got [${[...(byGeneration.get(commit.generation) ?? [])].join(',')}]` : 'none seen'
        this.fail(commit.ackedAtMs, 'commits only by owners', `${commit.member} (${commit.memberId}) had a commit of ${key}@${entry.offset} in generation ${commit.generation} acknowledged, but no sync answer of that generation${this.options.cooperative ? ' (or its previous one)' : ''} gave it ${key} (${what})`)
      }
    }
  }

  // ---- committed offsets ----

  /** Acknowledged commits of one partition, in the order they were issued. */
  private ackedCommitsByPartition(): Map<string, { offset: number; commit: CommitObservation }[]> {
    const out = new Map<string, { offset: number; commit: CommitObservation }[]>()
    for (const commit of this.commits) {
      if (commit.ackedAtMs === undefined) continue
      for (const entry of commit.offsets) {
        const key = partitionKey(entry.topic, entry.partition)
        const list = out.get(key) ?? []
        list.push({ offset: entry.offset, commit })
        out.set(key, list)
      }
    }
    for (const list of out.values()) list.sort((a, b) => a.commit.issuedAtMs - b.commit.issuedAtMs)
    return out
  }

  private checkCommitsMonotonic(): void {
    for (const [key, list] of this.ackedCommitsByPartition()) {
      for (const later of list) {
        // The highest offset acknowledged before this commit was issued.
        let highest: { offset: number; commit: CommitObservation } | undefined
        for (const earlier of list) {
          if ((earlier.commit.ackedAtMs as number) < later.commit.issuedAtMs && (highest === undefined || earlier.offset > highest.offset)) highest = earlier
        }
        if (highest !== undefined && later.offset < highest.offset) {
          this.fail(later.commit.ackedAtMs as number, 'committed offsets never move backwards', `${key}: ${later.commit.member} committed ${later.offset} (generation ${later.commit.generation}, issued ${fmtMs(later.commit.issuedAtMs)}, acknowledged ${fmtMs(later.commit.ackedAtMs as number)}) after ${highest.commit.member} had ${highest.offset} acknowledged (generation ${highest.commit.generation}, at ${fmtMs(highest.commit.ackedAtMs as number)})`)
        }
      }
    }
  }

  private checkReads(): void {
    const acked = this.ackedCommitsByPartition()
    const issued = new Map<string, { offset: number; atMs: number }[]>()
    for (const commit of this.commits) {
      for (const entry of commit.offsets) {
        const key = partitionKey(entry.topic, entry.partition)
        const list = issued.get(key) ?? []
        list.push({ offset: entry.offset, atMs: commit.issuedAtMs })
        issued.set(key, list)
      }
    }
    for (const read of this.reads) {
      for (const [key, list] of acked) this.checkReadOf(read, key, list)
      for (const [key, offset] of read.offsets) {
        if ((issued.get(key) ?? []).some((entry) => entry.offset === offset && entry.atMs <= read.answeredAtMs)) continue
        this.fail(read.answeredAtMs, 'committed offsets durable', `a read of the committed offsets (issued ${fmtMs(read.issuedAtMs)}) answered ${key}@${offset}, which no member had committed`)
      }
    }
  }

  /** A read issued after a commit of `key` was acknowledged answers at least its offset, unless a lower commit acknowledged since explains it. */
  private checkReadOf(read: OffsetsRead, key: string, list: readonly { offset: number; commit: CommitObservation }[]): void {
    const value = read.offsets.get(key)
    for (const { offset, commit } of list) {
      const ackedAtMs = commit.ackedAtMs as number
      if (ackedAtMs > read.issuedAtMs || (value !== undefined && value >= offset)) continue
      const explained = list.some((other) => other.offset < offset && other.commit.issuedAtMs > ackedAtMs && other.commit.issuedAtMs < read.answeredAtMs)
      if (explained) continue
      this.fail(read.answeredAtMs, 'committed offsets durable', `${key}: ${commit.member} had ${offset} acknowledged at ${fmtMs(ackedAtMs)} (generation ${commit.generation}), but a read issued at ${fmtMs(read.issuedAtMs)} answered ${value === undefined ? 'no offset' : value}`)
      return // one shortfall per read and partition is enough
    }
  }

  // ---- records ----

  private checkAckedWrites(final: FinalGroupState): void {
    for (const write of this.acked) {
      const key = partitionKey(write.topic, write.partition)
      const log = final.logs.get(key)
      if (log === undefined) continue // reported by checkAtLeastOnce
      const found = valuesIn(log, write.baseOffset, write.lastOffset)
      if (found?.join(',') !== write.values.join(',')) {
        this.fail(final.atMs, 'acknowledged write lost', `${key} [${write.baseOffset}..${write.lastOffset}] (acknowledged at ${fmtMs(write.atMs)}): expected [${write.values.join(',')}], the committed log has [${found?.join(',') ?? 'nothing'}]`)
      }
    }
  }

  private checkProcessedCommitted(final: FinalGroupState): void {
    for (const [key, byOffset] of this.processed) {
      const log = final.logs.get(key)
      if (log === undefined) continue
      const values = dataValues(log)
      for (const [offset, seen] of byOffset) {
        const expected = values.get(offset)
        for (const record of seen) {
          if (record.value === expected) continue
          this.fail(record.atMs, 'members read only committed records', `${record.member} processed ${key}@${offset} = ${record.value}, but the committed log has ${expected ?? 'no record'} there`)
          break
        }
      }
    }
  }

  private checkAtLeastOnce(final: FinalGroupState): void {
    const acked = new Set(this.acked.flatMap((write) => write.values))
    const commits = this.ackedCommitsByPartition()
    for (const { topic, partition } of final.partitions) {
      const key = partitionKey(topic, partition)
      const log = final.logs.get(key)
      if (log === undefined) {
        this.fail(final.atMs, 'liveness', `${key}: its committed log could not be read after healing`)
        continue
      }
      const values = dataValues(log)
      const byOffset = this.processed.get(key) ?? new Map<number, ProcessedRecord[]>()
      const missing = [...values].filter(([offset]) => byOffset.get(offset) === undefined)
      if (missing.length > 0) {
        const ackedMissing = missing.filter(([, value]) => acked.has(value)).length
        const sample = missing.slice(0, 4).map(([offset, value]) => `${offset}=${value}${acked.has(value) ? '(acked)' : ''}`).join(', ')
        this.fail(final.atMs, 'at-least-once: every record processed', `${key}: ${missing.length} records of the committed log (${ackedMissing} of them acknowledged) were never processed by any member, e.g. ${sample}`)
      }
      this.checkCommitsCoverProcessed(key, values, byOffset, commits.get(key) ?? [])
      if (final.settled) this.checkCommittedToEnd(final, key, values)
    }
  }

  /** An acknowledged commit of O was issued only after every record below O had been processed by someone. */
  private checkCommitsCoverProcessed(key: string, values: ReadonlyMap<number, string>, byOffset: ReadonlyMap<number, readonly ProcessedRecord[]>, commits: readonly { offset: number; commit: CommitObservation }[]): void {
    const offsets = [...values.keys()].sort((a, b) => a - b)
    // readyAtMs[i]: when every record up to offsets[i] had been processed at least once (Infinity: not all were).
    const readyAtMs: number[] = []
    let ready = Number.NEGATIVE_INFINITY
    for (const offset of offsets) {
      const first = Math.min(Number.POSITIVE_INFINITY, ...(byOffset.get(offset) ?? []).map((record) => record.atMs))
      ready = Math.max(ready, first)
      readyAtMs.push(ready)
    }
    for (const { offset, commit } of commits) {
      const below = countBelow(offsets, offset)
      if (below === 0 || (readyAtMs[below - 1] as number) <= commit.issuedAtMs) continue
      const culprit = offsets.slice(0, below).find((recordOffset) => !((byOffset.get(recordOffset) ?? []).some((record) => record.atMs <= commit.issuedAtMs))) as number
      const seen = byOffset.get(culprit)
      const when = seen === undefined ? 'never processed' : `first processed at ${fmtMs(Math.min(...seen.map((record) => record.atMs)))}`
      this.fail(commit.ackedAtMs as number, 'at-least-once: commit after processing', `${key}: ${commit.member} committed ${offset} at ${fmtMs(commit.issuedAtMs)} (generation ${commit.generation}) but ${key}@${culprit} = ${values.get(culprit)} was ${when}`)
    }
  }

  /** After the group settled: the last committed offsets read reach past the last record of every log. */
  private checkCommittedToEnd(final: FinalGroupState, key: string, values: ReadonlyMap<number, string>): void {
    const last = Math.max(-1, ...values.keys())
    if (last < 0) return
    const committed = final.committed?.offsets.get(key)
    if (committed === undefined || committed <= last) {
      this.fail(final.atMs, 'liveness', `${key}: the group settled but its committed offset is ${committed ?? 'none'}, short of the log's last record at ${last}`)
    }
  }

  private fail(atMs: number, rule: string, detail: string): void {
    const key = `${rule}|${detail}`
    if (this.violationKeys.has(key)) return
    this.violationKeys.add(key)
    this.violations.push({ atMs, rule, detail })
  }
}

/** Offset -> value of every data record of a committed log. */
export function dataValues(log: readonly BatchView[]): Map<number, string> {
  const values = new Map<number, string>()
  for (const batch of log) {
    if (batch.isControl) continue
    batch.values.forEach((value, i) => values.set(batch.baseOffset + i, value))
  }
  return values
}

/** How many of the sorted `offsets` are below `offset`. */
function countBelow(offsets: readonly number[], offset: number): number {
  let low = 0
  let high = offsets.length
  while (low < high) {
    const middle = (low + high) >> 1
    if ((offsets[middle] as number) < offset) low = middle + 1
    else high = middle
  }
  return low
}

function valuesIn(log: readonly BatchView[], baseOffset: number, lastOffset: number): string[] | undefined {
  const values = dataValues(log)
  const out: string[] = []
  for (let offset = baseOffset; offset <= lastOffset; offset++) {
    const value = values.get(offset)
    if (value === undefined) return undefined
    out.push(value)
  }
  return out
}

function describeAssignment(assignment: readonly PartitionRef[]): string {
  return `[${assignment.map((tp) => partitionKey(tp.topic, tp.partition)).sort().join(',')}]`
}

function fmtMs(ms: number): string {
  return `${ms.toFixed(1)} ms`
}
