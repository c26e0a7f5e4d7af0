import type { Actor, ActorContext, Message } from '../src/actor/index.js'
import { ErrorCode, SkeinError } from '../src/wire/index.js'

/** Actor kind of the diagnostics actors every node hosts: `diag/<nodeId>/<name>`. */
export const DIAG_KIND = 'diag'

/** The diagnostics actor id pinned to `nodeId`. */
export function diagActorId(nodeId: string, name = 'main'): string {
  return `${DIAG_KIND}/${nodeId}/${name}`
}

/** The node a diagnostics actor id is pinned to, or undefined when the id is not one. */
export function diagNodeOf(actorId: string): string | undefined {
  if (!actorId.startsWith(`${DIAG_KIND}/`)) return undefined
  const end = actorId.indexOf('/', DIAG_KIND.length + 1)
  return actorId.slice(DIAG_KIND.length + 1, end < 0 ? undefined : end)
}

/**
 * A diagnostics actor, pinned to one node: operators and tests use it to check that a node
 * and the path to it work (`echo`), and benchmarks to measure messaging (`count`, `stats`).
 *
 *   echo  (ask)  -> the payload, unchanged
 *   count (tell) -> adds 1 to a counter
 *   stats (ask)  -> { count, nodeId }
 *   ping  (ask)  { nodeId, timeoutMs? } -> { nodeId, rttMs }: an echo round trip from this
 *                node to that node's diagnostics actor, proving the link between them
 */
export class DiagActor implements Actor {
  private count = 0

  constructor(private readonly context: ActorContext) {}

  receive(message: Message): unknown {
    switch (message.kind) {
      case 'count':
        this.count++
        return undefined
      case 'echo':
        return message.payload
      case 'stats':
        return { count: this.count, nodeId: this.context.nodeId }
      case 'ping':
        return this.ping(message.payload)
      default:
        throw new SkeinError(ErrorCode.INVALID_REQUEST, `diag actor does not handle '${message.kind}'`)
    }
  }

  private async ping(payload: unknown): Promise<{ nodeId: string; rttMs: number }> {
    const request = payload as { nodeId?: unknown; timeoutMs?: unknown } | null
    const nodeId = request?.nodeId
    if (typeof nodeId !== 'string' || nodeId.length === 0) {
      throw new SkeinError(ErrorCode.INVALID_REQUEST, 'ping needs { nodeId: string }')
    }
    const timeoutMs = typeof request?.timeoutMs === 'number' ? request.timeoutMs : PING_TIMEOUT_MS_DEFAULT
    const clock = this.context.env.clock
    const startedMs = clock.nowMs()
    // The echo goes to a separate actor that never waits on anyone, so two nodes pinging
    // each other's main actors cannot wait on each other.
    await this.context.ask(diagActorId(nodeId, 'echo'), 'echo', null, { timeoutMs })
    return { nodeId, rttMs: clock.nowMs() - startedMs }
  }
}

/** How long a ping waits for the other node's echo unless told otherwise. */
const PING_TIMEOUT_MS_DEFAULT = 2_000
