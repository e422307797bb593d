/**
 * Load benchmark: ZooKeeper direct vs HAProxy (TCP mode) vs zookeeper-proxy, in one run, against
 * one local ensemble, on this machine.
 *
 *   npm run bench -- [--duration 5] [--warmup 2] [--sessions 64] [--inflight 16] [--requests 5000]
 *                    [--rounds 3] [--targets direct,haproxy,proxy] [--workloads unloaded,saturated]
 *                    [--generators 1] [--haproxy-threads 1] [--profile] [--out bench/results]
 *
 * Workloads (getData of a 100-byte znode; every reply is checked: xid order, err == 0):
 *   unloaded  — 1 session, 1 request in flight, --warmup-requests then --requests measured
 *   saturated — --sessions x --inflight requests in flight (closed loop), --warmup s then --duration s
 * Every round runs each workload against every target; the target order rotates per round so no
 * target is always measured first (coldest) or last. Reported values are medians over rounds.
 *
 * Progress goes to stderr; the Markdown report to stdout and to
 * bench/results/<timestamp>-proxy-vs-haproxy.md, with an SVG chart beside it.
 * Exit code 1 when any request failed.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { LocalEnsemble } from '../src/embedded/ensemble.ts';
import { runOnce, type RunResult, type Workload } from './lib/driver.ts';
import { processRssBytes, type ProcessGroup } from './lib/procstat.ts';
import { markdownReport, svgChart, verdicts, type ReportInput } from './lib/report.ts';
import { directTarget, NODE_BYTES, startEnsemble, startHaproxy, startProxy, TARGETS, type Child, type Target, type TargetName } from './lib/targets.ts';
import { profileMarkdown, summarizeProfile } from './profile-summary.ts';

const HELP = `Usage: node bench/run.ts [options]
  --duration S          saturated: measured seconds per run (default 5)
  --warmup S            saturated: warm-up seconds per run (default 2)
  --sessions N          saturated: sessions (default 64)
  --inflight N          saturated: requests in flight per session (default 16)
  --requests N          unloaded: measured requests per run (default 5000)
  --warmup-requests N   unloaded: warm-up requests per run (default 500)
  --rounds N            rounds; the target order rotates each round (default 3)
  --prewarm S           before round 1: S seconds of saturated load per target, discarded (default 2)
  --targets LIST        direct,haproxy,proxy (default all three)
  --workloads LIST      unloaded,saturated (default both)
  --generators N        saturated: load-generator processes (default 1)
  --haproxy-threads N   haproxy nbthread (default 1, like the proxy's one event loop)
  --haproxy PATH        haproxy binary (default /usr/sbin/haproxy)
  --ensemble-size N     ZooKeeper members (default 3)
  --profile             run the proxy under --cpu-prof and summarise the profile
  --proxy-cli PATH      zookeeper-proxy cli.ts to run (default: this checkout's src/cli.ts)
  --out DIR             where results go (default bench/results); --no-write to skip files
`;

const { values: opts } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '2' },
    sessions: { type: 'string', default: '64' },
    inflight: { type: 'string', default: '16' },
    requests: { type: 'string', default: '5000' },
    'warmup-requests': { type: 'string', default: '500' },
    rounds: { type: 'string', default: '3' },
    prewarm: { type: 'string', default: '2' },
    targets: { type: 'string', default: TARGETS.join(',') },
    workloads: { type: 'string', default: 'unloaded,saturated' },
    generators: { type: 'string', default: '1' },
    'haproxy-threads': { type: 'string', default: '1' },
    haproxy: { type: 'string', default: '/usr/sbin/haproxy' },
    'ensemble-size': { type: 'string', default: '3' },
    profile: { type: 'boolean', default: false },
    'proxy-cli': { type: 'string' },
    out: { type: 'string', default: join(import.meta.dirname, 'results') },
    'no-write': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (opts.help) {
  process.stdout.write(HELP);
  process.exit(0);
}

function positive(name: string, text: string, integer = true): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    console.error(`--${name} must be a positive ${integer ? 'integer' : 'number'}, got ${JSON.stringify(text)}`);
    process.exit(2);
  }
  return n;
}
function list<T extends string>(name: string, text: string, allowed: readonly T[]): T[] {
  const items = text.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = items.filter((i) => !(allowed as readonly string[]).includes(i));
  if (items.length === 0 || bad.length > 0) {
    console.error(`--${name}: unknown ${bad.join(', ') || '(empty)'}; choose from ${allowed.join(', ')}`);
    process.exit(2);
  }
  return [...new Set(items)] as T[];
}

const durationMs = positive('duration', opts.duration, false) * 1000;
const warmupMs = Number(opts.warmup) * 1000;
const sessions = positive('sessions', opts.sessions);
const inflight = positive('inflight', opts.inflight);
const requests = positive('requests', opts.requests);
const warmupRequests = Number(opts['warmup-requests']);
const prewarmMs = Number(opts.prewarm) * 1000;
const rounds = positive('rounds', opts.rounds);
const generators = positive('generators', opts.generators);
const haproxyThreads = positive('haproxy-threads', opts['haproxy-threads']);
const ensembleSize = positive('ensemble-size', opts['ensemble-size']);
const targetNames = list('targets', opts.targets, TARGETS);
const workloadNames = list('workloads', opts.workloads, ['unloaded', 'saturated'] as const);
if (!(warmupMs >= 0) || !(warmupRequests >= 0) || !(prewarmMs >= 0)) {
  console.error('--warmup, --warmup-requests and --prewarm must be >= 0');
  process.exit(2);
}

const workloads: Workload[] = workloadNames.map((kind) =>
  kind === 'unloaded' ? { kind, warmupRequests, requests } : { kind, sessions, inflight, warmupMs, durationMs, generators },
);

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
const stamp = startedAt.toISOString().replace(/[:]/g, '-').replace(/\.\d+Z$/, 'Z');
const outDir = resolve(opts.out);
const profileDir = join(outDir, `${stamp}-proxy-profile`);
let ensemble: LocalEnsemble | undefined;
const children: Child[] = [];
let cleaningUp: Promise<void> | undefined;

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
    return execFileSync(binary, ['-v'], { encoding: 'utf8' }).split('\n')[0]!.replace(/ - https?:.*$/, '');
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
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'protocol'], { cwd: join(import.meta.dirname, '..'), encoding: 'utf8' })
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

async function main(): Promise<number> {
  const t0 = performance.now();
  say(`starting a ZooKeeper ensemble of ${ensembleSize}...`);
  ensemble = await startEnsemble(ensembleSize);
  const ens = ensemble;
  const targets = new Map<TargetName, Target>();
  const notes: string[] = [];
  let haproxyConfig: string | undefined;
  if (targetNames.includes('direct')) targets.set('direct', directTarget(ens));
  let haproxyPid: number | undefined;
  let proxyPid: number | undefined;
  if (targetNames.includes('haproxy')) {
    say('starting haproxy...');
    const h = await startHaproxy(ens, { binary: opts.haproxy, threads: haproxyThreads });
    children.push(h.process);
    targets.set('haproxy', h.target);
    haproxyPid = h.target.pid;
    haproxyConfig = h.config;
  }
  let proxyRssIdle: number | undefined;
  const proxyLog: string[] = [];
  if (targetNames.includes('proxy')) {
    say(`starting zookeeper-proxy${opts.profile ? ' with --cpu-prof' : ''}...`);
    if (opts.profile) mkdirSync(profileDir, { recursive: true });
    const p = await startProxy(ens, {
      ...(opts['proxy-cli'] === undefined ? {} : { cli: resolve(opts['proxy-cli']) }),
      nodeArgs: opts.profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [],
      onLog: (line) => {
        if (proxyLog.length < 200) proxyLog.push(line);
      },
    });
    children.push(p.process);
    targets.set('proxy', p.target);
    proxyPid = p.target.pid;
    proxyRssIdle = proxyPid === undefined ? undefined : processRssBytes(proxyPid);
  }
  const ordered = targetNames.map((n) => targets.get(n)!);
  say(`ready in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${ordered.map((t) => `${t.name} ${t.host}:${t.ports.join(',')}`).join(' | ')}`);

  const groups: ProcessGroup[] = [
    { name: 'zookeeper', pids: () => ens.members.flatMap((m) => (m.pid === undefined ? [] : [m.pid])) },
    { name: 'haproxy', pids: () => (haproxyPid === undefined ? [] : [haproxyPid]) },
    { name: 'proxy', pids: () => (proxyPid === undefined ? [] : [proxyPid]) },
  ];
  const results: RunResult[] = [];
  let prewarmErrors = 0;
  if (prewarmMs > 0) {
    // JIT (V8 in the proxy and generator, C1 in the JVMs), connection pools and caches: get every
    // target past its first-traffic costs so that round 1 is not penalised for going first.
    for (const target of ordered) {
      const label = `pre-warm ${target.name.padEnd(7)}`;
      const r = await runOnce(target, { kind: 'saturated', sessions, inflight, warmupMs: 0, durationMs: prewarmMs, generators }, 0, {
        groups,
        rssPids: {},
        sessionTimeoutMs: 30_000,
        progress: (text) => status(`${label} ${text}`),
      });
      prewarmErrors += r.errorCount;
      say(`${label} ${Math.round(r.requestsPerSecond).toLocaleString('en-US').padStart(7)} req/s (discarded)${r.errorCount > 0 ? `  ${r.errorCount} ERRORS: ${r.errors[0]}` : ''}`);
    }
  }
  const totalRuns = rounds * workloads.length * ordered.length;
  let runNo = 0;
  for (let round = 0; round < rounds; round++) {
    const order = ordered.map((_, i) => ordered[(i + round) % ordered.length]!);
    for (const workload of workloads) {
      for (const target of order) {
        runNo++;
        const label = `[${runNo}/${totalRuns}] round ${round + 1}/${rounds} ${workload.kind.padEnd(9)} ${target.name.padEnd(7)}`;
        status(`${label} connecting...`);
        const result = await runOnce(target, workload, round, {
          groups,
          rssPids: { proxy: proxyPid, haproxy: haproxyPid },
          sessionTimeoutMs: 30_000,
          progress: (text) => status(`${label} ${text}`),
        });
        results.push(result);
        const l = result.latency;
        const middle =
          target.name === 'direct' ? '' : ` ${target.name} ${result.cpu.cores[target.name]!.toFixed(2)} cores (waits for CPU ${(100 * result.cpu.runQueueWait[target.name]!).toFixed(0)}%),`;
        say(
          `${label} ${Math.round(result.requestsPerSecond).toLocaleString('en-US').padStart(7)} req/s  p50 ${l.p50.toFixed(0)} µs  p99 ${l.p99.toFixed(0)} µs  max ${l.max.toFixed(0)} µs  ` +
            `(generator ${result.cpu.cores['generator']!.toFixed(2)} cores,${middle} zk ${result.cpu.cores['zookeeper']!.toFixed(2)}, other ${result.cpu.otherCores.toFixed(2)})` +
            (result.errorCount > 0 ? `  ${result.errorCount} ERRORS: ${result.errors[0]}` : ''),
        );
      }
    }
  }
  const proxyRssEnd = proxyPid === undefined ? undefined : processRssBytes(proxyPid);

  say('stopping...');
  await cleanup();

  const errorCount = results.reduce((s, r) => s + r.errorCount, 0) + prewarmErrors;
  if (prewarmErrors > 0) notes.push(`${prewarmErrors} request error(s) during the pre-warm phase.`);
  if (proxyLog.length > 0) notes.push(`zookeeper-proxy logged ${proxyLog.length} warning/error line(s), first: \`${proxyLog[0]!.slice(0, 300)}\``);
  notes.push('Closed-loop load: latency under saturation is mostly queueing (Little\'s law: in flight / throughput), not coordinated-omission-corrected.');
  notes.push('Latency is measured in the load generator\'s event loop (write → data event), so it includes the generator\'s own scheduling on this 2-core box.');
  notes.push('The ZooKeeper members are LocalEnsemble JVMs, tuned for start-up (C1 only, SerialGC): they cost more CPU per request than a production ensemble.');
  if (opts.profile) notes.push('The proxy ran under --cpu-prof: its numbers in this run include profiler overhead and are not comparable.');
  if (haproxyConfig) notes.push(`haproxy config:\n\n\`\`\`\n${haproxyConfig.trim()}\n\`\`\``);

  const nodeVersion = process.version;
  const input: ReportInput = {
    startedAt,
    cpuCount: cpus().length,
    environment: [
      `${cpus().length} cores (${cpuModel()}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB; Node ${nodeVersion}; ${haproxyVersion(opts.haproxy)}; ${zookeeperVersion()} ensemble of ${ensembleSize} (LocalEnsemble)`,
      `code under test: ${gitState()}`,
    ],
    settings: [
      `${prewarmMs / 1000} s saturated pre-warm per target (discarded), then ${rounds} round(s), target order rotated per round; getData of a ${NODE_BYTES}-byte znode, watch false`,
      ...workloads.map((w) =>
        w.kind === 'unloaded'
          ? `unloaded: 1 session, 1 in flight, ${w.warmupRequests} warm-up + ${w.requests} measured requests per run`
          : `saturated: ${w.sessions} sessions x ${w.inflight} in flight, ${w.warmupMs / 1000} s warm-up + ${w.durationMs / 1000} s measured per run, ${w.generators} load-generator process(es)`,
      ),
      `command: \`node bench/run.ts ${process.argv.slice(2).join(' ')}\``.replace(/ `$/, '`'),
    ],
    targets: ordered.map((t) => ({ name: t.name, describe: t.describe })),
    workloads,
    rounds,
    results,
    proxyRss: { idle: proxyRssIdle, end: proxyRssEnd },
    notes,
  };
  let report = markdownReport(input);

  if (opts.profile) {
    // One file per process (CPU.<date>.<time>.<pid>.<tid>.<seq>.cpuprofile): take the proxy that served.
    const files = readdirSync(profileDir).filter((f) => f.endsWith('.cpuprofile'));
    const ours = files.find((f) => f.split('.')[3] === String(proxyPid));
    if (ours === undefined) report += '\n## Proxy CPU profile\n\nNo .cpuprofile was written for the proxy (did it exit cleanly?).\n';
    else {
      const file = join(profileDir, ours);
      report += `\n## Proxy CPU profile\n\n${relative(process.cwd(), file)}\n\n${profileMarkdown(summarizeProfile(file, 25), 'Top self time')}`;
    }
  }

  process.stdout.write(`\n${report}\n`);
  if (!opts['no-write']) {
    mkdirSync(outDir, { recursive: true });
    const md = join(outDir, `${stamp}-proxy-vs-haproxy.md`);
    const svg = join(outDir, `${stamp}-proxy-vs-haproxy.svg`);
    writeFileSync(svg, svgChart(input));
    writeFileSync(md, `${report}\n![chart](${stamp}-proxy-vs-haproxy.svg)\n`);
    say(`wrote ${relative(process.cwd(), md)} and ${relative(process.cwd(), svg)}`);
  }
  const failed = verdicts(results).filter((v) => v.pass === false).length;
  say(`done in ${((performance.now() - t0) / 1000).toFixed(0)} s: ${results.length} runs, ${errorCount} request errors, ${failed} target(s) missed`);
  return errorCount > 0 ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  async (error: unknown) => {
    say(`benchmark failed: ${(error as Error).stack ?? String(error)}`);
    await cleanup();
    process.exitCode = 1;
  },
);
