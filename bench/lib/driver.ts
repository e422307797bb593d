/** Runs one measurement (one workload against one target) with forked load-generator processes. */
import { fork, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeHistogram, newHistogram, summarize, type LatencySummary } from './histogram.ts';
import type { GenCommand, GenEvent, GenResult, LoadSpec } from './loadgen.ts';
import { cpuBetween, cpuSnapshot, processRssBytes, type CpuSnapshot, type CpuUsage, type ProcessGroup } from './procstat.ts';
import type { Target } from './targets.ts';

const LOADGEN = new URL('./loadgen.ts', import.meta.url);

export type Workload =
  | { kind: 'unloaded'; warmupRequests: number; requests: number }
  | { kind: 'saturated'; sessions: number; inflight: number; warmupMs: number; durationMs: number; generators: number };

export interface RunResult {
  target: string;
  workload: Workload['kind'];
  round: number;
  requestsPerSecond: number;
  completed: number;
  windowMs: number;
  latency: LatencySummary;
  errorCount: number;
  errors: string[];
  cpu: CpuUsage;
  /** Peak RSS (bytes) seen while the run lasted, per sampled process group. */
  rssPeak: Record<string, number>;
  connectMs: number;
}

export interface RunContext {
  /** CPU groups to account (generator is added per run). */
  groups: ProcessGroup[];
  /** pids whose RSS is sampled, by name. */
  rssPids: Record<string, number | undefined>;
  sessionTimeoutMs: number;
  /** Progress callback: completed requests in the window so far, seconds into the window. */
  progress: (text: string) => void;
}

interface Gen {
  child: ChildProcess;
  events: GenEvent[];
  waiters: ((event: GenEvent) => void)[];
  exited: Promise<void>;
  lastCompleted: number;
}

function startGenerator(spec: LoadSpec): Gen {
  const child = fork(LOADGEN, [], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' });
  const gen: Gen = {
    child,
    events: [],
    waiters: [],
    exited: new Promise((resolve) => child.once('exit', () => resolve())),
    lastCompleted: 0,
  };
  child.on('message', (event: GenEvent) => {
    if (event.type === 'progress') {
      gen.lastCompleted = event.total;
      return;
    }
    const waiters = gen.waiters;
    gen.waiters = [];
    gen.events.push(event);
    for (const w of waiters) w(event);
  });
  void gen.exited.then(() => {
    const waiters = gen.waiters;
    gen.waiters = [];
    for (const w of waiters) w({ type: 'fatal', message: `load generator exited (${child.exitCode ?? child.signalCode})` });
  });
  const command: GenCommand = { type: 'spec', spec };
  child.send(command);
  return gen;
}

/** Resolves with the first event (already received or future) of one of the given types. */
function nextEvent<T extends GenEvent['type']>(gen: Gen, types: T[], timeoutMs: number): Promise<Extract<GenEvent, { type: T | 'fatal' }>> {
  const wanted = (e: GenEvent) => (types as string[]).includes(e.type) || e.type === 'fatal';
  const index = gen.events.findIndex(wanted);
  if (index >= 0) return Promise.resolve(gen.events.splice(index, 1)[0] as Extract<GenEvent, { type: T | 'fatal' }>);
  if (gen.child.exitCode !== null || gen.child.signalCode !== null) {
    return Promise.resolve({ type: 'fatal', message: 'load generator exited' } as Extract<GenEvent, { type: T | 'fatal' }>);
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`load generator: no ${types.join('/')} within ${timeoutMs} ms`)), timeoutMs);
    const waiter = (event: GenEvent) => {
      if (!wanted(event)) {
        gen.waiters.push(waiter);
        return;
      }
      clearTimeout(timer);
      gen.events.splice(gen.events.indexOf(event), 1);
      resolve(event as Extract<GenEvent, { type: T | 'fatal' }>);
    };
    gen.waiters.push(waiter);
  });
}

function check<E extends GenEvent>(event: E): Exclude<E, { type: 'fatal' }> {
  if (event.type === 'fatal') throw new Error(`load generator failed: ${(event as { message: string }).message}`);
  return event as Exclude<E, { type: 'fatal' }>;
}

function send(gen: Gen, command: GenCommand): void {
  if (gen.child.connected) gen.child.send(command);
}

export async function runOnce(target: Target, workload: Workload, round: number, ctx: RunContext): Promise<RunResult> {
  const specs: LoadSpec[] = [];
  if (workload.kind === 'unloaded') {
    specs.push({
      host: target.host,
      ports: target.ports,
      portOffset: round,
      path: target.path,
      sessions: 1,
      inflight: 1,
      sessionTimeoutMs: ctx.sessionTimeoutMs,
      count: { warmup: workload.warmupRequests, measured: workload.requests },
    });
  } else {
    const g = Math.max(1, Math.min(workload.generators, workload.sessions));
    let offset = 0;
    for (let i = 0; i < g; i++) {
      const sessions = Math.floor(workload.sessions / g) + (i < workload.sessions % g ? 1 : 0);
      specs.push({ host: target.host, ports: target.ports, portOffset: offset + round, path: target.path, sessions, inflight: workload.inflight, sessionTimeoutMs: ctx.sessionTimeoutMs });
      offset += sessions;
    }
  }
  const gens = specs.map(startGenerator);
  const groups: ProcessGroup[] = [...ctx.groups, { name: 'generator', pids: () => gens.flatMap((g) => (g.child.pid === undefined ? [] : [g.child.pid])) }];
  const rssPeak: Record<string, number> = {};
  const sampleRss = () => {
    const pids: Record<string, number | undefined> = { ...ctx.rssPids, generator: gens[0]?.child.pid };
    for (const [name, pid] of Object.entries(pids)) {
      const rss = pid === undefined ? undefined : processRssBytes(pid);
      if (rss !== undefined && rss > (rssPeak[name] ?? 0)) rssPeak[name] = rss;
    }
  };
  const rssTimer = setInterval(sampleRss, 250);
  let progressTimer: NodeJS.Timeout | undefined;
  try {
    const ready = await Promise.all(gens.map(async (g) => check(await nextEvent(g, ['ready'], 30_000))));
    const connectMs = Math.max(...ready.map((r) => r.connectMs));
    let a: CpuSnapshot;
    let b: CpuSnapshot;
    let results: GenResult[];
    if (workload.kind === 'unloaded') {
      const gen = gens[0]!;
      const total = workload.warmupRequests + workload.requests;
      send(gen, { type: 'go' });
      progressTimer = setInterval(() => ctx.progress(`${gen.lastCompleted.toLocaleString('en-US')} / ${total.toLocaleString('en-US')} requests`), 500);
      const budget = 60_000 + total * 20; // 20 ms a request would be hopeless anyway
      check(await nextEvent(gen, ['measuring'], budget));
      a = cpuSnapshot(groups);
      const result = check(await nextEvent(gen, ['result'], budget));
      b = cpuSnapshot(groups);
      results = [result];
    } else {
      for (const g of gens) send(g, { type: 'go' });
      const start = performance.now();
      const total = workload.warmupMs + workload.durationMs;
      const rate = () => {
        const sec = (performance.now() - start) / 1000;
        const done = gens.reduce((sum, g) => sum + g.lastCompleted, 0);
        const phase = sec * 1000 < workload.warmupMs ? 'warm-up' : 'measuring';
        return `${phase} ${sec.toFixed(1)}/${(total / 1000).toFixed(1)} s, ${done.toLocaleString('en-US')} replies`;
      };
      progressTimer = setInterval(() => ctx.progress(rate()), 500);
      await sleepOrFail(workload.warmupMs, gens);
      a = cpuSnapshot(groups);
      for (const g of gens) send(g, { type: 'measure' });
      await sleepOrFail(workload.durationMs, gens);
      b = cpuSnapshot(groups);
      for (const g of gens) send(g, { type: 'stop' });
      results = await Promise.all(gens.map(async (g) => check(await nextEvent(g, ['result'], 30_000))));
    }
    sampleRss();
    const histogram = newHistogram();
    for (const r of results) histogram.add(decodeHistogram(r.histogram));
    const completed = results.reduce((s, r) => s + r.completed, 0);
    const requestsPerSecond = results.reduce((s, r) => s + (r.windowMs > 0 ? r.completed / (r.windowMs / 1000) : 0), 0);
    const windowMs = Math.max(...results.map((r) => r.windowMs));
    const errors = results.flatMap((r) => r.errors);
    const errorCount = results.reduce((s, r) => s + r.errorCount, 0);
    const grace = new AbortController();
    await Promise.race([Promise.all(gens.map((g) => g.exited)), sleep(15_000, undefined, { signal: grace.signal }).catch(() => {})]);
    grace.abort(); // do not keep the event loop alive for the rest of the grace period
    return {
      target: target.name,
      workload: workload.kind,
      round,
      requestsPerSecond,
      completed,
      windowMs,
      latency: summarize(histogram),
      errorCount,
      errors,
      cpu: cpuBetween(a, b),
      rssPeak,
      connectMs,
    };
  } finally {
    clearInterval(rssTimer);
    clearInterval(progressTimer);
    for (const g of gens) if (g.child.exitCode === null && g.child.signalCode === null) g.child.kill('SIGKILL');
  }
}

async function sleepOrFail(ms: number, gens: Gen[]): Promise<void> {
  const deadline = performance.now() + ms;
  while (performance.now() < deadline) {
    await sleep(Math.max(0, Math.min(100, deadline - performance.now())));
    for (const g of gens) {
      const fatal = g.events.find((e) => e.type === 'fatal');
      if (fatal) throw new Error(`load generator failed: ${(fatal as { message: string }).message}`);
      if (g.child.exitCode !== null || g.child.signalCode !== null) throw new Error('load generator exited during the run');
    }
  }
}
