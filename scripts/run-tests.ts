// `npm test`: runs vitest, prints the one summary line CI parses, then checks that no ZooKeeper
// JVM started by the test fixtures outlived the run.
//
//   tests: N passed, N failed[, N skipped]
//
// Exit status is non-zero when vitest failed, when no test ran, or when JVMs leaked.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { FIXTURE_RUN_ENV, findFixtureProcesses, type FixtureProcess } from '../src/embedded/fixture-processes.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const reportFile = join(repoRoot, '.reports', 'vitest.json');
/** Tags this run's fixture JVMs, so the leak check ignores e.g. a `./zkp dev` running alongside. */
const runId = `tests-${process.pid}-${Date.now()}`;

interface VitestJsonReport {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
  testResults: Array<{ status: string; assertionResults: Array<{ status: string }> }>;
}

interface Summary {
  passed: number;
  failed: number;
  skipped: number;
}

const vitestExitCode = await runVitest(process.argv.slice(2));
const summary = summarize(readReport());
console.log(formatSummary(summary));
const leaked = await findLeakedFixtureProcesses();
if (leaked.length > 0) reportAndKillLeaks(leaked);

const testsRan = summary.passed + summary.failed > 0;
if (!testsRan) console.error('no tests ran');
const ok = vitestExitCode === 0 && summary.failed === 0 && testsRan && leaked.length === 0;
process.exitCode = ok ? 0 : vitestExitCode || 1;

async function runVitest(args: string[]): Promise<number> {
  rmSync(reportFile, { force: true });
  mkdirSync(dirname(reportFile), { recursive: true });
  const vitestCli = join(dirname(createRequire(import.meta.url).resolve('vitest/package.json')), 'vitest.mjs');
  const child = spawn(
    process.execPath,
    [vitestCli, 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${reportFile}`, ...args],
    { cwd: repoRoot, stdio: 'inherit', env: { ...process.env, [FIXTURE_RUN_ENV]: runId } },
  );
  // Ctrl-C reaches vitest too (same process group); stay alive to report and check for leaks.
  // A SIGTERM (CI timeout) is sent to us alone, so pass it on.
  const ignoreInterrupt = () => {};
  const forwardTerminate = () => child.kill('SIGTERM');
  process.on('SIGINT', ignoreInterrupt);
  process.on('SIGTERM', forwardTerminate);
  const exitCode = await new Promise<number>((resolveExit) => {
    child.once('error', (error) => {
      console.error(`could not run vitest: ${error.message}`);
      resolveExit(1);
    });
    child.once('exit', (code, signal) => resolveExit(code ?? (signal ? 128 : 1)));
  });
  process.off('SIGINT', ignoreInterrupt);
  process.off('SIGTERM', forwardTerminate);
  return exitCode;
}

function readReport(): VitestJsonReport | undefined {
  try {
    return JSON.parse(readFileSync(reportFile, 'utf8')) as VitestJsonReport;
  } catch {
    return undefined; // vitest died before reporting; the exit code says so
  }
}

function summarize(report: VitestJsonReport | undefined): Summary {
  if (report === undefined) return { passed: 0, failed: 0, skipped: 0 };
  // A file that failed outside any test (import error, failing hook) counts as one failure, so a
  // red run never reads "0 failed".
  const filesFailedOutsideTests = report.testResults.filter(
    (file) => file.status === 'failed' && !file.assertionResults.some((test) => test.status === 'failed'),
  ).length;
  return {
    passed: report.numPassedTests,
    failed: report.numFailedTests + filesFailedOutsideTests,
    skipped: report.numPendingTests + report.numTodoTests,
  };
}

function formatSummary({ passed, failed, skipped }: Summary): string {
  return `tests: ${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`;
}

async function findLeakedFixtureProcesses(): Promise<FixtureProcess[]> {
  const suspects = findFixtureProcesses({ runId });
  if (suspects.length === 0) return [];
  // A worker's exit handler has just sent SIGKILL and the kernel may not have finished; only
  // what is still there a moment later counts as leaked.
  await sleep(500);
  const stillAlive = new Set(findFixtureProcesses({ runId }).map((found) => found.pid));
  return suspects.filter((suspect) => stillAlive.has(suspect.pid));
}

function reportAndKillLeaks(leaked: FixtureProcess[]): void {
  console.error(`leaked ${leaked.length} ZooKeeper JVM(s) started by test fixtures (an ensemble was not closed):`);
  for (const leak of leaked) {
    console.error(`  pid ${leak.pid} ${leak.commandLine.slice(0, 300)}`);
    try {
      process.kill(leak.pid, 'SIGKILL');
    } catch {
      // exited meanwhile
    }
  }
  for (const baseDir of new Set(leaked.map((found) => found.baseDir))) {
    rmSync(baseDir, { recursive: true, force: true });
  }
}
