import { describe, expect, it } from 'vitest'
import { silentLogger } from '../../src/env/logger.js'
import type { GatewayNode } from '../../src/kafka/handlers/gateway.js'
import { KafkaEndpoints } from '../../src/kafka/handlers/gateway.js'
import { handleCreateTopics, handleMetadata } from '../../src/kafka/handlers/cluster.js'
import {
  BrokerRequest,
  type CreateTopicRequest,
  ErrorCode,
  INTERNAL_TOPICS,
  type MetadataResponse,
  OFFSETS_TOPIC,
  SkeinError,
  TXN_STATE_TOPIC,
  type TopicDescription,
} from '../../src/wire/index.js'

/**
 * The Metadata and CreateTopics handlers against a fake node: its broker actor is a map of
 * topics that createTopic adds to, so auto-creation and default replication factors are
 * checked on what the handlers ask and answer, with no sockets.
 */

const NODES = ['n1', 'n2']

function topicDescription(name: string, partitions: number): TopicDescription {
  return {
    name,
    topicId: `id-${name}`,
    configs: {},
    partitions: Array.from({ length: partitions }, (_, partition) => ({ partition, replicas: NODES, leader: 'n1', leaderEpoch: 1 })),
  }
}

class FakeBroker {
  readonly topics = new Map<string, TopicDescription>()
  readonly created: CreateTopicRequest[] = []
  /** Created topics show in metadata only after this many more metadata asks (a lagging view). */
  metadataLag = 0
  createError: SkeinError | undefined

  node(autoCreateTopics: boolean): GatewayNode {
    return {
      nodeId: 'n1',
      clock: { nowMs: () => 0, wallMs: () => 0, setTimer: () => ({ cancel: () => undefined }) } as unknown as GatewayNode['clock'],
      log: silentLogger,
      selfEndpoint: { host: '127.0.0.1', port: 9092 },
      autoCreateTopics,
      ask: async <T>(actorId: string, kind: string, payload: unknown): Promise<T> => {
        if (actorId.startsWith('kafka/')) return { host: '127.0.0.1', port: 9093 } as T
        if (kind === BrokerRequest.metadata) return this.metadata(payload as { topics?: string[] }) as T
        if (kind === BrokerRequest.createTopic) {
          const request = payload as CreateTopicRequest
          this.created.push(request)
          if (this.createError !== undefined) throw this.createError
          if (this.topics.has(request.name)) throw new SkeinError(ErrorCode.TOPIC_ALREADY_EXISTS)
          this.topics.set(request.name, topicDescription(request.name, request.partitions))
          return {} as T
        }
        throw new Error(`unexpected ask ${kind} to ${actorId}`)
      },
    }
  }

  private metadata(request: { topics?: string[] }): MetadataResponse {
    const visible = this.metadataLag-- > 0 ? [] : [...this.topics.values()]
    const topics = request.topics === undefined ? visible : visible.filter((t) => request.topics?.includes(t.name))
    return { version: 1, nodes: NODES.map((id) => ({ id, address: `${id}:1`, zone: '' })), controller: 'n1', topics }
  }
}

async function metadataFor(broker: FakeBroker, autoCreate: boolean, names: string[], allowAutoTopicCreation = true, apiVersion = 6) {
  const node = broker.node(autoCreate)
  const request = { topics: names.map((name) => ({ name })), allowAutoTopicCreation, includeClusterAuthorizedOperations: false, includeTopicAuthorizedOperations: false }
  return handleMetadata(node, new KafkaEndpoints(node), request, apiVersion)
}

describe('Metadata auto-creation', () => {
  it('metadata_unknownTopicWithAutoCreate_createsItWithOnePartitionAndTheNodeCappedReplicationFactor', async () => {
    const broker = new FakeBroker()
    const answer = await metadataFor(broker, true, ['orders'])
    expect(broker.created).toEqual([{ name: 'orders', partitions: 1, replicationFactor: 2, configs: {} }])
    expect(answer.topics).toHaveLength(1)
    expect(answer.topics[0]?.errorCode).toBe(0)
    expect(answer.topics[0]?.partitions.map((p) => p.partitionIndex)).toEqual([0])
  })

  it('metadata_autoCreatedTopicNotYetInTheView_isLeaderNotAvailable', async () => {
    const broker = new FakeBroker()
    broker.metadataLag = 2
    const answer = await metadataFor(broker, true, ['orders'])
    expect(answer.topics[0]?.errorCode).toBe(ErrorCode.LEADER_NOT_AVAILABLE.kafkaCode)
  })

  it('metadata_topicCreatedMeanwhileByAnotherRequest_isLeaderNotAvailableNotAnError', async () => {
    const broker = new FakeBroker()
    broker.topics.set('orders', topicDescription('orders', 3))
    broker.metadataLag = 2
    const answer = await metadataFor(broker, true, ['orders'])
    expect(broker.created.map((c) => c.name)).toEqual(['orders'])
    expect(answer.topics[0]?.errorCode).toBe(ErrorCode.LEADER_NOT_AVAILABLE.kafkaCode)
  })

  it('metadata_invalidTopicName_answersWhyTheCreationFailed', async () => {
    const broker = new FakeBroker()
    broker.createError = new SkeinError(ErrorCode.INVALID_TOPIC_EXCEPTION)
    const answer = await metadataFor(broker, true, ['bad/name'])
    expect(answer.topics[0]?.errorCode).toBe(ErrorCode.INVALID_TOPIC_EXCEPTION.kafkaCode)
  })

  it('metadata_autoCreateOff_answersUnknownTopicAndCreatesNothing', async () => {
    const broker = new FakeBroker()
    const answer = await metadataFor(broker, false, ['orders'])
    expect(broker.created).toEqual([])
    expect(answer.topics[0]?.errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION.kafkaCode)
  })

  it('metadata_clientDisallowsAutoCreation_createsNothing', async () => {
    const broker = new FakeBroker()
    const answer = await metadataFor(broker, true, ['orders'], false)
    expect(broker.created).toEqual([])
    expect(answer.topics[0]?.errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION.kafkaCode)
  })

  it('metadata_allTopics_neverCreates', async () => {
    const broker = new FakeBroker()
    const node = broker.node(true)
    const answer = await handleMetadata(node, new KafkaEndpoints(node), { topics: null, allowAutoTopicCreation: true, includeClusterAuthorizedOperations: false, includeTopicAuthorizedOperations: false }, 6)
    expect(broker.created).toEqual([])
    expect(answer.topics).toEqual([])
    expect(answer.brokers.map((b) => b.port).sort()).toEqual([9092, 9093])
  })
})

describe('Metadata internal topics', () => {
  it('metadata_everyInternalTopic_isInternal_andNoOtherIs', async () => {
    const broker = new FakeBroker()
    for (const name of [...INTERNAL_TOPICS, 'orders']) broker.topics.set(name, topicDescription(name, 1))
    const answer = await metadataFor(broker, false, [OFFSETS_TOPIC, TXN_STATE_TOPIC, 'orders'])
    expect(answer.topics.map((t) => [t.name, t.isInternal])).toEqual([
      [OFFSETS_TOPIC, true],
      [TXN_STATE_TOPIC, true],
      ['orders', false],
    ])
  })
})

describe('CreateTopics defaults', () => {
  it('createTopics_replicationFactorMinusOne_usesThreeCappedByTheNodes', async () => {
    const broker = new FakeBroker()
    const answer = await handleCreateTopics(broker.node(false), {
      topics: [
        { name: 'a', numPartitions: -1, replicationFactor: -1, assignments: [], configs: [] },
        { name: 'b', numPartitions: 4, replicationFactor: 1, assignments: [], configs: [{ name: 'retention.ms', value: '1000' }] },
      ],
      timeoutMs: 5_000,
      validateOnly: false,
    })
    expect(answer.topics.map((t) => [t.name, t.errorCode])).toEqual([
      ['a', 0],
      ['b', 0],
    ])
    expect(broker.created).toEqual([
      { name: 'a', partitions: 1, replicationFactor: 2, configs: {} },
      { name: 'b', partitions: 4, replicationFactor: 1, configs: { 'retention.ms': '1000' } },
    ])
  })
})
