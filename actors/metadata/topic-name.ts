/**
 * Topic names, with Kafka's rules so that any Kafka client can name any skein topic and the
 * other way round. A name ends up in directory names (`<topic>-<partition>`) and in every
 * metadata answer, so it is checked once, here, wherever it enters.
 */
import { ErrorCode, SkeinError } from '../../src/wire/index.js'

/**
 * Longest topic name, in characters (all ASCII, so also bytes). Kafka's limit: the partition
 * directory `<topic>-<partition>` must fit the common 255-byte file name limit, with room
 * for the partition number and Kafka's `.delete` / `-future` suffixes.
 */
export const TOPIC_NAME_LENGTH_MAX = 249

/** Names starting with this belong to the cluster itself (`__cluster_metadata`, `__consumer_offsets`). */
export const INTERNAL_TOPIC_PREFIX = '__'

export interface TopicNameOptions {
  /** Allow the reserved `__` prefix: only for topics the cluster creates for itself. */
  readonly internal?: boolean
}

// Kafka's legal characters. Anything else could be a path separator, a shell metacharacter
// or a character that file systems fold or refuse.
const legalCharacter = /^[a-zA-Z0-9._-]$/

/** Returns the name if it is a valid topic name; otherwise throws INVALID_TOPIC_EXCEPTION naming the problem. */
export function validateTopicName(name: unknown, options: TopicNameOptions = {}): string {
  if (typeof name !== 'string') throw invalidName(`topic name must be a string, got ${typeof name}`)
  if (name.length === 0) throw invalidName('topic name is empty')
  if (name.length > TOPIC_NAME_LENGTH_MAX) {
    throw invalidName(`topic name is ${name.length} characters long; the limit is ${TOPIC_NAME_LENGTH_MAX}`)
  }
  // They would name the data directory itself or its parent.
  if (name === '.' || name === '..') throw invalidName(`topic name cannot be "${name}"`)
  const badIndex = firstIllegalIndex(name)
  if (badIndex !== -1) {
    throw invalidName(
      `topic name ${JSON.stringify(name)} has the character ${JSON.stringify(name[badIndex])} at index ${badIndex}; only [a-zA-Z0-9._-] are allowed`,
    )
  }
  if (name.startsWith(INTERNAL_TOPIC_PREFIX) && options.internal !== true) {
    throw invalidName(`topic name ${JSON.stringify(name)} starts with "${INTERNAL_TOPIC_PREFIX}", which is reserved for internal topics`)
  }
  return name
}

function firstIllegalIndex(name: string): number {
  for (let index = 0; index < name.length; index++) {
    if (!legalCharacter.test(name[index] ?? '')) return index
  }
  return -1
}

function invalidName(message: string): SkeinError {
  return new SkeinError(ErrorCode.INVALID_TOPIC_EXCEPTION, message)
}
