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
      default:
        throw new SkeinError(ErrorCode.INVALID_REQUEST, `diag actor does not handle '${message.kind}'`)
    }
  }
}
