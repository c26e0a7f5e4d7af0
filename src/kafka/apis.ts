import { ApiKey, type ApiKeyValue, type ApiName } from './api-keys.js'
import { AddOffsetsToTxnRequestSchema, AddOffsetsToTxnResponseSchema } from './messages/add-offsets-to-txn.js'
import { AddPartitionsToTxnRequestSchema, AddPartitionsToTxnResponseSchema } from './messages/add-partitions-to-txn.js'
import { ApiVersionsRequestSchema, type ApiVersionsResponse, ApiVersionsResponseSchema } from './messages/api-versions.js'
import { CreateTopicsRequestSchema, CreateTopicsResponseSchema } from './messages/create-topics.js'
import { DeleteTopicsRequestSchema, DeleteTopicsResponseSchema } from './messages/delete-topics.js'
import { DescribeConfigsRequestSchema, DescribeConfigsResponseSchema } from './messages/describe-configs.js'
import { DescribeGroupsRequestSchema, DescribeGroupsResponseSchema } from './messages/describe-groups.js'
import { EndTxnRequestSchema, EndTxnResponseSchema } from './messages/end-txn.js'
import { FetchRequestSchema, FetchResponseSchema } from './messages/fetch.js'
import { FindCoordinatorRequestSchema, FindCoordinatorResponseSchema } from './messages/find-coordinator.js'
import { HeartbeatRequestSchema, HeartbeatResponseSchema } from './messages/heartbeat.js'
import { InitProducerIdRequestSchema, InitProducerIdResponseSchema } from './messages/init-producer-id.js'
import { JoinGroupRequestSchema, JoinGroupResponseSchema } from './messages/join-group.js'
import { LeaveGroupRequestSchema, LeaveGroupResponseSchema } from './messages/leave-group.js'
import { ListGroupsRequestSchema, ListGroupsResponseSchema } from './messages/list-groups.js'
import { ListOffsetsRequestSchema, ListOffsetsResponseSchema } from './messages/list-offsets.js'
import { MetadataRequestSchema, MetadataResponseSchema } from './messages/metadata.js'
import { OffsetCommitRequestSchema, OffsetCommitResponseSchema } from './messages/offset-commit.js'
import { OffsetFetchRequestSchema, OffsetFetchResponseSchema } from './messages/offset-fetch.js'
import { ProduceRequestSchema, ProduceResponseSchema } from './messages/produce.js'
import { SyncGroupRequestSchema, SyncGroupResponseSchema } from './messages/sync-group.js'
import { TxnOffsetCommitRequestSchema, TxnOffsetCommitResponseSchema } from './messages/txn-offset-commit.js'
import { ErrorCode, SkeinError } from '../wire/errors.js'
import type { StructKind, ValueOf } from './schema.js'

/**
 * Every API the codec speaks, with the versions it speaks and advertises (ApiVersions), and
 * the schemas of its request and response. Only non-flexible versions: requests use header
 * v1, responses header v0, and no compact encodings or tagged fields exist anywhere. Where a
 * range starts matters as much as where it ends: librdkafka uses consumer groups only if
 * FindCoordinator, JoinGroup, SyncGroup, Heartbeat and LeaveGroup include v0, kafka-python
 * probes Metadata with v0, librdkafka needs ListOffsets v1 and Fetch v4 (see
 * shared/kafka-compat.md).
 */
export interface ApiSpec<Request extends StructKind = StructKind, Response extends StructKind = StructKind> {
  readonly apiKey: ApiKeyValue
  readonly name: ApiName
  readonly minVersion: number
  readonly maxVersion: number
  readonly request: Request
  readonly response: Response
}

function api<const Request extends StructKind, const Response extends StructKind>(
  name: ApiName,
  minVersion: number,
  maxVersion: number,
  request: Request,
  response: Response,
): ApiSpec<Request, Response> {
  return Object.freeze({ apiKey: ApiKey[name], name, minVersion, maxVersion, request, response })
}

export const KAFKA_APIS = {
  [ApiKey.Produce]: api('Produce', 3, 8, ProduceRequestSchema, ProduceResponseSchema),
  [ApiKey.Fetch]: api('Fetch', 4, 11, FetchRequestSchema, FetchResponseSchema),
  [ApiKey.ListOffsets]: api('ListOffsets', 1, 5, ListOffsetsRequestSchema, ListOffsetsResponseSchema),
  [ApiKey.Metadata]: api('Metadata', 0, 8, MetadataRequestSchema, MetadataResponseSchema),
  [ApiKey.OffsetCommit]: api('OffsetCommit', 0, 7, OffsetCommitRequestSchema, OffsetCommitResponseSchema),
  [ApiKey.OffsetFetch]: api('OffsetFetch', 0, 5, OffsetFetchRequestSchema, OffsetFetchResponseSchema),
  [ApiKey.FindCoordinator]: api('FindCoordinator', 0, 2, FindCoordinatorRequestSchema, FindCoordinatorResponseSchema),
  [ApiKey.JoinGroup]: api('JoinGroup', 0, 5, JoinGroupRequestSchema, JoinGroupResponseSchema),
  [ApiKey.Heartbeat]: api('Heartbeat', 0, 3, HeartbeatRequestSchema, HeartbeatResponseSchema),
  [ApiKey.LeaveGroup]: api('LeaveGroup', 0, 3, LeaveGroupRequestSchema, LeaveGroupResponseSchema),
  [ApiKey.SyncGroup]: api('SyncGroup', 0, 3, SyncGroupRequestSchema, SyncGroupResponseSchema),
  [ApiKey.DescribeGroups]: api('DescribeGroups', 0, 4, DescribeGroupsRequestSchema, DescribeGroupsResponseSchema),
  [ApiKey.ListGroups]: api('ListGroups', 0, 2, ListGroupsRequestSchema, ListGroupsResponseSchema),
  [ApiKey.ApiVersions]: api('ApiVersions', 0, 2, ApiVersionsRequestSchema, ApiVersionsResponseSchema),
  [ApiKey.CreateTopics]: api('CreateTopics', 0, 4, CreateTopicsRequestSchema, CreateTopicsResponseSchema),
  [ApiKey.DeleteTopics]: api('DeleteTopics', 0, 3, DeleteTopicsRequestSchema, DeleteTopicsResponseSchema),
  [ApiKey.InitProducerId]: api('InitProducerId', 0, 1, InitProducerIdRequestSchema, InitProducerIdResponseSchema),
  [ApiKey.AddPartitionsToTxn]: api('AddPartitionsToTxn', 0, 2, AddPartitionsToTxnRequestSchema, AddPartitionsToTxnResponseSchema),
  [ApiKey.AddOffsetsToTxn]: api('AddOffsetsToTxn', 0, 2, AddOffsetsToTxnRequestSchema, AddOffsetsToTxnResponseSchema),
  [ApiKey.EndTxn]: api('EndTxn', 0, 2, EndTxnRequestSchema, EndTxnResponseSchema),
  [ApiKey.TxnOffsetCommit]: api('TxnOffsetCommit', 0, 2, TxnOffsetCommitRequestSchema, TxnOffsetCommitResponseSchema),
  [ApiKey.DescribeConfigs]: api('DescribeConfigs', 0, 2, DescribeConfigsRequestSchema, DescribeConfigsResponseSchema),
} as const satisfies { readonly [K in ApiKeyValue]: ApiSpec }

export type RequestBody<K extends ApiKeyValue> = ValueOf<(typeof KAFKA_APIS)[K]['request']>
export type ResponseBody<K extends ApiKeyValue> = ValueOf<(typeof KAFKA_APIS)[K]['response']>

const apisByKey = new Map<number, ApiSpec>(Object.values(KAFKA_APIS).map((spec) => [spec.apiKey, spec]))

/** The spec for an API key, or undefined for a key the codec does not speak. */
export function apiSpecFor(apiKey: number): ApiSpec | undefined {
  return apisByKey.get(apiKey)
}

export function isSupportedVersion(spec: ApiSpec, apiVersion: number): boolean {
  return apiVersion >= spec.minVersion && apiVersion <= spec.maxVersion
}

/** The spec for an API at a version the codec speaks; UNSUPPORTED_VERSION otherwise. */
export function supportedApiSpec(apiKey: number, apiVersion: number): ApiSpec {
  const spec = apiSpecFor(apiKey)
  if (spec === undefined || !isSupportedVersion(spec, apiVersion)) {
    throw new SkeinError(ErrorCode.UNSUPPORTED_VERSION, `API ${apiKey} version ${apiVersion} is not supported`)
  }
  return spec
}

export interface ApiVersionRange {
  readonly apiKey: ApiKeyValue
  readonly minVersion: number
  readonly maxVersion: number
}

/** What the ApiVersions response lists: every API above, in key order. */
export const SUPPORTED_API_VERSIONS: readonly ApiVersionRange[] = Object.freeze(
  [...apisByKey.values()]
    .sort((a, b) => a.apiKey - b.apiKey)
    .map(({ apiKey, minVersion, maxVersion }) => Object.freeze({ apiKey, minVersion, maxVersion })),
)

/**
 * The ApiVersions response body. With `apis` the listener can advertise fewer APIs than the
 * codec speaks (only what it has wired to actors).
 */
export function apiVersionsResponseBody(apis: readonly ApiVersionRange[] = SUPPORTED_API_VERSIONS, throttleTimeMs = 0): ApiVersionsResponse {
  return { errorCode: 0, apiKeys: apis.map(({ apiKey, minVersion, maxVersion }) => ({ apiKey, minVersion, maxVersion })), throttleTimeMs }
}

/**
 * The answer to an ApiVersions request of a version the codec does not speak (librdkafka
 * opens with v3): UNSUPPORTED_VERSION listing ApiVersions' own range, as Apache Kafka answers
 * (KIP-511). Encode it as version 0 whatever version was asked: the client reads the v0
 * layout, then retries with a version from the range.
 */
export function apiVersionsUnsupportedBody(): ApiVersionsResponse {
  const { apiKey, minVersion, maxVersion } = KAFKA_APIS[ApiKey.ApiVersions]
  return { errorCode: ErrorCode.UNSUPPORTED_VERSION.kafkaCode, apiKeys: [{ apiKey, minVersion, maxVersion }], throttleTimeMs: 0 }
}
