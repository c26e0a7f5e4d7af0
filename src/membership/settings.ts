/**
 * Settings of the SWIM + Lifeguard membership core, each with the paper section it comes
 * from and what moving it trades. "SWIM" is Das, Gupta, Motivala (DSN 2002); "Lifeguard" is
 * Dadgar, Phillips, Currey (arXiv:1707.00788, 2017). The defaults follow hashicorp/memberlist's
 * DefaultLANConfig, which runs both papers in production.
 */
export interface SwimSettings {
  /**
   * SWIM §3.1, the protocol period T': one member is probed per period. Failure detection
   * time and probe load both scale with it (load: one ping + one ack per member per period,
   * whatever the cluster size). Lifeguard stretches it by (awareness score + 1).
   */
  probeIntervalMs: number
  /**
   * SWIM §3.1: how long a direct ping waits for its ack before the member asks others to
   * probe on its behalf (ping-req). Must exceed a round trip at the 99th percentile, and be
   * well below probeIntervalMs so the indirect probes have time to answer within the period.
   * Lifeguard stretches it by (awareness score + 1).
   */
  probeTimeoutMs: number
  /**
   * SWIM §3.1, k: how many members are asked to probe an unresponsive target indirectly.
   * More relays make a false suspicion (loss on our own path) less likely, at k extra
   * messages per failed direct probe.
   */
  indirectChecks: number
  /**
   * Lifeguard §IV-A: a relay (a member asked to ping on someone's behalf) gives up on the
   * target after this fraction of probeTimeoutMs; with Lifeguard on it then sends a nack, so
   * the requester's answer arrives inside its own probe period.
   */
  indirectNackTimeoutRatio: number
  /**
   * SWIM §4.2 and Lifeguard §IV-B, alpha: the suspicion timeout's floor is
   * alpha * max(1, log10(n)) * probeIntervalMs. Larger gives a suspected member more time to
   * refute (fewer false positives), and detects real failures later.
   */
  suspicionMultiplier: number
  /**
   * Lifeguard §IV-B, beta: a fresh suspicion starts at beta times the floor and shrinks
   * towards the floor as independent members confirm it. Without Lifeguard it is unused: the
   * timeout is the floor.
   */
  suspicionMaxTimeoutMultiplier: number
  /**
   * SWIM §4.1, lambda: each update is piggybacked on at most
   * retransmitMultiplier * ceil(log10(n + 1)) messages per member that knows it. Larger
   * spreads news more surely and costs more bytes per message.
   */
  retransmitMultiplier: number
  /** SWIM §4.1: most updates piggybacked on one message (the queue's least-sent first). */
  gossipUpdatesPerMessageMax: number
  /**
   * Anti-entropy (memberlist's push/pull; not in the SWIM paper): every period one random
   * member (dead ones included, so the halves of a healed partition find each other) gets our
   * full member list and answers with its own. Repairs what piggybacking missed.
   */
  pushPullIntervalMs: number
  /**
   * Lifeguard §IV-A, the local health multiplier's ceiling S: the awareness score stays in
   * [0, S - 1], and probe interval and probe timeout are multiplied by (score + 1).
   */
  awarenessMaxMultiplier: number
  /**
   * Lifeguard on or off, as one switch: local health awareness (§IV-A), dynamic suspicion
   * timeouts with confirmations (§IV-B), the buddy system (§IV-C, suspicion carried to the
   * suspect), nacks from relays, and our last-minute own probe of a suspect before its
   * suspicion may expire (swim.ts). Off is classic SWIM with a fixed suspicion timeout.
   */
  lifeguard: boolean
  /** Join: first delay before asking the seeds again when none has answered. */
  joinRetryDelayMsMin: number
  /** Join: cap of the doubling retry delay, so a node started before its seeds finds them soon after. */
  joinRetryDelayMsMax: number
  /** Join: each retry delay is drawn from [delay * (1 - ratio), delay], so restarted nodes do not retry in step. */
  joinRetryJitterRatio: number
  /**
   * Dead and left members are remembered this long after their last state change: their
   * tombstone keeps a stale 'alive' rumour from resurrecting them, and dead ones stay
   * push-pull targets so a healed partition merges. Then they are forgotten.
   */
  deadMemberRetentionMs: number
  /** Members remembered at most (self and tombstones included); news of more is ignored. */
  membersMax: number
  /** Indirect probes this member runs for others at once; more ping-reqs are ignored. */
  relaysInFlightMax: number
}

/** A LAN: sub-millisecond round trips, members in one datacenter. memberlist's DefaultLANConfig. */
export const LAN_SWIM_SETTINGS: Readonly<SwimSettings> = Object.freeze({
  // One probe per second per member: ~2 messages/s/member of steady load at any size.
  probeIntervalMs: 1_000,
  // Hundreds of LAN round trips; leaves half the period for the indirect probes.
  probeTimeoutMs: 500,
  // Three relays: a false suspicion then needs loss on all three indirect paths as well.
  indirectChecks: 3,
  // Lifeguard's 80%: the relay's nack leaves it before the requester's period ends.
  indirectNackTimeoutRatio: 0.8,
  // memberlist's 4: a floor of 4 s at 10 members, 6.8 s at 50, 9.2 s at 200.
  suspicionMultiplier: 4,
  // memberlist's 6: an unconfirmed suspicion waits 6x the floor (24 s at 5 members).
  suspicionMaxTimeoutMultiplier: 6,
  // memberlist's 4: 8 sends per update per member at 10..99 members, 12 at 100..999.
  retransmitMultiplier: 4,
  // ~1 KiB of updates at most on one message; more would crowd a UDP-sized datagram.
  gossipUpdatesPerMessageMax: 16,
  // memberlist's 30 s: full-state sync is O(n) bytes, so it stays rare.
  pushPullIntervalMs: 30_000,
  // memberlist's 8: a struggling member slows to at most one probe per 8 s.
  awarenessMaxMultiplier: 8,
  lifeguard: true,
  // A seed that is starting too is found within a second or two.
  joinRetryDelayMsMin: 1_000,
  // A node whose seeds are all down asks twice a minute, not in a busy loop.
  joinRetryDelayMsMax: 30_000,
  joinRetryJitterRatio: 0.2,
  // A day, like serf's reconnect timeout: partitions shorter than that still heal by push-pull.
  deadMemberRetentionMs: 24 * 60 * 60 * 1_000,
  // Far above any cluster we plan; bounds the member table and push-pull payloads.
  membersMax: 10_000,
  // Relays are rare (only failed direct probes ask for them); 64 covers a storm of them.
  relaysInFlightMax: 64,
})

/** Ten times faster than LAN, for tests and simulations that want detection in about a second. */
export const FAST_SWIM_SETTINGS: Readonly<SwimSettings> = Object.freeze({
  ...LAN_SWIM_SETTINGS,
  probeIntervalMs: 100,
  probeTimeoutMs: 50,
  pushPullIntervalMs: 3_000,
  joinRetryDelayMsMin: 100,
  joinRetryDelayMsMax: 3_000,
  deadMemberRetentionMs: 10 * 60 * 1_000,
})

/** Throws a RangeError naming the first setting that is out of range. */
export function validateSwimSettings(settings: SwimSettings): void {
  requirePositiveInteger('probeIntervalMs', settings.probeIntervalMs)
  requirePositiveInteger('probeTimeoutMs', settings.probeTimeoutMs)
  if (settings.probeTimeoutMs >= settings.probeIntervalMs) {
    throw new RangeError(`probeTimeoutMs (${settings.probeTimeoutMs}) must be < probeIntervalMs (${settings.probeIntervalMs})`)
  }
  requireIntegerIn('indirectChecks', settings.indirectChecks, 0, INDIRECT_CHECKS_MAX)
  requireRatio('indirectNackTimeoutRatio', settings.indirectNackTimeoutRatio, false)
  requireIntegerIn('suspicionMultiplier', settings.suspicionMultiplier, 1, MULTIPLIER_MAX)
  requireIntegerIn('suspicionMaxTimeoutMultiplier', settings.suspicionMaxTimeoutMultiplier, 1, MULTIPLIER_MAX)
  requireIntegerIn('retransmitMultiplier', settings.retransmitMultiplier, 1, MULTIPLIER_MAX)
  requireIntegerIn('gossipUpdatesPerMessageMax', settings.gossipUpdatesPerMessageMax, 1, GOSSIP_UPDATES_PER_MESSAGE_LIMIT)
  requirePositiveInteger('pushPullIntervalMs', settings.pushPullIntervalMs)
  requireIntegerIn('awarenessMaxMultiplier', settings.awarenessMaxMultiplier, 1, MULTIPLIER_MAX)
  if (typeof settings.lifeguard !== 'boolean') throw new RangeError(`lifeguard must be a boolean, got ${String(settings.lifeguard)}`)
  requirePositiveInteger('joinRetryDelayMsMin', settings.joinRetryDelayMsMin)
  requirePositiveInteger('joinRetryDelayMsMax', settings.joinRetryDelayMsMax)
  if (settings.joinRetryDelayMsMax < settings.joinRetryDelayMsMin) {
    throw new RangeError('joinRetryDelayMsMax must be >= joinRetryDelayMsMin')
  }
  requireRatio('joinRetryJitterRatio', settings.joinRetryJitterRatio, true)
  requirePositiveInteger('deadMemberRetentionMs', settings.deadMemberRetentionMs)
  requireIntegerIn('membersMax', settings.membersMax, 2, MEMBERS_LIMIT)
  requireIntegerIn('relaysInFlightMax', settings.relaysInFlightMax, 1, RELAYS_IN_FLIGHT_LIMIT)
}

/** Upper bounds on the settings themselves, so a typo cannot ask for a million relays. */
const INDIRECT_CHECKS_MAX = 16
const MULTIPLIER_MAX = 64
/** The wire accepts at most this many updates on one message (see messages.ts). */
export const GOSSIP_UPDATES_PER_MESSAGE_LIMIT = 256
/** The wire accepts push-pull member lists up to this length (see messages.ts). */
export const MEMBERS_LIMIT = 100_000
const RELAYS_IN_FLIGHT_LIMIT = 10_000

/**
 * The suspicion timeout's floor for a cluster of `memberCount` live members:
 * alpha * max(1, log10(n)) * probeIntervalMs (memberlist's suspicionTimeout). Without
 * Lifeguard this is the whole timeout.
 */
export function suspicionTimeoutMinMs(settings: SwimSettings, memberCount: number): number {
  const nodeScale = Math.max(1, Math.log10(Math.max(1, memberCount)))
  return Math.floor(settings.suspicionMultiplier * nodeScale * settings.probeIntervalMs)
}

/** Lifeguard §IV-B: where a fresh, unconfirmed suspicion starts: beta * floor. */
export function suspicionTimeoutMaxMs(settings: SwimSettings, memberCount: number): number {
  return settings.suspicionMaxTimeoutMultiplier * suspicionTimeoutMinMs(settings, memberCount)
}

/**
 * Lifeguard §IV-B, K: independent confirmations that drive a suspicion to its floor,
 * alpha - 2 (the suspecting and the suspected member are not counted). A cluster too small
 * to supply them expects none, and its suspicions run at the floor from the start.
 */
export function suspicionConfirmationsExpected(settings: SwimSettings, memberCount: number): number {
  const k = settings.suspicionMultiplier - 2
  if (k < 1 || memberCount - 2 < k) return 0
  return k
}

/** SWIM §4.1: how many messages carry one update, per member: lambda * ceil(log10(n + 1)). */
export function retransmitLimit(settings: SwimSettings, memberCount: number): number {
  return settings.retransmitMultiplier * Math.ceil(Math.log10(Math.max(1, memberCount) + 1))
}

function requirePositiveInteger(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value <= 0) throw new RangeError(`${name} must be a positive integer, got ${value}`)
}

function requireIntegerIn(name: string, value: number, min: number, max: number): void {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer in [${min}, ${max}], got ${value}`)
  }
}

function requireRatio(name: string, value: number, zeroAllowed: boolean): void {
  const ok = typeof value === 'number' && value <= 1 && (zeroAllowed ? value >= 0 : value > 0)
  if (!ok) throw new RangeError(`${name} must be in ${zeroAllowed ? '[0, 1]' : '(0, 1]'}, got ${value}`)
}
