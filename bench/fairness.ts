/**
 * Fairness benchmark: does a tenant flooding the proxy far beyond its rate limit hurt a quiet
 * tenant on the same proxy?
 *
 *   node bench/fairness.ts [--rounds 3] [--duration 8] [--warmup 2] [--lead 1]
 *                          [--q-limit 1000] [--q-load 0.5] [--q-sessions 8] [--q-inflight 4]
 *                          [--flood 10] [--n-limit <q-limit>] [--n-sessions 32] [--n-inflight 64]
 *                          [--n-wait 250] [--n-burst <n-inflight>] [--no-at-limit] [--log-level info]
 *                          [--target 1.5]
 *
 * A 1-member LocalEnsemble and the proxy as its own process (`node src/cli.ts serve`, log level
 * --log-level, info as in production) with two tenants:
 *   quiet (Q): requestsPerSecond --q-limit; runs --q-sessions x --q-inflight paced to
 *              --q-load x its limit (getData of a 100-byte node);
 *   noisy (N): requestsPerSecond --n-limit, maxThrottleWaitMs --n-wait; offers --flood x Q's
 *              limit over --n-sessions sessions of at most --n-inflight outstanding each,
 *              --n-burst requests per write (default: the whole window at once, as a batch job
 *              with an async API sends them). With --n-burst 1 (one write per request) the
 *              proxy, having paused the socket, reads N's requests one at a time: N is slowed
 *              by backpressure (its latency grows) and hardly ever gets THROTTLEDOP.
 * Per round: Q alone; Q while N sends 90% of its own limit, nothing throttled (N's legitimate
 * share of the ensemble; --no-at-limit skips it); Q while N floods (N starts --lead s earlier).
 * Each tenant's load comes from its own process. Prints Q's p50/p99 alone vs flooded, their ratio, N's achieved and
 * throttled rates, and the proxy's CPU; PASS when the median p99 ratio is <= --target.
 * Exit 1 when a reply came out of order, Q was throttled or got an error, or N got no THROTTLEDOP
 * (with --n-wait 0, the default limits' backpressure only: when N got any).
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { ErrorCode, OpCode, Perms } from 'jute-ts';
import { JuteClient } from 'jute-ts/client';
import { LocalEnsemble } from '../src/embedded/ensemble.ts';
import { reserveFreePorts } from '../src/embedded/free-ports.ts';
import { describeRound, runFairnessRound, type FairnessRound } from './lib/fairness.ts';
import { processCpuSeconds } from './lib/procstat.ts';

const { values: opts } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '2' },
    lead: { type: 'string', default: '1' },
    'q-limit': { type: 'string', default: '1000' },
    'q-load': { type: 'string', default: '0.5' },
    'q-sessions': { type: 'string', default: '8' },
    'q-inflight': { type: 'string', default: '4' },
    flood: { type: 'string', default: '10' },
    'n-limit': { type: 'string' },
    'n-sessions': { type: 'string', default: '32' },
    'n-inflight': { type: 'string', default: '64' },
    'n-wait': { type: 'string', default: '250' },
    'n-burst': { type: 'string' },
    'at-limit': { type: 'boolean', default: true },
    'log-level': { type: 'string', default: 'info' },
    target: { type: 'string', default: '1.5' },
    help: { type: 'boolean', default: false },
  },
});
if (opts.help) {
  console.log(readFileSync(new URL(import.meta.url), 'utf8').split('*/')[0]);
  process.exit(0);
}
const num = (name: keyof typeof opts) => Number(opts[name]);
const qLimit = num('q-limit');
const nLimit = opts['n-limit'] === undefined ? qLimit : num('n-limit');
const logLevel = opts['log-level']!;
const NODE = '/fair-100b';
const err = (line: string) => process.stderr.write(`${line}\n`);

/**
 * `node src/cli.ts serve` with the two tenants on reserved ports; its log goes to a file, as a
 * container runtime would take it (not through a pipe this process would have to drain).
 */
async function startProxy(ensembleAddress: string, level: string) {
  const [quietPort, noisyPort] = await reserveFreePorts(2);
  const dir = mkdtempSync(join(tmpdir(), 'zkp-fairness-'));
  const configFile = join(dir, 'proxy.json');
  const logFile = join(dir, 'proxy.log');
  writeFileSync(
    configFile,
    JSON.stringify({
      ensemble: ensembleAddress,
      admin: { listen: null },
      log: { level },
      security: { secret: 'fairness-benchmark-secret', ensembleAdmin: 'super:super-secret' },
      tenants: [
        { name: 'quiet', listeners: [`127.0.0.1:${quietPort}`], limits: { requestsPerSecond: qLimit, burst: qLimit } },
        {
          name: 'noisy',
          listeners: [`127.0.0.1:${noisyPort}`],
          limits: { requestsPerSecond: nLimit, burst: nLimit, maxThrottleWaitMs: num('n-wait') },
        },
      ],
    }),
  );
  const out = openSync(logFile, 'w');
  // One event loop: the figures are about one process's fairness, not how workers split limits.
  const child = spawn(
    process.execPath,
    [join(import.meta.dirname, '..', 'src', 'cli.ts'), 'serve', '--config', configFile, '--workers', '1'],
    { stdio: ['ignore', out, out] },
  );
  closeSync(out);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const listening = async (port: number) => {
    for (const deadline = Date.now() + 20_000; Date.now() < deadline; await sleep(100)) {
      if (child.exitCode !== null) break;
      const ok = await new Promise<boolean>((resolve) => {
        const socket = connect({ host: '127.0.0.1', port });
        socket.once('connect', () => (socket.destroy(), resolve(true)));
        socket.once('error', () => resolve(false));
      });
      if (ok) return;
    }
    throw new Error(`proxy did not listen on ${port}:\n${readFileSync(logFile, 'utf8').slice(-2000)}`);
  };
  const stop = async () => {
    child.kill('SIGKILL');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await listening(quietPort!);
    await listening(noisyPort!);
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    pid: child.pid!,
    port: (tenant: string) => (tenant === 'quiet' ? quietPort! : noisyPort!),
    refusedLogLines: () =>
      readFileSync(logFile, 'utf8')
        .split('\n')
        .filter((line) => line.includes('"msg":"refused"')).length,
    close: stop,
  };
}

const ensemble = await LocalEnsemble.start({ size: 1 });
const proxy = await startProxy(ensemble.connectString(), logLevel);
let exitCode = 0;
try {
  for (const tenant of ['quiet', 'noisy']) {
    const client = await JuteClient.connect({ port: proxy.port(tenant) });
    const reply = await client.request(OpCode.create, {
      path: NODE,
      data: Buffer.alloc(100, 0x61),
      acl: [{ perms: Perms.ALL, id: { scheme: 'world', id: 'anyone' } }],
      flags: 0,
    });
    if (reply.err !== ErrorCode.OK && reply.err !== ErrorCode.NODEEXISTS)
      throw new Error(`create ${NODE} in ${tenant}: error ${reply.err}`);
    await client.close();
  }
  const options = {
    host: '127.0.0.1',
    quietPort: proxy.port('quiet'),
    noisyPort: proxy.port('noisy'),
    path: NODE,
    quiet: { sessions: num('q-sessions'), inflight: num('q-inflight'), rate: Math.round(qLimit * num('q-load')), burst: 1 },
    noisy: {
      sessions: num('n-sessions'),
      inflight: num('n-inflight'),
      rate: qLimit * num('flood'),
      burst: opts['n-burst'] === undefined ? num('n-inflight') : num('n-burst'),
    },
    // N paced at 90% of its limit, request by request: nothing held long enough to be throttled.
    ...(opts['at-limit']
      ? { noisyAtLimit: { sessions: num('n-sessions'), inflight: num('n-inflight'), rate: Math.round(nLimit * 0.9), burst: 1 } }
      : {}),
    warmupMs: num('warmup') * 1000,
    durationMs: num('duration') * 1000,
    floodLeadMs: num('lead') * 1000,
  };
  err(
    `proxy pid ${proxy.pid}, log level ${logLevel}; Q limit ${qLimit}/s, load ${options.quiet.rate}/s; N limit ${nLimit}/s, wait ${opts['n-wait']} ms, offered ${options.noisy.rate}/s, ${options.noisy.burst} per write`,
  );
  const rounds: (FairnessRound & { proxyCpu: { alone: number; flooded: number } })[] = [];
  for (let r = 1; r <= num('rounds'); r++) {
    // Proxy CPU (cores) over each phase, from /proc.
    const cpuMarks: number[] = [];
    const mark = () => cpuMarks.push(processCpuSeconds(proxy.pid) ?? NaN, performance.now() / 1000);
    mark();
    const round = await runFairnessRound(options, (line) => {
      mark();
      err(`round ${r}: ${line}`);
    });
    mark();
    const cores = (i: number) => Math.round(((cpuMarks[i + 2]! - cpuMarks[i]!) / (cpuMarks[i + 3]! - cpuMarks[i + 1]!)) * 100) / 100;
    // Marks: start, each phase's start, end. Alone is the first phase, the flood the last.
    const proxyCpu = { alone: cores(2), flooded: cores(cpuMarks.length - 4) };
    rounds.push({ ...round, proxyCpu });
    console.log(`round ${r}\n${describeRound(round)}\n  proxy CPU    alone ${proxyCpu.alone} cores, flooded ${proxyCpu.flooded} cores`);
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  const med = {
    aloneP50: median(rounds.map((r) => r.alone.latencyMs.p50)),
    aloneP99: median(rounds.map((r) => r.alone.latencyMs.p99)),
    atLimitP50: median(rounds.map((r) => r.atLimit?.quiet.latencyMs.p50 ?? NaN)),
    atLimitP99: median(rounds.map((r) => r.atLimit?.quiet.latencyMs.p99 ?? NaN)),
    floodedP50: median(rounds.map((r) => r.flooded.latencyMs.p50)),
    floodedP99: median(rounds.map((r) => r.flooded.latencyMs.p99)),
    p99Ratio: median(rounds.map((r) => r.p99Ratio)),
    p50Ratio: median(rounds.map((r) => r.p50Ratio)),
    floodVsLimitP99: median(
      rounds.map((r) => (r.atLimit ? Math.round((r.flooded.latencyMs.p99 / r.atLimit.quiet.latencyMs.p99) * 100) / 100 : NaN)),
    ),
    nOk: median(rounds.map((r) => r.noisy.okPerSecond)),
    nSent: median(rounds.map((r) => r.noisy.sentPerSecond)),
    nThrottled: median(rounds.map((r) => Math.round(r.noisy.throttled / num('duration')))),
  };
  const target = num('target');
  console.log(
    [
      '',
      `median of ${rounds.length} round(s):`,
      `  Q alone    p50 ${med.aloneP50.toFixed(2)} ms  p99 ${med.aloneP99.toFixed(2)} ms`,
      ...(opts['at-limit']
        ? [
            `  Q, N@limit p50 ${med.atLimitP50.toFixed(2)} ms  p99 ${med.atLimitP99.toFixed(2)} ms  (N at 90% of its limit, nothing throttled)`,
          ]
        : []),
      `  Q flooded  p50 ${med.floodedP50.toFixed(2)} ms  p99 ${med.floodedP99.toFixed(2)} ms`,
      `  ratio      p50 ${med.p50Ratio}x  p99 ${med.p99Ratio}x  (target p99 <= ${target}x: ${med.p99Ratio <= target ? 'PASS' : 'FAIL'})`,
      ...(opts['at-limit']
        ? [`             flooded vs N@limit p99 ${med.floodVsLimitP99}x (the cost of throttling the excess alone)`]
        : []),
      `  N          offered ${options.noisy.rate}/s, sent ${med.nSent}/s, ok ${med.nOk}/s (limit ${nLimit}/s), THROTTLEDOP ${med.nThrottled}/s`,
      `  proxy log  ${proxy.refusedLogLines()} "refused" lines at level ${logLevel}`,
    ].join('\n'),
  );
  const problems = rounds.flatMap((r, i) => [
    ...[
      ...r.alone.problems,
      ...r.flooded.problems,
      ...r.noisy.problems,
      ...(r.atLimit?.quiet.problems ?? []),
      ...(r.atLimit?.noisy.problems ?? []),
    ].map((p) => `round ${i + 1}: ${p}`),
    ...(r.alone.throttled + r.flooded.throttled + (r.atLimit?.quiet.throttled ?? 0) > 0 ? [`round ${i + 1}: Q got THROTTLEDOP`] : []),
    ...(Object.keys({ ...r.alone.otherErrors, ...r.flooded.otherErrors }).length > 0
      ? [`round ${i + 1}: Q got errors ${JSON.stringify({ ...r.alone.otherErrors, ...r.flooded.otherErrors })}`]
      : []),
    // With --n-wait 0 (the default limits: backpressure only) N is slowed down, never answered THROTTLEDOP.
    ...(num('n-wait') > 0 && r.noisy.throttled === 0 ? [`round ${i + 1}: N got no THROTTLEDOP`] : []),
    ...(num('n-wait') === 0 && r.noisy.throttled > 0 ? [`round ${i + 1}: N got THROTTLEDOP with --n-wait 0`] : []),
  ]);
  if (problems.length > 0) {
    console.log(`problems:\n  ${problems.join('\n  ')}`);
    exitCode = 1;
  }
} finally {
  await proxy.close();
  await ensemble.close();
}
process.exitCode = exitCode;
