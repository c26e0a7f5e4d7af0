/**
 * The clients' history of one full-system run (sim/full/): every operation a simulated client
 * invoked, and how it completed, in the order the operations were invoked. The checker
 * (checker.ts) judges the run from this history (and from what the replicas showed when
 * sampled); `--trace` prints it line by line, interleaved with the world's events.
 *
 * Operations:
 * - `produce`: one `Producer.send` of 1 to 3 unique values to one partition, by a producer
 *   that is idempotent or not, with acks=all or acks=1. It completes `ok` (with each value's
 *   offset), `failed` (the SDK said so, with an error that is not a timeout), or `unknown` (a
 *   timeout, a lost link, or no answer at all by the end: the write may or may not have
 *   happened). Only `ok` with acks=all obliges the cluster to keep the values.
 * - `assign`: a consumer by assignment (no group) starts reading partitions at given offsets;
 *   one consumer instance is one `session`, and its polls are judged against its start.
 * - `poll`: one batch of records a consumer by assignment was handed, for one partition.
 * - `sync`, `commit`, `offsets`, `process`: a group member's sync answer, a commit and its
 *   acknowledgement, a read of the group's committed offsets, a record a member processed (the
 *   consumer-group checker's observations, sim/group/checker.ts).
 */
import type { CommitObservation, OffsetsRead, ProcessedRecord, SyncObservation } from '../group/checker.js'

export const Outcome = {
  ok: 'ok',
  failed: 'failed',
  /** Timed out, link lost, or never answered: the effect may or may not have happened. */
  unknown: 'unknown',
} as const
export type Outcome = (typeof Outcome)[keyof typeof Outcome]

export type Acks = 'all' | 1

export interface ProduceOp {
  readonly type: 'produce'
  /** The producing client's name (host and start count, e.g. `p2#1`). */
  readonly client: string
  readonly idempotent: boolean
  readonly acks: Acks
  readonly topic: string
  readonly partition: number
  /** Unique across the run: a value names one record. */
  readonly values: readonly string[]
  readonly invokedAtMs: number
  completedAtMs: number | undefined
  /** Undefined while in flight; an operation still in flight at the end counts as unknown. */
  outcome: Outcome | undefined
  /** With `ok`: the offset of each value. */
  offsets: readonly number[] | undefined
  error: string | undefined
}

export interface AssignOp {
  readonly type: 'assign'
  /** The consumer session (one consumer instance, e.g. `a1#2`). */
  readonly session: string
  readonly atMs: number
  readonly partitions: readonly { readonly topic: string; readonly partition: number; readonly offset: number }[]
}

export interface PollRecord {
  readonly offset: number
  readonly value: string
}

export interface PollOp {
  readonly type: 'poll'
  readonly session: string
  readonly atMs: number
  readonly topic: string
  readonly partition: number
  /** In the order handed over. */
  readonly records: readonly PollRecord[]
}

export type GroupOp =
  | ({ readonly type: 'sync' } & SyncObservation)
  | ({ readonly type: 'commit' } & { readonly commit: CommitObservation })
  | ({ readonly type: 'offsets' } & { readonly read: OffsetsRead })
  | ({ readonly type: 'process' } & ProcessedRecord)

export type Op = ProduceOp | AssignOp | PollOp | GroupOp

/** Called with each operation as it is invoked, and again (same object) as it completes. */
export type HistoryListener = (op: Op, event: 'invoke' | 'complete') => void

export class History {
  readonly ops: Op[] = []
  private listener: HistoryListener | undefined

  /** One listener (the trace writer), told of every invocation and completion. */
  listen(listener: HistoryListener): void {
    this.listener = listener
  }

  add<T extends Op>(op: T): T {
    this.ops.push(op)
    this.listener?.(op, 'invoke')
    return op
  }

  complete(op: ProduceOp, atMs: number, outcome: Outcome, result: { offsets?: readonly number[]; error?: string } = {}): void {
    op.completedAtMs = atMs
    op.outcome = outcome
    op.offsets = result.offsets
    op.error = result.error
    this.listener?.(op, 'complete')
  }

  /** A group operation completed (a commit acknowledged): the listener hears of it. */
  completeGroup(op: GroupOp): void {
    this.listener?.(op, 'complete')
  }

  produces(): ProduceOp[] {
    return this.ops.filter((op): op is ProduceOp => op.type === 'produce')
  }
}

/** One line per operation (or completion) for the trace file. */
export function formatOp(op: Op, event: 'invoke' | 'complete'): string {
  switch (op.type) {
    case 'produce': {
      const head = `${op.client} produce ${op.topic}/${op.partition} [${op.values.join(',')}] acks=${op.acks}${op.idempotent ? ' idempotent' : ''}`
      if (event === 'invoke') return `invoke ${head}`
      const detail = op.outcome === Outcome.ok ? `offsets [${(op.offsets ?? []).join(',')}]` : (op.error ?? '')
      return `${op.outcome ?? 'unknown'} ${head} ${detail}`
    }
    case 'assign':
      return `${op.session} assign ${op.partitions.map((p) => `${p.topic}/${p.partition}@${p.offset}`).join(' ')}`
    case 'poll':
      return `${op.session} poll ${op.topic}/${op.partition} ${op.records.map((r) => `${r.offset}=${r.value}`).join(' ')}`
    case 'sync':
      return `${op.member} sync generation ${op.generation} [${op.assignment.map((tp) => `${tp.topic}/${tp.partition}`).join(',')}]`
    case 'commit': {
      const offsets = op.commit.offsets.map((o) => `${o.topic}/${o.partition}@${o.offset}`).join(' ')
      return `${op.commit.member} commit generation ${op.commit.generation} ${offsets}${event === 'complete' ? ' acknowledged' : ''}`
    }
    case 'offsets':
      return `read committed offsets ${[...op.read.offsets].map(([key, offset]) => `${key}@${offset}`).join(' ')}`
    case 'process':
      return `${op.member} processed ${op.topic}/${op.partition}@${op.offset}=${op.value}`
  }
}
