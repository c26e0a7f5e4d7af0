import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { TOPIC_NAME_LENGTH_MAX, validateTopicName } from '../../actors/metadata/topic-name.js'
import { ErrorCode } from '../../src/wire/errors.js'

const INVALID_TOPIC = ErrorCode.INVALID_TOPIC_EXCEPTION.code

/** Matches a thrown SkeinError with this code and a message matching `message`. */
const skeinError = (code: number, message: RegExp = /.*/): unknown =>
  expect.objectContaining({ name: 'SkeinError', code, message: expect.stringMatching(message) })

const legalCharacters = [...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-']

describe('validateTopicName', () => {
  it.each(['a', 'orders', 'Orders.v2', 'my_topic-1', '0', '-', '_a', 'a__b', '...', '.a', 'a.'])('validateTopicName_legal_returnsIt: %s', (name) => {
    expect(validateTopicName(name)).toBe(name)
  })

  it('validateTopicName_exactlyLengthMax_accepts', () => {
    expect(TOPIC_NAME_LENGTH_MAX).toBe(249)
    const name = 'x'.repeat(249)
    expect(validateTopicName(name)).toBe(name)
  })

  it('validateTopicName_oneOverLengthMax_refusesNamingTheLength', () => {
    expect(() => validateTopicName('x'.repeat(250))).toThrow(skeinError(INVALID_TOPIC, /250 characters long; the limit is 249/))
  })

  it('validateTopicName_empty_refuses', () => {
    expect(() => validateTopicName('')).toThrow(skeinError(INVALID_TOPIC, /empty/))
  })

  it.each([undefined, null, 42, true, ['a'], { name: 'a' }])('validateTopicName_notAString_refuses: %j', (name) => {
    expect(() => validateTopicName(name)).toThrow(skeinError(INVALID_TOPIC, /must be a string/))
  })

  it.each(['.', '..'])('validateTopicName_dotOrDotDot_refuses: %s', (name) => {
    expect(() => validateTopicName(name)).toThrow(skeinError(INVALID_TOPIC, /cannot be/))
    expect(() => validateTopicName(name, { internal: true })).toThrow(skeinError(INVALID_TOPIC))
  })

  it.each([
    ['space', ' '],
    ['tab', '\t'],
    ['newline', '\n'],
    ['NUL', '\0'],
    ['slash', '/'],
    ['backslash', '\\'],
    ['colon', ':'],
    ['asterisk', '*'],
    ['question mark', '?'],
    ['double quote', '"'],
    ['single quote', "'"],
    ['angle bracket', '<'],
    ['pipe', '|'],
    ['at', '@'],
    ['hash', '#'],
    ['plus', '+'],
    ['equals', '='],
    ['comma', ','],
    ['percent', '%'],
    ['dollar', '$'],
    ['tilde', '~'],
    ['accented letter', 'é'],
    ['non-Latin letter', 'я'],
    ['full-width digit', '１'],
    ['emoji (surrogate pair)', '😀'],
    ['DEL', '\x7f'],
  ])('validateTopicName_%s_refusesNamingCharacterAndIndex', (_, character) => {
    const name = `ab${character}cd`
    expect(() => validateTopicName(name)).toThrow(skeinError(INVALID_TOPIC, /at index 2; only \[a-zA-Z0-9\._-\] are allowed/))
    expect(() => validateTopicName(name, { internal: true })).toThrow(skeinError(INVALID_TOPIC))
  })

  it('validateTopicName_reservedPrefix_refusesUnlessInternal', () => {
    expect(() => validateTopicName('__cluster_metadata')).toThrow(skeinError(INVALID_TOPIC, /reserved for internal topics/))
    expect(() => validateTopicName('__')).toThrow(skeinError(INVALID_TOPIC, /reserved/))
    expect(() => validateTopicName('__consumer_offsets', { internal: false })).toThrow(skeinError(INVALID_TOPIC, /reserved/))
    expect(validateTopicName('__cluster_metadata', { internal: true })).toBe('__cluster_metadata')
  })

  it('validateTopicName_legalAlphabet_acceptsExactlyTheAllowedNames (property)', () => {
    const legalName = fc.string({ unit: fc.constantFrom(...legalCharacters), minLength: 1, maxLength: TOPIC_NAME_LENGTH_MAX })
    fc.assert(
      fc.property(legalName, (name) => {
        const refused = name === '.' || name === '..' || name.startsWith('__')
        if (refused) expect(() => validateTopicName(name)).toThrow(skeinError(INVALID_TOPIC))
        else expect(validateTopicName(name)).toBe(name)
      }),
    )
  })

  it('validateTopicName_anyIllegalCharacter_refuses (property)', () => {
    const illegal = fc.string({ minLength: 1, maxLength: 1, unit: 'grapheme' }).filter((c) => !/^[a-zA-Z0-9._-]+$/.test(c))
    const part = fc.string({ unit: fc.constantFrom(...legalCharacters), maxLength: 20 })
    fc.assert(
      fc.property(part, illegal, part, (before, character, after) => {
        expect(() => validateTopicName(before + character + after, { internal: true })).toThrow(skeinError(INVALID_TOPIC))
      }),
    )
  })
})
