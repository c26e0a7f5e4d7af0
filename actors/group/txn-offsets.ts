import type { TopicPartition } from '../../src/client/assignors.js'
import { ErrorCode, SkeinError } from '../../src/wire/errors.js'
import { PRODUCER_EPOCH_MAX, TRANSACTIONAL_ID_CHARS_MAX } from '../txn/txn-log.js'
import type { OffsetCommit } from './offsets.js'

/**
 * Offsets committed inside open transactions (Kafka's pending transactional offset commits,
 * KIP-98/447): per group, per producer id, the offsets its transaction will make take effect
 * if it commits. Pure: the coordinator appends the txnoffset/txnend records (offsets.ts) and
 * changes this table only once they are committed, and a new coordinator rebuilds it by
 * replaying them in log order. While a producer has offsets pending for a partition, reads of
 * that partition's committed offset are refused (UNSTABLE_OFFSET_COMMIT) so a consumer taking
 * the partition over does not start behind a transaction about to commit.
 */

/**
 * Producers (per group: a producer committing for two groups counts twice) with offsets
 * pending at one coordinator. Each holds memory until its transaction ends, which its
 * transaction coordinator drives; beyond this a new one is refused with OVERLOADED.
 */
export const TXN_PENDING_PRODUCERS_MAX = 10_000
/** Partitions one producer may have pending in one group (a transaction touching more is refused, INVALID_REQUEST). */
export const TXN_PENDING_OFFSETS_PER_PRODUCER_MAX = 10_000

export interface PendingTxnOffsets {
  /** The highest producer epoch that committed offsets here; a lower one is fenced. */
  readonly producerEpoch: number
  /** 'topic/partition' -> the offset the transaction commits (a later commit in it overwrites). */
  readonly offsets: ReadonlyMap<string, OffsetCommit>
}

/** The producer fields of a txnOffsetCommit, checked. */
export interface TxnProducer {
  readonly transactionalId: string
  readonly producerId: number
  readonly producerEpoch: number
}

/** INVALID_REQUEST unless the id is 1..TRANSACTIONAL_ID_CHARS_MAX characters, the producer id a non-negative safe integer and the epoch 0..PRODUCER_EPOCH_MAX. */
export function checkTxnProducer(request: { readonly transactionalId?: unknown; readonly producerId?: unknown; readonly producerEpoch?: unknown }): SkeinError | undefined {
  const { transactionalId, producerId, producerEpoch } = request
  if (typeof transactionalId !== 'string' || transactionalId.length === 0 || transactionalId.length > TRANSACTIONAL_ID_CHARS_MAX) {
    return invalid(`transactionalId must be 1 to ${TRANSACTIONAL_ID_CHARS_MAX} characters, got ${JSON.stringify(transactionalId)?.slice(0, 80)}`)
  }
  return checkProducerIdAndEpoch(producerId, producerEpoch)
}

/** INVALID_REQUEST unless the producer id is a non-negative safe integer and the epoch 0..PRODUCER_EPOCH_MAX. */
export function checkProducerIdAndEpoch(producerId: unknown, producerEpoch: unknown): SkeinError | undefined {
  if (!Number.isSafeInteger(producerId) || (producerId as number) < 0) return invalid(`producerId must be a non-negative integer, got ${String(producerId)}`)
  if (!Number.isInteger(producerEpoch) || (producerEpoch as number) < 0 || (producerEpoch as number) > PRODUCER_EPOCH_MAX) {
    return invalid(`producerEpoch must be 0 to ${PRODUCER_EPOCH_MAX}, got ${String(producerEpoch)}`)
  }
  return undefined
}

export class TxnPendingOffsets {
  /** Group -> producer id -> what its open transaction commits there. */
  private readonly groups = new Map<string, Map<number, { producerEpoch: number; offsets: Map<string, OffsetCommit> }>>()
  private producerCount = 0

  /** Pending (group, producer) pairs over every group: what TXN_PENDING_PRODUCERS_MAX bounds. */
  get size(): number {
    return this.producerCount
  }

  get(group: string, producerId: number): PendingTxnOffsets | undefined {
    return this.groups.get(group)?.get(producerId)
  }

  /**
   * Why a commit of `offsets` by this producer may not be taken now, or undefined: a pending
   * entry of a higher epoch (PRODUCER_FENCED), too many producers (OVERLOADED) or too many
   * partitions for one (INVALID_REQUEST). Checked before anything is written.
   */
  refusal(group: string, producerId: number, producerEpoch: number, offsets: readonly OffsetCommit[]): SkeinError | undefined {
    const pending = this.groups.get(group)?.get(producerId)
    if (pending === undefined) {
      if (this.producerCount >= TXN_PENDING_PRODUCERS_MAX) return new SkeinError(ErrorCode.OVERLOADED, `${this.producerCount} producers already have transactional offsets pending here (at most ${TXN_PENDING_PRODUCERS_MAX})`)
      return offsets.length > TXN_PENDING_OFFSETS_PER_PRODUCER_MAX ? tooMany(offsets.length) : undefined
    }
    if (pending.producerEpoch > producerEpoch) {
      return new SkeinError(ErrorCode.PRODUCER_FENCED, `producer ${producerId} epoch ${producerEpoch} is fenced: epoch ${pending.producerEpoch} has offsets pending in group '${group}'`)
    }
    const added = offsets.filter((commit) => !pending.offsets.has(partitionKey(commit))).length
    return pending.offsets.size + added > TXN_PENDING_OFFSETS_PER_PRODUCER_MAX ? tooMany(pending.offsets.size + added) : undefined
  }

  /**
   * Adds a committed txnoffset record's offsets, in log order: a partition already pending is
   * overwritten, and the entry takes the higher epoch (Kafka merges the same way; the
   * transaction coordinator ends a producer's transaction before its next epoch begins one).
   */
  add(group: string, producerId: number, producerEpoch: number, offsets: readonly OffsetCommit[]): void {
    let producers = this.groups.get(group)
    if (producers === undefined) {
      producers = new Map()
      this.groups.set(group, producers)
    }
    let pending = producers.get(producerId)
    if (pending === undefined) {
      pending = { producerEpoch, offsets: new Map() }
      producers.set(producerId, pending)
      this.producerCount++
    }
    pending.producerEpoch = Math.max(pending.producerEpoch, producerEpoch)
    for (const commit of offsets) pending.offsets.set(partitionKey(commit), commit)
  }

  /** Drops the producer's pending offsets in the group (its transaction ended; a committed end record says so). */
  end(group: string, producerId: number): void {
    const producers = this.groups.get(group)
    if (producers === undefined || !producers.delete(producerId)) return
    this.producerCount--
    if (producers.size === 0) this.groups.delete(group)
    if (this.producerCount < 0) throw new Error(`invariant: pending producer count went negative (${this.producerCount})`)
  }

  /** The partitions (of `partitions`, or any when undefined) some open transaction has offsets pending for in the group. */
  unstable(group: string, partitions: readonly TopicPartition[] | undefined): string[] {
    const producers = this.groups.get(group)
    if (producers === undefined) return []
    const pending = new Set<string>()
    for (const entry of producers.values()) for (const key of entry.offsets.keys()) pending.add(key)
    const asked = partitions === undefined ? [...pending] : partitions.map(partitionKey).filter((key) => pending.has(key))
    return asked.sort()
  }

  hasGroup(group: string): boolean {
    return this.groups.has(group)
  }

  groupIds(): string[] {
    return [...this.groups.keys()].sort()
  }
}

function partitionKey(tp: TopicPartition): string {
  return `${tp.topic}/${tp.partition}`
}

function tooMany(count: number): SkeinError {
  return invalid(`a transaction may commit offsets of at most ${TXN_PENDING_OFFSETS_PER_PRODUCER_MAX} partitions per group, this one would have ${count}`)
}

function invalid(message: string): SkeinError {
  return new SkeinError(ErrorCode.INVALID_REQUEST, message)
}
