/**
 * Proxies for tests: in-process (fast, inspectable) or as a child process running the real CLI
 * (for kill -9 and signal tests). Both bind port 0 and report the ports they got.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createInterface } from 'node:readline';
import { validateConfig, type LimitsInput, type ProxyConfigInput } from '../../src/config/config.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { ProxyMetrics } from '../../src/observability/metrics.ts';
import { ProxyServer } from '../../src/server/proxy-server.ts';

/** The platform secret all test proxies share (replicas must, for sessions to move between them). */
export const TEST_SECRET = 'test-secret-shared-by-all-replicas';

export interface TestTenant {
  name: string;
  chroot?: string;
  /** Listener count (default 1), all on 127.0.0.1:0. */
  listeners?: number;
  /** Fixed listener addresses instead (a replacement replica on a killed one's port; several workers). */
  listen?: string[];
  /** The tenant's own limits (overrides of the platform's `limits`, key by key). */
  limits?: LimitsInput;
}

export interface ProxyHandle {
  /** host:port of a tenant's (first) listener. */
  address(tenant: string): string;
  port(tenant: string): number;
  close(): Promise<void>;
}

function rawConfig(ensemble: string, tenants: TestTenant[], extra: Partial<ProxyConfigInput> = {}): ProxyConfigInput {
  return {
    ensemble,
    admin: { listen: '127.0.0.1:0' },
    backend: { connectTimeoutMs: 2000, failureBackoffInitialMs: 200, failureBackoffMaxMs: 2000 },
    drain: { periodMs: 500, fastPeriodMs: 100 },
    // Every replica of a test shares the secret; the fixture ensembles' super user creates roots.
    security: { secret: TEST_SECRET, ensembleAdmin: 'super:super-secret' },
    ...extra,
    tenants: tenants.map((t) => ({
      name: t.name,
      ...(t.chroot === undefined ? {} : { chroot: t.chroot }),
      listeners: t.listen ?? Array.from({ length: t.listeners ?? 1 }, () => '127.0.0.1:0'),
      ...(t.limits === undefined ? {} : { limits: t.limits }),
    })),
  } as ProxyConfigInput;
}

export interface InProcessProxy extends ProxyHandle {
  server: ProxyServer;
  adminUrl: string;
}

export async function startInProcessProxy(
  ensemble: string,
  tenants: TestTenant[],
  extra: Partial<ProxyConfigInput> = {},
): Promise<InProcessProxy> {
  const raw = rawConfig(ensemble, tenants, extra) as Record<string, unknown>;
  const config = validateConfig(raw);
  const server = new ProxyServer(
    config,
    createLogger(process.env.ZKP_TEST_LOG ?? 'silent', 'stderr'),
    new ProxyMetrics({ processMetrics: false }),
    { raw },
  );
  await server.start();
  // Looked up at each call: tenants come and go with the registry.
  const port = (tenant: string) => server.listenerAddresses().find((l) => l.tenant === tenant)?.address.port ?? fail(`no tenant ${tenant}`);
  const admin = server.adminListenAddress()!;
  return {
    server,
    adminUrl: `http://127.0.0.1:${admin.port}`,
    port,
    address: (tenant) => `127.0.0.1:${port(tenant)}`,
    close: () => server.close(),
  };
}

export interface ProxyProcess extends ProxyHandle {
  child: ChildProcess;
  /** Resolves with the exit code once the process has ended. */
  exited: Promise<number | null>;
  /** Every log line so far (stdout and stderr), or the last `keepLogLines` of them. */
  logs: string[];
  /** The JSON configuration file the process was started with (rewrite it to test reloads). */
  configFile: string;
  /** http://host:port of the admin listener (from the "proxy listening" line); throws when it is off. */
  readonly adminUrl: string;
  kill(signal?: NodeJS.Signals): void;
}

export interface SpawnOptions {
  /** Sees every log line (stdout and stderr) as it arrives, also those `keepLogLines` drops. */
  onLogLine?: (line: string) => void;
  /** Keep only the last N lines in `logs` (default: all), for long runs that log a lot. */
  keepLogLines?: number;
  /** `serve --workers` (default 1); more than 1 needs fixed listener ports (`TestTenant.listen`). */
  workers?: number;
  /** How long to wait for the "proxy listening" line (default 60 s; tests next to busy JVMs need more). */
  startTimeoutMs?: number;
}

const CLI = join(import.meta.dirname, '..', '..', 'src', 'cli.ts');
const EXIT_WITH_PARENT = pathToFileURL(join(import.meta.dirname, 'exit-with-parent.ts')).href;

/** Runs `node src/cli.ts serve --config <file>` and waits for its "proxy listening" log line. */
export async function spawnProxyProcess(
  ensemble: string,
  tenants: TestTenant[],
  extra: Partial<ProxyConfigInput> = {},
  options: SpawnOptions = {},
): Promise<ProxyProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'zkproxy-test-'));
  const configFile = join(dir, 'proxy.json');
  writeFileSync(configFile, JSON.stringify(rawConfig(ensemble, tenants, { ...extra, log: { level: 'info' } })));
  // stdin is a pipe held by this process: when it dies, the preload makes the proxy exit too.
  // One event loop unless asked: test listeners use port 0, which workers cannot share.
  const child = spawn(
    process.execPath,
    ['--import', EXIT_WITH_PARENT, CLI, 'serve', '--config', configFile, '--workers', String(options.workers ?? 1)],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  const logs: string[] = [];
  const keep = options.keepLogLines ?? Infinity;
  const addLine = (line: string) => {
    options.onLogLine?.(line);
    logs.push(line);
    if (logs.length > keep * 2) logs.splice(0, logs.length - keep); // amortised trimming
  };
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  void exited.then(() => rmSync(dir, { recursive: true, force: true }));
  createInterface({ input: child.stderr! }).on('line', addLine);
  let admin: string | undefined;
  const listening = new Promise<Map<string, number>>((resolve, reject) => {
    // Generous: on a loaded 2-core machine a cold start of the TypeScript sources has taken over 20 s.
    const timer = setTimeout(() => reject(new Error(`proxy did not start:\n${logs.join('\n')}`)), options.startTimeoutMs ?? 60_000);
    void exited.then((code) => reject(new Error(`proxy exited with ${code}:\n${logs.join('\n')}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      addLine(line);
      if (admin !== undefined || !line.includes('proxy listening')) return;
      try {
        const entry = JSON.parse(line) as { msg?: string; listeners?: string[]; admin?: string };
        if (entry.msg !== 'proxy listening' || !entry.listeners) return;
        admin = entry.admin;
        const ports = new Map<string, number>();
        for (const listener of entry.listeners) {
          const [tenant, address] = listener.split('@') as [string, string];
          if (!ports.has(tenant)) ports.set(tenant, Number(address.split(':').pop()));
        }
        clearTimeout(timer);
        resolve(ports);
      } catch {
        // not a JSON log line
      }
    });
  });
  const ports = await listening;
  return {
    child,
    exited,
    logs,
    configFile,
    get adminUrl() {
      return `http://${admin ?? fail('this proxy has no admin listener (admin.listen: null)')}`;
    },
    port: (tenant) => ports.get(tenant) ?? fail(`no tenant ${tenant}`),
    address: (tenant) => `127.0.0.1:${ports.get(tenant) ?? fail(`no tenant ${tenant}`)}`,
    kill: (signal = 'SIGKILL') => {
      child.kill(signal);
    },
    close: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

function fail(message: string): never {
  throw new Error(message);
}
