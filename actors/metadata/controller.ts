import type { Actor, ActorContext, Message } from '../../src/actor/index.js'
import { replyLater } from '../../src/actor/index.js'
import type { TimerHandle } from '../../src/env/index.js'
import { decodeRecordBatches, encodeRecordBatch } from '../../src/log/record-batch.js'
import type { RaftMessage } from '../../src/raft/index.js'
import { controllerActorId } from '../../src/wire/broker-protocol.js'
import { ErrorCode, SkeinError } from '../../src/wire/index.js'
import { PartitionReplica, membershipOfControlRecord } from '../partition/replica.js'
import type { NodeServices } from '../services.js'
import { type ApplyOutcome, type ClusterMetadata, EMPTY_METADATA, applyMetadataCommand, metadataToJson } from './state.js'
import { type VoterStep, metadataReplicaBootstrap, nextVoterStep } from './voter-replacement.js'
import { type ControllerMembership, type ObservedMembership, parseObserved } from './voters.js'
import { DownSince } from '../down-since.js'

/** Message kinds of the metadata controller. */
export const ControllerRequest = {
  /** tell { membership: ControllerMembership }: host this node's member of the metadata group (idempotent). */
  open: 'open',
  /** ask: close this node's metadata replica and delete its data (the node left the group; idempotent). */
  remove: 'remove',
  /** tell (to itself, on a timer): the leader looks for a voter to replace (voter-replacement.ts). */
  checkVoters: 'checkVoters',
  /** tell { m, r? }: Raft traffic between voters. */
  raft: 'raft',
  /** ask { command }: leader only; answers the command's ApplyOutcome once it is committed and applied. */
  propose: 'propose',
  /** ask { sinceVersion, waitMs }: leader only; answers MetadataSnapshot once the version passes sinceVersion or the wait ends. */
  read: 'read',
  /** ask: this voter's view (role, epoch, leader, version). */
  status: 'status',
} as const

export interface MetadataSnapshot {
  /** metadataToJson of the applied state. */
  readonly metadata: unknown
  readonly version: number
  readonly leader: string
  /** The group's committed membership as applied here (the founding voters until the log changes it). */
  readonly voters: readonly string[]
  readonly learners: readonly string[]
  /** Log offset of the membership record `voters` come from; -1 for the founding voters. */
  readonly membershipOffset: number
}

export interface ControllerStatus {
  readonly nodeId: string
  readonly role: string
  readonly epoch: number
  readonly leader?: string
  readonly version: number
  readonly appliedOffset: number
  readonly highWatermark: number
  /** The membership in force in this replica's log (committed or not). */
  readonly voters: readonly string[]
  readonly learners: readonly string[]
}

/** Where the metadata log and its Raft state live, relative to the node's data directory. */
export const METADATA_DIR = 'metadata'
/** Reads waiting for a newer version at one controller; beyond it they are answered at once. */
export const METADATA_READERS_MAX = 10_000
/** Longest a read may wait for a change. */
export const METADATA_READ_WAIT_MS_MAX = 60_000
/** Bytes of the metadata log read per apply step. */
const APPLY_READ_BYTES_MAX = 1024 * 1024
/** Pause before applying again after a read of the metadata log failed (the replica may be reopening). */
const APPLY_RETRY_MS = 250
/** A metadata command is small JSON; anything bigger is refused before it reaches the log. */
export const METADATA_COMMAND_BYTES_MAX = 512 * 1024

/** Applied outcomes remembered for late proposers; proposals are serialized per topic, so few are ever in flight. */
const RECENT_OUTCOMES_MAX = 1_024

interface Reader {
  readonly sinceVersion: number
  readonly resolve: () => void
}

/**
 * One voter of the cluster metadata quorum (`controller/<node>`, pinned): a Raft group over a
 * log of JSON commands whose committed prefix every voter applies, in order, to the same
 * ClusterMetadata. Commands are compare-and-set on the version, so two proposers that read the
 * same version cannot both win, whoever believes itself leader. Only the leader answers
 * proposals and reads; others say NOT_CONTROLLER and name the leader they know.
 */
export class MetadataControllerActor implements Actor {
  private replica: PartitionReplica | undefined
  /** The committed membership as applied from the log (founding voters before any change record). */
  private membership: ObservedMembership = { voters: [], learners: [], offset: -1 }
  /** Leader only: when each member of the group was first seen not alive; cleared when not leading. */
  private readonly downSince = new DownSince()
  private checkTimer: TimerHandle | undefined
  private applyRetryTimer: TimerHandle | undefined
  private foundingCount = 0
  private state: ClusterMetadata = EMPTY_METADATA
  /** Next offset of the metadata log to apply. */
  private appliedOffset = 0
  private applying: Promise<void> | undefined
  /** Proposals waiting for their offset to be applied: offset -> settle. */
  private readonly proposals = new Map<number, (outcome: ApplyOutcome) => void>()
  private readers: Reader[] = []
  /** Outcomes of the latest applied commands by offset, for proposers that arrive after the apply. */
  private readonly recentOutcomes = new Map<number, ApplyOutcome>()

  constructor(
    private readonly context: ActorContext,
    private readonly services: NodeServices,
  ) {}

  receive(message: Message): unknown {
    switch (message.kind) {
      case ControllerRequest.raft:
        return this.onRaft(message.payload)
      case ControllerRequest.open:
        return this.open(message.payload as { membership?: ControllerMembership } | null)
      case ControllerRequest.remove:
        return this.remove()
      case ControllerRequest.checkVoters:
        return this.checkVoters()
      case ControllerRequest.propose:
        return replyLater(this.propose((message.payload as { command?: unknown } | null)?.command))
      case ControllerRequest.read:
        return replyLater(this.read(message.payload as { sinceVersion?: unknown; waitMs?: unknown } | null))
      case ControllerRequest.status:
        return this.status()
      default:
        throw new SkeinError(ErrorCode.INVALID_REQUEST, `the metadata controller does not handle '${message.kind}'`)
    }
  }

  async stop(): Promise<void> {
    const replica = this.replica
    this.replica = undefined
    this.checkTimer?.cancel()
    this.applyRetryTimer?.cancel()
    this.wakeReaders(Number.MAX_SAFE_INTEGER)
    await replica?.close()
  }

  private onRaft(payload: unknown): void {
    const { m, r } = (payload ?? {}) as { m?: RaftMessage; r?: Uint8Array }
    if (this.replica === undefined || m === undefined || typeof m !== 'object' || m.to !== this.context.nodeId) return
    this.replica.receive(m, r instanceof Uint8Array ? r : undefined)
  }

  private async open(request: { membership?: ControllerMembership } | null): Promise<void> {
    if (this.replica !== undefined) return
    const membership = request?.membership
    if (membership === undefined || !Array.isArray(membership.founding) || membership.founding.length === 0) throw new SkeinError(ErrorCode.INVALID_REQUEST, 'open needs { membership }')
    const disk = this.context.env.disk
    const bootstrap = metadataReplicaBootstrap(this.context.nodeId, membership, await disk.exists(METADATA_DIR))
    if (bootstrap === undefined) throw new Error(`invariant: ${this.context.nodeId} opened as a metadata member of ${JSON.stringify(membership)}`)
    this.foundingCount = new Set(membership.founding).size
    this.membership = { voters: [...new Set(membership.founding)].sort(), learners: [], offset: -1 }
    const settings = this.services.settings
    const replica = await PartitionReplica.open(
      { disk, clock: this.context.env.clock, log: this.context.log, random: () => this.context.env.random.float() },
      {
        id: this.context.nodeId,
        voters: bootstrap.voters,
        learners: bootstrap.learners,
        dir: METADATA_DIR,
        // The metadata log is small and must never lose a committed change: fsync always, keep forever.
        log: { flush: { mode: 'always' }, retentionMs: undefined, retentionBytes: undefined, segmentBytesMax: 64 * 1024 * 1024 },
        raft: settings.raft,
        tickMs: settings.raftTickMs,
        files: this.services.files,
        send: (message, records) => {
          this.context.tell(controllerActorId(message.to), ControllerRequest.raft, records === undefined ? { m: message } : { m: message, r: records })
        },
      },
    )
    this.replica = replica
    replica.onCommit(() => this.scheduleApply())
    this.scheduleVoterCheck()
    this.context.log.info({ voters: bootstrap.voters, learners: bootstrap.learners, membership: replica.membership }, 'metadata controller opened')
  }

  /** This node left the metadata group (a committed change says so): its replica and data go. */
  private async remove(): Promise<void> {
    const replica = this.replica
    this.replica = undefined
    this.checkTimer?.cancel()
    this.checkTimer = undefined
    this.downSince.clear()
    await replica?.close()
    await this.applying
    const existed = await this.context.env.disk.exists(METADATA_DIR)
    await this.context.env.disk.removeTree(METADATA_DIR)
    // Proposers and readers waiting here are answered now: this node holds no metadata any more.
    for (const [offset, settle] of this.proposals) settle({ ok: false, code: ErrorCode.NOT_CONTROLLER.code, message: `metadata offset ${offset}: ${this.context.nodeId} left the metadata group` })
    this.proposals.clear()
    this.recentOutcomes.clear()
    this.wakeReaders(Number.MAX_SAFE_INTEGER)
    this.state = EMPTY_METADATA
    this.appliedOffset = 0
    this.membership = { voters: [], learners: [], offset: -1 }
    if (replica !== undefined || existed) this.context.log.info({}, 'metadata replica removed: this node is no longer in the metadata group')
  }

  private leader(): PartitionReplica {
    const replica = this.replica
    if (replica === undefined) throw new SkeinError(ErrorCode.NOT_CONTROLLER, `${this.context.nodeId} is not a metadata voter`)
    if (!replica.acceptsWrites) {
      const leader = replica.leader === this.context.nodeId ? undefined : replica.leader
      throw new SkeinError(ErrorCode.NOT_CONTROLLER, `${this.context.nodeId} does not lead the metadata quorum (leader: ${leader ?? 'unknown'})`, {
        leader: leader === undefined ? undefined : { nodeId: leader, address: this.services.addressOf(leader), epoch: replica.epoch },
      })
    }
    return replica
  }

  private async propose(command: unknown): Promise<ApplyOutcome> {
    const replica = this.leader()
    const value = new TextEncoder().encode(JSON.stringify(command ?? null))
    if (value.length > METADATA_COMMAND_BYTES_MAX) throw new SkeinError(ErrorCode.MESSAGE_TOO_LARGE, `a metadata command of ${value.length} bytes exceeds ${METADATA_COMMAND_BYTES_MAX}`)
    const batch = encodeRecordBatch({ records: [{ key: null, value, timestamp: Math.floor(this.context.env.clock.wallMs()) }] })
    const appended = await replica.produce(batch, 'all')
    // The apply loop may have passed the offset between the commit and this continuation.
    const known = this.recentOutcomes.get(appended.baseOffset)
    if (known !== undefined) return known
    if (this.appliedOffset > appended.baseOffset) throw new SkeinError(ErrorCode.REQUEST_TIMED_OUT, `the outcome of metadata offset ${appended.baseOffset} is no longer known`)
    return new Promise((resolve) => this.proposals.set(appended.baseOffset, resolve))
  }

  private async read(request: { sinceVersion?: unknown; waitMs?: unknown } | null): Promise<MetadataSnapshot> {
    this.leader()
    const sinceVersion = typeof request?.sinceVersion === 'number' ? request.sinceVersion : -1
    const waitMs = Math.min(METADATA_READ_WAIT_MS_MAX, Math.max(0, typeof request?.waitMs === 'number' ? request.waitMs : 0))
    if (this.state.version <= sinceVersion && waitMs > 0 && this.readers.length < METADATA_READERS_MAX) {
      await new Promise<void>((resolve) => {
        let timer: TimerHandle | undefined
        const reader: Reader = {
          sinceVersion,
          resolve: () => {
            timer?.cancel()
            resolve()
          },
        }
        this.readers.push(reader)
        timer = this.context.env.clock.setTimer(waitMs, () => {
          this.readers = this.readers.filter((r) => r !== reader)
          resolve()
        })
      })
    }
    if (this.replica === undefined) throw new SkeinError(ErrorCode.NOT_CONTROLLER, `${this.context.nodeId} left the metadata group`)
    return this.snapshot()
  }

  private snapshot(): MetadataSnapshot {
    const { voters, learners, offset } = this.membership
    return { metadata: metadataToJson(this.state), version: this.state.version, leader: this.context.nodeId, voters, learners, membershipOffset: offset }
  }

  private status(): ControllerStatus {
    const replica = this.replica
    return {
      nodeId: this.context.nodeId,
      role: replica?.role ?? 'none',
      epoch: replica?.epoch ?? 0,
      leader: replica?.leader,
      version: this.state.version,
      appliedOffset: this.appliedOffset,
      highWatermark: replica?.highWatermark ?? 0,
      voters: replica?.membership.voters ?? [],
      learners: replica?.membership.learners ?? [],
    }
  }

  private scheduleVoterCheck(): void {
    this.checkTimer?.cancel()
    this.checkTimer = this.context.env.clock.setTimer(this.services.settings.rebalanceIntervalMs, () => {
      this.checkTimer = undefined
      if (this.replica !== undefined) this.context.tell(this.context.self, ControllerRequest.checkVoters, null)
    })
  }

  /**
   * Leader only: watches which members of the group gossip shows down, and for how long, and
   * proposes the next single-server change replacing a voter dead past controllerReplaceAfterMs
   * (nextVoterStep). Acts only on a committed, applied membership: while a change is pending,
   * its commit comes first. The down-since clock restarts when leadership moves.
   */
  private checkVoters(): void {
    const replica = this.replica
    if (replica === undefined || replica.isClosed || this.checkTimer !== undefined) return
    this.scheduleVoterCheck()
    if (replica.role !== 'leader') {
      this.downSince.clear()
      return
    }
    const nowMs = this.context.env.clock.nowMs()
    const live = this.services.liveMembers()
    const liveIds = new Set(live.map((member) => member.id))
    const { voters, learners } = replica.membership
    const deadLong = this.downSince.observe([...voters, ...learners], liveIds, nowMs, this.services.settings.controllerReplaceAfterMs)
    if (!sameIds(voters, this.membership.voters) || !sameIds(learners, this.membership.learners)) return
    const step = nextVoterStep({
      view: { leader: this.context.nodeId, voters, learners, ends: Object.fromEntries(replica.replicaEnds()), highWatermark: replica.highWatermark },
      voterCount: this.foundingCount,
      live,
      deadLong,
    })
    if (step !== undefined) this.proposeStep(replica, step)
  }

  private proposeStep(replica: PartitionReplica, step: VoterStep): void {
    try {
      replica.changeMembership({ voters: step.voters, learners: step.learners })
      this.context.log.info({ step: step.kind, node: step.node, voters: step.voters, learners: step.learners }, 'metadata group membership change proposed')
    } catch (error) {
      this.context.log.debug({ step: step.kind, node: step.node, error: String(error) }, 'metadata group membership change refused')
    }
  }

  /** Applies the committed records not yet applied, one read at a time, in log order. */
  private scheduleApply(): void {
    if (this.applying !== undefined || this.applyRetryTimer !== undefined) return
    let failed = false
    this.applying = this.applyCommitted()
      .catch((error: unknown) => {
        failed = true
        this.context.log.error({ error: String(error) }, 'applying metadata failed; trying again')
      })
      .finally(() => {
        this.applying = undefined
        const replica = this.replica
        if (replica === undefined || this.appliedOffset >= replica.highWatermark) return
        // After a failed read, or while the replica is stopped by a disk error (reopening, it
        // has nothing to read), try again later: at once would spin without ever yielding.
        if (!failed && !replica.isClosed) {
          this.scheduleApply()
          return
        }
        this.applyRetryTimer = this.context.env.clock.setTimer(APPLY_RETRY_MS, () => {
          this.applyRetryTimer = undefined
          this.scheduleApply()
        })
      })
  }

  private async applyCommitted(): Promise<void> {
    const replica = this.replica
    while (replica !== undefined && !replica.isClosed && this.appliedOffset < replica.highWatermark) {
      const read = await replica.read(this.appliedOffset, APPLY_READ_BYTES_MAX)
      if (read.batchCount === 0) break
      for (const batch of decodeRecordBatches(read.bytes)) {
        for (const record of batch.records) {
          if (record.offset < this.appliedOffset) continue
          if (!batch.isControl) this.applyRecord(record.offset, record.value)
          else this.applyControlRecord(record.offset, record.key, record.value)
          this.appliedOffset = record.offset + 1
        }
        this.appliedOffset = Math.max(this.appliedOffset, batch.baseOffset + batch.lastOffsetDelta + 1)
      }
    }
    // Proposals below the applied offset whose record did not carry a command (never expected) must not hang.
    for (const [offset, settle] of this.proposals) {
      if (offset < this.appliedOffset) {
        this.proposals.delete(offset)
        settle({ ok: false, code: ErrorCode.UNKNOWN_SERVER_ERROR.code, message: `metadata record at ${offset} was not a command` })
      }
    }
    this.wakeReaders(this.state.version)
  }

  private applyRecord(offset: number, value: Uint8Array | null): void {
    let command: unknown
    try {
      command = JSON.parse(new TextDecoder().decode(value ?? new Uint8Array(0)))
    } catch {
      command = undefined
    }
    const { state, outcome } = applyMetadataCommand(this.state, command)
    this.state = state
    if (!outcome.ok) this.context.log.debug({ offset, code: outcome.code, reason: outcome.message }, 'metadata command refused')
    this.recentOutcomes.set(offset, outcome)
    if (this.recentOutcomes.size > RECENT_OUTCOMES_MAX) this.recentOutcomes.delete(this.recentOutcomes.keys().next().value as number)
    const settle = this.proposals.get(offset)
    if (settle !== undefined) {
      this.proposals.delete(offset)
      settle(outcome)
    }
  }

  /** A committed membership change of the group (KRaft's Voters control record): what snapshots report. */
  private applyControlRecord(offset: number, key: Uint8Array | null, value: Uint8Array | null): void {
    let parsed: ObservedMembership | undefined
    try {
      const membership = membershipOfControlRecord(key, value)
      if (membership === undefined) return
      parsed = parseObserved({ ...membership, offset })
    } catch {
      parsed = undefined
    }
    if (parsed === undefined) {
      this.context.log.error({ offset }, 'metadata membership record unreadable')
      return
    }
    this.membership = parsed
    this.context.log.info({ voters: parsed.voters, learners: parsed.learners, offset }, 'metadata group membership committed')
    // Brokers long-polling for a newer version learn the change now, not at their next poll.
    this.wakeReaders(Number.MAX_SAFE_INTEGER)
  }

  private wakeReaders(version: number): void {
    const still: Reader[] = []
    for (const reader of this.readers) {
      if (version > reader.sinceVersion) reader.resolve()
      else still.push(reader)
    }
    this.readers = still
  }
}

function sameIds(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((id, index) => id === b[index])
}
