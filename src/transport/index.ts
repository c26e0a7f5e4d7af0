export { Transport } from './transport.js'
export type {
  PeerAddressBook,
  TransportHandlers,
  SendResult,
  TransportEnv,
  TransportStats,
  LinkInfo,
} from './types.js'
export { ACCEPTED_HANDSHAKES_MAX, DEFAULT_TRANSPORT_LIMITS, validateTransportConfig } from './config.js'
export type { TransportConfig, TransportLimits } from './config.js'
export { NONCE_BYTES, PROOF_BYTES, welcomeProof, initiatorProof } from './handshake.js'
export {
  FAULT_BLOCKED_PEERS_MAX,
  FAULT_LINKS_PATH,
  FAULT_TOKEN_LABEL,
  type LinkBlocker,
  faultInjectionRoute,
  faultInjectionToken,
  parseBlockRequest,
} from './fault-injection.js'
