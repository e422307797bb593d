/**
 * Replies that need no rewriting and do not arrive whole (large getData values) are relayed piece
 * by piece as they arrive (protocol FrameStream, session/reply-sequencer.ts). Against a real
 * ensemble: the bytes are the ensemble's, and replies the proxy makes itself still come in xid
 * order behind a reply being streamed, with a zxid no older than it.
 */
import { randomBytes } from 'node:crypto';
import { ErrorCode, OpCode, Perms } from 'jute-ts';
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
});
