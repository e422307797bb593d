/**
 * `tenant move` end to end (docs/ensembles.md "Move: cut-over"), against two real 1-node
 * ensembles (east: home, west), one proxy on both with the registry, and the controller as CLI
 * processes (and a controller replica's API): a leader-latch / job-graph / counter workload keeps
 * writing through the proxy during the whole move and afterwards finds every acknowledged write
 * on west, its counter and sequence numbers continued, one session expiry; another tenant on east
 * keeps its session; a mover killed with SIGKILL during its copy is finished by --resume; one
 * killed during its hold is rolled back by --abort, the tenant whole on east and serving.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OpCode, Perms } from 'jute-ts';
import zookeeper from 'node-zookeeper-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalEnsemble } from '../src/embedded/ensemble.ts';
import { reserveFreePorts } from '../src/embedded/free-ports.ts';
import { CLI, controllerCliJson } from './support/controller-cli.ts';
import { apiCaller, startReplica, type Replica } from './support/controller-replica.ts';
import { startInProcessProxy, TEST_SECRET, type InProcessProxy } from './support/proxy.ts';
import { waitFor } from './support/limits.ts';
import { ServerTree } from './support/server-tree.ts';
import { connectClient, type TestClient } from './support/zookeeper-client.ts';

const REGISTRY = '/zkproxy/registry';
const REPLICAS = '/zkproxy/replicas';
const MOVES = '/zkproxy/controller/moves';
const API_TOKEN = 'tenant-move-test-token-0123456789';
const OPEN = [{ perms: Perms.ALL, id: { scheme: 'world', id: 'anyone' } }];

let east: LocalEnsemble | undefined;
let west: LocalEnsemble | undefined;
let eastTree: ServerTree;
let westTree: ServerTree;
let proxy: InProcessProxy | undefined;
let replica: Replica | undefined;
let work: string;
let configFile: string;
let ports: number[];

beforeAll(async () => {
  [east, west] = await Promise.all([LocalEnsemble.start({ size: 1 }), LocalEnsemble.start({ size: 1 })]);
  [eastTree, westTree] = await Promise.all([ServerTree.open(east), ServerTree.open(west)]);
  ports = await reserveFreePorts(6);
  work = mkdtempSync(join(tmpdir(), 'zkproxy-tenant-move-'));
  configFile = join(work, 'controller.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      ensembles: { east: { members: east.connectString() }, west: { members: west.connectString() } },
      security: { ensembleAdmin: 'super:super-secret' },
      registry: { path: REGISTRY, replicasPath: REPLICAS },
      controller: { root: '/zkproxy/controller', reconcileIntervalMs: 60_000, sessionTimeoutMs: 4000, moveHoldWaitMs: 20_000 },
      platform: { domain: 'poc.example.com', proxyAddress: '127.0.0.1:{port}', tenantListenerHost: '127.0.0.1' },
      apply: { mode: 'directory', directory: join(work, 'manifests') },
      log: { level: 'info' },
    }),
  );
  for (const [i, name] of ['flink', 'bystander', 'bulk', 'held', 'api'].entries())
    await cliJson('tenant', 'create', name, '--ensemble', 'east', '--listener', `127.0.0.1:${ports[i]}`);
  proxy = await startInProcessProxy('', [], {
    ensemble: undefined,
    ensembles: { east: { members: east.connectString() }, west: { members: west.connectString() } },
    registry: { path: REGISTRY, replicasPath: REPLICAS },
    moveHoldMaxMs: 8000,
  });
  await waitFor('the proxy serves every tenant', () => {
    try {
      for (const name of ['flink', 'bystander', 'bulk', 'held', 'api']) proxy!.port(name);
      return true;
    } catch {
      return false;
    }
  });
}, 120_000);

afterAll(async () => {
  replica?.child.kill('SIGTERM');
  await replica?.exited;
  await proxy?.close();
  await Promise.all([eastTree?.close().catch(() => {}), westTree?.close().catch(() => {})]);
  await Promise.all([east?.close(), west?.close()]);
  if (work) rmSync(work, { recursive: true, force: true });
});

const cliJson = (...args: string[]) => controllerCliJson(configFile, ...args);

/** A mover as a child process this test can kill -9. */
function spawnMover(...args: string[]): { child: ChildProcess; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [CLI, 'tenant', 'move', ...args, '--config', configFile, '-o', 'json'], {
    env: { ...process.env, ZKPROXY_SECRET: TEST_SECRET },
    stdio: 'ignore',
  });
  return { child, exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))) };
}

async function moveRecord(tenant: string): Promise<{ phase: string } | null> {
  if (!(await eastTree.exists(`${MOVES}/${tenant}`))) return null;
  return JSON.parse((await eastTree.data(`${MOVES}/${tenant}`))!.toString('utf8'));
}

async function registryEntry(name: string): Promise<Record<string, unknown> | undefined> {
  const document = JSON.parse((await eastTree.data(REGISTRY))!.toString()) as { tenants: Record<string, unknown>[] };
  return document.tenants.find((tenant) => tenant.name === name);
}

/** Adds `count` znodes under the tenant's root directly on a server (a bulk tree to copy). */
async function fill(tree: ServerTree, root: string, count: number): Promise<void> {
  const groups = Math.ceil(count / 100);
  await Promise.all(
    Array.from({ length: groups }, (_, g) => tree.client.call(OpCode.create, { path: `${root}/g${g}`, data: null, acl: OPEN, flags: 0 })),
  );
  await Promise.all(
    Array.from({ length: count }, (_, i) =>
      tree.client.call(OpCode.create, { path: `${root}/g${Math.floor(i / 100)}/n${i}`, data: Buffer.alloc(32, i), acl: OPEN, flags: 0 }),
    ),
  );
}

/**
 * A Flink-like HA client through the proxy: a leader latch (ephemeral sequential), job graphs
 * (persistent sequential) and a checkpoint counter (compare-and-set), every acknowledged write
 * recorded; after an expiry it starts a new session and takes part again.
 */
class HaWorkload {
  readonly jobs: string[] = [];
  readonly counterValues: number[] = [];
  readonly sessions: string[] = [];
  expiries = 0;
  private client: TestClient | undefined;
  private stopped = false;
  private running: Promise<void> | undefined;

  private readonly address: string;
  /** false: a standby that only takes part in the leader latch. */
  private readonly writes: boolean;

  constructor(address: string, writes = true) {
    this.address = address;
    this.writes = writes;
  }

  async start(): Promise<void> {
    this.client = await connectClient(this.address);
    await this.client.create('/jobgraphs').catch(() => {});
    await this.client.create('/latch').catch(() => {});
    await this.client.create('/counter', '0').catch(() => {});
    await this.join();
    this.running = this.loop();
  }

  private async join(): Promise<void> {
    const client = this.client!;
    client.raw.once('expired', () => {
      this.expiries++;
      client.close();
      this.client = undefined;
    });
    await client.create('/latch/member-', '', zookeeper.CreateMode.EPHEMERAL_SEQUENTIAL);
    this.sessions.push(client.raw.getSessionId().toString('hex'));
  }

  /** Whether this client's latch node is the lowest: it leads. */
  async leads(): Promise<boolean> {
    const members = (await this.client!.getChildren('/latch')).sort();
    const own = await Promise.all(members.map((m) => this.client!.exists(`/latch/${m}`)));
    const session = this.client!.raw.getSessionId().toString('hex');
    return members.length > 0 && own[0]!.ephemeralOwner.toString('hex') === session;
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      if (this.client === undefined) {
        try {
          this.client = await connectClient(this.address, { timeoutMs: 15_000 });
          await this.join();
        } catch {
          this.client = undefined;
        }
        continue;
      }
      const client = this.client;
      if (!this.writes) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        continue;
      }
      try {
        this.jobs.push(await client.create('/jobgraphs/job-', 'graph', zookeeper.CreateMode.PERSISTENT_SEQUENTIAL));
        const stat = await client.exists('/counter');
        const value = Number((await client.getData('/counter'))!.toString()) + 1;
        await new Promise<void>((resolve, reject) =>
          client.raw.setData('/counter', Buffer.from(String(value)), stat!.version, (error) => (error ? reject(error) : resolve())),
        );
        this.counterValues.push(value);
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 50)); // connection loss or expiry: the next turn sees which
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }

  close(): void {
    this.client?.close();
  }
}

const sequence = (name: string) => Number(name.slice(-10));

describe('tenant move between two ensembles', () => {
  it('moves a tenant under an HA workload: every acknowledged write on west, counter and sequences continued, one expiry, the bystander untouched, east emptied', async () => {
    const workload = new HaWorkload(proxy!.address('flink'));
    const standby = new HaWorkload(proxy!.address('flink'), false);
    const bystander = await connectClient(proxy!.address('bystander'));
    try {
      await workload.start();
      await standby.start();
      expect([await workload.leads(), await standby.leads()]).toEqual([true, false]);
      await bystander.create('/kept', 'before');
      const bystanderSession = bystander.raw.getSessionId().toString('hex');
      await waitFor('the workload writes', () => workload.jobs.length >= 20);
      const before = { jobs: workload.jobs.length, counter: workload.counterValues.at(-1)! };

      const moved = await cliJson('tenant', 'move', 'flink', '--to', 'west');
      expect(moved).toMatchObject({ tenant: 'flink', from: 'east', to: 'west', phase: 'done', error: null });
      expect(moved.pauseMs).toBeGreaterThan(0);
      expect(moved.nodesCopied).toBeGreaterThanOrEqual(before.jobs);

      const afterMove = workload.jobs.length;
      await waitFor(
        'the workload writes again on west',
        () => workload.jobs.length >= afterMove + 20 && workload.sessions.length === 2 && standby.sessions.length === 2,
        30_000,
      );
      await Promise.all([workload.stop(), standby.stop()]);
      expect([workload.expiries, standby.expiries]).toEqual([1, 1]);
      // The old latch nodes went with the old sessions; exactly one of the new sessions leads.
      expect((await westTree.children('/tenants/flink/latch'))!.length).toBe(2);
      expect([await workload.leads(), await standby.leads()].filter(Boolean)).toHaveLength(1);

      const jobsOnWest = new Set((await westTree.children('/tenants/flink/jobgraphs'))!);
      for (const job of workload.jobs) expect(jobsOnWest.has(job.slice('/jobgraphs/'.length))).toBe(true);
      const numbers = workload.jobs.map(sequence);
      for (let i = 1; i < numbers.length; i++) expect(numbers[i]).toBeGreaterThan(numbers[i - 1]!);
      const values = workload.counterValues;
      expect(values.at(-1)).toBeGreaterThan(before.counter);
      for (let i = 1; i < values.length; i++) expect(values[i]).toBeGreaterThan(values[i - 1]!);
      expect(Number((await westTree.data('/tenants/flink/counter'))!.toString())).toBe(values.at(-1));

      expect(await eastTree.exists('/tenants/flink')).toBe(false);
      expect(await eastTree.exists('/zookeeper/quota/tenants/flink')).toBe(false);
      expect(await westTree.exists('/zookeeper/quota/tenants/flink/zookeeper_limits')).toBe(true);
      expect(await registryEntry('flink')).toMatchObject({ ensemble: 'west' });
      expect((await registryEntry('flink'))!.hold).toBeUndefined();
      expect(await moveRecord('flink')).toBeNull();
      expect(await cliJson('tenant', 'show', 'flink')).toMatchObject({ ensemble: 'west', reconcile: { converged: true } });

      expect(bystander.raw.getSessionId().toString('hex')).toBe(bystanderSession);
      expect((await bystander.getData('/kept'))!.toString()).toBe('before');
      expect(await eastTree.exists('/tenants/bystander/kept')).toBe(true);
    } finally {
      workload.close();
      standby.close();
      bystander.close();
    }
  }, 60_000);

  it('a mover killed with SIGKILL during its copy is finished by --resume', async () => {
    await fill(eastTree, '/tenants/bulk', 3000);
    const mover = spawnMover('bulk', '--to', 'west');
    await waitFor('the mover copies', async () => (await moveRecord('bulk'))?.phase === 'copy', 30_000, 5);
    mover.child.kill('SIGKILL');
    await mover.exited;
    expect(await moveRecord('bulk')).toMatchObject({ phase: 'copy' });
    expect(await registryEntry('bulk')).toMatchObject({ ensemble: 'east' }); // still whole on east
    expect(await eastTree.exists('/tenants/bulk/g29/n2999')).toBe(true);

    const resumed = await cliJson('tenant', 'move', 'bulk', '--resume');
    expect(resumed).toMatchObject({ phase: 'done', resumes: 1, to: 'west' });
    expect((await westTree.subtree('/tenants/bulk')).length).toBe(1 + 30 + 3000);
    expect(await eastTree.exists('/tenants/bulk')).toBe(false);
    expect(await registryEntry('bulk')).toMatchObject({ ensemble: 'west' });
  }, 60_000);

  it('--abort after a mover killed during its hold leaves the tenant whole on east and serving', async () => {
    const client = await connectClient(proxy!.address('held'));
    // A replica that never acknowledges the hold (as one partitioned from home would): the mover waits.
    const stale = await eastTree.client.call(OpCode.create, {
      path: `${REPLICAS}/stale-replica`,
      data: Buffer.from(JSON.stringify({ registryVersion: 0, quiesced: [] })),
      acl: OPEN,
      flags: 1,
    });
    try {
      await client.create('/state', 'v1');
      const mover = spawnMover('held', '--to', 'west');
      await waitFor(
        'the mover holds',
        async () => (await moveRecord('held'))?.phase === 'hold' && (await registryEntry('held'))?.hold === true,
        30_000,
      );
      mover.child.kill('SIGKILL');
      await mover.exited;

      const aborted = await cliJson('tenant', 'move', 'held', '--abort');
      expect(aborted).toMatchObject({ phase: 'aborted', from: 'east', to: 'west' });
      expect(await registryEntry('held')).toMatchObject({ ensemble: 'east' });
      expect((await registryEntry('held'))!.hold).toBeUndefined();
      expect(await moveRecord('held')).toBeNull();
      expect(await westTree.exists('/tenants/held')).toBe(false);
      expect(await westTree.exists('/zookeeper/quota/tenants/held')).toBe(false);
      expect((await eastTree.data('/tenants/held/state'))!.toString()).toBe('v1');
      // Serving again: the held client's requests go on (or, after moveHoldMaxMs, a new session does).
      const after = await connectClient(proxy!.address('held'));
      expect((await after.getData('/state'))!.toString()).toBe('v1');
      await after.setData('/state', 'v2');
      after.close();
      expect((await eastTree.data('/tenants/held/state'))!.toString()).toBe('v2');
      expect(stale.err).toBe(0);
    } finally {
      client.close();
      await eastTree.client.request(OpCode.delete, { path: `${REPLICAS}/stale-replica`, version: -1 });
    }
  }, 60_000);

  it('the API starts a move (202), refuses a bad target and a second move, and GET of the move is 404 once the tenant is on west', async () => {
    replica = await startReplica(configFile, { ZKPROXY_SECRET: TEST_SECRET, ZKPROXY_API_TOKEN: API_TOKEN });
    const api = apiCaller(replica, API_TOKEN);
    expect((await api('POST', '/v1/tenants/api/move', { to: 'nowhere' })).status).toBe(400);
    expect((await api('POST', '/v1/tenants/api/move', { to: 'east' })).status).toBe(409);
    const started = await api('POST', '/v1/tenants/api/move', { to: 'west' });
    expect(started).toMatchObject({ status: 202, body: { tenant: 'api', from: 'east', to: 'west' } });
    expect((await api('POST', '/v1/tenants/api/move', { to: 'west' })).status).toBe(409);
    await waitFor('the move ends', async () => (await api('GET', '/v1/tenants/api/move')).status === 404, 30_000);
    expect((await api('GET', '/v1/tenants/api')).body).toMatchObject({ ensemble: 'west' });
    expect(await eastTree.exists('/tenants/api')).toBe(false);
    expect(await westTree.exists('/tenants/api')).toBe(true);
  }, 60_000);
});
