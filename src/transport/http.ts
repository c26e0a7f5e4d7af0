import type { HttpRequest, HttpResponse } from '../env/index.js'

const JSON_CONTENT_TYPE = 'application/json'

/**
 * Plain HTTP on the link port: `GET /health` answers here (so a load balancer or an operator's
 * curl needs nothing else running), every other path goes to `route`, and what nobody claims
 * is a 404.
 */
export function answerHttp(
  request: HttpRequest,
  identity: { nodeId: string; clusterId: string },
  route: ((request: HttpRequest) => HttpResponse | undefined) | undefined,
): HttpResponse {
  if (pathOf(request.path) === '/health') {
    if (request.method !== 'GET' && request.method !== 'HEAD') return jsonResponse(405, { error: 'method not allowed' })
    return jsonResponse(200, { status: 'ok', nodeId: identity.nodeId, clusterId: identity.clusterId })
  }
  return route?.(request) ?? jsonResponse(404, { error: 'not found' })
}

export function jsonResponse(status: number, body: unknown): HttpResponse {
  return { status, contentType: JSON_CONTENT_TYPE, body: JSON.stringify(body) }
}

/** The path without its query string. */
function pathOf(pathAndQuery: string): string {
  const queryStart = pathAndQuery.indexOf('?')
  return queryStart === -1 ? pathAndQuery : pathAndQuery.slice(0, queryStart)
}
