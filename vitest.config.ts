import { defineConfig } from 'vitest/config';

// Integration tests start real ZooKeeper JVMs; two cores only, so keep file parallelism low
// and give generous timeouts rather than flaky ones.
export default defineConfig({
  test: {
    include: ['protocol/test/**/*.test.ts', 'test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 90_000,
    teardownTimeout: 30_000,
  },
});
