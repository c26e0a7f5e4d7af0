import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { BrokerClient } from '../../src/client/index.js'
import { silentLogger } from '../../src/env/index.js'
import { createRealEnv } from '../../src/env/real/index.js'
import type { SkeinNode } from '../../src/node.js'
import { controllerActorId } from '../../src/wire/index.js'
import { InProcessNodes } from '../helpers/in-process-nodes.js'

const CLUSTER = { clusterId: 'voters-test', clusterSecret: 'voters-test-secret-0123456789' }
const FOUNDING = ['n1', 'n2', 'n3']
/** A short grace so the test sees a replacement; partitions never move here (not what is tested). */
const BROKER = { controllerReplaceAfterMs: 2_000, rebalanceIntervalMs: 300, replicaReassignAfterMs: 3_600_000 }

const cluster = new InProcessNodes(CLUSTER, 'skein-voters')
const nodes = cluster.running
let client: BrokerClient | undefined

afterEach(async () => {
  await client?.close()
  client = undefined
  await cluster.cleanup()
})

function start(id: string, seed: string | undefined): Promise<SkeinNode> {
  return cluster.start(id, { seed, controllers: FOUNDING, broker: BROKER })
}

function stop(id: string): Promise<void> {
  return cluster.stop(id)
}

/** Waits until every running node knows `voters` (sorted) and no learner, as committed in the metadata log. */
async function waitForVoters(voters: string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  const known = () => [...nodes.values()].map((node) => node.services!.controllerMembership())
  const settled = () => known().every((m) => m !== undefined && m.voters.join() === voters.join() && m.learners.length === 0)
  while (!settled() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 200))
  expect(known().map((m) => ({ voters: m?.voters, learners: m?.learners }))).toEqual(known().map(() => ({ voters, learners: [] })))
}

async function createWithin(name: string, replicationFactor: number, timeoutMs: number): Promise<string[][]> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      return (await client!.createTopic({ name, partitions: 1, replicationFactor })).partitions
    } catch (error) {
      if (Date.now() >= deadline) throw error
      await new Promise((resolve) => setTimeout(resolve, 300))
    }
  }
}

describe('metadata voters replaced through Raft membership changes', () => {
  it('controllerDownPastTheGrace_liveNonVoterReplacesIt_removedNodeDropsItsReplica_quorumSurvivesASecondLoss', async () => {
    const n1 = await start('n1', undefined)
    for (const id of ['n2', 'n3', 'n4']) await start(id, n1.address)
    client = await BrokerClient.connect(createRealEnv({ dataDir: '/nonexistent', nodeId: 'client', log: silentLogger }), { seeds: [n1.address], ...CLUSTER, retryBackoffMs: 20 })
    await createWithin('before', 3, 20_000)
    await waitForVoters(FOUNDING, 10_000)

    // n2, a founding voter, goes away: past the 2 s grace the leader adds n4 as a learner,
    // promotes it once caught up, then removes n2.
    await stop('n2')
    await waitForVoters(['n1', 'n3', 'n4'], 40_000)
    const status = (await (await fetch(`http://${nodes.get('n4')!.address}/status`)).json()) as { controllers: string[]; controllerLearners: string[] }
    expect(status.controllers).toEqual(['n1', 'n3', 'n4'])
    expect(status.controllerLearners).toEqual([])

    // n2 comes back: it learns it was removed and drops its metadata replica, without disturbing the group.
    await start('n2', n1.address)
    await waitForVoters(['n1', 'n3', 'n4'], 20_000)
    const n2MetadataDir = join(cluster.dataDirOf('n2')!, 'metadata')
    const droppedBy = Date.now() + 10_000
    while (existsSync(n2MetadataDir) && Date.now() < droppedBy) await new Promise((resolve) => setTimeout(resolve, 100))
    expect(existsSync(n2MetadataDir)).toBe(false)
    await createWithin('while-n2-back', 3, 20_000)

    // A second founding voter dies: without the replacement, n1 alone of n1..n3 would have no
    // quorum; with it, n1 and n4 are a majority of n1, n3, n4 and admin goes on.
    await stop('n3')
    expect(await createWithin('after', 2, 30_000)).toHaveLength(1)
    // Past the grace, n3's seat goes to the only live non-voter: n2, re-added with a fresh log.
    await waitForVoters(['n1', 'n2', 'n4'], 40_000)
    expect(await createWithin('last', 3, 30_000)).toHaveLength(1)
  }, 180_000)

  it('metadataLeaderDown_aNewLeaderReplacesIt_afterTheGrace', async () => {
    const n1 = await start('n1', undefined)
    for (const id of ['n2', 'n3', 'n4']) await start(id, n1.address)
    client = await BrokerClient.connect(createRealEnv({ dataDir: '/nonexistent', nodeId: 'client', log: silentLogger }), {
      seeds: [...nodes.values()].map((node) => node.address), ...CLUSTER, retryBackoffMs: 20,
    })
    await createWithin('first', 3, 20_000)
    const statuses = await Promise.all(FOUNDING.map((id) => n1.actors.ask<{ role: string }>(controllerActorId(id), 'status', null, { timeoutMs: 2_000 })))
    const leader = FOUNDING[statuses.findIndex((status) => status.role === 'leader')]
    expect(leader).toBeDefined()
    await stop(leader!)
    await waitForVoters([...FOUNDING.filter((id) => id !== leader), 'n4'].sort(), 40_000)
    expect(await createWithin('second', 3, 30_000)).toHaveLength(1)
  }, 120_000)
})
