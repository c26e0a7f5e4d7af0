import { describe, expect, it } from 'vitest'
import type { GatewayNode } from '../../src/kafka/handlers/gateway.js'
import { type FetchTarget, fetchOne, handleListOffsets } from '../../src/kafka/handlers/partitions.js'
import type { ListOffsetsRequest } from '../../src/kafka/messages/list-offsets.js'
import type { FetchRequest as NativeFetchRequest, ListOffsetsRequest as NativeListOffsetsRequest } from '../../src/wire/index.js'

/** The gateway's Fetch and ListOffsets map Kafka's isolation_level onto the replica's requests and back. */

const records = new Uint8Array([1, 2, 3])

/** A node whose replica actors answer `answer`, remembering what they were asked. */
function fakeNode<Request = NativeFetchRequest>(answer: unknown): { node: GatewayNode; asked: Request[] } {
  const asked: Request[] = []
  const node = {
    nodeId: 'n1',
    ask: async <T>(_actorId: string, _kind: string, payload: unknown): Promise<T> => {
      asked.push(payload as Request)
      return answer as T
    },
  } as unknown as GatewayNode
  return { node, asked }
}

const target = (isolation: FetchTarget['isolation']): FetchTarget => ({ topic: 't', partition: 0, fetchOffset: 5, maxBytes: 1000, isolation })

describe('Kafka Fetch isolation', () => {
  it('readCommitted_asksTheReplicaForIt_andAnswersTheLastStableOffsetAndAbortedTransactions', async () => {
    const { node, asked } = fakeNode<NativeFetchRequest>({ records, highWatermark: 20, lastStableOffset: 12, logStartOffset: 0, abortedTransactions: [{ producerId: 7, firstOffset: 6 }] })
    const answer = await fetchOne(node, target('read_committed'), 0)
    expect(asked[0]?.isolation).toBe('read_committed')
    expect(answer.errorCode).toBe(0)
    expect(answer.highWatermark).toBe(20n)
    expect(answer.lastStableOffset).toBe(12n)
    expect(answer.abortedTransactions).toEqual([{ producerId: 7n, firstOffset: 6n }])
    expect(answer.records).toBe(records)
  })

  it('readUncommitted_answersNoAbortedList_butStillTheLastStableOffset', async () => {
    const { node, asked } = fakeNode<NativeFetchRequest>({ records, highWatermark: 20, lastStableOffset: 12, logStartOffset: 0 })
    const answer = await fetchOne(node, target('read_uncommitted'), 0)
    expect(asked[0]?.isolation).toBe('read_uncommitted')
    expect(answer.lastStableOffset).toBe(12n)
    expect(answer.abortedTransactions).toBeNull()
  })

  it('readCommitted_withoutAnAbortedListFromTheReplica_answersAnEmptyOne', async () => {
    const { node } = fakeNode<NativeFetchRequest>({ records, highWatermark: 20, lastStableOffset: 20, logStartOffset: 0 })
    expect((await fetchOne(node, target('read_committed'), 0)).abortedTransactions).toEqual([])
  })
})

describe('Kafka ListOffsets isolation', () => {
  const request = (isolationLevel: number): ListOffsetsRequest => ({
    replicaId: -1,
    isolationLevel,
    topics: [{ name: 't', partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp: -1n }] }],
  })

  it('readCommitted_asksTheReplicaForTheLastStableOffset', async () => {
    const { node, asked } = fakeNode<NativeListOffsetsRequest>({ offset: 12, timestamp: -1 })
    const answer = await handleListOffsets(node, request(1))
    expect(asked).toEqual([{ timestamp: -1, isolation: 'read_committed' }])
    expect(answer.topics[0]?.partitions[0]).toMatchObject({ errorCode: 0, offset: 12n })
  })

  it('readUncommitted_orAVersionWithoutTheField_asksForTheHighWatermark', async () => {
    const { node, asked } = fakeNode<NativeListOffsetsRequest>({ offset: 20, timestamp: -1 })
    await handleListOffsets(node, request(0)) // v1 decodes isolation_level as 0
    expect(asked).toEqual([{ timestamp: -1, isolation: 'read_uncommitted' }])
  })
})
