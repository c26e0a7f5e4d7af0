// The membership layer's public surface: SWIM with Lifeguard as a pure state machine.
export { INCARNATION_MAX, MemberState, precedence, Precedence, isLive, type Member } from './member.js'
export {
  ADDRESS_LENGTH_MAX,
  MEMBER_ID_LENGTH_MAX,
  ZONE_LENGTH_MAX,
  parseSwimMessage,
  SWIM_MESSAGE_TYPES,
  type AckMessage,
  type AliveUpdate,
  type DeadUpdate,
  type GossipMessage,
  type GossipUpdate,
  type LeftUpdate,
  type NackMessage,
  type PingMessage,
  type PingReqMessage,
  type PushPullMessage,
  type SuspectUpdate,
  type SwimMessage,
  type SwimMessageType,
} from './messages.js'
export {
  FAST_SWIM_SETTINGS,
  LAN_SWIM_SETTINGS,
  retransmitLimit,
  suspicionConfirmationsExpected,
  suspicionTimeoutMaxMs,
  suspicionTimeoutMinMs,
  validateSwimSettings,
  type SwimSettings,
} from './settings.js'
export { suspicionTimeoutMs } from './suspicion.js'
export { Swim, type SwimEffect, type SwimOptions, type SwimStats } from './swim.js'
