import { readdirSync, readFileSync } from 'node:fs';

/**
 * Blocks until every thread of `pid` is stopped (or the process is gone), at most `timeoutMs`.
 *
 * kill(SIGSTOP) returns before the process has stopped: the kernel wakes one thread to start the
 * group stop, and on a loaded machine other threads keep running until that one is scheduled. A
 * JVM's network threads can answer requests meanwhile, which makes "paused" a lie for a while.
 * Waiting synchronously keeps pause() a plain call; in practice it takes well under a millisecond
 * to a few milliseconds.
 */
export function waitUntilAllThreadsStoppedSync(pid: number, timeoutMs = 2_000): void {
  const deadline = Date.now() + timeoutMs;
  const pauseCell = new Int32Array(new SharedArrayBuffer(4));
  while (!allThreadsStopped(pid)) {
    if (Date.now() > deadline) throw new Error(`process ${pid} did not stop within ${timeoutMs} ms of SIGSTOP`);
    Atomics.wait(pauseCell, 0, 0, 1);
  }
}

function allThreadsStopped(pid: number): boolean {
  let threads: string[];
  try {
    threads = readdirSync(`/proc/${pid}/task`);
  } catch {
    return true; // process gone
  }
  return threads.every((tid) => {
    const state = threadState(pid, tid);
    // T: stopped by a signal; t: traced; Z/X: exiting; undefined: thread already gone.
    return state === undefined || state === 'T' || state === 't' || state === 'Z' || state === 'X';
  });
}

function threadState(pid: number, tid: string): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    // "tid (comm) S ..." — comm may itself contain ") ", so look for the last one.
    return stat.charAt(stat.lastIndexOf(')') + 2);
  } catch {
    return undefined;
  }
}
