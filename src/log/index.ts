export { CorruptLogError, PartitionLog, isStorageError } from './log.js'
export type { AppendResult, AppendSource, LogEnv, LogStats, ReadOptions, ReadResult, RetentionResult } from './log.js'
export { LOG_CONFIG_DEFAULT, resolveLogConfig } from './config.js'
export type { FlushPolicy, LogConfig } from './config.js'
export { FileCache, OPEN_FILES_MAX_DEFAULT } from './file-cache.js'
export type { FileCacheStats } from './file-cache.js'
export { crc32c, crc32cImplementation } from './crc32c.js'
export {
  BATCH_HEADER_BYTES,
  BatchAttribute,
  BatchField,
  CompressionCodec,
  checkBatch,
  checkBatches,
  type BatchInfo,
} from './batch-header.js'
export {
  DECOMPRESSED_BYTES_MAX_DEFAULT,
  DECOMPRESSION_RATIO_MAX,
  codecById,
  codecByName,
  decompressRecords,
  supportedCompressions,
  type Codec,
  type CompressionName,
} from './compression.js'
export {
  DECODE_LIMITS_DEFAULT,
  decodeRecordBatch,
  decodeRecordBatches,
  encodeRecordBatch,
  type DecodeLimits,
  type DecodedBatch,
  type DecodedRecord,
  type RecordBatchSpec,
  type RecordHeader,
  type RecordSpec,
  type TimestampType,
} from './record-batch.js'
