/**
 * Real Flink in ZooKeeper HA mode through the proxy (docs/flink-real.md): per release, two real
 * JobManagers (StandaloneSessionClusterEntrypoint) and a TaskManager (TaskManagerRunner) of tenant
 * acme, as separate JVMs assembled from Maven Central, with the flink-conf.yaml the controller's
 * CLI (`tenant create`, `cluster deploy`, a real process against the real ensemble) rendered into
 * its ConfigMaps; their ZooKeeper quorum is the tenant's listeners on two proxy replicas (two processes)
 * in front of a real ZooKeeper. A checkpointed counter job (test/flink-real/CounterJob.java) is
 * submitted through the REST API. Then: kill -9 of the leading JobManager (the standby recovers
 * the job from its latest checkpoint), kill -9 of the proxy replica the JobManager uses (nothing
 * lost), `cluster destroy` + `cluster deploy` (new JVMs, same cluster-id: the job is found again). Tenant
 * globex runs a JobManager with the same high-availability.cluster-id at the same time: each
 * tenant sees only its own jobs and leaders. Prints the failover and recovery times, the znodes
 * Flink created and the opcodes it sent (the proxies' metrics).
 *
 * `./zkp test` runs 1.15.2; `npm run test:flink-real` runs every release (ZKP_FLINK_RELEASES).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalEnsemble } from '../src/embedded/ensemble.ts';
import { PollAbort, pollUntil } from '../src/embedded/poll.ts';
import { reserveFreePorts } from '../src/embedded/free-ports.ts';
import { ControllerCli } from './flink-real/controller-cli.ts';
import {
  FLINK_RELEASES,
  FlinkProcess,
  controllerVersion,
  SESSION_TIMEOUT_MS,
  buildCounterJob,
  checkpoints,
  jobsOverview,
  submitCounterJob,
  type FlinkRelease,
} from './flink-real/flink-processes.ts';
import {
  clusterRoot,
  connectedPorts,
  readCounterEvents,
  restLeaderSession,
  restLeaderUrl,
  sumCounts,
  tenantCounter,
  type CounterEvents,
} from './flink-real/observe.ts';
import { spawnProxyProcess, type ProxyProcess } from './support/proxy.ts';
import { ServerTree } from './support/server-tree.ts';

const RELEASES = (process.env.ZKP_FLINK_RELEASES ?? '1.15.2').split(',').map((release) => {
  if (!(FLINK_RELEASES as readonly string[]).includes(release)) {
    throw new Error(`ZKP_FLINK_RELEASES: ${release} is not one of ${FLINK_RELEASES.join(', ')}`);
  }
  return release as FlinkRelease;
});
const TENANTS = ['acme', 'globex'];
/** JVM start-up on two shared cores is slow; the waits are generous, the figures say what it took. */
const START_TIMEOUT_MS = 150_000;
const STEP_TIMEOUT_MS = 120_000;

describe.each(RELEASES)('real Flink %s through two proxy replicas', (release) => {
  let dir: string;
  let ensemble: LocalEnsemble | undefined;
  let tree: ServerTree | undefined;
  const replicas: ProxyProcess[] = [];
  /** Every replica process of the run, killed ones included, for their logs. */
  const everyReplica: ProxyProcess[] = [];
  const flink: FlinkProcess[] = [];
  let jar: string;
  let cli: ControllerCli;
  /** Each tenant's listener on each replica: [replica][tenant]. */
  let listeners: Record<string, string>[];
  let acmeJob: string;
  let globexJob: string;
  const acmeEvents = () => readCounterEvents(join(dir, 'acme-events.log'));
  const figures: Record<string, number> = {};
  let jvmsStarted = 0;
  /** Per replica process (a killed one read just before it dies): what it relayed and answered for acme. */
  const relayed = new Map<ProxyProcess, { opcodes: Map<string, number>; errors: Map<string, number>; refused: Map<string, number> }>();

  const run = (tenant: string) => ({ dir: join(dir, tenant), quorum: listeners.map((replica) => replica[tenant]!).join(',') });
  const startReplica = async (index: number) => {
    const tenants = TENANTS.map((name) => ({ name, listen: [listeners[index]![name]!] }));
    const replica = await spawnProxyProcess(ensemble!.connectString(), tenants, {}, { startTimeoutMs: 90_000 });
    everyReplica.push(replica);
    return replica;
  };
  /** `cluster deploy` as the platform's users run it (one TaskManager); the rendered configuration. */
  const deploy = async (tenant: string) => {
    await cli.run('cluster', 'deploy', tenant, '--flink-version', controllerVersion(release), '--taskmanagers', '1');
    return cli.renderedConfig(tenant) ?? fail(`cluster deploy ${tenant} applied no cluster`);
  };
  const start = async (role: 'jobmanager' | 'taskmanager', name: string, tenant = 'acme') => {
    const rendered = cli.renderedConfig(tenant) ?? fail(`${tenant} has no cluster deployed`);
    const jvm = await FlinkProcess.start(role, name, release, rendered[role], run(tenant));
    flink.push(jvm);
    return jvm;
  };
  const live = (name: string) => flink.find((jvm) => jvm.name === name && jvm.alive) ?? fail(`${name} is not running`);
  /** Polls `attempt`; a Flink JVM that exited by itself (a fatal error) ends the wait at once. */
  const waitFor = <T>(description: string, timeoutMs: number, attempt: () => Promise<T | undefined>, intervalMs = 250): Promise<T> =>
    pollUntil(
      async () => {
        const crashed = flink.find((jvm) => !jvm.alive && jvm.child.signalCode === null && !jvm.stopping);
        if (crashed) throw new PollAbort(new Error(`${crashed.name} exited (${crashed.child.exitCode}) by itself:\n${crashed.logTail()}`));
        return attempt();
      },
      { deadline: Date.now() + timeoutMs, intervalMs, description },
    );

  beforeAll(async () => {
    const setUpStarted = Date.now();
    dir = mkdtempSync(join(tmpdir(), `zkp-flink-${release}-`));
    const building = buildCounterJob(release, dir);
    building.catch(() => {});
    ensemble = await LocalEnsemble.start({ size: 1 });
    tree = await ServerTree.open(ensemble);
    const ports = await reserveFreePorts(2 * TENANTS.length);
    const listener = (replica: number, i: number) => `127.0.0.1:${ports[replica * TENANTS.length + i]}`;
    listeners = [0, 1].map((replica) => Object.fromEntries(TENANTS.map((name, i) => [name, listener(replica, i)])));
    cli = new ControllerCli(dir, ensemble.connectString());
    // The replicas start while the CLI provisions (whoever comes first creates a tenant's root, as
    // with replicas in production); the JVMs after both.
    const replicasStarted = Promise.all([startReplica(0), startReplica(1)]);
    replicasStarted.catch(() => {});
    await Promise.all(
      TENANTS.map(async (tenant) => {
        await cli.run('tenant', 'create', tenant, '--listener', listeners[0]![tenant]!);
        await deploy(tenant);
      }),
    );
    replicas.push(...(await replicasStarted));
    figures.setUpMs = Date.now() - setUpStarted;
    jvmsStarted = Date.now();
    await Promise.all([
      start('jobmanager', 'jm1'),
      start('jobmanager', 'jm2'),
      start('taskmanager', 'tm1'),
      start('jobmanager', 'globex-jm', 'globex'),
    ]);
    jar = await building;
  }, START_TIMEOUT_MS);

  afterAll(async () => {
    await Promise.all(flink.map((jvm) => jvm.stop(2000)));
    await tree?.close().catch(() => {});
    await Promise.all(replicas.map((replica) => replica.close()));
    await ensemble?.close();
    console.log(`real Flink ${release} figures: ${JSON.stringify(figures)}`);
    if (dir && process.env.ZKP_FLINK_KEEP === undefined) rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  /** The JobManager whose REST endpoint leads for `tenant`, once it answers. */
  async function restLeader(tenant: string, timeoutMs = START_TIMEOUT_MS): Promise<FlinkProcess> {
    return waitFor(`a REST leader for ${tenant}`, timeoutMs, async () => {
      const url = await restLeaderUrl(tree!, tenant, release);
      const leader = flink.find((jvm) => jvm.alive && jvm.restUrl === url);
      return leader && (await jobsOverview(leader.restUrl)) ? leader : undefined;
    });
  }

  async function waitForRunning(leader: FlinkProcess, jobId: string, timeoutMs = STEP_TIMEOUT_MS): Promise<void> {
    await waitFor(`job ${jobId} RUNNING on ${leader.name}`, timeoutMs, async () =>
      (await jobsOverview(leader.restUrl))?.find((job) => job.jid === jobId && job.state === 'RUNNING'),
    );
  }

  /** Waits until the counter restarted after `afterLine` from restored state and counted on; returns that start. */
  async function waitForRestore(afterLine: number, timeoutMs = STEP_TIMEOUT_MS): Promise<CounterEvents['starts'][number]> {
    return waitFor(
      'the counter restored and counting again',
      timeoutMs,
      async () => {
        const events = acmeEvents();
        const restart = events.starts.findLast((s) => s.line >= afterLine);
        return restart && events.counts.some((c) => c.line > restart.line) ? restart : undefined;
      },
      100,
    );
  }

  /** The counter went on from `restart` (its value + 1) and every restore since `afterLine` used a snapshot at least as new as `floor`. */
  function expectResumedFrom(afterLine: number, floorCheckpoint: number): void {
    const events = acmeEvents();
    const floorValue = events.snapshots.get(floorCheckpoint) ?? fail(`no snapshot line for checkpoint ${floorCheckpoint}`);
    for (const restart of events.starts.filter((s) => s.line >= afterLine)) {
      expect(restart.restored, `start at line ${restart.line} restored state`).toBe(true);
      expect([...events.snapshots.values()], 'the restored value is a checkpointed one').toContain(restart.value);
      expect(restart.value, 'never back past the latest completed checkpoint').toBeGreaterThanOrEqual(floorValue);
      const next = events.counts.find((c) => c.line > restart.line);
      if (next) expect(next.value).toBe(restart.value + 1);
    }
  }

  async function latestCompleted(leader: FlinkProcess, jobId: string, atLeast: number): Promise<number> {
    return waitFor(`checkpoint ${atLeast} of ${jobId} completed`, STEP_TIMEOUT_MS, async () => {
      const summary = await checkpoints(leader.restUrl, jobId);
      return summary?.latestCompletedId !== undefined && summary.latestCompletedId >= atLeast ? summary.latestCompletedId : undefined;
    });
  }

  async function scrapeOpcodes(replica: ProxyProcess): Promise<void> {
    relayed.set(replica, {
      opcodes: await tenantCounter(replica.adminUrl, 'zkproxy_requests_total', 'acme', 'opcode'),
      errors: await tenantCounter(replica.adminUrl, 'zkproxy_reply_errors_total', 'acme', 'code'),
      refused: await tenantCounter(replica.adminUrl, 'zkproxy_refused_total', 'acme', 'reason'),
    });
  }

  it(
    'elects one leader per tenant through the proxy; the counter job runs and checkpoints every second',
    async () => {
      for (const tenant of TENANTS) {
        const rendered = cli.renderedConfig(tenant)!;
        expect(rendered.jobmanager).toMatchObject({ 'high-availability': 'zookeeper', 'high-availability.cluster-id': '/flink-cluster' });
        expect(rendered.taskmanager['high-availability.zookeeper.quorum']).toBe(listeners[0]![tenant]);
      }
      const leader = await restLeader('acme');
      figures.firstLeaderMs = Date.now() - jvmsStarted;
      acmeJob = await submitCounterJob(leader.restUrl, jar, join(dir, 'acme-events.log'));
      const globexLeader = await restLeader('globex');
      expect(globexLeader.name).toBe('globex-jm');
      globexJob = await submitCounterJob(globexLeader.restUrl, jar, join(dir, 'globex-events.log'));
      await waitForRunning(leader, acmeJob);
      await latestCompleted(leader, acmeJob, 2);
      const events = acmeEvents();
      expect(events.starts).toEqual([expect.objectContaining({ attempt: 0, restored: false, value: 0 })]);
      expect(events.completed.length).toBeGreaterThanOrEqual(1);
    },
    START_TIMEOUT_MS,
  );

  it('two tenants with the same high-availability.cluster-id see only their own jobs and leaders', async () => {
    const acmeLeader = await restLeader('acme');
    const globexLeader = await restLeader('globex');
    expect((await jobsOverview(acmeLeader.restUrl))?.map((job) => job.jid)).toEqual([acmeJob]);
    expect((await jobsOverview(globexLeader.restUrl))?.map((job) => job.jid)).toEqual([globexJob]);
    expect(acmeLeader.name).toMatch(/^jm[12]$/);
    expect(await tree!.children(`${clusterRoot('acme')}/jobgraphs`)).toEqual([acmeJob]);
    expect(await tree!.children(`${clusterRoot('globex')}/jobgraphs`)).toEqual([globexJob]);
    // The standby of acme is not globex's leader and vice versa: each tenant's leader node names its own process.
    expect(await restLeaderUrl(tree!, 'globex', release)).toBe(globexLeader.restUrl);
    expect(await restLeaderUrl(tree!, 'acme', release)).toBe(acmeLeader.restUrl);
  });

  it(
    'kill -9 of the leading JobManager: the standby leads and restores the job from its latest checkpoint',
    async () => {
      const leader = await restLeader('acme');
      const standby = live(leader.name === 'jm1' ? 'jm2' : 'jm1');
      const floor = await latestCompleted(leader, acmeJob, 3);
      const lineAtKill = acmeEvents().lines;
      const killedAt = Date.now();
      leader.kill('SIGKILL');
      const newLeader = await restLeader('acme', STEP_TIMEOUT_MS);
      figures.leaderFailoverMs = Date.now() - killedAt;
      expect(newLeader).toBe(standby);
      await waitForRestore(lineAtKill);
      figures.jobRecoveryMs = Date.now() - killedAt;
      await waitForRunning(standby, acmeJob);
      expectResumedFrom(lineAtKill, floor);
      const restoredId = async () => (await checkpoints(standby.restUrl, acmeJob))?.restoredId;
      const restored = await waitFor('the restored checkpoint in the REST API', 30_000, restoredId);
      expect(restored).toBeGreaterThanOrEqual(floor);
      expect((await jobsOverview(standby.restUrl))?.map((job) => job.jid)).toEqual([acmeJob]);
    },
    STEP_TIMEOUT_MS * 2,
  );

  it(
    'kill -9 of the proxy replica the JobManager uses: the job keeps running from its checkpoints',
    async () => {
      const leader = await restLeader('acme');
      const ports = replicas.map((replica) => replica.port('acme'));
      const used = await waitFor("the leader's proxy connection", 10_000, async () => (await connectedPorts(leader.pid, ports))[0]);
      const index = ports.indexOf(used);
      const victim = replicas[index]!;
      const floor = await latestCompleted(leader, acmeJob, 1);
      const before = acmeEvents();
      const lineAtKill = before.lines;
      const newestSnapshot = Math.max(...before.snapshots.keys());
      const sessionBefore = await restLeaderSession(tree!, 'acme', release);
      expect(sessionBefore).toBeDefined();
      await scrapeOpcodes(victim);
      const killedAt = Date.now();
      victim.kill('SIGKILL');
      await victim.exited;
      // The replica comes back on its ports (a restarted pod), so later steps have two again.
      replicas[index] = await startReplica(index);
      // Healthy again: the attempt running now completed a checkpoint that no attempt from before the
      // kill can have taken part in (a suspended job's old task may count on for a while).
      await waitFor('a checkpoint completed after the proxy kill', STEP_TIMEOUT_MS, async () =>
        acmeEvents().completed.some((c) => c.line >= lineAtKill && c.id >= newestSnapshot + 2) ? true : undefined,
      );
      figures.proxyKillCheckpointingAgainMs = Date.now() - killedAt;
      expect(leader.alive).toBe(true);
      expect((await connectedPorts(leader.pid, ports)).length, 'reconnected to a proxy replica').toBeGreaterThan(0);
      const nowLeader = await restLeader('acme');
      // The same JobManager leads in the same ZooKeeper session: the proxy moved the session, it did not lose it.
      expect(nowLeader).toBe(leader);
      expect(await restLeaderSession(tree!, 'acme', release)).toBe(sessionBefore);
      await waitForRunning(nowLeader, acmeJob);
      expectResumedFrom(lineAtKill, floor);
      figures.proxyKillRestarts = acmeEvents().starts.filter((s) => s.line >= lineAtKill).length;
      expect((await jobsOverview(nowLeader.restUrl))?.map((job) => job.jid)).toEqual([acmeJob]);
    },
    STEP_TIMEOUT_MS * 2,
  );

  it(
    'cluster destroy + deploy: new JobManager and TaskManager JVMs with the same cluster-id find the job and its checkpoint',
    async () => {
      const leader = await restLeader('acme');
      const floor = await latestCompleted(leader, acmeJob, 1);
      for (const replica of replicas) await scrapeOpcodes(replica);
      // cluster destroy removes the Deployments: every acme JVM gets SIGTERM (SIGKILL after a grace period).
      const stopped = Promise.all(flink.filter((jvm) => jvm.alive && !jvm.name.startsWith('globex')).map((jvm) => jvm.stop()));
      await cli.run('cluster', 'destroy', 'acme');
      expect(cli.renderedConfig('acme'), 'destroy removed the applied cluster').toBeUndefined();
      await stopped;
      expect(await tree!.children(`${clusterRoot('acme')}/jobgraphs`), 'the job graph survives destroy').toEqual([acmeJob]);
      const lineAtDeploy = acmeEvents().lines;
      const deployedAt = Date.now();
      const rendered = await deploy('acme');
      expect(rendered.jobmanager['high-availability.cluster-id']).toBe('/flink-cluster');
      await Promise.all([start('jobmanager', 'jm3'), start('taskmanager', 'tm2')]);
      const newLeader = await restLeader('acme');
      expect(newLeader.name).toBe('jm3');
      await waitForRestore(lineAtDeploy, START_TIMEOUT_MS);
      figures.redeployRecoveryMs = Date.now() - deployedAt;
      await waitForRunning(newLeader, acmeJob);
      expectResumedFrom(lineAtDeploy, floor);
      expect((await jobsOverview(newLeader.restUrl))?.map((job) => job.jid)).toEqual([acmeJob]);
    },
    START_TIMEOUT_MS + STEP_TIMEOUT_MS,
  );

  it('records the znodes Flink created and the opcodes it sent through the proxy', async () => {
    for (const replica of replicas) await scrapeOpcodes(replica);
    const root = clusterRoot('acme');
    const nodes = (await tree!.subtree(root)).map((path) => path.slice(root.length) || '/');
    console.log(`real Flink ${release}: znodes under ${root}:\n  ${nodes.join('\n  ')}`);
    const opcodes = sumCounts([...relayed.values()].map((r) => r.opcodes));
    console.log(`real Flink ${release}: requests relayed for acme by opcode: ${JSON.stringify(opcodes)}`);
    const summed = (kind: 'errors' | 'refused') => JSON.stringify(sumCounts([...relayed.values()].map((r) => r[kind])));
    console.log(`real Flink ${release}: error replies to acme by code: ${summed('errors')}`);
    console.log(`real Flink ${release}: answered by the proxy itself: ${summed('refused')}`);
    // What the proxies logged at warn and above while real Flink ran through them.
    const warnings = everyReplica.flatMap((replica) => replica.logs).filter((line) => /"level":(40|50|60)/.test(line));
    console.log(`real Flink ${release}: proxy warnings and errors: ${warnings.length}\n  ${warnings.slice(0, 20).join('\n  ')}`);
    // The only ones: Curator 5's EnsembleTracker reading /zookeeper/config, which the proxy hides.
    expect(warnings.filter((line) => !line.includes('getData: the /zookeeper subtree is not available to tenants'))).toEqual([]);
    // Still isolated at the end: globex's job and leader are its own.
    expect((await jobsOverview(live('globex-jm').restUrl))?.map((job) => job.jid)).toEqual([globexJob]);
    const sent = new Set(Object.keys(opcodes));
    for (const opcode of ['create', 'delete', 'exists', 'getData', 'setData', 'getChildren2', 'multi', 'ping']) {
      expect(sent, opcode).toContain(opcode);
    }
    if (release.startsWith('1.12')) {
      // The ZooKeeper 3.4 client: plain creates only, no containers.
      expect(sent).not.toContain('create2');
      expect(sent).not.toContain('createContainer');
      const jobNodes = [`/jobgraphs/${acmeJob}`, `/checkpoints/${acmeJob}`, `/checkpoint-counter/${acmeJob}`];
      expect(nodes).toEqual(expect.arrayContaining(['/leaderlatch', '/leader/rest_server_lock', ...jobNodes]));
    } else {
      expect(sent).toContain('create2');
      expect(sent).toContain('createContainer');
      const jobNodes = [`/jobgraphs/${acmeJob}/locks`, `/jobs/${acmeJob}/checkpoints`, `/jobs/${acmeJob}/checkpoint_id_counter`];
      expect(nodes).toEqual(expect.arrayContaining(['/leader/latch', '/leader/rest_server/connection_info', ...jobNodes]));
    }
    expect(figures.leaderFailoverMs).toBeGreaterThan(0);
    console.log(`real Flink ${release}: session timeout ${SESSION_TIMEOUT_MS} ms`);
  });
});

function fail(message: string): never {
  throw new Error(message);
}
