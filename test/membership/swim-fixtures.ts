/** Helpers for the SWIM unit tests: build a core, feed it inputs, pick effects apart. */
import type { Random } from '../../src/env/random.js'
import {
  LAN_SWIM_SETTINGS,
  Swim,
  type GossipUpdate,
  type Member,
  type SwimEffect,
  type SwimMessage,
  type SwimSettings,
} from '../../src/membership/index.js'

/**
 * A Random that always draws the lowest value: no start stagger (first probe and first
 * push-pull at construction time), sequence numbers from 0, members inserted at the front of
 * the probe round, no join jitter. Makes every time in a test exact.
 */
export function lowestRandom(): Random {
  return {
    float: () => 0,
    int: () => 0,
    bytes: (count: number) => new Uint8Array(count),
  }
}

export const TEST_SETTINGS: SwimSettings = { ...LAN_SWIM_SETTINGS, joinRetryJitterRatio: 0 }

export function addressOf(id: string): string {
  return `${id}:7946`
}

export function makeSwim(id: string, options: { settings?: Partial<SwimSettings>; nowMs?: number; incarnation?: number; random?: Random } = {}): Swim {
  return new Swim({
    self: { id, address: addressOf(id), zone: 'z1' },
    settings: { ...TEST_SETTINGS, ...options.settings },
    random: options.random ?? lowestRandom(),
    nowMs: options.nowMs ?? 0,
    ...(options.incarnation === undefined ? {} : { incarnation: options.incarnation }),
  })
}

export function alive(id: string, incarnation = 0): Member {
  return { id, address: addressOf(id), zone: 'z1', incarnation, state: 'alive' }
}

/** Makes `swim` know `members` (a push-pull response from the first of them). */
export function introduce(swim: Swim, members: readonly Member[], nowMs: number): SwimEffect[] {
  const from = members[0]
  if (from === undefined) throw new Error('introduce needs a member')
  return swim.receive(from.id, pushPullResponse(from.id, members), nowMs)
}

export function pushPullResponse(fromId: string, members: readonly Member[], gossip: GossipUpdate[] = []): SwimMessage {
  return { type: 'push-pull', isResponse: true, isJoin: false, fromAddress: addressOf(fromId), members: [...members], gossip }
}

export function gossipMessage(...gossip: GossipUpdate[]): SwimMessage {
  return { type: 'gossip', gossip }
}

export type SendEffect = Extract<SwimEffect, { kind: 'send' }>
export type ChangeEffect = Extract<SwimEffect, { kind: 'memberChanged' }>

export function sends(effects: readonly SwimEffect[], type?: SwimMessage['type']): SendEffect[] {
  return effects.filter((effect): effect is SendEffect => effect.kind === 'send' && (type === undefined || effect.message.type === type))
}

export function changes(effects: readonly SwimEffect[]): ChangeEffect[] {
  return effects.filter((effect): effect is ChangeEffect => effect.kind === 'memberChanged')
}

/** The single message of `type` among `effects`; fails the test if there is not exactly one. */
export function only<T extends SwimMessage['type']>(effects: readonly SwimEffect[], type: T): SendEffect & { message: Extract<SwimMessage, { type: T }> } {
  const found = sends(effects, type)
  if (found.length !== 1) throw new Error(`expected one ${type}, got ${found.length}: ${JSON.stringify(effects)}`)
  return found[0] as SendEffect & { message: Extract<SwimMessage, { type: T }> }
}

/** Ticks at every time in `timesMs` (ascending) and returns all effects. */
export function tickAt(swim: Swim, ...timesMs: number[]): SwimEffect[] {
  return timesMs.flatMap((t) => swim.tick(t))
}

/** Starts the next probe at `nowMs` and returns its ping (the push-pull that may be due too is dropped). */
export function probeAt(swim: Swim, nowMs: number): SendEffect & { message: Extract<SwimMessage, { type: 'ping' }> } {
  return only(swim.tick(nowMs), 'ping')
}
