/**
 * `npm run sim:swim -- [--seed N] [--seeds K] [--hours H]`: the SWIM simulator figures.
 *
 * - false positives: 50 members, 10% message loss, H virtual hours (default 1), LAN defaults,
 *   with and without Lifeguard, for K seeds from N (every 'dead' verdict is false: nobody
 *   crashes);
 * - crash detection: 30 crashes in a 5-member cluster, against the documented bound;
 * - partition heal: 20 members split in two for 90 s, then healed;
 * - load: messages sent per member per second at 10, 50, 100 and 200 members.
 *
 * Prints a VIOLATION line (and exits 1) for every figure outside what the issue requires,
 * followed by the command that replays it.
 */
import { parseArgs } from 'node:util'
import { LAN_SWIM_SETTINGS } from '../../src/membership/index.js'
import { crashDetectionBoundMs, runCrashDetection, runFalsePositiveScenario, runLoad, runPartitionHeal } from './scenarios.js'

const HEAL_MS_MAX = 30_000
const LOAD_RATIO_MAX = 1.5

function integerOption(name: string, text: string | undefined, fallback: number, min: number): number {
  if (text === undefined) return fallback
  const value = Number(text)
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < min) {
    process.stderr.write(`sim:swim: error[INVALID_REQUEST]: --${name} must be an integer >= ${min}, got '${text}'\n`)
    process.exit(2)
  }
  return value
}

function falsePositives(seedFirst: number, seedCount: number, hours: number, violations: string[]): void {
  process.stdout.write(`false positives: 50 members, 10% message loss, ${hours} virtual hour(s), LAN defaults\n`)
  process.stdout.write('  lifeguard   seed   false dead verdicts   members falsely dead   suspicions   refutations   msgs/member/s   wall ms\n')
  for (let seed = seedFirst; seed < seedFirst + seedCount; seed++) {
    for (const lifeguard of [true, false]) {
      const wallStartMs = Date.now()
      const result = runFalsePositiveScenario({ seed, memberCount: 50, lossProbability: 0.1, durationMs: hours * 3_600_000, lifeguard })
      const cells = [
        (lifeguard ? 'on' : 'off').padEnd(9),
        String(seed).padStart(6),
        String(result.falseDeadVerdicts).padStart(21),
        String(result.falselyDeadMembers).padStart(22),
        String(result.suspicions).padStart(12),
        String(result.refutations).padStart(13),
        result.messagesPerMemberPerSecond.toFixed(2).padStart(15),
        String(Date.now() - wallStartMs).padStart(9),
      ]
      process.stdout.write(`  ${cells.join(' ')}\n`)
      if (lifeguard && result.falseDeadVerdicts > 0) {
        violations.push(`lifeguard on: ${result.falseDeadVerdicts} false dead verdict(s); replay: npm run sim:swim -- --seed ${seed} --hours ${hours}`)
      }
    }
  }
}

function crashDetection(seed: number, violations: string[]): void {
  const boundMs = crashDetectionBoundMs(LAN_SWIM_SETTINGS, 5)
  const result = runCrashDetection({ seed, memberCount: 5, trials: 30 })
  const sorted = [...result.detectionMs].sort((a, b) => a - b)
  const first = [...result.firstDetectionMs].sort((a, b) => a - b)
  const at = (values: number[], q: number): number => Math.round(values[Math.min(values.length - 1, Math.floor(q * values.length))] ?? 0)
  process.stdout.write(`crash detection: 5 members, 30 crashes, bound ${boundMs} ms\n`)
  process.stdout.write(`  first member:  min ${at(first, 0)} ms, median ${at(first, 0.5)} ms, max ${at(first, 1)} ms\n`)
  process.stdout.write(`  all members:   min ${at(sorted, 0)} ms, median ${at(sorted, 0.5)} ms, max ${at(sorted, 1)} ms\n`)
  if (at(sorted, 1) > boundMs) violations.push(`crash detection took ${at(sorted, 1)} ms > ${boundMs} ms; replay: npm run sim:swim -- --seed ${seed}`)
}

function partitionHeal(seed: number, violations: string[]): void {
  const result = runPartitionHeal({ seed, memberCount: 20, partitionMs: 90_000 })
  process.stdout.write(`partition heal: 20 members split 10/10 for 90 s: halves split=${result.sidesSplit}, one view again ${result.healMs ?? 'never'} ms after healing\n`)
  if (result.healMs === undefined || result.healMs > HEAL_MS_MAX) violations.push(`partition heal took ${result.healMs ?? 'forever'} ms; replay: npm run sim:swim -- --seed ${seed}`)
}

function load(seed: number, violations: string[]): void {
  const rows = runLoad({ seed, memberCounts: [10, 50, 100, 200], settleMs: 60_000, measureMs: 60_000 })
  process.stdout.write('load (no loss, 60 s measured after settling):\n  members   msgs/member/s   updates/msg\n')
  for (const row of rows) {
    process.stdout.write(`  ${String(row.memberCount).padStart(7)}   ${row.messagesPerMemberPerSecond.toFixed(3).padStart(13)}   ${row.gossipUpdatesPerMessage.toFixed(2).padStart(11)}\n`)
  }
  const loads = rows.map((row) => row.messagesPerMemberPerSecond)
  const ratio = Math.max(...loads) / Math.min(...loads)
  process.stdout.write(`  max/min = ${ratio.toFixed(3)}\n`)
  if (ratio >= LOAD_RATIO_MAX) violations.push(`load ratio ${ratio.toFixed(3)} >= ${LOAD_RATIO_MAX}; replay: npm run sim:swim -- --seed ${seed}`)
}

function main(): void {
  const { values } = parseArgs({ options: { seed: { type: 'string' }, seeds: { type: 'string' }, hours: { type: 'string' } }, strict: true })
  const seed = integerOption('seed', values.seed, 1, 0)
  const seedCount = integerOption('seeds', values.seeds, 1, 1)
  const hours = integerOption('hours', values.hours, 1, 1)
  const violations: string[] = []
  falsePositives(seed, seedCount, hours, violations)
  crashDetection(seed, violations)
  partitionHeal(seed, violations)
  load(seed, violations)
  for (const violation of violations) process.stdout.write(`VIOLATION ${violation}\n`)
  if (violations.length > 0) process.exit(1)
}

main()
