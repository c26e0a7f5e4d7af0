import type { Disk } from '../env/disk.js'
import { loadDurableJson, saveDurableJson } from '../log/durable-json.js'
import { ErrorCode, SkeinError } from '../wire/errors.js'
import type { EpochEntry } from './epoch-cache.js'
import type { HardState, MembershipEntry } from './raft.js'

/**
 * What a replica must find again after a restart: its vote, its epoch, and where its log's
 * epochs and membership changes start (both also live in the log; keeping them here spares
 * a scan of the whole log on every open).
 */
export interface RaftDurableState {
  readonly hardState: HardState
  readonly epochs: readonly EpochEntry[]
  readonly memberships?: readonly MembershipEntry[]
  /** RaftInit.catchUpEnd: the log end before records were lost, while the replica catches up on them. */
  readonly catchUpEnd?: number
}

const FORMAT_VERSION = 1
const STATE_FILE_NAME = 'raft-state'

/**
 * The replica's Raft state on disk, in `dir`, replaced atomically: written to a temporary
 * file, fsynced, renamed over the old one, directory fsynced. A vote is acted on only after
 * save() resolves, so a crash can never make a replica forget a vote and vote twice.
 *
 * Format: one line of JSON, then a line with its CRC-32C in hex, so a damaged file is
 * refused (KAFKA_STORAGE_ERROR) rather than read as "never voted".
 */
export class RaftStateFile {
  private readonly path: string

  constructor(
    private readonly disk: Disk,
    private readonly dir: string,
  ) {
    this.path = `${dir}/${STATE_FILE_NAME}`
  }

  /** The saved state, or the initial one (epoch 0, no vote, no epochs) if none was ever saved. */
  async load(): Promise<RaftDurableState> {
    let parsed: unknown
    try {
      parsed = await loadDurableJson(this.disk, this.path)
    } catch (error) {
      if (error instanceof SkeinError) throw this.damaged(error.message)
      throw error
    }
    if (parsed === undefined) return { hardState: { epoch: 0, votedFor: undefined }, epochs: [], memberships: [] }
    return this.decode(parsed)
  }

  async save(state: RaftDurableState): Promise<void> {
    await saveDurableJson(this.disk, this.dir, STATE_FILE_NAME, {
      version: FORMAT_VERSION,
      epoch: state.hardState.epoch,
      votedFor: state.hardState.votedFor ?? null,
      epochs: state.epochs.map((entry) => [entry.epoch, entry.startOffset]),
      memberships: (state.memberships ?? []).map((entry) => ({ offset: entry.offset, voters: entry.voters, learners: entry.learners })),
      ...(state.catchUpEnd === undefined ? {} : { catchUpEnd: state.catchUpEnd }),
    })
  }

  private decode(parsed: unknown): RaftDurableState {
    const record = parsed as { version?: unknown; epoch?: unknown; votedFor?: unknown; epochs?: unknown; memberships?: unknown; catchUpEnd?: unknown }
    if (record.version !== FORMAT_VERSION) throw this.damaged(`version ${String(record.version)}`)
    if (!isCount(record.epoch)) throw this.damaged('bad epoch')
    if (record.votedFor !== null && typeof record.votedFor !== 'string') throw this.damaged('bad votedFor')
    if (!Array.isArray(record.epochs) || !record.epochs.every((e) => Array.isArray(e) && e.length === 2 && isCount(e[0]) && isCount(e[1]))) {
      throw this.damaged('bad epochs')
    }
    const memberships = record.memberships ?? []
    if (!Array.isArray(memberships) || !memberships.every(isMembershipEntry)) throw this.damaged('bad memberships')
    if (record.catchUpEnd !== undefined && !isCount(record.catchUpEnd)) throw this.damaged('bad catchUpEnd')
    return {
      hardState: { epoch: record.epoch, votedFor: record.votedFor ?? undefined },
      epochs: (record.epochs as Array<[number, number]>).map(([epoch, startOffset]) => ({ epoch, startOffset })),
      memberships,
      ...(record.catchUpEnd === undefined ? {} : { catchUpEnd: record.catchUpEnd }),
    }
  }

  private damaged(why: string): SkeinError {
    return new SkeinError(ErrorCode.KAFKA_STORAGE_ERROR, `Raft state file ${this.path} is damaged (${why}); refusing to guess a vote`)
  }
}

function isMembershipEntry(value: unknown): value is MembershipEntry {
  const entry = value as { offset?: unknown; voters?: unknown; learners?: unknown }
  const isIds = (ids: unknown): boolean => Array.isArray(ids) && ids.every((id) => typeof id === 'string')
  return typeof value === 'object' && value !== null && isCount(entry.offset) && isIds(entry.voters) && isIds(entry.learners)
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
}
