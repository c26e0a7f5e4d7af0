import { strict as assert } from 'node:assert'
import {
  LinkCloseCode,
  type ConnectOptions,
  type HttpResponse,
  type Link,
  type LinkHandlers,
  type Listener,
  type ListenOptions,
  type Net,
  truncateCloseReason,
} from '../src/env/net.js'
import type { Prng } from './prng.js'
import type { EventHandle, Scheduler } from './scheduler.js'

/**
 * How one direction of a link behaves. A link is TCP-like: while it is up it delivers every
 * message, whole and in order; latency varies per message, but a message never overtakes the
 * one sent before it (a slow one holds back the ones behind it, as a TCP retransmission does).
 * "Loss" therefore shows up as the link breaking, never as a missing message in the middle.
 */
export interface LinkConfig {
  /** One-way propagation delay floor. */
  readonly latencyMsMin: number
  /** Mean of the exponential jitter added to latencyMsMin; a long tail, like queueing delay. */
  readonly latencyJitterMsMean: number
  /** Cap on one-way latency, jitter included (spikes come on top). */
  readonly latencyMsMax: number
  /** Chance per message of an extra delay (a retransmission stall), holding back what follows. */
  readonly spikeProbability: number
  /** The extra delay of a spike is uniform in [0, spikeMsMax). */
  readonly spikeMsMax: number
  /**
   * Chance per message that the link breaks instead of delivering it: that message and every
   * later one are lost and both ends see close code 1006 when it would have arrived.
   */
  readonly breakProbability: number
  /** Sender's write throughput: `onWritten` fires once the bytes ahead of it have drained at this rate. */
  readonly writeBytesPerMs: number
}

export interface NetConfig extends LinkConfig {
  /** A connect whose SYN or answer is lost (partition) fails with 1006 after this long. */
  readonly connectTimeoutMs: number
  /**
   * A link across a partition stalls silently; if the partition is still there after this
   * long, both ends see close code 1006, as keepalives or retransmission timeouts would tell
   * a real TCP connection. Healing sooner resumes the link with nothing lost.
   */
  readonly partitionCloseAfterMs: number
}

/** One rack: sub-millisecond to a few ms one way, 1 Gbit/s, no faults. */
export const NET_CONFIG_DEFAULT: NetConfig = {
  latencyMsMin: 0.2,
  latencyJitterMsMean: 0.3,
  latencyMsMax: 5,
  spikeProbability: 0,
  spikeMsMax: 50,
  breakProbability: 0,
  writeBytesPerMs: 125_000,
  connectTimeoutMs: 3_000,
  partitionCloseAfterMs: 5_000,
}

/** IANA's dynamic port range: where `listen({ port: 0 })` and outbound links get their ports. */
export const EPHEMERAL_PORT_MIN = 49_152
export const EPHEMERAL_PORT_MAX = 65_535

/**
 * The host `simHttpGet` requests come from by default: outside the cluster (an operator, a
 * load balancer), reachable unless a partition names it.
 */
export const SIM_HTTP_CLIENT_HOST = 'client'

/** A host is a node id: letters, digits, '.', '_' and '-' (no ':' so "host:port" parses). */
const HOST_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/

type Item =
  | { readonly kind: 'open'; deliverAtMs: number }
  | { readonly kind: 'message'; deliverAtMs: number; readonly data: Uint8Array }
  | { readonly kind: 'close'; deliverAtMs: number; readonly code: number; readonly reason: string }
  | { readonly kind: 'break'; deliverAtMs: number }

/** One process's view of the network: the `Net` in its Env. Dead once the process crashes. */
export class SimNetView implements Net {
  alive = true

  constructor(
    private readonly net: SimNet,
    readonly nodeId: string,
  ) {}

  listen(options: ListenOptions): Promise<Listener> {
    return this.net.listenFrom(this, options)
  }

  connect(address: string, options: ConnectOptions, handlers: LinkHandlers): Link {
    return this.net.connectFrom(this, address, options, handlers)
  }
}

/** One end of a link, handed to the code under test. */
class Endpoint implements Link {
  handlers: LinkHandlers | undefined
  canSend = false
  /** onClose has been scheduled for this end; nothing else reaches it. */
  closed = false
  outbound: Direction | undefined
  inbound: Direction | undefined

  constructor(
    private readonly net: SimNet,
    readonly connection: Connection,
    readonly view: SimNetView,
    readonly localAddress: string,
    readonly remoteAddress: string,
    readonly messageBytesMax: number,
  ) {}

  get host(): string {
    return this.view.nodeId
  }

  send(data: Uint8Array, onWritten?: () => void): void {
    this.net.sendFrom(this, data, onWritten)
  }

  close(code: number, reason: string): void {
    // Like a WebSocket close frame: what the real Net delivers, the simulated one does too.
    this.net.closeFrom(this, code, truncateCloseReason(reason))
  }
}

/** One direction of a link: a FIFO of items, pumped one at a time. */
class Direction {
  readonly queue: Item[] = []
  pump: EventHandle | undefined
  /** The head is held back by a partition. */
  stalled = false
  /** The receiving end is gone; nothing more is queued or delivered. */
  dead = false
  lastWrittenAtMs = 0
  lastDeliveryAtMs = 0

  constructor(
    readonly from: Endpoint,
    readonly to: Endpoint,
    readonly random: Prng,
  ) {}
}

const ConnectionState = { connecting: 'connecting', open: 'open', closed: 'closed' } as const
type ConnectionState = (typeof ConnectionState)[keyof typeof ConnectionState]

class Connection {
  state: ConnectionState = ConnectionState.connecting
  server: Endpoint | undefined
  listener: SimListener | undefined
  /** Set while a partition cuts either direction; the link dies if it lasts too long. */
  blockCheck: EventHandle | undefined
  readonly startedAtMs: number
  client!: Endpoint

  constructor(
    readonly id: number,
    readonly targetAddress: string,
    readonly upRandom: Prng,
    readonly downRandom: Prng,
    startedAtMs: number,
  ) {
    this.startedAtMs = startedAtMs
  }
}

class SimListener implements Listener {
  readonly connections = new Map<number, Connection>()
  closed = false

  constructor(
    private readonly net: SimNet,
    readonly view: SimNetView,
    readonly port: number,
    readonly options: ListenOptions,
  ) {}

  get host(): string {
    return this.view.nodeId
  }

  get address(): string {
    return `${this.host}:${this.port}`
  }

  close(): Promise<void> {
    this.net.closeListener(this)
    return Promise.resolve()
  }
}

/**
 * The simulated network shared by all nodes of a world. Each process gets a `SimNetView`
 * (its Env's `Net`); nothing real is opened.
 *
 * Addressing: a node's host is its node id ("n1"), so addresses read "n1:7071". Whatever
 * interface `listen` is asked for, the listener binds the node's own host (each node is its
 * own machine), and `Listener.host` reports it.
 *
 * Faults, modelled the way TCP exposes them (see LinkConfig): per-message latency and
 * spikes, link breaks (1006), blocked host pairs (`block`, and the shapes built on it:
 * partitions both ways or one way, bridges, isolation) that stall links and close them after
 * `partitionCloseAfterMs` and refuse new connects, and clogs (`clog`) that stall a direction
 * for a while without closing anything. Messages are never duplicated,
 * reordered or dropped on a live link; the transport above relies on that, and duplicates and
 * reordering across reconnects (a resend on a new link) happen on their own.
 */
export class SimNet {
  private config: NetConfig
  private readonly views = new Map<string, SimNetView>()
  private readonly listeners = new Map<string, SimListener>()
  /** Live connections (not fully closed), by id; ids grow, so iteration is in id order. */
  private readonly connections = new Map<number, Connection>()
  private readonly ephemeralPortNext = new Map<string, number>()
  private readonly blocked = new Set<string>()
  /** Clogged directions (pair keys): when each clears, and the event that clears it. */
  private readonly clogs = new Map<string, { readonly untilMs: number; readonly end: EventHandle }>()
  private readonly linkOverrides = new Map<string, Partial<LinkConfig>>()
  private readonly httpRandom: Prng
  private connectionIdNext = 1

  constructor(
    private readonly scheduler: Scheduler,
    private readonly random: Prng,
    config: NetConfig = NET_CONFIG_DEFAULT,
  ) {
    this.config = checkNetConfig(config)
    this.httpRandom = random.fork('http')
  }

  /** A new process on host `nodeId`. The previous one there must have crashed. */
  view(nodeId: string): SimNetView {
    assert.ok(HOST_PATTERN.test(nodeId), `node id ${JSON.stringify(nodeId)} is not a valid host name`)
    assert.ok(this.views.get(nodeId)?.alive !== true, `node ${nodeId} already has a live process`)
    const view = new SimNetView(this, nodeId)
    this.views.set(nodeId, view)
    return view
  }

  /** The process on `nodeId` died: its listeners vanish and its peers see 1006 at once (the RST). */
  crashNode(nodeId: string): void {
    const view = this.views.get(nodeId)
    assert.ok(view !== undefined, `unknown node ${nodeId}`)
    view.alive = false
    for (const listener of [...this.listeners.values()]) {
      if (listener.view !== view) continue
      listener.closed = true
      this.listeners.delete(listener.address)
    }
    for (const connection of [...this.connections.values()]) {
      if (connection.client.view === view || connection.server?.view === view) {
        this.abort(connection, LinkCloseCode.abnormal, 'connection reset by peer')
      }
    }
  }

  setConfig(config: NetConfig): void {
    this.config = checkNetConfig(config)
  }

  /** Overrides config for the direction `fromNode` to `toNode` (merged over the world's config). */
  setLinkConfig(fromNode: string, toNode: string, overrides: Partial<LinkConfig>): void {
    const key = pairKey(fromNode, toNode)
    const merged = { ...this.linkOverrides.get(key), ...overrides }
    checkLinkConfig({ ...this.config, ...merged })
    this.linkOverrides.set(key, merged)
  }

  clearLinkConfigs(): void {
    this.linkOverrides.clear()
  }

  /**
   * The one partition primitive: from now on nothing gets from any of `fromHosts` to any of
   * `toHosts` (the other way is untouched). Links carrying that direction stall and close
   * with 1006 after `partitionCloseAfterMs` unless unblocked sooner; connects fail after
   * `connectTimeoutMs`. Adds to the pairs already blocked.
   */
  block(fromHosts: readonly string[], toHosts: readonly string[]): void {
    this.addBlocks(fromHosts, toHosts)
    this.reevaluateBlocks()
  }

  /** Lets `fromHosts` reach `toHosts` again (one way); stalled links resume with nothing lost. */
  unblock(fromHosts: readonly string[], toHosts: readonly string[]): void {
    for (const from of fromHosts) for (const to of toHosts) this.blocked.delete(pairKey(from, to))
    this.reevaluateBlocks()
  }

  /** Cuts every pair between the groups, both ways. */
  partition(groupA: readonly string[], groupB: readonly string[]): void {
    this.addBlocks(groupA, groupB)
    this.addBlocks(groupB, groupA)
    this.reevaluateBlocks()
  }

  /** Drops everything from `fromHosts` to `toHosts`; the other way still flows. */
  partitionOneWay(fromHosts: readonly string[], toHosts: readonly string[]): void {
    this.block(fromHosts, toHosts)
  }

  /**
   * A bridge partition: `sideA` and `sideB` cannot reach each other (both ways), while
   * `bridgeHost`, on neither side, still reaches both (unless something else cut it).
   */
  bridge(sideA: readonly string[], sideB: readonly string[], bridgeHost: string): void {
    assert.ok(!sideA.includes(bridgeHost) && !sideB.includes(bridgeHost), `bridge ${bridgeHost} must be on neither side`)
    this.partition(sideA, sideB)
  }

  /**
   * Cuts `hosts` off from `fromHosts` only (both ways), e.g. a node the clients cannot reach
   * that still talks to its peers. Every other pair is untouched.
   */
  isolateFrom(hosts: readonly string[], fromHosts: readonly string[]): void {
    this.partition(hosts, fromHosts)
  }

  /** Removes every blocked pair and every clog; stalled links resume with nothing lost. */
  heal(): void {
    this.blocked.clear()
    for (const clog of this.clogs.values()) clog.end.cancel()
    this.clogs.clear()
    this.reevaluateBlocks()
  }

  isBlocked(fromHost: string, toHost: string): boolean {
    return this.blocked.has(pairKey(fromHost, toHost))
  }

  /** Every blocked [from, to] pair, sorted (for logs and tests). */
  blockedPairs(): [string, string][] {
    return [...this.blocked].sort().map((key) => key.split(' ') as [string, string])
  }

  /**
   * Clogs the direction `fromHost` to `toHost` for `durationMs`: nothing is delivered that
   * way and nothing is closed (however long, partitionCloseAfterMs does not apply: the peer
   * is reachable, just not answering), new connects wait for the clog to clear (or time
   * out). When it clears, everything queued floods in at once, in order. A clog already
   * there is extended, never shortened.
   */
  clog(fromHost: string, toHost: string, durationMs: number): void {
    assert.ok(fromHost !== toHost, `cannot clog ${fromHost} to itself`)
    assert.ok(durationMs > 0 && Number.isFinite(durationMs), `durationMs must be finite and > 0, got ${durationMs}`)
    const key = pairKey(fromHost, toHost)
    const untilMs = this.scheduler.nowMs() + durationMs
    const existing = this.clogs.get(key)
    if (existing !== undefined && existing.untilMs >= untilMs) return
    existing?.end.cancel()
    const end = this.scheduler.schedule(untilMs, `net:unclog:${fromHost}>${toHost}`, () => this.unclog(fromHost, toHost))
    this.clogs.set(key, { untilMs, end })
  }

  /** Clears a clog now (a no-op without one): what it held back floods in. */
  unclog(fromHost: string, toHost: string): void {
    const key = pairKey(fromHost, toHost)
    const clog = this.clogs.get(key)
    if (clog === undefined) return
    clog.end.cancel()
    this.clogs.delete(key)
    this.reevaluateBlocks()
  }

  isClogged(fromHost: string, toHost: string): boolean {
    return this.clogs.has(pairKey(fromHost, toHost))
  }

  /** Links that are connecting or open, for tests and checkers. */
  get connectionCount(): number {
    return this.connections.size
  }

  /** "host:port" of every listener, sorted. */
  listenerAddresses(): string[] {
    return [...this.listeners.keys()].sort()
  }

  /**
   * A plain HTTP GET from `fromHost` (default SIM_HTTP_CLIENT_HOST) through the simulated
   * network: resolves after a round trip, rejects with code ECONNREFUSED when nothing listens
   * and ETIMEDOUT across a partition. The scheduler must be running for it to settle.
   */
  simHttpGet(address: string, path: string, options: { fromHost?: string } = {}): Promise<HttpResponse> {
    const fromHost = options.fromHost ?? SIM_HTTP_CLIENT_HOST
    const target = parseAddress(address)
    assert.ok(target !== undefined, `invalid address ${JSON.stringify(address)}`)
    const startedAtMs = this.scheduler.nowMs()
    return new Promise((resolve, reject) => {
      const timeOut = (): void => {
        const atMs = Math.max(this.scheduler.nowMs(), startedAtMs + this.config.connectTimeoutMs)
        this.scheduler.schedule(atMs, `net:http-timeout:${target.host}`, () => reject(httpError('ETIMEDOUT', address)))
      }
      const request = (): void => {
        if (this.isBlocked(fromHost, target.host)) return timeOut()
        if (this.waitOutClog(fromHost, target.host, `net:http-request:${target.host}`, request, target.host)) return
        const listener = this.listeners.get(address)
        const response = listener === undefined ? undefined : { ...listener.options.onHttp({ method: 'GET', path }) }
        const respond = (): void => {
          if (this.isBlocked(target.host, fromHost)) return timeOut()
          if (this.waitOutClog(target.host, fromHost, `net:http-response:${target.host}`, respond, undefined)) return
          if (response === undefined) reject(httpError('ECONNREFUSED', address))
          else resolve(response)
        }
        this.scheduler.scheduleAfter(this.drawLatencyMs(this.httpRandom, target.host, fromHost), `net:http-response:${target.host}`, respond)
      }
      // The target's code answers: a paused target answers once it runs again.
      this.scheduler.scheduleAfter(this.drawLatencyMs(this.httpRandom, fromHost, target.host), `net:http-request:${target.host}`, request, target.host)
    })
  }

  /** @internal SimNetView.listen. */
  listenFrom(view: SimNetView, options: ListenOptions): Promise<Listener> {
    assertMessageBytesMax(options.messageBytesMax)
    assert.ok(Number.isInteger(options.port) && options.port >= 0 && options.port <= EPHEMERAL_PORT_MAX, `invalid port ${options.port}`)
    // A dead process's call never returns.
    if (!view.alive) return new Promise(() => {})
    const port = options.port === 0 ? this.allocatePort(view.nodeId) : options.port
    const address = `${view.nodeId}:${port}`
    if (this.listeners.has(address)) return Promise.reject(addressInUse(address))
    const listener = new SimListener(this, view, port, options)
    this.listeners.set(address, listener)
    return Promise.resolve(listener)
  }

  /** @internal SimListener.close. */
  closeListener(listener: SimListener): void {
    if (listener.closed) return
    listener.closed = true
    this.listeners.delete(listener.address)
    const accepted = [...listener.connections.values()].sort((a, b) => a.id - b.id)
    for (const connection of accepted) connection.server?.close(LinkCloseCode.goingAway, 'listener closed')
  }

  /** @internal SimNetView.connect. */
  connectFrom(view: SimNetView, address: string, options: ConnectOptions, handlers: LinkHandlers): Link {
    assertMessageBytesMax(options.messageBytesMax)
    const id = this.connectionIdNext++
    // Connection ids never repeat, so neither do these labels: no need to remember them.
    const upRandom = this.random.forkUnchecked(`c${id}:up`)
    const downRandom = this.random.forkUnchecked(`c${id}:down`)
    const connection = new Connection(id, address, upRandom, downRandom, this.scheduler.nowMs())
    const localAddress = `${view.nodeId}:${this.allocatePort(view.nodeId)}`
    const client = new Endpoint(this, connection, view, localAddress, address, options.messageBytesMax)
    client.handlers = handlers
    connection.client = client
    if (!view.alive) return client // a dead process's link never does anything
    this.connections.set(id, connection)
    const target = parseAddress(address)
    if (target === undefined) {
      this.failConnect(connection, 0, 'invalid address')
      return client
    }
    const synDelayMs = this.drawLatencyMs(connection.upRandom, view.nodeId, target.host)
    // Owned by the target: its accept runs its code, which waits while it is paused.
    this.scheduler.scheduleAfter(synDelayMs, `net:c${id}:syn:${view.nodeId}>${target.host}`, () => this.onSyn(connection, target.host), target.host)
    return client
  }

  /** @internal Link.send. */
  sendFrom(endpoint: Endpoint, data: Uint8Array, onWritten: (() => void) | undefined): void {
    assert.ok(data instanceof Uint8Array, 'data must be a Uint8Array')
    const direction = endpoint.outbound
    // Before open or after close the message is dropped, as the Link contract says.
    if (!endpoint.canSend || endpoint.closed || !endpoint.view.alive) return
    if (direction === undefined || direction.dead) return
    const config = this.linkConfig(endpoint.host, direction.to.host)
    const nowMs = this.scheduler.nowMs()
    // Durations are rounded, never absolute times: a rounded sum could land before now.
    const writtenAtMs = Math.max(nowMs, direction.lastWrittenAtMs) + roundMicros(data.byteLength / config.writeBytesPerMs)
    direction.lastWrittenAtMs = writtenAtMs
    if (onWritten !== undefined) this.scheduleWritten(endpoint, writtenAtMs, onWritten)
    const deliverAtMs = this.nextDeliveryAtMs(direction, writtenAtMs)
    const breaks = direction.random.chance(config.breakProbability)
    // Copied now: the sender may reuse its buffer once send() returns.
    this.enqueue(direction, breaks ? { kind: 'break', deliverAtMs } : { kind: 'message', deliverAtMs, data: data.slice() })
  }

  /** @internal Link.close: a graceful close, delivered after what this end already sent. */
  closeFrom(endpoint: Endpoint, code: number, reason: string): void {
    assert.ok(Number.isInteger(code), `close code must be an integer, got ${code}`)
    assert.ok(typeof reason === 'string', 'close reason must be a string')
    if (endpoint.closed || !endpoint.view.alive) return
    const connection = endpoint.connection
    if (connection.state === ConnectionState.connecting) {
      // Not accepted yet: the SYN in flight will find the connection closed and do nothing.
      connection.state = ConnectionState.closed
      this.connections.delete(connection.id)
      this.notifyClosed(endpoint, code, reason)
      return
    }
    const outbound = endpoint.outbound as Direction
    const deliverAtMs = this.nextDeliveryAtMs(outbound, this.scheduler.nowMs())
    this.enqueue(outbound, { kind: 'close', deliverAtMs, code, reason })
    this.notifyClosed(endpoint, code, reason)
    this.maybeFinish(connection)
  }

  private onSyn(connection: Connection, targetHost: string): void {
    if (connection.state !== ConnectionState.connecting) return
    const clientHost = connection.client.host
    if (this.isBlocked(clientHost, targetHost)) return this.failConnectAfterTimeout(connection)
    const clog = this.clogs.get(pairKey(clientHost, targetHost))
    if (clog !== undefined) return this.synAfterClog(connection, targetHost, clog.untilMs)
    const listener = this.listeners.get(connection.targetAddress)
    if (listener !== undefined) return this.accept(connection, listener)
    // Nothing listens: the RST comes back, unless the way back is cut too.
    if (this.isBlocked(targetHost, clientHost)) return this.failConnectAfterTimeout(connection)
    const rstDelayMs = this.drawLatencyMs(connection.downRandom, targetHost, clientHost)
    const clogBackMs = (this.clogs.get(pairKey(targetHost, clientHost))?.untilMs ?? 0) - this.scheduler.nowMs()
    this.failConnect(connection, Math.max(rstDelayMs, clogBackMs), 'connection refused')
  }

  /** The SYN hit a clog: it gets through when the clog clears, unless the connect times out first. */
  private synAfterClog(connection: Connection, targetHost: string, clogUntilMs: number): void {
    if (clogUntilMs >= connection.startedAtMs + this.config.connectTimeoutMs) return this.failConnectAfterTimeout(connection)
    const label = `net:c${connection.id}:syn:${connection.client.host}>${targetHost}`
    this.scheduler.schedule(clogUntilMs, label, () => this.onSyn(connection, targetHost), targetHost)
  }

  /**
   * If `fromHost` to `toHost` is clogged, runs `retry` (owned by `owner`) when the clog clears
   * and returns true; else returns false.
   */
  private waitOutClog(fromHost: string, toHost: string, label: string, retry: () => void, owner: string | undefined): boolean {
    const clog = this.clogs.get(pairKey(fromHost, toHost))
    if (clog === undefined) return false
    this.scheduler.schedule(clog.untilMs, label, retry, owner)
    return true
  }

  private accept(connection: Connection, listener: SimListener): void {
    const client = connection.client
    const server = new Endpoint(this, connection, listener.view, listener.address, client.localAddress, listener.options.messageBytesMax)
    server.canSend = true
    connection.server = server
    connection.listener = listener
    connection.state = ConnectionState.open
    client.outbound = server.inbound = new Direction(client, server, connection.upRandom)
    server.outbound = client.inbound = new Direction(server, client, connection.downRandom)
    listener.connections.set(connection.id, connection)
    // The open goes first on the way back, so the client hears onOpen before any message.
    const openAtMs = this.scheduler.nowMs() + this.drawLatencyMs(connection.downRandom, server.host, client.host)
    server.outbound.lastDeliveryAtMs = openAtMs
    this.enqueue(server.outbound, { kind: 'open', deliverAtMs: openAtMs })
    server.handlers = listener.options.onLink(server)
    this.updateBlock(connection)
  }

  private failConnectAfterTimeout(connection: Connection): void {
    const atMs = Math.max(this.scheduler.nowMs(), connection.startedAtMs + this.config.connectTimeoutMs)
    this.failConnect(connection, atMs - this.scheduler.nowMs(), 'connect timed out')
  }

  private failConnect(connection: Connection, delayMs: number, reason: string): void {
    const fail = (): void => {
      if (connection.state !== ConnectionState.connecting) return
      connection.state = ConnectionState.closed
      this.connections.delete(connection.id)
      this.notifyClosed(connection.client, LinkCloseCode.abnormal, reason)
    }
    this.scheduler.scheduleAfter(delayMs, `net:c${connection.id}:connect-failed`, fail, connection.client.host)
  }

  private enqueue(direction: Direction, item: Item): void {
    if (direction.dead) return
    direction.queue.push(item)
    if (direction.pump === undefined && !direction.stalled) this.schedulePump(direction)
  }

  private schedulePump(direction: Direction): void {
    const head = direction.queue[0]
    if (head === undefined) return
    const atMs = Math.max(this.scheduler.nowMs(), head.deliverAtMs)
    const label = `net:c${direction.from.connection.id}:${head.kind}:${direction.from.host}>${direction.to.host}`
    const pump = (): void => {
      direction.pump = undefined
      this.pumpOne(direction)
    }
    // Owned by the receiver: a paused process takes nothing in, and what comes queues behind this.
    direction.pump = this.scheduler.schedule(atMs, label, pump, direction.to.host)
  }

  private pumpOne(direction: Direction): void {
    if (direction.dead) return
    if (this.isStalledPair(direction.from.host, direction.to.host)) {
      // Held back, not lost: TCP keeps retransmitting until the partition heals or it gives up.
      direction.stalled = true
      return
    }
    const item = direction.queue.shift()
    assert.ok(item !== undefined)
    this.deliver(direction, item)
    if (!direction.dead) this.schedulePump(direction)
  }

  private deliver(direction: Direction, item: Item): void {
    const to = direction.to
    const connection = to.connection
    switch (item.kind) {
      case 'open':
        to.canSend = true
        if (to.view.alive) to.handlers?.onOpen?.()
        return
      case 'message':
        if (item.data.byteLength > to.messageBytesMax) {
          const reason = `message of ${item.data.byteLength} bytes exceeds ${to.messageBytesMax}`
          return this.abort(connection, LinkCloseCode.messageTooBig, reason)
        }
        if (to.view.alive) to.handlers?.onMessage(item.data)
        return
      case 'close':
        direction.dead = true
        this.notifyClosed(to, item.code, item.reason)
        return this.maybeFinish(connection)
      case 'break':
        return this.abort(connection, LinkCloseCode.abnormal, 'connection reset')
    }
  }

  /** When an item leaving at `departAtMs` arrives: a fresh latency, but never before the item ahead of it. */
  private nextDeliveryAtMs(direction: Direction, departAtMs: number): number {
    const latencyMs = this.drawLatencyMs(direction.random, direction.from.host, direction.to.host)
    direction.lastDeliveryAtMs = Math.max(departAtMs + latencyMs, direction.lastDeliveryAtMs)
    return direction.lastDeliveryAtMs
  }

  private scheduleWritten(endpoint: Endpoint, atMs: number, onWritten: () => void): void {
    const written = (): void => {
      // Not after the link closed: onClose already told the sender everything is gone.
      if (!endpoint.closed && endpoint.view.alive) onWritten()
    }
    this.scheduler.schedule(atMs, `net:c${endpoint.connection.id}:written:${endpoint.host}`, written, endpoint.host)
  }

  /** Marks `endpoint` closed and schedules its onClose (never synchronously inside a caller's call). */
  private notifyClosed(endpoint: Endpoint, code: number, reason: string): void {
    if (endpoint.closed) return
    endpoint.closed = true
    endpoint.canSend = false
    if (endpoint.inbound !== undefined) killDirection(endpoint.inbound)
    const onClose = (): void => {
      if (endpoint.view.alive) endpoint.handlers?.onClose(code, reason)
    }
    this.scheduler.scheduleAfter(0, `net:c${endpoint.connection.id}:onclose:${endpoint.host}:${code}`, onClose, endpoint.host)
  }

  /** Closes both ends at once with `code`, dropping everything in flight. */
  private abort(connection: Connection, code: number, reason: string): void {
    if (connection.state === ConnectionState.closed) return
    if (connection.client.outbound !== undefined) killDirection(connection.client.outbound)
    if (connection.server?.outbound !== undefined) killDirection(connection.server.outbound)
    this.notifyClosed(connection.client, code, reason)
    if (connection.server !== undefined) this.notifyClosed(connection.server, code, reason)
    this.finish(connection)
  }

  private maybeFinish(connection: Connection): void {
    if (connection.client.closed && connection.server?.closed !== false) this.finish(connection)
  }

  private finish(connection: Connection): void {
    connection.state = ConnectionState.closed
    connection.blockCheck?.cancel()
    connection.blockCheck = undefined
    this.connections.delete(connection.id)
    connection.listener?.connections.delete(connection.id)
  }

  /** After a partition change: start or stop each link's detection timer, resume stalled directions. */
  private reevaluateBlocks(): void {
    for (const connection of [...this.connections.values()]) {
      if (connection.state !== ConnectionState.open) continue
      this.updateBlock(connection)
      for (const direction of [connection.client.outbound, connection.server?.outbound]) {
        if (direction?.stalled === true && !this.isStalledPair(direction.from.host, direction.to.host)) this.resume(direction)
      }
    }
  }

  private updateBlock(connection: Connection): void {
    const clientHost = connection.client.host
    const serverHost = (connection.server as Endpoint).host
    const blocked = this.isBlocked(clientHost, serverHost) || this.isBlocked(serverHost, clientHost)
    if (blocked && connection.blockCheck === undefined) {
      const label = `net:c${connection.id}:partition-timeout`
      connection.blockCheck = this.scheduler.scheduleAfter(this.config.partitionCloseAfterMs, label, () => {
        connection.blockCheck = undefined
        this.abort(connection, LinkCloseCode.abnormal, 'connection timed out (partition)')
      })
    } else if (!blocked && connection.blockCheck !== undefined) {
      connection.blockCheck.cancel()
      connection.blockCheck = undefined
    }
  }

  /** Nothing gets from `fromHost` to `toHost` for now: blocked (a partition) or clogged. */
  private isStalledPair(fromHost: string, toHost: string): boolean {
    return this.blocked.has(pairKey(fromHost, toHost)) || this.clogs.has(pairKey(fromHost, toHost))
  }

  private addBlocks(fromHosts: readonly string[], toHosts: readonly string[]): void {
    for (const host of fromHosts) assert.ok(!toHosts.includes(host), `${host} is on both sides of the partition`)
    for (const from of fromHosts) for (const to of toHosts) this.blocked.add(pairKey(from, to))
  }

  /** The partition healed (or the clog cleared): what was held back goes out again (retransmitted), in order. */
  private resume(direction: Direction): void {
    direction.stalled = false
    const resumeAtMs = this.scheduler.nowMs() + this.drawLatencyMs(direction.random, direction.from.host, direction.to.host)
    for (const item of direction.queue) item.deliverAtMs = Math.max(item.deliverAtMs, resumeAtMs)
    direction.lastDeliveryAtMs = Math.max(direction.lastDeliveryAtMs, resumeAtMs)
    if (direction.pump === undefined) this.schedulePump(direction)
  }

  private linkConfig(fromHost: string, toHost: string): LinkConfig {
    const overrides = this.linkOverrides.get(pairKey(fromHost, toHost))
    return overrides === undefined ? this.config : { ...this.config, ...overrides }
  }

  /** One-way latency: floor + capped exponential jitter + an occasional spike; whole microseconds. */
  private drawLatencyMs(random: Prng, fromHost: string, toHost: string): number {
    const config = this.linkConfig(fromHost, toHost)
    const jitterMs = Math.min(random.exponential(config.latencyJitterMsMean), config.latencyMsMax - config.latencyMsMin)
    const spikes = random.chance(config.spikeProbability)
    const spikeMs = random.between(0, config.spikeMsMax)
    return roundMicros(config.latencyMsMin + jitterMs + (spikes ? spikeMs : 0))
  }

  private allocatePort(host: string): number {
    const rangeSize = EPHEMERAL_PORT_MAX - EPHEMERAL_PORT_MIN + 1
    let port = this.ephemeralPortNext.get(host) ?? EPHEMERAL_PORT_MIN
    for (let tries = 0; tries < rangeSize; tries++) {
      const candidate = port
      port = port === EPHEMERAL_PORT_MAX ? EPHEMERAL_PORT_MIN : port + 1
      if (!this.listeners.has(`${host}:${candidate}`)) {
        this.ephemeralPortNext.set(host, port)
        return candidate
      }
    }
    assert.fail(`no free ephemeral port on ${host}`)
  }
}

function killDirection(direction: Direction): void {
  direction.dead = true
  direction.queue.length = 0
  direction.pump?.cancel()
  direction.pump = undefined
}

/** Validates a config's ranges; returns it. */
export function checkNetConfig(config: NetConfig): NetConfig {
  checkLinkConfig(config)
  assert.ok(config.connectTimeoutMs > 0 && Number.isFinite(config.connectTimeoutMs), 'connectTimeoutMs must be finite and > 0')
  assert.ok(config.partitionCloseAfterMs > 0, 'partitionCloseAfterMs must be > 0')
  assert.ok(Number.isFinite(config.partitionCloseAfterMs), 'partitionCloseAfterMs must be finite')
  return config
}

function checkLinkConfig(config: LinkConfig): void {
  assert.ok(config.latencyMsMin >= 0, 'latencyMsMin must be >= 0')
  assert.ok(config.latencyJitterMsMean >= 0, 'latencyJitterMsMean must be >= 0')
  assert.ok(config.latencyMsMax >= config.latencyMsMin, 'latencyMsMax must be >= latencyMsMin')
  assert.ok(Number.isFinite(config.latencyMsMax), 'latencyMsMax must be finite')
  assert.ok(config.spikeProbability >= 0 && config.spikeProbability <= 1, 'spikeProbability must be in [0, 1]')
  assert.ok(config.spikeMsMax >= 0 && Number.isFinite(config.spikeMsMax), 'spikeMsMax must be finite and >= 0')
  assert.ok(config.breakProbability >= 0 && config.breakProbability <= 1, 'breakProbability must be in [0, 1]')
  assert.ok(config.writeBytesPerMs > 0, 'writeBytesPerMs must be > 0')
}

function parseAddress(address: string): { host: string; port: number } | undefined {
  const colonIndex = address.lastIndexOf(':')
  if (colonIndex <= 0) return undefined
  const host = address.slice(0, colonIndex)
  const port = Number(address.slice(colonIndex + 1))
  if (!HOST_PATTERN.test(host) || !Number.isInteger(port) || port < 1 || port > EPHEMERAL_PORT_MAX) return undefined
  return { host, port }
}

function pairKey(fromHost: string, toHost: string): string {
  return `${fromHost} ${toHost}`
}

function assertMessageBytesMax(messageBytesMax: number): void {
  assert.ok(Number.isSafeInteger(messageBytesMax), `messageBytesMax must be an integer, got ${messageBytesMax}`)
  assert.ok(messageBytesMax > 0, `messageBytesMax must be positive, got ${messageBytesMax}`)
}

function addressInUse(address: string): Error {
  return Object.assign(new Error(`address in use: ${address}`), { code: 'EADDRINUSE' })
}

function httpError(code: string, address: string): Error {
  return Object.assign(new Error(`${code}: GET ${address}`), { code })
}

function roundMicros(ms: number): number {
  return Math.round(ms * 1000) / 1000
}
