/** Markdown report and SVG chart for a benchmark run. */
import type { RunResult, Workload } from './driver.ts';
import type { LatencySummary } from './histogram.ts';

export interface ReportInput {
  startedAt: Date;
  environment: string[];
  settings: string[];
  targets: { name: string; describe: string }[];
  workloads: Workload[];
  rounds: number;
  results: RunResult[];
  proxyRss: { idle: number | undefined; end: number | undefined };
  notes: string[];
  cpuCount: number;
}

export interface Aggregate {
  target: string;
  rounds: number;
  rps: number;
  rpsMin: number;
  rpsMax: number;
  /** Median over rounds of each round's percentile (µs); max is the maximum over rounds. */
  latency: LatencySummary;
  p50Range: [number, number];
  p99Range: [number, number];
  completed: number;
  errorCount: number;
  errors: string[];
  cores: Record<string, number>;
  /** Main-thread run-queue wait share, median over rounds. */
  waits: Record<string, number>;
  otherCores: number;
  otherCoresMax: number;
  machineCores: number;
  rssPeak: Record<string, number>;
}

export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function aggregate(results: RunResult[], workload: Workload['kind'], target: string): Aggregate | undefined {
  const runs = results.filter((r) => r.workload === workload && r.target === target);
  if (runs.length === 0) return undefined;
  const pick = (f: (r: RunResult) => number) => runs.map(f);
  const lat = (k: keyof LatencySummary) => median(pick((r) => r.latency[k]));
  const coreNames = new Set(runs.flatMap((r) => Object.keys(r.cpu.cores)));
  const cores: Record<string, number> = {};
  for (const name of coreNames) cores[name] = median(pick((r) => r.cpu.cores[name] ?? 0));
  const waits: Record<string, number> = {};
  for (const name of coreNames) waits[name] = median(pick((r) => r.cpu.runQueueWait[name] ?? 0));
  const rssNames = new Set(runs.flatMap((r) => Object.keys(r.rssPeak)));
  const rssPeak: Record<string, number> = {};
  for (const name of rssNames) rssPeak[name] = Math.max(...pick((r) => r.rssPeak[name] ?? 0));
  const range = (f: (r: RunResult) => number): [number, number] => [Math.min(...pick(f)), Math.max(...pick(f))];
  return {
    target,
    rounds: runs.length,
    rps: median(pick((r) => r.requestsPerSecond)),
    rpsMin: Math.min(...pick((r) => r.requestsPerSecond)),
    rpsMax: Math.max(...pick((r) => r.requestsPerSecond)),
    latency: {
      count: runs.reduce((s, r) => s + r.latency.count, 0),
      mean: lat('mean'),
      p50: lat('p50'),
      p90: lat('p90'),
      p99: lat('p99'),
      p999: lat('p999'),
      max: Math.max(...pick((r) => r.latency.max)),
    },
    p50Range: range((r) => r.latency.p50),
    p99Range: range((r) => r.latency.p99),
    completed: runs.reduce((s, r) => s + r.completed, 0),
    errorCount: runs.reduce((s, r) => s + r.errorCount, 0),
    errors: runs.flatMap((r) => r.errors).slice(0, 5),
    cores,
    waits,
    otherCores: median(pick((r) => r.cpu.otherCores)),
    otherCoresMax: Math.max(...pick((r) => r.cpu.otherCores)),
    machineCores: median(pick((r) => r.cpu.machineCores)),
    rssPeak,
  };
}

const us = (v: number) => (Number.isFinite(v) ? (v >= 100 ? v.toFixed(0) : v.toFixed(1)) : '–');
const ms = (v: number) => (Number.isFinite(v) ? (v / 1000).toFixed(v >= 10_000 ? 1 : 2) : '–');
const int = (v: number) => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '–');
const mib = (v: number | undefined) => (v === undefined || !Number.isFinite(v) || v === 0 ? '–' : `${(v / 2 ** 20).toFixed(0)} MiB`);
const cores = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(2));
const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined || !Number.isFinite(a / b) ? undefined : a / b);
const pct = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '–' : `${(v * 100).toFixed(0)}%`);
const x = (v: number | undefined) => (v === undefined ? 'n/a' : `${v.toFixed(2)}x`);

/**
 * Ratio a/b per round (the two runs of a round are close in time, so machine noise hits them
 * more alike than runs of different rounds).
 */
export function pairedRatios(results: RunResult[], kind: Workload['kind'], a: string, b: string, f: (r: RunResult) => number): number[] {
  const rounds = [...new Set(results.map((r) => r.round))];
  const out: number[] = [];
  for (const round of rounds) {
    const ra = results.find((r) => r.round === round && r.workload === kind && r.target === a);
    const rb = results.find((r) => r.round === round && r.workload === kind && r.target === b);
    const v = ratio(ra && f(ra), rb && f(rb));
    if (v !== undefined) out.push(v);
  }
  return out;
}

export interface Verdict {
  check: string;
  /** Ratio of the per-target medians. */
  value: number | undefined;
  /** Per-round paired ratios. */
  perRound: number[];
  limit: string;
  pass: boolean | undefined;
  /** The per-round ratios fall on both sides of the limit: more rounds / a quieter machine needed. */
  inconclusive: boolean;
}

export function verdicts(results: RunResult[]): Verdict[] {
  const checks: [string, Workload['kind'], (a: Aggregate) => number, (r: RunResult) => number, number, 'max' | 'min'][] = [
    ['unloaded p50, proxy / haproxy', 'unloaded', (a) => a.latency.p50, (r) => r.latency.p50, 1.1, 'max'],
    ['unloaded p99, proxy / haproxy', 'unloaded', (a) => a.latency.p99, (r) => r.latency.p99, 1.25, 'max'],
    ['saturated throughput, proxy / haproxy', 'saturated', (a) => a.rps, (r) => r.requestsPerSecond, 1.0, 'min'],
  ];
  return checks.map(([check, kind, fa, fr, limit, dir]) => {
    const p = aggregate(results, kind, 'proxy');
    const h = aggregate(results, kind, 'haproxy');
    const value = ratio(p && fa(p), h && fa(h));
    const perRound = pairedRatios(results, kind, 'proxy', 'haproxy', fr);
    const ok = (v: number) => (dir === 'max' ? v <= limit : v >= limit);
    return {
      check,
      value,
      perRound,
      limit: `${dir === 'max' ? '<=' : '>='} ${limit.toFixed(2)}x`,
      pass: value === undefined ? undefined : ok(value),
      inconclusive: perRound.some(ok) && perRound.some((v) => !ok(v)),
    };
  });
}

export function markdownReport(input: ReportInput): string {
  const { results } = input;
  const names = input.targets.map((t) => t.name);
  const out: string[] = [];
  out.push(`# zookeeper-proxy vs HAProxy vs direct — ${input.startedAt.toISOString()}`, '');
  out.push(...input.environment.map((l) => `- ${l}`), '');
  out.push('Settings:', '', ...input.settings.map((l) => `- ${l}`), '');
  out.push('Targets:', '', ...input.targets.map((t) => `- **${t.name}**: ${t.describe}`), '');

  const unloaded = names.map((t) => aggregate(results, 'unloaded', t)).filter((a) => a !== undefined);
  const saturated = names.map((t) => aggregate(results, 'saturated', t)).filter((a) => a !== undefined);
  const all = [...unloaded, ...saturated];
  if (all.length > 0) {
    const other = median(all.map((a) => a.otherCores));
    const otherMax = Math.max(...all.map((a) => a.otherCoresMax));
    out.push(
      `**Machine noise:** processes outside this benchmark used ${other.toFixed(2)} cores (median over measurement windows, max ${otherMax.toFixed(2)}) of ${input.cpuCount}. ` +
        (otherMax > 0.1 ? 'Results are noisy: compare only runs where this is close to 0.' : 'The machine was quiet.'),
      '',
    );
  }

  if (unloaded.length > 0) {
    out.push('## Unloaded latency (1 session, 1 request in flight)', '');
    out.push('Microseconds; each percentile is the median over rounds of that round\'s percentile, max is over all rounds; range = min–max over rounds.', '');
    out.push('| target | p50 µs | p50 range | p99 µs | p99 range | p99.9 µs | max µs | mean µs | requests | errors |');
    out.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const a of unloaded) {
      const l = a.latency;
      out.push(`| ${a.target} | ${us(l.p50)} | ${us(a.p50Range[0])}–${us(a.p50Range[1])} | ${us(l.p99)} | ${us(a.p99Range[0])}–${us(a.p99Range[1])} | ${us(l.p999)} | ${us(l.max)} | ${us(l.mean)} | ${int(a.completed)} | ${a.errorCount} |`);
    }
    out.push('');
  }
  if (saturated.length > 0) {
    out.push('## Saturated throughput (closed loop)', '');
    out.push('Requests/s: median over rounds (min–max). Latency in milliseconds, medians over rounds as above.', '');
    out.push('| target | req/s | range | p50 ms | p99 ms | p99.9 ms | max ms | requests | errors |');
    out.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const a of saturated) {
      const l = a.latency;
      out.push(`| ${a.target} | ${int(a.rps)} | ${int(a.rpsMin)}–${int(a.rpsMax)} | ${ms(l.p50)} | ${ms(l.p99)} | ${ms(l.p999)} | ${ms(l.max)} | ${int(a.completed)} | ${a.errorCount} |`);
    }
    out.push('');
  }
  const cpuTable = (title: string, rows: Aggregate[], perRequest: boolean) => {
    if (rows.length === 0) return;
    out.push(`## CPU during ${title} (cores = CPU seconds / wall seconds, median over rounds)`, '');
    out.push(
      perRequest
        ? '`in the middle` is haproxy or zookeeper-proxy (whichever the target goes through); µs/req = CPU time per request; ' +
            '"waits for CPU" = share of the time its event-loop thread was runnable but had no core (/proc/<pid>/schedstat): CPU starvation on this box.'
        : '`in the middle` is haproxy or zookeeper-proxy (whichever the target goes through); "waits for CPU" as above.',
      '',
    );
    out.push(`| target | load generator | in the middle | middle waits for CPU | ${perRequest ? 'middle µs/req | generator µs/req | ZooKeeper µs/req | ' : ''}ZooKeeper JVMs | other processes | machine busy |`);
    out.push(`| --- | ---: | ---: | ---: | ${perRequest ? '---: | ---: | ---: | ' : ''}---: | ---: | ---: |`);
    for (const a of rows) {
      const middle = a.target === 'direct' ? undefined : a.cores[a.target];
      const per = (c: number | undefined) => (c === undefined || !(a.rps > 0) ? '–' : ((c * 1e6) / a.rps).toFixed(1));
      out.push(
        `| ${a.target} | ${cores(a.cores['generator'])} | ${cores(middle)} | ${a.target === 'direct' ? '–' : pct(a.waits[a.target])} | ${perRequest ? `${per(middle)} | ${per(a.cores['generator'])} | ${per(a.cores['zookeeper'])} | ` : ''}${cores(a.cores['zookeeper'])} | ${cores(a.otherCores)} | ${cores(a.machineCores)} |`,
      );
    }
    out.push('');
  };
  cpuTable('the saturated runs', saturated, true);
  cpuTable('the unloaded runs', unloaded, false);

  const proxySat = aggregate(results, 'saturated', 'proxy');
  const haSat = aggregate(results, 'saturated', 'haproxy');
  if (names.includes('proxy') || names.includes('haproxy')) {
    out.push('## Memory (RSS)', '');
    out.push('| process | idle (after start) | peak during saturated runs against it | at the end |');
    out.push('| --- | ---: | ---: | ---: |');
    if (names.includes('proxy')) out.push(`| zookeeper-proxy | ${mib(input.proxyRss.idle)} | ${mib(proxySat?.rssPeak['proxy'])} | ${mib(input.proxyRss.end)} |`);
    if (names.includes('haproxy')) out.push(`| haproxy | – | ${mib(haSat?.rssPeak['haproxy'])} | – |`);
    if (saturated.length > 0) out.push(`| load generator (one process) | – | ${mib(Math.max(...saturated.map((a) => a.rssPeak['generator'] ?? 0)))} | – |`);
    out.push('');
  }

  out.push('## Ratios', '');
  out.push(
    'Ratio of the per-target medians; in parentheses the min–max of the per-round ratios (both runs of a pair are in the same round, close in time). ' +
      'Latency ratios > 1 are slower; throughput ratios < 1 are slower.',
    '',
  );
  out.push('| metric | proxy / haproxy | proxy / direct | haproxy / direct |');
  out.push('| --- | ---: | ---: | ---: |');
  const rows: [string, Workload['kind'], (a: Aggregate) => number, (r: RunResult) => number][] = [
    ['unloaded p50', 'unloaded', (a) => a.latency.p50, (r) => r.latency.p50],
    ['unloaded p99', 'unloaded', (a) => a.latency.p99, (r) => r.latency.p99],
    ['unloaded p99.9', 'unloaded', (a) => a.latency.p999, (r) => r.latency.p999],
    ['saturated req/s', 'saturated', (a) => a.rps, (r) => r.requestsPerSecond],
    ['saturated p50', 'saturated', (a) => a.latency.p50, (r) => r.latency.p50],
    ['saturated p99', 'saturated', (a) => a.latency.p99, (r) => r.latency.p99],
  ];
  for (const [label, kind, f, fr] of rows) {
    if (!input.workloads.some((w) => w.kind === kind)) continue;
    const v = (t: string) => {
      const a = aggregate(results, kind, t);
      return a === undefined ? undefined : f(a);
    };
    const cell = (a: string, b: string) => {
      const r = ratio(v(a), v(b));
      const per = pairedRatios(results, kind, a, b, fr);
      return r === undefined ? 'n/a' : per.length > 1 ? `${x(r)} (${Math.min(...per).toFixed(2)}–${Math.max(...per).toFixed(2)})` : x(r);
    };
    out.push(`| ${label} | ${cell('proxy', 'haproxy')} | ${cell('proxy', 'direct')} | ${cell('haproxy', 'direct')} |`);
  }
  out.push('');

  out.push('## Targets', '');
  out.push('Verdict on the ratio of medians; "inconclusive" when the per-round ratios fall on both sides of the limit.', '');
  out.push('| check | measured | per round | target | result |');
  out.push('| --- | ---: | ---: | ---: | --- |');
  for (const v of verdicts(results)) {
    const result = v.pass === undefined ? 'n/a' : `${v.pass ? 'PASS' : '**FAIL**'}${v.inconclusive ? ' (inconclusive)' : ''}`;
    out.push(`| ${v.check} | ${x(v.value)} | ${v.perRound.map((r) => r.toFixed(2)).join(', ') || '–'} | ${v.limit} | ${result} |`);
  }
  out.push('');

  out.push('## Per round', '');
  out.push('| round | workload | target | req/s | p50 µs | p99 µs | max µs | generator cores | middle cores | middle waits for CPU | ZooKeeper cores | other cores | errors |');
  out.push('| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of results) {
    const middle = r.target === 'direct' ? undefined : r.cpu.cores[r.target];
    out.push(
      `| ${r.round + 1} | ${r.workload} | ${r.target} | ${int(r.requestsPerSecond)} | ${us(r.latency.p50)} | ${us(r.latency.p99)} | ${us(r.latency.max)} | ${cores(r.cpu.cores['generator'])} | ${cores(middle)} | ${r.target === 'direct' ? '–' : pct(r.cpu.runQueueWait[r.target])} | ${cores(r.cpu.cores['zookeeper'])} | ${cores(r.cpu.otherCores)} | ${r.errorCount} |`,
    );
  }
  out.push('');
  const errors = results.filter((r) => r.errorCount > 0);
  if (errors.length > 0) {
    out.push('## Errors', '');
    for (const r of errors) out.push(`- round ${r.round + 1} ${r.workload} ${r.target}: ${r.errorCount} errors, e.g. ${r.errors.slice(0, 3).join('; ')}`);
    out.push('');
  }
  if (input.notes.length > 0) out.push('## Notes', '', ...input.notes.map((n) => `- ${n}`), '');
  return out.join('\n');
}

const COLORS: Record<string, string> = { direct: '#888888', haproxy: '#4477aa', proxy: '#ee7733' };

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Grouped bars: one group per label, one bar per series. Returns SVG elements for a panel at (x0, y0). */
function panel(
  x0: number,
  y0: number,
  width: number,
  height: number,
  title: string,
  unit: string,
  groups: string[],
  series: { name: string; values: (number | undefined)[] }[],
  format: (v: number) => string,
  log = false,
): string {
  const parts: string[] = [];
  const top = 34;
  const bottom = 40;
  const left = 54;
  const plotH = height - top - bottom;
  const plotW = width - left - 10;
  const finite = series.flatMap((s) => s.values.filter((v): v is number => v !== undefined && Number.isFinite(v) && v > 0));
  const maxValue = Math.max(1e-9, ...finite);
  let y: (v: number) => number;
  let ticks: number[];
  if (log) {
    // Log scale from the decade below the smallest value to a little above the largest.
    const lo = 10 ** Math.floor(Math.log10(Math.min(maxValue, ...finite)));
    const hi = maxValue * 1.3;
    const span = Math.log10(hi / lo);
    y = (v: number) => y0 + top + plotH - (Math.log10(Math.max(v, lo) / lo) / span) * plotH;
    ticks = [];
    for (let d = lo; d <= hi * 1.001; d *= 10) for (const m of [1, 2, 5]) if (d * m <= hi * 1.001) ticks.push(d * m);
  } else {
    const step = niceStep(maxValue / 4);
    const yMax = Math.ceil(maxValue / step) * step;
    y = (v: number) => y0 + top + plotH - (v / yMax) * plotH;
    ticks = [];
    for (let v = 0; v <= yMax + step / 2; v += step) ticks.push(v);
  }
  parts.push(`<text x="${x0 + width / 2}" y="${y0 + 18}" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>`);
  for (const v of ticks) {
    parts.push(`<line x1="${x0 + left}" x2="${x0 + left + plotW}" y1="${y(v)}" y2="${y(v)}" stroke="#e4e4e4"/>`);
    parts.push(`<text x="${x0 + left - 6}" y="${y(v) + 4}" text-anchor="end" font-size="10" fill="#555">${esc(format(v))}</text>`);
  }
  parts.push(`<text x="${x0 + 12}" y="${y0 + top + plotH / 2}" font-size="11" fill="#555" transform="rotate(-90 ${x0 + 12} ${y0 + top + plotH / 2})" text-anchor="middle">${esc(unit)}</text>`);
  const groupW = plotW / groups.length;
  const barW = Math.min(36, (groupW * 0.8) / series.length);
  groups.forEach((g, gi) => {
    const gx = x0 + left + gi * groupW + (groupW - barW * series.length) / 2;
    series.forEach((s, si) => {
      const v = s.values[gi];
      if (v === undefined || !Number.isFinite(v)) return;
      const bx = gx + si * barW;
      parts.push(`<rect x="${bx.toFixed(1)}" y="${y(v).toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${(y0 + top + plotH - y(v)).toFixed(1)}" fill="${COLORS[s.name] ?? '#333'}"><title>${esc(`${s.name} ${g}: ${format(v)} ${unit}`)}</title></rect>`);
      parts.push(`<text x="${(bx + (barW - 2) / 2).toFixed(1)}" y="${(y(v) - 3).toFixed(1)}" text-anchor="middle" font-size="9" fill="#333">${esc(format(v))}</text>`);
    });
    parts.push(`<text x="${x0 + left + gi * groupW + groupW / 2}" y="${y0 + top + plotH + 16}" text-anchor="middle" font-size="11">${esc(g)}</text>`);
  });
  parts.push(`<line x1="${x0 + left}" x2="${x0 + left + plotW}" y1="${y0 + top + plotH}" y2="${y0 + top + plotH}" stroke="#333"/>`);
  return parts.join('\n');
}

function niceStep(raw: number): number {
  const p = 10 ** Math.floor(Math.log10(raw));
  const m = raw / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 2.5 ? 2.5 : m <= 5 ? 5 : 10) * p;
}

export function svgChart(input: ReportInput): string {
  const names = input.targets.map((t) => t.name);
  const W = 1080;
  const H = 380;
  const panels: string[] = [];
  const pct = ['p50', 'p99', 'p99.9'] as const;
  const pick = (a: Aggregate | undefined) => (a === undefined ? [undefined, undefined, undefined] : [a.latency.p50, a.latency.p99, a.latency.p999]);
  const hasU = input.workloads.some((w) => w.kind === 'unloaded');
  const hasS = input.workloads.some((w) => w.kind === 'saturated');
  const specs: {
    title: string;
    unit: string;
    groups: string[];
    series: { name: string; values: (number | undefined)[] }[];
    format: (v: number) => string;
    log?: boolean;
  }[] = [];
  if (hasU) {
    specs.push({
      title: 'Unloaded latency (1 session, 1 in flight)',
      unit: 'µs (log scale)',
      log: true,
      groups: [...pct],
      series: names.map((t) => ({ name: t, values: pick(aggregate(input.results, 'unloaded', t)) })),
      format: (v) => (v >= 10 ? v.toFixed(0) : v.toFixed(1)),
    });
  }
  if (hasS) {
    specs.push({
      title: 'Saturated latency',
      unit: 'ms (log scale)',
      log: true,
      groups: [...pct],
      series: names.map((t) => ({ name: t, values: pick(aggregate(input.results, 'saturated', t)).map((v) => (v === undefined ? v : v / 1000)) })),
      format: (v) => (v >= 10 ? v.toFixed(0) : v.toFixed(1)),
    });
    specs.push({
      title: 'Saturated throughput',
      unit: 'requests/s',
      groups: ['req/s'],
      series: names.map((t) => ({ name: t, values: [aggregate(input.results, 'saturated', t)?.rps] })),
      format: (v) => (v >= 1000 ? `${(v / 1000).toFixed(v >= 10_000 ? 0 : 1)}k` : v.toFixed(0)),
    });
  }
  const widths = specs.map((s) => (s.groups.length === 1 ? 0.22 : 0.39));
  const scale = 1 / widths.reduce((a, b) => a + b, 0);
  let x0 = 0;
  specs.forEach((s, i) => {
    const w = W * widths[i]! * scale;
    panels.push(panel(x0, 0, w, H - 30, s.title, s.unit, s.groups, s.series, s.format, s.log));
    x0 += w;
  });
  const legend = names
    .map((t, i) => `<rect x="${20 + i * 120}" y="${H - 22}" width="12" height="12" fill="${COLORS[t] ?? '#333'}"/><text x="${36 + i * 120}" y="${H - 12}" font-size="12">${esc(t)}</text>`)
    .join('\n');
  const caption = `<text x="${W - 10}" y="${H - 12}" text-anchor="end" font-size="10" fill="#777">${esc(`${input.startedAt.toISOString()} — medians over ${input.rounds} round(s)`)}</text>`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    ...panels,
    legend,
    caption,
    '</svg>',
    '',
  ].join('\n');
}
