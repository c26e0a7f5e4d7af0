import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { Client } from '../../src/index.js'
import { Processes, repoRoot } from '../helpers/processes.js'

/**
 * The delivery-guarantee examples of docs/examples run as a user would run them (node, importing
 * the package by its name), against a real node: each processes every record it wrote exactly
 * once in a clean run, and leaves its group's offsets committed at the end of the log.
 */

const CLUSTER = { clusterId: 'examples-test', clusterSecret: 'examples-test-secret-0123456789abcdef' }
const EXAMPLE_TIMEOUT_MS = 60_000
const procs = new Processes()

afterEach(async () => {
  await procs.cleanup()
})

async function runExample(file: string, seeds: string, topic: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [join(repoRoot, 'docs', 'examples', file), topic], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SKEIN_SEEDS: seeds, SKEIN_CLUSTER_ID: CLUSTER.clusterId, SKEIN_CLUSTER_SECRET: CLUSTER.clusterSecret },
  })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  const timer = setTimeout(() => child.kill('SIGKILL'), EXAMPLE_TIMEOUT_MS)
  const status = await new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)))
  clearTimeout(timer)
  return { status, stdout, stderr }
}

describe('delivery guarantee examples', () => {
  it.each([
    ['at-least-once.mjs', 'payments-alo', 'payments-alo-processors'],
    ['at-most-once.mjs', 'payments-amo', 'payments-amo-notifiers'],
    ['exactly-once.mjs', 'payments-eos', 'payments-eos-receipts'],
  ])('%s_processesEveryRecordOnce_andCommitsToTheEnd', async (file, topic, group) => {
    const node = await procs.start('e1', { secret: CLUSTER.clusterSecret, clusterId: CLUSTER.clusterId, controllers: ['e1'] })
    const result = await runExample(file, node.address, topic)
    expect(result.status, result.stderr).toBe(0)
    const processed = result.stdout.split('\n').filter((line) => line.startsWith('processed ')).map((line) => line.split(' ')[1])
    expect(processed.sort()).toEqual(Array.from({ length: 30 }, (_, i) => `payment-${i}`).sort())
    const client = new Client({ seeds: [node.address], ...CLUSTER, clientId: 'examples-check' })
    try {
      const described = await client.admin().describeGroup(group)
      expect(described.partitions.map((p) => p.lag)).toEqual([0, 0, 0])
      if (file === 'exactly-once.mjs') {
        // Its first transaction aborts on purpose: a read_committed reader of the output sees every receipt once, no more.
        const receipts = client.consumer({ fromBeginning: true, maxWaitMs: 100, isolation: 'read_committed' })
        receipts.assign([0, 1, 2].map((partition) => ({ topic: `${topic}-receipts`, partition })))
        const seen: string[] = []
        for await (const message of receipts) {
          seen.push(String(message.value))
          if (seen.length === 30) break
        }
        await receipts.close()
        expect(seen.sort()).toEqual(Array.from({ length: 30 }, (_, i) => `receipt for payment-${i}`).sort())
        expect(result.stdout).toMatch(/^aborted \d+ records/m)
      }
    } finally {
      await client.close()
    }
  }, 120_000)
})
