import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http'
import type { Socket } from 'node:net'
import { type RawData, WebSocket, WebSocketServer } from 'ws'
import type { Logger } from '../logger.js'
import { listenStream } from './stream-net.js'
import {
  type ConnectOptions,
  HTTP_BODY_BYTES_MAX,
  type HttpRequest,
  type HttpResponse,
  type Link,
  LinkCloseCode,
  type LinkHandlers,
  type Listener,
  type ListenOptions,
  type Net,
  type StreamListenOptions,
  truncateCloseReason,
} from '../net.js'

/**
 * How long a link we closed may take to finish the WebSocket closing handshake before its
 * socket is destroyed. ws's own default is 30 s, which would hold `Listener.close()` and
 * shutdowns hostage to a peer that stopped reading; a healthy peer answers in well under 1 ms.
 */
const CLOSE_HANDSHAKE_MS_MAX = 2_000

/**
 * The real network: WebSocket (ws) over TCP, with plain HTTP answered on the listening port.
 *
 * `Link.send(data, onWritten)`: messages sent while the link is not open are dropped silently;
 * `onWritten` fires at most once, and only after the message has been handed to the kernel.
 * A link that closes may never call `onWritten` for messages still queued inside it, so callers
 * must account bytes in flight per link, not per peer.
 */
export class RealNet implements Net {
  constructor(private readonly log: Logger) {}

  listen(options: ListenOptions): Promise<Listener> {
    if (!(options.messageBytesMax > 0)) {
      return Promise.reject(new RangeError(`messageBytesMax must be positive, got ${options.messageBytesMax}`))
    }
    const listener = new WsListener(options, this.log)
    return listener.bind()
  }

  listenStream(options: StreamListenOptions): Promise<Listener> {
    return listenStream(options, this.log)
  }

  connect(address: string, options: ConnectOptions, handlers: LinkHandlers): Link {
    if (!(options.messageBytesMax > 0)) throw new RangeError(`messageBytesMax must be positive, got ${options.messageBytesMax}`)
    let ws: WebSocket
    try {
      ws = new WebSocket(`ws://${address}`, {
        maxPayload: options.messageBytesMax,
        perMessageDeflate: false,
        // An all-zero mask: ws then skips masking here and unmasking at the peer. Masking
        // guards browsers against poisoning caching proxies; our links are node-to-node and
        // client-to-node, and XOR-ing every payload byte in JavaScript was the largest single
        // CPU cost of replicated produce (bench:produce, RF3: 281k -> 339k records/s).
        generateMask: zeroMask,
      })
    } catch (err) {
      // An unparseable address: report it like any failed connect, asynchronously, as promised.
      const link = new FailedLink(address)
      setImmediate(() => handlers.onClose(LinkCloseCode.abnormal, truncateCloseReason(errorMessage(err))))
      return link
    }
    // ws already disables Nagle in setSocket; done again explicitly because the ask-latency
    // target (p99 <= 2 ms) depends on it and a ws upgrade must not silently change it.
    ws.on('upgrade', (response: IncomingMessage) => response.socket.setNoDelay(true))
    return new WsLink(ws, address, handlers, this.log)
  }
}

/** Leaves ws's preallocated mask buffer as zeros (see connect). */
function zeroMask(_mask: Buffer): void {}

/** One WebSocket, as a Link. Guarantees `onClose` exactly once and no events after it. */
class WsLink implements Link {
  private handlers: LinkHandlers | undefined
  private closeReported = false
  /** Set when this side decided to close (or ws rejected the peer's input): reported in onClose. */
  private localClose: { code: number; reason: string } | undefined
  private closeGraceTimer: NodeJS.Timeout | undefined

  constructor(
    private readonly ws: WebSocket,
    readonly remoteAddress: string,
    handlers: LinkHandlers | undefined,
    private readonly log: Logger,
  ) {
    this.handlers = handlers
    ws.binaryType = 'nodebuffer'
    ws.on('open', () => this.onOpen())
    ws.on('message', (data: RawData, isBinary: boolean) => this.onMessage(data, isBinary))
    ws.on('error', (err: Error & { code?: string }) => this.onError(err))
    ws.on('close', (code: number, reason: Buffer) => this.onClose(code, reason.toString('utf8')))
  }

  /** Accepted links get their handlers from `onLink`, after the Link exists. */
  setHandlers(handlers: LinkHandlers): void {
    if (this.handlers !== undefined) throw new Error('link handlers already set')
    this.handlers = handlers
  }

  send(data: Uint8Array, onWritten?: () => void): void {
    if (this.ws.readyState !== WebSocket.OPEN || this.localClose !== undefined) return
    if (onWritten === undefined) {
      this.ws.send(data, { binary: true })
      return
    }
    this.ws.send(data, { binary: true }, (err?: Error) => {
      if (err === undefined || err === null) onWritten()
    })
  }

  close(code: number, reason: string): void {
    if (this.localClose !== undefined || this.closeReported) return
    const truncated = truncateCloseReason(reason)
    this.localClose = { code, reason: truncated }
    this.ws.close(code, truncated)
    this.closeGraceTimer = setTimeout(() => this.ws.terminate(), CLOSE_HANDSHAKE_MS_MAX)
    this.closeGraceTimer.unref()
  }

  private onOpen(): void {
    if (this.localClose !== undefined || this.closeReported) return
    this.handlers?.onOpen?.()
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    // After we decided to close, whatever the peer still sends is not ours to act on.
    if (this.localClose !== undefined || this.closeReported || this.handlers === undefined) return
    if (!isBinary) {
      this.log.warn({ remoteAddress: this.remoteAddress }, 'text message on a binary link; closing')
      this.close(LinkCloseCode.malformedFrame, 'text messages are not accepted')
      return
    }
    this.handlers.onMessage(data as Buffer)
  }

  private onError(err: Error & { code?: string }): void {
    // ws follows every 'error' with 'close'; the listener exists so nothing is thrown uncaught.
    // ws already sent a close frame for protocol errors; remember its code so this side reports
    // the same code the peer sees, even if the peer never echoes it.
    if (this.localClose === undefined && err.code !== undefined && err.code.startsWith('WS_ERR_')) {
      const code = err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? LinkCloseCode.messageTooBig : LinkCloseCode.protocolError
      this.localClose = { code, reason: truncateCloseReason(err.message) }
    }
    this.log.debug({ remoteAddress: this.remoteAddress, err: err.message, code: err.code }, 'websocket error')
  }

  private onClose(code: number, reason: string): void {
    if (this.closeReported) return
    this.closeReported = true
    if (this.closeGraceTimer !== undefined) clearTimeout(this.closeGraceTimer)
    const reported = this.localClose ?? { code, reason }
    this.handlers?.onClose(reported.code, reported.reason)
  }
}

/** A link whose address could not even be parsed: never opens, reports its close once. */
class FailedLink implements Link {
  constructor(readonly remoteAddress: string) {}
  send(): void {}
  close(): void {}
}

/** A bound HTTP server upgrading to WebSocket links. */
class WsListener implements Listener {
  private readonly server: Server
  private readonly wss: WebSocketServer
  private readonly links = new Set<WsLink>()
  private readonly sockets = new Set<WebSocket>()
  private closing: Promise<void> | undefined
  private boundPort = 0

  constructor(
    private readonly options: ListenOptions,
    private readonly log: Logger,
  ) {
    this.server = createServer((request, response) => this.onRequest(request, response))
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: options.messageBytesMax,
      perMessageDeflate: false,
      clientTracking: false,
    })
    this.server.on('upgrade', (request: IncomingMessage, socket: Socket, head: Buffer) =>
      this.onUpgrade(request, socket, head),
    )
  }

  get host(): string {
    return this.options.host
  }

  get port(): number {
    return this.boundPort
  }

  bind(): Promise<Listener> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err)
      this.server.once('error', onError)
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.removeListener('error', onError)
        // After binding, a server error must not crash the process; there is no caller to tell.
        this.server.on('error', (err) => this.log.error({ err: err.message }, 'http server error'))
        const address = this.server.address()
        if (address === null || typeof address === 'string') {
          reject(new Error('listener bound to a non-IP address'))
          return
        }
        this.boundPort = address.port
        resolve(this)
      })
    })
  }

  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      for (const link of this.links) link.close(LinkCloseCode.goingAway, 'listener closing')
      this.server.close(() => resolve())
      this.server.closeIdleConnections()
      // Keep-alive HTTP clients and links that never finish closing must not hold us open.
      const timer = setTimeout(() => {
        for (const ws of this.sockets) ws.terminate()
        this.server.closeAllConnections()
      }, CLOSE_HANDSHAKE_MS_MAX)
      timer.unref()
    })
    return this.closing
  }

  private onUpgrade(request: IncomingMessage, socket: Socket, head: Buffer): void {
    if (this.closing !== undefined) {
      socket.destroy()
      return
    }
    socket.setNoDelay(true)
    const remoteAddress = `${request.socket.remoteAddress ?? '?'}:${request.socket.remotePort ?? 0}`
    this.wss.handleUpgrade(request, socket, head, (ws) => {
      if (this.closing !== undefined) {
        ws.terminate()
        return
      }
      const link = new WsLink(ws, remoteAddress, undefined, this.log)
      this.links.add(link)
      this.sockets.add(ws)
      ws.on('close', () => {
        this.links.delete(link)
        this.sockets.delete(ws)
      })
      link.setHandlers(this.options.onLink(link))
    })
  }

  /**
   * Reads the body (at most HTTP_BODY_BYTES_MAX bytes; past it 413 and the connection is
   * closed), then answers through `onHttp`. GETs without a body answer on the 'end' event.
   */
  private onRequest(request: IncomingMessage, response: ServerResponse): void {
    response.on('error', (err) => this.log.debug({ err: err.message }, 'http response error'))
    const chunks: Buffer[] = []
    let bodyBytes = 0
    let tooLarge = false
    request.on('data', (chunk: Buffer) => {
      if (tooLarge) return
      bodyBytes += chunk.byteLength
      if (bodyBytes <= HTTP_BODY_BYTES_MAX) {
        chunks.push(chunk)
        return
      }
      tooLarge = true
      chunks.length = 0
      response.setHeader('connection', 'close')
      writeAnswer(response, { status: 413, contentType: 'application/json', body: '{"error":"request body too large"}' })
      request.resume()
    })
    request.on('error', (err) => this.log.debug({ err: err.message }, 'http request error'))
    request.on('end', () => {
      if (tooLarge) return
      writeAnswer(response, this.answer({
        method: request.method ?? 'GET',
        path: request.url ?? '/',
        headers: firstHeaderValues(request),
        body: Buffer.concat(chunks).toString('utf8'),
      }))
    })
  }

  private answer(request: HttpRequest): HttpResponse {
    try {
      return this.options.onHttp(request)
    } catch (err) {
      this.log.error({ err: errorMessage(err), path: request.path }, 'http handler threw')
      return { status: 500, contentType: 'application/json', body: '{"error":"internal error"}' }
    }
  }
}

function writeAnswer(response: ServerResponse, answer: HttpResponse): void {
  if (response.headersSent) return
  response.writeHead(answer.status, {
    'content-type': answer.contentType,
    'content-length': Buffer.byteLength(answer.body),
  })
  response.end(answer.body)
}

/** Header names (lower case, as Node gives them) with their first value. */
function firstHeaderValues(request: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(request.headers)) {
    const first = Array.isArray(value) ? value[0] : value
    if (first !== undefined) headers[name] = first
  }
  return headers
}

/** Cuts a close reason to what a WebSocket close frame can carry, on a character boundary. */
function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
