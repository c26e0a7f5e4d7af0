import { BrokerClient } from '../../src/client/broker-client.js'
import { defaultClientEnv } from '../../src/client/default-env.js'
import { decodeRecordBatches } from '../../src/log/record-batch.js'
import { delay } from '../helpers/processes.js'
import type { PartitionLog } from './checker.js'
import type { ClusterAccess } from './workload.js'

/**
 * Reads every partition back from its first offset to its high watermark as stored: whole
 * batches through the request layer, decoded here (CRCs checked), control batches included, so
 * the checker sees every offset the log used, not only the data records a consumer returns.
 */

const FETCH_BYTES_MAX = 1024 * 1024
const EMPTY_FETCH_PAUSE_MS = 100

export async function readPartitions(access: ClusterAccess, topic: string, partitionCount: number, deadlineMs: number): Promise<Map<number, PartitionLog>> {
  const broker = await BrokerClient.connect(defaultClientEnv('chaos-read-back'), { ...access, seeds: [...access.seeds], clientId: 'chaos-read-back' })
  try {
    const deadline = performance.now() + deadlineMs
    const logs = new Map<number, PartitionLog>()
    for (let partition = 0; partition < partitionCount; partition++) logs.set(partition, await readPartition(broker, topic, partition, deadline))
    return logs
  } finally {
    await broker.close()
  }
}

async function readPartition(broker: BrokerClient, topic: string, partition: number, deadline: number): Promise<PartitionLog> {
  const first = await broker.fetch(topic, partition, 0, 1)
  const log: PartitionLog = { offsets: [], values: [], highWatermark: first.highWatermark, logStartOffset: first.logStartOffset }
  let next = first.logStartOffset
  while (next < log.highWatermark) {
    if (performance.now() > deadline) throw new Error(`read-back of partition ${partition} stopped at offset ${next} of ${log.highWatermark}: deadline passed`)
    const response = await broker.fetch(topic, partition, next, FETCH_BYTES_MAX)
    let advanced = false
    for (const batch of decodeRecordBatches(response.records)) {
      for (const record of batch.records) {
        if (record.offset < next || record.offset >= log.highWatermark) continue
        log.offsets.push(record.offset)
        log.values.push(batch.isControl ? null : Buffer.from(record.value ?? new Uint8Array()).toString('utf8'))
      }
      const after = batch.baseOffset + batch.lastOffsetDelta + 1
      if (after > next) {
        next = after
        advanced = true
      }
    }
    if (!advanced) await delay(EMPTY_FETCH_PAUSE_MS)
  }
  return log
}
