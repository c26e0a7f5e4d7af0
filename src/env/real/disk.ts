import { constants, type Stats, writeSync, writevSync } from 'node:fs'
import * as fs from 'node:fs/promises'
import * as path from 'node:path'
import { DiskError, type Disk, type FileHandle, type OpenOptions } from '../disk.js'

/**
 * Open flags. Never O_APPEND: on Linux it makes the kernel ignore the write position, and we
 * want appends to land at the size we track, so a failed append leaves no hole the next one skips.
 * Never O_TRUNC: opening an existing log segment must keep its bytes.
 */
const openFlagsExisting = constants.O_RDWR
const openFlagsCreate = constants.O_RDWR | constants.O_CREAT
/** rw-r--r--: data files are the node's own; nothing needs them executable or world-writable. */
const fileModeCreate = 0o644

/**
 * Appends of at most this many bytes are written on the calling thread (write(2) into the page
 * cache takes microseconds) instead of through libuv's thread pool, whose hand-off (a futex
 * wake, two context switches) costs more than the copy and, on a machine with fewer cores
 * than busy threads, preempts the event loop. Larger appends, which can take long enough to
 * stall other work, still go to the pool. With flush=always every write is followed by an
 * fsync (which stays in the pool), so dirty pages stay few and writeback seldom throttles.
 */
export const INLINE_WRITE_BYTES_MAX = 64 * 1024

/** The Disk on Node: every path is relative to `rootDir`, a node's data directory. */
export class RealDisk implements Disk {
  readonly rootDir: string

  constructor(rootDir: string) {
    this.rootDir = path.resolve(rootDir)
  }

  async open(relativePath: string, options: OpenOptions): Promise<FileHandle> {
    const absolutePath = this.resolve(relativePath)
    const flags = options.create ? openFlagsCreate : openFlagsExisting
    const handle = await mapErrors(() => fs.open(absolutePath, flags, fileModeCreate))
    try {
      const stats: Stats = await mapErrors(() => handle.stat())
      if (!stats.isFile()) throw new DiskError('EISDIR', `not a regular file: ${relativePath}`)
      return new RealFileHandle(relativePath, handle, stats.size)
    } catch (error) {
      await handle.close().catch(() => undefined)
      throw error
    }
  }

  async list(dir: string): Promise<string[]> {
    const absolutePath = this.resolve(dir)
    const names = await mapErrors(() => fs.readdir(absolutePath))
    // Default sort (UTF-16 code units), the same order the simulator's disk gives.
    return names.sort()
  }

  async mkdirs(dir: string): Promise<void> {
    const absolutePath = this.resolve(dir)
    await mapErrors(() => fs.mkdir(absolutePath, { recursive: true }))
  }

  async rename(from: string, to: string): Promise<void> {
    const fromPath = this.resolve(from)
    const toPath = this.resolve(to)
    // rename(2) replaces `to` atomically when both are on the same filesystem, which they
    // are: both live under rootDir.
    await mapErrors(() => fs.rename(fromPath, toPath))
  }

  async delete(relativePath: string): Promise<void> {
    const absolutePath = this.resolve(relativePath)
    try {
      await fs.unlink(absolutePath)
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return
      throw toDiskError(error)
    }
  }

  async removeTree(relativeDir: string): Promise<void> {
    const absolutePath = this.resolve(relativeDir)
    try {
      await fs.rm(absolutePath, { recursive: true, force: true })
      await this.syncDir(path.dirname(relativeDir))
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return
      throw toDiskError(error)
    }
  }

  async exists(relativePath: string): Promise<boolean> {
    const absolutePath = this.resolve(relativePath)
    try {
      await fs.stat(absolutePath)
      return true
    } catch (error) {
      const code = errorCode(error)
      // ENOTDIR: a parent is a file, so the path cannot exist either.
      if (code === 'ENOENT' || code === 'ENOTDIR') return false
      throw toDiskError(error)
    }
  }

  async syncDir(dir: string): Promise<void> {
    const absolutePath = this.resolve(dir)
    // A directory's entries (creates, renames, unlinks) are durable only once the directory
    // itself is fsynced; opening it read-only is enough to do that on Linux.
    const handle = await mapErrors(() => fs.open(absolutePath, constants.O_RDONLY))
    try {
      await mapErrors(() => handle.sync())
    } finally {
      await handle.close().catch(() => undefined)
    }
  }

  /** Maps a Disk path to an absolute path under rootDir, refusing anything that would leave it. */
  private resolve(relativePath: string): string {
    return path.join(this.rootDir, checkRelativePath(relativePath))
  }
}

/**
 * Validates a '/'-separated path relative to the root and returns it normalized. '' and '.'
 * name the root itself (so `mkdirs('')` creates the data directory).
 */
export function checkRelativePath(relativePath: string): string {
  if (relativePath.includes('\0')) throw invalidPath(relativePath, 'contains a NUL byte')
  if (relativePath.startsWith('/') || path.isAbsolute(relativePath)) {
    throw invalidPath(relativePath, 'is absolute')
  }
  const normalized = path.posix.normalize(relativePath === '' ? '.' : relativePath)
  if (normalized === '..' || normalized.startsWith('../')) {
    throw invalidPath(relativePath, 'escapes the root directory')
  }
  return normalized
}

function invalidPath(relativePath: string, why: string): DiskError {
  return new DiskError('EINVAL', `invalid path ${JSON.stringify(relativePath)}: ${why}`)
}

/**
 * One open file. The size lives in memory (read once at open), so `size()` is synchronous and
 * appends know where to write without asking the kernel.
 *
 * Appends and truncates run one at a time in call order (a promise chain), so concurrent
 * appends land in the order they were called. `sync()` waits for the operations called
 * before it but does not hold back the ones called after it: a group commit can keep
 * appending while the previous fsync runs. Reads do not wait for anything.
 */
class RealFileHandle implements FileHandle {
  private sizeBytes: number
  /** Settles when every append/truncate called so far has finished; never rejects. */
  private tail: Promise<void> = Promise.resolve()
  private closed = false

  constructor(
    readonly path: string,
    private readonly handle: fs.FileHandle,
    initialSizeBytes: number,
  ) {
    this.sizeBytes = initialSizeBytes
  }

  size(): number {
    return this.sizeBytes
  }

  append(data: Uint8Array): Promise<void> {
    return this.enqueue(() => this.appendNow(data))
  }

  appendAll(chunks: readonly Uint8Array[]): Promise<void> {
    return this.enqueue(() => this.appendAllNow(chunks))
  }

  async read(position: number, byteCount: number): Promise<Uint8Array> {
    this.assertOpen()
    assertByteCount('position', position)
    assertByteCount('byteCount', byteCount)
    // Not zero-filled: every byte returned is overwritten by the read first, and zeroing a
    // megabyte per read is a measurable share of a log's read path.
    const unfilled = Buffer.allocUnsafeSlow(byteCount)
    const buffer = new Uint8Array(unfilled.buffer, unfilled.byteOffset, byteCount)
    let filledBytes = 0
    while (filledBytes < byteCount) {
      const { bytesRead } = await mapErrors(() =>
        this.handle.read(buffer, filledBytes, byteCount - filledBytes, position + filledBytes),
      )
      if (bytesRead === 0) break // end of file
      filledBytes += bytesRead
    }
    return filledBytes === byteCount ? buffer : buffer.subarray(0, filledBytes)
  }

  async sync(): Promise<void> {
    this.assertOpen()
    await this.tail
    // fdatasync is enough: it also flushes the file size, the one piece of metadata needed
    // to read appended bytes back after a crash.
    await mapErrors(() => this.handle.datasync())
  }

  truncate(sizeBytes: number): Promise<void> {
    return this.enqueue(async () => {
      assertByteCount('sizeBytes', sizeBytes)
      if (sizeBytes > this.sizeBytes) {
        throw new RangeError(`truncate to ${sizeBytes} bytes beyond size ${this.sizeBytes} of ${this.path}`)
      }
      await mapErrors(() => this.handle.truncate(sizeBytes))
      this.sizeBytes = sizeBytes
    })
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.tail
    await mapErrors(() => this.handle.close())
  }

  private async appendNow(data: Uint8Array): Promise<void> {
    let writtenBytes = 0
    const inline = data.byteLength <= INLINE_WRITE_BYTES_MAX
    // write(2) may write fewer bytes than asked; keep going until all of them are down.
    // On failure `sizeBytes` stays put, so the next append overwrites any torn bytes.
    while (writtenBytes < data.byteLength) {
      const offset = writtenBytes
      const bytesWritten = inline
        ? mapErrorsNow(() => writeSync(this.handle.fd, data, offset, data.byteLength - offset, this.sizeBytes + offset))
        : (await mapErrors(() => this.handle.write(data, offset, data.byteLength - offset, this.sizeBytes + offset))).bytesWritten
      writtenBytes += bytesWritten
    }
    this.sizeBytes += writtenBytes
  }

  private async appendAllNow(chunks: readonly Uint8Array[]): Promise<void> {
    const totalBytes = chunks.reduce((total, chunk) => total + chunk.byteLength, 0)
    const bytesWritten =
      totalBytes <= INLINE_WRITE_BYTES_MAX
        ? mapErrorsNow(() => writevSync(this.handle.fd, chunks as Uint8Array[], this.sizeBytes))
        : (await mapErrors(() => this.handle.writev(chunks as Uint8Array[], this.sizeBytes))).bytesWritten
    if (bytesWritten === totalBytes) {
      this.sizeBytes += bytesWritten
      return
    }
    // A short writev (rare: signals, quotas): write the rest the slow way. Nothing counts as
    // appended until all of it is down, as with append().
    const rest = new Uint8Array(totalBytes - bytesWritten)
    let skipped = 0
    let filled = 0
    for (const chunk of chunks) {
      const from = Math.max(0, bytesWritten - skipped)
      if (from < chunk.byteLength) {
        rest.set(chunk.subarray(from), filled)
        filled += chunk.byteLength - from
      }
      skipped += chunk.byteLength
    }
    const startBytes = this.sizeBytes
    this.sizeBytes += bytesWritten
    try {
      await this.appendNow(rest)
    } catch (error) {
      this.sizeBytes = startBytes
      throw error
    }
  }

  /** Chains `operation` after every append/truncate called before it. Rejects (never throws). */
  private enqueue(operation: () => Promise<void>): Promise<void> {
    // Checked at call time: an append called after close() must fail even though the
    // operations queued before close() still run.
    if (this.closed) return Promise.reject(closedError(this.path))
    const result = this.tail.then(operation)
    this.tail = result.catch(() => undefined)
    return result
  }

  private assertOpen(): void {
    if (this.closed) throw closedError(this.path)
  }
}

function closedError(filePath: string): DiskError {
  return new DiskError('EBADF', `file handle closed: ${filePath}`)
}

function assertByteCount(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${name} must be a safe integer >= 0, got ${value}`)
  }
}

/** Runs a synchronous fs call, turning a Node fs error into a DiskError with the same code. */
function mapErrorsNow<T>(call: () => T): T {
  try {
    return call()
  } catch (error) {
    throw toDiskError(error)
  }
}

/** Runs an fs call, turning a Node fs error into a DiskError with the same code. */
async function mapErrors<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call()
  } catch (error) {
    throw toDiskError(error)
  }
}

function toDiskError(error: unknown): Error {
  if (error instanceof DiskError) return error
  const code = errorCode(error)
  // Not an fs error (a bug, a RangeError from bad arguments): let it through unchanged.
  if (code === undefined) return error instanceof Error ? error : new Error(String(error))
  const message = error instanceof Error ? error.message : String(error)
  const diskError = new DiskError(code, message)
  diskError.cause = error
  return diskError
}

function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined
  const code = (error as { code: unknown }).code
  return typeof code === 'string' ? code : undefined
}
