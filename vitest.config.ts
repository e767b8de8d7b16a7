import { defineConfig } from 'vitest/config'

// Two projects. `unit`: in-process tests that import src/ and need no system tool (nginx,
// skopeo, podman, ctr, umoci are not used), fast. `e2e`: the real CLI against real tools.
export default defineConfig({
  test: {
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Integration suites start real nginx and registries; two cores are shared.
    fileParallelism: true,
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['test/unit/**/*.test.ts'] },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/**/*.test.ts'],
          exclude: ['test/unit/**'],
          globalSetup: ['test/global-setup.ts'],
        },
      },
    ],
  },
})
