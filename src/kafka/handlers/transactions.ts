import {
  type EndTxnRequest as NativeEndTxnRequest,
  ErrorCode,
  GroupRequest,
  type InitProducerIdResponse as NativeInitProducerIdResponse,
  SkeinError,
  type TxnAddOffsetsRequest,
  type TxnAddPartitionsRequest,
  type TxnInitProducerIdRequest,
  type TxnOffsetCommitRequest as NativeTxnOffsetCommitRequest,
  type TxnProducerRef,
  TxnRequest,
  txnCoordinatorActorId,
} from '../../wire/index.js'
import { ApiKey, type ApiKeyValue } from '../api-keys.js'
import { int64ToSafeNumber } from '../int64.js'
import type { AddOffsetsToTxnRequest, AddOffsetsToTxnResponse } from '../messages/add-offsets-to-txn.js'
import type { AddPartitionsToTxnRequest, AddPartitionsToTxnResponse } from '../messages/add-partitions-to-txn.js'
import type { EndTxnRequest, EndTxnResponse } from '../messages/end-txn.js'
import type { InitProducerIdResponse } from '../messages/init-producer-id.js'
import type { TxnOffsetCommitRequest, TxnOffsetCommitResponse } from '../messages/txn-offset-commit.js'
import { type CoordinatorKind, CoordinatorRouter, GATEWAY_ADMIN_TIMEOUT_MS, GATEWAY_ASK_TIMEOUT_MS, type GatewayNode, kafkaErrorCode } from './gateway.js'
import type { GroupGateway } from './groups.js'

/**
 * Kafka's transaction APIs on skein's transaction coordinator actors (`txn/<p>/<node>`, one per
 * partition of __transaction_state), the requests of broker-protocol.ts's "transactions"
 * section: InitProducerId with a transactional id, AddPartitionsToTxn, AddOffsetsToTxn and
 * EndTxn go to the id's coordinator; TxnOffsetCommit goes to the group's coordinator. Kafka
 * clients send these to the broker FindCoordinator named, but any node can answer: the actor
 * is asked wherever it runs. A coordinator that moved answers NOT_COORDINATOR, which the
 * client takes as "find it again"; the router forgets it too.
 */

const TXN_COORDINATORS: CoordinatorKind = {
  findRequest: (transactionalId) => ({ transactionalId }),
  actorIdOf: (found) => txnCoordinatorActorId(found.partition, found.nodeId),
}

/**
 * The first version of each API whose clients know PRODUCER_FENCED (90, KIP-588): the version
 * Kafka's message JSON says "adds the support for new error code PRODUCER_FENCED". Below it,
 * Kafka's KafkaApis answers INVALID_PRODUCER_EPOCH (47) in its place, which those clients treat
 * as fenced too (kafkajs 2.x knows no 90 at all, and uses v1 of each). TxnOffsetCommit has no
 * such version: Kafka's own coordinator of the non-flexible versions never answered it a fenced
 * producer. skein's group coordinator can (its txnOffsetCommit checks the producer with the
 * transaction coordinator), so the gateway answers 47 there at every version it speaks, the code
 * every client of them takes as fenced.
 */
const PRODUCER_FENCED_SINCE: Partial<Record<ApiKeyValue, number>> = {
  [ApiKey.InitProducerId]: 4,
  [ApiKey.AddPartitionsToTxn]: 2,
  [ApiKey.AddOffsetsToTxn]: 2,
  [ApiKey.EndTxn]: 2,
  [ApiKey.TxnOffsetCommit]: Infinity,
}

/** kafkaErrorCode, with PRODUCER_FENCED answered as INVALID_PRODUCER_EPOCH to versions that predate it. */
export function txnErrorCode(err: unknown, apiKey: ApiKeyValue, apiVersion: number): number {
  const code = kafkaErrorCode(err)
  const since = PRODUCER_FENCED_SINCE[apiKey] ?? 0
  return code === ErrorCode.PRODUCER_FENCED.kafkaCode && apiVersion < since ? ErrorCode.INVALID_PRODUCER_EPOCH.kafkaCode : code
}

export class TxnGateway {
  private readonly coordinators: CoordinatorRouter

  constructor(
    node: GatewayNode,
    private readonly groups: GroupGateway,
  ) {
    this.coordinators = new CoordinatorRouter(node, TXN_COORDINATORS)
  }

  /** InitProducerId with a transactional id: a producer id and a new epoch from the id's coordinator, fencing older instances. */
  async initProducerId(transactionalId: string, transactionTimeoutMs: number, apiVersion: number): Promise<InitProducerIdResponse> {
    try {
      // Kafka: an empty transactional id is INVALID_REQUEST (null asks for an idempotent producer, cluster.ts).
      if (transactionalId === '') throw new SkeinError(ErrorCode.INVALID_REQUEST, 'the transactional id is empty')
      const payload: TxnInitProducerIdRequest = { transactionalId, transactionTimeoutMs }
      const answer = await this.coordinators.ask<NativeInitProducerIdResponse>(transactionalId, TxnRequest.initProducerId, payload, GATEWAY_ADMIN_TIMEOUT_MS)
      return { throttleTimeMs: 0, errorCode: 0, producerId: BigInt(answer.producerId), producerEpoch: answer.producerEpoch }
    } catch (err) {
      return { throttleTimeMs: 0, errorCode: txnErrorCode(err, ApiKey.InitProducerId, apiVersion), producerId: -1n, producerEpoch: -1 }
    }
  }

  /** Every partition answers the one outcome: the coordinator adds all of them or none. */
  async addPartitions(request: AddPartitionsToTxnRequest, apiVersion: number): Promise<AddPartitionsToTxnResponse> {
    const partitions = request.topics.flatMap((t) => t.partitions.map((partition) => ({ topic: t.name, partition })))
    const payload = (): TxnAddPartitionsRequest => ({ ...producerRef(request), partitions })
    const errorCode = await this.outcome(request.transactionalId, TxnRequest.addPartitions, payload, ApiKey.AddPartitionsToTxn, apiVersion)
    const resultsByTopic = request.topics.map((t) => ({ name: t.name, resultsByPartition: t.partitions.map((partitionIndex) => ({ partitionIndex, partitionErrorCode: errorCode })) }))
    return { throttleTimeMs: 0, resultsByTopic }
  }

  /** Adds the group's offsets partition to the transaction; the client then sends TxnOffsetCommit to the group's coordinator. */
  async addOffsets(request: AddOffsetsToTxnRequest, apiVersion: number): Promise<AddOffsetsToTxnResponse> {
    const payload = (): TxnAddOffsetsRequest => ({ ...producerRef(request), groupId: request.groupId })
    return { throttleTimeMs: 0, errorCode: await this.outcome(request.transactionalId, TxnRequest.addOffsets, payload, ApiKey.AddOffsetsToTxn, apiVersion) }
  }

  /** Commits or aborts; answered once the coordinator has the decision committed (the markers follow). */
  async endTxn(request: EndTxnRequest, apiVersion: number): Promise<EndTxnResponse> {
    const payload = (): NativeEndTxnRequest => ({ ...producerRef(request), commit: request.committed })
    return { throttleTimeMs: 0, errorCode: await this.outcome(request.transactionalId, TxnRequest.endTxn, payload, ApiKey.EndTxn, apiVersion) }
  }

  /** Offsets that take effect when the transaction commits; v0-2 name no member or generation, so none is passed. */
  async txnOffsetCommit(request: TxnOffsetCommitRequest, apiVersion: number): Promise<TxnOffsetCommitResponse> {
    let errorCode = 0
    try {
      const offsets = request.topics.flatMap((t) =>
        t.partitions.map((p) => ({
          topic: t.name,
          partition: p.partitionIndex,
          offset: int64ToSafeNumber(p.committedOffset, 'committed offset'),
          ...(p.committedMetadata === null ? {} : { metadata: p.committedMetadata }),
        })),
      )
      const payload: NativeTxnOffsetCommitRequest = { ...producerRef(request), groupId: request.groupId, offsets }
      await this.groups.askCoordinator(request.groupId, GroupRequest.txnOffsetCommit, payload, GATEWAY_ASK_TIMEOUT_MS)
    } catch (err) {
      errorCode = txnErrorCode(err, ApiKey.TxnOffsetCommit, apiVersion)
    }
    const topics = request.topics.map((t) => ({ name: t.name, partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode })) }))
    return { throttleTimeMs: 0, topics }
  }

  /** Asks the transactional id's coordinator; the Kafka error code of the outcome (0 when it succeeded, INVALID_REQUEST when the payload cannot be built). */
  private async outcome(transactionalId: string, kind: string, payload: () => unknown, apiKey: ApiKeyValue, apiVersion: number): Promise<number> {
    try {
      await this.coordinators.ask(transactionalId, kind, payload(), GATEWAY_ADMIN_TIMEOUT_MS)
      return 0
    } catch (err) {
      return txnErrorCode(err, apiKey, apiVersion)
    }
  }
}

/** The transactional id, producer id and epoch a request names; a producer id past 2^53 is INVALID_REQUEST. */
function producerRef(request: { readonly transactionalId: string; readonly producerId: bigint; readonly producerEpoch: number }): TxnProducerRef {
  return { transactionalId: request.transactionalId, producerId: int64ToSafeNumber(request.producerId, 'producer id'), producerEpoch: request.producerEpoch }
}
