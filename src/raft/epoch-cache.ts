import { strict as assert } from 'node:assert'

/** One leader epoch (Raft term) and the first offset its leader wrote. */
export interface EpochEntry {
  readonly epoch: number
  readonly startOffset: number
}

/**
 * Which epoch wrote which offsets, as Kafka's leader-epoch cache: in a Raft log terms only
 * grow along the log, so (epoch, start offset) pairs describe the term of every offset
 * without a per-entry record. This is how a leader finds where a follower's log diverges
 * from its own (KIP-101/KIP-595) and how terms compare for votes.
 */
export class EpochCache {
  private readonly entries: EpochEntry[]

  constructor(entries: readonly EpochEntry[] = []) {
    this.entries = []
    for (const entry of entries) this.assign(entry.epoch, entry.startOffset)
  }

  /** Latest epoch in the log, or 0 for an empty log. */
  get latestEpoch(): number {
    return this.entries[this.entries.length - 1]?.epoch ?? 0
  }

  snapshot(): EpochEntry[] {
    return [...this.entries]
  }

  /**
   * Records that `epoch` starts at `startOffset`. Epochs and start offsets only grow; a
   * repeat of the latest epoch is ignored; an entry whose start offset is not past the
   * previous one's replaces it (a leader that wrote nothing before losing its epoch).
   */
  assign(epoch: number, startOffset: number): void {
    assert.ok(Number.isSafeInteger(epoch) && epoch >= 0 && Number.isSafeInteger(startOffset) && startOffset >= 0)
    const last = this.entries[this.entries.length - 1]
    if (last !== undefined && epoch === last.epoch) return
    assert.ok(last === undefined || epoch > last.epoch, `epoch ${epoch} after ${last?.epoch}`)
    while (this.entries.length > 0 && (this.entries[this.entries.length - 1] as EpochEntry).startOffset >= startOffset) this.entries.pop()
    this.entries.push({ epoch, startOffset })
  }

  /** The epoch of the record at `offset` (0 if before every entry). */
  epochAt(offset: number): number {
    // Every batch a log read returns is checked against this (PartitionLog read's epochOf):
    // nearly all lie in the latest epoch, so answer that in O(1) before walking the list.
    const last = this.entries[this.entries.length - 1]
    if (last !== undefined && last.startOffset <= offset) return last.epoch
    let found = 0
    for (const entry of this.entries) {
      if (entry.startOffset > offset) break
      found = entry.epoch
    }
    return found
  }

  /**
   * Where `epoch` ends in this log (exclusive), Kafka's OffsetsForLeaderEpoch: the start of
   * the first larger epoch, or `logEndOffset` if `epoch` is the latest. If this log never had
   * `epoch`, the answer is for the largest epoch below it. Undefined epoch 0 on an empty log.
   */
  endOffsetFor(epoch: number, logEndOffset: number): { epoch: number; endOffset: number } {
    let answerEpoch = 0
    let index = -1
    for (let i = 0; i < this.entries.length; i++) {
      if ((this.entries[i] as EpochEntry).epoch > epoch) break
      answerEpoch = (this.entries[i] as EpochEntry).epoch
      index = i
    }
    if (index < 0) return { epoch: 0, endOffset: this.entries[0]?.startOffset ?? logEndOffset }
    const next = this.entries[index + 1]
    return { epoch: answerEpoch, endOffset: next === undefined ? logEndOffset : next.startOffset }
  }

  /** Forgets epochs starting at or after `offset` (the log was truncated there). */
  truncateFrom(offset: number): void {
    while (this.entries.length > 0 && (this.entries[this.entries.length - 1] as EpochEntry).startOffset >= offset) this.entries.pop()
  }
}
