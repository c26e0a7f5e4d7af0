/**
 * The Kafka wire protocol codec: pure, sans-I/O. Bytes in, typed messages out, and back;
 * no sockets, timers or actors. The listener that frames a TCP stream and maps requests onto
 * skein's actors builds on this:
 *
 *   const result = decodeRequest(frameWithoutSizePrefix)
 *   if (!result.ok) ... answer ApiVersions' UNSUPPORTED_VERSION, else close the connection
 *   switch (result.request.apiKey) { case ApiKey.Produce: result.request.body.topics ... }
 *   socket.write(encodeResponse(apiKey, apiVersion, correlationId, body))  // size included
 */
export { ApiKey, type ApiKeyValue, type ApiName } from './api-keys.js'
export {
  KAFKA_APIS,
  SUPPORTED_API_VERSIONS,
  apiSpecFor,
  apiVersionsResponseBody,
  apiVersionsUnsupportedBody,
  isSupportedVersion,
  supportedApiSpec,
  type ApiSpec,
  type ApiVersionRange,
  type RequestBody,
  type ResponseBody,
} from './apis.js'
export { SIZE_PREFIX_BYTES } from './frame.js'
export type { RequestHeader } from './header.js'
export { int64ToSafeNumber } from './int64.js'
export { decodeRequest, encodeRequest, type DecodeRequestResult, type KafkaRequest } from './request.js'
export { decodeResponse, encodeResponse, type DecodedResponse } from './response.js'
export { STRING_BYTES_MAX } from './writer.js'
export type { AddOffsetsToTxnRequest, AddOffsetsToTxnResponse } from './messages/add-offsets-to-txn.js'
export type { AddPartitionsToTxnRequest, AddPartitionsToTxnResponse } from './messages/add-partitions-to-txn.js'
export type { ApiVersionsRequest, ApiVersionsResponse } from './messages/api-versions.js'
export type { CreateTopicsRequest, CreateTopicsResponse } from './messages/create-topics.js'
export type { DeleteTopicsRequest, DeleteTopicsResponse } from './messages/delete-topics.js'
export type { DescribeConfigsRequest, DescribeConfigsResponse } from './messages/describe-configs.js'
export type { DescribeGroupsRequest, DescribeGroupsResponse } from './messages/describe-groups.js'
export type { EndTxnRequest, EndTxnResponse } from './messages/end-txn.js'
export type { FetchRequest, FetchResponse } from './messages/fetch.js'
export type { FindCoordinatorRequest, FindCoordinatorResponse } from './messages/find-coordinator.js'
export type { HeartbeatRequest, HeartbeatResponse } from './messages/heartbeat.js'
export type { InitProducerIdRequest, InitProducerIdResponse } from './messages/init-producer-id.js'
export type { JoinGroupRequest, JoinGroupResponse } from './messages/join-group.js'
export type { LeaveGroupRequest, LeaveGroupResponse } from './messages/leave-group.js'
export type { ListGroupsRequest, ListGroupsResponse } from './messages/list-groups.js'
export type { ListOffsetsRequest, ListOffsetsResponse } from './messages/list-offsets.js'
export { AUTHORIZED_OPERATIONS_OMITTED, type MetadataRequest, type MetadataResponse } from './messages/metadata.js'
export type { OffsetCommitRequest, OffsetCommitResponse } from './messages/offset-commit.js'
export type { OffsetFetchRequest, OffsetFetchResponse } from './messages/offset-fetch.js'
export type { ProduceRequest, ProduceResponse } from './messages/produce.js'
export type { SyncGroupRequest, SyncGroupResponse } from './messages/sync-group.js'
export type { TxnOffsetCommitRequest, TxnOffsetCommitResponse } from './messages/txn-offset-commit.js'
export { KAFKA_PIPELINED_REQUESTS_MAX, KAFKA_REQUEST_BYTES_MAX, KafkaConnection, type KafkaConnectionIo, type KafkaConnectionLimits } from './connection.js'
export { WIRED_API_VERSIONS, dispatchKafkaRequest } from './dispatch.js'
export { KafkaEndpointActor, type KafkaEndpoint, kafkaEndpointActorId } from './endpoint-actor.js'
export { kafkaBrokerId } from './broker-ids.js'
export { type KafkaListener, type KafkaListenerConfig, type KafkaListenerNode, startKafkaListener } from './listener.js'
