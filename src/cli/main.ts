#!/usr/bin/env node
import { ErrorCode, SkeinError } from '../wire/index.js'
import { CLUSTER_USAGE, runCluster } from './cluster.js'
import { START_USAGE, runStart } from './start.js'
import { CONSUME_USAGE, runConsume } from './consume.js'
import { GROUP_USAGE, runGroup } from './group.js'
import { PRODUCE_USAGE, runProduce } from './produce.js'
import { STATUS_USAGE, runStatus } from './status.js'
import { TOPIC_USAGE, runTopic } from './topic.js'

const USAGE = `Usage: skein <command> [options]

Commands:
  start        start a node (skein start --help)
  status       print a node's view of the cluster (skein status --help)
  cluster up   start a local development cluster of node processes (skein cluster --help)
  topic        create, list, describe and delete topics (skein topic --help)
  produce      send stdin lines as records to a topic (skein produce --help)
  consume      print a topic's records, alone or in a consumer group (skein consume --help)
  group        list and describe consumer groups, reset their offsets (skein group --help)
  version      print the version
  help       print this help
`

const VERSION = '0.1.0'

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv
  switch (command) {
    case 'start':
      if (rest.includes('--help') || rest.includes('-h')) return void process.stdout.write(START_USAGE)
      return runStart(rest)
    case 'status':
      if (rest.includes('--help') || rest.includes('-h')) return void process.stdout.write(STATUS_USAGE)
      return runStatus(rest)
    case 'cluster':
      if (rest.includes('--help') || rest.includes('-h')) return void process.stdout.write(CLUSTER_USAGE)
      return runCluster(rest)
    case 'topic':
      if (rest.includes('--help') || rest.includes('-h')) return void process.stdout.write(TOPIC_USAGE)
      return runTopic(rest)
    case 'produce':
      if (rest.includes('--help') || rest.includes('-h')) return void process.stdout.write(PRODUCE_USAGE)
      return runProduce(rest)
    case 'consume':
      if (rest.includes('--help') || rest.includes('-h')) return void process.stdout.write(CONSUME_USAGE)
      return runConsume(rest)
    case 'group':
      if (rest.includes('--help') || rest.includes('-h')) return void process.stdout.write(GROUP_USAGE)
      return runGroup(rest)
    case 'version':
    case '--version':
      return void process.stdout.write(`skein ${VERSION}\n`)
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      return void process.stdout.write(USAGE)
    default:
      throw new SkeinError(ErrorCode.INVALID_REQUEST, `unknown command '${command}'\n\n${USAGE}`)
  }
}

/**
 * Threads in libuv's pool, which runs every file read, write and fsync. Node's default of 4
 * serialises the fsyncs of more than 4 partitions (flush=always makes every produce wait for
 * one), so the pool is widened unless the operator chose a size. Read when the pool starts,
 * on its first use, which is after this line.
 */
const FILE_IO_THREADS = 16
process.env.UV_THREADPOOL_SIZE ??= String(FILE_IO_THREADS)

main(process.argv.slice(2)).catch((err: unknown) => {
  const message = err instanceof Error ? err.message : String(err)
  // Bad arguments (ours, or parseArgs' ERR_PARSE_ARGS_*) exit 2; anything else (a port in use) exits 1.
  const parseArgsCode = (err as { code?: unknown }).code
  const isUsage = typeof parseArgsCode === 'string' && parseArgsCode.startsWith('ERR_PARSE_ARGS')
  const name = err instanceof SkeinError ? err.errorName : isUsage ? ErrorCode.INVALID_REQUEST.name : ErrorCode.UNKNOWN_SERVER_ERROR.name
  process.stderr.write(`skein: error[${name}]: ${message}\n`)
  process.exit(name === ErrorCode.INVALID_REQUEST.name ? 2 : 1)
})
