/**
 * Live fuzzing: 20,000 connections of random and mutated-from-capture bytes (test/support/fuzz.ts)
 * into a real proxy PROCESS in front of a real 1-member ZooKeeper, at 64 connections at a time.
 * Afterwards the proxy must still be the proxy: process alive, /healthz and /readyz 200, the
 * canary tenant's data, ephemeral and session untouched, a fresh client served on the fuzzed
 * tenant, no 'internal error' in its logs, and every connection it held released.
 *
 * The seed is fixed so that the suite is reproducible; FUZZ_SEED=<n> or FUZZ_SEED=random picks
 * another (and FUZZ_CONNECTIONS=<n> another size). Any input is replayed on its own with
 *   node bench/fuzz-live.ts --mix suite --seed <seed> --replay <index>
 * Long runs: bench/fuzz-live.ts.
 */
import { DEFAULT_MAX_FRAME_SIZE, encodeRequest, ErrorCode, FrameReader, OpCode, Perms } from 'jute-ts';
import { JuteClient } from 'jute-ts/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatStats, loadCorpus, runFuzz, sendInput } from './support/fuzz.ts';
import { checkFuzzTarget, ensembleLogSummary, startFuzzTarget, type FuzzTarget } from './support/fuzz-target.ts';
import { startInProcessProxy } from './support/proxy.ts';

const SEED = process.env.FUZZ_SEED === 'random' ? Math.floor(Math.random() * 0x7fffffff) : Number(process.env.FUZZ_SEED ?? 20261124);
const CONNECTIONS = Number(process.env.FUZZ_CONNECTIONS ?? 20_000);
const CONCURRENCY = 64;

let target: FuzzTarget;

beforeAll(async () => {
  target = await startFuzzTarget();
}, 120_000);

afterAll(async () => {
  await target?.close();
});

describe('live fuzzing of a tenant listener', () => {
  it(`survives ${CONNECTIONS} connections of random and mutated client bytes (seed ${SEED})`, async () => {
    console.log(`[fuzz-live] seed ${SEED}: replay an input with node bench/fuzz-live.ts --mix suite --seed ${SEED} --replay <index>`);
    const stats = await runFuzz({
      port: target.alphaPort,
      seed: SEED,
      mix: 'suite',
      concurrency: CONCURRENCY,
      connections: CONNECTIONS,
      shouldStop: () => target.proxy.child.exitCode !== null || target.proxy.child.signalCode !== null,
    });
    const failures = await checkFuzzTarget(target);
    console.log(
      [
        `[fuzz-live] inputs ${stats.inputs}, connections ${stats.connections}, ${(stats.durationMs / 1000).toFixed(1)} s, ${Math.round(stats.inputsPerSecond)} inputs/s`,
        formatStats(stats),
        target.log.format(),
        ensembleLogSummary(target, 6),
        ...target.notes.map((note) => `  note: ${note}`),
      ].join('\n'),
    );
    if (failures.length > 0) console.log(`proxy log tail:\n${target.proxy.logs.slice(-30).join('\n')}`);
    expect(failures).toEqual([]);
    expect(stats.violations.map((v) => `#${v.index} ${v.violations.join('; ')}`)).toEqual([]);
    expect(stats.connections).toBe(CONNECTIONS);
    expect(stats.byOutcome['connect-error'] ?? 0).toBe(0);
    // The fuzz reached every state: refused before a session, sessions, relaying, proxy closes.
    expect(stats.sessions).toBeGreaterThan(CONNECTIONS / 50);
    expect(stats.byOutcome['proxy-closed'] ?? 0).toBeGreaterThan(CONNECTIONS / 50);
  }, 240_000);

  // Found by this fuzzer: getACL by a caller without ADMIN on a node masks digest ids as
  // "user:x", which the proxy did not recognise as the tenant's own identity.
  it('a node made read-only for everyone reads back as world:anyone, not as the masked tenant identity', async () => {
    const client = await JuteClient.connect({ port: target.alphaPort });
    try {
      const path = `/read-only-${Date.now()}`;
      await client.call(OpCode.create, { path, data: null, acl: [{ perms: Perms.ALL, id: { scheme: 'world', id: 'anyone' } }], flags: 0 });
      await client.call(OpCode.setACL, { path, acl: [{ perms: Perms.READ, id: { scheme: 'world', id: 'anyone' } }], version: -1 });
      const reply = await client.call(OpCode.getACL, { path });
      expect(reply.body!.acl).toEqual([{ perms: Perms.READ, id: { scheme: 'world', id: 'anyone' } }]);
    } finally {
      await client.close();
    }
  });

  // Found by this fuzzer: ZooKeeper answers a ping with xid -2 whatever xid it carried; the proxy
  // kept the ping in flight under its own xid forever, so replies the proxy makes itself queued
  // behind it were never sent, and a later reply with that xid skipped path mapping.
  it('a ping with an ordinary xid is answered (xid -2, as ZooKeeper does) and holds nothing back', async () => {
    const connect = loadCorpus().conversations[0]!.connect; // a fresh session, 2 s timeout
    const bytes = Buffer.concat([
      connect,
      encodeRequest({ xid: 7, opcode: OpCode.ping }),
      encodeRequest({ xid: 8, opcode: OpCode.exists, body: { path: 'relative', watch: false } }), // answered by the proxy
      encodeRequest({
        xid: 9,
        opcode: OpCode.create,
        body: { path: `/ping-${Date.now()}`, data: null, acl: [{ perms: Perms.ALL, id: { scheme: 'world', id: 'anyone' } }], flags: 1 },
      }),
      encodeRequest({ xid: 7, opcode: OpCode.getChildren, body: { path: '/', watch: false } }),
    ]);
    const input = {
      seed: 0,
      index: 0,
      generator: 'hand-made',
      ops: [],
      bytes,
      delivery: { chunks: [bytes.length], gapMs: 0, close: 'linger' as const, lingerMs: 2_000, awaitHandshake: true },
    };
    const outcome = await sendInput(target.alphaPort, { ...input, pipelinedFrames: 4 }, { keepOutput: true });
    const replies: [number, number][] = [];
    new FrameReader(DEFAULT_MAX_FRAME_SIZE).push(outcome.output!, (frame) => {
      if (frame.length >= 20) replies.push([frame.readInt32BE(4), frame.readInt32BE(16)]);
    });
    expect(replies.slice(1)).toEqual([
      [-2, ErrorCode.OK],
      [8, ErrorCode.BADARGUMENTS],
      [9, ErrorCode.OK],
      [7, ErrorCode.OK],
    ]);
    expect(outcome.violations).toEqual([]);
  });

  // Found by this fuzzer (long mode): a request admitted against the tenant's limits and then
  // found malformed (xid -1, no header) closed its connection without giving its in-flight slot
  // back; after maxInFlightPerTenant of them, every request of the tenant got THROTTLEDOP.
  it('malformed requests do not use up the tenant in-flight limit', async () => {
    const small = await startInProcessProxy(target.ensemble.connectString(), [{ name: 'delta' }], {
      limits: { maxInFlightPerTenant: 2, maxThrottleWaitMs: 300 },
    });
    try {
      const connect = loadCorpus().conversations[0]!.connect;
      for (const request of [
        encodeRequest({ xid: -1, opcode: OpCode.exists, body: { path: '/', watch: false } }),
        encodeRequest({ xid: -1, opcode: OpCode.exists, body: { path: '/', watch: false } }),
        Buffer.from('0000000400000001', 'hex'), // xid, no opcode
        Buffer.from('0000000400000001', 'hex'),
      ]) {
        const bytes = Buffer.concat([connect, request]);
        const outcome = await sendInput(small.port('delta'), {
          seed: 0,
          index: 0,
          generator: 'hand-made',
          ops: [],
          bytes,
          delivery: { chunks: [bytes.length], gapMs: 0, close: 'linger', lingerMs: 2_000, awaitHandshake: true },
        });
        expect(outcome.kind).toBe('proxy-closed');
      }
      const client = await JuteClient.connect({ port: small.port('delta') });
      try {
        expect((await client.request(OpCode.exists, { path: '/', watch: false })).err).toBe(ErrorCode.OK);
      } finally {
        await client.close();
      }
    } finally {
      await small.close();
    }
  });
});
