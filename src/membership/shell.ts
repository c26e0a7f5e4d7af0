import type { Env, Logger, TimerHandle } from '../env/index.js'
import type { Envelope } from '../wire/index.js'
import { type Member, type MemberState, Swim, isLive, type SwimEffect, type SwimMessage, type SwimSettings } from './index.js'

/** Recipient name of membership envelopes: node.ts hands them to the shell, not the actors. */
export const MEMBERSHIP_RECIPIENT = '$membership'

/** Message kind membership envelopes carry. */
const SWIM_KIND = 'swim'

/** The transport as membership needs it (src/transport's Transport satisfies it). */
export interface MembershipLinks {
  send(toNodeId: string, envelope: Envelope): 'queued' | 'overloaded'
  /** Dials an address whose node id is unknown (a seed) and resolves with that id. */
  discover(address: string): Promise<string>
}

export interface MembershipOptions {
  self: { id: string; address: string; zone: string }
  /** "host:port" of nodes to join through; any one that answers will do; may include our own. */
  seeds: readonly string[]
  settings: SwimSettings
}

/** What changed, for logs and for placement (which re-reads `members()`). */
export interface MembershipChange {
  member: Member
  previousState: MemberState | undefined
  reason: string
}

/**
 * The thin shell around the pure SWIM core: feeds it envelopes and timer ticks, executes the
 * effects it returns (sends, seed discovery, member events), and keeps one timer armed at the
 * core's next deadline. It holds no protocol logic of its own.
 */
export class MembershipShell {
  private readonly swim: Swim
  private readonly log: Logger
  private timer: TimerHandle | undefined
  private timerAtMs = Number.POSITIVE_INFINITY
  /** Addresses of nodes learned from seeds before gossip tells us about them. */
  private readonly discoveredAddresses = new Map<string, string>()
  private stopped = false

  constructor(
    private readonly env: Env,
    private readonly options: MembershipOptions,
    private readonly links: MembershipLinks,
    private readonly onChange: (change: MembershipChange) => void,
  ) {
    this.log = env.log.child({ component: 'membership' })
    this.swim = new Swim({ self: options.self, settings: options.settings, random: env.random, nowMs: env.clock.nowMs() })
  }

  /** Joins through the seeds (or starts a new cluster when none but us is listed). */
  start(): void {
    this.log.info({ seeds: this.options.seeds, address: this.options.self.address, zone: this.options.self.zone }, 'joining')
    this.run(this.swim.join(this.options.seeds, this.env.clock.nowMs()))
  }

  /** A membership envelope from a peer (node.ts routes envelopes to MEMBERSHIP_RECIPIENT here). */
  receive(fromNodeId: string, envelope: Envelope): void {
    if (this.stopped) return
    this.run(this.swim.receive(fromNodeId, envelope.payload as SwimMessage, this.env.clock.nowMs()))
  }

  /** Where `nodeId` listens, as gossip (or seed discovery) told us: the transport's address book. */
  addressOf(nodeId: string): string | undefined {
    return this.swim.member(nodeId)?.address ?? this.discoveredAddresses.get(nodeId)
  }

  members(): Member[] {
    return this.swim.members()
  }

  /** Ids of members currently alive or suspect (suspects still host their actors: terms decide). */
  liveMembers(): Member[] {
    return this.swim.members().filter((m) => isLive(m.state))
  }

  /** Tells the cluster we are leaving, then stops once that news has had `lingerMs` to spread. */
  async leave(lingerMs: number): Promise<void> {
    if (this.stopped) return
    this.run(this.swim.leave(this.env.clock.nowMs()))
    await new Promise<void>((resolve) => this.env.clock.setTimer(lingerMs, resolve))
    this.stop()
  }

  stop(): void {
    this.stopped = true
    this.timer?.cancel()
    this.timer = undefined
  }

  private run(effects: SwimEffect[]): void {
    for (const effect of effects) this.execute(effect)
    this.armTimer()
  }

  private execute(effect: SwimEffect): void {
    switch (effect.kind) {
      case 'send':
        this.sendTo(effect.toId, effect.message)
        return
      case 'sendToAddress':
        this.sendToAddress(effect.address, effect.message)
        return
      case 'memberChanged':
        this.log.info(
          { member: effect.member.id, state: effect.member.state, previousState: effect.previousState, incarnation: effect.member.incarnation, reason: effect.reason },
          'membership changed',
        )
        this.onChange({ member: effect.member, previousState: effect.previousState, reason: effect.reason })
        return
    }
  }

  private sendTo(toId: string, message: SwimMessage): void {
    const envelope: Envelope = { from: '', origin: this.options.self.id, to: MEMBERSHIP_RECIPIENT, kind: SWIM_KIND, corr: 0, ttlMs: 0, hops: 0, payload: message }
    // A full queue means the link is congested; SWIM treats the lost message like any other loss.
    this.links.send(toId, envelope)
  }

  private sendToAddress(address: string, message: SwimMessage): void {
    this.links.discover(address).then(
      (nodeId) => {
        if (this.stopped || nodeId === this.options.self.id) return
        this.discoveredAddresses.set(nodeId, address)
        this.sendTo(nodeId, message)
      },
      (err: unknown) => this.log.debug({ address, err: String(err) }, 'seed did not answer'),
    )
  }

  /** Keeps exactly one timer, armed at the core's next deadline. */
  private armTimer(): void {
    if (this.stopped) return
    const atMs = this.swim.nextTickAtMs()
    // After leaving, nothing is ever due again.
    if (!Number.isFinite(atMs)) return
    if (this.timer !== undefined && atMs >= this.timerAtMs) return
    this.timer?.cancel()
    this.timerAtMs = atMs
    this.timer = this.env.clock.setTimer(Math.max(0, atMs - this.env.clock.nowMs()), () => {
      this.timer = undefined
      this.timerAtMs = Number.POSITIVE_INFINITY
      if (!this.stopped) this.run(this.swim.tick(this.env.clock.nowMs()))
    })
  }
}
