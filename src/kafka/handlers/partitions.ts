import {
  BrokerRequest,
  ErrorCode,
  type FetchIsolation,
  type FetchRequest as NativeFetchRequest,
  type FetchResponse as NativeFetchResponse,
  type ListOffsetsRequest as NativeListOffsetsRequest,
  type ListOffsetsResponse as NativeListOffsetsResponse,
  type ProduceAcks,
  type ProduceResponse as NativeProduceResponse,
  replicaActorId,
} from '../../wire/index.js'
import { readInt32 } from '../../log/batch-header.js'
import type { FetchRequest, FetchResponse } from '../messages/fetch.js'
import type { ListOffsetsRequest, ListOffsetsResponse } from '../messages/list-offsets.js'
import type { ProduceRequest, ProduceResponse } from '../messages/produce.js'
import { GATEWAY_ASK_TIMEOUT_MS, type GatewayNode, kafkaErrorCode } from './gateway.js'

/**
 * Produce, Fetch and ListOffsets: each partition's part goes to this node's own replica actor
 * (`replica/<topic>/<p>/<self>`), as the native protocol's requests do. A follower answers
 * NOT_LEADER_OR_FOLLOWER and a node without the partition UNKNOWN_TOPIC_OR_PARTITION, both
 * retriable: the Kafka client refreshes its metadata and goes to the leader, as with Kafka.
 * No request is forwarded between nodes. Batches pass through as RecordBatch v2 bytes.
 */

/** Extra deadline of an ask beyond the time the request itself allows the broker to wait. */
const ASK_SLACK_MS = 5_000

export async function handleProduce(node: GatewayNode, request: ProduceRequest): Promise<ProduceResponse> {
  const acks = request.acks
  if (acks !== 0 && acks !== 1 && acks !== -1) return produceError(request, ErrorCode.INVALID_REQUEST.kafkaCode)
  const timeoutMs = Math.max(1, request.timeoutMs) + ASK_SLACK_MS
  const responses = await Promise.all(
    request.topics.map(async (topic) => ({
      name: topic.name,
      partitions: await Promise.all(
        topic.partitions.map(async (part) => {
          const base = { partitionIndex: part.partitionIndex, logAppendTimeMs: -1n, logStartOffset: -1n, recordErrors: [], errorMessage: null }
          if (part.records === null || part.records.byteLength === 0) return { ...base, errorCode: ErrorCode.INVALID_REQUEST.kafkaCode, baseOffset: -1n }
          try {
            const payload = { records: part.records, acks: acks as ProduceAcks }
            const answer = await node.ask<NativeProduceResponse>(replicaActorId(topic.name, part.partitionIndex, node.nodeId), BrokerRequest.produce, payload, { timeoutMs })
            return { ...base, errorCode: 0, baseOffset: BigInt(answer.baseOffset), logAppendTimeMs: BigInt(answer.logAppendTimeMs), logStartOffset: BigInt(answer.logStartOffset) }
          } catch (err) {
            return { ...base, errorCode: kafkaErrorCode(err), baseOffset: -1n, errorMessage: err instanceof Error ? err.message : String(err) }
          }
        }),
      ),
    })),
  )
  return { responses, throttleTimeMs: 0 }
}

function produceError(request: ProduceRequest, errorCode: number): ProduceResponse {
  const responses = request.topics.map((topic) => ({
    name: topic.name,
    partitions: topic.partitions.map((part) => ({
      partitionIndex: part.partitionIndex,
      errorCode,
      baseOffset: -1n,
      logAppendTimeMs: -1n,
      logStartOffset: -1n,
      recordErrors: [],
      errorMessage: null,
    })),
  }))
  return { responses, throttleTimeMs: 0 }
}

type FetchPartitionResponse = FetchResponse['responses'][number]['partitions'][number]

export interface FetchTarget {
  readonly topic: string
  readonly partition: number
  readonly fetchOffset: number
  readonly maxBytes: number
  readonly isolation: FetchIsolation
}

/** Kafka's isolation_level: 1 is read_committed; 0, or a version without the field, read_uncommitted. */
const ISOLATION_READ_COMMITTED = 1

/** The native isolation for Kafka's isolation_level (Fetch v4+, ListOffsets v2+). */
function isolationOf(isolationLevel: number): FetchIsolation {
  return isolationLevel === ISOLATION_READ_COMMITTED ? 'read_committed' : 'read_uncommitted'
}

/**
 * Every partition is read at once without waiting; if that gives fewer than minBytes and the
 * client allows a wait, every partition is asked again with the wait, and the answer goes as
 * soon as one of them brings data (or the wait is over): one partition with data does not
 * wait for the quiet ones. Asks still waiting then are left to time out on their own.
 */
export async function handleFetch(node: GatewayNode, request: FetchRequest): Promise<FetchResponse> {
  const responseMaxBytes = Math.max(1, request.maxBytes)
  const isolation = isolationOf(request.isolationLevel)
  const targets: FetchTarget[] = request.topics.flatMap((topic) =>
    topic.partitions.map((p) => ({ topic: topic.topic, partition: p.partition, fetchOffset: Number(p.fetchOffset), maxBytes: Math.max(1, Math.min(p.partitionMaxBytes, responseMaxBytes)), isolation })),
  )
  let answers = await Promise.all(targets.map((target) => fetchOne(node, target, 0)))
  const bytes = answers.reduce((sum, answer) => sum + (answer.records?.byteLength ?? 0), 0)
  const waitMs = Math.max(0, request.maxWaitMs)
  if (bytes < Math.max(1, request.minBytes) && waitMs > 0 && targets.length > 0) answers = await fetchWaiting(node, targets, answers, waitMs)
  answers = limitResponseBytes(answers, responseMaxBytes)
  const responses = request.topics.map((topic) => ({ topic: topic.topic, partitions: [] as FetchPartitionResponse[] }))
  let index = 0
  for (const [topicIndex, topic] of request.topics.entries()) {
    for (let i = 0; i < topic.partitions.length; i++) (responses[topicIndex] as (typeof responses)[number]).partitions.push(answers[index++] as FetchPartitionResponse)
  }
  return { throttleTimeMs: 0, errorCode: 0, sessionId: 0, responses }
}

/**
 * Fetch's request-wide maxBytes (v3+): whole batches, partitions in request order, until the
 * budget is spent; later partitions answer no records (the client asks again). The first
 * batch of the first partition with data goes even when larger, as Kafka does, so a consumer
 * always makes progress.
 */
export function limitResponseBytes(answers: readonly FetchPartitionResponse[], maxBytes: number): FetchPartitionResponse[] {
  let remaining = maxBytes
  let taken = false
  return answers.map((answer) => {
    const records = answer.records
    if (records === null || records.byteLength === 0) return answer
    let end = 0
    while (end + BATCH_LENGTH_END <= records.byteLength) {
      const size = BATCH_LENGTH_END + readInt32(records, end + BATCH_LENGTH_OFFSET)
      if (size <= BATCH_LENGTH_END || end + size > records.byteLength) break
      if (size > remaining && taken) break
      remaining -= Math.min(size, remaining)
      end += size
      taken = true
    }
    return end === records.byteLength ? answer : { ...answer, records: records.subarray(0, end) }
  })
}

/** RecordBatch framing: baseOffset (int64) then batchLength (int32), which counts the bytes after it. */
const BATCH_LENGTH_OFFSET = 8
const BATCH_LENGTH_END = 12

async function fetchWaiting(node: GatewayNode, targets: readonly FetchTarget[], first: FetchPartitionResponse[], waitMs: number): Promise<FetchPartitionResponse[]> {
  const answers = [...first]
  await new Promise<void>((resolve) => {
    let left = targets.length
    targets.forEach((target, i) => {
      if ((first[i] as FetchPartitionResponse).errorCode !== 0) {
        if (--left === 0) resolve()
        return
      }
      void fetchOne(node, target, waitMs).then((answer) => {
        answers[i] = answer
        if ((answer.records?.byteLength ?? 0) > 0 || answer.errorCode !== 0 || --left === 0) resolve()
      })
    })
  })
  return answers
}

/**
 * One partition's fetch from its replica actor. read_committed reads below the last stable
 * offset and answers the aborted transactions among the records (the Kafka client drops their
 * batches); read_uncommitted answers none (null), as Kafka does.
 */
export async function fetchOne(node: GatewayNode, target: FetchTarget, maxWaitMs: number): Promise<FetchPartitionResponse> {
  const base = { partitionIndex: target.partition, lastStableOffset: -1n, logStartOffset: -1n, abortedTransactions: null, preferredReadReplica: -1 }
  try {
    const payload: NativeFetchRequest = { offset: target.fetchOffset, maxBytes: target.maxBytes, maxWaitMs, isolation: target.isolation }
    const answer = await node.ask<NativeFetchResponse>(replicaActorId(target.topic, target.partition, node.nodeId), BrokerRequest.fetch, payload, {
      timeoutMs: maxWaitMs + GATEWAY_ASK_TIMEOUT_MS,
    })
    const abortedTransactions =
      target.isolation === 'read_committed' ? (answer.abortedTransactions ?? []).map((txn) => ({ producerId: BigInt(txn.producerId), firstOffset: BigInt(txn.firstOffset) })) : null
    return {
      ...base,
      errorCode: 0,
      highWatermark: BigInt(answer.highWatermark),
      lastStableOffset: BigInt(answer.lastStableOffset),
      logStartOffset: BigInt(answer.logStartOffset),
      abortedTransactions,
      records: answer.records,
    }
  } catch (err) {
    return { ...base, errorCode: kafkaErrorCode(err), highWatermark: -1n, records: null }
  }
}

/**
 * timestamp -2 earliest, -1 latest, else the first record at or after it. Latest is the high
 * watermark, or under read_committed (v2+ isolation_level 1) the last stable offset, as Kafka
 * answers: a read_committed consumer must not seek past an open transaction.
 */
export async function handleListOffsets(node: GatewayNode, request: ListOffsetsRequest): Promise<ListOffsetsResponse> {
  const isolation = isolationOf(request.isolationLevel)
  const topics = await Promise.all(
    request.topics.map(async (topic) => ({
      name: topic.name,
      partitions: await Promise.all(
        topic.partitions.map(async (p) => {
          try {
            const answer = await node.ask<NativeListOffsetsResponse>(replicaActorId(topic.name, p.partitionIndex, node.nodeId), BrokerRequest.listOffsets, { timestamp: Number(p.timestamp), isolation } satisfies NativeListOffsetsRequest, {
              timeoutMs: GATEWAY_ASK_TIMEOUT_MS,
            })
            return { partitionIndex: p.partitionIndex, errorCode: 0, timestamp: BigInt(answer.timestamp), offset: BigInt(answer.offset), leaderEpoch: -1 }
          } catch (err) {
            return { partitionIndex: p.partitionIndex, errorCode: kafkaErrorCode(err), timestamp: -1n, offset: -1n, leaderEpoch: -1 }
          }
        }),
      ),
    })),
  )
  return { throttleTimeMs: 0, topics }
}
