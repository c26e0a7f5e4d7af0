/**
 * The one table of errors a client, a peer or a Kafka client can see. Codes below 1000 are
 * Kafka's own numbers with Kafka's meaning, so the Kafka gateway passes them through; codes
 * from 1000 up are skein's, each naming the Kafka code the gateway reports in its place.
 * A code, once published, never changes meaning.
 */
export interface ErrorSpec {
  readonly code: number
  readonly name: string
  readonly retriable: boolean
  /** What the Kafka gateway reports for this error. */
  readonly kafkaCode: number
  readonly description: string
}

function spec(code: number, name: string, retriable: boolean, description: string, kafkaCode = code): ErrorSpec {
  return { code, name, retriable, kafkaCode, description }
}

export const ErrorCode = {
  NONE: spec(0, 'NONE', false, 'No error.'),
  UNKNOWN_SERVER_ERROR: spec(-1, 'UNKNOWN_SERVER_ERROR', false, 'An unexpected error on the server; see its log.'),
  OFFSET_OUT_OF_RANGE: spec(1, 'OFFSET_OUT_OF_RANGE', false, 'The requested offset is outside the range of offsets this partition holds.'),
  CORRUPT_MESSAGE: spec(2, 'CORRUPT_MESSAGE', true, 'A message failed its CRC check or is otherwise corrupt.'),
  UNKNOWN_TOPIC_OR_PARTITION: spec(3, 'UNKNOWN_TOPIC_OR_PARTITION', true, 'This server does not host this topic-partition.'),
  LEADER_NOT_AVAILABLE: spec(5, 'LEADER_NOT_AVAILABLE', true, 'The partition has no leader right now (an election is in progress).'),
  NOT_LEADER_OR_FOLLOWER: spec(6, 'NOT_LEADER_OR_FOLLOWER', true, 'This server is not the leader for that partition.'),
  REQUEST_TIMED_OUT: spec(7, 'REQUEST_TIMED_OUT', true, 'The request did not complete before its deadline.'),
  BROKER_NOT_AVAILABLE: spec(8, 'BROKER_NOT_AVAILABLE', true, "This node's cluster metadata is not current (it just started, or cannot reach the metadata quorum); ask another node."),
  MESSAGE_TOO_LARGE: spec(10, 'MESSAGE_TOO_LARGE', false, 'The message or frame is larger than the configured maximum.'),
  NETWORK_EXCEPTION: spec(13, 'NETWORK_EXCEPTION', true, 'The link to the server closed before a response arrived.'),
  COORDINATOR_LOAD_IN_PROGRESS: spec(14, 'COORDINATOR_LOAD_IN_PROGRESS', true, 'The group coordinator is rebuilding its state from the offsets topic; retry shortly.'),
  COORDINATOR_NOT_AVAILABLE: spec(15, 'COORDINATOR_NOT_AVAILABLE', true, 'The coordinator is not available.'),
  NOT_COORDINATOR: spec(16, 'NOT_COORDINATOR', true, 'This server is not the coordinator for that key.'),
  INVALID_TOPIC_EXCEPTION: spec(17, 'INVALID_TOPIC_EXCEPTION', false, 'The topic name is not valid: 1 to 249 characters of [a-zA-Z0-9._-], not "." or "..".'),
  ILLEGAL_GENERATION: spec(22, 'ILLEGAL_GENERATION', false, 'The request names a group generation other than the current one; rejoin the group.'),
  INVALID_GROUP_ID: spec(24, 'INVALID_GROUP_ID', false, 'The group id is not valid: 1 to 255 characters, no control characters.'),
  INCONSISTENT_GROUP_PROTOCOL: spec(23, 'INCONSISTENT_GROUP_PROTOCOL', false, 'The member supports no assignor that every other member of the group supports.'),
  UNKNOWN_MEMBER_ID: spec(25, 'UNKNOWN_MEMBER_ID', false, 'The group has no member with that id (it left, or its session expired); join again.'),
  INVALID_SESSION_TIMEOUT: spec(26, 'INVALID_SESSION_TIMEOUT', false, "The session timeout is outside the coordinator's allowed range."),
  REBALANCE_IN_PROGRESS: spec(27, 'REBALANCE_IN_PROGRESS', false, 'The group is rebalancing; rejoin to take part.'),
  INVALID_TIMESTAMP: spec(32, 'INVALID_TIMESTAMP', false, 'A timestamp in the batch is out of the acceptable range.'),
  UNSUPPORTED_VERSION: spec(35, 'UNSUPPORTED_VERSION', false, 'The protocol version is not supported by this server.'),
  TOPIC_ALREADY_EXISTS: spec(36, 'TOPIC_ALREADY_EXISTS', false, 'A topic with that name already exists.'),
  INVALID_PARTITIONS: spec(37, 'INVALID_PARTITIONS', false, 'The number of partitions is not valid (1 up to the limit, and only ever more).'),
  INVALID_REPLICATION_FACTOR: spec(38, 'INVALID_REPLICATION_FACTOR', false, 'The replication factor is not valid (1 up to the number of live nodes).'),
  INVALID_REPLICA_ASSIGNMENT: spec(39, 'INVALID_REPLICA_ASSIGNMENT', false, 'The replica assignment is not valid.'),
  INVALID_CONFIG: spec(40, 'INVALID_CONFIG', false, 'A topic config is unknown or its value is not valid.'),
  NOT_CONTROLLER: spec(41, 'NOT_CONTROLLER', true, 'This node does not lead the cluster metadata quorum; retry against the leader.'),
  INVALID_REQUEST: spec(42, 'INVALID_REQUEST', false, 'The request is malformed or has invalid arguments.'),
  UNSUPPORTED_FOR_MESSAGE_FORMAT: spec(43, 'UNSUPPORTED_FOR_MESSAGE_FORMAT', false, 'The record batch format (magic) is not supported; skein stores RecordBatch v2 only.'),
  OUT_OF_ORDER_SEQUENCE_NUMBER: spec(45, 'OUT_OF_ORDER_SEQUENCE_NUMBER', false, "The producer's batch does not follow its last appended batch (sequence gap, or a new epoch not starting at sequence 0)."),
  INVALID_PRODUCER_EPOCH: spec(47, 'INVALID_PRODUCER_EPOCH', false, 'The producer epoch is older than the one this partition knows: a newer producer with the same id has taken over.'),
  INVALID_TXN_STATE: spec(48, 'INVALID_TXN_STATE', false, 'The transactional request does not fit the state of the transaction (say, a commit after an abort began, or a send outside a transaction).'),
  INVALID_PRODUCER_ID_MAPPING: spec(49, 'INVALID_PRODUCER_ID_MAPPING', false, 'The producer id is not the one currently assigned to this transactional id.'),
  INVALID_TRANSACTION_TIMEOUT: spec(50, 'INVALID_TRANSACTION_TIMEOUT', false, 'The transaction timeout is not positive or exceeds the largest the coordinator allows.'),
  CONCURRENT_TRANSACTIONS: spec(51, 'CONCURRENT_TRANSACTIONS', true, "The transaction's previous commit or abort is still being written; retry shortly."),
  TRANSACTION_COORDINATOR_FENCED: spec(52, 'TRANSACTION_COORDINATOR_FENCED', false, 'A transaction marker came from a coordinator that is no longer the current one for this producer.'),
  KAFKA_STORAGE_ERROR: spec(56, 'KAFKA_STORAGE_ERROR', true, 'A disk error on the server; the partition is offline on this replica until it is reopened.'),
  AUTHENTICATION_FAILED: spec(58, 'AUTHENTICATION_FAILED', false, 'Authentication failed (wrong cluster secret or cluster id).'),
  UNKNOWN_PRODUCER_ID: spec(59, 'UNKNOWN_PRODUCER_ID', false, 'The partition holds no state for this producer id (its records were deleted); skein accepts such a batch instead, as Kafka 2.5+ does, so this code is reserved for the gateway.'),
  NON_EMPTY_GROUP: spec(68, 'NON_EMPTY_GROUP', false, 'The group has active members; stop them first (resetting or deleting offsets needs an empty group).'),
  GROUP_ID_NOT_FOUND: spec(69, 'GROUP_ID_NOT_FOUND', false, 'No group with that id exists (no members and no committed offsets).'),
  GROUP_MAX_SIZE_REACHED: spec(81, 'GROUP_MAX_SIZE_REACHED', false, 'The group already has its maximum number of members.'),
  FENCED_INSTANCE_ID: spec(82, 'FENCED_INSTANCE_ID', false, 'A newer member joined with the same group instance id; this one is fenced.'),
  FENCED_LEADER_EPOCH: spec(74, 'FENCED_LEADER_EPOCH', true, 'The request names an older leader epoch than the replica has; refresh metadata.'),
  UNKNOWN_LEADER_EPOCH: spec(75, 'UNKNOWN_LEADER_EPOCH', true, 'The request names a newer leader epoch than the replica knows; retry shortly.'),
  UNSUPPORTED_COMPRESSION_TYPE: spec(76, 'UNSUPPORTED_COMPRESSION_TYPE', false, 'The batch names a compression codec this server does not support.'),
  UNSTABLE_OFFSET_COMMIT: spec(88, 'UNSTABLE_OFFSET_COMMIT', true, 'A transaction that commits offsets of this partition is being completed; retry shortly so the read does not go behind it.'),
  INVALID_RECORD: spec(87, 'INVALID_RECORD', false, 'A batch failed validation (its header disagrees with itself).'),
  PRODUCER_FENCED: spec(90, 'PRODUCER_FENCED', false, 'A newer producer with the same id (a higher epoch) exists; this one is fenced and must stop.'),

  ACTOR_NOT_FOUND: spec(1000, 'ACTOR_NOT_FOUND', false, 'No actor kind is registered for that actor id.', 42),
  MAILBOX_FULL: spec(1001, 'MAILBOX_FULL', true, "The actor's mailbox is at its limit; retry with backoff.", 7),
  ACTOR_FAILED: spec(1002, 'ACTOR_FAILED', false, 'The actor threw while handling the message; it was restarted.', -1),
  NODE_UNREACHABLE: spec(1003, 'NODE_UNREACHABLE', true, 'The node hosting the actor cannot be reached right now.', 13),
  FORWARD_LIMIT_EXCEEDED: spec(1004, 'FORWARD_LIMIT_EXCEEDED', true, 'The message was forwarded too many times; placement is still converging.', 6),
  SHUTTING_DOWN: spec(1005, 'SHUTTING_DOWN', true, 'The node is shutting down.', 13),
  OVERLOADED: spec(1006, 'OVERLOADED', true, 'A bounded queue on the path is full; retry with backoff.', 7),
  MALFORMED_FRAME: spec(1007, 'MALFORMED_FRAME', false, 'Bytes on a link did not decode as a valid frame.', 2),
  LOG_TRUNCATED: spec(1009, 'LOG_TRUNCATED', true, 'The append was cut off by a truncation of the log (leadership moved); retry against the current leader.', 6),
  PARTITION_NOT_ASSIGNED: spec(1011, 'PARTITION_NOT_ASSIGNED', false, "A group member committed an offset for a partition its generation's assignment does not give it; rejoin.", 22),
  METADATA_VERSION_MISMATCH: spec(1010, 'METADATA_VERSION_MISMATCH', true, 'The metadata changed since the version this change was based on; re-read and retry.', 41),
  OFFSET_MISMATCH: spec(1008, 'OFFSET_MISMATCH', false, "A replicated batch does not start at the replica's log end offset.", -1),
} as const satisfies Record<string, ErrorSpec>

export type ErrorName = keyof typeof ErrorCode

const byCode = new Map<number, ErrorSpec>(Object.values(ErrorCode).map((e) => [e.code, e]))

/** The spec for a numeric code; unknown codes (from a newer peer) read as UNKNOWN_SERVER_ERROR. */
export function errorSpecFor(code: number): ErrorSpec {
  return byCode.get(code) ?? ErrorCode.UNKNOWN_SERVER_ERROR
}

/** Every spec, for documentation and the table test. */
export function allErrorSpecs(): readonly ErrorSpec[] {
  return [...byCode.values()]
}

/** Who leads, as a NOT_LEADER_OR_FOLLOWER or NOT_CONTROLLER error tells it, so the client can go there. */
export interface LeaderHint {
  readonly nodeId: string
  /** "host:port" of the leader's node, when the answering node knows it. */
  readonly address?: string
  readonly epoch?: number
}

/** The error type that crosses layers: a stable code, a message, and whether a retry may succeed. */
export class SkeinError extends Error {
  readonly code: number
  readonly errorName: string
  readonly retriable: boolean
  /** For redirecting errors: the leader the answering node knows of. */
  readonly leader: LeaderHint | undefined

  constructor(spec: ErrorSpec, message?: string, options?: { cause?: unknown; leader?: LeaderHint }) {
    super(message ?? spec.description, options)
    this.name = 'SkeinError'
    this.code = spec.code
    this.errorName = spec.name
    this.retriable = spec.retriable
    this.leader = options?.leader
  }

  /** Rebuilds an error received on the wire. */
  static fromWire(code: number, message: string, leader?: unknown): SkeinError {
    return new SkeinError(errorSpecFor(code), message, { leader: isLeaderHint(leader) ? leader : undefined })
  }
}

/** The wire form of an error: code and message (name and retriable come from the table), and a leader hint for redirects. */
export interface WireError {
  code: number
  message: string
  leader?: LeaderHint
}

function isLeaderHint(value: unknown): value is LeaderHint {
  const hint = value as Partial<LeaderHint> | null | undefined
  return typeof hint === 'object' && hint !== null && typeof hint.nodeId === 'string' &&
    (hint.address === undefined || typeof hint.address === 'string') && (hint.epoch === undefined || typeof hint.epoch === 'number')
}

/** Converts anything thrown into a wire error; non-skein errors become UNKNOWN_SERVER_ERROR. */
export function toWireError(err: unknown): WireError {
  if (err instanceof SkeinError) return err.leader === undefined ? { code: err.code, message: err.message } : { code: err.code, message: err.message, leader: err.leader }
  const message = err instanceof Error ? err.message : String(err)
  return { code: ErrorCode.UNKNOWN_SERVER_ERROR.code, message }
}
