import { type ErrorSpec, SkeinError } from '../wire/errors.js'

/**
 * Where the codec engine puts a message's primitives. Encoding walks a message twice with the
 * same code: once into a SizeCounter, to learn its exact size, then into a KafkaWriter over a
 * buffer of that size, so a message (and the record batches in it) is copied once and the
 * buffer never grows. Values reach a sink already checked by the engine.
 */
export interface ByteSink {
  int8(value: number): void
  int16(value: number): void
  int32(value: number): void
  int64(value: bigint): void
  /** int16 byte length (-1 for null), then UTF-8. */
  string(value: string | null): void
  /** int32 length (-1 for null), then the bytes. */
  bytes(value: Uint8Array | null): void
}

/** The longest string an int16 length can describe, in UTF-8 bytes. */
export const STRING_BYTES_MAX = 0x7fff

export class SizeCounter implements ByteSink {
  sizeBytes = 0

  constructor(private readonly errorSpec: ErrorSpec) {}

  int8(): void {
    this.sizeBytes += 1
  }

  int16(): void {
    this.sizeBytes += 2
  }

  int32(): void {
    this.sizeBytes += 4
  }

  int64(): void {
    this.sizeBytes += 8
  }

  string(value: string | null): void {
    const lengthBytes = value === null ? 0 : Buffer.byteLength(value, 'utf8')
    if (lengthBytes > STRING_BYTES_MAX) {
      throw new SkeinError(this.errorSpec, `a string of ${lengthBytes} UTF-8 bytes is longer than the ${STRING_BYTES_MAX} an int16 length allows`)
    }
    this.sizeBytes += 2 + lengthBytes
  }

  bytes(value: Uint8Array | null): void {
    this.sizeBytes += 4 + (value === null ? 0 : value.length)
  }
}

/** Writes into a buffer sized by a SizeCounter over the same message; it does not grow. */
export class KafkaWriter implements ByteSink {
  private position: number
  private readonly view: DataView
  private readonly text: Buffer

  constructor(
    private readonly target: Uint8Array,
    startBytes = 0,
  ) {
    this.position = startBytes
    this.view = new DataView(target.buffer, target.byteOffset, target.byteLength)
    this.text = Buffer.from(target.buffer, target.byteOffset, target.byteLength)
  }

  get positionBytes(): number {
    return this.position
  }

  int8(value: number): void {
    this.view.setInt8(this.position, value)
    this.position += 1
  }

  int16(value: number): void {
    this.view.setInt16(this.position, value)
    this.position += 2
  }

  int32(value: number): void {
    this.view.setInt32(this.position, value)
    this.position += 4
  }

  int64(value: bigint): void {
    this.view.setBigInt64(this.position, value)
    this.position += 8
  }

  string(value: string | null): void {
    if (value === null) {
      this.int16(-1)
      return
    }
    const lengthBytes = this.text.write(value, this.position + 2, 'utf8')
    this.int16(lengthBytes)
    this.position += lengthBytes
  }

  bytes(value: Uint8Array | null): void {
    if (value === null) {
      this.int32(-1)
      return
    }
    this.int32(value.length)
    this.target.set(value, this.position)
    this.position += value.length
  }
}
