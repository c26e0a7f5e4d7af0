import { constants as bufferConstants } from 'node:buffer'
import * as zlib from 'node:zlib'
import { ErrorCode, SkeinError } from '../wire/errors.js'
import { CompressionCodec } from './batch-header.js'
import { LOG_CONFIG_DEFAULT } from './config.js'

/**
 * The compression codecs of a RecordBatch v2, as Kafka defines them: attribute bits 0-2 name the
 * codec, and only the records section (everything after recordsCount, byte 61 on) is compressed,
 * as one stream; the header, recordsCount included, stays plain, and the CRC covers the
 * compressed bytes. The broker never (de)compresses: producers compress, consumers inflate.
 *
 *   id  name    here
 *    0  none    always
 *    1  gzip    always (node:zlib; any RFC 1952 stream, as the Java client and kafkajs write)
 *    2  snappy  not supported (no xerial-framed snappy in node:zlib)
 *    3  lz4     not supported (no LZ4 frame format in node:zlib)
 *    4  zstd    when node:zlib has zstdCompressSync (Node 22.15+ and 23.8+)
 *
 * An unsupported codec fails with UNSUPPORTED_COMPRESSION_TYPE (76, not retriable) on encode
 * and decode alike. Codecs are synchronous: the encoder and decoder are, and their callers
 * (the SDK, the metadata controller, the partition replica) rely on it.
 */
export type CompressionName = keyof typeof CompressionCodec

export interface Codec {
  readonly id: CompressionCodec
  readonly name: CompressionName
  compress(bytes: Uint8Array): Uint8Array
  /**
   * Inflates `bytes`, refusing to produce more than `decompressedBytesMax` bytes. Throws
   * SkeinError MESSAGE_TOO_LARGE past the bound; anything else thrown means the bytes are not
   * a valid stream (the caller reports it as CORRUPT_MESSAGE).
   */
  decompress(bytes: Uint8Array, decompressedBytesMax: number): Uint8Array
}

/**
 * How many times the largest accepted batch (`batchBytesMax`) its records may inflate to, by
 * default. Real data compresses 2-10x; gzip's ceiling is ~1000x, which is what a zip bomb uses.
 * 64x of a 1 MiB batch is 64 MiB: room for very compressible batches, and a bounded allocation
 * for a consumer that meets a bomb.
 */
export const DECOMPRESSION_RATIO_MAX = 64
/** Default bound on one batch's inflated records section, in bytes. */
export const DECOMPRESSED_BYTES_MAX_DEFAULT = DECOMPRESSION_RATIO_MAX * LOG_CONFIG_DEFAULT.batchBytesMax

/** zlib refuses a maxOutputLength above the largest Buffer. */
const BUFFER_BYTES_MAX = bufferConstants.MAX_LENGTH

const none: Codec = {
  id: CompressionCodec.none,
  name: 'none',
  compress: (bytes) => bytes,
  decompress: (bytes) => bytes,
}

/** A codec over node:zlib's one-shot functions, whose `maxOutputLength` bounds the inflation. */
function zlibCodec(
  name: CompressionName,
  compressSync: (bytes: Uint8Array) => Uint8Array,
  decompressSync: (bytes: Uint8Array, options: { maxOutputLength: number }) => Buffer,
): Codec {
  return {
    id: CompressionCodec[name],
    name,
    compress: (bytes) => viewOf(compressSync(bytes)),
    decompress(bytes, decompressedBytesMax) {
      try {
        return viewOf(decompressSync(bytes, { maxOutputLength: Math.min(decompressedBytesMax, BUFFER_BYTES_MAX) }))
      } catch (err) {
        if ((err as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE') {
          throw new SkeinError(ErrorCode.MESSAGE_TOO_LARGE, `${name} records inflate past decompressedBytesMax (${decompressedBytesMax} bytes)`, { cause: err })
        }
        throw err
      }
    },
  }
}

const gzip = zlibCodec('gzip', (bytes) => zlib.gzipSync(bytes), (bytes, options) => zlib.gunzipSync(bytes, options))

/** zstd through node:zlib where this Node has it (@types/node 20 does not declare it). */
function zstdFromZlib(): Codec | undefined {
  const maybe = zlib as unknown as {
    zstdCompressSync?: (bytes: Uint8Array) => Buffer
    zstdDecompressSync?: (bytes: Uint8Array, options: { maxOutputLength: number }) => Buffer
  }
  const { zstdCompressSync, zstdDecompressSync } = maybe
  if (typeof zstdCompressSync !== 'function' || typeof zstdDecompressSync !== 'function') return undefined
  return zlibCodec('zstd', (bytes) => zstdCompressSync(bytes), (bytes, options) => zstdDecompressSync(bytes, options))
}

/** The codecs this process supports, by attribute value. */
const codecsById: ReadonlyMap<number, Codec> = new Map(
  [none, gzip, zstdFromZlib()].filter((codec): codec is Codec => codec !== undefined).map((codec) => [codec.id, codec]),
)
const namesById: ReadonlyMap<number, CompressionName> = new Map(
  Object.entries(CompressionCodec).map(([name, id]) => [id, name as CompressionName]),
)

/** Names of the codecs this process can write and read, 'none' first. */
export function supportedCompressions(): CompressionName[] {
  return [...codecsById.values()].map((codec) => codec.name)
}

/** The codec for a name; UNSUPPORTED_COMPRESSION_TYPE when this process has none. */
export function codecByName(name: CompressionName): Codec {
  const id = CompressionCodec[name] as number | undefined
  if (id === undefined) throw unsupported(`compression '${String(name)}' is not a Kafka codec`)
  return codecById(id)
}

/** The codec for attribute bits 0-2; UNSUPPORTED_COMPRESSION_TYPE for one this process lacks. */
export function codecById(id: number): Codec {
  const codec = codecsById.get(id)
  if (codec !== undefined) return codec
  const name = namesById.get(id)
  const what = name === undefined ? `compression codec ${id}` : `compression '${name}' (codec ${id})`
  throw unsupported(`${what} is not supported here; supported: ${supportedCompressions().join(', ')}`)
}

/**
 * Inflates a batch's records section. `none` returns `bytes` itself (no copy). Throws only
 * SkeinError: UNSUPPORTED_COMPRESSION_TYPE, MESSAGE_TOO_LARGE past `decompressedBytesMax`, and
 * CORRUPT_MESSAGE for a stream that does not inflate.
 */
export function decompressRecords(id: number, bytes: Uint8Array, decompressedBytesMax: number): Uint8Array {
  const codec = codecById(id)
  if (codec === none) return bytes
  if (!Number.isSafeInteger(decompressedBytesMax) || decompressedBytesMax < 1) {
    throw new Error(`decompressedBytesMax must be a positive integer, got ${decompressedBytesMax}`)
  }
  try {
    return codec.decompress(bytes, decompressedBytesMax)
  } catch (err) {
    if (err instanceof SkeinError) throw err
    const reason = err instanceof Error ? err.message : String(err)
    throw new SkeinError(ErrorCode.CORRUPT_MESSAGE, `${codec.name} records do not inflate: ${reason}`, { cause: err })
  }
}

/** A Uint8Array view of a Buffer's bytes, so callers see one type (no copy). */
function viewOf(buffer: Uint8Array): Uint8Array {
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength)
}

function unsupported(message: string): SkeinError {
  return new SkeinError(ErrorCode.UNSUPPORTED_COMPRESSION_TYPE, message)
}
