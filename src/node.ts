import { registerDomainActors, diagNodeOf } from '../actors/index.js'
import { ActorSystem, type ActorSystemLimits, type Directory, StaticDirectory } from './actor/index.js'
import type { Env, HttpRequest, HttpResponse } from './env/index.js'
import { rendezvousNode } from './placement/index.js'
import { DEFAULT_TRANSPORT_LIMITS, Transport, type TransportLimits } from './transport/index.js'

/** Everything needed to build one node. The CLI fills it from flags; the simulator directly. */
export interface NodeConfig {
  /** Stable id of this node; a restarted process keeps it. */
  nodeId: string
  /** Nodes of different clusters refuse each other's links. */
  clusterId: string
  /** Shared secret every node of the cluster proves it knows when a link opens. */
  clusterSecret: string
  /** Interface to listen on (127.0.0.1 in tests). */
  host: string
  /** Port for node links and HTTP; 0 = ephemeral. */
  port: number
  /**
   * Other nodes and their "host:port" addresses. Until gossip membership lands this static
   * map is the whole cluster; `seeds` are recorded for it.
   */
  peers: Record<string, string>
  seeds: string[]
  transportLimits?: Partial<TransportLimits>
  actorLimits?: Partial<ActorSystemLimits>
}

/** A running node: its actor system and transport, and how to stop them. */
export class SkeinNode {
  private stopped = false

  constructor(
    readonly config: NodeConfig,
    readonly actors: ActorSystem,
    readonly transport: Transport,
    /** "host:port" the node actually listens on. */
    readonly address: string,
  ) {}

  /** Stops accepting work, fails waiting asks, stops actors, closes links. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    await this.actors.stop()
    await this.transport.stop()
  }
}

/** Hooks for embedding a node (the simulator, tests): what the CLI never needs to change. */
export interface NodeHooks {
  /** Replaces the default directory (diag actors pinned, others by rendezvous over the static peers). */
  directory?: Directory
  /** Registers extra actor kinds beside the domain actors. */
  registerActors?(system: ActorSystem): void
}

/** The default directory: diagnostics actors where their id pins them, others by rendezvous hashing. */
export function defaultDirectory(config: NodeConfig): StaticDirectory {
  const nodeIds = [config.nodeId, ...Object.keys(config.peers)].sort()
  return new StaticDirectory((actorId) => diagNodeOf(actorId) ?? rendezvousNode(actorId, nodeIds))
}

/** Builds and starts a node from config and an Env: the composition root. */
export async function startNode(env: Env, config: NodeConfig, hooks: NodeHooks = {}): Promise<SkeinNode> {
  const directory = hooks.directory ?? defaultDirectory(config)
  const actors = new ActorSystem(env, { nodeId: config.nodeId, directory, limits: config.actorLimits })
  registerDomainActors(actors)
  hooks.registerActors?.(actors)
  const transport = new Transport(
    env,
    {
      nodeId: config.nodeId,
      clusterId: config.clusterId,
      clusterSecret: config.clusterSecret,
      listenHost: config.host,
      listenPort: config.port,
      limits: { ...DEFAULT_TRANSPORT_LIMITS, ...config.transportLimits },
    },
    { addressOf: (nodeId) => config.peers[nodeId] },
    {
      onEnvelopes: (fromNodeId, envelopes) => actors.receiveFromPeer(fromNodeId, envelopes),
      onUndeliverable: (toNodeId, envelopes, error) => actors.undeliverable(toNodeId, envelopes, error),
      onHttp: (request) => statusRoute(request, actors),
    },
  )
  actors.attachSender(transport)
  const bound = await transport.start()
  // Static peers are the whole cluster until membership lands: link up with all of them now.
  for (const peerId of Object.keys(config.peers).sort()) transport.connect(peerId)
  const address = `${bound.host}:${bound.port}`
  env.log.info({ address, peers: Object.keys(config.peers).length }, 'node started')
  return new SkeinNode(config, actors, transport, address)
}

function statusRoute(request: HttpRequest, actors: ActorSystem): HttpResponse | undefined {
  if (request.method !== 'GET' || request.path !== '/status') return undefined
  return { status: 200, contentType: 'application/json', body: JSON.stringify({ nodeId: actors.nodeId, actors: actors.stats() }) }
}
