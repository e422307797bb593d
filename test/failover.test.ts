/**
 * Failover with real clients against a real 3-member ensemble: the proxy keeps no session state,
 * so when the member (or the proxy process) carrying a session dies, the client must reconnect
 * and resume the SAME session elsewhere, with its ephemerals and watches, within the session
 * timeout. The Java client and kazoo run as asynchronous child processes (see
 * support/scripted-clients) and reconnect on their own; nothing here nudges them.
 */
import { connect } from 'node:net';
import { ErrorCode, OpCode, Perms, type Reply } from 'jute-ts';
import { JuteClient } from 'jute-ts/client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LocalEnsemble } from '../src/embedded/ensemble.ts';
import { pollUntil } from '../src/embedded/poll.ts';
import type { ProxyConfigInput } from '../src/config/config.ts';
import { spawnProxyProcess, startInProcessProxy, type InProcessProxy, type ProxyProcess, type TestTenant } from './support/proxy.ts';
import {
  compileJavaClient,
  startJavaClient,
  startKazooClient,
  type ClientEvent,
  type JavaClientBuild,
  type ScriptedClient,
} from './support/scripted-clients/scripted-client.ts';

/** Short ticks: the server clamps session timeouts to 2..20 ticks, so 6 s is allowed. */
const TICK_MS = 500;
const SESSION_TIMEOUT_MS = 6_000;
/** Real clients, JVMs and elections on a shared 2-core machine: generous, but bounded. */
const TEST_TIMEOUT_MS = 90_000;
const OPEN_ACL = [{ perms: Perms.ALL, id: { scheme: 'world', id: 'anyone' } }];

let ensemble: LocalEnsemble;
let javaBuild: JavaClientBuild | undefined;
const clients: ScriptedClient[] = [];
const proxies: ProxyProcess[] = [];

beforeAll(async () => {
  const compiling = compileJavaClient();
  compiling.catch(() => {}); // awaited below
  ensemble = await LocalEnsemble.start({
    size: 3,
    tickTime: TICK_MS,
    // A loaded 2-core machine must not make followers drop out (syncLimit is in ticks);
    // a killed peer is noticed at once anyway, through its closed sockets.
    serverProperties: { syncLimit: '10', initLimit: '20' },
  });
  javaBuild = await compiling;
}, 150_000);

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()));
  await Promise.all(proxies.map((proxy) => proxy.close()));
  await ensemble?.close();
  javaBuild?.cleanup();
});

function track<T extends ScriptedClient>(client: T): T {
  clients.push(client);
  return client;
}

async function spawnProxy(tenants: TestTenant[], extra: Partial<ProxyConfigInput> = {}): Promise<ProxyProcess> {
  const proxy = await spawnProxyProcess(ensemble.connectString(), tenants, extra);
  proxies.push(proxy);
  return proxy;
}

/** The fixture's pollUntil, with this file's shape: a description first, 15 s by default. */
function poll<T>(description: string, attempt: () => Promise<T | undefined> | T | undefined, timeoutMs = 15_000): Promise<T> {
  return pollUntil(async () => attempt(), { description, deadline: Date.now() + timeoutMs });
}

/** Which member's `cons` lists the session: that member holds the client's connection. */
function sessionHolder(sessionHex: string, exceptId?: number): Promise<number> {
  return poll(`a member holding session ${sessionHex}`, async () => {
    for (const member of ensemble.members) {
      if (member.state !== 'running' || member.id === exceptId) continue;
      const cons = await ensemble.fourLetterWord(member.id, 'cons').catch(() => '');
      if (cons.includes(`sid=${sessionHex},`) || cons.includes(`sid=${sessionHex})`)) return member.id;
    }
    return undefined;
  });
}

/** A direct session with a running member (no proxy), as the super user (tenant nodes have ACLs), for checking and changing server state. */
async function direct<T>(use: (client: JuteClient) => Promise<T>): Promise<T> {
  const client = await poll('a direct session with a running member', async () => {
    for (const member of ensemble.members) {
      if (member.state !== 'running') continue;
      try {
        const session = await JuteClient.connect({ port: member.clientPort, sessionTimeoutMs: 4_000, connectTimeoutMs: 2_000 });
        const { user, password } = ensemble.superAuth;
        await session.call(OpCode.auth, { type: 0, scheme: 'digest', auth: Buffer.from(`${user}:${password}`) });
        return session;
      } catch {
        // not serving (yet): try the next one
      }
    }
    return undefined;
  });
  try {
    return await use(client);
  } finally {
    await client.close();
  }
}

async function call(client: JuteClient, opcode: number, body: Record<string, unknown>): Promise<Reply> {
  const reply = await client.request(opcode, body as never);
  if (reply.err !== ErrorCode.OK) throw new Error(`opcode ${opcode} ${JSON.stringify(body.path)}: error ${reply.err}`);
  return reply;
}

/** The ephemeralOwner of a server path as hex, or null when the node does not exist. */
async function ephemeralOwnerOnServer(serverPath: string): Promise<string | null> {
  return direct(async (client) => {
    const reply = await client.request(OpCode.exists, { path: serverPath, watch: false });
    if (reply.err === ErrorCode.NONODE) return null;
    if (reply.err !== ErrorCode.OK) throw new Error(`exists ${serverPath}: error ${reply.err}`);
    const stat = (reply.body as { stat: { ephemeralOwner: bigint } }).stat;
    return `0x${BigInt.asUintN(64, stat.ephemeralOwner).toString(16)}`;
  });
}

function stateEvent(state: string) {
  return (event: ClientEvent) => event.type === 'state' && event.state === state;
}

/** The proxy process whose log shows `sessionHex` being established through it. */
function establishedOn(proxy: ProxyProcess, sessionHex: string): boolean {
  return proxy.logs.some((line) => line.includes('"msg":"session established"') && line.includes(`"session":"${sessionHex}"`));
}

/** A proxy's log lines about failed backend attempts, to explain a slow resume. */
function backendTrouble(proxy: ProxyProcess): string {
  const lines = proxy.logs.filter((line) => line.includes('"level":40') || line.includes('"level":50'));
  return lines.length === 0 ? '(no warnings)' : lines.slice(-10).join('\n');
}

describe('kill -9 of the ensemble member holding the session', () => {
  let proxy: InProcessProxy;

  beforeAll(async () => {
    proxy = await startInProcessProxy(ensemble.connectString(), [{ name: 'alpha' }]);
  });

  afterAll(async () => {
    await proxy?.close();
  });

  afterEach(async ({ task }) => {
    if (task.result?.state === 'fail') console.log(ensemble.diagnostics(undefined, 30));
    for (const member of ensemble.members) if (member.state === 'stopped') await ensemble.restart(member.id);
    await ensemble.waitForQuorum();
  });

  it(
    'Java client: same session on another member, ephemeral kept, watches replayed through the proxy fire',
    async () => {
      const client = track(startJavaClient(javaBuild!, proxy.address('alpha'), SESSION_TIMEOUT_MS));
      await client.waitFor('SyncConnected', stateEvent('SyncConnected'));
      const { session, timeout } = (await client.ok('session')) as unknown as { session: string; timeout: number };
      expect(timeout).toBeLessThanOrEqual(SESSION_TIMEOUT_MS);

      await client.ok('create /fo-java base persistent');
      await client.ok('create /fo-java/eph owned ephemeral');
      await client.ok('create /fo-java/watched v1 persistent');
      await client.ok('create /fo-java/parent - persistent');
      // One watch of each kind, all set before the kill: data, exists (on a missing node), children.
      expect((await client.ok('get /fo-java/watched')).data).toBe('v1');
      expect((await client.ok('exists /fo-java/later')).exists).toBe(false);
      expect((await client.ok('children /fo-java/parent')).children).toEqual([]);
      expect(await ephemeralOwnerOnServer('/tenants/alpha/fo-java/eph')).toBe(session);

      const holder = await sessionHolder(session);
      const leader = await ensemble.leader();
      const mark = client.events.length;
      const killedAt = performance.now();
      await ensemble.kill(holder);

      await client.waitFor('Disconnected after the kill', stateEvent('Disconnected'), { from: mark });
      const resumed = await client.waitFor('SyncConnected after the kill', stateEvent('SyncConnected'), { from: mark, timeoutMs: 30_000 });
      const resumeMs = Math.round(resumed.receivedAt - killedAt);
      console.log(
        `[failover] Java client: member ${holder} (${holder === leader ? 'leader' : 'follower'}) killed, session ${session} resumed after ${resumeMs} ms (session timeout ${timeout} ms)`,
      );

      expect(client.events.slice(mark).filter(stateEvent('Expired'))).toEqual([]);
      expect(resumed.session).toBe(session);
      expect(resumeMs).toBeLessThan(timeout);
      const newHolder = await sessionHolder(session, holder);
      expect(newHolder).not.toBe(holder);
      expect(await ephemeralOwnerOnServer('/tenants/alpha/fo-java/eph')).toBe(session);
      expect(await client.ok('exists /fo-java/eph')).toMatchObject({ exists: true, owner: session });

      // The new member only knows these watches from the client's SetWatches replay, whose paths the
      // proxy had to map into the chroot. Change the nodes behind the client's back, directly.
      const beforeChanges = client.events.length;
      expect(client.events.slice(mark).filter((event) => event.type === 'watch')).toEqual([]);
      await direct(async (admin) => {
        await call(admin, OpCode.setData, { path: '/tenants/alpha/fo-java/watched', data: Buffer.from('v2'), version: -1 });
        await call(admin, OpCode.create, { path: '/tenants/alpha/fo-java/later', data: null, acl: OPEN_ACL, flags: 0 });
        await call(admin, OpCode.create, { path: '/tenants/alpha/fo-java/parent/child', data: null, acl: OPEN_ACL, flags: 0 });
      });
      const watchEvent = (type: string, path: string) => (event: ClientEvent) =>
        event.type === 'watch' && event.event === type && event.path === path;
      await client.waitFor('NodeDataChanged /fo-java/watched', watchEvent('NodeDataChanged', '/fo-java/watched'), { from: beforeChanges });
      await client.waitFor('NodeCreated /fo-java/later', watchEvent('NodeCreated', '/fo-java/later'), { from: beforeChanges });
      await client.waitFor('NodeChildrenChanged /fo-java/parent', watchEvent('NodeChildrenChanged', '/fo-java/parent'), {
        from: beforeChanges,
      });
      // Every notification arrived with the client's own paths, none with the server's.
      const watchPaths = client.events.filter((event) => event.type === 'watch').map((event) => event.path);
      expect(watchPaths.every((path) => typeof path === 'string' && path.startsWith('/fo-java/'))).toBe(true);
      expect((await client.ok('session')).session).toBe(session);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'kazoo, session on the leader: same session on another member after an election, ephemeral kept, writes work again',
    async () => {
      // The proxy picks a member at random; start kazoo sessions until one lands on the leader, so
      // that this test covers the election path (the Java test above usually covers a follower).
      const leader = await ensemble.leader();
      let client: ScriptedClient | undefined;
      let session = '';
      for (let attempt = 1; client === undefined; attempt++) {
        const candidate = track(startKazooClient(proxy.address('alpha'), SESSION_TIMEOUT_MS));
        await candidate.waitFor('CONNECTED', stateEvent('CONNECTED'));
        session = (await candidate.ok('session')).session as string;
        if ((await sessionHolder(session)) === leader) client = candidate;
        else if (attempt >= 30) throw new Error(`30 kazoo sessions, none of them on the leader (member ${leader})`);
        else await candidate.close();
      }
      await client.ok('create /fo-kazoo base persistent');
      await client.ok('create /fo-kazoo/eph owned ephemeral');
      expect(await ephemeralOwnerOnServer('/tenants/alpha/fo-kazoo/eph')).toBe(session);

      const holder = leader;
      const mark = client.events.length;
      const killedAt = performance.now();
      await ensemble.kill(holder);

      await client.waitFor('SUSPENDED after the kill', stateEvent('SUSPENDED'), { from: mark });
      const resumed = await client.waitFor('CONNECTED after the kill', stateEvent('CONNECTED'), { from: mark, timeoutMs: 30_000 });
      const resumeMs = Math.round(resumed.receivedAt - killedAt);
      console.log(
        `[failover] kazoo: member ${holder} (${holder === leader ? 'leader' : 'follower'}) killed, session ${session} resumed after ${resumeMs} ms (session timeout ${SESSION_TIMEOUT_MS} ms)`,
      );

      expect(client.events.slice(mark).filter(stateEvent('LOST'))).toEqual([]);
      expect(resumed.session).toBe(session);
      expect(resumeMs).toBeLessThan(SESSION_TIMEOUT_MS);
      expect(await sessionHolder(session, holder)).not.toBe(holder);
      expect(await client.ok('exists /fo-kazoo/eph')).toMatchObject({ exists: true, owner: session });
      expect(await ephemeralOwnerOnServer('/tenants/alpha/fo-kazoo/eph')).toBe(session);
      await client.ok('set /fo-kazoo after-failover');
      expect((await client.ok('get /fo-kazoo')).data).toBe('after-failover');
    },
    TEST_TIMEOUT_MS,
  );
});

describe('proxy processes', () => {
  it(
    'kill -9 of the proxy carrying a session: kazoo resumes it through the other proxy, data intact',
    async () => {
      const [first, second] = await Promise.all([spawnProxy([{ name: 'alpha' }]), spawnProxy([{ name: 'alpha' }])]);
      const client = track(startKazooClient(`${first.address('alpha')},${second.address('alpha')}`, SESSION_TIMEOUT_MS, 'random'));
      await client.waitFor('CONNECTED', stateEvent('CONNECTED'));
      const session = (await client.ok('session')).session as string;
      const carrier = await poll('the proxy carrying the session', () => [first, second].find((proxy) => establishedOn(proxy, session)));
      const other = carrier === first ? second : first;

      await client.ok('create /pr base persistent');
      await client.ok('create /pr/payload kept persistent');
      await client.ok('create /pr/eph owned ephemeral');
      await client.ok('create /pr/counter 0 persistent');
      await client.ok('workload-start /pr/counter');
      await poll('workload progress', async () => (((await client.ok('workload-status')).acked as number) >= 10 ? true : undefined));

      const mark = client.events.length;
      const killedAt = performance.now();
      const ackedBeforeKill = (await client.ok('workload-status')).acked as number;
      carrier.kill('SIGKILL');
      await carrier.exited;

      await client.waitFor('SUSPENDED after the proxy died', stateEvent('SUSPENDED'), { from: mark });
      const resumed = await client.waitFor('CONNECTED after the proxy died', stateEvent('CONNECTED'), { from: mark, timeoutMs: 30_000 });
      const resumeMs = Math.round(resumed.receivedAt - killedAt);
      expect(client.events.slice(mark).filter(stateEvent('LOST'))).toEqual([]);
      expect(resumed.session).toBe(session);
      expect(resumeMs).toBeLessThan(SESSION_TIMEOUT_MS);
      await poll('the other proxy to log the resumed session', () => (establishedOn(other, session) ? true : undefined));

      // The workload carries on through the other proxy.
      await poll('workload progress after the failover', async () =>
        ((await client.ok('workload-status')).acked as number) >= ackedBeforeKill + 10 ? true : undefined,
      );
      const stopped = (await client.ok('workload-stop')) as unknown as { acked: number; failures: number; ackedTimes: number[] };
      const times = stopped.ackedTimes;
      const writeGapMs = Math.max(...times.slice(1).map((t, i) => t - times[i]!));
      console.log(
        `[failover] kazoo: proxy process killed, session ${session} resumed through the other proxy after ${resumeMs} ms; ` +
          `longest gap between acknowledged writes ${writeGapMs} ms, ${stopped.failures} failed attempts during the outage`,
      );

      if (resumeMs > 1_000) console.log(`[failover] slow resume; the other proxy said:\n${backendTrouble(other)}\n${client.diagnostics()}`);
      expect(stopped.acked).toBeGreaterThanOrEqual(ackedBeforeKill + 10);
      // Every acknowledged write survived: the last one is what the server holds.
      expect((await client.ok('get /pr/counter')).data).toBe(String(stopped.acked));
      expect((await client.ok('get /pr/payload')).data).toBe('kept');
      expect(await client.ok('exists /pr/eph')).toMatchObject({ exists: true, owner: session });
      expect(await ephemeralOwnerOnServer('/tenants/alpha/pr/eph')).toBe(session);
      await client.close();
      await other.close();
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'SIGTERM: stops accepting, closes connections within the drain period, exits 0; the client resumes through the other proxy',
    async () => {
      const drainMs = 3_000;
      const [draining, fallback] = await Promise.all([
        spawnProxy([{ name: 'alpha' }], { drain: { periodMs: drainMs, fastPeriodMs: 100 } }),
        spawnProxy([{ name: 'alpha' }]),
      ]);
      // Ordered: the client starts on the proxy about to drain, and tries it first when reconnecting.
      const client = track(startKazooClient(`${draining.address('alpha')},${fallback.address('alpha')}`, SESSION_TIMEOUT_MS, 'ordered'));
      await client.waitFor('CONNECTED', stateEvent('CONNECTED'));
      const session = (await client.ok('session')).session as string;
      await poll('the session on the draining proxy', () => (establishedOn(draining, session) ? true : undefined));
      await client.ok('create /drain base persistent');
      await client.ok('create /drain/eph owned ephemeral');

      // More connections on the draining proxy, so that the drain spreads their closes over time.
      const bystanders = await Promise.all(
        [1, 2, 3].map(() => JuteClient.connect({ port: draining.port('alpha'), sessionTimeoutMs: SESSION_TIMEOUT_MS })),
      );
      const closedAfter: number[] = [];
      const mark = client.events.length;
      const signalledAt = performance.now();
      for (const bystander of bystanders) bystander.once('close', () => closedAfter.push(performance.now() - signalledAt));
      draining.kill('SIGTERM');

      await poll('the drain to start', () => (draining.logs.some((line) => line.includes('"msg":"draining"')) ? true : undefined), 5_000);
      // New connections are refused while existing ones are still being served.
      const refused = await new Promise<string>((resolve) => {
        const socket = connect({ host: '127.0.0.1', port: draining.port('alpha') });
        socket.once('connect', () => {
          socket.destroy();
          resolve('accepted');
        });
        socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
      });
      const stillServing = bystanders.filter((bystander) => !bystander.closed).length;
      expect(refused).toBe('ECONNREFUSED');
      expect(stillServing).toBeGreaterThan(0);
      expect(draining.child.exitCode).toBeNull();

      const exitCode = await Promise.race([
        draining.exited,
        new Promise<string>((resolve) => setTimeout(() => resolve('still running'), drainMs + 10_000)),
      ]);
      const exitedAfter = Math.round(performance.now() - signalledAt);
      expect(exitCode).toBe(0);
      expect(closedAfter).toHaveLength(bystanders.length);
      // Closes are spread over the drain period, and all happen within it (plus scheduling slack).
      expect(Math.max(...closedAfter)).toBeLessThan(drainMs + 1_500);
      expect(Math.max(...closedAfter)).toBeGreaterThan(drainMs / 3);

      const resumed = await client.waitFor('CONNECTED after the drain', stateEvent('CONNECTED'), { from: mark, timeoutMs: 30_000 });
      const resumeMs = Math.round(resumed.receivedAt - signalledAt);
      console.log(
        `[failover] SIGTERM: connections closed at ${closedAfter.map(Math.round).join(', ')} ms, exit 0 after ${exitedAfter} ms; ` +
          `kazoo session ${session} resumed through the other proxy ${resumeMs} ms after the signal`,
      );
      if (resumeMs > 1_000)
        console.log(`[failover] slow resume; fallback proxy said:\n${backendTrouble(fallback)}\n${client.diagnostics()}`);
      expect(client.events.slice(mark).filter(stateEvent('LOST'))).toEqual([]);
      expect(resumed.session).toBe(session);
      expect(resumeMs).toBeLessThan(SESSION_TIMEOUT_MS);
      await poll('the fallback proxy to log the resumed session', () => (establishedOn(fallback, session) ? true : undefined));
      expect(await client.ok('exists /drain/eph')).toMatchObject({ exists: true, owner: session });
      expect(await ephemeralOwnerOnServer('/tenants/alpha/drain/eph')).toBe(session);
    },
    TEST_TIMEOUT_MS,
  );
});
