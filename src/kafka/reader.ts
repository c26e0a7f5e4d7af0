import { type ErrorSpec, SkeinError } from '../wire/errors.js'

/**
 * A bounded cursor over one Kafka message: the fixed-width big-endian primitives of the
 * non-flexible protocol. Every read checks the bytes left first and throws a SkeinError with
 * the reader's error spec (INVALID_REQUEST for requests, CORRUPT_MESSAGE for responses) rather
 * than reading past the end; nothing else is ever thrown for bad bytes.
 *
 * Lengths and counts are checked against the bytes remaining before anything is allocated,
 * so a forged count costs nothing: an array of n elements whose smallest encoding is m bytes
 * needs n * m bytes to follow. Byte fields come back as views of the input, not copies; they
 * stay valid only as long as the caller leaves the input buffer alone.
 */
export class KafkaReader {
  private position = 0
  private readonly view: DataView
  private readonly text: Buffer

  constructor(
    private readonly bytes: Uint8Array,
    private readonly errorSpec: ErrorSpec,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    this.text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  }

  get remainingBytes(): number {
    return this.bytes.length - this.position
  }

  get positionBytes(): number {
    return this.position
  }

  readInt8(): number {
    const at = this.take(1)
    return this.view.getInt8(at)
  }

  readInt16(): number {
    const at = this.take(2)
    return this.view.getInt16(at)
  }

  readInt32(): number {
    const at = this.take(4)
    return this.view.getInt32(at)
  }

  readInt64(): bigint {
    const at = this.take(8)
    return this.view.getBigInt64(at)
  }

  readBool(): boolean {
    return this.readInt8() !== 0
  }

  readString(): string {
    const value = this.readNullableString()
    if (value === null) throw this.fail('null string where the field is not nullable')
    return value
  }

  /** int16 byte length, -1 for null, then UTF-8 (ill-formed sequences read as U+FFFD, as in Java). */
  readNullableString(): string | null {
    const lengthBytes = this.readLength(this.readInt16(), 'string')
    if (lengthBytes === null) return null
    const at = this.take(lengthBytes)
    return this.text.toString('utf8', at, at + lengthBytes)
  }

  readBytes(): Uint8Array {
    const value = this.readNullableBytes()
    if (value === null) throw this.fail('null bytes where the field is not nullable')
    return value
  }

  /** int32 length, -1 for null, then the bytes, as a view of the input. */
  readNullableBytes(): Uint8Array | null {
    const lengthBytes = this.readLength(this.readInt32(), 'bytes')
    if (lengthBytes === null) return null
    const at = this.take(lengthBytes)
    return this.bytes.subarray(at, at + lengthBytes)
  }

  /**
   * An array's int32 count: null for -1 where `nullable`, else a count the remaining bytes can
   * hold at `elementBytesMin` bytes an element (at least 1, so zero-width elements stay bounded).
   */
  readArrayCount(nullable: boolean, elementBytesMin: number): number | null {
    const count = this.readInt32()
    if (count === -1 && nullable) return null
    if (count < 0) throw this.fail(`array count ${count} is negative`)
    const bytesNeeded = count * Math.max(1, elementBytesMin)
    if (bytesNeeded > this.remainingBytes) {
      throw this.fail(`array count ${count} needs at least ${bytesNeeded} bytes at byte ${this.position}, ${this.remainingBytes} remain`)
    }
    return count
  }

  /** Throws unless every byte was read: trailing bytes mean the two sides disagree on the layout. */
  expectEnd(): void {
    if (this.remainingBytes !== 0) throw this.fail(`${this.remainingBytes} trailing bytes after the message`)
  }

  fail(message: string): SkeinError {
    return new SkeinError(this.errorSpec, message)
  }

  private readLength(length: number, what: string): number | null {
    if (length === -1) return null
    if (length < 0) throw this.fail(`${what} length ${length} is negative`)
    return length
  }

  /** Claims `lengthBytes` bytes and returns where they start. */
  private take(lengthBytes: number): number {
    if (lengthBytes > this.remainingBytes) {
      throw this.fail(`${lengthBytes} bytes needed at byte ${this.position}, ${this.remainingBytes} remain`)
    }
    const at = this.position
    this.position += lengthBytes
    return at
  }
}
