/**
 * Actor messaging benchmark: `npm run bench:actors`.
 *
 *   local tell   one node, tells to an actor on the same node             target >= 2,000,000 msg/s
 *   remote tell  this process (node a) to a `skein start` child (node b)  target >=   250,000 msg/s
 *   ask latency  a -> b echo asks at a fixed 10,000/s, measured from the
 *                intended send time (no coordinated omission)             target p99 <= 2 ms
 *
 * Figures come from one run on this machine; they are printed beside their targets.
 */
import { spawn } from 'node:child_process'
import { setImmediate as yieldToIo } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { diagActorId } from '../actors/index.js'
import { ActorSystem, StaticDirectory } from '../src/actor/index.js'
import { silentLogger } from '../src/env/index.js'
import { createRealEnv } from '../src/env/real/index.js'
import { startNode, type SkeinNode } from '../src/node.js'
import { type BenchRow, percentile, report, runBench, spawnNode } from './harness.js'

const localTellCount = Number(process.env['BENCH_LOCAL_TELLS'] ?? 5_000_000)
const remoteTellCount = Number(process.env['BENCH_REMOTE_TELLS'] ?? 2_000_000)
const warmupTellCount = 200_000
const askRatePerSec = 10_000
const askDurationMs = Number(process.env['BENCH_ASK_MS'] ?? 5_000)
const askWarmupMs = 1_000
/** Tells sent between acknowledgements (see sendTells). */
const tellChunk = 10_000
/** Chunks in flight at once: 4 x 10k stays well inside the receiver's 100k mailbox. */
const windowChunks = 4
const secret = 'bench-secret-0123456789abcdef'

async function benchLocalTell(): Promise<number> {
  const env = createRealEnv({ dataDir: '/tmp/skein-bench-local', nodeId: 'local', log: silentLogger })
  const directory = new StaticDirectory(() => 'local')
  const system = new ActorSystem(env, { nodeId: 'local', directory })
  let received = 0
  system.registerKind('sink', () => ({ receive: () => void received++ }), { mailboxDepthMax: 200_000, passivateAfterIdleMs: 0 })
  const target = 'sink/1'
  const run = async (count: number): Promise<number> => {
    received = 0
    const start = performance.now()
    for (let sent = 0; sent < count; ) {
      const n = Math.min(tellChunk * 10, count - sent)
      for (let i = 0; i < n; i++) if (!system.tell(target, 'm', i)) throw new Error('local tell refused')
      sent += n
      await system.whenWritable(target)
    }
    while (received < count) await yieldToIo()
    return count / ((performance.now() - start) / 1000)
  }
  await run(warmupTellCount)
  const rate = await run(localTellCount)
  await system.stop()
  return rate
}

/**
 * Sends `count` tells in chunks, each followed by a `stats` ask that queues behind it on the
 * same link and mailbox, so its reply means the chunk was handled. At most `windowChunks`
 * chunks are outstanding: tells are fire-and-forget, and this window is the flow control a
 * producer with acks would have, keeping the receiver's mailbox below its bound.
 */
async function sendTells(node: SkeinNode, target: string, count: number): Promise<void> {
  const outstanding: Promise<unknown>[] = []
  for (let sent = 0; sent < count; ) {
    const n = Math.min(tellChunk, count - sent)
    for (let i = 0; i < n; i++) {
      while (!node.actors.tell(target, 'count', null)) await node.actors.whenWritable(target)
    }
    sent += n
    outstanding.push(node.actors.ask(target, 'stats', null, { timeoutMs: 30_000 }))
    if (outstanding.length >= windowChunks) await outstanding.shift()
    await node.actors.whenWritable(target)
  }
  await Promise.all(outstanding)
}

async function countOf(node: SkeinNode, target: string): Promise<number> {
  const stats = await node.actors.ask<{ count: number }>(target, 'stats', null, { timeoutMs: 10_000 })
  return stats.count
}

async function benchRemoteTell(node: SkeinNode, peerId: string): Promise<number> {
  await sendTells(node, diagActorId(peerId, 'warmup'), warmupTellCount)
  const target = diagActorId(peerId, 'tells')
  const start = performance.now()
  await sendTells(node, target, remoteTellCount)
  const elapsedMs = performance.now() - start
  const counted = await countOf(node, target)
  if (counted !== remoteTellCount) throw new Error(`remote actor counted ${counted} of ${remoteTellCount} tells`)
  return remoteTellCount / (elapsedMs / 1000)
}

/** Asks at a fixed rate; latency is measured from each ask's intended send time. */
async function benchAskLatency(node: SkeinNode, peerId: string, durationMs: number): Promise<Float64Array> {
  const target = diagActorId(peerId, 'echo')
  const total = Math.floor((askRatePerSec * durationMs) / 1000)
  const latencies = new Float64Array(total)
  const intervalMs = 1000 / askRatePerSec
  const start = performance.now()
  let issued = 0
  let completed = 0
  let failed = 0
  let resolveDone: () => void = () => {}
  const done = new Promise<void>((resolve) => (resolveDone = resolve))
  const onReply = (index: number, intendedAt: number, ok: boolean): void => {
    latencies[index] = ok ? performance.now() - intendedAt : Number.POSITIVE_INFINITY
    if (ok) completed++
    else failed++
    if (completed + failed === total) resolveDone()
  }
  // Pace by yielding to I/O between checks rather than by timers: a timer tick is >= 1 ms,
  // which would add up to a millisecond to asks measured from their intended send time.
  while (issued < total) {
    const due = Math.min(total, Math.floor((performance.now() - start) / intervalMs) + 1)
    for (; issued < due; issued++) {
      const intendedAt = start + issued * intervalMs
      const index = issued
      node.actors.ask(target, 'echo', index, { timeoutMs: 5_000 }).then(
        () => onReply(index, intendedAt, true),
        () => onReply(index, intendedAt, false),
      )
    }
    await yieldToIo()
  }
  await done
  if (failed > 0) process.stdout.write(`ask latency: ${failed} of ${total} asks failed\n`)
  return latencies.sort()
}

/**
 * Runs the local-tell phase in a process of its own. Sharing one process with the remote
 * phase made V8 see two Directory classes on the actor runtime's hot call sites, and the
 * polymorphic code cut the remote figures by 2-3x: an artifact no real node (one directory)
 * has. Every phase gets a fresh JIT.
 */
function localTellInChildProcess(): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), LOCAL_ONLY_FLAG], { stdio: ['ignore', 'pipe', 'inherit'] })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
    child.once('error', reject)
    child.once('exit', (code) => {
      const rate = Number(/^local-tell-rate=(\d+(?:\.\d+)?)$/m.exec(output)?.[1])
      if (code === 0 && Number.isFinite(rate)) resolve(rate)
      else reject(new Error(`local tell phase exited with ${code}: ${output}`))
    })
  })
}

const LOCAL_ONLY_FLAG = '--local-only'

async function main(): Promise<void> {
  if (process.argv.includes(LOCAL_ONLY_FLAG)) {
    process.stdout.write(`local-tell-rate=${await benchLocalTell()}\n`)
    return
  }
  process.stdout.write(`bench:actors on ${process.platform}/${process.arch}, node ${process.version}\n`)
  const localRate = await localTellInChildProcess()
  process.stdout.write(`local tell: ${Math.round(localRate).toLocaleString('en-US')} msg/s\n`)

  const peer = await spawnNode('b', ['--cluster-id', 'bench'], { SKEIN_CLUSTER_SECRET: secret })
  const env = createRealEnv({ dataDir: '/tmp/skein-bench-a', nodeId: 'a', log: silentLogger })
  const node = await startNode(env, {
    nodeId: 'a',
    clusterId: 'bench',
    clusterSecret: secret,
    host: '127.0.0.1',
    port: 0,
    peers: { b: peer.address },
    seeds: [],
  })
  try {
    const remoteRate = await benchRemoteTell(node, 'b')
    process.stdout.write(`remote tell: ${Math.round(remoteRate).toLocaleString('en-US')} msg/s\n`)
    await benchAskLatency(node, 'b', askWarmupMs)
    const latencies = await benchAskLatency(node, 'b', askDurationMs)
    const p50 = percentile(latencies, 50)
    const p99 = percentile(latencies, 99)
    const p999 = percentile(latencies, 99.9)
    const rows: BenchRow[] = [
      { name: 'local tell', value: localRate, unit: 'msg/s', target: '>= 2,000,000 msg/s', met: localRate >= 2_000_000 },
      { name: 'remote tell (2 processes)', value: remoteRate, unit: 'msg/s', target: '>= 250,000 msg/s', met: remoteRate >= 250_000 },
      { name: `ask p50 @ ${askRatePerSec}/s`, value: p50, unit: 'ms', target: '(informational)', met: true },
      { name: `ask p99 @ ${askRatePerSec}/s`, value: p99, unit: 'ms', target: '<= 2 ms', met: p99 <= 2 },
      { name: `ask p99.9 @ ${askRatePerSec}/s`, value: p999, unit: 'ms', target: '(informational)', met: true },
    ]
    report('actors', rows, { localTellCount, remoteTellCount, askRatePerSec, askDurationMs, node: process.version })
  } finally {
    await node.stop()
    await peer.stop()
  }
}

runBench('actors', main)
