/**
 * On-CPU view of the process in the middle (haproxy and zookeeper-proxy) under saturated load,
 * with Linux `perf` (Debian package linux-perf): CPU time, context switches and syscalls per
 * request, and for the proxy an on-CPU profile split into kernel / V8 / Node / JS.
 * Complements `npm run bench -- --profile`, whose V8 profile samples wall time.
 *
 *   node bench/perf-middle.ts [--duration 6] [--sessions 64] [--inflight 16] [--record [--top 20]]
 *
 * Needs root (or perf_event_paranoid <= 0) for the syscall tracepoints.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs, promisify } from 'node:util';
import { runCase } from './lib/driver.ts';
import { startEnsemble, startHaproxy, startProxy, type Child, type Target } from './lib/targets.ts';
import { expandWorkload } from './lib/workloads.ts';

const run = promisify(execFile);
const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '6' },
    sessions: { type: 'string', default: '64' },
    inflight: { type: 'string', default: '16' },
    record: { type: 'boolean', default: false },
    top: { type: 'string', default: '20' },
  },
});
const durationMs = Number(values.duration) * 1000;
const perfSeconds = Math.max(1, Math.floor(durationMs / 1000) - 2);

try {
  execFileSync('perf', ['--version'], { stdio: 'ignore' });
} catch {
  console.error('perf not found: apt-get install linux-perf');
  process.exit(2);
}

const EVENTS = [
  'task-clock',
  'context-switches',
  'raw_syscalls:sys_enter',
  'syscalls:sys_enter_read',
  'syscalls:sys_enter_write',
  'syscalls:sys_enter_writev',
  'syscalls:sys_enter_recvfrom',
  'syscalls:sys_enter_sendto',
  'syscalls:sys_enter_epoll_wait',
  'syscalls:sys_enter_epoll_pwait',
];

const work = mkdtempSync(join(tmpdir(), 'zkp-bench-perf-'));
const children: Child[] = [];
let mapFile: string | undefined;
const ensemble = await startEnsemble(3, 1);
try {
  const h = await startHaproxy(ensemble, { binary: '/usr/sbin/haproxy', threads: 1, maxconn: 8192 });
  children.push(h.process);
  // --perf-basic-prof writes /tmp/perf-<pid>.map so perf can name JIT frames (and a V8 isolate log into the cwd).
  const p = await startProxy(ensemble, {
    name: 'proxy-1w',
    workers: 1,
    tenants: 1,
    nodeArgs: ['--perf-basic-prof'],
    cwd: work,
    onLog: (l) => console.error(`proxy: ${l}`),
  });
  children.push(p.process);
  mapFile = `/tmp/perf-${p.target.pids()[0]}.map`;
  const groups = [{ name: 'zookeeper', pids: () => ensemble.members.flatMap((m) => (m.pid === undefined ? [] : [m.pid])) }];
  const [workload] = expandWorkload('read', {
    warmupMs: 2000,
    durationMs,
    sessions: Number(values.sessions),
    inflight: Number(values.inflight),
    generators: 1,
    requests: 0,
    warmupRequests: 0,
    curve: [],
    tenants: [],
    tenantSessions: 0,
    tenantInflight: 0,
    idleSessions: 0,
    idleHoldMs: 0,
    stormConcurrency: 0,
    stormMs: 0,
    watchers: 0,
    watchRounds: 0,
  });
  console.log(`| middle | req/s | CPU µs/req | context switches/req | syscalls/req | of which | other processes (cores) |`);
  console.log(`| --- | ---: | ---: | ---: | ---: | --- | ---: |`);
  const rows: string[] = [];
  for (const target of [h.target, p.target] as Target[]) {
    const pid = String(target.pids()[0]);
    const measuring = (async () => {
      await sleep(3000); // inside the measurement window (2 s warm-up + connect)
      const stat = run('perf', ['stat', '-x', ',', '-e', EVENTS.join(','), '-p', pid, '--', 'sleep', String(perfSeconds)]);
      const record =
        values.record && target.kind === 'proxy'
          ? run('perf', ['record', '-F', '1999', '-g', '-o', join(work, 'proxy.data'), '-p', pid, '--', 'sleep', String(perfSeconds)])
          : Promise.resolve();
      const [s] = await Promise.all([stat, record]);
      return s.stderr;
    })();
    const result = await runCase(target, workload!, 0, { groups, sessionTimeoutMs: 30_000, progress: () => {} });
    const counters = new Map<string, number>();
    for (const line of (await measuring).trim().split('\n')) {
      const [value, , event] = line.split(',');
      if (event !== undefined && Number.isFinite(Number(value))) counters.set(event, Number(value));
    }
    const requests = result.rate * perfSeconds;
    const per = (e: string) => (counters.get(e) ?? 0) / requests;
    const detail = EVENTS.slice(3)
      .filter((e) => per(e) > 0.001)
      .map((e) => `${e.replace('syscalls:sys_enter_', '')} ${per(e).toFixed(2)}`)
      .join(', ');
    rows.push(
      `| ${target.name} | ${Math.round(result.rate).toLocaleString('en-US')} | ${((per('task-clock') * 1000) as number).toFixed(1)} | ${per('context-switches').toFixed(3)} | ${per('raw_syscalls:sys_enter').toFixed(2)} | ${detail} | ${result.cpu.otherCores.toFixed(2)} |`,
    );
    if (result.errorCount > 0) console.error(`${target.name}: ${result.errorCount} request errors, e.g. ${result.errors[0]}`);
  }
  console.log(rows.join('\n'));
  if (values.record) {
    const { stdout } = await run(
      'perf',
      ['report', '-i', join(work, 'proxy.data'), '--no-children', '-g', 'none', '--sort', 'sym', '--stdio'],
      { maxBuffer: 64 << 20 },
    );
    const buckets = new Map<string, number>();
    const top: string[] = [];
    for (const line of stdout.split('\n')) {
      const m = /^\s*([\d.]+)%\s+\[(.)\]\s+(.*)$/.exec(line);
      if (!m) continue;
      const [, pct, kind, sym] = m as unknown as [string, string, string, string];
      const bucket =
        kind === 'k'
          ? 'kernel'
          : sym.startsWith('JS:')
            ? /\/(src|protocol\/src)\//.test(sym)
              ? 'JS: proxy + jute-ts'
              : 'JS: Node internals (streams, net, buffer)'
            : /^(Builtins_|v8::)/.test(sym)
              ? 'V8 builtins / runtime'
              : /^(node::|uv_|uv__)/.test(sym)
                ? 'Node C++ / libuv'
                : 'libc and other native';
      buckets.set(bucket, (buckets.get(bucket) ?? 0) + Number(pct));
      if (top.length < Number(values.top)) top.push(`| ${pct}% | \`${sym.trim().slice(0, 110)}\` |`);
    }
    console.log('\nzookeeper-proxy on-CPU samples:\n\n| share | category |\n| ---: | --- |');
    for (const [bucket, pct] of [...buckets].sort((a, b) => b[1] - a[1])) console.log(`| ${pct.toFixed(1)}% | ${bucket} |`);
    console.log('\n| self | symbol |\n| ---: | --- |');
    console.log(top.join('\n'));
  }
} finally {
  await Promise.all(children.map((c) => c.stop()));
  await ensemble.close();
  rmSync(work, { recursive: true, force: true });
  if (mapFile !== undefined) rmSync(mapFile, { force: true });
}
