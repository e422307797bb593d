/**
 * Tenant roots on the ensemble are made by whichever replica serves a tenant first; every other
 * replica (or a restarted one, or another worker) finds the root existing and checks its ACL.
 * Without a platform admin identity, only the tenant's own identity can read that ACL: a second
 * replica must still serve the tenant.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, OpCode, Perms } from 'jute-ts';
import { JuteClient } from 'jute-ts/client';
import { LocalEnsemble } from '../src/embedded/ensemble.ts';
import { tenantSecrets } from '../src/tenancy/credentials.ts';
import { startInProcessProxy, TEST_SECRET, type InProcessProxy } from './support/proxy.ts';
import { ServerTree } from './support/server-tree.ts';

const OPEN = [{ perms: Perms.ALL, id: { scheme: 'world', id: 'anyone' } }];
let ensemble: LocalEnsemble;
let tree: ServerTree;
const proxies: InProcessProxy[] = [];

beforeAll(async () => {
  ensemble = await LocalEnsemble.start({ size: 1 });
  tree = await ServerTree.open(ensemble);
}, 60_000);

afterAll(async () => {
  for (const proxy of proxies) await proxy.close();
  await tree?.close().catch(() => {});
  await ensemble?.close();
});

describe('tenant roots without a platform admin identity', () => {
  it("a second replica serves a tenant whose root the first one made, and the root stays the tenant's alone", async () => {
    const noAdmin = { security: { secret: TEST_SECRET } };
    const first = await startInProcessProxy(ensemble.connectString(), [{ name: 'solo' }], noAdmin);
    proxies.push(first);
    const a = await JuteClient.connect({ host: '127.0.0.1', port: first.port('solo'), sessionTimeoutMs: 10_000 });
    await a.call(OpCode.create, { path: '/made-by-first', data: Buffer.from('1'), acl: OPEN, flags: 0 });
    await a.close();

    const second = await startInProcessProxy(ensemble.connectString(), [{ name: 'solo' }], noAdmin);
    proxies.push(second);
    const b = await JuteClient.connect({ host: '127.0.0.1', port: second.port('solo'), sessionTimeoutMs: 10_000 });
    try {
      const reply = await b.request(OpCode.getData, { path: '/made-by-first', watch: false });
      expect(reply.err).toBe(ErrorCode.OK);
      expect((reply.body!.data as Buffer).toString()).toBe('1');
    } finally {
      await b.close();
    }
    const identity = tenantSecrets(Buffer.from(TEST_SECRET), 'solo').identity;
    expect((await tree.acl('/tenants/solo')).map((entry) => (entry.id as { id: string }).id)).toEqual([identity.id]);
  });
});
