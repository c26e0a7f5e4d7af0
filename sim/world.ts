import { strict as assert } from 'node:assert'
import type { Env } from '../src/env/index.js'
import { Prng } from './prng.js'
import { Scheduler, type RunOptions, type RunResult } from './scheduler.js'
import { SimClock } from './sim-clock.js'
import { DISK_CONFIG_DEFAULT, SimDisk, type DiskConfig, type DiskCrashOptions } from './sim-disk.js'
import { LogSink, SimLogger, type LogSinkOptions } from './sim-logger.js'
import { NET_CONFIG_DEFAULT, SimNet, type NetConfig, type SimNetView } from './sim-net.js'

/**
 * A new process's monotonic clock starts somewhere in [0, this) ms: every node reads a
 * different origin, so code that compares monotonic times across nodes fails in simulation.
 */
export const MONOTONIC_START_MS_MAX_DEFAULT = 100_000

export interface WorldOptions {
  /** The one number a run is replayed from. */
  seed: number
  /** Overrides of NET_CONFIG_DEFAULT. */
  net?: Partial<NetConfig>
  /** Overrides of DISK_CONFIG_DEFAULT, for every node's disk. */
  disk?: Partial<DiskConfig>
  log?: LogSinkOptions
  /** Upper bound of a process's monotonic origin (0 gives every node nowMs() = virtual time). */
  monotonicStartMsMax?: number
  traceRecentEntriesMax?: number
}

/** One process (incarnation) of a node: its Env and the sim handles behind it. */
export interface SimProcess {
  readonly nodeId: string
  /** 1 for the first start, +1 per restart. */
  readonly incarnation: number
  readonly env: Env
  readonly clock: SimClock
  readonly net: SimNetView
  readonly alive: boolean
}

interface NodeState {
  readonly nodeId: string
  readonly disk: SimDisk
  /** Draws each process's monotonic origin; forked once per node so restarts do not shift others. */
  readonly clockRandom: Prng
  process: MutableProcess
}

interface MutableProcess extends SimProcess {
  alive: boolean
}

/**
 * A simulated cluster's world: one scheduler (virtual time), one root PRNG (the seed), one
 * network, and per node a disk that outlives crashes plus a current process whose Env the
 * code under test is built from.
 *
 * Every source of randomness is a named fork of the root, so adding a node or a draw in one
 * place does not perturb the others. Nodes are kept in insertion order, which the caller's
 * script determines; `nodeIds()` is sorted.
 */
export class World {
  readonly seed: number
  readonly scheduler: Scheduler
  readonly random: Prng
  readonly net: SimNet
  readonly logs: LogSink
  private readonly diskConfig: DiskConfig
  private readonly monotonicStartMsMax: number
  private readonly nodes = new Map<string, NodeState>()

  constructor(options: WorldOptions) {
    this.seed = options.seed
    this.random = Prng.fromSeed(options.seed)
    this.scheduler = new Scheduler({ traceRecentEntriesMax: options.traceRecentEntriesMax })
    this.net = new SimNet(this.scheduler, this.random.fork('net'), { ...NET_CONFIG_DEFAULT, ...options.net })
    this.diskConfig = { ...DISK_CONFIG_DEFAULT, ...options.disk }
    this.logs = new LogSink(() => this.scheduler.nowMs(), options.log)
    this.monotonicStartMsMax = options.monotonicStartMsMax ?? MONOTONIC_START_MS_MAX_DEFAULT
    assert.ok(this.monotonicStartMsMax >= 0 && Number.isFinite(this.monotonicStartMsMax), 'monotonicStartMsMax must be finite and >= 0')
  }

  /** Adds node `nodeId` (its host name too) with an empty disk, and starts its first process. */
  addNode(nodeId: string): Env {
    assert.ok(!this.nodes.has(nodeId), `node ${nodeId} already exists`)
    const nodeRandom = this.random.fork(`node:${nodeId}`)
    const disk = new SimDisk(this.scheduler, nodeRandom.fork('disk'), nodeId, this.diskConfig)
    const clockRandom = nodeRandom.fork('clock')
    const state: NodeState = { nodeId, disk, clockRandom, process: this.startProcess(nodeId, disk, clockRandom, 1, 0) }
    this.nodes.set(nodeId, state)
    return state.process.env
  }

  /**
   * The node's process dies: its timers never fire, its pending disk operations never
   * complete, its peers see their links close with 1006 at once (the RST), its listeners
   * vanish, and its disk loses whatever was not durable.
   */
  crash(nodeId: string, options: { disk?: DiskCrashOptions } = {}): void {
    const state = this.state(nodeId)
    assert.ok(state.process.alive, `node ${nodeId} is not running`)
    state.process.alive = false
    state.process.clock.kill()
    this.net.crashNode(nodeId)
    state.disk.crash(options.disk)
  }

  /** Starts a new process on a crashed node, over what its disk kept. Returns its Env. */
  restart(nodeId: string): Env {
    const state = this.state(nodeId)
    assert.ok(!state.process.alive, `node ${nodeId} is running; crash it first`)
    // The wall clock belongs to the machine, not the process: its skew survives the restart.
    const previous = state.process
    state.process = this.startProcess(nodeId, state.disk, state.clockRandom, previous.incarnation + 1, previous.clock.wallSkewMs)
    return state.process.env
  }

  /** The node's current (or last) process. */
  process(nodeId: string): SimProcess {
    return this.state(nodeId).process
  }

  disk(nodeId: string): SimDisk {
    return this.state(nodeId).disk
  }

  nodeIds(): string[] {
    return [...this.nodes.keys()].sort()
  }

  nowMs(): number {
    return this.scheduler.nowMs()
  }

  runFor(durationMs: number, options: { eventsMax?: number } = {}): Promise<RunResult> {
    return this.scheduler.runFor(durationMs, options)
  }

  runUntil(condition: (() => boolean) | number, options: RunOptions = {}): Promise<RunResult> {
    return this.scheduler.runUntil(condition, options)
  }

  /** Digest of every event so far; a run's last line prints `trace=<this>`. */
  traceHex(): string {
    return this.scheduler.trace.digestHex()
  }

  private startProcess(nodeId: string, disk: SimDisk, clockRandom: Prng, incarnation: number, wallSkewMs: number): MutableProcess {
    const monotonicStartMs = this.monotonicStartMsMax === 0 ? 0 : Math.floor(clockRandom.float() * this.monotonicStartMsMax)
    const clock = new SimClock(this.scheduler, { nodeId, monotonicStartMs, wallSkewMs })
    const net = this.net.view(nodeId)
    const started: MutableProcess = {
      nodeId,
      incarnation,
      clock,
      net,
      alive: true,
      env: {
        clock,
        // Forked from the root by (node, incarnation): a restart gets a fresh, reproducible stream.
        random: this.random.fork(`env:${nodeId}#${incarnation}`),
        disk,
        net,
        log: new SimLogger(this.logs, nodeId, () => started.alive, { incarnation }),
      },
    }
    return started
  }

  private state(nodeId: string): NodeState {
    const state = this.nodes.get(nodeId)
    assert.ok(state !== undefined, `unknown node ${nodeId}`)
    return state
  }
}
