import { ErrorCode, SkeinError } from '../wire/errors.js'

/**
 * When appended bytes are made durable (fsync), and so when an append is reported done.
 * - always: an append resolves only after an fsync covering it; concurrent appends share one
 *   fsync (group commit). The default: it is what `acks=all` promises.
 * - interval: an append resolves once written to the OS; an fsync runs every `intervalMs` or
 *   once `intervalBytes` have been written since the last one, whichever comes first.
 * - never: no fsync except on roll and close. For tests and throwaway data only.
 */
export type FlushPolicy =
  | { readonly mode: 'always' }
  | { readonly mode: 'interval'; readonly intervalMs: number; readonly intervalBytes: number }
  | { readonly mode: 'never' }

export interface LogConfig {
  /** Roll the active segment once it would grow past this many bytes (Kafka: segment.bytes). */
  readonly segmentBytesMax: number
  /** Roll the active segment once its first batch is this old, by record time (Kafka: segment.ms). */
  readonly segmentAgeMsMax: number
  /** Bytes of batches between two sparse index entries (Kafka: index.interval.bytes). */
  readonly indexIntervalBytes: number
  /** Roll the active segment once its offset index reaches this size (Kafka: segment.index.bytes). */
  readonly indexBytesMax: number
  /** Largest batch accepted, header included (Kafka: max.message.bytes). */
  readonly batchBytesMax: number
  /** Appends waiting to be written are coalesced into writes of up to this many bytes. */
  readonly writeBytesMax: number
  /** Bytes accepted but not yet written, across all appends; beyond it, appends are refused as OVERLOADED. */
  readonly pendingWriteBytesMax: number
  readonly flush: FlushPolicy
  /** Delete whole segments whose newest record is older than this; undefined keeps forever (Kafka: retention.ms). */
  readonly retentionMs: number | undefined
  /** Delete the oldest segments while the log is larger than this; undefined means no size limit (Kafka: retention.bytes). */
  readonly retentionBytes: number | undefined
  /** Check each batch's CRC as it is read (one pass over the bytes; catches bit rot at rest). */
  readonly verifyReadCrc: boolean
  /**
   * Bytes of the newest writes kept in memory per log, so reads at the tail (followers,
   * consumers at the high watermark) need no file read (tail-cache.ts). 0 turns it off.
   */
  readonly tailCacheBytesMax: number
  /** Stamp batches with the append time instead of the producer's time (Kafka: message.timestamp.type=LogAppendTime). */
  readonly logAppendTime: boolean
}

const KIB = 1024
const MIB = 1024 * KIB
const GIB = 1024 * MIB

export const LOG_CONFIG_DEFAULT: LogConfig = {
  segmentBytesMax: 1 * GIB,
  segmentAgeMsMax: 7 * 24 * 3_600_000,
  indexIntervalBytes: 4 * KIB,
  indexBytesMax: 10 * MIB,
  // Kafka's default message.max.bytes: 1 MiB of records plus the 12-byte log overhead.
  batchBytesMax: 1 * MIB + 12,
  writeBytesMax: 1 * MIB,
  pendingWriteBytesMax: 64 * MIB,
  flush: { mode: 'always' },
  retentionMs: 7 * 24 * 3_600_000,
  retentionBytes: undefined,
  verifyReadCrc: true,
  // A few of a busy partition's newest writes: what followers and tailing consumers read.
  tailCacheBytesMax: 256 * KIB,
  logAppendTime: false,
}

/**
 * Segment positions are stored as unsigned 32-bit integers in the offset index, as in Kafka,
 * so a segment cannot outgrow 4 GiB - 1.
 */
export const SEGMENT_BYTES_LIMIT = 0xffff_ffff

/** Fills in defaults and refuses nonsense with INVALID_REQUEST, naming the field. */
export function resolveLogConfig(overrides: Partial<LogConfig> = {}): LogConfig {
  const config: LogConfig = { ...LOG_CONFIG_DEFAULT, ...overrides }
  positiveInteger('segmentBytesMax', config.segmentBytesMax, SEGMENT_BYTES_LIMIT)
  positiveInteger('segmentAgeMsMax', config.segmentAgeMsMax)
  positiveInteger('indexIntervalBytes', config.indexIntervalBytes)
  positiveInteger('indexBytesMax', config.indexBytesMax)
  positiveInteger('batchBytesMax', config.batchBytesMax, config.segmentBytesMax)
  positiveInteger('writeBytesMax', config.writeBytesMax)
  positiveInteger('pendingWriteBytesMax', config.pendingWriteBytesMax)
  if (config.pendingWriteBytesMax < config.batchBytesMax) {
    throw invalidConfig(`pendingWriteBytesMax (${config.pendingWriteBytesMax}) must hold at least one batch of batchBytesMax (${config.batchBytesMax})`)
  }
  if (typeof config.flush !== 'object' || config.flush === null) {
    throw invalidConfig(`flush must be { mode: 'always' | 'interval' | 'never' }, got ${String(config.flush)}`)
  }
  if (config.flush.mode === 'interval') {
    positiveInteger('flush.intervalMs', config.flush.intervalMs)
    positiveInteger('flush.intervalBytes', config.flush.intervalBytes)
  } else if (config.flush.mode !== 'always' && config.flush.mode !== 'never') {
    throw invalidConfig(`flush.mode must be always, interval or never, got ${String((config.flush as { mode: unknown }).mode)}`)
  }
  if (!Number.isSafeInteger(config.tailCacheBytesMax) || config.tailCacheBytesMax < 0) {
    throw invalidConfig(`tailCacheBytesMax must be an integer >= 0, got ${config.tailCacheBytesMax}`)
  }
  if (config.retentionMs !== undefined) positiveInteger('retentionMs', config.retentionMs)
  if (config.retentionBytes !== undefined) positiveInteger('retentionBytes', config.retentionBytes)
  return config
}

function positiveInteger(name: string, value: number, max = Number.MAX_SAFE_INTEGER): void {
  if (!Number.isSafeInteger(value) || value < 1 || value > max) {
    throw invalidConfig(`${name} must be an integer in 1..${max}, got ${value}`)
  }
}

function invalidConfig(message: string): SkeinError {
  return new SkeinError(ErrorCode.INVALID_REQUEST, `log config: ${message}`)
}
