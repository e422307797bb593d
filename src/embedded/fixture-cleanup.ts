import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { fixtureMarkerArg } from './fixture-processes.ts';

/**
 * Last-resort cleanup for fixtures that own child processes and a directory.
 *
 * The normal path is the fixture's own async close(). This module covers the rest:
 *  - the node process exits (normally, by process.exit, or by an uncaught error): an 'exit'
 *    handler SIGKILLs the children and removes the directory synchronously;
 *  - SIGINT/SIGTERM/SIGHUP with nobody else listening: same, then the signal is re-raised so the
 *    process still dies the way it would have;
 *  - SIGKILL, or the 'exit' handler never running: a detached watchdog shell notices the parent
 *    is gone and kills every process carrying the fixture marker, then removes the directory.
 */
export interface CleanupTarget {
  baseDir: string;
  /** Pids that are (possibly) still alive. */
  livePids(): number[];
}

export interface CleanupRegistration {
  /** Call after the fixture cleaned up by itself: stops the watchdog, drops the handlers. */
  release(): void;
}

/** Registered targets and the pid of the watchdog guarding each. */
const targets = new Map<CleanupTarget, number>();
const HANDLED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

export function registerForCleanup(target: CleanupTarget): CleanupRegistration {
  const watchdogPid = spawnWatchdog(target.baseDir);
  if (targets.size === 0) installProcessHandlers();
  targets.set(target, watchdogPid);
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      targets.delete(target);
      killProcessGroup(watchdogPid);
      if (targets.size === 0) removeProcessHandlers();
    },
  };
}

function cleanUpAllSync(): void {
  for (const [target, watchdogPid] of targets) {
    for (const pid of target.livePids()) killQuietly(pid, 'SIGKILL');
    rmSync(target.baseDir, { recursive: true, force: true });
    killProcessGroup(watchdogPid);
  }
}

function onExit(): void {
  cleanUpAllSync();
}

function onSignal(signal: NodeJS.Signals): void {
  // Another listener (e.g. a CLI doing a graceful shutdown) owns this signal; it will end up in
  // close() or in process exit, both of which clean up. Killing the JVMs here would pull them out
  // from under it.
  if (process.listenerCount(signal) > 1) return;
  cleanUpAllSync();
  removeProcessHandlers();
  process.kill(process.pid, signal);
}

function installProcessHandlers(): void {
  process.on('exit', onExit);
  for (const signal of HANDLED_SIGNALS) process.on(signal, onSignal);
}

function removeProcessHandlers(): void {
  process.off('exit', onExit);
  for (const signal of HANDLED_SIGNALS) process.off(signal, onSignal);
}

/**
 * The watchdog polls once a second; checking the zombie state matters because a SIGKILLed
 * worker can linger unreaped for a while and `kill -0` succeeds on zombies. The marker is passed
 * in the environment, not argv, so the watchdog does not match (and kill) itself. One grep over
 * all cmdlines (-z: NUL-separated arguments, -x: whole argument) keeps the scan fast; the glob is
 * expanded before grep starts, so grep never sees its own cmdline.
 */
const WATCHDOG_SCRIPT = `
parent_alive() {
  [ -r "/proc/$ZKP_PARENT_PID/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$ZKP_PARENT_PID/status" 2>/dev/null
}
while parent_alive; do sleep 1; done
for cmdline in $(grep -lxzF -e "$ZKP_FIXTURE_MARKER" /proc/[0-9]*/cmdline 2>/dev/null); do
  pid=\${cmdline#/proc/}
  kill -9 "\${pid%/cmdline}" 2>/dev/null
done
rm -rf -- "$ZKP_FIXTURE_DIR"
`;

function spawnWatchdog(baseDir: string): number {
  const watchdog = spawn('/bin/sh', ['-c', WATCHDOG_SCRIPT], {
    // Own process group: survives the parent, and a terminal's Ctrl-C does not reach it.
    detached: true,
    stdio: 'ignore',
    env: {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      ZKP_PARENT_PID: String(process.pid),
      ZKP_FIXTURE_MARKER: fixtureMarkerArg(baseDir),
      ZKP_FIXTURE_DIR: baseDir,
    },
  });
  watchdog.unref();
  if (watchdog.pid === undefined) throw new Error('could not start the fixture watchdog (/bin/sh)');
  return watchdog.pid;
}

function killProcessGroup(leaderPid: number): void {
  // The group also holds the watchdog's current `sleep 1`.
  killQuietly(-leaderPid, 'SIGKILL');
}

function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}
