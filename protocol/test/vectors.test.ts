// Byte vectors checked against Debian's zookeeper-jute-3.8.0 classes (shared/reference/zookeeper-wire.md §12).
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
  ErrorCode,
  OpCode,
  type MultiValue,
} from 'jute-ts';

const hex = (s: string) => Buffer.from(s.replace(/[\s|]/g, ''), 'hex');
const zeros = (n: number) => '00'.repeat(n);

describe('handshake vectors', () => {
  it('ConnectRequest for a new session with the readOnly byte (45 bytes)', () => {
    const frame = hex(`0000002d 00000000 0000000000000000 00007530 0000000000000000 00000010 ${zeros(16)} 00`);
    const value = decodeConnectRequest(frame);
    expect(value).toEqual({
      protocolVersion: 0,
      lastZxidSeen: 0n,
      timeOut: 30000,
      sessionId: 0n,
      passwd: Buffer.alloc(16),
      readOnly: false,
    });
    expect(encodeConnectRequest(value)).toEqual(frame);
  });

  it('ConnectRequest of a 3.3-style client without the readOnly byte (44 bytes)', () => {
    const frame = hex(`0000002c 00000000 0000000000000000 00007530 0000000000000000 00000010 ${zeros(16)}`);
    const value = decodeConnectRequest(frame);
    expect(value.readOnly).toBeUndefined();
    expect(encodeConnectRequest(value)).toEqual(frame);
  });

  it('ConnectResponse with a session and password', () => {
    const frame = hex('00000025 00000000 00007530 01000000abcdef01 00000010 0102030405060708090a0b0c0d0e0f10 00');
    const value = decodeConnectResponse(frame);
    expect(value.sessionId).toBe(0x01000000abcdef01n);
    expect(value.timeOut).toBe(30000);
    expect(value.passwd).toEqual(hex('0102030405060708090a0b0c0d0e0f10'));
    expect(encodeConnectResponse(value)).toEqual(frame);
  });

  it('ConnectResponse of an expired session: timeOut 0, id 0, zero password', () => {
    const frame = hex(`00000025 00000000 00000000 0000000000000000 00000010 ${zeros(16)} 00`);
    const value = decodeConnectResponse(frame);
    expect(value).toMatchObject({ timeOut: 0, sessionId: 0n, readOnly: false });
    expect(encodeConnectResponse(value)).toEqual(frame);
  });
});

describe('request and reply vectors', () => {
  const cases: { name: string; frame: string; opcode: number; direction: 'request' | 'reply'; expected?: object }[] = [
    {
      name: 'ping request',
      frame: '00000008 fffffffe 0000000b',
      opcode: OpCode.ping,
      direction: 'request',
      expected: { xid: -2, opcode: 11 },
    },
    {
      name: 'ping reply',
      frame: '00000010 fffffffe 0000000100000005 00000000',
      opcode: OpCode.ping,
      direction: 'reply',
      expected: { xid: -2, zxid: 0x100000005n, err: 0 },
    },
    {
      name: 'closeSession',
      frame: '00000008 00000007 fffffff5',
      opcode: OpCode.closeSession,
      direction: 'request',
      expected: { xid: 7, opcode: -11 },
    },
    {
      name: 'getData "/a" watch',
      frame: '0000000f 00000001 00000004 00000002 2f61 01',
      opcode: OpCode.getData,
      direction: 'request',
      expected: { xid: 1, opcode: 4, body: { path: '/a', watch: true } },
    },
    {
      name: 'create "/a" data x OPEN_ACL',
      frame: '00000032 00000002 00000001 00000002 2f61 00000001 78 00000001 0000001f 00000005 776f726c64 00000006 616e796f6e65 00000000',
      opcode: OpCode.create,
      direction: 'request',
      expected: { body: { path: '/a', data: Buffer.from('x'), acl: [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }], flags: 0 } },
    },
    {
      name: 'create reply',
      frame: '00000016 00000002 0000000100000006 00000000 00000002 2f61',
      opcode: OpCode.create,
      direction: 'reply',
      expected: { body: { path: '/a' } },
    },
    {
      name: 'error reply NONODE',
      frame: '00000010 00000003 0000000100000007 ffffff9b',
      opcode: OpCode.getData,
      direction: 'reply',
      expected: { err: ErrorCode.NONODE },
    },
    {
      name: 'notification NodeDataChanged "/a"',
      frame: '0000001e ffffffff ffffffffffffffff 00000000 00000003 00000003 00000002 2f61',
      opcode: OpCode.notification,
      direction: 'reply',
      expected: { xid: -1, zxid: -1n, body: { type: 3, state: 3, path: '/a' } },
    },
    {
      name: 'auth digest user:pw',
      frame: '00000021 fffffffc 00000064 00000000 00000006 646967657374 00000007 757365723a7077',
      opcode: OpCode.auth,
      direction: 'request',
      expected: { xid: -4, body: { type: 0, scheme: 'digest', auth: Buffer.from('user:pw') } },
    },
    { name: 'auth reply', frame: '00000010 fffffffc 0000000000000000 00000000', opcode: OpCode.auth, direction: 'reply' },
    {
      name: 'multi create + delete',
      frame:
        '00000056 00000004 0000000e | 00000001 00 ffffffff | 00000002 2f61 00000000 00000001 0000001f 00000005 776f726c64 00000006 616e796f6e65 00000000 | 00000002 00 ffffffff | 00000002 2f62 ffffffff | ffffffff 01 ffffffff',
      opcode: OpCode.multi,
      direction: 'request',
    },
    {
      name: 'multi reply success',
      frame:
        '00000031 00000004 0000000100000007 00000000 | 00000001 00 00000000 | 00000002 2f61 | 00000002 00 00000000 | ffffffff 01 ffffffff',
      opcode: OpCode.multi,
      direction: 'reply',
    },
    {
      name: 'multi reply failed at op 2',
      frame:
        '00000033 00000004 0000000100000007 00000000 | ffffffff 00 00000000 | 00000000 | ffffffff 00 ffffff9b | ffffff9b | ffffffff 01 ffffffff',
      opcode: OpCode.multi,
      direction: 'reply',
    },
    {
      name: 'setWatches xid -8',
      frame: '00000027 fffffff8 00000065 0000000100000005 00000001 00000002 2f61 00000000 00000001 00000001 2f',
      opcode: OpCode.setWatches,
      direction: 'request',
      expected: { xid: -8, body: { relativeZxid: 0x100000005n, dataWatches: ['/a'], existWatches: [], childWatches: ['/'] } },
    },
    {
      name: 'addWatch recursive',
      frame: '00000012 00000005 0000006a 00000002 2f61 00000001',
      opcode: OpCode.addWatch,
      direction: 'request',
      expected: { body: { path: '/a', mode: 1 } },
    },
    {
      name: 'addWatch reply',
      frame: '00000014 00000005 0000000100000007 00000000 00000000',
      opcode: OpCode.addWatch,
      direction: 'reply',
      expected: { body: { err: 0 } },
    },
  ];

  for (const c of cases) {
    it(`${c.name}: decodes and re-encodes byte for byte`, () => {
      const frame = hex(c.frame);
      if (c.direction === 'request') {
        const value = decodeRequest(frame);
        if (c.expected) expect(value).toMatchObject(c.expected);
        expect(value.extra).toBeUndefined();
        expect(encodeRequest(value)).toEqual(frame);
      } else {
        const value = decodeReply(frame, c.opcode);
        if (c.expected) expect(value).toMatchObject(c.expected);
        expect(value.extra).toBeUndefined();
        expect(encodeReply(value, c.opcode)).toEqual(frame);
      }
    });
  }

  it('multi failure results carry their code in header and body', () => {
    const frame = hex(
      '00000033 00000004 0000000100000007 00000000 | ffffffff 00 00000000 | 00000000 | ffffffff 00 ffffff9b | ffffff9b | ffffffff 01 ffffffff',
    );
    const multi = decodeReply(frame, OpCode.multi).body!.results as MultiValue;
    expect(multi.entries.map((e) => [e.header.type, e.header.err, e.body])).toEqual([
      [-1, 0, { err: 0 }],
      [-1, -101, { err: -101 }],
      [-1, -1, undefined],
    ]);
  });

  it('multiRead request with getData and getChildren sub-ops', () => {
    const body = hex('00000004 00 ffffffff 00000002 2f61 00 | 00000008 00 ffffffff 00000002 2f62 00 | ffffffff 01 ffffffff');
    const frame = Buffer.concat([hex(`${(8 + body.length).toString(16).padStart(8, '0')} 00000009 00000016`), body]);
    const value = decodeRequest(frame);
    const ops = (value.body!.ops as MultiValue).entries;
    expect(ops.map((e) => e.body?.path)).toEqual(['/a', '/b', undefined]);
    expect(encodeRequest(value)).toEqual(frame);
  });

  it('an error reply with a body keeps the body as extra bytes (SASL failure)', () => {
    const frame = hex('00000014 00000009 0000000000000000 ffffff8d ffffffff');
    const value = decodeReply(frame, OpCode.sasl);
    expect(value.err).toBe(ErrorCode.AUTHFAILED);
    expect(value.body).toBeUndefined();
    expect(value.extra).toEqual(hex('ffffffff'));
    expect(encodeReply(value, OpCode.sasl)).toEqual(frame);
  });
});
