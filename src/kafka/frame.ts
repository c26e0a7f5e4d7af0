import { type ErrorSpec, SkeinError } from '../wire/errors.js'
import { type ByteSink, KafkaWriter, SizeCounter } from './writer.js'

/**
 * Kafka frames a message with a 4-byte big-endian size (the bytes after it). The codec's
 * encoders return whole frames, size included, ready for one socket write; its decoders take
 * a frame without the size, which is what a reader splitting the stream by size holds.
 */
export const SIZE_PREFIX_BYTES = 4

/** The largest message an int32 size prefix can describe, in bytes. */
const MESSAGE_BYTES_MAX = 0x7fff_ffff

/** Runs `write` once to size the message and once to fill a buffer of exactly that size. */
export function encodeFrame(write: (sink: ByteSink) => void, errorSpec: ErrorSpec): Uint8Array {
  const counter = new SizeCounter(errorSpec)
  write(counter)
  if (counter.sizeBytes > MESSAGE_BYTES_MAX) throw new SkeinError(errorSpec, `a message of ${counter.sizeBytes} bytes does not fit an int32 size`)
  // allocUnsafe: every byte is written below, which the position check confirms.
  const frame = Buffer.allocUnsafe(SIZE_PREFIX_BYTES + counter.sizeBytes)
  const writer = new KafkaWriter(frame)
  writer.int32(counter.sizeBytes)
  write(writer)
  if (writer.positionBytes !== frame.length) throw new Error(`wrote ${writer.positionBytes} bytes into a frame sized ${frame.length}`)
  return frame
}
