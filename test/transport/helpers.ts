import { WebSocket } from 'ws'
import type { Logger } from '../../src/env/index.js'
import { RealClock, RealNet, RealRandom } from '../../src/env/real/index.js'
import {
  DEFAULT_TRANSPORT_LIMITS,
  Transport,
  type TransportEnv,
  type TransportHandlers,
  type TransportLimits,
} from '../../src/transport/index.js'
import type { Envelope, SkeinError } from '../../src/wire/index.js'

export const CLUSTER_ID = 'test-cluster'
export const CLUSTER_SECRET = 'test-secret'

/** Fast reconnects so tests that restart a peer do not wait out production backoff. */
export const TEST_LIMITS: TransportLimits = {
  ...DEFAULT_TRANSPORT_LIMITS,
  reconnectDelayMsMin: 10,
  reconnectDelayMsMax: 200,
}

export interface LogEntry {
  level: 'debug' | 'info' | 'warn' | 'error'
  fields: Record<string, unknown>
  message: string
}

/** Keeps every line (children included, bindings merged) so tests can assert on warnings. */
export class CapturingLogger implements Logger {
  constructor(
    readonly entries: LogEntry[] = [],
    private readonly bindings: Record<string, unknown> = {},
  ) {}
  debug(fields: object, message: string): void {
    this.record('debug', fields, message)
  }
  info(fields: object, message: string): void {
    this.record('info', fields, message)
  }
  warn(fields: object, message: string): void {
    this.record('warn', fields, message)
  }
  error(fields: object, message: string): void {
    this.record('error', fields, message)
  }
  child(bindings: Record<string, unknown>): Logger {
    return new CapturingLogger(this.entries, { ...this.bindings, ...bindings })
  }
  warnings(): LogEntry[] {
    return this.entries.filter((e) => e.level === 'warn')
  }
  errors(): LogEntry[] {
    return this.entries.filter((e) => e.level === 'error')
  }
  private record(level: LogEntry['level'], fields: object, message: string): void {
    this.entries.push({ level, fields: { ...this.bindings, ...fields }, message })
  }
}

export function realEnv(log: Logger): TransportEnv {
  return { clock: new RealClock(), random: new RealRandom(), net: new RealNet(log), log }
}

/** A mutable address book shared by the nodes of one test. */
export class AddressBook {
  readonly addresses = new Map<string, string>()
  addressOf(nodeId: string): string | undefined {
    return this.addresses.get(nodeId)
  }
}

/** A Transport plus everything its handlers saw. */
export class TestNode {
  readonly log = new CapturingLogger()
  readonly received = new Map<string, Envelope[]>()
  readonly undeliverable: { to: string; envelopes: Envelope[]; error: SkeinError }[] = []
  readonly peerEvents: string[] = []
  /** onPeerUnreachable calls, apart from peerEvents: how many there are depends on redial timing. */
  readonly unreachable: string[] = []
  readonly transport: Transport
  port = 0

  constructor(
    readonly nodeId: string,
    book: AddressBook,
    options: { limits?: Partial<TransportLimits>; secret?: string; port?: number; handlers?: Partial<TransportHandlers> } = {},
  ) {
    const handlers: TransportHandlers = {
      onEnvelopes: (from, envelopes) => {
        let list = this.received.get(from)
        if (list === undefined) this.received.set(from, (list = []))
        for (const e of envelopes) list.push(e)
      },
      onUndeliverable: (to, envelopes, error) => this.undeliverable.push({ to, envelopes, error }),
      onPeerUp: (nodeId) => this.peerEvents.push(`up:${nodeId}`),
      onPeerDown: (nodeId) => this.peerEvents.push(`down:${nodeId}`),
      onPeerUnreachable: (nodeId) => this.unreachable.push(nodeId),
      ...options.handlers,
    }
    this.transport = new Transport(
      realEnv(this.log),
      {
        nodeId,
        clusterId: CLUSTER_ID,
        clusterSecret: options.secret ?? CLUSTER_SECRET,
        listenHost: '127.0.0.1',
        listenPort: options.port ?? 0,
        limits: { ...TEST_LIMITS, ...options.limits },
      },
      book,
      handlers,
    )
  }

  receivedFrom(nodeId: string): Envelope[] {
    return this.received.get(nodeId) ?? []
  }
}

/** Stops every transport and closes every raw socket a test made, even when it failed. */
export class Cleanup {
  private readonly tasks: (() => Promise<void> | void)[] = []
  add(task: () => Promise<void> | void): void {
    this.tasks.push(task)
  }
  async run(): Promise<void> {
    const tasks = this.tasks.splice(0).reverse()
    for (const task of tasks) await task()
  }
}

/** Starts a node on an ephemeral port and registers it in the book and the cleanup. */
export async function startNode(
  cleanup: Cleanup,
  nodeId: string,
  book: AddressBook,
  options: ConstructorParameters<typeof TestNode>[2] = {},
): Promise<TestNode> {
  const node = new TestNode(nodeId, book, options)
  cleanup.add(() => node.transport.stop())
  const { port } = await node.transport.start()
  node.port = port
  book.addresses.set(nodeId, `127.0.0.1:${port}`)
  return node
}

export function envelope(corr: number, payload: unknown = null, overrides: Partial<Envelope> = {}): Envelope {
  return { from: 'test/sender', origin: 'n?', to: 'test/receiver', kind: 'ping', corr, ttlMs: 0, hops: 0, payload, ...overrides }
}

/**
 * Polls until `predicate` holds. The timeout only bounds a hung test; nothing asserts on how
 * long the wait took.
 */
export async function waitFor(predicate: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = performance.now() + timeoutMs
  while (!predicate()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for: ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/** A raw ws client, to speak (or mangle) the protocol by hand. */
export class RawClient {
  readonly ws: WebSocket
  readonly messages: Buffer[] = []
  readonly opened: Promise<void>
  readonly closed: Promise<{ code: number; reason: string }>

  constructor(cleanup: Cleanup, port: number, maxPayload = 64 * 1024 * 1024) {
    this.ws = new WebSocket(`ws://127.0.0.1:${port}`, { maxPayload, perMessageDeflate: false })
    this.ws.binaryType = 'nodebuffer'
    this.ws.on('error', () => {})
    this.ws.on('message', (data) => this.messages.push(data as Buffer))
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve())
      this.ws.once('close', () => reject(new Error('closed before open')))
    })
    this.opened.catch(() => {})
    this.closed = new Promise((resolve) => {
      this.ws.once('close', (code, reason) => resolve({ code, reason: reason.toString('utf8') }))
    })
    cleanup.add(async () => {
      if (this.ws.readyState !== WebSocket.CLOSED) {
        this.ws.terminate()
        await this.closed
      }
    })
  }

  send(data: Uint8Array | string): void {
    this.ws.send(data)
  }

  async nextMessage(): Promise<Buffer> {
    await waitFor(() => this.messages.length > 0, 'a message from the transport')
    return this.messages.shift() as Buffer
  }
}
