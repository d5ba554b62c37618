import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    // PGlite is CPU-bound WASM; two workers match the two cores CI has.
    pool: 'forks',
    maxWorkers: 2,
  },
});
