import { describe, expect, it } from 'vitest'
import { logAxis, renderChart, shortNumber } from '../../bench/suite/chart.js'
import {
  type CellResult,
  finalReport,
  judgePeers,
  judgeTargets,
  markdownTable,
  ratioTable,
  resultRow,
  resultsTable,
  type SuiteResult,
  type SystemStatus,
} from '../../bench/suite/report.js'
import { findDurability, findSystemExport, runOrder } from '../../bench/suite/runner.js'
import { machineTicks, parentPidOf, statusFieldBytes, withDescendants } from '../../bench/suite/sampling.js'
import type { BenchSystem, SystemName } from '../../bench/suite/system.js'
import {
  ArrivalSet,
  latencyFigures,
  makeValues,
  newLatencyHistogram,
  PROFILES,
  readLatencyStamp,
  recordMicros,
  stampLatencyValue,
  WORKLOADS,
  type WorkloadFigures,
  type WorkloadId,
} from '../../bench/suite/workloads.js'

// ---------------------------------------------------------------------------------------------
// Fixtures

const RESOURCES = { serverRssMBPeak: 120, serverRssMBPeakOneProcess: 120, serverCpuPercent: 95, clientCpuPercent: 60, otherCpuPercent: 5, samples: 10 }

function figures(recordsPerSec: number, p99Ms = 10): WorkloadFigures {
  return {
    recordsPerSec,
    mbPerSec: (recordsPerSec * 100) / 1e6,
    records: recordsPerSec * 10,
    seconds: 10,
    latency: { what: 'end-to-end', p50Ms: p99Ms / 2, p99Ms, p999Ms: p99Ms * 1.5, maxMs: p99Ms * 2, count: 1000 },
    resources: RESOURCES,
    sendErrors: 0,
    notes: [],
  }
}

function ok(system: SystemName, workload: WorkloadId, recordsPerSec: number, p99Ms?: number): CellResult {
  return { system, workload, outcome: 'ok', figures: figures(recordsPerSec, p99Ms), durationMs: 1000 }
}

function failed(system: SystemName, workload: WorkloadId, error: string): CellResult {
  return { system, workload, outcome: 'error', error, durationMs: 1000 }
}

function suite(cells: CellResult[], systems: SystemStatus[] = [{ name: 'skein' }, { name: 'redis' }, { name: 'nats' }, { name: 'rabbitmq' }]): SuiteResult {
  return {
    suite: 'suite',
    startedAt: '2026-12-03T00:00:00.000Z',
    profile: PROFILES.quick,
    machine: { platform: 'linux/x64', node: 'v20', cpus: 2, memoryMB: 24000 },
    systems,
    workloads: WORKLOADS,
    cells,
  }
}

/** Every system with a figure for every workload: skein 10x faster and 2x lower latency. */
function fullGrid(): CellResult[] {
  const cells: CellResult[] = []
  const speed: Record<SystemName, number> = { skein: 1_000_000, redis: 100_000, nats: 50_000, rabbitmq: 20_000 }
  for (const spec of WORKLOADS) {
    for (const system of ['skein', 'redis', 'nats', 'rabbitmq'] as const) cells.push(ok(system, spec.id, speed[system], system === 'skein' ? 2 : 4))
  }
  return cells
}

/**
 * A small XML well-formedness check (no XML library here): tags nest and close, attributes are
 * quoted, text holds no raw '<' and no '&' outside an entity. Throws on the first problem.
 */
function assertWellFormedXml(xml: string): void {
  const stack: string[] = []
  const token = /<!--[\s\S]*?-->|<\/([A-Za-z][\w:-]*)\s*>|<([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|([^<]+)|(<)/g
  let match: RegExpExecArray | null
  let roots = 0
  while ((match = token.exec(xml)) !== null) {
    const [, close, open, attributes, selfClosing, text, stray] = match
    if (stray !== undefined) throw new Error(`stray '<' at ${match.index}: ${xml.slice(match.index, match.index + 40)}`)
    if (text !== undefined) {
      if (/&(?!(amp|lt|gt|quot|apos|#\d+);)/.test(text)) throw new Error(`raw '&' in text: ${text}`)
      if (stack.length === 0 && text.trim() !== '') throw new Error(`text outside the root: ${text}`)
    } else if (close !== undefined) {
      const top = stack.pop()
      if (top !== close) throw new Error(`</${close}> closes <${top}>`)
    } else if (open !== undefined) {
      if (/&(?!(amp|lt|gt|quot|apos|#\d+);)/.test(attributes ?? '')) throw new Error(`raw '&' in attributes of <${open}>`)
      if (stack.length === 0) roots++
      if (selfClosing !== '/') stack.push(open)
    }
  }
  if (stack.length > 0) throw new Error(`unclosed: ${stack.join(' > ')}`)
  if (roots !== 1) throw new Error(`${roots} root elements`)
}

// ---------------------------------------------------------------------------------------------

describe('judgeTargets', () => {
  it('judgeTargets_whenAtOrPastEachBound_isMet', () => {
    const verdicts = judgeTargets([ok('skein', 'a', 1_000_000), ok('skein', 'b', 300_000), ok('skein', 'd', 1_600_000), ok('skein', 'f10k', 10_000, 5)])
    expect(verdicts.map((v) => [v.target.workload, v.verdict])).toEqual([
      ['a', 'met'],
      ['b', 'met'],
      ['d', 'met'],
      ['f10k', 'met'],
    ])
  })

  it('judgeTargets_whenShortOfABound_isMissed', () => {
    const verdicts = judgeTargets([ok('skein', 'a', 999_999), ok('skein', 'b', 299_000), ok('skein', 'd', 1_499_999), ok('skein', 'f10k', 10_000, 5.01)])
    expect(verdicts.map((v) => v.verdict)).toEqual(['missed', 'missed', 'missed', 'missed'])
  })

  it('judgeTargets_withoutAFigure_isNotApplicable', () => {
    const verdicts = judgeTargets([failed('skein', 'a', 'boom'), ok('redis', 'b', 5_000_000)])
    expect(verdicts.every((v) => v.verdict === 'n/a')).toBe(true)
  })
})

describe('judgePeers', () => {
  const specs = WORKLOADS.filter((w) => w.id === 'a' || w.id === 'f10k')

  it('throughputRatio_againstRedis_needsThreeTimes', () => {
    const met = judgePeers([ok('skein', 'a', 900_000), ok('redis', 'a', 300_000)], specs, ['redis'])
    expect(met).toHaveLength(1)
    expect(met[0]).toMatchObject({ workload: 'a', peer: 'redis', kind: 'throughput', ratio: 3, verdict: 'met' })
    const missed = judgePeers([ok('skein', 'a', 900_000), ok('redis', 'a', 300_001)], specs, ['redis'])
    expect(missed[0]?.verdict).toBe('missed')
  })

  it('throughputRatio_againstRabbitmq_needsTenTimes', () => {
    expect(judgePeers([ok('skein', 'a', 1_000_000), ok('rabbitmq', 'a', 100_000)], specs, ['rabbitmq'])[0]?.verdict).toBe('met')
    expect(judgePeers([ok('skein', 'a', 999_999), ok('rabbitmq', 'a', 100_000)], specs, ['rabbitmq'])[0]?.verdict).toBe('missed')
  })

  it('throughputRatio_againstNats_hasNoRequirement', () => {
    const [verdict] = judgePeers([ok('skein', 'a', 100), ok('nats', 'a', 1_000)], specs, ['nats'])
    expect(verdict).toMatchObject({ requirement: '', verdict: 'n/a', ratio: 0.1 })
  })

  it('latency_againstEveryPeer_mustBeNoWorse', () => {
    const cells = [ok('skein', 'f10k', 10_000, 3), ok('nats', 'f10k', 10_000, 2), ok('redis', 'f10k', 10_000, 3), ok('rabbitmq', 'f10k', 10_000, 9)]
    const verdicts = judgePeers(cells, specs, ['redis', 'nats', 'rabbitmq'])
    expect(verdicts.every((v) => v.requirement === 'no worse')).toBe(true)
    expect(verdicts.map((v) => [v.peer, v.kind, v.verdict])).toEqual([
      ['redis', 'latency', 'met'],
      ['nats', 'latency', 'missed'],
      ['rabbitmq', 'latency', 'met'],
    ])
  })

  it('peerCellWithAnError_isNotApplicable_andSkippedPeer_isLeftOut', () => {
    const verdicts = judgePeers([ok('skein', 'a', 1_000_000), failed('redis', 'a', 'connection refused')], specs, ['redis', 'rabbitmq'])
    expect(verdicts).toHaveLength(1)
    expect(verdicts[0]).toMatchObject({ peer: 'redis', verdict: 'n/a' })
  })
})

describe('tables', () => {
  it('markdownTable_alignsAndEscapesPipes', () => {
    const table = markdownTable(['name', 'value'], ['l', 'r'], [['a|b', '1']])
    expect(table.split('\n')).toEqual(['| name | value |', '| --- | ---: |', '| a\\|b | 1 |'])
  })

  it('markdownTable_withARowOfTheWrongWidth_throws', () => {
    expect(() => markdownTable(['x', 'y'], ['l', 'l'], [['only one']])).toThrow(/1 cells/)
    expect(() => markdownTable(['x', 'y'], ['l'], [])).toThrow(/align/)
  })

  it('resultRow_withFailedSends_saysSoBesideTheRate', () => {
    const cell = ok('rabbitmq', 'f50k', 49_000)
    const row = resultRow(WORKLOADS.find((w) => w.id === 'f50k')!, { ...cell, figures: { ...cell.figures!, sendErrors: 172 } })
    expect(row[2]).toBe('49,000 (172 sends failed)')
  })

  it('resultsTable_hasOneRowPerCell_withFiguresOrTheError', () => {
    const result = suite([ok('skein', 'a', 1_234_567), failed('redis', 'a', 'no server')])
    const lines = resultsTable(result).split('\n')
    expect(lines).toHaveLength(4)
    expect(lines[2]).toContain('| skein | 1,234,567 | 123.5 |')
    expect(lines[3]).toContain('error: no server')
    for (const line of lines) expect(line.split(' | ')).toHaveLength(13)
  })

  it('ratioTable_showsEachPeersFigureRatioAndVerdict', () => {
    const cells = [ok('skein', 'a', 900_000), ok('redis', 'a', 100_000), ok('rabbitmq', 'a', 300_000)]
    const specs = WORKLOADS.filter((w) => w.id === 'a')
    const table = ratioTable(judgePeers(cells, specs, ['redis', 'rabbitmq']), specs, ['redis', 'rabbitmq'])
    expect(table).toContain('| a: produce, 1 node | 900,000 | 100,000 | 9.00× met (≥ 3×) | 300,000 | 3.00× missed (≥ 10×) |')
  })

  it('finalReport_printsTargetsRatiosSkipsAndErrors', () => {
    const cells = [ok('skein', 'a', 1_100_000), ok('redis', 'a', 100_000), failed('skein', 'b', 'nodes did not start')]
    const text = finalReport(suite(cells, [{ name: 'skein', durability: 'flush=always' }, { name: 'redis' }, { name: 'rabbitmq', skipped: 'rabbitmq-server not installed' }]))
    expect(text).toMatch(/\| \(a\) .* \| 1,100,000 rec\/s \| met \|/)
    expect(text).toMatch(/\| \(b\) .* \| n\/a \| n\/a \|/)
    expect(text).toContain('| 11× met (≥ 3×) |')
    expect(text).toContain('rabbitmq skipped: rabbitmq-server not installed')
    expect(text).toContain('| skein | flush=always |')
    expect(text).toContain('error: nodes did not start')
  })
})

describe('chart', () => {
  const throughputIds = WORKLOADS.filter((w) => w.kind !== 'latency').map((w) => w.id)
  const latencyIds = WORKLOADS.filter((w) => w.kind === 'latency').map((w) => w.id)

  it('renderChart_isWellFormedSvg', () => {
    const svg = renderChart(suite(fullGrid()))
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true)
    assertWellFormedXml(svg)
  })

  it('renderChart_drawsOneThroughputBarPerSystemAndWorkload', () => {
    const svg = renderChart(suite(fullGrid()))
    const bars = [...svg.matchAll(/<rect class="bar throughput" data-system="(\w+)" data-workload="([\w-]+)"/g)].map((m) => `${m[1]}/${m[2]}`)
    expect(bars).toHaveLength(4 * throughputIds.length)
    expect(new Set(bars).size).toBe(bars.length)
    for (const system of ['skein', 'redis', 'nats', 'rabbitmq']) for (const id of throughputIds) expect(bars).toContain(`${system}/${id}`)
  })

  it('renderChart_drawsThreePercentileBarsPerSystemInTheLatencyPanel', () => {
    const svg = renderChart(suite(fullGrid()))
    const bars = [...svg.matchAll(/<rect class="bar latency" data-system="(\w+)" data-workload="([\w-]+)" data-percentile="([\w.]+)"/g)]
    expect(bars).toHaveLength(4 * latencyIds.length * 3)
    expect(new Set(bars.map((m) => m[3]))).toEqual(new Set(['p50', 'p99', 'p99.9']))
  })

  it('renderChart_marksAnErrorCellInsteadOfABar_andEscapesText', () => {
    const cells = fullGrid().map((cell) => (cell.system === 'redis' && cell.workload === 'a' ? failed('redis', 'a', 'expected <ok> & got "bad"') : cell))
    const svg = renderChart(suite(cells))
    assertWellFormedXml(svg)
    expect(svg).not.toMatch(/data-system="redis" data-workload="a"/)
    expect(svg).toContain('expected &lt;ok&gt; &amp; got &quot;bad&quot;')
    expect([...svg.matchAll(/class="bar throughput"/g)]).toHaveLength(4 * throughputIds.length - 1)
  })

  it('renderChart_drawsADashedLinePerTarget', () => {
    const svg = renderChart(suite(fullGrid()))
    expect([...svg.matchAll(/<line class="target" data-workload="([\w-]+)"/g)].map((m) => m[1])).toEqual(['a', 'b', 'd', 'f10k'])
  })

  it('renderChart_leavesOutSkippedSystems', () => {
    const cells = fullGrid().filter((cell) => cell.system === 'skein')
    const svg = renderChart(suite(cells, [{ name: 'skein' }, { name: 'redis', skipped: 'not installed' }]))
    assertWellFormedXml(svg)
    expect([...svg.matchAll(/class="bar throughput"/g)]).toHaveLength(throughputIds.length)
    expect(svg).not.toContain('data-system="redis"')
  })

  it('logAxis_spansWholeDecades_andShortNumber_abbreviates', () => {
    expect(logAxis(23_000, 1_400_000)).toEqual({ low: 4, high: 7, decades: [4, 5, 6, 7] })
    expect(logAxis(5, 5).high).toBeGreaterThan(logAxis(5, 5).low)
    expect(shortNumber(1_234_567)).toBe('1.23M')
    expect(shortNumber(45_600)).toBe('45.6k')
    expect(shortNumber(Number.NaN)).toBe('n/a')
  })
})

describe('latency plumbing', () => {
  it('latencyFigures_ofAKnownSpread_givesItsPercentilesInMs', () => {
    const histogram = newLatencyHistogram()
    for (let ms = 1; ms <= 1000; ms++) recordMicros(histogram, ms * 1000)
    const figures = latencyFigures(histogram, 'end-to-end')
    expect(figures.count).toBe(1000)
    // 3 significant digits: within 0.1%.
    expect(figures.p50Ms).toBeCloseTo(500, -0.3)
    expect(Math.abs(figures.p99Ms - 990) / 990).toBeLessThan(0.001)
    expect(Math.abs(figures.p999Ms - 999) / 999).toBeLessThan(0.001)
    expect(Math.abs(figures.maxMs - 1000) / 1000).toBeLessThan(0.001)
  })

  it('latencyFigures_ofAnEmptyHistogram_isNaN', () => {
    const figures = latencyFigures(newLatencyHistogram(), 'send')
    expect(figures.count).toBe(0)
    expect(Number.isNaN(figures.p99Ms)).toBe(true)
  })

  it('recordMicros_clampsBelowOneMicrosecond', () => {
    const histogram = newLatencyHistogram()
    recordMicros(histogram, -5)
    recordMicros(histogram, 0.2)
    expect(histogram.totalCount).toBe(2)
    expect(histogram.maxValue).toBe(1)
  })

  it('latencyStamp_roundTripsThroughAValue', () => {
    const [value] = makeValues(1, 100, 7, (view) => stampLatencyValue(view, 123_456_789_012_345n, 42))
    expect(value).toHaveLength(100)
    expect(readLatencyStamp(value as Buffer)).toEqual({ dueNs: 123_456_789_012_345n, index: 42 })
    expect(readLatencyStamp(new Uint8Array(11))).toBeUndefined()
  })

  it('arrivalSet_countsMissingRepeatedAndUnknown', () => {
    const arrivals = new ArrivalSet(4)
    for (const index of [0, 1, 2, 3]) arrivals.add(index)
    expect(arrivals.problem()).toBeUndefined()
    const broken = new ArrivalSet(4)
    for (const index of [0, 1, 1, 9]) broken.add(index)
    expect(broken.problem()).toBe('2 of 4 records missing, 1 repeated, 1 unknown')
  })
})

describe('sampling and runner helpers', () => {
  it('statusFieldBytes_readsVmRssInBytes', () => {
    const status = 'Name:\tnode\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\nThreads:\t11\n'
    expect(statusFieldBytes(status, 'VmRSS')).toBe(102400 * 1024)
    expect(statusFieldBytes(status, 'VmHWM')).toBe(204800 * 1024)
    expect(Number.isNaN(statusFieldBytes(status, 'VmSwap'))).toBe(true)
  })

  it('machineTicks_sumsBusyAndTotalFromProcStat', () => {
    // user nice system idle iowait irq softirq steal
    expect(machineTicks('cpu  100 5 50 800 20 3 2 1 0 0\ncpu0 1 2 3\n')).toEqual({ busy: 161, total: 981 })
  })

  it('parentPidOf_skipsACommandWithSpacesAndParentheses', () => {
    expect(parentPidOf('4242 (beam.smp) (x) S 4200 4242 4242 0 -1 4194560 0 0 0 0 5 3')).toBe(4200)
  })

  it('withDescendants_followsTheTree', () => {
    const parents = new Map([
      [10, 1],
      [11, 10],
      [12, 11],
      [20, 1],
    ])
    expect(withDescendants([10], parents)).toEqual([10, 11, 12])
    expect(withDescendants([99], parents)).toEqual([99])
  })

  it('runOrder_freshGoesWorkloadByWorkload_sharedGoesSystemBySystemByNodeCount', () => {
    const specs = WORKLOADS.filter((w) => ['a', 'b', 'd'].includes(w.id))
    expect(runOrder(['skein', 'redis'], specs, true).map((c) => `${c.spec.id}/${c.system}`)).toEqual(['a/skein', 'a/redis', 'b/skein', 'b/redis', 'd/skein', 'd/redis'])
    expect(runOrder(['skein', 'redis'], specs, false).map((c) => `${c.spec.id}/${c.system}`)).toEqual(['a/skein', 'd/skein', 'b/skein', 'a/redis', 'd/redis', 'b/redis'])
  })

  it('findSystemExport_takesNameSystem_anObjectOrAFactory', () => {
    const redis: BenchSystem = { name: 'redis', unavailable: async () => undefined, deploy: async () => Promise.reject(new Error('not here')) }
    expect(findSystemExport({ redisSystem: redis }, 'redis')).toBe(redis)
    expect(findSystemExport({ redisSystem: () => redis }, 'redis')).toBe(redis)
    expect(findSystemExport({ redisSystem: redis }, 'nats')).toBeUndefined()
    expect(findSystemExport({ natsSystem: redis }, 'nats')).toBeUndefined()
    expect(findSystemExport({ other: redis }, 'redis')).toBeUndefined()
  })

  it('findDurability_takesAStringOrAnAsyncFunction', async () => {
    expect(await findDurability({ natsDurability: async () => 'fsync' }, 'nats')).toBe('fsync')
    expect(await findDurability({ durability: 'always' }, 'skein')).toBe('always')
    expect(await findDurability({}, 'redis')).toBeUndefined()
  })
})
