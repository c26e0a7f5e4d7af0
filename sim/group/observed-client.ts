import { BrokerClient, type BrokerClientConfig } from '../../src/client/index.js'
import type { Env } from '../../src/env/index.js'
import type { CommitObservation } from './checker.js'

/** What a group simulation records of one member's coordinator calls. */
export interface GroupCallObserver {
  /** Virtual now, for the commit's issue and ack times. */
  nowMs(): number
  /**
   * Resolves while the process that made the call is still the one running; never resolves
   * once it died or restarted, so a dead process's answer is never recorded as seen.
   */
  untilAlive(): Promise<void>
  /** The coordinator's sync answer, as the member got it. */
  synced(memberId: string, generation: number, assignment: { topic: string; partition: number }[]): void
  /**
   * A commit as issued; `ackedAtMs` is set on the same object when the coordinator acked it,
   * and then the function returned here, if any, is called.
   */
  commitIssued(commit: CommitObservation): (() => void) | undefined
}

/**
 * BrokerClient.connect for a simulated group member, with its sync answers and commits
 * reported to `observer` exactly as the coordinator gave them: the checkers judge what
 * members were told, not what they asked for. Shared by the group and full simulations.
 */
export async function connectObserved(env: Env, config: BrokerClientConfig, member: string, observer: GroupCallObserver): Promise<BrokerClient> {
  const broker = await BrokerClient.connect(env, { ...config, retryBackoffMs: 50 })
  const syncGroup = broker.syncGroup.bind(broker)
  broker.syncGroup = async (request, rebalanceTimeoutMs) => {
    const answer = await syncGroup(request, rebalanceTimeoutMs)
    await observer.untilAlive()
    observer.synced(request.memberId, request.generation, answer.assignment.map(({ topic, partition }) => ({ topic, partition })))
    return answer
  }
  const commitOffsets = broker.commitOffsets.bind(broker)
  broker.commitOffsets = async (request) => {
    const commit: CommitObservation = {
      member,
      memberId: request.memberId,
      generation: request.generation,
      offsets: request.offsets.map(({ topic, partition, offset }) => ({ topic, partition, offset })),
      issuedAtMs: observer.nowMs(),
      ackedAtMs: undefined,
    }
    const acked = observer.commitIssued(commit)
    await commitOffsets(request)
    await observer.untilAlive()
    commit.ackedAtMs = observer.nowMs()
    acked?.()
  }
  return broker
}
