/**
 * Version ranges, written as Kafka's message JSON writes them: "3+" (3 and every later
 * version), "2-4" (inclusive), "1" (that version alone), "none". Schemas keep the text form so
 * a field reads like its line in apache/kafka's `*.json`, and parse it once, at load.
 */
export interface VersionRange {
  readonly min: number
  /** Inclusive; Infinity for "a+". */
  readonly max: number
}

/** The highest version any field text may name; Kafka's APIs stay well below it. */
const VERSION_MAX = 0x7fff

export const NO_VERSIONS: VersionRange = Object.freeze({ min: 1, max: 0 })

export function parseVersions(text: string): VersionRange {
  if (text === 'none') return NO_VERSIONS
  const open = /^(\d+)\+$/.exec(text)
  if (open) return range(Number(open[1]), Infinity, text)
  const closed = /^(\d+)-(\d+)$/.exec(text)
  if (closed) return range(Number(closed[1]), Number(closed[2]), text)
  if (/^\d+$/.test(text)) return range(Number(text), Number(text), text)
  throw new Error(`version range "${text}" is not of the form "a+", "a-b", "a" or "none"`)
}

export function inVersions(range: VersionRange, version: number): boolean {
  return version >= range.min && version <= range.max
}

function range(min: number, max: number, text: string): VersionRange {
  if (min > VERSION_MAX || (max !== Infinity && (max > VERSION_MAX || max < min))) {
    throw new Error(`version range "${text}" is empty or out of bounds`)
  }
  return Object.freeze({ min, max })
}
