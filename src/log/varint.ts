import { ErrorCode, SkeinError } from '../wire/errors.js'

/**
 * Kafka's variable-length integers, as records inside a RecordBatch v2 use them:
 *
 *   unsigned varint  LEB128 of a uint32: 7 bits a byte, low group first, high bit = more follow
 *   varint           zigzag of an int32 ((n << 1) ^ (n >> 31)), then unsigned varint: 1..5 bytes
 *   varlong          zigzag of an int64, then LEB128: 1..10 bytes
 *
 * Varlongs carry offset and timestamp deltas, which skein keeps as JS numbers: only values in
 * the safe-integer range (|n| <= 2^53 - 1) are written or read. A zigzag varlong of such a value
 * can reach 2^54 - 1, which a double cannot hold exactly, so varlongs are never zigzagged as a
 * whole: the first byte carries the sign bit and the low 6 bits of the magnitude, the bytes
 * after it carry the rest of the magnitude (below 2^47) as a plain LEB128 number.
 *
 * Writers write into a buffer sized beforehand (the `...SizeBytes` functions say how much) and
 * return the position after what they wrote. Reading goes through `ByteReader`, which checks
 * every byte against its end and refuses over-long or out-of-range encodings with
 * CORRUPT_MESSAGE. Non-minimal encodings (0x80 0x00 for 0) are accepted, as Kafka accepts them.
 */

export const VARINT_BYTES_MAX = 5
export const VARLONG_BYTES_MAX = 10
const INT32_MIN = -0x8000_0000
const INT32_MAX = 0x7fff_ffff
const UINT32_MAX = 0xffff_ffff
const CONTINUATION_BIT = 0x80
const GROUP_MASK = 0x7f
const GROUP_SCALE = 0x80
/** The fifth byte of a 32-bit varint holds the top 4 bits; anything above overflows 32 bits. */
const VARINT_LAST_BYTE_MAX = 0x0f
/** Bits of the varlong magnitude carried by its first byte (the seventh bit is the sign). */
const VARLONG_FIRST_SCALE = 64

// ---- sizes ----

export function unsignedVarintSizeBytes(value: number): number {
  let sizeBytes = 1
  while (value >= GROUP_SCALE) {
    value = Math.floor(value / GROUP_SCALE)
    sizeBytes++
  }
  return sizeBytes
}

export function varintSizeBytes(value: number): number {
  return unsignedVarintSizeBytes(zigzag32(value))
}

export function varlongSizeBytes(value: number): number {
  const rest = Math.floor(varlongMagnitude(value) / VARLONG_FIRST_SCALE)
  return rest === 0 ? 1 : 1 + unsignedVarintSizeBytes(rest)
}

// ---- writers ----

export function writeUnsignedVarint(bytes: Uint8Array, at: number, value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > UINT32_MAX) throw unrepresentable('unsigned varint', value)
  return writeLeb128(bytes, at, value)
}

export function writeVarint(bytes: Uint8Array, at: number, value: number): number {
  return writeLeb128(bytes, at, zigzag32(value))
}

export function writeVarlong(bytes: Uint8Array, at: number, value: number): number {
  const magnitude = varlongMagnitude(value)
  const signBit = value < 0 ? 1 : 0
  const firstGroup = (magnitude % VARLONG_FIRST_SCALE) * 2 + signBit
  const rest = Math.floor(magnitude / VARLONG_FIRST_SCALE)
  if (rest === 0) {
    bytes[at] = firstGroup
    return at + 1
  }
  bytes[at] = firstGroup | CONTINUATION_BIT
  return writeLeb128(bytes, at + 1, rest)
}

/** LEB128 of a non-negative integer below 2^53; division, not shifts, so it works past 2^32. */
function writeLeb128(bytes: Uint8Array, at: number, value: number): number {
  while (value >= GROUP_SCALE) {
    bytes[at++] = (value % GROUP_SCALE) | CONTINUATION_BIT
    value = Math.floor(value / GROUP_SCALE)
  }
  bytes[at++] = value
  return at
}

function zigzag32(value: number): number {
  if (!Number.isInteger(value) || value < INT32_MIN || value > INT32_MAX) throw unrepresentable('varint', value)
  return ((value << 1) ^ (value >> 31)) >>> 0
}

/** |value| for a non-negative value, |value| - 1 for a negative one: the zigzag value over 2. */
function varlongMagnitude(value: number): number {
  if (!Number.isSafeInteger(value)) throw unrepresentable('varlong', value)
  return value >= 0 ? value : -value - 1
}

function unrepresentable(kind: string, value: number): SkeinError {
  return new SkeinError(ErrorCode.INVALID_RECORD, `${value} cannot be written as a ${kind}`)
}

// ---- reader ----

/**
 * A cursor over `bytes[position..end)`. Every read checks the bound and throws CORRUPT_MESSAGE
 * rather than reading past it (a Uint8Array read past its end gives undefined, not an error).
 */
export class ByteReader {
  constructor(
    readonly bytes: Uint8Array,
    public position: number,
    /** Exclusive; moved only by takeInto. */
    public end: number,
  ) {
    if (position < 0 || position > end || end > bytes.length) {
      throw new Error(`ByteReader bounds ${position}..${end} outside a buffer of ${bytes.length} bytes`)
    }
  }

  get remainingBytes(): number {
    return this.end - this.position
  }

  readInt8(): number {
    return (this.readByte() << 24) >> 24
  }

  readUnsignedVarint(): number {
    let value = 0
    for (let index = 0; index < VARINT_BYTES_MAX - 1; index++) {
      const byte = this.readByte()
      value |= (byte & GROUP_MASK) << (7 * index)
      if ((byte & CONTINUATION_BIT) === 0) return value >>> 0
    }
    const last = this.readByte()
    if (last > VARINT_LAST_BYTE_MAX) {
      throw corrupt(last & CONTINUATION_BIT ? `varint longer than ${VARINT_BYTES_MAX} bytes` : 'varint outside the 32-bit range')
    }
    return (value | (last << 28)) >>> 0
  }

  readVarint(): number {
    const zigzag = this.readUnsignedVarint()
    return (zigzag >>> 1) ^ -(zigzag & 1)
  }

  readVarlong(): number {
    const first = this.readByte()
    const negative = (first & 1) === 1
    const magnitudeLow = (first & GROUP_MASK) >>> 1
    let rest = 0
    if (first & CONTINUATION_BIT) rest = this.readVarlongRest()
    // rest * 64 is exact; past 2^53 the sum is no safe integer, whatever the rounding did.
    const magnitude = rest * VARLONG_FIRST_SCALE + magnitudeLow
    const value = negative ? -magnitude - 1 : magnitude
    if (!Number.isSafeInteger(magnitude) || !Number.isSafeInteger(value)) throw corrupt('varlong outside the safe integer range')
    return value
  }

  /** The `length` bytes at the cursor, as a view (no copy). */
  readBytes(lengthBytes: number): Uint8Array {
    this.require(lengthBytes)
    const view = this.bytes.subarray(this.position, this.position + lengthBytes)
    this.position += lengthBytes
    return view
  }

  /** A reader over the next `length` bytes; this reader moves past them. */
  /**
   * Moves `child` (a reader over the same bytes) onto the next `length` bytes, and this reader
   * past them: one reader re-pointed per record rather than one allocated (the record decoder
   * reads millions of records a second).
   */
  takeInto(child: ByteReader, lengthBytes: number): ByteReader {
    this.require(lengthBytes)
    if (child.bytes !== this.bytes) throw new Error('takeInto needs a reader over the same bytes')
    child.position = this.position
    child.end = this.position + lengthBytes
    this.position += lengthBytes
    return child
  }

  private readVarlongRest(): number {
    let rest = 0
    let scale = 1
    for (let index = 1; index < VARLONG_BYTES_MAX; index++) {
      const byte = this.readByte()
      rest += (byte & GROUP_MASK) * scale
      if ((byte & CONTINUATION_BIT) === 0) return rest
      scale *= GROUP_SCALE
    }
    throw corrupt(`varlong longer than ${VARLONG_BYTES_MAX} bytes`)
  }

  private readByte(): number {
    if (this.position >= this.end) throw corrupt(`read past the end (byte ${this.end})`)
    return this.bytes[this.position++] as number
  }

  private require(lengthBytes: number): void {
    if (!Number.isInteger(lengthBytes) || lengthBytes < 0 || lengthBytes > this.remainingBytes) {
      throw corrupt(`${lengthBytes} bytes requested at byte ${this.position}, ${this.remainingBytes} remain`)
    }
  }
}

function corrupt(message: string): SkeinError {
  return new SkeinError(ErrorCode.CORRUPT_MESSAGE, message)
}
