import type { Random } from '../env/index.js'

/**
 * Kafka's default partitioning, so a key lands on the partition a Java, librdkafka or kafkajs
 * producer would pick for it (kafkajs's "DefaultPartitioner", Java's BuiltInPartitioner):
 *
 *   keyed record    toPositive(murmur2(keyBytes)) % numPartitions   (over all partitions)
 *   keyless record  sticky: every keyless record of a topic goes to one partition until a
 *                   batch to it is sent, then a new one is drawn (never the same, if there
 *                   are two or more), so keyless records fill batches instead of spreading
 *                   one record per partition
 *
 * Strings are hashed as their UTF-8 bytes, as Kafka's StringSerializer sends them.
 */

const MURMUR2_SEED = 0x9747b28c
const MURMUR2_M = 0x5bd1e995
const MURMUR2_R = 24

/**
 * Kafka's `Utils.murmur2`: MurmurHash2, 32-bit, seed 0x9747b28c, as a signed int32. Java's
 * int arithmetic wraps at 32 bits; `Math.imul` and `| 0` do the same here.
 */
export function murmur2(data: Uint8Array): number {
  const length = data.length
  let h = (MURMUR2_SEED ^ length) | 0
  const wholeWords = length >>> 2
  for (let word = 0; word < wholeWords; word++) {
    const at = word * 4
    let k = (data[at] as number) | ((data[at + 1] as number) << 8) | ((data[at + 2] as number) << 16) | ((data[at + 3] as number) << 24)
    k = Math.imul(k, MURMUR2_M)
    k ^= k >>> MURMUR2_R
    k = Math.imul(k, MURMUR2_M)
    h = Math.imul(h, MURMUR2_M)
    h ^= k
  }
  const tail = length & ~3
  // Java's switch with fall-through over the 1 to 3 trailing bytes.
  const trailing = length & 3
  if (trailing === 3) h ^= (data[tail + 2] as number) << 16
  if (trailing >= 2) h ^= (data[tail + 1] as number) << 8
  if (trailing >= 1) {
    h ^= data[tail] as number
    h = Math.imul(h, MURMUR2_M)
  }
  h ^= h >>> 13
  h = Math.imul(h, MURMUR2_M)
  h ^= h >>> 15
  return h | 0
}

/** Kafka's `Utils.toPositive`: clears the sign bit (not Math.abs, which differs for negatives). */
export function toPositive(hash: number): number {
  return hash & 0x7fffffff
}

/** The partition Kafka's default partitioner gives a key. */
export function partitionForKey(key: Uint8Array, partitionCount: number): number {
  assertPartitionCount(partitionCount)
  return toPositive(murmur2(key)) % partitionCount
}

/**
 * Picks partitions for records without an explicit partition: murmur2 for keyed records, the
 * sticky partition for keyless ones. One per producer; state is the sticky choice per topic.
 */
export class DefaultPartitioner {
  private readonly sticky = new Map<string, number>()

  constructor(private readonly random: Random) {}

  partition(topic: string, key: Uint8Array | null, partitionCount: number): number {
    if (key !== null) return partitionForKey(key, partitionCount)
    assertPartitionCount(partitionCount)
    const current = this.sticky.get(topic)
    if (current !== undefined && current < partitionCount) return current
    const chosen = this.random.int(partitionCount)
    this.sticky.set(topic, chosen)
    return chosen
  }

  /**
   * A batch of `topic` on `partition` was closed (full, or its linger ran out): if that was the
   * sticky partition, the next keyless record goes to another (KIP-480), and, as with Kafka's
   * adaptive partitioning (KIP-794), to one of those with the fewest batches waiting or in
   * flight (`queuedBatches`), chosen at random among them: keyless records then flow to the
   * partitions whose leaders keep up rather than piling onto a slow one.
   */
  batchClosed(topic: string, partition: number, partitionCount: number, queuedBatches: (partition: number) => number): void {
    if (this.sticky.get(topic) !== partition) return
    if (partitionCount < 2) return
    let fewest = Number.POSITIVE_INFINITY
    const candidates: number[] = []
    for (let candidate = 0; candidate < partitionCount; candidate++) {
      if (candidate === partition) continue
      const queued = queuedBatches(candidate)
      if (queued < fewest) {
        fewest = queued
        candidates.length = 0
      }
      if (queued === fewest) candidates.push(candidate)
    }
    this.sticky.set(topic, candidates[this.random.int(candidates.length)] as number)
  }
}

function assertPartitionCount(partitionCount: number): void {
  if (!Number.isSafeInteger(partitionCount) || partitionCount < 1) throw new RangeError(`partitionCount must be a positive integer, got ${partitionCount}`)
}
