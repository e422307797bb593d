import { readdirSync, readFileSync } from 'node:fs';

/**
 * Every JVM the fixture starts carries `-Dzkp.fixture=<baseDir>` so that a leak can be found and
 * killed from outside the process that started it (`pgrep -f zkp.fixture=`). The base dir makes
 * the marker unique per ensemble.
 */
const FIXTURE_MARKER_PROPERTY = 'zkp.fixture';

/**
 * Optional second marker naming who started the ensemble. The test runner sets
 * ZKP_FIXTURE_RUN for its children so that its leak check only considers its own JVMs and never
 * kills, say, a `./zkp dev` ensemble running in another terminal.
 */
const FIXTURE_RUN_PROPERTY = 'zkp.fixture.run';
export const FIXTURE_RUN_ENV = 'ZKP_FIXTURE_RUN';

export function fixtureMarkerArg(baseDir: string): string {
  return `-D${FIXTURE_MARKER_PROPERTY}=${baseDir}`;
}

/** Marker arguments for a JVM of the ensemble rooted at `baseDir`. */
export function fixtureMarkerArgs(baseDir: string, runId = process.env[FIXTURE_RUN_ENV]): string[] {
  const args = [fixtureMarkerArg(baseDir)];
  if (runId) args.push(`-D${FIXTURE_RUN_PROPERTY}=${runId}`);
  return args;
}

export interface FixtureProcess {
  pid: number;
  baseDir: string;
  runId: string | undefined;
  commandLine: string;
}

/** Live processes carrying the fixture marker, optionally only those of one run. Linux only (/proc). */
export function findFixtureProcesses(filter: { runId?: string } = {}): FixtureProcess[] {
  const found: FixtureProcess[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const args = readCommandLine(entry);
    const baseDir = propertyValue(args, FIXTURE_MARKER_PROPERTY);
    if (baseDir === undefined) continue;
    const runId = propertyValue(args, FIXTURE_RUN_PROPERTY);
    if (filter.runId !== undefined && runId !== filter.runId) continue;
    found.push({ pid: Number(entry), baseDir, runId, commandLine: args.join(' ') });
  }
  return found;
}

function readCommandLine(pid: string): string[] {
  try {
    // Arguments are NUL-separated, so base dirs with spaces survive; zombies have an empty cmdline.
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8')
      .split('\0')
      .filter((arg) => arg !== '');
  } catch {
    return []; // exited while we were scanning
  }
}

function propertyValue(args: readonly string[], property: string): string | undefined {
  const prefix = `-D${property}=`;
  return args.find((arg) => arg.startsWith(prefix))?.slice(prefix.length);
}
