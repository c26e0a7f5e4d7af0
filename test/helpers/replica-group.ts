import { type Acks, PartitionReplica, type ProduceResult } from '../../actors/partition/replica.js'
import { Prng } from '../../sim/prng.js'
import { Scheduler } from '../../sim/scheduler.js'
import { settle } from '../../sim/settle.js'
import { SimClock } from '../../sim/sim-clock.js'
import { DISK_CONFIG_DEFAULT, DiskCrashMode, SimDisk } from '../../sim/sim-disk.js'
import { silentLogger } from '../../src/env/logger.js'
import { decodeRecordBatches } from '../../src/log/record-batch.js'
import type { RaftMessage } from '../../src/raft/index.js'

export const VOTERS = ['r1', 'r2', 'r3']
export const LINK_LATENCY_MS = 2
/** The producer id the idempotent and transactional replica tests write as. */
export const PID = 1_234

/** Three replicas of one partition on one virtual timeline (as in replica.test.ts), for the idempotent and transactional replica tests. */
export class ReplicaGroup {
  readonly scheduler = new Scheduler()
  readonly disks = new Map<string, SimDisk>()
  readonly replicas = new Map<string, PartitionReplica>()
  private readonly clocks = new Map<string, SimClock>()
  private readonly prng: Prng
  /** Replicas cut off from the others: their messages, both ways, are dropped. */
  readonly isolated = new Set<string>()

  constructor(seed: number) {
    this.prng = Prng.fromSeed(seed)
    for (const id of VOTERS) this.disks.set(id, new SimDisk(this.scheduler, this.prng.fork(`disk-${id}`), id, DISK_CONFIG_DEFAULT))
  }

  async start(id: string): Promise<void> {
    const clock = new SimClock(this.scheduler, { nodeId: id, monotonicStartMs: this.scheduler.nowMs() })
    this.clocks.set(id, clock)
    const random = this.prng.fork(`raft-${id}-${this.scheduler.nowMs()}`)
    const replica = await this.run(() =>
      PartitionReplica.open(
        { disk: this.disks.get(id) as SimDisk, clock, log: silentLogger, random: () => random.float() },
        { id, voters: VOTERS, dir: 'topic-0', send: (message, records) => this.deliver(message, records) },
      ),
    )
    this.replicas.set(id, replica)
  }

  crash(id: string): void {
    this.clocks.get(id)?.kill()
    this.replicas.delete(id)
    this.disks.get(id)?.crash({ mode: DiskCrashMode.dropUnsynced })
  }

  idOf(replica: PartitionReplica): string {
    return [...this.replicas.entries()].find(([, r]) => r === replica)?.[0] as string
  }

  async waitForLeader(timeoutMs = 10_000): Promise<PartitionReplica> {
    const leader = (): PartitionReplica | undefined => [...this.replicas.values()].filter((r) => r.role === 'leader' && r.acceptsWrites).sort((a, b) => b.epoch - a.epoch)[0]
    await this.scheduler.runUntil(() => leader() !== undefined, { timeoutMs })
    const found = leader()
    if (found === undefined) throw new Error('no leader elected')
    return found
  }

  /** Produces a copy of `batch` (the leader stamps its buffer) on the current leader. */
  async produce(batch: Uint8Array, acks: Acks = 'all'): Promise<ProduceResult> {
    const leader = await this.waitForLeader()
    return this.run(() => leader.produce(batch.slice(), acks))
  }

  /** Every data batch in the replica's log (committed or not): [producerId, baseSequence, baseOffset, values]. */
  async batches(replica: PartitionReplica): Promise<Array<{ sequence: number; baseOffset: number; values: string[] }>> {
    const found: Array<{ sequence: number; baseOffset: number; values: string[] }> = []
    let offset = replica.logStartOffset
    while (offset < replica.highWatermark) {
      const read = await this.run(() => replica.read(offset, 1 << 20))
      if (read.batchCount === 0) break
      for (const batch of decodeRecordBatches(read.bytes)) {
        if (!batch.isControl) found.push({ sequence: batch.baseSequence, baseOffset: batch.baseOffset, values: batch.records.map((r) => new TextDecoder().decode(r.value as Uint8Array)) })
      }
      offset = read.nextOffset
    }
    return found
  }

  /** Runs virtual time until `body`'s promise settles (sim/settle.ts). */
  run<T>(body: () => Promise<T>, timeoutMs = 30_000): Promise<T> {
    return settle(this.scheduler, body(), timeoutMs)
  }

  async settle(ms: number): Promise<void> {
    await this.scheduler.runFor(ms)
  }

  private deliver(message: RaftMessage, records: Uint8Array | undefined): void {
    if (this.isolated.has(message.from) || this.isolated.has(message.to)) return
    const copy = records?.slice()
    this.scheduler.scheduleAfter(LINK_LATENCY_MS, `raft ${message.type} ${message.from}->${message.to}`, () => this.replicas.get(message.to)?.receive(message, copy))
  }
}
