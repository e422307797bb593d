/**
 * Cross-checks the benchmark's load generator (lib/loadgen.ts, jute-ts on raw sockets) against
 * an independent client, the ZooKeeper Java client (bench/java/JavaLoad.java), on the same
 * targets with the same load shape: getData 100 B, closed loop.
 *
 *   node bench/crosscheck.ts [--duration 5] [--warmup 2] [--loads 1x1,16x16] [--targets direct,haproxy,proxy-1w]
 *
 * Prints (and writes to bench/results/<time>-crosscheck.md) both tools' throughput and latency per
 * target and load, and their ratio. The two differ in client cost (the JVM client has a thread
 * per session and allocates per request), so under saturation they agree only as far as the
 * target, not the generator, is the bottleneck; the per-target ratios (proxy / haproxy) are what
 * should agree.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { compileJava, runJava } from '../test/support/java.ts';
import { runCase } from './lib/driver.ts';
import { directTarget, startEnsemble, startHaproxy, startProxy, type Child, type Target } from './lib/targets.ts';
import { NODES, type ClosedLoopCase } from './lib/workloads.ts';

const { values: opts } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '2' },
    loads: { type: 'string', default: '1x1,16x16' },
    targets: { type: 'string', default: 'direct,haproxy,proxy-1w' },
    out: { type: 'string', default: join(import.meta.dirname, 'results') },
  },
});
const durationMs = Number(opts.duration) * 1000;
const warmupMs = Number(opts.warmup) * 1000;
const loads = opts.loads.split(',').map((text) => {
  const m = /^(\d+)x(\d+)$/.exec(text.trim());
  if (!m) throw new Error(`--loads: "${text}" is not <sessions>x<inflight>`);
  return { sessions: Number(m[1]), inflight: Number(m[2]) };
});
const wanted = opts.targets.split(',').map((t) => t.trim());

const ensemble = await startEnsemble(1, 1);
const children: Child[] = [];
const java = await compileJava([join(import.meta.dirname, 'java', 'JavaLoad.java')]);
const rows: string[] = [];
try {
  const targets: Target[] = [];
  if (wanted.includes('direct')) targets.push(directTarget(ensemble));
  if (wanted.includes('haproxy')) {
    const h = await startHaproxy(ensemble, { binary: '/usr/sbin/haproxy', threads: 1, maxconn: 8192 });
    children.push(h.process);
    targets.push(h.target);
  }
  if (wanted.includes('proxy-1w')) {
    const p = await startProxy(ensemble, {
      name: 'proxy-1w',
      workers: 1,
      tenants: 1,
      nodeArgs: [],
      onLog: (line) => console.error(`proxy: ${line}`),
    });
    children.push(p.process);
    targets.push(p.target);
  }
  const groups = [{ name: 'zookeeper', pids: () => ensemble.members.flatMap((m) => (m.pid === undefined ? [] : [m.pid])) }];
  // JIT and module loading: a freshly started proxy is several times slower for its first seconds.
  const prewarm: ClosedLoopCase = {
    kind: 'closed',
    workload: 'read',
    name: 'prewarm',
    mix: ['get'],
    readNode: 'small',
    valueBytes: 100,
    generators: 1,
    tenants: 1,
    warmupMs: 0,
    durationMs: 3000,
    sessions: 16,
    inflight: 16,
  };
  for (const target of targets) await runCase(target, prewarm, 0, { groups, sessionTimeoutMs: 30_000, progress: () => {} });
  for (const load of loads) {
    for (const target of targets) {
      const c: ClosedLoopCase = { ...prewarm, name: 'crosscheck', warmupMs, durationMs, ...load };
      process.stderr.write(`${target.name} ${load.sessions}x${load.inflight}: jute-ts generator...\n`);
      const ours = await runCase(target, c, 0, { groups, sessionTimeoutMs: 30_000, progress: () => {} });
      process.stderr.write(`${target.name} ${load.sessions}x${load.inflight}: Java client...\n`);
      const endpoint = target.endpoints(1)[0]!;
      const run = await runJava(
        java,
        'JavaLoad',
        [
          `127.0.0.1:${endpoint.port}`,
          endpoint.prefix + NODES.small.path,
          String(load.sessions),
          String(load.inflight),
          String(warmupMs / 1000),
          String(durationMs / 1000),
        ],
        {
          timeoutMs: 120_000 + durationMs * 2,
          heapMb: 512,
        },
      );
      const line = run.stdout.split('\n').find((l) => l.startsWith('{'));
      if (line === undefined) throw new Error(`JavaLoad printed no result (exit ${run.code}):\n${run.stderr.slice(-2000)}`);
      const j = JSON.parse(line) as {
        completed: number;
        windowMs: number;
        p50Us: number;
        p99Us: number;
        errors: number;
        firstError: string;
      };
      const javaRate = j.completed / (j.windowMs / 1000);
      rows.push(
        `| ${target.name} | ${load.sessions} x ${load.inflight} | ${Math.round(ours.rate).toLocaleString('en-US')} | ${Math.round(javaRate).toLocaleString('en-US')} | ${(javaRate / ours.rate).toFixed(2)} | ` +
          `${ours.latency.p50.toFixed(0)} / ${j.p50Us.toFixed(0)} | ${ours.latency.p99.toFixed(0)} / ${j.p99Us.toFixed(0)} | ${ours.errorCount} / ${j.errors}${j.firstError ? ` (${j.firstError})` : ''} |`,
      );
      process.stderr.write(`${rows.at(-1)}\n`);
    }
  }
} finally {
  await Promise.all(children.map((c) => c.stop()));
  await ensemble.close();
  java.cleanup();
}
const report = [
  `# Load generator cross-check — ${new Date().toISOString()}`,
  '',
  `getData of a 100-byte znode, 1-member LocalEnsemble, ${warmupMs / 1000} s warm-up + ${durationMs / 1000} s measured per run; "ours" = bench/lib/loadgen.ts, "Java" = ZooKeeper 3.8 Java client (bench/java/JavaLoad.java).`,
  '',
  '| target | sessions x in flight | ours req/s | Java req/s | Java / ours | p50 µs ours / Java | p99 µs ours / Java | errors ours / Java |',
  '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...rows,
  '',
].join('\n');
process.stdout.write(`\n${report}`);
mkdirSync(opts.out, { recursive: true });
const file = join(
  opts.out,
  `${new Date()
    .toISOString()
    .replace(/[:]/g, '-')
    .replace(/\.\d+Z$/, 'Z')}-crosscheck.md`,
);
writeFileSync(file, report);
process.stderr.write(`wrote ${relative(process.cwd(), file)}\n`);
