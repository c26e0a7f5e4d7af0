/** 32-bit FNV-1a over a string's UTF-16 code units: fast, stable across processes and versions. */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193)
  }
  return hash >>> 0
}

/**
 * Rendezvous (highest-random-weight) choice of one node for a key: every node that knows the
 * same member list picks the same node, and removing a node moves only that node's keys.
 * The placement layer replaces this with a consistent-hash ring over the live membership.
 */
export function rendezvousNode(key: string, nodeIds: readonly string[]): string {
  if (nodeIds.length === 0) throw new RangeError('rendezvousNode needs at least one node')
  let best = nodeIds[0] as string
  let bestWeight = -1
  for (const nodeId of nodeIds) {
    const weight = fnv1a32(`${nodeId}\u0000${key}`)
    if (weight > bestWeight || (weight === bestWeight && nodeId < best)) {
      best = nodeId
      bestWeight = weight
    }
  }
  return best
}
