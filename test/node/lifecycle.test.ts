import { describe, expect, it } from 'vitest'
import { SimCluster, settle } from '../../sim/index.js'

describe('node lifecycle on a simulated cluster', () => {
  it('onStart_nodesJoinThroughTheirPeers_andEveryViewShowsAllAlive', async () => {
    const cluster = await SimCluster.start(['n1', 'n2', 'n3'])
    await cluster.world.runFor(10_000)
    for (const id of cluster.nodeIds) {
      const view = cluster.node(id).membership.members().map((m) => `${m.id}:${m.state}`)
      expect(view, id).toEqual(['n1:alive', 'n2:alive', 'n3:alive'])
    }
  })

  it('onGracefulStop_othersSeeLeft_andNothingIsLoggedAsAnError', async () => {
    const cluster = await SimCluster.start(['n1', 'n2', 'n3'])
    await cluster.world.runFor(10_000)
    await settle(cluster.world, cluster.node('n3').stop())
    await cluster.world.runFor(10_000)
    for (const id of ['n1', 'n2']) {
      expect(cluster.node(id).membership.members().find((m) => m.id === 'n3')?.state, id).toBe('left')
    }
    expect(cluster.world.logs.count('error')).toBe(0)
  })
})
