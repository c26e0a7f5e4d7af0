import { ErrorCode, SkeinError } from '../wire/index.js'

/** A bad command line: reported with the INVALID_REQUEST code and exit status 2. */
export function usageError(message: string): SkeinError {
  return new SkeinError(ErrorCode.INVALID_REQUEST, message)
}

export function parsePort(flag: string, text: string): number {
  const port = Number(text)
  if (!/^\d+$/.test(text) || port > 65_535) throw usageError(`${flag} must be an integer from 0 to 65535, got '${text}'`)
  return port
}

/** "true" or "false", exactly: a flag's value, where a typo must not silently mean either. */
export function parseBoolean(flag: string, text: string): boolean {
  if (text === 'true') return true
  if (text === 'false') return false
  throw usageError(`${flag} must be true or false, got '${text}'`)
}

/** "host:port" with a valid port; returns it unchanged. */
export function parseAddress(flag: string, text: string): string {
  const colon = text.lastIndexOf(':')
  if (colon <= 0) throw usageError(`${flag} expects host:port, got '${text}'`)
  parsePort(flag, text.slice(colon + 1))
  return text
}

/** "n2=127.0.0.1:7072,n3=127.0.0.1:7073" into { n2: '127.0.0.1:7072', ... }. */
export function parsePeers(flag: string, text: string | undefined): Record<string, string> {
  const peers: Record<string, string> = {}
  for (const item of splitList(text)) {
    const eq = item.indexOf('=')
    if (eq <= 0) throw usageError(`${flag} expects id=host:port items, got '${item}'`)
    const id = item.slice(0, eq)
    if (peers[id] !== undefined) throw usageError(`${flag} names node '${id}' twice`)
    peers[id] = parseAddress(flag, item.slice(eq + 1))
  }
  return peers
}

export function parseSeeds(flag: string, text: string | undefined): string[] {
  return splitList(text).map((item) => parseAddress(flag, item))
}

export function parseNodeId(flag: string, text: string): string {
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(text)) {
    throw usageError(`${flag} must be 1-64 characters of letters, digits, '_', '.', '-', got '${text}'`)
  }
  return text
}

/** A comma-separated list of distinct node ids, at least one. */
export function parseNodeIdList(flag: string, text: string): string[] {
  const ids = splitList(text).map((id) => parseNodeId(flag, id))
  if (ids.length === 0) throw usageError(`${flag} needs at least one node id`)
  if (new Set(ids).size !== ids.length) throw usageError(`${flag} names a node twice: '${text}'`)
  return ids
}

function splitList(text: string | undefined): string[] {
  if (text === undefined || text.trim() === '') return []
  return text.split(',').map((s) => s.trim()).filter((s) => s.length > 0)
}
