import { delay } from '../helpers/processes.js'
import type { ChaosCluster, Cut } from './cluster.js'
import type { SeededRandom } from './random.js'

/**
 * The fault schedule: for a bounded time, every few seconds, one fault drawn from the seed
 * against nodes nobody else is disturbing. Quorum-friendly: usually at most one node is
 * impaired (down, paused, restarting or cut off) at a time, sometimes two; each fault heals
 * itself after a drawn time, and the schedule ends once every fault it started has healed.
 */

export const FaultKind = {
  kill: 'kill -9',
  pause: 'SIGSTOP',
  cut: 'link cut',
  restart: 'graceful restart',
} as const
export type FaultKind = (typeof FaultKind)[keyof typeof FaultKind]

/** How often each fault is drawn, relative to the others. */
const FAULT_WEIGHTS = { kill: 3, pause: 2, cut: 3, restart: 1 } as const
/** Share of draws that may impair a second node while one already is. */
const TWO_IMPAIRED_PROBABILITY = 0.25
/** Pause between two draws. */
const GAP_MS = { min: 1_500, max: 5_000 } as const
/** How long a killed node stays down before its restart. */
const DOWN_MS = { min: 1_000, max: 8_000 } as const
const PAUSE_MS = { min: 2_000, max: 10_000 } as const
const CUT_MS = { min: 3_000, max: 15_000 } as const
/** Between a graceful stop and the restart. */
const RESTART_GAP_MS = { min: 500, max: 3_000 } as const

export interface FaultSummary {
  counts: Record<FaultKind, number>
  /** Faults that could not do what they meant to (a restart that failed), with why. */
  failures: string[]
}

export class FaultScheduler {
  private readonly impaired = new Set<string>()
  private readonly tasks = new Set<Promise<void>>()
  private readonly summary: FaultSummary = { counts: { 'kill -9': 0, SIGSTOP: 0, 'link cut': 0, 'graceful restart': 0 }, failures: [] }

  constructor(
    private readonly cluster: ChaosCluster,
    private readonly random: SeededRandom,
    private readonly print: (line: string) => void,
  ) {}

  /** Draws faults for `durationMs`, then waits for every fault started to heal. */
  async run(durationMs: number): Promise<FaultSummary> {
    const endAtMs = performance.now() + durationMs
    for (;;) {
      await delay(Math.min(this.random.int(GAP_MS.min, GAP_MS.max), Math.max(0, endAtMs - performance.now())))
      const leftMs = endAtMs - performance.now()
      if (leftMs <= 0) break
      const capacity = this.random.chance(TWO_IMPAIRED_PROBABILITY) ? 2 : 1
      if (this.impaired.size >= capacity) continue
      this.launch(this.random.weighted(FAULT_WEIGHTS), capacity - this.impaired.size, leftMs)
    }
    while (this.tasks.size > 0) await Promise.all([...this.tasks])
    return this.summary
  }

  /** Starts one fault on free nodes; `free` is how many more nodes may be impaired now. */
  private launch(kind: keyof typeof FAULT_WEIGHTS, free: number, leftMs: number): void {
    const candidates = this.cluster.nodeIds.filter((id) => !this.impaired.has(id))
    const target = this.random.pick(candidates)
    let task: Promise<void>
    switch (kind) {
      case 'kill':
        task = this.killAndRestart(target, this.draw(DOWN_MS, leftMs))
        break
      case 'pause':
        task = this.pauseFor(target, this.draw(PAUSE_MS, leftMs))
        break
      case 'restart':
        task = this.gracefulRestart(target)
        break
      case 'cut':
        task = this.cutFor(this.drawCut(candidates, free), this.draw(CUT_MS, leftMs))
        break
    }
    this.tasks.add(task)
    void task.finally(() => this.tasks.delete(task))
  }

  /** A duration in `range`, cut so the fault ends about when the schedule does (but not below 1 s). */
  private draw(range: { min: number; max: number }, leftMs: number): number {
    return Math.max(1_000, Math.min(this.random.int(range.min, range.max), leftMs))
  }

  /**
   * One of: a node cut off from all others; one link between two nodes (a partial partition:
   * both still reach everyone else); or, with room for two impaired nodes, two nodes cut off
   * from the other three. The smaller side counts as impaired.
   */
  private drawCut(candidates: readonly string[], free: number): { cut: Cut; impaired: string[] } {
    const ids = this.cluster.nodeIds
    const shape = free >= 2 && candidates.length >= 2 && this.random.chance(0.4) ? 'split' : this.random.chance(0.5) ? 'isolate' : 'pair'
    const shuffled = this.random.shuffled(candidates)
    const first = shuffled[0] as string
    if (shape === 'split') {
      const minority = [first, shuffled[1] as string].sort()
      return { cut: { sideA: minority, sideB: ids.filter((id) => !minority.includes(id)) }, impaired: minority }
    }
    if (shape === 'isolate') return { cut: { sideA: [first], sideB: ids.filter((id) => id !== first) }, impaired: [first] }
    const other = this.random.pick(ids.filter((id) => id !== first))
    return { cut: { sideA: [first], sideB: [other] }, impaired: [first] }
  }

  private async killAndRestart(id: string, downMs: number): Promise<void> {
    this.impaired.add(id)
    try {
      this.summary.counts[FaultKind.kill]++
      this.print(`kill -9 ${id} (restart in ${seconds(downMs)})`)
      await this.cluster.kill9(id)
      await delay(downMs)
      await this.restart(id, 'restarted')
    } finally {
      this.impaired.delete(id)
    }
  }

  private async pauseFor(id: string, pauseMs: number): Promise<void> {
    this.impaired.add(id)
    try {
      this.summary.counts[FaultKind.pause]++
      this.print(`SIGSTOP ${id} for ${seconds(pauseMs)}`)
      this.cluster.pause(id)
      await delay(pauseMs)
      this.cluster.resume(id)
      this.print(`SIGCONT ${id}`)
    } finally {
      this.impaired.delete(id)
    }
  }

  private async gracefulRestart(id: string): Promise<void> {
    this.impaired.add(id)
    try {
      this.summary.counts[FaultKind.restart]++
      const startedMs = performance.now()
      this.print(`SIGTERM ${id} (graceful restart)`)
      const exit = await this.cluster.stopGracefully(id)
      this.print(`${id} stopped in ${seconds(performance.now() - startedMs)} (${exit.signal === null ? `exit code ${exit.code}` : `killed by ${exit.signal} after the grace period`})`)
      await delay(this.random.int(RESTART_GAP_MS.min, RESTART_GAP_MS.max))
      await this.restart(id, 'restarted')
    } finally {
      this.impaired.delete(id)
    }
  }

  private async cutFor(drawn: { cut: Cut; impaired: string[] }, cutMs: number): Promise<void> {
    const { cut, impaired } = drawn
    for (const id of impaired) this.impaired.add(id)
    try {
      this.summary.counts[FaultKind.cut]++
      this.print(`cut links {${cut.sideA.join(',')}} | {${cut.sideB.join(',')}} for ${seconds(cutMs)}`)
      this.cluster.addCut(cut)
      await delay(cutMs)
      this.cluster.removeCut(cut)
      this.print(`heal links {${cut.sideA.join(',')}} | {${cut.sideB.join(',')}}`)
    } finally {
      for (const id of impaired) this.impaired.delete(id)
    }
  }

  /** Restarts a stopped node, retrying a failed start a few times; a node that never comes back is a failure. */
  private async restart(id: string, verb: string): Promise<void> {
    const startedMs = performance.now()
    for (let attempt = 1; attempt <= 3; attempt++) {
      try {
        await this.cluster.restart(id)
        this.print(`${id} ${verb}, up in ${seconds(performance.now() - startedMs)}`)
        return
      } catch (error) {
        this.print(`${id} restart attempt ${attempt} failed: ${(error as Error).message.split('\n')[0]}`)
      }
    }
    this.summary.failures.push(`${id} did not restart in 3 attempts`)
  }
}

function seconds(ms: number): string {
  return `${(ms / 1_000).toFixed(1)} s`
}
