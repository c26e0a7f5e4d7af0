import { describe, expect, it } from 'vitest'
import { DiskCrashMode } from '../../sim/sim-disk.js'
import { makeSimDisk, runOnScheduler } from '../helpers/sim-disk.js'
import { RaftStateFile } from '../../src/raft/state-file.js'
import { SkeinError } from '../../src/wire/errors.js'

const makeDisk = makeSimDisk
const run = runOnScheduler

const saved = {
  hardState: { epoch: 7, votedFor: 'n2' },
  epochs: [
    { epoch: 1, startOffset: 0 },
    { epoch: 7, startOffset: 40 },
  ],
  memberships: [{ offset: 12, voters: ['n1', 'n2', 'n3'], learners: ['n4'] }],
}

describe('RaftStateFile', () => {
  it('load_withNothingSaved_isEpochZeroWithoutAVote', async () => {
    const { scheduler, disk } = makeDisk()
    expect(await run(scheduler, () => new RaftStateFile(disk, 'p/0').load())).toEqual({ hardState: { epoch: 0, votedFor: undefined }, epochs: [], memberships: [] })
  })

  it('save_thenCrash_loadsWhatWasSaved', async () => {
    const { scheduler, disk } = makeDisk()
    await run(scheduler, () => new RaftStateFile(disk, 'p/0').save(saved))
    disk.crash({ mode: DiskCrashMode.dropUnsynced })
    expect(await run(scheduler, () => new RaftStateFile(disk, 'p/0').load())).toEqual(saved)
  })

  it('save_interruptedByACrashAtAnyPoint_leavesTheOldStateOrTheNew_neverNeither', async () => {
    const newer = { hardState: { epoch: 8, votedFor: undefined }, epochs: saved.epochs, memberships: saved.memberships }
    const outcomes = new Set<number>()
    for (let steps = 0; steps < 40; steps++) {
      const { scheduler, disk } = makeDisk(steps)
      await run(scheduler, () => new RaftStateFile(disk, 'p/0').save(saved))
      void new RaftStateFile(disk, 'p/0').save(newer).catch(() => undefined)
      for (let i = 0; i < steps; i++) await scheduler.step()
      disk.crash({ mode: DiskCrashMode.keepUnsyncedPrefix })
      const loaded = await run(scheduler, () => new RaftStateFile(disk, 'p/0').load())
      expect([saved, newer]).toContainEqual(loaded)
      outcomes.add(loaded.hardState.epoch)
    }
    // The sweep really did crash both before and after the replacement became durable.
    expect([...outcomes].sort()).toEqual([7, 8])
  })

  it('load_ofADamagedFile_refusesWithKafkaStorageError_insteadOfForgettingTheVote', async () => {
    const { scheduler, disk } = makeDisk()
    await run(scheduler, () => new RaftStateFile(disk, 'p/0').save(saved))
    disk.corruptByte('p/0/raft-state', 12, 0x01)
    const error = await run(scheduler, () => new RaftStateFile(disk, 'p/0').load()).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(SkeinError)
    expect((error as SkeinError).errorName).toBe('KAFKA_STORAGE_ERROR')
  })
})
