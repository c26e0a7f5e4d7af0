/**
 * The simulator's fault primitives against the real code: complete nodes (sim/cluster.ts)
 * paused, destroyed and replaced by new ones, and a real partition log under a backwards
 * wall-clock step.
 */
import { describe, expect, it } from 'vitest'
import { SIM_CLUSTER_ID, SIM_CLUSTER_SECRET, SIM_NODE_PORT, SimCluster } from '../../sim/cluster.js'
import { BrokerClient } from '../../src/client/index.js'
import { FAST_SWIM_SETTINGS } from '../../src/membership/index.js'
import { settle } from '../../sim/settle.js'
import { World } from '../../sim/world.js'
import { PartitionLog } from '../../src/log/log.js'
import { decodeRecordBatches, encodeRecordBatch } from '../../src/log/record-batch.js'

const HOUR_MS = 3_600_000

function views(cluster: SimCluster): Record<string, string[]> {
  const out: Record<string, string[]> = {}
  for (const id of cluster.nodes.keys()) out[id] = cluster.node(id).membership.members().map((m) => `${m.id}:${m.state}`)
  return out
}

describe('fault primitives on the real code', () => {
  it('pause_longerThanTheFailureDetector_peersDeclareItDead_itWakesAndRejoins_withNoErrorLogged', async () => {
    const cluster = await SimCluster.start(['n1', 'n2', 'n3'], { seed: 21 })
    const world = cluster.world
    await world.runFor(10_000)
    world.pause('n3', 20_000)
    await world.runFor(19_000)
    for (const id of ['n1', 'n2']) expect(cluster.node(id).membership.members().find((m) => m.id === 'n3')?.state, id).toBe('dead')
    // It saw nothing of that: its own view is as it was when it stopped.
    expect(cluster.node('n3').membership.members().map((m) => m.state)).toEqual(['alive', 'alive', 'alive'])
    await world.runFor(1_000)
    expect(world.isPaused('n3')).toBe(false)
    await world.runFor(20_000)
    for (const [id, view] of Object.entries(views(cluster))) expect(view, id).toEqual(['n1:alive', 'n2:alive', 'n3:alive'])
    expect(world.logs.count('error')).toBe(0)
  })

  it('destroy_andAddNode_theNewNodeJoinsThroughTheSeeds_andLearnsTheFoundingVoters', async () => {
    const cluster = await SimCluster.start(['n1', 'n2', 'n3'], { seed: 22 })
    const world = cluster.world
    await world.runFor(10_000)
    cluster.destroy('n3')
    expect(cluster.nodeIds).toEqual(['n1', 'n2'])
    expect(cluster.destroyedNodeIds).toEqual(['n3'])
    expect(() => world.restart('n3')).toThrow(/destroyed/)
    await expect(cluster.addNode('n3')).rejects.toThrow(/already used/)
    const added = await cluster.addNode('n4')
    expect(cluster.nodeIds).toEqual(['n1', 'n2', 'n4'])
    expect(added.config.seeds).toEqual(['n1:7071', 'n2:7071', 'n3:7071'])
    expect(cluster.configFor('n1').peers).toEqual({ n2: 'n2:7071', n4: 'n4:7071' })
    await world.runFor(30_000)
    for (const id of ['n1', 'n2', 'n4']) {
      const view = cluster.node(id).membership.members()
      expect(view.find((m) => m.id === 'n4')?.state, id).toBe('alive')
      expect(view.find((m) => m.id === 'n3')?.state, id).not.toBe('alive')
    }
    expect(added.services?.controllerVoters()).toEqual(['n1', 'n2', 'n3'])
  })

  it('jumpWallClock_backwards_aLogAppendTimeLogKeepsAppendingReadingRetainingAndRecovering', async () => {
    const world = new World({ seed: 23 })
    const env = world.addNode('n1')
    const config = { logAppendTime: true, segmentAgeMsMax: 1_000, retentionMs: 10 * 60_000 }
    const log = await settle(world, PartitionLog.open(env, 'p/log', config))
    const appendTimes: number[] = []
    const produce = async (count: number): Promise<void> => {
      for (let i = 0; i < count; i++) {
        const value = new TextEncoder().encode(`v${appendTimes.length}`)
        const result = await settle(world, log.append(encodeRecordBatch({ records: [{ key: null, value, timestamp: 0 }] }), 1))
        appendTimes.push(result.logAppendTimeMs)
        await world.runFor(300)
      }
    }
    await produce(10)
    const segmentsBeforeJump = log.stats().segments
    expect(segmentsBeforeJump).toBeGreaterThan(1) // segment.ms rolls
    world.jumpWallClock('n1', -HOUR_MS)
    await produce(10)
    expect(appendTimes[10]).toBeLessThan(appendTimes[9] as number) // the stamps really went back
    const retained = await settle(world, log.enforceRetention())
    expect(retained.deletedSegments).toBe(0) // nothing is "older" than an hour back
    const found = await settle(world, log.offsetForTimestamp(appendTimes[5] as number))
    expect(found?.offset).toBeDefined()
    const offsets: number[] = []
    for (let next = 0; next < log.logEndOffset; ) {
      const read = await settle(world, log.read(next, 1 << 20))
      offsets.push(...decodeRecordBatches(read.bytes).flatMap((batch) => batch.records.map((record) => record.offset)))
      expect(read.nextOffset).toBeGreaterThan(next)
      next = read.nextOffset
    }
    expect(offsets).toEqual(Array.from({ length: 20 }, (_, i) => i))

    world.crash('n1')
    const reopened = await settle(world, PartitionLog.open(world.restart('n1'), 'p/log', config))
    expect(reopened.logEndOffset).toBe(20)
    await settle(world, reopened.append(encodeRecordBatch({ records: [{ key: null, value: new Uint8Array([1]), timestamp: 0 }] }), 1))
    expect(reopened.logEndOffset).toBe(21)
  })

  it('jumpWallClock_backwardsOnEveryNode_aReplicatedTopicKeepsAcceptingAndServingWrites', async () => {
    const ids = ['n1', 'n2', 'n3']
    const cluster = await SimCluster.start(ids, { seed: 24, configFor: () => ({ controllers: ids, swimSettings: FAST_SWIM_SETTINGS }) })
    const world = cluster.world
    const clientEnv = world.addNode('client')
    const client = await settle(world, BrokerClient.connect(clientEnv, { seeds: ids.map((id) => `${id}:${SIM_NODE_PORT}`), clusterId: SIM_CLUSTER_ID, clusterSecret: SIM_CLUSTER_SECRET }))
    await settle(world, client.createTopic({ name: 't', partitions: 1, replicationFactor: 3 }))
    await settle(world, client.waitForLeaders('t'))
    const produce = async (value: string): Promise<void> => {
      const batch = encodeRecordBatch({ records: [{ key: null, value: new TextEncoder().encode(value), timestamp: Math.floor(clientEnv.clock.wallMs()) }] })
      await settle(world, client.produce('t', 0, batch, -1))
    }
    for (let i = 0; i < 3; i++) await produce(`before${i}`)
    for (const id of [...ids, 'client']) world.jumpWallClock(id, -HOUR_MS)
    await world.runFor(5_000)
    for (let i = 0; i < 3; i++) await produce(`after${i}`)
    const fetched = await settle(world, client.fetch('t', 0, 0))
    const dataBatches = decodeRecordBatches(fetched.records).filter((batch) => !batch.isControl)
    const values = dataBatches.flatMap((batch) => batch.records.map((record) => new TextDecoder().decode(record.value as Uint8Array)))
    expect(values).toEqual(['before0', 'before1', 'before2', 'after0', 'after1', 'after2'])
    expect(world.logs.count('error')).toBe(0)
  })
})
