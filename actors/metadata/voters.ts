import type { Disk, Logger } from '../../src/env/index.js'
import { loadDurableJson, saveDurableJson } from '../../src/log/durable-json.js'
import type { NodeDescription } from '../../src/wire/broker-protocol.js'

const CLUSTER_FILE = 'cluster.json'

/** The metadata group's membership as this node last learned it from the committed metadata log. */
export interface ControllerMembership {
  /**
   * The group's founding voters: its membership before any change in the metadata log (the
   * Raft bootstrap every founding voter opened its replica with). Never changes once known.
   */
  readonly founding: readonly string[]
  /** Voters as of the latest committed membership record known here (sorted). */
  readonly voters: readonly string[]
  /** Learners (catching up to replace a voter) as of the same record (sorted). */
  readonly learners: readonly string[]
  /** Metadata log offset of that record; -1 while no change is known (the founding voters). */
  readonly offset: number
}

/** A committed membership of the metadata group, as a metadata snapshot reports it. */
export interface ObservedMembership {
  readonly voters: readonly string[]
  readonly learners: readonly string[]
  readonly offset: number
}

/**
 * Which nodes vote in the metadata quorum. The founding voters, in order of precedence:
 *
 * 1. `cluster.json` in the data directory: once a node knows the voters it keeps them, so a
 *    restart never depends on seeds or on who is up.
 * 2. `--controllers id,id,id` given on the command line (like KRaft's controller.quorum.voters).
 * 3. Learned from any live member that already knows them (a node joining a running cluster).
 * 4. Bootstrap of a new cluster: the nodes at the first `count` seed addresses (3 by default),
 *    once gossip has shown every one of them alive. Nodes started with the same seed list
 *    therefore agree. Without seeds, the first `count` ids (sorted) of this node and its static
 *    peers, which a fixed cluster lists the same way on every node; with neither, a single node
 *    voting alone.
 *
 * The voters found are saved to `cluster.json` before they are used. Later, the metadata
 * leader replaces a voter that stays dead by Raft membership changes of the metadata group
 * (voter-replacement.ts); every node learns each committed membership from the metadata it
 * reads and saves it beside the founding voters (`observe`, newest log offset wins), so a
 * restarted node asks the current voters, not the founding ones.
 */
export class ControllerVoters {
  private current: ControllerMembership | undefined
  /** Saves run one at a time, in the order the changes were made. */
  private saving: Promise<void> = Promise.resolve()

  constructor(
    private readonly disk: Disk,
    private readonly log: Logger,
    private readonly self: { id: string; address: string },
    /** Seed addresses in the order given. */
    private readonly seeds: readonly string[],
    /** Ids of the static peers (--peers), this node excluded. */
    private readonly peerIds: readonly string[],
    private readonly configured: readonly string[] | undefined,
    private readonly count: number,
  ) {}

  /** Reads `cluster.json` (or takes the configured list and saves it). */
  async load(): Promise<void> {
    const stored = (await loadDurableJson(this.disk, CLUSTER_FILE)) as { controllers?: unknown; membership?: unknown } | undefined
    const controllers = stored?.controllers
    if (isIdList(controllers) && controllers.length > 0) {
      this.current = foundingMembership(controllers)
      const membership = parseObserved(stored?.membership)
      if (membership !== undefined) this.current = { founding: this.current.founding, ...membership }
      return
    }
    if (this.configured !== undefined && this.configured.length > 0) await this.adopt(this.configured, 'configured')
  }

  /** The current voters (the founding ones until a change is known); undefined until known. */
  get(): readonly string[] | undefined {
    return this.current?.voters
  }

  membership(): ControllerMembership | undefined {
    return this.current
  }

  /** Takes founding voters learned from another node or derived here; the first one known wins. */
  async adopt(voters: readonly string[], source: string): Promise<void> {
    if (this.current !== undefined) return
    this.current = foundingMembership(voters)
    this.log.info({ controllers: voters, source }, 'metadata quorum voters known')
    await this.save()
  }

  /**
   * A committed membership of the metadata group, from a metadata snapshot or another node:
   * kept (and saved) if it comes from a later log offset than the one known. Returns whether it
   * was. Ignored while the founding voters are unknown.
   */
  async observe(membership: ObservedMembership): Promise<boolean> {
    const known = this.current
    const parsed = parseObserved(membership)
    if (known === undefined || parsed === undefined || parsed.offset <= known.offset) return false
    this.current = { founding: known.founding, ...parsed }
    this.log.info({ voters: parsed.voters, learners: parsed.learners, offset: parsed.offset }, 'metadata quorum membership changed')
    await this.save()
    return true
  }

  /** The bootstrap rule (4) over the members gossip shows alive now; undefined until it can decide. */
  derive(liveMembers: readonly NodeDescription[]): string[] | undefined {
    const seeds = [...new Set(this.seeds)]
    if (seeds.length === 0) return [...new Set([this.self.id, ...this.peerIds])].sort().slice(0, this.count)
    const chosen: string[] = []
    for (const address of seeds.slice(0, this.count)) {
      const id = address === this.self.address ? this.self.id : liveMembers.find((member) => member.address === address)?.id
      if (id === undefined) return undefined
      if (!chosen.includes(id)) chosen.push(id)
    }
    return chosen
  }

  private save(): Promise<void> {
    const saved = this.saving.then(async () => {
      const current = this.current
      if (current === undefined) return
      const membership = current.offset < 0 ? undefined : { voters: current.voters, learners: current.learners, offset: current.offset }
      await saveDurableJson(this.disk, '.', CLUSTER_FILE, membership === undefined ? { controllers: current.founding } : { controllers: current.founding, membership })
    })
    this.saving = saved.catch(() => undefined)
    return saved
  }
}

function foundingMembership(voters: readonly string[]): ControllerMembership {
  return { founding: [...voters], voters: [...voters].sort(), learners: [], offset: -1 }
}

/** A membership from the wire or disk, checked and sorted; undefined if malformed. */
export function parseObserved(value: unknown): ObservedMembership | undefined {
  const { voters, learners, offset } = (value ?? {}) as { voters?: unknown; learners?: unknown; offset?: unknown }
  if (!isIdList(voters) || voters.length === 0 || !isIdList(learners) || typeof offset !== 'number' || !Number.isSafeInteger(offset)) return undefined
  return { voters: [...new Set(voters)].sort(), learners: [...new Set(learners)].filter((id) => !voters.includes(id)).sort(), offset }
}

function isIdList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((id) => typeof id === 'string' && id.length > 0)
}
