import fc from 'fast-check'
import { SkeinError } from '../../src/wire/errors.js'

/**
 * A random partition history for transaction tests: data batches (transactional or not, of a
 * few producers, -1 for none), transaction markers, and other control batches (LeaderChange).
 */
export type TxnOp =
  | { readonly kind: 'data'; readonly producerId: number; readonly transactional: boolean; readonly count: number }
  | { readonly kind: 'marker'; readonly producerId: number; readonly commit: boolean }
  | { readonly kind: 'leaderChange' }

/** Producer ids the ops use: 0..TXN_OP_PRODUCERS-1. */
export const TXN_OP_PRODUCERS = 4

export const txnOpArbitrary: fc.Arbitrary<TxnOp> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('data' as const), producerId: fc.integer({ min: -1, max: TXN_OP_PRODUCERS - 1 }), transactional: fc.boolean(), count: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('marker' as const), producerId: fc.integer({ min: 0, max: TXN_OP_PRODUCERS - 1 }), commit: fc.boolean() }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'leaderChange' as const }) },
)

/** The SkeinError `run` throws; fails the test if it throws nothing or something else. */
export function skeinErrorOf(run: () => unknown): SkeinError {
  try {
    run()
  } catch (err) {
    if (err instanceof SkeinError) return err
    throw err
  }
  throw new Error('expected a SkeinError')
}
