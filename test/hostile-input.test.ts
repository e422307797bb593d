/**
 * Hostile and broken input on tenant listeners, against a real proxy PROCESS in front of a real
 * ZooKeeper. Whatever one connection sends, the proxy answers it the way ZooKeeper would (or
 * closes it), and nothing else notices: two well-behaved clients (one on the same tenant, one on
 * another) run requests in a loop for the whole file and must never see an error, a closed
 * connection or a different session; the proxy must release everything a bad connection held.
 */
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  DEFAULT_MAX_FRAME_SIZE,
  decodeConnectResponse,
  encodeRequest,
  ErrorCode,
  FrameReader,
  OpCode,
  Perms,
  encodeNewSessionRequest,
} from 'jute-ts';
import { JuteClient } from 'jute-ts/client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LocalEnsemble } from '../src/embedded/ensemble.ts';
import { reserveFreePorts } from '../src/embedded/free-ports.ts';
import { sendFourLetterWord } from '../src/embedded/four-letter-word.ts';
import { spawnProxyProcess, startInProcessProxy, type ProxyProcess } from './support/proxy.ts';

const OPEN_ACL = [{ perms: Perms.ALL, id: { scheme: 'world', id: 'anyone' } }];
/** Sessions that hostile connections leave behind expire quickly (the server allows 2..20 ticks). */
const HOSTILE_SESSION_TIMEOUT_MS = 2_000;

let ensemble: LocalEnsemble;
let proxy: ProxyProcess;
let adminUrl: string;
const bystanders: Bystander[] = [];

// ------------------------------------------------------------------ well-behaved clients

/** A good client that keeps writing and reading its own znode until stopped. */
class Bystander {
  readonly tenant: string;
  readonly client: JuteClient;
  readonly sessionId: bigint;
  ops = 0;
  readonly failures: string[] = [];
  closedReason: string | undefined;
  private running = true;
  private readonly loop: Promise<void>;

  private constructor(tenant: string, client: JuteClient) {
    this.tenant = tenant;
    this.client = client;
    this.sessionId = client.sessionId;
    client.on('close', (reason) => (this.closedReason = reason));
    this.loop = this.run();
  }

  static async start(tenant: string): Promise<Bystander> {
    const client = await JuteClient.connect({ port: proxy.port(tenant), sessionTimeoutMs: 10_000 });
    await client.call(OpCode.create, { path: '/bystander', data: Buffer.from('0'), acl: OPEN_ACL, flags: 0 });
    await client.call(OpCode.create, { path: '/bystander-eph', data: null, acl: OPEN_ACL, flags: 1 });
    return new Bystander(tenant, client);
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        const value = Buffer.from(`${this.tenant}-${this.ops}`);
        await this.client.call(OpCode.setData, { path: '/bystander', data: value, version: -1 });
        const reply = await this.client.call(OpCode.getData, { path: '/bystander', watch: false });
        const data = (reply.body as { data: Buffer | null }).data;
        if (data === null || !data.equals(value)) throw new Error(`read back ${String(data)} after writing ${value.toString()}`);
        this.ops++;
      } catch (error) {
        this.failures.push(String(error));
        if (this.client.closed) return;
      }
      await sleep(20);
    }
  }

  /** No failure, still connected, same session, its ephemeral still its own, and still making progress. */
  async expectIntact(opsBefore: number): Promise<void> {
    const label = `bystander on ${this.tenant}`;
    expect(this.failures, label).toEqual([]);
    expect(this.closedReason, label).toBeUndefined();
    expect(this.client.sessionId, label).toBe(this.sessionId);
    const reply = await this.client.call(OpCode.exists, { path: '/bystander-eph', watch: false });
    expect((reply.body as { stat: { ephemeralOwner: bigint } }).stat.ephemeralOwner, label).toBe(this.sessionId);
    const deadline = Date.now() + 10_000;
    while (this.ops <= opsBefore && Date.now() < deadline) await sleep(20);
    expect(this.ops, `${label} made progress`).toBeGreaterThan(opsBefore);
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    await this.client.close();
  }
}

// ------------------------------------------------------------------ raw connections

/** A TCP connection that sends exactly the bytes it is given and records everything it gets. */
class RawConnection {
  readonly socket: Socket;
  readonly frames: Buffer[] = [];
  received = Buffer.alloc(0);
  unparsable: string | undefined;
  closed = false;
  readonly closedPromise: Promise<void>;
  private readonly reader = new FrameReader(DEFAULT_MAX_FRAME_SIZE);
  private readonly waiters = new Set<() => void>();

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.received = Buffer.concat([this.received, chunk]);
      try {
        this.reader.push(chunk, (frame) => this.frames.push(Buffer.from(frame)));
      } catch (error) {
        this.unparsable = String(error);
      }
      this.notify();
    });
    socket.on('error', () => {});
    this.closedPromise = new Promise((resolve) =>
      socket.once('close', () => {
        this.closed = true;
        this.notify();
        resolve();
      }),
    );
  }

  static open(port: number): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port, noDelay: true });
      socket.once('connect', () => resolve(new RawConnection(socket)));
      socket.once('error', reject);
    });
  }

  /** Opens a connection and establishes a new session on it. */
  static async established(port: number): Promise<RawConnection> {
    const connection = await RawConnection.open(port);
    connection.send(connectRequest());
    await connection.waitFor('the ConnectResponse', () => connection.frames.length >= 1);
    const response = decodeConnectResponse(connection.frames[0]!);
    if (response.timeOut <= 0) throw new Error('session refused');
    return connection;
  }

  send(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  async waitFor(description: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
    if (condition()) return;
    await new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!condition()) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`no ${description} within ${timeoutMs} ms (received ${this.frames.length} frames, closed: ${this.closed})`));
      }, timeoutMs);
      this.waiters.add(check);
    });
  }

  waitClosed(timeoutMs = 10_000): Promise<void> {
    return this.waitFor('close', () => this.closed, timeoutMs);
  }

  /** Replies after the ConnectResponse, as [xid, zxid, err]. */
  replies(): [number, bigint, number][] {
    return this.frames.slice(1).map((frame) => [frame.readInt32BE(4), frame.readBigInt64BE(8), frame.readInt32BE(16)]);
  }

  destroy(): void {
    this.socket.destroy();
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

function connectRequest(): Buffer {
  return encodeNewSessionRequest(HOSTILE_SESSION_TIMEOUT_MS);
}

function request(xid: number, opcode: number, body?: Record<string, unknown>): Buffer {
  return encodeRequest(body === undefined ? { xid, opcode } : { xid, opcode, body: body as never });
}

/** A request whose header is fine but whose body is cut short (length prefix adjusted to match). */
function truncated(frame: Buffer, drop: number): Buffer {
  const cut = Buffer.from(frame.subarray(0, frame.length - drop));
  cut.writeInt32BE(cut.length - 4, 0);
  return cut;
}

function int32(value: number): Buffer {
  const bytes = Buffer.alloc(4);
  bytes.writeInt32BE(value | 0, 0);
  return bytes;
}

/** Deterministic "random" bytes (xorshift32). */
function noise(length: number, seed: number): Buffer {
  const bytes = Buffer.alloc(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    bytes[i] = x & 0xff;
  }
  return bytes;
}

// ------------------------------------------------------------------ the proxy's own view

async function httpGet(path: string, base = adminUrl): Promise<{ status: number; body: string }> {
  const response = await fetch(`${base}${path}`);
  return { status: response.status, body: await response.text() };
}

async function tenantConnections(): Promise<Record<string, number>> {
  const state = JSON.parse((await httpGet('/admin/state')).body) as { tenants: { name: string; connections: number }[] };
  return Object.fromEntries(state.tenants.map((tenant) => [tenant.name, tenant.connections]));
}

/** Client connections the ensemble member has open (the proxy's backend connections, plus this query). */
async function memberConnections(): Promise<number> {
  const mntr = await ensemble.fourLetterWord(1, 'mntr');
  const match = /^zk_num_alive_connections\s+(\d+)/m.exec(mntr);
  if (!match) throw new Error(`no zk_num_alive_connections in mntr:\n${mntr}`);
  return Number(match[1]);
}

async function eventually(description: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${description}`);
    await sleep(100);
  }
}

let baselineTenantConnections: Record<string, number>;
let baselineMemberConnections: number;

/** Everything a hostile connection held is released: proxy connections and backend connections. */
async function expectNothingLeft(): Promise<void> {
  let last = '';
  await eventually('the proxy and the member are back to their baseline connections', async () => {
    const tenants = await tenantConnections();
    const member = await memberConnections();
    last = `proxy ${JSON.stringify(tenants)} (baseline ${JSON.stringify(baselineTenantConnections)}), member ${member} (baseline ${baselineMemberConnections})`;
    return JSON.stringify(tenants) === JSON.stringify(baselineTenantConnections) && member === baselineMemberConnections;
  }).catch((error: Error) => {
    throw new Error(`${error.message}: ${last}`);
  });
}

// ------------------------------------------------------------------ lifecycle

beforeAll(async () => {
  ensemble = await LocalEnsemble.start({ size: 1, tickTime: 500 });
  proxy = await spawnProxyProcess(ensemble.connectString(), [{ name: 'alpha' }, { name: 'beta' }]);
  const listening = proxy.logs.map((line) => /"admin":"([^"]+)"/.exec(line)?.[1]).find((admin) => admin !== undefined);
  if (listening === undefined) throw new Error(`no admin address in the proxy logs:\n${proxy.logs.join('\n')}`);
  adminUrl = `http://${listening}`;
  bystanders.push(await Bystander.start('alpha'), await Bystander.start('beta'));
  const target = await JuteClient.connect({ port: proxy.port('alpha') });
  await target.call(OpCode.create, { path: '/target', data: Buffer.from('target'), acl: OPEN_ACL, flags: 0 });
  await target.close();
  await eventually('the setup connections are gone', async () => (await tenantConnections()).alpha === 1);
  baselineTenantConnections = await tenantConnections();
  baselineMemberConnections = await memberConnections();
}, 120_000);

afterAll(async () => {
  await Promise.all(bystanders.map((bystander) => bystander.stop().catch(() => {})));
  await proxy?.close();
  await ensemble?.close();
});

afterEach(({ task }) => {
  if (task.result?.state === 'fail') console.log(`proxy log tail:\n${proxy.logs.slice(-30).join('\n')}`);
});

let opsAtStart: number[] = [];

/** Every test ends here: bystanders untouched, proxy process alive and healthy, nothing leaked. */
async function expectSurvivors(): Promise<void> {
  expect(proxy.child.exitCode).toBeNull();
  expect(proxy.child.signalCode).toBeNull();
  const health = await httpGet('/healthz');
  expect(health.status).toBe(200);
  for (const [index, bystander] of bystanders.entries()) await bystander.expectIntact(opsAtStart[index] ?? 0);
  await expectNothingLeft();
}

function markStart(): void {
  opsAtStart = bystanders.map((bystander) => bystander.ops);
}

// ------------------------------------------------------------------ the tests

describe('malformed frames', () => {
  it('an oversized length prefix closes the connection without a reply, before and after the handshake', async () => {
    markStart();
    for (const length of [DEFAULT_MAX_FRAME_SIZE + 1, 0x00200000, 0x7fffffff]) {
      const fresh = await RawConnection.open(proxy.port('alpha'));
      fresh.send(Buffer.concat([int32(length), noise(64, length)]));
      await fresh.waitClosed();
      expect(fresh.received.length, `length ${length} before the handshake`).toBe(0);

      const established = await RawConnection.established(proxy.port('alpha'));
      established.send(Buffer.concat([int32(length), noise(64, length)]));
      await established.waitClosed();
      expect(established.frames, `length ${length} after the handshake`).toHaveLength(1); // the ConnectResponse only
      expect(established.unparsable).toBeUndefined();
    }
    await expectSurvivors();
  });

  it('a negative length prefix closes the connection without a reply, before and after the handshake', async () => {
    markStart();
    for (const length of [-1, -0x80000000, -20]) {
      const fresh = await RawConnection.open(proxy.port('beta'));
      fresh.send(int32(length));
      await fresh.waitClosed();
      expect(fresh.received.length, `length ${length} before the handshake`).toBe(0);

      const established = await RawConnection.established(proxy.port('beta'));
      established.send(Buffer.concat([request(1, OpCode.exists, { path: '/target', watch: false }), int32(length), noise(16, 7)]));
      await established.waitClosed();
      // A request sent before the bad frame may be answered (as ZooKeeper might); nothing else is.
      expect(
        established.replies().every(([xid]) => xid === 1),
        `length ${length} after the handshake`,
      ).toBe(true);
    }
    await expectSurvivors();
  });

  it('garbage right after a valid ConnectRequest closes the connection; nothing but a ConnectResponse comes back', async () => {
    markStart();
    const garbage = [
      Buffer.from('GET / HTTP/1.1\r\nHost: zookeeper\r\n\r\n'),
      noise(512, 0xdecafbad),
      Buffer.from([0, 0, 0, 2, 0xde, 0xad]), // a frame too short for a request header
    ];
    for (const bytes of garbage) {
      const connection = await RawConnection.open(proxy.port('alpha'));
      connection.send(Buffer.concat([connectRequest(), bytes]));
      await connection.waitClosed();
      expect(connection.unparsable).toBeUndefined();
      expect(connection.frames.length).toBeLessThanOrEqual(1);
      if (connection.frames.length === 1) expect(decodeConnectResponse(connection.frames[0]!).timeOut).toBeGreaterThan(0);
    }
    await expectSurvivors();
  });

  it('a truncated body for a known opcode gets MARSHALLINGERROR in xid order and the connection stays usable', async () => {
    markStart();
    const connection = await RawConnection.established(proxy.port('alpha'));
    connection.send(
      Buffer.concat([
        request(1, OpCode.getData, { path: '/target', watch: false }),
        truncated(request(2, OpCode.getData, { path: '/target', watch: false }), 3),
        truncated(request(3, OpCode.create, { path: '/never', data: Buffer.from('x'), acl: OPEN_ACL, flags: 0 }), 10),
        truncated(request(4, OpCode.setData, { path: '/target', data: Buffer.from('overwritten'), version: -1 }), 1),
        request(5, OpCode.exists, { path: '/target', watch: false }),
      ]),
    );
    await connection.waitFor('5 replies', () => connection.replies().length >= 5);
    const replies = connection.replies();
    expect(replies.map(([xid]) => xid)).toEqual([1, 2, 3, 4, 5]);
    expect(replies.map(([, , err]) => err)).toEqual([
      ErrorCode.OK,
      ErrorCode.MARSHALLINGERROR,
      ErrorCode.MARSHALLINGERROR,
      ErrorCode.MARSHALLINGERROR,
      ErrorCode.OK,
    ]);

    connection.send(request(6, OpCode.getData, { path: '/target', watch: false }));
    await connection.waitFor('the reply to a later request', () => connection.replies().length >= 6);
    const [xid, , err] = connection.replies()[5]!;
    expect([xid, err]).toEqual([6, ErrorCode.OK]);
    // The truncated write did not reach the ensemble, the truncated create created nothing.
    expect(connection.frames.at(-1)!.subarray(24, 30).toString()).toBe('target');
    connection.send(request(7, OpCode.exists, { path: '/never', watch: false }));
    await connection.waitFor('the exists reply', () => connection.replies().length >= 7);
    expect(connection.replies()[6]![2]).toBe(ErrorCode.NONODE);
    expect(connection.closed).toBe(false);
    connection.destroy();
    await expectSurvivors();
  });

  it('an unknown opcode gets UNIMPLEMENTED after the replies before it, then the connection closes', async () => {
    markStart();
    const pipelined = await RawConnection.established(proxy.port('alpha'));
    pipelined.send(
      Buffer.concat([
        request(1, OpCode.exists, { path: '/target', watch: false }),
        Buffer.concat([int32(8), int32(2), int32(9999)]),
        request(3, OpCode.exists, { path: '/target', watch: false }),
      ]),
    );
    await pipelined.waitClosed();
    expect(pipelined.replies()).toEqual([
      [1, expect.any(BigInt), ErrorCode.OK],
      [2, -1n, ErrorCode.UNIMPLEMENTED],
    ]);

    // An opcode that exists but that no client may send (createSession) is just as unknown.
    const alone = await RawConnection.established(proxy.port('beta'));
    alone.send(Buffer.concat([int32(8), int32(1), int32(OpCode.createSession)]));
    await alone.waitClosed();
    expect(alone.replies()).toEqual([[1, -1n, ErrorCode.UNIMPLEMENTED]]);
    await expectSurvivors();
  });
});

describe('misbehaving connections', () => {
  it('a client that disconnects in the middle of a frame leaves nothing behind', async () => {
    markStart();
    const handshake = connectRequest();
    const halfHandshake = await RawConnection.open(proxy.port('alpha'));
    halfHandshake.send(handshake.subarray(0, 20));
    await sleep(50);
    halfHandshake.destroy();

    const halfRequest = await RawConnection.established(proxy.port('alpha'));
    const write = request(1, OpCode.setData, { path: '/target', data: Buffer.alloc(4096, 1), version: -1 });
    halfRequest.send(write.subarray(0, write.length / 2));
    await sleep(50);
    halfRequest.destroy();

    const halfPrefix = await RawConnection.established(proxy.port('beta'));
    halfPrefix.send(Buffer.concat([request(1, OpCode.exists, { path: '/target', watch: false }), int32(40).subarray(0, 2)]));
    await halfPrefix.waitFor('the reply before the cut', () => halfPrefix.replies().length >= 1);
    halfPrefix.socket.end(); // half-close: the proxy sees EOF in the middle of a length prefix
    await halfPrefix.waitClosed();

    // The half-written setData never reached the ensemble.
    const check = await JuteClient.connect({ port: proxy.port('alpha') });
    const reply = await check.call(OpCode.getData, { path: '/target', watch: false });
    expect((reply.body as { data: Buffer }).data.toString()).toBe('target');
    await check.close();
    await expectSurvivors();
  });

  it('connections that never send anything hold no backend connection and delay nobody', async () => {
    markStart();
    const silent = await Promise.all(Array.from({ length: 40 }, (_, i) => RawConnection.open(proxy.port(i % 2 === 0 ? 'alpha' : 'beta'))));
    await eventually('the proxy to count the silent connections', async () => {
      const tenants = await tenantConnections();
      return tenants.alpha === baselineTenantConnections.alpha! + 20 && tenants.beta === baselineTenantConnections.beta! + 20;
    });
    expect(await memberConnections()).toBe(baselineMemberConnections);
    // A new client is served at once while they sit there.
    const startedAt = performance.now();
    const newcomer = await JuteClient.connect({ port: proxy.port('alpha') });
    await newcomer.call(OpCode.exists, { path: '/target', watch: false });
    const newcomerMs = performance.now() - startedAt;
    await newcomer.close();
    expect(newcomerMs).toBeLessThan(2_000);
    await sleep(500);
    expect(silent.every((connection) => connection.received.length === 0)).toBe(true);
    for (const connection of silent) connection.destroy();
    await expectSurvivors();
  });

  it('a connection that sends no ConnectRequest within client.handshakeTimeoutMs is closed, as ZooKeeper does', async () => {
    const strict = await startInProcessProxy(ensemble.connectString(), [{ name: 'delta' }], { client: { handshakeTimeoutMs: 300 } });
    try {
      const silent = await RawConnection.open(strict.port('delta'));
      const openedAt = performance.now();
      await silent.waitClosed();
      const closedAfterMs = performance.now() - openedAt;
      expect(closedAfterMs).toBeGreaterThanOrEqual(250);
      expect(closedAfterMs).toBeLessThan(5_000);
      expect(silent.received.length).toBe(0);
      // A client that does send its ConnectRequest in time keeps its session past the timeout.
      const prompt = await JuteClient.connect({ port: strict.port('delta') });
      await sleep(600);
      expect((await prompt.request(OpCode.exists, { path: '/', watch: false })).err).toBe(0);
      await prompt.close();
    } finally {
      await strict.close();
    }
  });

  it('1,000 rapid connect/disconnects leave the proxy and the ensemble as they were', async () => {
    markStart();
    const startedAt = performance.now();
    let index = 0;
    let refused = 0;
    const worker = async () => {
      while (index < 1_000) {
        const i = index++;
        const port = proxy.port(i % 2 === 0 ? 'alpha' : 'beta');
        await new Promise<void>((resolve) => {
          const socket = connect({ host: '127.0.0.1', port });
          socket.once('connect', () => {
            // Every fifth one gets as far as asking for a session, which the proxy is then opening.
            if (i % 5 === 0) socket.write(connectRequest());
            socket.destroy();
          });
          socket.once('error', () => refused++);
          socket.once('close', () => resolve());
        });
      }
    };
    await Promise.all(Array.from({ length: 50 }, worker));
    console.log(`[hostile] 1,000 connect/disconnects in ${Math.round(performance.now() - startedAt)} ms`);
    expect(refused).toBe(0);
    await expectSurvivors();
  });
});

describe('replies made by the proxy', () => {
  it('BADARGUMENTS for bad paths, pipelined between real requests, arrives in exact xid order with a zxid no newer than the last real one', async () => {
    markStart();
    const connection = await RawConnection.established(proxy.port('alpha'));
    // One round trip first, so that the connection has seen a real zxid.
    connection.send(request(1, OpCode.getData, { path: '/target', watch: false }));
    await connection.waitFor('the first reply', () => connection.replies().length >= 1);
    connection.send(
      Buffer.concat([
        request(2, OpCode.setData, { path: '/target', data: Buffer.from('target'), version: -1 }),
        request(3, OpCode.exists, { path: 'bad//path', watch: false }),
        request(4, OpCode.create, { path: 'relative', data: null, acl: OPEN_ACL, flags: 0 }),
        request(5, OpCode.setData, { path: '/target', data: Buffer.from('target'), version: -1 }),
        request(6, OpCode.getData, { path: '/trailing/', watch: false }),
        request(7, OpCode.create, { path: '/pipelined', data: null, acl: OPEN_ACL, flags: 1 }),
        request(8, OpCode.exists, { path: '/nul\u0000byte', watch: false }),
        request(9, OpCode.getData, { path: '/target', watch: false }),
      ]),
    );
    await connection.waitFor('9 replies', () => connection.replies().length >= 9);
    const replies = connection.replies();
    expect(replies.map(([xid]) => xid)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const proxyMade = new Set([3, 4, 6, 8]);
    expect(replies.map(([xid, , err]) => [xid, err])).toEqual(
      replies.map(([xid]) => [xid, proxyMade.has(xid) ? ErrorCode.BADARGUMENTS : ErrorCode.OK]),
    );

    let lastReal = 0n;
    let previous = 0n;
    for (const [xid, zxid] of replies) {
      if (proxyMade.has(xid)) expect(zxid, `xid ${xid}: not newer than the last real zxid ${lastReal}`).toBeLessThanOrEqual(lastReal);
      else lastReal = zxid;
      // Like ZooKeeper's own replies, zxids never go backwards on a connection: clients remember
      // the last one and send it on reconnect (and in SetWatches).
      expect(zxid, `xid ${xid}: zxid does not go backwards`).toBeGreaterThanOrEqual(previous);
      previous = zxid;
    }
    expect(connection.closed).toBe(false);
    connection.destroy();
    await expectSurvivors();
  });
});

describe('four-letter words on a tenant listener', () => {
  it('ruok is answered imok while the ensemble is reachable', async () => {
    expect(await sendFourLetterWord('127.0.0.1', proxy.port('alpha'), 'ruok')).toBe('imok');
    expect(await sendFourLetterWord('127.0.0.1', proxy.port('beta'), 'ruok')).toBe('imok');
  });

  it('ruok gets no imok from a proxy whose ensemble is down', async () => {
    const [deadPort] = await reserveFreePorts(1);
    const orphan = await startInProcessProxy(`127.0.0.1:${deadPort}`, [{ name: 'gamma' }]);
    try {
      expect(await sendFourLetterWord('127.0.0.1', orphan.port('gamma'), 'ruok', 5_000)).toBe('');
      expect((await httpGet('/readyz', orphan.adminUrl)).status).toBe(503);
      expect((await httpGet('/healthz', orphan.adminUrl)).status).toBe(200);
    } finally {
      await orphan.close();
    }
  });

  it('every other word gets a short refusal and a close, with nothing about the ensemble', async () => {
    markStart();
    const member = ensemble.members[0]!;
    for (const word of ['stat', 'dump', 'cons', 'mntr', 'conf', 'srvr', 'envi', 'wchc', 'wchp', 'dirs', 'isro', 'crst', 'srst']) {
      // sendFourLetterWord resolves only once the proxy has closed the connection.
      const reply = await sendFourLetterWord('127.0.0.1', proxy.port('alpha'), word, 5_000);
      expect(reply.length, word).toBeGreaterThan(0);
      expect(reply.length, word).toBeLessThan(120);
      expect(reply, word).toContain(word);
      for (const leak of [
        String(member.clientPort),
        '127.0.0.1',
        'Zookeeper version',
        'zk_',
        'sid=',
        'Mode:',
        'clientPort',
        'dataDir',
        'tenants',
        'bystander',
      ]) {
        expect(reply, `${word} must not reveal ${leak}`).not.toContain(leak);
      }
    }
    await expectSurvivors();
  });
});
