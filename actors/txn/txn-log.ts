import { strict as assert } from 'node:assert'
import { ErrorCode, SkeinError } from '../../src/wire/errors.js'
import { GROUP_ID_CHARS_MAX, PRODUCER_EPOCH_MAX, TRANSACTIONAL_ID_CHARS_MAX, TXN_GROUPS_MAX, TXN_PARTITIONS_MAX } from '../../src/wire/broker-protocol.js'
import type { TopicPartition } from '../../src/client/assignors.js'
import { TOPIC_NAME_LENGTH_MAX } from '../metadata/topic-name.js'
import { parseVersioned, versioned } from '../../src/log/versioned-json.js'

/**
 * The records of the internal transaction-state topic (Kafka's __transaction_state) and the
 * table rebuilt from them. Pure: the transaction coordinator appends the records (acks=all,
 * under the leader epoch it loaded in) and acts on one only once it is committed; a coordinator
 * taking over the partition replays it through `replayTxnLog` and resumes from the table.
 *
 * Record key:   [KEY_VERSION byte] UTF-8 JSON ['txn', transactionalId]
 * Record value: [VALUE_VERSION byte] UTF-8 JSON of the transaction's metadata (TxnMetadataJson),
 *               or null: a tombstone, the id expired (Kafka's Dead state is never stored)
 * Load markers: key [KEY_VERSION byte] ['load', nodeId], value null; ignored when replayed.
 *
 * Partitions are stored grouped by topic ([topic, [partition...]], Kafka's own layout) so a
 * transaction at TXN_PARTITIONS_MAX partitions of long-named topics stays far below a batch's
 * 1 MiB. The latest record for a key wins, so compaction (later) may keep only that one.
 * A version byte other than the one written is refused (CORRUPT_MESSAGE): a new field means a
 * new version, and an old node must not half-read it.
 */

/** Kafka's transaction states (their names, as DescribeTransactions reports them). */
export const TxnState = {
  Empty: 'Empty',
  Ongoing: 'Ongoing',
  PrepareCommit: 'PrepareCommit',
  PrepareAbort: 'PrepareAbort',
  CompleteCommit: 'CompleteCommit',
  CompleteAbort: 'CompleteAbort',
  /** Expired: only ever a tombstone on the log, never a stored value. */
  Dead: 'Dead',
} as const
export type TxnState = (typeof TxnState)[keyof typeof TxnState]

/** The states a record value may carry (Dead is the tombstone). */
export type StoredTxnState = Exclude<TxnState, 'Dead'>
const STORED_STATES: ReadonlySet<string> = new Set<StoredTxnState>(['Empty', 'Ongoing', 'PrepareCommit', 'PrepareAbort', 'CompleteCommit', 'CompleteAbort'])

// The limits are part of the protocol (clients check them too): src/wire/broker-protocol.ts.
export { PRODUCER_EPOCH_MAX, TRANSACTIONAL_ID_CHARS_MAX, TXN_GROUPS_MAX, TXN_PARTITIONS_MAX }

/** One transactional id's state, as its latest record says. */
export interface TxnMetadata {
  readonly producerId: number
  readonly producerEpoch: number
  /** The transaction timeout the producer asked for at initProducerId. */
  readonly timeoutMs: number
  readonly state: StoredTxnState
  /** Partitions written in the open transaction, sorted by topic then partition, each once. Empty unless Ongoing or Prepare*. */
  readonly partitions: readonly TopicPartition[]
  /** Consumer groups whose offsets the open transaction commits, sorted, each once. */
  readonly groups: readonly string[]
  /** When the open transaction began (its first addPartitions/addOffsets), or -1 when none has since the last init. */
  readonly txnStartMs: number
  /** When the metadata last changed (transactional-id expiry counts from here). */
  readonly updatedMs: number
}

export interface TxnRecord {
  readonly key: Uint8Array
  readonly value: Uint8Array | null
}

export type DecodedTxnRecord =
  | { readonly kind: 'txn'; readonly transactionalId: string; readonly metadata: TxnMetadata | null }
  | { readonly kind: 'load' }

const KEY_VERSION = 0
const VALUE_VERSION = 0

/** The stored value, version 0. */
interface TxnMetadataJson {
  producerId: number
  producerEpoch: number
  timeoutMs: number
  state: string
  /** [topic, partitions of that topic] pairs. */
  partitions: [string, number[]][]
  groups: string[]
  txnStartMs: number
  updatedMs: number
}

/** The record of `metadata`, which must be canonical (the coordinator only builds such; asserted). */
export function txnRecord(transactionalId: string, metadata: TxnMetadata): TxnRecord {
  assert.ok(transactionalId.length > 0 && transactionalId.length <= TRANSACTIONAL_ID_CHARS_MAX, `transactional id of ${transactionalId.length} characters`)
  assert.equal(metadataProblem(metadata), undefined, `transaction ${transactionalId}: metadata not storable`)
  const json: TxnMetadataJson = {
    producerId: metadata.producerId,
    producerEpoch: metadata.producerEpoch,
    timeoutMs: metadata.timeoutMs,
    state: metadata.state,
    partitions: groupByTopic(metadata.partitions),
    groups: [...metadata.groups],
    txnStartMs: metadata.txnStartMs,
    updatedMs: metadata.updatedMs,
  }
  return { key: txnKey(transactionalId), value: versioned(VALUE_VERSION, JSON.stringify(json)) }
}

/** The record that expires a transactional id (Kafka writes a tombstone when the id turns Dead). */
export function txnTombstone(transactionalId: string): TxnRecord {
  return { key: txnKey(transactionalId), value: null }
}

/** What a coordinator appends (acks=all) before replaying its partition: once it commits, everything before it has. */
export function txnLoadMarkerRecord(nodeId: string): TxnRecord {
  return { key: versioned(KEY_VERSION, JSON.stringify(['load', nodeId])), value: null }
}

/** Decodes one record of the transaction-state topic. Throws CORRUPT_MESSAGE for anything else. */
export function decodeTxnRecord(record: TxnRecord): DecodedTxnRecord {
  const key = parseVersioned(record.key, KEY_VERSION, 'transaction record key')
  if (!Array.isArray(key) || key.length !== 2 || typeof key[1] !== 'string') throw corrupt('transaction record key is not [kind, string]')
  if (key[0] === 'load') return { kind: 'load' }
  if (key[0] !== 'txn') throw corrupt(`transaction record key ${JSON.stringify(key).slice(0, 100)} is of no known kind`)
  const transactionalId = key[1]
  checkTransactionalId(transactionalId)
  if (record.value === null) return { kind: 'txn', transactionalId, metadata: null }
  const parsed = parseVersioned(record.value, VALUE_VERSION, 'transaction record value')
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw corrupt('transaction record value is not an object')
  return { kind: 'txn', transactionalId, metadata: checkMetadata(fromJson(parsed as Partial<TxnMetadataJson>)) }
}

/** Replays records in log order: each id's latest metadata; tombstoned ids are gone. Throws CORRUPT_MESSAGE. */
export function replayTxnLog(records: Iterable<TxnRecord>, table = new Map<string, TxnMetadata>()): Map<string, TxnMetadata> {
  for (const record of records) {
    const decoded = decodeTxnRecord(record)
    if (decoded.kind === 'load') continue
    if (decoded.metadata === null) table.delete(decoded.transactionalId)
    else table.set(decoded.transactionalId, decoded.metadata)
  }
  return table
}

/** Throws CORRUPT_MESSAGE unless `id` is a transactional id a coordinator would have accepted. */
function checkTransactionalId(id: string): void {
  if (id.length === 0 || id.length > TRANSACTIONAL_ID_CHARS_MAX) throw corrupt(`transactional id of ${id.length} characters in a transaction record`)
}

function txnKey(transactionalId: string): Uint8Array {
  return versioned(KEY_VERSION, JSON.stringify(['txn', transactionalId]))
}

function groupByTopic(partitions: readonly TopicPartition[]): [string, number[]][] {
  const byTopic = new Map<string, number[]>()
  for (const { topic, partition } of partitions) {
    const list = byTopic.get(topic)
    if (list === undefined) byTopic.set(topic, [partition])
    else list.push(partition)
  }
  return [...byTopic]
}

function fromJson(json: Partial<TxnMetadataJson>): TxnMetadata {
  if (!Array.isArray(json.partitions) || !Array.isArray(json.groups)) throw corrupt('transaction record value lacks partitions or groups')
  const partitions: TopicPartition[] = []
  for (const entry of json.partitions as unknown[]) {
    if (!Array.isArray(entry) || entry.length !== 2 || typeof entry[0] !== 'string' || !Array.isArray(entry[1])) throw corrupt('transaction record partitions are not [topic, [partition...]] pairs')
    for (const partition of entry[1] as unknown[]) partitions.push({ topic: entry[0], partition: partition as number })
  }
  return {
    producerId: json.producerId as number,
    producerEpoch: json.producerEpoch as number,
    timeoutMs: json.timeoutMs as number,
    state: json.state as StoredTxnState,
    partitions,
    groups: json.groups,
    txnStartMs: json.txnStartMs as number,
    updatedMs: json.updatedMs as number,
  }
}

/** Every field in range and the lists canonical (sorted, unique, within limits); throws CORRUPT_MESSAGE otherwise. */
function checkMetadata(m: TxnMetadata): TxnMetadata {
  const bad = metadataProblem(m)
  if (bad !== undefined) throw corrupt(`transaction record value: ${bad}`)
  return m
}

function metadataProblem(m: TxnMetadata): string | undefined {
  if (!Number.isSafeInteger(m.producerId) || m.producerId < 0) return 'producerId is not a non-negative integer'
  if (!Number.isInteger(m.producerEpoch) || m.producerEpoch < 0 || m.producerEpoch > PRODUCER_EPOCH_MAX) return 'producerEpoch is not an int16 >= 0'
  if (!Number.isSafeInteger(m.timeoutMs) || m.timeoutMs <= 0) return 'timeoutMs is not a positive integer'
  if (typeof m.state !== 'string' || !STORED_STATES.has(m.state)) return `state ${String(m.state).slice(0, 40)} is not a stored transaction state`
  if (!Number.isSafeInteger(m.txnStartMs) || m.txnStartMs < -1) return 'txnStartMs is not an integer >= -1'
  if (!Number.isSafeInteger(m.updatedMs)) return 'updatedMs is not an integer'
  if (m.partitions.length > TXN_PARTITIONS_MAX || m.groups.length > TXN_GROUPS_MAX) return 'too many partitions or groups'
  for (let i = 0; i < m.partitions.length; i++) {
    const tp = m.partitions[i] as TopicPartition
    if (tp.topic.length === 0 || tp.topic.length > TOPIC_NAME_LENGTH_MAX || !Number.isSafeInteger(tp.partition) || tp.partition < 0) return 'a partition is not a topic partition'
    if (i > 0 && compareTopicPartitions(m.partitions[i - 1] as TopicPartition, tp) >= 0) return 'partitions are not sorted and unique'
  }
  for (let i = 0; i < m.groups.length; i++) {
    const group = m.groups[i]
    if (typeof group !== 'string' || group.length === 0 || group.length > GROUP_ID_CHARS_MAX) return 'a group is not a group id'
    if (i > 0 && (m.groups[i - 1] as string) >= group) return 'groups are not sorted and unique'
  }
  const open = m.state === 'Ongoing' || m.state === 'PrepareCommit' || m.state === 'PrepareAbort'
  if (!open && (m.partitions.length > 0 || m.groups.length > 0)) return `${m.state} with partitions or groups`
  if (m.state === 'Ongoing' && m.txnStartMs < 0) return 'Ongoing without txnStartMs'
  return undefined
}

/** Orders partitions by topic, then partition number (the order TxnMetadata keeps them in). */
export function compareTopicPartitions(a: TopicPartition, b: TopicPartition): number {
  if (a.topic !== b.topic) return a.topic < b.topic ? -1 : 1
  return a.partition - b.partition
}



function corrupt(message: string): SkeinError {
  return new SkeinError(ErrorCode.CORRUPT_MESSAGE, message)
}
