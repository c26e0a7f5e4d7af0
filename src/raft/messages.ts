/**
 * What Raft replicas of one partition say to each other. Replication is pull-based, as in
 * Kafka's KRaft (KIP-595): followers fetch from the leader, naming the offset they want
 * and the epoch of their last record; the leader answers with records, or with where the
 * follower's log diverges from its own. Every message carries the sender's epoch (term).
 */
export type RaftMessage = VoteRequest | VoteResponse | BeginEpoch | FetchRequest | FetchResponse | TimeoutNow

export interface VoteRequest {
  readonly type: 'vote'
  readonly epoch: number
  readonly from: string
  readonly to: string
  /** A pre-vote asks "would you vote for me?" without anyone changing epoch. */
  readonly preVote: boolean
  readonly lastEpoch: number
  readonly logEndOffset: number
  /** Sent on a leader's request (leadership transfer): voters waive the leader lease. */
  readonly transfer?: boolean
}

export interface VoteResponse {
  readonly type: 'voteResponse'
  readonly epoch: number
  readonly from: string
  readonly to: string
  readonly preVote: boolean
  readonly granted: boolean
  /**
   * Set when the voter refuses because it follows a live leader: the leader of `epoch`, so a
   * replica that restarted or was cut off learns whom to fetch from instead of campaigning.
   */
  readonly leader?: string
}

/** A new leader announces itself, so followers start fetching without waiting for a timeout. */
export interface BeginEpoch {
  readonly type: 'beginEpoch'
  readonly epoch: number
  readonly from: string
  readonly to: string
}

export interface FetchRequest {
  readonly type: 'fetch'
  readonly epoch: number
  readonly from: string
  readonly to: string
  /** The follower's log end offset: everything below it is on its disk (fsynced under flush=always). */
  readonly fetchOffset: number
  /** The epoch of the follower's last record (0 for an empty log). */
  readonly lastFetchedEpoch: number
  /** Numbers the follower's fetches, so a late answer to an earlier one is recognized and ignored. */
  readonly fetchId?: number
  /** The highest FetchResponse.readSeq this follower has had from this leader in this epoch (leadership confirmation). */
  readonly readSeq?: number
}

/**
 * The leader's answer. 'records' means: the records from `fetchOffset` follow (the shell
 * reads them from the leader's log and attaches them; the core never sees bytes).
 * 'diverging' means: truncate to `divergingEndOffset` (or to where your own copy of
 * `divergingEpoch` ends, if earlier) and fetch again. 'fenced' means the fetcher's epoch is
 * stale or newer than the leader's; it learns the current epoch and leader.
 */
export interface FetchResponse {
  readonly type: 'fetchResponse'
  readonly epoch: number
  readonly from: string
  readonly to: string
  readonly outcome: 'records' | 'diverging' | 'fenced'
  readonly leader: string | undefined
  readonly fetchOffset: number
  readonly highWatermark: number
  readonly divergingEpoch: number
  readonly divergingEndOffset: number
  /** The fetchId of the request answered. */
  readonly fetchId?: number
  /**
   * The leader's latest read barrier: a follower echoes it in its next fetch, and once a
   * majority has, the leader knows it still led its epoch after the barrier began (no newer
   * leader can have been elected before then), so reads of its state are current.
   */
  readonly readSeq?: number
}

/** Leadership transfer: the leader tells a caught-up voter to start an election now. */
export interface TimeoutNow {
  readonly type: 'timeoutNow'
  readonly epoch: number
  readonly from: string
  readonly to: string
}
