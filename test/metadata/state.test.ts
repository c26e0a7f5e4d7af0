import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  type ApplyOutcome,
  type ClusterMetadata,
  EMPTY_METADATA,
  type MetadataCommand,
  PARTITIONS_PER_TOPIC_MAX,
  REPLICAS_PER_PARTITION_MAX,
  TOPIC_ID_LENGTH_MAX,
  UNEXPECTED_PREFIX,
  applyMetadataCommand,
  metadataFromJson,
  metadataToJson,
  sortedTopics,
} from '../../actors/metadata/state.js'
import { TOPIC_CONFIGS_DEFAULT } from '../../actors/metadata/topic-configs.js'
import { ErrorCode } from '../../src/wire/errors.js'

const code = {
  invalidTopic: ErrorCode.INVALID_TOPIC_EXCEPTION.code,
  exists: ErrorCode.TOPIC_ALREADY_EXISTS.code,
  partitions: ErrorCode.INVALID_PARTITIONS.code,
  replicationFactor: ErrorCode.INVALID_REPLICATION_FACTOR.code,
  assignment: ErrorCode.INVALID_REPLICA_ASSIGNMENT.code,
  config: ErrorCode.INVALID_CONFIG.code,
  unknown: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION.code,
  mismatch: ErrorCode.METADATA_VERSION_MISMATCH.code,
  request: ErrorCode.INVALID_REQUEST.code,
}

const skeinError = (errorCode: number): unknown => expect.objectContaining({ name: 'SkeinError', code: errorCode })

type Create = Extract<MetadataCommand, { op: 'createTopic' }>

function create(state: ClusterMetadata, name: string, overrides: Partial<Create> = {}): Create {
  return {
    op: 'createTopic',
    expectedVersion: state.version,
    name,
    topicId: `id-${name.slice(0, 20)}-${state.version}`,
    configs: TOPIC_CONFIGS_DEFAULT,
    partitions: [
      ['n1', 'n2', 'n3'],
      ['n2', 'n3', 'n1'],
    ],
    ...overrides,
  }
}

/** Applies and requires success. */
function applyOk(state: ClusterMetadata, command: unknown): ClusterMetadata {
  const result = applyMetadataCommand(state, command)
  expect(result.outcome).toEqual({ ok: true, version: state.version + 1 })
  return result.state
}

/** Applies and requires a refusal with `errorCode` that leaves the very same state object. */
function applyRefused(state: ClusterMetadata, command: unknown, errorCode: number, message: RegExp = /./): ApplyOutcome {
  const result = applyMetadataCommand(state, command)
  expect(result.outcome).toEqual({ ok: false, code: errorCode, message: expect.stringMatching(message) })
  expect(result.state).toBe(state)
  return result.outcome
}

/** A state with topic "orders" (2 partitions x 3 replicas) at version 1. */
const withOrders = (): ClusterMetadata => applyOk(EMPTY_METADATA, create(EMPTY_METADATA, 'orders'))

describe('applyMetadataCommand: createTopic', () => {
  it('EMPTY_METADATA_isVersionZeroWithNoTopics', () => {
    expect(EMPTY_METADATA.version).toBe(0)
    expect(EMPTY_METADATA.topics.size).toBe(0)
  })

  it('createTopic_valid_addsTopicAtNextVersion', () => {
    const state = withOrders()
    expect(state.version).toBe(1)
    expect(state.topics.get('orders')).toEqual({
      name: 'orders',
      topicId: 'id-orders-0',
      configs: TOPIC_CONFIGS_DEFAULT,
      partitions: [
        ['n1', 'n2', 'n3'],
        ['n2', 'n3', 'n1'],
      ],
      replicationFactor: 3,
      createdAtVersion: 1,
    })
  })

  it('createTopic_existingName_refusesTopicAlreadyExists', () => {
    const state = withOrders()
    applyRefused(state, create(state, 'orders', { topicId: 'other' }), code.exists, /orders already exists/)
  })

  it('createTopic_topicIdOfAnotherTopic_refuses', () => {
    const state = withOrders()
    applyRefused(state, create(state, 'payments', { topicId: 'id-orders-0' }), code.request, /already used by topic orders/)
  })

  it.each(['', '.', '..', 'a b', 'x'.repeat(250), '__cluster_metadata', '__'])('createTopic_invalidName_refusesInvalidTopic: %j', (name) => {
    applyRefused(EMPTY_METADATA, create(EMPTY_METADATA, name), code.invalidTopic)
  })

  it('createTopic_consumerOffsetsOrLongestName_accepts', () => {
    applyOk(EMPTY_METADATA, create(EMPTY_METADATA, '__consumer_offsets'))
    applyOk(EMPTY_METADATA, create(EMPTY_METADATA, 'x'.repeat(249)))
  })

  it('createTopic_partitionCountEdges_acceptsOneAndMaxRefusesZeroAndMaxPlusOne', () => {
    const partitions = (count: number): string[][] => Array.from({ length: count }, () => ['n1'])
    applyOk(EMPTY_METADATA, create(EMPTY_METADATA, 't', { partitions: partitions(1) }))
    applyOk(EMPTY_METADATA, create(EMPTY_METADATA, 't', { partitions: partitions(PARTITIONS_PER_TOPIC_MAX) }))
    applyRefused(EMPTY_METADATA, create(EMPTY_METADATA, 't', { partitions: [] }), code.partitions, /at least one/)
    applyRefused(EMPTY_METADATA, create(EMPTY_METADATA, 't', { partitions: partitions(PARTITIONS_PER_TOPIC_MAX + 1) }), code.partitions, /10001 partitions/)
  })

  it.each([
    ['an empty replica list', [['n1'], []], /lists no replicas/],
    ['a duplicate replica', [['n1', 'n2', 'n1']], /lists node "n1" twice/],
    ['lists of different lengths', [['n1', 'n2'], ['n1']], /partition 1 has 1 replicas but partition 0 has 2/],
    ['an empty node id', [['n1', '']], /node id of 0 characters/],
    ['a node id over the limit', [['n'.repeat(257)]], /node id of 257 characters/],
  ])('createTopic_%s_refusesInvalidReplicaAssignment', (_, partitions, message) => {
    applyRefused(EMPTY_METADATA, create(EMPTY_METADATA, 't', { partitions }), code.assignment, message)
  })

  it('createTopic_replicasOverLimit_refusesInvalidReplicationFactor', () => {
    const nodes = (count: number): string[] => Array.from({ length: count }, (_, index) => `n${index}`)
    applyOk(EMPTY_METADATA, create(EMPTY_METADATA, 't', { partitions: [nodes(REPLICAS_PER_PARTITION_MAX)] }))
    applyRefused(EMPTY_METADATA, create(EMPTY_METADATA, 't', { partitions: [nodes(REPLICAS_PER_PARTITION_MAX + 1)] }), code.replicationFactor)
  })

  it('createTopic_configsOutOfRange_refusesInvalidConfig', () => {
    const configs = { ...TOPIC_CONFIGS_DEFAULT, retentionMs: 0 }
    applyRefused(EMPTY_METADATA, create(EMPTY_METADATA, 't', { configs }), code.config, /retention\.ms/)
  })

  it.each([
    ['topicId empty', { topicId: '' }],
    ['topicId too long', { topicId: 'i'.repeat(TOPIC_ID_LENGTH_MAX + 1) }],
    ['topicId not a string', { topicId: 7 }],
    ['name not a string', { name: 7 }],
    ['configs missing', { configs: undefined }],
    ['configs an array', { configs: [] }],
    ['partitions not an array', { partitions: 'n1' }],
    ['replica list not an array', { partitions: ['n1'] }],
    ['node id not a string', { partitions: [[1]] }],
    ['sparse partitions', { partitions: [, ['n1']] }], // eslint-disable-line no-sparse-arrays
    ['expectedVersion negative', { expectedVersion: -1 }],
    ['expectedVersion fractional', { expectedVersion: 0.5 }],
    ['expectedVersion a string', { expectedVersion: '0' }],
  ])('createTopic_%s_refusesInvalidRequest', (_, overrides) => {
    applyRefused(EMPTY_METADATA, { ...create(EMPTY_METADATA, 't'), ...overrides }, code.request)
  })

  it('createTopic_laterChangeToCommand_doesNotReachState', () => {
    const command = create(EMPTY_METADATA, 't', { configs: { ...TOPIC_CONFIGS_DEFAULT } })
    const state = applyOk(EMPTY_METADATA, command)
    const partition0 = command.partitions[0] ?? []
    partition0[0] = 'changed'
    ;(command.configs as { retentionMs: number }).retentionMs = 5
    expect(state.topics.get('t')?.partitions[0]?.[0]).toBe('n1')
    expect(state.topics.get('t')?.configs.retentionMs).toBe(TOPIC_CONFIGS_DEFAULT.retentionMs)
  })

  it('createTopic_result_isFrozenAllTheWayToReplicaLists', () => {
    const topic = withOrders().topics.get('orders')
    expect(Object.isFrozen(topic)).toBe(true)
    expect(Object.isFrozen(topic?.partitions)).toBe(true)
    expect(Object.isFrozen(topic?.partitions[0])).toBe(true)
    expect(Object.isFrozen(topic?.configs)).toBe(true)
  })
})

describe('applyMetadataCommand: deleteTopic, addPartitions, setReplicas', () => {
  it('deleteTopic_existing_removesItAndKeepsOldStateIntact', () => {
    const before = withOrders()
    const after = applyOk(before, { op: 'deleteTopic', expectedVersion: 1, name: 'orders' })
    expect(after.topics.has('orders')).toBe(false)
    expect(before.topics.has('orders')).toBe(true)
  })

  it('deleteTopic_missing_refusesUnknownTopic', () => {
    applyRefused(EMPTY_METADATA, { op: 'deleteTopic', expectedVersion: 0, name: 'orders' }, code.unknown, /topic "orders" does not exist/)
  })

  it('createTopic_afterDelete_takesNewIdAndVersion', () => {
    const deleted = applyOk(withOrders(), { op: 'deleteTopic', expectedVersion: 1, name: 'orders' })
    const recreated = applyOk(deleted, create(deleted, 'orders', { topicId: 'new-id' }))
    expect(recreated.topics.get('orders')).toMatchObject({ topicId: 'new-id', createdAtVersion: 3 })
  })

  it('addPartitions_sameReplicationFactor_appendsAfterExisting', () => {
    const state = applyOk(withOrders(), { op: 'addPartitions', expectedVersion: 1, name: 'orders', partitions: [['n3', 'n1', 'n2']] })
    expect(state.topics.get('orders')?.partitions).toEqual([
      ['n1', 'n2', 'n3'],
      ['n2', 'n3', 'n1'],
      ['n3', 'n1', 'n2'],
    ])
    expect(state.topics.get('orders')?.createdAtVersion).toBe(1)
  })

  it('addPartitions_missingTopic_refusesUnknownTopic', () => {
    applyRefused(EMPTY_METADATA, { op: 'addPartitions', expectedVersion: 0, name: 'orders', partitions: [['n1']] }, code.unknown)
  })

  it('addPartitions_none_refusesInvalidPartitions', () => {
    applyRefused(withOrders(), { op: 'addPartitions', expectedVersion: 1, name: 'orders', partitions: [] }, code.partitions)
  })

  it('addPartitions_pastTotalLimit_refusesInvalidPartitions', () => {
    const toLimit = Array.from({ length: PARTITIONS_PER_TOPIC_MAX - 2 }, () => ['n1', 'n2', 'n3'])
    const full = applyOk(withOrders(), { op: 'addPartitions', expectedVersion: 1, name: 'orders', partitions: toLimit })
    expect(full.topics.get('orders')?.partitions.length).toBe(PARTITIONS_PER_TOPIC_MAX)
    applyRefused(full, { op: 'addPartitions', expectedVersion: 2, name: 'orders', partitions: [['n1', 'n2', 'n3']] }, code.partitions, /would have 10001/)
  })

  it('addPartitions_otherReplicationFactor_refusesInvalidReplicaAssignment', () => {
    applyRefused(withOrders(), { op: 'addPartitions', expectedVersion: 1, name: 'orders', partitions: [['n1', 'n2']] }, code.assignment, /have 2 replicas but its partitions have 3/)
  })

  it('setReplicas_existingPartition_replacesOnlyThatList', () => {
    const before = withOrders()
    const after = applyOk(before, { op: 'setReplicas', expectedVersion: 1, name: 'orders', partition: 1, replicas: ['n4', 'n2', 'n3'] })
    expect(after.topics.get('orders')?.partitions).toEqual([
      ['n1', 'n2', 'n3'],
      ['n4', 'n2', 'n3'],
    ])
    expect(after.topics.get('orders')?.partitions[0]).toBe(before.topics.get('orders')?.partitions[0])
    expect(before.topics.get('orders')?.partitions[1]).toEqual(['n2', 'n3', 'n1'])
  })

  it('setReplicas_reassignmentStepOfOtherLength_accepts', () => {
    const grown = applyOk(withOrders(), { op: 'setReplicas', expectedVersion: 1, name: 'orders', partition: 0, replicas: ['n1', 'n2', 'n3', 'n4'] })
    const shrunk = applyOk(grown, { op: 'setReplicas', expectedVersion: 2, name: 'orders', partition: 0, replicas: ['n2', 'n3', 'n4'] })
    expect(shrunk.topics.get('orders')?.partitions[0]).toEqual(['n2', 'n3', 'n4'])
  })

  it.each([2, -1, 10_000])('setReplicas_missingPartition_refusesUnknownPartition: %i', (partition) => {
    applyRefused(withOrders(), { op: 'setReplicas', expectedVersion: 1, name: 'orders', partition, replicas: ['n1'] }, code.unknown, /has no partition/)
  })

  it('setReplicas_missingTopic_refusesUnknownTopic', () => {
    applyRefused(withOrders(), { op: 'setReplicas', expectedVersion: 1, name: 'other', partition: 0, replicas: ['n1'] }, code.unknown)
  })

  it.each([
    [[], code.assignment],
    [['n1', 'n1'], code.assignment],
    [['n1', 2], code.request],
  ])('setReplicas_badList_refuses: %j', (replicas, errorCode) => {
    applyRefused(withOrders(), { op: 'setReplicas', expectedVersion: 1, name: 'orders', partition: 0, replicas }, errorCode)
  })
})

describe('applyMetadataCommand: compare-and-set and garbage', () => {
  it('apply_twoCommandsOnSameVersion_onlyFirstApplies', () => {
    const base = withOrders()
    const first = create(base, 'payments')
    const second = create(base, 'refunds')
    const afterFirst = applyOk(base, first)
    applyRefused(afterFirst, second, code.mismatch, /based on metadata version 1, but the current version is 2/)
    expect([...afterFirst.topics.keys()].sort()).toEqual(['orders', 'payments'])
  })

  it('apply_expectedVersionAhead_refusesMismatch', () => {
    applyRefused(withOrders(), { op: 'deleteTopic', expectedVersion: 2, name: 'orders' }, code.mismatch)
  })

  it('apply_staleButOtherwiseValid_refusesMismatchBeforeStateChecks', () => {
    // The topic exists, but the proposer must re-read first: its view is stale.
    const state = withOrders()
    applyRefused(state, create(EMPTY_METADATA, 'orders'), code.mismatch)
  })

  it.each([
    ['undefined', undefined],
    ['null', null],
    ['a number', 42],
    ['a string', 'createTopic'],
    ['an array', ['createTopic', 0]],
    ['an empty object', {}],
    ['an unknown op', { op: 'dropEverything', expectedVersion: 0 }],
    ['an op that is an Object method', { op: 'toString', expectedVersion: 0 }],
    ['op not a string', { op: 1, expectedVersion: 0 }],
    ['no expectedVersion', { op: 'deleteTopic', name: 'orders' }],
    ['missing fields', { op: 'createTopic', expectedVersion: 0 }],
    ['an inherited op', Object.create({ op: 'deleteTopic', expectedVersion: 0, name: 'orders' }) as unknown],
    ['partition not an integer', { op: 'setReplicas', expectedVersion: 0, name: 'orders', partition: '0', replicas: ['n1'] }],
    ['a huge unknown op', { op: 'x'.repeat(100_000), expectedVersion: 0 }],
  ])('apply_garbage_%s_refusesInvalidRequest', (_, command) => {
    const outcome = applyRefused(EMPTY_METADATA, command, code.request)
    expect(outcome.ok === false && outcome.message.startsWith(UNEXPECTED_PREFIX)).toBe(false)
    expect(outcome.ok === false && outcome.message.length).toBeLessThan(300)
  })
})

describe('metadata snapshots', () => {
  const sample = (): ClusterMetadata => {
    let state = EMPTY_METADATA
    for (const name of ['zeta', 'Alpha', 'alpha', '__consumer_offsets', 'm.1']) state = applyOk(state, create(state, name))
    state = applyOk(state, { op: 'setReplicas', expectedVersion: state.version, name: 'alpha', partition: 0, replicas: ['n9'] })
    return applyOk(state, { op: 'deleteTopic', expectedVersion: state.version, name: 'm.1' })
  }

  it('sortedTopics_mixedCase_sortsByCodeUnitNotLocale', () => {
    expect(sortedTopics(sample()).map((topic) => topic.name)).toEqual(['Alpha', '__consumer_offsets', 'alpha', 'zeta'])
  })

  it('metadataToJson_state_isPlainSortedAndSurvivesJson', () => {
    const json = metadataToJson(sample()) as { version: number; topics: { name: string }[] }
    expect(json.version).toBe(7)
    expect(json.topics.map((topic) => topic.name)).toEqual(['Alpha', '__consumer_offsets', 'alpha', 'zeta'])
    expect(JSON.parse(JSON.stringify(json))).toEqual(json)
  })

  it('metadataFromJson_ofToJson_roundTripsAndKeepsApplying', () => {
    const state = sample()
    const restored = metadataFromJson(JSON.parse(JSON.stringify(metadataToJson(state))))
    expect(restored.version).toBe(state.version)
    expect([...restored.topics.entries()].sort()).toEqual([...state.topics.entries()].sort())
    expect(metadataToJson(restored)).toEqual(metadataToJson(state))
    const next = create(state, 'after')
    expect(metadataToJson(applyMetadataCommand(restored, next).state)).toEqual(metadataToJson(applyMetadataCommand(state, next).state))
  })

  it('metadataFromJson_empty_isEmpty', () => {
    expect(metadataToJson(metadataFromJson(metadataToJson(EMPTY_METADATA)))).toEqual({ version: 0, nextProducerId: 0, topics: [] })
  })

  it('metadataFromJson_snapshotWithoutProducerIds_startsThemAtZero', () => {
    expect(metadataFromJson({ version: 3, topics: [] }).nextProducerId).toBe(0)
    expect(() => metadataFromJson({ version: 3, nextProducerId: -1, topics: [] })).toThrow(skeinError(code.request))
  })

  const good = (): { version: number; topics: Record<string, unknown>[] } =>
    metadataToJson(sample()) as { version: number; topics: Record<string, unknown>[] }
  const breakTopic = (change: Record<string, unknown>): unknown => {
    const json = good()
    json.topics[0] = { ...json.topics[0], ...change }
    return json
  }

  it.each([
    ['not an object', () => 'snapshot'],
    ['version negative', () => ({ ...good(), version: -1 })],
    ['version missing', () => ({ topics: [] })],
    ['topics not an array', () => ({ version: 0, topics: {} })],
    ['a duplicate name', () => ({ ...good(), topics: [...good().topics, good().topics[0]] })],
    ['a duplicate topic id', () => breakTopic({ name: 'other', topicId: good().topics[1]?.['topicId'] })],
    ['createdAtVersion after version', () => breakTopic({ createdAtVersion: 8 })],
    ['createdAtVersion zero', () => breakTopic({ createdAtVersion: 0 })],
    ['an invalid name', () => breakTopic({ name: 'a/b' })],
    ['bad configs', () => breakTopic({ configs: { ...TOPIC_CONFIGS_DEFAULT, flush: 'sometimes' } })],
    ['no partitions', () => breakTopic({ partitions: [] })],
    ['a duplicate replica', () => breakTopic({ partitions: [['n1', 'n1']] })],
    ['a topic that is not an object', () => ({ ...good(), topics: [null] })],
  ])('metadataFromJson_%s_throwsInvalidRequest', (_, json) => {
    expect(() => metadataFromJson(json())).toThrow(skeinError(code.request))
  })
})

describe('applyMetadataCommand (property)', () => {
  // Mostly a few good names, so that commands meet the topics earlier ones created.
  const names = fc.oneof({ weight: 6, arbitrary: fc.constantFrom('a', 'b', 'c') }, { weight: 1, arbitrary: fc.constantFrom('__consumer_offsets', '__x', 'bad name', '.') })
  const nodes = ['n1', 'n2', 'n3', 'n4']
  const validPartitions = fc
    .integer({ min: 1, max: 3 })
    .chain((rf) => fc.array(fc.shuffledSubarray(nodes, { minLength: rf, maxLength: rf }), { minLength: 1, maxLength: 3 }))
  const anyPartitions = fc.array(fc.array(fc.constantFrom(...nodes, '', 'n1'), { maxLength: 4 }), { maxLength: 4 })
  const partitions = fc.oneof({ weight: 4, arbitrary: validPartitions }, { weight: 1, arbitrary: anyPartitions })
  const configs = fc.oneof(
    { weight: 4, arbitrary: fc.constant(TOPIC_CONFIGS_DEFAULT) },
    { weight: 1, arbitrary: fc.constant({ ...TOPIC_CONFIGS_DEFAULT, segmentBytes: 1 }) },
    { weight: 1, arbitrary: fc.constant({ ...TOPIC_CONFIGS_DEFAULT, flush: 'interval', flushIntervalMs: 5 }) },
  )
  /** 'current' is replaced by the state's version when the sequence is built, so most commands can apply. */
  const expectedVersion = fc.oneof({ weight: 4, arbitrary: fc.constant('current' as const) }, { weight: 1, arbitrary: fc.integer({ min: -1, max: 30 }) })
  const command = fc.oneof(
    {
      weight: 4,
      arbitrary: fc.record({ op: fc.constant('createTopic'), expectedVersion, name: names, topicId: fc.constantFrom('i1', 'i2', 'i3', 'i4', 'i5', 'i6', 'i7', ''), configs, partitions }),
    },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('deleteTopic'), expectedVersion, name: names }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('addPartitions'), expectedVersion, name: names, partitions }) },
    {
      weight: 2,
      arbitrary: fc.record({ op: fc.constant('setReplicas'), expectedVersion, name: names, partition: fc.integer({ min: -1, max: 4 }), replicas: fc.shuffledSubarray(nodes) }),
    },
    {
      weight: 1,
      arbitrary: fc.record({ op: fc.constant('allocateProducerIds'), expectedVersion, firstProducerId: fc.constantFrom(0, 1000, 2000, 3000), count: fc.constantFrom(1000, 0, 1) }),
    },
    { weight: 1, arbitrary: fc.anything().map((value) => ({ garbage: value })) },
  )

  /** Fills in 'current' against replica A's state as it goes, so both replicas see identical commands. */
  function concretize(template: unknown, version: number): unknown {
    if (typeof template === 'object' && template !== null && 'garbage' in template) return template.garbage
    const record = template as { expectedVersion: number | 'current' }
    return { ...record, expectedVersion: record.expectedVersion === 'current' ? version : record.expectedVersion }
  }

  it('apply_randomSequences_neverThrowsNeverMutatesCountsVersionsAndReplicasAgree', () => {
    fc.assert(
      fc.property(fc.array(command, { maxLength: 40, size: 'max' }), fc.nat(40), (templates, restoreAt) => {
        // Replica A applies every command and keeps every state it passed through.
        const states: ClusterMetadata[] = [EMPTY_METADATA]
        const snapshots: unknown[] = [metadataToJson(EMPTY_METADATA)]
        const commands: unknown[] = []
        let okCount = 0
        for (const template of templates) {
          const before = states[states.length - 1] ?? EMPTY_METADATA
          const command = concretize(template, before.version)
          commands.push(command)
          const { state, outcome } = applyMetadataCommand(before, command)
          if (outcome.ok) {
            okCount++
            expect(outcome.version).toBe(before.version + 1)
          } else {
            expect(state).toBe(before)
            expect(outcome.message.startsWith(UNEXPECTED_PREFIX)).toBe(false)
          }
          expect(state.version).toBe(okCount)
          states.push(state)
          snapshots.push(metadataToJson(state))
        }
        // No later command changed an earlier state.
        states.forEach((state, index) => expect(metadataToJson(state)).toEqual(snapshots[index]))

        // Replica B applies the same commands, restarting from a snapshot part-way through.
        let replicaB = EMPTY_METADATA
        commands.forEach((command, index) => {
          if (index === restoreAt) replicaB = metadataFromJson(JSON.parse(JSON.stringify(metadataToJson(replicaB))))
          replicaB = applyMetadataCommand(replicaB, structuredClone(command)).state
        })
        const final = states[states.length - 1] ?? EMPTY_METADATA
        expect(metadataToJson(replicaB)).toEqual(metadataToJson(final))
        expect(metadataToJson(metadataFromJson(metadataToJson(final)))).toEqual(metadataToJson(final))
      }),
      { numRuns: 300 },
    )
  })
})

describe('allocateProducerIds', () => {
  const allocate = (state: ClusterMetadata, firstProducerId: number, count = 1000): unknown => ({ op: 'allocateProducerIds', expectedVersion: state.version, firstProducerId, count })

  it('allocateProducerIds_fromTheCounter_advancesItAndTheVersion_keepsTheTopics', () => {
    const state = withOrders()
    const next = applyOk(state, allocate(state, 0))
    expect(next.nextProducerId).toBe(1000)
    expect(next.topics).toBe(state.topics)
    const after = applyOk(next, allocate(next, 1000, 5))
    expect(after.nextProducerId).toBe(1005)
    expect(metadataFromJson(JSON.parse(JSON.stringify(metadataToJson(after)))).nextProducerId).toBe(1005)
  })

  it('allocateProducerIds_aBlockAlreadyTaken_isRefusedAsAMismatch', () => {
    const state = applyOk(EMPTY_METADATA, allocate(EMPTY_METADATA, 0))
    applyRefused(state, allocate(state, 0), code.mismatch, /next unallocated one is 1000/)
    applyRefused(state, allocate(EMPTY_METADATA, 1000), code.mismatch, /version/)
  })

  it('allocateProducerIds_badCount_isAnInvalidRequest', () => {
    applyRefused(EMPTY_METADATA, allocate(EMPTY_METADATA, 0, 0), code.request)
    applyRefused(EMPTY_METADATA, allocate(EMPTY_METADATA, 0, 1_000_001), code.request)
    applyRefused(EMPTY_METADATA, { op: 'allocateProducerIds', expectedVersion: 0, firstProducerId: -5, count: 1 }, code.request)
  })
})
