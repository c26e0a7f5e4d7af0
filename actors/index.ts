import type { ActorSystem } from '../src/actor/index.js'
import { BROKER_KIND, CONTROLLER_KIND, COORDINATOR_KIND, REPLICA_KIND, TOPIC_KIND, TXN_COORDINATOR_KIND } from '../src/wire/broker-protocol.js'
import { BrokerActor } from './broker/broker.js'
import { DIAG_KIND, DiagActor } from './diag.js'
import { GroupCoordinatorActor } from './group/coordinator.js'
import { MetadataControllerActor } from './metadata/controller.js'
import { PartitionReplicaActor } from './partition/replica-actor.js'
import type { NodeServices } from './services.js'
import { TopicControllerActor } from './topic/topic-controller.js'
import { TxnCoordinatorActor } from './txn/coordinator.js'

export { DIAG_KIND, DiagActor, diagActorId, diagNodeOf } from './diag.js'
export { BrokerActor, BrokerControl } from './broker/broker.js'
export { ControllerVoters } from './metadata/voters.js'
export { BROKER_SETTINGS_DEFAULT, type BrokerSettings, type HostedReplica, type NodeServices } from './services.js'

/**
 * Mailbox depth of a partition replica: produce requests from many clients plus Raft traffic.
 * Deeper than the default because a leader under load legitimately queues many produces.
 */
const REPLICA_MAILBOX_DEPTH_MAX = 50_000

/** Registers every domain actor kind on a node's actor system. */
export function registerDomainActors(system: ActorSystem, services: NodeServices | undefined): void {
  // Diagnostics actors are tiny and may be used by monitoring at any rate: never passivate.
  system.registerKind(DIAG_KIND, (context) => new DiagActor(context), { passivateAfterIdleMs: 0, mailboxDepthMax: 100_000 })
  if (services === undefined) return
  // Replicas, controllers and brokers keep timers (Raft ticks, long polls): never passivate them.
  system.registerKind(BROKER_KIND, (context) => new BrokerActor(context, services), { passivateAfterIdleMs: 0 })
  system.registerKind(REPLICA_KIND, (context) => new PartitionReplicaActor(context, services), { passivateAfterIdleMs: 0, mailboxDepthMax: REPLICA_MAILBOX_DEPTH_MAX })
  system.registerKind(CONTROLLER_KIND, (context) => new MetadataControllerActor(context, services), { passivateAfterIdleMs: 0 })
  // Coordinators hold group sessions and tick them while they lead: never passivate.
  system.registerKind(COORDINATOR_KIND, (context) => new GroupCoordinatorActor(context, services), { passivateAfterIdleMs: 0 })
  // Transaction coordinators tick timeouts and retry markers while they lead: never passivate.
  system.registerKind(TXN_COORDINATOR_KIND, (context) => new TxnCoordinatorActor(context, services), { passivateAfterIdleMs: 0 })
  // Topic controllers hold no state: let idle ones go.
  system.registerKind(TOPIC_KIND, (context) => new TopicControllerActor(context, services), { passivateAfterIdleMs: 60_000 })
}
