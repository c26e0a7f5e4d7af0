import { faultInjectionToken } from '../../src/transport/index.js'
import { type NodeProcess, Processes, delay, freePorts } from '../helpers/processes.js'

/**
 * The chaos run's node processes: `skein start --enable-fault-injection` on fixed loopback
 * ports (every node seeds from all of them, so any one restarts on its own), and what the fault
 * schedule does to them: kill -9, SIGSTOP/SIGCONT, SIGTERM, restart on the same port and data
 * dir, and link cuts through each node's /fault/links endpoint.
 *
 * Cuts are kept here as a set; each node's block list is the union of the cuts it is on one
 * side of, pushed to the node whenever it changes and again after the node restarts (a
 * restarted process starts with no blocks). Either end's block alone already cuts a link.
 */

export interface ChaosClusterOptions {
  nodeIds: readonly string[]
  clusterId: string
  clusterSecret: string
  /** The metadata quorum: the first three nodes. */
  controllers: readonly string[]
}

/** Two groups of nodes with no links between them while the cut lasts. */
export interface Cut {
  readonly sideA: readonly string[]
  readonly sideB: readonly string[]
}

/** One partition replica as a node's /status shows it. */
export interface ReplicaStatus {
  topic: string
  partition: number
  role: string
  term: number
  leader: string | null
  highWatermark: number
  logEndOffset: number
}

export interface NodeStatus {
  node: string
  members: { id: string; state: string }[]
  partitions: ReplicaStatus[]
}

/** One HTTP call to a node, at most this long: a paused node never answers. */
const HTTP_TIMEOUT_MS = 2_000
/** How long a block list keeps being pushed to a node that does not answer (paused, restarting). */
const BLOCK_SYNC_DEADLINE_MS = 30_000
const BLOCK_SYNC_RETRY_MS = 500

export class ChaosCluster {
  private readonly procs = new Processes()
  private readonly current = new Map<string, NodeProcess>()
  /** Every process each node id ran as, oldest first: for logs. */
  private readonly incarnations = new Map<string, NodeProcess[]>()
  private readonly paused = new Set<string>()
  private readonly cuts = new Set<Cut>()
  private readonly token: string
  /** Node id -> its block-list sync loop, while one runs (heal waits for them). */
  private readonly syncing = new Map<string, Promise<void>>()
  /** Nodes whose block list may differ from what the cuts say. */
  private readonly blocksStale = new Set<string>()
  private closed = false

  private constructor(
    private readonly options: ChaosClusterOptions,
    /** node id -> "127.0.0.1:port", fixed for the whole run. */
    readonly addresses: ReadonlyMap<string, string>,
  ) {
    this.token = faultInjectionToken(options.clusterSecret)
  }

  static async start(options: ChaosClusterOptions): Promise<ChaosCluster> {
    const ports = await freePorts(options.nodeIds.length)
    const addresses = new Map(options.nodeIds.map((id, i) => [id, `127.0.0.1:${ports[i]}`]))
    const cluster = new ChaosCluster(options, addresses)
    try {
      // Processes makes its temp root on first use; made here first, parallel starts do not race to make one each (and leak the others).
      await cluster.procs.tempDir('chaos')
      await Promise.all(options.nodeIds.map(async (id, i) => {
        const node = await cluster.procs.start(id, {
          port: ports[i],
          seeds: [...addresses.values()],
          controllers: [...options.controllers],
          clusterId: options.clusterId,
          secret: options.clusterSecret,
          env: { SKEIN_ENABLE_FAULT_INJECTION: '1' },
          logLevel: 'info',
        })
        cluster.track(id, node)
      }))
    } catch (err) {
      await cluster.close()
      throw err
    }
    return cluster
  }

  get nodeIds(): readonly string[] {
    return this.options.nodeIds
  }

  address(id: string): string {
    const address = this.addresses.get(id)
    if (address === undefined) throw new Error(`no node ${id}`)
    return address
  }

  isRunning(id: string): boolean {
    return this.node(id).running
  }

  isPaused(id: string): boolean {
    return this.paused.has(id)
  }

  /** SIGKILL: no shutdown, unsynced writes lost. Resolves once the process is gone. */
  async kill9(id: string): Promise<void> {
    this.paused.delete(id)
    await this.node(id).kill()
  }

  /** SIGTERM (SIGKILL after a grace period). Resolves with how it ended. */
  async stopGracefully(id: string): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const node = this.node(id)
    await node.stop()
    return node.exited
  }

  /** Starts a stopped node again: same id, port and data dir. Pushes its block list, if any. */
  async restart(id: string): Promise<void> {
    const next = await this.procs.restart(this.node(id))
    this.track(id, next)
    if (this.blockListOf(id).length > 0) this.syncBlocks(id)
  }

  pause(id: string): void {
    const node = this.node(id)
    if (!node.running) return
    node.child.kill('SIGSTOP')
    this.paused.add(id)
  }

  resume(id: string): void {
    const node = this.node(id)
    this.paused.delete(id)
    if (node.running) node.child.kill('SIGCONT')
  }

  /** Starts a cut; the nodes' block lists are pushed in the background (retried while a node does not answer). */
  addCut(cut: Cut): void {
    this.cuts.add(cut)
    for (const id of [...cut.sideA, ...cut.sideB]) this.syncBlocks(id)
  }

  removeCut(cut: Cut): void {
    if (!this.cuts.delete(cut)) return
    for (const id of [...cut.sideA, ...cut.sideB]) this.syncBlocks(id)
  }

  /** Every node running and not paused, no cut left; resolves once every node reports no blocks. */
  async healAll(): Promise<void> {
    for (const id of this.nodeIds) {
      if (this.paused.has(id)) this.resume(id)
      if (!this.isRunning(id)) await this.restart(id)
    }
    this.cuts.clear()
    for (const id of this.nodeIds) this.syncBlocks(id)
    while (this.syncing.size > 0) await Promise.all([...this.syncing.values()])
  }

  /** The node's own view of its block list (GET /fault/links). */
  async blockedOn(id: string): Promise<string[]> {
    const body = await this.http<{ blocked: string[] }>(id, 'GET')
    return body.blocked
  }

  async status(id: string): Promise<NodeStatus> {
    const response = await fetch(`http://${this.address(id)}/status`, { signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) })
    if (!response.ok) throw new Error(`GET /status on ${id}: HTTP ${response.status}`)
    return (await response.json()) as NodeStatus
  }

  /** Each node's stdout JSON lines, every incarnation in order. */
  logLines(): Map<string, string[]> {
    const logs = new Map<string, string[]>()
    for (const [id, processes] of this.incarnations) {
      logs.set(id, processes.flatMap((node, i) => [`# incarnation ${i + 1}`, ...node.lines.map((line) => JSON.stringify(line)), ...(node.stderr === '' ? [] : [`# stderr: ${node.stderr}`])]))
    }
    return logs
  }

  /** Lines at warn (40) or above, per node, all incarnations. */
  warningCounts(): Map<string, { warn: number; error: number }> {
    const counts = new Map<string, { warn: number; error: number }>()
    for (const [id, processes] of this.incarnations) {
      const lines = processes.flatMap((node) => node.lines)
      counts.set(id, { warn: lines.filter((l) => l.level === 40).length, error: lines.filter((l) => l.level >= 50).length })
    }
    return counts
  }

  /** Continues paused nodes, stops every process (SIGTERM, then SIGKILL) and removes the data dirs. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    for (const id of [...this.paused]) this.resume(id)
    await this.procs.cleanup()
  }

  private node(id: string): NodeProcess {
    const node = this.current.get(id)
    if (node === undefined) throw new Error(`no node ${id}`)
    return node
  }

  private track(id: string, node: NodeProcess): void {
    this.current.set(id, node)
    const list = this.incarnations.get(id) ?? []
    list.push(node)
    this.incarnations.set(id, list)
  }

  private blockListOf(id: string): string[] {
    const blocked = new Set<string>()
    for (const cut of this.cuts) {
      if (cut.sideA.includes(id)) for (const peer of cut.sideB) blocked.add(peer)
      if (cut.sideB.includes(id)) for (const peer of cut.sideA) blocked.add(peer)
    }
    return [...blocked].sort()
  }

  /**
   * Brings the node's block list in line with the cuts, in the background: one loop per node
   * (so pushes to it never race each other), which pushes the current list and reads it back
   * until the node answers with it. A request that timed out against a paused node may still
   * land when it resumes, hence the read-back. Bounded; a restart clears the list anyway.
   */
  private syncBlocks(id: string): void {
    this.blocksStale.add(id)
    // Once closed the loop would end before it is registered: start none.
    if (this.closed || this.syncing.has(id)) return
    const sync = (async () => {
      const deadline = performance.now() + BLOCK_SYNC_DEADLINE_MS
      while (this.blocksStale.has(id) && !this.closed && performance.now() < deadline) {
        this.blocksStale.delete(id)
        const wanted = this.blockListOf(id)
        try {
          await this.http(id, 'POST', { block: wanted })
          const actual = await this.blockedOn(id)
          if (actual.join(',') !== this.blockListOf(id).join(',')) this.blocksStale.add(id)
        } catch {
          this.blocksStale.add(id)
          await delay(BLOCK_SYNC_RETRY_MS)
        }
      }
      // Nothing awaited from the loop's last check to here: a syncBlocks call now starts a new loop.
      this.blocksStale.delete(id)
      this.syncing.delete(id)
    })()
    this.syncing.set(id, sync)
  }

  private async http<T>(id: string, method: 'GET' | 'POST', body?: unknown): Promise<T> {
    const response = await fetch(`http://${this.address(id)}/fault/links`, {
      method,
      headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
    })
    if (!response.ok) throw new Error(`${method} /fault/links on ${id}: HTTP ${response.status} ${await response.text()}`)
    return (await response.json()) as T
  }
}
