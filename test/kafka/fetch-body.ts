import type { FetchResponse } from '../../src/kafka/index.js'

/** A Fetch response body with one partition (0 of topic `t`) carrying `records`, valid at every version. */
export function onePartitionFetchResponse(records: Uint8Array | null, highWatermark: bigint): FetchResponse {
  return {
    throttleTimeMs: 0,
    errorCode: 0,
    sessionId: 0,
    responses: [
      {
        topic: 't',
        partitions: [
          {
            partitionIndex: 0,
            errorCode: 0,
            highWatermark,
            lastStableOffset: highWatermark,
            logStartOffset: 0n,
            abortedTransactions: [],
            preferredReadReplica: -1,
            records,
          },
        ],
      },
    ],
  }
}
