import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
/**
 * What the controller accepts and what it renders, without an ensemble: validation messages
 * (exact), the Flink configuration against the platform's fixed settings
 * (shared/reference/dsh-flink-service.md), and the Kubernetes manifests against the API schemas
 * (strict, test/support/kubernetes-schema.ts).
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { parseFlinkConfig } from '../src/controller/flink-config.ts';
import { manifestsYaml, renderCluster, type Manifest } from '../src/controller/manifests.ts';
import { chooseEnsemble, type EnsembleMeasure } from '../src/controller/placement.ts';
import { ControllerSettingsSchema, controllerEnsembles, loadSettings, validateSettings } from '../src/controller/settings.ts';
import { digestIdentity } from '../src/tenancy/credentials.ts';
import { readConfigFile } from '../src/config/load.ts';
import { ConflictError, UnavailableError, ValidationError } from '../src/controller/errors.ts';
import { checkLimits, resolveClusterSpec, tenantNameProblem, type ClusterSpec } from '../src/controller/spec.ts';
import { validateKubernetesYaml } from './support/kubernetes-schema.ts';

const settings = validateSettings({
  ensemble: '127.0.0.1:2181',
  security: { secret: 'a-secret-of-16-chars-or-more' },
  platform: { domain: 'poc.kpn-dsh.com', zones: ['eu-1', 'eu-2'], defaultZone: 'eu-1' },
});
const zones = settings.platform;

function problems(request: unknown): string[] {
  try {
    resolveClusterSpec(request, zones);
  } catch (error) {
    if (error instanceof ValidationError) return error.problems;
    throw error;
  }
  return [];
}

describe('cluster specification', () => {
  it('takes the platform defaults: JobManager 0.3 CPU / 1024 MB, TaskManager 0.3 CPU / 3072 MB x 2, the default zone', () => {
    expect(resolveClusterSpec({ flinkVersion: '1.15' }, zones)).toEqual({
      flinkVersion: '1.15',
      zone: 'eu-1',
      jobManager: { cpu: 0.3, memoryMb: 1024 },
      taskManager: { cpu: 0.3, memoryMb: 3072, instances: 2 },
    });
  });

  it('accepts every field at its minimum', () => {
    const minimal = {
      flinkVersion: '1.12',
      zone: 'eu-2',
      jobManager: { cpu: 0.3, memoryMb: 1024 },
      taskManager: { cpu: 0.3, memoryMb: 1024, instances: 1 },
    };
    expect(resolveClusterSpec(minimal, zones)).toEqual(minimal);
  });

  it.each([
    ['jobManager', 'cpu', 0.29, 'jobManager.cpu 0.29 is below the minimum 0.3'],
    ['jobManager', 'memoryMb', 1023, 'jobManager.memoryMb 1023 is below the minimum 1024'],
    ['taskManager', 'cpu', 0.1, 'taskManager.cpu 0.1 is below the minimum 0.3'],
    ['taskManager', 'memoryMb', 512, 'taskManager.memoryMb 512 is below the minimum 1024'],
    ['taskManager', 'instances', 0, 'taskManager.instances 0 is below the minimum 1'],
  ])('%s.%s below its minimum is refused naming the field, the value and the minimum', (section, field, value, message) => {
    expect(problems({ flinkVersion: '1.15', [section]: { [field]: value } })).toEqual([message]);
  });

  it('lists every problem at once', () => {
    expect(
      problems({
        flinkVersion: '1.14',
        zone: 'mars',
        jobManager: { cpu: 0.1, memoryMb: 'lots' },
        taskManager: { instances: 1.5, disk: 3 },
        replicas: 2,
      }),
    ).toEqual([
      'unknown field "replicas"',
      'flinkVersion "1.14" is not supported (supported: 1.12, 1.15)',
      'zone "mars" is not one of the platform\'s zones (eu-1, eu-2)',
      'unknown field "taskManager.disk"',
      'jobManager.cpu 0.1 is below the minimum 0.3',
      'jobManager.memoryMb "lots" is not a number',
      'taskManager.instances 1.5 is not a whole number',
    ]);
  });

  it('refuses an unknown or missing Flink version', () => {
    expect(problems({ flinkVersion: '2.0' })).toEqual(['flinkVersion "2.0" is not supported (supported: 1.12, 1.15)']);
    expect(problems({})).toEqual(['flinkVersion is required (supported: 1.12, 1.15)']);
    expect(problems({ flinkVersion: 1.15 })).toEqual(['flinkVersion 1.15 is not supported (supported: 1.12, 1.15)']);
  });
});

describe('controller settings', () => {
  it('deploy/controller.example.yaml is valid and names every top-level key', () => {
    const raw = readConfigFile(join(import.meta.dirname, '..', 'deploy', 'controller.example.yaml'));
    expect(() => validateSettings(raw)).not.toThrow();
    // `ensemble` and `ensembles` are alternatives: the example uses the first and shows the second in a comment.
    expect(Object.keys(raw).sort()).toEqual(
      Object.keys(ControllerSettingsSchema.shape)
        .filter((key) => key !== 'ensembles')
        .sort(),
    );
    expect(readFileSync(join(import.meta.dirname, '..', 'deploy', 'controller.example.yaml'), 'utf8')).toMatch(/^# ensembles:/m);
  });
});

describe('several ensembles in the controller settings', () => {
  it("each ensemble's admin is its own ensembleAdmin[File], else security.ensembleAdmin; capacity defaults fill in", () => {
    const dir = mkdtempSync(join(tmpdir(), 'zkproxy-settings-'));
    try {
      writeFileSync(join(dir, 'west-admin'), 'westadmin:west-secret\n');
      const resolved = controllerEnsembles(
        validateSettings({
          ensembles: {
            east: { members: '10.0.0.1:2181' },
            west: { members: '10.0.1.1:2181', ensembleAdminFile: join(dir, 'west-admin'), capacity: { znodes: 5000 } },
            north: { members: '10.0.2.1:2181', ensembleAdmin: 'northadmin:north-secret' },
          },
          security: { secret: 'a-secret-of-16-chars-or-more', ensembleAdmin: 'super:super-secret' },
        }),
      );
      expect(resolved.map((e) => [e.name, e.admin?.id])).toEqual([
        ['east', digestIdentity('super', 'super-secret').id],
        ['west', digestIdentity('westadmin', 'west-secret').id],
        ['north', digestIdentity('northadmin', 'north-secret').id],
      ]);
      expect(resolved.map((e) => e.capacity)).toEqual([
        { znodes: 1_000_000, bytes: 1024 ** 3, connections: 10_000 },
        { znodes: 5000, bytes: 1024 ** 3, connections: 10_000 },
        { znodes: 1_000_000, bytes: 1024 ** 3, connections: 10_000 },
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a capacity key it does not know, or one that is not a positive whole number', () => {
    const attempt = (capacity: unknown) => () =>
      validateSettings({
        ensembles: { east: { members: '10.0.0.1:2181', capacity } },
        security: { secret: 'a-secret-of-16-chars-or-more' },
      });
    expect(attempt({ tenants: 5 })).toThrow(/ensembles\.east\.capacity: Unrecognized key: "tenants"/);
    expect(attempt({ znodes: 0 })).toThrow(/ensembles\.east\.capacity\.znodes/);
  });

  it("--ensemble host:port replaces the file's ensembles", () => {
    const dir = mkdtempSync(join(tmpdir(), 'zkproxy-settings-'));
    try {
      const file = join(dir, 'controller.json');
      writeFileSync(
        file,
        JSON.stringify({ ensembles: { east: { members: '10.0.0.1:2181' } }, security: { secret: 'a-secret-of-16-chars-or-more' } }),
      );
      const loaded = loadSettings({ config: file, ensemble: '127.0.0.1:2181' }, {});
      expect(controllerEnsembles(loaded).map((e) => [e.name, e.members])).toEqual([['default', [{ host: '127.0.0.1', port: 2181 }]]]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('choosing an ensemble by headroom', () => {
  const capacity = { znodes: 100, bytes: 1000, connections: 10 };
  const measure = (ensemble: string, headroom: number | null): EnsembleMeasure => ({
    ensemble,
    members: [
      {
        address: `${ensemble}:2181`,
        reachable: headroom !== null,
        state: null,
        znodes: null,
        bytes: null,
        connections: null,
        error: 'refused',
      },
    ],
    reachable: headroom !== null,
    znodes: null,
    bytes: null,
    connections: null,
    capacity,
    usage: headroom === null ? null : { znodes: 1 - headroom, bytes: 0, connections: 0 },
    headroom,
  });

  it('takes the most headroom; a tie goes to the ensemble named first; an unreachable one is never taken', () => {
    expect(chooseEnsemble([measure('east', 0.2), measure('west', 0.7), measure('ghost', null)])).toBe('west');
    expect(chooseEnsemble([measure('east', 0.5), measure('west', 0.5)])).toBe('east');
    expect(chooseEnsemble([measure('ghost', null), measure('east', 0.01)])).toBe('east');
  });

  it('refuses when every reachable ensemble is full (409), and fails when none is reachable (503)', () => {
    expect(() => chooseEnsemble([measure('east', 0), measure('west', -0.5), measure('ghost', null)])).toThrow(ConflictError);
    expect(() => chooseEnsemble([measure('east', 0), measure('ghost', null)])).toThrow(
      'no ensemble has room for a new tenant: east: no headroom (usage {"znodes":1,"bytes":0,"connections":0}); ghost: unreachable (ghost:2181: refused)',
    );
    expect(() => chooseEnsemble([measure('ghost', null)])).toThrow(UnavailableError);
  });
});

describe('tenant names and limits', () => {
  const rule = 'tenant names are lower-case letters, digits and dashes, starting and ending with a letter or digit';
  it.each([
    ['Acme', `tenant name "Acme" contains upper-case letters: ${rule}`],
    [
      'a'.repeat(47),
      `tenant name "${'a'.repeat(47)}" is 47 characters long: at most 46 (flink-cluster-ui-<tenant> must fit a 63-character DNS label)`,
    ],
    ['acme/../beta', `tenant name "acme/../beta" contains "/": ${rule}`],
    ['acme.beta', `tenant name "acme.beta" contains ".": ${rule}`],
    ['ac\\me', `tenant name "ac\\\\me" contains "\\\\": ${rule}`],
    ['-acme', `tenant name "-acme" is not valid: ${rule}`],
    ['ac_me', `tenant name "ac_me" is not valid: ${rule}`],
    ['', 'tenant name is required'],
  ])('%j is refused', (name, message) => {
    expect(tenantNameProblem(name)).toBe(message);
  });

  it('accepts DNS labels up to 46 characters', () => {
    expect(tenantNameProblem('acme')).toBeUndefined();
    expect(tenantNameProblem('a1-b2')).toBeUndefined();
    expect(tenantNameProblem('a'.repeat(46))).toBeUndefined();
  });

  it("limits use the proxy's keys and rules", () => {
    expect(checkLimits({ maxZnodes: 1000, maxBytes: 0 })).toEqual({ maxZnodes: 1000, maxBytes: 0 });
    expect(() => checkLimits({ maxZnodes: -1 })).toThrow('limits.maxZnodes: Too small: expected number to be >=0');
    expect(() => checkLimits({ maxZnodez: 1 })).toThrow('limits: Unrecognized key: "maxZnodez"');
  });
});

const spec = (flinkVersion: '1.12' | '1.15'): ClusterSpec => ({
  flinkVersion,
  zone: 'eu-2',
  jobManager: { cpu: 0.5, memoryMb: 2048 },
  taskManager: { cpu: 1.5, memoryMb: 4096, instances: 3 },
});

/** The fixed settings of shared/reference/dsh-flink-service.md, copied from the document. */
const FIXED_JOBMANAGER = {
  'jobmanager.rpc.port': '6123',
  'blob.storage.directory': '/storage/blob-store',
  'web.upload.dir': '/storage/web-upload',
  'rest.port': '8081',
  'restart-strategy': 'fixed-delay',
  'restart-strategy.fixed-delay.delay': '10 s',
  'restart-strategy.fixed-delay.attempts': '1440',
  'metrics.reporters': 'prom',
  'metrics.reporter.prom.class': 'org.apache.flink.metrics.prometheus.PrometheusReporter',
  'metrics.reporter.prom.port': '9163',
  'high-availability': 'zookeeper',
  'state.backend': 'filesystem',
};
const FIXED_TASKMANAGER = {
  'parallelism.default': '1',
  'metrics.reporters': 'prom',
  'metrics.reporter.prom.class': 'org.apache.flink.metrics.prometheus.PrometheusReporter',
  'metrics.reporter.prom.port': '9163',
  'high-availability': 'zookeeper',
  'state.backend': 'filesystem',
};

function find(manifests: Manifest[], kind: string, name: string): Record<string, any> {
  const found = manifests.find((m) => m.kind === kind && m.metadata.name === name);
  expect(found, `${kind} ${name}`).toBeDefined();
  return found as Record<string, any>;
}

describe.each(['1.12', '1.15'] as const)('rendering Flink %s', (version) => {
  const rendered = renderCluster({ tenant: 'acme', spec: spec(version), listenerPort: 7460, platform: settings.platform });
  const all = [...rendered.retained, ...rendered.cluster];

  it('every manifest validates against the Kubernetes API schemas (strict: no undeclared field)', () => {
    const text = manifestsYaml(all);
    expect(parseAllDocuments(text)).toHaveLength(all.length);
    expect(validateKubernetesYaml(text)).toEqual([]);
  });

  it('the JobManager and TaskManager configurations contain every fixed setting of the platform', () => {
    const jm = parseFlinkConfig(rendered.jobManagerConfig);
    const tm = parseFlinkConfig(rendered.taskManagerConfig);
    expect(jm).toMatchObject(FIXED_JOBMANAGER);
    expect(tm).toMatchObject(FIXED_TASKMANAGER);
    // And the same text is what the pods mount.
    expect(find(all, 'ConfigMap', 'flink-cluster-jobmanager-config').data['flink-conf.yaml']).toBe(rendered.jobManagerConfig);
    expect(find(all, 'ConfigMap', 'flink-cluster-taskmanager-config').data['flink-conf.yaml']).toBe(rendered.taskManagerConfig);
  });

  it("HA goes through the tenant's proxy address; HA storage, checkpoints and savepoints are in the tenant's bucket", () => {
    for (const text of [rendered.jobManagerConfig, rendered.taskManagerConfig]) {
      const conf = parseFlinkConfig(text);
      expect(conf['high-availability.zookeeper.quorum']).toBe('zookeeper-proxy.acme.marathon.mesos:7451');
      expect(conf['high-availability.storageDir']).toBe('s3://flink-cluster-bucket-acme/ha');
      expect(conf['state.checkpoints.dir']).toBe('s3://flink-cluster-bucket-acme/checkpoints');
      expect(conf['state.savepoints.dir']).toBe('s3://flink-cluster-bucket-acme/savepoints');
      // The option exists from Flink 1.18 only (FLINK-31780): Flink 1.12/1.15 would ignore it.
      expect(conf['high-availability.zookeeper.client.ensemble-tracker']).toBeUndefined();
    }
    expect(parseFlinkConfig(rendered.jobManagerConfig)['jobmanager.memory.process.size']).toBe('2048m');
    expect(parseFlinkConfig(rendered.taskManagerConfig)['taskmanager.memory.process.size']).toBe('4096m');
  });

  it('Deployments carry the requested resources, instances, zone and image', () => {
    const jm = find(all, 'Deployment', 'flink-cluster-jobmanager');
    const tm = find(all, 'Deployment', 'flink-cluster-taskmanager');
    expect(jm.spec.replicas).toBe(1);
    expect(tm.spec.replicas).toBe(3);
    expect(jm.spec.template.spec.containers[0].resources).toEqual({
      requests: { cpu: '500m', memory: '2048Mi' },
      limits: { cpu: '500m', memory: '2048Mi' },
    });
    expect(tm.spec.template.spec.containers[0].resources).toEqual({
      requests: { cpu: '1500m', memory: '4096Mi' },
      limits: { cpu: '1500m', memory: '4096Mi' },
    });
    for (const d of [jm, tm]) {
      expect(d.spec.template.spec.nodeSelector).toEqual({ 'topology.kubernetes.io/zone': 'eu-2' });
      expect(d.spec.template.spec.containers[0].image).toBe(`flink:${version}.2-scala_2.12-java11`);
      expect(d.metadata.namespace).toBe('acme');
    }
  });

  it('Services expose RPC 6123, REST/UI 8081 and metrics 9163; the Ingress serves the UI vhost; the job volume is 20 GiB', () => {
    const ports = (name: string) => find(all, 'Service', name).spec.ports.map((p: { port: number }) => p.port);
    expect(ports('flink-cluster-jobmanager')).toEqual(expect.arrayContaining([6123, 8081, 9163]));
    expect(ports('flink-cluster-taskmanager')).toEqual([9163]);
    const ingress = find(all, 'Ingress', 'flink-cluster-ui-acme');
    expect(ingress.spec.rules[0].host).toBe('flink-cluster-ui-acme.poc.kpn-dsh.com');
    expect(ingress.spec.rules[0].http.paths[0].backend.service).toEqual({ name: 'flink-cluster-jobmanager', port: { number: 8081 } });
    expect(find(all, 'PersistentVolumeClaim', 'faas-volume').spec.resources.requests.storage).toBe('20Gi');
    expect(find(all, 'ConfigMap', 'flink-cluster-bucket').data.BUCKET_NAME).toBe('flink-cluster-bucket-acme');
  });

  it('destroy removes workloads, Services, Ingress and Flink configuration; the namespace, job volume and bucket configuration are retained', () => {
    expect(rendered.cluster.map((m) => m.kind).sort()).toEqual([
      'ConfigMap',
      'ConfigMap',
      'Deployment',
      'Deployment',
      'Ingress',
      'Service',
      'Service',
    ]);
    expect(rendered.retained.map((m) => `${m.kind}/${m.metadata.name}`)).toEqual([
      'Namespace/acme',
      'PersistentVolumeClaim/faas-volume',
      'ConfigMap/flink-cluster-bucket',
    ]);
  });
});

it('the proxy address pattern is configurable ({tenant}, {port})', () => {
  const local = validateSettings({
    ensemble: '127.0.0.1:2181',
    security: { secret: 'a-secret-of-16-chars-or-more' },
    platform: { proxyAddress: 'zkp-{tenant}.svc:{port}' },
  });
  const rendered = renderCluster({ tenant: 'acme', spec: spec('1.15'), listenerPort: 7460, platform: local.platform });
  expect(parseFlinkConfig(rendered.jobManagerConfig)['high-availability.zookeeper.quorum']).toBe('zkp-acme.svc:7460');
});
