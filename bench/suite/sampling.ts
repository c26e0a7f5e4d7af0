/**
 * Server-side resource figures from /proc (Linux), for the suite's tables:
 *
 * - peak RSS: the largest sum of the servers' VmRSS (/proc/<pid>/status) seen while sampling,
 *   every `SAMPLE_INTERVAL_MS` from start() to stop(): the deployment's footprint during the
 *   measured window (VmHWM would also count preloads and earlier phases). The largest single
 *   process is kept beside it.
 * - CPU: utime + stime deltas (/proc/<pid>/stat) over the window, summed over the servers, in %
 *   of one core (200% = both cores of a 2-core machine busy). The client's own CPU (this
 *   process, every thread) is measured over the same window.
 *
 * The processes are the deployment's pids and their descendants (found again at every sample),
 * so a server started through a wrapper script (rabbitmq-server runs beam.smp) is counted by
 * the processes doing the work. A process that has exited, or a system without /proc, gives
 * NaN (printed as "n/a").
 */
import { readdirSync, readFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { clientCpuSeconds, cpuSecondsOf } from '../harness.js'

/** How often VmRSS is read during a window. */
const SAMPLE_INTERVAL_MS = 200
/** Every this many samples the process tree is read again (a scan of /proc: kept rare). */
const TREE_SCAN_EVERY_SAMPLES = 5

export interface ResourceFigures {
  /** Largest sum of the servers' VmRSS over the samples, in MB (1e6 bytes). */
  readonly serverRssMBPeak: number
  /** Largest VmRSS of any one server process over the samples, in MB. */
  readonly serverRssMBPeakOneProcess: number
  /** Server CPU over the window, summed over processes, in % of one core. */
  readonly serverCpuPercent: number
  /** This process's CPU over the window, in % of one core. */
  readonly clientCpuPercent: number
  /**
   * CPU used by everything else on the machine over the window (all busy time in /proc/stat,
   * less the servers' and this client's), in % of one core: other load the figures shared the
   * CPUs with.
   */
  readonly otherCpuPercent: number
  readonly samples: number
}

/** Busy and total clock ticks of all CPUs so far, from /proc/stat's first line; NaN without /proc. */
export function machineTicks(statText?: string): { busy: number; total: number } {
  try {
    const text = statText ?? readFileSync('/proc/stat', 'utf8')
    const fields = (text.split('\n')[0] as string).trim().split(/\s+/).slice(1).map(Number)
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = fields
    return { busy: user + nice + system + irq + softirq + steal, total: user + nice + system + idle + iowait + irq + softirq + steal }
  } catch {
    return { busy: Number.NaN, total: Number.NaN }
  }
}

/** VmRSS (or another `Vm*` field) in bytes from the text of /proc/<pid>/status; NaN when absent. */
export function statusFieldBytes(statusText: string, field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+)\\s+kB$`, 'm').exec(statusText)
  return match === null ? Number.NaN : Number(match[1]) * 1024
}

/** VmRSS of `pid` in bytes; NaN when the process is gone. */
export function rssBytesOf(pid: number): number {
  try {
    return statusFieldBytes(readFileSync(`/proc/${pid}/status`, 'utf8'), 'VmRSS')
  } catch {
    return Number.NaN
  }
}

/** Parent pid from the text of /proc/<pid>/stat (the field after the state, after the command's ')'). */
export function parentPidOf(statText: string): number {
  const fields = statText.slice(statText.lastIndexOf(')') + 2).split(' ')
  return Number(fields[1])
}

/** `roots` and every process below them, given each live process's parent. */
export function withDescendants(roots: readonly number[], parentOf: ReadonlyMap<number, number>): number[] {
  const children = new Map<number, number[]>()
  for (const [pid, parent] of parentOf) {
    const list = children.get(parent)
    if (list === undefined) children.set(parent, [pid])
    else list.push(pid)
  }
  const seen = new Set<number>()
  const stack = [...roots]
  while (stack.length > 0) {
    const pid = stack.pop() as number
    if (seen.has(pid)) continue
    seen.add(pid)
    stack.push(...(children.get(pid) ?? []))
  }
  return [...seen].sort((a, b) => a - b)
}

/** Every live process's parent, from /proc; empty without /proc. */
function parentsFromProc(): Map<number, number> {
  const parents = new Map<number, number>()
  let entries: string[]
  try {
    entries = readdirSync('/proc')
  } catch {
    return parents
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue
    try {
      parents.set(Number(entry), parentPidOf(readFileSync(`/proc/${entry}/stat`, 'utf8')))
    } catch {
      // exited meanwhile
    }
  }
  return parents
}

export class ResourceSampler {
  /** CPU seconds of each process when it was first seen. */
  private readonly cpuAtFirstSight = new Map<number, number>()
  private readonly clientCpuBefore: number
  private readonly machineBefore = machineTicks()
  private readonly startedAtMs: number
  private readonly timer: NodeJS.Timeout
  private rssSumPeak = Number.NaN
  private rssOnePeak = Number.NaN
  private samples = 0
  private pids: number[] = []

  /** Starts sampling `roots` (and their descendants) now. */
  constructor(private readonly roots: readonly number[]) {
    this.clientCpuBefore = clientCpuSeconds()
    this.startedAtMs = performance.now()
    this.scanTree(true)
    this.sample()
    this.timer = setInterval(() => {
      if (this.samples % TREE_SCAN_EVERY_SAMPLES === 0) this.scanTree(false)
      this.sample()
    }, SAMPLE_INTERVAL_MS)
    this.timer.unref()
  }

  /** Stops sampling; the figures cover the time since construction. */
  stop(): ResourceFigures {
    clearInterval(this.timer)
    this.sample()
    const seconds = (performance.now() - this.startedAtMs) / 1000
    let serverCpuSeconds = 0
    for (const [pid, before] of this.cpuAtFirstSight) {
      const after = cpuSecondsOf(pid)
      // A process gone before the end gives no figure; the others still do.
      if (Number.isFinite(after)) serverCpuSeconds += after - before
    }
    const serverCpuPercent = this.cpuAtFirstSight.size === 0 ? Number.NaN : (serverCpuSeconds / seconds) * 100
    const clientCpuPercent = ((clientCpuSeconds() - this.clientCpuBefore) / seconds) * 100
    const machine = machineTicks()
    // Ticks of all CPUs over the window, as % of one core: busy / total x CPUs x 100.
    const machineBusyPercent = ((machine.busy - this.machineBefore.busy) / (machine.total - this.machineBefore.total)) * cpus().length * 100
    return {
      serverRssMBPeak: this.rssSumPeak / 1e6,
      serverRssMBPeakOneProcess: this.rssOnePeak / 1e6,
      serverCpuPercent,
      clientCpuPercent,
      otherCpuPercent: Math.max(0, machineBusyPercent - (Number.isFinite(serverCpuPercent) ? serverCpuPercent : 0) - clientCpuPercent),
      samples: this.samples,
    }
  }

  /** Finds the processes again; ones seen first now count CPU from zero (started in the window) unless `atStart`. */
  private scanTree(atStart: boolean): void {
    if (this.roots.length === 0) return
    this.pids = withDescendants(this.roots, parentsFromProc())
    for (const pid of this.pids) {
      if (this.cpuAtFirstSight.has(pid)) continue
      const cpu = atStart ? cpuSecondsOf(pid) : 0
      if (Number.isFinite(cpu)) this.cpuAtFirstSight.set(pid, cpu)
    }
  }

  private sample(): void {
    this.samples++
    const rss = this.pids.map(rssBytesOf).filter(Number.isFinite)
    if (rss.length === 0) return
    const sum = rss.reduce((a, b) => a + b, 0)
    const one = Math.max(...rss)
    if (!(sum <= this.rssSumPeak)) this.rssSumPeak = sum
    if (!(one <= this.rssOnePeak)) this.rssOnePeak = one
  }
}
