import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import type { HttpRequest, HttpResponse, Logger } from '../env/index.js'
import { ErrorCode, type ErrorSpec } from '../wire/index.js'
import { jsonResponse } from './http.js'

/**
 * The fault-injection endpoint, for chaos testing real processes (`npm run chaos`). It exists
 * only on a node started with `--enable-fault-injection`; without it the path is a plain 404.
 *
 *   GET  /fault/links                       -> 200 {"blocked": ["n2", "n3"]}
 *   POST /fault/links  {"block": ["n2","n3"]} -> 200 {"blocked": ["n2", "n3"]}
 *        Authorization: Bearer <faultInjectionToken(cluster secret)>
 *
 * A POST replaces the set of node ids this node has no links with (`Transport.blockPeers`);
 * `{"block": []}` heals. Only node-to-node links are cut: clients keep theirs.
 *
 * The token is HMAC-SHA256(cluster secret, FAULT_TOKEN_LABEL) in hex, so the secret itself
 * never travels in a header; from a shell:
 *   printf %s 'skein fault injection v1' | openssl dgst -sha256 -hmac "$SKEIN_CLUSTER_SECRET"
 *
 * Errors carry a stable code from the error table, as `{"error": {code, name, message}}`:
 * 401 AUTHENTICATION_FAILED (missing or wrong token; checked first, in constant time),
 * 405 INVALID_REQUEST (another method), 400 INVALID_REQUEST (body not JSON, not an object,
 * an unknown field, `block` not a list of node ids, this node's own id, too many ids).
 * A refused request changes nothing.
 */
export const FAULT_LINKS_PATH = '/fault/links'

/** What the token is an HMAC of: versioned, so a later scheme cannot be confused with this one. */
export const FAULT_TOKEN_LABEL = 'skein fault injection v1'

/** Most node ids one request may block: far above any cluster this is run against. */
export const FAULT_BLOCKED_PEERS_MAX = 1_024

/** Node ids as `skein start --id` accepts them (src/cli/args.ts), at most this long. */
const NODE_ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/

/** The part of the Transport the endpoint drives. */
export interface LinkBlocker {
  blockPeers(nodeIds: readonly string[]): void
  blockedPeers(): string[]
}

/** The bearer token for the fault endpoint of a cluster with this secret (hex HMAC-SHA256). */
export function faultInjectionToken(clusterSecret: string): string {
  return createHmac('sha256', clusterSecret).update(FAULT_TOKEN_LABEL).digest('hex')
}

/** Builds the route; it answers FAULT_LINKS_PATH and returns undefined for every other path. */
export function faultInjectionRoute(
  transport: LinkBlocker,
  identity: { nodeId: string; clusterSecret: string },
  log: Logger,
): (request: HttpRequest) => HttpResponse | undefined {
  const expectedDigest = sha256(faultInjectionToken(identity.clusterSecret))
  return (request) => {
    if (pathOf(request.path) !== FAULT_LINKS_PATH) return undefined
    if (!tokenMatches(request.headers?.['authorization'], expectedDigest)) {
      log.warn({ method: request.method, path: FAULT_LINKS_PATH }, 'fault injection: request refused, bad or missing token')
      return errorResponse(401, ErrorCode.AUTHENTICATION_FAILED, 'missing or wrong fault-injection token (Authorization: Bearer <token>)')
    }
    if (request.method === 'GET') return jsonResponse(200, { blocked: transport.blockedPeers() })
    if (request.method !== 'POST') return errorResponse(405, ErrorCode.INVALID_REQUEST, `method ${request.method} not allowed; use GET or POST`)
    const parsed = parseBlockRequest(request.body ?? '', identity.nodeId)
    if (typeof parsed === 'string') return errorResponse(400, ErrorCode.INVALID_REQUEST, parsed)
    transport.blockPeers(parsed)
    return jsonResponse(200, { blocked: transport.blockedPeers() })
  }
}

/** The node ids to block, or what is wrong with the body. */
export function parseBlockRequest(body: string, selfNodeId: string): string[] | string {
  let value: unknown
  try {
    value = JSON.parse(body)
  } catch {
    return 'the body is not valid JSON'
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'the body must be a JSON object like {"block": ["n2"]}'
  const unknownFields = Object.keys(value).filter((field) => field !== 'block')
  if (unknownFields.length > 0) return `unknown field(s): ${unknownFields.slice(0, 5).join(', ')}`
  const block = (value as { block?: unknown }).block
  if (!Array.isArray(block)) return '"block" must be a list of node ids'
  if (block.length > FAULT_BLOCKED_PEERS_MAX) return `"block" lists more than ${FAULT_BLOCKED_PEERS_MAX} node ids`
  for (const nodeId of block) {
    if (typeof nodeId !== 'string' || !NODE_ID_PATTERN.test(nodeId)) return `"block" holds an invalid node id: ${JSON.stringify(nodeId)?.slice(0, 140)}`
    if (nodeId === selfNodeId) return `a node cannot block its own id '${selfNodeId}'`
  }
  return [...new Set(block as string[])]
}

function tokenMatches(authorization: string | undefined, expectedDigest: Buffer): boolean {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '')
  if (match === null) return false
  // Digests have one length whatever was sent, so timingSafeEqual applies and leaks nothing about the token.
  return timingSafeEqual(sha256(match[1] ?? ''), expectedDigest)
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest()
}

function errorResponse(status: number, spec: ErrorSpec, message: string): HttpResponse {
  return jsonResponse(status, { error: { code: spec.code, name: spec.name, message } })
}

/** The path without its query string. */
function pathOf(pathAndQuery: string): string {
  const queryStart = pathAndQuery.indexOf('?')
  return queryStart === -1 ? pathAndQuery : pathAndQuery.slice(0, queryStart)
}
