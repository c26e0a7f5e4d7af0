/**
 * The comparison suite: `npm run bench` (full) and `npm run bench:quick` (under a minute, skein
 * alone unless `--peers`). Runs the workloads of workloads.ts on skein and on every peer that
 * is installed (Redis Streams, NATS JetStream, RabbitMQ quorum queues), each on loopback with
 * its own temp data, one at a time; prints each row as it finishes, then the results, targets,
 * skein/peer ratio and durability tables (Markdown); writes the raw figures to
 * bench/results/suite-<time>.json and a chart to bench/results/suite-<time>.svg.
 *
 * The npm scripts run it with `--max-semi-space-size=32`: every system's client runs in this
 * process, and with V8's default young generation a client reading a million records a second
 * promotes short-lived records to the old generation in some runs and not others (workload d
 * was bimodal, 1.0-1.3 M vs 1.6-2.0 M records/s; with the flag 2.2-2.4 M). The report's
 * machine line names the flags.
 *
 * Options (after `--`):
 *   --systems skein,redis,nats,rabbitmq   which systems (default all; quick: skein)
 *   --peers                               quick profile with every peer too
 *   --only a,b,f10k                       which workloads (ids: a b c d e f10k f50k g-a g-b)
 *   --seconds N --warmup N                throughput window and warm-up (s)
 *   --records N                           records (d) preloads and reads
 *   --in-flight N                         send() calls each producer keeps outstanding
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { argNumber, repoRoot, runBench } from '../harness.js'
import { renderChart } from './chart.js'
import { finalReport, judgePeers, judgeTargets } from './report.js'
import { runSuite, SYSTEM_NAMES } from './runner.js'
import type { SystemName } from './system.js'
import { PROFILES, type Profile, WORKLOADS, type WorkloadSpec } from './workloads.js'

/** `--name a,b,c` from the command line, or undefined. */
function argList(name: string): string[] | undefined {
  const at = process.argv.indexOf(`--${name}`)
  if (at < 0) return undefined
  const value = process.argv[at + 1]
  if (value === undefined || value.startsWith('--')) throw new Error(`--${name} needs a comma-separated list`)
  return value.split(',').map((item) => item.trim()).filter((item) => item !== '')
}

function selectSystems(quick: boolean): SystemName[] {
  const asked = argList('systems')
  if (asked === undefined) return quick && !process.argv.includes('--peers') ? ['skein'] : [...SYSTEM_NAMES]
  for (const name of asked) if (!SYSTEM_NAMES.includes(name as SystemName)) throw new Error(`unknown system '${name}'; known: ${SYSTEM_NAMES.join(', ')}`)
  return asked as SystemName[]
}

function selectWorkloads(): WorkloadSpec[] {
  const asked = argList('only')
  if (asked === undefined) return [...WORKLOADS]
  for (const id of asked) if (!WORKLOADS.some((spec) => spec.id === id)) throw new Error(`unknown workload '${id}'; known: ${WORKLOADS.map((s) => s.id).join(', ')}`)
  return WORKLOADS.filter((spec) => asked.includes(spec.id))
}

function selectProfile(quick: boolean): Profile {
  const base = quick ? PROFILES.quick : PROFILES.full
  return {
    ...base,
    measureMs: argNumber('seconds', base.measureMs / 1000) * 1000,
    warmupMs: argNumber('warmup', base.warmupMs / 1000) * 1000,
    consumeRecords: Math.round(argNumber('records', base.consumeRecords)),
    sendsInFlight: Math.round(argNumber('in-flight', base.sendsInFlight)),
  }
}

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick')
  const systems = selectSystems(quick)
  const workloads = selectWorkloads()
  const profile = selectProfile(quick)
  const out = (text: string): void => {
    process.stdout.write(text)
  }
  out(`bench suite (${profile.name}): systems ${systems.join(', ')}; workloads ${workloads.map((w) => w.id).join(', ')}; ` + `${profile.warmupMs / 1000} s warm-up + ${profile.measureMs / 1000} s per throughput workload, ${profile.consumeRecords.toLocaleString('en-US')} records for d\n\n`)
  const startedAt = performance.now()
  const result = await runSuite({ systems, workloads, profile, out })
  out(`\n${finalReport(result)}`)
  const dir = join(repoRoot, 'bench', 'results')
  mkdirSync(dir, { recursive: true })
  const base = join(dir, `suite-${result.startedAt.replace(/[:.]/g, '-')}`)
  const peers = result.systems.filter((s) => s.skipped === undefined && s.name !== 'skein').map((s) => s.name)
  const verdicts = { targets: judgeTargets(result.cells), peers: judgePeers(result.cells, result.workloads, peers) }
  writeFileSync(`${base}.json`, `${JSON.stringify({ ...result, verdicts }, null, 2)}\n`)
  writeFileSync(`${base}.svg`, renderChart(result))
  out(`\nraw figures: ${base}.json\nchart: ${base}.svg\nsuite took ${((performance.now() - startedAt) / 1000).toFixed(0)} s\n`)
}

runBench('suite', main)
