/**
 * Looks at the replicas from outside, as the broker simulator does (sim/broker/scenario.ts):
 * every hosted replica's role, epoch, leader and high watermark often, its committed log every
 * so often, and both once more at the end, all handed to the checker. It also keeps the Raft
 * voter sets seen (metadata and partitions), which the fault envelope spares a majority of.
 */
import type { PartitionReplica } from '../../actors/partition/replica.js'
import { type CommittedRead, type FinalState, type ReplicaRef, partitionKey } from '../broker/checker.js'
import { readCommitted, statusOf } from '../broker/scenario.js'
import type { SimCluster } from '../cluster.js'
import { settle } from '../settle.js'
import type { World } from '../world.js'
import { AnomalyKind, type FullChecker } from './checker.js'

/** How often every hosted replica's status is looked at. */
const STATUS_SAMPLE_EVERY_MS = 50
/** How often every hosted replica's committed log is read back. */
const LOG_SAMPLE_EVERY_MS = 2_000
/** Bound on one final read of one replica's committed log. */
const FINAL_READ_MS_MAX = 30_000

export class ReplicaObserver {
  /** Sorted voter lists seen, by their joined ids. */
  readonly groups = new Map<string, readonly string[]>()
  private readonly world: World
  /** Which opening of a replica within its process each PartitionReplica object is. */
  private readonly instances = new WeakMap<PartitionReplica, { readonly repairs: number; readonly instance: number }>()
  private readonly instanceCounts = new Map<string, number>()
  private sampling = false

  constructor(
    private readonly cluster: SimCluster,
    private readonly checker: FullChecker,
    /**
     * Whether a failed read of a node's log is the node doing right during the fault phase: a
     * log with a flipped bit must refuse to serve the corrupt batch, a log on a full disk goes
     * offline. After healing, only the damaged node (`damaged`) is excused: a replica whose
     * corrupt batch the node itself never reads stays corrupt (nothing scrubs logs), told to
     * `info`, not an anomaly; what the clients see of it the liveness checks judge.
     */
    private readonly excused: (nodeId: string, error: unknown) => boolean = () => false,
    private readonly damaged: () => string | undefined = () => undefined,
    private readonly info: (line: string) => void = () => undefined,
  ) {
    this.world = cluster.world
  }

  addGroup(voters: readonly string[]): void {
    const sorted = [...voters].sort()
    this.groups.set(sorted.join(','), sorted)
  }

  start(): void {
    this.sampling = true
    const statusTimer = (): void => {
      if (!this.sampling) return
      this.sampleStatuses()
      this.world.scheduler.scheduleAfter(STATUS_SAMPLE_EVERY_MS, 'check:status', statusTimer)
    }
    const logTimer = (): void => {
      if (!this.sampling) return
      this.sampleLogs()
      this.world.scheduler.scheduleAfter(LOG_SAMPLE_EVERY_MS, 'check:logs', logTimer)
    }
    statusTimer()
    this.world.scheduler.scheduleAfter(LOG_SAMPLE_EVERY_MS, 'check:logs', logTimer)
  }

  stop(): void {
    this.sampling = false
  }

  /** Every replica's status and whole committed log, now, for the final state. */
  async final(partitions: FinalState['partitions'], clientReads: FinalState['clientReads']): Promise<FinalState> {
    this.sampleStatuses()
    const reads: CommittedRead[] = []
    const statuses: FinalState['statuses'][number][] = []
    for (const { nodeId, hosted } of this.hostedReplicas()) {
      const ref = this.refOf(nodeId, hosted)
      statuses.push({ replica: ref, status: statusOf(hosted.replica) })
      const read = await settle(
        this.world,
        readCommitted(hosted.replica, ref, () => this.world.nowMs(), true).catch((error: unknown) => {
          if (hosted.replica.isClosed) return undefined
          const detail = `${partitionKey(ref.topic, ref.partition)}@${nodeId}: ${String(error)}`
          if (nodeId === this.damaged()) this.info(detail)
          else this.checker.note(AnomalyKind.unreadableLog, this.world.nowMs(), detail)
          return undefined
        }),
        FINAL_READ_MS_MAX,
      )
      if (read !== undefined) reads.push(read)
    }
    return { atMs: this.world.nowMs(), partitions, statuses, reads, clientReads }
  }

  /**
   * Replicas still hosted on a running node that stopped themselves (after a disk error the
   * replica closes and waits for a process restart), as `topic/partition@node`.
   */
  stoppedReplicas(): string[] {
    const out: string[] = []
    for (const { nodeId, hosted } of this.hostedReplicas()) if (hosted.replica.isClosed) out.push(`${partitionKey(hosted.topic, hosted.partition)}@${nodeId}`)
    return out
  }

  private *hostedReplicas(): Generator<{ nodeId: string; hosted: { topic: string; partition: number; replica: PartitionReplica } }> {
    for (const nodeId of this.cluster.nodeIds) {
      if (!this.world.process(nodeId).alive) continue
      const node = this.cluster.nodes.get(nodeId)
      if (node?.services === undefined) continue
      for (const hosted of [...node.services.hostedReplicas.values()]) yield { nodeId, hosted }
    }
  }

  private refOf(nodeId: string, hosted: { topic: string; partition: number; replica: PartitionReplica }): ReplicaRef {
    const incarnation = this.world.process(nodeId).incarnation
    // A replica that cut a corrupt batch from its log starts over as a new instance: its high
    // watermark goes back to the cut, as a restarted process's would.
    let known = this.instances.get(hosted.replica)
    if (known === undefined || known.repairs !== hosted.replica.repairs) {
      const key = `${hosted.topic}/${hosted.partition}@${nodeId}#${incarnation}`
      known = { repairs: hosted.replica.repairs, instance: (this.instanceCounts.get(key) ?? 0) + 1 }
      this.instanceCounts.set(key, known.instance)
      this.instances.set(hosted.replica, known)
    }
    const instance = known.instance
    return { topic: hosted.topic, partition: hosted.partition, node: nodeId, incarnation, instance }
  }

  private sampleStatuses(): void {
    const atMs = this.world.nowMs()
    for (const nodeId of this.cluster.nodeIds) {
      if (!this.world.process(nodeId).alive) continue
      const metadataGroup = this.cluster.nodes.get(nodeId)?.services?.controllerMembership()
      if (metadataGroup !== undefined) this.addGroup(metadataGroup.voters)
    }
    for (const { nodeId, hosted } of this.hostedReplicas()) {
      if (hosted.replica.isClosed) continue
      this.checker.observeStatus(atMs, this.refOf(nodeId, hosted), statusOf(hosted.replica))
      this.addGroup(hosted.replica.membership.voters)
    }
  }

  /** Starts reading every live replica's committed log; each result is checked when it arrives. */
  private sampleLogs(): void {
    for (const { nodeId, hosted } of this.hostedReplicas()) {
      const ref = this.refOf(nodeId, hosted)
      const incarnation = ref.incarnation
      const current = (): boolean => this.world.process(nodeId).alive && this.world.process(nodeId).incarnation === incarnation
      readCommitted(hosted.replica, ref, () => this.world.nowMs(), false).then(
        (read) => {
          if (read !== undefined && current()) this.checker.observeCommitted(read)
        },
        (error: unknown) => {
          // A replica closed under the read (moved away, or its node crashed) is no finding.
          if (hosted.replica.isClosed || !current() || this.excused(nodeId, error)) return
          this.checker.note(AnomalyKind.unreadableLog, this.world.nowMs(), `${partitionKey(ref.topic, ref.partition)}@${nodeId}: ${String(error)}`)
        },
      )
    }
  }
}
