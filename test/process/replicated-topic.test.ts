import { afterEach, describe, expect, it, onTestFailed } from 'vitest'
import { BrokerClient } from '../../src/client/index.js'
import { silentLogger } from '../../src/env/index.js'
import { createRealEnv } from '../../src/env/real/index.js'
import { decodeRecordBatches, encodeRecordBatch } from '../../src/log/record-batch.js'
import { ErrorCode, SkeinError } from '../../src/wire/index.js'
import { type NodeProcess, PinoLevel, Processes, delay, fetchJson, retry } from '../helpers/processes.js'
import type { StatusPartition } from '../../src/cli/status.js'

/**
 * The issue's acceptance test for replicated topics, with real processes: 3 `skein start`
 * nodes (all three in the metadata quorum), a topic of 6 partitions with replication factor 3,
 * 50,000 records produced with acks=all while the leader of partition 0 is killed with
 * SIGKILL halfway. Every acknowledged record is then read back at its acknowledged offset, in
 * produce order per partition, and the killed node restarts and catches up.
 *
 * Batches of one partition are produced one after the other (so their order is the produce
 * order), the partitions concurrently. A produce that fails with a retriable error is sent
 * again; with no idempotent producer yet, the first attempt may have been written too, so the
 * log may hold a batch twice. That is allowed: what is checked is that every ACKED record is
 * at the offset it was acknowledged at, and that the log holds nothing that was not produced.
 *
 * Timings (failover, catch-up) are printed, never asserted.
 */

const CLUSTER_ID = 'replicated-topic-test'
const CLUSTER_SECRET = 'replicated-topic-secret-0123456789'
const NODE_IDS = ['n1', 'n2', 'n3'] as const
const TOPIC = 'replicated'
const PARTITIONS = 6
const RECORDS = 50_000
const RECORDS_PER_BATCH = 100
const VALUE_BYTES = 100
/** How long one batch may keep failing with retriable errors before the test gives up on it. */
const PRODUCE_DEADLINE_MS = 60_000
/** Pause between a failed produce and its next attempt (the client also retries inside). */
const PRODUCE_RETRY_DELAY_MS = 100
/**
 * Deadline of one request. An ask already sent to the node that is killed gets no answer and
 * no error: it waits this long before the client retries elsewhere (10 s by default), so it
 * bounds the failover the producer sees; 3 s is ample for an acks=all produce here.
 */
const REQUEST_TIMEOUT_MS = 3_000
const CATCH_UP_DEADLINE_MS = 60_000
const CONVERGE_DEADLINE_MS = 30_000
const STATUS_POLL_MS = 50

interface AckedBatch {
  readonly baseOffset: number
  readonly lastOffset: number
  readonly values: readonly string[]
}

interface NodeStatus {
  node: string
  partitions: StatusPartition[]
}

const procs = new Processes()
let client: BrokerClient | undefined

afterEach(async () => {
  await client?.close()
  client = undefined
  await procs.cleanup()
})

/** `p<partition>-<seq>-` padded to VALUE_BYTES, so every record names where it belongs. */
function valueOf(partition: number, seq: number): string {
  const head = `p${partition}-${String(seq).padStart(6, '0')}-`
  return head + 'x'.repeat(VALUE_BYTES - head.length)
}

function batchOf(values: readonly string[]): Uint8Array {
  const encoder = new TextEncoder()
  return encodeRecordBatch({ records: values.map((value, i) => ({ key: null, value: encoder.encode(value), timestamp: 1_700_000_000_000 + i })) })
}

function recordsFor(partition: number): number {
  return Math.floor(RECORDS / PARTITIONS) + (partition < RECORDS % PARTITIONS ? 1 : 0)
}

/** `promise`, or a (non-retriable) failure once `ms` have passed. */
async function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not complete within ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([promise, expired])
  } finally {
    clearTimeout(timer)
  }
}

async function status(node: NodeProcess): Promise<NodeStatus> {
  return fetchJson<NodeStatus>(node.address, '/status')
}

function topicPartitions(body: NodeStatus): StatusPartition[] {
  return body.partitions.filter((p) => p.topic === TOPIC)
}

function describeReplica(p: StatusPartition | undefined): string {
  return p === undefined ? 'not hosted' : `${p.role} term ${p.term} leader ${p.leader} hw ${p.highWatermark} leo ${p.logEndOffset}`
}

/** Warnings and errors a node logged, as "msg xcount". */
function complaints(node: NodeProcess): string {
  const counts = new Map<string, number>()
  for (const line of node.lines) if (line.level >= PinoLevel.warn) counts.set(line.msg, (counts.get(line.msg) ?? 0) + 1)
  return [...counts].map(([msg, count]) => `${msg} x${count}`).join('; ') || 'none'
}

/**
 * Per partition, from every node's /status: what breaks "exactly one leader, in the highest
 * term any replica reports, and every replica in that term names it". Empty when all is well.
 */
function leadershipProblems(bodies: readonly NodeStatus[]): string[] {
  const problems: string[] = []
  for (let partition = 0; partition < PARTITIONS; partition++) {
    const reports = bodies.flatMap((body) => topicPartitions(body).filter((p) => p.partition === partition).map((p) => ({ node: body.node, ...p })))
    if (reports.length !== NODE_IDS.length) {
      problems.push(`p${partition}: ${reports.length} replicas report`)
      continue
    }
    const maxTerm = Math.max(...reports.map((r) => r.term))
    const leaders = reports.filter((r) => r.role === 'leader' && r.term === maxTerm)
    const named = new Set(reports.filter((r) => r.term === maxTerm).map((r) => r.leader))
    if (leaders.length !== 1 || named.size !== 1 || !named.has(leaders[0]!.node)) {
      problems.push(`p${partition} term ${maxTerm}: ${reports.map((r) => `${r.node} ${describeReplica(r)}`).join(', ')}`)
    }
  }
  return problems
}

describe('a replicated topic across three node processes', () => {
  it('produceAcksAll_leaderOfPartition0KilledHalfway_everyAckedRecordReadBackInOrder_killedNodeCatchesUp', async () => {
    const testStart = performance.now()
    /** What happened around the kill and the restart, printed if the test fails. */
    const timeline: string[] = []
    const started: NodeProcess[] = []
    onTestFailed(() => {
      console.log(`timeline:\n${timeline.join('\n')}`)
      for (const node of started) console.log(`--- ${node.id} (pid ${node.child.pid}, ${node.running ? 'running' : 'exited'}): warnings/errors: ${complaints(node)}\n${node.tail(30)}`)
    })

    // --- the cluster: n1 first, the others join through it; all three are controllers.
    const common = { clusterId: CLUSTER_ID, secret: CLUSTER_SECRET, controllers: [...NODE_IDS], logLevel: 'info' as const }
    const n1 = await procs.start('n1', common)
    const others = await Promise.all(NODE_IDS.slice(1).map((id) => procs.start(id, { ...common, seeds: [n1.address] })))
    started.push(n1, ...others)
    const noteExit = (node: NodeProcess): void => {
      void node.exited.then(({ code, signal }) => timeline.push(`${node.id} (pid ${node.child.pid}) exited: code ${code}, signal ${signal}, at +${Math.round(performance.now() - testStart)} ms`))
    }
    started.forEach(noteExit)
    const nodes = new Map<string, NodeProcess>(started.map((node) => [node.id, node]))

    const producer = await BrokerClient.connect(createRealEnv({ dataDir: '/nonexistent', nodeId: 'client', log: silentLogger }), {
      seeds: started.map((node) => node.address),
      clusterId: CLUSTER_ID,
      clusterSecret: CLUSTER_SECRET,
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
    })
    client = producer
    // Until gossip shows all three nodes and the metadata quorum has a leader, creation is refused.
    await retry(async () => {
      try {
        await producer.createTopic({ name: TOPIC, partitions: PARTITIONS, replicationFactor: 3 })
      } catch (error) {
        // An attempt that timed out may have created it.
        if (!(error instanceof SkeinError && error.code === ErrorCode.TOPIC_ALREADY_EXISTS.code)) throw error
      }
    }, 30_000, 200)
    await producer.waitForLeaders(TOPIC)
    const setupMs = performance.now() - testStart

    // --- produce, killing the leader of partition 0 once half the records are acknowledged.
    const acked: AckedBatch[][] = Array.from({ length: PARTITIONS }, () => [])
    let ackedRecords = 0
    let retriedProduces = 0
    const retryErrors = new Map<string, number>()
    let kill: Promise<void> | undefined
    let killError: unknown
    let victim: NodeProcess | undefined
    let killedAtMs = 0
    let goneAtMs = 0
    let failoverMs: number | undefined
    let electedMs: number | undefined

    const killLeaderOfPartition0 = async (): Promise<void> => {
      const metadata = await retry(() => producer.metadata([TOPIC]), 10_000, 100)
      const leaderId = metadata.topics[0]?.partitions.find((p) => p.partition === 0)?.leader
      const leader = leaderId === undefined ? undefined : nodes.get(leaderId)
      if (leader === undefined) throw new Error(`partition 0 has no known leader to kill: ${JSON.stringify(metadata.topics[0]?.partitions)}`)
      const termBefore = topicPartitions(await status(leader)).find((p) => p.partition === 0)?.term ?? -1
      victim = leader
      killedAtMs = performance.now()
      await leader.kill()
      goneAtMs = performance.now()
      timeline.push(`killed ${leader.id} (led p0 in term ${termBefore}) after ${ackedRecords} acked records`)
      // Server side: how long until a surviving replica leads partition 0 in a newer term.
      const survivors = started.filter((node) => node !== leader)
      const seen = new Map<string, string>()
      while (performance.now() - killedAtMs < PRODUCE_DEADLINE_MS) {
        const bodies = await Promise.all(survivors.map((node) => status(node).catch(() => undefined)))
        const sinceKill = Math.round(performance.now() - killedAtMs)
        bodies.forEach((body, i) => {
          const p0 = body === undefined ? undefined : topicPartitions(body).find((p) => p.partition === 0)
          const text = body === undefined ? 'no /status answer' : describeReplica(p0)
          const id = survivors[i]!.id
          if (seen.get(id) !== text.replace(/ hw .*/, '')) timeline.push(`  +${sinceKill} ms ${id} p0: ${text}`)
          seen.set(id, text.replace(/ hw .*/, ''))
        })
        if (bodies.some((body) => body !== undefined && topicPartitions(body).some((p) => p.partition === 0 && p.role === 'leader' && p.term > termBefore))) {
          electedMs = performance.now() - killedAtMs
          return
        }
        await delay(STATUS_POLL_MS)
      }
    }

    const produceWithRetry = async (partition: number, values: readonly string[]): Promise<AckedBatch> => {
      const bytes = batchOf(values)
      const deadline = performance.now() + PRODUCE_DEADLINE_MS
      for (;;) {
        try {
          // The client's own retries nest (each leader lookup retries too) and have no overall
          // deadline: bound each attempt, so a cluster that stops answering fails the test.
          const result = await withDeadline(producer.produce(TOPIC, partition, bytes, -1), PRODUCE_DEADLINE_MS, `produce to p${partition}`)
          return { baseOffset: result.baseOffset, lastOffset: result.lastOffset, values }
        } catch (error) {
          if (!(error instanceof SkeinError) || !error.retriable || performance.now() > deadline) throw error
          retriedProduces++
          retryErrors.set(error.errorName, (retryErrors.get(error.errorName) ?? 0) + 1)
          await delay(PRODUCE_RETRY_DELAY_MS)
        }
      }
    }

    const producePartition = async (partition: number): Promise<void> => {
      const total = recordsFor(partition)
      for (let seq = 0; seq < total; seq += RECORDS_PER_BATCH) {
        const values = Array.from({ length: Math.min(RECORDS_PER_BATCH, total - seq) }, (_, i) => valueOf(partition, seq + i))
        const batch = await produceWithRetry(partition, values)
        acked[partition]!.push(batch)
        ackedRecords += values.length
        // The first partition-0 ack that can only have come from a new leader.
        if (partition === 0 && failoverMs === undefined && goneAtMs > 0 && producer.leaderOf(TOPIC, 0) !== victim?.id) {
          failoverMs = performance.now() - killedAtMs
          timeline.push(`  +${Math.round(failoverMs)} ms first p0 ack, from ${producer.leaderOf(TOPIC, 0)}, at offset ${batch.baseOffset}`)
        }
        if (kill === undefined && ackedRecords >= RECORDS / 2) {
          kill = killLeaderOfPartition0().catch((error: unknown) => {
            killError = error
          })
        }
      }
    }
    const produceStart = performance.now()
    await Promise.all(Array.from({ length: PARTITIONS }, (_, partition) => producePartition(partition)))
    await kill
    const produceMs = performance.now() - produceStart
    if (killError !== undefined) throw killError
    if (victim === undefined) throw new Error('the leader of partition 0 was never killed')
    const killed: NodeProcess = victim
    expect(ackedRecords).toBe(RECORDS)
    expect(failoverMs, 'a produce to partition 0 succeeded on a new leader after the kill').toBeDefined()

    // --- read every partition back from offset 0 to the high watermark.
    const readStart = performance.now()
    const decoder = new TextDecoder()
    let duplicates = 0
    for (let partition = 0; partition < PARTITIONS; partition++) {
      const log = new Map<number, string>()
      let offset = 0
      let highWatermark = Number.POSITIVE_INFINITY
      while (offset < highWatermark) {
        const fetched = await retry(() => withDeadline(producer.fetch(TOPIC, partition, offset, 1024 * 1024), 20_000, `fetch of p${partition}`), 20_000, 100)
        highWatermark = fetched.highWatermark
        const batches = decodeRecordBatches(fetched.records)
        if (batches.length === 0) break
        for (const batch of batches) {
          expect(batch.baseOffset, `p${partition}: offsets are contiguous`).toBe(offset)
          batch.records.forEach((record, i) => {
            expect(record.offset, `p${partition}: record offsets inside a batch`).toBe(batch.baseOffset + i)
            // The Raft layer's LeaderChange (and membership) control batches take offsets too.
            if (!batch.isControl) log.set(record.offset, decoder.decode(record.value!))
          })
          offset = batch.baseOffset + batch.lastOffsetDelta + 1
        }
      }
      expect(offset, `p${partition}: read up to the high watermark`).toBe(highWatermark)

      const batches = acked[partition]!
      let previousLast = -1
      for (const batch of batches) {
        expect(batch.lastOffset - batch.baseOffset + 1, `p${partition}: offsets acknowledged for a batch of ${batch.values.length}`).toBe(batch.values.length)
        expect(batch.baseOffset, `p${partition}: acknowledged batches in produce order`).toBeGreaterThan(previousLast)
        expect(batch.lastOffset, `p${partition}: acknowledged below the high watermark`).toBeLessThan(highWatermark)
        previousLast = batch.lastOffset
        batch.values.forEach((value, i) => {
          const at = batch.baseOffset + i
          if (log.get(at) !== value) expect.fail(`p${partition}: offset ${at} holds ${log.get(at)}, but ${value} was acknowledged there`)
        })
      }
      // Nothing else in the log but records of this partition's batches (a retried batch may be there twice).
      const produced = new Set(batches.flatMap((batch) => batch.values))
      for (const [at, value] of log) if (!produced.has(value)) expect.fail(`p${partition}: offset ${at} holds ${value}, never produced to this partition`)
      duplicates += log.size - produced.size
    }
    const readMs = performance.now() - readStart

    // --- restart the killed node on its port and data dir; it catches up with the high watermarks of now.
    const described = await retry(() => producer.describeTopic(TOPIC), 10_000, 100)
    const targets = new Map(described.partitions.map((p) => [p.partition, p.highWatermark ?? -1]))
    for (const [partition, highWatermark] of targets) expect(highWatermark, `p${partition}: the leader reports a high watermark`).toBeGreaterThan(0)
    const restartStart = performance.now()
    const restarted = await procs.restart(killed)
    started.push(restarted)
    noteExit(restarted)
    nodes.set(restarted.id, restarted)
    timeline.push(`restarted ${restarted.id} on ${restarted.address}; targets ${JSON.stringify(Object.fromEntries(targets))}`)
    let hosted: StatusPartition[] = []
    let catchUpMs: number | undefined
    while (performance.now() - restartStart < CATCH_UP_DEADLINE_MS) {
      const body = await status(restarted).catch(() => undefined)
      hosted = body === undefined ? [] : topicPartitions(body)
      if (hosted.length === PARTITIONS && hosted.every((p) => p.logEndOffset >= (targets.get(p.partition) ?? Number.POSITIVE_INFINITY))) {
        catchUpMs = performance.now() - restartStart
        break
      }
      await delay(STATUS_POLL_MS)
    }
    expect(catchUpMs, `${restarted.id} caught up; it reports ${hosted.map((p) => `p${p.partition}: ${describeReplica(p)}`).join(', ')}`).toBeDefined()

    // --- every partition has exactly one leader, in the highest term, on every node's /status.
    let problems: string[] = ['not checked']
    const convergeStart = performance.now()
    while (performance.now() - convergeStart < CONVERGE_DEADLINE_MS) {
      const bodies = await Promise.all([...nodes.values()].map((node) => status(node).catch(() => undefined)))
      problems = bodies.some((body) => body === undefined) ? ['a node did not answer /status'] : leadershipProblems(bodies as NodeStatus[])
      if (problems.length === 0) break
      await delay(STATUS_POLL_MS * 4)
    }
    expect(problems).toEqual([])

    const ms = (value: number | undefined): string => (value === undefined ? '-' : `${Math.round(value)}`)
    console.log(
      `replicated-topic: ${ackedRecords} records acked in ${ms(produceMs)} ms (${retriedProduces} produces retried by the test ${JSON.stringify(Object.fromEntries(retryErrors))}, ` +
        `${duplicates} duplicate records in the log); killed ${killed.id}, the leader of p0: new p0 leader after ${ms(electedMs)} ms, first p0 ack after ${ms(failoverMs)} ms; ` +
        `${killed.id} caught up ${ms(catchUpMs)} ms after its restart; setup ${ms(setupMs)} ms, read-back ${ms(readMs)} ms, total ${ms(performance.now() - testStart)} ms`,
    )
  }, 240_000)
})
