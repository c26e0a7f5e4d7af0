import type { Actor, ActorContext, Message } from '../../src/actor/index.js'
import { replyLater } from '../../src/actor/index.js'
import type { Disk, Logger, TimerHandle } from '../../src/env/index.js'
import { loadDurableJson, saveDurableJson } from '../../src/log/durable-json.js'
import { type ReadResult, isStorageError } from '../../src/log/index.js'
import type { RaftMessage } from '../../src/raft/index.js'
import {
  BrokerRequest,
  type FetchAbortedTransaction,
  type FetchIsolation,
  type FetchRequest,
  type FetchResponse,
  type ListOffsetsRequest,
  type ListOffsetsResponse,
  type ProduceRequest,
  type ProduceResponse,
  type ReplicaStatus,
  type WriteTxnMarkerRequest,
  parseReplicaActorId,
  replicaActorId,
} from '../../src/wire/broker-protocol.js'
import { ErrorCode, FRAME_BYTES_MAX, SkeinError } from '../../src/wire/index.js'
import { type TopicConfigs, logConfigFor } from '../metadata/topic-configs.js'
import type { NodeServices } from '../services.js'
import { type Acks, PartitionReplica, REOPEN_BACKOFF_MS, REOPEN_BACKOFF_MS_MAX } from './replica.js'

/** Replica-internal message kinds (not part of the client protocol). */
export const ReplicaControl = {
  /** tell { topicId, voters, configs }: host this replica (idempotent). */
  open: 'open',
  /** tell { m: RaftMessage, r?: records }: Raft traffic from another replica of the partition. */
  raft: 'raft',
  /** ask: close the replica and delete its data (the topic was deleted, or the replica moved). */
  remove: 'remove',
  /** ask { voters, learners }: leader only; proposes one membership change of the Raft group. */
  changeMembership: 'changeMembership',
  /** ask { target }: leader only; hands leadership to `target` once it is caught up. */
  transferLeadership: 'transferLeadership',
} as const

export interface ReplicaOpenRequest {
  readonly topicId: string
  /** The partition's replica set when it was created: the Raft group's bootstrap voters. */
  readonly voters: readonly string[]
  readonly configs: TopicConfigs
}

/** What `partition.json` in a replica's directory holds: enough to reopen it after a restart. */
export interface PartitionDescriptor extends ReplicaOpenRequest {
  readonly topic: string
  readonly partition: number
}

const DESCRIPTOR_FILE = 'partition.json'

/** Largest fetch answer: what fits a link frame with room for the envelope around it. */
export const FETCH_BYTES_MAX = FRAME_BYTES_MAX - 64 * 1024
/**
 * Most record bytes a read_committed fetch reads: half a frame, so the aborted-transaction list
 * fits beside them. Each listed transaction either starts inside the bytes read (at least one
 * batch of 70+ bytes per entry of ~45 msgpack bytes) or was open at the fetch offset (one per
 * producer with an open transaction there).
 */
export const FETCH_COMMITTED_BYTES_MAX = Math.floor(FETCH_BYTES_MAX / 2)
/** Longest a consumer fetch may wait for new records. */
export const FETCH_WAIT_MS_MAX = 30_000
/** Fetches one replica holds waiting for records; more are answered at once, empty. */
export const FETCH_WAITERS_MAX = 1_000

/** Where a partition's replica keeps its files, relative to the node's data directory. */
export function partitionDir(topic: string, partition: number): string {
  return `partitions/${topic}-${partition}`
}

/**
 * The replicas this node held when it last ran, from each `partitions/<dir>/partition.json`:
 * they are opened at start, before any metadata arrives, so a restarted node rejoins its Raft
 * groups even while the metadata quorum is unreachable. A damaged descriptor is logged and skipped.
 */
export async function listStoredReplicas(disk: Disk, log: Logger): Promise<PartitionDescriptor[]> {
  if (!(await disk.exists('partitions'))) return []
  const found: PartitionDescriptor[] = []
  for (const name of await disk.list('partitions')) {
    try {
      const descriptor = (await loadDurableJson(disk, `partitions/${name}/${DESCRIPTOR_FILE}`)) as PartitionDescriptor | undefined
      if (descriptor !== undefined && typeof descriptor.topic === 'string' && Number.isSafeInteger(descriptor.partition)) found.push(descriptor)
    } catch (error) {
      log.error({ dir: `partitions/${name}`, error: String(error) }, 'partition descriptor unreadable; replica not opened')
    }
  }
  return found
}

/**
 * One replica of one partition as an actor, pinned to its node (`replica/<topic>/<p>/<node>`):
 * the PartitionReplica (Raft core + log) plus the client protocol: produce on the leader,
 * fetch of committed records, offsets by time. Raft traffic between the replicas of a
 * partition travels as tells between these actors. It is never passivated: a replica must
 * keep ticking to follow its leader or to stand for election.
 */
export class PartitionReplicaActor implements Actor {
  private readonly topic: string
  private readonly partition: number
  /** False for an id that does not name a replica of this node (a client's typo): every message is refused. */
  private readonly valid: boolean
  private replica: PartitionReplica | undefined
  private descriptor: PartitionDescriptor | undefined
  private retentionTimer: TimerHandle | undefined
  private fetchWaiters = 0
  /** A failed open (a full disk, say) tried again: the broker sends `open` only once. */
  private openRetry: { timer: TimerHandle; failures: number } | undefined

  constructor(
    private readonly context: ActorContext,
    private readonly services: NodeServices,
  ) {
    const address = parseReplicaActorId(context.self)
    this.valid = address !== undefined && address.nodeId === context.nodeId
    this.topic = address?.topic ?? ''
    this.partition = address?.partition ?? -1
  }

  receive(message: Message): unknown {
    if (!this.valid) throw new SkeinError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `${this.context.self} is not a partition replica id of ${this.context.nodeId}`)
    switch (message.kind) {
      case ReplicaControl.raft:
        return this.onRaft(message.payload)
      case ReplicaControl.open:
        return this.openOrRetry(message.payload as ReplicaOpenRequest)
      case ReplicaControl.remove:
        return this.remove()
      case BrokerRequest.produce:
        return replyLater(this.produce(message.payload as ProduceRequest))
      case BrokerRequest.fetch:
        return replyLater(this.fetch(message.payload as FetchRequest))
      case BrokerRequest.listOffsets:
        return replyLater(this.listOffsets(message.payload as ListOffsetsRequest))
      case BrokerRequest.writeTxnMarker:
        return replyLater(this.writeTxnMarker(message.payload as WriteTxnMarkerRequest | null))
      case BrokerRequest.replicaStatus:
        return this.status()
      case ReplicaControl.changeMembership: {
        const { voters, learners } = (message.payload ?? {}) as { voters?: unknown; learners?: unknown }
        if (!isIdList(voters) || !isIdList(learners)) throw new SkeinError(ErrorCode.INVALID_REQUEST, 'changeMembership needs { voters: string[], learners: string[] }')
        const replica = this.leaderReplica(undefined)
        replica.changeMembership({ voters, learners })
        this.context.log.info({ voters, learners }, 'membership change proposed')
        return null
      }
      case ReplicaControl.transferLeadership: {
        const target = (message.payload as { target?: unknown } | null)?.target
        if (typeof target !== 'string') throw new SkeinError(ErrorCode.INVALID_REQUEST, 'transferLeadership needs { target: node id }')
        this.leaderReplica(undefined).transferLeadership(target)
        this.context.log.info({ target }, 'leadership transfer started')
        return null
      }
      default:
        throw new SkeinError(ErrorCode.INVALID_REQUEST, `a partition replica does not handle '${message.kind}'`)
    }
  }

  async stop(): Promise<void> {
    this.openRetry?.timer.cancel()
    this.openRetry = undefined
    this.services.hostedReplicas.delete(this.context.self)
    this.retentionTimer?.cancel()
    const replica = this.replica
    this.replica = undefined
    await replica?.close()
  }

  private onRaft(payload: unknown): void {
    const { m, r } = (payload ?? {}) as { m?: RaftMessage; r?: Uint8Array }
    if (this.replica === undefined || m === undefined || typeof m !== 'object') return // peers retry
    if (m.to !== this.context.nodeId) return
    this.replica.receive(m, r instanceof Uint8Array ? r : undefined)
  }

  /**
   * Opens the replica; if that fails on a disk error it is tried again after a backoff (the
   * broker sends `open` once per assignment, and a replica that never opens never catches up).
   */
  private async openOrRetry(request: ReplicaOpenRequest): Promise<void> {
    const failures = this.openRetry?.failures ?? 0
    this.openRetry?.timer.cancel()
    this.openRetry = undefined
    try {
      await this.open(request)
    } catch (error) {
      if (!isStorageError(error)) throw error
      const retryInMs = Math.min(REOPEN_BACKOFF_MS_MAX, REOPEN_BACKOFF_MS * 2 ** Math.min(failures, 16))
      this.context.log.error({ error: String(error), retryInMs }, 'replica could not be opened; trying again')
      const timer = this.context.env.clock.setTimer(retryInMs, () => this.context.tell(this.context.self, ReplicaControl.open, request))
      this.openRetry = { timer, failures: failures + 1 }
    }
  }

  private async open(request: ReplicaOpenRequest): Promise<void> {
    if (this.replica !== undefined && this.descriptor?.topicId === request.topicId) return
    const disk = this.context.env.disk
    const dir = partitionDir(this.topic, this.partition)
    const stored = (await loadDurableJson(disk, `${dir}/${DESCRIPTOR_FILE}`)) as PartitionDescriptor | undefined
    if (stored !== undefined && stored.topicId !== request.topicId) {
      // A topic of the same name was deleted and created again: the old data is not ours.
      this.context.log.info({ oldTopicId: stored.topicId, topicId: request.topicId }, 'removing the data of an older topic of the same name')
      this.services.hostedReplicas.delete(this.context.self)
      await this.replica?.close()
      this.replica = undefined
      await disk.removeTree(dir)
    }
    const descriptor: PartitionDescriptor = { topic: this.topic, partition: this.partition, topicId: request.topicId, voters: request.voters, configs: request.configs }
    if (stored === undefined || stored.topicId !== request.topicId || JSON.stringify(stored.configs) !== JSON.stringify(request.configs)) {
      await saveDurableJson(disk, dir, DESCRIPTOR_FILE, descriptor)
    }
    this.descriptor = descriptor
    if (this.replica !== undefined) return
    const settings = this.services.settings
    this.replica = await PartitionReplica.open(
      { disk, clock: this.context.env.clock, log: this.context.log, random: () => this.context.env.random.float() },
      {
        id: this.context.nodeId,
        voters: request.voters,
        dir,
        log: { ...logConfigFor(request.configs), ...settings.logOverrides },
        raft: settings.raft,
        tickMs: settings.raftTickMs,
        files: this.services.files,
        send: (message, records) => {
          this.context.tell(replicaActorId(this.topic, this.partition, message.to), ReplicaControl.raft, records === undefined ? { m: message } : { m: message, r: records })
        },
      },
    )
    this.services.hostedReplicas.set(this.context.self, { topic: this.topic, partition: this.partition, topicId: request.topicId, replica: this.replica })
    this.scheduleRetention()
    this.context.log.info({ topicId: request.topicId, voters: request.voters, logEndOffset: this.replica.logEndOffset }, 'replica opened')
  }

  private async remove(): Promise<void> {
    this.services.hostedReplicas.delete(this.context.self)
    this.retentionTimer?.cancel()
    const replica = this.replica
    this.replica = undefined
    this.descriptor = undefined
    await replica?.close()
    await this.context.env.disk.removeTree(partitionDir(this.topic, this.partition))
    this.context.log.info({}, 'replica removed')
  }

  /** The hosted replica; one stopped by a disk error (reopening) is still hosted: it answers as a non-leader. */
  private opened(): PartitionReplica {
    if (this.replica === undefined || (this.replica.isClosed && !this.replica.isStopped)) {
      throw new SkeinError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `${this.topic}/${this.partition} is not hosted on ${this.context.nodeId}`)
    }
    return this.replica
  }

  private async produce(request: ProduceRequest): Promise<ProduceResponse> {
    const replica = this.opened()
    // A follower names its leader; a leader handing over or still opening its epoch is refused by produce itself.
    if (replica.role !== 'leader') throw this.notLeader(replica)
    const records = request?.records
    if (!(records instanceof Uint8Array) || records.length === 0) throw new SkeinError(ErrorCode.INVALID_REQUEST, 'produce needs records: non-empty bytes of RecordBatch v2')
    const acks: Acks = request.acks === 0 ? 0 : request.acks === 1 ? 1 : request.acks === -1 ? 'all' : badAcks(request.acks)
    const leaderEpoch = typeof request.leaderEpoch === 'number' ? request.leaderEpoch : undefined
    const result = await replica.produce(records, acks, leaderEpoch)
    return { baseOffset: result.baseOffset, lastOffset: result.lastOffset, logAppendTimeMs: result.logAppendTimeMs, logStartOffset: replica.logStartOffset }
  }

  private async fetch(request: FetchRequest): Promise<FetchResponse> {
    const replica = this.leaderReplica(request?.leaderEpoch)
    const epoch = replica.epoch
    const offset = request?.offset
    const maxBytes = request?.maxBytes
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(maxBytes) || maxBytes < 1) {
      throw new SkeinError(ErrorCode.INVALID_REQUEST, 'fetch needs { offset: integer, maxBytes: integer >= 1 }')
    }
    if (offset < replica.logStartOffset || offset > replica.logEndOffset) {
      throw new SkeinError(ErrorCode.OFFSET_OUT_OF_RANGE, `offset ${offset} is outside ${this.topic}/${this.partition}'s log [${replica.logStartOffset}, ${replica.logEndOffset}]`)
    }
    const committed = isolationOf(request.isolation, 'fetch') === 'read_committed'
    const waitMs = Math.min(FETCH_WAIT_MS_MAX, Math.max(0, Number(request.maxWaitMs ?? 0) || 0))
    const readBytes = Math.min(maxBytes, committed ? FETCH_COMMITTED_BYTES_MAX : FETCH_BYTES_MAX)
    const minBytes = Math.min(readBytes, Math.max(1, Math.floor(Number(request.minBytes ?? 1)) || 1))
    // read_committed reads below the last stable offset, read_uncommitted below the high watermark.
    const limit = committed ? () => replica.lastStableOffset : () => replica.highWatermark
    const readAt = (): Promise<ReadResult & { abortedTransactions?: FetchAbortedTransaction[] }> => (committed ? replica.readCommitted(offset, readBytes) : replica.read(offset, readBytes))
    const clock = this.context.env.clock
    const deadlineMs = clock.nowMs() + waitMs
    let read = offset < limit() ? await readAt() : undefined
    // Held until minBytes of committed batches are there, or maxWaitMs: each commit re-reads,
    // and what is re-read is less than minBytes plus what the commit added, so it stays cheap.
    while ((read?.bytes.length ?? 0) < minBytes && clock.nowMs() < deadlineMs && this.fetchWaiters < FETCH_WAITERS_MAX && replica.role === 'leader') {
      await this.waitForCommit(replica, limit, limit(), deadlineMs - clock.nowMs())
      if (offset < limit()) read = await readAt()
    }
    // Leadership may have moved while the fetch was held (or the replica stopped and reopened
    // on a repaired, shorter log): only the leader of the epoch the fetch began in answers it.
    if (replica.role !== 'leader' || replica.epoch !== epoch) throw this.notLeader(replica)
    read ??= await readAt()
    const answer = { records: read.bytes, highWatermark: replica.highWatermark, lastStableOffset: replica.lastStableOffset, logStartOffset: replica.logStartOffset }
    return committed ? { ...answer, abortedTransactions: read.abortedTransactions ?? [] } : answer
  }

  private async listOffsets(request: ListOffsetsRequest): Promise<ListOffsetsResponse> {
    const replica = this.leaderReplica(undefined)
    const timestamp = request?.timestamp
    if (!Number.isSafeInteger(timestamp) || timestamp < -2) throw new SkeinError(ErrorCode.INVALID_REQUEST, 'listOffsets needs { timestamp: -1 (latest) | -2 (earliest) | ms >= 0 }')
    // Kafka's lastFetchableOffset: what a fetch of the same isolation could read up to.
    const latest = isolationOf(request?.isolation, 'listOffsets') === 'read_committed' ? replica.lastStableOffset : replica.highWatermark
    if (timestamp === -1) return { offset: latest, timestamp: -1 }
    if (timestamp === -2) return { offset: replica.logStartOffset, timestamp: -1 }
    const found = await replica.offsetForTimestamp(timestamp)
    return found === undefined || found.offset >= latest ? { offset: -1, timestamp: -1 } : found
  }

  /** From a transaction coordinator: the COMMIT or ABORT marker of a producer's transaction, answered once committed. */
  private async writeTxnMarker(request: WriteTxnMarkerRequest | null): Promise<{ offset: number }> {
    const replica = this.opened()
    if (replica.role !== 'leader') throw this.notLeader(replica)
    const { producerId, producerEpoch, commit, coordinatorEpoch } = request ?? ({} as Partial<WriteTxnMarkerRequest>)
    if (!Number.isSafeInteger(producerId) || !Number.isInteger(producerEpoch) || typeof commit !== 'boolean' || !Number.isInteger(coordinatorEpoch)) {
      throw new SkeinError(ErrorCode.INVALID_REQUEST, 'writeTxnMarker needs { producerId, producerEpoch, commit: boolean, coordinatorEpoch }')
    }
    return replica.writeTxnMarker({ producerId: producerId as number, producerEpoch: producerEpoch as number, commit, coordinatorEpoch: coordinatorEpoch as number })
  }

  /** Reads are served by the leader, which alone knows the high watermark for sure. */
  private leaderReplica(leaderEpoch: number | undefined): PartitionReplica {
    const replica = this.opened()
    if (replica.role !== 'leader') throw this.notLeader(replica)
    if (typeof leaderEpoch === 'number' && leaderEpoch >= 0 && leaderEpoch < replica.epoch) {
      throw new SkeinError(ErrorCode.FENCED_LEADER_EPOCH, `leader epoch ${leaderEpoch} is older than the current ${replica.epoch}`)
    }
    return replica
  }

  /** NOT_LEADER_OR_FOLLOWER naming the leader this replica follows, with its address, so the client goes there. */
  private notLeader(replica: PartitionReplica): SkeinError {
    const leader = replica.leader === this.context.nodeId ? undefined : replica.leader
    const hint = leader === undefined ? undefined : { nodeId: leader, address: this.services.addressOf(leader), epoch: replica.epoch }
    return new SkeinError(ErrorCode.NOT_LEADER_OR_FOLLOWER, `${this.context.nodeId} does not lead ${this.topic}/${this.partition} (leader: ${leader ?? 'unknown'})`, { leader: hint })
  }

  /**
   * Resolves once `limit()` (the high watermark, or the last stable offset) passes `offset`, or
   * after `waitMs`. Both move only when the high watermark does (a marker settles once it is
   * committed), so each commit is when to look.
   */
  private waitForCommit(replica: PartitionReplica, limit: () => number, offset: number, waitMs: number): Promise<void> {
    this.fetchWaiters++
    return new Promise((resolve) => {
      let timer: TimerHandle | undefined
      let settled = false
      const done = (): void => {
        if (settled) return
        settled = true
        unsubscribe()
        timer?.cancel()
        this.fetchWaiters--
        resolve()
      }
      const unsubscribe = replica.onCommit(() => {
        if (limit() > offset) done()
      })
      timer = this.context.env.clock.setTimer(waitMs, done)
    })
  }

  private status(): ReplicaStatus {
    const replica = this.opened()
    const ends = replica.role === 'leader' ? Object.fromEntries(replica.replicaEnds()) : undefined
    return {
      topic: this.topic,
      partition: this.partition,
      nodeId: this.context.nodeId,
      role: replica.role,
      epoch: replica.epoch,
      leader: replica.leader,
      highWatermark: replica.highWatermark,
      logEndOffset: replica.logEndOffset,
      logStartOffset: replica.logStartOffset,
      replicaEnds: ends,
      voters: replica.membership.voters,
      learners: replica.membership.learners,
    }
  }

  private scheduleRetention(): void {
    this.retentionTimer = this.context.env.clock.setTimer(this.services.settings.retentionCheckIntervalMs, () => {
      const replica = this.replica
      if (replica === undefined) return
      replica.enforceRetention().catch((error: unknown) => this.context.log.warn({ error: String(error) }, 'retention failed'))
      this.scheduleRetention()
    })
  }
}

function isIdList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((id) => typeof id === 'string' && id.length > 0)
}

function badAcks(acks: unknown): never {
  throw new SkeinError(ErrorCode.INVALID_REQUEST, `acks must be 0, 1 or -1 (all), got ${String(acks)}`)
}

/** A request's isolation (default read_uncommitted); anything else is INVALID_REQUEST. */
function isolationOf(value: unknown, kind: string): FetchIsolation {
  const isolation = value ?? 'read_uncommitted'
  if (isolation !== 'read_uncommitted' && isolation !== 'read_committed') {
    throw new SkeinError(ErrorCode.INVALID_REQUEST, `${kind} isolation must be 'read_uncommitted' or 'read_committed', got ${JSON.stringify(isolation)}`)
  }
  return isolation
}
