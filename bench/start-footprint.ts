/**
 * Start time and idle RSS of `serve`, from the TypeScript sources (type stripping) and from the
 * compiled `dist/` (`npm run build`, `npm start`), alternating, N runs each. Start time: spawn
 * until the "proxy listening" log line; RSS: /proc/<pid>/status VmRSS one second later.
 *
 *   npm run build && node bench/start-footprint.ts [--runs 7]
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';

const ROOT = join(import.meta.dirname, '..');
const { values } = parseArgs({ options: { runs: { type: 'string', default: '7' } } });
const runs = Number(values.runs);
if (!existsSync(join(ROOT, 'dist', 'cli.js'))) throw new Error('dist/cli.js missing: run `npm run build` first');

const dir = mkdtempSync(join(tmpdir(), 'zkp-start-'));
const config = join(dir, 'proxy.yaml');
// An unreachable ensemble: the proxy starts and listens anyway (start-up with the ensemble down).
writeFileSync(
  config,
  'ensemble: 127.0.0.1:9\nsecurity: {secret: start-footprint-secret}\ntenants:\n  - {name: demo, listeners: ["127.0.0.1:0"]}\nadmin: {listen: "127.0.0.1:0"}\n',
);

const variants = {
  sources: [join(ROOT, 'src', 'cli.ts')],
  compiled: ['--conditions=zkp-compiled', join(ROOT, 'dist', 'cli.js')],
} as const;

async function once(args: readonly string[]): Promise<{ startMs: number; rssMiB: number }> {
  const started = performance.now();
  const child = spawn(process.execPath, [...args, 'serve', '--config', config, '--workers', '1', '--log-level', 'info'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
    const startMs = await new Promise<number>((resolve, reject) => {
      let out = '';
      const onData = (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('proxy listening')) resolve(performance.now() - started);
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.once('exit', (code) => reject(new Error(`serve exited ${code}: ${out.slice(-500)}`)));
    });
    await sleep(1000);
    const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
    const rssKiB = Number(/VmRSS:\s+(\d+)/.exec(status)![1]);
    return { startMs, rssMiB: rssKiB / 1024 };
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
  }
}

const results: Record<keyof typeof variants, { startMs: number; rssMiB: number }[]> = { sources: [], compiled: [] };
for (let i = 0; i < runs; i++)
  for (const name of i % 2 === 0 ? (['sources', 'compiled'] as const) : (['compiled', 'sources'] as const))
    results[name].push(await once(variants[name]));
rmSync(dir, { recursive: true, force: true });

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`| serve from | start to listening, median ms | idle RSS, median MiB | runs |`);
console.log(`| --- | ---: | ---: | ---: |`);
for (const name of Object.keys(results) as (keyof typeof variants)[]) {
  const r = results[name];
  console.log(`| ${name} | ${median(r.map((x) => x.startMs)).toFixed(0)} | ${median(r.map((x) => x.rssMiB)).toFixed(1)} | ${r.length} |`);
}
const ratio = median(results.compiled.map((x) => x.rssMiB)) / median(results.sources.map((x) => x.rssMiB));
console.log(
  `compiled / sources: RSS ${ratio.toFixed(2)}x, start ${(median(results.compiled.map((x) => x.startMs)) / median(results.sources.map((x) => x.startMs))).toFixed(2)}x`,
);
