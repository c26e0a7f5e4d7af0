import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { silentLogger } from '../../src/env/logger.js'
import { createRealEnv, RealClock, RealDisk, RealNet, RealRandom } from '../../src/env/real/index.js'

let dataDir = ''

beforeEach(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'skein-real-env-'))
})

afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true })
})

describe('createRealEnv', () => {
  it('assemblesTheRealImplementations_withTheGivenLogger', async () => {
    const env = createRealEnv({ dataDir: path.join(dataDir, 'n1'), nodeId: 'n1', log: silentLogger })
    expect(env.clock).toBeInstanceOf(RealClock)
    expect(env.random).toBeInstanceOf(RealRandom)
    expect(env.disk).toBeInstanceOf(RealDisk)
    expect(env.net).toBeInstanceOf(RealNet)
    expect(env.log).toBe(silentLogger)
    // The data directory is not created by createRealEnv; mkdirs('') does it.
    await env.disk.mkdirs('')
    expect(await env.disk.list('')).toEqual([])
  })
})
