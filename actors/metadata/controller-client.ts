import type { ActorContext } from '../../src/actor/index.js'
import { controllerActorId } from '../../src/wire/broker-protocol.js'
import { ErrorCode, SkeinError } from '../../src/wire/index.js'
import type { NodeServices } from '../services.js'
import { ControllerRequest, type MetadataSnapshot } from './controller.js'
import type { ApplyOutcome } from './state.js'

/** One attempt at one voter; a dead voter costs this much before the next is tried. */
export const CONTROLLER_ASK_TIMEOUT_MS = 2_000
/** Redirects and retries across the voters before giving up with the last error. */
export const CONTROLLER_ATTEMPTS_MAX = 6

/**
 * Finds the metadata quorum's leader and asks it: the last leader that answered first, then
 * whoever a NOT_CONTROLLER answer names, then each voter in turn (the current voters as this
 * node last learned them; the broker refreshes them from other members when none answers).
 */
export class ControllerClient {
  private leaderHint: string | undefined

  constructor(
    private readonly context: ActorContext,
    private readonly services: NodeServices,
  ) {}

  get knownLeader(): string | undefined {
    return this.leaderHint
  }

  /** A snapshot newer than `sinceVersion`, or the current one once `waitMs` passed. */
  read(sinceVersion: number, waitMs: number): Promise<MetadataSnapshot> {
    return this.ask<MetadataSnapshot>(ControllerRequest.read, { sinceVersion, waitMs }, waitMs + CONTROLLER_ASK_TIMEOUT_MS)
  }

  /** Proposes a command; resolves with its outcome once committed and applied. */
  propose(command: unknown): Promise<ApplyOutcome> {
    return this.ask<ApplyOutcome>(ControllerRequest.propose, { command }, CONTROLLER_ASK_TIMEOUT_MS * 2)
  }

  private async ask<T>(kind: string, payload: unknown, timeoutMs: number): Promise<T> {
    const voters = this.services.controllerVoters()
    if (voters === undefined || voters.length === 0) throw new SkeinError(ErrorCode.NOT_CONTROLLER, 'the metadata quorum is not known yet (still bootstrapping)')
    const alive = new Set(this.services.liveMembers().map((member) => member.id))
    const order = [...voters].sort((a, b) => Number(alive.has(b)) - Number(alive.has(a)))
    let lastError: unknown
    let next = 0
    for (let attempt = 0; attempt < CONTROLLER_ATTEMPTS_MAX; attempt++) {
      const target = this.leaderHint ?? (order[next++ % order.length] as string)
      try {
        const answer = await this.context.ask<T>(controllerActorId(target), kind, payload, { timeoutMs })
        this.leaderHint = target
        return answer
      } catch (error) {
        lastError = error
        const hinted = error instanceof SkeinError && error.code === ErrorCode.NOT_CONTROLLER.code ? error.leader?.nodeId : undefined
        // A hint may name a voter this node does not know yet (one that replaced a dead voter).
        this.leaderHint = hinted !== undefined && hinted !== target ? hinted : undefined
        if (!(error instanceof SkeinError) || !error.retriable) throw error
      }
    }
    throw lastError
  }
}
