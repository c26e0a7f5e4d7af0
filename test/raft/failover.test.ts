/**
 * How fast a group of RaftCores replaces a dead leader, fed only messages and ticks: the
 * check-quorum lease must protect a live leader, never a dead one. Each run is seeded: the
 * order in which replicas tick within a round and each message's delay (0 or 1 round) are
 * drawn from the seed, so many seeds cover many interleavings of timers and fetches.
 */
import { describe, expect, it } from 'vitest'
import { epochStartsIn } from '../helpers/epoch-log.js'
import type { RaftMessage } from '../../src/raft/messages.js'
import { RAFT_SETTINGS_DEFAULT, RaftCore, type RaftEffect } from '../../src/raft/raft.js'

/** A tiny LCG in [0, 1): seeded, so every run is the same. */
function lcg(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0
    return state / 4294967296
  }
}

const TIMEOUT_TICKS = RAFT_SETTINGS_DEFAULT.electionTimeoutTicks
/** A follower's election timer is drawn from [T, 2T): the longest single timeout. */
const TIMEOUT_TICKS_MAX = 2 * TIMEOUT_TICKS
/** The bound the issue asks for: a new leader within two of the longest election timeouts of the old one's death. */
const FAILOVER_TICKS_MAX = 2 * TIMEOUT_TICKS_MAX

interface Node {
  readonly id: string
  readonly core: RaftCore
  /** The epoch of every record in this replica's log (records are one offset each). */
  readonly log: number[]
  up: boolean
}

interface InFlight {
  readonly message: RaftMessage
  readonly records: readonly number[] | undefined
  /** Delivered in the round with this number. */
  readonly atRound: number
}

/**
 * A shell for N cores, as in test/raft/core.test.ts's Cluster but with a random tick order
 * per round and random message delays; appends and fsyncs complete at once.
 */
class Group {
  readonly nodes: Node[]
  round = 0
  private inFlight: InFlight[] = []
  private readonly random: () => number
  /** Replicas cut off from every other: their messages in and out are lost. */
  readonly isolated = new Set<string>()
  /** Messages sent, by type (for tests that count traffic). */
  readonly sentByType = new Map<string, number>()

  constructor(ids: readonly string[], seed: number) {
    this.random = lcg(seed * 7919 + 1)
    this.nodes = ids.map((id, index) => ({
      id,
      core: new RaftCore({ id, voters: ids, hardState: { epoch: 0, votedFor: undefined }, epochs: [], logEndOffset: 0, random: lcg(seed * 131 + index * 17 + 3) }),
      log: [],
      up: true,
    }))
  }

  node(id: string): Node {
    const node = this.nodes.find((n) => n.id === id)
    if (node === undefined) throw new Error(`no node ${id}`)
    return node
  }

  /** The live leader of the highest epoch, if any. */
  leader(): Node | undefined {
    return this.nodes.filter((n) => n.up && n.core.role === 'leader').sort((a, b) => b.core.epoch - a.core.epoch)[0]
  }

  runRound(): void {
    this.round++
    const order = [...this.nodes].sort(() => this.random() - 0.5)
    for (const node of order) {
      if (!node.up) continue
      node.core.tick()
      this.handle(node, undefined)
    }
    this.deliverDue()
  }

  runUntil(done: () => boolean, roundsMax: number): number {
    const start = this.round
    while (!done() && this.round - start < roundsMax) this.runRound()
    return this.round - start
  }

  private deliverDue(): void {
    for (let guard = 0; ; guard++) {
      if (guard > 100_000) throw new Error('message storm')
      const due = this.inFlight.filter((m) => m.atRound <= this.round)
      if (due.length === 0) return
      this.inFlight = this.inFlight.filter((m) => m.atRound > this.round)
      for (const { message, records } of due) {
        const target = this.nodes.find((n) => n.id === message.to)
        if (target === undefined || !target.up || !this.node(message.from).up) continue
        if (this.isolated.has(message.from) || this.isolated.has(message.to)) continue
        target.core.receive(message)
        this.handle(target, records)
      }
    }
  }

  private handle(node: Node, records: readonly number[] | undefined): void {
    const work: RaftEffect[] = node.core.takeEffects()
    for (let i = 0; i < work.length; i++) {
      const effect = work[i] as RaftEffect
      switch (effect.type) {
        case 'send': {
          const message = effect.message
          this.sentByType.set(message.type, (this.sentByType.get(message.type) ?? 0) + 1)
          const withRecords = message.type === 'fetchResponse' && message.outcome === 'records'
          // Half the messages arrive within the round, half in the next one.
          this.inFlight.push({ message, records: withRecords ? node.log.slice(message.fetchOffset) : undefined, atRound: this.round + (this.random() < 0.5 ? 0 : 1) })
          break
        }
        case 'appendFetched': {
          const fetched = records ?? []
          const newEpochs = epochStartsIn(fetched, node.log.length, node.core.epochCache().at(-1)?.epoch ?? 0)
          node.log.push(...fetched)
          node.core.fetchCompleted(node.log.length, newEpochs)
          work.push(...node.core.takeEffects())
          break
        }
        case 'truncate':
          node.log.length = effect.offset
          node.core.fetchCompleted(node.log.length)
          work.push(...node.core.takeEffects())
          break
        case 'becomeLeader':
          node.log.push(effect.epoch)
          node.core.appended(node.log.length, [{ epoch: effect.epoch, startOffset: node.log.length - 1 }])
          node.core.persisted(node.log.length)
          work.push(...node.core.takeEffects())
          break
        default:
          break
      }
    }
  }
}

/** Elects a first leader, lets the group settle into steady fetching, then kills the leader at a drawn moment; returns the ticks until a new leader. */
function failoverTicks(ids: readonly string[], seed: number): number {
  const group = new Group(ids, seed)
  group.runUntil(() => group.leader() !== undefined, 200)
  const first = group.leader()
  expect(first, `seed ${seed}: a first leader`).toBeDefined()
  // Steady state: followers fetching, the leader long-polling them; the death lands anywhere in a fetch cycle.
  group.runUntil(() => false, 30 + Math.floor(lcg(seed)() * 10))
  const dead = group.leader() as Node
  dead.up = false
  const ticks = group.runUntil(() => group.leader() !== undefined && group.leader() !== dead, 500)
  expect(group.leader(), `seed ${seed}: a new leader`).toBeDefined()
  return ticks
}

describe('RaftCore failover under the check-quorum lease (many tick orderings)', () => {
  for (const ids of [['a', 'b', 'c'], ['a', 'b', 'c', 'd', 'e']]) {
    it(`leaderDies_${ids.length}Voters_aNewLeaderWithinTwoLongestElectionTimeouts_forEverySeed`, () => {
      const slow: string[] = []
      const all: number[] = []
      for (let seed = 1; seed <= 300; seed++) {
        const ticks = failoverTicks(ids, seed)
        all.push(ticks)
        if (ticks > FAILOVER_TICKS_MAX) slow.push(`seed ${seed}: ${ticks} ticks`)
      }
      all.sort((x, y) => x - y)
      console.log(`${ids.length} voters: failover ticks p50=${all[all.length >> 1]} p90=${all[Math.floor(all.length * 0.9)]} max=${all[all.length - 1]}`)
      expect(slow, `elections slower than ${FAILOVER_TICKS_MAX} ticks`).toEqual([])
    })
  }
})

describe('RaftCore under the lease: a cut-off replica cannot disrupt a healthy leader (many tick orderings)', () => {
  for (const ids of [['a', 'b', 'c'], ['a', 'b', 'c', 'd', 'e']]) {
    it(`followerIsolatedForSeveralElectionTimeouts_${ids.length}Voters_rejoinsWithoutAnElection_forEverySeed`, () => {
      const disrupted: string[] = []
      for (let seed = 1; seed <= 200; seed++) {
        const group = new Group(ids, seed)
        group.runUntil(() => group.leader() !== undefined, 200)
        group.runUntil(() => false, 20)
        const leader = group.leader() as Node
        const epoch = leader.core.epoch
        const follower = group.nodes.find((n) => n !== leader) as Node
        group.isolated.add(follower.id)
        group.runUntil(() => false, 3 * TIMEOUT_TICKS_MAX)
        group.isolated.clear()
        group.runUntil(() => false, 3 * TIMEOUT_TICKS_MAX)
        const now = group.leader()
        if (now !== leader || leader.core.epoch !== epoch || follower.core.leader !== leader.id) {
          disrupted.push(`seed ${seed}: leader ${leader.id}@${epoch} -> ${now?.id}@${now?.core.epoch}; ${follower.id} follows ${follower.core.leader}`)
        }
      }
      expect(disrupted).toEqual([])
    })
  }
})
