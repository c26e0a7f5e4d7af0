/**
 * Per-topic configs, named and ranged as Kafka names them so that CreateTopics and
 * DescribeConfigs from a Kafka client mean the same thing here. Users give them keyed by Kafka
 * name (`parseTopicConfigs`); the metadata state stores the typed form (`TopicConfigs`), which
 * `validateTopicConfigs` checks again wherever it is read back (a log entry, a snapshot).
 */
import { FRAME_BYTES_MAX } from '../../src/wire/limits.js'
import { SEGMENT_BYTES_LIMIT } from '../../src/log/config.js'
import type { FlushPolicy, LogConfig } from '../../src/log/index.js'
import { ErrorCode, SkeinError } from '../../src/wire/index.js'

export interface TopicConfigs {
  /** Kafka retention.ms; -1 = keep forever */
  readonly retentionMs: number
  /** Kafka retention.bytes; -1 = no size limit */
  readonly retentionBytes: number
  /** skein's flush policy: 'always' (fsync before acking, default), 'interval', 'never' */
  readonly flush: 'always' | 'interval' | 'never'
  /** Kafka flush.ms, used when flush='interval' */
  readonly flushIntervalMs: number
  /** Kafka max.message.bytes (largest batch) */
  readonly maxMessageBytes: number
  /** Kafka segment.bytes */
  readonly segmentBytes: number
  /** Kafka message.timestamp.type */
  readonly timestampType: 'CreateTime' | 'LogAppendTime'
}

const KIB = 1024
const MIB = 1024 * KIB
const GIB = 1024 * MIB
const DAY_MS = 24 * 3_600_000

/**
 * Largest max.message.bytes, in bytes. A batch must fit one link frame (FRAME_BYTES_MAX, 8 MiB)
 * with room for the envelope and the other batches of a follower's fetch, or it could be
 * accepted by the leader and then never replicated.
 */
export const MESSAGE_BYTES_MAX = FRAME_BYTES_MAX - 1 * MIB

/**
 * Smallest segment.bytes, in bytes: Kafka's own minimum (the overhead of one legacy record),
 * kept so that any config Kafka accepts is accepted here.
 */
export const SEGMENT_BYTES_MIN = 14

/**
 * Largest segment.bytes, in bytes (4 GiB - 1): segment positions are unsigned 32-bit in the
 * offset index.
 */
export const SEGMENT_BYTES_MAX = SEGMENT_BYTES_LIMIT

/**
 * Under flush=interval, also fsync once this many bytes have been written since the last
 * fsync, so a burst cannot leave more than this at risk while flush.ms runs. Not a Kafka
 * config (Kafka's flush.messages counts records, which the broker never looks at here).
 */
export const FLUSH_INTERVAL_BYTES = 1 * MIB

export const TOPIC_CONFIGS_DEFAULT: TopicConfigs = Object.freeze({
  // Kafka's default: a week of history is enough to replay after most outages.
  retentionMs: 7 * DAY_MS,
  // Kafka's default: time, not size, bounds retention unless the user says otherwise.
  retentionBytes: -1,
  // What acks=all promises: an acknowledged write is on disk on a majority.
  flush: 'always',
  // Used only under flush=interval: at most a second of acknowledged writes at risk.
  flushIntervalMs: 1000,
  // Kafka's default message.max.bytes: 1 MiB of records plus the 12-byte log overhead.
  maxMessageBytes: 1 * MIB + 12,
  // Kafka's default: few enough files per partition, small enough that retention is not too coarse.
  segmentBytes: 1 * GIB,
  // Kafka's default: keep the producer's timestamps.
  timestampType: 'CreateTime',
})

type IntegerField = 'retentionMs' | 'retentionBytes' | 'flushIntervalMs' | 'maxMessageBytes' | 'segmentBytes'
type ChoiceField = 'flush' | 'timestampType'

interface IntegerSpec {
  readonly kind: 'integer'
  readonly name: string
  readonly field: IntegerField
  readonly unit: 'ms' | 'bytes'
  readonly min: number
  readonly max: number
  /** What -1 means, when -1 is allowed as "no limit". */
  readonly minusOne?: string
}

interface ChoiceSpec {
  readonly kind: 'choice'
  readonly name: string
  readonly field: ChoiceField
  readonly choices: readonly string[]
}

type ConfigSpec = IntegerSpec | ChoiceSpec

const specs: readonly ConfigSpec[] = [
  { kind: 'integer', name: 'retention.ms', field: 'retentionMs', unit: 'ms', min: 1, max: Number.MAX_SAFE_INTEGER, minusOne: 'keep forever' },
  { kind: 'integer', name: 'retention.bytes', field: 'retentionBytes', unit: 'bytes', min: 1, max: Number.MAX_SAFE_INTEGER, minusOne: 'no size limit' },
  { kind: 'choice', name: 'flush', field: 'flush', choices: ['always', 'interval', 'never'] },
  { kind: 'integer', name: 'flush.ms', field: 'flushIntervalMs', unit: 'ms', min: 1, max: Number.MAX_SAFE_INTEGER },
  { kind: 'integer', name: 'max.message.bytes', field: 'maxMessageBytes', unit: 'bytes', min: 1, max: MESSAGE_BYTES_MAX },
  { kind: 'integer', name: 'segment.bytes', field: 'segmentBytes', unit: 'bytes', min: SEGMENT_BYTES_MIN, max: SEGMENT_BYTES_MAX },
  { kind: 'choice', name: 'message.timestamp.type', field: 'timestampType', choices: ['CreateTime', 'LogAppendTime'] },
]

// A Map, not an object: a key such as "constructor" or "__proto__" must read as unknown.
const specByName: ReadonlyMap<string, ConfigSpec> = new Map(specs.map((spec) => [spec.name, spec]))
const specByField: ReadonlyMap<string, ConfigSpec> = new Map(specs.map((spec) => [spec.field, spec]))

export const TOPIC_CONFIG_NAMES: readonly string[] = Object.freeze(specs.map((spec) => spec.name))

type MutableConfigs = { -readonly [K in keyof TopicConfigs]: TopicConfigs[K] }

/** Parses user-supplied configs keyed by Kafka name (values string or number), over the defaults. Unknown name or bad value -> SkeinError(ErrorCode.INVALID_CONFIG, message naming the key and the allowed range). */
export function parseTopicConfigs(input: unknown): TopicConfigs {
  // No configs given at all (an optional field on a request) means every default.
  if (input === undefined || input === null) return TOPIC_CONFIGS_DEFAULT
  if (!isRecord(input)) throw invalidConfig(`topic configs must be an object of Kafka config names to values, got ${describe(input)}`)
  const configs: MutableConfigs = { ...TOPIC_CONFIGS_DEFAULT }
  for (const [name, raw] of Object.entries(input)) {
    const spec = specByName.get(name)
    if (spec === undefined) throw invalidConfig(`unknown topic config ${quote(name)}; known: ${TOPIC_CONFIG_NAMES.join(', ')}`)
    if (spec.kind === 'integer') configs[spec.field] = parseInteger(spec, raw)
    else setChoice(configs, spec, raw)
  }
  return finish(configs)
}

/**
 * Checks configs already in typed form (from a metadata command or snapshot): every field
 * present, of the right type and in range, nothing else. Throws INVALID_CONFIG naming the
 * field by its Kafka name. Returns a frozen copy, so the caller's object is never kept.
 */
export function validateTopicConfigs(input: unknown): TopicConfigs {
  if (!isRecord(input)) throw invalidConfig(`topic configs must be an object, got ${describe(input)}`)
  for (const field of Object.keys(input)) {
    if (!specByField.has(field)) throw invalidConfig(`unknown topic config field ${quote(field)}`)
  }
  const configs: MutableConfigs = { ...TOPIC_CONFIGS_DEFAULT }
  for (const spec of specs) {
    if (!Object.hasOwn(input, spec.field)) throw invalidConfig(`topic config ${spec.name} (${spec.field}) is missing`)
    const raw = input[spec.field]
    if (spec.kind === 'integer') {
      if (typeof raw !== 'number' || !integerInRange(spec, raw)) throw integerOutOfRange(spec, raw)
      configs[spec.field] = raw
    } else {
      setChoice(configs, spec, raw)
    }
  }
  return finish(configs)
}

/** The same configs as Kafka names them, values as strings (for describe / DescribeConfigs). */
export function topicConfigEntries(configs: TopicConfigs): Record<string, string> {
  const entries: Record<string, string> = {}
  for (const spec of specs) entries[spec.name] = String(configs[spec.field])
  return entries
}

/** What the partition log needs: maps to Partial<LogConfig> from '../../src/log/index.js' (retentionMs undefined when -1, retentionBytes undefined when -1, flush {mode:'always'} | {mode:'interval', intervalMs, intervalBytes: 1 MiB} | {mode:'never'}, batchBytesMax = maxMessageBytes, segmentBytesMax = segmentBytes, logAppendTime). */
export function logConfigFor(configs: TopicConfigs): Partial<LogConfig> {
  // retentionMs/retentionBytes are always present, undefined included: the log spreads these
  // over its defaults, and an absent key would bring back its 7-day retention.
  return {
    retentionMs: configs.retentionMs === -1 ? undefined : configs.retentionMs,
    retentionBytes: configs.retentionBytes === -1 ? undefined : configs.retentionBytes,
    flush: flushPolicyFor(configs),
    batchBytesMax: configs.maxMessageBytes,
    segmentBytesMax: configs.segmentBytes,
    logAppendTime: configs.timestampType === 'LogAppendTime',
  }
}

function flushPolicyFor(configs: TopicConfigs): FlushPolicy {
  switch (configs.flush) {
    case 'always':
      return { mode: 'always' }
    case 'interval':
      return { mode: 'interval', intervalMs: configs.flushIntervalMs, intervalBytes: FLUSH_INTERVAL_BYTES }
    case 'never':
      return { mode: 'never' }
  }
}

/** Checks between fields, once all are known, then freezes. */
function finish(configs: MutableConfigs): TopicConfigs {
  // The log refuses a batch that cannot fit in one segment, so such a topic could take no writes.
  if (configs.segmentBytes < configs.maxMessageBytes) {
    throw invalidConfig(`segment.bytes (${configs.segmentBytes}) must be at least max.message.bytes (${configs.maxMessageBytes})`)
  }
  return Object.freeze(configs)
}

// Decimal digits only: Number() would also take '1e3', ' 5', '0x10' and '' (as 0).
const decimalInteger = /^-?[0-9]+$/

function parseInteger(spec: IntegerSpec, raw: unknown): number {
  const value = typeof raw === 'number' ? raw : typeof raw === 'string' && decimalInteger.test(raw) ? Number(raw) : undefined
  if (value === undefined || !integerInRange(spec, value)) throw integerOutOfRange(spec, raw)
  return value
}

function integerInRange(spec: IntegerSpec, value: number): boolean {
  if (!Number.isSafeInteger(value)) return false
  if (value === -1 && spec.minusOne !== undefined) return true
  return value >= spec.min && value <= spec.max
}

function setChoice(configs: MutableConfigs, spec: ChoiceSpec, raw: unknown): void {
  if (typeof raw !== 'string' || !spec.choices.includes(raw)) {
    throw invalidConfig(`${spec.name} must be one of ${spec.choices.join(', ')}; got ${describe(raw)}`)
  }
  // Checked against the field's own choices just above, which the type cannot see.
  ;(configs as Record<ChoiceField, string>)[spec.field] = raw
}

function integerOutOfRange(spec: IntegerSpec, raw: unknown): SkeinError {
  const range = `an integer in ${spec.min}..${spec.max} ${spec.unit}`
  const allowed = spec.minusOne === undefined ? range : `-1 (${spec.minusOne}) or ${range}`
  return invalidConfig(`${spec.name} must be ${allowed}; got ${describe(raw)}`)
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

// Values echoed into messages are cut short: a message must not carry a megabyte of input back.
const ECHO_LENGTH_MAX = 64

function quote(text: string): string {
  const quoted = JSON.stringify(text)
  return quoted.length <= ECHO_LENGTH_MAX ? quoted : `${quoted.slice(0, ECHO_LENGTH_MAX)}…`
}

function describe(value: unknown): string {
  if (typeof value === 'string') return quote(value)
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) return String(value)
  return Array.isArray(value) ? 'an array' : `a ${typeof value}`
}

function invalidConfig(message: string): SkeinError {
  return new SkeinError(ErrorCode.INVALID_CONFIG, message)
}
