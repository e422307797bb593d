// The container image, the Kubernetes manifests, the compose stack and the Grafana dashboard,
// checked offline: against the Kubernetes and Compose schemas (strictly: undeclared fields fail),
// and against each other and the proxy itself (its config schema, admin routes, CLI flags, metrics).
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, matchesGlob, resolve } from 'node:path';
import { Ajv } from 'ajv';
import { DockerfileParser, type Copy, type Instruction } from 'dockerfile-ast';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { AdminServer } from '../src/admin/admin-server.ts';
import { validateConfig, type ProxyConfig } from '../src/config/config.ts';
import { ProxyMetrics } from '../src/observability/metrics.ts';
import { validateKubernetesManifest, validateKubernetesYaml } from './support/kubernetes-schema.ts';
import { runProcess } from './support/run-process.ts';

const repo = resolve(import.meta.dirname, '..');
const read = (path: string) => readFileSync(join(repo, path), 'utf8');
const packageJson = JSON.parse(read('package.json')) as { version: string; engines: { node: string } };

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- manifests are free-form YAML
const yamlDocuments = (path: string): Json[] =>
  parseAllDocuments(read(path), { merge: true })
    .map((document) => document.toJS() as Json)
    .filter(Boolean);
const find = (docs: Json[], kind: string, name: string): Json => {
  const doc = docs.find((d) => d.kind === kind && d.metadata?.name === name);
  if (doc === undefined) throw new Error(`no ${kind} ${name}`);
  return doc;
};
const selects = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.keys(selector).length > 0 && Object.entries(selector).every(([key, value]) => labels[key] === value);
const portOf = (listen: { port: number } | null) => listen!.port;

const K8S_PROXY = 'deploy/kubernetes/proxy.yaml';
const K8S_ZOOKEEPER = 'deploy/kubernetes/zookeeper.yaml';
const CONTROLLER_LABELS = { 'app.kubernetes.io/name': 'zookeeper-proxy-controller' };

const validDeployment = (): Json => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'x', labels: { a: 'b' }, annotations: { 'any/key': 'v' } },
  spec: {
    replicas: 2,
    selector: { matchLabels: { a: 'b' } },
    template: {
      metadata: { labels: { a: 'b' } },
      spec: {
        containers: [{ name: 'c', image: 'i', ports: [{ containerPort: 80 }], readinessProbe: { httpGet: { path: '/', port: 'http' } } }],
      },
    },
  },
});

describe('the Kubernetes schema validator (test/support/kubernetes-schema.ts)', () => {
  it('accepts a valid manifest, with free-form maps (labels, annotations, ConfigMap data) holding any keys', () => {
    expect(validateKubernetesManifest(validDeployment())).toEqual([]);
    expect(
      validateKubernetesManifest({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: { 'any.key': 'v', other: 'w' } }),
    ).toEqual([]);
  });

  it('rejects wrong types, naming the path', () => {
    const doc = validDeployment();
    doc.spec.replicas = 'two';
    doc.spec.template.spec.containers[0].ports[0].containerPort = '80';
    expect(validateKubernetesManifest(doc)).toEqual([
      '/spec/replicas: must be integer',
      '/spec/template/spec/containers/0/ports/0/containerPort: must be integer',
    ]);
  });

  it('rejects missing required fields, metadata.name included', () => {
    const doc = validDeployment();
    delete doc.spec.selector;
    delete doc.spec.template.spec.containers[0].name;
    delete doc.metadata.name;
    const problems = validateKubernetesManifest(doc);
    expect(problems).toContain('/metadata/name: is required');
    expect(problems.some((p) => p.startsWith('/spec: ') && p.includes('selector'))).toBe(true);
    expect(problems.some((p) => p.startsWith('/spec/template/spec/containers/0: ') && p.includes('name'))).toBe(true);
  });

  it('rejects fields the schema does not declare, at any depth (strict mode)', () => {
    const doc = validDeployment();
    doc.spec.replicass = 3;
    doc.spec.template.spec.containers[0].readinessProbe.httpGet.paht = '/x';
    doc.spec.template.metadata.label = { a: 'b' };
    expect(validateKubernetesManifest(doc).sort()).toEqual([
      '/spec/replicass: unknown field (not in the Deployment schema)',
      '/spec/template/metadata/label: unknown field (not in the Deployment schema)',
      '/spec/template/spec/containers/0/readinessProbe/httpGet/paht: unknown field (not in the Deployment schema)',
    ]);
  });

  it('rejects unknown kinds, wrong enum values and non-mappings', () => {
    expect(validateKubernetesManifest({ apiVersion: 'apps/v1', kind: 'Deploymnet', metadata: { name: 'x' } })[0]).toContain(
      'unknown kind "Deploymnet"',
    );
    expect(
      validateKubernetesManifest({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 's' },
        spec: { ports: [{ port: 1, protocol: 'TCP' }], type: 'Clusterip' },
      }),
    ).toEqual([expect.stringMatching(/^\/spec\/type: must be equal to one of the allowed values/)]);
    expect(validateKubernetesManifest(['a'])).toEqual(['(root): a manifest must be a mapping']);
    expect(validateKubernetesManifest({ kind: 'Service' })).toEqual(['(root): apiVersion and kind are required strings']);
  });

  it('validates every document of a YAML stream, labelling each problem with its document, and reports YAML errors', () => {
    const text =
      'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: good}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: bad}\nspec: {portz: []}\n---\n';
    expect(validateKubernetesYaml(text)).toEqual(['document 1 (Service/bad) /spec/portz: unknown field (not in the Service schema)']);
    expect(validateKubernetesYaml('apiVersion: v1\nkind: [unclosed\n')[0]).toMatch(/^document 0: YAML: /);
  });
});

describe('Kubernetes manifests (deploy/kubernetes/)', () => {
  const proxyDocs = yamlDocuments(K8S_PROXY);
  const zkDocs = yamlDocuments(K8S_ZOOKEEPER);
  const deployment = find(proxyDocs, 'Deployment', 'zookeeper-proxy');
  const podLabels: Record<string, string> = deployment.spec.template.metadata.labels;
  const proxyContainer = deployment.spec.template.spec.containers[0];
  const configMap = find(proxyDocs, 'ConfigMap', 'zookeeper-proxy');
  const statefulSet = find(zkDocs, 'StatefulSet', 'zookeeper');
  const zkPodLabels: Record<string, string> = statefulSet.spec.template.metadata.labels;
  const zkContainer = statefulSet.spec.template.spec.containers[0];
  const zkEnv = Object.fromEntries((zkContainer.env as Json[]).map((e) => [e.name, e.value ?? e.valueFrom])) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  let config: ProxyConfig;

  it('every document passes the strict Kubernetes schema', () => {
    expect(validateKubernetesYaml(read(K8S_PROXY))).toEqual([]);
    expect(validateKubernetesYaml(read(K8S_ZOOKEEPER))).toEqual([]);
    const kinds = [...proxyDocs, ...zkDocs].map((d) => d.kind);
    for (const kind of ['ConfigMap', 'Deployment', 'Service', 'PodDisruptionBudget', 'StatefulSet', 'NetworkPolicy'])
      expect(kinds).toContain(kind);
  });

  it("the ConfigMap's proxy.yaml passes the proxy's own validateConfig", () => {
    config = validateConfig(parseYaml(configMap.data['proxy.yaml']));
    expect(config.tenants.length).toBeGreaterThan(0);
    expect(config.security.secret).toBeUndefined(); // credentials come from the Secret's files
    expect(config.security.ensembleAdmin).toBeUndefined();
  });

  it('the Deployment points --config at the mounted ConfigMap key, and the secret files at the mounted Secret items', () => {
    config ??= validateConfig(parseYaml(configMap.data['proxy.yaml']));
    const volumes = deployment.spec.template.spec.volumes as Json[];
    const mounts = proxyContainer.volumeMounts as Json[];
    const fileOf = (volumeKind: 'configMap' | 'secret', name: string) => {
      const volume = volumes.find((v) => v[volumeKind]?.[volumeKind === 'configMap' ? 'name' : 'secretName'] === name)!;
      return mounts.find((m) => m.name === volume.name)!.mountPath as string;
    };
    const configFlag = (proxyContainer.args as string[]).indexOf('--config');
    const configPath = proxyContainer.args[configFlag + 1] as string;
    expect(dirname(configPath)).toBe(fileOf('configMap', 'zookeeper-proxy'));
    expect(Object.keys(configMap.data)).toContain(configPath.slice(dirname(configPath).length + 1));
    const secretVolume = volumes.find((v) => v.secret?.secretName === 'zookeeper-proxy')!;
    const secretFiles = (secretVolume.secret.items as Json[]).map((item) => `${fileOf('secret', 'zookeeper-proxy')}/${item.path}`);
    expect(secretFiles).toContain(config.security.secretFile);
    expect(secretFiles).toContain(config.security.ensembleAdminFile);
  });

  it('every flag in the container args is a flag of `zookeeper-proxy serve`', async () => {
    const help = await runProcess(process.execPath, [join(repo, 'src/cli.ts'), 'serve', '--help'], { timeoutMs: 60_000 });
    expect(help.code).toBe(0);
    const flags = (proxyContainer.args as string[]).filter((arg) => arg.startsWith('--')).map((arg) => arg.split('=')[0]!);
    expect(flags.length).toBeGreaterThan(0);
    for (const flag of flags) expect(help.stdout).toContain(`${flag} `);
  });

  it('container ports are exactly the tenant listeners plus the admin port, and the image exposes the ones it documents', () => {
    config ??= validateConfig(parseYaml(configMap.data['proxy.yaml']));
    const ports = proxyContainer.ports as Json[];
    const listenerPorts = config.tenants.flatMap((t) => t.listeners.map((l) => l.port));
    expect(
      ports
        .filter((p) => p.name !== 'admin')
        .map((p) => p.containerPort)
        .sort(),
    ).toEqual([...listenerPorts].sort());
    expect(ports.find((p) => p.name === 'admin')!.containerPort).toBe(portOf(config.admin.listen));
    expect(config.admin.listen!.host).toBe('0.0.0.0'); // probes and Prometheus come from outside the pod
  });

  it('each tenant has a Service on 7451 whose targetPort is that tenant’s listener, selecting the proxy pods', () => {
    config ??= validateConfig(parseYaml(configMap.data['proxy.yaml']));
    const ports = proxyContainer.ports as Json[];
    for (const tenant of config.tenants) {
      const service = find(proxyDocs, 'Service', `zookeeper-proxy-${tenant.name}`);
      expect(selects(service.spec.selector, podLabels)).toBe(true);
      expect(service.spec.ports).toHaveLength(1);
      expect(service.spec.ports[0].port).toBe(7451);
      const target = ports.find((p) => p.name === service.spec.ports[0].targetPort);
      expect(target?.containerPort).toBe(tenant.listeners[0]!.port);
    }
    const admin = find(proxyDocs, 'Service', 'zookeeper-proxy-admin');
    expect(selects(admin.spec.selector, podLabels)).toBe(true);
    expect(ports.find((p) => p.name === admin.spec.ports[0].targetPort)?.containerPort).toBe(portOf(config.admin.listen));
  });

  describe('probes against the real admin server', () => {
    let server: AdminServer;
    let base: string;
    beforeAll(async () => {
      const metrics = new ProxyMetrics({ processMetrics: false });
      server = new AdminServer(
        {
          ready: async () => ({ ready: false, reason: 'no ensemble member answers' }),
          describe: () => ({}),
          metrics: async () => ({ text: await metrics.registry.metrics(), contentType: metrics.registry.contentType }),
          reload: async () => false,
          drain: () => {},
        },
        undefined,
      );
      const address = await server.listen({ host: '127.0.0.1', port: 0 });
      base = `http://127.0.0.1:${address.port}`;
    });
    afterAll(() => server?.close());

    it('readiness is /readyz (503 while the ensemble is unreachable), liveness /healthz (200), both on the admin port', async () => {
      for (const [probe, path, status] of [
        ['readinessProbe', '/readyz', 503],
        ['livenessProbe', '/healthz', 200],
      ] as const) {
        const httpGet = proxyContainer[probe].httpGet;
        expect(httpGet.port).toBe('admin');
        expect(httpGet.path).toBe(path);
        expect((await fetch(base + httpGet.path)).status).toBe(status);
      }
      expect(deployment.spec.template.metadata.annotations['prometheus.io/path']).toBe('/metrics');
      expect((await fetch(`${base}/metrics`)).status).toBe(200);
    });
  });

  it('label selectors of the Deployment, Services, PDBs, StatefulSet and NetworkPolicy match the pods they mean', () => {
    expect(selects(deployment.spec.selector.matchLabels, podLabels)).toBe(true);
    expect(selects(find(proxyDocs, 'PodDisruptionBudget', 'zookeeper-proxy').spec.selector.matchLabels, podLabels)).toBe(true);
    expect(selects(statefulSet.spec.selector.matchLabels, zkPodLabels)).toBe(true);
    expect(selects(find(zkDocs, 'PodDisruptionBudget', 'zookeeper').spec.selector.matchLabels, zkPodLabels)).toBe(true);
    const headless = find(zkDocs, 'Service', statefulSet.spec.serviceName);
    expect(headless.spec.clusterIP).toBe('None');
    expect(selects(headless.spec.selector, zkPodLabels)).toBe(true);
    expect(selects(find(zkDocs, 'NetworkPolicy', 'zookeeper').spec.podSelector.matchLabels, zkPodLabels)).toBe(true);
    // Neither workload's selector catches the other's pods.
    expect(selects(deployment.spec.selector.matchLabels, zkPodLabels)).toBe(false);
    expect(selects(statefulSet.spec.selector.matchLabels, podLabels)).toBe(false);
  });

  it('the NetworkPolicy lets only the proxy and the controller reach the client port 2181', () => {
    const policy = find(zkDocs, 'NetworkPolicy', 'zookeeper');
    expect(policy.spec.policyTypes).toEqual(['Ingress']);
    const rules = policy.spec.ingress as Json[];
    for (const rule of rules) {
      expect(rule.ports?.length).toBeGreaterThan(0); // a rule without ports opens every port
      expect(rule.from?.length).toBeGreaterThan(0); // a rule without peers admits everyone
      for (const peer of rule.from) expect(Object.keys(peer)).toEqual(['podSelector']); // no ipBlock or namespaceSelector
    }
    const clientRules = rules.filter((rule) => rule.ports.some((p: Json) => p.port === 2181 || p.port === 'client'));
    const peers = clientRules.flatMap((rule) => rule.from.map((peer: Json) => peer.podSelector.matchLabels as Record<string, string>));
    expect(peers.some((labels) => selects(labels, podLabels))).toBe(true);
    expect(peers.some((labels) => selects(labels, CONTROLLER_LABELS))).toBe(true);
    for (const labels of peers) expect(selects(labels, podLabels) || selects(labels, CONTROLLER_LABELS)).toBe(true);
    expect(peers.some((labels) => selects(labels, zkPodLabels))).toBe(false);
    expect((zkContainer.ports as Json[]).find((p) => p.name === 'client')?.containerPort).toBe(2181);
  });

  it('the ensemble enforces quotas, admits enough connections per proxy pod, and is the ensemble the proxy config names', () => {
    config ??= validateConfig(parseYaml(configMap.data['proxy.yaml']));
    expect(zkEnv.JVMFLAGS).toMatch(/(^| )-Dzookeeper\.enforceQuota=true( |$)/);
    expect(zkEnv.JVMFLAGS).toContain('-Dzookeeper.DigestAuthenticationProvider.superDigest=$(ZOO_SUPER_DIGEST)');
    // Kubernetes expands $(VAR) only from variables defined before it.
    expect((zkContainer.env as Json[]).findIndex((e) => e.name === 'ZOO_SUPER_DIGEST')).toBeLessThan(
      (zkContainer.env as Json[]).findIndex((e) => e.name === 'JVMFLAGS'),
    );
    const maxClientCnxns = Number(zkEnv.ZOO_MAX_CLIENT_CNXNS);
    expect(maxClientCnxns === 0 || maxClientCnxns >= config.total.maxConnections).toBe(true);
    const members = Array.from(
      { length: statefulSet.spec.replicas as number },
      (_, i) => `${statefulSet.metadata.name}-${i}.${statefulSet.spec.serviceName}`,
    );
    expect(zkEnv.ZOO_SERVERS.split(' ')).toEqual(members.map((host, i) => `server.${i + 1}=${host}:2888:3888;2181`));
    expect(config.ensemble?.map((m) => `${m.host}:${m.port}`)).toEqual(members.map((host) => `${host}:2181`));
    expect(statefulSet.spec.replicas).toBe(3);
    expect(zkContainer.args.join(' ')).toContain('ZOO_MY_ID=$((${HOSTNAME##*-} + 1))');
  });

  it('pods get more time to stop than the drain takes, and the image tag is the package version', () => {
    config ??= validateConfig(parseYaml(configMap.data['proxy.yaml']));
    expect(deployment.spec.template.spec.terminationGracePeriodSeconds * 1000).toBeGreaterThan(config.drain.periodMs);
    expect(proxyContainer.image).toBe(`zookeeper-proxy:${packageJson.version}`);
    expect(deployment.spec.template.spec.securityContext.runAsNonRoot).toBe(true);
  });
});

const composeSchemaPath = join(dirname(createRequire(import.meta.url).resolve('dclint/package.json')), 'schemas/compose.schema.json');
const validateCompose = new Ajv({ allErrors: true, strict: false, validateFormats: false, validateSchema: false }).compile(
  JSON.parse(readFileSync(composeSchemaPath, 'utf8')),
);
const composeProblems = (doc: unknown) =>
  validateCompose(doc)
    ? []
    : (validateCompose.errors ?? []).map((e) => `${e.instancePath || '(root)'}: ${e.message} ${JSON.stringify(e.params)}`);

describe('compose stack (deploy/compose.yaml)', () => {
  const compose = parseYaml(read('deploy/compose.yaml'), { merge: true }) as Json;
  const services = compose.services as Record<string, Json>;
  const zookeepers = Object.entries(services).filter(([, s]) => String(s.image).startsWith('zookeeper:'));
  const proxyConfig = () =>
    validateConfig({
      ...parseYaml(read('deploy/compose/proxy.yaml')),
      security: { ...parseYaml(read('deploy/compose/proxy.yaml')).security, secret: 'stands-in-for-ZKPROXY_SECRET' },
    });
  const haproxyCfg = read('deploy/compose/haproxy.cfg');

  it('passes the Compose specification schema, which rejects unknown service keys', () => {
    expect(composeProblems(compose)).toEqual([]);
    const typo = structuredClone(compose);
    typo.services.proxy.replica = 2;
    expect(composeProblems(typo).join('\n')).toMatch(/\/services\/proxy: must NOT have additional properties .*replica/);
  });

  it('the proxy config passes validateConfig and names the three ZooKeeper services', () => {
    const config = proxyConfig();
    expect(zookeepers.map(([name]) => name)).toHaveLength(3);
    expect(config.ensemble?.map((m) => `${m.host}:${m.port}`)).toEqual(zookeepers.map(([name]) => `${name}:2181`));
    expect(services.proxy!.environment.ZKPROXY_SECRET).toMatch(/^\$\{ZKPROXY_SECRET:\?/); // required, never a default
    expect(services.proxy!.volumes).toContain('./compose/proxy.yaml:/etc/zookeeper-proxy/proxy.yaml:ro');
    expect(services.proxy!.deploy.replicas).toBeGreaterThanOrEqual(2);
  });

  it('each member has its own id, lists every member, enforces quotas, and knows the proxy’s admin identity as super digest', () => {
    const config = proxyConfig();
    const servers = zookeepers.map(([name], i) => `server.${i + 1}=${name}:2888:3888;2181`).join(' ');
    const admin = config.security.ensembleAdmin!;
    const digest = `${admin.split(':')[0]}:${createHash('sha1').update(admin).digest('base64')}`;
    zookeepers.forEach(([name, service], i) => {
      expect(service.hostname).toBe(name);
      expect(service.environment.ZOO_MY_ID).toBe(String(i + 1));
      expect(service.environment.ZOO_SERVERS).toBe(servers);
      expect(service.environment.JVMFLAGS).toMatch(/(^| )-Dzookeeper\.enforceQuota=true( |$)/);
      expect(service.environment.JVMFLAGS).toContain(`-Dzookeeper.DigestAuthenticationProvider.superDigest=${digest}`);
      expect(Number(service.environment.ZOO_MAX_CLIENT_CNXNS)).toBeGreaterThanOrEqual(config.total.maxConnections);
    });
  });

  it('HAProxy’s configuration is valid (haproxy -c) and balances each tenant port over the replicas, checked by /readyz', async () => {
    const check = await runProcess('haproxy', ['-c', '-f', join(repo, 'deploy/compose/haproxy.cfg')], { timeoutMs: 30_000 });
    expect(check.stdout + check.stderr).toContain('Configuration file is valid');
    const config = proxyConfig();
    const binds = [...haproxyCfg.matchAll(/^\s*bind :(\d+)$/gm)].map((m) => Number(m[1]));
    const targets = [...haproxyCfg.matchAll(/^\s*server-template \S+ \d+ (\S+):(\d+)$/gm)].map((m) => ({ host: m[1], port: Number(m[2]) }));
    const tenantPorts = config.tenants.flatMap((t) => t.listeners.map((l) => l.port));
    expect(targets.map((t) => t.port).sort()).toEqual([...tenantPorts].sort());
    expect(new Set(targets.map((t) => t.host))).toEqual(new Set(['proxy']));
    expect([...haproxyCfg.matchAll(/check port (\d+)/g)].map((m) => Number(m[1]))).toEqual(
      tenantPorts.map(() => portOf(config.admin.listen)),
    );
    expect([...haproxyCfg.matchAll(/option httpchk GET (\S+)/g)].map((m) => m[1])).toEqual(tenantPorts.map(() => '/readyz'));
    const published = (services.haproxy!.ports as string[]).map((p) => Number(p.split(':')[1]));
    expect([...binds].sort()).toEqual([...published].sort());
    for (const port of tenantPorts) expect(binds).toContain(port);
  });

  it('builds the proxy from the repository Dockerfile, mounts files that exist, and stops after the drain', () => {
    const build = services.proxy!.build;
    expect(existsSync(join(repo, 'deploy', build.context, build.dockerfile))).toBe(true);
    expect(resolve(repo, 'deploy', build.context)).toBe(repo);
    for (const service of Object.values(services)) {
      for (const volume of (service.volumes ?? []) as string[]) {
        if (volume.startsWith('./')) expect(existsSync(join(repo, 'deploy', volume.split(':')[0]!))).toBe(true);
      }
    }
    expect(Number.parseInt(services.proxy!.stop_grace_period, 10) * 1000).toBeGreaterThan(proxyConfig().drain.periodMs);
  });
});

describe('Dockerfile', () => {
  const dockerfile = DockerfileParser.parse(read('Dockerfile'));
  const instructions = dockerfile.getInstructions();
  const stages = dockerfile.getFROMs();
  const finalStage = instructions.slice(instructions.indexOf(stages.at(-1)!));
  const all = (keyword: string, list: Instruction[] = instructions) => list.filter((i) => i.getKeyword() === keyword);
  const args = (instruction: Instruction) => instruction.getArguments().map((a) => a.getValue());
  const jsonArgs = (instruction: Instruction) => JSON.parse(instruction.getArgumentsContent()!) as string[];
  const env = Object.fromEntries(all('ENV', finalStage).flatMap((i) => args(i).map((pair) => pair.split('=') as [string, string])));

  it('has a dependency stage and a runtime stage on the Node major version of package.json engines', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const engineMajor = /(\d+)/.exec(packageJson.engines.node)![1];
    for (const from of stages) {
      expect(from.getImageName()).toBe('node');
      expect(from.getImageTag()!.split('-')[0]).toBe(engineMajor);
    }
  });

  it('installs production dependencies only, with the jute-ts workspace manifest present', () => {
    const run = all('RUN')
      .map((i) => i.getArgumentsContent())
      .join('\n');
    expect(run).toMatch(/npm ci --omit=dev/);
    const runtimeCopies = all('COPY', finalStage).map(args);
    expect(runtimeCopies.filter((a) => a.includes('protocol/package.json'))).toHaveLength(1);
    expect(
      all('COPY', instructions.slice(0, instructions.indexOf(stages.at(-1)!)))
        .map(args)
        .filter((a) => a.some((x) => x.startsWith('protocol/'))),
    ).not.toHaveLength(0);
    // The runtime stage gets production node_modules, and the compiled proxy and codec from the build stage, not sources.
    expect(runtimeCopies.filter((a) => a.includes('--from=build') || a[0]!.startsWith('/app/')).map((a) => a.at(-1))).toEqual([
      'node_modules',
      'protocol/dist',
      'dist',
    ]);
  });

  it('runs as a non-root user, exposes the tenant and admin ports, and has `serve` as its entrypoint', async () => {
    const user = all('USER', finalStage).at(-1);
    expect(user).toBeDefined();
    expect(['root', '0']).not.toContain(args(user!)[0]!.split(':')[0]);
    expect(all('EXPOSE', finalStage).flatMap(args).map(Number).sort()).toEqual([7451, 9464]);
    const entrypoint = jsonArgs(all('ENTRYPOINT', finalStage).at(-1)!);
    expect(entrypoint).toEqual(['node', '--conditions=zkp-compiled', 'dist/cli.js', 'serve']);
    // What the build stage runs, into the ignored dist/ folders of this checkout.
    const build = await runProcess('npm', ['run', '-s', 'build'], { cwd: repo, timeoutMs: 240_000 });
    expect(build.code, build.stderr).toBe(0);
    const help = await runProcess(process.execPath, [entrypoint[1]!, join(repo, entrypoint[2]!), ...entrypoint.slice(3), '--help'], {
      timeoutMs: 60_000,
    });
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--config');
  }, 300_000);

  it('checks health with GET /healthz on the admin port the image configures', () => {
    const healthcheck = all('HEALTHCHECK', finalStage).at(-1)!;
    const command = healthcheck.getArgumentsContent()!;
    const adminPort = env.ZKPROXY_ADMIN!.split(':').at(-1);
    expect(command).toMatch(/^CMD \[/);
    expect(command).toContain(`http://127.0.0.1:${adminPort}/healthz`);
    expect(env.ZKPROXY_ADMIN).toBe('0.0.0.0:9464');
  });

  it('reads its config where the Kubernetes and compose manifests mount it', () => {
    const k8s = find(yamlDocuments(K8S_PROXY), 'Deployment', 'zookeeper-proxy').spec.template.spec.containers[0];
    expect(k8s.args.slice(0, 2)).toEqual(['--config', env.ZKPROXY_CONFIG]);
    expect((parseYaml(read('deploy/compose.yaml'), { merge: true }) as Json).services.proxy.volumes[0]).toContain(
      `:${env.ZKPROXY_CONFIG}:`,
    );
  });

  it('copies only sources that exist and that .dockerignore lets into the build context', () => {
    const ignore = read('.dockerignore')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('#'));
    // Docker's rule: the last matching pattern decides; a pattern matching a folder matches everything below it.
    const included = (path: string) => {
      let inside = true;
      for (const pattern of ignore) {
        const negated = pattern.startsWith('!');
        const glob = negated ? pattern.slice(1) : pattern;
        const prefixes = path.split('/').map((_, i, parts) => parts.slice(0, i + 1).join('/'));
        if (prefixes.some((prefix) => matchesGlob(prefix, glob))) inside = negated;
      }
      return inside;
    };
    const sources = all('COPY')
      .filter((i) => !(i as Copy).getFlags().some((flag) => flag.getName() === 'from'))
      .flatMap((i) => args(i).slice(0, -1));
    expect(sources.length).toBeGreaterThan(0);
    for (const source of sources) {
      expect(existsSync(join(repo, source)), source).toBe(true);
      expect(included(source), `${source} is excluded by .dockerignore`).toBe(true);
    }
    expect(included('node_modules')).toBe(false);
    expect(included('test/config.test.ts')).toBe(false);
  });
});

// Labels Prometheus adds to every scraped series.
const TARGET_LABELS = ['instance', 'job', 'pod', 'namespace'];

describe('Grafana dashboard (deploy/grafana/zookeeper-proxy.json)', () => {
  const dashboard = JSON.parse(read('deploy/grafana/zookeeper-proxy.json')) as Json;
  const panels = (dashboard.panels as Json[]).filter((p) => p.type !== 'row');
  const exprs = panels.flatMap((p) => (p.targets as Json[]).map((t) => t.expr as string));

  const metricLabels = async (): Promise<Map<string, Set<string>>> => {
    const metrics = new ProxyMetrics({ processMetrics: false });
    // Hot metrics declare no label names: give them a series so their labels show.
    const tenant = metrics.forTenant('t');
    tenant.request(4);
    tenant.observeLatency(4, 0.001);
    tenant.bytesIn.inc();
    const labels = new Map<string, Set<string>>();
    for (const metric of metrics.registry.getMetricsAsArray())
      labels.set(metric.name, new Set((metric as { labelNames?: string[] }).labelNames ?? []));
    for (const metric of await metrics.registry.getMetricsAsJSON())
      for (const value of metric.values) for (const key of Object.keys(value.labels)) labels.get(metric.name)!.add(key);
    return labels;
  };
  const baseName = (name: string, known: Map<string, unknown>) => (known.has(name) ? name : name.replace(/_(bucket|sum|count)$/, ''));

  it('queries only metrics the proxy exports', async () => {
    const known = await metricLabels();
    const used = new Set(exprs.flatMap((e) => [...e.matchAll(/\bzkproxy_[a-z0-9_]+/g)].map((m) => m[0])));
    const missing = [...used].filter((name) => !known.has(baseName(name, known)));
    expect(missing).toEqual([]);
  });

  it('filters and groups only by labels those metrics carry', async () => {
    const known = await metricLabels();
    for (const expr of exprs) {
      const names = [...expr.matchAll(/\bzkproxy_[a-z0-9_]+/g)].map((m) => m[0]);
      const allowed = new Set([
        ...TARGET_LABELS,
        ...names.flatMap((n) => [...(known.get(baseName(n, known)) ?? []), ...(n.endsWith('_bucket') ? ['le'] : [])]),
      ]);
      const selectorLabels = [...expr.matchAll(/\{([^}]*)\}/g)].flatMap((m) =>
        [...m[1]!.matchAll(/([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)/g)].map((l) => l[1]!),
      );
      const groupLabels = [...expr.matchAll(/\bby \(([^)]*)\)/g)].flatMap((m) => m[1]!.split(',').map((l) => l.trim()));
      for (const label of [...selectorLabels, ...groupLabels]) expect(allowed.has(label), `${label} in ${expr}`).toBe(true);
    }
  });

  it('covers per-tenant rate, latency percentiles, errors, throttling and connections, with tenant and data source variables', () => {
    const variables = (dashboard.templating.list as Json[]).map((v) => v.name);
    expect(variables).toEqual(expect.arrayContaining(['datasource', 'tenant']));
    const all = exprs.join('\n');
    expect(all).toContain('sum by (tenant) (rate(zkproxy_requests_total');
    for (const q of ['0.5', '0.95', '0.99']) expect(all).toContain(`histogram_quantile(${q}, sum by (le`);
    expect(all).toContain('zkproxy_reply_errors_total');
    expect(all).toContain('reason="throttled"');
    expect(all).toContain('zkproxy_connections_active');
    const ids = (dashboard.panels as Json[]).map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const panel of panels) expect(panel.datasource.uid).toBe('${datasource}');
  });
});
