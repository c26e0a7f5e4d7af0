import { type Env, silentLogger } from '../env/index.js'
import { createRealEnv } from '../env/real/index.js'

/**
 * The Env a `Client` runs on when none is given: Node's clock, randomness and WebSockets.
 * This file is the SDK's one link to src/env/real/ (its composition root, like src/node.ts
 * for a node); everything else in src/client/ takes the Env it is handed, so the simulator
 * can drive the same SDK code. The client never touches the disk; the data directory is a
 * placeholder. Logging is silent unless a logger is given: a library does not print.
 */
export function defaultClientEnv(clientId: string, log = silentLogger): Env {
  return createRealEnv({ dataDir: '/nonexistent-skein-client', nodeId: clientId, log })
}
