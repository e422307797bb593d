/**
 * Long-running live fuzzer: random and mutated-from-capture bytes into a running proxy PROCESS in
 * front of a real 1-member ZooKeeper, then the same after-run checks as test/fuzz-live.test.ts.
 *
 *   node bench/fuzz-live.ts [--inputs 1000000] [--seed N] [--concurrency 128] [--mix long|suite]
 *                           [--connections N] [--max-seconds S] [--progress-seconds 5]
 *   node bench/fuzz-live.ts --seed N --replay INDEX [--mix long|suite]   one input, verbosely
 *   node bench/fuzz-live.ts --seed N --describe INDEX                    print it, run nothing
 *
 * Accounting (see test/support/fuzz.ts): a connection-level input is one input; a pipeline
 * connection (the long mix: one valid handshake, then 16..160 mutated requests) counts each frame
 * the proxy demonstrably processed (answered, or the one it closed on) as one input.
 * Progress goes to stderr every few seconds; the summary to stdout. Exit 1 on any violation or
 * failed after-run check.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  describeInput,
  describeOutput,
  formatStats,
  fuzzInput,
  loadCorpus,
  runFuzz,
  sendInput,
  type FuzzMix,
} from '../test/support/fuzz.ts';
import { checkFuzzTarget, ensembleLogSummary, startFuzzTarget } from '../test/support/fuzz-target.ts';

const { values: opts } = parseArgs({
  options: {
    inputs: { type: 'string', default: '1000000' },
    connections: { type: 'string' },
    seed: { type: 'string' },
    concurrency: { type: 'string', default: '128' },
    mix: { type: 'string', default: 'long' },
    'max-seconds': { type: 'string' },
    'progress-seconds': { type: 'string', default: '5' },
    replay: { type: 'string' },
    describe: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (opts.help) {
  console.log(readFileSync(new URL(import.meta.url), 'utf8').split('*/')[0]);
  process.exit(0);
}
const seed = opts.seed === undefined ? Math.floor(Math.random() * 0x7fffffff) : Number(opts.seed);
const mix = opts.mix as FuzzMix;
if (mix !== 'long' && mix !== 'suite') throw new Error(`--mix must be long or suite, not ${mix}`);
const corpus = loadCorpus();

if (opts.describe !== undefined) {
  console.log(describeInput(fuzzInput(corpus, seed, Number(opts.describe), mix)));
  process.exit(0);
}

const target = await startFuzzTarget({ keepLogLines: 5_000 });
let exitCode = 0;
try {
  if (opts.replay !== undefined) {
    const input = fuzzInput(corpus, seed, Number(opts.replay), mix);
    console.log(describeInput(input));
    const { output, ...outcome } = await sendInput(target.alphaPort, input, { keepOutput: true });
    console.log(`outcome: ${JSON.stringify(outcome)}`);
    console.log(`output frames:\n${describeOutput(output!)}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
    console.log(
      `proxy log:\n${target.proxy.logs
        .filter((line) => !line.includes('"tenant":"canary"'))
        .slice(-20)
        .join('\n')}`,
    );
    const failures = await checkFuzzTarget(target, 10_000);
    console.log(failures.length === 0 ? 'after-run checks: all passed' : `after-run checks FAILED:\n  ${failures.join('\n  ')}`);
    exitCode = failures.length === 0 && outcome.violations.length === 0 ? 0 : 1;
  } else {
    const inputs = Number(opts.inputs);
    const concurrency = Number(opts.concurrency);
    const maxMs = opts['max-seconds'] === undefined ? Infinity : Number(opts['max-seconds']) * 1000;
    const startedAt = Date.now();
    const pid = target.proxy.child.pid!;
    console.error(
      `[fuzz] seed ${seed}, mix ${mix}, ${opts.connections === undefined ? `${inputs} inputs` : `${opts.connections} connections`}, concurrency ${concurrency}, proxy pid ${pid}`,
    );
    const stats = await runFuzz({
      port: target.alphaPort,
      seed,
      mix,
      concurrency,
      ...(opts.connections === undefined ? { inputs } : { connections: Number(opts.connections) }),
      corpus,
      progressMs: Number(opts['progress-seconds']) * 1000,
      shouldStop: () => target.proxy.child.exitCode !== null || target.proxy.child.signalCode !== null || Date.now() - startedAt > maxMs,
      onProgress: (s) => {
        const done = opts.connections === undefined ? s.inputs / inputs : s.connections / Number(opts.connections);
        const eta = done > 0 ? (s.durationMs / done - s.durationMs) / 1000 : NaN;
        console.error(
          `[fuzz] ${(done * 100).toFixed(1)}% ${s.inputs} inputs, ${s.connections} conns, ${(s.durationMs / 1000).toFixed(0)} s, ` +
            `${Math.round(s.inputsPerSecond)} inputs/s, ${Math.round(s.connectionsPerSecond)} conns/s, sessions ${s.sessions}, ` +
            `violations ${s.violationCount}, proxy rss ${rssMb(pid)} MB cpu ${cpuSeconds(pid)} s, internal errors ${target.log.internalErrors}, ETA ${Number.isFinite(eta) ? Math.round(eta) : '?'} s`,
        );
      },
    });
    const rssBefore = rssMb(pid);
    const failures = await checkFuzzTarget(target);
    console.log(formatStats(stats));
    console.log(`  proxy: rss ${rssBefore} MB after the run, cpu ${cpuSeconds(pid)} s`);
    console.log(target.log.format());
    if (target.log.errorSamples.length > 0) console.log(`  first error lines:\n    ${target.log.errorSamples.join('\n    ')}`);
    console.log(ensembleLogSummary(target));
    for (const note of target.notes) console.log(`  note: ${note}`);
    console.log(failures.length === 0 ? 'after-run checks: all passed' : `after-run checks FAILED:\n  ${failures.join('\n  ')}`);
    exitCode = failures.length === 0 && stats.violationCount === 0 ? 0 : 1;
  }
} finally {
  await target.close();
}
process.exit(exitCode);

function rssMb(pid: number): string {
  try {
    const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? '?' : (Number(kb) / 1024).toFixed(0);
  } catch {
    return 'gone';
  }
}

function cpuSeconds(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) / 100).toFixed(0);
  } catch {
    return '?';
  }
}
