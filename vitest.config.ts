import { defineConfig } from 'vitest/config';
import { MATRIX_SERVER_SETS, SERVER_SET_ENV } from './test/support/server-under-test.ts';

// Integration tests start real ZooKeeper JVMs; two cores only, so keep file parallelism low
// and give generous timeouts rather than flaky ones.
//
// The server matrix: the files below run once more per ZooKeeper server release from Maven
// Central (ZKP_SERVER_SET, see test/support/server-under-test.ts), besides the default project's
// run against Debian's 3.8. `./zkp test` adds 3.9 only; ZKP_MATRIX=full (`npm run test:matrix`)
// adds every release of MATRIX_SERVER_SETS.
const SERVER_MATRIX_FILES = ['test/differential.test.ts', 'test/hostile-tenant.test.ts'];
const serverSets = process.env.ZKP_MATRIX === 'full' ? MATRIX_SERVER_SETS : MATRIX_SERVER_SETS.filter((set) => set === 'zookeeper-3.9.5');

export default defineConfig({
  test: {
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 90_000,
    teardownTimeout: 30_000,
    projects: [
      { extends: true, test: { name: 'zookeeper-3.8', include: ['protocol/test/**/*.test.ts', 'test/**/*.test.ts'] } },
      ...serverSets.map((set) => ({ extends: true as const, test: { name: set, include: SERVER_MATRIX_FILES, env: { [SERVER_SET_ENV]: set } } })),
    ],
  },
});
