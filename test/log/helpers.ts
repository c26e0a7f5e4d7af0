import type { Disk, FileHandle, OpenOptions } from '../../src/env/disk.js'

/** A Disk that forwards everything to `inner`; test disks override what they watch or hook. */
export class PassThroughDisk implements Disk {
  constructor(readonly inner: Disk) {}

  open(path: string, options: OpenOptions): Promise<FileHandle> {
    return this.inner.open(path, options)
  }
  list(dir: string): Promise<string[]> {
    return this.inner.list(dir)
  }
  mkdirs(dir: string): Promise<void> {
    return this.inner.mkdirs(dir)
  }
  rename(from: string, to: string): Promise<void> {
    return this.inner.rename(from, to)
  }
  delete(path: string): Promise<void> {
    return this.inner.delete(path)
  }
  removeTree(dir: string): Promise<void> {
    return this.inner.removeTree(dir)
  }
  exists(path: string): Promise<boolean> {
    return this.inner.exists(path)
  }
  syncDir(dir: string): Promise<void> {
    return this.inner.syncDir(dir)
  }
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((total, part) => total + part.length, 0))
  let at = 0
  for (const part of parts) {
    out.set(part, at)
    at += part.length
  }
  return out
}
