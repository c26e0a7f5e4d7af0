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

/** Longest actor id, in UTF-8 bytes; ids are keys in maps and on every envelope. */
export const ACTOR_ID_BYTES_MAX = 512

/** Longest message kind, in characters. */
export const MESSAGE_KIND_LENGTH_MAX = 128
