/**
 * A live fuzzer for the proxy's client listeners: raw bytes, random or mutated from the golden
 * captured conversations, each sent over its own TCP connection with random chunking, random
 * pauses and random early close; or (pipeline inputs) many mutated request frames after one
 * valid handshake.
 *
 * Everything is deterministic from (seed, index): `fuzzInput(corpus, seed, index, mix)` rebuilds
 * input #index exactly (bytes, chunking, close), so a failure found by a run of millions is
 * reproduced with `node bench/fuzz-live.ts --seed S --replay INDEX`.
 *
 * Accounting: a connection-level input counts as ONE input whatever it holds (its byte stream is
 * the input). A pipeline connection carries `frames` mutated request frames, each ONE input, but
 * only those the proxy demonstrably processed count: the ones answered (replies other than
 * notifications, capped at the frames sent), plus the frame that made the proxy close the
 * connection when it closed before answering everything.
 *
 * Each connection is also checked (violations, which a run must not have):
 *   unframed-output   what the proxy sent does not split into frames (4lw answers excepted)
 *   bad-handshake     its first frame is not a ConnectResponse
 *   unexpected-xid    a reply carries an xid no request on the connection had (notifications aside)
 *   chroot-leak       a server path (/tenants/...) reached the client
 *   identity-leak     the tenant's digest identity (zkproxy-tenant-...) reached the client
 *   connect-error     the listener refused or failed the TCP connection
 */
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import {
  DEFAULT_MAX_FRAME_SIZE,
  decodeConnectRequest,
  decodeConnectResponse,
  encodeConnectRequest,
  FOUR_LETTER_WORDS,
  fourLetterWordOf,
  FrameReader,
  OPCODES,
  OpCode,
  SESSION_PASSWORD_LENGTH,
} from 'jute-ts';
import { readFixture } from '../golden/capture/inventory.ts';

/** Session timeout written into every ConnectRequest the fuzzer keeps valid: fuzz sessions expire fast. */
export const FUZZ_SESSION_TIMEOUT_MS = 2_000;
export const FIXTURES_DIR = join(import.meta.dirname, '..', 'golden', 'fixtures');

// ------------------------------------------------------------------ deterministic randomness

function mix32(value: number): number {
  let z = (value + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** sfc32, seeded from (seed, stream) so that every input has its own independent stream. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d = 1;

  constructor(seed: number, stream = 0) {
    this.a = mix32(seed >>> 0);
    this.b = mix32(this.a ^ (stream >>> 0));
    this.c = mix32(this.b ^ Math.imul(stream >>> 0, 0x27d4eb2d) ^ 0x5bd1e995);
    for (let i = 0; i < 12; i++) this.u32();
  }

  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  float(): number {
    return this.u32() / 4294967296;
  }

  /** 0 <= n < max */
  int(max: number): number {
    return Math.floor(this.float() * max);
  }

  /** lo <= n <= hi */
  between(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  weighted<T>(table: readonly (readonly [T, number])[]): T {
    let total = 0;
    for (const [, weight] of table) total += weight;
    let roll = this.float() * total;
    for (const [item, weight] of table) {
      roll -= weight;
      if (roll < 0) return item;
    }
    return table[table.length - 1]![0];
  }

  /** A size in 0..max, skewed towards small (log-uniform). */
  size(max: number): number {
    return Math.min(max, Math.floor((max + 2) ** this.float()) - 1);
  }

  bytes(length: number): Buffer {
    const out = Buffer.allocUnsafe(length);
    for (let i = 0; i < length; i += 4) {
      const word = this.u32();
      out[i] = word & 0xff;
      if (i + 1 < length) out[i + 1] = (word >>> 8) & 0xff;
      if (i + 2 < length) out[i + 2] = (word >>> 16) & 0xff;
      if (i + 3 < length) out[i + 3] = word >>> 24;
    }
    return out;
  }
}

// ------------------------------------------------------------------ the corpus

export interface Conversation {
  name: string;
  /** The captured ConnectRequest made fresh: new session, FUZZ_SESSION_TIMEOUT_MS, lastZxidSeen 0. */
  connect: Buffer;
  /** As captured (may resume a session of the capture run, or carry a zxid this ensemble never saw). */
  capturedConnect: Buffer;
  /** Request frames after the ConnectRequest, in order. */
  requests: Buffer[];
}

export interface Corpus {
  conversations: Conversation[];
  /** Every captured request frame. */
  requests: Buffer[];
  /** Request frames that keep a pipelined connection open (no closeSession, sasl, auth). */
  pipelineRequests: Buffer[];
}

export function freshConnectRequest(captured: Buffer): Buffer {
  const request = decodeConnectRequest(captured);
  return encodeConnectRequest({
    ...request,
    protocolVersion: 0,
    lastZxidSeen: 0n,
    timeOut: FUZZ_SESSION_TIMEOUT_MS,
    sessionId: 0n,
    passwd: Buffer.alloc(SESSION_PASSWORD_LENGTH),
  });
}

export function loadCorpus(dir = FIXTURES_DIR, clients = ['java', 'kazoo', 'node-zookeeper-client']): Corpus {
  const conversations: Conversation[] = [];
  for (const client of clients) {
    const byConn = new Map<number, { seq: number; frame: Buffer }[]>();
    for (const record of readFixture(join(dir, `${client}.jsonl`))) {
      if (record.dir !== 'c2s') continue;
      let frames = byConn.get(record.conn);
      if (frames === undefined) byConn.set(record.conn, (frames = []));
      frames.push({ seq: record.seq, frame: Buffer.from(record.hex, 'hex') });
    }
    for (const [conn, frames] of byConn) {
      frames.sort((a, b) => a.seq - b.seq);
      const [first, ...rest] = frames;
      if (first === undefined || first.seq !== 0) continue;
      conversations.push({
        name: `${client}#${conn}`,
        connect: freshConnectRequest(first.frame),
        capturedConnect: first.frame,
        requests: rest.map((r) => r.frame),
      });
    }
  }
  if (conversations.length === 0) throw new Error(`no conversations in ${dir}`);
  const requests = conversations.flatMap((c) => c.requests);
  const closers = new Set<number>([OpCode.closeSession, OpCode.sasl, OpCode.auth]);
  return { conversations, requests, pipelineRequests: requests.filter((frame) => !closers.has(frame.readInt32BE(8))) };
}

// ------------------------------------------------------------------ inputs

export type CloseMode = 'linger' | 'half-close' | 'abort-destroy' | 'abort-reset' | 'abort-half-close';

export interface Delivery {
  /** Sizes of the writes, summing to the bytes sent (all of them, or `cutAt`). */
  chunks: number[];
  /** Pause between writes: 0 = none, -1 = one event-loop turn, n = n ms. */
  gapMs: number;
  close: CloseMode;
  /** abort-*: the bytes written before the close. */
  cutAt?: number;
  /** How long to wait, once everything is written, for the proxy to answer and close. */
  lingerMs: number;
  /**
   * The input starts with an acceptable ConnectRequest: wait (up to 2 s) for the proxy's first
   * bytes before the linger starts, so that the rest reaches a relaying session even when the
   * machine is slow. Without it most such connections close while the backend handshake runs.
   */
  awaitHandshake?: boolean;
}

export interface FuzzInput {
  seed: number;
  index: number;
  generator: string;
  /** Mutations applied, in order (for the report and replay). */
  ops: string[];
  bytes: Buffer;
  delivery: Delivery;
  /** pipeline inputs: the number of fuzzed frames after the handshake (each an input). */
  pipelinedFrames?: number;
}

export type FuzzMix = 'suite' | 'long';

/** Interesting int32s: boundaries of lengths, counts, signs, and the frame size limit. */
const INTERESTING_INTS = [
  0,
  1,
  -1,
  -2,
  2,
  3,
  4,
  7,
  8,
  12,
  16,
  20,
  28,
  44,
  45,
  0x7f,
  0x80,
  0xff,
  0x100,
  0x7fff,
  0x8000,
  0xffff,
  0x10000,
  0xfffff,
  0x100000,
  DEFAULT_MAX_FRAME_SIZE,
  DEFAULT_MAX_FRAME_SIZE + 1,
  0x7ffffffe,
  0x7fffffff,
  -0x80000000,
  -0x7fffffff,
];
const INTERESTING_BYTES = [0x00, 0x01, 0x2f, 0x2e, 0x7f, 0x80, 0xc0, 0xed, 0xef, 0xfe, 0xff, 0x20, 0x0a];
const SPECIAL_XIDS = [-1, -2, -4, -8, 0, 1, 0x7fffffff, -0x80000000, -3, -5];
const KNOWN_OPCODES = OPCODES.map((info) => info.code);
const CLIENT_OPCODES = OPCODES.filter((info) => info.clientRequest).map((info) => info.code);
/** Opcodes the proxy answers without closing (for pipelines): client requests minus the closers. */
const PIPELINE_OPCODES = CLIENT_OPCODES.filter((code) => code !== OpCode.closeSession && code !== OpCode.sasl && code !== OpCode.auth);
const ODD_OPCODES = [-11, -10, -1, 0, 10, 23, 24, 99, 108, 109, 200, 0x7fffffff, -0x80000000];

function int32(value: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeInt32BE(value | 0, 0);
  return out;
}

function withLength(frame: Buffer): Buffer {
  frame.writeInt32BE(frame.length - 4, 0);
  return frame;
}

function randomInt32(rng: Rng): number {
  return rng.chance(0.6) ? rng.pick(INTERESTING_INTS) : rng.u32() | 0;
}

// ---- frame-level mutations: the frame list stays a list; most keep the length prefix right

/** `at`: the frame to mutate (default: a random one). */
type FrameOp = (rng: Rng, frames: Buffer[], corpus: Corpus, self: Conversation, at?: number) => Buffer[] | undefined;

const pickIndex = (rng: Rng, frames: Buffer[], from = 0, at?: number) =>
  at ?? (frames.length > from ? rng.between(from, frames.length - 1) : undefined);

const FRAME_OPS: Record<string, FrameOp> = {
  flipBits(rng, frames, _corpus, _self, at) {
    const i = pickIndex(rng, frames, 0, at);
    if (i === undefined || frames[i]!.length <= 4) return undefined;
    const frame = Buffer.from(frames[i]!);
    for (let n = rng.between(1, 4); n > 0; n--) frame[rng.between(4, frame.length - 1)]! ^= 1 << rng.int(8);
    frames[i] = frame;
    return frames;
  },
  smashInt(rng, frames, _corpus, _self, at) {
    const i = pickIndex(rng, frames, 0, at);
    if (i === undefined || frames[i]!.length < 8) return undefined;
    const frame = Buffer.from(frames[i]!);
    frame.writeInt32BE(randomInt32(rng), rng.between(4, frame.length - 4));
    frames[i] = frame;
    return frames;
  },
  smashByte(rng, frames, _corpus, _self, at) {
    const i = pickIndex(rng, frames, 0, at);
    if (i === undefined || frames[i]!.length <= 4) return undefined;
    const frame = Buffer.from(frames[i]!);
    frame[rng.between(4, frame.length - 1)] = rng.pick(INTERESTING_BYTES);
    frames[i] = frame;
    return frames;
  },
  truncateBody(rng, frames, _corpus, _self, at) {
    const i = pickIndex(rng, frames, 0, at);
    if (i === undefined || frames[i]!.length <= 4) return undefined;
    frames[i] = withLength(Buffer.from(frames[i]!.subarray(0, rng.between(4, frames[i]!.length - 1))));
    return frames;
  },
  extendBody(rng, frames, _corpus, _self, at) {
    const i = pickIndex(rng, frames, 0, at);
    if (i === undefined) return undefined;
    frames[i] = withLength(Buffer.concat([frames[i]!, rng.bytes(rng.between(1, 64))]));
    return frames;
  },
  corruptLength(rng, frames, _corpus, _self, at) {
    const i = pickIndex(rng, frames, 0, at);
    if (i === undefined) return undefined;
    const frame = Buffer.from(frames[i]!);
    const actual = frame.length - 4;
    frame.writeInt32BE(rng.chance(0.5) ? actual + rng.pick([-4, -3, -2, -1, 1, 2, 3, 4, 8, 100]) : randomInt32(rng), 0);
    frames[i] = frame;
    return frames;
  },
  randomOpcode(rng, frames, _corpus, _self, at) {
    const i = pickIndex(rng, frames, 1, at);
    if (i === undefined || frames[i]!.length < 12) return undefined;
    const frame = Buffer.from(frames[i]!);
    frame.writeInt32BE(
      rng.weighted([
        [rng.pick(KNOWN_OPCODES), 6],
        [rng.pick(ODD_OPCODES), 3],
        [rng.u32() | 0, 1],
      ]),
      8,
    );
    frames[i] = frame;
    return frames;
  },
  randomXid(rng, frames, _corpus, _self, at) {
    const i = pickIndex(rng, frames, 1, at);
    if (i === undefined || frames[i]!.length < 8) return undefined;
    const frame = Buffer.from(frames[i]!);
    const other = frames[pickIndex(rng, frames, 1)!]!;
    frame.writeInt32BE(
      rng.weighted([
        [rng.pick(SPECIAL_XIDS), 5],
        [other.length >= 8 ? other.readInt32BE(4) : 7, 3],
        [rng.u32() | 0, 2],
      ]),
      4,
    );
    frames[i] = frame;
    return frames;
  },
  dupConnect(rng, frames) {
    if (frames.length === 0) return undefined;
    frames.splice(rng.between(1, frames.length), 0, frames[0]!);
    return frames;
  },
  dropFrame(rng, frames, _corpus, _self, at) {
    const i = pickIndex(rng, frames, 1, at);
    if (i === undefined) return undefined;
    frames.splice(i, 1);
    return frames;
  },
  dupFrame(rng, frames, _corpus, _self, at) {
    const i = pickIndex(rng, frames, 1, at);
    if (i === undefined) return undefined;
    frames.splice(rng.between(i, frames.length), 0, frames[i]!);
    return frames;
  },
  swapFrames(rng, frames, _corpus, _self, at) {
    const i = pickIndex(rng, frames, 1, at);
    const j = pickIndex(rng, frames, 1);
    if (i === undefined || j === undefined || i === j) return undefined;
    [frames[i], frames[j]] = [frames[j]!, frames[i]!];
    return frames;
  },
  spliceConversations(rng, frames, corpus, self) {
    const other = rng.pick(corpus.conversations.filter((c) => c !== self && c.requests.length > 0));
    if (other === undefined) return undefined;
    const keep = rng.between(1, frames.length);
    return [...frames.slice(0, keep), ...other.requests.slice(rng.int(other.requests.length))];
  },
  spliceBody(rng, frames, corpus, _self, at) {
    const i = pickIndex(rng, frames, 1, at);
    if (i === undefined || frames[i]!.length < 12) return undefined;
    const donor = rng.pick(corpus.requests);
    frames[i] = withLength(Buffer.concat([frames[i]!.subarray(0, 12), donor.subarray(12)]));
    return frames;
  },
  insertRequest(rng, frames, corpus) {
    frames.splice(rng.between(1, Math.max(1, frames.length)), 0, rng.pick(corpus.requests));
    return frames;
  },
  mutatePath(rng, frames, _corpus, _self, index) {
    // A ustring that looks like a path: int32 length n, then n bytes starting with '/'.
    const i = pickIndex(rng, frames, 1, index);
    if (i === undefined) return undefined;
    const frame = frames[i]!;
    const starts: number[] = [];
    for (let at = 16; at < frame.length; at++) {
      if (frame[at] !== 0x2f) continue;
      const n = frame.readInt32BE(at - 4);
      if (n >= 1 && at + n <= frame.length) starts.push(at);
    }
    if (starts.length === 0) return undefined;
    const at = rng.pick(starts);
    const n = frame.readInt32BE(at - 4);
    const choice = rng.int(4);
    if (choice === 0) {
      // Off-by-some length.
      const out = Buffer.from(frame);
      out.writeInt32BE(n + rng.pick([-2, -1, 1, 2, -n, -n - 1, -n - 2]), at - 4);
      frames[i] = out;
    } else {
      // Replace or insert path bytes (length and frame prefix fixed): ., .., //, NUL, bad UTF-8, /zookeeper.
      const piece = rng.pick([
        Buffer.from('/'),
        Buffer.from('/.'),
        Buffer.from('/..'),
        Buffer.from([0]),
        Buffer.from([0xc0, 0x80]),
        Buffer.from([0xed, 0xa0, 0x80]),
        Buffer.from([0xff]),
        Buffer.from('/zookeeper'),
        Buffer.from('/zookeeper/config'),
        Buffer.from('\u007f'),
        Buffer.from('\ufff0'),
      ]);
      const pos = at + rng.int(n + 1);
      const removed = choice === 1 ? Math.min(rng.between(0, 3), at + n - pos) : 0;
      const path = Buffer.concat([frame.subarray(at, pos), piece, frame.subarray(pos + removed, at + n)]);
      const replaced = choice === 3 ? Buffer.concat([piece[0] === 0x2f ? piece : Buffer.from('/zookeeper')]) : path;
      frames[i] = withLength(Buffer.concat([frame.subarray(0, at - 4), int32(replaced.length), replaced, frame.subarray(at + n)]));
    }
    return frames;
  },
};

// ---- stream-level mutations: on the flat bytes, framing be damned

type StreamOp = (rng: Rng, bytes: Buffer) => Buffer;

const STREAM_OPS: Record<string, StreamOp> = {
  streamFlip(rng, bytes) {
    if (bytes.length === 0) return bytes;
    const out = Buffer.from(bytes);
    for (let n = rng.between(1, 8); n > 0; n--) out[rng.int(out.length)]! ^= 1 << rng.int(8);
    return out;
  },
  streamInsert(rng, bytes) {
    const at = rng.between(0, bytes.length);
    return Buffer.concat([
      bytes.subarray(0, at),
      rng.chance(0.5) ? rng.bytes(rng.between(1, 16)) : int32(randomInt32(rng)),
      bytes.subarray(at),
    ]);
  },
  streamDelete(rng, bytes) {
    if (bytes.length === 0) return bytes;
    const at = rng.int(bytes.length);
    return Buffer.concat([bytes.subarray(0, at), bytes.subarray(Math.min(bytes.length, at + rng.between(1, 16)))]);
  },
  streamTruncate(rng, bytes) {
    return bytes.subarray(0, rng.int(bytes.length + 1));
  },
};

const FRAME_OP_WEIGHTS: [string, number][] = [
  ['flipBits', 10],
  ['smashInt', 10],
  ['smashByte', 6],
  ['truncateBody', 8],
  ['extendBody', 5],
  ['corruptLength', 6],
  ['randomOpcode', 8],
  ['randomXid', 6],
  ['dupConnect', 4],
  ['dropFrame', 3],
  ['dupFrame', 3],
  ['swapFrames', 3],
  ['spliceConversations', 6],
  ['spliceBody', 6],
  ['insertRequest', 3],
  ['mutatePath', 10],
];
const STREAM_OP_WEIGHTS: [string, number][] = [
  ['streamFlip', 4],
  ['streamInsert', 3],
  ['streamDelete', 3],
  ['streamTruncate', 3],
];
/** Mutations that keep every frame's length right and the opcode a forwardable one (pipelines). */
const PIPELINE_OP_WEIGHTS: [string, number][] = [
  ['flipBits', 10],
  ['smashInt', 10],
  ['smashByte', 6],
  ['truncateBody', 8],
  ['extendBody', 5],
  ['randomXid', 5],
  ['pipelineOpcode', 6],
  ['spliceBody', 8],
  ['mutatePath', 12],
  ['asIs', 3],
];

// ---- generators

type Generator = (rng: Rng, corpus: Corpus, ops: string[]) => { bytes: Buffer; pipelinedFrames?: number };

function randomFrame(rng: Rng, xidAndOpcode: boolean): Buffer {
  const body = rng.bytes(rng.size(96));
  if (!xidAndOpcode) return Buffer.concat([int32(body.length), body]);
  const xid = rng.chance(0.3) ? rng.pick(SPECIAL_XIDS) : rng.between(1, 1000);
  const opcode = rng.weighted([
    [rng.pick(CLIENT_OPCODES), 8],
    [rng.pick(ODD_OPCODES), 2],
  ]);
  // A body made of plausible jute: small ints, path-like strings, raw noise.
  const parts: Buffer[] = [];
  for (let n = rng.between(0, 5); n > 0; n--) {
    const kind = rng.int(4);
    if (kind === 0) parts.push(int32(randomInt32(rng)));
    else if (kind === 1) {
      const path = Buffer.from(rng.pick(['/', '/a', '/golden-java', '/x/y', '//', '/.', '', '/zookeeper', '/zookeeper/quota', 'rel']));
      parts.push(int32(rng.chance(0.9) ? path.length : randomInt32(rng)), path);
    } else if (kind === 2) parts.push(Buffer.from([rng.int(2)]));
    else parts.push(rng.bytes(rng.size(32)));
  }
  return withLength(Buffer.concat([int32(0), int32(xid), int32(opcode), ...parts, rng.chance(0.2) ? body : Buffer.alloc(0)]));
}

function baseConversation(rng: Rng, corpus: Corpus, ops: string[]): { self: Conversation; frames: Buffer[] } {
  const self = rng.pick(corpus.conversations);
  // Often only a prefix of the conversation: cheaper for the ensemble, and just as much parsing.
  const take = rng.chance(0.5) ? rng.size(self.requests.length) : self.requests.length;
  const connect = rng.weighted([
    [self.connect, 94],
    [self.capturedConnect, 6],
  ]);
  ops.push(
    `base ${self.name} (${take}/${self.requests.length} requests${connect === self.capturedConnect ? ', captured ConnectRequest' : ''})`,
  );
  return { self, frames: [connect, ...self.requests.slice(0, take)] };
}

function applyFrameOp(rng: Rng, name: string, frames: Buffer[], corpus: Corpus, self: Conversation, ops: string[]): Buffer[] {
  const result = FRAME_OPS[name]!(rng, frames.slice(), corpus, self);
  if (result === undefined) return frames;
  ops.push(name);
  return result;
}

const GENERATORS: Record<string, Generator> = {
  random(rng) {
    return { bytes: rng.bytes(rng.size(4096)) };
  },
  randomFrames(rng) {
    // Well-framed noise: reaches the ConnectRequest decoder.
    return { bytes: Buffer.concat(Array.from({ length: rng.between(1, 4) }, () => randomFrame(rng, false))) };
  },
  connectThenRandom(rng, corpus) {
    return { bytes: Buffer.concat([rng.pick(corpus.conversations).connect, rng.bytes(rng.size(2048))]) };
  },
  connectThenRandomFrames(rng, corpus) {
    const frames = Array.from({ length: rng.between(1, 8) }, () => randomFrame(rng, true));
    return { bytes: Buffer.concat([rng.pick(corpus.conversations).connect, ...frames]) };
  },
  fourLetterWord(rng) {
    const word = rng.chance(0.8)
      ? rng.pick(FOUR_LETTER_WORDS)
      : String.fromCharCode(...Array.from({ length: 4 }, () => rng.between(0x61, 0x7a)));
    return { bytes: Buffer.concat([Buffer.from(word, 'latin1'), rng.chance(0.3) ? rng.bytes(rng.size(64)) : Buffer.alloc(0)]) };
  },
  connectMutation(rng, corpus, ops) {
    // The ConnectRequest alone (maybe followed by a valid request or two), with one field broken.
    const self = rng.pick(corpus.conversations);
    const request = decodeConnectRequest(self.connect);
    const variant = rng.int(8);
    let connect: Buffer;
    if (variant === 0) connect = encodeConnectRequest({ ...request, timeOut: randomInt32(rng) });
    else if (variant === 1) connect = encodeConnectRequest({ ...request, protocolVersion: randomInt32(rng) });
    else if (variant === 2)
      connect = encodeConnectRequest({
        ...request,
        sessionId: BigInt.asIntN(64, (BigInt(rng.u32()) << 32n) | BigInt(rng.u32())),
        passwd: rng.bytes(16),
      });
    else if (variant === 3) connect = encodeConnectRequest({ ...request, passwd: rng.bytes(rng.pick([0, 1, 15, 17, 32])) });
    else if (variant === 4) connect = encodeConnectRequest({ ...request, lastZxidSeen: BigInt(rng.u32()) << BigInt(rng.int(31)) });
    else if (variant === 5) connect = withLength(Buffer.concat([self.connect, rng.bytes(rng.between(1, 8))]));
    else if (variant === 6) connect = withLength(Buffer.from(self.connect.subarray(0, rng.between(4, self.connect.length - 1))));
    else
      connect = applyFrameOp(rng, rng.pick(['flipBits', 'smashInt', 'smashByte', 'corruptLength']), [self.connect], corpus, self, ops)[0]!;
    ops.push(`connect variant ${variant}`);
    return { bytes: Buffer.concat([connect, ...self.requests.slice(0, rng.int(3))]) };
  },
  mutated(rng, corpus, ops) {
    const { self, frames: base } = baseConversation(rng, corpus, ops);
    let frames = base;
    let bytes: Buffer | undefined;
    for (
      let n = rng.weighted([
        [1, 6],
        [2, 3],
        [3, 2],
        [5, 1],
      ]);
      n > 0;
      n--
    ) {
      if (bytes === undefined && rng.chance(0.8)) {
        frames = applyFrameOp(rng, rng.weighted(FRAME_OP_WEIGHTS), frames, corpus, self, ops);
      } else {
        bytes ??= Buffer.concat(frames);
        const name = rng.weighted(STREAM_OP_WEIGHTS);
        bytes = STREAM_OPS[name]!(rng, bytes);
        ops.push(name);
      }
    }
    return { bytes: bytes ?? Buffer.concat(frames) };
  },
  pipeline(rng, corpus, ops) {
    // One valid handshake, then many requests, each mutated on its own (framing kept right).
    const self = rng.pick(corpus.conversations);
    const count = rng.between(16, 160);
    const frames: Buffer[] = [self.connect];
    const counts = new Map<string, number>();
    for (let i = 0; i < count; i++) {
      let frame: Buffer = Buffer.from(rng.pick(corpus.pipelineRequests));
      const name = rng.weighted(PIPELINE_OP_WEIGHTS);
      counts.set(name, (counts.get(name) ?? 0) + 1);
      if (name === 'pipelineOpcode') frame.writeInt32BE(rng.pick(PIPELINE_OPCODES), 8);
      else if (name !== 'asIs') frame = FRAME_OPS[name]!(rng, [self.connect, frame], corpus, self, 1)?.[1] ?? frame;
      // Some mutations may land on the opcode or xid; an opcode the proxy closes for ends the
      // pipeline early, which the accounting handles, but keep that rare.
      if (frame.length >= 12 && !PIPELINE_OPCODES.includes(frame.readInt32BE(8)) && rng.chance(0.9))
        frame.writeInt32BE(rng.pick(PIPELINE_OPCODES), 8);
      frames.push(frame);
    }
    ops.push(`base ${self.name}`, [...counts].map(([name, n]) => `${name}x${n}`).join(' '));
    return { bytes: Buffer.concat(frames), pipelinedFrames: count };
  },
};

const MIXES: Record<FuzzMix, [string, number][]> = {
  suite: [
    ['random', 8],
    ['randomFrames', 6],
    ['connectThenRandom', 7],
    ['connectThenRandomFrames', 10],
    ['fourLetterWord', 2],
    ['connectMutation', 7],
    ['mutated', 60],
  ],
  long: [
    ['random', 6],
    ['randomFrames', 5],
    ['connectThenRandom', 5],
    ['connectThenRandomFrames', 8],
    ['fourLetterWord', 1],
    ['connectMutation', 5],
    ['mutated', 45],
    ['pipeline', 25],
  ],
};

/** Whether `bytes` start with a ConnectRequest the proxy accepts (it then opens a session). */
function startsWithConnectRequest(bytes: Buffer): boolean {
  if (bytes.length < 4) return false;
  const length = bytes.readInt32BE(0);
  if (length < 0 || length > 1024 || bytes.length < 4 + length) return false;
  try {
    const request = decodeConnectRequest(bytes.subarray(0, 4 + length));
    return request.passwd?.length === SESSION_PASSWORD_LENGTH && request.extra === undefined;
  } catch {
    return false;
  }
}

function planDelivery(rng: Rng, bytes: Buffer, pipeline: boolean): Delivery {
  const length = bytes.length;
  const close: CloseMode = pipeline
    ? rng.weighted([
        ['linger', 9],
        ['half-close', 1],
      ] as const)
    : rng.weighted([
        ['linger', 50],
        ['half-close', 15],
        ['abort-destroy', 20],
        ['abort-reset', 8],
        ['abort-half-close', 7],
      ] as const);
  const cutAt = close.startsWith('abort') ? rng.int(length + 1) : undefined;
  const total = cutAt ?? length;
  const chunks: number[] = [];
  const style = rng.weighted([
    ['whole', 45],
    ['random', 35],
    ['tiny', total <= 512 ? 12 : 0],
    ['halves', 8],
  ] as const);
  if (style === 'whole' || total <= 1) chunks.push(total);
  else if (style === 'halves') {
    const first = rng.between(1, total - 1);
    chunks.push(first, total - first);
  } else {
    for (let left = total; left > 0; ) {
      const size = Math.min(left, style === 'tiny' ? rng.between(1, 3) : rng.between(1, 96));
      chunks.push(size);
      left -= size;
    }
  }
  const gapMs =
    chunks.length <= 1
      ? 0
      : rng.weighted([
          [-1, 70],
          [0, 20],
          [rng.between(1, 4), 10],
        ]);
  const lingerMs = pipeline
    ? 3_000
    : rng.weighted([
        [rng.between(0, 10), 35],
        [rng.between(10, 80), 45],
        [rng.between(80, 300), 20],
      ]);
  const awaitHandshake = (close === 'linger' || close === 'half-close') && (pipeline || rng.chance(0.7)) && startsWithConnectRequest(bytes);
  return { chunks, gapMs, close, ...(cutAt === undefined ? {} : { cutAt }), lingerMs, ...(awaitHandshake ? { awaitHandshake } : {}) };
}

/** Input #index of the run with `seed`: the same (seed, index, mix) always gives the same input. */
export function fuzzInput(corpus: Corpus, seed: number, index: number, mix: FuzzMix = 'suite'): FuzzInput {
  const rng = new Rng(seed, index);
  const generator = rng.weighted(MIXES[mix]);
  const ops: string[] = [];
  const { bytes, pipelinedFrames } = GENERATORS[generator]!(rng, corpus, ops);
  return {
    seed,
    index,
    generator,
    ops,
    bytes,
    delivery: planDelivery(rng, bytes, pipelinedFrames !== undefined),
    ...(pipelinedFrames === undefined ? {} : { pipelinedFrames }),
  };
}

export function describeInput(input: FuzzInput, maxHex = Infinity): string {
  const { delivery } = input;
  const hex = input.bytes.toString('hex');
  return [
    `input #${input.index} of seed ${input.seed}: ${input.generator}${input.ops.length > 0 ? ` [${input.ops.join(', ')}]` : ''}`,
    `  delivery: ${delivery.chunks.length} write(s) ${delivery.chunks.length <= 12 ? `[${delivery.chunks.join(',')}]` : ''} gap ${delivery.gapMs} ms, close ${delivery.close}${delivery.cutAt === undefined ? '' : ` after ${delivery.cutAt} bytes`}, ${delivery.awaitHandshake ? 'await the handshake, ' : ''}linger ${delivery.lingerMs} ms`,
    `  ${input.bytes.length} bytes: ${hex.length > maxHex ? `${hex.slice(0, maxHex)}… (replay for all)` : hex}`,
  ].join('\n');
}

// ------------------------------------------------------------------ sending one input

export type OutcomeKind =
  | 'proxy-closed' // the proxy ended the connection (FIN) before we did
  | 'proxy-reset' // ... or reset it
  | 'fuzzer-closed' // everything sent, the linger ran out, we closed
  | 'fuzzer-aborted' // we closed early on purpose (abort-*)
  | 'connect-error';

export interface Outcome {
  kind: OutcomeKind;
  /** 'session' | 'expired' (ConnectResponse timeOut 0) | 'none' */
  handshake: 'session' | 'expired' | 'none';
  bytesSent: number;
  bytesReceived: number;
  /** Frames after the ConnectResponse that are not notifications. */
  replies: number;
  /** Inputs this connection counts for (see the accounting at the top). */
  inputs: number;
  violations: string[];
  error?: string;
  /** Everything the proxy sent (only with `keepOutput`). */
  output?: Buffer;
}

interface SentView {
  /**
   * Reply xids the requests sent allow: their xids, plus -2 for any ping and -4 for any auth
   * (ZooKeeper answers those with the fixed xid, whatever the request's).
   */
  xids: Set<number>;
  containsTenantsPath: boolean;
  containsIdentity: boolean;
  fourLetterWord: boolean;
}

const TENANTS_PATH = Buffer.from('/tenants/');
const IDENTITY = Buffer.from('zkproxy-tenant-');

function viewOfSent(bytes: Buffer): SentView {
  const xids = new Set<number>();
  const reader = new FrameReader(DEFAULT_MAX_FRAME_SIZE);
  let first = true;
  try {
    reader.push(bytes, (frame) => {
      if (!first && frame.length >= 8) xids.add(frame.readInt32BE(4));
      if (!first && frame.length >= 12 && frame.readInt32BE(8) === OpCode.ping) xids.add(-2);
      if (!first && frame.length >= 12 && frame.readInt32BE(8) === OpCode.auth) xids.add(-4);
      first = false;
    });
  } catch {
    // the proxy stops reading there too
  }
  return {
    xids,
    containsTenantsPath: bytes.includes(TENANTS_PATH),
    containsIdentity: bytes.includes(IDENTITY),
    fourLetterWord: bytes.length >= 4 && fourLetterWordOf(bytes.readInt32BE(0)) !== undefined,
  };
}

/** The output frames that contain `pattern`, described. */
function framesHolding(output: Buffer, pattern: Buffer): string {
  const found: string[] = [];
  const reader = new FrameReader(DEFAULT_MAX_FRAME_SIZE);
  let index = 0;
  try {
    reader.push(output, (frame) => {
      if (frame.includes(pattern)) {
        const xid = frame.length >= 8 ? frame.readInt32BE(4) : NaN;
        found.push(`frame ${index} (xid ${xid}): ${frame.toString('hex').slice(0, 400)}`);
      }
      index++;
    });
  } catch {
    // unframed: reported separately
  }
  if (found.length === 0) return `unframed output ${output.toString('hex').slice(0, 400)}`;
  return found.join(' | ');
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Sends one input over a fresh connection to 127.0.0.1:port and checks what came back. */
export function sendInput(
  port: number,
  input: FuzzInput,
  options: { hardTimeoutMs?: number; keepOutput?: boolean; onSocket?: (socket: Socket) => void } = {},
): Promise<Outcome> {
  const hardTimeoutMs = options.hardTimeoutMs ?? 10_000;
  const { delivery, bytes } = input;
  const pipeline = input.pipelinedFrames !== undefined;
  return new Promise<Outcome>((resolve) => {
    const socket: Socket = connect({ host: '127.0.0.1', port, noDelay: true });
    options.onSocket?.(socket);
    const received: Buffer[] = [];
    let bytesReceived = 0;
    let bytesSent = 0;
    let connected = false;
    let peerEnded = false;
    let peerReset = false;
    let weClosed: OutcomeKind | undefined;
    let error: string | undefined;
    let done = false;
    let replies = 0;
    // Parsed incrementally only for pipelines (to know when every frame was answered).
    const liveReader = pipeline ? new FrameReader(DEFAULT_MAX_FRAME_SIZE) : undefined;
    let liveFrames = 0;
    let wakeLinger: (() => void) | undefined;

    const hardTimer = setTimeout(() => closeNow('fuzzer-closed'), hardTimeoutMs);
    const closeNow = (kind: OutcomeKind, reset = false) => {
      if (socket.destroyed) return;
      weClosed ??= kind;
      if (reset) socket.resetAndDestroy();
      else socket.destroy();
    };

    socket.on('data', (chunk: Buffer) => {
      received.push(chunk);
      bytesReceived += chunk.length;
      if (liveReader !== undefined) {
        try {
          liveReader.push(chunk, (frame) => {
            if (liveFrames++ > 0 && frame.length >= 8 && frame.readInt32BE(4) !== -1) replies++;
          });
        } catch {
          // judged below
        }
        if (replies >= input.pipelinedFrames!) wakeLinger?.();
      }
    });
    socket.on('end', () => {
      peerEnded = true;
      wakeLinger?.();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (!connected) error = err.code ?? err.message;
      else if (err.code === 'ECONNRESET' && weClosed === undefined) peerReset = true;
      wakeLinger?.();
    });
    socket.on('close', () => {
      clearTimeout(hardTimer);
      wakeLinger?.();
      if (done) return;
      done = true;
      resolve(judge());
    });

    socket.once('connect', () => {
      connected = true;
      void write().catch(() => closeNow('fuzzer-closed'));
    });

    async function write(): Promise<void> {
      let offset = 0;
      for (let i = 0; i < delivery.chunks.length; i++) {
        if (socket.destroyed || peerEnded) break;
        const size = delivery.chunks[i]!;
        if (size > 0) socket.write(bytes.subarray(offset, offset + size));
        offset += size;
        bytesSent = offset;
        if (i < delivery.chunks.length - 1) {
          if (delivery.gapMs === -1) await turn();
          else if (delivery.gapMs > 0) await sleep(delivery.gapMs);
        }
      }
      if (socket.destroyed) return;
      switch (delivery.close) {
        case 'abort-destroy':
          return closeNow('fuzzer-aborted');
        case 'abort-reset':
          // Let the written bytes leave first, or the reset discards them unsent.
          await turn();
          return closeNow('fuzzer-aborted', true);
        case 'abort-half-close':
          socket.end();
          weClosed = 'fuzzer-aborted';
          await linger(Math.min(delivery.lingerMs, 100));
          return closeNow('fuzzer-aborted');
        case 'half-close':
          socket.end();
          await linger(delivery.lingerMs);
          return closeNow('fuzzer-closed');
        case 'linger':
          await linger(delivery.lingerMs);
          return closeNow('fuzzer-closed');
      }
    }

    async function linger(ms: number): Promise<void> {
      if (delivery.awaitHandshake && bytesReceived === 0) await waitForWake(2_000, () => bytesReceived > 0);
      return waitForWake(ms);
    }

    function waitForWake(ms: number, until?: () => boolean): Promise<void> {
      if (peerEnded || socket.destroyed) return Promise.resolve();
      if (pipeline && replies >= input.pipelinedFrames!) return Promise.resolve();
      return new Promise<void>((resolveLinger) => {
        const timer = setTimeout(finish, ms);
        const onData = () => {
          if (until?.()) finish();
        };
        if (until !== undefined) socket.on('data', onData);
        function finish() {
          clearTimeout(timer);
          socket.off('data', onData);
          wakeLinger = undefined;
          resolveLinger();
        }
        wakeLinger = finish;
      });
    }

    function judge(): Outcome {
      const violations: string[] = [];
      let kind: OutcomeKind;
      if (!connected) kind = 'connect-error';
      else if (weClosed !== undefined && !peerEnded && !peerReset) kind = weClosed;
      else kind = peerReset ? 'proxy-reset' : weClosed === 'fuzzer-aborted' ? 'fuzzer-aborted' : 'proxy-closed';
      if (kind === 'connect-error') violations.push(`connect-error: ${error ?? 'no connection'}`);

      const output = Buffer.concat(received);
      const sent = viewOfSent(bytes.subarray(0, bytesSent));
      let handshake: Outcome['handshake'] = 'none';
      if (output.length > 0 && !sent.fourLetterWord) {
        const frames: Buffer[] = [];
        const reader = new FrameReader(DEFAULT_MAX_FRAME_SIZE);
        try {
          reader.push(output, (frame) => frames.push(frame));
          // Only a clean close promises whole frames: a reset may drop what was still in flight.
          if (reader.buffered > 0 && kind === 'proxy-closed') {
            violations.push(`unframed-output: ${reader.buffered} bytes of a partial frame at the end`);
          }
        } catch (err) {
          violations.push(`unframed-output: ${(err as Error).message}`);
        }
        if (frames.length > 0) {
          try {
            handshake = decodeConnectResponse(frames[0]!).timeOut > 0 ? 'session' : 'expired';
          } catch (err) {
            violations.push(`bad-handshake: ${(err as Error).message}`);
          }
        }
        replies = 0;
        for (const frame of frames.slice(1)) {
          const xid = frame.length >= 8 ? frame.readInt32BE(4) : NaN;
          if (xid === -1) continue;
          replies++;
          if (!sent.xids.has(xid)) violations.push(`unexpected-xid: reply xid ${xid} (${frame.length - 4} bytes) answers no request sent`);
        }
      }
      for (const [name, pattern, allowed] of [
        ['chroot-leak', TENANTS_PATH, sent.containsTenantsPath],
        ['identity-leak', IDENTITY, sent.containsIdentity],
      ] as const) {
        if (allowed || !output.includes(pattern)) continue;
        violations.push(`${name}: ${pattern.toString()} in ${framesHolding(output, pattern)}`);
      }

      let inputs = 1;
      if (pipeline) {
        const answered = Math.min(replies, input.pipelinedFrames!);
        const closedEarly = (kind === 'proxy-closed' || kind === 'proxy-reset') && answered < input.pipelinedFrames!;
        inputs = Math.min(input.pipelinedFrames!, answered + (closedEarly && handshake === 'session' ? 1 : 0));
      }
      return {
        kind,
        handshake,
        bytesSent,
        bytesReceived,
        replies,
        inputs,
        violations,
        ...(error === undefined ? {} : { error }),
        ...(options.keepOutput ? { output } : {}),
      };
    }
  });
}

// ------------------------------------------------------------------ running many

export interface FuzzOptions {
  port: number;
  seed: number;
  mix: FuzzMix;
  concurrency: number;
  /** Stop issuing inputs once this many connections were started... */
  connections?: number;
  /** ...or once this many inputs were counted (see the accounting at the top). */
  inputs?: number;
  corpus?: Corpus;
  /** Called about every `progressMs` with the stats so far. */
  onProgress?: (stats: FuzzStats) => void;
  progressMs?: number;
  /** Stop early (e.g. the proxy died). Checked before each new connection. */
  shouldStop?: () => boolean;
  /** Keep the first N violating inputs in full (default 20). */
  keepViolations?: number;
}

export interface FuzzViolation {
  index: number;
  generator: string;
  violations: string[];
  input: string;
}

export interface FuzzStats {
  seed: number;
  mix: FuzzMix;
  connections: number;
  inputs: number;
  /** pipeline inputs: frames sent and frames counted as processed. */
  pipelinedFramesSent: number;
  pipelinedFramesCounted: number;
  bytesSent: number;
  bytesReceived: number;
  sessions: number;
  expiredHandshakes: number;
  byGenerator: Record<string, number>;
  byOutcome: Record<string, number>;
  violationCount: number;
  violations: FuzzViolation[];
  durationMs: number;
  inputsPerSecond: number;
  connectionsPerSecond: number;
}

export async function runFuzz(options: FuzzOptions): Promise<FuzzStats> {
  const corpus = options.corpus ?? loadCorpus();
  const keep = options.keepViolations ?? 20;
  const startedAt = performance.now();
  const stats: FuzzStats = {
    seed: options.seed,
    mix: options.mix,
    connections: 0,
    inputs: 0,
    pipelinedFramesSent: 0,
    pipelinedFramesCounted: 0,
    bytesSent: 0,
    bytesReceived: 0,
    sessions: 0,
    expiredHandshakes: 0,
    byGenerator: {},
    byOutcome: {},
    violationCount: 0,
    violations: [],
    durationMs: 0,
    inputsPerSecond: 0,
    connectionsPerSecond: 0,
  };
  const refresh = () => {
    stats.durationMs = performance.now() - startedAt;
    stats.inputsPerSecond = stats.inputs / (stats.durationMs / 1000);
    stats.connectionsPerSecond = stats.connections / (stats.durationMs / 1000);
    return stats;
  };
  let next = 0;
  const more = () =>
    !(options.shouldStop?.() ?? false) &&
    (options.connections === undefined || next < options.connections) &&
    (options.inputs === undefined || stats.inputs < options.inputs);
  const progress =
    options.onProgress === undefined ? undefined : setInterval(() => options.onProgress!(refresh()), options.progressMs ?? 5_000);

  const worker = async () => {
    while (more()) {
      const index = next++;
      const input = fuzzInput(corpus, options.seed, index, options.mix);
      const outcome = await sendInput(options.port, input);
      stats.connections++;
      stats.inputs += outcome.inputs;
      if (input.pipelinedFrames !== undefined) {
        stats.pipelinedFramesSent += input.pipelinedFrames;
        stats.pipelinedFramesCounted += outcome.inputs;
      }
      stats.bytesSent += outcome.bytesSent;
      stats.bytesReceived += outcome.bytesReceived;
      if (outcome.handshake === 'session') stats.sessions++;
      if (outcome.handshake === 'expired') stats.expiredHandshakes++;
      stats.byGenerator[input.generator] = (stats.byGenerator[input.generator] ?? 0) + 1;
      const outcomeKey = outcome.error === undefined ? outcome.kind : `${outcome.kind}:${outcome.error}`;
      stats.byOutcome[outcomeKey] = (stats.byOutcome[outcomeKey] ?? 0) + 1;
      if (outcome.violations.length > 0) {
        stats.violationCount++;
        if (stats.violations.length < keep)
          stats.violations.push({ index, generator: input.generator, violations: outcome.violations, input: describeInput(input, 512) });
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: options.concurrency }, worker));
  } finally {
    if (progress !== undefined) clearInterval(progress);
  }
  return refresh();
}

export function formatStats(stats: FuzzStats): string {
  const sorted = (record: Record<string, number>) =>
    Object.entries(record)
      .sort((a, b) => b[1] - a[1])
      .map(([key, n]) => `${key}=${n}`)
      .join(' ');
  const lines = [
    `seed ${stats.seed} (${stats.mix} mix): ${stats.inputs} inputs over ${stats.connections} connections in ${(stats.durationMs / 1000).toFixed(1)} s` +
      ` = ${Math.round(stats.inputsPerSecond)} inputs/s, ${Math.round(stats.connectionsPerSecond)} connections/s`,
    `  pipelined frames: ${stats.pipelinedFramesCounted} counted of ${stats.pipelinedFramesSent} sent; sessions opened: ${stats.sessions}, expired/invalid handshakes: ${stats.expiredHandshakes}`,
    `  bytes: ${stats.bytesSent} sent, ${stats.bytesReceived} received`,
    `  generators: ${sorted(stats.byGenerator)}`,
    `  outcomes: ${sorted(stats.byOutcome)}`,
    `  violations: ${stats.violationCount}`,
  ];
  for (const violation of stats.violations)
    lines.push(`  - ${violation.violations.join('; ')}\n    ${violation.input.replaceAll('\n', '\n    ')}`);
  return lines.join('\n');
}

/** The proxy's output split into frames, one line each (xid, zxid, err and the body in hex and text). */
export function describeOutput(output: Buffer): string {
  const lines: string[] = [];
  const reader = new FrameReader(DEFAULT_MAX_FRAME_SIZE);
  let index = 0;
  try {
    reader.push(output, (frame) => {
      if (index++ === 0 || frame.length < 20) {
        lines.push(`  [${index - 1}] ${frame.toString('hex')}`);
        return;
      }
      const body = frame.subarray(20);
      lines.push(
        `  [${index - 1}] xid ${frame.readInt32BE(4)} zxid 0x${frame.readBigInt64BE(8).toString(16)} err ${frame.readInt32BE(16)} body ${body.toString('hex')} ${JSON.stringify(body.toString('latin1').replace(/[^\x20-\x7e]/g, '.'))}`,
      );
    });
  } catch (error) {
    lines.push(`  unframed: ${(error as Error).message}; raw ${output.toString('hex')}`);
  }
  if (reader.buffered > 0) lines.push(`  (${reader.buffered} bytes of a partial frame)`);
  return lines.join('\n');
}
