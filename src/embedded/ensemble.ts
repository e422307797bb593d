import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { registerForCleanup, type CleanupRegistration } from './fixture-cleanup.ts';
import { fixtureMarkerArgs } from './fixture-processes.ts';
import { parseServerMode, sendFourLetterWord, type ServerMode } from './four-letter-word.ts';
import { reserveFreePorts } from './free-ports.ts';
import { pollUntil, PollAbort } from './poll.ts';
import { renderServerConfig, type MemberAddress } from './server-config.ts';
import { probeSession } from './session-probe.ts';
import { waitUntilAllThreadsStoppedSync } from './thread-states.ts';
import { zookeeperServerCommand } from './zookeeper-jvm.ts';

export interface EnsembleOptions {
  /** 1..5, default 3. A single member runs standalone. */
  size?: number;
  /** Default 1000 ms; session timeouts are clamped by the server to 2..20 x tickTime. */
  tickTime?: number;
  /** -Dzookeeper.enforceQuota, default true: hard quotas (countHardLimit/byteHardLimit) reject writes. */
  enforceQuota?: boolean;
  /** 4lw.commands.whitelist, default DEFAULT_FOUR_LETTER_WORDS; 'srvr' is always added (the fixture needs it). */
  fourLetterWords?: string[];
  /** Default 0 (unlimited): a proxy opens one backend connection per client. */
  maxClientCnxns?: number;
  /** Identity that bypasses all ACLs; default { user: 'super', password: 'super-secret' }. */
  superDigest?: { user: string; password: string };
  /** -Dzookeeper.extendedTypesEnabled (TTL nodes), default true. */
  extendedTypes?: boolean;
  /** Default false. */
  reconfigEnabled?: boolean;
  /** Max heap per member, default 256. */
  jvmHeapMb?: number;
  /** Default: a fresh directory under os.tmpdir(). Removed by close() either way. */
  baseDir?: string;
  /** Extra zoo.cfg lines; they override the fixture's values for the same key. */
  serverProperties?: Record<string, string>;
  /** Extra -D flags; they override the fixture's values for the same key. */
  systemProperties?: Record<string, string>;
  /** How long start() and restart() wait for members to serve, default 60 s. */
  startTimeoutMs?: number;
  /**
   * Jars of the ZooKeeper server release to run (QuorumPeerMain from them, plus an SLF4J
   * binding), e.g. a Maven artifact set for 3.6/3.7/3.9; default: Debian's 3.8.
   */
  serverClasspath?: readonly string[];
}

export type MemberState = 'running' | 'stopped' | 'paused';

export interface EnsembleMember {
  readonly id: number;
  readonly host: string;
  readonly clientPort: number;
  readonly quorumPort: number;
  readonly electionPort: number;
  /** undefined while the member is stopped. */
  readonly pid: number | undefined;
  readonly dataDir: string;
  /** The JVM's stdout and stderr (ZooKeeper logs to stderr); appended to across restarts. */
  readonly logFile: string;
  readonly state: MemberState;
}

export const DEFAULT_FOUR_LETTER_WORDS: readonly string[] = ['ruok', 'srvr', 'stat', 'mntr', 'conf', 'isro', 'cons', 'wchs'];

const HOST = '127.0.0.1';
const PORT_CONFLICT_ATTEMPTS = 3;
const STOP_GRACE_MS = 10_000;
const SESSION_PROBE_TIMEOUT_MS = 3_000;

interface ResolvedOptions {
  size: number;
  tickTime: number;
  enforceQuota: boolean;
  extendedTypes: boolean;
  fourLetterWords: string[];
  maxClientCnxns: number;
  superDigest: { user: string; password: string };
  reconfigEnabled: boolean;
  jvmHeapMb: number;
  baseDir: string | undefined;
  serverProperties: Record<string, string>;
  systemProperties: Record<string, string>;
  startTimeoutMs: number;
  serverClasspath: readonly string[] | undefined;
}

/** Book-keeping for one member; exposed read-only as EnsembleMember. */
class Member implements EnsembleMember {
  pid: number | undefined = undefined;
  state: MemberState = 'stopped';
  process: ChildProcess | undefined = undefined;
  exited: Promise<void> = Promise.resolve();
  lastExit = '';
  readonly host = HOST;
  readonly address: MemberAddress;
  readonly memberDir: string;
  readonly dataDir: string;
  readonly logFile: string;
  readonly configFile: string;

  constructor(address: MemberAddress, baseDir: string) {
    this.address = address;
    this.memberDir = join(baseDir, `member-${address.id}`);
    this.dataDir = join(this.memberDir, 'data');
    this.logFile = join(this.memberDir, 'zookeeper.log');
    this.configFile = join(this.memberDir, 'zoo.cfg');
  }

  get id(): number {
    return this.address.id;
  }
  get clientPort(): number {
    return this.address.clientPort;
  }
  get quorumPort(): number {
    return this.address.quorumPort;
  }
  get electionPort(): number {
    return this.address.electionPort;
  }
}

/**
 * N real Apache ZooKeeper servers (Debian's 3.8 jars unless serverClasspath names another
 * release), one JVM each, on free loopback ports.
 *
 * Always close() it. If that does not happen (failed test, timeout, killed process), the JVMs
 * and the directory are still removed: see fixture-cleanup.ts.
 */
export class LocalEnsemble {
  readonly baseDir: string;
  readonly superAuth: { scheme: 'digest'; user: string; password: string };
  readonly #members: Member[];
  readonly #options: ResolvedOptions;
  readonly #cleanup: CleanupRegistration;
  #closing: Promise<void> | undefined;

  private constructor(baseDir: string, members: Member[], options: ResolvedOptions, cleanup: CleanupRegistration) {
    this.baseDir = baseDir;
    this.#members = members;
    this.#options = options;
    this.#cleanup = cleanup;
    this.superAuth = { scheme: 'digest', user: options.superDigest.user, password: options.superDigest.password };
  }

  /** Starts every member in parallel and resolves once each of them serves client sessions. */
  static async start(options: EnsembleOptions = {}): Promise<LocalEnsemble> {
    const resolved = resolveOptions(options);
    for (let attempt = 1; ; attempt++) {
      const ensemble = await LocalEnsemble.#prepare(resolved);
      try {
        await ensemble.#startAll();
        return ensemble;
      } catch (error) {
        // Ports were free when reserved but another process may grab one before the JVM binds it.
        const portConflict = ensemble.#members.some((member) => readText(member.logFile).includes('Address already in use'));
        const diagnostics = ensemble.diagnostics();
        await ensemble.close();
        if (portConflict && attempt < PORT_CONFLICT_ATTEMPTS) continue;
        throw new Error(`ZooKeeper ensemble of ${resolved.size} did not start: ${errorMessage(error)}\n${diagnostics}`, {
          cause: error,
        });
      }
    }
  }

  static async #prepare(options: ResolvedOptions): Promise<LocalEnsemble> {
    const baseDir = options.baseDir ?? mkdtempSync(join(tmpdir(), 'zkp-ensemble-'));
    mkdirSync(baseDir, { recursive: true });
    const members: Member[] = [];
    // Registered before any JVM exists so that no window is left without cleanup.
    const cleanup = registerForCleanup({
      baseDir,
      livePids: () => members.flatMap((member) => (member.pid === undefined ? [] : [member.pid])),
    });
    try {
      const ports = await reserveFreePorts(options.size * 3, HOST);
      const addresses = Array.from(
        { length: options.size },
        (_, index): MemberAddress => ({
          id: index + 1,
          host: HOST,
          clientPort: ports[index * 3]!,
          quorumPort: ports[index * 3 + 1]!,
          electionPort: ports[index * 3 + 2]!,
        }),
      );
      for (const address of addresses) {
        const member = new Member(address, baseDir);
        mkdirSync(member.dataDir, { recursive: true });
        writeFileSync(join(member.dataDir, 'myid'), `${address.id}\n`);
        writeFileSync(
          member.configFile,
          renderServerConfig({
            self: address,
            ensemble: addresses,
            dataDir: member.dataDir,
            tickTime: options.tickTime,
            maxClientCnxns: options.maxClientCnxns,
            fourLetterWords: options.fourLetterWords,
            reconfigEnabled: options.reconfigEnabled,
            extra: options.serverProperties,
          }),
        );
        members.push(member);
      }
      return new LocalEnsemble(baseDir, members, options, cleanup);
    } catch (error) {
      rmSync(baseDir, { recursive: true, force: true });
      cleanup.release();
      throw error;
    }
  }

  get members(): readonly EnsembleMember[] {
    return this.#members;
  }

  member(id: number): EnsembleMember {
    return this.#member(id);
  }

  /** "127.0.0.1:p1,127.0.0.1:p2,..." for the given members, default all (also stopped ones). */
  connectString(ids?: number[]): string {
    const members = ids === undefined ? this.#members : ids.map((id) => this.#member(id));
    return members.map((member) => `${member.host}:${member.clientPort}`).join(',');
  }

  /** SIGTERM, then SIGKILL if the JVM has not exited after 10 s. Resolves once it has exited. */
  async stop(id: number): Promise<void> {
    const member = this.#member(id);
    if (member.process === undefined) return;
    const wasPaused = member.state === 'paused';
    signal(member, 'SIGTERM');
    // A stopped process only acts on SIGTERM once continued.
    if (wasPaused) signal(member, 'SIGCONT');
    const exitedInTime = await Promise.race([member.exited.then(() => true), sleep(STOP_GRACE_MS, false)]);
    if (!exitedInTime) await this.kill(id);
  }

  async kill(id: number): Promise<void> {
    const member = this.#member(id);
    if (member.process === undefined) return;
    signal(member, 'SIGKILL');
    await member.exited;
  }

  /** Starts a stopped member again (stopping it first if needed) with its data and ports. */
  async restart(id: number): Promise<void> {
    const member = this.#member(id);
    if (member.process !== undefined) await this.stop(id);
    appendFileSync(member.logFile, `\n===== zkp fixture: restarting member ${id} at ${new Date().toISOString()} =====\n`);
    this.#launch(member);
    try {
      await this.#waitUntilServing([member], Date.now() + this.#options.startTimeoutMs);
    } catch (error) {
      throw new Error(`member ${id} did not come back: ${errorMessage(error)}\n${this.diagnostics([id])}`, { cause: error });
    }
  }

  /**
   * SIGSTOP: the JVM keeps its sockets but answers nothing, like a machine in a long GC pause.
   * Returns once every thread has actually stopped.
   */
  pause(id: number): void {
    const member = this.#member(id);
    if (member.state !== 'running' || member.pid === undefined) {
      throw new Error(`member ${id} is ${member.state}, cannot pause it`);
    }
    signal(member, 'SIGSTOP');
    member.state = 'paused';
    waitUntilAllThreadsStoppedSync(member.pid);
  }

  resume(id: number): void {
    const member = this.#member(id);
    if (member.state !== 'paused') throw new Error(`member ${id} is ${member.state}, cannot resume it`);
    signal(member, 'SIGCONT');
    member.state = 'running';
  }

  /** Id of the member whose `srvr` reports Mode: leader (or standalone for a single member). */
  async leader(): Promise<number> {
    const modes = await this.#serverModes(this.#running());
    const leaders = [...modes].filter(([, mode]) => mode === 'leader' || mode === 'standalone');
    if (leaders.length !== 1) throw new Error(`expected exactly one leader, members report: ${describeModes(modes)}`);
    return leaders[0]![0];
  }

  /**
   * Resolves once there is a single leader and every running member (paused and stopped ones
   * are left out) serves client sessions. Use after kill/stop/pause to wait for re-election.
   */
  async waitForQuorum(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    try {
      await pollUntil(
        async () => {
          const running = this.#running();
          const modes = await this.#serverModes(running);
          const serving = [...modes.values()].every((mode) => mode !== undefined);
          const leaders = [...modes.values()].filter((mode) => mode === 'leader' || mode === 'standalone');
          if (running.length === 0 || !serving || leaders.length !== 1) {
            throw new Error(`members report: ${describeModes(modes)}`);
          }
          await Promise.all(running.map((member) => probeSession(this.connectString([member.id]), SESSION_PROBE_TIMEOUT_MS)));
          return true;
        },
        { deadline, intervalMs: 200, description: 'a serving quorum' },
      );
    } catch (error) {
      throw new Error(`${errorMessage(error)}\n${this.diagnostics()}`, { cause: error });
    }
  }

  fourLetterWord(id: number, word: string): Promise<string> {
    const member = this.#member(id);
    return sendFourLetterWord(member.host, member.clientPort, word);
  }

  /** Last `lines` lines of the member's log; worth printing when a test fails. */
  logTail(id: number, lines = 50): string {
    return readText(this.#member(id).logFile)
      .split('\n')
      .slice(-lines - 1)
      .join('\n');
  }

  /** State and log tail of some (default all) members, for error messages. */
  diagnostics(ids?: number[], lines = 20): string {
    const members = ids === undefined ? this.#members : ids.map((id) => this.#member(id));
    return members
      .map((member) => {
        const header = `--- member ${member.id} (${member.state}, pid ${member.pid ?? '-'}${member.lastExit ? `, last exit ${member.lastExit}` : ''}) ${member.logFile}`;
        return `${header}\n${this.logTail(member.id, lines)}`;
      })
      .join('\n');
  }

  /** SIGKILLs every member and removes the base directory. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      for (const member of this.#members) {
        if (member.process !== undefined) signal(member, 'SIGKILL');
      }
      await Promise.all(this.#members.map((member) => member.exited));
      rmSync(this.baseDir, { recursive: true, force: true, maxRetries: 3 });
      this.#cleanup.release();
    })();
    return this.#closing;
  }

  async #startAll(): Promise<void> {
    for (const member of this.#members) this.#launch(member);
    await this.#waitUntilServing(this.#members, Date.now() + this.#options.startTimeoutMs);
  }

  #launch(member: Member): void {
    const options = this.#options;
    const command = zookeeperServerCommand({
      configFile: member.configFile,
      heapMb: options.jvmHeapMb,
      ...(options.serverClasspath === undefined ? {} : { classpath: options.serverClasspath }),
      markerArgs: fixtureMarkerArgs(this.baseDir),
      systemProperties: {
        'zookeeper.enforceQuota': String(options.enforceQuota),
        'zookeeper.extendedTypesEnabled': String(options.extendedTypes),
        'zookeeper.DigestAuthenticationProvider.superDigest': superDigestProperty(options.superDigest),
        // Election rounds back off up to 60 s by default; a member restarted while the others
        // are looking for a leader would then sit idle for most of a test's budget.
        'zookeeper.fastleader.maxNotificationInterval': '2000',
        // A paused peer accepts TCP connections but never answers; do not block on it for 5 s.
        'zookeeper.cnxTimeout': '2000',
        ...options.systemProperties,
      },
    });
    const log = openSync(member.logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(command.executable, command.args, { stdio: ['ignore', log, log] });
    } finally {
      closeSync(log);
    }
    member.process = child;
    member.pid = child.pid;
    member.state = 'running';
    member.exited = new Promise((resolveExit) => {
      const onGone = (reason: string) => {
        // A late event from a previous incarnation must not touch the restarted member.
        if (member.process === child) {
          member.process = undefined;
          member.pid = undefined;
          member.state = 'stopped';
          member.lastExit = reason;
        }
        resolveExit();
      };
      child.once('exit', (code, signalName) => onGone(signalName ?? `code ${code}`));
      child.once('error', (error) => onGone(`spawn error: ${error.message}`));
    });
  }

  async #waitUntilServing(members: readonly Member[], deadline: number): Promise<void> {
    await Promise.all(
      members.map((member) =>
        pollUntil(
          async () => {
            if (member.state === 'stopped') {
              throw new PollAbort(new Error(`member ${member.id} exited (${member.lastExit}) while starting`));
            }
            const mode = parseServerMode(await sendFourLetterWord(member.host, member.clientPort, 'srvr'));
            if (mode === undefined) return undefined;
            await probeSession(this.connectString([member.id]), SESSION_PROBE_TIMEOUT_MS);
            return mode;
          },
          { deadline, intervalMs: 100, description: `member ${member.id} to serve on port ${member.clientPort}` },
        ),
      ),
    );
  }

  async #serverModes(members: readonly Member[]): Promise<Map<number, ServerMode | undefined>> {
    const entries = await Promise.all(
      members.map(async (member): Promise<[number, ServerMode | undefined]> => {
        const reply = await sendFourLetterWord(member.host, member.clientPort, 'srvr', 1_000).catch(() => '');
        return [member.id, parseServerMode(reply)];
      }),
    );
    return new Map(entries);
  }

  #running(): Member[] {
    return this.#members.filter((member) => member.state === 'running');
  }

  #member(id: number): Member {
    const member = this.#members.find((candidate) => candidate.id === id);
    if (member === undefined) throw new Error(`no member ${id}; members are ${this.#members.map((m) => m.id).join(', ')}`);
    return member;
  }
}

function resolveOptions(options: EnsembleOptions): ResolvedOptions {
  const size = options.size ?? 3;
  if (!Number.isInteger(size) || size < 1 || size > 5) throw new RangeError(`ensemble size must be 1..5, got ${size}`);
  const fourLetterWords = [...new Set([...(options.fourLetterWords ?? DEFAULT_FOUR_LETTER_WORDS), 'srvr'])];
  const invalidWord = fourLetterWords.find((word) => word !== '*' && !/^[a-z]{4}$/.test(word));
  if (invalidWord !== undefined) throw new RangeError(`not a four-letter word: ${JSON.stringify(invalidWord)}`);
  return {
    size,
    tickTime: options.tickTime ?? 1_000,
    enforceQuota: options.enforceQuota ?? true,
    extendedTypes: options.extendedTypes ?? true,
    fourLetterWords,
    maxClientCnxns: options.maxClientCnxns ?? 0,
    superDigest: options.superDigest ?? { user: 'super', password: 'super-secret' },
    reconfigEnabled: options.reconfigEnabled ?? false,
    jvmHeapMb: options.jvmHeapMb ?? 256,
    baseDir: options.baseDir === undefined ? undefined : resolve(options.baseDir),
    serverProperties: options.serverProperties ?? {},
    systemProperties: options.systemProperties ?? {},
    startTimeoutMs: options.startTimeoutMs ?? 60_000,
    serverClasspath: options.serverClasspath,
  };
}

/** The value DigestAuthenticationProvider expects: user:base64(sha1("user:password")). */
function superDigestProperty({ user, password }: { user: string; password: string }): string {
  return `${user}:${createHash('sha1').update(`${user}:${password}`).digest('base64')}`;
}

function signal(member: Member, name: NodeJS.Signals): void {
  try {
    member.process?.kill(name);
  } catch {
    // exited in the meantime; the exit handler updates the state
  }
}

function describeModes(modes: ReadonlyMap<number, ServerMode | undefined>): string {
  if (modes.size === 0) return 'no running members';
  return [...modes].map(([id, mode]) => `${id}=${mode ?? 'not serving'}`).join(', ');
}

function readText(file: string): string {
  return existsSync(file) ? readFileSync(file, 'utf8') : '';
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
