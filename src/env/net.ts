/**
 * The network, as the rest of skein is allowed to see it: message links (each `send` arrives
 * whole, in order, or the link closes) and a listener that also answers plain HTTP on the
 * same port. The real one is WebSocket over TCP; the simulator's is in memory.
 */

/** Callbacks for one link. `onOpen` fires once the link can carry messages (outbound links only). */
export interface LinkHandlers {
  onOpen?(): void
  onMessage(data: Uint8Array): void
  /** Fires exactly once per link, whether closed by either side or failed to connect. */
  onClose(code: number, reason: string): void
}

export interface Link {
  /** "host:port" of the other end, for logs. */
  readonly remoteAddress: string
  /**
   * Queues one binary message. Messages sent before the link opens, or after it closes, are
   * dropped (the transport above never does either). `onWritten` fires once the message has
   * left this process's buffers, so callers can bound the bytes in flight.
   */
  send(data: Uint8Array, onWritten?: () => void): void
  /**
   * Closes the link; `onClose` fires on both ends with this code and reason (cut to
   * CLOSE_REASON_BYTES_MAX by the Net, so callers need not). Idempotent.
   */
  close(code: number, reason: string): void
}

export interface HttpRequest {
  readonly method: string
  /** Path and query, as sent (e.g. "/health"). */
  readonly path: string
  /** Header names in lower case, each with its first value; absent when the Net passes none. */
  readonly headers?: Readonly<Record<string, string>>
  /** The request body as UTF-8 (at most HTTP_BODY_BYTES_MAX bytes); absent or '' when there is none. */
  readonly body?: string
}

/** Largest HTTP request body a Net passes on; a larger one is answered 413 without reaching `onHttp`. */
export const HTTP_BODY_BYTES_MAX = 64 * 1024

export interface HttpResponse {
  status: number
  contentType: string
  body: string
}

export interface ListenOptions {
  /** Interface to bind; skein's tests and simulator use 127.0.0.1 only. */
  host: string
  /** Port to bind; 0 picks a free ephemeral port (read it back from `Listener.port`). */
  port: number
  /** Messages larger than this close the link (code `LinkCloseCode.messageTooBig`). */
  messageBytesMax: number
  /** Called for every accepted link; returns the handlers for its events. */
  onLink(link: Link): LinkHandlers
  /** Answers a plain HTTP request on the same port. */
  onHttp(request: HttpRequest): HttpResponse
}

export interface Listener {
  readonly host: string
  readonly port: number
  /** Stops accepting and closes every link accepted by this listener. */
  close(): Promise<void>
}

export interface ConnectOptions {
  /** Messages larger than this, received on this link, close it. */
  messageBytesMax: number
}

/**
 * One accepted raw TCP connection (a byte stream, no message boundaries): what a listener for
 * another wire protocol (the Kafka gateway, src/kafka/) frames itself.
 */
export interface StreamConnection {
  /** "host:port" of the other end, for logs. */
  readonly remoteAddress: string
  /** Queues bytes; dropped after the connection closed. */
  write(data: Uint8Array): void
  /** Ends the connection (after queued bytes are flushed); `onClose` fires. Idempotent. */
  close(): void
}

export interface StreamHandlers {
  /** A chunk of bytes, in order; chunk boundaries mean nothing. */
  onData(chunk: Uint8Array): void
  /** Fires exactly once, whichever side closed or failed. */
  onClose(): void
}

export interface StreamListenOptions {
  /** Interface to bind. */
  host: string
  /** Port to bind; 0 picks a free ephemeral port (read it back from `Listener.port`). */
  port: number
  /** Called for every accepted connection; returns the handlers for its events. */
  onConnection(connection: StreamConnection): StreamHandlers
}

export interface Net {
  listen(options: ListenOptions): Promise<Listener>
  /**
   * Listens for raw TCP byte streams (the Kafka protocol port). Optional: the real Net has it;
   * the simulator's does not (it runs no Kafka gateway), and a node whose Net lacks it refuses
   * to start a Kafka listener.
   */
  listenStream?(options: StreamListenOptions): Promise<Listener>
  /** Starts connecting to "host:port". Failure to connect is reported through `onClose`. */
  connect(address: string, options: ConnectOptions, handlers: LinkHandlers): Link
}

/**
 * Close codes on links, in the WebSocket registry's ranges so the real Net can pass them
 * through unchanged: 1000-1015 are the standard ones, 4000-4999 are ours.
 */
export const LinkCloseCode = {
  normal: 1000,
  goingAway: 1001,
  protocolError: 1002,
  /** Connection dropped or refused without a close handshake. */
  abnormal: 1006,
  messageTooBig: 1009,
  /** The other end sent bytes that do not decode as a frame. */
  malformedFrame: 4000,
  /** The other end failed the cluster-secret proof or named another cluster. */
  authenticationFailed: 4001,
  /** The other end speaks a protocol version we do not. */
  versionMismatch: 4002,
  /** A newer link to the same peer replaced this one. */
  replaced: 4003,
  /** The handshake did not finish in time. */
  handshakeTimeout: 4004,
  /** The other end sent something out of order (e.g. envelopes before authenticating). */
  unexpectedFrame: 4005,
  /** The outbound queue stayed full past its limit; the peer is not reading. */
  overloaded: 4006,
  /**
   * The hello carried the acceptor's own node id: a node dialed itself (its seed list names
   * its own address), or two processes share one id. The dialer learns "that address is me".
   */
  selfDial: 4007,
  /** This node blocks links with the other end (fault injection, `Transport.blockPeers`). */
  blocked: 4008,
} as const

/** The most a WebSocket close frame carries as its reason, in UTF-8 bytes (RFC 6455 §5.5). */
export const CLOSE_REASON_BYTES_MAX = 123

/** `reason` cut to at most CLOSE_REASON_BYTES_MAX UTF-8 bytes, never inside a character. */
export function truncateCloseReason(reason: string): string {
  if (Buffer.byteLength(reason) <= CLOSE_REASON_BYTES_MAX) return reason
  let cut = reason.slice(0, CLOSE_REASON_BYTES_MAX)
  while (Buffer.byteLength(cut) > CLOSE_REASON_BYTES_MAX) cut = cut.slice(0, -1)
  return cut
}
