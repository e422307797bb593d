import { describe, expect, it } from 'vitest';
import { encodeRequest, OpCode, requestXid } from 'jute-ts';
import { DEFAULT_LIMITS } from '../src/limits/limits.ts';
import { TenantLimiter } from '../src/limits/tenant-limiter.ts';
import { Admission, type HoldReason } from '../src/session/admission.ts';
import { InFlightLedger } from '../src/session/in-flight-ledger.ts';
import { MoveHold } from '../src/tenancy/move-hold.ts';

const get = (xid: number) => encodeRequest({ xid, opcode: OpCode.getData, body: { path: '/a', watch: false } });
const ping = (xid: number) => encodeRequest({ xid, opcode: OpCode.ping, body: undefined });

function setUp(limits: Partial<typeof DEFAULT_LIMITS>) {
  const limiter = new TenantLimiter({ ...DEFAULT_LIMITS, ...limits });
  const ledger = new InFlightLedger();
  const forwarded: number[] = [];
  const throttled: number[] = [];
  const held: HoldReason[] = [];
  const move = new MoveHold();
  const admission = new Admission(
    limiter,
    ledger,
    {
      forward: (frame) => {
        forwarded.push(requestXid(frame));
        ledger.sent(requestXid(frame), OpCode.getData, 0);
        return true;
      },
      throttled: (frame) => throttled.push(requestXid(frame)),
      held: (reason) => held.push(reason),
      relaying: () => true,
      failed: (error) => {
        throw error;
      },
      released: () => {},
    },
    move,
  );
  const answer = (xid: number) => {
    ledger.answered(xid);
    admission.answered();
  };
  return { limiter, admission, forwarded, throttled, held, answer, move };
}

describe('Admission', () => {
  it('holds requests beyond the connection in-flight limit, in order, and releases them as replies come', () => {
    const { admission, forwarded, held, answer } = setUp({ maxInFlightPerConnection: 2 });
    for (const xid of [1, 2, 3, 4]) admission.offer(get(xid));
    expect(forwarded).toEqual([1, 2]);
    expect(held).toEqual(['connection_in_flight', 'queued']);
    expect(admission.holding).toBe(true);
    answer(1);
    admission.release();
    expect(forwarded).toEqual([1, 2, 3]);
    answer(2);
    answer(3);
    admission.release();
    expect(forwarded).toEqual([1, 2, 3, 4]);
    expect(admission.holding).toBe(false);
    expect(admission.heldBytes).toBe(0);
  });

  it('names the tenant in-flight limit when that is what holds a request', () => {
    const { admission, held } = setUp({ maxInFlightPerTenant: 1 });
    admission.offer(get(1));
    admission.offer(get(2));
    expect(held).toEqual(['tenant_in_flight']);
  });

  it('answers THROTTLEDOP to requests held past maxThrottleWaitMs; a ping held behind them is forwarded, never expired', async () => {
    const { admission, forwarded, throttled, held, answer } = setUp({ maxInFlightPerConnection: 1, maxThrottleWaitMs: 20 });
    admission.offer(get(1));
    admission.offer(get(2));
    admission.offer(ping(-2));
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(held).toEqual(['connection_in_flight', 'queued']);
    expect(throttled).toEqual([2]);
    // In-flight limits never hold a ping: once the request ahead of it expired, it went.
    expect(forwarded).toEqual([1, -2]);
    expect(admission.holding).toBe(false);
    answer(1);
    admission.close();
  });

  it('gives a slot back when the request was answered by the proxy instead of forwarded', () => {
    const limiter = new TenantLimiter({ ...DEFAULT_LIMITS, maxInFlightPerTenant: 1 });
    const admission = new Admission(
      limiter,
      new InFlightLedger(),
      {
        forward: () => false,
        throttled: () => {},
        held: () => {},
        relaying: () => true,
        failed: () => {},
        released: () => {},
      },
      new MoveHold(),
    );
    admission.offer(get(1));
    admission.offer(get(2));
    expect(limiter.inFlight).toBe(0);
  });

  it("holds every request during a move's cut-over, pings too, and lets them go in order when it ends", () => {
    const { admission, forwarded, throttled, held, move } = setUp({ maxThrottleWaitMs: 1 });
    move.active = true;
    admission.offer(get(1));
    admission.offer(ping(-2));
    admission.offer(get(3));
    admission.release();
    expect(forwarded).toEqual([]);
    expect(held).toEqual(['moving', 'moving', 'moving']);
    const until = performance.now() + 5;
    while (performance.now() < until); // longer than maxThrottleWaitMs: the hold's wait does not count
    move.active = false;
    admission.moveHoldEnded();
    expect(forwarded).toEqual([1, -2, 3]);
    expect(throttled).toEqual([]);
    admission.close();
  });
});
