// Clients that break the protocol's order get a clean close (or ZooKeeper's own error reply),
// a metric, and nothing reaches the ensemble on their behalf.
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  encodeConnectRequest,
  encodeRequest,
  ErrorCode,
  FrameReader,
  OpCode,
  Perms,
  readReplyHeader,
  encodeNewSessionRequest,
} from 'jute-ts';
import { JuteClient } from 'jute-ts/client';
import { LocalEnsemble } from '../src/embedded/ensemble.ts';
import { ServerTree } from './support/server-tree.ts';
import { startInProcessProxy, type InProcessProxy } from './support/proxy.ts';

let ensemble: LocalEnsemble;
let proxy: InProcessProxy;
let tree: ServerTree;

beforeAll(async () => {
  ensemble = await LocalEnsemble.start({ size: 1 });
  proxy = await startInProcessProxy(ensemble.connectString(), [{ name: 'alpha' }]);
  tree = await ServerTree.open(ensemble);
  const setup = await JuteClient.connect({ port: proxy.port('alpha') });
  await setup.close();
}, 60_000);

afterAll(async () => {
  await tree?.client.close();
  await proxy?.close();
  await ensemble?.close();
});

const OPEN = [{ perms: Perms.ALL, id: { scheme: 'world', id: 'anyone' } }];
const newSession = () => encodeNewSessionRequest(10_000);
const createFrame = (xid: number, path: string) =>
  encodeRequest({ xid, opcode: OpCode.create, body: { path, data: null, acl: OPEN, flags: 0 } });

/** Sends bytes on a raw connection and collects every frame until the proxy closes it. */
function exchange(chunks: Buffer[], gapMs = 50): Promise<{ frames: Buffer[]; closed: boolean }> {
  return new Promise((resolve) => {
    const socket: Socket = connect({ host: '127.0.0.1', port: proxy.port('alpha') });
    const reader = new FrameReader();
    const frames: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ frames, closed: false });
    }, 5_000);
    socket.on('data', (chunk) => reader.push(chunk, (frame) => frames.push(Buffer.from(frame))));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ frames, closed: true });
    });
    socket.on('connect', async () => {
      for (const chunk of chunks) {
        socket.write(chunk);
        await new Promise((r) => setTimeout(r, gapMs));
      }
    });
  });
}

async function refusedCount(): Promise<number> {
  const text = await (await fetch(`${proxy.adminUrl}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith('zkproxy_refused_total{') || line.startsWith('zkproxy_decode_errors_total{'))
    .reduce((sum, line) => sum + Number(line.split(' ').pop()), 0);
}

describe('protocol misuse', () => {
  it('a request sent before any ConnectRequest: closed, nothing answered, nothing created', async () => {
    const before = await refusedCount();
    const { frames, closed } = await exchange([createFrame(1, '/before-handshake')]);
    expect(closed).toBe(true);
    expect(frames).toEqual([]);
    expect(await tree.exists('/tenants/alpha/before-handshake')).toBe(false);
    expect(await refusedCount()).toBeGreaterThan(before);
  });

  it('a second ConnectRequest on an established session: answered UNIMPLEMENTED and closed, as ZooKeeper does', async () => {
    const before = await refusedCount();
    const { frames, closed } = await exchange(
      [newSession(), createFrame(1, '/first'), newSession(), createFrame(2, '/after-second-connect')],
      200,
    );
    expect(closed).toBe(true);
    // ConnectResponse, the create reply, then the proxy's answer to the bogus "request".
    expect(frames.length).toBe(3);
    expect(readReplyHeader(frames[1]!)).toEqual([1, ErrorCode.OK]);
    expect(readReplyHeader(frames[2]!)[1]).toBe(ErrorCode.UNIMPLEMENTED);
    expect(await tree.exists('/tenants/alpha/first')).toBe(true);
    expect(await tree.exists('/tenants/alpha/after-second-connect')).toBe(false);
    expect(await refusedCount()).toBeGreaterThan(before);
  });

  it('garbage after closeSession is never forwarded, and the connection ends', async () => {
    const close = encodeRequest({ xid: 2, opcode: OpCode.closeSession });
    const { frames, closed } = await exchange(
      [
        Buffer.concat([newSession()]),
        Buffer.concat([createFrame(1, '/before-close'), close, createFrame(3, '/after-close'), Buffer.from('garbage!')]),
      ],
      100,
    );
    expect(closed).toBe(true);
    expect(frames.length).toBeGreaterThanOrEqual(2); // ConnectResponse, create reply (and closeSession's when it beats the close)
    expect(await tree.exists('/tenants/alpha/before-close')).toBe(true);
    expect(await tree.exists('/tenants/alpha/after-close')).toBe(false);
  });

  it('a ConnectRequest with a password that is not 16 bytes is not a ZooKeeper client: closed before any backend is opened', async () => {
    const bad = encodeConnectRequest({
      protocolVersion: 0,
      lastZxidSeen: 0n,
      timeOut: 10_000,
      sessionId: 0n,
      passwd: Buffer.alloc(3),
      readOnly: false,
    });
    const { frames, closed } = await exchange([bad]);
    expect(closed).toBe(true);
    expect(frames).toEqual([]);
  });
});

describe('xid reuse', () => {
  it('a request reusing an xid still in flight closes the connection (replies are matched by xid)', async () => {
    const auth = encodeRequest({ xid: 500, opcode: OpCode.auth, body: { type: 0, scheme: 'digest', auth: Buffer.from('u:p') } });
    const reads = Buffer.concat(
      Array.from({ length: 50 }, (_, i) => encodeRequest({ xid: i + 1, opcode: OpCode.getData, body: { path: '/', watch: false } })),
    );
    const { frames, closed } = await exchange([
      newSession(),
      Buffer.concat([
        reads,
        encodeRequest({ xid: 500, opcode: OpCode.exists, body: { path: 'relative', watch: false } }),
        auth,
        createFrame(500, '/reused-xid'),
      ]),
    ]);
    expect(closed).toBe(true);
    expect(Buffer.concat(frames).includes(Buffer.from('/tenants/'))).toBe(false);
    expect(await tree.exists('/tenants/alpha/reused-xid')).toBe(false);
  });
});
