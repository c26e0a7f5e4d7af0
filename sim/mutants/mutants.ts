/**
 * The deliberate bugs `npm run sim:mutants` plants, one at a time, in a throwaway copy of the
 * source (sim/mutants/main.ts), to show the full-system simulator catches each within a
 * bounded number of seeds: a checker that passes every seed proves nothing until it has
 * failed a broken system.
 *
 * Each mutant is one exact text replacement in one file. The text to find must occur exactly
 * once: a refactor that moves or rewrites it must fail loudly (here, and in
 * test/sim/mutants.test.ts under `npm test`), never silently turn the mutant into a no-op.
 * When that happens, find the new spot of the same bug and update the entry.
 *
 * Left out, as the full simulator did not catch them (in 30 to 60 seeds of net,process
 * faults, some with clock faults too), most likely because each is a lone epoch check that
 * others back up, so removing it alone breaks nothing a client can see: a follower taking a fetch
 * answer of an older epoch (onFetchResponse; it takes only the answer to its current fetch,
 * by leader, offset and fetchId, and a fetch carries the follower's epoch, on which a stale
 * leader steps down), a follower taking an older epoch's beginEpoch, a leader serving a fetch
 * of an older epoch, a vote granted in an older epoch, a candidate counting vote answers of
 * another epoch, the high watermark committing earlier epochs' records by count (the
 * LeaderChange record every epoch starts with closes that window), and the leader's
 * divergence check comparing offsets only (the offset check alone catches what the epoch
 * check does). The message-level Raft simulator (sim/raft/: messages duplicated and
 * reordered, not only delayed) is the place to hunt those.
 */
import { type FaultClass, FaultClass as Fault } from '../full/menu.js'

export interface Mutant {
  /** Short and kebab-case: names the throwaway copy and the report line. */
  readonly name: string
  /** The file changed, relative to the repository root. */
  readonly file: string
  /** Text that occurs exactly once in `file`. */
  readonly find: string
  /** What it becomes. */
  readonly replace: string
  /** The contract it breaks, and how the simulator should notice. */
  readonly why: string
  /**
   * The fault classes the hunt runs with: those that expose this bug (fewer kinds drawn per
   * seed, so more of each). A seed counts as a catch only if the unmutated code passes it.
   */
  readonly faults: readonly FaultClass[]
  /** Seeds tried (1, 2, ...) before the mutant counts as not caught. */
  readonly seedsMax: number
}

export const MUTANTS: readonly Mutant[] = [
  {
    name: 'ack-before-fsync',
    file: 'src/log/log.ts',
    find: "if (this.config.flush.mode !== 'always') this.durability.markWritten(this.writtenEnd)",
    replace: 'this.durability.markDurable(this.writtenEnd) // MUTANT: written to the OS counts as fsynced',
    why:
      'with flush=always an append resolves, and a replica counts its copy (the leader through ' +
      'storedEndOffset, a follower in its next fetch offset), once the bytes reach the OS ' +
      'instead of once fsynced; as nothing then looks unsynced, no fsync runs. Crashes that drop ' +
      'unsynced writes lose acknowledged records (lost-write, inconsistent-offsets).',
    // Process faults only: crashes are what expose it, and more of them per seed find it sooner.
    faults: [Fault.process],
    seedsMax: 100,
  },
  {
    name: 'ack-before-majority',
    file: 'src/raft/raft.ts',
    find: 'const majorityEnd = ends[Math.floor(voters.length / 2)] as number',
    replace: 'const majorityEnd = this.durableEnd // MUTANT: the leader commits on its own copy alone',
    why:
      "the leader's high watermark follows its own durable log end, not the offset a majority " +
      'holds, so acks=all is answered before any follower has the records; a leader cut off or ' +
      'crashed then loses them to the next one (divergent-prefix, lost-write, commit-lost).',
    faults: [Fault.net, Fault.process],
    seedsMax: 50,
  },
  {
    name: 'append-without-log-matching',
    file: 'src/raft/raft.ts',
    find: 'if (end.epoch !== request.lastFetchedEpoch || end.endOffset < request.fetchOffset) {',
    replace: 'if (false) { // MUTANT: no check of the epoch the follower\'s log ends with',
    why:
      "Raft's check on append (AppendEntries' previous-entry term, here the fetch's last epoch " +
      "and offset against the leader's log) skipped: a follower holding a deposed leader's " +
      "uncommitted tail is never told to cut it, appends the new leader's records after it and " +
      'counts toward commits, so replicas commit different records at one offset ' +
      '(divergent-prefix, high-watermark, lost-write).',
    faults: [Fault.net, Fault.process],
    seedsMax: 50,
  },
  {
    name: 'ack-across-epochs',
    file: 'actors/partition/replica.ts',
    find: "case 'becomeFollower':\n        this.rejectWaiters(new SkeinError(ErrorCode.NOT_LEADER_OR_FOLLOWER, `replica ${this.options.id} lost leadership in epoch ${effect.epoch}`))\n",
    replace: "case 'becomeFollower': // MUTANT: acks=all waiters outlive their leader's epoch\n",
    why:
      "a deposed leader keeps its acks=all produce requests waiting instead of failing them; " +
      'when the new leader commits past their offsets (with other records there) they are ' +
      "acknowledged: the epoch an offset was committed in is not the one it was written in " +
      '(lost-write).',
    faults: [Fault.net, Fault.process],
    seedsMax: 50,
  },
  {
    name: 'idempotent-dedupe-off',
    file: 'actors/partition/replica.ts',
    find: 'const duplicates = requestBatches !== undefined ? this.judgeProducers(requestBatches) : []',
    replace: 'const duplicates = requestBatches !== undefined ? this.judgeProducers(requestBatches).slice(0, 0) : [] // MUTANT: retries appended again',
    why:
      "an idempotent producer's retry of batches already in the log is judged (sequence and " +
      'epoch still checked) and then appended again, so a retry after a lost answer writes its ' +
      'records twice (duplicate).',
    faults: [Fault.net, Fault.process],
    seedsMax: 50,
  },
]

/** How many times `find` occurs in `text` (occurrences may not overlap). */
export function occurrences(text: string, find: string): number {
  if (find.length === 0) return 0
  let count = 0
  for (let at = text.indexOf(find); at >= 0; at = text.indexOf(find, at + find.length)) count++
  return count
}

/** Thrown when a mutant's anchor text is missing or ambiguous in the file it targets. */
export class MutantAnchorError extends Error {
  constructor(
    readonly mutant: string,
    readonly file: string,
    readonly found: number,
  ) {
    super(`mutant ${mutant}: its anchor text occurs ${found} times in ${file} (must be exactly once); the code moved: update sim/mutants/mutants.ts`)
  }
}

/** `source` with the mutant applied; throws MutantAnchorError unless the anchor occurs exactly once. */
export function applyMutant(source: string, mutant: Mutant): string {
  const found = occurrences(source, mutant.find)
  if (found !== 1) throw new MutantAnchorError(mutant.name, mutant.file, found)
  const at = source.indexOf(mutant.find)
  return source.slice(0, at) + mutant.replace + source.slice(at + mutant.find.length)
}
