/**
 * The mutants of `npm run sim:mutants` (sim/mutants/mutants.ts) still find their spot: each
 * anchor occurs exactly once in the current source, so a refactor that moves the code fails
 * here instead of silently turning a mutant into a no-op. Fast: no copy, no compile, no sim.
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import * as path from 'node:path'
import { describe, expect, it } from 'vitest'
import { MUTANTS, MutantAnchorError, applyMutant, occurrences } from '../../sim/mutants/mutants.js'

const repoRoot = fileURLToPath(new URL('../..', import.meta.url))

describe('sim:mutants table', () => {
  it.each(MUTANTS.map((mutant) => [mutant.name, mutant] as const))('%s_anchor_occursExactlyOnceInItsFile', (_, mutant) => {
    const source = readFileSync(path.join(repoRoot, mutant.file), 'utf8')
    expect(occurrences(source, mutant.find), `${mutant.file}: the anchor of ${mutant.name} moved; update sim/mutants/mutants.ts`).toBe(1)
    const mutated = applyMutant(source, mutant)
    expect(mutated).not.toBe(source)
    expect(occurrences(mutated, mutant.find)).toBe(0)
  })

  it('mutants_haveUniqueNamesAndABoundedHunt', () => {
    expect(new Set(MUTANTS.map((mutant) => mutant.name)).size).toBe(MUTANTS.length)
    expect(MUTANTS.length).toBeGreaterThanOrEqual(3)
    for (const mutant of MUTANTS) {
      expect(mutant.name).toMatch(/^[a-z0-9-]+$/)
      expect(mutant.faults.length).toBeGreaterThan(0)
      expect(mutant.seedsMax).toBeGreaterThan(0)
    }
  })

  it('applyMutant_missingOrAmbiguousAnchor_throws', () => {
    const mutant = { ...(MUTANTS[0] as (typeof MUTANTS)[number]), find: 'x = 1' }
    expect(() => applyMutant('y = 2', mutant)).toThrow(MutantAnchorError)
    expect(() => applyMutant('x = 1; x = 1', mutant)).toThrow(/occurs 2 times/)
    expect(applyMutant('a; x = 1; b', { ...mutant, replace: 'x = 2' })).toBe('a; x = 2; b')
  })
})
