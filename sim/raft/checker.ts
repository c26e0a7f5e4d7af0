/**
 * The Raft history checker: it sees only what the simulated shells did (appends, truncations,
 * crashes, leaders elected, high watermarks reported), keeps its own model of every replica's
 * log from those events, and never looks inside a RaftCore. Fed one event at a time
 * (`record`), it reports each violation when it happens, so a run can stop at the first one;
 * `checkHistory` feeds a whole recorded (or fabricated) history.
 *
 * What it holds the group to:
 * - election safety: at most one leader per epoch, ever (across restarts too);
 * - contiguity: a replica's log grows only at its end, batches cover [base, last], epochs never
 *   go back along a log;
 * - log matching: two batches with the same (lastOffset, epoch), on any replicas at any time,
 *   are the same batch after the same prefix (checked by chaining each batch to its parent);
 * - committed durability: the prefix below any high watermark a leader reports is one fixed
 *   sequence of batches; later reports extend it and never replace a batch of it; a follower's
 *   high watermark covers only that prefix;
 * - leader completeness: a leader of epoch E holds everything committed by leaders of epochs
 *   below E when it takes over;
 * - no committed batch is truncated away, and no replica truncates below its high watermark;
 * - a replica's high watermark never decreases, except through a restart (back to 0).
 */

/** One record batch as the simulated log holds it: offsets [baseOffset, lastOffset], one epoch. */
export interface Batch {
  readonly baseOffset: number
  readonly lastOffset: number
  readonly epoch: number
  /** Unique per batch ever created (client proposals and leaders' control batches). */
  readonly id: string
}

export type HistoryEvent =
  /** `replica` became leader of `epoch`; its epoch starts at `startOffset`. */
  | { readonly kind: 'leader'; readonly atMs: number; readonly replica: string; readonly epoch: number; readonly startOffset: number }
  /** `replica` appended `batch` at its log end (a proposal, a control batch, or a fetched copy). */
  | { readonly kind: 'append'; readonly atMs: number; readonly replica: string; readonly batch: Batch }
  /** `replica` cut its log at `offset` (everything from `offset` on is gone). */
  | { readonly kind: 'truncate'; readonly atMs: number; readonly replica: string; readonly offset: number }
  /** `replica` crashed, keeping only its durable prefix [0, durableEnd). */
  | { readonly kind: 'crash'; readonly atMs: number; readonly replica: string; readonly durableEnd: number }
  /** `replica`, in `role` and `epoch`, reported its high watermark as `offset`. */
  | { readonly kind: 'highWatermark'; readonly atMs: number; readonly replica: string; readonly role: 'leader' | 'follower'; readonly epoch: number; readonly offset: number }

export interface Violation {
  readonly atMs: number
  readonly rule: string
  readonly detail: string
}

interface ReplicaModel {
  log: Batch[]
  highWatermark: number
}

const ROOT_KEY = 'root'

function batchKey(batch: Batch): string {
  return `${batch.lastOffset}@${batch.epoch}`
}

function describeBatch(batch: Batch | undefined): string {
  return batch === undefined ? 'nothing' : `${batch.id}[${batch.baseOffset}..${batch.lastOffset}]e${batch.epoch}`
}

export class HistoryChecker {
  readonly violations: Violation[] = []
  private readonly replicas = new Map<string, ReplicaModel>()
  private readonly leaderOfEpoch = new Map<number, string>()
  /** (lastOffset, epoch) -> "id|parentKey": the log matching property, over all time. */
  private readonly chain = new Map<string, string>()
  /** The committed prefix: batches below the largest high watermark any leader reported. */
  private readonly committed: Batch[] = []
  private committedEndValue = 0
  /** epoch -> the largest high watermark its leader reported. */
  private readonly committedByEpoch = new Map<number, number>()
  private eventsValue = 0

  get committedEnd(): number {
    return this.committedEndValue
  }

  get events(): number {
    return this.eventsValue
  }

  /** The committed batches, in offset order (a copy). */
  committedBatches(): Batch[] {
    return [...this.committed]
  }

  /** The checker's model of `replica`'s log (a copy). */
  logOf(replica: string): Batch[] {
    return [...(this.replicas.get(replica)?.log ?? [])]
  }

  /** Checks one event against everything before it; returns the violations it caused. */
  record(event: HistoryEvent): Violation[] {
    this.eventsValue++
    const before = this.violations.length
    switch (event.kind) {
      case 'leader':
        this.onLeader(event)
        break
      case 'append':
        this.onAppend(event)
        break
      case 'truncate':
        this.onTruncate(event)
        break
      case 'crash':
        this.onCrash(event)
        break
      case 'highWatermark':
        this.onHighWatermark(event)
        break
    }
    return this.violations.slice(before)
  }

  private onLeader(event: Extract<HistoryEvent, { kind: 'leader' }>): void {
    const previous = this.leaderOfEpoch.get(event.epoch)
    if (previous !== undefined) {
      const what = previous === event.replica ? 'again (after a restart?)' : `while ${previous} already led it`
      this.fail(event.atMs, 'election safety', `${event.replica} became leader of epoch ${event.epoch} ${what}`)
    }
    this.leaderOfEpoch.set(event.epoch, event.replica)
    const model = this.model(event.replica)
    const end = logEnd(model.log)
    if (event.startOffset !== end) this.fail(event.atMs, 'leader start', `${event.replica} leads epoch ${event.epoch} from ${event.startOffset} but its log ends at ${end}`)
    // Leader completeness: everything committed under earlier epochs is in the new leader's log.
    let required = 0
    for (const [epoch, highWatermark] of this.committedByEpoch) if (epoch < event.epoch) required = Math.max(required, highWatermark)
    const held = this.matchingPrefixEnd(model.log)
    if (held < required) {
      const missing = this.committed.find((batch) => batch.lastOffset >= held)
      this.fail(event.atMs, 'leader completeness', `${event.replica} leads epoch ${event.epoch} without committed ${describeBatch(missing)} (committed to ${required} by earlier epochs; its log matches to ${held}, has ${describeBatch(batchAt(model.log, held))} there)`)
    }
  }

  private onAppend(event: Extract<HistoryEvent, { kind: 'append' }>): void {
    const { batch } = event
    const model = this.model(event.replica)
    const last = model.log[model.log.length - 1]
    const end = logEnd(model.log)
    if (batch.baseOffset !== end || batch.lastOffset < batch.baseOffset) {
      this.fail(event.atMs, 'contiguous offsets', `${event.replica} appended ${describeBatch(batch)} at log end ${end}`)
    }
    if (last !== undefined && batch.epoch < last.epoch) {
      this.fail(event.atMs, 'epochs grow along a log', `${event.replica} appended ${describeBatch(batch)} after ${describeBatch(last)}`)
    }
    const key = batchKey(batch)
    const value = `${batch.id}|${last === undefined ? ROOT_KEY : batchKey(last)}`
    const seen = this.chain.get(key)
    if (seen === undefined) this.chain.set(key, value)
    else if (seen !== value) {
      this.fail(event.atMs, 'log matching', `${event.replica} holds ${describeBatch(batch)} after ${describeBatch(last)}, but (lastOffset ${batch.lastOffset}, epoch ${batch.epoch}) was seen as ${seen}`)
    }
    // A batch at a committed offset that is not the committed one is fine here (a deposed
    // leader appends until it learns); it must never be counted committed (onHighWatermark).
    model.log.push(batch)
  }

  private onTruncate(event: Extract<HistoryEvent, { kind: 'truncate' }>): void {
    const model = this.model(event.replica)
    if (event.offset < model.highWatermark) {
      this.fail(event.atMs, 'truncate above the high watermark', `${event.replica} truncated to ${event.offset}, below its high watermark ${model.highWatermark}`)
    }
    const held = this.matchingPrefixEnd(model.log)
    if (event.offset < held) {
      this.fail(event.atMs, 'committed durability', `${event.replica} truncated to ${event.offset}, cutting committed ${describeBatch(batchAt(model.log, event.offset))} (committed to ${this.committedEndValue})`)
    }
    const kept = model.log.filter((batch) => batch.lastOffset < event.offset)
    if (logEnd(kept) !== event.offset && event.offset < logEnd(model.log)) {
      this.fail(event.atMs, 'truncate at a batch boundary', `${event.replica} truncated to ${event.offset}, inside ${describeBatch(batchAt(model.log, event.offset))}`)
    }
    model.log = kept
  }

  private onCrash(event: Extract<HistoryEvent, { kind: 'crash' }>): void {
    const model = this.model(event.replica)
    model.log = model.log.filter((batch) => batch.lastOffset < event.durableEnd)
    model.highWatermark = 0
  }

  private onHighWatermark(event: Extract<HistoryEvent, { kind: 'highWatermark' }>): void {
    const model = this.model(event.replica)
    if (event.offset < model.highWatermark) {
      this.fail(event.atMs, 'high watermark never decreases', `${event.replica} (${event.role}, epoch ${event.epoch}) moved its high watermark from ${model.highWatermark} back to ${event.offset}`)
    }
    model.highWatermark = Math.max(model.highWatermark, event.offset)
    if (event.offset > logEnd(model.log)) {
      this.fail(event.atMs, 'high watermark within the log', `${event.replica} reported high watermark ${event.offset} past its log end ${logEnd(model.log)}`)
      return
    }
    const inside = batchAt(model.log, event.offset)
    if (inside !== undefined && inside.baseOffset !== event.offset) {
      this.fail(event.atMs, 'high watermark at a batch boundary', `${event.replica} reported high watermark ${event.offset} inside ${describeBatch(inside)}`)
    }
    const held = this.matchingPrefixEnd(model.log)
    const prefixEnd = Math.min(event.offset, this.committedEndValue)
    if (held < prefixEnd) {
      this.fail(event.atMs, 'committed durability', `${event.replica} (${event.role}, epoch ${event.epoch}) reports high watermark ${event.offset} over ${describeBatch(batchAt(model.log, held))} where ${describeBatch(this.committed.find((c) => c.lastOffset >= held))} was committed`)
      return
    }
    if (event.role === 'follower') {
      if (event.offset > this.committedEndValue) {
        this.fail(event.atMs, 'follower high watermark committed', `follower ${event.replica} reported high watermark ${event.offset} beyond anything a leader committed (${this.committedEndValue})`)
      }
      return
    }
    this.committedByEpoch.set(event.epoch, Math.max(this.committedByEpoch.get(event.epoch) ?? 0, event.offset))
    // The log holds the whole committed prefix (held >= committedEnd when offset is past it).
    for (let i = this.committed.length; i < model.log.length; i++) {
      const batch = model.log[i] as Batch
      if (batch.baseOffset >= event.offset) break
      this.committed.push(batch)
      this.committedEndValue = batch.lastOffset + 1
    }
  }

  /**
   * How far `log` agrees with the committed prefix (an offset, at most committedEnd). Batch i
   * of a log is at the same place as committed batch i (both start at 0 and are contiguous),
   * and the log matching check (onAppend) makes agreement downward closed: a batch equal to
   * the committed one has the same parent, and so on to the root. So a binary search finds it.
   */
  private matchingPrefixEnd(log: readonly Batch[]): number {
    const same = (i: number): boolean => {
      const ours = log[i]
      const committed = this.committed[i]
      return ours !== undefined && committed !== undefined && ours.id === committed.id && ours.baseOffset === committed.baseOffset
    }
    let low = 0
    let high = Math.min(log.length, this.committed.length)
    while (low < high) {
      const middle = (low + high) >> 1
      if (same(middle)) low = middle + 1
      else high = middle
    }
    return low === 0 ? 0 : (this.committed[low - 1] as Batch).lastOffset + 1
  }

  private model(replica: string): ReplicaModel {
    let model = this.replicas.get(replica)
    if (model === undefined) {
      model = { log: [], highWatermark: 0 }
      this.replicas.set(replica, model)
    }
    return model
  }

  private fail(atMs: number, rule: string, detail: string): void {
    this.violations.push({ atMs, rule, detail })
  }
}

/** Runs a whole history through a fresh checker; returns every violation, in order. */
export function checkHistory(history: readonly HistoryEvent[]): Violation[] {
  const checker = new HistoryChecker()
  for (const event of history) checker.record(event)
  return checker.violations
}

export function logEnd(log: readonly Batch[]): number {
  const last = log[log.length - 1]
  return last === undefined ? 0 : last.lastOffset + 1
}

/** The batch covering `offset`, if any. */
export function batchAt(log: readonly Batch[], offset: number): Batch | undefined {
  return log.find((batch) => batch.baseOffset <= offset && offset <= batch.lastOffset)
}

export function formatViolation(violation: Violation): string {
  return `at ${violation.atMs.toFixed(1)} ms: ${violation.rule}: ${violation.detail}`
}
