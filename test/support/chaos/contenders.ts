/**
 * The Flink-like leader contenders (test/chaos/ChaosContender.java) as one asynchronous JVM,
 * its JSON lines collected into the run's history.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pollUntil } from '../../../src/embedded/poll.ts';
import { compileJava, javaArguments, type CompiledJava } from '../java.ts';
import type { HistoryEvent } from './history.ts';

export const CONTENDER_SOURCE = join(import.meta.dirname, '..', '..', 'chaos', 'ChaosContender.java');

export function compileContenders(): Promise<CompiledJava> {
  return compileJava([CONTENDER_SOURCE]);
}

export class ContenderProcess {
  readonly history: HistoryEvent[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<number | null>;
  readonly #child: ChildProcess;

  /** `tenants` maps each tenant to the connect string its contenders use (both proxy replicas). */
  constructor(compiled: CompiledJava, tenants: ReadonlyMap<string, string>, sessionTimeoutMs: number, actionPauseMs: number) {
    const args = [String(sessionTimeoutMs), String(actionPauseMs), ...[...tenants].map(([tenant, connect]) => `${tenant}=${connect}`)];
    this.#child = spawn('java', javaArguments(compiled, 'ChaosContender', args, { heapMb: 192 }), { stdio: ['pipe', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => this.#child.once('exit', (code) => resolve(code)));
    this.#child.stdin!.on('error', () => {}); // a dead JVM is reported through `exited`
    createInterface({ input: this.#child.stderr! }).on('line', (line) => {
      this.stderr.push(line);
      if (this.stderr.length > 300) this.stderr.shift();
    });
    createInterface({ input: this.#child.stdout! }).on('line', (line) => {
      try {
        this.history.push(JSON.parse(line) as HistoryEvent);
      } catch {
        this.stderr.push(`(stdout) ${line}`);
      }
    });
  }

  get running(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** Waits until `condition` holds on the history; fails early if the JVM died. */
  async waitFor<T>(description: string, condition: (history: readonly HistoryEvent[]) => T | undefined, timeoutMs = 60_000): Promise<T> {
    return pollUntil(
      async () => {
        if (!this.running)
          throw new Error(`contender JVM exited (${this.#child.exitCode ?? this.#child.signalCode})\n${this.stderr.slice(-30).join('\n')}`);
        return condition(this.history);
      },
      { description, deadline: Date.now() + timeoutMs, intervalMs: 100 },
    );
  }

  /** Asks the JVM to close its latches and sessions; kills it if it has not exited after 15 s. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.#child.stdin!.end('stop\n');
    const exited = await Promise.race([
      this.exited.then(() => true),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 15_000).unref()),
    ]);
    if (!exited) {
      this.#child.kill('SIGKILL');
      await this.exited;
    }
  }
}
