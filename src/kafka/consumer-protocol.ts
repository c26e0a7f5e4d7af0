import type { TopicPartitionRef } from '../wire/index.js'
import { ErrorCode, SkeinError } from '../wire/errors.js'

/**
 * Kafka's consumer protocol (ConsumerProtocolSubscription / ConsumerProtocolAssignment): the
 * bytes inside JoinGroup's member metadata and SyncGroup's assignments. The group protocol
 * treats them as opaque; the gateway reads them because skein's coordinator keeps
 * subscriptions and assignments as topic lists, so a group can move between the native SDK
 * and a Kafka client. Only the fields every version has are read (version, topics, and for
 * an assignment the partitions); user data and owned partitions are not kept.
 *
 *   Subscription: version i16 | topics [string] | userData bytes | (v1+ owned, v2+ generation, v3+ rack)
 *   Assignment:   version i16 | assigned [topic string, partitions [i32]] | userData bytes
 */

/** Topics and partitions per topic above these are refused as garbage: far beyond any real group. */
const TOPICS_MAX = 100_000
const PARTITIONS_MAX = 1_000_000

class Cursor {
  private position = 0
  constructor(private readonly bytes: Buffer) {}

  int16(): number {
    this.need(2)
    const value = this.bytes.readInt16BE(this.position)
    this.position += 2
    return value
  }

  int32(): number {
    this.need(4)
    const value = this.bytes.readInt32BE(this.position)
    this.position += 4
    return value
  }

  string(): string {
    const length = this.int16()
    if (length < 0) throw bad('null string')
    this.need(length)
    const value = this.bytes.toString('utf8', this.position, this.position + length)
    this.position += length
    return value
  }

  count(max: number): number {
    const count = this.int32()
    if (count < 0 || count > max) throw bad(`count ${count}`)
    return count
  }

  private need(bytes: number): void {
    if (this.position + bytes > this.bytes.length) throw bad('truncated')
  }
}

function bad(what: string): SkeinError {
  return new SkeinError(ErrorCode.INVALID_REQUEST, `consumer protocol bytes: ${what}`)
}

/** The topics a JoinGroup member subscribes to. Throws INVALID_REQUEST for bytes that do not parse. */
export function decodeSubscriptionTopics(metadata: Uint8Array): string[] {
  const cursor = new Cursor(Buffer.from(metadata.buffer, metadata.byteOffset, metadata.byteLength))
  cursor.int16() // version: every version starts with the topics
  const count = cursor.count(TOPICS_MAX)
  const topics: string[] = []
  for (let i = 0; i < count; i++) topics.push(cursor.string())
  return topics
}

/** A version 0 subscription (topics, no user data): what the group leader reads of each member. */
export function encodeSubscription(topics: readonly string[]): Uint8Array {
  const parts: Buffer[] = [int16(0), int32(topics.length)]
  for (const topic of topics) parts.push(str(topic))
  parts.push(int32(-1))
  return Buffer.concat(parts)
}

export function decodeAssignment(assignment: Uint8Array): TopicPartitionRef[] {
  if (assignment.byteLength === 0) return []
  const cursor = new Cursor(Buffer.from(assignment.buffer, assignment.byteOffset, assignment.byteLength))
  cursor.int16()
  const topicCount = cursor.count(TOPICS_MAX)
  const refs: TopicPartitionRef[] = []
  for (let i = 0; i < topicCount; i++) {
    const topic = cursor.string()
    const partitionCount = cursor.count(PARTITIONS_MAX)
    for (let j = 0; j < partitionCount; j++) refs.push({ topic, partition: cursor.int32() })
  }
  return refs
}

/** A version 0 assignment, partitions grouped by topic in first-seen order, empty user data. */
export function encodeAssignment(refs: readonly TopicPartitionRef[]): Uint8Array {
  const byTopic = new Map<string, number[]>()
  for (const ref of refs) {
    const partitions = byTopic.get(ref.topic) ?? []
    partitions.push(ref.partition)
    byTopic.set(ref.topic, partitions)
  }
  const parts: Buffer[] = [int16(0), int32(byTopic.size)]
  for (const [topic, partitions] of byTopic) {
    parts.push(str(topic), int32(partitions.length))
    for (const partition of partitions) parts.push(int32(partition))
  }
  parts.push(int32(0))
  return Buffer.concat(parts)
}

function int16(value: number): Buffer {
  const buffer = Buffer.alloc(2)
  buffer.writeInt16BE(value)
  return buffer
}

function int32(value: number): Buffer {
  const buffer = Buffer.alloc(4)
  buffer.writeInt32BE(value)
  return buffer
}

function str(value: string): Buffer {
  const bytes = Buffer.from(value, 'utf8')
  return Buffer.concat([int16(bytes.length), bytes])
}
