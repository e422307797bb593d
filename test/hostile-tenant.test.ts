/**
 * The hostile-tenant suite: a malicious tenant (alpha, sometimes `a`) tries to escape its chroot,
 * read or change another tenant's (beta's) data, learn about the shared ensemble, take over a
 * session or steer the proxy, against a real 3-member ZooKeeper ensemble through the real proxy.
 * One `it` per attempt; each must be refused or contained. Every test that touches beta checks
 * beta's side on the server itself (ServerTree, super user), and the last test checks that beta's
 * nodes, data, ACLs and live session came through the whole file untouched.
 *
 * Related, not repeated here: test/tenant-isolation.test.ts (two tenants running the same workload
 * on the same paths; the a/ab boundary for watches and ephemerals; BADARGUMENTS for every opcode)
 * and test/hostile-input.test.ts (malformed frames, connection abuse, four-letter words against a
 * proxy process).
 */
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CreateMode,
  DEFAULT_MAX_FRAME_SIZE,
  decodeConnectResponse,
  encodeRequest,
  ErrorCode,
  EventType,
  FrameReader,
  OpCode,
  Perms,
  Xid,
  type Reply,
  type WatcherEventRecord,
  encodeNewSessionRequest,
} from 'jute-ts';
import { JuteClient, SessionExpiredError } from 'jute-ts/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_FOUR_LETTER_WORDS, LocalEnsemble } from '../src/embedded/ensemble.ts';
import { sendFourLetterWord } from '../src/embedded/four-letter-word.ts';
import { digestId, tenantSecrets } from '../src/tenancy/credentials.ts';
import { compileJava, curatorClasspath, type CompiledJava } from './support/java.ts';
import { startInProcessProxy, TEST_SECRET, type InProcessProxy } from './support/proxy.ts';
import { expectSuccess, resultLine, startInteractive } from './support/run-process.ts';
import { ServerTree } from './support/server-tree.ts';
import { serverBehaviour, serverUnderTest } from './support/server-under-test.ts';

const CLIENTS_DIR = join(import.meta.dirname, 'clients');
const OPEN_ACL = [{ perms: Perms.ALL, id: { scheme: 'world', id: 'anyone' } }];
const TENANTS = ['alpha', 'beta', 'a', 'ab'];
/** Words the fixture ensemble answers, so each refusal has a control showing what would leak. */
const LEAKY_WORDS = ['dump', 'cons', 'wchp', 'wchc', 'mntr', 'envi', 'conf', 'stat'];
/** The small frame limit of the second proxy, for frames that grow past it when rewritten. */
const SMALL_FRAME_LIMIT = 4096;
const BETA_SECRET = 'beta-secret-data';

let ensemble: LocalEnsemble | undefined;
let proxy: InProcessProxy | undefined;
let smallFrameProxy: InProcessProxy | undefined;
/** A proxy that only knows member 1: sessions through it are all on the same member. */
let singleMemberProxy: InProcessProxy | undefined;
let tree: ServerTree;
let javaClasses: CompiledJava | undefined;
/** beta's long-lived session: it holds an ephemeral and watches; every attempt must leave it alone. */
let victim: JuteClient;
let victimEvents: WatcherEventRecord[];
/** Server view of beta's protected nodes (everything but /churn*) before any attack. */
let betaBefore: Map<string, string>;
const opened: JuteClient[] = [];

beforeAll(async () => {
  const compiling = compileJava([join(CLIENTS_DIR, 'EnsembleTrackerProbe.java')]);
  compiling.catch(() => {}); // awaited below
  // Three members with reconfig on: the Curator test changes /zookeeper/config for real.
  ensemble = await LocalEnsemble.start({
    size: 3,
    ...serverUnderTest(),
    reconfigEnabled: true,
    fourLetterWords: [...new Set([...DEFAULT_FOUR_LETTER_WORDS, ...LEAKY_WORDS])],
  });
  proxy = await startInProcessProxy(
    ensemble.connectString(),
    TENANTS.map((name) => ({ name })),
  );
  smallFrameProxy = await startInProcessProxy(ensemble.connectString(), [{ name: 'alpha' }], { maxFrameBytes: SMALL_FRAME_LIMIT });
  singleMemberProxy = await startInProcessProxy(ensemble.connectString([1]), [{ name: 'alpha' }, { name: 'beta' }]);
  tree = await ServerTree.open(ensemble);

  victim = await JuteClient.connect({ port: proxy.port('beta'), sessionTimeoutMs: 30_000 });
  victimEvents = [];
  victim.on('notification', (event) => victimEvents.push(event));
  await create(victim, '/secret', CreateMode.PERSISTENT, BETA_SECRET);
  await create(victim, '/secret/child', CreateMode.PERSISTENT, 'beta-child');
  await create(victim, '/x', CreateMode.PERSISTENT, 'beta-x');
  await create(victim, '/beta-eph', CreateMode.EPHEMERAL, 'beta-eph');
  await create(victim, '/churn'); // beta changes things below here; watch tests expect silence
  await victim.call(OpCode.getData, { path: '/secret', watch: true });
  await victim.call(OpCode.getChildren, { path: '/secret', watch: true });
  betaBefore = await serverSnapshot('/tenants/beta', (path) => !path.startsWith('/tenants/beta/churn'));
  javaClasses = await compiling;
}, 150_000);

afterAll(async () => {
  for (const client of opened) client.destroy();
  victim?.destroy();
  await tree?.close().catch(() => {});
  await smallFrameProxy?.close();
  await singleMemberProxy?.close();
  await proxy?.close();
  await ensemble?.close();
  javaClasses?.cleanup();
});

// ------------------------------------------------------------------ helpers

interface Session {
  client: JuteClient;
  events: WatcherEventRecord[];
}

async function session(tenant: string, options: { port?: number; sessionTimeoutMs?: number } = {}): Promise<Session> {
  const client = await JuteClient.connect({
    port: options.port ?? proxy!.port(tenant),
    sessionTimeoutMs: options.sessionTimeoutMs ?? 15_000,
  });
  opened.push(client);
  const events: WatcherEventRecord[] = [];
  client.on('notification', (event) => events.push(event));
  return { client, events };
}

/** A session straight to ensemble member `index` (no proxy), optionally authenticated as a digest identity. */
async function directSession(index = 0, identity?: { user: string; password: string }): Promise<Session> {
  const member = ensemble!.members[index]!;
  const client = await JuteClient.connect({ host: member.host, port: member.clientPort, sessionTimeoutMs: 15_000 });
  opened.push(client);
  if (identity) await client.call(OpCode.auth, { type: 0, scheme: 'digest', auth: Buffer.from(`${identity.user}:${identity.password}`) });
  const events: WatcherEventRecord[] = [];
  client.on('notification', (event) => events.push(event));
  return { client, events };
}

function create(client: JuteClient, path: string, flags: number = CreateMode.PERSISTENT, data = ''): Promise<string> {
  return client.call(OpCode.create, { path, data: Buffer.from(data), acl: OPEN_ACL, flags }).then((reply) => reply.body!.path as string);
}

async function err(client: JuteClient, opcode: number, body?: Record<string, unknown>): Promise<number> {
  return (await client.request(opcode, body as never)).err;
}

async function children(client: JuteClient, path: string): Promise<string[]> {
  return [...((await client.call(OpCode.getChildren, { path, watch: false })).body!.children as string[])].sort();
}

type SubOp = [type: number, body: Record<string, unknown>];

function multiBody(ops: SubOp[]): Record<string, unknown> {
  return {
    ops: {
      entries: [
        ...ops.map(([type, body]) => ({ header: { type, done: false, err: -1 }, body })),
        { header: { type: -1, done: true, err: -1 }, body: undefined },
      ],
    },
  };
}

/** err of each sub-result of a multi/multiRead reply (the terminator left out). */
function subResults(reply: Reply): { type: number; err: number; body: Record<string, unknown> | undefined }[] {
  const entries = (
    reply.body!.results as { entries: { header: { type: number; done: boolean; err: number }; body?: Record<string, unknown> }[] }
  ).entries;
  return entries
    .filter((entry) => !entry.header.done)
    .map((entry) => ({ type: entry.header.type, err: entry.header.err, body: entry.body }));
}

const EVENT_NAMES = new Map<number, string>(Object.entries(EventType).map(([name, code]) => [code, name]));
function describeEvents(events: readonly WatcherEventRecord[]): string[] {
  return events.map((event) => `${EVENT_NAMES.get(event.type) ?? event.type} ${event.path}`).sort();
}

async function waitForEvents(target: { events: WatcherEventRecord[] }, count: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (target.events.length < count) {
    if (Date.now() > deadline) throw new Error(`expected ${count} notifications, got ${JSON.stringify(describeEvents(target.events))}`);
    await sleep(20);
  }
}

/** Every node below `root` (root included) on the server: path → data, version, ACL, ephemeral owner. */
async function serverSnapshot(root: string, keep: (path: string) => boolean = () => true): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  await tree.client.call(OpCode.sync, { path: '/' });
  const visit = async (path: string): Promise<void> => {
    if (!keep(path)) return;
    const data = await tree.client.request(OpCode.getData, { path, watch: false });
    if (data.err === ErrorCode.NONODE) return;
    const acl = await tree.acl(path);
    const stat = data.body!.stat as { version: number; aversion: number; ephemeralOwner: bigint };
    out.set(path, JSON.stringify([String(data.body!.data), stat.version, stat.aversion, String(stat.ephemeralOwner), acl]));
    const kids = (await tree.client.call(OpCode.getChildren, { path, watch: false })).body!.children as string[];
    for (const kid of kids) await visit(`${path}/${kid}`);
  };
  await visit(root);
  return out;
}

/** Number of nodes strictly below `root` on the server. */
async function serverDescendants(root: string): Promise<number> {
  const kids = (await tree.children(root)) ?? [];
  let total = kids.length;
  for (const kid of kids) total += await serverDescendants(`${root}/${kid}`);
  return total;
}

/** beta's protected nodes are exactly as they were, and its session is still the same live one. */
async function expectBetaUntouched(): Promise<void> {
  expect(await serverSnapshot('/tenants/beta', (path) => !path.startsWith('/tenants/beta/churn'))).toEqual(betaBefore);
  expect(victim.closed, 'beta session still connected').toBe(false);
  const reply = await victim.call(OpCode.exists, { path: '/beta-eph', watch: false });
  expect((reply.body!.stat as { ephemeralOwner: bigint }).ephemeralOwner).toBe(victim.sessionId);
}

async function metric(name: string, labels: string): Promise<number> {
  const text = await (await fetch(`${proxy!.adminUrl}/metrics`)).text();
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name}{${labels}}`));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

/** ZooKeeperServer.generatePasswd: new java.util.Random(sessionId ^ 0xB3415C00L).nextBytes(16 bytes). */
function ensemblePassword(sessionId: bigint): Buffer {
  const MASK = (1n << 48n) - 1n;
  const MULTIPLIER = 0x5deece66dn;
  let seed = (BigInt.asIntN(64, sessionId ^ 0xb3415c00n) ^ MULTIPLIER) & MASK; // new Random(seed)
  const out = Buffer.alloc(16);
  for (let i = 0; i < 16; ) {
    seed = (seed * MULTIPLIER + 0xbn) & MASK; // next(32)
    let random = Number(BigInt.asIntN(32, seed >> 16n));
    for (let n = Math.min(16 - i, 4); n-- > 0; random >>= 8) out[i++] = random & 0xff; // nextBytes
  }
  return out;
}

/** A raw TCP connection that records every frame it receives. */
class RawConnection {
  readonly frames: Buffer[] = [];
  readonly bytes: Buffer[] = [];
  closed = false;
  readonly socket: Socket;
  private readonly reader = new FrameReader(DEFAULT_MAX_FRAME_SIZE);
  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.bytes.push(Buffer.from(chunk));
      this.reader.push(chunk, (frame) => this.frames.push(Buffer.from(frame)));
    });
    socket.on('error', () => {});
    socket.on('close', () => (this.closed = true));
  }
  static open(port: number): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port, noDelay: true });
      socket.once('connect', () => resolve(new RawConnection(socket)));
      socket.once('error', reject);
    });
  }
  received(): Buffer {
    return Buffer.concat(this.bytes);
  }
  async waitFor(what: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      if (Date.now() > deadline)
        throw new Error(`no ${what} within ${timeoutMs} ms (${this.frames.length} frames, closed: ${this.closed})`);
      await sleep(10);
    }
  }
  /** Replies after the ConnectResponse, as [xid, err]. */
  replies(): [number, number][] {
    return this.frames.slice(1).map((frame) => [frame.readInt32BE(4), frame.readInt32BE(16)]);
  }
}

const CONNECT_REQUEST = encodeNewSessionRequest(10_000);

// ------------------------------------------------------------------ the attempts

describe('path escapes stay inside the chroot', () => {
  it('`..` and `.` components anywhere in a path are refused (BADARGUMENTS) and reach nothing', async () => {
    const { client } = await session('alpha');
    for (const path of [
      '/..',
      '/../beta',
      '/../beta/secret',
      '/./beta',
      '/.',
      '/x/..',
      '/x/.',
      '/x/../../beta/secret',
      '/./../tenants/beta',
    ]) {
      for (const [opcode, body] of [
        [OpCode.getData, { path, watch: false }],
        [OpCode.exists, { path, watch: true }],
        [OpCode.getChildren2, { path, watch: false }],
        [OpCode.setData, { path, data: Buffer.from('pwned'), version: -1 }],
        [OpCode.delete, { path, version: -1 }],
        [OpCode.create, { path, data: Buffer.from('pwned'), acl: OPEN_ACL, flags: 0 }],
        [OpCode.getACL, { path }],
        [OpCode.setACL, { path, acl: OPEN_ACL, version: -1 }],
      ] as const) {
        expect(await err(client, opcode, body), `opcode ${opcode} ${path}`).toBe(ErrorCode.BADARGUMENTS);
      }
    }
    expect(client.closed).toBe(false);
    await expectBetaUntouched();
  });

  it('percent-encoded dots and slashes (/%2e%2e/beta) are literal names inside /tenants/alpha', async () => {
    const { client } = await session('alpha');
    const names = ['/%2e%2e', '/%2e%2e/beta', '/%2E%2E%2Fbeta', '/..%2fbeta', '/%2fbeta', '/%252e%252e'];
    for (const path of names) expect(await create(client, path, CreateMode.PERSISTENT, 'alpha-literal')).toBe(path);
    // Reading "beta's secret" through the encoded path finds nothing: there is no decoding anywhere.
    expect(await err(client, OpCode.getData, { path: '/%2e%2e/beta/secret', watch: false })).toBe(ErrorCode.NONODE);
    expect(await err(client, OpCode.getData, { path: '/%2e%2e%2fbeta%2fsecret', watch: false })).toBe(ErrorCode.NONODE);
    for (const path of names) expect((await tree.data(`/tenants/alpha${path}`))?.toString()).toBe('alpha-literal');
    expect(await tree.children('/tenants/alpha/%2e%2e')).toEqual(['beta']);
    await expectBetaUntouched();
  });

  it('Unicode look-alikes (fullwidth solidus, one-dot leader, fullwidth full stop, combining marks) are literal names inside /tenants/alpha', async () => {
    const { client } = await session('alpha');
    const lookAlikes = [
      '/..\uFF0Fbeta', // FULLWIDTH SOLIDUS
      '/\u2024\u2024', // ONE DOT LEADER x2
      '/\u2025', // TWO DOT LEADER
      '/\uFF0E\uFF0E', // FULLWIDTH FULL STOP x2
      '/.\u0338.', // dot, COMBINING LONG SOLIDUS OVERLAY, dot
      '/\u002E\u0307\u002E', // dot, COMBINING DOT ABOVE, dot
      '/\u2215beta', // DIVISION SLASH
      '/\u202E..', // RIGHT-TO-LEFT OVERRIDE
    ];
    for (const path of lookAlikes) {
      const reply = await client.request(OpCode.create, { path, data: Buffer.from('look-alike'), acl: OPEN_ACL, flags: 0 });
      // Either refused, or created under exactly that name in alpha's tree: never anywhere else.
      if (reply.err === ErrorCode.OK) {
        expect(reply.body!.path).toBe(path);
        expect((await tree.data(`/tenants/alpha${path}`))?.toString(), path).toBe('look-alike');
      } else expect(reply.err, path).toBe(ErrorCode.BADARGUMENTS);
    }
    // Nested below a look-alike "..": still alpha's own node.
    expect(await create(client, '/\u2024\u2024/beta')).toBe('/\u2024\u2024/beta');
    expect(await tree.exists('/tenants/alpha/\u2024\u2024/beta')).toBe(true);
    for (const path of ['/\u2024\u2024/beta/secret', '/\uFF0E\uFF0E/beta/secret', '/..\uFF0Fbeta\uFF0Fsecret']) {
      expect(await err(client, OpCode.getData, { path, watch: false }), path).toBe(ErrorCode.NONODE);
    }
    // Names the server stores are the exact UTF-8 the tenant sent, nothing normalised to "..".
    const alphaNames = (await tree.children('/tenants/alpha'))!;
    for (const path of lookAlikes) expect(alphaNames).toContain(path.slice(1));
    expect(alphaNames).not.toContain('..');
    for (const name of (await tree.children('/tenants'))!) expect(TENANTS).toContain(name);
    await expectBetaUntouched();
  });

  it('overlong and invalid UTF-8 encodings of "." and "/" (C0 AE, C0 AF, lone continuation bytes) are refused', async () => {
    const { client } = await session('alpha');
    const rawPaths = [
      Buffer.from([0x2f, 0xc0, 0xae, 0xc0, 0xae, 0x2f, ...Buffer.from('beta')]), // /<overlong .><overlong .>/beta
      Buffer.from([0x2f, 0x2e, 0x2e, 0xc0, 0xaf, ...Buffer.from('beta')]), // /..<overlong />beta
      Buffer.from([0x2f, 0xe0, 0x80, 0xae, 0xe0, 0x80, 0xae]), // 3-byte overlong dots
      Buffer.from([0x2f, 0x80, 0x2e]), // lone continuation byte
    ];
    let xid = 1000;
    for (const raw of rawPaths) {
      // getData request: header, ustring path (raw bytes), watch=false.
      const body = Buffer.concat([Buffer.alloc(4), raw, Buffer.from([0])]);
      body.writeInt32BE(raw.length, 0);
      const frame = Buffer.alloc(12 + body.length);
      frame.writeInt32BE(8 + body.length, 0);
      frame.writeInt32BE(++xid, 4);
      frame.writeInt32BE(OpCode.getData, 8);
      body.copy(frame, 12);
      expect((await client.sendFrame(frame, xid, OpCode.getData)).err, raw.toString('hex')).toBe(ErrorCode.BADARGUMENTS);
    }
    expect(client.closed).toBe(false);
    await expectBetaUntouched();
  });

  it('NUL bytes in a path (truncation tricks like /x\\0/../beta) are refused', async () => {
    const { client } = await session('alpha');
    for (const path of ['/x\u0000/../beta', '/\u0000', '/secret\u0000', '/\u0000../beta', '/tenants\u0000/beta']) {
      expect(await err(client, OpCode.create, { path, data: null, acl: OPEN_ACL, flags: 0 }), JSON.stringify(path)).toBe(
        ErrorCode.BADARGUMENTS,
      );
      expect(await err(client, OpCode.getData, { path, watch: false }), JSON.stringify(path)).toBe(ErrorCode.BADARGUMENTS);
      expect(await err(client, OpCode.setData, { path, data: Buffer.from('x'), version: -1 }), JSON.stringify(path)).toBe(
        ErrorCode.BADARGUMENTS,
      );
    }
    for (const name of (await tree.children('/tenants/alpha'))!) expect(name).not.toContain('\u0000');
    await expectBetaUntouched();
  });

  it('trailing slashes, empty and relative paths (the "/tenants/alpha" + "../beta" concatenation) are refused', async () => {
    const { client } = await session('alpha');
    for (const path of ['', '/secret/', '/tenants/beta/', '//', '//beta', 'beta/secret', '../beta', '.', '..', ' /x']) {
      expect(await err(client, OpCode.getData, { path, watch: false }), JSON.stringify(path)).toBe(ErrorCode.BADARGUMENTS);
      expect(
        await err(client, OpCode.create, { path, data: null, acl: OPEN_ACL, flags: CreateMode.PERSISTENT }),
        JSON.stringify(path),
      ).toBe(ErrorCode.BADARGUMENTS);
      expect(await err(client, OpCode.delete, { path, version: -1 }), JSON.stringify(path)).toBe(ErrorCode.BADARGUMENTS);
    }
    // Sequential creates may end in "/" (the server appends the number) but not be empty or relative.
    for (const path of ['', '../', 'beta/']) {
      expect(
        await err(client, OpCode.create, { path, data: null, acl: OPEN_ACL, flags: CreateMode.PERSISTENT_SEQUENTIAL }),
        JSON.stringify(path),
      ).toBe(ErrorCode.BADARGUMENTS);
    }
    await expectBetaUntouched();
  });

  it('a sequential create at "/" lands in /tenants/alpha/000..., also via create2, createTTL and inside multi', async () => {
    const { client } = await session('alpha');
    const paths: string[] = [];
    paths.push(
      (await client.call(OpCode.create2, { path: '/', data: Buffer.from('c2'), acl: OPEN_ACL, flags: CreateMode.PERSISTENT_SEQUENTIAL }))
        .body!.path as string,
    );
    paths.push(
      (
        await client.call(OpCode.createTTL, {
          path: '/',
          data: Buffer.from('ttl'),
          acl: OPEN_ACL,
          flags: CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL,
          ttl: 600_000n,
        })
      ).body!.path as string,
    );
    const multi = await client.call(
      OpCode.multi,
      multiBody([
        [OpCode.create, { path: '/', data: Buffer.from('m1'), acl: OPEN_ACL, flags: CreateMode.EPHEMERAL_SEQUENTIAL }],
        [OpCode.create2, { path: '/', data: Buffer.from('m2'), acl: OPEN_ACL, flags: CreateMode.PERSISTENT_SEQUENTIAL }],
      ]),
    );
    for (const result of subResults(multi)) paths.push(result.body!.path as string);
    expect(paths).toHaveLength(4);
    for (const path of paths) {
      expect(path).toMatch(/^\/\d{10}$/);
      expect(await tree.exists(`/tenants/alpha${path}`), path).toBe(true);
    }
    for (const name of (await tree.children('/tenants'))!) expect(TENANTS).toContain(name);
    for (const name of (await tree.children('/'))!) expect(name).not.toMatch(/\d{10}$/);
  });

  it('tenant `a` cannot reach tenant `ab` (/tenants/a + "b/..." = /tenants/ab/...) with relative paths or prefixes', async () => {
    const ab = await session('ab');
    await create(ab.client, '/secret', CreateMode.PERSISTENT, 'ab-secret');
    await create(ab.client, '/ab-eph', CreateMode.EPHEMERAL, 'ab');
    const abBefore = await serverSnapshot('/tenants/ab');
    const { client } = await session('a');
    for (const path of ['b/secret', 'b', 'b/', 'b/new']) {
      expect(await err(client, OpCode.getData, { path, watch: true }), path).toBe(ErrorCode.BADARGUMENTS);
      expect(await err(client, OpCode.setData, { path, data: Buffer.from('pwned'), version: -1 }), path).toBe(ErrorCode.BADARGUMENTS);
      expect(await err(client, OpCode.create, { path, data: null, acl: OPEN_ACL, flags: 0 }), path).toBe(ErrorCode.BADARGUMENTS);
      expect(await err(client, OpCode.delete, { path, version: -1 }), path).toBe(ErrorCode.BADARGUMENTS);
      expect(await err(client, OpCode.addWatch, { path, mode: 1 }), path).toBe(ErrorCode.BADARGUMENTS);
      expect(await err(client, OpCode.getAllChildrenNumber, { path }), path).toBe(ErrorCode.BADARGUMENTS);
    }
    // getEphemerals is a plain string prefix on the server: "b" would match /tenants/ab/...
    expect(await err(client, OpCode.getEphemerals, { prefixPath: 'b' })).toBe(ErrorCode.BADARGUMENTS);
    expect(await err(client, OpCode.getEphemerals, { prefixPath: 'b/ab-eph' })).toBe(ErrorCode.BADARGUMENTS);
    // A sequential create of "b" must not become /tenants/ab0000000001 or similar.
    expect(await err(client, OpCode.create, { path: 'b', data: null, acl: OPEN_ACL, flags: CreateMode.PERSISTENT_SEQUENTIAL })).toBe(
      ErrorCode.BADARGUMENTS,
    );
    expect(await err(client, OpCode.setWatches, { relativeZxid: 0n, dataWatches: ['b/secret'], existWatches: [], childWatches: [] })).toBe(
      ErrorCode.BADARGUMENTS,
    );
    // The sibling name is an ordinary node inside a's tree.
    expect(await create(client, '/b')).toBe('/b');
    expect(await tree.exists('/tenants/a/b')).toBe(true);
    expect(await serverSnapshot('/tenants/ab')).toEqual(abBefore);
    for (const name of (await tree.children('/tenants'))!) expect(TENANTS).toContain(name);
  });
});

describe('multi and multiRead', () => {
  const KINDS: [string, (path: string) => SubOp][] = [
    ['create', (path) => [OpCode.create, { path, data: Buffer.from('pwned'), acl: OPEN_ACL, flags: 0 }]],
    ['create2', (path) => [OpCode.create2, { path, data: Buffer.from('pwned'), acl: OPEN_ACL, flags: 0 }]],
    [
      'createContainer',
      (path) => [OpCode.createContainer, { path, data: Buffer.from('pwned'), acl: OPEN_ACL, flags: CreateMode.CONTAINER }],
    ],
    [
      'createTTL',
      (path) => [
        OpCode.createTTL,
        { path, data: Buffer.from('pwned'), acl: OPEN_ACL, flags: CreateMode.PERSISTENT_WITH_TTL, ttl: 600_000n },
      ],
    ],
    ['delete', (path) => [OpCode.delete, { path, version: -1 }]],
    ['setData', (path) => [OpCode.setData, { path, data: Buffer.from('pwned'), version: -1 }]],
    ['check', (path) => [OpCode.check, { path, version: 0 }]],
  ];

  it('a `..` path in any sub-op kind (create, create2, createContainer, createTTL, delete, setData, check) refuses the whole multi', async () => {
    const { client } = await session('alpha');
    for (const [kind, subOp] of KINDS) {
      for (const path of ['/../beta/secret', '/../beta/new', '/x/../../beta/x']) {
        const reply = await client.request(
          OpCode.multi,
          multiBody([[OpCode.create, { path: '/multi-canary', data: null, acl: OPEN_ACL, flags: 0 }], subOp(path)]),
        );
        expect(reply.err, `${kind} ${path}`).toBe(ErrorCode.BADARGUMENTS);
      }
    }
    expect(await tree.exists('/tenants/alpha/multi-canary')).toBe(false);
    await expectBetaUntouched();
  });

  it("an absolute foreign path (/tenants/beta/...) in any sub-op kind means alpha's own /tenants/beta/...: NONODE, or a node inside alpha", async () => {
    const { client } = await session('alpha');
    for (const [kind, subOp] of KINDS.filter(([kind]) => ['delete', 'setData', 'check'].includes(kind))) {
      const reply = await client.call(
        OpCode.multi,
        multiBody([[OpCode.create, { path: '/multi-canary', data: null, acl: OPEN_ACL, flags: 0 }], subOp('/tenants/beta/secret')]),
      );
      expect(
        subResults(reply).map((result) => result.err),
        kind,
      ).toContain(ErrorCode.NONODE);
      expect(await tree.exists('/tenants/alpha/multi-canary'), kind).toBe(false);
    }
    // Creates need the parents, which alpha can make in its own tree: that is where they all land.
    await create(client, '/tenants');
    await create(client, '/tenants/beta');
    const creates = KINDS.filter(([kind]) => kind.startsWith('create')).map(([kind, subOp]) => subOp(`/tenants/beta/${kind}`));
    const reply = await client.call(OpCode.multi, multiBody(creates));
    const results = subResults(reply);
    expect(results.map((result) => result.err)).toEqual([0, 0, 0, 0]);
    expect(results.map((result) => result.body!.path)).toEqual([
      '/tenants/beta/create',
      '/tenants/beta/create2',
      '/tenants/beta/createContainer',
      '/tenants/beta/createTTL',
    ]);
    expect(await tree.children('/tenants/alpha/tenants/beta')).toEqual(['create', 'create2', 'createContainer', 'createTTL']);
    for (const kind of ['create', 'create2', 'createContainer', 'createTTL'])
      expect(await tree.exists(`/tenants/beta/${kind}`)).toBe(false);
    await expectBetaUntouched();
  });

  it("multiRead getData/getChildren of foreign-looking paths never returns beta's data or names", async () => {
    const { client } = await session('alpha');
    const refused = await client.request(
      OpCode.multiRead,
      multiBody([
        [OpCode.getData, { path: '/secret-of-alpha', watch: false }],
        [OpCode.getData, { path: '/../beta/secret', watch: false }],
      ]),
    );
    expect(refused.err).toBe(ErrorCode.BADARGUMENTS);
    expect(await err(client, OpCode.multiRead, multiBody([[OpCode.getChildren, { path: '/../beta', watch: false }]]))).toBe(
      ErrorCode.BADARGUMENTS,
    );
    expect(await err(client, OpCode.multiRead, multiBody([[OpCode.getData, { path: '/zookeeper/config', watch: false }]]))).toBe(
      ErrorCode.NONODE,
    );

    const reply = await client.call(
      OpCode.multiRead,
      multiBody([
        [OpCode.getData, { path: '/tenants/beta/secret', watch: true }],
        [OpCode.getChildren, { path: '/tenants/beta/secret', watch: true }],
        [OpCode.getData, { path: '/secret', watch: true }],
        [OpCode.getChildren, { path: '/', watch: false }],
        [OpCode.getChildren, { path: '/tenants', watch: false }],
      ]),
    );
    const results = subResults(reply);
    expect(results.slice(0, 3).map((result) => result.err)).toEqual([ErrorCode.NONODE, ErrorCode.NONODE, ErrorCode.NONODE]);
    expect([...(results[3]!.body!.children as string[])].sort()).toEqual(await tree.children('/tenants/alpha'));
    const tenantsChildren = results[4]!.body!.children as string[] | undefined;
    if (tenantsChildren !== undefined) expect([...tenantsChildren].sort()).toEqual(await tree.children('/tenants/alpha/tenants'));
    const everything = JSON.stringify(reply, (_, value: unknown) =>
      typeof value === 'bigint' ? String(value) : Buffer.isBuffer(value) ? value.toString('latin1') : value,
    );
    expect(everything).not.toContain(BETA_SECRET);
    expect(everything).not.toContain('beta-eph');
    await expectBetaUntouched();
  });
});

describe('watches never report another tenant', () => {
  /** beta makes every kind of change below its /churn: creates, data, children, ephemerals, sequentials, deletes. */
  async function betaChurns(): Promise<void> {
    const beta = (await session('beta')).client;
    const base = `/churn/${randomBytes(4).toString('hex')}`;
    await create(beta, base, CreateMode.PERSISTENT, 'b');
    await create(beta, `${base}/child`, CreateMode.PERSISTENT, 'b');
    await create(beta, `${base}/eph`, CreateMode.EPHEMERAL, 'b');
    await create(beta, `${base}/seq-`, CreateMode.PERSISTENT_SEQUENTIAL, 'b');
    await create(beta, '/', CreateMode.EPHEMERAL_SEQUENTIAL, 'b');
    await beta.call(OpCode.setData, { path: base, data: Buffer.from('changed'), version: -1 });
    await beta.call(OpCode.setData, { path: '/churn', data: Buffer.from(base), version: -1 });
    await beta.call(OpCode.delete, { path: `${base}/child`, version: -1 });
    await beta.close(); // its ephemerals go too
    await sleep(500); // a stray event would have arrived by now
  }

  it("SetWatches listing /../beta/x is refused; absolute foreign paths watch alpha's own nodes; beta's changes produce no event", async () => {
    const me = await session('alpha');
    await create(me.client, '/w', CreateMode.PERSISTENT, 'w');
    const relativeZxid = (await me.client.call(OpCode.exists, { path: '/w', watch: false })).zxid;
    for (const bad of ['/../beta/churn', '/../beta', '/..']) {
      expect(
        await me.client
          .request(OpCode.setWatches, { relativeZxid, dataWatches: [bad], existWatches: [], childWatches: [] }, Xid.setWatches)
          .then((reply) => reply.err),
        bad,
      ).toBe(ErrorCode.BADARGUMENTS);
    }
    const reply = await me.client.request(
      OpCode.setWatches,
      {
        relativeZxid,
        dataWatches: ['/w'],
        existWatches: ['/churn', '/tenants/beta/churn', '/tenants/beta/secret', '/zookeeper/config'],
        childWatches: ['/w'],
      },
      Xid.setWatches,
    );
    expect(reply.err).toBe(ErrorCode.OK);
    await betaChurns();
    expect(describeEvents(me.events)).toEqual([]);
    // Positive control: the watches were armed; alpha's own changes fire them.
    await create(me.client, '/churn');
    await create(me.client, '/w/kid');
    await waitForEvents(me, 2);
    await sleep(200);
    expect(describeEvents(me.events)).toEqual(['NodeChildrenChanged /w', 'NodeCreated /churn']);
    await expectBetaUntouched();
  });

  it('SetWatches2 with foreign-looking persistent and recursive watches gets no event about beta', async () => {
    const me = await session('alpha');
    const relativeZxid = (await me.client.call(OpCode.exists, { path: '/', watch: false })).zxid;
    expect(
      (
        await me.client.request(
          OpCode.setWatches2,
          {
            relativeZxid,
            dataWatches: [],
            existWatches: [],
            childWatches: [],
            persistentWatches: [],
            persistentRecursiveWatches: ['/../beta'],
          },
          Xid.setWatches,
        )
      ).err,
    ).toBe(ErrorCode.BADARGUMENTS);
    const reply = await me.client.request(
      OpCode.setWatches2,
      {
        relativeZxid,
        dataWatches: [],
        existWatches: ['/tenants/beta/churn2', '/zookeeper/config'],
        childWatches: [],
        persistentWatches: ['/tenants/beta/churn', '/churn', '/zookeeper'],
        persistentRecursiveWatches: ['/tenants', '/tenants/beta', '/zookeeper/config', '/sw2'],
      },
      Xid.setWatches,
    );
    expect(reply.err).toBe(ErrorCode.OK);
    await betaChurns();
    expect(describeEvents(me.events)).toEqual([]);
    // Positive control: the recursive watch on alpha's /tenants/beta fires for alpha's own node there.
    await create(me.client, '/tenants/beta/sw2-control');
    await waitForEvents(me, 1);
    await sleep(200);
    expect(describeEvents(me.events)).toEqual(['NodeCreated /tenants/beta/sw2-control']);
    await expectBetaUntouched();
  });

  it('addWatch PERSISTENT_RECURSIVE on "/" (CVE-2024-23944 class) sees none of beta\'s changes, and the ensemble never even sends them', async () => {
    const me = await session('alpha');
    await me.client.call(OpCode.addWatch, { path: '/', mode: 1 });
    await me.client.call(OpCode.addWatch, { path: '/tenants', mode: 1 });
    await me.client.call(OpCode.addWatch, { path: '/churn', mode: 0 });
    const dropsBefore = await metric('zkproxy_isolation_drops_total', 'tenant="alpha"');
    await betaChurns();
    expect(describeEvents(me.events)).toEqual([]);
    // Not even withheld by the proxy: nothing outside /tenants/alpha came from the ensemble.
    expect(await metric('zkproxy_isolation_drops_total', 'tenant="alpha"')).toBe(dropsBefore);
    await create(me.client, '/rw-control');
    await waitForEvents(me, 1);
    await sleep(200);
    expect(describeEvents(me.events)).toEqual(['NodeCreated /rw-control']);
    await expectBetaUntouched();
  });

  it("removeWatches/checkWatches on foreign-looking paths are refused or find nothing, though ZooKeeper answers for other sessions' watches; beta's watch still fires", async () => {
    // Every session on the same member: ZooKeeper 3.8's checkWatches answers OK when ANY connection
    // of that member watches the exact path (not only the caller's), so it is an oracle; were a
    // path of alpha's to reach beta's node, it would reveal beta's watches.
    const port = singleMemberProxy!.port.bind(singleMemberProxy);
    const beta = await session('beta', { port: port('beta') });
    await create(beta.client, '/churn/rw', CreateMode.PERSISTENT, 'b');
    await beta.client.call(OpCode.getData, { path: '/churn/rw', watch: true });
    await beta.client.call(OpCode.getChildren, { path: '/churn/rw', watch: true });
    const { client } = await session('alpha', { port: port('alpha') });
    for (const opcode of [OpCode.checkWatches, OpCode.removeWatches]) {
      for (const type of [1, 2, 3]) {
        expect(await err(client, opcode, { path: '/../beta/churn/rw', type })).toBe(ErrorCode.BADARGUMENTS);
        expect(await err(client, opcode, { path: 'churn/rw', type })).toBe(ErrorCode.BADARGUMENTS);
        for (const path of ['/churn/rw', '/tenants/beta/churn/rw'])
          expect(await err(client, opcode, { path, type }), `${opcode} ${path} ${type}`).toBe(ErrorCode.NOWATCHER);
      }
    }
    // Control, the oracle at work inside alpha's own tree: another alpha session's watch answers OK
    // where the server has that oracle (removeWatches only ever removes the caller's own).
    const alphaWatcher = await session('alpha', { port: port('alpha') });
    await create(alphaWatcher.client, '/oracle');
    await alphaWatcher.client.call(OpCode.getData, { path: '/oracle', watch: true });
    const oracle = serverBehaviour().checkWatchesSeesOtherSessions ? ErrorCode.OK : ErrorCode.NOWATCHER;
    expect(await err(client, OpCode.checkWatches, { path: '/oracle', type: 2 })).toBe(oracle);
    expect(await err(client, OpCode.removeWatches, { path: '/oracle', type: 2 })).toBe(ErrorCode.NOWATCHER);
    // beta's watches are all still there and fire.
    expect(await err(beta.client, OpCode.checkWatches, { path: '/churn/rw', type: 3 })).toBe(ErrorCode.OK);
    await beta.client.call(OpCode.setData, { path: '/churn/rw', data: Buffer.from('b2'), version: -1 });
    await create(beta.client, '/churn/rw/kid');
    await waitForEvents(beta, 2);
    expect(describeEvents(beta.events)).toEqual(['NodeChildrenChanged /churn/rw', 'NodeDataChanged /churn/rw']);
  });

  it('sync on "/" and on foreign-looking paths answers with the client\'s own path, never a server path', async () => {
    const { client } = await session('alpha');
    expect((await client.call(OpCode.sync, { path: '/' })).body!.path).toBe('/');
    expect((await client.call(OpCode.sync, { path: '/tenants/beta' })).body!.path).toBe('/tenants/beta');
    expect((await client.call(OpCode.sync, { path: '/zookeeper-not' })).body!.path).toBe('/zookeeper-not');
    expect(await err(client, OpCode.sync, { path: '/../beta' })).toBe(ErrorCode.BADARGUMENTS);
    expect(await err(client, OpCode.sync, { path: '' })).toBe(ErrorCode.BADARGUMENTS);
  });
});

describe("tree-wide queries count and list only the tenant's own nodes", () => {
  it('getEphemerals with an empty prefix, "/", null, or foreign-looking prefixes lists only alpha\'s own ephemerals', async () => {
    const { client } = await session('alpha');
    await create(client, '/eph-dir');
    const mine = ['/eph-1', '/eph-dir/eph-2', await create(client, '/', CreateMode.EPHEMERAL_SEQUENTIAL)];
    await create(client, '/eph-1', CreateMode.EPHEMERAL);
    await create(client, '/eph-dir/eph-2', CreateMode.EPHEMERAL);
    const list = async (prefixPath: string | null) => {
      const reply = await client.call(OpCode.getEphemerals, { prefixPath });
      return [...(reply.body!.ephemerals as string[])].sort();
    };
    for (const prefix of ['', '/', null, '  ']) expect(await list(prefix), JSON.stringify(prefix)).toEqual([...mine].sort());
    for (const prefix of ['/../beta', '/tenants/beta', '/beta-eph', '/tenants', '/secret', '/e/'])
      expect(await list(prefix), prefix).toEqual([]);
    expect(await list('/eph-dir')).toEqual(['/eph-dir/eph-2']);
    expect(await err(client, OpCode.getEphemerals, { prefixPath: 'beta' })).toBe(ErrorCode.BADARGUMENTS);
    expect(await err(client, OpCode.getEphemerals, { prefixPath: '../beta' })).toBe(ErrorCode.BADARGUMENTS);
    await client.close();
  });

  it('getAllChildrenNumber on "/" counts exactly alpha\'s subtree as the server sees it', async () => {
    const { client } = await session('alpha');
    await create(client, '/count');
    for (let i = 0; i < 3; i++) await create(client, '/count/n-', CreateMode.PERSISTENT_SEQUENTIAL);
    const total = async (path: string) => (await client.call(OpCode.getAllChildrenNumber, { path })).body!.totalNumber as number;
    await tree.client.call(OpCode.sync, { path: '/' });
    const alphaTotal = await serverDescendants('/tenants/alpha');
    expect(await total('/')).toBe(alphaTotal);
    expect(alphaTotal).not.toBe(await serverDescendants('/tenants'));
    expect(await total('/count')).toBe(3);
    expect(await total('/tenants')).toBe(await serverDescendants('/tenants/alpha/tenants'));
    expect(await err(client, OpCode.getAllChildrenNumber, { path: '/zookeeper' })).toBe(ErrorCode.NONODE);
    expect(await err(client, OpCode.getAllChildrenNumber, { path: '/..' })).toBe(ErrorCode.BADARGUMENTS);
  });
});

describe('ACLs and identity', () => {
  const beta = tenantSecrets(Buffer.from(TEST_SECRET), 'beta').identity;
  const alpha = tenantSecrets(Buffer.from(TEST_SECRET), 'alpha').identity;
  const adminId = digestId('super', 'super-secret');

  it('getACL of the tenant root (and of nodes made with world:anyone, or auth: after addAuth) shows what the client set, never the tenant digest or the admin', async () => {
    const { client } = await session('alpha');
    const rootAcl = (await client.call(OpCode.getACL, { path: '/' })).body!.acl;
    expect(rootAcl).toEqual(OPEN_ACL);
    // The server's truth: the tenant's digest identity and the platform admin.
    const serverAcl = (await tree.acl('/tenants/alpha')) as { id: { id: string } }[];
    expect(serverAcl.map((entry) => entry.id.id).sort()).toEqual([adminId, alpha.id].sort());
    // auth: means the identities the client authenticated with (ZooKeeper answers INVALIDACL without one).
    await client.addAuth('digest', 'carol:carols-password');
    await client.call(OpCode.create, {
      path: '/acl-auth',
      data: null,
      acl: [{ perms: Perms.ALL, id: { scheme: 'auth', id: '' } }],
      flags: 0,
    });
    await create(client, '/acl-open');
    const expected: Record<string, unknown> = {
      '/acl-auth': [{ perms: Perms.ALL, id: { scheme: 'digest', id: digestId('carol', 'carols-password') } }],
      '/acl-open': OPEN_ACL,
    };
    for (const path of ['/acl-auth', '/acl-open']) {
      const reply = await client.call(OpCode.getACL, { path });
      expect(reply.body!.acl, path).toEqual(expected[path]);
      const raw = JSON.stringify(reply.body, (_, value: unknown) => (typeof value === 'bigint' ? String(value) : value));
      expect(raw).not.toContain('zkproxy-tenant');
      expect(raw).not.toContain('super');
    }
  });

  it("setACL or create naming beta's digest identity is refused with INVALIDACL", async () => {
    const { client } = await session('alpha');
    await create(client, '/acl-target', CreateMode.PERSISTENT, 'x');
    const aclBefore = await tree.acl('/tenants/alpha/acl-target');
    const betaAcls = [
      [{ perms: Perms.ALL, id: { scheme: 'digest', id: beta.id } }],
      [...OPEN_ACL, { perms: Perms.READ, id: { scheme: 'digest', id: beta.id } }],
      [{ perms: Perms.ALL, id: { scheme: 'digest', id: `${beta.user}:not-the-hash` } }],
    ];
    for (const acl of betaAcls) {
      expect(await err(client, OpCode.setACL, { path: '/acl-target', acl, version: -1 })).toBe(ErrorCode.INVALIDACL);
      expect(await err(client, OpCode.create, { path: '/acl-new', data: null, acl, flags: 0 })).toBe(ErrorCode.INVALIDACL);
      expect(
        await err(client, OpCode.createTTL, { path: '/acl-new', data: null, acl, flags: CreateMode.PERSISTENT_WITH_TTL, ttl: 60_000n }),
      ).toBe(ErrorCode.INVALIDACL);
      expect(await err(client, OpCode.multi, multiBody([[OpCode.create, { path: '/acl-new', data: null, acl, flags: 0 }]]))).toBe(
        ErrorCode.INVALIDACL,
      );
    }
    expect(await tree.acl('/tenants/alpha/acl-target')).toEqual(aclBefore);
    expect(await tree.exists('/tenants/alpha/acl-new')).toBe(false);
  });

  it('setACL naming the ensemble admin (super) identity or the super scheme is refused with INVALIDACL', async () => {
    const { client } = await session('alpha');
    await create(client, '/acl-super', CreateMode.PERSISTENT, 'x');
    for (const acl of [
      [{ perms: Perms.ALL, id: { scheme: 'digest', id: adminId } }],
      [{ perms: Perms.ALL, id: { scheme: 'super', id: 'super' } }],
      [...OPEN_ACL, { perms: Perms.ALL, id: { scheme: 'digest', id: adminId } }],
    ]) {
      expect(await err(client, OpCode.setACL, { path: '/acl-super', acl, version: -1 })).toBe(ErrorCode.INVALIDACL);
      expect(await err(client, OpCode.setACL, { path: '/', acl, version: -1 })).toBe(ErrorCode.INVALIDACL);
      expect(await err(client, OpCode.create, { path: '/acl-super2', data: null, acl, flags: 0 })).toBe(ErrorCode.INVALIDACL);
    }
    const serverAcl = await tree.acl('/tenants/alpha/acl-super');
    // The platform admin is added to every ACL a tenant sets (hidden from the tenant's getACL).
    expect(serverAcl).toEqual([
      { perms: Perms.ALL, id: { scheme: 'digest', id: alpha.id } },
      { perms: Perms.ALL, id: { scheme: 'digest', id: adminId } },
    ]);
  });

  it('whoAmI shows no zkproxy-tenant identity, only what the client authenticated itself and its own address', async () => {
    const { client } = await session('alpha');
    if (!serverBehaviour().hasWhoAmI) {
      // A server without whoAmI (3.6) answers UNIMPLEMENTED itself, through the proxy as directly.
      expect(await err(client, OpCode.whoAmI, undefined)).toBe(ErrorCode.UNIMPLEMENTED);
      return;
    }
    const before = await client.call(OpCode.whoAmI);
    expect(before.body!.clientInfo).toEqual([{ authScheme: 'ip', user: '127.0.0.1' }]);
    await client.addAuth('digest', 'eve:eves-password');
    // Naming the tenant user with a guessed password is just another identity, and still hidden as the tenant's.
    await client.addAuth('digest', `${beta.user}:guess`);
    const after = await client.call(OpCode.whoAmI);
    const infos = after.body!.clientInfo as { authScheme: string; user: string }[];
    expect(infos).toContainEqual({ authScheme: 'digest', user: 'eve' });
    expect(infos).toContainEqual({ authScheme: 'ip', user: '127.0.0.1' });
    expect(JSON.stringify(infos)).not.toContain(alpha.user);
    // beta's user name with a wrong password opens nothing of beta's: the digest id differs.
    expect(await err(client, OpCode.getData, { path: '/secret', watch: false })).toBe(ErrorCode.NONODE);
  });

  it('beta, holding the username and password alpha used for a node, is still contained to its own tree', async () => {
    const eve = 'eve:eves-password';
    const owner = await session('alpha');
    await owner.client.addAuth('digest', eve);
    await owner.client.call(OpCode.create, {
      path: '/eve-only',
      data: Buffer.from('alpha-eve'),
      acl: [{ perms: Perms.ALL, id: { scheme: 'auth', id: '' } }],
      flags: 0,
    });
    const { client } = await session('beta');
    await client.addAuth('digest', eve);
    for (const path of ['/eve-only', '/tenants/alpha/eve-only', '/../alpha/eve-only']) {
      const reply = await client.request(OpCode.getData, { path, watch: false });
      expect([ErrorCode.NONODE, ErrorCode.BADARGUMENTS], path).toContain(reply.err);
    }
    // beta's own /eve-only is beta's: same credentials, separate trees.
    await client.call(OpCode.create, {
      path: '/eve-only',
      data: Buffer.from('beta-eve'),
      acl: [{ perms: Perms.ALL, id: { scheme: 'auth', id: '' } }],
      flags: 0,
    });
    await client.call(OpCode.setData, { path: '/eve-only', data: Buffer.from('beta-eve-2'), version: -1 });
    expect(String(await tree.data('/tenants/alpha/eve-only'))).toBe('alpha-eve');
    expect(String(await tree.data('/tenants/beta/eve-only'))).toBe('beta-eve-2');
    expect(await children(client, '/')).toEqual(await tree.children('/tenants/beta'));
    await client.call(OpCode.delete, { path: '/eve-only', version: -1 });
  });

  it('the tenant cannot delete its own root, and setACL on "/" keeps the root bound to the tenant identity', async () => {
    const { client } = await session('alpha');
    const empty = await session('a');
    // Even an empty tenant root cannot go: /tenants is the platform's (admin-only ACL).
    for (const c of [client, empty.client]) expect(await err(c, OpCode.delete, { path: '/', version: -1 })).toBe(ErrorCode.NOAUTH);
    expect(await tree.exists('/tenants/alpha')).toBe(true);
    expect(await tree.exists('/tenants/a')).toBe(true);
    expect(await client.call(OpCode.setACL, { path: '/', acl: OPEN_ACL, version: -1 }).then((reply) => reply.err)).toBe(ErrorCode.OK);
    const serverAcl = (await tree.acl('/tenants/alpha')) as { id: { scheme: string; id: string } }[];
    expect(serverAcl).toContainEqual({ perms: Perms.ALL, id: { scheme: 'digest', id: alpha.id } });
    expect(serverAcl.map((entry) => entry.id.scheme)).not.toContain('world');
    // beta (direct, with its real identity) still cannot read alpha's root.
    const direct = await directSession(1, beta);
    expect(await err(direct.client, OpCode.getData, { path: '/tenants/alpha', watch: false })).toBe(ErrorCode.NOAUTH);
  });
});

describe("/zookeeper is not the ensemble's", () => {
  it('/zookeeper, /zookeeper/config and /zookeeper/quota read as NONODE (getData, exists, getChildren, getACL), and no reply carries the real config', async () => {
    const { client } = await session('alpha');
    const replies: Reply[] = [];
    for (const path of ['/zookeeper', '/zookeeper/config', '/zookeeper/quota', '/zookeeper/quota/tenants']) {
      for (const [opcode, body] of [
        [OpCode.getData, { path, watch: true }],
        [OpCode.exists, { path, watch: true }],
        [OpCode.getChildren, { path, watch: true }],
        [OpCode.getChildren2, { path, watch: false }],
        [OpCode.getACL, { path }],
        [OpCode.setData, { path, data: Buffer.from('x'), version: -1 }],
        [OpCode.delete, { path, version: -1 }],
      ] as const) {
        const reply = await client.request(opcode, body);
        expect(reply.err, `${opcode} ${path}`).toBe(ErrorCode.NONODE);
        replies.push(reply);
      }
    }
    const realConfig = String(await tree.data('/zookeeper/config'));
    expect(realConfig).toContain('server.1=');
    expect(JSON.stringify(replies, (_, value: unknown) => (typeof value === 'bigint' ? String(value) : value))).not.toContain('server.');
    expect(client.closed).toBe(false);
  });

  it('creates under /zookeeper are refused with NOAUTH (create, create2, createContainer, createTTL, sequential, inside multi)', async () => {
    const { client } = await session('alpha');
    for (const path of ['/zookeeper', '/zookeeper/config', '/zookeeper/quota/x', '/zookeeper/evil']) {
      expect(await err(client, OpCode.create, { path, data: null, acl: OPEN_ACL, flags: 0 }), path).toBe(ErrorCode.NOAUTH);
      expect(await err(client, OpCode.create2, { path, data: null, acl: OPEN_ACL, flags: CreateMode.PERSISTENT_SEQUENTIAL }), path).toBe(
        ErrorCode.NOAUTH,
      );
      expect(await err(client, OpCode.createContainer, { path, data: null, acl: OPEN_ACL, flags: CreateMode.CONTAINER }), path).toBe(
        ErrorCode.NOAUTH,
      );
      expect(
        await err(client, OpCode.createTTL, { path, data: null, acl: OPEN_ACL, flags: CreateMode.PERSISTENT_WITH_TTL, ttl: 60_000n }),
        path,
      ).toBe(ErrorCode.NOAUTH);
      expect(await err(client, OpCode.multi, multiBody([[OpCode.create, { path, data: null, acl: OPEN_ACL, flags: 0 }]])), path).toBe(
        ErrorCode.NOAUTH,
      );
    }
    expect(await tree.exists('/tenants/alpha/zookeeper')).toBe(false);
    expect(await tree.children('/zookeeper')).toEqual(['config', 'quota']);
  });
});

describe('refused opcodes', () => {
  it('reconfig gets RECONFIGDISABLED and the real /zookeeper/config is unchanged', async () => {
    const { client } = await session('alpha');
    const before = String(await tree.data('/zookeeper/config'));
    const member1 = before.split('\n').find((line) => line.startsWith('server.1='))!;
    for (const body of [
      { joiningServers: null, leavingServers: '1', newMembers: null, curConfigId: -1n },
      { joiningServers: 'server.9=127.0.0.1:1:2;127.0.0.1:3', leavingServers: null, newMembers: null, curConfigId: -1n },
      { joiningServers: null, leavingServers: null, newMembers: member1, curConfigId: -1n },
    ]) {
      expect(await err(client, OpCode.reconfig, body)).toBe(ErrorCode.RECONFIGDISABLED);
    }
    expect(String(await tree.data('/zookeeper/config'))).toBe(before);
    expect(client.closed).toBe(false);
  });

  it('deleteContainer (server-internal) gets NOAUTH, even on the tenant root and an empty container', async () => {
    const { client } = await session('alpha');
    await client.call(OpCode.createContainer, { path: '/container', data: null, acl: OPEN_ACL, flags: CreateMode.CONTAINER });
    for (const path of ['/', '/container', '/../beta', '/tenants/beta'])
      expect(await err(client, OpCode.deleteContainer, { path }), path).toBe(ErrorCode.NOAUTH);
    expect(await tree.exists('/tenants/alpha/container')).toBe(true);
    expect(await tree.exists('/tenants/alpha')).toBe(true);
    expect(client.closed).toBe(false);
    await expectBetaUntouched();
  });

  it('sasl gets AUTHFAILED and the connection is closed', async () => {
    const { client } = await session('alpha');
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    expect(await err(client, OpCode.sasl, { token: Buffer.from('negotiate me into zkproxy-tenant-beta') })).toBe(ErrorCode.AUTHFAILED);
    await closed;
  });

  for (const [name, opcode] of [
    ['createSession (-10)', OpCode.createSession],
    ['notification (0)', OpCode.notification],
    ['error (-1)', OpCode.error],
  ] as const) {
    it(`opcode ${name} gets UNIMPLEMENTED and the connection is closed`, async () => {
      const { client } = await session('alpha');
      const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
      const frame = encodeRequest({ xid: 77, opcode });
      expect((await client.sendFrame(frame, 77, opcode)).err).toBe(ErrorCode.UNIMPLEMENTED);
      await closed;
    });
  }
});

describe('sessions are bound to their tenant', () => {
  async function expectExpiredThrough(tenant: string, sessionId: bigint, password: Buffer): Promise<void> {
    await expect(JuteClient.connect({ port: proxy!.port(tenant), sessionId, password, sessionTimeoutMs: 15_000 })).rejects.toBeInstanceOf(
      SessionExpiredError,
    );
  }

  it("beta's session id with its sealed password, through alpha's listener, is expired; beta's live connection is untouched", async () => {
    await expectExpiredThrough('alpha', victim.sessionId, victim.password);
    await expectExpiredThrough('a', victim.sessionId, victim.password);
    await expectBetaUntouched();
  });

  it("beta's session id with a zero password, through alpha's listener, is expired", async () => {
    await expectExpiredThrough('alpha', victim.sessionId, Buffer.alloc(16));
    await expectBetaUntouched();
  });

  it("beta's session id with random passwords, through alpha's listener, is expired", async () => {
    for (let i = 0; i < 5; i++) await expectExpiredThrough('alpha', victim.sessionId, randomBytes(16));
    await expectBetaUntouched();
  });

  it("beta's session id with alpha's own sealed password, through alpha's listener, is expired", async () => {
    const mine = await session('alpha');
    await expectExpiredThrough('alpha', victim.sessionId, mine.client.password);
    await expectBetaUntouched();
  });

  it("a wrong-password resume of beta's (sequential, guessable) session id never drops beta's live connection, though ZooKeeper itself would", async () => {
    const port = (tenant: string) => singleMemberProxy!.port(tenant);
    // Session ids are sequential per member: alpha's own id tells it the ids around it.
    const attacker = await JuteClient.connect({ port: port('alpha'), sessionTimeoutMs: 15_000 });
    const target = await JuteClient.connect({ port: port('beta'), sessionTimeoutMs: 15_000 });
    opened.push(attacker, target);
    expect(target.sessionId - attacker.sessionId).toBeGreaterThan(0n);
    expect(target.sessionId - attacker.sessionId).toBeLessThan(16n);
    await create(target, '/churn/dos-eph', CreateMode.EPHEMERAL);
    const guesses = [Buffer.alloc(16), randomBytes(16), ensemblePassword(target.sessionId), attacker.password, victim.password];
    for (const tenant of ['alpha', 'beta']) {
      for (const password of guesses) {
        await expect(JuteClient.connect({ port: port(tenant), sessionId: target.sessionId, password })).rejects.toBeInstanceOf(
          SessionExpiredError,
        );
      }
    }
    await sleep(300);
    expect(target.closed).toBe(false);
    expect(await err(target, OpCode.exists, { path: '/churn/dos-eph', watch: false })).toBe(ErrorCode.OK);

    // Control: ZooKeeper closes the session's connection BEFORE it checks a resume's password.
    // Forwarded by the proxy, every guess above would have disconnected beta.
    const member = ensemble!.member(1);
    await expect(
      JuteClient.connect({ host: member.host, port: member.clientPort, sessionId: target.sessionId, password: Buffer.alloc(16) }),
    ).rejects.toBeInstanceOf(SessionExpiredError);
    const deadline = Date.now() + 5_000;
    while (!target.closed && Date.now() < deadline) await sleep(20);
    expect(target.closed).toBe(true);
    // The session itself survives either way: beta resumes it through its own listener.
    const back = await JuteClient.connect({ port: port('beta'), sessionId: target.sessionId, password: target.password });
    opened.push(back);
    expect(back.sessionId).toBe(target.sessionId);
    expect(await err(back, OpCode.exists, { path: '/churn/dos-eph', watch: false })).toBe(ErrorCode.OK);
    await back.close();
    await attacker.close();
  });

  it("the ENSEMBLE's real password (java.util.Random(sessionId ^ 0xB3415C00), which anyone can compute) opens nothing through the proxy", async () => {
    // The computation is right: it reproduces the password of a session made directly on the ensemble.
    const direct = await directSession(2);
    expect(ensemblePassword(direct.client.sessionId).toString('hex')).toBe(direct.client.password.toString('hex'));

    // A throwaway beta session: its raw ensemble password is predictable from its id alone.
    const target = await session('beta');
    await create(target.client, '/churn/target-eph', CreateMode.EPHEMERAL);
    const raw = ensemblePassword(target.client.sessionId);
    expect(raw.equals(target.client.password)).toBe(false); // the client only ever saw the sealed one
    await expectExpiredThrough('alpha', target.client.sessionId, raw);
    // Not even through beta's own listener: the proxy unseals whatever it gets with beta's key.
    await expectExpiredThrough('beta', target.client.sessionId, raw);
    await expectExpiredThrough('alpha', victim.sessionId, ensemblePassword(victim.sessionId));
    expect(target.client.closed).toBe(false);
    expect(await err(target.client, OpCode.exists, { path: '/churn/target-eph', watch: false })).toBe(ErrorCode.OK);

    // Control, and the reason the ensemble must never be reachable by tenants: directly on the
    // ensemble the computed password DOES take the session over.
    target.client.destroy('handing the session to the attacker');
    const stolen = await JuteClient.connect({
      host: ensemble!.members[0]!.host,
      port: ensemble!.members[0]!.clientPort,
      sessionId: target.client.sessionId,
      password: raw,
    });
    opened.push(stolen);
    expect(stolen.sessionId).toBe(target.client.sessionId);
    await stolen.close();
    await expectBetaUntouched();
  });
});

describe('frames', () => {
  it('a request just under maxFrameBytes that grows past it when the chroot is added is refused, not forwarded', async () => {
    const { client } = await session('alpha', { port: smallFrameProxy!.port('alpha') });
    const chrootGrowth = '/tenants/alpha'.length;
    // exists: header 8 + path (4 + n) + watch 1 bytes of payload.
    const existsPayload = (pathLength: number) => 8 + 4 + pathLength + 1;
    const longPath = (length: number, letter: string) => `/${letter.repeat(length - 1)}`;
    const atLimit = longPath(SMALL_FRAME_LIMIT - 13, 'e');
    expect(existsPayload(atLimit.length)).toBe(SMALL_FRAME_LIMIT);
    let xid = 500;
    const send = (opcode: number, body: Record<string, unknown>) => {
      const frame = encodeRequest({ xid: ++xid, opcode, body: body as never });
      return client.sendFrame(frame, xid, opcode).then((reply) => ({ err: reply.err, payload: frame.length - 4 }));
    };
    // Control: a frame that still fits once rewritten is forwarded (NONODE comes from the ensemble).
    expect(await send(OpCode.exists, { path: longPath(SMALL_FRAME_LIMIT - 13 - chrootGrowth, 'f'), watch: false })).toEqual({
      err: ErrorCode.NONODE,
      payload: SMALL_FRAME_LIMIT - chrootGrowth,
    });
    expect(await send(OpCode.exists, { path: atLimit, watch: false })).toEqual({ err: ErrorCode.BADARGUMENTS, payload: SMALL_FRAME_LIMIT });
    // create: 4096 bytes from the client, 4096 + 14 (+ the ACL identity) after rewriting.
    const createPath = longPath(SMALL_FRAME_LIMIT - 47, 'c');
    expect(await send(OpCode.create, { path: createPath, data: null, acl: OPEN_ACL, flags: 0 })).toEqual({
      err: ErrorCode.BADARGUMENTS,
      payload: SMALL_FRAME_LIMIT,
    });
    // multi: many short paths, each one growing by 14 bytes.
    const ops: SubOp[] = Array.from({ length: 180 }, (_, i) => [OpCode.check, { path: `/m${i}`, version: -1 }]);
    const multi = await send(OpCode.multi, multiBody(ops));
    expect(multi.payload).toBeLessThanOrEqual(SMALL_FRAME_LIMIT);
    expect(multi.payload + ops.length * chrootGrowth).toBeGreaterThan(SMALL_FRAME_LIMIT);
    expect(multi.err).toBe(ErrorCode.BADARGUMENTS);
    // Nothing reached the server, the connection and the proxy are fine.
    expect(await tree.exists(`/tenants/alpha${createPath}`)).toBe(false);
    expect(client.closed).toBe(false);
    expect(await err(client, OpCode.exists, { path: '/', watch: false })).toBe(ErrorCode.OK);
    expect(await (await fetch(`${smallFrameProxy!.adminUrl}/healthz`)).status).toBe(200);
  });

  it('requests pipelined before the session exists are rewritten and run as the tenant identity like any other', async () => {
    const connection = await RawConnection.open(proxy!.port('alpha'));
    // One write: ConnectRequest and three requests, before any answer.
    connection.socket.write(
      Buffer.concat([
        CONNECT_REQUEST,
        encodeRequest({ xid: 1, opcode: OpCode.create, body: { path: '/early', data: Buffer.from('early'), acl: OPEN_ACL, flags: 0 } }),
        encodeRequest({ xid: 2, opcode: OpCode.create, body: { path: '/../beta/early', data: null, acl: OPEN_ACL, flags: 0 } }),
        encodeRequest({ xid: 3, opcode: OpCode.getData, body: { path: '/tenants/beta/secret', watch: false } }),
        encodeRequest({
          xid: 4,
          opcode: OpCode.setACL,
          body: { path: '/early', acl: [{ perms: Perms.ALL, id: { scheme: 'world', id: 'anyone' } }], version: -1 },
        }),
      ]),
    );
    await connection.waitFor('5 frames', () => connection.frames.length >= 5);
    expect(decodeConnectResponse(connection.frames[0]!).timeOut).toBeGreaterThan(0);
    expect(connection.replies()).toEqual([
      [1, ErrorCode.OK],
      [2, ErrorCode.BADARGUMENTS],
      [3, ErrorCode.NONODE],
      [4, ErrorCode.OK],
    ]);
    const alpha = tenantSecrets(Buffer.from(TEST_SECRET), 'alpha').identity;
    expect(await tree.acl('/tenants/alpha/early')).toEqual([
      { perms: Perms.ALL, id: { scheme: 'digest', id: alpha.id } },
      { perms: Perms.ALL, id: { scheme: 'digest', id: digestId('super', 'super-secret') } },
    ]);
    expect(connection.received().toString('latin1')).not.toContain('/tenants');
    connection.socket.destroy();
    await expectBetaUntouched();
  });

  it('a request sent with the notification xid (-1) is refused with a close, so its answer cannot pass for a watch event', async () => {
    // The ensemble answers a request with xid -1 with a reply frame of xid -1, which the proxy can
    // only read as a notification. Crafted data makes that "notification" name beta's secret.
    const { client } = await session('alpha');
    const fake = (path: string) => {
      const data = Buffer.alloc(8 + path.length);
      data.writeInt32BE(EventType.NodeDataChanged, 0);
      data.writeInt32BE(path.length, 4);
      data.write(path, 8);
      return data;
    };
    await client.call(OpCode.create, { path: '/fake-foreign', data: fake('/tenants/beta/secret'), acl: OPEN_ACL, flags: 0 });
    await client.call(OpCode.create, { path: '/fake-own', data: fake('/tenants/alpha/fake-own'), acl: OPEN_ACL, flags: 0 });
    const connection = await RawConnection.open(proxy!.port('alpha'));
    connection.socket.write(CONNECT_REQUEST);
    await connection.waitFor('the ConnectResponse', () => connection.frames.length >= 1);
    connection.socket.write(
      Buffer.concat([
        encodeRequest({ xid: -1, opcode: OpCode.getData, body: { path: '/fake-foreign', watch: false } }),
        encodeRequest({ xid: -1, opcode: OpCode.getData, body: { path: '/fake-own', watch: false } }),
        encodeRequest({ xid: -1, opcode: OpCode.sync, body: { path: '/' } }),
        encodeRequest({ xid: 9, opcode: OpCode.exists, body: { path: '/fake-own', watch: false } }),
      ]),
    );
    await connection.waitFor('the close', () => connection.closed);
    expect(connection.replies().some(([xid]) => xid === 9)).toBe(false);
    const received = connection.received().toString('latin1');
    expect(received).not.toContain('/tenants');
    expect(received).not.toContain(BETA_SECRET);
    connection.socket.destroy();
    await expectBetaUntouched();
  });
});

describe('four-letter words on a tenant listener reveal nothing about the ensemble', () => {
  for (const word of LEAKY_WORDS) {
    it(`${word} is refused with one line and a close, while the ensemble itself would answer it`, async () => {
      const members = ensemble!.members;
      // Control: the ensemble answers this word (it is whitelisted in this fixture).
      const direct = (await Promise.all(members.map((member) => sendFourLetterWord(member.host, member.clientPort, word, 5_000)))).join(
        '\n',
      );
      expect(direct.length, `${word} answered by the ensemble`).toBeGreaterThan(40);
      expect(direct).not.toContain('is not executed because it is not in the whitelist');

      const reply = await sendFourLetterWord('127.0.0.1', proxy!.port('alpha'), word, 5_000);
      expect(reply).toContain(word);
      expect(reply.length).toBeLessThan(120);
      expect(reply.trim().split('\n')).toHaveLength(1);
      const leaks = [
        ...members.flatMap((member) => [member.clientPort, member.quorumPort, member.electionPort].map(String)),
        victim.sessionId.toString(16),
        '127.0.0.1',
        '/tenants',
        'beta',
        'zk_',
        'Zookeeper version',
        'java',
        'clientPort',
        'server.',
        'Mode',
      ];
      for (const leak of leaks) expect(reply, `${word} must not reveal ${leak}`).not.toContain(leak);
    });
  }
});

describe("defence in depth: the ensemble itself refuses beta's identity on alpha's nodes", () => {
  const betaIdentity = () => tenantSecrets(Buffer.from(TEST_SECRET), 'beta').identity;
  let alphaNode: string;

  beforeAll(async () => {
    const { client } = await session('alpha');
    await create(client, '/did', CreateMode.PERSISTENT, 'alpha-private');
    await create(client, '/did/kid', CreateMode.PERSISTENT, 'alpha-private-kid');
    alphaNode = '/tenants/alpha/did';
  });

  it("reading alpha's nodes directly as beta: NOAUTH (exists is not ACL-checked by ZooKeeper: it answers, as expected)", async () => {
    const anonymous = await directSession(0);
    const { client } = await directSession(1, betaIdentity());
    for (const c of [client, anonymous.client]) {
      for (const path of ['/tenants/alpha', alphaNode, `${alphaNode}/kid`]) {
        expect(await err(c, OpCode.getData, { path, watch: false }), path).toBe(ErrorCode.NOAUTH);
        expect(await err(c, OpCode.getChildren, { path, watch: false }), path).toBe(ErrorCode.NOAUTH);
        expect(await err(c, OpCode.getChildren2, { path, watch: false }), path).toBe(ErrorCode.NOAUTH);
        expect(await err(c, OpCode.getACL, { path }), path).toBe(ErrorCode.NOAUTH);
        expect(await err(c, OpCode.getAllChildrenNumber, { path }), path).toBe(ErrorCode.NOAUTH);
      }
      expect(await err(c, OpCode.getChildren, { path: '/tenants', watch: false })).toBe(ErrorCode.NOAUTH);
      const multiRead = await c.call(OpCode.multiRead, multiBody([[OpCode.getData, { path: alphaNode, watch: false }]]));
      expect(subResults(multiRead).map((result) => result.err)).toEqual([ErrorCode.NOAUTH]);
      // ZooKeeper before ZOOKEEPER-2590 does not check ACLs on exists: the stat (not the data) is
      // visible to anyone who can reach the ensemble and knows the path. Expected; the ensemble is
      // not reachable by tenants.
      const existsAnswer = serverBehaviour().existsChecksAcl ? ErrorCode.NOAUTH : ErrorCode.OK;
      expect(await err(c, OpCode.exists, { path: alphaNode, watch: false })).toBe(existsAnswer);
    }
  });

  it("writing alpha's nodes directly as beta: NOAUTH for create, setData, delete and multi", async () => {
    const { client } = await directSession(2, betaIdentity());
    expect(await err(client, OpCode.create, { path: `${alphaNode}/beta-was-here`, data: null, acl: OPEN_ACL, flags: 0 })).toBe(
      ErrorCode.NOAUTH,
    );
    expect(
      await err(client, OpCode.create, { path: '/tenants/alpha/beta-was-here', data: null, acl: OPEN_ACL, flags: CreateMode.EPHEMERAL }),
    ).toBe(ErrorCode.NOAUTH);
    expect(await err(client, OpCode.create, { path: '/tenants/beta-sibling', data: null, acl: OPEN_ACL, flags: 0 })).toBe(ErrorCode.NOAUTH);
    expect(await err(client, OpCode.setData, { path: alphaNode, data: Buffer.from('pwned'), version: -1 })).toBe(ErrorCode.NOAUTH);
    expect(await err(client, OpCode.delete, { path: `${alphaNode}/kid`, version: -1 })).toBe(ErrorCode.NOAUTH);
    expect(await err(client, OpCode.delete, { path: '/tenants/alpha', version: -1 })).toBe(ErrorCode.NOAUTH);
    const multi = await client.call(
      OpCode.multi,
      multiBody([[OpCode.setData, { path: alphaNode, data: Buffer.from('pwned'), version: -1 }]]),
    );
    expect(subResults(multi).map((result) => result.err)).toEqual([ErrorCode.NOAUTH]);
    expect((await tree.data(alphaNode))?.toString()).toBe('alpha-private');
    expect(await tree.children(alphaNode)).toEqual(['kid']);
  });

  it("setting an ACL on alpha's nodes directly as beta: NOAUTH", async () => {
    const { client } = await directSession(0, betaIdentity());
    const grab = [{ perms: Perms.ALL, id: { scheme: 'digest', id: betaIdentity().id } }];
    for (const path of ['/tenants/alpha', alphaNode, '/tenants']) {
      expect(await err(client, OpCode.setACL, { path, acl: grab, version: -1 }), path).toBe(ErrorCode.NOAUTH);
      expect(await err(client, OpCode.setACL, { path, acl: OPEN_ACL, version: -1 }), path).toBe(ErrorCode.NOAUTH);
    }
    const acl = (await tree.acl(alphaNode)) as { id: { id: string } }[];
    expect(acl.map((entry) => entry.id.id)).toEqual([
      tenantSecrets(Buffer.from(TEST_SECRET), 'alpha').identity.id,
      digestId('super', 'super-secret'),
    ]);
  });

  it("watching alpha's nodes directly as beta: NOAUTH for getData/getChildren watches; exists and addWatch are accepted but deliver nothing", async () => {
    const watcher = await directSession(1, betaIdentity());
    const { client } = watcher;
    expect(await err(client, OpCode.getData, { path: alphaNode, watch: true })).toBe(ErrorCode.NOAUTH);
    expect(await err(client, OpCode.getChildren, { path: alphaNode, watch: true })).toBe(ErrorCode.NOAUTH);
    // Not ACL-checked when registered (ZooKeeper), but ACL-checked when delivered: this ensemble is
    // Debian's 3.8.0-11+deb12u2 with the CVE-2024-23944 fix (upstream: 3.8.4 / 3.9.2). An unpatched
    // 3.8.0 would deliver these events (paths only, never data) to a direct client.
    expect(await err(client, OpCode.exists, { path: `${alphaNode}/new`, watch: true })).toBe(ErrorCode.NONODE);
    expect(await err(client, OpCode.exists, { path: alphaNode, watch: true })).toBe(
      serverBehaviour().existsChecksAcl ? ErrorCode.NOAUTH : ErrorCode.OK,
    );
    expect(await err(client, OpCode.addWatch, { path: '/tenants/alpha', mode: 1 })).toBe(ErrorCode.OK);
    expect(await err(client, OpCode.addWatch, { path: '/', mode: 1 })).toBe(ErrorCode.OK);
    const alpha = (await session('alpha')).client;
    await create(alpha, '/did/new', CreateMode.EPHEMERAL, 'x');
    await alpha.call(OpCode.setData, { path: '/did', data: Buffer.from('alpha-private'), version: -1 });
    await sleep(500);
    // Releases without that fix (3.6, 3.7) do deliver them: there only the proxy keeps tenants apart.
    const leaked = serverBehaviour().watchEventsAclChecked
      ? []
      : ['NodeCreated /tenants/alpha/did/new', 'NodeDataChanged /tenants/alpha/did'];
    expect(describeEvents(watcher.events)).toEqual(leaked);
    // Control: the same connection's recursive watch on "/" does deliver what beta may read.
    await create(victim, '/churn/did-control');
    await waitForEvents(watcher, leaked.length + 1);
    expect(describeEvents(watcher.events)).toEqual([...leaked, 'NodeCreated /tenants/beta/churn/did-control'].sort());
  });
});

describe("Curator's EnsembleTracker cannot learn the ensemble", () => {
  /** A TCP relay in front of the proxy that records everything the client receives. */
  async function recordingRelay(targetPort: number): Promise<{ port: number; received: () => Buffer; close: () => Promise<void> }> {
    const toClient: Buffer[] = [];
    const sockets = new Set<Socket>();
    const server: Server = createServer((client) => {
      const upstream = connect({ host: '127.0.0.1', port: targetPort });
      sockets.add(client).add(upstream);
      client.on('data', (chunk: Buffer) => upstream.write(chunk));
      upstream.on('data', (chunk: Buffer) => {
        toClient.push(Buffer.from(chunk));
        client.write(chunk);
      });
      const end = () => {
        client.destroy();
        upstream.destroy();
      };
      for (const socket of [client, upstream]) socket.on('close', end).on('error', end);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
      port: (server.address() as AddressInfo).port,
      received: () => Buffer.concat(toClient),
      close: async () => {
        for (const socket of sockets) socket.destroy();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      },
    };
  }

  interface ClientView {
    connectionString: string;
    configMembers: number;
    configVersion: number;
    zooKeeper: string;
  }
  interface ProbeResult {
    proxied: ClientView;
    direct: ClientView;
    getConfig: string;
    existsConfig: string;
    childrenOfZookeeper: string;
    createUnderZookeeper: string;
    stillConnected: boolean;
  }

  it('after a real reconfig of the ensemble, Curator through the proxy still names only the proxy and never received a member address', async () => {
    const relay = await recordingRelay(proxy!.port('alpha'));
    const members = ensemble!.members;
    const first = members[0]!;
    const probe = startInteractive(
      'java',
      [
        '-Xmx128m',
        '-XX:TieredStopAtLevel=1',
        '-XX:+UseSerialGC',
        '-XX:-UsePerfData',
        '-Dzookeeper.sasl.client=false',
        '-Dorg.slf4j.simpleLogger.defaultLogLevel=error',
        '-Dorg.slf4j.simpleLogger.logFile=System.err',
        '-cp',
        [javaClasses!.classesDir, ...curatorClasspath()].join(':'),
        'EnsembleTrackerProbe',
        `127.0.0.1:${relay.port}`,
        `${first.host}:${first.clientPort}`,
      ],
      { timeoutMs: 50_000 },
    );
    try {
      const ready = JSON.parse((await probe.line('READY ', 40_000)).slice('READY '.length)) as { proxied: ClientView; direct: ClientView };
      // Control: the direct client's tracker read /zookeeper/config and now knows every member.
      for (const member of members) expect(ready.direct.connectionString).toContain(`:${member.clientPort}`);
      expect(ready.direct.configMembers).toBe(3);
      expect(ready.proxied.connectionString).toBe(`127.0.0.1:${relay.port}`);
      expect(ready.proxied.configMembers).toBe(0);

      // A real reconfig, as super, straight on the ensemble: re-adding member 1 bumps the config version.
      const before = String(await tree.data('/zookeeper/config'));
      const line = before.split('\n').find((entry) => entry.startsWith('server.1='))!;
      const reconfig = await tree.client.request(OpCode.reconfig, {
        joiningServers: line,
        leavingServers: null,
        newMembers: null,
        curConfigId: -1n,
      });
      expect(reconfig.err).toBe(ErrorCode.OK);
      const after = String(await tree.data('/zookeeper/config'));
      expect(after).not.toBe(before);
      probe.send('go');

      const result = resultLine<ProbeResult>(expectSuccess('EnsembleTrackerProbe', await probe.done));
      // The direct client's config watch fired: its tracker holds the new version.
      expect(result.direct.configVersion).toBeGreaterThan(ready.direct.configVersion);
      // The proxied client: same connect string, no config, still connected through the relay.
      expect(result.proxied.connectionString).toBe(`127.0.0.1:${relay.port}`);
      expect(result.proxied.configMembers).toBe(0);
      expect(result.proxied.zooKeeper).toContain(`:${relay.port}`);
      expect(result.stillConnected).toBe(true);
      expect(result.getConfig).toBe('NONODE');
      expect(result.existsConfig).toBe('OK:null');
      expect(result.childrenOfZookeeper).toBe('NONODE');
      expect(result.createUnderZookeeper).toBe('NOAUTH');
      for (const member of members) expect(result.proxied.zooKeeper).not.toContain(`:${member.clientPort}`);

      // Byte level: nothing the Java client received names a member or looks like a config.
      const received = relay.received().toString('latin1');
      expect(received.length).toBeGreaterThan(0);
      for (const member of members) {
        for (const port of [member.clientPort, member.quorumPort, member.electionPort])
          expect(received, `port ${port}`).not.toContain(String(port));
      }
      for (const marker of ['server.', 'participant', 'version=', '/tenants']) expect(received).not.toContain(marker);
    } finally {
      probe.kill();
      await relay.close();
    }
  }, 60_000);
});

describe('after every attempt', () => {
  it("beta's nodes, data, ACLs, watches and live session are exactly as before", async () => {
    await expectBetaUntouched();
    // beta's original watches on /secret never fired: nobody changed beta's data.
    expect(describeEvents(victimEvents)).toEqual([]);
    expect(await err(victim, OpCode.checkWatches, { path: '/secret', type: 3 })).toBe(ErrorCode.OK);
    for (const name of (await tree.children('/tenants'))!) expect(TENANTS).toContain(name);
    expect(await tree.foreignRootChildren()).toEqual([]);
  });
});
