/**
 * The readable event log of one run (`npm run sim -- --seed N --trace FILE`): every event the
 * scheduler ran (its time and label, the same entries the trace hash is made of), every line
 * the nodes logged, every client operation and its completion, and every fault, merged in
 * time order, one per line:
 *
 *     12.345678 event net:c17:message:n1>n3
 *     12.345678 log   n3 info {...} became leader
 *     12.346000 op    p2#1 produce events/1 [42-p2-7-0] acks=all
 *     12.400000 fault t=12.400s crash n2 (dropUnsynced) for 800ms
 *
 * Recording keeps everything in memory for the run (a few hundred thousand lines at most).
 */
import type { WorldOptions } from '../world.js'
import type { World } from '../world.js'
import { type History, formatOp } from './history.js'

/** Scheduler events kept for the log, at most (the oldest go first past it). */
const EVENTS_KEPT_MAX = 5_000_000
/** Node log entries kept, at most. */
const LOG_ENTRIES_KEPT_MAX = 1_000_000

interface Line {
  readonly timeMs: number
  readonly text: string
}

export class TraceRecorder {
  private readonly extra: Line[] = []

  /** World options that keep every event and log entry. */
  worldOptions(): Pick<WorldOptions, 'traceRecentEntriesMax' | 'log'> {
    return { traceRecentEntriesMax: EVENTS_KEPT_MAX, log: { entriesMax: LOG_ENTRIES_KEPT_MAX } }
  }

  attach(world: World, history: History): void {
    history.listen((op, event) => this.line(world.nowMs(), `op    ${formatOp(op, event)}`))
  }

  line(timeMs: number, text: string): void {
    this.extra.push({ timeMs, text })
  }

  /** Everything recorded, in time order (events, then log entries, then the rest at one instant). */
  lines(world: World): string[] {
    const events: Line[] = world.scheduler.trace.recentEntries().map((entry) => ({ timeMs: entry.timeMs, text: `event ${entry.label}` }))
    const logs: Line[] = world.logs.entries().map((entry) => ({ timeMs: entry.timeMs, text: `log   ${entry.nodeId} ${entry.level} ${JSON.stringify(entry.fields, replacer)} ${entry.message}` }))
    const merged = mergeByTime(mergeByTime(events, logs), this.extra)
    const header = [`# ${world.scheduler.eventsProcessed} events (${events.length} kept), ${logs.length} log entries, ${this.extra.length} operations and faults; trace=${world.traceHex()}`]
    return [...header, ...merged.map((line) => `${line.timeMs.toFixed(6)} ${line.text}`)]
  }
}

/** Two time-ordered lists as one, stable (ties: `a` first). */
function mergeByTime(a: readonly Line[], b: readonly Line[]): Line[] {
  const out: Line[] = []
  let i = 0
  let j = 0
  while (i < a.length || j < b.length) {
    const left = a[i]
    const right = b[j]
    if (right === undefined || (left !== undefined && left.timeMs <= right.timeMs)) {
      out.push(left as Line)
      i++
    } else {
      out.push(right)
      j++
    }
  }
  return out
}

function replacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString()
  if (value instanceof Uint8Array) return `<${value.byteLength} bytes>`
  if (value instanceof Error) return { name: value.name, message: value.message }
  return value
}
