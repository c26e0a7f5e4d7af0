/**
 * What one member knows about another, and the precedence rules that decide which of two
 * claims about a member wins (SWIM §4.2, with memberlist's treatment of 'left').
 */
export const MemberState = { alive: 'alive', suspect: 'suspect', dead: 'dead', left: 'left' } as const
export type MemberState = (typeof MemberState)[keyof typeof MemberState]

export interface Member {
  id: string
  /** Where the member's node listens (transport address), carried in its alive updates. */
  address: string
  /** Failure domain (rack, availability zone), carried in its alive updates. */
  zone: string
  /**
   * Only the member itself raises it, to refute a suspicion or to announce new metadata.
   * A claim with a higher incarnation is newer than any claim with a lower one.
   */
  incarnation: number
  state: MemberState
}

/** The largest incarnation accepted (refuting adds one, which must stay a safe integer). */
export const INCARNATION_MAX = Number.MAX_SAFE_INTEGER - 1

export const Precedence = {
  /** The claim is newer: adopt it. */
  apply: 'apply',
  /** The member is already suspect at this incarnation: count a confirmation. */
  confirm: 'confirm',
  /** The claim is stale or redundant. */
  ignore: 'ignore',
} as const
export type Precedence = (typeof Precedence)[keyof typeof Precedence]

/**
 * What to do with a claim `(incoming state, incoming incarnation)` about another member whose
 * current view is `current` (undefined: unknown member).
 *
 * - alive(j) overrides anything with incarnation < j; only alive introduces an unknown member
 *   (the other claims carry no address).
 * - suspect(j) overrides alive(i <= j) and suspect(i < j) (a higher incarnation means the old
 *   suspicion was refuted: this is a new one); suspect(i) on suspect(i) is a confirmation.
 * - dead(j) overrides alive or suspect with i <= j; dead is not overridden by dead.
 * - left(j) overrides alive, suspect or dead with i <= j; it is terminal but for alive(j > i),
 *   a restarted process with the same id.
 */
export function precedence(
  current: { readonly state: MemberState; readonly incarnation: number } | undefined,
  incoming: { readonly state: MemberState; readonly incarnation: number },
): Precedence {
  if (current === undefined) return incoming.state === MemberState.alive ? Precedence.apply : Precedence.ignore
  const newer = incoming.incarnation > current.incarnation
  const notOlder = incoming.incarnation >= current.incarnation
  switch (incoming.state) {
    case MemberState.alive:
      return newer ? Precedence.apply : Precedence.ignore
    case MemberState.suspect:
      if (current.state === MemberState.alive) return notOlder ? Precedence.apply : Precedence.ignore
      if (current.state !== MemberState.suspect) return Precedence.ignore
      return newer ? Precedence.apply : incoming.incarnation === current.incarnation ? Precedence.confirm : Precedence.ignore
    case MemberState.dead:
      return notOlder && isLive(current.state) ? Precedence.apply : Precedence.ignore
    case MemberState.left:
      return notOlder && current.state !== MemberState.left ? Precedence.apply : Precedence.ignore
  }
}

/** Alive or suspect: probed, counted in n, a candidate for relays (alive only) and placement. */
export function isLive(state: MemberState): boolean {
  return state === MemberState.alive || state === MemberState.suspect
}

export function isMemberState(value: unknown): value is MemberState {
  return value === 'alive' || value === 'suspect' || value === 'dead' || value === 'left'
}
