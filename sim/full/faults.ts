/**
 * Injects one seed's fault menu (menu.ts) into a running cluster, tick by tick, and heals it
 * all at the end. Every decision draws from the injector's own stream, so a seed replays.
 *
 * The envelope: in 'minority' seeds, faults that take a node out of its Raft groups (crashed,
 * stopping, paused, on the cut-off side of a partition, disk full, destroyed, bit-flipped)
 * always spare a majority of every group; 'majority' seeds may take out more, but keep two
 * nodes up. Durable damage (a node lost with its disk, a flipped bit) hits at most one node
 * per seed: two damaged replicas of one partition could lose acknowledged writes legitimately.
 *
 * Net faults of the "split" shapes (partition, one-way, bridge, isolate-clients) take one slot
 * (one at a time), so each is undone exactly; the link faults (flaky, slow-link) take another;
 * clogs, pauses and the per-node disk and clock faults end on their own timers.
 */
import { shuffle } from '../../src/env/index.js'
import type { SimCluster } from '../cluster.js'
import type { Prng } from '../prng.js'
import { DiskCrashMode } from '../sim-disk.js'
import type { World } from '../world.js'
import { type FaultKind, type FaultMenu, type FaultPlan, FaultKind as Kind, hasKind } from './menu.js'

/** What the injector needs from the scenario. */
export interface FaultTarget {
  readonly cluster: SimCluster
  /** Hosts of the simulated clients (never crashed here, but cut off and skewed). */
  readonly clientHosts: readonly string[]
  /** Raft voter sets seen so far (metadata and every partition): the envelope spares a majority of each. */
  groups(): Iterable<readonly string[]>
  /** One step of client churn (a producer, consumer or member crashes, leaves, restarts or joins); what it did. */
  churnClients(random: Prng): string | undefined
  /**
   * A node the scenario wants crashed or cut off now (say, a coordinator's), or undefined for
   * any; crashes and partitions take it when the envelope allows. Without it (the full
   * simulator) victims are drawn from all nodes.
   */
  aim?(random: Prng): string | undefined
}

interface Split {
  readonly kind: FaultKind
  readonly untilMs: number
  /** Nodes out of their groups meanwhile. */
  readonly impaired: readonly string[]
  readonly undo: () => void
}

/** New nodes beyond the starting ones, at most (lose-node's replacements included). */
const ADDED_NODES_MAX = 2
/** Flipped bits per seed, at most (all on the one damaged node). */
const BIT_FLIPS_MAX = 3
/** Largest wall-clock skew drawn (either way). */
const SKEW_MS_MAX = 10 * 60_000
/** Largest wall-clock step drawn (either way). */
const JUMP_MS_MAX = 3_600_000

export class FaultInjector {
  /** What was done, when: `t=1.234s crash n2 (dropUnsynced) for 800ms`. */
  readonly log: string[] = []
  readonly counts = new Map<FaultKind, number>()
  /** Nodes whose disk was full at some point. */
  readonly diskFullNodes = new Set<string>()
  private readonly world: World
  private readonly down = new Map<string, number>()
  private readonly pausedUntil = new Map<string, number>()
  private readonly diskFullUntil = new Map<string, number>()
  private readonly slowFsyncUntil = new Map<string, number>()
  private readonly rateUntil = new Map<string, number>()
  private split: Split | undefined
  private linksUntilMs: number | undefined
  /** The one node durable damage may hit (chosen at the first such fault). */
  private damaged: string | undefined
  private readonly destroyed: string[] = []
  private bitFlips = 0
  private addedNodes = 0
  private readonly pendingAdds: number[] = []
  private nextNodeIndex: number

  constructor(
    private readonly target: FaultTarget,
    private readonly menu: FaultMenu,
    private readonly random: Prng,
    /** Listener told of each log line as it is written (the trace). */
    private readonly onLog: (line: string) => void = () => undefined,
  ) {
    this.world = target.cluster.world
    this.nextNodeIndex = target.cluster.nodeIds.length + 1
  }

  /** Runs the fault phase: `durationMs` of virtual time, a roll of every enabled kind each tick. */
  async run(durationMs: number): Promise<void> {
    const world = this.world
    const endMs = world.nowMs() + durationMs
    while (world.nowMs() < endMs) {
      const tickMs = this.menu.tickMsMin + this.random.int(this.menu.tickMsMax - this.menu.tickMsMin + 1)
      await world.runFor(Math.min(endMs - world.nowMs(), tickMs))
      if (world.nowMs() >= endMs) break
      await this.restoreDue()
      for (const plan of this.menu.plans) {
        if (this.random.chance(plan.probability)) await this.inject(plan)
      }
    }
  }

  /** Ends every fault: links whole, every node that is not destroyed running, disks and clock rates normal. */
  async healAll(): Promise<void> {
    const world = this.world
    this.note('heal all')
    world.net.heal()
    world.net.clearLinkConfigs()
    this.split = undefined
    this.linksUntilMs = undefined
    for (const nodeId of this.members()) {
      world.resume(nodeId)
      world.diskFull(nodeId, false)
      world.slowFsync(nodeId, undefined)
      if (world.process(nodeId).alive) world.setClockRate(nodeId, 1)
    }
    for (const host of this.target.clientHosts) if (world.process(host).alive) world.setClockRate(host, 1)
    this.pausedUntil.clear()
    this.diskFullUntil.clear()
    this.slowFsyncUntil.clear()
    this.rateUntil.clear()
    for (const nodeId of [...this.down.keys()].sort()) await this.restart(nodeId)
    while (this.pendingAdds.length > 0) {
      this.pendingAdds.shift()
      await this.addNode()
    }
  }

  /** The node durable damage hit (a flipped bit, or lost for good), if any. */
  get damagedNode(): string | undefined {
    return this.damaged
  }

  private members(): string[] {
    return [...this.target.cluster.nodeIds]
  }

  private note(what: string): void {
    const line = `t=${(this.world.nowMs() / 1000).toFixed(3)}s ${what}`
    this.log.push(line)
    this.onLog(line)
  }

  private count(kind: FaultKind): void {
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1)
  }

  private duration(plan: FaultPlan): number {
    return plan.durationMsMin + this.random.int(Math.max(1, plan.durationMsMax - plan.durationMsMin + 1))
  }

  // ---- the envelope

  private impaired(extra: readonly string[] = [], split = this.split): Set<string> {
    const out = new Set<string>([...this.down.keys(), ...this.pausedUntil.keys(), ...this.diskFullUntil.keys(), ...this.destroyed, ...extra])
    if (this.damaged !== undefined) out.add(this.damaged)
    for (const nodeId of split?.impaired ?? []) out.add(nodeId)
    return out
  }

  /** Whether the nodes in `impaired` may all be out at once. */
  private allowed(impaired: Set<string>): boolean {
    const members = this.members()
    if (members.filter((id) => !impaired.has(id)).length < 2) return false
    if (this.menu.mode === 'majority') return true
    for (const group of this.target.groups()) {
      if (group.filter((id) => impaired.has(id)).length > Math.floor((group.length - 1) / 2)) return false
    }
    return true
  }

  /** Running, unpaused members no fault holds, in id order. */
  private healthy(): string[] {
    const impaired = this.impaired()
    return this.members().filter((id) => !impaired.has(id) && this.world.process(id).alive)
  }

  // ---- restoring what is due

  private async restoreDue(): Promise<void> {
    const world = this.world
    const now = world.nowMs()
    for (const [nodeId, dueMs] of [...this.down]) if (dueMs <= now) await this.restart(nodeId)
    for (const [nodeId, untilMs] of [...this.pausedUntil]) if (untilMs <= now || !world.isPaused(nodeId)) this.pausedUntil.delete(nodeId)
    for (const [nodeId, untilMs] of [...this.diskFullUntil]) {
      if (untilMs > now) continue
      this.diskFullUntil.delete(nodeId)
      world.diskFull(nodeId, false)
      this.note(`disk of ${nodeId} has space again`)
    }
    for (const [nodeId, untilMs] of [...this.slowFsyncUntil]) {
      if (untilMs > now) continue
      this.slowFsyncUntil.delete(nodeId)
      world.slowFsync(nodeId, undefined)
      this.note(`fsync on ${nodeId} fast again`)
    }
    for (const [host, untilMs] of [...this.rateUntil]) {
      if (untilMs > now) continue
      this.rateUntil.delete(host)
      if (world.process(host).alive) world.setClockRate(host, 1)
      this.note(`clock of ${host} at true rate again`)
    }
    if (this.split !== undefined && this.split.untilMs <= now) {
      this.split.undo()
      this.note(`${this.split.kind} healed`)
      this.split = undefined
    }
    if (this.linksUntilMs !== undefined && this.linksUntilMs <= now) {
      world.net.clearLinkConfigs()
      this.linksUntilMs = undefined
      this.note('links steady')
    }
    while (this.pendingAdds.length > 0 && (this.pendingAdds[0] as number) <= now) {
      this.pendingAdds.shift()
      await this.addNode()
    }
  }

  private async restart(nodeId: string): Promise<void> {
    this.down.delete(nodeId)
    const cluster = this.target.cluster
    if (this.world.isDestroyed(nodeId)) return
    // A graceful stop still under way is cut short.
    if (this.world.process(nodeId).alive) cluster.crash(nodeId)
    this.note(`restart ${nodeId}`)
    await cluster.boot(nodeId)
  }

  /** Adds a new node (up to ADDED_NODES_MAX over the run); whether it did. */
  private async addNode(): Promise<boolean> {
    if (this.addedNodes >= ADDED_NODES_MAX) return false
    this.addedNodes++
    const nodeId = `n${this.nextNodeIndex++}`
    this.note(`add node ${nodeId}`)
    await this.target.cluster.addNode(nodeId)
    return true
  }

  // ---- injecting

  private async inject(plan: FaultPlan): Promise<void> {
    switch (plan.kind) {
      case Kind.partition:
      case Kind.oneWay:
      case Kind.bridge:
      case Kind.isolateClients:
        return this.splitNetwork(plan)
      case Kind.clog:
        return this.clog(plan)
      case Kind.flaky:
      case Kind.slowLink:
        return this.linkFault(plan)
      case Kind.crash:
      case Kind.tornWrite:
        return this.crash(plan)
      case Kind.gracefulRestart:
        return this.gracefulRestart(plan)
      case Kind.pause:
        return this.pause(plan)
      case Kind.loseNode:
        return this.loseNode(plan)
      case Kind.addNode:
        if (await this.addNode()) this.count(plan.kind)
        return
      case Kind.clientChurn: {
        const what = this.target.churnClients(this.random)
        if (what !== undefined) {
          this.count(plan.kind)
          this.note(what)
        }
        return
      }
      case Kind.bitFlip:
        return this.bitFlip(plan)
      case Kind.diskFull:
        return this.diskFull(plan)
      case Kind.slowFsync:
        return this.slowFsync(plan)
      case Kind.skew:
      case Kind.jump:
      case Kind.rate:
        return this.clockFault(plan)
    }
  }

  private pick<T>(items: readonly T[]): T | undefined {
    return items.length === 0 ? undefined : items[this.random.int(items.length)]
  }

  private splitNetwork(plan: FaultPlan): void {
    if (this.split !== undefined) return
    const random = this.random
    const net = this.world.net
    const members = shuffle(random, this.members())
    const clients = this.target.clientHosts
    const durationMs = this.duration(plan)
    const untilMs = this.world.nowMs() + durationMs
    const cutMax = this.menu.mode === 'majority' ? members.length - 1 : Math.max(1, Math.floor((members.length - 1) / 2))
    const aimed = this.target.aim?.(random)
    if (aimed !== undefined && members.includes(aimed)) members.unshift(...members.splice(members.indexOf(aimed), 1))
    let split: Split
    let what: string
    if (plan.kind === Kind.isolateClients) {
      const isolated = members.slice(0, 1 + random.int(Math.min(2, members.length - 1)))
      net.isolateFrom(isolated, clients)
      split = { kind: plan.kind, untilMs, impaired: [], undo: () => (net.unblock(isolated, clients), net.unblock(clients, isolated)) }
      what = `isolate [${isolated.join(',')}] from the clients`
    } else if (plan.kind === Kind.bridge) {
      if (members.length < 3) return
      const bridgeNode = members[0] as string
      const rest = members.slice(1)
      const sideSize = 1 + random.int(rest.length - 1)
      const sideA = rest.slice(0, sideSize).sort()
      const sideB = rest.slice(sideSize).sort()
      const smaller = sideA.length <= sideB.length ? sideA : sideB
      if (!this.allowed(this.impaired(smaller))) return
      net.bridge(sideA, sideB, bridgeNode)
      split = { kind: plan.kind, untilMs, impaired: smaller, undo: () => (net.unblock(sideA, sideB), net.unblock(sideB, sideA)) }
      what = `bridge [${sideA.join(',')}] | [${sideB.join(',')}] through ${bridgeNode}`
    } else {
      const cut = members.slice(0, 1 + random.int(cutMax)).sort()
      const rest = members.filter((id) => !cut.includes(id)).sort()
      // Each client goes with the cut-off side now and then.
      const cutClients = clients.filter(() => random.chance(0.2))
      const restClients = clients.filter((host) => !cutClients.includes(host))
      const sideA = [...cut, ...cutClients]
      const sideB = [...rest, ...restClients]
      if (!this.allowed(this.impaired(cut))) return
      if (plan.kind === Kind.oneWay) {
        net.partitionOneWay(sideA, sideB)
        split = { kind: plan.kind, untilMs, impaired: cut, undo: () => net.unblock(sideA, sideB) }
      } else {
        net.partition(sideA, sideB)
        split = { kind: plan.kind, untilMs, impaired: cut, undo: () => (net.unblock(sideA, sideB), net.unblock(sideB, sideA)) }
      }
      what = `${plan.kind} [${sideA.join(',')}] ${plan.kind === Kind.oneWay ? '-/->' : '|'} [${sideB.join(',')}]`
    }
    this.split = split
    this.count(plan.kind)
    this.note(`${what} for ${durationMs}ms`)
  }

  private clog(plan: FaultPlan): void {
    const hosts = [...this.members(), ...this.target.clientHosts]
    const [from, to] = shuffle(this.random, hosts) as [string, string]
    const durationMs = this.duration(plan)
    this.world.net.clog(from, to, durationMs)
    this.count(plan.kind)
    this.note(`clog ${from}->${to} for ${durationMs}ms`)
  }

  private linkFault(plan: FaultPlan): void {
    if (this.linksUntilMs !== undefined) return
    const hosts = [...this.members(), ...this.target.clientHosts]
    const [a, b] = shuffle(this.random, hosts) as [string, string]
    const durationMs = this.duration(plan)
    const net = this.world.net
    if (plan.kind === Kind.flaky) {
      const breakProbability = 0.005 + this.random.float() * 0.05
      net.setLinkConfig(a, b, { breakProbability })
      net.setLinkConfig(b, a, { breakProbability })
      this.note(`flaky ${a}<->${b} breaks=${breakProbability.toFixed(3)}/msg for ${durationMs}ms`)
    } else {
      const spikeProbability = 0.05 + this.random.float() * 0.3
      const latencyMsMin = 1 + this.random.int(50)
      const overrides = { spikeProbability, spikeMsMax: 50 + this.random.int(1_000), latencyMsMin, latencyMsMax: latencyMsMin + 20 }
      net.setLinkConfig(a, b, overrides)
      net.setLinkConfig(b, a, overrides)
      this.note(`slow ${a}<->${b} latency>=${latencyMsMin}ms spikes=${spikeProbability.toFixed(2)} up to ${overrides.spikeMsMax}ms for ${durationMs}ms`)
    }
    this.linksUntilMs = this.world.nowMs() + durationMs
    this.count(plan.kind)
  }

  /** A node dies; its disk keeps what was synced (crash), maybe a torn or partial tail of the rest (torn-write). */
  private crash(plan: FaultPlan): void {
    const healthy = this.healthy()
    const aimed = this.target.aim?.(this.random)
    const victim = aimed !== undefined && healthy.includes(aimed) ? aimed : this.pick(healthy)
    if (victim === undefined || !this.allowed(this.impaired([victim]))) return
    const modes: DiskCrashMode[] = plan.kind === Kind.tornWrite ? [DiskCrashMode.tearLastWrite] : [DiskCrashMode.dropUnsynced, DiskCrashMode.keepUnsyncedPrefix]
    const mode = modes[this.random.int(modes.length)] as DiskCrashMode
    const durationMs = this.duration(plan)
    this.world.crash(victim, { disk: { mode } })
    this.target.cluster.nodes.delete(victim)
    this.down.set(victim, this.world.nowMs() + durationMs)
    this.count(plan.kind)
    this.note(`crash ${victim} (${mode}) for ${durationMs}ms`)
  }

  /** A node leaves the cluster cleanly (SkeinNode.stop), exits, and starts again a little later. */
  private gracefulRestart(plan: FaultPlan): void {
    const victim = this.pick(this.healthy())
    if (victim === undefined || !this.allowed(this.impaired([victim]))) return
    const node = this.target.cluster.nodes.get(victim)
    if (node === undefined) return
    const durationMs = this.duration(plan)
    const incarnation = this.world.process(victim).incarnation
    this.down.set(victim, this.world.nowMs() + durationMs)
    this.count(plan.kind)
    this.note(`graceful restart of ${victim}: stop, then start again in ${durationMs}ms`)
    void node.stop().then(
      () => {
        const process = this.world.process(victim)
        if (!process.alive || process.incarnation !== incarnation || !this.down.has(victim)) return
        this.world.crash(victim, { disk: { mode: DiskCrashMode.dropUnsynced } })
        this.target.cluster.nodes.delete(victim)
      },
      () => undefined,
    )
  }

  private pause(plan: FaultPlan): void {
    const victim = this.pick(this.healthy())
    if (victim === undefined || !this.allowed(this.impaired([victim]))) return
    const durationMs = this.duration(plan)
    this.world.pause(victim, durationMs)
    this.pausedUntil.set(victim, this.world.nowMs() + durationMs)
    this.count(plan.kind)
    this.note(`pause ${victim} for ${durationMs}ms`)
  }

  /** The one damaged node, if durable damage may hit `nodeId` (it is the damaged one, or none is yet). */
  private mayDamage(nodeId: string): boolean {
    return this.damaged === undefined || this.damaged === nodeId
  }

  private loseNode(plan: FaultPlan): void {
    if (this.damaged !== undefined || this.addedNodes >= ADDED_NODES_MAX) return
    const victim = this.pick(this.members().filter((id) => !this.impaired().has(id)))
    if (victim === undefined || !this.allowed(this.impaired([victim]))) return
    const durationMs = this.duration(plan)
    this.damaged = victim
    this.destroyed.push(victim)
    this.down.delete(victim)
    this.target.cluster.destroy(victim)
    this.pendingAdds.push(this.world.nowMs() + durationMs)
    this.count(plan.kind)
    this.note(`lose ${victim} and its disk for good; a new node joins in ${durationMs}ms`)
  }

  private bitFlip(plan: FaultPlan): void {
    if (this.bitFlips >= BIT_FLIPS_MAX) return
    const candidates = this.damaged === undefined ? this.members().filter((id) => !this.impaired().has(id)) : [this.damaged]
    const victim = this.pick(candidates)
    if (victim === undefined || !this.mayDamage(victim) || this.world.isDestroyed(victim)) return
    if (this.damaged === undefined && !this.allowed(this.impaired([victim]))) return
    const flip = this.world.flipStoredBit(victim, this.random)
    if (flip === undefined) return
    this.damaged = victim
    this.bitFlips++
    this.count(plan.kind)
    this.note(`flip bit ${flip.bitIndex} of byte ${flip.offset} of ${victim}:${flip.path}`)
  }

  private diskFull(plan: FaultPlan): void {
    const victim = this.pick(this.healthy())
    if (victim === undefined || !this.allowed(this.impaired([victim]))) return
    const durationMs = this.duration(plan)
    this.world.diskFull(victim, true)
    this.diskFullNodes.add(victim)
    this.diskFullUntil.set(victim, this.world.nowMs() + durationMs)
    this.count(plan.kind)
    this.note(`disk of ${victim} full (ENOSPC) for ${durationMs}ms`)
  }

  private slowFsync(plan: FaultPlan): void {
    const victim = this.pick(this.members().filter((id) => !this.slowFsyncUntil.has(id) && !this.world.isDestroyed(id)))
    if (victim === undefined) return
    const durationMs = this.duration(plan)
    const factor = 5 + this.random.int(100)
    this.world.slowFsync(victim, factor)
    this.slowFsyncUntil.set(victim, this.world.nowMs() + durationMs)
    this.count(plan.kind)
    this.note(`fsync on ${victim} ${factor}x slower for ${durationMs}ms`)
  }

  private clockFault(plan: FaultPlan): void {
    const hosts = [...this.members(), ...this.target.clientHosts].filter((host) => this.world.process(host).alive)
    const host = this.pick(hosts)
    if (host === undefined) return
    const random = this.random
    if (plan.kind === Kind.skew) {
      const skewMs = Math.round((random.float() * 2 - 1) * SKEW_MS_MAX)
      this.world.skewWallClock(host, skewMs)
      this.note(`wall clock of ${host} set ${skewMs}ms off true time`)
    } else if (plan.kind === Kind.jump) {
      const deltaMs = Math.round((random.float() * 2 - 1) * JUMP_MS_MAX)
      this.world.jumpWallClock(host, deltaMs)
      this.note(`wall clock of ${host} jumps ${deltaMs > 0 ? '+' : ''}${deltaMs}ms`)
    } else {
      if (this.rateUntil.has(host)) return
      const rate = random.chance(0.5) ? random.between(0.7, 0.95) : random.between(1.05, 1.4)
      const durationMs = this.duration(plan)
      this.world.setClockRate(host, rate)
      this.rateUntil.set(host, this.world.nowMs() + durationMs)
      this.note(`clock of ${host} runs at ${rate.toFixed(2)}x for ${durationMs}ms`)
    }
    this.count(plan.kind)
  }
}

/** Broker settings a menu needs: nodes lost for good must have their replicas (and metadata votes) moved. */
export function reassignAfterMs(menu: FaultMenu, random: Prng): number | undefined {
  const draw = 2_000 + random.int(3_000)
  return hasKind(menu, Kind.loseNode) ? draw : undefined
}
