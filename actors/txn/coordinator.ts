import type { Actor, ActorContext, Message } from '../../src/actor/index.js'
import { replyLater } from '../../src/actor/index.js'
import {
  BrokerRequest,
  type DescribeTxnResponse,
  type FindCoordinatorResponse,
  GroupRequest,
  type InitProducerIdResponse,
  type MetadataResponse,
  TXN_STATE_TOPIC,
  type TopicPartitionRef,
  TxnRequest,
  type TxnMarkerRequest,
  type VerifyGroupRequest,
  type WriteTxnMarkerRequest,
  brokerActorId,
  coordinatorActorId,
  replicaActorId,
} from '../../src/wire/broker-protocol.js'
import { ErrorCode, SkeinError } from '../../src/wire/index.js'
import { type LoadedPartition, PartitionLease, coordinatorPartitionOf, appendInternal, appendLoadMarker, replayInternal } from '../internal-partition.js'
import type { PartitionReplica } from '../partition/replica.js'
import type { NodeServices } from '../services.js'
import { type MarkerOutcome, type MarkerTarget, TxnCore, type TxnEffect } from './txn-core.js'
import { type TxnMetadata, decodeTxnRecord, txnLoadMarkerRecord } from './txn-log.js'

/** How often timeouts, expiries and marker retries are looked at, and leadership of the partition re-read. */
export const TXN_COORDINATOR_TICK_MS = 100
/** Bound on one marker request (to a partition leader or a group coordinator); no answer by then is retriable. */
export const MARKER_TIMEOUT_MS = 10_000
/**
 * How long a request refused with CONCURRENT_TRANSACTIONS (the id's previous commit or abort is
 * still being finished) is held here and fed again once the id is free, before the refusal goes
 * to the client after all. Holding saves the client's retry backoff between transactions: a
 * producer's next addPartitions usually arrives while the previous commit's markers are out.
 */
export const CONCURRENT_HOLD_MS_MAX = 2_000
/** Requests held at once (each is a promise and a closure); beyond it the refusal goes to the client. */
export const HELD_REQUESTS_MAX = 10_000
/** Bound on asking this node's broker for metadata, a coordinator or a producer id. */
const BROKER_ASK_TIMEOUT_MS = 10_000

type Effect = TxnEffect<number>

/** The state of one leader epoch of the transaction-state partition. */
interface Loaded extends LoadedPartition {
  readonly core: TxnCore<number>
  /** What the core's load asked for (markers of decided transactions), run once the state is current. */
  readonly resume: readonly Effect[]
}

interface PendingRequest {
  readonly resolve: (value: unknown) => void
  readonly reject: (error: unknown) => void
  /** For client requests: what feeds the request to the core again, if it is held. */
  readonly retry?: { readonly transactionalId: string; readonly feed: Feed; readonly heldUntilMs: number }
}

type Feed = (core: TxnCore<number>, requestId: number, nowMs: number) => Effect[]

interface HeldRequest {
  readonly requestId: number
  readonly feed: Feed
  readonly heldUntilMs: number
}

/**
 * The transaction coordinator for the transactional ids hashing to one partition of the
 * transaction-state topic (`txn/<p>/<node>`, pinned), serving while this node's replica of that
 * partition leads it: placed and fenced exactly as a group coordinator is (see
 * actors/group/coordinator.ts). The rules are TxnCore's; this shell runs its effects:
 *
 * - persist: one record appended under the loaded leader epoch (acks=all), then `persisted`.
 *   Any failure unloads the core, since whether the record committed is unknown; the next
 *   request reloads from the partition, where a decided commit or abort is found and finished.
 * - writeMarkers: a WriteTxnMarker to each partition's leader replica, a txnMarker to each
 *   group's coordinator; every answer (or its absence by MARKER_TIMEOUT_MS) is a markerOutcome.
 * - allocateProducerId: a fresh producer id from this node's broker (the cluster-wide blocks).
 *
 * The coordinator epoch written into markers is the partition's leader epoch, so a marker from
 * a deposed coordinator is refused by any partition that has seen its successor's.
 */
export class TxnCoordinatorActor implements Actor {
  private readonly partition: number
  private readonly valid: boolean
  private readonly lease: PartitionLease<Loaded>
  private readonly pending = new Map<number, PendingRequest>()
  /** Requests refused with CONCURRENT_TRANSACTIONS and held, by transactional id, to be fed again when it is free. */
  private readonly held = new Map<string, HeldRequest[]>()
  private heldCount = 0
  private nextRequestId = 1

  constructor(
    private readonly context: ActorContext,
    private readonly services: NodeServices,
  ) {
    this.partition = coordinatorPartitionOf(context.self, context.nodeId)
    this.valid = this.partition >= 0
    this.lease = new PartitionLease<Loaded>({
      name: `${TXN_STATE_TOPIC}/${this.partition}`,
      clock: context.env.clock,
      tickMs: TXN_COORDINATOR_TICK_MS,
      onTick: (loaded) => this.onTick(loaded),
      replica: () => this.services.hostedReplicas.get(replicaActorId(TXN_STATE_TOPIC, this.partition, this.context.nodeId))?.replica,
      load: (replica) => this.load(replica),
      onLoaded: (loaded) => this.dispatch(loaded, loaded.resume),
      onUnloaded: (loaded, reason) => this.onUnloaded(loaded, reason),
      notCoordinator: (reason) => this.notCoordinator(reason),
    })
  }

  receive(message: Message): unknown {
    if (!this.valid) throw new SkeinError(ErrorCode.NOT_COORDINATOR, `${this.context.self} is not a transaction coordinator id of ${this.context.nodeId}`)
    const payload = (message.payload ?? {}) as Record<string, unknown>
    // The core checks every field's range; here they are only given their types' shapes.
    const producer = { transactionalId: payload.transactionalId as string, producerId: payload.producerId as number, producerEpoch: payload.producerEpoch as number }
    switch (message.kind) {
      case TxnRequest.initProducerId: {
        const request = { transactionalId: payload.transactionalId as string, transactionTimeoutMs: payload.transactionTimeoutMs as number }
        return replyLater(this.submit<InitProducerIdResponse>(request.transactionalId, (core, id, nowMs) => core.initProducerId(id, request, nowMs)))
      }
      case TxnRequest.addPartitions: {
        const request = { ...producer, partitions: payload.partitions as TopicPartitionRef[] }
        return replyLater(this.submit(request.transactionalId, (core, id, nowMs) => core.addPartitions(id, request, nowMs)))
      }
      case TxnRequest.addOffsets: {
        const request = { ...producer, groupId: payload.groupId as string }
        return replyLater(this.submit(request.transactionalId, (core, id, nowMs) => core.addOffsets(id, request, nowMs)))
      }
      case TxnRequest.endTxn: {
        if (typeof payload.commit !== 'boolean') throw new SkeinError(ErrorCode.INVALID_REQUEST, 'endTxn needs commit: true or false')
        const request = { ...producer, commit: payload.commit }
        return replyLater(this.submit(request.transactionalId, (core, id, nowMs) => core.endTxn(id, request, nowMs)))
      }
      case TxnRequest.describeTxn:
        return replyLater(this.lease.withConfirmed((loaded) => this.describe(loaded, payload.transactionalId)))
      case TxnRequest.verifyGroup:
        return replyLater(this.lease.withConfirmed((loaded) => this.verifyGroup(loaded, payload as unknown as VerifyGroupRequest)))
      case TxnRequest.ensureLoaded:
        // A nudge: whether it loads (or this node no longer leads) is for the next one to see.
        return replyLater(this.lease.withLoaded(() => ({})).catch(() => ({})))
      default:
        throw new SkeinError(ErrorCode.INVALID_REQUEST, `a transaction coordinator does not handle '${message.kind}'`)
    }
  }

  stop(): void {
    this.lease.unload('the transaction coordinator actor stopped')
  }

  // ---- requests ----

  /**
   * Feeds one request to the core and waits for the reply its effects give (now, or once its
   * record commits). A CONCURRENT_TRANSACTIONS refusal is held, and the request fed again once
   * the id is free (within CONCURRENT_HOLD_MS_MAX), as the client's own retry would.
   */
  private submit<T = Record<string, never>>(transactionalId: unknown, feed: Feed): Promise<T> {
    return this.lease.withLoaded((loaded) => {
      const requestId = this.nextRequestId++
      const retry = typeof transactionalId === 'string' ? { transactionalId, feed, heldUntilMs: this.monotonicMs() + CONCURRENT_HOLD_MS_MAX } : undefined
      const answer = new Promise<T>((resolve, reject) => {
        this.pending.set(requestId, { resolve: resolve as (value: unknown) => void, reject, ...(retry === undefined ? {} : { retry }) })
      })
      this.dispatch(loaded, feed(loaded.core, requestId, this.nowMs()))
      return answer
    })
  }

  private describe(loaded: Loaded, transactionalId: unknown): DescribeTxnResponse {
    const description = typeof transactionalId === 'string' ? loaded.core.describe(transactionalId) : undefined
    if (description === undefined) throw new SkeinError(ErrorCode.INVALID_PRODUCER_ID_MAPPING, `transactional id ${JSON.stringify(transactionalId)?.slice(0, 80)} is not known here`)
    const { producerId, producerEpoch, timeoutMs, state, partitions, groups, txnStartMs } = description
    return { transactionalId: description.transactionalId, producerId, producerEpoch, timeoutMs, state, partitions, groups, txnStartMs }
  }

  /**
   * A group coordinator's check before it takes transactional offsets: the group must be in
   * the producer's open transaction (addOffsets committed). Answered after a majority confirmed
   * this node still leads, so a deposed coordinator cannot vouch for a transaction its
   * successor has aborted.
   */
  private verifyGroup(loaded: Loaded, request: VerifyGroupRequest): Record<string, never> {
    const id = String(request.transactionalId)
    const meta = loaded.core.describe(id)
    if (meta === undefined || meta.producerId !== request.producerId) {
      throw new SkeinError(ErrorCode.INVALID_PRODUCER_ID_MAPPING, `transactional id ${id} does not belong to producer id ${String(request.producerId)}`)
    }
    if (request.producerEpoch < meta.producerEpoch) throw new SkeinError(ErrorCode.PRODUCER_FENCED, `producer ${meta.producerId} epoch ${String(request.producerEpoch)} is fenced by epoch ${meta.producerEpoch}`)
    if (request.producerEpoch !== meta.producerEpoch) throw new SkeinError(ErrorCode.INVALID_PRODUCER_EPOCH, `producer ${meta.producerId} has epoch ${meta.producerEpoch}, not ${String(request.producerEpoch)}`)
    if (meta.state !== 'Ongoing' || !meta.groups.includes(String(request.groupId))) {
      throw new SkeinError(ErrorCode.INVALID_TXN_STATE, `group ${JSON.stringify(request.groupId)?.slice(0, 80)} is not in an open transaction of ${id} (state ${meta.state}); call addOffsets first`)
    }
    return {}
  }

  // ---- effects ----

  private dispatch(loaded: Loaded, effects: readonly Effect[]): void {
    for (const effect of effects) {
      if (this.lease.loaded !== loaded) return // unloaded meanwhile: the next load redoes what is left
      switch (effect.type) {
        case 'reply':
          this.reply(effect)
          break
        case 'persist':
          this.persist(loaded, effect)
          break
        case 'writeMarkers':
          this.writeMarkers(loaded, effect)
          break
        case 'allocateProducerId':
          this.allocateProducerId(loaded, effect.requestId)
          break
      }
    }
  }

  private reply(effect: Extract<Effect, { type: 'reply' }>): void {
    const waiter = this.pending.get(effect.requestId)
    if (waiter === undefined) return
    const retry = waiter.retry
    if (effect.error?.code === ErrorCode.CONCURRENT_TRANSACTIONS.code && retry !== undefined && this.heldCount < HELD_REQUESTS_MAX && this.monotonicMs() < retry.heldUntilMs) {
      const list = this.held.get(retry.transactionalId) ?? []
      list.push({ requestId: effect.requestId, feed: retry.feed, heldUntilMs: retry.heldUntilMs })
      this.held.set(retry.transactionalId, list)
      this.heldCount++
      return
    }
    this.pending.delete(effect.requestId)
    if (effect.error !== undefined) waiter.reject(effect.error)
    else waiter.resolve(effect.producer ?? {})
  }

  private persist(loaded: Loaded, effect: Extract<Effect, { type: 'persist' }>): void {
    appendInternal(loaded.replica, loaded.epoch, [effect.record], this.context.env.clock.wallMs()).then(
      () => {
        if (this.lease.loaded !== loaded) return
        this.dispatch(loaded, loaded.core.persisted(effect.persistId, this.nowMs()))
        this.feedHeld(loaded, effect.transactionalId)
      },
      (error: unknown) => {
        // Refused or unknown: either way this core's view may be ahead of or behind the log.
        this.context.log.warn({ transactionalId: effect.transactionalId, error: String(error) }, 'transaction state write failed; reloading the partition')
        if (this.lease.loaded === loaded) this.lease.unload(`writing ${TXN_STATE_TOPIC}/${this.partition} failed: ${String(error)}`)
      },
    )
  }

  /**
   * Feeds the requests held for `transactionalId` again once it is free: no write or
   * allocation under way and no commit or abort being finished (the conditions of the core's
   * CONCURRENT_TRANSACTIONS). A fed request may be refused and held again, or answered.
   */
  private feedHeld(loaded: Loaded, transactionalId: string): void {
    const list = this.held.get(transactionalId)
    if (list === undefined || this.lease.loaded !== loaded) return
    const description = loaded.core.describe(transactionalId)
    if (description !== undefined && (description.busy || description.state === 'PrepareCommit' || description.state === 'PrepareAbort')) return
    this.held.delete(transactionalId)
    this.heldCount -= list.length
    for (const { requestId, feed } of list) {
      if (this.lease.loaded !== loaded) return // unloaded meanwhile: onUnloaded answered them
      this.dispatch(loaded, feed(loaded.core, requestId, this.nowMs()))
    }
  }

  /** Requests held past CONCURRENT_HOLD_MS_MAX get their refusal after all: the client retries. */
  private expireHeld(): void {
    const nowMs = this.monotonicMs()
    for (const [transactionalId, list] of this.held) {
      const keep = list.filter((request) => request.heldUntilMs > nowMs)
      for (const request of list) {
        if (request.heldUntilMs > nowMs) continue
        const waiter = this.pending.get(request.requestId)
        this.pending.delete(request.requestId)
        waiter?.reject(new SkeinError(ErrorCode.CONCURRENT_TRANSACTIONS, `transactional id ${transactionalId} is still finishing its previous transaction; retry shortly`))
      }
      this.heldCount -= list.length - keep.length
      if (keep.length === 0) this.held.delete(transactionalId)
      else this.held.set(transactionalId, keep)
    }
    if (this.heldCount < 0) throw new Error(`invariant: held request count went negative (${this.heldCount})`)
  }

  private allocateProducerId(loaded: Loaded, requestId: number): void {
    this.context.ask<InitProducerIdResponse>(brokerActorId(this.context.nodeId), BrokerRequest.initProducerId, {}, { timeoutMs: BROKER_ASK_TIMEOUT_MS }).then(
      (answer) => {
        if (this.lease.loaded === loaded) this.dispatch(loaded, loaded.core.producerIdAllocated(requestId, answer.producerId, this.nowMs()))
      },
      (error: unknown) => {
        const cause = error instanceof SkeinError ? error : new SkeinError(ErrorCode.COORDINATOR_NOT_AVAILABLE, `no producer id: ${String(error)}`)
        if (this.lease.loaded === loaded) this.dispatch(loaded, loaded.core.producerIdAllocationFailed(requestId, cause))
      },
    )
  }

  private writeMarkers(loaded: Loaded, effect: Extract<Effect, { type: 'writeMarkers' }>): void {
    const report = (target: MarkerTarget, outcome: MarkerOutcome): void => {
      if (this.lease.loaded !== loaded) return
      if (outcome === 'fenced') {
        this.context.log.warn({ transactionalId: effect.transactionalId, target, coordinatorEpoch: effect.coordinatorEpoch }, 'a partition knows a newer transaction coordinator; unloading')
      }
      this.dispatch(loaded, loaded.core.markerOutcome({ transactionalId: effect.transactionalId, round: effect.round, target, outcome }, this.nowMs()))
      if (outcome === 'fenced' && this.lease.loaded === loaded) this.lease.unload('fenced by a newer transaction coordinator')
    }
    const marker: WriteTxnMarkerRequest = { producerId: effect.producerId, producerEpoch: effect.producerEpoch, commit: effect.commit, coordinatorEpoch: effect.coordinatorEpoch }
    if (effect.partitions.length > 0) {
      void this.partitionLeaders(effect.partitions.map((tp) => tp.topic)).then((leaders) => {
        for (const { topic, partition } of effect.partitions) {
          const target: MarkerTarget = { kind: 'partition', topic, partition }
          const leader = leaders?.get(topic)
          if (leaders !== undefined && leader === undefined) {
            report(target, 'gone') // the topic was deleted: Kafka counts such a marker as written
            continue
          }
          const leaderNode = leader?.[partition]
          if (leaderNode === undefined) {
            report(target, 'retriable')
            continue
          }
          this.context.ask(replicaActorId(topic, partition, leaderNode), BrokerRequest.writeTxnMarker, marker, { timeoutMs: MARKER_TIMEOUT_MS }).then(
            () => report(target, 'written'),
            (error: unknown) => report(target, markerOutcomeOf(error)),
          )
        }
      })
    }
    for (const groupId of effect.groups) {
      const target: MarkerTarget = { kind: 'group', groupId }
      const request: TxnMarkerRequest = { groupId, ...marker }
      this.context
        .ask<FindCoordinatorResponse>(brokerActorId(this.context.nodeId), BrokerRequest.findCoordinator, { groupId }, { timeoutMs: BROKER_ASK_TIMEOUT_MS })
        .then((found) => this.context.ask(coordinatorActorId(found.partition, found.nodeId), GroupRequest.txnMarker, request, { timeoutMs: MARKER_TIMEOUT_MS }))
        .then(
          () => report(target, 'written'),
          (error: unknown) => report(target, markerOutcomeOf(error)),
        )
    }
  }

  /**
   * Each topic's leader per partition as this node's broker knows it; a topic missing from the
   * answer is deleted. undefined when the broker could not answer (every marker is retried).
   */
  private async partitionLeaders(topics: readonly string[]): Promise<Map<string, (string | undefined)[]> | undefined> {
    try {
      const metadata = await this.context.ask<MetadataResponse>(brokerActorId(this.context.nodeId), BrokerRequest.metadata, { topics: [...new Set(topics)] }, { timeoutMs: BROKER_ASK_TIMEOUT_MS })
      return new Map(metadata.topics.map((topic) => [topic.name, topic.partitions.map((p) => p.leader)]))
    } catch (error) {
      this.context.log.warn({ error: String(error) }, 'no metadata for transaction markers; retrying them')
      return undefined
    }
  }

  // ---- the transaction-state partition ----

  /**
   * Rebuilds every transactional id of the partition: a load marker under the current epoch,
   * then the replay below it. Transactions found in PrepareCommit/PrepareAbort had their
   * outcome decided by an earlier coordinator; the core writes their markers again.
   */
  private async load(replica: PartitionReplica): Promise<Loaded> {
    const epoch = replica.epoch
    const startedMs = this.monotonicMs()
    let markerOffset: number
    try {
      markerOffset = await appendLoadMarker(replica, epoch, txnLoadMarkerRecord(this.context.nodeId), this.context.env.clock)
    } catch (error) {
      throw this.notCoordinator(`loading ${TXN_STATE_TOPIC}/${this.partition} failed: ${String(error)}`)
    }
    const table = new Map<string, TxnMetadata>()
    let skipped = 0
    await replayInternal(replica, markerOffset, (record, offset) => {
      try {
        const decoded = decodeTxnRecord(record)
        if (decoded.kind !== 'txn') return
        if (decoded.metadata === null) table.delete(decoded.transactionalId)
        else table.set(decoded.transactionalId, decoded.metadata)
      } catch (error) {
        skipped++
        this.context.log.error({ offset, error: String(error) }, 'transaction-state record skipped: it does not decode')
      }
    })
    const core = new TxnCore<number>(epoch, this.services.settings.txnLimits)
    const resume = core.load(table, this.nowMs())
    const resumed = [...table.values()].filter((meta) => meta.state === 'PrepareCommit' || meta.state === 'PrepareAbort').length
    this.context.log.info({ partition: this.partition, epoch, transactionalIds: table.size, resumed, replayedTo: markerOffset, skipped, tookMs: this.monotonicMs() - startedMs }, 'transaction coordinator loaded')
    return { epoch, replica, core, resume }
  }

  /** The loaded state is gone: every waiting request is told to find the coordinator again. */
  private onUnloaded(loaded: Loaded, reason: string): void {
    for (const waiter of this.pending.values()) waiter.reject(this.notCoordinator(reason))
    this.pending.clear()
    this.held.clear()
    this.heldCount = 0
    this.context.log.info({ partition: this.partition, epoch: loaded.epoch, reason }, 'transaction coordinator unloaded')
  }

  private onTick(loaded: Loaded): void {
    this.dispatch(loaded, loaded.core.tick(this.nowMs()))
    // A commit or abort completes after a write of its own (feedHeld then), or not at all; this is the backstop.
    for (const transactionalId of [...this.held.keys()]) this.feedHeld(loaded, transactionalId)
    this.expireHeld()
  }

  private notCoordinator(reason: string): SkeinError {
    return new SkeinError(ErrorCode.NOT_COORDINATOR, `${this.context.self}: ${reason}`)
  }

  /**
   * The core's time is wall-clock milliseconds, as Kafka's: it is stored (a transaction's start,
   * an id's last update) and read by the next coordinator, on another node, whose monotonic
   * clock has another origin. A wall clock stepped back only delays a timeout or an expiry.
   */
  private nowMs(): number {
    return Math.floor(this.context.env.clock.wallMs())
  }

  private monotonicMs(): number {
    return this.context.env.clock.nowMs()
  }
}

/**
 * A marker request's failure as the core counts it: a partition that knows a newer coordinator
 * (or a newer producer epoch: the producer moved on under a newer coordinator) is `fenced`;
 * everything else (no leader, a timeout, an unreachable node) is tried again.
 */
function markerOutcomeOf(error: unknown): MarkerOutcome {
  if (error instanceof SkeinError && (error.code === ErrorCode.TRANSACTION_COORDINATOR_FENCED.code || error.code === ErrorCode.INVALID_PRODUCER_EPOCH.code)) return 'fenced'
  return 'retriable'
}
