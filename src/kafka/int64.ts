import { ErrorCode, SkeinError } from '../wire/errors.js'

/**
 * int64 fields decode as bigint so every value round-trips exactly; skein keeps offsets and
 * timestamps as numbers. This is the one checked crossing: a value outside the safe-integer
 * range (|n| > 2^53 - 1) is refused as INVALID_REQUEST rather than silently rounded.
 */
export function int64ToSafeNumber(value: bigint, what = 'int64 field'): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new SkeinError(ErrorCode.INVALID_REQUEST, `${what} ${value} is outside the safe integer range`)
  }
  return Number(value)
}
