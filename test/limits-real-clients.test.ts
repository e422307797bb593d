/**
 * Real client libraries against a tenant whose request rate is limited.
 *
 * By default (`maxThrottleWaitMs: 0`) excess load only meets backpressure: stock Curator and
 * stock kazoo finish every request, slowed to the tenant's rate, without a single error.
 *
 * With THROTTLEDOP enabled (`maxThrottleWaitMs` > 0, per tenant) some requests are answered
 * THROTTLEDOP (-127), as ZooKeeper's own request throttle (3.6+) would answer them: do they retry
 * and finish, or crash?
 *
 * - Curator 5.4 on the ZooKeeper 3.8 Java client: -127 is KeeperException.ThrottledOpException.
 *   Curator's stock retry policies do not retry it (RetryPolicy.allowRetry(Throwable) accepts
 *   CONNECTIONLOSS, OPERATIONTIMEOUT, SESSIONMOVED, SESSIONEXPIRED only), so the application sees
 *   it; a policy that also retries THROTTLEDOP completes the workload.
 * - kazoo 2.8 has no exception for -127: the lookup in its connection thread raises
 *   RuntimeError('Invalid error code'), which ends the connection loop (the client goes LOST and
 *   refuses every later call with ConnectionClosedError; the throttled call itself never gets an
 *   answer). Registering -127 (a ZookeeperError subclass, added to KazooRetry's retryable
 *   exceptions) makes it complete.
 *
 * Java and Python run as asynchronous child processes: the proxy is in-process.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalEnsemble } from '../src/embedded/ensemble.ts';
import { compileJava, runJava, type CompiledJava } from './support/java.ts';
import { refusedCount } from './support/limits.ts';
import { startInProcessProxy, type InProcessProxy } from './support/proxy.ts';
import { describeRun, resultLine, runProcess } from './support/run-process.ts';
import { ServerTree } from './support/server-tree.ts';

const CLIENTS_DIR = join(import.meta.dirname, 'clients');
/**
 * 20 requests/s, burst 5, held at most 100 ms: of a burst of 60 creates sent at once, about 7 fit.
 * (A request's wait starts when the proxy reads it and the client socket is not read while
 * requests are held, so clients with one request per thread are slowed down, not throttled:
 * the workloads send bursts.)
 */
const THROTTLED = { requestsPerSecond: 20, burst: 5, maxThrottleWaitMs: 100 };
/** The same rate with the default maxThrottleWaitMs (0): backpressure only. */
const BACKPRESSURE = { requestsPerSecond: 20, burst: 5 };
const CREATES = 60;
/** The least time CREATES requests can take at that rate (after the burst), with 20% slack. */
const MIN_SLOWED_MS = ((CREATES - BACKPRESSURE.burst) / BACKPRESSURE.requestsPerSecond) * 1000 * 0.8;

let ensemble: LocalEnsemble | undefined;
let proxy: InProcessProxy | undefined;
let tree: ServerTree;
let classes: CompiledJava | undefined;

beforeAll(async () => {
  const compiling = compileJava([join(CLIENTS_DIR, 'CuratorThrottled.java')]);
  compiling.catch(() => {}); // awaited below
  ensemble = await LocalEnsemble.start({ size: 1 });
  classes = await compiling;
  proxy = await startInProcessProxy(ensemble.connectString(), [
    { name: 'curator-throttled', limits: THROTTLED },
    { name: 'kazoo-throttled', limits: THROTTLED },
    { name: 'curator-backpressure', limits: BACKPRESSURE },
    { name: 'kazoo-backpressure', limits: BACKPRESSURE },
  ]);
  tree = await ServerTree.open(ensemble);
}, 150_000);

afterAll(async () => {
  await tree?.close().catch(() => {});
  await proxy?.close();
  await ensemble?.close();
  classes?.cleanup();
});

interface CuratorResult {
  default: Record<string, number>;
  defaultMs: number;
  defaultChildren: number;
  throttledExample: string | null;
  aware: Record<string, number>;
  awareMs: number;
  awareThrottledRetries: number;
  awareChildren: number;
  states: string;
}

interface KazooResult {
  kazooMinus127Known: boolean;
  stock: {
    outcomes: Record<string, number>;
    seconds: number;
    connectionLoopErrors: { message: string; exception: string }[];
    stateAfter: string;
    nextCall: string;
  };
  patched: {
    outcomes: Record<string, number>;
    failedInBurst: number;
    seconds: number;
    throttledRetries: number;
    children: number;
    stateAfter: string;
  };
}

describe('real clients under the default rate limit (backpressure only)', () => {
  it('Curator 5.4 with its stock retry policy: every request completes, slowed to the tenant rate, no THROTTLEDOP', async () => {
    const run = await runJava(classes!, 'CuratorThrottled', [proxy!.address('curator-backpressure'), '/work', String(CREATES)], {
      timeoutMs: 120_000,
    });
    expect(run.code, describeRun(run)).toBe(0);
    const result = resultLine<CuratorResult>(run);
    console.log(`Curator (backpressure): ${JSON.stringify(result)}`);
    expect(result.default).toEqual({ OK: CREATES });
    expect(result.defaultChildren).toBe(CREATES);
    expect(result.defaultMs).toBeGreaterThanOrEqual(MIN_SLOWED_MS);
    expect(result.awareThrottledRetries).toBe(0);
    expect(result.states.split(',').every((state) => state === 'CONNECTED')).toBe(true);
    expect(await refusedCount(proxy!.adminUrl, 'curator-backpressure', 'throttled')).toBe(0);
  });

  it('stock kazoo 2.8: every request completes, slowed to the tenant rate, and the connection stays up', async () => {
    const run = await runProcess(
      '/usr/bin/python3',
      [join(CLIENTS_DIR, 'kazoo_throttled.py'), proxy!.address('kazoo-backpressure'), '/work', String(CREATES)],
      { timeoutMs: 120_000 },
    );
    expect(run.code, describeRun(run)).toBe(0);
    const result = resultLine<KazooResult>(run);
    console.log(`kazoo (backpressure): ${JSON.stringify(result)}`);
    expect(result.stock.outcomes).toEqual({ OK: CREATES });
    expect(result.stock.connectionLoopErrors).toEqual([]);
    expect(result.stock.stateAfter).toBe('CONNECTED');
    expect(result.stock.nextCall).toBe('OK');
    expect(result.stock.seconds * 1000).toBeGreaterThanOrEqual(MIN_SLOWED_MS);
    expect(result.patched.failedInBurst).toBe(0);
    expect((await tree.children('/tenants/kazoo-backpressure/work/stock'))?.length).toBe(CREATES);
    expect(await refusedCount(proxy!.adminUrl, 'kazoo-backpressure', 'throttled')).toBe(0);
  });
});

describe('real clients when throttled (THROTTLEDOP enabled with maxThrottleWaitMs)', () => {
  it('Curator 5.4: the stock retry policy surfaces ThrottledOpException; a THROTTLEDOP-aware policy completes the workload', async () => {
    const run = await runJava(classes!, 'CuratorThrottled', [proxy!.address('curator-throttled'), '/work', String(CREATES)], {
      timeoutMs: 120_000,
    });
    expect(run.code, describeRun(run)).toBe(0);
    const result = resultLine<CuratorResult>(run);
    console.log(`Curator: ${JSON.stringify(result)}`);
    // Stock policy: THROTTLEDOP reaches the application (KeeperException.ThrottledOpException).
    expect(Object.keys(result.default).every((outcome) => outcome === 'OK' || outcome === 'THROTTLEDOP')).toBe(true);
    expect(result.default.THROTTLEDOP ?? 0).toBeGreaterThan(0);
    expect(result.default.OK ?? 0).toBeGreaterThanOrEqual(THROTTLED.burst);
    expect(result.throttledExample).toMatch(/^org\.apache\.zookeeper\.KeeperException\$ThrottledOpException: /);
    expect(result.defaultChildren).toBe(result.default.OK ?? 0); // a throttled create was not executed
    // Aware policy: every create completed, after retrying THROTTLEDOP; the session never dropped.
    expect(result.aware).toEqual({ OK: CREATES });
    expect(result.awareChildren).toBe(CREATES);
    expect(result.awareThrottledRetries).toBeGreaterThan(0);
    expect(result.states.split(',').every((state) => state === 'CONNECTED')).toBe(true);
    expect((await tree.children('/tenants/curator-throttled/work/aware'))?.length).toBe(CREATES);
    expect(await refusedCount(proxy!.adminUrl, 'curator-throttled', 'throttled')).toBeGreaterThanOrEqual(
      (result.default.THROTTLEDOP ?? 0) + result.awareThrottledRetries,
    );
  });

  it('kazoo 2.8: stock kazoo does not know -127 and its connection dies; with -127 registered and retried, KazooRetry completes the workload', async () => {
    const run = await runProcess(
      '/usr/bin/python3',
      [join(CLIENTS_DIR, 'kazoo_throttled.py'), proxy!.address('kazoo-throttled'), '/work', String(CREATES)],
      { timeoutMs: 120_000 },
    );
    expect(run.code, describeRun(run)).toBe(0);
    const result = resultLine<KazooResult>(run);
    console.log(`kazoo: ${JSON.stringify(result)}`);
    // Stock kazoo 2.8 (documents what happens; if kazoo learns -127 this changes).
    expect(result.kazooMinus127Known).toBe(false);
    expect(
      result.stock.connectionLoopErrors.some(
        (e) => e.message.includes('Unhandled exception in connection loop') && e.exception === 'RuntimeError: Invalid error code',
      ),
    ).toBe(true);
    expect(result.stock.outcomes.OK ?? 0).toBeLessThan(CREATES);
    expect(result.stock.stateAfter).toBe('LOST');
    expect(result.stock.nextCall).toBe('ConnectionClosedError');
    // Taught -127 and told to retry it: every create completes on a session that stays up.
    expect(result.patched.outcomes).toEqual({ OK: CREATES });
    expect(result.patched.children).toBe(CREATES);
    expect(result.patched.failedInBurst).toBeGreaterThan(0); // ThrottledOpError, then retried
    expect(result.patched.stateAfter).toBe('CONNECTED');
    expect((await tree.children('/tenants/kazoo-throttled/work/patched'))?.length).toBe(CREATES);
  });
});
