import { afterEach, describe, expect, it } from 'vitest'
import { Processes, retry } from '../helpers/processes.js'

/**
 * The everyday commands on a real 3-node cluster: `skein topic create|list|describe|delete`,
 * `skein produce` from stdin and `skein consume` back, and their errors on bad input.
 */

const CLUSTER_SECRET = 'cli-topics-test-secret-0123456789'
const LINE_COUNT = 10_000
const KEY_COUNT = 7
/** Gossip normally shows new members within a few seconds. */
const MEMBERSHIP_DEADLINE_MS = 30_000
const TEST_TIMEOUT_MS = 150_000

const procs = new Processes()

afterEach(async () => {
  await procs.cleanup()
})

describe('skein topic, produce and consume', () => {
  it('produceTenThousandLines_consumeFromBeginning_roundTripsEveryLineInOrderPerKey', async () => {
    const n1 = await procs.start('n1', { secret: CLUSTER_SECRET, controllers: ['n1', 'n2', 'n3'] })
    await Promise.all(['n2', 'n3'].map((id) => procs.start(id, { secret: CLUSTER_SECRET, controllers: ['n1', 'n2', 'n3'], seeds: [n1.address] })))
    const common = ['--seeds', n1.address, '--cluster-secret', CLUSTER_SECRET]

    // Until gossip shows all three nodes alive, RF 3 is refused (INVALID_REPLICATION_FACTOR).
    const created = await retry(
      async () => {
        const result = await procs.runCli(['topic', 'create', 'lines', '--partitions', '3', '--replication-factor', '3', ...common], 60_000)
        if (result.status !== 0) throw new Error(result.stderr)
        return result
      },
      MEMBERSHIP_DEADLINE_MS,
      500,
    )
    expect(created.stdout).toContain('created topic lines with 3 partitions')
    const listed = await procs.runCli(['topic', 'list', ...common])
    expect(listed.stdout.split('\n')).toContain('lines')

    const lines = Array.from({ length: LINE_COUNT }, (_, i) => `key${i % KEY_COUNT}:value ${i} \u00e9`)
    const produced = await procs.runCli(['produce', 'lines', '--key-separator', ':', ...common], 90_000, `${lines.join('\n')}\n`)
    expect(produced.status, produced.stderr).toBe(0)
    expect(produced.stderr).toContain(`produced ${LINE_COUNT} records to lines`)

    const consumed = await procs.runCli(['consume', 'lines', '--from-beginning', '--max-messages', String(LINE_COUNT), '--format', '%p %k:%v\\n', ...common], 90_000)
    expect(consumed.status, consumed.stderr).toBe(0)
    const rows = consumed.stdout.trimEnd().split('\n').map((row) => {
      const space = row.indexOf(' ')
      return { partition: Number(row.slice(0, space)), line: row.slice(space + 1) }
    })
    expect(rows).toHaveLength(LINE_COUNT)
    expect(rows.map((row) => row.line).sort()).toEqual([...lines].sort())
    // One key, one partition, and its records in the order they were produced.
    for (let key = 0; key < KEY_COUNT; key++) {
      const ofKey = rows.filter((row) => row.line.startsWith(`key${key}:`))
      expect(new Set(ofKey.map((row) => row.partition)).size).toBe(1)
      expect(ofKey.map((row) => row.line)).toEqual(lines.filter((line) => line.startsWith(`key${key}:`)))
    }

    const described = await procs.runCli(['topic', 'describe', 'lines', ...common])
    expect(described.status).toBe(0)
    expect(described.stdout).toContain('replication factor 3')
    expect(described.stdout.split('\n').filter((row) => /^\d+\s/.test(row))).toHaveLength(3)

    // Bad input: a clear one-line error and a non-zero exit, never a hang.
    const unknownTopic = await procs.runCli(['consume', 'missing', '--timeout-ms', '500', ...common], 30_000)
    expect(unknownTopic.status).toBe(1)
    expect(unknownTopic.stderr).toContain('error[UNKNOWN_TOPIC_OR_PARTITION]')
    const badFormat = await procs.runCli(['consume', 'lines', '--format', '%z', ...common])
    expect(badFormat.status).toBe(2)
    expect(badFormat.stderr).toContain('--format: unknown %z')
    const badSeed = await procs.runCli(['topic', 'list', '--seeds', 'nowhere'])
    expect(badSeed.status).toBe(2)
    expect(badSeed.stderr).toContain('error[INVALID_REQUEST]')

    const deleted = await procs.runCli(['topic', 'delete', 'lines', ...common], 30_000)
    expect(deleted.status, deleted.stderr).toBe(0)
    const afterDelete = await procs.runCli(['topic', 'list', ...common])
    expect(afterDelete.stdout.split('\n')).not.toContain('lines')
  }, TEST_TIMEOUT_MS)
})
