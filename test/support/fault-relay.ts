/**
 * A fault-injecting TCP relay for chaos tests, placed between proxy replicas and ensemble members
 * (the proxy's `ensemble` names relays instead of members). `tc netem` would be the natural tool,
 * but this machine's kernel has no sch_netem module; a relay in user space gives the same three
 * faults at the byte-stream level, switchable at runtime:
 *
 * - latency: every chunk is delivered `latencyMs` after it arrived, in order, both directions;
 * - partition: bytes stop flowing both ways and new connections are accepted but never connected
 *   through (like packets dropped by a firewall: TCP keeps the connection, nothing arrives); on
 *   heal, held bytes are delivered, as TCP retransmission would;
 * - loss: each chunk resets its connection with probability `resetProbability` (user space cannot
 *   drop single packets of a TCP stream, so loss shows as the connection resets it ends in).
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface FaultSettings {
  latencyMs: number;
  partitioned: boolean;
  resetProbability: number;
}

const HEALTHY: FaultSettings = { latencyMs: 0, partitioned: false, resetProbability: 0 };

interface Pending {
  chunk: Buffer;
  dueAt: number;
}

/** One direction of one relayed connection: an ordered queue released by time and by partition. */
class Pipe {
  readonly #queue: Pending[] = [];
  #timer: NodeJS.Timeout | undefined;
  readonly #relay: FaultRelay;
  readonly #to: Socket;

  constructor(relay: FaultRelay, to: Socket) {
    this.#relay = relay;
    this.#to = to;
  }

  push(chunk: Buffer): void {
    this.#queue.push({ chunk, dueAt: Date.now() + this.#relay.settings.latencyMs });
    this.flush();
  }

  flush(): void {
    if (this.#timer !== undefined || this.#relay.settings.partitioned) return;
    const now = Date.now();
    while (this.#queue.length > 0 && this.#queue[0]!.dueAt <= now) {
      if (!this.#to.destroyed) this.#to.write(this.#queue.shift()!.chunk);
      else this.#queue.shift();
    }
    if (this.#queue.length > 0) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.flush();
      }, this.#queue[0]!.dueAt - now);
    }
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#queue.length = 0;
  }
}

class RelayedConnection {
  readonly #relay: FaultRelay;
  readonly client: Socket;
  upstream: Socket | undefined;
  readonly #pipes: Pipe[] = [];
  readonly #early: Buffer[] = [];

  constructor(relay: FaultRelay, client: Socket) {
    this.#relay = relay;
    this.client = client;
    client.on('data', (chunk) => {
      if (this.#maybeReset()) return;
      if (this.#pipes[0]) this.#pipes[0].push(chunk);
      else this.#early.push(chunk);
    });
    client.on('error', () => this.close());
    client.on('close', () => this.close());
    if (!relay.settings.partitioned) this.connectThrough();
  }

  /** Opens the upstream connection (deferred while partitioned). */
  connectThrough(): void {
    if (this.upstream !== undefined || this.client.destroyed) return;
    const upstream = connect({ host: this.#relay.targetHost, port: this.#relay.targetPort, noDelay: true });
    this.upstream = upstream;
    this.#pipes.push(new Pipe(this.#relay, upstream), new Pipe(this.#relay, this.client));
    for (const chunk of this.#early.splice(0)) this.#pipes[0]!.push(chunk);
    upstream.on('data', (chunk) => {
      if (this.#maybeReset()) return;
      this.#pipes[1]!.push(chunk);
    });
    upstream.on('error', () => this.close());
    upstream.on('close', () => this.close());
  }

  flush(): void {
    for (const pipe of this.#pipes) pipe.flush();
  }

  #maybeReset(): boolean {
    const p = this.#relay.settings.resetProbability;
    if (p <= 0 || Math.random() >= p) return false;
    this.#relay.resets++;
    this.reset();
    return true;
  }

  reset(): void {
    this.client.resetAndDestroy();
    this.upstream?.resetAndDestroy();
    this.close();
  }

  close(): void {
    for (const pipe of this.#pipes) pipe.stop();
    if (!this.client.destroyed) this.client.destroy();
    if (this.upstream && !this.upstream.destroyed) this.upstream.destroy();
    this.#relay.forget(this);
  }
}

export class FaultRelay {
  readonly targetHost: string;
  readonly targetPort: number;
  settings: FaultSettings = { ...HEALTHY };
  /** Connections reset by the loss fault so far. */
  resets = 0;
  readonly #server: Server;
  readonly #connections = new Set<RelayedConnection>();

  private constructor(targetHost: string, targetPort: number) {
    this.targetHost = targetHost;
    this.targetPort = targetPort;
    this.#server = createServer({ noDelay: true }, (socket) => this.#connections.add(new RelayedConnection(this, socket)));
  }

  /** Listens on 127.0.0.1 (a free port) and relays to target. */
  static async start(targetHost: string, targetPort: number): Promise<FaultRelay> {
    const relay = new FaultRelay(targetHost, targetPort);
    await new Promise<void>((resolve, reject) => {
      relay.#server.once('error', reject);
      relay.#server.listen({ host: '127.0.0.1', port: 0 }, () => resolve());
    });
    return relay;
  }

  get port(): number {
    return (this.#server.address() as { port: number }).port;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  get connectionCount(): number {
    return this.#connections.size;
  }

  /** Changes the faults; held bytes and deferred connections go through once nothing holds them. */
  set(change: Partial<FaultSettings>): void {
    this.settings = { ...this.settings, ...change };
    if (this.settings.partitioned) return;
    for (const connection of this.#connections) {
      connection.connectThrough();
      connection.flush();
    }
  }

  heal(): void {
    this.set(HEALTHY);
  }

  /** Resets (RST) every open connection now. */
  resetAll(): void {
    for (const connection of [...this.#connections]) connection.reset();
  }

  forget(connection: RelayedConnection): void {
    this.#connections.delete(connection);
  }

  async close(): Promise<void> {
    for (const connection of [...this.#connections]) connection.close();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
