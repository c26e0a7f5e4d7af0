/**
 * Builds expected Kafka bytes by hand, primitive by primitive, for golden tests: independent
 * of the codec's schemas, so a test states the layout from the spec and the codec must agree.
 */
export const i8 = (value: number): Buffer => Buffer.from([value & 0xff])
export const bool = (value: boolean): Buffer => i8(value ? 1 : 0)

export function i16(value: number): Buffer {
  const bytes = Buffer.alloc(2)
  bytes.writeInt16BE(value)
  return bytes
}

export function i32(value: number): Buffer {
  const bytes = Buffer.alloc(4)
  bytes.writeInt32BE(value)
  return bytes
}

export function i64(value: number | bigint): Buffer {
  const bytes = Buffer.alloc(8)
  bytes.writeBigInt64BE(BigInt(value))
  return bytes
}

/** int16 length + UTF-8, or -1 for null. */
export function str(value: string | null): Buffer {
  if (value === null) return i16(-1)
  const text = Buffer.from(value, 'utf8')
  return Buffer.concat([i16(text.length), text])
}

/** int32 length + bytes, or -1 for null. */
export function bytes(value: Uint8Array | null): Buffer {
  if (value === null) return i32(-1)
  return Buffer.concat([i32(value.length), value])
}

/** An array: int32 count, then the elements' bytes (null = count -1). */
export function arr(items: readonly Buffer[] | null): Buffer {
  if (items === null) return i32(-1)
  return Buffer.concat([i32(items.length), ...items])
}

export const cat = (...parts: Buffer[]): Buffer => Buffer.concat(parts)

/** Request header v1. */
export const requestHeader = (apiKey: number, apiVersion: number, correlationId: number, clientId: string | null): Buffer =>
  cat(i16(apiKey), i16(apiVersion), i32(correlationId), str(clientId))

/** Prefixes the 4-byte size Kafka frames every message with. */
export const sized = (message: Buffer): Buffer => cat(i32(message.length), message)

/** Bytes that look like a record batch; the codec carries them without looking inside. */
export function fakeBatch(lengthBytes: number, seed = 1): Buffer {
  const batch = Buffer.alloc(lengthBytes)
  for (let index = 0; index < lengthBytes; index++) batch[index] = (index * 31 + seed) & 0xff
  return batch
}
