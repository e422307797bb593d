/**
 * The client matrix: every ZooKeeper Java client release the users run (3.4 as Flink 1.12
 * shades it, 3.5 as Flink 1.15 does, up to 3.9), Curator as Flink shades it and the newest 5.x,
 * and kazoo (Debian's and the newest from PyPI), each through two proxy replicas (separate
 * processes, one connect string listing both) in front of a real ensemble. The replica a
 * watching session uses is killed with SIGKILL mid-run: the client must move to the other one
 * with its session and get its watches back.
 *
 * `./zkp test` runs the short form (SHORT_CLIENTS, Flink's two Curators); ZKP_MATRIX=full
 * (`npm run test:matrix`) all.
 * The version x feature table in docs/compatibility.md names the tests here.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalEnsemble } from '../src/embedded/ensemble.ts';
import { pollUntil } from '../src/embedded/poll.ts';
import { compileJava, javaArguments, LEGACY_JAVA_RELEASE, legacyJavaExecutable, type CompiledJava } from './support/java.ts';
import { mavenClasspath } from './support/maven.ts';
import { spawnProxyProcess, type ProxyProcess } from './support/proxy.ts';
import { expectCuratorWorkload, expectInOrder, type CuratorWorkloadResult } from './support/curator-workload.ts';
import { expectSuccess, resultLine, runProcess, startInteractive } from './support/run-process.ts';
import { DEBIAN_PYTHON, venvPython } from './support/python.ts';
import { ServerTree } from './support/server-tree.ts';

const CLIENTS_DIR = join(import.meta.dirname, 'clients');
const TENANT = 'matrix';
const FULL = process.env.ZKP_MATRIX === 'full';

const ZOOKEEPER_CLIENTS: readonly string[] = ['3.4.14', '3.5.10', '3.6.4', '3.7.2', '3.8.4', '3.9.5'];
/** `./zkp test`: Flink 1.12's (3.4 API), Flink 1.15's (3.5 API) and the newest (3.6+ API). */
const SHORT_CLIENTS: readonly string[] = ['3.4.14', '3.5.10', '3.9.5'];

/** ZooKeeper 3.4 clients cannot connect on Java 14+ (see legacyJavaExecutable); they get Java 11. */
function needsLegacyJava(zookeeperVersion: string): boolean {
  return zookeeperVersion.startsWith('3.4.');
}

function javaFor(zookeeperVersion: string): string {
  return needsLegacyJava(zookeeperVersion) ? legacyJavaExecutable() : 'java';
}

let ensemble: LocalEnsemble | undefined;
let tree: ServerTree;
/** Two live replicas; a test that kills one replaces it. */
const replicas: ProxyProcess[] = [];

beforeAll(async () => {
  ensemble = await LocalEnsemble.start({
    size: 1,
    // The container/TTL reaper runs every minute by default; the matrix waits for it.
    systemProperties: { 'znode.container.checkIntervalMs': '1000' },
  });
  tree = await ServerTree.open(ensemble);
  await ensureTwoReplicas();
}, 120_000);

afterAll(async () => {
  await tree?.close().catch(() => {});
  await Promise.all(replicas.map((replica) => replica.close()));
  await ensemble?.close();
});

async function ensureTwoReplicas(): Promise<void> {
  for (let index = replicas.length - 1; index >= 0; index--) {
    if (replicas[index]!.child.exitCode !== null || replicas[index]!.child.signalCode !== null) replicas.splice(index, 1);
  }
  while (replicas.length < 2) replicas.push(await spawnProxyProcess(ensemble!.connectString(), [{ name: TENANT }]));
}

function connectString(): string {
  return replicas.map((replica) => replica.address(TENANT)).join(',');
}

/** Kills (SIGKILL) the replica listening on `port` and waits until it is gone. */
async function killReplicaOn(port: number): Promise<void> {
  const victim = replicas.find((replica) => replica.port(TENANT) === port);
  if (victim === undefined) throw new Error(`no replica on port ${port}; replicas: ${connectString()}`);
  victim.kill('SIGKILL');
  await victim.exited;
}

/** Runs a client program that prints "WATCHING {port}", kills that replica, and returns its RESULT. */
async function runAcrossReplicaKill<T>(
  program: (connectString: string) => { executable: string; args: string[] },
  what: string,
): Promise<T & { killedPort: number }> {
  await ensureTwoReplicas();
  const { executable, args } = program(connectString());
  const run = startInteractive(executable, args, { timeoutMs: 100_000 });
  try {
    const watching = JSON.parse((await run.line('WATCHING ', 60_000)).slice('WATCHING '.length)) as { port: number };
    await killReplicaOn(watching.port);
    const result = await run.done;
    if (result.code !== 0) throw new Error(`${what} exited with ${result.code ?? result.signal}\n${result.stdout}\n${result.stderr}`);
    return { ...resultLine<T>(result), killedPort: watching.port };
  } finally {
    run.kill();
  }
}

/** What every client program's CRUD step reports (each library names the errors its own way). */
interface CrudResult {
  created: string;
  data: string;
  version: number;
  versionAfterSet: number;
  dataSeenByOtherSession: string;
  duplicateCreate: string;
  staleSet: string;
  staleDelete: string;
  existsAfterDelete: boolean;
  getMissing: string;
}

/** create "one", set "two" at version 0 (seen by the other session), failed duplicate/stale calls, delete. */
function expectCrud(result: CrudResult, base: string, errors: { nodeExists: string; badVersion: string; noNode: string }): void {
  expect(result).toMatchObject({
    created: `${base}/node`,
    data: 'one',
    version: 0,
    versionAfterSet: 1,
    dataSeenByOtherSession: 'two',
    duplicateCreate: errors.nodeExists,
    staleSet: errors.badVersion,
    staleDelete: errors.badVersion,
    existsAfterDelete: false,
    getMissing: errors.noNode,
  });
}

/** What a client program reports about its watching session's move to the other replica. */
interface MoveResult {
  portBefore: number;
  portAfter: number;
  sameSessionAfterMove: boolean;
  /** The library's connection states of the watching session, in order. */
  statesAcrossMove: string[];
  eventsBeforeChanges: string[];
  watchEvents: string[];
  dataAfterMove: string;
}

/** The session was on the killed replica and resumed, the same session, on the surviving one. */
function expectMovedToOtherReplica(result: MoveResult & { killedPort: number }, states: string[]): void {
  expect(result.portBefore).toBe(result.killedPort);
  expect(result.portAfter).not.toBe(result.portBefore);
  expect(replicas.map((replica) => replica.port(TENANT))).toContain(result.portAfter);
  expect(result.sameSessionAfterMove).toBe(true);
  expect(result.statesAcrossMove).toEqual(states);
}

describe('ZooKeeper Java clients through two proxy replicas', () => {
  interface JavaClientResult extends CrudResult, MoveResult {
    clientVersion: string;
    plainStates: string[];
    readOnlyCapableStates: string[];
    sequential: string;
    ephemeral: string;
    ephemeralOwnedBySession: boolean;
    rootChildren: string[];
    multiCommitted: string[];
    multiData: string;
    multiFailed: string[];
    failedMultiCreatedNode: boolean;
    dataAfterFailedMulti: string;
    has35Api: boolean;
    has36Api: boolean;
    create2Path?: string;
    create2StatFilled?: boolean;
    create2StatMatchesExists?: boolean;
    containerPath?: string;
    ttlPath?: string;
    ttlNodeExistsAtOnce?: boolean;
    emptyContainerReaped?: boolean;
    expiredTtlReaped?: boolean;
    allChildrenNumber?: number;
    ephemerals?: string[];
    allEphemerals?: string[];
    existsWatchOnMissing: boolean;
    baseChildren: string[];
    seesTenantsNode: boolean;
  }

  const compiled = new Map<string, Promise<CompiledJava>>();
  afterAll(async () => {
    for (const classes of compiled.values()) (await classes.catch(() => undefined))?.cleanup();
  });
  const classesFor = (version: string): Promise<CompiledJava> => {
    // javac against the 3.4 API and up: the driver is one source for every version.
    if (!compiled.has(version)) {
      const release = needsLegacyJava(version) ? LEGACY_JAVA_RELEASE : undefined;
      compiled.set(
        version,
        compileJava(
          ['ZkClientMatrix.java', 'Json.java'].map((file) => join(CLIENTS_DIR, file)),
          mavenClasspath(`zookeeper-${version}`),
          release,
        ),
      );
    }
    return compiled.get(version)!;
  };

  for (const version of FULL ? ZOOKEEPER_CLIENTS : SHORT_CLIENTS) {
    const [major, minor] = version.split('.').map(Number) as [number, number];
    const has35 = major > 3 || minor >= 5;
    const has36 = major > 3 || minor >= 6;

    it(`${version}: connect (canBeReadOnly false/true), CRUD, multi, watches replayed on another replica${has35 ? ', create2, containers, TTL' : ''}${has36 ? ', addWatch persistent/recursive, getEphemerals, getAllChildrenNumber' : ''}`, async () => {
      const classes = await classesFor(version);
      const base = `/java-${version}`;
      const result = await runAcrossReplicaKill<JavaClientResult>(
        (servers) => ({ executable: javaFor(version), args: javaArguments(classes, 'ZkClientMatrix', [servers, base]) }),
        `ZkClientMatrix ${version}`,
      );
      expect(result.clientVersion).toBe(version);

      // Both connect forms get a normal read-write session (the ensemble has a quorum).
      expect(result.plainStates).toEqual(['SyncConnected']);
      expect(result.readOnlyCapableStates).toEqual(['SyncConnected']);

      expectCrud(result, base, { nodeExists: 'NODEEXISTS', badVersion: 'BADVERSION', noNode: 'NONODE' });
      expect(result).toMatchObject({ ephemeral: `${base}/eph`, ephemeralOwnedBySession: true, seesTenantsNode: false });
      expect(result.sequential).toMatch(new RegExp(`^${base}/seq-\\d{10}$`));
      expect(result.rootChildren).toContain(base.slice(1));
      expect(result.rootChildren).not.toContain('tenants');

      expect(result.multiCommitted.slice(0, 3)).toEqual([`create ${base}/txn`, 'setData version 1', 'CheckResult']);
      expect(result.multiCommitted[3]).toMatch(new RegExp(`^create ${base}/txn-seq-\\d{10}$`));
      expect(result.multiData).toBe('v1');
      // The last op (a check) fails: the ops before it report 0 (rolled back), the check -103 BADVERSION.
      expect(result.multiFailed).toEqual(['BADVERSION', '0', '0', '-103']);
      expect(result.failedMultiCreatedNode).toBe(false);
      expect(result.dataAfterFailedMulti).toBe('v1');

      expect(result.has35Api).toBe(has35);
      expect(result.has36Api).toBe(has36);
      if (has35) {
        expect(result.create2Path).toBe(`${base}/c2`);
        expect(result.create2StatFilled).toBe(true);
        expect(result.create2StatMatchesExists).toBe(true);
        expect(result.containerPath).toBe(`${base}/box`);
        expect(result.ttlPath).toBe(`${base}/ttl`);
        expect(result.ttlNodeExistsAtOnce).toBe(true);
        expect(result.emptyContainerReaped).toBe(true);
        expect(result.expiredTtlReaped).toBe(true);
      }
      if (has36) {
        expect(result.allChildrenNumber).toBe(3);
        // The calling session's ephemerals only (not the other session's other-eph), client-relative.
        expect(result.ephemerals).toEqual([`${base}/eph`]);
        expect(result.allEphemerals).toEqual([`${base}/eph`]);
      }

      // The session moved from the killed replica to the other one and kept its watches.
      expectMovedToOtherReplica(result, ['SyncConnected', 'Disconnected', 'SyncConnected']);
      expect(result.eventsBeforeChanges).toEqual([]);
      expect(result.existsWatchOnMissing).toBe(true);
      const oneShot = [`data NodeDataChanged ${base}/w`, `child NodeChildrenChanged ${base}/w`, `exist NodeCreated ${base}/absent`];
      const persistent = has36
        ? [
            `persistent NodeDataChanged ${base}/p`,
            `persistent NodeDataChanged ${base}/p`,
            `recursive NodeCreated ${base}/r/x`,
            `recursive NodeDataChanged ${base}/r/x`,
            `recursive NodeDeleted ${base}/r/x`,
          ]
        : [];
      expect(result.watchEvents).toEqual([...oneShot, ...persistent]);
      expect(result.dataAfterMove).toBe('again');

      // Server side: all of it under the tenant's root, nothing else.
      const serverBase = `/tenants/${TENANT}${base}`;
      expect(await tree.children(serverBase)).toEqual(result.baseChildren.filter((name) => name !== 'eph'));
      expect((await tree.data(`${serverBase}/txn`))?.toString()).toBe('v1');
      expect(await tree.exists(base)).toBe(false);
    }, 120_000);
  }
});

describe('Apache Curator as Flink shades it (4.2.0 on ZooKeeper 3.4.14, 5.2.0 on 3.5.10) and the newest (5.9.0 on 3.9.5)', () => {
  interface CuratorRecipesResult {
    selectorTurnsFinished: boolean;
    selectorMaxConcurrentLeaders: number;
    selectorParticipants: string[];
    selectorOrder: string[];
    selectorNodesAfterClose: number;
    curatorCacheRan: boolean;
    curatorCacheIsPersistentWatch?: boolean;
    curatorCacheEvents?: string[];
    curatorCacheDataOfA?: string;
    curatorCacheHasDeep?: boolean;
  }

  const CURATORS = [
    { curator: '4.2.0', zookeeper: '3.4.14', inShortForm: true },
    { curator: '5.2.0', zookeeper: '3.5.10', inShortForm: true },
    { curator: '5.9.0', zookeeper: '3.9.5', inShortForm: false },
  ] as const;

  // `./zkp test`: the two Flink shades; the newest only in the full matrix.
  for (const { curator, zookeeper } of CURATORS.filter((entry) => FULL || entry.inShortForm)) {
    const curator5 = curator.startsWith('5.');
    it(`${curator}: LeaderLatch, TreeCache, SharedCount, transactions, LeaderSelector${curator5 ? ', CuratorCache' : ''}`, async () => {
      const sources = ['CuratorWorkload.java', 'CuratorRecipes.java', 'Json.java', ...(curator5 ? ['CuratorCacheRecipe.java'] : [])].map(
        (file) => join(CLIENTS_DIR, file),
      );
      const classes = await compileJava(
        sources,
        mavenClasspath(`curator-${curator}`),
        needsLegacyJava(zookeeper) ? LEGACY_JAVA_RELEASE : undefined,
      );
      try {
        await ensureTwoReplicas();
        const servers = connectString();
        const base = `/curator-${curator}`;
        const java = javaFor(zookeeper);
        const [workload, recipes] = [
          await runProcess(java, javaArguments(classes, 'CuratorWorkload', [servers, base]), { timeoutMs: 100_000 }),
          await runProcess(java, javaArguments(classes, 'CuratorRecipes', [servers, `${base}-recipes`]), { timeoutMs: 100_000 }),
        ];
        const workloadResult = resultLine<CuratorWorkloadResult>(expectSuccess(`CuratorWorkload ${curator}`, workload));
        await expectCuratorWorkload(workloadResult, tree, `/tenants/${TENANT}`, base, { leaderParentReaped: curator5 });

        const result = resultLine<CuratorRecipesResult>(expectSuccess(`CuratorRecipes ${curator}`, recipes));
        // LeaderSelector: four turns, taken one at a time, by both participants.
        expect(result.selectorTurnsFinished).toBe(true);
        expect(result.selectorMaxConcurrentLeaders).toBe(1);
        expect(result.selectorParticipants).toEqual(['selector-1', 'selector-2']);
        expect(result.selectorOrder).toHaveLength(4);
        expect(new Set(result.selectorOrder)).toEqual(new Set(['selector-1', 'selector-2']));
        expect(result.selectorNodesAfterClose).toBe(0);

        expect(result.curatorCacheRan).toBe(curator5);
        if (curator5) {
          // On a 3.6+ client the bridge is the real CuratorCache on addWatch(PERSISTENT_RECURSIVE).
          expect(result.curatorCacheIsPersistentWatch).toBe(zookeeper !== '3.5.10');
          expectInOrder(result.curatorCacheEvents!, [
            `CREATED ${base}-recipes/cache/a=1`,
            `CHANGED ${base}-recipes/cache/a=2`,
            `CREATED ${base}-recipes/cache/a/deep=d`,
            `DELETED ${base}-recipes/cache/a/deep`,
          ]);
          expect(result.curatorCacheDataOfA).toBe('2');
          expect(result.curatorCacheHasDeep).toBe(false);
        }
        // Curator 5 makes the selector's parent a container: the server reaps it once the selectors are gone.
        const recipesBase = `/tenants/${TENANT}${base}-recipes`;
        if (curator5) {
          await pollUntil(async () => ((await tree.exists(`${recipesBase}/selector`)) ? undefined : true), {
            deadline: Date.now() + 30_000,
            intervalMs: 200,
            description: `the empty container ${recipesBase}/selector to be reaped`,
          });
        }
        expect(await tree.children(recipesBase)).toEqual(curator5 ? ['cache'] : ['selector']);
      } finally {
        classes.cleanup();
      }
    }, 150_000);
  }
});

describe('kazoo (Debian 2.8 and the newest from PyPI, 2.11) through two proxy replicas', () => {
  interface KazooMatrixResult extends CrudResult, MoveResult {
    kazooVersion: string;
    plainConnected: string;
    readOnlyCapableConnected: string;
    readOnlyCapableClientState: string;
    hasIncludeData: boolean;
    create2Path?: string;
    create2StatMatchesExists?: boolean;
    txnCommitted: unknown[];
    txnFailed: string[];
    txnNeverExists: boolean;
    dataWatchValues: string[];
    childrenWatchValues: string[][];
    rootChildren: string[];
    baseChildren: string[];
  }

  const KAZOOS = [
    { version: '2.8.0', python: () => DEBIAN_PYTHON },
    { version: '2.11.0', python: venvPython },
  ];

  for (const { version, python } of KAZOOS) {
    it(`${version}: connect (read_only false/true), CRUD, create2, transactions, DataWatch/ChildrenWatch across a replica kill`, async () => {
      const base = `/kazoo-${version}`;
      const result = await runAcrossReplicaKill<KazooMatrixResult>(
        (servers) => ({ executable: python(), args: ['-u', join(CLIENTS_DIR, 'kazoo_matrix.py'), servers, base] }),
        `kazoo_matrix.py ${version}`,
      );
      expect(result.kazooVersion).toBe(version);
      // With a quorum behind the proxy, read_only=True still gets a read-write session.
      expect(result).toMatchObject({
        plainConnected: 'CONNECTED',
        readOnlyCapableConnected: 'CONNECTED',
        readOnlyCapableClientState: 'CONNECTED',
      });
      expectCrud(result, base, { nodeExists: 'NodeExistsError', badVersion: 'BadVersionError', noNode: 'NoNodeError' });
      if (result.hasIncludeData) {
        expect(result.create2Path).toBe(`${base}/c2`);
        expect(result.create2StatMatchesExists).toBe(true);
      }
      expect(result.txnCommitted).toEqual([`${base}/txn`, 'ZnodeStat', true]);
      expect(result.txnFailed).toEqual(['RolledBackError', 'BadVersionError']);
      expect(result.txnNeverExists).toBe(false);

      expectMovedToOtherReplica(result, ['CONNECTED', 'SUSPENDED', 'CONNECTED']);
      // kazoo's own design: one-shot watches get one NONE event on the connection loss and are
      // dropped (kazoo sends no SetWatches), so nothing after the move reaches them.
      for (const event of result.eventsBeforeChanges) expect(event).toMatch(/^(child|data|exist) NONE None$/);
      expect([...result.watchEvents].sort()).toEqual(['child NONE None', 'data NONE None', 'exist NONE None']);
      // Its recipes set their watches again on the new replica and see every later change.
      expectInOrder(result.dataWatchValues, ['before', 'after', 'again']);
      expect(result.dataWatchValues.at(-1)).toBe('again');
      expect(result.childrenWatchValues[0]).toEqual([]);
      expect(result.childrenWatchValues.at(-1)).toEqual(['child']);
      expect(result.dataAfterMove).toBe('again');
      expect(result.rootChildren).toContain(base.slice(1));
      expect(result.rootChildren).not.toContain('tenants');
      expect(await tree.children(`/tenants/${TENANT}${base}`)).toEqual(result.baseChildren);
      expect(await tree.exists(base)).toBe(false);
    }, 120_000);
  }
});
