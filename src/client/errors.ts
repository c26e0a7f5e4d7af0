import { ErrorCode, type ErrorSpec, SkeinError } from '../wire/index.js'

/**
 * Why the SDK itself refused a call, before or instead of asking the cluster. The numeric
 * `code` of these errors comes from the one error table (src/wire/errors.ts): INVALID_REQUEST
 * for bad input and for a closed client, producer or consumer, MESSAGE_TOO_LARGE for a record
 * over the size limit, REQUEST_TIMED_OUT for a call past its timeout (retriable),
 * UNSUPPORTED_VERSION when the cluster connection lacks a feature asked for, INVALID_TXN_STATE
 * for a transactional call that does not fit the transaction's state. `reason` tells
 * apart the cases that share a code; it is stable, like the codes.
 */
export const ClientErrorReason = {
  /** An argument or setting is malformed: a seed address, a key that is neither string nor Buffer, ... */
  INVALID_ARGUMENT: 'INVALID_ARGUMENT',
  /** The client was closed; every later call fails with this. */
  CLIENT_CLOSED: 'CLIENT_CLOSED',
  /** The producer was closed; sends after close() fail with this. */
  PRODUCER_CLOSED: 'PRODUCER_CLOSED',
  /** The consumer was closed. */
  CONSUMER_CLOSED: 'CONSUMER_CLOSED',
  /** A record is larger than the producer's recordBytesMax (or than its whole buffer). */
  RECORD_TOO_LARGE: 'RECORD_TOO_LARGE',
  /** The topic is not in the cluster's metadata. */
  UNKNOWN_TOPIC: 'UNKNOWN_TOPIC',
  /** A call did not finish within its timeout (buffer space, connecting, ...). */
  TIMED_OUT: 'TIMED_OUT',
  /** `idempotent: true`, but the cluster connection cannot hand out producer ids. */
  IDEMPOTENCE_UNAVAILABLE: 'IDEMPOTENCE_UNAVAILABLE',
  /**
   * Idempotent producer: an earlier batch of the same partition failed, so this one (sent or
   * queued behind it) is failed too, with the earlier error's code; sequences restart.
   */
  SEQUENCE_ABORTED: 'SEQUENCE_ABORTED',
  /**
   * Transactional producer: the call does not fit the state of the producer's transactions
   * (a send outside a transaction, a second transaction while one is open, a call on a
   * transaction already committed or aborted, an abort after a commit was sent).
   */
  INVALID_TXN_STATE: 'INVALID_TXN_STATE',
  /**
   * Something in the open transaction failed (a send, an add, an offset commit): it can only
   * be aborted. commit() fails with this, its `cause` the first failure; unsent batches of the
   * transaction fail with it too.
   */
  TXN_ABORT_REQUIRED: 'TXN_ABORT_REQUIRED',
  /** Records of a transaction that abort() ended before they were sent. */
  TXN_ABORTED: 'TXN_ABORTED',
  /**
   * A newer producer with the same transactionalId took over (PRODUCER_FENCED,
   * INVALID_PRODUCER_EPOCH or INVALID_PRODUCER_ID_MAPPING, whose code this error carries):
   * this producer can do nothing more; every later call fails with this. Close it.
   */
  PRODUCER_FENCED: 'PRODUCER_FENCED',
} as const

export type ClientErrorReason = (typeof ClientErrorReason)[keyof typeof ClientErrorReason]

const specByReason: Readonly<Record<ClientErrorReason, ErrorSpec>> = {
  INVALID_ARGUMENT: ErrorCode.INVALID_REQUEST,
  CLIENT_CLOSED: ErrorCode.INVALID_REQUEST,
  PRODUCER_CLOSED: ErrorCode.INVALID_REQUEST,
  CONSUMER_CLOSED: ErrorCode.INVALID_REQUEST,
  RECORD_TOO_LARGE: ErrorCode.MESSAGE_TOO_LARGE,
  UNKNOWN_TOPIC: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
  TIMED_OUT: ErrorCode.REQUEST_TIMED_OUT,
  IDEMPOTENCE_UNAVAILABLE: ErrorCode.UNSUPPORTED_VERSION,
  SEQUENCE_ABORTED: ErrorCode.UNKNOWN_SERVER_ERROR, // replaced by the earlier error's spec
  INVALID_TXN_STATE: ErrorCode.INVALID_TXN_STATE,
  TXN_ABORT_REQUIRED: ErrorCode.INVALID_TXN_STATE,
  TXN_ABORTED: ErrorCode.INVALID_TXN_STATE,
  PRODUCER_FENCED: ErrorCode.PRODUCER_FENCED, // replaced by the fencing error's spec
}

/** A SkeinError raised by the SDK itself, with a `reason` naming the case. */
export class SkeinClientError extends SkeinError {
  readonly reason: ClientErrorReason

  constructor(reason: ClientErrorReason, message: string, options: { cause?: unknown; spec?: ErrorSpec } = {}) {
    super(options.spec ?? specByReason[reason], message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'SkeinClientError'
    this.reason = reason
  }
}

export function invalidArgument(message: string): SkeinClientError {
  return new SkeinClientError(ClientErrorReason.INVALID_ARGUMENT, message)
}

/** Any thrown value as a SkeinError: SkeinErrors pass through, anything else is wrapped (UNKNOWN_SERVER_ERROR, not retriable). */
export function asSkeinError(error: unknown): SkeinError {
  if (error instanceof SkeinError) return error
  const message = error instanceof Error ? error.message : String(error)
  return new SkeinError(ErrorCode.UNKNOWN_SERVER_ERROR, message, { cause: error })
}
