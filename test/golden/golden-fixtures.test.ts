/**
 * Guards the committed golden fixtures (they are hand-committed data, so check their shape) and
 * the recorder's frame splitter (replaying the real streams cut at arbitrary chunk boundaries).
 */
import { readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { FrameReader } from 'jute-ts';
import { readFixture } from './capture/inventory.ts';
import type { FrameRecord } from './capture/recorder.ts';

const FIXTURES_DIR = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');
const files = readdirSync(FIXTURES_DIR)
  .filter((file) => file.endsWith('.jsonl'))
  .sort();

/** Frames of one connection and direction, in seq order. */
function streams(records: readonly FrameRecord[]): Map<string, FrameRecord[]> {
  const byStream = new Map<string, FrameRecord[]>();
  for (const record of records) {
    const key = `${record.conn}/${record.dir}`;
    byStream.set(key, [...(byStream.get(key) ?? []), record]);
  }
  return byStream;
}

describe('golden fixtures', () => {
  it('hold enough traffic to be worth testing against', () => {
    const total = files.reduce((sum, file) => sum + readFixture(join(FIXTURES_DIR, file)).length, 0);
    expect(files.length).toBeGreaterThanOrEqual(2);
    expect(total).toBeGreaterThanOrEqual(250);
  });

  for (const file of files) {
    describe(file, () => {
      const records = readFixture(join(FIXTURES_DIR, file));

      it('has well-formed records whose length prefixes match their frames', () => {
        for (const record of records) {
          expect(Object.keys(record)).toEqual(['client', 'conn', 'dir', 'seq', 'hex']);
          expect(record.client).toBe(basename(file, '.jsonl'));
          const frame = Buffer.from(record.hex, 'hex');
          expect(frame.readInt32BE(0)).toBe(frame.length - 4);
        }
      });

      it('numbers frames 0.. per connection and direction, starting with the handshake', () => {
        for (const [key, frames] of streams(records)) {
          expect(
            frames.map((record) => record.seq),
            key,
          ).toEqual(frames.map((_, index) => index));
          const handshakePayload = Buffer.from(frames[0]!.hex, 'hex').length - 4;
          // ConnectRequest 44/45 bytes, ConnectResponse 36/37: with or without the readOnly byte.
          const expected = key.endsWith('c2s') ? [44, 45] : [36, 37];
          expect(expected, key).toContain(handshakePayload);
        }
      });

      it('re-splits into the same frames whatever the chunk boundaries', () => {
        let seed = 7;
        const nextChunkSize = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % 23) + 1;
        for (const frames of streams(records).values()) {
          const wire = Buffer.concat(frames.map((record) => Buffer.from(record.hex, 'hex')));
          const splitter = new FrameReader();
          const out: string[] = [];
          for (let offset = 0; offset < wire.length; ) {
            const end = Math.min(wire.length, offset + nextChunkSize());
            splitter.push(wire.subarray(offset, end), (frame) => out.push(frame.toString('hex')));
            offset = end;
          }
          expect(out).toEqual(frames.map((record) => record.hex));
          expect(splitter.buffered).toBe(0);
        }
      });
    });
  }
});
