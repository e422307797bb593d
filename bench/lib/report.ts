/** Markdown report and SVG chart (latency vs throughput curves, relative throughput) for a benchmark run. */
import type { RunResult } from './driver.ts';
import type { LatencySummary } from './histogram.ts';
import { WORKLOAD_TITLES, WORKLOADS, type BenchCase, type WorkloadName } from './workloads.ts';

export interface ReportInput {
  startedAt: Date;
  environment: string[];
  settings: string[];
  targets: { name: string; describe: string }[];
  cases: BenchCase[];
  rounds: number;
  results: RunResult[];
  notes: string[];
  cpuCount: number;
}

/** One case against one target, over rounds: medians, except max (over all rounds) and counts (sums). */
export interface Aggregate {
  target: string;
  case: string;
  workload: WorkloadName;
  x: number | undefined;
  rounds: number;
  rate: number;
  rateRange: [number, number];
  latency: LatencySummary;
  completed: number;
  errorCount: number;
  errors: string[];
  middleCores: number;
  middleWait: number;
  zookeeperCores: number;
  generatorCores: number;
  otherCores: number;
  otherCoresMax: number;
  rssBefore: number;
  rssPeak: number;
  rssHolding: number;
  roundMs: number;
  connectMs: number;
}

export function median(values: number[]): number {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length === 0) return NaN;
  const s = [...finite].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function maxOrNaN(values: number[]): number {
  const finite = values.filter((v) => Number.isFinite(v));
  return finite.length === 0 ? NaN : Math.max(...finite);
}

export function aggregate(results: RunResult[], caseName: string, target: string): Aggregate | undefined {
  const runs = results.filter((r) => r.case === caseName && r.target === target);
  if (runs.length === 0) return undefined;
  const m = (f: (r: RunResult) => number | undefined) => median(runs.map((r) => f(r) ?? NaN));
  const lat = (k: keyof LatencySummary) => m((r) => r.latency[k]);
  const rates = runs.map((r) => r.rate);
  return {
    target,
    case: caseName,
    workload: runs[0]!.workload,
    x: runs[0]!.x,
    rounds: runs.length,
    rate: median(rates),
    rateRange: [Math.min(...rates), Math.max(...rates)],
    latency: {
      count: runs.reduce((s, r) => s + r.latency.count, 0),
      mean: lat('mean'),
      p50: lat('p50'),
      p90: lat('p90'),
      p99: lat('p99'),
      p999: lat('p999'),
      max: Math.max(...runs.map((r) => r.latency.max)),
    },
    completed: runs.reduce((s, r) => s + r.completed, 0),
    errorCount: runs.reduce((s, r) => s + r.errorCount, 0),
    errors: runs.flatMap((r) => r.errors).slice(0, 5),
    middleCores: m((r) => r.cpu.cores['middle']),
    middleWait: m((r) => r.cpu.runQueueWait['middle']),
    zookeeperCores: m((r) => r.cpu.cores['zookeeper']),
    generatorCores: m((r) => r.cpu.cores['generator']),
    otherCores: m((r) => r.cpu.otherCores),
    otherCoresMax: Math.max(...runs.map((r) => r.cpu.otherCores)),
    rssBefore: m((r) => r.middleRss.before),
    rssPeak: maxOrNaN(runs.map((r) => r.middleRss.peak ?? NaN)),
    rssHolding: m((r) => r.middleRss.holding),
    roundMs: m((r) => median(r.roundMs)),
    connectMs: m((r) => r.connectMs),
  };
}

const fmtLatency = (usValue: number) =>
  !Number.isFinite(usValue)
    ? '–'
    : usValue >= 10_000
      ? `${(usValue / 1000).toFixed(1)} ms`
      : usValue >= 1000
        ? `${(usValue / 1000).toFixed(2)} ms`
        : `${usValue.toFixed(0)} µs`;
const int = (v: number) => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '–');
const mib = (v: number | undefined) => (v === undefined || !Number.isFinite(v) || v === 0 ? '–' : `${(v / 2 ** 20).toFixed(0)} MiB`);
const cores = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(2));
const ratio = (a: number | undefined, b: number | undefined) =>
  a === undefined || b === undefined || !Number.isFinite(a / b) ? undefined : a / b;
const pct = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '–' : `${(v * 100).toFixed(0)}%`);
const xr = (v: number | undefined) => (v === undefined ? '–' : `${v.toFixed(2)}x`);
const isProxy = (t: string) => t.startsWith('proxy');

/** a/b per round (runs of a round are close in time, so machine noise hits them more alike). */
export function pairedRatios(results: RunResult[], caseName: string, a: string, b: string, f: (r: RunResult) => number): number[] {
  const out: number[] = [];
  for (const round of new Set(results.map((r) => r.round))) {
    const ra = results.find((r) => r.round === round && r.case === caseName && r.target === a);
    const rb = results.find((r) => r.round === round && r.case === caseName && r.target === b);
    const v = ratio(ra && f(ra), rb && f(rb));
    if (v !== undefined) out.push(v);
  }
  return out;
}

/** RSS with `sessions` idle sessions: measured, or extrapolated linearly from the growth per held session. */
function rssAt(idle: Aggregate, sessions: number): number {
  if (idle.rate >= sessions || !Number.isFinite(idle.rssBefore)) return idle.rssHolding;
  return idle.rssBefore + ((idle.rssHolding - idle.rssBefore) * sessions) / idle.rate;
}

export interface Verdict {
  check: string;
  target: string;
  measured: string;
  limit: string;
  pass: boolean | undefined;
  /** Per-round ratios on both sides of the limit: more rounds / a quieter machine needed. */
  inconclusive: boolean;
}

/** The issue's targets, per proxy variant; cases not run are left out. */
export function verdicts(input: Pick<ReportInput, 'results' | 'targets'>): Verdict[] {
  const { results } = input;
  const proxies = input.targets.map((t) => t.name).filter(isProxy);
  const out: Verdict[] = [];
  const versusHaproxy = (check: string, caseName: string, f: (r: RunResult) => number, limit: number, dir: 'max' | 'min') => {
    for (const p of proxies) {
      const a = aggregate(results, caseName, p);
      const h = aggregate(results, caseName, 'haproxy');
      if (!a || !h) continue;
      const per = pairedRatios(results, caseName, p, 'haproxy', f);
      const value = median(per);
      const ok = (v: number) => (dir === 'max' ? v <= limit : v >= limit);
      out.push({
        check,
        target: p,
        measured: `${xr(value)} (rounds: ${per.map((v) => v.toFixed(2)).join(', ')})`,
        limit: `${dir === 'max' ? '<=' : '>='} ${limit.toFixed(2)}x`,
        pass: Number.isFinite(value) ? ok(value) : undefined,
        inconclusive: per.some(ok) && per.some((v) => !ok(v)),
      });
    }
  };
  versusHaproxy('unloaded p50 / haproxy', 'unloaded', (r) => r.latency.p50, 1.1, 'max');
  versusHaproxy('unloaded p99 / haproxy', 'unloaded', (r) => r.latency.p99, 1.25, 'max');
  versusHaproxy('saturated getData req/s / haproxy', 'read', (r) => r.rate, 1.0, 'min');
  const tenantCases = [...new Set(results.filter((r) => r.workload === 'tenants').map((r) => r.x!))].sort((a, b) => a - b);
  if (tenantCases.length > 1) {
    const lo = tenantCases[0]!;
    const hi = tenantCases.at(-1)!;
    /** Per round: rate at the most tenants / rate at the fewest, for one target. */
    const change = (target: string) =>
      [...new Set(results.map((r) => r.round))].flatMap((round) => {
        const a = results.find((r) => r.round === round && r.case === `tenants-${hi}` && r.target === target);
        const b = results.find((r) => r.round === round && r.case === `tenants-${lo}` && r.target === target);
        const v = ratio(a?.rate, b?.rate);
        return v === undefined ? [] : [v];
      });
    const haproxy = median(change('haproxy'));
    for (const p of proxies) {
      const per = change(p);
      const value = median(per);
      const reference = Number.isFinite(haproxy) ? ` (haproxy: ${xr(haproxy)})` : '';
      out.push({
        check: `req/s at ${hi} tenants / at ${lo}`,
        target: p,
        measured: `${xr(value)}${reference}`,
        limit: '>= 0.95x',
        pass: Number.isFinite(value) ? value >= 0.95 : undefined,
        inconclusive: per.some((v) => v >= 0.95) && per.some((v) => v < 0.95),
      });
      // The ensemble's own cost may change with the number of chroots read: what the proxy adds is its change relative to haproxy's.
      if (Number.isFinite(haproxy)) {
        const relative = value / haproxy;
        out.push({
          check: `the same, relative to haproxy's change`,
          target: p,
          measured: xr(relative),
          limit: '>= 0.95x',
          pass: Number.isFinite(relative) ? relative >= 0.95 : undefined,
          inconclusive: false,
        });
      }
    }
  }
  for (const p of proxies) {
    const idle = aggregate(results, 'idle', p);
    if (idle && Number.isFinite(idle.rssHolding)) {
      const limitMb = 150;
      const at10k = rssAt(idle, 10_000);
      const measured =
        idle.rate >= 10_000 ? mib(idle.rssHolding) : `${mib(at10k)} extrapolated (${mib(idle.rssHolding)} with ${int(idle.rate)})`;
      out.push({
        check: 'RSS with 10,000 idle sessions',
        target: p,
        measured,
        limit: `<= ${limitMb} MiB`,
        pass: at10k <= limitMb * 2 ** 20,
        inconclusive: false,
      });
    }
    const storm = aggregate(results, 'connstorm', p);
    if (storm) {
      const direct = aggregate(results, 'connstorm', 'direct');
      const floor = Math.min(1000, direct?.rate ?? 1000);
      out.push({
        check: 'new sessions/s',
        target: p,
        measured: `${int(storm.rate)}/s (direct: ${direct ? `${int(direct.rate)}/s` : 'not run'})`,
        limit: `>= ${int(floor)}/s`,
        pass: storm.rate >= floor,
        inconclusive: false,
      });
    }
  }
  const errors = results.reduce((s, r) => s + r.errorCount, 0);
  out.push({ check: 'errors in all runs', target: 'all', measured: String(errors), limit: '0', pass: errors === 0, inconclusive: false });
  return out;
}

export function markdownReport(input: ReportInput): string {
  const { results } = input;
  const names = input.targets.map((t) => t.name);
  const out: string[] = [];
  out.push(`# zookeeper-proxy load benchmark — ${input.startedAt.toISOString()}`, '');
  out.push(...input.environment.map((l) => `- ${l}`), '');
  out.push('Settings:', '', ...input.settings.map((l) => `- ${l}`), '');
  out.push('Targets:', '', ...input.targets.map((t) => `- **${t.name}**: ${t.describe}`), '');
  const all = results.map((r) => r.cpu.otherCores);
  if (all.length > 0) {
    const otherMax = Math.max(...all);
    out.push(
      `**Machine noise:** processes outside this benchmark used ${median(all).toFixed(2)} cores (median over measurement windows, max ${otherMax.toFixed(2)}) of ${input.cpuCount}. ` +
        (otherMax > 0.1 ? 'Results are noisy: compare only runs where this is close to 0.' : 'The machine was quiet.'),
      '',
    );
  }
  out.push(
    '## Targets',
    '',
    'Ratios are medians of per-round ratios (both runs of a pair are in the same round); "inconclusive" when rounds fall on both sides of the limit.',
    '',
  );
  out.push('| check | proxy | measured | target | result |', '| --- | --- | ---: | ---: | --- |');
  for (const v of verdicts(input)) {
    out.push(
      `| ${v.check} | ${v.target} | ${v.measured} | ${v.limit} | ${v.pass === undefined ? 'n/a' : `${v.pass ? 'PASS' : '**FAIL**'}${v.inconclusive ? ' (inconclusive)' : ''}`} |`,
    );
  }
  out.push('');

  const caseNames = [...new Set(input.cases.map((c) => c.name))];
  for (const workload of WORKLOADS) {
    const cases = caseNames.filter((n) => input.cases.find((c) => c.name === n)!.workload === workload);
    const rows = cases.flatMap((c) => names.map((t) => aggregate(results, c, t)).filter((a) => a !== undefined));
    if (rows.length === 0) continue;
    out.push(`## ${WORKLOAD_TITLES[workload]}`, '');
    const caseCol = cases.length > 1;
    const head = (cols: string[]) => {
      out.push(`| ${caseCol ? 'case | ' : ''}target | ${cols.join(' | ')} |`);
      out.push(`| ${caseCol ? '--- | ' : ''}--- | ${cols.map(() => '---:').join(' | ')} |`);
    };
    const row = (a: Aggregate, cells: string[]) => out.push(`| ${caseCol ? `${a.case} | ` : ''}${a.target} | ${cells.join(' | ')} |`);
    const versus = (a: Aggregate, f: (r: RunResult) => number) =>
      a.target === 'haproxy' ? '1.00x' : xr(median(pairedRatios(results, a.case, a.target, 'haproxy', f)));
    const perOp = (a: Aggregate) =>
      a.rate > 0 && Number.isFinite(a.middleCores) && a.target !== 'direct' ? ((a.middleCores * 1e6) / a.rate).toFixed(1) : '–';
    if (workload === 'idle') {
      head([
        'sessions held',
        'connect time',
        'middle RSS before',
        'middle RSS holding',
        'KiB / session',
        'RSS at 10,000',
        'handshake p50',
        'handshake p99',
        'errors',
      ]);
      for (const a of rows) {
        const direct = a.target === 'direct';
        const perSession = a.rate > 0 ? `${((a.rssHolding - a.rssBefore) / 1024 / a.rate).toFixed(1)}` : '–';
        const at10k = a.rate >= 10_000 ? mib(a.rssHolding) : `${mib(rssAt(a, 10_000))} (extrapolated)`;
        row(a, [
          int(a.rate),
          `${(a.connectMs / 1000).toFixed(1)} s`,
          direct ? '–' : mib(a.rssBefore),
          direct ? '–' : mib(a.rssHolding),
          direct ? '–' : perSession,
          direct ? '–' : at10k,
          fmtLatency(a.latency.p50),
          fmtLatency(a.latency.p99),
          String(a.errorCount),
        ]);
      }
    } else if (workload === 'connstorm') {
      head(['sessions/s', 'vs haproxy', 'handshake p50', 'p99', 'p99.9', 'max', 'middle cores', 'middle µs / session', 'errors']);
      for (const a of rows)
        row(a, [
          int(a.rate),
          versus(a, (r) => r.rate),
          fmtLatency(a.latency.p50),
          fmtLatency(a.latency.p99),
          fmtLatency(a.latency.p999),
          fmtLatency(a.latency.max),
          a.target === 'direct' ? '–' : cores(a.middleCores),
          perOp(a),
          String(a.errorCount),
        ]);
    } else if (workload === 'watchstorm') {
      head(['notifications', 'last notification after (median over changes)', 'notification p50', 'p99', 'p99.9', 'max', 'errors']);
      for (const a of rows)
        row(a, [
          int(a.completed),
          fmtLatency(a.roundMs * 1000),
          fmtLatency(a.latency.p50),
          fmtLatency(a.latency.p99),
          fmtLatency(a.latency.p999),
          fmtLatency(a.latency.max),
          String(a.errorCount),
        ]);
    } else {
      head([
        'req/s',
        'vs haproxy',
        'p50',
        'p99',
        'p99.9',
        'max',
        'middle cores',
        'middle waits for CPU',
        'middle µs / req',
        'middle RSS peak',
        'ZooKeeper cores',
        'errors',
      ]);
      for (const a of rows) {
        row(a, [
          `${int(a.rate)}${a.rounds > 1 ? ` (${int(a.rateRange[0])}–${int(a.rateRange[1])})` : ''}`,
          versus(a, (r) => (workload === 'unloaded' ? 1 / r.latency.p50 : r.rate)),
          fmtLatency(a.latency.p50),
          fmtLatency(a.latency.p99),
          fmtLatency(a.latency.p999),
          fmtLatency(a.latency.max),
          a.target === 'direct' ? '–' : cores(a.middleCores),
          a.target === 'direct' ? '–' : pct(a.middleWait),
          perOp(a),
          mib(a.rssPeak),
          cores(a.zookeeperCores),
          String(a.errorCount),
        ]);
      }
      if (workload === 'unloaded') out.push('', '"vs haproxy" here is haproxy p50 / this p50 (> 1 is faster).');
    }
    out.push('');
  }
  out.push(
    '"middle" is haproxy or zookeeper-proxy (all its processes); µs / req = its CPU time per request; "waits for CPU" = share of time its main thread was runnable without a core (/proc/<pid>/schedstat): CPU starvation on this box.',
    '',
  );

  out.push('## Per round', '');
  out.push('| round | case | target | rate | p50 | p99 | max | generator cores | middle cores | ZooKeeper cores | other cores | errors |');
  out.push('| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of results) {
    out.push(
      `| ${r.round + 1} | ${r.case} | ${r.target} | ${int(r.rate)} | ${fmtLatency(r.latency.p50)} | ${fmtLatency(r.latency.p99)} | ${fmtLatency(r.latency.max)} | ${cores(r.cpu.cores['generator'])} | ${r.target === 'direct' ? '–' : cores(r.cpu.cores['middle'])} | ${cores(r.cpu.cores['zookeeper'])} | ${cores(r.cpu.otherCores)} | ${r.errorCount} |`,
    );
  }
  out.push('');
  const errors = results.filter((r) => r.errorCount > 0);
  if (errors.length > 0) {
    out.push('## Errors', '');
    for (const r of errors)
      out.push(`- round ${r.round + 1} ${r.case} ${r.target}: ${r.errorCount} errors, e.g. ${r.errors.slice(0, 3).join('; ')}`);
    out.push('');
  }
  if (input.notes.length > 0) out.push('## Notes', '', ...input.notes.map((n) => `- ${n}`), '');
  return out.join('\n');
}

const COLORS: Record<string, string> = {
  direct: '#888888',
  haproxy: '#4477aa',
  'proxy-1w': '#ee7733',
  'proxy-all': '#228833',
  'proxy-ref': '#aa3377',
};

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
  parts.push(
    `<text x="${x0 + 12}" y="${y0 + top + plotH / 2}" font-size="11" fill="#555" transform="rotate(-90 ${x0 + 12} ${y0 + top + plotH / 2})" text-anchor="middle">${esc(unit)}</text>`,
  );
  const groupW = plotW / groups.length;
  const barW = Math.min(36, (groupW * 0.8) / series.length);
  groups.forEach((g, gi) => {
    const gx = x0 + left + gi * groupW + (groupW - barW * series.length) / 2;
    series.forEach((s, si) => {
      const v = s.values[gi];
      if (v === undefined || !Number.isFinite(v)) return;
      const bx = gx + si * barW;
      parts.push(
        `<rect x="${bx.toFixed(1)}" y="${y(v).toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${(y0 + top + plotH - y(v)).toFixed(1)}" fill="${COLORS[s.name] ?? '#333'}"><title>${esc(`${s.name} ${g}: ${format(v)} ${unit}`)}</title></rect>`,
      );
      parts.push(
        `<text x="${(bx + (barW - 2) / 2).toFixed(1)}" y="${(y(v) - 3).toFixed(1)}" text-anchor="middle" font-size="9" fill="#333">${esc(format(v))}</text>`,
      );
    });
    parts.push(
      `<text x="${x0 + left + gi * groupW + groupW / 2}" y="${y0 + top + plotH + 16}" text-anchor="middle" font-size="11">${esc(g)}</text>`,
    );
  });
  parts.push(`<line x1="${x0 + left}" x2="${x0 + left + plotW}" y1="${y0 + top + plotH}" y2="${y0 + top + plotH}" stroke="#333"/>`);
  return parts.join('\n');
}

function niceStep(raw: number): number {
  const p = 10 ** Math.floor(Math.log10(raw));
  const m = raw / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 2.5 ? 2.5 : m <= 5 ? 5 : 10) * p;
}

/** Latency (log y) against throughput (linear x), one line per target through its curve points. */
function curvePanel(
  x0: number,
  y0: number,
  width: number,
  height: number,
  title: string,
  lines: { name: string; dash: boolean; points: [number, number][] }[],
): string {
  const parts: string[] = [];
  const top = 34;
  const bottom = 40;
  const left = 60;
  const plotH = height - top - bottom;
  const plotW = width - left - 20;
  const xs = lines.flatMap((l) => l.points.map((p) => p[0]));
  const ys = lines.flatMap((l) => l.points.map((p) => p[1])).filter((v) => v > 0);
  if (xs.length === 0 || ys.length === 0) return '';
  const xStep = niceStep(Math.max(...xs) / 4);
  const xMax = Math.ceil(Math.max(...xs) / xStep) * xStep;
  const lo = 10 ** Math.floor(Math.log10(Math.min(...ys)));
  const hi = Math.max(...ys) * 1.3;
  const span = Math.log10(hi / lo);
  const X = (v: number) => x0 + left + (v / xMax) * plotW;
  const Y = (v: number) => y0 + top + plotH - (Math.log10(Math.max(v, lo) / lo) / span) * plotH;
  parts.push(`<text x="${x0 + width / 2}" y="${y0 + 18}" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>`);
  for (let d = lo; d <= hi; d *= 10) {
    for (const m of [1, 2, 5]) {
      const v = d * m;
      if (v > hi) continue;
      parts.push(`<line x1="${x0 + left}" x2="${x0 + left + plotW}" y1="${Y(v)}" y2="${Y(v)}" stroke="#e4e4e4"/>`);
      parts.push(`<text x="${x0 + left - 6}" y="${Y(v) + 4}" text-anchor="end" font-size="10" fill="#555">${esc(fmtLatency(v))}</text>`);
    }
  }
  for (let v = 0; v <= xMax + xStep / 2; v += xStep) {
    parts.push(
      `<text x="${X(v)}" y="${y0 + top + plotH + 14}" text-anchor="middle" font-size="10" fill="#555">${esc(v >= 1000 ? `${(v / 1000).toFixed(0)}k` : v.toFixed(0))}</text>`,
    );
  }
  parts.push(
    `<text x="${x0 + left + plotW / 2}" y="${y0 + top + plotH + 30}" text-anchor="middle" font-size="11" fill="#555">requests/s (in flight: 1 → max along each line)</text>`,
  );
  parts.push(`<line x1="${x0 + left}" x2="${x0 + left + plotW}" y1="${y0 + top + plotH}" y2="${y0 + top + plotH}" stroke="#333"/>`);
  parts.push(`<line x1="${x0 + left}" x2="${x0 + left}" y1="${y0 + top}" y2="${y0 + top + plotH}" stroke="#333"/>`);
  for (const line of lines) {
    const color = COLORS[line.name] ?? '#333';
    const pts = line.points.map(([x, y]) => `${X(x).toFixed(1)},${Y(y).toFixed(1)}`).join(' ');
    parts.push(`<polyline points="${pts}" fill="none" stroke="${color}" stroke-width="2"${line.dash ? ' stroke-dasharray="5 4"' : ''}/>`);
    for (const [x, y] of line.points)
      parts.push(
        `<circle cx="${X(x).toFixed(1)}" cy="${Y(y).toFixed(1)}" r="2.5" fill="${color}"><title>${esc(`${line.name}: ${Math.round(x)} req/s, ${fmtLatency(y)}`)}</title></circle>`,
      );
  }
  return parts.join('\n');
}

export function svgChart(input: ReportInput): string {
  const names = input.targets.map((t) => t.name);
  const W = 1200;
  const H = 420;
  const panels: string[] = [];
  const curveCases = input.cases.filter((c) => c.workload === 'curve').sort((a, b) => a.x! - b.x!);
  const haveCurve = curveCases.length > 0;
  const barCases = input.cases
    .filter((c) => ['read', 'write', 'mixed', 'large', 'tenants', 'connstorm'].includes(c.workload))
    .map((c) => c.name);
  const curveW = haveCurve ? (barCases.length > 0 ? W * 0.55 : W) : 0;
  if (haveCurve) {
    const lines = names.flatMap((t) => {
      const aggs = curveCases.map((c) => aggregate(input.results, c.name, t)).filter((a) => a !== undefined);
      return [
        { name: t, dash: false, points: aggs.map((a): [number, number] => [a.rate, a.latency.p50]) },
        { name: t, dash: true, points: aggs.map((a): [number, number] => [a.rate, a.latency.p99]) },
      ];
    });
    panels.push(curvePanel(0, 0, curveW, H - 30, 'getData 100 B: latency vs throughput (solid p50, dashed p99)', lines));
  }
  if (barCases.length > 0) {
    const series = names.map((t) => ({
      name: t,
      values: barCases.map((c) => {
        const per = pairedRatios(input.results, c, t, 'haproxy', (r) => r.rate);
        return per.length === 0 ? undefined : median(per);
      }),
    }));
    const labels = barCases.map((name) => name.replace(/^tenants-/, 't='));
    panels.push(
      panel(curveW, 0, W - curveW, H - 30, 'Throughput relative to haproxy (same run; t = tenants)', 'x haproxy', labels, series, (v) =>
        v.toFixed(2),
      ),
    );
  }
  const legend = names
    .map(
      (t, i) =>
        `<rect x="${20 + i * 120}" y="${H - 22}" width="12" height="12" fill="${COLORS[t] ?? '#333'}"/><text x="${36 + i * 120}" y="${H - 12}" font-size="12">${esc(t)}</text>`,
    )
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
