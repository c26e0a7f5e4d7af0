/**
 * CRC-32C throughput: `npm run bench:crc`.
 *
 *   native    @node-rs/crc32 (the implementation skein uses when it loads)   target >= 2 GB/s
 *   portable  slicing-by-8 in TypeScript (the fallback), for comparison      no target
 *
 * Each runs on a 16 KiB buffer (a typical produce batch) and a 1 MiB buffer (a large batch or
 * a segment read); a figure is the median of 5 timed rounds (after a warm-up round), in GB/s (10^9
 * bytes per second). Figures come from one run on this machine; they are printed beside their
 * targets.
 */
import { type Crc32c, crc32c, crc32cImplementation, crc32cPortable } from '../src/log/crc32c.js'
import { type BenchRow, report } from './harness.js'

const bufferSizesBytes = [16 * 1024, 1024 * 1024]
/** Bytes checksummed per round: about 0.1 s for each implementation (portable is ~15x slower). */
const nativeRoundBytes = 256 * 1024 * 1024
const portableRoundBytes = 32 * 1024 * 1024
const roundCount = 5
const warmupRoundCount = 1
const nativeTargetGbPerSec = 2
const bytesPerGb = 1e9

/** Checksums accumulated so the JIT cannot drop the calls as dead code. */
let sink = 0

function measureGbPerSec(crc: Crc32c, bufferBytes: number, roundBytes: number): number {
  const buffer = Uint8Array.from({ length: bufferBytes }, (_, index) => (index * 2654435761) >>> 24)
  const callsPerRound = Math.max(1, Math.round(roundBytes / bufferBytes))
  const samples: number[] = []
  for (let round = 0; round < warmupRoundCount + roundCount; round++) {
    const start = performance.now()
    for (let call = 0; call < callsPerRound; call++) sink ^= crc(buffer)
    const elapsedSec = (performance.now() - start) / 1000
    if (round >= warmupRoundCount) samples.push((callsPerRound * bufferBytes) / elapsedSec / bytesPerGb)
  }
  samples.sort((a, b) => a - b)
  return samples[Math.floor(samples.length / 2)] as number
}

function sizeLabel(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${bytes / (1024 * 1024)} MiB` : `${bytes / 1024} KiB`
}

function main(): void {
  const nativeLoaded = crc32c !== crc32cPortable
  process.stdout.write(`crc32c in use: ${crc32cImplementation}\n`)
  if (!nativeLoaded) process.stdout.write('the native binary did not load: the native rows measure the portable fallback\n')
  const rows: BenchRow[] = []
  for (const bufferBytes of bufferSizesBytes) {
    const value = measureGbPerSec(crc32c, bufferBytes, nativeRoundBytes)
    const target = `≥ ${nativeTargetGbPerSec} GB/s native`
    rows.push({ name: `native (${crc32cImplementation}), ${sizeLabel(bufferBytes)}`, value, unit: 'GB/s', target, met: nativeLoaded && value >= nativeTargetGbPerSec })
  }
  for (const bufferBytes of bufferSizesBytes) {
    const value = measureGbPerSec(crc32cPortable, bufferBytes, portableRoundBytes)
    rows.push({ name: `portable (slicing-by-8), ${sizeLabel(bufferBytes)}`, value, unit: 'GB/s', target: 'none (fallback)', met: true })
  }
  report('crc32c', rows, { node: process.version, implementation: crc32cImplementation, nativeRoundBytes, portableRoundBytes, roundCount, sink })
}

main()
