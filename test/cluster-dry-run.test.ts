/**
 * `cluster deploy --dry-run --listener`: the real CLI (a child process) renders without an
 * ensemble: the configuration names an ensemble nobody listens on and no secret, and the manifest
 * directory stays absent. The printed YAML stream is valid Kubernetes and carries the Flink
 * configuration; a refused request lists every problem and exits 2.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { parseFlinkConfig } from '../src/controller/flink-config.ts';
import { reserveFreePorts } from '../src/embedded/free-ports.ts';
import { expectSuccess, runProcess } from './support/run-process.ts';
import { validateKubernetesYaml } from './support/kubernetes-schema.ts';

const CLI = join(import.meta.dirname, '..', 'src', 'cli.ts');
const work = mkdtempSync(join(tmpdir(), 'zkproxy-dry-run-'));
const manifests = join(work, 'manifests');
const configFile = join(work, 'controller.json');

afterAll(() => rmSync(work, { recursive: true, force: true }));

async function dryRun(...args: string[]) {
  const [deadPort] = await reserveFreePorts(1);
  writeFileSync(
    configFile,
    JSON.stringify({
      ensemble: `127.0.0.1:${deadPort}`,
      platform: { domain: 'poc.example.com', proxyAddress: 'zk-{tenant}.example.com:{port}', zones: ['eu-1', 'eu-2'], defaultZone: 'eu-1' },
      apply: { mode: 'directory', directory: manifests },
    }),
  );
  // No secret anywhere (ZKPROXY_SECRET empty counts as unset): a render needs none.
  return runProcess(process.execPath, [CLI, 'cluster', 'deploy', ...args, '--config', configFile], {
    env: { ZKPROXY_SECRET: '' },
    timeoutMs: 30_000,
  });
}

describe('cluster deploy --dry-run --listener, no ensemble', () => {
  it('prints the manifests as a YAML stream with the Flink configuration, and writes nothing', async () => {
    const result = await dryRun('acme', '--flink-version', '1.15', '--taskmanagers', '4', '--dry-run', '--listener', '0.0.0.0:7460');
    const text = expectSuccess('cluster deploy --dry-run', result).stdout;
    expect(text.startsWith('# dry run: nothing was applied or recorded for tenant acme\n')).toBe(true);
    expect(text).toContain('#   high-availability.zookeeper.quorum: zk-acme.example.com:7460');
    const documents = parseAllDocuments(text).map((d) => d.toJS() as { kind: string; metadata: { name: string }; spec?: any; data?: any });
    expect(documents.map((d) => `${d.kind}/${d.metadata.name}`)).toEqual([
      'Namespace/acme',
      'PersistentVolumeClaim/faas-volume',
      'ConfigMap/flink-cluster-bucket',
      'ConfigMap/flink-cluster-jobmanager-config',
      'ConfigMap/flink-cluster-taskmanager-config',
      'Deployment/flink-cluster-jobmanager',
      'Deployment/flink-cluster-taskmanager',
      'Service/flink-cluster-jobmanager',
      'Service/flink-cluster-taskmanager',
      'Ingress/flink-cluster-ui-acme',
    ]);
    expect(validateKubernetesYaml(text)).toEqual([]);
    const taskManagers = documents.find((d) => d.metadata.name === 'flink-cluster-taskmanager' && d.kind === 'Deployment')!;
    expect(taskManagers.spec.replicas).toBe(4);
    expect(taskManagers.spec.template.spec.nodeSelector).toEqual({ 'topology.kubernetes.io/zone': 'eu-1' });
    const jobManagerConf = parseFlinkConfig(
      documents.find((d) => d.metadata.name === 'flink-cluster-jobmanager-config')!.data['flink-conf.yaml'],
    );
    expect(jobManagerConf).toMatchObject({
      'high-availability.zookeeper.quorum': 'zk-acme.example.com:7460',
      'high-availability.cluster-id': '/flink-cluster',
      'rest.port': '8081',
    });
    expect(existsSync(manifests)).toBe(false);
  });

  it('-o json gives the preview document', async () => {
    const result = await dryRun(
      'acme',
      '--flink-version',
      '1.12',
      '--zone',
      'eu-2',
      '--dry-run',
      '--listener',
      '127.0.0.1:7461',
      '-o',
      'json',
    );
    const preview = JSON.parse(expectSuccess('cluster deploy --dry-run -o json', result).stdout);
    expect(preview).toMatchObject({
      tenant: 'acme',
      dryRun: true,
      spec: {
        flinkVersion: '1.12',
        zone: 'eu-2',
        jobManager: { cpu: 0.3, memoryMb: 1024 },
        taskManager: { cpu: 0.3, memoryMb: 3072, instances: 2 },
      },
      zookeeperAddress: 'zk-acme.example.com:7461',
      namespace: 'acme',
      bucket: 'flink-cluster-bucket-acme',
      ui: 'https://flink-cluster-ui-acme.poc.example.com',
    });
    expect(parseFlinkConfig(preview.flinkConfig.taskManager)['taskmanager.memory.process.size']).toBe('3072m');
    expect(preview.manifests).toHaveLength(10);
    expect(existsSync(manifests)).toBe(false);
  });

  it('a refused request lists every problem (name, listener, spec) and exits 2', async () => {
    const result = await dryRun('Acme', '--flink-version', '1.14', '--taskmanagers', '0', '--dry-run', '--listener', 'nowhere');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('tenant name "Acme" contains upper-case letters');
    expect(result.stderr).toContain('listener');
    expect(result.stderr).toContain('  flinkVersion "1.14" is not supported (supported: 1.12, 1.15)');
    expect(result.stderr).toContain('  taskManager.instances 0 is below the minimum 1');
    expect(result.stdout).toBe('');
  });

  it('--listener without --dry-run is refused: a deploy uses the recorded listener', async () => {
    const result = await dryRun('acme', '--flink-version', '1.15', '--listener', '127.0.0.1:7461');
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toBe("zookeeper-proxy: --listener is only for --dry-run: a deploy uses the tenant's recorded listener");
  });
});
