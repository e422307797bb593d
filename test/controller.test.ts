/**
 * The controller end to end, against a real ZooKeeper ensemble and a real proxy that watches the
 * tenant registry: the CLI (a real child process) creates a tenant, the proxy serves it without
 * a restart, Curator writes Flink-like HA state through it, and the cluster goes through
 * deploy / destroy / redeploy with that state intact. Then two controller replicas (real
 * processes): only the leader reconciles, and killing it hands over.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalEnsemble } from '../src/embedded/ensemble.ts';
import { reserveFreePorts } from '../src/embedded/free-ports.ts';
import { pollUntil } from '../src/embedded/poll.ts';
import { startReplica, type Replica } from './support/controller-replica.ts';
import { compileJava, runJava, type CompiledJava } from './support/java.ts';
import { controllerCli, controllerCliJson } from './support/controller-cli.ts';
import { TEST_SECRET, startInProcessProxy, type InProcessProxy } from './support/proxy.ts';
import { describeRun, resultLine } from './support/run-process.ts';
import { ServerTree } from './support/server-tree.ts';

const REGISTRY = '/zkproxy/registry';
const JOB_ID = 'a2c5b1d3e4f5061728394a5b6c7d8e9f';
const API_TOKEN = 'test-api-token-0123456789';

let ensemble: LocalEnsemble | undefined;
let proxy: InProcessProxy | undefined;
let tree: ServerTree;
let java: CompiledJava | undefined;
let work: string;
let configFile: string;
let manifests: string;

beforeAll(async () => {
  const compiling = compileJava([join(import.meta.dirname, 'clients', 'FlinkHaState.java')]);
  compiling.catch(() => {});
  ensemble = await LocalEnsemble.start({ size: 1 });
  java = await compiling;
  proxy = await startInProcessProxy(ensemble.connectString(), [], { registry: { path: REGISTRY } });
  tree = await ServerTree.open(ensemble);
  work = mkdtempSync(join(tmpdir(), 'zkproxy-controller-'));
  manifests = join(work, 'manifests');
  configFile = join(work, 'controller.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      ensemble: ensemble.connectString(),
      security: { ensembleAdmin: 'super:super-secret' },
      registry: { path: REGISTRY },
      controller: { reconcileIntervalMs: 60_000, sessionTimeoutMs: 4000 },
      platform: { domain: 'poc.example.com', proxyAddress: '127.0.0.1:{port}', tenantListenerHost: '127.0.0.1' },
      apply: { mode: 'directory', directory: manifests },
      log: { level: 'info' },
    }),
  );
}, 180_000);

afterAll(async () => {
  await tree?.close().catch(() => {});
  await proxy?.close();
  await ensemble?.close();
  java?.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
});

const cli = (...args: string[]) => controllerCli(configFile, ...args);
const cliJson = <T = Record<string, any>>(...args: string[]) => controllerCliJson<T>(configFile, ...args);

async function registryTenants(): Promise<string[]> {
  if (!(await tree.exists(REGISTRY))) return [];
  return (JSON.parse((await tree.data(REGISTRY))!.toString()) as { tenants: { name: string }[] }).tenants.map((t) => t.name);
}

const served = (name: string) => proxy!.server.listenerAddresses().some((l) => l.tenant === name);

async function flinkHa(mode: 'write' | 'read', address: string): Promise<Record<string, any>> {
  const result = await runJava(java!, 'FlinkHaState', [mode, address, JOB_ID], { timeoutMs: 90_000 });
  if (result.code !== 0) throw new Error(`FlinkHaState ${mode} failed\n${describeRun(result)}`);
  return resultLine(result);
}

describe('from nothing to a tenant with a Flink cluster, and back', () => {
  let address: string;

  it('tenant create: the chroot exists with the quota, the proxy serves the tenant without a restart', async () => {
    const [port] = await reserveFreePorts(1);
    address = `127.0.0.1:${port}`;
    const created = await cliJson('tenant', 'create', 'acme', '--listener', address, '--limit', 'maxZnodes=5000');
    expect(created).toMatchObject({
      tenant: 'acme',
      listener: address,
      chroot: '/tenants/acme',
      limits: { maxZnodes: 5000 },
      reconcile: { converged: true },
    });
    expect(await tree.exists('/tenants/acme')).toBe(true);
    expect((await tree.data('/zookeeper/quota/tenants/acme/zookeeper_limits'))!.toString()).toContain('countHardLimit=5000');
    expect(await registryTenants()).toEqual(['acme']);
    await pollUntil(async () => (served('acme') ? true : undefined), {
      deadline: Date.now() + 30_000,
      description: 'the proxy serving acme',
    });
  });

  it('Curator through the proxy writes Flink-like HA state, which lands in /tenants/acme', async () => {
    expect(await flinkHa('write', address)).toEqual({ written: true });
    expect(await tree.children(`/tenants/acme/flink/flink-cluster/jobgraphs`)).toEqual([JOB_ID]);
  });

  it('cluster deploy renders and applies the cluster; tenant delete is refused while it is deployed', async () => {
    const deployed = await cliJson('cluster', 'deploy', 'acme', '--flink-version', '1.15', '--taskmanagers', '3');
    expect(deployed.cluster.applied).toEqual({
      flinkVersion: '1.15',
      zone: 'default',
      jobManager: { cpu: 0.3, memoryMb: 1024 },
      taskManager: { cpu: 0.3, memoryMb: 3072, instances: 3 },
    });
    expect(deployed.cluster.zookeeperAddress).toBe(address);
    expect(deployed.cluster.ui).toBe('https://flink-cluster-ui-acme.poc.example.com');
    const cluster = readFileSync(join(manifests, 'acme', 'cluster.yaml'), 'utf8');
    expect(cluster).toContain(`high-availability.zookeeper.quorum: ${address}`);
    expect(cluster).toContain('replicas: 3');
    expect(existsSync(join(manifests, 'acme', 'retained.yaml'))).toBe(true);

    const refused = await cli('tenant', 'delete', 'acme');
    expect(refused.code).toBe(4);
    expect(refused.stderr.trim()).toBe(
      'zookeeper-proxy: tenant "acme" has a Flink cluster deployed: destroy it first (zookeeper-proxy cluster destroy acme)',
    );
    expect(await registryTenants()).toEqual(['acme']);
  });

  it('cluster deploy --dry-run prints what a deploy would apply and records, converges and applies nothing', async () => {
    const before = {
      cluster: readFileSync(join(manifests, 'acme', 'cluster.yaml'), 'utf8'),
      status: await cliJson('cluster', 'status', 'acme'),
    };
    const preview = await cliJson('cluster', 'deploy', 'acme', '--flink-version', '1.12', '--taskmanagers', '5', '--dry-run');
    expect(preview).toMatchObject({
      tenant: 'acme',
      dryRun: true,
      listener: address,
      zookeeperAddress: address,
      spec: { flinkVersion: '1.12', taskManager: { instances: 5 } },
    });
    expect(preview.flinkConfig.jobManager).toContain(`high-availability.zookeeper.quorum: ${address}`);
    expect(readFileSync(join(manifests, 'acme', 'cluster.yaml'), 'utf8')).toBe(before.cluster);
    const after = await cliJson('cluster', 'status', 'acme');
    expect(after.reconcile.generation).toBe(before.status.reconcile.generation);
    expect(after.cluster.desired).toEqual(before.status.cluster.desired);
    const missing = await cli('cluster', 'deploy', 'nobody', '--flink-version', '1.15', '--dry-run');
    expect(missing.code).toBe(3);
    expect(missing.stderr.trim()).toBe('zookeeper-proxy: tenant "nobody" does not exist');
  }, 180_000); // a sequence of CLI processes: each takes seconds on a loaded machine

  it('cluster status shows what is deployed and the ZooKeeper usage against the quota', async () => {
    const status = await cliJson('cluster', 'status', 'acme');
    const znodes =
      (await tree.children('/tenants/acme')) === null
        ? 0
        : Number((await tree.data('/zookeeper/quota/tenants/acme/zookeeper_stats'))!.toString().match(/count=(\d+)/)![1]);
    expect(status.zookeeper.znodes).toEqual({ used: znodes, limit: 5000 });
    expect(status.zookeeper.znodes.used).toBeGreaterThan(5); // the HA nodes written above
    expect(status.cluster.desired.taskManager.instances).toBe(3);
  });

  it('cluster destroy removes the workloads and the vhost; ZooKeeper state, proxy entry and retained objects stay', async () => {
    const destroyed = await cliJson('cluster', 'destroy', 'acme');
    expect(destroyed.cluster).toMatchObject({ desired: null, applied: null, ui: null });
    expect(existsSync(join(manifests, 'acme', 'cluster.yaml'))).toBe(false);
    expect(existsSync(join(manifests, 'acme', 'retained.yaml'))).toBe(true);
    expect(await tree.children(`/tenants/acme/flink/flink-cluster/jobgraphs`)).toEqual([JOB_ID]);
    expect(await registryTenants()).toEqual(['acme']);
    expect(served('acme')).toBe(true);
  });

  it('cluster deploy again: Curator finds the same HA state through the same chroot', async () => {
    await cliJson('cluster', 'deploy', 'acme', '--flink-version', '1.12');
    expect(readFileSync(join(manifests, 'acme', 'cluster.yaml'), 'utf8')).toContain('image: flink:1.12.2-scala_2.12-java11');
    expect(await flinkHa('read', address)).toEqual({
      jobs: [JOB_ID],
      jobGraph: `s3://bucket/ha/submittedJobGraph-${JOB_ID}`,
      checkpoints: ['0000000000000000042'],
      checkpoint: 's3://bucket/checkpoints/chk-42',
      counter: 43,
    });
  });

  it('a refused request changes nothing: bad fields, versions and names', async () => {
    const registryBefore = (await tree.data(REGISTRY))!.toString();
    const clusterBefore = readFileSync(join(manifests, 'acme', 'cluster.yaml'), 'utf8');
    const bad = await cli(
      'cluster',
      'deploy',
      'acme',
      '--flink-version',
      '1.14',
      '--jobmanager-cpu',
      '0.2',
      '--taskmanager-memory',
      '1000',
      '--taskmanagers',
      '0',
    );
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe(
      [
        'zookeeper-proxy: invalid request:',
        '  flinkVersion "1.14" is not supported (supported: 1.12, 1.15)',
        '  jobManager.cpu 0.2 is below the minimum 0.3',
        '  taskManager.memoryMb 1000 is below the minimum 1024',
        '  taskManager.instances 0 is below the minimum 1',
        '',
      ].join('\n'),
    );
    for (const [name, message] of [
      ['Beta', 'tenant name "Beta" contains upper-case letters'],
      ['b'.repeat(47), 'is 47 characters long: at most 46'],
      ['beta/../acme', 'tenant name "beta/../acme" contains "/"'],
    ] as const) {
      const result = await cli('tenant', 'create', name);
      expect(result.code, name).toBe(2);
      expect(result.stderr).toContain(message);
    }
    const badLimit = await cli('tenant', 'create', 'beta', '--limit', 'maxZnodes=-5');
    expect(badLimit.code).toBe(2);
    expect(badLimit.stderr.trim()).toBe('zookeeper-proxy: limits.maxZnodes: Too small: expected number to be >=0');
    expect((await tree.data(REGISTRY))!.toString()).toBe(registryBefore);
    expect(readFileSync(join(manifests, 'acme', 'cluster.yaml'), 'utf8')).toBe(clusterBefore);
    expect(await tree.children('/zkproxy/controller/tenants')).toEqual(['acme']);
    expect(await tree.children('/tenants')).toEqual(['acme']);
  }, 180_000); // a sequence of CLI processes: each takes seconds on a loaded machine

  it('destroy then tenant delete: manifests, registry entry, proxy listener and ZooKeeper data are gone', async () => {
    await cliJson('cluster', 'destroy', 'acme');
    expect(await cliJson('tenant', 'delete', 'acme')).toEqual({ tenant: 'acme', deleted: true });
    expect(existsSync(join(manifests, 'acme'))).toBe(false);
    expect(await registryTenants()).toEqual([]);
    expect(await tree.exists('/tenants/acme')).toBe(false);
    expect(await tree.exists('/zookeeper/quota/tenants/acme')).toBe(false);
    await pollUntil(async () => (served('acme') ? undefined : true), {
      deadline: Date.now() + 30_000,
      description: 'the proxy dropping acme',
    });
    expect(await cliJson('tenant', 'list')).toEqual([]);
  });
});

const startControllerReplica = () => startReplica(configFile, { ZKPROXY_SECRET: TEST_SECRET, ZKPROXY_API_TOKEN: API_TOKEN });

async function api(replica: Replica, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(`${replica.api}${path}`, {
    method,
    headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: await response.json() };
}

const health = async (replica: Replica) =>
  (await (await fetch(`${replica.api}/healthz`)).json()) as { leader: boolean; passes: number; converged: number; leaderId: string };

describe('two controller replicas', () => {
  const replicas: Replica[] = [];

  afterAll(async () => {
    for (const replica of replicas) replica.child.kill('SIGKILL');
    await Promise.all(replicas.map((r) => r.exited));
  });

  it('only the leader reconciles; killing it hands over to the other', async () => {
    replicas.push(await startControllerReplica(), await startControllerReplica());
    const [leader, follower] = await pollUntil(
      async () => {
        const states = await Promise.all(replicas.map(health));
        const index = states.findIndex((s) => s.leader);
        return index < 0 || states.filter((s) => s.leader).length !== 1 ? undefined : [replicas[index]!, replicas[1 - index]!];
      },
      { deadline: Date.now() + 30_000, description: 'exactly one leader' },
    );
    expect((await health(follower)).leaderId).toBe(leader.id);

    // The API refuses a missing token, and a write through the FOLLOWER is converged by the leader.
    expect((await fetch(`${follower.api}/v1/tenants`)).status).toBe(401);
    const [port] = await reserveFreePorts(1);
    const created = await api(follower, 'POST', '/v1/tenants', { name: 'gamma', listener: `127.0.0.1:${port}` });
    expect(created.status).toBe(202);
    const converged = await pollUntil(
      async () => {
        const view = (await api(follower, 'GET', '/v1/tenants/gamma')).body;
        return view.reconcile?.converged ? view : undefined;
      },
      { deadline: Date.now() + 30_000, description: 'gamma converged' },
    );
    expect(converged.reconcile.reconciledBy).toBe(leader.id);
    expect((await health(follower)).passes).toBe(0);
    expect((await health(leader)).converged).toBeGreaterThan(0);
    await pollUntil(async () => (served('gamma') ? true : undefined), {
      deadline: Date.now() + 30_000,
      description: 'the proxy serving gamma',
    });

    const invalid = await api(follower, 'PUT', '/v1/tenants/gamma/cluster', { flinkVersion: '1.15', taskManager: { instances: 0 } });
    expect(invalid).toEqual({
      status: 400,
      body: { error: 'invalid request', problems: ['taskManager.instances 0 is below the minimum 1'] },
    });

    // ?dryRun=true (PUT or POST): 200 with the preview, the desired state untouched.
    const generation = converged.reconcile.generation;
    for (const method of ['PUT', 'POST']) {
      const preview = await api(follower, method, '/v1/tenants/gamma/cluster?dryRun=true', {
        flinkVersion: '1.15',
        taskManager: { instances: 3 },
      });
      expect(preview.status).toBe(200);
      expect(preview.body).toMatchObject({
        tenant: 'gamma',
        dryRun: true,
        spec: { taskManager: { instances: 3 } },
        listener: `127.0.0.1:${port}`,
      });
    }
    const refusedPreview = await api(follower, 'PUT', '/v1/tenants/gamma/cluster?dryRun=true', {
      flinkVersion: '1.15',
      jobManager: { memoryMb: 512 },
    });
    expect(refusedPreview).toEqual({
      status: 400,
      body: { error: 'invalid request', problems: ['jobManager.memoryMb 512 is below the minimum 1024'] },
    });
    expect((await api(follower, 'PUT', '/v1/tenants/gamma/cluster?dryRun=yes', { flinkVersion: '1.15' })).body.problems).toEqual([
      'dryRun "yes" must be true or false',
    ]);
    const untouched = (await api(follower, 'GET', '/v1/tenants/gamma')).body;
    expect(untouched.reconcile.generation).toBe(generation);
    expect(untouched.cluster.desired).toBeNull();
    expect(existsSync(join(manifests, 'gamma', 'cluster.yaml'))).toBe(false);

    leader.child.kill('SIGKILL');
    await leader.exited;
    await pollUntil(async () => ((await health(follower)).leader ? true : undefined), {
      deadline: Date.now() + 40_000,
      description: 'the follower taking over',
    });
    expect((await api(follower, 'PUT', '/v1/tenants/gamma/cluster', { flinkVersion: '1.15' })).status).toBe(202);
    const deployed = await pollUntil(
      async () => {
        const view = (await api(follower, 'GET', '/v1/tenants/gamma')).body;
        return view.reconcile?.converged && view.cluster.applied ? view : undefined;
      },
      { deadline: Date.now() + 30_000, description: 'gamma deployed by the new leader' },
    );
    expect(deployed.reconcile.reconciledBy).toBe(follower.id);
    expect(existsSync(join(manifests, 'gamma', 'cluster.yaml'))).toBe(true);
    expect((await api(follower, 'DELETE', '/v1/tenants/gamma')).status).toBe(409);
  });
});
