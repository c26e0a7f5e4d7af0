import type { Env, Logger } from '../env/index.js'
import { BrokerClient, type BrokerClientConfig } from './broker-client.js'
import { Admin } from './admin.js'
import { withTimeout } from './call-timeout.js'
import { Consumer, type ConsumerConfig } from './consumer.js'
import { defaultClientEnv } from './default-env.js'
import { ClientErrorReason, SkeinClientError, invalidArgument } from './errors.js'
import { Producer, type ProducerConfig } from './producer.js'

/**
 * The SDK's entry point: `new Client({ seeds })`, then `admin()`, `producer()`, `consumer()`.
 *
 * One Client owns one BrokerClient (the request layer: leader routing, redirects, retries of
 * retriable errors until a per-call deadline), created on first use; the constructor only
 * checks its settings, so it never fails for a cluster that is down. Every call the SDK makes
 * is bounded: connecting by `connectTimeoutMs`, each cluster call by BrokerClient's
 * `requestDeadlineMs` plus a guard of CALL_GUARD_MS here (so a hang anywhere below still ends
 * in a typed REQUEST_TIMED_OUT). Every error is a SkeinError (`code`, `retriable`); those the
 * SDK raises itself are SkeinClientError with a `reason` (errors.ts).
 *
 * Offsets, partitions and timestamps are JavaScript `number`s everywhere, as in BrokerClient
 * and the wire protocol: integers up to 2^53 - 1, far beyond any log a node will hold.
 */
export interface ClientConfig {
  /** "host:port" of one or more nodes; any one that answers is enough to find the rest. */
  seeds: readonly string[]
  /** Names this client in the nodes' logs. Letters, digits, '.', '_' and '-'. */
  clientId?: string
  /** The cluster's `--cluster-id`; default 'skein', as `skein start`'s. */
  clusterId?: string
  /**
   * The cluster's shared secret. Default: `skein start`'s insecure development secret, so a
   * client finds a development cluster with no settings; set it for any real cluster.
   */
  clusterSecret?: string
  /** Bound on dialing the seeds (first use). Default 10 s. */
  connectTimeoutMs?: number
  /** One attempt of one request to one node. Default (BrokerClient's) 10 s. */
  requestTimeoutMs?: number
  /** One call, retries included; past it a call fails with REQUEST_TIMED_OUT. Default 30 s. */
  requestDeadlineMs?: number
  /** How long topic metadata (partition counts) is reused before it is re-read. Default 5 min, as Kafka's metadata.max.age.ms. */
  metadataMaxAgeMs?: number
  /** Time, randomness and network. Default: the real ones (default-env.ts). Tests and the simulator inject theirs. */
  env?: Env
  /** Where the client's connection logs; default silent. Ignored when `env` is given. */
  logger?: Logger
  /** Opens the connection; a seam for tests. Default BrokerClient.connect. */
  connect?: (env: Env, config: BrokerClientConfig) => Promise<BrokerClient>
}

/** `skein start`'s development secret (src/cli/start.ts), used when no secret is configured on either side. */
const DEV_CLUSTER_SECRET = 'skein-insecure-development-secret'
const CLUSTER_ID_DEFAULT = 'skein'
const CONNECT_TIMEOUT_MS_DEFAULT = 10_000
/** BrokerClient's own default call deadline; the SDK's guard is set from it. */
const REQUEST_DEADLINE_MS_DEFAULT = 30_000
/**
 * Margin past BrokerClient's own deadline before the SDK's guard fires: BrokerClient's
 * timeout (which carries the last error seen) should win; the guard only catches a hang.
 */
const CALL_GUARD_MS = 2_000
const METADATA_MAX_AGE_MS_DEFAULT = 5 * 60_000
const CLIENT_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/
/** host:port, the host a name, an IPv4 address or a bracketed IPv6 address. */
const SEED_PATTERN = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$/
const PORT_MAX = 65_535

interface CachedTopic {
  readonly partitionCount: number
  readonly fetchedAtMs: number
}

/** What producers, consumers and admins share with their Client. */
export interface ClientContext {
  readonly env: Env
  /** Runs one cluster call: connects if needed, then bounds the call by the client's guard (plus `extraWaitMs`, for long polls). */
  call<T>(what: string, run: (broker: BrokerClient) => Promise<T>, extraWaitMs?: number): Promise<T>
  /**
   * Partitions of `topic`, from cached metadata (re-read when older than metadataMaxAgeMs, or
   * when it does not have partition `needed`, which may have been added since); UNKNOWN_TOPIC
   * (SkeinClientError) if the cluster has no such topic.
   */
  partitionCount(topic: string, needed?: number): Promise<number>
  /** The connection if it is open already (no connecting). */
  connected(): BrokerClient | undefined
  /** Throws CLIENT_CLOSED once the client is closed. */
  assertOpen(): void
  /** A producer or consumer closed itself: the client no longer closes it. */
  forget(child: object): void
}

export class Client {
  private readonly env: Env
  private readonly brokerConfig: BrokerClientConfig
  private readonly connectTimeoutMs: number
  private readonly callTimeoutMs: number
  private readonly metadataMaxAgeMs: number
  private readonly connectFn: (env: Env, config: BrokerClientConfig) => Promise<BrokerClient>
  private connecting: Promise<BrokerClient> | undefined
  private broker: BrokerClient | undefined
  private closed = false
  private readonly topics = new Map<string, CachedTopic>()
  private readonly closeables = new Set<{ close(): Promise<void> }>()
  /** Rejects one call still waiting on the connection, for close(). */
  private readonly pendingCallAborts = new Set<() => void>()
  private readonly context: ClientContext

  constructor(config: ClientConfig) {
    validateClientConfig(config)
    const clientId = config.clientId ?? 'skein'
    this.env = config.env ?? defaultClientEnv(clientId, config.logger)
    this.brokerConfig = {
      seeds: [...config.seeds],
      clusterId: config.clusterId ?? CLUSTER_ID_DEFAULT,
      clusterSecret: config.clusterSecret ?? DEV_CLUSTER_SECRET,
      clientId,
      ...(config.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: config.requestTimeoutMs }),
      ...(config.requestDeadlineMs === undefined ? {} : { requestDeadlineMs: config.requestDeadlineMs }),
    }
    this.connectTimeoutMs = config.connectTimeoutMs ?? CONNECT_TIMEOUT_MS_DEFAULT
    this.callTimeoutMs = (config.requestDeadlineMs ?? REQUEST_DEADLINE_MS_DEFAULT) + CALL_GUARD_MS
    this.metadataMaxAgeMs = config.metadataMaxAgeMs ?? METADATA_MAX_AGE_MS_DEFAULT
    this.connectFn = config.connect ?? ((env, brokerConfig) => BrokerClient.connect(env, brokerConfig))
    this.context = {
      env: this.env,
      call: (what, run, extraWaitMs) => this.call(what, run, extraWaitMs),
      partitionCount: (topic, needed) => this.partitionCount(topic, needed),
      connected: () => this.broker,
      assertOpen: () => this.assertOpen(),
      forget: (child) => {
        this.closeables.delete(child as { close(): Promise<void> })
      },
    }
  }

  /** Connects now rather than on first use; resolves once a seed answered. */
  async connect(): Promise<void> {
    await this.connection()
  }

  admin(): Admin {
    this.assertOpen()
    return new Admin(this.context)
  }

  producer(config: ProducerConfig = {}): Producer {
    this.assertOpen()
    const producer = new Producer(this.context, config)
    this.track(producer)
    return producer
  }

  consumer(config: ConsumerConfig = {}): Consumer {
    this.assertOpen()
    const consumer = new Consumer(this.context, config)
    this.track(consumer)
    return consumer
  }

  /**
   * Closes the producers (sending what they buffer) and consumers made by this client, then
   * the connection. Later calls fail with CLIENT_CLOSED. Calling it again does nothing.
   */
  async close(): Promise<void> {
    if (this.closed) return
    const children = [...this.closeables]
    await Promise.allSettled(children.map((child) => child.close()))
    this.closed = true
    const broker = this.broker
    this.broker = undefined
    // A connection still being dialed is closed when it arrives (see connection()); not waited for.
    await broker?.close()
    // Calls the connection did not answer (a long-polling fetch) end now: their guard timers
    // would otherwise keep the process alive for up to a deadline after close.
    for (const abort of [...this.pendingCallAborts]) abort()
  }

  private track(child: { close(): Promise<void> }): void {
    this.closeables.add(child)
  }

  private assertOpen(): void {
    if (this.closed) throw new SkeinClientError(ClientErrorReason.CLIENT_CLOSED, 'the client is closed')
  }

  /** The connection, dialing the seeds on first use; a failed attempt is forgotten so the next call dials again. */
  private connection(): Promise<BrokerClient> {
    this.assertOpen()
    if (this.connecting === undefined) {
      const attempt = this.connectFn(this.env, this.brokerConfig)
      this.connecting = attempt
      attempt.then(
        (broker) => {
          if (this.closed || this.connecting !== attempt) void broker.close()
          else this.broker = broker
        },
        () => {
          if (this.connecting === attempt) this.connecting = undefined
        },
      )
    }
    const seeds = this.brokerConfig.seeds.join(',')
    return withTimeout(this.env.clock, this.connecting, this.connectTimeoutMs, `connecting to ${seeds}`)
  }

  private async call<T>(what: string, run: (broker: BrokerClient) => Promise<T>, extraWaitMs = 0): Promise<T> {
    const broker = await this.connection()
    this.assertOpen()
    let abort!: () => void
    const aborted = new Promise<never>((_, reject) => {
      abort = () => reject(new SkeinClientError(ClientErrorReason.CLIENT_CLOSED, `${what}: the client was closed`))
    })
    aborted.catch(() => undefined)
    this.pendingCallAborts.add(abort)
    try {
      return await withTimeout(this.env.clock, Promise.race([run(broker), aborted]), this.callTimeoutMs + extraWaitMs, what)
    } finally {
      this.pendingCallAborts.delete(abort)
    }
  }

  private async partitionCount(topic: string, needed = 0): Promise<number> {
    const cached = this.topics.get(topic)
    const fresh = cached !== undefined && this.env.clock.nowMs() - cached.fetchedAtMs < this.metadataMaxAgeMs
    if (fresh && needed < cached.partitionCount) return cached.partitionCount
    const metadata = await this.call(`metadata of '${topic}'`, (broker) => broker.metadata([topic]))
    const described = metadata.topics.find((candidate) => candidate.name === topic)
    if (described === undefined || described.partitions.length === 0) {
      this.topics.delete(topic)
      throw new SkeinClientError(ClientErrorReason.UNKNOWN_TOPIC, `topic '${topic}' does not exist`)
    }
    this.topics.set(topic, { partitionCount: described.partitions.length, fetchedAtMs: this.env.clock.nowMs() })
    return described.partitions.length
  }
}

/** Throws INVALID_ARGUMENT naming the first bad setting. */
function validateClientConfig(config: ClientConfig): void {
  if (typeof config !== 'object' || config === null) throw invalidArgument('Client needs a config object: { seeds: ["host:port", ...] }')
  if (!Array.isArray(config.seeds) || config.seeds.length === 0) throw invalidArgument('seeds must be a non-empty array of "host:port" strings')
  for (const seed of config.seeds) validateSeed(seed)
  if (config.clientId !== undefined && (typeof config.clientId !== 'string' || !CLIENT_ID_PATTERN.test(config.clientId))) {
    throw invalidArgument(`clientId must be 1 to 64 of [A-Za-z0-9._-], got ${JSON.stringify(config.clientId)}`)
  }
  if (config.clusterId !== undefined && (typeof config.clusterId !== 'string' || config.clusterId.length === 0)) throw invalidArgument('clusterId must be a non-empty string')
  if (config.clusterSecret !== undefined && (typeof config.clusterSecret !== 'string' || config.clusterSecret.length === 0)) throw invalidArgument('clusterSecret must be a non-empty string')
  for (const name of ['connectTimeoutMs', 'requestTimeoutMs', 'requestDeadlineMs', 'metadataMaxAgeMs'] as const) {
    const value = config[name]
    if (value !== undefined) requirePositiveInteger(name, value)
  }
}

function validateSeed(seed: unknown): void {
  const match = typeof seed === 'string' ? SEED_PATTERN.exec(seed) : null
  const port = match === null ? NaN : Number(match[2])
  if (match === null || port < 1 || port > PORT_MAX) {
    throw invalidArgument(`seed ${JSON.stringify(seed)} is not "host:port" (a host name or IP, then a port 1-${PORT_MAX})`)
  }
}

export function requirePositiveInteger(name: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) throw invalidArgument(`${name} must be a positive integer, got ${String(value)}`)
}

export function requireNonNegativeInteger(name: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw invalidArgument(`${name} must be a non-negative integer, got ${String(value)}`)
}
