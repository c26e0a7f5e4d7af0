import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { silentLogger } from '../../src/env/index.js'
import { createRealEnv } from '../../src/env/real/index.js'
import { FAST_SWIM_SETTINGS } from '../../src/membership/index.js'
import { type NodeConfig, type SkeinNode, startNode } from '../../src/node.js'

/**
 * Whole nodes (startNode, real Env) in the test process, on ephemeral loopback ports with
 * fast gossip, each with a temp data dir kept across a stop and restart of the same id.
 * `cleanup()` (afterEach) stops every running node and removes every data dir.
 */
export class InProcessNodes {
  /** Running nodes by id, in start order. */
  readonly running = new Map<string, SkeinNode>()
  private readonly dirs = new Map<string, string>()

  constructor(
    private readonly cluster: { readonly clusterId: string; readonly clusterSecret: string },
    private readonly dirPrefix: string,
  ) {}

  /** Starts `id` (again, on its old data dir, if it ran before), joining through `seed`. */
  async start(id: string, options: { seed?: string; controllers: string[]; broker?: NodeConfig['broker'] }): Promise<SkeinNode> {
    let dataDir = this.dirs.get(id)
    if (dataDir === undefined) {
      dataDir = await mkdtemp(join(tmpdir(), `${this.dirPrefix}-${id}-`))
      this.dirs.set(id, dataDir)
    }
    const node = await startNode(createRealEnv({ dataDir, nodeId: id, log: silentLogger }), {
      nodeId: id,
      ...this.cluster,
      host: '127.0.0.1',
      port: 0,
      seeds: options.seed === undefined ? [] : [options.seed],
      peers: {},
      swimSettings: FAST_SWIM_SETTINGS,
      controllers: options.controllers,
      broker: options.broker,
    })
    this.running.set(id, node)
    return node
  }

  /** Starts `ids` in order, each joining through the first; controllers default to all of them. */
  async startCluster(ids: string[], options: { controllers?: string[]; broker?: NodeConfig['broker'] } = {}): Promise<SkeinNode[]> {
    const started: SkeinNode[] = []
    for (const id of ids) started.push(await this.start(id, { seed: started[0]?.address, controllers: options.controllers ?? ids, broker: options.broker }))
    return started
  }

  /** Stops `id` (its data dir stays, for a restart). */
  async stop(id: string): Promise<void> {
    await this.running.get(id)?.stop()
    this.running.delete(id)
  }

  dataDirOf(id: string): string | undefined {
    return this.dirs.get(id)
  }

  async cleanup(): Promise<void> {
    await Promise.all([...this.running.values()].map((node) => node.stop()))
    this.running.clear()
    await Promise.all([...this.dirs.values()].map((dir) => rm(dir, { recursive: true, force: true })))
    this.dirs.clear()
  }
}
