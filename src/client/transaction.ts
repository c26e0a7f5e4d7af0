import { ErrorCode, type OffsetCommitEntry, SkeinError, type TopicPartitionRef, type TxnOffsetCommitRequest, TXN_PARTITIONS_MAX, type TxnProducerRef, errorSpecFor } from '../wire/index.js'
import type { ClientContext } from './client.js'
import { type CommitOffset, validateCommitOffset, validateGroupId } from './consumer.js'
import { ClientErrorReason, SkeinClientError, asSkeinError, invalidArgument } from './errors.js'
import type { GroupMetadata } from './group-member.js'
import type { ProducerRecord, RecordMetadata } from './producer.js'

/**
 * Transactions of a producer created with a `transactionalId` (Kafka's exactly-once):
 * records sent and consumer offsets committed in one transaction become visible together to
 * read_committed consumers, or not at all.
 *
 *   const producer = client.producer({ transactionalId: 'orders-enricher-0' })
 *   const tx = await producer.transaction()
 *   await tx.send({ topic: 'out', messages })
 *   await tx.sendOffsets({ consumerGroupId: 'enricher', offsets, consumer })
 *   await tx.commit()                      // or tx.abort()
 *
 * The first transaction (or initTransactions()) takes the id's producer id with a new epoch
 * from its transaction coordinator, which fences every older producer with the same id and
 * aborts what it left open. Before a partition's first batch in a transaction the partition
 * is added to it (txnAddPartitions; the partitions waiting are added in one request, one
 * request at a time); batches carry the transactional attribute, the producer id and epoch.
 * commit() sends every batch and waits for the answers, then asks the coordinator to commit;
 * abort() drops the batches not yet sent, waits for those in flight, then asks it to abort.
 *
 * Failures: any failure inside a transaction (a send, an add, an offset commit) leaves it
 * abortable only: commit() refuses (TXN_ABORT_REQUIRED), abort() works, and the next
 * transaction starts under a new epoch (sequences from 0), since a failed batch may or may
 * not have been appended. A fencing error (PRODUCER_FENCED, INVALID_PRODUCER_EPOCH,
 * INVALID_PRODUCER_ID_MAPPING) ends the producer: every later call fails with it.
 * A commit whose answer did not come (REQUEST_TIMED_OUT) may be retried with commit(); its
 * outcome is the coordinator's, so abort() is refused until a commit() succeeds.
 */
export interface TransactionalSettings {
  readonly transactionalId: string
  readonly transactionTimeoutMs: number
}

/** Where sendOffsets takes the group's member id and generation from: the group's Consumer. */
export interface GroupMetadataSource {
  groupMetadata(): GroupMetadata | undefined
  /** The offset after the last record delivered of a partition since it was (re)assigned or seeked; undefined if none (Consumer.deliveredPosition). */
  deliveredPosition?(tp: { topic: string; partition: number }): number | undefined
}

export interface SendOffsetsOptions {
  /** The group whose offsets these are (the consumer's groupId). */
  consumerGroupId: string
  /** The next offset to read of each partition (last processed + 1), as for consumer.commit(). */
  offsets: readonly CommitOffset[]
  /**
   * The group's consumer that read the records: its member id and generation go with the
   * commit, so a member that lost these partitions in a rebalance (a zombie) is refused
   * (KIP-447) instead of committing over the new owner.
   */
  consumer?: GroupMetadataSource
}

/** What the transaction manager needs of its producer: closures over the producer's own state. */
export interface TransactionalProducerPort {
  /** Throws PRODUCER_CLOSED / CLIENT_CLOSED. */
  assertOpen(): void
  /** The producer's send, queueing records as any send does. */
  sendRecords(record: ProducerRecord): Promise<RecordMetadata[]>
  /** Sends every buffered batch and waits for the answers. */
  flush(): Promise<void>
  /** Fails every batch not yet sent (open or waiting), once the sends queueing now have queued. */
  discardUnsent(error: Error): Promise<void>
  /** Partitions added to the transaction: their waiting batches may go. */
  drainPartitions(partitions: readonly TopicPartitionRef[]): void
  /** The producer id and epoch the batches carry. */
  identity(): { readonly producerId: number; readonly producerEpoch: number } | undefined
  /** Adopts a new producer id and epoch: every partition's sequence restarts at 0. Validates it. */
  setIdentity(identity: unknown): void
}

/**
 * Partitions added per txnAddPartitions request, at most; more wait for the next request.
 * The coordinator's own limit per request (also its limit per transaction).
 */
const ADD_PARTITIONS_PER_REQUEST_MAX = TXN_PARTITIONS_MAX

const FENCED_CODES: ReadonlySet<number> = new Set([ErrorCode.PRODUCER_FENCED.code, ErrorCode.INVALID_PRODUCER_EPOCH.code, ErrorCode.INVALID_PRODUCER_ID_MAPPING.code])

/**
 * open: sends, offsets, commit and abort allowed. committing / aborting: its end is under
 * way. commitUnknown: a commit was sent and not answered; only commit() again. abortable: a
 * failure; only abort(). done: committed or aborted.
 */
type TxnPhase = 'open' | 'committing' | 'commitUnknown' | 'aborting' | 'abortable' | 'done'

interface OpenTransaction {
  phase: TxnPhase
  /** The first failure, once there is one. */
  failure: SkeinError | undefined
  /** `topic/partition` of the partitions the coordinator has added. */
  readonly added: Set<string>
  /** Groups added with txnAddOffsets. */
  readonly groups: Set<string>
  /** Partitions whose batches wait for the next txnAddPartitions. */
  readonly pendingAdds: Map<string, TopicPartitionRef>
  addInFlight: boolean
  addScheduled: boolean
  /** Coordinator requests under way (adds, offset commits): ended before the transaction is. */
  readonly operations: Set<Promise<unknown>>
}

/** The transactional state of one producer: at most one open transaction, and the sticky fence. */
export class TransactionManager {
  private current: OpenTransaction | undefined
  private starting = false
  /** Set by a fencing error: the producer is over. */
  private fatal: SkeinClientError | undefined
  /** A producer id and epoch must be taken before the next transaction: at start, and after a failed one. */
  private needsInit = true
  private initializing: Promise<void> | undefined

  constructor(
    private readonly context: ClientContext,
    private readonly settings: TransactionalSettings,
    private readonly port: TransactionalProducerPort,
  ) {}

  get transactionalId(): string {
    return this.settings.transactionalId
  }

  /** Takes the id's producer id and a new epoch now (fencing older instances), if not done yet. */
  async initTransactions(): Promise<void> {
    this.assertUsable()
    if (!this.needsInit) return
    this.initializing ??= this.init().finally(() => (this.initializing = undefined))
    await this.initializing
  }

  async begin(): Promise<Transaction> {
    this.assertUsable()
    if (this.current !== undefined || this.starting) throw invalidTxnState('a transaction is open already: commit or abort it before starting another')
    this.starting = true
    try {
      await this.initTransactions()
      this.assertUsable()
    } finally {
      this.starting = false
    }
    const txn: OpenTransaction = { phase: 'open', failure: undefined, added: new Set(), groups: new Set(), pendingAdds: new Map(), addInFlight: false, addScheduled: false, operations: new Set() }
    this.current = txn
    return new Transaction(this, txn)
  }

  /** The error every call gets once the producer is fenced; undefined before. */
  fencedError(): SkeinClientError | undefined {
    return this.fatal
  }

  /** Throws the fence, or PRODUCER_CLOSED / CLIENT_CLOSED. */
  assertUsable(): void {
    if (this.fatal !== undefined) throw this.fatal
    this.port.assertOpen()
  }

  // ---- the producer's side ----

  /**
   * Whether a batch for this partition may be sent now: true once the partition is in the
   * open transaction. Otherwise the partition waits for the next txnAddPartitions, and its
   * batches are drained when that answers. A batch with no open transaction to go into (it
   * failed or ended) is failed, with the transaction's failure.
   */
  partitionReady(topic: string, partition: number): boolean {
    const txn = this.current
    if (this.fatal !== undefined || txn === undefined || (txn.phase !== 'open' && txn.phase !== 'committing')) {
      void this.port.discardUnsent(this.fatal ?? abortRequired(txn?.failure, 'the transaction is over or failing'))
      return false
    }
    const key = `${topic}/${partition}`
    if (txn.added.has(key)) return true
    txn.pendingAdds.set(key, { topic, partition })
    this.scheduleAdds(txn)
    return false
  }

  /** A batch of the open transaction failed. */
  batchFailed(error: Error): void {
    this.noteFailure(this.current, error)
  }

  // ---- the transaction's calls ----

  async send(txn: OpenTransaction, record: ProducerRecord): Promise<RecordMetadata[]> {
    this.assertCurrent(txn)
    if (txn.phase === 'abortable') throw abortRequired(txn.failure, 'send refused')
    if (txn.phase !== 'open') throw invalidTxnState(`the transaction is ${txn.phase}: send before commit() or abort()`)
    try {
      return await this.port.sendRecords(record)
    } catch (error) {
      // Even a refused argument: the application meant to write it, so committing without it is not exactly once.
      throw this.noteFailure(txn, error)
    }
  }

  async sendOffsets(txn: OpenTransaction, options: SendOffsetsOptions): Promise<void> {
    this.assertCurrent(txn)
    const request = validateSendOffsets(options)
    if (txn.phase === 'abortable') throw abortRequired(txn.failure, 'sendOffsets refused')
    if (txn.phase !== 'open') throw invalidTxnState(`the transaction is ${txn.phase}: sendOffsets before commit() or abort()`)
    const { groupId } = request
    const moved = options.consumer === undefined ? undefined : offsetsPastDelivered(options.consumer, request.offsets)
    if (moved !== undefined) throw this.noteFailure(txn, moved)
    const committing = (async () => {
      if (!txn.groups.has(groupId)) {
        await this.context.call(`txnAddOffsets '${groupId}'`, (broker) => broker.txnAddOffsets({ ...this.producerRef(), groupId }))
        txn.groups.add(groupId)
      }
      await this.context.call(`txnOffsetCommit '${groupId}'`, (broker) => broker.txnOffsetCommit({ ...this.producerRef(), ...request }))
    })()
    try {
      await this.track(txn, committing)
    } catch (error) {
      throw this.noteFailure(txn, error)
    }
  }

  async commit(txn: OpenTransaction): Promise<void> {
    this.assertCurrent(txn)
    if (txn.phase === 'abortable') throw abortRequired(txn.failure, 'commit refused')
    if (txn.phase !== 'open' && txn.phase !== 'commitUnknown') throw invalidTxnState(`the transaction is ${txn.phase}: commit() needs an open one`)
    txn.phase = 'committing'
    await this.port.flush()
    await Promise.allSettled([...txn.operations])
    if (this.fatal !== undefined) throw this.fatal
    if (txn.failure !== undefined) throw abortRequired(txn.failure, 'commit refused')
    try {
      await this.endTxn(txn, true)
    } catch (error) {
      const failure = asSkeinError(error)
      if (!FENCED_CODES.has(failure.code) && failure.retriable) txn.phase = 'commitUnknown'
      else this.noteFailure(txn, failure)
      throw this.fatal ?? failure
    }
    this.finish(txn)
  }

  async abort(txn: OpenTransaction): Promise<void> {
    this.assertCurrent(txn)
    if (txn.phase === 'commitUnknown') throw invalidTxnState('a commit was sent and its outcome is unknown: call commit() again, not abort()')
    if (txn.phase !== 'open' && txn.phase !== 'abortable') throw invalidTxnState(`the transaction is ${txn.phase}: abort() needs an open one`)
    await this.abortNow(txn)
  }

  /** Aborts the open transaction, if any, best effort: the producer is closing. */
  async close(): Promise<void> {
    const txn = this.current
    if (txn === undefined || this.fatal !== undefined) return
    if (txn.phase !== 'open' && txn.phase !== 'abortable') return
    await this.abortNow(txn).catch((error: unknown) => {
      this.context.env.log.warn({ transactionalId: this.settings.transactionalId, error: asSkeinError(error).message }, 'aborting the open transaction on close failed')
    })
  }

  // ---- internals ----

  private async init(): Promise<void> {
    const request = { transactionalId: this.settings.transactionalId, transactionTimeoutMs: this.settings.transactionTimeoutMs }
    try {
      const identity = await this.context.call(`txnInitProducerId '${request.transactionalId}'`, (broker) => broker.txnInitProducerId(request))
      this.port.setIdentity(identity)
      this.needsInit = false
    } catch (error) {
      throw this.noteFailure(undefined, error)
    }
  }

  private async abortNow(txn: OpenTransaction): Promise<void> {
    txn.phase = 'aborting'
    await this.port.discardUnsent(new SkeinClientError(ClientErrorReason.TXN_ABORTED, 'the transaction was aborted before this record was sent'))
    await this.port.flush()
    await Promise.allSettled([...txn.operations])
    if (this.fatal !== undefined) throw this.fatal
    try {
      await this.endTxn(txn, false)
    } catch (error) {
      txn.phase = 'abortable' // abort() may be called again
      throw this.noteFailure(txn, error)
    }
    // A failed batch may or may not have been appended: its partition's next sequence is
    // unknown, so the next transaction starts under a new epoch, sequences from 0.
    if (txn.failure !== undefined) this.needsInit = true
    this.finish(txn)
  }

  /** Ends the transaction at the coordinator; one that never added anything there is unknown to it, so nothing is sent. */
  private async endTxn(txn: OpenTransaction, commit: boolean): Promise<void> {
    if (txn.added.size === 0 && txn.groups.size === 0) return
    const request = { ...this.producerRef(), commit }
    await this.context.call(`txnEndTxn '${request.transactionalId}' ${commit ? 'commit' : 'abort'}`, (broker) => broker.txnEndTxn(request))
  }

  private finish(txn: OpenTransaction): void {
    txn.phase = 'done'
    if (this.current === txn) this.current = undefined
  }

  /** Sends the partitions waiting to be added in the next turn, so those closed together go in one request. */
  private scheduleAdds(txn: OpenTransaction): void {
    if (txn.addInFlight || txn.addScheduled || txn.pendingAdds.size === 0) return
    txn.addScheduled = true
    this.context.env.clock.defer(() => {
      txn.addScheduled = false
      this.sendAdds(txn)
    })
  }

  private sendAdds(txn: OpenTransaction): void {
    if (this.current !== txn || txn.addInFlight || (txn.phase !== 'open' && txn.phase !== 'committing')) return
    const partitions: TopicPartitionRef[] = []
    for (const [key, tp] of txn.pendingAdds) {
      if (partitions.length >= ADD_PARTITIONS_PER_REQUEST_MAX) break
      partitions.push(tp)
      txn.pendingAdds.delete(key)
    }
    if (partitions.length === 0) return
    txn.addInFlight = true
    const request = { ...this.producerRef(), partitions }
    const adding = this.context.call(`txnAddPartitions '${request.transactionalId}'`, (broker) => broker.txnAddPartitions(request)).then(
      () => {
        txn.addInFlight = false
        for (const { topic, partition } of partitions) txn.added.add(`${topic}/${partition}`)
        this.port.drainPartitions(partitions)
        this.scheduleAdds(txn)
      },
      (error: unknown) => {
        txn.addInFlight = false
        txn.pendingAdds.clear()
        this.noteFailure(txn, error) // fails the batches waiting for this add with the rest
      },
    )
    void this.track(txn, adding)
  }

  /** Runs `work` as one of the transaction's coordinator requests (waited for before it ends). */
  private track<T>(txn: OpenTransaction, work: Promise<T>): Promise<T> {
    txn.operations.add(work)
    const untrack = (): void => {
      txn.operations.delete(work)
    }
    work.then(untrack, untrack)
    return work
  }

  /**
   * Records a failure: a fencing error fences the producer for good; any other makes the
   * transaction abortable. Either way the batches not yet sent fail. Returns the error the
   * caller should throw.
   */
  private noteFailure(txn: OpenTransaction | undefined, error: unknown): SkeinError {
    const failure = asSkeinError(error)
    if (FENCED_CODES.has(failure.code)) {
      this.fatal ??= new SkeinClientError(ClientErrorReason.PRODUCER_FENCED, `transactional id '${this.settings.transactionalId}' was taken over by a newer producer: ${failure.message}`, { cause: failure, spec: errorSpecFor(failure.code) })
      void this.port.discardUnsent(this.fatal)
      return this.fatal
    }
    if (txn === undefined || txn.phase === 'done') return failure
    // Records abort() itself dropped are its doing, not a failure of the transaction.
    if (failure instanceof SkeinClientError && failure.reason === ClientErrorReason.TXN_ABORTED) return failure
    txn.failure ??= failure
    if (txn.phase !== 'aborting') txn.phase = 'abortable'
    void this.port.discardUnsent(abortRequired(txn.failure, 'an earlier failure in the transaction'))
    return failure
  }

  private assertCurrent(txn: OpenTransaction): void {
    this.assertUsable()
    if (this.current !== txn) throw invalidTxnState('this transaction is over (committed or aborted): start another with producer.transaction()')
  }

  private producerRef(): TxnProducerRef {
    const identity = this.port.identity()
    if (identity === undefined) throw new Error('invariant: a transaction without a producer id')
    return { transactionalId: this.settings.transactionalId, producerId: identity.producerId, producerEpoch: identity.producerEpoch }
  }
}

/**
 * One transaction of a transactional producer (producer.transaction()). Once committed or
 * aborted, every call on it fails with INVALID_TXN_STATE.
 */
export class Transaction {
  /** @internal Made by producer.transaction(). */
  constructor(
    private readonly manager: TransactionManager,
    private readonly txn: OpenTransaction,
  ) {}

  /** As producer.send, inside the transaction: resolves when the records are written (not yet visible to read_committed readers). */
  send(record: ProducerRecord): Promise<RecordMetadata[]> {
    return this.manager.send(this.txn, record)
  }

  /** Commits a group's consumed offsets in this transaction: they take effect if it commits, vanish if it aborts. */
  sendOffsets(options: SendOffsetsOptions): Promise<void> {
    return this.manager.sendOffsets(this.txn, options)
  }

  /** Sends every record of the transaction, waits for them, then commits it. Refused (TXN_ABORT_REQUIRED) after a failure in it. */
  commit(): Promise<void> {
    return this.manager.commit(this.txn)
  }

  /** Drops the records not yet sent, waits for those in flight, then aborts the transaction. */
  abort(): Promise<void> {
    return this.manager.abort(this.txn)
  }
}

/** The parts of a txnOffsetCommit request that come from the application. */
type OffsetsOfTransaction = Omit<TxnOffsetCommitRequest, keyof TxnProducerRef>

function validateSendOffsets(options: SendOffsetsOptions): OffsetsOfTransaction {
  if (typeof options !== 'object' || options === null) throw invalidArgument('sendOffsets needs { consumerGroupId, offsets: [{ topic, partition, offset }], consumer? }')
  const { consumerGroupId: groupId, offsets, consumer } = options
  validateGroupId('consumerGroupId', groupId)
  if (!Array.isArray(offsets) || offsets.length === 0) throw invalidArgument('sendOffsets needs a non-empty offsets array of { topic, partition, offset }')
  const entries: OffsetCommitEntry[] = offsets.map(validateCommitOffset)
  if (consumer === undefined) return { groupId, offsets: entries }
  const member = typeof consumer?.groupMetadata === 'function' ? consumer.groupMetadata() : undefined
  if (member === undefined) throw invalidArgument('sendOffsets: consumer must be the group\'s Consumer (created with a groupId)')
  if (member.groupId !== groupId) throw invalidArgument(`sendOffsets: the consumer is in group '${member.groupId}', not '${groupId}'`)
  // Outside a generation (assign() or not joined yet) there is no member to fence.
  if (member.generation < 0) return { groupId, offsets: entries }
  return { groupId, offsets: entries, memberId: member.memberId, generation: member.generation }
}

/**
 * ILLEGAL_GENERATION when an offset is past what the consumer has delivered of its partition
 * since the partition was (re)assigned to it: the partition was taken away (and perhaps handed
 * back, restarting from the committed offset) while the batch was processed, so committing the
 * batch now would commit over records the group delivers again, or has already had processed
 * by another member (txn-sim seed 201 --live-generation: another member processed and
 * committed the same batch, its commit equal to the batch's end). Kafka's consumer cannot get
 * here (it rebalances only inside poll()); this SDK's rebalances run in the background.
 */
function offsetsPastDelivered(consumer: GroupMetadataSource, offsets: readonly OffsetCommitEntry[]): SkeinError | undefined {
  if (typeof consumer.deliveredPosition !== 'function') return undefined
  for (const { topic, partition, offset } of offsets) {
    const delivered = consumer.deliveredPosition({ topic, partition })
    if (delivered === undefined || offset > delivered) {
      const where = delivered === undefined ? 'has had nothing delivered since it was (re)assigned to this consumer or seeked' : `has been delivered only up to ${delivered}`
      return new SkeinError(ErrorCode.ILLEGAL_GENERATION, `sendOffsets: ${topic}/${partition} ${where}; offset ${offset} belongs to a batch read before a rebalance moved the partition: abort and read it again`)
    }
  }
  return undefined
}

function invalidTxnState(message: string): SkeinClientError {
  return new SkeinClientError(ClientErrorReason.INVALID_TXN_STATE, message)
}

function abortRequired(failure: SkeinError | undefined, what: string): SkeinClientError {
  const why = failure === undefined ? '' : `: ${failure.message}`
  return new SkeinClientError(ClientErrorReason.TXN_ABORT_REQUIRED, `${what}: the transaction failed and can only be aborted${why}`, failure === undefined ? {} : { cause: failure })
}
