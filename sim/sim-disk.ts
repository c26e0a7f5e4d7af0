import { strict as assert } from 'node:assert'
import * as posixPath from 'node:path/posix'
import { DiskError, DiskErrorCode, type Disk, type FileHandle, type OpenOptions } from '../src/env/disk.js'
import type { Prng } from './prng.js'
import type { Scheduler } from './scheduler.js'

/** Latencies of the simulated disk. Every operation completes on the scheduler after one. */
export interface DiskConfig {
  /** Fastest completion of a non-sync operation (open, read, append, list, rename...). */
  readonly opLatencyMsMin: number
  /** Slowest completion of a non-sync operation, before the per-byte cost. */
  readonly opLatencyMsMax: number
  /** Fastest fsync (file or directory). Syncs are the slow path group commit amortizes. */
  readonly syncLatencyMsMin: number
  readonly syncLatencyMsMax: number
  /** Transfer rate for reads and appends, in bytes per millisecond. */
  readonly bytesPerMs: number
}

/** A datacenter NVMe drive, roughly: ~0.1 ms ops, ~1-4 ms fsync, ~1 GB/s. */
export const DISK_CONFIG_DEFAULT: DiskConfig = {
  opLatencyMsMin: 0.02,
  opLatencyMsMax: 0.2,
  syncLatencyMsMin: 1,
  syncLatencyMsMax: 4,
  bytesPerMs: 1_000_000,
}

/** What a crash does to bytes that were written but not synced. */
export const DiskCrashMode = {
  /** Every file reverts to its last synced content. */
  dropUnsynced: 'dropUnsynced',
  /** The last unsynced append is torn: a random strict prefix of it survives, with every unsynced byte before it. */
  tearLastWrite: 'tearLastWrite',
  /** A random prefix (possibly none, possibly all) of each file's unsynced bytes survives. */
  keepUnsyncedPrefix: 'keepUnsyncedPrefix',
} as const
export type DiskCrashMode = (typeof DiskCrashMode)[keyof typeof DiskCrashMode]

export interface DiskCrashOptions {
  mode?: DiskCrashMode
}

/** Where `flipDurableBit` flipped a bit. */
export interface BitFlip {
  readonly path: string
  readonly offset: number
  /** 0 (least significant) to 7. */
  readonly bitIndex: number
}

export interface SimFileInfo {
  readonly sizeBytes: number
  readonly durableSizeBytes: number
}

const BAD_FILE_DESCRIPTOR = 'EBADF'
const IS_A_DIRECTORY = 'EISDIR'
const NOT_A_DIRECTORY = 'ENOTDIR'
const INVALID_ARGUMENT = 'EINVAL'
const EMPTY_BYTES = new Uint8Array(0)

/**
 * One file's bytes and how much of them is durable. Writes land in `bytes` at once; the
 * durable content is `bytes[0, durableLength)`, except where an unsynced truncate cut into it,
 * in which case the cut-off durable bytes are kept aside in `truncatedBackup`.
 */
class Inode {
  private bytes: Uint8Array = EMPTY_BYTES
  length = 0
  durableLength = 0
  /** Bumped by every truncate, so a sync can tell whether its snapshot is still a prefix. */
  truncateCount = 0
  private truncatedBackup: { offset: number; bytes: Uint8Array } | undefined
  /** The last write since the last sync, if it was an append still at the end of the file. */
  private lastAppend: { offset: number; byteCount: number } | undefined

  append(data: Uint8Array): void {
    this.reserve(this.length + data.byteLength)
    this.bytes.set(data, this.length)
    if (data.byteLength > 0) this.lastAppend = { offset: this.length, byteCount: data.byteLength }
    this.length += data.byteLength
  }

  read(position: number, byteCount: number): Uint8Array {
    const end = Math.min(this.length, position + byteCount)
    return end <= position ? new Uint8Array(0) : this.bytes.slice(position, end)
  }

  truncate(sizeBytes: number): void {
    assert.ok(sizeBytes <= this.length)
    const lowestCut = this.truncatedBackup?.offset ?? this.durableLength
    if (sizeBytes < lowestCut) {
      // Bytes in [sizeBytes, lowestCut) are still the durable ones: nothing has written below
      // the lowest cut since the last sync. Keep them so a crash can restore them.
      const saved = this.bytes.slice(sizeBytes, lowestCut)
      this.truncatedBackup = { offset: sizeBytes, bytes: concat(saved, this.truncatedBackup?.bytes ?? EMPTY_BYTES) }
    }
    this.length = sizeBytes
    this.lastAppend = undefined
    this.truncateCount++
  }

  /**
   * Makes `[0, lengthAtCall)` durable, the bytes written before the sync was called. If a
   * truncate happened meanwhile that prefix may no longer exist, so everything present is
   * made durable instead (an fsync may always flush more than it was asked to).
   */
  commit(lengthAtCall: number, truncateCountAtCall: number): void {
    let durableLength: number
    if (this.truncateCount !== truncateCountAtCall) durableLength = this.length
    // A truncate cut into durable bytes before this sync was called: the cut is what becomes durable.
    else if (this.truncatedBackup !== undefined) durableLength = lengthAtCall
    else durableLength = Math.max(this.durableLength, lengthAtCall)
    this.durableLength = durableLength
    this.truncatedBackup = undefined
    if (this.lastAppend !== undefined && this.lastAppend.offset < durableLength) this.lastAppend = undefined
  }

  /** The crash: the content becomes what survived, and all of it is durable. */
  revert(mode: DiskCrashMode, random: Prng): void {
    if (this.truncatedBackup !== undefined) {
      // An unsynced truncate cut into durable bytes: restore them and drop everything unsynced.
      this.reserve(this.durableLength)
      this.bytes.set(this.truncatedBackup.bytes, this.truncatedBackup.offset)
      this.length = this.durableLength
    } else {
      this.length = this.survivingLength(mode, random)
    }
    this.durableLength = this.length
    this.truncatedBackup = undefined
    this.lastAppend = undefined
  }

  corrupt(offset: number, xorMask: number): void {
    assert.ok(offset < this.length, `offset ${offset} beyond size ${this.length}`)
    this.bytes[offset] = (this.bytes[offset] as number) ^ xorMask
  }

  private survivingLength(mode: DiskCrashMode, random: Prng): number {
    const unsyncedBytes = this.length - this.durableLength
    if (mode === DiskCrashMode.keepUnsyncedPrefix && unsyncedBytes > 0) {
      return this.durableLength + random.int(unsyncedBytes + 1)
    }
    const last = this.lastAppend
    if (mode === DiskCrashMode.tearLastWrite && last !== undefined) {
      assert.ok(last.offset >= this.durableLength && last.offset + last.byteCount === this.length)
      return last.offset + random.int(last.byteCount)
    }
    return this.durableLength
  }

  private reserve(capacityBytes: number): void {
    if (capacityBytes <= this.bytes.byteLength) return
    // Doubling keeps appends amortized O(1) per byte.
    const grown = new Uint8Array(Math.max(capacityBytes, this.bytes.byteLength * 2, 64))
    grown.set(this.bytes.subarray(0, this.length))
    this.bytes = grown
  }
}

/**
 * A node's disk, in memory, with the durability model of src/env/disk.ts enforced: a file's
 * bytes are volatile until `sync()` completes, names (create, rename, delete) until
 * `syncDir()` of their directory completes; `crash()` throws away whatever was volatile.
 * The same SimDisk outlives its node's crashes, as a real disk does.
 *
 * Timing: mutations apply when called (so `size()` and reads see them at once) and their
 * promises resolve after a simulated latency. Non-sync operations complete in call order;
 * a sync completes after every operation called before it, but does not hold back later
 * ones (group commit keeps appending while an fsync runs). A sync makes durable what was
 * written before it was called.
 *
 * Simplifications: directories are durable as soon as they are created and cannot be
 * deleted or renamed (only files can); a crash sets every file to one surviving prefix.
 */
export class SimDisk implements Disk {
  readonly nodeId: string
  private readonly scheduler: Scheduler
  private readonly random: Prng
  private config: DiskConfig
  /** The current namespace: path to file. */
  private files = new Map<string, Inode>()
  /** The namespace a crash would leave. */
  private durableFiles = new Map<string, Inode>()
  private readonly dirs = new Set<string>([''])
  /** Bumped by every crash; operations from an older generation never complete. */
  private generation = 0
  private dataLaneLastMs = 0
  private syncLaneLastMs = 0
  private writeFailureCode: string | undefined
  private syncFailureCode: string | undefined

  constructor(scheduler: Scheduler, random: Prng, nodeId: string, config: DiskConfig = DISK_CONFIG_DEFAULT) {
    this.scheduler = scheduler
    this.random = random
    this.nodeId = nodeId
    this.config = checkDiskConfig(config)
  }

  async open(path: string, options: OpenOptions): Promise<FileHandle> {
    const normalized = normalizePath(path)
    const failure = this.openFailure(normalized, options)
    const generation = this.generation
    let inode = this.files.get(normalized)
    if (failure === undefined && inode === undefined) {
      inode = new Inode()
      this.files.set(normalized, inode)
    }
    await this.delay('open', 0)
    if (failure !== undefined) throw failure
    assert.ok(inode !== undefined)
    return new SimFileHandle(this, path, inode, generation)
  }

  async list(dir: string): Promise<string[]> {
    const normalized = normalizePath(dir)
    const failure = this.dirFailure(normalized)
    await this.delay('list', 0)
    if (failure !== undefined) throw failure
    const names: string[] = []
    for (const child of this.dirs) if (child !== '' && parentOf(child) === normalized) names.push(baseName(child))
    for (const child of this.files.keys()) if (parentOf(child) === normalized) names.push(baseName(child))
    return names.sort()
  }

  async mkdirs(dir: string): Promise<void> {
    const normalized = normalizePath(dir)
    const failure = this.mkdirsFailure(normalized)
    if (failure === undefined) for (const ancestor of ancestorsOf(normalized)) this.dirs.add(ancestor)
    await this.delay('mkdirs', 0)
    if (failure !== undefined) throw failure
  }

  async rename(from: string, to: string): Promise<void> {
    const fromPath = normalizePath(from)
    const toPath = normalizePath(to)
    const failure = this.renameFailure(fromPath, toPath)
    if (failure === undefined && fromPath !== toPath) {
      this.files.set(toPath, this.files.get(fromPath) as Inode)
      this.files.delete(fromPath)
    }
    await this.delay('rename', 0)
    if (failure !== undefined) throw failure
  }

  async delete(path: string): Promise<void> {
    const normalized = normalizePath(path)
    const failure = this.dirs.has(normalized) ? diskError(IS_A_DIRECTORY, `is a directory: ${path}`) : undefined
    if (failure === undefined) this.files.delete(normalized)
    await this.delay('delete', 0)
    if (failure !== undefined) throw failure
  }

  async removeTree(dir: string): Promise<void> {
    const normalized = normalizePath(dir)
    const prefix = normalized === '' ? '' : `${normalized}/`
    const under = (path: string): boolean => path === normalized || path.startsWith(prefix)
    // Durable at once: a removed tree never comes back after a crash (RealDisk syncs the parent).
    for (const path of [...this.files.keys()]) if (under(path)) this.files.delete(path)
    for (const path of [...this.durableFiles.keys()]) if (under(path)) this.durableFiles.delete(path)
    for (const path of [...this.dirs]) if (path !== '' && under(path)) this.dirs.delete(path)
    await this.delay('delete', 0)
  }

  async exists(path: string): Promise<boolean> {
    const normalized = normalizePath(path)
    const found = this.files.has(normalized) || this.dirs.has(normalized)
    await this.delay('exists', 0)
    return found
  }

  async syncDir(dir: string): Promise<void> {
    const normalized = normalizePath(dir)
    const failure = this.dirFailure(normalized) ?? this.syncFailure()
    // Snapshot at call time: the names as they are now are what this fsync makes durable.
    const snapshot = failure === undefined ? this.entriesOf(normalized) : []
    await this.delay('syncDir', 0, true)
    if (failure !== undefined) throw failure
    for (const [path, inode] of snapshot) {
      if (inode === undefined) this.durableFiles.delete(path)
      else this.durableFiles.set(path, inode)
    }
  }

  /**
   * The node lost power. Operations in flight never complete, open handles are dead, and the
   * disk keeps only what was durable (modulo `options.mode`, default dropUnsynced).
   */
  crash(options: DiskCrashOptions = {}): void {
    const mode = options.mode ?? DiskCrashMode.dropUnsynced
    this.generation++
    const survivors = [...this.durableFiles.entries()].sort(([a], [b]) => compareStrings(a, b))
    const reverted = new Set<Inode>()
    for (const [, inode] of survivors) {
      if (reverted.has(inode)) continue // a hard link left by a half-synced rename
      reverted.add(inode)
      inode.revert(mode, this.random)
    }
    this.files = new Map(survivors)
    this.durableFiles = new Map(survivors)
  }

  /**
   * The machine is gone for good: like `crash`, operations in flight never complete and open
   * handles are dead, and then every file and directory is erased, durable or not.
   */
  wipe(): void {
    this.generation++
    this.files = new Map()
    this.durableFiles = new Map()
    this.dirs.clear()
    this.dirs.add('')
  }

  /** From now on appends and truncates reject with `code` (e.g. ENOSPC) and change nothing; undefined stops it. */
  failWritesWith(code: string | undefined): void {
    this.writeFailureCode = code
  }

  /** From now on sync and syncDir reject with `code` (e.g. EIO) and make nothing durable; undefined stops it. */
  failSyncsWith(code: string | undefined): void {
    this.syncFailureCode = code
  }

  /** Flips bits of one byte of a file's content, durable or not: media corruption. */
  corruptByte(path: string, offset: number, xorMask = 0xff): void {
    assert.ok(Number.isSafeInteger(offset) && offset >= 0, `offset must be an integer >= 0, got ${offset}`)
    assert.ok(Number.isInteger(xorMask) && xorMask > 0 && xorMask <= 0xff, `xorMask must be in [1, 255], got ${xorMask}`)
    const inode = this.files.get(normalizePath(path))
    assert.ok(inode !== undefined, `no file ${path} on ${this.nodeId}`)
    inode.corrupt(offset, xorMask)
  }

  /**
   * Flips one bit of a durable byte (never of the unsynced tail, which a crash may drop
   * anyway) of one file among those `isTarget` accepts and that have durable bytes: the file
   * uniformly among them, then the byte and the bit uniformly. Returns where, or undefined if
   * no file qualifies. Draws only from `random`.
   */
  flipDurableBit(random: Prng, isTarget: (path: string) => boolean): BitFlip | undefined {
    // Durable and still there: an unsynced truncate may have cut below the durable length.
    const storedBytes = (path: string): number => {
      const inode = this.files.get(path) as Inode
      return Math.min(inode.durableLength, inode.length)
    }
    const candidates = this.filePaths().filter((path) => isTarget(path) && storedBytes(path) > 0)
    if (candidates.length === 0) return undefined
    const path = candidates[random.int(candidates.length)] as string
    const offset = random.int(storedBytes(path))
    const bitIndex = random.int(8)
    this.corruptByte(path, offset, 1 << bitIndex)
    return { path, offset, bitIndex }
  }

  /** The latencies in force (see setConfig). */
  get currentConfig(): DiskConfig {
    return this.config
  }

  setConfig(config: DiskConfig): void {
    this.config = checkDiskConfig(config)
  }

  /** Every file path in the current namespace, sorted (for tests and checkers; no latency). */
  filePaths(): string[] {
    return [...this.files.keys()].sort(compareStrings)
  }

  /** Current and durable size of a file, or undefined if there is none (no latency). */
  fileInfo(path: string): SimFileInfo | undefined {
    const inode = this.files.get(normalizePath(path))
    if (inode === undefined) return undefined
    return { sizeBytes: inode.length, durableSizeBytes: inode.durableLength }
  }

  /** A copy of a file's current bytes, or undefined (no latency). */
  peekBytes(path: string): Uint8Array | undefined {
    const inode = this.files.get(normalizePath(path))
    return inode?.read(0, inode.length)
  }

  /** @internal for SimFileHandle. */
  isCurrent(generation: number): boolean {
    return generation === this.generation
  }

  /** @internal for SimFileHandle. */
  writeFailure(): DiskError | undefined {
    const code = this.writeFailureCode
    return code === undefined ? undefined : diskError(code, `simulated write failure (${code}) on ${this.nodeId}`)
  }

  /** @internal for SimFileHandle. */
  syncFailure(): DiskError | undefined {
    const code = this.syncFailureCode
    return code === undefined ? undefined : diskError(code, `simulated sync failure (${code}) on ${this.nodeId}`)
  }

  /**
   * @internal Resolves after the latency of one operation, on the scheduler. Never resolves
   * if the disk crashes first: the process that asked is gone, and its continuation with it.
   */
  delay(operation: string, byteCount: number, isSync = false, generation = this.generation): Promise<void> {
    const atMs = this.completionTimeMs(byteCount, isSync)
    // Owned by the node: a paused process sees its I/O complete only once it runs again.
    return new Promise((resolve) => {
      this.scheduler.schedule(
        atMs,
        `disk:${this.nodeId}:${operation}`,
        () => {
          if (generation === this.generation) resolve()
        },
        this.nodeId,
      )
    })
  }

  private completionTimeMs(byteCount: number, isSync: boolean): number {
    const config = this.config
    const transferMs = byteCount / config.bytesPerMs
    const nowMs = this.scheduler.nowMs()
    if (isSync) {
      const drawnMs = roundMicros(this.random.between(config.syncLatencyMsMin, config.syncLatencyMsMax))
      this.syncLaneLastMs = Math.max(nowMs + drawnMs, this.syncLaneLastMs, this.dataLaneLastMs)
      return this.syncLaneLastMs
    }
    const drawnMs = roundMicros(this.random.between(config.opLatencyMsMin, config.opLatencyMsMax) + transferMs)
    this.dataLaneLastMs = Math.max(nowMs + drawnMs, this.dataLaneLastMs)
    return this.dataLaneLastMs
  }

  private entriesOf(dir: string): [string, Inode | undefined][] {
    const paths = new Set<string>()
    for (const path of this.files.keys()) if (parentOf(path) === dir) paths.add(path)
    for (const path of this.durableFiles.keys()) if (parentOf(path) === dir) paths.add(path)
    return [...paths].sort(compareStrings).map((path) => [path, this.files.get(path)])
  }

  private openFailure(path: string, options: OpenOptions): DiskError | undefined {
    if (this.dirs.has(path)) return diskError(IS_A_DIRECTORY, `not a regular file: ${path}`)
    if (this.files.has(path)) return undefined
    if (!options.create) return diskError(DiskErrorCode.notFound, `no such file: ${path}`)
    return this.parentFailure(path)
  }

  private dirFailure(dir: string): DiskError | undefined {
    if (this.dirs.has(dir)) return undefined
    if (this.files.has(dir)) return diskError(NOT_A_DIRECTORY, `not a directory: ${dir}`)
    return diskError(DiskErrorCode.notFound, `no such directory: ${dir}`)
  }

  private parentFailure(path: string): DiskError | undefined {
    return this.dirFailure(parentOf(path))
  }

  private mkdirsFailure(dir: string): DiskError | undefined {
    for (const ancestor of ancestorsOf(dir)) {
      if (this.files.has(ancestor)) return diskError(NOT_A_DIRECTORY, `not a directory: ${ancestor}`)
    }
    return undefined
  }

  private renameFailure(from: string, to: string): DiskError | undefined {
    if (this.dirs.has(from)) return diskError(IS_A_DIRECTORY, `the simulated disk renames files only: ${from}`)
    if (!this.files.has(from)) return diskError(DiskErrorCode.notFound, `no such file: ${from}`)
    if (this.dirs.has(to)) return diskError(IS_A_DIRECTORY, `is a directory: ${to}`)
    return this.parentFailure(to)
  }
}

/** An open file on a SimDisk. Dead (its operations never complete) once the disk crashes. */
class SimFileHandle implements FileHandle {
  private closed = false

  constructor(
    private readonly disk: SimDisk,
    readonly path: string,
    private readonly inode: Inode,
    private readonly generation: number,
  ) {}

  size(): number {
    return this.inode.length
  }

  async append(data: Uint8Array): Promise<void> {
    assert.ok(data instanceof Uint8Array, 'data must be a Uint8Array')
    const failure = this.closedFailure() ?? this.disk.writeFailure()
    // Copied now: the caller may reuse its buffer as soon as append() returns.
    if (failure === undefined && this.isCurrent()) this.inode.append(data.slice())
    await this.disk.delay('append', data.byteLength, false, this.generation)
    if (failure !== undefined) throw failure
  }

  appendAll(chunks: readonly Uint8Array[]): Promise<void> {
    const totalBytes = chunks.reduce((total, chunk) => total + chunk.byteLength, 0)
    const data = new Uint8Array(totalBytes)
    let at = 0
    for (const chunk of chunks) {
      data.set(chunk, at)
      at += chunk.byteLength
    }
    return this.append(data)
  }

  async read(position: number, byteCount: number): Promise<Uint8Array> {
    assertByteCount('position', position)
    assertByteCount('byteCount', byteCount)
    const failure = this.closedFailure()
    const data = this.inode.read(position, byteCount)
    await this.disk.delay('read', data.byteLength, false, this.generation)
    if (failure !== undefined) throw failure
    return data
  }

  async sync(): Promise<void> {
    const failure = this.closedFailure() ?? this.disk.syncFailure()
    const lengthAtCall = this.inode.length
    const truncateCountAtCall = this.inode.truncateCount
    await this.disk.delay('sync', 0, true, this.generation)
    if (failure !== undefined) throw failure
    this.inode.commit(lengthAtCall, truncateCountAtCall)
  }

  async truncate(sizeBytes: number): Promise<void> {
    assertByteCount('sizeBytes', sizeBytes)
    if (sizeBytes > this.inode.length) {
      throw new RangeError(`truncate to ${sizeBytes} bytes beyond size ${this.inode.length} of ${this.path}`)
    }
    const failure = this.closedFailure() ?? this.disk.writeFailure()
    if (failure === undefined && this.isCurrent()) this.inode.truncate(sizeBytes)
    await this.disk.delay('truncate', 0, false, this.generation)
    if (failure !== undefined) throw failure
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.disk.delay('close', 0, false, this.generation)
  }

  private isCurrent(): boolean {
    // A handle from before a crash belongs to a dead process: it must not touch the survivors.
    return this.disk.isCurrent(this.generation)
  }

  private closedFailure(): DiskError | undefined {
    return this.closed ? diskError(BAD_FILE_DESCRIPTOR, `file handle closed: ${this.path}`) : undefined
  }
}

/** Validates a config's ranges; returns it. */
export function checkDiskConfig(config: DiskConfig): DiskConfig {
  assert.ok(config.opLatencyMsMin >= 0, 'opLatencyMsMin must be >= 0')
  assert.ok(config.opLatencyMsMax >= config.opLatencyMsMin, 'opLatencyMsMax must be >= opLatencyMsMin')
  assert.ok(config.syncLatencyMsMin >= 0, 'syncLatencyMsMin must be >= 0')
  assert.ok(config.syncLatencyMsMax >= config.syncLatencyMsMin, 'syncLatencyMsMax must be >= syncLatencyMsMin')
  assert.ok(config.bytesPerMs > 0, 'bytesPerMs must be > 0')
  assert.ok(Number.isFinite(config.opLatencyMsMax) && Number.isFinite(config.syncLatencyMsMax), 'latencies must be finite')
  return config
}

/**
 * The canonical form of a Disk path, as the real disk validates it: '/'-separated, relative,
 * not escaping the root; '' and '.' are the root (canonically '').
 */
export function normalizePath(path: string): string {
  if (path.includes('\0')) throw diskError(INVALID_ARGUMENT, `invalid path ${JSON.stringify(path)}: contains a NUL byte`)
  if (path.startsWith('/')) throw diskError(INVALID_ARGUMENT, `invalid path ${JSON.stringify(path)}: is absolute`)
  let normalized = posixPath.normalize(path === '' ? '.' : path)
  if (normalized === '..' || normalized.startsWith('../')) {
    throw diskError(INVALID_ARGUMENT, `invalid path ${JSON.stringify(path)}: escapes the root directory`)
  }
  if (normalized.endsWith('/')) normalized = normalized.slice(0, -1)
  return normalized === '.' ? '' : normalized
}

function parentOf(path: string): string {
  const slashIndex = path.lastIndexOf('/')
  return slashIndex < 0 ? '' : path.slice(0, slashIndex)
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1)
}

/** 'a/b/c' gives ['a', 'a/b', 'a/b/c']; the root gives []. */
function ancestorsOf(dir: string): string[] {
  if (dir === '') return []
  const parts = dir.split('/')
  return parts.map((_, index) => parts.slice(0, index + 1).join('/'))
}

function diskError(code: string, message: string): DiskError {
  return new DiskError(code, message)
}

function assertByteCount(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${name} must be a safe integer >= 0, got ${value}`)
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength)
  out.set(a, 0)
  out.set(b, a.byteLength)
  return out
}

/** Plain code-unit order, the same as Array.prototype.sort's default (and the real disk's list()). */
function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/** Latencies rounded to whole microseconds keep trace lines short and readable. */
function roundMicros(ms: number): number {
  return Math.round(ms * 1000) / 1000
}
