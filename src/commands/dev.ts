/**
 * `zookeeper-proxy dev`: the embedded default. Starts a local 3-node ZooKeeper ensemble (or
 * `--ensembles N` of them, named zk-1, zk-2, ...: demo-a on the first, demo-b on the second) and
 * the proxy with two demo tenants, prints ONE JSON line describing the endpoints (scripts parse
 * it), then instructions for humans; runs until Ctrl-C and removes everything it started.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { DEFAULT_ENSEMBLE_NAME, formatHostPort, validateConfig } from '../config/config.ts';
import { DEFAULT_REGISTRY_PATH } from '../config/registry.ts';
import { validateSettings } from '../controller/settings.ts';
import { LocalEnsemble } from '../embedded/ensemble.ts';
import { createLogger } from '../observability/logger.ts';
import { ProxyServer } from '../server/proxy-server.ts';
import { exitOnSignals } from './serve.ts';

export interface DevOptions {
  /** Members of each ensemble. */
  size: number;
  /** Local ensembles, default 1 (the one-ensemble form, named "default"). */
  ensembles?: number;
  /** First tenant port; the second demo tenant gets the next one. */
  port: number;
  adminPort: number;
  logLevel: string;
}

const DEMO_TENANTS = ['demo-a', 'demo-b'] as const;

export async function runDev(options: DevOptions): Promise<void> {
  const log = createLogger(options.logLevel, 'stderr');
  const count = options.ensembles ?? 1;
  if (!Number.isInteger(count) || count < 1 || count > 5) throw new RangeError(`--ensembles must be 1..5, got ${count}`);
  const started = await Promise.allSettled(Array.from({ length: count }, () => LocalEnsemble.start({ size: options.size })));
  const ensembles = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const closeAll = () => Promise.all(ensembles.map((e) => e.close())).then(() => {});
  const failed = started.find((result) => result.status === 'rejected');
  if (failed !== undefined) {
    await closeAll();
    throw failed.reason;
  }
  const ensemble = ensembles[0]!;
  // One ensemble: the one-ensemble form, as before there were several; more: zk-1, zk-2, ...
  const names = count === 1 ? [DEFAULT_ENSEMBLE_NAME] : ensembles.map((_, i) => `zk-${i + 1}`);
  const connectStrings = Object.fromEntries(ensembles.map((e, i) => [names[i]!, e.connectString()]));
  const ensembleKeys =
    count === 1
      ? { ensemble: ensemble.connectString() }
      : { ensembles: Object.fromEntries(ensembles.map((e, i) => [names[i]!, { members: e.connectString() }])) };
  try {
    const ports = await Promise.all(DEMO_TENANTS.map((_, i) => portOrAny(options.port + i)));
    // A throw-away secret: the dev ensemble lives exactly as long as this process. It is in a
    // file (0600, removed at exit) so that the controller can provision tenants for this proxy.
    const secretFile = join(ensemble.baseDir, 'platform-secret');
    writeFileSync(secretFile, randomBytes(24).toString('base64url'), { mode: 0o600 });
    // Every local ensemble has the same super user (LocalEnsemble's default).
    const ensembleAdmin = `${ensemble.superAuth.user}:${ensemble.superAuth.password}`;
    const raw = {
      ...ensembleKeys,
      admin: { listen: `127.0.0.1:${await portOrAny(options.adminPort)}` },
      drain: { periodMs: 1000, fastPeriodMs: 200 },
      security: { secretFile, ensembleAdmin },
      log: { level: options.logLevel },
      registry: { path: DEFAULT_REGISTRY_PATH },
      tenants: DEMO_TENANTS.map((name, i) => ({
        name,
        listeners: [`127.0.0.1:${ports[i]}`],
        ...(count === 1 ? {} : { ensemble: names[i % count] }),
      })),
    };
    const config = validateConfig(raw);
    const proxy = new ProxyServer(config, log, undefined, { raw });
    await proxy.start();
    exitOnSignals(proxy, config, log, closeAll);
    const tenants = Object.fromEntries(proxy.listenerAddresses().map(({ tenant, address }) => [tenant, formatHostPort(address)]));
    const admin = proxy.adminListenAddress();
    // A controller configuration for this dev platform: `./zkp tenant create acme --config <it>`.
    const controllerConfig = join(ensemble.baseDir, 'controller.json');
    const controllerSettings = {
      ...ensembleKeys,
      security: { secretFile, ensembleAdmin },
      registry: { path: DEFAULT_REGISTRY_PATH },
      // The console (`./zkp controller --config <it> --http-listen ...`) shows live traffic from this proxy.
      ...(admin ? { controller: { http: { proxyAdmin: [formatHostPort(admin)] } } } : {}),
      platform: {
        domain: 'dev.localhost',
        proxyAddress: '127.0.0.1:{port}',
        tenantListenerHost: '127.0.0.1',
        tenantListenerPorts: '17460-17999',
      },
      apply: { mode: 'directory', directory: join(process.cwd(), 'manifests') },
    };
    validateSettings(controllerSettings); // a typo here would only show when someone uses it
    writeFileSync(controllerConfig, `${JSON.stringify(controllerSettings, null, 2)}\n`, { mode: 0o600 });
    const platform = { registry: DEFAULT_REGISTRY_PATH, secretFile, ensembleAdmin, controllerConfig };
    process.stdout.write(
      `${JSON.stringify({ ensemble: ensemble.connectString(), admin: admin ? formatHostPort(admin) : null, tenants, platform, ensembles: connectStrings })}\n`,
    );
    process.stdout.write(instructions(ensemble, tenants, admin ? formatHostPort(admin) : null, count === 1 ? undefined : connectStrings));
  } catch (error) {
    await closeAll();
    throw error;
  }
}

/** The wanted port when free, else any free port: a second dev instance must still start. */
function portOrAny(port: number): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(0));
    probe.listen({ host: '127.0.0.1', port }, () => probe.close(() => resolve(port)));
  });
}

/** `several`: the ensembles by name when there are more than one. */
function instructions(
  ensemble: LocalEnsemble,
  tenants: Record<string, string>,
  admin: string | null,
  several: Record<string, string> | undefined,
): string {
  const [first = '', second = ''] = DEMO_TENANTS.map((name) => tenants[name] ?? '');
  const kazoo = (address: string) =>
    `/usr/bin/python3 -c "from kazoo.client import KazooClient; zk = KazooClient(hosts='${address}'); zk.start(); zk.ensure_path('/hello'); print(zk.get_children('/')); zk.stop()"`;
  const { user, password } = ensemble.superAuth;
  if (several !== undefined) {
    const [firstName, secondName] = Object.keys(several);
    return `
zookeeper-proxy is running in front of ${Object.keys(several).length} local ${ensemble.members.length}-node ZooKeeper ensembles.

  tenant demo-a   ${first}    (on ${firstName}: its "/" is /tenants/demo-a there)
  tenant demo-b   ${second}    (on ${secondName}: its "/" is /tenants/demo-b there)
  admin           ${admin ? `http://${admin}/metrics  /healthz  /readyz  /admin/state` : 'off'}
${Object.entries(several)
  .map(([name, members]) => `  ${name.padEnd(15)} ${members}   (super user digest ${user}:${password})`)
  .join('\n')}

Try it:
  ${kazoo(first)}
  ${kazoo(second)}
Each tenant sees only its own tree, on its own ensemble (docs/ensembles.md).

Ctrl-C stops the proxy and the ensembles and deletes their data.
`;
  }
  return `
zookeeper-proxy is running in front of a local ${ensemble.members.length}-node ZooKeeper ensemble.

  tenant demo-a   ${first}    (its "/" is /tenants/demo-a on the ensemble)
  tenant demo-b   ${second}    (its "/" is /tenants/demo-b)
  admin           ${admin ? `http://${admin}/metrics  /healthz  /readyz  /admin/state` : 'off'}
  ensemble        ${ensemble.connectString()}   (super user digest ${user}:${password})

Try it:
  /usr/share/zookeeper/bin/zkCli.sh -server ${first}
  ${kazoo(first)}
  ${kazoo(second)}
Each tenant sees only its own tree. The whole ensemble, directly:
  /usr/share/zookeeper/bin/zkCli.sh -server ${ensemble.connectString().split(',')[0]}   (then: addauth digest ${user}:${password}, ls /tenants/demo-a)

Ctrl-C stops the proxy and the ensemble and deletes its data.
`;
}
