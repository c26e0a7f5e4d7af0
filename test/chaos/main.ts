import { mkdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { formatTable } from '../../src/cli/table.js'
import type { Client } from '../../src/index.js'
import { delay } from '../helpers/processes.js'
import { type Observation, type PartitionLog, check } from './checker.js'
import { ChaosCluster } from './cluster.js'
import { type FaultSummary, FaultScheduler } from './faults.js'
import { SeededRandom } from './random.js'
import { readPartitions } from './read-back.js'
import { type ClusterAccess, CommitSampler, GroupWorkload, ProcessedLog, ProducerWorkload, type SendEntry, newClient } from './workload.js'

/**
 * `npm run chaos`: real-process chaos. Starts N `skein start --enable-fault-injection`
 * processes, runs idempotent acks=all producers and a consumer group against them, and for
 * --duration-s kills (-9), pauses (SIGSTOP/SIGCONT), gracefully restarts nodes and cuts links
 * between them (faults.ts); then heals everything, waits for the cluster to converge, reads
 * every partition back and checks the clients' history (checker.ts). Prints each fault as it
 * happens, then a verdict table; exits 1 on any anomaly, 2 if the harness itself failed.
 */

const USAGE = `Usage: npm run chaos -- [--duration-s 180] [--seed <n>] [--nodes 5] [--log-dir <dir>]

  --duration-s <s>  how long faults are injected (default 180)
  --seed <n>        drives the fault schedule's choices (default: random; printed)
  --nodes <n>       node processes, at least 3 (default 5)
  --log-dir <dir>   write every node's log there (on failure they go to a temp dir anyway)
`

const TOPIC = 'chaos'
const PARTITIONS = 6
const REPLICATION_FACTOR = 3
const GROUP = 'chaos-group'
const GROUP_SIZE = 3
const CLUSTER = { clusterId: 'chaos', clusterSecret: 'chaos-cluster-secret-0123456789abcdef' }
const PRODUCERS = 2
const PRODUCER_SHAPE = { lanes: 3, recordsPerSend: 5, pauseMs: 100 }
const COMMIT_SAMPLE_EVERY_MS = 1_000
const PROGRESS_EVERY_MS = 15_000
/** Bounds of the waits around the fault phase: they only end a hung run. */
const MEMBERSHIP_DEADLINE_MS = 60_000
const CONVERGE_DEADLINE_MS = 60_000
const GROUP_DRAIN_DEADLINE_MS = 120_000
const READ_BACK_DEADLINE_MS = 60_000
/** Producers' sends in flight when the faults end settle within the client's call deadline (30 s) plus its guard. */
const SEND_SETTLE_DEADLINE_MS = 45_000
const FINAL_WRITE_ATTEMPTS = 3

interface Options {
  durationS: number
  seed: number
  nodes: number
  logDir: string | undefined
}

const startedAtMs = performance.now()

function say(line: string): void {
  process.stdout.write(`[${((performance.now() - startedAtMs) / 1_000).toFixed(1).padStart(6)}s] ${line}\n`)
}

function parseOptions(argv: string[]): Options | undefined {
  const { values } = parseArgs({
    args: argv,
    options: { 'duration-s': { type: 'string' }, seed: { type: 'string' }, nodes: { type: 'string' }, 'log-dir': { type: 'string' }, help: { type: 'boolean' } },
    strict: true,
  })
  if (values.help === true) return undefined
  const durationS = Number(values['duration-s'] ?? '180')
  const seed = values.seed === undefined ? Math.floor(Math.random() * 0x1_0000_0000) : Number(values.seed)
  const nodes = Number(values.nodes ?? '5')
  if (!Number.isInteger(durationS) || durationS < 1) throw new Error(`--duration-s must be a whole number of seconds >= 1, got ${values['duration-s']}`)
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffff_ffff) throw new Error(`--seed must be an integer in [0, 2^32), got ${values.seed}`)
  if (!Number.isInteger(nodes) || nodes < REPLICATION_FACTOR || nodes > 9) throw new Error(`--nodes must be ${REPLICATION_FACTOR} to 9, got ${values.nodes}`)
  return { durationS, seed, nodes, logDir: values['log-dir'] }
}

/** Everything the run creates, so that one finally block can stop it all. */
interface Run {
  options: Options
  cluster: ChaosCluster
  access: ClusterAccess
  admin: Client
  sends: SendEntry[]
  processed: ProcessedLog
  producers: ProducerWorkload[]
  group: GroupWorkload
  sampler: CommitSampler
  observations: Map<string, Observation>
  harnessErrors: string[]
}

async function main(): Promise<number> {
  let options: Options | undefined
  try {
    options = parseOptions(process.argv.slice(2))
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${USAGE}`)
    return 2
  }
  if (options === undefined) {
    process.stdout.write(USAGE)
    return 0
  }
  say(`chaos: seed=${options.seed} nodes=${options.nodes} duration=${options.durationS}s topic=${TOPIC} (${PARTITIONS} partitions, RF ${REPLICATION_FACTOR}), group of ${GROUP_SIZE}`)
  say(`repeat (approximately): npm run chaos -- --seed ${options.seed} --duration-s ${options.durationS} --nodes ${options.nodes}`)
  const nodeIds = Array.from({ length: options.nodes }, (_, i) => `n${i + 1}`)
  const cluster = await ChaosCluster.start({ nodeIds, ...CLUSTER, controllers: nodeIds.slice(0, 3) })
  interrupted = () => cluster.close()
  let run: Run | undefined
  try {
    say(`started ${nodeIds.map((id) => `${id}@${cluster.address(id)}`).join(' ')}`)
    run = await setUp(options, cluster)
    const faults = await faultPhase(run)
    await healPhase(run, faults)
    const logs = await readBack(run)
    const drained = await drainGroup(run, logs)
    run.observations.set('group caught up: committed offsets past every record', drained)
    say(`${drained.ok ? 'ok  ' : 'FAIL'} group caught up: ${drained.detail}`)
    return report(run, faults, logs)
  } catch (error) {
    say(`harness error: ${(error as Error).stack ?? String(error)}`)
    writeLogs(cluster, options.logDir, options.seed)
    return 2
  } finally {
    await tearDown(run)
    await cluster.close()
  }
}

async function setUp(options: Options, cluster: ChaosCluster): Promise<Run> {
  const access: ClusterAccess = { seeds: nodeIdsOf(cluster).map((id) => cluster.address(id)), ...CLUSTER }
  await waitForMembership(cluster, MEMBERSHIP_DEADLINE_MS)
  say(`membership: every node sees all ${options.nodes} alive`)
  const admin = newClient(access, 'chaos-admin')
  await retryFor(() => admin.admin().createTopic({ name: TOPIC, partitions: PARTITIONS, replicationFactor: REPLICATION_FACTOR }), 30_000)
  say(`topic '${TOPIC}' created, every partition has a leader`)
  const sends: SendEntry[] = []
  const processed = new ProcessedLog()
  const producers = Array.from({ length: PRODUCERS }, (_, i) => new ProducerWorkload(access, `p${i + 1}`, TOPIC, sends, PRODUCER_SHAPE))
  const group = new GroupWorkload(access, TOPIC, GROUP, GROUP_SIZE, processed)
  const sampler = new CommitSampler(access, GROUP, TOPIC, COMMIT_SAMPLE_EVERY_MS)
  const run: Run = { options, cluster, access, admin, sends, processed, producers, group, sampler, observations: new Map(), harnessErrors: [] }
  process.on('unhandledRejection', (reason) => {
    run.harnessErrors.push(`unhandled rejection: ${reason instanceof Error ? reason.stack : String(reason)}`)
    say(`unhandled rejection: ${reason instanceof Error ? reason.message : String(reason)}`)
  })
  for (const producer of producers) producer.start()
  group.start()
  sampler.start()
  say(`${PRODUCERS} idempotent acks=all producers (${PRODUCER_SHAPE.lanes} sends in flight each), group '${GROUP}' of ${GROUP_SIZE} members, commit sampler every ${COMMIT_SAMPLE_EVERY_MS} ms`)
  await delay(3_000)
  return run
}

async function faultPhase(run: Run): Promise<FaultSummary> {
  say(`fault phase: ${run.options.durationS} s`)
  const progress = setInterval(() => say(`progress: ${progressLine(run)}`), PROGRESS_EVERY_MS)
  try {
    const scheduler = new FaultScheduler(run.cluster, new SeededRandom(run.options.seed), (line) => say(`fault: ${line}`))
    return await scheduler.run(run.options.durationS * 1_000)
  } finally {
    clearInterval(progress)
  }
}

/** Heals, then records each convergence fact as an observation for the verdict. */
async function healPhase(run: Run, faults: FaultSummary): Promise<void> {
  const { cluster, observations } = run
  say('faults over: healing (SIGCONT, restart, unblock every link)')
  await cluster.healAll()
  const blocks = await Promise.all(nodeIdsOf(cluster).map(async (id) => `${id}:[${(await cluster.blockedOn(id).catch(() => ['?'])).join(',')}]`))
  const healed = nodeIdsOf(cluster).every((id) => cluster.isRunning(id) && !cluster.isPaused(id)) && blocks.every((b) => b.endsWith(':[]'))
  observations.set('healed: every node up, no link blocked', { ok: healed && faults.failures.length === 0, detail: [...faults.failures, blocks.join(' ')].join('; ') })
  const stoppedSends = await stopProducers(run)
  say(`producers stopped: ${stoppedSends}`)
  const membership = await waitForMembership(cluster, CONVERGE_DEADLINE_MS).then((ms) => ({ ok: true, detail: `after ${seconds(ms)}` }), (error: Error) => ({ ok: false, detail: error.message }))
  observations.set('converged: one membership view, all alive', membership)
  say(`membership converged: ${membership.ok} (${membership.detail})`)
  observations.set('converged: every partition has one leader', await waitForLeaders(cluster))
  observations.set('converged: a final write to every partition succeeds', await finalWrite(run))
  observations.set('converged: replicas agree on log end and high watermark', await waitForReplicaAgreement(cluster))
  for (const [name, o] of observations) say(`${o.ok ? 'ok  ' : 'FAIL'} ${name}: ${o.detail}`)
}

/** Stops the producers, bounded: a send still in flight past the bound stays unknown. */
async function stopProducers(run: Run): Promise<string> {
  const stopping = Promise.all(run.producers.map((p) => p.stop()))
  const settled = await Promise.race([stopping.then(() => true), delay(SEND_SETTLE_DEADLINE_MS).then(() => false)])
  return `${settled ? 'all sends settled' : `sends still in flight after ${seconds(SEND_SETTLE_DEADLINE_MS)} count as unknown`}; ${progressLine(run)}`
}

async function finalWrite(run: Run): Promise<Observation> {
  const writer = new ProducerWorkload(run.access, 'final', TOPIC, run.sends, PRODUCER_SHAPE)
  const partitions = Array.from({ length: PARTITIONS }, (_, p) => p)
  try {
    for (let attempt = 1; attempt <= FINAL_WRITE_ATTEMPTS; attempt++) {
      const startedMs = performance.now()
      const entry = await writer.sendOnce(partitions)
      if (entry.outcome?.kind === 'ok') return { ok: true, detail: `attempt ${attempt}, acknowledged in ${seconds(performance.now() - startedMs)}` }
      say(`final write attempt ${attempt} failed: ${entry.outcome === undefined ? 'no outcome' : entry.outcome.error}`)
    }
    return { ok: false, detail: `${FINAL_WRITE_ATTEMPTS} attempts failed` }
  } finally {
    await writer.stop()
  }
}

/**
 * Waits until the group's committed offset of every partition is past its last data record
 * (a commit names the offset after the last record processed, so a trailing control batch is
 * never committed past), then stops the group and the sampler.
 */
async function drainGroup(run: Run, logs: ReadonlyMap<number, PartitionLog>): Promise<Observation> {
  const targets = [...logs].map(([partition, log]) => {
    let last = log.values.length - 1
    while (last >= 0 && log.values[last] === null) last--
    return { partition, target: last < 0 ? 0 : (log.offsets[last] as number) + 1 }
  })
  const startedMs = performance.now()
  let behind = 'no sample yet'
  let observation: Observation | undefined
  while (observation === undefined && performance.now() - startedMs < GROUP_DRAIN_DEADLINE_MS) {
    try {
      const committed = await run.sampler.sample()
      const lagging = targets.filter(({ partition, target }) => (committed.get(partition) ?? 0) < target)
      if (lagging.length === 0) observation = { ok: true, detail: `after ${seconds(performance.now() - startedMs)}` }
      behind = lagging.map(({ partition, target }) => `p${partition} ${committed.get(partition) ?? 'none'}/${target}`).join(' ')
    } catch (error) {
      behind = (error as Error).message
    }
    if (observation === undefined) await delay(500)
  }
  await run.group.stop()
  await run.sampler.stop()
  say(`group stopped: ${run.processed.length} records processed, ${run.group.memberErrors.length} member failures`)
  return observation ?? { ok: false, detail: `not within ${seconds(GROUP_DRAIN_DEADLINE_MS)}: ${behind}` }
}

async function readBack(run: Run): Promise<Map<number, PartitionLog>> {
  const logs = await readPartitions(run.access, TOPIC, PARTITIONS, READ_BACK_DEADLINE_MS)
  const data = [...logs.values()].reduce((sum, log) => sum + log.values.filter((v) => v !== null).length, 0)
  say(`read back ${data} data records from ${PARTITIONS} partitions (high watermarks ${[...logs.values()].map((l) => l.highWatermark).join(' ')})`)
  return logs
}

function report(run: Run, faults: FaultSummary, logs: Map<number, PartitionLog>): number {
  const rows = check({ sends: run.sends, logs, processed: run.processed, commits: run.sampler.history, observations: run.observations })
  if (run.harnessErrors.length > 0) rows.push({ name: 'no unhandled errors in the clients', ok: false, detail: `${run.harnessErrors.length}`, examples: run.harnessErrors.slice(0, 5) })
  process.stdout.write('\n')
  say(`what the chaos did: ${Object.entries(faults.counts).map(([kind, count]) => `${kind} x${count}`).join(', ')}`)
  say(`history: ${progressLine(run)}`)
  say(`send errors: ${sendErrorSummary(run.sends)}`)
  say(`group member failures (run() threw, member rejoined): ${run.group.memberErrors.length}${run.group.memberErrors.length === 0 ? '' : `; first: ${run.group.memberErrors[0]}`}`)
  say(`node log lines at warn/error: ${[...run.cluster.warningCounts()].map(([id, c]) => `${id} ${c.warn}/${c.error}`).join(', ')}`)
  process.stdout.write(`\n${formatTable([['check', 'result', 'detail'], ...rows.map((r) => [r.name, r.info === true ? 'info' : r.ok ? 'PASS' : 'FAIL', r.detail])])}\n\n`)
  const failed = rows.filter((r) => !r.ok)
  for (const r of rows.filter((r) => !r.ok || (r.info === true && r.examples.length > 0))) {
    process.stdout.write(`${r.ok ? 'info' : 'FAIL'} ${r.name}:\n`)
    for (const example of r.examples) process.stdout.write(`  ${example}\n`)
  }
  const verdict = failed.length === 0 ? 'PASS' : `FAIL (${failed.length} of ${rows.length} checks)`
  process.stdout.write(`verdict: ${verdict}  seed=${run.options.seed} duration=${run.options.durationS}s nodes=${run.options.nodes}\n`)
  if (failed.length > 0 || run.options.logDir !== undefined) writeLogs(run.cluster, run.options.logDir, run.options.seed)
  return failed.length === 0 ? 0 : 1
}

function progressLine(run: Run): string {
  let ok = 0
  let okRecords = 0
  let failed = 0
  let unknown = 0
  let pending = 0
  for (const send of run.sends) {
    if (send.outcome === undefined) pending++
    else if (send.outcome.kind === 'ok') {
      ok++
      okRecords += send.values.length
    } else if (send.outcome.kind === 'failed') failed++
    else unknown++
  }
  return `sends ok ${ok} (${okRecords} records acked), failed ${failed}, unknown ${unknown}, in flight ${pending}; group processed ${run.processed.length}; commit samples ${run.sampler.history.samples}`
}

function sendErrorSummary(sends: readonly SendEntry[]): string {
  const counts = new Map<string, number>()
  for (const send of sends) {
    if (send.outcome === undefined || send.outcome.kind === 'ok') continue
    const key = `${send.outcome.kind} ${send.outcome.error.split(':')[0]}`
    counts.set(key, (counts.get(key) ?? 0) + 1)
  }
  return counts.size === 0 ? 'none' : [...counts].sort((a, b) => b[1] - a[1]).map(([key, n]) => `${key} x${n}`).join(', ')
}

async function tearDown(run: Run | undefined): Promise<void> {
  if (run === undefined) return
  await Promise.all(run.producers.map((p) => p.stop().catch(() => undefined)))
  await run.group.stop().catch(() => undefined)
  await run.sampler.stop().catch(() => undefined)
  await run.admin.close().catch(() => undefined)
}

// ---- cluster-wide waits ----

function nodeIdsOf(cluster: ChaosCluster): readonly string[] {
  return cluster.nodeIds
}

/** Resolves with the time it took once every node's /status lists every node alive. */
async function waitForMembership(cluster: ChaosCluster, deadlineMs: number): Promise<number> {
  const startedMs = performance.now()
  let last = ''
  while (performance.now() - startedMs < deadlineMs) {
    const views = await Promise.all(nodeIdsOf(cluster).map(async (id) => {
      const status = await cluster.status(id).catch(() => undefined)
      const alive = status?.members.filter((m) => m.state === 'alive').map((m) => m.id).sort() ?? []
      return { id, alive }
    }))
    if (views.every((v) => v.alive.length === nodeIdsOf(cluster).length)) return performance.now() - startedMs
    last = views.map((v) => `${v.id} sees [${v.alive.join(',')}]`).join('; ')
    await delay(500)
  }
  throw new Error(`membership did not converge within ${seconds(deadlineMs)}: ${last}`)
}

/** Every partition of the topic: metadata names a leader, and exactly one replica (at the highest term) says it leads. */
async function waitForLeaders(cluster: ChaosCluster): Promise<Observation> {
  const startedMs = performance.now()
  let problem = ''
  while (performance.now() - startedMs < CONVERGE_DEADLINE_MS) {
    const replicas = await topicReplicas(cluster)
    const problems: string[] = []
    for (let p = 0; p < PARTITIONS; p++) {
      const hosted = replicas.filter((r) => r.partition === p)
      const topTerm = Math.max(...hosted.map((r) => r.term))
      const leaders = hosted.filter((r) => r.role === 'leader')
      if (leaders.length !== 1 || leaders[0]?.term !== topTerm) problems.push(`p${p}: ${hosted.map((r) => `${r.node}:${r.role}@${r.term}`).join(' ')}`)
    }
    if (problems.length === 0) return { ok: true, detail: `after ${seconds(performance.now() - startedMs)}` }
    problem = problems.join('; ')
    await delay(500)
  }
  return { ok: false, detail: `not within ${seconds(CONVERGE_DEADLINE_MS)}: ${problem}` }
}

/** Every replica of each partition reports the same log end offset and high watermark, equal to each other. */
async function waitForReplicaAgreement(cluster: ChaosCluster): Promise<Observation> {
  const startedMs = performance.now()
  let problem = ''
  while (performance.now() - startedMs < CONVERGE_DEADLINE_MS) {
    const replicas = await topicReplicas(cluster)
    const problems: string[] = []
    for (let p = 0; p < PARTITIONS; p++) {
      const hosted = replicas.filter((r) => r.partition === p)
      const shapes = new Set(hosted.map((r) => `${r.logEndOffset}/${r.highWatermark}`))
      if (hosted.length < REPLICATION_FACTOR || shapes.size !== 1 || hosted.some((r) => r.logEndOffset !== r.highWatermark)) {
        problems.push(`p${p}: ${hosted.map((r) => `${r.node} leo ${r.logEndOffset} hw ${r.highWatermark}`).join(', ')}`)
      }
    }
    if (problems.length === 0) return { ok: true, detail: `${PARTITIONS} partitions x ${REPLICATION_FACTOR} replicas, after ${seconds(performance.now() - startedMs)}` }
    problem = problems.join('; ')
    await delay(500)
  }
  return { ok: false, detail: `not within ${seconds(CONVERGE_DEADLINE_MS)}: ${problem}` }
}

async function topicReplicas(cluster: ChaosCluster): Promise<{ node: string; partition: number; role: string; term: number; logEndOffset: number; highWatermark: number }[]> {
  const statuses = await Promise.all(nodeIdsOf(cluster).map((id) => cluster.status(id).catch(() => undefined)))
  return statuses.flatMap((status) => (status?.partitions ?? []).filter((r) => r.topic === TOPIC).map((r) => ({ node: status?.node ?? '?', ...r })))
}

async function retryFor<T>(attempt: () => Promise<T>, deadlineMs: number): Promise<T> {
  const startedMs = performance.now()
  for (;;) {
    try {
      return await attempt()
    } catch (error) {
      if (performance.now() - startedMs > deadlineMs) throw error
      await delay(500)
    }
  }
}

function writeLogs(cluster: ChaosCluster, logDir: string | undefined, seed: number): void {
  const dir = logDir ?? join(tmpdir(), `skein-chaos-${seed}-${process.pid}`)
  try {
    mkdirSync(dir, { recursive: true })
    for (const [id, lines] of cluster.logLines()) writeFileSync(join(dir, `${id}.log`), `${lines.join('\n')}\n`)
    say(`node logs written to ${dir}`)
  } catch (error) {
    say(`could not write node logs to ${dir}: ${(error as Error).message}`)
  }
}

function seconds(ms: number): string {
  return `${(ms / 1_000).toFixed(1)} s`
}

/** Set once the cluster exists: what SIGINT/SIGTERM must stop before exiting. */
let interrupted: (() => Promise<void>) | undefined

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    say(`${signal}: stopping every node`)
    const force = setTimeout(() => process.exit(130), 10_000)
    void (interrupted?.() ?? Promise.resolve()).finally(() => {
      clearTimeout(force)
      process.exit(130)
    })
  })
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`chaos: ${(error as Error).stack ?? String(error)}\n`)
    process.exit(2)
  },
)
