/**
 * Files, as the rest of skein is allowed to see them. Paths are '/'-separated and relative
 * to the Disk's root (a node's data directory), so the simulator can give every node its own.
 *
 * Durability model (the simulator enforces it, the real disk merely obeys it): bytes written
 * to a file are volatile until `sync()` on that file returns; a crash may drop any unsynced
 * suffix, and may tear the last unsynced write. Creating, renaming and deleting a file are
 * durable once `syncDir()` on its directory returns.
 */
export interface FileHandle {
  readonly path: string
  /** Current size in bytes, including unsynced appends. */
  size(): number
  /** Appends `data` at the end of the file. Resolves when written (not yet durable). */
  append(data: Uint8Array): Promise<void>
  /**
   * Appends `chunks` back to back as one write (writev): how a log writes many batches
   * without first copying them into one buffer. Resolves when written (not yet durable).
   */
  appendAll(chunks: readonly Uint8Array[]): Promise<void>
  /** Reads up to `byteCount` bytes at `position`; shorter at end of file. */
  read(position: number, byteCount: number): Promise<Uint8Array>
  /** Makes every byte written so far durable (fsync). */
  sync(): Promise<void>
  /** Cuts the file to `sizeBytes` (<= size()). Not durable until `sync()`. */
  truncate(sizeBytes: number): Promise<void>
  close(): Promise<void>
}

export interface OpenOptions {
  /** Create the file if it does not exist (otherwise opening a missing file rejects with ENOENT). */
  create: boolean
}

export interface Disk {
  open(path: string, options: OpenOptions): Promise<FileHandle>
  /** Names (not paths) of the entries of `dir`, sorted. Rejects with ENOENT if it is missing. */
  list(dir: string): Promise<string[]>
  /** Creates `dir` and its parents; no error if it exists. */
  mkdirs(dir: string): Promise<void>
  /** Atomically replaces `to` with `from`. */
  rename(from: string, to: string): Promise<void>
  /** Removes a file; no error if it is missing. */
  delete(path: string): Promise<void>
  /** Removes a directory and everything under it, durably; no error if it is missing. */
  removeTree(dir: string): Promise<void>
  exists(path: string): Promise<boolean>
  /** Makes creations, renames and deletions in `dir` durable (fsync of the directory). */
  syncDir(dir: string): Promise<void>
}

/** Error codes a Disk rejects with, as in POSIX, so callers can tell a missing file from a full disk. */
export const DiskErrorCode = {
  notFound: 'ENOENT',
  noSpace: 'ENOSPC',
  io: 'EIO',
} as const

/** An error from a Disk, carrying a POSIX-style `code`. */
export class DiskError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message)
    this.name = 'DiskError'
  }
}
