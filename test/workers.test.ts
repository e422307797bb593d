/**
 * `serve --workers N`: N event loops share the tenant listeners. Checked against a real ensemble
 * and a real proxy process tree: traffic is spread over the workers, the primary's /metrics sums
 * every worker's counters for the right tenant and opcode, per-tenant limits hold across workers
 * (per-worker shares), a dead worker is replaced without touching the other's connections, reload
 * reaches every worker, mutating admin endpoints need the token, and SIGTERM drains and exits 0.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, OpCode, Perms } from 'jute-ts';
import { JuteClient } from 'jute-ts/client';
import { LocalEnsemble } from '../src/embedded/ensemble.ts';
import { metricValue, scrape, waitFor } from './support/limits.ts';
import { freePort } from './support/ports.ts';
import { spawnProxyProcess, type ProxyProcess } from './support/proxy.ts';

const OPEN = [{ perms: Perms.ALL, id: { scheme: 'world', id: 'anyone' } }];
const TOKEN = 'admin-token-for-the-workers-test';

let ensemble: LocalEnsemble;
let proxy: ProxyProcess;

interface WorkerView {
  pid: number;
  tenants: { name: string; connections: number; limits: { maxConnections: number; requestsPerSecond: number } }[];
}

async function workerViews(): Promise<WorkerView[]> {
  const state = (await (await fetch(`${proxy.adminUrl}/admin/state`)).json()) as { workers: WorkerView[] };
  return state.workers;
}

function connect(port: number): Promise<JuteClient> {
  return JuteClient.connect({ host: '127.0.0.1', port, sessionTimeoutMs: 10_000, connectTimeoutMs: 3000 });
}

beforeAll(async () => {
  ensemble = await LocalEnsemble.start({ size: 1 });
  const [busy, capped] = [await freePort(), await freePort()];
  proxy = await spawnProxyProcess(
    ensemble.connectString(),
    [
      { name: 'busy', listen: [`127.0.0.1:${busy}`] },
      { name: 'capped', listen: [`127.0.0.1:${capped}`], limits: { maxConnections: 4 } },
    ],
    { admin: { listen: '127.0.0.1:0', token: TOKEN } },
    { workers: 2 },
  );
}, 90_000);

afterAll(async () => {
  await proxy?.close();
  await ensemble?.close();
});

describe('serve --workers 2', () => {
  it('spreads connections over both workers; /metrics sums their counters for the right tenant and opcode', async () => {
    const before = metricValue(await scrape(proxy.adminUrl), 'zkproxy_requests_total', { tenant: 'busy', opcode: 'getData' });
    const clients = await Promise.all(Array.from({ length: 8 }, () => connect(proxy.port('busy'))));
    try {
      await clients[0]!.call(OpCode.create, { path: '/n', data: Buffer.from('x'), acl: OPEN, flags: 0 });
      const perClient = 25;
      await Promise.all(
        clients.map(async (client) => {
          for (let i = 0; i < perClient; i++)
            expect((await client.request(OpCode.getData, { path: '/n', watch: false })).err).toBe(ErrorCode.OK);
        }),
      );
      const views = await workerViews();
      expect(views).toHaveLength(2);
      const busyConnections = views.map((v) => v.tenants.find((t) => t.name === 'busy')!.connections);
      expect(busyConnections.reduce((a, b) => a + b, 0)).toBe(8);
      expect(Math.min(...busyConnections)).toBeGreaterThan(0);
      const metrics = await scrape(proxy.adminUrl);
      expect(metricValue(metrics, 'zkproxy_requests_total', { tenant: 'busy', opcode: 'getData' }) - before).toBe(8 * perClient);
      expect(metricValue(metrics, 'zkproxy_requests_total', { tenant: 'capped', opcode: 'getData' })).toBe(0);
      expect(metricValue(metrics, 'zkproxy_workers')).toBe(2);
      expect(metricValue(metrics, 'zkproxy_sessions_active', { tenant: 'busy' })).toBe(8);
    } finally {
      for (const client of clients) client.destroy();
    }
  });

  it('a per-tenant connection limit holds across workers (each enforces its share)', async () => {
    const views = await workerViews();
    for (const view of views) expect(view.tenants.find((t) => t.name === 'capped')!.limits.maxConnections).toBe(2);
    const attempts = await Promise.allSettled(Array.from({ length: 8 }, () => connect(proxy.port('capped'))));
    const open = attempts.flatMap((a) => (a.status === 'fulfilled' ? [a.value] : []));
    try {
      expect(open.length).toBeLessThanOrEqual(4);
      expect(open.length).toBeGreaterThanOrEqual(2);
      expect(metricValue(await scrape(proxy.adminUrl), 'zkproxy_refused_total', { tenant: 'capped', reason: 'connection_limit' })).toBe(
        8 - open.length,
      );
    } finally {
      for (const client of open) client.destroy();
    }
  });

  it('mutating admin endpoints need the token; reload reaches every worker', async () => {
    expect((await fetch(`${proxy.adminUrl}/admin/reload`, { method: 'POST' })).status).toBe(401);
    expect(
      (await fetch(`${proxy.adminUrl}/admin/reload`, { method: 'POST', headers: { authorization: 'Bearer wrong-token-wrong-token' } }))
        .status,
    ).toBe(401);
    const reloaded = await fetch(`${proxy.adminUrl}/admin/reload`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
    expect(reloaded.status).toBe(200);
    const metrics = await scrape(proxy.adminUrl);
    expect(metricValue(metrics, 'zkproxy_config_reloads_total', { source: 'file', result: 'applied' })).toBe(2);
  });

  it('a worker that dies is replaced; the other worker keeps its connections', async () => {
    const client = await connect(proxy.port('busy'));
    const views = await workerViews();
    const carrying = views.find((v) => v.tenants.some((t) => t.name === 'busy' && t.connections === 1))!;
    const victim = views.find((v) => v.pid !== carrying.pid)!;
    process.kill(victim.pid, 'SIGKILL');
    await waitFor(
      'the worker is replaced',
      async () => {
        const now = await workerViews().catch(() => []);
        return now.length === 2 && !now.some((v) => v.pid === victim.pid);
      },
      20_000,
      200,
    );
    expect(client.closed).toBe(false);
    expect((await client.request(OpCode.exists, { path: '/n', watch: false })).err).toBe(ErrorCode.OK);
    expect(metricValue(await scrape(proxy.adminUrl), 'zkproxy_worker_restarts')).toBe(1);
    client.destroy();
  });

  it('SIGTERM drains every worker and the process tree exits 0', async () => {
    const client = await connect(proxy.port('busy'));
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    proxy.kill('SIGTERM');
    await closed;
    expect(await proxy.exited).toBe(0);
  });
});
