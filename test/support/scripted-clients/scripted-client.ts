/**
 * Real ZooKeeper clients (the 3.8 Java client, kazoo) as asynchronous child processes driven by
 * commands on stdin and reporting JSON lines on stdout (see ScriptedZkClient.java and
 * scripted_kazoo.py). Asynchronous on purpose: an in-process proxy shares the test's event loop.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const HERE = import.meta.dirname;
const JAVA_LIB = '/usr/share/java';
/** zookeeper.jar's manifest Class-Path brings jute, netty, slf4j-api...; slf4j-simple logs to stderr. */
const JAVA_CLASSPATH = ['zookeeper.jar', 'zookeeper-jute.jar', 'slf4j-api.jar', 'slf4j-simple.jar'].map((jar) => join(JAVA_LIB, jar));
const PYTHON = '/usr/bin/python3';

export interface ClientEvent {
  type: 'state' | 'watch' | 'reply';
  /** Wall clock of the client process, ms. */
  t: number;
  /** When this test process read the line (performance.now()). */
  receivedAt: number;
  [key: string]: unknown;
}

export interface Reply extends ClientEvent {
  ok: boolean;
  error?: string;
}

export class ScriptedClient {
  readonly name: string;
  readonly events: ClientEvent[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcess;
  private readonly waiters = new Set<() => void>();
  private readonly pendingReplies: ((reply: Reply) => void)[] = [];

  constructor(name: string, executable: string, args: string[]) {
    this.name = name;
    this.child = spawn(executable, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
    void this.exited.then(() => this.notify());
    this.child.stdin!.on('error', () => {}); // a dead client is reported through `exited`
    createInterface({ input: this.child.stderr! }).on('line', (line) => {
      this.stderr.push(line);
      if (this.stderr.length > 400) this.stderr.shift();
    });
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      let event: ClientEvent;
      try {
        event = { ...(JSON.parse(line) as ClientEvent), receivedAt: performance.now() };
      } catch {
        this.stderr.push(`(stdout) ${line}`);
        return;
      }
      this.events.push(event);
      if (event.type === 'reply') this.pendingReplies.shift()?.(event as Reply);
      this.notify();
    });
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Sends one command line and resolves with its reply (replies come in command order). */
  command(line: string, timeoutMs = 20_000): Promise<Reply> {
    return new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${this.name}: no reply to "${line}" within ${timeoutMs} ms\n${this.diagnostics()}`)),
        timeoutMs,
      );
      this.pendingReplies.push((reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
      this.child.stdin!.write(`${line}\n`);
    });
  }

  /** Like command(), but throws unless the reply is ok. */
  async ok(line: string, timeoutMs?: number): Promise<Reply> {
    const reply = await this.command(line, timeoutMs);
    if (!reply.ok) throw new Error(`${this.name}: "${line}" failed: ${reply.error}\n${this.diagnostics()}`);
    return reply;
  }

  /** Resolves with the first event at index >= `from` that matches. */
  waitFor(
    description: string,
    match: (event: ClientEvent) => boolean,
    options: { from?: number; timeoutMs?: number } = {},
  ): Promise<ClientEvent> {
    const from = options.from ?? 0;
    const timeoutMs = options.timeoutMs ?? 20_000;
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.events.slice(from).find(match);
        if (found !== undefined) {
          finish();
          resolve(found);
        } else if (!this.running) {
          finish();
          reject(new Error(`${this.name} exited while waiting for ${description}\n${this.diagnostics()}`));
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`${this.name}: no ${description} within ${timeoutMs} ms\n${this.diagnostics()}`));
      }, timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  diagnostics(): string {
    const events = this.events.slice(-30).map((event) => JSON.stringify(event));
    return `--- ${this.name} events:\n${events.join('\n')}\n--- ${this.name} stderr (tail):\n${this.stderr.slice(-40).join('\n')}`;
  }

  /** Asks the client to close its session; kills it if it does not exit promptly. */
  async close(): Promise<void> {
    if (this.running) {
      await this.command('close', 5_000).catch(() => undefined);
      const exited = await Promise.race([
        this.exited.then(() => true),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 3_000)),
      ]);
      if (!exited) this.child.kill('SIGKILL');
    }
    await this.exited;
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

/** The Java client compiled once into a temp dir (never into the repo). */
export interface JavaClientBuild {
  classesDir: string;
  cleanup(): void;
}

export async function compileJavaClient(): Promise<JavaClientBuild> {
  const classesDir = mkdtempSync(join(tmpdir(), 'zkp-scripted-java-'));
  const javac = spawn('javac', ['-nowarn', '-d', classesDir, '-cp', JAVA_CLASSPATH.join(':'), join(HERE, 'ScriptedZkClient.java')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  javac.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  javac.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => javac.once('exit', resolve));
  if (code !== 0) {
    rmSync(classesDir, { recursive: true, force: true });
    throw new Error(`javac ScriptedZkClient.java failed (${code}):\n${output}`);
  }
  return { classesDir, cleanup: () => rmSync(classesDir, { recursive: true, force: true }) };
}

export function startJavaClient(build: JavaClientBuild, connectString: string, sessionTimeoutMs: number): ScriptedClient {
  return new ScriptedClient('java-client', 'java', [
    '-Xmx64m',
    '-XX:TieredStopAtLevel=1',
    '-XX:+UseSerialGC',
    '-XX:-UsePerfData',
    '-Xshare:auto',
    '-Dzookeeper.sasl.client=false',
    '-Dorg.slf4j.simpleLogger.defaultLogLevel=info',
    '-Dorg.slf4j.simpleLogger.showDateTime=true',
    '-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS',
    '-cp',
    [build.classesDir, ...JAVA_CLASSPATH].join(':'),
    'ScriptedZkClient',
    connectString,
    String(sessionTimeoutMs),
  ]);
}

/** `hosts` as kazoo takes them ("h1:p1,h2:p2"); `ordered` tries them in the given order. */
export function startKazooClient(hosts: string, sessionTimeoutMs: number, order: 'random' | 'ordered' = 'random'): ScriptedClient {
  return new ScriptedClient('kazoo-client', PYTHON, ['-u', join(HERE, 'scripted_kazoo.py'), hosts, String(sessionTimeoutMs), order]);
}
