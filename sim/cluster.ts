import { type Directory, StaticDirectory } from '../src/actor/index.js'
import { type NodeConfig, type NodeHooks, type SkeinNode, startNode } from '../src/node.js'
import { settle } from './settle.js'
import { World, type WorldOptions } from './world.js'

/** Port every simulated node listens on; each node is its own host, so they never clash. */
export const SIM_NODE_PORT = 7071

export const SIM_CLUSTER_ID = 'sim'
export const SIM_CLUSTER_SECRET = 'sim-cluster-secret-0123456789'

/**
 * A simulated cluster of complete nodes (the real transport and actor runtime, built by the
 * real composition root) on one World: each node is its own host, listening on SIM_NODE_PORT.
 *
 * The founding nodes (those given at construction) are a fixed cluster: each is started with
 * the other members as its static peers (dialled at start, and its seeds). Membership changes
 * for good with `destroy` (a node and its disk gone forever; nodes booted afterwards no longer
 * list it) and `addNode` (a brand-new node that joins as an operator's new machine would,
 * through the founding nodes' addresses as its seeds, learning the metadata quorum from them).
 */
export class SimCluster {
  readonly nodes = new Map<string, SkeinNode>()
  /** Members in the order they joined: the original ones, then added ones; destroyed ones leave. */
  private readonly memberIds: string[]
  private readonly destroyedIds: string[] = []
  /** The nodes the cluster was created with, sorted: an added node's seed list. */
  private readonly foundingIds: readonly string[]

  constructor(
    readonly world: World,
    nodeIds: readonly string[],
    private readonly hooksFor: (nodeId: string) => NodeHooks,
    /** Per-node overrides merged over the default config (swim settings, controllers, broker settings...). */
    private readonly configOverridesFor: (nodeId: string) => Partial<NodeConfig> = () => ({}),
  ) {
    this.memberIds = [...nodeIds]
    this.foundingIds = [...nodeIds].sort()
  }

  /** The cluster's members, running or crashed: the original nodes and those added since, less the destroyed. */
  get nodeIds(): readonly string[] {
    return [...this.memberIds]
  }

  /** Nodes destroyed so far, in order. */
  get destroyedNodeIds(): readonly string[] {
    return [...this.destroyedIds]
  }

  static async start(
    nodeIds: readonly string[],
    options: Partial<WorldOptions> & { hooksFor?: (nodeId: string) => NodeHooks; configFor?: (nodeId: string) => Partial<NodeConfig> } = {},
  ): Promise<SimCluster> {
    const world = new World({ seed: 1, ...options })
    const cluster = new SimCluster(world, nodeIds, options.hooksFor ?? (() => ({})), options.configFor)
    for (const nodeId of nodeIds) world.addNode(nodeId)
    for (const nodeId of nodeIds) await cluster.boot(nodeId)
    return cluster
  }

  /**
   * A founding node: the other members as static peers, no seeds. An added node: no static
   * peers, and the founding nodes (destroyed ones too: a seed list is not kept up to date) as
   * seeds, so that with no live member to learn the metadata voters from, its bootstrap rule
   * picks the same founding voters as theirs did (the first three ids, sorted).
   */
  configFor(nodeId: string): NodeConfig {
    const founding = this.foundingIds.includes(nodeId)
    const peers: Record<string, string> = {}
    if (founding) for (const other of this.memberIds) if (other !== nodeId) peers[other] = simNodeAddress(other)
    return {
      nodeId,
      clusterId: SIM_CLUSTER_ID,
      clusterSecret: SIM_CLUSTER_SECRET,
      host: nodeId,
      port: SIM_NODE_PORT,
      peers,
      seeds: founding ? [] : this.foundingIds.map(simNodeAddress),
      ...this.configOverridesFor(nodeId),
    }
  }

  node(nodeId: string): SkeinNode {
    const node = this.nodes.get(nodeId)
    if (node === undefined) throw new Error(`node ${nodeId} is not running`)
    return node
  }

  /** Starts (or restarts, after `crash`) the node's process on its current Env. */
  async boot(nodeId: string): Promise<SkeinNode> {
    const env = this.world.process(nodeId).alive ? this.world.process(nodeId).env : this.world.restart(nodeId)
    const node = await settle(this.world, startNode(env, this.configFor(nodeId), this.hooksFor(nodeId)))
    this.nodes.set(nodeId, node)
    return node
  }

  crash(nodeId: string): void {
    this.world.crash(nodeId)
    this.nodes.delete(nodeId)
  }

  /**
   * Loses the node for good: its process crashes (if running), its disk is erased, it never
   * restarts and it is no longer a member (nodes booted from now on do not list it as a peer).
   * What it held must be recovered from the other replicas.
   */
  destroy(nodeId: string): void {
    const index = this.memberIds.indexOf(nodeId)
    if (index < 0) throw new Error(`node ${nodeId} is not a member`)
    this.world.destroy(nodeId)
    this.nodes.delete(nodeId)
    this.memberIds.splice(index, 1)
    this.destroyedIds.push(nodeId)
  }

  /**
   * Adds a brand-new node (an id never used in this world) with an empty disk and boots it
   * with the current members as its peers and seeds, so it joins the running cluster as an
   * operator's new machine would. The per-node config overrides apply to it as to the others.
   */
  async addNode(nodeId: string): Promise<SkeinNode> {
    if (this.memberIds.includes(nodeId) || this.destroyedIds.includes(nodeId)) throw new Error(`node id ${nodeId} was already used`)
    this.world.addNode(nodeId)
    this.memberIds.push(nodeId)
    return this.boot(nodeId)
  }
}

function simNodeAddress(nodeId: string): string {
  return `${nodeId}:${SIM_NODE_PORT}`
}

/** A directory that places each listed actor id explicitly and everything else on `fallbackNode`. */
export function fixedDirectory(placements: Record<string, string>, fallbackNode: string): Directory {
  const directory = new StaticDirectory(() => fallbackNode)
  for (const [actorId, nodeId] of Object.entries(placements)) directory.assign(actorId, nodeId)
  return directory
}
