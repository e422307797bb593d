/**
 * A FlinkHaContender JVM (one Flink JobManager's ZooKeeper HA client) as seen by the test: its
 * JSON event stream, commands with replies, and kill -9. See FlinkHaContender.java for the events.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { javaArguments, type CompiledJava } from '../support/java.ts';

export type Layout = '1.15' | '1.12';
export type Policy = 'standard' | 'tolerate';

export interface ContenderOptions {
  connectString: string;
  clusterId: string;
  layout: Layout;
  policy: Policy;
  name: string;
  /** Flink's `high-availability.zookeeper.client.acl: creator`, authenticated with this digest identity. */
  creator?: { user: string; password: string };
}

/** One event line; `ev`, `t` (epoch ms) and `who` are always there, the rest depends on `ev`. */
export interface FlinkEvent {
  ev: string;
  t: number;
  who: string;
  [field: string]: unknown;
}

export interface Reply extends FlinkEvent {
  ok: boolean;
  error?: string;
}

/** The leader intervals of one contender: [granted, revoked or death], per component. */
export interface LeaderInterval {
  who: string;
  component: string;
  latch: string;
  session: string;
  from: number;
  to: number;
}

export class Contender {
  readonly options: ContenderOptions;
  readonly events: FlinkEvent[] = [];
  readonly stderr: string[] = [];
  /** When this process was killed or exited (epoch ms), so open leader intervals end there. */
  endedAt: number | undefined;
  readonly #child: ChildProcess;
  readonly #exited: Promise<void>;
  #listeners = new Set<() => void>();
  /** Set once the process has exited and its output has been read to the end. */
  #ended = false;
  #nextRequest = 1;

  private constructor(compiled: CompiledJava, options: ContenderOptions) {
    this.options = options;
    const args = [options.connectString, options.clusterId, options.layout, options.policy, options.name];
    if (options.creator !== undefined) args.push(`creator:${options.creator.user}:${options.creator.password}`);
    this.#child = spawn('java', javaArguments(compiled, 'FlinkHaContender', args), { stdio: ['pipe', 'pipe', 'pipe'] });
    this.#child.stdin!.on('error', () => {});
    createInterface({ input: this.#child.stdout! }).on('line', (line) => {
      if (!line.startsWith('{')) return;
      this.events.push(JSON.parse(line) as FlinkEvent);
      for (const listener of this.#listeners) listener();
    });
    createInterface({ input: this.#child.stderr! }).on('line', (line) => this.stderr.push(line));
    // 'close', not 'exit': the last lines (a reply to close) are read by then.
    this.#exited = new Promise((resolve) =>
      this.#child.once('close', () => {
        this.#ended = true;
        this.endedAt ??= Date.now();
        for (const listener of this.#listeners) listener();
        resolve();
      }),
    );
  }

  /** Starts the JVM and waits until its session is connected. */
  static async start(compiled: CompiledJava, options: ContenderOptions): Promise<Contender> {
    const contender = new Contender(compiled, options);
    await contender.waitFor('connected', (event) => event.ev === 'connected', 90_000);
    return contender;
  }

  get name(): string {
    return this.options.name;
  }

  get alive(): boolean {
    return !this.#ended;
  }

  /** The session id (hex) of the first connection. */
  get session(): string {
    return this.first('connected').session as string;
  }

  first(ev: string): FlinkEvent {
    const event = this.events.find((candidate) => candidate.ev === ev);
    if (event === undefined) throw new Error(`${this.name} has no "${ev}" event\n${this.describe()}`);
    return event;
  }

  /** Resolves with the first event (from `fromIndex` on) matching `predicate`. */
  waitFor(what: string, predicate: (event: FlinkEvent) => boolean, timeoutMs = 60_000, fromIndex = 0): Promise<FlinkEvent> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.events.slice(fromIndex).find(predicate);
        if (found !== undefined) finish(undefined, found);
        else if (!this.alive) finish(new Error(`${this.name} exited before "${what}"\n${this.describe()}`));
      };
      const timer = setTimeout(() => finish(new Error(`${this.name}: no "${what}" within ${timeoutMs} ms\n${this.describe()}`)), timeoutMs);
      const finish = (error: Error | undefined, event?: FlinkEvent) => {
        clearTimeout(timer);
        this.#listeners.delete(check);
        if (error) reject(error);
        else resolve(event!);
      };
      this.#listeners.add(check);
      check();
    });
  }

  /** Sends one command and resolves with its reply; rejects when the reply is not ok. */
  async send(command: string, ...args: (string | number)[]): Promise<Reply> {
    const reply = await this.trySend(command, ...args);
    if (!reply.ok) throw new Error(`${this.name}: ${command} ${args.join(' ')} failed: ${reply.error}\n${this.describe()}`);
    return reply;
  }

  /** Sends one command and resolves with its reply, ok or not. */
  async trySend(command: string, ...args: (string | number)[]): Promise<Reply> {
    const request = String(this.#nextRequest++);
    this.#child.stdin!.write(`${request} ${command} ${args.join(' ')}\n`);
    return (await this.waitFor(`reply to ${command}`, (event) => event.ev === 'reply' && event.req === request, 90_000)) as Reply;
  }

  /** Orderly JobManager shutdown: the latch node goes and the session is closed. */
  async close(): Promise<void> {
    if (!this.alive) return;
    await this.send('close');
    await this.#exited;
  }

  /** kill -9: nothing is cleaned up; the session lives on until the ensemble expires it. */
  async kill(): Promise<void> {
    if (!this.alive) return;
    this.endedAt = Date.now();
    this.#child.kill('SIGKILL');
    await this.#exited;
  }

  leaderIntervals(): LeaderInterval[] {
    const intervals: LeaderInterval[] = [];
    const open = new Map<string, LeaderInterval>();
    for (const event of this.events) {
      const component = event.component as string;
      if (event.ev === 'leader') {
        open.set(component, {
          who: this.name,
          component,
          latch: event.latch as string,
          session: event.session as string,
          from: event.t,
          to: Infinity,
        });
      } else if (event.ev === 'revoked' && open.has(component)) {
        intervals.push({ ...open.get(component)!, to: event.t });
        open.delete(component);
      }
    }
    for (const interval of open.values()) intervals.push({ ...interval, to: this.endedAt ?? Infinity });
    return intervals;
  }

  leaderActions(): FlinkEvent[] {
    return this.events.filter((event) => event.ev === 'leader-action');
  }

  describe(): string {
    const tail = (lines: string[]) => lines.slice(-40).join('\n');
    return `--- ${this.name} events (tail) ---\n${tail(this.events.map((event) => JSON.stringify(event)))}\n--- ${this.name} stderr (tail) ---\n${tail(this.stderr)}`;
  }
}
