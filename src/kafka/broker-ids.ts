/**
 * Kafka names brokers by int32 ids; skein nodes have string ids. The Kafka broker id of a
 * node is a hash of its id (FNV-1a, 32 bits, top bit cleared so it is non-negative): stable
 * across restarts and membership changes, computed alike by every node with no coordination.
 * Two node ids hashing alike is a 1 in 2^31 chance per pair; `brokerIdTable` detects it and
 * the listener logs it (the later node in id order is then left out of Metadata).
 */
export function kafkaBrokerId(nodeId: string): number {
  let hash = 0x811c9dc5
  const bytes = Buffer.from(nodeId, 'utf8')
  for (const byte of bytes) hash = Math.imul(hash ^ byte, 0x01000193)
  return hash & 0x7fff_ffff
}

/** node id -> broker id and back, for the nodes given; collisions keep the first in id order. */
export function brokerIdTable(nodeIds: readonly string[]): { byNode: Map<string, number>; byBroker: Map<number, string>; collisions: string[] } {
  const byNode = new Map<string, number>()
  const byBroker = new Map<number, string>()
  const collisions: string[] = []
  for (const nodeId of [...nodeIds].sort()) {
    const brokerId = kafkaBrokerId(nodeId)
    if (byBroker.has(brokerId)) {
      collisions.push(nodeId)
      continue
    }
    byNode.set(nodeId, brokerId)
    byBroker.set(brokerId, nodeId)
  }
  return { byNode, byBroker, collisions }
}
