/**
 * The contract between the comparison suite (`npm run bench`, bench/suite/) and each system it
 * measures: skein and the peers a user would pick instead (Redis Streams, NATS JetStream,
 * RabbitMQ quorum queues). The suite's workloads speak only these interfaces, so every system
 * runs the very same workload code; an adapter maps them onto the system's standard Node client
 * with durability settings made as comparable as the system allows (see docs/PERFORMANCE.md's
 * durability table).
 *
 * An adapter starts and stops its own server processes, on 127.0.0.1, on ports it picks free,
 * with data in a temp dir it removes; every process it starts it stops, also on failure.
 */

/** Which system, as printed in tables and stored in bench/results/*.json. */
export type SystemName = 'skein' | 'redis' | 'nats' | 'rabbitmq'

export interface BenchSystem {
  readonly name: SystemName
  /**
   * Undefined when the system can run here; otherwise why not ("redis-server not installed:
   * apt-get install -y redis-server"). A system that cannot run is skipped with this note,
   * never a failure.
   */
  unavailable(): Promise<string | undefined>
  /** Starts `nodes` server processes forming one cluster (1 = a single server). */
  deploy(options: DeployOptions): Promise<Deployment>
}

export interface DeployOptions {
  /** 1 or 3. */
  readonly nodes: number
  /** Used for temp data dirs and log lines. */
  readonly label: string
}

export interface Deployment {
  /** Server processes, for peak RSS and CPU sampling from /proc. */
  pids(): number[]
  /**
   * Creates a stream (skein topic, Redis stream key, JetStream stream, quorum queue) able to
   * hold every record the workload writes. `partitions` is a hint: systems without partitions
   * use one stream (or one per partition, where that is how the system scales: say which in
   * the adapter). `replication` 1 or 3 (3 needs nodes = 3).
   */
  createStream(name: string, options: StreamOptions): Promise<void>
  /** A producer with its own connection(s), as one application instance would have. */
  producer(stream: string, options: ProducerOptions): Promise<BenchProducer>
  /** A consumer reading the stream from its start, in order per partition. */
  consumer(stream: string, options: ConsumerOptions): Promise<BenchConsumer>
  /** Stops every server process and removes the data dirs. Idempotent. */
  stop(): Promise<void>
}

export interface StreamOptions {
  readonly partitions: number
  readonly replication: number
}

export interface ProducerOptions {
  /**
   * 'leader': acknowledged once the receiving server has it (skein acks=1); 'all': once every
   * replica has it, or as close as the system allows (skein acks=all, Redis WAIT, JetStream R3
   * and RabbitMQ quorum-queue confirms are majority-based: documented per adapter).
   */
  readonly acks: 'leader' | 'all'
}

export interface BenchProducer {
  /**
   * Sends the records and resolves once every one is acknowledged as `acks` says (rejects if
   * any is not). The suite keeps several sends in flight; an adapter batches and pipelines
   * inside one send as the system's client does best (pipelining, async publish, confirms).
   */
  send(values: readonly Uint8Array[]): Promise<void>
  close(): Promise<void>
}

export interface ConsumerOptions {
  /** Records per fetch/read the adapter asks for at most (a hint). */
  readonly batchRecordsMax: number
}

export interface BenchConsumer {
  /**
   * Reads from the start and calls `onRecords` with each batch of values as it arrives, in
   * order per partition, until `onRecords` returns false or close() is called; resolves then.
   * Values are the bytes producers sent (the latency workload stamps its send time in them).
   */
  run(onRecords: (values: readonly Uint8Array[]) => boolean): Promise<void>
  close(): Promise<void>
}
