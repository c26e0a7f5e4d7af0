import type { Disk } from '../env/disk.js'
import { ErrorCode, SkeinError } from '../wire/errors.js'
import { crc32c } from './crc32c.js'

const TEMP_SUFFIX = '.tmp'
/** Small state files (votes, partition descriptions, metadata snapshots) stay far below this. */
export const DURABLE_JSON_BYTES_MAX = 64 * 1024 * 1024

/**
 * A small JSON document kept on disk and replaced atomically: written to a temporary file,
 * fsynced, renamed over the old one, directory fsynced. The text is one line of JSON, then a
 * line with its CRC-32C in hex, so a damaged file is refused (KAFKA_STORAGE_ERROR) rather
 * than read as something else.
 */
export async function saveDurableJson(disk: Disk, dir: string, name: string, value: unknown): Promise<void> {
  const json = JSON.stringify(value)
  const body = new TextEncoder().encode(json)
  const text = `${json}\n${crc32c(body).toString(16).padStart(8, '0')}\n`
  const path = `${dir}/${name}`
  const temp = `${path}${TEMP_SUFFIX}`
  await disk.mkdirs(dir)
  await disk.delete(temp)
  const file = await disk.open(temp, { create: true })
  try {
    await file.append(new TextEncoder().encode(text))
    await file.sync()
  } finally {
    await file.close()
  }
  await disk.rename(temp, path)
  await disk.syncDir(dir)
}

/** The parsed document at `path`, or undefined if there is none; a damaged one throws KAFKA_STORAGE_ERROR. */
export async function loadDurableJson(disk: Disk, path: string): Promise<unknown> {
  if (!(await disk.exists(path))) return undefined
  const file = await disk.open(path, { create: false })
  let bytes: Uint8Array
  try {
    if (file.size() > DURABLE_JSON_BYTES_MAX) throw damaged(path, `${file.size()} bytes`)
    bytes = await file.read(0, file.size())
  } finally {
    await file.close()
  }
  const text = new TextDecoder().decode(bytes)
  const [json, crcHex, rest] = text.split('\n')
  if (json === undefined || crcHex === undefined || rest !== '') throw damaged(path, 'not two lines')
  if (crc32c(new TextEncoder().encode(json)).toString(16).padStart(8, '0') !== crcHex) throw damaged(path, 'CRC mismatch')
  try {
    return JSON.parse(json) as unknown
  } catch {
    throw damaged(path, 'not JSON')
  }
}

export function damaged(path: string, why: string): SkeinError {
  return new SkeinError(ErrorCode.KAFKA_STORAGE_ERROR, `${path} is damaged (${why})`)
}
