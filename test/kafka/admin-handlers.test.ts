import { describe, expect, it } from 'vitest'
import { BROKER_SETTINGS_DEFAULT } from '../../actors/services.js'
import { TOPIC_CONFIGS_DEFAULT, topicConfigEntries } from '../../actors/metadata/topic-configs.js'
import { brokerConfigEntries } from '../../actors/broker/broker.js'
import { ApiKey } from '../../src/kafka/index.js'
import { kafkaBrokerId } from '../../src/kafka/broker-ids.js'
import { decodeAssignment, decodeSubscriptionTopics } from '../../src/kafka/consumer-protocol.js'
import { WIRED_API_VERSIONS, kafkaGateways } from '../../src/kafka/dispatch.js'
import { ConfigSource, handleDescribeConfigs, handleDescribeGroups, handleListGroups } from '../../src/kafka/handlers/admin.js'
import { GroupGateway } from '../../src/kafka/handlers/groups.js'
import type { DescribeConfigsRequest } from '../../src/kafka/messages/describe-configs.js'
import { AUTHORIZED_OPERATIONS_OMITTED } from '../../src/kafka/messages/metadata.js'
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
} from '../../src/wire/index.js'
import { FakeActors, SELF, asClientReads, dispatchAsClient } from './fake-actors.js'

/**
 * ListGroups, DescribeGroups and DescribeConfigs against a fake node: its actors are canned
 * native answers keyed by actor id and message kind, and every ask is recorded, so what the
 * handlers ask and what Kafka clients get back are both checked without sockets.
 */

function offsetsMetadata(leaders: readonly (string | undefined)[]): NativeMetadataResponse {
  const partitions = leaders.map((leader, partition) => ({ partition, replicas: ['n1', 'n2', 'n3'], ...(leader === undefined ? {} : { leader }), leaderEpoch: 1 }))
  return { version: 3, nodes: [], topics: [{ name: OFFSETS_TOPIC, topicId: 'offsets', configs: {}, partitions }] }
}

function listed(...groupIds: string[]): NativeListGroupsResponse {
  return { groups: groupIds.map((groupId) => ({ groupId, state: 'stable', members: 1 })) }
}

describe('ListGroups', () => {
  it('listGroups_asksOnlyTheCoordinatorsOfPartitionsThisNodeLeads_andAnswersTheirGroupsSortedOnce', async () => {
    const actors = new FakeActors()
      .on(`broker/${SELF}`, BrokerRequest.metadata, offsetsMetadata(['n1', 'n2', 'n1', undefined]))
      .on('coordinator/0/n1', GroupRequest.listGroups, listed('orders', 'audit'))
      .on('coordinator/2/n1', GroupRequest.listGroups, listed('billing'))
    const answer = await handleListGroups(actors.node())
    expect(actors.asked[0]?.payload).toEqual({ topics: [OFFSETS_TOPIC] })
    expect(actors.askedOf(GroupRequest.listGroups).sort()).toEqual(['coordinator/0/n1', 'coordinator/2/n1'])
    expect(answer).toEqual({
      throttleTimeMs: 0,
      errorCode: 0,
      groups: [
        { groupId: 'audit', protocolType: 'consumer' },
        { groupId: 'billing', protocolType: 'consumer' },
        { groupId: 'orders', protocolType: 'consumer' },
      ],
    })
  })

  it('listGroups_withoutAnOffsetsTopic_isEmptyWithoutError', async () => {
    const actors = new FakeActors().on(`broker/${SELF}`, BrokerRequest.metadata, { version: 1, nodes: [], topics: [] })
    expect(await handleListGroups(actors.node())).toEqual({ throttleTimeMs: 0, errorCode: 0, groups: [] })
    expect(actors.askedOf(GroupRequest.listGroups)).toEqual([])
  })

  it('listGroups_aCoordinatorNoLongerCoordinating_isCoordinatorNotAvailableWithTheOtherGroups', async () => {
    const actors = new FakeActors()
      .on(`broker/${SELF}`, BrokerRequest.metadata, offsetsMetadata(['n1', 'n1']))
      .on('coordinator/0/n1', GroupRequest.listGroups, new SkeinError(ErrorCode.NOT_COORDINATOR, 'moved'))
      .on('coordinator/1/n1', GroupRequest.listGroups, listed('kept'))
    const answer = await handleListGroups(actors.node())
    expect(answer.errorCode).toBe(ErrorCode.COORDINATOR_NOT_AVAILABLE.kafkaCode)
    expect(answer.groups).toEqual([{ groupId: 'kept', protocolType: 'consumer' }])
  })

  it('listGroups_metadataNotCurrent_isItsKafkaCode', async () => {
    const actors = new FakeActors().on(`broker/${SELF}`, BrokerRequest.metadata, new SkeinError(ErrorCode.BROKER_NOT_AVAILABLE, 'stale'))
    expect(await handleListGroups(actors.node())).toEqual({ throttleTimeMs: 0, errorCode: 8, groups: [] })
  })
})

const STABLE_GROUP: NativeDescribeGroupResponse = {
  groupId: 'orders',
  state: 'stable',
  generation: 4,
  leaderId: 'member-a',
  assignor: 'roundrobin',
  members: [
    { memberId: 'member-a', topics: ['t1', 't2'], assignment: [{ topic: 't1', partition: 0 }, { topic: 't2', partition: 1 }] },
    { memberId: 'static-b', groupInstanceId: 'b', topics: ['t1'], assignment: [{ topic: 't1', partition: 1 }] },
  ],
  offsets: [],
}

/** A node whose broker finds every group's coordinator on offsets partition `partition` of n2. */
function groupActors(partition = 3): FakeActors {
  return new FakeActors().on(`broker/${SELF}`, BrokerRequest.findCoordinator, (payload: unknown) => ({ groupId: (payload as { groupId: string }).groupId, partition, nodeId: 'n2', address: 'n2:1' }))
}

describe('DescribeGroups', () => {
  it('describeGroups_stableGroup_namesKafkaStateAssignorAndEachMembersSubscriptionAndAssignment', async () => {
    const actors = groupActors().on('coordinator/3/n2', GroupRequest.describeGroup, STABLE_GROUP)
    const answer = await handleDescribeGroups(new GroupGateway(actors.node()), { groups: ['orders'], includeAuthorizedOperations: false })
    expect(actors.asked.find((a) => a.kind === GroupRequest.describeGroup)?.payload).toEqual({ groupId: 'orders' })
    const group = answer.groups[0]
    expect(group).toMatchObject({ errorCode: 0, groupId: 'orders', groupState: 'Stable', protocolType: 'consumer', protocolData: 'roundrobin', authorizedOperations: AUTHORIZED_OPERATIONS_OMITTED })
    expect(group?.members.map((m) => [m.memberId, m.groupInstanceId, m.clientId, m.clientHost])).toEqual([
      ['member-a', null, '', ''],
      ['static-b', 'b', '', ''],
    ])
    expect(group?.members.map((m) => decodeSubscriptionTopics(m.memberMetadata))).toEqual([['t1', 't2'], ['t1']])
    expect(group?.members.map((m) => decodeAssignment(m.memberAssignment))).toEqual([STABLE_GROUP.members[0]?.assignment, STABLE_GROUP.members[1]?.assignment])
  })

  it('describeGroups_unknownGroup_isNoErrorWithStateDeadAndNoMembers', async () => {
    const actors = groupActors().on('coordinator/3/n2', GroupRequest.describeGroup, new SkeinError(ErrorCode.GROUP_ID_NOT_FOUND, 'no such group'))
    const answer = await handleDescribeGroups(new GroupGateway(actors.node()), { groups: ['ghost'], includeAuthorizedOperations: false })
    expect(answer.groups).toEqual([{ errorCode: 0, groupId: 'ghost', groupState: 'Dead', protocolType: '', protocolData: '', members: [], authorizedOperations: AUTHORIZED_OPERATIONS_OMITTED }])
  })

  it('describeGroups_rebalancingGroup_namesItsStateButNoProtocolOrMemberBytes', async () => {
    const rebalancing: NativeDescribeGroupResponse = { ...STABLE_GROUP, state: 'preparingRebalance' }
    const actors = groupActors().on('coordinator/3/n2', GroupRequest.describeGroup, rebalancing)
    const group = (await handleDescribeGroups(new GroupGateway(actors.node()), { groups: ['orders'], includeAuthorizedOperations: false })).groups[0]
    expect(group).toMatchObject({ errorCode: 0, groupState: 'PreparingRebalance', protocolType: 'consumer', protocolData: '' })
    expect(group?.members.map((m) => [m.memberId, m.memberMetadata.byteLength, m.memberAssignment.byteLength])).toEqual([
      ['member-a', 0, 0],
      ['static-b', 0, 0],
    ])
  })

  it('describeGroups_emptyAndCompletingGroups_useKafkasStateNames', async () => {
    const actors = groupActors().on('coordinator/3/n2', GroupRequest.describeGroup, (payload: unknown) => {
      const groupId = (payload as { groupId: string }).groupId
      return { ...STABLE_GROUP, groupId, state: groupId === 'idle' ? 'empty' : 'completingRebalance', members: groupId === 'idle' ? [] : STABLE_GROUP.members }
    })
    const answer = await handleDescribeGroups(new GroupGateway(actors.node()), { groups: ['idle', 'syncing'], includeAuthorizedOperations: false })
    expect(answer.groups.map((g) => [g.groupId, g.groupState, g.members.length])).toEqual([
      ['idle', 'Empty', 0],
      ['syncing', 'CompletingRebalance', 2],
    ])
  })

  it('describeGroups_coordinatorErrors_areKafkaCodesPerGroup_andAMovedCoordinatorIsFoundAgain', async () => {
    let moved = true
    const actors = groupActors().on('coordinator/3/n2', GroupRequest.describeGroup, (payload: unknown) => {
      const groupId = (payload as { groupId: string }).groupId
      if (groupId === 'loading') return new SkeinError(ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, 'loading')
      if (moved) {
        moved = false
        return new SkeinError(ErrorCode.NOT_COORDINATOR, 'moved')
      }
      return { ...STABLE_GROUP, groupId }
    })
    const groups = new GroupGateway(actors.node())
    const first = await handleDescribeGroups(groups, { groups: ['orders', 'loading'], includeAuthorizedOperations: false })
    expect(first.groups.map((g) => [g.groupId, g.errorCode, g.groupState, g.members.length])).toEqual([
      ['orders', ErrorCode.NOT_COORDINATOR.kafkaCode, '', 0],
      ['loading', ErrorCode.COORDINATOR_LOAD_IN_PROGRESS.kafkaCode, '', 0],
    ])
    const again = await handleDescribeGroups(groups, { groups: ['orders'], includeAuthorizedOperations: false })
    expect(again.groups[0]?.groupState).toBe('Stable')
    // Found once, forgotten after the retriable NOT_COORDINATOR, found again.
    expect(actors.asked.filter((a) => a.kind === BrokerRequest.findCoordinator && (a.payload as { groupId: string }).groupId === 'orders')).toHaveLength(2)
  })

  it('describeGroups_invalidGroupId_isInvalidGroupId', async () => {
    const actors = new FakeActors().on(`broker/${SELF}`, BrokerRequest.findCoordinator, new SkeinError(ErrorCode.INVALID_GROUP_ID, 'empty'))
    const answer = await handleDescribeGroups(new GroupGateway(actors.node()), { groups: [''], includeAuthorizedOperations: false })
    expect(answer.groups[0]?.errorCode).toBe(24)
  })

  it('describeGroups_encodes_atEveryVersionTheCodecAdvertises', async () => {
    const actors = groupActors().on('coordinator/3/n2', GroupRequest.describeGroup, STABLE_GROUP)
    const gateways = kafkaGateways(actors.node())
    for (const apiVersion of [0, 1, 2, 3, 4]) {
      const frame = await dispatchAsClient(actors.node(), ApiKey.DescribeGroups, apiVersion, { groups: ['orders'], includeAuthorizedOperations: false }, gateways)
      const body = asClientReads(ApiKey.DescribeGroups, apiVersion, frame)
      expect(body.groups[0]?.members[1]?.groupInstanceId).toBe(apiVersion >= 4 ? 'b' : null)
      expect(body.groups[0]?.groupState).toBe('Stable')
    }
  })
})

const RETENTION_SET_MS = '86400000'

/** skein's built-in topic defaults, as the broker's describeConfigs answers them. */
const TOPIC_DEFAULTS: Record<string, string> = topicConfigEntries(TOPIC_CONFIGS_DEFAULT)

const NODE_CONFIGS: NativeDescribeConfigsResponse = {
  topicDefaults: TOPIC_DEFAULTS,
  broker: [
    { name: 'offsets.topic.num.partitions', value: '10', isDefault: true },
    { name: 'group.max.size', value: '50', isDefault: false },
  ],
}

function topic(name: string, configs: Record<string, string>): TopicDescription {
  return { name, topicId: `id-${name}`, configs, partitions: [] }
}

function configActors(): FakeActors {
  return new FakeActors()
    .on(`broker/${SELF}`, BrokerRequest.describeConfigs, NODE_CONFIGS)
    .on(`broker/${SELF}`, BrokerRequest.describeTopic, (payload: unknown) => {
      const name = (payload as { name: string }).name
      if (name === 'orders') return topic(name, { ...TOPIC_DEFAULTS, 'retention.ms': RETENTION_SET_MS })
      if (name === 'bad/name') return new SkeinError(ErrorCode.INVALID_TOPIC_EXCEPTION, 'bad name')
      return new SkeinError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `topic '${name}' does not exist`)
    })
}

function configsRequest(resources: { resourceType: number; resourceName: string; configurationKeys?: string[] | null }[], includeSynonyms = false): DescribeConfigsRequest {
  return { resources: resources.map((r) => ({ configurationKeys: null, ...r })), includeSynonyms }
}

const TOPIC = 2
const BROKER = 4

describe('DescribeConfigs', () => {
  it('describeConfigs_topic_answersEveryConfig_theOneSetAtCreationAsTopicConfig_theRestAsDefaults', async () => {
    const actors = configActors()
    const answer = await handleDescribeConfigs(actors.node(), configsRequest([{ resourceType: TOPIC, resourceName: 'orders' }]))
    const result = answer.results[0]
    expect(result).toMatchObject({ errorCode: 0, errorMessage: null, resourceType: TOPIC, resourceName: 'orders' })
    expect(result?.configs.map((c) => c.name).sort()).toEqual(Object.keys(TOPIC_DEFAULTS).sort())
    expect(result?.configs.find((c) => c.name === 'retention.ms')).toEqual({ name: 'retention.ms', value: RETENTION_SET_MS, readOnly: true, isDefault: false, configSource: ConfigSource.topicConfig, isSensitive: false, synonyms: [] })
    expect(result?.configs.find((c) => c.name === 'segment.bytes')).toEqual({ name: 'segment.bytes', value: '1073741824', readOnly: true, isDefault: true, configSource: ConfigSource.defaultConfig, isSensitive: false, synonyms: [] })
    expect(result?.configs.filter((c) => c.isDefault)).toHaveLength(Object.keys(TOPIC_DEFAULTS).length - 1)
  })

  it('describeConfigs_configurationKeys_keepsOnlyTheNamedConfigsSkeinHas_andNullOrEmptyMeansAll', async () => {
    const actors = configActors()
    const answer = await handleDescribeConfigs(
      actors.node(),
      configsRequest([
        { resourceType: TOPIC, resourceName: 'orders', configurationKeys: ['retention.ms', 'cleanup.policy', 'segment.bytes'] },
        { resourceType: TOPIC, resourceName: 'orders', configurationKeys: [] },
        { resourceType: TOPIC, resourceName: 'orders', configurationKeys: null },
      ]),
    )
    expect(answer.results[0]?.configs.map((c) => c.name)).toEqual(['retention.ms', 'segment.bytes'])
    expect(answer.results[1]?.configs).toHaveLength(Object.keys(TOPIC_DEFAULTS).length)
    expect(answer.results[2]?.configs).toHaveLength(Object.keys(TOPIC_DEFAULTS).length)
    // The node's configs are asked once for the whole request.
    expect(actors.askedOf(BrokerRequest.describeConfigs)).toEqual([`broker/${SELF}`])
  })

  it('describeConfigs_missingTopic_isUnknownTopicOrPartitionForThatResourceOnly', async () => {
    const actors = configActors()
    const answer = await handleDescribeConfigs(actors.node(), configsRequest([{ resourceType: TOPIC, resourceName: 'ghost' }, { resourceType: TOPIC, resourceName: 'orders' }, { resourceType: TOPIC, resourceName: 'bad/name' }]))
    expect(answer.results.map((r) => [r.resourceName, r.errorCode, r.configs.length])).toEqual([
      ['ghost', 3, 0],
      ['orders', 0, Object.keys(TOPIC_DEFAULTS).length],
      ['bad/name', 17, 0],
    ])
    expect(answer.results[0]?.errorMessage).toContain('ghost')
  })

  it('describeConfigs_includeSynonyms_namesTheSetValueThenTheDefaultItOverrides', async () => {
    const actors = configActors()
    const answer = await handleDescribeConfigs(actors.node(), configsRequest([{ resourceType: TOPIC, resourceName: 'orders', configurationKeys: ['retention.ms', 'flush'] }], true))
    expect(answer.results[0]?.configs.map((c) => [c.name, c.synonyms])).toEqual([
      ['retention.ms', [{ name: 'retention.ms', value: RETENTION_SET_MS, source: 1 }, { name: 'retention.ms', value: '604800000', source: 5 }]],
      ['flush', [{ name: 'flush', value: 'always', source: 5 }]],
    ])
  })

  it('describeConfigs_thisBroker_answersItsSettings_setOnesAsStaticBrokerConfig', async () => {
    const actors = configActors()
    const answer = await handleDescribeConfigs(actors.node(), configsRequest([{ resourceType: BROKER, resourceName: String(kafkaBrokerId(SELF)) }]))
    expect(answer.results[0]?.errorCode).toBe(0)
    expect(answer.results[0]?.configs.map((c) => [c.name, c.value, c.isDefault, c.configSource, c.readOnly])).toEqual([
      ['offsets.topic.num.partitions', '10', true, ConfigSource.defaultConfig, true],
      ['group.max.size', '50', false, ConfigSource.staticBrokerConfig, true],
    ])
  })

  it('describeConfigs_brokerDefaultsResource_isEmptyWithoutError', async () => {
    const actors = configActors()
    const answer = await handleDescribeConfigs(actors.node(), configsRequest([{ resourceType: BROKER, resourceName: '' }]))
    expect(answer.results).toEqual([{ errorCode: 0, errorMessage: null, resourceType: BROKER, resourceName: '', configs: [] }])
  })

  it('describeConfigs_anotherBrokerOrUnknownResourceType_isInvalidRequest', async () => {
    const actors = configActors()
    const other = String(kafkaBrokerId('n2'))
    const answer = await handleDescribeConfigs(
      actors.node(),
      configsRequest([
        { resourceType: BROKER, resourceName: other },
        { resourceType: BROKER, resourceName: 'n1' },
        { resourceType: 8, resourceName: String(kafkaBrokerId(SELF)) },
        { resourceType: 99, resourceName: 'x' },
      ]),
    )
    expect(answer.results.map((r) => [r.resourceType, r.errorCode, r.configs.length])).toEqual([
      [BROKER, 42, 0],
      [BROKER, 42, 0],
      [8, 42, 0],
      [99, 42, 0],
    ])
    expect(answer.results.every((r) => typeof r.errorMessage === 'string' && r.errorMessage.length > 0)).toBe(true)
  })

  it('describeConfigs_nodeConfigsUnavailable_failsTheResourcesThatNeedThem', async () => {
    const actors = configActors().on(`broker/${SELF}`, BrokerRequest.describeConfigs, new SkeinError(ErrorCode.NODE_UNREACHABLE, 'down'))
    const answer = await handleDescribeConfigs(actors.node(), configsRequest([{ resourceType: TOPIC, resourceName: 'orders' }, { resourceType: BROKER, resourceName: '' }]))
    expect(answer.results.map((r) => r.errorCode)).toEqual([ErrorCode.NODE_UNREACHABLE.kafkaCode, 0])
  })

  it('describeConfigs_v0_carriesIsDefault_v1_carriesConfigSource', async () => {
    const actors = configActors()
    const request = configsRequest([{ resourceType: TOPIC, resourceName: 'orders', configurationKeys: ['retention.ms', 'segment.bytes'] }])
    const v0 = asClientReads(ApiKey.DescribeConfigs, 0, await dispatchAsClient(actors.node(), ApiKey.DescribeConfigs, 0, request))
    expect(v0.results[0]?.configs.map((c) => [c.name, c.isDefault])).toEqual([
      ['retention.ms', false],
      ['segment.bytes', true],
    ])
    const v1 = asClientReads(ApiKey.DescribeConfigs, 1, await dispatchAsClient(actors.node(), ApiKey.DescribeConfigs, 1, request))
    expect(v1.results[0]?.configs.map((c) => [c.name, c.configSource])).toEqual([
      ['retention.ms', 1],
      ['segment.bytes', 5],
    ])
  })
})

describe('dispatch', () => {
  it('apiVersions_advertisesDescribeGroupsListGroupsAndDescribeConfigs', () => {
    const advertised = new Map(WIRED_API_VERSIONS.map((range) => [range.apiKey, [range.minVersion, range.maxVersion]]))
    expect(advertised.get(ApiKey.DescribeGroups)).toEqual([0, 4])
    expect(advertised.get(ApiKey.ListGroups)).toEqual([0, 2])
    expect(advertised.get(ApiKey.DescribeConfigs)).toEqual([0, 2])
  })

  it('listGroups_throughDispatch_answersAtEveryVersion', async () => {
    const actors = new FakeActors().on(`broker/${SELF}`, BrokerRequest.metadata, offsetsMetadata(['n1'])).on('coordinator/0/n1', GroupRequest.listGroups, listed('g'))
    for (const apiVersion of [0, 1, 2]) {
      const body = asClientReads(ApiKey.ListGroups, apiVersion, await dispatchAsClient(actors.node(), ApiKey.ListGroups, apiVersion, {}))
      expect(body.groups).toEqual([{ groupId: 'g', protocolType: 'consumer' }])
    }
  })
})

describe('broker configs (the native describeConfigs answer)', () => {
  it('brokerConfigEntries_defaultSettings_areAllDefault', () => {
    const entries = brokerConfigEntries(BROKER_SETTINGS_DEFAULT)
    expect(entries.find((e) => e.name === 'offsets.topic.num.partitions')).toEqual({ name: 'offsets.topic.num.partitions', value: String(BROKER_SETTINGS_DEFAULT.offsetsTopicPartitions), isDefault: true })
    expect(entries.every((e) => e.isDefault)).toBe(true)
  })

  it('brokerConfigEntries_aSettingOverridden_isNotDefault', () => {
    const settings = { ...BROKER_SETTINGS_DEFAULT, offsetsTopicPartitions: 3, groupLimits: { ...BROKER_SETTINGS_DEFAULT.groupLimits, membersMax: 7 } }
    const changed = brokerConfigEntries(settings).filter((e) => !e.isDefault)
    expect(changed).toEqual([
      { name: 'offsets.topic.num.partitions', value: '3', isDefault: false },
      { name: 'group.max.size', value: '7', isDefault: false },
    ])
  })
})
