/**
 * A message-level cluster harness for the pure SWIM core: N `Swim` instances, one virtual
 * clock, one event queue, a UDP-like network (per-message latency and loss, partitions),
 * crashes and restarts with the same id. Everything random is drawn from one seed
 * (sim/prng.ts), so a seed replays a run exactly.
 *
 * The core is synchronous, so the loop is too: no promise or macrotask per event (unlike
 * sim/scheduler.ts, which must let async node code settle). An hour of a 50-member cluster
 * is about a million events and takes seconds.
 *
 * The harness is the shell: it calls `tick` at `nextTickAtMs()`, routes `send` effects by
 * address (a message for id X at an address where another process now lives is dropped, as a
 * transport handshake would), and records every `memberChanged` effect with its observer.
 */
import { EventHeap } from '../event-heap.js'
import { strict as assert } from 'node:assert'
import { Prng } from '../prng.js'
import { MemberState, Swim, type Member, type SwimEffect, type SwimSettings } from '../../src/membership/index.js'

export interface SwimHarnessOptions {
  seed: number
  settings: SwimSettings
  /** Fixed part of every message's one-way latency. */
  latencyMsMin?: number
  /** Mean of the exponentially distributed part added to it. */
  latencyMsJitterMean?: number
  /** Probability that any one message is lost. */
  lossProbability?: number
}

/** One `memberChanged` effect, as seen by one observer. */
export interface MemberChangeRecord {
  readonly atMs: number
  readonly observerId: string
  readonly memberId: string
  readonly state: MemberState
  readonly previousState: MemberState | undefined
  readonly incarnation: number
  readonly reason: string
}

interface SimNode {
  readonly id: string
  readonly address: string
  readonly zone: string
  generation: number
  swim: Swim
  crashed: boolean
  /** Time of the live tick event, Infinity when none is queued. */
  tickAtMs: number
  /** Bumped whenever a tick event is queued; older tick events are stale and skipped. */
  tickToken: number
}

type HarnessEvent =
  | { readonly atMs: number; readonly sequence: number; readonly kind: 'tick'; readonly node: SimNode; readonly token: number }
  | {
      readonly atMs: number
      readonly sequence: number
      readonly kind: 'deliver'
      readonly fromId: string
      readonly toAddress: string
      readonly toId: string | undefined
      readonly message: unknown
    }

/** Default cap on events of one run call: far above any scenario, it turns a livelock into an error. */
const RUN_EVENTS_MAX = 50_000_000

export class SwimHarness {
  readonly settings: SwimSettings
  /** Every membership change any node reported, in order. */
  readonly changes: MemberChangeRecord[] = []
  /** Messages each node id handed to the network (lost ones included), across restarts. */
  readonly sentById = new Map<string, number>()
  private readonly root: Prng
  private readonly net: Prng
  private readonly nodes = new Map<string, SimNode>()
  private readonly byAddress = new Map<string, SimNode>()
  private readonly heap = new EventHeap<HarnessEvent>()
  private readonly latencyMsMin: number
  private readonly latencyMsJitterMean: number
  private lossProbability: number
  private groupOf: Map<string, number> | undefined
  private nowMsValue = 0
  private sequenceNext = 0
  private eventsValue = 0
  private messagesLostValue = 0
  private onChangeHook: ((record: MemberChangeRecord) => void) | undefined

  constructor(options: SwimHarnessOptions) {
    this.settings = options.settings
    this.root = Prng.fromSeed(options.seed)
    this.net = this.root.fork('net')
    this.latencyMsMin = options.latencyMsMin ?? 0.5
    this.latencyMsJitterMean = options.latencyMsJitterMean ?? 1
    this.lossProbability = options.lossProbability ?? 0
    assert.ok(this.latencyMsMin >= 0 && this.latencyMsJitterMean >= 0, 'latencies must be >= 0')
    this.setLoss(this.lossProbability)
  }

  get nowMs(): number {
    return this.nowMsValue
  }

  get eventsProcessed(): number {
    return this.eventsValue
  }

  get messagesLost(): number {
    return this.messagesLostValue
  }

  ids(): string[] {
    return [...this.nodes.keys()]
  }

  /** Ids of nodes that are running (not crashed). */
  runningIds(): string[] {
    return [...this.nodes.values()].filter((node) => !node.crashed).map((node) => node.id)
  }

  addressOf(id: string): string {
    return `${id}:7946`
  }

  /** Called for every change record as it happens (after it is stored). */
  onChange(hook: ((record: MemberChangeRecord) => void) | undefined): void {
    this.onChangeHook = hook
  }

  setLoss(probability: number): void {
    assert.ok(probability >= 0 && probability <= 1, `loss probability must be in [0, 1], got ${probability}`)
    this.lossProbability = probability
  }

  /** Starts a node now and has it join through the given seed ids (none: it starts a cluster). */
  addNode(id: string, options: { seedIds?: readonly string[]; zone?: string } = {}): void {
    assert.ok(!this.nodes.has(id), `node ${id} exists`)
    const address = this.addressOf(id)
    const node: SimNode = { id, address, zone: options.zone ?? 'z1', generation: 0, swim: this.newSwim(id, address, options.zone ?? 'z1', 0), crashed: false, tickAtMs: Infinity, tickToken: 0 }
    this.nodes.set(id, node)
    this.byAddress.set(address, node)
    this.sentById.set(id, 0)
    this.join(node, options.seedIds ?? [])
  }

  /** The process stops: no ticks, nothing received, nothing sent. Messages in flight to it are lost. */
  crash(id: string): void {
    const node = this.node(id)
    assert.ok(!node.crashed, `node ${id} already crashed`)
    node.crashed = true
    node.tickToken++
    node.tickAtMs = Infinity
  }

  /** A new process with the same id and address (incarnation 0) joins through the seeds. */
  restart(id: string, options: { seedIds?: readonly string[] } = {}): void {
    const node = this.node(id)
    assert.ok(node.crashed, `node ${id} must be crashed to restart`)
    node.generation++
    node.swim = this.newSwim(id, node.address, node.zone, node.generation)
    node.crashed = false
    node.tickAtMs = Infinity
    node.tickToken++
    this.join(node, options.seedIds ?? [])
  }

  /** Graceful leave: the node announces it and goes on answering until crashed. */
  leave(id: string): void {
    const node = this.node(id)
    this.handle(node, node.swim.leave(this.nowMsValue))
  }

  /** Messages cross only within a group; nodes not listed form one more group together. */
  partition(groups: readonly (readonly string[])[]): void {
    const groupOf = new Map<string, number>()
    groups.forEach((group, index) => group.forEach((id) => groupOf.set(id, index)))
    this.groupOf = groupOf
  }

  heal(): void {
    this.groupOf = undefined
  }

  /** The running process of `id`. */
  swim(id: string): Swim {
    return this.node(id).swim
  }

  /** What `observerId` believes about `memberId`. */
  view(observerId: string, memberId: string): Member | undefined {
    return this.node(observerId).swim.member(memberId)
  }

  /** True when every running node sees every running node (itself too) alive. */
  converged(ids: readonly string[] = this.runningIds()): boolean {
    for (const observer of ids) {
      const swim = this.node(observer).swim
      for (const subject of ids) if (swim.member(subject)?.state !== MemberState.alive) return false
    }
    return true
  }

  /** Runs every event up to `nowMs + durationMs`, then rests there. */
  runFor(durationMs: number): void {
    assert.ok(durationMs >= 0, `durationMs must be >= 0, got ${durationMs}`)
    this.runTo(this.nowMsValue + durationMs)
  }

  /**
   * Runs until `condition` holds, checking it every `checkEveryMs` of virtual time (it may be
   * costly). Returns the virtual time it first held at a check, or undefined after timeoutMs.
   */
  runUntil(condition: () => boolean, options: { timeoutMs: number; checkEveryMs?: number }): number | undefined {
    const checkEveryMs = options.checkEveryMs ?? 100
    const deadlineMs = this.nowMsValue + options.timeoutMs
    for (;;) {
      if (condition()) return this.nowMsValue
      if (this.nowMsValue >= deadlineMs) return undefined
      this.runTo(Math.min(deadlineMs, this.nowMsValue + checkEveryMs))
    }
  }

  private runTo(targetMs: number): void {
    let events = 0
    for (;;) {
      const next = this.heap.peek()
      if (next === undefined || next.atMs > targetMs) break
      this.heap.pop()
      this.nowMsValue = next.atMs
      this.eventsValue++
      if (++events > RUN_EVENTS_MAX) throw new Error(`more than ${RUN_EVENTS_MAX} events before ${targetMs} ms: livelock?`)
      if (next.kind === 'tick') this.onTick(next.node, next.token)
      else this.onDeliver(next.fromId, next.toAddress, next.toId, next.message)
    }
    this.nowMsValue = Math.max(this.nowMsValue, targetMs)
  }

  private onTick(node: SimNode, token: number): void {
    if (node.crashed || token !== node.tickToken) return
    node.tickAtMs = Infinity
    this.handle(node, node.swim.tick(this.nowMsValue))
  }

  private onDeliver(fromId: string, toAddress: string, toId: string | undefined, message: unknown): void {
    const node = this.byAddress.get(toAddress)
    if (node === undefined || node.crashed) return
    if (toId !== undefined && toId !== node.id) return
    if (this.groupOf !== undefined && this.groupOf.get(fromId) !== this.groupOf.get(node.id)) return
    this.handle(node, node.swim.receive(fromId, message, this.nowMsValue))
  }

  private join(node: SimNode, seedIds: readonly string[]): void {
    this.handle(node, node.swim.join(seedIds.map((id) => this.addressOf(id)), this.nowMsValue))
  }

  private handle(node: SimNode, effects: SwimEffect[]): void {
    for (const effect of effects) {
      if (effect.kind === 'memberChanged') {
        this.record(node, effect)
        continue
      }
      this.sentById.set(node.id, (this.sentById.get(node.id) ?? 0) + 1)
      // Always draw both numbers, so a loss setting change does not shift later draws.
      const lost = this.net.chance(this.lossProbability)
      const latencyMs = this.latencyMsMin + this.net.exponential(this.latencyMsJitterMean)
      if (lost) {
        this.messagesLostValue++
        continue
      }
      const toAddress = effect.kind === 'send' ? effect.toAddress : effect.address
      const toId = effect.kind === 'send' ? effect.toId : undefined
      this.heap.push({ atMs: this.nowMsValue + latencyMs, sequence: this.sequenceNext++, kind: 'deliver', fromId: node.id, toAddress, toId, message: effect.message })
    }
    this.reschedule(node)
  }

  private record(node: SimNode, effect: Extract<SwimEffect, { kind: 'memberChanged' }>): void {
    const record: MemberChangeRecord = {
      atMs: this.nowMsValue,
      observerId: node.id,
      memberId: effect.member.id,
      state: effect.member.state,
      previousState: effect.previousState,
      incarnation: effect.member.incarnation,
      reason: effect.reason,
    }
    this.changes.push(record)
    this.onChangeHook?.(record)
  }

  private reschedule(node: SimNode): void {
    if (node.crashed) return
    const atMs = Math.max(this.nowMsValue, node.swim.nextTickAtMs())
    if (atMs === Infinity || atMs >= node.tickAtMs) return
    node.tickAtMs = atMs
    node.tickToken++
    this.heap.push({ atMs, sequence: this.sequenceNext++, kind: 'tick', node, token: node.tickToken })
  }

  private newSwim(id: string, address: string, zone: string, generation: number): Swim {
    const random = this.root.forkUnchecked(`node:${id}#${generation}`)
    return new Swim({ self: { id, address, zone }, settings: this.settings, random, nowMs: this.nowMsValue })
  }

  private node(id: string): SimNode {
    const node = this.nodes.get(id)
    assert.ok(node !== undefined, `no node ${id}`)
    return node
  }
}

