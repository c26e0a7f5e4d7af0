import { describe, expect, it } from 'vitest'
import { elementBytesMin } from '../../src/kafka/codec.js'
import { KafkaReader } from '../../src/kafka/reader.js'
import { arrayOf, field, struct } from '../../src/kafka/schema.js'
import { inVersions, parseVersions } from '../../src/kafka/versions.js'
import { KafkaWriter, SizeCounter } from '../../src/kafka/writer.js'
import { ErrorCode, SkeinError } from '../../src/wire/errors.js'
import { bytes, cat, i16, i32, i64, i8, str } from './wire-builder.js'

const reader = (...parts: Buffer[]): KafkaReader => new KafkaReader(cat(...parts), ErrorCode.INVALID_REQUEST)

describe('version ranges', () => {
  it('parse the forms Kafka JSON uses', () => {
    expect(parseVersions('3+')).toEqual({ min: 3, max: Infinity })
    expect(parseVersions('2-4')).toEqual({ min: 2, max: 4 })
    expect(parseVersions('1')).toEqual({ min: 1, max: 1 })
    expect(inVersions(parseVersions('none'), 0)).toBe(false)
    expect(inVersions(parseVersions('2-4'), 4)).toBe(true)
    expect(inVersions(parseVersions('2-4'), 5)).toBe(false)
  })

  it('refuse anything else', () => {
    for (const text of ['', '+', '3-', '4-2', 'a', '1,2', '-1', '99999']) expect(() => parseVersions(text), text).toThrow()
  })
})

describe('KafkaReader', () => {
  it('reads big-endian fixed-width integers', () => {
    const r = reader(i8(-2), i16(-300), i32(-70_000), i64(-(2n ** 62n)))
    expect([r.readInt8(), r.readInt16(), r.readInt32(), r.readInt64()]).toEqual([-2, -300, -70_000, -(2n ** 62n)])
    expect(r.remainingBytes).toBe(0)
  })

  it('reads any non-zero byte as true, as Java does', () => {
    const r = reader(Buffer.from([0, 1, 0xff]))
    expect([r.readBool(), r.readBool(), r.readBool()]).toEqual([false, true, true])
  })

  it('reads strings by UTF-8 byte length, -1 as null', () => {
    const r = reader(str('héllo'), str(null), str(''))
    expect([r.readNullableString(), r.readNullableString(), r.readString()]).toEqual(['héllo', null, ''])
  })

  it('reads ill-formed UTF-8 as U+FFFD rather than failing', () => {
    expect(reader(i16(2), Buffer.from([0xc3, 0x28])).readString()).toBe('\ufffd(')
  })

  it('reads bytes as views, -1 as null', () => {
    const r = reader(bytes(Buffer.from([1, 2, 3])), bytes(null))
    expect(Array.from(r.readBytes())).toEqual([1, 2, 3])
    expect(r.readNullableBytes()).toBeNull()
  })

  it('throws a SkeinError with its error spec, never reading past the end', () => {
    const r = new KafkaReader(Buffer.from([0, 0, 0]), ErrorCode.CORRUPT_MESSAGE)
    expect(() => r.readInt32()).toThrow(SkeinError)
    expect(() => r.readInt32()).toThrow(expect.objectContaining({ code: ErrorCode.CORRUPT_MESSAGE.code }))
    expect(() => reader(str(null)).readString()).toThrow(/null string/)
    expect(() => reader(bytes(null)).readBytes()).toThrow(/null bytes/)
    expect(() => reader(i16(-2)).readNullableString()).toThrow(/negative/)
  })

  it('bounds array counts by the bytes left times the smallest element', () => {
    expect(reader(i32(2), i32(0), i32(0)).readArrayCount(false, 4)).toBe(2)
    expect(() => reader(i32(3), i32(0), i32(0)).readArrayCount(false, 4)).toThrow(/array count 3/)
    expect(reader(i32(-1)).readArrayCount(true, 4)).toBeNull()
    expect(() => reader(i32(-1)).readArrayCount(false, 4)).toThrow(/negative/)
    // Zero-width elements still cost a byte each for the bound.
    expect(() => reader(i32(5), Buffer.alloc(4)).readArrayCount(false, 0)).toThrow(/array count 5/)
  })
})

describe('SizeCounter and KafkaWriter', () => {
  it('agree on size, and write what the reader reads', () => {
    const write = (sink: SizeCounter | KafkaWriter): void => {
      sink.int8(-1)
      sink.int16(-2)
      sink.int32(-3)
      sink.int64(-4n)
      sink.string('€uro')
      sink.string(null)
      sink.bytes(Buffer.from([9, 9]))
      sink.bytes(null)
    }
    const counter = new SizeCounter(ErrorCode.UNKNOWN_SERVER_ERROR)
    write(counter)
    const out = Buffer.alloc(counter.sizeBytes)
    const writer = new KafkaWriter(out)
    write(writer)
    expect(writer.positionBytes).toBe(out.length)
    expect(out.equals(cat(i8(-1), i16(-2), i32(-3), i64(-4), str('€uro'), str(null), bytes(Buffer.from([9, 9])), bytes(null)))).toBe(true)
  })
})

describe('schema', () => {
  it('refuses two fields of one name, and null defaults on non-nullable fields', () => {
    expect(() => struct([field('a', 'int8'), field('a', 'int16')])).toThrow(/two fields/)
    expect(() => field('a', 'string', '0+', { default: null })).toThrow(/null default/)
  })

  it('gives absent fields Kafka-like defaults', () => {
    expect(field('a', 'int64', '3+', { default: -1 }).defaultValue).toBe(-1n)
    expect(field('a', 'string', '3+', { nullableVersions: '3+' }).defaultValue).toBeNull()
    expect(field('a', 'string', '3+').defaultValue).toBe('')
    expect(field('a', arrayOf('int32'), '3+').defaultValue).toEqual([])
    expect(field('a', 'bool', '3+', { default: true }).defaultValue).toBe(true)
  })

  it('knows the smallest encoding of a struct at each version', () => {
    const kind = struct([field('a', 'int32'), field('b', 'string', '2+'), field('c', arrayOf('int64'), '0-1')])
    expect(elementBytesMin(kind, 0)).toBe(4 + 4)
    expect(elementBytesMin(kind, 2)).toBe(4 + 2)
  })
})
