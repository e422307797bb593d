/**
 * Load generator process (forked by bench/run.ts, one per generator slot and run): a lean
 * closed-loop driver of a fixed operation mix (getData / setData / create ephemeral-sequential).
 * Each operation's frame is encoded once per session; per request only the xid (bytes 4..7) is
 * patched. Replies are split with FrameReader and must come back in xid order
 * (ZooKeeper answers a session's requests in order), so send times live in a FIFO ring per session.
 *
 * Driven over the IPC channel (see GenCommand / GenEvent):
 *   parent → 'go' (start sending; count mode runs to the end by itself)
 *   parent → 'measure' / 'stop' (duration mode: the parent owns the clock, so several generator
 *   processes share one measurement window and the parent can sample /proc at its edges)
 * Latencies are measured from just before socket.write() to the 'data' event that carried the
 * reply, in the generator's event loop: they include the generator's own queueing.
 */
import { connect, type Socket } from 'node:net';
import { CreateMode, decodeConnectResponse, encodeRequest, errorName, FrameReader, OpCode, Perms, encodeNewSessionRequest } from 'jute-ts';
import { encodeHistogram, MAX_RECORDABLE_NS, newHistogram } from './histogram.ts';

/** Where one session connects, and the prefix its paths get (the tenant chroot for direct and haproxy clients, '' through the proxy). */
export interface Endpoint {
  port: number;
  prefix: string;
}

/**
 * One operation of the mix, each on its own node (paths relative to the endpoint's prefix):
 *   get    — getData(read, watch false)
 *   set    — setData(write, valueBytes, version -1)
 *   create — create(createParent + '/n-', valueBytes, EPHEMERAL_SEQUENTIAL): gone when the session closes
 */
export type OpKind = 'get' | 'set' | 'create';

export interface OpPaths {
  read: string;
  write: string;
  createParent: string;
}

export interface LoadSpec {
  host: string;
  /** Session i connects to endpoints[(i + portOffset) % endpoints.length]. */
  endpoints: Endpoint[];
  portOffset: number;
  paths: OpPaths;
  /** Operations in a repeating cycle (e.g. 9 x get + 1 x set); session i starts at position i. */
  mix: OpKind[];
  /** Bytes written by set and create. */
  valueBytes: number;
  sessions: number;
  inflight: number;
  sessionTimeoutMs: number;
  /** Count mode (the generator ends the run itself): requests to complete before and during measurement. */
  count?: { warmup: number; measured: number };
}

export type GenCommand = { type: 'spec'; spec: LoadSpec } | { type: 'go' } | { type: 'measure' } | { type: 'stop' };

export interface GenResult {
  type: 'result';
  completed: number;
  windowMs: number;
  histogram: string;
  errorCount: number;
  errors: string[];
}

export type GenEvent =
  | { type: 'ready'; connectMs: number }
  | { type: 'measuring' }
  | { type: 'progress'; completed: number; total: number; elapsedMs: number }
  | GenResult
  | { type: 'fatal'; message: string };

const REPLY_ERR_OFFSET = 16; // length(4) xid(4) zxid(8) err(4)

class Stats {
  measuring = false;
  completed = 0; // replies inside the window
  totalCompleted = 0; // all replies, for count mode
  histogram = newHistogram();
  errorCount = 0;
  errors: string[] = [];
  windowStart = 0;

  error(message: string): void {
    this.errorCount++;
    if (this.errors.length < 10) this.errors.push(message);
  }
}

const OPEN_ACL = [{ perms: Perms.ALL, id: { scheme: 'world', id: 'anyone' } }];

function encodeOp(kind: OpKind, prefix: string, paths: OpPaths, value: Buffer): Buffer {
  switch (kind) {
    case 'get':
      return encodeRequest({ xid: 0, opcode: OpCode.getData, body: { path: prefix + paths.read, watch: false } });
    case 'set':
      return encodeRequest({ xid: 0, opcode: OpCode.setData, body: { path: prefix + paths.write, data: value, version: -1 } });
    case 'create':
      return encodeRequest({
        xid: 0,
        opcode: OpCode.create,
        body: { path: `${prefix}${paths.createParent}/n-`, data: value, acl: OPEN_ACL, flags: CreateMode.EPHEMERAL_SEQUENTIAL },
      });
  }
}

class Session {
  private readonly socket: Socket;
  private readonly reader = new FrameReader(16 << 20);
  /** Pre-encoded frames in mix order; request n uses templates[(start + n) % length]. */
  private readonly templates: Buffer[];
  private readonly opNames: OpKind[];
  private cursor: number;
  private readonly sentAt: Float64Array;
  /** Mix position of each request in flight (same ring as sentAt), to name the op of a failed reply. */
  private readonly sentOp: Uint8Array;
  private ringHead = 0; // oldest request in flight
  private inFlight = 0;
  private nextXid = 1;
  private expectedXid = 1;
  private handshakeDone: ((error?: Error) => void) | undefined;
  private drained: (() => void) | undefined;
  private closeReply: (() => void) | undefined;
  private readonly stats: Stats;
  private readonly gen: Generator;
  private readonly name: string;
  sending = false;
  closed = false;

  constructor(host: string, endpoint: Endpoint, spec: LoadSpec, start: number, stats: Stats, gen: Generator, value: Buffer) {
    this.stats = stats;
    this.gen = gen;
    this.name = `${host}:${endpoint.port}`;
    const encoded = new Map<OpKind, Buffer>();
    for (const kind of new Set(spec.mix)) encoded.set(kind, encodeOp(kind, endpoint.prefix, spec.paths, value));
    this.templates = spec.mix.map((kind) => encoded.get(kind)!);
    this.opNames = spec.mix;
    this.cursor = start % spec.mix.length;
    this.sentAt = new Float64Array(spec.inflight);
    this.sentOp = new Uint8Array(spec.inflight);
    const timeoutMs = spec.sessionTimeoutMs;
    this.socket = connect({ host, port: endpoint.port, noDelay: true });
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('error', (error) => this.lost(`socket error: ${error.message}`));
    this.socket.on('close', () => this.lost('connection closed'));
    this.socket.write(encodeNewSessionRequest(timeoutMs));
  }

  handshake(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.handshakeDone = (error) => (error ? reject(error) : resolve());
    });
  }

  private lost(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    if (this.handshakeDone) {
      const done = this.handshakeDone;
      this.handshakeDone = undefined;
      done(new Error(`${this.name}: ${reason} during the handshake`));
      return;
    }
    if (this.closeReply) {
      this.closeReply();
      return;
    }
    this.stats.error(`${this.name}: ${reason} with ${this.inFlight} requests in flight`);
    this.inFlight = 0;
    this.drained?.();
  }

  private readonly onFrame = (frame: Buffer): void => {
    if (this.handshakeDone) {
      const done = this.handshakeDone;
      this.handshakeDone = undefined;
      try {
        const response = decodeConnectResponse(frame);
        done(response.timeOut > 0 ? undefined : new Error(`${this.name}: session refused (timeOut ${response.timeOut})`));
      } catch (error) {
        done(error as Error);
      }
      return;
    }
    const xid = frame.readInt32BE(4);
    if (xid === -1) return; // a watch notification: none is set by this workload, but they are not errors
    if (this.closeReply) {
      this.closeReply();
      return;
    }
    if (xid !== this.expectedXid) {
      this.stats.error(`${this.name}: reply xid ${xid}, expected ${this.expectedXid}`);
      this.socket.destroy();
      return;
    }
    this.expectedXid++;
    const err = frame.readInt32BE(REPLY_ERR_OFFSET);
    if (err !== 0) this.stats.error(`${this.name}: ${this.opNames[this.sentOp[this.ringHead]!]} error ${errorName(err)}`);
    const sentAt = this.sentAt[this.ringHead]!;
    this.ringHead = this.ringHead + 1 === this.sentAt.length ? 0 : this.ringHead + 1;
    this.inFlight--;
    this.stats.totalCompleted++;
    if (this.stats.measuring) {
      this.stats.completed++;
      const ns = Math.round((this.now - sentAt) * 1e6);
      this.stats.histogram.recordValue(ns > MAX_RECORDABLE_NS ? MAX_RECORDABLE_NS : Math.max(ns, 1));
    }
  };

  private now = 0;

  private onData(chunk: Buffer): void {
    this.now = performance.now();
    const before = this.inFlight;
    try {
      this.reader.push(chunk, this.onFrame);
    } catch (error) {
      this.stats.error(`${this.name}: ${(error as Error).message}`);
      this.socket.destroy();
      return;
    }
    const done = before - this.inFlight;
    if (done > 0) this.gen.onReplies();
    if (this.sending) this.fill();
    else if (this.inFlight === 0) this.drained?.();
  }

  /** Tops the session up to its in-flight limit (or to what count mode still allows) in one write. */
  fill(): void {
    if (this.closed) return;
    const k = this.gen.allowance(this.sentAt.length - this.inFlight);
    if (k <= 0) return;
    const { templates } = this;
    let bytes = 0;
    for (let i = 0, c = this.cursor; i < k; i++, c = c + 1 === templates.length ? 0 : c + 1) bytes += templates[c]!.length;
    const buf = Buffer.allocUnsafe(bytes);
    let tail = this.ringHead + this.inFlight;
    const cap = this.sentAt.length;
    const now = performance.now();
    let at = 0;
    for (let i = 0; i < k; i++) {
      const template = templates[this.cursor]!;
      template.copy(buf, at);
      buf.writeInt32BE(this.nextXid++, at + 4);
      const slot = tail >= cap ? tail - cap : tail;
      this.sentAt[slot] = now;
      this.sentOp[slot] = this.cursor;
      this.cursor = this.cursor + 1 === templates.length ? 0 : this.cursor + 1;
      at += template.length;
      tail++;
    }
    this.inFlight += k;
    this.socket.write(buf);
  }

  /** Stops sending; resolves when every request in flight has been answered (or the connection died). */
  drain(): Promise<void> {
    this.sending = false;
    if (this.inFlight === 0 || this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.drained = resolve;
    });
  }

  /** closeSession, then end the socket: sessions do not linger on the ensemble until they time out. */
  async close(): Promise<void> {
    if (this.closed) return;
    const replied = new Promise<void>((resolve) => {
      this.closeReply = resolve;
    });
    this.socket.write(encodeRequest({ xid: this.nextXid++, opcode: OpCode.closeSession }));
    const timer = new Promise<void>((resolve) => setTimeout(resolve, 3000).unref());
    await Promise.race([replied, timer]);
    this.closed = true;
    this.socket.destroy();
  }
}

class Generator {
  readonly stats = new Stats();
  private readonly spec: LoadSpec;
  private sessions: Session[] = [];
  /** Count mode: requests that may still be issued. */
  private budget = Infinity;
  private progressTimer: NodeJS.Timeout | undefined;
  private finished = false;

  constructor(spec: LoadSpec) {
    this.spec = spec;
    if (spec.count) this.budget = spec.count.warmup + spec.count.measured;
  }

  async connect(): Promise<void> {
    const { spec } = this;
    const started = performance.now();
    const value = Buffer.alloc(spec.valueBytes, 0x62);
    // Connect in slices: thousands of simultaneous handshakes would only measure the accept backlog.
    for (let from = 0; from < spec.sessions; from += 256) {
      const slice: Session[] = [];
      for (let i = from; i < Math.min(spec.sessions, from + 256); i++) {
        const endpoint = spec.endpoints[(i + spec.portOffset) % spec.endpoints.length]!;
        slice.push(new Session(spec.host, endpoint, spec, i, this.stats, this, value));
      }
      this.sessions.push(...slice);
      await Promise.all(slice.map((s) => s.handshake()));
    }
    send({ type: 'ready', connectMs: performance.now() - started });
  }

  allowance(wanted: number): number {
    if (this.budget === Infinity) return wanted;
    const k = Math.min(wanted, this.budget);
    this.budget -= k;
    return k;
  }

  onReplies(): void {
    const count = this.spec.count;
    if (!count) return;
    if (!this.stats.measuring && this.stats.totalCompleted >= count.warmup && this.stats.totalCompleted < count.warmup + count.measured) {
      this.measure();
    }
    if (this.stats.totalCompleted >= count.warmup + count.measured && this.stats.measuring) void this.stop();
  }

  go(): void {
    for (const s of this.sessions) s.sending = true;
    for (const s of this.sessions) s.fill();
    if (this.spec.count && this.spec.count.warmup === 0) this.measure();
    this.progressTimer = setInterval(() => {
      const elapsedMs = this.stats.measuring ? performance.now() - this.stats.windowStart : 0;
      send({ type: 'progress', completed: this.stats.completed, total: this.stats.totalCompleted, elapsedMs });
    }, 500);
  }

  measure(): void {
    this.stats.measuring = true;
    this.stats.completed = 0;
    this.stats.histogram.reset();
    this.stats.windowStart = performance.now();
    if (this.spec.count) send({ type: 'measuring' });
  }

  async stop(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    const windowMs = performance.now() - this.stats.windowStart;
    this.stats.measuring = false;
    clearInterval(this.progressTimer);
    send({
      type: 'result',
      completed: this.stats.completed,
      windowMs,
      histogram: encodeHistogram(this.stats.histogram),
      errorCount: this.stats.errorCount,
      errors: this.stats.errors,
    });
    await Promise.all(this.sessions.map((s) => s.drain()));
    await Promise.all(this.sessions.map((s) => s.close()));
    process.disconnect?.();
  }
}

function send(event: GenEvent): void {
  process.send?.(event);
}

if (process.send === undefined) {
  console.error('bench/lib/loadgen.ts runs as a child of bench/run.ts');
  process.exit(2);
}

let generator: Generator | undefined;
process.on('message', (command: GenCommand) => {
  const run = async () => {
    switch (command.type) {
      case 'spec':
        generator = new Generator(command.spec);
        await generator.connect();
        return;
      case 'go':
        generator!.go();
        return;
      case 'measure':
        generator!.measure();
        return;
      case 'stop':
        await generator!.stop();
        return;
    }
  };
  run().catch((error: unknown) => {
    send({ type: 'fatal', message: (error as Error).message });
    process.exitCode = 1;
    process.disconnect?.();
    setTimeout(() => process.exit(1), 100).unref();
  });
});
process.on('disconnect', () => setTimeout(() => process.exit(), 50).unref());
