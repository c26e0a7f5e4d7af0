/**
 * The consumer group of the full-system run: members on hosts of their own (one member at a
 * time per slot), each an SDK consumer with a groupId that subscribes to the topic and
 * processes each record (at least once), committing automatically every so often and, in
 * some members, by hand every few records. Their sync answers and commits are observed at the
 * connection (as the coordinator gave them) and written to the history with every processed
 * record; a reader on the admin host reads the group's committed offsets now and then. The
 * group checker (sim/group/checker.ts) judges all of it. Churn crashes members, makes them
 * leave, and starts new ones. The same wiring as the consumer-group simulator's (sim/group/).
 */
import type { BrokerClient, Client, Consumer } from '../../src/client/index.js'
import type { GroupAssignorName } from '../../src/wire/broker-protocol.js'
import { partitionKey } from '../broker/checker.js'
import type { OffsetsRead } from '../group/checker.js'
import { connectObserved } from '../group/observed-client.js'
import { simMemberConfig } from '../group/scenario.js'
import type { Prng } from '../prng.js'
import { type ClientsContext, type Incarnation, clientOn, ensureRunning, incarnationOf, isAlive, reportConsumerFailure, reportUnexpected, sleep, unlessDead, valueText } from './clients.js'

export const GROUP_ID = 'full-sim-group'
/** Hosts the members run on, one member at a time each. */
export const MEMBER_SLOTS = ['g1', 'g2', 'g3'] as const
/** Assignor lists a seed's members share. */
const ASSIGNOR_CHOICES: readonly (readonly GroupAssignorName[])[] = [['range'], ['roundrobin'], ['cooperative-sticky'], ['cooperative-sticky', 'range']]
/** Longer than any run: members never look for new partitions. */
const TOPIC_REFRESH_NEVER_MS = 3_600_000

interface Member {
  readonly name: string
  readonly slot: string
  readonly who: Incarnation
  readonly client: Client
  readonly consumer: Consumer
  state: 'running' | 'leaving' | 'left' | 'crashed' | 'failed'
}

export function drawAssignors(random: Prng): readonly GroupAssignorName[] {
  return ASSIGNOR_CHOICES[random.int(ASSIGNOR_CHOICES.length)] as readonly GroupAssignorName[]
}

export class GroupMembers {
  private readonly members = new Map<string, Member>()
  private readonly startsBySlot = new Map<string, number>()
  /** partition key -> offsets some member processed. */
  private readonly processed = new Map<string, Set<number>>()
  private reading = true

  constructor(
    private readonly context: ClientsContext,
    readonly assignors: readonly GroupAssignorName[],
    private readonly random: Prng,
  ) {}

  get cooperative(): boolean {
    return this.assignors[0] === 'cooperative-sticky'
  }

  running(): number {
    return [...this.members.values()].filter((member) => member.state === 'running' && isAlive(this.context.world, member.who)).length
  }

  /** Every data offset in `logs` (partition key -> offsets) was processed by some member. */
  processedAll(offsets: ReadonlyMap<string, readonly number[]>): boolean {
    for (const [key, list] of offsets) {
      const done = this.processed.get(key)
      if (list.some((offset) => done?.has(offset) !== true)) return false
    }
    return true
  }

  /** Starts members on free slots until `count` run. */
  ensure(count: number): void {
    for (const slot of this.freeSlots()) {
      if (this.running() >= count) return
      this.start(slot)
    }
  }

  /** Churn: a member crashes or leaves, or a new one joins. */
  churn(random: Prng): string | undefined {
    const roll = random.int(3)
    if (roll === 0) {
      const free = this.freeSlots()
      if (free.length === 0) return undefined
      return this.start(free[random.int(free.length)] as string)
    }
    const running = [...this.members.values()].filter((member) => member.state === 'running')
    const member = running[random.int(Math.max(1, running.length))]
    if (member === undefined) return undefined
    if (roll === 1) {
      member.state = 'crashed'
      if (isAlive(this.context.world, member.who)) this.context.world.crash(member.slot)
      return `member ${member.name} crashes`
    }
    member.state = 'leaving'
    void (async () => {
      await member.consumer.close().catch(() => undefined)
      await member.client.close().catch(() => undefined)
      if (member.state === 'leaving') member.state = 'left'
    })()
    return `member ${member.name} leaves`
  }

  /** Reads the group's committed offsets from `host` every so often while the workload runs. */
  async readDuringRun(host: string, broker: () => BrokerClient): Promise<void> {
    const random = this.random.fork('reader')
    while (this.reading) {
      await sleep(this.context.world, host, 200 + random.int(1_500))
      if (this.reading) await this.readCommitted(broker())
    }
  }

  stopReading(): void {
    this.reading = false
  }

  /** One fetchOffsets, in the history; undefined if it failed. */
  async readCommitted(broker: BrokerClient): Promise<OffsetsRead | undefined> {
    const world = this.context.world
    const issuedAtMs = world.nowMs()
    try {
      const answer = await broker.fetchOffsets({ groupId: GROUP_ID })
      const read: OffsetsRead = { issuedAtMs, answeredAtMs: world.nowMs(), offsets: new Map(answer.offsets.map((entry) => [partitionKey(entry.topic, entry.partition), entry.offset])) }
      this.context.history.add({ type: 'offsets', read })
      return read
    } catch (error) {
      reportUnexpected(this.context, 'fetchOffsets', error)
      return undefined
    }
  }

  describe(): string {
    return [...this.members.values()]
      .map((member) => {
        if (member.state !== 'running') return `${member.name}:${member.state}`
        const owned = member.consumer.assignment().map((tp) => `${tp.partition}@${member.consumer.position(tp) ?? '?'}`)
        return `${member.name}:generation ${member.consumer.groupMetadata()?.generation ?? '?'} owns [${owned.join(',')}]`
      })
      .join(' ')
  }

  private freeSlots(): string[] {
    return MEMBER_SLOTS.filter((slot) => {
      const member = this.members.get(slot)
      return member === undefined || member.state === 'left' || member.state === 'crashed' || member.state === 'failed' || !isAlive(this.context.world, member.who)
    })
  }

  private start(slot: string): string {
    const world = this.context.world
    const history = this.context.history
    ensureRunning(world, slot)
    const count = (this.startsBySlot.get(slot) ?? 0) + 1
    this.startsBySlot.set(slot, count)
    const name = `${slot}#${count}`
    const who = incarnationOf(world, slot)
    const draws = this.random.fork(`member:${name}`)
    const sessionTimeoutMs = 1_000 + draws.int(2_000)
    const client = clientOn(this.context, slot, `member-${slot}-${count}`, {
      connect: (env, config) =>
        connectObserved(env, config, name, {
          nowMs: () => world.nowMs(),
          untilAlive: () => unlessDead(world, who),
          synced: (memberId, generation, assignment) => history.add({ type: 'sync', atMs: world.nowMs(), member: name, memberId, generation, assignment }),
          commitIssued: (commit) => {
            const op = history.add({ type: 'commit', commit })
            return () => history.completeGroup(op)
          },
        }),
    })
    const consumer = client.consumer(simMemberConfig(draws, GROUP_ID, sessionTimeoutMs, this.assignors, TOPIC_REFRESH_NEVER_MS))
    const member: Member = { name, slot, who, client, consumer, state: 'running' }
    this.members.set(slot, member)
    consumer.subscribe([this.context.topic])
    const processMsMax = draws.int(20)
    const commitEvery = draws.chance(0.4) ? 1 + draws.int(10) : 0
    let sinceCommit = 0
    const run = consumer.run({
      eachMessage: async ({ topic, partition, message }) => {
        await unlessDead(world, who)
        const value = valueText(message.value)
        this.context.history.add({ type: 'process', atMs: world.nowMs(), member: name, topic, partition, offset: message.offset, value })
        const key = partitionKey(topic, partition)
        const done = this.processed.get(key) ?? new Set<number>()
        done.add(message.offset)
        this.processed.set(key, done)
        if (processMsMax > 0) await sleep(world, slot, draws.int(processMsMax))
        if (commitEvery > 0 && ++sinceCommit >= commitEvery) {
          sinceCommit = 0
          await consumer.commit().catch(() => undefined)
        }
      },
    })
    run.then(
      () => undefined,
      (error: unknown) => {
        if (!isAlive(world, who) || member.state !== 'running') return
        member.state = 'failed'
        reportConsumerFailure(this.context, `member ${name}`, error)
        // As an application would: close it (it leaves the group); a new member may take the slot.
        void member.consumer.close().catch(() => undefined)
        void member.client.close().catch(() => undefined)
      },
    )
    return `member ${name} starts (session ${sessionTimeoutMs}ms${commitEvery > 0 ? `, commits every ${commitEvery} records` : ''})`
  }

}
