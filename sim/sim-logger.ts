import { strict as assert } from 'node:assert'
import type { Logger } from '../src/env/logger.js'

/**
 * Log entries a world keeps by default, across all nodes. Old entries are overwritten: the
 * tail of a failing run is what one reads; counts per level are kept for every entry.
 */
export const LOG_ENTRIES_MAX_DEFAULT = 10_000

export const LogLevel = {
  debug: 'debug',
  info: 'info',
  warn: 'warn',
  error: 'error',
} as const
export type LogLevel = (typeof LogLevel)[keyof typeof LogLevel]

const levelRank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 }

export interface LogEntry {
  readonly timeMs: number
  readonly nodeId: string
  readonly level: LogLevel
  /** The logger's bindings merged with the call's fields. */
  readonly fields: Readonly<Record<string, unknown>>
  readonly message: string
}

export interface LogSinkOptions {
  entriesMax?: number
  /**
   * Lowest level echoed to stderr, or undefined for none. Defaults from the environment:
   * SKEIN_SIM_LOG=1 (or "debug") echoes everything, SKEIN_SIM_LOG=warn only warnings and errors.
   */
  echoLevel?: LogLevel | undefined
}

/**
 * Where every SimLogger of a world writes: a bounded ring of entries stamped with virtual
 * time, plus a count per level that tests read ("no error was logged").
 */
export class LogSink {
  readonly entriesMax: number
  private readonly ring: LogEntry[] = []
  private ringNextIndex = 0
  private readonly counts: Record<LogLevel, number> = { debug: 0, info: 0, warn: 0, error: 0 }
  private readonly echoLevel: LogLevel | undefined

  constructor(
    private readonly nowMs: () => number,
    options: LogSinkOptions = {},
  ) {
    this.entriesMax = options.entriesMax ?? LOG_ENTRIES_MAX_DEFAULT
    assert.ok(Number.isSafeInteger(this.entriesMax) && this.entriesMax > 0, 'entriesMax must be a positive integer')
    this.echoLevel = 'echoLevel' in options ? options.echoLevel : echoLevelFromEnvironment()
  }

  write(nodeId: string, level: LogLevel, fields: Record<string, unknown>, message: string): void {
    const entry: LogEntry = { timeMs: this.nowMs(), nodeId, level, fields, message }
    this.counts[level]++
    if (this.ring.length < this.entriesMax) this.ring.push(entry)
    else this.ring[this.ringNextIndex] = entry
    this.ringNextIndex = (this.ringNextIndex + 1) % this.entriesMax
    if (this.echoLevel !== undefined && levelRank[level] >= levelRank[this.echoLevel]) {
      process.stderr.write(`${formatEntry(entry)}\n`)
    }
  }

  /** Entries logged at `level` since the world began (including ones the ring dropped). */
  count(level: LogLevel): number {
    return this.counts[level]
  }

  /** The retained entries, oldest first. */
  entries(): LogEntry[] {
    if (this.ring.length < this.entriesMax) return [...this.ring]
    return [...this.ring.slice(this.ringNextIndex), ...this.ring.slice(0, this.ringNextIndex)]
  }
}

/** A node's Logger: stamps entries with the node id and virtual time, drops them once the process is dead. */
export class SimLogger implements Logger {
  constructor(
    private readonly sink: LogSink,
    private readonly nodeId: string,
    private readonly isAlive: () => boolean,
    private readonly bindings: Readonly<Record<string, unknown>> = {},
  ) {}

  debug(fields: object, message: string): void {
    this.write(LogLevel.debug, fields, message)
  }

  info(fields: object, message: string): void {
    this.write(LogLevel.info, fields, message)
  }

  warn(fields: object, message: string): void {
    this.write(LogLevel.warn, fields, message)
  }

  error(fields: object, message: string): void {
    this.write(LogLevel.error, fields, message)
  }

  child(bindings: Record<string, unknown>): Logger {
    return new SimLogger(this.sink, this.nodeId, this.isAlive, { ...this.bindings, ...bindings })
  }

  private write(level: LogLevel, fields: object, message: string): void {
    // A crashed process cannot log; its stray continuations must not pollute the record.
    if (!this.isAlive()) return
    this.sink.write(this.nodeId, level, { ...this.bindings, ...fields }, message)
  }
}

function echoLevelFromEnvironment(): LogLevel | undefined {
  const value = process.env['SKEIN_SIM_LOG']
  if (value === undefined || value === '' || value === '0') return undefined
  if (value === '1') return LogLevel.debug
  return value in levelRank ? (value as LogLevel) : LogLevel.debug
}

function formatEntry(entry: LogEntry): string {
  return JSON.stringify({ t: entry.timeMs, node: entry.nodeId, level: entry.level, msg: entry.message, ...entry.fields }, jsonReplacer)
}

/** Makes errors, bigints and byte arrays printable instead of `{}` or a thrown TypeError. */
function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString()
  if (value instanceof Uint8Array) return `<${value.byteLength} bytes>`
  if (value instanceof Error) return { name: value.name, message: value.message, code: (value as { code?: unknown }).code }
  return value
}
