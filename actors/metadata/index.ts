// The cluster metadata's public surface: topic names, topic configs, the replicated state and its voters.
export { INTERNAL_TOPIC_PREFIX, TOPIC_NAME_LENGTH_MAX, validateTopicName, type TopicNameOptions } from './topic-name.js'
export {
  FLUSH_INTERVAL_BYTES,
  MESSAGE_BYTES_MAX,
  SEGMENT_BYTES_MAX,
  SEGMENT_BYTES_MIN,
  TOPIC_CONFIG_NAMES,
  TOPIC_CONFIGS_DEFAULT,
  logConfigFor,
  parseTopicConfigs,
  topicConfigEntries,
  validateTopicConfigs,
  type TopicConfigs,
} from './topic-configs.js'
export {
  CONSUMER_OFFSETS_TOPIC,
  EMPTY_METADATA,
  PARTITIONS_PER_TOPIC_MAX,
  PRODUCER_ID_BLOCK_SIZE_MAX,
  REPLICAS_PER_PARTITION_MAX,
  TOPIC_ID_LENGTH_MAX,
  UNEXPECTED_PREFIX,
  applyMetadataCommand,
  metadataFromJson,
  metadataToJson,
  sortedTopics,
  type ApplyOutcome,
  type ClusterMetadata,
  type MetadataCommand,
  type TopicMetadata,
} from './state.js'
export {
  METADATA_PLACEMENT_KEY,
  VoterStepKind,
  chooseReplacement,
  metadataReplicaBootstrap,
  nextVoterStep,
  type VoterGroupView,
  type VoterReplacementInput,
  type VoterStep,
} from './voter-replacement.js'
export { ControllerVoters, type ControllerMembership, type ObservedMembership } from './voters.js'
