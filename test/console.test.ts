/**
 * The console in a real browser: Debian's chromium driven by playwright-core (headless), against a
 * real controller replica (child process) on a real ZooKeeper ensemble, with a real proxy that
 * serves the tenant from the registry and whose metrics the console reads. A tenant is created in
 * the page, a ZooKeeper client writes Flink-like HA znodes through the proxy, then the cluster goes
 * through a refused deploy, a deploy, a change, a destroy (with its confirmation) and a redeploy that finds
 * the same znodes. Screenshots of each step go to .reports/console/ (ignored by git).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalEnsemble } from '../src/embedded/ensemble.ts';
import { reserveFreePorts } from '../src/embedded/free-ports.ts';
import { pollUntil } from '../src/embedded/poll.ts';
import { startReplica, type Replica } from './support/controller-replica.ts';
import { TEST_SECRET, startInProcessProxy, type InProcessProxy } from './support/proxy.ts';
import { ServerTree } from './support/server-tree.ts';
import { connectClient, type TestClient } from './support/zookeeper-client.ts';

const API_TOKEN = 'console-test-token-0123456789';
const REGISTRY = '/zkproxy/registry';
const JOB_ID = 'b3c5b1d3e4f5061728394a5b6c7d8e9f';
const JOBGRAPHS = '/flink/flink-cluster/jobgraphs';
const SCREENSHOTS = join(import.meta.dirname, '..', '.reports', 'console');
const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
/** Generous: two cores shared with the rest of the suite. */
const UI_TIMEOUT_MS = 30_000;

let ensemble: LocalEnsemble | undefined;
let proxy: InProcessProxy | undefined;
let tree: ServerTree | undefined;
let replica: Replica | undefined;
let browser: Browser | undefined;
let page: Page;
let client: TestClient | undefined;
let work: string;
let manifests: string;
let address: string;

beforeAll(async () => {
  mkdirSync(SCREENSHOTS, { recursive: true });
  ensemble = await LocalEnsemble.start({ size: 1 });
  proxy = await startInProcessProxy(ensemble.connectString(), [], { registry: { path: REGISTRY } });
  tree = await ServerTree.open(ensemble);
  work = mkdtempSync(join(tmpdir(), 'zkproxy-console-'));
  manifests = join(work, 'manifests');
  const configFile = join(work, 'controller.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      ensemble: ensemble.connectString(),
      security: { ensembleAdmin: 'super:super-secret' },
      registry: { path: REGISTRY },
      controller: { reconcileIntervalMs: 60_000, sessionTimeoutMs: 4000, http: { proxyAdmin: [proxy.adminUrl.replace('http://', '')] } },
      platform: {
        domain: 'poc.example.com',
        proxyAddress: '127.0.0.1:{port}',
        tenantListenerHost: '127.0.0.1',
        zones: ['eu-1', 'eu-2'],
        defaultZone: 'eu-1',
      },
      apply: { mode: 'directory', directory: manifests },
      log: { level: 'info' },
    }),
  );
  replica = await startReplica(configFile, { ZKPROXY_SECRET: TEST_SECRET, ZKPROXY_API_TOKEN: API_TOKEN });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_FLAGS });
  page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  page.setDefaultTimeout(UI_TIMEOUT_MS);
}, 180_000);

afterAll(async () => {
  client?.close();
  await browser?.close();
  replica?.child.kill('SIGTERM');
  await replica?.exited;
  await tree?.close().catch(() => {});
  await proxy?.close();
  await ensemble?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

const shot = (name: string) => page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });

async function apiGet(path: string): Promise<any> {
  const response = await fetch(`${replica!.api}${path}`, { headers: { authorization: `Bearer ${API_TOKEN}` } });
  return response.json();
}

const converged = () => page.locator('#converged', { hasText: /^converged$/ }).waitFor();

describe('the console, in chromium', () => {
  it('is served by the controller with a strict CSP; a wrong token is refused; the right one logs in', async () => {
    const response = await page.goto(`${replica!.api}/`);
    expect(response!.url()).toBe(`${replica!.api}/console/`);
    expect(response!.headers()['content-security-policy']).toContain("script-src 'self'");
    // Only the console's own files: nothing else of the package, whatever the path says.
    for (const path of ['/console/../package.json', '/console/%2e%2e/package.json', '/console/console.ts', '/console/..%2fcli.ts']) {
      expect((await fetch(`${replica!.api}${path}`)).status, path).toBe(404);
    }
    expect((await fetch(`${replica!.api}/v1/platform`)).status).toBe(401);
    await page.fill('#token', 'not-the-token-at-all');
    await page.click('button[type=submit]');
    await expect.poll(() => page.textContent('#login-problem')).toBe('The controller refused the token.');
    await page.fill('#token', API_TOKEN);
    await page.click('button[type=submit]');
    await page.getByText('No tenants yet.').waitFor();
    // The token stays in memory: no cookie, nothing in storage.
    expect(await page.context().cookies()).toEqual([]);
    expect(await page.evaluate(() => localStorage.length + sessionStorage.length)).toBe(0);
  });

  it('creates a tenant, which the proxy serves; a client writes HA znodes through it', async () => {
    const [port] = await reserveFreePorts(1);
    address = `127.0.0.1:${port}`;
    await page.fill('#new-tenant', 'Acme');
    await page.click('#tenant-create button');
    await expect.poll(() => page.textContent('#new-tenant-problem')).toContain('tenant name "Acme" contains upper-case letters');
    await page.fill('#new-tenant', 'acme');
    await page.fill('#new-listener', address);
    await page.click('#tenant-create button');
    await page.locator('nav button[data-tenant=acme]').waitFor();
    await converged();
    expect(await page.textContent('#proxy-address')).toBe(address);
    expect(await page.textContent('#bucket')).toBe('flink-cluster-bucket-acme');
    // One ensemble: nothing to choose in the form; the tenant is on it.
    expect(await page.textContent('#ensemble')).toBe('default');
    expect(await page.locator('#new-ensemble').count()).toBe(0);
    await pollUntil(async () => (proxy!.server.listenerAddresses().some((l) => l.tenant === 'acme') ? true : undefined), {
      deadline: Date.now() + 30_000,
      description: 'the proxy serving acme',
    });
    client = await connectClient(address);
    let path = '';
    for (const part of [...JOBGRAPHS.split('/').slice(1), JOB_ID])
      await client.create((path += `/${part}`), part === JOB_ID ? 's3://bucket/ha/job' : undefined);
    expect(await tree!.children(`/tenants/acme${JOBGRAPHS}`)).toEqual([JOB_ID]);
    await shot('1-tenant');
  });

  it("a value below a minimum shows the message next to the field and sends nothing; so does the API's refusal", async () => {
    const before = await apiGet('/v1/tenants/acme');
    await page.click('#add-cluster');
    expect(await page.inputValue('#taskManager-memoryMb')).toBe('3072'); // the platform's defaults filled in
    expect(await page.textContent('#taskManager-instances-hint')).toBe('default 2, minimum 1');
    await page.fill('#taskManager-instances', '0');
    await page.fill('#jobManager-cpu', '0.2');
    expect(await page.textContent('#taskManager-instances-problem')).toBe('taskManager.instances 0 is below the minimum 1');
    expect(await page.textContent('#jobManager-cpu-problem')).toBe('jobManager.cpu 0.2 is below the minimum 0.3');
    expect(await page.isDisabled('#deploy-cluster')).toBe(true);
    await shot('2-below-minimum');

    // A rule only the API knows (the platform's zones) comes back as the API's problem, next to the field.
    await page.fill('#taskManager-instances', '3');
    await page.fill('#jobManager-cpu', '0.5');
    await page.fill('#zone', 'mars');
    await page.click('#deploy-cluster');
    await expect.poll(() => page.textContent('#zone-problem')).toBe('zone "mars" is not one of the platform\'s zones (eu-1, eu-2)');
    await shot('3-api-problem');

    const after = await apiGet('/v1/tenants/acme');
    expect(after.reconcile.generation).toBe(before.reconcile.generation);
    expect(after.cluster.desired).toBeNull();
    expect(existsSync(join(manifests, 'acme', 'cluster.yaml'))).toBe(false);
  });

  it('a valid deploy converges and shows the applied spec, the fixed settings, the quota bar and live traffic', async () => {
    await page.fill('#zone', 'eu-2');
    await page.click('#deploy-cluster');
    await page.locator('#applied', { hasText: '3 x TaskManager 0.3 CPU / 3072 MB' }).waitFor();
    await converged();
    expect(await page.textContent('#applied')).toBe(
      'Flink 1.15, zone eu-2; JobManager 0.5 CPU / 1024 MB; 3 x TaskManager 0.3 CPU / 3072 MB',
    );
    expect(await page.textContent('#ui a')).toBe('Flink UI: https://flink-cluster-ui-acme.poc.example.com');
    await page.locator('#flink-conf-jobmanager', { hasText: 'high-availability' }).waitFor();
    const conf = (await page.textContent('#flink-conf-jobmanager'))!;
    for (const fixed of [
      `high-availability.zookeeper.quorum: ${address}`,
      'high-availability.cluster-id: /flink-cluster',
      'rest.port: 8081',
      'metrics.reporter.prom.port: 9163',
      'restart-strategy.fixed-delay.attempts: 1440',
      'high-availability.storageDir: s3://flink-cluster-bucket-acme/ha',
    ]) {
      expect(conf).toContain(fixed);
    }
    expect(readFileSync(join(manifests, 'acme', 'cluster.yaml'), 'utf8')).toContain('replicas: 3');

    const znodes = Number(await page.getAttribute('#znodes', 'aria-valuenow'));
    expect(znodes).toBeGreaterThanOrEqual(5); // the tenant root and the HA nodes written above
    expect(await page.textContent('#znodes-text')).toMatch(/^[\d,]+ of [\d,]+ znodes$/);
    const limit = Number(await page.getAttribute('#znodes', 'aria-valuemax'));
    const width = await page.$eval('#znodes > div', (fill) => (fill as unknown as { style: { width: string } }).style.width);
    expect(parseFloat(width)).toBeCloseTo((znodes / limit) * 100, 1);

    // Live traffic: the client's requests (and a NONODE error) as the proxies' metrics count them.
    await client!.exists('/missing');
    await client!.getData('/missing').catch(() => {});
    await expect
      .poll(async () => Number(await page.getAttribute('#traffic-errors', 'data-total')), { timeout: UI_TIMEOUT_MS })
      .toBeGreaterThan(0);
    expect(Number(await page.getAttribute('#traffic-requests', 'data-total'))).toBeGreaterThanOrEqual(6);
    await expect.poll(() => page.textContent('#traffic-requests'), { timeout: UI_TIMEOUT_MS }).toMatch(/^\d+\.\d\/s \(\d+ in total\)$/);
    await shot('4-deployed');
  });

  it('change: the form opens with the deployed values, and the new spec converges', async () => {
    await page.click('#change-cluster');
    expect(await page.inputValue('#zone')).toBe('eu-2');
    expect(await page.inputValue('#jobManager-cpu')).toBe('0.5');
    await page.fill('#taskManager-instances', '4');
    await page.click('#deploy-cluster');
    await page.locator('#applied', { hasText: '4 x TaskManager' }).waitFor();
    await converged();
    expect(readFileSync(join(manifests, 'acme', 'cluster.yaml'), 'utf8')).toContain('replicas: 4');
  });

  it('destroy asks "Yes, destroy" first; then the workloads go and the HA znodes stay', async () => {
    await page.click('#destroy-cluster');
    await page.locator('#confirm-destroy').waitFor();
    await shot('5-confirm-destroy');
    await page.click('#cancel-destroy');
    await page.locator('#confirm-destroy').waitFor({ state: 'detached' });
    expect((await apiGet('/v1/tenants/acme')).cluster.desired).not.toBeNull();

    await page.click('#destroy-cluster');
    await page.click('#yes-destroy');
    await page.locator('#add-cluster').waitFor();
    await page.locator('#applied', { hasText: /^none$/ }).waitFor();
    await converged();
    expect(existsSync(join(manifests, 'acme', 'cluster.yaml'))).toBe(false);
    expect(existsSync(join(manifests, 'acme', 'retained.yaml'))).toBe(true);
    expect(await tree!.children(`/tenants/acme${JOBGRAPHS}`)).toEqual([JOB_ID]);
    expect(await page.textContent('#ui')).toBe('none (no cluster)');
    await shot('6-destroyed');
  });

  it('a redeploy with the defaults finds the same HA znodes through the proxy', async () => {
    await page.click('#add-cluster');
    expect(await page.inputValue('#taskManager-instances')).toBe('2');
    await page.click('#deploy-cluster');
    await page.locator('#applied', { hasText: '2 x TaskManager' }).waitFor();
    await converged();
    expect(await client!.getChildren(JOBGRAPHS)).toEqual([JOB_ID]);
    expect((await client!.getData(`${JOBGRAPHS}/${JOB_ID}`))!.toString()).toBe('s3://bucket/ha/job');
    expect(readFileSync(join(manifests, 'acme', 'cluster.yaml'), 'utf8')).toContain('high-availability.cluster-id: /flink-cluster');
    await shot('7-redeployed');
  });
});
