/**
 * The broker history checker: it sees what a client was told (acknowledged produces) and what
 * the replicas showed when sampled (role, epoch, leader and high watermark, sampled often; the
 * committed prefix of every replica's log, read back now and then and at the end), and never
 * looks inside a Raft core. Every observation is checked against everything before it, so a
 * violation is reported with the virtual time it was first visible at.
 *
 * What it holds a run to (the contract in DESIGN.md):
 * - acknowledged writes survive: every record acknowledged with acks=all is, at the end, in
 *   the committed log of its partition at the offset it was acknowledged at, with its value,
 *   and no two acknowledgements name the same offset;
 * - one committed history per partition: a committed offset, once seen on any replica (or
 *   served to a consumer) at any time, is always covered by the same batch (same base and last
 *   offset, epoch, CRC and size) wherever and whenever it is seen again: replicas' committed
 *   prefixes are identical, consumers read only committed records, and offsets are never
 *   reused for something else;
 * - contiguity: a replica's committed prefix starts at its log start offset, has no gap
 *   and no overlap up to its high watermark, and its epochs never go back;
 * - election safety: at most one leader per (partition, epoch) across every sample, and the
 *   LeaderChange control record an epoch's leader writes names that same leader;
 * - a replica's high watermark never decreases within one process of its node;
 * - after healing (`checkConverged`): every partition has one leader that every replica
 *   follows, every replica has the whole committed log, and every acknowledged record reads
 *   back through the client.
 */

import { BatchAttribute, BatchField, checkBatch, readInt32, readUint32 } from '../../src/log/batch-header.js'
import { type DecodedRecord, decodeRecordBatch } from '../../src/log/record-batch.js'

/** One record batch as read from a replica's log, reduced to what the checker compares. */
export interface BatchView {
  readonly baseOffset: number
  readonly lastOffset: number
  readonly epoch: number
  readonly isControl: boolean
  /** The batch's stored CRC-32C and size: with base offset and epoch, what tells two batches apart. */
  readonly digest: string
  /** Record values as UTF-8 (data batches only; empty for control batches). */
  readonly values: readonly string[]
  /** For a LeaderChange control batch: the leader it names. */
  readonly leaderChange?: { readonly leader: string; readonly epoch: number }
}

/** One replica of one partition in one process of its node. */
export interface ReplicaRef {
  readonly topic: string
  readonly partition: number
  readonly node: string
  /** The node's process incarnation (1 at first start, +1 per restart). */
  readonly incarnation: number
  /** Which opening of the replica within that process (1 unless it was closed and opened again). */
  readonly instance?: number
}

export interface StatusSample {
  readonly role: string
  readonly epoch: number
  readonly leader: string | undefined
  readonly highWatermark: number
  readonly logEndOffset: number
  readonly logStartOffset: number
}

/** A produce the client saw acknowledged: `values[i]` is at `baseOffset + i`. */
export interface AckedWrite {
  readonly topic: string
  readonly partition: number
  readonly baseOffset: number
  readonly lastOffset: number
  readonly values: readonly string[]
  readonly atMs: number
}

export interface Violation {
  readonly atMs: number
  readonly rule: string
  readonly detail: string
}

/** The committed log of one replica as read at the end (or in a sample). */
export interface CommittedRead {
  readonly replica: ReplicaRef
  readonly atMs: number
  /** Where the read started (the replica's log start offset). */
  readonly fromOffset: number
  /** The replica's high watermark when the read started: the read must reach it. */
  readonly highWatermark: number
  readonly batches: readonly BatchView[]
}

/** What the end of a run looked like, after healing, for the liveness half of the checks. */
export interface FinalState {
  readonly atMs: number
  /** Every partition of every topic, with its replica set from the metadata. */
  readonly partitions: readonly { readonly topic: string; readonly partition: number; readonly replicas: readonly string[] }[]
  /** Status of every replica hosted anywhere, by node. */
  readonly statuses: readonly { readonly replica: ReplicaRef; readonly status: StatusSample }[]
  /** Each replica's whole committed log, read at the end. */
  readonly reads: readonly CommittedRead[]
  /** What the client fetched from each partition's leader, from offset 0 up to its high watermark; undefined if it failed. */
  readonly clientReads: ReadonlyMap<string, readonly BatchView[] | undefined>
}

const CONTROL_TYPE_LEADER_CHANGE = 2
const utf8 = new TextDecoder()

/**
 * Splits back-to-back batches into views, each CRC-checked; decodes the records of control
 * batches always and of data batches only `withValues` (the final reads need the values; the
 * periodic samples only compare batches). Throws on corrupt bytes (a violation in itself).
 */
export function batchViews(bytes: Uint8Array, options: { withValues: boolean } = { withValues: true }): BatchView[] {
  const views: BatchView[] = []
  for (let position = 0; position < bytes.length; ) {
    const info = checkBatch(bytes, position, { batchBytesMax: Number.MAX_SAFE_INTEGER })
    const isControl = (info.attributes & BatchAttribute.control) !== 0
    const epoch = readInt32(bytes, position + BatchField.partitionLeaderEpoch)
    // The CRC covers everything from the attributes on; with the base offset, epoch and size it pins the bytes.
    const digest = `${readUint32(bytes, position + BatchField.crc).toString(16).padStart(8, '0')}/${info.sizeBytes}`
    let leaderChange: BatchView['leaderChange']
    const values: string[] = []
    if (isControl || options.withValues) {
      const batch = decodeRecordBatch(bytes, position)
      if (isControl) leaderChange = leaderChangeOf(batch.records[0])
      else for (const record of batch.records) values.push(record.value === null ? '<null>' : utf8.decode(record.value))
    }
    views.push({
      baseOffset: info.baseOffset,
      lastOffset: info.baseOffset + info.lastOffsetDelta,
      epoch,
      isControl,
      digest,
      values,
      ...(leaderChange === undefined ? {} : { leaderChange }),
    })
    position += info.sizeBytes
  }
  return views
}

function leaderChangeOf(record: DecodedRecord | undefined): BatchView['leaderChange'] {
  const key = record?.key
  if (record === undefined || key === null || key === undefined || key.length < 4 || (((key[2] as number) << 8) | (key[3] as number)) !== CONTROL_TYPE_LEADER_CHANGE) return undefined
  try {
    const parsed = JSON.parse(utf8.decode(record.value ?? new Uint8Array(0))) as { leader?: unknown; epoch?: unknown }
    return typeof parsed.leader === 'string' && typeof parsed.epoch === 'number' ? { leader: parsed.leader, epoch: parsed.epoch } : undefined
  } catch {
    return undefined // not ours to judge here: the digest still pins the bytes
  }
}

export function partitionKey(topic: string, partition: number): string {
  return `${topic}/${partition}`
}

function replicaName(replica: ReplicaRef): string {
  const instance = replica.instance === undefined || replica.instance === 1 ? '' : `.${replica.instance}`
  return `${replica.topic}/${replica.partition}@${replica.node}#${replica.incarnation}${instance}`
}

function describeBatch(batch: BatchView): string {
  const what = batch.isControl ? (batch.leaderChange === undefined ? 'control' : `leaderChange(${batch.leaderChange.leader})`) : `[${batch.values.slice(0, 3).join(',')}${batch.values.length > 3 ? ',...' : ''}]`
  return `[${batch.baseOffset}..${batch.lastOffset}]e${batch.epoch} ${what} #${batch.digest}`
}

function sameBatch(a: BatchView, b: BatchView): boolean {
  return a.baseOffset === b.baseOffset && a.lastOffset === b.lastOffset && a.epoch === b.epoch && a.digest === b.digest
}

interface PartitionModel {
  /** base offset -> the committed batch there, as first seen. */
  readonly committed: Map<number, BatchView & { readonly seenAtMs: number; readonly seenOn: string }>
  /** offset -> base offset of the committed batch covering it (to catch overlaps). */
  readonly covering: Map<number, number>
  /** epoch -> (leader node, where it was seen). */
  readonly leaderOfEpoch: Map<number, { readonly node: string; readonly source: string; readonly atMs: number }>
  /** The largest offset known committed (one past the end of the longest committed prefix seen). */
  committedEnd: number
}

export class BrokerChecker {
  readonly violations: Violation[] = []
  private readonly partitions = new Map<string, PartitionModel>()
  /** replica (with incarnation) -> last high watermark seen. */
  private readonly highWatermarks = new Map<string, number>()
  private statusSamplesValue = 0
  private committedReadsValue = 0
  private readonly violationKeys = new Set<string>()

  get statusSamples(): number {
    return this.statusSamplesValue
  }
  get committedReads(): number {
    return this.committedReadsValue
  }

  /** One past the longest committed prefix seen for a partition. */
  committedEnd(topic: string, partition: number): number {
    return this.partitions.get(partitionKey(topic, partition))?.committedEnd ?? 0
  }

  /** A status sample of one replica (role, epoch, leader, high watermark). */
  observeStatus(atMs: number, replica: ReplicaRef, status: StatusSample): void {
    this.statusSamplesValue++
    const model = this.model(replica.topic, replica.partition)
    if (status.role === 'leader') this.claimLeader(model, replica, status.epoch, replica.node, `status of ${replicaName(replica)}`, atMs)
    const name = replicaName(replica)
    const previous = this.highWatermarks.get(name)
    if (previous !== undefined && status.highWatermark < previous) {
      this.fail(atMs, 'high watermark never decreases', `${name} (${status.role}, epoch ${status.epoch}) moved its high watermark from ${previous} back to ${status.highWatermark}`)
    }
    this.highWatermarks.set(name, Math.max(previous ?? 0, status.highWatermark))
    if (status.highWatermark > status.logEndOffset) {
      this.fail(atMs, 'high watermark within the log', `${name} (${status.role}, epoch ${status.epoch}) has high watermark ${status.highWatermark} past its log end ${status.logEndOffset}`)
    }
  }

  /** A replica's committed prefix, read from its log start offset up to (at least) its high watermark. */
  observeCommitted(read: CommittedRead): void {
    this.committedReadsValue++
    const { replica, atMs } = read
    const name = replicaName(replica)
    const model = this.model(replica.topic, replica.partition)
    let expected = read.fromOffset
    let lastEpoch = -1
    for (const batch of read.batches) {
      if (batch.baseOffset !== expected || batch.lastOffset < batch.baseOffset) {
        this.fail(atMs, 'contiguous offsets', `${name}'s committed log has ${describeBatch(batch)} where offset ${expected} was next`)
      }
      if (batch.epoch < lastEpoch) this.fail(atMs, 'epochs grow along a log', `${name}'s committed log has ${describeBatch(batch)} after a batch of epoch ${lastEpoch}`)
      lastEpoch = Math.max(lastEpoch, batch.epoch)
      expected = batch.lastOffset + 1
      this.commit(model, batch, name, atMs)
      if (batch.leaderChange !== undefined) {
        if (batch.leaderChange.epoch !== batch.epoch) {
          this.fail(atMs, 'election safety', `${name}: ${describeBatch(batch)} is a LeaderChange for epoch ${batch.leaderChange.epoch} stamped with epoch ${batch.epoch}`)
        }
        this.claimLeader(model, replica, batch.epoch, batch.leaderChange.leader, `LeaderChange at offset ${batch.baseOffset} on ${name}`, atMs)
      }
    }
    if (expected < read.highWatermark) {
      this.fail(atMs, 'committed prefix complete', `${name}'s committed log ends at ${expected} but its high watermark was ${read.highWatermark} (log start ${read.fromOffset})`)
    }
  }

  /**
   * Acknowledged writes against the final committed logs: no two acknowledgements share an
   * offset, and each value is at its offset in the longest committed log read at the end
   * (every other replica's committed prefix agrees with it, which observeCommitted checks).
   */
  checkAcked(acked: readonly AckedWrite[], final: FinalState): void {
    // Two acknowledgements never name the same offset: an offset is given out once.
    const ackedAt = new Map<string, AckedWrite>()
    for (const write of acked) {
      for (let offset = write.baseOffset; offset <= write.lastOffset; offset++) {
        const key = `${partitionKey(write.topic, write.partition)}@${offset}`
        const other = ackedAt.get(key)
        if (other !== undefined && other !== write) {
          this.fail(write.atMs, 'offsets never reused', `${partitionKey(write.topic, write.partition)} offset ${offset} was acknowledged for [${other.values.join(',')}] at ${other.atMs.toFixed(1)} ms and again for [${write.values.join(',')}] at ${write.atMs.toFixed(1)} ms`)
          break
        }
        ackedAt.set(key, write)
      }
    }
    const longest = new Map<string, CommittedRead>()
    for (const read of final.reads) {
      const key = partitionKey(read.replica.topic, read.replica.partition)
      const best = longest.get(key)
      const end = read.batches.at(-1)?.lastOffset ?? -1
      if (best === undefined || end > (best.batches.at(-1)?.lastOffset ?? -1)) longest.set(key, read)
    }
    for (const write of acked) {
      const key = partitionKey(write.topic, write.partition)
      const read = longest.get(key)
      const where = `${key} [${write.baseOffset}..${write.lastOffset}] (acknowledged at ${write.atMs.toFixed(1)} ms)`
      if (read === undefined) {
        this.fail(final.atMs, 'acknowledged write lost', `${where}: no replica of the partition could be read at the end`)
        continue
      }
      const found = valuesAt(read.batches, write.baseOffset, write.lastOffset)
      const expected = write.values.join(',')
      if (found === undefined) {
        this.fail(final.atMs, 'acknowledged write lost', `${where}: [${expected}] is past the end of the committed log (${(read.batches.at(-1)?.lastOffset ?? -1) + 1}, longest on ${read.replica.node})`)
      } else if (found.join(',') !== expected) {
        this.fail(final.atMs, 'acknowledged write lost', `${where}: expected [${expected}], the committed log on ${read.replica.node} has [${found.join(',')}]`)
      }
    }
  }

  /**
   * After healing: one leader per partition that every replica follows, at one epoch; every
   * replica's committed prefix reaches the leader's log end (identical, which the committed
   * reads checked); every acknowledged record reads back through the client.
   */
  checkConverged(acked: readonly AckedWrite[], final: FinalState): void {
    for (const read of final.reads) this.observeCommitted(read)
    for (const { topic, partition, replicas } of final.partitions) {
      const key = partitionKey(topic, partition)
      // Replicas moved away but not yet removed may linger; liveness is about the current set.
      const statuses = final.statuses.filter((entry) => entry.replica.topic === topic && entry.replica.partition === partition && replicas.includes(entry.replica.node))
      const leaders = statuses.filter((entry) => entry.status.role === 'leader')
      const describe = statuses.map((entry) => `${entry.replica.node}:${entry.status.role}/e${entry.status.epoch}/hw${entry.status.highWatermark}/leo${entry.status.logEndOffset}`).join(' ')
      const missing = replicas.filter((node) => !statuses.some((entry) => entry.replica.node === node))
      if (missing.length > 0) this.fail(final.atMs, 'liveness', `${key}: replicas on ${missing.join(',')} are not open after healing (${describe})`)
      if (leaders.length !== 1) {
        this.fail(final.atMs, 'liveness', `${key} has ${leaders.length} leaders after healing (${describe})`)
        continue
      }
      const leader = leaders[0] as (typeof leaders)[number]
      const behind = statuses.filter((entry) => entry.status.epoch !== leader.status.epoch || entry.status.leader !== leader.replica.node || entry.status.highWatermark !== leader.status.logEndOffset)
      if (behind.length > 0) this.fail(final.atMs, 'liveness', `${key}: replicas not caught up with leader ${leader.replica.node} after healing (${describe})`)
      const fetched = final.clientReads.get(key)
      if (fetched === undefined) {
        this.fail(final.atMs, 'liveness', `${key}: the client could not read the partition after healing`)
        continue
      }
      for (const write of acked) {
        if (write.topic !== topic || write.partition !== partition) continue
        const found = valuesAt(fetched, write.baseOffset, write.lastOffset)
        if (found?.join(',') !== write.values.join(',')) {
          this.fail(final.atMs, 'acknowledged write readable', `${key} [${write.baseOffset}..${write.lastOffset}]: the client read [${found?.join(',') ?? 'nothing'}], expected [${write.values.join(',')}]`)
        }
      }
      this.observeCommitted({ replica: { topic, partition, node: 'client-fetch', incarnation: 1 }, atMs: final.atMs, fromOffset: 0, highWatermark: leader.status.highWatermark, batches: fetched })
    }
    this.checkAcked(acked, final)
  }

  private commit(model: PartitionModel, batch: BatchView, seenOn: string, atMs: number): void {
    const existing = model.committed.get(batch.baseOffset)
    if (existing !== undefined) {
      if (!sameBatch(existing, batch)) {
        this.fail(atMs, 'committed prefixes identical', `${seenOn} has ${describeBatch(batch)} committed where ${existing.seenOn} had ${describeBatch(existing)} committed (at ${existing.seenAtMs.toFixed(1)} ms)`)
      }
      return
    }
    for (let offset = batch.baseOffset; offset <= batch.lastOffset; offset++) {
      const base = model.covering.get(offset)
      if (base !== undefined) {
        const other = model.committed.get(base)
        this.fail(atMs, 'committed prefixes identical', `${seenOn} has ${describeBatch(batch)} committed over offset ${offset}, which ${other?.seenOn ?? '?'} had committed in ${other === undefined ? '?' : describeBatch(other)}`)
        return
      }
    }
    model.committed.set(batch.baseOffset, { ...batch, seenAtMs: atMs, seenOn })
    for (let offset = batch.baseOffset; offset <= batch.lastOffset; offset++) model.covering.set(offset, batch.baseOffset)
    model.committedEnd = Math.max(model.committedEnd, batch.lastOffset + 1)
  }

  private claimLeader(model: PartitionModel, replica: ReplicaRef, epoch: number, node: string, source: string, atMs: number): void {
    const previous = model.leaderOfEpoch.get(epoch)
    if (previous === undefined) {
      model.leaderOfEpoch.set(epoch, { node, source, atMs })
      return
    }
    if (previous.node !== node) {
      this.fail(atMs, 'election safety', `${partitionKey(replica.topic, replica.partition)} epoch ${epoch}: ${source} names leader ${node}, but ${previous.source} named ${previous.node} (at ${previous.atMs.toFixed(1)} ms)`)
    }
  }

  private model(topic: string, partition: number): PartitionModel {
    const key = partitionKey(topic, partition)
    let model = this.partitions.get(key)
    if (model === undefined) {
      model = { committed: new Map(), covering: new Map(), leaderOfEpoch: new Map(), committedEnd: 0 }
      this.partitions.set(key, model)
    }
    return model
  }

  private fail(atMs: number, rule: string, detail: string): void {
    // The same fault seen in sample after sample is one violation.
    const key = `${rule}|${detail}`
    if (this.violationKeys.has(key)) return
    this.violationKeys.add(key)
    this.violations.push({ atMs, rule, detail })
  }
}

/** The values at offsets [base, last] of a committed log, or undefined if it does not cover them all. */
export function valuesAt(batches: readonly BatchView[], baseOffset: number, lastOffset: number): string[] | undefined {
  const values: string[] = []
  for (const batch of batches) {
    if (batch.lastOffset < baseOffset || batch.baseOffset > lastOffset) continue
    for (let offset = Math.max(baseOffset, batch.baseOffset); offset <= Math.min(lastOffset, batch.lastOffset); offset++) {
      values.push(batch.isControl ? '<control>' : (batch.values[offset - batch.baseOffset] ?? '<missing>'))
    }
  }
  return values.length === lastOffset - baseOffset + 1 ? values : undefined
}

export function formatViolation(violation: Violation): string {
  return `at ${violation.atMs.toFixed(1)} ms: ${violation.rule}: ${violation.detail}`
}
