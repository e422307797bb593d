/**
 * ZooKeeper's ACL semantics inside a tenant, and the ensemble's boundary between tenants, with
 * real ZooKeeper servers: each behaviour is checked through the proxy and, where ZooKeeper itself
 * is the reference, against the same calls made directly on the ensemble under a client-side
 * chroot. The random cross-check is test/acl-differential.test.ts; the mapping is described in
 * src/tenancy/acl-policy.ts and "ACLs inside a tenant" in docs/security.md.
 */
import { CreateMode, ErrorCode, OpCode, Perms, type RecordValue, type Reply } from 'jute-ts';
import { JuteClient } from 'jute-ts/client';
import { describe, expect, it } from 'vitest';
import { digestId, tenantSecrets } from '../src/tenancy/credentials.ts';
import { chrootRequest, replyShape, unchrootReply } from './support/differential.ts';
import { startInProcessProxy, TEST_SECRET } from './support/proxy.ts';
import { useProxiedEnsemble } from './support/proxied-ensemble.ts';

const world = (perms: number) => ({ perms, id: { scheme: 'world', id: 'anyone' } });
const OPEN = [world(Perms.ALL)];
const CREATOR_ALL = [{ perms: Perms.ALL, id: { scheme: 'auth', id: '' } }];
const BOB = { user: 'bob', password: 'bobs-password' };
const bobId = digestId(BOB.user, BOB.password);
const adminId = digestId('super', 'super-secret');
const alpha = tenantSecrets(Buffer.from(TEST_SECRET), 'alpha').identity;
const beta = tenantSecrets(Buffer.from(TEST_SECRET), 'beta').identity;

const env = useProxiedEnsemble([{ name: 'alpha' }, { name: 'beta' }]);
let directRootCount = 0;

async function connect(port: number, ...identities: { user: string; password: string }[]): Promise<JuteClient> {
  const client = await JuteClient.connect({ port, sessionTimeoutMs: 15_000 });
  env.opened.push(client);
  for (const { user, password } of identities) expect((await client.addAuth('digest', `${user}:${password}`)).err).toBe(ErrorCode.OK);
  return client;
}

const through = (tenant: string, ...identities: { user: string; password: string }[]) => connect(env.proxy.port(tenant), ...identities);

/** Sessions that talk to the ensemble directly under a fresh client-side chroot: ZooKeeper's own answers. */
async function directChroot(): Promise<
  (...identities: { user: string; password: string }[]) => Promise<(opcode: number, body?: RecordValue) => Promise<Reply>>
> {
  const root = `/direct-${++directRootCount}`;
  await env.tree.client.call(OpCode.create, { path: root, data: null, acl: OPEN, flags: 0 });
  return async (...identities) => {
    const client = await connect(env.ensemble.member(1).clientPort, ...identities);
    return async (opcode, body) => unchrootReply(root, opcode, await client.request(opcode, chrootRequest(root, opcode, body)));
  };
}

const proxied = async (tenant: string, ...identities: { user: string; password: string }[]) => {
  const client = await through(tenant, ...identities);
  return (opcode: number, body?: RecordValue) => client.request(opcode, body);
};

function multi(...ops: [number, RecordValue][]): RecordValue {
  return {
    ops: {
      entries: [
        ...ops.map(([type, body]) => ({ header: { type, done: false, err: -1 }, body })),
        { header: { type: -1, done: true, err: -1 }, body: undefined },
      ],
    },
  };
}

describe('ACLs ZooKeeper refuses are refused alike', () => {
  it('an empty ACL list gets INVALIDACL from setACL, create, create2, createTTL, createContainer and a create inside multi, exactly as ZooKeeper answers', async () => {
    const directly = await (await directChroot())();
    const proxiedCall = await proxied('alpha');
    const calls: [number, RecordValue][] = [
      [OpCode.create, { path: '/empty-target', data: null, acl: OPEN, flags: 0 }],
      [OpCode.setACL, { path: '/empty-target', acl: [], version: -1 }],
      [OpCode.create, { path: '/empty', data: null, acl: [], flags: 0 }],
      [OpCode.create2, { path: '/empty', data: null, acl: [], flags: 0 }],
      [OpCode.createTTL, { path: '/empty', data: null, acl: [], flags: CreateMode.PERSISTENT_WITH_TTL, ttl: 60_000n }],
      [OpCode.createContainer, { path: '/empty', data: null, acl: [], flags: CreateMode.CONTAINER }],
      [
        OpCode.multi,
        multi(
          [OpCode.setData, { path: '/empty-target', data: Buffer.from('x'), version: -1 }],
          [OpCode.create, { path: '/empty', data: null, acl: [], flags: 0 }],
        ),
      ],
      [OpCode.getACL, { path: '/empty-target' }],
      [OpCode.exists, { path: '/empty', watch: false }],
    ];
    const answers: number[] = [];
    for (const [opcode, body] of calls) {
      const [expected, actual] = await Promise.all([directly(opcode, body), proxiedCall(opcode, body)]);
      expect(replyShape(actual), `${opcode} ${JSON.stringify(body.path ?? '')}`).toEqual(replyShape(expected));
      answers.push(actual.err);
    }
    expect(answers.slice(1, 6)).toEqual(Array(5).fill(ErrorCode.INVALIDACL));
    // The multi is answered per operation by the ensemble (its failing create carries INVALIDACL), and changed nothing.
    expect(await env.tree.data('/tenants/alpha/empty-target')).toBeNull();
    expect(await env.tree.exists('/tenants/alpha/empty')).toBe(false);
  });

  it('auth: from a session that authenticated with nothing gets INVALIDACL, as ZooKeeper answers, though the backend session carries the tenant identity', async () => {
    const directly = await (await directChroot())();
    const proxiedCall = await proxied('alpha');
    for (const [opcode, body] of [
      [OpCode.create, { path: '/creator-unauthenticated', data: null, acl: CREATOR_ALL, flags: 0 }],
      [OpCode.setACL, { path: '/', acl: CREATOR_ALL, version: -1 }],
    ] as [number, RecordValue][]) {
      const [expected, actual] = await Promise.all([directly(opcode, body), proxiedCall(opcode, body)]);
      expect(actual.err).toBe(ErrorCode.INVALIDACL);
      expect(replyShape(actual)).toEqual(replyShape(expected));
    }
  });

  it("ip entries are refused with INVALIDACL: behind the proxy the ensemble would see the proxy's address, not the client's", async () => {
    const client = await through('alpha');
    const ip = [{ perms: Perms.ALL, id: { scheme: 'ip', id: '127.0.0.1' } }];
    expect((await client.request(OpCode.create, { path: '/ip', data: null, acl: ip, flags: 0 })).err).toBe(ErrorCode.INVALIDACL);
    expect((await client.request(OpCode.create, { path: '/ip', data: null, acl: [...OPEN, ...ip], flags: 0 })).err).toBe(
      ErrorCode.INVALIDACL,
    );
    expect(await env.tree.exists('/tenants/alpha/ip')).toBe(false);
  });
});

describe('identities inside a tenant mean exactly those identities', () => {
  it("a node created with CREATOR_ALL_ACL by a digest session refuses the tenant's sessions without those credentials (NOAUTH for every permission), as ZooKeeper does", async () => {
    const direct = await directChroot();
    const [directOwner, directOther, directAgain] = await Promise.all([direct(BOB), direct(), direct(BOB)]);
    const [owner, other, again] = await Promise.all([proxied('alpha', BOB), proxied('alpha'), proxied('alpha', BOB)]);
    const setup: [number, RecordValue][] = [
      [OpCode.create, { path: '/creator', data: Buffer.from('mine'), acl: CREATOR_ALL, flags: 0 }],
      [OpCode.create, { path: '/creator/child', data: null, acl: CREATOR_ALL, flags: 0 }],
    ];
    for (const [opcode, body] of setup) expect(replyShape(await owner(opcode, body))).toEqual(replyShape(await directOwner(opcode, body)));
    const attempts: [number, RecordValue][] = [
      [OpCode.create, { path: '/creator/intruder', data: null, acl: OPEN, flags: 0 }], // CREATE
      [OpCode.getData, { path: '/creator', watch: false }], // READ
      [OpCode.getChildren, { path: '/creator', watch: false }], // READ
      [OpCode.setData, { path: '/creator', data: Buffer.from('theirs'), version: -1 }], // WRITE
      [OpCode.delete, { path: '/creator/child', version: -1 }], // DELETE (on the parent)
      [OpCode.setACL, { path: '/creator', acl: OPEN, version: -1 }], // ADMIN
      [OpCode.getACL, { path: '/creator' }], // READ or ADMIN
      [OpCode.multi, multi([OpCode.create, { path: '/creator/intruder', data: null, acl: OPEN, flags: 0 }])],
      [OpCode.exists, { path: '/creator', watch: false }], // not ACL-checked by ZooKeeper
    ];
    const errs: number[] = [];
    for (const [opcode, body] of attempts) {
      const [expected, actual] = await Promise.all([directOther(opcode, body), other(opcode, body)]);
      expect(replyShape(actual), `${opcode} ${String(body.path ?? '')}`).toEqual(replyShape(expected));
      errs.push(actual.err);
    }
    expect(errs.slice(0, 7)).toEqual(Array(7).fill(ErrorCode.NOAUTH));
    expect(errs[8]).toBe(ErrorCode.OK);
    // Another session with the same credentials has every right; getACL shows what the client set.
    for (const [opcode, body] of [
      [OpCode.getData, { path: '/creator', watch: false }],
      [OpCode.getACL, { path: '/creator' }],
      [OpCode.create, { path: '/creator/friend', data: null, acl: OPEN, flags: 0 }],
    ] as [number, RecordValue][]) {
      const [expected, actual] = await Promise.all([directAgain(opcode, body), again(opcode, body)]);
      expect(actual.err).toBe(ErrorCode.OK);
      expect(replyShape(actual)).toEqual(replyShape(expected));
    }
    expect((await again(OpCode.getACL, { path: '/creator' })).body!.acl).toEqual([
      { perms: Perms.ALL, id: { scheme: 'digest', id: bobId } },
    ]);
    // On the ensemble: bob and the platform admin, not the tenant identity (which every session of the tenant carries).
    expect(await env.tree.acl('/tenants/alpha/creator')).toEqual([
      { perms: Perms.ALL, id: { scheme: 'digest', id: bobId } },
      { perms: Perms.ALL, id: { scheme: 'digest', id: adminId } },
    ]);
  });

  it('each permission an ACL withholds from the world (READ, WRITE, CREATE, DELETE, ADMIN) gets NOAUTH for exactly the calls that need it, as ZooKeeper answers', async () => {
    const direct = await directChroot();
    const [directOwner, directOther] = await Promise.all([direct(BOB), direct()]);
    const [owner, other] = await Promise.all([proxied('alpha', BOB), proxied('alpha')]);
    const bob = { perms: Perms.ALL, id: { scheme: 'digest', id: bobId } };
    const checks: [number, (node: string) => RecordValue][] = [
      [OpCode.getData, (node) => ({ path: node, watch: false })],
      [OpCode.getChildren2, (node) => ({ path: node, watch: false })],
      [OpCode.setData, (node) => ({ path: node, data: Buffer.from('w'), version: -1 })],
      [OpCode.create, (node) => ({ path: `${node}/new`, data: null, acl: OPEN, flags: 0 })],
      [OpCode.delete, (node) => ({ path: `${node}/old`, version: -1 })],
      [OpCode.setACL, (node) => ({ path: node, acl: [world(Perms.ALL), bob], version: -1 })],
      [OpCode.getACL, (node) => ({ path: node })],
    ];
    const refusedByPermission: Record<string, number[]> = {};
    for (const [name, withheld] of Object.entries({
      READ: Perms.READ,
      WRITE: Perms.WRITE,
      CREATE: Perms.CREATE,
      DELETE: Perms.DELETE,
      ADMIN: Perms.ADMIN,
    })) {
      const node = `/withheld-${name}`;
      for (const [opcode, body] of [
        [OpCode.create, { path: node, data: null, acl: [world(Perms.ALL & ~withheld), bob], flags: 0 }],
        [OpCode.create, { path: `${node}/old`, data: null, acl: OPEN, flags: 0 }],
      ] as [number, RecordValue][]) {
        expect(replyShape(await owner(opcode, body))).toEqual(replyShape(await directOwner(opcode, body)));
      }
      refusedByPermission[name] = [];
      for (const [opcode, body] of checks) {
        const [expected, actual] = await Promise.all([directOther(opcode, body(node)), other(opcode, body(node))]);
        expect(replyShape(actual), `${name} withheld: ${opcode}`).toEqual(replyShape(expected));
        if (actual.err === ErrorCode.NOAUTH) refusedByPermission[name]!.push(opcode);
      }
    }
    expect(refusedByPermission).toEqual({
      READ: [OpCode.getData, OpCode.getChildren2],
      WRITE: [OpCode.setData],
      CREATE: [OpCode.create],
      DELETE: [OpCode.delete],
      // getACL needs READ or ADMIN; without ADMIN it masks digest hashes (compared above).
      ADMIN: [OpCode.setACL],
    });
  });

  it('addAuth is forwarded and counted per tenant (zkproxy_client_auth_total)', async () => {
    const count = async (tenant: string) =>
      (await env.proxy.server.metrics.clientAuth.get()).values.find(
        (value) => value.labels.tenant === tenant && value.labels.scheme === 'digest',
      )?.value ?? 0;
    const [alphaBefore, betaBefore] = [await count('alpha'), await count('beta')];
    const client = await through('alpha', BOB, { user: 'carol', password: 'c' });
    expect(await count('alpha')).toBe(alphaBefore + 2);
    expect(await count('beta')).toBe(betaBefore);
    const infos = (await client.call(OpCode.whoAmI)).body!.clientInfo as { authScheme: string; user: string }[];
    expect(
      infos
        .filter((info) => info.authScheme === 'digest')
        .map((info) => info.user)
        .sort(),
    ).toEqual(['bob', 'carol']);
  });
});

describe('between tenants the ensemble still separates', () => {
  it("beta, directly on the ensemble with its real identity, gets NOAUTH on alpha's world-open, creator and digest-only nodes; world-open inside alpha is not world-open on the ensemble", async () => {
    const owner = await through('alpha', BOB);
    await owner.call(OpCode.create, { path: '/sep-open', data: Buffer.from('o'), acl: OPEN, flags: 0 });
    await owner.call(OpCode.create, { path: '/sep-creator', data: Buffer.from('c'), acl: CREATOR_ALL, flags: 0 });
    await owner.call(OpCode.create, {
      path: '/sep-bob-read',
      data: Buffer.from('r'),
      acl: [{ perms: Perms.READ, id: { scheme: 'digest', id: bobId } }],
      flags: 0,
    });
    const asBeta = await connect(env.ensemble.member(1).clientPort, beta);
    const anonymous = await connect(env.ensemble.member(1).clientPort);
    for (const node of ['/sep-open', '/sep-creator', '/sep-bob-read']) {
      const path = `/tenants/alpha${node}`;
      for (const client of [asBeta, anonymous]) {
        expect((await client.request(OpCode.getData, { path, watch: false })).err, `getData ${path}`).toBe(ErrorCode.NOAUTH);
        expect((await client.request(OpCode.setData, { path, data: Buffer.from('x'), version: -1 })).err).toBe(ErrorCode.NOAUTH);
        expect((await client.request(OpCode.create, { path: `${path}/x`, data: null, acl: OPEN, flags: 0 })).err).toBe(ErrorCode.NOAUTH);
        expect((await client.request(OpCode.setACL, { path, acl: OPEN, version: -1 })).err).toBe(ErrorCode.NOAUTH);
      }
    }
    const stored = await env.tree.acl('/tenants/alpha/sep-open');
    expect(stored).toEqual([
      { perms: Perms.ALL, id: { scheme: 'digest', id: alpha.id } },
      { perms: Perms.ALL, id: { scheme: 'digest', id: adminId } },
    ]);
  });
});

describe('upgrade: nodes written under the previous mapping', () => {
  /**
   * Before this mapping, every ACL got the tenant identity through `auth:` expansion (ZooKeeper
   * expanded it to all of the backend session's identities), and the admin was appended. These
   * are the ACLs the previous proxy stored, written here as it wrote them.
   */
  const previous = {
    open: [
      { perms: Perms.ALL, id: { scheme: 'digest', id: alpha.id } },
      { perms: Perms.ALL, id: { scheme: 'digest', id: adminId } },
    ],
    readOnly: [
      { perms: Perms.READ, id: { scheme: 'digest', id: alpha.id } },
      { perms: Perms.ALL, id: { scheme: 'digest', id: adminId } },
    ],
    creatorByBob: [
      { perms: Perms.ALL, id: { scheme: 'digest', id: alpha.id } },
      { perms: Perms.ALL, id: { scheme: 'digest', id: bobId } },
      { perms: Perms.ALL, id: { scheme: 'digest', id: adminId } },
    ],
  };

  it('read through the new proxy, they show what the previous proxy showed and keep every access the tenant had; a setACL stores the new mapping', async () => {
    await through('alpha'); // the tenant root exists
    for (const [name, acl] of Object.entries(previous)) {
      await env.tree.client.call(OpCode.create, { path: `/tenants/alpha/legacy-${name}`, data: Buffer.from(name), acl, flags: 0 });
    }
    const plain = await through('alpha');
    const withBob = await through('alpha', BOB);
    expect((await plain.call(OpCode.getACL, { path: '/legacy-open' })).body!.acl).toEqual(OPEN);
    expect((await plain.call(OpCode.getACL, { path: '/legacy-readOnly' })).body!.acl).toEqual([world(Perms.READ)]);
    expect((await withBob.call(OpCode.getACL, { path: '/legacy-creatorByBob' })).body!.acl).toEqual([
      world(Perms.ALL),
      { perms: Perms.ALL, id: { scheme: 'digest', id: bobId } },
    ]);
    // The same access as before the upgrade: the tenant identity's entries still count for every session of the tenant.
    for (const client of [plain, withBob]) {
      expect((await client.call(OpCode.getData, { path: '/legacy-creatorByBob', watch: false })).body!.data).toEqual(
        Buffer.from('creatorByBob'),
      );
      expect((await client.request(OpCode.setData, { path: '/legacy-open', data: Buffer.from('new'), version: -1 })).err).toBe(
        ErrorCode.OK,
      );
      expect((await client.request(OpCode.setData, { path: '/legacy-readOnly', data: Buffer.from('new'), version: -1 })).err).toBe(
        ErrorCode.NOAUTH,
      );
    }
    // Re-setting the ACL through the new proxy stores the new mapping: the node is bob's alone.
    await withBob.call(OpCode.setACL, { path: '/legacy-creatorByBob', acl: CREATOR_ALL, version: -1 });
    expect((await plain.request(OpCode.getData, { path: '/legacy-creatorByBob', watch: false })).err).toBe(ErrorCode.NOAUTH);
    expect(await env.tree.acl('/tenants/alpha/legacy-creatorByBob')).toEqual([
      { perms: Perms.ALL, id: { scheme: 'digest', id: bobId } },
      { perms: Perms.ALL, id: { scheme: 'digest', id: adminId } },
    ]);
  });
});

describe('the tenant root', () => {
  it('an ACL the tenant set on its root is kept by the next proxy that serves the tenant; a hand-made world-open root is corrected', async () => {
    const first = await startInProcessProxy(env.ensemble.connectString(), [{ name: 'rooted' }, { name: 'handmade' }]);
    try {
      const owner = await connect(first.port('rooted'), BOB);
      const chosen = [{ perms: Perms.ALL, id: { scheme: 'digest', id: bobId } }, world(Perms.READ)];
      await owner.call(OpCode.setACL, { path: '/', acl: chosen, version: -1 });
      await connect(first.port('handmade'));
      await env.tree.client.call(OpCode.setACL, { path: '/tenants/handmade', acl: OPEN, version: -1 });
    } finally {
      await first.close();
    }
    const second = await startInProcessProxy(env.ensemble.connectString(), [{ name: 'rooted' }, { name: 'handmade' }]);
    try {
      const plain = await connect(second.port('rooted'));
      expect((await plain.call(OpCode.getACL, { path: '/' })).body!.acl).toEqual([
        { perms: Perms.ALL, id: { scheme: 'digest', id: 'bob:x' } },
        world(Perms.READ),
      ]);
      expect((await plain.request(OpCode.create, { path: '/not-bob', data: null, acl: OPEN, flags: 0 })).err).toBe(ErrorCode.NOAUTH);
      const handmade = tenantSecrets(Buffer.from(TEST_SECRET), 'handmade').identity;
      await connect(second.port('handmade'));
      expect(await env.tree.acl('/tenants/handmade')).toEqual([
        { perms: Perms.ALL, id: { scheme: 'digest', id: handmade.id } },
        { perms: Perms.ALL, id: { scheme: 'digest', id: adminId } },
      ]);
    } finally {
      await second.close();
    }
  });
});
