import {
  BrokerRequest,
  type DescribeConfigsResponse as NativeDescribeConfigsResponse,
  type DescribeGroupResponse as NativeDescribeGroupResponse,
  ErrorCode,
  GroupRequest,
  type ListGroupsResponse as NativeListGroupsResponse,
  type MetadataResponse as NativeMetadataResponse,
  OFFSETS_TOPIC,
  SkeinError,
  type TopicDescription,
  brokerActorId,
  coordinatorActorId,
} from '../../wire/index.js'
import { kafkaBrokerId } from '../broker-ids.js'
import { encodeAssignment, encodeSubscription } from '../consumer-protocol.js'
import type { DescribeConfigsRequest, DescribeConfigsResponse } from '../messages/describe-configs.js'
import type { DescribeGroupsRequest, DescribeGroupsResponse } from '../messages/describe-groups.js'
import type { ListGroupsResponse } from '../messages/list-groups.js'
import { AUTHORIZED_OPERATIONS_OMITTED } from '../messages/metadata.js'
import { GATEWAY_ASK_TIMEOUT_MS, type GatewayNode, kafkaErrorCode } from './gateway.js'
import type { GroupGateway } from './groups.js'

/**
 * The Kafka admin reads: ListGroups and DescribeGroups on the group coordinator actors
 * (`coordinator/<p>/<node>`, the ones the native SDK's admin asks), DescribeConfigs on the
 * broker actor (`broker/<self>`: a topic's configs as `skein topic describe` shows them, and
 * the node's own settings). Read-only: skein has no AlterConfigs, and configs are fixed when a
 * topic is created, so every config is answered readOnly.
 */

/** Asks one admin request may have in flight at once; a request naming thousands of groups or topics waits its turn instead of flooding the actors. */
export const ADMIN_ASKS_IN_FLIGHT_MAX = 32

/** Every skein group is a consumer group (the native SDK's and Kafka clients' alike). */
const CONSUMER_PROTOCOL_TYPE = 'consumer'

/** Kafka's group state names (GroupState.toString in the broker), by the coordinator's. */
const KAFKA_GROUP_STATES: Readonly<Record<NativeDescribeGroupResponse['state'], string>> = {
  empty: 'Empty',
  preparingRebalance: 'PreparingRebalance',
  completingRebalance: 'CompletingRebalance',
  stable: 'Stable',
}

/** What Kafka answers for a group that does not exist: no error, state Dead, nothing else. */
const DEAD_GROUP_STATE = 'Dead'

/**
 * The coordinator does not record these (the native join carries neither), and Kafka's
 * protocol has no null for them: the empty string is the neutral value, as Kafka itself
 * answers for the state and protocol of a group it failed to describe.
 */
const UNKNOWN_CLIENT_ID = ''
const UNKNOWN_CLIENT_HOST = ''

/** DescribeConfigs resource types (Kafka's ConfigResource.Type) that skein describes. */
export const ConfigResourceType = { topic: 2, broker: 4 } as const

/** Kafka's ConfigSource ids (DescribeConfigs v1+ configSource and synonym source). */
export const ConfigSource = { topicConfig: 1, staticBrokerConfig: 4, defaultConfig: 5 } as const
type ConfigSourceValue = (typeof ConfigSource)[keyof typeof ConfigSource]

// ---- ListGroups ----

/**
 * The groups of the coordinators on this node: those of the offsets-topic partitions this node
 * leads, as Kafka's brokers each list the groups they coordinate. Clients list a cluster's
 * groups by asking every broker and concatenating the answers (kafkajs admin.listGroups, the
 * Java admin): a node answering for the whole cluster would show each group once per node.
 * A coordinator that fails leaves its groups out and sets the error code, which makes clients
 * ask again (Kafka answers a loading coordinator the same way).
 */
export async function handleListGroups(node: GatewayNode): Promise<ListGroupsResponse> {
  let metadata: NativeMetadataResponse
  try {
    metadata = await node.ask<NativeMetadataResponse>(brokerActorId(node.nodeId), BrokerRequest.metadata, { topics: [OFFSETS_TOPIC] }, { timeoutMs: GATEWAY_ASK_TIMEOUT_MS })
  } catch (err) {
    return { throttleTimeMs: 0, errorCode: kafkaErrorCode(err), groups: [] }
  }
  // No offsets topic yet: no group was ever found a coordinator, so there is none.
  const offsets = metadata.topics.find((topic) => topic.name === OFFSETS_TOPIC)
  const led = (offsets?.partitions ?? []).filter((p) => p.leader === node.nodeId)
  let errorCode = 0
  const answers = await mapBounded(led, ADMIN_ASKS_IN_FLIGHT_MAX, async ({ partition }) => {
    try {
      const answer = await node.ask<NativeListGroupsResponse>(coordinatorActorId(partition, node.nodeId), GroupRequest.listGroups, {}, { timeoutMs: GATEWAY_ASK_TIMEOUT_MS })
      return answer.groups
    } catch (err) {
      node.log.debug({ err, partition }, 'kafka ListGroups: a coordinator on this node did not answer')
      // NOT_COORDINATOR (leadership moved or loading failed) is not a ListGroups code; clients retry on COORDINATOR_NOT_AVAILABLE.
      const code = err instanceof SkeinError && err.code === ErrorCode.NOT_COORDINATOR.code ? ErrorCode.COORDINATOR_NOT_AVAILABLE.kafkaCode : kafkaErrorCode(err)
      if (errorCode === 0) errorCode = code
      return []
    }
  })
  const groupIds = [...new Set(answers.flat().map((group) => group.groupId))].sort()
  return { throttleTimeMs: 0, errorCode, groups: groupIds.map((groupId) => ({ groupId, protocolType: CONSUMER_PROTOCOL_TYPE })) }
}

// ---- DescribeGroups ----

type KafkaGroupDescription = DescribeGroupsResponse['groups'][number]

/** Each group asked of its coordinator (found through GroupGateway, as JoinGroup finds it), answered in request order. */
export async function handleDescribeGroups(groups: GroupGateway, request: DescribeGroupsRequest): Promise<DescribeGroupsResponse> {
  const described = await mapBounded(request.groups, ADMIN_ASKS_IN_FLIGHT_MAX, (groupId) => describeGroup(groups, groupId))
  return { throttleTimeMs: 0, groups: described }
}

async function describeGroup(groups: GroupGateway, groupId: string): Promise<KafkaGroupDescription> {
  const described = (groupState: string, protocolType: string, protocolData: string, members: KafkaGroupDescription['members'], errorCode = 0): KafkaGroupDescription =>
    // skein has no ACLs: authorized operations are omitted, as Metadata omits them.
    ({ errorCode, groupId, groupState, protocolType, protocolData, members, authorizedOperations: AUTHORIZED_OPERATIONS_OMITTED })
  let native: NativeDescribeGroupResponse
  try {
    native = await groups.askCoordinator<NativeDescribeGroupResponse>(groupId, GroupRequest.describeGroup, { groupId }, GATEWAY_ASK_TIMEOUT_MS)
  } catch (err) {
    if (err instanceof SkeinError && err.code === ErrorCode.GROUP_ID_NOT_FOUND.code) return described(DEAD_GROUP_STATE, '', '', [])
    // Kafka's answer for a group it could not describe: the error, with empty state and protocol.
    return described('', '', '', [], kafkaErrorCode(err))
  }
  const state = KAFKA_GROUP_STATES[native.state] ?? native.state
  // As Kafka's GroupMetadata.summary: only a Stable group names its protocol and carries each
  // member's subscription and assignment; during a rebalance they are being replaced.
  const stable = native.state === 'stable'
  const members = native.members.map((m) => ({
    memberId: m.memberId,
    groupInstanceId: m.groupInstanceId ?? null,
    clientId: UNKNOWN_CLIENT_ID,
    clientHost: UNKNOWN_CLIENT_HOST,
    memberMetadata: stable ? encodeSubscription(m.topics) : new Uint8Array(0),
    memberAssignment: stable ? encodeAssignment(m.assignment) : new Uint8Array(0),
  }))
  // The assignor the coordinator carries: Kafka members join through the gateway as 'roundrobin' (groups.ts).
  return described(state, CONSUMER_PROTOCOL_TYPE, stable ? (native.assignor ?? '') : '', members)
}

// ---- DescribeConfigs ----

type ConfigResult = DescribeConfigsResponse['results'][number]
type ConfigEntry = ConfigResult['configs'][number]
type ConfigResource = DescribeConfigsRequest['resources'][number]

/**
 * Topics (type 2): the topic's configs from the broker's metadata (BrokerRequest.describeTopic),
 * each marked default when it equals skein's built-in default (BrokerRequest.describeConfigs).
 * Brokers (type 4): this node's settings that are Kafka broker configs; the empty name (the
 * cluster-wide dynamic defaults) has none. Other types: INVALID_REQUEST, as Kafka answers.
 */
export async function handleDescribeConfigs(node: GatewayNode, request: DescribeConfigsRequest): Promise<DescribeConfigsResponse> {
  let nodeConfigs: Promise<NativeDescribeConfigsResponse> | undefined
  // Asked once per request, and only if a resource needs it.
  const configsOfNode = (): Promise<NativeDescribeConfigsResponse> =>
    (nodeConfigs ??= node.ask<NativeDescribeConfigsResponse>(brokerActorId(node.nodeId), BrokerRequest.describeConfigs, {}, { timeoutMs: GATEWAY_ASK_TIMEOUT_MS }))
  const includeSynonyms = request.includeSynonyms === true
  const results = await mapBounded(request.resources, ADMIN_ASKS_IN_FLIGHT_MAX, (resource) => describeResource(node, resource, includeSynonyms, configsOfNode))
  return { throttleTimeMs: 0, results }
}

async function describeResource(node: GatewayNode, resource: ConfigResource, includeSynonyms: boolean, configsOfNode: () => Promise<NativeDescribeConfigsResponse>): Promise<ConfigResult> {
  const { resourceType, resourceName } = resource
  const failed = (errorCode: number, errorMessage: string): ConfigResult => ({ errorCode, errorMessage, resourceType, resourceName, configs: [] })
  try {
    let configs: ConfigEntry[]
    if (resourceType === ConfigResourceType.topic) configs = await topicConfigs(node, resourceName, includeSynonyms, configsOfNode)
    else if (resourceType === ConfigResourceType.broker) {
      const refused = brokerNameRefusal(node, resourceName)
      if (refused !== undefined) return failed(ErrorCode.INVALID_REQUEST.kafkaCode, refused)
      // The empty name asks for the cluster-wide dynamic defaults: skein has no dynamic configs.
      configs = resourceName === '' ? [] : brokerConfigs(await configsOfNode(), includeSynonyms)
    } else {
      return failed(ErrorCode.INVALID_REQUEST.kafkaCode, `unsupported resource type ${resourceType}: skein describes topics (${ConfigResourceType.topic}) and brokers (${ConfigResourceType.broker})`)
    }
    return { errorCode: 0, errorMessage: null, resourceType, resourceName, configs: onlyKeys(configs, resource.configurationKeys) }
  } catch (err) {
    return failed(kafkaErrorCode(err), err instanceof Error ? err.message : String(err))
  }
}

/** A topic's configs. A topic that does not exist fails the ask with UNKNOWN_TOPIC_OR_PARTITION, an invalid name with INVALID_TOPIC_EXCEPTION. */
async function topicConfigs(node: GatewayNode, name: string, includeSynonyms: boolean, configsOfNode: () => Promise<NativeDescribeConfigsResponse>): Promise<ConfigEntry[]> {
  const [topic, { topicDefaults }] = await Promise.all([
    node.ask<TopicDescription>(brokerActorId(node.nodeId), BrokerRequest.describeTopic, { name }, { timeoutMs: GATEWAY_ASK_TIMEOUT_MS }),
    configsOfNode(),
  ])
  return Object.entries(topic.configs).map(([configName, value]) => {
    const defaultValue = topicDefaults[configName]
    // The metadata keeps the values, not which were given at creation: one given equal to its default reads as the default.
    const source = value === defaultValue ? ConfigSource.defaultConfig : ConfigSource.topicConfig
    const synonyms = source === ConfigSource.topicConfig && defaultValue !== undefined ? [synonym(configName, value, source), synonym(configName, defaultValue, ConfigSource.defaultConfig)] : [synonym(configName, value, source)]
    return configEntry(configName, value, source, includeSynonyms ? synonyms : [])
  })
}

function brokerConfigs(native: NativeDescribeConfigsResponse, includeSynonyms: boolean): ConfigEntry[] {
  return native.broker.map((entry) => {
    // Set in the node's config at start (Kafka: server.properties), or the built-in default.
    const source = entry.isDefault ? ConfigSource.defaultConfig : ConfigSource.staticBrokerConfig
    return configEntry(entry.name, entry.value, source, includeSynonyms ? [synonym(entry.name, entry.value, source)] : [])
  })
}

/** Why a broker resource name is refused, as Kafka refuses it: anything but '' or this node's own broker id. */
function brokerNameRefusal(node: GatewayNode, name: string): string | undefined {
  if (name === '') return undefined
  const self = kafkaBrokerId(node.nodeId)
  if (/^[0-9]+$/.test(name) && Number(name) === self) return undefined
  return `unexpected broker id ${JSON.stringify(name.slice(0, 64))}: this is broker ${self}; ask that broker, or '' for cluster defaults`
}

function configEntry(name: string, value: string, source: ConfigSourceValue, synonyms: ConfigEntry['synonyms']): ConfigEntry {
  // readOnly: no API changes a config once set (no AlterConfigs; topic configs are fixed at creation).
  // isDefault is v0's field, configSource v1's; the codec writes the one the version has.
  return { name, value, readOnly: true, isDefault: source === ConfigSource.defaultConfig, configSource: source, isSensitive: false, synonyms }
}

function synonym(name: string, value: string, source: ConfigSourceValue): ConfigEntry['synonyms'][number] {
  return { name, value, source }
}

/** Kafka reads both a null and an empty key list as "every config" (ConfigHelper.describeConfigs). */
function onlyKeys(configs: ConfigEntry[], keys: readonly string[] | null): ConfigEntry[] {
  if (keys === null || keys.length === 0) return configs
  const wanted = new Set(keys)
  return configs.filter((config) => wanted.has(config.name))
}

/** `fn` over `items` with at most `inFlightMax` calls pending at once; results in item order. `fn` must not throw. */
async function mapBounded<T, R>(items: readonly T[], inFlightMax: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  if (!(Number.isSafeInteger(inFlightMax) && inFlightMax > 0)) throw new Error(`inFlightMax must be a positive integer, got ${inFlightMax}`)
  const results = new Array<R>(items.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++
      results[index] = await fn(items[index] as T)
    }
  }
  await Promise.all(Array.from({ length: Math.min(inFlightMax, items.length) }, worker))
  return results
}
