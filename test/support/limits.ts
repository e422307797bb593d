/**
 * Helpers for the limits tests (test/limits*.test.ts, test/fairness.test.ts): the replies a
 * client got, in arrival order, read off the wire; raw connection attempts that must be refused;
 * Prometheus scrapes of an in-process proxy; and a counting relay between a proxy and the
 * ensemble that shows how many requests were outstanding at the ensemble.
 */
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { FrameReader, Xid, encodeNewSessionRequest } from 'jute-ts';
import type { JuteClient } from 'jute-ts/client';

export interface WireReply {
  xid: number;
  zxid: bigint;
  err: number;
  /** performance.now() when the chunk carrying it arrived. */
  at: number;
}

/**
 * Every reply a client receives, in the order the bytes arrived, read from the client's socket
 * by a second frame reader (independently of the client's own xid matching). Notifications
 * (xid -1) are kept apart. Attach right after connect: the ConnectResponse is already consumed.
 */
export class ReplyLog {
  readonly replies: WireReply[] = [];
  readonly notifications: WireReply[] = [];
  private readonly reader = new FrameReader();

  constructor(client: JuteClient) {
    client.socket.on('data', (chunk: Buffer) => {
      const at = performance.now();
      this.reader.push(chunk, (frame) => {
        const reply = { xid: frame.readInt32BE(4), zxid: frame.readBigInt64BE(8), err: frame.readInt32BE(16), at };
        (reply.xid === Xid.notification ? this.notifications : this.replies).push(reply);
      });
    });
  }

  /** Replies to requests (pings and auth excluded). */
  get requests(): WireReply[] {
    return this.replies.filter((reply) => reply.xid > 0);
  }

  clear(): void {
    this.replies.length = 0;
    this.notifications.length = 0;
  }
}

/** Fails unless `log` holds exactly `xids`, in that order, and zxids never go backwards. */
export function replyOrderProblems(log: readonly WireReply[], xids: readonly number[]): string[] {
  const problems: string[] = [];
  const got = log.map((reply) => reply.xid);
  if (got.length !== xids.length || got.some((xid, i) => xid !== xids[i]))
    problems.push(`reply xids ${JSON.stringify(got)} are not the request xids ${JSON.stringify(xids)}`);
  for (let i = 1; i < log.length; i++) {
    if (log[i]!.zxid < log[i - 1]!.zxid) problems.push(`zxid went backwards at reply ${i}: ${log[i - 1]!.zxid} then ${log[i]!.zxid}`);
  }
  return problems;
}

export interface RawAttempt {
  /** Bytes the proxy sent back (a ConnectResponse would be 36+ bytes). */
  bytes: number;
  /** How the socket ended: 'closed' (FIN/RST) or 'timeout' (still open after the wait). */
  outcome: 'closed' | 'timeout';
}

/**
 * Opens a TCP connection, sends a ConnectRequest and waits for the socket to end: a refused
 * connection is closed without a byte; an accepted one answers and stays open (then 'timeout').
 */
export function rawConnectAttempt(port: number, waitMs = 3000): Promise<RawAttempt> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let bytes = 0;
    let done = false;
    const finish = (outcome: RawAttempt['outcome']) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ bytes, outcome });
    };
    const timer = setTimeout(() => finish('timeout'), waitMs);
    socket.on('connect', () => {
      socket.write(encodeNewSessionRequest(10_000), () => {});
    });
    socket.on('data', (chunk: Buffer) => (bytes += chunk.length));
    socket.on('error', () => finish('closed')); // ECONNRESET: destroyed by the proxy
    socket.on('close', () => finish('closed'));
  });
}

/** The proxy's /metrics text. */
export async function scrape(adminUrl: string): Promise<string> {
  const response = await fetch(`${adminUrl}/metrics`);
  if (!response.ok) throw new Error(`GET ${adminUrl}/metrics: ${response.status}`);
  return response.text();
}

/** A sample's value from Prometheus text (0 when the series does not exist). */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const present = new Map([...(match[3] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1]!, m[2]!]));
    if (Object.entries(labels).every(([key, value]) => present.get(key) === value)) return Number(match[4]);
  }
  return 0;
}

export async function refusedCount(adminUrl: string, tenant: string, reason: string): Promise<number> {
  return metricValue(await scrape(adminUrl), 'zkproxy_refused_total', { tenant, reason });
}

/** Polls `probe` until it returns true or `timeoutMs` passes; throws naming `what` then. */
export async function waitFor(what: string, probe: () => boolean | Promise<boolean>, timeoutMs = 10_000, intervalMs = 25): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await probe()) return;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/**
 * A TCP relay between a proxy and one ensemble member that counts requests outstanding at the
 * ensemble: a request frame (xid > 0) going in adds one, its reply coming back takes one off.
 * The ConnectRequest/ConnectResponse, pings (-2), the proxy's auth (-4) and notifications (-1)
 * are not counted. `maxOutstanding` is the peak over all connections since reset().
 */
export class CountingRelay {
  readonly server: Server;
  outstanding = 0;
  maxOutstanding = 0;
  /** Requests seen since reset(). */
  requests = 0;
  private readonly sockets = new Set<Socket>();

  private constructor(server: Server) {
    this.server = server;
  }

  static async start(targetHost: string, targetPort: number): Promise<CountingRelay> {
    const relay: CountingRelay = new CountingRelay(
      createServer({ noDelay: true }, (client) => relay.relay(client, targetHost, targetPort)),
    );
    await new Promise<void>((resolve) => relay.server.listen(0, '127.0.0.1', resolve));
    return relay;
  }

  get address(): string {
    return `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  reset(): void {
    this.maxOutstanding = this.outstanding;
    this.requests = 0;
  }

  private relay(client: Socket, host: string, port: number): void {
    const upstream = connect({ host, port, noDelay: true });
    this.sockets.add(client);
    this.sockets.add(upstream);
    const toServer = new FrameReader();
    const toClient = new FrameReader();
    let connectSeen = false;
    let responseSeen = false;
    let open = 0; // this connection's outstanding requests, given back if it dies
    client.on('data', (chunk: Buffer) => {
      toServer.push(chunk, (frame) => {
        if (!connectSeen) return void (connectSeen = true);
        if (frame.readInt32BE(4) > 0) {
          open++;
          this.requests++;
          this.outstanding++;
          if (this.outstanding > this.maxOutstanding) this.maxOutstanding = this.outstanding;
        }
      });
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      toClient.push(chunk, (frame) => {
        if (!responseSeen) return void (responseSeen = true);
        if (frame.readInt32BE(4) > 0 && open > 0) {
          open--;
          this.outstanding--;
        }
      });
      client.write(chunk);
    });
    const end = () => {
      this.outstanding -= open;
      open = 0;
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', end);
    upstream.on('error', end);
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
