/**
 * When each watched node was first seen not alive in gossip, for decisions that wait out a
 * grace period (moving replicas off a node, replacing a metadata voter). Kept by whoever
 * drives them, only while it leads: cleared when it stops, so the clock restarts with a new
 * leader (a node must look dead to the decider itself for the whole grace).
 */
export class DownSince {
  private readonly sinceMs = new Map<string, number>()

  /**
   * One look at gossip: a watched node not in `liveIds` is down from now unless it already
   * was; a node alive again, or no longer watched, is forgotten. Answers the watched nodes
   * down for at least `graceMs`.
   */
  observe(watched: Iterable<string>, liveIds: ReadonlySet<string>, nowMs: number, graceMs: number): Set<string> {
    const watchedIds = new Set(watched)
    for (const nodeId of [...this.sinceMs.keys()]) if (liveIds.has(nodeId) || !watchedIds.has(nodeId)) this.sinceMs.delete(nodeId)
    for (const nodeId of watchedIds) if (!liveIds.has(nodeId) && !this.sinceMs.has(nodeId)) this.sinceMs.set(nodeId, nowMs)
    return new Set([...this.sinceMs].filter(([, sinceMs]) => nowMs - sinceMs >= graceMs).map(([nodeId]) => nodeId))
  }

  clear(): void {
    this.sinceMs.clear()
  }
}
