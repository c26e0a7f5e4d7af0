/**
 * The cluster metadata (topics, their configs and replica assignments) as a replicated state
 * machine. Every replica of the metadata Raft group applies the same committed commands in
 * the same order, so `applyMetadataCommand` must be a pure function of (state, command): no
 * clock, no randomness (ids arrive inside commands), no iteration order that could differ,
 * and no exception on any input, because a command that throws on one replica and not on
 * another, or that stalls the apply loop, would split the group.
 *
 * Checks run in three steps, so that the answer depends only on what it must:
 * 1. the command alone: its shape (INVALID_REQUEST), names, counts and assignments;
 * 2. compare-and-set on `expectedVersion` (METADATA_VERSION_MISMATCH, retriable);
 * 3. the command against the state: exists, missing, limits on totals.
 * A refused command leaves the state as it was and does not advance the version.
 */
import { MEMBER_ID_LENGTH_MAX } from '../../src/membership/index.js'
import { ErrorCode, type ErrorSpec, SkeinError } from '../../src/wire/index.js'
import { validateTopicConfigs, type TopicConfigs } from './topic-configs.js'
import { validateTopicName } from './topic-name.js'
import { INTERNAL_TOPICS, OFFSETS_TOPIC } from '../../src/wire/broker-protocol.js'

/** Most partitions one topic may have, in partitions: each is a Raft group with its own log on every replica. */
export const PARTITIONS_PER_TOPIC_MAX = 10_000

/**
 * Most replicas one partition may list, in nodes. Every write waits for a majority of them;
 * far above any useful replication factor (Kafka practice is 3), with room for a reassignment
 * step that briefly lists the old and the new replicas together.
 */
export const REPLICAS_PER_PARTITION_MAX = 32

/** Longest topic id, in characters: room for a UUID in any common spelling. */
export const TOPIC_ID_LENGTH_MAX = 64

/**
 * Most producer ids one allocateProducerIds command may take: far more than any broker's block
 * (PRODUCER_ID_BLOCK_SIZE), small enough that 2^53 ids last for ever.
 */
export const PRODUCER_ID_BLOCK_SIZE_MAX = 1_000_000

/** The one internal topic metadata commands may create: consumer group offsets, as in Kafka. */
export const CONSUMER_OFFSETS_TOPIC = OFFSETS_TOPIC

export interface TopicMetadata {
  readonly name: string
  /** Unique id chosen by the proposer (so a re-created topic never reuses an old one's data). */
  readonly topicId: string
  readonly configs: TopicConfigs
  /** Per partition, its replica node ids; the first is the preferred leader. */
  readonly partitions: readonly (readonly string[])[]
  /** Replicas each partition should have; a list is longer or shorter only while a reassignment is under way. */
  readonly replicationFactor: number
  /** Metadata version at which the topic was created: the version its createTopic produced. */
  readonly createdAtVersion: number
}

export interface ClusterMetadata {
  /** Number of commands applied successfully; each successful one adds 1. Starts at 0. */
  readonly version: number
  /** Sorted by name when listed. */
  readonly topics: ReadonlyMap<string, TopicMetadata>
  /**
   * The first producer id no broker has been given yet: brokers take blocks of ids from here
   * (allocateProducerIds), so ids never repeat, across controller failover and broker restarts.
   */
  readonly nextProducerId: number
}

export const EMPTY_METADATA: ClusterMetadata = Object.freeze({ version: 0, topics: new Map<string, TopicMetadata>(), nextProducerId: 0 })

export type MetadataCommand =
  | { op: 'createTopic'; expectedVersion: number; name: string; topicId: string; configs: TopicConfigs; partitions: string[][] }
  | { op: 'deleteTopic'; expectedVersion: number; name: string }
  /** `partitions` are appended after the existing ones. */
  | { op: 'addPartitions'; expectedVersion: number; name: string; partitions: string[][] }
  /** One step of a reassignment: the partition's replica list becomes `replicas`. */
  | { op: 'setReplicas'; expectedVersion: number; name: string; partition: number; replicas: string[] }
  /**
   * A broker takes producer ids [firstProducerId, firstProducerId + count) for itself;
   * `firstProducerId` must be the state's nextProducerId (the block is named in the log).
   */
  | { op: 'allocateProducerIds'; expectedVersion: number; firstProducerId: number; count: number }

/** Starts the message of a refusal caused by an unexpected exception (a bug; see refusalOf). */
export const UNEXPECTED_PREFIX = 'metadata command could not be applied: '

export type ApplyOutcome = { ok: true; version: number } | { ok: false; code: number; message: string }

/**
 * Applies one command with compare-and-set on `expectedVersion`. Returns the new state and
 * `{ ok: true, version }`, or the unchanged state and the refusal. Never throws and never
 * mutates `state` or `command`; the new state shares unchanged topics with the old one.
 */
export function applyMetadataCommand(state: ClusterMetadata, command: unknown): { state: ClusterMetadata; outcome: ApplyOutcome } {
  try {
    const decoded = decodeCommand(command)
    if (decoded.expectedVersion !== state.version) {
      throw refuse(
        ErrorCode.METADATA_VERSION_MISMATCH,
        `${decoded.op} was based on metadata version ${decoded.expectedVersion}, but the current version is ${state.version}`,
      )
    }
    const version = state.version + 1
    if (decoded.op === 'allocateProducerIds') {
      const nextProducerId = allocateProducerIds(state.nextProducerId, decoded)
      return { state: Object.freeze({ version, topics: state.topics, nextProducerId }), outcome: { ok: true, version } }
    }
    const topics = applyDecoded(state.topics, decoded, version)
    return { state: Object.freeze({ version, topics, nextProducerId: state.nextProducerId }), outcome: { ok: true, version } }
  } catch (err) {
    return { state, outcome: refusalOf(err) }
  }
}

/** The topics sorted by name (UTF-16 code unit order, the same on every host and locale). */
export function sortedTopics(state: ClusterMetadata): TopicMetadata[] {
  return [...state.topics.values()].sort((a, b) => compareNames(a.name, b.name))
}

/** Plain JSON-able snapshot and back, for persistence/transfer: {version, nextProducerId, topics: TopicMetadata[] sorted by name}. */
export function metadataToJson(state: ClusterMetadata): unknown {
  return {
    version: state.version,
    nextProducerId: state.nextProducerId,
    topics: sortedTopics(state).map((topic) => ({
      name: topic.name,
      topicId: topic.topicId,
      configs: { ...topic.configs },
      partitions: topic.partitions.map((replicas) => [...replicas]),
      replicationFactor: topic.replicationFactor,
      createdAtVersion: topic.createdAtVersion,
    })),
  }
}

/** Reads a snapshot made by `metadataToJson`, checking it as closely as commands are; throws SkeinError(INVALID_REQUEST) on malformed. */
export function metadataFromJson(json: unknown): ClusterMetadata {
  try {
    const root = record(json, 'the snapshot')
    const version = nonNegativeInteger(field(root, 'version'), 'version')
    // Snapshots from before producer ids existed have none: nothing was allocated then.
    const nextProducerId = field(root, 'nextProducerId') === undefined ? 0 : nonNegativeInteger(field(root, 'nextProducerId'), 'nextProducerId')
    const list = field(root, 'topics')
    if (!Array.isArray(list)) throw invalid('topics must be an array')
    const topics = new Map<string, TopicMetadata>()
    const topicIds = new Set<string>()
    for (const entry of list) {
      const topic = topicFromJson(entry, version)
      if (topics.has(topic.name)) throw invalid(`topic ${topic.name} appears twice`)
      if (topicIds.has(topic.topicId)) throw invalid(`topic id ${topic.topicId} appears twice`)
      topics.set(topic.name, topic)
      topicIds.add(topic.topicId)
    }
    return Object.freeze({ version, topics, nextProducerId })
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err)
    throw new SkeinError(ErrorCode.INVALID_REQUEST, `metadata snapshot: ${message}`, { cause: err })
  }
}

function topicFromJson(entry: unknown, version: number): TopicMetadata {
  const topic = record(entry, 'topic')
  const name = topicName(field(topic, 'name'))
  const createdAtVersion = nonNegativeInteger(field(topic, 'createdAtVersion'), `topic ${name}: createdAtVersion`)
  if (createdAtVersion < 1 || createdAtVersion > version) {
    throw invalid(`topic ${name}: createdAtVersion ${createdAtVersion} is outside 1..${version}`)
  }
  // Lengths may differ between partitions here: a reassignment step may be under way.
  const partitions = replicaLists(field(topic, 'partitions'), { sameLength: false })
  const replicationFactor = nonNegativeInteger(field(topic, 'replicationFactor'), `topic ${name}: replicationFactor`)
  if (replicationFactor < 1) throw invalid(`topic ${name}: replicationFactor must be at least 1`)
  return freezeTopic({ name, topicId: topicId(field(topic, 'topicId')), configs: configs(field(topic, 'configs')), partitions, replicationFactor, createdAtVersion })
}

// ---- step 1: the command alone ----------------------------------------------------------

const COMMAND_OPS: ReadonlySet<string> = new Set<MetadataCommand['op']>(['createTopic', 'deleteTopic', 'addPartitions', 'setReplicas', 'allocateProducerIds'])

function decodeCommand(raw: unknown): MetadataCommand {
  const command = record(raw, 'metadata command')
  const op = field(command, 'op')
  if (typeof op !== 'string' || !COMMAND_OPS.has(op)) {
    throw invalid(`unknown metadata command op ${typeof op === 'string' ? JSON.stringify(op.slice(0, 64)) : typeof op}`)
  }
  const expectedVersion = nonNegativeInteger(field(command, 'expectedVersion'), 'expectedVersion')
  switch (op) {
    case 'createTopic':
      return {
        op,
        expectedVersion,
        name: topicName(field(command, 'name')),
        topicId: topicId(field(command, 'topicId')),
        configs: configs(field(command, 'configs')),
        partitions: replicaLists(field(command, 'partitions'), { sameLength: true }),
      }
    case 'deleteTopic':
      return { op, expectedVersion, name: text(field(command, 'name'), 'name') }
    case 'addPartitions':
      return {
        op,
        expectedVersion,
        name: text(field(command, 'name'), 'name'),
        partitions: replicaLists(field(command, 'partitions'), { sameLength: true }),
      }
    case 'setReplicas':
      return {
        op,
        expectedVersion,
        name: text(field(command, 'name'), 'name'),
        partition: integer(field(command, 'partition'), 'partition'),
        replicas: replicaList(field(command, 'replicas'), 'replicas'),
      }
    case 'allocateProducerIds': {
      const count = integer(field(command, 'count'), 'count')
      if (count < 1 || count > PRODUCER_ID_BLOCK_SIZE_MAX) throw invalid(`count must be 1..${PRODUCER_ID_BLOCK_SIZE_MAX}, got ${count}`)
      return { op, expectedVersion, firstProducerId: nonNegativeInteger(field(command, 'firstProducerId'), 'firstProducerId'), count }
    }
    default:
      throw invalid(`unknown metadata command op ${JSON.stringify(op)}`)
  }
}

function topicName(value: unknown): string {
  const name = text(value, 'name')
  return validateTopicName(name, { internal: INTERNAL_TOPICS.has(name) })
}

function topicId(value: unknown): string {
  const id = text(value, 'topicId')
  if (id.length === 0 || id.length > TOPIC_ID_LENGTH_MAX) throw invalid(`topicId must be 1..${TOPIC_ID_LENGTH_MAX} characters, got ${id.length}`)
  return id
}

/** Shape errors are the proposer's bug (INVALID_REQUEST); values out of range are the user's (INVALID_CONFIG). */
function configs(value: unknown): TopicConfigs {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid('configs must be an object')
  return validateTopicConfigs(value)
}

/** A partition list: 1..PARTITIONS_PER_TOPIC_MAX replica lists, optionally all of one length. */
function replicaLists(value: unknown, options: { readonly sameLength: boolean }): string[][] {
  if (!Array.isArray(value)) throw invalid('partitions must be an array of replica lists')
  // Counted before any element is read, so a huge command costs no more than its length.
  if (value.length === 0) throw refuse(ErrorCode.INVALID_PARTITIONS, 'at least one partition is required')
  if (value.length > PARTITIONS_PER_TOPIC_MAX) {
    throw refuse(ErrorCode.INVALID_PARTITIONS, `${value.length} partitions is more than the limit of ${PARTITIONS_PER_TOPIC_MAX} per topic`)
  }
  const lists: string[][] = []
  // An index loop, not map(): map skips the holes of a sparse array instead of refusing them.
  for (let index = 0; index < value.length; index++) lists.push(replicaList(value[index], `partitions[${index}]`))
  const first = lists[0]?.length ?? 0
  const odd = lists.findIndex((replicas) => replicas.length !== first)
  if (options.sameLength && odd !== -1) {
    throw refuse(ErrorCode.INVALID_REPLICA_ASSIGNMENT, `partition ${odd} has ${lists[odd]?.length} replicas but partition 0 has ${first}; all must have the same number`)
  }
  return lists
}

/** One partition's replicas: 1..REPLICAS_PER_PARTITION_MAX distinct node ids. */
function replicaList(value: unknown, what: string): string[] {
  if (!Array.isArray(value)) throw invalid(`${what} must be an array of node ids`)
  if (value.length === 0) throw refuse(ErrorCode.INVALID_REPLICA_ASSIGNMENT, `${what} lists no replicas`)
  if (value.length > REPLICAS_PER_PARTITION_MAX) {
    throw refuse(ErrorCode.INVALID_REPLICATION_FACTOR, `${what} lists ${value.length} replicas; the limit is ${REPLICAS_PER_PARTITION_MAX}`)
  }
  const seen = new Set<string>()
  for (const nodeId of value as unknown[]) {
    const id = text(nodeId, `${what} node id`)
    if (id.length === 0 || id.length > MEMBER_ID_LENGTH_MAX) {
      throw refuse(ErrorCode.INVALID_REPLICA_ASSIGNMENT, `${what} has a node id of ${id.length} characters; node ids are 1..${MEMBER_ID_LENGTH_MAX}`)
    }
    // Two votes from one node would let a single failure lose an acknowledged write.
    if (seen.has(id)) throw refuse(ErrorCode.INVALID_REPLICA_ASSIGNMENT, `${what} lists node ${JSON.stringify(id)} twice`)
    seen.add(id)
  }
  return [...seen]
}

// ---- step 3: the command against the state ----------------------------------------------

type Topics = ReadonlyMap<string, TopicMetadata>

type TopicCommand = Exclude<MetadataCommand, { op: 'allocateProducerIds' }>

function applyDecoded(topics: Topics, command: TopicCommand, version: number): Topics {
  switch (command.op) {
    case 'createTopic':
      return createTopic(topics, command, version)
    case 'deleteTopic':
      return withTopic(topics, existing(topics, command.name).name, undefined)
    case 'addPartitions':
      return addPartitions(topics, command)
    case 'setReplicas':
      return setReplicas(topics, command)
  }
}

function createTopic(topics: Topics, command: Extract<MetadataCommand, { op: 'createTopic' }>, version: number): Topics {
  if (topics.has(command.name)) throw refuse(ErrorCode.TOPIC_ALREADY_EXISTS, `topic ${command.name} already exists`)
  for (const topic of topics.values()) {
    // Data is found by topic id; a reused one would hand the new topic another's records.
    if (topic.topicId === command.topicId) throw invalid(`topicId ${command.topicId} is already used by topic ${topic.name}`)
  }
  const { name, topicId, configs, partitions } = command
  const replicationFactor = partitions[0]?.length ?? 0
  return withTopic(topics, name, freezeTopic({ name, topicId, configs, partitions, replicationFactor, createdAtVersion: version }))
}

function addPartitions(topics: Topics, command: Extract<MetadataCommand, { op: 'addPartitions' }>): Topics {
  const topic = existing(topics, command.name)
  const total = topic.partitions.length + command.partitions.length
  if (total > PARTITIONS_PER_TOPIC_MAX) {
    throw refuse(ErrorCode.INVALID_PARTITIONS, `topic ${topic.name} would have ${total} partitions; the limit is ${PARTITIONS_PER_TOPIC_MAX}`)
  }
  const replicationFactor = topic.replicationFactor
  const added = command.partitions[0]?.length ?? 0
  if (added !== replicationFactor) {
    throw refuse(ErrorCode.INVALID_REPLICA_ASSIGNMENT, `new partitions of ${topic.name} have ${added} replicas but its partitions have ${replicationFactor}`)
  }
  return withTopic(topics, topic.name, freezeTopic({ ...topic, partitions: [...topic.partitions, ...command.partitions] }))
}

/**
 * Any valid list is accepted, whatever its length: a Raft group changes members one at a
 * time, so a reassignment passes through lists one longer or shorter than the others.
 */
function setReplicas(topics: Topics, command: Extract<MetadataCommand, { op: 'setReplicas' }>): Topics {
  const topic = existing(topics, command.name)
  if (command.partition < 0 || command.partition >= topic.partitions.length) {
    throw refuse(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `topic ${topic.name} has no partition ${command.partition} (it has ${topic.partitions.length})`)
  }
  const partitions = [...topic.partitions]
  partitions[command.partition] = command.replicas
  return withTopic(topics, topic.name, freezeTopic({ ...topic, partitions }))
}

/** The next unallocated producer id once `command`'s block is taken. */
function allocateProducerIds(nextProducerId: number, command: Extract<MetadataCommand, { op: 'allocateProducerIds' }>): number {
  if (command.firstProducerId !== nextProducerId) {
    throw refuse(ErrorCode.METADATA_VERSION_MISMATCH, `producer ids from ${command.firstProducerId} were asked for, but the next unallocated one is ${nextProducerId}`)
  }
  const next = nextProducerId + command.count
  if (!Number.isSafeInteger(next)) throw invalid('producer ids are exhausted (2^53)')
  return next
}

function existing(topics: Topics, name: string): TopicMetadata {
  const topic = topics.get(name)
  if (topic === undefined) throw refuse(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `topic ${JSON.stringify(name.slice(0, 256))} does not exist`)
  return topic
}

/** Copy-on-write: a new map with `name` set to `topic`, or removed when `topic` is undefined. */
function withTopic(topics: Topics, name: string, topic: TopicMetadata | undefined): Topics {
  const next = new Map(topics)
  if (topic === undefined) next.delete(name)
  else next.set(name, topic)
  return next
}

/**
 * Freezes the topic and its lists, so a caller cannot change a state that other states share.
 * The lists are frozen in place, not copied: every list was copied when its command was read,
 * and lists of untouched partitions are shared with the previous state.
 */
function freezeTopic(topic: TopicMetadata): TopicMetadata {
  return Object.freeze({ ...topic, partitions: Object.freeze(topic.partitions.map((replicas) => Object.freeze(replicas))) })
}

// ---- reading untrusted values -----------------------------------------------------------

function record(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(`${what} must be an object`)
  return value as Record<string, unknown>
}

/** Own properties only: an inherited `name` or `op` is not part of what was sent. */
function field(from: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(from, key) ? from[key] : undefined
}

function text(value: unknown, what: string): string {
  if (typeof value !== 'string') throw invalid(`${what} must be a string`)
  return value
}

function integer(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw invalid(`${what} must be an integer`)
  return value
}

function nonNegativeInteger(value: unknown, what: string): number {
  const number = integer(value, what)
  if (number < 0) throw invalid(`${what} must not be negative, got ${number}`)
  return number
}

function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

function refuse(spec: ErrorSpec, message: string): SkeinError {
  return new SkeinError(spec, message)
}

function invalid(message: string): SkeinError {
  return new SkeinError(ErrorCode.INVALID_REQUEST, message)
}

/**
 * Only SkeinErrors are expected here. Anything else is a bug in this file, still turned into a
 * refusal (the same one on every replica) rather than an exception that stops the apply loop;
 * the property test checks that it never happens.
 */
function refusalOf(err: unknown): ApplyOutcome {
  if (err instanceof SkeinError) return { ok: false, code: err.code, message: err.message }
  const detail = err instanceof Error ? err.message : typeof err
  return { ok: false, code: ErrorCode.INVALID_REQUEST.code, message: `${UNEXPECTED_PREFIX}${detail}` }
}
