import type { Actor, ActorContext, Message } from '../../src/actor/index.js'
import { replyLater } from '../../src/actor/index.js'
import type { TimerHandle } from '../../src/env/index.js'
import {
  BrokerRequest,
  type CommitOffsetsRequest,
  type CommittedOffsetEntry,
  type DescribeGroupResponse,
  type FetchOffsetsRequest,
  type FetchOffsetsResponse,
  type FindCoordinatorResponse,
  GROUP_ID_CHARS_MAX,
  GroupRequest,
  HEARTBEAT_WAIT_MS_MAX,
  type HeartbeatRequest,
  type JoinGroupRequest,
  type JoinGroupResponse,
  type LeaveGroupRequest,
  type ListGroupsResponse,
  OFFSETS_TOPIC,
  type SyncGroupRequest,
  type SyncGroupResponse,
  type TopicPartitionRef,
  type TxnMarkerRequest,
  type TxnOffsetCommitRequest,
  TxnRequest,
  type VerifyGroupRequest,
  brokerActorId,
  replicaActorId,
  txnCoordinatorActorId,
} from '../../src/wire/broker-protocol.js'
import { ErrorCode, SkeinError } from '../../src/wire/index.js'
import { type LoadedPartition, PartitionLease, coordinatorPartitionOf, appendLoadMarker, replayInternal } from '../internal-partition.js'
import type { PartitionReplica } from '../partition/replica.js'
import type { NodeServices } from '../services.js'
import { ASSIGNOR_NAMES, type AssignorName } from '../../src/client/assignors.js'
import { type GroupEffect, GroupCore, type GroupSnapshot } from './group-core.js'
import { type OffsetCommit, type OffsetRecord, OffsetTable, checkOffsetCommits, decodeOffsetsRecord, groupRecord, loadMarkerRecord, offsetRecord, txnEndRecord, txnOffsetRecord } from './offsets.js'
import { TxnPendingOffsets, checkProducerIdAndEpoch, checkTxnProducer } from './txn-offsets.js'

/** How often sessions and rebalance deadlines are checked, and leadership of the partition re-read. */
export const COORDINATOR_TICK_MS = 100
/** Heartbeats held at once (see HeartbeatRequest.waitMs); more are answered at once. */
export const HELD_HEARTBEATS_MAX = 10_000
/** Bound on asking this node's broker for the topic list during cleanup. */
const TOPIC_LIST_TIMEOUT_MS = 5_000
/**
 * Bound on checking a txnOffsetCommit with the producer's transaction coordinator (finding it,
 * then asking it), all told: the producer waits on it, and retries on a timeout as it would on
 * any retriable error.
 */
export const TXN_VERIFY_TIMEOUT_MS = 5_000


interface HeldHeartbeat {
  readonly resolve: () => void
  readonly reject: (error: SkeinError) => void
  readonly timer: TimerHandle
}

interface GroupEntry {
  readonly core: GroupCore<number>
  /** The latest generation whose group record is committed (0: none). */
  persistedGeneration: number
  /** The group record being written, and for which generation. */
  persisting: { readonly generation: number; readonly done: Promise<void> } | undefined
  readonly held: Set<HeldHeartbeat>
}

/** The state of one leader epoch of the offsets partition, rebuilt from it. */
interface Loaded extends LoadedPartition {
  readonly groups: Map<string, GroupEntry>
  readonly offsets: OffsetTable
  /** Offsets committed in transactions still open (invisible until their txnMarker commits them). */
  readonly txnOffsets: TxnPendingOffsets
  /** Topics the previous cleanup found missing (deleted); tombstoned if missing again. */
  missingTopics: Set<string>
  /**
   * The last generation of groups that emptied and were dropped from `groups`: a group that
   * fills again counts on from it, so no generation number is ever handed out twice (one
   * number per group, where a whole GroupCore would be kept for nothing).
   */
  readonly emptyGenerations: Map<string, number>
  nextCleanupAtMs: number
}

interface PendingRequest {
  readonly resolve: (value: unknown) => void
  readonly reject: (error: unknown) => void
}

/**
 * The group coordinator for the consumer groups whose ids hash to one partition of the offsets
 * topic (`coordinator/<p>/<node>`, pinned), serving while this node's replica of that
 * partition leads it, as Kafka places coordinators. Placement is by the partition's Raft
 * leadership rather than by consistent hashing alone, because that is what fences it: every
 * write goes through the local replica under the leader epoch the state was loaded in, so a
 * coordinator deposed without knowing it can no longer commit anything, and no answer that
 * grants ownership (a sync) or acknowledges a commit goes out before its record is committed.
 *
 * On the first request in a leader epoch it appends a load marker (acks=all) and replays the
 * partition up to it: committed offsets (OffsetTable) and each group's latest settled
 * generation (GroupCore.restore), so members of a group whose coordinator moved carry on in
 * the same generation. The membership logic is GroupCore's; this shell does the I/O: request
 * ids, timers, the records, heartbeats held until a rebalance starts (HeartbeatRequest.waitMs).
 */
export class GroupCoordinatorActor implements Actor {
  private readonly partition: number
  private readonly valid: boolean
  private readonly lease: PartitionLease<Loaded>
  private readonly pending = new Map<number, PendingRequest>()
  private nextRequestId = 1
  /** Heartbeats held now, over every group (bounded by HELD_HEARTBEATS_MAX); kept, not summed per heartbeat. */
  private heldTotal = 0
  /**
   * The tail of the txnOffsetCommit/txnMarker work of each (group, producer id), run one at a
   * time: a marker arriving while a commit of the same transaction is verified or written waits
   * for it, rather than finding nothing pending and leaving the commit's offsets behind it.
   * Holds only keys with work in flight.
   */
  private readonly txnQueues = new Map<string, Promise<void>>()

  constructor(
    private readonly context: ActorContext,
    private readonly services: NodeServices,
  ) {
    this.partition = coordinatorPartitionOf(context.self, context.nodeId)
    this.valid = this.partition >= 0
    this.lease = new PartitionLease<Loaded>({
      name: `${OFFSETS_TOPIC}/${this.partition}`,
      clock: context.env.clock,
      tickMs: COORDINATOR_TICK_MS,
      onTick: (loaded) => this.onTick(loaded),
      replica: () => this.services.hostedReplicas.get(replicaActorId(OFFSETS_TOPIC, this.partition, this.context.nodeId))?.replica,
      load: (replica) => this.load(replica),
      onUnloaded: (loaded, reason) => this.onUnloaded(loaded, reason),
      notCoordinator: (reason) => this.notCoordinator(reason),
    })
  }

  receive(message: Message): unknown {
    if (!this.valid) throw new SkeinError(ErrorCode.NOT_COORDINATOR, `${this.context.self} is not a coordinator id of ${this.context.nodeId}`)
    const payload = (message.payload ?? {}) as Record<string, unknown>
    if (message.kind === GroupRequest.listGroups) return replyLater(this.lease.withConfirmed((loaded) => this.listGroups(loaded)))
    const groupId = validGroupId(payload.groupId)
    switch (message.kind) {
      case GroupRequest.joinGroup:
        return replyLater(this.lease.withLoaded((loaded) => this.join(loaded, groupId, payload as unknown as JoinGroupRequest)))
      case GroupRequest.syncGroup:
        return replyLater(this.lease.withLoaded((loaded) => this.sync(loaded, groupId, payload as unknown as SyncGroupRequest)))
      case GroupRequest.heartbeat:
        return replyLater(this.lease.withLoaded((loaded) => this.heartbeat(loaded, groupId, payload as unknown as HeartbeatRequest)))
      case GroupRequest.leaveGroup:
        return replyLater(this.lease.withLoaded((loaded) => this.leave(loaded, groupId, payload as unknown as LeaveGroupRequest)))
      case GroupRequest.commitOffsets:
        return replyLater(this.lease.withLoaded((loaded) => this.commit(loaded, groupId, payload as unknown as CommitOffsetsRequest)))
      case GroupRequest.fetchOffsets:
        return replyLater(this.lease.withConfirmed((loaded) => this.fetchOffsets(loaded, groupId, payload as unknown as FetchOffsetsRequest)))
      case GroupRequest.describeGroup:
        return replyLater(this.lease.withConfirmed((loaded) => this.describe(loaded, groupId)))
      case GroupRequest.txnOffsetCommit:
        return replyLater(this.lease.withLoaded((loaded) => this.txnOffsetCommit(loaded, groupId, payload as unknown as TxnOffsetCommitRequest)))
      case GroupRequest.txnMarker:
        return replyLater(this.lease.withLoaded((loaded) => this.txnMarker(loaded, groupId, payload as unknown as TxnMarkerRequest)))
      default:
        throw new SkeinError(ErrorCode.INVALID_REQUEST, `a group coordinator does not handle '${message.kind}'`)
    }
  }

  stop(): void {
    this.lease.unload('the coordinator actor stopped')
  }

  // ---- requests ----

  private join(loaded: Loaded, groupId: string, request: JoinGroupRequest): Promise<JoinGroupResponse> {
    const join = {
      memberId: typeof request.memberId === 'string' ? request.memberId : '',
      groupInstanceId: optionalString(request.groupInstanceId, 'groupInstanceId'),
      sessionTimeoutMs: request.sessionTimeoutMs,
      rebalanceTimeoutMs: request.rebalanceTimeoutMs,
      assignors: assignorList(request.assignors),
      topics: stringList(request.topics, 'topics'),
      owned: partitionList(request.owned, 'owned'),
    }
    const entry = this.entryFor(loaded, groupId, true)
    return this.submit<JoinGroupResponse>(loaded, entry, (requestId) => entry.core.join(requestId, join, this.nowMs()))
  }

  private async sync(loaded: Loaded, groupId: string, request: SyncGroupRequest): Promise<SyncGroupResponse> {
    const entry = this.knownGroup(loaded, groupId, request.memberId)
    let assignments: Map<string, TopicPartitionRef[]> | undefined
    if (request.assignments !== undefined && request.assignments !== null) {
      if (!Array.isArray(request.assignments)) throw invalid('assignments must be a list of { memberId, partitions }')
      assignments = new Map()
      for (const item of request.assignments) {
        if (typeof item?.memberId !== 'string') throw invalid('each assignment needs a memberId')
        assignments.set(item.memberId, partitionList(item.partitions, 'partitions'))
      }
    }
    const sync = { memberId: String(request.memberId), generation: Number(request.generation), assignments }
    const assignment = await this.submit<readonly TopicPartitionRef[]>(loaded, entry, (requestId) => entry.core.sync(requestId, sync, this.nowMs()))
    return { assignment }
  }

  private heartbeat(loaded: Loaded, groupId: string, request: HeartbeatRequest): Promise<Record<string, never>> | Record<string, never> {
    const entry = this.knownGroup(loaded, groupId, request.memberId)
    const refused = entry.core.heartbeat(String(request.memberId), Number(request.generation), this.nowMs())
    if (refused !== undefined) throw refused
    const waitMs = Math.min(HEARTBEAT_WAIT_MS_MAX, Math.max(0, Number(request.waitMs) || 0))
    if (waitMs === 0 || entry.core.currentState !== 'stable' || this.heldTotal >= HELD_HEARTBEATS_MAX) return {}
    return new Promise((resolve, reject) => {
      const held: HeldHeartbeat = {
        resolve: () => resolve({}),
        reject,
        timer: this.context.env.clock.setTimer(waitMs, () => {
          entry.held.delete(held)
          this.heldTotal--
          resolve({})
        }),
      }
      entry.held.add(held)
      this.heldTotal++
    })
  }

  private leave(loaded: Loaded, groupId: string, request: LeaveGroupRequest): Record<string, never> {
    const entry = this.knownGroup(loaded, groupId, request.memberId)
    const { error, effects } = entry.core.leave(String(request.memberId), this.nowMs())
    if (error !== undefined) throw error
    this.dispatch(loaded, entry, effects)
    this.context.log.info({ group: groupId, member: request.memberId, generation: entry.core.currentGeneration }, 'member left the group')
    return {}
  }

  private async commit(loaded: Loaded, groupId: string, request: CommitOffsetsRequest): Promise<Record<string, never>> {
    const offsets = offsetCommits(request.offsets, 'commitOffsets')
    const memberId = typeof request.memberId === 'string' ? request.memberId : ''
    const generation = Number.isSafeInteger(request.generation) ? request.generation : -1
    const entry = this.entryFor(loaded, groupId, memberId === '' && generation === -1)
    if (entry === undefined) throw new SkeinError(ErrorCode.UNKNOWN_MEMBER_ID, `group '${groupId}' has no member ${memberId}`)
    if (memberId === '' && generation === -1 && entry.core.memberCount > 0) {
      throw new SkeinError(ErrorCode.NON_EMPTY_GROUP, `group '${groupId}' has ${entry.core.memberCount} members: only they commit its offsets`)
    }
    const check = entry.core.checkCommit(memberId, generation, offsets)
    if (check !== undefined) throw check
    const wallMs = this.wallMs()
    const records = offsets.map((commit) => offsetRecord(groupId, commit, wallMs))
    await this.append(loaded, records)
    for (const record of records) loaded.offsets.apply(record)
    return {}
  }

  /**
   * Committed offsets, unless an open transaction has offsets pending for a partition asked
   * for (any, when none are named): then UNSTABLE_OFFSET_COMMIT, retriable, as Kafka answers a
   * requireStable fetch (KIP-447), so a consumer taking a partition over does not start from
   * an offset the transaction is about to move.
   */
  private fetchOffsets(loaded: Loaded, groupId: string, request: FetchOffsetsRequest): FetchOffsetsResponse {
    const partitions = request.partitions === undefined || request.partitions === null ? undefined : partitionList(request.partitions, 'partitions')
    const unstable = loaded.txnOffsets.unstable(groupId, partitions)
    if (unstable.length > 0) {
      throw new SkeinError(ErrorCode.UNSTABLE_OFFSET_COMMIT, `group '${groupId}' has transactional offsets pending for ${unstable.slice(0, 5).join(', ')}${unstable.length > 5 ? ` and ${unstable.length - 5} more` : ''}`)
    }
    return { offsets: this.committed(loaded, groupId, partitions) }
  }

  /**
   * Offsets committed in a producer's transaction (TxnOffsetCommit): checked like a commit
   * (and, when a member names itself, fenced by its generation, KIP-447), then verified with
   * the producer's transaction coordinator (the group must be in its open transaction), then
   * written and held pending until the transaction's txnMarker.
   */
  private txnOffsetCommit(loaded: Loaded, groupId: string, request: TxnOffsetCommitRequest): Promise<Record<string, never>> {
    const bad = checkTxnProducer(request)
    if (bad !== undefined) throw bad
    const offsets = offsetCommits(request.offsets, 'txnOffsetCommit')
    const { transactionalId, producerId, producerEpoch } = request
    const memberId = typeof request.memberId === 'string' ? request.memberId : ''
    const generation = Number.isSafeInteger(request.generation) ? (request.generation as number) : -1
    const refusal = (): SkeinError | undefined => {
      const refused = loaded.txnOffsets.refusal(groupId, producerId, producerEpoch, offsets)
      if (refused !== undefined || memberId === '') return refused
      const entry = loaded.groups.get(groupId)
      if (entry === undefined) return new SkeinError(ErrorCode.UNKNOWN_MEMBER_ID, `group '${groupId}' has no member ${memberId}`)
      return entry.core.checkCommit(memberId, generation, offsets)
    }
    return this.txnSerialized(groupId, producerId, async () => {
      // Checked before verifying (a fenced zombie costs no round trip) and again after: the
      // group may have rebalanced, or another producer taken the last pending slot, meanwhile.
      const early = refusal()
      if (early !== undefined) throw early
      await this.verifyTxnGroup({ transactionalId, producerId, producerEpoch, groupId })
      const late = refusal()
      if (late !== undefined) throw late
      await this.append(loaded, [txnOffsetRecord(groupId, producerId, producerEpoch, offsets)])
      loaded.txnOffsets.add(groupId, producerId, producerEpoch, offsets)
      return {}
    })
  }

  /**
   * The end of a producer's transaction, from its transaction coordinator: a commit writes the
   * pending offsets as committed ones together with the end record (one batch: replay sees
   * both or neither), an abort only the end record. Idempotent, as the transaction coordinator
   * re-sends markers after failover: nothing pending, or pending for a newer epoch than the
   * marker's, is answered with no change.
   */
  private txnMarker(loaded: Loaded, groupId: string, request: TxnMarkerRequest): Promise<Record<string, never>> {
    const bad = checkProducerIdAndEpoch(request.producerId, request.producerEpoch)
    if (bad !== undefined) throw bad
    if (typeof request.commit !== 'boolean') throw invalid('txnMarker needs commit: true or false')
    const { producerId, producerEpoch, commit } = request
    return this.txnSerialized(groupId, producerId, async () => {
      const pending = loaded.txnOffsets.get(groupId, producerId)
      if (pending === undefined) return {}
      if (producerEpoch < pending.producerEpoch) {
        this.context.log.warn({ group: groupId, producerId, markerEpoch: producerEpoch, pendingEpoch: pending.producerEpoch }, 'stale transaction marker ignored: a newer epoch has offsets pending')
        return {}
      }
      const wallMs = this.wallMs()
      const settled = commit ? [...pending.offsets.values()].map((offset) => offsetRecord(groupId, offset, wallMs)) : []
      await this.append(loaded, [...settled, txnEndRecord(groupId, producerId, producerEpoch, commit)])
      for (const record of settled) loaded.offsets.apply(record)
      loaded.txnOffsets.end(groupId, producerId)
      this.context.log.info({ group: groupId, producerId, producerEpoch, commit, offsets: pending.offsets.size }, 'transactional offsets settled')
      return {}
    })
  }

  /**
   * Asks the producer's transaction coordinator whether `groupId` is in its open transaction;
   * rejects with its error unchanged (INVALID_TXN_STATE, PRODUCER_FENCED,
   * INVALID_PRODUCER_ID_MAPPING, NOT_COORDINATOR, ...). Public so tests can stand in for the
   * transaction coordinator (vi.spyOn on the prototype).
   */
  async verifyTxnGroup(request: VerifyGroupRequest): Promise<void> {
    const deadlineMs = this.nowMs() + TXN_VERIFY_TIMEOUT_MS
    const found = await this.context.ask<FindCoordinatorResponse>(brokerActorId(this.context.nodeId), BrokerRequest.findCoordinator, { transactionalId: request.transactionalId }, { timeoutMs: TXN_VERIFY_TIMEOUT_MS })
    const timeoutMs = Math.max(1, deadlineMs - this.nowMs())
    await this.context.ask(txnCoordinatorActorId(found.partition, found.nodeId), TxnRequest.verifyGroup, request, { timeoutMs })
  }

  private describe(loaded: Loaded, groupId: string): DescribeGroupResponse {
    const core = loaded.groups.get(groupId)?.core
    const offsets = this.committed(loaded, groupId, undefined)
    if ((core === undefined || core.memberCount === 0) && offsets.length === 0 && !loaded.txnOffsets.hasGroup(groupId)) throw new SkeinError(ErrorCode.GROUP_ID_NOT_FOUND, `group '${groupId}' does not exist`)
    const description = core?.describe()
    return {
      groupId,
      state: description?.state ?? 'empty',
      generation: description?.generation ?? 0,
      leaderId: description?.leaderId,
      assignor: description?.assignor,
      members: (description?.members ?? []).map((m) => ({ memberId: m.memberId, groupInstanceId: m.instanceId, topics: m.topics, assignment: m.assignment })),
      offsets,
    }
  }

  private listGroups(loaded: Loaded): ListGroupsResponse {
    const ids = new Set([...loaded.offsets.groupIds(), ...loaded.txnOffsets.groupIds(), ...[...loaded.groups].filter(([, entry]) => entry.core.memberCount > 0).map(([id]) => id)])
    return {
      groups: [...ids].sort().map((groupId) => {
        const core = loaded.groups.get(groupId)?.core
        return { groupId, state: core?.currentState ?? 'empty', members: core?.memberCount ?? 0 }
      }),
    }
  }

  private committed(loaded: Loaded, groupId: string, partitions: readonly TopicPartitionRef[] | undefined): CommittedOffsetEntry[] {
    return [...loaded.offsets.fetch(groupId, partitions).values()].map(({ topic, partition, offset, metadata, commitTimestampMs }) => ({ topic, partition, offset, metadata, commitTimestampMs }))
  }

  /** Runs `work` after every earlier txnOffsetCommit/txnMarker of the same (group, producer id) has finished. */
  private txnSerialized<T>(groupId: string, producerId: number, work: () => Promise<T>): Promise<T> {
    const key = `${groupId}\u0000${producerId}`
    const result = (this.txnQueues.get(key) ?? Promise.resolve()).then(work)
    const tail = result.then(
      () => undefined,
      () => undefined,
    )
    this.txnQueues.set(key, tail)
    void tail.then(() => {
      if (this.txnQueues.get(key) === tail) this.txnQueues.delete(key)
    })
    return result
  }

  // ---- effects ----

  /** Feeds one request to the group's core and waits for the answer its effects give (now, or when the rebalance moves on). */
  private submit<T>(loaded: Loaded, entry: GroupEntry, feed: (requestId: number) => GroupEffect<number>[]): Promise<T> {
    const requestId = this.nextRequestId++
    const answer = new Promise<T>((resolve, reject) => {
      this.pending.set(requestId, { resolve: resolve as (value: unknown) => void, reject })
    })
    this.dispatch(loaded, entry, feed(requestId))
    return answer
  }

  private dispatch(loaded: Loaded, entry: GroupEntry, effects: readonly GroupEffect<number>[]): void {
    for (const effect of effects) {
      const waiter = this.pending.get(effect.requestId)
      if (waiter === undefined) continue // the request was dropped when the coordinator unloaded
      this.pending.delete(effect.requestId)
      if (effect.kind === 'failed') waiter.reject(effect.error)
      else if (effect.kind === 'joined') waiter.resolve(effect.answer)
      else {
        // Ownership is granted here: never before the generation's record is committed.
        this.persisted(loaded, entry).then(
          () => waiter.resolve(effect.assignment),
          (error: unknown) => waiter.reject(error),
        )
      }
    }
    if (entry.core.currentState !== 'stable') this.releaseHeld(entry, () => new SkeinError(ErrorCode.REBALANCE_IN_PROGRESS, `group '${entry.core.groupId}' is rebalancing; rejoin`))
  }

  /** Resolves once the group record of the current generation is committed (writing it if no one has). */
  private persisted(loaded: Loaded, entry: GroupEntry): Promise<void> {
    const generation = entry.core.currentGeneration
    if (entry.persistedGeneration >= generation) return Promise.resolve()
    if (entry.persisting?.generation === generation) return entry.persisting.done
    const snapshot: GroupSnapshot = entry.core.snapshot()
    const done = this.append(loaded, [groupRecord(entry.core.groupId, snapshot)]).then(() => {
      entry.persistedGeneration = Math.max(entry.persistedGeneration, generation)
      this.context.log.info({ group: entry.core.groupId, generation, members: snapshot.members.length }, 'group generation settled')
    })
    entry.persisting = { generation, done }
    return done
  }

  private releaseHeld(entry: GroupEntry, error: (() => SkeinError) | undefined): void {
    for (const held of entry.held) {
      held.timer.cancel()
      if (error === undefined) held.resolve()
      else held.reject(error())
    }
    this.heldTotal -= entry.held.size
    entry.held.clear()
    if (this.heldTotal < 0) throw new Error(`invariant: held heartbeat count went negative (${this.heldTotal})`)
  }

  // ---- the offsets partition ----

  /** Appends records to the offsets partition under the loaded leader epoch, resolving once committed (one batch: all or none). */
  private append(loaded: Loaded, records: readonly OffsetRecord[]): Promise<void> {
    return this.lease.append(loaded, records, this.wallMs())
  }

  /**
   * Rebuilds the partition's groups and offsets: appends a load marker under the current epoch
   * (its commit proves every earlier record committed, and fails if the epoch is gone), then
   * replays everything before it. Records that do not decode are logged and skipped.
   */
  private async load(replica: PartitionReplica): Promise<Loaded> {
    const epoch = replica.epoch
    const startedMs = this.nowMs()
    let markerOffset: number
    try {
      markerOffset = await appendLoadMarker(replica, epoch, loadMarkerRecord(this.context.nodeId), this.context.env.clock)
    } catch (error) {
      throw this.notCoordinator(`loading ${OFFSETS_TOPIC}/${this.partition} failed: ${String(error)}`)
    }
    const offsets = new OffsetTable()
    const txnOffsets = new TxnPendingOffsets()
    const snapshots = new Map<string, GroupSnapshot>()
    let skipped = 0
    await replayInternal(replica, markerOffset, (record, offset) => {
      try {
        const decoded = decodeOffsetsRecord(record)
        if (decoded.kind === 'offset') offsets.apply(decoded.record)
        else if (decoded.kind === 'group') snapshots.set(decoded.group, decoded.snapshot)
        else if (decoded.kind === 'txnOffset') txnOffsets.add(decoded.group, decoded.producerId, decoded.producerEpoch, decoded.offsets)
        else if (decoded.kind === 'txnEnd') txnOffsets.end(decoded.group, decoded.producerId)
      } catch (error) {
        skipped++
        this.context.log.error({ offset, error: String(error) }, 'offsets topic record skipped: it does not decode')
      }
    })
    const nowMs = this.nowMs()
    const groups = new Map<string, GroupEntry>()
    for (const [groupId, snapshot] of snapshots) {
      const entry = this.newEntry(groupId)
      try {
        entry.core.restore(snapshot, nowMs)
      } catch (error) {
        this.context.log.error({ group: groupId, error: String(error) }, 'group record not restored')
        continue
      }
      entry.persistedGeneration = snapshot.generation
      groups.set(groupId, entry)
    }
    const loaded: Loaded = { epoch, replica, groups, offsets, txnOffsets, missingTopics: new Set(), emptyGenerations: new Map(), nextCleanupAtMs: nowMs + this.services.settings.offsetsCleanupIntervalMs }
    this.context.log.info({ partition: this.partition, epoch, groups: groups.size, offsetGroups: offsets.groupIds().length, txnPendingProducers: txnOffsets.size, replayedTo: markerOffset, skipped, tookMs: nowMs - startedMs }, 'group coordinator loaded')
    return loaded
  }

  /** The loaded state is gone: every waiting request is told to find the coordinator again. */
  private onUnloaded(loaded: Loaded, reason: string): void {
    for (const entry of loaded.groups.values()) this.releaseHeld(entry, () => this.notCoordinator(reason))
    for (const waiter of this.pending.values()) waiter.reject(this.notCoordinator(reason))
    this.pending.clear()
    this.context.log.info({ partition: this.partition, epoch: loaded.epoch, reason }, 'group coordinator unloaded')
  }

  private onTick(loaded: Loaded): void {
    const nowMs = this.nowMs()
    for (const [groupId, entry] of loaded.groups) {
      this.dispatch(loaded, entry, entry.core.tick(nowMs))
      if (entry.core.memberCount === 0 && entry.held.size === 0 && entry.persisting === undefined) {
        loaded.groups.delete(groupId)
        if (entry.core.currentGeneration > 0) loaded.emptyGenerations.set(groupId, entry.core.currentGeneration)
      }
    }
    if (nowMs >= loaded.nextCleanupAtMs) {
      loaded.nextCleanupAtMs = nowMs + this.services.settings.offsetsCleanupIntervalMs
      void this.cleanUpDeletedTopics(loaded)
    }
  }

  /**
   * Tombstones the offsets of topics that no longer exist. A topic counts as deleted only when
   * two lookups an interval apart both miss it, so one just created (and not yet in this
   * node's metadata) keeps its fresh offsets.
   */
  private async cleanUpDeletedTopics(loaded: Loaded): Promise<void> {
    try {
      const topics = new Set(await this.context.ask<string[]>(brokerActorId(this.context.nodeId), BrokerRequest.listTopics, null, { timeoutMs: TOPIC_LIST_TIMEOUT_MS }))
      const missing = new Set<string>()
      const tombstones: OffsetRecord[] = []
      for (const topic of loaded.offsets.topics()) {
        if (topics.has(topic)) continue
        missing.add(topic)
        if (loaded.missingTopics.has(topic)) tombstones.push(...loaded.offsets.tombstonesForTopic(topic))
      }
      loaded.missingTopics = missing
      if (tombstones.length === 0 || this.lease.loaded !== loaded) return
      await this.append(loaded, tombstones)
      for (const record of tombstones) loaded.offsets.apply(record)
      this.context.log.info({ topics: [...missing], offsets: tombstones.length }, 'offsets of deleted topics removed')
    } catch (error) {
      this.context.log.warn({ error: String(error) }, 'cleaning up offsets of deleted topics failed; next interval retries')
    }
  }

  // ---- helpers ----

  private entryFor(loaded: Loaded, groupId: string, create: true): GroupEntry
  private entryFor(loaded: Loaded, groupId: string, create: boolean): GroupEntry | undefined
  private entryFor(loaded: Loaded, groupId: string, create: boolean): GroupEntry | undefined {
    let entry = loaded.groups.get(groupId)
    if (entry === undefined && create) {
      entry = this.newEntry(groupId)
      const generation = loaded.emptyGenerations.get(groupId)
      if (generation !== undefined) {
        entry.core.restore({ generation, leaderId: undefined, assignor: undefined, members: [] }, this.nowMs())
        entry.persistedGeneration = generation
        loaded.emptyGenerations.delete(groupId)
      }
      loaded.groups.set(groupId, entry)
    }
    return entry
  }

  /** A group a member request names: one this coordinator has, else UNKNOWN_MEMBER_ID (the member must join). */
  private knownGroup(loaded: Loaded, groupId: string, memberId: unknown): GroupEntry {
    const entry = loaded.groups.get(groupId)
    if (entry === undefined) throw new SkeinError(ErrorCode.UNKNOWN_MEMBER_ID, `group '${groupId}' has no member ${String(memberId)}`)
    return entry
  }

  private newEntry(groupId: string): GroupEntry {
    const core = new GroupCore<number>(groupId, (instanceId) => this.newMemberId(instanceId), this.services.settings.groupLimits)
    return { core, persistedGeneration: 0, persisting: undefined, held: new Set() }
  }

  /** Kafka's shape: the instance id (or 'member') and a random suffix; unique with overwhelming odds, and the core checks. */
  private newMemberId(instanceId: string | undefined): string {
    const suffix = Array.from(this.context.env.random.bytes(8), (byte) => byte.toString(16).padStart(2, '0')).join('')
    return `${instanceId ?? 'member'}-${suffix}`
  }

  private notCoordinator(reason: string): SkeinError {
    return new SkeinError(ErrorCode.NOT_COORDINATOR, `${this.context.self}: ${reason}`)
  }

  private nowMs(): number {
    return this.context.env.clock.nowMs()
  }

  /** Record timestamps are whole milliseconds; a clock may give fractions. */
  private wallMs(): number {
    return Math.floor(this.context.env.clock.wallMs())
  }
}

function validGroupId(value: unknown): string {
  // eslint-disable-next-line no-control-regex
  if (typeof value !== 'string' || value.length === 0 || value.length > GROUP_ID_CHARS_MAX || /[\u0000-\u001f\u007f]/.test(value)) {
    throw new SkeinError(ErrorCode.INVALID_GROUP_ID, `group id must be 1 to ${GROUP_ID_CHARS_MAX} characters without control characters, got ${JSON.stringify(value)?.slice(0, 80)}`)
  }
  return value
}

function invalid(message: string): SkeinError {
  return new SkeinError(ErrorCode.INVALID_REQUEST, message)
}

/** A commit's offsets list, checked (checkOffsetCommits); INVALID_REQUEST otherwise. */
function offsetCommits(value: unknown, requestName: string): OffsetCommit[] {
  if (!Array.isArray(value) || value.length === 0) throw invalid(`${requestName} needs a non-empty offsets list`)
  const offsets = value.map((entry) => ({ topic: entry?.topic, partition: entry?.partition, offset: entry?.offset, metadata: entry?.metadata }))
  const refused = checkOffsetCommits(offsets)
  if (refused !== undefined) throw refused
  return offsets
}

function optionalString(value: unknown, name: string): string | undefined {
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'string' || value.length === 0 || value.length > GROUP_ID_CHARS_MAX) throw invalid(`${name} must be a non-empty string of at most ${GROUP_ID_CHARS_MAX} characters`)
  return value
}

function stringList(value: unknown, name: string): string[] {
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string' && item.length > 0)) throw invalid(`${name} must be a list of non-empty strings`)
  return value as string[]
}

function assignorList(value: unknown): AssignorName[] {
  const names = stringList(value, 'assignors')
  const unknown = names.find((name) => !(ASSIGNOR_NAMES as readonly string[]).includes(name))
  if (unknown !== undefined) throw new SkeinError(ErrorCode.INCONSISTENT_GROUP_PROTOCOL, `unknown assignor '${unknown}'; known: ${ASSIGNOR_NAMES.join(', ')}`)
  return names as AssignorName[]
}

function partitionList(value: unknown, name: string): TopicPartitionRef[] {
  if (!Array.isArray(value)) throw invalid(`${name} must be a list of { topic, partition }`)
  for (const tp of value as TopicPartitionRef[]) {
    if (typeof tp?.topic !== 'string' || tp.topic.length === 0 || !Number.isSafeInteger(tp.partition) || tp.partition < 0) throw invalid(`${name}: ${JSON.stringify(tp)?.slice(0, 80)} is not a { topic, partition }`)
  }
  return (value as TopicPartitionRef[]).map(({ topic, partition }) => ({ topic, partition }))
}
