/**
 * Real, unmodified client libraries (Apache Curator 5.4 on the ZooKeeper 3.8 Java client, kazoo,
 * node-zookeeper-client) run their usual recipes through the proxy against a real 3-member
 * ensemble. Each workload then gets checked from the server side, over a direct session: its nodes
 * must be under its tenant's chroot, and nothing may have appeared outside /tenants.
 *
 * The Java and Python programs run as asynchronous child processes: the proxy is in-process and
 * shares this event loop.
 */
import { join } from 'node:path';
import zookeeper from 'node-zookeeper-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalEnsemble } from '../src/embedded/ensemble.ts';
import { compileJava, runJava, type CompiledJava } from './support/java.ts';
import { startInProcessProxy, type InProcessProxy } from './support/proxy.ts';
import { expectSuccess, resultLine, runProcess } from './support/run-process.ts';
import { expectCuratorWorkload, type CuratorWorkloadResult } from './support/curator-workload.ts';
import { ServerTree } from './support/server-tree.ts';
import { connectClient, type TestClient } from './support/zookeeper-client.ts';

const CLIENTS_DIR = join(import.meta.dirname, 'clients');

let ensemble: LocalEnsemble | undefined;
let proxy: InProcessProxy | undefined;
let tree: ServerTree;
let curatorClasses: CompiledJava | undefined;
/** Root children before any tenant client ran (other than /zookeeper and /tenants). */
let rootBefore: string[];

beforeAll(async () => {
  // javac runs while the JVMs start; neither needs the other.
  const compiling = compileJava([join(CLIENTS_DIR, 'CuratorWorkload.java'), join(CLIENTS_DIR, 'Json.java')]);
  compiling.catch(() => {}); // awaited below; no unhandled rejection while the ensemble starts
  ensemble = await LocalEnsemble.start({ size: 3 });
  curatorClasses = await compiling;
  proxy = await startInProcessProxy(ensemble.connectString(), [{ name: 'alpha' }, { name: 'beta' }]);
  tree = await ServerTree.open(ensemble);
  rootBefore = await tree.foreignRootChildren();
}, 150_000);

afterAll(async () => {
  await tree?.close().catch(() => {});
  await proxy?.close();
  await ensemble?.close();
  curatorClasses?.cleanup();
});

/** Nothing a tenant client did may show up at the ensemble's root (besides /tenants itself). */
async function expectNothingOutsideTenants(): Promise<void> {
  expect(await tree.foreignRootChildren()).toEqual(rootBefore);
  // Tenant roots are created on a tenant's first connection: only configured tenants may be there.
  for (const name of (await tree.children('/tenants')) ?? []) expect(['alpha', 'beta']).toContain(name);
}

describe('Apache Curator 5.4 (Java) through the proxy', () => {
  it('runs LeaderLatch, TreeCache, SharedCount and transactions inside tenant alpha', async () => {
    const run = expectSuccess(
      'CuratorWorkload',
      await runJava(curatorClasses!, 'CuratorWorkload', [proxy!.address('alpha'), '/curator'], { timeoutMs: 100_000 }),
    );
    const result = resultLine<CuratorWorkloadResult>(run);
    await expectCuratorWorkload(result, tree, '/tenants/alpha', '/curator');

    // The tenant's "/" is exactly /tenants/alpha; beta got nothing.
    expect([...result.rootChildren].sort()).toEqual(await tree.children('/tenants/alpha'));
    expect(await tree.exists('/tenants/beta/curator')).toBe(false);
    await expectNothingOutsideTenants();
  }, 120_000);
});

describe('kazoo (Python) through the proxy', () => {
  interface WatchEvent {
    type: string;
    path: string;
    state: string;
  }
  interface KazooResult {
    ensurePathExists: boolean;
    crud: Record<string, unknown>;
    sequential: string[];
    ephemeral: string;
    ephemeralSequential: string;
    ephemeralOwnerIsOther: boolean;
    dataWatchEvent: WatchEvent;
    childWatchEvent: WatchEvent;
    lock: { acquiredA: boolean; contendersWhileHeld: string[]; bAcquiredWhileAHeld: boolean; order: string[]; lockNodesAfter: string[] };
    txn: { committed: unknown[]; data: string; failed: string[]; failedCreatedNode: boolean };
    rootChildren: string[];
    baseChildren: string[];
    seesTenantsNode: boolean;
    ephemeralDeletedEvent: WatchEvent;
    ephemeralsGoneWithSession: boolean;
  }

  it('runs CRUD, sequential/ephemeral nodes, watches, a Lock and transactions inside tenant beta', async () => {
    const run = expectSuccess(
      'kazoo_workload.py',
      await runProcess('/usr/bin/python3', ['-u', join(CLIENTS_DIR, 'kazoo_workload.py'), proxy!.address('beta'), '/kazoo'], {
        timeoutMs: 100_000,
      }),
    );
    const result = resultLine<KazooResult>(run);

    expect(result.ensurePathExists).toBe(true);
    expect(result.crud).toEqual({
      created: '/kazoo/node',
      data: 'one',
      version: 0,
      dataAfterSet: 'two',
      versionAfterSet: 1,
      duplicateCreate: 'NodeExistsError',
      existsAfterDelete: false,
    });
    expect(result.sequential).toEqual(['/kazoo/seq/item-0000000000', '/kazoo/seq/item-0000000001', '/kazoo/seq/item-0000000002']);
    expect(result.ephemeral).toBe('/kazoo/eph');
    expect(result.ephemeralSequential).toMatch(/^\/kazoo\/eph-seq-\d{10}$/);
    expect(result.ephemeralOwnerIsOther).toBe(true);

    // Watch events carry client-relative paths.
    expect(result.dataWatchEvent).toEqual({ type: 'CHANGED', path: '/kazoo/watched', state: 'CONNECTED' });
    expect(result.childWatchEvent).toEqual({ type: 'CHILD', path: '/kazoo/parent', state: 'CONNECTED' });
    expect(result.ephemeralDeletedEvent).toEqual({ type: 'DELETED', path: '/kazoo/eph', state: 'CONNECTED' });
    expect(result.ephemeralsGoneWithSession).toBe(true);

    // Lock: the second session waits until the first releases.
    expect(result.lock).toEqual({
      acquiredA: true,
      contendersWhileHeld: ['holder-a', 'holder-b'],
      bAcquiredWhileAHeld: false,
      order: ['a-acquired', 'a-releasing', 'b-acquired', 'b-released'],
      lockNodesAfter: [],
    });

    // Transactions: results mapped back per op; a failed check rolls everything back.
    expect(result.txn.committed.slice(0, 3)).toEqual(['/kazoo/txn', 'stat version 1', true]);
    expect(result.txn.committed[3]).toMatch(/^\/kazoo\/txn-seq-\d{10}$/);
    expect(result.txn.data).toBe('v1');
    expect(result.txn.failed).toEqual(['RolledBackError', 'RolledBackError', 'BadVersionError']);
    expect(result.txn.failedCreatedNode).toBe(false);

    // get_children('/') is the tenant root: only beta's own nodes.
    expect(result.seesTenantsNode).toBe(false);
    expect(result.rootChildren).toEqual(await tree.children('/tenants/beta'));
    expect(result.rootChildren).toContain('kazoo');
    expect(result.rootChildren).not.toContain('curator');

    // Server side: under /tenants/beta, nowhere else.
    const seqNode = (result.txn.committed[3] as string).slice('/kazoo/'.length);
    const ephemeralSequential = result.ephemeralSequential.slice('/kazoo/'.length);
    const persistent = ['deep', 'lock', 'parent', 'seq', 'txn', seqNode, 'watched'];
    expect(result.baseChildren).toEqual([...persistent, 'eph', ephemeralSequential].sort());
    // The ephemerals went with the session that owned them.
    expect(await tree.children('/tenants/beta/kazoo')).toEqual(persistent.sort());
    expect(await tree.children('/tenants/beta/kazoo/seq')).toEqual(['item-0000000000', 'item-0000000001', 'item-0000000002']);
    expect(await tree.exists('/tenants/beta/kazoo/deep/er/path')).toBe(true);
    expect(await tree.children('/tenants/beta/kazoo/parent')).toEqual(['child']);
    expect((await tree.data('/tenants/beta/kazoo/txn'))?.toString()).toBe('v1');
    expect((await tree.data('/tenants/beta/kazoo/watched'))?.toString()).toBe('after');
    expect(await tree.exists('/tenants/beta/kazoo/eph')).toBe(false); // its session closed
    expect(await tree.exists('/kazoo')).toBe(false);
    expect(await tree.exists('/tenants/alpha/kazoo')).toBe(false);
    await expectNothingOutsideTenants();
  }, 120_000);
});

describe('node-zookeeper-client through the proxy', () => {
  type Event = { name: string; path: string };
  const watcher = (into: (event: Event) => void) => (event: zookeeper.Event) => into({ name: event.getName(), path: event.getPath() });
  const nextEvent = () => {
    let deliver!: (event: Event) => void;
    const promise = new Promise<Event>((resolve) => (deliver = resolve));
    return { promise, deliver };
  };
  const commit = (transaction: zookeeper.Transaction) =>
    new Promise<{ error: zookeeper.Exception | Error | null; results: Array<{ type: number; path?: string; err?: number }> }>((resolve) =>
      transaction.commit((error, results) => resolve({ error, results })),
    );

  it('creates, reads, watches, runs transactions and removes inside tenant alpha', async () => {
    const clients: TestClient[] = [];
    try {
      const client = await connectClient(proxy!.address('alpha'));
      clients.push(client);
      const other = await connectClient(proxy!.address('alpha'));
      clients.push(other);
      const raw = client.raw;

      expect(await client.create('/nzk', 'base')).toBe('/nzk');
      expect(await client.create('/nzk/a', 'x')).toBe('/nzk/a');
      expect((await client.getData('/nzk/a'))?.toString()).toBe('x');
      expect((await client.setData('/nzk/a', 'y')).version).toBe(1);
      expect((await client.getData('/nzk/a'))?.toString()).toBe('y');
      const sequential = await client.create('/nzk/seq-', '', zookeeper.CreateMode.PERSISTENT_SEQUENTIAL);
      expect(sequential).toMatch(/^\/nzk\/seq-\d{10}$/);

      // Watches fire with client-relative paths when the other session changes things.
      const created = nextEvent();
      const changed = nextEvent();
      const children = nextEvent();
      const existsStat = await new Promise<zookeeper.Stat | null>((resolve, reject) =>
        raw.exists('/nzk/b', watcher(created.deliver), (error, stat) => (error ? reject(error) : resolve(stat))),
      );
      expect(existsStat).toBeNull();
      await new Promise<void>((resolve, reject) =>
        raw.getData('/nzk/a', watcher(changed.deliver), (error) => (error ? reject(error) : resolve())),
      );
      const childList = await new Promise<string[]>((resolve, reject) =>
        raw.getChildren('/nzk', watcher(children.deliver), (error, names) => (error ? reject(error) : resolve(names))),
      );
      expect(childList.sort()).toEqual(['a', sequential.slice('/nzk/'.length)].sort());
      await other.create('/nzk/b', 'b');
      await other.setData('/nzk/a', 'z');
      expect(await created.promise).toEqual({ name: 'NODE_CREATED', path: '/nzk/b' });
      expect(await changed.promise).toEqual({ name: 'NODE_DATA_CHANGED', path: '/nzk/a' });
      expect(await children.promise).toEqual({ name: 'NODE_CHILDREN_CHANGED', path: '/nzk' });

      // A transaction: create + setData + check + remove, results mapped back.
      const ok = await commit(
        raw
          .transaction()
          .create('/nzk/t', Buffer.from('t'), zookeeper.ACL.OPEN_ACL_UNSAFE, zookeeper.CreateMode.PERSISTENT)
          .create('/nzk/tseq-', null, zookeeper.ACL.OPEN_ACL_UNSAFE, zookeeper.CreateMode.PERSISTENT_SEQUENTIAL)
          .setData('/nzk/a', Buffer.from('t1'), 2)
          .check('/nzk/a', 3)
          .remove('/nzk/b', 0),
      );
      expect(ok.error).toBeNull();
      expect(ok.results.map((result) => result.type)).toEqual([1, 1, 5, 13, 2]);
      expect(ok.results[0]!.path).toBe('/nzk/t');
      expect(ok.results[1]!.path).toMatch(/^\/nzk\/tseq-\d{10}$/);
      // And one that fails on a version check: nothing of it is applied.
      const failed = await commit(raw.transaction().create('/nzk/never', null).check('/nzk/a', 99));
      expect((failed.error as zookeeper.Exception | null)?.code).toBe(zookeeper.Exception.BAD_VERSION);
      expect(await client.exists('/nzk/never')).toBeNull();
      expect(await client.exists('/nzk/b')).toBeNull();
      expect((await client.getData('/nzk/a'))?.toString()).toBe('t1');

      // The tenant's root is its chroot.
      expect((await client.getChildren('/')).sort()).toEqual(await tree.children('/tenants/alpha'));
      expect(await client.exists('/tenants')).toBeNull();

      // Server side, before and after a remove.
      const tseq = ok.results[1]!.path!.slice('/nzk/'.length);
      expect(await tree.children('/tenants/alpha/nzk')).toEqual(['a', sequential.slice('/nzk/'.length), 't', tseq].sort());
      expect((await tree.data('/tenants/alpha/nzk/a'))?.toString()).toBe('t1');
      await client.remove('/nzk/t');
      expect(await client.exists('/nzk/t')).toBeNull();
      expect(await tree.exists('/tenants/alpha/nzk/t')).toBe(false);
      expect(await tree.exists('/nzk')).toBe(false);
      expect(await tree.exists('/tenants/beta/nzk')).toBe(false);
      await expectNothingOutsideTenants();
    } finally {
      for (const client of clients) client.close();
    }
  }, 90_000);
});
