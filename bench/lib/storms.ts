/**
 * Session-shaped workloads (forked by bench/lib/driver.ts, one process per run), where the
 * unit is not a request in a closed loop:
 *   idle      — open N sessions, hold them while the parent samples RSS, close them
 *   connstorm — C concurrent loops of connect → session handshake → closeSession → close, for D ms
 *   watchstorm — W sessions watch one znode (getData watch=true); one more session changes it;
 *                the latency of every notification (from the setData write), per round
 *
 * IPC: parent → {spec}; child → 'holding' (idle only; parent answers 'release'), 'progress', 'result' or 'fatal'.
 */
import { connect, type Socket } from 'node:net';
import { decodeConnectResponse, encodeRequest, errorName, FrameReader, OpCode, encodeNewSessionRequest } from 'jute-ts';
import { encodeHistogram, MAX_RECORDABLE_NS, newHistogram, type Histogram } from './histogram.ts';
import type { Endpoint } from './loadgen.ts';

export interface StormSpec {
  kind: 'idle' | 'connstorm' | 'watchstorm';
  host: string;
  endpoints: Endpoint[];
  portOffset: number;
  sessionTimeoutMs: number;
  /** idle: sessions held; connstorm: concurrent loops; watchstorm: watching sessions. */
  sessions: number;
  /** connstorm: how long the storm lasts. */
  durationMs: number;
  /** watchstorm: rounds (one change each) and the watched znode (relative to the endpoint prefix). */
  rounds: number;
  watchPath: string;
}

export type StormCommand = { type: 'spec'; spec: StormSpec } | { type: 'release' };

export interface StormResult {
  type: 'result';
  /** idle: sessions opened; connstorm: sessions opened and closed; watchstorm: notifications received. */
  completed: number;
  windowMs: number;
  /** idle/connstorm: handshake latency; watchstorm: notification latency (ns). */
  histogram: string;
  /** watchstorm: per round, ms from the setData write to the last notification. */
  roundMs: number[];
  errorCount: number;
  errors: string[];
}

export type StormEvent =
  | { type: 'holding'; sessions: number; connectMs: number }
  | { type: 'progress'; text: string }
  | StormResult
  | { type: 'fatal'; message: string };

const NOTIFICATION_XID = -1;
const PING_XID = -2;

/** A bare session: handshake, requests answered in order, notifications to a callback. */
class RawSession {
  private readonly socket: Socket;
  private readonly reader = new FrameReader();
  private readonly pending: { resolve: (err: number) => void; reject: (error: Error) => void }[] = [];
  private handshake: { resolve: () => void; reject: (error: Error) => void } | undefined;
  private nextXid = 1;
  private closed = false;
  onNotification: (() => void) | undefined;
  readonly ready: Promise<void>;

  constructor(host: string, port: number, timeoutMs: number) {
    this.ready = new Promise((resolve, reject) => {
      this.handshake = { resolve, reject };
    });
    this.ready.catch(() => {});
    this.socket = connect({ host, port, noDelay: true });
    this.socket.on('data', (chunk: Buffer) => {
      try {
        this.reader.push(chunk, this.onFrame);
      } catch (error) {
        this.fail(`${(error as Error).message}`);
      }
    });
    this.socket.on('error', (error) => this.fail(`socket error: ${error.message}`));
    this.socket.on('close', () => this.fail('connection closed'));
    this.socket.write(encodeNewSessionRequest(timeoutMs));
  }

  private readonly onFrame = (frame: Buffer): void => {
    if (this.handshake) {
      const { resolve, reject } = this.handshake;
      this.handshake = undefined;
      const response = decodeConnectResponse(frame);
      if (response.timeOut > 0) resolve();
      else reject(new Error(`session refused (timeOut ${response.timeOut})`));
      return;
    }
    const xid = frame.readInt32BE(4);
    if (xid === NOTIFICATION_XID) {
      this.onNotification?.();
      return;
    }
    if (xid === PING_XID) return;
    this.pending.shift()?.resolve(frame.readInt32BE(16));
  };

  private fail(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    const error = new Error(reason);
    this.handshake?.reject(error);
    this.handshake = undefined;
    for (const p of this.pending.splice(0)) p.reject(error);
    this.socket.destroy();
  }

  /** Sends one request and resolves with the reply's err. */
  request(opcode: number, body?: object): Promise<number> {
    if (this.closed) return Promise.reject(new Error('session closed'));
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.socket.write(
        encodeRequest({ xid: this.nextXid++, opcode, ...(body === undefined ? {} : { body }) } as Parameters<typeof encodeRequest>[0]),
      );
    });
  }

  ping(): void {
    if (!this.closed) this.socket.write(encodeRequest({ xid: PING_XID, opcode: OpCode.ping }));
  }

  /**
   * closeSession (so the ensemble forgets it now, not at its timeout), then close the socket.
   * Resolves with the reply's err, or undefined when there was no reply (within 3 s).
   */
  async close(): Promise<number | undefined> {
    if (this.closed) return undefined;
    const timer = new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 3000).unref());
    const err = await Promise.race([this.request(OpCode.closeSession).catch(() => undefined), timer]);
    this.closed = true;
    this.socket.destroy();
    return err;
  }
}

class Outcome {
  histogram: Histogram = newHistogram();
  errorCount = 0;
  errors: string[] = [];
  completed = 0;

  record(ms: number): void {
    const ns = Math.round(ms * 1e6);
    this.histogram.recordValue(ns > MAX_RECORDABLE_NS ? MAX_RECORDABLE_NS : Math.max(ns, 1));
  }

  error(message: string): void {
    this.errorCount++;
    if (this.errors.length < 10) this.errors.push(message);
  }

  result(windowMs: number, roundMs: number[] = []): StormResult {
    return {
      type: 'result',
      completed: this.completed,
      windowMs,
      histogram: encodeHistogram(this.histogram),
      roundMs,
      errorCount: this.errorCount,
      errors: this.errors,
    };
  }
}

function endpointOf(spec: StormSpec, i: number): Endpoint {
  return spec.endpoints[(i + spec.portOffset) % spec.endpoints.length]!;
}

/** Opens `count` sessions, `slice` handshakes at a time; failed ones are counted as errors and left out. */
async function openSessions(spec: StormSpec, count: number, outcome: Outcome, slice = 256): Promise<RawSession[]> {
  const sessions: RawSession[] = [];
  for (let from = 0; from < count; from += slice) {
    const batch: RawSession[] = [];
    const started = performance.now();
    for (let i = from; i < Math.min(count, from + slice); i++)
      batch.push(new RawSession(spec.host, endpointOf(spec, i).port, spec.sessionTimeoutMs));
    await Promise.all(
      batch.map((s) =>
        s.ready.then(
          () => {
            outcome.record(performance.now() - started);
            outcome.completed++;
            sessions.push(s);
          },
          (error: Error) => outcome.error(`handshake: ${error.message}`),
        ),
      ),
    );
    send({ type: 'progress', text: `${sessions.length.toLocaleString('en-US')} / ${count.toLocaleString('en-US')} sessions open` });
  }
  return sessions;
}

async function idle(spec: StormSpec): Promise<void> {
  const outcome = new Outcome();
  const started = performance.now();
  const sessions = await openSessions(spec, spec.sessions, outcome);
  const connectMs = performance.now() - started;
  // Real clients ping every timeout/3; so do these, spread over the interval.
  const pinger = setInterval(() => {
    for (const s of sessions) s.ping();
  }, spec.sessionTimeoutMs / 3);
  send({ type: 'holding', sessions: sessions.length, connectMs });
  await released;
  clearInterval(pinger);
  for (let i = 0; i < sessions.length; i += 500) await Promise.all(sessions.slice(i, i + 500).map((s) => s.close()));
  send(outcome.result(connectMs));
}

async function connstorm(spec: StormSpec): Promise<void> {
  const outcome = new Outcome();
  const started = performance.now();
  const deadline = started + spec.durationMs;
  const loop = async (i: number) => {
    for (let n = 0; performance.now() < deadline; n++) {
      const t0 = performance.now();
      const session = new RawSession(spec.host, endpointOf(spec, i + n).port, spec.sessionTimeoutMs);
      try {
        await session.ready;
      } catch (error) {
        outcome.error((error as Error).message);
        // A refused connection would otherwise spin this loop.
        await new Promise((resolve) => setTimeout(resolve, 10));
        continue;
      }
      outcome.record(performance.now() - t0);
      const err = await session.close();
      if (err === 0) outcome.completed++;
      else outcome.error(`closeSession: ${err === undefined ? 'no reply' : errorName(err)}`);
    }
  };
  const progress = setInterval(() => {
    const sec = (performance.now() - started) / 1000;
    send({
      type: 'progress',
      text: `${sec.toFixed(1)} s, ${outcome.completed.toLocaleString('en-US')} sessions (${Math.round(outcome.completed / sec)}/s)`,
    });
  }, 500);
  await Promise.all(Array.from({ length: spec.sessions }, (_, i) => loop(i)));
  clearInterval(progress);
  send(outcome.result(performance.now() - started));
}

async function watchstorm(spec: StormSpec): Promise<void> {
  const outcome = new Outcome();
  const watchers = await openSessions(spec, spec.sessions, outcome);
  const trigger = new RawSession(spec.host, endpointOf(spec, 0).port, spec.sessionTimeoutMs);
  await trigger.ready;
  const path = (s: number) => endpointOf(spec, s).prefix + spec.watchPath;
  const started = performance.now();
  const roundMs: number[] = [];
  for (let round = 0; round < spec.rounds; round++) {
    const armed = await Promise.all(
      watchers.map((w, i) => w.request(OpCode.getData, { path: path(i), watch: true }).catch((e: Error) => e)),
    );
    const errors = armed.filter((r) => r !== 0);
    for (const e of errors) outcome.error(`getData(watch): ${e instanceof Error ? e.message : errorName(e)}`);
    let missing = watchers.length - errors.length;
    let t0 = 0;
    let last = 0;
    const all = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 30_000);
      for (const w of watchers) {
        w.onNotification = () => {
          w.onNotification = undefined;
          last = performance.now() - t0;
          outcome.record(last);
          outcome.completed++;
          if (--missing === 0) {
            clearTimeout(timer);
            resolve();
          }
        };
      }
    });
    t0 = performance.now();
    const err = await trigger.request(OpCode.setData, { path: path(0), data: Buffer.from(`round ${round}`), version: -1 });
    if (err !== 0) outcome.error(`setData: ${errorName(err)}`);
    await all;
    if (missing > 0) outcome.error(`round ${round + 1}: ${missing} watcher(s) got no notification within 30 s`);
    roundMs.push(last);
    send({
      type: 'progress',
      text: `round ${round + 1}/${spec.rounds}: ${watchers.length - missing} notifications, last after ${last.toFixed(1)} ms`,
    });
  }
  const windowMs = performance.now() - started;
  await trigger.close();
  for (let i = 0; i < watchers.length; i += 500) await Promise.all(watchers.slice(i, i + 500).map((s) => s.close()));
  send(outcome.result(windowMs, roundMs));
}

function send(event: StormEvent): void {
  process.send?.(event);
}

if (process.send === undefined) {
  console.error('bench/lib/storms.ts runs as a child of bench/run.ts');
  process.exit(2);
}

let release: () => void = () => {};
const released = new Promise<void>((resolve) => {
  release = resolve;
});
process.on('message', (command: StormCommand) => {
  if (command.type === 'release') {
    release();
    return;
  }
  const { spec } = command;
  const run = spec.kind === 'idle' ? idle : spec.kind === 'connstorm' ? connstorm : watchstorm;
  run(spec).then(
    () => process.disconnect?.(),
    (error: unknown) => {
      send({ type: 'fatal', message: (error as Error).message });
      process.exitCode = 1;
      process.disconnect?.();
    },
  );
});
process.on('disconnect', () => setTimeout(() => process.exit(), 50).unref());
