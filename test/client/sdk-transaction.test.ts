import { describe, expect, it } from 'vitest'
import { ClientErrorReason, type Producer, SkeinClientError, type Transaction } from '../../src/client/index.js'
import { type DecodedBatch, decodeRecordBatches } from '../../src/log/record-batch.js'
import { type EndTxnRequest, ErrorCode, type InitProducerIdResponse, type ProduceResponse, SkeinError, type TxnAddOffsetsRequest, type TxnAddPartitionsRequest, type TxnInitProducerIdRequest, type TxnOffsetCommitRequest } from '../../src/wire/index.js'
import { FakeIdempotentBroker, clientOver, errorOf, tick } from '../helpers/fake-sdk-broker.js'

/**
 * The transactional producer against a scripted connection whose transaction coordinator
 * logs every request, in order with the produces: what goes to the coordinator, when, and
 * what the producer does with its answers. End-to-end runs against real nodes come with the
 * coordinator actor.
 */

/** Bound on waiting for the producer to send a batch: generous, the wait ends as soon as it is sent. */
const BATCH_WAIT_MS_MAX = 5_000

type TxnCall = 'init' | 'add' | 'addOffsets' | 'offsetCommit' | 'end'

class FakeTxnBroker extends FakeIdempotentBroker {
  /** Every coordinator request and produce, in order: "init", "add out/0,out/1", "produce out/0", "end commit", ... */
  readonly calls: string[] = []
  readonly offsetCommits: TxnOffsetCommitRequest[] = []
  readonly inits: TxnInitProducerIdRequest[] = []
  /** The next request of a kind fails with this error. */
  readonly failNext = new Map<TxnCall, SkeinError>()
  private epoch = -1

  async txnInitProducerId(request: TxnInitProducerIdRequest): Promise<InitProducerIdResponse> {
    this.record('init', 'init')
    this.inits.push(request)
    this.epoch++
    return { producerId: 42, producerEpoch: this.epoch }
  }

  async txnAddPartitions(request: TxnAddPartitionsRequest): Promise<void> {
    this.record('add', `add ${request.partitions.map((p) => `${p.topic}/${p.partition}`).sort().join(',')}`)
    expect(request).toMatchObject({ transactionalId: 'tx', producerId: 42, producerEpoch: this.epoch })
  }

  async txnAddOffsets(request: TxnAddOffsetsRequest): Promise<void> {
    this.record('addOffsets', `addOffsets ${request.groupId}`)
  }

  async txnOffsetCommit(request: TxnOffsetCommitRequest): Promise<void> {
    this.record('offsetCommit', `offsetCommit ${request.groupId}`)
    this.offsetCommits.push(request)
  }

  async txnEndTxn(request: EndTxnRequest): Promise<void> {
    this.record('end', `end ${request.commit ? 'commit' : 'abort'}`)
  }

  override produce(topic: string, partition: number, bytes: Uint8Array, acks: number): Promise<ProduceResponse> {
    this.calls.push(`produce ${topic}/${partition}`)
    return super.produce(topic, partition, bytes, acks)
  }

  /** Decoded batch headers of every produce, in send order. */
  batches(): DecodedBatch[] {
    return this.sent.flatMap((sent) => decodeRecordBatches(sent.bytes))
  }

  private record(kind: TxnCall, call: string): void {
    this.calls.push(call)
    const failure = this.failNext.get(kind)
    if (failure === undefined) return
    this.failNext.delete(kind)
    throw failure
  }
}

function txnProducer(broker: FakeTxnBroker, lingerMs = 1): Producer {
  return clientOver(broker).producer({ transactionalId: 'tx', lingerMs })
}

const toPartition = (partition: number, value = `v${partition}`) => ({ topic: 'out', messages: [{ value, partition }] })

/** Waits until the broker has been sent `count` batches (linger, the add and the produce take a few turns; more under load). */
async function batchesSent(broker: FakeTxnBroker, count: number): Promise<void> {
  for (let waitedMs = 0; broker.sent.length < count; waitedMs += 5) {
    if (waitedMs >= BATCH_WAIT_MS_MAX) throw new Error(`${broker.sent.length} batches sent after ${BATCH_WAIT_MS_MAX} ms, expected ${count}`)
    await tick(5)
  }
}

/** A tx.send to partition 0 whose batch the broker fails with `error` (autoAnswer off); resolves with what the send rejected with. */
async function failedSend(tx: Transaction, broker: FakeTxnBroker, error: SkeinError): Promise<SkeinError> {
  const before = broker.sent.length
  const sending = tx.send(toPartition(0))
  await batchesSent(broker, before + 1)
  broker.sent[before]!.fail(error)
  return errorOf(sending)
}

async function reasonOf(attempt: Promise<unknown> | (() => unknown)): Promise<string | undefined> {
  const error = await errorOf(attempt)
  return error instanceof SkeinClientError ? error.reason : `not a client error: ${error.errorName}`
}

describe('transactional producer: configuration', () => {
  it('transactionalId_impliesIdempotentAndAcksAll_contradictionsRefused', async () => {
    const client = clientOver(new FakeTxnBroker({ out: 1 }))
    for (const config of [
      { transactionalId: 'tx', idempotent: false },
      { transactionalId: 'tx', acks: 1 as const },
      { transactionalId: '' },
      { transactionalId: 'x'.repeat(1_025) },
      { transactionalId: 'tx', transactionTimeoutMs: 0 },
      { transactionTimeoutMs: 1_000 },
    ]) {
      expect(await reasonOf(() => client.producer(config)), JSON.stringify(config)).toBe(ClientErrorReason.INVALID_ARGUMENT)
    }
    expect(() => client.producer({ transactionalId: 'tx', idempotent: true, acks: 'all', transactionTimeoutMs: 5_000 })).not.toThrow()
    expect(() => client.producer({ transactionalId: 'x'.repeat(1_024) })).not.toThrow()
  })

  it('transactionTimeoutMs_goesToInitProducerId_defaultSixtySeconds', async () => {
    const broker = new FakeTxnBroker({ out: 1 })
    await clientOver(broker).producer({ transactionalId: 'tx', transactionTimeoutMs: 5_000 }).initTransactions()
    await txnProducer(broker).initTransactions()
    expect(broker.inits).toEqual([{ transactionalId: 'tx', transactionTimeoutMs: 5_000 }, { transactionalId: 'tx', transactionTimeoutMs: 60_000 }])
  })

  it('sendOutsideATransaction_refusedWithInvalidTxnState_andTransactionWithoutId_refused', async () => {
    const broker = new FakeTxnBroker({ out: 1 })
    const error = await errorOf(txnProducer(broker).send(toPartition(0)))
    expect((error as SkeinClientError).reason).toBe(ClientErrorReason.INVALID_TXN_STATE)
    expect(error.code).toBe(ErrorCode.INVALID_TXN_STATE.code)
    expect(await reasonOf(clientOver(broker).producer({ idempotent: true }).transaction())).toBe(ClientErrorReason.INVALID_ARGUMENT)
    expect(broker.sent).toHaveLength(0)
  })

  it('sendOffsets_badArguments_refusedBeforeAnyRequest', async () => {
    const broker = new FakeTxnBroker({ out: 1 })
    const tx = await txnProducer(broker).transaction()
    const consumerOf = (groupId: string) => ({ groupMetadata: () => ({ groupId, memberId: 'm', generation: 1 }) })
    const bad = [
      { consumerGroupId: '', offsets: [{ topic: 'in', partition: 0, offset: 1 }] },
      { consumerGroupId: 'g', offsets: [] },
      { consumerGroupId: 'g', offsets: [{ topic: 'in', partition: -1, offset: 1 }] },
      { consumerGroupId: 'g', offsets: [{ topic: 'in', partition: 0, offset: 1 }], consumer: consumerOf('other') },
      { consumerGroupId: 'g', offsets: [{ topic: 'in', partition: 0, offset: 1 }], consumer: { groupMetadata: () => undefined } },
    ]
    for (const options of bad) expect(await reasonOf(tx.sendOffsets(options)), JSON.stringify(options)).toBe(ClientErrorReason.INVALID_ARGUMENT)
    expect(broker.calls).toEqual(['init'])
    await tx.commit() // a refused argument to sendOffsets writes nothing: the transaction is still good
  })
})

describe('transactional producer: a transaction', () => {
  it('batchesClosedTogether_addTheirPartitionsInOneRequest_beforeTheFirstBatch_andOncePerTransaction', async () => {
    const broker = new FakeTxnBroker({ out: 3 })
    const producer = txnProducer(broker, 60_000)
    const tx = await producer.transaction()
    // Lingering batches of three partitions, closed together by the flush.
    const first = [0, 1, 2].map((partition) => tx.send(toPartition(partition)))
    await producer.flush()
    await Promise.all(first)
    const again = [0, 1].map((partition) => tx.send(toPartition(partition, 'again')))
    await tx.commit()
    await Promise.all(again)
    const adds = broker.calls.filter((call) => call.startsWith('add '))
    expect(adds).toEqual(['add out/0,out/1,out/2'])
    expect(broker.calls.indexOf('add out/0,out/1,out/2')).toBeLessThan(broker.calls.findIndex((call) => call.startsWith('produce')))
    expect(broker.calls.filter((call) => call.startsWith('produce'))).toHaveLength(5)
    expect(broker.calls.at(-1)).toBe('end commit')
  })

  it('batches_carryTheTransactionalAttribute_producerIdEpoch_andSequencesAcrossTransactions', async () => {
    const broker = new FakeTxnBroker({ out: 2 })
    const producer = txnProducer(broker)
    for (let round = 0; round < 2; round++) {
      const tx = await producer.transaction()
      await tx.send({ topic: 'out', messages: [{ value: 'a', partition: 0 }, { value: 'b', partition: 0 }, { value: 'c', partition: 1 }] })
      await tx.commit()
    }
    const headers = broker.batches().map((b) => ({ transactional: b.isTransactional, producerId: b.producerId, producerEpoch: b.producerEpoch }))
    for (const header of headers) expect(header).toMatchObject({ transactional: true, producerId: 42, producerEpoch: 0 })
    // Per partition: 0 then 2 on partition 0 (two records a batch), 0 then 1 on partition 1; one epoch throughout.
    const sequences = broker.sent.map((sent, i) => `${sent.partition}:${broker.batches()[i]!.baseSequence}`)
    expect(sequences.filter((s) => s.startsWith('0:'))).toEqual(['0:0', '0:2'])
    expect(sequences.filter((s) => s.startsWith('1:'))).toEqual(['1:0', '1:1'])
    expect(broker.calls.filter((call) => call === 'init')).toHaveLength(1)
  })

  it('commit_sendsLingeringBatchesAndWaitsForTheirAnswers_thenEndsTheTransaction', async () => {
    const broker = new FakeTxnBroker({ out: 1 })
    broker.autoAnswer = false
    const tx = await txnProducer(broker, 60_000).transaction()
    const sending = tx.send(toPartition(0))
    const committing = tx.commit()
    await batchesSent(broker, 1)
    expect(broker.calls).toEqual(['init', 'add out/0', 'produce out/0'])
    broker.sent[0]!.answer()
    await committing
    expect((await sending)[0]!.offset).toBe(0)
    expect(broker.calls.at(-1)).toBe('end commit')
  })

  it('commit_ofAnEmptyTransaction_sendsNothingToTheCoordinator', async () => {
    const broker = new FakeTxnBroker({ out: 1 })
    const tx = await txnProducer(broker).transaction()
    await tx.commit()
    expect(broker.calls).toEqual(['init'])
  })

  it('abort_dropsUnsentRecords_andAbortsWhatWasAdded_thenTheNextTransactionGoesOn', async () => {
    const broker = new FakeTxnBroker({ out: 2 })
    const producer = txnProducer(broker, 60_000)
    const tx = await producer.transaction()
    const written = tx.send(toPartition(0))
    await producer.flush()
    await written
    const lingering = tx.send(toPartition(1))
    await tick(5)
    await tx.abort()
    expect(await reasonOf(lingering)).toBe(ClientErrorReason.TXN_ABORTED)
    expect(broker.calls).toEqual(['init', 'add out/0', 'produce out/0', 'end abort'])
    // Nothing failed in it: the next transaction keeps the epoch and the sequences.
    const next = await producer.transaction()
    const sent = next.send(toPartition(0))
    await next.commit()
    await sent
    expect(broker.calls.filter((call) => call === 'init')).toHaveLength(1)
    expect(broker.batches().map((b) => b.baseSequence)).toEqual([0, 1])
  })

  it('sendOffsets_addsTheGroupOnce_thenCommitsWithTheConsumersMemberAndGeneration', async () => {
    const broker = new FakeTxnBroker({ out: 1 })
    const tx = await txnProducer(broker).transaction()
    const consumer = { groupMetadata: () => ({ groupId: 'g', memberId: 'member-1', generation: 4 }) }
    await tx.sendOffsets({ consumerGroupId: 'g', offsets: [{ topic: 'in', partition: 0, offset: 10 }], consumer })
    await tx.sendOffsets({ consumerGroupId: 'g', offsets: [{ topic: 'in', partition: 0, offset: 12 }] })
    await tx.commit()
    expect(broker.calls).toEqual(['init', 'addOffsets g', 'offsetCommit g', 'offsetCommit g', 'end commit'])
    expect(broker.offsetCommits[0]).toEqual({ transactionalId: 'tx', producerId: 42, producerEpoch: 0, groupId: 'g', memberId: 'member-1', generation: 4, offsets: [{ topic: 'in', partition: 0, offset: 10 }] })
    expect(broker.offsetCommits[1]).not.toHaveProperty('memberId')
  })

  it('sendOffsets_pastWhatTheConsumerDeliveredSinceReassignment_isIllegalGeneration_andTheTransactionAbortableOnly', async () => {
    const broker = new FakeTxnBroker({ out: 1 })
    const tx = await txnProducer(broker).transaction()
    // The batch ended before 20, but a rebalance took in/0 away and handed it back: delivered since, only up to 12.
    const delivered = new Map([['in/0', 12]])
    const consumer = {
      groupMetadata: () => ({ groupId: 'g', memberId: 'member-1', generation: 5 }),
      deliveredPosition: (tp: { topic: string; partition: number }) => delivered.get(`${tp.topic}/${tp.partition}`),
    }
    await expect(tx.sendOffsets({ consumerGroupId: 'g', offsets: [{ topic: 'in', partition: 0, offset: 20 }], consumer })).rejects.toMatchObject({ code: ErrorCode.ILLEGAL_GENERATION.code })
    await expect(tx.sendOffsets({ consumerGroupId: 'g', offsets: [{ topic: 'in', partition: 1, offset: 3 }], consumer })).rejects.toThrow()
    expect(await reasonOf(tx.commit())).toBe(ClientErrorReason.TXN_ABORT_REQUIRED)
    await tx.abort()
    expect(broker.calls.filter((call) => call.startsWith('offsetCommit'))).toEqual([])
  })

  it('secondTransactionWhileOneIsOpen_refused_andAnEndedTransactionRefusesEveryCall', async () => {
    const broker = new FakeTxnBroker({ out: 1 })
    const producer = txnProducer(broker)
    const [first, second] = await Promise.allSettled([producer.transaction(), producer.transaction()])
    expect(first.status).toBe('fulfilled')
    expect(second.status === 'rejected' && (second.reason as SkeinClientError).reason).toBe(ClientErrorReason.INVALID_TXN_STATE)
    const tx = (first as PromiseFulfilledResult<Transaction>).value
    await tx.commit()
    expect(await reasonOf(tx.send(toPartition(0)))).toBe(ClientErrorReason.INVALID_TXN_STATE)
    expect(await reasonOf(tx.commit())).toBe(ClientErrorReason.INVALID_TXN_STATE)
    expect(await reasonOf(tx.abort())).toBe(ClientErrorReason.INVALID_TXN_STATE)
    await (await producer.transaction()).abort()
  })
})

describe('transactional producer: failures', () => {
  it('failedSend_commitRefused_abortWorks_andTheNextTransactionTakesANewEpochFromSequenceZero', async () => {
    const broker = new FakeTxnBroker({ out: 1 })
    broker.autoAnswer = false
    const producer = txnProducer(broker)
    const tx = await producer.transaction()
    const first = tx.send(toPartition(0))
    await batchesSent(broker, 1)
    broker.sent[0]!.answer()
    await first
    expect((await failedSend(tx, broker, new SkeinError(ErrorCode.REQUEST_TIMED_OUT, 'no answer'))).code).toBe(ErrorCode.REQUEST_TIMED_OUT.code)
    const refused = await errorOf(tx.commit())
    expect((refused as SkeinClientError).reason).toBe(ClientErrorReason.TXN_ABORT_REQUIRED)
    expect((refused.cause as SkeinError).code).toBe(ErrorCode.REQUEST_TIMED_OUT.code)
    expect(await reasonOf(tx.send(toPartition(0)))).toBe(ClientErrorReason.TXN_ABORT_REQUIRED)
    await tx.abort()
    expect(broker.calls.filter((call) => call.startsWith('end'))).toEqual(['end abort'])
    broker.autoAnswer = true
    const next = await producer.transaction()
    await next.send(toPartition(0))
    await next.commit()
    expect(broker.calls.filter((call) => call === 'init')).toHaveLength(2)
    const last = broker.batches().at(-1)!
    expect({ epoch: last.producerEpoch, sequence: last.baseSequence }).toEqual({ epoch: 1, sequence: 0 })
  })

  it('failedAddPartitions_failsTheBatchesWaitingForIt_andTheTransactionIsAbortableOnly', async () => {
    const broker = new FakeTxnBroker({ out: 1 })
    broker.failNext.set('add', new SkeinError(ErrorCode.INVALID_TXN_STATE, 'coordinator says no'))
    const tx = await txnProducer(broker).transaction()
    expect((await errorOf(tx.send(toPartition(0)))).code).toBe(ErrorCode.INVALID_TXN_STATE.code)
    expect(broker.sent).toHaveLength(0)
    expect(await reasonOf(tx.commit())).toBe(ClientErrorReason.TXN_ABORT_REQUIRED)
    await tx.abort()
  })

  it('fencedAtEndTxn_isSticky_everyLaterCallFailsWithIt', async () => {
    const broker = new FakeTxnBroker({ out: 1 })
    broker.failNext.set('end', new SkeinError(ErrorCode.PRODUCER_FENCED, 'epoch 1 took over'))
    const producer = txnProducer(broker)
    const tx = await producer.transaction()
    await tx.send(toPartition(0))
    const fenced = await errorOf(tx.commit())
    expect(fenced.code).toBe(ErrorCode.PRODUCER_FENCED.code)
    for (const later of [() => producer.transaction(), () => producer.send(toPartition(0)), () => tx.abort(), () => tx.send(toPartition(0)), () => producer.initTransactions()]) {
      const error = await errorOf(later)
      expect(error.code).toBe(ErrorCode.PRODUCER_FENCED.code)
      expect((error as SkeinClientError).reason).toBe(ClientErrorReason.PRODUCER_FENCED)
    }
    expect(broker.calls.filter((call) => call === 'init')).toHaveLength(1)
  })

  it('fencedBatch_invalidProducerEpoch_fencesTheProducer_withThatCode', async () => {
    const broker = new FakeTxnBroker({ out: 1 })
    broker.autoAnswer = false
    const producer = txnProducer(broker)
    const tx = await producer.transaction()
    await failedSend(tx, broker, new SkeinError(ErrorCode.INVALID_PRODUCER_EPOCH, 'a newer epoch wrote here'))
    for (const later of [() => tx.commit(), () => tx.abort(), () => producer.transaction()]) expect((await errorOf(later)).code).toBe(ErrorCode.INVALID_PRODUCER_EPOCH.code)
    expect(broker.calls.filter((call) => call.startsWith('end'))).toEqual([])
  })

  it('commitUnanswered_retriable_canBeRetried_butNotAborted', async () => {
    const broker = new FakeTxnBroker({ out: 1 })
    broker.failNext.set('end', new SkeinError(ErrorCode.REQUEST_TIMED_OUT, 'no answer'))
    const tx = await txnProducer(broker).transaction()
    await tx.send(toPartition(0))
    expect((await errorOf(tx.commit())).code).toBe(ErrorCode.REQUEST_TIMED_OUT.code)
    expect(await reasonOf(tx.abort())).toBe(ClientErrorReason.INVALID_TXN_STATE)
    await tx.commit()
    expect(broker.calls.filter((call) => call.startsWith('end'))).toEqual(['end commit', 'end commit'])
  })

  it('close_withAnOpenTransaction_abortsItBestEffort', async () => {
    const broker = new FakeTxnBroker({ out: 1 })
    const producer = txnProducer(broker)
    const tx = await producer.transaction()
    await tx.send(toPartition(0))
    await producer.close()
    expect(broker.calls.at(-1)).toBe('end abort')
    expect(await reasonOf(tx.commit())).toBe(ClientErrorReason.PRODUCER_CLOSED)
  })
})
