import type { SkeinNode } from '../../src/node.js'
import { BrokerRequest, type FindCoordinatorResponse, brokerActorId, coordinatorActorId } from '../../src/wire/broker-protocol.js'
import { SkeinError } from '../../src/wire/index.js'
import { InProcessNodes } from '../helpers/in-process-nodes.js'

// What the group coordinator tests share: a cluster of in-process nodes with small group
// limits, and a member that talks to its group's coordinator as a client does.

export const CLUSTER = { clusterId: 'coordinator-test', clusterSecret: 'coordinator-test-secret-0123456789' }
export const BROKER = { offsetsTopicPartitions: 3, groupLimits: { sessionTimeoutMsMin: 500, sessionTimeoutMsMax: 60_000, membersMax: 100, initialRebalanceDelayMs: 0 } }
export const ASK_TIMEOUT_MS = 10_000
export const RETRY_PAUSE_MS = 100
/** How long TestMember.ask keeps retrying retriable errors (a coordinator moving, an election). */
const RETRY_FOR_MS = 30_000

/** Nodes for one test file; the file calls `cleanup()` after each test. */
export function coordinatorNodes(dirPrefix: string): InProcessNodes {
  return new InProcessNodes(CLUSTER, dirPrefix)
}

/**
 * A member's view of one group through one node, retrying what a client retries (finding the
 * coordinator again) unless `noRetry` names the code (a test that expects a retriable error).
 */
export class TestMember {
  coordinator: FindCoordinatorResponse | undefined
  constructor(private readonly via: () => SkeinNode, readonly groupId: string) {}

  async ask<T>(kind: string, payload: object, noRetry?: number): Promise<T> {
    const deadline = Date.now() + RETRY_FOR_MS
    for (;;) {
      try {
        this.coordinator ??= await this.via().actors.ask<FindCoordinatorResponse>(brokerActorId(this.via().config.nodeId), BrokerRequest.findCoordinator, { groupId: this.groupId }, { timeoutMs: ASK_TIMEOUT_MS })
        return await this.via().actors.ask<T>(coordinatorActorId(this.coordinator.partition, this.coordinator.nodeId), kind, { groupId: this.groupId, ...payload }, { timeoutMs: ASK_TIMEOUT_MS })
      } catch (error) {
        if (!(error instanceof SkeinError) || !error.retriable || error.code === noRetry || Date.now() > deadline) throw error
        this.coordinator = undefined
        await new Promise((resolve) => setTimeout(resolve, RETRY_PAUSE_MS))
      }
    }
  }
}

export function joinRequest(memberId: string, topics: string[] = ['orders']) {
  return { memberId, sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 5_000, assignors: ['range'], topics, owned: [] }
}

/** The SkeinError code a promise rejects with; undefined if it resolves, -999 for anything else. */
export async function codeOf(promise: Promise<unknown>): Promise<number | undefined> {
  try {
    await promise
    return undefined
  } catch (error) {
    return error instanceof SkeinError ? error.code : -999
  }
}
