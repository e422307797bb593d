/**
 * Placement across several ensembles, against two real 1-node ensembles ("east", home; "west",
 * with its own admin identity) and a third configured ensemble no server answers for ("ghost"):
 * the CLI (real child processes) places a tenant where it is told, or on the ensemble with the
 * most headroom by the members' mntr figures, and never on an unreachable one; every tenant's
 * root, identity ACL and quota are on its ensemble only (read on both servers directly), while the
 * desired state and the registry stay on home. A controller replica (real process) serves the
 * placement over the API and the console (in chromium), and converges a record written before
 * placement existed on home.
 */
import { OpCode, Perms } from 'jute-ts';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalEnsemble } from '../src/embedded/ensemble.ts';
import { reserveFreePorts } from '../src/embedded/free-ports.ts';
import { pollUntil } from '../src/embedded/poll.ts';
import { digestIdentity, tenantSecrets } from '../src/tenancy/credentials.ts';
import { startReplica, type Replica } from './support/controller-replica.ts';
import { controllerCli, controllerCliJson } from './support/controller-cli.ts';
import { TEST_SECRET } from './support/proxy.ts';
import { ServerTree } from './support/server-tree.ts';

const REGISTRY = '/zkproxy/registry';
const CONTROLLER_ROOT = '/zkproxy/controller';
const API_TOKEN = 'ensembles-test-token-0123456789';
const WEST_ADMIN = { user: 'westadmin', password: 'west-admin-secret' };
/** Small enough that a few hundred znodes make a difference, large enough that the controller's own state does not. */
const CAPACITY = { znodes: 2000, bytes: 10_000_000, connections: 1000 };
const OPEN_ACL = [{ perms: Perms.ALL, id: { scheme: 'world', id: 'anyone' } }];

let east: LocalEnsemble | undefined;
let west: LocalEnsemble | undefined;
let eastTree: ServerTree;
let westTree: ServerTree;
let replica: Replica | undefined;
let browser: Browser | undefined;
let work: string;
let configFile: string;
let ghost: string;

beforeAll(async () => {
  [east, west] = await Promise.all([LocalEnsemble.start({ size: 1 }), LocalEnsemble.start({ size: 1, superDigest: WEST_ADMIN })]);
  [eastTree, westTree] = await Promise.all([ServerTree.open(east), ServerTree.open(west)]);
  ghost = `127.0.0.1:${(await reserveFreePorts(1))[0]}`; // nothing listens there
  work = mkdtempSync(join(tmpdir(), 'zkproxy-controller-ensembles-'));
  configFile = join(work, 'controller.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      ensembles: {
        east: { members: east.connectString(), capacity: CAPACITY },
        west: { members: west.connectString(), ensembleAdmin: `${WEST_ADMIN.user}:${WEST_ADMIN.password}`, capacity: CAPACITY },
        ghost: { members: ghost, capacity: CAPACITY },
      },
      security: { ensembleAdmin: 'super:super-secret' },
      registry: { path: REGISTRY },
      controller: { root: CONTROLLER_ROOT, reconcileIntervalMs: 60_000, sessionTimeoutMs: 4000 },
      platform: { domain: 'poc.example.com', proxyAddress: '127.0.0.1:{port}', tenantListenerHost: '127.0.0.1' },
      apply: { mode: 'directory', directory: join(work, 'manifests') },
      log: { level: 'info' },
    }),
  );
}, 120_000);

afterAll(async () => {
  await browser?.close();
  replica?.child.kill('SIGTERM');
  await replica?.exited;
  await Promise.all([eastTree?.close().catch(() => {}), westTree?.close().catch(() => {})]);
  await Promise.all([east?.close(), west?.close()]);
  if (work) rmSync(work, { recursive: true, force: true });
});

const cli = (...args: string[]) => controllerCli(configFile, ...args);
const cliJson = <T = Record<string, any>>(...args: string[]) => controllerCliJson<T>(configFile, ...args);

async function registryEntry(name: string): Promise<Record<string, unknown> | undefined> {
  const document = JSON.parse((await eastTree.data(REGISTRY))!.toString()) as { tenants: Record<string, unknown>[] };
  return document.tenants.find((tenant) => tenant.name === name);
}

/** Where a tenant's tree is: its root and its quota node, on each server. */
async function placed(name: string): Promise<{ east: boolean[]; west: boolean[] }> {
  const paths = [`/tenants/${name}`, `/zookeeper/quota/tenants/${name}/zookeeper_limits`];
  return {
    east: await Promise.all(paths.map((path) => eastTree.exists(path))),
    west: await Promise.all(paths.map((path) => westTree.exists(path))),
  };
}

/** Adds `count` znodes under `parent` on a server: usage the placement must see. */
async function fill(tree: ServerTree, parent: string, count: number): Promise<void> {
  await tree.client.request(OpCode.create, { path: parent, data: null, acl: OPEN_ACL, flags: 0 });
  await Promise.all(
    Array.from({ length: count }, (_, i) =>
      tree.client.call(OpCode.create, { path: `${parent}/n${i}`, data: Buffer.alloc(16), acl: OPEN_ACL, flags: 0 }),
    ),
  );
}

type Ensembles = { ensemble: string; reachable: boolean; znodes: number | null; headroom: number | null; tenants: number }[];
const byName = (ensembles: Ensembles) => Object.fromEntries(ensembles.map((e) => [e.ensemble, e]));

describe('placing tenants on several ensembles', () => {
  it("--ensemble west: root, identity ACL (with west's own admin) and quota on west only; desired state and registry on home", async () => {
    const created = await cliJson('tenant', 'create', 'alpha', '--ensemble', 'west', '--limit', 'maxZnodes=500');
    expect(created).toMatchObject({ tenant: 'alpha', ensemble: 'west', chroot: '/tenants/alpha', reconcile: { converged: true } });
    expect(await placed('alpha')).toEqual({ east: [false, false], west: [true, true] });
    expect((await westTree.data('/zookeeper/quota/tenants/alpha/zookeeper_limits'))!.toString()).toContain('countHardLimit=500');
    const identity = tenantSecrets(Buffer.from(TEST_SECRET), 'alpha').identity;
    expect(await westTree.acl('/tenants/alpha')).toEqual([
      { perms: Perms.ALL, id: { scheme: 'digest', id: identity.id } },
      { perms: Perms.ALL, id: { scheme: 'digest', id: digestIdentity(WEST_ADMIN.user, WEST_ADMIN.password).id } },
    ]);
    expect(await registryEntry('alpha')).toMatchObject({ name: 'alpha', ensemble: 'west', limits: { maxZnodes: 500 } });
    expect(await eastTree.exists(`${CONTROLLER_ROOT}/tenants/alpha`)).toBe(true);
    expect(await westTree.exists('/zkproxy')).toBe(false);
    expect((await cliJson('tenant', 'show', 'alpha')).zookeeper.znodes).toEqual({ used: 1, limit: 500 });
  });

  it('an unknown --ensemble is refused naming the configured ones, and records nothing', async () => {
    const refused = await cli('tenant', 'create', 'nowhere-tenant', '--ensemble', 'nowhere');
    expect(refused.code).toBe(2);
    expect(refused.stderr.trim()).toBe('zookeeper-proxy: ensemble "nowhere" is not configured (configured: east, west, ghost)');
    expect(await eastTree.exists(`${CONTROLLER_ROOT}/tenants/nowhere-tenant`)).toBe(false);
  });

  it('without --ensemble the emptier reachable ensemble is chosen; the unreachable one never is', async () => {
    await fill(westTree, '/filler', 400);
    const before = byName(await cliJson<Ensembles>('tenant', 'ensembles'));
    expect(before.ghost).toMatchObject({ reachable: false, znodes: null, headroom: null, tenants: 0 });
    expect(before.west!.znodes).toBeGreaterThan(400);
    expect(before.east!.headroom).toBeGreaterThan(before.west!.headroom!);
    const beta = await cliJson('tenant', 'create', 'beta');
    expect(beta).toMatchObject({ ensemble: 'east', reconcile: { converged: true } });
    expect(await placed('beta')).toEqual({ east: [true, true], west: [false, false] });

    await fill(eastTree, '/filler', 800);
    const gamma = await cliJson('tenant', 'create', 'gamma');
    expect(gamma).toMatchObject({ ensemble: 'west', reconcile: { converged: true } });
    expect(await placed('gamma')).toEqual({ east: [false, false], west: [true, true] });
    expect(await registryEntry('gamma')).toMatchObject({ ensemble: 'west' });

    const listed = await cliJson<{ tenant: string; ensemble: string }[]>('tenant', 'list');
    expect(listed.map(({ tenant, ensemble }) => ({ tenant, ensemble }))).toEqual([
      { tenant: 'alpha', ensemble: 'west' },
      { tenant: 'beta', ensemble: 'east' },
      { tenant: 'gamma', ensemble: 'west' },
    ]);
  }, 60_000);

  it('the API: GET /v1/ensembles measures each ensemble; tenants show their ensemble; POST places where told and refuses an unknown ensemble', async () => {
    replica = await startReplica(configFile, { ZKPROXY_SECRET: TEST_SECRET, ZKPROXY_API_TOKEN: API_TOKEN });
    const api = async (method: string, path: string, body?: unknown) => {
      const response = await fetch(`${replica!.api}${path}`, {
        method,
        headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: response.status, body: (await response.json()) as any };
    };
    const ensembles = await api('GET', '/v1/ensembles');
    expect(ensembles.status).toBe(200);
    expect(ensembles.body.map((e: any) => [e.ensemble, e.home, e.reachable, e.tenants])).toEqual([
      ['east', true, true, 1],
      ['west', false, true, 2],
      ['ghost', false, false, 0],
    ]);
    const [eastReport, westReport, ghostReport] = ensembles.body;
    expect(eastReport.members).toEqual([
      expect.objectContaining({ address: east!.connectString(), reachable: true, state: 'standalone', error: null }),
    ]);
    expect(eastReport.znodes).toBeGreaterThan(800);
    expect(eastReport.capacity).toEqual(CAPACITY);
    expect(eastReport.headroom).toBeCloseTo(1 - Math.max(...Object.values(eastReport.usage as Record<string, number>)), 6);
    expect(westReport.members[0].connections).toBeGreaterThanOrEqual(1); // the test's own session at least
    expect(ghostReport.members).toEqual([expect.objectContaining({ address: ghost, reachable: false, state: null })]);
    expect(ghostReport.members[0].error).toMatch(/ECONNREFUSED/);

    expect((await api('GET', '/v1/tenants/alpha')).body.ensemble).toBe('west');
    expect((await api('GET', '/v1/platform')).body.ensembles).toEqual(['east', 'west', 'ghost']);
    const refused = await api('POST', '/v1/tenants', { name: 'delta', ensemble: 'nowhere' });
    expect(refused).toEqual({
      status: 400,
      body: { error: 'invalid request', problems: ['ensemble "nowhere" is not configured (configured: east, west, ghost)'] },
    });
    const accepted = await api('POST', '/v1/tenants', { name: 'delta', ensemble: 'east' });
    expect(accepted.status).toBe(202);
    expect(accepted.body.ensemble).toBe('east');
    await pollUntil(async () => ((await api('GET', '/v1/tenants/delta')).body.reconcile.converged ? true : undefined), {
      deadline: Date.now() + 30_000,
      description: 'delta converged by the leader',
    });
    expect(await placed('delta')).toEqual({ east: [true, true], west: [false, false] });
  }, 60_000);

  it('a record without an ensemble (made before placement) is converged on home, and its registry entry names none', async () => {
    const [port] = await reserveFreePorts(1);
    const record = { name: 'legacy', listener: `127.0.0.1:${port}`, cluster: null };
    const acl = [{ perms: Perms.ALL, id: { scheme: 'digest', id: digestIdentity('super', 'super-secret').id } }];
    await eastTree.client.call(OpCode.create, {
      path: `${CONTROLLER_ROOT}/tenants/legacy`,
      data: Buffer.from(JSON.stringify(record)),
      acl,
      flags: 0,
    });
    // The leader watches the tenant records: the new one is converged without being asked.
    await pollUntil(async () => ((await eastTree.exists('/tenants/legacy')) ? true : undefined), {
      deadline: Date.now() + 30_000,
      description: "the leader converging legacy's root",
    });
    await pollUntil(async () => ((await registryEntry('legacy')) !== undefined ? true : undefined), {
      deadline: Date.now() + 30_000,
      description: 'the registry entry of legacy',
    });
    expect(await placed('legacy')).toEqual({ east: [true, true], west: [false, false] });
    expect(Object.keys((await registryEntry('legacy'))!).sort()).toEqual(['limits', 'listeners', 'name']);
    expect((await cliJson('tenant', 'show', 'legacy')).ensemble).toBe('east');
  }, 60_000);

  it("the console offers the ensembles in + Tenant and shows each tenant's ensemble", async () => {
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu'] });
    const page = await browser.newPage();
    page.setDefaultTimeout(30_000);
    await page.goto(`${replica!.api}/`);
    await page.fill('#token', API_TOKEN);
    await page.click('button[type=submit]');
    await page.locator('nav button[data-tenant=alpha]').waitFor();
    expect(await page.textContent('nav button[data-tenant=alpha] .hint')).toBe('no cluster, west');
    expect(await page.$$eval('#new-ensemble option', (options) => options.map((o) => (o as unknown as { value: string }).value))).toEqual([
      '',
      'east',
      'west',
      'ghost',
    ]);
    await page.fill('#new-tenant', 'epsilon');
    await page.selectOption('#new-ensemble', 'west');
    await page.click('#tenant-create button');
    // alpha's page says west and converged too: wait for epsilon's.
    await page
      .locator('h2', { hasText: 'Tenant epsilon' })
      .locator('#converged', { hasText: /^converged$/ })
      .waitFor();
    expect(await page.textContent('#ensemble')).toBe('west');
    expect(await placed('epsilon')).toEqual({ east: [false, false], west: [true, true] });
  }, 60_000);

  it("tenant delete removes the root and quota from the tenant's ensemble", async () => {
    await cliJson('tenant', 'delete', 'gamma');
    expect(await placed('gamma')).toEqual({ east: [false, false], west: [false, false] });
    expect(await registryEntry('gamma')).toBeUndefined();
    expect(await westTree.exists('/tenants/alpha')).toBe(true);
  });
});
