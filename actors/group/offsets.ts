import { ErrorCode, SkeinError } from '../../src/wire/errors.js'
import type { TopicPartition } from '../../src/client/assignors.js'
import type { GroupSnapshot } from './group-core.js'
import { parseVersioned, versioned } from '../../src/log/versioned-json.js'

/**
 * The records of the internal offsets topic (as Kafka's __consumer_offsets) and the offset
 * table rebuilt from them: committed offsets, each group's membership as of its latest
 * generation, and the marker a coordinator appends when it takes over its partition.
 *
 * Committed offsets of consumer groups: the records the coordinator writes to its partition of
 * the internal offsets topic, and the table it rebuilds from
 * them when it takes over a group. Pure: the coordinator actor appends the records (acks=all)
 * and answers a commit only once they are committed, so an acknowledged commit survives the
 * coordinator's node dying; a new coordinator replays the partition through `apply`.
 *
 * Record key:   [KEY_VERSION, 'offset', group, topic, partition] as UTF-8 JSON after one version byte
 * Record value: { offset, metadata, commitTimestampMs } as UTF-8 JSON after one version byte,
 *               or null: a tombstone (the offset is deleted, e.g. with its topic)
 *
 * Group records: key [KEY_VERSION, 'group', group], value the GroupSnapshot as JSON, written
 * when a generation's assignment is settled (before any member hears it), so a coordinator
 * taking over resumes the generation the members hold.
 * Load markers: key [KEY_VERSION, 'load', node], value null; ignored when replayed.
 *
 * Transactional offsets (txn-offsets.ts): key [KEY_VERSION, 'txnoffset', group, producerId],
 * value { producerEpoch, offsets: [{ topic, partition, offset, metadata }] }, the offsets one
 * txnOffsetCommit added to the producer's open transaction; key [KEY_VERSION, 'txnend', group,
 * producerId], value { producerEpoch, commit }, written when the transaction ends. A commit's
 * end record shares one batch with the offset records that make its offsets take effect, so
 * a replay sees both or neither.
 *
 * The latest record for a key wins, so compaction (later) may keep only that one, except
 * txnoffset records: they add up until their txnend, so compaction must keep every txnoffset
 * record later than the key's last txnend.
 */

export interface CommittedOffset {
  /** The next offset the group will read (Kafka's convention: last processed + 1). */
  readonly offset: number
  /** Free text the application attached to the commit (Kafka's offset metadata). */
  readonly metadata: string
  readonly commitTimestampMs: number
}

export interface OffsetCommit extends TopicPartition {
  readonly offset: number
  readonly metadata?: string
}

export interface OffsetRecord {
  readonly key: Uint8Array
  readonly value: Uint8Array | null
}

/** Longest offset metadata string accepted (Kafka's offset.metadata.max.bytes default is 4096). */
export const OFFSET_METADATA_CHARS_MAX = 4096

const KEY_VERSION = 0
const VALUE_VERSION = 0

export function offsetRecord(group: string, commit: OffsetCommit, commitTimestampMs: number): OffsetRecord {
  const value: CommittedOffset = { offset: commit.offset, metadata: commit.metadata ?? '', commitTimestampMs }
  return { key: keyBytes(group, commit.topic, commit.partition), value: versioned(VALUE_VERSION, JSON.stringify(value)) }
}

export function offsetTombstone(group: string, tp: TopicPartition): OffsetRecord {
  return { key: keyBytes(group, tp.topic, tp.partition), value: null }
}

export function groupRecord(group: string, snapshot: GroupSnapshot): OffsetRecord {
  return { key: versioned(KEY_VERSION, JSON.stringify(['group', group])), value: versioned(VALUE_VERSION, JSON.stringify(snapshot)) }
}

/** What a coordinator appends (acks=all) before replaying its partition: once it commits, everything before it has. */
export function loadMarkerRecord(nodeId: string): OffsetRecord {
  return { key: versioned(KEY_VERSION, JSON.stringify(['load', nodeId])), value: null }
}

/** Offsets committed in producer `producerId`'s open transaction (invisible until it commits). */
export function txnOffsetRecord(group: string, producerId: number, producerEpoch: number, offsets: readonly OffsetCommit[]): OffsetRecord {
  const value = { producerEpoch, offsets: offsets.map(({ topic, partition, offset, metadata }) => ({ topic, partition, offset, metadata: metadata ?? '' })) }
  return { key: versioned(KEY_VERSION, JSON.stringify(['txnoffset', group, producerId])), value: versioned(VALUE_VERSION, JSON.stringify(value)) }
}

/** The end of producer `producerId`'s transaction in `group`: its txnoffset records before this are settled. */
export function txnEndRecord(group: string, producerId: number, producerEpoch: number, commit: boolean): OffsetRecord {
  return { key: versioned(KEY_VERSION, JSON.stringify(['txnend', group, producerId])), value: versioned(VALUE_VERSION, JSON.stringify({ producerEpoch, commit })) }
}

export type DecodedOffsetsRecord =
  | { readonly kind: 'offset'; readonly record: OffsetRecord }
  | { readonly kind: 'group'; readonly group: string; readonly snapshot: GroupSnapshot }
  | { readonly kind: 'load' }
  | { readonly kind: 'txnOffset'; readonly group: string; readonly producerId: number; readonly producerEpoch: number; readonly offsets: readonly OffsetCommit[] }
  | { readonly kind: 'txnEnd'; readonly group: string; readonly producerId: number; readonly producerEpoch: number; readonly commit: boolean }

/** Sorts a record of the offsets topic by kind (offset records are decoded by OffsetTable.apply). Throws CORRUPT_MESSAGE. */
export function decodeOffsetsRecord(record: OffsetRecord): DecodedOffsetsRecord {
  const key = parseVersioned(record.key, KEY_VERSION, 'offset record key')
  if (!Array.isArray(key)) throw corrupt('offsets topic record key is not an array')
  if (key[0] === 'offset') return { kind: 'offset', record }
  if (key[0] === 'load') return { kind: 'load' }
  if (key[0] === 'txnoffset' || key[0] === 'txnend') return decodeTxnRecord(key, record.value)
  if (key[0] !== 'group' || key.length !== 2 || typeof key[1] !== 'string') throw corrupt(`offsets topic record key ${JSON.stringify(key).slice(0, 100)} is of no known kind`)
  if (record.value === null) throw corrupt('group record without a value')
  const snapshot = parseVersioned(record.value, VALUE_VERSION, 'offset record value') as GroupSnapshot
  if (typeof snapshot !== 'object' || snapshot === null || !Number.isSafeInteger(snapshot.generation) || !Array.isArray(snapshot.members)) throw corrupt('group record value is not a group snapshot')
  return { kind: 'group', group: key[1], snapshot }
}

function decodeTxnRecord(key: unknown[], valueBytes: Uint8Array | null): DecodedOffsetsRecord {
  const [kind, group, producerId] = key
  if (key.length !== 3 || typeof group !== 'string' || !Number.isSafeInteger(producerId) || (producerId as number) < 0) throw corrupt(`${String(kind)} record key has bad fields`)
  if (valueBytes === null) throw corrupt(`${String(kind)} record without a value`)
  const value = parseVersioned(valueBytes, VALUE_VERSION, `${String(kind)} record value`) as { producerEpoch?: unknown; offsets?: unknown; commit?: unknown } | null
  if (typeof value !== 'object' || value === null || !Number.isInteger(value.producerEpoch) || (value.producerEpoch as number) < 0) throw corrupt(`${String(kind)} record value has no producer epoch`)
  const producerEpoch = value.producerEpoch as number
  if (kind === 'txnend') {
    if (typeof value.commit !== 'boolean') throw corrupt('txnend record value has no commit flag')
    return { kind: 'txnEnd', group, producerId: producerId as number, producerEpoch, commit: value.commit }
  }
  const offsets = value.offsets as OffsetCommit[]
  if (!Array.isArray(offsets) || offsets.length === 0 || checkOffsetCommits(offsets) !== undefined) throw corrupt('txnoffset record value has bad offsets')
  return { kind: 'txnOffset', group, producerId: producerId as number, producerEpoch, offsets }
}

/**
 * Checks a commit before anything is written: offsets are non-negative safe integers, metadata
 * bounded, partitions named once. INVALID_REQUEST otherwise.
 */
export function checkOffsetCommits(commits: readonly OffsetCommit[]): SkeinError | undefined {
  const seen = new Set<string>()
  for (const commit of commits) {
    const where = `${String(commit.topic)}/${String(commit.partition)}`
    if (typeof commit.topic !== 'string' || commit.topic.length === 0 || !Number.isSafeInteger(commit.partition) || commit.partition < 0) return invalid(`commit for ${where}: not a topic partition`)
    if (!Number.isSafeInteger(commit.offset) || commit.offset < 0) return invalid(`commit for ${where}: offset must be a non-negative integer, got ${String(commit.offset)}`)
    if (commit.metadata !== undefined && (typeof commit.metadata !== 'string' || commit.metadata.length > OFFSET_METADATA_CHARS_MAX)) return invalid(`commit for ${where}: metadata must be a string of at most ${OFFSET_METADATA_CHARS_MAX} characters`)
    if (seen.has(where)) return invalid(`commit names ${where} twice`)
    seen.add(where)
  }
  return undefined
}

/** Every group's committed offsets, as the records of one offsets partition say. */
export class OffsetTable {
  /** Group -> 'topic/partition' -> its latest commit. */
  private readonly groups = new Map<string, Map<string, CommittedOffset & TopicPartition>>()

  /** Applies one record of the offsets partition, in log order. Throws CORRUPT_MESSAGE for bytes that are not an offset record. */
  apply(record: OffsetRecord): void {
    const { group, topic, partition } = decodeKey(record.key)
    const key = `${topic}/${partition}`
    if (record.value === null) {
      const offsets = this.groups.get(group)
      offsets?.delete(key)
      if (offsets?.size === 0) this.groups.delete(group)
      return
    }
    const committed = { topic, partition, ...decodeValue(record.value) }
    let offsets = this.groups.get(group)
    if (offsets === undefined) {
      offsets = new Map()
      this.groups.set(group, offsets)
    }
    offsets.set(key, committed)
  }

  /** The group's committed offset of each partition asked for (all it has when none are named); partitions without one are left out. */
  fetch(group: string, partitions?: readonly TopicPartition[]): Map<string, CommittedOffset & TopicPartition> {
    const offsets = this.groups.get(group)
    const found = new Map<string, CommittedOffset & TopicPartition>()
    if (offsets === undefined) return found
    const keys = partitions === undefined ? [...offsets.keys()] : partitions.map((tp) => `${tp.topic}/${tp.partition}`)
    for (const key of keys) {
      const committed = offsets.get(key)
      if (committed !== undefined) found.set(key, committed)
    }
    return found
  }

  /** Tombstones for every offset of `topic`, in every group (the topic was deleted). */
  tombstonesForTopic(topic: string): OffsetRecord[] {
    const records: OffsetRecord[] = []
    for (const [group, offsets] of this.groups) {
      for (const committed of offsets.values()) if (committed.topic === topic) records.push(offsetTombstone(group, committed))
    }
    return records
  }

  /** Every topic some group has an offset for. */
  topics(): Set<string> {
    const topics = new Set<string>()
    for (const offsets of this.groups.values()) for (const committed of offsets.values()) topics.add(committed.topic)
    return topics
  }

  groupIds(): string[] {
    return [...this.groups.keys()].sort()
  }
}

function keyBytes(group: string, topic: string, partition: number): Uint8Array {
  return versioned(KEY_VERSION, JSON.stringify(['offset', group, topic, partition]))
}


function decodeKey(bytes: Uint8Array): { group: string; topic: string; partition: number } {
  const parsed = parseVersioned(bytes, KEY_VERSION, 'offset record key')
  if (!Array.isArray(parsed) || parsed.length !== 4 || parsed[0] !== 'offset') throw corrupt('offset record key is not [\'offset\', group, topic, partition]')
  const [, group, topic, partition] = parsed as unknown[]
  if (typeof group !== 'string' || typeof topic !== 'string' || !Number.isSafeInteger(partition) || (partition as number) < 0) throw corrupt('offset record key has bad fields')
  return { group, topic, partition: partition as number }
}

function decodeValue(bytes: Uint8Array): CommittedOffset {
  const parsed = parseVersioned(bytes, VALUE_VERSION, 'offset record value') as Partial<CommittedOffset> | null
  if (typeof parsed !== 'object' || parsed === null) throw corrupt('offset record value is not an object')
  const { offset, metadata, commitTimestampMs } = parsed
  if (!Number.isSafeInteger(offset) || (offset as number) < 0 || typeof metadata !== 'string' || !Number.isSafeInteger(commitTimestampMs)) throw corrupt('offset record value has bad fields')
  return { offset: offset as number, metadata, commitTimestampMs: commitTimestampMs as number }
}


function corrupt(message: string): SkeinError {
  return new SkeinError(ErrorCode.CORRUPT_MESSAGE, message)
}

function invalid(message: string): SkeinError {
  return new SkeinError(ErrorCode.INVALID_REQUEST, message)
}
