import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LAN_SWIM_SETTINGS, suspicionTimeoutMinMs } from '../../src/membership/index.js'
import { LinkCloseCode } from '../../src/env/index.js'
import { delay, fetchJson, freePorts, type NodeProcess, PinoLevel, Processes } from '../helpers/processes.js'

/**
 * SWIM membership between real `skein start` processes on 127.0.0.1, with the LAN defaults
 * (the CLI has no way to pick other settings). One cluster serves the ordered steps below:
 *
 *   1. n1..n5 start with overlapping seed lists and converge: 5 alive members in every view.
 *   2. n3 is killed with SIGKILL: every other view marks it dead (detection times printed).
 *   3. n3 restarts with the same id, port and data dir: alive again everywhere, at a higher
 *      incarnation than before the kill (it refutes the 'dead' rumour about itself).
 *   4. n6 starts with one dead seed and one live one: it joins, and everybody sees 6 alive.
 *   5. A node with the wrong cluster secret, and one with the wrong cluster id, are refused by
 *      their seeds (a warning there) and never appear in any view.
 *
 * Nothing here asserts wall-clock timing: the machine is shared and noisy. Deadlines only
 * bound a hung test; the measured detection times are printed beside the derived bound.
 */

const CLUSTER_ID = 'membership-test'
const CLUSTER_SECRET = 'membership-test-secret-0123456789'
const WRONG_SECRET = 'not-the-cluster-secret-9876543210'
const WRONG_CLUSTER_ID = 'some-other-cluster'
const SETTINGS = LAN_SWIM_SETTINGS

/**
 * Generous: the documented detection bound is 10 s (below). Even a suspicion nobody confirms
 * times out 6 x 4 s = 24 s after it starts (suspicionTimeoutMaxMs): this only bounds a hung test.
 */
const DETECTION_DEADLINE_MS = 40_000
/**
 * Joins, convergence and refutation normally take a few seconds. When piggybacked gossip
 * misses a member, push-pull (every pushPullIntervalMs = 30 s per member) repairs it: the
 * deadline leaves room for one full push-pull period.
 */
const CONVERGE_DEADLINE_MS = SETTINGS.pushPullIntervalMs + 15_000
/** Test timeout for the steps that wait for convergence. */
const CONVERGE_TEST_TIMEOUT_MS = CONVERGE_DEADLINE_MS + 15_000
const POLL_EVERY_MS = 100

/**
 * Who joins through whom. Overlapping on purpose: n1 lists only itself (it founds the cluster),
 * n4 lists a node that will later die beside one that stays, n5 knows only n4.
 */
const SEEDS: Readonly<Record<string, readonly string[]>> = {
  n1: ['n1'],
  n2: ['n1'],
  n3: ['n2'],
  n4: ['n3', 'n1'],
  n5: ['n4'],
}
const FIRST_FIVE = ['n1', 'n2', 'n3', 'n4', 'n5']
const ALL_SIX = [...FIRST_FIVE, 'n6']
const VICTIM = 'n3'

/**
 * How long after a SIGKILL every other member should hold the victim dead, derived from the
 * settings as sim/swim/scenarios.ts derives it (I = probeIntervalMs, n = 5 members, alpha =
 * suspicionMultiplier):
 *
 *   (n - 1) * I   one probe round: each member probes every other once per round, so the
 *                 alpha - 1 members whose failed probes make a fully confirmed suspicion
 *                 (the suspecter plus K = alpha - 2 confirmations) have each probed it
 * + I             that probe's period: a probe fails at the end of its period (after the
 *                 direct timeout and the indirect probes through k relays)
 * + alpha * max(1, log10 n) * I
 *                 the suspicion timeout at its floor (Lifeguard shrinks it from 6x the floor
 *                 to the floor as the K confirmations arrive)
 * + I             the first 'dead' verdict travelling to the others on the next messages
 *
 * LAN defaults, n = 5: 4 * 1 s + 1 s + 4 * max(1, 0.7) * 1 s + 1 s = 10 s.
 */
const DETECTION_BOUND_MS =
  (FIRST_FIVE.length - 1) * SETTINGS.probeIntervalMs +
  SETTINGS.probeIntervalMs +
  suspicionTimeoutMinMs(SETTINGS, FIRST_FIVE.length) +
  SETTINGS.probeIntervalMs

interface MemberView {
  id: string
  address: string
  state: string
  incarnation: number
  zone: string
}

interface NodeStatus {
  node: string
  members: MemberView[]
}

const procs = new Processes()
const nodes = new Map<string, NodeProcess>()
/** Ports chosen before anything starts, so seed lists can name them; 'dead' never gets a listener. */
const ports = new Map<string, number>()
/** The victim's incarnation in every view before the kill (step 2), for step 3. */
let incarnationBeforeKill = -1
/** The killed victim's process (step 2): step 3 restarts it with its options and data dir. */
let killedVictim: NodeProcess | undefined

function addressOf(id: string): string {
  const port = ports.get(id)
  if (port === undefined) throw new Error(`no port chosen for ${id}`)
  return `127.0.0.1:${port}`
}

function node(id: string): NodeProcess {
  const found = nodes.get(id)
  if (found === undefined) throw new Error(`node ${id} is not running`)
  return found
}

async function startMember(id: string, seeds: readonly string[]): Promise<NodeProcess> {
  const started = await procs.start(id, { port: ports.get(id), seeds: [...seeds], clusterId: CLUSTER_ID, secret: CLUSTER_SECRET })
  nodes.set(id, started)
  return started
}

function statusOf(id: string): Promise<NodeStatus> {
  return fetchJson<NodeStatus>(node(id).address, '/status')
}

/** What is wrong with `view` for `expected` all alive and nothing else; undefined when nothing. */
function notAllAlive(view: NodeStatus, expected: readonly string[]): string | undefined {
  const ids = view.members.map((m) => m.id).sort()
  if (ids.join() !== [...expected].sort().join()) return `${view.node} sees [${ids.join(', ')}]`
  const notAlive = view.members.filter((m) => m.state !== 'alive')
  if (notAlive.length > 0) return `${view.node} sees ${notAlive.map((m) => `${m.id} ${m.state}`).join(', ')}`
  return undefined
}

/**
 * Polls every observer's /status until `problem` returns undefined for all of them (bounded);
 * returns the last views and prints how long it took. A node that does not answer counts as a
 * problem, not a failure.
 */
async function waitForViews(
  observers: readonly string[],
  problem: (view: NodeStatus) => string | undefined,
  what: string,
  deadlineMs = CONVERGE_DEADLINE_MS,
): Promise<Map<string, NodeStatus>> {
  const startedMs = performance.now()
  const deadline = startedMs + deadlineMs
  let problems: string[] = []
  for (;;) {
    const views = new Map<string, NodeStatus>()
    problems = []
    await Promise.all(
      observers.map(async (id) => {
        try {
          const view = await statusOf(id)
          views.set(id, view)
          const found = problem(view)
          if (found !== undefined) problems.push(found)
        } catch (err) {
          problems.push(`${id}: ${(err as Error).message}`)
        }
      }),
    )
    if (problems.length === 0) {
      console.log(`${what}: after ${Math.round(performance.now() - startedMs)} ms`)
      return views
    }
    if (performance.now() > deadline) throw new Error(`${what}: not within ${deadlineMs} ms:\n  ${problems.join('\n  ')}`)
    await delay(POLL_EVERY_MS)
  }
}

/** Polls one observer until its view holds `memberId` dead; resolves with ms since `sinceMs`. */
async function timeUntilDead(observer: string, memberId: string, sinceMs: number): Promise<number> {
  let last = 'no answer yet'
  while (performance.now() - sinceMs < DETECTION_DEADLINE_MS) {
    try {
      const member = (await statusOf(observer)).members.find((m) => m.id === memberId)
      if (member?.state === 'dead') return performance.now() - sinceMs
      last = member === undefined ? 'unknown' : `${member.state} at incarnation ${member.incarnation}`
    } catch (err) {
      last = (err as Error).message
    }
    await delay(POLL_EVERY_MS)
  }
  throw new Error(`${observer} did not mark ${memberId} dead within ${DETECTION_DEADLINE_MS} ms (last seen: ${last})`)
}

beforeAll(async () => {
  const chosen = await freePorts(ALL_SIX.length + 1)
  for (const [i, id] of [...ALL_SIX, 'dead'].entries()) ports.set(id, chosen[i] as number)
  // One after the other, so every seed a node names is listening when it starts.
  for (const id of FIRST_FIVE) await startMember(id, (SEEDS[id] ?? []).map(addressOf))
}, 60_000)

afterAll(async () => {
  await procs.cleanup()
})

describe('membership between real processes', () => {
  it('fiveNodes_overlappingSeeds_convergeToFiveAliveInEveryView', async () => {
    const views = await waitForViews(FIRST_FIVE, (view) => notAllAlive(view, FIRST_FIVE), 'five alive members in every view')
    for (const id of FIRST_FIVE) {
      const view = views.get(id) as NodeStatus
      expect(view.node).toBe(id)
      expect(view.members.map((m) => [m.id, m.state, m.address])).toEqual(FIRST_FIVE.map((m) => [m, 'alive', addressOf(m)]))
    }
  }, CONVERGE_TEST_TIMEOUT_MS)

  it('sigkill_markedDeadInEveryOtherView', async () => {
    const observers = FIRST_FIVE.filter((id) => id !== VICTIM)
    const before = await waitForViews(FIRST_FIVE, (view) => notAllAlive(view, FIRST_FIVE), 'five alive members before the kill')
    const incarnations = FIRST_FIVE.map((id) => before.get(id)?.members.find((m) => m.id === VICTIM)?.incarnation ?? -1)
    incarnationBeforeKill = Math.max(...incarnations)
    expect(Math.min(...incarnations)).toBeGreaterThanOrEqual(0)

    const killedAtMs = performance.now()
    killedVictim = node(VICTIM)
    await killedVictim.kill()
    nodes.delete(VICTIM)
    const detectionMs = await Promise.all(observers.map((id) => timeUntilDead(id, VICTIM, killedAtMs)))

    const perObserver = observers.map((id, i) => `${id} ${Math.round(detectionMs[i] as number)} ms`).join(', ')
    console.log(`SIGKILL of ${VICTIM} detected dead by: ${perObserver}; derived bound ${DETECTION_BOUND_MS} ms (LAN defaults, n = 5)`)
    expect(DETECTION_BOUND_MS).toBe(10_000)
    expect(detectionMs).toHaveLength(observers.length)
  }, CONVERGE_DEADLINE_MS + DETECTION_DEADLINE_MS + 15_000)

  it('restartedWithSameIdPortAndData_aliveInEveryViewAtAHigherIncarnation', async () => {
    expect(incarnationBeforeKill).toBeGreaterThanOrEqual(0)
    const previous = killedVictim
    if (previous === undefined) throw new Error(`${VICTIM} was not killed`)
    const restarted = await procs.restart(previous)
    expect(restarted.port).toBe(ports.get(VICTIM))
    expect(restarted.dataDir).toBe(previous.dataDir)
    nodes.set(VICTIM, restarted)

    const views = await waitForViews(
      FIRST_FIVE,
      (view) => {
        const wrong = notAllAlive(view, FIRST_FIVE)
        if (wrong !== undefined) return wrong
        const incarnation = view.members.find((m) => m.id === VICTIM)?.incarnation ?? -1
        return incarnation > incarnationBeforeKill ? undefined : `${view.node} sees ${VICTIM} at incarnation ${incarnation}`
      },
      `${VICTIM} alive again everywhere`,
    )
    const after = FIRST_FIVE.map((id) => `${id}: ${views.get(id)?.members.find((m) => m.id === VICTIM)?.incarnation}`)
    console.log(`${VICTIM} incarnation before the kill ${incarnationBeforeKill}; after the restart, per view: ${after.join(', ')}`)
    for (const id of FIRST_FIVE) {
      expect(views.get(id)?.members.find((m) => m.id === VICTIM)?.incarnation).toBeGreaterThan(incarnationBeforeKill)
    }
  }, CONVERGE_TEST_TIMEOUT_MS)

  it('seedsPartlyDown_nodeStillJoins_andAllSixAreAliveEverywhere', async () => {
    await startMember('n6', [addressOf('dead'), addressOf('n2')])
    const views = await waitForViews(ALL_SIX, (view) => notAllAlive(view, ALL_SIX), 'six alive members in every view')
    expect(views.get('n6')?.members.map((m) => m.id)).toEqual(ALL_SIX)
    expect(views.get('n1')?.members.find((m) => m.id === 'n6')).toMatchObject({ state: 'alive', address: addressOf('n6') })
  }, CONVERGE_TEST_TIMEOUT_MS)

  it('wrongSecretOrWrongClusterId_refusedWithAWarning_andNeverInAnyView', async () => {
    const n1LinesBefore = node('n1').lines.length
    const n2LinesBefore = node('n2').lines.length
    const wrongSecret = await procs.start('intruder-secret', { seeds: [addressOf('n1')], clusterId: CLUSTER_ID, secret: WRONG_SECRET })
    const wrongCluster = await procs.start('intruder-cluster', { seeds: [addressOf('n2')], clusterId: WRONG_CLUSTER_ID, secret: CLUSTER_SECRET })

    // The seeds refuse every join attempt with a warning; wait for two each (a retry refused too).
    const refusedSecret = (from: number) =>
      node('n1').waitForLine(
        (l) => l.level === PinoLevel.warn && l['peer'] === 'intruder-secret' && l['code'] === LinkCloseCode.authenticationFailed,
        'n1 warning about intruder-secret',
        from,
        15_000,
      )
    const refusedCluster = (from: number) =>
      node('n2').waitForLine(
        (l) => l.level === PinoLevel.warn && String(l['reason']).includes(WRONG_CLUSTER_ID) && l['code'] === LinkCloseCode.authenticationFailed,
        'n2 warning about intruder-cluster',
        from,
        15_000,
      )
    const secretWarning = await refusedSecret(n1LinesBefore)
    const clusterWarning = await refusedCluster(n2LinesBefore)
    await refusedSecret(node('n1').lines.indexOf(secretWarning) + 1)
    await refusedCluster(node('n2').lines.indexOf(clusterWarning) + 1)
    console.log(`n1 refused intruder-secret: ${JSON.stringify(secretWarning)}`)
    console.log(`n2 refused intruder-cluster: ${JSON.stringify(clusterWarning)}`)

    const views = await waitForViews(ALL_SIX, (view) => notAllAlive(view, ALL_SIX), 'the six members and no intruder in every view')
    for (const id of ALL_SIX) expect(views.get(id)?.members.map((m) => m.id)).toEqual(ALL_SIX)
    for (const intruder of [wrongSecret, wrongCluster]) {
      expect(intruder.running).toBe(true)
      const own = await fetchJson<NodeStatus>(intruder.address, '/status')
      expect(own.members.map((m) => m.id)).toEqual([intruder.id])
    }
    for (const id of ALL_SIX) expect(node(id).linesAtLevel(PinoLevel.error), `errors logged by ${id}`).toEqual([])
  }, CONVERGE_TEST_TIMEOUT_MS)
})

