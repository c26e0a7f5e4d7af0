import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { Client } from '../client/index.js'
import { parseSeeds, usageError } from './args.js'
import type { FlagSource, FlagSpec } from './flags.js'
import { readSecret } from './start.js'

/** Where `skein cluster up` (and so `npm start`) keeps its cluster's secret, under the working directory. */
const DEV_CLUSTER_SECRET_FILE = join('data', 'cluster-secret')

/** Flags every command that talks to a cluster through the SDK takes. */
export const CLIENT_FLAGS: readonly FlagSpec[] = [
  { name: 'seeds', env: 'SKEIN_SEEDS', placeholder: 'host:port,...', defaultValue: '127.0.0.1:7071', help: 'nodes to reach the cluster through; any one is enough' },
  { name: 'cluster-id', env: 'SKEIN_CLUSTER_ID', placeholder: 'name', defaultValue: 'skein', help: "the cluster's --cluster-id" },
  { name: 'cluster-secret', env: 'SKEIN_CLUSTER_SECRET', placeholder: 'secret', help: "the cluster's shared secret" },
  {
    name: 'secret-file',
    env: 'SKEIN_SECRET_FILE',
    placeholder: 'path',
    help: `file holding the cluster secret (neither given: ${DEV_CLUSTER_SECRET_FILE} if skein cluster up made it here, else the development secret, as skein start)`,
  },
]

/** A Client for the CLI flags; the caller closes it. */
export function clientFromFlags(values: Record<string, string | undefined>, sources: Record<string, FlagSource>, clientId: string): Client {
  const seeds = parseSeeds('--seeds', values['seeds'])
  if (seeds.length === 0) throw usageError('--seeds needs at least one host:port')
  const inline = { value: values['cluster-secret'], source: sources['cluster-secret'] ?? 'unset' }
  const file = { value: values['secret-file'], source: sources['secret-file'] ?? 'unset' }
  if (inline.value === undefined && file.value === undefined && existsSync(DEV_CLUSTER_SECRET_FILE)) {
    Object.assign(file, { value: DEV_CLUSTER_SECRET_FILE, source: 'default' })
  }
  const secret = readSecret(inline, file)
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

/** A flag value that must be a non-negative integer (an offset, a partition, a timestamp). */
export function nonNegativeIntegerFlag(flag: string, text: string): number {
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text))) throw usageError(`${flag} must be a non-negative integer, got '${text}'`)
  return Number(text)
}
