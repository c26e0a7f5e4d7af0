export { BrokerClient, type BrokerClientConfig } from './broker-client.js'
export { Client, type ClientConfig } from './client.js'
export { Admin, type ClusterDescription, type ClusterPartition, type CreateTopicOptions } from './admin.js'
export { Producer, type ProducerConfig, type ProducerMessage, type ProducerRecord, type RecordMetadata } from './producer.js'
export { Transaction, type GroupMetadataSource, type SendOffsetsOptions } from './transaction.js'
export {
  Consumer,
  type CommitOffset,
  type CommittedOffset,
  type ConsumerBatch,
  type ConsumerConfig,
  type ConsumerMessage,
  type RebalanceListener,
  type RunOptions,
  type SeekTarget,
  type TopicPartition,
  type TopicPartitionOffset,
} from './consumer.js'
export { ClientErrorReason, SkeinClientError } from './errors.js'
export type { GroupMetadata, GroupSubscription } from './group-member.js'
export { DefaultPartitioner, murmur2, partitionForKey, toPositive } from './partitioner.js'
export type { MessageBytes, MessageHeaders } from './records.js'
