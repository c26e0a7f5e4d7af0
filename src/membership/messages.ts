/**
 * The SWIM wire messages: plain data (strings, numbers, booleans, arrays, objects), so any
 * msgpack or JSON encoder carries them. Every message piggybacks a `gossip` array of member
 * updates (SWIM §4.1). They arrive from the network, so `parseSwimMessage` checks every field
 * and bound and returns undefined for anything else; handlers only ever see parsed messages.
 *
 * ```
 * ping       { type, seq, targetId, fromAddress, fromIncarnation, gossip }  probe; answered by ack
 * ping-req   { type, seq, targetId, targetAddress, fromAddress, gossip }  "probe targetId for me"
 * ack        { type, seq, incarnation, gossip }     seq of the ping (or of the ping-req, relayed);
 *                                                   incarnation of the member that was pinged
 * nack       { type, seq, gossip }                  relay heard nothing from the target (Lifeguard)
 * push-pull  { type, isResponse, isJoin, fromAddress, members, gossip }  full-state exchange
 * gossip     { type, gossip }                       updates alone (used by leave)
 * ```
 */
import { INCARNATION_MAX, isMemberState, MemberState, type Member } from './member.js'
import { GOSSIP_UPDATES_PER_MESSAGE_LIMIT, MEMBERS_LIMIT } from './settings.js'

/** Member ids longer than this are refused (our ids are short names like "n1"). */
export const MEMBER_ID_LENGTH_MAX = 256
/** Transport addresses ("host:port", a URL) longer than this are refused. */
export const ADDRESS_LENGTH_MAX = 512
/** Zone names longer than this are refused. */
export const ZONE_LENGTH_MAX = 128
/** Sequence numbers are non-negative safe integers. */
export const SEQ_MAX = Number.MAX_SAFE_INTEGER

export interface AliveUpdate {
  state: 'alive'
  id: string
  incarnation: number
  address: string
  zone: string
}
/** `from` is the member that suspects: distinct `from`s are Lifeguard's confirmations. */
export interface SuspectUpdate {
  state: 'suspect'
  id: string
  incarnation: number
  from: string
}
export interface DeadUpdate {
  state: 'dead'
  id: string
  incarnation: number
  from: string
}
export interface LeftUpdate {
  state: 'left'
  id: string
  incarnation: number
}
export type GossipUpdate = AliveUpdate | SuspectUpdate | DeadUpdate | LeftUpdate

export interface PingMessage {
  type: 'ping'
  seq: number
  /** The id the sender means to probe: a different process at that address ignores it. */
  targetId: string
  fromAddress: string
  /** The sender's own incarnation: like an ack's, its word on its incarnation (may refute a suspicion). */
  fromIncarnation: number
  gossip: GossipUpdate[]
}
export interface PingReqMessage {
  type: 'ping-req'
  seq: number
  targetId: string
  targetAddress: string
  fromAddress: string
  gossip: GossipUpdate[]
}
export interface AckMessage {
  type: 'ack'
  seq: number
  /** The pinged member's own incarnation: an ack is that member saying "alive(incarnation)". */
  incarnation: number
  gossip: GossipUpdate[]
}
export interface NackMessage {
  type: 'nack'
  seq: number
  gossip: GossipUpdate[]
}
export interface PushPullMessage {
  type: 'push-pull'
  isResponse: boolean
  /** Sent by `join` to a seed; its response ends the join retries. */
  isJoin: boolean
  fromAddress: string
  members: Member[]
  gossip: GossipUpdate[]
}
export interface GossipMessage {
  type: 'gossip'
  gossip: GossipUpdate[]
}
export type SwimMessage = PingMessage | PingReqMessage | AckMessage | NackMessage | PushPullMessage | GossipMessage
export type SwimMessageType = SwimMessage['type']

export const SWIM_MESSAGE_TYPES: readonly SwimMessageType[] = ['ping', 'ping-req', 'ack', 'nack', 'push-pull', 'gossip']

/** A value that did not pass validation; caught inside this module only. */
class Invalid extends Error {}

/**
 * The message in `value`, rebuilt from checked fields (unknown fields dropped), or undefined
 * when anything is missing, mistyped or out of bounds. Never throws.
 */
export function parseSwimMessage(value: unknown): SwimMessage | undefined {
  try {
    return parseMessage(value)
  } catch (err) {
    if (err instanceof Invalid) return undefined
    throw err
  }
}

function parseMessage(value: unknown): SwimMessage {
  const obj = record(value)
  const gossip = gossipList(obj['gossip'])
  switch (obj['type']) {
    case 'ping':
      return {
        type: 'ping',
        seq: seq(obj['seq']),
        targetId: id(obj['targetId']),
        fromAddress: address(obj['fromAddress']),
        fromIncarnation: incarnation(obj['fromIncarnation']),
        gossip,
      }
    case 'ping-req':
      return {
        type: 'ping-req',
        seq: seq(obj['seq']),
        targetId: id(obj['targetId']),
        targetAddress: address(obj['targetAddress']),
        fromAddress: address(obj['fromAddress']),
        gossip,
      }
    case 'ack':
      return { type: 'ack', seq: seq(obj['seq']), incarnation: incarnation(obj['incarnation']), gossip }
    case 'nack':
      return { type: 'nack', seq: seq(obj['seq']), gossip }
    case 'push-pull':
      return {
        type: 'push-pull',
        isResponse: bool(obj['isResponse']),
        isJoin: bool(obj['isJoin']),
        fromAddress: address(obj['fromAddress']),
        members: memberList(obj['members']),
        gossip,
      }
    case 'gossip':
      return { type: 'gossip', gossip }
    default:
      throw new Invalid()
  }
}

function gossipList(value: unknown): GossipUpdate[] {
  if (!Array.isArray(value) || value.length > GOSSIP_UPDATES_PER_MESSAGE_LIMIT) throw new Invalid()
  return value.map(gossipUpdate)
}

function gossipUpdate(value: unknown): GossipUpdate {
  const obj = record(value)
  const memberId = id(obj['id'])
  const inc = incarnation(obj['incarnation'])
  switch (obj['state']) {
    case MemberState.alive:
      return { state: 'alive', id: memberId, incarnation: inc, address: address(obj['address']), zone: zone(obj['zone']) }
    case MemberState.suspect:
      return { state: 'suspect', id: memberId, incarnation: inc, from: id(obj['from']) }
    case MemberState.dead:
      return { state: 'dead', id: memberId, incarnation: inc, from: id(obj['from']) }
    case MemberState.left:
      return { state: 'left', id: memberId, incarnation: inc }
    default:
      throw new Invalid()
  }
}

function memberList(value: unknown): Member[] {
  if (!Array.isArray(value) || value.length > MEMBERS_LIMIT) throw new Invalid()
  return value.map((item: unknown): Member => {
    const obj = record(item)
    const state = obj['state']
    if (!isMemberState(state)) throw new Invalid()
    return { id: id(obj['id']), address: address(obj['address']), zone: zone(obj['zone']), incarnation: incarnation(obj['incarnation']), state }
  })
}

function record(value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Invalid()
  return value as Record<string, unknown>
}

function boundedString(value: unknown, lengthMin: number, lengthMax: number): string {
  if (typeof value !== 'string' || value.length < lengthMin || value.length > lengthMax) throw new Invalid()
  return value
}

function id(value: unknown): string {
  return boundedString(value, 1, MEMBER_ID_LENGTH_MAX)
}

function address(value: unknown): string {
  return boundedString(value, 1, ADDRESS_LENGTH_MAX)
}

function zone(value: unknown): string {
  return boundedString(value, 0, ZONE_LENGTH_MAX)
}

function seq(value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > SEQ_MAX) throw new Invalid()
  return value
}

function incarnation(value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > INCARNATION_MAX) throw new Invalid()
  return value
}

function bool(value: unknown): boolean {
  if (typeof value !== 'boolean') throw new Invalid()
  return value
}
