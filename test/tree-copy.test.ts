/**
 * The mover's core (src/migration/) between two real ZooKeeper servers: the first copy of a
 * tenant's tree, a copy run again over an interrupted one, catch-up passes while a real client
 * keeps writing to the source, and sequence numbers that continue on the target.
 */
import { randomBytes } from 'node:crypto';
import zookeeper from 'node-zookeeper-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateMode, OpCode, Perms } from 'jute-ts';
import type { JuteClient } from 'jute-ts/client';
import { LocalEnsemble } from '../src/embedded/ensemble.ts';
import { applyQuota } from '../src/ensemble-admin/quota.ts';
import { copyTree } from '../src/migration/copy-tree.ts';
import { syncPass } from '../src/migration/sync-pass.ts';
import { verify } from '../src/migration/verify.ts';
import { statOf } from '../src/migration/znode.ts';
import { digestIdentity } from '../src/tenancy/credentials.ts';
import { adminSession, createParents, createWideTree, WORLD_ACL } from './support/tenant-tree.ts';
import { connectClient, type TestClient } from './support/zookeeper-client.ts';

let sourceEnsemble: LocalEnsemble;
let targetEnsemble: LocalEnsemble;
let source: JuteClient;
let target: JuteClient;

beforeAll(async () => {
  [sourceEnsemble, targetEnsemble] = await Promise.all([LocalEnsemble.start({ size: 1 }), LocalEnsemble.start({ size: 1 })]);
  [source, target] = await Promise.all([adminSession(sourceEnsemble), adminSession(targetEnsemble)]);
}, 90_000);

afterAll(async () => {
  await Promise.all([source?.close(), target?.close()]);
  await Promise.all([sourceEnsemble?.close(), targetEnsemble?.close()]);
});

const tenantId = digestIdentity('zkproxy-tenant-acme', 'tenant-secret');
const clientId = digestIdentity('alice', 'alice-secret');
const digestAcl = (id: string, perms: number) => ({ perms, id: { scheme: 'digest', id } });

async function create(client: JuteClient, path: string, data: Buffer | null, flags: number = CreateMode.PERSISTENT, acl = WORLD_ACL) {
  const opcode =
    flags === CreateMode.CONTAINER ? OpCode.createContainer : flags === CreateMode.PERSISTENT_WITH_TTL ? OpCode.createTTL : OpCode.create;
  const reply = await client.call(opcode, { path, data, acl, flags, ...(opcode === OpCode.createTTL ? { ttl: 3_600_000n } : {}) });
  return reply.body!.path as string;
}

/** Creates and deletes `count` sequential children of `parent`: its cversion rises by 2 x count. */
async function churnSequentials(client: JuteClient, parent: string, count: number): Promise<string> {
  let last = '';
  for (let i = 0; i < count; i += 500) {
    const names = await Promise.all(
      Array.from({ length: Math.min(500, count - i) }, () => create(client, `${parent}/item-`, null, CreateMode.PERSISTENT_SEQUENTIAL)),
    );
    await Promise.all(names.map((path) => client.call(OpCode.delete, { path, version: -1 })));
    last = names.at(-1)!;
  }
  return last;
}

const sequenceOf = (path: string) => Number(path.slice(-10));

describe('copyTree', () => {
  it('copies data, digest and world ACLs, sequential names, deep paths, containers and TTL nodes (as persistent ones) and 1 MB of binary data, and skips ephemerals and the quota znodes', async () => {
    const root = '/tenants/acme';
    await createParents(source, '/tenants');
    await create(source, root, Buffer.from('root'), CreateMode.PERSISTENT, [digestAcl(tenantId.id, Perms.ALL)]);
    await create(source, `${root}/open`, Buffer.from('world'));
    await create(source, `${root}/alice-only`, Buffer.from('r'), CreateMode.PERSISTENT, [
      digestAcl(clientId.id, Perms.READ | Perms.WRITE),
      digestAcl(tenantId.id, Perms.ALL),
    ]);
    let deep = `${root}/deep`;
    for (let level = 0; level < 40; level++, deep += `/level-${level}`) await create(source, deep, Buffer.from(`${level}`));
    await create(source, `${root}/seq`, null);
    const sequentials = [];
    for (let i = 0; i < 5; i++)
      sequentials.push(await create(source, `${root}/seq/job-`, Buffer.from(`${i}`), CreateMode.PERSISTENT_SEQUENTIAL));
    const binary = randomBytes(1_000_000);
    await create(source, `${root}/binary`, binary);
    await create(source, `${root}/empty`, null);
    await create(source, `${root}/container`, null, CreateMode.CONTAINER);
    await create(source, `${root}/container/member`, Buffer.from('m'));
    await create(source, `${root}/ttl`, Buffer.from('t'), CreateMode.PERSISTENT_WITH_TTL);
    await create(source, `${root}/open/ephemeral`, Buffer.from('e'), CreateMode.EPHEMERAL);
    await create(source, `${root}/seq/lock-`, null, CreateMode.EPHEMERAL_SEQUENTIAL);
    await applyQuota(source, root, { maxZnodes: 1000, maxBytes: 0 });

    const result = await copyTree(source, target, root);

    expect(await verify(source, target, root)).toEqual([]);
    expect(result.counts.ephemeralsSkipped).toBe(2);
    // root, open, alice-only, 40 deep levels, seq and its 5 children, binary, empty, container, its member, ttl
    expect(result.counts.created).toBe(3 + 40 + 6 + 5);
    expect(result.ledger.size).toBe(result.counts.created);
    expect(await statOf(target, `${root}/open/ephemeral`)).toBeUndefined();
    expect((await target.call(OpCode.getChildren, { path: `${root}/seq`, watch: false })).body!.children).toEqual(
      expect.arrayContaining(sequentials.map((path) => path.split('/').at(-1))),
    );
    expect(((await target.call(OpCode.getData, { path: `${root}/binary`, watch: false })).body!.data as Buffer).equals(binary)).toBe(true);
    expect((await target.call(OpCode.getACL, { path: `${root}/alice-only` })).body!.acl).toEqual([
      digestAcl(clientId.id, Perms.READ | Perms.WRITE),
      digestAcl(tenantId.id, Perms.ALL),
    ]);
    // ZooKeeper shows containers and TTL nodes to clients as persistent nodes: copied as such.
    expect((await target.call(OpCode.getChildren, { path: `${root}/container`, watch: false })).body!.children).toEqual(['member']);
    expect(((await target.call(OpCode.getData, { path: `${root}/ttl`, watch: false })).body!.data as Buffer).toString()).toBe('t');
    expect(await statOf(target, `${deep.slice(0, deep.lastIndexOf('/'))}`)).toBeDefined();
    expect(await statOf(target, `/zookeeper/quota${root}`)).toBeUndefined();
  });

  it('run again after a copy aborted halfway (and a target changed meanwhile), converges: missing nodes created, stale ones corrected or deleted', async () => {
    const root = '/tenants/interrupted';
    await createParents(source, root);
    await createWideTree(source, root, 2000);
    const abort = new AbortController();
    const first = copyTree(source, target, root, {
      signal: abort.signal,
      onProgress: (counts) => counts.created >= 1000 && abort.abort(new Error('mover killed')),
    });
    await expect(first).rejects.toThrow('mover killed');
    const partial = await verify(source, target, root);
    expect(partial.filter((difference) => difference.kind === 'missing').length).toBeGreaterThan(0);
    await target.call(OpCode.setData, { path: `${root}/g0/n1`, data: Buffer.from('stale'), version: -1 });
    await target.call(OpCode.setACL, { path: `${root}/g0/n2`, acl: [digestAcl(clientId.id, Perms.READ)], version: -1 });
    await create(target, `${root}/g0/n1/only-on-target`, null);
    await create(target, `${root}/only-on-target`, null);
    await create(target, `${root}/only-on-target/child`, null);

    const found = await verify(source, target, root);
    expect(found).toEqual(
      expect.arrayContaining([
        { path: `${root}/g0/n1`, kind: 'data', detail: expect.any(String) },
        { path: `${root}/g0/n2`, kind: 'acl', detail: expect.any(String) },
        { path: `${root}/g0/n1/only-on-target`, kind: 'extra', detail: 'not on the source' },
        { path: `${root}/only-on-target`, kind: 'extra', detail: 'not on the source' },
      ]),
    );

    const second = await copyTree(source, target, root);

    expect(await verify(source, target, root)).toEqual([]);
    expect(second.counts.created).toBeGreaterThan(0);
    expect(second.counts.created).toBeLessThan(2001 - 1000 + 1);
    expect(second.counts).toMatchObject({ dataSet: 1, aclSet: 1, deleted: 3 });
    expect(second.ledger.size).toBe(2001);
  });

  it('a copy whose sessions die mid-way (as with kill -9 of the mover) converges when run again over new sessions', async () => {
    const root = '/tenants/killed';
    await createParents(source, root);
    await createWideTree(source, root, 1500);
    const [doomedSource, doomedTarget] = await Promise.all([adminSession(sourceEnsemble), adminSession(targetEnsemble)]);
    const first = copyTree(doomedSource, doomedTarget, root, {
      onProgress: (counts) => {
        if (counts.created >= 700) [doomedSource, doomedTarget].forEach((client) => client.destroy('mover killed'));
      },
    });
    await expect(first).rejects.toThrow('mover killed');
    expect((await verify(source, target, root)).length).toBeGreaterThan(0);

    const again = await copyTree(source, target, root);

    expect(await verify(source, target, root)).toEqual([]);
    expect(again.ledger.size).toBe(1501);
  });
});

describe('syncPass', () => {
  /** A real client writing to the source as a tenant's application would, until stopped. */
  async function writer(client: TestClient, root: string, known: string[], stop: { now: boolean }): Promise<number> {
    let ops = 0;
    let serial = 0;
    const pick = () => known[Math.floor(Math.random() * known.length)]!;
    while (!stop.now) {
      const roll = Math.random();
      try {
        if (roll < 0.3) known.push(await client.create(`${pick()}/w${serial++}`, Buffer.from(`new ${serial}`)));
        else if (roll < 0.4) await client.create(`${root}/g0/seq-`, Buffer.from('s'), zookeeper.CreateMode.PERSISTENT_SEQUENTIAL);
        else if (roll < 0.45) await client.create(`${pick()}/eph${serial++}`, null as never, zookeeper.CreateMode.EPHEMERAL);
        else if (roll < 0.75) await client.setData(pick(), randomBytes(Math.floor(Math.random() * 2000)));
        else if (roll < 0.8) {
          const path = pick();
          await new Promise<void>((resolve, reject) =>
            client.raw.setACL(path, [new zookeeper.ACL(zookeeper.Permission.ALL, new zookeeper.Id('digest', clientId.id))], (error) =>
              error ? reject(error) : resolve(),
            ),
          );
        } else {
          const path = pick();
          if (path.split('/').length > 4) {
            await client.remove(path);
            known.splice(known.indexOf(path), 1);
          }
        }
        ops++;
      } catch {
        // NODEEXISTS / NOTEMPTY / NONODE (an ephemeral's parent, a parent with children): try another.
      }
    }
    return ops;
  }

  it('passes run while a node-zookeeper-client writes creates, sets, ACLs and deletes; after it stops, one final pass makes verify() empty', async () => {
    const root = '/tenants/busy';
    await createParents(source, root);
    const known = (await createWideTree(source, root, 1000)).filter((path) => path.split('/').length > 3);
    const { ledger } = await copyTree(source, target, root);
    const client = await connectClient(sourceEnsemble.connectString(), { digestAuth: sourceEnsemble.superAuth });
    const stop = { now: false };
    const writing = writer(client, root, known, stop);
    const passes = [];
    try {
      const until = Date.now() + 3000;
      while (Date.now() < until) passes.push(await syncPass(source, target, ledger));
    } finally {
      stop.now = true;
    }
    const written = await writing;
    const final = await syncPass(source, target, ledger);
    const differences = await verify(source, target, root);
    // Once the writer stopped, a further pass finds nothing to do (its ephemerals still there).
    const idle = await syncPass(source, target, ledger);
    client.close();

    expect(written).toBeGreaterThan(100);
    expect(passes.length).toBeGreaterThan(1);
    expect(passes.reduce((sum, pass) => sum + pass.changed, 0)).toBeGreaterThan(0);
    expect(differences).toEqual([]);
    expect(final.nodes).toBe(ledger.size);
    expect(idle.changed).toBe(0);
  });
});

describe('cversion continuity', () => {
  it('a sequential child created on the target after the copy, and after a sync pass, is numbered above the last one the source handed out; verify() reports a target cversion left behind', async () => {
    const root = '/tenants/queues';
    await createParents(source, `${root}/queue`);
    await create(source, `${root}/queue/keep`, null);
    const lastBeforeCopy = await churnSequentials(source, `${root}/queue`, 3000);
    const { ledger, counts } = await copyTree(source, target, root);
    expect(counts.cversionMultis).toBeGreaterThan(1);
    const onTarget = await create(target, `${root}/queue/item-`, null, CreateMode.PERSISTENT_SEQUENTIAL);
    expect(sequenceOf(onTarget)).toBeGreaterThan(sequenceOf(lastBeforeCopy));
    await target.call(OpCode.delete, { path: onTarget, version: -1 });

    const lastBeforeSync = await churnSequentials(source, `${root}/queue`, 700);
    expect(await verify(source, target, root)).toEqual([{ path: `${root}/queue`, kind: 'cversion', detail: expect.any(String) }]);
    await syncPass(source, target, ledger);
    const afterSync = await create(target, `${root}/queue/item-`, null, CreateMode.PERSISTENT_SEQUENTIAL);
    expect(sequenceOf(afterSync)).toBeGreaterThan(sequenceOf(lastBeforeSync));
    await target.call(OpCode.delete, { path: afterSync, version: -1 });
    expect(await verify(source, target, root)).toEqual([]);
  });
});
