/**
 * Known bugs in the node code that the full-system simulator finds, by their signature, so a
 * sweep can tell "this seed hit a known, reported bug" from "this seed found something new".
 * The runner still reports every anomaly as one (`result=` is never softened); the test sweep
 * (test/sim/full-sim.test.ts) lets a seed pass only if each of its anomalies matches a known
 * issue here, and prints how many seeds each issue took. Remove an entry once it is fixed.
 *
 * Signatures are narrow on purpose: an anomaly is explained only by a kind the issue causes,
 * in a run whose final state shows the issue's cause (a replica that stopped itself, a replica
 * of the damaged node still corrupt after healing, a corrupt batch header on that node).
 */
import { type Anomaly, AnomalyKind } from './checker.js'
import type { FullSimResult } from './scenario.js'

export const KnownIssue = {
  /**
   * A storage error (ENOSPC on a full disk; also a corrupt batch met while running an effect)
   * stops the partition replica for good: its log goes offline (src/log/log.ts `failure`), the
   * replica closes itself (actors/partition/replica.ts `enqueue`: "a restart recovers it from
   * disk"), yet it stays hosted and nothing reopens it once the disk has space again (nor is a
   * replica that could not be created on the full disk created later). The cluster does not
   * converge (that replica never catches up; a stopped leader stays "leader" of an old epoch),
   * and groups whose coordinator it is stall, until an operator restarts the node.
   */
  stoppedReplica: 'stopped-replica-never-reopened',
  /**
   * A batch whose CRC no longer matches (a flipped bit) makes every read through it fail with
   * KAFKA_STORAGE_ERROR ("corrupt bytes in a segment"), for good: the replica is neither
   * repaired (truncated and fetched again from the leader) nor stopped, and a leader with one
   * keeps leading while it cannot serve its followers or consumers past that batch. Liveness
   * fails after healing (the client cannot read the partition, the group cannot read its
   * offsets).
   */
  corruptReplica: 'corrupt-replica-never-repaired',
  /**
   * A flipped bit in a batch's header fields outside its CRC (base offset, batch length,
   * partition leader epoch: Kafka's record batch v2 leaves them out of the CRC) is not
   * detected: the replica serves the batch as committed with a wrong base offset or epoch
   * (divergent prefix, offsets not contiguous, epochs going back, a LeaderChange stamped with
   * another epoch), or its reads silently stop at the batch (a leader then serves a log that
   * ends early: consumers stall, acknowledged records read as lost). A huge corrupt epoch
   * could also make that log look newest to a Raft election.
   */
  corruptHeaderServed: 'corrupt-batch-header-served',
} as const
export type KnownIssue = (typeof KnownIssue)[keyof typeof KnownIssue]

/** Kinds a run shows when the cluster cannot finish healing. */
const LIVENESS_KINDS: ReadonlySet<string> = new Set([AnomalyKind.liveness, AnomalyKind.notProcessed, AnomalyKind.unseen])
/** Kinds a corrupt batch header served as committed shows, naming the damaged replica. */
const HEADER_KINDS: ReadonlySet<string> = new Set([AnomalyKind.divergentPrefix, AnomalyKind.offsetsNotContiguous, AnomalyKind.epochsBackwards, AnomalyKind.twoLeaders])
/** What else a corrupt header shows on the same partition when the damaged replica leads it (it serves a log that ends early). */
const HEADER_FOLLOW_KINDS: ReadonlySet<string> = new Set([...LIVENESS_KINDS, ...HEADER_KINDS, AnomalyKind.lostWrite, AnomalyKind.inconsistentOffsets])
/** `topic/partition` keys an anomaly's detail and records name. */
const PARTITION_KEY = /([\w.-]+\/\d+)(?=@|\s|\[|:)/g
/** How a log that went offline after a disk error answers reads (src/log/log.ts). */
const OFFLINE_LOG = /offline after a disk error/

export interface Explained {
  readonly known: ReadonlyMap<KnownIssue, readonly Anomaly[]>
  readonly unexplained: readonly Anomaly[]
}

type Evidence = Pick<FullSimResult, 'anomalies' | 'damagedNode' | 'diskFullNodes' | 'stoppedReplicas' | 'corruptReplicas'>

/**
 * Sorts a run's anomalies into those a known issue explains and the rest. Two passes: first
 * the anomalies that name their cause (a stopped or corrupt replica, a node whose disk was
 * full, a corrupt header on the damaged node); then the liveness anomalies that name no node
 * ("did not converge", records never read) take the cause the final state shows (a stopped
 * or a corrupt replica, if only one kind), else the one cause the first pass found.
 */
export function explainAnomalies(result: Evidence): Explained {
  const issues = result.anomalies.map((anomaly) => specificIssue(anomaly, result))
  // Partitions a corrupt header was seen on: what else goes wrong on them follows from it.
  const corruptHeaderPartitions = new Set(result.anomalies.filter((_, i) => issues[i] === KnownIssue.corruptHeaderServed).flatMap(partitionsNamed))
  result.anomalies.forEach((anomaly, i) => {
    if (issues[i] === undefined && HEADER_FOLLOW_KINDS.has(anomaly.kind) && partitionsNamed(anomaly).some((key) => corruptHeaderPartitions.has(key))) issues[i] = KnownIssue.corruptHeaderServed
  })
  const found = new Set(issues.filter((issue): issue is KnownIssue => issue !== undefined))
  const only = found.size === 1 ? [...found][0] : undefined
  const known = new Map<KnownIssue, Anomaly[]>()
  const unexplained: Anomaly[] = []
  result.anomalies.forEach((anomaly, i) => {
    const issue = issues[i] ?? (LIVENESS_KINDS.has(anomaly.kind) ? (generalCause(result) ?? only) : undefined)
    if (issue === undefined) {
      unexplained.push(anomaly)
      return
    }
    const list = known.get(issue) ?? []
    list.push(anomaly)
    known.set(issue, list)
  })
  return { known, unexplained }
}

/** The known issue an anomaly names the cause of, if any. */
function specificIssue(anomaly: Anomaly, result: Evidence): KnownIssue | undefined {
  const names = (nodeId: string): boolean => new RegExp(`\\b${nodeId}\\b`).test(anomaly.detail)
  if (anomaly.kind === AnomalyKind.unreadableLog && OFFLINE_LOG.test(anomaly.detail)) return KnownIssue.stoppedReplica
  if (LIVENESS_KINDS.has(anomaly.kind)) {
    if (anomaly.detail.includes(':stopped ')) return KnownIssue.stoppedReplica
    if (result.stoppedReplicas.some((replica) => names(replica.slice(replica.indexOf('@') + 1)))) return KnownIssue.stoppedReplica
    if (result.diskFullNodes.some(names)) return KnownIssue.stoppedReplica
    if (result.damagedNode !== undefined && result.corruptReplicas.length > 0 && names(result.damagedNode)) return KnownIssue.corruptReplica
    return undefined
  }
  const damaged = result.damagedNode
  if (damaged !== undefined && HEADER_KINDS.has(anomaly.kind) && (anomaly.detail.includes(`@${damaged}#`) || anomaly.detail.includes('@client-fetch#'))) {
    return KnownIssue.corruptHeaderServed
  }
  return undefined
}

/** For liveness anomalies naming no node: what the final state shows, if it shows one cause. */
function generalCause(result: Evidence): KnownIssue | undefined {
  if (result.stoppedReplicas.length > 0 && result.corruptReplicas.length === 0) return KnownIssue.stoppedReplica
  if (result.corruptReplicas.length > 0 && result.stoppedReplicas.length === 0) return KnownIssue.corruptReplica
  return undefined
}

function partitionsNamed(anomaly: Anomaly): string[] {
  return [...`${anomaly.detail} ${anomaly.records.join(' ')}`.matchAll(PARTITION_KEY)].map((match) => match[1] as string)
}
