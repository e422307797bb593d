/**
 * The three things the benchmark talks to, all in front of one LocalEnsemble:
 *   direct  — the members themselves (sessions spread round-robin, as a client's connect string would)
 *   haproxy — Debian's haproxy in TCP mode, round-robin over the members
 *   proxy   — zookeeper-proxy as a separate process (`node src/cli.ts serve`), one tenant "bench"
 */
import { spawn, type ChildProcess } from 'node:child_process';
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

export const TARGETS = ['direct', 'haproxy', 'proxy'] as const;
export type TargetName = (typeof TARGETS)[number];

export const TENANT = 'bench';
export const CHROOT = `/tenants/${TENANT}`;
export const NODE = '/bench-100b';
export const NODE_BYTES = 100;

export interface Target {
  name: TargetName;
  host: string;
  ports: number[];
  /** Path as this target's clients send it. */
  path: string;
  /** pid of the process in the middle (haproxy / proxy), if any. */
  pid: number | undefined;
  describe: string;
}

const OPEN_ACL = [{ perms: Perms.ALL, id: { scheme: 'world', id: 'anyone' } }];

/** Creates /tenants/bench/bench-100b with 100 bytes (idempotent). */
export async function createBenchNode(port: number): Promise<void> {
  const client = await JuteClient.connect({ port, sessionTimeoutMs: 10_000 });
  try {
    const parts = `${CHROOT}${NODE}`.split('/').slice(1);
    for (let i = 1; i <= parts.length; i++) {
      const path = `/${parts.slice(0, i).join('/')}`;
      const data = i === parts.length ? Buffer.alloc(NODE_BYTES, 0x61) : null;
      const reply = await client.request(OpCode.create, { path, data, acl: OPEN_ACL, flags: 0 });
      if (reply.err !== ErrorCode.OK && reply.err !== ErrorCode.NODEEXISTS) throw new Error(`create ${path}: error ${reply.err}`);
    }
    const check = await client.request(OpCode.getData, { path: `${CHROOT}${NODE}`, watch: false });
    const data = (check.body as { data: Buffer | null } | undefined)?.data;
    if (check.err !== ErrorCode.OK || data?.length !== NODE_BYTES) throw new Error(`bench node check failed (err ${check.err})`);
  } finally {
    await client.close();
  }
}

export function directTarget(ensemble: LocalEnsemble): Target {
  const ports = ensemble.members.map((m) => m.clientPort);
  return { name: 'direct', host: '127.0.0.1', ports, path: `${CHROOT}${NODE}`, pid: undefined, describe: `${ports.length} members, sessions round-robin` };
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
}

export async function startHaproxy(ensemble: LocalEnsemble, options: HaproxyOptions): Promise<{ target: Target; process: Child; config: string }> {
  const [port] = await reserveFreePorts(1);
  const dir = mkdtempSync(join(tmpdir(), 'zkp-bench-haproxy-'));
  const file = join(dir, 'haproxy.cfg');
  const config = [
    'global',
    '  maxconn 8192', // ~2 fds per connection: stays under a 20000 hard fd limit
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
    '  maxconn 8192',
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
  return {
    target: {
      name: 'haproxy',
      host: '127.0.0.1',
      ports: [port!],
      path: `${CHROOT}${NODE}`,
      pid: child.pid,
      describe: `haproxy mode tcp, nbthread ${options.threads}, balance roundrobin`,
    },
    process: handle,
    config,
  };
}

export interface ProxyOptions {
  /** Extra node flags for the proxy process, e.g. --cpu-prof. */
  nodeArgs: string[];
  /** cli.ts to run (default: this checkout's src/cli.ts), e.g. another checkout for an A/B run. */
  cli?: string;
  /** Working directory of the proxy process (where V8 drops files such as isolate logs). */
  cwd?: string;
  /** Where the proxy's stdout/stderr lines go after start-up (warnings, errors). */
  onLog: (line: string) => void;
}

export const DEFAULT_CLI = join(import.meta.dirname, '..', '..', 'src', 'cli.ts');

/** Whether the proxy version at `cli` has per-tenant limits (its config schema knows `limits`). */
function supportsLimits(cli: string): boolean {
  const schema = join(dirname(cli), 'config', 'config.ts');
  return existsSync(schema) && readFileSync(schema, 'utf8').includes('LimitsSchema');
}

export async function startProxy(ensemble: LocalEnsemble, options: ProxyOptions): Promise<{ target: Target; process: Child }> {
  try {
    return await startProxyOnce(ensemble, options, undefined);
  } catch (error) {
    // Versions that seal sessions refuse to start without a shared secret; older versions reject
    // an unknown `security` config key. Give the secret (in a config file, never on the command
    // line) only to a version that asks for it.
    if (!/secret/i.test((error as Error).message)) throw error;
    return startProxyOnce(ensemble, options, randomBytes(24).toString('base64url'));
  }
}

async function startProxyOnce(ensemble: LocalEnsemble, options: ProxyOptions, secret: string | undefined): Promise<{ target: Target; process: Child }> {
  // At --log-level warn the proxy does not log its "proxy listening" line (that is info), so the
  // port is chosen here and probed until it accepts.
  const [port] = await reserveFreePorts(1);
  let dir: string | undefined;
  const configArgs: string[] = [];
  if (secret !== undefined) {
    dir = mkdtempSync(join(tmpdir(), 'zkp-bench-proxy-'));
    const file = join(dir, 'proxy.json');
    // The benchmark measures the relay, not the limits: versions with per-tenant limits get them
    // lifted (the default of 10,000 requests/s per tenant would otherwise be what is measured).
    const unlimited = supportsLimits(options.cli ?? DEFAULT_CLI)
      ? { limits: { requestsPerSecond: 0, maxInFlightPerConnection: 1_000_000, maxInFlightPerTenant: 1_000_000, maxConnections: 0 } }
      : {};
    writeFileSync(file, JSON.stringify({ security: { secret }, ...unlimited }), { mode: 0o600 });
    configArgs.push('--config', file);
  }
  const args = [
    ...options.nodeArgs,
    options.cli ?? DEFAULT_CLI,
    'serve',
    ...configArgs,
    '--ensemble',
    ensemble.connectString(),
    '--tenant',
    `${TENANT}=127.0.0.1:${port}`,
    '--admin',
    'off',
    '--log-level',
    'warn',
    '--drain-ms',
    '0',
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(options.cwd === undefined ? {} : { cwd: options.cwd }) });
  // SIGINT drains over drain.fastPeriodMs and exits normally, so --cpu-prof gets written.
  const handle = track(child, 'SIGINT', 10_000, () => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });
  const early: string[] = [];
  let started = false;
  const onLine = (line: string) => (started ? options.onLog(line) : early.push(line));
  createInterface({ input: child.stdout! }).on('line', onLine);
  createInterface({ input: child.stderr! }).on('line', onLine);
  try {
    await waitForPort(port!, handle.exited, 'zookeeper-proxy', 30_000);
  } catch (error) {
    await handle.stop();
    throw new Error(`${(error as Error).message}\n${early.join('\n')}`);
  }
  started = true;
  for (const line of early) options.onLog(line);
  return {
    target: {
      name: 'proxy',
      host: '127.0.0.1',
      ports: [port!],
      path: NODE,
      pid: child.pid,
      describe: `zookeeper-proxy as its own process (\`node ${options.cli ?? 'src/cli.ts'} serve --log-level warn --admin off\`${secret === undefined ? '' : ' + a config file with security.secret'}, Node ${process.version}, one event-loop thread), tenant chroot ${CHROOT}`,
    },
    process: handle,
  };
}

export async function startEnsemble(size: number): Promise<LocalEnsemble> {
  const ensemble = await LocalEnsemble.start({ size });
  await createBenchNode(ensemble.members[0]!.clientPort);
  return ensemble;
}
