/**
 * What the benchmark talks to, all in front of one LocalEnsemble, as a list of targets:
 *   direct    — the members themselves (sessions spread round-robin, as a client's connect string would)
 *   haproxy   — Debian's haproxy in TCP mode, round-robin over the members
 *   proxy-1w  — zookeeper-proxy as a separate process (`node src/cli.ts serve`), one event loop
 *   proxy-all — the same with `--workers <cores>` (event loops sharing the listeners), when the CLI has --workers
 *   proxy-ref — proxy-1w of another checkout (`--compare-cli`), for A/B comparisons in one run
 * Tenants: "bench" (index 0) and bench-1 .. bench-<n-1> for the many-tenants workload.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCode, OpCode, Perms } from 'jute-ts';
import { JuteClient } from 'jute-ts/client';
import { LocalEnsemble } from '../../src/embedded/ensemble.ts';
import { reserveFreePorts } from '../../src/embedded/free-ports.ts';
import type { Endpoint } from './loadgen.ts';
import { processTreePids } from './procstat.ts';
import { NODES } from './workloads.ts';

export const TARGETS = ['direct', 'haproxy', 'proxy-1w', 'proxy-all', 'proxy-ref'] as const;
export type TargetName = (typeof TARGETS)[number];

export function tenantName(index: number): string {
  return index === 0 ? 'bench' : `bench-${index}`;
}
export function tenantChroot(index: number): string {
  return `/tenants/${tenantName(index)}`;
}
export const CHROOT = tenantChroot(0);

export interface Target {
  name: TargetName;
  kind: 'direct' | 'haproxy' | 'proxy';
  host: string;
  /** Where sessions connect for a load spread over the first `tenants` tenants (at least one entry per tenant). */
  endpoints(tenants: number): Endpoint[];
  /** The processes in the middle (haproxy, or the proxy and its workers); empty for direct. */
  pids(): number[];
  describe: string;
}

const OPEN_ACL = [{ perms: Perms.ALL, id: { scheme: 'world', id: 'anyone' } }];

/**
 * Creates the bench znodes (NODES) under the "bench" chroot, and the small one under the other
 * `tenants - 1` chroots (all the many-tenants workload reads), open ACL, so that direct, haproxy
 * and proxy clients all read the same data (idempotent).
 */
export async function createBenchNodes(port: number, tenants: number): Promise<void> {
  const client = await JuteClient.connect({ port, sessionTimeoutMs: 30_000 });
  try {
    const create = async (path: string, data: Buffer | null) => {
      const reply = await client.request(OpCode.create, { path, data, acl: OPEN_ACL, flags: 0 });
      if (reply.err !== ErrorCode.OK && reply.err !== ErrorCode.NODEEXISTS) throw new Error(`create ${path}: error ${reply.err}`);
    };
    await create('/tenants', null);
    for (let from = 0; from < tenants; from += 100) {
      const slice = Array.from({ length: Math.min(100, tenants - from) }, (_, i) => tenantChroot(from + i));
      await Promise.all(slice.map((root) => create(root, null)));
      await Promise.all(
        slice.flatMap((root, i) =>
          (from + i === 0 ? Object.values(NODES) : [NODES.small]).map((n) =>
            create(root + n.path, n.bytes === 0 ? null : Buffer.alloc(n.bytes, 0x61)),
          ),
        ),
      );
    }
    const check = await client.request(OpCode.getData, { path: `${CHROOT}${NODES.large.path}`, watch: false });
    const data = (check.body as { data: Buffer | null } | undefined)?.data;
    if (check.err !== ErrorCode.OK || data?.length !== NODES.large.bytes) throw new Error(`bench node check failed (err ${check.err})`);
  } finally {
    await client.close();
  }
}

/** Endpoints over `ports` and tenant chroots, so that both spread evenly. */
function spread(ports: number[], tenants: number): Endpoint[] {
  return Array.from({ length: Math.max(ports.length, tenants) }, (_, i) => ({
    port: ports[i % ports.length]!,
    prefix: tenantChroot(i % tenants),
  }));
}

export function directTarget(ensemble: LocalEnsemble): Target {
  const ports = ensemble.members.map((m) => m.clientPort);
  return {
    name: 'direct',
    kind: 'direct',
    host: '127.0.0.1',
    endpoints: (n) => spread(ports, n),
    pids: () => [],
    describe: `${ports.length} members, sessions round-robin`,
  };
}

/** A child process that the benchmark started and must stop. */
export interface Child {
  child: ChildProcess;
  exited: Promise<void>;
  stop(): Promise<void>;
}

function track(child: ChildProcess, graceful: NodeJS.Signals, graceMs: number, cleanup: () => void = () => {}): Child {
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  }).then(cleanup);
  return {
    child,
    exited,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill(graceful);
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
      await exited;
    },
  };
}

async function waitForPort(port: number, exited: Promise<void>, what: string, timeoutMs = 10_000): Promise<void> {
  let gone = false;
  void exited.then(() => (gone = true));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (gone) throw new Error(`${what} exited before it listened on ${port}`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`${what} did not listen on ${port} within ${timeoutMs} ms`);
}

export interface HaproxyOptions {
  binary: string;
  /** nbthread; 1 matches the proxy's single event-loop thread. */
  threads: number;
  /** Client connections to allow (haproxy raises its own fd limit to match when run as root). */
  maxconn: number;
}

export async function startHaproxy(
  ensemble: LocalEnsemble,
  options: HaproxyOptions,
): Promise<{ target: Target; process: Child; config: string }> {
  const [port] = await reserveFreePorts(1);
  const dir = mkdtempSync(join(tmpdir(), 'zkp-bench-haproxy-'));
  const file = join(dir, 'haproxy.cfg');
  const config = [
    'global',
    `  maxconn ${options.maxconn}`,
    `  nbthread ${options.threads}`,
    '',
    'defaults',
    '  mode tcp',
    '  timeout connect 5s',
    '  timeout client 1h',
    '  timeout server 1h',
    '',
    'frontend zk',
    `  bind 127.0.0.1:${port}`,
    `  maxconn ${options.maxconn}`,
    '  default_backend ensemble',
    '',
    'backend ensemble',
    '  balance roundrobin',
    ...ensemble.members.map((m) => `  server zk${m.id} 127.0.0.1:${m.clientPort}`),
    '',
  ].join('\n');
  writeFileSync(file, config);
  const child = spawn(options.binary, ['-f', file, '-db'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const stderr: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (line) => stderr.push(line));
  const handle = track(child, 'SIGTERM', 2000, () => rmSync(dir, { recursive: true, force: true }));
  try {
    await waitForPort(port!, handle.exited, 'haproxy');
  } catch (error) {
    await handle.stop();
    throw new Error(`${(error as Error).message}\n${stderr.join('\n')}`);
  }
  const ports = [port!];
  return {
    target: {
      name: 'haproxy',
      kind: 'haproxy',
      host: '127.0.0.1',
      endpoints: (n) => spread(ports, n),
      pids: () => (child.pid === undefined ? [] : [child.pid]),
      describe: `haproxy mode tcp, nbthread ${options.threads}, balance roundrobin`,
    },
    process: handle,
    config,
  };
}

export interface ProxyOptions {
  name: 'proxy-1w' | 'proxy-all' | 'proxy-ref';
  /** Event loops (`serve --workers N`); a CLI without --workers can only run 1. */
  workers: number;
  /** Tenants to serve (bench, bench-1, ...), one plain listener each. */
  tenants: number;
  /** Extra node flags for the proxy process, e.g. --cpu-prof. */
  nodeArgs: string[];
  /** cli.ts to run (default: this checkout's src/cli.ts), e.g. another checkout for an A/B run. */
  cli?: string;
  /** Working directory of the proxy process (where V8 drops files such as isolate logs). */
  cwd?: string;
  /** Where the proxy's stdout/stderr lines go after start-up (warnings, errors). */
  onLog: (line: string) => void;
}

/**
 * The production start (`npm run build`, `npm start`: compiled, no type stripping) when built, as
 * `./zkp bench` does first; else the sources.
 */
const COMPILED_CLI = join(import.meta.dirname, '..', '..', 'dist', 'cli.js');
export const DEFAULT_CLI = existsSync(COMPILED_CLI) ? COMPILED_CLI : join(import.meta.dirname, '..', '..', 'src', 'cli.ts');

/** Node flags a cli needs: a compiled one resolves jute-ts to its compiled build too. */
export function cliNodeArgs(cli: string): string[] {
  return cli.endsWith('.js') ? ['--conditions=zkp-compiled'] : [];
}

/**
 * One secret for every proxy of a run, as replicas of one deployment share it: the tenant's
 * identity on the ensemble (and the root ACL naming it) derives from it, so proxies with different
 * secrets would lock each other out of the same tenant roots.
 */
const RUN_SECRET = randomBytes(24).toString('base64url');

/** Whether the proxy version at `cli` has per-tenant limits (its config schema knows `limits`). */
function supportsLimits(cli: string): boolean {
  const schema = join(dirname(cli), 'config', cli.endsWith('.js') ? 'config.js' : 'config.ts');
  return existsSync(schema) && readFileSync(schema, 'utf8').includes('LimitsSchema');
}

const workersSupport = new Map<string, boolean>();

/** Whether `serve` at `cli` accepts --workers (the multi-worker proxy). */
export function supportsWorkers(cli: string = DEFAULT_CLI): boolean {
  let supported = workersSupport.get(cli);
  if (supported === undefined) {
    try {
      supported = execFileSync(process.execPath, [...cliNodeArgs(cli), cli, 'serve', '--help'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      }).includes('--workers');
    } catch {
      supported = false;
    }
    workersSupport.set(cli, supported);
  }
  return supported;
}

/** The descriptor limit processes started from here inherit (the hard limit cannot be raised inside a container). */
export function descriptorLimit(): number {
  try {
    return Number(execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim()) || 1024;
  } catch {
    return 1024;
  }
}

/** Sessions one proxy process can hold: 2 descriptors each (client + ensemble), after its listeners and some spare. */
export function proxySessionCapacity(listeners: number): number {
  return Math.floor((descriptorLimit() - 256 - listeners) / 2);
}

export async function startProxy(ensemble: LocalEnsemble, options: ProxyOptions): Promise<{ target: Target; process: Child }> {
  const ports = await reserveFreePorts(options.tenants);
  const dir = mkdtempSync(join(tmpdir(), 'zkp-bench-proxy-'));
  const file = join(dir, 'proxy.json');
  // The benchmark measures the relay, not the limits: per-tenant limits are lifted (the default of
  // 10,000 requests/s per tenant would otherwise be what is measured).
  const unlimited = supportsLimits(options.cli ?? DEFAULT_CLI)
    ? {
        limits: {
          requestsPerSecond: 0,
          maxInFlightPerConnection: 1_000_000,
          maxInFlightPerTenant: 1_000_000,
          maxConnections: 0,
          maxWatches: 0,
          maxZnodes: 0,
          maxBytes: 0,
        },
        total: { maxConnections: 0 },
      }
    : {};
  const tenants = ports.map((port, i) => ({ name: tenantName(i), listeners: [`127.0.0.1:${port}`] }));
  // The secret goes in a file, never on the command line.
  // ensembleAdmin (the fixture's super user), as a platform deployment has: without it, a second
  // proxy cannot read the ACL of a tenant root that the first one set (NOAUTH) and refuses the tenant.
  const { user, password } = ensemble.superAuth;
  const security = { secret: RUN_SECRET, ensembleAdmin: `${user}:${password}` };
  writeFileSync(file, JSON.stringify({ ensemble: ensemble.connectString(), security, tenants, ...unlimited }), { mode: 0o600 });
  const cli = options.cli ?? DEFAULT_CLI;
  // Where --workers exists its default is one per CPU: proxy-1w must ask for 1.
  const workerArgs = supportsWorkers(cli) ? ['--workers', String(options.workers)] : [];
  if (workerArgs.length === 0 && options.workers !== 1)
    throw new Error(`${cli} has no serve --workers: cannot run ${options.workers} workers`);
  const serveArgs = ['serve', '--config', file, '--admin', 'off', '--log-level', 'warn', '--drain-ms', '0', ...workerArgs];
  const child = spawn(process.execPath, [...options.nodeArgs, ...cliNodeArgs(cli), cli, ...serveArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
  });
  // SIGINT drains over drain.fastPeriodMs and exits normally, so --cpu-prof gets written.
  const handle = track(child, 'SIGINT', 10_000, () => rmSync(dir, { recursive: true, force: true }));
  const early: string[] = [];
  let started = false;
  const onLine = (line: string) => (started ? options.onLog(line) : early.push(line));
  createInterface({ input: child.stdout! }).on('line', onLine);
  createInterface({ input: child.stderr! }).on('line', onLine);
  try {
    // At --log-level warn the proxy does not log its "proxy listening" line (that is info): probe the last tenant's port.
    await waitForPort(ports.at(-1)!, handle.exited, 'zookeeper-proxy', 60_000);
  } catch (error) {
    await handle.stop();
    throw new Error(`${(error as Error).message}\n${early.join('\n')}`);
  }
  started = true;
  for (const line of early) options.onLog(line);
  return {
    target: {
      name: options.name,
      kind: 'proxy',
      host: '127.0.0.1',
      endpoints: (n) => ports.slice(0, n).map((port) => ({ port, prefix: '' })),
      pids: () => (child.pid === undefined ? [] : processTreePids(child.pid)),
      describe:
        `zookeeper-proxy as its own process (\`node ${options.cli ?? 'src/cli.ts'} ${serveArgs.join(' ').replace(file, 'proxy.json')}\`, Node ${process.version}, ` +
        `${options.workers === 1 ? 'one event loop' : `${options.workers} workers`}), ${options.tenants} tenant(s), limits lifted, security.ensembleAdmin set`,
    },
    process: handle,
  };
}

export async function startEnsemble(size: number, tenants: number): Promise<LocalEnsemble> {
  const ensemble = await LocalEnsemble.start({ size });
  try {
    await createBenchNodes(ensemble.members[0]!.clientPort, tenants);
  } catch (error) {
    // The caller never gets the ensemble to close: its JVMs would outlive the failed run.
    await ensemble.close();
    throw error;
  }
  return ensemble;
}
