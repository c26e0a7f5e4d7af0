import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Multi-process tests start real node processes; keep them from fighting over 2 cores.
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
})
