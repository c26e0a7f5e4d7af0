/**
 * DESIGN.md principle 2, enforced: code under src/ (but src/env/real/ and src/cli/) and
 * actors/ reaches time, randomness, disk and network only through its Env.
 */
import { fileURLToPath } from 'node:url'
import * as path from 'node:path'
import { describe, expect, it } from 'vitest'
import { blankCommentsAndLiterals, formatViolation, scanDirectories, scanSource } from './guard-scan.js'

const repoRoot = fileURLToPath(new URL('..', import.meta.url))
const fixturesDir = path.join(repoRoot, 'test/fixtures/guard')

function scanFixtures(kind: 'bad' | 'good'): string[] {
  const dir = path.join(fixturesDir, kind)
  return scanDirectories({ roots: [dir], reportRelativeTo: dir }).map(formatViolation)
}

function scanText(text: string): string[] {
  return scanSource('x.ts', text).map(formatViolation)
}

describe('guard scanner', () => {
  it('scanFixtures_bad_reportsEveryForbiddenUseExactlyOnce', () => {
    expect(scanFixtures('bad')).toEqual([
      'crypto-random.ts:1: randomBytes',
      'crypto-random.ts:5: randomBytes',
      'crypto-random.ts:10: getRandomValues',
      'crypto-random.ts:11: randomInt',
      'crypto-random.ts:11: randomUUID',
      'date-now.ts:2: Date.now',
      'hrtime.ts:2: process.hrtime',
      "imports.ts:2: import 'fs'",
      "imports.ts:3: import 'node:fs/promises'",
      "imports.ts:4: import 'node:net'",
      "imports.ts:5: import 'ws'",
      "imports.ts:6: import 'pino'",
      "imports.ts:7: import 'node:os'",
      "imports.ts:8: import 'node:http'",
      "imports.ts:9: import 'https'",
      "imports.ts:11: import 'node:child_process'",
      "imports.ts:12: import 'dgram'",
      "imports.ts:13: import 'dns'",
      "imports.ts:14: import 'worker_threads'",
      'math-random.ts:2: Math.random',
      'new-date.ts:2: new Date',
      'performance-now.ts:2: performance.now',
      'timers.ts:2: setTimeout',
      'timers.ts:3: setInterval',
      'timers.ts:4: setImmediate',
    ])
  })

  it('scanFixtures_good_reportsNothing', () => {
    expect(scanFixtures('good')).toEqual([])
  })

  it('scanSource_divisionBeforeCode_isNotMistakenForRegex', () => {
    expect(scanText('const a = 1 / 2; const b = Date.now(); const c = b / 4')).toEqual(['x.ts:1: Date.now'])
  })

  it('scanSource_insideTemplateSubstitution_stillSeesCode', () => {
    expect(scanText('const s = `a ${`b ${Math.random()}`} c`')).toEqual(['x.ts:1: Math.random'])
  })

  it('scanSource_afterRegexWithQuotes_stillSeesCode', () => {
    expect(scanText("const q = /['\"]/g\nsetTimeout(() => {}, 1)")).toEqual(['x.ts:2: setTimeout'])
  })

  it('scanSource_importInsideString_isIgnored', () => {
    expect(scanText('const s = "import fs from \'fs\'"')).toEqual([])
  })

  it('scanSource_lookalikeNames_areIgnored', () => {
    expect(scanText('const mySetTimeout = 1; obj.nowMs(); const $Date = { now: 1 }; $Date.now')).toEqual([])
  })

  it('blankCommentsAndLiterals_keepsOffsetsAndNewlines', () => {
    const text = "a /* b\nc */ 'd' // e\nf"
    const { code } = blankCommentsAndLiterals(text)
    expect(code.length).toBe(text.length)
    expect(code.split('\n').length).toBe(3)
    expect(code.replace(/\s+/g, '')).toBe("a''f")
  })
})

describe('guard', () => {
  it('src and actors reach time, randomness, disk and network only through Env', () => {
    const violations = scanDirectories({
      roots: [path.join(repoRoot, 'src'), path.join(repoRoot, 'actors')],
      excludeDirs: [path.join(repoRoot, 'src/env/real'), path.join(repoRoot, 'src/cli')],
      reportRelativeTo: repoRoot,
    })
    // The list itself is the failure message: file:line and what was used.
    expect(violations.map(formatViolation)).toEqual([])
  })
})
