/**
 * The exactly-once pipeline's history checker (sim/txn/scenario.ts): it sees what the
 * processors did (each instance's init of its transactional id, each transaction's outputs
 * and how its commit or abort ended, as the application saw it), what read_committed readers
 * of `out` were answered during the run, and, after healing, the whole of `in` and the
 * read_committed view of `out`. It never looks inside a coordinator or a log. Pure: it is fed
 * observations and judges them at the end (`check`).
 *
 * Every output record names the input it was made from (partition, offset and value), the
 * processor instance that made it and the transaction it was sent in (`encodeOutput`), so a
 * visible output is traced back to both. The rules:
 * - exactly once: every record of the final `in` has exactly one visible output in the final
 *   read_committed read of `out`: none missing (liveness, once settled), none twice;
 * - no aborted record visible: no output of a transaction the processor saw abort (abort()
 *   resolved), nor of one whose commit was never even invoked, is visible to read_committed
 *   readers, in the final read or any read during the run;
 * - zombie fencing: no output of a transaction whose commit was invoked after a newer instance
 *   with the same transactional id completed its init is visible. Only judged when the newer
 *   init was issued after the older instance's own init completed, so the coordinator surely
 *   saw them in that order (overlapping inits may legitimately go either way);
 * - atomicity: a transaction whose commit resolved has all its outputs visible at the end, and
 *   none has only some of them visible;
 * - no invention: every visible output decodes, names an input present in `in` with the same
 *   value, and a transaction the history knows that sent exactly that output; what readers saw
 *   during the run is in the final read at the same offset (a committed record never
 *   disappears or changes), and was a prefix of it (nothing shows up later below an offset a
 *   reader had already read past).
 */
import type { Violation } from '../broker/checker.js'
import { formatViolation } from '../broker/checker.js'

export { formatViolation, type Violation }

/** One record of `in` (the final read), or of `out` as a read_committed reader saw it. */
export interface LogRecord {
  readonly partition: number
  readonly offset: number
  readonly value: string
}

/** One processor instance: a transactional producer (and its group consumer) under one transactional id. */
export interface InstanceObservation {
  readonly transactionalId: string
  /** Unique over the run, no '|' in it. */
  readonly instance: string
  /** Creation order among the instances of its transactional id (later is newer). */
  readonly seq: number
  readonly initIssuedAtMs: number
  /** When initTransactions resolved; undefined while in flight, and for good if it failed. */
  initCompletedAtMs: number | undefined
}

/** One transaction of an instance, as its application saw it. */
export interface TxnObservation {
  readonly instance: string
  /** The transaction's number within its instance (1, 2, ...). */
  readonly txn: number
  readonly beganAtMs: number
  /** Every output value the application sent (or tried to send) in it. */
  readonly outputs: string[]
  /** When commit() was called; undefined if it never was. */
  commitInvokedAtMs: number | undefined
  /** When commit() resolved (the transaction committed). */
  committedAtMs: number | undefined
  /** When abort() resolved (the transaction is known aborted). */
  abortedAtMs: number | undefined
}

/** A read_committed read of one partition of `out` during the run (a prefix of what is stable). */
export interface OutRead {
  readonly atMs: number
  readonly partition: number
  readonly records: readonly LogRecord[]
}

export interface FinalTxnState {
  readonly atMs: number
  /** Every record of `in`, read from offset 0 to the high watermark; undefined if a read failed. */
  readonly inputs: readonly LogRecord[] | undefined
  /** `out` partition -> its read_committed records, read to the last stable offset; undefined if that failed. */
  readonly outputs: ReadonlyMap<number, readonly LogRecord[] | undefined>
  /** The run reached a settled pipeline (offsets at the end of `in`, `out` stable) within its bound. */
  readonly settled: boolean
}

/** What an output value says about where it came from. */
export interface OutputOrigin {
  readonly inPartition: number
  readonly inOffset: number
  readonly inValue: string
  readonly instance: string
  readonly txn: number
}

const OUTPUT_TAG = 'out'

/** The value a processor writes to `out` for one input: `out|<in partition>:<in offset>|<in value>|<instance>|<txn>`. */
export function encodeOutput(origin: OutputOrigin): string {
  if (origin.inValue.includes('|') || origin.instance.includes('|')) throw new Error(`an input value or instance name with '|' cannot be encoded: ${origin.inValue} ${origin.instance}`)
  return `${OUTPUT_TAG}|${origin.inPartition}:${origin.inOffset}|${origin.inValue}|${origin.instance}|${origin.txn}`
}

/** The origin an output value names, or undefined if it is not one encodeOutput made. */
export function parseOutput(value: string): OutputOrigin | undefined {
  const parts = value.split('|')
  if (parts.length !== 5 || parts[0] !== OUTPUT_TAG) return undefined
  const position = /^(\d+):(\d+)$/.exec(parts[1] as string)
  const txn = Number(parts[4])
  if (position === null || !Number.isSafeInteger(txn) || txn < 1) return undefined
  return { inPartition: Number(position[1]), inOffset: Number(position[2]), inValue: parts[2] as string, instance: parts[3] as string, txn }
}

function txnKey(instance: string, txn: number): string {
  return `${instance}/tx${txn}`
}

function inputKey(partition: number, offset: number): string {
  return `in/${partition}@${offset}`
}

/** A visible output, where it was seen. */
interface Seen {
  readonly record: LogRecord
  readonly atMs: number
  readonly where: 'final' | 'run'
}

export class TxnChecker {
  readonly violations: Violation[] = []
  readonly instances: InstanceObservation[] = []
  readonly txns: TxnObservation[] = []
  readonly reads: OutRead[] = []
  private readonly violationKeys = new Set<string>()

  observeInstance(instance: InstanceObservation): void {
    this.instances.push(instance)
  }

  observeTxn(txn: TxnObservation): void {
    this.txns.push(txn)
  }

  observeRead(read: OutRead): void {
    this.reads.push(read)
  }

  get committedTxns(): number {
    return this.txns.filter((txn) => txn.committedAtMs !== undefined).length
  }

  get abortedTxns(): number {
    return this.txns.filter((txn) => txn.abortedAtMs !== undefined).length
  }

  /** Transactions whose commit was invoked after a newer instance fenced theirs: the zombie case, judged by the fencing rule. */
  get zombieCommits(): number {
    return this.txns.filter((txn) => this.fencedBy(txn) !== undefined).length
  }

  /** Judges the whole history; the violations are in `violations` (with any the run added). */
  check(final: FinalTxnState): void {
    const txns = new Map(this.txns.map((txn) => [txnKey(txn.instance, txn.txn), txn]))
    const inputs = final.inputs === undefined ? undefined : new Map(final.inputs.map((record) => [inputKey(record.partition, record.offset), record]))
    if (inputs === undefined) this.fail(final.atMs, 'final read', 'the final read of `in` failed: exactly once not judged')
    const finalSeen: Seen[] = []
    for (const [partition, records] of final.outputs) {
      if (records === undefined) {
        this.fail(final.atMs, 'final read', `the final read_committed read of out/${partition} failed`)
        continue
      }
      for (const record of records) finalSeen.push({ record, atMs: final.atMs, where: 'final' })
    }
    const runSeen: Seen[] = this.reads.flatMap((read) => read.records.map((record) => ({ record, atMs: read.atMs, where: 'run' as const })))
    for (const seen of [...finalSeen, ...runSeen]) this.checkVisible(seen, txns, inputs)
    this.checkRunReadsKept(final)
    if (inputs !== undefined && [...final.outputs.values()].every((records) => records !== undefined)) this.checkExactlyOnce(final, inputs, finalSeen)
    this.checkAtomicity(final, finalSeen)
  }

  /** One visible output: decodes, comes from a known transaction that may be visible, names a real input. */
  private checkVisible(seen: Seen, txns: ReadonlyMap<string, TxnObservation>, inputs: ReadonlyMap<string, LogRecord> | undefined): void {
    const { record, atMs, where } = seen
    const at = `out/${record.partition}@${record.offset} (${where === 'final' ? 'final read' : 'read during the run'})`
    const origin = parseOutput(record.value)
    if (origin === undefined) return this.fail(atMs, 'invented', `${at} holds '${record.value}', which no processor writes`)
    const txn = txns.get(txnKey(origin.instance, origin.txn))
    if (txn === undefined) this.fail(atMs, 'invented', `${at} '${record.value}' names a transaction the history does not know`)
    else if (!txn.outputs.includes(record.value)) this.fail(atMs, 'invented', `${at} '${record.value}' was never sent in ${txnKey(txn.instance, txn.txn)}`)
    if (inputs !== undefined) {
      const input = inputs.get(inputKey(origin.inPartition, origin.inOffset))
      if (input === undefined) this.fail(atMs, 'invented', `${at} '${record.value}' names in/${origin.inPartition}@${origin.inOffset}, which is not in \`in\``)
      else if (input.value !== origin.inValue) this.fail(atMs, 'invented', `${at} '${record.value}' names in/${origin.inPartition}@${origin.inOffset} as '${origin.inValue}', but \`in\` holds '${input.value}' there`)
    }
    if (txn === undefined) return
    const name = txnKey(txn.instance, txn.txn)
    if (txn.abortedAtMs !== undefined) this.fail(atMs, 'aborted visible', `${at} '${record.value}' is of ${name}, whose abort() resolved at ${fmtMs(txn.abortedAtMs)}`)
    else if (txn.commitInvokedAtMs === undefined) this.fail(atMs, 'uncommitted visible', `${at} '${record.value}' is of ${name}, whose commit() was never called`)
    const fencer = this.fencedBy(txn)
    if (fencer !== undefined) {
      this.fail(atMs, 'zombie write visible', `${at} '${record.value}' is of ${name}, committed at ${fmtMs(txn.commitInvokedAtMs as number)}, after ${fencer.instance} (newer, same transactional id ${fencer.transactionalId}) completed its init at ${fmtMs(fencer.initCompletedAtMs as number)}`)
    }
  }

  /** The newer instance whose completed init fenced `txn`'s instance before its commit was invoked, if any. */
  private fencedBy(txn: TxnObservation): InstanceObservation | undefined {
    const commitAtMs = txn.commitInvokedAtMs
    if (commitAtMs === undefined) return undefined
    const own = this.instances.find((instance) => instance.instance === txn.instance)
    const ownInitMs = own?.initCompletedAtMs
    if (own === undefined || ownInitMs === undefined) return undefined
    return this.instances.find(
      (other) =>
        other.transactionalId === own.transactionalId &&
        other.seq > own.seq &&
        other.initIssuedAtMs > ownInitMs &&
        other.initCompletedAtMs !== undefined &&
        other.initCompletedAtMs < commitAtMs,
    )
  }

  /**
   * What readers saw during the run stays: the same value at the same offset in the final read.
   * And it was a prefix: below the last offset a read returned, everything was decided (below
   * the last stable offset), so the final read has nothing there that read did not.
   */
  private checkRunReadsKept(final: FinalTxnState): void {
    const finals = new Map<number, readonly LogRecord[]>()
    for (const [partition, records] of final.outputs) if (records !== undefined) finals.set(partition, records)
    for (const read of this.reads) {
      const records = finals.get(read.partition)
      if (records === undefined) continue
      const values = new Map(records.map((record) => [record.offset, record.value]))
      for (const record of read.records) {
        const now = values.get(record.offset)
        if (now === record.value) continue
        const what = now === undefined ? 'is not visible in the final read' : `holds '${now}' in the final read`
        this.fail(final.atMs, 'committed record lost', `out/${record.partition}@${record.offset} '${record.value}', read committed at ${fmtMs(read.atMs)}, ${what}`)
      }
      const readPast = Math.max(-1, ...read.records.map((record) => record.offset))
      const seen = new Set(read.records.map((record) => record.offset))
      const late = records.filter((record) => record.offset < readPast && !seen.has(record.offset))
      if (late.length > 0) {
        this.fail(final.atMs, 'not a prefix', `a read of out/${read.partition} at ${fmtMs(read.atMs)} returned records up to offset ${readPast} without ${late.length} the final read has below it: ${late.slice(0, 3).map((record) => `@${record.offset} '${record.value}'`).join(', ')}`)
      }
    }
  }

  private checkExactlyOnce(final: FinalTxnState, inputs: ReadonlyMap<string, LogRecord>, finalSeen: readonly Seen[]): void {
    const outputsOf = new Map<string, LogRecord[]>()
    for (const { record } of finalSeen) {
      const origin = parseOutput(record.value)
      if (origin === undefined) continue
      const key = inputKey(origin.inPartition, origin.inOffset)
      const list = outputsOf.get(key) ?? []
      list.push(record)
      outputsOf.set(key, list)
    }
    const missing: string[] = []
    for (const [key, input] of inputs) {
      const outputs = outputsOf.get(key) ?? []
      if (outputs.length === 0) missing.push(`${key} '${input.value}'`)
      if (outputs.length > 1) this.fail(final.atMs, 'duplicate', `${key} '${input.value}' is in out ${outputs.length} times: ${outputs.map((record) => `out/${record.partition}@${record.offset} '${record.value}'`).join(', ')}`)
    }
    if (missing.length > 0) {
      const settled = final.settled ? '' : ' (the pipeline did not settle)'
      this.fail(final.atMs, 'missing', `${missing.length} input record(s) have no visible output in out${settled}: ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ', ...' : ''}`)
    }
  }

  /** A committed transaction is all visible at the end; no transaction is partly visible. */
  private checkAtomicity(final: FinalTxnState, finalSeen: readonly Seen[]): void {
    if ([...final.outputs.values()].some((records) => records === undefined)) return
    const visible = new Set(finalSeen.map(({ record }) => record.value))
    for (const txn of this.txns) {
      const shown = txn.outputs.filter((value) => visible.has(value))
      const name = txnKey(txn.instance, txn.txn)
      const hidden = txn.outputs.filter((value) => !visible.has(value))
      if (txn.committedAtMs !== undefined && hidden.length > 0) {
        this.fail(final.atMs, 'committed not visible', `${name} committed at ${fmtMs(txn.committedAtMs)}, but ${hidden.length} of its ${txn.outputs.length} outputs are not visible at the end: ${hidden.slice(0, 3).join(', ')}`)
      } else if (shown.length > 0 && hidden.length > 0) {
        this.fail(final.atMs, 'partly visible', `${shown.length} of the ${txn.outputs.length} outputs of ${name} are visible at the end, ${hidden.length} are not: ${hidden.slice(0, 3).join(', ')}`)
      }
    }
  }

  private fail(atMs: number, rule: string, detail: string): void {
    const key = `${rule}|${detail}`
    if (this.violationKeys.has(key)) return
    this.violationKeys.add(key)
    this.violations.push({ atMs, rule, detail })
  }
}

function fmtMs(ms: number): string {
  return `${ms.toFixed(1)} ms`
}
