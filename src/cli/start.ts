import { readFileSync } from 'node:fs'
import { createRealEnv } from '../env/real/index.js'
import { startNode } from '../node.js'
import { parseAddress, parseBoolean, parseNodeId, parseNodeIdList, parsePeers, parsePort, parseSeeds, usageError } from './args.js'
import { describeFlags, type FlagSource, type FlagSpec, type SwitchSpec, readFlags } from './flags.js'

const START_FLAGS: readonly FlagSpec[] = [
  { name: 'id', env: 'SKEIN_ID', placeholder: 'id', help: "this node's stable id (letters, digits, _ . -); required" },
  { name: 'host', env: 'SKEIN_HOST', placeholder: 'host', defaultValue: '127.0.0.1', help: 'interface to listen on' },
  { name: 'port', env: 'SKEIN_PORT', placeholder: 'port', defaultValue: '7071', help: 'port for node links and HTTP (/health, /status); 0 = any free port' },
  { name: 'advertise', env: 'SKEIN_ADVERTISE', placeholder: 'host:port', help: 'address other nodes reach this one at (default host:port as bound)' },
  { name: 'zone', env: 'SKEIN_ZONE', placeholder: 'zone', defaultValue: '', help: 'zone or rack tag; replicas are spread across zones' },
  { name: 'data', env: 'SKEIN_DATA', placeholder: 'dir', help: 'data directory (default ./data/<id>)' },
  { name: 'seeds', env: 'SKEIN_SEEDS', placeholder: 'host:port,...', help: 'nodes to join through; any reachable one will do; may include this node' },
  { name: 'peers', env: 'SKEIN_PEERS', placeholder: 'id=host:port,...', help: 'static peers dialled at start (optional; seeds are the usual way in)' },
  { name: 'controllers', env: 'SKEIN_CONTROLLERS', placeholder: 'id,id,id', help: 'node ids of the metadata quorum of a new cluster (default: the nodes at the first 3 seeds)' },
  { name: 'cluster-id', env: 'SKEIN_CLUSTER_ID', placeholder: 'name', defaultValue: 'skein', help: 'cluster name; links from other clusters are refused' },
  { name: 'cluster-secret', env: 'SKEIN_CLUSTER_SECRET', placeholder: 'secret', help: 'shared secret (>= 16 chars) every link proves; prefer the env variable or --secret-file (flags show in ps)' },
  { name: 'secret-file', env: 'SKEIN_SECRET_FILE', placeholder: 'path', help: 'file holding the cluster secret' },
  { name: 'kafka-port', env: 'SKEIN_KAFKA_PORT', placeholder: 'port', defaultValue: '9092', help: "port of the Kafka protocol listener; 0 = no listener; 'ephemeral' = any free port (logged as kafkaPort)" },
  { name: 'auto-create-topics', env: 'SKEIN_AUTO_CREATE_TOPICS', placeholder: 'true|false', defaultValue: 'false', help: 'a Kafka Metadata request for a topic that does not exist creates it (1 partition, replication min(3, nodes))' },
  { name: 'kafka-advertised-host', env: 'SKEIN_KAFKA_ADVERTISED_HOST', placeholder: 'host', help: 'host Kafka clients are told to connect to (default --host)' },
  { name: 'log-level', env: 'SKEIN_LOG_LEVEL', placeholder: 'level', defaultValue: 'info', help: 'debug | info | warn | error' },
]

/** Environment variable of --enable-fault-injection (switches have no variable of their own in flags.ts). */
const FAULT_INJECTION_ENV = 'SKEIN_ENABLE_FAULT_INJECTION'

const START_SWITCHES: readonly SwitchSpec[] = [
  {
    name: 'enable-fault-injection',
    help: `serve POST /fault/links, which cuts this node's links to chosen peers (chaos testing only; needs a cluster secret); env ${FAULT_INJECTION_ENV}=1`,
  },
]

export const START_USAGE = `Usage: skein start --id <node-id> [options]

Starts one node in the foreground; stop it with Ctrl-C (SIGINT) or SIGTERM.

${describeFlags(START_FLAGS, START_SWITCHES)}
`

/** A development-only secret, used (with a warning) when none is configured. */
const DEV_CLUSTER_SECRET = 'skein-insecure-development-secret'
/** Shortest cluster secret accepted: HMAC keys shorter than this are guessable. */
const CLUSTER_SECRET_LENGTH_MIN = 16

export async function runStart(argv: string[]): Promise<void> {
  const { values, sources, switches } = readFlags(argv, START_FLAGS, START_SWITCHES)
  // Every argument is checked before anything is logged or opened.
  if (values['id'] === undefined) throw usageError('--id (or SKEIN_ID) is required')
  const nodeId = parseNodeId('--id', values['id'])
  const logLevel = values['log-level'] as string
  if (!['debug', 'info', 'warn', 'error'].includes(logLevel)) throw usageError('--log-level must be debug, info, warn or error')
  const host = values['host'] as string
  const port = parsePort('--port', values['port'] as string)
  const kafkaPortText = values['kafka-port'] as string
  // 'ephemeral' is NodeConfig's port 0; the flag's own 0 turns the listener off.
  const kafkaPort = kafkaPortText === 'ephemeral' ? 'ephemeral' : parsePort('--kafka-port', kafkaPortText)
  const kafkaAdvertisedHost = values['kafka-advertised-host']
  const autoCreateTopics = parseBoolean('--auto-create-topics', values['auto-create-topics'] as string)
  const advertise = values['advertise'] === undefined ? undefined : parseAddress('--advertise', values['advertise'])
  const peers = parsePeers('--peers', values['peers'])
  const seeds = parseSeeds('--seeds', values['seeds'])
  if (peers[nodeId] !== undefined) throw usageError(`--peers names this node's own id '${nodeId}'`)
  const controllers = values['controllers'] === undefined ? undefined : parseNodeIdList('--controllers', values['controllers'])
  const secret = readSecret(
    { value: values['cluster-secret'], source: sources['cluster-secret'] ?? 'unset' },
    { value: values['secret-file'], source: sources['secret-file'] ?? 'unset' },
  )
  const faultInjection = switches['enable-fault-injection'] === true || readFaultInjectionEnv(process.env[FAULT_INJECTION_ENV])
  // With the development secret anyone could compute the token: the endpoint needs a real secret.
  if (faultInjection && secret === undefined) throw usageError('--enable-fault-injection needs a cluster secret (--cluster-secret, SKEIN_CLUSTER_SECRET or --secret-file)')
  const env = createRealEnv({ dataDir: values['data'] ?? `./data/${nodeId}`, nodeId, logLevel })
  if (secret === undefined) env.log.warn({}, 'no cluster secret configured: using the insecure development secret')
  const node = await startNode(env, {
    nodeId,
    clusterId: values['cluster-id'] as string,
    clusterSecret: secret ?? DEV_CLUSTER_SECRET,
    host,
    port,
    advertisedAddress: advertise,
    zone: values['zone'] ?? '',
    peers,
    seeds,
    controllers,
    faultInjection,
    kafka: kafkaPort === 0 ? undefined : { port: kafkaPort === 'ephemeral' ? 0 : kafkaPort, advertisedHost: kafkaAdvertisedHost, autoCreateTopics },
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

/** SKEIN_ENABLE_FAULT_INJECTION: '1' or 'true' enables, unset, '', '0' or 'false' does not; anything else is a usage error. */
export function readFaultInjectionEnv(value: string | undefined): boolean {
  if (value === undefined || value === '' || value === '0' || value === 'false') return false
  if (value === '1' || value === 'true') return true
  throw usageError(`${FAULT_INJECTION_ENV} must be 1, true, 0 or false, got '${value}'`)
}

export interface SourcedValue {
  value: string | undefined
  source: FlagSource
}

/**
 * The cluster secret, inline or from a file. Given both ways, the command line outranks the
 * environment (an exported SKEIN_CLUSTER_SECRET must not break `--secret-file`); both on the
 * same level is ambiguous and refused.
 */
export function readSecret(inline: SourcedValue, file: SourcedValue): string | undefined {
  let useInline = inline.value !== undefined
  let useFile = file.value !== undefined
  if (useInline && useFile) {
    if (inline.source === file.source) throw usageError('give the cluster secret once: --cluster-secret or --secret-file')
    useInline = inline.source === 'cli'
    useFile = !useInline
  }
  let secret = useInline ? inline.value : undefined
  if (useFile && file.value !== undefined) {
    try {
      secret = readFileSync(file.value, 'utf8').trim()
    } catch (err) {
      throw usageError(`cannot read --secret-file ${file.value}: ${(err as Error).message}`)
    }
  }
  if (secret !== undefined && secret.length < CLUSTER_SECRET_LENGTH_MIN) {
    throw usageError(`the cluster secret must be at least ${CLUSTER_SECRET_LENGTH_MIN} characters`)
  }
  return secret
}
