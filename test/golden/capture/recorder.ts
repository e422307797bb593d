/**
 * A recording TCP relay between ZooKeeper clients and one ZooKeeper server.
 *
 * Bytes are forwarded unchanged and immediately; recording is a side effect of watching them
 * go by, so the client and server see exactly the conversation they would have had directly
 * (only the client's peer address differs). Each direction is split into frames and every
 * frame becomes one FrameRecord.
 *
 * The relay can also play "flaky network": dropConnections() cuts every live connection, which
 * makes real clients reconnect and resume their sessions (ConnectRequest with a session id,
 * auth replay, SetWatches/SetWatches2). hold()/release() park new connections for a moment, so
 * a test can change server state while a client is known to be disconnected and then observe
 * the catch-up notifications the server sends on resume.
 */
import net from 'node:net';
import { FrameReader, isProtocolError } from 'jute-ts';

export type Direction = 'c2s' | 's2c';

/** One line of a golden fixture file. Field order is the order written to disk. */
export interface FrameRecord {
  client: string;
  conn: number;
  dir: Direction;
  seq: number;
  hex: string;
}

export interface RelayOptions {
  /** Name of the client program, copied into every record. */
  client: string;
  target: { host: string; port: number };
  onFrame: (record: FrameRecord) => void;
  log?: (message: string) => void;
}

interface RelayedConnection {
  readonly conn: number;
  readonly downstream: net.Socket;
  readonly upstream: net.Socket;
}

export class RecordingRelay {
  readonly #options: RelayOptions;
  readonly #server: net.Server;
  readonly #live = new Set<RelayedConnection>();
  readonly #parked = new Set<net.Socket>();
  readonly #errors: string[] = [];
  #held = false;
  #nextConn = 1;

  private constructor(options: RelayOptions, server: net.Server) {
    this.#options = options;
    this.#server = server;
  }

  static async start(options: RelayOptions): Promise<RecordingRelay> {
    const server = net.createServer({ noDelay: true });
    const relay = new RecordingRelay(options, server);
    server.on('connection', (socket) => relay.#accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      // Port 0: the kernel picks a free port, so parallel captures and stale servers never clash.
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return relay;
  }

  get port(): number {
    const address = this.#server.address();
    if (address === null || typeof address === 'string') throw new Error('relay is not listening');
    return address.port;
  }

  get connectString(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Problems seen while recording (framing loss, truncated frames); a capture with any is invalid. */
  get errors(): readonly string[] {
    return this.#errors;
  }

  /** Cuts every live connection, both sides. Returns how many were cut. */
  dropConnections(): number {
    const count = this.#destroyLive();
    this.#log(`dropped ${count} connection(s)`);
    return count;
  }

  /**
   * From now on, accepted connections wait (unread, not yet connected upstream) until release().
   * To the client this looks like a server that accepted TCP but has not answered yet.
   */
  hold(): void {
    this.#held = true;
  }

  release(): void {
    this.#held = false;
    const parked = [...this.#parked];
    this.#parked.clear();
    for (const socket of parked) if (!socket.destroyed) this.#relay(socket);
  }

  async close(): Promise<void> {
    for (const socket of this.#parked) socket.destroy();
    this.#parked.clear();
    this.#destroyLive();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #destroyLive(): number {
    const count = this.#live.size;
    for (const connection of this.#live) {
      connection.downstream.destroy();
      connection.upstream.destroy();
    }
    this.#live.clear();
    return count;
  }

  #accept(socket: net.Socket): void {
    if (!this.#held) {
      this.#relay(socket);
      return;
    }
    socket.pause();
    this.#parked.add(socket);
    socket.once('close', () => this.#parked.delete(socket));
    socket.on('error', () => socket.destroy());
  }

  #relay(downstream: net.Socket): void {
    const conn = this.#nextConn++;
    const { host, port } = this.#options.target;
    const upstream = net.connect({ host, port, noDelay: true });
    const connection: RelayedConnection = { conn, downstream, upstream };
    this.#live.add(connection);
    this.#log(`conn ${conn} opened`);

    this.#pump(connection, downstream, upstream, 'c2s');
    this.#pump(connection, upstream, downstream, 's2c');

    const teardown = () => {
      this.#live.delete(connection);
      downstream.destroy();
      upstream.destroy();
    };
    for (const socket of [downstream, upstream]) {
      // A peer closing (or resetting) ends the whole conversation: ZooKeeper has no half-open use.
      socket.on('error', teardown);
      socket.on('close', teardown);
    }
    downstream.resume();
  }

  #pump(connection: RelayedConnection, from: net.Socket, to: net.Socket, dir: Direction): void {
    // Far above any real frame: a bigger length means alignment is lost, and garbage must not become "golden".
    const splitter = new FrameReader(16 * 1024 * 1024);
    let seq = 0;
    let recording = true;

    from.on('data', (chunk: Buffer) => {
      // Forward first: recording must never delay or alter the conversation.
      if (!to.write(chunk)) {
        from.pause();
        to.once('drain', () => from.resume());
      }
      if (!recording) return;
      try {
        splitter.push(chunk, (frame) =>
          this.#options.onFrame({
            client: this.#options.client,
            conn: connection.conn,
            dir,
            seq: seq++,
            hex: frame.toString('hex'),
          }),
        );
      } catch (error) {
        if (!isProtocolError(error)) throw error;
        // Keep relaying so the client run can finish, but stop recording this direction.
        recording = false;
        this.#errors.push(`conn ${connection.conn} ${dir}: ${error.message}`);
      }
    });

    from.once('close', () => {
      // A frame cut in half by our own dropConnections() is expected; any other is suspicious
      // but still not golden material, so it is only logged.
      if (splitter.buffered > 0) {
        this.#log(`conn ${connection.conn} ${dir}: ${splitter.buffered} byte(s) of an unfinished frame discarded`);
      }
    });
  }

  #log(message: string): void {
    this.#options.log?.(`[relay ${this.#options.client}] ${message}`);
  }
}
