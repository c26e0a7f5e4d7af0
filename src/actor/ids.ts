import { ACTOR_ID_BYTES_MAX, ErrorCode, SkeinError } from '../wire/index.js'

/**
 * Actor ids are strings `<kind>/<key>`: the kind picks the factory that creates the actor
 * on the node that hosts it (e.g. `partition/orders/3`, `group/billing`); the whole id is
 * the address placement hashes. Ids are created on demand, like Orleans' virtual actors.
 */
export function actorKindOf(actorId: string): string {
  const slash = actorId.indexOf('/')
  return slash < 0 ? actorId : actorId.slice(0, slash)
}

/** Throws INVALID_REQUEST for an id that cannot address an actor. */
export function assertValidActorId(actorId: string): void {
  if (typeof actorId !== 'string' || actorId.length === 0) {
    throw new SkeinError(ErrorCode.INVALID_REQUEST, 'actor id must be a non-empty string')
  }
  // Length in UTF-16 units bounds the UTF-8 length at 3x; cheap and conservative.
  if (actorId.length * 3 > ACTOR_ID_BYTES_MAX && Buffer.byteLength(actorId) > ACTOR_ID_BYTES_MAX) {
    throw new SkeinError(ErrorCode.INVALID_REQUEST, `actor id longer than ${ACTOR_ID_BYTES_MAX} bytes`)
  }
  const slash = actorId.indexOf('/')
  if (slash <= 0 || slash === actorId.length - 1) {
    throw new SkeinError(ErrorCode.INVALID_REQUEST, `actor id '${actorId}' is not of the form <kind>/<key>`)
  }
}
