import { createRequire } from 'node:module'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { DefaultPartitioner, murmur2, partitionForKey, toPositive } from '../../src/client/partitioner.js'
import type { Random } from '../../src/env/index.js'

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text)

/** Kafka's UtilsTest.testMurmur2 (clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java). */
const KAFKA_UTILS_TEST: Record<string, number> = {
  '21': -973932308,
  foobar: -790332482,
  'a-little-bit-long-string': -985981536,
  'a-little-bit-longer-string': -1486304829,
  lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8: -58897971,
  abc: 479470107,
}

/** Generated with the Java client's Utils.murmur2 (kafkajs's defaultJava test data; Akka's Murmur2Spec). */
const JAVA_GENERATED: Record<string, number> = {
  '0': 971027396,
  '1': -1993445489,
  '12': 126087238,
  '123': -267702483,
  '1234': -1614185708,
  '12345': -1188365604,
  '128': -326012175,
  '2187': -1508407203,
}

/** The Java DefaultPartitioner's choice with 120 partitions (kafka-node's test, run against the Java client). */
const JAVA_PARTITIONS_OF_120: Record<string, number> = {
  '\u263a tlw61or': 101,
  '\u263a ww50w20ggb9': 26,
  '\u263a tf706z9i2v86w29': 40,
  '\u263a pgb9': 1,
  '\u263a b9': 8,
}

describe('murmur2', () => {
  it('murmur2_kafkaUtilsTestVectors_match', () => {
    for (const [key, hash] of Object.entries(KAFKA_UTILS_TEST)) expect(murmur2(utf8(key)), key).toBe(hash)
  })

  it('murmur2_javaGeneratedVectors_match', () => {
    for (const [key, hash] of Object.entries(JAVA_GENERATED)) expect(murmur2(utf8(key)), key).toBe(hash)
  })

  it('murmur2_emptyKey_isTheSeedMix', () => {
    expect(murmur2(new Uint8Array(0))).toBe(murmur2(Buffer.alloc(0)))
    expect(Number.isInteger(murmur2(new Uint8Array(0)))).toBe(true)
  })

  it('murmur2_anyBytes_agreesWithKafkajsDefaultPartitionerHash', () => {
    const require = createRequire(import.meta.url)
    const kafkajsMurmur2 = require('kafkajs/src/producer/partitioners/default/murmur2.js') as (key: Buffer) => number
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        expect(murmur2(bytes)).toBe(kafkajsMurmur2(Buffer.from(bytes)))
      }),
      { numRuns: 500 },
    )
  })
})

describe('partitionForKey', () => {
  it('partitionForKey_javaDefaultPartitionerVectors_match', () => {
    for (const [key, partition] of Object.entries(JAVA_PARTITIONS_OF_120)) expect(partitionForKey(utf8(key), 120), key).toBe(partition)
  })

  it('toPositive_negativeHash_clearsSignBitNotAbs', () => {
    expect(toPositive(-1)).toBe(0x7fffffff)
    expect(toPositive(-2147483648)).toBe(0)
    expect(toPositive(5)).toBe(5)
    // 'foobar' hashes negative: Math.abs would pick another partition.
    expect(partitionForKey(utf8('foobar'), 7)).toBe((-790332482 & 0x7fffffff) % 7)
  })

  it('partitionForKey_zeroPartitions_throws', () => {
    expect(() => partitionForKey(utf8('a'), 0)).toThrow(RangeError)
  })
})

describe('DefaultPartitioner', () => {
  const sequence = (...values: number[]): Random => {
    let at = 0
    return { float: () => 0, int: (max) => (values[at++ % values.length] as number) % max, bytes: (n) => new Uint8Array(n) }
  }

  it('partition_keyed_isMurmur2ChoiceRegardlessOfSticky', () => {
    const partitioner = new DefaultPartitioner(sequence(3))
    expect(partitioner.partition('t', utf8('foobar'), 6)).toBe(partitionForKey(utf8('foobar'), 6))
  })

  it('partition_keyless_staysUntilBatchClosed_thenMovesToAnother', () => {
    const partitioner = new DefaultPartitioner(sequence(2, 0))
    const idle = (): number => 0
    expect(partitioner.partition('t', null, 4)).toBe(2)
    expect(partitioner.partition('t', null, 4)).toBe(2)
    partitioner.batchClosed('t', 1, 4, idle) // not the sticky one: no change
    expect(partitioner.partition('t', null, 4)).toBe(2)
    partitioner.batchClosed('t', 2, 4, idle)
    const next = partitioner.partition('t', null, 4)
    expect(next).not.toBe(2)
    expect(next).toBe(0) // candidates 0, 1, 3; int(3) = 0
  })

  it('partition_keylessAfterBatchClosed_picksAmongLeastQueuedPartitions', () => {
    const queued = [3, 1, 0, 5, 0, 2]
    for (const draw of [0, 1, 2, 3]) {
      const partitioner = new DefaultPartitioner(sequence(3, draw))
      expect(partitioner.partition('t', null, 6)).toBe(3)
      partitioner.batchClosed('t', 3, 6, (p) => queued[p] as number)
      expect([2, 4]).toContain(partitioner.partition('t', null, 6))
    }
    // The closed partition is never chosen again, even when it is the least queued.
    const partitioner = new DefaultPartitioner(sequence(0, 0))
    expect(partitioner.partition('t', null, 3)).toBe(0)
    partitioner.batchClosed('t', 0, 3, (p) => (p === 0 ? 0 : 4))
    expect(partitioner.partition('t', null, 3)).not.toBe(0)
  })

  it('partition_keylessSinglePartition_alwaysZero', () => {
    const partitioner = new DefaultPartitioner(sequence(5))
    expect(partitioner.partition('t', null, 1)).toBe(0)
    partitioner.batchClosed('t', 0, 1, () => 0)
    expect(partitioner.partition('t', null, 1)).toBe(0)
  })
})
