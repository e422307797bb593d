import { describe, expect, it } from 'vitest';
import { OpCode, Xid } from 'jute-ts';
import { InFlightLedger, SWALLOW } from '../src/session/in-flight-ledger.ts';

const reply = (tag: string) => ({ frame: Buffer.from(tag), closeAfter: false, stampZxid: true });

describe('InFlightLedger', () => {
  it('a proxy-made reply waits until every entry ahead of it is answered', () => {
    const ledger = new InFlightLedger();
    ledger.sent(1, OpCode.getData, 0);
    ledger.queue(2, reply('two'));
    expect(ledger.nextProxyReply()).toBeUndefined();
    expect(ledger.answered(1)?.opcode).toBe(OpCode.getData);
    expect(ledger.nextProxyReply()?.frame.toString()).toBe('two');
    expect(ledger.size).toBe(0);
  });

  it('counts the client requests unanswered, not the proxy own requests or replies', () => {
    const ledger = new InFlightLedger();
    ledger.sentForProxy(Xid.auth, OpCode.auth);
    ledger.sent(1, OpCode.create, 0);
    ledger.sent(Xid.ping, OpCode.ping, 0);
    ledger.queue(3, reply('three'));
    expect(ledger.unanswered).toBe(2);
    expect(ledger.answered(Xid.auth)?.data).toBe(SWALLOW);
    expect(ledger.unanswered).toBe(2);
    ledger.answered(Xid.ping);
    expect(ledger.unanswered).toBe(1);
    expect(ledger.clear()).toBe(1);
    expect(ledger.size).toBe(0);
  });

  it('knows which client xids are taken: by requests and proxy replies, not by pings tracked under -2', () => {
    const ledger = new InFlightLedger();
    ledger.sent(7, OpCode.exists, 0);
    ledger.queue(8, reply('eight'));
    ledger.sent(Xid.ping, OpCode.ping, 0);
    expect([ledger.holds(7), ledger.holds(8), ledger.holds(9)]).toEqual([true, true, false]);
    ledger.answered(7);
    expect(ledger.holds(7)).toBe(false);
    ledger.answered(Xid.ping);
    ledger.nextProxyReply();
    expect(ledger.holds(8)).toBe(false);
  });
});
