import { strict as assert } from 'node:assert'
import type { Disk, FileHandle } from '../env/disk.js'

/** Open files the cache keeps when none is given (Linux's default soft limit is 1024 per process). */
export const OPEN_FILES_MAX_DEFAULT = 512

interface CacheEntry {
  readonly path: string
  readonly opened: Promise<FileHandle>
  /** Callers inside `use()` right now; an entry is closed only when this is 0. */
  users: number
  /** Forgotten by the cache (evicted or about to be deleted): close as soon as the last user leaves. */
  retired: boolean
  /** Settles once the handle is closed (its slot is free again). */
  readonly closed: Promise<void>
  readonly markClosed: () => void
}

export interface FileCacheStats {
  readonly openFiles: number
  readonly openFilesMax: number
  readonly opens: number
  readonly evictions: number
  readonly waits: number
}

/**
 * A bounded set of open files shared by every log on a node: a node may host thousands of
 * partitions, each with several segment and index files, and the process may hold only so
 * many descriptors. Files are opened on first use and closed least-recently-used first.
 *
 * Every file access goes through `use()`, which pins the handle for the duration of the
 * callback. Callbacks must not call `use()` again (holding one pin while waiting for another
 * could deadlock when the cache is full); the logs never do.
 */
export class FileCache {
  /** Insertion order is recency order: a used entry is moved to the end. */
  private readonly entries = new Map<string, CacheEntry>()
  /** Handles from the moment their open is called until their close has completed. */
  private openCount = 0
  private readonly slotWaiters: Array<() => void> = []
  private opens = 0
  private evictions = 0
  private waits = 0

  constructor(
    private readonly disk: Disk,
    /** Most files open at once, counting those being closed. */
    readonly openFilesMax: number = OPEN_FILES_MAX_DEFAULT,
  ) {
    assert.ok(Number.isSafeInteger(openFilesMax) && openFilesMax >= 1, `openFilesMax must be >= 1, got ${openFilesMax}`)
  }

  /** Runs `action` with `path` open (creating the file when `create`), pinned until it settles. */
  async use<T>(path: string, create: boolean, action: (file: FileHandle) => Promise<T>): Promise<T> {
    const entry = await this.acquire(path, create)
    try {
      return await action(await entry.opened)
    } finally {
      this.release(entry)
    }
  }

  /**
   * Forgets `path` and closes its handle once nobody uses it. Call before deleting, renaming
   * or truncating-and-rewriting the file through another handle. Resolves when closed.
   */
  async forget(path: string): Promise<void> {
    const entry = this.entries.get(path)
    if (entry === undefined) return
    this.entries.delete(path)
    entry.retired = true
    if (entry.users === 0) void this.closeEntry(entry)
    await entry.closed
  }

  /** Forgets every file whose path starts with `prefix` (a closing log's directory). */
  async forgetAll(prefix: string): Promise<void> {
    const paths = [...this.entries.keys()].filter((path) => path.startsWith(prefix))
    await Promise.all(paths.map((path) => this.forget(path)))
  }

  stats(): FileCacheStats {
    return { openFiles: this.openCount, openFilesMax: this.openFilesMax, opens: this.opens, evictions: this.evictions, waits: this.waits }
  }

  private async acquire(path: string, create: boolean): Promise<CacheEntry> {
    for (;;) {
      const cached = this.entries.get(path)
      if (cached !== undefined) {
        this.entries.delete(path)
        this.entries.set(path, cached)
        cached.users++
        return cached
      }
      if (this.openCount < this.openFilesMax) {
        let markClosed = (): void => undefined
        const closed = new Promise<void>((resolve) => (markClosed = resolve))
        const entry: CacheEntry = { path, opened: this.disk.open(path, { create }), users: 1, retired: false, closed, markClosed }
        this.openCount++
        this.opens++
        this.entries.set(path, entry)
        entry.opened.catch(() => {
          // A failed open holds no descriptor; drop it so the next use tries again.
          if (this.entries.get(path) === entry) this.entries.delete(path)
          entry.retired = true
        })
        return entry
      }
      // At the limit: close the least recently used idle file and wait for its slot, or, if
      // every open file is pinned by a caller right now, wait for one to be released.
      this.evictIdle()
      this.waits++
      await new Promise<void>((resolve) => this.slotWaiters.push(resolve))
    }
  }

  private release(entry: CacheEntry): void {
    assert.ok(entry.users > 0)
    entry.users--
    if (entry.users > 0) return
    if (entry.retired) void this.closeEntry(entry)
    else this.slotWaiters.shift()?.()
  }

  /** Starts closing the least recently used unpinned file, if there is one. */
  private evictIdle(): void {
    for (const entry of this.entries.values()) {
      if (entry.users > 0) continue
      this.entries.delete(entry.path)
      entry.retired = true
      this.evictions++
      void this.closeEntry(entry)
      return
    }
  }

  /** Closes a retired, unpinned entry; its slot is free only once the close has completed. */
  private async closeEntry(entry: CacheEntry): Promise<void> {
    try {
      const file = await entry.opened
      await file.close()
    } catch {
      // An open that failed, or a close error: either way the descriptor is gone.
    }
    this.openCount--
    entry.markClosed()
    this.slotWaiters.shift()?.()
  }
}
