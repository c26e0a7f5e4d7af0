import type { PartitionReplica } from '../../actors/partition/replica.js'
import { encodeRecordBatch } from '../../src/log/record-batch.js'
import type { SkeinNode } from '../../src/node.js'

/**
 * For transaction tests on whole in-process nodes: record batches (transactional ones with
 * producer epoch 0) and the replica a node hosts, on which a test writes the transaction
 * markers the coordinator would.
 */

/** A batch of `values` at `timestampMs`; with `txn`, transactional for that producer from that sequence. */
export function valuesBatch(values: readonly string[], timestampMs: number, txn?: { producerId: number; sequence: number }): Uint8Array {
  const records = values.map((value) => ({ key: null, value: new TextEncoder().encode(value), timestamp: timestampMs }))
  if (txn === undefined) return encodeRecordBatch({ records })
  return encodeRecordBatch({ producerId: txn.producerId, producerEpoch: 0, baseSequence: txn.sequence, isTransactional: true, records })
}

/** The replica of topic/partition `node` hosts; throws when it hosts none. */
export function hostedReplica(node: SkeinNode, topic: string, partition: number): PartitionReplica {
  const hosted = [...(node.services?.hostedReplicas.values() ?? [])].find((entry) => entry.topic === topic && entry.partition === partition)
  if (hosted === undefined) throw new Error(`${topic}/${partition} is not hosted`)
  return hosted.replica
}
