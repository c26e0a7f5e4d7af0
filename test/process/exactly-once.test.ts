import { afterEach, describe, expect, it, onTestFailed } from 'vitest'
import { BrokerClient, Client, type ConsumerMessage } from '../../src/index.js'
import { silentLogger } from '../../src/env/index.js'
import { createRealEnv } from '../../src/env/real/index.js'
import { TXN_STATE_TOPIC, offsetsPartitionFor } from '../../src/wire/broker-protocol.js'
import { ErrorCode, SkeinError } from '../../src/wire/index.js'
import { type NodeProcess, Processes, type ScriptProcess, delay, retry } from '../helpers/processes.js'

/**
 * Issue 11's multi-process test of exactly-once processing: three `skein start` nodes, an
 * input topic fed by this test while two processing clients (test/fixtures/eos-processor.mjs,
 * separate node processes) consume it in a group and write one output per input inside
 * transactions that also commit the input offsets. Meanwhile a processor is killed with
 * SIGKILL mid-stream (and restarted under the same transactional id, fencing what it left),
 * and so is the node leading the transaction-state partition of a processor's transactional
 * id (restarted on its port and data). In the end every input is in the output exactly once
 * for a read_committed reader, whatever was aborted or retried on the way.
 *
 * Timings are printed, never asserted.
 */

const CLUSTER = { clusterId: 'exactly-once-test', clusterSecret: 'exactly-once-test-secret-0123456789' }
const NODE_IDS = ['n1', 'n2', 'n3'] as const
const GROUP = 'eos-pipeline'
const PROCESSOR = 'test/fixtures/eos-processor.mjs'
const PARTITIONS = 3
const INPUT_BATCHES = 60
const INPUT_BATCH_RECORDS = 50
const INPUT_PAUSE_MS = 100
/** The broker default: 10 partitions of __transaction_state. */
const TXN_STATE_PARTITIONS = 10
const SETTLE_DEADLINE_MS = 120_000

const procs = new Processes()
const closers: Array<() => Promise<void>> = []
/** Set when the test ends: processors that exit are no longer restarted. */
let stopping = false

afterEach(async () => {
  stopping = true
  for (const close of closers.splice(0).reverse()) await close().catch(() => undefined)
  await procs.cleanup()
})

describe('exactly-once processing across processes', () => {
  it('processorAndCoordinatorNodeKilledMidTransaction_everyInputInTheOutputExactlyOnce', async () => {
    const timeline: string[] = []
    const startedAt = performance.now()
    const note = (line: string): void => {
      timeline.push(`+${Math.round(performance.now() - startedAt)} ms ${line}`)
    }
    const processors = new Map<string, ScriptProcess[]>()
    onTestFailed(() => {
      console.log(`timeline:\n${timeline.join('\n')}`)
      for (const [id, runs] of processors) runs.forEach((run, i) => console.log(`--- ${id} run ${i}: ${run.lines.length} lines: ${run.lines.slice(-5).join(' | ')}\nstderr:\n${run.stderr.slice(-2_000)}`))
    })

    const common = { ...CLUSTER, secret: CLUSTER.clusterSecret, controllers: [...NODE_IDS] }
    const n1 = await procs.start('n1', common)
    const nodes = new Map<string, NodeProcess>([['n1', n1]])
    for (const node of await Promise.all(NODE_IDS.slice(1).map((id) => procs.start(id, { ...common, seeds: [n1.address] })))) nodes.set(node.id, node)
    const seeds = [...nodes.values()].map((node) => node.address)
    const client = new Client({ seeds, ...CLUSTER, clientId: 'eos-test', requestTimeoutMs: 3_000 })
    closers.push(() => client.close())
    const admin = client.admin()
    await retry(async () => {
      for (const name of ['in', 'out']) {
        try {
          await admin.createTopic({ name, partitions: PARTITIONS, replicationFactor: 3 })
        } catch (error) {
          if (!(error instanceof SkeinError && error.code === ErrorCode.TOPIC_ALREADY_EXISTS.code)) throw error
        }
      }
    }, 30_000, 200)

    // A processing client per transactional id; one that exits is restarted, as a supervisor
    // would, until the test ends (pass or fail: afterEach stops the restarts first).
    stopping = false
    const startProcessor = (transactionalId: string): void => {
      if (stopping) return
      const run = procs.spawnScript(PROCESSOR, [seeds.join(','), CLUSTER.clusterId, CLUSTER.clusterSecret, transactionalId, GROUP])
      processors.set(transactionalId, [...(processors.get(transactionalId) ?? []), run])
      note(`processor ${transactionalId} started (pid ${run.child.pid})`)
      void run.exited.then(({ code, signal }) => {
        note(`processor ${transactionalId} exited: code ${code}, signal ${signal}`)
        if (!stopping && (processors.get(transactionalId)?.at(-1) === run)) setTimeout(() => startProcessor(transactionalId), 200)
      })
    }
    /** Resolves once the processor's latest line says a transaction's outputs are written and not yet committed. */
    const midTransaction = (transactionalId: string): Promise<void> => retry(async () => {
      if (!(processors.get(transactionalId)?.at(-1)?.lines.at(-1) ?? '').startsWith('{"sent"')) throw new Error(`${transactionalId} is not mid-transaction`)
    }, 60_000, 2)
    const commitsOf = (transactionalId: string): number => (processors.get(transactionalId) ?? []).reduce((sum, run) => sum + run.lines.filter((line) => line.startsWith('{"committed"')).length, 0)
    startProcessor('eos-a')
    startProcessor('eos-b')

    // The input: unique values, fed in batches while the faults happen.
    const inputs: string[] = []
    /** Per partition of `in`, the offset after its last input record: where the group's committed offset ends up. */
    const inputEnds = new Map<number, number>()
    const producer = client.producer({ acks: 'all', idempotent: true })
    closers.push(() => producer.close())
    const feeding = (async () => {
      for (let b = 0; b < INPUT_BATCHES; b++) {
        const values = Array.from({ length: INPUT_BATCH_RECORDS }, (_, i) => `in-${b}-${i}`)
        for (const written of await producer.send({ topic: 'in', messages: values.map((value) => ({ key: value, value })) })) {
          inputEnds.set(written.partition, Math.max(inputEnds.get(written.partition) ?? 0, written.offset + 1))
        }
        inputs.push(...values)
        await delay(INPUT_PAUSE_MS)
      }
      note(`input complete: ${inputs.length} records`)
    })()

    // Fault 1: kill -9 processor eos-a once it has committed a few transactions; it is mid-way through another.
    await retry(async () => {
      if (commitsOf('eos-a') < 3) throw new Error('eos-a has not committed 3 transactions yet')
    }, 60_000, 20)
    await midTransaction('eos-a')
    note(`killing processor eos-a mid-transaction, after ${commitsOf('eos-a')} commits`)
    await processors.get('eos-a')!.at(-1)!.kill()

    // Fault 2: kill -9 the node leading the transaction-state partition of eos-b, once eos-b has committed more.
    const bCommits = commitsOf('eos-b')
    await retry(async () => {
      if (commitsOf('eos-b') < bCommits + 3) throw new Error('eos-b has not committed 3 more transactions')
    }, 60_000, 20)
    const broker = await BrokerClient.connect(createRealEnv({ dataDir: '/nonexistent', nodeId: 'eos-test', log: silentLogger }), { seeds, ...CLUSTER })
    closers.push(() => broker.close())
    const txnPartition = offsetsPartitionFor('eos-b', TXN_STATE_PARTITIONS)
    const leader = (await broker.metadata([TXN_STATE_TOPIC])).topics[0]?.partitions.find((p) => p.partition === txnPartition)?.leader
    const victim = leader === undefined ? undefined : nodes.get(leader)
    expect(victim, `no leader known for ${TXN_STATE_TOPIC}/${txnPartition}`).toBeDefined()
    await midTransaction('eos-b')
    note(`killing node ${victim!.id}, leader of ${TXN_STATE_TOPIC}/${txnPartition}, while eos-b is mid-transaction, after its ${commitsOf('eos-b')} commits`)
    await victim!.kill()
    await delay(3_000)
    nodes.set(victim!.id, await procs.restart(victim!))
    note(`node ${victim!.id} restarted`)

    // Settle: all input written, the group's committed offsets past the last input record of
    // each partition. (Not "lag 0": a partition's log may end with a control batch, such as a
    // new leader's epoch record, which a processor committing "last record + 1" never passes.)
    await feeding
    await retry(async () => {
      const described = await admin.describeGroup(GROUP)
      const behind = [...inputEnds].filter(([partition, end]) => (described.partitions.find((p) => p.topic === 'in' && p.partition === partition)?.committedOffset ?? -1) < end)
      if (behind.length > 0) throw new Error(`group behind the input on partitions ${behind.map(([p]) => p).join(',')}: ${JSON.stringify(described.partitions)}`)
    }, SETTLE_DEADLINE_MS, 500)
    note('group caught up with the input')
    stopping = true
    for (const runs of processors.values()) await runs.at(-1)?.kill()

    // The check: a read_committed reader of `out` sees every input exactly once.
    const committed = await readAll(client, 'read_committed')
    const everything = await readAll(client, 'read_uncommitted')
    const counts = new Map<string, number>()
    for (const message of committed) counts.set(String(message.value), (counts.get(String(message.value)) ?? 0) + 1)
    const missing = inputs.filter((value) => !counts.has(value))
    const duplicated = [...counts].filter(([, count]) => count > 1).map(([value]) => value)
    const invented = [...counts.keys()].filter((value) => !inputs.includes(value))
    note(`out: ${committed.length} committed records, ${everything.length - committed.length} more in the log (aborted)`)
    console.log(`exactly-once pipeline: ${inputs.length} inputs, ${committed.length} committed outputs, ${everything.length - committed.length} aborted outputs in the log; processor runs: ${[...processors].map(([id, runs]) => `${id}=${runs.length}`).join(' ')}\n${timeline.join('\n')}`)
    expect({ missing: missing.slice(0, 10), duplicated: duplicated.slice(0, 10), invented: invented.slice(0, 10) }).toEqual({ missing: [], duplicated: [], invented: [] })
    expect(committed.length).toBe(inputs.length)
  }, 300_000)
})

/** Every record of `out` from the beginning, read with `isolation` until nothing new has come for 3 s. */
async function readAll(client: Client, isolation: 'read_committed' | 'read_uncommitted'): Promise<ConsumerMessage[]> {
  const consumer = client.consumer({ fromBeginning: true, maxWaitMs: 200, isolation })
  consumer.assign(Array.from({ length: PARTITIONS }, (_, partition) => ({ topic: 'out', partition })))
  const messages: ConsumerMessage[] = []
  let lastNewAt = performance.now()
  const iterator = consumer[Symbol.asyncIterator]()
  for (;;) {
    const next = await Promise.race([iterator.next(), delay(500).then(() => undefined)])
    if (next === undefined) {
      if (performance.now() - lastNewAt > 3_000) break
      continue
    }
    if (next.done === true) break
    messages.push(next.value)
    lastNewAt = performance.now()
  }
  await consumer.close()
  return messages
}
