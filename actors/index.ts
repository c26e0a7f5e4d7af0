import type { ActorSystem } from '../src/actor/index.js'
import { DIAG_KIND, DiagActor } from './diag.js'

export { DIAG_KIND, DiagActor, diagActorId, diagNodeOf } from './diag.js'

/** Registers every domain actor kind on a node's actor system. */
export function registerDomainActors(system: ActorSystem): void {
  // Diagnostics actors are tiny and may be used by monitoring at any rate: never passivate.
  system.registerKind(DIAG_KIND, (context) => new DiagActor(context), { passivateAfterIdleMs: 0, mailboxDepthMax: 100_000 })
}
