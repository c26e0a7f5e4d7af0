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
 */
export class SimCluster {
  readonly nodes = new Map<string, SkeinNode>()

  constructor(
    readonly world: World,
    readonly nodeIds: readonly string[],
    private readonly hooksFor: (nodeId: string) => NodeHooks,
    /** Per-node overrides merged over the default config (swim settings, controllers, broker settings...). */
    private readonly configOverridesFor: (nodeId: string) => Partial<NodeConfig> = () => ({}),
  ) {}

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

  configFor(nodeId: string): NodeConfig {
    const peers: Record<string, string> = {}
    for (const other of this.nodeIds) if (other !== nodeId) peers[other] = `${other}:${SIM_NODE_PORT}`
    return {
      nodeId,
      clusterId: SIM_CLUSTER_ID,
      clusterSecret: SIM_CLUSTER_SECRET,
      host: nodeId,
      port: SIM_NODE_PORT,
      peers,
      seeds: [],
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
}

/** A directory that places each listed actor id explicitly and everything else on `fallbackNode`. */
export function fixedDirectory(placements: Record<string, string>, fallbackNode: string): Directory {
  const directory = new StaticDirectory(() => fallbackNode)
  for (const [actorId, nodeId] of Object.entries(placements)) directory.assign(actorId, nodeId)
  return directory
}
