/**
 * Load generator process for the fairness benchmark (forked by bench/lib/fairness.ts): one
 * tenant's sessions sending getData of one small node, paced open-loop at `rate` requests/s over
 * all sessions with at most `inflight` outstanding per session (a request that comes due while
 * its session is at the cap goes out as soon as a reply frees room, and counts as late).
 * rate 0 = closed loop (always `inflight` outstanding). `burst` requests go out per write.
 *
 * Every reply is checked: xid order per session, error code counted. Latencies (send to reply,
 * successful replies only) go into an HDR histogram, encoded for the parent.
 *
 *   parent → { type: 'spec', spec }   child → { type: 'ready' }
 *   parent → { type: 'go' }           child → { type: 'result', ... } after warmupMs + durationMs
 */
import { connect, type Socket } from 'node:net';
import { decodeConnectResponse, encodeRequest, ErrorCode, FrameReader, OpCode, encodeNewSessionRequest } from 'jute-ts';
import { encodeHistogram, MAX_RECORDABLE_NS, newHistogram } from './histogram.ts';

export interface FairLoadSpec {
  host: string;
  port: number;
  /** Client-side path (the proxy adds the tenant chroot). */
  path: string;
  sessions: number;
  /** Outstanding requests per session, at most. */
  inflight: number;
  /** Requests per second over all sessions; 0 = closed loop. */
  rate: number;
  /**
   * Requests per write. 1: every request is its own write (a proxy that paused the socket
   * reads them back one at a time). n > 1: a session sends n at once, in one write, when n are
   * due and it has room for n more in flight, as a batch job with an async API does.
   */
  burst: number;
  warmupMs: number;
  durationMs: number;
  sessionTimeoutMs: number;
}

export type FairLoadCommand = { type: 'spec'; spec: FairLoadSpec } | { type: 'go' };

export interface FairLoadResult {
  type: 'result';
  /** Requests sent / replies by error code, inside the measured window. */
  sent: number;
  byErr: Record<string, number>;
  /** Sends that went out later than their pacing slot (the session was at its cap). */
  late: number;
  windowMs: number;
  /** CPU this generator used over the window, in cores. */
  cpuCores: number;
  histogram: string;
  problems: string[];
}

export type FairLoadEvent = { type: 'ready' } | FairLoadResult | { type: 'fatal'; message: string };

const TICK_MS = 2;

class Session {
  readonly socket: Socket;
  private readonly reader = new FrameReader();
  private readonly template: Buffer;
  /** Send times and xids of requests in flight, oldest first. */
  private readonly sentAt: number[] = [];
  private readonly xids: number[] = [];
  private nextXid = 1;
  /** Pacing: when the next request is due (performance.now() ms). */
  nextDue = 0;
  private onReady: ((error?: Error) => void) | undefined;
  private handshaken = false;
  private readonly stats: Stats;
  private readonly onReply: (session: Session) => void;

  constructor(spec: FairLoadSpec, stats: Stats, onReply: (session: Session) => void) {
    this.stats = stats;
    this.onReply = onReply;
    this.template = encodeRequest({ xid: 0, opcode: OpCode.getData, body: { path: spec.path, watch: false } });
    this.socket = connect({ host: spec.host, port: spec.port, noDelay: true });
    this.socket.on('data', (chunk: Buffer) => this.reader.push(chunk, (frame) => this.onFrame(frame)));
    this.socket.on('error', (error) => this.fail(`socket error: ${error.message}`));
    this.socket.on('close', () => this.fail('connection closed'));
    this.socket.write(encodeNewSessionRequest(spec.sessionTimeoutMs));
  }

  ready(): Promise<void> {
    return new Promise((resolve, reject) => (this.onReady = (error) => (error ? reject(error) : resolve())));
  }

  get inFlight(): number {
    return this.xids.length;
  }

  send(): void {
    const frame = Buffer.from(this.template);
    const xid = this.nextXid++;
    frame.writeInt32BE(xid, 4);
    this.xids.push(xid);
    this.sentAt.push(performance.now());
    this.stats.sent();
    this.socket.write(frame);
  }

  private onFrame(frame: Buffer): void {
    if (!this.handshaken) {
      this.handshaken = true;
      const response = decodeConnectResponse(frame);
      this.onReady?.(response.timeOut > 0 ? undefined : new Error('session refused (timeOut 0)'));
      return;
    }
    const xid = frame.readInt32BE(4);
    if (xid < 0) return; // pings, notifications
    const expected = this.xids.shift();
    const sentAt = this.sentAt.shift()!;
    if (expected !== xid) this.stats.problem(`reply xid ${xid}, expected ${expected}`);
    this.stats.reply(frame.readInt32BE(16), performance.now() - sentAt);
    this.onReply(this);
  }

  private fail(reason: string): void {
    if (!this.handshaken) this.onReady?.(new Error(reason));
    else if (!this.stats.stopping) this.stats.problem(reason);
  }
}

class Stats {
  measuring = false;
  stopping = false;
  private sentCount = 0;
  private readonly byErr = new Map<number, number>();
  late = 0;
  private readonly histogram = newHistogram();
  private readonly problems: string[] = [];

  sent(): void {
    if (this.measuring) this.sentCount++;
  }

  reply(err: number, ms: number): void {
    if (!this.measuring) return;
    this.byErr.set(err, (this.byErr.get(err) ?? 0) + 1);
    if (err === ErrorCode.OK) this.histogram.recordValue(Math.min(Math.round(ms * 1e6), MAX_RECORDABLE_NS));
  }

  problem(message: string): void {
    if (this.problems.length < 10) this.problems.push(message);
  }

  result(windowMs: number, cpuCores: number): FairLoadResult {
    return {
      cpuCores,
      type: 'result',
      sent: this.sentCount,
      byErr: Object.fromEntries([...this.byErr].map(([err, n]) => [String(err), n])),
      late: this.late,
      windowMs,
      histogram: encodeHistogram(this.histogram),
      problems: this.problems,
    };
  }
}

async function run(spec: FairLoadSpec, go: Promise<void>): Promise<FairLoadResult> {
  const stats = new Stats();
  const closedLoop = spec.rate === 0;
  const interval = closedLoop ? 0 : (1000 * spec.sessions) / spec.rate; // per session
  const burst = Math.max(1, Math.min(spec.burst, spec.inflight));
  const sendBurst = (session: Session) => {
    if (burst > 1) session.socket.cork();
    for (let i = 0; i < burst; i++) session.send();
    if (burst > 1) session.socket.uncork();
  };
  const pump = (session: Session) => {
    const now = performance.now();
    if (closedLoop) {
      while (session.inFlight + burst <= spec.inflight) sendBurst(session);
      return;
    }
    // The burst's last request must be due: nextDue is the first one's slot.
    while (session.nextDue + (burst - 1) * interval <= now && session.inFlight + burst <= spec.inflight) {
      if (now - session.nextDue > burst * interval) stats.late++;
      sendBurst(session);
      session.nextDue += burst * interval;
    }
  };
  const sessions: Session[] = [];
  for (let i = 0; i < spec.sessions; i++) sessions.push(new Session(spec, stats, pump));
  await Promise.all(sessions.map((s) => s.ready()));
  process.send!({ type: 'ready' } satisfies FairLoadEvent);
  await go;
  const start = performance.now();
  // Sessions start staggered over one interval, so the load is spread, not in lockstep.
  sessions.forEach((s, i) => (s.nextDue = start + (interval * i) / spec.sessions));
  const ticker = setInterval(() => {
    for (const s of sessions) pump(s);
  }, TICK_MS);
  if (closedLoop) for (const s of sessions) pump(s);
  await new Promise((resolve) => setTimeout(resolve, spec.warmupMs));
  stats.measuring = true;
  stats.late = 0;
  const measuredFrom = performance.now();
  const cpuFrom = process.cpuUsage();
  await new Promise((resolve) => setTimeout(resolve, spec.durationMs));
  stats.measuring = false;
  const windowMs = performance.now() - measuredFrom;
  const cpu = process.cpuUsage(cpuFrom);
  const cpuCores = Math.round(((cpu.user + cpu.system) / 1000 / windowMs) * 100) / 100;
  stats.stopping = true;
  clearInterval(ticker);
  for (const s of sessions) s.socket.destroy();
  return stats.result(windowMs, cpuCores);
}

let goResolve: () => void = () => {};
const go = new Promise<void>((resolve) => (goResolve = resolve));
process.on('message', (command: FairLoadCommand) => {
  if (command.type === 'go') goResolve();
  else if (command.type === 'spec') {
    run(command.spec, go).then(
      (result) => process.send!(result, () => process.exit(0)),
      (error: Error) => process.send!({ type: 'fatal', message: error.message } satisfies FairLoadEvent, () => process.exit(1)),
    );
  }
});
