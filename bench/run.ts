/**
 * Load benchmark suite: ZooKeeper direct vs HAProxy (TCP mode) vs zookeeper-proxy with one worker
 * and with all workers, in one run, against one local ensemble, on this machine.
 *
 *   npm run bench -- [--workloads LIST] [--targets LIST] [--rounds 1] [--duration 5] ...   (--help)
 *   ./zkp bench ...   (the same, after provisioning the machine)
 *
 * Workloads (lib/workloads.ts): unloaded, read, write, mixed, large, curve, tenants, idle,
 * connstorm, watchstorm. Per round, per case, every target is measured, the target order rotating
 * per round. Every reply is checked (xid order, err == 0). Progress goes to stderr; the Markdown
 * report to stdout and to bench/results/<timestamp>-bench.md, with an SVG chart beside it.
 * Exit code 1 when any request failed.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { LocalEnsemble } from '../src/embedded/ensemble.ts';
import { runCase, type RunResult } from './lib/driver.ts';
import type { ProcessGroup } from './lib/procstat.ts';
import { markdownReport, svgChart, verdicts, type ReportInput } from './lib/report.ts';
import {
  descriptorLimit,
  directTarget,
  proxySessionCapacity,
  startEnsemble,
  startHaproxy,
  startProxy,
  supportsWorkers,
  TARGETS,
  type Child,
  type Target,
  type TargetName,
} from './lib/targets.ts';
import { expandWorkload, WORKLOADS, type BenchCase, type WorkloadSettings } from './lib/workloads.ts';
import { profileMarkdown, summarizeProfile } from './profile-summary.ts';

const HELP = `Usage: npm run bench -- [options]      (or ./zkp bench [options])
  --workloads LIST      ${WORKLOADS.join(',')} (default all)
  --targets LIST        ${TARGETS.join(',')} (default all but proxy-ref; proxy-all needs serve --workers)
  --rounds N            rounds; the target order rotates each round (default 1)
  --duration S          closed-loop cases: measured seconds (default 5)
  --warmup S            closed-loop cases: warm-up seconds (default 2)
  --sessions N          read/write/mixed: sessions (default 64)
  --inflight N          read/write/mixed: requests in flight per session (default 16)
  --generators N        load-generator processes for closed-loop cases (default 1)
  --requests N          unloaded: measured requests (default 5000)
  --warmup-requests N   unloaded: warm-up requests (default 500)
  --curve LIST          curve: total requests in flight per point (default 1,4,16,64,256,1024)
  --tenants LIST        tenants: tenant counts (default 1,10,100,1000)
  --tenant-sessions N   tenants: sessions, spread over the tenants (default 1000)
  --tenant-inflight N   tenants: requests in flight per session (default 1)
  --idle-sessions N     idle: sessions to hold (default 10000)
  --idle-hold S         idle: seconds to hold them (default 5)
  --storm-concurrency N connstorm: concurrent connect loops (default 32)
  --storm-duration S    connstorm: seconds (default 5)
  --watchers N          watchstorm: watching sessions (default 1000)
  --watch-rounds N      watchstorm: changes (default 5)
  --workers N           proxy-all: --workers (default: cores, ${cpus().length})
  --prewarm S           before round 1: S seconds of saturated getData per target, discarded (default 2)
  --haproxy-threads N   haproxy nbthread (default 1, like one proxy event loop)
  --haproxy PATH        haproxy binary (default /usr/sbin/haproxy)
  --ensemble-size N     ZooKeeper members (default 3)
  --profile             run proxy-1w under --cpu-prof and summarise the profile
  --proxy-cli PATH      zookeeper-proxy cli.ts to run (default: this checkout's src/cli.ts)
  --compare-cli PATH    adds target proxy-ref: proxy-1w of another checkout (A/B in one run)
  --out DIR             where results go (default bench/results); --no-write to skip files
`;

const { values: opts } = parseArgs({
  options: {
    workloads: { type: 'string', default: WORKLOADS.join(',') },
    targets: { type: 'string', default: TARGETS.filter((t) => t !== 'proxy-ref').join(',') },
    rounds: { type: 'string', default: '1' },
    duration: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '2' },
    sessions: { type: 'string', default: '64' },
    inflight: { type: 'string', default: '16' },
    generators: { type: 'string', default: '1' },
    requests: { type: 'string', default: '5000' },
    'warmup-requests': { type: 'string', default: '500' },
    curve: { type: 'string', default: '1,4,16,64,256,1024' },
    tenants: { type: 'string', default: '1,10,100,1000' },
    'tenant-sessions': { type: 'string', default: '1000' },
    'tenant-inflight': { type: 'string', default: '1' },
    'idle-sessions': { type: 'string', default: '10000' },
    'idle-hold': { type: 'string', default: '5' },
    'storm-concurrency': { type: 'string', default: '32' },
    'storm-duration': { type: 'string', default: '5' },
    watchers: { type: 'string', default: '1000' },
    'watch-rounds': { type: 'string', default: '5' },
    workers: { type: 'string', default: String(cpus().length) },
    prewarm: { type: 'string', default: '2' },
    'haproxy-threads': { type: 'string', default: '1' },
    haproxy: { type: 'string', default: '/usr/sbin/haproxy' },
    'ensemble-size': { type: 'string', default: '3' },
    profile: { type: 'boolean', default: false },
    'proxy-cli': { type: 'string' },
    'compare-cli': { type: 'string' },
    out: { type: 'string', default: join(import.meta.dirname, 'results') },
    'no-write': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (opts.help) {
  process.stdout.write(HELP);
  process.exit(0);
}

function fail(message: string): never {
  console.error(message);
  process.exit(2);
}
function positive(name: string, text: string, integer = true): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n)))
    fail(`--${name} must be a positive ${integer ? 'integer' : 'number'}, got ${JSON.stringify(text)}`);
  return n;
}
function nonNegative(name: string, text: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n < 0) fail(`--${name} must be a number >= 0, got ${JSON.stringify(text)}`);
  return n;
}
function list<T extends string>(name: string, text: string, allowed: readonly T[]): T[] {
  const items = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = items.filter((i) => !(allowed as readonly string[]).includes(i));
  if (items.length === 0 || bad.length > 0) fail(`--${name}: unknown ${bad.join(', ') || '(empty)'}; choose from ${allowed.join(', ')}`);
  return [...new Set(items)] as T[];
}
function numbers(name: string, text: string): number[] {
  const items = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (items.length === 0) fail(`--${name}: empty list`);
  return [...new Set(items.map((item) => positive(name, item)))].sort((a, b) => a - b);
}

const settings: WorkloadSettings = {
  warmupMs: nonNegative('warmup', opts.warmup) * 1000,
  durationMs: positive('duration', opts.duration, false) * 1000,
  sessions: positive('sessions', opts.sessions),
  inflight: positive('inflight', opts.inflight),
  generators: positive('generators', opts.generators),
  requests: positive('requests', opts.requests),
  warmupRequests: nonNegative('warmup-requests', opts['warmup-requests']),
  curve: numbers('curve', opts.curve),
  tenants: numbers('tenants', opts.tenants),
  tenantSessions: positive('tenant-sessions', opts['tenant-sessions']),
  tenantInflight: positive('tenant-inflight', opts['tenant-inflight']),
  idleSessions: positive('idle-sessions', opts['idle-sessions']),
  idleHoldMs: nonNegative('idle-hold', opts['idle-hold']) * 1000,
  stormConcurrency: positive('storm-concurrency', opts['storm-concurrency']),
  stormMs: positive('storm-duration', opts['storm-duration'], false) * 1000,
  watchers: positive('watchers', opts.watchers),
  watchRounds: positive('watch-rounds', opts['watch-rounds']),
};
const rounds = positive('rounds', opts.rounds);
const prewarmMs = nonNegative('prewarm', opts.prewarm) * 1000;
const workers = positive('workers', opts.workers);
const haproxyThreads = positive('haproxy-threads', opts['haproxy-threads']);
const ensembleSize = positive('ensemble-size', opts['ensemble-size']);
let targetNames = list('targets', opts.targets, TARGETS);
if (opts['compare-cli'] !== undefined && !targetNames.includes('proxy-ref')) targetNames.push('proxy-ref');
if (opts['compare-cli'] === undefined) targetNames = targetNames.filter((t) => t !== 'proxy-ref');
const workloadNames = list('workloads', opts.workloads, WORKLOADS);
// The proxy serves every tenant of the run, one listener each: fewer descriptors left for sessions.
const tenantCount = workloadNames.includes('tenants') ? Math.max(...settings.tenants) : 1;
const sessionCapacity = proxySessionCapacity(tenantCount);
const idleClamped = settings.idleSessions > sessionCapacity;
if (idleClamped) settings.idleSessions = sessionCapacity;
const cases: BenchCase[] = workloadNames.flatMap((w) => expandWorkload(w, settings));

// ------------------------------------------------------------------ progress output (stderr)

const tty = process.stderr.isTTY === true;
let statusShown = false;
function status(text: string): void {
  if (!tty) return;
  const width = process.stderr.columns ?? 120;
  process.stderr.write(`\r\x1b[K${text.slice(0, width - 1)}`);
  statusShown = true;
}
function say(text: string): void {
  if (statusShown) process.stderr.write('\r\x1b[K');
  statusShown = false;
  process.stderr.write(`${text}\n`);
}

// ------------------------------------------------------------------ lifecycle

const startedAt = new Date();
const stamp = startedAt
  .toISOString()
  .replace(/[:]/g, '-')
  .replace(/\.\d+Z$/, 'Z');
const outDir = resolve(opts.out);
const profileDir = join(outDir, `${stamp}-proxy-profile`);
let ensemble: LocalEnsemble | undefined;
const children: Child[] = [];
let cleaningUp: Promise<void> | undefined;
/** The proxies' warning and error lines (the first 200), for the report and for a failed run. */
const proxyLog: string[] = [];

function cleanup(): Promise<void> {
  cleaningUp ??= (async () => {
    await Promise.all(children.map((c) => c.stop().catch(() => {})));
    await ensemble?.close().catch(() => {});
  })();
  return cleaningUp;
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    say(`\n${signal}: stopping`);
    void cleanup().finally(() => process.exit(130));
  });
}

function haproxyVersion(binary: string): string {
  try {
    return execFileSync(binary, ['-v'], { encoding: 'utf8' })
      .split('\n')[0]!
      .replace(/ - https?:.*$/, '');
  } catch {
    return 'haproxy (version unknown)';
  }
}
function zookeeperVersion(): string {
  try {
    const jar = readdirSync('/usr/share/java').find((f) => /^zookeeper-\d[\d.]*\.jar$/.test(f));
    return jar ? `ZooKeeper ${jar.replace(/^zookeeper-|\.jar$/g, '')}` : 'ZooKeeper';
  } catch {
    return 'ZooKeeper';
  }
}
function gitState(): string {
  if (opts['proxy-cli'] !== undefined) return `zookeeper-proxy from ${resolve(opts['proxy-cli'])}`;
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: import.meta.dirname, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'protocol'], {
      cwd: join(import.meta.dirname, '..'),
      encoding: 'utf8',
    })
      .split('\n')
      .filter(Boolean).length;
    return `git ${head}${dirty > 0 ? ` + ${dirty} uncommitted change(s) in src/ or protocol/` : ''}`;
  } catch {
    return 'git state unknown';
  }
}
function cpuModel(): string {
  try {
    return /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpus()[0]?.model ?? 'unknown CPU';
  } catch {
    return cpus()[0]?.model ?? 'unknown CPU';
  }
}

function describeCase(c: BenchCase): string {
  if (c.kind === 'storm') {
    if (c.workload === 'idle') return `${c.name}: ${c.sessions.toLocaleString('en-US')} sessions held ${c.holdMs / 1000} s`;
    if (c.workload === 'connstorm') return `${c.name}: ${c.sessions} concurrent loops for ${c.durationMs / 1000} s`;
    return `${c.name}: ${c.sessions.toLocaleString('en-US')} watchers, ${c.rounds} change(s)`;
  }
  const load = `${c.sessions.toLocaleString('en-US')} session(s) x ${c.inflight} in flight${c.tenants > 1 ? ` over ${c.tenants} tenants` : ''}`;
  const window = c.count
    ? `${c.count.warmup} warm-up + ${c.count.measured} measured requests`
    : `${c.warmupMs / 1000} s warm-up + ${c.durationMs / 1000} s measured, ${c.generators} generator process(es)`;
  return `${c.name}: [${c.mix.join(', ')}], ${load}, ${window}`;
}

async function main(): Promise<number> {
  const t0 = performance.now();
  const notes: string[] = [];
  if (idleClamped && workloadNames.includes('idle')) {
    notes.push(
      `Idle sessions were capped at ${sessionCapacity.toLocaleString('en-US')}: a process here may hold ${descriptorLimit().toLocaleString('en-US')} descriptors (hard limit, not raisable in this container), a proxied session takes two and each of the ${tenantCount.toLocaleString('en-US')} tenant listeners one. ` +
        'The RSS at 10,000 sessions is extrapolated from the per-session growth.',
    );
  }
  const cli = opts['proxy-cli'] === undefined ? undefined : resolve(opts['proxy-cli']);
  if (targetNames.includes('proxy-all') && !supportsWorkers(cli)) {
    targetNames = targetNames.filter((t) => t !== 'proxy-all');
    notes.push('proxy-all was not run: this zookeeper-proxy has no `serve --workers` yet.');
    say('proxy-all skipped: `serve --workers` not available in this zookeeper-proxy');
  }
  say(`starting a ZooKeeper ensemble of ${ensembleSize} and ${tenantCount} tenant chroot(s)...`);
  ensemble = await startEnsemble(ensembleSize, tenantCount);
  const ens = ensemble;
  const targets = new Map<TargetName, Target>();
  let haproxyConfig: string | undefined;
  if (targetNames.includes('direct')) targets.set('direct', directTarget(ens));
  if (targetNames.includes('haproxy')) {
    say('starting haproxy...');
    const maxconn = Math.min(sessionCapacity, Math.max(8192, settings.idleSessions + 64, settings.tenantSessions + 64));
    const h = await startHaproxy(ens, { binary: opts.haproxy, threads: haproxyThreads, maxconn });
    children.push(h.process);
    targets.set('haproxy', h.target);
    haproxyConfig = h.config;
  }
  let profiledPid: number | undefined;
  for (const name of ['proxy-1w', 'proxy-all', 'proxy-ref'] as const) {
    if (!targetNames.includes(name)) continue;
    const targetCli = name === 'proxy-ref' ? resolve(opts['compare-cli']!) : cli;
    const profile = opts.profile && name === 'proxy-1w';
    say(`starting zookeeper-proxy (${name}, ${tenantCount} tenant(s))${profile ? ' with --cpu-prof' : ''}...`);
    if (profile) mkdirSync(profileDir, { recursive: true });
    const p = await startProxy(ens, {
      name,
      workers: name === 'proxy-all' ? workers : 1,
      tenants: tenantCount,
      ...(targetCli === undefined ? {} : { cli: targetCli }),
      nodeArgs: profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [],
      onLog: (line) => {
        if (proxyLog.length < 200) proxyLog.push(`${name}: ${line}`);
      },
    });
    children.push(p.process);
    targets.set(name, p.target);
    if (profile) profiledPid = p.target.pids()[0];
  }
  const ordered = targetNames.map((n) => targets.get(n)!);
  say(`ready in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${ordered.map((t) => t.name).join(', ')}`);

  const groups: ProcessGroup[] = [{ name: 'zookeeper', pids: () => ens.members.flatMap((m) => (m.pid === undefined ? [] : [m.pid])) }];
  const ctx = (label: string) => ({ groups, sessionTimeoutMs: 30_000, progress: (text: string) => status(`${label} ${text}`) });
  const results: RunResult[] = [];
  let prewarmErrors = 0;
  if (prewarmMs > 0) {
    // JIT (V8 in the proxy and generator, C1 in the JVMs), connection pools and caches: get every
    // target past its first-traffic costs so that round 1 is not penalised for going first.
    const [prewarm] = expandWorkload('read', { ...settings, warmupMs: 0, durationMs: prewarmMs });
    for (const target of ordered) {
      const label = `pre-warm ${target.name.padEnd(9)}`;
      const r = await runCase(target, prewarm!, 0, ctx(label));
      prewarmErrors += r.errorCount;
      say(
        `${label} ${Math.round(r.rate).toLocaleString('en-US').padStart(7)} req/s (discarded)${r.errorCount > 0 ? `  ${r.errorCount} ERRORS: ${r.errors[0]}` : ''}`,
      );
    }
  }
  const totalRuns = rounds * cases.length * ordered.length;
  let runNo = 0;
  for (let round = 0; round < rounds; round++) {
    const order = ordered.map((_, i) => ordered[(i + round) % ordered.length]!);
    for (const c of cases) {
      for (const target of order) {
        runNo++;
        const label = `[${runNo}/${totalRuns}] round ${round + 1}/${rounds} ${c.name.padEnd(12)} ${target.name.padEnd(9)}`;
        status(`${label} connecting...`);
        const result = await runCase(target, c, round, ctx(label));
        results.push(result);
        const l = result.latency;
        const unit =
          c.workload === 'idle'
            ? 'sessions held'
            : c.workload === 'connstorm'
              ? 'sessions/s'
              : c.workload === 'watchstorm'
                ? 'notifications/s'
                : 'req/s';
        const middle =
          target.kind === 'direct'
            ? ''
            : ` middle ${result.cpu.cores['middle']!.toFixed(2)} cores${result.middleRss.peak ? ` ${(result.middleRss.peak / 2 ** 20).toFixed(0)} MiB` : ''},`;
        say(
          `${label} ${Math.round(result.rate).toLocaleString('en-US').padStart(7)} ${unit}  p50 ${l.p50.toFixed(0)} µs  p99 ${l.p99.toFixed(0)} µs  max ${l.max.toFixed(0)} µs  ` +
            `(generator ${result.cpu.cores['generator']!.toFixed(2)} cores,${middle} zk ${result.cpu.cores['zookeeper']!.toFixed(2)}, other ${result.cpu.otherCores.toFixed(2)})` +
            (result.errorCount > 0 ? `  ${result.errorCount} ERRORS: ${result.errors[0]}` : ''),
        );
      }
    }
  }

  say('stopping...');
  await cleanup();

  const errorCount = results.reduce((s, r) => s + r.errorCount, 0) + prewarmErrors;
  if (prewarmErrors > 0) notes.push(`${prewarmErrors} request error(s) during the pre-warm phase.`);
  const realLog = proxyLog.filter((line) => !line.includes('tenant root had another ACL'));
  if (proxyLog.length > realLog.length)
    notes.push(
      `zookeeper-proxy corrected tenant root ACLs ${proxyLog.length - realLog.length} time(s): the benchmark creates the tenant roots itself (open ACL) so that direct and haproxy clients read the same znodes.`,
    );
  if (realLog.length > 0)
    notes.push(`zookeeper-proxy logged ${realLog.length} other warning/error line(s), first: \`${realLog[0]!.slice(0, 300)}\``);
  notes.push(
    "Closed-loop load: latency under saturation is mostly queueing (Little's law: in flight / throughput), not coordinated-omission-corrected.",
  );
  notes.push(
    "Latency is measured in the load generator's event loop (write → data event), so it includes the generator's own scheduling on this 2-core box.",
  );
  notes.push(
    'The ZooKeeper members are LocalEnsemble JVMs, tuned for start-up (C1 only, SerialGC): they cost more CPU per request than a production ensemble.',
  );
  notes.push(
    'Idle sessions: direct and haproxy rows show the RSS of haproxy (direct: nothing in the middle); the ZooKeeper JVMs hold the sessions in every case.',
  );
  if (opts.profile) notes.push('proxy-1w ran under --cpu-prof: its numbers in this run include profiler overhead.');
  if (haproxyConfig) notes.push(`haproxy config:\n\n\`\`\`\n${haproxyConfig.trim()}\n\`\`\``);

  const input: ReportInput = {
    startedAt,
    cpuCount: cpus().length,
    environment: [
      `${cpus().length} cores (${cpuModel()}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB; Node ${process.version}; ${haproxyVersion(opts.haproxy)}; ${zookeeperVersion()} ensemble of ${ensembleSize} (LocalEnsemble)`,
      `code under test: ${gitState()}`,
    ],
    settings: [
      `${prewarmMs / 1000} s saturated getData pre-warm per target (discarded), then ${rounds} round(s), target order rotated per round`,
      ...cases.map(describeCase),
      `command: \`npm run bench -- ${process.argv.slice(2).join(' ')}\``.replace(/ -- `$/, '`'),
    ],
    targets: ordered.map((t) => ({ name: t.name, describe: t.describe })),
    cases,
    rounds,
    results,
    notes,
  };
  let report = markdownReport(input);

  if (opts.profile && profiledPid !== undefined) {
    // One file per process (CPU.<date>.<time>.<pid>.<tid>.<seq>.cpuprofile): take the proxy that served.
    const files = readdirSync(profileDir).filter((f) => f.endsWith('.cpuprofile'));
    const ours = files.find((f) => f.split('.')[3] === String(profiledPid));
    if (ours === undefined) report += '\n## Proxy CPU profile\n\nNo .cpuprofile was written for the proxy (did it exit cleanly?).\n';
    else {
      const file = join(profileDir, ours);
      report += `\n## Proxy CPU profile\n\n${relative(process.cwd(), file)}\n\n${profileMarkdown(summarizeProfile(file, 25), 'Top self time')}`;
    }
  }

  process.stdout.write(`\n${report}\n`);
  if (!opts['no-write']) {
    mkdirSync(outDir, { recursive: true });
    const md = join(outDir, `${stamp}-bench.md`);
    const svg = join(outDir, `${stamp}-bench.svg`);
    writeFileSync(svg, svgChart(input));
    writeFileSync(md, `${report}\n![chart](${stamp}-bench.svg)\n`);
    say(`wrote ${relative(process.cwd(), md)} and ${relative(process.cwd(), svg)}`);
  }
  const missed = verdicts(input).filter((v) => v.pass === false).length;
  say(
    `done in ${((performance.now() - t0) / 1000).toFixed(0)} s: ${results.length} runs, ${errorCount} request errors, ${missed} target(s) missed`,
  );
  return errorCount > 0 ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  async (error: unknown) => {
    say(`benchmark failed: ${(error as Error).stack ?? String(error)}`);
    if (proxyLog.length > 0) say(`zookeeper-proxy log (first ${proxyLog.length} warning/error lines):\n${proxyLog.join('\n')}`);
    await cleanup();
    process.exitCode = 1;
  },
);
