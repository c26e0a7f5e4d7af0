import { describe, expect, it } from 'vitest'
import { DiskErrorCode } from '../../src/env/disk.js'
import { Prng } from '../../sim/prng.js'
import { DiskCrashMode, type SimDisk } from '../../sim/sim-disk.js'
import { makeSimDisk, runOnScheduler } from '../helpers/sim-disk.js'

const makeDisk = makeSimDisk
const run = runOnScheduler

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values)

/** A durable file `dir/name` holding `content`. */
async function durableFile(disk: SimDisk, path: string, content: Uint8Array): Promise<void> {
  const dir = path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : ''
  await disk.mkdirs(dir)
  const file = await disk.open(path, { create: true })
  await file.append(content)
  await file.sync()
  await disk.syncDir(dir)
}

describe('SimDisk', () => {
  it('crash_afterASyncedTruncateBelowTheDurableLength_keepsTheCut', async () => {
    const { scheduler, disk } = makeDisk()
    await run(scheduler, async () => {
      await durableFile(disk, 'log/0.seg', bytes(1, 2, 3, 4, 5, 6))
      const file = await disk.open('log/0.seg', { create: false })
      await file.truncate(2)
      await file.sync()
    })
    expect(disk.fileInfo('log/0.seg')).toEqual({ sizeBytes: 2, durableSizeBytes: 2 })
    disk.crash({ mode: DiskCrashMode.dropUnsynced })
    expect(disk.peekBytes('log/0.seg')).toEqual(bytes(1, 2))
  })

  it('crash_afterAnUnsyncedTruncateBelowTheDurableLength_restoresTheDurableBytes', async () => {
    const { scheduler, disk } = makeDisk()
    await run(scheduler, async () => {
      await durableFile(disk, 'log/0.seg', bytes(1, 2, 3, 4, 5, 6))
      const file = await disk.open('log/0.seg', { create: false })
      await file.truncate(2)
      await file.append(bytes(9))
    })
    disk.crash({ mode: DiskCrashMode.dropUnsynced })
    expect(disk.peekBytes('log/0.seg')).toEqual(bytes(1, 2, 3, 4, 5, 6))
  })

  it('crash_dropsUnsyncedBytes_keepsSyncedOnes', async () => {
    const { scheduler, disk } = makeDisk()
    await run(scheduler, async () => {
      await durableFile(disk, 'log/0.seg', bytes(1, 2, 3))
      const file = await disk.open('log/0.seg', { create: false })
      await file.append(bytes(4, 5))
      expect(file.size()).toBe(5)
    })
    disk.crash()
    expect(disk.peekBytes('log/0.seg')).toEqual(bytes(1, 2, 3))
    expect(disk.fileInfo('log/0.seg')).toEqual({ sizeBytes: 3, durableSizeBytes: 3 })
  })

  it('crash_tearLastWrite_keepsAStrictPrefixOfTheLastAppend', async () => {
    const lengths = new Set<number>()
    for (let seed = 0; seed < 30; seed++) {
      const { scheduler, disk } = makeDisk(seed)
      await run(scheduler, async () => {
        await durableFile(disk, 'f', bytes(1, 2))
        const file = await disk.open('f', { create: false })
        await file.append(bytes(3, 4))
        await file.append(bytes(5, 6, 7, 8, 9, 10))
      })
      disk.crash({ mode: DiskCrashMode.tearLastWrite })
      const content = disk.peekBytes('f') as Uint8Array
      expect(content.byteLength).toBeGreaterThanOrEqual(4)
      expect(content.byteLength).toBeLessThan(10)
      expect(content).toEqual(bytes(1, 2, 3, 4, 5, 6, 7, 8, 9, 10).subarray(0, content.byteLength))
      lengths.add(content.byteLength)
    }
    expect(lengths.size).toBeGreaterThan(2)
  })

  it('crash_keepUnsyncedPrefix_keepsSomePrefixOfUnsyncedBytes', async () => {
    const { scheduler, disk } = makeDisk(3)
    await run(scheduler, async () => {
      await durableFile(disk, 'f', bytes(1))
      const file = await disk.open('f', { create: false })
      await file.append(bytes(2, 3, 4, 5, 6, 7, 8))
    })
    disk.crash({ mode: DiskCrashMode.keepUnsyncedPrefix })
    const content = disk.peekBytes('f') as Uint8Array
    expect(content).toEqual(bytes(1, 2, 3, 4, 5, 6, 7, 8).subarray(0, content.byteLength))
    expect(disk.fileInfo('f')?.durableSizeBytes).toBe(content.byteLength)
  })

  it('crash_renameWithoutSyncDir_reverts_withSyncDir_survives', async () => {
    const { scheduler, disk } = makeDisk()
    await run(scheduler, async () => {
      await durableFile(disk, 'meta/state', bytes(1))
      await durableFile(disk, 'meta/state.tmp', bytes(2))
      await disk.rename('meta/state.tmp', 'meta/state')
      expect(await disk.list('meta')).toEqual(['state'])
    })
    disk.crash()
    expect(disk.peekBytes('meta/state')).toEqual(bytes(1))
    expect(disk.filePaths()).toEqual(['meta/state', 'meta/state.tmp'])

    await run(scheduler, async () => {
      await disk.rename('meta/state.tmp', 'meta/state')
      await disk.syncDir('meta')
    })
    disk.crash()
    expect(disk.peekBytes('meta/state')).toEqual(bytes(2))
    expect(disk.filePaths()).toEqual(['meta/state'])
  })

  it('crash_createdFileWithoutSyncDir_vanishes_evenIfSynced', async () => {
    const { scheduler, disk } = makeDisk()
    await run(scheduler, async () => {
      const file = await disk.open('new', { create: true })
      await file.append(bytes(1))
      await file.sync()
    })
    disk.crash()
    expect(disk.filePaths()).toEqual([])
  })

  it('crash_deleteWithoutSyncDir_reverts', async () => {
    const { scheduler, disk } = makeDisk()
    await run(scheduler, async () => {
      await durableFile(disk, 'a', bytes(7))
      await disk.delete('a')
      await disk.delete('a') // missing is fine
      expect(await disk.exists('a')).toBe(false)
    })
    disk.crash()
    expect(disk.peekBytes('a')).toEqual(bytes(7))
  })

  it('crash_unsyncedTruncate_restoresTheDurableBytes', async () => {
    const { scheduler, disk } = makeDisk()
    await run(scheduler, async () => {
      await durableFile(disk, 'f', bytes(1, 2, 3, 4, 5))
      const file = await disk.open('f', { create: false })
      await file.truncate(3)
      await file.append(bytes(9))
      await file.truncate(1)
      await file.append(bytes(8, 8))
      expect(await file.read(0, 10)).toEqual(bytes(1, 8, 8))
    })
    disk.crash({ mode: DiskCrashMode.tearLastWrite })
    expect(disk.peekBytes('f')).toEqual(bytes(1, 2, 3, 4, 5))
  })

  it('sync_makesDurableWhatWasWrittenBeforeTheCall_only', async () => {
    const { scheduler, disk } = makeDisk()
    await run(scheduler, async () => {
      await durableFile(disk, 'f', bytes())
      const file = await disk.open('f', { create: false })
      await file.append(bytes(1))
      const syncing = file.sync()
      await file.append(bytes(2)) // concurrent with the fsync, not covered by it
      await syncing
    })
    disk.crash()
    expect(disk.peekBytes('f')).toEqual(bytes(1))
  })

  it('crash_pendingOperationsNeverComplete_andOldHandlesAreDead', async () => {
    const { scheduler, disk } = makeDisk()
    const file = await run(scheduler, async () => {
      await durableFile(disk, 'f', bytes(1))
      return disk.open('f', { create: false })
    })
    let settled = false
    file.sync().finally(() => (settled = true))
    disk.crash()
    file.append(bytes(2)).finally(() => (settled = true))
    await scheduler.runFor(1000)
    expect(settled).toBe(false)
    expect(disk.peekBytes('f')).toEqual(bytes(1))
  })

  it('operations_takeSimulatedTime_syncSlowerThanAppend', async () => {
    const { scheduler, disk } = makeDisk()
    const file = await run(scheduler, () => disk.open('f', { create: true }))
    const appendStartMs = scheduler.nowMs()
    await run(scheduler, () => file.append(bytes(1)))
    const appendMs = scheduler.nowMs() - appendStartMs
    const syncStartMs = scheduler.nowMs()
    await run(scheduler, () => file.sync())
    const syncMs = scheduler.nowMs() - syncStartMs
    expect(appendMs).toBeGreaterThan(0)
    expect(syncMs).toBeGreaterThan(appendMs)
  })

  it('errors_carryPosixCodes', async () => {
    const { scheduler, disk } = makeDisk()
    await run(scheduler, async () => {
      await expect(disk.open('missing', { create: false })).rejects.toMatchObject({ code: DiskErrorCode.notFound })
      await expect(disk.open('no/such/dir/f', { create: true })).rejects.toMatchObject({ code: DiskErrorCode.notFound })
      await expect(disk.list('nope')).rejects.toMatchObject({ code: DiskErrorCode.notFound })
      await expect(disk.rename('missing', 'x')).rejects.toMatchObject({ code: DiskErrorCode.notFound })
      await disk.mkdirs('d/e')
      await expect(disk.open('d', { create: true })).rejects.toMatchObject({ code: 'EISDIR' })
      await expect(disk.open('/abs', { create: true })).rejects.toMatchObject({ code: 'EINVAL' })
      await expect(disk.open('../up', { create: true })).rejects.toMatchObject({ code: 'EINVAL' })
      const file = await disk.open('d/f', { create: true })
      await file.close()
      await expect(file.append(bytes(1))).rejects.toMatchObject({ code: 'EBADF' })
      await expect(file.truncate(5)).rejects.toThrow(RangeError)
    })
  })

  it('list_givesSortedNamesOfFilesAndDirs', async () => {
    const { scheduler, disk } = makeDisk()
    const names = await run(scheduler, async () => {
      await disk.mkdirs('data/topic-b')
      await disk.mkdirs('data/topic-a/0')
      await disk.open('data/meta', { create: true })
      await disk.open('data/Zeta', { create: true })
      return disk.list('data')
    })
    expect(names).toEqual(['Zeta', 'meta', 'topic-a', 'topic-b'])
  })

  it('failWritesWith_rejectsAppendsWithoutWriting_untilCleared', async () => {
    const { scheduler, disk } = makeDisk()
    await run(scheduler, async () => {
      const file = await disk.open('f', { create: true })
      disk.failWritesWith(DiskErrorCode.noSpace)
      await expect(file.append(bytes(1))).rejects.toMatchObject({ code: DiskErrorCode.noSpace })
      expect(file.size()).toBe(0)
      disk.failWritesWith(undefined)
      await file.append(bytes(1))
      disk.failSyncsWith(DiskErrorCode.io)
      await expect(file.sync()).rejects.toMatchObject({ code: DiskErrorCode.io })
      expect(disk.fileInfo('f')?.durableSizeBytes).toBe(0)
    })
  })

  it('corruptByte_flipsBitsInTheContent', async () => {
    const { scheduler, disk } = makeDisk()
    await run(scheduler, () => durableFile(disk, 'f', bytes(0, 0, 0)))
    disk.corruptByte('f', 1, 0x04)
    expect(disk.peekBytes('f')).toEqual(bytes(0, 4, 0))
  })

  it('wipe_erasesEveryFileAndDirectory_andOperationsInFlightNeverComplete', async () => {
    const { scheduler, disk } = makeDisk()
    await run(scheduler, () => durableFile(disk, 'log/0.seg', bytes(1, 2, 3)))
    let appended = false
    const file = await run(scheduler, () => disk.open('log/0.seg', { create: false }))
    void file.append(bytes(4)).then(() => (appended = true))
    disk.wipe()
    await scheduler.runFor(100)
    expect(appended).toBe(false)
    expect(disk.filePaths()).toEqual([])
    await expect(run(scheduler, () => disk.list(''))).resolves.toEqual([])
    disk.crash()
    expect(disk.filePaths()).toEqual([])
  })

  it('flipDurableBit_flipsOneBitOfADurableByteOfATargetFile_neverTheUnsyncedTail', async () => {
    const { scheduler, disk } = makeDisk()
    const durable = Uint8Array.from({ length: 64 }, (_, i) => i)
    await run(scheduler, async () => {
      await durableFile(disk, 'p/target.log', durable)
      await durableFile(disk, 'p/other.index', bytes(9, 9, 9))
      const file = await disk.open('p/target.log', { create: false })
      await file.append(new Uint8Array(1000)) // unsynced tail
    })
    const random = Prng.fromSeed(7)
    for (let i = 0; i < 50; i++) {
      const before = disk.peekBytes('p/target.log') as Uint8Array
      const flip = disk.flipDurableBit(random, (path) => path.endsWith('.log'))
      expect(flip?.path).toBe('p/target.log')
      const { offset, bitIndex } = flip as { offset: number; bitIndex: number }
      expect(offset).toBeLessThan(64)
      const after = disk.peekBytes('p/target.log') as Uint8Array
      expect(after[offset]).toBe((before[offset] as number) ^ (1 << bitIndex))
      expect(after.filter((value, at) => value !== before[at]).length).toBe(1)
    }
    expect(disk.peekBytes('p/other.index')).toEqual(bytes(9, 9, 9))
    expect(disk.flipDurableBit(random, (path) => path.endsWith('.nothing'))).toBeUndefined()
  })

  it('flipDurableBit_sameSeed_sameFlips', async () => {
    const flips = async (): Promise<unknown[]> => {
      const { scheduler, disk } = makeDisk()
      await run(scheduler, async () => {
        for (const name of ['a', 'b', 'c']) await durableFile(disk, `d/${name}`, new Uint8Array(100))
      })
      const random = Prng.fromSeed(3)
      return Array.from({ length: 10 }, () => disk.flipDurableBit(random, () => true))
    }
    expect(await flips()).toEqual(await flips())
  })
})
