/**
 * Flink HA conformance: JobManagers built like Flink's (Curator 5.4 on the ZooKeeper 3.8 Java
 * client, test/flink-ha/FlinkHaContender.java) run Flink's ZooKeeper HA protocol through the proxy
 * against a real ZooKeeper: leader election, leader information, the job graph and checkpoint
 * stores with their lock nodes, the checkpoint counter, failover and terminal cleanup, in the 1.15
 * and the 1.12 layout, under both connection-state policies. What lands on the ensemble is checked
 * over a direct super-user session. The checklist is /work/shared/reference/flink-ha-zookeeper.md
 * §6; docs/flink-ha-conformance.md maps each test to it.
 */
import { join } from 'node:path';
import { ErrorCode, OpCode, Perms } from 'jute-ts';
import { JuteClient } from 'jute-ts/client';
import { digestId } from '../src/tenancy/credentials.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalEnsemble } from '../src/embedded/ensemble.ts';
import { reserveFreePorts } from '../src/embedded/free-ports.ts';
import { pollUntil } from '../src/embedded/poll.ts';
import { Contender, type ContenderOptions, type LeaderInterval } from './flink-ha/contender.ts';
import { compileJava, type CompiledJava } from './support/java.ts';
import { spawnProxyProcess, startInProcessProxy, type InProcessProxy, type ProxyProcess } from './support/proxy.ts';
import { ServerTree } from './support/server-tree.ts';

const CLUSTER_ID = 'prod';
/** Flink asks for 60 s; the fixture's tickTime of 1000 ms caps sessions at 20 x tickTime. */
const NEGOTIATED_TIMEOUT_MS = 20_000;
const LATCH_NODE = /^_c_[0-9a-f-]{36}-latch-\d{10}$/;
const COMPONENTS = ['dispatcher', 'resource_manager', 'rest_server'];
const LEGACY_COMPONENTS = ['dispatcher_lock', 'resource_manager_lock', 'rest_server_lock'];

let ensemble: LocalEnsemble | undefined;
let proxy: InProcessProxy | undefined;
let tree: ServerTree;
let compiled: CompiledJava | undefined;
const contenders: Contender[] = [];
const replicas: ProxyProcess[] = [];

beforeAll(async () => {
  const compiling = compileJava([join(import.meta.dirname, 'flink-ha', 'FlinkHaContender.java')]);
  compiling.catch(() => {}); // awaited below
  // Empty containers are reaped within about a second instead of a minute.
  ensemble = await LocalEnsemble.start({ size: 1, systemProperties: { 'znode.container.checkIntervalMs': '1000' } });
  compiled = await compiling;
  const tenants = ['acme', 'globex', 'legacy', 'std', 'tol', 'secure'].map((name) => ({ name }));
  proxy = await startInProcessProxy(ensemble.connectString(), tenants);
  tree = await ServerTree.open(ensemble);
}, 150_000);

afterAll(async () => {
  await Promise.all(contenders.map((contender) => contender.kill()));
  await tree?.close().catch(() => {});
  await Promise.all(replicas.map((replica) => replica.close()));
  await proxy?.close();
  await ensemble?.close();
  compiled?.cleanup();
}, 60_000);

async function startContender(options: Omit<ContenderOptions, 'clusterId'> & { clusterId?: string }): Promise<Contender> {
  const contender = await Contender.start(compiled!, { clusterId: CLUSTER_ID, ...options });
  contenders.push(contender);
  return contender;
}

// ---- the ensemble's view -------------------------------------------------------------------------

/** The node's ephemeralOwner as Java prints it (unsigned hex, no 0x), or null when it is absent. */
async function ownerOnServer(path: string): Promise<string | null> {
  const reply = await tree.client.request(OpCode.exists, { path, watch: false });
  if (reply.err === ErrorCode.NONODE) return null;
  const stat = reply.body!.stat as { ephemeralOwner: bigint };
  return BigInt.asUintN(64, stat.ephemeralOwner).toString(16);
}

function hex(session: string): string {
  return session.replace(/^0x/, '');
}

/** "path owner" lines of a contender's `ls` as a map. */
async function tenantView(contender: Contender): Promise<Map<string, string>> {
  const reply = await contender.send('ls');
  return new Map((reply.nodes as string[]).map((line) => line.split(' ') as [string, string]));
}

// ---- invariants over the event logs --------------------------------------------------------------

/**
 * No two contenders hold the same component at overlapping times, and every leader action was
 * checked (latch node present, owned by the acting session) inside one of its own intervals.
 */
function expectOneLeaderAtATime(group: Contender[]): void {
  const intervals = group.flatMap((contender) => contender.leaderIntervals());
  for (const a of intervals) {
    for (const b of intervals) {
      if (a === b || a.who === b.who || a.component !== b.component) continue;
      const disjoint = a.to <= b.from || b.to <= a.from;
      expect(disjoint, `${describeInterval(a)} overlaps ${describeInterval(b)}`).toBe(true);
    }
  }
  for (const contender of group) {
    const own = contender.leaderIntervals();
    for (const action of contender.leaderActions()) {
      const within = own.find(
        (interval) =>
          interval.component === action.component &&
          interval.session === action.session &&
          interval.latch === action.latch &&
          interval.from <= (action.checkedAt as number) &&
          (action.checkedAt as number) <= interval.to,
      );
      expect(within, `${contender.name}'s ${JSON.stringify(action)} outside its leadership ${JSON.stringify(own)}`).toBeDefined();
    }
  }
}

function describeInterval(interval: LeaderInterval): string {
  return `${interval.who} ${interval.component} [${interval.from}, ${interval.to}]`;
}

/** Resolves with the contender that becomes leader of `component` first. */
async function leaderOf(group: Contender[], component = 'cluster', timeoutMs = 60_000): Promise<Contender> {
  return Promise.any(
    group.map((contender) =>
      contender
        .waitFor(`leader of ${component}`, (event) => event.ev === 'leader' && event.component === component, timeoutMs)
        .then(() => contender),
    ),
  );
}

function checkpointIds(group: Contender[]): number[] {
  return group
    .flatMap((contender) => contender.leaderActions().filter((event) => event.action === 'checkpoint'))
    .sort((a, b) => a.t - b.t)
    .map((event) => event.checkpointId as number);
}

// ---- Flink 1.15 ------------------------------------------------------------------------------------

interface Cluster {
  tenant: string;
  jobId: string;
  contenders: Contender[];
  leader: Contender;
  standby: Contender;
}

describe('Flink 1.15 layout: two tenants run clusters with the same cluster-id at the same time', () => {
  const clusters: Cluster[] = [];
  const root = (cluster: Cluster) => `/tenants/${cluster.tenant}/flink/${CLUSTER_ID}`;

  beforeAll(async () => {
    await Promise.all(
      [
        { tenant: 'acme', jobId: 'a1'.repeat(16) },
        { tenant: 'globex', jobId: 'b2'.repeat(16) },
      ].map(async ({ tenant, jobId }) => {
        const group = await Promise.all(
          [1, 2].map((n) =>
            startContender({ connectString: proxy!.address(tenant), layout: '1.15', policy: 'standard', name: `${tenant}-jm-${n}` }),
          ),
        );
        const leader = await leaderOf(group);
        clusters.push({ tenant, jobId, contenders: group, leader, standby: group.find((c) => c !== leader)! });
      }),
    );
  }, 150_000);

  it('elects exactly one leader per tenant, publishes its connection_info, and the standby retrieves it through its TreeCache', async () => {
    for (const cluster of clusters) {
      const { leader, standby } = cluster;
      for (const contender of cluster.contenders) {
        const connected = contender.first('connected');
        expect(connected.negotiatedTimeoutMs).toBe(NEGOTIATED_TIMEOUT_MS);
        expect(connected.connectString).toBe(proxy!.address(cluster.tenant));
      }
      const granted = leader.first('leader');
      for (const component of COMPONENTS) {
        const retrieved = await standby.waitFor(
          `${component} retrieved`,
          (e) => e.ev === 'retrieved' && e.component === component && e.leaderSession === granted.leaderSession,
        );
        expect(retrieved.address).toBe(`akka.tcp://flink@${leader.name}:6123/user/rpc`);
        expect(await ownerOnServer(`${root(cluster)}/leader/${component}/connection_info`)).toBe(hex(leader.session));
      }
      const [standbyState, leaderState] = await Promise.all([standby.send('state'), leader.send('state')]);
      expect(standbyState.leading).toEqual([]);
      expect(leaderState.leading).toEqual(['cluster']);
      // EnsembleTracker got no member addresses (the proxy hides /zookeeper/config).
      for (const state of [standbyState, leaderState]) expect(state.connectString).toBe(proxy!.address(cluster.tenant));

      // Two latch nodes, one per session; the leader's is the lowest sequence number.
      const latchNodes = (await tree.children(`${root(cluster)}/leader/latch`))!;
      expect(latchNodes).toHaveLength(2);
      for (const node of latchNodes) expect(node).toMatch(LATCH_NODE);
      const owners = await Promise.all(latchNodes.map((node) => ownerOnServer(`${root(cluster)}/leader/latch/${node}`)));
      expect(owners.sort()).toEqual([hex(leader.session), hex(standby.session)].sort());
      const bySequence = [...latchNodes].sort((a, b) => a.slice(-10).localeCompare(b.slice(-10)));
      expect(`/latch/${bySequence[0]}`).toBe(granted.latch);

      // ZooKeeper reports ephemeralOwner 0 for containers too (see the reaping test for the modes).
      const view = await tenantView(standby);
      for (const path of ['/flink', `/flink/${CLUSTER_ID}`, `/flink/${CLUSTER_ID}/leader`, `/flink/${CLUSTER_ID}/leader/latch`])
        expect(view.get(path)).toBe('0');
      expect(view.get(`/flink/${CLUSTER_ID}/leader/dispatcher`)).toBe('0');
      expect(view.get(`/flink/${CLUSTER_ID}/leader/dispatcher/connection_info`)).toBe(hex(leader.session));
    }
  });

  it('adds a job graph with its lock in one transaction; the standby sees it; a job graph locked by another session is not removed', async () => {
    await Promise.all(
      clusters.map(async (cluster) => {
        const { leader, standby, jobId } = cluster;
        const added = await leader.send('submit', jobId);
        await standby.waitFor('job graph added', (e) => e.ev === 'jobgraph-added' && e.jobId === jobId);
        const [, lockUuid] = /^\/[0-9a-f]{32}\/locks\/([0-9a-f-]{36})$/.exec(added.lock as string)!;
        const jobNode = `${root(cluster)}/jobgraphs/${jobId}`;
        expect((await tree.data(jobNode))!.toString()).toBe(`jobgraph ${jobId} submitted by ${leader.name}`);
        expect(await ownerOnServer(jobNode)).toBe('0');
        expect(await ownerOnServer(`${jobNode}/locks`)).toBe('0');
        expect(await tree.children(`${jobNode}/locks`)).toEqual([lockUuid]);
        expect(await ownerOnServer(`${jobNode}/locks/${lockUuid}`)).toBe(hex(leader.session));
        expect(await ownerOnServer(`${root(cluster)}/leader/${jobId}/connection_info`)).toBe(hex(leader.session));

        // The lock protocol (FLINK-6612, FLINK-10255) on a second job.
        const other = jobId.replace(/.$/, 'f');
        await leader.send('submit', other);
        await standby.waitFor('second job graph added', (e) => e.ev === 'jobgraph-added' && e.jobId === other);
        expect((await standby.send('lock', other)).locked).toBe(true);
        expect((await leader.send('remove', other)).removed).toBe(false);
        const otherLocks = `${root(cluster)}/jobgraphs/${other}/locks`;
        const remaining = (await tree.children(otherLocks))!;
        expect(remaining).toHaveLength(1);
        expect(await ownerOnServer(`${otherLocks}/${remaining[0]}`)).toBe(hex(standby.session));
        await standby.send('release', other);
        expect((await leader.send('remove', other)).removed).toBe(true);
        expect(await tree.exists(`${root(cluster)}/jobgraphs/${other}`)).toBe(false);
        await standby.waitFor('second job graph removed', (e) => e.ev === 'jobgraph-removed' && e.jobId === other);
      }),
    );
  });

  it('stores checkpoints with lock nodes, subsumes beyond retention, and the SharedCount counter hands out unique ids to both clients', async () => {
    await Promise.all(
      clusters.map(async (cluster) => {
        const { leader, standby, jobId } = cluster;
        expect((await leader.send('checkpoint', jobId)).checkpointId).toBe(1);
        const second = await leader.send('checkpoint', jobId);
        expect(second.checkpointId).toBe(2);
        expect(second.subsumed).toEqual(['0000000000000000001']);

        // Concurrent getAndIncrement from both sessions: versioned setData, BadVersion re-read.
        const [a, b] = await Promise.all([leader.send('count', jobId, 15), standby.send('count', jobId, 15)]);
        const values = [...(a.values as number[]), ...(b.values as number[])].sort((x, y) => x - y);
        expect(values).toEqual(Array.from({ length: 30 }, (_, i) => i + 3));
        console.log(
          `[flink-ha] ${cluster.tenant}: 30 concurrent getAndIncrement, ${(a.badVersionRetries as number) + (b.badVersionRetries as number)} BadVersion retries`,
        );

        expect((await leader.send('checkpoint', jobId)).checkpointId).toBe(33);
        const checkpoints = `${root(cluster)}/jobs/${jobId}/checkpoints`;
        expect(await tree.children(checkpoints)).toEqual(['0000000000000000033']);
        const locks = (await tree.children(`${checkpoints}/0000000000000000033/locks`))!;
        expect(locks).toHaveLength(1);
        expect(await ownerOnServer(`${checkpoints}/0000000000000000033/locks/${locks[0]}`)).toBe(hex(leader.session));
        expect((await tree.data(`${root(cluster)}/jobs/${jobId}/checkpoint_id_counter`))!.readInt32BE(0)).toBe(34);
      }),
    );
  });

  it('rewrites connection_info that someone else deleted, and the standby sees the leader again', async () => {
    const cluster = clusters[0]!;
    const { leader, standby } = cluster;
    const path = `${root(cluster)}/leader/dispatcher/connection_info`;
    const actionsBefore = leader.events.length;
    const standbyBefore = standby.events.length;
    await tree.client.call(OpCode.delete, { path, version: -1 });
    await leader.waitFor(
      'publish again',
      (e) => e.ev === 'leader-action' && e.action === 'publish' && e.path === '/dispatcher/connection_info',
      30_000,
      actionsBefore,
    );
    expect(await ownerOnServer(path)).toBe(hex(leader.session));
    await standby.waitFor(
      'no leader seen',
      (e) => e.ev === 'retrieved' && e.component === 'dispatcher' && e.address === null,
      30_000,
      standbyBefore,
    );
    await standby.waitFor(
      'leader seen again',
      (e) => e.ev === 'retrieved' && e.component === 'dispatcher' && e.address !== null,
      30_000,
      standbyBefore,
    );
  });

  it('keeps each tenant inside /tenants/<tenant>/flink/<cluster-id>; neither sees the other', async () => {
    expect(await tree.foreignRootChildren()).not.toContain('flink');
    const views = await Promise.all(clusters.map((cluster) => tenantView(cluster.standby)));
    for (const [index, cluster] of clusters.entries()) {
      const view = views[index]!;
      const other = clusters[1 - index]!;
      // Exactly the server's subtree of this tenant, seen from inside its chroot.
      const onServer = await tree.subtree(`/tenants/${cluster.tenant}`);
      const fromInside = [...view.keys()]
        .map((path) => (path === '/' ? `/tenants/${cluster.tenant}` : `/tenants/${cluster.tenant}${path}`))
        .sort();
      expect(fromInside).toEqual(onServer);
      expect(onServer).toContain(`/tenants/${cluster.tenant}/flink/${CLUSTER_ID}/jobgraphs/${cluster.jobId}`);
      // Nothing of the other tenant: no job, no session as an owner.
      const paths = [...view.keys()].join('\n');
      expect(paths).not.toContain(other.jobId);
      const ownSessions = new Set(['0', ...cluster.contenders.map((c) => hex(c.session))]);
      for (const [path, owner] of view) expect(ownSessions.has(owner), `${path} owned by ${owner}`).toBe(true);
    }
  });

  it('fails over: kill -9 of one leader (its session expires) and close of the other; the standby leads, re-locks the job, continues the counter', async () => {
    const [killed, closed] = clusters as [Cluster, Cluster];
    const stale = await Promise.all(clusters.map((cluster) => cluster.leader.first('leader').latch as string));
    const startedAt = performance.now();
    await Promise.all([killed.leader.kill(), closed.leader.close()]);
    await Promise.all(
      clusters.map(async (cluster) => {
        const { standby, jobId } = cluster;
        // kill -9 waits for the ensemble to expire the session (20 s); close hands over at once.
        const granted = await standby.waitFor('leadership', (e) => e.ev === 'leader', 90_000);
        console.log(
          `[flink-ha] ${cluster.tenant}: standby leads ${Math.round(performance.now() - startedAt)} ms after the leader was ${cluster === killed ? 'killed' : 'closed'}`,
        );
        const recovered = await standby.waitFor(
          'job graphs recovered',
          (e) => e.ev === 'leader-action' && e.action === 'recover-jobgraphs',
        );
        expect(recovered.jobIds).toEqual([jobId]);
        const checkpoints = await standby.waitFor(
          'checkpoints recovered',
          (e) => e.ev === 'leader-action' && e.action === 'recover-checkpoints',
        );
        expect(checkpoints.checkpointIds).toEqual([33]);
        expect(checkpoints.counter).toBe(34);
        expect((await standby.send('checkpoint', jobId)).checkpointId).toBe(34);

        const jobLocks = `${root(cluster)}/jobgraphs/${jobId}/locks`;
        const locks = (await tree.children(jobLocks))!;
        expect(locks).toEqual([recovered.lockUuid]);
        expect(await ownerOnServer(`${jobLocks}/${locks[0]}`)).toBe(hex(standby.session));
        expect(await tree.children(`${root(cluster)}/leader/latch`)).toEqual([(granted.latch as string).slice('/latch/'.length)]);
        for (const component of [...COMPONENTS, jobId]) {
          expect(await ownerOnServer(`${root(cluster)}/leader/${component}/connection_info`)).toBe(hex(standby.session));
        }
      }),
    );
    for (const [index, cluster] of clusters.entries()) expect(cluster.standby.first('leader').latch).not.toBe(stale[index]);
    expect(killed.standby.first('leader').t).toBeGreaterThanOrEqual(killed.leader.endedAt!);
    // Checkpoint ids never repeat across the two leaders.
    for (const cluster of clusters) {
      const ids = checkpointIds(cluster.contenders);
      expect(new Set(ids).size).toBe(ids.length);
      expect(ids).toEqual([...ids].sort((x, y) => x - y));
    }
  }, 150_000);

  it('terminal cleanup leaves no znode under flink/<cluster-id>, and the tenant root stays', async () => {
    await Promise.all(
      clusters.map(async (cluster) => {
        const { standby, jobId } = cluster;
        await standby.send('cleanup-job', jobId);
        const afterJob = await tree.subtree(root(cluster));
        expect(afterJob.filter((path) => path.includes(jobId))).toEqual([]);
        expect(afterJob).toContain(`${root(cluster)}/jobgraphs`);
        await standby.send('cleanup-cluster');
        expect(await tree.exists(root(cluster))).toBe(false);
        expect(await tree.exists(`/tenants/${cluster.tenant}/flink`)).toBe(false);
        expect(await tree.exists(`/tenants/${cluster.tenant}`)).toBe(true);
        await standby.close();
      }),
    );
  });

  it('never had two leaders in one tenant, and every leader action ran under its own verified latch node', () => {
    for (const cluster of clusters) expectOneLeaderAtATime(cluster.contenders);
    for (const cluster of clusters) expect(cluster.contenders.flatMap((c) => c.events).filter((e) => e.ev === 'fatal')).toEqual([]);
  });
});

// ---- creator ACLs ------------------------------------------------------------------------------

describe('Flink with `high-availability.zookeeper.client.acl: creator`: CREATOR_ALL_ACL on every node', () => {
  const FLINK = { user: 'flink', password: 'flink-ha-secret' };
  const root = `/tenants/secure/flink/${CLUSTER_ID}`;

  it("both JobManagers (same credentials) elect, publish, store job graphs and count; the tenant's other sessions get NOAUTH; the ensemble names only the credentials", async () => {
    const group = await Promise.all(
      [1, 2].map((n) =>
        startContender({
          connectString: proxy!.address('secure'),
          layout: '1.15',
          policy: 'standard',
          name: `secure-jm-${n}`,
          creator: FLINK,
        }),
      ),
    );
    const leader = await leaderOf(group);
    const standby = group.find((contender) => contender !== leader)!;
    const granted = leader.first('leader');
    await standby.waitFor(
      'dispatcher retrieved',
      (e) => e.ev === 'retrieved' && e.component === 'dispatcher' && e.leaderSession === granted.leaderSession,
    );
    const jobId = 'c3'.repeat(16);
    await leader.send('submit', jobId);
    await standby.waitFor('job graph added', (e) => e.ev === 'jobgraph-added' && e.jobId === jobId);
    expect((await leader.send('checkpoint', jobId)).checkpointId).toBe(1);
    const [a, b] = await Promise.all([leader.send('count', jobId, 10), standby.send('count', jobId, 10)]);
    expect([...(a.values as number[]), ...(b.values as number[])].sort((x, y) => x - y)).toEqual(
      Array.from({ length: 20 }, (_, i) => i + 2),
    );

    // A session of the same tenant without Flink's credentials: ZooKeeper's answer, NOAUTH.
    const outsider = await JuteClient.connect({ port: proxy!.port('secure'), sessionTimeoutMs: 10_000 });
    try {
      const base = `/flink/${CLUSTER_ID}`;
      expect((await outsider.request(OpCode.getData, { path: `${base}/leader/dispatcher/connection_info`, watch: false })).err).toBe(
        ErrorCode.NOAUTH,
      );
      expect((await outsider.request(OpCode.getChildren, { path: `${base}/jobgraphs`, watch: false })).err).toBe(ErrorCode.NOAUTH);
      expect(
        (await outsider.request(OpCode.setData, { path: `${base}/jobgraphs/${jobId}`, data: Buffer.from('x'), version: -1 })).err,
      ).toBe(ErrorCode.NOAUTH);
      expect(
        (
          await outsider.request(OpCode.create, {
            path: `${base}/leader/latch/_c_intruder-latch-`,
            data: null,
            acl: [{ perms: Perms.ALL, id: { scheme: 'world', id: 'anyone' } }],
            flags: 3,
          })
        ).err,
      ).toBe(ErrorCode.NOAUTH);
      expect((await outsider.request(OpCode.getACL, { path: `${base}/jobgraphs/${jobId}` })).err).toBe(ErrorCode.NOAUTH);
    } finally {
      await outsider.close();
    }
    const expected = [digestId(FLINK.user, FLINK.password), digestId('super', 'super-secret')];
    for (const path of [
      `/tenants/secure/flink`,
      root,
      `${root}/leader/latch`,
      `${root}/jobgraphs/${jobId}`,
      `${root}/leader/dispatcher/connection_info`,
    ]) {
      expect(
        (await tree.acl(path)).map((entry) => [entry.perms, (entry.id as { id: string }).id]),
        path,
      ).toEqual(expected.map((id) => [Perms.ALL, id]));
    }

    // Orderly hand-over: the standby, with the same credentials, takes over the job.
    await leader.close();
    await standby.waitFor('leadership', (e) => e.ev === 'leader', 60_000);
    const recovered = await standby.waitFor('job graphs recovered', (e) => e.ev === 'leader-action' && e.action === 'recover-jobgraphs');
    expect(recovered.jobIds).toEqual([jobId]);
    expect(group.flatMap((c) => c.events).filter((e) => e.ev === 'fatal')).toEqual([]);
    expectOneLeaderAtATime(group);
    await standby.close();
  }, 120_000);
});

// ---- Flink 1.12 ------------------------------------------------------------------------------------

describe('Flink 1.12 layout: a latch per component, lock nodes as direct children, no containers', () => {
  const tenant = 'legacy';
  const jobId = 'c3'.repeat(16);
  const root = `/tenants/${tenant}/flink/${CLUSTER_ID}`;
  let group: Contender[] = [];

  beforeAll(async () => {
    group = await Promise.all(
      [1, 2].map((n) =>
        startContender({ connectString: proxy!.address(tenant), layout: '1.12', policy: 'standard', name: `${tenant}-jm-${n}` }),
      ),
    );
  }, 150_000);

  it('elects one leader per component, each with its own latch and EPHEMERAL leader node, retrieved through NodeCaches', async () => {
    for (const component of LEGACY_COMPONENTS) {
      const leader = await leaderOf(group, component);
      const granted = leader.events.find((e) => e.ev === 'leader' && e.component === component)!;
      await leader.waitFor(
        `${component} published`,
        (e) => e.ev === 'leader-action' && e.action === 'publish' && e.component === component,
      );
      expect(await ownerOnServer(`${root}/leader/${component}`)).toBe(hex(leader.session));
      const latchNodes = await pollUntil(
        async () => {
          const nodes = (await tree.children(`${root}/leaderlatch/${component}`)) ?? [];
          return nodes.length === 2 ? nodes : undefined;
        },
        { deadline: Date.now() + 30_000, description: `two latch nodes for ${component}` },
      );
      for (const node of latchNodes) expect(node).toMatch(LATCH_NODE);
      expect(granted.latch).toMatch(new RegExp(`^/leaderlatch/${component}/_c_`));
      for (const contender of group) {
        await contender.waitFor(
          `${component} retrieved`,
          (e) => e.ev === 'retrieved' && e.component === component && e.leaderSession === granted.leaderSession,
        );
      }
    }
  });

  it('runs a job: two-op transaction lock, running-job registry, job latch, checkpoints and counter in the 1.12 paths; cleanup leaves nothing', async () => {
    const dispatcher = await leaderOf(group, 'dispatcher_lock');
    const added = await dispatcher.send('submit', jobId);
    const [, lockUuid] = /^\/[0-9a-f]{32}\/([0-9a-f-]{36})$/.exec(added.lock as string)!;
    expect(await tree.children(`${root}/jobgraphs/${jobId}`)).toEqual([lockUuid]);
    expect(await ownerOnServer(`${root}/jobgraphs/${jobId}/${lockUuid}`)).toBe(hex(dispatcher.session));
    expect((await tree.data(`${root}/running_job_registry/${jobId}`))!.toString()).toBe('RUNNING');

    // The job's own JobManager latch, started by the dispatcher leader only.
    await dispatcher.waitFor(
      'job manager leader published',
      (e) => e.ev === 'leader-action' && e.action === 'publish' && e.component === jobId,
    );
    expect(await tree.children(`${root}/leaderlatch/${jobId}/job_manager_lock`)).toHaveLength(1);
    expect(await ownerOnServer(`${root}/leader/${jobId}/job_manager_lock`)).toBe(hex(dispatcher.session));

    expect((await dispatcher.send('checkpoint', jobId)).checkpointId).toBe(1);
    expect((await dispatcher.send('checkpoint', jobId)).checkpointId).toBe(2);
    const checkpoint = `${root}/checkpoints/${jobId}/0000000000000000002`;
    expect(await tree.children(`${root}/checkpoints/${jobId}`)).toEqual(['0000000000000000002']);
    const locks = (await tree.children(checkpoint))!;
    expect(locks).toHaveLength(1);
    expect(await ownerOnServer(`${checkpoint}/${locks[0]}`)).toBe(hex(dispatcher.session));
    expect((await tree.data(`${root}/checkpoint-counter/${jobId}`))!.readInt32BE(0)).toBe(3);

    await dispatcher.send('cleanup-job', jobId);
    expect((await tree.subtree(root)).filter((path) => path.includes(jobId))).toEqual([]);
  });

  it('never had two leaders of one component; the empty latch parents are persistent nodes, not containers', async () => {
    expectOneLeaderAtATime(group);
    await Promise.all(group.map((contender) => contender.close()));
    // Checked again after the reaper has run (the policy tests wait for a 1.15 container to go).
    for (const component of LEGACY_COMPONENTS) expect(await tree.children(`${root}/leaderlatch/${component}`)).toEqual([]);
  });
});

// ---- connection-state policies ---------------------------------------------------------------------

describe('connection-state policies: a proxy replica carrying the leader dies and comes back within the session timeout', () => {
  const policies = [
    { tenant: 'std', policy: 'standard' as const, jobId: 'd4'.repeat(16) },
    { tenant: 'tol', policy: 'tolerate' as const, jobId: 'e5'.repeat(16) },
  ];
  const groups = new Map<string, { leader: Contender; standby: Contender }>();
  let replicaListeners: Record<string, string>;
  let outageMs = 0;

  beforeAll(async () => {
    const ports = await reserveFreePorts(policies.length);
    replicaListeners = Object.fromEntries(policies.map(({ tenant }, index) => [tenant, `127.0.0.1:${ports[index]}`]));
    replicas.push(
      await spawnProxyProcess(
        ensemble!.connectString(),
        policies.map(({ tenant }) => ({ name: tenant, listen: [replicaListeners[tenant]!] })),
      ),
    );
    await Promise.all(
      policies.map(async ({ tenant, policy, jobId }) => {
        // The leader goes through the replica that dies; the standby through the in-process proxy.
        const leader = await startContender({ connectString: replicaListeners[tenant]!, layout: '1.15', policy, name: `${tenant}-jm-1` });
        await leader.waitFor('leadership', (e) => e.ev === 'leader');
        const standby = await startContender({ connectString: proxy!.address(tenant), layout: '1.15', policy, name: `${tenant}-jm-2` });
        await leader.send('submit', jobId);
        await leader.send('auto-checkpoint', jobId, 300);
        await leader.waitFor('two checkpoints', (e) => e.ev === 'leader-action' && e.action === 'checkpoint' && e.checkpointId === 2);
        groups.set(tenant, { leader, standby });
      }),
    );
  }, 150_000);

  it('standard: SUSPENDED revokes and RECONNECTED re-grants on the same latch node; tolerate: leadership is kept; the same session throughout', async () => {
    const marks = new Map([...groups].map(([tenant, { leader }]) => [tenant, leader.events.length]));
    const killedAt = Date.now();
    replicas.shift()!.kill('SIGKILL');
    await Promise.all(
      [...groups.values()].map(({ leader }) =>
        leader.waitFor('SUSPENDED', (e) => e.ev === 'connection' && e.state === 'SUSPENDED', 30_000, marks.get(leader.name.split('-')[0]!)),
      ),
    );
    replicas.push(
      await spawnProxyProcess(
        ensemble!.connectString(),
        policies.map(({ tenant }) => ({ name: tenant, listen: [replicaListeners[tenant]!] })),
      ),
    );
    await Promise.all(
      [...groups].map(async ([tenant, { leader }]) => {
        const reconnected = await leader.waitFor(
          'RECONNECTED',
          (e) => e.ev === 'connection' && e.state === 'RECONNECTED',
          60_000,
          marks.get(tenant),
        );
        outageMs = Math.max(outageMs, reconnected.t - killedAt);
        if (tenant === 'std') await leader.waitFor('leadership again', (e) => e.ev === 'leader', 60_000, marks.get(tenant));
        // Fenced after the outage (a checkpoint fenced before it may complete after it).
        await leader.waitFor(
          'a checkpoint after the outage',
          (e) => e.ev === 'leader-action' && e.action === 'checkpoint' && (e.checkedAt as number) > reconnected.t,
          60_000,
          marks.get(tenant),
        );
      }),
    );
    console.log(
      `[flink-ha] proxy replica killed and replaced: leaders reconnected ${outageMs} ms later (session timeout ${NEGOTIATED_TIMEOUT_MS} ms)`,
    );

    for (const [tenant, { leader, standby }] of groups) {
      const during = leader.events.slice(marks.get(tenant));
      expect(during.filter((e) => e.ev === 'connection' && e.state === 'LOST')).toEqual([]);
      for (const e of during.filter((event) => event.ev === 'connection')) expect(e.session).toBe(leader.session);
      expect(standby.events.filter((e) => e.ev === 'leader')).toEqual([]);
      const latch = leader.first('leader').latch;
      if (tenant === 'std') {
        const reconnected = during.find((e) => e.state === 'RECONNECTED')!;
        const revoked = during.find((e) => e.ev === 'revoked')!;
        const regranted = during.find((e) => e.ev === 'leader')!;
        expect(revoked, leader.describe()).toBeDefined();
        expect(regranted, leader.describe()).toBeDefined();
        // Revoked while disconnected (the latch's and our state listeners run in either order).
        expect(revoked.t).toBeGreaterThanOrEqual(killedAt);
        expect(revoked.t).toBeLessThanOrEqual(reconnected.t);
        // Curator 5.4 re-checks the children on RECONNECTED instead of re-creating the node (5.2 did).
        expect(regranted.latch).toBe(latch);
        expect(regranted.t).toBeGreaterThan(revoked.t);
      } else {
        expect(during.filter((e) => e.ev === 'revoked' || e.ev === 'leader')).toEqual([]);
        // While SUSPENDED the counter refuses (Flink's ZooKeeperCheckpointIDCounter), nothing else.
        for (const skipped of during.filter((e) => e.ev === 'checkpoint-skipped'))
          expect(skipped.reason).toMatch(/CONNECTED|ConnectionLoss|not leader/);
      }
      const ids = checkpointIds([leader, standby]);
      expect(new Set(ids).size).toBe(ids.length);
      expect(ids).toEqual([...ids].sort((x, y) => x - y));
      expectOneLeaderAtATime([leader, standby]);
    }
  }, 150_000);

  it('the empty 1.15 latch parent is a container the ensemble reaps; 1.12 latch parents and `leader` are persistent and stay', async () => {
    await Promise.all([...groups.values()].flatMap(({ leader, standby }) => [leader.close(), standby.close()]));
    const latchParent = `/tenants/std/flink/${CLUSTER_ID}/leader/latch`;
    await pollUntil(async () => ((await tree.exists(latchParent)) ? undefined : true), {
      deadline: Date.now() + 60_000,
      intervalMs: 250,
      description: `the reaping of ${latchParent}`,
    });
    expect(await tree.exists(`/tenants/std/flink/${CLUSTER_ID}/leader`)).toBe(true);
    for (const component of LEGACY_COMPONENTS)
      expect(await tree.children(`/tenants/legacy/flink/${CLUSTER_ID}/leaderlatch/${component}`)).toEqual([]);
  });
});
