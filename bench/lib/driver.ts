/** Runs one measurement (one case against one target) with forked load-generator processes, sampling CPU and RSS meanwhile. */
import { fork, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeHistogram, newHistogram, summarize, type LatencySummary } from './histogram.ts';
import type { GenCommand, GenEvent, GenResult, LoadSpec } from './loadgen.ts';
import { cpuBetween, cpuSnapshot, totalRssBytes, type CpuSnapshot, type CpuUsage, type ProcessGroup } from './procstat.ts';
import type { StormCommand, StormEvent, StormResult, StormSpec } from './storms.ts';
import type { Target } from './targets.ts';
import { NODES, type BenchCase, type ClosedLoopCase, type StormCase, type WorkloadName } from './workloads.ts';

const LOADGEN = new URL('./loadgen.ts', import.meta.url);
const STORMS = new URL('./storms.ts', import.meta.url);

export interface RunResult {
  target: string;
  /** Case name (e.g. "read", "tenants-100") and the workload it belongs to. */
  case: string;
  workload: WorkloadName;
  x: number | undefined;
  round: number;
  /** Requests/s (closed loop), sessions/s (connstorm), notifications/s (watchstorm), sessions held (idle). */
  rate: number;
  completed: number;
  windowMs: number;
  /** Request latency, or handshake latency (idle, connstorm), or notification latency (watchstorm). */
  latency: LatencySummary;
  errorCount: number;
  errors: string[];
  cpu: CpuUsage;
  /** RSS (bytes) of the processes in the middle: before the run, peak during it, and (idle) while the sessions were held. */
  middleRss: { before: number | undefined; peak: number | undefined; holding: number | undefined };
  /** watchstorm: ms from the change to the last notification, per round. */
  roundMs: number[];
  connectMs: number;
}

export interface RunContext {
  /** CPU groups to account besides the middle and the generators (the ZooKeeper JVMs). */
  groups: ProcessGroup[];
  sessionTimeoutMs: number;
  /** Progress line for the current run. */
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

export async function runCase(target: Target, c: BenchCase, round: number, ctx: RunContext): Promise<RunResult> {
  return c.kind === 'closed' ? runClosedLoop(target, c, round, ctx) : runStorm(target, c, round, ctx);
}

/** CPU groups of a run: the ensemble, the middle, the run's own generator processes. */
function runGroups(target: Target, ctx: RunContext, generators: () => ChildProcess[]): ProcessGroup[] {
  return [
    ...ctx.groups,
    { name: 'middle', pids: () => target.pids() },
    { name: 'generator', pids: () => generators().flatMap((g) => (g.pid === undefined ? [] : [g.pid])) },
  ];
}

/** Samples the middle's RSS every 250 ms; stop() returns the peak. */
function rssSampler(target: Target): { sample: () => number | undefined; stop: () => number | undefined } {
  let peak: number | undefined;
  const sample = () => {
    const rss = totalRssBytes(target.pids());
    if (rss !== undefined && rss > (peak ?? 0)) peak = rss;
    return rss;
  };
  const timer = setInterval(sample, 250);
  return {
    sample,
    stop: () => {
      clearInterval(timer);
      sample();
      return peak;
    },
  };
}

async function runClosedLoop(target: Target, c: ClosedLoopCase, round: number, ctx: RunContext): Promise<RunResult> {
  const endpoints = target.endpoints(c.tenants);
  const paths = { read: NODES[c.readNode].path, write: NODES.write.path, createParent: NODES.createParent.path };
  const base = {
    host: target.host,
    endpoints,
    paths,
    mix: c.mix,
    valueBytes: c.valueBytes,
    inflight: c.inflight,
    sessionTimeoutMs: ctx.sessionTimeoutMs,
  };
  const specs: LoadSpec[] = [];
  if (c.count) {
    specs.push({ ...base, portOffset: round, sessions: c.sessions, count: c.count });
  } else {
    const g = Math.max(1, Math.min(c.generators, c.sessions));
    let offset = 0;
    for (let i = 0; i < g; i++) {
      const sessions = Math.floor(c.sessions / g) + (i < c.sessions % g ? 1 : 0);
      specs.push({ ...base, portOffset: offset + round, sessions });
      offset += sessions;
    }
  }
  const rssBefore = totalRssBytes(target.pids());
  const gens = specs.map(startGenerator);
  const groups = runGroups(target, ctx, () => gens.map((g) => g.child));
  const rss = rssSampler(target);
  let progressTimer: NodeJS.Timeout | undefined;
  try {
    const ready = await Promise.all(gens.map(async (g) => check(await nextEvent(g, ['ready'], 120_000))));
    const connectMs = Math.max(...ready.map((r) => r.connectMs));
    let a: CpuSnapshot;
    let b: CpuSnapshot;
    let results: GenResult[];
    if (c.count) {
      const gen = gens[0]!;
      const total = c.count.warmup + c.count.measured;
      send(gen, { type: 'go' });
      progressTimer = setInterval(
        () => ctx.progress(`${gen.lastCompleted.toLocaleString('en-US')} / ${total.toLocaleString('en-US')} requests`),
        500,
      );
      const budget = 60_000 + total * 20; // 20 ms a request would be hopeless anyway
      check(await nextEvent(gen, ['measuring'], budget));
      a = cpuSnapshot(groups);
      const result = check(await nextEvent(gen, ['result'], budget));
      b = cpuSnapshot(groups);
      results = [result];
    } else {
      for (const g of gens) send(g, { type: 'go' });
      const start = performance.now();
      const total = c.warmupMs + c.durationMs;
      const rate = () => {
        const sec = (performance.now() - start) / 1000;
        const done = gens.reduce((sum, g) => sum + g.lastCompleted, 0);
        const phase = sec * 1000 < c.warmupMs ? 'warm-up' : 'measuring';
        return `${phase} ${sec.toFixed(1)}/${(total / 1000).toFixed(1)} s, ${done.toLocaleString('en-US')} replies`;
      };
      progressTimer = setInterval(() => ctx.progress(rate()), 500);
      await sleepOrFail(c.warmupMs, gens);
      a = cpuSnapshot(groups);
      for (const g of gens) send(g, { type: 'measure' });
      await sleepOrFail(c.durationMs, gens);
      b = cpuSnapshot(groups);
      for (const g of gens) send(g, { type: 'stop' });
      results = await Promise.all(gens.map(async (g) => check(await nextEvent(g, ['result'], 60_000))));
    }
    const histogram = newHistogram();
    for (const r of results) histogram.add(decodeHistogram(r.histogram));
    await exitedOrGrace(gens.map((g) => g.exited));
    return {
      ...runIdentity(target, c, round),
      rate: results.reduce((s, r) => s + (r.windowMs > 0 ? r.completed / (r.windowMs / 1000) : 0), 0),
      completed: results.reduce((s, r) => s + r.completed, 0),
      windowMs: Math.max(...results.map((r) => r.windowMs)),
      latency: summarize(histogram),
      errorCount: results.reduce((s, r) => s + r.errorCount, 0),
      errors: results.flatMap((r) => r.errors),
      cpu: cpuBetween(a, b),
      middleRss: { before: rssBefore, peak: rss.stop(), holding: undefined },
      roundMs: [],
      connectMs,
    };
  } finally {
    rss.stop();
    clearInterval(progressTimer);
    for (const g of gens) if (g.child.exitCode === null && g.child.signalCode === null) g.child.kill('SIGKILL');
  }
}

async function runStorm(target: Target, c: StormCase, round: number, ctx: RunContext): Promise<RunResult> {
  const spec: StormSpec = {
    kind: c.workload,
    host: target.host,
    endpoints: target.endpoints(1),
    portOffset: round,
    sessionTimeoutMs: ctx.sessionTimeoutMs,
    sessions: c.sessions,
    durationMs: c.durationMs,
    rounds: c.rounds,
    watchPath: NODES.watch.path,
  };
  const rssBefore = totalRssBytes(target.pids());
  const child = fork(STORMS, [], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const groups = runGroups(target, ctx, () => [child]);
  const rss = rssSampler(target);
  let holding: number | undefined;
  let connectMs = 0;
  try {
    const a = cpuSnapshot(groups);
    const outcome = await new Promise<StormResult>((resolve, reject) => {
      child.on('message', (event: StormEvent) => {
        if (event.type === 'progress') ctx.progress(event.text);
        else if (event.type === 'fatal') reject(new Error(`storm generator failed: ${event.message}`));
        else if (event.type === 'result') resolve(event);
        else if (event.type === 'holding') {
          connectMs = event.connectMs;
          // Let buffers settle, then take the RSS of the middle with every session open.
          void (async () => {
            const until = performance.now() + c.holdMs;
            while (performance.now() < until) {
              ctx.progress(
                `holding ${event.sessions.toLocaleString('en-US')} sessions, ${((until - performance.now()) / 1000).toFixed(0)} s left`,
              );
              holding = Math.max(holding ?? 0, rss.sample() ?? 0);
              await sleep(Math.min(500, Math.max(0, until - performance.now())));
            }
            holding = Math.max(holding ?? 0, rss.sample() ?? 0);
            if (child.connected) child.send({ type: 'release' } satisfies StormCommand);
          })();
        }
      });
      void exited.then(() => reject(new Error(`storm generator exited (${child.exitCode ?? child.signalCode})`)));
      child.send({ type: 'spec', spec } satisfies StormCommand);
    });
    const b = cpuSnapshot(groups);
    await exitedOrGrace([exited]);
    const latency = summarize(decodeHistogram(outcome.histogram));
    return {
      ...runIdentity(target, c, round),
      rate: c.workload === 'idle' ? outcome.completed : outcome.windowMs > 0 ? outcome.completed / (outcome.windowMs / 1000) : 0,
      completed: outcome.completed,
      windowMs: outcome.windowMs,
      latency,
      errorCount: outcome.errorCount,
      errors: outcome.errors,
      cpu: cpuBetween(a, b),
      middleRss: { before: rssBefore, peak: rss.stop(), holding },
      roundMs: outcome.roundMs,
      connectMs: c.workload === 'idle' ? connectMs : 0,
    };
  } finally {
    rss.stop();
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

function runIdentity(target: Target, c: BenchCase, round: number): Pick<RunResult, 'target' | 'case' | 'workload' | 'x' | 'round'> {
  return { target: target.name, case: c.name, workload: c.workload, x: c.x, round };
}

/** Waits up to 15 s for generator processes to exit after their result (they close their sessions first). */
async function exitedOrGrace(exits: Promise<void>[]): Promise<void> {
  const grace = new AbortController();
  await Promise.race([Promise.all(exits), sleep(15_000, undefined, { signal: grace.signal }).catch(() => {})]);
  grace.abort(); // do not keep the event loop alive for the rest of the grace period
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
