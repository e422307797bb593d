/**
 * Tenants change while the proxy runs: from the registry znode in the ensemble (watched, so every
 * replica converges) and from the configuration file (SIGHUP or a change of the file). Checked on
 * a real ensemble: added tenants are served without a restart, changed limits apply to connections
 * already open, removed tenants' connections are closed, invalid updates are rejected whole, and
 * connections of unchanged tenants are never touched.
 */
import { writeFileSync, readFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, OpCode, Perms } from 'jute-ts';
import { JuteClient } from 'jute-ts/client';
import { serializeRegistry, type RegistryDocumentInput } from '../src/config/registry.ts';
import { LocalEnsemble } from '../src/embedded/ensemble.ts';
import { digestIdentity } from '../src/tenancy/credentials.ts';
import { metricValue, scrape, waitFor } from './support/limits.ts';
import { freePort } from './support/ports.ts';
import { spawnProxyProcess, startInProcessProxy, type InProcessProxy } from './support/proxy.ts';
import { ServerTree } from './support/server-tree.ts';

const REGISTRY = '/zkproxy/registry';

let ensemble: LocalEnsemble;
let tree: ServerTree;

beforeAll(async () => {
  ensemble = await LocalEnsemble.start({ size: 1 });
  tree = await ServerTree.open(ensemble);
}, 60_000);

afterAll(async () => {
  await tree?.close().catch(() => {});
  await ensemble?.close();
});

/** Writes the registry znode as the controller does (admin-only ACL). */
async function writeRegistry(
  document: RegistryDocumentInput,
  on: { ensemble: LocalEnsemble; tree: ServerTree } = { ensemble, tree },
): Promise<void> {
  const data = serializeRegistry(document);
  const { user, password } = on.ensemble.superAuth;
  const adminOnly = [{ perms: Perms.ALL, id: { scheme: 'digest', id: digestIdentity(user, password).id } }];
  await on.tree.client.request(OpCode.create, { path: '/zkproxy', data: null, acl: adminOnly, flags: 0 });
  const created = await on.tree.client.request(OpCode.create, { path: REGISTRY, data, acl: adminOnly, flags: 0 });
  if (created.err === ErrorCode.NODEEXISTS) await on.tree.client.call(OpCode.setData, { path: REGISTRY, data, version: -1 });
  else expect(created.err).toBe(ErrorCode.OK);
}

async function rawRegistryWrite(data: Buffer): Promise<void> {
  await tree.client.call(OpCode.setData, { path: REGISTRY, data, version: -1 });
}

function connect(port: number): Promise<JuteClient> {
  return JuteClient.connect({ host: '127.0.0.1', port, sessionTimeoutMs: 10_000, connectTimeoutMs: 3000 });
}

function hasTenant(proxy: InProcessProxy, name: string): boolean {
  return proxy.server.listenerAddresses().some((l) => l.tenant === name);
}

async function reloads(adminUrl: string, source: string, result: string): Promise<number> {
  return metricValue(await scrape(adminUrl), 'zkproxy_config_reloads_total', { source, result });
}

describe('tenant registry in the ensemble', () => {
  let proxy: InProcessProxy;
  let steady: JuteClient;
  let steadySession: bigint;

  beforeAll(async () => {
    proxy = await startInProcessProxy(ensemble.connectString(), [{ name: 'steady' }], { registry: { path: REGISTRY } });
    steady = await connect(proxy.port('steady'));
    steadySession = steady.sessionId;
    await steady.call(OpCode.create, {
      path: '/kept',
      data: Buffer.from('v1'),
      acl: [{ perms: Perms.ALL, id: { scheme: 'world', id: 'anyone' } }],
      flags: 0,
    });
  }, 60_000);

  afterAll(async () => {
    steady?.destroy();
    await proxy?.close();
  });

  /** The file tenant's connection survived every update: same session, still answering. */
  async function steadyUntouched(): Promise<void> {
    expect(steady.closed).toBe(false);
    expect(steady.sessionId).toBe(steadySession);
    const reply = await steady.call(OpCode.getData, { path: '/kept', watch: false });
    expect((reply.body!.data as Buffer).toString()).toBe('v1');
  }

  it('a tenant written to the registry is served without a restart, in its own chroot', async () => {
    expect(hasTenant(proxy, 'alpha')).toBe(false);
    await writeRegistry({ revision: 1, tenants: [{ name: 'alpha', listeners: ['127.0.0.1:0'] }] });
    await waitFor('alpha is served', () => hasTenant(proxy, 'alpha'), 15_000);
    const alpha = await connect(proxy.port('alpha'));
    try {
      await alpha.call(OpCode.create, {
        path: '/from-alpha',
        data: null,
        acl: [{ perms: Perms.ALL, id: { scheme: 'world', id: 'anyone' } }],
        flags: 0,
      });
      expect(await tree.exists('/tenants/alpha/from-alpha')).toBe(true);
      expect((await alpha.request(OpCode.exists, { path: '/kept', watch: false })).err).toBe(ErrorCode.NONODE);
    } finally {
      alpha.destroy();
    }
    await steadyUntouched();
    expect(await reloads(proxy.adminUrl, 'registry', 'applied')).toBeGreaterThanOrEqual(1);
  });

  it('a changed limit applies to a connection that is already open', async () => {
    const alpha = await connect(proxy.port('alpha'));
    try {
      for (const path of ['/w1', '/w2'])
        await alpha.call(OpCode.create, { path, data: null, acl: [{ perms: Perms.ALL, id: { scheme: 'world', id: 'anyone' } }], flags: 0 });
      expect((await alpha.request(OpCode.getData, { path: '/w1', watch: true })).err).toBe(ErrorCode.OK);
      await writeRegistry({ revision: 2, tenants: [{ name: 'alpha', listeners: ['127.0.0.1:0'], limits: { maxWatches: 1 } }] });
      await waitFor(
        'the new limit is in force',
        async () => metricValue(await scrape(proxy.adminUrl), 'zkproxy_tenant_limit', { tenant: 'alpha', limit: 'maxWatches' }) === 1,
        15_000,
      );
      // The same connection: its second watch is over the new limit.
      expect((await alpha.request(OpCode.getData, { path: '/w2', watch: true })).err).toBe(ErrorCode.QUOTAEXCEEDED);
      expect((await alpha.request(OpCode.getData, { path: '/w2', watch: false })).err).toBe(ErrorCode.OK);
      expect(alpha.closed).toBe(false);
    } finally {
      alpha.destroy();
    }
    await steadyUntouched();
  });

  it('an invalid registry is rejected whole; the last good one stays in force', async () => {
    const alphaPort = proxy.port('alpha');
    const rejectedBefore = await reloads(proxy.adminUrl, 'registry', 'rejected');
    // Valid JSON, but "steady" is the file's tenant: the whole document is refused, so the new
    // tenant "gamma" in it is not added either.
    await writeRegistry({
      revision: 3,
      tenants: [
        { name: 'gamma', listeners: ['127.0.0.1:0'] },
        { name: 'steady', listeners: ['127.0.0.1:0'] },
      ],
    });
    await waitFor(
      'the duplicate is rejected',
      async () => (await reloads(proxy.adminUrl, 'registry', 'rejected')) === rejectedBefore + 1,
      15_000,
    );
    await rawRegistryWrite(Buffer.from('{"tenants": [ not json'));
    await waitFor(
      'the garbage is rejected',
      async () => (await reloads(proxy.adminUrl, 'registry', 'rejected')) === rejectedBefore + 2,
      15_000,
    );
    expect(hasTenant(proxy, 'gamma')).toBe(false);
    expect(proxy.port('alpha')).toBe(alphaPort);
    const alpha = await connect(alphaPort);
    alpha.destroy();
    await steadyUntouched();
  });

  it('a tenant removed from the registry: its connections are closed and its listener is gone; others untouched', async () => {
    await writeRegistry({ revision: 4, tenants: [{ name: 'alpha', listeners: ['127.0.0.1:0'] }] });
    await waitFor(
      'alpha is back to the default limits',
      async () => metricValue(await scrape(proxy.adminUrl), 'zkproxy_tenant_limit', { tenant: 'alpha', limit: 'maxWatches' }) !== 1,
      15_000,
    );
    const alphaPort = proxy.port('alpha');
    const alpha = await connect(alphaPort);
    const closed = new Promise<string>((resolve) => alpha.once('close', resolve));
    await writeRegistry({ revision: 5, tenants: [] });
    await closed;
    expect(hasTenant(proxy, 'alpha')).toBe(false);
    await expect(connect(alphaPort)).rejects.toThrow();
    // The data stays on the ensemble: removing a tenant from a proxy deletes nothing.
    expect(await tree.exists('/tenants/alpha/from-alpha')).toBe(true);
    await steadyUntouched();
  });
});

describe('configuration file reload', () => {
  it('SIGHUP and file changes add, change and remove tenants; a bad file is rejected whole', async () => {
    const proxy = await spawnProxyProcess(ensemble.connectString(), [{ name: 'steady' }]);
    try {
      const steady = await connect(proxy.port('steady'));
      const session = steady.sessionId;
      const original = JSON.parse(readFileSync(proxy.configFile, 'utf8')) as { tenants: { name: string; listeners: string[] }[] };
      const betaPort = await freePort();
      const withBeta = { ...original, tenants: [...original.tenants, { name: 'beta', listeners: [`127.0.0.1:${betaPort}`] }] };

      // A change of the file is noticed by itself.
      writeFileSync(proxy.configFile, JSON.stringify(withBeta));
      await waitFor(
        'beta is served after the file changed',
        () =>
          connect(betaPort).then(
            (c) => (c.destroy(), true),
            () => false,
          ),
        15_000,
        200,
      );
      const beta = await connect(betaPort);
      await beta.call(OpCode.create, {
        path: '/from-beta',
        data: null,
        acl: [{ perms: Perms.ALL, id: { scheme: 'world', id: 'anyone' } }],
        flags: 0,
      });
      expect(await tree.exists('/tenants/beta/from-beta')).toBe(true);

      // An invalid file (unknown key) changes nothing, and says so.
      writeFileSync(proxy.configFile, JSON.stringify({ ...withBeta, tenants: [], typo: true }));
      await waitFor(
        'the bad file is rejected',
        () => proxy.logs.some((l) => l.includes('configuration update rejected') && l.includes('typo')),
        15_000,
        100,
      );
      expect(beta.closed).toBe(false);

      // SIGHUP re-reads the file: beta removed, its connection closed.
      const betaClosed = new Promise<string>((resolve) => beta.once('close', resolve));
      writeFileSync(proxy.configFile, JSON.stringify(original));
      proxy.kill('SIGHUP');
      await betaClosed;
      await waitFor(
        'beta is no longer served',
        () =>
          connect(betaPort).then(
            (c) => (c.destroy(), false),
            () => true,
          ),
        15_000,
        200,
      );

      expect(steady.closed).toBe(false);
      expect(steady.sessionId).toBe(session);
      expect((await steady.request(OpCode.exists, { path: '/', watch: false })).err).toBe(ErrorCode.OK);
      const metrics = await scrape(proxy.adminUrl);
      expect(metricValue(metrics, 'zkproxy_config_reloads_total', { source: 'file', result: 'applied' })).toBeGreaterThanOrEqual(2);
      expect(metricValue(metrics, 'zkproxy_config_reloads_total', { source: 'file', result: 'rejected' })).toBeGreaterThanOrEqual(1);
      steady.destroy();
    } finally {
      await proxy.close();
    }
  }, 90_000);
});

describe('the registry watch when the ensemble is away', () => {
  it("an unreachable ensemble does not hold the start-up back: the file's tenants are served", async () => {
    const nowhere = `127.0.0.1:${await freePort()}`;
    const proxy = await startInProcessProxy(nowhere, [{ name: 'early' }], { registry: { path: REGISTRY } });
    try {
      expect(hasTenant(proxy, 'early')).toBe(true);
      const connection = await new Promise<boolean>((resolve) => {
        const socket = createConnection({ host: '127.0.0.1', port: proxy.port('early') }, () => {
          socket.destroy();
          resolve(true);
        });
        socket.once('error', () => resolve(false));
      });
      expect(connection).toBe(true);
    } finally {
      await proxy.close();
    }
  }, 30_000);

  it('registry tenants stay served while the watch session is lost; a new session picks up later changes', async () => {
    const own = await LocalEnsemble.start({ size: 1 });
    const proxy = await startInProcessProxy(own.connectString(), [{ name: 'base' }], { registry: { path: REGISTRY } });
    const write = async (document: RegistryDocumentInput) => {
      const admin = await ServerTree.open(own);
      try {
        await writeRegistry(document, { ensemble: own, tree: admin });
      } finally {
        await admin.close();
      }
    };
    try {
      await write({ revision: 1, tenants: [{ name: 'alpha', listeners: ['127.0.0.1:0'] }] });
      await waitFor('alpha is served', () => hasTenant(proxy, 'alpha'), 15_000);
      await own.stop(1);
      // The registry session is gone; the last registry read stays in force.
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(hasTenant(proxy, 'alpha')).toBe(true);
      await own.restart(1);
      await write({
        revision: 2,
        tenants: [
          { name: 'alpha', listeners: ['127.0.0.1:0'] },
          { name: 'beta', listeners: ['127.0.0.1:0'] },
        ],
      });
      await waitFor('beta is served after the watch came back', () => hasTenant(proxy, 'beta'), 30_000);
      expect(hasTenant(proxy, 'alpha')).toBe(true);
    } finally {
      await proxy.close();
      await own.close();
    }
  }, 90_000);
});
