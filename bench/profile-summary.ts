/**
 * Summarises a V8 .cpuprofile (node --cpu-prof): top functions by self time, and self time per
 * source file / category.
 *   node bench/profile-summary.ts <file.cpuprofile> [--top 25]
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileRow {
  name: string;
  where: string;
  selfMs: number;
  /** Share of busy (non-idle) samples. */
  pct: number;
}

export interface ProfileSummary {
  totalMs: number;
  idleMs: number;
  busyMs: number;
  functions: ProfileRow[];
  files: ProfileRow[];
}

const ROOT = fileURLToPath(new URL('..', import.meta.url));

function where(frame: CallFrame): string {
  if (frame.url === '') return '';
  let url = frame.url;
  if (url.startsWith('file://')) url = relative(ROOT, fileURLToPath(url));
  return `${url}:${frame.lineNumber + 1}`;
}

function fileOf(frame: CallFrame): string {
  if (frame.url === '') return frame.functionName.startsWith('(') ? frame.functionName : '(native)';
  let url = frame.url;
  if (url.startsWith('file://')) url = relative(ROOT, fileURLToPath(url));
  if (url.includes('node_modules/')) return `node_modules/${url.split('node_modules/').pop()!.split('/')[0]}`;
  return url;
}

export function summarizeProfile(file: string, top = 25): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  // timeDeltas[i] is the time before sample i; attribute each sample the delta that follows it.
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i + 1] ?? 0;
    const id = profile.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, delta));
  }
  const functions = new Map<string, { name: string; where: string; us: number }>();
  const files = new Map<string, number>();
  let idle = 0;
  let total = 0;
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)!.callFrame;
    total += us;
    if (frame.functionName === '(idle)') {
      idle += us;
      continue;
    }
    const name = frame.functionName || '(anonymous)';
    const w = where(frame);
    const key = `${name}@${w}`;
    const entry = functions.get(key) ?? { name, where: w, us: 0 };
    entry.us += us;
    functions.set(key, entry);
    const f = fileOf(frame);
    files.set(f, (files.get(f) ?? 0) + us);
  }
  const busy = total - idle;
  const row = (name: string, w: string, us: number): ProfileRow => ({
    name,
    where: w,
    selfMs: us / 1000,
    pct: busy > 0 ? (100 * us) / busy : 0,
  });
  return {
    totalMs: total / 1000,
    idleMs: idle / 1000,
    busyMs: busy / 1000,
    functions: [...functions.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((e) => row(e.name, e.where, e.us)),
    files: [...files.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([f, us]) => row(f, '', us)),
  };
}

export function profileMarkdown(summary: ProfileSummary, title = 'CPU profile'): string {
  const lines = [
    `### ${title}`,
    '',
    `Sampled ${(summary.totalMs / 1000).toFixed(1)} s, of which busy ${(summary.busyMs / 1000).toFixed(1)} s (idle ${(summary.idleMs / 1000).toFixed(1)} s). Percentages are of busy time.`,
    '',
    'V8 samples wall time: a native call such as `writev`/`writeBuffer`/`read` also carries the time the thread sat preempted inside ' +
      "that syscall (on loopback a write runs the receiver's TCP input and wakes it). On a CPU-starved machine those rows are mostly " +
      'waiting, not work; `perf record` on the proxy pid (with node --perf-basic-prof) gives the on-CPU split.',
    '',
    '| # | self ms | self % | function | location |',
    '| ---: | ---: | ---: | --- | --- |',
    ...summary.functions.map((r, i) => `| ${i + 1} | ${r.selfMs.toFixed(0)} | ${r.pct.toFixed(1)} | \`${r.name}\` | ${r.where} |`),
    '',
    '| self ms | self % | file / category |',
    '| ---: | ---: | --- |',
    ...summary.files.slice(0, 15).map((r) => `| ${r.selfMs.toFixed(0)} | ${r.pct.toFixed(1)} | ${r.name} |`),
    '',
  ];
  return lines.join('\n');
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '25' } } });
  if (positionals.length === 0) {
    console.error('usage: node bench/profile-summary.ts <file.cpuprofile> [--top 25]');
    process.exit(2);
  }
  for (const file of positionals) console.log(profileMarkdown(summarizeProfile(file, Number(values.top)), file));
}
