import type { Disk, Logger } from '../../src/env/index.js'
import { loadDurableJson, saveDurableJson } from '../../src/log/durable-json.js'
import type { NodeDescription } from '../../src/wire/broker-protocol.js'

const CLUSTER_FILE = 'cluster.json'

/**
 * Which nodes vote in the metadata quorum. In order of precedence:
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
 * The voters found are saved to `cluster.json` before they are used. Replacing a voter later
 * is a Raft membership change of the metadata group, not an edit of this file.
 */
export class ControllerVoters {
  private voters: readonly string[] | undefined

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
    const stored = (await loadDurableJson(this.disk, CLUSTER_FILE)) as { controllers?: unknown } | undefined
    const controllers = stored?.controllers
    if (Array.isArray(controllers) && controllers.length > 0 && controllers.every((id) => typeof id === 'string')) {
      this.voters = controllers as string[]
      return
    }
    if (this.configured !== undefined && this.configured.length > 0) await this.adopt(this.configured, 'configured')
  }

  get(): readonly string[] | undefined {
    return this.voters
  }

  /** Takes a voter list learned from another node or derived here; the first one known wins. */
  async adopt(voters: readonly string[], source: string): Promise<void> {
    if (this.voters !== undefined) return
    this.voters = [...voters]
    this.log.info({ controllers: voters, source }, 'metadata quorum voters known')
    await saveDurableJson(this.disk, '.', CLUSTER_FILE, { controllers: voters })
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
}
