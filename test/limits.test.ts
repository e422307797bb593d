/**
 * Per-tenant limits, each proven at, just below and just above the limit through the real proxy
 * against a real (standalone) ZooKeeper: the error code a client gets, replies in xid order (read
 * off the wire, not through the client's own matching), and the connection still usable where
 * the protocol allows.
 *
 * Each test starts its own in-process proxy with its own tenant names (a token bucket, watch
 * count or quota must not carry over from another test); they share one ZooKeeper JVM.
 * Timing bounds are one-sided where the limiter makes them exact (a token bucket cannot hand out
 * more than burst + rate x time) and generous where a busy 2-core machine could stall.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { AddWatchMode, CreateMode, encodeRequest, ErrorCode, OpCode, Perms, WatcherType, type RecordValue, type Reply } from 'jute-ts';
import { JuteClient } from 'jute-ts/client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, type LimitsInput, type ProxyConfigInput } from '../src/config/config.ts';
import { LocalEnsemble } from '../src/embedded/ensemble.ts';
import { TenantLimiter } from '../src/limits/tenant-limiter.ts';
import { digestId, tenantSecrets } from '../src/tenancy/credentials.ts';
import {
  CountingRelay,
  metricValue,
  rawConnectAttempt,
  refusedCount,
  ReplyLog,
  replyOrderProblems,
  scrape,
  waitFor,
  type WireReply,
} from './support/limits.ts';
import { startInProcessProxy, TEST_SECRET, type InProcessProxy } from './support/proxy.ts';
import { ServerTree } from './support/server-tree.ts';

const OPEN_ACL = [{ perms: Perms.ALL, id: { scheme: 'world', id: 'anyone' } }];

let ensemble: LocalEnsemble | undefined;
let tree: ServerTree;
/** Proxies, relays and clients of the current test, closed after it. */
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  ensemble = await LocalEnsemble.start({ size: 1 });
  tree = await ServerTree.open(ensemble);
}, 90_000);

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

afterAll(async () => {
  await tree?.close().catch(() => {});
  await ensemble?.close();
});

async function proxyWith(
  tenants: { name: string; limits?: LimitsInput }[],
  extra: Partial<ProxyConfigInput> = {},
  ensembleAddress = ensemble!.connectString(),
): Promise<InProcessProxy> {
  const proxy = await startInProcessProxy(ensembleAddress, tenants, extra);
  cleanups.push(() => proxy.close());
  return proxy;
}

/** A client connection with its own xids (so tests know them before sending) and a wire log of its replies. */
class Conn {
  readonly client: JuteClient;
  readonly log: ReplyLog;
  private nextXid = 1;

  private constructor(client: JuteClient) {
    this.client = client;
    this.log = new ReplyLog(client);
  }

  static async open(port: number, options: { sessionTimeoutMs?: number; keepAlive?: boolean } = {}): Promise<Conn> {
    const client = await JuteClient.connect({
      port,
      sessionTimeoutMs: options.sessionTimeoutMs ?? 10_000,
      keepAlive: options.keepAlive ?? false,
    });
    cleanups.push(async () => client.destroy());
    return new Conn(client);
  }

  send(opcode: number, body?: RecordValue): { xid: number; reply: Promise<Reply> } {
    const xid = this.nextXid++;
    return { xid, reply: this.client.request(opcode, body, xid) };
  }

  /** Sends all of them in one write (one chunk at the proxy), without waiting for replies. */
  pipeline(requests: { opcode: number; body?: RecordValue }[]): { xids: number[]; replies: Promise<Reply[]>; sentAt: number } {
    this.client.socket.cork();
    const sent = requests.map((r) => this.send(r.opcode, r.body));
    const sentAt = performance.now();
    this.client.socket.uncork();
    return { xids: sent.map((s) => s.xid), replies: Promise.all(sent.map((s) => s.reply)), sentAt };
  }

  call(opcode: number, body?: RecordValue): Promise<Reply> {
    return this.send(opcode, body).reply;
  }
}

const getRoot = { opcode: OpCode.getData, body: { path: '/', watch: false } };
const create = (path: string, data: Buffer | null = null, flags: number = CreateMode.PERSISTENT) => ({
  opcode: OpCode.create,
  body: { path, data, acl: OPEN_ACL, flags },
});
const errs = (replies: readonly (Reply | WireReply)[]) => replies.map((r) => r.err);
const count = (values: readonly number[], wanted: number) => values.filter((v) => v === wanted).length;

function expectInOrder(log: readonly WireReply[], xids: readonly number[]): void {
  expect(replyOrderProblems(log, xids)).toEqual([]);
}

// ---------------------------------------------------------------------------------------------

describe('connection limits', () => {
  it('per tenant: N connect, N+1 is closed without a ConnectResponse, a freed slot is reused, the other tenant is unaffected', async () => {
    const N = 3;
    const proxy = await proxyWith([
      { name: 'conn-a', limits: { maxConnections: N } },
      { name: 'conn-b', limits: { maxConnections: N } },
    ]);
    const a: Conn[] = [];
    for (let i = 0; i < N - 1; i++) a.push(await Conn.open(proxy.port('conn-a'))); // just below
    expect(await refusedCount(proxy.adminUrl, 'conn-a', 'connection_limit')).toBe(0);
    a.push(await Conn.open(proxy.port('conn-a'))); // at the limit
    // Above: closed before anything is read, so not even a ConnectResponse comes back.
    expect(await rawConnectAttempt(proxy.port('conn-a'))).toEqual({ bytes: 0, outcome: 'closed' });
    await expect(JuteClient.connect({ port: proxy.port('conn-a'), keepAlive: false })).rejects.toThrow();
    expect(await refusedCount(proxy.adminUrl, 'conn-a', 'connection_limit')).toBe(2);
    // The N accepted connections are untouched.
    for (const conn of a) expect((await conn.call(OpCode.getData, getRoot.body)).err).toBe(ErrorCode.OK);
    // The other tenant has its own N.
    const b: Conn[] = [];
    for (let i = 0; i < N; i++) b.push(await Conn.open(proxy.port('conn-b')));
    for (const conn of b) expect((await conn.call(OpCode.getData, getRoot.body)).err).toBe(ErrorCode.OK);
    expect(await refusedCount(proxy.adminUrl, 'conn-b', 'connection_limit')).toBe(0);
    // One of conn-a's connections closes: its slot is free again, for one connection only.
    await a.shift()!.client.close();
    await waitFor('the proxy to see the close', () => proxy.server.connectionCount === 2 * N - 1);
    a.push(await Conn.open(proxy.port('conn-a')));
    expect((await a.at(-1)!.call(OpCode.getData, getRoot.body)).err).toBe(ErrorCode.OK);
    expect(await rawConnectAttempt(proxy.port('conn-a'))).toEqual({ bytes: 0, outcome: 'closed' });
    expect(await refusedCount(proxy.adminUrl, 'conn-a', 'connection_limit')).toBe(3);
  });

  it('total over all tenants: total.maxConnections refuses whichever tenant comes next', async () => {
    const proxy = await proxyWith([{ name: 'total-a' }, { name: 'total-b' }], { total: { maxConnections: 3 } });
    const a1 = await Conn.open(proxy.port('total-a'));
    await Conn.open(proxy.port('total-a')); // 2 of 3: below
    const b1 = await Conn.open(proxy.port('total-b')); // 3 of 3: at
    expect(await rawConnectAttempt(proxy.port('total-b'))).toEqual({ bytes: 0, outcome: 'closed' });
    expect(await rawConnectAttempt(proxy.port('total-a'))).toEqual({ bytes: 0, outcome: 'closed' });
    expect(await refusedCount(proxy.adminUrl, 'total-a', 'connection_limit')).toBe(1);
    expect(await refusedCount(proxy.adminUrl, 'total-b', 'connection_limit')).toBe(1);
    expect((await b1.call(OpCode.getData, getRoot.body)).err).toBe(ErrorCode.OK);
    // total-b's connection leaves; the slot goes to whoever comes first, here total-a.
    await b1.client.close();
    await waitFor('the proxy to see the close', () => proxy.server.connectionCount === 2);
    const a3 = await Conn.open(proxy.port('total-a'));
    expect((await a3.call(OpCode.getData, getRoot.body)).err).toBe(ErrorCode.OK);
    expect((await a1.call(OpCode.getData, getRoot.body)).err).toBe(ErrorCode.OK);
    expect(await rawConnectAttempt(proxy.port('total-b'))).toEqual({ bytes: 0, outcome: 'closed' });
  });
});

// ---------------------------------------------------------------------------------------------

describe('request rate (token bucket, backpressure, THROTTLEDOP)', () => {
  it('a burst of `burst` requests passes at once; the next ones wait for tokens at `requestsPerSecond`', async () => {
    const burst = 8;
    const proxy = await proxyWith([{ name: 'rate-burst', limits: { requestsPerSecond: 1, burst, maxThrottleWaitMs: 10_000 } }]);
    const conn = await Conn.open(proxy.port('rate-burst'));
    const { xids, replies, sentAt } = conn.pipeline(Array.from({ length: burst + 2 }, () => getRoot));
    expect(errs(await replies)).toEqual(Array(burst + 2).fill(ErrorCode.OK));
    expectInOrder(conn.log.requests, xids);
    const waited = conn.log.requests.map((r) => r.at - sentAt);
    // Requests 1..burst (so also burst-1, just below) are not held: they come back at once.
    for (const ms of waited.slice(0, burst)) expect(ms).toBeLessThan(800);
    // burst+1 and burst+2 each waited for a token at 1/s: exact lower bounds from the bucket.
    expect(waited[burst]!).toBeGreaterThanOrEqual(900);
    expect(waited[burst + 1]!).toBeGreaterThanOrEqual(1900);
    expect(waited[burst + 1]!).toBeLessThan(6000);
    expect(await refusedCount(proxy.adminUrl, 'rate-burst', 'throttled')).toBe(0);
  });

  it('sustained pipelined load is slowed to ~requestsPerSecond without errors while the wait stays under maxThrottleWaitMs', async () => {
    const rate = 20;
    const burst = 5;
    const total = 55;
    const proxy = await proxyWith([{ name: 'rate-sustained', limits: { requestsPerSecond: rate, burst, maxThrottleWaitMs: 8000 } }]);
    const conn = await Conn.open(proxy.port('rate-sustained'));
    const { xids, replies, sentAt } = conn.pipeline(Array.from({ length: total }, () => getRoot));
    expect(errs(await replies)).toEqual(Array(total).fill(ErrorCode.OK));
    expectInOrder(conn.log.requests, xids);
    const elapsedMs = conn.log.requests.at(-1)!.at - sentAt;
    const expectedMs = ((total - burst) / rate) * 1000; // 2.5 s
    // The bucket cannot hand out more than burst + rate x t: never faster than that.
    expect(elapsedMs).toBeGreaterThanOrEqual(expectedMs * 0.9);
    expect(elapsedMs).toBeLessThan(expectedMs + 4000);
    const achieved = (total - burst) / (elapsedMs / 1000);
    expect(achieved).toBeLessThanOrEqual(rate * 1.1);
    expect(achieved).toBeGreaterThan(rate * 0.5);
    expect(await refusedCount(proxy.adminUrl, 'rate-sustained', 'throttled')).toBe(0);
    console.log(
      `sustained: ${total} pipelined requests at ${rate}/s (burst ${burst}) took ${elapsedMs.toFixed(0)} ms (${achieved.toFixed(1)}/s after the burst)`,
    );
  });

  it('beyond what the rate allows within maxThrottleWaitMs: THROTTLEDOP in exact xid order, not executed, interleaved with successes; the connection stays usable', async () => {
    const rate = 5;
    const burst = 5;
    const proxy = await proxyWith([{ name: 'rate-throttled', limits: { requestsPerSecond: rate, burst, maxThrottleWaitMs: 300 } }]);
    const conn = await Conn.open(proxy.port('rate-throttled'));
    const all: { xid: number; path: string }[] = [];
    let throttled = 0;
    for (const [batch, size] of [
      [1, 40],
      [2, 20],
    ] as const) {
      const paths = Array.from({ length: size }, (_, i) => `/b${batch}-${i}`);
      const first = conn.log.requests.length;
      const { xids, replies, sentAt } = conn.pipeline(paths.map((path) => create(path)));
      const results = errs(await replies);
      const elapsedS = (conn.log.requests.at(-1)!.at - sentAt) / 1000;
      xids.forEach((xid, i) => all.push({ xid, path: paths[i]! }));
      // Only OK or THROTTLEDOP; the burst goes through first; no more successes than tokens.
      expect(results.every((err) => err === ErrorCode.OK || err === ErrorCode.THROTTLEDOP)).toBe(true);
      expect(results.slice(0, burst)).toEqual(Array(burst).fill(ErrorCode.OK));
      expect(count(results, ErrorCode.OK)).toBeLessThanOrEqual(burst + Math.ceil(rate * elapsedS) + 1);
      expect(count(results, ErrorCode.THROTTLEDOP)).toBeGreaterThanOrEqual(size - burst - Math.ceil(rate * elapsedS) - 1);
      throttled += count(results, ErrorCode.THROTTLEDOP);
      // The wire order of this batch's replies is the request order, THROTTLEDOPs included.
      expectInOrder(conn.log.requests.slice(first), xids);
      await sleep(1100); // the bucket refills: the second batch starts with a burst again
    }
    // Across both batches: OK, THROTTLEDOP, then OK again, all in one xid order on one connection.
    const wire = conn.log.requests;
    expectInOrder(
      wire,
      all.map((r) => r.xid),
    );
    const pattern = wire
      .map((r) => (r.err === ErrorCode.OK ? 'ok' : 'throttled'))
      .join(',')
      .replace(/(ok,)+ok/g, 'ok')
      .replace(/(throttled,)+throttled/g, 'throttled');
    expect(pattern.startsWith('ok,throttled,') && pattern.includes('throttled,ok,')).toBe(true);
    // A throttled request was never executed; every success was.
    for (let i = 0; i < all.length; i++)
      expect(await tree.exists(`/tenants/rate-throttled${all[i]!.path}`)).toBe(wire[i]!.err === ErrorCode.OK);
    expect(await refusedCount(proxy.adminUrl, 'rate-throttled', 'throttled')).toBe(throttled);
    // Same session, still usable.
    expect(conn.client.closed).toBe(false);
    expect((await conn.call(OpCode.create, create('/after').body)).err).toBe(ErrorCode.OK);
    expect((await conn.call(OpCode.getData, getRoot.body)).err).toBe(ErrorCode.OK);
    console.log(`throttled: ${throttled} of ${all.length} pipelined creates answered THROTTLEDOP; pattern ${pattern}`);
  });

  it('clients retrying THROTTLEDOP (as Curator does): successes and THROTTLEDOP interleave, always in xid order', async () => {
    // 60 creates at once, each retried after a random backoff when throttled, on one connection.
    // Regression: a reply that freed capacity woke the session's own held requests before it was
    // written, so their THROTTLEDOPs overtook it (Curator: "Xid out of order", connection dropped).
    const proxy = await proxyWith([{ name: 'rate-retry', limits: { requestsPerSecond: 20, burst: 5, maxThrottleWaitMs: 100 } }]);
    const conn = await Conn.open(proxy.port('rate-retry'));
    const sent: number[] = [];
    let throttled = 0;
    const worker = async (i: number) => {
      for (let attempt = 0; ; attempt++) {
        const { xid, reply } = conn.send(OpCode.create, create(`/n-${i}`).body);
        sent.push(xid);
        const { err } = await reply;
        if (err !== ErrorCode.THROTTLEDOP) return err;
        throttled++;
        await sleep(Math.random() * Math.min(1000, 50 * 2 ** attempt));
      }
    };
    const results = await Promise.all(Array.from({ length: 60 }, (_, i) => worker(i)));
    expect(results).toEqual(Array(60).fill(ErrorCode.OK));
    expect(throttled).toBeGreaterThan(0);
    expectInOrder(conn.log.requests, sent);
    expect((await tree.children('/tenants/rate-retry'))?.length).toBe(60);
  });

  it('TenantLimiter.done() wakes waiting sessions after its caller returns, not from inside it', async () => {
    const limiter = new TenantLimiter({ ...DEFAULT_LIMITS, maxInFlightPerTenant: 1 });
    expect(limiter.admit()).toBeUndefined();
    expect(limiter.admit()).toBe('tenant_in_flight');
    let woken = 0;
    limiter.waitForCapacity(() => woken++);
    limiter.done();
    expect(woken).toBe(0);
    await Promise.resolve();
    expect(woken).toBe(1);
  });

  it('pings are never held: sessions stay alive through throttling longer than their session timeout', async () => {
    const sessionTimeoutMs = 2000; // the fixture's minimum (2 x tickTime)
    const floodMs = 3 * sessionTimeoutMs;
    const maxThrottleWaitMs = 800;
    const proxy = await proxyWith([{ name: 'rate-ping', limits: { requestsPerSecond: 1, burst: 2, maxThrottleWaitMs } }]);
    // flooder: keeps 30 requests in flight the whole time and pings in between (behind its held requests);
    // pinger: only pings, so the ensemble hears of its session through pings alone.
    const flooder = await Conn.open(proxy.port('rate-ping'), { sessionTimeoutMs });
    const pinger = await Conn.open(proxy.port('rate-ping'), { sessionTimeoutMs });
    expect(flooder.client.sessionTimeoutMs).toBe(sessionTimeoutMs);
    expect((await flooder.call(OpCode.create, create('/flooder', null, CreateMode.EPHEMERAL).body)).err).toBe(ErrorCode.OK);
    expect((await pinger.call(OpCode.create, create('/pinger', null, CreateMode.EPHEMERAL).body)).err).toBe(ErrorCode.OK);

    const pingRtts = { flooder: [] as number[], pinger: [] as number[] };
    const pingErrs: number[] = [];

    let flooding = true;
    let pinging = true; // the pinger goes on until the checks are done: it has nothing else to keep its session
    const sent: number[] = [];
    const floodLoop = async () => {
      const inFlight = new Set<Promise<unknown>>();
      while (flooding) {
        while (inFlight.size < 30) {
          const { xid, reply } = flooder.send(OpCode.getData, getRoot.body);
          sent.push(xid);
          const p = reply.finally(() => inFlight.delete(p));
          inFlight.add(p);
        }
        await Promise.race(inFlight);
      }
      await Promise.all(inFlight);
    };
    const pingLoop = async (conn: Conn, into: number[], running: () => boolean) => {
      while (running()) {
        const start = performance.now();
        pingErrs.push((await conn.client.ping()).err);
        into.push(performance.now() - start);
        await sleep(300);
      }
    };
    const pinging_ = pingLoop(pinger, pingRtts.pinger, () => pinging);
    const loops = [floodLoop(), pingLoop(flooder, pingRtts.flooder, () => flooding)];
    await sleep(floodMs);
    flooding = false;
    await Promise.all(loops);

    expect(pingErrs.every((err) => err === ErrorCode.OK)).toBe(true); // never THROTTLEDOP
    const results = errs(flooder.log.requests.slice(1)); // after its ephemeral create
    expect(count(results, ErrorCode.THROTTLEDOP)).toBeGreaterThan(results.length / 2);
    expect(results.every((err) => err === ErrorCode.OK || err === ErrorCode.THROTTLEDOP)).toBe(true);
    expectInOrder(flooder.log.requests.slice(1), sent);
    // Both sessions outlived 3 session timeouts of throttling: their ephemerals are still there.
    expect(await tree.exists('/tenants/rate-ping/pinger')).toBe(true);
    expect(await tree.exists('/tenants/rate-ping/flooder')).toBe(true);
    // The pinger's pings went straight through though its tenant had no tokens left. The
    // flooder's waited behind its held requests: up to two hold periods (the requests held
    // ahead of it, then those read with it), but never answered THROTTLEDOP.
    expect(pingRtts.pinger.length).toBeGreaterThan(floodMs / 1000);
    expect(Math.max(...pingRtts.pinger)).toBeLessThan(700);
    expect(pingRtts.flooder.length).toBeGreaterThan(0);
    expect(Math.max(...pingRtts.flooder)).toBeLessThan(2 * maxThrottleWaitMs + 1500);
    await sleep(1100);
    expect((await flooder.call(OpCode.getData, getRoot.body)).err).toBe(ErrorCode.OK);
    expect(flooder.client.closed || pinger.client.closed).toBe(false);
    pinging = false;
    await pinging_;
    const max = (values: number[]) => Math.max(...values).toFixed(0);
    console.log(
      `pings while throttled: pinger max RTT ${max(pingRtts.pinger)} ms over ${pingRtts.pinger.length} pings, flooder max RTT ${max(pingRtts.flooder)} ms; flooder ${count(results, ErrorCode.THROTTLEDOP)}/${results.length} THROTTLEDOP`,
    );
  });
});

// ---------------------------------------------------------------------------------------------

describe('requests in flight (counted at the ensemble by a relay in between)', () => {
  async function relayedProxy(tenants: { name: string; limits?: LimitsInput }[]): Promise<{ proxy: InProcessProxy; relay: CountingRelay }> {
    const member = ensemble!.members[0]!;
    const relay = await CountingRelay.start(member.host, member.clientPort);
    cleanups.push(() => relay.close());
    return { proxy: await proxyWith(tenants, {}, relay.address), relay };
  }

  it('per connection: a pipeline beyond maxInFlightPerConnection all succeeds, in order, with never more than the cap at the ensemble', async () => {
    const cap = 2;
    const { proxy, relay } = await relayedProxy([
      { name: 'inflight-conn', limits: { maxInFlightPerConnection: cap } },
      { name: 'inflight-free' },
    ]);
    const conn = await Conn.open(proxy.port('inflight-conn'));
    for (const size of [cap - 1, cap, cap + 1, 40]) {
      await waitFor('nothing outstanding', () => relay.outstanding === 0);
      relay.reset();
      const { xids, replies } = conn.pipeline(Array.from({ length: size }, () => getRoot));
      expect(errs(await replies)).toEqual(Array(size).fill(ErrorCode.OK));
      expectInOrder(conn.log.requests.slice(-size), xids);
      expect(relay.requests).toBe(size);
      // Below and at the cap everything goes out at once; above it, never more than the cap.
      if (size <= cap) expect(relay.maxOutstanding).toBe(size);
      else expect(relay.maxOutstanding).toBe(cap);
    }
    // Control: without the cap the same pipeline reaches the ensemble in one go.
    const free = await Conn.open(proxy.port('inflight-free'));
    await waitFor('nothing outstanding', () => relay.outstanding === 0);
    relay.reset();
    const { replies } = free.pipeline(Array.from({ length: 40 }, () => getRoot));
    expect(errs(await replies)).toEqual(Array(40).fill(ErrorCode.OK));
    expect(relay.maxOutstanding).toBeGreaterThan(2 * cap);
    expect(await refusedCount(proxy.adminUrl, 'inflight-conn', 'throttled')).toBe(0);
  });

  it('per tenant: four pipelining connections never have more than maxInFlightPerTenant outstanding together', async () => {
    const cap = 3;
    const { proxy, relay } = await relayedProxy([{ name: 'inflight-tenant', limits: { maxInFlightPerTenant: cap } }]);
    const conns = await Promise.all(Array.from({ length: 4 }, () => Conn.open(proxy.port('inflight-tenant'))));
    await waitFor('nothing outstanding', () => relay.outstanding === 0);
    // At the cap: three connections with one request each all go out together.
    relay.reset();
    const single = conns.slice(0, cap).map((conn) => conn.pipeline([getRoot]));
    for (const { replies } of single) expect(errs(await replies)).toEqual([ErrorCode.OK]);
    expect(relay.maxOutstanding).toBeLessThanOrEqual(cap);
    // Above: 4 x 15 pipelined.
    await waitFor('nothing outstanding', () => relay.outstanding === 0);
    relay.reset();
    const sent = conns.map((conn) => ({
      conn,
      first: conn.log.requests.length,
      ...conn.pipeline(Array.from({ length: 15 }, () => getRoot)),
    }));
    for (const { conn, first, xids, replies } of sent) {
      expect(errs(await replies)).toEqual(Array(15).fill(ErrorCode.OK));
      expectInOrder(conn.log.requests.slice(first), xids);
    }
    expect(relay.requests).toBe(60);
    expect(relay.maxOutstanding).toBe(cap);
  });
});

// ---------------------------------------------------------------------------------------------

describe('packet size (ensembleMaxFrameBytes, after rewriting)', () => {
  it('a create whose rewritten frame crosses the limit gets BADARGUMENTS and is not created; exactly at the limit it passes', async () => {
    const limit = 4096;
    const name = 'frames';
    const proxy = await proxyWith([{ name }], { ensembleMaxFrameBytes: limit });
    // What the ensemble would receive: the chroot in the path, world:anyone become the tenant's
    // digest identity, and the platform admin added (see src/tenancy/acl-policy.ts).
    const serverAcl = [
      { perms: Perms.ALL, id: { scheme: 'digest', id: tenantSecrets(Buffer.from(TEST_SECRET), name).identity.id } },
      { perms: Perms.ALL, id: { scheme: 'digest', id: digestId('super', 'super-secret') } },
    ];
    const size = (opcode: number, body: RecordValue) => encodeRequest({ xid: 1, opcode, body }).length - 4;
    const serverCreate = (path: string, n: number) =>
      size(OpCode.create, { path: `/tenants/${name}${path}`, data: Buffer.alloc(n), acl: serverAcl, flags: 0 });
    const fits = limit - serverCreate('/xa', 0); // data bytes that make the rewritten create exactly `limit`
    expect(serverCreate('/xb', fits)).toBe(limit);
    // The client's own frame is well below the limit: only the rewriting pushes it over.
    expect(size(OpCode.create, create('/xc', Buffer.alloc(fits + 1)).body)).toBeLessThan(limit - 100);

    const conn = await Conn.open(proxy.port(name));
    const { xids, replies } = conn.pipeline([
      create('/xa', Buffer.alloc(fits - 1)), // just below
      create('/xb', Buffer.alloc(fits)), // at
      create('/xc', Buffer.alloc(fits + 1)), // just above
      getRoot,
    ]);
    expect(errs(await replies)).toEqual([ErrorCode.OK, ErrorCode.OK, ErrorCode.BADARGUMENTS, ErrorCode.OK]);
    expectInOrder(conn.log.requests, xids);
    expect(await tree.exists(`/tenants/${name}/xa`)).toBe(true);
    expect(await tree.exists(`/tenants/${name}/xb`)).toBe(true);
    expect(await tree.exists(`/tenants/${name}/xc`)).toBe(false);

    // setData the same way: one byte over the limit once rewritten, and the node keeps its data.
    const serverSet = (n: number) => size(OpCode.setData, { path: `/tenants/${name}/xa`, data: Buffer.alloc(n), version: -1 });
    const setFits = limit - serverSet(0);
    const set = conn.pipeline([
      { opcode: OpCode.setData, body: { path: '/xa', data: Buffer.alloc(setFits + 1, 1), version: -1 } },
      { opcode: OpCode.setData, body: { path: '/xb', data: Buffer.alloc(setFits, 2), version: -1 } },
    ]);
    expect(errs(await set.replies)).toEqual([ErrorCode.BADARGUMENTS, ErrorCode.OK]);
    expect((await tree.data(`/tenants/${name}/xa`))!.length).toBe(fits - 1);
    expect((await tree.data(`/tenants/${name}/xb`))!.equals(Buffer.alloc(setFits, 2))).toBe(true);
    expect(await refusedCount(proxy.adminUrl, name, 'frame_too_large')).toBe(2);
    // The connection and its session carry on.
    expect(conn.client.closed).toBe(false);
    expect((await conn.call(OpCode.getData, { path: '/xb', watch: false })).err).toBe(ErrorCode.OK);
  });
});

// ---------------------------------------------------------------------------------------------

describe('watches (maxWatches)', () => {
  const watchData = (path: string) => ({ opcode: OpCode.getData, body: { path, watch: true } });

  it('one-shot: M registrations pass, M+1 gets QUOTAEXCEEDED; a fired watch, removeWatches and a closed connection give room back', async () => {
    const M = 3;
    const name = 'watches';
    const proxy = await proxyWith([{ name, limits: { maxWatches: M } }]);
    const conn = await Conn.open(proxy.port(name));
    const other = await Conn.open(proxy.port(name));
    for (const n of [1, 2, 3, 4, 5, 6]) expect((await other.call(OpCode.create, create(`/w${n}`).body)).err).toBe(ErrorCode.OK);

    const { xids, replies } = conn.pipeline([
      watchData('/w1'), // 1: below
      { opcode: OpCode.getChildren, body: { path: '/w2', watch: true } }, // 2: below
      { opcode: OpCode.exists, body: { path: '/missing', watch: true } }, // 3: at (exists on a missing node registers too)
      watchData('/w4'), // 4: above
      watchData('/w1'), // the same watch again: nothing new
      { opcode: OpCode.getData, body: { path: '/w4', watch: false } }, // no watch: unaffected
    ]);
    expect(errs(await replies)).toEqual([
      ErrorCode.OK,
      ErrorCode.OK,
      ErrorCode.NONODE,
      ErrorCode.QUOTAEXCEEDED,
      ErrorCode.OK,
      ErrorCode.OK,
    ]);
    expectInOrder(conn.log.requests, xids);
    let refused = 1;

    // A one-shot watch fires: its slot is free once the notification is out.
    expect((await other.call(OpCode.setData, { path: '/w1', data: Buffer.from('x'), version: -1 })).err).toBe(ErrorCode.OK);
    await waitFor('the NodeDataChanged notification', () => conn.log.notifications.length === 1);
    expect((await conn.call(OpCode.getData, watchData('/w4').body)).err).toBe(ErrorCode.OK);
    expect((await conn.call(OpCode.getData, watchData('/w5').body)).err).toBe(ErrorCode.QUOTAEXCEEDED);
    refused++;

    // removeWatches frees the slot too.
    expect((await conn.call(OpCode.removeWatches, { path: '/w2', type: WatcherType.Children })).err).toBe(ErrorCode.OK);
    expect((await conn.call(OpCode.getData, watchData('/w5').body)).err).toBe(ErrorCode.OK);

    // The count is the tenant's: another connection is refused too, until this one closes.
    expect((await other.call(OpCode.getData, watchData('/w6').body)).err).toBe(ErrorCode.QUOTAEXCEEDED);
    refused++;
    conn.client.destroy();
    await waitFor("the proxy to drop the closed connection's watches", () => proxy.server.connectionCount === 1);
    const after = other.pipeline([watchData('/w6'), watchData('/w1'), watchData('/w2'), watchData('/w3')]);
    expect(errs(await after.replies)).toEqual([ErrorCode.OK, ErrorCode.OK, ErrorCode.OK, ErrorCode.QUOTAEXCEEDED]);
    refused++;
    expect(await refusedCount(proxy.adminUrl, name, 'watch_limit')).toBe(refused);
  });

  it('persistent and recursive watches count, do not free their slot when they fire, and are freed by removeWatches', async () => {
    const M = 2;
    const name = 'pwatches';
    const proxy = await proxyWith([{ name, limits: { maxWatches: M } }]);
    const conn = await Conn.open(proxy.port(name));
    const other = await Conn.open(proxy.port(name));
    for (const path of ['/p1', '/p2', '/p3']) expect((await other.call(OpCode.create, create(path).body)).err).toBe(ErrorCode.OK);
    const addWatch = (path: string, mode: number) => ({ opcode: OpCode.addWatch, body: { path, mode } });

    const { xids, replies } = conn.pipeline([
      addWatch('/p1', AddWatchMode.PERSISTENT), // 1: below
      addWatch('/p2', AddWatchMode.PERSISTENT_RECURSIVE), // 2: at
      addWatch('/p3', AddWatchMode.PERSISTENT), // above
      watchData('/p3'), // above, one-shot
    ]);
    expect(errs(await replies)).toEqual([ErrorCode.OK, ErrorCode.OK, ErrorCode.QUOTAEXCEEDED, ErrorCode.QUOTAEXCEEDED]);
    expectInOrder(conn.log.requests, xids);

    // Both fire (a change on /p1, a new child under /p2) and stay registered.
    expect((await other.call(OpCode.setData, { path: '/p1', data: Buffer.from('x'), version: -1 })).err).toBe(ErrorCode.OK);
    expect((await other.call(OpCode.create, create('/p2/child').body)).err).toBe(ErrorCode.OK);
    await waitFor('both notifications', () => conn.log.notifications.length === 2);
    expect((await conn.call(OpCode.addWatch, addWatch('/p3', AddWatchMode.PERSISTENT).body)).err).toBe(ErrorCode.QUOTAEXCEEDED);

    // ZooKeeper 3.8 knows removeWatches types Children, Data and Any only; Any removes a persistent watch.
    expect((await conn.call(OpCode.removeWatches, { path: '/p1', type: WatcherType.Any })).err).toBe(ErrorCode.OK);
    expect((await conn.call(OpCode.addWatch, addWatch('/p3', AddWatchMode.PERSISTENT).body)).err).toBe(ErrorCode.OK);
    expect((await conn.call(OpCode.getData, watchData('/p1').body)).err).toBe(ErrorCode.QUOTAEXCEEDED);
    expect(await refusedCount(proxy.adminUrl, name, 'watch_limit')).toBe(4);
  });
});

// ---------------------------------------------------------------------------------------------

describe("znode count and bytes (ZooKeeper's own hard quota on the tenant root)", () => {
  it('maxZnodes: the root counts; creates beyond get QUOTAEXCEEDED from the ensemble, unchanged', async () => {
    const name = 'quota-count';
    const proxy = await proxyWith([{ name, limits: { maxZnodes: 4 } }]);
    const conn = await Conn.open(proxy.port(name));
    const quota = `/zookeeper/quota/tenants/${name}`;
    // maxBytes keeps its default (DEFAULT_LIMITS.maxBytes).
    expect((await tree.data(`${quota}/zookeeper_limits`))!.toString()).toBe(
      `count=-1,bytes=-1,countHardLimit=4,byteHardLimit=${DEFAULT_LIMITS.maxBytes}`,
    );
    expect((await tree.data(`${quota}/zookeeper_stats`))!.toString()).toMatch(/^count=\d+,bytes=\d+$/);

    // ZooKeeper checks a hard quota against committed totals: writes in flight together can
    // overshoot it (seen with the byte quota, also without the proxy). Successful writes go one
    // at a time; refused ones are pipelined (nothing in flight changes the totals).
    for (const path of ['/a', '/b', '/c']) expect((await conn.call(OpCode.create, create(path).body)).err).toBe(ErrorCode.OK); // 2, 3 (just below), 4 (at)
    const { xids, replies } = conn.pipeline([create('/d'), getRoot, create('/e')]); // 5: above
    expect(errs(await replies)).toEqual([ErrorCode.QUOTAEXCEEDED, ErrorCode.OK, ErrorCode.QUOTAEXCEEDED]);
    expectInOrder(conn.log.requests.slice(3), xids);
    expect(await tree.children(`/tenants/${name}`)).toEqual(['a', 'b', 'c']);
    // Room again after a delete.
    expect((await conn.call(OpCode.delete, { path: '/c', version: -1 })).err).toBe(ErrorCode.OK);
    expect((await conn.call(OpCode.create, create('/d').body)).err).toBe(ErrorCode.OK);
    // The proxy refused nothing itself: the code is the ensemble's.
    expect(metricValue(await scrape(proxy.adminUrl), 'zkproxy_reply_errors_total', { tenant: name, code: 'QUOTAEXCEEDED' })).toBe(2);
  });

  it('maxBytes: data beyond the byte quota gets QUOTAEXCEEDED on create and setData', async () => {
    const name = 'quota-bytes';
    const proxy = await proxyWith([{ name, limits: { maxBytes: 100 } }]);
    const conn = await Conn.open(proxy.port(name));
    expect((await tree.data(`/zookeeper/quota/tenants/${name}/zookeeper_limits`))!.toString()).toBe(
      `count=-1,bytes=-1,countHardLimit=${DEFAULT_LIMITS.maxZnodes},byteHardLimit=100`,
    );
    const bytes = (n: number) => Buffer.alloc(n, 0x61);
    const ok = async (request: { opcode: number; body?: RecordValue }) =>
      expect((await conn.call(request.opcode, request.body)).err).toBe(ErrorCode.OK);
    await ok(create('/x', bytes(60)));
    await ok(create('/y', bytes(39))); // 99: just below
    await ok(create('/z', bytes(1))); // 100: at
    const { xids, replies } = conn.pipeline([
      create('/w', bytes(1)), // 101: above
      { opcode: OpCode.setData, body: { path: '/x', data: bytes(61), version: -1 } }, // 101: above
      getRoot,
    ]);
    expect(errs(await replies)).toEqual([ErrorCode.QUOTAEXCEEDED, ErrorCode.QUOTAEXCEEDED, ErrorCode.OK]);
    expectInOrder(conn.log.requests.slice(3), xids);
    await ok({ opcode: OpCode.setData, body: { path: '/x', data: bytes(59), version: -1 } }); // 99
    await ok(create('/w', bytes(1))); // 100 again
    expect((await tree.data(`/tenants/${name}/x`))!.length).toBe(59);
    expect(await tree.children(`/tenants/${name}`)).toEqual(['w', 'x', 'y', 'z']);
  });
});

// ---------------------------------------------------------------------------------------------

describe('memory guard (total.maxBufferedBytes)', () => {
  it('a client that stops reading large replies: buffered bytes stop growing, the other tenant still works, and it all completes once it reads again', async () => {
    // Large getData replies are relayed as they arrive (not assembled): a client that stops
    // reading holds about one socket chunk (64 KB) in the proxy, so the budget here is below that.
    const maxBufferedBytes = 32 * 1024;
    const proxy = await proxyWith([{ name: 'mem-slow' }, { name: 'mem-other' }], { total: { maxConnections: 100, maxBufferedBytes } });
    const slow = await Conn.open(proxy.port('mem-slow'), { sessionTimeoutMs: 30_000 });
    const slowToo = await Conn.open(proxy.port('mem-slow'), { sessionTimeoutMs: 30_000 });
    const other = await Conn.open(proxy.port('mem-other'));
    const big = Buffer.alloc(900 * 1024, 0x62);
    expect((await slow.call(OpCode.create, create('/big', big).body)).err).toBe(ErrorCode.OK);

    // 40 x 900 KB = 36 MB of replies to a client that does not read.
    slow.client.socket.pause();
    const reads = 40;
    const { xids, replies } = slow.pipeline(
      Array.from({ length: reads }, () => ({ opcode: OpCode.getData, body: { path: '/big', watch: false } })),
    );
    const samples: { buffered: number; pressure: number }[] = [];
    for (let i = 0; i < 15; i++) {
      await sleep(200);
      const text = await scrape(proxy.adminUrl);
      samples.push({ buffered: metricValue(text, 'zkproxy_buffered_bytes'), pressure: metricValue(text, 'zkproxy_memory_pressure') });
    }
    // Bounded: per-session flow control stops reading from the ensemble once the client
    // socket is backed up; what is left is the chunk being relayed.
    const peak = Math.max(...samples.map((s) => s.buffered));
    expect(peak).toBeLessThan(big.length / 2); // streamed: chunks, never a whole 900 KB frame
    const late = samples.slice(-5).map((s) => s.buffered);
    expect(Math.max(...late) - Math.min(...late)).toBeLessThan(big.length); // flat, not growing
    console.log(
      `memory guard: buffered bytes ${samples.map((s) => `${(s.buffered / 1024).toFixed(0)}K${s.pressure ? '*' : ''}`).join(' ')} (* = pressure)`,
    );

    expect(samples.at(-1)!.pressure).toBe(1);

    // The other tenant is not held up by the slow one; the slow tenant's other connection is
    // (its tenant holds more than its share of the budget, so it is not read from).
    const slowTooReply = slowToo.call(OpCode.getData, getRoot.body);
    let slowTooAnswered = false;
    void slowTooReply.then(() => (slowTooAnswered = true));
    const started = performance.now();
    const otherReply = await Promise.race([other.call(OpCode.getData, getRoot.body), sleep(5000).then(() => undefined)]);
    expect(otherReply?.err, "the other tenant's getData within 5 s").toBe(ErrorCode.OK);
    expect(performance.now() - started).toBeLessThan(2000);
    await sleep(500);
    expect(slowTooAnswered).toBe(false);

    // The slow client reads again: every reply arrives, complete and in order; memory goes back down.
    slow.client.socket.resume();
    const results = await replies;
    expect(errs(results)).toEqual(Array(reads).fill(ErrorCode.OK));
    for (const reply of results) expect((reply.body!.data as Buffer).length).toBe(big.length);
    expectInOrder(slow.log.requests.slice(1), xids);
    await waitFor(
      'buffers to drain',
      async () => metricValue(await scrape(proxy.adminUrl), 'zkproxy_buffered_bytes') < 64 * 1024,
      5000,
      150,
    );
    expect(metricValue(await scrape(proxy.adminUrl), 'zkproxy_memory_pressure')).toBe(0);
    expect((await slowTooReply).err).toBe(ErrorCode.OK);
    expect((await other.call(OpCode.getData, getRoot.body)).err).toBe(ErrorCode.OK);
  });
});
