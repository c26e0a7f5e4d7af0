import {
  BROKER_SETTINGS_DEFAULT,
  BrokerControl,
  type BrokerSettings,
  ControllerVoters,
  type NodeServices,
  registerDomainActors,
} from '../actors/index.js'
import { ActorSystem, type ActorSystemLimits, type Directory, StaticDirectory } from './actor/index.js'
import type { Env, HttpRequest, HttpResponse } from './env/index.js'
import { LAN_SWIM_SETTINGS, type SwimSettings } from './membership/index.js'
import { MEMBERSHIP_RECIPIENT, MembershipShell } from './membership/shell.js'
import { MembershipDirectory, rendezvousNode } from './placement/index.js'
import { type Envelope, brokerActorId, pinnedNodeOf } from './wire/index.js'
import { FileCache } from './log/index.js'
import { type KafkaEndpoint, KafkaEndpointActor, type KafkaListener, startKafkaListener } from './kafka/index.js'
import { KAFKA_ENDPOINT_KIND } from './wire/index.js'
import { DEFAULT_TRANSPORT_LIMITS, Transport, type TransportLimits, faultInjectionRoute } from './transport/index.js'

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
  /** Address other nodes reach this one at; default `host:port` as bound. */
  advertisedAddress?: string
  /** Zone or rack tag, gossiped with the address; placement spreads replicas across zones. */
  zone?: string
  /** "host:port" of nodes to join through (any reachable one will do; may include this node). */
  seeds: string[]
  /** Known nodes and addresses, dialled at start and used as seeds too (tests, fixed clusters). */
  peers: Record<string, string>
  swimSettings?: SwimSettings
  /** How long a leaving node keeps gossiping its departure before it closes its links. */
  leaveLingerMs?: number
  transportLimits?: Partial<TransportLimits>
  actorLimits?: Partial<ActorSystemLimits>
  /** Node ids of the metadata quorum for a new cluster; default: the nodes at the first 3 seeds (see ControllerVoters). */
  controllers?: string[]
  broker?: Partial<BrokerSettings>
  /** Runs no broker (no partitions, no metadata): for membership- and actor-only setups. */
  brokerDisabled?: boolean
  /**
   * Serves the fault-injection endpoint (POST /fault/links, authenticated with a token derived
   * from the cluster secret) that cuts this node's links to chosen peers: for chaos tests
   * only. Default false: the path does not exist.
   */
  faultInjection?: boolean
  /**
   * The Kafka protocol listener (src/kafka/); undefined runs none. Port 0 here means an
   * ephemeral port (embedding, tests: the CLI's `--kafka-port ephemeral`); the CLI's
   * `--kafka-port 0` means "no listener" and leaves this undefined. It binds before the node
   * joins, so every member others can see already knows its Kafka endpoint; a port that cannot
   * be bound fails the start, as a taken node port does (a node that is configured as a Kafka
   * broker and silently is not one would surface only as clients failing elsewhere).
   * `autoCreateTopics`: see KafkaListenerConfig.autoCreateTopics (default false).
   */
  kafka?: { port: number; advertisedHost?: string; autoCreateTopics?: boolean }
}

/**
 * Long enough for a few probe rounds to carry the 'left' news to most members (it also
 * travels by push-pull later), short enough that stopping a node stays quick.
 */
const LEAVE_LINGER_MS_DEFAULT = 1_000

/** Hooks for embedding a node (the simulator, tests): what the CLI never needs to change. */
export interface NodeHooks {
  /** Replaces the membership-driven directory (e.g. a fixed one for scenarios without state transfer). */
  directory?: Directory
  /** Registers extra actor kinds beside the domain actors. */
  registerActors?(system: ActorSystem): void
}

/** A fixed directory: diagnostics actors where their id pins them, others by rendezvous over `nodeIds`. */
export function staticDirectory(nodeIds: readonly string[]): StaticDirectory {
  const sorted = [...nodeIds].sort()
  return new StaticDirectory((actorId) => pinnedNodeOf(actorId) ?? rendezvousNode(actorId, sorted))
}

/** A running node: its membership, actor system and transport, and how to stop them. */
export class SkeinNode {
  private stopped = false

  constructor(
    readonly config: NodeConfig,
    readonly membership: MembershipShell,
    readonly actors: ActorSystem,
    readonly transport: Transport,
    /** "host:port" the node is reached at. */
    readonly address: string,
    /** Broker services (hosted replicas, metadata voters); undefined when the broker is disabled. */
    readonly services: NodeServices | undefined,
    /** The Kafka protocol listener, when one runs. */
    readonly kafka: KafkaListener | undefined = undefined,
  ) {}

  /** Leaves the cluster, fails waiting asks, stops actors, closes links. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    await this.membership.leave(this.config.leaveLingerMs ?? LEAVE_LINGER_MS_DEFAULT)
    await this.kafka?.close()
    await this.actors.stop()
    await this.transport.stop()
  }
}

/** Builds and starts a node from config and an Env: the composition root. */
export async function startNode(env: Env, config: NodeConfig, hooks: NodeHooks = {}): Promise<SkeinNode> {
  const placement = new MembershipDirectory(config.nodeId, { pinned: pinnedNodeOf })
  const actors = new ActorSystem(env, { nodeId: config.nodeId, directory: hooks.directory ?? placement, limits: config.actorLimits })
  let membership: MembershipShell | undefined
  let voters: ControllerVoters | undefined
  const liveMembers = () =>
    (membership?.liveMembers() ?? []).map((m) => ({ id: m.id, address: m.address, zone: m.zone })).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  const services: NodeServices | undefined = config.brokerDisabled === true ? undefined : {
    nodeId: config.nodeId,
    liveMembers,
    addressOf: (nodeId) => membership?.addressOf(nodeId) ?? config.peers[nodeId],
    controllerVoters: () => voters?.get(),
    controllerMembership: () => voters?.membership(),
    observeControllerMembership: async (observed) => (await voters?.observe(observed)) ?? false,
    adoptControllerVoters: async (list, source) => voters?.adopt(list, source),
    deriveControllerVoters: () => voters?.derive(liveMembers()),
    files: new FileCache(env.disk),
    settings: { ...BROKER_SETTINGS_DEFAULT, ...config.broker },
    hostedReplicas: new Map(),
  }
  registerDomainActors(actors, services)
  let kafkaEndpoint: KafkaEndpoint | undefined
  actors.registerKind(KAFKA_ENDPOINT_KIND, () => new KafkaEndpointActor(() => kafkaEndpoint), { passivateAfterIdleMs: 0 })
  hooks.registerActors?.(actors)
  let faultRoute: ((request: HttpRequest) => HttpResponse | undefined) | undefined
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
    { addressOf: (nodeId) => config.peers[nodeId] ?? membership?.addressOf(nodeId) },
    {
      onEnvelopes: (fromNodeId, envelopes) => routeInbound(fromNodeId, envelopes, membership, actors),
      onUndeliverable: (toNodeId, envelopes, error) => actors.undeliverable(toNodeId, envelopes, error),
      onPeerDown: (nodeId) => actors.peerDown(nodeId),
      onPeerUnreachable: (nodeId) => actors.peerUnreachable(nodeId),
      onHttp: (request) => faultRoute?.(request) ?? statusRoute(request, config.nodeId, membership, actors, services),
    },
  )
  if (config.faultInjection === true) {
    faultRoute = faultInjectionRoute(transport, config, env.log.child({ component: 'fault-injection' }))
    env.log.warn({}, 'fault injection enabled: POST /fault/links can cut this node\'s links (chaos testing only)')
  }
  actors.attachSender(transport)
  const kafka = config.kafka === undefined || services === undefined ? undefined : await startKafka(env, config, config.kafka, actors)
  kafkaEndpoint = kafka?.endpoint
  let bound: { host: string; port: number }
  try {
    bound = await transport.start()
  } catch (err) {
    await kafka?.close()
    throw err
  }
  const address = config.advertisedAddress ?? `${bound.host}:${bound.port}`
  const shell = new MembershipShell(
    env,
    {
      self: { id: config.nodeId, address, zone: config.zone ?? '' },
      seeds: [...config.seeds, ...Object.values(config.peers)],
      settings: config.swimSettings ?? LAN_SWIM_SETTINGS,
    },
    transport,
    () => placement.setMembers(shell.liveMembers()),
  )
  membership = shell
  placement.setMembers(shell.liveMembers())
  // Static peers are known for certain: link up with them now rather than on first use.
  for (const peerId of Object.keys(config.peers).sort()) transport.connect(peerId)
  shell.start()
  if (services !== undefined) {
    voters = new ControllerVoters(
      env.disk,
      env.log.child({ component: 'controllers' }),
      { id: config.nodeId, address },
      config.seeds,
      Object.keys(config.peers),
      config.controllers,
      services.settings.controllerCount,
    )
    await voters.load()
    actors.tell(brokerActorId(config.nodeId), BrokerControl.start, null)
  }
  env.log.info({ address, zone: config.zone ?? '', seeds: config.seeds.length, peers: Object.keys(config.peers).length, kafkaPort: kafka?.endpoint.port ?? null }, 'node started')
  return new SkeinNode(config, shell, actors, transport, address, services, kafka)
}

/** Starts the Kafka listener; a port that cannot be bound fails the node's start (see NodeConfig.kafka). */
function startKafka(env: Env, config: NodeConfig, kafka: NonNullable<NodeConfig['kafka']>, actors: ActorSystem): Promise<KafkaListener> {
  const node = { nodeId: config.nodeId, clock: env.clock, log: env.log, ask: <T>(actorId: string, kind: string, payload: unknown, options: { timeoutMs: number }) => actors.ask<T>(actorId, kind, payload, options) }
  return startKafkaListener(env.net, node, { host: config.host, port: kafka.port, advertisedHost: kafka.advertisedHost, autoCreateTopics: kafka.autoCreateTopics })
}

/** Membership envelopes go to the shell; everything else to the actors, in arrival order. */
function routeInbound(fromNodeId: string, envelopes: Envelope[], membership: MembershipShell | undefined, actors: ActorSystem): void {
  let membershipCount = 0
  for (const envelope of envelopes) if (envelope.to === MEMBERSHIP_RECIPIENT) membershipCount++
  if (membershipCount === 0) return actors.receiveFromPeer(fromNodeId, envelopes)
  const forActors: Envelope[] = []
  for (const envelope of envelopes) {
    if (envelope.to !== MEMBERSHIP_RECIPIENT) forActors.push(envelope)
    else membership?.receive(fromNodeId, envelope)
  }
  if (forActors.length > 0) actors.receiveFromPeer(fromNodeId, forActors)
}

function statusRoute(request: HttpRequest, nodeId: string, membership: MembershipShell | undefined, actors: ActorSystem, services: NodeServices | undefined): HttpResponse | undefined {
  if (request.method !== 'GET' || request.path !== '/status') return undefined
  const members = (membership?.members() ?? []).map((m) => ({ id: m.id, address: m.address, state: m.state, incarnation: m.incarnation, zone: m.zone }))
  const partitions = [...(services?.hostedReplicas.values() ?? [])]
    .map(({ topic, partition, replica }) => ({
      topic,
      partition,
      role: replica.role,
      term: replica.epoch,
      leader: replica.leader ?? null,
      highWatermark: replica.highWatermark,
      logEndOffset: replica.logEndOffset,
      logStartOffset: replica.logStartOffset,
    }))
    .sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition))
  // The metadata group as last committed and learned here: current voters, learners catching up to replace one, founding voters.
  const controllerGroup = services?.controllerMembership()
  const controllers = controllerGroup?.voters ?? null
  const controllerLearners = controllerGroup?.learners ?? []
  const body = { node: nodeId, members, controllers, controllerLearners, foundingControllers: controllerGroup?.founding ?? null, partitions, actors: actors.stats() }
  return { status: 200, contentType: 'application/json', body: JSON.stringify(body) }
}
