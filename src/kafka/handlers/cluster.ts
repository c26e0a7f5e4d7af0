import { sleep } from '../../env/index.js'
import {
  BrokerRequest,
  type CreateTopicRequest,
  ErrorCode,
  type FindCoordinatorRequest as NativeFindCoordinatorRequest,
  type FindCoordinatorResponse as NativeFindCoordinatorResponse,
  INTERNAL_TOPICS,
  type InitProducerIdResponse as NativeInitProducerIdResponse,
  type MetadataResponse as NativeMetadataResponse,
  SkeinError,
  brokerActorId,
} from '../../wire/index.js'
import { brokerIdTable } from '../broker-ids.js'
import type { CreateTopicsRequest, CreateTopicsResponse } from '../messages/create-topics.js'
import type { DeleteTopicsRequest, DeleteTopicsResponse } from '../messages/delete-topics.js'
import type { FindCoordinatorRequest, FindCoordinatorResponse } from '../messages/find-coordinator.js'
import type { InitProducerIdRequest, InitProducerIdResponse } from '../messages/init-producer-id.js'
import type { MetadataRequest, MetadataResponse } from '../messages/metadata.js'
import { GATEWAY_ADMIN_TIMEOUT_MS, GATEWAY_ASK_TIMEOUT_MS, type GatewayNode, type KafkaEndpoints, kafkaErrorCode } from './gateway.js'
import type { TxnGateway } from './transactions.js'

/**
 * Metadata, topic admin and FindCoordinator: asked of this node's broker actor (`broker/<self>`),
 * the same requests the native SDK sends. Broker ids are kafkaBrokerId(node id).
 */

/**
 * Partitions of a topic created without a count: a CreateTopics entry that says -1, or a topic
 * auto-created by Metadata. Kafka's num.partitions default.
 */
const DEFAULT_PARTITION_COUNT = 1
/**
 * Replication factor of a topic created without one (CreateTopics -1, auto-creation): 3, as
 * production Kafka clusters set default.replication.factor, capped by the nodes Metadata
 * lists, so a one- or two-node development cluster can still create topics.
 */
const DEFAULT_REPLICATION_FACTOR = 3

export async function handleMetadata(node: GatewayNode, endpoints: KafkaEndpoints, request: MetadataRequest, apiVersion: number): Promise<MetadataResponse> {
  // v0: an empty array asks for every topic; v1+: null does (an empty array asks for none).
  const askAll = request.topics === null || (apiVersion === 0 && request.topics.length === 0)
  const names = request.topics === null ? [] : request.topics.map((t) => t.name)
  let native = await askMetadata(node, askAll ? {} : { topics: names })
  // Auto-creation (node.autoCreateTopics, and the client allows it: v4+ says so, older always do).
  const creating = new Map<string, number>()
  if (!askAll && node.autoCreateTopics && request.allowAutoTopicCreation !== false) {
    const known = new Set(native.topics.map((t) => t.name))
    const missing = [...new Set(names)].filter((name) => !known.has(name))
    if (missing.length > 0) {
      const replicationFactor = Math.min(DEFAULT_REPLICATION_FACTOR, Math.max(1, native.nodes.length))
      await Promise.all(missing.map(async (name) => creating.set(name, await autoCreateTopic(node, name, replicationFactor))))
      native = await askMetadata(node, { topics: names })
    }
  }
  const nodeIds = native.nodes.map((n) => n.id)
  const table = brokerIdTable(nodeIds)
  if (table.collisions.length > 0) node.log.warn({ nodes: table.collisions }, 'kafka broker id collision: these nodes are left out of Metadata')
  const found = await endpoints.resolve(nodeIds)
  const brokers = native.nodes.flatMap((n) => {
    const endpoint = found.get(n.id)
    const brokerId = table.byNode.get(n.id)
    if (endpoint === undefined || brokerId === undefined) return []
    return [{ nodeId: brokerId, host: endpoint.host, port: endpoint.port, rack: n.zone === '' ? null : n.zone }]
  })
  const idOf = (nodeId: string): number => table.byNode.get(nodeId) ?? -1
  const described = new Map(native.topics.map((t) => [t.name, t]))
  const wanted = askAll ? [...described.keys()] : names
  const topics = wanted.map((name) => {
    const topic = described.get(name)
    if (topic === undefined) {
      // A topic just auto-created but not yet in this node's view is LEADER_NOT_AVAILABLE, as in Kafka: the client asks again.
      const errorCode = creating.get(name) ?? ErrorCode.UNKNOWN_TOPIC_OR_PARTITION.kafkaCode
      return { errorCode, name, isInternal: false, partitions: [], topicAuthorizedOperations: -2147483648 }
    }
    const partitions = topic.partitions.map((p) => {
      const replicaNodes = p.replicas.map(idOf)
      // The native metadata names no ISR outside describe: the assigned replicas stand in.
      const isrNodes = (p.isr ?? p.replicas).map(idOf)
      const leaderId = p.leader === undefined ? -1 : idOf(p.leader)
      const errorCode = leaderId === -1 ? ErrorCode.LEADER_NOT_AVAILABLE.kafkaCode : 0
      return { errorCode, partitionIndex: p.partition, leaderId, leaderEpoch: p.leaderEpoch, replicaNodes, isrNodes, offlineReplicas: [] }
    })
    return { errorCode: 0, name, isInternal: INTERNAL_TOPICS.has(name), partitions, topicAuthorizedOperations: -2147483648 }
  })
  const controllerId = native.controller === undefined ? -1 : idOf(native.controller)
  return { throttleTimeMs: 0, brokers, clusterId: null, controllerId, topics, clusterAuthorizedOperations: -2147483648 }
}

/**
 * How long a Metadata request may wait for this node's metadata to become current (a node
 * just started, or a metadata election). Metadata has no top-level error code, so past this
 * the connection is closed and the client reconnects, as it does after any broker failure.
 */
const METADATA_WAIT_MS_MAX = 5_000
const METADATA_RETRY_PAUSE_MS = 100

/**
 * Creates a topic a Metadata request named, with the default partitions and replication
 * factor. Answers the Kafka error code to report for it while it has no metadata yet:
 * LEADER_NOT_AVAILABLE once created (or created meanwhile by another request), else why not
 * (an invalid name: INVALID_TOPIC_EXCEPTION, as Kafka answers).
 */
async function autoCreateTopic(node: GatewayNode, name: string, replicationFactor: number): Promise<number> {
  const create: CreateTopicRequest = { name, partitions: DEFAULT_PARTITION_COUNT, replicationFactor, configs: {} }
  try {
    await node.ask(brokerActorId(node.nodeId), BrokerRequest.createTopic, create, { timeoutMs: GATEWAY_ADMIN_TIMEOUT_MS })
    node.log.info({ topic: name, partitions: create.partitions, replicationFactor }, 'kafka: topic auto-created')
  } catch (err) {
    if (!(err instanceof SkeinError && err.code === ErrorCode.TOPIC_ALREADY_EXISTS.code)) {
      node.log.warn({ err, topic: name }, 'kafka: topic auto-creation failed')
      return kafkaErrorCode(err)
    }
  }
  return ErrorCode.LEADER_NOT_AVAILABLE.kafkaCode
}

async function askMetadata(node: GatewayNode, payload: { topics?: string[] }): Promise<NativeMetadataResponse> {
  const deadlineMs = node.clock.nowMs() + METADATA_WAIT_MS_MAX
  for (;;) {
    try {
      return await node.ask<NativeMetadataResponse>(brokerActorId(node.nodeId), BrokerRequest.metadata, payload, { timeoutMs: GATEWAY_ASK_TIMEOUT_MS })
    } catch (err) {
      if (!(err instanceof SkeinError) || !err.retriable || node.clock.nowMs() >= deadlineMs) throw err
      await sleep(node.clock, METADATA_RETRY_PAUSE_MS)
    }
  }
}

export async function handleCreateTopics(node: GatewayNode, request: CreateTopicsRequest): Promise<CreateTopicsResponse> {
  const needsDefault = request.topics.some((topic) => topic.replicationFactor === -1)
  const defaultReplicationFactor = needsDefault ? Math.min(DEFAULT_REPLICATION_FACTOR, Math.max(1, (await askMetadata(node, { topics: [] })).nodes.length)) : DEFAULT_REPLICATION_FACTOR
  const topics = await Promise.all(
    request.topics.map(async (topic) => {
      const configs: Record<string, string> = {}
      for (const config of topic.configs) if (config.value !== null) configs[config.name] = config.value
      const create: CreateTopicRequest = {
        name: topic.name,
        partitions: topic.numPartitions === -1 ? DEFAULT_PARTITION_COUNT : topic.numPartitions,
        replicationFactor: topic.replicationFactor === -1 ? defaultReplicationFactor : topic.replicationFactor,
        configs,
      }
      if (request.validateOnly) return { name: topic.name, errorCode: 0, errorMessage: null }
      try {
        await node.ask(brokerActorId(node.nodeId), BrokerRequest.createTopic, create, { timeoutMs: Math.min(GATEWAY_ADMIN_TIMEOUT_MS, Math.max(1, request.timeoutMs)) })
        return { name: topic.name, errorCode: 0, errorMessage: null }
      } catch (err) {
        return { name: topic.name, errorCode: kafkaErrorCode(err), errorMessage: err instanceof Error ? err.message : String(err) }
      }
    }),
  )
  return { throttleTimeMs: 0, topics }
}

export async function handleDeleteTopics(node: GatewayNode, request: DeleteTopicsRequest): Promise<DeleteTopicsResponse> {
  const responses = await Promise.all(
    request.topicNames.map(async (name) => {
      try {
        await node.ask(brokerActorId(node.nodeId), BrokerRequest.deleteTopic, { name }, { timeoutMs: Math.min(GATEWAY_ADMIN_TIMEOUT_MS, Math.max(1, request.timeoutMs)) })
        return { name, errorCode: 0 }
      } catch (err) {
        return { name, errorCode: kafkaErrorCode(err) }
      }
    }),
  )
  return { throttleTimeMs: 0, responses }
}

/** FindCoordinator's key types (v1+; v0 asks for groups only). */
const KEY_TYPE_GROUP = 0
const KEY_TYPE_TRANSACTION = 1

/** A group's coordinator (keyType 0) or a transactional id's (1); any other key type is INVALID_REQUEST, as in Kafka. */
export async function handleFindCoordinator(node: GatewayNode, endpoints: KafkaEndpoints, request: FindCoordinatorRequest): Promise<FindCoordinatorResponse> {
  const none = { throttleTimeMs: 0, nodeId: -1, host: '', port: -1 }
  const key: NativeFindCoordinatorRequest | undefined =
    request.keyType === KEY_TYPE_GROUP ? { groupId: request.key } : request.keyType === KEY_TYPE_TRANSACTION ? { transactionalId: request.key } : undefined
  if (key === undefined) return { ...none, errorCode: ErrorCode.INVALID_REQUEST.kafkaCode, errorMessage: `unknown coordinator key type ${request.keyType}` }
  try {
    const found = await node.ask<NativeFindCoordinatorResponse>(brokerActorId(node.nodeId), BrokerRequest.findCoordinator, key, { timeoutMs: GATEWAY_ADMIN_TIMEOUT_MS })
    const broker = await endpoints.brokerOf(found.nodeId)
    if (broker === undefined) return { ...none, errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE.kafkaCode, errorMessage: `coordinator ${found.nodeId} has no kafka listener` }
    return { throttleTimeMs: 0, errorCode: 0, errorMessage: null, ...broker }
  } catch (err) {
    return { ...none, errorCode: kafkaErrorCode(err), errorMessage: err instanceof Error ? err.message : String(err) }
  }
}

/**
 * A producer id. Without a transactional id, for an idempotent producer: the same
 * cluster-unique id block the native SDK's producers draw from. With one, from the id's
 * transaction coordinator (TxnGateway).
 */
export async function handleInitProducerId(node: GatewayNode, txns: TxnGateway, request: InitProducerIdRequest, apiVersion: number): Promise<InitProducerIdResponse> {
  if (request.transactionalId !== null) return txns.initProducerId(request.transactionalId, request.transactionTimeoutMs, apiVersion)
  try {
    const answer = await node.ask<NativeInitProducerIdResponse>(brokerActorId(node.nodeId), BrokerRequest.initProducerId, {}, { timeoutMs: GATEWAY_ADMIN_TIMEOUT_MS })
    return { throttleTimeMs: 0, errorCode: 0, producerId: BigInt(answer.producerId), producerEpoch: answer.producerEpoch }
  } catch (err) {
    return { throttleTimeMs: 0, errorCode: kafkaErrorCode(err), producerId: -1n, producerEpoch: -1 }
  }
}
