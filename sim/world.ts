import { strict as assert } from 'node:assert'
import { DiskErrorCode } from '../src/env/disk.js'
import type { Env } from '../src/env/index.js'
import { parseSegmentFileName, SEGMENT_SUFFIX } from '../src/log/segment.js'
import { Prng } from './prng.js'
import { Scheduler, type EventHandle, type RunOptions, type RunResult } from './scheduler.js'
import { SimClock } from './sim-clock.js'
import { type BitFlip, DISK_CONFIG_DEFAULT, SimDisk, type DiskConfig, type DiskCrashOptions } from './sim-disk.js'
import { LogSink, SimLogger, type LogSinkOptions } from './sim-logger.js'
import { NET_CONFIG_DEFAULT, SimNet, type NetConfig, type SimNetView } from './sim-net.js'

/**
 * A new process's monotonic clock starts somewhere in [0, this) ms: every node reads a
 * different origin, so code that compares monotonic times across nodes fails in simulation.
 */
export const MONOTONIC_START_MS_MAX_DEFAULT = 100_000

/**
 * Longest process pause: far beyond any GC stall, VM migration or SIGSTOP a scenario means to
 * model; a node silent for longer may as well be crashed.
 */
export const PAUSE_MS_MAX = 600_000

/**
 * Largest wall-clock skew from true time, either way: a badly set clock (a year off), but
 * never so far back that wall time nears the Unix epoch or goes negative.
 */
export const WALL_SKEW_MS_MAX = 365 * 24 * 3_600_000

/** Largest fsync slowdown: the default 1-4 ms fsync becomes 10-40 s, a dying disk. */
export const FSYNC_SLOWDOWN_FACTOR_MAX = 10_000

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
  /** Set while the process is paused: when it wakes, and the event that wakes it. */
  pause: { readonly untilMs: number; readonly wake: EventHandle } | undefined
  /** Destroyed for good (`destroy`): never restarts. */
  destroyed: boolean
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
 *
 * Node faults live here (network faults on `net`): crash and restart, destroy (for good),
 * pause, wall-clock skew and steps, clock rate, and on the disk a bit flip in a stored
 * segment, a full disk and slow fsyncs. None draws randomness unless given a Prng, so a run
 * that uses none replays exactly as before.
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
    const first = this.startProcess(nodeId, disk, clockRandom, 1, 0)
    const state: NodeState = { nodeId, disk, clockRandom, process: first, pause: undefined, destroyed: false }
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
    // What the pause held belongs to the dead process: released, it finds nothing to run.
    if (state.pause !== undefined) this.resume(nodeId)
  }

  /**
   * The node is gone for good (the machine died with its disk, or was decommissioned): its
   * process crashes if it runs, its disk is erased, and it never restarts. A replacement
   * takes a new node id (`addNode`).
   */
  destroy(nodeId: string): void {
    const state = this.state(nodeId)
    assert.ok(!state.destroyed, `node ${nodeId} is already destroyed`)
    if (state.process.alive) this.crash(nodeId)
    state.disk.wipe()
    state.destroyed = true
  }

  isDestroyed(nodeId: string): boolean {
    return this.state(nodeId).destroyed
  }

  /**
   * The node's process stalls for `durationMs` (a long GC pause, SIGSTOP, a VM migration):
   * nothing of it runs (timers, disk completions, inbound messages and link events are held
   * in order as they come due), then all of it runs, in that order, at the wake-up instant,
   * and the process carries on with nothing lost. Its clocks keep going, so it wakes to find
   * time has jumped. Peers see it silent: their links stay open and what they send queues.
   * Pausing a paused node extends the pause (never shortens it); a crash ends it.
   */
  pause(nodeId: string, durationMs: number): void {
    const state = this.state(nodeId)
    assert.ok(state.process.alive, `node ${nodeId} is not running`)
    assert.ok(durationMs > 0 && durationMs <= PAUSE_MS_MAX, `durationMs must be in (0, ${PAUSE_MS_MAX}], got ${durationMs}`)
    const untilMs = this.scheduler.nowMs() + durationMs
    if (state.pause === undefined) this.scheduler.hold(nodeId)
    else if (state.pause.untilMs >= untilMs) return
    else state.pause.wake.cancel()
    const wake = this.scheduler.schedule(untilMs, `world:wake:${nodeId}`, () => this.resume(nodeId))
    state.pause = { untilMs, wake }
  }

  /** Ends a pause now (a no-op if the node is not paused): what it held runs at once, in order. */
  resume(nodeId: string): void {
    const state = this.state(nodeId)
    if (state.pause === undefined) return
    state.pause.wake.cancel()
    state.pause = undefined
    this.scheduler.release(nodeId)
  }

  isPaused(nodeId: string): boolean {
    return this.state(nodeId).pause !== undefined
  }

  /** Sets the node's wall clock to true time + `skewMs` (negative: behind). The monotonic clock is untouched. */
  skewWallClock(nodeId: string, skewMs: number): void {
    assert.ok(Math.abs(skewMs) <= WALL_SKEW_MS_MAX, `|skewMs| must be <= ${WALL_SKEW_MS_MAX}, got ${skewMs}`)
    this.state(nodeId).process.clock.setWallSkewMs(skewMs)
  }

  /**
   * Steps the node's wall clock by `deltaMs` at once, forwards or (negative) backwards, as an
   * NTP step or an operator would; the skew stays within WALL_SKEW_MS_MAX. The monotonic
   * clock and timers are untouched. The skew survives restarts (it is the machine's clock).
   */
  jumpWallClock(nodeId: string, deltaMs: number): void {
    const clock = this.state(nodeId).process.clock
    this.skewWallClock(nodeId, clock.wallSkewMs + deltaMs)
  }

  /**
   * Makes the running process's monotonic clock and timers run at `rate` × true speed
   * (SimClock.setRate; CLOCK_RATE_MIN..CLOCK_RATE_MAX). A restarted process starts at rate 1.
   */
  setClockRate(nodeId: string, rate: number): void {
    this.state(nodeId).process.clock.setRate(rate)
  }

  /**
   * Flips one bit of a stored record batch: a random durable byte (never the unsynced tail)
   * of a random log segment file (`<20 digits>.log`, any directory) on the node's disk,
   * drawn from `random`. Returns where, or undefined when the node stores no segment bytes.
   * Any byte may be hit, including a batch's baseOffset and leader epoch (outside its CRC).
   */
  flipStoredBit(nodeId: string, random: Prng): BitFlip | undefined {
    return this.state(nodeId).disk.flipDurableBit(random, isSegmentFile)
  }

  /** The node's disk is full (`on`): appends and truncates fail with ENOSPC until turned off. */
  diskFull(nodeId: string, on: boolean): void {
    this.state(nodeId).disk.failWritesWith(on ? DiskErrorCode.noSpace : undefined)
  }

  /**
   * The node's fsyncs (file and directory) take `factor` times the world's sync latencies;
   * undefined restores the world's disk config on that node.
   */
  slowFsync(nodeId: string, factor: number | undefined): void {
    const base = this.diskConfig
    if (factor === undefined) return this.state(nodeId).disk.setConfig(base)
    assert.ok(factor >= 1 && factor <= FSYNC_SLOWDOWN_FACTOR_MAX, `factor must be in [1, ${FSYNC_SLOWDOWN_FACTOR_MAX}], got ${factor}`)
    const slow = { ...base, syncLatencyMsMin: base.syncLatencyMsMin * factor, syncLatencyMsMax: base.syncLatencyMsMax * factor }
    this.state(nodeId).disk.setConfig(slow)
  }

  /** Starts a new process on a crashed node, over what its disk kept. Returns its Env. */
  restart(nodeId: string): Env {
    const state = this.state(nodeId)
    assert.ok(!state.destroyed, `node ${nodeId} was destroyed; add a new node instead`)
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

/** A log segment's data file: `<20-digit base offset>.log`, in any directory. */
function isSegmentFile(path: string): boolean {
  return parseSegmentFileName(path.slice(path.lastIndexOf('/') + 1), SEGMENT_SUFFIX) !== undefined
}
