// Member choice for backend sessions: random order over healthy members, failed members avoided
// with exponential back-off (jittered), recovered members preferred again.
import { describe, expect, it } from 'vitest';
import { EnsembleMembers } from '../src/backend/members.ts';

const addresses = [1, 2, 3].map((i) => ({ host: `zk${i}`, port: 2181 }));

function fixture(random = Math.random) {
  let now = 1_000_000;
  const members = new EnsembleMembers(addresses, { initialMs: 1000, maxMs: 8000 }, { now: () => now, random });
  return { members, advance: (ms: number) => (now += ms), order: () => members.connectionOrder().map((m) => m.address.host) };
}

describe('EnsembleMembers', () => {
  it('offers every member once, in an order that varies (sessions spread over the ensemble)', () => {
    const { order } = fixture();
    const firsts = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const o = order();
      expect([...o].sort()).toEqual(['zk1', 'zk2', 'zk3']);
      firsts.add(o[0]!);
    }
    expect(firsts.size).toBe(3);
  });

  it('puts a member that just failed last, until its back-off has passed', () => {
    const { members, order, advance } = fixture();
    members.markFailure(members.all[0]!);
    for (let i = 0; i < 50; i++) expect(order()[2]).toBe('zk1');
    advance(1001); // jitter keeps the first back-off between 500 and 1000 ms
    expect(new Set(Array.from({ length: 100 }, () => order()[0]))).toContain('zk1');
  });

  it('doubles the back-off per consecutive failure up to the maximum, and forgets it on success', () => {
    const { members } = fixture(() => 0.999999); // jitter factor ~1: delays are the nominal ones
    const zk2 = members.all[1]!;
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      const before = zk2.avoidUntil;
      members.markFailure(zk2);
      delays.push(Math.round(zk2.avoidUntil - 1_000_000));
      expect(zk2.avoidUntil).toBeGreaterThanOrEqual(before);
    }
    expect(delays).toEqual([1000, 2000, 4000, 8000, 8000, 8000]);
    members.markSuccess(zk2);
    expect(zk2).toMatchObject({ consecutiveFailures: 0, avoidUntil: 0 });
  });

  it('when every member is backing off, still offers all of them, soonest available first', () => {
    const { members, order } = fixture(() => 0.999999);
    members.markFailure(members.all[2]!);
    members.markFailure(members.all[0]!);
    members.markFailure(members.all[0]!);
    members.markFailure(members.all[1]!);
    members.markFailure(members.all[1]!);
    members.markFailure(members.all[1]!);
    expect(order()).toEqual(['zk3', 'zk1', 'zk2']);
  });

  it('reports reachability from recent successful handshakes', () => {
    const { members, advance } = fixture();
    expect(members.recentlyReachable(5000)).toBe(false);
    members.markSuccess(members.all[1]!);
    expect(members.recentlyReachable(5000)).toBe(true);
    advance(6000);
    expect(members.recentlyReachable(5000)).toBe(false);
  });
});
