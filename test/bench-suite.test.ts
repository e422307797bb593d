/**
 * The benchmark suite runs end to end: every workload against direct, haproxy and the proxy (1 and
 * 2 workers) on a real ensemble, zero request errors, and it writes the Markdown report and the SVG chart.
 * Tiny settings: this checks the harness, not the speed (speed is measured by `npm run bench`).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { WORKLOAD_TITLES, WORKLOADS } from '../bench/lib/workloads.ts';
import { runProcess } from './support/run-process.ts';

const out = mkdtempSync(join(tmpdir(), 'zkp-bench-suite-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

it('runs every workload against direct, haproxy and the proxy with 1 and 2 workers without errors, and writes the report and chart', async () => {
  const run = await runProcess(
    process.execPath,
    [
      join(import.meta.dirname, '..', 'bench', 'run.ts'),
      ...[
        '--ensemble-size',
        '1',
        '--targets',
        'direct,haproxy,proxy-1w,proxy-all',
        '--workers',
        '2',
        '--prewarm',
        '0',
        '--duration',
        '0.5',
        '--warmup',
        '0.2',
      ],
      ...[
        '--sessions',
        '4',
        '--inflight',
        '4',
        '--requests',
        '100',
        '--warmup-requests',
        '10',
        '--curve',
        '1,8',
        '--tenants',
        '1,3',
        '--tenant-sessions',
        '6',
      ],
      ...[
        '--idle-sessions',
        '50',
        '--idle-hold',
        '0.5',
        '--storm-concurrency',
        '4',
        '--storm-duration',
        '0.5',
        '--watchers',
        '20',
        '--watch-rounds',
        '2',
      ],
      ...['--out', out],
    ],
    { timeoutMs: 280_000 },
  );
  expect(run.stderr, run.stderr.slice(-3000)).toMatch(/done in \d+ s: \d+ runs, 0 request errors/);
  expect(run.code).toBe(0);

  const files = readdirSync(out);
  const md = files.find((f) => f.endsWith('-bench.md'));
  const svg = files.find((f) => f.endsWith('-bench.svg'));
  expect(md).toBeDefined();
  expect(svg).toBeDefined();
  const report = readFileSync(join(out, md!), 'utf8');
  for (const workload of WORKLOADS) expect(report).toContain(`## ${WORKLOAD_TITLES[workload]}`);
  expect(report).toContain('| errors in all runs | all | 0 | 0 | PASS |');
  // 10 workloads, 2 curve points and 2 tenant counts: 12 cases x 4 targets, one round.
  const targets = ['direct', 'haproxy', 'proxy-1w', 'proxy-all'];
  const perRound = report
    .split('## Per round')[1]!
    .split('\n')
    .filter((line) => /^\| 1 \| /.test(line));
  expect(perRound).toHaveLength(12 * targets.length);
  for (const target of targets) expect(perRound.filter((line) => line.includes(`| ${target} |`))).toHaveLength(12);
  const chart = readFileSync(join(out, svg!), 'utf8');
  expect(chart).toMatch(/^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  // One p50 and one p99 line per target in the latency vs throughput panel.
  expect(chart.match(/<polyline /g)).toHaveLength(2 * targets.length);
}, 300_000);
