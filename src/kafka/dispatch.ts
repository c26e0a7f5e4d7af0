import { ApiKey, type ApiKeyValue } from './api-keys.js'
import { type ApiVersionRange, SUPPORTED_API_VERSIONS, apiVersionsResponseBody } from './apis.js'
import { handleDescribeConfigs, handleDescribeGroups, handleListGroups } from './handlers/admin.js'
import { handleCreateTopics, handleDeleteTopics, handleFindCoordinator, handleInitProducerId, handleMetadata } from './handlers/cluster.js'
import { type GatewayNode, KafkaEndpoints } from './handlers/gateway.js'
import { GroupGateway } from './handlers/groups.js'
import { handleFetch, handleListOffsets, handleProduce } from './handlers/partitions.js'
import { TxnGateway } from './handlers/transactions.js'
import type { KafkaRequest } from './request.js'
import { encodeResponse } from './response.js'

/**
 * The APIs the listener has wired to actors, and so advertises in ApiVersions (at the
 * codec's version ranges). A request for an API the codec decodes but that is not listed
 * here closes the connection (logged).
 */
export const WIRED_API_KEYS: ReadonlySet<ApiKeyValue> = new Set([
  ApiKey.Produce,
  ApiKey.Fetch,
  ApiKey.ListOffsets,
  ApiKey.Metadata,
  ApiKey.FindCoordinator,
  ApiKey.ApiVersions,
  ApiKey.CreateTopics,
  ApiKey.DeleteTopics,
  ApiKey.JoinGroup,
  ApiKey.SyncGroup,
  ApiKey.Heartbeat,
  ApiKey.LeaveGroup,
  ApiKey.OffsetCommit,
  ApiKey.OffsetFetch,
  ApiKey.InitProducerId,
  ApiKey.AddPartitionsToTxn,
  ApiKey.AddOffsetsToTxn,
  ApiKey.EndTxn,
  ApiKey.TxnOffsetCommit,
  ApiKey.DescribeGroups,
  ApiKey.ListGroups,
  ApiKey.DescribeConfigs,
])

export const WIRED_API_VERSIONS: readonly ApiVersionRange[] = SUPPORTED_API_VERSIONS.filter((range) => WIRED_API_KEYS.has(range.apiKey))

/** A request for an API the codec decodes but no handler serves: the connection closes. */
export class UnwiredApiError extends Error {}

/** The per-node state handlers share across connections: other nodes' endpoints, and where coordinators are. */
export interface KafkaGateways {
  readonly endpoints: KafkaEndpoints
  readonly groups: GroupGateway
  readonly txns: TxnGateway
}

export function kafkaGateways(node: GatewayNode): KafkaGateways {
  const groups = new GroupGateway(node)
  return { endpoints: new KafkaEndpoints(node), groups, txns: new TxnGateway(node, groups) }
}

/**
 * Answers one decoded request with its whole response frame, or undefined when Kafka sends
 * none (Produce with acks=0). Handlers answer failures as the protocol's error codes and do
 * not throw for them.
 */
export async function dispatchKafkaRequest(node: GatewayNode, gateways: KafkaGateways, request: KafkaRequest): Promise<Uint8Array | undefined> {
  // Read before the switch narrows `request`: the default case names an API a newer codec may add.
  const { apiKey, apiVersion, header } = request
  const { endpoints, groups, txns } = gateways
  const correlationId = header.correlationId
  switch (request.apiKey) {
    case ApiKey.ApiVersions:
      return encodeResponse(ApiKey.ApiVersions, apiVersion, correlationId, apiVersionsResponseBody(WIRED_API_VERSIONS))
    case ApiKey.Metadata:
      return encodeResponse(ApiKey.Metadata, apiVersion, correlationId, await handleMetadata(node, endpoints, request.body, apiVersion))
    case ApiKey.CreateTopics:
      return encodeResponse(ApiKey.CreateTopics, apiVersion, correlationId, await handleCreateTopics(node, request.body))
    case ApiKey.DeleteTopics:
      return encodeResponse(ApiKey.DeleteTopics, apiVersion, correlationId, await handleDeleteTopics(node, request.body))
    case ApiKey.FindCoordinator:
      return encodeResponse(ApiKey.FindCoordinator, apiVersion, correlationId, await handleFindCoordinator(node, endpoints, request.body))
    case ApiKey.Produce: {
      const response = await handleProduce(node, request.body)
      return request.body.acks === 0 ? undefined : encodeResponse(ApiKey.Produce, apiVersion, correlationId, response)
    }
    case ApiKey.Fetch:
      return encodeResponse(ApiKey.Fetch, apiVersion, correlationId, await handleFetch(node, request.body))
    case ApiKey.ListOffsets:
      return encodeResponse(ApiKey.ListOffsets, apiVersion, correlationId, await handleListOffsets(node, request.body))
    case ApiKey.InitProducerId:
      return encodeResponse(ApiKey.InitProducerId, apiVersion, correlationId, await handleInitProducerId(node, txns, request.body, apiVersion))
    case ApiKey.AddPartitionsToTxn:
      return encodeResponse(ApiKey.AddPartitionsToTxn, apiVersion, correlationId, await txns.addPartitions(request.body, apiVersion))
    case ApiKey.AddOffsetsToTxn:
      return encodeResponse(ApiKey.AddOffsetsToTxn, apiVersion, correlationId, await txns.addOffsets(request.body, apiVersion))
    case ApiKey.EndTxn:
      return encodeResponse(ApiKey.EndTxn, apiVersion, correlationId, await txns.endTxn(request.body, apiVersion))
    case ApiKey.TxnOffsetCommit:
      return encodeResponse(ApiKey.TxnOffsetCommit, apiVersion, correlationId, await txns.txnOffsetCommit(request.body, apiVersion))
    case ApiKey.JoinGroup:
      return encodeResponse(ApiKey.JoinGroup, apiVersion, correlationId, await groups.join(request.body))
    case ApiKey.SyncGroup:
      return encodeResponse(ApiKey.SyncGroup, apiVersion, correlationId, await groups.sync(request.body))
    case ApiKey.Heartbeat:
      return encodeResponse(ApiKey.Heartbeat, apiVersion, correlationId, await groups.heartbeat(request.body))
    case ApiKey.LeaveGroup:
      return encodeResponse(ApiKey.LeaveGroup, apiVersion, correlationId, await groups.leave(request.body, apiVersion))
    case ApiKey.OffsetCommit:
      return encodeResponse(ApiKey.OffsetCommit, apiVersion, correlationId, await groups.commit(request.body))
    case ApiKey.OffsetFetch:
      return encodeResponse(ApiKey.OffsetFetch, apiVersion, correlationId, await groups.fetchOffsets(request.body))
    case ApiKey.DescribeGroups:
      return encodeResponse(ApiKey.DescribeGroups, apiVersion, correlationId, await handleDescribeGroups(groups, request.body))
    case ApiKey.ListGroups:
      return encodeResponse(ApiKey.ListGroups, apiVersion, correlationId, await handleListGroups(node))
    case ApiKey.DescribeConfigs:
      return encodeResponse(ApiKey.DescribeConfigs, apiVersion, correlationId, await handleDescribeConfigs(node, request.body))
    default:
      throw new UnwiredApiError(`API ${apiKey} is decoded but not served yet`)
  }
}
