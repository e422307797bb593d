/**
 * Every frame captured between real clients (Java + Curator, kazoo, node-zookeeper-client) and a
 * real ZooKeeper 3.8 decodes, and re-encodes to exactly the same bytes. Replies are decoded with
 * the opcode of the request they answer, found by xid like a live connection would.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ConversationTracker,
  decodeConnectRequest,
  decodeConnectResponse,
  decodeReply,
  decodeRequest,
  encodeConnectRequest,
  encodeConnectResponse,
  encodeReply,
  encodeRequest,
  mapPaths,
  opcodeName,
  specialXidOpcode,
} from 'jute-ts';
import { readFixture } from './capture/inventory.ts';
import type { FrameRecord } from './capture/recorder.ts';

const FIXTURES = join(import.meta.dirname, 'fixtures');
const files = readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.jsonl'))
  .sort();

interface Connection {
  requests: FrameRecord[];
  replies: FrameRecord[];
}

function connections(records: FrameRecord[]): Map<number, Connection> {
  const byConn = new Map<number, Connection>();
  for (const record of records) {
    const conn = byConn.get(record.conn) ?? { requests: [], replies: [] };
    (record.dir === 'c2s' ? conn.requests : conn.replies).push(record);
    byConn.set(record.conn, conn);
  }
  for (const conn of byConn.values()) {
    conn.requests.sort((a, b) => a.seq - b.seq);
    conn.replies.sort((a, b) => a.seq - b.seq);
  }
  return byConn;
}

const total = { frames: 0, opcodes: new Set<string>() };

describe('golden traffic round-trips byte for byte', () => {
  for (const file of files) {
    it(file, () => {
      let checked = 0;
      for (const [conn, { requests, replies }] of connections(readFixture(join(FIXTURES, file)))) {
        const tracker = new ConversationTracker();
        requests.forEach((record, index) => {
          const frame = Buffer.from(record.hex, 'hex');
          const where = `${file} conn ${conn} c2s #${record.seq}`;
          if (index === 0) {
            expect(encodeConnectRequest(decodeConnectRequest(frame)), where).toEqual(frame);
          } else {
            const request = decodeRequest(frame);
            expect(encodeRequest(request), `${where} ${opcodeName(request.opcode)}`).toEqual(frame);
            // The path mapper walks the same frame without error, and identity leaves it untouched.
            expect(
              mapPaths(frame, { direction: 'request' }, (p) => p),
              where,
            ).toBe(frame);
            tracker.request(request.xid, request.opcode, undefined);
            total.opcodes.add(opcodeName(request.opcode));
          }
          checked++;
        });
        replies.forEach((record, index) => {
          const frame = Buffer.from(record.hex, 'hex');
          const where = `${file} conn ${conn} s2c #${record.seq}`;
          if (index === 0) {
            expect(encodeConnectResponse(decodeConnectResponse(frame)), where).toEqual(frame);
          } else {
            const xid = frame.readInt32BE(4);
            const opcode = tracker.reply(xid)?.opcode ?? specialXidOpcode(xid);
            const reply = decodeReply(frame, opcode);
            expect(
              reply.err !== 0 || opcode === undefined || reply.extra === undefined,
              `${where}: trailing bytes after a success body`,
            ).toBe(true);
            expect(encodeReply(reply, opcode), `${where} ${opcode === undefined ? '?' : opcodeName(opcode)}`).toEqual(frame);
            expect(
              mapPaths(frame, { direction: 'reply', opcode }, (p) => p),
              where,
            ).toBe(frame);
          }
          checked++;
        });
      }
      total.frames += checked;
      expect(checked).toBeGreaterThan(50);
    });
  }

  it('covers at least 200 frames and the opcodes real clients send', () => {
    expect(total.frames).toBeGreaterThanOrEqual(200);
    for (const op of [
      'create',
      'delete',
      'exists',
      'getData',
      'setData',
      'getACL',
      'setACL',
      'getChildren',
      'getChildren2',
      'sync',
      'ping',
      'multi',
      'multiRead',
      'create2',
      'createContainer',
      'createTTL',
      'checkWatches',
      'removeWatches',
      'reconfig',
      'auth',
      'setWatches',
      'setWatches2',
      'sasl',
      'getEphemerals',
      'getAllChildrenNumber',
      'addWatch',
      'whoAmI',
      'closeSession',
    ]) {
      expect(total.opcodes, op).toContain(op);
    }
    console.log(`golden: ${total.frames} frames round-tripped, ${total.opcodes.size} opcodes`);
  });
});
