import { expect } from 'vitest'
import type { Processes } from './processes.js'

/** A cluster's identity for a Kafka process test. */
export interface KafkaTestCluster {
  readonly clusterId: string
  readonly secret: string
}

/**
 * Starts one `skein start` per id, all controllers, each with a Kafka listener on an ephemeral
 * port (`--kafka-port ephemeral`, read back from 'node started'); the others join through the
 * first. Resolves with the Kafka ports in id order and the first node's address as a seed.
 */
export async function startKafkaCluster(procs: Processes, cluster: KafkaTestCluster, nodeIds: readonly string[]): Promise<{ kafkaPorts: number[]; seed: string }> {
  const common = { ...cluster, controllers: [...nodeIds], kafkaPort: 'ephemeral' as const }
  const [firstId, ...otherIds] = nodeIds
  const first = await procs.start(firstId as string, common)
  const others = await Promise.all(otherIds.map((id) => procs.start(id, { ...common, seeds: [first.address] })))
  const kafkaPorts = [first, ...others].map((node) => node.kafkaPort)
  for (const port of kafkaPorts) expect(port).toBeGreaterThan(0)
  return { kafkaPorts: kafkaPorts as number[], seed: first.address }
}
