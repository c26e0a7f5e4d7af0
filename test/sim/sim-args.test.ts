import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { repoRoot } from '../helpers/processes.js'

/**
 * The seed runners (`npm run sim:broker|group|txn`) on bad arguments: a stable error line and
 * exit status 2, never a stack trace. They run compiled from dist/ (npm test builds first).
 */
function runner(name: string, args: string[]): { status: number | null; stderr: string } {
  const result = spawnSync(process.execPath, [join(repoRoot, 'dist', 'sim', name, 'main.js'), ...args], { encoding: 'utf8', timeout: 30_000 })
  return { status: result.status, stderr: result.stderr }
}

describe('sim seed runners on bad arguments', () => {
  it.each(['broker', 'group', 'txn'])('%s_unknownOptionOrBadValue_exits2WithInvalidRequest', (name) => {
    for (const args of [['--no-such-option'], ['--seeds', '9..3'], ['--fault-ms', 'soon'], ['--seed', '1', '--seeds', '1..2']]) {
      const result = runner(name, args)
      expect(result.status, `${name} ${args.join(' ')}`).toBe(2)
      expect(result.stderr).toMatch(new RegExp(`^sim:${name}: error\\[INVALID_REQUEST\\]: `))
      expect(result.stderr).not.toContain('    at ')
    }
  })
})
