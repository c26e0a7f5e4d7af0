import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { type EpochEntry, EpochCache } from '../../src/raft/epoch-cache.js'

/** Epochs 1 on [0, 5), 3 on [5, 8), 4 on [8, 12); log end 12. */
function sample(): EpochCache {
  return new EpochCache([
    { epoch: 1, startOffset: 0 },
    { epoch: 3, startOffset: 5 },
    { epoch: 4, startOffset: 8 },
  ])
}

describe('EpochCache.assign', () => {
  it('assign_growingEpochsAndOffsets_keepsEveryEntryInOrder', () => {
    const cache = new EpochCache()
    cache.assign(1, 0)
    cache.assign(2, 4)
    cache.assign(5, 9)
    expect(cache.snapshot()).toEqual([
      { epoch: 1, startOffset: 0 },
      { epoch: 2, startOffset: 4 },
      { epoch: 5, startOffset: 9 },
    ])
    expect(cache.latestEpoch).toBe(5)
  })

  it('assign_repeatOfTheLatestEpoch_isIgnored_evenWithALaterOffset', () => {
    const cache = sample()
    cache.assign(4, 10)
    cache.assign(4, 8)
    expect(cache.snapshot()).toEqual(sample().snapshot())
  })

  it('assign_lowerEpochThanTheLatest_throws', () => {
    const cache = sample()
    expect(() => cache.assign(3, 20)).toThrow()
    expect(() => cache.assign(2, 20)).toThrow()
    expect(cache.snapshot()).toEqual(sample().snapshot())
  })

  it('assign_startOffsetNotPastThePrevious_replacesIt', () => {
    // A leader of epoch 4 that wrote nothing: epoch 6 starts at the same offset.
    const cache = new EpochCache([
      { epoch: 1, startOffset: 0 },
      { epoch: 4, startOffset: 5 },
    ])
    cache.assign(6, 5)
    expect(cache.snapshot()).toEqual([
      { epoch: 1, startOffset: 0 },
      { epoch: 6, startOffset: 5 },
    ])
  })

  it('assign_startOffsetBeforeSeveralEntries_replacesThemAll', () => {
    const cache = sample()
    cache.assign(7, 5)
    expect(cache.snapshot()).toEqual([
      { epoch: 1, startOffset: 0 },
      { epoch: 7, startOffset: 5 },
    ])
  })

  it('assign_negativeOrFractionalArguments_throw', () => {
    const cache = new EpochCache()
    expect(() => cache.assign(-1, 0)).toThrow()
    expect(() => cache.assign(1, -1)).toThrow()
    expect(() => cache.assign(1.5, 0)).toThrow()
    expect(() => cache.assign(1, 0.5)).toThrow()
  })

  it('constructor_entries_goThroughAssign', () => {
    const cache = new EpochCache([
      { epoch: 1, startOffset: 0 },
      { epoch: 2, startOffset: 3 },
      { epoch: 3, startOffset: 3 },
    ])
    expect(cache.snapshot()).toEqual([
      { epoch: 1, startOffset: 0 },
      { epoch: 3, startOffset: 3 },
    ])
  })

  it('snapshot_isACopy', () => {
    const cache = sample()
    const copy = cache.snapshot()
    copy.pop()
    expect(cache.snapshot()).toHaveLength(3)
  })

  it('latestEpoch_emptyCache_isZero', () => {
    expect(new EpochCache().latestEpoch).toBe(0)
  })
})

describe('EpochCache.epochAt', () => {
  it('epochAt_eachOffset_isTheEpochThatWroteIt', () => {
    const cache = sample()
    const expected = [1, 1, 1, 1, 1, 3, 3, 3, 4, 4, 4, 4]
    expected.forEach((epoch, offset) => expect(cache.epochAt(offset), `offset ${offset}`).toBe(epoch))
  })

  it('epochAt_beforeEveryEntryOrEmptyCache_isZero', () => {
    expect(new EpochCache().epochAt(0)).toBe(0)
    expect(new EpochCache([{ epoch: 2, startOffset: 10 }]).epochAt(9)).toBe(0)
    expect(sample().epochAt(-1)).toBe(0)
  })
})

describe('EpochCache.endOffsetFor', () => {
  it('endOffsetFor_latestEpoch_isTheLogEnd', () => {
    expect(sample().endOffsetFor(4, 12)).toEqual({ epoch: 4, endOffset: 12 })
  })

  it('endOffsetFor_earlierEpoch_isTheStartOfTheNext', () => {
    expect(sample().endOffsetFor(1, 12)).toEqual({ epoch: 1, endOffset: 5 })
    expect(sample().endOffsetFor(3, 12)).toEqual({ epoch: 3, endOffset: 8 })
  })

  it('endOffsetFor_epochTheLogNeverHad_answersForTheLargestBelowIt', () => {
    expect(sample().endOffsetFor(2, 12)).toEqual({ epoch: 1, endOffset: 5 })
  })

  it('endOffsetFor_epochAboveTheLatest_answersForTheLatest', () => {
    expect(sample().endOffsetFor(9, 12)).toEqual({ epoch: 4, endOffset: 12 })
  })

  it('endOffsetFor_epochBelowEveryEntry_isEpochZeroEndingWhereTheFirstStarts', () => {
    const cache = new EpochCache([
      { epoch: 3, startOffset: 0 },
      { epoch: 5, startOffset: 4 },
    ])
    expect(cache.endOffsetFor(2, 9)).toEqual({ epoch: 0, endOffset: 0 })
    expect(cache.endOffsetFor(0, 9)).toEqual({ epoch: 0, endOffset: 0 })
  })

  it('endOffsetFor_emptyCache_isEpochZeroAtTheLogEnd', () => {
    expect(new EpochCache().endOffsetFor(3, 0)).toEqual({ epoch: 0, endOffset: 0 })
  })
})

describe('EpochCache.truncateFrom', () => {
  it('truncateFrom_insideAnEpoch_keepsThatEpoch', () => {
    const cache = sample()
    cache.truncateFrom(6)
    expect(cache.snapshot()).toEqual([
      { epoch: 1, startOffset: 0 },
      { epoch: 3, startOffset: 5 },
    ])
    expect(cache.latestEpoch).toBe(3)
  })

  it('truncateFrom_atAnEpochStart_forgetsThatEpoch', () => {
    const cache = sample()
    cache.truncateFrom(5)
    expect(cache.snapshot()).toEqual([{ epoch: 1, startOffset: 0 }])
  })

  it('truncateFrom_zero_forgetsEverything', () => {
    const cache = sample()
    cache.truncateFrom(0)
    expect(cache.snapshot()).toEqual([])
    expect(cache.latestEpoch).toBe(0)
  })

  it('truncateFrom_pastTheLastStart_changesNothing', () => {
    const cache = sample()
    cache.truncateFrom(12)
    expect(cache.snapshot()).toEqual(sample().snapshot())
  })

  it('truncateFrom_thenAssignALowerEpochThanBefore_isAllowed', () => {
    const cache = sample()
    cache.truncateFrom(5)
    cache.assign(2, 5)
    expect(cache.snapshot()).toEqual([
      { epoch: 1, startOffset: 0 },
      { epoch: 2, startOffset: 5 },
    ])
  })
})

// ---------------------------------------------------------------- model comparison

/**
 * The model: the epoch of every offset of the log, plus an epoch assigned at the log end with
 * nothing written yet (a leader elected before its first batch), if any.
 */
interface Model {
  log: number[]
  pending: number | undefined
}

type Op =
  | { readonly kind: 'append'; readonly count: number; readonly bump: number }
  | { readonly kind: 'elect'; readonly bump: number }
  | { readonly kind: 'truncate'; readonly fraction: number }

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('append' as const), count: fc.integer({ min: 1, max: 4 }), bump: fc.integer({ min: 0, max: 2 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('elect' as const), bump: fc.integer({ min: 1, max: 2 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), fraction: fc.double({ min: 0, max: 1, noNaN: true }) }) },
)

function modelLatest(model: Model): number {
  return model.pending ?? model.log[model.log.length - 1] ?? 0
}

function apply(cache: EpochCache, model: Model, op: Op): void {
  switch (op.kind) {
    case 'append': {
      const epoch = Math.max(1, modelLatest(model) + op.bump)
      cache.assign(epoch, model.log.length)
      for (let i = 0; i < op.count; i++) model.log.push(epoch)
      model.pending = undefined
      return
    }
    case 'elect': {
      const epoch = modelLatest(model) + op.bump
      cache.assign(epoch, model.log.length)
      model.pending = epoch
      return
    }
    case 'truncate': {
      const offset = Math.floor(op.fraction * model.log.length)
      cache.truncateFrom(offset)
      model.log.length = offset
      model.pending = undefined
      return
    }
  }
}

/** Per offset epochs, with the pending epoch at the log end, as (epoch, start) runs. */
function modelEntries(model: Model): EpochEntry[] {
  const entries: EpochEntry[] = []
  model.log.forEach((epoch, offset) => {
    if (entries[entries.length - 1]?.epoch !== epoch) entries.push({ epoch, startOffset: offset })
  })
  if (model.pending !== undefined) entries.push({ epoch: model.pending, startOffset: model.log.length })
  return entries
}

function modelEndOffsetFor(model: Model, epoch: number): { epoch: number; endOffset: number } {
  const entries = modelEntries(model)
  const below = entries.filter((entry) => entry.epoch <= epoch)
  const answer = below[below.length - 1]?.epoch ?? 0
  const next = entries.find((entry) => entry.epoch > answer)
  return { epoch: answer, endOffset: next?.startOffset ?? model.log.length }
}

function check(cache: EpochCache, model: Model): void {
  expect(cache.snapshot()).toEqual(modelEntries(model))
  expect(cache.latestEpoch).toBe(modelLatest(model))
  model.log.forEach((epoch, offset) => expect(cache.epochAt(offset), `epochAt(${offset})`).toBe(epoch))
  for (let epoch = 0; epoch <= modelLatest(model) + 1; epoch++) {
    expect(cache.endOffsetFor(epoch, model.log.length), `endOffsetFor(${epoch})`).toEqual(modelEndOffsetFor(model, epoch))
  }
}

describe('EpochCache against a per-offset model', () => {
  it('anySequenceOfAppendsElectionsAndTruncations_agreesWithThePerOffsetEpochs', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 40 }), (ops) => {
        const cache = new EpochCache()
        const model: Model = { log: [], pending: undefined }
        for (const op of ops) {
          apply(cache, model, op)
          check(cache, model)
        }
        // Rebuilding from a snapshot (a restart) gives the same cache.
        expect(new EpochCache(cache.snapshot()).snapshot()).toEqual(cache.snapshot())
      }),
      { numRuns: 500 },
    )
  })
})
