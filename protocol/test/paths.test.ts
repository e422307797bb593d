import { describe, expect, it } from 'vitest';
import {
  CreateMode,
  decodeReply,
  decodeRequest,
  DROP,
  encodeReply,
  encodeRequest,
  lastMappedField,
  mapPaths,
  OPCODES,
  OpCode,
  REJECT,
  Rejection,
  mapFields,
  validatePath,
  type MultiValue,
  type PathMapper,
  type RecordValue,
} from 'jute-ts';

const stat = {
  czxid: 1n,
  mzxid: 2n,
  ctime: 3n,
  mtime: 4n,
  version: 5,
  cversion: 6,
  aversion: 7,
  ephemeralOwner: 8n,
  dataLength: 9,
  numChildren: 10,
  pzxid: 11n,
};
const acl = [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }];
const into: PathMapper = (p) => (p === null ? null : p === '/' ? '/t/a' : `/t/a${p}`);
const outOf: PathMapper = (p) => (p === null ? null : p === '/t/a' ? '/' : p.startsWith('/t/a/') ? p.slice(4) : DROP);

/** A request body per path-bearing opcode, with every path field set to "/x" style values. */
const requestBodies: Record<number, RecordValue> = {
  [OpCode.create]: { path: '/x', data: Buffer.from('d'), acl, flags: 0 },
  [OpCode.create2]: { path: '/x', data: null, acl, flags: 1 },
  [OpCode.createContainer]: { path: '/x', data: Buffer.alloc(0), acl, flags: 4 },
  [OpCode.createTTL]: { path: '/x', data: Buffer.from('d'), acl, flags: 5, ttl: 1000n },
  [OpCode.delete]: { path: '/x', version: -1 },
  [OpCode.deleteContainer]: { path: '/x' },
  [OpCode.exists]: { path: '/x', watch: true },
  [OpCode.getData]: { path: '/x', watch: false },
  [OpCode.setData]: { path: '/x', data: Buffer.from('v'), version: 3 },
  [OpCode.getACL]: { path: '/x' },
  [OpCode.setACL]: { path: '/x', acl, version: 0 },
  [OpCode.getChildren]: { path: '/x', watch: true },
  [OpCode.getChildren2]: { path: '/x', watch: false },
  [OpCode.sync]: { path: '/x' },
  [OpCode.check]: { path: '/x', version: 1 },
  [OpCode.checkWatches]: { path: '/x', type: 3 },
  [OpCode.removeWatches]: { path: '/x', type: 1 },
  [OpCode.getEphemerals]: { prefixPath: '/x' },
  [OpCode.getAllChildrenNumber]: { path: '/x' },
  [OpCode.addWatch]: { path: '/x', mode: 1 },
  [OpCode.setWatches]: { relativeZxid: 5n, dataWatches: ['/x'], existWatches: ['/x'], childWatches: ['/x'] },
  [OpCode.setWatches2]: {
    relativeZxid: 5n,
    dataWatches: ['/x'],
    existWatches: ['/x'],
    childWatches: ['/x'],
    persistentWatches: ['/x'],
    persistentRecursiveWatches: ['/x'],
  },
  [OpCode.multi]: {
    ops: {
      entries: [
        { header: { type: 1, done: false, err: -1 }, body: { path: '/x', data: null, acl, flags: 0 } },
        { header: { type: 15, done: false, err: -1 }, body: { path: '/x', data: null, acl, flags: 0 } },
        { header: { type: 19, done: false, err: -1 }, body: { path: '/x', data: null, acl, flags: 4 } },
        { header: { type: 21, done: false, err: -1 }, body: { path: '/x', data: null, acl, flags: 5, ttl: 9n } },
        { header: { type: 2, done: false, err: -1 }, body: { path: '/x', version: -1 } },
        { header: { type: 5, done: false, err: -1 }, body: { path: '/x', data: null, version: -1 } },
        { header: { type: 13, done: false, err: -1 }, body: { path: '/x', version: 2 } },
        { header: { type: -1, done: true, err: -1 }, body: undefined },
      ],
    },
  },
  [OpCode.multiRead]: {
    ops: {
      entries: [
        { header: { type: 4, done: false, err: -1 }, body: { path: '/x', watch: false } },
        { header: { type: 8, done: false, err: -1 }, body: { path: '/x', watch: false } },
        { header: { type: -1, done: true, err: -1 }, body: undefined },
      ],
    },
  },
};

/** Collects every string-valued field named like a path, recursively. */
function pathsIn(value: unknown, names = ['path', 'prefixPath']): string[] {
  if (Array.isArray(value)) return value.flatMap((v) => pathsIn(v, names));
  if (value === null || typeof value !== 'object' || Buffer.isBuffer(value)) return [];
  return Object.entries(value).flatMap(([key, v]) =>
    names.includes(key) && typeof v === 'string' ? [v] : /Watches$/.test(key) && Array.isArray(v) ? (v as string[]) : pathsIn(v, names),
  );
}

describe('mapPaths on requests', () => {
  it('covers every opcode whose request record holds a path', () => {
    const withPaths = OPCODES.filter((info) => info.request !== null && lastMappedField(info.request) >= 0)
      .map((info) => info.code)
      .sort((a, b) => a - b);
    expect(
      Object.keys(requestBodies)
        .map(Number)
        .sort((a, b) => a - b),
    ).toEqual(withPaths);
  });

  for (const [opcode, body] of Object.entries(requestBodies)) {
    it(`opcode ${opcode}: every path field is rewritten, every other byte kept`, () => {
      const frame = encodeRequest({ xid: 7, opcode: Number(opcode), body });
      const mapped = mapPaths(frame, { direction: 'request' }, into);
      expect(mapped).not.toBe(REJECT);
      const decoded = decodeRequest(mapped as Buffer);
      const original = decodeRequest(frame);
      expect(pathsIn(decoded.body).length).toBeGreaterThan(0);
      expect(pathsIn(decoded.body).every((p) => p === '/t/a/x')).toBe(true);
      // Mapping back out restores the original bytes exactly.
      const restored = JSON.stringify(decoded, (_k, v) =>
        typeof v === 'string' && v.startsWith('/t/a/') ? v.slice(4) : typeof v === 'bigint' ? String(v) : v,
      );
      expect(restored).toBe(JSON.stringify(original, (_k, v) => (typeof v === 'bigint' ? String(v) : v)));
    });
  }

  it('returns the very same buffer when no path changes, and for opcodes without paths', () => {
    const frame = encodeRequest({ xid: 1, opcode: OpCode.getData, body: { path: '/x', watch: false } });
    expect(mapPaths(frame, { direction: 'request' }, (p) => p)).toBe(frame);
    const ping = encodeRequest({ xid: -2, opcode: OpCode.ping });
    expect(mapPaths(ping, { direction: 'request' }, into)).toBe(ping);
  });

  it('returns REJECT when the mapper rejects any path, including one inside a multi', () => {
    const frame = encodeRequest({ xid: 2, opcode: OpCode.multi, body: requestBodies[OpCode.multi]! });
    let calls = 0;
    expect(mapPaths(frame, { direction: 'request' }, (p) => (++calls === 3 ? REJECT : p))).toBe(REJECT);
  });

  it('a DROP on a scalar path field rejects the frame with BADARGUMENTS', () => {
    const frame = encodeRequest({ xid: 1, opcode: OpCode.delete, body: { path: '/x', version: 1 } });
    const result = mapPaths(frame, { direction: 'request' }, () => DROP);
    expect(result).toBeInstanceOf(Rejection);
    expect((result as Rejection).code).toBe(-8);
  });

  it("returns the mapper's own Rejection, with its error code", () => {
    const reserved = new Rejection(-101, 'reserved');
    const frame = encodeRequest({ xid: 1, opcode: OpCode.getData, body: { path: '/zookeeper/config', watch: true } });
    expect(mapPaths(frame, { direction: 'request' }, () => reserved)).toBe(reserved);
  });

  it('hands the create flags to the mapper, so a sequential create of "/" can stay inside a chroot', () => {
    const seen: (number | undefined)[] = [];
    const mapper: PathMapper = (p, flags) => {
      seen.push(flags);
      return p === '/' && flags === CreateMode.PERSISTENT_SEQUENTIAL ? '/t/a/' : p;
    };
    const frame = encodeRequest({
      xid: 3,
      opcode: OpCode.create,
      body: { path: '/', data: null, acl, flags: CreateMode.PERSISTENT_SEQUENTIAL },
    });
    const mapped = mapPaths(frame, { direction: 'request' }, mapper) as Buffer;
    expect(decodeRequest(mapped).body).toMatchObject({ path: '/t/a/', flags: 2 });
    mapPaths(encodeRequest({ xid: 4, opcode: OpCode.getData, body: { path: '/', watch: false } }), { direction: 'request' }, mapper);
    expect(seen).toEqual([2, undefined]);
  });

  it('keeps trailing bytes after the record', () => {
    const frame = encodeRequest({ xid: 1, opcode: OpCode.sync, body: { path: '/x' }, extra: Buffer.from('tail') });
    const mapped = mapPaths(frame, { direction: 'request' }, into) as Buffer;
    expect(decodeRequest(mapped)).toMatchObject({ body: { path: '/t/a/x' }, extra: Buffer.from('tail') });
  });

  it('maps null and multi-byte UTF-8 paths with correct lengths', () => {
    const frame = encodeRequest({ xid: 1, opcode: OpCode.getEphemerals, body: { prefixPath: null } });
    expect(decodeRequest(mapPaths(frame, { direction: 'request' }, (p) => (p === null ? '/t/a/' : p)) as Buffer).body).toEqual({
      prefixPath: '/t/a/',
    });
    const unicode = encodeRequest({ xid: 1, opcode: OpCode.exists, body: { path: '/ünï/€', watch: true } });
    expect(decodeRequest(mapPaths(unicode, { direction: 'request' }, into) as Buffer).body).toEqual({ path: '/t/a/ünï/€', watch: true });
  });
});

describe('mapPaths on replies and notifications', () => {
  const reply = (opcode: number, body: RecordValue, err = 0) => encodeReply({ xid: 9, zxid: 100n, err, body }, opcode);

  it('create, create2, createContainer, createTTL and sync results are mapped back', () => {
    for (const [opcode, body] of [
      [OpCode.create, { path: '/t/a/x0000000001' }],
      [OpCode.create2, { path: '/t/a/x', stat }],
      [OpCode.createContainer, { path: '/t/a/x', stat }],
      [OpCode.createTTL, { path: '/t/a/x', stat }],
      [OpCode.sync, { path: '/t/a/x' }],
    ] as const) {
      const mapped = mapPaths(reply(opcode, body), { direction: 'reply', opcode }, outOf) as Buffer;
      expect(decodeReply(mapped, opcode).body!.path).toMatch(/^\/x/);
    }
  });

  it('maps create results inside a multi reply, and leaves error results alone', () => {
    const results: MultiValue = {
      entries: [
        { header: { type: 1, done: false, err: 0 }, body: { path: '/t/a/x' } },
        { header: { type: 15, done: false, err: 0 }, body: { path: '/t/a', stat } },
        { header: { type: 5, done: false, err: 0 }, body: { stat } },
        { header: { type: -1, done: false, err: -101 }, body: { err: -101 } },
        { header: { type: -1, done: true, err: -1 }, body: undefined },
      ],
    };
    const mapped = mapPaths(reply(OpCode.multi, { results }), { direction: 'reply', opcode: OpCode.multi }, outOf) as Buffer;
    const entries = (decodeReply(mapped, OpCode.multi).body!.results as MultiValue).entries;
    expect(entries.map((e) => e.body?.path)).toEqual(['/x', '/', undefined, undefined, undefined]);
  });

  it('drops getEphemerals entries outside the chroot and fixes the count', () => {
    const frame = reply(OpCode.getEphemerals, { ephemerals: ['/t/a/e1', '/t/ab/e2', '/t/a', '/other', '/t/a/e3'] });
    const mapped = mapPaths(frame, { direction: 'reply', opcode: OpCode.getEphemerals }, outOf) as Buffer;
    expect(decodeReply(mapped, OpCode.getEphemerals).body).toEqual({ ephemerals: ['/e1', '/', '/e3'] });
  });

  it('maps the path of a watch notification whatever opcode is passed', () => {
    const frame = encodeReply({ xid: -1, zxid: -1n, err: 0, body: { type: 4, state: 3, path: '/t/a/x' } }, undefined);
    const mapped = mapPaths(frame, { direction: 'reply', opcode: undefined }, outOf) as Buffer;
    expect(decodeReply(mapped, undefined).body).toEqual({ type: 4, state: 3, path: '/x' });
  });

  it('leaves error replies and path-free replies untouched (same buffer)', () => {
    const error = encodeReply({ xid: 5, zxid: 1n, err: -101 }, OpCode.create);
    expect(mapPaths(error, { direction: 'reply', opcode: OpCode.create }, outOf)).toBe(error);
    const data = reply(OpCode.getData, { data: Buffer.from('/t/a/x'), stat });
    expect(mapPaths(data, { direction: 'reply', opcode: OpCode.getData }, outOf)).toBe(data);
    const children = reply(OpCode.getChildren, { children: ['t', 'a'] });
    expect(mapPaths(children, { direction: 'reply', opcode: OpCode.getChildren }, outOf)).toBe(children);
  });
});

describe('validatePath follows ZooKeeper PathUtils', () => {
  it.each([
    ['/', undefined],
    ['/a/b-c_d.e', undefined],
    ['/a/..b', undefined],
    ['/a/.b', undefined],
    ['', 'path length must be > 0'],
    ['a/b', 'path must start with / character'],
    ['/a/', 'path must not end with / character'],
    ['/a//b', 'empty node name specified @3'],
    ['/a/./b', 'relative paths not allowed @3'],
    ['/a/../b', 'relative paths not allowed @3'],
    ['/a/..', 'relative paths not allowed @3'],
    ['/a/.', 'relative paths not allowed @3'],
    ['/a\u0000b', 'null character not allowed @2'],
    ['/a\u0007', 'invalid character @2'],
    ['/a\ud83d\ude00', 'invalid character @2'],
  ])('%j → %s', (path, expected) => {
    expect(validatePath(path)).toBe(expected);
  });

  it('a sequential create may end with a slash', () => {
    expect(validatePath('/', true)).toBeUndefined();
    expect(validatePath('/a/', true)).toBeUndefined();
    expect(validatePath('/a//', true)).toBe('empty node name specified @3');
    expect(validatePath(null)).toBe('path must not be null');
  });
});

describe('mapFields: ACL lists', () => {
  const tenantAcl = (perms: number) => ({ perms, id: { scheme: 'digest', id: 'tenant:hash' } });
  const aclIn = (acl: RecordValue[] | null) =>
    acl === null ? acl : acl.map((e) => ((e.id as RecordValue).scheme === 'world' ? tenantAcl(e.perms as number) : e));

  it('rewrites the ACL of create, createTTL, setACL and every create inside multi, together with the paths', () => {
    for (const opcode of [OpCode.create, OpCode.create2, OpCode.createContainer, OpCode.createTTL, OpCode.setACL, OpCode.multi]) {
      const frame = encodeRequest({ xid: 1, opcode, body: requestBodies[opcode]! });
      const mapped = mapFields(frame, { direction: 'request' }, { path: into, acl: aclIn }) as Buffer;
      const text = JSON.stringify(decodeRequest(mapped), (_k, v) => (typeof v === 'bigint' ? String(v) : v));
      expect(text, `opcode ${opcode}`).toContain('tenant:hash');
      expect(text, `opcode ${opcode}`).not.toContain('anyone');
      expect(text, `opcode ${opcode}`).toContain('/t/a/x');
    }
  });

  it('maps getACL replies back, and leaves frames alone when the mapper returns the same list', () => {
    const frame = encodeReply(
      { xid: 4, zxid: 1n, err: 0, body: { acl: [tenantAcl(31), { perms: 1, id: { scheme: 'ip', id: '10.0.0.1' } }], stat } },
      OpCode.getACL,
    );
    const back = mapFields(
      frame,
      { direction: 'reply', opcode: OpCode.getACL },
      {
        path: outOf,
        acl: (acl) =>
          acl!.map((e) => ((e.id as RecordValue).id === 'tenant:hash' ? { perms: e.perms, id: { scheme: 'world', id: 'anyone' } } : e)),
      },
    ) as Buffer;
    expect(decodeReply(back, OpCode.getACL).body!.acl).toEqual([
      { perms: 31, id: { scheme: 'world', id: 'anyone' } },
      { perms: 1, id: { scheme: 'ip', id: '10.0.0.1' } },
    ]);
    expect(mapFields(frame, { direction: 'reply', opcode: OpCode.getACL }, { path: outOf, acl: (acl) => acl })).toBe(frame);
  });

  it('an ACL mapper can reject (INVALIDACL for a foreign identity)', () => {
    const invalid = new Rejection(-114, 'foreign identity');
    const frame = encodeRequest({ xid: 1, opcode: OpCode.setACL, body: requestBodies[OpCode.setACL]! });
    expect(mapFields(frame, { direction: 'request' }, { path: into, acl: () => invalid })).toBe(invalid);
  });
});
