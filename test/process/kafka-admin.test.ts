import { AssignerProtocol, ConfigResourceTypes, ConfigSource, Kafka, logLevel } from 'kafkajs'
import { afterEach, describe, expect, it } from 'vitest'
import { Client } from '../../src/index.js'
import { kafkaBrokerId } from '../../src/kafka/broker-ids.js'
import { startKafkaCluster } from '../helpers/kafka-cluster.js'
import { Processes, retry } from '../helpers/processes.js'

/**
 * The Kafka admin reads (ListGroups, DescribeGroups, DescribeConfigs) from kafkajs's admin
 * against a real three-process skein cluster, with one group joined through kafkajs and one
 * through the native SDK: both live on the same coordinators, so each tool sees the other's.
 * Three nodes because ListGroups is per node (each lists the groups it coordinates, and
 * kafkajs concatenates every broker's answer): one node could not show a group listed once.
 */

const CLUSTER = { clusterId: 'kafka-admin', secret: 'kafka-admin-secret-0123456789abcdef' }
const NODE_IDS = ['n1', 'n2', 'n3'] as const
/** Gossip, the metadata quorum and the offsets topic settle within a few seconds; bounds a hung test. */
const CLUSTER_READY_MS = 30_000
/** A group's first rebalance waits group.initial.rebalance.delay.ms (3 s) for more members. */
const GROUP_STABLE_MS = 30_000
const TOPIC = 'admin-topic'
/** Set at creation, so DescribeConfigs must tell it apart from the defaults. */
const RETENTION_MS = '3600000'

const procs = new Processes()
const cleanups: (() => Promise<unknown>)[] = []

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined)
  await procs.cleanup()
})

function startCluster(): Promise<{ kafkaPorts: number[]; seed: string }> {
  return startKafkaCluster(procs, CLUSTER, NODE_IDS)
}

describe('kafkajs admin reads on skein', () => {
  it('lists and describes kafkajs and native groups alike, and describes topic and broker configs', async () => {
    const { kafkaPorts, seed } = await startCluster()
    const kafka = new Kafka({
      clientId: 'kafka-admin-test',
      brokers: [`127.0.0.1:${kafkaPorts[0]}`],
      logLevel: logLevel.NOTHING,
      retry: { retries: 10, initialRetryTime: 100, maxRetryTime: 1_000 },
    })
    const admin = kafka.admin()
    await retry(() => admin.connect(), CLUSTER_READY_MS, 200)
    cleanups.push(() => admin.disconnect())
    await retry(async () => expect((await admin.describeCluster()).brokers).toHaveLength(NODE_IDS.length), CLUSTER_READY_MS, 200)
    await retry(
      () => admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: 2, replicationFactor: 3, configEntries: [{ name: 'retention.ms', value: RETENTION_MS }] }], waitForLeaders: true }),
      CLUSTER_READY_MS,
      500,
    )

    // DescribeConfigs, topic: the value given at creation, and the defaults skein applies.
    const described = await admin.describeConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name: TOPIC }], includeSynonyms: false })
    const entries = new Map(described.resources[0]?.configEntries.map((entry) => [entry.configName, entry]))
    expect(entries.get('retention.ms')).toMatchObject({ configValue: RETENTION_MS, isDefault: false, configSource: ConfigSource.TOPIC_CONFIG, readOnly: true })
    expect(entries.get('segment.bytes')).toMatchObject({ configValue: String(1024 ** 3), isDefault: true, configSource: ConfigSource.DEFAULT_CONFIG })
    expect(entries.get('retention.bytes')).toMatchObject({ configValue: '-1', isDefault: true })
    expect(entries.has('cleanup.policy')).toBe(false) // skein has no compaction: not a config it honours
    const onlyRetention = await admin.describeConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name: TOPIC, configNames: ['retention.ms'] }], includeSynonyms: false })
    expect(onlyRetention.resources[0]?.configEntries.map((entry) => entry.configName)).toEqual(['retention.ms'])
    await expect(admin.describeConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name: 'no-such-topic' }], includeSynonyms: false })).rejects.toThrow(/does not host this topic-partition/)

    // DescribeConfigs, broker: kafkajs sends it to the broker it names.
    const brokerId = String(kafkaBrokerId('n2'))
    const broker = await admin.describeConfigs({ resources: [{ type: ConfigResourceTypes.BROKER, name: brokerId }], includeSynonyms: false })
    expect(broker.resources[0]?.configEntries.find((entry) => entry.configName === 'offsets.topic.num.partitions')).toMatchObject({ configValue: '10', isDefault: true })

    // A kafkajs consumer group and a native SDK consumer group on the same topic.
    const consumer = kafka.consumer({ groupId: 'kafkajs-admin-group', sessionTimeout: 10_000, heartbeatInterval: 500, maxWaitTimeInMs: 200 })
    cleanups.push(() => consumer.disconnect())
    const kafkajsJoined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()))
    await consumer.connect()
    await consumer.subscribe({ topic: TOPIC, fromBeginning: true })
    await consumer.run({ eachMessage: async () => undefined })
    const client = new Client({ seeds: [seed], clusterId: CLUSTER.clusterId, clusterSecret: CLUSTER.secret, clientId: 'native-admin-test' })
    cleanups.push(() => client.close())
    const native = client.consumer({ groupId: 'native-admin-group', fromBeginning: true })
    cleanups.push(() => native.close())
    const nativeJoined = new Promise<void>((resolve) => native.subscribe(TOPIC, { onAssigned: () => resolve() }))
    await Promise.all([kafkajsJoined, nativeJoined])

    // ListGroups: kafkajs asks every broker and concatenates; each group is listed exactly once.
    await retry(async () => {
      const { groups } = await admin.listGroups()
      const ids = groups.map((group) => group.groupId)
      expect(ids.filter((id) => id === 'kafkajs-admin-group')).toHaveLength(1)
      expect(ids.filter((id) => id === 'native-admin-group')).toHaveLength(1)
      expect(ids).toHaveLength(new Set(ids).size)
      expect(groups.every((group) => group.protocolType === 'consumer')).toBe(true)
    }, GROUP_STABLE_MS, 300)
    // And the native admin sees the kafkajs group: the same coordinators.
    expect((await client.admin().listGroups()).map((group) => group.groupId)).toEqual(expect.arrayContaining(['kafkajs-admin-group', 'native-admin-group']))

    // DescribeGroups: both groups Stable with one member owning both partitions; an unknown one is Dead.
    await retry(async () => {
      // kafkajs answers in coordinator order, not request order.
      const { groups } = await admin.describeGroups(['kafkajs-admin-group', 'native-admin-group', 'no-such-group'])
      const byId = new Map(groups.map((group) => [group.groupId, group]))
      expect([...byId.keys()].sort()).toEqual(['kafkajs-admin-group', 'native-admin-group', 'no-such-group'])
      // protocol is the assignor the coordinator carries: the gateway joins Kafka members as
      // 'roundrobin' (their leader assigns client-side); the native consumer's default is cooperative-sticky.
      const expected = [['kafkajs-admin-group', 'roundrobin'], ['native-admin-group', 'cooperative-sticky']] as const
      for (const [groupId, protocol] of expected) {
        const group = byId.get(groupId)
        expect(group).toMatchObject({ errorCode: 0, state: 'Stable', protocolType: 'consumer', protocol })
        expect(group?.members).toHaveLength(1)
        const member = group?.members[0]
        expect(AssignerProtocol.MemberMetadata.decode(member?.memberMetadata as Buffer)?.topics).toEqual([TOPIC])
        expect(AssignerProtocol.MemberAssignment.decode(member?.memberAssignment as Buffer)?.assignment).toEqual({ [TOPIC]: [0, 1] })
        expect(member).toMatchObject({ clientId: '', clientHost: '' })
      }
      expect(byId.get('no-such-group')).toMatchObject({ groupId: 'no-such-group', errorCode: 0, state: 'Dead', members: [] })
    }, GROUP_STABLE_MS, 300)
  }, 90_000)
})
