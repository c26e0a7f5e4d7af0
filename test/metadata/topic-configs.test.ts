import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  FLUSH_INTERVAL_BYTES,
  MESSAGE_BYTES_MAX,
  SEGMENT_BYTES_MAX,
  TOPIC_CONFIG_NAMES,
  TOPIC_CONFIGS_DEFAULT,
  type TopicConfigs,
  logConfigFor,
  parseTopicConfigs,
  topicConfigEntries,
  validateTopicConfigs,
} from '../../actors/metadata/topic-configs.js'
import { resolveLogConfig } from '../../src/log/index.js'
import { ErrorCode } from '../../src/wire/errors.js'

const INVALID_CONFIG = ErrorCode.INVALID_CONFIG.code
const MIB = 1024 * 1024
const GIB = 1024 * MIB
const SAFE_MAX = Number.MAX_SAFE_INTEGER

const skeinError = (code: number, message: RegExp = /.*/): unknown =>
  expect.objectContaining({ name: 'SkeinError', code, message: expect.stringMatching(message) })

/** Configs in typed form over the whole valid range, segment.bytes kept >= max.message.bytes. */
const validConfigs: fc.Arbitrary<TopicConfigs> = fc
  .record({
    retentionMs: fc.oneof(fc.constant(-1), fc.integer({ min: 1, max: SAFE_MAX })),
    retentionBytes: fc.oneof(fc.constant(-1), fc.integer({ min: 1, max: SAFE_MAX })),
    flush: fc.constantFrom('always' as const, 'interval' as const, 'never' as const),
    flushIntervalMs: fc.integer({ min: 1, max: SAFE_MAX }),
    maxMessageBytes: fc.integer({ min: 1, max: MESSAGE_BYTES_MAX }),
    segmentBytes: fc.integer({ min: 14, max: SEGMENT_BYTES_MAX }),
    timestampType: fc.constantFrom('CreateTime' as const, 'LogAppendTime' as const),
  })
  .map((configs) => ({ ...configs, segmentBytes: Math.max(configs.segmentBytes, configs.maxMessageBytes) }))

describe('topic config defaults', () => {
  it('TOPIC_CONFIGS_DEFAULT_isKafkasDefaultsWithFlushAlways', () => {
    expect(TOPIC_CONFIGS_DEFAULT).toEqual({
      retentionMs: 604_800_000,
      retentionBytes: -1,
      flush: 'always',
      flushIntervalMs: 1000,
      maxMessageBytes: 1_048_588,
      segmentBytes: GIB,
      timestampType: 'CreateTime',
    })
    expect(Object.isFrozen(TOPIC_CONFIGS_DEFAULT)).toBe(true)
  })

  it('TOPIC_CONFIG_NAMES_listsKafkaNamesInOrder', () => {
    expect(TOPIC_CONFIG_NAMES).toEqual(['retention.ms', 'retention.bytes', 'flush', 'flush.ms', 'max.message.bytes', 'segment.bytes', 'message.timestamp.type'])
  })
})

describe('parseTopicConfigs', () => {
  it.each([undefined, null, {}])('parseTopicConfigs_nothingGiven_returnsDefaults: %j', (input) => {
    expect(parseTopicConfigs(input)).toEqual(TOPIC_CONFIGS_DEFAULT)
  })

  it('parseTopicConfigs_everyName_setsItsFieldOverDefaults', () => {
    const configs = parseTopicConfigs({
      'retention.ms': '60000',
      'retention.bytes': 1_000_000,
      flush: 'interval',
      'flush.ms': '250',
      'max.message.bytes': 2048,
      'segment.bytes': '4096',
      'message.timestamp.type': 'LogAppendTime',
    })
    expect(configs).toEqual({
      retentionMs: 60_000,
      retentionBytes: 1_000_000,
      flush: 'interval',
      flushIntervalMs: 250,
      maxMessageBytes: 2048,
      segmentBytes: 4096,
      timestampType: 'LogAppendTime',
    })
    expect(Object.isFrozen(configs)).toBe(true)
  })

  it.each(['cleanup.policy', 'retentionMs', 'RETENTION.MS', 'constructor', 'toString', ''])('parseTopicConfigs_unknownName_refusesNamingIt: %s', (name) => {
    expect(() => parseTopicConfigs({ [name]: '1' })).toThrow(skeinError(INVALID_CONFIG, /unknown topic config/))
  })

  it('parseTopicConfigs_protoKey_isUnknownNotPrototype', () => {
    expect(() => parseTopicConfigs(JSON.parse('{"__proto__": {"retention.ms": 5}}'))).toThrow(skeinError(INVALID_CONFIG, /unknown topic config "__proto__"/))
  })

  it.each([42, 'retention.ms=5', true, [['retention.ms', '5']]])('parseTopicConfigs_notAnObject_refuses: %j', (input) => {
    expect(() => parseTopicConfigs(input)).toThrow(skeinError(INVALID_CONFIG, /must be an object/))
  })

  // [name, field, accepted values, refused values, message naming the range]
  const integerTable: [string, keyof TopicConfigs, number[], number[], RegExp][] = [
    ['retention.ms', 'retentionMs', [-1, 1, SAFE_MAX], [-2, 0, SAFE_MAX + 1], /retention\.ms must be -1 \(keep forever\) or an integer in 1\.\.9007199254740991 ms/],
    ['retention.bytes', 'retentionBytes', [-1, 1, SAFE_MAX], [-2, 0, SAFE_MAX + 1], /retention\.bytes must be -1 \(no size limit\) or an integer in 1\.\.9007199254740991 bytes/],
    ['flush.ms', 'flushIntervalMs', [1, SAFE_MAX], [-1, 0, SAFE_MAX + 1], /flush\.ms must be an integer in 1\.\.9007199254740991 ms/],
    ['max.message.bytes', 'maxMessageBytes', [1, 7 * MIB], [-1, 0, 7 * MIB + 1], /max\.message\.bytes must be an integer in 1\.\.7340032 bytes/],
    ['segment.bytes', 'segmentBytes', [14, 4 * GIB - 1], [-1, 0, 13, 4 * GIB], /segment\.bytes must be an integer in 14\.\.4294967295 bytes/],
  ]

  // segment.bytes must stay >= max.message.bytes, so edges of either are tried with the other out of the way.
  const withRoom = (name: string, value: number | string): Record<string, number | string> =>
    name === 'segment.bytes' ? { 'max.message.bytes': 1, [name]: value } : { [name]: value }

  it.each(integerTable)('parseTopicConfigs_%s_acceptsEdgesAsNumbersAndStrings', (name, field, accepted) => {
    for (const value of accepted) {
      expect(parseTopicConfigs(withRoom(name, value))[field]).toBe(value)
      expect(parseTopicConfigs(withRoom(name, String(value)))[field]).toBe(value)
    }
  })

  it.each(integerTable)('parseTopicConfigs_%s_refusesJustOutsideEdgesNamingTheRange', (name, _, __, refused, message) => {
    for (const value of refused) {
      expect(() => parseTopicConfigs(withRoom(name, value))).toThrow(skeinError(INVALID_CONFIG, message))
      expect(() => parseTopicConfigs(withRoom(name, String(value)))).toThrow(skeinError(INVALID_CONFIG, message))
    }
  })

  it.each(['1e3', ' 5', '5 ', '', '1.5', '1.0', '+5', '0x10', '5n', '--1', '-', '١٢', 'Infinity', 'NaN', '9'.repeat(400)])(
    'parseTopicConfigs_integerStringNotDecimal_refuses: %j',
    (value) => {
      expect(() => parseTopicConfigs({ 'flush.ms': value })).toThrow(skeinError(INVALID_CONFIG, /flush\.ms must be/))
    },
  )

  it.each([1.5, Number.NaN, Number.POSITIVE_INFINITY, -0, true, null, [5], { value: 5 }])('parseTopicConfigs_integerValueNotAnInteger_refuses: %j', (value) => {
    expect(() => parseTopicConfigs({ 'retention.ms': value })).toThrow(skeinError(INVALID_CONFIG, /retention\.ms must be/))
  })

  it('parseTopicConfigs_leadingZeros_readAsDecimal', () => {
    expect(parseTopicConfigs({ 'flush.ms': '0010' }).flushIntervalMs).toBe(10)
  })

  it('parseTopicConfigs_longValue_isCutShortInMessage', () => {
    const error = (() => {
      try {
        parseTopicConfigs({ flush: 'x'.repeat(10_000) })
      } catch (err) {
        return err as Error
      }
      throw new Error('expected a refusal')
    })()
    expect(error.message.length).toBeLessThan(200)
  })

  it.each([
    ['flush', ['always', 'interval', 'never'], ['Always', 'sometimes', '', 1], /flush must be one of always, interval, never/],
    ['message.timestamp.type', ['CreateTime', 'LogAppendTime'], ['createtime', 'LOG_APPEND_TIME', '', 0], /message\.timestamp\.type must be one of CreateTime, LogAppendTime/],
  ])('parseTopicConfigs_%s_acceptsExactlyItsChoices', (name, accepted, refused, message) => {
    for (const value of accepted) expect(topicConfigEntries(parseTopicConfigs({ [name]: value }))[name]).toBe(value)
    for (const value of refused) expect(() => parseTopicConfigs({ [name]: value })).toThrow(skeinError(INVALID_CONFIG, message))
  })

  it('parseTopicConfigs_segmentBelowMaxMessage_refusesNamingBoth', () => {
    expect(() => parseTopicConfigs({ 'segment.bytes': 1000, 'max.message.bytes': 1001 })).toThrow(
      skeinError(INVALID_CONFIG, /segment\.bytes \(1000\) must be at least max\.message\.bytes \(1001\)/),
    )
    // Against the default max.message.bytes too: the check is on the merged result.
    expect(() => parseTopicConfigs({ 'segment.bytes': 14 })).toThrow(skeinError(INVALID_CONFIG, /segment\.bytes/))
    expect(parseTopicConfigs({ 'segment.bytes': 1001, 'max.message.bytes': 1001 }).segmentBytes).toBe(1001)
  })

  it('parseTopicConfigs_entriesOfValidConfigs_roundTrips (property)', () => {
    fc.assert(
      fc.property(validConfigs, (configs) => {
        expect(parseTopicConfigs(topicConfigEntries(configs))).toEqual(configs)
      }),
    )
  })
})

describe('topicConfigEntries', () => {
  it('topicConfigEntries_defaults_givesKafkaNamesAndStrings', () => {
    expect(topicConfigEntries(TOPIC_CONFIGS_DEFAULT)).toEqual({
      'retention.ms': '604800000',
      'retention.bytes': '-1',
      flush: 'always',
      'flush.ms': '1000',
      'max.message.bytes': '1048588',
      'segment.bytes': '1073741824',
      'message.timestamp.type': 'CreateTime',
    })
    expect(Object.keys(topicConfigEntries(TOPIC_CONFIGS_DEFAULT))).toEqual(TOPIC_CONFIG_NAMES)
  })
})

describe('validateTopicConfigs', () => {
  it('validateTopicConfigs_valid_returnsFrozenCopy', () => {
    const input = { ...TOPIC_CONFIGS_DEFAULT }
    const configs = validateTopicConfigs(input)
    expect(configs).toEqual(input)
    expect(configs).not.toBe(input)
    expect(Object.isFrozen(configs)).toBe(true)
  })

  it('validateTopicConfigs_anyValid_accepts (property)', () => {
    fc.assert(
      fc.property(validConfigs, (configs) => {
        expect(validateTopicConfigs(configs)).toEqual(configs)
      }),
    )
  })

  it.each([
    ['missing field', { ...TOPIC_CONFIGS_DEFAULT, retentionMs: undefined }, /retention\.ms \(retentionMs\) is missing/],
    ['extra field', { ...TOPIC_CONFIGS_DEFAULT, cleanupPolicy: 'compact' }, /unknown topic config field "cleanupPolicy"/],
    ['Kafka name instead of field', { ...TOPIC_CONFIGS_DEFAULT, 'retention.ms': 5 }, /unknown topic config field/],
    ['number as string', { ...TOPIC_CONFIGS_DEFAULT, flushIntervalMs: '1000' }, /flush\.ms must be/],
    ['out of range', { ...TOPIC_CONFIGS_DEFAULT, maxMessageBytes: 0 }, /max\.message\.bytes must be/],
    ['bad choice', { ...TOPIC_CONFIGS_DEFAULT, timestampType: 'Now' }, /message\.timestamp\.type must be one of/],
    ['segment below max message', { ...TOPIC_CONFIGS_DEFAULT, segmentBytes: 100, maxMessageBytes: 101 }, /segment\.bytes \(100\) must be at least/],
    ['not an object', [1, 2], /must be an object/],
  ])('validateTopicConfigs_%s_refuses', (_, input, message) => {
    const withoutUndefined = Array.isArray(input) ? input : Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined))
    expect(() => validateTopicConfigs(withoutUndefined)).toThrow(skeinError(INVALID_CONFIG, message))
  })
})

describe('logConfigFor', () => {
  it('logConfigFor_defaults_mapsToLogFields', () => {
    expect(logConfigFor(TOPIC_CONFIGS_DEFAULT)).toEqual({
      retentionMs: 604_800_000,
      retentionBytes: undefined,
      flush: { mode: 'always' },
      batchBytesMax: 1_048_588,
      segmentBytesMax: GIB,
      logAppendTime: false,
    })
  })

  it('logConfigFor_minusOne_keepsKeyAsUndefinedSoLogDefaultDoesNotReturn', () => {
    const log = logConfigFor({ ...TOPIC_CONFIGS_DEFAULT, retentionMs: -1, retentionBytes: -1 })
    expect(Object.hasOwn(log, 'retentionMs')).toBe(true)
    expect(Object.hasOwn(log, 'retentionBytes')).toBe(true)
    const resolved = resolveLogConfig(log)
    expect(resolved.retentionMs).toBeUndefined()
    expect(resolved.retentionBytes).toBeUndefined()
  })

  it.each([
    ['always', { mode: 'always' }],
    ['interval', { mode: 'interval', intervalMs: 250, intervalBytes: FLUSH_INTERVAL_BYTES }],
    ['never', { mode: 'never' }],
  ] as const)('logConfigFor_flush_%s_mapsToPolicy', (flush, policy) => {
    expect(logConfigFor({ ...TOPIC_CONFIGS_DEFAULT, flush, flushIntervalMs: 250 }).flush).toEqual(policy)
    expect(FLUSH_INTERVAL_BYTES).toBe(MIB)
  })

  it('logConfigFor_logAppendTime_setsFlag', () => {
    expect(logConfigFor({ ...TOPIC_CONFIGS_DEFAULT, timestampType: 'LogAppendTime' }).logAppendTime).toBe(true)
  })

  it('logConfigFor_anyValidConfigs_isAcceptedByTheLog (property)', () => {
    fc.assert(
      fc.property(validConfigs, (configs) => {
        const resolved = resolveLogConfig(logConfigFor(configs))
        expect(resolved.batchBytesMax).toBe(configs.maxMessageBytes)
        expect(resolved.segmentBytesMax).toBe(configs.segmentBytes)
        expect(resolved.retentionMs).toBe(configs.retentionMs === -1 ? undefined : configs.retentionMs)
      }),
    )
  })
})
