import type { FileCache, LogConfig } from '../src/log/index.js'
import type { RaftSettings } from '../src/raft/index.js'
import { TXN_LIMITS_DEFAULT, type TxnLimits } from './txn/txn-core.js'
import type { NodeDescription } from '../src/wire/broker-protocol.js'
import { GROUP_LIMITS_DEFAULT, type GroupLimits } from './group/group-core.js'
import type { ControllerMembership, ObservedMembership } from './metadata/voters.js'
import type { PartitionReplica } from './partition/replica.js'

/** A replica hosted on this node, as the node's status page and broker see it. */
export interface HostedReplica {
  readonly topic: string
  readonly partition: number
  readonly topicId: string
  readonly replica: PartitionReplica
}

/** How the broker side of a node behaves; every field has a default in BROKER_SETTINGS_DEFAULT. */
export interface BrokerSettings {
  /** One Raft tick; election and fetch timeouts are counted in ticks (RaftSettings). */
  readonly raftTickMs: number
  readonly raft: Partial<RaftSettings>
  /** Overrides applied to every partition log over its topic's configs (tests: flush 'never'). */
  readonly logOverrides: Partial<LogConfig>
  /**
   * A replica's node dead (not alive in gossip) this long has the replica moved elsewhere
   * (Kafka has no such automation; 60 s rides out a restart or a rolling upgrade).
   */
  readonly replicaReassignAfterMs: number
  /**
   * A metadata voter's node dead (not alive in gossip, as the metadata leader watches it) this
   * long is replaced: the leader adds a live non-voter as a learner, promotes it once caught
   * up, then removes the dead voter, one Raft membership change at a time. Same default and
   * reasoning as replicaReassignAfterMs: a restart or a rolling upgrade must not trigger it,
   * while a quorum of 3 left one failure away from unavailability should not stay so for long.
   */
  readonly controllerReplaceAfterMs: number
  /** How long a broker's metadata long-poll waits at the controller before it asks again. */
  readonly metadataPollMs: number
  /**
   * How often the metadata leader's broker asks each topic controller for a rebalance step,
   * and how often the metadata leader checks its own voters for one to replace.
   */
  readonly rebalanceIntervalMs: number
  /** How often each hosted replica runs retention. */
  readonly retentionCheckIntervalMs: number
  /** How many nodes form the metadata quorum when a new cluster bootstraps from its seed list. */
  readonly controllerCount: number
  /**
   * Partitions of the offsets topic, fixed when it is created (on the first group request).
   * Each is one Raft group whose leader coordinates the groups hashing to it: more spreads
   * coordinators over more nodes, fewer costs less idle ticking. Kafka's default is 50.
   */
  readonly offsetsTopicPartitions: number
  /** Replicas of each offsets-topic partition (fewer if fewer nodes are alive when it is created). */
  readonly offsetsTopicReplicationFactor: number
  /** Limits every group coordinator applies (session timeouts, group size, initial rebalance delay). */
  readonly groupLimits: GroupLimits
  /** How often a coordinator looks for offsets of deleted topics (a topic must be missing from two looks in a row). */
  readonly offsetsCleanupIntervalMs: number
  /**
   * Partitions of the transaction-state topic, fixed when it is created (on the first
   * transactional producer). As for the offsets topic, each is a Raft group whose leader
   * coordinates the transactional ids hashing to it. Kafka's default is 50.
   */
  readonly txnStateTopicPartitions: number
  /** Replicas of each transaction-state partition (fewer if fewer nodes are alive when it is created). */
  readonly txnStateTopicReplicationFactor: number
  /** Limits every transaction coordinator applies (timeouts, id expiry, ids held). */
  readonly txnLimits: TxnLimits
}

export const BROKER_SETTINGS_DEFAULT: BrokerSettings = {
  raftTickMs: 100,
  raft: {},
  logOverrides: {},
  replicaReassignAfterMs: 60_000,
  controllerReplaceAfterMs: 60_000,
  // Long enough that idle polling costs nothing, short enough that a lost push is noticed fast.
  metadataPollMs: 5_000,
  // Each round takes at most one step per partition, and each step waits for a commit.
  rebalanceIntervalMs: 2_000,
  // Kafka's log.retention.check.interval.ms is 5 minutes; a minute keeps disks tighter at no real cost.
  retentionCheckIntervalMs: 60_000,
  controllerCount: 3,
  offsetsTopicPartitions: 10,
  offsetsTopicReplicationFactor: 3,
  groupLimits: GROUP_LIMITS_DEFAULT,
  offsetsCleanupIntervalMs: 60_000,
  txnStateTopicPartitions: 10,
  txnStateTopicReplicationFactor: 3,
  txnLimits: TXN_LIMITS_DEFAULT,
}

/** What the domain actors of a node may use beyond their ActorContext. */
export interface NodeServices {
  readonly nodeId: string
  /** Alive members as gossip sees them now, this node included, sorted by id. */
  liveMembers(): NodeDescription[]
  /** "host:port" of a node as gossip knows it (for leader hints in redirect errors). */
  addressOf(nodeId: string): string | undefined
  /** The metadata quorum's current voter node ids, once known (from disk, config, the seed list, then the metadata). */
  controllerVoters(): readonly string[] | undefined
  /** Founding voters and the latest committed membership of the metadata group known here. */
  controllerMembership(): ControllerMembership | undefined
  /** Records a committed membership of the metadata group if newer than the known one (saved in cluster.json). */
  observeControllerMembership(membership: ObservedMembership): Promise<boolean>
  /** Settles the voters from another node's answer or the bootstrap rule (see ControllerVoters). */
  adoptControllerVoters(voters: readonly string[], source: string): Promise<void>
  /** The bootstrap rule over the live members; undefined while some first seed is not yet seen alive. */
  deriveControllerVoters(): string[] | undefined
  /** Shared by every log on the node, so open files stay under one limit. */
  readonly files: FileCache
  readonly settings: BrokerSettings
  /** The replicas open on this node by replica actor id; replica actors keep it current. */
  readonly hostedReplicas: Map<string, HostedReplica>
}
