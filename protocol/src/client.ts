/**
 * A small ZooKeeper client on top of the codec: one TCP connection, one session, pipelined
 * requests, raw access to every opcode. It exists for tests, load generation and the proxy's own
 * administrative calls; applications should use a full client (Curator, kazoo, ...).
 * No reconnect logic: resuming a session is `JuteClient.connect({ sessionId, password })`.
 */
import { EventEmitter } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import { ErrorCode, SESSION_PASSWORD_LENGTH, errorName } from './constants.ts';
import { ConversationTracker } from './conversation.ts';
import { ProtocolError } from './errors.ts';
import { DEFAULT_MAX_FRAME_SIZE, FrameReader } from './frames.ts';
import { OpCode, Xid, opcodeName } from './opcodes.ts';
import {
  decodeConnectResponse,
  decodeReply,
  encodeConnectRequest,
  encodeRequest,
  type ConnectResponseRecord,
  type Reply,
  type WatcherEventRecord,
} from './packets.ts';
import type { RecordValue } from './schema.ts';

export interface ClientOptions {
  host?: string;
  port: number;
  /** Requested session timeout; the server clamps it to 2..20 x tickTime. */
  sessionTimeoutMs?: number;
  /** Resume this session (with its password) instead of creating one. */
  sessionId?: bigint;
  password?: Buffer;
  lastZxidSeen?: bigint;
  /** Send the trailing readOnly byte (3.4+ clients do); false sends a 3.3-style 44-byte ConnectRequest. */
  sendReadOnlyByte?: boolean;
  canBeReadOnly?: boolean;
  connectTimeoutMs?: number;
  maxFrameSize?: number;
  /** Send pings when idle (default true). */
  keepAlive?: boolean;
}

/** Thrown by request() when the connection ends before the reply arrives. */
export class ConnectionLostError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConnectionLostError';
  }
}

/** Thrown by connect() when the server says the session is expired or invalid (timeOut 0). */
export class SessionExpiredError extends Error {
  constructor() {
    super('session expired or invalid (ConnectResponse timeOut 0)');
    this.name = 'SessionExpiredError';
  }
}

interface Waiter {
  resolve(reply: Reply): void;
  reject(error: Error): void;
}

export interface JuteClientEvents {
  notification: [event: WatcherEventRecord, zxid: bigint];
  close: [reason: string];
}

export class JuteClient extends EventEmitter<JuteClientEvents> {
  readonly socket: Socket;
  readonly handshake: ConnectResponseRecord;
  lastZxid: bigint;
  private readonly tracker = new ConversationTracker<Waiter>();
  private readonly reader: FrameReader;
  private nextXid = 1;
  private closedReason: string | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private lastSend = Date.now();

  private constructor(socket: Socket, handshake: ConnectResponseRecord, reader: FrameReader, lastZxid: bigint, keepAlive: boolean) {
    super();
    this.socket = socket;
    this.handshake = handshake;
    this.reader = reader;
    this.lastZxid = lastZxid;
    socket.on('data', (chunk) => this.onData(chunk));
    socket.on('close', () => this.fail('connection closed'));
    socket.on('error', (error) => this.fail(`socket error: ${error.message}`));
    if (keepAlive && handshake.timeOut > 0) {
      const interval = Math.max(50, Math.floor(handshake.timeOut / 3));
      this.pingTimer = setInterval(
        () => {
          if (Date.now() - this.lastSend >= interval) this.ping().catch(() => {});
        },
        Math.floor(interval / 2),
      );
      this.pingTimer.unref();
    }
  }

  get sessionId(): bigint {
    return this.handshake.sessionId;
  }
  get password(): Buffer {
    return this.handshake.passwd ?? Buffer.alloc(SESSION_PASSWORD_LENGTH);
  }
  get sessionTimeoutMs(): number {
    return this.handshake.timeOut;
  }
  get closed(): boolean {
    return this.closedReason !== undefined;
  }
  get inFlight(): number {
    return this.tracker.size;
  }

  static connect(options: ClientOptions): Promise<JuteClient> {
    const host = options.host ?? '127.0.0.1';
    const lastZxid = options.lastZxidSeen ?? 0n;
    return new Promise((resolve, reject) => {
      const socket = netConnect({ host, port: options.port, noDelay: true });
      const reader = new FrameReader(options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE);
      let settled = false;
      const timer = setTimeout(() => finish(new Error(`connect to ${host}:${options.port} timed out`)), options.connectTimeoutMs ?? 10_000);
      const finish = (error: Error | undefined, client?: JuteClient) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.removeListener('data', onData);
        if (error) {
          socket.destroy();
          reject(error);
        } else resolve(client!);
      };
      const onData = (chunk: Buffer) => {
        try {
          reader.push(chunk, (frame) => {
            if (settled) return;
            const handshake = decodeConnectResponse(frame);
            if (handshake.timeOut <= 0) return finish(new SessionExpiredError());
            finish(undefined, new JuteClient(socket, handshake, reader, lastZxid, options.keepAlive ?? true));
          });
        } catch (error) {
          finish(error as Error);
        }
      };
      socket.on('data', onData);
      socket.once('error', (error) => finish(error));
      socket.once('close', () => finish(new ConnectionLostError(`connection to ${host}:${options.port} closed during the handshake`)));
      const request = {
        protocolVersion: 0,
        lastZxidSeen: lastZxid,
        timeOut: options.sessionTimeoutMs ?? 10_000,
        sessionId: options.sessionId ?? 0n,
        passwd: options.password ?? Buffer.alloc(SESSION_PASSWORD_LENGTH),
        readOnly: options.sendReadOnlyByte === false ? undefined : (options.canBeReadOnly ?? false),
      };
      socket.write(encodeConnectRequest(request));
    });
  }

  /** Sends any request and resolves with the decoded reply, whatever its error code. */
  request(opcode: number, body?: RecordValue, xid?: number): Promise<Reply> {
    if (this.closedReason !== undefined) return Promise.reject(new ConnectionLostError(this.closedReason));
    const requestXid = xid ?? this.allocateXid(opcode);
    const frame = encodeRequest(body === undefined ? { xid: requestXid, opcode } : { xid: requestXid, opcode, body });
    return this.sendFrame(frame, requestXid, opcode);
  }

  /** Sends pre-encoded bytes (for hostile-input tests); resolves with the reply to `xid`/`opcode`. */
  sendFrame(frame: Buffer, xid: number, opcode: number): Promise<Reply> {
    if (this.closedReason !== undefined) return Promise.reject(new ConnectionLostError(this.closedReason));
    return new Promise((resolve, reject) => {
      this.tracker.request(xid, opcode, { resolve, reject });
      this.lastSend = Date.now();
      this.socket.write(frame);
    });
  }

  /** Like request(), but rejects with a KeeperError when err != 0. */
  async call(opcode: number, body?: RecordValue): Promise<Reply> {
    const reply = await this.request(opcode, body);
    if (reply.err !== ErrorCode.OK) throw new KeeperError(reply.err, opcodeName(opcode), body);
    return reply;
  }

  ping(): Promise<Reply> {
    return this.request(OpCode.ping, undefined, Xid.ping);
  }

  addAuth(scheme: string, auth: string | Buffer): Promise<Reply> {
    return this.request(OpCode.auth, { type: 0, scheme, auth: typeof auth === 'string' ? Buffer.from(auth) : auth }, Xid.auth);
  }

  /** Sends closeSession and waits for its reply (or the close), then ends the socket. */
  async close(): Promise<void> {
    if (this.closedReason === undefined) {
      await Promise.race([this.request(OpCode.closeSession).catch(() => undefined), new Promise((r) => setTimeout(r, 2000).unref())]);
    }
    this.destroy('closed by client');
  }

  /** Drops the connection without closing the session (as a network failure would). */
  destroy(reason = 'destroyed'): void {
    this.fail(reason);
    this.socket.destroy();
  }

  private allocateXid(opcode: number): number {
    if (opcode === OpCode.ping) return Xid.ping;
    if (opcode === OpCode.auth) return Xid.auth;
    const xid = this.nextXid;
    this.nextXid = xid >= 0x7fffffff ? 1 : xid + 1;
    return xid;
  }

  private onData(chunk: Buffer): void {
    try {
      this.reader.push(chunk, (frame) => this.onFrame(frame));
    } catch (error) {
      this.fail(`bad frame from server: ${(error as Error).message}`);
      this.socket.destroy();
    }
  }

  private onFrame(frame: Buffer): void {
    const xid = frame.readInt32BE(4);
    if (xid === Xid.notification) {
      const reply = decodeReply(frame, OpCode.notification);
      this.emit('notification', reply.body as unknown as WatcherEventRecord, reply.zxid);
      return;
    }
    const pending = this.tracker.reply(xid);
    if (pending === undefined) throw new ProtocolError('unexpectedReply', `reply xid ${xid} matches no request in flight`);
    const reply = decodeReply(frame, pending.opcode);
    if (reply.zxid > this.lastZxid) this.lastZxid = reply.zxid;
    pending.data.resolve(reply);
  }

  private fail(reason: string): void {
    if (this.closedReason !== undefined) return;
    this.closedReason = reason;
    if (this.pingTimer) clearInterval(this.pingTimer);
    for (const pending of this.tracker.drain()) pending.data.reject(new ConnectionLostError(reason));
    this.emit('close', reason);
  }
}

export class KeeperError extends Error {
  readonly code: number;
  constructor(code: number, operation: string, body: RecordValue | undefined) {
    const path = body && typeof body.path === 'string' ? ` ${body.path}` : '';
    super(`${operation}${path}: ${errorName(code)} (${code})`);
    this.name = 'KeeperError';
    this.code = code;
  }
}
