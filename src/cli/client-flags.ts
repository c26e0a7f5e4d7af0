import { Client } from '../client/index.js'
import { parseSeeds, usageError } from './args.js'
import type { FlagSpec } from './flags.js'

/** Flags every command that talks to a cluster through the SDK takes. */
export const CLIENT_FLAGS: readonly FlagSpec[] = [
  { name: 'seeds', env: 'SKEIN_SEEDS', placeholder: 'host:port,...', defaultValue: '127.0.0.1:7071', help: 'nodes to reach the cluster through; any one is enough' },
  { name: 'cluster-id', env: 'SKEIN_CLUSTER_ID', placeholder: 'name', defaultValue: 'skein', help: "the cluster's --cluster-id" },
  { name: 'cluster-secret', env: 'SKEIN_CLUSTER_SECRET', placeholder: 'secret', help: "the cluster's shared secret (default: the development secret, as skein start)" },
]

/** A Client for the CLI flags; the caller closes it. */
export function clientFromFlags(values: Record<string, string | undefined>, clientId: string): Client {
  const seeds = parseSeeds('--seeds', values['seeds'])
  if (seeds.length === 0) throw usageError('--seeds needs at least one host:port')
  const secret = values['cluster-secret']
  return new Client({
    seeds,
    clientId,
    clusterId: values['cluster-id'] ?? 'skein',
    ...(secret === undefined ? {} : { clusterSecret: secret }),
  })
}

/** Splits `argv` into leading positional words (before the first flag) and the flags. */
export function positionalsAndFlags(argv: readonly string[]): { positionals: string[]; flags: string[] } {
  const firstFlag = argv.findIndex((arg) => arg.startsWith('-'))
  const cut = firstFlag === -1 ? argv.length : firstFlag
  return { positionals: argv.slice(0, cut), flags: argv.slice(cut) }
}

/** A flag value that must be a positive integer (or absent, giving `fallback`). */
export function positiveIntegerFlag(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback
  const value = Number(text)
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < 1) throw usageError(`${flag} must be a positive integer, got '${text}'`)
  return value
}
