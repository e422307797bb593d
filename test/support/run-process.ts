/**
 * Runs a program to completion as an ASYNCHRONOUS child process. Tests that serve an in-process
 * proxy must never use execFileSync/spawnSync: the proxy shares the test's event loop and would
 * stop relaying while the child waits for it.
 */
import { spawn } from 'node:child_process';

export interface RunOptions {
  /** Kill (SIGKILL) the child after this long and reject; default 120 s. */
  timeoutMs?: number;
  /** Merged over process.env. */
  env?: Record<string, string>;
  cwd?: string;
  /** Written to the child's stdin, which is then closed. */
  input?: string;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function runProcess(executable: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = options.timeoutMs ?? 120_000;
  return new Promise((resolve, reject) => {
    const child = spawn(executable, args, {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const result = { code, signal, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8') };
      if (timedOut) {
        reject(new Error(`${executable} ${args.join(' ')} still running after ${timeoutMs} ms, killed\n${describeRun(result)}`));
      } else resolve(result);
    });
    child.stdin.on('error', () => {}); // a child that exits without reading its stdin
    child.stdin.end(options.input ?? '');
  });
}

/** Throws with the output's tail unless the program exited 0. */
export function expectSuccess(what: string, result: RunResult): RunResult {
  if (result.code !== 0) throw new Error(`${what} failed (exit ${result.code ?? result.signal})\n${describeRun(result)}`);
  return result;
}

/**
 * The JSON object on the last stdout line starting with `prefix` (client programs print one
 * "RESULT {...}" line); throws with the output when there is none.
 */
export function resultLine<T = Record<string, unknown>>(result: RunResult, prefix = 'RESULT '): T {
  const line = result.stdout
    .split('\n')
    .reverse()
    .find((candidate) => candidate.startsWith(prefix));
  if (line === undefined) throw new Error(`no "${prefix.trim()}" line in the output\n${describeRun(result)}`);
  return JSON.parse(line.slice(prefix.length)) as T;
}

export function describeRun(result: RunResult, lines = 60): string {
  const tail = (text: string) => text.split('\n').slice(-lines).join('\n');
  return `--- stdout (tail) ---\n${tail(result.stdout)}\n--- stderr (tail) ---\n${tail(result.stderr)}`;
}

export interface InteractiveProcess {
  /** Resolves with the first stdout line (from the start) that starts with `prefix`. */
  line(prefix: string, timeoutMs?: number): Promise<string>;
  /** Writes one line to the child's stdin. */
  send(line: string): void;
  /** Resolves once the child has exited (rejects on timeout, like runProcess). */
  readonly done: Promise<RunResult>;
  kill(): void;
}

/**
 * Starts a program that talks line by line (stdout lines out, stdin lines in), for workloads
 * the test has to step in lockstep with other processes.
 */
export function startInteractive(executable: string, args: readonly string[], options: Omit<RunOptions, 'input'> = {}): InteractiveProcess {
  const timeoutMs = options.timeoutMs ?? 120_000;
  const child = spawn(executable, args, { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const listeners = new Set<() => void>();
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    for (const listener of listeners) listener();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdin.on('error', () => {});
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutMs);
  const done = new Promise<RunResult>((resolve, reject) => {
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      for (const listener of listeners) listener();
      const result = { code, signal, stdout, stderr };
      if (timedOut)
        reject(new Error(`${executable} ${args.join(' ')} still running after ${timeoutMs} ms, killed\n${describeRun(result)}`));
      else resolve(result);
    });
  });
  done.catch(() => {}); // observed through line() or by the caller
  const exited = () => child.exitCode !== null || child.signalCode !== null;
  return {
    done,
    send: (line) => void child.stdin.write(`${line}\n`),
    kill: () => void child.kill('SIGKILL'),
    line: (prefix, lineTimeoutMs = 60_000) =>
      new Promise<string>((resolve, reject) => {
        const check = () => {
          const found = stdout.split('\n').find((candidate, index, all) => index < all.length - 1 && candidate.startsWith(prefix));
          if (found !== undefined) finish(undefined, found);
          else if (exited())
            finish(
              new Error(
                `exited (${child.exitCode ?? child.signalCode}) before printing "${prefix}"\n${describeRun({ code: child.exitCode, signal: child.signalCode, stdout, stderr })}`,
              ),
            );
        };
        const timer = setTimeout(
          () =>
            finish(
              new Error(
                `no "${prefix}" line within ${lineTimeoutMs} ms\n${describeRun({ code: child.exitCode, signal: child.signalCode, stdout, stderr })}`,
              ),
            ),
          lineTimeoutMs,
        );
        const finish = (error: Error | undefined, line?: string) => {
          clearTimeout(timer);
          listeners.delete(check);
          if (error) reject(error);
          else resolve(line!);
        };
        listeners.add(check);
        check();
      }),
  };
}
