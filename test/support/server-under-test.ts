/**
 * Which ZooKeeper server release the ensemble-backed suites run against: Debian's 3.8 by
 * default, or the Maven artifact set named by ZKP_SERVER_SET (e.g. zookeeper-3.9.5). The server
 * matrix (vitest.config.ts projects, `npm run test:matrix`) sets it per project, so the same
 * differential and hostile-tenant files run against every server version without copies.
 */
import type { EnsembleOptions } from '../../src/embedded/ensemble.ts';
import { mavenClasspath } from './maven.ts';

export const SERVER_SET_ENV = 'ZKP_SERVER_SET';

/** Server releases of the matrix besides Debian's 3.8 (scripts/maven/<set>/). */
export const MATRIX_SERVER_SETS = ['zookeeper-3.6.4', 'zookeeper-3.7.2', 'zookeeper-3.9.5'] as const;

/** The set named by ZKP_SERVER_SET, undefined for Debian's 3.8. */
export function serverSet(): string | undefined {
  const set = process.env[SERVER_SET_ENV];
  return set === undefined || set === '' ? undefined : set;
}

/** LocalEnsemble options that select the server under test (nothing for the default). */
export function serverUnderTest(): Pick<EnsembleOptions, 'serverClasspath'> {
  const set = serverSet();
  return set === undefined ? {} : { serverClasspath: mavenClasspath(set) };
}

/** "ZooKeeper 3.8 (Debian)" or the set's name, for describe() titles. */
export function serverLabel(): string {
  return serverSet() ?? 'ZooKeeper 3.8 (Debian)';
}
