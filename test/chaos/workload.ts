import { Client, type Consumer, type Producer, SkeinError } from '../../src/index.js'
import { delay } from '../helpers/processes.js'

/**
 * The clients of a chaos run and the history they record: idempotent acks=all producers (every
 * send with its outcome), a consumer group of SDK members (every record each one processed),
 * and a sampler of the group's committed offsets.
 */

export interface ClusterAccess {
  seeds: readonly string[]
  clusterId: string
  clusterSecret: string
}

/** How a send ended: acknowledged with each record's place, or not (then it may or may not be in the log). */
export type SendOutcome =
  | { kind: 'ok'; partitions: number[]; offsets: number[] }
  /** A non-retriable error: the cluster refused the batch. */
  | { kind: 'failed'; error: string }
  /** Timed out or the link failed: written or not, nobody knows. */
  | { kind: 'unknown'; error: string }

export interface SendEntry {
  producer: string
  values: string[]
  /** performance.now() at the call and at its outcome. */
  startedAtMs: number
  endedAtMs?: number
  /** Undefined while in flight; a send still in flight at the end counts as unknown. */
  outcome?: SendOutcome
}

/** Records processed by the group, as parallel arrays (tens of thousands of them). */
export class ProcessedLog {
  readonly members: string[] = []
  readonly partitions: number[] = []
  readonly offsets: number[] = []
  readonly values: string[] = []

  add(member: string, partition: number, offset: number, value: string): void {
    this.members.push(member)
    this.partitions.push(partition)
    this.offsets.push(offset)
    this.values.push(value)
  }

  get length(): number {
    return this.values.length
  }
}

export interface CommitHistory {
  samples: number
  /** "topic/partition: before -> after" for each sample lower than one seen earlier. */
  regressions: string[]
  /** Highest committed offset seen per partition. */
  highest: Map<number, number>
}

/** Error codes that leave a send's fate open: the request may have been appended before it failed. */
const INDETERMINATE_CODES: ReadonlySet<string> = new Set(['REQUEST_TIMED_OUT', 'NETWORK_EXCEPTION', 'NODE_UNREACHABLE', 'SHUTTING_DOWN'])

/** Per-request timeout of the chaos clients: a paused node is given up on quickly, the call's 30 s deadline still rides out failovers. */
const CLIENT_REQUEST_TIMEOUT_MS = 5_000

export function newClient(access: ClusterAccess, clientId: string): Client {
  return new Client({ seeds: [...access.seeds], clusterId: access.clusterId, clusterSecret: access.clusterSecret, clientId, requestTimeoutMs: CLIENT_REQUEST_TIMEOUT_MS })
}

export function describeError(error: unknown): { name: string; text: string } {
  if (error instanceof SkeinError) return { name: error.errorName, text: `${error.errorName}: ${error.message}` }
  return { name: 'ERROR', text: error instanceof Error ? error.message : String(error) }
}

/** `lanes` loops, each sending RECORDS_PER_SEND fresh values and waiting for the outcome before the next. */
export class ProducerWorkload {
  private readonly client: Client
  private producer: Producer | undefined
  private running = false
  private loops: Promise<void>[] = []
  private sequence = 0

  constructor(
    access: ClusterAccess,
    readonly name: string,
    private readonly topic: string,
    private readonly sends: SendEntry[],
    private readonly options: { lanes: number; recordsPerSend: number; pauseMs: number },
  ) {
    this.client = newClient(access, `chaos-${name}`)
  }

  start(): void {
    this.producer = this.client.producer({ acks: 'all', idempotent: true, lingerMs: 5 })
    this.running = true
    this.loops = Array.from({ length: this.options.lanes }, () => this.lane())
  }

  /** Stops sending and waits (bounded by the client's call deadline) for the sends in flight. */
  async stop(): Promise<void> {
    this.running = false
    await Promise.all(this.loops)
    await this.producer?.close().catch(() => undefined)
    await this.client.close().catch(() => undefined)
  }

  /** Sends one more batch of fresh values and records it like the others (the convergence check's final write). */
  async sendOnce(partitions: readonly number[]): Promise<SendEntry> {
    const producer = this.producer ?? this.client.producer({ acks: 'all', idempotent: true, lingerMs: 0 })
    this.producer = producer
    const values = partitions.map(() => this.nextValue())
    const entry: SendEntry = { producer: this.name, values, startedAtMs: performance.now() }
    this.sends.push(entry)
    await this.settle(entry, producer.send({ topic: this.topic, messages: values.map((value, i) => ({ key: value, value, partition: partitions[i] })) }))
    return entry
  }

  private async lane(): Promise<void> {
    const producer = this.producer
    if (producer === undefined) return
    while (this.running) {
      const values = Array.from({ length: this.options.recordsPerSend }, () => this.nextValue())
      const entry: SendEntry = { producer: this.name, values, startedAtMs: performance.now() }
      this.sends.push(entry)
      await this.settle(entry, producer.send({ topic: this.topic, messages: values.map((value) => ({ key: value, value })) }))
      await delay(this.options.pauseMs)
    }
  }

  private async settle(entry: SendEntry, sending: Promise<readonly { partition: number; offset: number }[]>): Promise<void> {
    try {
      const placed = await sending.finally(() => (entry.endedAtMs = performance.now()))
      entry.outcome = { kind: 'ok', partitions: placed.map((r) => r.partition), offsets: placed.map((r) => r.offset) }
    } catch (error) {
      const { name, text } = describeError(error)
      const retriable = error instanceof SkeinError && error.retriable
      entry.outcome = { kind: INDETERMINATE_CODES.has(name) || retriable ? 'unknown' : 'failed', error: text }
    }
  }

  private nextValue(): string {
    return `${this.name}-${String(this.sequence++).padStart(7, '0')}`
  }
}

/**
 * `size` SDK consumers in one group, each on its own Client, at least once: a record is
 * recorded as processed when the handler sees it, and auto-commit stores positions after
 * processed records. A member whose run() fails (the error is recorded) rejoins with a new
 * consumer after a second.
 */
export class GroupWorkload {
  private running = false
  private readonly clients: Client[] = []
  private readonly consumers = new Map<number, Consumer>()
  private loops: Promise<void>[] = []
  /** Member index, error text: each failed run(). */
  readonly memberErrors: string[] = []

  constructor(
    private readonly access: ClusterAccess,
    private readonly topic: string,
    readonly groupId: string,
    private readonly size: number,
    private readonly processed: ProcessedLog,
  ) {}

  start(): void {
    this.running = true
    for (let i = 0; i < this.size; i++) this.clients.push(newClient(this.access, `chaos-member-${i + 1}`))
    this.loops = this.clients.map((client, i) => this.member(client, i + 1))
  }

  async stop(): Promise<void> {
    this.running = false
    await Promise.all([...this.consumers.values()].map((consumer) => consumer.close().catch(() => undefined)))
    await Promise.all(this.loops)
    await Promise.all(this.clients.map((client) => client.close().catch(() => undefined)))
  }

  private async member(client: Client, index: number): Promise<void> {
    const name = `m${index}`
    while (this.running) {
      const consumer = client.consumer({
        groupId: this.groupId,
        fromBeginning: true,
        sessionTimeoutMs: 10_000,
        heartbeatIntervalMs: 1_000,
        rebalanceTimeoutMs: 20_000,
        autoCommitIntervalMs: 1_000,
        maxWaitMs: 200,
      })
      this.consumers.set(index, consumer)
      try {
        consumer.subscribe(this.topic)
        await consumer.run({
          eachMessage: ({ partition, message }) => {
            this.processed.add(name, partition, message.offset, message.value?.toString('utf8') ?? '')
          },
        })
      } catch (error) {
        this.memberErrors.push(`${name}: ${describeError(error).text}`)
      } finally {
        this.consumers.delete(index)
        await consumer.close().catch(() => undefined)
      }
      if (this.running) await delay(1_000)
    }
  }
}

/** Samples the group's committed offsets (admin.describeGroup) every `everyMs`; any that moved back is recorded. */
export class CommitSampler {
  private running = false
  private loop: Promise<void> | undefined
  private readonly client: Client
  readonly history: CommitHistory = { samples: 0, regressions: [], highest: new Map() }

  constructor(
    access: ClusterAccess,
    private readonly groupId: string,
    private readonly topic: string,
    private readonly everyMs: number,
  ) {
    this.client = newClient(access, 'chaos-sampler')
  }

  start(): void {
    this.running = true
    this.loop = this.run()
  }

  async stop(): Promise<void> {
    this.running = false
    await this.loop
    await this.client.close().catch(() => undefined)
  }

  /** One sample now; returns the committed offset per partition (missing: none committed). */
  async sample(): Promise<Map<number, number>> {
    const described = await this.client.admin().describeGroup(this.groupId)
    const committed = new Map<number, number>()
    for (const p of described.partitions) {
      if (p.topic !== this.topic || p.committedOffset === undefined) continue
      committed.set(p.partition, p.committedOffset)
      const before = this.history.highest.get(p.partition) ?? -1
      if (p.committedOffset < before) this.history.regressions.push(`${p.topic}/${p.partition}: ${before} -> ${p.committedOffset}`)
      this.history.highest.set(p.partition, Math.max(before, p.committedOffset))
    }
    this.history.samples++
    return committed
  }

  private async run(): Promise<void> {
    while (this.running) {
      await this.sample().catch(() => undefined)
      await delay(this.everyMs)
    }
  }
}
