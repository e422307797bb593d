// Property tests: random records round-trip exactly; random and mutated bytes only ever produce a
// ProtocolError (never another exception, never a hang) and decode without allocating beyond the frame.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeConnectRequest,
  decodeConnectResponse,
  decodeReply,
  decodeRequest,
  encodeConnectRequest,
  encodeConnectResponse,
  encodeReply,
  encodeRequest,
  FrameReader,
  mapPaths,
  OPCODES,
  ProtocolError,
  Records,
  REJECT,
  type Reply,
  type Request,
} from 'jute-ts';
import { arbRecord } from './arbitraries.ts';

const requestOps = OPCODES.filter((info) => info.clientRequest);
const replyOps = OPCODES.filter((info) => info.response !== null || info.clientRequest);

const arbRequest: fc.Arbitrary<Request> = fc.oneof(
  ...requestOps.map((info) =>
    fc
      .tuple(fc.integer({ min: -8, max: 0x7fffffff }), info.request === null ? fc.constant(undefined) : arbRecord(info.request))
      .map(([xid, body]): Request => (body === undefined ? { xid, opcode: info.code } : { xid, opcode: info.code, body })),
  ),
);

const arbReply: fc.Arbitrary<[Reply, number]> = fc.oneof(
  ...replyOps.map((info) =>
    fc
      .tuple(
        fc.integer({ min: 1, max: 0x7fffffff }),
        fc.bigInt({ min: -1n, max: 1n << 62n }),
        info.response === null ? fc.constant(undefined) : arbRecord(info.response),
      )
      .map(([xid, zxid, body]): [Reply, number] => {
        // A notification (opcode 0) travels with xid -1.
        const reply: Reply = { xid: info.code === 0 ? -1 : xid, zxid, err: 0 };
        if (body !== undefined) reply.body = body;
        return [reply, info.code];
      }),
  ),
);

/** Frames of every kind, valid by construction: the seeds of the mutation fuzzer. */
const arbValidFrame: fc.Arbitrary<{ frame: Buffer; opcode: number | undefined }> = fc.oneof(
  arbRequest.map((request) => ({ frame: encodeRequest(request), opcode: undefined })),
  arbReply.map(([reply, opcode]) => ({ frame: encodeReply(reply, opcode), opcode })),
  arbRecord(Records.ConnectRequest).map((v) => ({ frame: encodeConnectRequest(v as never), opcode: undefined })),
);

function onlyProtocolErrors(action: () => unknown): void {
  try {
    action();
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
  }
}

/** Everything a decoder could allocate in proportion to its input: string and buffer bytes, array slots. */
function footprint(value: unknown, frame: Buffer): number {
  // Each input byte decodes to at most one UTF-16 unit (invalid UTF-8 becomes U+FFFD).
  if (typeof value === 'string') return value.length;
  if (Buffer.isBuffer(value)) {
    // A decoded buffer must be a view of the frame, not a copy.
    expect(value.buffer).toBe(frame.buffer);
    return value.length;
  }
  if (Array.isArray(value)) return value.reduce((sum: number, item) => sum + 1 + footprint(item, frame), 0);
  if (value !== null && typeof value === 'object')
    return Object.values(value).reduce((sum: number, item) => sum + footprint(item, frame), 0);
  return 0;
}

/** Every decoder and the path mapper over one frame; replies as the answer to `replyOpcode`. */
function decodeEverything(frame: Buffer, replyOpcode: number): void {
  onlyProtocolErrors(() => expect(footprint(decodeRequest(frame), frame)).toBeLessThanOrEqual(frame.length));
  onlyProtocolErrors(() => decodeConnectRequest(frame));
  onlyProtocolErrors(() => decodeConnectResponse(frame));
  onlyProtocolErrors(() => mapPaths(frame, { direction: 'request' }, (p) => (p === null ? REJECT : `/chroot${p}`)));
  onlyProtocolErrors(() => expect(footprint(decodeReply(frame, replyOpcode), frame)).toBeLessThanOrEqual(frame.length));
  onlyProtocolErrors(() => mapPaths(frame, { direction: 'reply', opcode: replyOpcode }, (p) => (p === null ? p : p.slice(3))));
}

const arbReplyOpcode = fc.constantFrom(...replyOps.map((info) => info.code));

const frameOf = (payload: Uint8Array): Buffer => {
  const frame = Buffer.allocUnsafe(4 + payload.length);
  frame.writeInt32BE(payload.length, 0);
  frame.set(payload, 4);
  return frame;
};

describe('round trips of random records', () => {
  it('every request opcode: decode(encode(x)) equals x and re-encodes to the same bytes', () => {
    fc.assert(
      fc.property(arbRequest, (request) => {
        const frame = encodeRequest(request);
        const decoded = decodeRequest(frame);
        expect(decoded).toEqual(request);
        expect(encodeRequest(decoded)).toEqual(frame);
      }),
      { numRuns: 5_000 },
    );
  });

  it('every reply opcode, notifications included', () => {
    fc.assert(
      fc.property(arbReply, ([reply, opcode]) => {
        const frame = encodeReply(reply, opcode);
        const decoded = decodeReply(frame, opcode);
        expect(decoded).toEqual(reply);
        expect(encodeReply(decoded, opcode)).toEqual(frame);
      }),
      { numRuns: 5_000 },
    );
  });

  it('handshake records, with and without the readOnly byte', () => {
    fc.assert(
      fc.property(arbRecord(Records.ConnectRequest), arbRecord(Records.ConnectResponse), (request, response) => {
        const requestFrame = encodeConnectRequest(request as never);
        expect(decodeConnectRequest(requestFrame)).toEqual(request);
        const responseFrame = encodeConnectResponse(response as never);
        expect(decodeConnectResponse(responseFrame)).toEqual(response);
      }),
      { numRuns: 2_000 },
    );
  });
});

// The runs are counted, not timed: on a loaded 2-core machine 100,000 cases take over a minute.
const HOSTILE_TIMEOUT_MS = 300_000;

describe('hostile bytes', () => {
  // 60,000 random + 50,000 mutated frames, each through every decoder: > 100,000 cases per run.
  it(
    'random payloads yield decoded values or a ProtocolError, nothing else',
    () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 96 }), arbReplyOpcode, (payload, opcode) => decodeEverything(frameOf(payload), opcode)),
        { numRuns: 60_000 },
      );
    },
    HOSTILE_TIMEOUT_MS,
  );

  it(
    'mutated valid frames (bit flips, truncation, insertion) yield decoded values or a ProtocolError',
    () => {
      const mutation = fc.oneof(
        fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
        fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
        fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
        fc.record({ kind: fc.constant('length' as const), at: fc.nat(), value: fc.constantFrom(-2, -1, 0, 0x7fffffff, 0x100000, 65536) }),
      );
      fc.assert(
        fc.property(
          arbValidFrame,
          fc.array(mutation, { minLength: 1, maxLength: 3 }),
          arbReplyOpcode,
          ({ frame, opcode }, mutations, otherOpcode) => {
            let payload = Buffer.from(frame.subarray(4));
            for (const m of mutations) {
              if (payload.length === 0) break;
              const at = m.at % payload.length;
              if (m.kind === 'flip') payload[at]! ^= 1 << m.bit;
              else if (m.kind === 'truncate') payload = payload.subarray(0, at);
              else if (m.kind === 'insert') payload = Buffer.concat([payload.subarray(0, at), m.bytes, payload.subarray(at)]);
              else if (at + 4 <= payload.length) payload.writeInt32BE(m.value, at);
            }
            decodeEverything(frameOf(payload), opcode ?? otherOpcode);
          },
        ),
        { numRuns: 50_000 },
      );
    },
    HOSTILE_TIMEOUT_MS,
  );

  it('a frame whose prefix disagrees with its size is a frameLengthMismatch error', () => {
    const frame = encodeRequest({ xid: 1, opcode: 4, body: { path: '/a', watch: false } });
    const lying = Buffer.from(frame);
    lying.writeInt32BE(frame.length, 0);
    expect(() => decodeRequest(lying)).toThrow(expect.objectContaining({ kind: 'frameLengthMismatch' }));
  });

  it('a vector count larger than the frame is refused before any allocation', () => {
    // getChildren reply claiming 2^31-1 children in a 24-byte frame.
    const frame = Buffer.from('0000001400000001000000000000000100000000' + '7fffffff', 'hex');
    expect(() => decodeReply(frame, 8)).toThrow(expect.objectContaining({ kind: 'truncated', length: 0x7fffffff }));
  });

  it('an unknown request opcode is an unknownOpcode error', () => {
    const frame = Buffer.from('000000080000000100000063', 'hex'); // opcode 99
    expect(() => decodeRequest(frame)).toThrow(expect.objectContaining({ kind: 'unknownOpcode' }));
  });

  it('a multi entry with an op that cannot appear in multi is an unknownMultiOp error', () => {
    // multi with a getACL (6) entry
    const frame = Buffer.from('00000017' + '00000001' + '0000000e' + '00000006' + '00' + 'ffffffff' + '00000002' + '2f61', 'hex');
    expect(() => decodeRequest(frame)).toThrow(expect.objectContaining({ kind: 'unknownMultiOp' }));
  });
});

describe('FrameReader', () => {
  it('yields the same frames however the stream is cut into chunks', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 40 }), { minLength: 1, maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 17 }), { minLength: 1, maxLength: 30 }),
        (payloads, cuts) => {
          const frames = payloads.map(frameOf);
          const stream = Buffer.concat(frames);
          const reader = new FrameReader(1000);
          const seen: Buffer[] = [];
          let pos = 0;
          let i = 0;
          while (pos < stream.length) {
            const size = cuts[i++ % cuts.length]!;
            reader.push(stream.subarray(pos, pos + size), (frame) => seen.push(Buffer.from(frame)));
            pos += size;
          }
          expect(seen).toEqual(frames);
          expect(reader.buffered).toBe(0);
        },
      ),
      { numRuns: 3_000 },
    );
  });

  it('streams the frames its FrameStream accepts piece by piece: the same bytes, the same order, none assembled', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 60 }), { minLength: 1, maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 23 }), { minLength: 1, maxLength: 30 }),
        fc.boolean(),
        (payloads, cuts, acceptAll) => {
          const frames = payloads.map(frameOf);
          const stream = Buffer.concat(frames);
          const reader = new FrameReader(1000);
          const out: Buffer[] = []; // everything handed on, in order, whole frames and pieces alike
          let streamed = 0;
          let open = false;
          const sink = {
            headerBytes: 8,
            begin: (header: Buffer) => {
              expect(open).toBe(false);
              const accept = acceptAll || header[4]! % 2 === 0;
              if (accept) (open = true), streamed++;
              return accept;
            },
            piece: (bytes: Buffer, last: boolean) => {
              expect(open).toBe(true);
              out.push(Buffer.from(bytes));
              if (last) open = false;
            },
          };
          let pos = 0;
          let i = 0;
          while (pos < stream.length) {
            const size = cuts[i++ % cuts.length]!;
            reader.push(stream.subarray(pos, pos + size), (frame) => out.push(Buffer.from(frame)), sink);
            pos += size;
          }
          expect(Buffer.concat(out)).toEqual(stream);
          expect(open).toBe(false);
          expect(reader.buffered).toBe(0);
          if (!acceptAll) expect(streamed).toBeLessThanOrEqual(frames.length);
        },
      ),
      { numRuns: 3_000 },
    );
  });

  it('a frame streamed arrives as views of the chunks it came in, without a frame-sized buffer', () => {
    const frame = frameOf(Buffer.alloc(96, 7));
    const chunks = [frame.subarray(0, 30), frame.subarray(30, 60), frame.subarray(60, 90), frame.subarray(90)];
    const pieces: { bytes: Buffer; last: boolean }[] = [];
    const reader = new FrameReader(1000);
    const sink = { headerBytes: 20, begin: () => true, piece: (bytes: Buffer, last: boolean) => pieces.push({ bytes, last }) };
    for (const chunk of chunks) {
      reader.push(chunk, () => expect.unreachable('no whole frame'), sink);
      expect(reader.buffered).toBe(0);
    }
    expect(pieces.map((p) => [p.bytes.buffer === frame.buffer, p.bytes.length, p.last])).toEqual([
      [true, 30, false],
      [true, 30, false],
      [true, 30, false],
      [true, 10, true],
    ]);
  });

  it('hands out frames that arrive whole as views of the chunk (no copy)', () => {
    const chunk = Buffer.concat([frameOf(Buffer.from('abc')), frameOf(Buffer.from('de'))]);
    const seen: Buffer[] = [];
    new FrameReader().push(chunk, (frame) => seen.push(frame));
    expect(seen.map((f) => f.buffer === chunk.buffer)).toEqual([true, true]);
  });

  it('refuses an oversized length before allocating, and reports the length (for four-letter words)', () => {
    const reader = new FrameReader(1024);
    expect(() => reader.push(Buffer.from('ruok'), () => {})).toThrow(
      expect.objectContaining({ kind: 'frameTooLarge', length: 0x72756f6b }),
    );
    expect(() => new FrameReader().push(Buffer.from('ffffffff', 'hex'), () => {})).toThrow(
      expect.objectContaining({ kind: 'negativeLength' }),
    );
    expect(() => new FrameReader(10).push(Buffer.from('0000000b', 'hex'), () => {})).toThrow(
      expect.objectContaining({ kind: 'frameTooLarge' }),
    );
  });

  it('delivers zero-length frames and counts buffered bytes', () => {
    const reader = new FrameReader();
    const seen: Buffer[] = [];
    reader.push(Buffer.from('0000', 'hex'), (f) => seen.push(f));
    expect(reader.buffered).toBe(2);
    reader.push(Buffer.from('000000000003aa', 'hex'), (f) => seen.push(Buffer.from(f)));
    expect(seen).toEqual([Buffer.from('00000000', 'hex')]);
    expect(reader.buffered).toBe(5);
  });
});
