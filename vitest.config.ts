import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Integration suites start real nginx and registries; two cores are shared.
    fileParallelism: true,
    maxWorkers: 2,
  },
})
