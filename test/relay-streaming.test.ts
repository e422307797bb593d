/**
 * Replies that need no rewriting and do not arrive whole (large getData values) are relayed piece
 * by piece as they arrive (protocol FrameStream, session/reply-sequencer.ts). Against a real
 * ensemble: the bytes are the ensemble's, and replies the proxy makes itself still come in xid
 * order behind a reply being streamed, with a zxid no older than it. The proxy reads the ensemble
 * into a reused buffer (backend/read-buffer.ts): replies still waiting to be written to a client
 * that stopped reading must not be overwritten by the next read.
 */
import { randomBytes } from 'node:crypto';
import { connect as netConnect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeReply, encodeNewSessionRequest, encodeRequest, ErrorCode, FrameReader, OpCode, Perms } from 'jute-ts';
import { JuteClient } from 'jute-ts/client';
import { describe, expect, it } from 'vitest';
import { useProxiedEnsemble } from './support/proxied-ensemble.ts';

const env = useProxiedEnsemble([{ name: 'alpha' }]);
const OPEN = [{ perms: Perms.ALL, id: { scheme: 'world', id: 'anyone' } }];

async function connect(): Promise<JuteClient> {
  const client = await JuteClient.connect({ port: env.proxy.port('alpha'), sessionTimeoutMs: 15_000 });
  env.opened.push(client);
  return client;
}

describe('large replies relayed as they arrive', () => {
  it('a 900 KB value comes through byte for byte, many times over one connection and several at once', async () => {
    const client = await connect();
    const value = randomBytes(900 * 1024);
    await client.call(OpCode.create, { path: '/big', data: value, acl: OPEN, flags: 0 });
    const direct = await env.tree.data('/tenants/alpha/big');
    expect(direct?.equals(value)).toBe(true);
    const replies = await Promise.all(Array.from({ length: 12 }, () => client.request(OpCode.getData, { path: '/big', watch: false })));
    for (const reply of replies) {
      expect(reply.err).toBe(ErrorCode.OK);
      expect((reply.body!.data as Buffer).equals(value)).toBe(true);
    }
    const others = await Promise.all([connect(), connect(), connect()]);
    const parallel = await Promise.all(others.map((other) => other.request(OpCode.getData, { path: '/big', watch: false })));
    for (const reply of parallel) expect((reply.body!.data as Buffer).equals(value)).toBe(true);
  });

  it('a reply the proxy makes itself waits behind a large reply being streamed, in xid order, with a zxid no older', async () => {
    const client = await connect();
    await client.call(OpCode.create, { path: '/big2', data: randomBytes(800 * 1024), acl: OPEN, flags: 0 });
    const order: string[] = [];
    const tag = (name: string) => (reply: { err: number; zxid: bigint }) => (order.push(name), reply);
    const [big, refused, small] = await Promise.all([
      client.request(OpCode.getData, { path: '/big2', watch: false }).then(tag('big')),
      client.request(OpCode.getData, { path: '/bad//path', watch: false }).then(tag('refused')),
      client.request(OpCode.exists, { path: '/big2', watch: false }).then(tag('small')),
    ]);
    expect(order).toEqual(['big', 'refused', 'small']);
    expect([big.err, refused.err, small.err]).toEqual([ErrorCode.OK, ErrorCode.BADARGUMENTS, ErrorCode.OK]);
    expect(refused.zxid).toBeGreaterThanOrEqual(big.zxid);
  });

  it('replies queued for a client that stopped reading come through byte for byte once it reads again', async () => {
    const setup = await connect();
    // Replies of ~10 KB, each read from the ensemble on its own: once the kernel's socket buffers
    // are full (loopback grows them to ~4 MB), a write to the client stays pending below the
    // socket's 16 KB high-water mark, so the ensemble side keeps being read meanwhile.
    const values = Array.from({ length: 16 }, (_, i) => randomBytes(10_000 + 200 * i));
    await Promise.all(values.map((value, i) => setup.call(OpCode.create, { path: `/v${i}`, data: value, acl: OPEN, flags: 0 })));

    const socket = netConnect({ port: env.proxy.port('alpha') });
    try {
      const reader = new FrameReader();
      const frames: Buffer[] = [];
      let garbled: unknown;
      socket.on('data', (chunk: Buffer) => {
        try {
          reader.push(chunk, (frame) => frames.push(Buffer.from(frame)));
        } catch (error) {
          garbled = error; // overwritten bytes show up as an impossible frame length
        }
      });
      socket.write(encodeNewSessionRequest(15_000));
      await until(() => frames.length === 1);
      socket.pause();
      const requests = 700;
      for (let xid = 1; xid <= requests; xid++) {
        socket.write(encodeRequest({ xid, opcode: OpCode.getData, body: { path: `/v${xid % values.length}`, watch: false } }));
        await sleep(2);
      }
      socket.resume();
      await until(() => garbled !== undefined || frames.length === 1 + requests);
      expect(garbled).toBeUndefined();
      for (const [n, frame] of frames.slice(1).entries()) {
        const reply = decodeReply(frame, OpCode.getData);
        expect(reply.xid).toBe(n + 1);
        expect(reply.err).toBe(ErrorCode.OK);
        expect((reply.body!.data as Buffer).equals(values[(n + 1) % values.length]!)).toBe(true);
      }
    } finally {
      socket.destroy();
    }
  });
});

async function until(condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await sleep(20);
  }
}
