/**
 * Actor ids are strings `<kind>/<key>`: the kind picks the factory that creates the actor
 * on the node that hosts it (e.g. `partition/orders/3`, `group/billing`); the whole id is
 * the address placement hashes. Ids are created on demand, like Orleans' virtual actors.
 */
export function actorKindOf(actorId: string): string {
  const slash = actorId.indexOf('/')
  return slash < 0 ? actorId : actorId.slice(0, slash)
}
