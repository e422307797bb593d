/**
 * Prometheus for real: Debian's `prometheus` scrapes a running proxy (in front of a real ZooKeeper
 * member, through a fault relay, plus a member address nobody listens on) while a tenant has
 * traffic that reaches every counter the Grafana dashboard plots: requests, NONODE replies,
 * THROTTLEDOP, watch and connection limits, a rejected registry update, lost backends and failed
 * backend connects. Then every query of deploy/grafana/zookeeper-proxy.json is evaluated by that
 * Prometheus and must return series for the tenant. The alerting rules are loaded by the same
 * Prometheus (the no-member alert goes pending during the partition, the one rejected registry
 * update fires its alert), checked by
 * `promtool check rules` and unit-tested by `promtool test rules`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCode, OpCode, Perms } from 'jute-ts';
import { JuteClient } from 'jute-ts/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalEnsemble } from '../src/embedded/ensemble.ts';
import { pollUntil } from '../src/embedded/poll.ts';
import { ProxyMetrics } from '../src/observability/metrics.ts';
import { FaultRelay } from './support/fault-relay.ts';
import { freePort } from './support/ports.ts';
import { startInProcessProxy, type InProcessProxy } from './support/proxy.ts';
import { runProcess } from './support/run-process.ts';
import { ServerTree } from './support/server-tree.ts';

const REPO = join(import.meta.dirname, '..');
const RULES = join(REPO, 'deploy', 'prometheus', 'zookeeper-proxy-rules.yaml');
const RULE_TESTS = join(REPO, 'test', 'prometheus', 'zookeeper-proxy-rules.test.yaml');
const DASHBOARD = join(REPO, 'deploy', 'grafana', 'zookeeper-proxy.json');
const REGISTRY = '/zkproxy/registry';
const TENANT = 'acme';
/** Grafana's $__rate_interval for a 1 s scrape interval is 4 x 1 s; a little more tolerates a loaded machine. */
const RATE_INTERVAL = '10s';

let ensemble: LocalEnsemble | undefined;
let relay: FaultRelay | undefined;
let proxy: InProcessProxy | undefined;
let tree: ServerTree | undefined;
let prometheus: ChildProcess | undefined;
let prometheusUrl: string;
let work: string;
let load: { stop: () => Promise<void> } | undefined;

beforeAll(async () => {
  ensemble = await LocalEnsemble.start({ size: 1 });
  const member = ensemble.members[0]!;
  relay = await FaultRelay.start(member.host, member.clientPort);
  const deadMember = `127.0.0.1:${await freePort()}`;
  proxy = await startInProcessProxy(
    `${relay.address},${deadMember}`,
    [{ name: TENANT, limits: { requestsPerSecond: 20, burst: 5, maxThrottleWaitMs: 20, maxConnections: 3, maxWatches: 2 } }],
    { registry: { path: REGISTRY } },
  );
  tree = await ServerTree.open(ensemble);

  work = mkdtempSync(join(tmpdir(), 'zkproxy-prometheus-'));
  const config = join(work, 'prometheus.yml');
  writeFileSync(
    config,
    [
      'global: { scrape_interval: 1s, evaluation_interval: 1s }',
      `rule_files: [${JSON.stringify(RULES)}]`,
      'scrape_configs:',
      '  - job_name: zookeeper-proxy',
      `    static_configs: [{ targets: [${JSON.stringify(proxy.adminUrl.replace('http://', ''))}] }]`,
      '',
    ].join('\n'),
  );
  const port = await freePort();
  prometheusUrl = `http://127.0.0.1:${port}`;
  prometheus = spawn(
    'prometheus',
    [`--config.file=${config}`, `--storage.tsdb.path=${join(work, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  prometheus.stderr!.resume();
  await pollUntil(async () => ((await fetch(`${prometheusUrl}/-/ready`).catch(() => undefined))?.ok ? true : undefined), {
    deadline: Date.now() + 60_000,
    description: 'prometheus ready',
  });
}, 180_000);

afterAll(async () => {
  await load?.stop();
  if (prometheus && prometheus.exitCode === null) {
    const exited = new Promise((resolve) => prometheus!.once('exit', resolve));
    prometheus.kill('SIGTERM');
    await Promise.race([exited, sleep(10_000).then(() => prometheus!.kill('SIGKILL'))]);
  }
  await tree?.close().catch(() => {});
  await proxy?.close();
  await relay?.close();
  await ensemble?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

interface Series {
  metric: Record<string, string>;
  value: [number, string];
}

async function query(expr: string): Promise<Series[]> {
  const response = await fetch(`${prometheusUrl}/api/v1/query?${new URLSearchParams({ query: expr })}`);
  const body = (await response.json()) as { status: string; error?: string; data: { resultType: string; result: Series[] } };
  if (body.status !== 'success') throw new Error(`${expr}: ${body.error}`);
  return body.data.result;
}

const connectTenant = () => JuteClient.connect({ port: proxy!.port(TENANT), sessionTimeoutMs: 10_000, connectTimeoutMs: 3000 });

/** A steady trickle of requests (reconnecting when the proxy asks the client to fail over), so that rates are above 0. */
function steadyLoad(): { stop: () => Promise<void> } {
  let stopped = false;
  const running = (async () => {
    let client: JuteClient | undefined;
    while (!stopped) {
      try {
        if (client === undefined || client.closed) client = await connectTenant();
        await client.request(OpCode.exists, { path: '/app', watch: false });
      } catch {
        client = undefined;
      }
      await sleep(100);
    }
    await client?.close().catch(() => {});
  })();
  return { stop: async () => ((stopped = true), await running) };
}

describe('Prometheus scraping a running proxy', () => {
  it('scrapes the proxy while the tenant has traffic that reaches every plotted counter', async () => {
    await pollUntil(async () => ((await query('up{job="zookeeper-proxy"} == 1')).length === 1 ? true : undefined), {
      deadline: Date.now() + 30_000,
      description: 'target up',
    });
    const client = await connectTenant();
    expect(
      (
        await client.request(OpCode.create, {
          path: '/app',
          data: Buffer.from('x'),
          acl: [{ perms: Perms.ALL, id: { scheme: 'world', id: 'anyone' } }],
          flags: 0,
        })
      ).err,
    ).toBe(ErrorCode.OK);
    expect((await client.request(OpCode.getData, { path: '/missing', watch: false })).err).toBe(ErrorCode.NONODE);
    // maxWatches 2: the third watch registration is refused (QUOTAEXCEEDED, reason watch_limit).
    const watches = await Promise.all(['/app', '/a', '/b'].map((path) => client.request(OpCode.exists, { path, watch: true })));
    expect(watches.map((r) => r.err)).toContain(ErrorCode.QUOTAEXCEEDED);
    // 20/s with a burst of 5 and maxThrottleWaitMs 20: most of a pipelined burst is answered THROTTLEDOP.
    const burst = await Promise.all(Array.from({ length: 40 }, () => client.request(OpCode.getData, { path: '/app', watch: false })));
    expect(burst.some((r) => r.err === ErrorCode.THROTTLEDOP)).toBe(true);
    // maxConnections 3: of four more connections at least one is closed at accept (connection_limit).
    const extra = await Promise.allSettled(Array.from({ length: 4 }, () => connectTenant()));
    expect(extra.some((r) => r.status === 'rejected')).toBe(true);
    for (const r of extra) if (r.status === 'fulfilled') await r.value.close();
    await client.close();

    // A registry update that is not JSON: rejected, the last good registry stays.
    const open = [{ perms: Perms.ALL, id: { scheme: 'world', id: 'anyone' } }];
    await tree!.client.request(OpCode.create, { path: '/zkproxy', data: null, acl: open, flags: 0 });
    expect((await tree!.client.request(OpCode.create, { path: REGISTRY, data: Buffer.from('{not json'), acl: open, flags: 0 })).err).toBe(
      ErrorCode.OK,
    );

    // Backends lost while relaying, then connects failing while the member is partitioned away.
    load = steadyLoad();
    await pollUntil(async () => ((await query(`zkproxy_sessions_active{tenant="${TENANT}"} > 0`)).length > 0 ? true : undefined), {
      deadline: Date.now() + 30_000,
      description: 'a session of the steady load scraped',
    });
    relay!.set({ partitioned: true });
    relay!.resetAll();
    await pollUntil(async () => ((await query('ALERTS{alertname="ZooKeeperProxyNoEnsembleMember"}')).length > 0 ? true : undefined), {
      deadline: Date.now() + 60_000,
      description: 'the no-member alert pending while every member is unreachable',
    });
    relay!.heal();

    const counters = [
      `zkproxy_reply_errors_total{tenant="${TENANT}",code="NONODE"}`,
      `zkproxy_refused_total{tenant="${TENANT}",reason="throttled"}`,
      `zkproxy_refused_total{tenant="${TENANT}",reason="watch_limit"}`,
      `zkproxy_refused_total{tenant="${TENANT}",reason="connection_limit"}`,
      `zkproxy_backend_lost_total{tenant="${TENANT}"}`,
      'zkproxy_backend_connect_failures_total',
      'zkproxy_config_reloads_total{source="registry",result="rejected"}',
    ];
    for (const counter of counters) {
      await pollUntil(async () => ((await query(`${counter} > 0`)).length > 0 ? true : undefined), {
        deadline: Date.now() + 30_000,
        description: `${counter} scraped`,
      });
    }
    // The one rejected registry update, a counter series born at 1, fires its alert in the real Prometheus.
    await pollUntil(
      async () =>
        (await query('ALERTS{alertname="ZooKeeperProxyRegistryReloadRejected",alertstate="firing",source="registry"}')).length > 0
          ? true
          : undefined,
      {
        deadline: Date.now() + 30_000,
        description: 'the reload-rejected alert firing',
      },
    );
    // Steady traffic again through the healed member, seen by the rate window.
    await pollUntil(
      async () =>
        (await query(`sum(rate(zkproxy_requests_total{tenant="${TENANT}"}[${RATE_INTERVAL}])) > 0`)).length > 0 ? true : undefined,
      {
        deadline: Date.now() + 60_000,
        description: 'requests flowing again',
      },
    );
  }, 240_000);

  it('every query of the Grafana dashboard returns series for the tenant that had traffic', async () => {
    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
      panels: { title: string; targets?: { expr: string }[] }[];
      templating: { list: { name: string; definition?: string }[] };
    };
    // The tenant variable's own query: label_values(<metric>, tenant).
    const variable = dashboard.templating.list.find((v) => v.name === 'tenant')!;
    const [, metric] = /^label_values\((\w+), tenant\)$/.exec(variable.definition!)!;
    const values = (await (
      await fetch(`${prometheusUrl}/api/v1/label/tenant/values?${new URLSearchParams({ 'match[]': metric! })}`)
    ).json()) as { data: string[] };
    expect(values.data).toContain(TENANT);

    const evaluated: string[] = [];
    for (const panel of dashboard.panels) {
      for (const target of panel.targets ?? []) {
        const expr = target.expr.replaceAll('$tenant', TENANT).replaceAll('$__rate_interval', RATE_INTERVAL);
        const series = await query(expr);
        expect(series.length, `${panel.title}: ${expr}`).toBeGreaterThan(0);
        // Grouped by tenant: the tenant's own series is there.
        if (/by \([^)]*\btenant\b/.test(expr))
          expect(
            series.map((s) => s.metric.tenant),
            `${panel.title}: ${expr}`,
          ).toContain(TENANT);
        evaluated.push(panel.title);
      }
    }
    expect(evaluated.length).toBe(dashboard.panels.reduce((n, p) => n + (p.targets?.length ?? 0), 0));
    expect(evaluated.length).toBeGreaterThanOrEqual(20);
    const requests = await query(`sum by (tenant) (rate(zkproxy_requests_total{tenant="${TENANT}"}[${RATE_INTERVAL}]))`);
    expect(Number(requests[0]!.value[1])).toBeGreaterThan(0);
  });
});

describe('alerting rules', () => {
  it('promtool check rules accepts deploy/prometheus/zookeeper-proxy-rules.yaml', async () => {
    const result = await runProcess('promtool', ['check', 'rules', RULES], { timeoutMs: 60_000 });
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toContain('SUCCESS: 7 rules found');
  });

  it('promtool test rules: each alert fires for the series that should, after its for:, and only those', async () => {
    const result = await runProcess('promtool', ['test', 'rules', RULE_TESTS], { timeoutMs: 60_000 });
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toContain('SUCCESS');
  });

  it('the rules use only metrics the proxy exports', () => {
    const exported = new Set(new ProxyMetrics({ processMetrics: false }).registry.getMetricsAsArray().map((m) => m.name));
    const used = new Set([...readFileSync(RULES, 'utf8').matchAll(/\bzkproxy_[a-z0-9_]+/g)].map((m) => m[0]));
    expect(used.size).toBeGreaterThanOrEqual(8);
    expect([...used].filter((name) => !exported.has(name))).toEqual([]);
  });

  it('every alert the issue names has a rule, and every rule is unit-tested', () => {
    const rules = readFileSync(RULES, 'utf8');
    const names = [...rules.matchAll(/- alert: (\w+)/g)].map((m) => m[1]);
    expect(names).toEqual([
      'ZooKeeperProxyNoEnsembleMember',
      'ZooKeeperProxyReplyErrorRatio',
      'ZooKeeperProxyTenantThrottled',
      'ZooKeeperProxyIsolationDrops',
      'ZooKeeperProxyMemoryPressure',
      'ZooKeeperProxyRegistryReloadRejected',
      'ZooKeeperProxyBackendLost',
    ]);
    const tests = readFileSync(RULE_TESTS, 'utf8');
    for (const name of names) expect(tests, name).toMatch(new RegExp(`alertname: ${name}\\n\\s+exp_alerts:\\n\\s+- exp_labels`));
  });
});
