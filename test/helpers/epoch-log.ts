import type { EpochEntry } from '../../src/raft/epoch-cache.js'

/**
 * Test logs of the Raft core keep one epoch number per offset. The epochs that start within
 * `epochs` appended at `fromOffset`, after a cache whose latest epoch is `latestEpoch`: what a
 * replica tells `fetchCompleted` (the real one reads it from the batches' leader epochs).
 */
export function epochStartsIn(epochs: readonly number[], fromOffset: number, latestEpoch: number): EpochEntry[] {
  const starts: EpochEntry[] = []
  let latest = latestEpoch
  epochs.forEach((epoch, index) => {
    if (epoch > latest) starts.push({ epoch, startOffset: fromOffset + index })
    latest = Math.max(latest, epoch)
  })
  return starts
}
