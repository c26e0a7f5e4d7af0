import { describe } from 'vitest'
import { ApiKey } from '../../src/kafka/index.js'
import { requestGolden, responseGolden } from './golden.js'
import { arr, bool, bytes, cat, i16, i32, i64, i8, str } from './wire-builder.js'

const OPS_OMITTED = -2147483648
const subscription = Buffer.from('0001000000010003666f6f', 'hex')
const assignment = Buffer.from('00010000000100036261720000000100000000', 'hex')

describe('golden: OffsetCommit', () => {
  const partitionDefaults = { committedLeaderEpoch: -1, commitTimestamp: -1n }
  requestGolden(
    ApiKey.OffsetCommit,
    0,
    {
      groupId: 'g',
      generationId: -1,
      memberId: '',
      groupInstanceId: null,
      retentionTimeMs: -1n,
      topics: [{ name: 't', partitions: [{ partitionIndex: 0, committedOffset: 10n, ...partitionDefaults, committedMetadata: null }] }],
    },
    cat(str('g'), arr([cat(str('t'), arr([cat(i32(0), i64(10), str(null))]))])),
  )
  requestGolden(
    ApiKey.OffsetCommit,
    1,
    {
      groupId: 'g',
      generationId: 3,
      memberId: 'm',
      groupInstanceId: null,
      retentionTimeMs: -1n,
      topics: [{ name: 't', partitions: [{ partitionIndex: 0, committedOffset: 10n, committedLeaderEpoch: -1, commitTimestamp: 99n, committedMetadata: '' }] }],
    },
    cat(str('g'), i32(3), str('m'), arr([cat(str('t'), arr([cat(i32(0), i64(10), i64(99), str(''))]))])),
  )
  requestGolden(
    ApiKey.OffsetCommit,
    2,
    {
      groupId: 'g',
      generationId: 3,
      memberId: 'm',
      groupInstanceId: null,
      retentionTimeMs: 86_400_000n,
      topics: [{ name: 't', partitions: [{ partitionIndex: 1, committedOffset: 11n, ...partitionDefaults, committedMetadata: 'x' }] }],
    },
    cat(str('g'), i32(3), str('m'), i64(86_400_000), arr([cat(str('t'), arr([cat(i32(1), i64(11), str('x'))]))])),
  )
  requestGolden(
    ApiKey.OffsetCommit,
    7,
    {
      groupId: 'g',
      generationId: 4,
      memberId: 'm',
      groupInstanceId: 'static-1',
      retentionTimeMs: -1n,
      topics: [{ name: 't', partitions: [{ partitionIndex: 2, committedOffset: 12n, committedLeaderEpoch: 6, commitTimestamp: -1n, committedMetadata: null }] }],
    },
    cat(str('g'), i32(4), str('m'), str('static-1'), arr([cat(str('t'), arr([cat(i32(2), i64(12), i32(6), str(null))]))])),
  )
  responseGolden(
    ApiKey.OffsetCommit,
    0,
    { throttleTimeMs: 0, topics: [{ name: 't', partitions: [{ partitionIndex: 0, errorCode: 0 }] }] },
    cat(arr([cat(str('t'), arr([cat(i32(0), i16(0))]))])),
  )
  responseGolden(
    ApiKey.OffsetCommit,
    7,
    { throttleTimeMs: 2, topics: [{ name: 't', partitions: [{ partitionIndex: 0, errorCode: 22 }] }] },
    cat(i32(2), arr([cat(str('t'), arr([cat(i32(0), i16(22))]))])),
  )
})

describe('golden: OffsetFetch', () => {
  requestGolden(
    ApiKey.OffsetFetch,
    0,
    { groupId: 'g', topics: [{ name: 't', partitionIndexes: [0, 1] }] },
    cat(str('g'), arr([cat(str('t'), arr([i32(0), i32(1)]))])),
  )
  requestGolden(ApiKey.OffsetFetch, 5, { groupId: 'g', topics: null }, cat(str('g'), arr(null)))
  responseGolden(
    ApiKey.OffsetFetch,
    0,
    {
      throttleTimeMs: 0,
      topics: [{ name: 't', partitions: [{ partitionIndex: 0, committedOffset: -1n, committedLeaderEpoch: -1, metadata: null, errorCode: 0 }] }],
      errorCode: 0,
    },
    cat(arr([cat(str('t'), arr([cat(i32(0), i64(-1), str(null), i16(0))]))])),
  )
  responseGolden(
    ApiKey.OffsetFetch,
    5,
    {
      throttleTimeMs: 1,
      topics: [{ name: 't', partitions: [{ partitionIndex: 0, committedOffset: 55n, committedLeaderEpoch: 3, metadata: 'meta', errorCode: 0 }] }],
      errorCode: 16,
    },
    cat(i32(1), arr([cat(str('t'), arr([cat(i32(0), i64(55), i32(3), str('meta'), i16(0))]))]), i16(16)),
  )
})

describe('golden: FindCoordinator', () => {
  requestGolden(ApiKey.FindCoordinator, 0, { key: 'g', keyType: 0 }, str('g'))
  requestGolden(ApiKey.FindCoordinator, 2, { key: 'tx', keyType: 1 }, cat(str('tx'), i8(1)))
  responseGolden(
    ApiKey.FindCoordinator,
    0,
    { throttleTimeMs: 0, errorCode: 0, errorMessage: null, nodeId: 3, host: 'h3', port: 9094 },
    cat(i16(0), i32(3), str('h3'), i32(9094)),
  )
  responseGolden(
    ApiKey.FindCoordinator,
    2,
    { throttleTimeMs: 0, errorCode: 15, errorMessage: 'not available', nodeId: -1, host: '', port: -1 },
    cat(i32(0), i16(15), str('not available'), i32(-1), str(''), i32(-1)),
  )
})

describe('golden: JoinGroup', () => {
  requestGolden(
    ApiKey.JoinGroup,
    0,
    {
      groupId: 'g',
      sessionTimeoutMs: 10_000,
      rebalanceTimeoutMs: -1,
      memberId: '',
      groupInstanceId: null,
      protocolType: 'consumer',
      protocols: [{ name: 'range', metadata: subscription }],
    },
    cat(str('g'), i32(10_000), str(''), str('consumer'), arr([cat(str('range'), bytes(subscription))])),
  )
  requestGolden(
    ApiKey.JoinGroup,
    5,
    {
      groupId: 'g',
      sessionTimeoutMs: 10_000,
      rebalanceTimeoutMs: 60_000,
      memberId: 'm-1',
      groupInstanceId: 'static',
      protocolType: 'consumer',
      protocols: [
        { name: 'range', metadata: subscription },
        { name: 'roundrobin', metadata: subscription },
      ],
    },
    cat(
      str('g'),
      i32(10_000),
      i32(60_000),
      str('m-1'),
      str('static'),
      str('consumer'),
      arr([cat(str('range'), bytes(subscription)), cat(str('roundrobin'), bytes(subscription))]),
    ),
  )
  responseGolden(
    ApiKey.JoinGroup,
    0,
    {
      throttleTimeMs: 0,
      errorCode: 0,
      generationId: 1,
      protocolName: 'range',
      leader: 'm-1',
      memberId: 'm-1',
      members: [{ memberId: 'm-1', groupInstanceId: null, metadata: subscription }],
    },
    cat(i16(0), i32(1), str('range'), str('m-1'), str('m-1'), arr([cat(str('m-1'), bytes(subscription))])),
  )
  responseGolden(
    ApiKey.JoinGroup,
    5,
    {
      throttleTimeMs: 0,
      errorCode: 0,
      generationId: 2,
      protocolName: 'range',
      leader: 'm-1',
      memberId: 'm-2',
      members: [],
    },
    cat(i32(0), i16(0), i32(2), str('range'), str('m-1'), str('m-2'), arr([])),
  )
  responseGolden(
    ApiKey.JoinGroup,
    4,
    {
      throttleTimeMs: 0,
      errorCode: 0,
      generationId: 2,
      protocolName: 'range',
      leader: 'm-1',
      memberId: 'm-1',
      members: [{ memberId: 'm-1', groupInstanceId: null, metadata: subscription }],
    },
    cat(i32(0), i16(0), i32(2), str('range'), str('m-1'), str('m-1'), arr([cat(str('m-1'), bytes(subscription))])),
  )
})

describe('golden: Heartbeat', () => {
  requestGolden(ApiKey.Heartbeat, 0, { groupId: 'g', generationId: 1, memberId: 'm', groupInstanceId: null }, cat(str('g'), i32(1), str('m')))
  requestGolden(ApiKey.Heartbeat, 3, { groupId: 'g', generationId: 1, memberId: 'm', groupInstanceId: 'i' }, cat(str('g'), i32(1), str('m'), str('i')))
  responseGolden(ApiKey.Heartbeat, 0, { throttleTimeMs: 0, errorCode: 27 }, i16(27))
  responseGolden(ApiKey.Heartbeat, 3, { throttleTimeMs: 4, errorCode: 0 }, cat(i32(4), i16(0)))
})

describe('golden: LeaveGroup', () => {
  requestGolden(ApiKey.LeaveGroup, 0, { groupId: 'g', memberId: 'm', members: [] }, cat(str('g'), str('m')))
  requestGolden(ApiKey.LeaveGroup, 2, { groupId: 'g', memberId: 'm', members: [] }, cat(str('g'), str('m')))
  requestGolden(
    ApiKey.LeaveGroup,
    3,
    {
      groupId: 'g',
      memberId: '',
      members: [
        { memberId: 'm1', groupInstanceId: null },
        { memberId: 'm2', groupInstanceId: 'i2' },
      ],
    },
    cat(str('g'), arr([cat(str('m1'), str(null)), cat(str('m2'), str('i2'))])),
  )
  responseGolden(ApiKey.LeaveGroup, 0, { throttleTimeMs: 0, errorCode: 0, members: [] }, i16(0))
  responseGolden(
    ApiKey.LeaveGroup,
    3,
    { throttleTimeMs: 0, errorCode: 0, members: [{ memberId: 'm1', groupInstanceId: null, errorCode: 25 }] },
    cat(i32(0), i16(0), arr([cat(str('m1'), str(null), i16(25))])),
  )
})

describe('golden: SyncGroup', () => {
  requestGolden(
    ApiKey.SyncGroup,
    0,
    { groupId: 'g', generationId: 1, memberId: 'm', groupInstanceId: null, assignments: [{ memberId: 'm', assignment }] },
    cat(str('g'), i32(1), str('m'), arr([cat(str('m'), bytes(assignment))])),
  )
  requestGolden(
    ApiKey.SyncGroup,
    3,
    { groupId: 'g', generationId: 1, memberId: 'm', groupInstanceId: 'i', assignments: [] },
    cat(str('g'), i32(1), str('m'), str('i'), arr([])),
  )
  responseGolden(ApiKey.SyncGroup, 0, { throttleTimeMs: 0, errorCode: 0, assignment }, cat(i16(0), bytes(assignment)))
  responseGolden(ApiKey.SyncGroup, 3, { throttleTimeMs: 9, errorCode: 27, assignment: Buffer.alloc(0) }, cat(i32(9), i16(27), bytes(Buffer.alloc(0))))
})

describe('golden: DescribeGroups', () => {
  requestGolden(ApiKey.DescribeGroups, 0, { groups: ['g1', 'g2'], includeAuthorizedOperations: false }, arr([str('g1'), str('g2')]))
  requestGolden(ApiKey.DescribeGroups, 4, { groups: ['g1'], includeAuthorizedOperations: true }, cat(arr([str('g1')]), bool(true)))
  const member = { memberId: 'm', clientId: 'c', clientHost: '/10.0.0.1', memberMetadata: subscription, memberAssignment: assignment }
  responseGolden(
    ApiKey.DescribeGroups,
    0,
    {
      throttleTimeMs: 0,
      groups: [
        {
          errorCode: 0,
          groupId: 'g1',
          groupState: 'Stable',
          protocolType: 'consumer',
          protocolData: 'range',
          members: [{ ...member, groupInstanceId: null }],
          authorizedOperations: OPS_OMITTED,
        },
      ],
    },
    arr([
      cat(
        i16(0),
        str('g1'),
        str('Stable'),
        str('consumer'),
        str('range'),
        arr([cat(str('m'), str('c'), str('/10.0.0.1'), bytes(subscription), bytes(assignment))]),
      ),
    ]),
  )
  responseGolden(
    ApiKey.DescribeGroups,
    4,
    {
      throttleTimeMs: 1,
      groups: [
        {
          errorCode: 0,
          groupId: 'g1',
          groupState: 'Stable',
          protocolType: 'consumer',
          protocolData: 'range',
          members: [{ ...member, groupInstanceId: 'i' }],
          authorizedOperations: 0,
        },
      ],
    },
    cat(
      i32(1),
      arr([
        cat(
          i16(0),
          str('g1'),
          str('Stable'),
          str('consumer'),
          str('range'),
          arr([cat(str('m'), str('i'), str('c'), str('/10.0.0.1'), bytes(subscription), bytes(assignment))]),
          i32(0),
        ),
      ]),
    ),
  )
})

describe('golden: ListGroups', () => {
  requestGolden(ApiKey.ListGroups, 0, {}, Buffer.alloc(0))
  requestGolden(ApiKey.ListGroups, 2, {}, Buffer.alloc(0))
  responseGolden(
    ApiKey.ListGroups,
    0,
    { throttleTimeMs: 0, errorCode: 0, groups: [{ groupId: 'g', protocolType: 'consumer' }] },
    cat(i16(0), arr([cat(str('g'), str('consumer'))])),
  )
  responseGolden(ApiKey.ListGroups, 2, { throttleTimeMs: 5, errorCode: 0, groups: [] }, cat(i32(5), i16(0), arr([])))
})
