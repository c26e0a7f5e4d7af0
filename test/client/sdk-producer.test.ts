import { describe, expect, it } from 'vitest'
import { type BrokerClient, Client, ClientErrorReason, SkeinClientError, type RecordMetadata } from '../../src/client/index.js'
import { partitionForKey } from '../../src/client/partitioner.js'
import { decodeRecordBatches } from '../../src/log/record-batch.js'
import { ErrorCode, SkeinError } from '../../src/wire/index.js'
import { FakeBroker, FakeIdempotentBroker, clientOver, closedAfterTest, errorOf, tick } from '../helpers/fake-sdk-broker.js'

/**
 * The producer against a scripted connection (no cluster): what it sends, when, how much at
 * once, and what it does with the answers. The cluster-backed tests are in sdk-cluster.test.ts.
 */

describe('producer batching and partitioning', () => {
  it('send_keyedMessages_landOnMurmur2PartitionInOrder_withOffsets', async () => {
    const broker = new FakeBroker({ orders: 6 })
    const producer = clientOver(broker).producer({ lingerMs: 1 })
    const messages = Array.from({ length: 20 }, (_, i) => ({ key: `user-${i % 4}`, value: `v${i}` }))
    const acks = await producer.send({ topic: 'orders', messages })
    acks.forEach((ack, i) => expect(ack.partition).toBe(partitionForKey(Buffer.from(`user-${i % 4}`), 6)))
    // One batch per partition: the whole send fits in one linger window.
    expect(new Set(broker.sent.map((batch) => batch.partition)).size).toBe(broker.sent.length)
    for (const batch of broker.sent) {
      const values = decodeRecordBatches(batch.bytes)[0]!.records.map((r) => Buffer.from(r.value!).toString())
      const expected = messages.filter((m) => partitionForKey(Buffer.from(m.key), 6) === batch.partition).map((m) => m.value)
      expect(values).toEqual(expected)
      expect(batch.acks).toBe(-1)
    }
    const perPartition = new Map<number, number[]>()
    for (const ack of acks) perPartition.set(ack.partition, [...(perPartition.get(ack.partition) ?? []), ack.offset])
    for (const offsets of perPartition.values()) expect(offsets).toEqual(offsets.map((_, i) => i))
  })

  it('send_concurrentCallsBeforeMetadataArrives_recordsKeepCallOrder_evenWhenAnswersComeReversed', async () => {
    // Found by test/process/sdk.test.ts: sends waiting for the topic's first metadata each
    // asked for it, and queued their records in whatever order the answers came.
    const broker = new FakeBroker({ orders: 1 })
    const pending: (() => void)[] = []
    const metadata = broker.metadata.bind(broker)
    broker.metadata = (topics) => new Promise((resolve) => pending.push(() => void metadata(topics).then(resolve)))
    const producer = clientOver(broker).producer({ lingerMs: 5 })
    const sends = Array.from({ length: 5 }, (_, i) => producer.send({ topic: 'orders', messages: [{ key: 'k', value: `v${i}` }] }))
    await tick(5)
    for (const answer of pending.splice(0).reverse()) answer()
    await tick(5)
    for (const answer of pending.splice(0).reverse()) answer()
    const acks = (await Promise.all(sends)).flat()
    expect(acks.map((ack) => ack.offset)).toEqual([0, 1, 2, 3, 4])
    const values = broker.sent.flatMap((batch) => decodeRecordBatches(batch.bytes).flatMap((b) => b.records.map((r) => Buffer.from(r.value!).toString())))
    expect(values).toEqual(['v0', 'v1', 'v2', 'v3', 'v4'])
  })

  it('send_keylessMessages_stickToOnePartitionPerBatch', async () => {
    const broker = new FakeBroker({ t: 4 })
    const producer = clientOver(broker).producer({ lingerMs: 0 })
    const acks = await producer.send({ topic: 't', messages: Array.from({ length: 10 }, (_, i) => ({ value: `${i}` })) })
    expect(new Set(acks.map((ack) => ack.partition)).size).toBe(1)
    const second = await producer.send({ topic: 't', messages: [{ value: 'x' }] })
    expect(second[0]!.partition).not.toBe(acks[0]!.partition)
  })

  it('send_batchBytesReached_sendsWithoutWaitingForLinger', async () => {
    const broker = new FakeBroker({ t: 1 })
    const producer = clientOver(broker).producer({ lingerMs: 60_000, batchBytes: 1_000 })
    const pending = producer.send({ topic: 't', messages: Array.from({ length: 10 }, () => ({ value: Buffer.alloc(300) })) })
    await tick(30)
    expect(broker.sent).toHaveLength(3) // 3 full batches of 3 records; the 10th lingers
    await producer.flush()
    expect(await pending).toHaveLength(10)
    expect(broker.sent).toHaveLength(4)
  })

  it('send_explicitPartitionAndAcks_areUsed', async () => {
    const broker = new FakeBroker({ t: 3 })
    const producer = clientOver(broker).producer({ acks: 1, lingerMs: 0 })
    const [ack] = await producer.send({ topic: 't', messages: [{ key: 'k', value: 'v', partition: 2 }] })
    expect(ack!.partition).toBe(2)
    expect(broker.sent[0]!.acks).toBe(1)
  })

  it('send_compressionGzip_batchIsCompressedAndDecodes', async () => {
    const broker = new FakeBroker({ t: 1 })
    const producer = clientOver(broker).producer({ compression: 'gzip', lingerMs: 0 })
    await producer.send({ topic: 't', messages: [{ value: 'a'.repeat(1000) }] })
    const [batch] = decodeRecordBatches(broker.sent[0]!.bytes)
    expect(batch!.compression).toBe('gzip')
    expect(broker.sent[0]!.bytes.length).toBeLessThan(500)
    expect(Buffer.from(batch!.records[0]!.value!).toString()).toBe('a'.repeat(1000))
  })
})

describe('producer bounds', () => {
  it('send_bufferFull_waitsUntilAnAckFreesSpace', async () => {
    const broker = new FakeBroker({ t: 1 })
    broker.autoAnswer = false
    const producer = clientOver(broker).producer({ lingerMs: 0, bufferBytesMax: 2_000, batchBytes: 1_000 })
    const first = producer.send({ topic: 't', messages: [{ value: Buffer.alloc(1_500) }] })
    await tick(20)
    expect(broker.sent).toHaveLength(1)
    let secondDone = false
    const second = producer.send({ topic: 't', messages: [{ value: Buffer.alloc(1_500) }] }).then((acks) => {
      secondDone = true
      return acks
    })
    await tick(50)
    expect(broker.sent).toHaveLength(1) // the second record waits for buffer space
    expect(secondDone).toBe(false)
    broker.sent[0]!.answer()
    await first
    await tick(20)
    expect(broker.sent).toHaveLength(2)
    broker.sent[1]!.answer()
    expect((await second)[0]!.offset).toBe(1)
  })

  it('send_bufferFullPastBufferWaitMsMax_failsTimedOut', async () => {
    const broker = new FakeBroker({ t: 1 })
    broker.autoAnswer = false
    const producer = clientOver(broker).producer({ lingerMs: 0, bufferBytesMax: 2_000, bufferWaitMsMax: 50 })
    void producer.send({ topic: 't', messages: [{ value: Buffer.alloc(1_500) }] }).catch(() => undefined)
    const error = await errorOf(producer.send({ topic: 't', messages: [{ value: Buffer.alloc(1_500) }] }))
    expect(error.code).toBe(ErrorCode.REQUEST_TIMED_OUT.code)
    expect(error.retriable).toBe(true)
    broker.sent[0]!.answer()
  })

  it('send_maxInFlightReached_nextBatchWaitsForAnAnswer', async () => {
    const broker = new FakeBroker({ t: 1 })
    broker.autoAnswer = false
    const producer = clientOver(broker).producer({ lingerMs: 0, maxInFlightRequests: 2 })
    const sends: Promise<unknown>[] = []
    for (const i of [0, 1, 2, 3]) {
      sends.push(producer.send({ topic: 't', messages: [{ value: `${i}` }] }))
      await tick(10) // each its own batch
    }
    await tick(20)
    expect(broker.sent).toHaveLength(2)
    broker.sent[0]!.answer()
    await tick(30)
    expect(broker.sent).toHaveLength(3)
    broker.sent[1]!.answer()
    broker.sent[2]!.answer()
    await tick(30)
    broker.sent[3]!.answer()
    const offsets = ((await Promise.all(sends)) as { offset: number }[][]).map((acks) => acks[0]!.offset)
    expect(offsets).toEqual([0, 1, 2, 3])
  })
})

describe('producer lifecycle and errors', () => {
  it('close_sendsBufferedRecords_thenRejectsSendsWithProducerClosed', async () => {
    const broker = new FakeBroker({ t: 1 })
    const producer = clientOver(broker).producer({ lingerMs: 60_000 })
    const pending = producer.send({ topic: 't', messages: [{ value: 'buffered' }] })
    await tick(10)
    expect(broker.sent).toHaveLength(0)
    await producer.close()
    expect((await pending)[0]!.offset).toBe(0)
    const error = await errorOf(producer.send({ topic: 't', messages: [{ value: 'late' }] }))
    expect(error).toBeInstanceOf(SkeinClientError)
    expect((error as SkeinClientError).reason).toBe(ClientErrorReason.PRODUCER_CLOSED)
    expect(error.code).toBe(ErrorCode.INVALID_REQUEST.code)
    expect(error.retriable).toBe(false)
  })

  it('flush_sendsLingeringBatches_andWaitsForAnswers', async () => {
    const broker = new FakeBroker({ t: 2 })
    const producer = clientOver(broker).producer({ lingerMs: 60_000 })
    const pending = producer.send({ topic: 't', messages: [{ value: 'a', partition: 0 }, { value: 'b', partition: 1 }] })
    await producer.flush()
    expect(broker.sent).toHaveLength(2)
    expect(await pending).toHaveLength(2)
  })

  it('send_badInputs_failWithTypedErrors_nothingSent', async () => {
    const broker = new FakeBroker({ t: 2 })
    const producer = clientOver(broker).producer({ lingerMs: 0, recordBytesMax: 1_000 })
    const reasonOf = async (attempt: Promise<unknown>): Promise<string> => ((await errorOf(attempt)) as SkeinClientError).reason
    expect(await reasonOf(producer.send({ topic: 't', messages: [{ key: 42 as unknown as string, value: 'v' }] }))).toBe('INVALID_ARGUMENT')
    expect(await reasonOf(producer.send({ topic: 't', messages: [{ value: { a: 1 } as unknown as string }] }))).toBe('INVALID_ARGUMENT')
    expect(await reasonOf(producer.send({ topic: 't', messages: [{ value: 'v', headers: { h: 5 as unknown as string } }] }))).toBe('INVALID_ARGUMENT')
    expect(await reasonOf(producer.send({ topic: 't', messages: [] }))).toBe('INVALID_ARGUMENT')
    expect(await reasonOf(producer.send({ topic: 'bad/name', messages: [{ value: 'v' }] }))).toBe('INVALID_ARGUMENT')
    const tooLarge = await errorOf(producer.send({ topic: 't', messages: [{ value: Buffer.alloc(2_000) }] }))
    expect((tooLarge as SkeinClientError).reason).toBe('RECORD_TOO_LARGE')
    expect(tooLarge.code).toBe(ErrorCode.MESSAGE_TOO_LARGE.code)
    const unknown = await errorOf(producer.send({ topic: 'missing', messages: [{ value: 'v' }] }))
    expect((unknown as SkeinClientError).reason).toBe('UNKNOWN_TOPIC')
    expect(unknown.code).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION.code)
    expect(await reasonOf(producer.send({ topic: 't', messages: [{ value: 'v', partition: 5 }] }))).toBe('UNKNOWN_TOPIC')
    expect(broker.sent).toHaveLength(0)
  })

  it('producer_badConfig_failsAtCreation', () => {
    const client = clientOver(new FakeBroker({}))
    expect(() => client.producer({ acks: 2 as unknown as 1 })).toThrow(SkeinClientError)
    expect(() => client.producer({ lingerMs: -1 })).toThrow(/lingerMs/)
    expect(() => client.producer({ compression: 'snappy' })).toThrow(SkeinClientError)
    expect(() => client.producer({ idempotent: true, acks: 1 })).toThrow(/acks 'all'/)
  })

  it('produceFails_recordsRejectedWithTheBrokerError', async () => {
    const broker = new FakeBroker({ t: 1 })
    broker.autoAnswer = false
    const producer = clientOver(broker).producer({ lingerMs: 0 })
    const pending = producer.send({ topic: 't', messages: [{ value: 'v' }] })
    await tick(20)
    broker.sent[0]!.fail(new SkeinError(ErrorCode.REQUEST_TIMED_OUT, 'deadline'))
    expect((await errorOf(pending)).code).toBe(ErrorCode.REQUEST_TIMED_OUT.code)
  })
})

describe('idempotent producer', () => {
  it('idempotent_withoutInitProducerId_failsAtCreationWithTypedError', async () => {
    const client = clientOver(new FakeBroker({ t: 1 }))
    await client.connect()
    const error = await errorOf(() => client.producer({ idempotent: true }))
    expect((error as SkeinClientError).reason).toBe(ClientErrorReason.IDEMPOTENCE_UNAVAILABLE)
  })

  it('idempotent_batchesCarryProducerIdAndPerPartitionSequences', async () => {
    const broker = new FakeIdempotentBroker({ t: 2 })
    const client = clientOver(broker)
    await client.connect()
    const producer = client.producer({ idempotent: true, lingerMs: 0 })
    await producer.send({ topic: 't', messages: [{ value: 'a', partition: 0 }, { value: 'b', partition: 0 }, { value: 'c', partition: 1 }] })
    await producer.send({ topic: 't', messages: [{ value: 'd', partition: 0 }] })
    const headers = broker.sent.map((sent) => ({ partition: sent.partition, ...pick(decodeRecordBatches(sent.bytes)[0]!) }))
    expect(headers).toEqual([
      { partition: 0, producerId: 1001, producerEpoch: 0, baseSequence: 0 },
      { partition: 1, producerId: 1001, producerEpoch: 0, baseSequence: 0 },
      { partition: 0, producerId: 1001, producerEpoch: 0, baseSequence: 2 },
    ])
    expect(broker.producerIds).toBe(1)
  })

  it('idempotent_failedBatch_failsQueuedOnes_thenNewIdAndSequenceZero', async () => {
    const broker = new FakeIdempotentBroker({ t: 1 })
    broker.autoAnswer = false
    const client = clientOver(broker)
    await client.connect()
    const producer = client.producer({ idempotent: true, lingerMs: 0, maxInFlightRequests: 1 })
    const first = producer.send({ topic: 't', messages: [{ value: 'a' }] })
    await tick(20)
    const second = producer.send({ topic: 't', messages: [{ value: 'b' }] })
    await tick(20)
    expect(broker.sent).toHaveLength(1)
    broker.sent[0]!.fail(new SkeinError(ErrorCode.REQUEST_TIMED_OUT, 'gave up'))
    expect((await errorOf(first)).code).toBe(ErrorCode.REQUEST_TIMED_OUT.code)
    const aborted = await errorOf(second)
    expect((aborted as SkeinClientError).reason).toBe(ClientErrorReason.SEQUENCE_ABORTED)
    expect(aborted.code).toBe(ErrorCode.REQUEST_TIMED_OUT.code)
    broker.autoAnswer = true
    await producer.send({ topic: 't', messages: [{ value: 'c' }] })
    expect(pick(decodeRecordBatches(broker.sent[1]!.bytes)[0]!)).toEqual({ producerId: 1002, producerEpoch: 0, baseSequence: 0 })
  })
})

/** An idempotent producer with two single-record batches to partition 0 sent and unanswered. */
async function twoBatchesInFlight(): Promise<{ broker: FakeIdempotentBroker; first: Promise<RecordMetadata[]>; second: Promise<RecordMetadata[]> }> {
  const broker = new FakeIdempotentBroker({ t: 1 })
  broker.autoAnswer = false
  const client = clientOver(broker)
  await client.connect()
  const producer = client.producer({ idempotent: true, lingerMs: 0 })
  const first = producer.send({ topic: 't', messages: [{ value: 'a' }] })
  await tick(20)
  const second = producer.send({ topic: 't', messages: [{ value: 'b' }] })
  await tick(20)
  return { broker, first, second }
}

describe('idempotent producer: order across retries', () => {
  it('batchRefusedOutOfOrderWhileEarlierInFlight_waitsForIt_thenResendsSameBytes_inOrder', async () => {
    const { broker, first, second } = await twoBatchesInFlight()
    expect(broker.sent).toHaveLength(2)
    // The second overtook the first (which a leader change made BrokerClient retry): the broker refuses it.
    broker.sent[1]!.fail(new SkeinError(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER, 'sequence gap'))
    await tick(20)
    expect(broker.sent).toHaveLength(2) // held until the first is answered
    broker.sent[0]!.answer()
    await tick(20)
    expect(broker.sent).toHaveLength(3)
    expect(Buffer.from(broker.sent[2]!.bytes).equals(Buffer.from(broker.sent[1]!.bytes))).toBe(true)
    broker.sent[2]!.answer()
    const [a, b] = [(await first)[0]!, (await second)[0]!]
    expect(b.offset).toBe(a.offset + 1)
  })

  it('batchRefusedOutOfOrder_earlierOneFails_failsToo', async () => {
    const { broker, first, second } = await twoBatchesInFlight()
    broker.sent[1]!.fail(new SkeinError(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER, 'sequence gap'))
    await tick(20)
    broker.sent[0]!.fail(new SkeinError(ErrorCode.REQUEST_TIMED_OUT, 'gave up'))
    expect((await errorOf(first)).code).toBe(ErrorCode.REQUEST_TIMED_OUT.code)
    expect((await errorOf(second)).code).toBe(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER.code)
    expect(broker.sent).toHaveLength(2)
  })

  it('batchRefusedOutOfOrder_withNothingAhead_failsAtOnce', async () => {
    const broker = new FakeIdempotentBroker({ t: 1 })
    broker.autoAnswer = false
    const client = clientOver(broker)
    await client.connect()
    const producer = client.producer({ idempotent: true, lingerMs: 0 })
    const only = producer.send({ topic: 't', messages: [{ value: 'a' }] })
    await tick(20)
    broker.sent[0]!.fail(new SkeinError(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER, 'sequence gap'))
    expect((await errorOf(only)).code).toBe(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER.code)
    expect(broker.sent).toHaveLength(1)
  })
})

describe('client', () => {
  it('newClient_badSeeds_throwTypedErrorAtOnce', () => {
    for (const seeds of [[], ['localhost'], ['host:0'], ['host:70000'], ['a b:1'], [42]]) {
      let thrown: unknown
      try {
        new Client({ seeds: seeds as string[] })
      } catch (error) {
        thrown = error
      }
      expect(thrown, JSON.stringify(seeds)).toBeInstanceOf(SkeinClientError)
      expect((thrown as SkeinClientError).reason).toBe('INVALID_ARGUMENT')
    }
    expect(() => new Client({ seeds: ['[::1]:7071', 'node-1.example:7072'] })).not.toThrow()
  })

  it('connect_unreachableSeed_failsWithinConnectTimeout', async () => {
    const client = closedAfterTest(new Client({ seeds: ['127.0.0.1:7071'], connectTimeoutMs: 100, connect: () => new Promise<BrokerClient>(() => undefined) }))
    const error = await errorOf(client.admin().listTopics())
    expect(error.code).toBe(ErrorCode.REQUEST_TIMED_OUT.code)
  })

  it('close_closesProducersAndConnection_laterCallsFailClientClosed', async () => {
    const broker = new FakeBroker({ t: 1 })
    const client = clientOver(broker)
    const producer = client.producer({ lingerMs: 60_000 })
    const pending = producer.send({ topic: 't', messages: [{ value: 'v' }] })
    await tick(10)
    await client.close()
    expect(await pending).toHaveLength(1)
    expect(broker.closed).toBe(true)
    expect(((await errorOf(() => client.admin())) as SkeinClientError).reason).toBe('CLIENT_CLOSED')
  })
})

function pick(batch: { producerId: number; producerEpoch: number; baseSequence: number }): { producerId: number; producerEpoch: number; baseSequence: number } {
  return { producerId: batch.producerId, producerEpoch: batch.producerEpoch, baseSequence: batch.baseSequence }
}
