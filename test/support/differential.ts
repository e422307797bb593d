/**
 * The oracle side of differential tests (zetcd's "xchk" idea): a client-side chroot written at the
 * object level, deliberately without the codec's mapPaths (so a bug in the proxy's rewriting
 * cannot hide behind the same bug in the oracle), a seeded random source, and reply comparison by
 * shape (zxid and time fields compared by what they say, not by value).
 */
import { OpCode, type MultiValue, type RecordValue, type Reply } from 'jute-ts';

/** mulberry32: small, fast, good enough to drive a workload reproducibly from one seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---------------------------------------------------------------- the oracle's client-side chroot

const prefix = (root: string, p: string | null, sequentialRoot = false) =>
  p === null ? null : p === '/' ? (sequentialRoot ? `${root}/` : root) : root + p;
const strip = (root: string, p: string) => (p === root ? '/' : p.startsWith(`${root}/`) ? p.slice(root.length) : `OUTSIDE:${p}`);

export function chrootRequest(root: string, opcode: number, body: RecordValue | undefined): RecordValue | undefined {
  if (body === undefined) return undefined;
  const out: RecordValue = { ...body };
  const sequential = typeof body.flags === 'number' && [2, 3, 6].includes(body.flags);
  if (typeof body.path === 'string') out.path = prefix(root, body.path, sequential);
  if ('prefixPath' in body) out.prefixPath = body.prefixPath === '/' ? `${root}/` : prefix(root, body.prefixPath as string);
  for (const list of ['dataWatches', 'existWatches', 'childWatches', 'persistentWatches', 'persistentRecursiveWatches']) {
    if (Array.isArray(body[list])) out[list] = (body[list] as string[]).map((p) => prefix(root, p));
  }
  if (opcode === OpCode.multi || opcode === OpCode.multiRead) {
    const ops = body.ops as MultiValue;
    out.ops = { entries: ops.entries.map((e) => ({ header: e.header, body: e.body && chrootRequest(root, e.header.type, e.body) })) };
  }
  return out;
}

export function unchrootReply(root: string, opcode: number, reply: Reply): Reply {
  const body = reply.body;
  if (body === undefined) return reply;
  const out: RecordValue = { ...body };
  if (typeof body.path === 'string' && opcode !== OpCode.notification) out.path = strip(root, body.path);
  if (opcode === OpCode.notification && typeof body.path === 'string') out.path = strip(root, body.path);
  if (Array.isArray(body.ephemerals))
    out.ephemerals = (body.ephemerals as string[]).filter((p) => p.startsWith(`${root}/`)).map((p) => strip(root, p));
  if (opcode === OpCode.multi || opcode === OpCode.multiRead) {
    const results = body.results as MultiValue;
    out.results = {
      entries: results.entries.map((e) => ({
        header: e.header,
        body: e.body && typeof e.body.path === 'string' ? { ...e.body, path: strip(root, e.body.path) } : e.body,
      })),
    };
  }
  return { ...reply, body: out };
}

// ---------------------------------------------------------------- comparison by shape

function shapeOfStat(stat: RecordValue) {
  return {
    version: stat.version,
    cversion: stat.cversion,
    aversion: stat.aversion,
    dataLength: stat.dataLength,
    numChildren: stat.numChildren,
    ephemeral: stat.ephemeralOwner !== 0n,
    container: stat.ephemeralOwner === -(1n << 63n),
    ttl: BigInt.asUintN(64, stat.ephemeralOwner as bigint) >> 56n === 0xffn,
    createdByLastChange: stat.czxid === stat.mzxid,
    childrenChangedSinceCreate: stat.pzxid !== stat.czxid,
  };
}

export function shape(value: unknown, key = ''): unknown {
  if (Buffer.isBuffer(value)) return `bytes:${value.toString('hex')}`;
  if (typeof value === 'bigint') return key === 'totalNumber' ? Number(value) : String(value);
  if (Array.isArray(value)) {
    const items = value.map((v) => shape(v));
    // Child and ephemeral order is not defined by ZooKeeper.
    return ['children', 'ephemerals'].includes(key) ? items.sort() : items;
  }
  if (value !== null && typeof value === 'object') {
    const record = value as RecordValue;
    if ('czxid' in record && 'pzxid' in record) return shapeOfStat(record);
    return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, shape(v, k)]));
  }
  return value;
}

export const replyShape = (reply: Reply) => ({ err: reply.err, body: shape(reply.body), extra: reply.extra?.toString('hex') });
