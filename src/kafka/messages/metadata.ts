import { arrayOf, field, struct, type ValueOf } from '../schema.js'

/**
 * Metadata (API key 3), versions 0-8: MetadataRequest.json / MetadataResponse.json.
 * `topics`: in v0 an empty array means every topic; from v1 null means every topic and an
 * empty array none. kafka-python probes with v0.
 */
export const MetadataRequestSchema = struct([
  field('topics', arrayOf(struct([field('name', 'string')])), '0+', { nullableVersions: '1+' }),
  field('allowAutoTopicCreation', 'bool', '4+', { default: true }),
  field('includeClusterAuthorizedOperations', 'bool', '8-10'),
  field('includeTopicAuthorizedOperations', 'bool', '8+'),
])

/** Kafka's "no authorized operations reported" value for the bitfields. */
export const AUTHORIZED_OPERATIONS_OMITTED = -2147483648

export const MetadataResponseSchema = struct([
  field('throttleTimeMs', 'int32', '3+'),
  field(
    'brokers',
    arrayOf(
      struct([
        field('nodeId', 'int32'),
        field('host', 'string'),
        field('port', 'int32'),
        field('rack', 'string', '1+', { nullableVersions: '1+', default: null }),
      ]),
    ),
  ),
  field('clusterId', 'string', '2+', { nullableVersions: '2+', default: null }),
  field('controllerId', 'int32', '1+', { default: -1 }),
  field(
    'topics',
    arrayOf(
      struct([
        field('errorCode', 'int16'),
        field('name', 'string'),
        field('isInternal', 'bool', '1+'),
        field(
          'partitions',
          arrayOf(
            struct([
              field('errorCode', 'int16'),
              field('partitionIndex', 'int32'),
              field('leaderId', 'int32'),
              field('leaderEpoch', 'int32', '7+', { default: -1 }),
              field('replicaNodes', arrayOf('int32')),
              field('isrNodes', arrayOf('int32')),
              field('offlineReplicas', arrayOf('int32'), '5+'),
            ]),
          ),
        ),
        field('topicAuthorizedOperations', 'int32', '8+', { default: AUTHORIZED_OPERATIONS_OMITTED }),
      ]),
    ),
  ),
  field('clusterAuthorizedOperations', 'int32', '8-10', { default: AUTHORIZED_OPERATIONS_OMITTED }),
])

export type MetadataRequest = ValueOf<typeof MetadataRequestSchema>
export type MetadataResponse = ValueOf<typeof MetadataResponseSchema>
