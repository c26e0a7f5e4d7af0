/**
 * Where an actor lives. Placement (consistent hashing over the membership) implements this
 * in a later layer; a static map is enough for tests and fixed clusters. A directory is a
 * hint: two nodes may disagree for a while, which is why messages are forwarded, with a hop
 * limit, when they reach a node that does not host their actor.
 */
export interface Directory {
  /** The node id that should host `actorId`. */
  nodeFor(actorId: string): string
}

/** A directory of explicit assignments, with a function for every other id. */
export class StaticDirectory implements Directory {
  private readonly assignments = new Map<string, string>()

  constructor(private readonly fallback: (actorId: string) => string) {}

  nodeFor(actorId: string): string {
    return this.assignments.get(actorId) ?? this.fallback(actorId)
  }

  /** Pins `actorId` to `nodeId` (moving it, if it was elsewhere). */
  assign(actorId: string, nodeId: string): void {
    this.assignments.set(actorId, nodeId)
  }
}
