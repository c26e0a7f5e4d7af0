import type { Link, LinkHandlers, Listener, Logger } from '../env/index.js'
import { LinkCloseCode } from '../env/index.js'
import {
  type BatchFrame,
  type Envelope,
  ErrorCode,
  type Frame,
  FrameType,
  type HelloFrame,
  PROTOCOL_VERSION,
  type ProofFrame,
  SkeinError,
  type WelcomeFrame,
  decodeFrame,
  encodeFrame,
} from '../wire/index.js'
import { encodeBatchFrames } from './batch-encoder.js'
import { ACCEPTED_HANDSHAKES_MAX, type TransportConfig, validateTransportConfig } from './config.js'
import { Connection, ConnectionPhase, ConnectionRole } from './connection.js'
import { NONCE_BYTES, checkHello, checkProof, checkWelcome, initiatorProof, welcomeProof } from './handshake.js'
import { answerHttp } from './http.js'
import { Peer } from './peer.js'
import type { LinkInfo, PeerAddressBook, SendResult, TransportEnv, TransportHandlers, TransportStats } from './types.js'

type Counters = Omit<TransportStats, 'connectionCount'>

/**
 * Node-to-node links over the Env's Net: authenticated handshake, one link per peer pair,
 * per-peer bounded queues coalesced into batch frames, reconnect with backoff.
 *
 * Delivery is at most once and in order per peer pair: an envelope is written to at most one
 * link, and what a link had in flight when it died is lost (asks have deadlines above).
 * Nothing here allocates per envelope on the hot path: no timer, promise or log line per send.
 */
export class Transport {
  private readonly log: Logger
  private readonly peerStates = new Map<string, Peer>()
  private readonly connections = new Set<Connection>()
  private readonly dirtyPeers: Peer[] = []
  /** Reused for every batch taken from a queue; emptied before the flush returns. */
  private readonly batch: Envelope[] = []
  private readonly counters: Counters = {
    framesSent: 0,
    envelopesSent: 0,
    bytesSent: 0,
    framesReceived: 0,
    envelopesReceived: 0,
    bytesReceived: 0,
    linksDialed: 0,
    linksAccepted: 0,
    linksAuthenticated: 0,
    linksRefused: 0,
    linksReplaced: 0,
    envelopesUndeliverable: 0,
    envelopesAbandoned: 0,
  }
  private flushScheduled = false
  /** Peers this node refuses links with (fault injection); empty in normal operation. */
  private blocked: ReadonlySet<string> = new Set()
  /** Accepted links still in their handshake: bounded by ACCEPTED_HANDSHAKES_MAX. */
  private acceptedHandshakeCount = 0
  private nextConnectionId = 1
  private listening: Promise<Listener> | undefined
  private stopping: Promise<void> | undefined
  private allClosedWaiters: (() => void)[] = []

  constructor(
    private readonly env: TransportEnv,
    private readonly config: TransportConfig,
    private readonly addressBook: PeerAddressBook,
    private readonly handlers: TransportHandlers,
  ) {
    validateTransportConfig(config)
    // env.log already carries the node id.
    this.log = env.log.child({ component: 'transport' })
  }

  async start(): Promise<{ host: string; port: number }> {
    if (this.listening !== undefined) throw new Error('transport already started')
    if (this.stopping !== undefined) throw new SkeinError(ErrorCode.SHUTTING_DOWN, 'transport stopped')
    this.listening = this.env.net.listen({
      host: this.config.listenHost,
      port: this.config.listenPort,
      messageBytesMax: this.config.limits.frameBytesMax,
      onLink: (link) => this.acceptLink(link),
      onHttp: (request) => answerHttp(request, this.config, this.handlers.onHttp),
    })
    const listener = await this.listening
    this.log.info({ host: listener.host, port: listener.port }, 'transport listening')
    return { host: listener.host, port: listener.port }
  }

  /** Queues one envelope for a peer. Never throws; failures arrive via onUndeliverable. */
  send(toNodeId: string, envelope: Envelope): SendResult {
    if (this.stopping !== undefined) {
      this.deferUndeliverable(toNodeId, envelope, new SkeinError(ErrorCode.SHUTTING_DOWN, 'transport stopped'))
      return 'queued'
    }
    if (toNodeId === this.config.nodeId) {
      // Local delivery is the actor runtime's job; a retry here would loop forever.
      this.deferUndeliverable(toNodeId, envelope, new SkeinError(ErrorCode.INVALID_REQUEST, 'the transport does not send to its own node'))
      return 'queued'
    }
    const peer = this.peerFor(toNodeId)
    if (peer.queue.isFull()) return 'overloaded'
    peer.queue.push(envelope, this.env.clock.nowMs())
    peer.wanted = true
    this.scheduleFlush(peer)
    return 'queued'
  }

  /**
   * Dials `toNodeId` now, if no link to it is up or being made, and keeps redialing it while
   * its address is known, as if something had been sent: for peers this node will surely
   * talk to, so the first message does not pay for the handshake (and a peer that only
   * knows our address through its own config can reach us at once).
   */
  connect(toNodeId: string): void {
    if (this.stopping !== undefined || toNodeId === this.config.nodeId) return
    const peer = this.peerFor(toNodeId)
    peer.wanted = true
    this.ensureDialing(peer)
  }

  /**
   * Dials `address` without knowing which node listens there (a seed) and resolves with that
   * node's id once its welcome has proved it knows the cluster secret; resolves with our own id
   * if the address is our own; rejects with NODE_UNREACHABLE if no node authenticates there.
   *
   * The probe link is then closed, never kept: a link whose peer is unknown until its welcome
   * cannot take part in crossed-dial settlement, and two such links racing each other end up
   * replacing each other and losing what was in flight. The caller records id -> address in
   * the address book and sends by id, which dials (once) through the normal path.
   */
  discover(address: string): Promise<string> {
    if (this.stopping !== undefined) return Promise.reject(new SkeinError(ErrorCode.SHUTTING_DOWN, 'transport stopped'))
    return new Promise((resolve, reject) => {
      const conn = this.newConnection(ConnectionRole.initiator, undefined)
      let settled = false
      conn.discovery = {
        address,
        settle: (nodeId, error) => {
          if (settled) return
          settled = true
          if (nodeId !== undefined) resolve(nodeId)
          else reject(error ?? new SkeinError(ErrorCode.NODE_UNREACHABLE, `no node answered at ${address}`))
        },
      }
      this.counters.linksDialed++
      try {
        conn.link = this.env.net.connect(address, { messageBytesMax: this.config.limits.frameBytesMax }, this.linkHandlers(conn))
      } catch (err) {
        this.closeConnection(conn, LinkCloseCode.abnormal, `connect to ${address} failed: ${String(err)}`)
        this.connectionGone(conn)
      }
    })
  }

  /** Resolves once the peer's queue is below half its limit (at once if it already is). */
  whenWritable(toNodeId: string): Promise<void> {
    const peer = this.peerStates.get(toNodeId)
    return peer === undefined ? Promise.resolve() : peer.waitWritable()
  }

  queueDepth(toNodeId: string): number {
    return this.peerStates.get(toNodeId)?.queue.length ?? 0
  }

  /** Peers with an authenticated link right now. */
  connectedPeers(): string[] {
    const nodeIds: string[] = []
    for (const peer of this.peerStates.values()) if (peer.active !== undefined) nodeIds.push(peer.nodeId)
    return nodeIds
  }

  stats(): TransportStats {
    return { ...this.counters, connectionCount: this.connections.size }
  }

  links(): LinkInfo[] {
    return [...this.connections].map((conn) => ({
      id: conn.id,
      peerNodeId: conn.peerNodeId,
      role: conn.role,
      phase: conn.phase,
      remoteAddress: conn.remoteAddress(),
    }))
  }

  /**
   * Fault injection: from now on this node has no links with `nodeIds` (the set replaces the
   * previous one; [] heals). Current links with them, up or in their handshake, are closed
   * (code `blocked`); their hellos are refused and our dials to them fail as if refused, so
   * both ends see the peer down or unreachable, as in a network partition. Queued envelopes
   * stay queued (bounded, and their deadlines still run) and redials go on with backoff; a
   * peer taken off the set is redialed at once if something is waiting for it.
   * Only the named node ids are affected: clients and every other peer keep their links.
   */
  blockPeers(nodeIds: readonly string[]): void {
    for (const nodeId of nodeIds) {
      if (typeof nodeId !== 'string' || nodeId.length === 0) throw new RangeError('blockPeers: node ids must be non-empty strings')
      if (nodeId === this.config.nodeId) throw new RangeError(`blockPeers: cannot block this node's own id '${nodeId}'`)
    }
    const previous = this.blocked
    const next = new Set(nodeIds)
    this.blocked = next
    const added = [...next].filter((nodeId) => !previous.has(nodeId)).sort()
    const removed = [...previous].filter((nodeId) => !next.has(nodeId)).sort()
    if (added.length === 0 && removed.length === 0) return
    this.log.warn({ blocked: [...next].sort(), added, removed }, 'fault injection: blocked links changed')
    for (const conn of [...this.connections]) {
      if (conn.peerNodeId !== undefined && added.includes(conn.peerNodeId)) {
        this.closeConnection(conn, LinkCloseCode.blocked, 'link blocked by fault injection')
      }
    }
    for (const nodeId of removed) this.redialUnblocked(nodeId)
  }

  /** The node ids blockPeers set, sorted. */
  blockedPeers(): string[] {
    return [...this.blocked].sort()
  }

  /** Closes every link (1001), fails queued envelopes with SHUTTING_DOWN, cancels timers. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.shutDown()
    return this.stopping
  }

  private async shutDown(): Promise<void> {
    for (const peer of this.peerStates.values()) peer.cancelReconnect()
    for (const conn of [...this.connections]) this.closeConnection(conn, LinkCloseCode.goingAway, 'node shutting down')
    const shuttingDown = new SkeinError(ErrorCode.SHUTTING_DOWN, 'transport stopped')
    for (const peer of [...this.peerStates.values()]) this.failQueue(peer, shuttingDown)
    const allClosed = this.whenAllLinksClosed()
    const listener = await this.listening?.catch(() => undefined)
    await listener?.close()
    await allClosed
    this.log.info({}, 'transport stopped')
  }

  // ---- outbound ----

  private peerFor(nodeId: string): Peer {
    let peer = this.peerStates.get(nodeId)
    if (peer === undefined) {
      peer = new Peer(nodeId, this.config.limits.outboundQueueDepthMax)
      this.peerStates.set(nodeId, peer)
    }
    return peer
  }

  /** All sends of one synchronous run share the flush, and so their frames. */
  private scheduleFlush(peer: Peer): void {
    if (!peer.flushQueued) {
      peer.flushQueued = true
      this.dirtyPeers.push(peer)
    }
    if (this.flushScheduled) return
    this.flushScheduled = true
    queueMicrotask(this.flushDirtyPeers)
  }

  private readonly flushDirtyPeers = (): void => {
    this.flushScheduled = false
    const peers = this.dirtyPeers.splice(0)
    for (const peer of peers) {
      peer.flushQueued = false
      this.flushPeer(peer)
    }
  }

  /** Writes queued envelopes to the peer's link while its in-flight budget lasts. */
  private flushPeer(peer: Peer): void {
    if (this.stopping !== undefined) return
    const conn = peer.active
    if (conn === undefined) {
      if (peer.queue.length > 0) this.ensureDialing(peer)
      return
    }
    const nowMs = this.env.clock.nowMs()
    let expired: Envelope[] | undefined
    let rejected: { envelope: Envelope; error: SkeinError }[] | undefined
    const emit = (frame: Uint8Array, envelopeCount: number) => this.writeFrame(conn, frame, envelopeCount)
    const reject = (envelope: Envelope, error: SkeinError) => (rejected ??= []).push({ envelope, error })
    while (peer.queue.length > 0 && peer.active === conn && conn.inflightBytes < this.config.limits.inflightBytesMax) {
      expired = this.takeBatch(peer, nowMs, expired)
      encodeBatchFrames(this.batch, this.config.limits.frameBytesMax, emit, reject)
      this.batch.length = 0
    }
    peer.notifyWritable()
    if (expired !== undefined) {
      this.reportUndeliverable(peer.nodeId, expired, new SkeinError(ErrorCode.REQUEST_TIMED_OUT, 'deadline passed while queued for the link'))
    }
    for (const { envelope, error } of rejected ?? []) this.reportUndeliverable(peer.nodeId, [envelope], error)
  }

  /**
   * Moves up to batchEnvelopesMax envelopes from the queue into `this.batch`. A deadline is
   * relative "as of sending", so time spent queued here is taken off it; an envelope whose
   * deadline passed while queued is not sent at all, nor is one its asker abandoned (the ask
   * already failed, and may have been retried elsewhere: see Envelope.abandoned).
   */
  private takeBatch(peer: Peer, nowMs: number, expired: Envelope[] | undefined): Envelope[] | undefined {
    const batch = this.batch
    const queue = peer.queue
    const batchEnvelopesMax = this.config.limits.batchEnvelopesMax
    while (batch.length < batchEnvelopesMax && queue.length > 0) {
      const waitedMs = Math.floor(nowMs - queue.peekQueuedAtMs())
      const envelope = queue.shift()
      if (envelope.abandoned === true) {
        this.counters.envelopesAbandoned++
        continue
      }
      if (envelope.ttlMs === 0 || waitedMs < 1) {
        batch.push(envelope)
      } else if (waitedMs >= envelope.ttlMs) {
        ;(expired ??= []).push(envelope)
      } else {
        // A copy: the caller may hold (or have sent elsewhere) the same envelope object.
        batch.push({ ...envelope, ttlMs: envelope.ttlMs - waitedMs })
      }
    }
    return expired
  }

  private writeFrame(conn: Connection, frame: Uint8Array, envelopeCount: number): void {
    const link = conn.link
    if (link === undefined) throw new Error(`connection ${conn.id} is open without a link`)
    const byteCount = frame.byteLength
    conn.inflightBytes += byteCount
    this.counters.framesSent++
    this.counters.envelopesSent += envelopeCount
    this.counters.bytesSent += byteCount
    link.send(frame, () => this.onFrameWritten(conn, byteCount))
  }

  private onFrameWritten(conn: Connection, byteCount: number): void {
    conn.inflightBytes -= byteCount
    if (conn.inflightBytes < 0) throw new Error(`connection ${conn.id}: in-flight bytes went negative`)
    if (conn.phase !== ConnectionPhase.open || conn.peerNodeId === undefined) return
    const peer = this.peerStates.get(conn.peerNodeId)
    if (peer !== undefined && peer.active === conn && peer.queue.length > 0) this.scheduleFlush(peer)
  }

  private failQueue(peer: Peer, error: SkeinError): void {
    const envelopes = peer.queue.drain()
    if (envelopes.length > 0) this.reportUndeliverable(peer.nodeId, envelopes, error)
    peer.notifyWritable()
  }

  private reportUndeliverable(toNodeId: string, envelopes: Envelope[], error: SkeinError): void {
    this.counters.envelopesUndeliverable += envelopes.length
    try {
      this.handlers.onUndeliverable(toNodeId, envelopes, error)
    } catch (err) {
      this.handlerThrew('onUndeliverable', toNodeId, err)
    }
  }

  /** Failures found inside `send` are reported after it returns: callers never see re-entry. */
  private deferUndeliverable(toNodeId: string, envelope: Envelope, error: SkeinError): void {
    queueMicrotask(() => this.reportUndeliverable(toNodeId, [envelope], error))
  }

  // ---- dialing ----

  /** Dials the peer unless a link to it is up, being set up, or waiting out a backoff. */
  private ensureDialing(peer: Peer): void {
    if (this.stopping !== undefined || peer.active !== undefined) return
    if (peer.handshaking.size > 0 || peer.reconnectTimer !== undefined) return
    const address = this.addressBook.addressOf(peer.nodeId)
    if (address === undefined) {
      peer.wanted = false
      this.failQueue(peer, new SkeinError(ErrorCode.NODE_UNREACHABLE, `no address known for node ${peer.nodeId}`))
      this.forgetIfIdle(peer)
      return
    }
    if (this.blocked.has(peer.nodeId)) return this.dialBlocked(peer)
    const conn = this.newConnection(ConnectionRole.initiator, peer.nodeId)
    peer.handshaking.add(conn)
    this.counters.linksDialed++
    try {
      conn.link = this.env.net.connect(address, { messageBytesMax: this.config.limits.frameBytesMax }, this.linkHandlers(conn))
    } catch (err) {
      this.log.warn({ peer: peer.nodeId, address, err: String(err) }, 'dial failed')
      this.detach(conn, LinkCloseCode.abnormal)
      this.connectionGone(conn)
    }
  }

  /**
   * A dial to a blocked peer fails as a refused connect would: the layer above hears the peer
   * is unreachable (after the caller returns, as with a real dial) and a redial is scheduled.
   */
  private dialBlocked(peer: Peer): void {
    this.scheduleReconnect(peer)
    queueMicrotask(() => {
      if (this.stopping === undefined && peer.active === undefined) this.notifyPeer('onPeerUnreachable', peer.nodeId)
    })
  }

  /** A peer was taken off the blocked set: dial it now rather than at the end of its backoff. */
  private redialUnblocked(nodeId: string): void {
    const peer = this.peerStates.get(nodeId)
    if (peer === undefined || (!peer.wanted && peer.queue.length === 0)) return
    peer.cancelReconnect()
    peer.reconnectAttempts = 0
    this.ensureDialing(peer)
  }

  /** After a link to a peer is gone: redial later if we still have something for it. */
  private scheduleReconnect(peer: Peer): void {
    if (this.stopping !== undefined || peer.active !== undefined || peer.handshaking.size > 0) return
    if (peer.reconnectTimer !== undefined || (!peer.wanted && peer.queue.length === 0)) return
    const delayMs = peer.nextReconnectDelayMs(this.env.random, this.config.limits)
    peer.reconnectTimer = this.env.clock.setTimer(delayMs, () => {
      peer.reconnectTimer = undefined
      this.ensureDialing(peer)
    })
  }

  private forgetIfIdle(peer: Peer): void {
    if (peer.active !== undefined || peer.handshaking.size > 0 || peer.queue.length > 0) return
    if (peer.wanted || peer.reconnectTimer !== undefined || peer.flushQueued) return
    this.peerStates.delete(peer.nodeId)
  }

  // ---- links ----

  private newConnection(role: ConnectionRole, peerNodeId: string | undefined): Connection {
    const conn = new Connection(this.nextConnectionId++, role, this.config.nodeId, peerNodeId)
    this.connections.add(conn)
    conn.handshakeTimer = this.env.clock.setTimer(this.config.limits.handshakeTimeoutMs, () => {
      if (conn.isHandshaking()) {
        this.refuse(conn, LinkCloseCode.handshakeTimeout, `handshake not finished within ${this.config.limits.handshakeTimeoutMs} ms`)
      }
    })
    return conn
  }

  private acceptLink(link: Link): LinkHandlers {
    const conn = this.newConnection(ConnectionRole.acceptor, undefined)
    conn.link = link
    this.acceptedHandshakeCount++
    this.counters.linksAccepted++
    if (this.stopping !== undefined) {
      this.closeConnection(conn, LinkCloseCode.goingAway, 'node shutting down')
    } else if (this.acceptedHandshakeCount > ACCEPTED_HANDSHAKES_MAX) {
      this.refuse(conn, LinkCloseCode.overloaded, `more than ${ACCEPTED_HANDSHAKES_MAX} links in handshake`)
    }
    return this.linkHandlers(conn)
  }

  private linkHandlers(conn: Connection): LinkHandlers {
    return {
      onOpen: () => this.onLinkOpen(conn),
      onMessage: (data) => this.onLinkMessage(conn, data),
      onClose: (code, reason) => this.onLinkClose(conn, code, reason),
    }
  }

  private onLinkOpen(conn: Connection): void {
    if (conn.phase !== ConnectionPhase.connecting) return
    conn.localNonce = this.env.random.bytes(NONCE_BYTES)
    conn.phase = ConnectionPhase.awaitingWelcome
    this.sendControl(conn, {
      type: FrameType.hello,
      protocolVersion: PROTOCOL_VERSION,
      clusterId: this.config.clusterId,
      nodeId: this.config.nodeId,
      nonce: conn.localNonce,
    })
  }

  private onLinkMessage(conn: Connection, data: Uint8Array): void {
    if (conn.phase === ConnectionPhase.closed) return
    this.counters.bytesReceived += data.byteLength
    let frame: Frame
    try {
      frame = decodeFrame(data)
    } catch (err) {
      const tooLarge = err instanceof SkeinError && err.code === ErrorCode.MESSAGE_TOO_LARGE.code
      const reason = err instanceof Error ? err.message : String(err)
      this.refuse(conn, tooLarge ? LinkCloseCode.messageTooBig : LinkCloseCode.malformedFrame, reason)
      return
    }
    this.counters.framesReceived++
    this.dispatchFrame(conn, frame)
  }

  /** Each frame type is legal in exactly one phase; anything else closes the link. */
  private dispatchFrame(conn: Connection, frame: Frame): void {
    switch (frame.type) {
      case FrameType.batch:
        if (conn.phase === ConnectionPhase.open) return this.onBatch(conn, frame)
        break
      case FrameType.hello:
        if (conn.phase === ConnectionPhase.awaitingHello) return this.onHello(conn, frame)
        break
      case FrameType.welcome:
        if (conn.phase === ConnectionPhase.awaitingWelcome) return this.onWelcome(conn, frame)
        break
      case FrameType.proof:
        if (conn.phase === ConnectionPhase.awaitingProof) return this.onProof(conn, frame)
        break
    }
    this.refuse(conn, LinkCloseCode.unexpectedFrame, `${frameName(frame)} frame while ${conn.phase}`)
  }

  private onBatch(conn: Connection, frame: BatchFrame): void {
    const fromNodeId = conn.peerNodeId
    if (fromNodeId === undefined) throw new Error(`connection ${conn.id} is open with no peer`)
    this.counters.envelopesReceived += frame.envelopes.length
    try {
      this.handlers.onEnvelopes(fromNodeId, frame.envelopes)
    } catch (err) {
      this.handlerThrew('onEnvelopes', fromNodeId, err)
    }
  }

  private onHello(conn: Connection, hello: HelloFrame): void {
    const verdict = checkHello(hello, this.config)
    if (!verdict.ok && verdict.code === LinkCloseCode.selfDial) {
      // Usually our own seed list; a second process with our id is the other cause, hence info.
      this.log.info({ remoteAddress: conn.remoteAddress(), connection: conn.id }, 'dialed by our own node id; closing')
      return this.closeConnection(conn, verdict.code, verdict.reason)
    }
    if (!verdict.ok) return this.refuse(conn, verdict.code, verdict.reason)
    if (this.blocked.has(hello.nodeId)) return this.closeBlocked(conn, hello.nodeId)
    const peer = this.peerFor(hello.nodeId)
    conn.peerNodeId = hello.nodeId
    peer.handshaking.add(conn)
    if (!this.settleCrossedDial(conn, peer)) return
    conn.localNonce = this.env.random.bytes(NONCE_BYTES)
    conn.phase = ConnectionPhase.awaitingProof
    this.sendControl(conn, {
      type: FrameType.welcome,
      protocolVersion: PROTOCOL_VERSION,
      clusterId: this.config.clusterId,
      nodeId: this.config.nodeId,
      nonce: conn.localNonce,
      proof: welcomeProof(this.config.clusterSecret, hello.nonce, this.config.nodeId, hello.nodeId),
    })
  }

  /**
   * A hello arrived while our own dial to the same peer is still in its handshake: both nodes
   * dialed at once. Both apply the same rule, so both keep the same link: the one dialed by the
   * lexicographically smaller node id. Settling it here, before either link is authenticated,
   * means no envelope is ever written to the link that loses. Returns false if `incoming` lost.
   */
  private settleCrossedDial(incoming: Connection, peer: Peer): boolean {
    for (const own of peer.handshaking) {
      if (own.role !== ConnectionRole.initiator) continue
      if (this.config.nodeId < peer.nodeId) {
        this.closeConnection(incoming, LinkCloseCode.replaced, `crossed dials: keeping the link dialed by ${this.config.nodeId}`)
        return false
      }
      this.closeConnection(own, LinkCloseCode.replaced, `crossed dials: keeping the link dialed by ${peer.nodeId}`)
    }
    return true
  }

  private onWelcome(conn: Connection, welcome: WelcomeFrame): void {
    // A discovery dial learns who it reached from the welcome; its proof is checked as usual.
    if (conn.peerNodeId === undefined && conn.discovery !== undefined) conn.peerNodeId = welcome.nodeId
    const peerNodeId = conn.peerNodeId
    const localNonce = conn.localNonce
    if (peerNodeId === undefined || localNonce === undefined) throw new Error(`connection ${conn.id}: welcome before hello`)
    const verdict = checkWelcome(welcome, {
      clusterId: this.config.clusterId,
      peerNodeId,
      localNodeId: this.config.nodeId,
      secret: this.config.clusterSecret,
      localNonce,
    })
    if (!verdict.ok) return this.refuse(conn, verdict.code, verdict.reason)
    if (this.blocked.has(peerNodeId)) return this.closeBlocked(conn, peerNodeId)
    if (conn.discovery !== undefined) return this.endDiscovery(conn, peerNodeId)
    const proof = initiatorProof(this.config.clusterSecret, welcome.nonce, this.config.nodeId, peerNodeId)
    this.sendControl(conn, { type: FrameType.proof, proof })
    this.authenticated(conn)
  }

  /** A discovery dial has learned who answered: report it and close the probe link. */
  private endDiscovery(conn: Connection, peerNodeId: string): void {
    const discovery = conn.discovery
    conn.discovery = undefined
    discovery?.settle(peerNodeId)
    this.closeConnection(conn, LinkCloseCode.normal, peerNodeId === this.config.nodeId ? 'dialed ourselves' : 'discovered')
  }

  private onProof(conn: Connection, frame: ProofFrame): void {
    const peerNodeId = conn.peerNodeId
    const localNonce = conn.localNonce
    if (peerNodeId === undefined || localNonce === undefined) throw new Error(`connection ${conn.id}: proof before hello`)
    const verdict = checkProof(frame.proof, {
      secret: this.config.clusterSecret,
      localNonce,
      initiatorNodeId: peerNodeId,
      localNodeId: this.config.nodeId,
    })
    if (!verdict.ok) return this.refuse(conn, verdict.code, verdict.reason)
    this.authenticated(conn)
  }

  /**
   * The link is authenticated and becomes the peer's one link. If the peer already had one,
   * the newer link wins: crossed dials were settled before authentication, so a second
   * authenticated link means the other end restarted or gave up on the old one.
   */
  private authenticated(conn: Connection): void {
    const peerNodeId = conn.peerNodeId
    if (peerNodeId === undefined) throw new Error(`connection ${conn.id} authenticated with no peer`)
    this.endHandshake(conn)
    conn.phase = ConnectionPhase.open
    const peer = this.peerFor(peerNodeId)
    peer.handshaking.delete(conn)
    peer.cancelReconnect()
    peer.reconnectAttempts = 0
    this.counters.linksAuthenticated++
    const previous = peer.active
    peer.active = conn
    this.log.info({ peer: peerNodeId, remoteAddress: conn.remoteAddress(), role: conn.role, connection: conn.id }, 'link up')
    if (previous !== undefined) {
      this.counters.linksReplaced++
      this.closeConnection(previous, LinkCloseCode.replaced, `replaced by a newer link dialed by ${conn.initiatorNodeId()}`)
    } else {
      try {
        this.handlers.onPeerUp?.(peerNodeId)
      } catch (err) {
        this.handlerThrew('onPeerUp', peerNodeId, err)
      }
    }
    if (peer.queue.length > 0) this.scheduleFlush(peer)
  }

  private sendControl(conn: Connection, frame: Frame): void {
    conn.link?.send(encodeFrame(frame))
  }

  // ---- closing ----

  /** A link with a blocked peer got as far as naming it: closed, not counted as refused input. */
  private closeBlocked(conn: Connection, peerNodeId: string): void {
    this.log.debug({ peer: peerNodeId, remoteAddress: conn.remoteAddress(), connection: conn.id }, 'closing link: peer blocked by fault injection')
    this.closeConnection(conn, LinkCloseCode.blocked, 'link blocked by fault injection')
  }

  /** Closes a link because of what the other end sent (or did not send): always logged. */
  private refuse(conn: Connection, code: number, reason: string): void {
    this.counters.linksRefused++
    this.log.warn(
      { peer: conn.peerNodeId, remoteAddress: conn.remoteAddress(), connection: conn.id, code, reason },
      'closing link: bad input from the other end',
    )
    this.closeConnection(conn, code, reason)
  }

  private closeConnection(conn: Connection, code: number, reason: string): void {
    if (conn.phase === ConnectionPhase.closed) return
    this.detach(conn, code)
    conn.link?.close(code, reason)
  }

  private onLinkClose(conn: Connection, code: number, reason: string): void {
    if (code === LinkCloseCode.selfDial && conn.discovery !== undefined) this.endDiscovery(conn, this.config.nodeId)
    if (conn.phase !== ConnectionPhase.closed) {
      // Closed by the other end or the network, not by us.
      this.logRemoteClose(conn, code, reason)
      this.detach(conn, code)
    }
    this.connectionGone(conn)
  }

  /**
   * Takes a connection out of its peer's state; the link itself may still be closing. `code`
   * is the close code, when known: a dial closed as `replaced` lost a crossed-dial race to a
   * link that is still coming up, so it says nothing about the peer being unreachable.
   */
  private detach(conn: Connection, code?: number): void {
    const wasHandshaking = conn.isHandshaking()
    this.endHandshake(conn)
    conn.phase = ConnectionPhase.closed
    conn.discovery?.settle(undefined, new SkeinError(ErrorCode.NODE_UNREACHABLE, `no node authenticated at ${conn.discovery.address}`))
    conn.discovery = undefined
    if (conn.peerNodeId === undefined) return
    const peer = this.peerStates.get(conn.peerNodeId)
    if (peer === undefined) return
    // Only dials made by ensureDialing are in `handshaking` as initiators (discovery probes never are).
    const wasOurDial = wasHandshaking && conn.role === ConnectionRole.initiator && peer.handshaking.has(conn)
    peer.handshaking.delete(conn)
    if (peer.active === conn) {
      peer.active = undefined
      this.log.info({ peer: peer.nodeId, connection: conn.id }, 'link down')
      this.notifyPeer('onPeerDown', peer.nodeId)
    } else if (wasOurDial && code !== LinkCloseCode.replaced && peer.active === undefined && peer.handshaking.size === 0) {
      if (this.stopping === undefined) this.notifyPeer('onPeerUnreachable', peer.nodeId)
    }
    this.scheduleReconnect(peer)
    this.forgetIfIdle(peer)
  }

  private notifyPeer(handler: 'onPeerDown' | 'onPeerUnreachable', nodeId: string): void {
    try {
      this.handlers[handler]?.(nodeId)
    } catch (err) {
      this.handlerThrew(handler, nodeId, err)
    }
  }

  /** The handshake is over, one way or the other: stop its clock and free its slot. */
  private endHandshake(conn: Connection): void {
    if (!conn.isHandshaking()) return
    conn.handshakeTimer?.cancel()
    conn.handshakeTimer = undefined
    if (conn.role === ConnectionRole.acceptor) this.acceptedHandshakeCount--
    if (this.acceptedHandshakeCount < 0) throw new Error('accepted handshake count went negative')
  }

  private connectionGone(conn: Connection): void {
    this.connections.delete(conn)
    if (this.connections.size > 0) return
    const waiters = this.allClosedWaiters
    this.allClosedWaiters = []
    for (const resolve of waiters) resolve()
  }

  private whenAllLinksClosed(): Promise<void> {
    if (this.connections.size === 0) return Promise.resolve()
    return new Promise((resolve) => this.allClosedWaiters.push(resolve))
  }

  /**
   * A handler above us threw: a bug there. Logged loudly, but the transport's own state
   * (mid-way through a close or a flush) must stay consistent and other peers keep flowing.
   */
  private handlerThrew(handler: string, peerNodeId: string, err: unknown): void {
    this.log.error({ peer: peerNodeId, handler, err: err instanceof Error ? err.stack : String(err) }, 'transport handler threw')
  }

  private logRemoteClose(conn: Connection, code: number, reason: string): void {
    const fields = { peer: conn.peerNodeId, remoteAddress: conn.remoteAddress(), connection: conn.id, code, reason }
    if (REFUSAL_CODES.has(code)) this.log.warn(fields, 'link closed: refused')
    else this.log.debug(fields, 'link closed')
  }
}

/** Close codes that mean one end refused the other's input: worth an operator's attention. */
const REFUSAL_CODES: ReadonlySet<number> = new Set([
  LinkCloseCode.protocolError,
  LinkCloseCode.messageTooBig,
  LinkCloseCode.malformedFrame,
  LinkCloseCode.authenticationFailed,
  LinkCloseCode.versionMismatch,
  LinkCloseCode.handshakeTimeout,
  LinkCloseCode.unexpectedFrame,
  LinkCloseCode.overloaded,
])

function frameName(frame: Frame): string {
  switch (frame.type) {
    case FrameType.hello:
      return 'hello'
    case FrameType.welcome:
      return 'welcome'
    case FrameType.proof:
      return 'proof'
    case FrameType.batch:
      return 'batch'
  }
}

/** Cuts a string to at most `bytesMax` bytes of UTF-8, on a character boundary. */
