import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { createRealEnv } from '../env/real/index.js'
import { startNode } from '../node.js'
import { parseNodeId, parsePeers, parsePort, parseSeeds, usageError } from './args.js'

export const START_USAGE = `Usage: skein start --id <node-id> [options]

Starts one node in the foreground; stop it with Ctrl-C (SIGINT) or SIGTERM.

  --id <id>              this node's stable id (letters, digits, _ . -)
  --host <host>          interface to listen on (default 127.0.0.1)
  --port <port>          port for node links and HTTP /health (default 7071; 0 = any free port)
  --data <dir>           data directory (default ./data/<id>)
  --seeds <h:p,...>      addresses of existing nodes to join through
  --peers <id=h:p,...>   static peer list (until gossip membership lands)
  --cluster-id <name>    cluster name; nodes of other clusters are refused (default skein)
  --secret-file <path>   file holding the shared cluster secret (or set SKEIN_CLUSTER_SECRET)
  --log-level <level>    debug | info | warn | error (default info)
`

/** A development-only secret, used (with a warning) when none is configured. */
const DEV_CLUSTER_SECRET = 'skein-insecure-development-secret'

export async function runStart(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      id: { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '7071' },
      data: { type: 'string' },
      seeds: { type: 'string' },
      peers: { type: 'string' },
      'cluster-id': { type: 'string', default: 'skein' },
      'secret-file': { type: 'string' },
      'log-level': { type: 'string', default: 'info' },
    },
    strict: true,
  })
  // Every argument is checked before anything is logged or opened.
  if (values.id === undefined) throw usageError('--id is required')
  const nodeId = parseNodeId('--id', values.id)
  const logLevel = values['log-level']
  if (!['debug', 'info', 'warn', 'error'].includes(logLevel)) throw usageError(`--log-level must be debug, info, warn or error`)
  const port = parsePort('--port', values.port)
  const peers = parsePeers('--peers', values.peers)
  const seeds = parseSeeds('--seeds', values.seeds)
  if (peers[nodeId] !== undefined) throw usageError(`--peers names this node's own id '${nodeId}'`)
  const secret = readSecret(values['secret-file'])
  const env = createRealEnv({ dataDir: values.data ?? `./data/${nodeId}`, nodeId, logLevel })
  if (secret === undefined) env.log.warn({}, 'no cluster secret configured: using the insecure development secret')
  const node = await startNode(env, {
    nodeId,
    clusterId: values['cluster-id'],
    clusterSecret: secret ?? DEV_CLUSTER_SECRET,
    host: values.host,
    port,
    peers,
    seeds,
  })
  const shutdown = (signal: string): void => {
    env.log.info({ signal }, 'stopping')
    node.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        env.log.error({ err }, 'error while stopping')
        process.exit(1)
      },
    )
  }
  process.once('SIGINT', () => shutdown('SIGINT'))
  process.once('SIGTERM', () => shutdown('SIGTERM'))
}

function readSecret(secretFile: string | undefined): string | undefined {
  if (secretFile !== undefined) {
    let text: string
    try {
      text = readFileSync(secretFile, 'utf8').trim()
    } catch (err) {
      throw usageError(`cannot read --secret-file ${secretFile}: ${(err as Error).message}`)
    }
    if (text.length < 16) throw usageError(`the cluster secret in ${secretFile} must be at least 16 characters`)
    return text
  }
  const fromEnv = process.env['SKEIN_CLUSTER_SECRET']
  if (fromEnv !== undefined && fromEnv.length > 0) {
    if (fromEnv.length < 16) throw usageError('SKEIN_CLUSTER_SECRET must be at least 16 characters')
    return fromEnv
  }
  return undefined
}
