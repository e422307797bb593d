/**
 * Tenants share one ensemble but must never see each other. Two tenants run the same workload on
 * the same client paths at the same time (kazoo processes and raw JuteClient sessions), path
 * tricks are refused without harming the connection, a sequential create at "/" stays inside the
 * chroot, and the chroot boundary holds between tenants `a` (/tenants/a) and `ab` (/tenants/ab).
 *
 * Watches get a positive control wherever their silence is the point: after the other tenant's
 * writes produced no event, the tenant makes the same change itself and the event does arrive.
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CreateMode, ErrorCode, EventType, OpCode, Perms, type WatcherEventRecord } from 'jute-ts';
import { JuteClient, SessionExpiredError } from 'jute-ts/client';
import { describe, expect, it } from 'vitest';
import { expectSuccess, resultLine, startInteractive } from './support/run-process.ts';
import { useProxiedEnsemble } from './support/proxied-ensemble.ts';

const CLIENTS_DIR = join(import.meta.dirname, 'clients');
const OPEN_ACL = [{ perms: Perms.ALL, id: { scheme: 'world', id: 'anyone' } }];
const TENANTS = ['alpha', 'beta', 'a', 'ab'];

const env = useProxiedEnsemble(TENANTS.map((name) => ({ name })));

interface Session {
  client: JuteClient;
  events: WatcherEventRecord[];
}

/** A raw session through a tenant's listener, recording every notification. */
async function session(tenant: string, resume?: { sessionId: bigint; password: Buffer }): Promise<Session> {
  const client = await JuteClient.connect({ port: env.proxy.port(tenant), sessionTimeoutMs: 15_000, ...resume });
  env.opened.push(client);
  const events: WatcherEventRecord[] = [];
  client.on('notification', (event) => events.push(event));
  return { client, events };
}

function create(client: JuteClient, path: string, flags: number = CreateMode.PERSISTENT, data = ''): Promise<string> {
  return client.call(OpCode.create, { path, data: Buffer.from(data), acl: OPEN_ACL, flags }).then((reply) => reply.body!.path as string);
}

async function children(client: JuteClient, path: string, watch = false): Promise<string[]> {
  const reply = await client.call(OpCode.getChildren, { path, watch });
  return [...(reply.body!.children as string[])].sort();
}

async function ephemerals(client: JuteClient, prefixPath: string): Promise<{ err: number; paths: string[] }> {
  const reply = await client.request(OpCode.getEphemerals, { prefixPath });
  return { err: reply.err, paths: reply.err === ErrorCode.OK ? [...(reply.body!.ephemerals as string[])].sort() : [] };
}

function describeEvents(events: readonly WatcherEventRecord[]): string[] {
  const names = new Map<number, string>(Object.entries(EventType).map(([name, code]) => [code, name]));
  return events.map((event) => `${names.get(event.type) ?? event.type} ${event.path}`).sort();
}

async function waitForEvents(target: Session, count: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (target.events.length < count) {
    if (Date.now() > deadline) throw new Error(`expected ${count} notifications, got ${JSON.stringify(describeEvents(target.events))}`);
    await sleep(20);
  }
}

/** Resolves when `parties` callers have arrived; a two-tenant rendezvous. */
function barrier(parties: number): () => Promise<void> {
  let arrived = 0;
  let release!: () => void;
  const all = new Promise<void>((resolve) => (release = resolve));
  return () => {
    if (++arrived === parties) release();
    return all;
  };
}

describe('two tenants, same workload, same paths, same time', () => {
  interface Call {
    children?: string[];
    data?: string | null;
    event: { type: string; path: string } | null;
  }
  interface KazooSide {
    tenant: string;
    written: { only: string; sequential: string[]; session: string; ephemeralSequential: string; top: string };
    calls: { root: Call[]; app: Call[]; config: Call[]; otherOnly: Call[] };
    final: { root: string[]; app: string[]; seq: string[]; config: string; appData: string; otherOnlyExists: boolean };
  }

  it('kazoo: each tenant sees only its own nodes, data and watch events; sequence numbers are independent', async () => {
    // Different amounts of work per tenant, so that leaked data or events would show in the counts.
    const plan = { alpha: { other: 'beta', updates: 2, sequentials: 5 }, beta: { other: 'alpha', updates: 6, sequentials: 3 } };
    const processes = Object.entries(plan).map(([tenant, { other, updates, sequentials }]) =>
      startInteractive(
        '/usr/bin/python3',
        ['-u', join(CLIENTS_DIR, 'kazoo_same_paths.py'), env.proxy.address(tenant), tenant, other, String(updates), String(sequentials)],
        { timeoutMs: 100_000 },
      ),
    );
    try {
      // Both have their watches in place before either writes; then both write at once.
      await Promise.all(processes.map((child) => child.line('READY')));
      for (const child of processes) child.send('go');
      await Promise.all(processes.map((child) => child.line('WROTE')));
      for (const child of processes) child.send('check');
      const results = await Promise.all(
        processes.map(async (child) => resultLine<KazooSide>(expectSuccess('kazoo_same_paths.py', await child.done))),
      );

      for (const side of results) {
        const { tenant } = side;
        const { other, updates, sequentials } = plan[tenant as keyof typeof plan];
        const sequence = Array.from({ length: sequentials }, (_, i) => `n-${String(i).padStart(10, '0')}`);
        const ownApp = ['config', 'eph-' + side.written.ephemeralSequential.slice(-10), `only-${tenant}`, 'seq', 'session'].sort();

        // Independent sequence numbers: each tenant's /app/seq counts from 0 on its own.
        expect(side.written.sequential).toEqual(sequence.map((name) => `/app/seq/${name}`));
        expect(side.final.seq).toEqual(sequence);
        // Same ephemeral name in both tenants: both creates succeeded.
        expect(side.written.session).toBe('/app/session');

        // Final state: only its own nodes and data.
        expect(side.final.root).toEqual(['app', `${tenant}-top`].sort());
        expect(side.final.app).toEqual(ownApp);
        expect(side.final.appData).toBe(tenant);
        expect(side.final.config).toBe(`${tenant}-${updates}`);
        expect(side.final.otherOnlyExists).toBe(false);

        // Every children list ever reported to a watcher held only its own names.
        for (const call of side.calls.root) for (const name of call.children!) expect(['app', `${tenant}-top`]).toContain(name);
        for (const call of side.calls.app) for (const name of call.children!) expect(ownApp).toContain(name);
        expect(side.calls.root.at(-1)!.children).toEqual(['app', `${tenant}-top`].sort());
        expect(side.calls.app.at(-1)!.children).toEqual(ownApp);

        // Config watch: only its own values, at most one event per own update (the other tenant
        // updated the same client path a different number of times).
        const configEvents = side.calls.config.filter((call) => call.event !== null);
        expect(configEvents.length).toBeGreaterThanOrEqual(1);
        expect(configEvents.length).toBeLessThanOrEqual(updates);
        for (const call of side.calls.config) expect(call.data).toMatch(new RegExp(`^${tenant}-\\d+$`));
        expect(side.calls.config.at(-1)!.data).toBe(`${tenant}-${updates}`);

        // The node only the other tenant created: its watch never fired.
        expect(side.calls.otherOnly).toEqual([{ data: null, event: null }]);

        // Event paths are client-relative and all about its own tree.
        const eventPaths = Object.values(side.calls).flatMap((calls: Call[]) =>
          calls.flatMap((call) => (call.event ? [call.event.path] : [])),
        );
        for (const path of eventPaths) expect(['/', '/app', '/app/config']).toContain(path);

        // Server side: the tenant's nodes are under its own chroot, with its own data.
        expect(await env.tree.children(`/tenants/${tenant}/app/seq`)).toEqual(sequence);
        expect((await env.tree.data(`/tenants/${tenant}/app/config`))?.toString()).toBe(`${tenant}-${updates}`);
        expect(await env.tree.exists(`/tenants/${tenant}/app/only-${tenant}`)).toBe(true);
        expect(await env.tree.exists(`/tenants/${tenant}/app/only-${other}`)).toBe(false);
      }
    } finally {
      for (const child of processes) child.kill();
    }
  }, 120_000);

  it('JuteClient: concurrent sessions get only their own notifications and sequence numbers', async () => {
    const plan = { alpha: { other: 'beta', sequentials: 4 }, beta: { other: 'alpha', sequentials: 2 } };
    const watchesSet = barrier(2);
    const writesDone = barrier(2);

    const run = async (tenant: 'alpha' | 'beta') => {
      const { other, sequentials } = plan[tenant];
      const me = await session(tenant);
      const { client } = me;
      expect(await create(client, '/jute', CreateMode.PERSISTENT, tenant)).toBe('/jute');
      expect(await create(client, '/jute/seqs')).toBe('/jute/seqs');
      // One-shot watches on the same client paths in both tenants, on / too.
      expect((await client.request(OpCode.exists, { path: '/jute/x', watch: true })).err).toBe(ErrorCode.NONODE);
      expect((await client.request(OpCode.exists, { path: `/jute/${other}-only`, watch: true })).err).toBe(ErrorCode.NONODE);
      await children(client, '/jute', true);
      await children(client, '/', true);
      await client.call(OpCode.getData, { path: '/jute', watch: true });
      await watchesSet();

      expect(await create(client, '/jute/x', CreateMode.PERSISTENT, tenant)).toBe('/jute/x');
      expect(await create(client, `/jute/${tenant}-only`)).toBe(`/jute/${tenant}-only`);
      const sequence: string[] = [];
      for (let i = 0; i < sequentials; i++) sequence.push(await create(client, '/jute/seqs/s-', CreateMode.PERSISTENT_SEQUENTIAL));
      expect(await create(client, '/jute/eph', CreateMode.EPHEMERAL)).toBe('/jute/eph');
      await client.call(OpCode.setData, { path: '/jute', data: Buffer.from(`${tenant}!`), version: -1 });
      expect(await create(client, `/top-${tenant}`)).toBe(`/top-${tenant}`);
      await writesDone();
      await sleep(500); // any stray event would arrive by now
      const beforeControl = describeEvents(me.events);

      // Positive control: the watch on the other tenant's name was armed all along.
      await create(client, `/jute/${other}-only`);
      await waitForEvents(me, beforeControl.length + 1);
      return {
        tenant,
        other,
        sequence,
        beforeControl,
        control: describeEvents(me.events.slice(beforeControl.length)),
        root: await children(client, '/'),
        jute: await children(client, '/jute'),
        juteData: (await client.call(OpCode.getData, { path: '/jute', watch: false })).body!.data as Buffer,
      };
    };

    const results = await Promise.all([run('alpha'), run('beta')]);
    for (const result of results) {
      const { tenant, other } = result;
      expect(result.beforeControl).toEqual([
        'NodeChildrenChanged /',
        'NodeChildrenChanged /jute',
        'NodeCreated /jute/x',
        'NodeDataChanged /jute',
      ]);
      expect(result.control).toEqual([`NodeCreated /jute/${other}-only`]);
      expect(result.sequence).toEqual(
        Array.from({ length: plan[tenant].sequentials }, (_, i) => `/jute/seqs/s-${String(i).padStart(10, '0')}`),
      );
      expect(result.jute).toEqual(['alpha-only', 'beta-only', 'eph', 'seqs', 'x']);
      expect(result.juteData.toString()).toBe(`${tenant}!`);
      // "/" is the tenant root: exactly the server's /tenants/<tenant>, nothing of the other one.
      expect(result.root).toEqual(await env.tree.children(`/tenants/${tenant}`));
      expect(result.root).toContain(`top-${tenant}`);
      expect(result.root).not.toContain(`top-${other}`);
      expect(await env.tree.children(`/tenants/${tenant}/jute/seqs`)).toEqual(
        result.sequence.map((path) => path.slice('/jute/seqs/'.length)),
      );
    }
  }, 90_000);
});

describe('path tricks', () => {
  const BAD_PATHS = ['/../beta', '/..', '/./x', '/.', '//x', '/x//y', '/x/', '/x\u0000y', '/x/../y', 'x', ''];

  it('are refused with BADARGUMENTS by every kind of request, and the connection stays usable', async () => {
    const { client } = await session('alpha');
    const betaBefore = await env.tree.children('/tenants/beta');
    const rootBefore = await env.tree.children('/');
    for (const path of BAD_PATHS) {
      const requests: Array<[number, Record<string, unknown>]> = [
        [OpCode.create, { path, data: Buffer.from('trick'), acl: OPEN_ACL, flags: CreateMode.PERSISTENT }],
        [OpCode.create, { path, data: null, acl: OPEN_ACL, flags: CreateMode.EPHEMERAL }],
        [OpCode.getData, { path, watch: true }],
        [OpCode.exists, { path, watch: true }],
        [OpCode.getChildren, { path, watch: true }],
        [OpCode.setData, { path, data: Buffer.from('trick'), version: -1 }],
        [OpCode.delete, { path, version: -1 }],
        [OpCode.addWatch, { path, mode: 1 }],
        [
          OpCode.multi,
          {
            ops: {
              entries: [
                { header: { type: OpCode.create, done: false, err: -1 }, body: { path: '/fine', data: null, acl: OPEN_ACL, flags: 0 } },
                { header: { type: OpCode.create, done: false, err: -1 }, body: { path, data: null, acl: OPEN_ACL, flags: 0 } },
                { header: { type: -1, done: true, err: -1 }, body: undefined },
              ],
            },
          },
        ],
      ];
      for (const [opcode, body] of requests) {
        const reply = await client.request(opcode, body);
        expect(reply.err, `opcode ${opcode} with ${JSON.stringify(path)}`).toBe(ErrorCode.BADARGUMENTS);
      }
    }
    // Still the same usable session, and nothing was created anywhere.
    expect(client.closed).toBe(false);
    expect(await create(client, '/after-tricks')).toBe('/after-tricks');
    expect(await create(client, '/..x')).toBe('/..x'); // a legal name that merely starts with dots
    expect(await children(client, '/')).toEqual(await env.tree.children('/tenants/alpha'));
    expect(await env.tree.exists('/tenants/alpha/after-tricks')).toBe(true);
    expect(await env.tree.exists('/tenants/alpha/..x')).toBe(true);
    expect(await env.tree.exists('/tenants/alpha/fine')).toBe(false);
    expect(await env.tree.exists('/tenants/alpha/x')).toBe(false);
    expect(await env.tree.children('/tenants/beta')).toEqual(betaBefore);
    expect(await env.tree.children('/')).toEqual(rootBefore);
    await client.close();
  }, 60_000);
});

describe('sequential creates at the tenant root', () => {
  it('land inside the chroot (/tenants/alpha/0000000001), never beside it (/tenants/alpha0000000001)', async () => {
    for (const tenant of ['alpha', 'a']) {
      const { client } = await session(tenant);
      const persistent = await create(client, '/', CreateMode.PERSISTENT_SEQUENTIAL, 'p');
      const ephemeral = await create(client, '/', CreateMode.EPHEMERAL_SEQUENTIAL, 'e');
      await create(client, '/seqdir');
      const nested = await create(client, '/seqdir/', CreateMode.PERSISTENT_SEQUENTIAL);
      expect(persistent).toMatch(/^\/\d{10}$/);
      expect(ephemeral).toMatch(/^\/\d{10}$/);
      expect(nested).toBe('/seqdir/0000000000');
      expect(await children(client, '/')).toEqual(expect.arrayContaining([persistent.slice(1), ephemeral.slice(1)]));

      expect((await env.tree.data(`/tenants/${tenant}${persistent}`))?.toString()).toBe('p');
      expect((await env.tree.data(`/tenants/${tenant}${ephemeral}`))?.toString()).toBe('e');
      expect(await env.tree.exists(`/tenants/${tenant}/seqdir/0000000000`)).toBe(true);
      for (const name of (await env.tree.children('/tenants'))!) expect(name).not.toMatch(/\d{10}$/);
      for (const name of (await env.tree.children('/'))!) expect(name).not.toMatch(/\d{10}$/);
      await client.close();
    }
  }, 60_000);
});

describe('chroot boundary: tenant a (/tenants/a) vs tenant ab (/tenants/ab)', () => {
  it('shows nothing of ab to a: children, data, ephemerals, watches', async () => {
    const a = await session('a');
    // A persistent recursive watch gets a session of its own: ZooKeeper delivers an event once per
    // connection, and with a recursive watch on "/" it would swallow that connection's
    // NodeChildrenChanged for "/" (server behaviour, seen without the proxy too).
    const aRecursive = await session('a');
    const ab = await session('ab');
    // The same client names in both; a has its own ephemeral.
    await create(a.client, '/shared', CreateMode.PERSISTENT, 'a');
    await create(a.client, '/a-eph', CreateMode.EPHEMERAL);
    // a watches names that ab is about to create, plus its root, recursively and one-shot.
    for (const path of ['/ab-only', '/e1'])
      expect((await a.client.request(OpCode.exists, { path, watch: true })).err).toBe(ErrorCode.NONODE);
    await children(a.client, '/', true);
    await children(a.client, '/shared', true);
    await a.client.call(OpCode.getData, { path: '/shared', watch: true });
    await aRecursive.client.call(OpCode.addWatch, { path: '/', mode: 1 }); // PERSISTENT_RECURSIVE

    await create(ab.client, '/shared', CreateMode.PERSISTENT, 'ab');
    await create(ab.client, '/ab-only', CreateMode.PERSISTENT, 'ab');
    await create(ab.client, '/e1', CreateMode.EPHEMERAL, 'ab');
    await create(ab.client, '/shared/e2', CreateMode.EPHEMERAL, 'ab');
    const abSequential = await create(ab.client, '/', CreateMode.EPHEMERAL_SEQUENTIAL, 'ab');
    await ab.client.call(OpCode.setData, { path: '/shared', data: Buffer.from('ab2'), version: -1 });
    expect((await ephemerals(ab.client, '/')).paths).toEqual(['/e1', '/shared/e2', abSequential].sort());
    await sleep(500);
    expect(describeEvents(a.events)).toEqual([]);
    expect(describeEvents(aRecursive.events)).toEqual([]);

    // What a sees: its own nodes and data only.
    expect(await children(a.client, '/')).toEqual(await env.tree.children('/tenants/a'));
    expect(await children(a.client, '/')).not.toContain('ab-only');
    expect(await children(a.client, '/shared')).toEqual([]);
    expect(((await a.client.call(OpCode.getData, { path: '/shared', watch: false })).body!.data as Buffer).toString()).toBe('a');
    expect((await a.client.request(OpCode.exists, { path: '/ab-only', watch: false })).err).toBe(ErrorCode.NONODE);
    expect((await a.client.request(OpCode.getData, { path: '/e1', watch: false })).err).toBe(ErrorCode.NONODE);
    for (const prefix of ['/', '', '/e', '/shared', '/a']) {
      expect((await ephemerals(a.client, prefix)).paths, `prefix ${JSON.stringify(prefix)}`).toEqual(
        prefix === '/e' || prefix === '/shared' ? [] : ['/a-eph'],
      );
    }

    // ab's own session cannot even be resumed through a's listener: its password was sealed
    // for ab, so through a it is expired. Through ab's listener it is still there, untouched.
    const { sessionId, password } = ab.client;
    ab.client.destroy('moving to the other listener');
    await expect(session('a', { sessionId, password })).rejects.toBeInstanceOf(SessionExpiredError);
    const back = await session('ab', { sessionId, password });
    expect(back.client.sessionId).toBe(sessionId);
    expect((await ephemerals(back.client, '/')).paths).toEqual(['/e1', '/shared/e2', abSequential].sort());
    expect(await env.tree.children('/tenants/ab')).toEqual(['ab-only', 'e1', 'shared', abSequential.slice(1)].sort());
    await back.client.close();

    // Positive control: a's watches were armed all along, and fire for a's own changes.
    // (Closing ab's session just deleted its ephemerals: no event about that reached a either.)
    await sleep(300);
    expect(describeEvents(a.events)).toEqual([]);
    expect(describeEvents(aRecursive.events)).toEqual([]);
    await create(a.client, '/ab-only', CreateMode.PERSISTENT, 'a');
    await waitForEvents(a, 2);
    await waitForEvents(aRecursive, 1);
    expect(describeEvents(a.events)).toEqual(['NodeChildrenChanged /', 'NodeCreated /ab-only']);
    expect(describeEvents(aRecursive.events)).toEqual(['NodeCreated /ab-only']);
    expect(await env.tree.exists('/tenants/a/ab-only')).toBe(true);
    for (const name of (await env.tree.children('/tenants'))!) expect(TENANTS).toContain(name);
    await a.client.close();
    await aRecursive.client.close();
  }, 60_000);
});
