export { type Hash64, fmix32, fnv1a32, hash64, rendezvousScore } from './hash.js'
export {
  MEMBER_COUNT_MAX,
  MemberTable,
  type PlacementMember,
  type TableMember,
  firstReplica,
  rankReplicas,
  rendezvousNode,
  replicaSet,
} from './replica-set.js'
export { LOAD_FACTOR_DEFAULT, assignBalanced } from './balanced.js'
export { CACHE_ENTRIES_MAX_DEFAULT, MembershipDirectory, type MembershipDirectoryOptions } from './directory.js'
