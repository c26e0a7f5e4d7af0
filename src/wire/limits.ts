/**
 * The protocol version spoken on node-to-node links. A peer with another version is refused
 * at the handshake; bump it whenever a frame's layout changes incompatibly.
 */
export const PROTOCOL_VERSION = 1

/**
 * The largest frame a link accepts, in bytes. Bigger than the largest record batch we expect
 * (Kafka's default message.max.bytes is ~1 MiB) plus envelope overhead, small enough that one
 * peer cannot make another buffer unbounded memory.
 */
export const FRAME_BYTES_MAX = 8 * 1024 * 1024

/**
 * Longest actor id (also bounds node ids on envelopes), in UTF-16 code units: checked on
 * every envelope that arrives, where a character count is cheap and a byte count is not.
 * Ids are map keys and travel on every envelope; an unbounded one is a memory lever.
 */
export const ACTOR_ID_LENGTH_MAX = 512

/** Longest message kind, in UTF-16 code units. */
export const MESSAGE_KIND_LENGTH_MAX = 128
