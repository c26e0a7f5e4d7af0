import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { DiskError } from '../../src/env/disk.js'
import { INLINE_WRITE_BYTES_MAX, RealDisk } from '../../src/env/real/disk.js'
import { concatBytes } from '../log/helpers.js'

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const bytes = (text: string): Uint8Array => encoder.encode(text)
const text = (data: Uint8Array): string => decoder.decode(data)

let rootDir = ''
let disk: RealDisk

beforeEach(async () => {
  rootDir = await mkdtemp(path.join(tmpdir(), 'skein-real-disk-'))
  disk = new RealDisk(rootDir)
})

afterEach(async () => {
  await rm(rootDir, { recursive: true, force: true })
})

async function expectDiskError(promise: Promise<unknown>, code: string): Promise<void> {
  const error: unknown = await promise.then(
    () => undefined,
    (rejection: unknown) => rejection,
  )
  expect(error).toBeInstanceOf(DiskError)
  expect((error as DiskError).code).toBe(code)
}

describe('RealDisk files', () => {
  it('append_thenRead_roundTripsAndTracksSize', async () => {
    await disk.mkdirs('topics/t0')
    const file = await disk.open('topics/t0/00000.log', { create: true })
    expect(file.size()).toBe(0)
    await file.append(bytes('hello '))
    await file.append(bytes('world'))
    expect(file.size()).toBe(11)
    expect(text(await file.read(0, 11))).toBe('hello world')
    expect(text(await file.read(6, 5))).toBe('world')
    await file.sync()
    await file.close()

    const reopened = await disk.open('topics/t0/00000.log', { create: false })
    expect(reopened.size()).toBe(11)
    await reopened.append(bytes('!'))
    expect(text(await reopened.read(0, 100))).toBe('hello world!')
    await reopened.close()
  })

  it('append_smallInlineAndLargePooled_landBackToBackInCallOrder', async () => {
    // Appends up to INLINE_WRITE_BYTES_MAX are written on the calling thread, larger ones in the
    // pool: mixed, they still land in call order at the tracked size.
    const file = await disk.open('mixed.log', { create: true })
    const parts = [1, INLINE_WRITE_BYTES_MAX, INLINE_WRITE_BYTES_MAX + 1, 7, 3 * INLINE_WRITE_BYTES_MAX].map((size, i) => new Uint8Array(size).fill(i + 1))
    const chunked = [new Uint8Array(10).fill(9), new Uint8Array(INLINE_WRITE_BYTES_MAX).fill(10)] // appendAll over the limit
    const small = [new Uint8Array(3).fill(11), new Uint8Array(4).fill(12)] // appendAll under it
    await Promise.all([...parts.map((part) => file.append(part)), file.appendAll(chunked), file.appendAll(small)])
    const expected = concatBytes([...parts, ...chunked, ...small])
    expect(file.size()).toBe(expected.length)
    expect(await file.read(0, expected.length)).toEqual(expected)
    await file.close()
  })

  it('read_pastEndOfFile_returnsShorterOrEmpty', async () => {
    const file = await disk.open('f', { create: true })
    await file.append(bytes('abc'))
    expect(text(await file.read(1, 10))).toBe('bc')
    expect((await file.read(3, 10)).byteLength).toBe(0)
    expect((await file.read(50, 10)).byteLength).toBe(0)
    await file.close()
  })

  it('append_concurrentCalls_landInCallOrder', async () => {
    const file = await disk.open('concurrent', { create: true })
    const appendCount = 200
    const chunks = Array.from({ length: appendCount }, (_, i) => bytes(`${i.toString().padStart(4, '0')};`))
    // Varying sizes would also work; fixed-width chunks make the expected layout obvious.
    await Promise.all(chunks.map((chunk) => file.append(chunk)))
    expect(file.size()).toBe(appendCount * 5)
    const expected = chunks.map(text).join('')
    expect(text(await file.read(0, file.size()))).toBe(expected)
    await file.close()
  })

  it('open_existingFileWithCreate_keepsItsBytes', async () => {
    await writeFile(path.join(rootDir, 'existing'), 'kept')
    const file = await disk.open('existing', { create: true })
    expect(file.size()).toBe(4)
    expect(text(await file.read(0, 4))).toBe('kept')
    await file.close()
  })

  it('truncate_cutsTheFileAndNextAppendGoesAtTheNewEnd', async () => {
    const file = await disk.open('t', { create: true })
    await file.append(bytes('0123456789'))
    await file.truncate(4)
    expect(file.size()).toBe(4)
    await file.append(bytes('xy'))
    await file.sync()
    expect(text(await file.read(0, 100))).toBe('0123xy')
    await file.close()
  })

  it('truncate_queuedBehindAppends_seesTheirSize', async () => {
    const file = await disk.open('t', { create: true })
    const pending = [file.append(bytes('abcdef')), file.truncate(3), file.append(bytes('Z'))]
    await Promise.all(pending)
    expect(text(await file.read(0, 100))).toBe('abcZ')
    await file.close()
  })

  it('truncate_beyondSize_rejects', async () => {
    const file = await disk.open('t', { create: true })
    await file.append(bytes('ab'))
    await expect(file.truncate(3)).rejects.toBeInstanceOf(RangeError)
    await expect(file.truncate(-1)).rejects.toBeInstanceOf(RangeError)
    expect(file.size()).toBe(2)
    await file.close()
  })

  it('close_afterwardsOperationsRejectWithEBADF', async () => {
    const file = await disk.open('c', { create: true })
    const pendingAppend = file.append(bytes('in time'))
    await file.close()
    await pendingAppend
    await expectDiskError(file.append(bytes('late')), 'EBADF')
    await expectDiskError(file.read(0, 1), 'EBADF')
    await file.close() // idempotent
    const reopened = await disk.open('c', { create: false })
    expect(text(await reopened.read(0, 100))).toBe('in time')
    await reopened.close()
  })
})

describe('RealDisk directories', () => {
  it('list_returnsSortedNames', async () => {
    await disk.mkdirs('d')
    for (const name of ['b', 'c', 'a', '10', '2']) {
      const file = await disk.open(`d/${name}`, { create: true })
      await file.close()
    }
    await disk.mkdirs('d/sub')
    expect(await disk.list('d')).toEqual(['10', '2', 'a', 'b', 'c', 'sub'])
  })

  it('mkdirs_existingDirectory_isFine', async () => {
    await disk.mkdirs('x/y/z')
    await disk.mkdirs('x/y/z')
    await disk.mkdirs('')
    expect(await disk.exists('x/y/z')).toBe(true)
  })

  it('rename_replacesTargetAtomically', async () => {
    const from = await disk.open('meta.tmp', { create: true })
    await from.append(bytes('new'))
    await from.sync()
    await from.close()
    const to = await disk.open('meta', { create: true })
    await to.append(bytes('old contents'))
    await to.close()

    await disk.rename('meta.tmp', 'meta')
    await disk.syncDir('')
    expect(await disk.exists('meta.tmp')).toBe(false)
    const reopened = await disk.open('meta', { create: false })
    expect(text(await reopened.read(0, 100))).toBe('new')
    await reopened.close()
  })

  it('delete_removesAndIgnoresMissing', async () => {
    const file = await disk.open('gone', { create: true })
    await file.close()
    expect(await disk.exists('gone')).toBe(true)
    await disk.delete('gone')
    expect(await disk.exists('gone')).toBe(false)
    await disk.delete('gone')
    await disk.delete('never/was')
  })

  it('syncDir_onSubdirectory_succeeds', async () => {
    await disk.mkdirs('a/b')
    await disk.syncDir('a/b')
  })
})

describe('RealDisk errors', () => {
  it('missingPaths_rejectWithENOENT', async () => {
    await expectDiskError(disk.open('missing', { create: false }), 'ENOENT')
    await expectDiskError(disk.open('no/dir/file', { create: true }), 'ENOENT')
    await expectDiskError(disk.list('missing'), 'ENOENT')
    await expectDiskError(disk.rename('missing', 'other'), 'ENOENT')
    await expectDiskError(disk.syncDir('missing'), 'ENOENT')
  })

  it('open_directory_rejects', async () => {
    await disk.mkdirs('dir')
    await expectDiskError(disk.open('dir', { create: false }), 'EISDIR')
  })

  it('pathsLeavingTheRoot_rejectWithEINVAL', async () => {
    await expectDiskError(disk.open('../outside', { create: true }), 'EINVAL')
    await expectDiskError(disk.open('a/../../outside', { create: true }), 'EINVAL')
    await expectDiskError(disk.open('/etc/passwd', { create: false }), 'EINVAL')
    await expectDiskError(disk.list('..'), 'EINVAL')
    await expectDiskError(disk.mkdirs('../x'), 'EINVAL')
    await expectDiskError(disk.rename('a', '../b'), 'EINVAL')
    await expectDiskError(disk.delete('../x'), 'EINVAL')
    await expectDiskError(disk.exists('../x'), 'EINVAL')
    await expectDiskError(disk.syncDir('/'), 'EINVAL')
    await expectDiskError(disk.open('nul\0byte', { create: true }), 'EINVAL')
  })

  it('pathsStayingInsideTheRoot_areAccepted', async () => {
    await disk.mkdirs('a')
    const file = await disk.open('a/../inside', { create: true })
    await file.close()
    expect(await disk.exists('./inside')).toBe(true)
  })
})
