import { describe, expect, it } from 'vitest';
import { ConversationTracker, OpCode } from 'jute-ts';

describe('ConversationTracker', () => {
  it('answers replies in request order with the request opcode and data', () => {
    const tracker = new ConversationTracker<string>();
    tracker.request(1, OpCode.getData, 'a');
    tracker.request(2, OpCode.create, 'b');
    expect(tracker.reply(1)).toEqual({ xid: 1, opcode: OpCode.getData, data: 'a' });
    expect(tracker.reply(2)?.opcode).toBe(OpCode.create);
    expect(tracker.size).toBe(0);
  });

  it('lets auth and SASL replies overtake earlier requests', () => {
    const tracker = new ConversationTracker();
    tracker.request(1, OpCode.getData, undefined);
    tracker.request(-4, OpCode.auth, undefined);
    tracker.request(2, OpCode.sasl, undefined);
    expect(tracker.reply(-4)?.opcode).toBe(OpCode.auth);
    expect(tracker.reply(2)?.opcode).toBe(OpCode.sasl);
    expect(tracker.peek()?.xid).toBe(1);
    expect(tracker.reply(1)?.opcode).toBe(OpCode.getData);
  });

  it('handles the special xids: -1 is never an answer, -2 and -8 match their requests', () => {
    const tracker = new ConversationTracker();
    tracker.request(-1, OpCode.getData, undefined);
    expect(tracker.size).toBe(0);
    tracker.request(-8, OpCode.setWatches, undefined);
    tracker.request(-2, OpCode.ping, undefined);
    expect(tracker.reply(-1)).toBeUndefined();
    expect(tracker.reply(-8)?.opcode).toBe(OpCode.setWatches);
    expect(tracker.reply(-2)?.opcode).toBe(OpCode.ping);
  });

  it('returns undefined for a reply nobody asked for, and drains what is left on close', () => {
    const tracker = new ConversationTracker<number>();
    expect(tracker.reply(42)).toBeUndefined();
    tracker.request(1, OpCode.exists, 10);
    tracker.request(2, OpCode.exists, 20);
    expect(tracker.drain().map((p) => p.data)).toEqual([10, 20]);
    expect(tracker.size).toBe(0);
  });

  it('stays compact over a long-lived connection', () => {
    const tracker = new ConversationTracker();
    for (let xid = 1; xid <= 100_000; xid++) {
      tracker.request(xid, OpCode.getData, undefined);
      if (xid > 3) expect(tracker.reply(xid - 3)?.xid).toBe(xid - 3);
    }
    expect(tracker.size).toBe(3);
    expect((tracker as unknown as { entries: unknown[] }).entries.length).toBeLessThan(2048);
  });
});
