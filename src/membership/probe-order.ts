import { shuffle, type Random } from '../env/random.js'

/**
 * SWIM §4.3, round-robin probe target selection: members are probed in the order of a
 * random permutation; at the end of a round the list is rebuilt from the current members
 * and shuffled again; a member that joins mid-round goes in at a random position. Every
 * live member is probed once per round, which bounds the time to first detection by
 * (2 * members - 1) probe periods in the worst case (SWIM §4.3), against an unbounded tail
 * for uniformly random selection.
 */
export class ProbeOrder {
  private ids: string[] = []
  private index = 0
  private readonly random: Random

  constructor(random: Random) {
    this.random = random
  }

  /** Members in the current round (including ones already passed or no longer probeable). */
  get length(): number {
    return this.ids.length
  }

  /** Adds a new member at a random position of the current round (memberlist's insertion). */
  insert(id: string): void {
    if (this.ids.includes(id)) return
    const position = this.random.int(this.ids.length + 1)
    this.ids.splice(position, 0, id)
    if (position < this.index) this.index++
  }

  /**
   * The next member for which `probeable` holds. At the end of the round, `rebuild()` supplies
   * the members of the next round, which are shuffled. Undefined when nobody is probeable.
   */
  next(probeable: (id: string) => boolean, rebuild: () => string[]): string | undefined {
    let rebuilt = false
    for (;;) {
      while (this.index < this.ids.length) {
        const id = this.ids[this.index++] as string
        if (probeable(id)) return id
      }
      if (rebuilt) return undefined
      this.ids = shuffle(this.random, rebuild())
      this.index = 0
      rebuilt = true
    }
  }
}
