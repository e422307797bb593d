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

/**
 * Where the server releases of the matrix answer a direct (proxy-less) client differently. Only
 * the hostile-tenant suite's "the ensemble itself" checks depend on these; what the proxy
 * promises does not. Each value is what the suite observed against that release.
 */
export interface ServerBehaviour {
  /**
   * exists() is READ-ACL-checked (ZOOKEEPER-2590, in 3.8.4 and 3.9.2): NOAUTH instead of the
   * stat for a node the caller may not read.
   */
  existsChecksAcl: boolean;
  /**
   * checkWatches answers OK when any session of the member watches the path, not only the
   * caller (an oracle across sessions).
   */
  checkWatchesSeesOtherSessions: boolean;
  /**
   * Watch events are ACL-checked when delivered (the CVE-2024-23944 fix: 3.8.4, 3.9.2, and
   * Debian's 3.8.0-11+deb12u2); without it a persistent recursive watch on "/" names every node.
   */
  watchEventsAclChecked: boolean;
  /**
   * whoAmI (3.7+). Older servers answer an unknown opcode UNIMPLEMENTED and then close the
   * connection (UnimplementedRequestProcessor), so random workloads leave it out there.
   */
  hasWhoAmI: boolean;
}

const SERVER_BEHAVIOUR: Record<string, ServerBehaviour> = {
  // Debian's 3.8.0-11+deb12u2: the CVE-2024-23944 fix backported, ZOOKEEPER-2590 not.
  default: { existsChecksAcl: false, checkWatchesSeesOtherSessions: true, watchEventsAclChecked: true, hasWhoAmI: true },
  'zookeeper-3.6.4': { existsChecksAcl: false, checkWatchesSeesOtherSessions: true, watchEventsAclChecked: false, hasWhoAmI: false },
  'zookeeper-3.7.2': { existsChecksAcl: false, checkWatchesSeesOtherSessions: true, watchEventsAclChecked: false, hasWhoAmI: true },
  'zookeeper-3.9.5': { existsChecksAcl: true, checkWatchesSeesOtherSessions: false, watchEventsAclChecked: true, hasWhoAmI: true },
};

export function serverBehaviour(): ServerBehaviour {
  const set = serverSet() ?? 'default';
  const behaviour = SERVER_BEHAVIOUR[set];
  if (behaviour === undefined) throw new Error(`no ServerBehaviour recorded for ${set} (test/support/server-under-test.ts)`);
  return behaviour;
}
