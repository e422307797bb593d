/**
 * The fairness measurement shared by bench/fairness.ts and test/fairness.test.ts: a quiet tenant
 * Q runs a steady paced load and its latency is measured alone, then again while a noisy tenant
 * N floods the same proxy far beyond its own rate limit from many connections. Each tenant's
 * load comes from its own forked generator process (bench/lib/fairness-load.ts), so one
 * generator's CPU does not show up as the other's latency.
 */
import { fork } from 'node:child_process';
import { ErrorCode } from 'jute-ts';
import type { FairLoadCommand, FairLoadEvent, FairLoadResult, FairLoadSpec } from './fairness-load.ts';
import { decodeHistogram, summarize, type LatencySummary } from './histogram.ts';

export interface FairnessOptions {
  host: string;
  quietPort: number;
  noisyPort: number;
  /** Client-side path of a small node that exists in both tenants. */
  path: string;
  /** burst: requests per write (see FairLoadSpec). */
  quiet: { sessions: number; inflight: number; rate: number; burst: number };
  noisy: { sessions: number; inflight: number; rate: number; burst: number };
  /**
   * Optional third phase: Q while N sends only what its limit allows (nothing throttled), to
   * tell N's legitimate share of the ensemble from the cost of throttling the flood.
   */
  noisyAtLimit?: { sessions: number; inflight: number; rate: number; burst: number };
  warmupMs: number;
  durationMs: number;
  /** How long the flood runs before Q's warm-up starts. */
  floodLeadMs: number;
}

export interface LoadSummary {
  latencyMs: { p50: number; p90: number; p99: number; max: number; count: number };
  sentPerSecond: number;
  okPerSecond: number;
  ok: number;
  throttled: number;
  otherErrors: Record<string, number>;
  late: number;
  /** The generator's own CPU, in cores. */
  generatorCpu: number;
  problems: string[];
}

export interface FairnessRound {
  alone: LoadSummary;
  flooded: LoadSummary;
  noisy: LoadSummary;
  /** With options.noisyAtLimit: Q while N stays at its limit, and N then. */
  atLimit?: { quiet: LoadSummary; noisy: LoadSummary };
  /** Q's latency under the flood relative to alone. */
  p50Ratio: number;
  p99Ratio: number;
}

function summarizeLoad(result: FairLoadResult): LoadSummary {
  const latency: LatencySummary = summarize(decodeHistogram(result.histogram));
  const seconds = result.windowMs / 1000;
  const ok = result.byErr[String(ErrorCode.OK)] ?? 0;
  const throttled = result.byErr[String(ErrorCode.THROTTLEDOP)] ?? 0;
  const otherErrors = Object.fromEntries(
    Object.entries(result.byErr).filter(([err]) => err !== String(ErrorCode.OK) && err !== String(ErrorCode.THROTTLEDOP)),
  );
  const ms = (us: number) => Math.round(us) / 1000;
  return {
    latencyMs: { p50: ms(latency.p50), p90: ms(latency.p90), p99: ms(latency.p99), max: ms(latency.max), count: latency.count },
    sentPerSecond: Math.round(result.sent / seconds),
    okPerSecond: Math.round(ok / seconds),
    ok,
    throttled,
    otherErrors,
    late: result.late,
    generatorCpu: result.cpuCores,
    problems: result.problems,
  };
}

/** A forked generator, ready to go once `ready` resolves. */
interface Generator {
  ready: Promise<void>;
  go(): void;
  result: Promise<FairLoadResult>;
}

function startGenerator(spec: FairLoadSpec): Generator {
  const child = fork(new URL('./fairness-load.ts', import.meta.url), [], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let readyResolve!: () => void;
  let readyReject!: (error: Error) => void;
  const ready = new Promise<void>((resolve, reject) => ((readyResolve = resolve), (readyReject = reject)));
  const result = new Promise<FairLoadResult>((resolve, reject) => {
    child.on('message', (event: FairLoadEvent) => {
      if (event.type === 'ready') readyResolve();
      else if (event.type === 'result') resolve(event);
      else {
        const error = new Error(`load generator: ${event.message}`);
        readyReject(error);
        reject(error);
      }
    });
    child.once('exit', (code) => {
      const error = new Error(`load generator exited with ${code}`);
      readyReject(error);
      reject(error);
    });
  });
  ready.catch(() => {});
  result.catch(() => {});
  child.send({ type: 'spec', spec } satisfies FairLoadCommand);
  return { ready, go: () => child.send({ type: 'go' } satisfies FairLoadCommand), result };
}

function spec(options: FairnessOptions, which: 'quiet' | 'noisy' | 'noisyAtLimit', warmupMs: number, durationMs: number): FairLoadSpec {
  const load = options[which]!;
  return {
    host: options.host,
    port: which === 'quiet' ? options.quietPort : options.noisyPort,
    path: options.path,
    sessions: load.sessions,
    inflight: load.inflight,
    rate: load.rate,
    burst: load.burst,
    warmupMs,
    durationMs,
    sessionTimeoutMs: 30_000,
  };
}

/** Q alone, then Q while N floods. */
export async function runFairnessRound(options: FairnessOptions, progress: (line: string) => void = () => {}): Promise<FairnessRound> {
  progress(`quiet tenant alone: ${options.quiet.rate}/s over ${options.quiet.sessions} sessions x ${options.quiet.inflight} in flight`);
  const aloneGen = startGenerator(spec(options, 'quiet', options.warmupMs, options.durationMs));
  await aloneGen.ready;
  aloneGen.go();
  const alone = summarizeLoad(await aloneGen.result);

  let atLimit: FairnessRound['atLimit'];
  if (options.noisyAtLimit !== undefined) {
    const n = options.noisyAtLimit;
    progress(`noisy tenant at its limit, ${n.rate}/s over ${n.sessions} sessions; quiet tenant again`);
    const [quiet, noisy] = await together(options, 'noisyAtLimit');
    atLimit = { quiet, noisy };
  }

  progress(
    `noisy tenant floods at ${options.noisy.rate}/s over ${options.noisy.sessions} sessions x ${options.noisy.inflight} in flight, ${options.noisy.burst} per write; quiet tenant again`,
  );
  const [flooded, noisy] = await together(options, 'noisy');
  const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100;
  return {
    alone,
    flooded,
    noisy,
    ...(atLimit ? { atLimit } : {}),
    p50Ratio: ratio(flooded.latencyMs.p50, alone.latencyMs.p50),
    p99Ratio: ratio(flooded.latencyMs.p99, alone.latencyMs.p99),
  };
}

/** Q measured while N runs `which` (N starts floodLeadMs earlier and is measured over about the same window). */
async function together(options: FairnessOptions, which: 'noisy' | 'noisyAtLimit'): Promise<[LoadSummary, LoadSummary]> {
  const noisyGen = startGenerator(spec(options, which, options.floodLeadMs + options.warmupMs, options.durationMs));
  const quietGen = startGenerator(spec(options, 'quiet', options.warmupMs, options.durationMs));
  await Promise.all([noisyGen.ready, quietGen.ready]);
  noisyGen.go();
  await new Promise((resolve) => setTimeout(resolve, options.floodLeadMs));
  quietGen.go();
  const [quietResult, noisyResult] = await Promise.all([quietGen.result, noisyGen.result]);
  return [summarizeLoad(quietResult), summarizeLoad(noisyResult)];
}

export function describeRound(round: FairnessRound): string {
  const q = (s: LoadSummary) =>
    `p50 ${s.latencyMs.p50.toFixed(2)} ms  p99 ${s.latencyMs.p99.toFixed(2)} ms  max ${s.latencyMs.max.toFixed(1)} ms  ${s.okPerSecond}/s ok  throttled ${s.throttled}  late ${s.late}  (generator ${s.generatorCpu} cores)`;
  return [
    `  Q alone      ${q(round.alone)}`,
    ...(round.atLimit
      ? [
          `  Q, N@limit   ${q(round.atLimit.quiet)}   (N ok ${round.atLimit.noisy.okPerSecond}/s, THROTTLEDOP ${round.atLimit.noisy.throttled})`,
        ]
      : []),
    `  Q flooded    ${q(round.flooded)}`,
    `  ratio        p50 ${round.p50Ratio}x  p99 ${round.p99Ratio}x`,
    `  N            sent ${round.noisy.sentPerSecond}/s  ok ${round.noisy.okPerSecond}/s  THROTTLEDOP ${round.noisy.throttled} (${Math.round((round.noisy.throttled / Math.max(1, round.noisy.ok + round.noisy.throttled)) * 100)}% of replies)  (generator ${round.noisy.generatorCpu} cores)`,
  ].join('\n');
}
