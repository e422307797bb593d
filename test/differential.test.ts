/**
 * Differential test (zetcd's "xchk" idea): one seeded random operation sequence runs against the
 * ensemble twice at the same time: (a) directly, with a client-side chroot written here at the
 * object level, and (b) through the proxy. Every reply must match: error codes, data, children,
 * created paths, ACLs, Stat fields (zxid/time fields compared by shape), and the watch events seen
 * so far, in order. The client-side chroot deliberately does not use the codec's mapPaths, so a
 * bug in the proxy's rewriting cannot hide behind the same bug in the oracle.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AddWatchMode, CreateMode, ErrorCode, OpCode, Perms, WatcherType, type RecordValue, type Reply } from 'jute-ts';
import { JuteClient } from 'jute-ts/client';
import zookeeper from 'node-zookeeper-client';
import { LocalEnsemble } from '../src/embedded/ensemble.ts';
import { chrootRequest, prng, replyShape, shape, unchrootReply } from './support/differential.ts';
import { startInProcessProxy, type InProcessProxy } from './support/proxy.ts';
import { serverBehaviour, serverLabel, serverUnderTest } from './support/server-under-test.ts';

const OPS = Number(process.env.XCHK_OPS ?? 2500);
const SEED = Number(process.env.XCHK_SEED ?? Math.floor(Math.random() * 2 ** 31));
const DIRECT_ROOT = '/xchk/direct';

// ---------------------------------------------------------------- the workload

const OPEN = [{ perms: Perms.ALL, id: { scheme: 'world', id: 'anyone' } }];
const READ_ONLY = [{ perms: Perms.READ | Perms.ADMIN, id: { scheme: 'world', id: 'anyone' } }];
const NAMES = ['a', 'b', 'c'];

interface Op {
  opcode: number;
  body?: RecordValue;
}

function workload(random: () => number): () => Op {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const path = (): string => {
    const depth = 1 + Math.floor(random() * 3);
    return `/${Array.from({ length: depth }, () => pick(NAMES)).join('/')}`;
  };
  const anyPath = () => (random() < 0.1 ? '/' : path());
  const data = () => (random() < 0.1 ? null : Buffer.from(`v${Math.floor(random() * 1000)}`));
  const version = () => (random() < 0.6 ? -1 : Math.floor(random() * 3));
  const createBody = (flags: number) => ({
    path: flags === 2 && random() < 0.2 ? '/' : path(),
    data: data(),
    acl: random() < 0.05 ? READ_ONLY : OPEN,
    flags,
  });
  const subOp = (): { header: { type: number; done: boolean; err: number }; body: RecordValue } => {
    const kind = pick([OpCode.create, OpCode.create2, OpCode.delete, OpCode.setData, OpCode.check] as const);
    const header = { type: kind, done: false, err: -1 };
    if (kind === OpCode.create || kind === OpCode.create2) return { header, body: createBody(pick([0, 1, 2, 3])) };
    if (kind === OpCode.delete) return { header, body: { path: path(), version: version() } };
    if (kind === OpCode.setData) return { header, body: { path: path(), data: data(), version: version() } };
    return { header, body: { path: path(), version: version() } };
  };
  const end = { header: { type: -1, done: true, err: -1 }, body: undefined };

  const generators: [number, () => Op][] = [
    [14, () => ({ opcode: OpCode.create, body: createBody(pick([0, 0, 1, 2, 3])) })],
    [6, () => ({ opcode: OpCode.create2, body: createBody(pick([0, 1, 2, 3])) })],
    // Containers and TTL nodes only at leaves that never get children, and with a long TTL, so
    // the server's background reaper cannot make the two trees differ.
    [1, () => ({ opcode: OpCode.createContainer, body: { path: `/k${pick(NAMES)}`, data: null, acl: OPEN, flags: CreateMode.CONTAINER } })],
    [
      1,
      () => ({
        opcode: OpCode.createTTL,
        body: { path: `/t${pick(NAMES)}`, data: data(), acl: OPEN, flags: CreateMode.PERSISTENT_WITH_TTL, ttl: 3_600_000n },
      }),
    ],
    [10, () => ({ opcode: OpCode.delete, body: { path: path(), version: version() } })],
    [8, () => ({ opcode: OpCode.exists, body: { path: anyPath(), watch: random() < 0.5 } })],
    [10, () => ({ opcode: OpCode.getData, body: { path: anyPath(), watch: random() < 0.5 } })],
    [10, () => ({ opcode: OpCode.setData, body: { path: path(), data: data(), version: version() } })],
    [2, () => ({ opcode: OpCode.getACL, body: { path: anyPath() } })],
    [2, () => ({ opcode: OpCode.setACL, body: { path: path(), acl: random() < 0.5 ? OPEN : READ_ONLY, version: version() } })],
    [6, () => ({ opcode: OpCode.getChildren, body: { path: anyPath(), watch: random() < 0.5 } })],
    [4, () => ({ opcode: OpCode.getChildren2, body: { path: anyPath(), watch: random() < 0.5 } })],
    [2, () => ({ opcode: OpCode.sync, body: { path: anyPath() } })],
    [
      6,
      () => ({ opcode: OpCode.multi, body: { ops: { entries: [...Array.from({ length: 1 + Math.floor(random() * 3) }, subOp), end] } } }),
    ],
    [
      3,
      () => ({
        opcode: OpCode.multiRead,
        body: {
          ops: {
            entries: [
              ...Array.from({ length: 1 + Math.floor(random() * 3) }, () => ({
                header: { type: pick([4, 8]), done: false, err: -1 },
                body: { path: anyPath(), watch: false },
              })),
              end,
            ],
          },
        },
      }),
    ],
    [
      2,
      () => ({
        opcode: OpCode.checkWatches,
        body: { path: anyPath(), type: pick([WatcherType.Children, WatcherType.Data, WatcherType.Any]) },
      }),
    ],
    [
      2,
      () => ({
        opcode: OpCode.removeWatches,
        body: { path: anyPath(), type: pick([WatcherType.Children, WatcherType.Data, WatcherType.Any]) },
      }),
    ],
    [2, () => ({ opcode: OpCode.getEphemerals, body: { prefixPath: pick(['/', '/a', '/b/', '/c']) } })],
    [2, () => ({ opcode: OpCode.getAllChildrenNumber, body: { path: anyPath() } })],
    [
      3,
      () => ({
        opcode: OpCode.addWatch,
        body: { path: anyPath(), mode: pick([AddWatchMode.PERSISTENT, AddWatchMode.PERSISTENT_RECURSIVE]) },
      }),
    ],
    // Servers before 3.7 have no whoAmI and close the connection on an unknown opcode.
    ...(serverBehaviour().hasWhoAmI ? [[1, () => ({ opcode: OpCode.whoAmI })] as [number, () => Op]] : []),
  ];
  const total = generators.reduce((sum, [weight]) => sum + weight, 0);
  return () => {
    let roll = random() * total;
    for (const [weight, generate] of generators) {
      roll -= weight;
      if (roll < 0) return generate();
    }
    return generators[0]![1]();
  };
}

// ---------------------------------------------------------------- the run

let ensemble: LocalEnsemble;
let proxy: InProcessProxy;

let leaderPort: number;

beforeAll(async () => {
  ensemble = await LocalEnsemble.start({ size: 3, ...serverUnderTest() });
  // Both sides talk to the leader. On a follower, ZooKeeper 3.8 answers a setACL before the leader
  // has applied it, and the leader's pending change record still holds the OLD ACL, so a create
  // sent right after can pass an ACL check it should fail: which side hits that race depends on
  // timing and member, not on the proxy.
  const leader = await ensemble.leader();
  leaderPort = ensemble.member(leader).clientPort;
  proxy = await startInProcessProxy(ensemble.connectString([leader]), [{ name: 'xchk' }, { name: 'nzk' }]);
}, 120_000);

afterAll(async () => {
  await proxy?.close();
  await ensemble?.close();
});

interface Side {
  client: JuteClient;
  events: string[];
  send(op: Op): Promise<Reply>;
}

async function directSide(port: number): Promise<Side> {
  const setup = await JuteClient.connect({ port });
  for (const p of ['/xchk', DIRECT_ROOT]) await setup.request(OpCode.create, { path: p, data: null, acl: OPEN, flags: 0 });
  await setup.close();
  const client = await JuteClient.connect({ port, sessionTimeoutMs: 30_000 });
  const events: string[] = [];
  client.on('notification', (event) => {
    const mapped = unchrootReply(DIRECT_ROOT, OpCode.notification, { xid: -1, zxid: -1n, err: 0, body: event as unknown as RecordValue });
    events.push(`${event.type}:${String(mapped.body!.path)}`);
  });
  return {
    client,
    events,
    send: async (op) =>
      unchrootReply(DIRECT_ROOT, op.opcode, await client.request(op.opcode, chrootRequest(DIRECT_ROOT, op.opcode, op.body))),
  };
}

async function proxiedSide(port: number): Promise<Side> {
  const client = await JuteClient.connect({ port, sessionTimeoutMs: 30_000 });
  const events: string[] = [];
  client.on('notification', (event) => events.push(`${event.type}:${String(event.path)}`));
  return { client, events, send: (op) => client.request(op.opcode, op.body) };
}

describe(`differential on ${serverLabel()}: direct with client-side chroot vs through the proxy (seed ${SEED})`, () => {
  it(`${OPS} random operations give the same answers and the same watch events`, async () => {
    const direct = await directSide(leaderPort);
    const proxied = await proxiedSide(proxy.port('xchk'));
    const next = workload(prng(SEED));
    const seenOpcodes = new Set<number>();
    const seenErrors = new Set<number>();
    let i = 0;
    try {
      for (; i < OPS; i++) {
        const op = next();
        const [a, b] = await Promise.all([direct.send(op), proxied.send(op)]);
        seenOpcodes.add(op.opcode);
        seenErrors.add(a.err);
        const context = `op #${i} (seed ${SEED}): ${JSON.stringify(shape(op))}`;
        expect(replyShape(b), context).toEqual(replyShape(a));
        // Every event an op triggers on its own session arrives before that op's reply.
        expect(proxied.events, context).toEqual(direct.events);
      }
      // The reconnect path: each side re-arms its watches with setWatches/setWatches2 from its own zxid.
      const watched = ['/a', '/b', '/a/b', '/'];
      const setWatches2 = {
        opcode: OpCode.setWatches2,
        body: {
          dataWatches: watched,
          existWatches: ['/zz'],
          childWatches: watched,
          persistentWatches: ['/c'],
          persistentRecursiveWatches: ['/a'],
        },
      };
      const [a, b] = await Promise.all([
        direct.send({ opcode: setWatches2.opcode, body: { relativeZxid: direct.client.lastZxid, ...setWatches2.body } }),
        proxied.send({ opcode: setWatches2.opcode, body: { relativeZxid: proxied.client.lastZxid, ...setWatches2.body } }),
      ]);
      expect(replyShape(b)).toEqual(replyShape(a));
      const changes: Op[] = [
        { opcode: OpCode.create, body: { path: '/zz', data: null, acl: OPEN, flags: 0 } },
        { opcode: OpCode.create, body: { path: '/a', data: null, acl: OPEN, flags: 0 } },
        { opcode: OpCode.setData, body: { path: '/a', data: Buffer.from('x'), version: -1 } },
        { opcode: OpCode.create, body: { path: '/a/b', data: null, acl: OPEN, flags: 1 } },
      ];
      for (const change of changes) {
        const [x, y] = await Promise.all([direct.send(change), proxied.send(change)]);
        expect(replyShape(y)).toEqual(replyShape(x));
        expect(proxied.events).toEqual(direct.events);
      }
    } finally {
      console.log(
        `differential: ${i} ops compared (seed ${SEED}), ${seenOpcodes.size} opcodes, error codes seen: ${[...seenErrors].sort((x, y) => x - y).join(' ')}, ${direct.events.length} watch events`,
      );
      await Promise.all([direct.client.close(), proxied.client.close()]);
    }
    expect(seenOpcodes.size).toBeGreaterThanOrEqual(20);
    expect(seenErrors.has(ErrorCode.NODEEXISTS) && seenErrors.has(ErrorCode.NONODE) && seenErrors.has(ErrorCode.BADVERSION)).toBe(true);
    expect(direct.events.length).toBeGreaterThan(50);
  });
});

// ---------------------------------------------------------------- a second opinion: node-zookeeper-client

/** One node-zookeeper-client session; every call resolves to a comparable outcome, never rejects. */
async function nzkSide(connectString: string) {
  const client = zookeeper.createClient(connectString, { sessionTimeout: 20_000, spinDelay: 100, retries: 0 });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no session via ${connectString}`)), 15_000);
    client.once('connected', () => {
      clearTimeout(timer);
      resolve();
    });
    client.connect();
  });
  const events: string[] = [];
  const watcher = (event: zookeeper.Event) => events.push(`${event.getName()}:${event.getPath()}`);
  // The library's Stat holds 8-byte Buffers; only its presence is comparable across the two trees.
  const comparable = (value: unknown): unknown =>
    Buffer.isBuffer(value)
      ? value.toString('hex')
      : Array.isArray(value)
        ? value.map(comparable)
        : value !== null && typeof value === 'object'
          ? 'czxid' in value
            ? '(stat)'
            : Object.fromEntries(Object.entries(value).map(([k, v]) => [k, comparable(v)]))
          : value;
  const outcome =
    (resolve: (value: unknown) => void) =>
    (error: zookeeper.Exception | Error | null, ...results: unknown[]) =>
      resolve(error ? `error:${'code' in error ? String(error.code) : error.message}` : comparable(results));
  const call = (fn: (done: ReturnType<typeof outcome>) => void) => new Promise<unknown>((resolve) => fn(outcome(resolve)));
  return { client, events, call, watcher };
}

describe(`differential on ${serverLabel()}, second opinion: node-zookeeper-client with a chroot connect string vs through the proxy`, () => {
  it('300 random calls of the library give the same outcomes and watch events', async () => {
    const setup = await JuteClient.connect({ port: leaderPort });
    await setup.request(OpCode.create, { path: '/nzk-direct', data: null, acl: OPEN, flags: 0 });
    await setup.close();
    const direct = await nzkSide(`127.0.0.1:${leaderPort}/nzk-direct`);
    const proxied = await nzkSide(proxy.address('nzk'));
    const random = prng(SEED ^ 0x5eed);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
    const path = () => `/${Array.from({ length: 1 + Math.floor(random() * 2) }, () => pick(NAMES)).join('/')}`;
    const mode = () =>
      pick([
        zookeeper.CreateMode.PERSISTENT,
        zookeeper.CreateMode.EPHEMERAL,
        zookeeper.CreateMode.PERSISTENT_SEQUENTIAL,
        zookeeper.CreateMode.EPHEMERAL_SEQUENTIAL,
      ]);
    type Call = (side: Awaited<ReturnType<typeof nzkSide>>) => Promise<unknown>;
    try {
      for (let i = 0; i < 300; i++) {
        const p = path();
        const m = mode();
        const data = Buffer.from(`d${i}`);
        const calls: Call[] = [
          (s) => s.call((done) => s.client.create(p, data, zookeeper.ACL.OPEN_ACL_UNSAFE, m, done)),
          (s) => s.call((done) => s.client.mkdirp(p, done)),
          (s) => s.call((done) => s.client.remove(p, -1, done)),
          (s) => s.call((done) => s.client.exists(p, s.watcher, done)),
          (s) => s.call((done) => s.client.getData(p, s.watcher, done)),
          (s) => s.call((done) => s.client.setData(p, data, -1, done)),
          // Not "/": node-zookeeper-client's own chroot turns "/" into "<chroot>/" (NONODE), a
          // library bug; the Java client and the proxy map it to the chroot itself.
          (s) => s.call((done) => s.client.getChildren(p, s.watcher, done)),
          (s) => s.call((done) => s.client.getACL(p, done)),
          (s) =>
            s.call((done) =>
              s.client
                .transaction()
                .create(`${p}-tx`, data, zookeeper.ACL.OPEN_ACL_UNSAFE, zookeeper.CreateMode.PERSISTENT)
                .setData(p, data, -1)
                .remove(`${p}-tx`, -1)
                .commit(done),
            ),
        ];
        const choice = Math.floor(random() * calls.length);
        const [a, b] = await Promise.all([calls[choice]!(direct), calls[choice]!(proxied)]);
        expect(b, `call #${i} kind ${choice} on ${p}`).toEqual(a);
        expect(proxied.events, `events after call #${i}`).toEqual(direct.events);
      }
      expect(direct.events.length).toBeGreaterThan(10);
    } finally {
      direct.client.close();
      proxied.client.close();
    }
  });
});
